/* 028: in then(onF, onR) a throw from onF is not seen by onR of the same call; it goes to the next
 * link */
#include "conf.h"

/* console.log(label, e.message) */
static void log_message(const char *label, aw_val e) {
  const char *m = aw_error_message(e);
  conf_log("%s %s", label, m ? m : "undefined");
}

/* v => { console.log('onF', v); throw new Error('from onF'); } */
static aw_val on_f(aw_loop *L, aw_val v, void *arg) {
  conf_logv("onF", v);
  return aw_throw(aw_err("Error", "from onF"));
}
/* e => console.log('onR same link', e.message) */
static aw_val on_r_same_link(aw_loop *L, aw_val e, void *arg) {
  log_message("onR same link", e);
  return aw_undefined();
}
/* v => console.log('not reached', v) */
static aw_val not_reached(aw_loop *L, aw_val v, void *arg) {
  conf_logv("not reached", v);
  return aw_undefined();
}
/* e => { console.log('onR next link', e.message); return 'back'; } */
static aw_val on_r_next_link(aw_loop *L, aw_val e, void *arg) {
  log_message("onR next link", e);
  return aw_string("back");
}
/* e => { console.log('onR', e.message); return 'handled'; } */
static aw_val on_r(aw_loop *L, aw_val e, void *arg) {
  log_message("onR", e);
  return aw_string("handled");
}

static void program(aw_loop *L) {
  aw_promise *p = aw_promise_resolved(L, aw_string("a"));
  p = conf_then(p, on_f, on_r_same_link, NULL);
  p = conf_then(p, not_reached, on_r_next_link, NULL);
  p = conf_then(p, conf_logv_then, NULL, "final");
  aw_release(p);
  p = aw_promise_rejected(L, aw_err("Error", "b"));
  p = conf_then(p, not_reached, on_r, NULL);
  p = conf_then(p, conf_logv_then, NULL, "after onR");
  aw_release(p);
}

int main(void) { return conf_main(program); }
