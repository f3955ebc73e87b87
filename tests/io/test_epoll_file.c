/*
 * tests/io/test_epoll_file.c — io/epoll_file.c on its own: the epoll
 * backend's file operations, SQEs run on the worker pool's blocking class.
 *
 * io/epoll_file.c is compiled into this test under other names (meson.build:
 * -Daw__epf_submit=t_epf_submit, ...) and given a stand-in for the two things
 * it needs of io/epoll.c, its state slot and aw__ep_post_cqe, which here
 * queue the CQEs for the test. So the SQEs are the op layer's own (liburing's
 * io_uring_prep_*), and the results are compared with the kernel's
 * conventions directly; the whole backend is exercised by the io suites run
 * with AW_IO=epoll.
 *
 *  - Every file opcode: openat (O_CLOEXEC kept), write/writev at an offset,
 *    read/readv at an offset and at -1 (the file position), fsync and
 *    fdatasync, statx by path and by descriptor, renameat, unlinkat (files
 *    and AT_REMOVEDIR), mkdirat, splice file -> pipe, close; failures are
 *    -errno; an opcode it does not know is refused with -EINVAL.
 *  - Cached steps complete at submission, on the loop's thread: an open by
 *    the dentry cache (O_NONBLOCK taken off unless asked for; a FIFO opens
 *    without waiting, as on io_uring) and a whole positional read by the page
 *    cache; a short one is run again on a pool thread.
 *  - Cancel of an op that has not started: 0, and its CQE is -ECANCELED;
 *    a second cancel: -ENOENT; by descriptor: the count.
 *  - Cancel of a running op (a read of an empty FIFO): -EALREADY, and its CQE
 *    comes when it ends, with its own result.
 *  - aw_loop_free with ops in the loop's batch, queued and running: every op
 *    gets exactly one CQE (-ECANCELED, or the running one's result).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "aw.h"
#include "executor/internal.h"
#include "io/epoll.h"
#include "workers/pool.h"

#define SAFETY_MS 60000

/* ---- the stand-in for io/epoll.c ----------------------------------------------------------- */

struct aw__ep {
  pthread_mutex_t m;
  pthread_cond_t c;
  aw__cqe q[256];
  unsigned head, tail;
  struct aw__epf *st;
};

struct aw__epf **aw__ep_file_state(aw__ep *ep) {
  return &ep->st;
}

void aw__ep_post_cqe(aw__ep *ep, uint64_t data, int32_t res, uint32_t flags) {
  pthread_mutex_lock(&ep->m);
  if (ep->tail - ep->head < 256)
    ep->q[ep->tail++ % 256] = (aw__cqe){data, res, flags};
  pthread_cond_broadcast(&ep->c);
  pthread_mutex_unlock(&ep->m);
}

static unsigned cqes_posted(aw__ep *ep) {
  pthread_mutex_lock(&ep->m);
  unsigned n = ep->tail;
  pthread_mutex_unlock(&ep->m);
  return n;
}

/* The next CQE, after handing this turn's jobs to the pool; false if none came. */
static bool next_cqe(aw__ep *ep, aw_loop *L, aw__cqe *out) {
  if (L)
    aw__work_flush(L);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += SAFETY_MS / 1000;
  pthread_mutex_lock(&ep->m);
  while (ep->head == ep->tail)
    if (pthread_cond_timedwait(&ep->c, &ep->m, &until) != 0)
      break;
  bool got = ep->head != ep->tail;
  if (got)
    *out = ep->q[ep->head++ % 256];
  pthread_mutex_unlock(&ep->m);
  return got;
}

/* ---- fixtures ----------------------------------------------------------------------------- */

typedef struct fx {
  aw_pool *pool;
  aw_loop *L;
  aw__ep ep;
  char dir[64];
  int64_t alive;
} fx;

static fx *fx_new(unsigned blocking_threads) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->alive = aw_objects_alive();
  aw_pool_config pc = {.cpu_threads = 1, .blocking_threads = blocking_threads};
  f->pool = aw_pool_new(&pc);
  assert_non_null(f->pool);
  aw_loop_config cfg = {.no_io = true}; /* the backend is the stand-in */
  f->L = aw_loop_new(&cfg, NULL);
  assert_non_null(f->L);
  assert_int_equal(aw_loop_set_pool(f->L, f->pool), 0);
  pthread_mutex_init(&f->ep.m, NULL);
  pthread_cond_init(&f->ep.c, NULL);
  snprintf(f->dir, sizeof f->dir, "/tmp/aw-epf-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  return f;
}

static void rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (unlink(p) < 0)
      rm_tree(p);
  }
  closedir(d);
  rmdir(dir);
}

/* Frees the loop (if the test did not), the backend's file state and the pool; nothing is left. */
static void fx_free(fx *f) {
  if (f->L)
    assert_int_equal(aw_loop_free(f->L), 0);
  assert_int_equal(aw__epf_outstanding(&f->ep), 0);
  aw__epf_free(&f->ep);
  assert_null(f->ep.st);
  aw_pool_free(f->pool);
  assert_int_equal(aw_objects_alive(), f->alive);
  rm_tree(f->dir);
  pthread_mutex_destroy(&f->ep.m);
  pthread_cond_destroy(&f->ep.c);
  free(f);
}

/* Runs one SQE to its CQE; returns res. */
static int32_t run1(fx *f, struct io_uring_sqe *s, uint64_t data) {
  s->user_data = data;
  assert_int_equal(aw__epf_submit(&f->ep, f->L, s), 0);
  aw__cqe c;
  assert_true(next_cqe(&f->ep, f->L, &c));
  assert_int_equal(c.data, data);
  assert_int_equal(c.flags, 0);
  return c.res;
}

static struct io_uring_sqe blank(void) {
  struct io_uring_sqe s;
  memset(&s, 0, sizeof s);
  return s;
}

/* ---- every opcode -------------------------------------------------------------------------- */

static void test_epf_file_opcodes(void **state) {
  (void)state;
  fx *f = fx_new(2);
  char path[128], path2[128], sub[128];
  snprintf(path, sizeof path, "%s/a", f->dir);
  snprintf(path2, sizeof path2, "%s/b", f->dir);
  snprintf(sub, sizeof sub, "%s/d", f->dir);
  struct io_uring_sqe s = blank();

  io_uring_prep_openat(&s, AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  int fd = run1(f, &s, 1);
  assert_true(fd >= 0);
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  s = blank();
  io_uring_prep_openat(&s, AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL, 0640);
  assert_int_equal(run1(f, &s, 2), -EEXIST);

  s = blank();
  io_uring_prep_write(&s, fd, "hello world", 11, 0);
  assert_int_equal(run1(f, &s, 3), 11);
  struct iovec wv[2] = {{"AB", 2}, {"CD", 2}};
  s = blank();
  io_uring_prep_writev(&s, fd, wv, 2, 11);
  assert_int_equal(run1(f, &s, 4), 4);

  char buf[32] = {0};
  s = blank();
  io_uring_prep_read(&s, fd, buf, 5, 6);
  assert_int_equal(run1(f, &s, 5), 5);
  assert_memory_equal(buf, "world", 5);
  /* at -1: the file position, which moves */
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  s = blank();
  io_uring_prep_read(&s, fd, buf, 6, (uint64_t)-1);
  assert_int_equal(run1(f, &s, 6), 6);
  assert_memory_equal(buf, "hello ", 6);
  s = blank();
  io_uring_prep_read(&s, fd, buf, 5, (uint64_t)-1);
  assert_int_equal(run1(f, &s, 7), 5);
  assert_memory_equal(buf, "world", 5);
  char a[3] = {0}, b[8] = {0};
  struct iovec rv[2] = {{a, 3}, {b, 8}};
  s = blank();
  io_uring_prep_readv(&s, fd, rv, 2, 9);
  assert_int_equal(run1(f, &s, 8), 6); /* "ldABCD": 3 + 3, at the end of the file */
  assert_memory_equal(a, "ldA", 3);
  assert_memory_equal(b, "BCD", 3);

  s = blank();
  io_uring_prep_fsync(&s, fd, 0);
  assert_int_equal(run1(f, &s, 9), 0);
  s = blank();
  io_uring_prep_fsync(&s, fd, IORING_FSYNC_DATASYNC);
  assert_int_equal(run1(f, &s, 10), 0);

  struct statx stx;
  memset(&stx, 0, sizeof stx);
  s = blank();
  io_uring_prep_statx(&s, AT_FDCWD, path, 0, STATX_SIZE | STATX_MODE, &stx);
  assert_int_equal(run1(f, &s, 11), 0);
  assert_int_equal(stx.stx_size, 15);
  assert_true(S_ISREG(stx.stx_mode));
  memset(&stx, 0, sizeof stx);
  s = blank();
  io_uring_prep_statx(&s, fd, "", AT_EMPTY_PATH, STATX_SIZE, &stx);
  assert_int_equal(run1(f, &s, 12), 0);
  assert_int_equal(stx.stx_size, 15);

  /* splice: the file into a pipe, from an offset */
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  s = blank();
  io_uring_prep_splice(&s, fd, 6, p[1], -1, 5, SPLICE_F_MOVE);
  assert_int_equal(run1(f, &s, 13), 5);
  assert_int_equal(read(p[0], buf, sizeof buf), 5);
  assert_memory_equal(buf, "world", 5);
  close(p[0]);
  close(p[1]);

  s = blank();
  io_uring_prep_close(&s, fd);
  assert_int_equal(run1(f, &s, 14), 0);
  s = blank();
  io_uring_prep_read(&s, fd, buf, 1, 0);
  assert_int_equal(run1(f, &s, 15), -EBADF);

  s = blank();
  io_uring_prep_renameat(&s, AT_FDCWD, path, AT_FDCWD, path2, 0);
  assert_int_equal(run1(f, &s, 16), 0);
  assert_int_equal(access(path2, F_OK), 0);
  s = blank();
  io_uring_prep_renameat(&s, AT_FDCWD, path, AT_FDCWD, path2, 0);
  assert_int_equal(run1(f, &s, 17), -ENOENT);

  s = blank();
  io_uring_prep_mkdirat(&s, AT_FDCWD, sub, 0750);
  assert_int_equal(run1(f, &s, 18), 0);
  s = blank();
  io_uring_prep_mkdirat(&s, AT_FDCWD, sub, 0750);
  assert_int_equal(run1(f, &s, 19), -EEXIST);
  s = blank();
  io_uring_prep_unlinkat(&s, AT_FDCWD, sub, 0);
  assert_int_equal(run1(f, &s, 20), -EISDIR);
  s = blank();
  io_uring_prep_unlinkat(&s, AT_FDCWD, sub, AT_REMOVEDIR);
  assert_int_equal(run1(f, &s, 21), 0);
  s = blank();
  io_uring_prep_unlinkat(&s, AT_FDCWD, path2, 0);
  assert_int_equal(run1(f, &s, 22), 0);
  s = blank();
  io_uring_prep_openat(&s, AT_FDCWD, path2, O_RDONLY, 0);
  assert_int_equal(run1(f, &s, 23), -ENOENT);

  /* not a file operation: refused, and no CQE comes */
  s = blank();
  io_uring_prep_timeout(&s, NULL, 0, 0);
  assert_int_equal(aw__epf_submit(&f->ep, f->L, &s), -EINVAL);
  assert_int_equal(cqes_posted(&f->ep), 23);
  fx_free(f);
}

/* ---- the attempts made at submission (io_uring's non-blocking first try) ------------------- */

static void test_epf_cached_steps_complete_at_submit(void **state) {
  (void)state;
  fx *f = fx_new(1);
  char path[128], fifo[128];
  snprintf(path, sizeof path, "%s/c", f->dir);
  snprintf(fifo, sizeof fifo, "%s/p", f->dir);
  int w = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  assert_true(w >= 0);
  assert_int_equal(write(w, "cached bytes", 12), 12);
  close(w);
  /* open (the path is in the dentry cache) and a positional read (in the page cache): their
   * CQEs are there before any job went to the pool */
  struct io_uring_sqe s = blank();
  io_uring_prep_openat(&s, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
  s.user_data = 1;
  assert_int_equal(aw__epf_submit(&f->ep, f->L, &s), 0);
  assert_int_equal(aw__epf_outstanding(&f->ep), 0);
  aw__cqe c;
  assert_true(next_cqe(&f->ep, NULL, &c));
  int fd = c.res;
  assert_true(fd >= 0);
  assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0); /* not asked for: taken off */
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  char buf[32] = {0};
  s = blank();
  io_uring_prep_read(&s, fd, buf, 5, 7);
  s.user_data = 2;
  assert_int_equal(aw__epf_submit(&f->ep, f->L, &s), 0);
  assert_int_equal(aw__epf_outstanding(&f->ep), 0);
  assert_true(next_cqe(&f->ep, NULL, &c));
  assert_int_equal(c.res, 5);
  assert_memory_equal(buf, "bytes", 5);
  /* short (the end of the file, or only part cached: it cannot tell): run again whole */
  memset(buf, 0, sizeof buf);
  s = blank();
  io_uring_prep_read(&s, fd, buf, 6, 7);
  assert_int_equal(run1(f, &s, 5), 5);
  assert_memory_equal(buf, "bytes", 5);
  close(fd);
  /* asked for O_NONBLOCK: kept; a FIFO opens for reading without waiting, as on io_uring */
  assert_int_equal(mkfifo(fifo, 0600), 0);
  s = blank();
  io_uring_prep_openat(&s, AT_FDCWD, fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
  fd = run1(f, &s, 3);
  assert_true(fd >= 0);
  assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
  close(fd);
  /* O_CREAT and O_TRUNC change the file system: always a pool thread's */
  s = blank();
  io_uring_prep_openat(&s, AT_FDCWD, path, O_WRONLY | O_TRUNC | O_CLOEXEC, 0);
  fd = run1(f, &s, 4);
  assert_true(fd >= 0);
  close(fd);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, 0);
  fx_free(f);
}

/* ---- cancel ---------------------------------------------------------------------------------- */

/* Whether some thread of this process is in read(2) of fd (it started and blocks there). */
static bool some_thread_reads(int fd) {
  DIR *d = opendir("/proc/self/task");
  if (!d)
    return false;
  bool found = false;
  struct dirent *e;
  while (!found && (e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char p[300], line[256];
    snprintf(p, sizeof p, "/proc/self/task/%s/syscall", e->d_name);
    FILE *fp = fopen(p, "r");
    if (!fp)
      continue;
    long nr;
    unsigned long arg0;
    if (fgets(line, sizeof line, fp) && sscanf(line, "%ld %lx", &nr, &arg0) == 2)
      found = nr == SYS_read && arg0 == (unsigned long)fd;
    fclose(fp);
  }
  closedir(d);
  return found;
}

static bool wait_reader(int fd) {
  for (int i = 0; i < SAFETY_MS; i++) {
    if (some_thread_reads(fd))
      return true;
    usleep(1000);
  }
  return false;
}

/* A FIFO whose read end blocks until the test writes (the write end stays open). */
static void fifo_open(fx *f, int *rfd, int *wfd) {
  char p[128];
  snprintf(p, sizeof p, "%s/fifo", f->dir);
  assert_int_equal(mkfifo(p, 0600), 0);
  *rfd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  assert_true(*rfd >= 0);
  *wfd = open(p, O_WRONLY | O_CLOEXEC);
  assert_true(*wfd >= 0);
  assert_int_equal(fcntl(*rfd, F_SETFL, 0), 0);
}

static void test_epf_cancel_before_start(void **state) {
  (void)state;
  fx *f = fx_new(1);
  char buf[8];
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  struct io_uring_sqe s = blank();
  io_uring_prep_read(&s, p[0], buf, sizeof buf, 0);
  s.user_data = 100;
  assert_int_equal(aw__epf_submit(&f->ep, f->L, &s), 0);
  s.user_data = 101;
  assert_int_equal(aw__epf_submit(&f->ep, f->L, &s), 0);
  s.user_data = 102;
  assert_int_equal(aw__epf_submit(&f->ep, f->L, &s), 0);
  assert_int_equal(aw__epf_outstanding(&f->ep), 3);
  /* not yet handed to the pool: removed */
  assert_int_equal(aw__epf_cancel(&f->ep, 101), 0);
  assert_int_equal(aw__epf_cancel(&f->ep, 101), -ENOENT);
  assert_int_equal(aw__epf_cancel(&f->ep, 999), -ENOENT);
  aw__cqe c;
  assert_true(next_cqe(&f->ep, NULL, &c));
  assert_int_equal(c.data, 101);
  assert_int_equal(c.res, -ECANCELED);
  /* by descriptor: both others; then none is left */
  assert_int_equal(aw__epf_cancel_fd(&f->ep, p[1], false), 0);
  assert_int_equal(aw__epf_cancel_fd(&f->ep, p[0], false), 2);
  assert_int_equal(aw__epf_cancel_fd(&f->ep, p[0], false), 0);
  assert_int_equal(aw__epf_cancel_fd(&f->ep, -1, true), 0);
  assert_true(next_cqe(&f->ep, NULL, &c));
  assert_int_equal(c.res, -ECANCELED);
  assert_true(next_cqe(&f->ep, NULL, &c));
  assert_int_equal(c.res, -ECANCELED);
  assert_int_equal(aw__epf_outstanding(&f->ep), 0);
  assert_int_equal(cqes_posted(&f->ep), 3);
  close(p[0]);
  close(p[1]);
  fx_free(f);
}

static void test_epf_cancel_running(void **state) {
  (void)state;
  fx *f = fx_new(1);
  int rfd, wfd;
  fifo_open(f, &rfd, &wfd);
  char buf[8] = {0};
  struct io_uring_sqe s = blank();
  io_uring_prep_read(&s, rfd, buf, sizeof buf, (uint64_t)-1);
  s.user_data = 7;
  assert_int_equal(aw__epf_submit(&f->ep, f->L, &s), 0);
  /* one more behind it, in the pool's queue: removed by descriptor, the running one counted */
  struct io_uring_sqe s2 = s;
  s2.user_data = 8;
  assert_int_equal(aw__epf_submit(&f->ep, f->L, &s2), 0);
  aw__work_flush(f->L);
  if (!wait_reader(rfd)) {
    print_message("cannot see the pool thread in read(2) (/proc/self/task/*/syscall)\n");
    assert_int_equal(write(wfd, "x", 1), 1);
    assert_int_equal(write(wfd, "y", 1), 1);
  } else {
    assert_int_equal(aw__epf_cancel(&f->ep, 7), -EALREADY);
    assert_int_equal(aw__epf_cancel_fd(&f->ep, rfd, false), 2);
    assert_int_equal(aw__epf_outstanding(&f->ep), 1);
    aw__cqe c;
    assert_true(next_cqe(&f->ep, f->L, &c));
    assert_int_equal(c.data, 8);
    assert_int_equal(c.res, -ECANCELED);
    assert_int_equal(cqes_posted(&f->ep), 1); /* the running one's comes when it ends */
    assert_int_equal(write(wfd, "x", 1), 1);
  }
  aw__cqe c;
  assert_true(next_cqe(&f->ep, f->L, &c));
  assert_int_equal(c.data, 7);
  assert_int_equal(c.res, 1);
  assert_int_equal(buf[0], 'x');
  close(rfd);
  close(wfd);
  fx_free(f);
}

/* ---- loop free ---------------------------------------------------------------------------- */

typedef struct writer {
  fx *f;
  int fd;
  unsigned after; /* CQEs posted first */
} writer;

/* Writes a byte to the FIFO once aw_loop_free has removed the ops that did not run. */
static void *writer_main(void *arg) {
  writer *w = arg;
  for (int i = 0; i < SAFETY_MS && cqes_posted(&w->f->ep) < w->after; i++)
    usleep(1000);
  ssize_t n = write(w->fd, "z", 1);
  (void)n;
  return NULL;
}

static void test_epf_loop_free_ends_every_op(void **state) {
  (void)state;
  fx *f = fx_new(1);
  int rfd, wfd;
  fifo_open(f, &rfd, &wfd);
  char buf[4][8];
  struct io_uring_sqe s = blank();
  io_uring_prep_read(&s, rfd, buf[0], 8, (uint64_t)-1);
  s.user_data = 1;
  assert_int_equal(aw__epf_submit(&f->ep, f->L, &s), 0);
  for (int i = 2; i <= 3; i++) { /* queued behind the one thread */
    s = blank();
    io_uring_prep_read(&s, rfd, buf[i - 1], 8, (uint64_t)-1);
    s.user_data = (uint64_t)i;
    assert_int_equal(aw__epf_submit(&f->ep, f->L, &s), 0);
  }
  aw__work_flush(f->L);
  bool seen = wait_reader(rfd);
  s = blank();
  io_uring_prep_read(&s, rfd, buf[3], 8, (uint64_t)-1);
  s.user_data = 4; /* in the loop's batch */
  assert_int_equal(aw__epf_submit(&f->ep, f->L, &s), 0);
  pthread_t t;
  writer w = {f, wfd, 3};
  assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
  assert_int_equal(aw_loop_free(f->L), 0);
  f->L = NULL;
  pthread_join(t, NULL);
  assert_int_equal(aw__epf_outstanding(&f->ep), 0);
  assert_int_equal(cqes_posted(&f->ep), 4);
  int got[5] = {0};
  aw__cqe c;
  for (int i = 0; i < 4; i++) {
    assert_true(next_cqe(&f->ep, NULL, &c));
    assert_true(c.data >= 1 && c.data <= 4);
    got[c.data] = c.res;
  }
  if (seen) {
    assert_int_equal(got[1], 1);
    assert_int_equal(got[2], -ECANCELED);
    assert_int_equal(got[3], -ECANCELED);
  }
  assert_int_equal(got[4], -ECANCELED);
  close(rfd);
  close(wfd);
  fx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_epf_file_opcodes),
      cmocka_unit_test(test_epf_cached_steps_complete_at_submit),
      cmocka_unit_test(test_epf_cancel_before_start),
      cmocka_unit_test(test_epf_cancel_running),
      cmocka_unit_test(test_epf_loop_free_ends_every_op),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
