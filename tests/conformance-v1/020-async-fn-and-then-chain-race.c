/* 020: three awaits in an async function and a four-link then chain advance one tick per step side
 * by side */
#include "conf.h"

typedef struct {
  aw_frame frame;
} f_frame;

static void f_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null());
  conf_log("f1");
  AW_AWAIT_IGNORE(aw_null());
  conf_log("f2");
  AW_AWAIT_IGNORE(aw_null());
  conf_log("f3");
  AW_RETURN(aw_string("f"));
  AW_END;
}
static aw_promise *f(aw_loop *L) {
  AW_ASYNC_NEW(L, f_frame, f_body, fr);
  return aw_async_start(&fr->frame);
}

/* () => 'c' */
static aw_val return_c(aw_loop *L, aw_val v, void *arg) { return aw_string("c"); }

static void program(aw_loop *L) {
  aw_promise *chain = aw_promise_resolved(L, aw_undefined());
  chain = conf_then(chain, conf_log_then, NULL, "c1");
  chain = conf_then(chain, conf_log_then, NULL, "c2");
  chain = conf_then(chain, conf_log_then, NULL, "c3");
  chain = conf_then(chain, return_c, NULL, NULL);
  aw_promise *fp = f(L);
  aw_release(conf_then(fp, conf_logv_then, NULL, "result"));
  aw_release(conf_then(chain, conf_logv_then, NULL, "result"));
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  p = conf_then(p, conf_log_then, NULL, "x1");
  p = conf_then(p, conf_log_then, NULL, "x2");
  p = conf_then(p, conf_log_then, NULL, "x3");
  p = conf_then(p, conf_log_then, NULL, "x4");
  p = conf_then(p, conf_log_then, NULL, "x5");
  aw_release(p);
}

int main(void) { return conf_main(program); }
