/*
 * workers/pool.h — what the loop and the io layer use of the worker pool.
 * Internal.
 */
#ifndef AW_WORKERS_POOL_H
#define AW_WORKERS_POOL_H

#include "aw/work.h"
#include "executor/internal.h"

/* A job's completion, as posted to its loop's inbox (a macrotask). */
void aw__job_done(aw_loop *L, void *arg);
/* Hands the jobs made this turn to the pool (once per loop turn). */
void aw__work_flush(aw_loop *L);
/* After fork(): classes with queued jobs and no thread get threads again. */
void aw__work_kick(aw_loop *L);
/* aw_loop_free: removes the loop's waiting jobs, cancels its running ones and
 * waits until they are in its inbox; then, after the inbox was drained, frees
 * the loop's part. */
void aw__work_loop_free(aw_loop *L);
void aw__work_loop_destroy(aw_loop *L);

#endif
