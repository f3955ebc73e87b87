/*
 * tests/unit/test_async.c — async functions (aw/async.h): the synchronous
 * prefix, AW_AWAIT of values, promises, thenables and rejections,
 * AW_AWAIT_SETTLED, AW_THROW, AW_FINALLY, return values and their ticks,
 * constant C stack over deep recursion and long await loops, and frames that
 * can never resume.
 */
#include "unit.h"

typedef struct plain_frame {
  aw_frame frame;
} plain_frame;

/* Frames with an argument. */
typedef struct arg_frame {
  aw_frame frame;
  const char *label;
  aw_val arg; /* owned by the frame */
  aw_promise *wait; /* a promise to await (owned) */
  int n;
} arg_frame;

static void arg_frame_drop(aw_frame *self) {
  arg_frame *f = (arg_frame *)self;
  ulog("drop:%s", f->label);
  aw_release_val(f->arg);
  aw_release(f->wait);
}

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
  assert_int_equal(unit_stats(L).frames, 0);
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

/* ---- await ------------------------------------------------------------------------ */

/* Awaits f->arg twice (or a fresh copy of it), logging label1 and label2. */
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
  AW_ASYNC_NEW_DROP(L, arg_frame, await_twice_body, arg_frame_drop, f);
  f->label = "await_twice";
  f->arg = arg;
  return aw_async_start(&f->frame);
}

static void free_arg_frame_fields(aw_frame *self) {
  arg_frame *f = (arg_frame *)self;
  aw_release_val(f->arg);
  f->arg = aw_undefined();
}

/* A frame holding a value releases it in its own body; see await_twice_body's callers. */
static void await_twice_end_body(aw_loop *L, aw_frame *self);

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
  aw_promise *v = aw_promise_resolved(L, aw_string("pv"));
  aw_promise *p = await_twice(L, aw_obj_val(v));
  ticks(L, 3);
  run_ok(L);
  assert_log("f1:pv t1 f2:pv t2 t3");
  aw_release(p);
  unit_finish(L);
}
