/* 002: an async function with no await runs to completion inside the call, yet its value reaches
 * then() only one tick later */
#include "conf.h"

typedef struct {
  aw_frame frame;
} f_frame;

static void f_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("f body");
  AW_RETURN(aw_int(7));
  AW_END;
}
static aw_promise *f(aw_loop *L) {
  AW_ASYNC_NEW(L, f_frame, f_body, fr);
  return aw_async_start(&fr->frame);
}

static void program(aw_loop *L) {
  conf_log("start");
  aw_promise *p = f(L);
  conf_log("after call");
  aw_release(conf_then(p, conf_logv_then, NULL, "then"));
  aw_release(
      conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "other tick 1"));
  conf_log("end");
}

int main(void) { return conf_main(program); }
