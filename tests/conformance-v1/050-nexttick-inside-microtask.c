// a nextTick queued by a promise job waits until the microtask queue is empty; a promise job queued
// by a nextTick waits for the nextTick queue
#include "conf.h"

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static aw_val p1(aw_loop *L, aw_val v, void *arg) {
  conf_log("p1");
  aw_next_tick(L, log_task, "nextTick from p1");
  return aw_undefined();
}

static void t1(aw_loop *L, void *arg) {
  conf_log("t1");
  aw_release(
      conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "promise from t1"));
  aw_next_tick(L, log_task, "t3 from t1");
}

static void program(aw_loop *L) {
  aw_promise *p = conf_then(aw_promise_resolved(L, aw_undefined()), p1, NULL, NULL);
  p = conf_then(p, conf_log_then, NULL, "p2");
  aw_release(conf_then(p, conf_log_then, NULL, "p3"));
  aw_next_tick(L, t1, NULL);
  aw_next_tick(L, log_task, "t2");
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
