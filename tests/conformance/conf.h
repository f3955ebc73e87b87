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

#endif
