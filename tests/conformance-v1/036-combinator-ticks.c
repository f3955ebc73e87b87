// all, allSettled, race and any over already-fulfilled inputs settle at fixed ticks relative to a
// then chain
#include "conf.h"

static void program(aw_loop *L) {
  aw_promise *a = conf_keep(aw_promise_resolved(L, aw_int(1)));
  aw_promise *b = conf_keep(aw_promise_resolved(L, aw_int(2)));
  conf_ticks(L, 6);
  aw_val in1[] = {aw_obj_val(aw_retain(a)), aw_obj_val(aw_retain(b))};
  aw_release(conf_then(aw_promise_all(L, 2, in1), conf_log_then, NULL, "all"));
  aw_val in2[] = {aw_obj_val(aw_retain(a)), aw_obj_val(aw_retain(b))};
  aw_release(conf_then(aw_promise_all_settled(L, 2, in2), conf_log_then, NULL, "allSettled"));
  aw_val in3[] = {aw_obj_val(aw_retain(a)), aw_obj_val(aw_retain(b))};
  aw_release(conf_then(aw_promise_race(L, 2, in3), conf_log_then, NULL, "race"));
  aw_val in4[] = {aw_obj_val(aw_retain(a)), aw_obj_val(aw_retain(b))};
  aw_release(conf_then(aw_promise_any(L, 2, in4), conf_log_then, NULL, "any"));
  aw_release(
      conf_then(aw_promise_resolved(L, aw_obj_val(aw_retain(a))), conf_log_then, NULL, "resolve"));
  aw_release(conf_catch(aw_promise_rejected(L, aw_err("Error", "x")), conf_log_then, "reject"));
  aw_release(a);
  aw_release(b);
}

int main(void) { return conf_main(program); }
