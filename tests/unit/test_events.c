/*
 * tests/unit/test_events.c — process events as listener lists (aw_loop_on/off), 'exit' and the
 * exit code, warnings, immediates' ref/unref and timers' refresh/has_ref (issue 14). The orders
 * asserted are Node's (the conformance programs 075-085 are the recorded ones).
 */
#include "unit.h"

AW_FN(log_label) {
  ulog("%s", aw_cstr(cap[0]));
  return aw_undefined();
}
AW_FN(log_arg) {
  aw_str *s = aw_to_string(a);
  ulog("%s:%s", aw_cstr(cap[0]), s->data);
  aw_release(s);
  return aw_undefined();
}
AW_FN(throw_label) {
  ulog("%s", aw_cstr(cap[0]));
  return aw_throw(aw_err("Error", "%s", aw_cstr(cap[0])));
}

static void test_listeners_run_in_order_and_off_takes_the_last_added(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_fn *a = aw_fn(log_label, "a");
  assert_int_equal(aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, aw_retain(a)), 0);
  assert_int_equal(aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, aw_fn(log_label, "b")), 0);
  assert_int_equal(aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, aw_retain(a)), 0);
  assert_int_equal(aw_loop_listener_count(L, AW_EVENT_UNCAUGHT_EXCEPTION), 3);
  aw_uncaught(L, aw_err("Error", "x"));
  assert_int_equal(aw_loop_off(L, AW_EVENT_UNCAUGHT_EXCEPTION, a), 0);
  aw_uncaught(L, aw_err("Error", "y"));
  assert_int_equal(aw_loop_off(L, AW_EVENT_UNCAUGHT_EXCEPTION, a), 0);
  assert_int_equal(aw_loop_off(L, AW_EVENT_UNCAUGHT_EXCEPTION, a), -ENOENT);
  assert_int_equal(aw_loop_listener_count(L, AW_EVENT_UNCAUGHT_EXCEPTION), 1);
  aw_release(a);
  run_ok(L); /* the noop immediates of the handled exceptions */
  assert_log("a b a a b");
  aw_loop_off_all(L, AW_EVENT_UNCAUGHT_EXCEPTION);
  assert_int_equal(aw_loop_listener_count(L, AW_EVENT_UNCAUGHT_EXCEPTION), 0);
  unit_finish(L);
}

static void test_listener_bad_calls_consume_the_function(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  assert_int_equal(aw_loop_on(L, (enum aw_event)99, aw_fn(log_label, "x")), -EINVAL);
  assert_int_equal(aw_loop_on(L, AW_EVENT_EXIT, NULL), -EINVAL);
  assert_int_equal(aw_loop_on(NULL, AW_EVENT_EXIT, aw_fn(log_label, "x")), -EINVAL);
  assert_int_equal(aw_loop_off(L, AW_EVENT_EXIT, NULL), -EINVAL);
  assert_int_equal(aw_loop_listener_count(NULL, AW_EVENT_EXIT), 0);
  aw_loop_off_all(L, (enum aw_event) - 1);
  unit_finish(L);
}

static void hook_c(aw_loop *L, aw_val err, void *arg) {
  (void)L;
  ulog("%s:%s", (const char *)arg, aw_error_message(err));
}

static void test_a_setter_replaces_its_own_listener_in_the_list(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on_uncaught_exception(L, hook_c, "c1");
  assert_int_equal(aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, aw_fn(log_label, "fn")), 0);
  aw_loop_on_uncaught_exception(L, hook_c, "c2"); /* the first goes; this one is last */
  aw_uncaught(L, aw_err("Error", "e"));
  aw_loop_on_uncaught_exception(L, NULL, NULL);
  assert_int_equal(aw_loop_listener_count(L, AW_EVENT_UNCAUGHT_EXCEPTION), 1);
  run_ok(L);
  assert_log("fn c2:e");
  unit_finish(L);
}

static void test_a_throwing_unhandled_rejection_listener_is_an_uncaught_exception(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on(L, AW_EVENT_UNHANDLED_REJECTION, aw_fn(throw_label, "u1"));
  aw_loop_on(L, AW_EVENT_UNHANDLED_REJECTION, aw_fn(log_label, "u2 (not called)"));
  aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, aw_fn(log_arg, "uncaught"));
  aw_release(aw_promise_rejected(L, aw_int(1)));
  run_ok(L);
  assert_log("u1 uncaught:Error: u1");
  unit_finish(L);
}

static void test_exit_runs_once_with_the_code_and_a_throw_in_the_listener_is_code_7(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on(L, AW_EVENT_EXIT, aw_fn(log_arg, "exit"));
  assert_false(aw_loop_exit_code_set(L));
  aw_loop_set_exit_code(L, 4);
  assert_true(aw_loop_exit_code_set(L));
  run_ok(L);
  run_ok(L); /* 'exit' is once in a loop's life */
  assert_log("exit:4");
  assert_int_equal(aw_loop_exit_code(L), 4);
  unit_finish(L);

  ulog_reset();
  L = unit_loop();
  aw_loop_on(L, AW_EVENT_EXIT, aw_fn(log_arg, "exit (not called)"));
  aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, aw_fn(throw_label, "listener"));
  aw_set_timeout_fn(L, 1, aw_fn(throw_label, "timer"));
  assert_int_equal(aw_loop_run(L), AW_EUNCAUGHT);
  assert_log("timer listener");
  assert_int_equal(aw_loop_exit_code(L), 7);
  unit_free(L);
}

static void test_emit_warning_reaches_listeners_in_a_tick_as_an_error(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on(L, AW_EVENT_WARNING, aw_fn(log_arg, "w"));
  aw_loop_emit_warning(L, aw_v("odd"));
  aw_loop_emit_warning(L, aw_err("DeprecationWarning", "old"));
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  aw_release(aw_promise_then_fn(p, aw_fn(log_label, "then"), NULL));
  aw_release(p);
  ulog("sync");
  run_ok(L);
  assert_log("sync w:Warning: odd w:DeprecationWarning: old then");
  unit_finish(L);
}

static void test_immediate_ref_unref_and_bad_ids(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_immediate i = aw_set_immediate_fn(L, aw_fn(log_label, "i"));
  assert_true(aw_immediate_has_ref(L, i));
  aw_immediate_unref(L, i);
  aw_immediate_unref(L, i); /* twice is once */
  assert_false(aw_immediate_has_ref(L, i));
  aw_immediate_ref(L, i);
  assert_true(aw_immediate_has_ref(L, i));
  aw_immediate_unref(L, 0);
  aw_immediate_ref(L, i + (1ull << 32)); /* another generation */
  assert_false(aw_immediate_has_ref(L, 12345));
  aw_immediate j = aw_set_immediate_fn(L, aw_fn(log_label, "j"));
  aw_immediate_unref(L, j);
  run_ok(L); /* i keeps the loop alive for one turn: j runs in it */
  assert_log("i j");
  assert_false(aw_immediate_has_ref(L, i)); /* ran */
  aw_immediate k = aw_set_immediate_fn(L, aw_fn(log_label, "k (never)"));
  aw_immediate_unref(L, k);
  run_ok(L); /* alone, unref'd: the loop does not turn */
  assert_log("i j");
  unit_free(L); /* k's function goes with the loop */
}

AW_FN(refresh_twice) {
  int64_t *n = (int64_t *)cap[0].u.p;
  ulog("t%lld", (long long)++*n);
  if (*n < 2)
    assert_int_equal(aw_timer_refresh(L, (aw_timer)a.u.i), 0);
  return aw_undefined();
}

static void test_timer_refresh_and_has_ref(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  int64_t n = 0;
  aw_timer t = aw_set_timeout_fn(L, 1, aw_fn(refresh_twice, aw_ptr(&n)));
  assert_true(aw_timer_has_ref(L, t));
  aw_timer_unref(L, t);
  assert_false(aw_timer_has_ref(L, t));
  aw_timer_ref(L, t);
  assert_int_equal(aw_timer_refresh(L, t), 0); /* pending: starts again */
  run_ok(L);
  assert_log("t1 t2");
  assert_false(aw_timer_has_ref(L, t));
  assert_int_equal(aw_timer_refresh(L, t), -ENOENT); /* fired for good */
  assert_int_equal(aw_timer_refresh(L, 0), -ENOENT);
  assert_int_equal(aw_timer_refresh(NULL, t), -ENOENT);
  unit_finish(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      UNIT_TEST(test_listeners_run_in_order_and_off_takes_the_last_added),
      UNIT_TEST(test_listener_bad_calls_consume_the_function),
      UNIT_TEST(test_a_setter_replaces_its_own_listener_in_the_list),
      UNIT_TEST(test_a_throwing_unhandled_rejection_listener_is_an_uncaught_exception),
      UNIT_TEST(test_exit_runs_once_with_the_code_and_a_throw_in_the_listener_is_code_7),
      UNIT_TEST(test_emit_warning_reaches_listeners_in_a_tick_as_an_error),
      UNIT_TEST(test_immediate_ref_unref_and_bad_ids),
      UNIT_TEST(test_timer_refresh_and_has_ref),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
