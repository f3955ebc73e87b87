/* 031: Promise.all([]) is already fulfilled; plain values and thenables in the input are adopted
 * like promises */
#include "conf.h"

/* vs => console.log(label, JSON.stringify(vs)) */
static aw_val log_json(aw_loop *L, aw_val vs, void *label) {
  aw_str *json = conf_json(vs);
  conf_log("%s %s", (const char *)label, json->data);
  aw_release(json);
  return aw_undefined();
}

/* { then(res) { res('th'); } } */
static aw_val thenable_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  aw_resolver_resolve(r, aw_string("th"));
  return aw_undefined();
}

static void program(aw_loop *L) {
  conf_ticks(L, 5);
  aw_release(conf_then(aw_promise_all(L, 0, NULL), log_json, NULL, "empty"));
  aw_val values[] = {aw_int(1), aw_string("two"), aw_int(3)};
  aw_release(conf_then(aw_promise_all(L, 3, values), log_json, NULL, "values"));
  aw_obj *thenable = conf_thenable(thenable_then, NULL);
  aw_val mixed[] = {aw_obj_val(thenable), aw_obj_val(aw_promise_resolved(L, aw_string("p"))),
                    aw_int(5)};
  aw_release(conf_then(aw_promise_all(L, 3, mixed), log_json, NULL, "mixed"));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
