// When the last immediate of the check phase throws, Node calls
// processImmediate again at once, and that call runs the immediates queued
// since (they would otherwise wait for the next loop turn, after its timers)
#include "conf.h"

static void on_uncaught(aw_loop *L, aw_val e, void *arg) {
  const char *s = aw_cstr(e);
  conf_log("uncaught %s", s ? s : "?");
}

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void busy(int64_t ms) {
  int64_t t0 = conf_now_ms();
  while (conf_now_ms() < t0 + ms) {
  }
}

static void immediate1(aw_loop *L, void *arg) {
  conf_log("immediate 1");
  aw_set_timeout(L, 1, log_task, "timer 1");
  aw_set_immediate(L, log_task, "immediate 2");
  busy(5);
  aw_uncaught(L, aw_string("i1"));
}

static void immediate3(aw_loop *L, void *arg) {
  conf_log("immediate 3");
  aw_set_timeout(L, 1, log_task, "timer 2");
  aw_set_immediate(L, log_task, "immediate 4");
  busy(5);
}

static void timer(aw_loop *L, void *arg) { aw_set_immediate(L, immediate3, NULL); }

static void program(aw_loop *L) {
  aw_loop_on_uncaught_exception(L, on_uncaught, NULL);
  aw_set_immediate(L, immediate1, NULL);
  aw_set_timeout(L, 50, timer, NULL);
}

int main(void) { return conf_main(program); }
