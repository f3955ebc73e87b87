// the seed article's own example, verbatim: doSomethingMicroTask/doSomethingMacrotask return
// undefined, so each await is one tick and both timers fire after 'End' (the article claims
// otherwise)
#include "conf.h"

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static aw_val doSomethingMicroTask(aw_loop *L) {
  // Simulate microtask operation
  aw_set_timeout(L, 0, log_task, "MicroTask done");
  return aw_undefined(); /* no return statement */
}

static aw_val doSomethingMacrotask(aw_loop *L) {
  // Simulate macrotask operation
  aw_set_timeout(L, 100, log_task, "Macrotask done");
  return aw_undefined(); /* no return statement */
}

typedef struct fn_frame {
  aw_frame frame;
} fn_frame;

static void example_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("Start");
  // Add task to MicroTask Queue
  AW_AWAIT_IGNORE(doSomethingMicroTask(L));
  conf_log("Mid");
  // Add task to Macrotask Queue
  AW_AWAIT_IGNORE(doSomethingMacrotask(L));
  conf_log("End");
  AW_END;
}
static aw_promise *example(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, example_body, f);
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) { aw_release(example(L)); }

int main(void) { return conf_main(program); }
