/* 030: Promise.all rejects with the first rejection; later rejections and fulfilments are ignored
 * by it */
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

static void program(aw_loop *L) {
  aw_val in[] = {aw_obj_val(later(L, 10, true, "one")), aw_obj_val(later(L, 20, false, "two")),
                 aw_obj_val(later(L, 30, false, "three")), aw_obj_val(later(L, 40, true, "four"))};
  aw_promise *p = aw_promise_all(L, 4, in);
  p = conf_then(p, conf_logv_then, NULL, "not reached"); /* String(vs) is vs.join(',') */
  p = conf_catch(p, conf_logmsg_then, "all rejected");
  aw_release(p);
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
