// process.emitWarning reaches the 'warning' listeners in a nextTick; a rejection handled after it
// was reported warns PromiseRejectionHandledWarning with its rejection id
#include "conf.h"

static aw_promise *p;

AW_FN(on_warning) {
  LOG("warning %s %s", aw_as_error(a)->name, conf_msg(a));
  return aw_undefined();
}

AW_FN(uncaught) {
  LOG("uncaught %s %s", conf_msg(a), aw_cstr(b));
  return aw_undefined();
}

AW_FN(catch_p) {
  DROP(CATCH(p, LOG_FN("caught late")));
  return aw_undefined();
}

PROGRAM {
  aw_loop_on(L, AW_EVENT_WARNING, aw_fn(on_warning));
  aw_loop_on(L, AW_EVENT_UNCAUGHT_EXCEPTION, aw_fn(uncaught));
  aw_loop_emit_warning(L, aw_v("something odd"));
  DROP(THEN(RESOLVED(aw_undefined()), LOG_FN("microtask before the warning")));
  DROP(CATCH(REJECTED("handled in the same tick"), RET_FN(aw_undefined())));
  p = REJECTED("late");
  aw_set_timeout_fn(L, 5, aw_fn(catch_p));
  LOG("sync end");
}
