/*
 * io/file.c — file operations as io_uring ops.
 *
 * One op struct (fop) serves every file operation: the common fields, a
 * step number for the multi-step ones, and the path copied after it. Simple
 * operations are one SQE; read_file and write_file are small state machines
 * that submit their next step from each completion:
 *
 *   read_file:  OPEN -> FSTAT -> READ (again while short, growing the buffer
 *               when the file has no size or grew) -> CLOSE
 *   write_file: OPEN -> WRITE (again while short) -> [atomic: FSYNC] -> CLOSE
 *               -> [atomic: RENAME -> OPEN dir -> FSYNC dir -> CLOSE dir]
 *
 * A failure at any step closes what the op opened (and removes an atomic
 * write's temporary file) before the promise rejects, and names the step
 * that failed: "read /x/y: Is a directory (EISDIR)".
 */
#define _GNU_SOURCE
#include "io/internal.h"
#include "io/send.h"

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A test hook: an atomic write_file stops dead before this step (0: never). */
int aw__write_file_crash_at;

enum {
  S_OPEN = 1,
  S_FSTAT,
  S_READ,
  S_WRITE,
  S_FSYNC,
  S_CLOSE,
  S_RENAME,
  S_DOPEN,
  S_DSYNC,
  S_DCLOSE
};

typedef struct fop {
  aw__op op;
  int step;
  int flags, mode;
  int64_t offset;
  size_t done;
  aw_buf *buf;
  aw_buf **bufs;
  struct iovec *iov;
  uint32_t nbufs;
  int err;      /* the first failure of a multi-step op, while it cleans up */
  int err_step; /* and the step it happened at */
  int dir_fd;   /* write_file atomic: the directory */
  bool atomic;
  bool tmp_created;  /* write_file atomic: this op created path2 (only then is it removed) */
  uint8_t tmp_tries; /* write_file atomic: temporary names tried (a new one after EEXIST) */
  bool has_path;     /* a path operation (its path may be ""), not a descriptor one */
  bool owns_fd;      /* op.fd was opened by this op (read_file, write_file), not given */
  struct statx *stx; /* stat ops */
  const char *path2; /* rename's target, write_file's temporary file (in path's block) */
  /* write/writev at the stream position on a socket: sends with MSG_NOSIGNAL */
  bool sock;
  struct msghdr *msg; /* writev's */
  char path[];
} fop;

static fop *F(aw__op *op) { return (fop *)op; }

/* The path as errors name it: '' for the empty one, as Node ("open ''"). */
static const char *path_text(const char *path) { return path[0] ? path : "''"; }

/* "fd 7" for descriptor operations, the path for the others. */
static const char *what(fop *f, char *tmp, size_t n) {
  if (f->has_path)
    return path_text(f->path);
  snprintf(tmp, n, "fd %d", f->op.fd);
  return tmp;
}

static void fail(fop *f, int res) {
  char tmp[32];
  aw__op_fail(&f->op, res, what(f, tmp, sizeof tmp));
  aw__op_finish(&f->op);
}

static void done(fop *f, aw_val v) {
  aw__op_settle(&f->op, v);
  aw__op_finish(&f->op);
}

static void fop_cleanup(aw_loop *L, aw__op *op) {
  fop *f = F(op);
  aw_release(f->buf);
  for (uint32_t i = 0; i < f->nbufs; i++)
    aw_release(f->bufs[i]);
  if (f->bufs)
    aw__free(f->bufs, f->nbufs * sizeof(aw_buf *));
  if (f->iov)
    aw__free(f->iov, f->nbufs * sizeof(struct iovec));
  if (f->stx)
    aw__free(f->stx, sizeof *f->stx);
  if (f->msg)
    aw__free(f->msg, sizeof *f->msg);
  (void)L;
}

/*
 * An aborted op closes what it opened and removes an atomic write's temporary
 * file. res -ECANCELED: the step did not happen (cancelled, or stopped before
 * it was submitted), so a close step's descriptor is still open; any other
 * result of a close step means the kernel closed it (close releases the
 * descriptor even when it reports an error).
 */
static void fop_on_abort(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  fop *f = F(op);
  (void)flags;
  bool ran = res != -ECANCELED;
  if ((f->step == S_OPEN || f->step == S_DOPEN) && res >= 0) {
    aw__quiet_close(L, res);
    if (f->step == S_OPEN && f->atomic)
      f->tmp_created = true;
  }
  if (f->tmp_created && f->step <= S_RENAME && !(f->step == S_RENAME && res >= 0))
    unlink(f->path2); /* an atomic write's temporary file, not renamed */
  if (f->owns_fd && op->fd >= 0 && (f->step != S_CLOSE || !ran)) {
    aw__quiet_close(L, op->fd); /* never a descriptor the caller gave */
    op->fd = -1;
  }
  if (f->dir_fd >= 0 && (f->step != S_DCLOSE || !ran)) {
    aw__quiet_close(L, f->dir_fd);
    f->dir_fd = -1;
  }
}

/* Allocates a file op with room for the path and, if given, a second path. */
static fop *fop_new(aw_loop *L, const aw__op_vt *vt, const char *path, const char *path2,
                    const aw_io_opts *o, aw_promise **early) {
  size_t n1 = path ? strlen(path) + 1 : 1, n2 = path2 ? strlen(path2) + 1 : 0;
  fop *f = (fop *)aw__op_new(L, vt, sizeof(fop) + n1 + n2, o, early);
  if (!f)
    return NULL;
  if (path) {
    memcpy(f->path, path, n1);
    f->has_path = true;
  }
  if (path2) {
    memcpy(f->path + n1, path2, n2);
    f->path2 = f->path + n1;
  }
  f->dir_fd = -1;
  return f;
}

static aw_promise *start(fop *f) {
  aw_promise *p = aw__op_promise(&f->op);
  aw__op_submit(&f->op);
  return p;
}

#define FOP_VT(name, prep, complete)                                                               \
  static const aw__op_vt name##_vt = {#name, prep, complete, fop_on_abort, fop_cleanup}

#define CHECK_PATH(L, path)                                                                        \
  do {                                                                                             \
    if (!(path))                                                                                   \
      return aw__io_bad_args((L), "path must not be NULL");                                        \
  } while (0)

static aw_promise *bad_fd(aw_loop *L, const char *name, int fd) {
  char what[32];
  snprintf(what, sizeof what, "fd %d", fd);
  return aw_promise_rejected(L, aw_obj_val(aw_error_errno(-EBADF, name, what)));
}

#define CHECK_FD(L, fd, name)                                                                      \
  do {                                                                                             \
    if ((fd) < 0)                                                                                  \
      return bad_fd((L), (name), (fd));                                                            \
  } while (0)

/* ---- open, close ---------------------------------------------------------------------- */

static void open_prep(aw__op *op, struct io_uring_sqe *sqe) {
  fop *f = F(op);
  f->step = S_OPEN;
  io_uring_prep_openat(sqe, AT_FDCWD, f->path, f->flags | O_CLOEXEC, (mode_t)f->mode);
}
static void open_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  if (res < 0)
    return fail(F(op), res);
  done(F(op), aw_int(res));
}
FOP_VT(open, open_prep, open_complete);

aw_promise *aw_fs_open(aw_loop *L, const char *path, int flags, int mode, const aw_io_opts *o) {
  CHECK_PATH(L, path);
  aw_promise *early;
  fop *f = fop_new(L, &open_vt, path, NULL, o, &early);
  if (!f)
    return early;
  f->flags = flags;
  f->mode = mode;
  return start(f);
}

static void close_prep(aw__op *op, struct io_uring_sqe *sqe) {
  F(op)->step = S_CLOSE;
  io_uring_prep_close(sqe, op->fd);
}
static void simple_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  if (res < 0)
    return fail(F(op), res);
  done(F(op), aw_undefined());
}
static void close_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  if (res == 0 && L->io->listeners)
    aw__net_fd_closed(L); /* a descriptor is free: a listener out of them may accept again */
  simple_complete(L, op, res, flags);
}
FOP_VT(close, close_prep, close_complete);

static aw_promise *fd_simple(aw_loop *L, const aw__op_vt *vt, int fd, const aw_io_opts *o,
                             fop **out) {
  aw_promise *early;
  fop *f = fop_new(L, vt, NULL, NULL, o, &early);
  *out = f;
  if (!f)
    return early;
  f->op.fd = fd;
  return NULL;
}

aw_promise *aw_fs_close(aw_loop *L, int fd, const aw_io_opts *o) {
  CHECK_FD(L, fd, "close");
  fop *f;
  aw_promise *early = fd_simple(L, &close_vt, fd, o, &f);
  if (!f)
    return early;
  return start(f);
}

/* ---- read, write ----------------------------------------------------------------------- */

static uint64_t at(fop *f, size_t done_bytes) {
  return f->offset == AW_FS_CUR ? (uint64_t)-1 : (uint64_t)f->offset + done_bytes;
}

/*
 * An offset the kernel would not honour, rejected as pread/pwrite do: a
 * negative one other than AW_FS_CUR (EINVAL), and any offset on a pipe or a
 * socket (ESPIPE; io_uring would read from the stream and ignore it). NULL
 * if the offset is fine.
 */
static aw_promise *bad_offset(aw_loop *L, const char *name, int fd, int64_t offset) {
  int e = 0;
  if (offset < 0 && offset != AW_FS_CUR)
    e = EINVAL;
  else if (offset >= 0 && lseek(fd, 0, SEEK_CUR) < 0 && errno == ESPIPE)
    e = ESPIPE;
  if (!e)
    return NULL;
  char what[32];
  snprintf(what, sizeof what, "fd %d", fd);
  return aw_promise_rejected(L, aw_obj_val(aw_error_errno(-e, name, what)));
}

static void read_prep(aw__op *op, struct io_uring_sqe *sqe) {
  fop *f = F(op);
  f->step = S_READ;
  aw_buf *b = f->buf;
  size_t room = b->cap - b->len;
  io_uring_prep_read(sqe, op->fd, b->data + b->len, room > UINT32_MAX ? UINT32_MAX : (unsigned)room,
                     at(f, 0));
}
static void read_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  fop *f = F(op);
  if (res < 0)
    return fail(f, res);
  aw__io_defined(f->buf->data + f->buf->len, (size_t)res);
  f->buf->len += (size_t)res;
  if (f->flags) { /* read_into: the count */
    done(f, aw_int(res));
  } else { /* read: the buffer */
    aw_buf *b = f->buf;
    f->buf = NULL;
    done(f, aw_obj_val(b));
  }
}
FOP_VT(read, read_prep, read_complete);

static aw_promise *read_common(aw_loop *L, int fd, aw_buf *buf, int64_t offset, bool into,
                               const aw_io_opts *o) {
  aw_promise *bad = bad_offset(L, "read", fd, offset);
  if (bad) {
    aw_release(buf);
    return bad;
  }
  fop *f;
  aw_promise *early = fd_simple(L, &read_vt, fd, o, &f);
  if (!f) {
    aw_release(buf);
    return early;
  }
  f->buf = buf;
  f->offset = offset;
  f->flags = into;
  return start(f);
}

aw_promise *aw_fs_read(aw_loop *L, int fd, size_t len, int64_t offset, const aw_io_opts *o) {
  CHECK_FD(L, fd, "read");
  if (len > AW__IO_MAX_LEN)
    return aw__io_bad_args(L, "read: len is too large (a negative size?)");
  aw_buf *b = aw_buf_new(len);
  if (!b)
    return aw_promise_rejected(L, aw_obj_val(aw_error_errno(-ENOMEM, "read", "buffer")));
  return read_common(L, fd, b, offset, false, o);
}

aw_promise *aw_fs_read_into(aw_loop *L, int fd, aw_buf *buf, int64_t offset, const aw_io_opts *o) {
  if (!buf || buf->hdr.type != AW_T_BUFFER) {
    aw_release(buf);
    return aw__io_bad_args(L, "read_into: buf must be a buffer");
  }
  if (fd < 0) {
    aw_release(buf);
    CHECK_FD(L, fd, "read");
  }
  return read_common(L, fd, buf, offset, true, o);
}

/*
 * A write to a socket raises SIGPIPE when the peer has gone, and write(2) has
 * no MSG_NOSIGNAL. The process usually ignores SIGPIPE (io/send.c), but not
 * with keep_sigpipe, nor after the program set it back: so a write at the
 * stream position on a socket is sent with MSG_NOSIGNAL instead, whatever
 * SIGPIPE's disposition (one fstat per call, as a positional write costs an
 * lseek in bad_offset). A positional write on a socket is ESPIPE before it
 * gets here.
 */
static bool write_sends(int fd, int64_t offset) {
  if (offset != AW_FS_CUR)
    return false;
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void write_prep(aw__op *op, struct io_uring_sqe *sqe) {
  fop *f = F(op);
  f->step = S_WRITE;
  size_t left = f->buf->len - f->done;
  unsigned n = left > (1u << 30) ? (1u << 30) : (unsigned)left;
  if (f->sock)
    io_uring_prep_send(sqe, op->fd, f->buf->data + f->done, n, MSG_NOSIGNAL);
  else
    io_uring_prep_write(sqe, op->fd, f->buf->data + f->done, n, at(f, f->done));
}
static void write_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  fop *f = F(op);
  if (res < 0)
    return fail(f, res);
  if (res == 0 && f->done < f->buf->len)
    return fail(f, -EIO); /* no progress: stop rather than spin */
  f->done += (size_t)res;
  if (f->done < f->buf->len)
    return aw__op_submit(op); /* a short write: the rest */
  done(f, aw_int((int64_t)f->done));
}
FOP_VT(write, write_prep, write_complete);

aw_promise *aw_fs_write(aw_loop *L, int fd, aw_buf *data, int64_t offset, const aw_io_opts *o) {
  if (!data || data->hdr.type != AW_T_BUFFER) {
    aw_release(data);
    return aw__io_bad_args(L, "write: data must be a buffer");
  }
  if (fd < 0) {
    aw_release(data);
    CHECK_FD(L, fd, "write");
  }
  aw_promise *bad = bad_offset(L, "write", fd, offset);
  if (bad) {
    aw_release(data);
    return bad;
  }
  fop *f;
  aw_promise *early = fd_simple(L, &write_vt, fd, o, &f);
  if (!f) {
    aw_release(data);
    return early;
  }
  f->buf = data;
  f->offset = offset;
  f->sock = write_sends(fd, offset);
  if (f->sock)
    f->op.flags |= AW__OPF_UNBOUNDED; /* a peer that does not read holds it for ever */
  return start(f); /* an empty write still goes to the kernel (a bad fd still fails) */
}

/* ---- readv, writev --------------------------------------------------------------------------- */

/* Points the iovecs at the buffers' free space (readv) or at what is left to write (writev). */
static unsigned fill_iov(fop *f, bool reading) {
  size_t skip = f->done;
  unsigned n = 0;
  for (uint32_t i = 0; i < f->nbufs; i++) {
    aw_buf *b = f->bufs[i];
    uint8_t *base = reading ? b->data + b->len : b->data;
    size_t len = reading ? b->cap - b->len : b->len;
    if (!reading && skip >= len) {
      skip -= len;
      continue;
    }
    if (!reading) {
      base += skip;
      len -= skip;
      skip = 0;
    }
    f->iov[n].iov_base = base;
    f->iov[n].iov_len = len;
    n++;
  }
  return n;
}

static void readv_prep(aw__op *op, struct io_uring_sqe *sqe) {
  fop *f = F(op);
  f->step = S_READ;
  io_uring_prep_readv(sqe, op->fd, f->iov, fill_iov(f, true), at(f, 0));
}
static void readv_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  fop *f = F(op);
  if (res < 0)
    return fail(f, res);
  size_t left = (size_t)res;
  for (uint32_t i = 0; i < f->nbufs && left; i++) {
    aw_buf *b = f->bufs[i];
    size_t take = b->cap - b->len < left ? b->cap - b->len : left;
    aw__io_defined(b->data + b->len, take);
    b->len += take;
    left -= take;
  }
  done(f, aw_int(res));
}
FOP_VT(readv, readv_prep, readv_complete);

static size_t total_len(fop *f) {
  size_t t = 0;
  for (uint32_t i = 0; i < f->nbufs; i++)
    t += f->bufs[i]->len;
  return t;
}

static void writev_prep(aw__op *op, struct io_uring_sqe *sqe) {
  fop *f = F(op);
  f->step = S_WRITE;
  unsigned n = fill_iov(f, false);
  if (f->msg) { /* a socket: see write_sends */
    memset(f->msg, 0, sizeof *f->msg);
    f->msg->msg_iov = f->iov;
    f->msg->msg_iovlen = n;
    io_uring_prep_sendmsg(sqe, op->fd, f->msg, MSG_NOSIGNAL);
    return;
  }
  io_uring_prep_writev(sqe, op->fd, f->iov, n, at(f, f->done));
}
static void writev_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  fop *f = F(op);
  if (res < 0)
    return fail(f, res);
  size_t total = total_len(f);
  if (res == 0 && f->done < total)
    return fail(f, -EIO);
  f->done += (size_t)res;
  if (f->done < total)
    return aw__op_submit(op);
  done(f, aw_int((int64_t)f->done));
}
FOP_VT(writev, writev_prep, writev_complete);

static aw_promise *vector_op(aw_loop *L, const aw__op_vt *vt, int fd, aw_buf **bufs, size_t n,
                             int64_t offset, const aw_io_opts *o) {
  bool ok = bufs && n > 0 && n <= 1024;
  for (size_t i = 0; ok && i < n; i++)
    ok = bufs[i] && bufs[i]->hdr.type == AW_T_BUFFER;
  if (!ok || fd < 0) {
    for (size_t i = 0; bufs && i < n; i++)
      if (bufs[i] && bufs[i]->hdr.type == AW_T_BUFFER)
        aw_release(bufs[i]);
    if (!ok)
      return aw__io_bad_args(L, "readv/writev: 1 to 1024 buffers");
    CHECK_FD(L, fd, vt->name);
  }
  aw_promise *bad = bad_offset(L, vt->name, fd, offset);
  if (bad) {
    for (size_t i = 0; i < n; i++)
      aw_release(bufs[i]);
    return bad;
  }
  fop *f;
  aw_promise *early = fd_simple(L, vt, fd, o, &f);
  if (!f) {
    for (size_t i = 0; i < n; i++)
      aw_release(bufs[i]);
    return early;
  }
  f->nbufs = (uint32_t)n;
  f->bufs = aw__alloc(n * sizeof(aw_buf *));
  memcpy(f->bufs, bufs, n * sizeof(aw_buf *));
  f->iov = aw__alloc(n * sizeof(struct iovec));
  f->offset = offset;
  if (vt == &writev_vt && write_sends(fd, offset)) {
    f->msg = aw__alloc(sizeof *f->msg);
    f->op.flags |= AW__OPF_UNBOUNDED; /* as a send: it may wait for the peer for ever */
  }
  return start(f);
}

aw_promise *aw_fs_readv(aw_loop *L, int fd, aw_buf **bufs, size_t n, int64_t offset,
                        const aw_io_opts *o) {
  return vector_op(L, &readv_vt, fd, bufs, n, offset, o);
}
aw_promise *aw_fs_writev(aw_loop *L, int fd, aw_buf **bufs, size_t n, int64_t offset,
                         const aw_io_opts *o) {
  return vector_op(L, &writev_vt, fd, bufs, n, offset, o);
}

/* ---- stat
 * ---------------------------------------------------------------------------------------- */

static void stats_finalize(aw_obj *o) { (void)o; }
static const aw_class stats_class = {"Stats", stats_finalize, NULL};

const struct statx *aw_fs_statx(aw_val v) {
  v = aw_caught(v);
  if (!aw_is_obj(v) || aw_object_class(v.u.o) != &stats_class)
    return NULL;
  return aw_object_data(v.u.o);
}

#define STATX_WANT (STATX_BASIC_STATS | STATX_BTIME)

static void stat_prep(aw__op *op, struct io_uring_sqe *sqe) {
  fop *f = F(op);
  f->step = S_FSTAT;
  if (f->has_path)
    io_uring_prep_statx(sqe, AT_FDCWD, f->path, f->flags, STATX_WANT, f->stx);
  else
    io_uring_prep_statx(sqe, op->fd, "", AT_EMPTY_PATH | f->flags, STATX_WANT, f->stx);
}
static void stat_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  fop *f = F(op);
  if (res < 0)
    return fail(f, res);
  aw__io_defined(f->stx, sizeof *f->stx);
  aw_obj *s = aw_object_new(&stats_class, sizeof(struct statx));
  if (!s)
    return fail(f, -ENOMEM);
  memcpy(aw_object_data(s), f->stx, sizeof(struct statx));
  done(f, aw_obj_val(s));
}
static const aw__op_vt stat_vt = {"stat", stat_prep, stat_complete, NULL, fop_cleanup};
static const aw__op_vt fstat_vt = {"fstat", stat_prep, stat_complete, NULL, fop_cleanup};

aw_promise *aw_fs_stat(aw_loop *L, const char *path, int flags, const aw_io_opts *o) {
  CHECK_PATH(L, path);
  if (!path[0])
    return aw_promise_rejected(L, aw_obj_val(aw_error_errno(-ENOENT, "stat", "''")));
  aw_promise *early;
  fop *f = fop_new(L, &stat_vt, path, NULL, o, &early);
  if (!f)
    return early;
  f->flags = flags;
  f->stx = aw__calloc(sizeof *f->stx);
  return start(f);
}

aw_promise *aw_fs_fstat(aw_loop *L, int fd, const aw_io_opts *o) {
  CHECK_FD(L, fd, "fstat");
  fop *f;
  aw_promise *early = fd_simple(L, &fstat_vt, fd, o, &f);
  if (!f)
    return early;
  f->stx = aw__calloc(sizeof *f->stx);
  return start(f);
}

/* ---- fsync, unlink, rmdir, rename, mkdir -------------------------------------------------------
 */

static void fsync_prep(aw__op *op, struct io_uring_sqe *sqe) {
  F(op)->step = S_FSYNC;
  io_uring_prep_fsync(sqe, op->fd, F(op)->flags ? IORING_FSYNC_DATASYNC : 0);
}
FOP_VT(fsync, fsync_prep, simple_complete);
FOP_VT(fdatasync, fsync_prep, simple_complete);

aw_promise *aw_fs_fsync(aw_loop *L, int fd, bool datasync, const aw_io_opts *o) {
  CHECK_FD(L, fd, datasync ? "fdatasync" : "fsync");
  fop *f;
  aw_promise *early = fd_simple(L, datasync ? &fdatasync_vt : &fsync_vt, fd, o, &f);
  if (!f)
    return early;
  f->flags = datasync;
  return start(f);
}

static void unlink_prep(aw__op *op, struct io_uring_sqe *sqe) {
  io_uring_prep_unlinkat(sqe, AT_FDCWD, F(op)->path, F(op)->flags);
}
FOP_VT(unlink, unlink_prep, simple_complete);
static const aw__op_vt rmdir_vt = {"rmdir", unlink_prep, simple_complete, NULL, fop_cleanup};

static aw_promise *path_simple(aw_loop *L, const aw__op_vt *vt, const char *path, const char *path2,
                               int flags, int mode, const aw_io_opts *o) {
  aw_promise *early;
  fop *f = fop_new(L, vt, path, path2, o, &early);
  if (!f)
    return early;
  f->flags = flags;
  f->mode = mode;
  return start(f);
}

aw_promise *aw_fs_unlink(aw_loop *L, const char *path, const aw_io_opts *o) {
  CHECK_PATH(L, path);
  return path_simple(L, &unlink_vt, path, NULL, 0, 0, o);
}

aw_promise *aw_fs_rmdir(aw_loop *L, const char *path, const aw_io_opts *o) {
  CHECK_PATH(L, path);
  return path_simple(L, &rmdir_vt, path, NULL, AT_REMOVEDIR, 0, o);
}

static void rename_prep(aw__op *op, struct io_uring_sqe *sqe) {
  io_uring_prep_renameat(sqe, AT_FDCWD, F(op)->path, AT_FDCWD, F(op)->path2, 0);
}
static void rename_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  fop *f = F(op);
  if (res < 0) {
    char both[8192];
    snprintf(both, sizeof both, "%s -> %s", path_text(f->path), path_text(f->path2));
    aw__op_fail(op, res, both);
    aw__op_finish(op);
    return;
  }
  done(f, aw_undefined());
}
FOP_VT(rename, rename_prep, rename_complete);

aw_promise *aw_fs_rename(aw_loop *L, const char *from, const char *to, const aw_io_opts *o) {
  CHECK_PATH(L, from);
  CHECK_PATH(L, to);
  return path_simple(L, &rename_vt, from, to, 0, 0, o);
}

static void mkdir_prep(aw__op *op, struct io_uring_sqe *sqe) {
  io_uring_prep_mkdirat(sqe, AT_FDCWD, F(op)->path, (mode_t)F(op)->mode);
}
FOP_VT(mkdir, mkdir_prep, simple_complete);

aw_promise *aw_fs_mkdir(aw_loop *L, const char *path, int mode, const aw_io_opts *o) {
  CHECK_PATH(L, path);
  return path_simple(L, &mkdir_vt, path, NULL, 0, mode ? mode : 0777, o);
}

/* ---- read_file
 * ------------------------------------------------------------------------------------ */

#define READ_FILE_CHUNK (64 * 1024)

static void rf_prep(aw__op *op, struct io_uring_sqe *sqe) {
  fop *f = F(op);
  switch (f->step) {
  case S_OPEN:
    io_uring_prep_openat(sqe, AT_FDCWD, f->path, O_RDONLY | O_CLOEXEC, 0);
    break;
  case S_FSTAT:
    io_uring_prep_statx(sqe, op->fd, "", AT_EMPTY_PATH, STATX_SIZE | STATX_TYPE, f->stx);
    break;
  case S_READ: {
    aw_buf *b = f->buf;
    size_t room = b->cap - b->len;
    io_uring_prep_read(sqe, op->fd, b->data + b->len,
                       room > (1u << 30) ? (1u << 30) : (unsigned)room, (uint64_t)b->len);
    break;
  }
  case S_CLOSE:
    io_uring_prep_close(sqe, op->fd);
    break;
  }
}

static const char *step_name(int step) {
  switch (step) {
  case S_OPEN:
  case S_DOPEN:
    return "open";
  case S_FSTAT:
    return "fstat";
  case S_READ:
    return "read";
  case S_WRITE:
    return "write";
  case S_FSYNC:
  case S_DSYNC:
    return "fsync";
  case S_CLOSE:
  case S_DCLOSE:
    return "close";
  case S_RENAME:
    return "rename";
  default:
    return "?";
  }
}

/* A multi-step op's failure, named after the step that failed: "open /x/y: ...". */
static void step_fail(fop *f, int step, int res) {
  aw__op_settle(&f->op,
                aw_throw(aw_obj_val(aw_error_errno(res, step_name(step), path_text(f->path)))));
  aw__op_finish(&f->op);
}

/* After a failure: close the file first, then report the failure. */
static void rf_fail(fop *f, int res) {
  if (f->op.fd >= 0) {
    f->err = res;
    f->err_step = f->step;
    f->step = S_CLOSE;
    aw__op_submit(&f->op);
    return;
  }
  step_fail(f, f->step, res);
}

static void rf_read_more(fop *f) {
  aw_buf *b = f->buf;
  if (b->len == b->cap) { /* the file grew, or had no size: a bigger buffer */
    size_t ncap = b->cap < READ_FILE_CHUNK ? READ_FILE_CHUNK : b->cap * 2;
    if (aw_buf_reserve(b, ncap) < 0)
      return rf_fail(f, -ENOMEM);
  }
  f->step = S_READ;
  aw__op_submit(&f->op);
}

static void rf_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  fop *f = F(op);
  switch (f->step) {
  case S_OPEN:
    if (res < 0)
      return step_fail(f, S_OPEN, res);
    op->fd = res;
    f->owns_fd = true;
    f->step = S_FSTAT;
    return aw__op_submit(op);
  case S_FSTAT: {
    if (res < 0)
      return rf_fail(f, res);
    aw__io_defined(f->stx, sizeof *f->stx);
    if (S_ISDIR(f->stx->stx_mode)) {
      f->step = S_READ; /* reading is what fails on a directory, as Node says */
      return rf_fail(f, -EISDIR);
    }
    uint64_t size = f->stx->stx_size;
    f->done = size; /* what the file said its size was */
    f->buf = aw_buf_new(size ? size : READ_FILE_CHUNK);
    if (!f->buf)
      return rf_fail(f, -ENOMEM);
    f->step = S_READ;
    return aw__op_submit(op);
  }
  case S_READ:
    if (res < 0)
      return rf_fail(f, res);
    aw__io_defined(f->buf->data + f->buf->len, (size_t)res);
    f->buf->len += (size_t)res;
    /* done at end of file, or when a sized file is read whole (where Node stops too) */
    if (res == 0 || (f->done && f->buf->len >= f->done)) {
      f->step = S_CLOSE;
      return aw__op_submit(op);
    }
    return rf_read_more(f);
  case S_CLOSE:
    op->fd = -1;
    if (f->err)
      return step_fail(f, f->err_step, f->err);
    if (res < 0)
      return step_fail(f, S_CLOSE, res);
    aw_buf *b = f->buf;
    f->buf = NULL;
    return done(f, aw_obj_val(b));
  }
}

static const aw__op_vt read_file_vt = {"read_file", rf_prep, rf_complete, fop_on_abort,
                                       fop_cleanup};

aw_promise *aw_fs_read_file(aw_loop *L, const char *path, const aw_io_opts *o) {
  CHECK_PATH(L, path);
  aw_promise *early;
  fop *f = fop_new(L, &read_file_vt, path, NULL, o, &early);
  if (!f)
    return early;
  f->stx = aw__calloc(sizeof *f->stx);
  f->step = S_OPEN;
  return start(f);
}

/* ---- write_file
 * ------------------------------------------------------------------------------------ */

/*
 * An atomic write's temporary file: "PATH.tmp.PID.R" beside the target, R 16
 * random hex digits, created with O_EXCL. Two writes at once (on any thread,
 * in any process) pick different names; a name that exists anyway (a file a
 * crash left, say) is never touched: the write picks another one (up to
 * TMP_TRIES). Only a temporary file this op created is removed.
 *
 * Why not O_TMPFILE + linkat: linkat cannot replace the target, so the
 * unnamed file still needs a unique name of its own before the rename, and
 * giving it one needs CAP_DAC_READ_SEARCH (AT_EMPTY_PATH) or /proc; the
 * O_EXCL name is as safe and works on every file system.
 */
#define TMP_TRIES 16
#define TMP_HEX 16

/* A test hook: the random part of the next temporary name (NULL: getrandom). */
uint64_t (*aw__write_file_tmp_rand)(void);

static uint64_t tmp_rand(void) {
  if (aw__write_file_tmp_rand)
    return aw__write_file_tmp_rand();
  uint64_t v;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
    return v;
  /* no entropy yet (early boot): unique within the process, and mixed with the time */
  static _Atomic uint64_t seq;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  v = atomic_fetch_add(&seq, 1) + ((uint64_t)ts.tv_sec << 32 ^ (uint64_t)ts.tv_nsec);
  v ^= v >> 30; /* splitmix64's finalizer */
  v *= 0xbf58476d1ce4e5b9u;
  v ^= v >> 27;
  v *= 0x94d049bb133111ebu;
  return v ^ (v >> 31);
}

/* Writes a fresh random part into the temporary name (its last TMP_HEX characters). */
static void tmp_rename(char *tmp) {
  char hex[TMP_HEX + 1];
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)tmp_rand());
  memcpy(tmp + strlen(tmp) - TMP_HEX, hex, TMP_HEX);
}

static void wf_prep(aw__op *op, struct io_uring_sqe *sqe) {
  fop *f = F(op);
  const char *target = f->atomic ? f->path2 : f->path;
  switch (f->step) {
  case S_OPEN:
    io_uring_prep_openat(sqe, AT_FDCWD, target,
                         O_WRONLY | O_CREAT | O_CLOEXEC | (f->atomic ? O_EXCL : O_TRUNC),
                         (mode_t)f->mode);
    break;
  case S_WRITE: {
    size_t left = f->buf->len - f->done;
    io_uring_prep_write(sqe, op->fd, f->buf->data + f->done,
                        left > (1u << 30) ? (1u << 30) : (unsigned)left, f->done);
    break;
  }
  case S_FSYNC:
    io_uring_prep_fsync(sqe, op->fd, 0);
    break;
  case S_CLOSE:
    io_uring_prep_close(sqe, op->fd);
    break;
  case S_RENAME:
    io_uring_prep_renameat(sqe, AT_FDCWD, f->path2, AT_FDCWD, f->path, 0);
    break;
  case S_DOPEN: {
    const char *dir = f->path2 + strlen(f->path2) + 1; /* the directory, after the temp name */
    io_uring_prep_openat(sqe, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    break;
  }
  case S_DSYNC:
    io_uring_prep_fsync(sqe, f->dir_fd, 0);
    break;
  case S_DCLOSE:
    io_uring_prep_close(sqe, f->dir_fd);
    break;
  }
}

static void wf_next(fop *f, int step) {
  if (f->atomic && step == aw__write_file_crash_at) {
    /* the test's simulated crash: stop dead, leave everything as it is */
    if (f->op.fd >= 0)
      close(f->op.fd);
    if (f->dir_fd >= 0)
      close(f->dir_fd);
    f->op.fd = f->dir_fd = -1;
    aw__op_settle(&f->op,
                  aw_throw(aw_err("Error", "write_file: simulated crash at step %d", step)));
    aw__op_finish(&f->op);
    return;
  }
  f->step = step;
  aw__op_submit(&f->op);
}

/* What a write_file error names: the file the failed step worked on. */
static const char *wf_what(fop *f, char *buf, size_t n) {
  if (!f->atomic)
    return path_text(f->path);
  if (f->step == S_RENAME) {
    snprintf(buf, n, "%s -> %s", f->path2, f->path);
    return buf;
  }
  return f->step < S_RENAME ? f->path2 : f->path; /* the temporary file, then the target */
}

/* A failure: close what is open, remove the temporary file this op made, then report. */
static void wf_fail(fop *f, int res) {
  if (!f->err)
    f->err = res;
  if (f->op.fd >= 0) {
    int fd = f->op.fd;
    f->op.fd = -1;
    aw__quiet_close(f->op.loop, fd);
  }
  if (f->dir_fd >= 0) {
    aw__quiet_close(f->op.loop, f->dir_fd);
    f->dir_fd = -1;
  }
  if (f->tmp_created && f->step <= S_RENAME)
    unlink(f->path2);
  char both[8192];
  aw__op_settle(&f->op, aw_throw(aw_obj_val(aw_error_errno(f->err, step_name(f->step),
                                                           wf_what(f, both, sizeof both)))));
  aw__op_finish(&f->op);
}

static void wf_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  fop *f = F(op);
  if (res == -EEXIST && f->step == S_OPEN && f->atomic && ++f->tmp_tries < TMP_TRIES) {
    tmp_rename((char *)f->path2); /* somebody else's file: never touch it, take another name */
    return wf_next(f, S_OPEN);
  }
  if (res < 0 && f->step != S_DSYNC && f->step != S_DCLOSE && f->step != S_DOPEN)
    return wf_fail(f, res);
  switch (f->step) {
  case S_OPEN:
    op->fd = res;
    f->owns_fd = true;
    f->tmp_created = f->atomic;
    if (f->buf->len == 0)
      return wf_next(f, f->atomic ? S_FSYNC : S_CLOSE);
    return wf_next(f, S_WRITE);
  case S_WRITE:
    if (res == 0)
      return wf_fail(f, -EIO);
    f->done += (size_t)res;
    if (f->done < f->buf->len)
      return wf_next(f, S_WRITE);
    return wf_next(f, f->atomic ? S_FSYNC : S_CLOSE);
  case S_FSYNC:
    return wf_next(f, S_CLOSE);
  case S_CLOSE:
    op->fd = -1;
    if (!f->atomic)
      return done(f, aw_undefined());
    return wf_next(f, S_RENAME);
  case S_RENAME:
    return wf_next(f, S_DOPEN);
  case S_DOPEN:
    if (res <
        0) /* the rename is done: the new content is in place; the directory sync is best effort */
      return done(f, aw_undefined());
    f->dir_fd = res;
    return wf_next(f, S_DSYNC);
  case S_DSYNC:
    return wf_next(f, S_DCLOSE);
  case S_DCLOSE:
    f->dir_fd = -1;
    return done(f, aw_undefined());
  }
}

static const aw__op_vt write_file_vt = {"write_file", wf_prep, wf_complete, fop_on_abort,
                                        fop_cleanup};

aw_promise *aw_fs_write_file(aw_loop *L, const char *path, aw_buf *data,
                             const aw_write_file_opts *o) {
  if (!path || !data || data->hdr.type != AW_T_BUFFER) {
    if (data && data->hdr.type == AW_T_BUFFER)
      aw_release(data);
    return aw__io_bad_args(L, "write_file: path and data (a buffer) must not be NULL");
  }
  bool atomic = o && o->atomic;
  char extra[8192] = "";
  size_t extra_len = 0;
  if (atomic) {
    /* the temporary file beside the target, then (after its NUL) the directory */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *d = dirname(dir);
    int n = snprintf(extra, sizeof extra, "%s.tmp.%d.%0*d", path, (int)getpid(), TMP_HEX, 0);
    if (n < 0 || (size_t)n >= sizeof extra / 2) {
      aw_release(data);
      return aw_promise_rejected(L, aw_obj_val(aw_error_errno(-ENAMETOOLONG, "write_file", path)));
    }
    tmp_rename(extra);
    snprintf(extra + n + 1, sizeof extra - (size_t)n - 1, "%s", d);
    extra_len = (size_t)n + 1 + strlen(d);
  }
  aw_promise *early;
  size_t n1 = strlen(path) + 1;
  fop *f = (fop *)aw__op_new(L, &write_file_vt, sizeof(fop) + n1 + extra_len + 1, o ? &o->io : NULL,
                             &early);
  if (!f) {
    aw_release(data);
    return early;
  }
  memcpy(f->path, path, n1);
  f->has_path = true;
  if (atomic) {
    memcpy(f->path + n1, extra, extra_len + 1);
    f->path2 = f->path + n1;
  }
  f->dir_fd = -1;
  f->atomic = atomic;
  f->buf = data;
  f->mode = o && o->mode ? o->mode : 0666;
  aw_promise *p = aw__op_promise(&f->op);
  wf_next(f, S_OPEN); /* through wf_next, so the crash hook sees every step */
  return p;
}
