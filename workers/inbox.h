/*
 * workers/inbox.h — a loop's inbox: tasks from any thread (aw_loop_post, pool
 * job completions) to the loop. Internal.
 *
 * A bounded ring of cells, each with a sequence number (Vyukov's bounded
 * queue, with one consumer): a producer claims a position with one CAS on the
 * tail, writes the cell, and publishes it by storing seq = pos + 1 (release);
 * the loop reads a cell when its seq says it is published (acquire), and
 * frees it for the next lap by storing seq = pos + capacity. No locks, no
 * allocation, one atomic read-modify-write per task.
 *
 * When the ring is full, tasks go to an overflow list under a mutex, and keep
 * going there until the loop has drained it: a producer's tasks are never
 * reordered, and nothing is ever dropped.
 */
#ifndef AW_WORKERS_INBOX_H
#define AW_WORKERS_INBOX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "aw/loop.h"

#define AW__INBOX_CELLS 4096

typedef struct aw__inbox_cell {
  _Atomic uint64_t seq;
  aw_task_fn fn;
  void *arg;
  uint64_t pad_;
} aw__inbox_cell;

typedef struct aw__inbox {
  _Alignas(64) _Atomic uint64_t tail; /* producers */
  _Alignas(64) uint64_t head;         /* the loop */
  aw__inbox_cell *cells;
  _Alignas(64) pthread_mutex_t over_lock;
  _Atomic uint32_t over_count;
  uint32_t over_len, over_cap, over_head;
  struct aw__inbox_task {
    aw_task_fn fn;
    void *arg;
  } * over;
} aw__inbox;

int aw__inbox_init(aw__inbox *q);
void aw__inbox_destroy(aw__inbox *q);
/* Any thread: 0, or -ENOMEM (the overflow could not grow; nothing was queued). */
int aw__inbox_push(aw__inbox *q, aw_task_fn fn, void *arg);
/* The loop: the oldest task, or false if there is none. */
bool aw__inbox_pop(aw__inbox *q, aw_task_fn *fn, void **arg);
/* The loop: whether a task is ready (ring or overflow). */
bool aw__inbox_ready(aw__inbox *q);

#endif
