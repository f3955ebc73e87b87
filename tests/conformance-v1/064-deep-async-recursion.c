// an async recursion 1000 deep settles level by level with the right result and no stack overflow
#include "conf.h"

typedef struct level_frame {
  aw_frame frame;
  int64_t n;
} level_frame;

static aw_promise *level(aw_loop *L, int64_t n);

static void level_body(aw_loop *L, aw_frame *self) {
  level_frame *f = (level_frame *)self;
  aw_val below;
  AW_BEGIN(self);
  if (f->n == 0) {
    AW_AWAIT_IGNORE(aw_null());
    AW_RETURN(aw_int(0));
  }
  AW_AWAIT(below, level(L, f->n - 1));
  AW_RETURN(aw_int(below.u.i + 1));
  AW_END;
}
static aw_promise *level(aw_loop *L, int64_t n) {
  AW_ASYNC_NEW(L, level_frame, level_body, f);
  f->n = n;
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) {
  aw_release(conf_then(level(L, 1000), conf_logv_then, NULL, "depth"));
  aw_release(conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL,
                       "other work runs first"));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
