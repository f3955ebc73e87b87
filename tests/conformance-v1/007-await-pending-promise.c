/* 007: await on a pending promise resumes one tick after it is resolved, waiters in await order */
#include "conf.h"

static aw_promise *resolve_later; /* let resolveLater: p's resolve function */
static aw_promise *p;             /* const p */

/* r => { resolveLater = r; } */
static aw_val capture_resolve(aw_loop *L, aw_promise *self, void *arg) {
  resolve_later = conf_keep(self);
  return aw_undefined();
}

typedef struct {
  aw_frame frame;
  const char *name;
} waiter_frame;

static void waiter_body(aw_loop *L, aw_frame *self) {
  waiter_frame *f = (waiter_frame *)self;
  AW_BEGIN(self);
  conf_log("%s waiting", f->name);
  aw_val v;
  AW_AWAIT(v, aw_obj_val(aw_retain(p)));
  aw_str *s = aw_to_string(v);
  conf_log("%s got %s", f->name, s->data);
  aw_release(s);
  aw_release_val(v);
  AW_END;
}
static aw_promise *waiter(aw_loop *L, const char *name) {
  AW_ASYNC_NEW(L, waiter_frame, waiter_body, f);
  f->name = name;
  return aw_async_start(&f->frame);
}

static void on_timeout(aw_loop *L, void *arg) {
  conf_log("timer fires");
  aw_promise_resolve(resolve_later, aw_string("late"));
  aw_release(conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "timer micro"));
  aw_release(waiter(L, "w3"));
  conf_log("timer end");
}

/* const x = ...: the reference moves into a global that lives until the end. */
static aw_promise *global(aw_promise *x) {
  conf_keep(x);
  aw_release(x);
  return x;
}

static void program(aw_loop *L) {
  p = global(aw_promise_new_executor(L, capture_resolve, NULL));
  aw_release(waiter(L, "w1"));
  aw_release(waiter(L, "w2"));
  aw_set_timeout(L, 10, on_timeout, NULL);
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
