// a throw inside an async function, even before any await, rejects its promise instead of throwing
// to the caller
#include "conf.h"

typedef struct fn_frame {
  aw_frame frame;
} fn_frame;

static void early_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("early runs");
  AW_THROW(aw_err("Error", "early boom"));
  AW_END;
}
static aw_promise *early(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, early_body, f);
  return aw_async_start(&f->frame);
}

static void late_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_null());
  AW_THROW(aw_err("Error", "late boom"));
  AW_END;
}
static aw_promise *late(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, late_body, f);
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) {
  conf_log("before calls");
  /* try { p1 = early(); ... } catch (e) { ... }: a C call cannot throw, so the catch is gone */
  aw_promise *p1 = early(L);
  conf_log("no sync throw");
  aw_release(conf_catch(p1, conf_logmsg_then, "caught"));
  aw_release(conf_catch(late(L), conf_logmsg_then, "caught"));
  aw_promise *p = conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "m1");
  p = conf_then(p, conf_log_then, NULL, "m2");
  aw_release(conf_then(p, conf_log_then, NULL, "m3"));
  conf_log("after calls");
}

int main(void) { return conf_main(program); }
