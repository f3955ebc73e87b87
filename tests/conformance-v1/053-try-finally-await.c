// a finally block runs on every exit of a try that contains awaits, may await itself, and keeps the
// result
#include "conf.h"

/* new Promise(r => setTimeout(r, ms)) */
static aw_val sleep_exec(aw_loop *L, aw_promise *p, void *arg) {
  conf_resolve_after(L, *(const int64_t *)arg, p, aw_undefined());
  return aw_undefined();
}
static aw_promise *sleep_ms(aw_loop *L, int64_t ms) {
  return aw_promise_new_executor(L, sleep_exec, &ms);
}

typedef struct f_frame {
  aw_frame frame;
  bool fail;
} f_frame;

static void f_body(aw_loop *L, aw_frame *self) {
  f_frame *f = (f_frame *)self;
  AW_BEGIN(self);
  conf_log("try start %s", f->fail ? "fail" : "ok");
  AW_AWAIT_IGNORE(aw_null());
  if (f->fail)
    AW_THROW(aw_err("Error", "failed"));
  AW_RETURN(aw_string("returned"));
  AW_CLEANUP;
  conf_log("finally start");
  AW_AWAIT_IGNORE(sleep_ms(L, 5));
  conf_log("finally end");
  AW_END_CLEANUP;
}
static aw_promise *fn(aw_loop *L, bool fail) {
  AW_ASYNC_NEW(L, f_frame, f_body, f);
  f->fail = fail;
  return aw_async_start(&f->frame);
}

typedef struct main_frame {
  aw_frame frame;
} main_frame;

static void main_body(aw_loop *L, aw_frame *self) {
  aw_val r;
  AW_BEGIN(self);
  AW_AWAIT(r, fn(L, false));
  conf_logv("result", r);
  aw_release_val(r);
  AW_AWAIT_SETTLED(r, fn(L, true)); /* try { await f(true) } */
  if (aw_is_thrown(r)) {            /* catch (e) */
    const char *m = aw_error_message(r);
    conf_log("caught %s", m ? m : "undefined");
  }
  aw_release_val(r);
  conf_log("main end");
  AW_END;
}
static aw_promise *main_async(aw_loop *L) {
  AW_ASYNC_NEW(L, main_frame, main_body, f);
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) {
  aw_release(main_async(L));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
