/*
 * executor/combinators.c — Promise.all, allSettled, any and race.
 *
 * Each follows its algorithm in ECMA-262 27.2.4: every input goes through
 * PromiseResolve (a native promise of this loop as is, anything else wrapped,
 * a thenable through ResolveThenableJob) and gets one reaction; a counter
 * that starts at 1 and drops once after the inputs settles the result when
 * the last element arrives. That makes the tick counts V8's.
 *
 * all, allSettled and any keep one block from the loop's pool: the result
 * promise first, then the counters, the n element reactions and the n value
 * slots, so that n inputs cost one allocation. The result array is made only
 * when the combinator settles, as the spec's CreateArrayFromList does: a
 * million pending all() calls hold no arrays (on the VMs measured, the
 * arrays' page faults were most of async_tree's system time). The state part
 * lives while any element reaction is outstanding (refs); it holds a
 * reference to the promise, and the block is freed with the promise
 * (AW__PF_COMBI tells aw__promise_free its size).
 */
#include "internal.h"

#include <string.h>

enum { COMBI_ALL, COMBI_ALL_SETTLED, COMBI_ANY };

typedef struct aw__combi {
  aw_promise promise; /* the result; first, so the block is freed through it */
  uint32_t refs;      /* element reactions outstanding, +1 while building */
  uint32_t kind;
  uint32_t remaining; /* remainingElementsCount */
  uint32_t n;
  aw__elem_r elems[]; /* n of them, then n aw_val slots: values, outcomes or errors */
} aw__combi;

static size_t block_size(uint32_t n) {
  return sizeof(aw__combi) + (size_t)n * (sizeof(aw__elem_r) + sizeof(aw_val));
}
static aw_val *slots(aw__combi *s) { return (aw_val *)&s->elems[s->n]; }

size_t aw__combi_size(const aw_promise *p) { return block_size(((const aw__combi *)p)->n); }

static void combi_unref(aw__combi *s) {
  if (--s->refs)
    return;
  aw_val *v = slots(s);
  for (uint32_t i = 0; i < s->n; i++)
    aw_release_val(v[i]);
  aw_release(&s->promise); /* may free the block */
}

/* CreateArrayFromList: the slots move into a new array (NULL: no memory, they stay). */
static aw_array *take_array(aw__combi *s) {
  aw_array *a = aw_array_new(s->n);
  if (!a)
    return NULL;
  aw_val *v = slots(s);
  memcpy(a->items, v, (size_t)s->n * sizeof(aw_val));
  memset(v, 0, (size_t)s->n * sizeof(aw_val));
  a->len = s->n;
  return a;
}

/* The rejection of a combinator that cannot have the memory its n inputs need. */
static aw_val no_memory(size_t n) {
  aw_error *e = aw_error_new("RangeError", "out of memory for a combinator of %zu inputs", n);
  e->errnum = ENOMEM;
  return aw_obj_val(e);
}

static void combi_done(aw__combi *s) {
  aw_array *a = take_array(s);
  if (!a) {
    aw__reject_once(&s->promise, no_memory(s->n));
  } else if (s->kind == COMBI_ANY) {
    aw_error *e = aw_error_new("AggregateError", "All promises were rejected");
    e->errors = a;
    aw__reject_once(&s->promise, aw_obj_val(e));
  } else {
    aw__resolve_once(&s->promise, aw_obj_val(a));
  }
}

/* elems[index] sits at a known offset in its block. */
static aw__combi *state_of(aw__elem_r *e) {
  return (aw__combi *)((char *)(e - e->index) - offsetof(aw__combi, elems));
}

void aw__combi_elem_run(aw_loop *L, aw__elem_r *e, aw_val v) {
  (void)L;
  aw__combi *s = state_of(e);
  aw_val *slot = &slots(s)[e->index];
  if (AW__UNLIKELY(aw__val_may_cycle(v)))
    aw__pset_add(&s->promise); /* the state holds the slots: a cycle may close through them */
  switch (s->kind) {
  case COMBI_ALL:
    if (aw_is_thrown(v)) {
      aw__reject_once(&s->promise, v);
      break;
    }
    *slot = v;
    if (--s->remaining == 0)
      combi_done(s);
    break;
  case COMBI_ALL_SETTLED:
    *slot = v; /* the outcome: the value, or the reason marked thrown */
    if (--s->remaining == 0)
      combi_done(s);
    break;
  case COMBI_ANY:
    if (!aw_is_thrown(v)) {
      aw__resolve_once(&s->promise, v);
      break;
    }
    *slot = aw_caught(v);
    if (--s->remaining == 0)
      combi_done(s);
    break;
  }
  combi_unref(s);
}

void aw__combi_elem_drop(aw__elem_r *e) { combi_unref(state_of(e)); }

aw_promise *aw__combi_of_elem(aw__elem_r *e) { return &state_of(e)->promise; }
uint32_t aw__combi_refs(const aw_promise *p) { return ((const aw__combi *)p)->refs; }
aw_val *aw__combi_slots(aw_promise *p, uint32_t *n) {
  aw__combi *s = (aw__combi *)p;
  *n = s->n;
  return slots(s);
}

static void release_all(size_t n, const aw_val *values) {
  for (size_t i = 0; i < n; i++)
    aw_release_val(values[i]);
}

/*
 * The checks every combinator makes before it reads its inputs. A count above
 * AW_PROMISE_INPUTS_MAX (or inputs missing) describes no real array: the call
 * returns NULL without reading values at all, so nothing is consumed. Any
 * other refusal (no loop, another thread, a loop being freed) consumes the
 * inputs, as every refused call does.
 */
static bool usable(aw_loop *L, size_t n, const aw_val *values) {
  if (n > AW_PROMISE_INPUTS_MAX || (n && !values))
    return false;
  if (!L || !aw__on_owner(L) || L->freeing) {
    release_all(n, values);
    return false;
  }
  return true;
}

/* User-sized memory: a block too big for the pools may fail, and the call then rejects. */
static aw_promise *refused_for_memory(aw_loop *L, size_t n, const aw_val *values) {
  release_all(n, values);
  aw_promise *p = aw__promise_alloc(L);
  aw__promise_reject_value(p, no_memory(n));
  return p;
}

static aw_promise *combi(aw_loop *L, size_t n, const aw_val *values, uint32_t kind) {
  if (!usable(L, n, values))
    return NULL;
  size_t bytes = block_size((uint32_t)n);
  aw__combi *s = bytes <= AW__POOL_MAX
                     ? aw__pool_get(L, bytes)
                     : aw__try_alloc_user(AW__ROUND16(bytes)); /* as pool_put frees it */
  if (!s)
    return refused_for_memory(L, n, values);
  s->refs = 1;
  s->kind = kind;
  s->remaining = 1;
  s->n = (uint32_t)n;
  aw__promise_init_combi(&s->promise, L);  /* yours, and the state's */
  memset(slots(s), 0, n * sizeof(aw_val)); /* undefined */
  aw_promise *result = &s->promise;
  for (uint32_t i = 0; i < n; i++) {
    aw_promise *next = aw__promise_coerce(L, values[i]);
    aw__elem_r *e = &s->elems[i];
    e->index = i;
    e->pad_ = 0;
    s->refs++;
    s->remaining++;
    aw__promise_add_reaction(next, &e->link, AW__R_ELEM);
    aw_release(next);
  }
  if (--s->remaining == 0)
    combi_done(s);
  combi_unref(s);
  return result;
}

aw_promise *aw_promise_all(aw_loop *L, size_t n, const aw_val *values) {
  return combi(L, n, values, COMBI_ALL);
}
aw_promise *aw_promise_all_settled(aw_loop *L, size_t n, const aw_val *values) {
  return combi(L, n, values, COMBI_ALL_SETTLED);
}
aw_promise *aw_promise_any(aw_loop *L, size_t n, const aw_val *values) {
  return combi(L, n, values, COMBI_ANY);
}

/* race: each input's reaction settles the result through its resolving functions. */
static aw_val race_fulfilled(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  aw__resolve_once(arg, aw_retain_val(v));
  return aw_undefined();
}
static aw_val race_rejected(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  aw__reject_once(arg, aw_retain_val(v));
  return aw_undefined();
}

aw_promise *aw_promise_race(aw_loop *L, size_t n, const aw_val *values) {
  if (!usable(L, n, values))
    return NULL;
  aw_promise *result = aw__promise_alloc(L);
  for (size_t i = 0; i < n; i++) {
    aw_promise *next = aw__promise_coerce(L, values[i]);
    aw__promise_then_internal(next, race_fulfilled, race_rejected, &aw_retain(result)->hdr);
    aw_release(next);
  }
  return result;
}
