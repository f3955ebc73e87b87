/*
 * aw/async.h — async functions in C.
 *
 * An async function is a stackless state machine, as the engine builds one:
 * its locals live in a heap frame, `await` saves a resume point and returns to
 * the loop, and a microtask re-enters the function at that point. The C stack
 * unwinds at every await, so a million awaits in a row, or a long chain of
 * async functions settling one another, never grow it. Resume points are
 * GCC/Clang computed gotos (&&label), so loops and switch statements inside
 * the function keep working across awaits.
 *
 * Writing one:
 *
 *   struct sum { aw_frame frame; int64_t n, i, total; };   // frame first
 *
 *   static void sum_body(aw_loop *L, aw_frame *self) {
 *     struct sum *f = (struct sum *)self;
 *     AW_BEGIN(self);
 *     for (f->i = 1; f->i <= f->n; f->i++) {
 *       aw_val v;
 *       AW_AWAIT(v, aw_int(f->i));          // v = await i
 *       f->total += v.u.i;
 *     }
 *     AW_RETURN(aw_int(f->total));
 *     AW_END;
 *   }
 *
 *   aw_promise *sum(aw_loop *L, int64_t n) {
 *     AW_ASYNC_NEW(L, struct sum, sum_body, f);
 *     f->n = n;
 *     return aw_async_start(&f->frame);
 *   }
 *
 * Rules:
 *  - Only the frame's fields survive an await. A C local is fine between two
 *    awaits (as `v` above), never across one.
 *  - The function runs synchronously until its first await, then
 *    aw_async_start returns its promise (yours).
 *  - AW_AWAIT(dst, expr): dst = await expr; a rejection is thrown on, to the
 *    AW_TRY/AW_CLEANUP blocks if there are any, and then it rejects the promise —
 *    an uncaught throw. expr may be a promise, a thenable, any value (aw_v
 *    converts C values); it is consumed, and dst receives a reference.
 *  - AW_AWAIT_SETTLED(dst, expr): the try/catch form: dst is the value, or
 *    the reason marked thrown (test with aw_is_thrown, unwrap with aw_caught).
 *  - AW_RETURN(v), AW_THROW(v): complete the function (v consumed).
 *    Falling off the end returns undefined.
 *  - AW_CLEANUP ... AW_END_CLEANUP: a cleanup block that runs on every exit,
 *    like finally: it may await; its own AW_RETURN or AW_THROW replaces the
 *    outcome, otherwise the pending return value or throw stands. Without a
 *    cleanup block, end the body with AW_END.
 *  - AW_AWAIT_CATCH(dst, expr, err, label): dst = await expr, or, if it
 *    rejects, err = the reason and goto label: a try/catch around several
 *    awaits is one label for all of them.
 *  - Fields that hold references: give AW_ASYNC_NEW_DISPOSE a dispose function.
 *    It runs whenever the frame is freed: right after the function's promise
 *    settled (before any handler of that promise runs), and also when the
 *    function can never resume, without running its cleanup block, as an
 *    unreachable JS async function is collected: it awaits a promise that was
 *    freed while pending, or the loop is freed while it is suspended (that
 *    also frees functions awaiting one another's promises, a cycle that
 *    reference counts alone would keep).
 */
#ifndef AW_ASYNC_H
#define AW_ASYNC_H

#include "promise.h"
#include "val.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aw_frame aw_frame;
typedef void (*aw_body_fn)(aw_loop *L, aw_frame *self);

/* Static description of an async function (one per function). */
typedef struct aw_async_desc {
  aw_body_fn body;
  const char *name;
  const char *file;
  uint32_t size;                   /* of the whole frame struct */
  void (*dispose)(aw_frame *self); /* optional: release the fields, on every free */
} aw_async_desc;

/* The frame header. Its fields are private to the macros below. */
struct aw_frame {
  uintptr_t link_;     /* node in the awaited promise's reaction list */
  void *resume;        /* where to continue; NULL before the start */
  aw_promise *promise; /* the function's promise */
  const aw_async_desc *desc;
  aw_val result;     /* what the last await delivered */
  aw_val completion; /* the pending return value or throw */
  uint32_t line;     /* line of the last await, for async stacks */
  uint32_t flags_;
  aw_frame *prev_, *next_;  /* the loop's list of live frames */
  struct aw__tries *tries_; /* the AW_TRY statements in progress; NULL if none ever ran */
};

/*
 * A new frame of the function desc describes: desc->size zeroed bytes, the
 * function's promise made. Aborts on a loop of another thread or out of
 * memory. Usually through AW_ASYNC_NEW; call it directly to choose the
 * function at run time (descriptors made with AW_ASYNC_DESC).
 */
aw_frame *aw_async_new(aw_loop *L, const aw_async_desc *desc);
/* Runs the function until its first await; returns its promise (yours). NULL for a NULL frame. */
aw_promise *aw_async_start(aw_frame *f);

/*
 * Detached tasks with their own error boundary.
 *
 * What a JavaScript server does with `handle(conn).catch(onError)` for each
 * connection: aw_async_spawn runs the function as aw_async_start does (until
 * its first await) but nobody holds its promise. If the function throws (a
 * rejection it did not catch, an AW_THROW), on_error(L, reason, arg) runs in
 * a microtask job one tick later, as a catch handler would: the rejection is
 * handled, so it never reaches the unhandledRejection hook, the rejection
 * mode or aw_uncaught, and the loop goes on running the other tasks. reason
 * is borrowed (retain it to keep it); its async stack names the awaits the
 * error went through. If on_error returns a thrown value (aw_throw(x)), that
 * is an exception escaping a callback: it goes to aw_uncaught (consumed),
 * which stops aw_loop_run with AW_EUNCAUGHT unless an uncaughtException hook
 * is set. With on_error NULL, the error is printed to stderr as
 * "aw: task failed: " followed by aw_error_print's text, and the loop goes
 * on. A task that returns (or falls off the end) calls nothing.
 *
 *   for (;;) {                                      // the acceptor, itself a task
 *     AW_AWAIT(v, aw_tcp_accept(f->listener, NULL));
 *     AW_ASYNC_NEW_DISPOSE(L, struct conn, conn_body, conn_dispose, c);
 *     c->fd = (int)v.u.i;                           // conn_dispose closes it
 *     aw_async_spawn(&c->frame, NULL, NULL);        // a failure prints; the rest go on
 *   }
 *
 * on_error returns aw_val rather than void, so that "throwing" in it is what
 * it is everywhere else in the library: returning aw_throw(x).
 *
 * One task per connection costs the frame, its promise and one 32-byte
 * reaction that holds on_error and arg (all from the loop's pools), and all
 * of it goes when the task ends; nothing is kept per finished task. A task suspended
 * when its loop is freed is freed with it (its dispose runs, on_error is not
 * called), as every suspended async function is; one whose awaited promise
 * is dropped unsettled is freed the same way.
 *
 * f: a frame made by aw_async_new (or AW_ASYNC_NEW), not yet started; the
 * task owns it from then on. Returns 0 once the function ran to its first
 * await (or to its end); -EINVAL for NULL or a frame already started, -EPERM
 * from a thread other than the loop's (the frame is left alone in both). Out
 * of memory aborts, as for every frame and promise. arg is borrowed: it must
 * live until the task has ended or its loop is freed.
 */
typedef aw_val (*aw_spawn_error_fn)(aw_loop *L, aw_val reason, void *arg);
int aw_async_spawn(aw_frame *f, aw_spawn_error_fn on_error, void *arg);

/* Starts an await; true if it completed at once (the result is in f->result). */
bool aw__await(aw_frame *f, aw_val v);
void aw__complete(aw_frame *f, aw_val v);
void aw__rethrow(aw_frame *f);
void aw__finish(aw_frame *f);
/* The try statements (AW_TRY): see executor/async.c. */
void aw__try_push(aw_frame *f, void *label);
bool aw__try_body(aw_frame *f);
bool aw__try_catch(aw_frame *f, aw_val *e);
bool aw__try_finally(aw_frame *f);
bool aw__try_end(aw_frame *f);
void *aw__unwind(aw_frame *f); /* the label of the try that takes the completion, or NULL */

/* Declares `type *var` as a new frame of an async function with body `body`. */
#define AW_ASYNC_NEW(L, type, body, var) AW_ASYNC_NEW_DISPOSE(L, type, body, NULL, var)
#define AW_ASYNC_NEW_DISPOSE(L, type, body, disposefn, var)                                        \
  static const aw_async_desc AW__CAT(aw__desc_, var) = {(body), #body, __FILE__,                   \
                                                        (uint32_t)sizeof(type), (disposefn)};      \
  type *var = (type *)aw_async_new((L), &AW__CAT(aw__desc_, var))

/* A descriptor at file scope: AW_ASYNC_DESC(name, type, body, dispose or NULL). */
#define AW_ASYNC_DESC(name, type, body, disposefn)                                                 \
  const aw_async_desc name = {(body), #body, __FILE__, (uint32_t)sizeof(type), (disposefn)}

/* A bit of flags_: the cleanup block has begun, so exits go straight to the end. */
#define AW__IN_FINALLY 0x100u

#define AW_BEGIN(self)                                                                             \
  aw_frame *const aw__self = (self);                                                               \
  if (aw__self->resume)                                                                            \
  goto * aw__self->resume

#define AW__SUSPEND(expr, lbl)                                                                     \
  aw__self->resume = &&lbl;                                                                        \
  aw__self->line = __LINE__;                                                                       \
  if (!aw__await(aw__self, aw_v(expr)))                                                            \
    return;                                                                                        \
  lbl:

/* Leaves for the innermost try statement that takes the completion, or for the end. */
#define AW__UNWIND()                                                                               \
  do {                                                                                             \
    void *aw__to_;                                                                                 \
    if (__builtin_expect(aw__self->tries_ != NULL, 0) && (aw__to_ = aw__unwind(aw__self)))         \
      goto *aw__to_;                                                                               \
    goto aw__exit;                                                                                 \
  } while (0)

#define AW__AWAIT(dst, expr, lbl)                                                                  \
  do {                                                                                             \
    AW__SUSPEND(expr, lbl)                                                                         \
    if (aw_is_thrown(aw__self->result)) {                                                          \
      aw__rethrow(aw__self);                                                                       \
      AW__UNWIND();                                                                                \
    }                                                                                              \
    (dst) = aw__self->result;                                                                      \
    aw__self->result = aw_undefined();                                                             \
  } while (0)
#define AW_AWAIT(dst, expr) AW__AWAIT(dst, expr, AW__CAT(aw__resume_, __COUNTER__))

#define AW__AWAIT_SETTLED(dst, expr, lbl)                                                          \
  do {                                                                                             \
    AW__SUSPEND(expr, lbl)                                                                         \
    (dst) = aw__self->result;                                                                      \
    aw__self->result = aw_undefined();                                                             \
  } while (0)
#define AW_AWAIT_SETTLED(dst, expr) AW__AWAIT_SETTLED(dst, expr, AW__CAT(aw__resume_, __COUNTER__))

/* await expr, discarding the value (a rejection still throws). */
#define AW__AWAIT_IGNORE(expr, lbl)                                                                \
  do {                                                                                             \
    AW__SUSPEND(expr, lbl)                                                                         \
    if (aw_is_thrown(aw__self->result)) {                                                          \
      aw__rethrow(aw__self);                                                                       \
      AW__UNWIND();                                                                                \
    }                                                                                              \
    aw_release_val(aw__self->result);                                                              \
    aw__self->result = aw_undefined();                                                             \
  } while (0)
#define AW_AWAIT_IGNORE(expr) AW__AWAIT_IGNORE(expr, AW__CAT(aw__resume_, __COUNTER__))

/* dst = await expr; on a rejection, err = the reason (yours) and goto label. */
#define AW__AWAIT_CATCH(dst, expr, err, label, lbl)                                                \
  do {                                                                                             \
    AW__SUSPEND(expr, lbl)                                                                         \
    if (aw_is_thrown(aw__self->result)) {                                                          \
      (err) = aw_caught(aw__self->result);                                                         \
      aw__self->result = aw_undefined();                                                           \
      goto label;                                                                                  \
    }                                                                                              \
    (dst) = aw__self->result;                                                                      \
    aw__self->result = aw_undefined();                                                             \
  } while (0)
#define AW_AWAIT_CATCH(dst, expr, err, label)                                                      \
  AW__AWAIT_CATCH(dst, expr, err, label, AW__CAT(aw__resume_, __COUNTER__))

#define AW_RETURN(v)                                                                               \
  do {                                                                                             \
    aw__complete(aw__self, aw_v(v));                                                               \
    AW__UNWIND();                                                                                  \
  } while (0)

#define AW_THROW(v)                                                                                \
  do {                                                                                             \
    aw__complete(aw__self, aw_throw(aw_v(v)));                                                     \
    AW__UNWIND();                                                                                  \
  } while (0)

/*
 * try/catch/finally statements, nestable, any number per function, awaits in
 * every block:
 *
 *   AW_TRY {
 *     AW_AWAIT(v, fetch(L));          // a rejection lands in the catch
 *     if (bad) AW_THROW(aw_err("Error", "bad"));   // so does a throw
 *   } AW_CATCH(e) {                   // e: an aw_val, borrowed for the block
 *     log_error(e);
 *   } AW_FINALLY {
 *     close_it();                     // on every way out, AW_RETURN included
 *   } AW_END_TRY;
 *
 * AW_CATCH and AW_FINALLY are each optional. As in JS: a throw in the try
 * block goes to the catch; one in the catch, or in a try without a catch,
 * runs the finally and goes on outwards; AW_RETURN runs the finally blocks
 * of every try it leaves, inner first; a throw or AW_RETURN inside a finally
 * replaces what was pending, and the finally's normal end resumes it.
 *
 * AW_CATCH(e) moves the exception into e, an aw_val lvalue that holds a
 * value or undefined (its old value is released): a field of the frame
 * (zeroed at the start, released with the frame by AW_ASYNC), which also
 * survives awaits in the catch block, or a C local you initialised and
 * release yourself.
 *
 * Leave a try statement's blocks only by reaching their end, AW_RETURN,
 * AW_THROW or a rejected await: break, continue or goto out of them skips the
 * statement's bookkeeping (use a flag, or put the loop inside the try).
 */
#define AW_TRY AW__TRY(AW__CAT(aw__try_, __COUNTER__))
#define AW__TRY(lbl)                                                                               \
  aw__try_push(aw__self, &&lbl);                                                                   \
  lbl:                                                                                             \
  if (aw__try_body(aw__self))
#define AW_CATCH(e) if (aw__try_catch(aw__self, &(e)))
#define AW_FINALLY if (aw__try_finally(aw__self))
#define AW_END_TRY                                                                                 \
  if (aw__try_end(aw__self))                                                                       \
  AW__UNWIND()

/*
 * The frame's cleanup block, AW_CLEANUP ... AW_END_CLEANUP in place of
 * AW_END: runs on every exit of the function (return, throw, a rejection),
 * after the finally blocks of AW_TRY; it may await; its own AW_RETURN or
 * AW_THROW replaces the outcome, otherwise the pending return value or throw
 * stands. (AW_ASYNC functions release their fields without one.)
 */
#define AW_CLEANUP                                                                                 \
  aw__finally:                                                                                     \
  aw__self->flags_ |= AW__IN_FINALLY

/* Every exit (return, throw, a rejection) jumps here: the cleanup block first, then the end. */
#define AW_END_CLEANUP                                                                             \
  aw__exit:                                                                                        \
  __attribute__((unused));                                                                         \
  if (!(aw__self->flags_ & AW__IN_FINALLY))                                                        \
    goto aw__finally;                                                                              \
  aw__finish(aw__self);                                                                            \
  return

#define AW_END                                                                                     \
  AW_CLEANUP;                                                                                      \
  AW_END_CLEANUP

/*
 * Declared async functions: the frame, the starter and the body in one.
 *
 *   AW_ASYNC(sum_to, (int64_t, n), AW_VAR(int64_t, i), AW_VAR(aw_val, last)) {
 *     for (my->i = 1; my->i <= my->n; my->i++)
 *       AW_AWAIT_IGNORE(aw_int(my->i));
 *     AW_RETURN(aw_int(my->n));
 *   } AW_ASYNC_END;
 *
 *   aw_promise *p = sum_to(L, 10);      // static aw_promise *sum_to(aw_loop *L, int64_t n)
 *
 * After the name: the parameters as (type, name) pairs, then the locals that
 * must survive an await as AW_VAR(type, name), up to 16 in all. Each is a
 * field of the frame, reached through `my` (my->n); the frame starts zeroed.
 * Fields of type aw_val, or a pointer to an aw_promise, aw_str, aw_buf,
 * aw_array, aw_error, aw_resolver, aw_fn or aw_obj, are references the frame
 * owns: released when the frame goes, whether the function returned, threw,
 * or was dropped unfinished. So an object argument is consumed (pass
 * aw_ref(x) to keep x), and a field you assign takes over a reference
 * (release what it held first, or use AW_SET). L is the loop, as in every
 * body. A C local of the body lives only between two awaits: a resumed
 * function jumps past its declaration, so `arec *r = my->r;` at the top is
 * garbage after the first await (read my->r there instead). The function is static; AW_ASYNC_DECLARE(name, params...) declares
 * it ahead, for functions that call one another.
 */
#define AW_VAR(type, name) (type, name, var)

#define AW_ASYNC_DECLARE(name, ...)                                                                \
  static aw_promise *name(aw_loop *L AW__MAP(AW__PARAM, __VA_ARGS__))

#define AW_ASYNC(name, ...)                                                                        \
  struct name##__frame {                                                                           \
    aw_frame frame;                                                                                \
    AW__MAP(AW__FIELD, __VA_ARGS__)                                                                \
  };                                                                                               \
  static void name##__body(aw_loop *L, aw_frame *aw__s);                                           \
  static void name##__dispose(aw_frame *aw__s) {                                                   \
    struct name##__frame *my = (struct name##__frame *)aw__s;                                      \
    (void)my;                                                                                      \
    AW__MAP(AW__DISPOSE, __VA_ARGS__)                                                              \
  }                                                                                                \
  static const aw_async_desc name##__desc = {                                                      \
      name##__body, #name, __FILE__, (uint32_t)sizeof(struct name##__frame), name##__dispose};     \
  AW_ASYNC_DECLARE(name, __VA_ARGS__) {                                                            \
    struct name##__frame *my = (struct name##__frame *)aw_async_new(L, &name##__desc);             \
    AW__MAP(AW__COPY, __VA_ARGS__)                                                                 \
    return aw_async_start(&my->frame);                                                             \
  }                                                                                                \
  static void name##__body(aw_loop *L, aw_frame *aw__s) {                                          \
    struct name##__frame *const my = (struct name##__frame *)aw__s;                                \
    (void)my;                                                                                      \
    AW_BEGIN(aw__s);

#define AW_ASYNC_END                                                                               \
  AW_END;                                                                                          \
  }                                                                                                \
  extern int aw__async_end_

/* Releases what a field holds and assigns v (consumed): for owned fields. */
#define AW_SET(field, v)                                                                           \
  do {                                                                                             \
    __typeof__(field) aw__set_ = (v);                                                              \
    AW__DROP(&(field));                                                                            \
    (field) = aw__set_;                                                                            \
  } while (0)

/* await x without consuming it: x stays yours (a promise the frame keeps). */
#define AW_AWAIT_REF(dst, x) AW_AWAIT(dst, aw_ref(x))

#define AW__FIELD(x) AW__FIELD_ x
#define AW__FIELD_(type, name, ...) type name;
#define AW__PARAM(x) AW__CAT(AW__PARAM_, AW__NARG x) x
#define AW__PARAM_2(type, name) , type name
#define AW__PARAM_3(type, name, v)
#define AW__COPY(x) AW__CAT(AW__COPY_, AW__NARG x) x
#define AW__COPY_2(type, name) my->name = name;
#define AW__COPY_3(type, name, v)
#define AW__DISPOSE(x) AW__DISPOSE_ x
#define AW__DISPOSE_(type, name, ...) AW__DROP(&my->name);

static inline void aw__drop_val(void *p) {
  aw_release_val(*(aw_val *)p);
  *(aw_val *)p = aw_undefined();
}
static inline void aw__drop_obj(void *p) {
  aw_release(*(void **)p);
  *(void **)p = NULL;
}
static inline void aw__drop_none(const void *p) { (void)p; }
#define AW__DROP(pp)                                                                               \
  _Generic((pp), aw_val *                                                                          \
           : aw__drop_val, aw_promise **                                                           \
           : aw__drop_obj, aw_str **                                                               \
           : aw__drop_obj, aw_buf **                                                               \
           : aw__drop_obj, aw_array **                                                             \
           : aw__drop_obj, aw_error **                                                             \
           : aw__drop_obj, aw_resolver **                                                          \
           : aw__drop_obj, aw_fn **                                                                \
           : aw__drop_obj, aw_obj **                                                               \
           : aw__drop_obj, default                                                                 \
           : aw__drop_none)(pp)

#ifdef __cplusplus
}
#endif
#endif
