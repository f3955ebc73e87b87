/*
 * tests/unit/unit.h — what the cmocka unit suites share.
 *
 * Every suite includes this header once (each suite is its own executable).
 *
 *  - An order log: callbacks append words with ulog()/ulogv(), and a test
 *    compares the whole log with one string, so a test states the exact order
 *    of everything observable ("t1 a:1 t2 b:2").
 *  - Loop helpers: unit_loop() makes a loop; unit_finish() asserts that no
 *    promise, frame, timer or immediate is left, frees the loop and asserts
 *    that no object made by this thread is alive.
 *  - ticks(L, n): Promise.resolve().then(() => log('t1')).then(...) ... 't<n>',
 *    the yardstick the conformance corpus uses to count microtask ticks.
 *  - thenables: user objects whose class has a `then` (a foreign thenable).
 *
 * Callbacks never assert: a failed cmocka assertion longjmps out of the test,
 * and doing that from inside aw_loop_run would leave the loop marked running.
 * They record what they saw; the test asserts after the loop returns.
 *
 * Leak accounting: unit_setup records aw_objects_alive() when a test starts
 * (0, unless an earlier test failed half-way and left objects behind) and
 * unit_finish asserts the count is back to it, so one failure does not make
 * every later test in the suite fail too.
 */
#ifndef UNIT_H
#define UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aw.h"

#define UNUSED __attribute__((unused))

/* ---- the order log ---------------------------------------------------------- */

static char ulog_buf[1 << 16];
static size_t ulog_len;

static inline void ulog_reset(void) {
  ulog_len = 0;
  ulog_buf[0] = 0;
}

static inline __attribute__((format(printf, 1, 2))) void ulog(const char *fmt, ...) {
  if (ulog_len && ulog_len < sizeof ulog_buf - 1)
    ulog_buf[ulog_len++] = ' ';
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(ulog_buf + ulog_len, sizeof ulog_buf - ulog_len, fmt, ap);
  va_end(ap);
  if (n > 0)
    ulog_len += (size_t)n < sizeof ulog_buf - ulog_len ? (size_t)n : sizeof ulog_buf - ulog_len - 1;
}

/* Logs "label:String(v)". */
static inline void ulogv(const char *label, aw_val v) {
  aw_str *s = aw_to_string(v);
  ulog("%s:%s", label, s ? s->data : "[too long]"); /* NULL only past AW_STR_MAX */
  aw_release(s);
}

#define assert_log(expected) assert_string_equal(ulog_buf, (expected))

/* ---- handlers used everywhere ------------------------------------------------------- */

/* Logs "label:String(v)" (label is the arg) and returns undefined. */
static UNUSED aw_val h_log(aw_loop *L, aw_val v, void *label) {
  (void)L;
  ulogv(label, v);
  return aw_undefined();
}

/* Logs the label only. */
static UNUSED aw_val h_mark(aw_loop *L, aw_val v, void *label) {
  (void)L;
  (void)v;
  ulog("%s", (const char *)label);
  return aw_undefined();
}

/* Logs "label:String(v)" and returns v (a new reference), so chains carry values on. */
static UNUSED aw_val h_log_pass(aw_loop *L, aw_val v, void *label) {
  (void)L;
  ulogv(label, v);
  return aw_retain_val(v);
}

/* Logs "label:String(v)" and rethrows v. */
static UNUSED aw_val h_log_rethrow(aw_loop *L, aw_val v, void *label) {
  (void)L;
  ulogv(label, v);
  return aw_throw(aw_retain_val(v));
}

/* A handler that must never run: logs "NEVER(label)". */
static UNUSED aw_val h_never(aw_loop *L, aw_val v, void *label) {
  (void)L;
  ulogv("NEVER", v);
  ulog("(%s)", label ? (const char *)label : "?");
  return aw_undefined();
}

/* then() whose result the test does not keep. */
static inline void then_drop(aw_promise *p, aw_then_fn onf, aw_then_fn onr, void *arg) {
  aw_promise *q = aw_promise_then(p, onf, onr, arg);
  assert_non_null(q);
  aw_release(q);
}

/* ---- ticks(n) ------------------------------------------------------------------------- */

static UNUSED aw_val h_tick(aw_loop *L, aw_val v, void *i) {
  (void)L;
  (void)v;
  ulog("t%d", (int)(intptr_t)i);
  return aw_undefined();
}

/* let p = Promise.resolve(); for (i = 1..n) p = p.then(() => log('t' + i)); */
static inline void ticks(aw_loop *L, int n) {
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  assert_non_null(p);
  for (int i = 1; i <= n; i++) {
    aw_promise *q = aw_promise_then(p, h_tick, NULL, (void *)(intptr_t)i);
    assert_non_null(q);
    aw_release(p);
    p = q;
  }
  aw_release(p);
}

/* ---- thenables --------------------------------------------------------------------- */

typedef aw_val (*thenable_fn)(aw_loop *L, aw_resolver *r, void *arg);

typedef struct thenable_data {
  thenable_fn fn;
  void *arg;
  int calls;
} thenable_data;

static aw_val thenable_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  thenable_data *d = aw_object_data(self);
  d->calls++;
  return d->fn(L, r, d->arg);
}

static UNUSED const aw_class thenable_class = {"Thenable", NULL, thenable_then};

/* A new thenable (one reference, yours) whose then calls fn(L, resolver, arg). */
static inline aw_obj *thenable_new(thenable_fn fn, void *arg) {
  aw_obj *o = aw_object_new(&thenable_class, sizeof(thenable_data));
  thenable_data *d = aw_object_data(o);
  d->fn = fn;
  d->arg = arg;
  return o;
}

static inline int thenable_calls(aw_obj *o) { return ((thenable_data *)aw_object_data(o))->calls; }

/* ---- loops ------------------------------------------------------------------------------ */

static int64_t unit_base;

static UNUSED int unit_setup(void **state) {
  (void)state;
  ulog_reset();
  unit_base = aw_objects_alive();
  return 0;
}

#define UNIT_TEST(f) cmocka_unit_test_setup(f, unit_setup)

static inline aw_loop *unit_loop_cfg(enum aw_rejection_mode mode) {
  aw_loop_config cfg = {.rejections = mode};
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(&cfg, &err);
  assert_non_null(L);
  assert_true(aw_is_undefined(err));
  return L;
}

/* A loop with the default configuration (unhandled rejections throw). */
static inline aw_loop *unit_loop(void) {
  aw_loop *L = aw_loop_new(NULL, NULL);
  assert_non_null(L);
  return L;
}

static inline aw_loop_stats unit_stats(aw_loop *L) {
  aw_loop_stats s;
  memset(&s, 0xff, sizeof s);
  aw_loop_stats_get(L, &s);
  return s;
}

/* No promise, frame, timer or immediate of L is left. */
static inline void assert_loop_empty(aw_loop *L) {
  aw_loop_stats s = unit_stats(L);
  assert_int_equal(s.promises, 0);
  assert_int_equal(s.frames, 0);
  assert_int_equal(s.timers, 0);
  assert_int_equal(s.immediates, 0);
}

/* Nothing this thread made is alive (see "Leak accounting" above). */
static inline void assert_no_objects(void) { assert_int_equal(aw_objects_alive(), unit_base); }

/* Frees L and asserts that nothing is left alive. */
static inline void unit_free(aw_loop *L) {
  assert_int_equal(aw_loop_free(L), 0);
  assert_no_objects();
}

/* The usual end of a test: the loop is empty, then it is freed, then nothing is alive. */
static inline void unit_finish(aw_loop *L) {
  assert_loop_empty(L);
  unit_free(L);
}

/* Runs L to completion and asserts it ended normally (nothing left keeping it alive). */
static inline void run_ok(aw_loop *L) { assert_int_equal(aw_loop_run(L), 0); }

/* ---- small value helpers ------------------------------------------------------------------ */

/* String(v) compared with a C string. */
static inline void assert_str_of(aw_val v, const char *expected) {
  aw_str *s = aw_to_string(v);
  assert_non_null(s);
  char copy[512];
  snprintf(copy, sizeof copy, "%s", s->data);
  aw_release(s);
  assert_string_equal(copy, expected);
}

/* The message of an error value (thrown or not), compared with a C string. */
#define assert_error(v, ename, emsg)                                                               \
  do {                                                                                             \
    aw_error *e_ = aw_as_error(v);                                                                 \
    assert_non_null(e_);                                                                           \
    assert_string_equal(e_->name, (ename));                                                        \
    assert_string_equal(e_->message->data, (emsg));                                                \
  } while (0)

/*
 * Runs fn with stderr redirected to a temporary file; returns what was written
 * (malloc'd, NUL-terminated). For the paths that report on stderr by design.
 */
static UNUSED char *capture_stderr(void (*fn)(void *), void *arg) {
  fflush(stderr);
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  int saved = dup(2);
  assert_true(saved >= 0);
  assert_true(dup2(fileno(tmp), 2) >= 0);
  fn(arg);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  long n = ftell(tmp);
  if (n < 0)
    n = 0;
  rewind(tmp);
  char *out = malloc((size_t)n + 1);
  assert_non_null(out);
  size_t got = fread(out, 1, (size_t)n, tmp);
  out[got] = 0;
  fclose(tmp);
  return out;
}

#endif
