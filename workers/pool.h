/*
 * workers/pool.h — what the io layer uses of the worker pool. Internal.
 *
 * The loop itself (executor/) does not include this: it reaches the pool
 * through L->work_vt (executor/internal.h), which the pool installs when the
 * loop first uses it.
 */
#ifndef AW_WORKERS_POOL_H
#define AW_WORKERS_POOL_H

#include "aw/work.h"
#include "executor/internal.h"

/* Hands the jobs made this turn to the pool (once per loop turn; L->work_vt->flush). */
void aw__work_flush(aw_loop *L);
/* After fork(): classes with queued jobs and no thread get threads again. */
void aw__work_kick(aw_loop *L);

/*
 * Raw jobs: the io layer's way onto the pool (the epoll backend's file
 * operations, io/epoll_file.c). No promise, no inbox post, no signal or
 * deadline, and not counted in L->jobs_pending (whoever made the job keeps
 * the loop alive: an io op). run is called exactly once:
 *
 *   run(arg, false)  on a pool thread of the class: the job ran;
 *   run(arg, true)   if the job was removed before it started: on the loop's
 *                    thread by aw__work_raw_cancel, aw_loop_free (from
 *                    work_vt->loop_free, before the io layer's teardown) or a
 *                    flush into a pool shut down; on the calling thread by
 *                    aw_pool_shutdown(drain = false) or a class that cannot
 *                    start a thread; on the forking thread, in a fork()ed
 *                    child, for a job that was running in the parent.
 *
 * run(arg, true) may be called with the pool's class lock held: it must not
 * call into the pool. The results go back however the caller likes (the
 * epoll backend posts a CQE). Jobs reach the pool at the loop's next flush,
 * together with aw_work's (one lock per class per turn). aw_loop_free waits
 * for raw jobs that run, as for any job of the loop.
 */
typedef void (*aw__raw_fn)(void *arg, bool cancelled);
/* 0 (*out: the job, for aw__work_raw_cancel), -ENOMEM, -EINVAL (class), or -ESHUTDOWN (the
 * pool was shut down, or the loop is being freed): then run is never called. Loop thread. */
int aw__work_raw(aw_loop *L, enum aw_work_class klass, aw__raw_fn run, void *arg, aw_job **out);
/* Removes a raw job that has not started: 0, and run(arg, true) was called now; -EALREADY if it
 * runs or ran. j must not have ended yet as far as the caller knows: the pool reuses a job only
 * on the loop's thread, at a flush after run(arg, false) returned, so a caller that records in
 * run that it started (release) and checks that first (acquire) never passes a reused job. */
int aw__work_raw_cancel(aw_loop *L, aw_job *j);

#endif
