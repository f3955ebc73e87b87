/* 008: await on a rejected promise throws at the await after one tick; try/catch inside the async
 * function catches it */
#include "conf.h"

/* (resolve, reject) => setTimeout(() => reject(new Error('later')), 5) */
static aw_val reject_later(aw_loop *L, aw_promise *p, void *arg) {
  conf_reject_after(L, 5, p, "later");
  return aw_undefined();
}

/* console.log(label, e.message) */
static void log_message(const char *label, aw_val e) {
  const char *m = aw_error_message(e);
  conf_log("%s %s", label, m ? m : "undefined");
}

typedef struct {
  aw_frame frame;
} f_frame;

static void f_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  aw_val r;
  /* try { */
  conf_log("before");
  AW_AWAIT_SETTLED(r, aw_promise_rejected(L, aw_err("Error", "bad")));
  if (!aw_is_thrown(r)) {
    conf_log("not reached");
  } else { /* } catch (e) { */
    log_message("caught", aw_caught(r));
  }
  aw_release_val(r);
  conf_log("after try");
  /* try { */
  AW_AWAIT_SETTLED(r, aw_promise_new_executor(L, reject_later, NULL));
  if (aw_is_thrown(r)) { /* } catch (e) { */
    log_message("caught", aw_caught(r));
  }
  aw_release_val(r);
  conf_log("f end");
  AW_END;
}
static aw_promise *f(aw_loop *L) {
  AW_ASYNC_NEW(L, f_frame, f_body, fr);
  return aw_async_start(&fr->frame);
}

static void program(aw_loop *L) {
  conf_ticks(L, 3);
  aw_release(f(L));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
