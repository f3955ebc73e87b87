// timers with equal delay fire first-in first-out; delays 0, missing and negative all mean 1 ms
#include <stdint.h>

#include "conf.h"

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }
static void five_task(aw_loop *L, void *i) { conf_log("five %d", (int)(intptr_t)i); }

static void program(aw_loop *L) {
  for (int i = 1; i <= 5; i++)
    aw_set_timeout(L, 5, five_task, (void *)(intptr_t)i);
  aw_set_timeout(L, 1, log_task, "one ms");
  aw_set_timeout(L, 0, log_task, "zero ms");
  aw_set_timeout(L, 0, log_task, "no delay arg"); /* C has no missing argument: 0 */
  aw_set_timeout(L, -10, log_task, "negative");
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
