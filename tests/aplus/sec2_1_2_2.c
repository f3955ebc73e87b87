/*
 * tests/aplus/sec2_1_2_2.c — Promises/A+ 2.1 (promise states) and 2.2 (the
 * then method): lib/tests/2.1.2.js, 2.1.3.js, 2.2.1.js ... 2.2.7.js.
 *
 * Each body is the original's test function; names in comments are the
 * original's `describe`/`specify` titles.
 *
 * Not ported:
 *  - 2.2.5 (`onFulfilled` and `onRejected` must be called as functions, i.e.
 *    with no `this` value, strict and sloppy mode): JavaScript only. A C
 *    handler has no `this`; it receives exactly (L, value, arg).
 *  - 2.2.7.1 ("see separate 3.3 tests"): an empty `specify` in the original.
 *  - JS "non-function" handlers (2.2.1, 2.2.7.3, 2.2.7.4): the original tries
 *    `undefined`, `null`, `false`, `5`, `{}` and an array containing a
 *    function. A handler in C is a function pointer; its only non-function
 *    value is NULL, so each of those lists is one row here.
 */
#include "aplus.h"

#include <string.h>

/* ---- shared handlers and deferred actions ---------------------------------- */

/* onFulfilled/onRejected that checks c->flag is set, then done(). */
static aw_val h_check_flag_done(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  ctx *c = arg;
  CHECK(c, c->flag);
  done(c);
  return aw_undefined();
}

static void l_resolve_flag(ctx *c, aw_obj *t, aw_val v) {
  l_resolve(c, t, v);
  c->flag = true;
}
static void l_reject_flag(ctx *c, aw_obj *t, aw_val v) {
  l_reject(c, t, v);
  c->flag = true;
}
static void l_resolve_twice(ctx *c, aw_obj *t, aw_val v) {
  l_resolve(c, t, v);
  l_resolve(c, t, v);
}
static void l_reject_twice(ctx *c, aw_obj *t, aw_val v) {
  l_reject(c, t, v);
  l_reject(c, t, v);
}
static void l_resolve_reject(ctx *c, aw_obj *t, aw_val v) {
  l_resolve(c, t, v);
  l_reject(c, t, v);
}
static void l_reject_resolve(ctx *c, aw_obj *t, aw_val v) {
  l_reject(c, t, v);
  l_resolve(c, t, v);
}

static aw_promise *pending(ctx *c) { return hold_p(c, aw_promise_new(c->L)); }
static aw_val dummy(ctx *c) { return aw_retain_val(c->dummy); }

/* ===== 2.1.2: When fulfilled, a promise: must not transition to any other state. ===== */

/* onFulfilled sets a flag; onRejected asserts it is not set and calls done. */
static void fulfilled_watch_also(ctx *c, spy *s, aw_val v) {
  (void)s;
  (void)v;
  CHECK(c, c->spies[0].calls == 0); /* onFulfilledCalled === false */
}
static void fulfilled_watch(ctx *c, aw_promise *p) {
  spy *f = spy_new(c, "onFulfilled", 'F', 1);
  spy *r = spy_new(c, "onRejected", 'R', 0);
  (void)f;
  r->also = fulfilled_watch_also;
  r->calls_done = true;
  then2(c, p, f, r);
}

/* testFulfilled(dummy, ...) with setTimeout(done, 100). Also 2.2.3.3. */
static void t_fulfilled_not_rejected(ctx *c, aw_promise *p) {
  fulfilled_watch(c, p);
  later(c, T100, l_done, NULL, aw_undefined());
}
static void b_2_1_2_three(ctx *c) { three(c, true, dummy(c), t_fulfilled_not_rejected); }

static void b_2_1_2_fulfill_reject_immediately(ctx *c) {
  aw_promise *p = pending(c);
  fulfilled_watch(c, p);
  CHECK(c, aw_promise_resolve(p, dummy(c)) == 0);
  CHECK(c, aw_promise_reject(p, dummy(c)) == 0);
  later(c, T100, l_done, NULL, aw_undefined());
}

static void b_2_1_2_fulfill_reject_delayed(ctx *c) {
  aw_promise *p = pending(c);
  fulfilled_watch(c, p);
  later(c, T50, l_resolve_reject, ref(p), dummy(c));
  later(c, T100, l_done, NULL, aw_undefined());
}

static void b_2_1_2_fulfill_now_reject_delayed(ctx *c) {
  aw_promise *p = pending(c);
  fulfilled_watch(c, p);
  CHECK(c, aw_promise_resolve(p, dummy(c)) == 0);
  later(c, T50, l_reject, ref(p), dummy(c));
  later(c, T100, l_done, NULL, aw_undefined());
}

/* ===== 2.1.3: When rejected, a promise: must not transition to any other state. ===== */

static void rejected_watch_also(ctx *c, spy *s, aw_val v) {
  (void)s;
  (void)v;
  CHECK(c, c->spies[1].calls == 0); /* onRejectedCalled === false */
}
static void rejected_watch(ctx *c, aw_promise *p) {
  spy *f = spy_new(c, "onFulfilled", 'F', 0);
  spy *r = spy_new(c, "onRejected", 'R', 1);
  f->also = rejected_watch_also;
  f->calls_done = true;
  then2(c, p, f, r);
}

static void t_rejected_not_fulfilled(ctx *c, aw_promise *p) {
  rejected_watch(c, p);
  later(c, T100, l_done, NULL, aw_undefined());
}
static void b_2_1_3_three(ctx *c) { three(c, false, dummy(c), t_rejected_not_fulfilled); }

static void b_2_1_3_reject_fulfill_immediately(ctx *c) {
  aw_promise *p = pending(c);
  rejected_watch(c, p);
  CHECK(c, aw_promise_reject(p, dummy(c)) == 0);
  CHECK(c, aw_promise_resolve(p, dummy(c)) == 0);
  later(c, T100, l_done, NULL, aw_undefined());
}

static void b_2_1_3_reject_fulfill_delayed(ctx *c) {
  aw_promise *p = pending(c);
  rejected_watch(c, p);
  later(c, T50, l_reject_resolve, ref(p), dummy(c));
  later(c, T100, l_done, NULL, aw_undefined());
}

static void b_2_1_3_reject_now_fulfill_delayed(ctx *c) {
  aw_promise *p = pending(c);
  rejected_watch(c, p);
  CHECK(c, aw_promise_reject(p, dummy(c)) == 0);
  later(c, T50, l_resolve, ref(p), dummy(c));
  later(c, T100, l_done, NULL, aw_undefined());
}

static const group groups_2_1[] = {
    {"2.1.2.1: When fulfilled, a promise: must not transition to any other state.",
     M_FULFILLED,
     b_2_1_2_three,
     {NULL}},
    {"2.1.2.1: trying to fulfill then immediately reject",
     M_ONCE,
     b_2_1_2_fulfill_reject_immediately,
     {NULL}},
    {"2.1.2.1: trying to fulfill then reject, delayed",
     M_ONCE,
     b_2_1_2_fulfill_reject_delayed,
     {NULL}},
    {"2.1.2.1: trying to fulfill immediately then reject delayed",
     M_ONCE,
     b_2_1_2_fulfill_now_reject_delayed,
     {NULL}},
    {"2.1.3.1: When rejected, a promise: must not transition to any other state.",
     M_REJECTED,
     b_2_1_3_three,
     {NULL}},
    {"2.1.3.1: trying to reject then immediately fulfill",
     M_ONCE,
     b_2_1_3_reject_fulfill_immediately,
     {NULL}},
    {"2.1.3.1: trying to reject then fulfill, delayed",
     M_ONCE,
     b_2_1_3_reject_fulfill_delayed,
     {NULL}},
    {"2.1.3.1: trying to reject immediately then fulfill delayed",
     M_ONCE,
     b_2_1_3_reject_now_fulfill_delayed,
     {NULL}},
};
const group_table aplus_2_1_groups = {groups_2_1, sizeof groups_2_1 / sizeof groups_2_1[0]};

/* ===== 2.2.1: Both `onFulfilled` and `onRejected` are optional arguments. ===== */

static void b_2_2_1_1(ctx *c) {
  /* rejected(dummy).then(nonFunction, function () { done(); }) */
  aw_promise *p = hold_p(c, aw_promise_rejected(c->L, dummy(c)));
  spy *r = spy_new(c, "onRejected", 0, 1);
  r->calls_done = true;
  then2(c, p, NULL, r);
}

static void b_2_2_1_2(ctx *c) {
  /* resolved(dummy).then(function () { done(); }, nonFunction) */
  aw_promise *p = hold_p(c, aw_promise_resolved(c->L, dummy(c)));
  spy *f = spy_new(c, "onFulfilled", 0, 1);
  f->calls_done = true;
  then2(c, p, f, NULL);
}

/* ===== 2.2.2: If `onFulfilled` is a function, ===== */

/* 2.2.2.1: testFulfilled(sentinel, then(value === sentinel; done)) */
static void b_2_2_2_1(ctx *c) {
  c->want = &c->sentinel;
  three(c, true, aw_retain_val(c->sentinel), test_fulfils_with);
}

/* 2.2.2.2: fulfilled after a delay */
static void b_2_2_2_2_delay(ctx *c) {
  aw_promise *p = pending(c);
  then_f(c, p, h_check_flag_done); /* isFulfilled === true */
  later(c, T50, l_resolve_flag, ref(p), dummy(c));
}

/* 2.2.2.2: never fulfilled */
static void l_check_never(ctx *c, aw_obj *t, aw_val v) {
  (void)t;
  (void)v;
  CHECK(c, c->spies[0].calls == 0);
  done(c);
}
static void b_2_2_2_2_never(ctx *c) {
  aw_promise *p = pending(c);
  spy *f = spy_new(c, "onFulfilled", 0, 0);
  f->calls_done = true;
  then2(c, p, f, NULL);
  later(c, T150, l_check_never, NULL, aw_undefined());
}

/* 2.2.2.3 / 2.2.3.2: it must not be called more than once. `timesCalled` is
 * the spy's count, checked (=== 1) when the loop is done. */
static spy *once_spy(ctx *c, bool fulfil, aw_promise *p) {
  spy *s = spy_new(c, fulfil ? "onFulfilled" : "onRejected", 0, 1);
  s->calls_done = true;
  then2(c, p, fulfil ? s : NULL, fulfil ? NULL : s);
  return s;
}

static void b_2_2_2_3_already(ctx *c) {
  once_spy(c, true, hold_p(c, aw_promise_resolved(c->L, dummy(c))));
}
static void b_2_2_2_3_immediately(ctx *c) {
  aw_promise *p = pending(c);
  once_spy(c, true, p);
  CHECK(c, aw_promise_resolve(p, dummy(c)) == 0);
  CHECK(c, aw_promise_resolve(p, dummy(c)) == 0);
}
static void b_2_2_2_3_delayed(ctx *c) {
  aw_promise *p = pending(c);
  once_spy(c, true, p);
  later(c, T50, l_resolve_twice, ref(p), dummy(c));
}
static void b_2_2_2_3_immediately_then_delayed(ctx *c) {
  aw_promise *p = pending(c);
  once_spy(c, true, p);
  CHECK(c, aw_promise_resolve(p, dummy(c)) == 0);
  later(c, T50, l_resolve, ref(p), dummy(c));
}

/* when multiple `then` calls are made, spaced apart in time */
static void l_then_spy(ctx *c, aw_obj *t, aw_val v) { then2(c, (aw_promise *)t, v.u.p, NULL); }

static void b_2_2_2_3_spaced(ctx *c) {
  aw_promise *p = pending(c);
  spy *s1 = spy_new(c, "onFulfilled #1", '1', 1);
  spy *s2 = spy_new(c, "onFulfilled #2", '2', 1);
  spy *s3 = spy_new(c, "onFulfilled #3", '3', 1);
  s3->calls_done = true;
  then2(c, p, s1, NULL);
  later(c, T50, l_then_spy, ref(p), aw_ptr(s2));
  later(c, T100, l_then_spy, ref(p), aw_ptr(s3));
  later(c, T150, l_resolve, ref(p), dummy(c));
}

/* when `then` is interleaved with fulfillment */
static void b_2_2_2_3_interleaved(ctx *c) {
  aw_promise *p = pending(c);
  spy *s1 = spy_new(c, "onFulfilled #1", '1', 1);
  spy *s2 = spy_new(c, "onFulfilled #2", '2', 1);
  s2->calls_done = true;
  then2(c, p, s1, NULL);
  CHECK(c, aw_promise_resolve(p, dummy(c)) == 0);
  then2(c, p, s2, NULL);
}

/* ===== 2.2.3: If `onRejected` is a function, ===== */

static void b_2_2_3_1(ctx *c) {
  c->want = &c->sentinel;
  three(c, false, aw_retain_val(c->sentinel), test_rejects_with);
}

static void b_2_2_3_2_already(ctx *c) {
  once_spy(c, false, hold_p(c, aw_promise_rejected(c->L, dummy(c))));
}
static void b_2_2_3_2_immediately(ctx *c) {
  aw_promise *p = pending(c);
  once_spy(c, false, p);
  CHECK(c, aw_promise_reject(p, dummy(c)) == 0);
  CHECK(c, aw_promise_reject(p, dummy(c)) == 0);
}
static void b_2_2_3_2_delayed(ctx *c) {
  aw_promise *p = pending(c);
  once_spy(c, false, p);
  later(c, T50, l_reject_twice, ref(p), dummy(c));
}
static void b_2_2_3_2_immediately_then_delayed(ctx *c) {
  aw_promise *p = pending(c);
  once_spy(c, false, p);
  CHECK(c, aw_promise_reject(p, dummy(c)) == 0);
  later(c, T50, l_reject, ref(p), dummy(c));
}

/* The original titles this describe "2.2.2.3" (sic) inside 2.2.3.js. */
static void b_2_2_3_3(ctx *c) { three(c, true, dummy(c), t_fulfilled_not_rejected); }

/* ===== 2.2.4: `onFulfilled` or `onRejected` must not be called until the execution
 * context stack contains only platform code. ===== */

/* `then` returns before the promise becomes fulfilled or rejected */
static void t_then_returns_f(ctx *c, aw_promise *p) {
  c->flag = false;
  then_f(c, p, h_check_flag_done);
  c->flag = true; /* thenHasReturned */
}
static void t_then_returns_r(ctx *c, aw_promise *p) {
  c->flag = false;
  then_r(c, p, h_check_flag_done);
  c->flag = true;
}
static void b_2_2_4_returns_f(ctx *c) { three(c, true, dummy(c), t_then_returns_f); }
static void b_2_2_4_returns_r(ctx *c) { three(c, false, dummy(c), t_then_returns_r); }

/*
 * "when `onFulfilled` is added immediately before/after the promise is
 * fulfilled": synchronous specs without done; the handler must not have run
 * when the code that added it returns. That it runs once afterwards is not
 * in the original (it does not wait), but is 2.2.2.1.
 */
static void added_around_settling(ctx *c, bool fulfil, bool before) {
  aw_promise *p = pending(c);
  spy *s = spy_new(c, fulfil ? "onFulfilled" : "onRejected", 0, 1);
  c->expect_done = 0;
  if (before)
    then2(c, p, fulfil ? s : NULL, fulfil ? NULL : s);
  CHECK(c, (fulfil ? aw_promise_resolve(p, dummy(c)) : aw_promise_reject(p, dummy(c))) == 0);
  if (!before)
    then2(c, p, fulfil ? s : NULL, fulfil ? NULL : s);
  CHECK(c, s->calls == 0);
}
static void b_2_2_4_f_before(ctx *c) { added_around_settling(c, true, true); }
static void b_2_2_4_f_after(ctx *c) { added_around_settling(c, true, false); }
static void b_2_2_4_r_before(ctx *c) { added_around_settling(c, false, true); }
static void b_2_2_4_r_after(ctx *c) { added_around_settling(c, false, false); }

/* One handler added inside another: c->P2 gets the inner one, fulfilled or rejected. */
static aw_val h_add_inner_f(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  ctx *c = arg;
  then_f(c, c->P2, h_check_flag_done); /* firstOnFulfilledFinished === true */
  c->flag = true;
  return aw_undefined();
}
static aw_val h_add_inner_r(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  ctx *c = arg;
  then_r(c, c->P2, h_check_flag_done);
  c->flag = true;
  return aw_undefined();
}

/* when one `onFulfilled` is added inside another `onFulfilled` */
static void b_2_2_4_f_inside_f(ctx *c) {
  c->P = c->P2 = hold_p(c, aw_promise_resolved(c->L, aw_undefined()));
  then_f(c, c->P, h_add_inner_f);
}
/* when `onFulfilled` is added inside an `onRejected` */
static void b_2_2_4_f_inside_r(ctx *c) {
  c->P = hold_p(c, aw_promise_rejected(c->L, aw_undefined()));
  c->P2 = hold_p(c, aw_promise_resolved(c->L, aw_undefined()));
  then_r(c, c->P, h_add_inner_f);
}
/* when `onRejected` is added inside an `onFulfilled` */
static void b_2_2_4_r_inside_f(ctx *c) {
  c->P = hold_p(c, aw_promise_resolved(c->L, aw_undefined()));
  c->P2 = hold_p(c, aw_promise_rejected(c->L, aw_undefined()));
  then_f(c, c->P, h_add_inner_r);
}
/* when one `onRejected` is added inside another `onRejected` */
static void b_2_2_4_r_inside_r(ctx *c) {
  c->P = c->P2 = hold_p(c, aw_promise_rejected(c->L, aw_undefined()));
  then_r(c, c->P, h_add_inner_r);
}

/* when the promise is fulfilled/rejected asynchronously */
static void b_2_2_4_f_async(ctx *c) {
  aw_promise *p = pending(c);
  later(c, T0, l_resolve_flag, ref(p), dummy(c)); /* firstStackFinished = true after */
  then_f(c, p, h_check_flag_done);
}
static void b_2_2_4_r_async(ctx *c) {
  aw_promise *p = pending(c);
  later(c, T0, l_reject_flag, ref(p), dummy(c));
  then_r(c, p, h_check_flag_done);
}

/* ===== 2.2.6: `then` may be called multiple times on the same promise. ===== */

/*
 * multiple boring handlers / ... one of which throws: handler1..3 return
 * `other` (handler2 throws it), `spy` is the other handler of each call and
 * must never run; the last then checks them all.
 */
static aw_val h_2_2_6_check(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  ctx *c = arg;
  CHECK(c, same(v, c->sentinel));
  for (int i = 0; i < 3; i++)
    CHECK(c, c->spies[i].calls >= 1); /* calledWith(handler_i, same(sentinel)) */
  CHECK(c, c->spies[3].calls == 0);   /* notCalled(spy) */
  done(c);
  return aw_undefined();
}

static void three_handlers(ctx *c, aw_promise *p, bool fulfil, bool second_throws) {
  static const char *const names[3] = {"handler1", "handler2", "handler3"};
  spy *h[3];
  for (int i = 0; i < 3; i++) {
    h[i] = spy_new(c, names[i], (char)('1' + i), 1);
    h[i]->want = &c->sentinel;
    h[i]->ret = &c->other;
  }
  h[1]->throws = second_throws;
  spy *sp = spy_new(c, "spy", 0, 0);
  for (int i = 0; i < 3; i++)
    then2(c, p, fulfil ? h[i] : sp, fulfil ? sp : h[i]);
  if (fulfil)
    then_f(c, p, h_2_2_6_check);
  else
    then_r(c, p, h_2_2_6_check);
}
static void t_boring_f(ctx *c, aw_promise *p) { three_handlers(c, p, true, false); }
static void t_throws_f(ctx *c, aw_promise *p) { three_handlers(c, p, true, true); }
static void t_boring_r(ctx *c, aw_promise *p) { three_handlers(c, p, false, false); }
static void t_throws_r(ctx *c, aw_promise *p) { three_handlers(c, p, false, true); }
static void b_2_2_6_1_boring(ctx *c) { three(c, true, aw_retain_val(c->sentinel), t_boring_f); }
static void b_2_2_6_1_throws(ctx *c) { three(c, true, aw_retain_val(c->sentinel), t_throws_f); }
static void b_2_2_6_2_boring(ctx *c) { three(c, false, aw_retain_val(c->sentinel), t_boring_r); }
static void b_2_2_6_2_throws(ctx *c) { three(c, false, aw_retain_val(c->sentinel), t_throws_r); }

/* results in multiple branching chains with their own fulfillment values */
static aw_val h_ret_sentinel(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  return aw_retain_val(((ctx *)arg)->sentinel);
}
static aw_val h_throw_sentinel2(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  return aw_throw(aw_retain_val(((ctx *)arg)->sentinel2));
}
static aw_val h_ret_sentinel3(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  return aw_retain_val(((ctx *)arg)->sentinel3);
}

/*
 * The stored copy of 2.2.6.js (promises-aplus/promises-tests@8c6d86b) has the
 * rejection variant's first and third chains continue with
 * `.then(null, function (value) ...)`, which can never run (those chains
 * fulfil) and so never reaches done; upstream's later version continues them
 * with `.then(function (value) ...)`, as here.
 */
static void branching(ctx *c, aw_promise *p, bool fulfil) {
  aw_promise *p1 = fulfil ? then_f(c, p, h_ret_sentinel) : then_r(c, p, h_ret_sentinel);
  aw_promise *p2 = fulfil ? then_f(c, p, h_throw_sentinel2) : then_r(c, p, h_throw_sentinel2);
  aw_promise *p3 = fulfil ? then_f(c, p, h_ret_sentinel3) : then_r(c, p, h_ret_sentinel3);
  spy *s1 = spy_new(c, "chain 1 onFulfilled", 0, 1);
  spy *s2 = spy_new(c, "chain 2 onRejected", 0, 1);
  spy *s3 = spy_new(c, "chain 3 onFulfilled", 0, 1);
  s1->want = &c->sentinel;
  s2->want = &c->sentinel2;
  s3->want = &c->sentinel3;
  s1->semi = s2->semi = s3->semi = true; /* callbackAggregator(3, done) */
  then2(c, p1, s1, NULL);
  then2(c, p2, NULL, s2);
  then2(c, p3, s3, NULL);
}
static void t_branching_f(ctx *c, aw_promise *p) { branching(c, p, true); }
static void t_branching_r(ctx *c, aw_promise *p) { branching(c, p, false); }
static void b_2_2_6_1_branching(ctx *c) { three(c, true, dummy(c), t_branching_f); }
static void b_2_2_6_2_branching(ctx *c) {
  three(c, false, aw_retain_val(c->sentinel), t_branching_r);
}

/* handlers are called in the original order */
static aw_val h_check_order_done(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  ctx *c = arg;
  if (strcmp(c->log, "123") != 0)
    failf(c, "handlers ran in the order \"%s\", expected \"123\"", c->log);
  done(c);
  return aw_undefined();
}
static void in_order(ctx *c, aw_promise *p, bool fulfil) {
  for (int i = 0; i < 3; i++) {
    spy *h = spy_new(c, "handler", (char)('1' + i), 1);
    then2(c, p, fulfil ? h : NULL, fulfil ? NULL : h);
  }
  if (fulfil)
    then_f(c, p, h_check_order_done);
  else
    then_r(c, p, h_check_order_done);
}
static void t_order_f(ctx *c, aw_promise *p) { in_order(c, p, true); }
static void t_order_r(ctx *c, aw_promise *p) { in_order(c, p, false); }
static void b_2_2_6_1_order(ctx *c) { three(c, true, dummy(c), t_order_f); }
static void b_2_2_6_2_order(ctx *c) { three(c, false, dummy(c), t_order_r); }

/* even when one handler is added inside another handler */
static aw_val h_first_adds_third(aw_loop *L, aw_val v, void *arg) {
  ctx *c = arg;
  spy_fn(L, v, &c->spies[0]); /* handler1() */
  if (c->flag)                /* fulfilment case */
    then2(c, c->P, &c->spies[2], NULL);
  else
    then2(c, c->P, NULL, &c->spies[2]);
  return aw_undefined();
}
static void l_check_order_done(ctx *c, aw_obj *t, aw_val v) {
  h_check_order_done(c->L, v, c);
  (void)t;
}
static aw_val h_wait_then_check(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  ctx *c = arg;
  /* "Give implementations a bit of extra time to flush their internal queue" */
  later(c, T15, l_check_order_done, NULL, aw_undefined());
  return aw_undefined();
}
static void nested_order(ctx *c, aw_promise *p, bool fulfil) {
  c->P = p;
  c->flag = fulfil;
  spy_new(c, "handler1", '1', 1);
  spy *h2 = spy_new(c, "handler2", '2', 1);
  spy_new(c, "handler3", '3', 1);
  if (fulfil) {
    then_f(c, p, h_first_adds_third);
    then2(c, p, h2, NULL);
    then_f(c, p, h_wait_then_check);
  } else {
    then_r(c, p, h_first_adds_third);
    then2(c, p, NULL, h2);
    then_r(c, p, h_wait_then_check);
  }
}
static void t_nested_f(ctx *c, aw_promise *p) { nested_order(c, p, true); }
static void t_nested_r(ctx *c, aw_promise *p) { nested_order(c, p, false); }
static void b_2_2_6_1_nested(ctx *c) { three(c, true, dummy(c), t_nested_f); }
static void b_2_2_6_2_nested(ctx *c) { three(c, false, dummy(c), t_nested_r); }

/* ===== 2.2.7: `then` must return a promise ===== */

static void b_2_2_7_is_promise(ctx *c) {
  aw_promise *p1 = pending(c);
  aw_promise *p2 = aw_promise_then(p1, NULL, NULL, NULL);
  CHECK(c, p2 != NULL);
  if (p2) {
    CHECK(c, aw_is_promise(aw_obj_val(p2)));
    CHECK(c, p2 != p1);
    hold_p(c, p2);
  }
  c->expect_done = 0; /* a synchronous spec */
}

/* 2.2.7.2: If either `onFulfilled` or `onRejected` throws an exception `e`,
 * `promise2` must be rejected with `e` as the reason. */
static aw_val h_throw_value(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  ctx *c = arg;
  return aw_throw(aw_retain_val(c->value));
}
static void t_2_2_7_2_f(ctx *c, aw_promise *p1) {
  test_rejects_with(c, then_f(c, p1, h_throw_value));
}
static void t_2_2_7_2_r(ctx *c, aw_promise *p1) {
  test_rejects_with(c, then_r(c, p1, h_throw_value));
}
static void b_2_2_7_2_f(ctx *c) {
  c->value = make_reason(c, c->ix[0]);
  c->want = &c->value;
  three(c, true, dummy(c), t_2_2_7_2_f);
}
static void b_2_2_7_2_r(ctx *c) {
  c->value = make_reason(c, c->ix[0]);
  c->want = &c->value;
  three(c, false, dummy(c), t_2_2_7_2_r);
}

/* 2.2.7.3 / 2.2.7.4: a non-function handler passes the value/reason through. */
static void t_2_2_7_3(ctx *c, aw_promise *p1) {
  test_fulfils_with(c, hold_p(c, aw_promise_then(p1, NULL, NULL, NULL)));
}
static void t_2_2_7_4(ctx *c, aw_promise *p1) {
  test_rejects_with(c, hold_p(c, aw_promise_then(p1, NULL, NULL, NULL)));
}
static void b_2_2_7_3(ctx *c) {
  c->want = &c->sentinel;
  three(c, true, aw_retain_val(c->sentinel), t_2_2_7_3);
}
static void b_2_2_7_4(ctx *c) {
  c->want = &c->sentinel;
  three(c, false, aw_retain_val(c->sentinel), t_2_2_7_4);
}

static const group groups_2_2[] = {
    {"2.2.1.1: If `onFulfilled` is not a function, it must be ignored. `onFulfilled` is NULL",
     M_ONCE,
     b_2_2_1_1,
     {NULL}},
    {"2.2.1.2: If `onRejected` is not a function, it must be ignored. `onRejected` is NULL",
     M_ONCE,
     b_2_2_1_2,
     {NULL}},

    {"2.2.2.1: it must be called after `promise` is fulfilled, with `promise`'s fulfillment value "
     "as its first argument.",
     M_FULFILLED,
     b_2_2_2_1,
     {NULL}},
    {"2.2.2.2: it must not be called before `promise` is fulfilled: fulfilled after a delay",
     M_ONCE,
     b_2_2_2_2_delay,
     {NULL}},
    {"2.2.2.2: it must not be called before `promise` is fulfilled: never fulfilled",
     M_ONCE,
     b_2_2_2_2_never,
     {NULL}},
    {"2.2.2.3: it must not be called more than once: already-fulfilled",
     M_ONCE,
     b_2_2_2_3_already,
     {NULL}},
    {"2.2.2.3: trying to fulfill a pending promise more than once, immediately",
     M_ONCE,
     b_2_2_2_3_immediately,
     {NULL}},
    {"2.2.2.3: trying to fulfill a pending promise more than once, delayed",
     M_ONCE,
     b_2_2_2_3_delayed,
     {NULL}},
    {"2.2.2.3: trying to fulfill a pending promise more than once, immediately then delayed",
     M_ONCE,
     b_2_2_2_3_immediately_then_delayed,
     {NULL}},
    {"2.2.2.3: when multiple `then` calls are made, spaced apart in time",
     M_ONCE,
     b_2_2_2_3_spaced,
     {NULL}},
    {"2.2.2.3: when `then` is interleaved with fulfillment", M_ONCE, b_2_2_2_3_interleaved, {NULL}},

    {"2.2.3.1: it must be called after `promise` is rejected, with `promise`'s reason as its first "
     "argument.",
     M_REJECTED,
     b_2_2_3_1,
     {NULL}},
    {"2.2.3.2: it must not be called more than once: already-rejected",
     M_ONCE,
     b_2_2_3_2_already,
     {NULL}},
    {"2.2.3.2: trying to reject a pending promise more than once, immediately",
     M_ONCE,
     b_2_2_3_2_immediately,
     {NULL}},
    {"2.2.3.2: trying to reject a pending promise more than once, delayed",
     M_ONCE,
     b_2_2_3_2_delayed,
     {NULL}},
    {"2.2.3.2: trying to reject a pending promise more than once, immediately then delayed",
     M_ONCE,
     b_2_2_3_2_immediately_then_delayed,
     {NULL}},
    {"2.2.3.3: it must not be called if `onFulfilled` has already been called.",
     M_FULFILLED,
     b_2_2_3_3,
     {NULL}},

    {"2.2.4: `then` returns before the promise becomes fulfilled or rejected",
     M_FULFILLED,
     b_2_2_4_returns_f,
     {NULL}},
    {"2.2.4: `then` returns before the promise becomes fulfilled or rejected",
     M_REJECTED,
     b_2_2_4_returns_r,
     {NULL}},
    {"2.2.4: (fulfillment) when `onFulfilled` is added immediately before the promise is fulfilled",
     M_ONCE,
     b_2_2_4_f_before,
     {NULL}},
    {"2.2.4: (fulfillment) when `onFulfilled` is added immediately after the promise is fulfilled",
     M_ONCE,
     b_2_2_4_f_after,
     {NULL}},
    {"2.2.4: (fulfillment) when one `onFulfilled` is added inside another `onFulfilled`",
     M_ONCE,
     b_2_2_4_f_inside_f,
     {NULL}},
    {"2.2.4: (fulfillment) when `onFulfilled` is added inside an `onRejected`",
     M_ONCE,
     b_2_2_4_f_inside_r,
     {NULL}},
    {"2.2.4: (fulfillment) when the promise is fulfilled asynchronously",
     M_ONCE,
     b_2_2_4_f_async,
     {NULL}},
    {"2.2.4: (rejection) when `onRejected` is added immediately before the promise is rejected",
     M_ONCE,
     b_2_2_4_r_before,
     {NULL}},
    {"2.2.4: (rejection) when `onRejected` is added immediately after the promise is rejected",
     M_ONCE,
     b_2_2_4_r_after,
     {NULL}},
    {"2.2.4: (rejection) when `onRejected` is added inside an `onFulfilled`",
     M_ONCE,
     b_2_2_4_r_inside_f,
     {NULL}},
    {"2.2.4: (rejection) when one `onRejected` is added inside another `onRejected`",
     M_ONCE,
     b_2_2_4_r_inside_r,
     {NULL}},
    {"2.2.4: (rejection) when the promise is rejected asynchronously",
     M_ONCE,
     b_2_2_4_r_async,
     {NULL}},

    {"2.2.6.1: multiple boring fulfillment handlers", M_FULFILLED, b_2_2_6_1_boring, {NULL}},
    {"2.2.6.1: multiple fulfillment handlers, one of which throws",
     M_FULFILLED,
     b_2_2_6_1_throws,
     {NULL}},
    {"2.2.6.1: results in multiple branching chains with their own fulfillment values",
     M_FULFILLED,
     b_2_2_6_1_branching,
     {NULL}},
    {"2.2.6.1: `onFulfilled` handlers are called in the original order",
     M_FULFILLED,
     b_2_2_6_1_order,
     {NULL}},
    {"2.2.6.1: `onFulfilled` handlers are called in the original order, even when one handler is "
     "added inside another handler",
     M_FULFILLED,
     b_2_2_6_1_nested,
     {NULL}},
    {"2.2.6.2: multiple boring rejection handlers", M_REJECTED, b_2_2_6_2_boring, {NULL}},
    {"2.2.6.2: multiple rejection handlers, one of which throws",
     M_REJECTED,
     b_2_2_6_2_throws,
     {NULL}},
    {"2.2.6.2: results in multiple branching chains with their own fulfillment values",
     M_REJECTED,
     b_2_2_6_2_branching,
     {NULL}},
    {"2.2.6.2: `onRejected` handlers are called in the original order",
     M_REJECTED,
     b_2_2_6_2_order,
     {NULL}},
    {"2.2.6.2: `onRejected` handlers are called in the original order, even when one handler is "
     "added inside another handler",
     M_REJECTED,
     b_2_2_6_2_nested,
     {NULL}},

    {"2.2.7: `then` must return a promise: is a promise", M_ONCE, b_2_2_7_is_promise, {NULL}},
    {"2.2.7.2: If `onFulfilled` throws an exception `e`, `promise2` must be rejected with `e` as "
     "the reason. The reason is",
     M_FULFILLED,
     b_2_2_7_2_f,
     {&reasons_dim}},
    {"2.2.7.2: If `onRejected` throws an exception `e`, `promise2` must be rejected with `e` as "
     "the "
     "reason. The reason is",
     M_REJECTED,
     b_2_2_7_2_r,
     {&reasons_dim}},
    {"2.2.7.3: If `onFulfilled` is not a function (NULL) and `promise1` is fulfilled, `promise2` "
     "must be fulfilled with the same value.",
     M_FULFILLED,
     b_2_2_7_3,
     {NULL}},
    {"2.2.7.4: If `onRejected` is not a function (NULL) and `promise1` is rejected, `promise2` "
     "must "
     "be rejected with the same reason.",
     M_REJECTED,
     b_2_2_7_4,
     {NULL}},
};
const group_table aplus_2_2_groups = {groups_2_2, sizeof groups_2_2 / sizeof groups_2_2[0]};
