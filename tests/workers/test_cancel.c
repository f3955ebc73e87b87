/*
 * tests/workers/test_cancel.c — cancelling jobs, and who frees a job's arg
 * (aw/work.h: opts.signal, opts.arg_free).
 *
 *  - Aborts racing a job's start and finish, 20,000 jobs, 64 in flight, the
 *    abort coming at six different moments: in the same turn as aw_work
 *    (the job never reaches the pool), from an immediate (queued, running
 *    or done by then), while the job runs and polls aw_job_cancelled, just
 *    before the job returns (its completion is behind the abort in the
 *    inbox), from another job's completion (any moment), or never. Every
 *    promise settles exactly once, with the job's own value or the
 *    signal's AbortError; the moments that force an outcome get it;
 *    arg_free runs exactly once per job; results of cancelled jobs are
 *    freed (no object is left).
 *  - arg_free runs exactly once on every path: the job ran; aborted before
 *    it reached the pool, while queued, while running; a timeout; refused
 *    (pre-aborted signal, unknown class, NULL fn, pool shut down, no thread
 *    can start); made in the turn the pool was shut down; queued when the
 *    pool was shut down without draining; its loop freed while it was in
 *    the loop's batch, queued, running (aw_loop_free cancels it and waits) or done;
 *    and a caller-owned arg may be freed once aw_loop_free has returned.
 */
#include "workers.h"

extern int aw__pool_fail_thread_starts; /* workers/pool.c: the next N pthread_create fail */

/* ---- 3. aborts racing start and finish --------------------------------------------------------
 */

#define RACE_JOBS 20000u
#define RACE_IN_FLIGHT 64u

enum race_mode {
  ABORT_SAME_TURN,      /* before the pool saw it: must reject, fn never runs */
  ABORT_FROM_IMMEDIATE, /* queued, running or done: either outcome */
  ABORT_WHILE_POLLING,  /* the job runs and waits for its flag: must reject */
  ABORT_AS_IT_RETURNS,  /* posted by the job just before it returns: must reject */
  ABORT_FROM_OTHER_JOB, /* from another job's completion: either outcome */
  NEVER_ABORTED,        /* must fulfill */
  RACE_MODES
};

typedef struct rjob {
  aw_signal *sig;
  outcome out;
  int mode;
  _Atomic int ran;
  _Atomic int freed;
  _Atomic int saw_cancel;
  int hops; /* ABORT_FROM_IMMEDIATE: immediates to go through first */
} rjob;

typedef struct rarg {
  rjob *r;
  uint32_t i;
} rarg;

static struct race {
  aw_loop *L;
  rjob *jobs;
  uint32_t next, in_flight;
  uint64_t start_fail;
  _Atomic int post_fail; /* from the jobs */
} RC;

static void race_free_arg(void *arg) {
  rarg *a = arg;
  atomic_fetch_add(&a->r->freed, 1);
  free(a);
}

static void abort_job(aw_loop *L, void *arg) {
  (void)L;
  rjob *r = arg;
  aw_signal_abort(r->sig, aw_undefined());
}

/* Aborts after r->hops more check phases. */
static void abort_after_hops(aw_loop *L, void *arg) {
  rjob *r = arg;
  if (r->hops-- > 0)
    aw_set_immediate(L, abort_after_hops, r);
  else
    aw_signal_abort(r->sig, aw_undefined());
}

static aw_val job_race(aw_job *job, void *arg) {
  rarg *a = arg;
  rjob *r = a->r;
  atomic_fetch_add(&r->ran, 1);
  if (r->mode == ABORT_WHILE_POLLING) {
    if (aw_loop_post(RC.L, abort_job, r) != 0)
      atomic_fetch_add(&RC.post_fail, 1);
    uint64_t until = wk_now_ms() + WK_SAFETY_MS;
    while (!aw_job_cancelled(job) && wk_now_ms() < until)
      sched_yield();
  }
  volatile uint32_t x = a->i;
  for (uint32_t k = 0; k < (a->i % 50) * 40; k++)
    x = x * 1664525u + 1013904223u;
  (void)x;
  if (aw_job_cancelled(job))
    atomic_store(&r->saw_cancel, 1);
  if (r->mode == ABORT_AS_IT_RETURNS && aw_loop_post(RC.L, abort_job, r) != 0)
    atomic_fetch_add(&RC.post_fail, 1);
  return aw_obj_val(aw_strf("job %u", a->i)); /* an object: freed by the pool if cancelled */
}

static void race_refill(aw_loop *L);

static void race_settled(aw_loop *L, uint32_t i) {
  RC.in_flight--;
  /* a later job, in flight now or not yet started, is aborted at this random moment */
  uint32_t k = i + 1 + (i * 13) % 60;
  if (k < RACE_JOBS && RC.jobs[k].mode == ABORT_FROM_OTHER_JOB && RC.jobs[k].sig)
    aw_signal_abort(RC.jobs[k].sig, aw_undefined());
  race_refill(L);
}

static aw_val race_ok(aw_loop *L, aw_val v, void *arg) {
  uint32_t i = (uint32_t)(uintptr_t)arg;
  on_ok(L, v, &RC.jobs[i].out);
  race_settled(L, i);
  return aw_undefined();
}

static aw_val race_err(aw_loop *L, aw_val v, void *arg) {
  uint32_t i = (uint32_t)(uintptr_t)arg;
  on_err(L, v, &RC.jobs[i].out);
  race_settled(L, i);
  return aw_undefined();
}

static void race_refill(aw_loop *L) {
  while (RC.in_flight < RACE_IN_FLIGHT && RC.next < RACE_JOBS) {
    uint32_t i = RC.next++;
    rjob *r = &RC.jobs[i];
    r->sig = aw_signal_new(L);
    rarg *a = malloc(sizeof *a);
    if (!r->sig || !a) {
      RC.start_fail++;
      free(a);
      continue;
    }
    a->r = r;
    a->i = i;
    aw_work_opts o = {.klass = i % 5 == 0 ? AW_WORK_BLOCKING : AW_WORK_CPU,
                      .signal = r->sig,
                      .arg_free = race_free_arg};
    aw_promise *p = aw_work(L, job_race, a, &o);
    if (!p) {
      RC.start_fail++;
      continue;
    }
    aw_release(aw_promise_then(p, race_ok, race_err, (void *)(uintptr_t)i));
    aw_release(p);
    RC.in_flight++;
    if (r->mode == ABORT_SAME_TURN)
      aw_signal_abort(r->sig, aw_undefined());
    else if (r->mode == ABORT_FROM_IMMEDIATE) {
      r->hops = (int)(i % 5);
      aw_set_immediate(L, abort_after_hops, r);
    }
  }
}

static void test_aborts_racing_start_and_finish(void **state) {
  (void)state;
  memset(&RC, 0, sizeof RC);
  RC.jobs = calloc(RACE_JOBS, sizeof *RC.jobs);
  assert_non_null(RC.jobs);
  unsigned per_mode[RACE_MODES] = {0};
  for (uint32_t i = 0; i < RACE_JOBS; i++)
    per_mode[RC.jobs[i].mode = (int)((i * 7 + i / 3) % RACE_MODES)]++;
  aw_pool *P = wk_pool(2, 2);
  aw_loop *L = RC.L = wk_loop(P);
  race_refill(L);
  run_ok(L);
  assert_int_equal(RC.start_fail, 0);
  assert_int_equal(atomic_load(&RC.post_fail), 0);
  assert_int_equal(RC.next, RACE_JOBS);
  unsigned fulfilled[RACE_MODES] = {0}, rejected[RACE_MODES] = {0};
  for (uint32_t i = 0; i < RACE_JOBS; i++) {
    rjob *r = &RC.jobs[i];
    char want[32];
    snprintf(want, sizeof want, "job %u", i);
    if (r->out.settled != 1 || atomic_load(&r->freed) != 1 || atomic_load(&r->ran) > 1)
      fail_msg("job %u (mode %d): settled %d times, arg freed %d times, ran %d times", i, r->mode,
               r->out.settled, atomic_load(&r->freed), atomic_load(&r->ran));
    if (r->out.rejected) {
      rejected[r->mode]++;
      if (strcmp(err_name(r->out.v), "AbortError") ||
          strcmp(err_msg(r->out.v), "This operation was aborted"))
        fail_msg("job %u (mode %d) rejected with %s: %s", i, r->mode, err_name(r->out.v),
                 err_msg(r->out.v));
    } else {
      fulfilled[r->mode]++;
      if (!aw_is_string(r->out.v) || strcmp(aw_cstr(r->out.v), want))
        fail_msg("job %u (mode %d) fulfilled with the wrong value", i, r->mode);
    }
    if (r->mode == ABORT_SAME_TURN && atomic_load(&r->ran) != 0)
      fail_msg("job %u was aborted before the pool saw it, yet it ran", i);
    if ((r->mode == ABORT_WHILE_POLLING || r->mode == ABORT_AS_IT_RETURNS) &&
        atomic_load(&r->ran) != 1)
      fail_msg("job %u (mode %d) did not run", i, r->mode);
    if (r->mode == ABORT_WHILE_POLLING && !atomic_load(&r->saw_cancel))
      fail_msg("job %u never saw its cancelled flag", i);
    outcome_clear(&r->out);
    aw_release(r->sig);
  }
  assert_int_equal(fulfilled[ABORT_SAME_TURN], 0);
  assert_int_equal(fulfilled[ABORT_WHILE_POLLING], 0);
  assert_int_equal(fulfilled[ABORT_AS_IT_RETURNS], 0);
  assert_int_equal(rejected[NEVER_ABORTED], 0);
  for (int m = 0; m < RACE_MODES; m++)
    assert_int_equal(fulfilled[m] + rejected[m], per_mode[m]);
  print_message("    aborts from an immediate: %u fulfilled, %u rejected; from another job: %u "
                "fulfilled, %u rejected\n",
                fulfilled[ABORT_FROM_IMMEDIATE], rejected[ABORT_FROM_IMMEDIATE],
                fulfilled[ABORT_FROM_OTHER_JOB], rejected[ABORT_FROM_OTHER_JOB]);
  free(RC.jobs);
  wk_finish(L);
  aw_pool_free(P);
}

/* ---- 12. arg_free exactly once, on every path
 * ---------------------------------------------------- */

enum path {
  P_RAN,
  P_ABORT_LOCAL,
  P_ABORT_QUEUED,
  P_ABORT_RUNNING,
  P_TIMEOUT_RUNNING,
  P_PREABORTED,
  P_BAD_CLASS,
  P_NULL_FN,
  P_AFTER_SHUTDOWN,
  P_NO_THREAD,
  P_MADE_AT_SHUTDOWN,
  P_QUEUED_AT_SHUTDOWN,
  P_RUNNING_AT_SHUTDOWN,
  P_LOOP_FREED_LOCAL,
  P_LOOP_FREED_QUEUED,
  P_LOOP_FREED_RUNNING,
  P_LOOP_FREED_DONE,
  P_COUNT
};

static const char *path_names[P_COUNT] = {
    "ran",
    "abort_local",
    "abort_queued",
    "abort_running",
    "timeout_running",
    "preaborted",
    "bad_class",
    "null_fn",
    "after_shutdown",
    "no_thread",
    "made_at_shutdown",
    "queued_at_shutdown",
    "running_at_shutdown",
    "loop_freed_local",
    "loop_freed_queued",
    "loop_freed_running",
    "loop_freed_done",
};

static struct afree {
  _Atomic int freed[P_COUNT];
  _Atomic int off_loop[P_COUNT]; /* freed on a thread other than the test's */
  _Atomic int ran[P_COUNT];
  _Atomic int saw_cancel[P_COUNT]; /* a gated job ended because it was cancelled */
  pthread_t main;
  gate g, g2; /* g2: for the path loop_freed_running only */
  aw_signal *sig;
  aw_loop *L;
  aw_pool *P;
  void (*on_started)(aw_loop *L); /* what the loop does once the gated job runs */
  outcome o[P_COUNT];
  aw_pool_report rep;
  int shutdown_r;
} AF;

static void af_reset(void) {
  memset(&AF, 0, sizeof AF);
  AF.main = pthread_self();
}

static void af_clear(void) {
  for (int p = 0; p < P_COUNT; p++)
    outcome_clear(&AF.o[p]);
}

static void af_free(void *arg) {
  int path = *(int *)arg;
  atomic_fetch_add(&AF.freed[path], 1);
  if (!pthread_equal(pthread_self(), AF.main))
    atomic_fetch_add(&AF.off_loop[path], 1);
  free(arg);
}

/* A job's arg that knows its path (NULL if out of memory: the check then fails). */
static void *af_arg(int path) {
  int *a = malloc(sizeof *a);
  if (a)
    *a = path;
  return a;
}

/* aw_work(L, fn, arg of path, {klass, arg_free}), its outcome recorded in AF.o[path]. */
static void af_work(aw_loop *L, aw_work_fn fn, int path, aw_work_opts wo) {
  wo.arg_free = af_free;
  track_cb(aw_work(L, fn, af_arg(path), &wo), &AF.o[path]);
}

static aw_val job_af(aw_job *job, void *arg) {
  (void)job;
  atomic_fetch_add(&AF.ran[*(int *)arg], 1);
  return aw_int(*(int *)arg);
}

/* Waits for its cancelled flag (bounded), then returns an object the pool must free. */
static aw_val job_af_until_cancelled(aw_job *job, void *arg) {
  atomic_fetch_add(&AF.ran[*(int *)arg], 1);
  uint64_t until = wk_now_ms() + WK_SAFETY_MS;
  while (!aw_job_cancelled(job) && wk_now_ms() < until)
    wk_nap_us(200);
  return aw_string("cancelled result");
}

static void af_started(aw_loop *L, void *arg) {
  (void)arg;
  if (AF.on_started)
    AF.on_started(L);
}

/*
 * Tells the loop it runs (the post first: once ran is seen, the post is done and
 * the loop may be freed), then waits for its gate, or until it is cancelled
 * (aw_loop_free cancels it and waits for it); returns an object.
 */
static aw_val job_af_gated(aw_job *job, void *arg) {
  int path = *(int *)arg;
  aw_loop_post(AF.L, af_started, NULL);
  atomic_fetch_add(&AF.ran[path], 1);
  gate *g = path == P_LOOP_FREED_RUNNING ? &AF.g2 : &AF.g;
  uint64_t until = wk_now_ms() + WK_SAFETY_MS;
  while (!gate_is_open(g) && !aw_job_cancelled(job) && wk_now_ms() < until)
    wk_nap_us(200);
  if (aw_job_cancelled(job))
    atomic_fetch_add(&AF.saw_cancel[path], 1);
  return aw_string("gated result");
}

static void af_abort(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  aw_signal_abort(AF.sig, aw_undefined());
}

static void assert_freed_once(int from, int to) {
  for (int p = from; p <= to; p++)
    if (atomic_load(&AF.freed[p]) != 1)
      fail_msg("path %s: arg freed %d times", path_names[p], atomic_load(&AF.freed[p]));
}

static void test_arg_free_once_on_refusals(void **state) {
  (void)state;
  af_reset();
  aw_pool *P = wk_pool(1, 1);
  aw_loop *L = wk_loop(P);
  aw_signal *s = aw_signal_new(L);
  aw_signal_abort(s, aw_undefined());
  af_work(L, job_af, P_PREABORTED, (aw_work_opts){.signal = s});
  aw_release(s);
  af_work(L, job_af, P_BAD_CLASS, (aw_work_opts){.klass = (enum aw_work_class)5});
  aw_work_opts wo = {.arg_free = af_free};
  assert_null(aw_work(L, NULL, af_arg(P_NULL_FN), &wo));
  run_ok(L);
  assert_rejected(&AF.o[P_PREABORTED], "AbortError", "This operation was aborted");
  assert_rejected(&AF.o[P_BAD_CLASS], "TypeError", "aw_work: unknown class 5");

  /* no thread can start */
  aw__pool_fail_thread_starts = -1;
  af_work(L, job_af, P_NO_THREAD, (aw_work_opts){0});
  run_ok(L);
  aw__pool_fail_thread_starts = 0;
  assert_int_equal(AF.o[P_NO_THREAD].settled, 1);
  assert_true(AF.o[P_NO_THREAD].rejected);
  assert_non_null(strstr(err_msg(AF.o[P_NO_THREAD].v), "pthread_create"));

  /* the pool was shut down */
  assert_int_equal(aw_pool_shutdown(P, true, 10000, NULL), 0);
  af_work(L, job_af, P_AFTER_SHUTDOWN, (aw_work_opts){0});
  run_ok(L);
  assert_rejected(&AF.o[P_AFTER_SHUTDOWN], "AbortError", "the worker pool was shut down");
  af_clear();
  wk_finish(L);
  aw_pool_free(P);
  assert_freed_once(P_PREABORTED, P_NO_THREAD);
  for (int p = P_PREABORTED; p <= P_NO_THREAD; p++) {
    assert_int_equal(atomic_load(&AF.ran[p]), 0);
    assert_int_equal(atomic_load(&AF.off_loop[p]), 0); /* all on the loop's thread */
  }
}

static void test_arg_free_once_after_run_abort_and_timeout(void **state) {
  (void)state;
  af_reset();
  aw_pool *P = wk_pool(1, 2);
  aw_loop *L = AF.L = wk_loop(P);
  af_work(L, job_af, P_RAN, (aw_work_opts){0});
  /* aborted in the turn it was made: never reaches the pool */
  aw_signal *s = aw_signal_new(L);
  af_work(L, job_af, P_ABORT_LOCAL, (aw_work_opts){.signal = s});
  aw_signal_abort(s, aw_undefined());
  aw_release(s);
  /* aborted later (by then running, waiting for its flag, or still queued: once either way) */
  AF.sig = aw_signal_new(L);
  af_work(L, job_af_until_cancelled, P_ABORT_RUNNING,
          (aw_work_opts){.klass = AW_WORK_BLOCKING, .signal = AF.sig});
  aw_set_timeout(L, 20, af_abort, NULL);
  /* a deadline */
  af_work(L, job_af_until_cancelled, P_TIMEOUT_RUNNING,
          (aw_work_opts){.klass = AW_WORK_BLOCKING, .timeout_ms = 10});
  run_ok(L);
  aw_release(AF.sig);
  assert_fulfilled_int(&AF.o[P_RAN], P_RAN);
  assert_rejected(&AF.o[P_ABORT_LOCAL], "AbortError", "This operation was aborted");
  assert_rejected(&AF.o[P_ABORT_RUNNING], "AbortError", "This operation was aborted");
  assert_rejected(&AF.o[P_TIMEOUT_RUNNING], "TimeoutError",
                  "The operation was aborted due to timeout");
  assert_int_equal(atomic_load(&AF.ran[P_RAN]), 1);
  assert_int_equal(atomic_load(&AF.ran[P_ABORT_LOCAL]), 0);
  af_clear();
  wk_finish(L);
  aw_pool_free(P);
  assert_freed_once(P_RAN, P_ABORT_LOCAL);
  assert_freed_once(P_ABORT_RUNNING, P_TIMEOUT_RUNNING);
  for (int p = P_RAN; p <= P_TIMEOUT_RUNNING; p++)
    assert_int_equal(atomic_load(&AF.off_loop[p]), 0);
}

static aw_val af_queued_rejected(aw_loop *L, aw_val v, void *arg) {
  (void)arg;
  on_err(L, v, &AF.o[P_ABORT_QUEUED]);
  gate_open(&AF.g);
  return aw_undefined();
}

/* The gated job holds the only CPU thread: Q goes in behind it and is aborted there. */
static void af_queue_then_abort(aw_loop *L) {
  AF.sig = aw_signal_new(L);
  aw_work_opts wo = {.signal = AF.sig, .arg_free = af_free};
  then_drop(aw_work(L, job_af, af_arg(P_ABORT_QUEUED), &wo), on_ok, af_queued_rejected,
            &AF.o[P_ABORT_QUEUED]);
  aw_set_immediate(L, af_abort, NULL); /* after this turn's jobs went to the pool */
}

static void test_arg_free_once_when_aborted_while_queued(void **state) {
  (void)state;
  af_reset();
  aw_pool *P = wk_pool(1, 1);
  aw_loop *L = AF.L = wk_loop(P);
  AF.on_started = af_queue_then_abort;
  af_work(L, job_af_gated, P_RAN, (aw_work_opts){0});
  run_ok(L);
  aw_release(AF.sig);
  assert_rejected(&AF.o[P_ABORT_QUEUED], "AbortError", "This operation was aborted");
  assert_int_equal(AF.o[P_RAN].settled, 1);
  assert_false(AF.o[P_RAN].rejected);
  assert_int_equal(atomic_load(&AF.ran[P_ABORT_QUEUED]), 0);
  assert_int_equal(wk_pool_stats(P).jobs_run, 1);
  af_clear();
  wk_finish(L);
  aw_pool_free(P);
  assert_freed_once(P_RAN, P_RAN);
  assert_freed_once(P_ABORT_QUEUED, P_ABORT_QUEUED);
}

/* The check phase after the queued job went to the pool: one more job, then the shutdown. */
static void af_shut_down(aw_loop *L, void *arg) {
  (void)arg;
  af_work(L, job_af, P_MADE_AT_SHUTDOWN, (aw_work_opts){0}); /* still in the loop's batch */
  AF.shutdown_r = aw_pool_shutdown(AF.P, false, 20, &AF.rep);
  gate_open(&AF.g);
}

static void af_queue_then_shut_down(aw_loop *L) {
  af_work(L, job_af, P_QUEUED_AT_SHUTDOWN, (aw_work_opts){0});
  aw_set_immediate(L, af_shut_down, NULL);
}

static void test_arg_free_once_on_shutdown(void **state) {
  (void)state;
  af_reset();
  aw_pool *P = AF.P = wk_pool(1, 1);
  aw_loop *L = AF.L = wk_loop(P);
  AF.on_started = af_queue_then_shut_down;
  af_work(L, job_af_gated, P_RUNNING_AT_SHUTDOWN, (aw_work_opts){0});
  run_ok(L);
  assert_int_equal(AF.shutdown_r, -ETIMEDOUT);
  /* the queued job, and the one in the loop's batch: shutdown hands it to the pool first */
  assert_int_equal(AF.rep.cancelled, 2);
  assert_int_equal(AF.rep.still_running, 1);
  assert_int_equal(AF.rep.threads_left, 1);
  assert_rejected(&AF.o[P_QUEUED_AT_SHUTDOWN], "AbortError", "the worker pool was shut down");
  assert_rejected(&AF.o[P_MADE_AT_SHUTDOWN], "AbortError", "the worker pool was shut down");
  assert_int_equal(AF.o[P_RUNNING_AT_SHUTDOWN].settled, 1);
  assert_int_equal(atomic_load(&AF.ran[P_QUEUED_AT_SHUTDOWN]), 0);
  assert_int_equal(atomic_load(&AF.ran[P_MADE_AT_SHUTDOWN]), 0);
  af_clear();
  wk_finish(L);
  aw_pool_free(P);
  assert_freed_once(P_MADE_AT_SHUTDOWN, P_RUNNING_AT_SHUTDOWN);
  for (int p = P_MADE_AT_SHUTDOWN; p <= P_RUNNING_AT_SHUTDOWN; p++)
    assert_int_equal(atomic_load(&AF.off_loop[p]), 0);
}

/* The gated job runs: Q goes in and waits behind it; after this turn the loop stops. */
static void af_stop_now(aw_loop *L, void *arg) {
  (void)arg;
  af_work(L, job_af, P_LOOP_FREED_LOCAL, (aw_work_opts){0}); /* stays in the loop's batch */
  aw_loop_stop(L);
}

static void af_queue_then_stop(aw_loop *L) {
  af_work(L, job_af, P_LOOP_FREED_QUEUED, (aw_work_opts){0});
  aw_set_immediate(L, af_stop_now, NULL);
}

/*
 * aw_loop_free waits for the loop's running jobs (they see aw_job_cancelled)
 * and frees every job on the loop's thread: when it returns, no job of the
 * loop runs and each arg_free has run once, so memory the caller owns may go.
 */
static void test_arg_free_once_when_the_loop_is_freed(void **state) {
  (void)state;
  af_reset();
  aw_pool *P = wk_pool(1, 1);
  aw_loop *L = AF.L = wk_loop(P);
  AF.on_started = af_queue_then_stop;
  af_work(L, job_af_gated, P_RAN, (aw_work_opts){0});
  assert_int_equal(aw_loop_run(L), 1); /* stopped with jobs pending */
  assert_int_equal(aw_loop_free(L), 0);
  /* the batch's job, the queued one and the running one went with the loop, on its thread */
  assert_freed_once(P_LOOP_FREED_LOCAL, P_LOOP_FREED_QUEUED);
  assert_freed_once(P_RAN, P_RAN);
  assert_int_equal(atomic_load(&AF.off_loop[P_LOOP_FREED_LOCAL]), 0);
  assert_int_equal(atomic_load(&AF.off_loop[P_LOOP_FREED_QUEUED]), 0);
  assert_int_equal(atomic_load(&AF.off_loop[P_RAN]), 0);
  assert_int_equal(atomic_load(&AF.saw_cancel[P_RAN]), 1); /* it was told, not waited out */
  assert_int_equal(atomic_load(&AF.ran[P_LOOP_FREED_LOCAL]), 0);
  assert_int_equal(atomic_load(&AF.ran[P_LOOP_FREED_QUEUED]), 0);
  for (int p = 0; p < P_COUNT; p++)
    assert_int_equal(AF.o[p].settled, 0); /* a freed loop settles nothing */

  /*
   * X done, its completion in the inbox; Y running. The one CPU thread posts
   * X's completion before it takes Y (Y was queued after X started), so Y
   * running means X's completion is in the inbox.
   */
  AF.on_started = NULL;
  L = AF.L = wk_loop(P);
  af_work(L, job_af_gated, P_LOOP_FREED_DONE, (aw_work_opts){0});
  while (atomic_load(&AF.ran[P_LOOP_FREED_DONE]) == 0)
    assert_int_equal(aw_loop_run_once(L, false), 1);
  af_work(L, job_af_gated, P_LOOP_FREED_RUNNING, (aw_work_opts){0});
  assert_int_equal(aw_loop_run_once(L, false), 1); /* Y goes to the pool */
  gate_open(&AF.g);
  assert_true(wait_atleast(&AF.ran[P_LOOP_FREED_RUNNING], 1));
  assert_int_equal(aw_loop_free(L), 0);
  assert_freed_once(P_LOOP_FREED_DONE, P_LOOP_FREED_RUNNING);
  assert_int_equal(atomic_load(&AF.off_loop[P_LOOP_FREED_DONE]), 0); /* the loop's drain */
  assert_int_equal(atomic_load(&AF.off_loop[P_LOOP_FREED_RUNNING]), 0);
  assert_int_equal(atomic_load(&AF.saw_cancel[P_LOOP_FREED_RUNNING]), 1);
  aw_pool_free(P);
  assert_freed_once(P_LOOP_FREED_LOCAL, P_LOOP_FREED_RUNNING);
  af_clear();
  assert_int_equal(aw_objects_alive(), wk_base);
}

/*
 * A job whose arg the caller owns (no arg_free), still running when its loop
 * is freed: once aw_loop_free returns the job has finished with arg, so the
 * caller may free it then (ASan: a use after free if the job still ran).
 */
static aw_val job_uses_arg_until_cancelled(aw_job *job, void *arg) {
  int *counter = arg;
  atomic_fetch_add(&AF.ran[P_RAN], 1);
  uint64_t until = wk_now_ms() + WK_SAFETY_MS;
  while (!aw_job_cancelled(job) && wk_now_ms() < until)
    wk_nap_us(100);
  for (int i = 0; i < 1000; i++) {
    (*counter)++; /* still using the caller's memory after the cancel */
    sched_yield();
  }
  return aw_undefined();
}

static void test_caller_owned_arg_may_go_after_loop_free(void **state) {
  (void)state;
  af_reset();
  aw_pool *P = wk_pool(1, 1);
  for (int round = 0; round < 20; round++) {
    aw_loop *L = wk_loop(P);
    int *counter = calloc(1, sizeof *counter);
    assert_non_null(counter);
    atomic_store(&AF.ran[P_RAN], 0);
    aw_promise *p = aw_work(L, job_uses_arg_until_cancelled, counter, NULL);
    assert_non_null(p);
    while (atomic_load(&AF.ran[P_RAN]) == 0)
      assert_int_equal(aw_loop_run_once(L, false), 1);
    aw_release(p);
    assert_int_equal(aw_loop_free(L), 0);
    assert_int_equal(*counter, 1000); /* the job is over: it did all its work before */
    free(counter);
  }
  aw_pool_free(P);
  assert_int_equal(aw_objects_alive(), wk_base);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      WK_TEST(test_aborts_racing_start_and_finish),
      WK_TEST(test_arg_free_once_on_refusals),
      WK_TEST(test_arg_free_once_after_run_abort_and_timeout),
      WK_TEST(test_arg_free_once_when_aborted_while_queued),
      WK_TEST(test_arg_free_once_on_shutdown),
      WK_TEST(test_arg_free_once_when_the_loop_is_freed),
      WK_TEST(test_caller_owned_arg_may_go_after_loop_free),
  };
  return cmocka_run_group_tests_name("workers: cancel", tests, NULL, NULL);
}
