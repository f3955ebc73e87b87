// try/catch around setTimeout cannot catch a throw from its callback; it reaches
// 'uncaughtException' and the loop goes on
#include "conf.h"

static void on_uncaught(aw_loop *L, aw_val e, void *arg) {
  const char *m = aw_error_message(e);
  conf_log("uncaught %s", m ? m : "undefined");
}

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void timer_1(aw_loop *L, void *arg) {
  conf_log("timer 1 throws");
  aw_uncaught(L, aw_err("Error", "from timer")); /* throw new Error('from timer') */
  return;
}

static void program(aw_loop *L) {
  aw_loop_on_uncaught_exception(L, on_uncaught, NULL);
  /* try { ... } catch (e) { ... }: aw_set_timeout does not throw, so the catch is gone */
  aw_set_timeout(L, 5, timer_1, NULL);
  conf_log("setTimeout returned");
  aw_set_timeout(L, 10, log_task, "timer 2 still runs");
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
