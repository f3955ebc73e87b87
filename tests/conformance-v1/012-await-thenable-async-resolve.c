/* 012: a thenable may call resolve later from a timer; await waits for it, and each await calls
 * then again */
#include <stdlib.h>

#include "conf.h"

static int calls = 0;
static aw_obj *slow; /* const slow */

typedef struct {
  int n;
  aw_resolver *res;
} resolve_later;

/* () => { console.log('resolving ' + n); res(n * 10); } */
static void resolve_cb(aw_loop *L, void *arg) {
  resolve_later *c = arg;
  conf_log("resolving %d", c->n);
  aw_resolver_resolve(c->res, aw_int(c->n * 10));
  aw_release(c->res);
  free(c);
}

static aw_val slow_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  calls++;
  const int n = calls;
  conf_log("then call %d", n);
  resolve_later *c = malloc(sizeof *c);
  *c = (resolve_later){n, aw_retain(r)};
  aw_set_timeout(L, n == 1 ? 10 : 100, resolve_cb, c);
  return aw_undefined();
}

typedef struct {
  aw_frame frame;
} f_frame;

static void f_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  aw_val a, b;
  AW_AWAIT(a, aw_obj_val(aw_retain(slow)));
  conf_logv("a", a);
  aw_release_val(a);
  AW_AWAIT(b, aw_obj_val(aw_retain(slow)));
  conf_logv("b", b);
  aw_release_val(b);
  AW_END;
}
static aw_promise *f(aw_loop *L) {
  AW_ASYNC_NEW(L, f_frame, f_body, fr);
  return aw_async_start(&fr->frame);
}

static void timer_60(aw_loop *L, void *arg) { conf_log("timer 60"); }

/* const x = ...: the reference moves into a global that lives until the end. */
static aw_obj *global(aw_obj *o) {
  conf_keep_val(aw_obj_val(o));
  aw_release(o);
  return o;
}

static void program(aw_loop *L) {
  slow = global(conf_thenable(slow_then, NULL));
  aw_release(f(L));
  aw_set_timeout(L, 60, timer_60, NULL);
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
