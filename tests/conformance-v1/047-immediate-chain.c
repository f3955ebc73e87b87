// an immediate scheduled from an immediate runs on the next loop iteration, after a timer that came
// due meanwhile
#include "conf.h"

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void i1(aw_loop *L, void *arg) {
  conf_log("I1");
  aw_set_immediate(L, log_task, "I3 from I1");
  aw_set_timeout(L, 0, log_task, "T from I1");
  aw_release(conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "I1 micro"));
  int64_t t0 = conf_now_ms();
  while (conf_now_ms() - t0 < 5) {
  }
}

static void i4(aw_loop *L, void *arg) {
  conf_log("I4 from I2");
  aw_set_immediate(L, log_task, "I5 from I4");
}

static void i2(aw_loop *L, void *arg) {
  conf_log("I2");
  aw_set_immediate(L, i4, NULL);
}

static void program(aw_loop *L) {
  aw_set_immediate(L, i1, NULL);
  aw_set_immediate(L, i2, NULL);
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
