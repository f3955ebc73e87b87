/*
 * io/backend.h — what the op core (io/op.c, io/bufring.c, io/embed.c) asks of
 * a loop's I/O backend. Internal.
 *
 * Both backends take SQEs and give CQEs with io_uring's conventions: io_uring
 * itself (io/uring.c: setup, probe, teardown; the calls below are liburing's,
 * inlined) and epoll (io/epoll.c: a user-space executor of SQEs). Each call
 * switches on R->kind; on io_uring the branch is one well-predicted compare in
 * front of the same liburing call as before the split, so the io_uring path
 * costs what it did. Nothing but io/uring.c and this file touches R->ring.
 */
#ifndef AW_IO_BACKEND_H
#define AW_IO_BACKEND_H

#include "io/epoll.h"
#include "io/internal.h"

#include <string.h>

/* ---- io/uring.c -------------------------------------------------------------------------- */

/*
 * Sets up R->ring with entries SQEs and cq_entries CQEs (the best setup flags the
 * kernel takes), checks IORING_FEAT_NODROP and probes the opcodes into R->caps.
 * With need_ops, an opcode the op layer uses that the probe says is missing is a
 * failure too (AUTO falls back to epoll then; a forced io_uring runs without it, as
 * it always did). Returns 0; or the setup's -errno, or AW_ENOURING, with the ring
 * closed and why[0..n) the error's text ("io_uring is not available: ... ; what to do").
 */
int aw__uring_open(aw__io *R, unsigned entries, unsigned cq_entries, bool need_ops, char *why,
                   size_t n);
/* Unmaps the ring (every SQE given out has completed, or the loop is a fork()ed copy). */
void aw__uring_close(aw__io *R);

/* ---- the calls ----------------------------------------------------------------------------- */

#define AW__BE_URING_P(R) __builtin_expect((R)->kind == AW__BE_URING, 1)

/* A free SQE, or NULL if the SQ is full (submit first). */
static inline struct io_uring_sqe *aw__be_get_sqe(aw__io *R) {
  if (AW__BE_URING_P(R))
    return io_uring_get_sqe(&R->ring);
  return aw__ep_get_sqe(R->ep);
}

/* SQEs queued and not submitted. */
static inline unsigned aw__be_sq_ready(aw__io *R) {
  if (AW__BE_URING_P(R))
    return io_uring_sq_ready(&R->ring);
  return aw__ep_sq_ready(R->ep);
}

/* CQEs ready to be taken. */
static inline unsigned aw__be_cq_ready(aw__io *R) {
  if (AW__BE_URING_P(R))
    return io_uring_cq_ready(&R->ring);
  return aw__ep_cq_ready(R->ep);
}

/* Submits what is queued without waiting; how many went in, or -errno. */
static inline int aw__be_submit(aw__io *R) {
  if (AW__BE_URING_P(R))
    return io_uring_submit(&R->ring);
  return aw__ep_submit(R->ep);
}

/*
 * Submits what is queued and collects completions: timeout_ms 0 does not wait
 * (on io_uring it runs the task work of a DEFER_TASKRUN ring), -1 waits for at
 * least one completion (or a wake-up) with no limit, > 0 at most that long.
 * 0 or a count; -ETIME, -EINTR, -EBUSY/-EAGAIN (the CQ must be drained first)
 * need no handling: what was not taken stays queued.
 */
static inline int aw__be_enter(aw__io *R, int timeout_ms) {
  if (AW__BE_URING_P(R)) {
    if (timeout_ms == 0)
      return io_uring_submit_and_get_events(&R->ring);
    struct __kernel_timespec ts, *tsp = NULL;
    if (timeout_ms > 0) {
      ts.tv_sec = timeout_ms / 1000;
      ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
      tsp = &ts;
    }
    struct io_uring_cqe *cqe;
    return io_uring_submit_and_wait_timeout(&R->ring, &cqe, 1, tsp, NULL);
  }
  return aw__ep_enter(R->ep, timeout_ms);
}

/* Takes the next CQE into *out (its slot is free again at once); false if none. On
 * io_uring a peek at an empty CQ also flushes the kernel's overflow list (NODROP). */
static inline bool aw__be_peek(aw__io *R, aw__cqe *out) {
  if (AW__BE_URING_P(R)) {
    struct io_uring_cqe *cqe;
    if (io_uring_peek_cqe(&R->ring, &cqe) != 0)
      return false;
    out->data = cqe->user_data;
    out->res = cqe->res;
    out->flags = cqe->flags;
    io_uring_cqe_seen(&R->ring, cqe);
    return true;
  }
  return aw__ep_peek(R->ep, out);
}

/* The provided buffer ring br (entries, a power of 2) as group bgid; 0 or -errno. */
static inline int aw__be_buf_ring_register(aw__io *R, struct io_uring_buf_ring *br,
                                           unsigned entries, unsigned short bgid) {
  if (AW__BE_URING_P(R)) {
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uintptr_t)br;
    reg.ring_entries = entries;
    reg.bgid = bgid;
    return io_uring_register_buf_ring(&R->ring, &reg, 0);
  }
  return aw__ep_buf_ring_register(R->ep, br, entries, bgid);
}

static inline void aw__be_buf_ring_unregister(aw__io *R, unsigned short bgid) {
  if (AW__BE_URING_P(R))
    (void)io_uring_unregister_buf_ring(&R->ring, bgid);
  else
    aw__ep_buf_ring_unregister(R->ep, bgid);
}

/*
 * aw_loop_fd. io_uring: completions of a DEFER_TASKRUN ring are task work that
 * nothing polls, so the embedder makes an eventfd (efd) the kernel signals, and
 * aw__be_embed_signalled runs that task work when it fired; the function returns
 * efd. epoll: the backend's own descriptor (efd is not used, -1 may be passed).
 * -errno on failure.
 */
static inline int aw__be_embed_attach(aw__io *R, int efd) {
  if (AW__BE_URING_P(R)) {
    int r = io_uring_register_eventfd(&R->ring, efd);
    return r < 0 ? r : efd;
  }
  return aw__ep_fd(R->ep);
}

static inline void aw__be_embed_detach(aw__io *R) {
  if (AW__BE_URING_P(R))
    (void)io_uring_unregister_eventfd(&R->ring);
}

/* Whether the backend wants an eventfd of the embedder's (see aw__be_embed_attach). */
static inline bool aw__be_embed_wants_eventfd(const aw__io *R) { return R->kind == AW__BE_URING; }

/* The embedder's eventfd was signalled: makes the completions it stands for visible. */
static inline void aw__be_embed_signalled(aw__io *R) {
  if (AW__BE_URING_P(R)) {
    (void)io_uring_get_events(&R->ring);
    R->stats.enters++;
  }
}

#endif
