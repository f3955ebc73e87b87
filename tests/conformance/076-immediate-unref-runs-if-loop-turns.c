// an unref'd immediate runs in the check phase of a turn the loop makes for something else, in
// queue order; ref() undoes unref(); a cleared one never runs
#include "conf.h"

#define BOOL(x) ((x) ? "true" : "false")

AW_FN(timer) {
  LOG("timer");
  aw_immediate_unref(L, aw_set_immediate_fn(L, LOG_FN("unref d from timer")));
  aw_set_timeout_fn(L, 5, LOG_FN("last timer"));
  return aw_undefined();
}

PROGRAM {
  aw_immediate a = aw_set_immediate_fn(L, LOG_FN("unref a"));
  aw_immediate_unref(L, a);
  aw_set_immediate_fn(L, LOG_FN("ref b"));
  aw_immediate c = aw_set_immediate_fn(L, LOG_FN("unref c cleared (never printed)"));
  aw_immediate_unref(L, c);
  aw_clear_immediate(L, c);
  aw_immediate back = aw_set_immediate_fn(L, LOG_FN("ref again"));
  aw_immediate_unref(L, back);
  aw_immediate_ref(L, back);
  LOG("hasRef %s %s", BOOL(aw_immediate_has_ref(L, a)), BOOL(aw_immediate_has_ref(L, back)));
  aw_set_timeout_fn(L, 5, aw_fn(timer));
  LOG("sync end");
}
