// a rejection still without handler when the microtask queue drains is reported once, before the
// next macrotask
#include "conf.h"

static void on_unhandled(aw_loop *L, aw_val e, aw_promise *p, void *arg) {
  const char *m = aw_error_message(e);
  conf_log("unhandled %s", m ? m : "undefined");
}

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void program(aw_loop *L) {
  aw_loop_on_unhandled_rejection(L, on_unhandled, NULL);
  aw_release(aw_promise_rejected(L, aw_err("Error", "lonely")));
  aw_promise *p = conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "m1");
  p = conf_then(p, conf_log_then, NULL, "m2");
  aw_release(conf_then(p, conf_log_then, NULL, "m3"));
  aw_set_timeout(L, 0, log_task, "timeout");
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
