/*
 * tests/conformance/conf.h — helpers for the hand translations of the
 * conformance corpus. Each NNN-name.c is the C translation of NNN-name.js
 * (kept beside it as its specification) and must print exactly NNN-name.out.
 *
 * The helpers stand in for the bits of JavaScript the programs lean on:
 * console.log, a `ticks(n)` then-chain, JSON.stringify, thenable objects, and
 * the globals (`const p = ...`) that a C program must release at the end.
 */
#ifndef CONF_H
#define CONF_H

#include <stdio.h>

#include "aw.h"

/* console.log with printf formatting; adds the newline. */
void conf_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* console.log(label, v): label, a space, String(v). */
void conf_logv(const char *label, aw_val v);
/* JSON.stringify(v) for the values the corpus prints (arrays, strings, numbers). */
aw_str *conf_json(aw_val v);

/* A then handler that logs its arg (a C string) and returns undefined. */
aw_val conf_log_then(aw_loop *L, aw_val v, void *msg);
/* A then handler that logs "arg v" (console.log(arg, v)) and returns undefined. */
aw_val conf_logv_then(aw_loop *L, aw_val v, void *label);
/* A then handler that logs "arg e.message" and returns undefined. */
aw_val conf_logmsg_then(aw_loop *L, aw_val v, void *label);

/* then() that consumes p: chains read as p = conf_then(p, ...). */
aw_promise *conf_then(aw_promise *p, aw_then_fn onf, aw_then_fn onr, void *arg);
aw_promise *conf_catch(aw_promise *p, aw_then_fn onr, void *arg);

/* ticks(n): Promise.resolve().then(() => log('tick 1')).then(...) ... 'tick n'. */
void conf_ticks(aw_loop *L, int n);

/* A thenable whose then is fn; data is available through conf_thenable_data. */
typedef aw_val (*conf_then_op)(aw_loop *L, aw_obj *self, aw_resolver *r);
aw_obj *conf_thenable(conf_then_op fn, void *data);
void *conf_thenable_data(aw_obj *self);

/* A timer that resolves p (retained until then) with v after ms. */
void conf_resolve_after(aw_loop *L, int64_t ms, aw_promise *p, aw_val v);
/* A timer that rejects p with new Error(msg) after ms. */
void conf_reject_after(aw_loop *L, int64_t ms, aw_promise *p, const char *msg);

/* Keeps p alive until the program ends, as a JS global would (returns p). */
aw_promise *conf_keep(aw_promise *p);
aw_val conf_keep_val(aw_val v);

/* Date.now() in milliseconds. */
int64_t conf_now_ms(void);

/*
 * Runs program(L) as the main script, then the loop; frees everything and
 * checks that nothing is left alive. Returns the exit status for main().
 */
int conf_main(void (*program)(aw_loop *L));

/* ---- the second translations: functions as values (aw/fn.h) and AW_ASYNC ------------------ */

/*
 * PROGRAM { ... } is the main script (L is the loop) and defines main():
 * conf_main runs it, then the loop, and checks that nothing leaked.
 */
#define PROGRAM                                                                                    \
  static void conf_program(aw_loop *L);                                                            \
  int main(void) { return conf_main(conf_program); }                                               \
  static void conf_program(aw_loop *L)

#define LOG conf_log
/* console.log(a, b, ...) of aw_vals (any values through aw_v): util.format's spacing. */
#define LOGV(...) conf_logvals(AW__NARG(__VA_ARGS__), (aw_val[]){AW__MAP(AW__V_ITEM, __VA_ARGS__)})
void conf_logvals(size_t n, aw_val *v); /* consumes the values */

/* Functions for the arrows the corpus writes most (each a new aw_fn): */
aw_fn *conf_log_fn(const char *label);    /* () => console.log(label) */
aw_fn *conf_logv_fn(const char *label);   /* v => console.log(label, v) */
aw_fn *conf_logmsg_fn(const char *label); /* e => console.log(label, e.message) */
aw_fn *conf_ret_fn(aw_val v);             /* () => v (v consumed; a new reference per call) */
aw_fn *conf_throw_fn(const char *msg);    /* () => { throw new Error(msg) } */
#define LOG_FN conf_log_fn
#define LOGV_FN conf_logv_fn
#define LOGMSG_FN conf_logmsg_fn
#define RET_FN(v) conf_ret_fn(aw_v(v))
#define THROW_FN conf_throw_fn

/* p.then(f) / p.then(f, r) / p.catch(r) / p.finally(f), consuming p, so chains read p = THEN(p, f).
 */
aw_promise *conf_then_fn(aw_promise *p, aw_fn *f, aw_fn *r);
#define THEN(p, f) conf_then_fn((p), (f), NULL)
#define THEN2(p, f, r) conf_then_fn((p), (f), (r))
#define CATCH(p, r) conf_then_fn((p), NULL, (r))
aw_promise *conf_finally_fn(aw_promise *p, aw_fn *f);
#define FINALLY(p, f) conf_finally_fn((p), (f))
/* p.then(f1).then(f2)...: consumes p, returns the last promise. */
aw_promise *conf_chain(aw_promise *p, size_t n, aw_fn **fns);
#define CHAIN(p, ...) conf_chain((p), AW__NARG(__VA_ARGS__), (aw_fn *[]){__VA_ARGS__})

/* Promise.resolve(v), Promise.reject(new Error(msg)). */
#define RESOLVED(v) aw_promise_resolved(L, aw_v(v))
#define REJECTED(msg) aw_promise_rejected(L, aw_err("Error", "%s", (msg)))
/* new Promise(r => setTimeout(() => r(v), ms)) and its reject twin (new Error(msg)). */
aw_promise *conf_resolve_in(aw_loop *L, int64_t ms, aw_val v);
aw_promise *conf_reject_in(aw_loop *L, int64_t ms, const char *msg);
#define SLEEP(ms) conf_resolve_in(L, (ms), aw_undefined())
/* Drops a promise (or any object) whose value the program never reads: the statement p.then(f);. */
#define DROP(x) aw_release(x)
/* The message of an error value, "undefined" if it has none. */
const char *conf_msg(aw_val e);

#endif
