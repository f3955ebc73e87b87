/*
 * aw/fn.h — functions as values: closures, resolve and reject as values, and
 * the closure forms of every call that takes a callback.
 *
 * A JavaScript arrow captures the variables it uses; a C callback gets one
 * `void *`. An aw_fn is the JS function instead: code plus the values it
 * captured, one object (AW_T_FUNCTION) that holds a reference to each capture
 * and releases them all when the last reference to the function goes —
 * whether or not it ever ran. Hand one to then, a timer, an immediate, a
 * microtask, a tick or a post, and the library owns it from then on: a
 * promise that never settles, a timer cleared, a loop freed with the
 * immediate still queued, each lets it go.
 *
 *   AW_FN(print_sum) {                     // aw_val print_sum(L, a, b, cap)
 *     printf("%s %lld\n", aw_str_cstr(cap[0]), (long long)(a.u.i + cap[1].u.i));
 *     return aw_undefined();
 *   }
 *   ...
 *   aw_release(aw_promise_then_fn(p, aw_fn(print_sum, "sum", 40), NULL));
 *
 * The code: aw_val code(aw_loop *L, aw_val a, aw_val b, aw_val *cap).
 *  - a, b are the arguments (borrowed; undefined when not passed): the value
 *    or reason for a then handler, resolve and reject for an executor or a
 *    thenable's then, the timer's or immediate's id for those callbacks
 *    (Node's `this`), nothing for finally, a microtask or a tick.
 *  - cap points at the captured values, in the order they were given. They
 *    are the function's own: read them, or replace one (release the old
 *    value) to keep state from call to call, as a JS closure assigns a
 *    captured variable.
 *  - It returns its result (consumed), or aw_throw(x) to throw x. A handler's
 *    result resolves the promise then made; a callback of a timer, an
 *    immediate, a microtask, a tick or a post that throws reports the
 *    exception as uncaught (aw_uncaught), as a throwing callback does in
 *    Node; what it returns otherwise is released.
 *
 * All of this is for the loop's thread, except aw_fn_new (any thread: the
 * function then belongs to that thread until it is handed over, as by
 * aw_loop_post_fn). Reference counts are not atomic: one function is never
 * shared by two threads at once.
 */
#ifndef AW_FN_H
#define AW_FN_H

#include "loop.h"
#include "promise.h"
#include "val.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef aw_val (*aw_fn_code)(aw_loop *L, aw_val a, aw_val b, aw_val *cap);

/* Defines a function's code with the parameter names above: AW_FN(name) { ... }. */
#define AW_FN(name) static aw_val name(aw_loop *L, aw_val a, aw_val b, aw_val *cap)

/* The most captures one function takes (aw_fn_new refuses more). */
#define AW_FN_CAPS_MAX 64

/*
 * A new function of code with n captured values (each consumed: the
 * function holds them). Refusals read nothing and consume nothing: NULL for
 * a NULL code, n above AW_FN_CAPS_MAX, or caps NULL with n > 0. Out of
 * memory aborts, as for promises and frames.
 */
aw_fn *aw_fn_new(aw_fn_code code, size_t n, const aw_val *caps);

/*
 * aw_fn(code, captures...): aw_fn_new with up to 8 captures, each converted
 * by aw_v (so integers, doubles, C strings, objects and aw_vals all work):
 * aw_fn(log_label, "tick", 3).
 */
#define aw_fn(code, ...)                                                                           \
  aw_fn_new((code), AW__NARG(__VA_ARGS__),                                                         \
            (const aw_val[]){AW__MAP(AW__V_ITEM, __VA_ARGS__) aw_undefined()})

/*
 * Calls f with a and b (both consumed: f borrows them for the call) and
 * returns what it returns (yours), thrown-marked if it threw. f is
 * borrowed. Calling NULL or an object that is not a function throws a
 * TypeError ("... is not a function"), as JS does.
 */
aw_val aw_fn_call(aw_loop *L, aw_fn *f, aw_val a, aw_val b);
/* aw_call(L, f), aw_call(L, f, x), aw_call(L, f, x, y): each argument through aw_v. */
#define aw_call(L, f, ...)                                                                         \
  aw__call2((L), (f), AW__FIRST2(__VA_ARGS__ __VA_OPT__(, ) aw_undefined(), aw_undefined()))

/* The captures of f (n in *n if n is not NULL); NULL for anything but a function. */
aw_val *aw_fn_caps(aw_fn *f, size_t *n);

/* ---- promises --------------------------------------------------------------------------- */

/*
 * then/catch/finally with functions: each function is consumed (also when
 * the call is refused), and may be NULL (a NULL handler passes the value or
 * the reason through). p is borrowed, the promise returned is yours, as for
 * aw_promise_then. The handlers get the value or the reason as a.
 */
aw_promise *aw_promise_then_fn(aw_promise *p, aw_fn *on_fulfilled, aw_fn *on_rejected);
aw_promise *aw_promise_catch_fn(aw_promise *p, aw_fn *on_rejected);
aw_promise *aw_promise_finally_fn(aw_promise *p, aw_fn *on_finally);

/*
 * new Promise((resolve, reject) => ...): calls executor at once with resolve
 * as a and reject as b, two functions sharing one "already resolved" flag
 * (CreateResolvingFunctions). They are values: retain one to keep it (in a
 * capture, a frame, a global), call it later with aw_call, drop it never
 * called. A throw from the executor rejects the promise unless it was
 * resolved already. executor is consumed.
 */
aw_promise *aw_promise_new_fn(aw_loop *L, aw_fn *executor);

/* Promise.withResolvers() with functions: *resolve and *reject are yours. */
aw_promise *aw_promise_with_resolvers_fn(aw_loop *L, aw_fn **resolve, aw_fn **reject);

/* The resolve and reject functions of a resolver (new references). */
aw_fn *aw_resolver_resolve_fn(aw_resolver *r);
aw_fn *aw_resolver_reject_fn(aw_resolver *r);

/* Promise.try(fn): fn's result, or its throw as a rejection. fn is consumed. */
aw_promise *aw_promise_try_fn(aw_loop *L, aw_fn *fn);

/*
 * A thenable object { then(resolve, reject) { ... } }: resolving a promise
 * with it (or awaiting it) calls then in its own microtask job with resolve
 * as a and reject as b, functions as aw_promise_new_fn's (kept by retaining
 * them). then is consumed; the object is yours.
 */
aw_obj *aw_thenable_new(aw_fn *then);

/* ---- callbacks of the loop -------------------------------------------------------------- */

/*
 * The closure forms of the loop's callbacks (aw/loop.h): fn is consumed,
 * also on a refusal (which returns 0, or the negative errno for the int
 * forms). A timer keeps its function until it is cleared or has fired for
 * the last time; an immediate, a microtask, a tick or a post until it ran
 * or the loop was freed. Timers and immediates get their own id as a (for
 * aw_timer_unref from inside, as `this.unref()` in Node).
 */
aw_timer aw_set_timeout_fn(aw_loop *L, int64_t ms, aw_fn *fn);
aw_timer aw_set_interval_fn(aw_loop *L, int64_t ms, aw_fn *fn);
aw_immediate aw_set_immediate_fn(aw_loop *L, aw_fn *fn);
int aw_queue_microtask_fn(aw_loop *L, aw_fn *fn);
int aw_next_tick_fn(aw_loop *L, aw_fn *fn);
/* Any thread: fn (made on this thread, not shared) runs as a macrotask on L's thread. */
int aw_loop_post_fn(aw_loop *L, aw_fn *fn);

/* ---- macro machinery -------------------------------------------------------------------- */

static inline aw_val aw__call2(aw_loop *L, aw_fn *f, aw_val a, aw_val b) {
  return aw_fn_call(L, f, a, b);
}
#define AW__FIRST2(a, b, ...) aw_v(a), aw_v(b)
#define AW__V_ITEM(x) aw_v(x),

#ifdef __cplusplus
}
#endif
#endif
