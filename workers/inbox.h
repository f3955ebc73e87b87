/*
 * workers/inbox.h — a loop's inbox: tasks from any thread (aw_loop_post, pool
 * job completions) to the loop. Internal.
 *
 * A bounded ring of cells: a producer claims a position with one CAS on the
 * tail (if the ring has room by the head the loop last published), writes the
 * argument, and publishes the cell by storing the function tagged with the
 * position's lap (release); the loop reads a cell when its tag says it is
 * this lap's (acquire). The loop never writes a cell: it publishes its head
 * every 64 tasks and whenever it finds the ring empty, so a cell's cache
 * line travels one way, from the producer to the loop, and a producer and
 * the loop working on neighbouring cells do not bounce lines. No locks, no
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

/*
 * 16 bytes, four to a cache line: the argument, and the function with the
 * cell's lap number in its top 16 bits (user-space code addresses never use
 * them; a function whose address would is sent through the overflow).
 */
typedef struct aw__inbox_cell {
  void *arg;
  _Atomic uint64_t fn_lap;
} aw__inbox_cell;

typedef struct aw__inbox {
  _Alignas(64) _Atomic uint64_t tail;     /* producers */
  _Alignas(64) _Atomic uint64_t head_pub; /* the loop's head, as producers see it */
  _Alignas(64) uint64_t head;             /* the loop */
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
