/*
 * io/epoll.h — the epoll backend: a user-space executor of io_uring SQEs.
 * Internal; used by io/op.c through io/backend.h.
 *
 * The op layer describes every step as an SQE on both backends. This backend
 * hands out SQEs from its own SQ, executes each opcode with the equivalent
 * system call (sockets: non-blocking calls driven by epoll readiness; files:
 * blocking calls on the worker pool's blocking class, io/epoll_file.c) and
 * produces CQEs with the kernel's conventions (res = -errno, IORING_CQE_F_MORE
 * for multishot, IORING_CQE_F_BUFFER | bid << 16 for a selected buffer,
 * IORING_CQE_F_NOTIF) into its own CQ.
 */
#ifndef AW_IO_EPOLL_H
#define AW_IO_EPOLL_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "aw/io.h"

typedef struct aw__ep aw__ep;

/* One completion, copied out of a CQ (either backend's). */
typedef struct aw__cqe {
  uint64_t data;
  int32_t res;
  uint32_t flags;
} aw__cqe;

/* ---- io/epoll.c (loop thread unless said) ---------------------------------------------- */

/* A backend for L with an SQ of sq_entries; 0 or -errno. Watches L->wake_fd. */
int aw__ep_new(aw_loop *L, unsigned sq_entries, aw__ep **out);
/* Frees it; every SQE given out has completed (the op core waited for its CQEs). */
void aw__ep_free(aw__ep *ep);
/* What the backend supports (op_supported[], sq/cq sizes); the rest of caps is the core's. */
void aw__ep_caps(const aw__ep *ep, aw_io_caps *caps);
/* A free SQE (not zeroed, like the kernel ring's: fill it with a prep helper), or NULL if the
 * SQ is full (submit first). */
struct io_uring_sqe *aw__ep_get_sqe(aw__ep *ep);
unsigned aw__ep_sq_ready(const aw__ep *ep);
/* Starts the queued SQEs; returns how many, or -errno. */
int aw__ep_submit(aw__ep *ep);
/*
 * Submits, then waits up to timeout_ms (-1: no limit, 0: no wait) until the CQ
 * has something or the loop's wake eventfd fired; moves ready completions in.
 * 0, or -ETIME / -EINTR.
 */
int aw__ep_enter(aw__ep *ep, int timeout_ms);
/* Takes the next CQE; false if the CQ is empty. */
bool aw__ep_peek(aw__ep *ep, aw__cqe *out);
unsigned aw__ep_cq_ready(const aw__ep *ep);
/* The provided buffer ring of group bgid (io/bufring.c's memory, entries a power of 2). */
int aw__ep_buf_ring_register(aw__ep *ep, struct io_uring_buf_ring *br, unsigned entries,
                             unsigned short bgid);
void aw__ep_buf_ring_unregister(aw__ep *ep, unsigned short bgid);
/* A descriptor that is readable while completions may be ready (for aw_loop_fd). From then
 * on, completions posted by other threads always signal it (the loop no longer sleeps in
 * aw__ep_enter; the host does, on this descriptor). */
int aw__ep_fd(aw__ep *ep);
/* A completion from any thread (a worker's); wakes the loop. */
void aw__ep_post_cqe(aw__ep *ep, uint64_t data, int32_t res, uint32_t flags);

/* ---- io/epoll_file.c ------------------------------------------------------------------- */

/* Runs sqe (copied) on the worker pool's blocking class; its CQE comes by aw__ep_post_cqe.
 * 0, or -errno (then no CQE comes: the caller completes it with that error). */
int aw__epf_submit(aw__ep *ep, aw_loop *L, const struct io_uring_sqe *sqe);
/* Cancels the worker op with user_data: 0 if it had not started (its CQE, -ECANCELED, is
 * posted), -EALREADY if it runs (its CQE comes when it ends), -ENOENT if there is none.
 * all: every op on fd (IORING_ASYNC_CANCEL_FD semantics) or every op (ANY); returns the count. */
int aw__epf_cancel(aw__ep *ep, uint64_t user_data);
int aw__epf_cancel_fd(aw__ep *ep, int fd, bool any);
/* Hands the worker ops submitted since the last call to the pool (one lock per turn, not per
 * op); the backend calls it after it started SQEs or handled events, before it waits. */
void aw__epf_flush(aw__ep *ep);
/* Worker ops not finished (the backend spins for them before it sleeps). */
unsigned aw__epf_outstanding(const aw__ep *ep);
/* Frees io/epoll_file.c's state of ep (no op outstanding); called by aw__ep_free. */
void aw__epf_free(aw__ep *ep);

/* io/epoll_file.c's state lives in ep: this slot is its (NULL until it sets it). */
struct aw__epf;
struct aw__epf **aw__ep_file_state(aw__ep *ep);

#endif
