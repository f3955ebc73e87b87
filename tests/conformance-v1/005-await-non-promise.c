/* 005: await of a non-promise value resumes after exactly one microtask tick */
#include "conf.h"

typedef struct {
  aw_frame frame;
} f_frame;

static void f_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("f start");
  aw_val v, w;
  AW_AWAIT(v, aw_int(42));
  conf_logv("f got", v);
  aw_release_val(v);
  AW_AWAIT(w, aw_string("str"));
  conf_logv("f got", w);
  aw_release_val(w);
  AW_END;
}
static aw_promise *f(aw_loop *L) {
  AW_ASYNC_NEW(L, f_frame, f_body, fr);
  return aw_async_start(&fr->frame);
}

static void program(aw_loop *L) {
  conf_ticks(L, 4);
  aw_release(f(L));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
