/*
 * tests/unit/test_promise.c — promises (aw/promise.h): then/catch/finally,
 * the resolution procedure, thenables, combinators, resolvers, and V8's tick
 * counts.
 *
 * Tick counts are asserted against ticks(n) (unit.h), a then-chain that logs
 * t1..tn one microtask tick apart; the expected orders are Node's (several
 * are the conformance corpus's programs, cited by number).
 */
#include "unit.h"

/* ---- settling and inspecting ------------------------------------------------------ */

static void test_new_promise_is_pending_with_undefined_result(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_new(L);
  assert_non_null(p);
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  assert_true(aw_is_undefined(aw_promise_result(p)));
  assert_ptr_equal(aw_promise_loop(p), L);
  assert_int_equal(unit_stats(L).promises, 1);
  aw_release(p);
  unit_finish(L);
}

static void test_resolve_with_a_value_fulfils_at_once(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_new(L);
  assert_int_equal(aw_promise_resolve(p, aw_string("v")), 0);
  assert_int_equal(aw_promise_state(p), AW_FULFILLED);
  assert_string_equal(aw_cstr(aw_promise_result(p)), "v");
  aw_release(p);
  unit_finish(L);
}

static void test_reject_rejects_at_once_with_the_unmarked_reason(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_new(L);
  assert_int_equal(aw_promise_reject(p, aw_throw(aw_err("Error", "no"))), 0);
  assert_int_equal(aw_promise_state(p), AW_REJECTED);
  assert_false(aw_is_thrown(aw_promise_result(p)));
  assert_error(aw_promise_result(p), "Error", "no");
  then_drop(p, NULL, h_log, "caught");
  run_ok(L);
  assert_log("caught:Error: no");
  aw_release(p);
  unit_finish(L);
}

static void test_resolving_twice_is_ignored(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_new(L);
  then_drop(p, h_log, h_log, "h");
  assert_int_equal(aw_promise_resolve(p, aw_int(1)), 0);
  assert_int_equal(aw_promise_resolve(p, aw_string("two")), 0); /* ignored, value released */
  assert_int_equal(aw_promise_reject(p, aw_err("Error", "three")), 0);
  run_ok(L);
  assert_log("h:1");
  assert_int_equal(aw_promise_state(p), AW_FULFILLED);
  assert_int_equal(aw_promise_result(p).u.i, 1);
  aw_release(p);
  unit_finish(L);
}

static void test_rejecting_twice_keeps_the_first_reason(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_new(L);
  then_drop(p, h_never, h_log, "r");
  assert_int_equal(aw_promise_reject(p, aw_err("Error", "first")), 0);
  assert_int_equal(aw_promise_reject(p, aw_err("Error", "second")), 0);
  assert_int_equal(aw_promise_resolve(p, aw_int(3)), 0);
  run_ok(L);
  assert_log("r:Error: first");
  aw_release(p);
  unit_finish(L);
}

/* Resolving with a pending promise locks p in: a later reject is ignored and p follows q. */
static void test_resolve_with_pending_promise_locks_in(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_new(L);
  aw_promise *q = aw_promise_new(L);
  then_drop(p, h_log, h_log, "p");
  assert_int_equal(aw_promise_resolve(p, aw_obj_val(aw_retain(q))), 0);
  assert_int_equal(aw_promise_reject(p, aw_err("Error", "ignored")), 0);
  run_ok(L);
  assert_log("");
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  assert_int_equal(aw_promise_resolve(q, aw_int(5)), 0);
  run_ok(L);
  assert_log("p:5");
  aw_release(q);
  aw_release(p);
  unit_finish(L);
}

static void test_reject_with_a_promise_does_not_adopt_it(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *q = aw_promise_resolved(L, aw_int(1));
  aw_promise *p = aw_promise_new(L);
  assert_int_equal(aw_promise_reject(p, aw_obj_val(aw_retain(q))), 0);
  assert_int_equal(aw_promise_state(p), AW_REJECTED);
  assert_ptr_equal(aw_promise_result(p).u.o, (aw_obj *)q);
  then_drop(p, NULL, h_log, "reason");
  run_ok(L);
  assert_log("reason:[object Promise]");
  aw_release(p);
  aw_release(q);
  unit_finish(L);
}

/* ---- then ----------------------------------------------------------------------- */

static int g_calls;
static aw_val h_count(aw_loop *L, aw_val v, void *label) {
  g_calls++;
  return h_log(L, v, label);
}

static void test_then_on_fulfilled_runs_once(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_calls = 0;
  aw_promise *p = aw_promise_resolved(L, aw_int(7));
  aw_promise *q = aw_promise_then(p, h_count, h_never, "a");
  run_ok(L);
  assert_int_equal(g_calls, 1);
  assert_log("a:7");
  assert_int_equal(aw_promise_state(q), AW_FULFILLED);
  assert_true(aw_is_undefined(aw_promise_result(q)));
  run_ok(L); /* nothing runs twice */
  assert_int_equal(g_calls, 1);
  aw_release(q);
  aw_release(p);
  unit_finish(L);
}

static void test_then_handler_never_runs_synchronously(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_resolved(L, aw_int(1));
  then_drop(p, h_log, NULL, "h");
  assert_log("");
  ulog("sync");
  run_ok(L);
  assert_log("sync h:1");
  aw_release(p);
  unit_finish(L);
}

static void test_then_on_pending_runs_after_resolve(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_new(L);
  then_drop(p, h_log, h_never, "h");
  run_ok(L);
  assert_log("");
  aw_promise_resolve(p, aw_string("late"));
  assert_log("");
  run_ok(L);
  assert_log("h:late");
  aw_release(p);
  unit_finish(L);
}

static void test_then_on_rejected_runs_on_rejected_with_the_reason(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_rejected(L, aw_err("Error", "boom"));
  aw_promise *q = aw_promise_then(p, h_never, h_log, "r");
  run_ok(L);
  assert_log("r:Error: boom");
  assert_int_equal(aw_promise_state(q), AW_FULFILLED); /* the handler recovered */
  aw_release(q);
  aw_release(p);
  unit_finish(L);
}

static aw_val h_plus_one(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)arg;
  return aw_int(v.u.i + 1);
}

static void test_then_handler_return_value_fulfils_the_derived_promise(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_resolved(L, aw_int(7));
  aw_promise *q = aw_promise_then(p, h_plus_one, NULL, NULL);
  then_drop(q, h_log, NULL, "q");
  run_ok(L);
  assert_log("q:8");
  assert_int_equal(aw_promise_result(q).u.i, 8);
  aw_release(q);
  aw_release(p);
  unit_finish(L);
}

static aw_val h_throw_msg(aw_loop *L, aw_val v, void *msg) {
  (void)L;
  (void)v;
  return aw_throw(aw_err("Error", "%s", (const char *)msg));
}

static void test_then_handler_throw_rejects_the_derived_promise(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_resolved(L, aw_int(1));
  aw_promise *q = aw_promise_then(p, h_throw_msg, NULL, "thrown");
  then_drop(q, h_never, h_log, "q");
  run_ok(L);
  assert_log("q:Error: thrown");
  assert_int_equal(aw_promise_state(q), AW_REJECTED);
  aw_release(q);
  aw_release(p);
  unit_finish(L);
}

/* 027: missing handlers pass the value or the reason through, one tick per link. */
static void test_then_without_handlers_passes_value_and_reason_through(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *a = aw_promise_resolved(L, aw_int(1));
  for (int i = 0; i < 3; i++) {
    aw_promise *n = aw_promise_then(a, NULL, NULL, NULL);
    aw_release(a);
    a = n;
  }
  then_drop(a, h_log, h_never, "value");
  aw_release(a);
  aw_promise *r = aw_promise_rejected(L, aw_err("Error", "r"));
  aw_promise *r1 = aw_promise_then(r, h_never, NULL, "r1");
  aw_promise *r2 = aw_promise_then(r1, NULL, NULL, NULL);
  aw_promise *r3 = aw_promise_catch(r2, NULL, NULL);
  then_drop(r3, h_never, h_log, "reason");
  aw_release(r);
  aw_release(r1);
  aw_release(r2);
  aw_release(r3);
  ticks(L, 5);
  run_ok(L);
  assert_log("t1 t2 t3 value:1 reason:Error: r t4 t5");
  unit_finish(L);
}

/* 021: handlers of one promise run in registration order, each its own job. */
static aw_promise *g_p;
static aw_val h_adds_handler(aw_loop *L, aw_val v, void *label) {
  h_log(L, v, label);
  then_drop(g_p, h_log, NULL, "h5");
  return aw_undefined();
}

static void test_handlers_run_in_registration_order(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_p = aw_promise_new(L);
  then_drop(g_p, h_log, NULL, "h1");
  then_drop(g_p, h_adds_handler, NULL, "h2");
  then_drop(g_p, h_log, NULL, "h3");
  aw_promise *o = aw_promise_resolved(L, aw_undefined());
  then_drop(o, h_mark, NULL, "other");
  aw_promise_resolve(g_p, aw_int(1));
  then_drop(g_p, h_log, NULL, "h4");
  aw_promise *r = aw_promise_rejected(L, aw_err("Error", "no"));
  aw_promise *c1 = aw_promise_catch(r, h_log, "c1");
  aw_promise *c2 = aw_promise_then(r, NULL, h_log, "c2");
  aw_promise *c3 = aw_promise_catch(r, h_log, "c3");
  run_ok(L);
  assert_log("other h1:1 h2:1 h3:1 h4:1 c1:Error: no c2:Error: no c3:Error: no h5:1");
  aw_release(c1);
  aw_release(c2);
  aw_release(c3);
  aw_release(r);
  aw_release(o);
  aw_release(g_p);
  unit_finish(L);
}

static void test_two_then_chains_interleave_one_tick_per_link(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *a = aw_promise_resolved(L, aw_undefined());
  aw_promise *b = aw_promise_resolved(L, aw_undefined());
  aw_promise *a1 = aw_promise_then(a, h_mark, NULL, "a1");
  aw_promise *b1 = aw_promise_then(b, h_mark, NULL, "b1");
  aw_promise *a2 = aw_promise_then(a1, h_mark, NULL, "a2");
  aw_promise *b2 = aw_promise_then(b1, h_mark, NULL, "b2");
  then_drop(a2, h_mark, NULL, "a3");
  then_drop(b2, h_mark, NULL, "b3");
  run_ok(L);
  assert_log("a1 b1 a2 b2 a3 b3");
  aw_promise *all[] = {a, b, a1, b1, a2, b2};
  for (size_t i = 0; i < 6; i++)
    aw_release(all[i]);
  unit_finish(L);
}

static void test_handler_receives_a_borrowed_value_it_may_keep(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_resolved(L, aw_string("kept"));
  aw_promise *q = aw_promise_then(p, h_log_pass, NULL, "h"); /* returns a new reference */
  aw_release(p);
  run_ok(L);
  assert_string_equal(aw_cstr(aw_promise_result(q)), "kept");
  aw_release(q);
  unit_finish(L);
}

/* ---- the resolution procedure ------------------------------------------------------- */

static void test_resolving_a_promise_with_itself_rejects_with_typeerror(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_new(L);
  assert_int_equal(aw_promise_resolve(p, aw_obj_val(aw_retain(p))), 0);
  assert_int_equal(aw_promise_state(p), AW_REJECTED);
  assert_error(aw_promise_result(p), "TypeError", "Chaining cycle detected for promise #<Promise>");
  then_drop(p, h_never, h_log, "r");
  run_ok(L);
  assert_log("r:TypeError: Chaining cycle detected for promise #<Promise>");
  aw_release(p);
  unit_finish(L);
}

static aw_promise *g_self;
static aw_val h_return_g_self(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  (void)arg;
  return aw_obj_val(aw_retain(g_self));
}

/* const q = p.then(() => q) */
static void test_handler_returning_its_own_promise_rejects_with_typeerror(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  g_self = aw_promise_then(p, h_return_g_self, NULL, NULL);
  then_drop(g_self, h_never, h_log, "q");
  run_ok(L);
  assert_log("q:TypeError: Chaining cycle detected for promise #<Promise>");
  aw_release(g_self);
  aw_release(p);
  unit_finish(L);
}

/* 014: new Promise(r => r(nativePromise)) settles two ticks after r(value). */
static void test_resolve_with_native_promise_costs_two_extra_ticks(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *inner = aw_promise_resolved(L, aw_string("x"));
  aw_promise *wrapped = aw_promise_new(L);
  aw_promise_resolve(wrapped, aw_obj_val(aw_retain(inner)));
  aw_promise *same = aw_promise_resolved(L, aw_obj_val(aw_retain(inner)));
  assert_ptr_equal(same, inner); /* Promise.resolve(p) is p */
  aw_promise *by_value = aw_promise_new(L);
  aw_promise_resolve(by_value, aw_string("y"));
  ticks(L, 5);
  then_drop(wrapped, h_log, NULL, "wrapped");
  then_drop(same, h_log, NULL, "same");
  then_drop(by_value, h_log, NULL, "byValue");
  run_ok(L);
  assert_log("t1 same:x byValue:y t2 wrapped:x t3 t4 t5");
  aw_release(inner);
  aw_release(wrapped);
  aw_release(same);
  aw_release(by_value);
  unit_finish(L);
}

/* 015: a handler returning a promise delays the next link by two ticks. */
static aw_val h_log_return_promise(aw_loop *L, aw_val v, void *label) {
  (void)v;
  ulog("%s", (const char *)label);
  return aw_obj_val(aw_promise_resolved(L, aw_string("ap")));
}
static aw_val h_log_return_bv(aw_loop *L, aw_val v, void *label) {
  (void)L;
  (void)v;
  ulog("%s", (const char *)label);
  return aw_string("bv");
}

static void test_handler_returning_a_promise_costs_two_extra_ticks(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *a = aw_promise_resolved(L, aw_undefined());
  aw_promise *a1 = aw_promise_then(a, h_log_return_promise, NULL, "A1");
  aw_promise *a2 = aw_promise_then(a1, h_log, NULL, "A2");
  then_drop(a2, h_mark, NULL, "A3");
  aw_promise *b = aw_promise_resolved(L, aw_undefined());
  aw_promise *b1 = aw_promise_then(b, h_log_return_bv, NULL, "B1");
  aw_promise *b2 = aw_promise_then(b1, h_log, NULL, "B2");
  aw_promise *b3 = aw_promise_then(b2, h_mark, NULL, "B3");
  aw_promise *b4 = aw_promise_then(b3, h_mark, NULL, "B4");
  then_drop(b4, h_mark, NULL, "B5");
  run_ok(L);
  assert_log("A1 B1 B2:bv B3 A2:ap B4 A3 B5");
  aw_promise *all[] = {a, a1, a2, b, b1, b2, b3, b4};
  for (size_t i = 0; i < 8; i++)
    aw_release(all[i]);
  unit_finish(L);
}

/* ---- thenables -------------------------------------------------------------------- */

static aw_val then_logs_and_resolves(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  ulog("%s.then", (const char *)arg);
  aw_resolver_resolve(r, aw_string("t"));
  return aw_undefined();
}

/* 016: resolving with a thenable calls its then in a job of its own: one extra tick. */
static void test_resolve_with_thenable_calls_then_in_its_own_job(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_obj *th = thenable_new(then_logs_and_resolves, "thenable");
  ticks(L, 5);
  aw_promise *p1 = aw_promise_new(L);
  aw_promise_resolve(p1, aw_obj_val(aw_retain(th)));
  assert_int_equal(thenable_calls(th), 0); /* not called synchronously */
  then_drop(p1, h_log, NULL, "from-thenable");
  aw_promise *p2 = aw_promise_new(L);
  aw_promise_resolve(p2, aw_obj_val(aw_promise_resolved(L, aw_string("n"))));
  then_drop(p2, h_log, NULL, "from-native");
  aw_promise *p3 = aw_promise_new(L);
  aw_promise_resolve(p3, aw_string("v"));
  then_drop(p3, h_log, NULL, "from-value");
  aw_promise *p4 = aw_promise_resolved(L, aw_obj_val(aw_retain(th)));
  then_drop(p4, h_log, NULL, "resolve-thenable");
  run_ok(L);
  assert_log("t1 thenable.then from-value:v thenable.then t2 from-thenable:t "
             "resolve-thenable:t t3 from-native:n t4 t5");
  assert_int_equal(thenable_calls(th), 2);
  aw_release(th);
  aw_release(p1);
  aw_release(p2);
  aw_release(p3);
  aw_release(p4);
  unit_finish(L);
}

static int g_rc[4];
static aw_val then_resolves_twice(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)arg;
  g_rc[0] = aw_resolver_resolve(r, aw_string("one"));
  g_rc[1] = aw_resolver_resolve(r, aw_string("two"));
  return aw_undefined();
}
static aw_val then_resolves_then_rejects(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)arg;
  g_rc[0] = aw_resolver_resolve(r, aw_string("ok"));
  g_rc[1] = aw_resolver_reject(r, aw_err("Error", "no"));
  return aw_undefined();
}
static aw_val then_rejects_then_resolves(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)arg;
  g_rc[0] = aw_resolver_reject(r, aw_err("Error", "first"));
  g_rc[1] = aw_resolver_resolve(r, aw_string("second"));
  return aw_undefined();
}
static aw_val then_rejects_twice(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)arg;
  g_rc[0] = aw_resolver_reject(r, aw_err("Error", "r1"));
  g_rc[1] = aw_resolver_reject(r, aw_err("Error", "r2"));
  return aw_undefined();
}
static aw_val then_resolves_then_throws(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)arg;
  g_rc[0] = aw_resolver_resolve(r, aw_string("first"));
  return aw_throw(aw_err("Error", "ignored"));
}
static aw_val then_throws(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)r;
  (void)arg;
  return aw_throw(aw_err("Error", "then threw"));
}

/* Resolves a new promise with a thenable whose then is fn; logs how it settled. */
static void adopt(thenable_fn fn, const char *expected_log) {
  aw_loop *L = unit_loop();
  g_rc[0] = g_rc[1] = 99;
  aw_obj *th = thenable_new(fn, NULL);
  aw_promise *p = aw_promise_new(L);
  aw_promise_resolve(p, aw_obj_val(th));
  then_drop(p, h_log, h_log, "p");
  run_ok(L);
  assert_log(expected_log);
  aw_release(p);
  unit_finish(L);
}

static void test_thenable_calling_resolve_twice_fulfils_with_the_first(void **state) {
  (void)state;
  adopt(then_resolves_twice, "p:one");
  assert_int_equal(g_rc[0], 0);
  assert_int_equal(g_rc[1], 0); /* ignored, as the spec says, not an error */
}

static void test_thenable_resolving_then_rejecting_fulfils(void **state) {
  (void)state;
  adopt(then_resolves_then_rejects, "p:ok");
}

static void test_thenable_rejecting_then_resolving_rejects(void **state) {
  (void)state;
  adopt(then_rejects_then_resolves, "p:Error: first");
}

static void test_thenable_rejecting_twice_rejects_with_the_first(void **state) {
  (void)state;
  adopt(then_rejects_twice, "p:Error: r1");
}

static void test_thenable_throwing_after_resolving_is_ignored(void **state) {
  (void)state;
  adopt(then_resolves_then_throws, "p:first");
}

static void test_thenable_throwing_before_resolving_rejects(void **state) {
  (void)state;
  adopt(then_throws, "p:Error: then threw");
}

static aw_resolver *g_resolver;
static aw_val then_keeps_resolver(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)arg;
  g_resolver = aw_retain(r);
  return aw_undefined();
}

static void test_thenable_may_resolve_later_through_a_kept_resolver(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_resolver = NULL;
  aw_promise *p = aw_promise_new(L);
  aw_promise_resolve(p, aw_obj_val(thenable_new(then_keeps_resolver, NULL)));
  then_drop(p, h_log, h_never, "p");
  run_ok(L);
  assert_non_null(g_resolver);
  assert_ptr_equal(aw_resolver_promise(g_resolver), p);
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  assert_log("");
  assert_int_equal(aw_resolver_resolve(g_resolver, aw_int(5)), 0);
  run_ok(L);
  assert_log("p:5");
  aw_release(g_resolver);
  aw_release(p);
  unit_finish(L);
}

static aw_obj *g_inner_thenable;
static aw_val then_resolves_with_thenable(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)arg;
  ulog("outer.then");
  aw_resolver_resolve(r, aw_obj_val(aw_retain(g_inner_thenable)));
  return aw_undefined();
}

static void test_thenable_resolving_with_another_thenable_adopts_it(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_inner_thenable = thenable_new(then_logs_and_resolves, "inner");
  aw_promise *p = aw_promise_new(L);
  aw_promise_resolve(p, aw_obj_val(thenable_new(then_resolves_with_thenable, NULL)));
  then_drop(p, h_log, h_never, "p");
  run_ok(L);
  assert_log("outer.then inner.then p:t");
  aw_release(g_inner_thenable);
  aw_release(p);
  unit_finish(L);
}

/* ---- executors ----------------------------------------------------------------------- */

static aw_val exec_logs_and_throws(aw_loop *L, aw_promise *p, void *arg) {
  (void)L;
  (void)p;
  ulog("%s", (const char *)arg);
  return aw_throw(aw_err("Error", "executor threw"));
}
static aw_val exec_resolves_then_throws(aw_loop *L, aw_promise *p, void *arg) {
  (void)L;
  ulog("%s", (const char *)arg);
  aw_promise_resolve(p, aw_string("resolved first"));
  return aw_throw(aw_err("Error", "ignored"));
}
static aw_val exec_rejects_then_throws(aw_loop *L, aw_promise *p, void *arg) {
  (void)L;
  ulog("%s", (const char *)arg);
  aw_promise_reject(p, aw_err("Error", "rejected first"));
  return aw_throw(aw_err("Error", "also ignored"));
}

/* 056 */
static void test_executor_runs_synchronously_and_its_throw_rejects(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p1 = aw_promise_new_executor(L, exec_logs_and_throws, "e1");
  aw_promise *p2 = aw_promise_new_executor(L, exec_resolves_then_throws, "e2");
  aw_promise *p3 = aw_promise_new_executor(L, exec_rejects_then_throws, "e3");
  ulog("after");
  then_drop(p1, h_never, h_log, "p1");
  then_drop(p2, h_log, h_never, "p2");
  then_drop(p3, h_never, h_log, "p3");
  run_ok(L);
  assert_log("e1 e2 e3 after p1:Error: executor threw p2:resolved first p3:Error: rejected first");
  aw_release(p1);
  aw_release(p2);
  aw_release(p3);
  unit_finish(L);
}

/* ---- finally ------------------------------------------------------------------------ */

static aw_val fin_log(aw_loop *L, void *label) {
  (void)L;
  ulog("%s", (const char *)label);
  return aw_undefined();
}
static aw_val fin_throws(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  return aw_throw(aw_err("Error", "finally threw"));
}
static aw_val fin_rejected(aw_loop *L, void *arg) {
  (void)arg;
  return aw_obj_val(aw_promise_rejected(L, aw_err("Error", "finally rejected")));
}
static aw_val fin_fulfilled(aw_loop *L, void *arg) {
  (void)arg;
  return aw_obj_val(aw_promise_resolved(L, aw_string("ok")));
}
static aw_promise *g_fin_wait;
static aw_val fin_pending(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  return aw_obj_val(aw_retain(g_fin_wait));
}

static void test_finally_passes_the_value_through(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_resolved(L, aw_string("F"));
  aw_promise *f = aw_promise_finally(p, fin_log, "fin");
  then_drop(f, h_log, h_never, "v");
  run_ok(L);
  assert_log("fin v:F");
  aw_release(f);
  aw_release(p);
  unit_finish(L);
}

static void test_finally_passes_the_reason_through(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_rejected(L, aw_err("Error", "R"));
  aw_promise *f = aw_promise_finally(p, fin_log, "fin");
  then_drop(f, h_never, h_log, "r");
  run_ok(L);
  assert_log("fin r:Error: R");
  aw_release(f);
  aw_release(p);
  unit_finish(L);
}

/* 024 */
static void test_finally_that_throws_or_rejects_replaces_the_outcome(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p1 = aw_promise_resolved(L, aw_string("v1"));
  aw_promise *f1 = aw_promise_finally(p1, fin_throws, NULL);
  then_drop(f1, h_never, h_log, "case1");
  aw_promise *p2 = aw_promise_rejected(L, aw_err("Error", "orig"));
  aw_promise *f2 = aw_promise_finally(p2, fin_rejected, NULL);
  then_drop(f2, h_never, h_log, "case2");
  aw_promise *p3 = aw_promise_rejected(L, aw_err("Error", "orig3"));
  aw_promise *f3 = aw_promise_finally(p3, fin_fulfilled, NULL);
  then_drop(f3, h_never, h_log, "case3");
  run_ok(L);
  assert_log("case1:Error: finally threw case2:Error: finally rejected case3:Error: orig3");
  aw_promise *all[] = {p1, f1, p2, f2, p3, f3};
  for (size_t i = 0; i < 6; i++)
    aw_release(all[i]);
  unit_finish(L);
}

static void test_finally_waits_for_the_promise_it_returns(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_fin_wait = aw_promise_new(L);
  aw_promise *p = aw_promise_resolved(L, aw_string("v4"));
  aw_promise *f = aw_promise_finally(p, fin_pending, NULL);
  then_drop(f, h_log, h_never, "case4");
  run_ok(L);
  assert_log("");
  ulog("done");
  aw_promise_resolve(g_fin_wait, aw_string("x")); /* its value does not replace v4 */
  run_ok(L);
  assert_log("done case4:v4");
  aw_release(g_fin_wait);
  aw_release(f);
  aw_release(p);
  unit_finish(L);
}

static aw_val h_identity(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)arg;
  return aw_retain_val(v);
}

/* 025: finally re-delivers the value through an inner promise: it costs three ticks more
 * than then. */
static void test_finally_costs_its_ticks(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  ticks(L, 7);
  aw_promise *pf = aw_promise_resolved(L, aw_string("F"));
  aw_promise *ff = aw_promise_finally(pf, fin_log, "fin");
  then_drop(ff, h_log, NULL, "after-finally");
  aw_promise *pt = aw_promise_resolved(L, aw_string("T"));
  aw_promise *pt1 = aw_promise_then(pt, h_identity, NULL, NULL);
  then_drop(pt1, h_log, NULL, "after-then");
  aw_promise *pr = aw_promise_rejected(L, aw_err("Error", "R"));
  aw_promise *fr = aw_promise_finally(pr, fin_log, "fin-rejected");
  aw_promise *cr = aw_promise_catch(fr, h_log, "after-finally-catch");
  run_ok(L);
  assert_log("t1 fin fin-rejected t2 after-then:T t3 t4 after-finally:F "
             "after-finally-catch:Error: R t5 t6 t7");
  aw_promise *all[] = {pf, ff, pt, pt1, pr, fr, cr};
  for (size_t i = 0; i < 7; i++)
    aw_release(all[i]);
  unit_finish(L);
}

static void test_finally_without_a_function_passes_through(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_resolved(L, aw_int(3));
  aw_promise *f = aw_promise_finally(p, NULL, NULL);
  assert_non_null(f);
  then_drop(f, h_log, NULL, "v");
  ticks(L, 3);
  run_ok(L);
  assert_log("t1 v:3 t2 t3"); /* as then(undefined, undefined): one tick, then one for v */
  aw_release(f);
  aw_release(p);
  unit_finish(L);
}

/* ---- Promise.resolve / reject / try / withResolvers --------------------------------- */

static void test_promise_resolved_returns_a_native_promise_itself(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_new(L);
  aw_promise *q = aw_promise_resolved(L, aw_obj_val(aw_retain(p)));
  assert_ptr_equal(q, p); /* with the reference passed in: both are released below */
  aw_release(q);
  aw_release(p);
  unit_finish(L);
}

static void test_promise_resolved_with_a_value_is_fulfilled(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_resolved(L, aw_int(4));
  assert_int_equal(aw_promise_state(p), AW_FULFILLED);
  assert_int_equal(aw_promise_result(p).u.i, 4);
  aw_release(p);
  unit_finish(L);
}

static void test_promise_resolved_with_a_thenable_adopts_it(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_resolved(L, aw_obj_val(thenable_new(then_logs_and_resolves, "th")));
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  then_drop(p, h_log, NULL, "p");
  run_ok(L);
  assert_log("th.then p:t");
  aw_release(p);
  unit_finish(L);
}

static void test_promise_rejected_is_rejected_with_the_reason(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_rejected(L, aw_string("why"));
  assert_int_equal(aw_promise_state(p), AW_REJECTED);
  assert_string_equal(aw_cstr(aw_promise_result(p)), "why");
  then_drop(p, NULL, h_log, "r");
  run_ok(L);
  assert_log("r:why");
  aw_release(p);
  unit_finish(L);
}

static aw_val call_returns(aw_loop *L, void *arg) {
  (void)L;
  return aw_int((intptr_t)arg);
}
static aw_val call_throws(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  return aw_throw(aw_err("Error", "tried"));
}
static aw_val call_returns_promise(aw_loop *L, void *arg) {
  (void)arg;
  return aw_obj_val(aw_promise_resolved(L, aw_string("inner")));
}

static void test_promise_try_settles_with_the_result_or_the_throw(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *a = aw_promise_try(L, call_returns, (void *)(intptr_t)9);
  assert_int_equal(aw_promise_state(a), AW_FULFILLED);
  assert_int_equal(aw_promise_result(a).u.i, 9);
  aw_promise *b = aw_promise_try(L, call_throws, NULL);
  assert_int_equal(aw_promise_state(b), AW_REJECTED);
  then_drop(b, NULL, h_log, "b");
  aw_promise *c = aw_promise_try(L, call_returns_promise, NULL);
  then_drop(c, h_log, NULL, "c");
  run_ok(L);
  assert_log("b:Error: tried c:inner");
  aw_release(a);
  aw_release(b);
  aw_release(c);
  unit_finish(L);
}

static void test_with_resolvers_settles_its_promise_once(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_resolver *r = NULL;
  aw_promise *p = aw_promise_with_resolvers(L, &r);
  assert_non_null(p);
  assert_non_null(r);
  assert_ptr_equal(aw_resolver_promise(r), p);
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  then_drop(p, h_log, h_never, "p");
  assert_int_equal(aw_resolver_resolve(r, aw_string("yes")), 0);
  assert_int_equal(aw_resolver_resolve(r, aw_string("again")), 0);
  assert_int_equal(aw_resolver_reject(r, aw_err("Error", "late")), 0);
  run_ok(L);
  assert_log("p:yes");
  aw_release(r);
  aw_release(p);
  unit_finish(L);
}

static void test_with_resolvers_reject_rejects(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_resolver *r = NULL;
  aw_promise *p = aw_promise_with_resolvers(L, &r);
  then_drop(p, h_never, h_log, "p");
  aw_release(p); /* the resolver keeps the promise */
  assert_int_equal(aw_resolver_reject(r, aw_err("Error", "no")), 0);
  run_ok(L);
  assert_log("p:Error: no");
  aw_release(r);
  unit_finish(L);
}

/* ---- internal promises refuse the public resolve functions ---------------------------- */

static void assert_refuses_resolve(aw_promise *p) {
  enum aw_state st = aw_promise_state(p);
  int64_t objs = aw_objects_alive();
  aw_val before = aw_promise_result(p);
  assert_int_equal(aw_promise_resolve(p, aw_string("nope")), -EPERM);
  assert_int_equal(aw_promise_reject(p, aw_err("Error", "nope")), -EPERM);
  assert_int_equal(aw_objects_alive(), objs); /* the values were consumed all the same */
  assert_int_equal(aw_promise_state(p), st);
  aw_val after = aw_promise_result(p);
  assert_int_equal(after.tag, before.tag);
  assert_true(after.u.i == before.u.i);
}

static void test_internal_promises_refuse_resolve_with_eperm(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *src = aw_promise_new(L);
  aw_promise *then = aw_promise_then(src, h_log, NULL, "then");
  aw_promise *fin = aw_promise_finally(src, fin_log, "fin");
  aw_val in[1] = {aw_obj_val(aw_retain(src))};
  aw_promise *all = aw_promise_all(L, 1, in);
  in[0] = aw_obj_val(aw_retain(src));
  aw_promise *race = aw_promise_race(L, 1, in);
  aw_promise *res = aw_promise_resolved(L, aw_int(1));
  aw_promise *rej = aw_promise_rejected(L, aw_string("r"));
  aw_promise *tried = aw_promise_try(L, call_returns, NULL);
  aw_resolver *r;
  aw_promise *wr = aw_promise_with_resolvers(L, &r);
  aw_promise *list[] = {then, fin, all, race, res, rej, tried, wr};
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
    assert_refuses_resolve(list[i]);
  /* they still settle the way the library settles them */
  then_drop(rej, NULL, h_mark, "rej-handled");
  aw_promise_resolve(src, aw_int(2));
  aw_resolver_resolve(r, aw_int(3));
  run_ok(L);
  assert_int_equal(aw_promise_state(then), AW_FULFILLED);
  assert_int_equal(aw_promise_state(fin), AW_FULFILLED);
  assert_int_equal(aw_promise_result(all).u.o->type, AW_T_ARRAY);
  assert_int_equal(aw_promise_result(race).u.i, 2);
  assert_int_equal(aw_promise_result(wr).u.i, 3);
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
    aw_release(list[i]);
  aw_release(r);
  aw_release(src);
  unit_finish(L);
}

/* ---- combinators --------------------------------------------------------------------- */

static void test_all_fulfils_with_values_in_input_order(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p[3];
  aw_val in[3];
  for (int i = 0; i < 3; i++) {
    p[i] = aw_promise_new(L);
    in[i] = aw_obj_val(aw_retain(p[i]));
  }
  aw_promise *all = aw_promise_all(L, 3, in);
  then_drop(all, h_log, h_never, "all");
  aw_promise_resolve(p[1], aw_string("b"));
  run_ok(L);
  aw_promise_resolve(p[2], aw_string("c"));
  run_ok(L);
  assert_log("");
  aw_promise_resolve(p[0], aw_string("a"));
  run_ok(L);
  assert_log("all:a,b,c");
  aw_array *a = aw_as_array(aw_promise_result(all));
  assert_int_equal(aw_array_len(a), 3);
  assert_string_equal(aw_cstr(aw_array_get(a, 0)), "a");
  assert_string_equal(aw_cstr(aw_array_get(a, 2)), "c");
  for (int i = 0; i < 3; i++)
    aw_release(p[i]);
  aw_release(all);
  unit_finish(L);
}

static void test_all_with_the_same_promise_twice_has_its_value_twice(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_new(L);
  aw_val in[] = {aw_obj_val(aw_retain(p)), aw_int(0), aw_obj_val(aw_retain(p))};
  aw_promise *all = aw_promise_all(L, 3, in);
  aw_promise_resolve(p, aw_string("p"));
  then_drop(all, h_log, h_never, "all");
  run_ok(L);
  assert_log("all:p,0,p");
  aw_release(p);
  aw_release(all);
  unit_finish(L);
}

/* 030 */
static void test_all_rejects_with_the_first_rejection(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p[4];
  aw_val in[4];
  for (int i = 0; i < 4; i++) {
    p[i] = aw_promise_new(L);
    in[i] = aw_obj_val(aw_retain(p[i]));
  }
  aw_promise *all = aw_promise_all(L, 4, in);
  then_drop(all, h_never, h_log, "all");
  aw_promise_resolve(p[0], aw_string("one"));
  run_ok(L);
  aw_promise_reject(p[1], aw_err("Error", "two"));
  run_ok(L);
  aw_promise_reject(p[2], aw_err("Error", "three"));
  aw_promise_resolve(p[3], aw_string("four"));
  run_ok(L);
  assert_log("all:Error: two");
  for (int i = 0; i < 4; i++)
    aw_release(p[i]);
  aw_release(all);
  unit_finish(L);
}

static void test_all_of_nothing_is_fulfilled_at_once_with_an_empty_array(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *all = aw_promise_all(L, 0, NULL);
  assert_int_equal(aw_promise_state(all), AW_FULFILLED);
  assert_non_null(aw_as_array(aw_promise_result(all)));
  assert_int_equal(aw_array_len(aw_as_array(aw_promise_result(all))), 0);
  aw_release(all);
  aw_promise *settled = aw_promise_all_settled(L, 0, NULL);
  assert_int_equal(aw_promise_state(settled), AW_FULFILLED);
  assert_int_equal(aw_array_len(aw_as_array(aw_promise_result(settled))), 0);
  aw_release(settled);
  unit_finish(L);
}

static aw_val then_resolves_th(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)arg;
  aw_resolver_resolve(r, aw_string("th"));
  return aw_undefined();
}

/* 031: plain values and thenables are adopted like promises, with their ticks. */
static void test_all_adopts_values_and_thenables_with_their_ticks(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  ticks(L, 5);
  aw_promise *e = aw_promise_all(L, 0, NULL);
  then_drop(e, h_log, NULL, "empty");
  aw_val v1[] = {aw_int(1), aw_string("two"), aw_int(3)};
  aw_promise *values = aw_promise_all(L, 3, v1);
  then_drop(values, h_log, NULL, "values");
  aw_val v2[] = {aw_obj_val(thenable_new(then_resolves_th, NULL)),
                 aw_obj_val(aw_promise_resolved(L, aw_string("p"))), aw_int(5)};
  aw_promise *mixed = aw_promise_all(L, 3, v2);
  then_drop(mixed, h_log, NULL, "mixed");
  run_ok(L);
  assert_log("t1 empty: t2 values:1,two,3 t3 mixed:th,p,5 t4 t5");
  aw_release(e);
  aw_release(values);
  aw_release(mixed);
  unit_finish(L);
}

static void test_all_settled_reports_each_outcome_in_input_order(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *a = aw_promise_new(L), *b = aw_promise_new(L);
  aw_val in[] = {aw_obj_val(aw_retain(a)), aw_obj_val(aw_retain(b)), aw_int(7),
                 aw_obj_val(aw_promise_rejected(L, aw_err("Error", "d")))};
  aw_promise *s = aw_promise_all_settled(L, 4, in);
  aw_promise_reject(b, aw_err("Error", "b"));
  run_ok(L);
  assert_int_equal(aw_promise_state(s), AW_PENDING);
  aw_promise_resolve(a, aw_string("a"));
  run_ok(L);
  assert_int_equal(aw_promise_state(s), AW_FULFILLED);
  aw_array *r = aw_as_array(aw_promise_result(s));
  assert_int_equal(aw_array_len(r), 4);
  assert_false(aw_is_thrown(aw_array_get(r, 0)));
  assert_string_equal(aw_cstr(aw_array_get(r, 0)), "a");
  assert_true(aw_is_thrown(aw_array_get(r, 1)));
  assert_error(aw_array_get(r, 1), "Error", "b");
  assert_false(aw_is_thrown(aw_array_get(r, 2)));
  assert_int_equal(aw_array_get(r, 2).u.i, 7);
  assert_true(aw_is_thrown(aw_array_get(r, 3)));
  assert_error(aw_array_get(r, 3), "Error", "d");
  aw_release(a);
  aw_release(b);
  aw_release(s);
  unit_finish(L);
}

static void test_any_fulfils_with_the_first_fulfilment(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p[3];
  aw_val in[3];
  for (int i = 0; i < 3; i++) {
    p[i] = aw_promise_new(L);
    in[i] = aw_obj_val(aw_retain(p[i]));
  }
  aw_promise *any = aw_promise_any(L, 3, in);
  then_drop(any, h_log, h_never, "any");
  aw_promise_reject(p[0], aw_err("Error", "x"));
  run_ok(L);
  aw_promise_resolve(p[1], aw_string("y"));
  run_ok(L);
  aw_promise_resolve(p[2], aw_string("z"));
  run_ok(L);
  assert_log("any:y");
  for (int i = 0; i < 3; i++)
    aw_release(p[i]);
  aw_release(any);
  unit_finish(L);
}

static void test_any_all_rejected_gives_aggregate_error_in_input_order(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p[3];
  aw_val in[3];
  for (int i = 0; i < 3; i++) {
    p[i] = aw_promise_new(L);
    in[i] = aw_obj_val(aw_retain(p[i]));
  }
  aw_promise *any = aw_promise_any(L, 3, in);
  then_drop(any, h_never, h_log, "any");
  aw_promise_reject(p[1], aw_err("Error", "e2"));
  run_ok(L);
  aw_promise_reject(p[2], aw_err("Error", "e3"));
  run_ok(L);
  aw_promise_reject(p[0], aw_err("Error", "e1"));
  run_ok(L);
  assert_log("any:AggregateError: All promises were rejected");
  aw_error *e = aw_as_error(aw_promise_result(any));
  assert_non_null(e);
  assert_string_equal(e->name, "AggregateError");
  assert_non_null(e->errors);
  assert_str_of(aw_obj_val(e->errors), "Error: e1,Error: e2,Error: e3");
  for (int i = 0; i < 3; i++)
    assert_false(aw_is_thrown(aw_array_get(e->errors, (size_t)i)));
  for (int i = 0; i < 3; i++)
    aw_release(p[i]);
  aw_release(any);
  unit_finish(L);
}

static void test_any_of_nothing_rejects_at_once_with_no_errors(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *any = aw_promise_any(L, 0, NULL);
  assert_int_equal(aw_promise_state(any), AW_REJECTED);
  aw_error *e = aw_as_error(aw_promise_result(any));
  assert_non_null(e);
  assert_string_equal(e->name, "AggregateError");
  assert_string_equal(e->message->data, "All promises were rejected");
  assert_non_null(e->errors);
  assert_int_equal(aw_array_len(e->errors), 0);
  then_drop(any, NULL, h_mark, "handled");
  run_ok(L);
  assert_log("handled");
  aw_release(any);
  unit_finish(L);
}

static void test_race_settles_as_the_first_input_to_settle(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *a = aw_promise_new(L), *b = aw_promise_new(L);
  aw_val in[] = {aw_obj_val(aw_retain(a)), aw_obj_val(aw_retain(b))};
  aw_promise *race = aw_promise_race(L, 2, in);
  then_drop(race, h_log, h_never, "race");
  aw_promise_resolve(b, aw_string("b"));
  run_ok(L);
  aw_promise_reject(a, aw_err("Error", "late"));
  run_ok(L);
  assert_log("race:b");
  aw_release(a);
  aw_release(b);
  aw_release(race);
  unit_finish(L);
}

static void test_race_rejects_when_a_rejection_comes_first(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *a = aw_promise_new(L), *b = aw_promise_new(L);
  aw_val in[] = {aw_obj_val(aw_retain(a)), aw_obj_val(aw_retain(b))};
  aw_promise *race = aw_promise_race(L, 2, in);
  then_drop(race, h_never, h_log, "race");
  aw_promise_reject(a, aw_err("Error", "first"));
  aw_promise_resolve(b, aw_string("second"));
  run_ok(L);
  assert_log("race:Error: first");
  aw_release(a);
  aw_release(b);
  aw_release(race);
  unit_finish(L);
}

static void test_race_of_nothing_stays_pending(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *race = aw_promise_race(L, 0, NULL);
  assert_non_null(race);
  then_drop(race, h_never, h_never, "race");
  run_ok(L);
  assert_int_equal(aw_promise_state(race), AW_PENDING);
  assert_log("");
  aw_release(race);
  unit_finish(L);
}

/* 036: over fulfilled inputs, resolve/reject settle at tick 1 and the combinators at tick 2. */
static void test_combinators_over_settled_inputs_settle_at_tick_two(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *a = aw_promise_resolved(L, aw_int(1));
  aw_promise *b = aw_promise_resolved(L, aw_int(2));
  ticks(L, 6);
  aw_promise *res[4];
  aw_promise *(*fns[4])(aw_loop *, size_t, const aw_val *) = {
      aw_promise_all, aw_promise_all_settled, aw_promise_race, aw_promise_any};
  static const char *names[4] = {"all", "allSettled", "race", "any"};
  for (int i = 0; i < 4; i++) {
    aw_val in[] = {aw_obj_val(aw_retain(a)), aw_obj_val(aw_retain(b))};
    res[i] = fns[i](L, 2, in);
    then_drop(res[i], h_mark, h_never, (void *)names[i]);
  }
  aw_promise *r = aw_promise_resolved(L, aw_obj_val(aw_retain(a)));
  then_drop(r, h_mark, NULL, "resolve");
  aw_promise *j = aw_promise_rejected(L, aw_err("Error", "x"));
  then_drop(j, NULL, h_mark, "reject");
  run_ok(L);
  assert_log("t1 resolve reject t2 all allSettled race any t3 t4 t5 t6");
  for (int i = 0; i < 4; i++)
    aw_release(res[i]);
  aw_release(r);
  aw_release(j);
  aw_release(a);
  aw_release(b);
  unit_finish(L);
}

static aw_val then_good(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)arg;
  ulog("good.then");
  aw_resolver_resolve(r, aw_string("g"));
  return aw_undefined();
}
static aw_val then_bad(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)arg;
  ulog("bad.then");
  aw_resolver_reject(r, aw_err("Error", "thenable rejected"));
  return aw_undefined();
}

/* 037 */
static void test_combinators_adopt_thenables_with_one_extra_tick(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_obj *good = thenable_new(then_good, NULL);
  aw_obj *bad = thenable_new(then_bad, NULL);
  ticks(L, 5);
  aw_val i1[] = {aw_obj_val(aw_retain(good)), aw_string("v")};
  aw_promise *all_ok = aw_promise_all(L, 2, i1);
  then_drop(all_ok, h_log, h_never, "all-ok");
  aw_val i2[] = {aw_obj_val(aw_promise_resolved(L, aw_string("p"))), aw_obj_val(aw_retain(bad))};
  aw_promise *all_bad = aw_promise_all(L, 2, i2);
  then_drop(all_bad, h_never, h_log, "all-failed");
  aw_val i3[] = {aw_obj_val(aw_retain(good)),
                 aw_obj_val(aw_promise_resolved(L, aw_string("native")))};
  aw_promise *race = aw_promise_race(L, 2, i3);
  then_drop(race, h_log, h_never, "race");
  aw_val i4[] = {aw_obj_val(aw_retain(bad)), aw_obj_val(aw_retain(good))};
  aw_promise *any = aw_promise_any(L, 2, i4);
  then_drop(any, h_log, h_never, "any");
  run_ok(L);
  assert_log("t1 good.then bad.then good.then bad.then good.then t2 race:native t3 all-ok:g,v "
             "all-failed:Error: thenable rejected any:g t4 t5");
  aw_release(good);
  aw_release(bad);
  aw_release(all_ok);
  aw_release(all_bad);
  aw_release(race);
  aw_release(any);
  unit_finish(L);
}

static void test_combinators_consume_their_inputs(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *(*fns[4])(aw_loop *, size_t, const aw_val *) = {
      aw_promise_all, aw_promise_all_settled, aw_promise_race, aw_promise_any};
  for (int i = 0; i < 4; i++) {
    aw_val in[] = {aw_string("s"), aw_obj_val(aw_buf_from("b", 1)),
                   aw_obj_val(aw_promise_resolved(L, aw_string("p")))};
    aw_promise *r = fns[i](L, 3, in);
    run_ok(L);
    assert_int_equal(aw_promise_state(r), AW_FULFILLED);
    aw_release(r);
  }
  unit_finish(L);
}

/* ---- long chains ------------------------------------------------------------------------ */

static void test_a_million_link_chain_resolves_and_frees(void **state) {
  (void)state;
  enum { N = 1000000 };
  aw_loop *L = unit_loop();
  aw_promise *head = aw_promise_new(L);
  aw_promise *p = aw_retain(head);
  for (int i = 0; i < N; i++) {
    aw_promise *q = aw_promise_then(p, NULL, NULL, NULL);
    aw_release(p);
    p = q;
  }
  assert_int_equal(unit_stats(L).promises, N + 1);
  aw_promise_resolve(head, aw_int(42));
  run_ok(L);
  assert_int_equal(aw_promise_state(p), AW_FULFILLED);
  assert_int_equal(aw_promise_result(p).u.i, 42);
  aw_release(p);
  aw_release(head);
  unit_finish(L);
}

/* A pending chain nobody can settle any more is freed link by link, not recursively. */
static void test_dropping_a_million_link_pending_chain_does_not_recurse(void **state) {
  (void)state;
  enum { N = 1000000 };
  aw_loop *L = unit_loop();
  aw_promise *head = aw_promise_new(L);
  aw_promise *p = aw_retain(head);
  for (int i = 0; i < N; i++) {
    aw_promise *q = aw_promise_then(p, h_never, h_never, NULL);
    aw_release(p);
    p = q;
  }
  aw_release(p);
  assert_int_equal(unit_stats(L).promises, N + 1);
  aw_release(head);
  assert_int_equal(unit_stats(L).promises, 0);
  run_ok(L);
  assert_log("");
  unit_finish(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      UNIT_TEST(test_new_promise_is_pending_with_undefined_result),
      UNIT_TEST(test_resolve_with_a_value_fulfils_at_once),
      UNIT_TEST(test_reject_rejects_at_once_with_the_unmarked_reason),
      UNIT_TEST(test_resolving_twice_is_ignored),
      UNIT_TEST(test_rejecting_twice_keeps_the_first_reason),
      UNIT_TEST(test_resolve_with_pending_promise_locks_in),
      UNIT_TEST(test_reject_with_a_promise_does_not_adopt_it),
      UNIT_TEST(test_then_on_fulfilled_runs_once),
      UNIT_TEST(test_then_handler_never_runs_synchronously),
      UNIT_TEST(test_then_on_pending_runs_after_resolve),
      UNIT_TEST(test_then_on_rejected_runs_on_rejected_with_the_reason),
      UNIT_TEST(test_then_handler_return_value_fulfils_the_derived_promise),
      UNIT_TEST(test_then_handler_throw_rejects_the_derived_promise),
      UNIT_TEST(test_then_without_handlers_passes_value_and_reason_through),
      UNIT_TEST(test_handlers_run_in_registration_order),
      UNIT_TEST(test_two_then_chains_interleave_one_tick_per_link),
      UNIT_TEST(test_handler_receives_a_borrowed_value_it_may_keep),
      UNIT_TEST(test_resolving_a_promise_with_itself_rejects_with_typeerror),
      UNIT_TEST(test_handler_returning_its_own_promise_rejects_with_typeerror),
      UNIT_TEST(test_resolve_with_native_promise_costs_two_extra_ticks),
      UNIT_TEST(test_handler_returning_a_promise_costs_two_extra_ticks),
      UNIT_TEST(test_resolve_with_thenable_calls_then_in_its_own_job),
      UNIT_TEST(test_thenable_calling_resolve_twice_fulfils_with_the_first),
      UNIT_TEST(test_thenable_resolving_then_rejecting_fulfils),
      UNIT_TEST(test_thenable_rejecting_then_resolving_rejects),
      UNIT_TEST(test_thenable_rejecting_twice_rejects_with_the_first),
      UNIT_TEST(test_thenable_throwing_after_resolving_is_ignored),
      UNIT_TEST(test_thenable_throwing_before_resolving_rejects),
      UNIT_TEST(test_thenable_may_resolve_later_through_a_kept_resolver),
      UNIT_TEST(test_thenable_resolving_with_another_thenable_adopts_it),
      UNIT_TEST(test_executor_runs_synchronously_and_its_throw_rejects),
      UNIT_TEST(test_finally_passes_the_value_through),
      UNIT_TEST(test_finally_passes_the_reason_through),
      UNIT_TEST(test_finally_that_throws_or_rejects_replaces_the_outcome),
      UNIT_TEST(test_finally_waits_for_the_promise_it_returns),
      UNIT_TEST(test_finally_costs_its_ticks),
      UNIT_TEST(test_finally_without_a_function_passes_through),
      UNIT_TEST(test_promise_resolved_returns_a_native_promise_itself),
      UNIT_TEST(test_promise_resolved_with_a_value_is_fulfilled),
      UNIT_TEST(test_promise_resolved_with_a_thenable_adopts_it),
      UNIT_TEST(test_promise_rejected_is_rejected_with_the_reason),
      UNIT_TEST(test_promise_try_settles_with_the_result_or_the_throw),
      UNIT_TEST(test_with_resolvers_settles_its_promise_once),
      UNIT_TEST(test_with_resolvers_reject_rejects),
      UNIT_TEST(test_internal_promises_refuse_resolve_with_eperm),
      UNIT_TEST(test_all_fulfils_with_values_in_input_order),
      UNIT_TEST(test_all_with_the_same_promise_twice_has_its_value_twice),
      UNIT_TEST(test_all_rejects_with_the_first_rejection),
      UNIT_TEST(test_all_of_nothing_is_fulfilled_at_once_with_an_empty_array),
      UNIT_TEST(test_all_adopts_values_and_thenables_with_their_ticks),
      UNIT_TEST(test_all_settled_reports_each_outcome_in_input_order),
      UNIT_TEST(test_any_fulfils_with_the_first_fulfilment),
      UNIT_TEST(test_any_all_rejected_gives_aggregate_error_in_input_order),
      UNIT_TEST(test_any_of_nothing_rejects_at_once_with_no_errors),
      UNIT_TEST(test_race_settles_as_the_first_input_to_settle),
      UNIT_TEST(test_race_rejects_when_a_rejection_comes_first),
      UNIT_TEST(test_race_of_nothing_stays_pending),
      UNIT_TEST(test_combinators_over_settled_inputs_settle_at_tick_two),
      UNIT_TEST(test_combinators_adopt_thenables_with_one_extra_tick),
      UNIT_TEST(test_combinators_consume_their_inputs),
      UNIT_TEST(test_a_million_link_chain_resolves_and_frees),
      UNIT_TEST(test_dropping_a_million_link_pending_chain_does_not_recurse),
  };
  return cmocka_run_group_tests_name("promise", tests, NULL, NULL);
}
