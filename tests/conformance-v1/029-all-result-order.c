/* 029: Promise.all keeps input order in its result, whatever order the inputs settle in */
#include <stdlib.h>

#include "conf.h"

/* vs.join(sep) */
static aw_str *join(aw_val vs, const char *sep) {
  aw_array *a = aw_as_array(vs);
  aw_str *acc = aw_str_from("");
  for (size_t i = 0; i < aw_array_len(a); i++) {
    aw_str *s = aw_to_string(aw_array_get(a, i));
    aw_str *next = aw_strf("%s%s%s", acc->data, i ? sep : "", s->data);
    aw_release(s);
    aw_release(acc);
    acc = next;
  }
  return acc;
}

typedef struct {
  aw_promise *r;
  const char *v;
} delay_timer;

/* () => { console.log('settled', v); r(v); } */
static void delay_fire(aw_loop *L, void *arg) {
  delay_timer *t = arg;
  conf_log("settled %s", t->v);
  aw_promise_resolve(t->r, aw_string(t->v));
  aw_release(t->r);
  free(t);
}

typedef struct {
  int64_t ms;
  const char *v;
} delay_args;

/* r => setTimeout(..., ms) */
static aw_val delay_executor(aw_loop *L, aw_promise *r, void *arg) {
  const delay_args *a = arg;
  delay_timer *t = malloc(sizeof *t);
  *t = (delay_timer){aw_retain(r), a->v};
  aw_set_timeout(L, a->ms, delay_fire, t);
  return aw_undefined();
}

static aw_promise *delay(aw_loop *L, int64_t ms, const char *v) {
  delay_args a = {ms, v};
  return aw_promise_new_executor(L, delay_executor, &a);
}

static aw_val all_done(aw_loop *L, aw_val vs, void *arg) {
  aw_str *json = conf_json(vs);
  conf_log("all %s", json->data);
  aw_release(json);
  aw_str *joined = join(vs, "-");
  conf_log("joined %s", joined->data);
  aw_release(joined);
  return aw_undefined();
}

static void program(aw_loop *L) {
  aw_val in[] = {aw_obj_val(delay(L, 30, "a")), aw_obj_val(delay(L, 10, "b")),
                 aw_obj_val(delay(L, 20, "c"))};
  aw_release(conf_then(aw_promise_all(L, 3, in), all_done, NULL, NULL));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
