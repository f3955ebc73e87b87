/* 013: `return p` of a settled promise costs two ticks more than returning a value. */
#include "conf.h"

typedef struct {
  aw_frame frame;
} fn_frame;

static void direct_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_promise_resolved(L, aw_string("d")));
  AW_END;
}
static aw_promise *direct(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, direct_body, f);
  return aw_async_start(&f->frame);
}

static void awaited_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, aw_promise_resolved(L, aw_string("a")));
  AW_RETURN(v);
  AW_END;
}
static aw_promise *awaited(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, awaited_body, f);
  return aw_async_start(&f->frame);
}

static void plain_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_string("v"));
  AW_END;
}
static aw_promise *plain(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, plain_body, f);
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) {
  aw_release(conf_then(direct(L), conf_logv_then, NULL, "direct"));
  aw_release(conf_then(awaited(L), conf_logv_then, NULL, "awaited"));
  aw_release(conf_then(plain(L), conf_logv_then, NULL, "plain"));
  conf_ticks(L, 5);
}

int main(void) { return conf_main(program); }
