// starting two operations before awaiting either runs them concurrently; the awaits still resume in
// program order
#include <stdlib.h>

#include "conf.h"

typedef struct work_timer {
  aw_promise *p;
  const char *name;
} work_timer;

static void work_fire(aw_loop *L, void *arg) {
  work_timer *t = arg;
  conf_log("%s done", t->name);
  aw_promise_resolve(t->p, aw_string(t->name));
  aw_release(t->p);
  free(t);
}

typedef struct work_args {
  const char *name;
  int64_t ms;
} work_args;

static aw_val work_exec(aw_loop *L, aw_promise *p, void *arg) {
  const work_args *a = arg;
  work_timer *t = malloc(sizeof *t);
  *t = (work_timer){aw_retain(p), a->name};
  aw_set_timeout(L, a->ms, work_fire, t);
  return aw_undefined();
}

static aw_promise *work(aw_loop *L, const char *name, int64_t ms) {
  work_args a = {name, ms};
  return aw_promise_new_executor(L, work_exec, &a);
}

/* Math.round(ms / 100) * 100, for ms >= 0 */
static int64_t bucket(int64_t ms) { return (ms + 50) / 100 * 100; }

typedef struct main_frame {
  aw_frame frame;
  int64_t t0;
  aw_promise *pa, *pb;
} main_frame;

static void main_body(aw_loop *L, aw_frame *self) {
  main_frame *f = (main_frame *)self;
  aw_val v;
  AW_BEGIN(self);
  f->t0 = conf_now_ms();
  f->pa = work(L, "A", 200);
  f->pb = work(L, "B", 100);
  conf_log("both started");
  AW_AWAIT(v, aw_obj_val(aw_retain(f->pa))); /* const a = await pa */
  conf_logv("got", v);
  aw_release_val(v);
  AW_AWAIT(v, aw_obj_val(aw_retain(f->pb))); /* const b = await pb */
  conf_logv("got", v);
  aw_release_val(v);
  conf_log("concurrent took ~%lld", (long long)bucket(conf_now_ms() - f->t0));
  f->t0 = conf_now_ms();
  AW_AWAIT(v, work(L, "C", 200));
  conf_logv("got", v);
  aw_release_val(v);
  AW_AWAIT(v, work(L, "D", 100));
  conf_logv("got", v);
  aw_release_val(v);
  conf_log("sequential took ~%lld", (long long)bucket(conf_now_ms() - f->t0));
  AW_CLEANUP;
  aw_release(f->pa);
  aw_release(f->pb);
  AW_END_CLEANUP;
}
static aw_promise *main_async(aw_loop *L) {
  AW_ASYNC_NEW(L, main_frame, main_body, f);
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) { aw_release(main_async(L)); }

int main(void) { return conf_main(program); }
