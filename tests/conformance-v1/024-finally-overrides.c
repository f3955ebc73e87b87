/* 024: a finally callback that throws, or returns a rejected promise, replaces the outcome; a
 * fulfilled promise does not */
#include "conf.h"

/* finally() that consumes p, as conf_then does. */
static aw_promise *finally_(aw_promise *p, aw_call_fn fn, void *arg) {
  aw_promise *d = aw_promise_finally(p, fn, arg);
  aw_release(p);
  return d;
}

/* console.log(label, e.message) */
static void log_message(const char *label, aw_val e) {
  const char *m = aw_error_message(e);
  conf_log("%s %s", label, m ? m : "undefined");
}

/* () => { throw new Error('finally threw'); } */
static aw_val throw_in_finally(aw_loop *L, void *arg) {
  return aw_throw(aw_err("Error", "finally threw"));
}
static aw_val not_reached(aw_loop *L, aw_val v, void *arg) {
  conf_logv("not reached", v);
  return aw_undefined();
}
static aw_val case1(aw_loop *L, aw_val e, void *arg) {
  log_message("case1", e);
  return aw_undefined();
}

/* () => Promise.reject(new Error('finally rejected')) */
static aw_val reject_in_finally(aw_loop *L, void *arg) {
  return aw_obj_val(aw_promise_rejected(L, aw_err("Error", "finally rejected")));
}
/* () => Promise.resolve('ok') */
static aw_val resolve_in_finally(aw_loop *L, void *arg) {
  return aw_obj_val(aw_promise_resolved(L, aw_string("ok")));
}

/* () => { console.log('slow finally done'); r('x'); } */
static void slow_done(aw_loop *L, void *arg) {
  aw_promise *r = arg;
  conf_log("slow finally done");
  aw_promise_resolve(r, aw_string("x"));
  aw_release(r);
}
/* r => setTimeout(..., 5) */
static aw_val slow_executor(aw_loop *L, aw_promise *r, void *arg) {
  aw_set_timeout(L, 5, slow_done, aw_retain(r));
  return aw_undefined();
}
/* () => new Promise(...) */
static aw_val slow_finally(aw_loop *L, void *arg) {
  return aw_obj_val(aw_promise_new_executor(L, slow_executor, NULL));
}

static void program(aw_loop *L) {
  aw_promise *p = aw_promise_resolved(L, aw_string("v1"));
  p = finally_(p, throw_in_finally, NULL);
  aw_release(conf_then(p, not_reached, case1, NULL));
  p = aw_promise_rejected(L, aw_err("Error", "orig"));
  p = finally_(p, reject_in_finally, NULL);
  aw_release(conf_catch(p, conf_logmsg_then, "case2"));
  p = aw_promise_rejected(L, aw_err("Error", "orig3"));
  p = finally_(p, resolve_in_finally, NULL);
  aw_release(conf_catch(p, conf_logmsg_then, "case3"));
  p = aw_promise_resolved(L, aw_string("v4"));
  p = finally_(p, slow_finally, NULL);
  aw_release(conf_then(p, conf_logv_then, NULL, "case4"));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
