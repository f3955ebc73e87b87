// process.on keeps lists: listeners run in registration order, removeListener takes one (the last
// added), removeAllListeners takes all; a throw in an unhandledRejection listener is an uncaught
// exception
#include "conf.h"

static aw_fn *first;
static aw_promise *p;

AW_FN(unhandled_b) {
  LOG("unhandled B %s", conf_msg(a));
  return aw_throw(aw_err("Error", "thrown by B"));
}

AW_FN(catch_p) {
  DROP(CATCH(p, LOG_FN("caught r2")));
  return aw_undefined();
}

AW_FN(inner) {
  aw_loop_off_all(L, AW_EVENT_UNHANDLED_REJECTION);
  aw_loop_on(L, AW_EVENT_REJECTION_HANDLED, LOG_FN("handled later"));
  p = REJECTED("r2");
  aw_set_timeout_fn(L, 5, aw_fn(catch_p));
  return aw_undefined();
}

AW_FN(outer) {
  aw_loop_off(L, AW_EVENT_UNCAUGHT_EXCEPTION, first);
  LOG("count %zu", aw_loop_listener_count(L, AW_EVENT_UNCAUGHT_EXCEPTION));
  aw_set_timeout_fn(L, 1, aw_fn(inner));
  return aw_throw(aw_err("Error", "t1"));
}

PROGRAM {
  first = LOGMSG_FN("uncaught first");
  aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, aw_retain(first));
  aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, LOGMSG_FN("uncaught second"));
  aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, first); /* the same function twice */
  aw_loop_on(L, AW_EVENT_UNHANDLED_REJECTION, LOGMSG_FN("unhandled A"));
  aw_loop_on(L, AW_EVENT_UNHANDLED_REJECTION, aw_fn(unhandled_b));
  aw_loop_on(L, AW_EVENT_UNHANDLED_REJECTION, LOG_FN("unhandled C (never printed)"));
  DROP(REJECTED("r1"));
  aw_set_timeout_fn(L, 1, aw_fn(outer));
  LOG("sync end");
}
