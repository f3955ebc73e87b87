/* 004: calling async g from async f runs g's sync prefix inside f's; f resumes one tick after g's
 * promise settles */
#include "conf.h"

typedef struct {
  aw_frame frame;
} fn_frame;

static void g_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("g1");
  AW_AWAIT_IGNORE(aw_null());
  conf_log("g2");
  AW_RETURN(aw_string("gv"));
  AW_END;
}
static aw_promise *g(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, g_body, fr);
  return aw_async_start(&fr->frame);
}

static void f_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("f1");
  aw_val v;
  AW_AWAIT(v, g(L));
  conf_logv("f2", v);
  aw_release_val(v);
  AW_END;
}
static aw_promise *f(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, f_body, fr);
  return aw_async_start(&fr->frame);
}

static void program(aw_loop *L) {
  conf_log("s1");
  aw_release(f(L));
  conf_log("s2");
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  p = conf_then(p, conf_log_then, NULL, "p1");
  p = conf_then(p, conf_log_then, NULL, "p2");
  p = conf_then(p, conf_log_then, NULL, "p3");
  aw_release(p);
}

int main(void) { return conf_main(program); }
