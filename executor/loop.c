/*
 * executor/loop.c — the event loop: phases, the microtask checkpoint, the
 * rejection tracker, immediates and the cross-thread inbox.
 *
 * One iteration, as libuv runs Node's loop:
 *
 *   update the time
 *   timers     (executor/timers.c), a checkpoint after each callback
 *   I/O        wait if nothing is runnable (until the next timer or a post),
 *              then every posted task, a checkpoint after each
 *   check      the immediates queued before the phase, a checkpoint after each
 *   close      close callbacks, a checkpoint after each
 *
 * The checkpoint is Node's processTicksAndRejections: all nextTicks, then
 * all microtasks, again while nextTicks were queued; then the rejection
 * tracker reports, and if it reported anything (its hooks may queue more
 * work) the whole checkpoint runs again.
 *
 * The inbox (executor/inbox.h) is the only state shared with other threads:
 * a lane per posting thread, and an eventfd written only when the loop is
 * about to block or blocks.
 */
#include "internal.h"
#include "backend.h"

#include <poll.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

_Thread_local aw_loop *aw__tls_loop;

/* ---- rings ------------------------------------------------------------------ */

void aw__ring_grow(aw__ring *r) {
  uint32_t cap = r->mask + 1;
  uint32_t ncap = r->buf ? cap * 2 : 256;
  aw__job *nb = aw__alloc((size_t)ncap * sizeof(aw__job));
  uint32_t n = r->tail - r->head;
  for (uint32_t i = 0; i < n; i++)
    nb[i] = r->buf[(r->head + i) & r->mask];
  if (r->buf)
    aw__free(r->buf, (size_t)cap * sizeof(aw__job));
  r->buf = nb;
  r->head = 0;
  r->tail = n;
  r->mask = ncap - 1;
}

void aw__ring_free(aw__ring *r) {
  if (r->buf)
    aw__free(r->buf, (size_t)(r->mask + 1) * sizeof(aw__job));
  r->buf = NULL;
  r->head = r->tail = r->mask = 0;
}

/* A new slot at the end of a growable array whose slot 0 is never used. */
uint32_t aw__slot_grow(void **arr, uint32_t *n, uint32_t *cap, size_t esz) {
  if (*n == 0)
    *n = 1; /* slot 0 stands for "none" */
  if (*n >= *cap) {
    uint32_t ncap = *cap ? *cap * 2 : 64;
    *arr = aw__realloc(*arr, (size_t)*cap * esz, (size_t)ncap * esz);
    *cap = ncap;
  }
  return (*n)++;
}

void aw__pvec_push(aw__pvec *v, aw_promise *p) {
  if (v->len == v->cap) {
    uint32_t ncap = v->cap ? v->cap * 2 : 16;
    v->items = aw__realloc(v->items, v->cap * sizeof(aw_promise *), ncap * sizeof(aw_promise *));
    v->cap = ncap;
  }
  v->items[v->len++] = p;
}

static void pvec_free(aw__pvec *v) {
  for (uint32_t i = 0; i < v->len; i++)
    aw_release(v->items[i]);
  aw__free(v->items, v->cap * sizeof(aw_promise *));
  *v = (aw__pvec){0};
}

/* ---- time ------------------------------------------------------------------------ */

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t aw__hrtime_ms(aw_loop *L) {
  L->now = (mono_ns() - L->base_ns) / 1000000u;
  return L->now;
}

uint64_t aw_loop_now(aw_loop *L) { return L ? aw__hrtime_ms(L) : 0; }

/* ---- creation and destruction ------------------------------------------------------ */

aw_loop *aw_loop_new(const aw_loop_config *cfg, aw_val *err) {
  aw_loop *L = aw__calloc(sizeof *L);
  L->owner = pthread_self();
  /* Start one second in, so that "now - start" never underflows for timers. */
  L->base_ns = mono_ns() - 1000000000u;
  aw__hrtime_ms(L);
  L->rejections = cfg ? cfg->rejections : AW_REJECTIONS_THROW;
  const char *sc = getenv("AW_AWAIT_SHORTCUT");
  L->await_shortcut = !(sc && sc[0] == '0');
  L->exception = aw_undefined();
  if (L->rejections < AW_REJECTIONS_THROW || L->rejections > AW_REJECTIONS_NONE) {
    if (err)
      *err = aw_err("TypeError", "aw_loop_new: invalid rejection mode %d", (int)L->rejections);
    aw__free(L, sizeof *L);
    return NULL;
  }
  L->wake_fd = aw__fd_above_stdio(AW__FAULT_FD(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)));
  if (L->wake_fd < 0) {
    int e = errno;
    if (err)
      *err = aw_obj_val(aw_error_errno(-e, "eventfd", NULL));
    aw__free(L, sizeof *L);
    return NULL;
  }
  const char *io_env = getenv("AW_IO"); /* AW_IO=none: no backend, not even the probe */
  bool no_io = (cfg && cfg->no_io) || (io_env && !strcmp(io_env, "none"));
  if (!no_io) {
    int r = aw__backend_open(L, cfg, err);
    if (r < 0) {
      close(L->wake_fd);
      aw__free(L, sizeof *L);
      return NULL;
    }
  }
  aw__timers_init(&L->timers);
  aw__ring_grow(&L->micro); /* rings always have a buffer: push never checks */
  aw__ring_grow(&L->ticks);
  aw__inbox_init(&L->inbox, L->wake_fd);
  return L;
}

static void loop_destroy(aw_loop *L) {
  aw__pset_free(&L->seeds);
  aw__pool_drain(L);
  aw__inbox_destroy(&L->inbox);
  aw__free(L, sizeof *L);
}

/* A promise or frame of L went away; the last one frees a loop being freed. */
void aw__loop_release(aw_loop *L) {
  if (--L->live == 0 && L->freeing)
    loop_destroy(L);
}

static void drop_queues(aw_loop *L) {
  /* Dropping a job may free promises whose reactions queue nothing, but
   * freeing can release objects held by other jobs: loop until all are empty. */
  while (!aw__ring_empty(&L->micro) || !aw__ring_empty(&L->ticks)) {
    while (!aw__ring_empty(&L->micro)) {
      aw__job j = L->micro.buf[L->micro.head++ & L->micro.mask];
      aw__job_drop(L, &j);
    }
    while (!aw__ring_empty(&L->ticks)) {
      aw__job j = L->ticks.buf[L->ticks.head++ & L->ticks.mask];
      aw__job_drop(L, &j); /* user tasks hold nothing; a closure's function goes */
    }
  }
}

/* aw_loop_post_fn's task: runs the function once and lets it go. */
static void post_fn_task(aw_loop *L, void *arg) {
  aw__fn_task(L, arg);
  aw_release((aw_fn *)arg);
}

/* Frees the finished jobs in the inbox (their promises are not settled now); drops posts. */
static void drain_inbox(aw_loop *L) {
  aw_task_fn job_done = L->work_vt ? L->work_vt->job_done : NULL; /* no pool: no job either */
  aw_task_fn fn;
  void *arg;
  while (aw__inbox_pop(&L->inbox, &fn, &arg))
    if (job_done && fn == job_done)
      fn(L, arg);
    else if (fn == post_fn_task)
      aw_release((aw_fn *)arg); /* a function posted and never run */
}

/* The pool's per-turn flush: a test and nothing more on a loop that never used the pool. */
static inline void work_flush(aw_loop *L) {
  if (L->work_vt)
    L->work_vt->flush(L);
}

static void listeners_free(aw_loop *L);
static void warned_free(aw_loop *L);

int aw_loop_free(aw_loop *L) {
  if (!L)
    return -EINVAL;
  if (!aw__on_owner(L))
    return -EPERM;
  if (L->running)
    return -EBUSY;
  aw__ossignal_loop_free(L);         /* the signal thread never posts to L from here */
  aw__inbox_refuse_posts(&L->inbox); /* other threads' posts are refused from here */
  L->freeing = true;                 /* and so is new work of this thread */
  L->live++;                         /* what we drop below must not destroy L under our feet */
  aw_loop *saved = aw__tls_loop;
  aw__tls_loop = L;
  drop_queues(L);
  if (L->work_vt)
    L->work_vt->loop_free(L); /* removes queued jobs, cancels running ones and waits for them */
  drain_inbox(L);             /* their completions: arg_free runs now, on this thread */
  if (L->backend) {
    L->backend->free(L); /* cancels what is in the kernel and waits for it to give it back */
    L->backend = NULL;
  }
  /* aw_delay's pending promises, released unsettled like the ops'; aw_loop_fd's descriptors */
  aw__timers_drop_owned(L);
  aw__imms_drop_fns(L);
  if (L->embed_vt)
    L->embed_vt->free(L);
  drop_queues(L);
  aw__frames_zombify(L);
  drop_queues(L); /* nothing should be queued again, but be sure */
  aw__ring_free(&L->micro);
  aw__ring_free(&L->ticks);
  aw__timers_free(&L->timers);
  aw__imms_free(&L->imms);
  aw__free(L->closing, L->closing_cap * sizeof(aw__task));
  L->closing = NULL;
  L->nclosing = L->closing_cap = 0;
  aw__free(L->unhandled_ids, L->unhandled.cap * sizeof(uint64_t));
  L->unhandled_ids = NULL;
  pvec_free(&L->unhandled);
  pvec_free(&L->handled_later);
  listeners_free(L);
  warned_free(L);
  aw_release_val(L->fatal_pending);
  L->fatal_pending = aw_undefined();
  aw_release_val(L->exception);
  L->exception = aw_undefined();
  aw__loop_teardown(L); /* the cycles among promises nothing outside holds */
  /* no job of L runs or will post any more (work_vt->loop_free waited for them): after
   * this, no other thread touches L, its inbox or its eventfd */
  aw__inbox_close(&L->inbox);
  drain_inbox(L); /* posts never run once the loop is freed */
  if (L->work_vt)
    L->work_vt->loop_destroy(L);
  close(L->wake_fd);
  L->wake_fd = -1;
  aw__tls_loop = saved == L ? NULL : saved;
  aw__loop_release(L); /* destroys L now, or when the last promise you hold goes */
  return 0;
}

/* ---- listeners, failure, 'exit' and warnings --------------------------------------------------
 *
 * Each event has a list of function values (process.on). An emit copies the
 * list (a reference to each), as EventEmitter.emit does, and stops at the
 * first listener that throws; the throw becomes an uncaught exception, or,
 * out of an uncaughtException listener, the fatal end Node gives it.
 */

static bool event_ok(aw_loop *L, int ev) {
  return L && aw__on_owner(L) && ev >= 0 && ev < AW__EVENTS;
}

/* A listener an old setter added is going: the setter must not look for it again. */
static void forget_c_hook(aw_loop *L, const aw_fn *fn) {
  for (int i = 0; i < 3; i++)
    if (L->c_hook[i] == fn)
      L->c_hook[i] = NULL;
}

int aw_loop_on(aw_loop *L, enum aw_event ev, aw_fn *fn) {
  if (!event_ok(L, (int)ev) || !fn || fn->hdr.type != AW_T_FUNCTION) {
    aw_release(fn);
    return !L || !fn ? -EINVAL : L && !aw__on_owner(L) ? -EPERM : -EINVAL;
  }
  struct aw__listeners *ls = &L->listeners[ev];
  if (ls->n == ls->cap) {
    uint32_t ncap = ls->cap ? ls->cap * 2 : 4;
    ls->fns = aw__realloc(ls->fns, ls->cap * sizeof(aw_fn *), ncap * sizeof(aw_fn *));
    ls->cap = ncap;
  }
  ls->fns[ls->n++] = fn;
  return 0;
}

int aw_loop_off(aw_loop *L, enum aw_event ev, aw_fn *fn) {
  if (!event_ok(L, (int)ev) || !fn)
    return L && !aw__on_owner(L) ? -EPERM : -EINVAL;
  struct aw__listeners *ls = &L->listeners[ev];
  for (uint32_t i = ls->n; i-- > 0;) {
    if (ls->fns[i] != fn)
      continue;
    memmove(&ls->fns[i], &ls->fns[i + 1], (ls->n - i - 1) * sizeof(aw_fn *));
    ls->n--;
    forget_c_hook(L, fn);
    aw_release(fn);
    return 0;
  }
  return -ENOENT;
}

void aw_loop_off_all(aw_loop *L, enum aw_event ev) {
  if (!event_ok(L, (int)ev))
    return;
  struct aw__listeners *ls = &L->listeners[ev];
  while (ls->n) { /* one at a time: a release may run a finalizer that touches the list */
    aw_fn *fn = ls->fns[--ls->n];
    forget_c_hook(L, fn);
    aw_release(fn);
  }
}

size_t aw_loop_listener_count(aw_loop *L, enum aw_event ev) {
  return event_ok(L, (int)ev) ? L->listeners[ev].n : 0;
}

static void listeners_free(aw_loop *L) {
  for (int ev = 0; ev < AW__EVENTS; ev++) {
    aw_loop_off_all(L, (enum aw_event)ev);
    aw__free(L->listeners[ev].fns, L->listeners[ev].cap * sizeof(aw_fn *));
    L->listeners[ev] = (struct aw__listeners){0};
  }
  L->c_hook[0] = L->c_hook[1] = L->c_hook[2] = NULL;
}

/* Emits ev with (a, b) (borrowed): what the throwing listener threw (yours), or undefined. */
static aw_val emit(aw_loop *L, enum aw_event ev, aw_val a, aw_val b) {
  struct aw__listeners *ls = &L->listeners[ev];
  uint32_t n = ls->n;
  if (!n)
    return aw_undefined();
  aw_fn *one[4], **copy = n <= 4 ? one : aw__alloc(n * sizeof *copy);
  for (uint32_t i = 0; i < n; i++)
    copy[i] = aw_retain(ls->fns[i]);
  aw_val thrown = aw_undefined();
  uint32_t i = 0;
  for (; i < n; i++) {
    aw_val r = aw_fn_call(L, copy[i], aw_retain_val(a), aw_retain_val(b));
    if (aw_is_thrown(r)) {
      thrown = r;
      break;
    }
    aw_release_val(r);
  }
  for (uint32_t j = 0; j < n; j++)
    aw_release(copy[j]);
  if (copy != one)
    aw__free(copy, n * sizeof *copy);
  return thrown;
}

/* The old setters: a listener calling the C hook, in place of the one they added before. */
AW_FN(call_unhandled) {
  ((aw_unhandled_fn)cap[0].u.p)(L, a, (aw_promise *)b.u.o, cap[1].u.p);
  return aw_undefined();
}
AW_FN(call_handled) {
  ((aw_handled_fn)cap[0].u.p)(L, (aw_promise *)a.u.o, cap[1].u.p);
  return aw_undefined();
}
AW_FN(call_uncaught) {
  ((aw_uncaught_fn)cap[0].u.p)(L, a, cap[1].u.p);
  return aw_undefined();
}

static void set_c_hook(aw_loop *L, int slot, enum aw_event ev, aw_fn_code code, void *fn,
                       void *arg) {
  if (!L || !aw__on_owner(L))
    return;
  if (L->c_hook[slot])
    (void)aw_loop_off(L, ev, L->c_hook[slot]); /* forgets it */
  if (!fn)
    return;
  aw_fn *f = aw_fn_new(code, 2, (aw_val[]){aw_ptr(fn), aw_ptr(arg)});
  L->c_hook[slot] = f;
  (void)aw_loop_on(L, ev, f);
}

void aw_loop_on_unhandled_rejection(aw_loop *L, aw_unhandled_fn fn, void *arg) {
  set_c_hook(L, 0, AW_EVENT_UNHANDLED_REJECTION, call_unhandled, (void *)fn, arg);
}
void aw_loop_on_rejection_handled(aw_loop *L, aw_handled_fn fn, void *arg) {
  set_c_hook(L, 1, AW_EVENT_REJECTION_HANDLED, call_handled, (void *)fn, arg);
}
void aw_loop_on_uncaught_exception(aw_loop *L, aw_uncaught_fn fn, void *arg) {
  set_c_hook(L, 2, AW_EVENT_UNCAUGHT_EXCEPTION, call_uncaught, (void *)fn, arg);
}

void aw_loop_set_rejection_mode(aw_loop *L, enum aw_rejection_mode mode) {
  if (L && aw__on_owner(L) && mode >= AW_REJECTIONS_THROW && mode <= AW_REJECTIONS_NONE)
    L->rejections = mode;
}

aw_val aw_loop_exception(aw_loop *L) { return L ? L->exception : aw_undefined(); }

int aw_loop_exit_code(const aw_loop *L) { return L ? L->exit_code : 0; }
void aw_loop_set_exit_code(aw_loop *L, int code) {
  if (L && aw__on_owner(L)) {
    L->exit_code = code;
    L->exit_code_set = true;
  }
}
bool aw_loop_exit_code_set(const aw_loop *L) { return L && L->exit_code_set; }

static void print_fatal(const char *what, aw_val err) {
  fprintf(stderr, "%s: ", what);
  aw_error_print(err, stderr);
  fflush(stderr);
}

/*
 * The loop stops on err (consumed). Printed now, or, when 'exit' listeners
 * will run, after them (aw_loop_run), as Node prints a fatal error.
 */
static void fail(aw_loop *L, aw_val err, const char *what) {
  aw_release_val(L->exception);
  L->exception = aw_caught(err);
  L->failed = true;
  L->exit_code =
      L->fatal_in_hook ? 7 : 1; /* Node's kGenericUserError, or 7 for a listener's throw */
  if (L->listeners[AW_EVENT_EXIT].n && !L->exited && !L->fatal_in_hook) {
    aw_release_val(L->fatal_pending);
    L->fatal_pending = aw_retain_val(aw_caught(err));
    L->fatal_what = what;
    return;
  }
  print_fatal(what, err);
}

static void noop_task(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
}

/* Node's process._fatalException, once a listener has handled an exception:
 * setImmediate(noop), "so that any ticks get processed" (what a cut drain
 * left runs after that immediate at the latest). It is a callback of the check
 * phase like any other: the phase restart and drain rules see it. */
static void handled_uncaught(aw_loop *L) {
  if (!L->freeing && !L->exited)
    (void)aw_set_immediate(L, noop_task, NULL);
}

/* An exception reaches the uncaughtException listeners (origin as Node names it), or fails L. */
static void raise_uncaught(aw_loop *L, aw_val err, const char *origin, const char *what) {
  if (!L->listeners[AW_EVENT_UNCAUGHT_EXCEPTION].n || L->fatal_in_hook) {
    fail(L, err, what);
    return;
  }
  aw_val o = aw_string(origin);
  aw_val thrown = emit(L, AW_EVENT_UNCAUGHT_EXCEPTION, aw_caught(err), o);
  aw_release_val(o);
  aw_release_val(err);
  if (aw_is_thrown(thrown)) { /* Node: the throw is fatal, exit code 7, no 'exit' */
    L->fatal_in_hook = true;
    fail(L, thrown, "Uncaught");
    return;
  }
  handled_uncaught(L);
}

void aw_uncaught(aw_loop *L, aw_val err) {
  if (!L || !aw__on_owner(L)) {
    aw_release_val(err);
    return;
  }
  /* A throw out of a callback or a nextTick callback ends that drain (a
   * microtask's throw does not: Node catches it in the microtask). */
  if (L->listeners[AW_EVENT_UNCAUGHT_EXCEPTION].n && !L->in_microtask)
    L->drain_cut = true;
  raise_uncaught(L, err, "uncaughtException", "Uncaught");
}

/* A listener of an event other than uncaughtException threw: an uncaught exception. */
static void listener_threw(aw_loop *L, aw_val thrown) {
  if (aw_is_thrown(thrown))
    raise_uncaught(L, thrown, "uncaughtException", "Uncaught");
}

/* ---- 'exit' --------------------------------------------------------------------------------- */

/* aw_loop_run's end: 'exit' once, then the fatal error it held back, if any. */
static void emit_exit(aw_loop *L) {
  if (L->exited || L->fatal_in_hook || L->freeing)
    return;
  L->exited = true;
  if (L->listeners[AW_EVENT_EXIT].n) {
    aw_val code = aw_int(L->exit_code);
    bool was_failed = L->failed;
    L->failed = false; /* the listeners run, as in Node, after a fatal exception too */
    aw_val thrown = emit(L, AW_EVENT_EXIT, code, aw_undefined());
    if (aw_is_thrown(thrown))
      raise_uncaught(L, thrown, "uncaughtException", "Uncaught");
    /* a microtask an 'exit' listener queued runs (V8 drains when the stack empties); a tick
     * never does */
    aw__drain_microtasks(L);
    L->failed = L->failed || was_failed;
  }
  if (L->fatal_what) {
    print_fatal(L->fatal_what, L->fatal_pending);
    aw_release_val(L->fatal_pending);
    L->fatal_pending = aw_undefined();
    L->fatal_what = NULL;
  }
}

/* ---- warnings ---------------------------------------------------------------------------------
 */

static void warning_tick(aw_loop *L, aw_val w) {
  if (!L->listeners[AW_EVENT_WARNING].n) {
    fprintf(stderr, "(libawait) ");
    aw__print_value(stderr, w);
    fputc('\n', stderr);
    fflush(stderr);
    return;
  }
  listener_threw(L, emit(L, AW_EVENT_WARNING, w, aw_undefined()));
}

AW_FN(warning_code) {
  warning_tick(L, cap[0]);
  return aw_undefined();
}

void aw_loop_emit_warning(aw_loop *L, aw_val w) {
  if (!L || !aw__on_owner(L) || L->freeing) {
    aw_release_val(w);
    return;
  }
  w = aw_caught(w);
  if (!aw_is_error(w)) {
    aw_str *s = aw_to_string(w);
    aw_release_val(w);
    w = aw_err("Warning", "%s", s ? s->data : "");
    aw_release(s);
  }
  (void)aw_next_tick_fn(L, aw_fn(warning_code, w)); /* Node: process.nextTick(doEmitWarning) */
}

static void warn(aw_loop *L, const char *name, aw_val msg_owned) {
  aw_str *s = aw_to_string(msg_owned);
  aw_release_val(msg_owned);
  aw_loop_emit_warning(L, aw_err(name, "%s", s ? s->data : ""));
  aw_release(s);
}

/* ---- the rejection tracker (Node's lib/internal/process/promises.js) ---------------- */

/*
 * Rejection ids, Node's uid of each tracked rejection: the unhandled list
 * carries them beside its promises (unhandled_ids), and the promises reported
 * keep theirs in a small table (warned, not holding a reference: a promise
 * leaves it when it is handled or freed), for PromiseRejectionHandledWarning.
 */
static void unhandled_push(aw_loop *L, aw_promise *p, uint64_t id) {
  uint32_t cap = L->unhandled.cap;
  aw__pvec_push(&L->unhandled, p);
  if (L->unhandled.cap != cap)
    L->unhandled_ids =
        aw__realloc(L->unhandled_ids, cap * sizeof(uint64_t), L->unhandled.cap * sizeof(uint64_t));
  L->unhandled_ids[L->unhandled.len - 1] = id;
}

static void warned_add(aw_loop *L, aw_promise *p, uint64_t id) {
  if (L->nwarned == L->warned_cap) {
    uint32_t ncap = L->warned_cap ? L->warned_cap * 2 : 8;
    L->warned = aw__realloc(L->warned, L->warned_cap * sizeof *L->warned, ncap * sizeof *L->warned);
    L->warned_cap = ncap;
  }
  L->warned[L->nwarned++] = (struct aw__warned){p, id};
}

static uint64_t warned_take(aw_loop *L, const aw_promise *p) {
  for (uint32_t i = 0; i < L->nwarned; i++) {
    if (L->warned[i].p != p)
      continue;
    uint64_t id = L->warned[i].id;
    L->warned[i] = L->warned[--L->nwarned];
    return id;
  }
  return 0;
}

void aw__warned_forget(aw_loop *L, const aw_promise *p) { (void)warned_take(L, p); }

static void warned_free(aw_loop *L) {
  aw__free(L->warned, L->warned_cap * sizeof *L->warned);
  L->warned = NULL;
  L->nwarned = L->warned_cap = 0;
}

void aw__track_reject(aw_loop *L, aw_promise *p) {
  p->hdr.flags |= AW__PF_MAYBE;
  unhandled_push(L, aw_retain(p), ++L->rejection_ids);
}

void aw__track_handle(aw_loop *L, aw_promise *p) {
  if (!(p->hdr.flags & AW__PF_MAYBE))
    return;
  p->hdr.flags &= (uint16_t)~AW__PF_MAYBE;
  if (p->hdr.flags & AW__PF_WARNED)
    aw__pvec_push(&L->handled_later, aw_retain(p));
}

/*
 * What Node's throw mode raises for an unhandled rejection: the reason itself
 * if it is an error, else an UnhandledPromiseRejection error naming it the
 * way V8's NoSideEffectsToString does (lib/internal/process/promises.js).
 */
static aw_str *rejection_what(aw_val reason);

/* V8's NoSideEffectsToString of a reason, as a string value. */
static aw_val rejection_text(aw_val reason) { return aw_obj_val(rejection_what(reason)); }

static aw_val rejection_as_exception(aw_val reason) {
  if (aw_is_error(reason))
    return aw_retain_val(reason);
  aw_str *what = rejection_what(reason);
  aw_error *e = aw_error_new("UnhandledPromiseRejection",
                             "This error originated either by throwing inside of an async function "
                             "without a catch block, or by rejecting a promise which was not "
                             "handled with .catch(). The promise rejected with the reason \"%s\".",
                             what ? what->data : "");
  aw_release(what);
  return aw_obj_val(e);
}

static aw_str *rejection_what(aw_val reason) {
  char tmp[160];
  const char *what = NULL;
  aw_str *s = NULL;
  if (aw_is_obj(reason)) {
    switch (reason.u.o->type) {
    case AW_T_ARRAY:
      what = "[object Array]";
      break;
    case AW_T_BUFFER:
      what = "[object Uint8Array]";
      break;
    case AW_T_PROMISE:
      what = "#<Promise>";
      break;
    case AW_T_USER: {
      const aw_class *c = aw_object_class(reason.u.o);
      snprintf(tmp, sizeof tmp, "#<%s>", c && c->name ? c->name : "Object");
      what = tmp;
      break;
    }
    case AW_T_STRING:
      break;
    default:
      what = "#<Object>";
    }
  }
  if (!what)
    return s = aw_to_string(reason), s ? s : aw__str_lit("(a value too long to print)");
  return aw__str_lit(what);
}

static void report_unhandled(aw_loop *L, aw_promise *p, uint64_t id) {
  aw_val reason = p->u.result;
  warned_add(L, p, id);
  if (L->listeners[AW_EVENT_UNHANDLED_REJECTION].n) {
    listener_threw(L, emit(L, AW_EVENT_UNHANDLED_REJECTION, reason, aw_obj_val(p)));
    return;
  }
  switch (L->rejections) {
  case AW_REJECTIONS_THROW:
    raise_uncaught(L, rejection_as_exception(reason), "unhandledRejection",
                   "Uncaught (in promise)");
    return;
  case AW_REJECTIONS_WARN: {
    /* Node emits two: the reason (its stack; String() here), then what happened */
    aw_val what = aw_is_error(reason) ? aw_retain_val(reason) : rejection_text(reason);
    warn(L, "UnhandledPromiseRejectionWarning", what);
    warn(L, "UnhandledPromiseRejectionWarning",
         aw_obj_val(aw_strf(
             "Unhandled promise rejection. This error originated either by throwing inside of an "
             "async function without a catch block, or by rejecting a promise which was not "
             "handled with .catch(). To terminate the node process on unhandled promise "
             "rejection, use the CLI flag `--unhandled-rejections=strict` (see "
             "https://nodejs.org/api/cli.html#cli_unhandled_rejections_mode). (rejection id: "
             "%llu)",
             (unsigned long long)id)));
    return;
  }
  case AW_REJECTIONS_NONE:
    return;
  }
}

/* processPromiseRejections(): true if anything was reported. */
bool aw__process_rejections(aw_loop *L) {
  if (AW__LIKELY(L->handled_later.len == 0 && L->unhandled.len == 0))
    return false; /* the common case: nothing was rejected unhandled */
  bool did = L->handled_later.len > 0;
  while (L->handled_later.len) {
    aw__pvec hl = L->handled_later;
    L->handled_later = (aw__pvec){0};
    for (uint32_t i = 0; i < hl.len && !L->failed; i++) {
      aw_promise *p = hl.items[i];
      uint64_t id = warned_take(L, p);
      if (L->listeners[AW_EVENT_REJECTION_HANDLED].n)
        listener_threw(L, emit(L, AW_EVENT_REJECTION_HANDLED, aw_obj_val(p), aw_undefined()));
      else /* Node warns in every mode when no listener took it */
        warn(L, "PromiseRejectionHandledWarning",
             aw_obj_val(aw_strf("Promise rejection was handled asynchronously (rejection id: %llu)",
                                (unsigned long long)id)));
    }
    pvec_free(&hl);
  }
  aw__pvec un = L->unhandled;
  uint64_t *ids = L->unhandled_ids;
  L->unhandled = (aw__pvec){0};
  L->unhandled_ids = NULL;
  for (uint32_t i = 0; i < un.len; i++) {
    aw_promise *p = un.items[i];
    if (!(p->hdr.flags & AW__PF_MAYBE) || L->failed)
      continue;
    p->hdr.flags |= AW__PF_WARNED;
    report_unhandled(L, p, ids[i]);
    did = true;
  }
  aw__free(ids, un.cap * sizeof(uint64_t));
  pvec_free(&un);
  return did || L->unhandled.len > 0;
}

/* ---- microtasks and nextTick -------------------------------------------------------- */

static void job_task(aw_loop *L, void *fn, aw_val v) { ((aw_task_fn)fn)(L, v.u.p); }

static bool task_ok(aw_loop *L, aw_task_fn fn) { return L && fn && aw__on_owner(L) && !L->freeing; }

static int queue_task(aw_loop *L, aw__ring *ring, aw_task_fn fn, void *arg) {
  if (!L || !fn)
    return -EINVAL;
  if (!task_ok(L, fn))
    return -EPERM;
  aw__ring_push(ring, job_task, (void *)fn, aw_ptr(arg));
  return 0;
}

int aw_queue_microtask(aw_loop *L, aw_task_fn fn, void *arg) {
  return queue_task(L, L ? &L->micro : NULL, fn, arg);
}

int aw_next_tick(aw_loop *L, aw_task_fn fn, void *arg) {
  return queue_task(L, L ? &L->ticks : NULL, fn, arg);
}

/* A closure job: runs once, then lets its function go (aw__job_drop lets it go unrun). */
void aw__job_closure(aw_loop *L, void *ptr, aw_val v) {
  (void)v;
  aw__fn_task(L, ptr);
  aw_release((aw_fn *)ptr);
}

static int queue_fn(aw_loop *L, bool tick, aw_fn *fn) {
  if (!L || !fn || fn->hdr.type != AW_T_FUNCTION || !aw__on_owner(L) || L->freeing) {
    aw_release(fn);
    return !L || !fn || fn->hdr.type != AW_T_FUNCTION ? -EINVAL : -EPERM;
  }
  aw__ring_push(tick ? &L->ticks : &L->micro, aw__job_closure, fn, aw_undefined());
  return 0;
}

int aw_queue_microtask_fn(aw_loop *L, aw_fn *fn) { return queue_fn(L, false, fn); }
int aw_next_tick_fn(aw_loop *L, aw_fn *fn) { return queue_fn(L, true, fn); }

/* drain_cut stops the nextTick queue; it is never set while microtasks run (in_microtask). */
static void run_ring(aw_loop *L, aw__ring *r, bool microtasks) {
  uint64_t n = 0;
  L->in_microtask = microtasks;
  while (r->head != r->tail && !L->failed && !L->drain_cut) {
    const aw__job *e = &r->buf[r->head++ & r->mask];
    /* Field by field: the job was just written with 8-byte stores, and one
     * 16-byte load of them cannot be store-forwarded (a stall per job). */
    aw__job_fn fn = e->fn;
    void *ptr = e->ptr;
    aw_val v;
    v.u.i = e->v.u.i;
    v.tag = e->v.tag;
    v.pad_ = 0;
    fn(L, ptr, v);
    n++;
  }
  L->in_microtask = false;
  L->stats.microtasks += n;
}

static void drain(aw_loop *L) {
  L->drain_owed = false;
  do {
    do {
      run_ring(L, &L->ticks, false);
      if (L->drain_cut)
        break;
      run_ring(L, &L->micro, true);
    } while (!aw__ring_empty(&L->ticks) && !L->failed && !L->drain_cut);
  } while (!L->failed && !L->drain_cut && aw__process_rejections(L));
  if (L->drain_cut) {
    L->drain_cut = false;
    L->drain_owed = true;
  }
}

/*
 * The checkpoint after a callback (Node: the close of its callback scope, or
 * runNextTicks() before the next callback of processTimers/processImmediate).
 * An exception escaping the callback (drain_cut) skips it: Node's scope is
 * failed, and processTimers/processImmediate are left and called again, so
 * their next callback is a first one, with no drain before it. A nextTick
 * callback that throws ends the drain where it is. Either way what is left
 * is owed (drain_owed) to the next checkpoint that runs: after the next
 * callback, at the end of a phase whose last callback threw (aw__phase_end), or at the
 * start of the check phase (Node's RunAndClearNativeImmediates scope), which
 * the noop immediate of handled_uncaught() guarantees comes.
 */
void aw__checkpoint(aw_loop *L) {
  if (L->drain_cut) {
    L->drain_cut = false;
    L->drain_owed = true;
    return;
  }
  drain(L);
}

void aw__drain_microtasks(aw_loop *L) {
  if (!L->failed)
    run_ring(L, &L->micro, true);
}

/* The close of the phase's callback scope. After each callback but the last
 * its checkpoint stands for Node's runNextTicks() before the next one, after
 * the last for this close; so the close drains again only if the last
 * callback threw (its checkpoint was skipped). */
void aw__phase_end(aw_loop *L, bool last_threw) {
  if (last_threw && L->drain_owed && !L->failed)
    aw__checkpoint(L);
}

/* After the main script (before the loop's first iteration): its throw, if
 * any, does not skip the drain (Node runs the main module's ticks and
 * microtasks after it threw). */
static void main_checkpoint(aw_loop *L) {
  L->drain_cut = false;
  drain(L);
}

/* A macrotask: the callback, then the checkpoint. */
static inline void macrotask(aw_loop *L, aw_task_fn fn, void *arg) {
  fn(L, arg);
  L->stats.macrotasks++;
  aw__after_callback(L);
}
void aw__macrotask(aw_loop *L, aw_task_fn fn, void *arg) { macrotask(L, fn, arg); }

/* ---- immediates ----------------------------------------------------------------------- */

#define IMM_ID(idx, gen) (((uint64_t)(gen) << 32) | (idx))

aw_immediate aw_set_immediate(aw_loop *L, aw_task_fn fn, void *arg) {
  if (!task_ok(L, fn))
    return 0;
  aw__imms *q = &L->imms;
  uint32_t idx = q->free_head;
  if (idx) {
    q->free_head = q->slot[idx].next;
  } else {
    idx = aw__slot_grow((void **)&q->slot, &q->nslot, &q->cap, sizeof(aw__imm));
    q->slot[idx].gen = 1;
  }
  aw__imm *s = &q->slot[idx];
  s->next = 0;
  s->fn = fn;
  s->arg = arg;
  s->unref = false;
  q->refd++;
  if (q->tail)
    q->slot[q->tail].next = idx;
  else
    q->head = idx;
  q->tail = idx;
  q->count++;
  return IMM_ID(idx, s->gen);
}

/* aw_set_immediate_fn's task: aw__imms_run calls the function itself, with the id. */
static void imm_fn_task(aw_loop *L, void *arg) { aw__fn_task(L, arg); }

aw_immediate aw_set_immediate_fn(aw_loop *L, aw_fn *fn) {
  aw_immediate id = fn && fn->hdr.type == AW_T_FUNCTION ? aw_set_immediate(L, imm_fn_task, fn) : 0;
  if (!id)
    aw_release(fn);
  return id;
}

/* aw_loop_free: the functions of the immediates still queued go. */
void aw__imms_drop_fns(aw_loop *L) {
  aw__imms *q = &L->imms;
  for (uint32_t idx = q->head; idx; idx = q->slot[idx].next) {
    aw__imm *s = &q->slot[idx];
    if (s->fn == imm_fn_task) {
      s->fn = NULL;
      q->count--;
      q->refd -= !s->unref;
      aw_release((aw_fn *)s->arg); /* nothing queues an immediate now: the slots stay put */
    }
  }
}

static void imm_release(aw__imms *q, uint32_t idx) {
  q->slot[idx].gen++;
  q->slot[idx].next = q->free_head;
  q->free_head = idx;
}

void aw_clear_immediate(aw_loop *L, aw_immediate id) {
  if (!L || !aw__on_owner(L) || !id)
    return;
  aw__imms *q = &L->imms;
  uint32_t idx = (uint32_t)id, gen = (uint32_t)(id >> 32);
  if (idx == 0 || idx >= q->nslot || q->slot[idx].gen != gen || !q->slot[idx].fn)
    return;
  aw_fn *fn = q->slot[idx].fn == imm_fn_task ? q->slot[idx].arg : NULL;
  q->slot[idx].fn = NULL; /* unlinked when the check phase reaches it */
  q->slot[idx].gen++;     /* the id is dead now */
  q->count--;
  q->refd -= !q->slot[idx].unref;
  aw_release(fn);
}

/* The queued, not cleared immediate an id names, or NULL. */
static aw__imm *imm_lookup(aw_loop *L, aw_immediate id) {
  if (!L || !aw__on_owner(L) || !id)
    return NULL;
  aw__imms *q = &L->imms;
  uint32_t idx = (uint32_t)id, gen = (uint32_t)(id >> 32);
  if (idx == 0 || idx >= q->nslot || q->slot[idx].gen != gen || !q->slot[idx].fn)
    return NULL;
  return &q->slot[idx];
}

void aw_immediate_unref(aw_loop *L, aw_immediate id) {
  aw__imm *s = imm_lookup(L, id);
  if (s && !s->unref) {
    s->unref = true;
    L->imms.refd--;
  }
}

void aw_immediate_ref(aw_loop *L, aw_immediate id) {
  aw__imm *s = imm_lookup(L, id);
  if (s && s->unref) {
    s->unref = false;
    L->imms.refd++;
  }
}

bool aw_immediate_has_ref(aw_loop *L, aw_immediate id) {
  aw__imm *s = imm_lookup(L, id);
  return s && !s->unref;
}

/*
 * processImmediate(): the queue as it was when the phase began. When the last
 * callback throws, Node's CheckImmediate calls processImmediate again at once
 * (its outstanding flag is still set), and that call takes the immediates
 * queued since, which so run in this phase (the noop immediate of
 * handled_uncaught() is among them).
 */
void aw__imms_run(aw_loop *L) {
  aw__imms *q = &L->imms;
  bool threw = false;
  if (AW__UNLIKELY(L->drain_owed) && !L->failed)
    aw__checkpoint(L); /* Node's native-immediates scope, before processImmediate */
  do {
    uint32_t idx = q->head;
    q->head = q->tail = 0;
    threw = false;
    while (idx) {
      aw__imm *s = &q->slot[idx];
      uint32_t next = s->next;
      aw_task_fn fn = s->fn;
      void *arg = s->arg;
      if (fn) {
        aw_immediate id = IMM_ID(idx, s->gen);
        q->count--;
        q->refd -= !s->unref;
        s->fn = NULL;
        imm_release(q, idx);
        bool run = !L->failed;
        if (run && fn == imm_fn_task) /* its id as the argument: Node's `this` */
          aw__fn_task_done(L, aw__fn_invoke(L, arg, aw_int((int64_t)id)));
        else if (run)
          fn(L, arg);
        if (fn == imm_fn_task)
          aw_release((aw_fn *)arg); /* an immediate's function goes once it ran (or never will) */
        if (run) {
          L->stats.macrotasks++;
          threw = L->drain_cut;
          aw__after_callback(L);
        }
      } else {
        imm_release(q, idx); /* cleared while queued */
      }
      idx = next;
    }
  } while (AW__UNLIKELY(threw) && q->head && !L->failed);
  aw__phase_end(L, threw);
}

void aw__imms_free(aw__imms *q) {
  aw__free(q->slot, q->cap * sizeof(aw__imm));
  *q = (aw__imms){0};
}

/* ---- close callbacks ------------------------------------------------------------------ */

void aw__loop_queue_close(aw_loop *L, aw_task_fn fn, void *arg) {
  if (L->nclosing == L->closing_cap) {
    uint32_t ncap = L->closing_cap ? L->closing_cap * 2 : 16;
    L->closing =
        aw__realloc(L->closing, L->closing_cap * sizeof(aw__task), ncap * sizeof(aw__task));
    L->closing_cap = ncap;
  }
  L->closing[L->nclosing++] = (aw__task){fn, arg};
}

static void run_closing(aw_loop *L) {
  if (!L->nclosing)
    return;
  uint32_t i = 0;
  while (i < L->nclosing && !L->failed) {
    aw__task t = L->closing[i++];
    macrotask(L, t.fn, t.arg);
  }
  if (i && i < L->nclosing)
    memmove(L->closing, L->closing + i, (L->nclosing - i) * sizeof(aw__task));
  L->nclosing -= i;
}

/* ---- the inbox -------------------------------------------------------------------------- */

/* Pool completions: never refused while the loop's jobs run (aw_loop_free waits for them). */
int aw__loop_post_internal(aw_loop *L, aw_task_fn fn, void *arg) {
  if (aw__on_owner(L)) /* L is alive here: its jobs are not over (see aw_loop_free) */
    return aw__inbox_push_local(&L->inbox, fn, arg);
  int r = aw__inbox_push(&L->inbox, fn, arg, true);
  return r == AW__INBOX_OWN ? aw__inbox_push_local(&L->inbox, fn, arg) : r;
}

/*
 * L may be gone: nothing here reads it before aw__inbox_push has made sure it
 * is open (executor/inbox.h), except on L's own thread, which is where it is
 * freed, so there it is alive.
 */
int aw_loop_post(aw_loop *L, aw_task_fn fn, void *arg) {
  if (!L || !fn)
    return -EINVAL;
  int r = aw__tls_loop == L ? AW__INBOX_OWN : aw__inbox_push(&L->inbox, fn, arg, false);
  if (AW__LIKELY(r != AW__INBOX_OWN))
    return r;
  if (L->freeing)
    return -ESHUTDOWN;
  return aw__inbox_push_local(&L->inbox, fn, arg);
}

int aw_loop_post_fn(aw_loop *L, aw_fn *fn) {
  if (!fn || fn->hdr.type != AW_T_FUNCTION) {
    aw_release(fn);
    return -EINVAL;
  }
  int r = aw_loop_post(L, post_fn_task, fn);
  if (r < 0)
    aw_release(fn); /* refused: the function is still this thread's */
  return r;
}

/* Runs what other threads sent, each a macrotask (a bounded number per phase). */
#define AW__INBOX_BATCH 4096u
static uint32_t run_inbox(aw_loop *L) {
  uint32_t n = 0;
  while (n < AW__INBOX_BATCH && !L->failed && !L->freeing) {
    const aw__inbox_task *t;
    uint32_t k = aw__inbox_peek(&L->inbox, &t);
    if (!k)
      break;
    if (k > AW__INBOX_BATCH - n)
      k = AW__INBOX_BATCH - n;
    uint32_t i = 0;
    while (i < k) {
      macrotask(L, t[i].fn, t[i].arg);
      i++;
      if (AW__UNLIKELY(L->failed || L->freeing))
        break;
    }
    aw__inbox_consume(&L->inbox, i);
    n += i;
  }
  if (n) {
    L->last_inbox_iter = L->stats.iterations;
    work_flush(L); /* what those completions started goes out now */
  }
  return n;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/*
 * Spin-then-sleep: waking a sleeping thread on another CPU of a VM costs tens
 * of microseconds (an IPI and a VM exit), more than most jobs take. So when
 * work from other threads is expected (jobs in the pool, or something in the
 * inbox in the last two iterations), the loop watches its inbox for up to
 * 50 us (less if a timer is due sooner) before it sleeps. Returns true if
 * something came.
 */
#define AW__SPIN_NS 50000u
#define AW__INBOX_RECENT_ITERATIONS 2u

bool aw__loop_spin(aw_loop *L, int timeout_ms) {
  if (L->jobs_pending == 0 &&
      L->stats.iterations - L->last_inbox_iter > AW__INBOX_RECENT_ITERATIONS)
    return false;
  uint64_t now = mono_ns();
  uint64_t budget = AW__SPIN_NS;
  if (timeout_ms >= 0 && (uint64_t)timeout_ms * 1000000u < budget)
    budget = (uint64_t)timeout_ms * 1000000u;
  uint64_t until = now + budget;
  for (unsigned n = 0;; n++) {
    if (aw__inbox_ready(&L->inbox))
      return true;
    cpu_relax();
    if ((n & 63) == 63 && mono_ns() > until)
      return false;
  }
}

/* ---- keep-alive and iteration ----------------------------------------------------------- */

void aw_loop_ref(aw_loop *L) {
  if (L && aw__on_owner(L))
    L->refs++;
}
void aw_loop_unref(aw_loop *L) {
  if (L && aw__on_owner(L) && L->refs > 0)
    L->refs--;
}

static bool alive(aw_loop *L) {
  return L->refs > 0 || L->timers.refd > 0 || L->imms.refd > 0 || L->nclosing > 0 ||
         (L->backend && L->backend->alive(L)) || L->jobs_pending > 0 || aw__inbox_ready(&L->inbox);
}

/* How long the I/O phase may block: 0 if anything is runnable, -1 for ever. */
static int poll_timeout(aw_loop *L) {
  if (L->stop || L->imms.refd > 0 || L->nclosing > 0 || !alive(L))
    return 0;
  int64_t t = aw__timers_timeout(L);
  if (t > INT32_MAX)
    t = INT32_MAX;
  return (int)t;
}

static void io_wait(aw_loop *L, int timeout) {
  work_flush(L);
  if (timeout != 0 && aw__loop_spin(L, timeout))
    timeout = 0;
  if (L->backend) {
    L->backend->poll(L, timeout);
    run_inbox(L);
    return;
  }
  if (timeout != 0) {
    if (!aw__inbox_sleep(&L->inbox)) {
      struct pollfd pfd = {L->wake_fd, POLLIN, 0};
      int r = poll(&pfd, 1, timeout);
      L->stats.wakeups++;
      if (r > 0) {
        uint64_t v;
        ssize_t rd = read(L->wake_fd, &v, sizeof v);
        (void)rd;
      }
    }
    aw__inbox_awake(&L->inbox);
  }
  run_inbox(L);
}

/*
 * A loop made before fork(), in the child. With a backend it cannot go on: the
 * ring (or epoll set) is the parent's, and so are the ops in it, so it only
 * frees. Without one, it carries on with an eventfd of its own (the
 * inherited one is shared with the parent, which would steal its wake-ups).
 */
static int fork_check(aw_loop *L) {
  if (AW__LIKELY(!aw__inbox_forked(&L->inbox)))
    return 0;
  if (L->backend)
    return AW_EFORKED;
  int fd = aw__fd_above_stdio(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (fd < 0)
    return -errno;
  close(L->wake_fd); /* the child's copy: the parent's stays open */
  L->wake_fd = fd;
  aw__inbox_adopt_forked(&L->inbox, fd);
  return 0;
}

static int check_caller(aw_loop *L) {
  if (!L)
    return -EINVAL;
  if (!aw__on_owner(L))
    return -EPERM;
  int f = fork_check(L);
  if (f)
    return f;
  if (L->running || L->freeing)
    return -EBUSY;
  return 0;
}

static void iterate(aw_loop *L, bool wait) {
  L->stats.iterations++;
  if (L->timers.heap_len)
    aw__hrtime_ms(L); /* only timers read the cached time; new timers read the clock */
  aw__timers_run(L);
  if (L->failed)
    return;
  io_wait(L, wait ? poll_timeout(L) : 0);
  if (L->failed)
    return;
  aw__imms_run(L);
  if (L->failed)
    return;
  run_closing(L);
}

static int finish_run(aw_loop *L, aw_loop *saved, int r) {
  if (L->embed_vt)
    L->embed_vt->end(L); /* aw_loop_fd says what is left */
  L->running = false;
  aw__tls_loop = saved;
  return r;
}

int aw_loop_run(aw_loop *L) {
  int r = check_caller(L);
  if (r)
    return r;
  aw_loop *saved = aw__tls_loop;
  aw__tls_loop = L;
  L->running = true;
  L->stop = false;
  if (L->embed_vt)
    L->embed_vt->begin(L);
  if (!L->failed)
    main_checkpoint(L);
  while (!L->failed && !L->stop && alive(L)) {
    if (AW__UNLIKELY(aw__inbox_forked(&L->inbox)) && (r = fork_check(L)) != 0)
      return finish_run(L, saved, r); /* fork()ed from one of its callbacks */
    iterate(L, true);
  }
  if (L->failed || !(L->stop && alive(L)))
    emit_exit(L); /* nothing left, or an uncaught exception: 'exit', once */
  if (L->failed)
    return finish_run(L, saved, AW_EUNCAUGHT);
  r = L->stop && alive(L) ? 1 : 0;
  L->stop = false;
  return finish_run(L, saved, r);
}

int aw_loop_run_once(aw_loop *L, bool wait) {
  int r = check_caller(L);
  if (r)
    return r;
  aw_loop *saved = aw__tls_loop;
  aw__tls_loop = L;
  L->running = true;
  if (L->embed_vt)
    L->embed_vt->begin(L);
  if (!L->failed)
    main_checkpoint(L);
  if (!L->failed)
    iterate(L, wait);
  if (wait && !L->failed) {
    /* As libuv's UV_RUN_ONCE: a call that slept for a timer runs it. */
    aw__hrtime_ms(L);
    aw__timers_run(L);
  }
  L->stop = false;
  if (L->failed)
    return finish_run(L, saved, AW_EUNCAUGHT);
  return finish_run(L, saved, alive(L) ? 1 : 0);
}

void aw_loop_stop(aw_loop *L) {
  if (L && aw__on_owner(L))
    L->stop = true;
}

void aw_loop_stats_get(const aw_loop *L, aw_loop_stats *out) {
  if (!L || !out)
    return;
  *out = L->stats;
  out->promises = L->promises;
  out->frames = L->frames;
  out->timers = L->timers.active;
  out->immediates = L->imms.count;
  out->wake_signals =
      atomic_load_explicit(&((aw_loop *)L)->inbox.wake_signals, memory_order_relaxed);
}

int aw__fd_above_stdio(int fd) {
  if (fd < 0 || fd > 2)
    return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int e = errno;
  close(fd);
  errno = e;
  return moved;
}
