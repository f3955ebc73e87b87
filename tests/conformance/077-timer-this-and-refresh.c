// a timer callback reaches its own timer as this: refresh() inside it runs it again; refresh() of a
// pending timer starts its delay again
#include "conf.h"

static int n;
static aw_timer t, u;

AW_FN(tick) { /* a: this timer's id */
  n++;
  LOG("tick %d %s %s", n, a.u.i == (int64_t)t ? "true" : "false",
      aw_timer_has_ref(L, a.u.i) ? "true" : "false");
  if (n < 3)
    aw_timer_refresh(L, a.u.i);
  return aw_undefined();
}

AW_FN(refresh_u) {
  aw_timer_refresh(L, u);
  LOG("u refreshed at 40");
  return aw_undefined();
}

PROGRAM {
  t = aw_set_timeout_fn(L, 2, aw_fn(tick));
  u = aw_set_timeout_fn(L, 60, LOG_FN("u fires 60 ms after its refresh"));
  aw_set_timeout_fn(L, 40, aw_fn(refresh_u));
  aw_set_timeout_fn(L, 80, LOG_FN("80 ms timer, before u"));
  LOG("sync end");
}
