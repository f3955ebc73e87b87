// clearTimeout cancels a pending timer, also one due in the same timers phase; clearing a fired
// timer is harmless
#include "conf.h"

static aw_timer never, victim, fired; /* the script's globals */

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void killer(aw_loop *L, void *arg) {
  conf_log("killer runs");
  aw_clear_timer(L, victim);
}

static void clear_fired(aw_loop *L, void *arg) {
  aw_clear_timer(L, fired);
  conf_log("cleared an already fired timer");
}

static void program(aw_loop *L) {
  never = aw_set_timeout(L, 10, log_task, "never runs");
  aw_clear_timer(L, never);
  aw_set_timeout(L, 5, killer, NULL);
  victim = aw_set_timeout(L, 5, log_task, "victim never runs");
  aw_set_timeout(L, 5, log_task, "bystander runs");
  fired = aw_set_timeout(L, 1, log_task, "fired");
  aw_set_timeout(L, 20, clear_fired, NULL);
  aw_set_timeout(L, 30, log_task, "end");
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
