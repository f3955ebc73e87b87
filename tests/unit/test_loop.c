/*
 * tests/unit/test_loop.c — the event loop (aw/loop.h): phase order, the
 * microtask checkpoint, nextTick, immediates, run/run_once/stop, keep-alive,
 * aw_loop_post from other threads, unhandled-rejection modes and hooks,
 * uncaught exceptions.
 *
 * Expected orders are Node's; several are the conformance corpus's programs
 * (cited by number).
 */
#include "unit.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void cb_log(aw_loop *L, void *label) {
  (void)L;
  ulog("%s", (const char *)label);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Runs aw_loop_run with stderr captured; the result goes to *(int *)arg[1]. */
typedef struct run_capture {
  aw_loop *L;
  int rc;
} run_capture;
static void run_into(void *arg) {
  run_capture *c = arg;
  c->rc = aw_loop_run(c->L);
}
/* aw_loop_run(L) with stderr captured into *err (malloc'd). */
static int run_capturing(aw_loop *L, char **err) {
  run_capture c = {L, 12345};
  *err = capture_stderr(run_into, &c);
  return c.rc;
}

/* ---- running ------------------------------------------------------------------------ */

static void test_run_with_nothing_to_do_returns_zero(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  run_ok(L);
  assert_int_equal(aw_loop_run_once(L, false), 0);
  assert_int_equal(aw_loop_run_once(L, true), 0); /* does not sleep: nothing keeps the loop */
  unit_finish(L);
}

static void test_run_first_drains_what_the_caller_queued(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_queue_microtask(L, cb_log, "micro");
  aw_next_tick(L, cb_log, "tick");
  aw_promise *p = aw_promise_resolved(L, aw_int(1));
  then_drop(p, h_log, NULL, "then");
  assert_log("");
  run_ok(L);
  assert_log("tick micro then:1");
  aw_release(p);
  unit_finish(L);
}

/*
 * With no file descriptor left, the loop's wake-up eventfd cannot be made:
 * aw_loop_new returns NULL and an error value that names the cause.
 */
static void test_loop_new_failure_returns_null_and_an_error_naming_the_cause(void **state) {
  (void)state;
  int lowest = open("/dev/null", O_RDONLY); /* the lowest free descriptor */
  assert_true(lowest >= 0);
  close(lowest);
  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
  lim = old;
  lim.rlim_cur = (rlim_t)lowest; /* the next descriptor would be one too many */
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(NULL, &err);
  aw_loop *L2 = aw_loop_new(NULL, NULL); /* no error wanted: none made */
  setrlimit(RLIMIT_NOFILE, &old);
  assert_null(L);
  assert_null(L2);
  aw_error *e = aw_as_error(err);
  assert_non_null(e);
  assert_int_equal(e->errnum, EMFILE);
  assert_string_equal(e->message->data, "eventfd: Too many open files (EMFILE)");
  aw_release_val(err);
  assert_no_objects();
}

static void test_loop_time_never_goes_backwards(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  uint64_t prev = aw_loop_now(L);
  for (int i = 0; i < 1000; i++) {
    uint64_t now = aw_loop_now(L);
    assert_true(now >= prev);
    prev = now;
  }
  unit_finish(L);
}

/* ---- nextTick and microtasks -------------------------------------------------------- */

static void cb_timeout_049(aw_loop *L, void *arg) {
  (void)arg;
  ulog("timeout");
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  then_drop(p, h_mark, NULL, "promise-in-timeout");
  aw_release(p);
  aw_next_tick(L, cb_log, "tick-in-timeout");
}

/* 049 */
static void test_next_ticks_run_before_promise_jobs(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  then_drop(p, h_mark, NULL, "promise1");
  aw_next_tick(L, cb_log, "tick1");
  aw_queue_microtask(L, cb_log, "micro1");
  aw_next_tick(L, cb_log, "tick2");
  aw_set_timeout(L, 0, cb_timeout_049, NULL);
  run_ok(L);
  assert_log("tick1 tick2 promise1 micro1 timeout tick-in-timeout promise-in-timeout");
  aw_release(p);
  unit_finish(L);
}

static aw_val h_p1(aw_loop *L, aw_val v, void *arg) {
  (void)v;
  (void)arg;
  ulog("p1");
  aw_next_tick(L, cb_log, "tick-from-p1");
  return aw_undefined();
}
static void cb_t1(aw_loop *L, void *arg) {
  (void)arg;
  ulog("t1");
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  then_drop(p, h_mark, NULL, "promise-from-t1");
  aw_release(p);
  aw_next_tick(L, cb_log, "t3-from-t1");
}

/* 050: a nextTick queued by a promise job waits for the microtask queue, and vice versa. */
static void test_next_tick_queued_by_a_microtask_waits_for_the_microtasks(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  aw_promise *a = aw_promise_then(p, h_p1, NULL, NULL);
  aw_promise *b = aw_promise_then(a, h_mark, NULL, "p2");
  then_drop(b, h_mark, NULL, "p3");
  aw_next_tick(L, cb_t1, NULL);
  aw_next_tick(L, cb_log, "t2");
  run_ok(L);
  assert_log("t1 t2 t3-from-t1 p1 promise-from-t1 p2 p3 tick-from-p1");
  aw_release(p);
  aw_release(a);
  aw_release(b);
  unit_finish(L);
}

static void cb_micro_chain(aw_loop *L, void *arg) {
  int n = (int)(intptr_t)arg;
  ulog("m%d", n);
  if (n < 3)
    aw_queue_microtask(L, cb_micro_chain, (void *)(intptr_t)(n + 1));
}
static void cb_imm_with_micro(aw_loop *L, void *label) {
  ulog("%s", (const char *)label);
  aw_queue_microtask(L, cb_micro_chain, (void *)(intptr_t)1);
}

/* A checkpoint after every macrotask drains microtasks queued by microtasks too. */
static void test_checkpoint_after_every_immediate_drains_everything(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_set_immediate(L, cb_imm_with_micro, "I1");
  aw_set_immediate(L, cb_imm_with_micro, "I2");
  run_ok(L);
  assert_log("I1 m1 m2 m3 I2 m1 m2 m3");
  unit_finish(L);
}

static void test_checkpoint_after_every_posted_task(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  assert_int_equal(aw_loop_post(L, cb_imm_with_micro, "P1"), 0);
  assert_int_equal(aw_loop_post(L, cb_imm_with_micro, "P2"), 0);
  run_ok(L); /* a queued post keeps the loop alive */
  assert_log("P1 m1 m2 m3 P2 m1 m2 m3");
  unit_finish(L);
}

/* ---- phases ------------------------------------------------------------------------- */

static void cb_i1(aw_loop *L, void *arg) {
  (void)arg;
  ulog("I1");
  aw_set_immediate(L, cb_log, "I3");
}

static void test_immediate_queued_in_the_check_phase_runs_next_iteration(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_set_immediate(L, cb_i1, NULL);
  aw_set_immediate(L, cb_log, "I2");
  assert_int_equal(aw_loop_run_once(L, false), 1); /* I3 is left for the next iteration */
  assert_log("I1 I2");
  assert_int_equal(unit_stats(L).immediates, 1);
  assert_int_equal(aw_loop_run_once(L, false), 0);
  assert_log("I1 I2 I3");
  unit_finish(L);
}

static void cb_047_i2(aw_loop *L, void *arg) {
  (void)arg;
  ulog("I2");
  aw_set_immediate(L, cb_i1, NULL); /* logs I1 again, then queues I3 */
}

static void test_immediates_chain_across_iterations_in_order(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_set_immediate(L, cb_imm_with_micro, "A");
  aw_set_immediate(L, cb_047_i2, NULL);
  uint64_t it = unit_stats(L).iterations;
  run_ok(L);
  assert_log("A m1 m2 m3 I2 I1 I3");
  assert_int_equal(unit_stats(L).iterations - it, 3);
  unit_finish(L);
}

/* One iteration with a due timer, a post and an immediate: timers, then I/O, then check. */
static void test_phases_run_timers_then_posts_then_immediates(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  uint64_t t0 = aw_loop_now(L);
  aw_set_immediate(L, cb_log, "immediate");
  aw_loop_post(L, cb_log, "post");
  aw_set_timeout(L, 1, cb_log, "timer");
  while (aw_loop_now(L) < t0 + 3) /* let the timer come due: order, not duration, is asserted */
    sleep_ms(1);
  assert_int_equal(aw_loop_run_once(L, false), 0);
  assert_log("timer post immediate");
  unit_finish(L);
}

static void cb_io_046(aw_loop *L, void *arg) {
  (void)arg;
  ulog("io");
  aw_set_timeout(L, 0, cb_log, "timeout");
  aw_set_immediate(L, cb_log, "immediate");
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  then_drop(p, h_mark, NULL, "io-micro");
  aw_release(p);
  ulog("io-end");
}

/* 046: from an I/O callback, setImmediate runs before setTimeout(0). */
static void test_immediate_before_timeout_when_scheduled_from_io(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_post(L, cb_io_046, NULL);
  run_ok(L);
  assert_log("io io-end io-micro immediate timeout");
  unit_finish(L);
}

/* ---- run_once, stop, keep-alive ----------------------------------------------------------- */

static void test_run_once_without_wait_returns_when_nothing_is_runnable(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_timer t = aw_set_timeout(L, 100000, cb_log, "far");
  assert_int_equal(aw_loop_run_once(L, false), 1); /* alive, nothing ran, no sleep */
  assert_log("");
  aw_clear_timer(L, t);
  assert_int_equal(aw_loop_run_once(L, false), 0);
  unit_finish(L);
}

static void test_run_once_with_wait_sleeps_until_a_timer_is_due(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  uint64_t t0 = aw_loop_now(L);
  aw_set_timeout(L, 10, cb_log, "due");
  int r = aw_loop_run_once(L, true);
  assert_true(aw_loop_now(L) >= t0 + 10); /* it slept rather than returning at once */
  int calls = 1;
  while (r == 1 && calls < 1000) {
    r = aw_loop_run_once(L, true);
    calls++;
  }
  assert_int_equal(r, 0);
  assert_log("due");
  unit_finish(L);
}

static void cb_unref_and_log(aw_loop *L, void *label) {
  ulog("%s", (const char *)label);
  aw_loop_unref(L);
}

typedef struct poster {
  aw_loop *L;
  int delay_ms;
  int rc;
} poster;
static void *post_later(void *arg) {
  poster *p = arg;
  sleep_ms(p->delay_ms);
  p->rc = aw_loop_post(p->L, cb_unref_and_log, "posted");
  return NULL;
}

static void test_run_once_with_wait_wakes_for_a_post_from_another_thread(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_ref(L); /* alive, with nothing runnable and no timer: sleeps until woken */
  poster ps = {L, 20, 1};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, post_later, &ps), 0);
  int r = aw_loop_run_once(L, true);
  pthread_join(th, NULL);
  assert_int_equal(ps.rc, 0);
  assert_log("posted");
  assert_int_equal(r, 0); /* the post unref'd the loop */
  unit_finish(L);
}

static void test_loop_ref_keeps_run_going_until_unref(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_ref(L);
  poster ps = {L, 20, 1};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, post_later, &ps), 0);
  run_ok(L); /* returns only once the post ran and unref'd */
  pthread_join(th, NULL);
  assert_int_equal(ps.rc, 0);
  assert_log("posted");
  unit_finish(L);
}

static void test_unref_below_zero_is_ignored(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_unref(L);
  aw_loop_unref(L);
  aw_loop_ref(L);
  assert_int_equal(aw_loop_run_once(L, false), 1);
  aw_loop_unref(L);
  assert_int_equal(aw_loop_run_once(L, false), 0);
  unit_finish(L);
}

static int g_count;
static aw_timer g_interval;
static void cb_stops_at_3_clears_at_5(aw_loop *L, void *arg) {
  (void)arg;
  g_count++;
  if (g_count == 3)
    aw_loop_stop(L);
  if (g_count == 5)
    aw_clear_timer(L, g_interval);
}

static void test_stop_makes_run_return_one_and_run_resumes(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_count = 0;
  g_interval = aw_set_interval(L, 1, cb_stops_at_3_clears_at_5, NULL);
  assert_int_equal(aw_loop_run(L), 1);
  assert_int_equal(g_count, 3);
  assert_int_equal(aw_loop_run(L), 0);
  assert_int_equal(g_count, 5);
  unit_finish(L);
}

/* ---- immediates ----------------------------------------------------------------------- */

static void test_cleared_immediate_never_runs(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_immediate a = aw_set_immediate(L, cb_log, "a");
  aw_immediate b = aw_set_immediate(L, cb_log, "b");
  assert_true(a != 0 && b != 0 && a != b);
  aw_clear_immediate(L, a);
  assert_int_equal(unit_stats(L).immediates, 1);
  run_ok(L);
  assert_log("b");
  unit_finish(L);
}

static aw_immediate g_imm_victim;
static void cb_clears_imm(aw_loop *L, void *arg) {
  (void)arg;
  ulog("first");
  aw_clear_immediate(L, g_imm_victim);
}

static void test_immediate_cleared_by_an_earlier_one_of_the_phase_never_runs(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_set_immediate(L, cb_clears_imm, NULL);
  g_imm_victim = aw_set_immediate(L, cb_log, "victim");
  aw_set_immediate(L, cb_log, "last");
  run_ok(L);
  assert_log("first last");
  unit_finish(L);
}

static void test_clearing_a_run_immediate_id_is_harmless(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_immediate old = aw_set_immediate(L, cb_log, "old");
  run_ok(L);
  aw_immediate cleared = aw_set_immediate(L, cb_log, "cleared");
  aw_clear_immediate(L, cleared);
  run_ok(L);                          /* the check phase passes over the cleared one */
  aw_set_immediate(L, cb_log, "new"); /* may reuse the slots */
  aw_clear_immediate(L, old);
  aw_clear_immediate(L, cleared);
  aw_clear_immediate(L, 0);
  run_ok(L);
  assert_log("old new");
  unit_finish(L);
}

/* ---- aw_loop_post from other threads --------------------------------------------------- */

enum { POSTERS = 8, POSTS_EACH = 50000 };
static uint8_t g_post_runs[POSTERS * POSTS_EACH];
static int64_t g_post_total;
static pthread_barrier_t g_barrier;

static void cb_count_post(aw_loop *L, void *arg) {
  g_post_runs[(uintptr_t)arg]++;
  if (++g_post_total == POSTERS * POSTS_EACH)
    aw_loop_unref(L);
}

typedef struct flood {
  aw_loop *L;
  int index;
  int failures;
} flood;
static void *post_flood(void *arg) {
  flood *f = arg;
  pthread_barrier_wait(&g_barrier);
  for (int i = 0; i < POSTS_EACH; i++)
    if (aw_loop_post(f->L, cb_count_post, (void *)(uintptr_t)(f->index * POSTS_EACH + i)) != 0)
      f->failures++;
  return NULL;
}

static void test_posts_from_eight_threads_each_run_exactly_once(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  memset(g_post_runs, 0, sizeof g_post_runs);
  g_post_total = 0;
  aw_loop_ref(L); /* until every post has run */
  pthread_barrier_init(&g_barrier, NULL, POSTERS);
  pthread_t th[POSTERS];
  flood fl[POSTERS];
  for (int i = 0; i < POSTERS; i++) {
    fl[i] = (flood){L, i, 0};
    assert_int_equal(pthread_create(&th[i], NULL, post_flood, &fl[i]), 0);
  }
  uint64_t before = unit_stats(L).macrotasks;
  run_ok(L);
  for (int i = 0; i < POSTERS; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(fl[i].failures, 0);
  }
  pthread_barrier_destroy(&g_barrier);
  assert_int_equal(g_post_total, POSTERS * POSTS_EACH);
  int64_t wrong = 0;
  for (size_t i = 0; i < sizeof g_post_runs; i++)
    if (g_post_runs[i] != 1)
      wrong++;
  assert_int_equal(wrong, 0);
  assert_int_equal(unit_stats(L).macrotasks - before, POSTERS * POSTS_EACH);
  unit_finish(L);
}

/* ---- statistics ----------------------------------------------------------------------- */

static void test_stats_count_macrotasks_and_microtasks(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_stats s0 = unit_stats(L);
  aw_set_immediate(L, cb_log, "i1");
  aw_set_immediate(L, cb_log, "i2");
  aw_loop_post(L, cb_log, "post");
  for (int i = 0; i < 3; i++)
    aw_queue_microtask(L, cb_log, "m");
  aw_next_tick(L, cb_log, "t");
  aw_next_tick(L, cb_log, "t");
  assert_int_equal(unit_stats(L).immediates, 2);
  run_ok(L);
  aw_loop_stats s1 = unit_stats(L);
  assert_int_equal(s1.macrotasks - s0.macrotasks, 3);
  assert_int_equal(s1.microtasks - s0.microtasks, 5);
  assert_int_equal(s1.iterations - s0.iterations, 1);
  assert_int_equal(s1.immediates, 0);
  unit_finish(L);
}

/* ---- unhandled rejections ------------------------------------------------------------- */

static aw_promise *g_rejected;
static int g_hook_wrong;

static void hook_unhandled(aw_loop *L, aw_val reason, aw_promise *p, void *arg) {
  (void)L;
  ulog("unhandled:%s", aw_error_message(reason) ? aw_error_message(reason) : "?");
  if (arg && p != *(aw_promise **)arg)
    g_hook_wrong++;
}
static void hook_handled(aw_loop *L, aw_promise *p, void *arg) {
  (void)L;
  ulog("rejectionHandled");
  if (arg && p != *(aw_promise **)arg)
    g_hook_wrong++;
}
static void hook_uncaught(aw_loop *L, aw_val err, void *arg) {
  (void)L;
  (void)arg;
  aw_str *s = aw_to_string(err);
  ulog("uncaught:%s", s->data);
  aw_release(s);
}

static void start_m_chain(aw_loop *L, int n) {
  static const char *names[] = {"m1", "m2", "m3"};
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  for (int i = 0; i < n; i++) {
    aw_promise *q = aw_promise_then(p, h_mark, NULL, (void *)names[i]);
    aw_release(p);
    p = q;
  }
  aw_release(p);
}

static void test_unhandled_rejection_in_throw_mode_stops_run(void **state) {
  (void)state;
  aw_loop *L = unit_loop(); /* throw is the default */
  aw_val err = aw_err("Error", "lonely");
  aw_promise *p = aw_promise_rejected(L, aw_retain_val(err));
  aw_timer t = aw_set_timeout(L, 1, cb_log, "timeout");
  char *out;
  assert_int_equal(run_capturing(L, &out), AW_EUNCAUGHT);
  assert_non_null(strstr(out, "lonely")); /* printed, as Node prints it */
  free(out);
  assert_ptr_equal(aw_loop_exception(L).u.o, err.u.o);
  assert_false(aw_is_thrown(aw_loop_exception(L)));
  assert_log(""); /* the timer never ran */
  aw_clear_timer(L, t);
  aw_release_val(err);
  aw_release(p);
  unit_finish(L);
}

static void test_unhandled_rejection_in_warn_mode_prints_and_goes_on(void **state) {
  (void)state;
  aw_loop *L = unit_loop_cfg(AW_REJECTIONS_WARN);
  aw_promise *p = aw_promise_rejected(L, aw_err("Error", "lonely"));
  aw_set_timeout(L, 1, cb_log, "timeout");
  char *out;
  assert_int_equal(run_capturing(L, &out), 0);
  assert_non_null(strstr(out, "lonely"));
  free(out);
  assert_log("timeout");
  assert_true(aw_is_undefined(aw_loop_exception(L)));
  aw_release(p);
  unit_finish(L);
}

static void test_unhandled_rejection_in_none_mode_is_silent(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_set_rejection_mode(L, AW_REJECTIONS_NONE);
  aw_promise *p = aw_promise_rejected(L, aw_err("Error", "lonely"));
  aw_set_timeout(L, 1, cb_log, "timeout");
  char *out;
  assert_int_equal(run_capturing(L, &out), 0);
  assert_string_equal(out, "");
  free(out);
  assert_log("timeout");
  aw_release(p);
  unit_finish(L);
}

/* 057 */
static void test_unhandled_hook_runs_once_after_the_microtasks(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_hook_wrong = 0;
  aw_loop_on_unhandled_rejection(L, hook_unhandled, &g_rejected);
  g_rejected = aw_promise_rejected(L, aw_err("Error", "lonely"));
  start_m_chain(L, 3);
  aw_set_timeout(L, 0, cb_log, "timeout");
  run_ok(L); /* a hook means no exception, in throw mode too */
  assert_log("m1 m2 m3 unhandled:lonely timeout");
  assert_int_equal(g_hook_wrong, 0);
  aw_release(g_rejected);
  unit_finish(L);
}

static void cb_late_catch(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  ulog("t1");
  then_drop(g_rejected, NULL, h_log, "caught");
  ulog("t1-end");
}

/* 058 */
static void test_rejection_handled_hook_runs_after_a_late_handler(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_hook_wrong = 0;
  aw_loop_on_unhandled_rejection(L, hook_unhandled, &g_rejected);
  aw_loop_on_rejection_handled(L, hook_handled, &g_rejected);
  g_rejected = aw_promise_rejected(L, aw_err("Error", "boom"));
  start_m_chain(L, 2);
  aw_set_timeout(L, 0, cb_late_catch, NULL);
  aw_set_timeout(L, 5, cb_log, "t2");
  run_ok(L);
  assert_log("m1 m2 unhandled:boom t1 t1-end caught:Error: boom rejectionHandled t2");
  assert_int_equal(g_hook_wrong, 0);
  aw_release(g_rejected);
  unit_finish(L);
}

static aw_val h_attach_catch(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  (void)arg;
  ulog("m3-attaches");
  then_drop(g_rejected, NULL, h_log, "caught");
  return aw_undefined();
}

/* 059 */
static void test_rejection_handled_within_the_same_drain_is_never_reported(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on_unhandled_rejection(L, hook_unhandled, NULL);
  aw_loop_on_rejection_handled(L, hook_handled, NULL);
  g_rejected = aw_promise_rejected(L, aw_err("Error", "handled at tick 3"));
  aw_promise *never = aw_promise_rejected(L, aw_err("Error", "never handled"));
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  aw_promise *m1 = aw_promise_then(p, h_mark, NULL, "m1");
  aw_promise *m2 = aw_promise_then(m1, h_mark, NULL, "m2");
  then_drop(m2, h_attach_catch, NULL, NULL);
  aw_set_timeout(L, 0, cb_log, "timeout");
  run_ok(L);
  assert_log("m1 m2 m3-attaches caught:Error: handled at tick 3 unhandled:never handled timeout");
  aw_release(g_rejected);
  aw_release(never);
  aw_release(p);
  aw_release(m1);
  aw_release(m2);
  unit_finish(L);
}

typedef struct plain_frame {
  aw_frame frame;
} plain_frame;
static void fails_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null());
  AW_THROW(aw_err("Error", "async fail"));
  AW_END;
}

/* 060: then() marks its source handled; the rejected end of a chain is what is reported. */
static void test_unhandled_end_of_a_chain_and_async_throws_are_reported(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on_unhandled_rejection(L, hook_unhandled, NULL);
  AW_ASYNC_NEW(L, plain_frame, fails_body, f);
  aw_promise *fails = aw_async_start(&f->frame);
  aw_promise *src = aw_promise_rejected(L, aw_err("Error", "src"));
  aw_promise *d1 = aw_promise_then(src, h_never, NULL, NULL);
  aw_promise *d2 = aw_promise_then(src, h_never, NULL, NULL);
  aw_promise *d3 = aw_promise_catch(d2, h_log, "caught");
  aw_set_timeout(L, 0, cb_log, "timeout");
  run_ok(L);
  assert_log("caught:Error: src unhandled:async fail unhandled:src timeout");
  aw_promise *all[] = {fails, src, d1, d2, d3};
  for (int i = 0; i < 5; i++)
    aw_release(all[i]);
  unit_finish(L);
}

static void hook_unhandled_queues(aw_loop *L, aw_val reason, aw_promise *p, void *arg) {
  hook_unhandled(L, reason, p, arg);
  aw_queue_microtask(L, cb_log, "from-hook");
}

static void test_work_queued_by_a_hook_runs_before_the_next_macrotask(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on_unhandled_rejection(L, hook_unhandled_queues, NULL);
  aw_promise *p = aw_promise_rejected(L, aw_err("Error", "r"));
  aw_set_timeout(L, 0, cb_log, "timeout");
  run_ok(L);
  assert_log("unhandled:r from-hook timeout");
  aw_release(p);
  unit_finish(L);
}

static void test_uncaught_hook_receives_unhandled_rejections_in_throw_mode(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on_uncaught_exception(L, hook_uncaught, NULL);
  aw_promise *p = aw_promise_rejected(L, aw_err("Error", "lonely"));
  aw_set_timeout(L, 0, cb_log, "timeout");
  run_ok(L);
  assert_log("uncaught:Error: lonely timeout");
  assert_true(aw_is_undefined(aw_loop_exception(L)));
  aw_release(p);
  unit_finish(L);
}

static void test_unhandled_hook_takes_precedence_over_the_uncaught_hook(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on_uncaught_exception(L, hook_uncaught, NULL);
  aw_loop_on_unhandled_rejection(L, hook_unhandled, NULL);
  aw_promise *p = aw_promise_rejected(L, aw_err("Error", "lonely"));
  run_ok(L);
  assert_log("unhandled:lonely");
  aw_release(p);
  unit_finish(L);
}

static void test_hook_set_to_null_is_removed(void **state) {
  (void)state;
  aw_loop *L = unit_loop_cfg(AW_REJECTIONS_NONE);
  aw_loop_on_unhandled_rejection(L, hook_unhandled, NULL);
  aw_loop_on_unhandled_rejection(L, NULL, NULL);
  aw_promise *p = aw_promise_rejected(L, aw_err("Error", "nobody hears"));
  run_ok(L);
  assert_log("");
  aw_release(p);
  unit_finish(L);
}

/* ---- uncaught exceptions ------------------------------------------------------------- */

static aw_val g_uncaught_err;
static void cb_throws(aw_loop *L, void *label) {
  ulog("%s", (const char *)label);
  aw_uncaught(L, aw_retain_val(g_uncaught_err));
}

static void test_uncaught_exception_without_hook_stops_run(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_uncaught_err = aw_err("Error", "boom");
  aw_set_timeout(L, 2, cb_throws, "throws");
  aw_timer later = aw_set_timeout(L, 2, cb_log, "later"); /* same list, same phase */
  char *out;
  assert_int_equal(run_capturing(L, &out), AW_EUNCAUGHT);
  assert_non_null(strstr(out, "boom"));
  free(out);
  assert_log("throws");
  assert_ptr_equal(aw_loop_exception(L).u.o, g_uncaught_err.u.o);
  aw_clear_timer(L, later);
  aw_release_val(g_uncaught_err);
  unit_finish(L); /* the loop releases the exception it kept */
}

static void test_uncaught_exception_with_hook_goes_on(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on_uncaught_exception(L, hook_uncaught, NULL);
  g_uncaught_err = aw_err("Error", "boom");
  aw_set_timeout(L, 2, cb_throws, "throws");
  aw_set_timeout(L, 2, cb_log, "later");
  run_ok(L);
  assert_log("throws uncaught:Error: boom later");
  aw_release_val(g_uncaught_err);
  unit_finish(L);
}

static void cb_micro_throws(aw_loop *L, void *arg) {
  (void)arg;
  aw_uncaught(L, aw_err("Error", "from a microtask"));
}

static void test_uncaught_exception_in_a_microtask_stops_run(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_queue_microtask(L, cb_micro_throws, NULL);
  aw_set_immediate(L, cb_log, "immediate");
  char *out;
  assert_int_equal(run_capturing(L, &out), AW_EUNCAUGHT);
  free(out);
  assert_error(aw_loop_exception(L), "Error", "from a microtask");
  assert_log("");
  unit_free(L); /* the immediate is dropped unrun */
}

/* ---- freeing ---------------------------------------------------------------------------- */

static void test_loop_free_drops_queued_work_without_running_it(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_set_timeout(L, 1, cb_log, "timer");
  aw_set_interval(L, 1, cb_log, "interval");
  aw_set_immediate(L, cb_log, "immediate");
  aw_queue_microtask(L, cb_log, "micro");
  aw_next_tick(L, cb_log, "tick");
  aw_loop_post(L, cb_log, "post");
  aw_promise *p = aw_promise_resolved(L, aw_string("v"));
  then_drop(p, h_log, NULL, "then");
  aw_promise *q = aw_promise_new(L);
  then_drop(q, h_log, NULL, "pending");
  aw_release(q);
  aw_release(p);
  unit_free(L);
  assert_log("");
}

/*
 * Cycles among promises (difftest): refcounts never free them, so aw_loop_free
 * must release what the promises nobody outside holds hold (aw__loop_teardown).
 * Each test first shows the cycle alive after the caller let everything go.
 */
static aw_val call_null(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  return aw_null();
}

static void test_loop_free_frees_a_promise_rejected_with_itself(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_resolver *r;
  aw_promise *p = aw_promise_with_resolvers(L, &r);
  assert_int_equal(aw_resolver_reject(r, aw_obj_val(aw_retain(p))), 0);
  aw_promise *c = aw_promise_catch(p, h_log, "caught");
  aw_release(c);
  aw_release(r);
  aw_release(p);
  run_ok(L);
  assert_log("caught:[object Promise]");
  assert_int_equal(unit_stats(L).promises, 1); /* p holds p */
  unit_free(L);
}

static void test_loop_free_frees_promises_resolved_with_each_other(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *a = aw_promise_new(L), *b = aw_promise_new(L);
  assert_int_equal(aw_promise_resolve(a, aw_obj_val(aw_retain(b))), 0);
  assert_int_equal(aw_promise_resolve(b, aw_obj_val(aw_retain(a))), 0);
  then_drop(a, h_never, h_never, "a");
  aw_release(a);
  aw_release(b);
  run_ok(
      L); /* each follows the other: both pending for ever, each one's reaction holds the other */
  assert_log("");
  assert_int_equal(unit_stats(L).promises, 3);
  unit_free(L);
}

/* Cycles through what the library can see into: an error's cause, an array, a combinator's
 * state, a finally's box; next to a frame awaiting one of them. */
typedef struct cyc_frame {
  aw_frame frame;
  aw_promise *wait;
} cyc_frame;

static void cyc_body(aw_loop *L, aw_frame *self) {
  cyc_frame *f = (cyc_frame *)self;
  AW_BEGIN(self);
  aw_promise *w = f->wait;
  f->wait = NULL;
  AW_AWAIT_IGNORE(w);
  ulog("NEVER(frame)");
  AW_END;
}

static void
test_loop_free_frees_cycles_through_errors_arrays_combinators_and_finally(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  /* e rejected with an error whose cause is e, handled */
  aw_promise *e = aw_promise_new(L);
  aw_error *err = aw_error_new("Error", "cycle");
  err->cause = aw_obj_val(aw_retain(e));
  assert_int_equal(aw_promise_reject(e, aw_obj_val(err)), 0);
  then_drop(e, NULL, h_log, "e");
  /* y fulfilled with an array holding y */
  aw_promise *y = aw_promise_new(L);
  aw_array *arr = aw_array_new(1);
  assert_int_equal(aw_array_push(arr, aw_obj_val(aw_retain(y))), 0);
  assert_int_equal(aw_promise_resolve(y, aw_obj_val(arr)), 0);
  /* x follows all([x]): x's element reaction holds the state, which holds the result, whose
   * reaction (x adopting it) holds x */
  aw_promise *x = aw_promise_new(L);
  aw_val in[1] = {aw_obj_val(aw_retain(x))};
  aw_promise *all = aw_promise_all(L, 1, in);
  assert_int_equal(aw_promise_resolve(x, aw_obj_val(all)), 0);
  /* a finally whose box keeps a reason that holds the finally's own promise */
  aw_promise *s = aw_promise_new(L);
  aw_promise *fin = aw_promise_finally(s, call_null, NULL);
  aw_promise *fin_caught = aw_promise_catch(fin, h_log, "fin");
  aw_error *ferr = aw_error_new("Error", "finally");
  ferr->cause = aw_obj_val(fin);
  assert_int_equal(aw_promise_reject(s, aw_obj_val(ferr)), 0);
  /* a frame awaiting x */
  AW_ASYNC_NEW(L, cyc_frame, cyc_body, f);
  f->wait = aw_retain(x);
  aw_release(aw_async_start(&f->frame));
  aw_release(fin_caught);
  aw_release(s);
  aw_release(x);
  aw_release(y);
  aw_release(e);
  run_ok(L);
  assert_log("e:Error: cycle fin:Error: finally");
  assert_true(unit_stats(L).promises > 0);
  assert_int_equal(unit_stats(L).frames, 1);
  unit_free(L);
}

/*
 * A cycle closed by a combinator's slot: allSettled([i, j]) keeps i's value, an array holding
 * j, in its state, and j (pending for ever) holds the state by its element reaction. i is
 * gone by then: only the combinator, listed when its slot took the array, leads to the cycle.
 */
static void test_loop_free_frees_a_cycle_through_a_combinator_slot(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *i = aw_promise_new(L), *j = aw_promise_new(L);
  aw_val in[2] = {aw_obj_val(aw_retain(i)), aw_obj_val(aw_retain(j))};
  aw_promise *c = aw_promise_all_settled(L, 2, in);
  aw_array *arr = aw_array_new(1);
  assert_int_equal(aw_array_push(arr, aw_obj_val(j)), 0); /* the array takes the test's j */
  assert_int_equal(aw_promise_resolve(i, aw_obj_val(arr)), 0);
  aw_release(i);
  aw_release(c);
  run_ok(L);
  assert_int_equal(unit_stats(L).promises, 2); /* j and the combinator; i went */
  unit_free(L);
}

/* A value whose arrays share arrays (64^6 paths) is looked at in bounded work when it settles. */
static void test_settling_with_arrays_sharing_arrays_is_bounded(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_val v = aw_int(1);
  for (int level = 0; level < 6; level++) {
    aw_array *a = aw_array_new(64);
    assert_non_null(a);
    for (int k = 0; k < 64; k++)
      assert_int_equal(aw_array_push(a, aw_retain_val(v)), 0);
    aw_release_val(v);
    v = aw_obj_val(a);
  }
  aw_promise *p = aw_promise_resolved(L, v);
  assert_int_equal(aw_promise_state(p), AW_FULFILLED);
  aw_release(p);
  run_ok(L);
  unit_finish(L);
}

/* What the caller holds at aw_loop_free keeps its results, and all they reach. */
static void test_loop_free_keeps_what_held_promises_reach(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *k = aw_promise_resolved(L, aw_string("v"));
  aw_array *arr = aw_array_new(1);
  assert_int_equal(aw_array_push(arr, aw_obj_val(k)), 0);
  aw_promise *h = aw_promise_resolved(L, aw_obj_val(arr));
  aw_promise *pending = aw_promise_new(L);
  aw_promise *derived = aw_promise_then(pending, h_never, h_never, "derived");
  aw_release(pending); /* held by nothing: its reaction goes, derived stays pending */
  run_ok(L);
  assert_int_equal(aw_loop_free(L), 0);
  assert_int_equal(aw_promise_state(h), AW_FULFILLED);
  aw_val v = aw_promise_result(h);
  assert_true(aw_is_type(v, AW_T_ARRAY));
  aw_array *got = (aw_array *)v.u.o;
  assert_int_equal(got->len, 1);
  aw_promise *k2 = (aw_promise *)got->items[0].u.o;
  assert_int_equal(aw_promise_state(k2), AW_FULFILLED);
  assert_string_equal(aw_cstr(aw_promise_result(k2)), "v");
  assert_int_equal(aw_promise_state(derived), AW_PENDING);
  aw_release(derived);
  aw_release(h);
  assert_log("");
  assert_no_objects();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      UNIT_TEST(test_run_with_nothing_to_do_returns_zero),
      UNIT_TEST(test_run_first_drains_what_the_caller_queued),
      UNIT_TEST(test_loop_new_failure_returns_null_and_an_error_naming_the_cause),
      UNIT_TEST(test_loop_time_never_goes_backwards),
      UNIT_TEST(test_next_ticks_run_before_promise_jobs),
      UNIT_TEST(test_next_tick_queued_by_a_microtask_waits_for_the_microtasks),
      UNIT_TEST(test_checkpoint_after_every_immediate_drains_everything),
      UNIT_TEST(test_checkpoint_after_every_posted_task),
      UNIT_TEST(test_immediate_queued_in_the_check_phase_runs_next_iteration),
      UNIT_TEST(test_immediates_chain_across_iterations_in_order),
      UNIT_TEST(test_phases_run_timers_then_posts_then_immediates),
      UNIT_TEST(test_immediate_before_timeout_when_scheduled_from_io),
      UNIT_TEST(test_run_once_without_wait_returns_when_nothing_is_runnable),
      UNIT_TEST(test_run_once_with_wait_sleeps_until_a_timer_is_due),
      UNIT_TEST(test_run_once_with_wait_wakes_for_a_post_from_another_thread),
      UNIT_TEST(test_loop_ref_keeps_run_going_until_unref),
      UNIT_TEST(test_unref_below_zero_is_ignored),
      UNIT_TEST(test_stop_makes_run_return_one_and_run_resumes),
      UNIT_TEST(test_cleared_immediate_never_runs),
      UNIT_TEST(test_immediate_cleared_by_an_earlier_one_of_the_phase_never_runs),
      UNIT_TEST(test_clearing_a_run_immediate_id_is_harmless),
      UNIT_TEST(test_posts_from_eight_threads_each_run_exactly_once),
      UNIT_TEST(test_stats_count_macrotasks_and_microtasks),
      UNIT_TEST(test_unhandled_rejection_in_throw_mode_stops_run),
      UNIT_TEST(test_unhandled_rejection_in_warn_mode_prints_and_goes_on),
      UNIT_TEST(test_unhandled_rejection_in_none_mode_is_silent),
      UNIT_TEST(test_unhandled_hook_runs_once_after_the_microtasks),
      UNIT_TEST(test_rejection_handled_hook_runs_after_a_late_handler),
      UNIT_TEST(test_rejection_handled_within_the_same_drain_is_never_reported),
      UNIT_TEST(test_unhandled_end_of_a_chain_and_async_throws_are_reported),
      UNIT_TEST(test_work_queued_by_a_hook_runs_before_the_next_macrotask),
      UNIT_TEST(test_uncaught_hook_receives_unhandled_rejections_in_throw_mode),
      UNIT_TEST(test_unhandled_hook_takes_precedence_over_the_uncaught_hook),
      UNIT_TEST(test_hook_set_to_null_is_removed),
      UNIT_TEST(test_uncaught_exception_without_hook_stops_run),
      UNIT_TEST(test_uncaught_exception_with_hook_goes_on),
      UNIT_TEST(test_uncaught_exception_in_a_microtask_stops_run),
      UNIT_TEST(test_loop_free_drops_queued_work_without_running_it),
      UNIT_TEST(test_loop_free_frees_a_promise_rejected_with_itself),
      UNIT_TEST(test_loop_free_frees_promises_resolved_with_each_other),
      UNIT_TEST(test_loop_free_frees_cycles_through_errors_arrays_combinators_and_finally),
      UNIT_TEST(test_loop_free_frees_a_cycle_through_a_combinator_slot),
      UNIT_TEST(test_settling_with_arrays_sharing_arrays_is_bounded),
      UNIT_TEST(test_loop_free_keeps_what_held_promises_reach),
  };
  return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
