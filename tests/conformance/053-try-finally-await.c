// a finally block runs on every exit of a try that contains awaits, may await itself, and keeps the
// result
#include "conf.h"

AW_ASYNC(f, (bool, fail)) {
  AW_TRY {
    LOG("try start %s", my->fail ? "fail" : "ok");
    AW_AWAIT_IGNORE(aw_null());
    if (my->fail)
      AW_THROW(aw_err("Error", "failed"));
    AW_RETURN("returned");
  }
  AW_FINALLY {
    LOG("finally start");
    AW_AWAIT_IGNORE(SLEEP(5));
    LOG("finally end");
  }
  AW_END_TRY;
}
AW_ASYNC_END;

AW_ASYNC(main_async, AW_VAR(aw_val, e)) {
  aw_val r;
  AW_AWAIT(r, f(L, false));
  LOGV("result", r);
  AW_TRY { AW_AWAIT_IGNORE(f(L, true)); }
  AW_CATCH(my->e) { LOG("caught %s", conf_msg(my->e)); }
  AW_END_TRY;
  LOG("main end");
}
AW_ASYNC_END;

PROGRAM {
  DROP(main_async(L));
  LOG("sync end");
}
