/*
 * executor/inbox.h — a loop's inbox: tasks from any thread (aw_loop_post, pool
 * job completions) to the loop. Internal.
 *
 * Lanes. Every thread that posts to a loop gets its own lane into it: a
 * single-producer ring the loop reads. A push is two plain stores and a
 * release store of the lane's tail, no read-modify-write and no fence, so a
 * producer never waits for the cache lines the loop is reading (an MPSC ring
 * pays a locked instruction per push, which drains the store buffer and
 * halved the throughput here). The producer finds its lane through a small
 * thread-local table; the first post from a thread to a loop allocates the
 * lane and registers it on a lock-free list the loop adopts. When a lane is
 * full, the producer's tasks go to the lane's overflow list under a mutex
 * until the loop has drained it, so one thread's tasks keep their order and
 * nothing is dropped. Tasks from different threads have no order between
 * them. The loop's own posts go to a private queue.
 *
 * Sleeping. The loop announces that it is about to block (sleeping = 1) and
 * then checks every lane; a producer publishes and then reads sleeping, and
 * writes the loop's eventfd only if it is set. That is Dekker's pattern and
 * needs a full barrier on both sides; the producer's would cost as much as
 * the locked instruction we got rid of. So the barrier is asymmetric: the
 * producer's is a compiler barrier, and the loop, which blocks rarely, issues
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full barrier on
 * every CPU running one of our threads. Where membarrier is missing (old
 * kernel, seccomp, valgrind), both sides use seq_cst fences. A lane's first
 * push (the one that registers it) always uses a full fence.
 *
 * Lifetime: a lane has two references, the loop's and the producer's
 * thread-local table's; the last one frees it. A thread's exit releases its
 * lanes (the loop sweeps a released lane once it is empty); aw_loop_free
 * releases the loop's.
 *
 * Closing: a producer must never touch a loop that may be gone. A push keeps
 * its loop alive with its lane's busy flag, as the sleep above does, with the
 * same asymmetric barrier:
 *
 *   producer (aw__inbox_push)            loop (aw__inbox_close)
 *   busy = 1 (plain store)               gone = 1 on every lane
 *   compiler barrier                     full fence + membarrier
 *   gone? -> busy = 0, refused           wait until no lane is busy
 *   publish, read sleeping, wake
 *   busy = 0 (release)                   from here no producer touches q
 *
 * Either the loop sees busy (and waits for the release) or the producer sees
 * gone (and touches nothing but its lane, which it holds a reference to).
 * Everything a push reads of the loop (closing, sleeping, the eventfd) is read
 * between the two stores of busy. A thread's first post to a loop finds the
 * loop in a process-wide registry of open inboxes, under a mutex, so a post to
 * a loop already closed (even freed) is refused without reading its memory.
 */
#ifndef AW_EXECUTOR_INBOX_H
#define AW_EXECUTOR_INBOX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "aw/loop.h"

#define AW__LANE_CELLS 512u

typedef struct aw__inbox_task {
  aw_task_fn fn;
  void *arg;
} aw__inbox_task;

typedef struct aw__lane aw__lane;

typedef struct aw__inbox {
  /* read by producers on every push; written at creation, when the loop sleeps, at close */
  _Alignas(64) _Atomic int sleeping;
  _Atomic int closing; /* aw_loop_post is refused (pool completions still come in) */
  int wake_fd;         /* the loop's eventfd, written when it sleeps */
  pthread_t owner;     /* the loop's thread: its posts go to the local queue */
  unsigned forks;      /* the process's fork count when it was made */
  _Atomic uint64_t wake_signals;
  struct aw__inbox *open_prev, *open_next; /* the registry of open inboxes (its mutex) */
  /* written by producers when they register a lane */
  _Alignas(64) _Atomic(aw__lane *) reg;
  /* the loop's own */
  _Alignas(64) aw__lane **lanes;
  uint32_t nlanes, lanes_cap;
  uint32_t cur, quota;   /* the lane being read and how many more before the next one's turn */
  bool sweep;            /* a lane whose producer is gone was found empty */
  aw__inbox_task *local; /* posts from the loop's own thread */
  uint32_t local_head, local_tail, local_mask;
  int peeked;         /* where aw__inbox_peek's tasks are: PEEK_LOCAL, _LANE or _OVERFLOW */
  aw__inbox_task one; /* a task peeked from the local queue or an overflow */
} aw__inbox;

/* The loop's thread, with the loop's eventfd: 0, or -ENOMEM. */
int aw__inbox_init(aw__inbox *q, int wake_fd);
/* Once per process, before any other fork handler that posts (workers/pool.c): 0. */
void aw__inbox_setup(void);
/* Whether q was made in a parent process: this is a fork()ed child. */
bool aw__inbox_forked(const aw__inbox *q);
/* The child keeps q, with its own eventfd: busy flags of the parent's threads are dropped. */
void aw__inbox_adopt_forked(aw__inbox *q, int wake_fd);
/* The loop: aw__inbox_push(internal = false) is refused from now on. */
void aw__inbox_refuse_posts(aw__inbox *q);
/*
 * The loop: no producer is or will be inside a push when this returns (the
 * tasks already queued stay, for the drain); every later push is refused.
 */
void aw__inbox_close(aw__inbox *q);
/* The loop, when it is freed, after aw__inbox_close (tasks still queued are dropped). */
void aw__inbox_destroy(aw__inbox *q);
/*
 * Any thread: queues the task and wakes the loop if it sleeps. 0;
 * AW__INBOX_OWN if this is the loop's thread (nothing queued: use
 * aw__inbox_push_local); -ESHUTDOWN if the inbox is closed, or refuses posts
 * and !internal; -ENOMEM. q may be gone: it is read only while it is open.
 */
#define AW__INBOX_OWN 1
int aw__inbox_push(aw__inbox *q, aw_task_fn fn, void *arg, bool internal);
/* The loop's thread: 0 or -ENOMEM. */
int aw__inbox_push_local(aw__inbox *q, aw_task_fn fn, void *arg);
/*
 * The loop: the next tasks, in place: returns how many (0: none) and where.
 * They stay queued until aw__inbox_consume(q, n) with n <= that count; run
 * them in between (they may post, and the loop's own posts come after).
 * Lanes take turns, at most 64 tasks from one before the next.
 */
uint32_t aw__inbox_peek(aw__inbox *q, const aw__inbox_task **tasks);
void aw__inbox_consume(aw__inbox *q, uint32_t n);
/* The loop: the next task, or false (peek and consume one). */
bool aw__inbox_pop(aw__inbox *q, aw_task_fn *fn, void **arg);
/* The loop: whether a task is ready. */
bool aw__inbox_ready(aw__inbox *q);
/*
 * The loop, just before it blocks: announces it, with the barrier above.
 * Returns true if a task is ready after all (then do not block). Call
 * aw__inbox_awake after the wait (or instead of it).
 */
bool aw__inbox_sleep(aw__inbox *q);
static inline void aw__inbox_awake(aw__inbox *q) {
  atomic_store_explicit(&q->sleeping, 0, memory_order_relaxed);
}

#endif
