/*
 * executor/teardown.c — the last step of aw_loop_free: the cycles among the
 * loop's promises.
 *
 * Reference counts cannot free a cycle, and promises make them easily: a
 * promise rejected with itself, resolved with an array or error that holds
 * it, two promises resolved with each other (each one's reaction holds the
 * other), a finally's box holding the promise it follows. Node's collector
 * frees such a program's promises at exit; here aw_loop_free must, since
 * nothing else ever will (and the loop's memory stays while any of its
 * promises lives).
 *
 * But promises the caller still holds stay valid (aw/loop.h), results
 * included, and so must everything they reach. So this is a collector's
 * trial deletion, once, over the graph the library can see:
 *
 *  - nodes: the seeds, and what their references reach through the kinds
 *    whose references are known: promises, arrays, errors (cause, errors),
 *    resolvers, finally's value boxes, and the state of a combinator (its
 *    count of outstanding elements holds its promise and its slots). The
 *    seeds are the promises that took a reference that can lead back to a
 *    promise: settled with a value that holds a promise or resolver
 *    (aw__val_may_cycle, looked at then); given an internal reaction with an
 *    object arg (adopting a promise, a race); a then-promise owning its arg
 *    (finally); a combinator whose slot took such a value (its state is found
 *    with it). Every cycle closes through one of them: a then-promise is newer
 *    than the promise it follows and a combinator than its inputs, so
 *    reactions alone make none. Whatever garbage is not in a cycle is held
 *    from one, so the walk from the seeds finds it all. The set costs a
 *    promise no memory and the hot paths a test or two; an array or error
 *    changed after a promise took it is not looked at again;
 *  - edges, each one reference: a settled promise's result; a pending
 *    promise's reactions (an internal then's object arg, a then-promise, a
 *    combinator element); a then-promise's owned arg; an array's items; an
 *    error's cause and errors; a resolver's promise; a box's value; a
 *    combinator state's promise and slots;
 *  - a node whose count exceeds the edges into it is held from outside (by
 *    the caller, a user object, another loop): it and everything it reaches
 *    are kept. Every other promise is garbage: its result, reactions and owned
 *    arg are taken (all of them first, with nothing released, so no release
 *    can change the graph under the walk), then released, which frees it and
 *    the rest of its cycle.
 *
 * A user object's references are opaque: a cycle through one (a promise
 * resolved with a user object that holds the promise) looks held from outside
 * and stays. So does a cycle the caller still holds when the loop is freed:
 * it was reachable then, and nothing runs when the caller lets it go.
 */
#include "internal.h"

#include <string.h>

/* ---- the seeds: a set of promise pointers ------------------------------------------------- */

static uint32_t hash_key(const void *key, uint32_t mask) {
  uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15u;
  return (uint32_t)(h >> 32) & mask;
}

static bool pset_rehash(aw__pset *s, uint32_t ncap) {
  aw_promise **n = aw__try_alloc((size_t)ncap * sizeof *n);
  if (!n)
    return false;
  memset(n, 0, (size_t)ncap * sizeof *n);
  for (uint32_t i = 0; i < s->cap; i++) {
    aw_promise *e = s->slot[i];
    if (!e || e == AW__PSET_GONE)
      continue;
    uint32_t j = hash_key(e, ncap - 1);
    while (n[j])
      j = (j + 1) & (ncap - 1);
    n[j] = e;
  }
  aw__free(s->slot, (size_t)s->cap * sizeof *s->slot);
  s->slot = n;
  s->cap = ncap;
  s->gone = 0;
  return true;
}

void aw__pset_add_slow(aw_promise *p) {
  aw__pset *s = &p->loop->seeds;
  if ((uint64_t)(s->len + s->gone + 1) * 2 > s->cap) {
    /* at most half full: twice as big, or as big without the removed ones */
    uint32_t ncap = !s->cap ? 64 : (uint64_t)(s->len + 1) * 4 > s->cap ? s->cap * 2 : s->cap;
    if (ncap < s->cap || !pset_rehash(s, ncap))
      return; /* no memory: not listed (a cycle through p would stay), never a failure */
  }
  uint32_t mask = s->cap - 1, i = hash_key(p, mask);
  while (s->slot[i] && s->slot[i] != AW__PSET_GONE)
    i = (i + 1) & mask;
  if (s->slot[i] == AW__PSET_GONE)
    s->gone--;
  s->slot[i] = p;
  s->len++;
  p->hdr.flags |= AW__PF_LISTED;
}

void aw__pset_remove(aw_promise *p) {
  aw__pset *s = &p->loop->seeds;
  uint32_t mask = s->cap - 1, i = hash_key(p, mask);
  while (s->slot[i] != p) {
    if (!s->slot[i])
      return; /* listed means there: not reached */
    i = (i + 1) & mask;
  }
  s->slot[i] = AW__PSET_GONE;
  s->len--;
  s->gone++;
  p->hdr.flags &= (uint16_t)~AW__PF_LISTED;
}

void aw__pset_free(aw__pset *s) {
  aw__free(s->slot, (size_t)s->cap * sizeof *s->slot);
  *s = (aw__pset){0};
}

/* Past 8 levels, or 4096 values looked at (one big array, arrays sharing arrays): yes. */
static bool may_cycle(aw_val v, int depth, uint32_t *budget) {
  if (!aw_is_obj(v))
    return false;
  if (depth > 8 || !*budget)
    return true;
  --*budget;
  aw_obj *o = v.u.o;
  switch (o->type) {
  case AW_T_PROMISE:
  case AW_T_RESOLVER:
    return true;
  case AW_T_ARRAY: {
    const aw_array *a = (const aw_array *)o;
    if (a->len > *budget)
      return true; /* a big array: a seed, rather than a scan on every settle */
    *budget -= a->len;
    for (uint32_t i = 0; i < a->len; i++)
      if (aw_is_obj(a->items[i]) && may_cycle(a->items[i], depth + 1, budget))
        return true;
    return false;
  }
  case AW_T_ERROR: {
    const aw_error *e = (const aw_error *)o;
    return may_cycle(e->cause, depth + 1, budget) ||
           (e->errors && may_cycle(aw_obj_val(e->errors), depth + 1, budget));
  }
  case AW_T_FUNCTION: {
    const aw_fn *f = (const aw_fn *)o;
    for (uint32_t i = 0; i < f->ncap; i++)
      if (may_cycle(f->cap[i], depth + 1, budget))
        return true;
    return false;
  }
  case AW_T_USER: {
    aw_val *b = aw__box_slot(o);
    aw_fn *then = aw__thenable_fn(o);
    return (b && may_cycle(*b, depth + 1, budget)) ||
           (then && may_cycle(aw_obj_val(then), depth + 1, budget));
  }
  default:
    return false;
  }
}

bool aw__val_may_cycle_slow(aw_val v) {
  uint32_t budget = 4096;
  return may_cycle(v, 0, &budget);
}

/* ---- the trial deletion ---------------------------------------------------------------------- */

enum { K_PROMISE, K_OBJ, K_STATE }; /* a combinator's state: its key is its promise + 1 */

typedef struct node {
  const void *key;
  uint32_t gc; /* references not accounted for by edges (while counting) */
  uint8_t kind;
  bool mark; /* reachable from a node held from outside */
} node;

enum { DISCOVER, COUNT, MARK };

typedef struct graph {
  aw_loop *L;
  node *nodes;
  uint32_t n, cap;
  uint32_t *map; /* open addressing: node index + 1, 0 empty */
  uint32_t mcap; /* a power of two, kept at least twice n */
  uint32_t *stack;
  uint32_t sp, scap;
  int mode;
  bool oom; /* memory ran out: the teardown gives up (a leak, never a crash) */
} graph;

/* Grows an array to ncap elements of size esz (NULL: no memory, the old one stays). */
static void *grow(void *old, size_t n, size_t old_cap, size_t ncap, size_t esz) {
  void *b = aw__try_alloc(ncap * esz);
  if (b && n)
    memcpy(b, old, n * esz);
  if (b)
    aw__free(old, old_cap * esz);
  return b;
}

static uint32_t *slot_of(graph *g, const void *key) {
  uint32_t mask = g->mcap - 1, i = hash_key(key, mask);
  while (g->map[i] && g->nodes[g->map[i] - 1].key != key)
    i = (i + 1) & mask;
  return &g->map[i];
}

static bool map_grow(graph *g) {
  uint32_t old = g->mcap, ncap = old ? old * 2 : 1024;
  uint32_t *nmap = ncap < old ? NULL : aw__try_alloc((size_t)ncap * sizeof *nmap);
  if (!nmap)
    return false;
  memset(nmap, 0, (size_t)ncap * sizeof *nmap);
  aw__free(g->map, (size_t)old * sizeof *g->map);
  g->map = nmap;
  g->mcap = ncap;
  for (uint32_t i = 0; i < g->n; i++)
    *slot_of(g, g->nodes[i].key) = i + 1;
  return true;
}

static void stack_push(graph *g, uint32_t i) {
  if (g->sp == g->scap) {
    uint32_t ncap = g->scap ? g->scap * 2 : 256;
    uint32_t *b = grow(g->stack, g->sp, g->scap, ncap, sizeof *b);
    if (!b) {
      g->oom = true;
      return;
    }
    g->stack = b;
    g->scap = ncap;
  }
  g->stack[g->sp++] = i;
}

/* An edge to (kind, key): what it does depends on the pass. */
static void visit(graph *g, uint8_t kind, const void *key) {
  if (g->oom)
    return;
  if (g->mode == DISCOVER) {
    if ((uint64_t)(g->n + 1) * 2 > g->mcap && !map_grow(g)) {
      g->oom = true;
      return;
    }
    uint32_t *s = slot_of(g, key);
    if (*s)
      return;
    if (g->n == g->cap) {
      uint32_t ncap = g->cap ? g->cap * 2 : 512;
      node *b = ncap < g->cap ? NULL : grow(g->nodes, g->n, g->cap, ncap, sizeof *b);
      if (!b) {
        g->oom = true;
        return;
      }
      g->nodes = b;
      g->cap = ncap;
    }
    g->nodes[g->n] = (node){key, 0, kind, false};
    *s = ++g->n;
    return;
  }
  uint32_t s = *slot_of(g, key);
  if (!s)
    return; /* every target was discovered; be safe all the same */
  node *t = &g->nodes[s - 1];
  if (g->mode == COUNT) {
    if (t->gc)
      t->gc--;
  } else if (!t->mark) {
    t->mark = true;
    stack_push(g, s - 1);
  }
}

static void visit_obj(graph *g, const aw_obj *o) {
  if (!o)
    return;
  switch (o->type) {
  case AW_T_PROMISE:
    if (((const aw_promise *)o)->loop == g->L) /* another loop's promise is not ours to free */
      visit(g, K_PROMISE, o);
    return;
  case AW_T_ARRAY:
  case AW_T_ERROR:
  case AW_T_RESOLVER:
  case AW_T_FUNCTION:
    visit(g, K_OBJ, o);
    return;
  case AW_T_USER:
    if (aw__box_slot((aw_obj *)o) || aw__thenable_fn((aw_obj *)o))
      visit(g, K_OBJ, o);
    return;
  default:
    return; /* strings and buffers hold nothing */
  }
}

static void visit_val(graph *g, aw_val v) {
  if (aw_is_obj(v))
    visit_obj(g, v.u.o);
}

static void promise_edges(graph *g, const aw_promise *p) {
  if (g->mode == DISCOVER && (p->hdr.flags & AW__PF_COMBI))
    visit(g, K_STATE, (const char *)p + 1); /* found with it, though it holds the promise */
  if (p->hdr.bits == AW_PENDING) {
    for (aw__rlink *r = p->u.q.head; r; r = aw__r_next(r)) {
      switch (aw__r_kind(r)) {
      case AW__R_THEN:
        visit_obj(g, ((aw__then_r *)r)->arg);
        break;
      case AW__R_DERIVED:
        visit(g, K_PROMISE, &AW__CONTAINER(r, aw__tpromise, r)->p);
        break;
      case AW__R_ELEM:
        visit(g, K_STATE, (char *)aw__combi_of_elem((aw__elem_r *)r) + 1);
        break;
      default:
        break; /* a zombie frame and a task's catch hold nothing */
      }
    }
  } else {
    visit_val(g, p->u.result);
  }
  if ((p->hdr.flags & AW__PF_THEN) && (p->hdr.flags & AW__PF_OWNS_ARG))
    visit_obj(g, ((const aw__tpromise *)p)->r.arg);
}

static void obj_edges(graph *g, const aw_obj *o) {
  switch (o->type) {
  case AW_T_ARRAY: {
    const aw_array *a = (const aw_array *)o;
    for (uint32_t i = 0; i < a->len; i++)
      visit_val(g, a->items[i]);
    return;
  }
  case AW_T_ERROR: {
    const aw_error *e = (const aw_error *)o;
    visit_val(g, e->cause);
    visit_obj(g, e->errors ? &e->errors->hdr : NULL);
    return;
  }
  case AW_T_RESOLVER:
    visit_obj(g, &((const aw_resolver *)o)->promise->hdr);
    return;
  case AW_T_FUNCTION: {
    const aw_fn *f = (const aw_fn *)o;
    for (uint32_t i = 0; i < f->ncap; i++)
      visit_val(g, f->cap[i]);
    return;
  }
  case AW_T_USER: {
    aw_val *b = aw__box_slot((aw_obj *)o);
    aw_fn *then = aw__thenable_fn((aw_obj *)o);
    if (b)
      visit_val(g, *b);
    if (then)
      visit_obj(g, &then->hdr);
    return;
  }
  default:
    return;
  }
}

static void state_edges(graph *g, const void *key) {
  aw_promise *c = (aw_promise *)((char *)key - 1);
  if (!aw__combi_refs(c))
    return;
  visit(g, K_PROMISE, c);
  uint32_t n;
  aw_val *v = aw__combi_slots(c, &n);
  for (uint32_t i = 0; i < n; i++)
    visit_val(g, v[i]);
}

static void edges(graph *g, const node *x) {
  switch (x->kind) {
  case K_PROMISE:
    promise_edges(g, x->key);
    return;
  case K_OBJ:
    obj_edges(g, x->key);
    return;
  default:
    state_edges(g, x->key);
    return;
  }
}

static uint32_t refs_of(const node *x) {
  if (x->kind == K_STATE)
    return aw__combi_refs((const aw_promise *)((const char *)x->key - 1));
  return ((const aw_obj *)x->key)->refs;
}

/*
 * What the garbage promises held, taken from them before any of it is released:
 * at most a result or a reaction list, and an owned arg, each (allocated up front).
 */
typedef struct taken {
  aw_val *vals;
  aw__rlink **lists;
  size_t nv, nl;
} taken;

static void strip(taken *t, aw_promise *p) {
  if (p->hdr.bits == AW_PENDING) {
    if (p->u.q.head)
      t->lists[t->nl++] = p->u.q.head;
    p->u.q.head = p->u.q.tail = NULL;
  } else {
    t->vals[t->nv++] = p->u.result;
    p->u.result = aw_undefined();
  }
  if ((p->hdr.flags & AW__PF_THEN) && (p->hdr.flags & AW__PF_OWNS_ARG)) {
    aw__tpromise *tp = (aw__tpromise *)p;
    if (tp->r.arg)
      t->vals[t->nv++] = aw_obj_val(tp->r.arg);
    tp->r.arg = NULL;
    p->hdr.flags &= (uint16_t)~AW__PF_OWNS_ARG;
  }
}

void aw__loop_teardown(aw_loop *L) {
  if (!L->seeds.len)
    return;
  graph g = {.L = L, .mode = DISCOVER};
  for (uint32_t i = 0; i < L->seeds.cap; i++)
    if (L->seeds.slot[i] && L->seeds.slot[i] != AW__PSET_GONE)
      visit(&g, K_PROMISE, L->seeds.slot[i]);
  for (uint32_t i = 0; i < g.n && !g.oom; i++) /* g.n grows as the walk finds objects */
    edges(&g, &g.nodes[i]);

  for (uint32_t i = 0; i < g.n; i++)
    g.nodes[i].gc = refs_of(&g.nodes[i]);
  g.mode = COUNT;
  for (uint32_t i = 0; i < g.n; i++)
    edges(&g, &g.nodes[i]);

  g.mode = MARK;
  for (uint32_t i = 0; i < g.n; i++) {
    if (g.nodes[i].gc && !g.nodes[i].mark) {
      g.nodes[i].mark = true;
      stack_push(&g, i);
    }
    while (g.sp && !g.oom)
      edges(&g, &g.nodes[g.stack[--g.sp]]);
  }

  size_t garbage = 0;
  for (uint32_t i = 0; i < g.n; i++)
    garbage += g.nodes[i].kind == K_PROMISE && !g.nodes[i].mark;
  taken t = {0};
  if (!g.oom && garbage) {
    t.vals = aw__try_alloc(2 * garbage * sizeof *t.vals);
    t.lists = aw__try_alloc(garbage * sizeof *t.lists);
  }
  if (t.vals && t.lists)
    for (uint32_t i = 0; i < g.n; i++)
      if (g.nodes[i].kind == K_PROMISE && !g.nodes[i].mark)
        strip(&t, (aw_promise *)g.nodes[i].key);
  aw__free(g.nodes, (size_t)g.cap * sizeof *g.nodes);
  aw__free(g.map, (size_t)g.mcap * sizeof *g.map);
  aw__free(g.stack, (size_t)g.scap * sizeof *g.stack);

  /* nothing was released so far: now the garbage goes, and with it every cycle */
  for (size_t i = 0; i < t.nl; i++)
    aw__reactions_drop(L, t.lists[i]);
  for (size_t i = 0; i < t.nv; i++)
    aw_release_val(t.vals[i]);
  aw__free(t.lists, garbage * sizeof *t.lists);
  aw__free(t.vals, 2 * garbage * sizeof *t.vals);
}
