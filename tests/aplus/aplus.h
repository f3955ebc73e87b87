/*
 * tests/aplus/aplus.h — the Promises/A+ 1.1 compliance suite, ported to C.
 *
 * The original is github.com/promises-aplus/promises-tests (lib/tests/2.1.2.js
 * ... 2.3.4.js and lib/tests/helpers/{testThreeCases,thenables,reasons}.js).
 * Every `describe`/`specify` of those files becomes a *group*: a body function
 * plus up to three parameter dimensions (the original's forEach over reasons,
 * thenables, values ...) and a *mode* that says how the body is run, as the
 * original's helpers do:
 *
 *   M_ONCE       one case (a plain `specify`)
 *   M_FULFILLED  testFulfilled: already-, immediately-, eventually-fulfilled
 *   M_REJECTED   testRejected:  already-, immediately-, eventually-rejected
 *   M_VIA        testPromiseResolution (2.3.x): via return from a fulfilled
 *                promise, via return from a rejected promise
 *
 * main.c expands every group into the cross product of its dimensions and its
 * mode, one cmocka test per row (cmocka's prestate points at the row).
 *
 * Each case gets a fresh context: its own loop, fresh sentinel objects, spies
 * (handlers that count, log and check their argument) and a list of what it
 * holds. The body sets up; the loop runs; then the runner checks what the body
 * declared (done() called exactly once unless said otherwise, every spy's call
 * count, the recorded failures of checks made inside callbacks), releases
 * everything, frees the loop and checks that no object is left alive.
 *
 * Checks inside callbacks never longjmp out of the loop (cmocka's assert_*
 * would): they record the first failure in the context, and the runner fails
 * the case after cleaning up, so a failing case cannot leak into the next.
 *
 * Ported from the files as stored from promises-aplus/promises-tests (and, for
 * 2.3.1.js, which that copy lacks, and to check 2.2.6.js, the port of the same
 * files in 3fuyang/promises-test-vitest-port). The binary prints its count:
 * 820 cases, 734 of them one-to-one ports of an original case and 86 on a row
 * marked [C]: C analogues of JavaScript-only rows, or C kinds of values the
 * original has no counterpart for. What is not ported, and why, is said where
 * it would have been (sec2_1_2_2.c, sec2_3.c, harness.c).
 */
#ifndef APLUS_H
#define APLUS_H

#include <aw.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Timer delays. The original uses 0, 15, 50, 100 and 150 ms; these keep the
 * order and make the suite fast. No case asserts on time: where the order of
 * two timers matters, the one that must fire first is created first and has
 * the shorter (or the same) delay, so load can only make the later one later.
 */
enum { T0 = 0, T15 = 2, T50 = 4, T100 = 8, T150 = 12 };

typedef struct ctx ctx;
typedef struct spy spy;

/* ---- the table ------------------------------------------------------------ */

enum mode { M_ONCE, M_FULFILLED, M_REJECTED, M_VIA };

typedef struct dim {
  int n;
  const char *const *names;
} dim;

typedef struct group {
  const char *title;
  enum mode mode;
  void (*body)(ctx *c);
  const dim *dims[3]; /* outermost first; unused entries NULL */
} group;

typedef struct group_table {
  const group *groups;
  size_t n;
} group_table;

extern const group_table aplus_2_1_groups, aplus_2_2_groups, aplus_2_3_groups;

typedef struct acase {
  const group *g;
  int ix[3];   /* index into each dimension */
  int setting; /* the mode's index: 0..2 for the three cases, 0..1 for M_VIA */
  char *name;
} acase;

void aplus_run_case(void **state);

/* ---- spies: handlers that record ---------------------------------------- */

struct spy {
  ctx *c;
  const char *name;
  char id; /* appended to the context's log when called (0: not logged) */
  int calls;
  int expect;         /* calls expected once the loop is done; -1: not checked */
  const aw_val *want; /* if set, every call must receive this value (===) */
  const aw_val *ret;  /* returned (a new reference); NULL returns undefined */
  bool throws;        /* throw *ret instead of returning it */
  bool calls_done;    /* call done() */
  bool semi;          /* count towards c->semi; done() when it reaches 3 */
  void (*also)(ctx *c, spy *s, aw_val v);
};

spy *spy_new(ctx *c, const char *name, char id, int expect);
/* The handler for any spy: arg is the spy. */
aw_val spy_fn(aw_loop *L, aw_val v, void *arg);
/* then(p, f, r) with two spies (either may be NULL): aw_promise_then takes one
 * arg for both handlers, so the pair is boxed. Returns the derived promise
 * (held by the context, borrowed). */
aw_promise *then2(ctx *c, aw_promise *p, spy *f, spy *r);
/* then(p, fn, NULL) / then(p, NULL, fn) with the context as arg; held, borrowed. */
aw_promise *then_f(ctx *c, aw_promise *p, aw_then_fn fn);
aw_promise *then_r(ctx *c, aw_promise *p, aw_then_fn fn);

/* ---- the context ------------------------------------------------------------ */

#define MAX_SPIES 12
#define MAX_PAIRS 12

typedef struct later_rec later_rec;
typedef struct pair {
  spy *f, *r;
} pair;

struct ctx {
  aw_loop *L;
  const acase *k;
  int ix[3];
  int setting;

  /* The original's sentinels: distinct objects, compared by identity. */
  aw_val dummy, sentinel, other, sentinel2, sentinel3;
  aw_val sentinel_array; /* [sentinel] */

  int done, expect_done;
  int semi;
  int fails;
  char failmsg[512];
  char log[64];
  size_t nlog;

  spy spies[MAX_SPIES];
  int nspies;
  pair pairs[MAX_PAIRS];
  int npairs;

  aw_val *held;
  size_t nheld, capheld;
  later_rec *laters;

  /* Scratch for bodies. */
  bool flag;
  int count;
  aw_promise *P, *P2;     /* borrowed (held) */
  aw_promise *via_p;      /* the promise of testPromiseResolution (borrowed) */
  aw_val value;           /* the case's value or reason (held) */
  const aw_val *want;     /* what test_fulfils_with/test_rejects_with expect */
  aw_val x;               /* x, where the case compares against it (held) */
  aw_resolver *saved;     /* saving and abusing: a retained resolver */
  aw_val (*xf)(ctx *c);   /* xFactory for M_VIA */
  aw_val (*yf)(ctx *c);   /* yFactory */
  const struct xkind *xk; /* the scripted x of 2.3.3 */
  const void *data;       /* per-group data */
};

void failf(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define CHECK(c, cond)                                                                             \
  ((cond) ? (void)0 : failf((c), "%s:%d: check failed: %s", __FILE__, __LINE__, #cond))

void done(ctx *c);
void log_push(ctx *c, char ch);
/* JavaScript's ===, for the values the suite uses (objects by identity). */
bool same(aw_val a, aw_val b);

/* Keeps v (consumed) until the case ends; returns it (borrowed). */
aw_val hold(ctx *c, aw_val v);
aw_promise *hold_p(ctx *c, aw_promise *p);

/* ---- values ---------------------------------------------------------------- */

/* A fresh plain object: a user object whose class has no then. */
aw_val plain_object(const char *name);

/* reasons.js (and C additions): NREASONS rejection reasons. */
enum { NREASONS = 16 };
extern const dim reasons_dim;
aw_val make_reason(ctx *c, int i);

/* thenables.js: NFULFILLED thenables for a value, then NREJECTED for a reason. */
enum { NFULFILLED = 7, NREJECTED = 6, NTHENABLES = NFULFILLED + NREJECTED };
extern const dim thenables_fulfilled_dim, thenables_all_dim;
/* Thenable i of thenables_all_dim (fulfilled ones first) for v (consumed). */
aw_val make_thenable(ctx *c, int i, aw_val v);

/* ---- user thenables ----------------------------------------------------------- */

/* The payload of every thenable of the suite. */
typedef struct thenable {
  ctx *c;
  aw_val value;     /* what it settles with (owned) */
  int calls;        /* times its then ran */
  int expect_calls; /* checked when it is freed; -1: not checked */
  const struct xkind *xk;
} thenable;

aw_val thenable_new(ctx *c, const aw_class *cls, aw_val value, int expect_calls);
static inline thenable *thenable_of(aw_val v) { return aw_object_data(v.u.o); }

/* The start of every then operation of the suite: counts the call. */
#define THEN_PROLOGUE                                                                              \
  (void)L;                                                                                         \
  thenable *t = aw_object_data(self);                                                              \
  ctx *c = t->c;                                                                                   \
  t->calls++;                                                                                      \
  (void)c
void thenable_finalize(aw_obj *o);
/* A thenable whose then never settles anything (reasons.js). */
extern const aw_class always_pending_class;

/* ---- timers -------------------------------------------------------------------- */

/* A deferred action: fn(c, target, v) in ms milliseconds; target (a reference,
 * consumed, may be NULL) and v (consumed) are released after. */
typedef void (*later_fn)(ctx *c, aw_obj *target, aw_val v);
void later(ctx *c, int64_t ms, later_fn fn, aw_obj *target, aw_val v);

void l_done(ctx *c, aw_obj *t, aw_val v);
void l_resolve(ctx *c, aw_obj *t, aw_val v);   /* aw_promise_resolve(t, v) */
void l_reject(ctx *c, aw_obj *t, aw_val v);    /* aw_promise_reject(t, v) */
void l_r_resolve(ctx *c, aw_obj *t, aw_val v); /* aw_resolver_resolve(t, v) */
void l_r_reject(ctx *c, aw_obj *t, aw_val v);  /* aw_resolver_reject(t, v) */

static inline aw_obj *ref(void *o) { return (aw_obj *)aw_retain(o); }

/* ---- testThreeCases.js and testPromiseResolution ------------------------------- */

typedef void (*test_fn)(ctx *c, aw_promise *p);
/* testFulfilled/testRejected, by c->setting; value is consumed. */
void three(ctx *c, bool fulfil, aw_val value, test_fn test);
/* testPromiseResolution, by c->setting, with xFactory c->xf. */
void via(ctx *c, test_fn test);

/* Common tests. */
void test_fulfils_with(ctx *c, aw_promise *p); /* then(v === *c->want; done) */
void test_rejects_with(ctx *c, aw_promise *p); /* then(null, r === *c->want; done) */

#endif
