/* 022: each then returns a new promise that carries the handler's return value down the chain */
#include "conf.h"

static aw_val step1(aw_loop *L, aw_val v, void *arg) {
  conf_logv("step1", v);
  return aw_int(v.u.i + 1);
}
static aw_val step2(aw_loop *L, aw_val v, void *arg) {
  conf_logv("step2", v);
  return aw_int(v.u.i * 10);
}
/* r => setTimeout(() => r(v + 5), 5) */
static aw_val resolve_later(aw_loop *L, aw_promise *r, void *arg) {
  const aw_val *v = arg;
  conf_resolve_after(L, 5, r, aw_int(v->u.i + 5));
  return aw_undefined();
}
static aw_val step3(aw_loop *L, aw_val v, void *arg) {
  conf_logv("step3", v);
  return aw_obj_val(aw_promise_new_executor(L, resolve_later, &v));
}
static aw_val plus_1(aw_loop *L, aw_val v, void *arg) { return aw_int(v.u.i + 1); }
static aw_val plus_2(aw_loop *L, aw_val v, void *arg) { return aw_int(v.u.i + 2); }

static void program(aw_loop *L) {
  aw_promise *p = aw_promise_resolved(L, aw_int(1));
  p = conf_then(p, step1, NULL, NULL);
  p = conf_then(p, step2, NULL, NULL);
  p = conf_then(p, step3, NULL, NULL);
  p = conf_then(p, conf_logv_then, NULL, "step4");
  aw_release(p);
  aw_promise *base = aw_promise_resolved(L, aw_int(100));
  aw_release(
      conf_then(aw_promise_then(base, plus_1, NULL, NULL), conf_logv_then, NULL, "branch a"));
  aw_release(
      conf_then(aw_promise_then(base, plus_2, NULL, NULL), conf_logv_then, NULL, "branch b"));
  aw_release(base);
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
