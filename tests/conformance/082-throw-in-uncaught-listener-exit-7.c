// a throw inside an 'uncaughtException' listener is fatal: exit code 7, and the 'exit' listeners
// do not run
#include "conf.h"

AW_FN(uncaught) {
  LOG("uncaught %s", conf_msg(a));
  return aw_throw(aw_err("Error", "in the listener"));
}

PROGRAM {
  aw_loop_on(L, AW_EVENT_EXIT, LOG_FN("exit (never printed)"));
  aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, aw_fn(uncaught));
  aw_set_timeout_fn(L, 1, THROW_FN("boom"));
  aw_set_timeout_fn(L, 20, LOG_FN("later timer (never printed)"));
  LOG("sync end");
}
