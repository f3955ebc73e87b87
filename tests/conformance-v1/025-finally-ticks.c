/* 025: finally costs more ticks than then: the value is re-delivered through an inner promise. */
#include "conf.h"

static aw_val log_cb(aw_loop *L, void *msg) {
  conf_log("%s", (const char *)msg);
  return aw_undefined();
}
static aw_val identity(aw_loop *L, aw_val v, void *arg) { return aw_retain_val(v); }

static void program(aw_loop *L) {
  conf_ticks(L, 7);
  aw_promise *p = aw_promise_resolved(L, aw_string("F"));
  aw_promise *f = aw_promise_finally(p, log_cb, "finally cb");
  aw_release(p);
  aw_release(conf_then(f, conf_logv_then, NULL, "after finally"));

  p = conf_then(aw_promise_resolved(L, aw_string("T")), identity, NULL, NULL);
  aw_release(conf_then(p, conf_logv_then, NULL, "after then"));

  p = aw_promise_rejected(L, aw_err("Error", "R"));
  f = aw_promise_finally(p, log_cb, "finally cb rejected");
  aw_release(p);
  aw_release(conf_catch(f, conf_logmsg_then, "after finally catch"));
}

int main(void) { return conf_main(program); }
