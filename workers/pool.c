/*
 * workers/pool.c — the worker pool.
 *
 * The moving parts, and who may touch them:
 *
 *   loop thread                         pool threads
 *   -----------                         ------------
 *   aw_work: job made, put in the       take: the next job of the class, from
 *   loop's batch (no lock)              the next loop's queue (round robin)
 *   flush, once per turn: the batch     run fn(job, arg)
 *   goes into the loop's queue of its   finish: state DONE and the completion
 *   class (one lock per class)          posted to the loop's inbox, together
 *   job_done (a macrotask of the I/O    under the class lock
 *   phase): settle, free
 *
 * A job's state changes only under its class's lock:
 *
 *   LOCAL --flush--> QUEUED --take--> RUNNING --finish--> DONE --job_done--> freed
 *     |                |                 |
 *     |  abort or loop free: removed     |  loop free: cancelled flag, LOOP_WAITS; the
 *     +----------------+                 |    loop waits until finish posts it (DONE)
 *                                        |  abort: cancelled flag, promise rejected now
 *
 * Because DONE and the post happen under the lock that loop free also takes,
 * and loop free waits for its running jobs, a loop being freed knows that
 * every job of it is then in its inbox, and that no thread will post to it
 * again. Thread exit has one protocol: a thread leaves its class under the
 * class lock, then counts itself out of the pool's live threads under
 * exit_lock and broadcasts exit_cond there; shutdown waits on that pair
 * only. Idle threads spin (spin_us) before
 * sleeping on the class's condition variable, and are signalled only when one
 * sleeps: waking a thread on another CPU of a VM costs tens of microseconds.
 */
#define _GNU_SOURCE
#include "workers/pool.h"

#include <netdb.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

enum { J_LOCAL, J_QUEUED, J_RUNNING, J_DONE, J_LOOP_WAITS };
enum { JE_NONE, JE_SHUTDOWN, JE_NO_THREAD, JE_FORK };

/*
 * The first cache line holds everything a pool thread touches; the rest is
 * the loop's. A job then moves between the two CPUs as one line each way.
 */
struct aw_job {
  /* line 0: the pool thread's */
  union {
    aw_work_fn fn;
    aw__raw_fn raw_fn; /* raw (aw__work_raw) */
  };
  void *arg;
  aw_loop *loop;
  aw_job *qprev, *qnext; /* its queue, the running list, the loop's batch, or q->done */
  aw_val result;
  uint8_t state;
  bool raw; /* no promise, no inbox post: raw_fn says when it ends */
  _Atomic int cancelled;
  /* the loop's */
  aw_pool *pool;
  struct aw__jobq *q;
  void (*arg_free)(void *arg);
  aw_timer deadline;
  aw_promise *promise; /* loop thread; NULL once settled */
  aw_signal *signal;
  aw_signal_listener listener;
  int err;
  int err_detail; /* pthread_create's error for JE_NO_THREAD */
  uint8_t klass;
};

_Static_assert(offsetof(struct aw_job, pool) == 64, "the pool thread's fields fill line 0");

typedef struct aw__jobq {
  aw_job *head, *tail;
  struct aw__jobq *rr_prev, *rr_next;
  bool in_rr;
  /* raw jobs that ended (the class lock); the loop takes them back into its cache at flush */
  aw_job *done;
  _Atomic bool has_done;
} aw__jobq;

/* The loop's part: its batch, its queues (one per class), its unfinished jobs. */
#define AW__JOB_CACHE 256

typedef struct aw__loopwork {
  aw_pool *pool;
  aw_job *batch_head, *batch_tail;
  aw__jobq q[2];
  aw_job *cache; /* freed jobs, for the next aw_work (loop thread) */
  unsigned ncache;
  unsigned fork_gen; /* fork_gen when the loop last looked */
} aw__loopwork;

typedef struct pclass {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  aw__jobq *rr; /* the next queue to take from (circular) */
  _Atomic uint32_t pending;
  unsigned threads, target, max;
  unsigned sleeping, tokens; /* waiting threads not yet signalled / signalled (see worker_main) */
  aw_job *running;
  pthread_cond_t done_cond; /* a job a loop being freed waits for was posted (LOOP_WAITS) */
  struct aw_pool *pool;
  uint8_t klass;
} pclass;

struct aw_pool {
  pclass cls[2];
  unsigned spin_us;
  _Atomic int refs; /* the owner, plus one per thread */
  _Atomic bool shutdown;
  bool drain;
  pthread_mutex_t exit_lock; /* live and exit_cond; taken after a class lock, never before */
  pthread_cond_t exit_cond;  /* a thread left */
  unsigned live;             /* threads started and not gone, both classes */
  _Atomic uint64_t jobs_run, thread_starts, thread_start_failures, sleeps, wakeups;
  struct aw_pool *next_pool;
};

/* ---- the list of pools, for fork() ----------------------------------------------------- */

static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static aw_pool *pools;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER; /* taken before pools_lock */
static aw_pool *default_pool; /* NULL after aw_pool_free of it: the next use makes another */

static void post_done(aw_job *j);
static void raw_ended(aw_job *j);
static void class_lock_init(pthread_mutex_t *m);
static void job_done(aw_loop *L, void *arg);
static void work_loop_free(aw_loop *L);
static void work_loop_destroy(aw_loop *L);

static void fork_prepare(void) {
  pthread_mutex_lock(&default_lock);
  pthread_mutex_lock(&pools_lock);
  for (aw_pool *p = pools; p; p = p->next_pool) {
    for (int k = 0; k < 2; k++)
      pthread_mutex_lock(&p->cls[k].lock);
    pthread_mutex_lock(&p->exit_lock);
  }
}

static void fork_parent(void) {
  for (aw_pool *p = pools; p; p = p->next_pool) {
    pthread_mutex_unlock(&p->exit_lock);
    for (int k = 1; k >= 0; k--)
      pthread_mutex_unlock(&p->cls[k].lock);
  }
  pthread_mutex_unlock(&pools_lock);
  pthread_mutex_unlock(&default_lock);
}

/*
 * In the child only this thread exists: the pools' threads are gone. Their
 * locks are re-made, the counts reset, and the jobs they were running fail
 * (their loops hear it through their inboxes). Queued jobs stay queued; new
 * threads start at the next turn of a loop that uses the pool.
 */
static unsigned fork_gen; /* fork_child counts; a loop that sees it change kicks its classes */

static void fork_child(void) {
  fork_gen++;
  for (aw_pool *p = pools; p; p = p->next_pool) {
    for (int k = 0; k < 2; k++) {
      pclass *C = &p->cls[k];
      class_lock_init(&C->lock);
      pthread_cond_init(&C->cond, NULL);
      pthread_cond_init(&C->done_cond, NULL);
      atomic_fetch_sub(&p->refs, (int)C->threads);
      C->threads = C->sleeping = C->tokens = 0;
      aw_job *j = C->running;
      C->running = NULL;
      while (j) {
        aw_job *next = j->qnext;
        if (j->raw) { /* its thread is gone: it ends here, as if removed */
          j->raw_fn(j->arg, true);
          raw_ended(j);
        } else {
          j->err = JE_FORK;
          post_done(j);
        }
        j = next;
      }
    }
    pthread_mutex_init(&p->exit_lock, NULL);
    pthread_cond_init(&p->exit_cond, NULL);
    p->live = 0;
  }
  pthread_mutex_init(&pools_lock, NULL);
  pthread_mutex_init(&default_lock, NULL);
}

/* The inbox's handlers first: its child handler must run before ours posts (fork_child). */
static void atfork_init(void) {
  aw__inbox_setup();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- pools -------------------------------------------------------------------------------- */

/*
 * The class locks are held for a few list operations at a time: an adaptive
 * mutex spins a little before it sleeps in the kernel, which here is always
 * the cheaper way to wait.
 */
static void class_lock_init(pthread_mutex_t *m) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
  pthread_mutex_init(m, &a);
  pthread_mutexattr_destroy(&a);
}

static unsigned online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

aw_pool *aw_pool_new(const aw_pool_config *cfg) {
  pthread_once(&atfork_once, atfork_init);
  aw_pool *p = AW__FAULT(ALLOC) ? NULL : calloc(1, sizeof *p);
  if (!p)
    return NULL;
  unsigned cpu = cfg && cfg->cpu_threads ? cfg->cpu_threads : online_cpus();
  unsigned blk = cfg && cfg->blocking_threads ? cfg->blocking_threads : AW_POOL_BLOCKING_DEFAULT;
  p->cls[AW_WORK_CPU].max = AW_POOL_CPU_MAX;
  p->cls[AW_WORK_CPU].target = cpu < AW_POOL_CPU_MAX ? cpu : AW_POOL_CPU_MAX;
  p->cls[AW_WORK_BLOCKING].max = AW_POOL_BLOCKING_MAX;
  p->cls[AW_WORK_BLOCKING].target = blk < AW_POOL_BLOCKING_MAX ? blk : AW_POOL_BLOCKING_MAX;
  p->spin_us = cfg && cfg->spin_us ? cfg->spin_us : 50;
  for (int k = 0; k < 2; k++) {
    class_lock_init(&p->cls[k].lock);
    pthread_cond_init(&p->cls[k].cond, NULL);
    pthread_cond_init(&p->cls[k].done_cond, NULL);
    p->cls[k].klass = (uint8_t)k;
    p->cls[k].pool = p;
  }
  pthread_mutex_init(&p->exit_lock, NULL);
  pthread_cond_init(&p->exit_cond, NULL);
  atomic_init(&p->refs, 1);
  pthread_mutex_lock(&pools_lock);
  p->next_pool = pools;
  pools = p;
  pthread_mutex_unlock(&pools_lock);
  return p;
}

/* The default pool (made if there is none), with a reference for the caller if ref. */
static aw_pool *default_get(bool ref) {
  pthread_mutex_lock(&default_lock);
  if (!default_pool)
    default_pool = aw_pool_new(NULL);
  aw_pool *p = default_pool;
  if (p && ref)
    atomic_fetch_add(&p->refs, 1);
  pthread_mutex_unlock(&default_lock);
  return p;
}

aw_pool *aw_pool_default(void) { return default_get(false); }

static void pool_unref(aw_pool *p) {
  if (atomic_fetch_sub(&p->refs, 1) != 1)
    return;
  pthread_mutex_lock(&pools_lock);
  for (aw_pool **pp = &pools; *pp; pp = &(*pp)->next_pool)
    if (*pp == p) {
      *pp = p->next_pool;
      break;
    }
  pthread_mutex_unlock(&pools_lock);
  for (int k = 0; k < 2; k++) {
    pthread_mutex_destroy(&p->cls[k].lock);
    pthread_cond_destroy(&p->cls[k].cond);
    pthread_cond_destroy(&p->cls[k].done_cond);
  }
  pthread_mutex_destroy(&p->exit_lock);
  pthread_cond_destroy(&p->exit_cond);
  free(p);
}

int aw_pool_resize(aw_pool *p, enum aw_work_class klass, unsigned threads) {
  if (!p || (klass != AW_WORK_CPU && klass != AW_WORK_BLOCKING) || threads < 1)
    return -EINVAL;
  pclass *C = &p->cls[klass];
  pthread_mutex_lock(&C->lock);
  if (threads > C->max) {
    pthread_mutex_unlock(&C->lock);
    return -EINVAL;
  }
  C->target = threads;
  pthread_cond_broadcast(&C->cond); /* extra threads notice and leave */
  pthread_mutex_unlock(&C->lock);
  return 0;
}

void aw_pool_stats_get(aw_pool *p, aw_pool_stats *out) {
  if (!p || !out)
    return;
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&p->cls[0].lock);
  out->cpu_threads = p->cls[0].threads;
  pthread_mutex_unlock(&p->cls[0].lock);
  pthread_mutex_lock(&p->cls[1].lock);
  out->blocking_threads = p->cls[1].threads;
  pthread_mutex_unlock(&p->cls[1].lock);
  out->jobs_run = atomic_load(&p->jobs_run);
  out->thread_starts = atomic_load(&p->thread_starts);
  out->thread_start_failures = atomic_load(&p->thread_start_failures);
  out->sleeps = atomic_load(&p->sleeps);
  out->wakeups = atomic_load(&p->wakeups);
}

/* ---- queues (the class lock held) ---------------------------------------------------------------
 */

static void q_push(pclass *C, aw__jobq *q, aw_job *j) {
  j->q = q;
  j->qnext = NULL;
  j->qprev = q->tail;
  if (q->tail)
    q->tail->qnext = j;
  else
    q->head = j;
  q->tail = j;
  if (!q->in_rr) { /* the queue joins the round robin, last */
    q->in_rr = true;
    if (C->rr) {
      q->rr_next = C->rr;
      q->rr_prev = C->rr->rr_prev;
      C->rr->rr_prev->rr_next = q;
      C->rr->rr_prev = q;
    } else {
      C->rr = q->rr_next = q->rr_prev = q;
    }
  }
}

static void rr_remove(pclass *C, aw__jobq *q) {
  if (!q->in_rr)
    return;
  q->in_rr = false;
  if (q->rr_next == q) {
    C->rr = NULL;
  } else {
    q->rr_prev->rr_next = q->rr_next;
    q->rr_next->rr_prev = q->rr_prev;
    if (C->rr == q)
      C->rr = q->rr_next;
  }
  q->rr_next = q->rr_prev = NULL;
}

static void q_unlink(pclass *C, aw_job *j) {
  aw__jobq *q = j->q;
  if (j->qprev)
    j->qprev->qnext = j->qnext;
  else
    q->head = j->qnext;
  if (j->qnext)
    j->qnext->qprev = j->qprev;
  else
    q->tail = j->qprev;
  j->qprev = j->qnext = NULL;
  if (!q->head)
    rr_remove(C, q);
}

/* C->pending counts queued jobs for spinning threads; kept per batch, not per job. */
static inline void pending_sub(pclass *C, unsigned n) {
  atomic_fetch_sub_explicit(&C->pending, n, memory_order_relaxed);
}

static void running_add(pclass *C, aw_job *j) {
  j->qprev = NULL;
  j->qnext = C->running;
  if (C->running)
    C->running->qprev = j;
  C->running = j;
}

static void running_remove(pclass *C, aw_job *j) {
  if (j->qprev)
    j->qprev->qnext = j->qnext;
  else
    C->running = j->qnext;
  if (j->qnext)
    j->qnext->qprev = j->qprev;
  j->qprev = j->qnext = NULL;
}

/* The next job: the head of the next loop's queue, which then goes to the back. */
static aw_job *take(pclass *C) {
  aw__jobq *q = C->rr;
  if (!q)
    return NULL;
  aw_job *j = q->head;
  C->rr = q->rr_next; /* the next loop's turn next time */
  q_unlink(C, j);
  j->state = J_RUNNING;
  running_add(C, j);
  return j;
}

/* ---- threads ------------------------------------------------------------------------------------
 */

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Releases what a finished job still holds: fn's result, and arg if the job owns it. */
static void job_clear(aw_job *j) {
  aw_release_val(j->result);
  if (j->arg_free)
    j->arg_free(j->arg);
}

static void job_free(aw_job *j) {
  job_clear(j);
  free(j);
}

/* On the loop's thread: the job goes to the loop's cache, or away. */
static void job_recycle(aw_loop *L, aw_job *j) {
  aw__loopwork *w = L->work;
  if (w->ncache >= AW__JOB_CACHE || L->freeing) {
    job_free(j);
    return;
  }
  job_clear(j);
  j->qnext = w->cache;
  w->cache = j;
  w->ncache++;
}

/*
 * A raw job that ended (ran, or was removed off the loop's thread), the class
 * lock held: it waits in its queue's done list until the loop's next flush
 * takes it back, since only the loop's thread touches its cache.
 */
static void raw_ended(aw_job *j) {
  j->state = J_DONE;
  j->qnext = j->q->done;
  j->q->done = j;
  atomic_store_explicit(&j->q->has_done, true, memory_order_relaxed);
}

/* The raw jobs of q that ended go back to the loop's cache (loop thread, the class lock held). */
static void raw_reclaim(aw_loop *L, aw__jobq *q) {
  aw_job *j = q->done;
  q->done = NULL;
  atomic_store_explicit(&q->has_done, false, memory_order_relaxed);
  while (j) {
    aw_job *next = j->qnext;
    job_recycle(L, j);
    j = next;
  }
}

/* A finished job goes to its loop's inbox (the class lock held), even a loop being freed. */
static void finish(pclass *C, aw_job *j) {
  running_remove(C, j);
  bool waited_for = j->state == J_LOOP_WAITS;
  if (j->raw)
    raw_ended(j);
  else {
    j->state = J_DONE;
    post_done(j);
  }
  if (AW__UNLIKELY(waited_for))
    pthread_cond_broadcast(&C->done_cond); /* work_loop_free */
}

/*
 * Jobs a CPU thread takes per turn of its lock: with many jobs waiting, a
 * thread takes a few (at most its fair share), runs them, and finishes them
 * together, so the lock is taken twice per batch rather than twice per job.
 * A job of the batch that is aborted before its turn is skipped (its promise
 * was rejected at the abort). Blocking threads take one job at a time.
 */
#define AW__TAKE_MAX 16

static void *worker_main(void *arg) {
  pclass *C = arg;
  aw_pool *P = C->pool;
  uint64_t spin_ns = (uint64_t)P->spin_us * 1000u;
  /* blocking jobs are slow by nature: one at a time, so none waits behind another */
  unsigned take_max = C->klass == AW_WORK_CPU ? AW__TAKE_MAX : 1;
  aw_job *batch[AW__TAKE_MAX];
  pthread_mutex_lock(&C->lock);
  for (;;) {
    if (C->threads > C->target)
      break; /* resized down */
    if (atomic_load(&P->shutdown) && (!P->drain || !C->rr))
      break;
    unsigned n = 0;
    unsigned share = atomic_load_explicit(&C->pending, memory_order_relaxed) / C->threads;
    if (share < 1)
      share = 1;
    if (share > take_max)
      share = take_max;
    while (n < share && (batch[n] = take(C)) != NULL)
      n++;
    if (n)
      pending_sub(C, n);
    if (n == 0) {
      /* spin a little before sleeping: a wake-up costs more than a short spin */
      pthread_mutex_unlock(&C->lock);
      uint64_t until = mono_ns() + spin_ns;
      unsigned k = 0;
      while (atomic_load_explicit(&C->pending, memory_order_acquire) == 0 &&
             !atomic_load_explicit(&P->shutdown, memory_order_relaxed)) {
        cpu_relax();
        if ((++k & 255) == 0) {
          if (mono_ns() > until)
            break;
          sched_yield(); /* on a busy 2-CPU machine, let the loop run */
        }
      }
      pthread_mutex_lock(&C->lock);
      if (C->rr || atomic_load(&P->shutdown) || C->threads > C->target)
        continue;
      /*
       * sleeping counts the waiting threads no kick has signalled yet; kick
       * moves the ones it signals to tokens. A thread that wakes takes one
       * off tokens if there is one, else off sleeping (a broadcast, or a
       * spurious wake-up): sleeping + tokens stays the number waiting.
       */
      C->sleeping++;
      atomic_fetch_add_explicit(&P->sleeps, 1, memory_order_relaxed);
      pthread_cond_wait(&C->cond, &C->lock);
      if (C->tokens)
        C->tokens--;
      else
        C->sleeping--;
      continue;
    }
    pthread_mutex_unlock(&C->lock);
    unsigned ran = 0;
    for (unsigned i = 0; i < n; i++) {
      aw_job *j = batch[i];
      if (j->raw) {
        j->raw_fn(j->arg, false);
        ran++;
        continue;
      }
      if (i > 0 && atomic_load_explicit(&j->cancelled, memory_order_relaxed))
        continue; /* aborted while it waited behind the others: never starts */
      j->result = j->fn(j, j->arg);
      ran++;
    }
    atomic_fetch_add_explicit(&P->jobs_run, ran, memory_order_relaxed);
    pthread_mutex_lock(&C->lock);
    for (unsigned i = 0; i < n; i++)
      finish(C, batch[i]);
  }
  C->threads--;
  pthread_mutex_unlock(&C->lock);
  pthread_mutex_lock(&P->exit_lock);
  P->live--;
  pthread_cond_broadcast(&P->exit_cond);
  pthread_mutex_unlock(&P->exit_lock);
  pool_unref(P);
  return NULL;
}

/* Starts a thread of the class (the class lock held); 0 or a positive pthread error. */
static int start_thread(aw_pool *P, pclass *C) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  atomic_fetch_add(&P->refs, 1);
  pthread_mutex_lock(&P->exit_lock); /* counted before it runs: it may leave at once */
  P->live++;
  pthread_mutex_unlock(&P->exit_lock);
  pthread_t t;
  int r = AW__FAULT_OR(THREAD, EAGAIN, pthread_create(&t, &attr, worker_main, C));
  pthread_attr_destroy(&attr);
  if (r != 0) {
    pthread_mutex_lock(&P->exit_lock);
    P->live--;
    pthread_mutex_unlock(&P->exit_lock);
    atomic_fetch_sub(&P->refs, 1);
    atomic_fetch_add(&P->thread_start_failures, 1);
    return r;
  }
  C->threads++;
  atomic_fetch_add(&P->thread_starts, 1);
  return 0;
}

/* Fails every job waiting in the class (the class lock held); returns how many. */
static unsigned fail_queued(pclass *C, int err, int detail) {
  unsigned n = 0;
  while (C->rr) {
    aw_job *j = C->rr->head;
    q_unlink(C, j);
    pending_sub(C, 1);
    n++;
    if (j->raw) { /* never runs: ends as removed, on this thread (see pool.h) */
      j->raw_fn(j->arg, true);
      raw_ended(j);
      continue;
    }
    j->state = J_DONE;
    j->err = err;
    j->err_detail = detail;
    post_done(j);
  }
  return n;
}

/* A test hook: pthread_create is made to fail this many times (-1: never). */
int aw__pool_fail_thread_starts = 0;

/*
 * After jobs were queued (the class lock held): wake a sleeper, or start a
 * thread if there is room; if the class has no thread at all and none can be
 * started, fail the queued jobs. Spinning threads find the work themselves.
 */
static void kick(aw_pool *P, pclass *C, unsigned queued) {
  unsigned wake = queued < C->sleeping ? queued : C->sleeping;
  for (unsigned i = 0; i < wake; i++)
    pthread_cond_signal(&C->cond);
  if (wake) {
    atomic_fetch_add_explicit(&P->wakeups, wake, memory_order_relaxed);
    C->sleeping -= wake; /* signalled: the next kick wakes others */
    C->tokens += wake;
    if (queued <= wake)
      return;
    queued -= wake;
  }
  unsigned want = C->target;
  if (C->klass == AW_WORK_CPU && want > queued + C->threads)
    want = C->threads + queued; /* CPU threads start as work needs them */
  while (C->threads < want) {
    int r;
    if (aw__pool_fail_thread_starts != 0) {
      if (aw__pool_fail_thread_starts > 0)
        aw__pool_fail_thread_starts--;
      r = EAGAIN;
      atomic_fetch_add(&P->thread_start_failures, 1);
    } else {
      r = start_thread(P, C);
    }
    if (r == 0)
      continue;
    if (C->threads == 0) /* not one thread: the class cannot run anything */
      fail_queued(C, JE_NO_THREAD, r);
    C->target = C->threads ? C->threads : C->target; /* degrade to what runs */
    break;
  }
}

/* ---- the loop's side ---------------------------------------------------------------------------
 */

/* What the loop calls of the pool (executor/internal.h): it knows the pool only through this. */
static const aw__work_vt work_vt = {aw__work_flush, work_loop_free, work_loop_destroy, job_done};

static aw__loopwork *loopwork(aw_loop *L) {
  aw__loopwork *w = L->work;
  if (!w) {
    w = aw__calloc(sizeof *w);
    /* a reference: the pool outlives the loop's use of it */
    w->pool = L->workers ? L->workers : default_get(true);
    if (L->workers)
      atomic_fetch_add(&w->pool->refs, 1);
    w->fork_gen = fork_gen;
    L->work = w;
    L->work_vt = &work_vt;
  }
  return w;
}

int aw_loop_set_pool(aw_loop *L, aw_pool *pool) {
  if (!L || !pool)
    return -EINVAL;
  if (!aw__on_owner(L))
    return -EPERM;
  if (L->work)
    return -EBUSY;
  L->workers = pool;
  return 0;
}

/* A zeroed job: from the loop's cache, else the allocator (NULL when that fails). */
static aw_job *job_take(aw__loopwork *w) {
  aw_job *j = w->cache;
  if (AW__LIKELY(j)) {
    w->cache = j->qnext;
    w->ncache--;
    memset(j, 0, sizeof *j);
    return j;
  }
  return AW__FAULT(ALLOC) ? NULL : calloc(1, sizeof *j);
}

/* Takes j (J_LOCAL) out of the loop's batch, which it is in. */
static void batch_unlink(aw__loopwork *w, aw_job *j) {
  aw_job **pp = &w->batch_head, *prev = NULL;
  while (*pp != j) {
    prev = *pp;
    pp = &(*pp)->qnext;
  }
  *pp = j->qnext;
  if (w->batch_tail == j)
    w->batch_tail = prev;
}

static void job_detach(aw_job *j) {
  if (j->signal) {
    aw_signal_unlisten(j->signal, &j->listener);
    aw_release((aw_obj *)j->signal);
    j->signal = NULL;
  }
  if (j->deadline) {
    if (!j->loop->freeing)
      aw_clear_timer(j->loop, j->deadline);
    j->deadline = 0;
  }
}

/* Settles and forgets a job of L (on L's thread); frees it unless a thread still runs it. */
static void job_end(aw_loop *L, aw_job *j, aw_val outcome, bool free_it) {
  L->jobs_pending--;
  job_detach(j);
  aw_promise *p = j->promise;
  j->promise = NULL;
  if (p) {
    if (L->freeing)
      aw_release_val(outcome);
    else
      aw__promise_settle_with(p, outcome);
    aw_release(p);
  } else {
    aw_release_val(outcome);
  }
  if (free_it)
    job_recycle(L, j);
}

static aw_val job_error(aw_job *j) {
  switch (j->err) {
  case JE_SHUTDOWN:
    return aw_throw(aw_err("AbortError", "the worker pool was shut down"));
  case JE_NO_THREAD: {
    aw_error *e = aw_error_new("Error",
                               "no worker thread could be started for the %s class: "
                               "pthread_create: %s (%s)",
                               j->klass == AW_WORK_CPU ? "CPU" : "blocking",
                               aw_strerror(j->err_detail), aw_err_name(j->err_detail));
    e->errnum = j->err_detail;
    return aw_throw(aw_obj_val(e));
  }
  case JE_FORK:
    return aw_throw(aw_err("Error", "the thread running this job does not exist after fork()"));
  default:
    return aw_undefined();
  }
}

/* The completion: a macrotask of the loop's I/O phase. */
static void job_done(aw_loop *L, void *arg) {
  aw_job *j = arg;
  aw_val outcome;
  if (j->err) {
    outcome = job_error(j);
  } else {
    outcome = j->result;
    j->result = aw_undefined();
  }
  job_end(L, j, outcome, true);
}

static void post_done(aw_job *j) {
  /* never fails for lack of room: the inbox overflows into a list; -ENOMEM is the only
   * transient error, and -ESHUTDOWN cannot be: a loop closes its inbox only after
   * work_loop_free has waited for its jobs, under this lock */
  int r;
  while ((r = aw__loop_post_internal(j->loop, job_done, j)) == -ENOMEM)
    usleep(1000);
  if (AW__UNLIKELY(r != 0)) {
    fprintf(stderr, "libawait: a job's completion was refused by its loop (%d)\n", r);
    abort();
  }
}

/* Cancels a job of L (its signal aborted, or its deadline passed); reason consumed. */
static void job_abort(aw_loop *L, aw_job *j, aw_val reason) {
  aw__loopwork *w = L->work;
  pclass *C = &w->pool->cls[j->klass];
  pthread_mutex_lock(&C->lock); /* pool threads change the state under it */
  int state = j->state;
  if (state == J_LOCAL) { /* still in the loop's batch */
    pthread_mutex_unlock(&C->lock);
    batch_unlink(w, j);
    job_end(L, j, reason, true);
    return;
  }
  if (state == J_QUEUED) {
    q_unlink(C, j);
    pending_sub(C, 1);
    pthread_mutex_unlock(&C->lock);
    job_end(L, j, reason, true);
    return;
  }
  if (state == J_RUNNING)
    atomic_store(&j->cancelled, 1);
  pthread_mutex_unlock(&C->lock);
  /* running (or done, its completion on the way): reject now; job_done frees the result */
  job_detach(j);
  aw_promise *p = j->promise;
  j->promise = NULL;
  if (p) {
    aw__promise_settle_with(p, reason);
    aw_release(p);
  } else {
    aw_release_val(reason);
  }
}

static void on_abort(aw_loop *L, aw_signal *s, aw_signal_listener *l) {
  aw_job *j = AW__CONTAINER(l, aw_job, listener);
  job_abort(L, j, aw_throw(aw_retain_val(aw_signal_reason(s))));
}

static void on_deadline(aw_loop *L, void *arg) {
  aw_job *j = arg;
  j->deadline = 0;
  job_abort(L, j, aw_throw(aw_err("TimeoutError", "The operation was aborted due to timeout")));
}

bool aw_job_cancelled(const aw_job *job) {
  return job && atomic_load_explicit(&((aw_job *)job)->cancelled, memory_order_relaxed);
}

/* aw_work's early refusals: the promise, with arg freed if the job would have owned it. */
static aw_promise *refuse(aw_loop *L, const aw_work_opts *o, void *arg, aw_val reason) {
  if (o && o->arg_free)
    o->arg_free(arg);
  return aw_promise_rejected(L, reason);
}

aw_promise *aw_work(aw_loop *L, aw_work_fn fn, void *arg, const aw_work_opts *o) {
  if (!L || !fn || !aw__on_owner(L) || L->freeing) {
    if (o && o->arg_free && L && aw__on_owner(L))
      o->arg_free(arg);
    return NULL;
  }
  enum aw_work_class k = o ? o->klass : AW_WORK_CPU;
  if (k != AW_WORK_CPU && k != AW_WORK_BLOCKING)
    return refuse(L, o, arg, aw_err("TypeError", "aw_work: unknown class %d", (int)k));
  if (o && o->signal && aw_signal_aborted(o->signal))
    return refuse(L, o, arg, aw_retain_val(aw_signal_reason(o->signal)));
  aw__loopwork *w = loopwork(L);
  if (!w->pool)
    return refuse(L, o, arg, aw_err("Error", "aw_work: no worker pool (out of memory)"));
  if (atomic_load(&w->pool->shutdown))
    return refuse(L, o, arg, aw_err("AbortError", "the worker pool was shut down"));
  aw_job *j = job_take(w);
  if (!j)
    aw__oom(sizeof *j);
  j->fn = fn;
  j->arg = arg;
  j->arg_free = o ? o->arg_free : NULL;
  j->loop = L;
  j->pool = w->pool;
  j->klass = (uint8_t)k;
  j->promise = aw__promise_alloc(L);
  j->state = J_LOCAL;
  atomic_init(&j->cancelled, 0);
  if (o && o->signal) {
    j->signal = aw_retain(o->signal);
    j->listener.fn = on_abort;
    aw_signal_listen(j->signal, &j->listener);
  }
  if (o && o->timeout_ms) {
    j->deadline = aw_set_timeout(L, o->timeout_ms > INT32_MAX ? INT32_MAX : (int64_t)o->timeout_ms,
                                 on_deadline, j);
    aw_timer_unref(L, j->deadline); /* the job itself keeps the loop alive */
  }
  L->jobs_pending++;
  j->qnext = NULL; /* the batch, handed to the pool once this turn */
  if (w->batch_tail)
    w->batch_tail->qnext = j;
  else
    w->batch_head = j;
  w->batch_tail = j;
  return aw_retain(j->promise);
}

/* ---- raw jobs (the io layer's; workers/pool.h) ---------------------------------------------- */

int aw__work_raw(aw_loop *L, enum aw_work_class klass, aw__raw_fn run, void *arg, aw_job **out) {
  if (AW__UNLIKELY(klass != AW_WORK_CPU && klass != AW_WORK_BLOCKING))
    return -EINVAL;
  if (AW__UNLIKELY(L->freeing))
    return -ESHUTDOWN;
  aw__loopwork *w = loopwork(L);
  if (AW__UNLIKELY(!w->pool || atomic_load_explicit(&w->pool->shutdown, memory_order_relaxed)))
    return -ESHUTDOWN;
  aw_job *j = job_take(w);
  if (!j)
    return -ENOMEM;
  j->raw_fn = run;
  j->arg = arg;
  j->raw = true;
  j->loop = L;
  j->pool = w->pool;
  j->klass = (uint8_t)klass;
  j->state = J_LOCAL;
  j->qnext = NULL; /* the batch, as aw_work's jobs: not counted in jobs_pending */
  if (w->batch_tail)
    w->batch_tail->qnext = j;
  else
    w->batch_head = j;
  w->batch_tail = j;
  if (out)
    *out = j;
  return 0;
}

int aw__work_raw_cancel(aw_loop *L, aw_job *j) {
  aw__loopwork *w = L->work;
  pclass *C = &w->pool->cls[j->klass];
  pthread_mutex_lock(&C->lock); /* pool threads change the state under it */
  int state = j->state;
  if (state == J_QUEUED) {
    q_unlink(C, j);
    pending_sub(C, 1);
  }
  pthread_mutex_unlock(&C->lock);
  if (state == J_LOCAL) { /* still in the loop's batch */
    batch_unlink(w, j);
  } else if (state != J_QUEUED) {
    return -EALREADY;
  }
  j->raw_fn(j->arg, true);
  job_recycle(L, j);
  return 0;
}

/* Hands the jobs made this turn to the pool: one lock per class. */
void aw__work_flush(aw_loop *L) {
  aw__loopwork *w = L->work;
  if (!w)
    return;
  if (AW__UNLIKELY(w->fork_gen != fork_gen)) { /* a fork()ed child: its pool has no threads */
    w->fork_gen = fork_gen;
    aw__work_kick(L);
  }
  aw_job *j = w->batch_head;
  w->batch_head = w->batch_tail = NULL;
  aw_pool *P = w->pool;
  for (int k = 0; k < 2; k++) {
    pclass *C = &P->cls[k];
    unsigned n = 0;
    /* raw jobs that ended are taken back under the lock this takes anyway, or one for them */
    bool reclaim = atomic_load_explicit(&w->q[k].has_done, memory_order_relaxed);
    bool locked = false;
    aw_job **pp = &j;
    while (*pp) {
      aw_job *x = *pp;
      if (x->klass != k) {
        pp = &x->qnext;
        continue;
      }
      *pp = x->qnext;
      if (!locked) {
        pthread_mutex_lock(&C->lock);
        locked = true;
      }
      if (atomic_load(&P->shutdown) && !P->drain) { /* shut down meanwhile */
        if (x->raw) {
          x->q = &w->q[k];
          x->raw_fn(x->arg, true);
          raw_ended(x);
          continue;
        }
        x->state = J_DONE;
        x->err = JE_SHUTDOWN;
        post_done(x);
        continue;
      }
      x->state = J_QUEUED;
      q_push(C, &w->q[k], x);
      n++;
    }
    if (AW__UNLIKELY(reclaim && !locked)) {
      pthread_mutex_lock(&C->lock);
      locked = true;
    }
    if (locked) {
      if (n) {
        atomic_fetch_add_explicit(&C->pending, n, memory_order_release);
        kick(P, C, n);
      }
      if (w->q[k].done)
        raw_reclaim(L, &w->q[k]);
      pthread_mutex_unlock(&C->lock);
    }
  }
}

/* After fork: a class with queued jobs and no thread gets threads again. */
void aw__work_kick(aw_loop *L) {
  aw__loopwork *w = L->work;
  if (!w || !w->pool)
    return;
  for (int k = 0; k < 2; k++) {
    pclass *C = &w->pool->cls[k];
    if (atomic_load_explicit(&C->pending, memory_order_relaxed) == 0)
      continue;
    pthread_mutex_lock(&C->lock);
    if (C->threads == 0 && C->rr)
      kick(w->pool, C, atomic_load(&C->pending));
    pthread_mutex_unlock(&C->lock);
  }
}

/* Whether a job of L is in the class's running list (the class lock held). */
static bool runs_job_of(pclass *C, aw_loop *L) {
  for (aw_job *j = C->running; j; j = j->qnext)
    if (j->loop == L)
      return true;
  return false;
}

/*
 * aw_loop_free: the loop's jobs that wait are removed; the running ones are
 * cancelled (aw_job_cancelled) and waited for, so that when aw_loop_free
 * returns no job of the loop runs and every job is in the inbox, whose drain
 * frees it (and calls arg_free) on the loop's thread.
 */
static void work_loop_free(aw_loop *L) {
  aw__loopwork *w = L->work;
  if (!w)
    return;
  while (w->batch_head) {
    aw_job *j = w->batch_head;
    w->batch_head = j->qnext;
    if (j->raw) {
      j->raw_fn(j->arg, true);
      job_recycle(L, j);
    } else {
      job_end(L, j, aw_undefined(), true);
    }
  }
  w->batch_tail = NULL;
  aw_pool *P = w->pool;
  for (int k = 0; k < 2; k++) {
    pclass *C = &P->cls[k];
    pthread_mutex_lock(&C->lock);
    /* queued: in the loop's own queue of the class */
    while (w->q[k].head) {
      aw_job *j = w->q[k].head;
      q_unlink(C, j);
      pending_sub(C, 1);
      if (j->raw) {
        j->raw_fn(j->arg, true);
        job_recycle(L, j);
      } else {
        job_end(L, j, aw_undefined(), true);
      }
    }
    /* running: cancelled (raw ones are not: they end by themselves), and waited for; finish
     * posts them to the inbox (raw ones to the done list) */
    for (aw_job *j = C->running; j; j = j->qnext) {
      if (j->loop == L) {
        if (!j->raw)
          atomic_store(&j->cancelled, 1);
        j->state = J_LOOP_WAITS;
      }
    }
    rr_remove(C, &w->q[k]);
    pthread_mutex_unlock(&C->lock);
  }
  /* both classes told first, so a long job of one does not delay the other's flag */
  for (int k = 0; k < 2; k++) {
    pclass *C = &P->cls[k];
    pthread_mutex_lock(&C->lock);
    while (runs_job_of(C, L))
      pthread_cond_wait(&C->done_cond, &C->lock);
    pthread_mutex_unlock(&C->lock);
  }
  /* done: every job of L is in its inbox now, which aw_loop_free drains next */
}

/* Frees the loop's part, once its inbox was drained (after work_loop_free). */
static void work_loop_destroy(aw_loop *L) {
  aw__loopwork *w = L->work;
  if (!w)
    return;
  for (int k = 0; k < 2; k++) { /* raw jobs that ended: no thread touches them any more */
    while (w->q[k].done) {
      aw_job *j = w->q[k].done;
      w->q[k].done = j->qnext;
      free(j);
    }
  }
  while (w->cache) {
    aw_job *j = w->cache;
    w->cache = j->qnext;
    free(j);
  }
  if (w->pool)
    pool_unref(w->pool);
  aw__free(w, sizeof(aw__loopwork));
  L->work = NULL;
  L->work_vt = NULL;
}

/* ---- shutdown
 * ------------------------------------------------------------------------------------ */

static unsigned count_running(pclass *C) {
  unsigned n = 0;
  pthread_mutex_lock(&C->lock);
  for (aw_job *j = C->running; j; j = j->qnext)
    n++;
  pthread_mutex_unlock(&C->lock);
  return n;
}

int aw_pool_shutdown(aw_pool *P, bool drain, uint64_t timeout_ms, aw_pool_report *out) {
  if (!P)
    return -EINVAL;
  /* on a loop's thread, the jobs it made this turn go to the pool first, so drain runs them */
  aw_loop *L = aw__tls_loop;
  if (L && L->work && L->work->pool == P && !L->freeing)
    aw__work_flush(L);
  aw_pool_report rep = {0, 0, 0};
  for (int k = 0; k < 2; k++)
    pthread_mutex_lock(&P->cls[k].lock);
  P->drain = drain;
  atomic_store(&P->shutdown, true);
  for (int k = 0; k < 2; k++) {
    pclass *C = &P->cls[k];
    if (!drain)
      rep.cancelled += fail_queued(C, JE_SHUTDOWN, 0);
    pthread_cond_broadcast(&C->cond);
  }
  for (int k = 1; k >= 0; k--)
    pthread_mutex_unlock(&P->cls[k].lock);

  /* wait for the threads, up to the deadline */
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += (time_t)(timeout_ms / 1000);
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
  if (deadline.tv_nsec >= 1000000000) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&P->exit_lock);
  while (P->live > 0 && pthread_cond_timedwait(&P->exit_cond, &P->exit_lock, &deadline) == 0)
    ;
  unsigned left = P->live;
  pthread_mutex_unlock(&P->exit_lock);
  if (left) {
    rep.threads_left = left;
    rep.still_running = count_running(&P->cls[0]) + count_running(&P->cls[1]);
  }
  if (out)
    *out = rep;
  return rep.threads_left ? -ETIMEDOUT : 0;
}

void aw_pool_free(aw_pool *P) {
  if (!P)
    return;
  pthread_mutex_lock(&default_lock);
  if (P == default_pool)
    default_pool = NULL; /* aw_pool_default() makes a new one when asked again */
  pthread_mutex_unlock(&default_lock);
  aw_pool_shutdown(P, false, 5000, NULL);
  pool_unref(P); /* threads still running hold their own references */
}

/* ---- getaddrinfo
 * ----------------------------------------------------------------------------------- */

typedef struct dns_req {
  int family;
  char host[];
} dns_req;

static const char *eai_code(int e) {
  switch (e) {
  case EAI_NONAME:
#ifdef EAI_NODATA
  case EAI_NODATA:
#endif
    return "ENOTFOUND";
  case EAI_AGAIN:
    return "EAI_AGAIN";
  case EAI_FAIL:
    return "EAI_FAIL";
  case EAI_FAMILY:
    return "EAI_FAMILY";
  case EAI_MEMORY:
    return "EAI_MEMORY";
  default:
    return "EAI_FAIL";
  }
}

static aw_val dns_job(aw_job *job, void *arg) {
  (void)job;
  const dns_req *r = arg;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = r->family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  int e = getaddrinfo(r->host, NULL, &hints, &res);
  if (e != 0) {
    aw_error *err = aw_error_new("Error", "getaddrinfo %s %s", eai_code(e), r->host);
    if (e == EAI_SYSTEM)
      err->errnum = errno;
    return aw_throw(aw_obj_val(err));
  }
  aw_array *a = aw_array_new(4);
  if (!a) {
    freeaddrinfo(res);
    return aw_throw(aw_obj_val(aw_error_errno(-ENOMEM, "getaddrinfo", r->host)));
  }
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN];
    const void *src = ai->ai_family == AF_INET
                          ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                          : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
    aw_str *s = inet_ntop(ai->ai_family, src, text, sizeof text) ? aw_str_from(text) : NULL;
    if (s && aw_array_push(a, aw_obj_val(s)) < 0) {
      aw_release(a);
      freeaddrinfo(res);
      return aw_throw(aw_obj_val(aw_error_errno(-ENOMEM, "getaddrinfo", r->host)));
    }
  }
  freeaddrinfo(res);
  return aw_obj_val(a);
}

aw_promise *aw_dns_lookup(aw_loop *L, const char *host, int family, const aw_work_opts *o) {
  if (!L || !aw__on_owner(L))
    return NULL;
  if (!host || !host[0] || (family != 0 && family != AF_INET && family != AF_INET6))
    return aw_promise_rejected(L, aw_err("TypeError", "aw_dns_lookup: a host name and "
                                                      "AF_INET, AF_INET6 or 0"));
  size_t n = strlen(host) + 1;
  dns_req *r = AW__FAULT(ALLOC) ? NULL : malloc(sizeof *r + n);
  if (!r)
    return aw_promise_rejected(L, aw_obj_val(aw_error_errno(-ENOMEM, "getaddrinfo", host)));
  r->family = family;
  memcpy(r->host, host, n);
  aw_work_opts wo = {AW_WORK_BLOCKING, o ? o->signal : NULL, o ? o->timeout_ms : 0, free};
  return aw_work(L, dns_job, r, &wo); /* the job owns r now, whatever happens */
}
