/*
 * tests/fault/prog_promise.c — promise-heavy: then/catch/finally chains, the
 * four combinators, async functions awaiting timers and each other with a
 * try/catch, an interval, immediates, microtasks and next ticks.
 */
#include "programs.h"

#include <stdio.h>

static aw_val h_add(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  return aw_int(v.u.i + (int64_t)(intptr_t)arg);
}

static aw_val h_throw(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v, (void)arg;
  return aw_throw(aw_err("Error", "thrown by a handler"));
}

static aw_val h_recover(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v, (void)arg;
  return aw_int(7);
}

static aw_val h_finally(aw_loop *L, void *arg) {
  (void)L;
  ++*(int *)arg;
  return aw_undefined();
}

/* A promise that a timer resolves with v after ms. */
typedef struct delayed {
  aw_promise *p;
  int64_t v;
} delayed;

static void resolve_delayed(aw_loop *L, void *arg) {
  (void)L;
  delayed *d = arg;
  aw_promise_resolve(d->p, aw_int(d->v));
  aw_release(d->p);
  d->p = NULL;
}

static aw_promise *sleep_value(aw_loop *L, delayed *d, int64_t ms, int64_t v) {
  aw_promise *p = aw_promise_new(L);
  d->p = aw_retain(p);
  d->v = v;
  if (!aw_set_timeout(L, ms, resolve_delayed, d)) {
    aw_release(d->p);
    d->p = NULL;
    aw_promise_reject(p, aw_err("Error", "no timer"));
  }
  return p;
}

/* async function inner(k) { await sleep(1); if (k == 2) throw ...; return k * 10 } */
typedef struct inner_frame {
  aw_frame frame;
  int k;
  delayed d;
} inner_frame;

static void inner_body(aw_loop *L, aw_frame *self) {
  inner_frame *f = (inner_frame *)self;
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, sleep_value(L, &f->d, 1, f->k));
  if (f->k == 2)
    AW_THROW(aw_err("RangeError", "k is %d", f->k));
  AW_RETURN(aw_int(v.u.i * 10));
  AW_END;
}

static aw_promise *inner(aw_loop *L, int k) {
  AW_ASYNC_NEW(L, inner_frame, inner_body, f);
  f->k = k;
  return aw_async_start(&f->frame);
}

/* async function outer(): awaits the combinators over inner() calls, with a try/catch. */
typedef struct outer_frame {
  aw_frame frame;
  int64_t sum;
} outer_frame;

static void outer_body(aw_loop *L, aw_frame *self) {
  outer_frame *f = (outer_frame *)self;
  AW_BEGIN(self);
  aw_val v, err;
  {
    aw_val xs[3] = {aw_obj_val(inner(L, 1)), aw_int(5), aw_obj_val(inner(L, 3))};
    AW_AWAIT(v, aw_promise_all(L, 3, xs));
    aw_release_val(v);
  }
  {
    aw_val xs[2] = {aw_obj_val(inner(L, 2)), aw_obj_val(inner(L, 4))};
    AW_AWAIT_CATCH(v, aw_promise_all(L, 2, xs), err, caught);
    aw_release_val(v);
    AW_THROW(aw_err("Error", "all should have rejected"));
  caught:
    aw_release_val(err);
  }
  {
    aw_val xs[2] = {aw_obj_val(inner(L, 5)), aw_obj_val(inner(L, 6))};
    AW_AWAIT(v, aw_promise_race(L, 2, xs));
    f->sum += v.u.i;
  }
  {
    aw_val xs[2] = {aw_obj_val(inner(L, 2)), aw_obj_val(inner(L, 8))};
    AW_AWAIT(v, aw_promise_any(L, 2, xs));
    f->sum += v.u.i;
  }
  {
    aw_val xs[2] = {aw_obj_val(inner(L, 2)), aw_int(1)};
    AW_AWAIT(v, aw_promise_all_settled(L, 2, xs));
    aw_release_val(v);
  }
  AW_RETURN(aw_int(f->sum));
  AW_END;
}

static aw_promise *outer(aw_loop *L) {
  AW_ASYNC_NEW(L, outer_frame, outer_body, f);
  return aw_async_start(&f->frame);
}

static int spawn_errors;

static aw_val on_spawn_error(aw_loop *L, aw_val reason, void *arg) {
  (void)L, (void)reason, (void)arg;
  spawn_errors++;
  return aw_undefined();
}

/* A detached task that throws (inner(2)): 0 once started. */
static int spawn_failing(aw_loop *L) {
  AW_ASYNC_NEW(L, inner_frame, inner_body, f);
  f->k = 2;
  return aw_async_spawn(&f->frame, on_spawn_error, NULL);
}

static int interval_ticks, finally_runs, immediates, microtasks;
static aw_timer interval;

static void on_interval(aw_loop *L, void *arg) {
  (void)arg;
  if (++interval_ticks == 3)
    aw_clear_timer(L, interval);
}

static void on_immediate(aw_loop *L, void *arg) {
  (void)L, (void)arg;
  immediates++;
}

static void on_microtask(aw_loop *L, void *arg) {
  (void)arg;
  if (++microtasks < 3)
    aw_queue_microtask(L, on_microtask, NULL);
  else if (microtasks < 5)
    aw_next_tick(L, on_microtask, NULL);
}

int prog_promise(void) {
  aw_loop *L = prog_loop(0);
  if (!L)
    return 0;
  tracker t = {0};
  interval_ticks = finally_runs = immediates = microtasks = spawn_errors = 0;

  aw_promise *base = track(&t, aw_promise_resolved(L, aw_int(1)));
  if (base) {
    aw_promise *a = track(&t, aw_promise_then(base, h_add, NULL, (void *)(intptr_t)2));
    aw_promise *b = a ? track(&t, aw_promise_then(a, h_throw, NULL, NULL)) : NULL;
    aw_promise *c = b ? track(&t, aw_promise_catch(b, h_recover, NULL)) : NULL;
    if (c)
      track(&t, aw_promise_finally(c, h_finally, &finally_runs));
  }
  aw_promise *o = track(&t, outer(L));
  if (o)
    aw_release(aw_promise_catch(o, h_ignore, NULL)); /* the check below reads its state */
  int spawned = spawn_failing(L);
  interval = aw_set_interval(L, 1, on_interval, NULL);
  aw_set_immediate(L, on_immediate, NULL);
  aw_set_immediate(L, on_immediate, NULL);
  aw_queue_microtask(L, on_microtask, NULL);

  int r = aw_loop_run(L);
  int bad = track_check(&t, "promise", r);
  if (!bad && r == 0 && o && aw_promise_state(o) == AW_FULFILLED &&
      aw_promise_result(o).u.i != 50 + 80) {
    fprintf(stderr, "promise: outer returned %lld\n", (long long)aw_promise_result(o).u.i);
    bad = 1;
  }
  if (spawned != 0) {
    fprintf(stderr, "promise: aw_async_spawn returned %d\n", spawned);
    bad = 1;
  }
  if (!bad && r == 0 && spawned == 0 && spawn_errors != 1) {
    fprintf(stderr, "promise: the spawned task's handler ran %d times\n", spawn_errors);
    bad = 1;
  }
  track_release(&t);
  aw_loop_free(L);
  return bad;
}
