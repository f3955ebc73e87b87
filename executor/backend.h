/*
 * executor/backend.h — the seam between the loop and its I/O backend.
 * Internal.
 *
 * The loop (executor/loop.c) knows nothing of io_uring, epoll or the op layer:
 * it opens a backend when it is made, calls its poll in the I/O phase, asks
 * whether it keeps the loop alive, and frees it. The backends live in io/
 * (io/op.c implements aw__backend_open and both vtables); io/ and workers/
 * build on the executor, never the other way round.
 *
 *   executor/loop.c ──> aw__backend_vt (this file) <── io/op.c ──> io/uring.c | io/epoll.c
 */
#ifndef AW_EXECUTOR_BACKEND_H
#define AW_EXECUTOR_BACKEND_H

#include <stdbool.h>

#include "aw/loop.h"

typedef struct aw__backend_vt {
  const char *name; /* "io_uring", "epoll" */
  /*
   * The I/O phase: hand what was queued to the system, wait up to timeout_ms
   * (-1: no limit, 0: no wait) for completions or a wake-up, and dispatch what
   * completed, each completion a macrotask. Announces its sleep to the inbox
   * (aw__inbox_sleep/awake) when it may block.
   */
  void (*poll)(aw_loop *L, int timeout_ms);
  /* Operations in flight (or closes not done) keep the loop alive. */
  bool (*alive)(const aw_loop *L);
  /* aw_loop_free: cancels what is in flight, waits for it, frees the backend. */
  void (*free)(aw_loop *L);
} aw__backend_vt;

/*
 * Opens L's backend as cfg (and AW_IO) ask: sets L->backend and L->io.
 * Returns 0, or -errno / AW_ENOURING with *err (if err) saying why.
 * Implemented in io/op.c.
 */
int aw__backend_open(aw_loop *L, const aw_loop_config *cfg, aw_val *err);

#endif
