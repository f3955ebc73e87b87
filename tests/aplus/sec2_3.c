/*
 * tests/aplus/sec2_3.c — Promises/A+ 2.3, the promise resolution procedure:
 * lib/tests/2.3.1.js ... 2.3.4.js, with helpers/thenables.js and reasons.js.
 *
 * Every 2.3 case runs the original's testPromiseResolution: `promise` is the
 * promise of resolved(dummy).then(() => x) or rejected(dummy).then(null,
 * () => x), and x comes from an xFactory (c->xf), called in the handler.
 *
 * The `x` thenables of 2.3.3 are scripts (struct xkind): a list of steps its
 * then performs, in order, synchronously or from a setTimeout(0) — call
 * resolvePromise or rejectPromise with a value, throw, save the resolver —
 * plus, optionally, a deferred created with the thenable that settles with
 * `sentinel` after 50 ms (scaled). The tables below are the original's
 * describes, one row each, in its order.
 *
 * Not ported:
 *  - 2.3.3.2 (If retrieving the property `x.then` results in a thrown
 *    exception `e`, reject `promise` with `e`), all 11 reasons: a C thenable's
 *    then is an operation of its class, read by no getter; there is no
 *    retrieval that could throw.
 *  - 2.3.3.3 "Uses the original value of `then`": its getter returns the
 *    function on every retrieval (the counter it tests is never incremented),
 *    and the C analogue — the then seen when x was resolved is the one called
 *    — has no meaning either: an aw_class is const and an object's class
 *    never changes.
 *  - "an object with a throwing `then` accessor" of thenables.rejected (see
 *    harness.c), so "`y` is a thenable" has 7 + 6 variants, not 7 + 7.
 *
 * Mapped to C analogues (rows marked [C]):
 *  - 2.3.3.1 crosses "`x` is an object with null prototype / with normal
 *    Object.prototype / a function", whose getters count retrievals of then.
 *    C has one kind of thenable object, so the three rows are the three ways
 *    one can be built or held: a payload and a finaliser, handed over; no
 *    payload and no finaliser; and shared with the test. Each asserts that
 *    then ran exactly once when `promise` fulfils.
 *  - 2.3.3.4 (If `then` is not a function, fulfill promise with `x`): `then`
 *    is `5`, an object, an array containing a function, a regular expression,
 *    an object inheriting from Function.prototype. In C an object is a
 *    thenable exactly when its class has a then operation, so the rows are
 *    five objects that are not thenables: a user object whose class has no
 *    then, an array containing a thenable, an error, a string, a buffer.
 *  - 2.3.4's "`true` with `Boolean.prototype` modified to have a `then`
 *    method" and "`1` with `Number.prototype` ...": C values have no
 *    prototypes. The C way for a non-object value to lead to a thenable is a
 *    borrowed pointer (AW_TAG_PTR) to one; it must not be adopted either.
 */
#include "aplus.h"

#include <string.h>

/* ---- scripted thenables (the `x` of 2.3.3) ---------------------------------- */

typedef struct step {
  char op;   /* 'f' resolvePromise, 'r' rejectPromise, 't' throw, 's' save the
                resolver, 'c' check `this` and the arguments */
  char when; /* 's' synchronously, 'a' from a setTimeout(0) */
  char what; /* 'S' sentinel, 'O' other, 'D' the deferred, 'Y' yFactory(),
                'R' the case's reason, 'U' undefined */
} step;

typedef struct xkind {
  step steps[4]; /* up to the first op 0 */
  char deferred; /* 0, or 'f'/'r': a deferred that fulfils/rejects with sentinel */
  char outcome;  /* 'f': `promise` fulfils with sentinel, 'r': rejects with it */
} xkind;

static aw_val what(ctx *c, thenable *t, char w) {
  switch (w) {
  case 'S':
    return aw_retain_val(c->sentinel);
  case 'O':
    return aw_retain_val(c->other);
  case 'D':
    return aw_retain_val(t->value);
  case 'R':
    return aw_retain_val(c->value);
  case 'Y':
    return c->yf(c);
  default:
    return aw_undefined();
  }
}

/* setTimeout(function () { resolvePromise(yFactory()); }, 0): y is made then. */
static void l_r_resolve_y(ctx *c, aw_obj *t, aw_val v) {
  (void)v;
  CHECK(c, aw_resolver_resolve((aw_resolver *)t, c->yf(c)) == 0);
}

static aw_val scripted_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  THEN_PROLOGUE;
  c->count++;
  for (const step *s = t->xk->steps; s < t->xk->steps + 4 && s->op; s++) {
    switch (s->op) {
    case 'c': /* Calls with `x` as `this` and two function arguments */
      CHECK(c, self == c->data);
      CHECK(c, r != NULL && ((aw_obj *)r)->type == AW_T_RESOLVER);
      CHECK(c, aw_resolver_promise(r) == c->via_p);
      break;
    case 's':
      aw_release(c->saved);
      c->saved = aw_retain(r);
      break;
    case 't':
      return aw_throw(what(c, t, s->what));
    case 'f':
    case 'r':
      if (s->when == 'a' && s->what == 'Y')
        later(c, T0, l_r_resolve_y, ref(r), aw_undefined());
      else if (s->when == 'a')
        later(c, T0, s->op == 'f' ? l_r_resolve : l_r_reject, ref(r), what(c, t, s->what));
      else if (s->op == 'f')
        CHECK(c, aw_resolver_resolve(r, what(c, t, s->what)) == 0);
      else
        CHECK(c, aw_resolver_reject(r, what(c, t, s->what)) == 0);
      break;
    }
  }
  return aw_undefined();
}

static const aw_class scripted_class = {"scripted thenable x", thenable_finalize, scripted_then};

/* xFactory for c->xk. Its then must run exactly once. */
static aw_val xf_scripted(ctx *c) {
  const xkind *k = c->xk;
  aw_val d = aw_undefined();
  if (k->deferred) {
    aw_promise *dp = aw_promise_new(c->L);
    later(c, T50, k->deferred == 'f' ? l_resolve : l_reject, ref(dp), aw_retain_val(c->sentinel));
    d = aw_obj_val(dp);
  }
  aw_val x = thenable_new(c, &scripted_class, d, 1);
  thenable_of(x)->xk = k;
  c->data = x.u.o;
  return x;
}

static void via_outcome(ctx *c, char outcome) {
  c->xf = xf_scripted;
  via(c, outcome == 'f' ? test_fulfils_with : test_rejects_with);
}

/* ===== 2.3.1: If `promise` and `x` refer to the same object, reject `promise` with a
 * `TypeError' as the reason. ===== */

static aw_val xf_self(ctx *c) { return aw_obj_val(aw_retain(c->via_p)); }

static void check_type_error(ctx *c, spy *s, aw_val v) {
  (void)s;
  aw_error *e = aw_as_error(v);
  CHECK(c, e != NULL && strcmp(e->name, "TypeError") == 0);
}
static void t_2_3_1(ctx *c, aw_promise *p) {
  spy *f = spy_new(c, "onFulfilled (unexpected)", 0, 0);
  spy *r = spy_new(c, "onRejected", 0, 1);
  r->also = check_type_error;
  r->calls_done = true;
  then2(c, p, f, r);
}
static void b_2_3_1(ctx *c) {
  c->xf = xf_self;
  via(c, t_2_3_1);
}

/* ===== 2.3.2: If `x` is a promise, adopt its state ===== */

/* 2.3.2.1: If `x` is pending, `promise` must remain pending until `x` is fulfilled or
 * rejected. */
static aw_val xf_pending(ctx *c) { return aw_obj_val(aw_promise_new(c->L)); }
static void l_check_still_pending(ctx *c, aw_obj *t, aw_val v) {
  (void)t;
  (void)v;
  CHECK(c, c->spies[0].calls == 0); /* wasFulfilled === false */
  CHECK(c, c->spies[1].calls == 0); /* wasRejected === false */
  done(c);
}
static void t_2_3_2_1(ctx *c, aw_promise *p) {
  spy *f = spy_new(c, "onPromiseFulfilled", 0, 0);
  spy *r = spy_new(c, "onPromiseRejected", 0, 0);
  then2(c, p, f, r);
  later(c, T100, l_check_still_pending, NULL, aw_undefined());
}
static void b_2_3_2_1(ctx *c) {
  c->xf = xf_pending;
  via(c, t_2_3_2_1);
}

/* 2.3.2.2 / 2.3.2.3: `x` is already-/eventually-fulfilled/rejected, with sentinel. */
static aw_val xf_already_fulfilled(ctx *c) {
  return aw_obj_val(aw_promise_resolved(c->L, aw_retain_val(c->sentinel)));
}
static aw_val xf_already_rejected(ctx *c) {
  return aw_obj_val(aw_promise_rejected(c->L, aw_retain_val(c->sentinel)));
}
static aw_val xf_eventually(ctx *c, later_fn settle) {
  aw_promise *d = aw_promise_new(c->L);
  later(c, T50, settle, ref(d), aw_retain_val(c->sentinel));
  return aw_obj_val(d);
}
static aw_val xf_eventually_fulfilled(ctx *c) { return xf_eventually(c, l_resolve); }
static aw_val xf_eventually_rejected(ctx *c) { return xf_eventually(c, l_reject); }

static void b_2_3_2_2_already(ctx *c) {
  c->xf = xf_already_fulfilled;
  c->want = &c->sentinel;
  via(c, test_fulfils_with);
}
static void b_2_3_2_2_eventually(ctx *c) {
  c->xf = xf_eventually_fulfilled;
  c->want = &c->sentinel;
  via(c, test_fulfils_with);
}
static void b_2_3_2_3_already(ctx *c) {
  c->xf = xf_already_rejected;
  c->want = &c->sentinel;
  via(c, test_rejects_with);
}
static void b_2_3_2_3_eventually(ctx *c) {
  c->xf = xf_eventually_rejected;
  c->want = &c->sentinel;
  via(c, test_rejects_with);
}

/* ===== 2.3.3: Otherwise, if `x` is an object or function, ===== */

/* 2.3.3.1: Let `then` be `x.then` — then runs once; the C shapes of x. */
static const char *const shape_names[] = {
    "[C] `x` is a user object with a payload and a finaliser, handed over",
    "[C] `x` is a user object with no payload and no finaliser",
    "[C] `x` is a user object the test holds a reference to as well",
};
static const dim shapes_dim = {3, shape_names};

static const xkind x_fulfil_undefined = {{{'f', 's', 'U'}}, 0, 'f'};

static ctx *bare_ctx; /* a thenable without payload has nowhere else to find it */
static aw_val bare_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  (void)L;
  (void)self;
  bare_ctx->count++;
  CHECK(bare_ctx, aw_resolver_resolve(r, aw_undefined()) == 0); /* onFulfilled() */
  return aw_undefined();
}
static const aw_class bare_class = {"thenable without payload", NULL, bare_then};

static aw_val xf_shape(ctx *c) {
  switch (c->ix[0]) {
  case 0:
    return xf_scripted(c);
  case 1:
    bare_ctx = c;
    return aw_obj_val(aw_object_new(&bare_class, 0));
  default: {
    aw_val x = xf_scripted(c);
    hold(c, aw_retain_val(x));
    return x;
  }
  }
}
static aw_val h_then_ran_once(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  ctx *c = arg;
  if (c->count != 1)
    failf(c, "then ran %d times before `promise` fulfilled, expected 1", c->count);
  done(c);
  return aw_undefined();
}
static void t_2_3_3_1(ctx *c, aw_promise *p) { then_f(c, p, h_then_ran_once); }
static void b_2_3_3_1(ctx *c) {
  c->xk = &x_fulfil_undefined;
  c->xf = xf_shape;
  via(c, t_2_3_3_1);
}

/* 2.3.3.3: Calls with `x` as `this` and two function arguments: in C, then
 * receives x itself as self, and a resolver whose promise is `promise`. */
static const xkind x_check_this = {{{'c', 0, 0}, {'f', 's', 'U'}}, 0, 'f'};
static void b_2_3_3_3_this(ctx *c) {
  c->xk = &x_check_this;
  c->want = &c->value; /* undefined */
  via_outcome(c, 'f');
}

/* 2.3.3.3.1: If/when `resolvePromise` is called with value `y`, run `[[Resolve]](promise, y)` */
static const char *const resolve_when_names[] = {
    "`then` calls `resolvePromise` synchronously",
    "`then` calls `resolvePromise` asynchronously",
};
static const dim resolve_when_dim = {2, resolve_when_names};
static const xkind x_resolve_y[2] = {
    {{{'f', 's', 'Y'}}, 0, 0},
    {{{'f', 'a', 'Y'}}, 0, 0},
};

/* `y` is not a thenable */
static const char *const y_value_names[] = {
    "`y` is `undefined`",  "`y` is `null`",
    "`y` is `false`",      "`y` is `5`",
    "`y` is an object",    "`y` is an array",
    "[C] `y` is a string", "[C] `y` is a borrowed pointer (AW_TAG_PTR) to a thenable",
};
static const dim y_value_dim = {8, y_value_names};

static aw_val yf_value(ctx *c) { return aw_retain_val(c->value); }

static void b_y_value(ctx *c) {
  aw_val th;
  switch (c->ix[0]) {
  case 0:
    c->value = aw_undefined();
    break;
  case 1:
    c->value = aw_null();
    break;
  case 2:
    c->value = aw_bool(false);
    break;
  case 3:
    c->value = aw_int(5);
    break;
  case 4:
    c->value = aw_retain_val(c->sentinel);
    break;
  case 5:
    c->value = aw_retain_val(c->sentinel_array);
    break;
  case 6:
    c->value = aw_string("y");
    break;
  default:
    /* A thenable that would fulfil with `other`: the pointer must be taken
     * as it is, so its then must never run. */
    th = hold(c, make_thenable(c, 0, aw_retain_val(c->other)));
    thenable_of(th)->expect_calls = 0;
    c->value = aw_ptr(th.u.o);
    break;
  }
  c->want = &c->value;
  c->yf = yf_value;
  c->xk = &x_resolve_y[c->ix[1]];
  via_outcome(c, 'f');
}

/* `y` is a thenable */
static aw_val yf_thenable(ctx *c) { return make_thenable(c, c->ix[0], aw_retain_val(c->sentinel)); }
static void b_y_thenable(ctx *c) {
  c->want = &c->sentinel;
  c->yf = yf_thenable;
  c->xk = &x_resolve_y[c->ix[1]];
  via_outcome(c, c->ix[0] < NFULFILLED ? 'f' : 'r');
}

/* `y` is a thenable for a thenable: outer (fulfilled) for inner (any) */
static aw_val yf_thenable_for_thenable(ctx *c) {
  return make_thenable(c, c->ix[0], make_thenable(c, c->ix[1], aw_retain_val(c->sentinel)));
}
static void b_y_thenable_for_thenable(ctx *c) {
  c->want = &c->sentinel;
  c->yf = yf_thenable_for_thenable;
  c->xk = &x_resolve_y[c->ix[2]];
  via_outcome(c, c->ix[1] < NFULFILLED ? 'f' : 'r');
}

/* 2.3.3.3.2: If/when `rejectPromise` is called with reason `r`, reject `promise` with `r` */
static const char *const reject_when_names[] = {
    "`then` calls `rejectPromise` synchronously",
    "`then` calls `rejectPromise` asynchronously",
};
static const dim reject_when_dim = {2, reject_when_names};
static const xkind x_reject_r[2] = {
    {{{'r', 's', 'R'}}, 0, 'r'},
    {{{'r', 'a', 'R'}}, 0, 'r'},
};
static void b_2_3_3_3_2(ctx *c) {
  c->value = make_reason(c, c->ix[0]);
  c->want = &c->value;
  c->xk = &x_reject_r[c->ix[1]];
  via_outcome(c, 'r');
}

/* 2.3.3.3.3: If both `resolvePromise` and `rejectPromise` are called, or multiple calls to
 * the same argument are made, the first call takes precedence, and any further calls are
 * ignored. */
static const char *const x3333_names[] = {
    "calling `resolvePromise` then `rejectPromise`, both synchronously",
    "calling `resolvePromise` synchronously then `rejectPromise` asynchronously",
    "calling `resolvePromise` then `rejectPromise`, both asynchronously",
    "calling `resolvePromise` with an asynchronously-fulfilled promise, then calling "
    "`rejectPromise`, both synchronously",
    "calling `resolvePromise` with an asynchronously-rejected promise, then calling "
    "`rejectPromise`, both synchronously",
    "calling `rejectPromise` then `resolvePromise`, both synchronously",
    "calling `rejectPromise` synchronously then `resolvePromise` asynchronously",
    "calling `rejectPromise` then `resolvePromise`, both asynchronously",
    "calling `resolvePromise` twice synchronously",
    "calling `resolvePromise` twice, first synchronously then asynchronously",
    "calling `resolvePromise` twice, both times asynchronously",
    "calling `resolvePromise` with an asynchronously-fulfilled promise, then calling it again, "
    "both times synchronously",
    "calling `resolvePromise` with an asynchronously-rejected promise, then calling it again, "
    "both times synchronously",
    "calling `rejectPromise` twice synchronously",
    "calling `rejectPromise` twice, first synchronously then asynchronously",
    "calling `rejectPromise` twice, both times asynchronously",
};
static const xkind x3333[] = {
    {{{'f', 's', 'S'}, {'r', 's', 'O'}}, 0, 'f'},   {{{'f', 's', 'S'}, {'r', 'a', 'O'}}, 0, 'f'},
    {{{'f', 'a', 'S'}, {'r', 'a', 'O'}}, 0, 'f'},   {{{'f', 's', 'D'}, {'r', 's', 'O'}}, 'f', 'f'},
    {{{'f', 's', 'D'}, {'r', 's', 'O'}}, 'r', 'r'}, {{{'r', 's', 'S'}, {'f', 's', 'O'}}, 0, 'r'},
    {{{'r', 's', 'S'}, {'f', 'a', 'O'}}, 0, 'r'},   {{{'r', 'a', 'S'}, {'f', 'a', 'O'}}, 0, 'r'},
    {{{'f', 's', 'S'}, {'f', 's', 'O'}}, 0, 'f'},   {{{'f', 's', 'S'}, {'f', 'a', 'O'}}, 0, 'f'},
    {{{'f', 'a', 'S'}, {'f', 'a', 'O'}}, 0, 'f'},   {{{'f', 's', 'D'}, {'f', 's', 'O'}}, 'f', 'f'},
    {{{'f', 's', 'D'}, {'f', 's', 'O'}}, 'r', 'r'}, {{{'r', 's', 'S'}, {'r', 's', 'O'}}, 0, 'r'},
    {{{'r', 's', 'S'}, {'r', 'a', 'O'}}, 0, 'r'},   {{{'r', 'a', 'S'}, {'r', 'a', 'O'}}, 0, 'r'},
};
_Static_assert(sizeof x3333 / sizeof x3333[0] == sizeof x3333_names / sizeof x3333_names[0],
               "x3333 tables");
static const dim x3333_dim = {sizeof x3333 / sizeof x3333[0], x3333_names};
static void b_2_3_3_3_3(ctx *c) {
  c->xk = &x3333[c->ix[0]];
  c->want = &c->sentinel;
  via_outcome(c, c->xk->outcome);
}

/* saving and abusing `resolvePromise` and `rejectPromise` */
static const xkind x_save = {{{'s', 0, 0}}, 0, 0};
static void abuse(ctx *c) {
  CHECK(c, aw_resolver_resolve(c->saved, aw_retain_val(c->dummy)) == 0);
  CHECK(c, aw_resolver_resolve(c->saved, aw_retain_val(c->dummy)) == 0);
  CHECK(c, aw_resolver_reject(c->saved, aw_retain_val(c->dummy)) == 0);
  CHECK(c, aw_resolver_reject(c->saved, aw_retain_val(c->dummy)) == 0);
}
static void l_abuse(ctx *c, aw_obj *t, aw_val v) {
  (void)t;
  (void)v;
  CHECK(c, c->saved != NULL); /* the original would throw calling null */
  if (c->saved)
    abuse(c);
}
static void l_abuse_check(ctx *c, aw_obj *t, aw_val v) {
  (void)t;
  (void)v;
  CHECK(c, c->spies[0].calls == 1); /* timesFulfilled === 1 */
  CHECK(c, c->spies[1].calls == 0); /* timesRejected === 0 */
  done(c);
}
static void t_abuse(ctx *c, aw_promise *p) {
  spy *f = spy_new(c, "onFulfilled", 0, 1);
  spy *r = spy_new(c, "onRejected", 0, 0);
  then2(c, p, f, r);
  if (c->saved) /* never yet: then runs in a later job */
    abuse(c);
  later(c, T50, l_abuse, NULL, aw_undefined());
  later(c, T100, l_abuse_check, NULL, aw_undefined());
}
static void b_2_3_3_3_3_abuse(ctx *c) {
  c->xk = &x_save;
  c->xf = xf_scripted;
  via(c, t_abuse);
}

/* 2.3.3.3.4: If calling `then` throws an exception `e`, */
static const char *const x33341_names[] = {
    "`resolvePromise` was called with a non-thenable",
    "`resolvePromise` was called with an asynchronously-fulfilled promise",
    "`resolvePromise` was called with an asynchronously-rejected promise",
    "`rejectPromise` was called",
    "`resolvePromise` then `rejectPromise` were called",
    "`rejectPromise` then `resolvePromise` were called",
};
static const xkind x33341[] = {
    {{{'f', 's', 'S'}, {'t', 0, 'O'}}, 0, 'f'},
    {{{'f', 's', 'D'}, {'t', 0, 'O'}}, 'f', 'f'},
    {{{'f', 's', 'D'}, {'t', 0, 'O'}}, 'r', 'r'},
    {{{'r', 's', 'S'}, {'t', 0, 'O'}}, 0, 'r'},
    {{{'f', 's', 'S'}, {'r', 's', 'O'}, {'t', 0, 'O'}}, 0, 'f'},
    {{{'r', 's', 'S'}, {'f', 's', 'O'}, {'t', 0, 'O'}}, 0, 'r'},
};
_Static_assert(sizeof x33341 / sizeof x33341[0] == sizeof x33341_names / sizeof x33341_names[0],
               "x33341 tables");
static const dim x33341_dim = {sizeof x33341 / sizeof x33341[0], x33341_names};
static void b_2_3_3_3_4_1(ctx *c) {
  c->xk = &x33341[c->ix[0]];
  c->want = &c->sentinel;
  via_outcome(c, c->xk->outcome);
}

static const char *const x33342_names[] = {
    "straightforward case",
    "`resolvePromise` is called asynchronously before the `throw`",
    "`rejectPromise` is called asynchronously before the `throw`",
};
static const xkind x33342[] = {
    {{{'t', 0, 'S'}}, 0, 'r'},
    {{{'f', 'a', 'O'}, {'t', 0, 'S'}}, 0, 'r'},
    {{{'r', 'a', 'O'}, {'t', 0, 'S'}}, 0, 'r'},
};
_Static_assert(sizeof x33342 / sizeof x33342[0] == sizeof x33342_names / sizeof x33342_names[0],
               "x33342 tables");
static const dim x33342_dim = {sizeof x33342 / sizeof x33342[0], x33342_names};
static void b_2_3_3_3_4_2(ctx *c) {
  c->xk = &x33342[c->ix[0]];
  c->want = &c->sentinel;
  via_outcome(c, c->xk->outcome);
}

/* 2.3.3.4: If `then` is not a function, fulfill promise with `x` */
static const char *const not_thenable_names[] = {
    "[C] `x` is a user object whose class has no then",
    "[C] `x` is an array containing a thenable",
    "[C] `x` is an error",
    "[C] `x` is a string",
    "[C] `x` is a buffer",
};
static const dim not_thenable_dim = {5, not_thenable_names};
static aw_val xf_x(ctx *c) { return aw_retain_val(c->x); }
static void b_2_3_3_4(ctx *c) {
  aw_array *a;
  aw_val th;
  switch (c->ix[0]) {
  case 0:
    c->x = plain_object("x");
    break;
  case 1:
    th = make_thenable(c, 0, aw_retain_val(c->other));
    thenable_of(th)->expect_calls = 0; /* an element is not adopted */
    a = aw_array_new(1);
    aw_array_push(a, th);
    c->x = aw_obj_val(a);
    break;
  case 2:
    c->x = aw_obj_val(aw_error_new("Error", "x"));
    break;
  case 3:
    c->x = aw_string("x");
    break;
  default:
    c->x = aw_obj_val(aw_buf_from("x", 1));
    break;
  }
  c->xf = xf_x;
  c->want = &c->x;
  via(c, test_fulfils_with);
}

/* ===== 2.3.4: If `x` is not an object or function, fulfill `promise` with `x` ===== */

static const char *const primitive_names[] = {
    "The value is `undefined`",
    "The value is `null`",
    "The value is `false`",
    "The value is `true`",
    "The value is `0`",
    "[C] The value is a borrowed pointer to a thenable (for: `true` with `Boolean.prototype` "
    "modified to have a `then` method)",
    "[C] The value is a borrowed pointer to a pending promise (for: `1` with `Number.prototype` "
    "modified to have a `then` method)",
};
static const dim primitive_dim = {7, primitive_names};

static aw_val h_return_value(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  return aw_retain_val(((ctx *)arg)->value);
}
static void t_2_3_4_f(ctx *c, aw_promise *p1) {
  test_fulfils_with(c, then_f(c, p1, h_return_value));
}
static void t_2_3_4_r(ctx *c, aw_promise *p1) {
  test_fulfils_with(c, then_r(c, p1, h_return_value));
}
static void primitive(ctx *c) {
  aw_val th;
  switch (c->ix[0]) {
  case 0:
    c->value = aw_undefined();
    break;
  case 1:
    c->value = aw_null();
    break;
  case 2:
    c->value = aw_bool(false);
    break;
  case 3:
    c->value = aw_bool(true);
    break;
  case 4:
    c->value = aw_int(0);
    break;
  case 5:
    th = hold(c, make_thenable(c, 0, aw_retain_val(c->other)));
    thenable_of(th)->expect_calls = 0;
    c->value = aw_ptr(th.u.o);
    break;
  default:
    c->value = aw_ptr(hold_p(c, aw_promise_new(c->L)));
    break;
  }
  c->want = &c->value;
}
static void b_2_3_4_f(ctx *c) {
  primitive(c);
  three(c, true, aw_retain_val(c->dummy), t_2_3_4_f);
}
static void b_2_3_4_r(ctx *c) {
  primitive(c);
  three(c, false, aw_retain_val(c->dummy), t_2_3_4_r);
}

/* ---- the table ---------------------------------------------------------------------- */

static const group groups_2_3[] = {
    {"2.3.1: If `promise` and `x` refer to the same object, reject `promise` with a `TypeError' "
     "as the reason.",
     M_VIA,
     b_2_3_1,
     {NULL}},

    {"2.3.2.1: If `x` is pending, `promise` must remain pending until `x` is fulfilled or "
     "rejected.",
     M_VIA,
     b_2_3_2_1,
     {NULL}},
    {"2.3.2.2: If/when `x` is fulfilled, fulfill `promise` with the same value. `x` is "
     "already-fulfilled",
     M_VIA,
     b_2_3_2_2_already,
     {NULL}},
    {"2.3.2.2: If/when `x` is fulfilled, fulfill `promise` with the same value. `x` is "
     "eventually-fulfilled",
     M_VIA,
     b_2_3_2_2_eventually,
     {NULL}},
    {"2.3.2.3: If/when `x` is rejected, reject `promise` with the same reason. `x` is "
     "already-rejected",
     M_VIA,
     b_2_3_2_3_already,
     {NULL}},
    {"2.3.2.3: If/when `x` is rejected, reject `promise` with the same reason. `x` is "
     "eventually-rejected",
     M_VIA,
     b_2_3_2_3_eventually,
     {NULL}},

    {"2.3.3.1: Let `then` be `x.then`", M_VIA, b_2_3_3_1, {&shapes_dim}},
    {"2.3.3.3: If `then` is a function, call it with `x` as `this`, first argument "
     "`resolvePromise`, and second argument `rejectPromise`: Calls with `x` as `this` and two "
     "function arguments",
     M_VIA,
     b_2_3_3_3_this,
     {NULL}},
    {"2.3.3.3.1: If/when `resolvePromise` is called with value `y`, run `[[Resolve]](promise, y)`",
     M_VIA,
     b_y_value,
     {&y_value_dim, &resolve_when_dim}},
    {"2.3.3.3.1: `y` is a thenable", M_VIA, b_y_thenable, {&thenables_all_dim, &resolve_when_dim}},
    {"2.3.3.3.1: `y` is a thenable for a thenable",
     M_VIA,
     b_y_thenable_for_thenable,
     {&thenables_fulfilled_dim, &thenables_all_dim, &resolve_when_dim}},
    {"2.3.3.3.2: If/when `rejectPromise` is called with reason `r`, reject `promise` with `r`. "
     "`r` is",
     M_VIA,
     b_2_3_3_3_2,
     {&reasons_dim, &reject_when_dim}},
    {"2.3.3.3.3: If both `resolvePromise` and `rejectPromise` are called, or multiple calls to the "
     "same argument are made, the first call takes precedence, and any further calls are ignored.",
     M_VIA,
     b_2_3_3_3_3,
     {&x3333_dim}},
    {"2.3.3.3.3: saving and abusing `resolvePromise` and `rejectPromise`",
     M_VIA,
     b_2_3_3_3_3_abuse,
     {NULL}},
    {"2.3.3.3.4.1: If `resolvePromise` or `rejectPromise` have been called, ignore it.",
     M_VIA,
     b_2_3_3_3_4_1,
     {&x33341_dim}},
    {"2.3.3.3.4.2: Otherwise, reject `promise` with `e` as the reason.",
     M_VIA,
     b_2_3_3_3_4_2,
     {&x33342_dim}},
    {"2.3.3.4: If `then` is not a function, fulfill promise with `x`",
     M_VIA,
     b_2_3_3_4,
     {&not_thenable_dim}},

    {"2.3.4: If `x` is not an object or function, fulfill `promise` with `x`",
     M_FULFILLED,
     b_2_3_4_f,
     {&primitive_dim}},
    {"2.3.4: If `x` is not an object or function, fulfill `promise` with `x`",
     M_REJECTED,
     b_2_3_4_r,
     {&primitive_dim}},
};
const group_table aplus_2_3_groups = {groups_2_3, sizeof groups_2_3 / sizeof groups_2_3[0]};
