/*
 * tests/unit/test_async.c — async functions (aw/async.h): the synchronous
 * prefix, AW_AWAIT of values, promises, thenables and rejections,
 * AW_AWAIT_SETTLED, AW_THROW, AW_CLEANUP, return values and their ticks,
 * constant C stack over deep recursion and long await loops, and frames that
 * can never resume.
 *
 * Expected orders are Node's; several are programs of the conformance corpus
 * (cited by number), written here with ticks(n) from unit.h.
 */
#include "unit.h"

typedef struct plain_frame {
  aw_frame frame;
} plain_frame;

/* static aw_promise *name(aw_loop *L): starts the async function with body `body`. */
#define STARTER(name, body)                                                                        \
  static aw_promise *name(aw_loop *L) {                                                            \
    AW_ASYNC_NEW(L, plain_frame, body, f);                                                         \
    return aw_async_start(&f->frame);                                                              \
  }

/*
 * A frame with fields that hold references: label (static), arg (a value),
 * wait (a promise to await). Its dispose function releases them; it runs
 * whenever the frame is freed, after the function completed and when it is
 * dropped because it can never resume. It counts its calls in g_disposed and,
 * for frames made "loud", logs "dispose:<label>" so a test sees when.
 */
typedef struct arg_frame {
  aw_frame frame;
  const char *label;
  aw_val arg;
  aw_promise *wait;
  bool loud;
} arg_frame;

static int g_disposed;

static void arg_frame_dispose(aw_frame *self) {
  arg_frame *f = (arg_frame *)self;
  g_disposed++;
  if (f->loud)
    ulog("dispose:%s", f->label);
  aw_release_val(f->arg);
  f->arg = aw_undefined();
  aw_release(f->wait);
  f->wait = NULL;
}

/* Hands the frame's promise over to an await (the field no longer holds it). */
static aw_promise *take_wait(arg_frame *f) {
  aw_promise *w = f->wait;
  f->wait = NULL;
  return w;
}

/* Starts `body` with an arg_frame; the promise goes to result_ (declared by the caller). */
#define ARG_ASYNC(L, body, lbl, a, w, is_loud)                                                     \
  do {                                                                                             \
    AW_ASYNC_NEW_DISPOSE(L, arg_frame, body, arg_frame_dispose, f_);                               \
    f_->label = (lbl);                                                                             \
    f_->arg = (a);                                                                                 \
    f_->wait = (w);                                                                                \
    f_->loud = (is_loud);                                                                          \
    result_ = aw_async_start(&f_->frame);                                                          \
  } while (0)

/* ---- the synchronous prefix ----------------------------------------------------- */

static void prefix_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  ulog("start");
  AW_AWAIT_IGNORE(aw_int(1));
  ulog("after-await");
  AW_RETURN(aw_int(2));
  AW_END;
}

static void test_body_runs_synchronously_until_its_first_await(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  AW_ASYNC_NEW(L, plain_frame, prefix_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  ulog("returned");
  assert_log("start returned");
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  assert_int_equal(unit_stats(L).frames, 1);
  run_ok(L);
  assert_log("start returned after-await");
  assert_int_equal(aw_promise_result(p).u.i, 2);
  aw_release(p);
  unit_finish(L);
}

static void no_await_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_string("now"));
  AW_END;
}

static void test_function_without_await_settles_before_start_returns(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  AW_ASYNC_NEW(L, plain_frame, no_await_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  assert_int_equal(aw_promise_state(p), AW_FULFILLED);
  assert_string_equal(aw_cstr(aw_promise_result(p)), "now");
  assert_int_equal(unit_stats(L).frames, 0);
  aw_release(p);
  unit_finish(L);
}

static void falls_off_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_int(1));
  AW_END;
}

static void test_falling_off_the_end_returns_undefined(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  AW_ASYNC_NEW(L, plain_frame, falls_off_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  run_ok(L);
  assert_int_equal(aw_promise_state(p), AW_FULFILLED);
  assert_true(aw_is_undefined(aw_promise_result(p)));
  aw_release(p);
  unit_finish(L);
}

/* 004: an async call inside an async function runs its prefix inside the caller's. */
static void g_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  ulog("g1");
  AW_AWAIT_IGNORE(aw_null());
  ulog("g2");
  AW_RETURN(aw_string("gv"));
  AW_END;
}
static aw_promise *g_fn(aw_loop *L) {
  AW_ASYNC_NEW(L, plain_frame, g_body, f);
  return aw_async_start(&f->frame);
}
static void f_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  ulog("f1");
  aw_val v;
  AW_AWAIT(v, g_fn(L));
  ulogv("f2", v);
  aw_release_val(v);
  AW_END;
}

static void test_async_call_inside_async_runs_its_prefix_inline(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  ulog("s1");
  AW_ASYNC_NEW(L, plain_frame, f_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  ulog("s2");
  aw_promise *r = aw_promise_resolved(L, aw_undefined());
  aw_promise *p1 = aw_promise_then(r, h_mark, NULL, "p1");
  aw_promise *p2 = aw_promise_then(p1, h_mark, NULL, "p2");
  then_drop(p2, h_mark, NULL, "p3");
  run_ok(L);
  assert_log("s1 f1 g1 s2 g2 p1 f2:gv p2 p3");
  aw_release(r);
  aw_release(p1);
  aw_release(p2);
  aw_release(p);
  unit_finish(L);
}

/* ---- await ------------------------------------------------------------------------ */

/* f1 = await arg; f2 = await arg. */
static void await_twice_body(aw_loop *L, aw_frame *self) {
  arg_frame *f = (arg_frame *)self;
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, aw_retain_val(f->arg));
  ulogv("f1", v);
  aw_release_val(v);
  AW_AWAIT(v, aw_retain_val(f->arg));
  ulogv("f2", v);
  aw_release_val(v);
  AW_END;
}

static aw_promise *await_twice(aw_loop *L, aw_val arg) {
  aw_promise *result_;
  ARG_ASYNC(L, await_twice_body, "await_twice", arg, NULL, false);
  return result_;
}

static void test_await_of_a_value_takes_one_tick(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = await_twice(L, aw_int(5));
  ticks(L, 3);
  run_ok(L);
  assert_log("f1:5 t1 f2:5 t2 t3");
  aw_release(p);
  unit_finish(L);
}

static void test_await_of_a_fulfilled_promise_takes_one_tick(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = await_twice(L, aw_obj_val(aw_promise_resolved(L, aw_string("pv"))));
  ticks(L, 3);
  run_ok(L);
  assert_log("f1:pv t1 f2:pv t2 t3");
  aw_release(p);
  unit_finish(L);
}

static void test_await_of_an_object_value_hands_back_a_reference(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = await_twice(L, aw_string("s")); /* each await got its own reference */
  run_ok(L);
  assert_log("f1:s f2:s");
  aw_release(p);
  unit_finish(L);
}

/* v = await wait; logs it; returns it. */
static void await_wait_body(aw_loop *L, aw_frame *self) {
  arg_frame *f = (arg_frame *)self;
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, take_wait(f));
  ulogv("got", v);
  AW_RETURN(v);
  AW_END;
}

static aw_promise *await_wait(aw_loop *L, const char *label, aw_promise *wait) {
  aw_promise *result_;
  ARG_ASYNC(L, await_wait_body, label, aw_undefined(), wait, false);
  return result_;
}

static void test_await_of_a_pending_promise_resumes_after_it_settles(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *q = aw_promise_new(L);
  aw_promise *p = await_wait(L, "w", aw_retain(q));
  run_ok(L);
  assert_log("");
  assert_int_equal(unit_stats(L).frames, 1);
  aw_promise_resolve(q, aw_string("x"));
  run_ok(L);
  assert_log("got:x");
  assert_string_equal(aw_cstr(aw_promise_result(p)), "x");
  aw_release(q);
  aw_release(p);
  unit_finish(L);
}

static void test_await_of_a_rejection_throws_it_to_the_promise(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_val err = aw_err("Error", "awaited");
  aw_promise *p = await_wait(L, "w", aw_promise_rejected(L, aw_retain_val(err)));
  then_drop(p, h_never, h_log, "caught");
  run_ok(L);
  assert_log("caught:Error: awaited");                 /* "got" never logged */
  assert_ptr_equal(aw_promise_result(p).u.o, err.u.o); /* the same reason, not a copy */
  aw_release_val(err);
  aw_release(p);
  unit_finish(L);
}

static aw_val then_logs_resolves_tv(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  ulog("%s", (const char *)arg);
  aw_resolver_resolve(r, aw_string("tv"));
  return aw_undefined();
}

static void thenable_await_body(aw_loop *L, aw_frame *self) {
  arg_frame *f = (arg_frame *)self;
  AW_BEGIN(self);
  ulog("fstart");
  aw_val v;
  AW_AWAIT(v, aw_retain_val(f->arg));
  ulogv("got", v);
  aw_release_val(v);
  AW_END;
}

/* 009: await of a thenable calls its then in a job of its own: two ticks, not one. */
static void test_await_of_a_thenable_adopts_it_in_two_ticks(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  ticks(L, 4);
  aw_promise *p;
  {
    aw_promise *result_;
    ARG_ASYNC(L, thenable_await_body, "th", aw_obj_val(thenable_new(then_logs_resolves_tv, "then")),
              NULL, false);
    p = result_;
  }
  run_ok(L);
  assert_log("fstart t1 then t2 got:tv t3 t4");
  aw_release(p);
  unit_finish(L);
}

static aw_val then_bad(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)r;
  (void)arg;
  ulog("bad.then");
  return aw_throw(aw_err("Error", "then threw"));
}
static aw_val then_late(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  (void)arg;
  ulog("late.then");
  aw_resolver_resolve(r, aw_string("first"));
  return aw_throw(aw_err("Error", "ignored"));
}

static void thenable_throws_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT_SETTLED(v, thenable_new(then_bad, NULL));
  ulogv(aw_is_thrown(v) ? "caught" : "NOT-THROWN", v);
  aw_release_val(v);
  AW_AWAIT(v, thenable_new(then_late, NULL));
  ulogv("late", v);
  aw_release_val(v);
  AW_END;
}

/* 010 */
static void test_await_of_a_throwing_thenable_rejects_unless_it_resolved_first(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  ticks(L, 6);
  AW_ASYNC_NEW(L, plain_frame, thenable_throws_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  run_ok(L);
  assert_log("t1 bad.then t2 caught:Error: then threw t3 late.then t4 late:first t5 t6");
  aw_release(p);
  unit_finish(L);
}

static void settled_body(aw_loop *L, aw_frame *self) {
  arg_frame *f = (arg_frame *)self;
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT_SETTLED(v, take_wait(f));
  ulogv(aw_is_thrown(v) ? "thrown" : "value", v);
  aw_release_val(v);
  AW_RETURN(aw_string("carried on"));
  AW_END;
}

static void test_await_settled_hands_back_a_rejection_marked_thrown(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p;
  {
    aw_promise *result_;
    ARG_ASYNC(L, settled_body, "s", aw_undefined(), aw_promise_rejected(L, aw_err("Error", "soft")),
              false);
    p = result_;
  }
  run_ok(L);
  assert_log("thrown:Error: soft");
  assert_int_equal(aw_promise_state(p), AW_FULFILLED);
  assert_string_equal(aw_cstr(aw_promise_result(p)), "carried on");
  aw_release(p);
  unit_finish(L);
}

static void test_await_settled_hands_back_a_value_unmarked(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p;
  {
    aw_promise *result_;
    ARG_ASYNC(L, settled_body, "s", aw_undefined(), aw_promise_resolved(L, aw_int(8)), false);
    p = result_;
  }
  run_ok(L);
  assert_log("value:8");
  aw_release(p);
  unit_finish(L);
}

static void ignore_body(aw_loop *L, aw_frame *self) {
  arg_frame *f = (arg_frame *)self;
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_string("discarded"));
  ulog("ignored");
  AW_AWAIT_IGNORE(take_wait(f));
  ulog("NOT-REACHED");
  AW_END;
}

static void test_await_ignore_discards_values_and_still_throws(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p;
  {
    aw_promise *result_;
    ARG_ASYNC(L, ignore_body, "i", aw_undefined(), aw_promise_rejected(L, aw_err("Error", "e")),
              false);
    p = result_;
  }
  then_drop(p, h_never, h_log, "caught");
  run_ok(L);
  assert_log("ignored caught:Error: e");
  aw_release(p);
  unit_finish(L);
}

/* AW_AWAIT_CATCH: several awaits share one catch label. */
static void await_catch_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  aw_val v, err;
  AW_AWAIT_CATCH(v, aw_int(1), err, caught);
  ulogv("first", v);
  AW_AWAIT_CATCH(v, aw_promise_rejected(L, aw_err("Error", "second")), err, caught);
  ulogv("NOT-REACHED", v);
  AW_RETURN(aw_string("no error"));
caught:
  ulogv("caught", err);
  aw_release_val(err);
  AW_AWAIT(v, aw_int(3)); /* the function goes on awaiting after the catch */
  ulogv("after", v);
  AW_RETURN(aw_string("recovered"));
  AW_END;
}

static void await_catch_clean_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  aw_val v, err;
  AW_AWAIT_CATCH(v, aw_int(1), err, caught);
  AW_AWAIT_CATCH(v, aw_promise_resolved(L, aw_int(v.u.i + 1)), err, caught);
  AW_RETURN(v);
caught:
  ulogv("NOT-CAUGHT", err);
  aw_release_val(err);
  AW_END;
}

static void test_await_catch_jumps_to_its_label_with_the_reason(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  AW_ASYNC_NEW(L, plain_frame, await_catch_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  AW_ASYNC_NEW(L, plain_frame, await_catch_clean_body, g);
  aw_promise *q = aw_async_start(&g->frame);
  run_ok(L);
  assert_log("first:1 caught:Error: second after:3");
  assert_string_equal(aw_cstr(aw_promise_result(p)), "recovered");
  assert_int_equal(aw_promise_result(q).u.i, 2);
  aw_release(p);
  aw_release(q);
  unit_finish(L);
}

/* A rejection made and awaited inside one job is handled by the await: never reported. */
static void await_fresh_rejection_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null()); /* from here on the body runs as a microtask job */
  aw_val v;
  AW_AWAIT_SETTLED(v, aw_promise_rejected(L, aw_err("Error", "handled by await")));
  ulogv("settled", v);
  aw_release_val(v);
  AW_END;
}

static void test_rejection_awaited_right_away_is_not_reported(void **state) {
  (void)state;
  aw_loop *L = unit_loop(); /* unhandled rejections throw */
  AW_ASYNC_NEW(L, plain_frame, await_fresh_rejection_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  run_ok(L);
  assert_log("settled:Error: handled by await");
  aw_release(p);
  unit_finish(L);
}

static aw_promise *g_reported;
static void hook_unhandled(aw_loop *L, aw_val reason, aw_promise *p, void *arg) {
  (void)L;
  (void)p;
  (void)arg;
  ulogv("unhandled", reason);
}
static void hook_handled(aw_loop *L, aw_promise *p, void *arg) {
  (void)L;
  (void)arg;
  ulog("handled%s", p == g_reported ? "" : "(WRONG PROMISE)");
}
static void late_awaiter_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null()); /* from here on the body runs as a microtask job */
  aw_val v;
  AW_AWAIT_SETTLED(v, aw_retain(g_reported));
  ulogv("settled", v);
  aw_release_val(v);
  AW_END;
}

/* Awaiting a rejection that was already reported handles it: 'rejectionHandled'. */
static void test_awaiting_a_reported_rejection_emits_rejection_handled(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on_unhandled_rejection(L, hook_unhandled, NULL);
  aw_loop_on_rejection_handled(L, hook_handled, NULL);
  g_reported = aw_promise_rejected(L, aw_err("Error", "boom"));
  run_ok(L);
  assert_log("unhandled:Error: boom");
  AW_ASYNC_NEW(L, plain_frame, late_awaiter_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  run_ok(L);
  assert_log("unhandled:Error: boom settled:Error: boom handled");
  aw_release(p);
  aw_release(g_reported);
  unit_finish(L);
}

/* ---- throw ----------------------------------------------------------------------- */

static void throw_now_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_THROW(aw_err("Error", "sync throw"));
  AW_END;
}

static void test_throw_before_the_first_await_rejects_before_start_returns(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  AW_ASYNC_NEW(L, plain_frame, throw_now_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  assert_int_equal(aw_promise_state(p), AW_REJECTED);
  assert_error(aw_promise_result(p), "Error", "sync throw");
  then_drop(p, h_never, h_mark, "handled");
  run_ok(L);
  assert_log("handled");
  aw_release(p);
  unit_finish(L);
}

static void throw_later_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null());
  AW_THROW(5); /* any value can be thrown */
  AW_END;
}

static void test_throw_after_an_await_rejects_with_the_value(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  AW_ASYNC_NEW(L, plain_frame, throw_later_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  then_drop(p, h_never, h_log, "caught");
  run_ok(L);
  assert_log("caught:5");
  assert_false(aw_is_thrown(aw_promise_result(p)));
  aw_release(p);
  unit_finish(L);
}

static void test_async_function_promise_refuses_public_resolve(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *q = aw_promise_new(L);
  aw_promise *p = await_wait(L, "w", aw_retain(q));
  assert_int_equal(aw_promise_resolve(p, aw_int(1)), -EPERM);
  assert_int_equal(aw_promise_reject(p, aw_string("x")), -EPERM);
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  aw_promise_resolve(q, aw_int(2));
  run_ok(L);
  assert_int_equal(aw_promise_result(p).u.i, 2);
  aw_release(q);
  aw_release(p);
  unit_finish(L);
}

/* ---- return values and their ticks ----------------------------------------------- */

static void ret_native_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_promise_resolved(L, aw_string("d")));
  AW_END;
}
static void ret_awaited_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, aw_promise_resolved(L, aw_string("a")));
  AW_RETURN(v);
  AW_END;
}
static void ret_value_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_string("v"));
  AW_END;
}
STARTER(ret_native, ret_native_body)
STARTER(ret_awaited, ret_awaited_body)
STARTER(ret_value, ret_value_body)

/* 013: return p costs two ticks more than return v, and one more than return await p. */
static void test_returning_a_promise_costs_two_ticks_more_than_a_value(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *d = ret_native(L);
  then_drop(d, h_log, NULL, "direct");
  aw_promise *a = ret_awaited(L);
  then_drop(a, h_log, NULL, "awaited");
  aw_promise *v = ret_value(L);
  then_drop(v, h_log, NULL, "plain");
  ticks(L, 5);
  run_ok(L);
  assert_log("plain:v t1 awaited:a t2 direct:d t3 t4 t5");
  aw_release(d);
  aw_release(a);
  aw_release(v);
  unit_finish(L);
}

static aw_val then_logs_resolves_label(aw_loop *L, aw_resolver *r, void *arg) {
  (void)L;
  if (strcmp(arg, "thenable") == 0)
    ulog("thenable.then");
  aw_resolver_resolve(r, aw_string(arg));
  return aw_undefined();
}
static void ret_thenable_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(thenable_new(then_logs_resolves_label, "thenable"));
  AW_END;
}
static void ret_awaited_thenable_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, thenable_new(then_logs_resolves_label, "awaited"));
  AW_RETURN(v);
  AW_END;
}
static void ret_native2_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_promise_resolved(L, aw_string("native")));
  AW_END;
}
static void ret_value2_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_string("value"));
  AW_END;
}

/* 018 */
static void test_returning_a_thenable_costs_one_tick_more_than_a_value(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  ticks(L, 6);
  aw_promise *p[4];
  {
    AW_ASYNC_NEW(L, plain_frame, ret_native2_body, f);
    p[0] = aw_async_start(&f->frame);
  }
  {
    AW_ASYNC_NEW(L, plain_frame, ret_thenable_body, f);
    p[1] = aw_async_start(&f->frame);
  }
  {
    AW_ASYNC_NEW(L, plain_frame, ret_awaited_thenable_body, f);
    p[2] = aw_async_start(&f->frame);
  }
  {
    AW_ASYNC_NEW(L, plain_frame, ret_value2_body, f);
    p[3] = aw_async_start(&f->frame);
  }
  for (int i = 0; i < 4; i++)
    then_drop(p[i], h_log, NULL, "v");
  run_ok(L);
  assert_log("t1 thenable.then v:value t2 v:thenable t3 v:native v:awaited t4 t5 t6");
  for (int i = 0; i < 4; i++)
    aw_release(p[i]);
  unit_finish(L);
}

/* ---- AW_CLEANUP ------------------------------------------------------------------- */

static void fin_return_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_int(0));
  AW_RETURN(aw_string("returned"));
  AW_CLEANUP;
  ulog("finally");
  AW_END_CLEANUP;
}
static void fin_throw_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_int(0));
  AW_THROW(aw_err("Error", "thrown"));
  AW_CLEANUP;
  ulog("finally");
  AW_END_CLEANUP;
}
static void fin_await_reject_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, aw_promise_rejected(L, aw_err("Error", "awaited")));
  ulogv("NOT-REACHED", v);
  AW_CLEANUP;
  ulog("finally");
  AW_END_CLEANUP;
}
static void fin_fallthrough_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_int(0));
  ulog("body");
  AW_CLEANUP;
  ulog("finally");
  AW_END_CLEANUP;
}

STARTER(fin_return, fin_return_body)
STARTER(fin_throw, fin_throw_body)
STARTER(fin_await_reject, fin_await_reject_body)
STARTER(fin_fallthrough, fin_fallthrough_body)

static void test_finally_runs_on_return_and_keeps_the_value(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = fin_return(L);
  then_drop(p, h_log, h_never, "p");
  run_ok(L);
  assert_log("finally p:returned");
  aw_release(p);
  unit_finish(L);
}

static void test_finally_runs_on_throw_and_keeps_the_reason(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = fin_throw(L);
  then_drop(p, h_never, h_log, "p");
  run_ok(L);
  assert_log("finally p:Error: thrown");
  aw_release(p);
  unit_finish(L);
}

static void test_finally_runs_on_an_await_rejection(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = fin_await_reject(L);
  then_drop(p, h_never, h_log, "p");
  run_ok(L);
  assert_log("finally p:Error: awaited");
  aw_release(p);
  unit_finish(L);
}

static void test_finally_runs_once_when_the_body_falls_into_it(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = fin_fallthrough(L);
  then_drop(p, h_log, h_never, "p");
  run_ok(L);
  assert_log("body finally p:undefined");
  aw_release(p);
  unit_finish(L);
}

/* 053: a finally block that awaits; the pending return value or throw stands. */
static aw_promise *g_gate;
typedef struct fail_frame {
  aw_frame frame;
  bool fail;
} fail_frame;
static void fin_awaits_body(aw_loop *L, aw_frame *self) {
  fail_frame *f = (fail_frame *)self;
  AW_BEGIN(self);
  ulog("try:%s", f->fail ? "fail" : "ok");
  AW_AWAIT_IGNORE(aw_null());
  if (f->fail)
    AW_THROW(aw_err("Error", "failed"));
  AW_RETURN(aw_string("returned"));
  AW_CLEANUP;
  ulog("finally-start");
  AW_AWAIT_IGNORE(aw_retain(g_gate));
  ulog("finally-end");
  AW_END_CLEANUP;
}
static aw_promise *fin_awaits(aw_loop *L, bool fail) {
  AW_ASYNC_NEW(L, fail_frame, fin_awaits_body, f);
  f->fail = fail;
  return aw_async_start(&f->frame);
}

static void test_finally_may_await_and_the_outcome_stands(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_gate = aw_promise_new(L);
  aw_promise *ok = fin_awaits(L, false);
  aw_promise *bad = fin_awaits(L, true);
  then_drop(ok, h_log, h_never, "ok");
  then_drop(bad, h_never, h_log, "bad");
  run_ok(L);
  assert_log("try:ok try:fail finally-start finally-start");
  assert_int_equal(aw_promise_state(ok), AW_PENDING);
  ulog("open");
  aw_promise_resolve(g_gate, aw_string("gate value is not the result"));
  run_ok(L);
  assert_log("try:ok try:fail finally-start finally-start open finally-end finally-end "
             "ok:returned bad:Error: failed");
  aw_release(g_gate);
  aw_release(ok);
  aw_release(bad);
  unit_finish(L);
}

static void ret_in_fin_over_throw_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null());
  AW_THROW(aw_err("Error", "replaced"));
  AW_CLEANUP;
  AW_RETURN(7);
  AW_END_CLEANUP;
}
static void ret_in_fin_over_return_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null());
  AW_RETURN(aw_string("replaced"));
  AW_CLEANUP;
  AW_RETURN(aw_string("from finally"));
  AW_END_CLEANUP;
}
static void throw_in_fin_over_return_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null());
  AW_RETURN(aw_string("replaced"));
  AW_CLEANUP;
  AW_THROW(aw_err("Error", "from finally"));
  AW_END_CLEANUP;
}
static void await_reject_in_fin_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null());
  AW_RETURN(aw_string("replaced"));
  AW_CLEANUP;
  AW_AWAIT_IGNORE(aw_promise_rejected(L, aw_err("Error", "awaited in finally")));
  ulog("NOT-REACHED");
  AW_END_CLEANUP;
}

static void test_return_in_finally_overrides_a_throw(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  AW_ASYNC_NEW(L, plain_frame, ret_in_fin_over_throw_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  then_drop(p, h_log, h_never, "p");
  run_ok(L);
  assert_log("p:7");
  aw_release(p);
  unit_finish(L);
}

static void test_return_in_finally_overrides_a_return(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  AW_ASYNC_NEW(L, plain_frame, ret_in_fin_over_return_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  then_drop(p, h_log, h_never, "p");
  run_ok(L);
  assert_log("p:from finally");
  aw_release(p);
  unit_finish(L);
}

static void test_throw_in_finally_overrides_a_return(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  AW_ASYNC_NEW(L, plain_frame, throw_in_fin_over_return_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  then_drop(p, h_never, h_log, "p");
  run_ok(L);
  assert_log("p:Error: from finally");
  aw_release(p);
  unit_finish(L);
}

static void test_await_rejection_in_finally_replaces_the_outcome(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  AW_ASYNC_NEW(L, plain_frame, await_reject_in_fin_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  then_drop(p, h_never, h_log, "p");
  run_ok(L);
  assert_log("p:Error: awaited in finally");
  aw_release(p);
  unit_finish(L);
}

/* ---- control flow across awaits ---------------------------------------------------- */

typedef struct loop_frame {
  aw_frame frame;
  int i;
  int64_t total;
} loop_frame;

static void loop_switch_body(aw_loop *L, aw_frame *self) {
  loop_frame *f = (loop_frame *)self;
  AW_BEGIN(self);
  aw_val v;
  for (f->i = 0; f->i < 10; f->i++) {
    switch (f->i % 3) {
    case 0:
      AW_AWAIT(v, aw_int(f->i));
      f->total += v.u.i;
      break;
    case 1:
      AW_AWAIT(v, aw_promise_resolved(L, aw_int(f->i * 10)));
      f->total += v.u.i;
      break;
    default:
      f->total += 1000;
      break;
    }
  }
  AW_RETURN(aw_int(f->total));
  AW_END;
}

static void test_loops_and_switch_keep_working_across_awaits(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  AW_ASYNC_NEW(L, loop_frame, loop_switch_body, f);
  aw_promise *p = aw_async_start(&f->frame);
  run_ok(L);
  /* 0+3+6+9 awaited as values, 10+40+70 as promises, three 1000s */
  assert_int_equal(aw_promise_result(p).u.i, 18 + 120 + 3000);
  aw_release(p);
  unit_finish(L);
}

/* ---- constant C stack ---------------------------------------------------------------- */

/*
 * Stack depth is measured with __builtin_frame_address(0): the body's frame
 * address against the test function's. (A local's address says the same,
 * except under ASan's fake stacks, which move locals to the heap.) The stack
 * grows down on every target we build for.
 *
 * What is measured is the *resumption* phase: every resume of every level
 * comes from a microtask of the loop, so its depth below the test function is
 * the same at level 1 and at level 10,000. The synchronous descent (each level
 * calling the next before its first await) necessarily uses C stack in
 * proportion to the depth, exactly as the JS call stack does for
 * `async function level(n) { ... await level(n - 1) ... }`; it is recorded
 * and printed, not bounded.
 */
static uintptr_t g_deepest; /* lowest frame address seen at a resume */
static uintptr_t g_first;   /* frame address at the first resume */
static uintptr_t g_descent; /* frame address at the bottom of the descent */
static int64_t g_resumes;

static inline void note_resume(uintptr_t fp) {
  if (!g_resumes++)
    g_first = fp;
  if (fp < g_deepest)
    g_deepest = fp;
}

typedef struct rec_frame {
  aw_frame frame;
  int n;
} rec_frame;

static aw_promise *rec(aw_loop *L, int n);
static void rec_body(aw_loop *L, aw_frame *self) {
  rec_frame *f = (rec_frame *)self;
  AW_BEGIN(self);
  if (f->n == 0) {
    g_descent = (uintptr_t)__builtin_frame_address(0);
    AW_AWAIT_IGNORE(aw_null());
    note_resume((uintptr_t)__builtin_frame_address(0));
    AW_RETURN(aw_int(0));
  }
  aw_val v;
  AW_AWAIT(v, rec(L, f->n - 1));
  note_resume((uintptr_t)__builtin_frame_address(0));
  AW_RETURN(aw_int(v.u.i + 1));
  AW_END;
}
static aw_promise *rec(aw_loop *L, int n) {
  AW_ASYNC_NEW(L, rec_frame, rec_body, f);
  f->n = n;
  return aw_async_start(&f->frame);
}

/* Runs rec(n) to completion; returns the deepest resume's distance below base. */
static uintptr_t run_rec(aw_loop *L, int n, uintptr_t base) {
  g_deepest = UINTPTR_MAX;
  g_resumes = 0;
  aw_promise *p = rec(L, n);
  run_ok(L);
  assert_int_equal(aw_promise_state(p), AW_FULFILLED);
  assert_int_equal(aw_promise_result(p).u.i, n);
  assert_int_equal(g_resumes, n + 1);
  aw_release(p);
  return base - g_deepest;
}

static void test_ten_thousand_deep_async_recursion_resumes_in_constant_stack(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  uintptr_t base = (uintptr_t)__builtin_frame_address(0);
  uintptr_t shallow = run_rec(L, 10, base);
  uintptr_t deep = run_rec(L, 10000, base);
  uintptr_t descent = base - g_descent;
  print_message("async recursion: resume depth %zu bytes at 10 levels, %zu at 10000; "
                "synchronous descent of 10000 levels %zu bytes\n",
                (size_t)shallow, (size_t)deep, (size_t)descent);
  assert_int_equal(deep, shallow);
  assert_true(deep < 64 * 1024);
  assert_true(descent > deep); /* the measure does see the descent */
  unit_finish(L);
}

typedef struct sum_frame {
  aw_frame frame;
  int64_t i, n, total;
} sum_frame;

static void sum_body(aw_loop *L, aw_frame *self) {
  sum_frame *f = (sum_frame *)self;
  AW_BEGIN(self);
  for (f->i = 1; f->i <= f->n; f->i++) {
    aw_val v;
    AW_AWAIT(v, aw_int(f->i));
    note_resume((uintptr_t)__builtin_frame_address(0));
    f->total += v.u.i;
  }
  AW_RETURN(aw_int(f->total));
  AW_END;
}

static void test_ten_million_sequential_awaits_run_in_constant_stack(void **state) {
  (void)state;
  enum { N = 10000000 };
  aw_loop *L = unit_loop();
  g_deepest = UINTPTR_MAX;
  g_resumes = 0;
  AW_ASYNC_NEW(L, sum_frame, sum_body, f);
  f->n = N;
  aw_promise *p = aw_async_start(&f->frame);
  run_ok(L);
  assert_int_equal(aw_promise_state(p), AW_FULFILLED);
  assert_int_equal(aw_promise_result(p).u.i, (int64_t)N * (N + 1) / 2);
  assert_int_equal(g_resumes, N);
  assert_int_equal(g_deepest, g_first); /* the ten-millionth resume is as deep as the first */
  aw_release(p);
  unit_finish(L);
}

/* ---- frames that can never resume -------------------------------------------------- */

static void waiter_body(aw_loop *L, aw_frame *self) {
  arg_frame *f = (arg_frame *)self;
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, take_wait(f));
  ulogv("RESUMED", v);
  aw_release_val(v);
  AW_CLEANUP;
  ulog("finally:%s", f->label);
  AW_END_CLEANUP;
}

static aw_promise *waiter(aw_loop *L, const char *label, aw_promise *wait) {
  aw_promise *result_;
  ARG_ASYNC(L, waiter_body, label, aw_string("held by the frame"), wait, true);
  return result_;
}

static void test_dispose_runs_once_when_the_function_completes(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_disposed = 0;
  aw_promise *p = waiter(L, "w", aw_promise_resolved(L, aw_int(1)));
  then_drop(p, h_mark, h_never, "settled");
  run_ok(L);
  /* after the cleanup block and the settling, before the handlers run */
  assert_log("RESUMED:1 finally:w dispose:w settled");
  assert_int_equal(g_disposed, 1);
  aw_release(p);
  unit_finish(L);
}

static void test_frame_awaiting_a_promise_nobody_holds_is_dropped(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_disposed = 0;
  aw_promise *q = aw_promise_new(L);
  aw_promise *p = waiter(L, "w", aw_retain(q));
  assert_int_equal(unit_stats(L).frames, 1);
  aw_release(q);           /* q can never settle now, so the frame can never resume */
  assert_log("dispose:w"); /* dropped at once, without running its finally block */
  assert_int_equal(g_disposed, 1);
  assert_int_equal(unit_stats(L).frames, 0);
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  run_ok(L);
  assert_log("dispose:w");
  aw_release(p);
  unit_finish(L);
}

static void outer_waiter_body(aw_loop *L, aw_frame *self) {
  arg_frame *f = (arg_frame *)self;
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, waiter(L, "inner", take_wait(f)));
  ulogv("RESUMED", v);
  aw_release_val(v);
  AW_CLEANUP;
  ulog("finally:%s", f->label);
  AW_END_CLEANUP;
}

static void test_chain_of_frames_awaiting_an_orphan_is_dropped(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_disposed = 0;
  aw_promise *q = aw_promise_new(L);
  aw_promise *p;
  {
    aw_promise *result_;
    ARG_ASYNC(L, outer_waiter_body, "outer", aw_undefined(), aw_retain(q), true);
    p = result_;
  }
  assert_int_equal(unit_stats(L).frames, 2);
  aw_release(q); /* inner can never resume, so inner's promise can never settle */
  assert_log("dispose:inner dispose:outer");
  assert_int_equal(g_disposed, 2);
  assert_int_equal(unit_stats(L).frames, 0);
  aw_release(p);
  run_ok(L);
  unit_finish(L);
}

static void test_frame_with_a_queued_resume_is_dropped_by_loop_free(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_disposed = 0;
  aw_promise *p = waiter(L, "w", aw_promise_resolved(L, aw_int(1)));
  assert_int_equal(unit_stats(L).frames, 1);
  assert_int_equal(aw_loop_free(L), 0); /* the resume job is dropped, and the frame with it */
  assert_log("dispose:w");
  assert_int_equal(g_disposed, 1);
  assert_int_equal(aw_promise_state(p), AW_PENDING); /* still valid until released */
  aw_release(p);
  assert_no_objects();
}

static void test_frame_awaiting_a_held_promise_is_freed_after_loop_free(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_disposed = 0;
  aw_promise *q = aw_promise_new(L);
  aw_promise *p = waiter(L, "w", aw_retain(q));
  assert_int_equal(aw_loop_free(L), 0);
  aw_release(q);
  aw_release(p);
  assert_log("dispose:w"); /* exactly once, and no finally */
  assert_int_equal(g_disposed, 1);
  assert_no_objects();
}

/*
 * An async function awaiting its own promise can never resume (a deadlock
 * that a JS engine's collector reclaims). The frame holds its promise and the
 * promise holds the frame (as a reaction), so no release breaks the cycle;
 * aw_loop_free must: "async functions still suspended are freed with their
 * frames", and nothing may be left alive.
 */
static void self_waiter_body(aw_loop *L, aw_frame *self) {
  arg_frame *f = (arg_frame *)self;
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null());
  AW_AWAIT_IGNORE(take_wait(f)); /* its own promise */
  ulog("RESUMED");
  AW_END;
}

static void test_frame_awaiting_its_own_promise_is_freed_by_loop_free(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_disposed = 0;
  AW_ASYNC_NEW_DISPOSE(L, arg_frame, self_waiter_body, arg_frame_dispose, f);
  f->label = "self";
  f->arg = aw_string("held by the frame");
  f->loud = true;
  aw_promise *p = aw_async_start(&f->frame);
  f->wait = aw_retain(p); /* suspended at its first await: it awaits p next */
  aw_release(p);
  run_ok(L);
  assert_int_equal(unit_stats(L).frames, 1);
  assert_log("");
  assert_int_equal(aw_loop_free(L), 0);
  assert_log("dispose:self");
  assert_no_objects();
}

/*
 * A frame whose own field is the only holder of the promise it awaits (difftest:
 * `acc = e` in a catch, then `await acc` on a promise nothing else keeps). At
 * aw_loop_free its dispose frees that promise, whose reaction list holds the
 * very frame being disposed: the frame must be freed once, after its dispose.
 */
static void test_frame_whose_dispose_frees_its_awaited_promise_is_freed_by_loop_free(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_disposed = 0;
  aw_promise *q = aw_promise_new(L);
  aw_promise *result_;
  ARG_ASYNC(L, waiter_body, "w", aw_obj_val(aw_retain(q)), q, true); /* the await takes q */
  aw_release(result_);
  run_ok(L);
  assert_int_equal(unit_stats(L).frames, 1);
  assert_int_equal(unit_stats(L).promises, 2); /* q and the function's */
  assert_log("");
  assert_int_equal(aw_loop_free(L), 0);
  assert_log("dispose:w"); /* no finally: it never resumes */
  assert_int_equal(g_disposed, 1);
  assert_no_objects();
}

/*
 * Disposes at aw_loop_free that free promises awaited by other frames: a holds
 * (in an array) the promises b and c await, b holds the one a awaits. Frames
 * are zombified newest first (c, b, a): b's dispose frees a's promise, which
 * drops a before its own dispose ran; a's dispose then frees the promises
 * whose lists hold b and c, both already disposed. Each dispose runs once and
 * everything goes.
 */
static void test_disposes_at_loop_free_that_free_other_frames_awaited_promises(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_disposed = 0;
  aw_promise *qa = aw_promise_new(L), *qb = aw_promise_new(L), *qc = aw_promise_new(L);
  aw_array *held = aw_array_new(2);
  assert_non_null(held);
  assert_int_equal(aw_array_push(held, aw_obj_val(aw_retain(qb))), 0);
  assert_int_equal(aw_array_push(held, aw_obj_val(aw_retain(qc))), 0);
  aw_val b_holds = aw_obj_val(aw_retain(qa)); /* before a's await takes qa's first reference */
  aw_promise *result_, *pa, *pb, *pc;
  ARG_ASYNC(L, waiter_body, "a", aw_obj_val(held), qa, true);
  pa = result_;
  ARG_ASYNC(L, waiter_body, "b", b_holds, qb, true);
  pb = result_;
  ARG_ASYNC(L, waiter_body, "c", aw_string("held by c"), qc, true);
  pc = result_;
  aw_release(pa);
  aw_release(pb);
  aw_release(pc);
  run_ok(L);
  assert_int_equal(unit_stats(L).frames, 3);
  assert_int_equal(aw_loop_free(L), 0);
  assert_log("dispose:c dispose:b dispose:a");
  assert_int_equal(g_disposed, 3);
  assert_no_objects();
}

/* ---- detached tasks (aw_async_spawn) ----------------------------------------------------------
 */

/* A task: awaits `wait` (or a fresh value), then throws `throw_msg` if set, else returns. */
typedef struct spawn_frame {
  aw_frame frame;
  aw_promise *wait;      /* awaited first if set (the frame's reference) */
  const char *throw_msg; /* throw Error(throw_msg) after the await */
  bool throw_early;      /* throw before the first await */
  bool return_rejected;  /* return a rejected promise instead (adopted) */
} spawn_frame;

static int g_spawn_disposed;

static void spawn_frame_dispose(aw_frame *self) {
  spawn_frame *f = (spawn_frame *)self;
  g_spawn_disposed++;
  aw_release(f->wait);
  f->wait = NULL;
}

static void spawn_task_body(aw_loop *L, aw_frame *self) {
  spawn_frame *f = (spawn_frame *)self;
  AW_BEGIN(self);
  if (f->throw_early)
    AW_THROW(aw_err("Error", "%s", f->throw_msg));
  if (f->wait) {
    aw_promise *w = f->wait;
    f->wait = NULL;
    AW_AWAIT_IGNORE(w);
  } else {
    AW_AWAIT_IGNORE(aw_int(1));
  }
  if (f->return_rejected)
    AW_RETURN(aw_promise_rejected(L, aw_err("Error", "%s", f->throw_msg)));
  if (f->throw_msg)
    AW_THROW(aw_err("Error", "%s", f->throw_msg));
  AW_END;
}

static spawn_frame *spawn_frame_new(aw_loop *L) {
  AW_ASYNC_NEW_DISPOSE(L, spawn_frame, spawn_task_body, spawn_frame_dispose, f);
  return f;
}

static int g_on_error_calls;

static aw_val on_error_log(aw_loop *L, aw_val reason, void *arg) {
  (void)L;
  g_on_error_calls++;
  ulogv((const char *)arg, reason);
  return aw_undefined();
}

static aw_val on_error_throws(aw_loop *L, aw_val reason, void *arg) {
  (void)L, (void)reason, (void)arg;
  g_on_error_calls++;
  return aw_throw(aw_err("Error", "thrown by on_error"));
}

static void unhandled_log(aw_loop *L, aw_val reason, aw_promise *p, void *arg) {
  (void)L, (void)p, (void)arg;
  ulogv("UNHANDLED", reason);
}

static void uncaught_log(aw_loop *L, aw_val err, void *arg) {
  (void)L, (void)arg;
  ulogv("UNCAUGHT", err);
}

static void test_spawned_task_rejection_goes_to_its_handler_only(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on_unhandled_rejection(L, unhandled_log, NULL);
  aw_loop_on_uncaught_exception(L, uncaught_log, NULL);
  g_on_error_calls = 0;
  spawn_frame *f = spawn_frame_new(L);
  f->throw_msg = "boom";
  assert_int_equal(aw_async_spawn(&f->frame, on_error_log, "err"), 0);
  assert_log(""); /* suspended at its await */
  run_ok(L);
  assert_log("err:Error: boom");
  assert_int_equal(g_on_error_calls, 1);
  unit_finish(L);
}

static void test_spawned_task_throwing_before_its_first_await_is_handled(void **state) {
  (void)state;
  aw_loop *L = unit_loop(); /* rejection mode throw, no hooks: an unhandled one would stop it */
  g_on_error_calls = 0;
  spawn_frame *f = spawn_frame_new(L);
  f->throw_msg = "early";
  f->throw_early = true;
  assert_int_equal(aw_async_spawn(&f->frame, on_error_log, "err"), 0);
  assert_log(""); /* the handler runs as a catch would: one tick later */
  run_ok(L);
  assert_log("err:Error: early");
  unit_finish(L);
}

static void test_spawned_task_returning_a_rejected_promise_reaches_its_handler(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  spawn_frame *f = spawn_frame_new(L);
  f->throw_msg = "adopted";
  f->return_rejected = true;
  assert_int_equal(aw_async_spawn(&f->frame, on_error_log, "err"), 0);
  run_ok(L);
  assert_log("err:Error: adopted");
  unit_finish(L);
}

static void test_spawned_task_that_returns_calls_nothing(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_on_error_calls = 0;
  g_spawn_disposed = 0;
  spawn_frame *f = spawn_frame_new(L);
  assert_int_equal(aw_async_spawn(&f->frame, on_error_log, "err"), 0);
  run_ok(L);
  assert_int_equal(g_on_error_calls, 0);
  assert_int_equal(g_spawn_disposed, 1);
  assert_log("");
  unit_finish(L);
}

static void run_and_log_result(void *arg) { ulog("run:%d", aw_loop_run(arg)); }

static void timer_log(aw_loop *L, void *arg) {
  (void)L;
  ulog("%s", (const char *)arg);
}

static void test_spawn_without_handler_prints_task_failed_and_goes_on(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  spawn_frame *f = spawn_frame_new(L);
  f->throw_msg = "no handler";
  assert_int_equal(aw_async_spawn(&f->frame, NULL, NULL), 0);
  assert_true(aw_set_timeout(L, 1, timer_log, "timer-after") != 0);
  char *err = capture_stderr(run_and_log_result, L);
  assert_log("timer-after run:0");
  assert_non_null(strstr(err, "aw: task failed: Error: no handler\n"));
  assert_non_null(strstr(err, "at async spawn_task_body ("));
  assert_null(strstr(err, "Uncaught"));
  free(err);
  unit_finish(L);
}

static void test_throw_in_a_spawn_handler_is_an_uncaught_exception(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_on_error_calls = 0;
  spawn_frame *f = spawn_frame_new(L);
  f->throw_msg = "task";
  assert_int_equal(aw_async_spawn(&f->frame, on_error_throws, NULL), 0);
  char *err = capture_stderr(run_and_log_result, L);
  char expected[64];
  snprintf(expected, sizeof expected, "run:%d", AW_EUNCAUGHT);
  assert_log(expected);
  assert_int_equal(g_on_error_calls, 1);
  assert_error(aw_loop_exception(L), "Error", "thrown by on_error");
  assert_non_null(strstr(err, "thrown by on_error"));
  free(err);
  unit_free(L);
}

static void test_throw_in_a_spawn_handler_reaches_the_uncaught_hook(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_loop_on_uncaught_exception(L, uncaught_log, NULL);
  spawn_frame *f = spawn_frame_new(L);
  f->throw_msg = "task";
  assert_int_equal(aw_async_spawn(&f->frame, on_error_throws, NULL), 0);
  run_ok(L);
  assert_log("UNCAUGHT:Error: thrown by on_error");
  unit_finish(L);
}

static void test_thousand_spawned_tasks_leave_nothing_behind(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_on_error_calls = 0;
  g_spawn_disposed = 0;
  aw_promise *gate = aw_promise_new(L);
  for (int i = 0; i < 1000; i++) {
    spawn_frame *f = spawn_frame_new(L);
    f->wait = aw_retain(gate);
    f->throw_msg = i % 2 ? "odd" : NULL;
    assert_int_equal(aw_async_spawn(&f->frame, on_error_log, "e"), 0);
  }
  assert_int_equal(unit_stats(L).frames, 1000);
  assert_int_equal(aw_promise_resolve(gate, aw_undefined()), 0);
  aw_release(gate);
  ulog_reset();
  run_ok(L);
  assert_int_equal(g_on_error_calls, 500);
  assert_int_equal(g_spawn_disposed, 1000);
  unit_finish(L); /* no frame, promise or object of any task is left */
}

static void test_spawned_tasks_suspended_at_loop_free_are_freed(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_on_error_calls = 0;
  g_spawn_disposed = 0;
  aw_promise *never = aw_promise_new(L); /* held by the test: the tasks cannot be dropped early */
  for (int i = 0; i < 100; i++) {
    spawn_frame *f = spawn_frame_new(L);
    f->wait = aw_retain(never);
    f->throw_msg = "never thrown";
    assert_int_equal(aw_async_spawn(&f->frame, on_error_log, "e"), 0);
  }
  run_ok(L); /* nothing keeps the loop alive: a pending promise is no handle */
  assert_int_equal(unit_stats(L).frames, 100);
  assert_int_equal(aw_loop_free(L), 0);
  assert_int_equal(g_spawn_disposed, 100);
  assert_int_equal(g_on_error_calls, 0);
  aw_release(never);
  assert_no_objects();
}

static void test_spawned_task_awaiting_a_dropped_promise_is_freed_silently(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_on_error_calls = 0;
  g_spawn_disposed = 0;
  spawn_frame *f = spawn_frame_new(L);
  f->wait = aw_promise_new(L); /* only the frame holds it: it can never settle */
  f->throw_msg = "never thrown";
  assert_int_equal(aw_async_spawn(&f->frame, on_error_log, "e"), 0);
  run_ok(L);
  assert_int_equal(g_spawn_disposed, 1);
  assert_int_equal(g_on_error_calls, 0);
  unit_finish(L);
}

static void test_spawned_task_whose_handler_is_queued_at_loop_free_leaves_nothing(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_on_error_calls = 0;
  g_spawn_disposed = 0;
  spawn_frame *f = spawn_frame_new(L);
  f->throw_msg = "early";
  f->throw_early = true;
  assert_int_equal(aw_async_spawn(&f->frame, on_error_log, "err"), 0); /* the catch job is queued */
  assert_int_equal(g_spawn_disposed, 1);
  unit_free(L); /* drops the job: the handler never runs, its record is freed */
  assert_int_equal(g_on_error_calls, 0);
}

static void test_spawn_refuses_null_and_started_frames(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  assert_int_equal(aw_async_spawn(NULL, NULL, NULL), -EINVAL);
  spawn_frame *f = spawn_frame_new(L);
  f->wait = aw_promise_new(L);
  aw_promise *held = aw_retain(f->wait);
  aw_promise *p = aw_async_start(&f->frame);
  assert_int_equal(aw_async_spawn(&f->frame, NULL, NULL), -EINVAL); /* suspended: left alone */
  assert_int_equal(aw_promise_resolve(held, aw_undefined()), 0);
  aw_release(held);
  run_ok(L);
  assert_int_equal(aw_promise_state(p), AW_FULFILLED);
  aw_release(p);
  unit_finish(L);
}

/* ---- async stacks of errors made outside async functions ---------------------------------------
 */

static int g_made_line, g_first_await_line, g_second_await_line;

static aw_val h_make_error(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v, (void)arg;
  g_made_line = __LINE__ + 1;
  return aw_throw(aw_err("Error", "made in a then"));
}

/* Awaits *wait and keeps the outcome in *out. */
typedef struct stack_frame {
  aw_frame frame;
  aw_promise *wait;
  aw_val *out;
  int *line;
} stack_frame;

static void first_awaiter_body(aw_loop *L, aw_frame *self) {
  stack_frame *f = (stack_frame *)self;
  AW_BEGIN(self);
  aw_val v;
  g_first_await_line = __LINE__ + 1;
  AW_AWAIT_SETTLED(v, f->wait);
  *f->out = v;
  AW_END;
}

static void second_awaiter_body(aw_loop *L, aw_frame *self) {
  stack_frame *f = (stack_frame *)self;
  AW_BEGIN(self);
  aw_val v;
  g_second_await_line = __LINE__ + 1;
  AW_AWAIT_SETTLED(v, f->wait);
  *f->out = v;
  AW_END;
}

static void test_error_made_outside_async_functions_takes_the_first_awaits_stack(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *base = aw_promise_resolved(L, aw_undefined());
  aw_promise *failed = aw_promise_then(base, h_make_error, NULL, NULL);
  aw_release(base);
  aw_val first = aw_undefined(), second = aw_undefined();
  AW_ASYNC_NEW(L, stack_frame, first_awaiter_body, a);
  a->wait = aw_retain(failed);
  a->out = &first;
  aw_release(aw_async_start(&a->frame));
  AW_ASYNC_NEW(L, stack_frame, second_awaiter_body, b);
  b->wait = failed; /* the same error reaches a second function after the first */
  b->out = &second;
  aw_release(aw_async_start(&b->frame));
  run_ok(L);
  aw_error *e = aw_as_error(first);
  assert_non_null(e);
  assert_ptr_equal(e, aw_as_error(second));
  assert_int_equal(e->nstack, 2);
  assert_null(e->stack[0].function); /* the line that made it, kept */
  assert_string_equal(e->stack[0].file, __FILE__);
  assert_int_equal(e->stack[0].line, g_made_line);
  assert_string_equal(e->stack[1].function, "first_awaiter_body"); /* written once, then kept */
  assert_string_equal(e->stack[1].file, __FILE__);
  assert_int_equal(e->stack[1].line, g_first_await_line);
  aw_release_val(first);
  aw_release_val(second);
  unit_finish(L);
}

static void thrower_in_async_body(aw_loop *L, aw_frame *self) {
  stack_frame *f = (stack_frame *)self;
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_int(1));
  *f->line = __LINE__ + 1;
  AW_THROW(aw_err("Error", "made in an async function"));
  AW_END;
}

static void test_error_made_inside_an_async_function_keeps_its_own_stack(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  int line = 0;
  AW_ASYNC_NEW(L, stack_frame, thrower_in_async_body, t);
  t->line = &line;
  aw_val got = aw_undefined();
  AW_ASYNC_NEW(L, stack_frame, second_awaiter_body, w);
  w->wait = aw_async_start(&t->frame);
  w->out = &got;
  aw_release(aw_async_start(&w->frame));
  run_ok(L);
  aw_error *e = aw_as_error(got);
  assert_non_null(e);
  assert_int_equal(e->nstack, 3); /* made at line, in thrower, awaited by the second awaiter */
  assert_int_equal(e->stack[0].line, line);
  assert_string_equal(e->stack[1].function, "thrower_in_async_body");
  assert_string_equal(e->stack[2].function, "second_awaiter_body");
  assert_int_equal(e->stack[2].line, g_second_await_line);
  aw_release_val(got);
  unit_finish(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      UNIT_TEST(test_body_runs_synchronously_until_its_first_await),
      UNIT_TEST(test_function_without_await_settles_before_start_returns),
      UNIT_TEST(test_falling_off_the_end_returns_undefined),
      UNIT_TEST(test_async_call_inside_async_runs_its_prefix_inline),
      UNIT_TEST(test_await_of_a_value_takes_one_tick),
      UNIT_TEST(test_await_of_a_fulfilled_promise_takes_one_tick),
      UNIT_TEST(test_await_of_an_object_value_hands_back_a_reference),
      UNIT_TEST(test_await_of_a_pending_promise_resumes_after_it_settles),
      UNIT_TEST(test_await_of_a_rejection_throws_it_to_the_promise),
      UNIT_TEST(test_await_of_a_thenable_adopts_it_in_two_ticks),
      UNIT_TEST(test_await_of_a_throwing_thenable_rejects_unless_it_resolved_first),
      UNIT_TEST(test_await_settled_hands_back_a_rejection_marked_thrown),
      UNIT_TEST(test_await_settled_hands_back_a_value_unmarked),
      UNIT_TEST(test_await_ignore_discards_values_and_still_throws),
      UNIT_TEST(test_await_catch_jumps_to_its_label_with_the_reason),
      UNIT_TEST(test_rejection_awaited_right_away_is_not_reported),
      UNIT_TEST(test_awaiting_a_reported_rejection_emits_rejection_handled),
      UNIT_TEST(test_throw_before_the_first_await_rejects_before_start_returns),
      UNIT_TEST(test_throw_after_an_await_rejects_with_the_value),
      UNIT_TEST(test_async_function_promise_refuses_public_resolve),
      UNIT_TEST(test_returning_a_promise_costs_two_ticks_more_than_a_value),
      UNIT_TEST(test_returning_a_thenable_costs_one_tick_more_than_a_value),
      UNIT_TEST(test_finally_runs_on_return_and_keeps_the_value),
      UNIT_TEST(test_finally_runs_on_throw_and_keeps_the_reason),
      UNIT_TEST(test_finally_runs_on_an_await_rejection),
      UNIT_TEST(test_finally_runs_once_when_the_body_falls_into_it),
      UNIT_TEST(test_finally_may_await_and_the_outcome_stands),
      UNIT_TEST(test_return_in_finally_overrides_a_throw),
      UNIT_TEST(test_return_in_finally_overrides_a_return),
      UNIT_TEST(test_throw_in_finally_overrides_a_return),
      UNIT_TEST(test_await_rejection_in_finally_replaces_the_outcome),
      UNIT_TEST(test_loops_and_switch_keep_working_across_awaits),
      UNIT_TEST(test_ten_thousand_deep_async_recursion_resumes_in_constant_stack),
      UNIT_TEST(test_ten_million_sequential_awaits_run_in_constant_stack),
      UNIT_TEST(test_dispose_runs_once_when_the_function_completes),
      UNIT_TEST(test_frame_awaiting_a_promise_nobody_holds_is_dropped),
      UNIT_TEST(test_chain_of_frames_awaiting_an_orphan_is_dropped),
      UNIT_TEST(test_frame_with_a_queued_resume_is_dropped_by_loop_free),
      UNIT_TEST(test_frame_awaiting_a_held_promise_is_freed_after_loop_free),
      UNIT_TEST(test_frame_awaiting_its_own_promise_is_freed_by_loop_free),
      UNIT_TEST(test_frame_whose_dispose_frees_its_awaited_promise_is_freed_by_loop_free),
      UNIT_TEST(test_disposes_at_loop_free_that_free_other_frames_awaited_promises),
      UNIT_TEST(test_spawned_task_rejection_goes_to_its_handler_only),
      UNIT_TEST(test_spawned_task_throwing_before_its_first_await_is_handled),
      UNIT_TEST(test_spawned_task_returning_a_rejected_promise_reaches_its_handler),
      UNIT_TEST(test_spawned_task_that_returns_calls_nothing),
      UNIT_TEST(test_spawn_without_handler_prints_task_failed_and_goes_on),
      UNIT_TEST(test_throw_in_a_spawn_handler_is_an_uncaught_exception),
      UNIT_TEST(test_throw_in_a_spawn_handler_reaches_the_uncaught_hook),
      UNIT_TEST(test_thousand_spawned_tasks_leave_nothing_behind),
      UNIT_TEST(test_spawned_tasks_suspended_at_loop_free_are_freed),
      UNIT_TEST(test_spawned_task_awaiting_a_dropped_promise_is_freed_silently),
      UNIT_TEST(test_spawned_task_whose_handler_is_queued_at_loop_free_leaves_nothing),
      UNIT_TEST(test_spawn_refuses_null_and_started_frames),
      UNIT_TEST(test_error_made_outside_async_functions_takes_the_first_awaits_stack),
      UNIT_TEST(test_error_made_inside_an_async_function_keeps_its_own_stack),
  };
  return cmocka_run_group_tests_name("async", tests, NULL, NULL);
}
