// seed example: awaiting a setTimeout-based task lets earlier timers and all queued microtasks run
// first (Node's real order)
#include "conf.h"

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static aw_promise *doSomethingMicroTask(aw_loop *L) {
  return conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "microtask work");
}

static void macrotask_fire(aw_loop *L, void *p) {
  conf_log("macrotask work");
  aw_promise_resolve(p, aw_undefined());
  aw_release(p);
}
static aw_val macrotask_exec(aw_loop *L, aw_promise *p, void *arg) {
  aw_set_timeout(L, 0, macrotask_fire, aw_retain(p));
  return aw_undefined();
}
static aw_promise *doSomethingMacrotask(aw_loop *L) {
  return aw_promise_new_executor(L, macrotask_exec, NULL);
}

typedef struct fn_frame {
  aw_frame frame;
} fn_frame;

static void example_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("example start");
  AW_AWAIT_IGNORE(doSomethingMacrotask(L));
  conf_log("after macrotask");
  AW_AWAIT_IGNORE(doSomethingMicroTask(L));
  conf_log("after microtask");
  AW_END;
}
static aw_promise *example(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, example_body, f);
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) {
  conf_log("script start");
  aw_set_timeout(L, 0, log_task, "outside timeout");
  aw_release(example(L));
  aw_release(
      conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "outside promise"));
  conf_log("script end");
}

int main(void) { return conf_main(program); }
