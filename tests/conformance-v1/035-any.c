// Promise.any takes the first fulfilment, skips rejections, and rejects with AggregateError (errors
// in input order) if all reject
#include <stdlib.h>

#include "conf.h"

/* later(ms, ok, v): a promise its executor settles from a timer. */
typedef struct later_args {
  int64_t ms;
  bool ok;
  const char *v;
} later_args;

typedef struct later_timer {
  aw_promise *p; /* res/rej captured by the timer callback */
  bool ok;
  const char *v;
} later_timer;

static void later_fire(aw_loop *L, void *arg) {
  later_timer *t = arg;
  conf_log("timer %s", t->v);
  if (t->ok)
    aw_promise_resolve(t->p, aw_string(t->v));
  else
    aw_promise_reject(t->p, aw_err("Error", "%s", t->v));
  aw_release(t->p);
  free(t);
}

static aw_val later_exec(aw_loop *L, aw_promise *p, void *arg) {
  later_args *a = arg;
  later_timer *t = malloc(sizeof *t);
  *t = (later_timer){aw_retain(p), a->ok, a->v};
  aw_set_timeout(L, a->ms, later_fire, t);
  return aw_undefined();
}

static aw_promise *later(aw_loop *L, int64_t ms, bool ok, const char *v) {
  later_args a = {ms, ok, v};
  return aw_promise_new_executor(L, later_exec, &a);
}

/* e.message */
static const char *message(aw_val e) {
  const char *m = aw_error_message(e);
  return m ? m : "undefined";
}

static aw_val any2_rejected(aw_loop *L, aw_val e, void *arg) {
  conf_log("any2 rejected %s", message(e));
  aw_str *s = aw_to_string(aw_obj_val(aw_as_error(e)->errors)); /* e.errors.join(',') */
  conf_log("errors %s", s->data);
  aw_release(s);
  return aw_undefined();
}

static aw_val any3_empty(aw_loop *L, aw_val e, void *arg) {
  conf_log("any3 empty %s %zu", message(e), aw_array_len(aw_as_error(e)->errors));
  return aw_undefined();
}

static void program(aw_loop *L) {
  aw_val in1[] = {aw_v(later(L, 10, false, "x")), aw_v(later(L, 20, true, "y")),
                  aw_v(later(L, 30, true, "z"))};
  aw_release(conf_then(aw_promise_any(L, 3, in1), conf_logv_then, NULL, "any1"));
  aw_val in2[] = {aw_v(later(L, 25, false, "e1")), aw_v(later(L, 15, false, "e2")),
                  aw_v(aw_promise_rejected(L, aw_err("Error", "e3")))};
  aw_release(conf_catch(aw_promise_any(L, 3, in2), any2_rejected, NULL));
  aw_release(conf_catch(aw_promise_any(L, 0, NULL), any3_empty, NULL));
  aw_val in4[] = {aw_v(aw_promise_rejected(L, aw_err("Error", "no"))), aw_string("plain")};
  aw_release(conf_then(aw_promise_any(L, 2, in4), conf_logv_then, NULL, "any4"));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
