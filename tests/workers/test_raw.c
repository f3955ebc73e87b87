/*
 * tests/workers/test_raw.c — raw jobs (workers/pool.h: aw__work_raw), the
 * io layer's promise-less way onto the pool.
 *
 *  - A raw job runs exactly once, on a pool thread, with cancelled false; a
 *    thousand of them, of both classes; they are not counted as the loop's
 *    pending jobs.
 *  - Removed before it reached the pool (the loop's batch) or while it waited
 *    in the pool's queue: aw__work_raw_cancel returns 0 and run(arg, true)
 *    ran on the loop's thread, before it returned; the job never runs.
 *  - Running: aw__work_raw_cancel returns -EALREADY and the job ends by itself.
 *  - aw_loop_free with raw jobs in the batch, queued and running: the first
 *    two end with run(arg, true) on the loop's thread, the running one ends
 *    by itself, and aw_loop_free returned only after that.
 *  - A pool shut down without draining ends queued raw jobs with
 *    run(arg, true); aw__work_raw refuses with -ESHUTDOWN afterwards.
 */
#include "workers.h"

#include "workers/pool.h"

typedef struct rjob {
  _Atomic int runs;      /* run(arg, false) */
  _Atomic int cancels;   /* run(arg, true) */
  _Atomic bool on_owner; /* the thread of the last call was the test's */
  gate *wait;            /* run(arg, false) waits for it, if set */
  _Atomic int *started;  /* counted when run(arg, false) starts */
  _Atomic int *ended;    /* counted when any run ends */
  gate *open_at_cancel;  /* opened by run(arg, true), if set */
} rjob;

static pthread_t test_thread;

static void rjob_run(void *arg, bool cancelled) {
  rjob *r = arg;
  atomic_store(&r->on_owner, pthread_equal(pthread_self(), test_thread) != 0);
  if (cancelled) {
    atomic_fetch_add(&r->cancels, 1);
    if (r->open_at_cancel)
      gate_open(r->open_at_cancel);
  } else {
    if (r->started)
      atomic_fetch_add(r->started, 1);
    if (r->wait)
      gate_wait(r->wait);
    atomic_fetch_add(&r->runs, 1);
  }
  if (r->ended)
    atomic_fetch_add(r->ended, 1);
}

static void test_raw_runs_once_on_a_pool_thread(void **state) {
  (void)state;
  test_thread = pthread_self();
  aw_pool *P = wk_pool(2, 2);
  aw_loop *L = wk_loop(P);
  enum { N = 1000 };
  rjob *r = calloc(N, sizeof *r);
  assert_non_null(r);
  _Atomic int ended = 0;
  for (int i = 0; i < N; i++) {
    r[i].ended = &ended;
    aw_job *j = NULL;
    assert_int_equal(aw__work_raw(L, i % 2 ? AW_WORK_CPU : AW_WORK_BLOCKING, rjob_run, &r[i], &j),
                     0);
    assert_non_null(j);
    if (i % 100 == 99)
      aw__work_flush(L); /* several batches */
  }
  aw__work_flush(L);
  assert_true(wait_atleast(&ended, N));
  for (int i = 0; i < N; i++) {
    assert_int_equal(atomic_load(&r[i].runs), 1);
    assert_int_equal(atomic_load(&r[i].cancels), 0);
    assert_false(atomic_load(&r[i].on_owner));
  }
  /* the jobs that ended go back to the loop's cache at the next flush, and are reused */
  aw__work_flush(L);
  rjob again = {.ended = &ended};
  assert_int_equal(aw__work_raw(L, AW_WORK_BLOCKING, rjob_run, &again, NULL), 0);
  aw__work_flush(L);
  assert_true(wait_atleast(&ended, N + 1));
  assert_int_equal(atomic_load(&again.runs), 1);
  assert_int_equal(aw__work_raw(L, 7, rjob_run, &again, NULL), -EINVAL);
  wk_finish(L);
  aw_pool_free(P);
  free(r);
}

static void test_raw_cancel_before_it_runs(void **state) {
  (void)state;
  test_thread = pthread_self();
  aw_pool *P = wk_pool(1, 1);
  aw_loop *L = wk_loop(P);
  gate g = {0};
  _Atomic int started = 0, ended = 0;
  rjob blocker = {.wait = &g, .started = &started, .ended = &ended};
  rjob queued = {.ended = &ended}, local = {.ended = &ended};
  aw_job *jb, *jq, *jl;
  assert_int_equal(aw__work_raw(L, AW_WORK_BLOCKING, rjob_run, &blocker, &jb), 0);
  assert_int_equal(aw__work_raw(L, AW_WORK_BLOCKING, rjob_run, &queued, &jq), 0);
  aw__work_flush(L);
  assert_true(wait_atleast(&started, 1)); /* the one thread is held: queued waits */
  assert_int_equal(aw__work_raw(L, AW_WORK_BLOCKING, rjob_run, &local, &jl), 0);
  /* in the batch */
  assert_int_equal(aw__work_raw_cancel(L, jl), 0);
  assert_int_equal(atomic_load(&local.cancels), 1);
  assert_true(atomic_load(&local.on_owner));
  /* in the pool's queue */
  assert_int_equal(aw__work_raw_cancel(L, jq), 0);
  assert_int_equal(atomic_load(&queued.cancels), 1);
  assert_true(atomic_load(&queued.on_owner));
  /* running */
  assert_int_equal(aw__work_raw_cancel(L, jb), -EALREADY);
  gate_open(&g);
  assert_true(wait_atleast(&ended, 3));
  aw__work_flush(L);
  assert_int_equal(atomic_load(&blocker.runs), 1);
  assert_int_equal(atomic_load(&blocker.cancels), 0);
  assert_int_equal(atomic_load(&queued.runs), 0);
  assert_int_equal(atomic_load(&local.runs), 0);
  wk_finish(L);
  aw_pool_free(P);
}

static void test_raw_loop_free_ends_every_job(void **state) {
  (void)state;
  test_thread = pthread_self();
  aw_pool *P = wk_pool(1, 1);
  aw_loop *L = wk_loop(P);
  gate g = {0};
  _Atomic int started = 0, ended = 0;
  rjob running = {.wait = &g, .started = &started, .ended = &ended};
  rjob queued[3], local[2];
  memset(queued, 0, sizeof queued);
  memset(local, 0, sizeof local);
  assert_int_equal(aw__work_raw(L, AW_WORK_BLOCKING, rjob_run, &running, NULL), 0);
  for (int i = 0; i < 3; i++) {
    queued[i].ended = &ended;
    assert_int_equal(aw__work_raw(L, AW_WORK_BLOCKING, rjob_run, &queued[i], NULL), 0);
  }
  aw__work_flush(L);
  assert_true(wait_atleast(&started, 1));
  for (int i = 0; i < 2; i++) {
    local[i].ended = &ended;
    assert_int_equal(aw__work_raw(L, AW_WORK_CPU, rjob_run, &local[i], NULL), 0);
  }
  /* the last queued job removed lets the running one go: aw_loop_free must wait for it */
  queued[2].open_at_cancel = &g;
  assert_int_equal(aw_loop_free(L), 0);
  assert_int_equal(atomic_load(&ended), 6);
  assert_int_equal(atomic_load(&running.runs), 1);
  assert_int_equal(atomic_load(&running.cancels), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(atomic_load(&queued[i].runs), 0);
    assert_int_equal(atomic_load(&queued[i].cancels), 1);
    assert_true(atomic_load(&queued[i].on_owner));
  }
  for (int i = 0; i < 2; i++) {
    assert_int_equal(atomic_load(&local[i].runs), 0);
    assert_int_equal(atomic_load(&local[i].cancels), 1);
    assert_true(atomic_load(&local[i].on_owner));
  }
  assert_int_equal(aw_objects_alive(), wk_base);
  aw_pool_free(P);
}

static void test_raw_pool_shutdown_ends_queued_jobs(void **state) {
  (void)state;
  test_thread = pthread_self();
  aw_pool *P = wk_pool(1, 1);
  aw_loop *L = wk_loop(P);
  gate g = {0};
  _Atomic int started = 0, ended = 0;
  rjob running = {.wait = &g, .started = &started, .ended = &ended};
  rjob queued = {.ended = &ended, .open_at_cancel = &g};
  assert_int_equal(aw__work_raw(L, AW_WORK_BLOCKING, rjob_run, &running, NULL), 0);
  assert_int_equal(aw__work_raw(L, AW_WORK_BLOCKING, rjob_run, &queued, NULL), 0);
  aw__work_flush(L);
  assert_true(wait_atleast(&started, 1));
  assert_int_equal(aw_pool_shutdown(P, false, WK_SAFETY_MS, NULL), 0);
  assert_int_equal(atomic_load(&queued.cancels), 1);
  assert_int_equal(atomic_load(&queued.runs), 0);
  assert_int_equal(atomic_load(&running.runs), 1);
  rjob late = {0};
  assert_int_equal(aw__work_raw(L, AW_WORK_BLOCKING, rjob_run, &late, NULL), -ESHUTDOWN);
  wk_finish(L);
  aw_pool_free(P);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      WK_TEST(test_raw_runs_once_on_a_pool_thread),
      WK_TEST(test_raw_cancel_before_it_runs),
      WK_TEST(test_raw_loop_free_ends_every_job),
      WK_TEST(test_raw_pool_shutdown_ends_queued_jobs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
