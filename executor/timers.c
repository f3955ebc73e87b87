/*
 * executor/timers.c — setTimeout/setInterval, as Node's lib/internal/timers.js
 * keeps them.
 *
 * Timers with the same duration share a list, in insertion order; since they
 * share the duration, the list is also in due-time order. A binary heap holds
 * the lists, keyed by (expiry of the list, list id), and a hash map finds the
 * list of a duration. So inserting and clearing cost O(1) plus a heap update
 * only when a list appears or disappears, and a million timers over a hundred
 * durations are a hundred heap entries.
 *
 * Running the timers phase is Node's processTimers(now)/listOnTimeout(list,
 * now) step for step, with `now` fixed for the phase:
 *  - take the heap's first list while its expiry <= now;
 *  - run its timers from the head while now - start >= duration, each one
 *    unlinked first, then called, then (an interval) re-inserted with the
 *    time taken just before its callback, then a microtask checkpoint;
 *  - at the first timer not yet due, give the list expiry
 *    max(start + duration, now + 1) and a new id, and move on;
 *  - an emptied list leaves the heap and the map.
 * A timer's start is the loop time when it was inserted, read fresh, as
 * Node's getLibuvNow() does, so a timer made inside a callback is never due
 * in the same phase.
 *
 * Timers live in a slot array and are linked by slot number. An id is
 * (generation << 32 | slot); a slot's generation changes when it is freed,
 * so clearing an old id is harmless.
 */
#include "internal.h"

#include <string.h>

#define TIMEOUT_MAX 2147483647

/* T_OWNED: arg is an aw_obj the timer holds a reference to, released if the loop is freed
 * before the timer fires (aw__timers_drop_owned); the callback takes that reference over. */
/* T_FN: arg is an aw_fn the timer owns for its whole life, released when its slot is freed. */
enum {
  T_LIVE = 1,
  T_LISTED = 2,
  T_FIRING = 4,
  T_CLEARED = 8,
  T_UNREF = 16,
  T_OWNED = 32,
  T_FN = 64,
  T_REFRESH = 128 /* refreshed inside its own callback: re-armed from t->start when it returns */
};

void aw__timers_init(aw__timers *T) {
  memset(T, 0, sizeof *T);
  T->next_id = 1;
}

void aw__timers_free(aw__timers *T) {
  aw__free(T->slot, (size_t)T->cap * sizeof(aw__timer));
  aw__free(T->list, (size_t)T->list_cap * sizeof(aw__tlist));
  aw__free(T->heap, (size_t)T->heap_cap * sizeof(uint32_t));
  aw__free(T->map_key, (size_t)T->map_cap * sizeof(uint32_t));
  aw__free(T->map_val, (size_t)T->map_cap * sizeof(uint32_t));
  memset(T, 0, sizeof *T);
}

/* ---- the duration map: msecs -> list, linear probing, backward-shift delete ---- */

static inline uint32_t map_hash(uint32_t k, uint32_t mask) { return (k * 2654435761u) & mask; }

static uint32_t map_get(aw__timers *T, uint32_t k) {
  if (!T->map_cap)
    return 0;
  uint32_t mask = T->map_cap - 1;
  for (uint32_t i = map_hash(k, mask);; i = (i + 1) & mask) {
    if (T->map_key[i] == k)
      return T->map_val[i];
    if (T->map_key[i] == 0)
      return 0;
  }
}

static void map_put_raw(aw__timers *T, uint32_t k, uint32_t v) {
  uint32_t mask = T->map_cap - 1;
  uint32_t i = map_hash(k, mask);
  while (T->map_key[i])
    i = (i + 1) & mask;
  T->map_key[i] = k;
  T->map_val[i] = v;
}

static void map_put(aw__timers *T, uint32_t k, uint32_t v) {
  if ((T->map_len + 1) * 2 > T->map_cap) {
    uint32_t ocap = T->map_cap, ncap = ocap ? ocap * 2 : 16;
    uint32_t *ok = T->map_key, *ov = T->map_val;
    T->map_key = aw__calloc(ncap * sizeof(uint32_t));
    T->map_val = aw__calloc(ncap * sizeof(uint32_t));
    T->map_cap = ncap;
    for (uint32_t i = 0; i < ocap; i++)
      if (ok[i])
        map_put_raw(T, ok[i], ov[i]);
    aw__free(ok, ocap * sizeof(uint32_t));
    aw__free(ov, ocap * sizeof(uint32_t));
  }
  map_put_raw(T, k, v);
  T->map_len++;
}

static void map_del(aw__timers *T, uint32_t k) {
  uint32_t mask = T->map_cap - 1;
  uint32_t i = map_hash(k, mask);
  while (T->map_key[i] != k) {
    if (!T->map_key[i])
      return;
    i = (i + 1) & mask;
  }
  T->map_len--;
  for (uint32_t j = (i + 1) & mask; T->map_key[j]; j = (j + 1) & mask) {
    uint32_t home = map_hash(T->map_key[j], mask);
    /* move j back to i if its home is not in the cyclic range (i, j] */
    if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
      T->map_key[i] = T->map_key[j];
      T->map_val[i] = T->map_val[j];
      i = j;
    }
  }
  T->map_key[i] = 0;
}

/* ---- the heap of lists, keyed by (expiry, id) ----------------------------------- */

static inline bool list_before(const aw__timers *T, uint32_t a, uint32_t b) {
  const aw__tlist *x = &T->list[a], *y = &T->list[b];
  return x->expiry < y->expiry || (x->expiry == y->expiry && x->id < y->id);
}

static inline void heap_set(aw__timers *T, uint32_t pos, uint32_t li) {
  T->heap[pos] = li;
  T->list[li].heap_pos = pos + 1;
}

static void sift_up(aw__timers *T, uint32_t pos) {
  uint32_t li = T->heap[pos];
  while (pos > 0) {
    uint32_t parent = (pos - 1) / 2;
    if (!list_before(T, li, T->heap[parent]))
      break;
    heap_set(T, pos, T->heap[parent]);
    pos = parent;
  }
  heap_set(T, pos, li);
}

static void sift_down(aw__timers *T, uint32_t pos) {
  uint32_t li = T->heap[pos];
  for (;;) {
    uint32_t c = pos * 2 + 1;
    if (c >= T->heap_len)
      break;
    if (c + 1 < T->heap_len && list_before(T, T->heap[c + 1], T->heap[c]))
      c++;
    if (!list_before(T, T->heap[c], li))
      break;
    heap_set(T, pos, T->heap[c]);
    pos = c;
  }
  heap_set(T, pos, li);
}

static void heap_push(aw__timers *T, uint32_t li) {
  if (T->heap_len == T->heap_cap) {
    uint32_t ncap = T->heap_cap ? T->heap_cap * 2 : 16;
    T->heap = aw__realloc(T->heap, T->heap_cap * sizeof(uint32_t), ncap * sizeof(uint32_t));
    T->heap_cap = ncap;
  }
  T->heap[T->heap_len++] = li;
  sift_up(T, T->heap_len - 1);
}

static void heap_remove(aw__timers *T, uint32_t li) {
  uint32_t pos = T->list[li].heap_pos - 1;
  T->list[li].heap_pos = 0;
  uint32_t last = T->heap[--T->heap_len];
  if (pos == T->heap_len)
    return;
  heap_set(T, pos, last);
  sift_down(T, pos);
  sift_up(T, T->list[last].heap_pos - 1);
}

static void heap_update(aw__timers *T, uint32_t li) {
  uint32_t pos = T->list[li].heap_pos - 1;
  sift_down(T, pos);
  sift_up(T, T->list[li].heap_pos - 1);
}

/* ---- lists --------------------------------------------------------------------- */

static uint32_t list_new(aw__timers *T, uint32_t msecs, uint64_t expiry) {
  uint32_t li = T->list_free;
  if (li)
    T->list_free = T->list[li].head;
  else
    li = aw__slot_grow((void **)&T->list, &T->nlist, &T->list_cap, sizeof(aw__tlist));
  T->list[li] = (aw__tlist){0, 0, msecs, 0, expiry, T->next_id++};
  heap_push(T, li);
  map_put(T, msecs, li);
  return li;
}

static void list_free(aw__timers *T, uint32_t li) {
  T->list[li].head = T->list_free;
  T->list[li].tail = 0;
  T->list[li].heap_pos = 0;
  T->list[li].msecs = 0;
  T->list_free = li;
}

/* Takes an emptied list out of the heap and the map (not the one running). */
static void list_retire(aw__timers *T, uint32_t li) {
  aw__tlist *X = &T->list[li];
  if (X->heap_pos) {
    heap_remove(T, li);
    if (map_get(T, X->msecs) == li)
      map_del(T, X->msecs);
  }
  if (li != T->running)
    list_free(T, li);
}

static void list_unlink(aw__timers *T, uint32_t ti) {
  aw__timer *t = &T->slot[ti];
  aw__tlist *X = &T->list[t->list];
  if (t->prev)
    T->slot[t->prev].next = t->next;
  else
    X->head = t->next;
  if (t->next)
    T->slot[t->next].prev = t->prev;
  else
    X->tail = t->prev;
  t->next = t->prev = 0;
  t->flags &= ~(uint32_t)T_LISTED;
}

/* insert(item, msecs, start) */
static void insert(aw__timers *T, uint32_t ti, uint32_t msecs, uint64_t start) {
  uint32_t li = map_get(T, msecs);
  if (!li)
    li = list_new(T, msecs, start + msecs);
  aw__timer *t = &T->slot[ti];
  aw__tlist *X = &T->list[li];
  t->start = start;
  t->list = li;
  t->next = 0;
  t->prev = X->tail;
  if (X->tail)
    T->slot[X->tail].next = ti;
  else
    X->head = ti;
  X->tail = ti;
  t->flags |= T_LISTED;
}

/* ---- slots and the public API ------------------------------------------------------ */

static uint32_t slot_new(aw__timers *T) {
  uint32_t ti = T->free_head;
  if (ti) {
    T->free_head = T->slot[ti].next;
    return ti;
  }
  ti = aw__slot_grow((void **)&T->slot, &T->nslot, &T->cap, sizeof(aw__timer));
  T->slot[ti].gen = 1;
  return ti;
}

static void slot_free(aw__timers *T, uint32_t ti) {
  aw__timer *t = &T->slot[ti];
  aw_fn *fn = t->flags & T_FN ? t->arg : NULL;
  t->gen++;
  t->flags = 0;
  t->fn = NULL;
  t->next = T->free_head;
  T->free_head = ti;
  aw_release(fn); /* last: releasing it may run a finalizer that uses the timers */
}

/* The live timer an id names, or 0. */
static uint32_t lookup(aw_loop *L, aw_timer id) {
  if (!L || !id || !aw__on_owner(L))
    return 0;
  aw__timers *T = &L->timers;
  uint32_t ti = (uint32_t)id, gen = (uint32_t)(id >> 32);
  if (ti == 0 || ti >= T->nslot || T->slot[ti].gen != gen || !(T->slot[ti].flags & T_LIVE) ||
      (T->slot[ti].flags & T_CLEARED))
    return 0;
  return ti;
}

static uint32_t coerce_ms(int64_t ms) { return ms < 1 || ms > TIMEOUT_MAX ? 1 : (uint32_t)ms; }

static aw_timer timer_new(aw_loop *L, int64_t ms, uint32_t repeat, aw_task_fn fn, void *arg) {
  if (!L || !fn || !aw__on_owner(L) || L->freeing)
    return 0;
  aw__timers *T = &L->timers;
  uint32_t ti = slot_new(T);
  aw__timer *t = &T->slot[ti];
  t->fn = fn;
  t->arg = arg;
  t->repeat = repeat;
  t->flags = T_LIVE;
  t->list = 0;
  T->active++;
  T->refd++;
  insert(T, ti, coerce_ms(ms), aw__hrtime_ms(L));
  return ((uint64_t)T->slot[ti].gen << 32) | ti;
}

aw_timer aw_set_timeout(aw_loop *L, int64_t ms, aw_task_fn fn, void *arg) {
  return timer_new(L, ms, 0, fn, arg);
}

aw_timer aw_set_interval(aw_loop *L, int64_t ms, aw_task_fn fn, void *arg) {
  return timer_new(L, ms, coerce_ms(ms), fn, arg);
}

static aw_timer timer_fn(aw_loop *L, int64_t ms, bool repeat, aw_fn *fn) {
  aw_timer id = fn && fn->hdr.type == AW_T_FUNCTION
                    ? timer_new(L, ms, repeat ? coerce_ms(ms) : 0, aw__fn_task, fn)
                    : 0;
  if (id)
    L->timers.slot[(uint32_t)id].flags |= T_FN;
  else
    aw_release(fn);
  return id;
}

aw_timer aw_set_timeout_fn(aw_loop *L, int64_t ms, aw_fn *fn) { return timer_fn(L, ms, false, fn); }
aw_timer aw_set_interval_fn(aw_loop *L, int64_t ms, aw_fn *fn) { return timer_fn(L, ms, true, fn); }

static void timer_gone(aw__timers *T, aw__timer *t) {
  T->active--;
  if (!(t->flags & T_UNREF))
    T->refd--;
}

void aw_clear_timer(aw_loop *L, aw_timer id) {
  uint32_t ti = lookup(L, id);
  if (!ti)
    return;
  aw__timers *T = &L->timers;
  aw__timer *t = &T->slot[ti];
  timer_gone(T, t);
  if (t->flags & T_LISTED) {
    uint32_t li = t->list;
    list_unlink(T, ti);
    if (!T->list[li].head)
      list_retire(T, li);
  }
  if (t->flags & T_FIRING)
    t->flags |= T_CLEARED; /* freed when its callback returns */
  else
    slot_free(T, ti);
}

void aw_timer_unref(aw_loop *L, aw_timer id) {
  uint32_t ti = lookup(L, id);
  if (ti && !(L->timers.slot[ti].flags & T_UNREF)) {
    L->timers.slot[ti].flags |= T_UNREF;
    L->timers.refd--;
  }
}

void aw_timer_ref(aw_loop *L, aw_timer id) {
  uint32_t ti = lookup(L, id);
  if (ti && (L->timers.slot[ti].flags & T_UNREF)) {
    L->timers.slot[ti].flags &= ~(uint32_t)T_UNREF;
    L->timers.refd++;
  }
}

bool aw_timer_has_ref(aw_loop *L, aw_timer id) {
  uint32_t ti = lookup(L, id);
  return ti && !(L->timers.slot[ti].flags & T_UNREF);
}

int aw_timer_refresh(aw_loop *L, aw_timer id) {
  uint32_t ti = lookup(L, id);
  if (!ti)
    return -ENOENT;
  aw__timers *T = &L->timers;
  aw__timer *t = &T->slot[ti];
  uint64_t now = aw__hrtime_ms(L);
  if (t->flags & T_FIRING) {
    /* an interval re-arms from its own start anyway (listOnTimeout inserts it after the
     * callback, which moves it); a timeout is re-armed from now when its callback returns */
    t->flags |= T_REFRESH;
    t->start = now;
    return 0;
  }
  uint32_t li = t->list, msecs = T->list[li].msecs;
  list_unlink(T, ti);
  if (!T->list[li].head)
    list_retire(T, li);
  insert(T, ti, msecs, now);
  return 0;
}

/* ---- the timers phase ------------------------------------------------------------------ */

/* listOnTimeout(list, now) */
static void list_run(aw_loop *L, uint32_t li, uint64_t now, bool *threw) {
  aw__timers *T = &L->timers;
  T->running = li;
  while (!L->failed) {
    aw__tlist *X = &T->list[li];
    uint32_t ti = X->head;
    if (!ti)
      break;
    aw__timer *t = &T->slot[ti];
    if ((int64_t)(now - t->start) < (int64_t)X->msecs) {
      /* this list is not due yet further on */
      uint64_t e = t->start + X->msecs;
      X->expiry = e > now + 1 ? e : now + 1;
      X->id = T->next_id++;
      heap_update(T, li);
      T->running = 0;
      return;
    }
    list_unlink(T, ti);
    t->flags |= T_FIRING;
    uint64_t start = t->repeat ? aw__hrtime_ms(L) : 0;
    aw_task_fn fn = t->fn;
    void *arg = t->arg;
    if (t->flags & T_FN) /* its id as the argument: Node's `this` */
      aw__fn_task_done(L, aw__fn_invoke(L, arg, aw_int((int64_t)((uint64_t)t->gen << 32 | ti))));
    else
      fn(L, arg);
    L->stats.macrotasks++;
    *threw = L->drain_cut;
    t = &T->slot[ti]; /* the slot array may have moved */
    t->flags &= ~(uint32_t)T_FIRING;
    if (t->flags & T_CLEARED) {
      slot_free(T, ti);
    } else if (t->repeat) {
      insert(T, ti, t->repeat, start);
    } else if (t->flags & T_REFRESH) {
      t->flags &= ~(uint32_t)T_REFRESH;
      insert(T, ti, T->list[li].msecs, t->start);
    } else {
      timer_gone(T, t);
      slot_free(T, ti);
    }
    aw__after_callback(L);
  }
  T->running = 0;
  if (!T->list[li].head)
    list_retire(T, li);
}

/* processTimers(now) */
void aw__timers_run(aw_loop *L) {
  aw__timers *T = &L->timers;
  uint64_t now = L->now;
  bool threw = false;
  while (T->heap_len && !L->failed) {
    uint32_t li = T->heap[0];
    if (T->list[li].expiry > now)
      break;
    list_run(L, li, now, &threw);
  }
  aw__phase_end(L, threw);
}

int64_t aw__timers_timeout(aw_loop *L) {
  aw__timers *T = &L->timers;
  if (!T->heap_len)
    return -1;
  uint64_t now = aw__hrtime_ms(L);
  uint64_t e = T->list[T->heap[0]].expiry;
  return e > now ? (int64_t)(e - now) : 0;
}

/* ---- timers that own their argument ----------------------------------------------------- */

aw_timer aw__set_timeout_owned(aw_loop *L, int64_t ms, aw_task_fn fn, aw_obj *arg) {
  aw_timer id = timer_new(L, ms, 0, fn, arg);
  if (id)
    L->timers.slot[(uint32_t)id].flags |= T_OWNED;
  return id;
}

/*
 * aw_loop_free, before the frames go: the loop drops its timers unrun, and
 * the objects they own are released now (promises they would settle are
 * released unsettled, as the I/O operations' are).
 */
void aw__timers_drop_owned(aw_loop *L) {
  aw__timers *T = &L->timers;
  for (uint32_t ti = 1; ti < T->nslot; ti++) {
    aw__timer *t = &T->slot[ti];
    if ((t->flags & (T_LIVE | T_FN)) == (T_LIVE | T_FN)) {
      t->flags &= ~(uint32_t)T_FN;
      aw_release((aw_fn *)t->arg);
      continue;
    }
    if ((t->flags & (T_LIVE | T_OWNED)) != (T_LIVE | T_OWNED) || (t->flags & T_CLEARED))
      continue;
    t->flags &= ~(uint32_t)T_OWNED;
    aw_obj *o = t->arg;
    aw_release(o); /* may free other timers' objects, never this array (no timer is made now) */
  }
}

/* ---- aw_delay ----------------------------------------------------------------------------------
 *
 * A pending delay is an object held by its timer (T_OWNED). It ends exactly
 * once: the timer fires (resolve), or the signal or the deadline aborts it
 * (clear the timer, reject); either way it detaches from the signal, clears
 * the other timer and releases the timer's reference.
 */

typedef struct delay {
  aw_loop *loop;
  aw_promise *promise; /* NULL once settled */
  aw_timer timer, deadline;
  aw_signal *signal;
  aw_signal_listener listener;
  aw_obj *self; /* the object this is the payload of */
} delay;

static void delay_detach(delay *d) {
  aw_loop *L = d->loop;
  if (d->signal) {
    aw_signal_unlisten(d->signal, &d->listener);
    aw_release((aw_obj *)d->signal);
    d->signal = NULL;
  }
  if (d->deadline && !L->freeing)
    aw_clear_timer(L, d->deadline);
  d->deadline = 0;
}

static void delay_finalize(aw_obj *o) {
  delay *d = aw_object_data(o);
  delay_detach(d);
  if (d->promise)
    aw_release(d->promise); /* the loop is being freed: it never settles */
  aw__loop_release(d->loop);
}

static const aw_class delay_class = {"Delay", delay_finalize, NULL};

static void delay_settle(aw_obj *o, aw_val v) {
  delay *d = aw_object_data(o);
  aw_promise *p = d->promise;
  d->promise = NULL;
  delay_detach(d);
  aw__promise_settle_with(p, v);
  aw_release(p);
  aw_release(o); /* the timer's reference */
}

static void delay_fired(aw_loop *L, void *arg) {
  (void)L;
  delay *d = aw_object_data(arg);
  d->timer = 0;
  delay_settle(arg, aw_undefined());
}

static void delay_abort(aw_obj *o, aw_val reason) {
  delay *d = aw_object_data(o);
  if (d->timer)
    aw_clear_timer(d->loop, d->timer);
  d->timer = 0;
  delay_settle(o, aw_throw(reason));
}

/* timers/promises: new AbortError(undefined, { cause: signal.reason }) */
static aw_val abort_error(aw_signal *s) {
  aw_error *e = aw_error_new("AbortError", "The operation was aborted");
  aw_error_set_cause(e, aw_retain_val(aw_signal_reason(s)));
  return aw_obj_val(e);
}

static void delay_on_signal(aw_loop *L, aw_signal *s, aw_signal_listener *l) {
  (void)L;
  delay *d = AW__CONTAINER(l, delay, listener);
  delay_abort(d->self, abort_error(s));
}

static aw_val delay_unlistened(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  return aw_undefined();
}

static void delay_on_deadline(aw_loop *L, void *arg) {
  (void)L;
  delay *d = aw_object_data(arg);
  d->deadline = 0;
  delay_abort(arg, aw__timeout_error());
}

aw_promise *aw_delay(aw_loop *L, uint64_t ms, const aw_io_opts *o) {
  if (!L || !aw__on_owner(L) || L->freeing)
    return NULL;
  if (o && o->signal && aw_signal_aborted(o->signal))
    return aw_promise_rejected(L, abort_error(o->signal));
  aw_obj *self = aw_object_new(&delay_class, sizeof(delay));
  if (!self)
    aw__oom(sizeof(delay)); /* bookkeeping-sized, as a timer */
  delay *d = aw_object_data(self);
  d->loop = L;
  d->self = self;
  L->live++; /* a delay keeps its loop's memory until it goes, as a promise does */
  d->promise = aw__promise_alloc(L);
  /* as setTimeout: 0 (and anything past 2^31-1 ms, clamped here rather than made 1) */
  int64_t t = ms > TIMEOUT_MAX ? TIMEOUT_MAX : (int64_t)ms;
  d->timer = aw__set_timeout_owned(L, t, delay_fired, self); /* takes our reference */
  if (o && o->signal) {
    d->signal = aw_retain(o->signal);
    d->listener.fn = delay_on_signal;
    aw_signal_listen(d->signal, &d->listener);
  }
  if (o && o->timeout_ms) {
    d->deadline =
        aw_set_timeout(L, o->timeout_ms > TIMEOUT_MAX ? TIMEOUT_MAX : (int64_t)o->timeout_ms,
                       delay_on_deadline, self);
    aw_timer_unref(L, d->deadline); /* the delay's own timer keeps the loop alive */
  }
  /* Node returns SafePromisePrototypeFinally(ret, () => removeEventListener())
   * when given a signal, which is new Promise((a, b) => new SafePromise((a2,
   * b2) => ret.then(a2, b2)).finally(fn).then(a, b)): the same links here,
   * so it settles five ticks after the timer or the abort, as there */
  if (d->signal) {
    aw_promise *s1 = aw_promise_then(d->promise, NULL, NULL, NULL);
    aw_promise *s2 = aw_promise_finally(s1, delay_unlistened, NULL);
    aw_promise *s3 = aw_promise_then(s2, NULL, NULL, NULL);
    aw_release(s1);
    aw_release(s2);
    return s3;
  }
  return aw_retain(d->promise);
}
