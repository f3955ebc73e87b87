// the executor runs synchronously; a throw in it rejects the promise, a throw after resolve is
// ignored
#include "conf.h"

static aw_val exec_1(aw_loop *L, aw_promise *p, void *arg) {
  conf_log("executor 1");
  return aw_throw(aw_err("Error", "executor threw"));
}

static aw_val exec_2(aw_loop *L, aw_promise *p, void *arg) {
  conf_log("executor 2");
  aw_promise_resolve(p, aw_string("resolved first"));
  return aw_throw(aw_err("Error", "ignored"));
}

static aw_val exec_3(aw_loop *L, aw_promise *p, void *arg) {
  conf_log("executor 3");
  aw_promise_reject(p, aw_err("Error", "rejected first"));
  return aw_throw(aw_err("Error", "also ignored"));
}

static void program(aw_loop *L) {
  aw_promise *p1 = aw_promise_new_executor(L, exec_1, NULL);
  aw_promise *p2 = aw_promise_new_executor(L, exec_2, NULL);
  aw_promise *p3 = aw_promise_new_executor(L, exec_3, NULL);
  conf_log("after constructors");
  aw_release(conf_catch(p1, conf_logmsg_then, "p1"));
  aw_release(conf_then(p2, conf_logv_then, NULL, "p2"));
  aw_release(conf_catch(p3, conf_logmsg_then, "p3"));
}

int main(void) { return conf_main(program); }
