/* 021: handlers on one promise run in registration order, each as its own job, whether added before
 * or after it settles */
#include "conf.h"

static aw_promise *resolve_it; /* let resolveIt: p's resolve function */
static aw_promise *p;          /* const p */

/* r => { resolveIt = r; } */
static aw_val capture_resolve(aw_loop *L, aw_promise *self, void *arg) {
  resolve_it = conf_keep(self);
  return aw_undefined();
}

/* v => { console.log('h2', v); p.then(w => console.log('h5 added inside h2', w)); } */
static aw_val h2(aw_loop *L, aw_val v, void *arg) {
  conf_logv("h2", v);
  aw_release(aw_promise_then(p, conf_logv_then, NULL, "h5 added inside h2"));
  return aw_undefined();
}

/* const x = ...: the reference moves into a global that lives until the end. */
static aw_promise *global(aw_promise *x) {
  conf_keep(x);
  aw_release(x);
  return x;
}

static void program(aw_loop *L) {
  p = global(aw_promise_new_executor(L, capture_resolve, NULL));
  aw_release(aw_promise_then(p, conf_logv_then, NULL, "h1"));
  aw_release(aw_promise_then(p, h2, NULL, NULL));
  aw_release(aw_promise_then(p, conf_logv_then, NULL, "h3"));
  aw_release(conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "other"));
  aw_promise_resolve(resolve_it, aw_int(1));
  aw_release(aw_promise_then(p, conf_logv_then, NULL, "h4 after settle"));
  aw_promise *r = aw_promise_rejected(L, aw_err("Error", "no"));
  aw_release(aw_promise_catch(r, conf_logmsg_then, "c1"));
  aw_release(aw_promise_then(r, NULL, conf_logmsg_then, "c2"));
  aw_release(aw_promise_catch(r, conf_logmsg_then, "c3"));
  aw_release(r);
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
