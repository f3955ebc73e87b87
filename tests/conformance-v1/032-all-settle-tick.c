/* 032: Promise.all over already-fulfilled promises settles one tick after its last input handler
 * has run */
#include "conf.h"

static aw_promise *resolve_c; /* let resolveC: c's resolve function */

/* vs => console.log(label, vs.join('')) */
static aw_val log_joined(aw_loop *L, aw_val vs, void *label) {
  aw_array *a = aw_as_array(vs);
  aw_str *acc = aw_str_from("");
  for (size_t i = 0; i < aw_array_len(a); i++) {
    aw_str *s = aw_to_string(aw_array_get(a, i));
    aw_str *next = aw_strf("%s%s", acc->data, s->data);
    aw_release(s);
    aw_release(acc);
    acc = next;
  }
  conf_log("%s %s", (const char *)label, acc->data);
  aw_release(acc);
  return aw_undefined();
}

/* r => { resolveC = r; } */
static aw_val capture_resolve(aw_loop *L, aw_promise *self, void *arg) {
  resolve_c = conf_keep(self);
  return aw_undefined();
}

/* () => Promise.resolve() */
static aw_val return_resolved(aw_loop *L, aw_val v, void *arg) {
  return aw_obj_val(aw_promise_resolved(L, aw_undefined()));
}
/* () => { console.log('resolving c'); resolveC('c'); } */
static aw_val resolving_c(aw_loop *L, aw_val v, void *arg) {
  conf_log("resolving c");
  aw_promise_resolve(resolve_c, aw_string("c"));
  return aw_undefined();
}

static void program(aw_loop *L) {
  conf_ticks(L, 5);
  aw_promise *a = aw_promise_resolved(L, aw_string("a"));
  aw_promise *b = aw_promise_resolved(L, aw_string("b"));
  aw_val ab[] = {aw_obj_val(aw_retain(a)), aw_obj_val(aw_retain(b))};
  aw_release(conf_then(aw_promise_all(L, 2, ab), log_joined, NULL, "all"));
  aw_release(aw_promise_then(a, conf_logv_then, NULL, "direct"));
  aw_promise *c = aw_promise_new_executor(L, capture_resolve, NULL);
  aw_val ac[] = {aw_obj_val(aw_retain(a)), aw_obj_val(aw_retain(c))};
  aw_release(conf_then(aw_promise_all(L, 2, ac), log_joined, NULL, "all with c"));
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  p = conf_then(p, return_resolved, NULL, NULL);
  p = conf_then(p, resolving_c, NULL, NULL);
  aw_release(p);
  aw_release(a);
  aw_release(b);
  aw_release(c);
}

int main(void) { return conf_main(program); }
