/* workers/inbox.c — see inbox.h. */
#include "workers/inbox.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "executor/internal.h"

#define MASK (AW__INBOX_CELLS - 1)
#define FN_BITS 48
#define FN_MASK ((UINT64_C(1) << FN_BITS) - 1)

/* The tag a cell carries when it holds position pos: its lap, never 0 (a fresh cell). */
static inline uint64_t lap_tag(uint64_t pos) {
  return ((pos / AW__INBOX_CELLS + 1) & 0xffff) << FN_BITS;
}

int aw__inbox_init(aw__inbox *q) {
  memset(q, 0, sizeof *q);
  q->cells = aw__alloc(AW__INBOX_CELLS * sizeof(aw__inbox_cell));
  for (uint64_t i = 0; i < AW__INBOX_CELLS; i++)
    atomic_init(&q->cells[i].fn_lap, 0); /* no lap yet: nothing published */
  atomic_init(&q->tail, 0);
  atomic_init(&q->head_pub, 0);
  atomic_init(&q->over_count, 0);
  pthread_mutex_init(&q->over_lock, NULL);
  return 0;
}

void aw__inbox_destroy(aw__inbox *q) {
  aw__free(q->cells, AW__INBOX_CELLS * sizeof(aw__inbox_cell));
  free(q->over);
  pthread_mutex_destroy(&q->over_lock);
  memset(q, 0, sizeof *q);
}

static int overflow_push(aw__inbox *q, aw_task_fn fn, void *arg) {
  pthread_mutex_lock(&q->over_lock);
  if (q->over_len == q->over_cap) {
    uint32_t ncap = q->over_cap ? q->over_cap * 2 : 1024;
    struct aw__inbox_task *n = malloc(ncap * sizeof *n);
    if (!n) {
      pthread_mutex_unlock(&q->over_lock);
      return -ENOMEM;
    }
    for (uint32_t i = 0; i < q->over_len; i++)
      n[i] = q->over[(q->over_head + i) % q->over_cap];
    free(q->over);
    q->over = n;
    q->over_cap = ncap;
    q->over_head = 0;
  }
  q->over[(q->over_head + q->over_len++) % q->over_cap] = (struct aw__inbox_task){fn, arg};
  atomic_fetch_add(&q->over_count, 1);
  pthread_mutex_unlock(&q->over_lock);
  return 0;
}

int aw__inbox_push(aw__inbox *q, aw_task_fn fn, void *arg) {
  uint64_t f = (uint64_t)(uintptr_t)fn;
  /* While the overflow holds tasks, new ones go behind them (a producer's order holds). */
  if ((f & ~FN_MASK) == 0 && atomic_load_explicit(&q->over_count, memory_order_acquire) == 0) {
    uint64_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
      /* room by the head the loop published (it may be behind: then we overflow early) */
      if (pos - atomic_load_explicit(&q->head_pub, memory_order_acquire) >= AW__INBOX_CELLS)
        break;
      if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1, memory_order_relaxed,
                                                memory_order_relaxed)) {
        aw__inbox_cell *c = &q->cells[pos & MASK];
        c->arg = arg;
        /* publishes the cell: pairs with the loop's acquire load of fn_lap */
        atomic_store_explicit(&c->fn_lap, f | lap_tag(pos), memory_order_release);
        return 0;
      }
      /* lost the race: pos now holds the current tail */
    }
  }
  return overflow_push(q, fn, arg);
}

static inline void publish_head(aw__inbox *q) {
  /* the cells up to head are read: producers may reuse them (pairs with their acquire) */
  atomic_store_explicit(&q->head_pub, q->head, memory_order_release);
}

bool aw__inbox_pop(aw__inbox *q, aw_task_fn *fn, void **arg) {
  aw__inbox_cell *c = &q->cells[q->head & MASK];
  uint64_t fl = atomic_load_explicit(&c->fn_lap, memory_order_acquire);
  if ((fl & ~FN_MASK) == lap_tag(q->head)) {
    *fn = (aw_task_fn)(uintptr_t)(fl & FN_MASK);
    *arg = c->arg;
    q->head++;
    if ((q->head & 63) == 0)
      publish_head(q);
    return true;
  }
  if (atomic_load_explicit(&q->head_pub, memory_order_relaxed) != q->head)
    publish_head(q); /* empty for now: give producers all the room */
  if (atomic_load_explicit(&q->over_count, memory_order_acquire) == 0)
    return false;
  /* the ring is drained up to what went in before the overflow started */
  pthread_mutex_lock(&q->over_lock);
  bool got = q->over_len > 0;
  if (got) {
    struct aw__inbox_task t = q->over[q->over_head];
    q->over_head = (q->over_head + 1) % q->over_cap;
    q->over_len--;
    atomic_fetch_sub(&q->over_count, 1);
    *fn = t.fn;
    *arg = t.arg;
  }
  pthread_mutex_unlock(&q->over_lock);
  return got;
}

bool aw__inbox_ready(aw__inbox *q) {
  aw__inbox_cell *c = &q->cells[q->head & MASK];
  return (atomic_load_explicit(&c->fn_lap, memory_order_acquire) & ~FN_MASK) == lap_tag(q->head) ||
         atomic_load_explicit(&q->over_count, memory_order_acquire) > 0;
}
