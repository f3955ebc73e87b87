/* tests/io/io_work.c — see io_work.h. */
#define _GNU_SOURCE
#include "io_work.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      printf("%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                                 \
      fflush(stdout);                                                                              \
      return -1;                                                                                   \
    }                                                                                              \
  } while (0)

/* CHECK for a call that returns 0 or -1 (having printed why). */
#define TRY(call) CHECK((call) == 0)

static aw_val ignore(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v, (void)arg;
  return aw_undefined();
}

int iow_wait(aw_loop *L, aw_promise *p, aw_val *out) {
  *out = aw_undefined();
  CHECK(p != NULL);
  aw_release(aw_promise_catch(p, ignore, NULL));
  while (aw_promise_state(p) == AW_PENDING) {
    int r = aw_loop_run_once(L, true);
    if (r < 0 || (r == 0 && aw_promise_state(p) == AW_PENDING)) {
      printf("%s:%d: the loop %s with the promise pending\n", __FILE__, __LINE__,
             r < 0 ? "failed" : "went idle");
      aw_release(p);
      return -1;
    }
  }
  aw_val v = aw_retain_val(aw_promise_result(p));
  if (aw_promise_state(p) == AW_REJECTED)
    v = aw_throw(v);
  aw_release(p);
  *out = v;
  return 0;
}

/* Prints a rejection (what came instead of a value) and releases it. */
static void print_unexpected(const char *what, aw_val v) {
  printf("%s: ", what);
  if (aw_is_thrown(v))
    aw_error_print(v, stdout);
  else
    printf("a value of tag %d\n", (int)aw_tag_of(v));
  fflush(stdout);
  aw_release_val(v);
}

/* Waits for p and requires it to fulfil; *out gets the value (yours). */
static int wait_ok(aw_loop *L, aw_promise *p, const char *what, aw_val *out) {
  TRY(iow_wait(L, p, out));
  if (aw_is_thrown(*out)) {
    print_unexpected(what, *out);
    *out = aw_undefined();
    return -1;
  }
  return 0;
}

/* Waits for p, requires it to fulfil, and drops the value. */
static int wait_done(aw_loop *L, aw_promise *p, const char *what) {
  aw_val v;
  TRY(wait_ok(L, p, what, &v));
  aw_release_val(v);
  return 0;
}

/* Waits for p and requires a rejection with errnum. */
static int wait_errno(aw_loop *L, aw_promise *p, int errnum, const char *what) {
  aw_val v;
  TRY(iow_wait(L, p, &v));
  aw_error *e = aw_is_thrown(v) ? aw_as_error(v) : NULL;
  int got = e ? e->errnum : 0;
  if (got != errnum) {
    printf("%s: expected errnum %d, got %d\n", what, errnum, got);
    print_unexpected(what, v);
    return -1;
  }
  aw_release_val(v);
  return 0;
}

/* Waits for p and requires an int (a descriptor, a byte count) >= 0. */
static int wait_int(aw_loop *L, aw_promise *p, const char *what, int64_t *out) {
  aw_val v;
  TRY(wait_ok(L, p, what, &v));
  CHECK(aw_tag_of(v) == AW_TAG_INT && v.u.i >= 0);
  *out = v.u.i;
  return 0;
}

/* Byte i of the pattern of stream `seed`: not periodic at any power of two. */
static uint8_t pattern(size_t i, unsigned seed) {
  return (uint8_t)((i * 131u + (i >> 9) * 7u + seed * 17u) ^ (i >> 13));
}

static aw_buf *pattern_buf(size_t size, unsigned seed) {
  aw_buf *b = aw_buf_new(size ? size : 1);
  if (!b)
    return NULL;
  for (size_t i = 0; i < size; i++)
    b->data[i] = pattern(i, seed);
  b->len = size;
  return b;
}

/* A buffer value holds exactly `size` bytes of pattern `seed` (the value is released). */
static int check_pattern(aw_val v, size_t size, unsigned seed) {
  CHECK(aw_is_type(v, AW_T_BUFFER));
  aw_buf *b = (aw_buf *)v.u.o;
  size_t len = b->len, bad = len;
  for (size_t i = 0; i < len && i < size && bad == len; i++)
    if (b->data[i] != pattern(i, seed))
      bad = i;
  aw_release_val(v);
  if (len != size || bad != len)
    printf("content: %zu bytes (expected %zu), first difference at %zu\n", len, size, bad);
  CHECK(len == size && bad == len);
  return 0;
}

/* ---- files --------------------------------------------------------------------------------- */

int iow_files(aw_loop *L, const char *dir, size_t size) {
  char a[512], b[512], sub[512];
  snprintf(a, sizeof a, "%s/a.bin", dir);
  snprintf(b, sizeof b, "%s/b.bin", dir);
  snprintf(sub, sizeof sub, "%s/sub", dir);
  aw_val v;

  TRY(wait_done(L, aw_fs_write_file(L, a, pattern_buf(size, 1), NULL), "write_file"));
  TRY(wait_ok(L, aw_fs_read_file(L, a, NULL), "read_file", &v));
  TRY(check_pattern(v, size, 1));
  /* atomic: a temporary file, fsync, rename over it, fsync of the directory */
  aw_write_file_opts atomic = {.atomic = true};
  TRY(wait_done(L, aw_fs_write_file(L, a, pattern_buf(size, 2), &atomic), "write_file atomic"));
  TRY(wait_ok(L, aw_fs_read_file(L, a, NULL), "read_file after atomic", &v));
  TRY(check_pattern(v, size, 2));

  TRY(wait_ok(L, aw_fs_stat(L, a, 0, NULL), "stat", &v));
  const struct statx *st = aw_fs_statx(v);
  bool stat_ok = st && st->stx_size == size && S_ISREG(st->stx_mode);
  aw_release_val(v);
  CHECK(stat_ok);

  /* open, fstat, read at an offset, fsync, close: the file ops one by one */
  int64_t fd;
  TRY(wait_int(L, aw_fs_open(L, a, O_RDWR | O_CLOEXEC, 0, NULL), "open", &fd));
  TRY(wait_ok(L, aw_fs_fstat(L, (int)fd, NULL), "fstat", &v));
  st = aw_fs_statx(v);
  stat_ok = st && st->stx_size == size;
  aw_release_val(v);
  CHECK(stat_ok);
  size_t off = size / 3;
  TRY(wait_ok(L, aw_fs_read(L, (int)fd, 100, (int64_t)off, NULL), "read at offset", &v));
  CHECK(aw_is_type(v, AW_T_BUFFER));
  aw_buf *rb = (aw_buf *)v.u.o;
  bool read_ok = rb->len == (size - off < 100 ? size - off : 100);
  for (size_t i = 0; read_ok && i < rb->len; i++)
    read_ok = rb->data[i] == pattern(off + i, 2);
  aw_release_val(v);
  CHECK(read_ok);
  TRY(wait_done(L, aw_fs_fsync(L, (int)fd, false, NULL), "fsync"));
  TRY(wait_done(L, aw_fs_close(L, (int)fd, NULL), "close"));

  TRY(wait_done(L, aw_fs_rename(L, a, b, NULL), "rename"));
  TRY(wait_errno(L, aw_fs_stat(L, a, 0, NULL), ENOENT, "stat of the old name"));
  TRY(wait_ok(L, aw_fs_read_file(L, b, NULL), "read_file of the new name", &v));
  TRY(check_pattern(v, size, 2));
  TRY(wait_done(L, aw_fs_unlink(L, b, NULL), "unlink"));
  TRY(wait_errno(L, aw_fs_stat(L, b, 0, NULL), ENOENT, "stat after unlink"));
  TRY(wait_errno(L, aw_fs_read_file(L, b, NULL), ENOENT, "read_file after unlink"));

  TRY(wait_done(L, aw_fs_mkdir(L, sub, 0700, NULL), "mkdir"));
  TRY(wait_ok(L, aw_fs_stat(L, sub, 0, NULL), "stat of the directory", &v));
  st = aw_fs_statx(v);
  stat_ok = st && S_ISDIR(st->stx_mode);
  aw_release_val(v);
  CHECK(stat_ok);
  TRY(wait_done(L, aw_fs_rmdir(L, sub, NULL), "rmdir"));
  TRY(wait_errno(L, aw_fs_stat(L, sub, 0, NULL), ENOENT, "stat after rmdir"));
  return 0;
}

/* ---- a TCP echo ---------------------------------------------------------------------------- */

/* Appends a chunk (released) to *acc at *len; -1 past cap. */
static int take_chunk(aw_val v, uint8_t *acc, size_t *len, size_t cap, bool *eof) {
  CHECK(aw_is_type(v, AW_T_BUFFER));
  aw_buf *c = (aw_buf *)v.u.o;
  size_t n = c->len;
  bool fits = *len + n <= cap;
  if (fits)
    memcpy(acc + *len, c->data, n);
  aw_release_val(v);
  CHECK(fits);
  *len += n;
  *eof = n == 0;
  return 0;
}

static int check_bytes(const uint8_t *p, size_t len, size_t size, unsigned seed) {
  size_t bad = len;
  for (size_t i = 0; i < len && bad == len; i++)
    if (p[i] != pattern(i, seed))
      bad = i;
  if (len != size || bad != len)
    printf("echo: %zu bytes (expected %zu), first difference at %zu\n", len, size, bad);
  CHECK(len == size && bad == len);
  return 0;
}

/*
 * The echo's steps, in an order that cannot wait for ever on one loop: a send is started and
 * left to run while the other side takes the bytes; the sender shuts its side down only once
 * its send resolved, which it must have done when every byte arrived.
 */
static int echo(aw_loop *L, int client, int server, size_t size, uint8_t *acc) {
  aw_promise *send = aw_sock_send(L, client, pattern_buf(size, 3), NULL);
  CHECK(send != NULL);
  aw_release(aw_promise_catch(send, ignore, NULL));
  aw_receiver *r = aw_receiver_new(L, server);
  if (!r) {
    printf("aw_receiver_new: %s\n", strerror(errno));
    aw_release(send);
  }
  CHECK(r != NULL);
  size_t got = 0;
  bool eof = false, shut = false;
  int rc = 0;
  aw_val v;
  while (rc == 0 && !eof) {
    if (got == size && !shut) {
      rc = wait_done(L, aw_retain(send), "send to the server");
      if (rc == 0)
        rc = wait_done(L, aw_sock_shutdown(L, client, SHUT_WR, NULL), "client shutdown");
      shut = true;
      continue;
    }
    rc = wait_ok(L, aw_receiver_next(r, NULL), "receiver next", &v);
    if (rc == 0)
      rc = take_chunk(v, acc, &got, size, &eof);
    if (rc == 0 && eof && !shut) {
      printf("echo: end of stream after %zu bytes, before the client shut down\n", got);
      rc = -1;
    }
  }
  aw_receiver_free(r);
  aw_release(send);
  TRY(rc);
  TRY(check_bytes(acc, got, size, 3));

  /* and back: the server sends what came, the client takes it with plain recvs */
  aw_buf *back = aw_buf_from(acc, got);
  CHECK(back != NULL);
  memset(acc, 0, size);
  send = aw_sock_send(L, server, back, NULL);
  CHECK(send != NULL);
  aw_release(aw_promise_catch(send, ignore, NULL));
  got = 0;
  eof = shut = false;
  while (rc == 0 && !eof) {
    if (got == size && !shut) {
      rc = wait_done(L, aw_retain(send), "send back to the client");
      if (rc == 0)
        rc = wait_done(L, aw_sock_shutdown(L, server, SHUT_WR, NULL), "server shutdown");
      shut = true;
      continue;
    }
    rc = wait_ok(L, aw_sock_recv(L, client, AW_RECV_CHUNK, NULL), "client recv", &v);
    if (rc == 0)
      rc = take_chunk(v, acc, &got, size, &eof);
    if (rc == 0 && eof && !shut) {
      printf("echo back: end of stream after %zu bytes, before the server shut down\n", got);
      rc = -1;
    }
  }
  aw_release(send);
  TRY(rc);
  TRY(check_bytes(acc, got, size, 3));
  return 0;
}

int iow_tcp_echo(aw_loop *L, size_t size) {
  aw_val listener;
  TRY(wait_ok(L, aw_tcp_listen(L, "127.0.0.1", 0, NULL), "listen", &listener));
  int port = aw_listener_port(listener);
  if (port <= 0)
    aw_release_val(listener);
  CHECK(port > 0);
  aw_promise *acc_p = aw_tcp_accept(listener, NULL);
  int64_t client = -1, server = -1;
  int rc = wait_int(L, aw_tcp_connect(L, "127.0.0.1", port, NULL), "connect", &client);
  if (rc == 0)
    rc = wait_int(L, acc_p, "accept", &server);
  else
    aw_release(acc_p);
  aw_listener_close(listener);
  aw_release_val(listener);
  TRY(rc);
  uint8_t *acc = malloc(size ? size : 1);
  CHECK(acc != NULL);
  rc = echo(L, (int)client, (int)server, size, acc);
  free(acc);
  TRY(wait_done(L, aw_sock_close(L, (int)client, NULL), "close client"));
  TRY(wait_done(L, aw_sock_close(L, (int)server, NULL), "close server"));
  return rc;
}

/* ---- the abort of a pending recv ----------------------------------------------------------- */

struct settlements {
  int fulfilled, rejected;
};
static aw_val count_fulfilled(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v;
  ((struct settlements *)arg)->fulfilled++;
  return aw_undefined();
}
static aw_val count_rejected(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v;
  ((struct settlements *)arg)->rejected++;
  return aw_undefined();
}

int iow_abort_recv(aw_loop *L) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  aw_signal *s = aw_signal_new(L);
  CHECK(s != NULL);
  aw_io_opts o = {.signal = s};
  aw_promise *p = aw_sock_recv(L, sv[0], 100, &o);
  CHECK(p != NULL);
  struct settlements n = {0};
  aw_release(aw_promise_then(p, count_fulfilled, count_rejected, &n));
  /* two turns without sleeping: the recv reaches the backend and finds nothing to read */
  CHECK(aw_loop_run_once(L, false) >= 0);
  CHECK(aw_loop_run_once(L, false) >= 0);
  bool pending = aw_promise_state(p) == AW_PENDING;
  aw_val reason = aw_err("AbortError", "io_work: the recv is aborted");
  CHECK(aw_signal_abort(s, aw_retain_val(reason)) == 0);
  /* to idle: the cancel's completion and every handler have run */
  int run = aw_loop_run(L);
  bool same_reason = aw_promise_state(p) == AW_REJECTED && aw_promise_result(p).u.o == reason.u.o;
  aw_release(p);
  aw_release_val(reason);
  aw_release(s);
  if (!pending || run != 0 || n.fulfilled != 0 || n.rejected != 1 || !same_reason)
    printf("abort: pending before %d, run %d, fulfilled %d, rejected %d, same reason %d\n", pending,
           run, n.fulfilled, n.rejected, same_reason);
  CHECK(pending && run == 0 && n.fulfilled == 0 && n.rejected == 1 && same_reason);

  /* the aborted recv took no byte: the next one gets what the peer sends now */
  CHECK(write(sv[1], "z", 1) == 1);
  aw_val v;
  TRY(wait_ok(L, aw_sock_recv(L, sv[0], 100, NULL), "recv after the abort", &v));
  CHECK(aw_is_type(v, AW_T_BUFFER));
  bool one_z = ((aw_buf *)v.u.o)->len == 1 && ((aw_buf *)v.u.o)->data[0] == 'z';
  aw_release_val(v);
  CHECK(one_z);
  close(sv[1]);
  TRY(wait_done(L, aw_sock_close(L, sv[0], NULL), "close"));
  return 0;
}

/* ---- awsum --------------------------------------------------------------------------------- */

static int write_all(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CHECK(fd >= 0);
  ssize_t w = len ? write(fd, data, len) : 0;
  close(fd);
  CHECK(w == (ssize_t)len);
  return 0;
}

int iow_awsum(const char *awsum, const char *dir) {
  /* FIPS 180-2's vectors: "abc", the empty message, one million 'a' */
  static const char *const sums[3] = {
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
  };
  char path[3][512];
  snprintf(path[0], sizeof path[0], "%s/abc", dir);
  snprintf(path[1], sizeof path[1], "%s/empty", dir);
  snprintf(path[2], sizeof path[2], "%s/million", dir);
  char *million = malloc(1000000);
  CHECK(million != NULL);
  memset(million, 'a', 1000000);
  int rc = write_all(path[2], million, 1000000);
  free(million);
  TRY(rc);
  TRY(write_all(path[0], "abc", 3));
  TRY(write_all(path[1], "", 0));

  char want[4096];
  snprintf(want, sizeof want, "%s  %s\n%s  %s\n%s  %s\n", sums[0], path[0], sums[1], path[1],
           sums[2], path[2]);
  int pfd[2];
  CHECK(pipe2(pfd, O_CLOEXEC) == 0);
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    dup2(pfd[1], 1);
    execl(awsum, "awsum", path[0], path[1], path[2], (char *)NULL);
    fprintf(stderr, "exec %s: %s\n", awsum, strerror(errno));
    _exit(127);
  }
  close(pfd[1]);
  char out[4096];
  size_t len = 0;
  ssize_t r;
  while (len < sizeof out - 1 &&
         ((r = read(pfd[0], out + len, sizeof out - 1 - len)) > 0 || (r < 0 && errno == EINTR)))
    len += r > 0 ? (size_t)r : 0;
  out[len] = 0;
  close(pfd[0]);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  for (int i = 0; i < 3; i++)
    unlink(path[i]);
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && strcmp(out, want) == 0;
  if (!ok)
    printf("awsum exited %d (status %#x) and printed:\n%s--- expected:\n%s", WEXITSTATUS(status),
           status, out, want);
  CHECK(ok);
  return 0;
}
