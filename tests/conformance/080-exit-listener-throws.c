// a throw in an 'exit' listener stops the listeners after it and reaches 'uncaughtException'; the
// exit code stays
#include "conf.h"

AW_FN(exit1) {
  LOG("exit 1 %lld", (long long)a.u.i);
  return aw_throw(aw_err("Error", "from exit"));
}

AW_FN(uncaught) {
  LOG("uncaught %s %s", conf_msg(a), aw_cstr(b));
  return aw_undefined();
}

PROGRAM {
  aw_loop_on(L, AW_EVENT_EXIT, aw_fn(exit1));
  aw_loop_on(L, AW_EVENT_EXIT, LOG_FN("exit 2 (never printed)"));
  aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, aw_fn(uncaught));
  LOG("sync end");
}
