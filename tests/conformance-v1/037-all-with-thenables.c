/* 037: thenables inside combinators are adopted through their then, one extra tick each. */
#include "conf.h"

static aw_val good_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  conf_log("good.then");
  aw_resolver_resolve(r, aw_string("g"));
  return aw_undefined();
}
static aw_val bad_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  conf_log("bad.then");
  aw_resolver_reject(r, aw_err("Error", "thenable rejected"));
  return aw_undefined();
}
static aw_val all_ok(aw_loop *L, aw_val v, void *arg) {
  aw_str *s = aw_to_string(v); /* vs.join(',') */
  conf_log("all ok %s", s->data);
  aw_release(s);
  return aw_undefined();
}

static void program(aw_loop *L) {
  aw_obj *good = conf_thenable(good_then, NULL);
  aw_obj *bad = conf_thenable(bad_then, NULL);
  conf_ticks(L, 5);
  aw_val in1[] = {aw_obj_val(aw_retain(good)), aw_string("v")};
  aw_release(conf_then(aw_promise_all(L, 2, in1), all_ok, NULL, NULL));
  aw_val in2[] = {aw_obj_val(aw_promise_resolved(L, aw_string("p"))), aw_obj_val(aw_retain(bad))};
  aw_release(conf_catch(aw_promise_all(L, 2, in2), conf_logmsg_then, "all failed"));
  aw_val in3[] = {aw_obj_val(aw_retain(good)),
                  aw_obj_val(aw_promise_resolved(L, aw_string("native")))};
  aw_release(conf_then(aw_promise_race(L, 2, in3), conf_logv_then, NULL, "race winner"));
  aw_val in4[] = {aw_obj_val(bad), aw_obj_val(good)};
  aw_release(conf_then(aw_promise_any(L, 2, in4), conf_logv_then, NULL, "any winner"));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
