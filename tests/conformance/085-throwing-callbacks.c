// timer, immediate, nextTick and queueMicrotask callbacks that throw reach 'uncaughtException', and
// the rest of each callback does not run
#include "conf.h"

AW_FN(thrower) { /* cap: what it logs, what it throws */
  LOG("%s", aw_cstr(cap[0]));
  return aw_throw(aw_err("Error", "%s", aw_cstr(cap[1])));
}

PROGRAM {
  aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, LOGMSG_FN("uncaught"));
  aw_set_timeout_fn(L, 100, aw_fn(thrower, "timer", "from timer"));
  aw_set_immediate_fn(L, aw_fn(thrower, "immediate", "from immediate"));
  aw_next_tick_fn(L, aw_fn(thrower, "tick", "from tick"));
  aw_queue_microtask_fn(L, aw_fn(thrower, "microtask", "from microtask"));
  DROP(THEN(RESOLVED(aw_undefined()), LOG_FN("then after the microtask")));
  LOG("sync end");
}
