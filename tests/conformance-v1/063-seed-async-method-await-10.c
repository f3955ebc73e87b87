// seed example: an async function returning a string fulfils its promise with it; await 10 yields
// 10 after one tick
#include "conf.h"

typedef struct fn_frame {
  aw_frame frame;
} fn_frame;

static void getUserName_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_string("alice"));
  AW_END;
}
static aw_promise *getUserName(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, getUserName_body, f);
  return aw_async_start(&f->frame);
}

typedef struct main_frame {
  aw_frame frame;
  aw_val name, ten;
} main_frame;

static void main_body(aw_loop *L, aw_frame *self) {
  main_frame *f = (main_frame *)self;
  aw_val v;
  AW_BEGIN(self);
  conf_log("main start");
  AW_AWAIT(f->name, getUserName(L));
  conf_logv("name", f->name);
  AW_AWAIT(f->ten, aw_int(10));
  conf_logv("ten", f->ten);
  AW_AWAIT(v, aw_int(5)); /* const sum = ten + (await 5) */
  aw_val sum = aw_int(f->ten.u.i + v.u.i);
  conf_logv("sum", sum);
  AW_RETURN(aw_strf("%s %lld", aw_cstr(f->name), (long long)sum.u.i));
  AW_CLEANUP; /* releases the frame's locals (not a JS finally) */
  aw_release_val(f->name);
  AW_END_CLEANUP;
}
static aw_promise *main_async(aw_loop *L) {
  AW_ASYNC_NEW(L, main_frame, main_body, f);
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) {
  aw_release(conf_then(main_async(L), conf_logv_then, NULL, "main result"));
  aw_release(conf_then(getUserName(L), conf_logv_then, NULL, "direct"));
  aw_promise *p = conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "p1");
  p = conf_then(p, conf_log_then, NULL, "p2");
  p = conf_then(p, conf_log_then, NULL, "p3");
  aw_release(conf_then(p, conf_log_then, NULL, "p4"));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
