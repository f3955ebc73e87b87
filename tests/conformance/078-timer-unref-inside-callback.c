// a timer that refreshes itself keeps the loop alive until it unrefs itself from inside its
// callback; hasRef follows
#include "conf.h"

static int m;

AW_FN(self) {
  m++;
  LOG("self %d %s", m, aw_timer_has_ref(L, a.u.i) ? "true" : "false");
  aw_timer_refresh(L, a.u.i);
  if (m == 2)
    aw_timer_unref(L, a.u.i);
  LOG("after %d %s", m, aw_timer_has_ref(L, a.u.i) ? "true" : "false");
  return aw_undefined();
}

PROGRAM {
  aw_set_timeout_fn(L, 3, aw_fn(self));
  LOG("sync end");
}
