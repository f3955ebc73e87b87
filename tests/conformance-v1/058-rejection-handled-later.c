// a handler attached after the rejection was reported emits 'rejectionHandled' after that
// macrotask's microtasks
#include "conf.h"

static void on_unhandled(aw_loop *L, aw_val e, aw_promise *p, void *arg) {
  const char *m = aw_error_message(e);
  conf_log("unhandled %s", m ? m : "undefined");
}

static void on_handled(aw_loop *L, aw_promise *p, void *arg) { conf_log("rejectionHandled"); }

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void t1(aw_loop *L, void *p) {
  conf_log("t1");
  aw_release(aw_promise_catch(p, conf_logmsg_then, "caught"));
  conf_log("t1 end");
}

static void program(aw_loop *L) {
  aw_loop_on_unhandled_rejection(L, on_unhandled, NULL);
  aw_loop_on_rejection_handled(L, on_handled, NULL);
  aw_promise *p = conf_keep(aw_promise_rejected(L, aw_err("Error", "boom"))); /* const p */
  conf_log("sync end");
  aw_promise *q = conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "m1");
  aw_release(conf_then(q, conf_log_then, NULL, "m2"));
  aw_set_timeout(L, 0, t1, p); /* the global p stays alive (conf_keep) */
  aw_set_timeout(L, 5, log_task, "t2");
  aw_release(p);
}

int main(void) { return conf_main(program); }
