/*
 * executor/fn.c — functions as values (aw/fn.h).
 *
 * An aw_fn is one block: the object header, the code, and its captures
 * inline. It holds a reference to each capture and releases them when it is
 * freed. Every consumer that takes a function owns it until it can no
 * longer run: a then-promise (its reaction's arg, AW__PF_OWNS_ARG), a timer
 * (until cleared or fired for the last time), an immediate, a job in the
 * microtask or tick ring, a post in the inbox. The loop frees each of those
 * on aw_loop_free, and the functions with them; the teardown follows a
 * function's captures, so a promise whose handler captured the promise
 * itself is a cycle it frees.
 *
 * Resolve and reject functions are functions whose one capture is a
 * resolver (the pair's shared "already resolved" flag is the resolver's).
 */
#include "internal.h"

#include <string.h>

static size_t fn_size(uint32_t n) { return sizeof(aw_fn) + (size_t)n * sizeof(aw_val); }

aw_fn *aw_fn_new(aw_fn_code code, size_t n, const aw_val *caps) {
  if (!code || n > AW_FN_CAPS_MAX || (n && !caps))
    return NULL;
  aw_fn *f = aw__alloc(fn_size((uint32_t)n));
  f->hdr = (aw_obj){1, AW_T_FUNCTION, 0, 0};
  f->ncap = (uint32_t)n;
  f->code = code;
  if (n)
    memcpy(f->cap, caps, n * sizeof(aw_val));
  aw__objects_add(1);
  return f;
}

void aw__fn_free(aw_fn *f) {
  uint32_t n = f->ncap;
  for (uint32_t i = 0; i < n; i++)
    aw_release_val(f->cap[i]);
  aw__obj_block_free(&f->hdr, fn_size(n));
}

static bool is_fn(const aw_fn *f) { return f && f->hdr.type == AW_T_FUNCTION; }

aw_val *aw_fn_caps(aw_fn *f, size_t *n) {
  if (n)
    *n = is_fn(f) ? f->ncap : 0;
  return is_fn(f) ? f->cap : NULL;
}

aw_val aw_fn_call(aw_loop *L, aw_fn *f, aw_val a, aw_val b) {
  if (!is_fn(f)) {
    aw_release_val(a);
    aw_release_val(b);
    return aw_throw(aw_err("TypeError", "%s is not a function", f ? "object" : "null"));
  }
  aw_retain(f); /* the code may drop the last other reference to its own function */
  aw_val r = f->code(L, a, b, f->cap);
  aw_release_val(a);
  aw_release_val(b);
  aw_release(f);
  return r;
}

/* ---- loop callbacks ---------------------------------------------------------------------- */

void aw__fn_task_done(aw_loop *L, aw_val ret) {
  if (aw_is_thrown(ret))
    aw_uncaught(L, aw_caught(ret));
  else
    aw_release_val(ret);
}

void aw__fn_task(aw_loop *L, void *arg) {
  aw_fn *f = arg;
  aw__fn_task_done(L, f->code(L, aw_undefined(), aw_undefined(), f->cap));
}

/* ---- then, catch ------------------------------------------------------------------------- */

/* Both handlers: one function whose two captures are them (then has one arg slot). */
static aw_val pair_code(aw_loop *L, aw_val a, aw_val b, aw_val *cap) {
  (void)L, (void)a, (void)b, (void)cap;
  return aw_undefined(); /* never called: the pair only carries its two functions */
}

static aw_val run_fulfilled(aw_loop *L, aw_val v, void *arg) {
  aw_fn *f = arg;
  if (f->code == pair_code)
    f = (aw_fn *)f->cap[0].u.o;
  return aw__fn_invoke(L, f, v);
}

static aw_val run_rejected(aw_loop *L, aw_val v, void *arg) {
  aw_fn *f = arg;
  if (f->code == pair_code)
    f = (aw_fn *)f->cap[1].u.o;
  return aw__fn_invoke(L, f, v);
}

static void release_fns(aw_fn *a, aw_fn *b) {
  aw_release(a);
  aw_release(b);
}

aw_promise *aw_promise_then_fn(aw_promise *p, aw_fn *onf, aw_fn *onr) {
  if (AW__UNLIKELY(!aw__promise_usable(p)) || (onf && !is_fn(onf)) || (onr && !is_fn(onr))) {
    release_fns(onf, onr);
    return NULL;
  }
  if (!onf && !onr)
    return aw_promise_then(p, NULL, NULL, NULL);
  if (!onr)
    return aw__promise_then_owned(p, run_fulfilled, NULL, &onf->hdr);
  if (!onf)
    return aw__promise_then_owned(p, NULL, run_rejected, &onr->hdr);
  aw_fn *pair = aw_fn_new(pair_code, 2, (aw_val[]){aw_obj_val(onf), aw_obj_val(onr)});
  return aw__promise_then_owned(p, run_fulfilled, run_rejected, &pair->hdr);
}

aw_promise *aw_promise_catch_fn(aw_promise *p, aw_fn *onr) {
  return aw_promise_then_fn(p, NULL, onr);
}

/* ---- resolve and reject as values -------------------------------------------------------- */

static aw_val resolve_code(aw_loop *L, aw_val a, aw_val b, aw_val *cap) {
  (void)L, (void)b;
  aw_resolver_resolve((aw_resolver *)cap[0].u.o, aw_retain_val(a));
  return aw_undefined();
}

static aw_val reject_code(aw_loop *L, aw_val a, aw_val b, aw_val *cap) {
  (void)L, (void)b;
  aw_resolver_reject((aw_resolver *)cap[0].u.o, aw_retain_val(a));
  return aw_undefined();
}

static aw_fn *resolver_fn(aw_resolver *r, aw_fn_code code) {
  if (!r || r->hdr.type != AW_T_RESOLVER)
    return NULL;
  return aw_fn_new(code, 1, (aw_val[]){aw_obj_val(aw_retain(r))});
}

aw_fn *aw_resolver_resolve_fn(aw_resolver *r) { return resolver_fn(r, resolve_code); }
aw_fn *aw_resolver_reject_fn(aw_resolver *r) { return resolver_fn(r, reject_code); }

/* Calls fn with the resolving functions of r; a throw rejects unless r was used. */
static void call_with_resolvers(aw_loop *L, aw_fn *fn, aw_resolver *r) {
  aw_fn *res = aw_resolver_resolve_fn(r), *rej = aw_resolver_reject_fn(r);
  aw_val ret = fn->code(L, aw_obj_val(res), aw_obj_val(rej), fn->cap);
  aw_release(res);
  aw_release(rej);
  if (aw_is_thrown(ret))
    aw_resolver_reject(r, aw_caught(ret)); /* ignored if already resolved */
  else
    aw_release_val(ret);
}

aw_promise *aw_promise_new_fn(aw_loop *L, aw_fn *executor) {
  aw_promise *p = is_fn(executor) ? aw_promise_new(L) : NULL;
  if (!p) {
    aw_release(executor);
    return NULL;
  }
  aw_resolver *r = aw__resolver_new(aw_retain(p));
  call_with_resolvers(L, executor, r);
  aw_release(r);
  aw_release(executor);
  return p;
}

aw_promise *aw_promise_with_resolvers_fn(aw_loop *L, aw_fn **resolve, aw_fn **reject) {
  if (!resolve || !reject)
    return NULL;
  aw_resolver *r;
  aw_promise *p = aw_promise_with_resolvers(L, &r);
  if (!p)
    return NULL;
  *resolve = aw_resolver_resolve_fn(r);
  *reject = aw_resolver_reject_fn(r);
  aw_release(r);
  return p;
}

static aw_val try_call(aw_loop *L, void *arg) { return aw__fn_invoke(L, arg, aw_undefined()); }

aw_promise *aw_promise_try_fn(aw_loop *L, aw_fn *fn) {
  aw_promise *p = is_fn(fn) ? aw_promise_try(L, try_call, fn) : NULL;
  aw_release(fn);
  return p;
}

/* ---- thenables --------------------------------------------------------------------------- */

static void thenable_finalize(aw_obj *self) { aw_release(*(aw_fn **)aw_object_data(self)); }

static aw_val thenable_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  aw_fn *fn = *(aw_fn **)aw_object_data(self);
  aw_fn *res = aw_resolver_resolve_fn(r), *rej = aw_resolver_reject_fn(r);
  aw_val ret = fn->code(L, aw_obj_val(res), aw_obj_val(rej), fn->cap);
  aw_release(res);
  aw_release(rej);
  return ret; /* a throw rejects unless r was used (the library's rule for then) */
}

static const aw_class thenable_class = {"Object", thenable_finalize, thenable_then};

aw_obj *aw_thenable_new(aw_fn *then) {
  if (!is_fn(then)) {
    aw_release(then);
    return NULL;
  }
  aw_obj *o = aw_object_new(&thenable_class, sizeof(aw_fn *));
  if (!o)
    aw__oom(sizeof(aw_fn *));
  *(aw_fn **)aw_object_data(o) = then;
  return o;
}

aw_fn *aw__thenable_fn(aw_obj *o) {
  return aw_object_class(o) == &thenable_class ? *(aw_fn **)aw_object_data(o) : NULL;
}
