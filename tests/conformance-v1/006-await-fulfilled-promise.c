/* 006: await on an already-fulfilled native promise resumes after exactly one microtask tick (no
 * wrapping) */
#include "conf.h"

typedef struct {
  aw_frame frame;
} fn_frame;

static void no_await_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_int(5));
  AW_END;
}
static aw_promise *no_await(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, no_await_body, fr);
  return aw_async_start(&fr->frame);
}

/* r => r(3) */
static aw_val resolve_3(aw_loop *L, aw_promise *p, void *arg) {
  aw_promise_resolve(p, aw_int(3));
  return aw_undefined();
}

static void f_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("f start");
  aw_val a, b, c;
  AW_AWAIT(a, aw_promise_resolved(L, aw_int(1)));
  conf_logv("f a", a);
  aw_release_val(a);
  AW_AWAIT(b, no_await(L));
  conf_logv("f b", b);
  aw_release_val(b);
  AW_AWAIT(c, aw_promise_new_executor(L, resolve_3, NULL));
  conf_logv("f c", c);
  aw_release_val(c);
  AW_END;
}
static aw_promise *f(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, f_body, fr);
  return aw_async_start(&fr->frame);
}

static void program(aw_loop *L) {
  conf_ticks(L, 5);
  aw_release(f(L));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
