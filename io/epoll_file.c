/*
 * io/epoll_file.c — the epoll backend's file operations: SQEs run with the
 * blocking system call on the worker pool's blocking class, as libuv runs
 * its uv_fs_* requests.
 *
 * Regular files are always "ready" to epoll, so there is nothing to wait for
 * but the system call itself: open, read, write, fsync, statx, rename, unlink,
 * mkdir and splice run on a pool thread (a raw job, workers/pool.h), and the
 * result comes back as a CQE with the kernel's conventions (res = -errno) by
 * aw__ep_post_cqe.
 *
 * An op's life, and who touches it:
 *
 *   loop thread                               pool thread
 *   -----------                               -----------
 *   submit: SQE copied into an epf_op, linked
 *   in the ep's list, raw job made    ---->   run: state RUNNING, the syscall;
 *                                             end: state ENDED, the op pushed
 *   reap (at the next submit, cancel or      <---- on the done stack, the CQE
 *   free): done ops off the list, to the           posted
 *   cache
 *
 * state (atomic) is QUEUED until a pool thread starts the op, then RUNNING,
 * then ENDED; ENDED is set exactly once (end() exchanges it), by the op's run
 * or by its removal (run(arg, true): cancel, loop free, pool shut down), which
 * posts -ECANCELED instead. The op's memory is the loop thread's to free, only
 * after it was popped off the done stack, so a cancel can walk the list and
 * look at any op in it. A cancel of a QUEUED op removes its raw job
 * (aw__work_raw_cancel): only the loop thread recycles pool jobs, and only
 * after their run returned, so an op not yet seen RUNNING has a live job.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "executor/internal.h"
#include "io/epoll.h"
#include "workers/pool.h"

enum { OP_QUEUED, OP_RUNNING, OP_ENDED };

typedef struct epf_op {
  struct io_uring_sqe sqe; /* the copy: the op layer may reuse its SQE slot at once */
  struct aw__epf *st;
  aw_job *job;                /* valid while state is QUEUED (see the top) */
  struct epf_op *prev, *next; /* the ep's list of ops not yet reaped (loop thread) */
  struct epf_op *done_next;   /* the done stack */
  _Atomic int state;
} epf_op;

#define EPF_CACHE 256

struct aw__epf {
  aw__ep *ep;
  aw_loop *L;
  epf_op *head;              /* submitted, not yet reaped (loop thread) */
  _Atomic(epf_op *) done;    /* ended ops, pushed by any thread, popped all at once */
  _Atomic unsigned inflight; /* submitted and not ENDED: aw__epf_outstanding */
  epf_op *cache;             /* freed ops, for the next submit (loop thread) */
  unsigned ncache;
  bool unflushed; /* raw jobs made since the last aw__epf_flush */
};

/* ---- the system calls (any thread) -------------------------------------------------------- */

static inline void *ptr(uint64_t a) { return (void *)(uintptr_t)a; }

/* The kernel's offset -1: the file position (read/write instead of pread/pwrite). */
#define AT_POS ((uint64_t)-1)

/*
 * A splice into a socket whose peer is gone raises SIGPIPE on the thread
 * that made it (there is no MSG_NOSIGNAL for splice); the kernel's io-wq
 * threads block it. A pool thread blocks it the first time it splices, and a
 * SIGPIPE the splice raised is taken off it again, so none is left pending.
 */
static _Thread_local bool sigpipe_blocked;

static void sigpipe_block(void) {
  if (sigpipe_blocked)
    return;
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  sigpipe_blocked = true;
}

static void sigpipe_consume(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  struct timespec zero = {0, 0};
  while (sigtimedwait(&s, NULL, &zero) == SIGPIPE)
    ;
}

static long do_read(const struct io_uring_sqe *e, bool vec) {
  struct iovec one = {ptr(e->addr), e->len};
  const struct iovec *iov = vec ? ptr(e->addr) : &one;
  int n = vec ? (int)e->len : 1;
  if (e->rw_flags)
    return preadv2(e->fd, iov, n, e->off == AT_POS ? -1 : (off_t)e->off, (int)e->rw_flags);
  if (!vec)
    return e->off == AT_POS ? read(e->fd, one.iov_base, one.iov_len)
                            : pread(e->fd, one.iov_base, one.iov_len, (off_t)e->off);
  return e->off == AT_POS ? readv(e->fd, iov, n) : preadv(e->fd, iov, n, (off_t)e->off);
}

static long do_write(const struct io_uring_sqe *e, bool vec) {
  struct iovec one = {ptr(e->addr), e->len};
  const struct iovec *iov = vec ? ptr(e->addr) : &one;
  int n = vec ? (int)e->len : 1;
  if (e->rw_flags)
    return pwritev2(e->fd, iov, n, e->off == AT_POS ? -1 : (off_t)e->off, (int)e->rw_flags);
  if (!vec)
    return e->off == AT_POS ? write(e->fd, one.iov_base, one.iov_len)
                            : pwrite(e->fd, one.iov_base, one.iov_len, (off_t)e->off);
  return e->off == AT_POS ? writev(e->fd, iov, n) : pwritev(e->fd, iov, n, (off_t)e->off);
}

static long do_splice(const struct io_uring_sqe *e) {
  loff_t off_in = (loff_t)e->splice_off_in, off_out = (loff_t)e->off;
  unsigned flags = e->splice_flags & ~(unsigned)SPLICE_F_FD_IN_FIXED; /* never set here */
  sigpipe_block();
  long r = splice(e->splice_fd_in, e->splice_off_in == AT_POS ? NULL : &off_in, e->fd,
                  e->off == AT_POS ? NULL : &off_out, e->len, flags);
  if (r < 0 && errno == EPIPE) {
    sigpipe_consume();
    errno = EPIPE;
  }
  return r;
}

/* One SQE, run with its system call: the CQE's res (-errno on failure, like the kernel). */
static int32_t exec(const struct io_uring_sqe *e) {
  long r;
  switch (e->opcode) {
  case IORING_OP_NOP:
    return 0;
  case IORING_OP_OPENAT:
    r = openat(e->fd, ptr(e->addr), (int)e->open_flags, (mode_t)e->len);
    break;
  case IORING_OP_OPENAT2:
    r = syscall(SYS_openat2, e->fd, ptr(e->addr), ptr(e->off), (size_t)e->len);
    break;
  case IORING_OP_READ:
  case IORING_OP_READV:
    r = do_read(e, e->opcode == IORING_OP_READV);
    break;
  case IORING_OP_WRITE:
  case IORING_OP_WRITEV:
    r = do_write(e, e->opcode == IORING_OP_WRITEV);
    break;
  case IORING_OP_FSYNC:
    r = e->fsync_flags & IORING_FSYNC_DATASYNC ? fdatasync(e->fd) : fsync(e->fd);
    break;
  case IORING_OP_STATX:
    r = statx(e->fd, ptr(e->addr), (int)e->statx_flags, e->len, ptr(e->off));
    break;
  case IORING_OP_RENAMEAT:
    r = renameat2(e->fd, ptr(e->addr), (int)e->len, ptr(e->off), e->rename_flags);
    break;
  case IORING_OP_UNLINKAT:
    r = unlinkat(e->fd, ptr(e->addr), (int)e->unlink_flags);
    break;
  case IORING_OP_MKDIRAT:
    r = mkdirat(e->fd, ptr(e->addr), (mode_t)e->len);
    break;
  case IORING_OP_SPLICE:
    r = do_splice(e);
    break;
  case IORING_OP_CLOSE:
    r = close(e->fd);
    if (r < 0 && errno == EINTR)
      r = 0; /* the descriptor is gone all the same (Linux) */
    break;
  /* socket calls belong to io/epoll.c; these are here only for completeness */
  case IORING_OP_SEND:
    r = send(e->fd, ptr(e->addr), e->len, (int)e->msg_flags);
    break;
  case IORING_OP_RECV:
    r = recv(e->fd, ptr(e->addr), e->len, (int)e->msg_flags);
    break;
  case IORING_OP_SENDMSG:
    r = sendmsg(e->fd, ptr(e->addr), (int)e->msg_flags);
    break;
  default:
    return -EINVAL;
  }
  if (r < 0)
    return errno > 0 ? -errno : -EIO;
  return r > INT32_MAX ? INT32_MAX : (int32_t)r; /* a read or write is at most 2 GiB anyway */
}

/* ---- ends (any thread) ---------------------------------------------------------------------- */

/*
 * The op's one end: ENDED, pushed for the loop to reap, then its CQE. The push
 * comes first, since after the post the ep may be freed (the op core waited
 * for this CQE); after the push the op may be freed, so the CQE's fields are
 * taken before.
 */
static void end(epf_op *o, int32_t res) {
  if (atomic_exchange_explicit(&o->state, OP_ENDED, memory_order_acq_rel) == OP_ENDED)
    return; /* a fork()ed child's pool ended a job whose run had already ended it */
  struct aw__epf *st = o->st;
  aw__ep *ep = st->ep;
  uint64_t data = o->sqe.user_data;
  atomic_fetch_sub_explicit(&st->inflight, 1, memory_order_relaxed);
  epf_op *h = atomic_load_explicit(&st->done, memory_order_relaxed);
  do
    o->done_next = h;
  while (!atomic_compare_exchange_weak_explicit(&st->done, &h, o, memory_order_release,
                                                memory_order_relaxed));
  aw__ep_post_cqe(ep, data, res, 0);
}

/* The raw job: the system call on a pool thread, or -ECANCELED if it was removed first. */
static void run(void *arg, bool cancelled) {
  epf_op *o = arg;
  if (cancelled)
    return end(o, -ECANCELED);
  atomic_store_explicit(&o->state, OP_RUNNING, memory_order_release);
  end(o, exec(&o->sqe));
}

/* ---- the loop thread's side ------------------------------------------------------------------ */

static void unlink_op(struct aw__epf *st, epf_op *o) {
  if (o->prev)
    o->prev->next = o->next;
  else
    st->head = o->next;
  if (o->next)
    o->next->prev = o->prev;
}

static void op_free(struct aw__epf *st, epf_op *o) {
  if (st->ncache < EPF_CACHE) {
    o->next = st->cache;
    st->cache = o;
    st->ncache++;
  } else {
    free(o);
  }
}

/* The ops that ended since the last look come off the list (their CQEs are posted). */
static void reap(struct aw__epf *st) {
  if (!atomic_load_explicit(&st->done, memory_order_relaxed))
    return;
  epf_op *o = atomic_exchange_explicit(&st->done, NULL, memory_order_acquire);
  while (o) {
    epf_op *next = o->done_next;
    unlink_op(st, o);
    op_free(st, o);
    o = next;
  }
}

static struct aw__epf *state_of(aw__ep *ep, aw_loop *L) {
  struct aw__epf **slot = aw__ep_file_state(ep);
  if (AW__LIKELY(*slot))
    return *slot;
  struct aw__epf *st = AW__FAULT(ALLOC) ? NULL : calloc(1, sizeof *st);
  if (!st)
    return NULL;
  st->ep = ep;
  st->L = L;
  atomic_init(&st->done, NULL);
  atomic_init(&st->inflight, 0);
  *slot = st;
  return st;
}

static bool supported(uint8_t opcode) {
  switch (opcode) {
  case IORING_OP_NOP:
  case IORING_OP_OPENAT:
  case IORING_OP_OPENAT2:
  case IORING_OP_READ:
  case IORING_OP_READV:
  case IORING_OP_WRITE:
  case IORING_OP_WRITEV:
  case IORING_OP_FSYNC:
  case IORING_OP_STATX:
  case IORING_OP_RENAMEAT:
  case IORING_OP_UNLINKAT:
  case IORING_OP_MKDIRAT:
  case IORING_OP_SPLICE:
  case IORING_OP_CLOSE:
  case IORING_OP_SEND:
  case IORING_OP_RECV:
  case IORING_OP_SENDMSG:
    return true;
  default:
    return false;
  }
}

/*
 * What io_uring does at submission, before it hands a request to its io-wq
 * threads, is done here too, on the loop's thread: the attempt that cannot
 * block. A round trip to a pool thread costs more than such a call.
 *
 *  - close(2) only drops a reference (as io_uring's CLOSE, inline there too);
 *    a NOP is nothing.
 *  - A positional read (READ, READV) with RWF_NOWAIT: the page cache's bytes,
 *    or EAGAIN if the call would wait for the device. Kept only if it read
 *    everything asked, or 0 bytes (the end of the file): a short one may be
 *    only the cached part, and aw_fs_read is short only at the end, so it is
 *    run again whole on a pool thread (a pread at an offset can be repeated).
 *  - An open without O_CREAT/O_TRUNC/O_TMPFILE with openat2's RESOLVE_CACHED
 *    (the path from the dentry cache only, else EAGAIN) and O_NONBLOCK, which
 *    is then taken off again unless asked for: io_uring's own non-blocking
 *    open attempt, with the same effect on a FIFO (opened without waiting).
 *
 * Any failure goes to a pool thread, which makes the call properly and says
 * why it failed.
 */
static _Atomic bool no_cached_open; /* openat2 or RESOLVE_CACHED unknown to this kernel */

static bool try_open(const struct io_uring_sqe *e, int32_t *res) {
  int flags = (int)e->open_flags;
  if (flags & (O_CREAT | O_TRUNC | __O_TMPFILE) ||
      atomic_load_explicit(&no_cached_open, memory_order_relaxed))
    return false;
  struct open_how how = {.flags = (uint64_t)(flags | O_NONBLOCK), .resolve = RESOLVE_CACHED};
  long fd = syscall(SYS_openat2, e->fd, ptr(e->addr), &how, sizeof how);
  if (fd < 0) {
    if (errno == ENOSYS || errno == EINVAL || errno == E2BIG)
      atomic_store_explicit(&no_cached_open, true, memory_order_relaxed);
    return false;
  }
  if (!(flags & O_NONBLOCK) &&
      fcntl((int)fd, F_SETFL, flags & (O_APPEND | O_DIRECT | O_NOATIME)) < 0) {
    close((int)fd);
    return false;
  }
  *res = (int32_t)fd;
  return true;
}

static bool try_read(const struct io_uring_sqe *e, int32_t *res) {
  if (e->off == AT_POS || e->rw_flags)
    return false;
  bool vec = e->opcode == IORING_OP_READV;
  struct iovec one = {ptr(e->addr), e->len};
  const struct iovec *iov = vec ? ptr(e->addr) : &one;
  int n = vec ? (int)e->len : 1;
  size_t want = 0;
  for (int i = 0; i < n; i++)
    want += iov[i].iov_len;
  ssize_t r = preadv2(e->fd, iov, n, (off_t)e->off, RWF_NOWAIT);
  if (r < 0 || (r > 0 && (size_t)r < want))
    return false;
  *res = r > INT32_MAX ? INT32_MAX : (int32_t)r;
  return true;
}

static bool try_inline(const struct io_uring_sqe *e, int32_t *res) {
  switch (e->opcode) {
  case IORING_OP_CLOSE:
  case IORING_OP_NOP:
    *res = exec(e);
    return true;
  case IORING_OP_READ:
  case IORING_OP_READV:
    return try_read(e, res);
  case IORING_OP_OPENAT:
    return try_open(e, res);
  default:
    return false;
  }
}

int aw__epf_submit(aw__ep *ep, aw_loop *L, const struct io_uring_sqe *sqe) {
  if (AW__UNLIKELY(!supported(sqe->opcode)))
    return -EINVAL;
  struct aw__epf *st = state_of(ep, L);
  if (AW__UNLIKELY(!st))
    return -ENOMEM;
  reap(st);
  int32_t res;
  if (try_inline(sqe, &res)) {
    aw__ep_post_cqe(ep, sqe->user_data, res, 0);
    return 0;
  }
  epf_op *o = st->cache;
  if (AW__LIKELY(o)) {
    st->cache = o->next;
    st->ncache--;
  } else {
    o = AW__FAULT(ALLOC) ? NULL : malloc(sizeof *o);
    if (!o)
      return -ENOMEM;
  }
  memcpy(&o->sqe, sqe, sizeof o->sqe);
  o->st = st;
  o->job = NULL;
  atomic_init(&o->state, OP_QUEUED);
  int r = aw__work_raw(L, AW_WORK_BLOCKING, run, o, &o->job);
  if (AW__UNLIKELY(r < 0)) {
    op_free(st, o);
    if (r != -ESHUTDOWN)
      return r;
    /* the pool was shut down, or the loop is being freed: the call is made here */
    aw__ep_post_cqe(ep, sqe->user_data, exec(sqe), 0);
    return 0;
  }
  o->prev = NULL;
  o->next = st->head;
  if (st->head)
    st->head->prev = o;
  st->head = o;
  atomic_fetch_add_explicit(&st->inflight, 1, memory_order_relaxed);
  st->unflushed = true;
  return 0;
}

/*
 * The loop flushes its pool batch once per turn, before it waits; but the
 * backend starts SQEs inside that wait (aw__ep_enter submits first), so it
 * calls this after starting them: the jobs go out with one class lock for
 * the whole batch, and before the backend sleeps.
 */
void aw__epf_flush(aw__ep *ep) {
  struct aw__epf *st = *aw__ep_file_state(ep);
  if (st && st->unflushed) {
    st->unflushed = false;
    aw__work_flush(st->L);
  }
}

/* 0 (removed; its -ECANCELED CQE is posted), -EALREADY (it runs), -ENOENT (it has ended). */
static int cancel_one(struct aw__epf *st, epf_op *o) {
  int s = atomic_load_explicit(&o->state, memory_order_acquire);
  if (s == OP_ENDED)
    return -ENOENT;
  if (s == OP_RUNNING)
    return -EALREADY;
  return aw__work_raw_cancel(st->L, o->job) == 0 ? 0 : -EALREADY;
}

int aw__epf_cancel(aw__ep *ep, uint64_t user_data) {
  struct aw__epf *st = *aw__ep_file_state(ep);
  if (!st)
    return -ENOENT;
  reap(st);
  for (epf_op *o = st->head; o; o = o->next) {
    if (o->sqe.user_data != user_data)
      continue;
    int r = cancel_one(st, o);
    if (r != -ENOENT)
      return r;
  }
  return -ENOENT;
}

/* Whether the op works on fd (the kernel's CANCEL_FD matches the op's file). */
static bool on_fd(const struct io_uring_sqe *e, int fd) {
  switch (e->opcode) {
  case IORING_OP_SPLICE:
    return e->fd == fd || e->splice_fd_in == fd;
  case IORING_OP_READ:
  case IORING_OP_READV:
  case IORING_OP_WRITE:
  case IORING_OP_WRITEV:
  case IORING_OP_FSYNC:
  case IORING_OP_SEND:
  case IORING_OP_RECV:
  case IORING_OP_SENDMSG:
    return e->fd == fd;
  default:
    return false; /* by path (a dfd is not the op's file) */
  }
}

int aw__epf_cancel_fd(aw__ep *ep, int fd, bool any) {
  struct aw__epf *st = *aw__ep_file_state(ep);
  if (!st)
    return 0;
  reap(st);
  int n = 0;
  for (epf_op *o = st->head; o; o = o->next) /* a removed op stays listed until reaped */
    if ((any || on_fd(&o->sqe, fd)) && cancel_one(st, o) != -ENOENT)
      n++;
  return n;
}

unsigned aw__epf_outstanding(const aw__ep *ep) {
  struct aw__epf *st = *aw__ep_file_state((aw__ep *)ep);
  return st ? atomic_load_explicit(&st->inflight, memory_order_relaxed) : 0;
}

void aw__epf_free(aw__ep *ep) {
  struct aw__epf **slot = aw__ep_file_state(ep);
  struct aw__epf *st = *slot;
  if (!st)
    return;
  reap(st);
  /* every op ended (the op core waited for their CQEs), so the list is empty; be safe */
  while (st->head) {
    epf_op *o = st->head;
    st->head = o->next;
    free(o);
  }
  while (st->cache) {
    epf_op *o = st->cache;
    st->cache = o->next;
    free(o);
  }
  free(st);
  *slot = NULL;
}
