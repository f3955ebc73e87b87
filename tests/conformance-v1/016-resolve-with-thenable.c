/* 016: resolving a promise with a plain thenable costs one extra tick. */
#include "conf.h"

static aw_val thenable_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  conf_log("thenable.then");
  aw_resolver_resolve(r, aw_string("t"));
  return aw_undefined();
}

static void program(aw_loop *L) {
  conf_ticks(L, 5);
  aw_obj *thenable = conf_thenable(thenable_then, NULL);
  aw_promise *p = aw_promise_new(L);
  aw_promise_resolve(p, aw_obj_val(aw_retain(thenable)));
  aw_release(conf_then(p, conf_logv_then, NULL, "from thenable"));
  p = aw_promise_new(L);
  aw_promise_resolve(p, aw_obj_val(aw_promise_resolved(L, aw_string("n"))));
  aw_release(conf_then(p, conf_logv_then, NULL, "from native"));
  p = aw_promise_new(L);
  aw_promise_resolve(p, aw_string("v"));
  aw_release(conf_then(p, conf_logv_then, NULL, "from value"));
  aw_release(conf_then(aw_promise_resolved(L, aw_obj_val(thenable)), conf_logv_then, NULL,
                       "Promise.resolve thenable"));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
