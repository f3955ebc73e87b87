/* 010: a thenable whose then throws rejects the await; a throw after it already resolved is ignored
 */
#include "conf.h"

static aw_obj *bad, *late; /* const bad, const late */

static aw_val bad_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  conf_log("bad then");
  return aw_throw(aw_err("Error", "then threw"));
}
static aw_val late_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  conf_log("late then");
  aw_resolver_resolve(r, aw_string("first"));
  return aw_throw(aw_err("Error", "ignored"));
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
  aw_val r, v;
  /* try { */
  AW_AWAIT_SETTLED(r, aw_obj_val(aw_retain(bad)));
  if (!aw_is_thrown(r)) {
    conf_log("not reached");
  } else { /* } catch (e) { */
    log_message("caught", aw_caught(r));
  }
  aw_release_val(r);
  AW_AWAIT(v, aw_obj_val(aw_retain(late)));
  conf_logv("late gave", v);
  aw_release_val(v);
  AW_END;
}
static aw_promise *f(aw_loop *L) {
  AW_ASYNC_NEW(L, f_frame, f_body, fr);
  return aw_async_start(&fr->frame);
}

/* const x = ...: the reference moves into a global that lives until the end. */
static aw_obj *global(aw_obj *o) {
  conf_keep_val(aw_obj_val(o));
  aw_release(o);
  return o;
}

static void program(aw_loop *L) {
  bad = global(conf_thenable(bad_then, NULL));
  late = global(conf_thenable(late_then, NULL));
  conf_ticks(L, 6);
  aw_release(f(L));
}

int main(void) { return conf_main(program); }
