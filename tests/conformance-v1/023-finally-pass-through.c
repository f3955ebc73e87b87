/* 023: finally runs its callback and passes the original value or rejection through unchanged */
#include "conf.h"

/* finally() that consumes p, as conf_then does. */
static aw_promise *finally_(aw_promise *p, aw_call_fn fn, void *arg) {
  aw_promise *d = aw_promise_finally(p, fn, arg);
  aw_release(p);
  return d;
}

static aw_val finally_1(aw_loop *L, void *arg) {
  conf_log("finally 1");
  return aw_string("ignored");
}
static aw_val finally_2(aw_loop *L, void *arg) {
  conf_log("finally 2");
  return aw_undefined();
}
/* () => Promise.resolve('also ignored') */
static aw_val finally_3(aw_loop *L, void *arg) {
  return aw_obj_val(aw_promise_resolved(L, aw_string("also ignored")));
}

static void program(aw_loop *L) {
  aw_promise *p = aw_promise_resolved(L, aw_string("val"));
  p = finally_(p, finally_1, NULL);
  p = conf_then(p, conf_logv_then, NULL, "then after finally");
  aw_release(p);
  p = aw_promise_rejected(L, aw_err("Error", "err"));
  p = finally_(p, finally_2, NULL);
  p = conf_then(p, conf_log_then, NULL, "not reached");
  p = conf_catch(p, conf_logmsg_then, "catch after finally");
  aw_release(p);
  p = aw_promise_resolved(L, aw_string("kept"));
  p = finally_(p, finally_3, NULL);
  p = conf_then(p, conf_logv_then, NULL, "after promise-returning finally");
  aw_release(p);
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
