// then() marks its source as handled, so a rejected chain is reported at its unhandled end; async
// throws are reported too
#include "conf.h"

static void on_unhandled(aw_loop *L, aw_val e, aw_promise *p, void *arg) {
  const char *m = aw_error_message(e);
  conf_log("unhandled %s", m ? m : "undefined");
}

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

typedef struct fn_frame {
  aw_frame frame;
} fn_frame;

static void fails_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null());
  AW_THROW(aw_err("Error", "async fail"));
  AW_END;
}
static aw_promise *fails(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, fails_body, f);
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) {
  aw_loop_on_unhandled_rejection(L, on_unhandled, NULL);
  aw_release(fails(L));
  aw_promise *src = conf_keep(aw_promise_rejected(L, aw_err("Error", "src"))); /* const src */
  aw_release(aw_promise_then(src, conf_logv_then, NULL, "never"));
  aw_release(
      conf_catch(aw_promise_then(src, conf_logv_then, NULL, "never"), conf_logmsg_then, "caught"));
  aw_set_timeout(L, 0, log_task, "timeout");
  conf_log("sync end");
  aw_release(src);
}

int main(void) { return conf_main(program); }
