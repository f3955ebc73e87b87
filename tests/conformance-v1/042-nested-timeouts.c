// a timer created inside a timer callback never runs in the same timers phase, even with delay 0
#include "conf.h"

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void timer_a(aw_loop *L, void *arg) {
  conf_log("A");
  aw_set_timeout(L, 0, log_task, "C from A");
  aw_release(conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "A micro"));
}

static void timer_d(aw_loop *L, void *arg) {
  conf_log("D from B");
  aw_set_timeout(L, 0, log_task, "E from D");
}

static void timer_b(aw_loop *L, void *arg) {
  conf_log("B");
  aw_set_timeout(L, 0, timer_d, NULL);
}

static void program(aw_loop *L) {
  aw_set_timeout(L, 0, timer_a, NULL);
  aw_set_timeout(L, 0, timer_b, NULL);
  aw_set_timeout(L, 50, log_task, "F 50");
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
