// an error thrown in a then handler skips the following fulfilment handlers, one tick per skipped
// link
#include "conf.h"

static aw_val a1(aw_loop *L, aw_val v, void *arg) {
  conf_logv("a1", v);
  return aw_throw(aw_err("Error", "from a1"));
}

static aw_val a_catch(aw_loop *L, aw_val e, void *arg) {
  const char *m = aw_error_message(e);
  conf_log("a catch %s", m ? m : "undefined");
  return aw_string("recovered");
}

static void program(aw_loop *L) {
  aw_promise *p = conf_then(aw_promise_resolved(L, aw_int(1)), a1, NULL, NULL);
  p = conf_then(p, conf_log_then, NULL, "a2 skipped");
  p = conf_then(p, conf_log_then, NULL, "a3 skipped");
  p = conf_catch(p, a_catch, NULL);
  aw_release(conf_then(p, conf_logv_then, NULL, "a4"));

  p = conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "b1");
  p = conf_then(p, conf_log_then, NULL, "b2");
  p = conf_then(p, conf_log_then, NULL, "b3");
  p = conf_then(p, conf_log_then, NULL, "b4");
  aw_release(conf_then(p, conf_log_then, NULL, "b5"));
}

int main(void) { return conf_main(program); }
