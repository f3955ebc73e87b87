/* executor/inbox.c — see inbox.h. */
#define _GNU_SOURCE
#include "executor/inbox.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "executor/internal.h"

#define LANE_MASK (AW__LANE_CELLS - 1)
#define QUOTA 64 /* tasks from one lane before the next lane's turn */

_Static_assert((AW__LANE_CELLS & LANE_MASK) == 0, "lane size is a power of two");

struct aw__lane {
  /* the producer's line: tail on every push; the loop reads it when it has caught up */
  _Alignas(64) _Atomic uint64_t tail;
  uint64_t head_cache;        /* the loop's head as the producer last read it */
  bool overflowing;           /* the producer's tasks go to the overflow until it is drained */
  _Atomic bool producer_gone; /* the producer's thread let go of the lane */
  _Atomic bool busy;          /* the producer is inside a push: the loop must stay (inbox.h) */
  _Atomic bool loop_gone;     /* the loop closed: read on every push, written once */
  /* the loop's line */
  _Alignas(64) _Atomic uint64_t head;
  uint64_t tail_cache; /* the producer's tail as the loop last read it */
  /* rarely written */
  _Alignas(64) _Atomic uint32_t over_count;
  _Atomic uint32_t refs; /* the loop's and the producer's */
  unsigned forks;        /* made in this process (see forks below), or inherited */
  aw__lane *reg_next;    /* on the loop's registration list */
  pthread_mutex_t over_lock;
  aw__inbox_task *over; /* a circular array */
  uint32_t over_len, over_cap, over_head;
  _Alignas(64) aw__inbox_task cells[AW__LANE_CELLS];
};

/* ---- the barrier ------------------------------------------------------------------------- */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic bool light_ok; /* membarrier works: producers need only a compiler barrier */
static pthread_key_t tl_key;  /* runs tl_exit when a thread that posted exits */
/* The open inboxes: a thread's first post to a loop finds it here (inbox.h). */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static aw__inbox *open_list;
/* fork() children this process descends from: a lane's busy flag made before is stale */
static unsigned forks;

static void tl_exit(void *p);

static long membarrier(int cmd) {
#ifdef __NR_membarrier
  return syscall(__NR_membarrier, cmd, 0, 0);
#else
  (void)cmd;
  errno = ENOSYS;
  return -1;
#endif
}

static void fork_prepare(void) { pthread_mutex_lock(&open_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&open_lock); }
static void fork_child(void) {
  pthread_mutex_init(&open_lock, NULL);
  forks++; /* the threads that were inside a push are gone */
}

static void init_once(void) {
  pthread_key_create(&tl_key, tl_exit);
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  const char *env = getenv("AW_MEMBARRIER"); /* "0": the fence fallback, for tests */
  if (env && strcmp(env, "0") == 0)
    return;
  long cmds = membarrier(MEMBARRIER_CMD_QUERY);
  if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
      membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
    atomic_store(&light_ok, true);
}

/* The producer's side, after it published: pairs with heavy_barrier. */
static inline void light_barrier(bool full) {
  if (full || !atomic_load_explicit(&light_ok, memory_order_relaxed))
    atomic_thread_fence(memory_order_seq_cst);
  else
    atomic_signal_fence(memory_order_seq_cst);
}

/* The loop's side. false if membarrier failed (producers are told to use fences from now on). */
static bool heavy_barrier(void) {
  if (!atomic_load_explicit(&light_ok, memory_order_relaxed))
    return true; /* the caller's seq_cst fence pairs with the producers' */
  if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
    return true;
  atomic_store(&light_ok, false);
  return false;
}

/* ---- lanes ------------------------------------------------------------------------------- */

static aw__lane *lane_new(void) {
  void *p = NULL;
  if (AW__FAULT(ALLOC) || posix_memalign(&p, 64, sizeof(aw__lane)) != 0)
    return NULL;
  aw__lane *l = p;
  memset(l, 0, offsetof(aw__lane, cells));
  atomic_init(&l->tail, 0);
  atomic_init(&l->head, 0);
  atomic_init(&l->producer_gone, false);
  atomic_init(&l->busy, false);
  l->forks = forks;
  atomic_init(&l->over_count, 0);
  atomic_init(&l->refs, 2);
  atomic_init(&l->loop_gone, false);
  pthread_mutex_init(&l->over_lock, NULL);
  return l;
}

static void lane_release(aw__lane *l) {
  if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
    return;
  pthread_mutex_destroy(&l->over_lock);
  free(l->over);
  free(l);
}

static int overflow_push(aw__lane *l, aw_task_fn fn, void *arg) {
  pthread_mutex_lock(&l->over_lock);
  if (l->over_len == l->over_cap) {
    uint32_t ncap = l->over_cap ? l->over_cap * 2 : 1024;
    aw__inbox_task *n = ncap > l->over_cap && !AW__FAULT(ALLOC) ? malloc(ncap * sizeof *n) : NULL;
    if (!n) {
      pthread_mutex_unlock(&l->over_lock);
      return -ENOMEM;
    }
    for (uint32_t i = 0; i < l->over_len; i++)
      n[i] = l->over[(l->over_head + i) % l->over_cap];
    free(l->over);
    l->over = n;
    l->over_cap = ncap;
    l->over_head = 0;
  }
  l->over[(l->over_head + l->over_len++) % l->over_cap] = (aw__inbox_task){fn, arg};
  /* release: the loop that sees the count sees the ring's tail from before (lane_peek_overflow) */
  atomic_fetch_add_explicit(&l->over_count, 1, memory_order_release);
  pthread_mutex_unlock(&l->over_lock);
  return 0;
}

/* The producer. */
static int lane_push(aw__lane *l, aw_task_fn fn, void *arg) {
  if (AW__UNLIKELY(l->overflowing)) {
    if (atomic_load_explicit(&l->over_count, memory_order_acquire) != 0)
      return overflow_push(l, fn, arg);
    l->overflowing = false; /* the loop drained it: back to the ring, behind it */
  }
  uint64_t t = atomic_load_explicit(&l->tail, memory_order_relaxed);
  if (AW__UNLIKELY(t - l->head_cache >= AW__LANE_CELLS)) {
    l->head_cache = atomic_load_explicit(&l->head, memory_order_acquire);
    if (t - l->head_cache >= AW__LANE_CELLS) {
      l->overflowing = true;
      return overflow_push(l, fn, arg);
    }
  }
  l->cells[t & LANE_MASK] = (aw__inbox_task){fn, arg};
  atomic_store_explicit(&l->tail, t + 1, memory_order_release);
  return 0;
}

static bool lane_ready(aw__lane *l) {
  return atomic_load_explicit(&l->tail, memory_order_acquire) !=
             atomic_load_explicit(&l->head, memory_order_relaxed) ||
         atomic_load_explicit(&l->over_count, memory_order_acquire) != 0;
}

/* ---- the producer's table of lanes --------------------------------------------------------- */

struct tl_entry {
  aw__inbox *q; /* compared, never read through: the lane says whether q is still open */
  aw__lane *lane;
};
static _Thread_local struct tl {
  struct tl_entry *v;
  uint32_t n, cap, last;
  bool keyed;
} tl;

static void tl_drop(struct tl *t, uint32_t i) {
  aw__lane *l = t->v[i].lane;
  atomic_store_explicit(&l->producer_gone, true, memory_order_release);
  lane_release(l);
  t->v[i] = t->v[--t->n];
  t->last = 0;
}

/* A thread that posted exits: its lanes go (each when the loop has read it, or now). */
static void tl_exit(void *p) {
  struct tl *t = p;
  while (t->n)
    tl_drop(t, t->n - 1);
  free(t->v);
  t->v = NULL;
  t->cap = 0;
  t->keyed = false;
}

/* Whether q is an open inbox (open_lock held): q itself is not read unless it is. */
static bool is_open(const aw__inbox *q) {
  for (const aw__inbox *o = open_list; o; o = o->open_next)
    if (o == q)
      return true;
  return false;
}

/*
 * The producer's lane into q: found in the table, or made and registered
 * (fresh) if q is open and this is not its loop's thread. 0, AW__INBOX_OWN,
 * -ESHUTDOWN or -ENOMEM.
 */
static int lane_find_slow(aw__inbox *q, aw__lane **out, bool *fresh) {
  struct tl *t = &tl;
  for (uint32_t i = 0; i < t->n;) {
    struct tl_entry *e = &t->v[i];
    if (atomic_load_explicit(&e->lane->loop_gone, memory_order_acquire)) {
      tl_drop(t, i); /* its loop was closed (maybe this address holds a new one) */
      continue;
    }
    if (e->q == q) {
      t->last = i;
      *out = e->lane;
      return 0;
    }
    i++;
  }
  if (t->n == t->cap) {
    uint32_t ncap = t->cap ? t->cap * 2 : 4;
    struct tl_entry *v = AW__FAULT(ALLOC) ? NULL : realloc(t->v, ncap * sizeof *v);
    if (!v)
      return -ENOMEM;
    t->v = v;
    t->cap = ncap;
  }
  if (!t->keyed) {
    if (pthread_setspecific(tl_key, t) != 0)
      return -ENOMEM;
    t->keyed = true;
  }
  /* registered under open_lock, so aw__inbox_close, which unlists q under it first, sees it */
  pthread_mutex_lock(&open_lock);
  int r = 0;
  aw__lane *l = NULL;
  if (!is_open(q))
    r = -ESHUTDOWN;
  else if (pthread_equal(q->owner, pthread_self()))
    r = AW__INBOX_OWN;
  else if (!(l = lane_new()))
    r = -ENOMEM;
  if (r == 0) {
    aw__lane *head = atomic_load_explicit(&q->reg, memory_order_relaxed);
    do
      l->reg_next = head;
    while (!atomic_compare_exchange_weak_explicit(&q->reg, &head, l, memory_order_seq_cst,
                                                  memory_order_relaxed));
  }
  pthread_mutex_unlock(&open_lock);
  if (r != 0)
    return r;
  t->v[t->n] = (struct tl_entry){q, l};
  t->last = t->n++;
  *fresh = true;
  *out = l;
  return 0;
}

/* ---- the inbox ---------------------------------------------------------------------------- */

int aw__inbox_init(aw__inbox *q, int wake_fd) {
  pthread_once(&once, init_once);
  memset(q, 0, sizeof *q);
  atomic_init(&q->sleeping, 0);
  atomic_init(&q->closing, 0);
  atomic_init(&q->wake_signals, 0);
  atomic_init(&q->reg, NULL);
  q->wake_fd = wake_fd;
  q->owner = pthread_self();
  q->forks = forks;
  q->quota = QUOTA;
  pthread_mutex_lock(&open_lock);
  q->open_next = open_list;
  if (open_list)
    open_list->open_prev = q;
  open_list = q;
  pthread_mutex_unlock(&open_lock);
  return 0;
}

void aw__inbox_setup(void) { pthread_once(&once, init_once); }

bool aw__inbox_forked(const aw__inbox *q) { return q->forks != forks; }

static void lane_adopt_forked(aw__lane *l) {
  if (l->forks != forks) {
    atomic_store_explicit(&l->busy, false, memory_order_relaxed); /* its thread is gone */
    l->forks = forks;
  }
}

void aw__inbox_adopt_forked(aw__inbox *q, int wake_fd) {
  q->wake_fd = wake_fd;
  q->forks = forks;
  for (uint32_t i = 0; i < q->nlanes; i++)
    lane_adopt_forked(q->lanes[i]);
  for (aw__lane *l = atomic_load_explicit(&q->reg, memory_order_acquire); l; l = l->reg_next)
    lane_adopt_forked(l);
}

void aw__inbox_refuse_posts(aw__inbox *q) {
  atomic_store_explicit(&q->closing, 1, memory_order_relaxed);
}

static void adopt(aw__inbox *q);

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* The loop's heavy barrier, for closing: membarrier can fail with ENOMEM; it is retried. */
static void close_barrier(void) {
  atomic_thread_fence(memory_order_seq_cst);
  for (int tries = 0; tries < 100; tries++) {
    if (!atomic_load_explicit(&light_ok, memory_order_relaxed))
      return; /* producers fence fully: the fence above pairs with theirs */
    if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
      return;
    usleep(1000);
  }
  /* Never seen. Producers from now on fence; one inside its light window has its
   * stores in a store buffer, which drains in far less than the grace given here. */
  atomic_store(&light_ok, false);
  usleep(100000);
}

void aw__inbox_close(aw__inbox *q) {
  pthread_mutex_lock(&open_lock);
  bool was_open = is_open(q);
  if (was_open) {
    if (q->open_prev)
      q->open_prev->open_next = q->open_next;
    else
      open_list = q->open_next;
    if (q->open_next)
      q->open_next->open_prev = q->open_prev;
    q->open_prev = q->open_next = NULL;
  }
  pthread_mutex_unlock(&open_lock);
  if (!was_open)
    return; /* closed before */
  /* no lane can be registered now: take in the last ones, so every producer is known */
  adopt(q);
  atomic_store_explicit(&q->closing, 1, memory_order_relaxed);
  if (!q->nlanes)
    return;
  for (uint32_t i = 0; i < q->nlanes; i++)
    atomic_store_explicit(&q->lanes[i]->loop_gone, true, memory_order_relaxed);
  close_barrier();
  /* a producer that did not see loop_gone is inside its push: a few loads and stores,
   * maybe a malloc (overflow) or an eventfd write, so this wait is short */
  for (uint32_t i = 0; i < q->nlanes; i++)
    for (unsigned n = 0; q->lanes[i]->forks == forks &&
                         atomic_load_explicit(&q->lanes[i]->busy, memory_order_acquire);
         n++) {
      cpu_relax();
      if ((n & 127) == 127)
        sched_yield(); /* it may be preempted on this CPU */
    }
}

void aw__inbox_destroy(aw__inbox *q) {
  aw__inbox_close(q); /* aw_loop_free closed it already: then this does nothing */
  for (uint32_t i = 0; i < q->nlanes; i++)
    lane_release(q->lanes[i]);
  aw__free(q->lanes, q->lanes_cap * sizeof *q->lanes);
  aw__free(q->local, q->local ? (q->local_mask + 1) * sizeof *q->local : 0);
  memset(q, 0, sizeof *q);
}

/* The loop sleeps: write its eventfd (the ring watches it, or poll does). */
static void wake(aw__inbox *q) {
  atomic_fetch_add_explicit(&q->wake_signals, 1, memory_order_relaxed);
  uint64_t one = 1;
  ssize_t w = write(q->wake_fd, &one, sizeof one);
  (void)w; /* EAGAIN means the counter is already non-zero: the loop wakes anyway */
}

int aw__inbox_push(aw__inbox *q, aw_task_fn fn, void *arg, bool internal) {
  struct tl *t = &tl;
  for (bool stale = false;; stale = true) {
    bool fresh = false;
    aw__lane *l;
    if (AW__LIKELY(t->n && !stale) && t->v[t->last].q == q) {
      l = t->v[t->last].lane;
    } else {
      int r = lane_find_slow(q, &l, &fresh);
      if (r != 0)
        return r;
    }
    /* in: from here to the release of busy, q stays (see inbox.h; a fresh lane fences fully) */
    atomic_store_explicit(&l->busy, true, memory_order_relaxed);
    light_barrier(fresh);
    if (AW__UNLIKELY(atomic_load_explicit(&l->loop_gone, memory_order_relaxed))) {
      atomic_store_explicit(&l->busy, false, memory_order_release);
      continue; /* the slow path drops the lane, and finds q open (a new loop) or not */
    }
    int r;
    if (AW__UNLIKELY(!internal && atomic_load_explicit(&q->closing, memory_order_relaxed)))
      r = -ESHUTDOWN;
    else
      r = lane_push(l, fn, arg);
    if (AW__LIKELY(r == 0)) {
      /* published; now is the loop asleep? (the same barrier, see inbox.h) */
      light_barrier(fresh);
      if (atomic_load_explicit(&q->sleeping, memory_order_relaxed))
        wake(q);
    }
    /* out: the loop may be freed from here on; pairs with aw__inbox_close's acquire */
    atomic_store_explicit(&l->busy, false, memory_order_release);
    return r;
  }
}

int aw__inbox_push_local(aw__inbox *q, aw_task_fn fn, void *arg) {
  uint32_t cap = q->local ? q->local_mask + 1 : 0;
  if (q->local_tail - q->local_head == cap) {
    uint32_t ncap = cap ? cap * 2 : 64;
    aw__inbox_task *n = aw__try_alloc(ncap * sizeof *n);
    if (!n)
      return -ENOMEM;
    for (uint32_t i = 0; i < cap; i++)
      n[i] = q->local[(q->local_head + i) & q->local_mask];
    aw__free(q->local, cap * sizeof *q->local);
    q->local = n;
    q->local_tail = cap;
    q->local_head = 0;
    q->local_mask = ncap - 1;
  }
  q->local[q->local_tail++ & q->local_mask] = (aw__inbox_task){fn, arg};
  return 0;
}

/* Takes in the lanes registered since, and lets go of the empty ones whose producer is gone. */
static void adopt(aw__inbox *q) {
  if (q->sweep) {
    q->sweep = false;
    for (uint32_t i = 0; i < q->nlanes;) {
      aw__lane *l = q->lanes[i];
      if (atomic_load_explicit(&l->producer_gone, memory_order_acquire) && !lane_ready(l)) {
        lane_release(l);
        q->lanes[i] = q->lanes[--q->nlanes];
      } else {
        i++;
      }
    }
  }
  for (aw__lane *l = atomic_exchange_explicit(&q->reg, NULL, memory_order_acquire); l;
       l = l->reg_next) {
    if (q->nlanes == q->lanes_cap) {
      uint32_t ncap = q->lanes_cap ? q->lanes_cap * 2 : 8;
      q->lanes = aw__realloc(q->lanes, q->lanes_cap * sizeof *q->lanes, ncap * sizeof *q->lanes);
      q->lanes_cap = ncap;
    }
    q->lanes[q->nlanes++] = l;
  }
  q->cur = 0;
  q->quota = QUOTA;
}

enum { PEEK_NONE, PEEK_LOCAL, PEEK_LANE, PEEK_OVERFLOW };

/* The lane's tasks ready in its ring, contiguous from head (0 if none), at most max. */
static uint32_t lane_peek(aw__lane *l, uint32_t max) {
  uint64_t h = atomic_load_explicit(&l->head, memory_order_relaxed);
  if (h == l->tail_cache) {
    l->tail_cache = atomic_load_explicit(&l->tail, memory_order_acquire);
    if (h == l->tail_cache)
      return 0;
  }
  uint64_t n = l->tail_cache - h;
  uint64_t to_end = AW__LANE_CELLS - (h & LANE_MASK);
  if (n > to_end)
    n = to_end;
  return n < max ? (uint32_t)n : max;
}

/* The lane's next task from its overflow, if its ring is empty. */
static bool lane_peek_overflow(aw__lane *l, aw__inbox_task *t) {
  if (atomic_load_explicit(&l->over_count, memory_order_acquire) == 0)
    return false;
  if (lane_peek(l, 1)) /* the ring's tasks from before the overflow started come first */
    return false;
  pthread_mutex_lock(&l->over_lock);
  bool got = l->over_len > 0;
  if (got)
    *t = l->over[l->over_head];
  pthread_mutex_unlock(&l->over_lock);
  return got;
}

uint32_t aw__inbox_peek(aw__inbox *q, const aw__inbox_task **tasks) {
  if (q->local_head != q->local_tail) {
    q->one = q->local[q->local_head & q->local_mask]; /* a post may move the array */
    q->peeked = PEEK_LOCAL;
    *tasks = &q->one;
    return 1;
  }
  if (AW__UNLIKELY(q->sweep || atomic_load_explicit(&q->reg, memory_order_relaxed)))
    adopt(q);
  uint32_t n = q->nlanes;
  /* every lane once, and the first again (it may only have used up its quota) */
  for (uint32_t visits = 0; visits <= n && n; visits++) {
    aw__lane *l = q->lanes[q->cur];
    if (q->quota) {
      uint32_t k = lane_peek(l, q->quota);
      if (k) {
        q->peeked = PEEK_LANE;
        *tasks = &l->cells[atomic_load_explicit(&l->head, memory_order_relaxed) & LANE_MASK];
        return k;
      }
      if (lane_peek_overflow(l, &q->one)) {
        q->peeked = PEEK_OVERFLOW;
        *tasks = &q->one;
        return 1;
      }
      if (AW__UNLIKELY(atomic_load_explicit(&l->producer_gone, memory_order_acquire)))
        q->sweep = true;
    }
    q->cur = q->cur + 1 == n ? 0 : q->cur + 1;
    q->quota = QUOTA;
  }
  q->peeked = PEEK_NONE;
  return 0;
}

void aw__inbox_consume(aw__inbox *q, uint32_t n) {
  if (!n)
    return;
  switch (q->peeked) {
  case PEEK_LOCAL:
    q->local_head++;
    break;
  case PEEK_LANE: {
    aw__lane *l = q->lanes[q->cur];
    uint64_t h = atomic_load_explicit(&l->head, memory_order_relaxed);
    /* the cells may be reused: pairs with the producer's acquire of head */
    atomic_store_explicit(&l->head, h + n, memory_order_release);
    q->quota -= n;
    break;
  }
  case PEEK_OVERFLOW: {
    aw__lane *l = q->lanes[q->cur];
    pthread_mutex_lock(&l->over_lock);
    l->over_head = (l->over_head + 1) % l->over_cap;
    l->over_len--;
    atomic_fetch_sub_explicit(&l->over_count, 1, memory_order_release);
    pthread_mutex_unlock(&l->over_lock);
    q->quota--;
    break;
  }
  default:
    break;
  }
  q->peeked = PEEK_NONE;
}

bool aw__inbox_pop(aw__inbox *q, aw_task_fn *fn, void **arg) {
  const aw__inbox_task *t;
  if (!aw__inbox_peek(q, &t))
    return false;
  *fn = t->fn;
  *arg = t->arg;
  aw__inbox_consume(q, 1);
  return true;
}

bool aw__inbox_ready(aw__inbox *q) {
  if (q->local_head != q->local_tail || atomic_load_explicit(&q->reg, memory_order_acquire))
    return true;
  for (uint32_t i = 0; i < q->nlanes; i++)
    if (lane_ready(q->lanes[i]))
      return true;
  return false;
}

bool aw__inbox_sleep(aw__inbox *q) {
  atomic_store_explicit(&q->sleeping, 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_seq_cst);
  /* lanes exist whose producers use the light barrier: make every CPU fence */
  if ((q->nlanes || atomic_load_explicit(&q->reg, memory_order_relaxed)) && !heavy_barrier())
    return true; /* do not block this once: a producer may have missed the flag */
  return aw__inbox_ready(q);
}
