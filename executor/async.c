/*
 * executor/async.c — the runtime half of async functions (the macros in
 * aw/async.h are the other half).
 *
 * A frame is allocated from the loop's pools with the function's promise.
 * aw_async_start runs the body until its first await. Each await puts the
 * frame's own reaction node on the awaited promise (no allocation), or, for a
 * value that is not a promise, queues the resumption job directly — the same
 * single tick as V8's await on a fresh fulfilled promise, without making one.
 * A thenable goes through a new promise and ResolveThenableJob, as in V8.
 *
 * The shortcut: when the frame is running as a microtask job (resumed by the
 * queue, not started by a caller) and the queue is empty, the job an await of
 * a settled value would queue is by construction the next job to run, so the
 * await completes in place: same order, same value, same (constant) stack.
 * Only what the program cannot observe changes: one queue round trip.
 * AW_AWAIT_SHORTCUT=0 in the environment turns it off (for measuring).
 *
 * Invariant the macros rely on: aw__await never touches the frame after it
 * released the awaited promise, because releasing it may free the frame (a
 * pending promise nobody else holds can never settle; its reactions, this
 * frame among them, are dropped).
 */
#include "internal.h"

#include <string.h>

/*
 * AW__IN_FINALLY is the macros' bit. FRAME_BUSY: aw_loop_free has yet to release
 * the frame's fields, or is releasing them; a drop then only sets FRAME_DROPPED,
 * and aw__frames_zombify frees the memory once it is done with the frame.
 */
enum { FRAME_LIVE = 1, FRAME_ZOMBIE = 2, FRAME_BUSY = 4, FRAME_DROPPED = 8 };

static void list_add(aw_loop *L, aw_frame *f) {
  f->prev_ = NULL;
  f->next_ = L->frame_list;
  if (L->frame_list)
    L->frame_list->prev_ = f;
  L->frame_list = f;
}

static void list_del(aw_loop *L, aw_frame *f) {
  if (f->prev_)
    f->prev_->next_ = f->next_;
  else
    L->frame_list = f->next_;
  if (f->next_)
    f->next_->prev_ = f->prev_;
  f->prev_ = f->next_ = NULL;
}

aw_frame *aw_async_new(aw_loop *L, const aw_async_desc *desc) {
  if (!L || !desc || !aw__on_owner(L) || L->freeing || desc->size < sizeof(aw_frame)) {
    fprintf(stderr,
            "libawait: async function %s started on a loop of another thread "
            "(or a freed loop, or with a bad frame size)\n",
            desc && desc->name ? desc->name : "?");
    abort();
  }
  aw_frame *f = aw__pool_get(L, desc->size);
  memset(f, 0, desc->size);
  f->desc = desc;
  f->promise = aw__promise_alloc(L);
  f->flags_ = FRAME_LIVE;
  list_add(L, f);
  L->frames++;
  L->live++;
  return f;
}

aw_promise *aw_async_start(aw_frame *f) {
  if (AW__UNLIKELY(!f))
    return NULL; /* aw_async_new cannot return NULL, but a caller's own frame pointer can be */
  aw_promise *p = aw_retain(f->promise);
  aw_loop *L = p->loop;
  aw_frame *saved = L->cur_frame;
  aw_frame *saved_job = L->job_frame;
  aw_loop *saved_tls = aw__tls_loop;
  aw__tls_loop = L;
  L->cur_frame = f;
  L->job_frame = NULL; /* started by a caller: its first await must return to it */
  f->desc->body(L, f);
  L->cur_frame = saved;
  L->job_frame = saved_job;
  aw__tls_loop = saved_tls;
  return p;
}

void aw__frame_resume(aw_loop *L, aw_frame *f, aw_val v) {
  if (AW__UNLIKELY(aw_is_thrown(v)))
    aw__error_reached(v, f);
  f->result = v;
  L->cur_frame = f;
  L->job_frame = f;
  f->desc->body(L, f);
  L->cur_frame = NULL;
  L->job_frame = NULL;
}

static void tries_free(aw_frame *f);

/* Releases the frame's fields (dispose, the await result, the completion). */
static void fields_release(aw_frame *f) {
  if (f->desc->dispose)
    f->desc->dispose(f);
  tries_free(f);
  aw_release_val(f->result);
  aw_release_val(f->completion);
  f->result = f->completion = aw_undefined();
}

static void frame_mem_free(aw_loop *L, aw_frame *f) {
  f->flags_ = 0;
  aw__pool_put(L, f, f->desc->size);
  L->frames--;
  aw__loop_release(L);
}

static void frame_free(aw_frame *f) {
  aw_promise *p = f->promise;
  aw_loop *L = p->loop;
  list_del(L, f);
  fields_release(f);
  f->promise = NULL;
  aw_release(p);
  frame_mem_free(L, f);
}

/* Dropped from a reaction list: a live frame is freed; a zombie's memory goes. */
void aw__frame_drop(aw_frame *f) {
  if (f->flags_ & FRAME_BUSY)
    f->flags_ |= FRAME_DROPPED; /* aw__frames_zombify is not done with it: it frees it after */
  else if (f->flags_ & FRAME_ZOMBIE)
    frame_mem_free(f->completion.u.p, f); /* a zombie keeps its loop there */
  else
    frame_free(f);
}

/*
 * aw_loop_free: the frames still alive are suspended on pending promises (the
 * queues were dropped first). Each releases what it holds, its promise
 * included, which breaks cycles of functions awaiting their own or one
 * another's promises; its memory stays until the promise whose reaction list
 * holds it drops it (at once for a cycle, or when you release a promise you
 * still hold).
 *
 * Any release here may free promises whose reaction lists hold frames: the
 * frame being disposed (its dispose releases the promise it awaits), frames
 * not reached yet, frames done. So every frame turns zombie and busy first:
 * a drop of a busy frame only marks it, and the loop below, which alone runs
 * disposes, frees the memory of a marked frame when it is done with it. No
 * dispose runs inside another, and no frame is freed while its fields are in
 * use. A frame never started awaits nothing: no list will drop it.
 */
void aw__frames_zombify(aw_loop *L) {
  for (aw_frame *f = L->frame_list; f; f = f->next_)
    f->flags_ = FRAME_ZOMBIE | FRAME_BUSY | (f->resume ? 0 : FRAME_DROPPED);
  L->live++; /* the frames freed below must not destroy L until we are done */
  while (L->frame_list) {
    aw_frame *f = L->frame_list;
    list_del(L, f);
    fields_release(f);         /* may drop any frame, f included: they are only marked */
    f->completion = aw_ptr(L); /* a zombie's promise goes; its loop stays here */
    aw_promise *p = f->promise;
    f->promise = NULL;
    aw_release(p); /* the same (a cycle drops f itself) */
    if (f->flags_ & FRAME_DROPPED)
      frame_mem_free(L, f); /* out of every list: nothing will drop it again */
    else
      f->flags_ &= ~(uint32_t)FRAME_BUSY; /* the promise whose list holds it frees it */
  }
  aw__loop_release(L);
}

void aw__finish(aw_frame *f) {
  aw_val c = f->completion;
  f->completion = aw_undefined();
  aw__promise_settle_with(f->promise, c);
  frame_free(f);
}

void aw__complete(aw_frame *f, aw_val v) {
  aw_release_val(f->completion);
  f->completion = v;
}

void aw__rethrow(aw_frame *f) {
  aw_release_val(f->completion);
  f->completion = f->result;
  f->result = aw_undefined();
}

/* ---- try statements ----------------------------------------------------------------------------
 *
 * AW_TRY pushes an entry with the address of its own label; every way out of
 * the blocks that is not their end (a throw, a rejected await, AW_RETURN)
 * goes through aw__unwind, which hands the completion to the innermost
 * entry and jumps back to that label. There the macros' chain of ifs asks
 * the entry which block runs: the try block only on the way in, the catch
 * when the try block threw, the finally on any way out of try or catch, and
 * AW_END_TRY pops the entry and resumes what the finally left pending. So
 * each statement needs one label and the blocks need not know each other.
 *
 *   state        how it got there                 runs next
 *   TRY          pushed                           the try block
 *   THREW        a throw in the try block         the catch, else the finally
 *   CATCH        the catch began                  its block, then the finally
 *   LEAVING      a throw in the catch, a return   the finally, then outwards
 *   FINALLY      the finally began                its block, then what is pending
 *
 * The entries live in a block of the frame's own (tries_), made by the first
 * AW_TRY that runs and kept until the frame goes: a function that never runs
 * a try statement pays one NULL pointer.
 */
enum { TRY_TRY, TRY_THREW, TRY_CATCH, TRY_LEAVING, TRY_FINALLY };

typedef struct aw__try {
  void *label;
  uint32_t state;
  bool pending; /* the finally has a completion to resume (value: a return, or thrown) */
  aw_val value;
} aw__try;

struct aw__tries {
  uint32_t n, cap;
  aw__try t[];
};

static void tries_free(aw_frame *f) {
  struct aw__tries *ts = f->tries_;
  if (!ts)
    return;
  f->tries_ = NULL;
  for (uint32_t i = 0; i < ts->n; i++)
    aw_release_val(ts->t[i].value);
  aw__free(ts, sizeof *ts + ts->cap * sizeof(aw__try));
}

static aw__try *try_top(aw_frame *f) {
  struct aw__tries *ts = f->tries_;
  return ts && ts->n ? &ts->t[ts->n - 1] : NULL;
}

static void try_pop(aw_frame *f) {
  aw__try *t = try_top(f);
  aw_release_val(t->value);
  f->tries_->n--;
}

void aw__try_push(aw_frame *f, void *label) {
  struct aw__tries *ts = f->tries_;
  if (!ts || ts->n == ts->cap) {
    uint32_t ocap = ts ? ts->cap : 0, ncap = ocap ? ocap * 2 : 4;
    ts = aw__realloc(ts, ts ? sizeof *ts + ocap * sizeof(aw__try) : 0,
                     sizeof *ts + ncap * sizeof(aw__try));
    if (!f->tries_)
      ts->n = 0;
    ts->cap = ncap;
    f->tries_ = ts;
  }
  ts->t[ts->n++] = (aw__try){label, TRY_TRY, false, {{0}, AW_TAG_UNDEFINED, 0}};
}

bool aw__try_body(aw_frame *f) { return try_top(f)->state == TRY_TRY; }

bool aw__try_catch(aw_frame *f, aw_val *e) {
  aw__try *t = try_top(f);
  if (t->state != TRY_THREW)
    return false;
  t->state = TRY_CATCH;
  t->pending = false;
  aw_release_val(*e);
  *e = aw_caught(t->value);
  t->value = aw_undefined();
  return true;
}

bool aw__try_finally(aw_frame *f) {
  aw__try *t = try_top(f);
  if (t->state == TRY_FINALLY)
    return false; /* cannot happen: the finally's end is AW_END_TRY */
  t->pending = t->state == TRY_THREW || t->state == TRY_LEAVING;
  t->state = TRY_FINALLY;
  return true;
}

bool aw__try_end(aw_frame *f) {
  aw__try *t = try_top(f);
  bool pending = t->pending || t->state == TRY_THREW || t->state == TRY_LEAVING;
  if (!pending) {
    try_pop(f);
    return false;
  }
  aw_release_val(f->completion); /* the pending return or throw goes on outwards */
  f->completion = t->value;
  t->value = aw_undefined();
  try_pop(f);
  return true;
}

void *aw__unwind(aw_frame *f) {
  aw__try *t;
  while ((t = try_top(f))) {
    if (t->state == TRY_FINALLY) { /* a throw or return inside a finally replaces its pending */
      try_pop(f);
      continue;
    }
    t->state = t->state == TRY_TRY && aw_is_thrown(f->completion) ? TRY_THREW : TRY_LEAVING;
    aw_release_val(t->value);
    t->value = f->completion;
    f->completion = aw_undefined();
    return t->label;
  }
  return NULL; /* the function's end */
}

static void await_fail(aw_loop *L, aw_frame *f, const char *why) {
  aw__queue_frame_job(L, f, aw_throw(aw_err("TypeError", "%s", why)));
}

/* Whether an await can complete in place (see the shortcut above). */
static inline bool can_shortcut(aw_loop *L, aw_frame *f) {
  return L->job_frame == f && aw__ring_empty(&L->micro) && !L->failed && L->await_shortcut;
}

/* await of a value that is not a thenable: one tick, or at once by the shortcut. */
static inline bool await_value(aw_loop *L, aw_frame *f, aw_val v) {
  if (can_shortcut(L, f)) {
    f->result = v;
    L->stats.microtasks++;
    return true;
  }
  aw__queue_frame_job(L, f, v);
  return false;
}

/* await of an object: a promise, a thenable, or any other object (a value). */
static __attribute__((noinline)) bool await_obj(aw_loop *L, aw_frame *f, aw_val v) {
  aw_obj *o = v.u.o;
  if (AW__UNLIKELY(!o)) {
    await_fail(L, f, "await of a NULL promise (the call that should have made it failed)");
    return false;
  }
  if (o->type == AW_T_PROMISE) {
    aw_promise *p = (aw_promise *)o;
    if (AW__UNLIKELY(p->loop != L)) {
      await_fail(L, f, "await of a promise of another loop");
      aw_release(p);
      return false;
    }
    if (p->hdr.bits != AW_PENDING && can_shortcut(L, f)) {
      f->result = aw__promise_take_settled(p); /* the bookkeeping of then, and the outcome */
      if (AW__UNLIKELY(aw_is_thrown(f->result)))
        aw__error_reached(f->result, f);
      L->stats.microtasks++;
      aw_release(p);
      return true;
    }
    aw__promise_add_reaction(p, (aw__rlink *)f, AW__R_FRAME);
    aw_release(p); /* may free f: see the invariant above */
    return false;
  }
  if (aw__is_thenable(v)) {
    aw_promise *p = aw__promise_alloc(L);
    aw__queue_rtj(L, aw_retain(p), v);
    aw__promise_add_reaction(p, (aw__rlink *)f, AW__R_FRAME);
    aw_release(p);
    return false;
  }
  return await_value(L, f, v);
}

bool aw__await(aw_frame *f, aw_val v) {
  aw_loop *L = f->promise->loop;
  v = aw_caught(v);
  if (AW__UNLIKELY(aw_tag_of(v) == AW_TAG_OBJ))
    return await_obj(L, f, v);
  return await_value(L, f, v);
}

/* ---- detached tasks (aw_async_spawn) ------------------------------------------------------ */

void aw__spawn_run(aw_loop *L, aw__spawn_r *s, aw_val v) {
  aw_spawn_error_fn on_error = s->on_error;
  void *arg = s->arg;
  aw__pool_put(L, s, sizeof *s);
  if (!aw_is_thrown(v)) { /* the task returned: nothing to say */
    aw_release_val(v);
    return;
  }
  aw_val reason = aw_caught(v);
  if (!on_error) {
    fputs("aw: task failed: ", stderr);
    aw_error_print(reason, stderr);
    fflush(stderr);
  } else {
    aw_val res = on_error(L, reason, arg);
    if (aw_is_thrown(res))
      aw_uncaught(L, res); /* an exception escaping a callback, as from a timer's */
    else
      aw_release_val(res);
  }
  aw_release_val(reason);
}

int aw_async_spawn(aw_frame *f, aw_spawn_error_fn on_error, void *arg) {
  if (!f || !f->promise || f->resume)
    return -EINVAL;
  aw_loop *L = f->promise->loop;
  if (!aw__on_owner(L) || L->freeing)
    return -EPERM;
  aw__spawn_r *s = aw__pool_get(L, sizeof *s);
  s->on_error = on_error;
  s->arg = arg;
  s->pad_ = NULL;
  /*
   * The catch goes on before the function runs, so a throw before its first
   * await finds a handler already there and is never tracked as unhandled.
   * Nothing else holds the promise: the frame's own reference keeps it until
   * the function ends, and the reaction holds none (see promise.c).
   */
  aw__promise_add_reaction(f->promise, &s->link, AW__R_SPAWN);
  aw_release(aw_async_start(f));
  return 0;
}
