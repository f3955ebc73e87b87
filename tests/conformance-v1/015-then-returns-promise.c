/* 015: a then handler that returns a promise delays the next link by two extra ticks compared with
 * returning a value */
#include "conf.h"

static aw_val a1(aw_loop *L, aw_val v, void *arg) {
  conf_log("A1");
  return aw_obj_val(aw_promise_resolved(L, aw_string("ap")));
}
static aw_val b1(aw_loop *L, aw_val v, void *arg) {
  conf_log("B1");
  return aw_string("bv");
}

static void program(aw_loop *L) {
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  p = conf_then(p, a1, NULL, NULL);
  p = conf_then(p, conf_logv_then, NULL, "A2");
  p = conf_then(p, conf_log_then, NULL, "A3");
  aw_release(p);
  p = aw_promise_resolved(L, aw_undefined());
  p = conf_then(p, b1, NULL, NULL);
  p = conf_then(p, conf_logv_then, NULL, "B2");
  p = conf_then(p, conf_log_then, NULL, "B3");
  p = conf_then(p, conf_log_then, NULL, "B4");
  p = conf_then(p, conf_log_then, NULL, "B5");
  aw_release(p);
}

int main(void) { return conf_main(program); }
