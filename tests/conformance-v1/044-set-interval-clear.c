// setInterval repeats until clearInterval, which works from inside its own callback; microtasks run
// after each run
#include "conf.h"

static int n = 0;
static aw_timer id;

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static aw_val micro_after(aw_loop *L, aw_val v, void *arg) {
  conf_log("micro after %d", n);
  return aw_undefined();
}

static void tick(aw_loop *L, void *arg) {
  n++;
  conf_log("interval %d", n);
  aw_release(conf_then(aw_promise_resolved(L, aw_undefined()), micro_after, NULL, NULL));
  if (n == 3) {
    aw_clear_timer(L, id);
    conf_log("cleared");
  }
}

static void program(aw_loop *L) {
  id = aw_set_interval(L, 10, tick, NULL);
  aw_set_timeout(L, 100, log_task, "timeout 100");
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
