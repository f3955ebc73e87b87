/*
 * tests/workers/workers.h — what the workers suites share.
 *
 * Every suite includes this header once (each suite is its own executable).
 *
 * The rules the suites follow (as tests/unit does):
 *
 *  - Callbacks never assert: a failed cmocka assertion longjmps, and doing
 *    that from inside aw_loop_run (or from a pool thread) would leave the
 *    loop marked running or kill the wrong thread. Callbacks and jobs record
 *    what they saw (the order log, counters); the test asserts once
 *    aw_loop_run has returned and the threads it started were joined.
 *  - Nothing is asserted about wall-clock time. Where a test needs "the job
 *    is still running when X happens", the job waits on a gate that the
 *    loop opens after X, so the order is forced and a broken library shows
 *    up as a wrong order (or, at worst, a gate that gives up after
 *    WK_SAFETY_MS, which is also a wrong order), never as a flaky timing.
 *  - Leak accounting: wk_setup records aw_objects_alive() when a test
 *    starts; wk_finish frees the loop and asserts the count is back to it.
 *    Each test makes its own pool and frees it (after its loops).
 */
#ifndef WORKERS_H
#define WORKERS_H

#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aw.h"

#define UNUSED __attribute__((unused))

/* How long a gate or a poll waits before giving up (a liveness bound, not a measurement). */
#define WK_SAFETY_MS 60000

#if defined(__SANITIZE_THREAD__)
#define WK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WK_TSAN 1
#endif
#endif
#ifndef WK_TSAN
#define WK_TSAN 0
#endif

/* ---- the order log (loop thread only) ------------------------------------------------------- */

static char wlog_buf[1 << 16];
static size_t wlog_len;

static inline void wlog_reset(void) {
  wlog_len = 0;
  wlog_buf[0] = 0;
}

static inline __attribute__((format(printf, 1, 2))) void wlog(const char *fmt, ...) {
  if (wlog_len && wlog_len < sizeof wlog_buf - 1)
    wlog_buf[wlog_len++] = ' ';
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(wlog_buf + wlog_len, sizeof wlog_buf - wlog_len, fmt, ap);
  va_end(ap);
  if (n > 0)
    wlog_len += (size_t)n < sizeof wlog_buf - wlog_len ? (size_t)n : sizeof wlog_buf - wlog_len - 1;
}

#define assert_log(expected) assert_string_equal(wlog_buf, (expected))

/* ---- time, for bounds only ------------------------------------------------------------------- */

static inline uint64_t wk_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void wk_nap_us(unsigned us) {
  struct timespec ts = {0, (long)us * 1000};
  nanosleep(&ts, NULL);
}

/* ---- gates: a job waits until the loop (or the test) opens it ---------------------------------
 */

typedef struct gate {
  _Atomic int open;
} gate;

static inline void gate_open(gate *g) { atomic_store(&g->open, 1); }
static inline bool gate_is_open(gate *g) { return atomic_load(&g->open) != 0; }

/* Sleeps in short naps until g opens; false if it gave up after WK_SAFETY_MS. */
static inline bool gate_wait(gate *g) {
  uint64_t until = wk_now_ms() + WK_SAFETY_MS;
  while (!gate_is_open(g)) {
    if (wk_now_ms() > until)
      return false;
    wk_nap_us(200);
  }
  return true;
}

/* Waits (bounded) until *v reaches at least want; false if it gave up. */
static inline bool wait_atleast(_Atomic int *v, int want) {
  uint64_t until = wk_now_ms() + WK_SAFETY_MS;
  while (atomic_load(v) < want) {
    if (wk_now_ms() > until)
      return false;
    wk_nap_us(200);
  }
  return true;
}

/* ---- outcomes: what a promise settled with, recorded by its handlers ---------------------------
 */

typedef struct outcome {
  int settled;   /* how many times a handler ran (must end at 1) */
  bool rejected; /* which one */
  aw_val v;      /* a reference to the value or reason; outcome_clear releases it */
  uint64_t seq;  /* the order in which outcomes arrived (1, 2, ...) */
} outcome;

static uint64_t outcome_seq;

static UNUSED aw_val on_ok(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  outcome *o = arg;
  if (o->settled++ == 0) {
    o->v = aw_retain_val(v);
    o->seq = ++outcome_seq;
  }
  return aw_undefined();
}

static UNUSED aw_val on_err(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  outcome *o = arg;
  if (o->settled++ == 0) {
    o->rejected = true;
    o->v = aw_retain_val(v);
    o->seq = ++outcome_seq;
  }
  return aw_undefined();
}

/* Records p's outcome in *o when it settles; consumes p (NULL counts as a failure to make it). */
static inline void track(aw_promise *p, outcome *o) {
  assert_non_null(p);
  aw_promise *q = aw_promise_then(p, on_ok, on_err, o);
  assert_non_null(q);
  aw_release(q);
  aw_release(p);
}

static inline void outcome_clear(outcome *o) {
  aw_release_val(o->v);
  memset(o, 0, sizeof *o);
}

/* The error's message, or "" if v is not an error (for recording, never NULL). */
static inline const char *err_msg(aw_val v) {
  aw_error *e = aw_as_error(v);
  return e && e->message ? e->message->data : "";
}
static inline const char *err_name(aw_val v) {
  aw_error *e = aw_as_error(v);
  return e && e->name ? e->name : "";
}

/* track() for callbacks, which must not assert: a NULL promise makes o fail its check later. */
static inline void track_cb(aw_promise *p, outcome *o) {
  if (!p) {
    o->settled = -1000;
    return;
  }
  aw_promise *q = aw_promise_then(p, on_ok, on_err, o);
  if (!q)
    o->settled = -1000;
  aw_release(q);
  aw_release(p);
}

/* Logs "label:String(v)". */
static UNUSED aw_val h_log(aw_loop *L, aw_val v, void *label) {
  (void)L;
  aw_str *s = aw_to_string(v);
  wlog("%s:%s", (const char *)label, s->data);
  aw_release(s);
  return aw_undefined();
}

/* Logs "label!ErrorName:message". */
static UNUSED aw_val h_log_err(aw_loop *L, aw_val v, void *label) {
  (void)L;
  wlog("%s!%s:%s", (const char *)label, err_name(v), err_msg(v));
  return aw_undefined();
}

/* p.then(h_log, h_log_err) with that label; consumes p (a NULL p logs "label!NULL"). */
static inline void log_outcome(aw_promise *p, const char *label) {
  if (!p) {
    wlog("%s!NULL", label);
    return;
  }
  aw_release(aw_promise_then(p, h_log, h_log_err, (void *)label));
  aw_release(p);
}

/* p.then(onf, onr, arg), keeping neither promise; consumes p (NULL: nothing, for callbacks). */
static inline void then_drop(aw_promise *p, aw_then_fn onf, aw_then_fn onr, void *arg) {
  if (!p)
    return;
  aw_release(aw_promise_then(p, onf, onr, arg));
  aw_release(p);
}

/* Asserts that o settled once, fulfilled with the integer want. */
static inline void assert_fulfilled_int(const outcome *o, int64_t want) {
  assert_int_equal(o->settled, 1);
  assert_false(o->rejected);
  assert_int_equal(aw_tag_of(o->v), AW_TAG_INT);
  assert_int_equal(o->v.u.i, want);
}

/* Asserts that o settled once, rejected with an error of that name and message. */
static inline void assert_rejected(const outcome *o, const char *name, const char *msg) {
  assert_int_equal(o->settled, 1);
  assert_true(o->rejected);
  assert_string_equal(err_name(o->v), name);
  if (msg)
    assert_string_equal(err_msg(o->v), msg);
}

/* ---- loops and pools --------------------------------------------------------------------------
 */

static int64_t wk_base;

static UNUSED int wk_setup(void **state) {
  (void)state;
  wlog_reset();
  outcome_seq = 0;
  wk_base = aw_objects_alive();
  return 0;
}

#define WK_TEST(f) cmocka_unit_test_setup(f, wk_setup)

/*
 * A loop of this thread that uses pool (the default pool if NULL); a loop
 * without io_uring where the machine cannot give one (the pool does not need it).
 */
static inline aw_loop *wk_loop_try(aw_pool *pool) {
  aw_loop *L = aw_loop_new(NULL, NULL);
  if (!L) {
    aw_loop_config cfg = {.no_io = true};
    L = aw_loop_new(&cfg, NULL);
  }
  if (L && pool && aw_loop_set_pool(L, pool) != 0) {
    aw_loop_free(L);
    return NULL;
  }
  return L;
}

static inline aw_loop *wk_loop(aw_pool *pool) {
  aw_loop *L = wk_loop_try(pool);
  assert_non_null(L);
  return L;
}

static inline aw_pool *wk_pool(unsigned cpu, unsigned blocking) {
  aw_pool_config cfg = {.cpu_threads = cpu, .blocking_threads = blocking};
  aw_pool *P = aw_pool_new(&cfg);
  assert_non_null(P);
  return P;
}

static inline aw_pool_stats wk_pool_stats(aw_pool *P) {
  aw_pool_stats s;
  memset(&s, 0xff, sizeof s);
  aw_pool_stats_get(P, &s);
  return s;
}

static inline aw_loop_stats wk_stats(aw_loop *L) {
  aw_loop_stats s;
  memset(&s, 0xff, sizeof s);
  aw_loop_stats_get(L, &s);
  return s;
}

static inline void run_ok(aw_loop *L) { assert_int_equal(aw_loop_run(L), 0); }

/* No promise, frame, timer or immediate is left; frees L; nothing made by the test is alive. */
static inline void wk_finish(aw_loop *L) {
  aw_loop_stats s = wk_stats(L);
  assert_int_equal(s.promises, 0);
  assert_int_equal(s.frames, 0);
  assert_int_equal(s.timers, 0);
  assert_int_equal(s.immediates, 0);
  assert_int_equal(aw_loop_free(L), 0);
  assert_int_equal(aw_objects_alive(), wk_base);
}

/*
 * A test that pins down a library bug still open: skipped (and named) unless
 * AW_TEST_KNOWN_BUGS=1, so the suite stays green until the fix lands and the
 * test then proves it. Use: if (wk_known_bug("...")) { skip(); return; }
 */
static inline bool wk_known_bug(const char *what) {
  const char *env = getenv("AW_TEST_KNOWN_BUGS");
  if (env && strcmp(env, "1") == 0)
    return false;
  print_message("    skipped, a known library bug: %s (AW_TEST_KNOWN_BUGS=1 runs it)\n", what);
  return true;
}

/* ---- jobs every suite uses ---------------------------------------------------------------------
 */

/* Returns the integer in arg. */
static UNUSED aw_val job_echo(aw_job *job, void *arg) {
  (void)job;
  return aw_int((int64_t)(intptr_t)arg);
}

#endif
