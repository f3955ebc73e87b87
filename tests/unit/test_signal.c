/*
 * tests/unit/test_signal.c — AbortSignal.any (aw_signal_any) and aw_delay.
 *
 * The combined signal must abort with the first source's very reason, be
 * born aborted when a source already is, and leave nothing on its sources
 * once it aborted or was freed. aw_delay is timers/promises' setTimeout: it
 * resolves with undefined, rejects with the signal's reason or a
 * TimeoutError, and a pending one is released unsettled by aw_loop_free.
 */
#include "unit.h"

static aw_val h_reason(aw_loop *L, aw_val v, void *label) {
  (void)L;
  aw_error *e = aw_as_error(v);
  if (e && aw_is_undefined(e->cause)) {
    ulog("%s:%s:%s", (const char *)label, e->name, e->message->data);
  } else if (e) {
    aw_error *c = aw_as_error(e->cause);
    const char *cs = aw_cstr(e->cause);
    ulog("%s:%s:%s:cause %s%s%s", (const char *)label, e->name, e->message->data,
         c    ? c->name
         : cs ? cs
              : "?",
         c ? ":" : "", c ? c->message->data : "");
  } else {
    ulogv(label, v);
  }
  return aw_undefined();
}

static void on_abort_log(aw_loop *L, aw_signal *s, aw_signal_listener *l) {
  (void)L;
  (void)l;
  ulogv("abort", aw_signal_reason(s));
}

static void abort_later(aw_loop *L, void *arg) {
  (void)L;
  aw_signal_abort(arg, aw_string("second"));
}

static void log_timer(aw_loop *L, void *arg) {
  (void)L;
  ulog("%s", (const char *)arg);
}

static void test_any_aborts_with_the_first_sources_reason(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_signal *a = aw_signal_new(L), *b = aw_signal_new(L);
  aw_signal *srcs[] = {a, b};
  aw_signal *any = aw_signal_any(L, srcs, 2);
  assert_non_null(any);
  assert_false(aw_signal_aborted(any));
  aw_signal_listener l = {.fn = on_abort_log};
  assert_int_equal(aw_signal_listen(any, &l), 0);
  assert_int_equal(aw_signal_abort(b, aw_string("first")), 0);
  assert_true(aw_signal_aborted(any));
  /* the very value, not a copy */
  assert_ptr_equal(aw_signal_reason(any).u.p, aw_signal_reason(b).u.p);
  aw_signal_abort(a, aw_string("later")); /* nothing listens to a any more */
  assert_log("abort:first");
  aw_release(a);
  aw_release(b);
  aw_release(any);
  unit_finish(L);
}

static void test_any_of_an_aborted_source_is_born_aborted_with_its_reason(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_signal *a = aw_signal_new(L), *b = aw_signal_new(L), *c = aw_signal_new(L);
  aw_signal_abort(b, aw_string("b"));
  aw_signal_abort(c, aw_string("c"));
  aw_signal *srcs[] = {a, b, c};
  aw_signal *any = aw_signal_any(L, srcs, 3);
  assert_non_null(any);
  assert_true(aw_signal_aborted(any));
  assert_str_of(aw_signal_reason(any), "b");
  aw_signal_listener l = {.fn = on_abort_log};
  assert_int_equal(aw_signal_listen(any, &l), -ECANCELED);
  aw_release(a);
  aw_release(b);
  aw_release(c);
  aw_release(any);
  unit_finish(L);
}

static void test_any_freed_first_leaves_nothing_on_its_sources(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_signal *a = aw_signal_new(L);
  aw_signal *srcs[] = {a, a, a}; /* the same source three times */
  for (int i = 0; i < 100; i++) {
    aw_signal *any = aw_signal_any(L, srcs, 3);
    assert_non_null(any);
    aw_release(any);
  }
  aw_signal_listener l = {.fn = on_abort_log};
  assert_int_equal(aw_signal_listen(a, &l), 0);
  aw_signal_abort(a, aw_string("only me"));
  assert_log("abort:only me");
  aw_release(a);
  unit_finish(L);
}

static void test_any_holds_its_sources_and_can_be_nested(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_signal *a = aw_signal_new(L), *b = aw_signal_new(L);
  aw_signal *srcs[] = {a, b};
  aw_signal *any = aw_signal_any(L, srcs, 2);
  aw_signal *srcs2[] = {any, a}; /* nested, and a shared source */
  aw_signal *outer = aw_signal_any(L, srcs2, 2);
  aw_release(b);
  aw_release(any);
  aw_signal_listener l = {.fn = on_abort_log};
  assert_int_equal(aw_signal_listen(outer, &l), 0);
  aw_signal_abort(a, aw_string("a"));
  assert_log("abort:a");
  aw_release(a);
  aw_release(outer);
  unit_finish(L);
}

static void test_any_of_nothing_never_aborts_and_bad_input_is_null(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop *L2 = unit_loop();
  aw_signal *none = aw_signal_any(L, NULL, 0);
  assert_non_null(none);
  assert_false(aw_signal_aborted(none));
  aw_signal *other = aw_signal_new(L2);
  aw_signal *srcs[] = {none, other};
  assert_null(aw_signal_any(L, srcs, 2)); /* a signal of another loop */
  aw_signal *nul[] = {none, NULL};
  assert_null(aw_signal_any(L, nul, 2));
  assert_null(aw_signal_any(L, NULL, 1));
  assert_null(aw_signal_any(NULL, srcs, 1));
  aw_release(none);
  aw_release(other);
  unit_finish(L2);
  unit_finish(L);
}

/* A shutdown signal and a deadline on one wait: whichever comes first. */
static void test_any_of_a_shutdown_and_a_timeout_aborts_a_delay_at_the_deadline(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_signal *shutdown = aw_signal_new(L);
  aw_signal *deadline = aw_signal_timeout(L, 5);
  aw_signal *srcs[] = {shutdown, deadline};
  aw_signal *any = aw_signal_any(L, srcs, 2);
  aw_release(deadline); /* the combined signal keeps it */
  aw_io_opts o = {.signal = any};
  aw_promise *p = aw_delay(L, 1000000, &o);
  assert_non_null(p);
  aw_release(aw_promise_then(p, h_never, h_reason, "delay"));
  run_ok(L);
  /* as timers/promises: an AbortError caused by the signal's reason */
  assert_log("delay:AbortError:The operation was aborted:cause TimeoutError:The operation was "
             "aborted due to timeout");
  aw_release(p);
  aw_release(any);
  aw_release(shutdown);
  unit_finish(L);
}

static void test_delay_fires_in_timer_order_with_undefined(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_delay(L, 2, NULL);
  aw_release(aw_promise_then(p, h_log, h_never, "delay"));
  aw_set_timeout(L, 2, log_timer, "timer"); /* same duration, made later: runs later */
  run_ok(L);
  assert_log("delay:undefined timer");
  ulog_reset();
  aw_promise *q = aw_delay(L, 0, NULL); /* 0 means 1, as setTimeout */
  aw_release(aw_promise_then(q, h_log, h_never, "zero"));
  run_ok(L);
  assert_log("zero:undefined");
  aw_release(p);
  aw_release(q);
  unit_finish(L);
}

static void test_delay_rejects_with_the_signals_reason_and_frees_its_timer(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s};
  aw_promise *p = aw_delay(L, 1000000, &o); /* would keep the loop alive for 16 minutes */
  aw_release(aw_promise_then(p, h_never, h_reason, "delay"));
  aw_set_timeout(L, 1, abort_later, s);
  run_ok(L);
  assert_log("delay:AbortError:The operation was aborted:cause second");
  aw_release(p);
  aw_release(s);
  unit_finish(L);
}

static void test_delay_with_an_aborted_signal_rejects_at_once(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_signal *s = aw_signal_new(L);
  aw_signal_abort(s, aw_undefined());
  aw_io_opts o = {.signal = s};
  aw_promise *p = aw_delay(L, 1000000, &o);
  assert_int_equal(aw_promise_state(p), AW_REJECTED);
  aw_release(aw_promise_then(p, h_never, h_reason, "delay"));
  run_ok(L);
  assert_log("delay:AbortError:The operation was aborted:cause AbortError:This operation was "
             "aborted");
  aw_release(p);
  aw_release(s);
  unit_finish(L);
}

static void test_delay_timeout_rejects_with_a_timeout_error(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_io_opts o = {.timeout_ms = 2};
  aw_promise *p = aw_delay(L, 1000000, &o);
  aw_release(aw_promise_then(p, h_never, h_reason, "delay"));
  run_ok(L);
  assert_log("delay:TimeoutError:The operation was aborted due to timeout");
  ulog_reset();
  aw_io_opts o2 = {.timeout_ms = 1000000};
  aw_promise *q = aw_delay(L, 1, &o2); /* a deadline that never comes keeps nothing alive */
  aw_release(aw_promise_then(q, h_log, h_never, "short"));
  run_ok(L);
  assert_log("short:undefined");
  aw_release(p);
  aw_release(q);
  unit_finish(L);
}

static void test_delay_pending_at_loop_free_is_released_unsettled(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s, .timeout_ms = 1000000};
  aw_promise *p = aw_delay(L, 1000000, &o);
  aw_promise *q = aw_delay(L, 1000000, NULL);
  aw_release(aw_promise_then(q, h_never, h_never, "q"));
  aw_release(q);
  assert_int_equal(aw_loop_run_once(L, false), 1);
  assert_int_equal(aw_loop_free(L), 0);
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  aw_release(p);
  aw_release(s);
  assert_no_objects();
  assert_log("");
}

static void test_delay_bad_calls(void **state) {
  (void)state;
  assert_null(aw_delay(NULL, 1, NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      UNIT_TEST(test_any_aborts_with_the_first_sources_reason),
      UNIT_TEST(test_any_of_an_aborted_source_is_born_aborted_with_its_reason),
      UNIT_TEST(test_any_freed_first_leaves_nothing_on_its_sources),
      UNIT_TEST(test_any_holds_its_sources_and_can_be_nested),
      UNIT_TEST(test_any_of_nothing_never_aborts_and_bad_input_is_null),
      UNIT_TEST(test_any_of_a_shutdown_and_a_timeout_aborts_a_delay_at_the_deadline),
      UNIT_TEST(test_delay_fires_in_timer_order_with_undefined),
      UNIT_TEST(test_delay_rejects_with_the_signals_reason_and_frees_its_timer),
      UNIT_TEST(test_delay_with_an_aborted_signal_rejects_at_once),
      UNIT_TEST(test_delay_timeout_rejects_with_a_timeout_error),
      UNIT_TEST(test_delay_pending_at_loop_free_is_released_unsettled),
      UNIT_TEST(test_delay_bad_calls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
