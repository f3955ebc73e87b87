/* 034: Promise.race settles like the first input to settle; among already-settled inputs the
 * earliest in the array wins */
#include <stdlib.h>

#include "conf.h"

typedef struct {
  int64_t ms;
  bool ok;
  const char *v;
} later_args;

typedef struct {
  aw_promise *p; /* res and rej */
  bool ok;
  const char *v;
} later_timer;

/* () => { console.log('timer', v); if (ok) res(v); else rej(new Error(v)); } */
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

/* (res, rej) => setTimeout(..., ms) */
static aw_val later_executor(aw_loop *L, aw_promise *p, void *arg) {
  const later_args *a = arg;
  later_timer *t = malloc(sizeof *t);
  *t = (later_timer){aw_retain(p), a->ok, a->v};
  aw_set_timeout(L, a->ms, later_fire, t);
  return aw_undefined();
}

static aw_promise *later(aw_loop *L, int64_t ms, bool ok, const char *v) {
  later_args a = {ms, ok, v};
  return aw_promise_new_executor(L, later_executor, &a);
}

/* v => console.log('race2', v) */
static aw_val race2_fulfilled(aw_loop *L, aw_val v, void *arg) {
  conf_logv("race2", v);
  return aw_undefined();
}
/* e => console.log('race2 rejected', e.message) */
static aw_val race2_rejected(aw_loop *L, aw_val e, void *arg) {
  return conf_logmsg_then(L, e, "race2 rejected");
}

static void program(aw_loop *L) {
  aw_val in1[] = {aw_obj_val(later(L, 30, true, "slow")), aw_obj_val(later(L, 10, true, "fast"))};
  aw_release(conf_then(aw_promise_race(L, 2, in1), conf_logv_then, NULL, "race1"));
  aw_val in2[] = {aw_obj_val(later(L, 20, true, "ok")), aw_obj_val(later(L, 15, false, "fail"))};
  aw_release(conf_then(aw_promise_race(L, 2, in2), race2_fulfilled, race2_rejected, NULL));
  aw_val in3[] = {aw_obj_val(aw_promise_resolved(L, aw_string("first"))),
                  aw_obj_val(aw_promise_resolved(L, aw_string("second")))};
  aw_release(conf_then(aw_promise_race(L, 2, in3), conf_logv_then, NULL, "race3"));
  aw_val in4[] = {aw_obj_val(later(L, 5, true, "pending")), aw_string("plain"),
                  aw_obj_val(aw_promise_resolved(L, aw_string("resolved")))};
  aw_release(conf_then(aw_promise_race(L, 3, in4), conf_logv_then, NULL, "race4"));
  aw_val in5[] = {aw_obj_val(aw_promise_rejected(L, aw_err("Error", "rej first"))),
                  aw_obj_val(aw_promise_resolved(L, aw_string("res second")))};
  aw_release(conf_catch(aw_promise_race(L, 2, in5), conf_logmsg_then, "race5"));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
