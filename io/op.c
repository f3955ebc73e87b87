/*
 * io/op.c — the op core: submission, completion dispatch, back-pressure and
 * cancellation, over either backend (io/backend.h: io_uring, io/uring.c, or
 * epoll, io/epoll.c; both take SQEs and give CQEs). See io/internal.h for the
 * op's life. What follows is said of io_uring; the epoll backend keeps the
 * same contract (its SQ and CQ are its own arrays, and "the kernel" is it).
 *
 * One turn of the loop reaches the kernel at most once: the SQEs queued while
 * callbacks ran go in with the wait for completions, in one
 * io_uring_submit_and_wait_timeout whose timeout is the next timer's. When
 * something is runnable the loop does not wait: it submits and collects what
 * is ready in one non-blocking enter if there is anything to submit (or ops
 * are in flight on a DEFER_TASKRUN ring, whose completions only arrive when
 * the task enters), and otherwise only peeks at the CQ, with no system call.
 *
 * Back-pressure: ops are bounded (file I/O, a send, a nop: they end by
 * themselves) or unbounded (a socket recv, a receiver's multishot recv, an
 * accept, a connect: they may wait for ever on an idle peer). At most
 * caps.inflight_limit bounded ops are in the kernel; beyond that they wait
 * in a FIFO backlog and go in as completions free room. Unbounded ops never
 * count against that cap and never wait behind the backlog (only for a free
 * SQE, in a backlog of their own), so a hundred thousand idle connections
 * leave every other op as fast as before. The CQ is sized for the load
 * (IORING_SETUP_CQSIZE: 4 x SQ, at least 4096) and completions beyond it are
 * not lost: with IORING_FEAT_NODROP (required) the kernel keeps them on its
 * overflow list, and every peek at the CQ flushes them back as it drains.
 * A full SQ is submitted early. A submit the kernel refuses for now (-EBUSY
 * on overflow, -EAGAIN) leaves the SQEs queued: they go in at the next turn,
 * after the CQ was drained (reaped first, never lost).
 *
 * Each completion is a macrotask: the op's callback, then a microtask
 * checkpoint. The CQ head is advanced before the callback runs, so a callback
 * may submit (and the kernel reuse the slot) freely.
 */
#include "io/backend.h"
#include "io/send.h"

#include <fcntl.h>
#include <poll.h>
#if AW_HAVE_MEMCHECK
#include <valgrind/memcheck.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AW__RING_DEFAULT 256
#define AW__RING_MAX 32768    /* IORING_MAX_ENTRIES */
#define AW__CQ_MIN 4096       /* the default CQ: 4 x SQ, at least this (64 KiB of CQEs) */
#define AW__CQ_MAX 65536      /* IORING_MAX_CQ_ENTRIES */
#define AW__DISPATCH_MAX 4096 /* CQEs per I/O phase, so timers and immediates are not starved */

/* ---- setup ------------------------------------------------------------------------- */

static struct io_uring_sqe *sqe_get(aw__io *R);

static void arm_wake(aw_loop *L) {
  aw__io *R = L->io;
  struct io_uring_sqe *sqe = sqe_get(R);
  if (!sqe)
    return; /* tried again at the next turn */
  io_uring_prep_poll_multishot(sqe, L->wake_fd, POLLIN);
  io_uring_sqe_set_data64(sqe, AW__TAG_WAKE);
  R->inflight++;
  R->wake_armed = true;
}

/* The error aw_loop_new gives for a backend that could not be opened, from its reason text. */
static aw_val open_error(int r, const char *why) {
  aw_error *e = aw_error_new("Error", "%s", why);
  if (r != AW_ENOURING)
    e->errnum = -r;
  return aw_obj_val(e);
}

/* AW_IO for a loop whose cfg->backend is AUTO: unset AUTO, uring, epoll; -1 if it is none
 * of those (none itself the loop handled: no backend at all). */
static int env_backend(const char **val) {
  const char *e = *val = getenv("AW_IO");
  if (!e)
    return AW_IO_BACKEND_AUTO;
  if (!strcmp(e, "uring") || !strcmp(e, "io_uring"))
    return AW_IO_BACKEND_URING;
  if (!strcmp(e, "epoll"))
    return AW_IO_BACKEND_EPOLL;
  return -1;
}

static int open_epoll(aw_loop *L, aw__io *R, unsigned entries, unsigned cq) {
  int r = aw__ep_new(L, entries, &R->ep);
  if (r < 0)
    return r;
  R->kind = AW__BE_EPOLL;
  R->caps.sq_entries = entries; /* unless the backend says otherwise */
  aw__ep_caps(R->ep, &R->caps);
  /* Its CQ grows as needed; what caps reports (and the bounded ops' budget is made of) is
   * the CQ the loop was configured for, as on io_uring, so back-pressure is the same. */
  R->caps.cq_entries = cq;
  R->caps.backend = AW_IO_BACKEND_EPOLL;
  R->caps.backend_name = "epoll";
  return 0;
}

/* The epoll backend could not be made (uring_why: why io_uring was not used, or ""). */
static aw_val epoll_error(int r, const char *uring_why) {
  aw_error *e =
      aw_error_new("Error", "cannot create the loop's epoll backend: %s (%s)%s%s", aw_strerror(r),
                   aw_err_name(r), uring_why[0] ? "; and " : "", uring_why);
  e->errnum = -r;
  return aw_obj_val(e);
}

int aw__io_init(aw_loop *L, const aw_loop_config *cfg, aw_val *err) {
  unsigned entries = cfg && cfg->ring_entries ? cfg->ring_entries : AW__RING_DEFAULT;
  unsigned cq = cfg && cfg->cq_entries ? cfg->cq_entries : 0;
  if (cq > AW__CQ_MAX) {
    if (err) {
      aw_error *e = aw_error_new("RangeError",
                                 "aw_loop_new: cq_entries %u is above %u (the largest CQ "
                                 "io_uring_setup takes)",
                                 cq, (unsigned)AW__CQ_MAX);
      e->errnum = EINVAL;
      *err = aw_obj_val(e);
    }
    return -EINVAL;
  }
  if (!cq) /* room for the completions of many more ops than the SQ holds at once */
    cq = entries * 4 > AW__CQ_MIN ? entries * 4 : AW__CQ_MIN;
  if (cq > AW__CQ_MAX)
    cq = AW__CQ_MAX;
  if (cq < entries) /* the kernel refuses a CQ smaller than the SQ */
    cq = entries;
  if (entries > AW__RING_MAX) {
    /* the kernel would say EINVAL, which reads as "no io_uring here": say it up front */
    if (err) {
      aw_error *e = aw_error_new("RangeError",
                                 "aw_loop_new: ring_entries %u is above %u (the largest ring "
                                 "io_uring_setup takes)",
                                 entries, (unsigned)AW__RING_MAX);
      e->errnum = EINVAL;
      *err = aw_obj_val(e);
    }
    return -EINVAL;
  }
  enum aw_io_backend want = cfg ? cfg->backend : AW_IO_BACKEND_AUTO;
  if ((unsigned)want > AW_IO_BACKEND_EPOLL) {
    if (err)
      *err = aw_err("TypeError", "aw_loop_new: invalid backend %d", (int)want);
    return -EINVAL;
  }
  if (want == AW_IO_BACKEND_AUTO) {
    const char *val;
    int b = env_backend(&val);
    if (b < 0) { /* a typo must not quietly give another backend than the one meant */
      if (err) {
        aw_error *e =
            aw_error_new("TypeError", "aw_loop_new: AW_IO=%s is none of uring, epoll, none", val);
        e->errnum = EINVAL;
        *err = aw_obj_val(e);
      }
      return -EINVAL;
    }
    want = (enum aw_io_backend)b;
  }
  aw__sigpipe_init(cfg); /* io/send.c: SIGPIPE ignored unless cfg->keep_sigpipe */
  aw__io *R = aw__calloc(sizeof *R);
  char why[sizeof R->caps.fallback_reason];
  why[0] = '\0';
  int r = 0;
  if (want != AW_IO_BACKEND_EPOLL) {
    /* AUTO asks for every opcode the op layer uses: a kernel that lacks one runs on epoll */
    r = aw__uring_open(R, entries, cq, want == AW_IO_BACKEND_AUTO, why, sizeof why);
    /* forced, or out of descriptors (which epoll would be too): the error as it is */
    if (r < 0 && (want == AW_IO_BACKEND_URING || r == -EMFILE || r == -ENFILE)) {
      if (err)
        *err = open_error(r, why);
      aw__free(R, sizeof *R);
      return r == -EMFILE || r == -ENFILE ? r : AW_ENOURING;
    }
  }
  if (want == AW_IO_BACKEND_EPOLL || r < 0) {
    int er = open_epoll(L, R, entries, cq);
    if (er < 0) {
      if (err)
        *err = r < 0 && er == -ENOSYS ? open_error(r, why) : epoll_error(er, why);
      aw__free(R, sizeof *R);
      return r < 0 && er == -ENOSYS ? AW_ENOURING : er;
    }
    if (r < 0) /* io_uring could not be had: say why, for awbench caps and the curious */
      snprintf(R->caps.fallback_reason, sizeof R->caps.fallback_reason, "%s", why);
  } else {
    R->caps.backend = AW_IO_BACKEND_URING;
    R->caps.backend_name = "io_uring";
  }
  /* Bounded ops' CQEs always fit in the CQ: a few slots stay for cancels, the wake poll and
   * closes. Unbounded ops (which may wait for ever) do not count: their CQEs, if many come at
   * once, overflow into the kernel's NODROP list and are reaped from there. */
  R->caps.inflight_limit = R->caps.cq_entries > 16 ? R->caps.cq_entries - 8 : R->caps.cq_entries;
  L->io = R;
  if (R->wake_poll)
    arm_wake(L);
  return 0;
}

int aw_io_caps_get(aw_loop *L, aw_io_caps *out) {
  if (!L || !out)
    return -EINVAL;
  if (!L->io)
    return -ENOSYS;
  *out = L->io->caps;
  return 0;
}

int aw_io_stats_get(aw_loop *L, aw_io_stats *out) {
  if (!L || !out)
    return -EINVAL;
  if (!L->io)
    return -ENOSYS;
  *out = L->io->stats;
  return 0;
}

/* ---- submission -------------------------------------------------------------------- */

static int enter_submit(aw__io *R) {
  int r;
  do {
    r = AW__FAULT_ENTER(aw__be_submit(R));
    R->stats.enters++;
  } while (r == -EINTR);
  if (r > 0)
    R->stats.submitted += (unsigned)r;
  return r;
}

/* An SQE, submitting a full SQ early; NULL if the kernel takes nothing now. */
static struct io_uring_sqe *sqe_get(aw__io *R) {
  if (AW__FAULT(SQE))
    return NULL;
  struct io_uring_sqe *sqe = aw__be_get_sqe(R);
  if (AW__UNLIKELY(!sqe)) {
    enter_submit(R);
    sqe = aw__be_get_sqe(R);
  }
  return sqe;
}

static void abort_now(aw_loop *L, aw__op *op, int res, uint32_t flags);

static bool unbounded(const aw__op *op) { return op->flags & AW__OPF_UNBOUNDED; }

/* The backlog an op waits in: bounded ops wait for budget, unbounded ones only for an SQE. */
static aw__op **backlog_of(aw__io *R, const aw__op *op, aw__op ***tail) {
  if (unbounded(op)) {
    *tail = &R->ubacklog_tail;
    return &R->ubacklog_head;
  }
  *tail = &R->backlog_tail;
  return &R->backlog_head;
}

static void backlog_push(aw__io *R, aw__op *op) {
  aw__op **tail, **head = backlog_of(R, op, &tail);
  op->state = AW__OP_QUEUED;
  op->next = NULL;
  op->prev = *tail;
  if (*tail)
    (*tail)->next = op;
  else
    *head = op;
  *tail = op;
  R->stats.backlogged++;
}

static void backlog_push_front(aw__io *R, aw__op *op) {
  aw__op **tail, **head = backlog_of(R, op, &tail);
  op->state = AW__OP_QUEUED;
  op->prev = NULL;
  op->next = *head;
  if (*head)
    (*head)->prev = op;
  else
    *tail = op;
  *head = op;
}

static void backlog_remove(aw__io *R, aw__op *op) {
  aw__op **tail, **head = backlog_of(R, op, &tail);
  if (op->prev)
    op->prev->next = op->next;
  else
    *head = op->next;
  if (op->next)
    op->next->prev = op->prev;
  else
    *tail = op->prev;
  op->prev = op->next = NULL;
  op->state = AW__OP_IDLE;
}

/* Puts op's step in an SQE now; false if there is no room (budget or SQ). */
static bool try_issue(aw__io *R, aw__op *op) {
  bool bounded = !unbounded(op);
  if (bounded && R->bounded >= R->caps.inflight_limit)
    return false;
  struct io_uring_sqe *sqe = sqe_get(R);
  if (!sqe)
    return false;
  op->vt->prep(op, sqe);
  AW__FAULT_SQE_HOOK(sqe);
  io_uring_sqe_set_data(sqe, op);
  op->state = AW__OP_INFLIGHT;
  R->bounded += bounded;
  R->inflight++;
  if (R->bounded > R->stats.max_inflight)
    R->stats.max_inflight = R->bounded;
  return true;
}

void aw__op_submit(aw__op *op) {
  aw__io *R = op->loop->io;
  if (AW__UNLIKELY(op->flags & AW__OPF_ABORTED)) {
    /* aborted while its last step ran to completion: it stops here, between steps */
    abort_now(op->loop, op, -ECANCELED, 0);
    return;
  }
  aw__op **tail, **head = backlog_of(R, op, &tail);
  (void)tail;
  if (AW__UNLIKELY(*head != NULL) || !try_issue(R, op))
    backlog_push(R, op); /* behind what already waits: ops keep their order */
}

static void drain_one(aw__io *R, aw__op **head) {
  while (*head) {
    aw__op *op = *head;
    backlog_remove(R, op);
    if (!try_issue(R, op)) {
      backlog_push_front(R, op); /* back to the front: nothing may overtake it */
      return;
    }
  }
}

static void drain_backlog(aw__io *R) {
  if (AW__UNLIKELY(R->ubacklog_head != NULL))
    drain_one(R, &R->ubacklog_head); /* first: they wait for an SQE only */
  if (R->backlog_head)
    drain_one(R, &R->backlog_head);
}

/* ---- cancellation --------------------------------------------------------------------- */

static bool send_cancel(aw__io *R, aw__op *op) {
  struct io_uring_sqe *sqe = sqe_get(R);
  if (!sqe)
    return false;
  io_uring_prep_cancel(sqe, op, 0);
  io_uring_sqe_set_data64(sqe, AW__TAG_CANCEL);
  R->inflight++;
  R->stats.cancels++;
  return true;
}

static void send_due_cancels(aw__io *R) {
  while (R->cancel_head) {
    aw__op *op = R->cancel_head;
    if (!send_cancel(R, op))
      return;
    R->cancel_head = op->next;
    op->next = NULL;
    op->flags &= (uint16_t)~AW__OPF_CANCEL_DUE;
  }
}

/* An op that ends while its cancel still waits for an SQE leaves the list of due cancels. */
static void cancel_unlink(aw__io *R, aw__op *op) {
  for (aw__op **pp = &R->cancel_head; *pp; pp = &(*pp)->next)
    if (*pp == op) {
      *pp = op->next;
      break;
    }
  op->next = NULL;
  op->flags &= (uint16_t)~AW__OPF_CANCEL_DUE;
}

void aw__op_abort(aw__op *op, aw_val reason) {
  if (op->flags & AW__OPF_ABORTED) {
    aw_release_val(reason);
    return;
  }
  op->flags |= AW__OPF_ABORTED;
  op->abort_reason = reason;
  aw__io *R = op->loop->io;
  if (op->state == AW__OP_QUEUED) { /* never reached the kernel: done now */
    backlog_remove(R, op);
    /* its step never ran, but earlier steps may have opened something: on_abort undoes it */
    abort_now(op->loop, op, -ECANCELED, 0);
  } else if (op->state == AW__OP_INFLIGHT && !send_cancel(R, op)) {
    op->flags |= AW__OPF_CANCEL_DUE;
    op->next = R->cancel_head;
    R->cancel_head = op;
  }
  /* INFLIGHT: settles when its CQE comes back. */
}

static void on_signal(aw_loop *L, aw_signal *s, aw_signal_listener *l) {
  (void)L;
  aw__op *op = AW__CONTAINER(l, aw__op, listener);
  aw__op_abort(op, aw_retain_val(aw_signal_reason(s)));
}

static void on_deadline(aw_loop *L, void *arg) {
  (void)L;
  aw__op *op = arg;
  op->deadline = 0;
  aw__op_abort(op, aw__timeout_error());
}

/* ---- ops ----------------------------------------------------------------------------------- */

/*
 * Memcheck cannot see the kernel write into our buffers through the ring: tell
 * it (a few no-op instructions when not running under valgrind).
 */
void aw__io_defined(const void *p, size_t n) {
#if AW_HAVE_MEMCHECK
  VALGRIND_MAKE_MEM_DEFINED(p, n);
#else
  (void)p, (void)n;
#endif
}

aw_promise *aw__io_bad_args(aw_loop *L, const char *what) {
  return aw_promise_rejected(L, aw_err("TypeError", "%s", what));
}

aw__op *aw__op_new(aw_loop *L, const aw__op_vt *vt, size_t size, const aw_io_opts *o,
                   aw_promise **early) {
  *early = NULL;
  if (!L || !aw__on_owner(L) || L->freeing)
    return NULL;
  if (!L->io) {
    *early = aw_promise_rejected(
        L, aw_obj_val(aw_error_errno(AW_ENOURING, vt->name, "(this loop has no io_uring)")));
    return NULL;
  }
  if (o && o->signal && aw_signal_aborted(o->signal)) {
    *early = aw_promise_rejected(L, aw_retain_val(aw_signal_reason(o->signal)));
    return NULL;
  }
  aw__op *op = aw__pool_get(L, size);
  memset(op, 0, size);
  op->vt = vt;
  op->loop = L;
  op->promise = aw__promise_alloc(L);
  op->size = (uint32_t)size;
  op->fd = -1;
  L->io->ops_pending++;
  L->live++; /* an op keeps the loop's memory, as a promise does */
  if (o && o->signal) {
    op->signal = aw_retain(o->signal);
    op->listener.fn = on_signal;
    aw_signal_listen(op->signal, &op->listener);
  }
  if (o && o->timeout_ms)
    op->deadline = aw__io_deadline(L, o->timeout_ms, on_deadline, op);
  return op;
}

aw_timer aw__io_deadline(aw_loop *L, uint64_t timeout_ms, aw_task_fn fn, void *arg) {
  aw_timer t = aw_set_timeout(L, timeout_ms > INT32_MAX ? INT32_MAX : (int64_t)timeout_ms, fn, arg);
  aw_timer_unref(L, t); /* what it bounds keeps the loop alive, or not */
  return t;
}

aw_promise *aw__op_promise(aw__op *op) { return aw_retain(op->promise); }

void aw__op_unref(aw__op *op) {
  if (op->flags & AW__OPF_UNREF)
    return;
  op->flags |= AW__OPF_UNREF;
  op->loop->io->ops_pending--;
}

void aw__op_internal(aw__op *op) {
  if (op->promise)
    op->promise->hdr.flags |= AW__PF_HANDLED; /* nobody holds it: never an unhandled rejection */
}

static void op_detach(aw__op *op) {
  if (op->signal) {
    aw_signal_unlisten(op->signal, &op->listener);
    aw_release((aw_obj *)op->signal);
    op->signal = NULL;
  }
  if (op->deadline) {
    aw_clear_timer(op->loop, op->deadline);
    op->deadline = 0;
  }
}

void aw__op_settle(aw__op *op, aw_val v) {
  aw_promise *p = op->promise;
  if (!p) {
    aw_release_val(v);
    return;
  }
  op->promise = NULL;
  op_detach(op);
  aw__promise_settle_with(p, v);
  aw_release(p);
}

void aw__op_fail(aw__op *op, int res, const char *what) {
  aw__op_settle(op, aw_throw(aw_obj_val(aw_error_errno(res, op->vt->name, what))));
}

void aw__op_finish(aw__op *op) {
  aw_loop *L = op->loop;
  if (op->promise) /* never settled (the loop is going away) */
    aw__op_settle(op, aw_throw(aw_err("AbortError", "%s: the loop was freed", op->vt->name)));
  op_detach(op);
  if (op->vt->cleanup)
    op->vt->cleanup(L, op);
  aw_release_val(op->abort_reason);
  if (AW__UNLIKELY(op->flags & AW__OPF_CANCEL_DUE) && L->io)
    cancel_unlink(L->io, op); /* its step completed before the cancel could be sent */
  if (L->io && !(op->flags & AW__OPF_UNREF))
    L->io->ops_pending--;
  aw__pool_put(L, op, op->size);
  aw__loop_release(L);
}

/* ---- quiet closes ---------------------------------------------------------------------------- */

void aw__quiet_close(aw_loop *L, int fd) {
  if (fd < 0)
    return;
  aw__io *R = L->io;
  struct io_uring_sqe *sqe = R && !L->freeing ? sqe_get(R) : NULL;
  if (!sqe) {
    close(fd);
    return;
  }
  io_uring_prep_close(sqe, fd);
  io_uring_sqe_set_data64(sqe, AW__TAG_QUIET);
  R->inflight++;
  R->quiet++; /* keeps the loop alive: aw_loop_run returns with the descriptor closed */
}

/* ---- completions -------------------------------------------------------------------------------
 */

static void wake_cqe(aw_loop *L, const aw__cqe *c) {
  aw__io *R = L->io;
  uint64_t v;
  ssize_t n = read(L->wake_fd, &v, sizeof v); /* reset the eventfd; EAGAIN is fine */
  (void)n;
  if (!(c->flags & IORING_CQE_F_MORE)) {
    R->inflight--;
    R->wake_armed = false;
  }
}

/* Settles an aborted op with its abort reason, after undoing what the step did. */
static void abort_now(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  if (op->vt->on_abort)
    op->vt->on_abort(L, op, res, flags);
  aw__op_settle(op, aw_throw(aw_retain_val(op->abort_reason)));
  aw__op_finish(op);
}

/*
 * One completion of an op. An aborted op whose step the kernel finished anyway
 * (the race went to the kernel) completes normally: its data is not lost, and
 * an abort only stops it before its next step (see aw__op_submit). An aborted
 * op whose step was cancelled or failed settles with the abort reason.
 */
static void op_cqe(aw_loop *L, aw__op *op, const aw__cqe *c) {
  bool more = (c->flags & IORING_CQE_F_MORE) && (op->flags & AW__OPF_MULTISHOT);
  if (!more)
    op->state = AW__OP_IDLE;
  if (AW__UNLIKELY(op->flags & AW__OPF_ABORTED) && c->res < 0) {
    if (more) {
      if (op->vt->on_abort)
        op->vt->on_abort(L, op, c->res, c->flags);
      return;
    }
    abort_now(L, op, c->res, c->flags);
    return;
  }
  op->vt->complete(L, op, c->res, c->flags);
}

static void handle_cqe(aw_loop *L, const aw__cqe *c) {
  aw__io *R = L->io;
  R->stats.completed++;
  switch (c->data) {
  case AW__TAG_QUIET:
    R->quiet--;
    R->inflight--;
    if (c->res == 0 && R->listeners)
      aw__net_fd_closed(L);
    return;
  case AW__TAG_CANCEL:
    R->inflight--;
    return;
  case AW__TAG_WAKE:
    wake_cqe(L, c);
    return;
  default:
    break;
  }
  aw__op *op = (aw__op *)(uintptr_t)c->data;
  if (!((c->flags & IORING_CQE_F_MORE) && (op->flags & AW__OPF_MULTISHOT))) {
    R->inflight--;
    R->bounded -= !unbounded(op);
  }
  /* a macrotask: the callback, then a microtask checkpoint */
  op_cqe(L, op, c);
  L->stats.macrotasks++;
  aw__checkpoint(L);
}

/* Consumes ready CQEs, each its own macrotask; returns how many. */
static unsigned dispatch(aw_loop *L) {
  aw__io *R = L->io;
  unsigned n = 0;
  aw__cqe c;
  while (n < AW__DISPATCH_MAX && !L->failed && aw__be_peek(R, &c)) {
    handle_cqe(L, &c);
    drain_backlog(R);
    n++;
  }
  return n;
}

bool aw__io_alive(const aw_loop *L) {
  return L->io && (L->io->ops_pending > 0 || L->io->quiet > 0);
}

/* SQEs of ops in the kernel (not counting the wake poll, which is always there). */
static unsigned ops_inflight(const aw__io *R) { return R->inflight - (R->wake_armed ? 1u : 0u); }

/* The I/O phase's system call: submit what is queued, and wait if told to. */
static void enter(aw_loop *L, int timeout_ms) {
  aw__io *R = L->io;
  unsigned queued = aw__be_sq_ready(R);
  if (timeout_ms == 0 && !queued && (!ops_inflight(R) || aw__be_cq_ready(R)))
    return; /* peek only: nothing to give the kernel, nothing to ask it for */
  /* timeout 0 with ops in flight: the task work of a DEFER_TASKRUN ring runs on entering
   * (io_uring), readiness is collected (epoll) */
  (void)AW__FAULT_ENTER(aw__be_enter(R, timeout_ms));
  if (timeout_ms != 0)
    L->stats.wakeups++;
  /* Errors need no handling here: -ETIME means the timer is due, -EINTR a signal, and
   * -EBUSY/-EAGAIN that the kernel wants its CQEs consumed first; the SQEs it did not
   * take stay queued and go in at the next turn. */
  R->stats.enters++;
  R->stats.submitted += queued - aw__be_sq_ready(R);
}

void aw__io_poll(aw_loop *L, int timeout_ms) {
  aw__io *R = L->io;
  if (R->bufring)
    aw__bufring_reclaim(R->bufring);
  if (AW__UNLIKELY(!R->wake_armed) && R->wake_poll)
    arm_wake(L);
  send_due_cancels(R);
  drain_backlog(R);
  bool slept = false;
  if (timeout_ms != 0) {
    /* announces the sleep to other threads' posts (executor/inbox.h), then checks */
    slept = true;
    if (aw__inbox_sleep(&L->inbox) || aw__be_cq_ready(R))
      timeout_ms = 0;
  }
  enter(L, timeout_ms);
  if (slept)
    aw__inbox_awake(&L->inbox);
  dispatch(L);
}

/* ---- teardown ---------------------------------------------------------------------------------
 */

/*
 * aw_loop_free: ops still in the kernel are cancelled and their CQEs reaped
 * before their buffers go (waiting at most a few seconds: a regular file read
 * the kernel cannot cancel finishes on its own quickly). An op the kernel
 * never gives back is reported and its memory is left alone.
 */
/* Frees an op of a loop being freed: its promise is released unsettled (nothing runs now). */
static void op_drop(aw__op *op) {
  aw_promise *p = op->promise;
  op->promise = NULL;
  aw_release(p);
  aw__op_finish(op);
}

void aw__io_free(aw_loop *L) {
  aw__io *R = L->io;
  if (!R)
    return;
  aw__net_loop_free(L);  /* listeners first: their accepts must not deliver to anyone now */
  aw__recv_loop_free(L); /* receivers too */
  while (R->backlog_head || R->ubacklog_head) {
    aw__op *op = R->ubacklog_head ? R->ubacklog_head : R->backlog_head;
    backlog_remove(R, op);
    if (op->vt->on_abort)
      op->vt->on_abort(L, op, -ECANCELED, 0); /* its step never ran: undo the earlier ones */
    op_drop(op);
  }
  R->cancel_head = NULL;
  /* a fork()ed child's copy: its ring takes no SQE from this process, and what is in
   * flight is the parent's; the child only lets go of its mappings */
  bool forked = aw__inbox_forked(&L->inbox);
  if (forked)
    R->inflight = 0;
  bool cancelled = forked;
  uint64_t deadline = aw__hrtime_ms(L) + 5000;
  while (R->inflight > 0 && aw__hrtime_ms(L) < deadline) {
    /* until the SQ takes the cancel (a full SQ the kernel refuses gives no SQE): without it
     * the wake poll and every multishot op stay armed and this waits out the deadline */
    struct io_uring_sqe *sqe = cancelled ? NULL : sqe_get(R);
    if (sqe) {
      io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data64(sqe, AW__TAG_CANCEL);
      R->inflight++;
      cancelled = true;
    }
    (void)AW__FAULT_ENTER(aw__be_enter(R, 50));
    aw__cqe c;
    while (aw__be_peek(R, &c)) {
      if (c.data <= AW__TAG_QUIET) {
        if (c.data != AW__TAG_WAKE || !(c.flags & IORING_CQE_F_MORE))
          R->inflight--;
        if (c.data == AW__TAG_QUIET)
          R->quiet--;
        continue;
      }
      aw__op *op = (aw__op *)(uintptr_t)c.data;
      bool more = (c.flags & IORING_CQE_F_MORE) && (op->flags & AW__OPF_MULTISHOT);
      if (op->vt->on_abort)
        op->vt->on_abort(L, op, c.res, c.flags); /* close what it opened */
      if (!more) {
        R->inflight--;
        R->bounded -= !unbounded(op);
        op->state = AW__OP_IDLE;
        op_drop(op);
      }
    }
    /* re-send the cancel if new ops appeared (on_abort may have closed through the ring) */
  }
  if (R->inflight > 0)
    fprintf(stderr,
            "libawait: aw_loop_free: %u %s operations did not complete in 5 s; "
            "their memory is left alone\n",
            R->inflight, R->kind == AW__BE_URING ? "io_uring" : "epoll backend");
  aw__bufring_loop_free(L); /* after the last CQE that could carry one of its buffers */
  if (R->kind == AW__BE_URING)
    aw__uring_close(R);
  else
    aw__ep_free(R->ep);
  L->io = NULL;
  aw__free(R, sizeof *R);
}

/* ---- the seam (executor/backend.h) ------------------------------------------------------------
 */

/* One op core over either backend: the vtables differ in name only (io/backend.h switches). */
static const aw__backend_vt uring_vt = {"io_uring", aw__io_poll, aw__io_alive, aw__io_free};
static const aw__backend_vt epoll_vt = {"epoll", aw__io_poll, aw__io_alive, aw__io_free};

int aw__backend_open(aw_loop *L, const aw_loop_config *cfg, aw_val *err) {
  int r = aw__io_init(L, cfg, err);
  if (r == 0)
    L->backend = L->io->kind == AW__BE_URING ? &uring_vt : &epoll_vt;
  return r;
}
