/* 001: the body of an async function runs synchronously up to its first await; the rest runs after
 * the caller's sync code */
#include "conf.h"

typedef struct {
  aw_frame frame;
} f_frame;

static void f_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("B");
  AW_AWAIT_IGNORE(aw_promise_resolved(L, aw_undefined()));
  conf_log("C");
  AW_END;
}
static aw_promise *f(aw_loop *L) {
  AW_ASYNC_NEW(L, f_frame, f_body, fr);
  return aw_async_start(&fr->frame);
}

static void program(aw_loop *L) {
  conf_log("A");
  aw_release(f(L));
  conf_log("D");
}

int main(void) { return conf_main(program); }
