// 'exit' listeners run in registration order once the loop has nothing left, with the exit code;
// one added meanwhile is not called, a tick queued from one never runs, a microtask runs after the
// last
#include "conf.h"

static const char *exit_code(aw_loop *L) {
  static char b[16];
  snprintf(b, sizeof b, "%d", aw_loop_exit_code(L));
  return aw_loop_exit_code_set(L) ? b : "undefined";
}

AW_FN(exit1) {
  LOG("exit 1 %lld %s", (long long)a.u.i, exit_code(L));
  aw_loop_set_exit_code(L, 3);
  aw_loop_on(L, AW_EVENT_EXIT, LOG_FN("added during exit (never printed)"));
  aw_next_tick_fn(L, LOG_FN("tick from exit (never printed)"));
  DROP(THEN(RESOLVED(aw_undefined()), LOG_FN("microtask from exit")));
  return aw_undefined();
}

AW_FN(exit2) {
  LOG("exit 2 %lld %s", (long long)a.u.i, exit_code(L));
  return aw_undefined();
}

PROGRAM {
  aw_loop_on(L, AW_EVENT_EXIT, aw_fn(exit1));
  aw_loop_on(L, AW_EVENT_EXIT, aw_fn(exit2));
  aw_set_timeout_fn(L, 1, LOG_FN("timer"));
  LOG("sync end");
}
