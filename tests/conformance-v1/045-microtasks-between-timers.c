// microtasks queued by a timer callback all run before the next timer callback, even when both
// timers are due together
#include "conf.h"

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void timer_1(aw_loop *L, void *arg) {
  conf_log("timer 1");
  aw_promise *p =
      conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "t1 then 1");
  aw_release(conf_then(p, conf_log_then, NULL, "t1 then 2"));
  aw_queue_microtask(L, log_task, "t1 queueMicrotask");
}

static void timer_2(aw_loop *L, void *arg) {
  conf_log("timer 2");
  aw_release(conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "t2 then"));
}

static void program(aw_loop *L) {
  aw_set_timeout(L, 5, timer_1, NULL);
  aw_set_timeout(L, 5, timer_2, NULL);
  aw_set_timeout(L, 5, log_task, "timer 3");
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
