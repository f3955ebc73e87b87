/*
 * executor/promise.c — promises, reactions and their microtask jobs.
 *
 * States: a promise is PENDING (u.q holds its reactions, oldest first) until
 * it settles once, to FULFILLED or REJECTED (u.result holds the value or the
 * reason, unmarked). Settling turns every reaction into a microtask job, in
 * registration order; a reaction added to a settled promise becomes a job at
 * once. Each job carries its own reference to the value, marked thrown for a
 * rejection, so a handler sees which way the promise went.
 *
 * The resolution procedure (ECMA-262 27.2.1.3.2) is followed literally:
 * resolving with a thenable queues a ResolveThenableJob, which calls the
 * thenable's then in its own job. For a native thenable that job registers a
 * reaction that settles the promise (V8's shortcut, with the same tick count
 * as the spec's call to `then`): two ticks later than a plain value.
 *
 * Who may settle a promise: a promise from aw_promise_new (or an executor)
 * has its resolve/reject functions in the public API, guarded by the
 * RESOLVED flag ("already resolved"). Every other promise (then's, async
 * functions', combinators') is INTERNAL: only the library settles it, and the
 * public functions refuse to.
 *
 * Reactions hold no reference to the promise they wait on. A pending promise
 * whose last reference goes can never settle, so its reactions are dropped
 * (the frame of an async function waiting on it is freed), which is what a
 * garbage collector does to a JavaScript program in the same state.
 */
#include "internal.h"

#include <string.h>

static void job_reaction(aw_loop *L, void *ptr, aw_val v);
static void job_frame(aw_loop *L, void *ptr, aw_val v);
static void job_rtj_native(aw_loop *L, void *ptr, aw_val v);
static void job_rtj_foreign(aw_loop *L, void *ptr, aw_val v);

/* ---- allocation -------------------------------------------------------------- */

static inline void promise_init(aw_promise *p, aw_loop *L, uint32_t refs, uint16_t flags) {
  p->hdr = (aw_obj){refs, AW_T_PROMISE, AW_PENDING, flags};
  p->loop = L;
  p->u.q.head = p->u.q.tail = NULL;
  L->promises++;
  L->live++;
  aw__objects_add(1);
}

void aw__promise_init_combi(aw_promise *p, aw_loop *L) {
  promise_init(p, L, 2, AW__PF_INTERNAL | AW__PF_COMBI);
}

aw_promise *aw__promise_alloc(aw_loop *L) {
  aw_promise *p = aw__pool_get(L, sizeof *p);
  promise_init(p, L, 1, AW__PF_INTERNAL);
  return p;
}

static void drop_reaction(aw_loop *L, aw__rlink *r) {
  switch (aw__r_kind(r)) {
  case AW__R_THEN: {
    aw__then_r *t = (aw__then_r *)r;
    aw_release(t->arg);
    aw__pool_put(L, t, sizeof *t);
    return;
  }
  case AW__R_DERIVED: {
    aw__tpromise *tp = AW__CONTAINER(r, aw__tpromise, r);
    aw_release(&tp->p);
    return;
  }
  case AW__R_FRAME:
    aw__frame_drop((aw_frame *)r);
    return;
  case AW__R_ELEM:
    aw__combi_elem_drop((aw__elem_r *)r);
    return;
  case AW__R_SPAWN:
    aw__pool_put(L, r, sizeof(aw__spawn_r));
    return;
  }
}

void aw__reactions_drop(aw_loop *L, aw__rlink *r) {
  while (r) {
    aw__rlink *next = aw__r_next(r);
    drop_reaction(L, r);
    r = next;
  }
}

void aw__promise_free(aw_promise *p) {
  aw_loop *L = p->loop;
  if (AW__UNLIKELY(p->hdr.flags & (AW__PF_LISTED | AW__PF_WARNED))) {
    if (p->hdr.flags & AW__PF_LISTED)
      aw__pset_remove(p);
    if (p->hdr.flags & AW__PF_WARNED)
      aw__warned_forget(L, p);
  }
  if (p->hdr.bits == AW_PENDING) {
    aw__reactions_drop(L, p->u.q.head);
  } else {
    aw_release_val(p->u.result);
  }
  uint16_t flags = p->hdr.flags;
  size_t size = flags & AW__PF_COMBI  ? aw__combi_size(p)
                : flags & AW__PF_THEN ? sizeof(aw__tpromise)
                                      : sizeof *p;
  if ((flags & AW__PF_THEN) && (flags & AW__PF_OWNS_ARG))
    aw_release(((aw__tpromise *)p)->r.arg);
#if AW_POOLS
  aw__obj_poison(&p->hdr); /* it stays poisoned on the free list */
  aw__pool_put(L, p, size);
#else
  aw__obj_block_free(&p->hdr, AW__ROUND16(size)); /* as aw__pool_put would free it */
#endif
  L->promises--;
  aw__loop_release(L);
}

/* ---- settling -------------------------------------------------------------------- */

static inline void queue_reaction(aw_loop *L, aw__rlink *r, aw_val jv) {
  if (aw__r_kind(r) == AW__R_FRAME)
    aw__ring_push(&L->micro, job_frame, r, jv);
  else
    aw__ring_push(&L->micro, job_reaction, r, jv);
}

/* Settles p (pending) with v (consumed, unmarked). */
static void settle(aw_promise *p, aw_val v, unsigned state) {
  aw_loop *L = p->loop;
  aw__rlink *r = p->u.q.head;
  p->hdr.bits = (uint8_t)state;
  p->u.result = v;
  if (AW__UNLIKELY(aw__val_may_cycle(v)))
    aw__pset_add(p);
  aw_val jv = v;
  if (state == AW_REJECTED) {
    jv = aw_throw(v);
    if (!(p->hdr.flags & AW__PF_HANDLED))
      aw__track_reject(L, p);
  }
  while (r) {
    aw__rlink *next = aw__r_next(r);
    queue_reaction(L, r, aw_retain_val(jv));
    r = next;
  }
}

void aw__promise_reject_value(aw_promise *p, aw_val reason) {
  if (AW__UNLIKELY(p->hdr.bits != AW_PENDING)) {
    aw_release_val(reason);
    return;
  }
  settle(p, aw_caught(reason), AW_REJECTED);
}

bool aw__is_thenable(aw_val v) {
  if (!aw_is_obj(v))
    return false;
  if (v.u.o->type == AW_T_PROMISE)
    return true;
  const aw_class *c = aw_object_class(v.u.o);
  return c && c->then;
}

/* The resolve function's body (27.2.1.3.2, steps 7-16). v consumed. */
void aw__promise_resolve_value(aw_promise *p, aw_val v) {
  if (AW__UNLIKELY(p->hdr.bits != AW_PENDING)) {
    aw_release_val(v);
    return;
  }
  v = aw_caught(v);
  if (aw_is_obj(v)) {
    aw_obj *o = v.u.o;
    aw_loop *L = p->loop;
    if (o == &p->hdr) {
      aw_release_val(v);
      settle(p, aw_err("TypeError", "Chaining cycle detected for promise #<Promise>"), AW_REJECTED);
      return;
    }
    if (o->type == AW_T_PROMISE) {
      if (((aw_promise *)o)->loop != L) {
        aw_release_val(v);
        settle(p, aw_err("TypeError", "cannot resolve with a promise of another loop"),
               AW_REJECTED);
        return;
      }
      aw__ring_push(&L->micro, job_rtj_native, aw_retain(p), v);
      return;
    }
    const aw_class *c = aw_object_class(o);
    if (c && c->then) {
      aw__ring_push(&L->micro, job_rtj_foreign, aw_retain(p), v);
      return;
    }
  }
  settle(p, v, AW_FULFILLED);
}

void aw__promise_settle_with(aw_promise *p, aw_val v) {
  if (aw_is_thrown(v))
    aw__promise_reject_value(p, v);
  else
    aw__promise_resolve_value(p, v);
}

/* The promise's own resolving functions, with their "already resolved" flag. */
static void resolve_once(aw_promise *p, aw_val v) {
  if (p->hdr.flags & AW__PF_RESOLVED) {
    aw_release_val(v);
    return;
  }
  p->hdr.flags |= AW__PF_RESOLVED;
  aw__promise_resolve_value(p, v);
}

static void reject_once(aw_promise *p, aw_val reason) {
  if (p->hdr.flags & AW__PF_RESOLVED) {
    aw_release_val(reason);
    return;
  }
  p->hdr.flags |= AW__PF_RESOLVED;
  aw__promise_reject_value(p, reason);
}

void aw__resolve_once(aw_promise *p, aw_val v) { resolve_once(p, v); }
void aw__reject_once(aw_promise *p, aw_val reason) { reject_once(p, reason); }

/* ---- reactions ------------------------------------------------------------------- */

void aw__promise_add_reaction(aw_promise *p, aw__rlink *r, unsigned kind) {
  r->link = kind;
  if (p->hdr.bits == AW_PENDING) {
    if (kind == AW__R_THEN && ((aw__then_r *)r)->arg)
      aw__pset_add(p); /* the arg (a promise it settles, a race's result) may lead back */
    if (p->u.q.tail)
      p->u.q.tail->link = (uintptr_t)r | aw__r_kind(p->u.q.tail);
    else
      p->u.q.head = r;
    p->u.q.tail = r;
  } else {
    aw_val jv = p->u.result;
    if (p->hdr.bits == AW_REJECTED) {
      jv = aw_throw(jv);
      if (!(p->hdr.flags & AW__PF_HANDLED))
        aw__track_handle(p->loop, p);
    }
    queue_reaction(p->loop, r, aw_retain_val(jv));
  }
  p->hdr.flags |= AW__PF_HANDLED;
}

aw_val aw__promise_take_settled(aw_promise *p) {
  aw_val jv = p->u.result;
  if (p->hdr.bits == AW_REJECTED) {
    jv = aw_throw(jv);
    if (!(p->hdr.flags & AW__PF_HANDLED))
      aw__track_handle(p->loop, p);
  }
  p->hdr.flags |= AW__PF_HANDLED;
  return aw_retain_val(jv);
}

void aw__promise_then_internal(aw_promise *p, aw_then_fn onf, aw_then_fn onr, aw_obj *arg) {
  aw__then_r *t = aw__pool_get(p->loop, sizeof *t);
  t->on_fulfilled = onf;
  t->on_rejected = onr;
  t->arg = arg;
  aw__promise_add_reaction(p, &t->link, AW__R_THEN);
}

static void job_reaction(aw_loop *L, void *ptr, aw_val v) {
  aw__rlink *r = ptr;
  unsigned kind = aw__r_kind(r);
  if (kind == AW__R_ELEM) {
    aw__combi_elem_run(L, (aw__elem_r *)r, v);
    return;
  }
  if (kind == AW__R_SPAWN) {
    aw__spawn_run(L, (aw__spawn_r *)r, v);
    return;
  }
  aw__then_r *t = (aw__then_r *)r;
  aw_then_fn h = aw_is_thrown(v) ? t->on_rejected : t->on_fulfilled;
  aw_val res;
  if (h) {
    res = h(L, aw_caught(v), t->arg);
    aw_release_val(v);
  } else {
    res = v; /* pass the value or the reason through */
  }
  if (kind == AW__R_DERIVED) {
    aw__tpromise *tp = AW__CONTAINER(t, aw__tpromise, r);
    aw__promise_settle_with(&tp->p, res);
    aw_release(&tp->p);
  } else {
    aw_release_val(res);
    aw_release(t->arg);
    aw__pool_put(L, t, sizeof *t);
  }
}

static void job_frame(aw_loop *L, void *ptr, aw_val v) { aw__frame_resume(L, (aw_frame *)ptr, v); }

/* ResolveThenableJob for a native promise: follow it. */
static aw_val rtj_fulfilled(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  aw__promise_resolve_value(arg, aw_retain_val(v));
  return aw_undefined();
}
static aw_val rtj_rejected(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  aw__promise_reject_value(arg, aw_retain_val(v));
  return aw_undefined();
}
static void job_rtj_native(aw_loop *L, void *ptr, aw_val v) {
  (void)L;
  aw_promise *thenable = (aw_promise *)v.u.o;
  aw__promise_then_internal(thenable, rtj_fulfilled, rtj_rejected, ptr);
  aw_release(thenable);
}

/* ResolveThenableJob for a user thenable: call its then with fresh resolvers. */
aw_resolver *aw__resolver_new(aw_promise *p) {
  aw_resolver *r = aw__alloc(sizeof *r);
  r->hdr = (aw_obj){1, AW_T_RESOLVER, 0, 0};
  r->pad_ = 0;
  r->promise = p;
  aw__objects_add(1);
  return r;
}

static void job_rtj_foreign(aw_loop *L, void *ptr, aw_val v) {
  aw_resolver *r = aw__resolver_new(ptr); /* takes the job's reference */
  aw_obj *o = v.u.o;
  aw_val ret = aw_object_class(o)->then(L, o, r);
  if (aw_is_thrown(ret) && !r->hdr.bits) {
    r->hdr.bits = 1;
    aw__promise_reject_value(r->promise, ret);
  } else {
    aw_release_val(ret);
  }
  aw_release(r);
  aw_release_val(v);
}

/* Frees what a job holds without running it (the loop is being freed). */
void aw__job_drop(aw_loop *L, aw__job *j) {
  if (j->fn == job_reaction) {
    drop_reaction(L, j->ptr);
    aw_release_val(j->v);
  } else if (j->fn == job_frame) {
    aw_release_val(j->v);
    aw__frame_drop(j->ptr);
  } else if (j->fn == job_rtj_native || j->fn == job_rtj_foreign) {
    aw_release(j->ptr);
    aw_release_val(j->v);
  } else if (j->fn == aw__job_closure) {
    aw_release((aw_fn *)j->ptr);
  }
  /* user tasks hold nothing of ours */
}

void aw__queue_frame_job(aw_loop *L, aw_frame *f, aw_val v) {
  aw__ring_push(&L->micro, job_frame, f, v);
}

void aw__queue_rtj(aw_loop *L, aw_promise *p, aw_val thenable) {
  const aw_class *c = aw_object_class(thenable.u.o);
  if (thenable.u.o->type == AW_T_PROMISE)
    aw__ring_push(&L->micro, job_rtj_native, p, thenable);
  else if (c && c->then)
    aw__ring_push(&L->micro, job_rtj_foreign, p, thenable);
}

/* ---- public API -------------------------------------------------------------------- */

/*
 * A promise may be operated on from its loop's thread, not from inside the
 * callbacks of another running loop, and not once its loop was freed (a
 * promise you still hold stays valid to inspect and release, nothing more).
 */
bool aw__promise_usable(const aw_promise *p) {
  if (AW__UNLIKELY(!p || p->hdr.type != AW_T_PROMISE)) {
#ifndef NDEBUG
    if (p && p->hdr.refs == 0 && (p->hdr.type & AW__T_FREED))
      aw__freed_abort("use", &p->hdr, NULL, 0); /* a freed promise: say so, and where */
#endif
    return false;
  }
  aw_loop *cur = aw__tls_loop;
  if (AW__UNLIKELY(cur && cur != p->loop))
    return false;
  return aw__on_owner(p->loop) && !p->loop->freeing;
}

static bool loop_usable(aw_loop *L) { return L && aw__on_owner(L) && !L->freeing; }

aw_promise *aw_promise_new(aw_loop *L) {
  if (!loop_usable(L))
    return NULL;
  aw_promise *p = aw__pool_get(L, sizeof *p);
  promise_init(p, L, 1, 0);
  return p;
}

aw_promise *aw_promise_new_executor(aw_loop *L, aw_executor_fn exec, void *arg) {
  if (!exec)
    return NULL;
  aw_promise *p = aw_promise_new(L);
  if (!p)
    return NULL;
  aw_val ret = exec(L, p, arg);
  if (aw_is_thrown(ret))
    reject_once(p, ret);
  else
    aw_release_val(ret);
  return p;
}

static int unusable(const aw_promise *p, aw_val v) {
  aw_release_val(v); /* the value is the caller's, whatever the promise */
  return p && p->hdr.type == AW_T_PROMISE ? -EPERM : -EINVAL;
}

int aw_promise_resolve(aw_promise *p, aw_val v) {
  if (AW__UNLIKELY(!aw__promise_usable(p)))
    return unusable(p, v);
  if (p->hdr.flags & AW__PF_INTERNAL) {
    aw_release_val(v);
    return -EPERM;
  }
  resolve_once(p, v);
  return 0;
}

int aw_promise_reject(aw_promise *p, aw_val reason) {
  if (AW__UNLIKELY(!aw__promise_usable(p)))
    return unusable(p, reason);
  if (p->hdr.flags & AW__PF_INTERNAL) {
    aw_release_val(reason);
    return -EPERM;
  }
  reject_once(p, aw_caught(reason));
  return 0;
}

static aw_promise *then_alloc(aw_promise *p, aw_then_fn onf, aw_then_fn onr, void *arg,
                              uint16_t extra) {
  aw_loop *L = p->loop;
  aw__tpromise *tp = aw__pool_get(L, sizeof *tp);
  promise_init(&tp->p, L, 2, AW__PF_INTERNAL | AW__PF_THEN | extra); /* yours + the reaction's */
  tp->r.on_fulfilled = onf;
  tp->r.on_rejected = onr;
  tp->r.arg = arg;
  aw__promise_add_reaction(p, &tp->r.link, AW__R_DERIVED);
  return &tp->p;
}

aw_promise *aw_promise_then(aw_promise *p, aw_then_fn onf, aw_then_fn onr, void *arg) {
  if (AW__UNLIKELY(!aw__promise_usable(p)))
    return NULL;
  return then_alloc(p, onf, onr, arg, 0);
}

aw_promise *aw_promise_catch(aw_promise *p, aw_then_fn onr, void *arg) {
  return aw_promise_then(p, NULL, onr, arg);
}

/* A then whose arg is an object the derived promise owns. */
aw_promise *aw__promise_then_owned(aw_promise *p, aw_then_fn onf, aw_then_fn onr, aw_obj *arg) {
  aw_promise *d = then_alloc(p, onf, onr, arg, AW__PF_OWNS_ARG);
  aw__pset_add(d); /* its arg (a finally's closure or box) may lead back */
  return d;
}

aw_promise *aw__promise_coerce(aw_loop *L, aw_val v) {
  v = aw_caught(v);
  if (aw_is_promise(v) && ((aw_promise *)v.u.o)->loop == L)
    return (aw_promise *)v.u.o;
  aw_promise *p = aw__promise_alloc(L);
  aw__promise_resolve_value(p, v);
  return p;
}

aw_promise *aw_promise_resolved(aw_loop *L, aw_val v) {
  if (!loop_usable(L)) {
    aw_release_val(v);
    return NULL;
  }
  return aw__promise_coerce(L, v);
}

aw_promise *aw_promise_rejected(aw_loop *L, aw_val reason) {
  if (!loop_usable(L)) {
    aw_release_val(reason);
    return NULL;
  }
  aw_promise *p = aw__promise_alloc(L);
  aw__promise_reject_value(p, reason);
  return p;
}

aw_promise *aw_promise_try(aw_loop *L, aw_call_fn fn, void *arg) {
  if (!loop_usable(L) || !fn)
    return NULL;
  aw_promise *p = aw__promise_alloc(L);
  aw__promise_settle_with(p, fn(L, arg));
  return p;
}

enum aw_state aw_promise_state(const aw_promise *p) {
  return p && p->hdr.type == AW_T_PROMISE ? (enum aw_state)p->hdr.bits : AW_PENDING;
}

aw_val aw_promise_result(const aw_promise *p) {
  if (!p || p->hdr.type != AW_T_PROMISE || p->hdr.bits == AW_PENDING)
    return aw_undefined();
  return p->u.result;
}

aw_loop *aw_promise_loop(const aw_promise *p) {
  return p && p->hdr.type == AW_T_PROMISE ? p->loop : NULL;
}

/* ---- finally ---------------------------------------------------------------------- */

/*
 * finally(onFinally) is then(thenFinally, catchFinally) (27.2.5.3): each
 * calls onFinally, turns its result into a promise with PromiseResolve, and
 * returns that promise's then(() => value) or then(() => throw reason). The
 * extra promises are exactly why finally costs more ticks than then.
 */
typedef struct finally_closure {
  aw_call_fn fn;
  void *arg;
} finally_closure;

typedef struct value_box {
  aw_val v; /* marked thrown: rethrow it */
} value_box;

static void box_finalize(aw_obj *o) {
  value_box *b = aw_object_data(o);
  aw_release_val(b->v);
}
static const aw_class box_class = {"ValueBox", box_finalize, NULL};
static const aw_class finally_class = {"FinallyClosure", NULL, NULL};

aw_val *aw__box_slot(aw_obj *o) {
  if (aw_object_class(o) != &box_class)
    return NULL;
  return &((value_box *)aw_object_data(o))->v;
}

static aw_val thunk(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  value_box *b = aw_object_data(arg);
  return aw_retain_val(b->v);
}

static aw_val finally_step(aw_loop *L, aw_val v, void *arg, bool rejected) {
  aw_val result;
  if (((aw_obj *)arg)->type == AW_T_FUNCTION) { /* aw_promise_finally_fn */
    result = aw__fn_invoke(L, arg, aw_undefined());
  } else {
    finally_closure *c = aw_object_data(arg);
    result = c->fn(L, c->arg);
  }
  if (aw_is_thrown(result))
    return result;
  aw_promise *p = aw__promise_coerce(L, result);
  aw_obj *box = aw_object_new(&box_class, sizeof(value_box));
  if (!box)
    aw__oom(sizeof(value_box));
  aw_val kept = aw_retain_val(v);
  ((value_box *)aw_object_data(box))->v = rejected ? aw_throw(kept) : kept;
  aw_promise *d = aw__promise_then_owned(p, thunk, NULL, box);
  aw_release(p);
  return aw_obj_val(d);
}

static aw_val then_finally(aw_loop *L, aw_val v, void *arg) {
  return finally_step(L, v, arg, false);
}
static aw_val catch_finally(aw_loop *L, aw_val v, void *arg) {
  return finally_step(L, v, arg, true);
}

aw_promise *aw_promise_finally(aw_promise *p, aw_call_fn fn, void *arg) {
  if (AW__UNLIKELY(!aw__promise_usable(p)))
    return NULL;
  if (!fn) /* a non-callable onFinally passes through, as then(undefined, undefined) */
    return then_alloc(p, NULL, NULL, NULL, 0);
  aw_obj *clo = aw_object_new(&finally_class, sizeof(finally_closure));
  if (!clo)
    aw__oom(sizeof(finally_closure));
  finally_closure *c = aw_object_data(clo);
  c->fn = fn;
  c->arg = arg;
  return aw__promise_then_owned(p, then_finally, catch_finally, clo);
}

aw_promise *aw_promise_finally_fn(aw_promise *p, aw_fn *fn) {
  if (AW__UNLIKELY(!aw__promise_usable(p))) {
    aw_release(fn);
    return NULL;
  }
  if (!fn)
    return then_alloc(p, NULL, NULL, NULL, 0);
  return aw__promise_then_owned(p, then_finally, catch_finally, &fn->hdr);
}

/* ---- resolvers ------------------------------------------------------------------------ */

static bool resolver_usable(const aw_resolver *r) {
  return r && r->hdr.type == AW_T_RESOLVER && aw__promise_usable(r->promise);
}

int aw_resolver_resolve(aw_resolver *r, aw_val v) {
  if (!resolver_usable(r)) {
    aw_release_val(v);
    return r && r->hdr.type == AW_T_RESOLVER ? -EPERM : -EINVAL;
  }
  if (r->hdr.bits) {
    aw_release_val(v);
    return 0;
  }
  r->hdr.bits = 1;
  aw__promise_resolve_value(r->promise, v);
  return 0;
}

int aw_resolver_reject(aw_resolver *r, aw_val reason) {
  if (!resolver_usable(r)) {
    aw_release_val(reason);
    return r && r->hdr.type == AW_T_RESOLVER ? -EPERM : -EINVAL;
  }
  if (r->hdr.bits) {
    aw_release_val(reason);
    return 0;
  }
  r->hdr.bits = 1;
  aw__promise_reject_value(r->promise, reason);
  return 0;
}

aw_promise *aw_resolver_promise(const aw_resolver *r) {
  return r && r->hdr.type == AW_T_RESOLVER ? r->promise : NULL;
}

aw_promise *aw_promise_with_resolvers(aw_loop *L, aw_resolver **out) {
  if (!loop_usable(L) || !out)
    return NULL;
  aw_promise *p = aw__promise_alloc(L);
  *out = aw__resolver_new(aw_retain(p));
  return p;
}
