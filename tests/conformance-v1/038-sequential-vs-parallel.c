// sequential awaits add up the delays; Promise.all over two started operations takes about the
// longest one
#include <stdlib.h>
#include <string.h>

#include "conf.h"

/* The timer callback of fetchA/fetchB: logs, then r(value). */
typedef struct fetch_timer {
  aw_promise *p;
  const char *done;
  const char *value;
} fetch_timer;

static void fetch_fire(aw_loop *L, void *arg) {
  fetch_timer *t = arg;
  conf_log("%s", t->done);
  aw_promise_resolve(t->p, aw_string(t->value));
  aw_release(t->p);
  free(t);
}

static aw_val fetch_exec(aw_loop *L, aw_promise *p, void *arg) {
  fetch_timer *t = malloc(sizeof *t);
  *t = *(const fetch_timer *)arg;
  t->p = aw_retain(p);
  aw_set_timeout(L, 100, fetch_fire, t);
  return aw_undefined();
}

static aw_promise *fetchA(aw_loop *L) {
  fetch_timer a = {NULL, "A done", "a"};
  return aw_promise_new_executor(L, fetch_exec, &a);
}
static aw_promise *fetchB(aw_loop *L) {
  fetch_timer b = {NULL, "B done", "b"};
  return aw_promise_new_executor(L, fetch_exec, &b);
}

/* Math.round(ms / 100) * 100, for ms >= 0 */
static int64_t bucket(int64_t ms) { return (ms + 50) / 100 * 100; }

/* vs.join(sep) */
static aw_str *join(aw_val vs, const char *sep) {
  aw_array *a = aw_as_array(vs);
  aw_str *s = aw_str_from("");
  for (size_t i = 0; i < aw_array_len(a); i++) {
    aw_str *e = aw_to_string(aw_array_get(a, i));
    aw_str *n = aw_strf("%s%s%s", s->data, i ? sep : "", e->data);
    aw_release(e);
    aw_release(s);
    s = n;
  }
  return s;
}

typedef struct sequential_frame {
  aw_frame frame;
  int64_t t0;
  aw_val a, b;
} sequential_frame;

static void sequential_body(aw_loop *L, aw_frame *self) {
  sequential_frame *f = (sequential_frame *)self;
  AW_BEGIN(self);
  f->t0 = conf_now_ms();
  AW_AWAIT(f->a, fetchA(L));
  AW_AWAIT(f->b, fetchB(L));
  conf_log("sequential %s%s took ~%lld", aw_cstr(f->a), aw_cstr(f->b),
           (long long)bucket(conf_now_ms() - f->t0));
  aw_release_val(f->a);
  aw_release_val(f->b);
  AW_END;
}
static aw_promise *sequential(aw_loop *L) {
  AW_ASYNC_NEW(L, sequential_frame, sequential_body, f);
  return aw_async_start(&f->frame);
}

typedef struct parallel_frame {
  aw_frame frame;
  int64_t t0;
} parallel_frame;

static void parallel_body(aw_loop *L, aw_frame *self) {
  parallel_frame *f = (parallel_frame *)self;
  AW_BEGIN(self);
  f->t0 = conf_now_ms();
  aw_val vs;
  aw_val in[] = {aw_v(fetchA(L)), aw_v(fetchB(L))};
  AW_AWAIT(vs, aw_promise_all(L, 2, in));
  aw_str *s = join(vs, "");
  conf_log("parallel %s took ~%lld", s->data, (long long)bucket(conf_now_ms() - f->t0));
  aw_release(s);
  aw_release_val(vs);
  AW_END;
}
static aw_promise *parallel(aw_loop *L) {
  AW_ASYNC_NEW(L, parallel_frame, parallel_body, f);
  return aw_async_start(&f->frame);
}

typedef struct main_frame {
  aw_frame frame;
} main_frame;

static void main_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(sequential(L));
  AW_AWAIT_IGNORE(parallel(L));
  AW_END;
}
static aw_promise *main_async(aw_loop *L) {
  AW_ASYNC_NEW(L, main_frame, main_body, f);
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) { aw_release(main_async(L)); }

int main(void) { return conf_main(program); }
