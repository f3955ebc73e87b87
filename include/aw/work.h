/*
 * aw/work.h — the worker pool: CPU-bound and blocking work off the loop.
 *
 * aw_work(L, fn, arg, opts) runs fn(job, arg) on a pool thread and returns a
 * promise (yours) that settles on the loop's thread, in the I/O phase, as a
 * macrotask followed by a microtask checkpoint, with what fn returned (or
 * rejects with what it threw: return aw_throw(err)).
 *
 * A job never touches a promise or the loop: everything it needs travels in
 * arg, and its result travels back in the value it returns. Objects it makes
 * (buffers, strings, errors) belong to the job's thread until fn returns,
 * then to the loop's. arg is yours: keep it alive until the promise settles,
 * or, if the loop is freed first, until aw_loop_free has returned; or give
 * opts.arg_free, and the job owns it: arg_free(arg) runs exactly once when
 * the job is over (after fn ran, or when it never will: cancelled, refused,
 * shut down, its loop freed), on the loop's thread.
 *
 * Jobs and aw_loop_free (the lifetime contract, see aw/loop.h): the loop's
 * jobs that wait (made this turn, or queued in the pool) are dropped and
 * never run; the ones that run are cancelled (aw_job_cancelled turns true)
 * and aw_loop_free waits until fn has returned, however long that takes, so
 * long jobs should poll the flag (and a job must not wait for its own loop
 * to do something: the loop may be waiting for it). No promise of the loop
 * settles. When
 * aw_loop_free returns, no fn of the loop runs, each arg_free has run (on the
 * loop's thread) and no pool thread touches the loop again.
 *
 * Two classes of threads, so that slow blocking calls never starve CPU work
 * and the other way round (libuv's well-known threadpool starvation):
 *  - AW_WORK_CPU: as many threads as online CPUs by default;
 *  - AW_WORK_BLOCKING: for calls that sleep in the system (file systems,
 *    getaddrinfo); 16 threads by default, at most AW_POOL_BLOCKING_MAX;
 *    jobs beyond wait in order.
 * Threads start when work arrives. One pool may serve several loops, which
 * take turns (round robin), so a loop that queues a million jobs does not
 * starve another.
 *
 * fork(): in the child the pool works (re-initialised, as libuv does): jobs
 * that were running fail ("the thread running this job does not exist after
 * fork()"), queued ones run on new threads. See aw/loop.h for the loops.
 *
 * Cancellation: a job accepts an aw_signal. Aborting it while the job waits
 * removes it and rejects its promise with the signal's reason; aborting it
 * while it runs rejects the promise at once and raises the job's cancelled
 * flag (aw_job_cancelled), which fn may poll to stop early; whatever fn
 * returns then is freed when it finishes.
 *
 * Threads: aw_work, aw_loop_set_pool: the loop's thread. aw_job_cancelled: the
 * job's thread. aw_pool_*: any thread (not from a job of the same pool for
 * shutdown and free).
 */
#ifndef AW_WORK_H
#define AW_WORK_H

#include "promise.h"
#include "signal.h"
#include "val.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aw_pool aw_pool;
typedef struct aw_job aw_job;

enum aw_work_class { AW_WORK_CPU = 0, AW_WORK_BLOCKING = 1 };

#define AW_POOL_BLOCKING_DEFAULT 16
#define AW_POOL_BLOCKING_MAX 1024
#define AW_POOL_CPU_MAX 1024

/* The job: returns its result, or aw_throw(error). Runs on a pool thread. */
typedef aw_val (*aw_work_fn)(aw_job *job, void *arg);

typedef struct aw_work_opts {
  enum aw_work_class klass;    /* AW_WORK_CPU (the default) or AW_WORK_BLOCKING */
  aw_signal *signal;           /* cancels the job (borrowed; the job retains it) */
  uint64_t timeout_ms;         /* if not 0: cancel with a TimeoutError after that long */
  void (*arg_free)(void *arg); /* if set, aw_work owns arg: freed once the job is over */
} aw_work_opts;

/*
 * Runs fn(job, arg) on the loop's pool (the process's default pool unless
 * aw_loop_set_pool chose another). NULL on a loop of another thread or a NULL
 * fn. If no thread of the class can be started, the promise rejects with an
 * Error naming pthread_create's failure.
 */
aw_promise *aw_work(aw_loop *L, aw_work_fn fn, void *arg, const aw_work_opts *o);

/* From inside fn: whether the job was cancelled (poll it in long jobs). */
bool aw_job_cancelled(const aw_job *job);

/* ---- pools ---------------------------------------------------------------------- */

typedef struct aw_pool_config {
  unsigned cpu_threads;      /* 0: online CPUs */
  unsigned blocking_threads; /* 0: AW_POOL_BLOCKING_DEFAULT */
  unsigned spin_us;          /* how long an idle thread spins before sleeping; 0: 50 */
} aw_pool_config;

/* A new pool (no thread runs until work arrives). NULL if out of memory. */
aw_pool *aw_pool_new(const aw_pool_config *cfg);
/*
 * The process's pool, made on first use with the defaults (borrowed). After
 * aw_pool_free(aw_pool_default()) the next call makes a new one: loops that
 * had used the old one keep it (shut down: their aw_work rejects), loops
 * that had not yet used a pool get the new one.
 */
aw_pool *aw_pool_default(void);
/* Which pool the loop's aw_work uses: -EBUSY once the loop has used one. */
int aw_loop_set_pool(aw_loop *L, aw_pool *pool);

/*
 * Changes how many threads a class may run (1 to AW_POOL_CPU_MAX or
 * AW_POOL_BLOCKING_MAX): extra threads finish their job and leave; new ones
 * start as work arrives. 0 or -EINVAL.
 */
int aw_pool_resize(aw_pool *pool, enum aw_work_class klass, unsigned threads);

typedef struct aw_pool_report {
  unsigned cancelled;     /* jobs that were waiting and were rejected */
  unsigned still_running; /* jobs running when the time ran out */
  unsigned threads_left;  /* threads that had not finished (left detached) */
} aw_pool_report;

/*
 * Stops the pool. drain: every job made before the call still runs: those
 * queued in the pool, and those a loop made but has not handed to the pool
 * yet (a loop hands its jobs over once per turn; called on a loop's thread,
 * shutdown hands that loop's over first; another loop's go when that loop
 * next turns, and a thread starts again to run them if the pool's had left).
 * Without drain they are rejected with an AbortError "the worker pool was
 * shut down" (report.cancelled counts those in the pool, the calling loop's
 * included). Waits up to timeout_ms for the threads to finish, then reports
 * what still runs instead of hanging: those threads finish their job on
 * their own, its promise settles with its result as usual, and then they
 * exit. Later aw_work calls on the pool reject. Returns 0, or -ETIMEDOUT if
 * something was still running.
 */
int aw_pool_shutdown(aw_pool *pool, bool drain, uint64_t timeout_ms, aw_pool_report *out);

/*
 * Shuts the pool down (cancelling, waiting up to 5 s) and lets it go: its
 * memory goes once its last thread has left and every loop that used it was
 * freed, so loops may be freed before or after it.
 */
void aw_pool_free(aw_pool *pool);

typedef struct aw_pool_stats {
  unsigned cpu_threads, blocking_threads; /* running now */
  uint64_t jobs_run;                      /* jobs whose fn ran */
  uint64_t thread_starts, thread_start_failures;
  uint64_t sleeps;  /* times an idle thread went to sleep */
  uint64_t wakeups; /* times a sleeping thread was signalled */
} aw_pool_stats;

void aw_pool_stats_get(aw_pool *pool, aw_pool_stats *out);

/* ---- blocking system calls on the blocking class ------------------------------------- */

/*
 * getaddrinfo(host) on the blocking class: resolves with an array of address
 * strings ("127.0.0.1", "::1"), in the order the system gives them; family is
 * AF_INET, AF_INET6 or 0 for both. Rejects with "getaddrinfo ENOTFOUND host"
 * and the like, as Node does.
 */
aw_promise *aw_dns_lookup(aw_loop *L, const char *host, int family, const aw_work_opts *o);

#ifdef __cplusplus
}
#endif
#endif
