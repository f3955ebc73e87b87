// What a throw cuts short is owed to the next drain (found by difftest):
// a nextTick that throws ends its drain, and what is left runs after the next
// callback, at the start of the check phase (Node's native-immediates scope),
// or after the empty immediate Node queues once an uncaughtException
// listener has handled an exception ("so that any ticks get processed")
#include "conf.h"

static void on_uncaught(aw_loop *L, aw_val e, void *arg) {
  const char *s = aw_cstr(e);
  conf_log("uncaught %s", s ? s : "?");
}

static void on_unhandled(aw_loop *L, aw_val reason, aw_promise *p, void *arg) {
  const char *s = aw_cstr(reason);
  conf_log("unhandled %s", s ? s : "?");
}

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void tick1(aw_loop *L, void *arg) {
  conf_log("tick 1");
  aw_release(aw_promise_rejected(L, aw_string("r1")));
  aw_uncaught(L, aw_string("t1"));
}

static void tick2(aw_loop *L, void *arg) {
  conf_log("tick 2");
  aw_next_tick(L, log_task, "tick 3");
  aw_uncaught(L, aw_string("t2"));
}

static void tick4(aw_loop *L, void *arg) {
  conf_log("tick 4");
  aw_uncaught(L, aw_string("t4"));
}

static void tick5(aw_loop *L, void *arg) {
  conf_log("tick 5");
  aw_uncaught(L, aw_string("t5"));
}

static void timer1(aw_loop *L, void *arg) {
  conf_log("timer");
  aw_next_tick(L, tick4, NULL);
  aw_next_tick(L, tick5, NULL);
  aw_next_tick(L, log_task, "tick 6");
  aw_set_immediate(L, log_task, "immediate 2");
}

static void immediate3(aw_loop *L, void *arg) {
  conf_log("immediate 3");
  aw_next_tick(L, log_task, "tick 7");
  aw_uncaught(L, aw_string("i3"));
}

static void timer2(aw_loop *L, void *arg) {
  aw_set_immediate(L, immediate3, NULL);
  aw_uncaught(L, aw_string("timer 2"));
}

static void timer3(aw_loop *L, void *arg) { aw_set_immediate(L, log_task, "immediate 4"); }

static void tick8(aw_loop *L, void *arg) {
  conf_log("tick 8");
  aw_set_immediate(L, log_task, "immediate 6");
  aw_uncaught(L, aw_string("t8"));
}

static void immediate5(aw_loop *L, void *arg) {
  conf_log("immediate 5");
  aw_next_tick(L, tick8, NULL);
  aw_next_tick(L, log_task, "tick 9");
}

static void timer4(aw_loop *L, void *arg) { aw_set_immediate(L, immediate5, NULL); }

static void program(aw_loop *L) {
  aw_loop_on_uncaught_exception(L, on_uncaught, NULL);
  aw_loop_on_unhandled_rejection(L, on_unhandled, NULL);
  aw_set_immediate(L, log_task, "immediate");
  aw_next_tick(L, tick1, NULL);
  aw_next_tick(L, tick2, NULL);
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  aw_release(aw_promise_then(p, conf_log_then, NULL, "micro"));
  aw_release(p);
  conf_log("main");
  aw_set_timeout(L, 20, timer1, NULL);
  aw_set_timeout(L, 40, timer2, NULL);
  aw_set_timeout(L, 40, timer3, NULL);
  aw_set_timeout(L, 60, timer4, NULL);
}

int main(void) { return conf_main(program); }
