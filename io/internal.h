/*
 * io/internal.h — the op layer shared by io/op.c, io/file.c, io/net.c and the rest of io/.
 *
 * An op is one user-visible operation: it owns its promise, its buffers and
 * its copied paths, and submits one SQE at a time (a multi-step op such as
 * read_file submits the next step from its completion). The link between an
 * SQE and its op is the 64-bit user_data: the op's address. Values 1-3 are
 * tags for SQEs no op owns (cancels, the wake poll, background closes).
 *
 * An op's life:
 *
 *   new ──submit──> INFLIGHT ──CQE──> complete() ──> DONE (settled, freed)
 *          │  (no budget / no SQE)        └─ next step: submit again
 *          └──> QUEUED (the backlog, FIFO) ──budget──> INFLIGHT
 *
 * Abort (signal or timeout): a QUEUED op leaves the backlog, undoes what its
 * earlier steps did (on_abort with -ECANCELED) and settles at once; an
 * INFLIGHT op is marked ABORTED and an async cancel is sent. When
 * its CQE comes, whichever won the race decides: cancelled (or failed), then
 * on_abort() undoes what earlier steps did (closes a descriptor the op opened,
 * say) and the op settles with the abort reason; done anyway, then the step's
 * result counts as usual (a recv's bytes are never lost), and an op with more
 * steps stops before the next one (aw__op_submit) with the abort reason. The
 * op is freed only once the kernel gave its last CQE back (a multishot op:
 * the one without IORING_CQE_F_MORE), so buffers are never freed under the
 * kernel.
 *
 * The op core (io/op.c) reaches its backend, io_uring (io/uring.c) or epoll
 * (io/epoll.c), through the inline calls of io/backend.h: both take SQEs and
 * give CQEs, so everything above runs unchanged over either.
 */
#ifndef AW_IO_INTERNAL_H
#define AW_IO_INTERNAL_H

#include <liburing.h>

#include "aw/io.h"
#include "executor/backend.h"
#include "executor/internal.h"

typedef struct aw__op aw__op;

typedef struct aw__op_vt {
  const char *name; /* the operation, for error messages */
  /* Fills sqe for the op's current step (sqe->user_data is set by the core). */
  void (*prep)(aw__op *op, struct io_uring_sqe *sqe);
  /* A CQE of the op (not aborted). Settle and finish, or submit the next step. */
  void (*complete)(aw_loop *L, aw__op *op, int res, uint32_t flags);
  /*
   * An aborted op: undo what this step and the earlier ones did (may be NULL). res is the
   * step's result; -ECANCELED means the step did not happen (cancelled in the kernel, or the
   * op stopped before the step was submitted), so a close step left its descriptor open.
   */
  void (*on_abort)(aw_loop *L, aw__op *op, int res, uint32_t flags);
  /* Releases what the op owns besides its promise (may be NULL). */
  void (*cleanup)(aw_loop *L, aw__op *op);
} aw__op_vt;

enum { AW__OP_IDLE = 0, AW__OP_QUEUED, AW__OP_INFLIGHT };
enum {
  AW__OPF_ABORTED = 1,    /* the signal or the deadline fired */
  AW__OPF_MULTISHOT = 2,  /* more CQEs follow while IORING_CQE_F_MORE is set */
  AW__OPF_CANCEL_DUE = 4, /* a cancel is still to be sent (no SQE was free) */
  /* May wait for ever (a recv on an idle socket, an accept, a connect, a send to a peer that
   * does not read): never counted against caps.inflight_limit, never queued behind bounded
   * ops, so that no op waits behind idle connections. Set before the first submit. */
  AW__OPF_UNBOUNDED = 8,
  AW__OPF_UNREF = 16 /* does not keep the loop alive (aw__op_unref) */
};

struct aw__op {
  const aw__op_vt *vt;
  aw_loop *loop;
  aw_promise *promise; /* NULL once settled */
  aw__op *prev, *next; /* the backlog, or the loop's list of ops to cancel */
  aw_signal *signal;   /* retained, or NULL */
  aw_signal_listener listener;
  aw_timer deadline;
  aw_val abort_reason; /* set when aborted */
  uint32_t size;       /* of the whole op allocation */
  uint16_t state, flags;
  int fd; /* the descriptor the op works on, or -1 */
};

/* Which backend a loop's aw__io runs on. */
enum { AW__BE_URING = 1, AW__BE_EPOLL = 2 };

struct aw__ep;

/* A loop's I/O state: the op core's bookkeeping over one backend. */
typedef struct aw__io {
  uint8_t kind;         /* AW__BE_URING or AW__BE_EPOLL */
  bool wake_poll;       /* wake_fd is watched by a multishot poll SQE of ours (io_uring) */
  struct io_uring ring; /* kind AW__BE_URING: only io/uring.c and io/backend.h touch it */
  struct aw__ep *ep;    /* kind AW__BE_EPOLL (io/epoll.c) */
  aw_io_caps caps;
  aw_io_stats stats;
  unsigned inflight;    /* SQEs given to the kernel whose last CQE is not reaped */
  unsigned bounded;     /* of those, bounded ops' (the ones caps.inflight_limit caps) */
  unsigned ops_pending; /* ops not finished: they keep the loop alive */
  unsigned quiet;       /* quiet closes not given back yet: they keep the loop alive too */
  struct aw__listener *listeners;        /* the loop's open listeners (io/net.c) */
  aw__op *backlog_head, *backlog_tail;   /* bounded ops waiting for budget or an SQE */
  aw__op *ubacklog_head, *ubacklog_tail; /* unbounded ops waiting for an SQE */
  struct aw__bufring *bufring;           /* the provided buffer ring, made on first use */
  int bufring_err;                       /* why it could not be made (not tried again), or 0 */
  struct aw_receiver *receivers;         /* the loop's live receivers (io/recv.c) */
  aw__op *cancel_head;                   /* ops whose cancel waits for a free SQE */
  bool wake_armed;                       /* the wake poll is in flight (wake_poll only) */
} aw__io;

/* The largest buffer an operation allocates for one call (a "negative size" is a bug). */
#define AW__IO_MAX_LEN ((size_t)1 << 40)

/* user_data tags of SQEs no op owns */
enum { AW__TAG_CANCEL = 1, AW__TAG_WAKE = 2, AW__TAG_QUIET = 3 };

/*
 * A new op of vt with size bytes (zeroed beyond the header) and a promise.
 * Returns NULL, with *early set to the promise to return, when the op must
 * not start: a signal already aborted, or a loop without I/O.
 */
aw__op *aw__op_new(aw_loop *L, const aw__op_vt *vt, size_t size, const aw_io_opts *o,
                   aw_promise **early);
/* Gives the op's current step to the kernel now, or queues it. */
void aw__op_submit(aw__op *op);
/* Settles the op's promise (the first call only); v consumed (thrown: reject). */
void aw__op_settle(aw__op *op, aw_val v);
/* Settles with the errno error for res < 0 ("name path: message (ENAME)"). */
void aw__op_fail(aw__op *op, int res, const char *what);
/* Aborts the op (reason consumed): out of the backlog at once, or cancelled in the kernel. */
void aw__op_abort(aw__op *op, aw_val reason);
/* Frees the op: cleanup, the promise reference, the signal. No SQE may be in flight. */
void aw__op_finish(aw__op *op);
/* An op that runs for the library itself: its promise's outcome is nobody's concern. */
void aw__op_internal(aw__op *op);
/* An opts.timeout_ms timer (unref'd: the operation it bounds keeps the loop alive). */
aw_timer aw__io_deadline(aw_loop *L, uint64_t timeout_ms, aw_task_fn fn, void *arg);
/* The op no longer keeps the loop alive (its user waits on something else that does). */
void aw__op_unref(aw__op *op);
/* Takes the op's promise for the caller (a new reference). */
aw_promise *aw__op_promise(aw__op *op);
/* Closes fd in the background (a quiet close SQE, or close() when none is free). */
void aw__quiet_close(aw_loop *L, int fd);
/* Marks bytes the kernel wrote as defined for valgrind's memcheck. */
void aw__io_defined(const void *p, size_t n);
/* A promise rejected with a TypeError, for bad arguments. */
aw_promise *aw__io_bad_args(aw_loop *L, const char *what);

/* aw_loop_free: every listener of L is closed, its pending accepts dropped (io/net.c). */
void aw__net_loop_free(aw_loop *L);
/* L closed a descriptor: listeners paused for lack of one try again now (io/net.c). */
void aw__net_fd_closed(aw_loop *L);

/* aw_loop_free: every receiver of L turns inert, its pending next dropped (io/recv.c). */
void aw__recv_loop_free(aw_loop *L);

/*
 * The loop's provided buffer ring (io/bufring.c): fixed-size buffers the
 * kernel picks from when a recv has IOSQE_BUFFER_SELECT, so that a recv that
 * waits holds no memory. A buffer the kernel filled is handed to the user as
 * an aw_buf (flag AW__BUF_EXTERNAL) and goes back into the ring when that
 * aw_buf is freed, on any thread.
 */
typedef struct aw__bufring aw__bufring;
/* L's ring, registered on first use; NULL (and *err, -errno) if the kernel refuses it. */
aw__bufring *aw__bufring_get(aw_loop *L, int *err);
uint16_t aw__bufring_group(const aw__bufring *br);
size_t aw__bufring_bufsize(const aw__bufring *br);
/*
 * The buffer of a CQE with IORING_CQE_F_BUFFER as an aw_buf of len bytes
 * (yours). Out of memory: the buffer goes back to the ring and NULL.
 */
aw_buf *aw__bufring_take(aw__bufring *br, uint32_t cqe_flags, size_t len);
/* Gives a CQE's buffer straight back to the ring (a CQE nobody takes). */
void aw__bufring_give_back(aw__bufring *br, uint32_t cqe_flags);
/* A recv failed with ENOBUFS: adds buffers if the ring may still grow; true if it did. */
bool aw__bufring_grow(aw__bufring *br);
/* An aw_buf of the ring was freed (the release of aw__buf_external): its buffer goes back. */
void aw__buf_external_free(uint8_t *data);
/* Buffers other threads released go back into the ring (each I/O phase). */
void aw__bufring_reclaim(aw__bufring *br);
/* aw_loop_free: unregisters the ring; its memory lives on until the last buffer goes. */
void aw__bufring_loop_free(aw_loop *L);

/* Embedding (io/embed.c): L->embed_vt's hooks. */
void aw__embed_begin(aw_loop *L);
int aw__embed_end(aw_loop *L);
void aw__embed_free(aw_loop *L);

/* The op core over either backend (io/op.c); the loop reaches it through L->backend
 * (executor/backend.h), which aw__backend_open sets. */
int aw__io_init(aw_loop *L, const aw_loop_config *cfg, aw_val *err);
void aw__io_free(aw_loop *L);
/* The I/O phase: submit, wait up to timeout_ms (-1: no limit, 0: no wait), dispatch. */
void aw__io_poll(aw_loop *L, int timeout_ms);
bool aw__io_alive(const aw_loop *L);

#endif
