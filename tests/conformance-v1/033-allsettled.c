/* 033: Promise.allSettled waits for every input and reports each as fulfilled or rejected, in input
 * order */
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

/* () => { if (ok) res(v); else rej(new Error(v)); } */
static void later_fire(aw_loop *L, void *arg) {
  later_timer *t = arg;
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

/*
 * JSON.stringify(rs) for allSettled's result: each entry is
 * {"status":"fulfilled","value":v} or {"status":"rejected","reason":r}.
 */
static aw_str *settled_json(aw_val rs) {
  aw_array *a = aw_as_array(rs);
  aw_str *acc = aw_str_from("[");
  for (size_t i = 0; i < aw_array_len(a); i++) {
    aw_val r = aw_array_get(a, i);
    bool rejected = aw_is_thrown(r);
    /* JSON.stringify of an Error is {} (its properties are not enumerable) */
    aw_str *inner = aw_is_error(aw_caught(r)) ? aw_str_from("{}") : conf_json(aw_caught(r));
    aw_str *next =
        aw_strf("%s%s{\"status\":\"%s\",\"%s\":%s}", acc->data, i ? "," : "",
                rejected ? "rejected" : "fulfilled", rejected ? "reason" : "value", inner->data);
    aw_release(inner);
    aw_release(acc);
    acc = next;
  }
  aw_str *json = aw_strf("%s]", acc->data);
  aw_release(acc);
  return json;
}

/* console.log(label, e.message) */
static void log_message(const char *label, aw_val e) {
  const char *m = aw_error_message(e);
  conf_log("%s %s", label, m ? m : "undefined");
}

static aw_val report(aw_loop *L, aw_val rs, void *arg) {
  aw_array *a = aw_as_array(rs);
  for (size_t i = 0; i < aw_array_len(a); i++) { /* for (const r of rs) */
    aw_val r = aw_array_get(a, i);
    if (!aw_is_thrown(r))
      conf_logv("fulfilled", r);
    else
      log_message("rejected", aw_caught(r));
  }
  conf_log("count %zu", aw_array_len(a));
  return aw_undefined();
}

/* rs => console.log(label, JSON.stringify(rs)) */
static aw_val log_json(aw_loop *L, aw_val rs, void *label) {
  aw_str *json = settled_json(rs);
  conf_log("%s %s", (const char *)label, json->data);
  aw_release(json);
  return aw_undefined();
}

static void program(aw_loop *L) {
  aw_val in[] = {aw_obj_val(later(L, 20, true, "a")), aw_obj_val(later(L, 10, false, "b")),
                 aw_int(7), aw_obj_val(aw_promise_rejected(L, aw_err("Error", "d")))};
  aw_release(conf_then(aw_promise_all_settled(L, 4, in), report, NULL, NULL));
  aw_release(conf_then(aw_promise_all_settled(L, 0, NULL), log_json, NULL, "empty"));
  aw_val in2[] = {aw_int(1), aw_obj_val(aw_promise_resolved(L, aw_int(2)))};
  aw_release(conf_then(aw_promise_all_settled(L, 2, in2), log_json, NULL, "json"));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
