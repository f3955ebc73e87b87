// a rejection whose handler is attached later in the same microtask drain is never reported
#include "conf.h"

static void on_unhandled(aw_loop *L, aw_val e, aw_promise *p, void *arg) {
  const char *m = aw_error_message(e);
  conf_log("unhandled %s", m ? m : "undefined");
}

static void on_handled(aw_loop *L, aw_promise *p, void *arg) { conf_log("rejectionHandled"); }

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static aw_val m3(aw_loop *L, aw_val v, void *p) {
  conf_log("m3 attaches handler");
  aw_release(aw_promise_catch(p, conf_logmsg_then, "caught"));
  return aw_undefined();
}

static void program(aw_loop *L) {
  aw_loop_on_unhandled_rejection(L, on_unhandled, NULL);
  aw_loop_on_rejection_handled(L, on_handled, NULL);
  aw_promise *p =
      conf_keep(aw_promise_rejected(L, aw_err("Error", "handled at tick 3"))); /* const p */
  aw_release(aw_promise_rejected(L, aw_err("Error", "never handled")));
  aw_promise *q = conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "m1");
  q = conf_then(q, conf_log_then, NULL, "m2");
  aw_release(conf_then(q, m3, NULL, p)); /* the global p stays alive (conf_keep) */
  aw_set_timeout(L, 0, log_task, "timeout");
  conf_log("sync end");
  aw_release(p);
}

int main(void) { return conf_main(program); }
