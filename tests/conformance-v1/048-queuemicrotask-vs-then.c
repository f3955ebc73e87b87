// queueMicrotask and promise reactions share one FIFO microtask queue
#include "conf.h"

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static aw_val then_2(aw_loop *L, aw_val v, void *arg) {
  conf_log("then 2");
  aw_queue_microtask(L, log_task, "qm 3 from then 2");
  return aw_undefined();
}

static void qm_2(aw_loop *L, void *arg) {
  conf_log("qm 2");
  aw_release(
      conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "then 3 from qm 2"));
}

static void program(aw_loop *L) {
  aw_release(conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "then 1"));
  aw_queue_microtask(L, log_task, "qm 1");
  aw_promise *p = conf_then(aw_promise_resolved(L, aw_undefined()), then_2, NULL, NULL);
  aw_release(conf_then(p, conf_log_then, NULL, "then 2b"));
  aw_queue_microtask(L, qm_2, NULL);
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
