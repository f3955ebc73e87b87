// three awaits in an async function and a four-link then chain advance one tick per step side by
// side
#include "conf.h"

AW_ASYNC(f) {
  AW_AWAIT_IGNORE(aw_null());
  LOG("f1");
  AW_AWAIT_IGNORE(aw_null());
  LOG("f2");
  AW_AWAIT_IGNORE(aw_null());
  LOG("f3");
  AW_RETURN("f");
}
AW_ASYNC_END;

PROGRAM {
  aw_promise *chain =
      CHAIN(RESOLVED(aw_undefined()), LOG_FN("c1"), LOG_FN("c2"), LOG_FN("c3"), RET_FN("c"));
  aw_promise *fp = f(L);
  DROP(THEN(fp, LOGV_FN("result")));
  DROP(THEN(chain, LOGV_FN("result")));
  DROP(CHAIN(RESOLVED(aw_undefined()), LOG_FN("x1"), LOG_FN("x2"), LOG_FN("x3"), LOG_FN("x4"),
             LOG_FN("x5")));
}
