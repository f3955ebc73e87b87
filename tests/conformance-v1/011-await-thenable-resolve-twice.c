/* 011: a thenable that calls its callbacks more than once: only the first call counts */
#include "conf.h"

static aw_obj *twice, *res_then_rej, *rej_then_res, *rej_twice; /* the four const thenables */

static aw_val twice_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  aw_resolver_resolve(r, aw_string("one"));
  aw_resolver_resolve(r, aw_string("two"));
  return aw_undefined();
}
static aw_val res_then_rej_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  aw_resolver_resolve(r, aw_string("ok"));
  aw_resolver_reject(r, aw_err("Error", "no"));
  return aw_undefined();
}
static aw_val rej_then_res_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  aw_resolver_reject(r, aw_err("Error", "first"));
  aw_resolver_resolve(r, aw_string("second"));
  return aw_undefined();
}
static aw_val rej_twice_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  aw_resolver_reject(r, aw_err("Error", "r1"));
  aw_resolver_reject(r, aw_err("Error", "r2"));
  return aw_undefined();
}

/* (res, rej) => { res('p1'); res('p2'); rej(new Error('p3')); } */
static aw_val executor(aw_loop *L, aw_promise *p, void *arg) {
  aw_promise_resolve(p, aw_string("p1"));
  aw_promise_resolve(p, aw_string("p2"));
  aw_promise_reject(p, aw_err("Error", "p3"));
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
  aw_val v;
  AW_AWAIT(v, aw_obj_val(aw_retain(twice)));
  conf_logv("twice", v);
  aw_release_val(v);
  AW_AWAIT(v, aw_obj_val(aw_retain(res_then_rej)));
  conf_logv("resThenRej", v);
  aw_release_val(v);
  /* try { await rejThenRes; } catch (e) { ... } */
  AW_AWAIT_SETTLED(v, aw_obj_val(aw_retain(rej_then_res)));
  if (aw_is_thrown(v)) { /* catch (e) */
    log_message("rejThenRes", aw_caught(v));
  }
  aw_release_val(v);
  /* try { await rejTwice; } catch (e) { ... } */
  AW_AWAIT_SETTLED(v, aw_obj_val(aw_retain(rej_twice)));
  if (aw_is_thrown(v)) { /* catch (e) */
    log_message("rejTwice", aw_caught(v));
  }
  aw_release_val(v);
  aw_promise *p = aw_promise_new_executor(L, executor, NULL);
  AW_AWAIT(v, p); /* p's last use: the await consumes it */
  conf_logv("executor", v);
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
  twice = global(conf_thenable(twice_then, NULL));
  res_then_rej = global(conf_thenable(res_then_rej_then, NULL));
  rej_then_res = global(conf_thenable(rej_then_res_then, NULL));
  rej_twice = global(conf_thenable(rej_twice_then, NULL));
  aw_release(conf_then(f(L), conf_log_then, NULL, "done"));
}

int main(void) { return conf_main(program); }
