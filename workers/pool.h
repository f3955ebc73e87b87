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

#endif
