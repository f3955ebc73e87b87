/* 019: await f() costs one tick after f's promise settles: immediately for a no-await f, later for
 * f with awaits */
#include "conf.h"

typedef struct {
  aw_frame frame;
} fn_frame;

static void zero_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_int(0));
  AW_END;
}
static aw_promise *zero(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, zero_body, fr);
  return aw_async_start(&fr->frame);
}

static void one_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null());
  AW_RETURN(aw_int(1));
  AW_END;
}
static aw_promise *one(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, one_body, fr);
  return aw_async_start(&fr->frame);
}

static void two_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null());
  AW_AWAIT_IGNORE(aw_null());
  AW_RETURN(aw_int(2));
  AW_END;
}
static aw_promise *two(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, two_body, fr);
  return aw_async_start(&fr->frame);
}

static void main_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("main start");
  aw_val v;
  AW_AWAIT(v, zero(L));
  conf_logv("got", v);
  aw_release_val(v);
  AW_AWAIT(v, one(L));
  conf_logv("got", v);
  aw_release_val(v);
  AW_AWAIT(v, two(L));
  conf_logv("got", v);
  aw_release_val(v);
  conf_log("main end");
  AW_END;
}
static aw_promise *main_(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, main_body, fr);
  return aw_async_start(&fr->frame);
}

static void program(aw_loop *L) {
  conf_ticks(L, 10);
  aw_release(main_(L));
}

int main(void) { return conf_main(program); }
