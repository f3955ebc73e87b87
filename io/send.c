/*
 * io/send.c — the send side of sockets: vectored send (sendmsg), file ->
 * socket through a pipe (splice), zero-copy send (SEND_ZC), and the
 * process's SIGPIPE policy.
 *
 * SIGPIPE. A write to a stream socket whose peer has gone raises SIGPIPE in
 * the writing thread unless the call passes MSG_NOSIGNAL, and SIGPIPE's
 * default action kills the process. With io_uring the "writing thread" is the
 * loop's own when the kernel runs the op inline, so one vanished client could
 * kill a server. Three layers, so that no send path of the library can:
 *   1. aw__sigpipe_init (from aw__io_init): the first loop of the process
 *      that does not set keep_sigpipe sets SIGPIPE to SIG_IGN if it is
 *      SIG_DFL, as Node and Rust's runtime do (a handler or SIG_IGN the
 *      program chose is left alone). The write then fails with EPIPE.
 *   2. Every op that can take MSG_NOSIGNAL does: send, sendv (sendmsg),
 *      send_zc.
 *   3. aw_fs_write and aw_fs_writev at the stream position look at the
 *      descriptor, and on a socket send with MSG_NOSIGNAL instead of
 *      writing (io/file.c), whatever SIGPIPE's disposition is by then
 *      (keep_sigpipe, or the program set it back to SIG_DFL).
 * What is left is splice (aw_sock_sendfile past 64 KiB), which has no such
 * flag; the kernel runs io_uring splices in its io-wq threads, which block
 * every signal but SIGKILL and SIGSTOP, so the SIGPIPE of a failed splice is
 * never delivered there either (tests/io/test_send.c checks it on this
 * kernel), but that is how the kernel is built today, not a promise.
 *
 * sendfile. Past COPY_CHUNK (64 KiB): file -> pipe -> socket, two splices
 * per chunk, each one SQE of the op: FILL moves up to the pipe's size from
 * the file into the op's own pipe, DRAIN moves what the pipe holds into the
 * socket (again while short). The pipe is the op's (made at the call, closed
 * with the op), so an abort or an error at any step just closes it with
 * whatever it held: nothing to drain, nothing to leak, nothing shared with
 * another op. Up to COPY_CHUNK the same two steps are READ into the op's
 * buffer and SEND from it, which the kernel does inline instead of in io-wq
 * (see COPY_CHUNK for why and the figures).
 *
 * send_zc. IORING_OP_SEND_ZC gives two CQEs: the send's result (with
 * IORING_CQE_F_MORE), then a notification (IORING_CQE_F_NOTIF) once the
 * kernel no longer reads the buffer. The op is a "multishot" one for the
 * ring, so it is freed (and the buffer released) only at the notification.
 * MSG_WAITALL makes the kernel continue short sends itself, so one SQE covers
 * the buffer. The promise settles at the first CQE (sent, failed, aborted),
 * never waiting for the notification, which comes only once the peer took
 * the bytes. A short send all the same (a signal) waits for its notification
 * before the next SQE goes in: only one SQE of the op is ever in the kernel.
 */
#define _GNU_SOURCE
#include "io/internal.h"
#include "io/send.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- SIGPIPE --------------------------------------------------------------------------------- */

static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;

static void sigpipe_ignore_if_default(void) {
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) < 0)
    return;
  if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) {
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, NULL);
  }
}

void aw__sigpipe_init(const aw_loop_config *cfg) {
  if (!cfg || !cfg->keep_sigpipe)
    pthread_once(&sigpipe_once, sigpipe_ignore_if_default);
}

/* ---- the op ---------------------------------------------------------------------------------- */

enum { S_FILL = 1, S_DRAIN, S_POLL, S_READ, S_SEND };

/* One send op: sendv, send_zc or sendfile (the fields each uses are marked). */
typedef struct snd {
  aw__op op;
  uint64_t done; /* bytes the socket took */
  /* sendv */
  aw_buf **bufs;
  struct iovec *iov;
  uint32_t nbufs;
  struct msghdr msg;
  /* send_zc */
  aw_buf *buf;
  int err;    /* a send's failure (the promise settles with it at once) */
  bool plain; /* the socket takes no zero-copy (EOPNOTSUPP): plain sends */
  /* sendfile */
  int step;
  int file_fd, pipe_r, pipe_w;
  int64_t offset;             /* AW_FS_CUR, or where the file is read from */
  uint64_t len;               /* bytes to send (UINT64_MAX: to the end of the file) */
  uint32_t in_pipe, pipe_cap; /* bytes the pipe (or the chunk) holds still to send; its size */
  uint8_t *chunk;             /* a short sendfile's buffer (read + send), or NULL */
  uint32_t chunk_len;         /* bytes the last read put in it */
} snd;

static snd *S(aw__op *op) { return (snd *)op; }

static const char *fd_text(int fd, char *tmp, size_t n) {
  snprintf(tmp, n, "fd %d", fd);
  return tmp;
}

static void snd_fail(snd *s, int res) {
  char tmp[32];
  aw__op_fail(&s->op, res, fd_text(s->op.fd, tmp, sizeof tmp));
  aw__op_finish(&s->op);
}

static void snd_done(snd *s) {
  aw__op_settle(&s->op, aw_int((int64_t)s->done));
  aw__op_finish(&s->op);
}

static void snd_cleanup(aw_loop *L, aw__op *op) {
  snd *s = S(op);
  for (uint32_t i = 0; i < s->nbufs; i++)
    aw_release(s->bufs[i]);
  if (s->bufs)
    aw__free(s->bufs, s->nbufs * sizeof(aw_buf *));
  if (s->iov)
    aw__free(s->iov, s->nbufs * sizeof(struct iovec));
  aw_release(s->buf);
  if (s->chunk)
    aw__free(s->chunk, s->pipe_cap);
  /* whatever the pipe still holds goes with it */
  if (s->pipe_r >= 0)
    aw__quiet_close(L, s->pipe_r);
  if (s->pipe_w >= 0)
    aw__quiet_close(L, s->pipe_w);
}

static aw_promise *snd_start(snd *s) {
  aw_promise *p = aw__op_promise(&s->op);
  aw__op_submit(&s->op);
  return p;
}

static aw_promise *bad_fd(aw_loop *L, const char *name, int fd) {
  char tmp[32];
  return aw_promise_rejected(
      L, aw_obj_val(aw_error_errno(-EBADF, name, fd_text(fd, tmp, sizeof tmp))));
}

/* A new send op on fd, or NULL with *early the promise to return. */
static snd *snd_new(aw_loop *L, const aw__op_vt *vt, int fd, const aw_io_opts *o,
                    aw_promise **early) {
  snd *s = (snd *)aw__op_new(L, vt, sizeof *s, o, early);
  if (!s)
    return NULL;
  s->op.fd = fd;
  s->op.flags |= AW__OPF_UNBOUNDED; /* a peer that does not read holds it for ever */
  s->file_fd = s->pipe_r = s->pipe_w = -1;
  return s;
}

/* One step moves at most this much, so a count always fits the CQE's int. */
#define STEP_MAX ((size_t)1 << 30)

/* ---- sendv ----------------------------------------------------------------------------------- */

/* Points the iovecs at what is left to send, past the first s->done bytes. */
static unsigned sendv_fill(snd *s) {
  uint64_t skip = s->done;
  unsigned n = 0;
  for (uint32_t i = 0; i < s->nbufs; i++) {
    aw_buf *b = s->bufs[i];
    if (skip >= b->len) {
      skip -= b->len;
      continue;
    }
    s->iov[n].iov_base = b->data + skip;
    s->iov[n].iov_len = b->len - (size_t)skip;
    skip = 0;
    n++;
  }
  return n;
}

static uint64_t sendv_total(const snd *s) {
  uint64_t t = 0;
  for (uint32_t i = 0; i < s->nbufs; i++)
    t += s->bufs[i]->len;
  return t;
}

static void sendv_prep(aw__op *op, struct io_uring_sqe *sqe) {
  snd *s = S(op);
  memset(&s->msg, 0, sizeof s->msg);
  s->msg.msg_iov = s->iov;
  s->msg.msg_iovlen = sendv_fill(s);
  io_uring_prep_sendmsg(sqe, op->fd, &s->msg, MSG_NOSIGNAL);
}

static void sendv_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  snd *s = S(op);
  uint64_t total = sendv_total(s);
  if (res < 0)
    return snd_fail(s, res);
  if (res == 0 && s->done < total)
    return snd_fail(s, -EPIPE); /* no progress: the stream is gone */
  s->done += (uint64_t)res;
  if (s->done < total)
    return aw__op_submit(op); /* a partial send: the rest, from where it stopped */
  snd_done(s);
}

static const aw__op_vt sendv_vt = {"sendv", sendv_prep, sendv_complete, NULL, snd_cleanup};

static void release_bufs(aw_buf **bufs, size_t n) {
  for (size_t i = 0; bufs && i < n; i++)
    if (bufs[i] && bufs[i]->hdr.type == AW_T_BUFFER)
      aw_release(bufs[i]);
}

aw_promise *aw_sock_sendv(aw_loop *L, int fd, aw_buf **bufs, size_t n, const aw_io_opts *o) {
  bool ok = bufs && n > 0 && n <= IOV_MAX;
  for (size_t i = 0; ok && i < n; i++)
    ok = bufs[i] && bufs[i]->hdr.type == AW_T_BUFFER;
  if (!ok) {
    release_bufs(bufs, n);
    return aw__io_bad_args(L, "sendv: 1 to 1024 buffers");
  }
  if (fd < 0) {
    release_bufs(bufs, n);
    return bad_fd(L, "sendv", fd);
  }
  aw_promise *early;
  snd *s = snd_new(L, &sendv_vt, fd, o, &early);
  if (!s) {
    release_bufs(bufs, n);
    return early;
  }
  s->nbufs = (uint32_t)n;
  s->bufs = aw__alloc(n * sizeof(aw_buf *));
  memcpy(s->bufs, bufs, n * sizeof(aw_buf *));
  s->iov = aw__alloc(n * sizeof(struct iovec));
  return snd_start(s); /* all empty: still one sendmsg, so a bad descriptor fails */
}

/* ---- send_zc --------------------------------------------------------------------------------- */

static void zc_prep(aw__op *op, struct io_uring_sqe *sqe) {
  snd *s = S(op);
  size_t left = s->buf->len - (size_t)s->done;
  size_t n = left > STEP_MAX ? STEP_MAX : left;
  if (s->plain) {
    io_uring_prep_send(sqe, op->fd, s->buf->data + s->done, n, MSG_NOSIGNAL);
    return;
  }
  /* MSG_WAITALL: the kernel goes on after a short send itself (polling for room), so one
   * SQE and one notification cover the whole buffer; a short send of ours would have to
   * wait for its notification, which comes only once the peer has taken the bytes. */
  io_uring_prep_send_zc(sqe, op->fd, s->buf->data + s->done, n, MSG_NOSIGNAL | MSG_WAITALL, 0);
}

/* Settles with the abort reason (an aborted op that did not finish) or s->err. */
static void zc_settle_failure(snd *s) {
  if (s->op.flags & AW__OPF_ABORTED) {
    aw__op_settle(&s->op, aw_throw(aw_retain_val(s->op.abort_reason)));
    return;
  }
  char tmp[32];
  aw__op_fail(&s->op, s->err, fd_text(s->op.fd, tmp, sizeof tmp));
}

/*
 * A send's result, when its notification is still to come: the promise
 * settles now if the outcome is known (everything sent, a failure, an abort),
 * so that it never waits for the peer to take the bytes; the op itself (and
 * the buffer) stays until the notification.
 */
static void zc_result(snd *s, int res) {
  if (res < 0)
    s->err = res;
  else if (res == 0 && s->done < s->buf->len)
    s->err = -EPIPE; /* no progress: the stream is gone */
  else
    s->done += (uint64_t)res;
  if (s->err == -EOPNOTSUPP && s->done == 0 && !s->plain) {
    s->plain = true; /* not a TCP socket (AF_UNIX, say): a copy it is, after the notification */
    s->err = 0;
    return;
  }
  if (s->err || ((s->op.flags & AW__OPF_ABORTED) && s->done < s->buf->len))
    zc_settle_failure(s);
  else if (s->done == s->buf->len)
    aw__op_settle(&s->op, aw_int((int64_t)s->done));
}

/* After the last CQE of a step: the next step, or the end of the op. */
static void zc_next(snd *s) {
  if (s->op.promise && s->done < s->buf->len && !s->err)
    return aw__op_submit(&s->op); /* the rest (or the abort, between steps) */
  if (s->op.promise && s->err)
    zc_settle_failure(s);
  if (s->op.promise)
    aw__op_settle(&s->op, aw_int((int64_t)s->done));
  aw__op_finish(&s->op);
}

static void zc_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L;
  snd *s = S(op);
  if (flags & IORING_CQE_F_NOTIF) /* the kernel is done with the buffer */
    return zc_next(s);
  zc_result(s, res);
  if (!(flags & IORING_CQE_F_MORE)) /* no notification follows (a plain send, an early error) */
    zc_next(s);
}

/* An aborted send's CQE that failed (-ECANCELED...) while its notification is still to come. */
static void zc_on_abort(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  snd *s = S(op);
  if (L->freeing)
    return; /* aw_loop_free: nothing settles any more */
  if (!(flags & IORING_CQE_F_NOTIF) && (flags & IORING_CQE_F_MORE) && res < 0)
    zc_result(s, res); /* settles with the reason now; the notification frees the op */
}

static const aw__op_vt zc_vt = {"send_zc", zc_prep, zc_complete, zc_on_abort, snd_cleanup};

aw_promise *aw_sock_send_zc(aw_loop *L, int fd, aw_buf *data, const aw_io_opts *o) {
  if (!data || data->hdr.type != AW_T_BUFFER) {
    aw_release(data);
    return aw__io_bad_args(L, "send_zc: data must be a buffer");
  }
  if (fd < 0) {
    aw_release(data);
    return bad_fd(L, "send_zc", fd);
  }
  aw_promise *early;
  snd *s = snd_new(L, &zc_vt, fd, o, &early);
  if (!s) {
    aw_release(data);
    return early;
  }
  s->buf = data;
  s->op.flags |= AW__OPF_MULTISHOT; /* freed at the notification, the CQE without F_MORE */
  /* a kernel without SEND_ZC (before 6.0): the same promise, with a copy */
  s->plain = !L->io->caps.op_supported[IORING_OP_SEND_ZC];
  return snd_start(s);
}

/* ---- sendfile -------------------------------------------------------------------------------- */

/*
 * Up to this many bytes a sendfile reads into a buffer of its own and sends
 * it (IORING_OP_READ + IORING_OP_SEND, both done inline for a file in the
 * page cache); longer ones splice. Every splice is a hop to an io-wq thread
 * and back, which a short send feels and a long one does not. Measured here
 * (Linux 6.18, 2 vCPUs, loopback, one call at a time, a loaded machine:
 * medians of 3), splice vs copy through 64 KiB: 4 KiB 39 vs 13 us, 64 KiB 59
 * vs 42 us, 1 MiB 0.94 vs 0.76 ms (within the noise), 16 MiB 10 vs 15 ms.
 * Past 64 KiB the copy's buffer would grow with the send; the pipe keeps
 * the bytes out of user space. A variable, so a test or benchmark can move
 * it.
 */
#define COPY_CHUNK (64u * 1024)
uint64_t aw__sendfile_copy_max = COPY_CHUNK;

#define PIPE_DEFAULT (64u * 1024)
#define PIPE_MAX (1024u * 1024)

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/*
 * What a regular file holds from where the send starts (UINT64_MAX if that
 * is not known: a pipe, say), so that "to the end" of a short file takes the
 * short path, and no pipe is grown past what will go through it.
 */
static uint64_t file_left(int fd, int64_t offset) {
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    return UINT64_MAX;
  off_t at = offset == AW_FS_CUR ? lseek(fd, 0, SEEK_CUR) : (off_t)offset;
  if (at < 0)
    return UINT64_MAX;
  return st.st_size > at ? (uint64_t)(st.st_size - at) : 0;
}

/* The pipe a sendfile moves `want` bytes through: up to 1 MiB for a long send. 0 or -errno. */
static int pipe_open(snd *s, uint64_t want_bytes) {
  int p[2];
  if (AW__FAULT_FD(pipe2(p, O_CLOEXEC)) < 0)
    return -errno;
  s->pipe_r = p[0];
  s->pipe_w = p[1];
  int cap = fcntl(p[1], F_GETPIPE_SZ);
  if (want_bytes > (uint64_t)(cap > 0 ? cap : (int)PIPE_DEFAULT)) {
    /* fewer steps for a long file; refused past fs.pipe-max-size or the user's pipe pages */
    unsigned want = PIPE_MAX;
    while (want / 2 >= want_bytes && want > PIPE_DEFAULT)
      want /= 2;
    int got = fcntl(p[1], F_SETPIPE_SZ, (int)want);
    if (got > 0)
      cap = got;
  }
  s->pipe_cap = cap > 0 ? (uint32_t)cap : 4096; /* a pipe holds at least a page */
  return 0;
}

/*
 * The file's offset for the next read or fill: -1 (the file position) for
 * AW_FS_CUR, else past what was sent (in copy mode nothing is read ahead of
 * what was sent; in splice mode only the pipe's content, which is sent before
 * the next fill).
 */
static int64_t file_at(const snd *s) {
  return s->offset == AW_FS_CUR ? -1 : s->offset + (int64_t)s->done;
}

static unsigned file_step_len(const snd *s) {
  uint64_t left = s->len - s->done;
  return left < s->pipe_cap ? (unsigned)left : s->pipe_cap;
}

static void file_prep(aw__op *op, struct io_uring_sqe *sqe) {
  snd *s = S(op);
  switch (s->step) {
  case S_FILL:
    io_uring_prep_splice(sqe, s->file_fd, file_at(s), s->pipe_w, -1, file_step_len(s),
                         SPLICE_F_MOVE);
    break;
  case S_DRAIN:
    io_uring_prep_splice(sqe, s->pipe_r, -1, op->fd, -1, s->in_pipe, SPLICE_F_MOVE);
    break;
  case S_POLL:
    io_uring_prep_poll_add(sqe, op->fd, POLLOUT);
    break;
  case S_READ:
    io_uring_prep_read(sqe, s->file_fd, s->chunk, file_step_len(s), (uint64_t)file_at(s));
    break;
  case S_SEND:
    io_uring_prep_send(sqe, op->fd, s->chunk + (s->chunk_len - s->in_pipe), s->in_pipe,
                       MSG_NOSIGNAL);
    break;
  }
}

static void file_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  snd *s = S(op);
  bool reading = s->step == S_FILL || s->step == S_READ;
  if (reading) {
    if (res < 0) {
      char tmp[48];
      snprintf(tmp, sizeof tmp, "file fd %d", s->file_fd); /* the file's failure */
      aw__op_fail(op, res, tmp);
      aw__op_finish(op);
      return;
    }
    if (res == 0)
      return snd_done(s); /* the end of the file */
    aw__io_defined(s->chunk, s->chunk ? (size_t)res : 0);
    s->in_pipe = s->chunk_len = (uint32_t)res;
    s->step = s->step == S_FILL ? S_DRAIN : S_SEND;
    return aw__op_submit(op);
  }
  if (s->step == S_POLL) { /* room in the socket (or an error, which the splice will tell) */
    s->step = S_DRAIN;
    return aw__op_submit(op);
  }
  if (res == -EAGAIN && s->step == S_DRAIN) {
    /* an O_NONBLOCK socket without room: splice does not wait for it, so wait here */
    s->step = S_POLL;
    return aw__op_submit(op);
  }
  if (res < 0)
    return snd_fail(s, res);
  if (res == 0)
    return snd_fail(s, -EPIPE); /* no progress: the stream is gone */
  s->done += (uint64_t)res;
  s->in_pipe -= (uint32_t)res;
  if (s->in_pipe == 0) {
    if (s->done >= s->len)
      return snd_done(s);
    s->step = s->step == S_DRAIN ? S_FILL : S_READ;
  }
  aw__op_submit(op); /* the rest of what is held, or the next chunk of the file */
}

static const aw__op_vt file_vt = {"sendfile", file_prep, file_complete, NULL, snd_cleanup};

aw_promise *aw_sock_sendfile(aw_loop *L, int sock, int file_fd, int64_t offset, uint64_t len,
                             const aw_io_opts *o) {
  if (sock < 0)
    return bad_fd(L, "sendfile", sock);
  if (file_fd < 0) {
    char tmp[48];
    snprintf(tmp, sizeof tmp, "file fd %d", file_fd);
    return aw_promise_rejected(L, aw_obj_val(aw_error_errno(-EBADF, "sendfile", tmp)));
  }
  if (offset < 0 && offset != AW_FS_CUR) {
    char tmp[48];
    snprintf(tmp, sizeof tmp, "file fd %d", file_fd);
    return aw_promise_rejected(L, aw_obj_val(aw_error_errno(-EINVAL, "sendfile", tmp)));
  }
  if (offset >= 0 && len > (uint64_t)INT64_MAX - (uint64_t)offset)
    len = (uint64_t)INT64_MAX - (uint64_t)offset; /* "to the end": no offset past INT64_MAX */
  aw_promise *early;
  snd *s = snd_new(L, &file_vt, sock, o, &early);
  if (!s)
    return early;
  s->file_fd = file_fd;
  s->offset = offset;
  s->len = len;
  if (len == 0) { /* nothing to send: no pipe, no step */
    aw_promise *p = aw__op_promise(&s->op);
    snd_done(s);
    return p;
  }
  uint64_t want = len <= aw__sendfile_copy_max ? len : min_u64(len, file_left(file_fd, offset));
  if (want <= aw__sendfile_copy_max) { /* short: read + send beats two io-wq splices */
    uint64_t cap = len <= aw__sendfile_copy_max ? len : (want + 4095) / 4096 * 4096;
    s->pipe_cap = (uint32_t)min_u64(cap ? cap : 4096, COPY_CHUNK);
    s->chunk = aw__alloc(s->pipe_cap);
    s->step = S_READ;
    return snd_start(s);
  }
  int r = pipe_open(s, want);
  if (r < 0) {
    aw_promise *p = aw__op_promise(&s->op);
    aw__op_fail(&s->op, r, "pipe");
    aw__op_finish(&s->op);
    return p;
  }
  s->step = S_FILL;
  return snd_start(s);
}
