/*
 * tests/difftest/awdiff.c — runs difftest programs (IR.md) on libawait.
 *
 *   awdiff [--check-leaks] [--only NAME] [FILE|-]
 *
 * The whole batch is parsed first (awdiff_parse.c); then each program runs in
 * a fresh loop, as a careful hand translation of its JavaScript would:
 * handlers, callbacks, executors, thenables and hooks are C functions whose
 * arg is the statement (or block) that made them, and every block invocation
 * is one run of the interpreter below over the block's flat statements.
 *
 * An invocation (struct inv) holds pc, arg, n, acc, cur, hookp and its try
 * stack. A sync block runs on the C stack. An async block is a libawait async
 * function: one generic body (abody) whose frame holds the invocation; the
 * interpreter returns RUN_AWAIT with the operand, the body awaits it and hands
 * the outcome back to the interpreter (AW_AWAIT_SETTLED); outside any try, a
 * rejection completes the function at once, as it would there (AW_AWAIT).
 *
 * Completions follow ECMA-262: an abrupt completion (throw or return) walks
 * the try stack: a throw in a body goes to its catch section; a body or catch
 * section with a finally section goes there holding the completion; a finally
 * section that completes abruptly drops the completion it held. The normal end
 * of a finally section resumes the completion it held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aw.h"
#include "awdiff.h"

/* ---- output ----------------------------------------------------------------------------- */

static char *obuf;
static size_t olen, ocap;

static void out_grow(size_t n) {
  if (olen + n <= ocap)
    return;
  size_t c = ocap ? ocap : 1 << 16;
  while (c < olen + n)
    c *= 2;
  obuf = realloc(obuf, c);
  if (!obuf) {
    fprintf(stderr, "awdiff: out of memory\n");
    exit(2);
  }
  ocap = c;
}
static void out_mem(const char *s, size_t n) {
  out_grow(n);
  memcpy(obuf + olen, s, n);
  olen += n;
}
static void out_s(const char *s) { out_mem(s, strlen(s)); }
static void out_c(char c) {
  out_grow(1);
  obuf[olen++] = c;
}
static void out_i(long long v) {
  char b[24];
  int n = snprintf(b, sizeof b, "%lld", v);
  out_mem(b, (size_t)n);
}
static void out_flush(void) {
  fwrite(obuf, 1, olen, stdout);
  fflush(stdout);
  olen = 0;
}

/* ---- the state of the program running ------------------------------------------------- */

static struct run {
  aw_loop *L;
  const dt_program *P;
  const dt_block *blocks;
  aw_val V[DT_NV];
  aw_obj *R[DT_NV]; /* a promise (newp) or a resolver (withres, tsave) */
  aw_timer TM[DT_NT];
  aw_immediate IM[DT_NT];
  int64_t CN[DT_NT];
  aw_signal *SG[DT_NT]; /* signals: an AbortController's (SGC) or a made one (timeout, any) */
  bool SGC[DT_NT];
  aw_val *strs; /* one string object per `s W` node, made when first evaluated */
  size_t nstrs;
  unsigned depth; /* nested block invocations on the C stack */
} G;

/* Node's stack holds about 10k frames; far fewer keep the C stack (ASan's too) safe. */
#define DT_MAX_DEPTH 2000

static void setV(uint32_t k, aw_val v) {
  aw_val old = G.V[k];
  G.V[k] = v;
  aw_release_val(old);
}
static void setSG(uint32_t k, aw_signal *s, bool controller) {
  if (!s) {
    fprintf(stderr, "awdiff: no signal\n");
    abort();
  }
  aw_signal *old = G.SG[k];
  G.SG[k] = s;
  G.SGC[k] = controller;
  aw_release(old);
}
static void setR(uint32_t k, aw_obj *o) {
  aw_obj *old = G.R[k];
  G.R[k] = o;
  aw_release(old);
}

/* resolve/reject through a slot or a cur: a promise's own functions or a resolver. v consumed. */
static void settle(aw_obj *o, aw_val v, bool reject) {
  if (!o) {
    aw_release_val(v);
  } else if (o->type == AW_T_PROMISE) {
    reject ? aw_promise_reject((aw_promise *)o, v) : aw_promise_resolve((aw_promise *)o, v);
  } else {
    /* every resolver the program holds settles a promise of the running loop */
    if (aw_promise_loop(aw_resolver_promise((aw_resolver *)o)) != G.L) {
      fprintf(stderr, "awdiff: a resolver of another loop\n");
      abort();
    }
    reject ? aw_resolver_reject((aw_resolver *)o, v) : aw_resolver_resolve((aw_resolver *)o, v);
  }
}

/* ---- show() ----------------------------------------------------------------------------- */

static const aw_class th_class;

static void show(aw_val v) {
  switch (aw_tag_of(v)) {
  case AW_TAG_UNDEFINED:
    out_s("undefined");
    return;
  case AW_TAG_NULL:
    out_s("null");
    return;
  case AW_TAG_BOOL:
    out_s(v.u.b ? "true" : "false");
    return;
  case AW_TAG_INT:
    out_i((long long)v.u.i);
    return;
  case AW_TAG_DOUBLE: {
    aw_str *s = aw_to_string(v);
    out_s(s ? s->data : "?");
    aw_release(s);
    return;
  }
  case AW_TAG_OBJ:
    break;
  default:
    out_s("object");
    return;
  }
  aw_obj *o = v.u.o;
  if (!o) {
    out_s("object");
    return;
  }
  switch (o->type) {
  case AW_T_PROMISE:
    out_s("promise");
    return;
  case AW_T_STRING:
    out_mem(((aw_str *)o)->data, ((aw_str *)o)->len);
    return;
  case AW_T_ERROR: {
    aw_error *e = (aw_error *)o;
    out_s(e->name);
    out_c(':');
    out_mem(e->message->data, e->message->len);
    if (e->errors) {
      out_c('[');
      for (uint32_t i = 0; i < e->errors->len; i++) {
        if (i)
          out_c(',');
        show(aw_caught(e->errors->items[i]));
      }
      out_c(']');
    }
    return;
  }
  case AW_T_ARRAY: {
    aw_array *a = (aw_array *)o;
    out_c('[');
    for (uint32_t i = 0; i < a->len; i++) {
      if (i)
        out_c(',');
      aw_val x = a->items[i];
      if (aw_is_thrown(x)) {
        out_s("{r:");
        show(aw_caught(x));
        out_c('}');
      } else {
        show(x);
      }
    }
    out_c(']');
    return;
  }
  case AW_T_USER:
    out_s(aw_object_class(o) == &th_class ? "thenable" : "object");
    return;
  default:
    out_s("object");
    return;
  }
}

/* ---- invocations ---------------------------------------------------------------------- */

enum { ST_BODY, ST_CATCH, ST_FINALLY };
enum { PK_NORMAL, PK_RETURN, PK_THROW };
enum { RUN_RETURN, RUN_THROW, RUN_AWAIT };

typedef struct tryent {
  uint32_t tpc;
  uint8_t state, pkind;
  aw_val pend; /* the completion a finally section holds (owned) */
} tryent;

typedef struct inv {
  const dt_block *blk;
  uint32_t pc;
  uint32_t depth; /* try entries in use */
  int64_t n;
  aw_val arg;         /* borrowed (sync) or owned (async frames) */
  aw_val acc;         /* owned */
  aw_obj *cur;        /* borrowed: a promise (executor) or a resolver (thenable's then) */
  aw_promise *hookp;  /* borrowed (sync) or owned (async frames) */
  uint8_t await_kind; /* S_AWAIT or S_RETAWAIT while suspended, else 0 */
  tryent *tries;
} inv;

static aw_val invoke(uint32_t b, aw_val arg, int64_t n, aw_obj *cur, aw_promise *hookp);

/* ---- thenables ---------------------------------------------------------------------------- */

static aw_val th_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  (void)L;
  uint32_t b = *(uint32_t *)aw_object_data(self);
  aw_val v = invoke(b, aw_undefined(), 0, (aw_obj *)r, NULL);
  if (aw_is_thrown(v))
    return v;
  aw_release_val(v);
  return aw_undefined();
}
/* "Object": an object literal, as JS's thenable is (an unhandled rejection names it #<Object>) */
static const aw_class th_class = {"Object", NULL, th_then};

/* ---- expressions ------------------------------------------------------------------------ */

static aw_val leaf(inv *s, const dt_ex *e) {
  switch (e->op) {
  case E_INT:
    return aw_int(e->num);
  case E_DBL: {
    double d;
    memcpy(&d, &e->num, sizeof d);
    return aw_double(d);
  }
  case E_STR: {
    aw_val *slot = &G.strs[e->num];
    if (!aw_is_obj(*slot))
      *slot = aw_string(aw_dt_chars + e->a);
    return aw_retain_val(*slot);
  }
  case E_UNDEF:
    return aw_undefined();
  case E_ERR:
    return aw_err("Error", "%s", aw_dt_chars + e->a);
  case E_ARG:
    return aw_retain_val(s->arg);
  case E_ACC:
    return aw_retain_val(s->acc);
  case E_N:
    return aw_int(s->n);
  case E_V:
    return aw_retain_val(G.V[e->a]);
  case E_TH: {
    aw_obj *o = aw_object_new(&th_class, sizeof(uint32_t));
    *(uint32_t *)aw_object_data(o) = e->a;
    return aw_obj_val(o);
  }
  case E_CALL:
    return invoke(e->a, aw_undefined(), e->num, NULL, NULL);
  case E_REC:
    return s->n > 0 ? invoke(e->a, aw_undefined(), s->n - 1, NULL, NULL) : aw_int(s->n);
  }
  return aw_undefined();
}

/* Evaluates the expression at *pi and moves *pi past it. A throw comes back marked thrown. */
static aw_val eval(inv *s, uint32_t *pi) {
  uint32_t i = *pi, j = i;
  while (aw_dt_ex[j].op == E_RES || aw_dt_ex[j].op == E_REJ)
    j++;
  *pi = j + 1;
  aw_val v = leaf(s, &aw_dt_ex[j]);
  if (aw_is_thrown(v))
    return v;
  while (j-- > i)
    v = aw_obj_val(aw_dt_ex[j].op == E_RES ? aw_promise_resolved(G.L, v)
                                           : aw_promise_rejected(G.L, v));
  return v;
}

/* ---- handlers and callbacks (arg: the statement) ---------------------------------------- */

static aw_val h_fulfilled(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  return invoke(((const dt_ins *)arg)->c, v, 0, NULL, NULL);
}
static aw_val h_rejected(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  return invoke(((const dt_ins *)arg)->d, v, 0, NULL, NULL);
}
static aw_val h_finally(aw_loop *L, void *arg) {
  (void)L;
  return invoke(((const dt_ins *)arg)->c, aw_undefined(), 0, NULL, NULL);
}
/* micro, tick, imm, timeout, interval: a throw is an uncaught exception, a promise is dropped. */
static void t_callback(aw_loop *L, void *arg) {
  aw_val v = invoke(((const dt_ins *)arg)->b, aw_undefined(), 0, NULL, NULL);
  if (aw_is_thrown(v))
    aw_uncaught(L, v);
  else
    aw_release_val(v);
}
/* ptry: Promise.try(() => bB(undefined, 0)) */
static aw_val p_try(aw_loop *L, void *arg) {
  (void)L;
  return invoke(((const dt_ins *)arg)->b, aw_undefined(), 0, NULL, NULL);
}
static aw_val x_executor(aw_loop *L, aw_promise *p, void *arg) {
  (void)L;
  const dt_ins *I = arg;
  setR(I->k, (aw_obj *)aw_retain(p));
  aw_val v = invoke(I->b, aw_undefined(), 0, (aw_obj *)p, NULL);
  if (aw_is_thrown(v))
    return v;
  aw_release_val(v);
  return aw_undefined();
}

/* Hook blocks never throw (IR.md); what one returns is dropped. */
static void hook_run(uint32_t b, aw_val arg, aw_promise *p) {
  aw_release_val(aw_caught(invoke(b, arg, 0, NULL, p)));
}
static void hk_unhandled(aw_loop *L, aw_val reason, aw_promise *p, void *arg) {
  (void)L;
  (void)arg;
  hook_run(G.P->hu, reason, p);
}
static void hk_handled(aw_loop *L, aw_promise *p, void *arg) {
  (void)L;
  (void)arg;
  hook_run(G.P->hh, aw_undefined(), p);
}
static void harness_imm(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
}

static void hk_uncaught(aw_loop *L, aw_val err, void *arg) {
  (void)L;
  (void)arg;
  if (G.P->hx != DT_NONE) {
    hook_run(G.P->hx, err, NULL);
    return;
  }
  out_s("uncaught ");
  show(err);
  out_c('\n');
}

/* spawn's on_error: the G block, as a hook (what it returns or throws is dropped). */
static aw_val sp_error(aw_loop *L, aw_val reason, void *arg) {
  (void)L;
  hook_run(((const dt_ins *)arg)->c, reason, NULL);
  return aw_undefined();
}

static bool spawn_task(const dt_ins *I);

/* ---- the interpreter -------------------------------------------------------------------- */

/*
 * An abrupt completion (kind, v owned) at the current point: true if a try
 * section takes it (pc set), false if the block completes with it (every try
 * entry popped).
 */
static bool unwind(inv *s, int kind, aw_val v) {
  const dt_ins *base = aw_dt_ins + s->blk->start;
  while (s->depth) {
    tryent *t = &s->tries[s->depth - 1];
    const dt_ins *ti = base + t->tpc;
    if (t->state == ST_BODY && kind == PK_THROW && ti->b != DT_NONE) {
      t->state = ST_CATCH;
      aw_release_val(s->acc);
      s->acc = v;
      s->pc = ti->b;
      return true;
    }
    if (t->state != ST_FINALLY && ti->c != DT_NONE) {
      t->state = ST_FINALLY;
      t->pkind = (uint8_t)kind;
      t->pend = v;
      s->pc = ti->c;
      return true;
    }
    if (t->state == ST_FINALLY)
      aw_release_val(t->pend); /* the finally section's own completion wins */
    s->depth--;
  }
  return false;
}

static aw_promise *combine(uint8_t op, size_t n, const aw_val *vals) {
  switch (op) {
  case S_ALL:
    return aw_promise_all(G.L, n, vals);
  case S_ALLSET:
    return aw_promise_all_settled(G.L, n, vals);
  case S_RACE:
    return aw_promise_race(G.L, n, vals);
  default:
    return aw_promise_any(G.L, n, vals);
  }
}

/*
 * Runs s until the block completes (RUN_RETURN/RUN_THROW, *io = the value,
 * unmarked) or must await (RUN_AWAIT, *io = the operand). Entered with
 * s->await_kind set, *io is the outcome of that await (marked if thrown).
 */
static int run(inv *s, aw_val *io) {
  const dt_ins *base = aw_dt_ins + s->blk->start;
  const uint32_t len = s->blk->len;
  aw_val v;
  int kind;

  if (s->await_kind) {
    uint8_t k = s->await_kind;
    s->await_kind = 0;
    v = *io;
    if (aw_is_thrown(v)) {
      kind = PK_THROW;
      v = aw_caught(v);
      goto abrupt;
    }
    if (k == S_RETAWAIT) {
      kind = PK_RETURN;
      goto abrupt;
    }
    aw_release_val(s->acc);
    s->acc = v;
  }

  while (s->pc < len) {
    const dt_ins *I = base + s->pc++;
    uint32_t ex = I->ex;
    switch (I->op) {
    case S_LOG:
      out_s(aw_dt_chars + I->label);
      out_c('\n');
      break;
    case S_LOGV:
      v = eval(s, &ex);
      if (aw_is_thrown(v))
        goto thrown;
      out_s(aw_dt_chars + I->label);
      out_c(' ');
      show(v);
      out_c('\n');
      aw_release_val(v);
      break;
    case S_LOGP: {
      long long idx = -1;
      for (int i = 0; s->hookp && i < DT_NV; i++)
        if (aw_is_obj(G.V[i]) && G.V[i].u.o == (aw_obj *)s->hookp) {
          idx = i;
          break;
        }
      out_s(aw_dt_chars + I->label);
      out_c(' ');
      out_i(idx);
      out_c('\n');
      break;
    }
    case S_SET:
      v = eval(s, &ex);
      if (aw_is_thrown(v))
        goto thrown;
      setV(I->k, v);
      break;
    case S_NEWP:
      setV(I->k, aw_obj_val(aw_promise_new_executor(G.L, x_executor, (void *)I)));
      break;
    case S_WITHRES: {
      aw_resolver *r = NULL;
      aw_promise *p = aw_promise_with_resolvers(G.L, &r);
      setV(I->k, aw_obj_val(p));
      setR(I->k, (aw_obj *)r);
      break;
    }
    case S_RESOLVE:
    case S_REJECT:
      v = eval(s, &ex);
      if (aw_is_thrown(v))
        goto thrown;
      settle(G.R[I->k], v, I->op == S_REJECT);
      break;
    case S_TRES:
    case S_TREJ:
      v = eval(s, &ex);
      if (aw_is_thrown(v))
        goto thrown;
      settle(s->cur, v, I->op == S_TREJ);
      break;
    case S_TSAVE:
      if (s->cur)
        setR(I->k, aw_retain(s->cur));
      break;
    case S_THEN:
    case S_CATCH:
    case S_FINALLY: {
      aw_val pv = G.V[I->b];
      aw_promise *d = NULL;
      if (aw_is_promise(pv)) {
        aw_promise *p = (aw_promise *)pv.u.o;
        if (aw_promise_loop(p) != G.L) {
          fprintf(stderr, "awdiff: a promise of another loop\n");
          abort();
        }
        if (I->op == S_FINALLY)
          d = aw_promise_finally(p, I->c != DT_NONE ? h_finally : NULL, (void *)I);
        else if (I->op == S_CATCH)
          d = aw_promise_catch(p, I->d != DT_NONE ? h_rejected : NULL, (void *)I);
        else
          d = aw_promise_then(p, I->c != DT_NONE ? h_fulfilled : NULL,
                              I->d != DT_NONE ? h_rejected : NULL, (void *)I);
      }
      setV(I->k, d ? aw_obj_val(d) : aw_undefined());
      break;
    }
    case S_ALL:
    case S_ALLSET:
    case S_RACE:
    case S_ANY: {
      aw_val small[16];
      aw_val *vals = I->b <= 16 ? small : malloc(I->b * sizeof *vals);
      if (!vals) {
        fprintf(stderr, "awdiff: out of memory\n");
        exit(2);
      }
      uint32_t i;
      for (i = 0; i < I->b; i++) {
        vals[i] = eval(s, &ex);
        if (aw_is_thrown(vals[i]))
          break;
      }
      bool threw = i < I->b;
      if (threw) {
        v = vals[i];
        while (i--)
          aw_release_val(vals[i]);
      } else {
        setV(I->k, aw_obj_val(combine(I->op, I->b, vals)));
      }
      if (vals != small)
        free(vals);
      if (threw)
        goto thrown;
      break;
    }
    case S_PTRY:
      setV(I->k, aw_obj_val(aw_promise_try(G.L, p_try, (void *)I)));
      break;
    case S_STATE: {
      aw_val pv = G.V[I->b];
      out_s(aw_dt_chars + I->label);
      out_c(' ');
      if (!aw_is_promise(pv)) {
        out_c('-');
      } else {
        const aw_promise *p = (const aw_promise *)pv.u.o;
        enum aw_state st = aw_promise_state(p);
        aw_val r = aw_promise_result(p);
        if (st == AW_PENDING && !aw_is_undefined(r)) {
          fprintf(stderr, "awdiff: a pending promise with a result\n");
          abort();
        }
        if (st == AW_PENDING) {
          out_s("pending");
        } else {
          out_s(st == AW_FULFILLED ? "fulfilled " : "rejected ");
          show(r);
        }
      }
      out_c('\n');
      break;
    }
    case S_UNREF:
    case S_REF:
      if (G.TM[I->k])
        (I->op == S_UNREF ? aw_timer_unref : aw_timer_ref)(G.L, G.TM[I->k]);
      break;
    case S_SPAWN:
      if (!spawn_task(I)) {
        v = aw_throw(aw_err("RangeError", "Maximum call stack size exceeded"));
        goto thrown;
      }
      break;
    case S_SIG:
      setSG(I->k, aw_signal_new(G.L), true);
      break;
    case S_SIGTO:
      setSG(I->k, aw_signal_timeout(G.L, (uint64_t)I->num), false);
      break;
    case S_SIGANY: {
      aw_signal *src[DT_NT];
      size_t n = 0;
      for (uint32_t i = 0; i < I->b; i++) {
        aw_signal *x = G.SG[aw_dt_ex[I->ex + i].num];
        if (x) /* JS: the empty slots filtered out */
          src[n++] = x;
      }
      setSG(I->k, aw_signal_any(G.L, src, n), false);
      break;
    }
    case S_ABORT:
      v = eval(s, &ex);
      if (aw_is_thrown(v))
        goto thrown;
      if (G.SG[I->k] && G.SGC[I->k])
        aw_signal_abort(G.SG[I->k], v);
      else
        aw_release_val(v);
      break;
    case S_SIGSTATE: {
      aw_signal *x = G.SG[I->k];
      out_s(aw_dt_chars + I->label);
      out_c(' ');
      if (!x) {
        out_c('-');
      } else if (aw_signal_aborted(x)) {
        out_s("aborted ");
        show(aw_signal_reason(x));
      } else {
        out_s("live");
      }
      out_c('\n');
      break;
    }
    case S_DELAY: {
      aw_io_opts o = {.signal = I->c != DT_NONE ? G.SG[I->c] : NULL};
      aw_promise *p = aw_delay(G.L, (uint64_t)I->num, o.signal ? &o : NULL);
      if (!p) {
        fprintf(stderr, "awdiff: aw_delay failed\n");
        abort();
      }
      setV(I->k, aw_obj_val(p));
      break;
    }
    case S_REJMODE:
      aw_loop_set_rejection_mode(G.L, (enum aw_rejection_mode)I->k);
      break;
    case S_MICRO:
      aw_queue_microtask(G.L, t_callback, (void *)I);
      break;
    case S_TICK:
      aw_next_tick(G.L, t_callback, (void *)I);
      break;
    case S_IMM:
      G.IM[I->k] = aw_set_immediate(G.L, t_callback, (void *)I);
      break;
    case S_TIMEOUT:
      G.TM[I->k] = aw_set_timeout(G.L, I->num, t_callback, (void *)I);
      break;
    case S_INTERVAL:
      G.TM[I->k] = aw_set_interval(G.L, I->num, t_callback, (void *)I);
      break;
    case S_CLEART:
      if (G.TM[I->k])
        aw_clear_timer(G.L, G.TM[I->k]);
      break;
    case S_CLEARI:
      if (G.IM[I->k])
        aw_clear_immediate(G.L, G.IM[I->k]);
      break;
    case S_COUNTCLEAR:
      if (++G.CN[I->k] >= I->num && G.TM[I->c])
        aw_clear_timer(G.L, G.TM[I->c]);
      break;
    case S_AWAIT:
    case S_RETAWAIT:
      v = eval(s, &ex);
      if (aw_is_thrown(v))
        goto thrown;
      s->await_kind = I->op;
      *io = v;
      return RUN_AWAIT;
    case S_RETURN:
      v = eval(s, &ex);
      if (aw_is_thrown(v))
        goto thrown;
      kind = PK_RETURN;
      goto abrupt;
    case S_THROW:
      v = eval(s, &ex);
      goto thrown;
    case S_TRY: {
      tryent *t = &s->tries[s->depth++];
      t->tpc = s->pc - 1;
      t->state = ST_BODY;
      t->pkind = PK_NORMAL;
      t->pend = aw_undefined();
      break;
    }
    case S_ENDSEC: {
      tryent *t = &s->tries[s->depth - 1];
      const dt_ins *ti = base + t->tpc;
      if (t->state != ST_FINALLY) {
        if (ti->c != DT_NONE) {
          t->state = ST_FINALLY;
          t->pkind = PK_NORMAL;
          s->pc = ti->c;
        } else {
          s->depth--;
          s->pc = ti->d;
        }
        break;
      }
      kind = t->pkind;
      v = t->pend;
      s->depth--;
      if (kind == PK_NORMAL) {
        s->pc = ti->d;
        break;
      }
      goto abrupt;
    }
    }
    continue;
  thrown:
    kind = PK_THROW;
    v = aw_caught(v);
  abrupt:
    if (!unwind(s, kind, v)) {
      *io = v;
      return kind == PK_THROW ? RUN_THROW : RUN_RETURN;
    }
  }
  *io = aw_undefined();
  return RUN_RETURN;
}

/* ---- sync and async blocks ---------------------------------------------------------------- */

static aw_val run_sync(const dt_block *blk, aw_val arg, int64_t n, aw_obj *cur, aw_promise *hookp) {
  tryent small[8]; /* deeper nesting (rare) takes the heap, so deep recursion keeps frames small */
  tryent *tries = small;
  if (blk->maxdepth > 8 && !(tries = malloc(blk->maxdepth * sizeof *tries))) {
    fprintf(stderr, "awdiff: out of memory\n");
    exit(2);
  }
  inv s = {.blk = blk, .n = n, .arg = arg, .cur = cur, .hookp = hookp, .tries = tries};
  aw_val v;
  int r = run(&s, &v);
  aw_release_val(s.acc);
  if (tries != small)
    free(tries);
  return r == RUN_THROW ? aw_throw(v) : v;
}

#define DT_INLINE_TRIES 4

typedef struct aframe {
  aw_frame frame;
  inv s;
  tryent inl[DT_INLINE_TRIES];
} aframe;

static void abody(aw_loop *L, aw_frame *self) {
  (void)L;
  aframe *f = (aframe *)self;
  aw_val v = aw_undefined();
  AW_BEGIN(self);
  for (;;) {
    int r = run(&f->s, &v);
    if (r == RUN_AWAIT) {
      /* outside any try a rejection throws on out of the function: the plain await form */
      if (f->s.depth == 0)
        AW_AWAIT(v, v);
      else
        AW_AWAIT_SETTLED(v, v);
      continue;
    }
    if (r == RUN_RETURN)
      AW_RETURN(v);
    AW_THROW(v);
  }
  AW_END;
}

static void adispose(aw_frame *self) {
  aframe *f = (aframe *)self;
  aw_release_val(f->s.arg);
  aw_release_val(f->s.acc);
  aw_release(f->s.hookp);
  for (uint32_t i = 0; i < f->s.depth; i++)
    aw_release_val(f->s.tries[i].pend);
  if (f->s.tries != f->inl)
    free(f->s.tries);
}

static AW_ASYNC_DESC(adesc, aframe, abody, adispose);

static aframe *new_async(const dt_block *blk, aw_val arg, int64_t n, aw_promise *hookp) {
  aframe *f = (aframe *)aw_async_new(G.L, &adesc);
  f->s.blk = blk;
  f->s.n = n;
  f->s.arg = aw_retain_val(arg);
  f->s.hookp = aw_retain(hookp);
  f->s.tries = f->inl;
  if (blk->maxdepth > DT_INLINE_TRIES) {
    f->s.tries = malloc(blk->maxdepth * sizeof *f->s.tries);
    if (!f->s.tries) {
      fprintf(stderr, "awdiff: out of memory\n");
      exit(2);
    }
  }
  return f;
}

static aw_val start_async(const dt_block *blk, aw_val arg, int64_t n, aw_promise *hookp) {
  return aw_obj_val(aw_async_start(&new_async(blk, arg, n, hookp)->frame));
}

/* spawn B G: B (async) as a detached task, G its on_error. false: the stack is full. */
static bool spawn_task(const dt_ins *I) {
  if (G.depth >= DT_MAX_DEPTH)
    return false;
  G.depth++;
  aframe *f = new_async(&G.blocks[I->b], aw_undefined(), 0, NULL);
  int r = aw_async_spawn(&f->frame, I->c != DT_NONE ? sp_error : NULL, (void *)I);
  G.depth--;
  if (r != 0) {
    fprintf(stderr, "awdiff: aw_async_spawn: %d\n", r);
    abort();
  }
  return true;
}

/* bB(arg, n, cur): a sync block's result (marked if thrown), an async block's promise. */
static aw_val invoke(uint32_t b, aw_val arg, int64_t n, aw_obj *cur, aw_promise *hookp) {
  const dt_block *blk = &G.blocks[b];
  if (G.depth >= DT_MAX_DEPTH)
    return aw_throw(aw_err("RangeError", "Maximum call stack size exceeded"));
  G.depth++;
  aw_val r = blk->async ? start_async(blk, arg, n, hookp) : run_sync(blk, arg, n, cur, hookp);
  G.depth--;
  return r;
}

/* ---- programs ----------------------------------------------------------------------------- */

static int run_program(const dt_program *P, bool check_leaks) {
  int64_t alive0 = aw_objects_alive();
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(&(aw_loop_config){.no_io = true}, &err);
  if (!L) {
    fprintf(stderr, "awdiff: aw_loop_new: ");
    aw_error_print(err, stderr);
    aw_release_val(err);
    return -1;
  }
  memset(&G, 0, sizeof G);
  G.L = L;
  G.P = P;
  G.blocks = aw_dt_blocks + P->block0;
  G.nstrs = P->nstr;
  G.strs = P->nstr ? calloc(P->nstr, sizeof *G.strs) : NULL;
  if (P->nstr && !G.strs) {
    fprintf(stderr, "awdiff: out of memory\n");
    exit(2);
  }
  if (P->hu != DT_NONE)
    aw_loop_on_unhandled_rejection(L, hk_unhandled, NULL);
  if (P->hh != DT_NONE)
    aw_loop_on_rejection_handled(L, hk_handled, NULL);
  aw_loop_on_uncaught_exception(L, hk_uncaught, NULL);

  out_s("#### ");
  out_s(aw_dt_chars + P->name);
  out_c('\n');

  aw_val m = invoke(0, aw_undefined(), 0, NULL, NULL);
  if (aw_is_thrown(m)) {
    out_s("mainthrow ");
    show(aw_caught(m));
    out_c('\n');
  }
  aw_release_val(aw_caught(m));
  /* emit_js's harness: an empty setImmediate after the main script (Node emits
   * beforeExit again only if the loop had work). It is seen: a drain that a
   * throwing nextTick cut short goes on after it. */
  aw_set_immediate(L, harness_imm, NULL);

  int rc = aw_loop_run(L);
  if (rc != 0) {
    out_s("#### loop-rc ");
    out_i(rc);
    out_c('\n');
  }
  for (int i = 0; i < DT_NV; i++) {
    aw_release_val(G.V[i]);
    aw_release(G.R[i]);
  }
  for (int i = 0; i < DT_NT; i++)
    aw_release(G.SG[i]);
  int fr = aw_loop_free(L);
  for (size_t i = 0; i < G.nstrs; i++)
    aw_release_val(G.strs[i]);
  free(G.strs);
  memset(&G, 0, sizeof G);
  if (fr != 0) {
    out_s("#### loop-free ");
    out_i(fr);
    out_c('\n');
  }
  if (check_leaks) {
    int64_t left = aw_objects_alive() - alive0;
    if (left) {
      out_s("#### leak ");
      out_i((long long)left);
      out_c('\n');
    }
  }
  out_s("#### end\n");
  out_flush();
  return 0;
}

static char *read_all(FILE *f, size_t *len) {
  size_t cap = 1 << 20, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (n < cap) {
      if (ferror(f)) {
        free(buf);
        return NULL;
      }
      break;
    }
    char *b = realloc(buf, cap * 2);
    if (!b)
      free(buf);
    buf = b;
    cap *= 2;
  }
  *len = n;
  return buf;
}

static void usage(void) {
  fprintf(stderr, "usage: awdiff [--check-leaks] [--only NAME] [FILE|-]\n");
  exit(2);
}

int main(int argc, char **argv) {
  bool check_leaks = false;
  const char *only = NULL, *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--check-leaks"))
      check_leaks = true;
    else if (!strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "-"))
      usage();
    else if (!path)
      path = argv[i];
    else
      usage();
  }
  FILE *f = stdin;
  if (path && strcmp(path, "-")) {
    f = fopen(path, "rb");
    if (!f) {
      fprintf(stderr, "awdiff: %s: cannot open\n", path);
      return 2;
    }
  }
  size_t len = 0;
  char *buf = read_all(f, &len);
  if (f != stdin)
    fclose(f);
  if (!buf) {
    fprintf(stderr, "awdiff: cannot read the input\n");
    return 2;
  }
  if (aw_dt_parse(buf, len) != 0)
    return 2;
  free(buf);
  for (size_t i = 0; i < aw_dt_nprograms; i++) {
    const dt_program *P = &aw_dt_programs[i];
    if (only && strcmp(only, aw_dt_chars + P->name))
      continue;
    if (run_program(P, check_leaks) != 0)
      return 1;
  }
  return 0;
}
