/*
 * tests/workers/test_lifecycle.c — a pool's life: shutdown, threads that
 * cannot start, fork() (aw/work.h).
 *
 *  - aw_pool_shutdown with jobs in flight: drain=true runs the queued jobs
 *    (after reporting the running one past a short deadline); drain=false
 *    rejects the queued ones with AbortError "the worker pool was shut
 *    down", reports the running ones (still_running, threads_left,
 *    -ETIMEDOUT) instead of hanging, and they finish on their own; from a
 *    thread other than the loop's too; an idle pool shuts down at once,
 *    twice; aw_work afterwards rejects.
 *  - pthread_create failing (aw__pool_fail_thread_starts): with no thread at
 *    all, jobs of either class reject with an Error naming pthread_create
 *    and its errno, and the pool works again once threads can start; with
 *    one start failing next to a running thread, the class degrades to the
 *    threads it has and still runs every job.
 *  - fork(): a child of a process that used the pool runs jobs on it (and
 *    on a new loop); the parent's pool still works afterwards. A fork with
 *    a job running and jobs queued: the child's loop hears that the running
 *    job's thread is gone, and runs the queued ones. A loop with a ring
 *    refuses to run in the child (AW_EFORKED) and frees at once.
 *  - 300 shutdowns of idle pools: none waits out its timeout.
 *  - drain runs the jobs a loop made but had not handed to the pool yet
 *    (in the turn of the shutdown, or before the loop ran).
 *  - aw_pool_free(aw_pool_default()): the next aw_pool_default() is a new
 *    pool that works.
 *
 * Fork tests are skipped under ThreadSanitizer, which does not support a
 * child that starts threads after a multi-threaded fork.
 */
#include "workers.h"

#include <sys/wait.h>

extern int aw__pool_fail_thread_starts; /* workers/pool.c: the next N pthread_create fail */

/*
 * Each test has one gated job: it tells the loop it started (on_started runs
 * there), then waits for the gate.
 */
static struct life {
  aw_loop *L;
  aw_pool *P;
  gate g;
  int seen, want; /* started posts seen, and how many before on_started */
  void (*on_started)(aw_loop *L);
  int r1, r2; /* aw_pool_shutdown's returns */
  aw_pool_report rep1, rep2;
  aw_pool_stats stats;
  outcome o[16];
} LF;

static void lf_reset(void) { memset(&LF, 0, sizeof LF); }

static void lf_clear(void) {
  for (int i = 0; i < 16; i++)
    outcome_clear(&LF.o[i]);
}

static void lf_started(aw_loop *L, void *arg) {
  (void)arg;
  if (++LF.seen == LF.want && LF.on_started)
    LF.on_started(L);
}

static aw_val job_gated(aw_job *job, void *arg) {
  (void)job;
  aw_loop_post(LF.L, lf_started, NULL);
  gate_wait(&LF.g);
  return aw_int((int64_t)(intptr_t)arg);
}

static void lf_work(aw_loop *L, aw_work_fn fn, intptr_t v, enum aw_work_class k,
                    const char *label) {
  aw_work_opts o = {.klass = k};
  log_outcome(aw_work(L, fn, (void *)v, &o), label);
}

/* ---- 5. shutdown -------------------------------------------------------------------------- */

/* The check phase: B, C and D are in the pool's queue behind G. */
static void drain_shutdown(aw_loop *L, void *arg) {
  (void)arg;
  /* G still runs: the deadline passes, and shutdown says so instead of waiting */
  LF.r1 = aw_pool_shutdown(LF.P, true, 20, &LF.rep1);
  lf_work(L, job_echo, 5, AW_WORK_CPU, "E"); /* refused: the pool is shut down */
  gate_open(&LF.g);
  /* now everything can finish: the queued jobs run (drain), then the thread leaves */
  LF.r2 = aw_pool_shutdown(LF.P, true, WK_SAFETY_MS, &LF.rep2);
  aw_pool_stats_get(LF.P, &LF.stats);
}

static void drain_queue(aw_loop *L) {
  lf_work(L, job_echo, 2, AW_WORK_CPU, "B");
  lf_work(L, job_echo, 3, AW_WORK_CPU, "C");
  lf_work(L, job_echo, 4, AW_WORK_CPU, "D");
  aw_set_immediate(L, drain_shutdown, NULL);
}

static void test_shutdown_drain_runs_queued_jobs(void **state) {
  (void)state;
  lf_reset();
  aw_pool *P = LF.P = wk_pool(1, 1);
  aw_loop *L = LF.L = wk_loop(P);
  LF.want = 1;
  LF.on_started = drain_queue;
  lf_work(L, job_gated, 1, AW_WORK_CPU, "G");
  run_ok(L);
  assert_int_equal(LF.r1, -ETIMEDOUT);
  assert_int_equal(LF.rep1.cancelled, 0);
  assert_int_equal(LF.rep1.still_running, 1);
  assert_int_equal(LF.rep1.threads_left, 1);
  assert_int_equal(LF.r2, 0);
  assert_int_equal(LF.rep2.cancelled, 0);
  assert_int_equal(LF.rep2.still_running, 0);
  assert_int_equal(LF.rep2.threads_left, 0);
  assert_int_equal(LF.stats.cpu_threads, 0);
  assert_int_equal(LF.stats.jobs_run, 4);
  assert_log("E!AbortError:the worker pool was shut down G:1 B:2 C:3 D:4");
  wk_finish(L);
  aw_pool_free(P);
}

/* Both classes busy (G and H gated), B, C (CPU) and Q (blocking) queued: shut down, no drain. */
static void cancel_shutdown(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  LF.r1 = aw_pool_shutdown(LF.P, false, 20, &LF.rep1);
  gate_open(&LF.g); /* G and H finish on their own afterwards */
}

static void cancel_queue(aw_loop *L) {
  lf_work(L, job_echo, 2, AW_WORK_CPU, "B");
  lf_work(L, job_echo, 3, AW_WORK_CPU, "C");
  lf_work(L, job_echo, 4, AW_WORK_BLOCKING, "Q");
  aw_set_immediate(L, cancel_shutdown, NULL);
}

static void test_shutdown_without_drain_rejects_queued_and_reports_running(void **state) {
  (void)state;
  lf_reset();
  aw_pool *P = LF.P = wk_pool(1, 1);
  aw_loop *L = LF.L = wk_loop(P);
  LF.want = 2;
  LF.on_started = cancel_queue;
  lf_work(L, job_gated, 1, AW_WORK_CPU, "G");
  lf_work(L, job_gated, 9, AW_WORK_BLOCKING, "H");
  run_ok(L); /* no hang: G and H finish after the deadline */
  assert_int_equal(LF.r1, -ETIMEDOUT);
  assert_int_equal(LF.rep1.cancelled, 3);
  assert_int_equal(LF.rep1.still_running, 2);
  assert_int_equal(LF.rep1.threads_left, 2);
  const char *rejected = "B!AbortError:the worker pool was shut down "
                         "C!AbortError:the worker pool was shut down "
                         "Q!AbortError:the worker pool was shut down ";
  assert_true(strncmp(wlog_buf, rejected, strlen(rejected)) == 0);
  /*
   * G and H ran past the deadline and then finished. work.h says such a job's
   * "promise [is] already rejected"; the pool settles it with what the job
   * returned. Either way: settled exactly once (each label once, below).
   */
  const char *rest = wlog_buf + strlen(rejected);
  const char *g = strstr(rest, "G");
  const char *h = strstr(rest, "H");
  assert_non_null(g);
  assert_non_null(h);
  assert_null(strstr(g + 1, "G"));
  assert_null(strstr(h + 1, "H"));
  assert_true(strncmp(g, "G:1", 3) == 0 || strncmp(g, "G!AbortError", 12) == 0);
  assert_true(strncmp(h, "H:9", 3) == 0 || strncmp(h, "H!AbortError", 12) == 0);
  wk_finish(L);
  aw_pool_free(P); /* waits for the two threads to leave */
  assert_int_equal(aw_objects_alive(), wk_base);
}

static struct helper {
  pthread_t t;
  int r;
  aw_pool_report rep;
} HS;

static void *shutdown_thread(void *arg) {
  (void)arg;
  HS.r = aw_pool_shutdown(LF.P, false, 20, &HS.rep);
  gate_open(&LF.g);
  return NULL;
}

static void helper_start(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  if (pthread_create(&HS.t, NULL, shutdown_thread, NULL) != 0) {
    HS.r = 12345;
    gate_open(&LF.g);
  }
}

/* Ten jobs wait behind G; another thread shuts the pool down while the loop waits. */
static void helper_queue(aw_loop *L) {
  for (int i = 0; i < 10; i++) {
    aw_work_opts o = {0};
    track_cb(aw_work(L, job_echo, (void *)(intptr_t)i, &o), &LF.o[i]);
  }
  aw_set_immediate(L, helper_start, NULL);
}

static void test_shutdown_from_another_thread(void **state) {
  (void)state;
  lf_reset();
  memset(&HS, 0, sizeof HS);
  aw_pool *P = LF.P = wk_pool(1, 1);
  aw_loop *L = LF.L = wk_loop(P);
  LF.want = 1;
  LF.on_started = helper_queue;
  lf_work(L, job_gated, 1, AW_WORK_CPU, "G");
  run_ok(L);
  assert_int_not_equal(HS.r, 12345);
  assert_int_equal(pthread_join(HS.t, NULL), 0);
  assert_int_equal(HS.r, -ETIMEDOUT);
  assert_int_equal(HS.rep.cancelled, 10);
  assert_int_equal(HS.rep.still_running, 1);
  for (int i = 0; i < 10; i++)
    assert_rejected(&LF.o[i], "AbortError", "the worker pool was shut down");
  lf_clear();
  wk_finish(L);
  aw_pool_free(P);
}

static void test_shutdown_idle_pool_twice_then_work_rejects(void **state) {
  (void)state;
  lf_reset();
  aw_pool *P = wk_pool(2, 2);
  aw_loop *L = wk_loop(P);
  lf_work(L, job_echo, 1, AW_WORK_CPU, "a");
  lf_work(L, job_echo, 2, AW_WORK_BLOCKING, "b");
  run_ok(L);
  aw_pool_report rep;
  memset(&rep, 0xff, sizeof rep);
  assert_int_equal(aw_pool_shutdown(P, true, WK_SAFETY_MS, &rep), 0);
  assert_int_equal(rep.cancelled, 0);
  assert_int_equal(rep.still_running, 0);
  assert_int_equal(rep.threads_left, 0);
  aw_pool_stats st = wk_pool_stats(P);
  assert_int_equal(st.cpu_threads, 0);
  assert_int_equal(st.blocking_threads, 0);
  assert_int_equal(aw_pool_shutdown(P, false, 0, &rep), 0);
  assert_int_equal(aw_pool_shutdown(NULL, false, 0, &rep), -EINVAL);
  lf_work(L, job_echo, 3, AW_WORK_CPU, "c");
  lf_work(L, job_echo, 4, AW_WORK_BLOCKING, "d");
  run_ok(L);
  assert_true(strcmp(wlog_buf, "a:1 b:2 c!AbortError:the worker pool was shut down "
                               "d!AbortError:the worker pool was shut down") == 0 ||
              strcmp(wlog_buf, "b:2 a:1 c!AbortError:the worker pool was shut down "
                               "d!AbortError:the worker pool was shut down") == 0);
  assert_int_equal(wk_pool_stats(P).jobs_run, 2);
  wk_finish(L);
  aw_pool_free(P);
}

/* ---- 8. pthread_create failing ----------------------------------------------------------------
 */

static void test_no_thread_rejects_naming_pthread_create(void **state) {
  (void)state;
  lf_reset();
  aw_pool *P = wk_pool(2, 2);
  aw_loop *L = wk_loop(P);
  aw__pool_fail_thread_starts = -1;
  outcome cpu = {0}, blk = {0}, after = {0};
  track(aw_work(L, job_echo, (void *)1, NULL), &cpu);
  aw_work_opts o = {.klass = AW_WORK_BLOCKING};
  track(aw_work(L, job_echo, (void *)2, &o), &blk);
  run_ok(L);
  aw__pool_fail_thread_starts = 0;
  char want[256];
  snprintf(want, sizeof want,
           "no worker thread could be started for the CPU class: pthread_create: %s (EAGAIN)",
           aw_strerror(EAGAIN));
  assert_rejected(&cpu, "Error", want);
  assert_int_equal(aw_as_error(cpu.v)->errnum, EAGAIN);
  snprintf(want, sizeof want,
           "no worker thread could be started for the blocking class: pthread_create: %s (EAGAIN)",
           aw_strerror(EAGAIN));
  assert_rejected(&blk, "Error", want);
  aw_pool_stats st = wk_pool_stats(P);
  assert_int_equal(st.thread_starts, 0);
  assert_true(st.thread_start_failures >= 2);
  assert_int_equal(st.jobs_run, 0);
  /* threads can start again: the pool works */
  track(aw_work(L, job_echo, (void *)3, NULL), &after);
  run_ok(L);
  assert_fulfilled_int(&after, 3);
  assert_int_equal(wk_pool_stats(P).thread_starts, 1);
  outcome_clear(&cpu);
  outcome_clear(&blk);
  outcome_clear(&after);
  wk_finish(L);
  aw_pool_free(P);
}

static void degrade_check(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  aw_pool_stats_get(LF.P, &LF.stats); /* after this turn's jobs went to the pool */
  gate_open(&LF.g);
}

/* G holds the first CPU thread: the next start fails once, and 20 jobs go in. */
static void degrade_queue(aw_loop *L) {
  aw__pool_fail_thread_starts = 1;
  for (int i = 0; i < 12; i++)
    track_cb(aw_work(L, job_echo, (void *)(intptr_t)(i + 10), NULL), &LF.o[i]);
  aw_set_immediate(L, degrade_check, NULL);
}

static void test_partial_thread_failure_degrades_and_runs_everything(void **state) {
  (void)state;
  lf_reset();
  aw_pool *P = LF.P = wk_pool(4, 1);
  aw_loop *L = LF.L = wk_loop(P);
  LF.want = 1;
  LF.on_started = degrade_queue;
  lf_work(L, job_gated, 1, AW_WORK_CPU, "G");
  run_ok(L);
  assert_int_equal(aw__pool_fail_thread_starts, 0); /* the one failure was used */
  assert_int_equal(LF.stats.thread_start_failures, 1);
  assert_int_equal(LF.stats.thread_starts, 1);
  assert_int_equal(LF.stats.cpu_threads, 1);
  assert_true(strncmp(wlog_buf, "G:1", 3) == 0);
  for (int i = 0; i < 12; i++)
    assert_fulfilled_int(&LF.o[i], i + 10);
  aw_pool_stats st = wk_pool_stats(P);
  assert_int_equal(st.jobs_run, 13);
  assert_int_equal(st.thread_start_failures, 1);
  /* the class runs on what it has; growing it again works */
  assert_int_equal(aw_pool_resize(P, AW_WORK_CPU, 4), 0);
  lf_clear();
  for (int i = 0; i < 16; i++)
    track(aw_work(L, job_echo, (void *)(intptr_t)i, NULL), &LF.o[i]);
  run_ok(L);
  for (int i = 0; i < 16; i++)
    assert_fulfilled_int(&LF.o[i], i);
  assert_int_equal(wk_pool_stats(P).thread_start_failures, 1);
  lf_clear();
  wk_finish(L);
  aw_pool_free(P);
}

/* ---- 9. fork()
 * ----------------------------------------------------------------------------------- */

/* In a child: 64 CPU and 16 blocking jobs on L; 0 if each came back with its value. */
static int child_jobs(aw_loop *L) {
  outcome o[80];
  memset(o, 0, sizeof o);
  for (int i = 0; i < 80; i++) {
    aw_work_opts wo = {.klass = i < 64 ? AW_WORK_CPU : AW_WORK_BLOCKING};
    aw_promise *p = aw_work(L, job_echo, (void *)(intptr_t)i, &wo);
    if (!p)
      return 20;
    track_cb(p, &o[i]);
  }
  if (aw_loop_run(L) != 0)
    return 21;
  int bad = 0;
  for (int i = 0; i < 80; i++) {
    if (o[i].settled != 1 || o[i].rejected || o[i].v.u.i != i)
      bad++;
    outcome_clear(&o[i]);
  }
  return bad ? 22 : 0;
}

static int wait_child(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(st))
    return 1000 + WTERMSIG(st);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 999;
}

static void test_fork_child_runs_jobs_on_the_parents_pool(void **state) {
  (void)state;
  if (WK_TSAN) {
    print_message("    skipped under ThreadSanitizer (threads after a multi-threaded fork)\n");
    skip();
    return;
  }
  lf_reset();
  aw_pool *P = wk_pool(2, 2);
  aw_loop *L = wk_loop(P);
  for (int i = 0; i < 8; i++)
    track(aw_work(L, job_echo, (void *)(intptr_t)i, NULL), &LF.o[i]);
  run_ok(L);
  for (int i = 0; i < 8; i++)
    assert_fulfilled_int(&LF.o[i], i);
  lf_clear();
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(60); /* a hang in the child shows as SIGALRM in the parent */
    aw_loop *C = wk_loop_try(P);
    if (!C)
      _exit(10);
    int r = child_jobs(C);
    if (aw_loop_free(C) != 0)
      r = 23;
    _exit(r);
  }
  assert_int_equal(wait_child(pid), 0);
  /* the parent's pool is intact */
  for (int i = 0; i < 8; i++)
    track(aw_work(L, job_echo, (void *)(intptr_t)(i + 100), NULL), &LF.o[i]);
  run_ok(L);
  for (int i = 0; i < 8; i++)
    assert_fulfilled_int(&LF.o[i], i + 100);
  lf_clear();
  wk_finish(L);
  aw_pool_free(P);
}

static pid_t fork_pid = -1;
static int fork_status = -1;

/* The check phase: G runs, B and C wait in the pool's queue. Fork here. */
static void fork_now(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  fflush(NULL);
  fork_pid = fork();
  if (fork_pid == 0) {
    alarm(20); /* the child's loop must not hang; SIGALRM tells the parent it did */
    return;    /* the child runs the loop on */
  }
  if (fork_pid > 0)
    fork_status = wait_child(fork_pid);
  gate_open(&LF.g); /* the parent's G finishes */
}

static void fork_queue(aw_loop *L) {
  track_cb(aw_work(L, job_echo, (void *)2, NULL), &LF.o[1]);
  track_cb(aw_work(L, job_echo, (void *)3, NULL), &LF.o[2]);
  aw_set_immediate(L, fork_now, NULL);
}

static void test_fork_with_a_job_running_and_jobs_queued(void **state) {
  (void)state;
  if (WK_TSAN) {
    print_message("    skipped under ThreadSanitizer (threads after a multi-threaded fork)\n");
    skip();
    return;
  }
  lf_reset();
  fork_pid = -1;
  fork_status = -1;
  aw_pool *P = LF.P = wk_pool(1, 1);
  aw_loop_config cfg = {.no_io = true}; /* the child uses this loop: no ring shared with it */
  aw_loop *L = LF.L = aw_loop_new(&cfg, NULL);
  assert_non_null(L);
  assert_int_equal(aw_loop_set_pool(L, P), 0);
  LF.want = 1;
  LF.on_started = fork_queue;
  track(aw_work(L, job_gated, (void *)1, NULL), &LF.o[0]);
  int r = aw_loop_run(L);
  if (fork_pid == 0) {
    /* the child: G's thread is gone (rejected), B and C ran on new threads */
    int code = r != 0 ? 30 : 0;
    if (!code && !(LF.o[0].settled == 1 && LF.o[0].rejected &&
                   strcmp(err_msg(LF.o[0].v),
                          "the thread running this job does not exist after fork()") == 0))
      code = 31;
    if (!code && !(LF.o[1].settled == 1 && !LF.o[1].rejected && LF.o[1].v.u.i == 2))
      code = 32;
    if (!code && !(LF.o[2].settled == 1 && !LF.o[2].rejected && LF.o[2].v.u.i == 3))
      code = 33;
    _exit(code);
  }
  assert_int_equal(r, 0);
  assert_true(fork_pid > 0);
  assert_int_equal(fork_status, 0);
  assert_fulfilled_int(&LF.o[0], 1);
  assert_fulfilled_int(&LF.o[1], 2);
  assert_fulfilled_int(&LF.o[2], 3);
  lf_clear();
  wk_finish(L);
  aw_pool_free(P);
}

/* ---- an idle pool's shutdown never waits out its timeout ---------------------------------- */

/*
 * Many shutdowns of pools whose threads are idle (spinning or asleep), with
 * threads of the blocking class only or of both: every one returns 0. The
 * old shutdown read the blocking count under one lock and waited under the
 * other, so a blocking thread leaving in between was not heard and the
 * shutdown sat out its whole timeout (-ETIMEDOUT).
 */
#define IDLE_ROUNDS 300

static void test_idle_pool_shutdown_hears_every_thread_leave(void **state) {
  (void)state;
  lf_reset();
  int timeouts = 0;
  for (int r = 0; r < IDLE_ROUNDS; r++) {
    aw_pool_config cfg = {
        .cpu_threads = 1, .blocking_threads = 1 + r % 4, .spin_us = r % 3 == 0 ? 1 : 50};
    aw_pool *P = aw_pool_new(&cfg);
    assert_non_null(P);
    aw_loop *L = wk_loop(P);
    lf_work(L, job_echo, 1, AW_WORK_BLOCKING, "b");
    if (r % 2)
      lf_work(L, job_echo, 2, AW_WORK_CPU, "c");
    run_ok(L);
    if (r % 5 == 0)
      wk_nap_us(200); /* asleep rather than spinning */
    aw_pool_report rep;
    /* a liveness bound only: an idle pool's threads leave at once */
    if (aw_pool_shutdown(P, r % 2 == 0, WK_SAFETY_MS, &rep) != 0)
      timeouts++;
    wlog_reset();
    assert_int_equal(aw_loop_free(L), 0);
    aw_pool_free(P);
  }
  assert_int_equal(timeouts, 0);
  assert_int_equal(aw_objects_alive(), wk_base);
}

/* ---- drain covers the jobs a loop has not handed over yet --------------------------------- */

static void drain_this_turn(aw_loop *L, void *arg) {
  (void)arg;
  lf_work(L, job_echo, 7, AW_WORK_CPU, "A"); /* in the loop's batch: not in the pool yet */
  lf_work(L, job_echo, 8, AW_WORK_BLOCKING, "B");
  LF.r1 = aw_pool_shutdown(LF.P, true, WK_SAFETY_MS, &LF.rep1);
  lf_work(L, job_echo, 9, AW_WORK_CPU, "C"); /* after the shutdown: refused */
}

static void test_shutdown_drain_runs_jobs_not_yet_handed_to_the_pool(void **state) {
  (void)state;
  lf_reset();
  /* made in a callback, then the shutdown in the same turn */
  aw_pool *P = LF.P = wk_pool(1, 1);
  aw_loop *L = LF.L = wk_loop(P);
  aw_set_immediate(L, drain_this_turn, NULL);
  run_ok(L);
  assert_int_equal(LF.r1, 0);
  assert_int_equal(LF.rep1.cancelled, 0);
  assert_true(strcmp(wlog_buf, "C!AbortError:the worker pool was shut down A:7 B:8") == 0 ||
              strcmp(wlog_buf, "C!AbortError:the worker pool was shut down B:8 A:7") == 0);
  wk_finish(L);
  aw_pool_free(P);

  /* made before aw_loop_run (not running: no turn to hand them over in), then shut down */
  wlog_reset();
  P = LF.P = wk_pool(1, 1);
  L = LF.L = wk_loop(P);
  lf_work(L, job_echo, 1, AW_WORK_CPU, "a");
  lf_work(L, job_echo, 2, AW_WORK_BLOCKING, "b");
  assert_int_equal(aw_pool_shutdown(P, true, WK_SAFETY_MS, NULL), 0);
  run_ok(L); /* handed over now: a thread starts again for them */
  assert_true(strcmp(wlog_buf, "a:1 b:2") == 0 || strcmp(wlog_buf, "b:2 a:1") == 0);
  wk_finish(L);
  assert_int_equal(aw_pool_shutdown(P, true, WK_SAFETY_MS, NULL), 0);
  aw_pool_free(P);
}

/* ---- the default pool can be freed -------------------------------------------------------- */

static void test_freeing_the_default_pool_then_using_it_again(void **state) {
  (void)state;
  lf_reset();
  aw_pool *D = aw_pool_default();
  assert_non_null(D);
  aw_loop *L = wk_loop(NULL); /* the default pool */
  lf_work(L, job_echo, 1, AW_WORK_CPU, "a");
  run_ok(L);
  wk_finish(L);
  aw_pool_free(D); /* its memory goes: no loop holds it */
  aw_pool *D2 = aw_pool_default();
  assert_non_null(D2); /* a new one (maybe at the same address), never the freed one */
  L = wk_loop(NULL);
  lf_work(L, job_echo, 2, AW_WORK_CPU, "b");
  lf_work(L, job_echo, 3, AW_WORK_BLOCKING, "c");
  run_ok(L);
  assert_true(strcmp(wlog_buf, "a:1 b:2 c:3") == 0 || strcmp(wlog_buf, "a:1 c:3 b:2") == 0);
  wk_finish(L);
  assert_int_equal(wk_pool_stats(aw_pool_default()).thread_starts > 0, 1);
}

/* ---- fork(): a loop with a ring cannot run in the child ----------------------------------- */

static void fork_tick(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  wlog("tick");
}

/*
 * The child's copy of a loop with an io_uring: its ring serves the parent's
 * task, so aw_loop_run and aw_loop_run_once return AW_EFORKED at once (the
 * old loop spun on the failing io_uring_enter until its timer came), and
 * aw_loop_free frees it at once (the old one waited 5 s for CQEs that never
 * come). The parent's loop is untouched.
 */
static void test_fork_child_refuses_to_run_a_loop_with_a_ring(void **state) {
  (void)state;
  lf_reset();
  aw_loop *L = aw_loop_new(NULL, NULL);
  if (!L) {
    print_message("    skipped: no io_uring here\n");
    skip();
    return;
  }
  assert_int_not_equal(aw_set_timeout(L, 200, fork_tick, NULL), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(60);
    int code = 0;
    if (aw_loop_run(L) != AW_EFORKED)
      code = 40;
    else if (aw_loop_run_once(L, false) != AW_EFORKED)
      code = 41;
    else if (strcmp(wlog_buf, "") != 0)
      code = 42; /* the timer must not have run */
    else if (aw_loop_free(L) != 0)
      code = 43;
    _exit(code);
  }
  assert_int_equal(wait_child(pid), 0);
  run_ok(L);
  assert_log("tick");
  wk_finish(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      WK_TEST(test_shutdown_drain_runs_queued_jobs),
      WK_TEST(test_shutdown_without_drain_rejects_queued_and_reports_running),
      WK_TEST(test_shutdown_from_another_thread),
      WK_TEST(test_shutdown_idle_pool_twice_then_work_rejects),
      WK_TEST(test_no_thread_rejects_naming_pthread_create),
      WK_TEST(test_partial_thread_failure_degrades_and_runs_everything),
      WK_TEST(test_fork_child_runs_jobs_on_the_parents_pool),
      WK_TEST(test_fork_with_a_job_running_and_jobs_queued),
      WK_TEST(test_idle_pool_shutdown_hears_every_thread_leave),
      WK_TEST(test_shutdown_drain_runs_jobs_not_yet_handed_to_the_pool),
      WK_TEST(test_fork_child_refuses_to_run_a_loop_with_a_ring),
      WK_TEST(test_freeing_the_default_pool_then_using_it_again),
  };
  return cmocka_run_group_tests_name("workers: lifecycle", tests, NULL, NULL);
}
