/* 014: new Promise(r => r(nativePromise)) settles two ticks later than r(value); Promise.resolve(p)
 * returns p itself */
#include "conf.h"

/* r => r(inner) */
static aw_val resolve_inner(aw_loop *L, aw_promise *p, void *inner) {
  aw_promise_resolve(p, aw_obj_val(aw_retain(inner)));
  return aw_undefined();
}
/* r => r('y') */
static aw_val resolve_y(aw_loop *L, aw_promise *p, void *arg) {
  aw_promise_resolve(p, aw_string("y"));
  return aw_undefined();
}

static void program(aw_loop *L) {
  aw_promise *inner = aw_promise_resolved(L, aw_string("x"));
  aw_promise *wrapped = aw_promise_new_executor(L, resolve_inner, inner);
  aw_promise *same = aw_promise_resolved(L, aw_obj_val(aw_retain(inner)));
  aw_promise *by_value = aw_promise_new_executor(L, resolve_y, NULL);
  conf_log("%s", same == inner ? "resolve returns same promise" : "resolve made a new promise");
  conf_log("%s", wrapped == inner ? "wrapped is inner" : "wrapped is new");
  conf_ticks(L, 5);
  aw_release(conf_then(wrapped, conf_logv_then, NULL, "wrapped"));
  aw_release(conf_then(same, conf_logv_then, NULL, "same"));
  aw_release(conf_then(by_value, conf_logv_then, NULL, "byValue"));
  aw_release(inner);
}

int main(void) { return conf_main(program); }
