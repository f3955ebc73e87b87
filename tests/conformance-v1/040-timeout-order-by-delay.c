// timers fire by due time; timers due at the same time fire in creation order; 0 means 1 ms
#include "conf.h"

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void program(aw_loop *L) {
  aw_set_timeout(L, 30, log_task, "t30");
  aw_set_timeout(L, 10, log_task, "t10 first");
  aw_set_timeout(L, 20, log_task, "t20");
  aw_set_timeout(L, 10, log_task, "t10 second");
  aw_set_timeout(L, 0, log_task, "t0");
  aw_set_timeout(L, 1, log_task, "t1");
  aw_set_timeout(L, 0, log_task, "t0 again");
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
