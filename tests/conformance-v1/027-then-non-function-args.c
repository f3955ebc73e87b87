/* 027: then/catch with non-function arguments pass the value or reason through, one tick per link
 */
#include "conf.h"

static void program(aw_loop *L) {
  aw_promise *p = aw_promise_resolved(L, aw_int(1));
  p = conf_then(p, NULL, NULL, NULL); /* .then(null) */
  p = conf_then(p, NULL, NULL, NULL); /* .then(42): not a function */
  p = conf_then(p, NULL, NULL, NULL); /* .then('str', undefined) */
  p = conf_then(p, conf_logv_then, NULL, "value passed");
  aw_release(p);
  p = aw_promise_rejected(L, aw_err("Error", "r"));
  p = conf_then(p, conf_logv_then, NULL, "not reached");
  p = conf_then(p, NULL, NULL, NULL); /* .then(null, null) */
  p = conf_catch(p, NULL, NULL);      /* .catch(null) */
  p = conf_catch(p, conf_logmsg_then, "reason passed");
  aw_release(p);
  p = aw_promise_resolved(L, aw_undefined());
  p = conf_then(p, conf_log_then, NULL, "c1");
  p = conf_then(p, conf_log_then, NULL, "c2");
  p = conf_then(p, conf_log_then, NULL, "c3");
  p = conf_then(p, conf_log_then, NULL, "c4");
  p = conf_then(p, conf_log_then, NULL, "c5");
  aw_release(p);
}

int main(void) { return conf_main(program); }
