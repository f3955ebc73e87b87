/*
 * executor/signal.c — AbortSignal: a user object of an internal class.
 *
 * The listeners form a doubly linked list of nodes embedded in their owners.
 * Aborting detaches each node before calling it, so a listener may remove
 * others or add new ones (added ones are refused: the signal is aborted). A
 * timeout signal's timer holds no reference: the signal clears it when it is
 * freed, so an unreferenced timeout signal costs nothing and leaks nothing.
 *
 * aw_signal_any: the combined signal holds a reference to each source and a
 * listener node on each (in an array it owns); a source holds nothing of it.
 * So there is no cycle: whichever happens first, the combined signal's abort
 * or its finalizer, unlistens from every source and releases them. A
 * source's abort runs our listener with its node already detached, and the
 * other nodes may sit on that same source (any(a, a)): unlistening them
 * there is what aw_signal_abort allows a listener to do.
 */
#include "internal.h"

#include "aw/signal.h"

typedef struct anysrc {
  aw_signal_listener l; /* on src */
  aw_signal *src;       /* a reference */
  aw_signal *self;      /* borrowed: the combined signal owns this array */
} anysrc;

typedef struct sigdata {
  aw_loop *loop;
  aw_val reason;
  bool aborted;
  aw_signal_listener *head, *tail;
  aw_timer timer;
  anysrc *srcs; /* aw_signal_any's sources, until it aborts or goes */
  size_t nsrcs;
  bool composite; /* made by aw_signal_any */
} sigdata;

static void any_drop_sources(sigdata *d);
static void any_source_aborted(aw_loop *L, aw_signal *src, aw_signal_listener *l);

static void sig_finalize(aw_obj *o);
static const aw_class signal_class = {"AbortSignal", sig_finalize, NULL};

static sigdata *data_of(const aw_signal *s) {
  const aw_obj *o = (const aw_obj *)s;
  if (!o || aw_object_class(o) != &signal_class)
    return NULL;
  return aw_object_data((aw_obj *)o);
}

static void sig_finalize(aw_obj *o) {
  sigdata *d = aw_object_data(o);
  if (d->timer && !d->loop->freeing)
    aw_clear_timer(d->loop, d->timer);
  any_drop_sources(d);
  aw_release_val(d->reason);
  aw__loop_release(d->loop); /* a signal keeps its loop's memory, as a promise does */
}

aw_signal *aw_signal_new(aw_loop *L) {
  if (!L || !aw__on_owner(L) || L->freeing)
    return NULL;
  aw_obj *o = aw_object_new(&signal_class, sizeof(sigdata));
  if (!o)
    aw__oom(sizeof(sigdata)); /* bookkeeping-sized, as a promise */
  sigdata *d = aw_object_data(o);
  d->loop = L;
  d->reason = aw_undefined();
  L->live++;
  return (aw_signal *)o;
}

aw_val aw__timeout_error(void) {
  return aw_err("TimeoutError", "The operation was aborted due to timeout");
}

static void timeout_fired(aw_loop *L, void *arg) {
  aw_signal *s = arg;
  sigdata *d = data_of(s);
  d->timer = 0;
  aw_retain((aw_obj *)s); /* listeners may drop the last other reference */
  aw_signal_abort(s, aw__timeout_error());
  aw_release((aw_obj *)s);
  (void)L;
}

aw_signal *aw_signal_timeout(aw_loop *L, uint64_t ms) {
  aw_signal *s = aw_signal_new(L);
  if (!s)
    return NULL;
  sigdata *d = data_of(s);
  d->timer = aw_set_timeout(L, ms > INT32_MAX ? INT32_MAX : (int64_t)ms, timeout_fired, s);
  aw_timer_unref(L, d->timer);
  return s;
}

int aw_signal_abort(aw_signal *s, aw_val reason) {
  sigdata *d = data_of(s);
  if (!d) {
    aw_release_val(reason);
    return -EINVAL;
  }
  if (!aw__on_owner(d->loop)) {
    aw_release_val(reason);
    return -EPERM;
  }
  if (d->aborted) {
    aw_release_val(reason);
    return 0;
  }
  d->aborted = true;
  d->reason = aw_is_undefined(reason) ? aw_err("AbortError", "This operation was aborted")
                                      : aw_caught(reason);
  if (d->timer) {
    aw_clear_timer(d->loop, d->timer);
    d->timer = 0;
  }
  any_drop_sources(d); /* its sources matter no more */
  aw_retain((aw_obj *)s);
  /* Node's abortSignal(): the 'abort' listeners, then the dependant signals
   * (those of aw_signal_any), in the order they were made */
  for (int dependants = 0; dependants < 2; dependants++) {
    aw_signal_listener *l = d->head;
    while (l) {
      if ((l->fn == any_source_aborted) != dependants) {
        l = l->next_;
        continue;
      }
      aw_signal_unlisten(s, l);
      l->fn(d->loop, s, l);
      l = d->head; /* the listener may have removed any others */
    }
  }
  aw_release((aw_obj *)s);
  return 0;
}

bool aw_signal_aborted(const aw_signal *s) {
  sigdata *d = data_of(s);
  return d && d->aborted;
}

aw_val aw_signal_reason(const aw_signal *s) {
  sigdata *d = data_of(s);
  return d ? d->reason : aw_undefined();
}

int aw_signal_listen(aw_signal *s, aw_signal_listener *l) {
  sigdata *d = data_of(s);
  if (!d || !l || !l->fn)
    return -EINVAL;
  if (!aw__on_owner(d->loop))
    return -EPERM;
  if (d->aborted)
    return -ECANCELED;
  l->next_ = NULL;
  l->prev_ = d->tail;
  if (d->tail)
    d->tail->next_ = l;
  else
    d->head = l;
  d->tail = l;
  return 0;
}

void aw_signal_unlisten(aw_signal *s, aw_signal_listener *l) {
  sigdata *d = data_of(s);
  if (!d || !l)
    return;
  if (!l->prev_ && d->head != l)
    return; /* not listening */
  if (l->prev_)
    l->prev_->next_ = l->next_;
  else
    d->head = l->next_;
  if (l->next_)
    l->next_->prev_ = l->prev_;
  else
    d->tail = l->prev_;
  l->prev_ = l->next_ = NULL;
}

/* ---- AbortSignal.any ------------------------------------------------------------------- */

static void any_drop_sources(sigdata *d) {
  anysrc *a = d->srcs;
  size_t n = d->nsrcs;
  if (!a)
    return;
  d->srcs = NULL;
  d->nsrcs = 0;
  for (size_t i = 0; i < n; i++) {
    aw_signal_unlisten(a[i].src, &a[i].l);
    aw_release((aw_obj *)a[i].src);
  }
  aw__free(a, n * sizeof *a);
}

static void any_source_aborted(aw_loop *L, aw_signal *src, aw_signal_listener *l) {
  (void)L;
  anysrc *a = AW__CONTAINER(l, anysrc, l);
  aw_signal *self = a->self;
  aw_val reason = aw_retain_val(aw_signal_reason(src));
  /* drops the sources (a, too) before the combined signal's listeners run */
  aw_signal_abort(self, reason);
}

aw_signal *aw_signal_any(aw_loop *L, aw_signal **signals, size_t n) {
  if (!L || (n && !signals) || n > AW_ARRAY_MAX)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    sigdata *sd = data_of(signals[i]);
    if (!sd || sd->loop != L)
      return NULL;
  }
  aw_signal *s = aw_signal_new(L);
  if (!s)
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (aw_signal_aborted(signals[i])) {
      /* born aborted, with the first aborted source's reason, and listening to nothing */
      aw_signal_abort(s, aw_retain_val(aw_signal_reason(signals[i])));
      return s;
    }
  sigdata *d = data_of(s);
  d->composite = true;
  /* As Node: a combined source stands for its own sources (so every
   * dependant hangs on a plain signal, in the order it was made). */
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    sigdata *sd = data_of(signals[i]);
    m += sd->composite ? sd->nsrcs : 1;
  }
  if (m == 0)
    return s; /* any([]) (or of such) never aborts */
  anysrc *a = aw__try_alloc_user(m * sizeof *a);
  if (!a) {
    aw_release((aw_obj *)s);
    return NULL;
  }
  d->srcs = a;
  d->nsrcs = m;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    sigdata *sd = data_of(signals[i]);
    size_t c = sd->composite ? sd->nsrcs : 1;
    for (size_t j = 0; j < c; j++) {
      aw_signal *src = sd->composite ? sd->srcs[j].src : signals[i];
      a[k] = (anysrc){.l = {.fn = any_source_aborted}, .src = aw_retain(src), .self = s};
      aw_signal_listen(src, &a[k].l); /* none is aborted (checked above) */
      k++;
    }
  }
  return s;
}
