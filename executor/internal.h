/*
 * executor/internal.h — what the executor's files share. Not installed.
 *
 * Memory layout of the hot objects (sizes on LP64):
 *
 *   aw_promise        32  header, loop, result or the reaction list
 *   then-promise      64  a promise and the reaction that will settle it,
 *                         allocated together by aw_promise_then
 *   aw__then_r        32  an internal reaction: two handlers and an object arg
 *   aw_frame          80  the header of an async function's frame; its first
 *                         word is the reaction node used when it awaits
 *   aw__job           32  a microtask job, stored by value in a ring
 *   aw__spawn_r       32  the catch of a task from aw_async_spawn
 *
 * A pending promise keeps its reactions in a singly linked FIFO list of
 * aw__rlink nodes. The low three bits of a node's link word hold the node's
 * own kind (all nodes are 8-aligned), so one list holds every kind and a
 * reaction costs no separate kind field.
 */
#ifndef AW_EXECUTOR_INTERNAL_H
#define AW_EXECUTOR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "aw.h"
#include "executor/fault.h"
#include "executor/inbox.h"

/*
 * Errors the library makes record no file:line of the library (the meson
 * build defines AW__LIBRARY for the library's own files only): the async
 * stack starts at the user's await. See executor/error.c.
 */
#if defined(AW__LIBRARY) && AW__LIBRARY
#undef aw_error_new
#undef aw_error_errno
#define aw_error_new(name, ...) aw__error_new(NULL, 0, (name), __VA_ARGS__)
#define aw_error_errno(code, op, path) aw__error_errno(NULL, 0, (code), (op), (path))
#endif

#define AW__LIKELY(x) __builtin_expect(!!(x), 1)
#define AW__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define AW__CONTAINER(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- allocation ----------------------------------------------------------- */

/* The library's allocator (jemalloc mallocx/sdallocx, or libc). Aborts on OOM. */
void *aw__alloc(size_t size);
void *aw__calloc(size_t size);
void *aw__realloc(void *p, size_t old_size, size_t new_size);
void aw__free(void *p, size_t size);
/* For values that may fail softly (buffers): NULL on failure. */
void *aw__try_alloc(size_t size);
_Noreturn void aw__oom(size_t size);

/*
 * An object's block is about to go back to its pool or the allocator: debug
 * builds poison its header (see "Freed objects" in val.c) so a later release
 * or retain of it aborts with where it was freed. Call it after the last read
 * of the header.
 */
#ifdef NDEBUG
static inline void aw__obj_poison(aw_obj *o) { (void)o; }
#else
void aw__obj_poison(aw_obj *o);
#endif
/*
 * Frees an object's own block (not a pool block): poisons it, and in debug
 * builds keeps it a while in the thread's quarantine (see val.c).
 */
void aw__obj_block_free(aw_obj *o, size_t size);
/* Reports a use (what: "aw_release", "use"...) of a freed object, with what the header knows. */
_Noreturn void aw__freed_abort(const char *what, const aw_obj *o, const char *file, int line);
/* A string of the library's own (a message, a name): aborts if memory runs out. */
aw_str *aw__str_lit(const char *cstr);

/*
 * Objects alive, counted per thread without atomic read-modify-writes: each
 * thread adds to its own counter with relaxed loads and stores (plain moves),
 * registered once in a global list so aw_objects_alive() can sum them. An
 * object made on a pool thread and freed on the loop moves one count between
 * two counters; the sum stays right.
 */
typedef struct aw__counter {
  _Atomic int64_t n;
  struct aw__counter *prev, *next;
  bool registered;
} aw__counter;
extern _Thread_local aw__counter aw__tls_count;
void aw__counter_register(void);
static inline void aw__objects_add(int64_t d) {
  if (AW__UNLIKELY(!aw__tls_count.registered))
    aw__counter_register();
  int64_t v = atomic_load_explicit(&aw__tls_count.n, memory_order_relaxed);
  atomic_store_explicit(&aw__tls_count.n, v + d, memory_order_relaxed);
}

/*
 * Per-loop pools for the hot small objects (promises, reactions, frames,
 * combinator states): free lists in 16-byte size classes up to AW__POOL_MAX
 * bytes, refilled by bumping through 2 MiB chunks. The chunks come from the
 * allocator 2 MiB-aligned and are advised MADV_HUGEPAGE, so a million
 * promises cost a few hundred page faults rather than tens of thousands (on
 * the VMs this was measured on, faults were most of the time of the promise
 * benchmarks). Freed blocks return to their class's free list; the chunks go
 * back to the allocator when the loop is freed, so a loop keeps its peak until
 * then. Larger blocks go straight to the allocator. With -Dpools=false
 * (sanitizer builds) every block does, so ASan sees every use after free.
 */
#define AW__POOL_MAX 512
#define AW__ROUND16(n) (((n) + 15) & ~(size_t)15)
#define AW__POOL_CLASSES (AW__POOL_MAX / 16)
#define AW__CHUNK ((size_t)2 << 20)

typedef struct aw__pool {
  void *head[AW__POOL_CLASSES + 1];
  char *bump, *bump_end;
  void *chunks; /* singly linked through each chunk's first word */
  uint64_t nchunks;
} aw__pool;

/*
 * Buffers whose bytes the library does not own with aw__alloc (a provided
 * buffer ring's, io/bufring.c): the aw_buf has AW__BUF_EXTERNAL in its flags,
 * and freeing it (or growing it, which copies) gives the bytes back with the
 * release function given to aw__buf_external, on whatever thread releases it.
 * The executor keeps that function in one word, not in every aw_buf (whose
 * layout is public), so there is one owner of external bytes per process (the
 * buffer ring); a function pointer, so that executor/ calls nothing of io/.
 */
#define AW__BUF_EXTERNAL 1u
typedef void (*aw__buf_release_fn)(uint8_t *data);
aw_buf *aw__buf_external(uint8_t *data, size_t len, size_t cap, aw__buf_release_fn release);

/* Advises MADV_HUGEPAGE on the 2 MiB-aligned interior of [p, p + size). */
void aw__advise_huge(void *p, size_t size);

/*
 * User-sized memory (strings, arrays, combinator states): NULL on failure, and
 * big blocks get huge pages as aw__alloc gives them (a million-input all()
 * faults its 32 MiB state in otherwise, which doubled promise_fanout).
 */
static inline void *aw__try_alloc_user(size_t size) {
  void *p = aw__try_alloc(size);
  if (p && AW__UNLIKELY(size >= 4 * AW__CHUNK))
    aw__advise_huge(p, size);
  return p;
}

/* ---- jobs ----------------------------------------------------------------- */

typedef void (*aw__job_fn)(aw_loop *L, void *ptr, aw_val v);
typedef struct aw__job {
  aw__job_fn fn;
  void *ptr;
  aw_val v;
} aw__job;

/* A FIFO ring of jobs; head and tail run freely and wrap (mask = cap - 1). */
typedef struct aw__ring {
  aw__job *buf;
  uint32_t head, tail, mask;
} aw__ring;

__attribute__((noinline, cold)) void aw__ring_grow(aw__ring *r);
void aw__ring_free(aw__ring *r);

static inline void aw__ring_push(aw__ring *r, aw__job_fn fn, void *ptr, aw_val v) {
  if (AW__UNLIKELY(r->tail - r->head > r->mask))
    aw__ring_grow(r);
  aw__job *j = &r->buf[r->tail++ & r->mask];
  j->fn = fn;
  j->ptr = ptr;
  j->v = v;
}
static inline bool aw__ring_empty(const aw__ring *r) { return r->head == r->tail; }

/* ---- reactions ------------------------------------------------------------ */

enum {
  AW__R_THEN = 1,    /* aw__then_r, standalone; arg is an object it owns */
  AW__R_DERIVED = 2, /* aw__then_r inside a then-promise; settles it */
  AW__R_FRAME = 3,   /* an async frame awaiting */
  AW__R_ELEM = 4,    /* a combinator element inside its state block */
  AW__R_SPAWN = 5    /* a detached task's catch (aw__spawn_r, async.c) */
};

typedef struct aw__rlink {
  uintptr_t link; /* next node | own kind */
} aw__rlink;

static inline unsigned aw__r_kind(const aw__rlink *r) { return (unsigned)(r->link & 7u); }
static inline aw__rlink *aw__r_next(const aw__rlink *r) {
  return (aw__rlink *)(r->link & ~(uintptr_t)7);
}

typedef struct aw__then_r {
  aw__rlink link;
  aw_then_fn on_fulfilled, on_rejected;
  void *arg;
} aw__then_r;

/* The catch of a task started by aw_async_spawn: on_error, its arg. 32 bytes, from the pool. */
typedef struct aw__spawn_r {
  aw__rlink link;
  aw_spawn_error_fn on_error;
  void *arg;
  void *pad_;
} aw__spawn_r;
/* Runs a spawned task's catch for outcome v (consumed) and frees the node. */
void aw__spawn_run(aw_loop *L, aw__spawn_r *s, aw_val v);

/* ---- promises ------------------------------------------------------------- */

enum {
  AW__PF_RESOLVED = 1 << 0, /* the promise's own resolve/reject were used */
  AW__PF_HANDLED = 1 << 1,  /* [[PromiseIsHandled]] */
  AW__PF_MAYBE = 1 << 2,    /* rejected without handler, not handled since */
  AW__PF_WARNED = 1 << 3,   /* reported as unhandled */
  AW__PF_THEN = 1 << 4,     /* a then-promise (64-byte block) */
  AW__PF_COMBI = 1 << 5,    /* lives inside a combinator state block */
  AW__PF_INTERNAL = 1 << 6, /* settled by the library only */
  AW__PF_OWNS_ARG = 1 << 7, /* a then-promise whose reaction's arg is an object it owns */
  AW__PF_LISTED = 1 << 8    /* in the loop's set of cycle seeds (teardown.c) */
};

struct aw_promise {
  aw_obj hdr; /* bits: enum aw_state */
  aw_loop *loop;
  union {
    aw_val result;
    struct {
      aw__rlink *head, *tail;
    } q;
  } u;
};

typedef struct aw__tpromise {
  aw_promise p;
  aw__then_r r;
} aw__tpromise;

struct aw_resolver {
  aw_obj hdr; /* bits: already resolved */
  uint32_t pad_;
  aw_promise *promise;
};

aw_promise *aw__promise_alloc(aw_loop *L);
/* Runs the resolution procedure; v consumed (thrown: reject). */
void aw__promise_settle_with(aw_promise *p, aw_val v);
void aw__promise_resolve_value(aw_promise *p, aw_val v);
void aw__promise_reject_value(aw_promise *p, aw_val reason);
/* PerformPromiseThen with a reaction node (sets the handled flag). */
void aw__promise_add_reaction(aw_promise *p, aw__rlink *r, unsigned kind);
/* The reason of every timeout: AbortSignal.timeout's TimeoutError, in Node's words. */
aw_val aw__timeout_error(void);
/* For a settled p: what a reaction job would receive now, with then's bookkeeping. */
aw_val aw__promise_take_settled(aw_promise *p);
/* An internal then with an owned object arg (released after it runs). */
void aw__promise_then_internal(aw_promise *p, aw_then_fn onf, aw_then_fn onr, aw_obj *arg);
void aw__promise_free(aw_promise *p);
/* Drops a detached reaction list (the nodes and what they hold), without running it. */
void aw__reactions_drop(aw_loop *L, aw__rlink *head);
/* The value a finally's box object holds, or NULL if o is not one (for aw__loop_teardown). */
aw_val *aw__box_slot(aw_obj *o);
/*
 * aw_loop_free, last step: releases what the promises of L that nothing outside
 * holds hold themselves (results, reactions), which frees every cycle among them.
 */
void aw__loop_teardown(aw_loop *L);

/*
 * The cycle seeds (teardown.c): the promises that took a reference that can
 * lead back to them, the only places a cycle can close. Listed when they do,
 * unlisted when freed; a set of pointers (open addressing), so a promise costs
 * no memory for it.
 */
typedef struct aw__pset {
  aw_promise **slot; /* NULL empty, AW__PSET_GONE removed */
  uint32_t cap, len, gone;
} aw__pset;
#define AW__PSET_GONE ((aw_promise *)1)
void aw__pset_add_slow(aw_promise *p);
void aw__pset_remove(aw_promise *p);
void aw__pset_free(aw__pset *s);
static inline void aw__pset_add(aw_promise *p) {
  if (!(p->hdr.flags & AW__PF_LISTED))
    aw__pset_add_slow(p);
}
/*
 * Whether a value can lead back to a promise through references the teardown
 * follows: a promise or resolver, or an array, error or box holding one, at
 * any depth (past 8 levels or 4096 values: yes). Strings, buffers and user
 * objects cannot (a user object's references are opaque). What the value
 * holds is looked at once, when a promise or a combinator's slot takes it.
 */
bool aw__val_may_cycle_slow(aw_val v);
static inline bool aw__val_may_cycle(aw_val v) {
  if (!aw_is_obj(v))
    return false;
  uint8_t t = v.u.o->type;
  if (t == AW_T_STRING || t == AW_T_BUFFER)
    return false;
  return aw__val_may_cycle_slow(v);
}
/* Promise.resolve(v) for this loop: a native promise of L as is, else a new one. */
aw_promise *aw__promise_coerce(aw_loop *L, aw_val v);
/* The resolving functions of an internal promise, with "already resolved". */
void aw__resolve_once(aw_promise *p, aw_val v);
void aw__reject_once(aw_promise *p, aw_val reason);
void aw__queue_frame_job(aw_loop *L, aw_frame *f, aw_val v);
/* Queues ResolveThenableJob(p, thenable); takes a reference to p and thenable. */
void aw__queue_rtj(aw_loop *L, aw_promise *p, aw_val thenable);
void aw__job_drop(aw_loop *L, aw__job *j);
bool aw__is_thenable(aw_val v);
bool aw__promise_usable(const aw_promise *p);

/* ---- functions (fn.c) ------------------------------------------------------ */

struct aw_fn {
  aw_obj hdr;
  uint32_t ncap;
  aw_fn_code code;
  aw_val cap[];
};

aw_resolver *aw__resolver_new(aw_promise *p); /* takes the reference to p */
/* A then whose arg is an object the derived promise owns (a closure, a finally's box). */
aw_promise *aw__promise_then_owned(aw_promise *p, aw_then_fn onf, aw_then_fn onr, aw_obj *arg);
/* Calls f's code with a (borrowed) and undefined; the result is yours. */
static inline aw_val aw__fn_invoke(aw_loop *L, aw_fn *f, aw_val a) {
  return f->code(L, a, aw_undefined(), f->cap);
}
/* A loop callback's closure ran: what it returned, a throw reported as uncaught. */
void aw__fn_task_done(aw_loop *L, aw_val ret);
/* The task function of the loop's closure callbacks (arg: the aw_fn); does not release it. */
void aw__fn_task(aw_loop *L, void *arg);
void aw__fn_free(aw_fn *f);
/* The ring job of aw_queue_microtask_fn/aw_next_tick_fn (ptr: the aw_fn). */
void aw__job_closure(aw_loop *L, void *ptr, aw_val v);
/* The function of a thenable made by aw_thenable_new, or NULL (for the teardown). */
aw_fn *aw__thenable_fn(aw_obj *o);

/* ---- combinators ---------------------------------------------------------- */

/* A combinator element: its state block is found from its index (see combinators.c). */
typedef struct aw__elem_r {
  aw__rlink link;
  uint32_t index;
  uint32_t pad_;
} aw__elem_r;

size_t aw__combi_size(const aw_promise *p);
void aw__promise_init_combi(aw_promise *p, aw_loop *L);
void aw__combi_elem_run(aw_loop *L, aw__elem_r *e, aw_val v);
void aw__combi_elem_drop(aw__elem_r *e);
/* For aw__loop_teardown: the combinator whose state an element is part of; the state's count
 * of outstanding elements (it holds the promise and the slots while non-zero); its slots. */
aw_promise *aw__combi_of_elem(aw__elem_r *e);
uint32_t aw__combi_refs(const aw_promise *p);
aw_val *aw__combi_slots(aw_promise *p, uint32_t *n);

/* ---- async frames --------------------------------------------------------- */

void aw__frame_resume(aw_loop *L, aw_frame *f, aw_val v);
void aw__frame_drop(aw_frame *f);
void aw__frames_zombify(aw_loop *L);
/* A rejection v reached frame f (its await): an error made outside every frame takes f's stack. */
void aw__error_reached(aw_val v, aw_frame *f);

/* ---- timers --------------------------------------------------------------- */

typedef struct aw__timer {
  uint32_t next, prev; /* links in its duration list (slot numbers; 0 = none) */
  uint32_t gen;        /* id generation */
  uint32_t list;       /* its list (slot number) or 0 */
  uint64_t start;      /* when it was (re)inserted, loop ms */
  aw_task_fn fn;
  void *arg;
  uint32_t repeat; /* interval ms, or 0 */
  uint32_t flags;
} aw__timer;

typedef struct aw__tlist {
  uint32_t head, tail;
  uint32_t msecs;
  uint32_t heap_pos; /* 0: not in the heap */
  uint64_t expiry;
  uint64_t id;
} aw__tlist;

typedef struct aw__timers {
  aw__timer *slot; /* slot 0 unused */
  uint32_t nslot, cap, free_head;
  aw__tlist *list; /* list 0 unused */
  uint32_t nlist, list_cap, list_free;
  uint32_t *heap; /* list numbers, 1-based */
  uint32_t heap_len, heap_cap;
  uint32_t *map_key, *map_val; /* msecs -> list, open addressing */
  uint32_t map_cap, map_len;
  uint32_t running; /* list being run, or 0 */
  uint64_t next_id;
  uint64_t active, refd;
} aw__timers;

void aw__timers_init(aw__timers *t);
void aw__timers_free(aw__timers *t);
void aw__timers_run(aw_loop *L);
/* Milliseconds until the next timer is due: -1 if none, 0 if due now. */
int64_t aw__timers_timeout(aw_loop *L);
/* A timeout holding a reference to arg, released if the loop is freed first (fn takes it over). */
aw_timer aw__set_timeout_owned(aw_loop *L, int64_t ms, aw_task_fn fn, aw_obj *arg);
/* aw_loop_free: releases what the pending owned timers hold. */
void aw__timers_drop_owned(aw_loop *L);

/* ---- immediates ----------------------------------------------------------- */

typedef struct aw__imm {
  uint32_t next;
  uint32_t gen;
  aw_task_fn fn; /* NULL once cleared */
  void *arg;
  bool unref; /* does not keep the loop alive (aw_immediate_unref) */
} aw__imm;

typedef struct aw__imms {
  aw__imm *slot;
  uint32_t nslot, cap, free_head;
  uint32_t head, tail; /* the queue */
  uint64_t count;      /* queued and not cleared */
  uint64_t refd;       /* of those, the ref'd ones: they keep the loop alive */
} aw__imms;

void aw__imms_free(aw__imms *q);
void aw__imms_run(aw_loop *L);
void aw__imms_drop_fns(aw_loop *L);

/* ---- the loop -------------------------------------------------------------- */

typedef struct aw__task {
  aw_task_fn fn;
  void *arg;
} aw__task;

#define AW__EVENTS 5

typedef struct aw__pvec {
  aw_promise **items;
  uint32_t len, cap;
} aw__pvec;

struct aw__backend_vt;              /* executor/backend.h */
struct aw__io;                      /* the backend's state: opaque here (io/) */
typedef struct aw__embed aw__embed; /* io/embed.c: aw_loop_fd's state, opaque here */

/*
 * Hooks io/embed.c installs with the first aw_loop_fd: around each turn of an
 * embedded loop (end says what aw_loop_timeout reports), and at aw_loop_free.
 * A pointer, not calls, so that the executor does not depend on io/.
 */
typedef struct aw__embed_vt {
  void (*begin)(aw_loop *L);
  int (*end)(aw_loop *L);
  void (*free)(aw_loop *L);
} aw__embed_vt;

/*
 * What the loop calls of the worker pool (workers/pool.c). The pool installs
 * it in L->work_vt when the loop first gets its part of the pool; until then
 * it is NULL, and a loop that never used the pool pays one test per turn.
 */
typedef struct aw__work_vt {
  /* Hands the jobs made this turn to the pool (before the I/O phase, after the inbox ran). */
  void (*flush)(aw_loop *L);
  /* aw_loop_free: removes the loop's waiting jobs, cancels its running ones and waits until
   * their completions are in its inbox. */
  void (*loop_free)(aw_loop *L);
  /* aw_loop_free, once the inbox was drained: frees the loop's part (clears work_vt). */
  void (*loop_destroy)(aw_loop *L);
  /* The inbox task of a job's completion: a loop being freed still runs it (it frees the job
   * and calls its arg_free, on the loop's thread); every other post is dropped. */
  aw_task_fn job_done;
} aw__work_vt;

struct aw_loop {
  /* hot: microtask machinery */
  aw__ring micro;
  aw__ring ticks;
  aw_frame *cur_frame;  /* the async function running, for async stacks */
  aw_frame *job_frame;  /* the frame resumed by the microtask job running */
  aw_frame *frame_list; /* every live frame, for aw_loop_free */
  bool await_shortcut;
  aw__pool pool;
  uint64_t promises, frames, live; /* live = promises + frames (keeps L) */
  aw__pset seeds;                  /* the promises a cycle can close through (teardown.c) */

  aw__timers timers;
  aw__imms imms;
  aw__task *closing;
  uint32_t nclosing, closing_cap;

  /* rejection tracking */
  aw__pvec unhandled;
  aw__pvec handled_later;
  enum aw_rejection_mode rejections;
  /* process.on(...): the listeners of each event, in registration order (aw_loop_on) */
  struct aw__listeners {
    aw_fn **fns;
    uint32_t n, cap;
  } listeners[AW__EVENTS];
  aw_fn *c_hook[3];        /* the listener each old one-hook setter added
                              (aw_loop_on_uncaught_exception...) */
  uint64_t rejection_ids;  /* Node's lastPromiseId: every rejection tracked counts */
  uint64_t *unhandled_ids; /* beside unhandled.items */
  struct aw__warned {
    const aw_promise *p; /* not a reference: aw__warned_forget when it is freed */
    uint64_t id;
  } * warned;
  uint32_t nwarned, warned_cap;
  const char *fatal_what;
  int exit_code; /* process.exitCode */
  bool exit_code_set; /* process.exitCode is not undefined */
  bool exited;          /* 'exit' was emitted */
  bool fatal_in_hook;   /* an uncaughtException listener threw: exit code 7, no 'exit' */
  aw_val fatal_pending; /* the fatal error to print after the 'exit' listeners (fatal_what set) */

  /* state */
  pthread_t owner;
  uint64_t now; /* ms, cached per iteration */
  uint64_t base_ns;
  int refs;
  bool running, stop, failed, freeing;
  aw_val exception;
  /*
   * An exception escaping a callback (or a nextTick callback of a drain) cuts
   * the checkpoint after it short (drain_cut); what it left is owed
   * (drain_owed) to the next checkpoint: after the next callback, at the end
   * of a phase whose last callback threw, or at the start of the check phase. See
   * aw__checkpoint.
   */
  bool drain_cut, drain_owed;
  bool in_microtask; /* the microtask queue is running (its throws cut no drain) */

  /* the I/O backend (executor/backend.h): both NULL without one (no_io, AW_IO=none) */
  const struct aw__backend_vt *backend;
  struct aw__io *io; /* its state, io/'s own */

  /* cross-thread inbox: aw_loop_post and pool completions (executor/inbox.h) */
  aw__inbox inbox;
  int wake_fd;
  uint64_t jobs_pending;     /* pool jobs started and not settled (workers/pool.c) */
  struct aw__loopwork *work; /* the pool's part of the loop (workers/pool.c) */
  struct aw_pool *workers;   /* the pool aw_loop_set_pool chose, or NULL */
  uint64_t last_inbox_iter;  /* the iteration in which the inbox last had something */
  aw__embed *embed;          /* set by the first aw_loop_fd (io/embed.c), or NULL */

  /* what io/ and workers/ install in the loop (see the types above) */
  const aw__embed_vt *embed_vt; /* set with embed */
  const aw__work_vt *work_vt;   /* set with work */

  aw_loop_stats stats;
};

extern _Thread_local aw_loop *aw__tls_loop;

static inline bool aw__on_owner(const aw_loop *L) {
  return pthread_equal(L->owner, pthread_self()) != 0;
}

void aw__checkpoint(aw_loop *L);
/* The close of a timers or check phase: drains again if its last callback threw. */
void aw__phase_end(aw_loop *L, bool last_threw);
/* The checkpoint after a callback: most queue nothing and throw nothing, so skip the call. */
static inline void aw__after_callback(aw_loop *L) {
  if (!aw__ring_empty(&L->ticks) || !aw__ring_empty(&L->micro) || L->unhandled.len ||
      L->handled_later.len || L->drain_cut || L->drain_owed)
    aw__checkpoint(L);
}
/* A macrotask: fn(L, arg), then a microtask checkpoint. */
void aw__macrotask(aw_loop *L, aw_task_fn fn, void *arg);
/* aw_loop_post for the pool's completions: not refused while aw_loop_free waits for jobs. */
int aw__loop_post_internal(aw_loop *L, aw_task_fn fn, void *arg);
/* Before sleeping: spins for the inbox while work from other threads is expected. */
bool aw__loop_spin(aw_loop *L, int timeout_ms);
uint64_t aw__hrtime_ms(aw_loop *L);
void aw__loop_release(aw_loop *L); /* a promise or frame of a freeing loop went */
void aw__pvec_push(aw__pvec *v, aw_promise *p);
uint32_t aw__slot_grow(void **arr, uint32_t *n, uint32_t *cap, size_t esz);

/* Rejection tracker (HostPromiseRejectionTracker). */
void aw__track_reject(aw_loop *L, aw_promise *p);
void aw__track_handle(aw_loop *L, aw_promise *p);
bool aw__process_rejections(aw_loop *L);
/* A promise reported unhandled (AW__PF_WARNED) is freed: its rejection id goes. */
void aw__warned_forget(aw_loop *L, const aw_promise *p);
/* Runs the microtask queue until it is empty, no ticks (after 'exit'). */
void aw__drain_microtasks(aw_loop *L);

/* OS signals (executor/ossignal.c): aw_loop_free drops L's registrations first. */
void aw__ossignal_loop_free(aw_loop *L);

/* Pools. */
void *aw__pool_get_slow(aw_loop *L, size_t size);
void aw__pool_drain(aw_loop *L);

#ifndef AW_POOLS
#define AW_POOLS 1
#endif

/*
 * A free block links to the next through its second word: the first is an
 * object's header, which must keep refs == 0 (and, in debug builds, its
 * poison) while the block is free, so that a release of a freed promise is
 * reported instead of corrupting the list. Every block is at least 16 bytes.
 */
static inline void **aw__pool_link(void *b) { return (void **)b + 1; }

static inline void *aw__pool_get(aw_loop *L, size_t size) {
#if AW_POOLS
  size_t c = (size + 15) >> 4;
  if (AW__LIKELY(c <= AW__POOL_CLASSES)) {
    void *b = L->pool.head[c];
    if (AW__LIKELY(b != NULL)) {
      L->pool.head[c] = aw__pool_link(b)[0];
      return b;
    }
  }
  return aw__pool_get_slow(L, size);
#else
  (void)L;
  return aw__alloc((size + 15) & ~(size_t)15);
#endif
}

static inline void aw__pool_put(aw_loop *L, void *b, size_t size) {
#if AW_POOLS
  size_t c = (size + 15) >> 4;
  if (AW__LIKELY(c <= AW__POOL_CLASSES)) {
    aw__pool_link(b)[0] = L->pool.head[c];
    L->pool.head[c] = b;
    return;
  }
  aw__free(b, c << 4);
#else
  (void)L;
  aw__free(b, (size + 15) & ~(size_t)15);
#endif
}

/*
 * A descriptor the library keeps (eventfd, ring) moved above 2: a program
 * started with stdin closed must not find the loop's eventfd on fd 0. Returns
 * the descriptor (the same one if it was already above 2), or -1 with errno.
 */
int aw__fd_above_stdio(int fd);

/* Formatting helpers shared by errors and printing. */
void aw__print_value(FILE *f, aw_val v);

#endif
