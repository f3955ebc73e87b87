/* tests/conformance/conf.c — see conf.h. */
#include "conf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void conf_log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

void conf_logv(const char *label, aw_val v) {
  aw_str *s = aw_to_string(v);
  printf("%s %s\n", label, s->data);
  aw_release(s);
}

static void json_into(FILE *f, aw_val v) {
  v = aw_caught(v);
  if (aw_is_string(v)) {
    fputc('"', f);
    for (const char *p = aw_cstr(v); *p; p++) {
      if (*p == '"' || *p == '\\')
        fputc('\\', f);
      fputc(*p, f);
    }
    fputc('"', f);
  } else if (aw_is_array(v)) {
    aw_array *a = aw_as_array(v);
    fputc('[', f);
    for (size_t i = 0; i < a->len; i++) {
      if (i)
        fputc(',', f);
      json_into(f, a->items[i]);
    }
    fputc(']', f);
  } else if (aw_is_undefined(v)) {
    fputs("null", f);
  } else {
    aw_str *s = aw_to_string(v);
    fputs(s ? s->data : "[too long]", f); /* NULL only past AW_STR_MAX */
    aw_release(s);
  }
}

aw_str *conf_json(aw_val v) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  json_into(f, v);
  fclose(f);
  aw_str *s = aw_str_new(buf, len);
  free(buf);
  return s;
}

aw_val conf_log_then(aw_loop *L, aw_val v, void *msg) {
  (void)L;
  (void)v;
  conf_log("%s", (const char *)msg);
  return aw_undefined();
}

aw_val conf_logv_then(aw_loop *L, aw_val v, void *label) {
  (void)L;
  conf_logv(label, v);
  return aw_undefined();
}

aw_val conf_logmsg_then(aw_loop *L, aw_val v, void *label) {
  (void)L;
  const char *m = aw_error_message(v);
  conf_log("%s %s", (const char *)label, m ? m : "?");
  return aw_undefined();
}

aw_promise *conf_then(aw_promise *p, aw_then_fn onf, aw_then_fn onr, void *arg) {
  aw_promise *d = aw_promise_then(p, onf, onr, arg);
  aw_release(p);
  return d;
}

aw_promise *conf_catch(aw_promise *p, aw_then_fn onr, void *arg) {
  return conf_then(p, NULL, onr, arg);
}

static const char *tick_names[] = {"tick 1", "tick 2", "tick 3", "tick 4",  "tick 5",  "tick 6",
                                   "tick 7", "tick 8", "tick 9", "tick 10", "tick 11", "tick 12"};

void conf_ticks(aw_loop *L, int n) {
  aw_promise *p = aw_promise_resolved(L, aw_undefined());
  for (int i = 0; i < n && i < 12; i++)
    p = conf_then(p, conf_log_then, NULL, (void *)tick_names[i]);
  aw_release(p);
}

typedef struct thenable_data {
  conf_then_op fn;
  void *data;
} thenable_data;

static aw_val thenable_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  thenable_data *d = aw_object_data(self);
  return d->fn(L, self, r);
}
static const aw_class thenable_class = {"Thenable", NULL, thenable_then};

aw_obj *conf_thenable(conf_then_op fn, void *data) {
  aw_obj *o = aw_object_new(&thenable_class, sizeof(thenable_data));
  thenable_data *d = aw_object_data(o);
  d->fn = fn;
  d->data = data;
  return o;
}

void *conf_thenable_data(aw_obj *self) { return ((thenable_data *)aw_object_data(self))->data; }

typedef struct later {
  aw_promise *p;
  aw_val v;
  bool reject;
} later;

static void later_fire(aw_loop *L, void *arg) {
  (void)L;
  later *l = arg;
  if (l->reject)
    aw_promise_reject(l->p, l->v);
  else
    aw_promise_resolve(l->p, l->v);
  aw_release(l->p);
  free(l);
}

void conf_resolve_after(aw_loop *L, int64_t ms, aw_promise *p, aw_val v) {
  later *l = malloc(sizeof *l);
  *l = (later){aw_retain(p), v, false};
  aw_set_timeout(L, ms, later_fire, l);
}

void conf_reject_after(aw_loop *L, int64_t ms, aw_promise *p, const char *msg) {
  later *l = malloc(sizeof *l);
  *l = (later){aw_retain(p), aw_err("Error", "%s", msg), true};
  aw_set_timeout(L, ms, later_fire, l);
}

static aw_val kept[256];
static int nkept;

aw_promise *conf_keep(aw_promise *p) {
  if (nkept < 256)
    kept[nkept++] = aw_obj_val(aw_retain(p));
  return p;
}

aw_val conf_keep_val(aw_val v) {
  if (nkept < 256)
    kept[nkept++] = aw_retain_val(v);
  return v;
}

int64_t conf_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int conf_main(void (*program)(aw_loop *L)) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  aw_val err;
  aw_loop *L = aw_loop_new(NULL, &err);
  if (!L) {
    aw_error_print(err, stderr);
    return 2;
  }
  program(L);
  int r = aw_loop_run(L);
  for (int i = 0; i < nkept; i++)
    aw_release_val(kept[i]);
  nkept = 0;
  aw_loop_stats st;
  aw_loop_stats_get(L, &st);
  int code = aw_loop_exit_code(L);
  int fr = aw_loop_free(L);
  int64_t alive = aw_objects_alive();
  fflush(stdout);
  if (r < 0 && r != AW_EUNCAUGHT) {
    fprintf(stderr, "aw_loop_run: %s\n", aw_strerror(r));
    return 1;
  }
  if (fr != 0) {
    fprintf(stderr, "aw_loop_free: %s\n", aw_strerror(fr));
    return 1;
  }
  if (alive != 0) {
    fprintf(stderr, "leak: %lld objects alive after the loop was freed\n", (long long)alive);
    return 1;
  }
  return code; /* process.exitCode: 1 after an uncaught exception, 7 after one in its listener */
}

/* ---- the second translations --------------------------------------------------------- */

void conf_logvals(size_t n, aw_val *v) {
  aw_str *s = aw_format(n, v);
  printf("%s\n", s ? s->data : "[too long]");
  aw_release(s);
  for (size_t i = 0; i < n; i++)
    aw_release_val(v[i]);
}

AW_FN(log_code) {
  conf_log("%s", aw_cstr(cap[0]));
  return aw_undefined();
}
AW_FN(logv_code) {
  conf_logv(aw_cstr(cap[0]), a);
  return aw_undefined();
}
AW_FN(logmsg_code) {
  conf_log("%s %s", aw_cstr(cap[0]), conf_msg(a));
  return aw_undefined();
}
AW_FN(ret_code) { return aw_retain_val(cap[0]); }
AW_FN(throw_code) { return aw_throw(aw_err("Error", "%s", aw_cstr(cap[0]))); }

aw_fn *conf_log_fn(const char *label) { return aw_fn(log_code, label); }
aw_fn *conf_logv_fn(const char *label) { return aw_fn(logv_code, label); }
aw_fn *conf_logmsg_fn(const char *label) { return aw_fn(logmsg_code, label); }
aw_fn *conf_ret_fn(aw_val v) { return aw_fn(ret_code, v); }
aw_fn *conf_throw_fn(const char *msg) { return aw_fn(throw_code, msg); }

aw_promise *conf_then_fn(aw_promise *p, aw_fn *f, aw_fn *r) {
  aw_promise *d = aw_promise_then_fn(p, f, r);
  aw_release(p);
  return d;
}

aw_promise *conf_finally_fn(aw_promise *p, aw_fn *f) {
  aw_promise *d = aw_promise_finally_fn(p, f);
  aw_release(p);
  return d;
}

aw_promise *conf_chain(aw_promise *p, size_t n, aw_fn **fns) {
  for (size_t i = 0; i < n; i++)
    p = conf_then_fn(p, fns[i], NULL);
  return p;
}

/* () => settle(v): cap[0] the resolve or reject function, cap[1] the value. */
AW_FN(call_with) { return aw_call(L, (aw_fn *)cap[0].u.o, aw_ref(cap[1])); }

/* (resolve, reject) => setTimeout(() => resolve(v) or reject(v), ms); cap: ms, v, reject? */
AW_FN(settle_later) {
  aw_val settle = cap[2].u.b ? b : a;
  aw_set_timeout_fn(L, cap[0].u.i, aw_fn(call_with, aw_ref(settle), aw_ref(cap[1])));
  return aw_undefined();
}

aw_promise *conf_resolve_in(aw_loop *L, int64_t ms, aw_val v) {
  return aw_promise_new_fn(L, aw_fn(settle_later, ms, v, false));
}

aw_promise *conf_reject_in(aw_loop *L, int64_t ms, const char *msg) {
  return aw_promise_new_fn(L, aw_fn(settle_later, ms, aw_err("Error", "%s", msg), true));
}

const char *conf_msg(aw_val e) {
  const char *m = aw_error_message(e);
  return m ? m : "undefined";
}
