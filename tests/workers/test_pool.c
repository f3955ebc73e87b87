/*
 * tests/workers/test_pool.c — the worker pool running jobs (aw/work.h).
 *
 *  - The two classes do not starve each other: a CPU job completes while
 *    every BLOCKING thread sleeps in a job (and more blocking jobs wait),
 *    and a BLOCKING job completes while every CPU thread spins in a job.
 *  - A million tiny jobs, 256 in flight, each run and complete exactly once
 *    with their own value.
 *  - opts.timeout_ms: a running job that polls aw_job_cancelled is rejected
 *    with a TimeoutError and told to stop; a queued one is rejected without
 *    running; a deadline that is not reached changes nothing and keeps no
 *    timer behind.
 *  - aw_pool_resize: bad sizes are refused; growing lets waiting work start
 *    a thread; shrinking makes threads leave; resizing up and down while
 *    thousands of jobs run loses none.
 *  - One pool shared by loops on several threads: every loop gets all its
 *    jobs done, and a loop with a short queue is served between the jobs of
 *    a loop with a long one (round robin), counted in jobs, not in time.
 *
 * Order is forced with gates (workers.h): a job that must still be running
 * when something happens waits until the loop has seen that thing.
 */
#include "workers.h"

/* ---- 1. the classes do not starve each other ----------------------------------------------- */

typedef struct starve {
  aw_loop *L;
  aw_pool *P;
  gate g;
  _Atomic int started;      /* jobs that began (their threads) */
  _Atomic int post_fail;    /* aw_loop_post from a job failed */
  int seen;                 /* "started" posts the loop has run */
  int want;                 /* how many before the other class's job goes in */
  enum aw_work_class other; /* the class of that job */
  aw_pool_stats at_release;
} starve;

static starve S;

static void starve_started(aw_loop *L, void *arg);

/* A BLOCKING job: tells the loop it started, then sleeps until the gate opens. */
static aw_val job_sleep_until_gate(aw_job *job, void *arg) {
  (void)job;
  starve *s = arg;
  atomic_fetch_add(&s->started, 1);
  if (aw_loop_post(s->L, starve_started, s) != 0)
    atomic_fetch_add(&s->post_fail, 1);
  return aw_int(gate_wait(&s->g) ? 1 : 0);
}

/* A CPU job: tells the loop it started, then spins (yielding) until the gate opens. */
static aw_val job_spin_until_gate(aw_job *job, void *arg) {
  (void)job;
  starve *s = arg;
  atomic_fetch_add(&s->started, 1);
  if (aw_loop_post(s->L, starve_started, s) != 0)
    atomic_fetch_add(&s->post_fail, 1);
  uint64_t until = wk_now_ms() + WK_SAFETY_MS;
  unsigned k = 0;
  while (!gate_is_open(&s->g)) {
    if ((++k & 1023) == 0) {
      if (wk_now_ms() > until)
        return aw_int(0);
      sched_yield();
    }
  }
  return aw_int(1);
}

/* The other class's job finished: log it, note the pool's threads, open the gate. */
static aw_val other_class_done(aw_loop *L, aw_val v, void *label) {
  (void)L;
  wlog("%s:%lld", (const char *)label, (long long)v.u.i);
  aw_pool_stats_get(S.P, &S.at_release);
  gate_open(&S.g);
  return aw_undefined();
}

/* Every gated job has started (the pool's threads of that class are all busy): submit the other. */
static void starve_started(aw_loop *L, void *arg) {
  starve *s = arg;
  if (++s->seen != s->want)
    return;
  bool cpu_busy = s->other == AW_WORK_BLOCKING;
  aw_work_opts o = {.klass = s->other};
  aw_promise *p = aw_work(L, job_echo, (void *)(intptr_t)42, &o);
  if (!p) {
    wlog("aw_work-failed");
    gate_open(&s->g);
    return;
  }
  aw_release(aw_promise_then(p, other_class_done, h_log_err, cpu_busy ? "blk" : "cpu"));
  aw_release(p);
}

static void test_blocking_jobs_do_not_delay_cpu_job(void **state) {
  (void)state;
  memset(&S, 0, sizeof S);
  S.P = wk_pool(2, 8);
  aw_loop *L = S.L = wk_loop(S.P);
  S.want = 8; /* every blocking thread asleep in a job, and 8 more jobs waiting */
  S.other = AW_WORK_CPU;
  aw_work_opts blk = {.klass = AW_WORK_BLOCKING};
  for (int i = 0; i < 16; i++)
    log_outcome(aw_work(L, job_sleep_until_gate, &S, &blk), "blk");
  run_ok(L);
  /* the CPU job went in after 8 blocking jobs started, and came back before any of them */
  assert_log("cpu:42 blk:1 blk:1 blk:1 blk:1 blk:1 blk:1 blk:1 blk:1 "
             "blk:1 blk:1 blk:1 blk:1 blk:1 blk:1 blk:1 blk:1");
  assert_int_equal(atomic_load(&S.started), 16);
  assert_int_equal(atomic_load(&S.post_fail), 0);
  assert_int_equal(S.at_release.blocking_threads, 8); /* all asleep in jobs when the CPU job came */
  assert_true(S.at_release.cpu_threads >= 1 && S.at_release.cpu_threads <= 2);
  aw_pool_stats st = wk_pool_stats(S.P);
  assert_int_equal(st.jobs_run, 17);
  wk_finish(L);
  aw_pool_free(S.P);
}

static void test_busy_cpu_threads_do_not_delay_blocking_job(void **state) {
  (void)state;
  memset(&S, 0, sizeof S);
  S.P = wk_pool(2, 4);
  aw_loop *L = S.L = wk_loop(S.P);
  S.want = 2; /* both CPU threads spinning in a job; two more CPU jobs waiting */
  S.other = AW_WORK_BLOCKING;
  for (int i = 0; i < 4; i++)
    log_outcome(aw_work(L, job_spin_until_gate, &S, NULL), "cpu");
  run_ok(L);
  assert_log("blk:42 cpu:1 cpu:1 cpu:1 cpu:1");
  assert_int_equal(atomic_load(&S.started), 4);
  assert_int_equal(atomic_load(&S.post_fail), 0);
  assert_int_equal(S.at_release.cpu_threads, 2);
  assert_int_equal(wk_pool_stats(S.P).jobs_run, 5);
  wk_finish(L);
  aw_pool_free(S.P);
}

/*
 * A pool of N threads runs N jobs at once: two jobs submitted together to two
 * idle (sleeping) CPU threads meet (each waits until the other has started).
 * Bounded: a job that gives up returns 0.
 */
static _Atomic int meet_arrived;

static aw_val job_meet(aw_job *job, void *arg) {
  (void)job;
  (void)arg;
  atomic_fetch_add(&meet_arrived, 1);
  return aw_int(wait_atleast(&meet_arrived, 2) ? 1 : 0);
}

static void test_idle_threads_all_wake_for_a_batch(void **state) {
  (void)state;
  aw_pool *P = wk_pool(2, 1);
  aw_loop *L = wk_loop(P);
  /* both threads start (the jobs meet), then go idle and sleep; then again */
  outcome o[4] = {0};
  for (int round = 0; round < 2; round++) {
    atomic_store(&meet_arrived, 0);
    track(aw_work(L, job_meet, NULL, NULL), &o[2 * round]);
    track(aw_work(L, job_meet, NULL, NULL), &o[2 * round + 1]);
    run_ok(L);
    uint64_t until = wk_now_ms() + WK_SAFETY_MS;
    while (wk_pool_stats(P).sleeps < 2 * (uint64_t)(round + 1) && wk_now_ms() < until)
      wk_nap_us(500);
  }
  for (int i = 0; i < 4; i++)
    assert_fulfilled_int(&o[i], 1);
  assert_int_equal(wk_pool_stats(P).thread_starts, 2);
  wk_finish(L);
  aw_pool_free(P);
}

/* ---- 2. a million tiny jobs, each exactly once -------------------------------------------------
 */

#define MANY_JOBS 1000000u
#define MANY_IN_FLIGHT 256u

static struct many {
  uint32_t *ran;  /* written by the job (each job its own slot) */
  uint32_t *done; /* written by the loop */
  uint32_t next, in_flight, max_in_flight;
  uint64_t bad_value, rejected, start_fail;
} M;

static aw_val job_mark(aw_job *job, void *arg) {
  (void)job;
  uint32_t i = (uint32_t)(uintptr_t)arg;
  M.ran[i]++;
  return aw_int((int64_t)i * 3 + 1);
}

static void many_refill(aw_loop *L);

static aw_val many_done(aw_loop *L, aw_val v, void *arg) {
  uint32_t i = (uint32_t)(uintptr_t)arg;
  M.done[i]++;
  if (aw_tag_of(v) != AW_TAG_INT || v.u.i != (int64_t)i * 3 + 1)
    M.bad_value++;
  M.in_flight--;
  many_refill(L);
  return aw_undefined();
}

static aw_val many_failed(aw_loop *L, aw_val v, void *arg) {
  (void)v;
  M.done[(uint32_t)(uintptr_t)arg]++;
  M.rejected++;
  M.in_flight--;
  many_refill(L);
  return aw_undefined();
}

static void many_refill(aw_loop *L) {
  while (M.in_flight < MANY_IN_FLIGHT && M.next < MANY_JOBS) {
    uint32_t i = M.next++;
    aw_promise *p = aw_work(L, job_mark, (void *)(uintptr_t)i, NULL);
    if (!p) {
      M.start_fail++;
      continue;
    }
    aw_release(aw_promise_then(p, many_done, many_failed, (void *)(uintptr_t)i));
    aw_release(p);
    if (++M.in_flight > M.max_in_flight)
      M.max_in_flight = M.in_flight;
  }
}

static void test_million_jobs_each_complete_once(void **state) {
  (void)state;
  memset(&M, 0, sizeof M);
  M.ran = calloc(MANY_JOBS, sizeof *M.ran);
  M.done = calloc(MANY_JOBS, sizeof *M.done);
  assert_non_null(M.ran);
  assert_non_null(M.done);
  aw_pool *P = wk_pool(2, 2);
  aw_loop *L = wk_loop(P);
  many_refill(L);
  run_ok(L);
  assert_int_equal(M.start_fail, 0);
  assert_int_equal(M.rejected, 0);
  assert_int_equal(M.bad_value, 0);
  assert_int_equal(M.next, MANY_JOBS);
  assert_int_equal(M.in_flight, 0);
  assert_int_equal(M.max_in_flight, MANY_IN_FLIGHT);
  uint64_t sum_ran = 0, sum_done = 0;
  uint32_t not_once = 0;
  for (uint32_t i = 0; i < MANY_JOBS; i++) {
    sum_ran += M.ran[i];
    sum_done += M.done[i];
    if (M.ran[i] != 1 || M.done[i] != 1)
      not_once++;
  }
  assert_int_equal(not_once, 0);
  assert_int_equal(sum_ran, MANY_JOBS);
  assert_int_equal(sum_done, MANY_JOBS);
  assert_int_equal(wk_pool_stats(P).jobs_run, MANY_JOBS);
  free(M.ran);
  free(M.done);
  wk_finish(L);
  aw_pool_free(P);
}

/* ---- 4. timeout_ms -----------------------------------------------------------------------------
 */

static struct tmo {
  gate g;
  _Atomic int saw_cancel;
  _Atomic int ran;
} T;

/* Polls the cancelled flag; once told, waits for the loop to have seen the rejection. */
static aw_val job_until_cancelled(aw_job *job, void *arg) {
  (void)arg;
  atomic_fetch_add(&T.ran, 1);
  uint64_t until = wk_now_ms() + WK_SAFETY_MS;
  while (!aw_job_cancelled(job)) {
    if (wk_now_ms() > until)
      return aw_int(-1);
    wk_nap_us(500);
  }
  atomic_store(&T.saw_cancel, 1);
  gate_wait(&T.g);
  return aw_string("a result nobody will see"); /* freed by the pool's side */
}

static aw_val timeout_seen(aw_loop *L, aw_val v, void *label) {
  h_log_err(L, v, label);
  wlog("saw_cancel=%d", atomic_load(&T.saw_cancel));
  gate_open(&T.g);
  return aw_undefined();
}

static void test_timeout_rejects_running_job(void **state) {
  (void)state;
  memset(&T, 0, sizeof T);
  aw_pool *P = wk_pool(1, 1);
  aw_loop *L = wk_loop(P);
  aw_work_opts o = {.timeout_ms = 30};
  aw_promise *p = aw_work(L, job_until_cancelled, NULL, &o);
  assert_non_null(p);
  aw_release(aw_promise_then(p, h_log, timeout_seen, "job"));
  aw_release(p);
  /* One turn hands the job to the pool; then the loop waits (its timer cannot fire) until
   * the job runs, so that the timeout meets it running even when a loaded machine starts
   * the pool's thread late (tools/run stress, beside two busy processes, saw the job
   * cancelled before it ran). */
  assert_true(aw_loop_run_once(L, false) >= 0);
  assert_true(wait_atleast(&T.ran, 1));
  run_ok(L);
  /* the promise rejected while the job still ran; the job then saw its flag and stopped */
  assert_true(strncmp(wlog_buf, "job!TimeoutError:The operation was aborted due to timeout", 57) ==
              0);
  assert_int_equal(atomic_load(&T.saw_cancel), 1);
  assert_int_equal(atomic_load(&T.ran), 1);
  assert_int_equal(wk_pool_stats(P).jobs_run, 1);
  wk_finish(L);
  aw_pool_free(P);
}

static aw_val open_gate_after(aw_loop *L, aw_val v, void *label) {
  h_log_err(L, v, label);
  gate_open(&T.g);
  return aw_undefined();
}

/* G runs on the only CPU thread: now T goes in, and waits in the pool's queue. */
static void tmo_submit_queued(aw_loop *L, void *arg) {
  (void)arg;
  aw_work_opts o = {.timeout_ms = 20};
  then_drop(aw_work(L, job_until_cancelled, NULL, &o), h_log, open_gate_after, "T");
}

static aw_val job_notify_then_wait(aw_job *job, void *arg) {
  (void)job;
  aw_loop_post(arg, tmo_submit_queued, NULL);
  return aw_int(gate_wait(&T.g) ? 1 : 0);
}

static void test_timeout_rejects_queued_job_without_running_it(void **state) {
  (void)state;
  memset(&T, 0, sizeof T);
  aw_pool *P = wk_pool(1, 1);
  aw_loop *L = wk_loop(P);
  log_outcome(aw_work(L, job_notify_then_wait, L, NULL), "G"); /* holds the only CPU thread */
  run_ok(L);
  assert_log("T!TimeoutError:The operation was aborted due to timeout G:1");
  assert_int_equal(atomic_load(&T.ran), 0);
  assert_int_equal(wk_pool_stats(P).jobs_run, 1);
  wk_finish(L);
  aw_pool_free(P);
}

static void test_timeout_not_reached_leaves_nothing(void **state) {
  (void)state;
  aw_pool *P = wk_pool(1, 1);
  aw_loop *L = wk_loop(P);
  aw_work_opts o = {.timeout_ms = 600000};
  log_outcome(aw_work(L, job_echo, (void *)(intptr_t)5, &o), "a");
  o.klass = AW_WORK_BLOCKING;
  log_outcome(aw_work(L, job_echo, (void *)(intptr_t)6, &o), "b");
  run_ok(L); /* returns at once: the deadline timers do not keep the loop alive, and are cleared */
  assert_true(strcmp(wlog_buf, "a:5 b:6") == 0 || strcmp(wlog_buf, "b:6 a:5") == 0);
  wk_finish(L); /* no timer left */
  aw_pool_free(P);
}

/* ---- 10. aw_pool_resize --------------------------------------------------------------------- */

static void test_resize_rejects_bad_sizes(void **state) {
  (void)state;
  aw_pool *P = wk_pool(2, 2);
  assert_int_equal(aw_pool_resize(P, AW_WORK_CPU, 0), -EINVAL);
  assert_int_equal(aw_pool_resize(P, AW_WORK_BLOCKING, 0), -EINVAL);
  assert_int_equal(aw_pool_resize(P, AW_WORK_BLOCKING, AW_POOL_BLOCKING_MAX + 1), -EINVAL);
  assert_int_equal(aw_pool_resize(NULL, AW_WORK_CPU, 1), -EINVAL);
  assert_int_equal(aw_pool_resize(P, (enum aw_work_class)7, 1), -EINVAL);
  assert_int_equal(aw_pool_resize(P, AW_WORK_BLOCKING, AW_POOL_BLOCKING_MAX), 0);
  assert_int_equal(aw_pool_resize(P, AW_WORK_BLOCKING, 1), 0);
  assert_int_equal(aw_pool_resize(P, AW_WORK_CPU, 1), 0);
  assert_int_equal(aw_pool_resize(P, AW_WORK_CPU, 2), 0);
  aw_pool_free(P);
}

static struct rz {
  aw_loop *L;
  aw_pool *P;
  gate g;
  _Atomic int started;
  int seen, done, want_done;
  int resize_err;
  aw_task_fn on_started; /* posted to the loop by each gated job when it starts */
} R;

static aw_val job_gated_notify(aw_job *job, void *arg);

static aw_val rz_done(aw_loop *L, aw_val v, void *label) {
  h_log(L, v, label);
  if (++R.done == R.want_done)
    gate_open(&R.g);
  return aw_undefined();
}

/* The gated job runs (the class's only thread is busy): grow the class, then submit B and C. */
static void rz_grow(aw_loop *L, void *arg) {
  (void)arg;
  R.resize_err = aw_pool_resize(R.P, AW_WORK_CPU, 2);
  R.want_done = 2;
  then_drop(aw_work(L, job_echo, (void *)(intptr_t)2, NULL), rz_done, h_log_err, "B");
  then_drop(aw_work(L, job_echo, (void *)(intptr_t)3, NULL), rz_done, h_log_err, "C");
}

static aw_val job_gated_notify(aw_job *job, void *arg) {
  (void)job;
  (void)arg;
  atomic_fetch_add(&R.started, 1);
  aw_loop_post(R.L, R.on_started, NULL);
  return aw_int(gate_wait(&R.g) ? 1 : 0);
}

static void test_resize_up_lets_waiting_work_start_a_thread(void **state) {
  (void)state;
  memset(&R, 0, sizeof R);
  R.P = wk_pool(1, 1);
  aw_loop *L = R.L = wk_loop(R.P);
  R.on_started = rz_grow;
  log_outcome(aw_work(L, job_gated_notify, NULL, NULL), "G");
  run_ok(L);
  assert_int_equal(R.resize_err, 0);
  /* B and C ran on the new thread while G still held the first one */
  assert_log("B:2 C:3 G:1");
  aw_pool_stats st = wk_pool_stats(R.P);
  assert_int_equal(st.thread_starts, 2);
  assert_int_equal(st.jobs_run, 3);
  wk_finish(L);
  aw_pool_free(R.P);
}

static void rz_shrink(aw_loop *L, void *arg) {
  (void)arg;
  if (++R.seen != 2)
    return; /* both threads are in a gated job */
  R.resize_err = aw_pool_resize(R.P, AW_WORK_CPU, 1);
  log_outcome(aw_work(L, job_echo, (void *)(intptr_t)7, NULL), "B");
  gate_open(&R.g);
}

static void test_resize_down_makes_threads_leave(void **state) {
  (void)state;
  memset(&R, 0, sizeof R);
  R.P = wk_pool(2, 1);
  aw_loop *L = R.L = wk_loop(R.P);
  R.on_started = rz_shrink;
  log_outcome(aw_work(L, job_gated_notify, NULL, NULL), "A1");
  log_outcome(aw_work(L, job_gated_notify, NULL, NULL), "A2");
  run_ok(L);
  assert_int_equal(R.resize_err, 0);
  assert_int_equal(atomic_load(&R.started), 2);
  /* A1 and A2 finish together (in either order); B after */
  assert_true(strcmp(wlog_buf, "A1:1 A2:1 B:7") == 0 || strcmp(wlog_buf, "A2:1 A1:1 B:7") == 0 ||
              strcmp(wlog_buf, "A1:1 B:7 A2:1") == 0 || strcmp(wlog_buf, "A2:1 B:7 A1:1") == 0);
  /* one thread leaves once it is done with its job (a liveness bound, not a measurement) */
  uint64_t until = wk_now_ms() + WK_SAFETY_MS;
  while (wk_pool_stats(R.P).cpu_threads > 1 && wk_now_ms() < until)
    wk_nap_us(500);
  aw_pool_stats st = wk_pool_stats(R.P);
  assert_int_equal(st.cpu_threads, 1);
  assert_int_equal(st.thread_starts, 2);
  assert_int_equal(st.jobs_run, 3);
  wk_finish(L);
  aw_pool_free(R.P);
}

#define RZ_JOBS 20000u

static struct rzmany {
  aw_pool *P;
  uint8_t *done;
  uint32_t next, in_flight, completed;
  uint64_t bad, resize_fail, resizes;
} RM;

static aw_val job_small(aw_job *job, void *arg) {
  (void)job;
  uint32_t i = (uint32_t)(uintptr_t)arg;
  volatile uint32_t x = i;
  for (unsigned k = 0; k < 200; k++)
    x = x * 1664525u + 1013904223u;
  (void)x;
  return aw_int(i);
}

static void rzmany_refill(aw_loop *L);

static aw_val rzmany_done(aw_loop *L, aw_val v, void *arg) {
  uint32_t i = (uint32_t)(uintptr_t)arg;
  if (RM.done[i] < 255)
    RM.done[i]++;
  if (aw_tag_of(v) != AW_TAG_INT || v.u.i != i)
    RM.bad++;
  RM.in_flight--;
  /* every 500 completions, another size for each class: up, down, up ... */
  if (++RM.completed % 500 == 0) {
    static const unsigned cpu[] = {4, 1, 3, 2, 1, 5, 2};
    static const unsigned blk[] = {1, 6, 2, 1, 3, 1, 4};
    unsigned k = (RM.completed / 500) % 7;
    RM.resizes++;
    if (aw_pool_resize(RM.P, AW_WORK_CPU, cpu[k]) != 0 ||
        aw_pool_resize(RM.P, AW_WORK_BLOCKING, blk[k]) != 0)
      RM.resize_fail++;
  }
  rzmany_refill(L);
  return aw_undefined();
}

static aw_val rzmany_failed(aw_loop *L, aw_val v, void *arg) {
  (void)v;
  (void)arg;
  RM.bad++;
  RM.in_flight--;
  rzmany_refill(L);
  return aw_undefined();
}

static void rzmany_refill(aw_loop *L) {
  while (RM.in_flight < 128 && RM.next < RZ_JOBS) {
    uint32_t i = RM.next++;
    aw_work_opts o = {.klass = i % 3 == 0 ? AW_WORK_BLOCKING : AW_WORK_CPU};
    aw_promise *p = aw_work(L, job_small, (void *)(uintptr_t)i, &o);
    if (!p) {
      RM.bad++;
      continue;
    }
    aw_release(aw_promise_then(p, rzmany_done, rzmany_failed, (void *)(uintptr_t)i));
    aw_release(p);
    RM.in_flight++;
  }
}

static void test_resize_up_and_down_while_jobs_run(void **state) {
  (void)state;
  memset(&RM, 0, sizeof RM);
  RM.done = calloc(RZ_JOBS, 1);
  assert_non_null(RM.done);
  RM.P = wk_pool(2, 2);
  aw_loop *L = wk_loop(RM.P);
  rzmany_refill(L);
  run_ok(L);
  assert_int_equal(RM.bad, 0);
  assert_int_equal(RM.resize_fail, 0);
  assert_int_equal(RM.resizes, RZ_JOBS / 500);
  assert_int_equal(RM.completed, RZ_JOBS);
  uint32_t not_once = 0;
  for (uint32_t i = 0; i < RZ_JOBS; i++)
    not_once += RM.done[i] != 1;
  assert_int_equal(not_once, 0);
  assert_int_equal(wk_pool_stats(RM.P).jobs_run, RZ_JOBS);
  /* down to one thread per class: the others leave (bounded wait for liveness) */
  assert_int_equal(aw_pool_resize(RM.P, AW_WORK_CPU, 1), 0);
  assert_int_equal(aw_pool_resize(RM.P, AW_WORK_BLOCKING, 1), 0);
  uint64_t until = wk_now_ms() + WK_SAFETY_MS;
  aw_pool_stats st = wk_pool_stats(RM.P);
  while ((st.cpu_threads > 1 || st.blocking_threads > 1) && wk_now_ms() < until) {
    wk_nap_us(500);
    st = wk_pool_stats(RM.P);
  }
  assert_true(st.cpu_threads <= 1);
  assert_true(st.blocking_threads <= 1);
  free(RM.done);
  wk_finish(L);
  aw_pool_free(RM.P);
}

/* ---- 13. loops on several threads share one pool ------------------------------------------- */

#define SHARE_LOOPS 4
#define SHARE_JOBS 20000u

typedef struct share {
  aw_pool *P;
  int id;
  uint8_t done[SHARE_JOBS];
  uint32_t next, in_flight, completed;
  uint64_t bad;
  int setup_fail, run_result, free_result;
} share;

static void share_refill(aw_loop *L, share *s);

static aw_val job_share(aw_job *job, void *arg) {
  (void)job;
  return aw_int((int64_t)(uintptr_t)arg);
}

/* Each job's arg packs the loop's id and the job's index; the handler's arg is the share. */
static share *shares[SHARE_LOOPS];

static aw_val share_ok(aw_loop *L, aw_val v, void *arg) {
  uintptr_t key = (uintptr_t)arg;
  share *s = shares[key >> 24];
  uint32_t i = (uint32_t)(key & 0xffffffu);
  if (s->done[i] < 255)
    s->done[i]++;
  if (aw_tag_of(v) != AW_TAG_INT || (uintptr_t)v.u.i != key)
    s->bad++;
  s->completed++;
  s->in_flight--;
  share_refill(L, s);
  return aw_undefined();
}

static aw_val share_err(aw_loop *L, aw_val v, void *arg) {
  (void)v;
  share *s = shares[(uintptr_t)arg >> 24];
  s->bad++;
  s->in_flight--;
  share_refill(L, s);
  return aw_undefined();
}

static void share_refill(aw_loop *L, share *s) {
  while (s->in_flight < 64 && s->next < SHARE_JOBS) {
    uint32_t i = s->next++;
    uintptr_t key = ((uintptr_t)s->id << 24) | i;
    aw_work_opts o = {.klass = i % 4 == 0 ? AW_WORK_BLOCKING : AW_WORK_CPU};
    aw_promise *p = aw_work(L, job_share, (void *)key, &o);
    if (!p) {
      s->bad++;
      continue;
    }
    aw_release(aw_promise_then(p, share_ok, share_err, (void *)key));
    aw_release(p);
    s->in_flight++;
  }
}

static void *share_thread(void *arg) {
  share *s = arg;
  aw_loop *L = wk_loop_try(s->P);
  if (!L) {
    s->setup_fail = 1;
    return NULL;
  }
  share_refill(L, s);
  s->run_result = aw_loop_run(L);
  s->free_result = aw_loop_free(L);
  return NULL;
}

static void test_loops_on_threads_share_a_pool(void **state) {
  (void)state;
  aw_pool *P = wk_pool(2, 2);
  pthread_t th[SHARE_LOOPS];
  for (int k = 0; k < SHARE_LOOPS; k++) {
    shares[k] = calloc(1, sizeof(share));
    assert_non_null(shares[k]);
    shares[k]->P = P;
    shares[k]->id = k;
  }
  for (int k = 0; k < SHARE_LOOPS; k++)
    assert_int_equal(pthread_create(&th[k], NULL, share_thread, shares[k]), 0);
  for (int k = 0; k < SHARE_LOOPS; k++)
    assert_int_equal(pthread_join(th[k], NULL), 0);
  for (int k = 0; k < SHARE_LOOPS; k++) {
    share *s = shares[k];
    assert_int_equal(s->setup_fail, 0);
    assert_int_equal(s->run_result, 0);
    assert_int_equal(s->free_result, 0);
    assert_int_equal(s->bad, 0);
    assert_int_equal(s->completed, SHARE_JOBS);
    uint32_t not_once = 0;
    for (uint32_t i = 0; i < SHARE_JOBS; i++)
      not_once += s->done[i] != 1;
    assert_int_equal(not_once, 0);
    free(s);
    shares[k] = NULL;
  }
  assert_int_equal(wk_pool_stats(P).jobs_run, (uint64_t)SHARE_LOOPS * SHARE_JOBS);
  assert_int_equal(aw_objects_alive(), wk_base);
  aw_pool_free(P);
}

/*
 * Round robin: loop A queues 20,000 jobs behind a gated one on a pool of one
 * CPU thread; loop B (another thread) then queues 100. The gate opens only
 * once B's jobs are in the pool's queue. Taking in turns, the thread runs
 * B's 100 within a few hundred of A's; first come, first served would run all
 * of A's first. Each of B's jobs records how many of A's had run.
 */
#define RR_A_JOBS 20000
#define RR_B_JOBS 100

static struct rr {
  aw_pool *P;
  _Atomic int g_started, b_queued, a_ran;
  int b_saw_a[RR_B_JOBS];
  int a_ok, b_ok, a_bad, b_bad, setup_fail;
} RR;

static aw_val job_rr_gate(aw_job *job, void *arg) {
  (void)job;
  (void)arg;
  atomic_store(&RR.g_started, 1);
  return aw_int(wait_atleast(&RR.b_queued, 1) ? 1 : 0);
}

static aw_val job_rr_a(aw_job *job, void *arg) {
  (void)job;
  (void)arg;
  atomic_fetch_add(&RR.a_ran, 1);
  return aw_int(1);
}

static aw_val job_rr_b(aw_job *job, void *arg) {
  (void)job;
  RR.b_saw_a[(intptr_t)arg] = atomic_load(&RR.a_ran);
  return aw_int(2);
}

static aw_val rr_ok(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)arg;
  if (v.u.i == 2)
    RR.b_ok++;
  else
    RR.a_ok++;
  return aw_undefined();
}

static aw_val rr_err(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  if (arg)
    RR.b_bad++;
  else
    RR.a_bad++;
  return aw_undefined();
}

static void rr_b_queued(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  atomic_store(&RR.b_queued, 1); /* the check phase: this turn's jobs went to the pool */
}

static void *rr_b_thread(void *arg) {
  (void)arg;
  if (!wait_atleast(&RR.g_started, 1)) {
    RR.setup_fail = 1;
    atomic_store(&RR.b_queued, 1);
    return NULL;
  }
  aw_loop *L = wk_loop_try(RR.P);
  if (!L) {
    RR.setup_fail = 1;
    atomic_store(&RR.b_queued, 1);
    return NULL;
  }
  for (intptr_t i = 0; i < RR_B_JOBS; i++) {
    then_drop(aw_work(L, job_rr_b, (void *)i, NULL), rr_ok, rr_err, (void *)1);
  }
  aw_set_immediate(L, rr_b_queued, NULL);
  if (aw_loop_run(L) != 0 || aw_loop_free(L) != 0)
    RR.setup_fail = 1;
  return NULL;
}

static void test_round_robin_serves_a_short_queue_between_a_long_one(void **state) {
  (void)state;
  memset(&RR, 0, sizeof RR);
  RR.P = wk_pool(1, 1);
  aw_loop *L = wk_loop(RR.P);
  aw_promise *g = aw_work(L, job_rr_gate, NULL, NULL);
  aw_release(aw_promise_then(g, rr_ok, rr_err, NULL));
  aw_release(g);
  for (int i = 0; i < RR_A_JOBS; i++) {
    aw_promise *p = aw_work(L, job_rr_a, NULL, NULL);
    aw_release(aw_promise_then(p, rr_ok, rr_err, NULL));
    aw_release(p);
  }
  pthread_t tb;
  assert_int_equal(pthread_create(&tb, NULL, rr_b_thread, NULL), 0);
  run_ok(L);
  assert_int_equal(pthread_join(tb, NULL), 0);
  assert_int_equal(RR.setup_fail, 0);
  assert_int_equal(RR.a_bad + RR.b_bad, 0);
  assert_int_equal(RR.a_ok, RR_A_JOBS + 1);
  assert_int_equal(RR.b_ok, RR_B_JOBS);
  int most = 0;
  for (int i = 0; i < RR_B_JOBS; i++)
    if (RR.b_saw_a[i] > most)
      most = RR.b_saw_a[i];
  /* turns of one job each (a thread takes at most 16 per turn of its lock): about 100 */
  if (most >= 1000)
    fail_msg("B's last job ran after %d of A's %d jobs: no round robin", most, RR_A_JOBS);
  wk_finish(L);
  aw_pool_free(RR.P);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      WK_TEST(test_blocking_jobs_do_not_delay_cpu_job),
      WK_TEST(test_busy_cpu_threads_do_not_delay_blocking_job),
      WK_TEST(test_idle_threads_all_wake_for_a_batch),
      WK_TEST(test_million_jobs_each_complete_once),
      WK_TEST(test_timeout_rejects_running_job),
      WK_TEST(test_timeout_rejects_queued_job_without_running_it),
      WK_TEST(test_timeout_not_reached_leaves_nothing),
      WK_TEST(test_resize_rejects_bad_sizes),
      WK_TEST(test_resize_up_lets_waiting_work_start_a_thread),
      WK_TEST(test_resize_down_makes_threads_leave),
      WK_TEST(test_resize_up_and_down_while_jobs_run),
      WK_TEST(test_loops_on_threads_share_a_pool),
      WK_TEST(test_round_robin_serves_a_short_queue_between_a_long_one),
  };
  return cmocka_run_group_tests_name("workers: pool", tests, NULL, NULL);
}
