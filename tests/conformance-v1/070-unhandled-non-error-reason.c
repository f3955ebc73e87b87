// An unhandled rejection with no 'unhandledRejection' listener reaches
// 'uncaughtException' as the error itself, or, for a reason that is not an
// error, wrapped in an UnhandledPromiseRejection naming it (found by difftest)
#include "conf.h"

static void on_uncaught(aw_loop *L, aw_val e, void *arg) {
  aw_error *err = aw_as_error(e);
  conf_log("uncaught %s: %s", err ? err->name : "?", err ? err->message->data : "?");
}

static void reject_string(aw_loop *L, void *arg) {
  aw_release(aw_promise_rejected(L, aw_string("w2")));
}
static void reject_error(aw_loop *L, void *arg) {
  aw_release(aw_promise_rejected(L, aw_err("Error", "boom")));
}
static void reject_promise(aw_loop *L, void *arg) {
  aw_release(aw_promise_rejected(L, aw_v(aw_promise_resolved(L, aw_int(1)))));
}
static void reject_array(aw_loop *L, void *arg) {
  aw_array *a = aw_array_new(2);
  aw_array_push(a, aw_int(1));
  aw_array_push(a, aw_int(2));
  aw_release(aw_promise_rejected(L, aw_v(a)));
}

static void program(aw_loop *L) {
  aw_loop_on_uncaught_exception(L, on_uncaught, NULL);
  aw_release(aw_promise_rejected(L, aw_int(5)));
  aw_set_timeout(L, 5, reject_string, NULL);
  aw_set_timeout(L, 10, reject_error, NULL);
  aw_set_timeout(L, 15, reject_promise, NULL);
  aw_set_timeout(L, 20, reject_array, NULL);
}

int main(void) { return conf_main(program); }
