// an uncaught exception stops the loop with exit code 1: the 'exit' listeners still run, with
// process.exitCode 1, and nothing else does
#include "conf.h"

AW_FN(on_exit) {
  LOG("exit %lld %d", (long long)a.u.i, aw_loop_exit_code(L));
  return aw_undefined();
}

AW_FN(timer) {
  LOG("timer throws");
  return aw_throw(aw_err("Error", "boom"));
}

PROGRAM {
  aw_loop_on(L, AW_EVENT_EXIT, aw_fn(on_exit));
  aw_set_timeout_fn(L, 1, aw_fn(timer));
  aw_set_timeout_fn(L, 20, LOG_FN("later timer (never printed)"));
  LOG("sync end");
}
