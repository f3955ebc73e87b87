// process.nextTick callbacks run before promise microtasks, after the main script and after each
// macrotask
#include "conf.h"

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void timeout(aw_loop *L, void *arg) {
  conf_log("timeout");
  aw_release(
      conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "promise in timeout"));
  aw_next_tick(L, log_task, "nextTick in timeout");
}

static void program(aw_loop *L) {
  aw_release(conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "promise 1"));
  aw_next_tick(L, log_task, "nextTick 1");
  aw_queue_microtask(L, log_task, "microtask 1");
  aw_next_tick(L, log_task, "nextTick 2");
  aw_set_timeout(L, 0, timeout, NULL);
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
