// A throw out of a timer or immediate callback (or out of a nextTick of the
// drain after one) skips the drain before the next callback of the phase:
// Node calls processTimers/processImmediate again (found by difftest)
#include "conf.h"

static void on_uncaught(aw_loop *L, aw_val e, void *arg) {
  const char *s = aw_cstr(e);
  conf_log("uncaught %s", s ? s : "?");
}

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }
static aw_val log_then(aw_loop *L, aw_val v, void *msg) {
  conf_log("%s", (const char *)msg);
  return aw_undefined();
}
/* Promise.resolve().then(() => console.log(msg)) */
static void micro_log(aw_loop *L, const char *msg) {
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  aw_release(aw_promise_then(p, log_then, NULL, (void *)msg));
  aw_release(p);
}

static void timer_throws(aw_loop *L, void *arg) {
  aw_next_tick(L, log_task, "tick");
  micro_log(L, "micro");
  aw_uncaught(L, aw_string("timer")); /* throw 'timer' */
}

static void immediate_throws(aw_loop *L, void *arg) {
  aw_next_tick(L, log_task, "itick");
  micro_log(L, "imicro");
  aw_uncaught(L, aw_string("immediate"));
}

static void timer_immediates(aw_loop *L, void *arg) {
  aw_set_immediate(L, immediate_throws, NULL);
  aw_set_immediate(L, log_task, "immediate 2");
  aw_set_immediate(L, log_task, "immediate 3");
}

static void tick_throws(aw_loop *L, void *arg) { aw_uncaught(L, aw_string("tick")); }

static void timer_ticks(aw_loop *L, void *arg) {
  aw_next_tick(L, tick_throws, NULL);
  aw_next_tick(L, log_task, "tick 2");
  micro_log(L, "micro 2");
}

static void microtask_throws(aw_loop *L, void *arg) { aw_uncaught(L, aw_string("microtask")); }

static void timer_microtasks(aw_loop *L, void *arg) {
  aw_queue_microtask(L, microtask_throws, NULL);
  aw_queue_microtask(L, log_task, "microtask 2");
}

static void program(aw_loop *L) {
  aw_loop_on_uncaught_exception(L, on_uncaught, NULL);
  aw_set_timeout(L, 5, timer_throws, NULL);
  aw_set_timeout(L, 5, log_task, "timer 2 (same list)");
  aw_set_timeout(L, 50, timer_immediates, NULL);
  aw_set_timeout(L, 100, timer_ticks, NULL);
  aw_set_timeout(L, 100, log_task, "timer 4 (same list)");
  aw_set_timeout(L, 150, timer_microtasks, NULL);
  aw_set_timeout(L, 150, log_task, "timer 6 (same list)");
}

int main(void) { return conf_main(program); }
