/* 026: catch returning a value recovers the chain; catch on a fulfilled promise is skipped but
 * still costs a tick */
#include "conf.h"

/* console.log(label, e.message) */
static void log_message(const char *label, aw_val e) {
  const char *m = aw_error_message(e);
  conf_log("%s %s", label, m ? m : "undefined");
}

/* e => { console.log('caught', e.message); return 'recovered'; } */
static aw_val recover(aw_loop *L, aw_val e, void *arg) {
  log_message("caught", e);
  return aw_string("recovered");
}
/* e => { console.log('caught', e.message); throw new Error('rethrown'); } */
static aw_val rethrow(aw_loop *L, aw_val e, void *arg) {
  log_message("caught", e);
  return aw_throw(aw_err("Error", "rethrown"));
}

static void program(aw_loop *L) {
  aw_promise *p = aw_promise_rejected(L, aw_err("Error", "e1"));
  p = conf_catch(p, recover, NULL);
  p = conf_then(p, conf_logv_then, NULL, "then");
  aw_release(p);
  p = aw_promise_rejected(L, aw_err("Error", "e2"));
  p = conf_catch(p, rethrow, NULL);
  p = conf_then(p, conf_log_then, NULL, "not reached");
  p = conf_catch(p, conf_logmsg_then, "caught again");
  aw_release(p);
  p = aw_promise_resolved(L, aw_string("ok"));
  p = conf_catch(p, conf_log_then, "not reached");
  p = conf_then(p, conf_logv_then, NULL, "skipped catch");
  aw_release(p);
  aw_release(
      conf_then(aw_promise_resolved(L, aw_string("direct")), conf_logv_then, NULL, "direct"));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
