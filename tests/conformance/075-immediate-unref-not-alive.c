// an unref'd immediate does not keep the loop alive: alone it never runs, and hasRef() says so
#include "conf.h"

PROGRAM {
  aw_immediate lone = aw_set_immediate_fn(L, LOG_FN("unref lone runs (never printed)"));
  aw_immediate_unref(L, lone);
  LOG("hasRef after unref %s", aw_immediate_has_ref(L, lone) ? "true" : "false");
  LOG("sync end");
}
