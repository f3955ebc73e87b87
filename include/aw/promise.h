/*
 * aw/promise.h — promises, with exactly the job (tick) counts of V8.
 *
 * A promise is pending, fulfilled or rejected, and settles once. Handlers run
 * as microtask jobs, one job per handler, in the order they were registered.
 * Resolving a promise runs the full resolution procedure of ECMA-262:
 *  - with the promise itself: it rejects with a TypeError;
 *  - with a thenable (a native promise or a user object whose class has a
 *    `then`): a job calls the thenable's then, and the promise follows it
 *    (two extra ticks for a native promise, as in V8 — this is the contract,
 *    not an inefficiency to remove);
 *  - with anything else: it fulfils.
 *
 * Handlers: aw_val fn(aw_loop *L, aw_val v, void *arg). v is the value or the
 * reason (borrowed). The returned value (consumed) resolves the promise that
 * then() returned; return aw_throw(x) to reject it with x. arg is yours: keep
 * it alive until a handler ran (a promise that never settles never calls
 * them).
 *
 * Ownership follows aw/val.h: the promise you call an operation on is
 * borrowed; values you pass are consumed; promises returned are new
 * references. All of this is for the loop's own thread only; a call on a
 * promise of another loop, from another thread, or after its loop was freed
 * returns NULL (or -EPERM), releases the values it was given, and changes
 * nothing else. (A promise you still hold after aw_loop_free stays valid to
 * inspect and to release.)
 */
#ifndef AW_PROMISE_H
#define AW_PROMISE_H

#include "val.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef aw_val (*aw_then_fn)(aw_loop *L, aw_val v, void *arg);
typedef aw_val (*aw_call_fn)(aw_loop *L, void *arg);

enum aw_state { AW_PENDING = 0, AW_FULFILLED, AW_REJECTED };

/* A new pending promise. Settle it with aw_promise_resolve/aw_promise_reject. */
aw_promise *aw_promise_new(aw_loop *L);

/*
 * new Promise(executor): calls exec(L, p, arg) at once; exec settles p now or
 * later (retain p to keep it). If exec returns a thrown value and p was not
 * resolved yet, p rejects with it.
 */
typedef aw_val (*aw_executor_fn)(aw_loop *L, aw_promise *p, void *arg);
aw_promise *aw_promise_new_executor(aw_loop *L, aw_executor_fn exec, void *arg);

/*
 * The resolve and reject functions of a promise made by aw_promise_new or
 * passed to an executor. v is consumed. Only the first resolve or reject
 * counts; later calls are ignored, as the spec says (they return 0 too).
 * -EINVAL for NULL, -EPERM from another thread.
 */
int aw_promise_resolve(aw_promise *p, aw_val v);
int aw_promise_reject(aw_promise *p, aw_val reason);

/*
 * Promise.prototype.then: a new promise resolved with what the handler
 * returns. A NULL handler passes the value (or the reason) through.
 */
aw_promise *aw_promise_then(aw_promise *p, aw_then_fn on_fulfilled, aw_then_fn on_rejected,
                            void *arg);
/* Promise.prototype.catch: then(p, NULL, on_rejected). */
aw_promise *aw_promise_catch(aw_promise *p, aw_then_fn on_rejected, void *arg);
/*
 * Promise.prototype.finally: fn(L, arg) runs on either outcome; the value or
 * the reason passes through unless fn throws or returns a promise that
 * rejects. If fn returns a promise, the outcome waits for it.
 */
aw_promise *aw_promise_finally(aw_promise *p, aw_call_fn fn, void *arg);

/*
 * Promise.resolve(v): v itself if it is a promise of this loop (the pointer
 * you passed, carrying the reference you passed), else a new promise.
 */
aw_promise *aw_promise_resolved(aw_loop *L, aw_val v);
/* Promise.reject(reason). */
aw_promise *aw_promise_rejected(aw_loop *L, aw_val reason);
/* Promise.try(fn): fn's result, or its throw as a rejection. */
aw_promise *aw_promise_try(aw_loop *L, aw_call_fn fn, void *arg);

/*
 * Combinators over n values (each consumed; promises, thenables or plain
 * values), with V8's tick counts. They fulfil with a new array:
 *  - all: the values in input order; rejects with the first rejection;
 *  - all_settled: one entry per input in input order: the value, or the
 *    reason marked thrown (aw_is_thrown tells which);
 *  - any: the first fulfilment; rejects with an AggregateError "All promises
 *    were rejected" whose errors are the reasons in input order;
 *  - race: settles as the first input to settle.
 *
 * Bad input: n above AW_PROMISE_INPUTS_MAX, or values NULL with n > 0, is
 * not a real array: the call returns NULL and reads nothing from values, so
 * nothing is consumed (the values, if any, are still yours). Every other
 * refusal (NULL loop, another thread, a loop being freed) returns NULL and
 * consumes the values, as everywhere. If the memory n inputs need cannot be
 * had (all, all_settled and any keep 32 bytes per input, and make the result
 * array when they settle), the values are consumed and the promise rejects
 * with a RangeError whose errnum is ENOMEM, as a JavaScript combinator turns
 * an abrupt completion into a rejection.
 */
#define AW_PROMISE_INPUTS_MAX AW_ARRAY_MAX
aw_promise *aw_promise_all(aw_loop *L, size_t n, const aw_val *values);
aw_promise *aw_promise_all_settled(aw_loop *L, size_t n, const aw_val *values);
aw_promise *aw_promise_any(aw_loop *L, size_t n, const aw_val *values);
aw_promise *aw_promise_race(aw_loop *L, size_t n, const aw_val *values);

/* Inspection. The result is borrowed; undefined while pending. */
enum aw_state aw_promise_state(const aw_promise *p);
aw_val aw_promise_result(const aw_promise *p);
aw_loop *aw_promise_loop(const aw_promise *p);

/* ---- resolvers ------------------------------------------------------------ */

/*
 * A resolver is a pair of resolve/reject functions for one promise with its
 * own "already resolved" flag, as CreateResolvingFunctions makes them. It is
 * what a thenable's then receives, and what aw_promise_with_resolvers hands
 * out. An object: retain it to keep it.
 */
int aw_resolver_resolve(aw_resolver *r, aw_val v);
int aw_resolver_reject(aw_resolver *r, aw_val reason);
/* The promise the resolver settles (borrowed). */
aw_promise *aw_resolver_promise(const aw_resolver *r);

/* Promise.withResolvers(): a new promise, and a resolver for it in *out. */
aw_promise *aw_promise_with_resolvers(aw_loop *L, aw_resolver **out);

#ifdef __cplusplus
}
#endif
#endif
