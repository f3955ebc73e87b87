/*
 * io/recv.c — receivers: one multishot recv per socket on the loop's buffer
 * ring (aw_receiver_new/next/free), so an idle connection holds no buffer and
 * no slot any other operation could wait for.
 *
 * States of a receiver:
 *
 *   armed (r->op: a multishot recv in the kernel, or the one-shot fallback)
 *     │ CQE with data ──> to the pending next, or into the queue
 *     │ queue reaches QUEUE_MAX ──> pause: the op is cancelled (it stays r->op
 *     │                              until its last CQE; what races in is kept)
 *     │ CQE 0 ──> eof: every next from then on resolves with an empty buffer
 *     │ CQE error ──> kept in r->err for the next next (after the queue)
 *     │ ENOBUFS ──> the ring grows, or one one-shot recv into an own buffer
 *     └ last CQE (no IORING_CQE_F_MORE) ──> unarmed: armed again if wanted
 *
 * Order: chunks reach the user in the order the kernel gave them: queued
 * chunks go first, then the stored EOF or error. At most one op per receiver
 * is in the kernel (a new one is armed only after the last CQE of the old).
 *
 * Liveness: a receiver's op never keeps the loop alive by itself (it is
 * unref'd); a pending next does (as a pending aw_sock_recv would). The op
 * points at its receiver without a reference: aw_receiver_free clears the
 * pointer and cancels the op, whose later CQEs give their buffers back.
 */
#define _GNU_SOURCE
#include "io/internal.h"

#include <stdio.h>
#include <string.h>

/*
 * Chunks a receiver keeps for a next that is not there; past it the recv
 * pauses (a cancel). The kernel drains a socket in bursts before it sees the
 * cancel, so the queue may pass this by what the socket's receive buffer held
 * (and never by more than the ring's buffers, since an empty ring ends the
 * recv with ENOBUFS): it is a soft bound, and nothing is ever dropped.
 */
#define QUEUE_MAX 8

typedef struct rop rop;

struct aw_receiver {
  aw_loop *loop;
  aw_receiver *prev, *next; /* the loop's receivers */
  int fd;
  bool closed;       /* the loop was freed: inert */
  bool eof;          /* the peer ended the stream */
  bool oneshot_next; /* the ring is out of buffers: the next arm is a one-shot recv */
  bool nobufs_again; /* the last recv ended with ENOBUFS already (no data since) */
  int err;           /* an error for the next next (after the queue), or 0 */
  rop *op;           /* the recv in the kernel until its last CQE, or NULL */
  aw_buf **q;        /* chunks not taken yet (a ring of qcap; NULL while empty) */
  uint32_t qhead, qlen, qcap;
  /* the pending next */
  aw_promise *wait;
  aw_signal *signal;
  aw_signal_listener listener;
  aw_timer deadline;
};

struct rop {
  aw__op op;
  aw_receiver *r; /* not a reference: NULL once the receiver went */
  aw__bufring *ring;
  aw_buf *own; /* the one-shot fallback's buffer, or NULL: a multishot recv */
};

/* ---- the pending next --------------------------------------------------------------------- */

static void wait_clear(aw_receiver *r) {
  if (r->deadline) {
    aw_clear_timer(r->loop, r->deadline);
    r->deadline = 0;
  }
  if (r->signal) {
    aw_signal_unlisten(r->signal, &r->listener);
    aw_release((aw_obj *)r->signal);
    r->signal = NULL;
  }
  aw_release(r->wait);
  r->wait = NULL;
  r->loop->io->ops_pending--; /* a pending next kept the loop alive */
}

/* Settles the pending next with v (consumed; thrown: reject). */
static void wait_settle(aw_receiver *r, aw_val v) {
  aw_promise *p = aw_retain(r->wait);
  wait_clear(r);
  aw__promise_settle_with(p, v);
  aw_release(p);
}

static aw_val recv_error(const aw_receiver *r, int res) {
  char what[32];
  snprintf(what, sizeof what, "fd %d", r->fd);
  return aw_throw(aw_obj_val(aw_error_errno(res, "recv", what)));
}

/* ---- the queue ------------------------------------------------------------------------------ */

static void queue_put(aw_receiver *r, aw_buf *b) {
  if (r->qlen == r->qcap) { /* past QUEUE_MAX by what the kernel took before the pause */
    uint32_t ncap = r->qcap ? r->qcap * 2u : QUEUE_MAX;
    aw_buf **q = aw__alloc(ncap * sizeof *q);
    for (unsigned i = 0; i < r->qlen; i++)
      q[i] = r->q[(r->qhead + i) % r->qcap];
    aw__free(r->q, r->qcap * sizeof *q);
    r->q = q;
    r->qhead = 0;
    r->qcap = ncap;
  }
  r->q[(r->qhead + r->qlen++) % r->qcap] = b;
}

static aw_buf *queue_take(aw_receiver *r) {
  aw_buf *b = r->q[r->qhead];
  r->qhead = (r->qhead + 1) % r->qcap;
  if (--r->qlen == 0) { /* an idle receiver holds no queue */
    aw__free(r->q, r->qcap * sizeof *r->q);
    r->q = NULL;
    r->qcap = r->qhead = 0;
  }
  return b;
}

static void queue_drop(aw_receiver *r) {
  while (r->qlen)
    aw_release(queue_take(r));
}

/* ---- the recv op ------------------------------------------------------------------------------
 */

static void arm(aw_receiver *r);

static bool wants_recv(const aw_receiver *r) {
  return !r->closed && !r->eof && !r->err && r->qlen < QUEUE_MAX;
}

static void pause_recv(aw_receiver *r) {
  if (r->op)
    aw__op_abort(&r->op->op, aw_err("AbortError", "recv: paused"));
}

/* A chunk for the receiver: to the pending next, or into the queue. */
static void deliver(aw_receiver *r, aw_buf *b) {
  if (r->wait) {
    wait_settle(r, aw_obj_val(b));
    return;
  }
  queue_put(r, b);
  if (r->qlen >= QUEUE_MAX)
    pause_recv(r); /* nobody takes them: the kernel's socket buffer waits instead */
}

/* A result that ends the stream (0) or fails it (< 0): after the queue, for the next next. */
static void deliver_end(aw_receiver *r, int res) {
  if (res == 0)
    r->eof = true;
  else
    r->err = res;
  if (r->wait && !r->qlen) {
    if (res == 0) {
      aw_buf *empty = aw_buf_new(0);
      wait_settle(r, empty ? aw_obj_val(empty) : recv_error(r, -ENOMEM));
    } else {
      r->err = 0;
      wait_settle(r, recv_error(r, res));
    }
  }
}

/* One CQE's result. */
static void rop_result(aw_loop *L, rop *o, int res, uint32_t flags) {
  (void)L;
  aw_receiver *r = o->r;
  if (res > 0) {
    aw_buf *b;
    if (o->own) {
      b = o->own;
      o->own = NULL;
      aw__io_defined(b->data, (size_t)res);
      b->len = (size_t)res;
    } else {
      b = aw__bufring_take(o->ring, flags, (size_t)res);
    }
    if (r)
      r->nobufs_again = false;
    if (!b) {
      if (r)
        deliver_end(r, -ENOMEM);
    } else if (r) {
      deliver(r, b);
    } else {
      aw_release(b); /* the receiver went: the buffer goes back to the ring */
    }
    return;
  }
  aw__bufring_give_back(o->ring, flags);
  if (!r || (res == -ECANCELED && (o->op.flags & AW__OPF_ABORTED)))
    return; /* our own pause or free; a cancel from elsewhere (aw_sock_close) ends it */
  if (res == -ENOBUFS && (o->op.flags & AW__OPF_ABORTED))
    return;              /* paused anyway: no reason to grow the ring for it */
  if (res == -ENOBUFS) { /* data came and the ring had no buffer: it is still in the socket */
    if (!r->nobufs_again && aw__bufring_grow(o->ring))
      r->nobufs_again = true; /* the ring has buffers again: the multishot recv once more */
    else
      r->oneshot_next = true; /* it stays empty: one recv into an own buffer, then again */
    return;
  }
  deliver_end(r, res);
}

/* The op's last CQE came: the receiver may arm again. */
static void rop_ended(rop *o) {
  aw_receiver *r = o->r;
  o->r = NULL;
  if (r && r->op == o) {
    r->op = NULL;
    if (wants_recv(r))
      arm(r);
  }
}

static void rop_prep(aw__op *op, struct io_uring_sqe *sqe) {
  rop *o = (rop *)op;
  if (o->own) {
    io_uring_prep_recv(sqe, op->fd, o->own->data, o->own->cap, 0);
    return;
  }
  io_uring_prep_recv_multishot(sqe, op->fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = aw__bufring_group(o->ring);
}

static void rop_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  rop *o = (rop *)op;
  rop_result(L, o, res, flags);
  if ((flags & IORING_CQE_F_MORE) && (op->flags & AW__OPF_MULTISHOT))
    return;
  rop_ended(o);
  aw__op_settle(op, aw_undefined()); /* nobody holds this promise */
  aw__op_finish(op);
}

/* A cancelled (paused, or freed) op's error CQEs; or, at aw_loop_free, any of its CQEs. */
static void rop_on_abort(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  rop *o = (rop *)op;
  if (L->freeing) {
    if (res > 0 && !o->own)
      aw__bufring_give_back(o->ring, flags);
    return;
  }
  rop_result(L, o, res, flags);
  if (!(flags & IORING_CQE_F_MORE))
    rop_ended(o); /* abort_now then finishes it */
}

static void rop_cleanup(aw_loop *L, aw__op *op) {
  (void)L;
  rop *o = (rop *)op;
  aw_release(o->own);
}

static const aw__op_vt rop_vt = {"recv", rop_prep, rop_complete, rop_on_abort, rop_cleanup};

static void arm(aw_receiver *r) {
  if (r->op || !wants_recv(r))
    return;
  int err = 0;
  aw__bufring *ring = aw__bufring_get(r->loop, &err);
  bool oneshot = r->oneshot_next || !ring;
  aw_buf *own = NULL;
  if (oneshot && !(own = aw_buf_new(ring ? aw__bufring_bufsize(ring) : 16384))) {
    deliver_end(r, -ENOMEM);
    return;
  }
  aw_promise *early;
  rop *o = (rop *)aw__op_new(r->loop, &rop_vt, sizeof *o, NULL, &early);
  if (!o) {
    aw_release(own);
    aw_release(early);
    return;
  }
  aw__op_internal(&o->op);
  aw__op_unref(&o->op); /* a pending next keeps the loop alive, not the recv */
  o->op.fd = r->fd;
  o->op.flags |= AW__OPF_UNBOUNDED | (oneshot ? 0 : AW__OPF_MULTISHOT);
  o->r = r;
  o->ring = ring;
  o->own = own;
  r->oneshot_next = false;
  r->op = o;
  aw__op_submit(&o->op);
}

/* ---- the receiver ------------------------------------------------------------------------- */

static void receiver_register(aw_receiver *r) {
  aw__io *R = r->loop->io;
  r->prev = NULL;
  r->next = R->receivers;
  if (R->receivers)
    R->receivers->prev = r;
  R->receivers = r;
}

static void receiver_unregister(aw_receiver *r) {
  if (r->prev)
    r->prev->next = r->next;
  else
    r->loop->io->receivers = r->next;
  if (r->next)
    r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

aw_receiver *aw_receiver_new(aw_loop *L, int fd) {
  if (!L || !aw__on_owner(L) || L->freeing) {
    errno = EPERM;
    return NULL;
  }
  if (fd < 0) {
    errno = EBADF;
    return NULL;
  }
  if (!L->io) {
    errno = -AW_ENOURING;
    return NULL;
  }
  int err = 0;
  if (!aw__bufring_get(L, &err)) {
    errno = -err;
    return NULL;
  }
  aw_receiver *r = aw__calloc(sizeof *r);
  r->loop = L;
  r->fd = fd;
  L->live++; /* the receiver keeps the loop's memory, as a listener does */
  receiver_register(r);
  arm(r); /* what comes before the first next is queued */
  return r;
}

static void next_aborted(aw_loop *L, aw_signal *s, aw_signal_listener *l) {
  (void)L;
  aw_receiver *r = AW__CONTAINER(l, aw_receiver, listener);
  wait_settle(r, aw_throw(aw_retain_val(aw_signal_reason(s)))); /* the recv goes on */
}

static void next_timed_out(aw_loop *L, void *arg) {
  (void)L;
  aw_receiver *r = arg;
  r->deadline = 0;
  wait_settle(r, aw_throw(aw__timeout_error()));
}

aw_promise *aw_receiver_next(aw_receiver *r, const aw_io_opts *o) {
  if (!r || r->closed || !aw__on_owner(r->loop) || r->loop->freeing)
    return NULL;
  aw_loop *L = r->loop;
  if (r->wait)
    return aw__io_bad_args(L, "aw_receiver_next: a next is already pending on this receiver");
  if (o && o->signal && aw_signal_aborted(o->signal))
    return aw_promise_rejected(L, aw_retain_val(aw_signal_reason(o->signal)));
  if (r->qlen) {
    aw_buf *b = queue_take(r);
    if (r->qlen < QUEUE_MAX / 2)
      arm(r); /* there is room again */
    return aw_promise_resolved(L, aw_obj_val(b));
  }
  if (r->err) {
    int e = r->err;
    r->err = 0; /* told once; a later next tries the socket again */
    aw_val err = recv_error(r, e);
    return aw_promise_rejected(L, aw_caught(err));
  }
  if (r->eof) {
    aw_buf *empty = aw_buf_new(0);
    return empty ? aw_promise_resolved(L, aw_obj_val(empty))
                 : aw_promise_rejected(L, aw_caught(recv_error(r, -ENOMEM)));
  }
  r->wait = aw__promise_alloc(L);
  L->io->ops_pending++;
  if (o && o->signal) {
    r->signal = aw_retain(o->signal);
    r->listener.fn = next_aborted;
    aw_signal_listen(r->signal, &r->listener);
  }
  if (o && o->timeout_ms)
    r->deadline = aw__io_deadline(L, o->timeout_ms, next_timed_out, r);
  arm(r);
  return aw_retain(r->wait);
}

int aw_receiver_fd(const aw_receiver *r) { return r && !r->closed ? r->fd : -1; }

void aw_receiver_free(aw_receiver *r) {
  if (!r)
    return;
  aw_loop *L = r->loop;
  if (!r->closed) {
    if (!aw__on_owner(L))
      return; /* another thread's receiver: not ours to free */
    receiver_unregister(r);
    r->closed = true;
    if (r->op) {
      rop *o = r->op;
      r->op = NULL;
      o->r = NULL; /* from now on its CQEs give their buffers back */
      aw__op_abort(&o->op, aw_err("AbortError", "recv: receiver freed"));
    }
    if (r->wait)
      wait_settle(r, recv_error(r, -ECANCELED));
    queue_drop(r);
  }
  aw__free(r, sizeof *r);
  aw__loop_release(L);
}

void aw__recv_loop_free(aw_loop *L) {
  aw__io *R = L->io;
  while (R->receivers) {
    aw_receiver *r = R->receivers;
    receiver_unregister(r);
    r->closed = true;
    if (r->op) {
      r->op->r = NULL; /* aw__io_free cancels it with everything else */
      r->op = NULL;
    }
    if (r->wait) /* dropped unsettled: nothing settles while the loop is freed */
      wait_clear(r);
    queue_drop(r);
  }
}
