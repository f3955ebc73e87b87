/* 017: three async functions and a bare then chain interleave tick by tick */
#include "conf.h"

typedef struct {
  aw_frame frame;
} fn_frame;

static void a_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("a0");
  AW_AWAIT_IGNORE(aw_null());
  conf_log("a1");
  AW_AWAIT_IGNORE(aw_null());
  conf_log("a2");
  AW_AWAIT_IGNORE(aw_null());
  conf_log("a3");
  AW_END;
}
static aw_promise *a(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, a_body, fr);
  return aw_async_start(&fr->frame);
}

static void b_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("b0");
  AW_AWAIT_IGNORE(aw_promise_resolved(L, aw_undefined()));
  conf_log("b1");
  AW_RETURN(aw_string("bv"));
  AW_END;
}
static aw_promise *b(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, b_body, fr);
  return aw_async_start(&fr->frame);
}

static void c_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("c0");
  aw_val v;
  AW_AWAIT(v, b(L));
  conf_logv("c1", v);
  aw_release_val(v);
  AW_AWAIT_IGNORE(aw_null());
  conf_log("c2");
  AW_END;
}
static aw_promise *c(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, c_body, fr);
  return aw_async_start(&fr->frame);
}

static void program(aw_loop *L) {
  aw_release(a(L));
  aw_release(c(L));
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  p = conf_then(p, conf_log_then, NULL, "p1");
  p = conf_then(p, conf_log_then, NULL, "p2");
  p = conf_then(p, conf_log_then, NULL, "p3");
  p = conf_then(p, conf_log_then, NULL, "p4");
  aw_release(p);
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
