/*
 * tests/io/test_send.c — the send side (aw/io.h, "sending"): aw_sock_sendv,
 * aw_sock_sendfile, aw_sock_send_zc, aw_buf_append, and SIGPIPE on every
 * socket write path.
 *
 * The SIGPIPE tests run in a fresh process (this executable again, with
 * --sigpipe-child MODE): the process's SIGPIPE policy is set once, by its
 * first loop, so only a process that has made no loop yet shows it. The
 * child sets SIGPIPE to SIG_DFL (death), makes a loop, and drives each
 * write path at a peer that closed and at a peer that reset, until it
 * rejects, and once more with a long send under way when the peer resets;
 * it exits 0 only if every path rejected with EPIPE or ECONNRESET.
 * A SIGPIPE would kill it, which the parent sees.
 *
 * Loopback only; ports from port 0. Callbacks never assert: tests drive the
 * loop with wait_for() and assert afterwards.
 */
#include "io_test.h"

#include "io/send.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers (no cmocka: the SIGPIPE child uses them too) ---------------------------------- */

/* Runs L until p settles; its outcome (a reference, thrown if it rejected); p consumed. */
static aw_val settle(aw_loop *L, aw_promise *p) {
  if (!p)
    return aw_throw(aw_err("Error", "no promise"));
  aw_release(aw_promise_catch(p, io_test_ignore, NULL));
  for (int i = 0; aw_promise_state(p) == AW_PENDING && i < 1000000; i++)
    if (aw_loop_run_once(L, true) <= 0 && aw_promise_state(p) == AW_PENDING)
      break;
  if (aw_promise_state(p) == AW_PENDING) {
    aw_release(p);
    return aw_throw(aw_err("Error", "still pending"));
  }
  aw_val v = aw_retain_val(aw_promise_result(p));
  if (aw_promise_state(p) == AW_REJECTED)
    v = aw_throw(v);
  aw_release(p);
  return v;
}

/* The errnum of a rejection (0 if it fulfilled or is no errno error); releases v. */
static int errnum_of(aw_val v) {
  bool thrown = aw_is_thrown(v);
  aw_error *e = aw_as_error(v);
  int n = thrown && e ? e->errnum : 0;
  aw_release_val(v);
  return n;
}

/* A connected TCP pair over 127.0.0.1: *a from connect, *b from accept. 0 or -1. */
static int tcp_pair_of(aw_loop *L, int *a, int *b) {
  aw_val l = settle(L, aw_tcp_listen(L, "127.0.0.1", 0, NULL));
  if (aw_is_thrown(l)) {
    aw_release_val(l);
    return -1;
  }
  aw_promise *pa = aw_tcp_accept(l, NULL);
  aw_val c = settle(L, aw_tcp_connect(L, "127.0.0.1", aw_listener_port(l), NULL));
  aw_val s = settle(L, pa);
  aw_listener_close(l);
  aw_release_val(l);
  if (aw_is_thrown(c) || aw_is_thrown(s)) {
    aw_release_val(c);
    aw_release_val(s);
    return -1;
  }
  *a = (int)c.u.i;
  *b = (int)s.u.i;
  return 0;
}

/* Small socket buffers, so that a long send surely waits for the peer whatever the sysctls say. */
static void small_buffers(int sender, int receiver) {
  int n = 64 * 1024;
  setsockopt(sender, SOL_SOCKET, SO_SNDBUF, &n, sizeof n);
  setsockopt(receiver, SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
}

static void reset_close(int fd) {
  struct linger lg = {1, 0}; /* close sends an RST */
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

/* A temporary file of n pattern bytes (byte i is pattern_at(i)), open for reading. */
static uint8_t pattern_at(uint64_t i) { return (uint8_t)((i * 2654435761u) >> 13); }

static int pattern_file(size_t n) {
  char path[] = "/tmp/aw-send-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0)
    return -1;
  unlink(path);
  uint8_t chunk[65536];
  for (size_t done = 0; done < n;) {
    size_t k = n - done < sizeof chunk ? n - done : sizeof chunk;
    for (size_t i = 0; i < k; i++)
      chunk[i] = pattern_at(done + i);
    if (write(fd, chunk, k) != (ssize_t)k) {
      close(fd);
      return -1;
    }
    done += k;
  }
  return fd;
}

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (!d)
    return -1;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

/* ---- the write paths, for the SIGPIPE child ------------------------------------------------ */

enum { P_FS_WRITE, P_FS_WRITEV, P_SEND, P_SENDV, P_SENDFILE, P_SPLICE, P_SEND_ZC, P_COUNT };
static const char *path_names[P_COUNT] = {"aw_fs_write",      "aw_fs_writev",
                                          "aw_sock_send",     "aw_sock_sendv",
                                          "aw_sock_sendfile", "aw_sock_sendfile splice",
                                          "aw_sock_send_zc"};
#define CHILD_FILE (1024 * 1024)

static aw_promise *write_path(aw_loop *L, int path, int fd, int file_fd) {
  switch (path) {
  case P_FS_WRITE:
    return aw_fs_write(L, fd, aw_buf_from("hello", 5), AW_FS_CUR, NULL);
  case P_FS_WRITEV: {
    aw_buf *v[2] = {aw_buf_from("head", 4), aw_buf_from("body", 4)};
    return aw_fs_writev(L, fd, v, 2, AW_FS_CUR, NULL);
  }
  case P_SEND:
    return aw_sock_send(L, fd, aw_buf_from("hello", 5), NULL);
  case P_SENDV: {
    aw_buf *v[2] = {aw_buf_from("head", 4), aw_buf_from("body", 4)};
    return aw_sock_sendv(L, fd, v, 2, NULL);
  }
  case P_SENDFILE: /* short: read + send */
    return aw_sock_sendfile(L, fd, file_fd, 0, 4096, NULL);
  case P_SPLICE: /* long: file -> pipe -> socket */
    return aw_sock_sendfile(L, fd, file_fd, 0, CHILD_FILE, NULL);
  default:
    return aw_sock_send_zc(L, fd, aw_buf_from("hello", 5), NULL);
  }
}

/*
 * Writes through `path` to a socket whose peer closed (or reset) until a
 * write rejects: 0 if it rejected with EPIPE or ECONNRESET, else -1.
 */
static int path_at_a_vanished_peer(aw_loop *L, int path, bool reset, int file_fd) {
  int c, s;
  if (tcp_pair_of(L, &c, &s) < 0) {
    fprintf(stderr, "child: no TCP pair\n");
    return -1;
  }
  if (reset)
    reset_close(s);
  else
    close(s);
  int e = 0;
  for (int i = 0; i < 1000 && !e; i++) /* the first writes may still be taken */
    e = errnum_of(settle(L, write_path(L, path, c, file_fd)));
  close(c);
  if (e != EPIPE && e != ECONNRESET) {
    fprintf(stderr, "child: %s at a peer that %s: errnum %d, not EPIPE/ECONNRESET\n",
            path_names[path], reset ? "reset" : "closed", e);
    return -1;
  }
  return 0;
}

#define BIG (32u * 1024 * 1024) /* more than loopback's socket buffers hold */

static aw_buf *big_buf(void) {
  aw_buf *b = aw_buf_new(BIG);
  if (b) {
    memset(b->data, 'b', BIG);
    b->len = BIG;
  }
  return b;
}

/* A send through `path` too big to fit in the socket buffers: it waits for the peer. */
static aw_promise *big_write_path(aw_loop *L, int path, int fd, int big_fd) {
  switch (path) {
  case P_FS_WRITE:
    return aw_fs_write(L, fd, big_buf(), AW_FS_CUR, NULL);
  case P_FS_WRITEV: {
    aw_buf *v[2] = {aw_buf_from("head", 4), big_buf()};
    return aw_fs_writev(L, fd, v, 2, AW_FS_CUR, NULL);
  }
  case P_SEND:
    return aw_sock_send(L, fd, big_buf(), NULL);
  case P_SENDV: {
    aw_buf *v[2] = {aw_buf_from("head", 4), big_buf()};
    return aw_sock_sendv(L, fd, v, 2, NULL);
  }
  case P_SENDFILE: { /* the copy path, forced */
    uint64_t saved = aw__sendfile_copy_max;
    aw__sendfile_copy_max = UINT64_MAX;
    aw_promise *p = aw_sock_sendfile(L, fd, big_fd, 0, BIG, NULL);
    aw__sendfile_copy_max = saved;
    return p;
  }
  case P_SPLICE:
    return aw_sock_sendfile(L, fd, big_fd, 0, BIG, NULL);
  default:
    return aw_sock_send_zc(L, fd, big_buf(), NULL);
  }
}

/*
 * A long send under way when the peer resets (as a killed client's kernel
 * does when bytes it never read are left): the pending send rejects with
 * EPIPE or ECONNRESET. 0, or -1.
 */
static int path_when_the_peer_dies_mid_transfer(aw_loop *L, int path, int big_fd) {
  int c, s;
  if (tcp_pair_of(L, &c, &s) < 0)
    return -1;
  small_buffers(c, s);
  aw_promise *p = big_write_path(L, path, c, big_fd);
  aw_val first = settle(L, aw_sock_recv(L, s, 4096, NULL)); /* under way */
  bool ok = !aw_is_thrown(first);
  aw_release_val(first);
  for (int i = 0; i < 20; i++)
    aw_loop_run_once(L, false);
  bool pending = p && aw_promise_state(p) == AW_PENDING;
  reset_close(s);
  int e = errnum_of(settle(L, p));
  close(c);
  if (!ok || !pending || (e != EPIPE && e != ECONNRESET)) {
    fprintf(stderr, "child: %s when the peer died mid-transfer: %s, errnum %d\n", path_names[path],
            pending ? "was pending" : "was not pending", e);
    return -1;
  }
  return 0;
}

static bool sigpipe_is(void (*h)(int)) {
  struct sigaction sa;
  return sigaction(SIGPIPE, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == h;
}

static void a_handler(int sig) { (void)sig; }

/*
 * The child: "default" (the loop ignores SIGPIPE), "keep" (keep_sigpipe: it
 * stays SIG_DFL, and MSG_NOSIGNAL alone keeps every path safe), "handler"
 * (a handler of the program's is left alone).
 */
static int sigpipe_child(const char *mode) {
  bool keep = !strcmp(mode, "keep"), handler = !strcmp(mode, "handler");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler ? a_handler : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, NULL);
  aw_loop_config cfg = {.keep_sigpipe = keep};
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(&cfg, &err);
  if (!L) {
    aw_release_val(err);
    return 77;
  }
  void (*want)(int) = handler ? a_handler : keep ? SIG_DFL : SIG_IGN;
  if (!sigpipe_is(want)) {
    fprintf(stderr, "child %s: SIGPIPE's disposition is not the expected one\n", mode);
    return 3;
  }
  int file_fd = pattern_file(CHILD_FILE), big_fd = pattern_file(BIG);
  int failed = 0;
  for (int path = 0; path < P_COUNT; path++) {
    for (int reset = 0; reset < 2; reset++)
      failed += path_at_a_vanished_peer(L, path, reset, file_fd) < 0;
    failed += path_when_the_peer_dies_mid_transfer(L, path, big_fd) < 0;
  }
  close(file_fd);
  close(big_fd);
  aw_loop_run(L);
  aw_loop_free(L);
  return failed ? 4 : 0;
}

/* A loop made and freed on a thread of its own (the "threads" child). */
static void *loop_thread(void *arg) {
  aw_loop_config cfg = {.keep_sigpipe = arg != NULL};
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(&cfg, &err);
  if (!L)
    aw_release_val(err);
  else
    aw_loop_free(L);
  return L ? (void *)1 : NULL;
}

/* "threads": first loops on several threads at once, half of them keeping SIGPIPE. */
static int sigpipe_threads_child(void) {
  signal(SIGPIPE, SIG_DFL);
  pthread_t t[6];
  for (int i = 0; i < 6; i++)
    if (pthread_create(&t[i], NULL, loop_thread, i % 2 ? (void *)1 : NULL) != 0)
      return 5;
  int made = 0;
  for (int i = 0; i < 6; i++) {
    void *r;
    pthread_join(t[i], &r);
    made += r != NULL;
  }
  if (made == 0)
    return 77;
  if (!sigpipe_is(SIG_IGN)) {
    fprintf(stderr, "child threads: SIGPIPE is not ignored after the first loops\n");
    return 3;
  }
  return 0;
}

static const char *self_exe;

/* Runs the child in MODE; its exit status (or 128 + the signal that killed it). */
static int run_child(const char *mode) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    execl(self_exe, self_exe, "--sigpipe-child", mode, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

static void expect_child_ok(const char *mode) {
  int r = run_child(mode);
  if (r == 77)
    skip();
  if (r == 128 + SIGPIPE)
    fail_msg("the %s child was killed by SIGPIPE", mode);
  assert_int_equal(r, 0);
}

/* ---- cmocka helpers ----------------------------------------------------------------------- */

#define SEND_TEST(f) cmocka_unit_test_teardown(f, io_test_free_leftover)

static aw_val wait_for(aw_loop *L, aw_promise *p) {
  assert_non_null(p);
  return settle(L, p);
}

static int64_t count_of(aw_val v) {
  if (aw_is_thrown(v)) {
    aw_error_print(v, stderr);
    aw_release_val(v);
    fail_msg("expected a byte count, got a rejection");
  }
  assert_int_equal(aw_tag_of(v), AW_TAG_INT);
  return v.u.i;
}

typedef struct rejection {
  bool thrown;
  int errnum;
  char name[32], message[256];
} rejection;

static rejection rejection_of(aw_val v) {
  rejection r = {.thrown = aw_is_thrown(v)};
  aw_error *e = aw_as_error(v);
  if (e) {
    r.errnum = e->errnum;
    snprintf(r.name, sizeof r.name, "%s", e->name);
    snprintf(r.message, sizeof r.message, "%s", e->message->data);
  }
  aw_release_val(v);
  return r;
}

static void pair(aw_loop *L, int *a, int *b) { assert_int_equal(tcp_pair_of(L, a, b), 0); }

/* Receives exactly n bytes into out (several recvs). */
static void recv_exactly(aw_loop *L, int fd, uint8_t *out, size_t n) {
  size_t got = 0;
  while (got < n) {
    size_t want = n - got < (1u << 20) ? n - got : (1u << 20);
    aw_val v = wait_for(L, aw_sock_recv(L, fd, want, NULL));
    assert_false(aw_is_thrown(v));
    aw_buf *b = (aw_buf *)v.u.o;
    assert_true(b->len > 0);
    memcpy(out + got, b->data, b->len);
    got += b->len;
    aw_release(b);
  }
}

static void assert_end_of_stream(aw_loop *L, int fd) {
  aw_val v = wait_for(L, aw_sock_recv(L, fd, 64, NULL));
  assert_false(aw_is_thrown(v));
  assert_int_equal(((aw_buf *)v.u.o)->len, 0);
  aw_release_val(v);
}

/* Runs the loop until nothing keeps it alive (background closes done). */
static void drain(aw_loop *L) { assert_int_equal(aw_loop_run(L), 0); }

static aw_buf *buf_filled(size_t n, uint8_t seed) {
  aw_buf *b = aw_buf_new(n);
  assert_non_null(b);
  for (size_t i = 0; i < n; i++)
    b->data[i] = (uint8_t)(seed + i * 7);
  b->len = n;
  return b;
}

/* ---- aw_buf_append ------------------------------------------------------------------------ */

static void test_buf_append_adds_bytes_at_the_end(void **state) {
  (void)state;
  aw_buf *b = aw_buf_from("head", 4);
  assert_int_equal(aw_buf_append(b, "er", 2), 0);
  assert_int_equal(aw_buf_append(b, "", 0), 0);
  assert_int_equal(aw_buf_append(b, NULL, 0), 0);
  assert_int_equal(b->len, 6);
  assert_memory_equal(b->data, "header", 6);
  aw_release(b);
}

static void test_buf_append_grows_the_capacity_by_doubling(void **state) {
  (void)state;
  aw_buf *b = aw_buf_new(0);
  size_t grows = 0, cap = b->cap;
  for (int i = 0; i < 100000; i++) {
    uint8_t c = (uint8_t)i;
    assert_int_equal(aw_buf_append(b, &c, 1), 0);
    if (b->cap != cap) {
      assert_true(b->cap >= 2 * cap); /* amortised: never a step of one */
      cap = b->cap;
      grows++;
    }
  }
  assert_int_equal(b->len, 100000);
  for (int i = 0; i < 100000; i++)
    assert_int_equal(b->data[i], (uint8_t)i);
  assert_true(grows <= 12); /* 64 << 11 > 100000 */
  aw_release(b);
}

static void test_buf_append_of_its_own_bytes_survives_the_move(void **state) {
  (void)state;
  aw_buf *b = aw_buf_from("abcd", 4);
  size_t cap = b->cap;
  assert_int_equal(aw_buf_append(b, b->data, b->len), 0); /* grows: the source moves */
  assert_true(b->cap > cap);
  assert_int_equal(aw_buf_append(b, b->data + 1, 2), 0);
  assert_int_equal(b->len, 10);
  assert_memory_equal(b->data, "abcdabcdbc", 10);
  aw_release(b);
}

static void test_buf_append_refuses_bad_arguments_and_leaves_the_buffer(void **state) {
  (void)state;
  aw_buf *b = aw_buf_from("ab", 2);
  assert_int_equal(aw_buf_append(NULL, "x", 1), -EINVAL);
  assert_int_equal(aw_buf_append(b, NULL, 1), -EINVAL);
  aw_str *s = aw_str_from("text");
  assert_int_equal(aw_buf_append((aw_buf *)s, "x", 1), -EINVAL);
  aw_release(s);
  assert_int_equal(aw_buf_append(b, "x", AW_BUF_MAX), -E2BIG); /* never read */
  assert_int_equal(aw_buf_append(b, "x", SIZE_MAX), -E2BIG);
  assert_int_equal(b->len, 2);
  assert_memory_equal(b->data, "ab", 2);
  aw_release(b);
}

/* ---- sendv -------------------------------------------------------------------------------- */

static void test_sendv_sends_every_buffer_in_order(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  aw_buf *v[4] = {aw_buf_from("HTTP/1.1 200 OK\r\n", 17), aw_buf_new(0), aw_buf_from("\r\n", 2),
                  aw_buf_from("hello", 5)};
  assert_int_equal(count_of(wait_for(L, aw_sock_sendv(L, c, v, 4, NULL))), 24);
  uint8_t got[24];
  recv_exactly(L, s, got, 24);
  assert_memory_equal(got, "HTTP/1.1 200 OK\r\n\r\nhello", 24);
  close(c);
  close(s);
  io_test_done(L);
}

static void test_sendv_continues_partial_sends_across_buffers(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  int small = 4096; /* many partial sends */
  setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  enum { N = 16, EACH = 256 * 1024 + 13 };
  aw_buf *v[N];
  uint8_t *want = malloc((size_t)N * EACH);
  for (int i = 0; i < N; i++) {
    v[i] = buf_filled(EACH, (uint8_t)i);
    memcpy(want + (size_t)i * EACH, v[i]->data, EACH);
  }
  aw_promise *p = aw_sock_sendv(L, c, v, N, NULL);
  uint8_t *got = malloc((size_t)N * EACH);
  recv_exactly(L, s, got, (size_t)N * EACH);
  assert_int_equal(count_of(wait_for(L, p)), (int64_t)N * EACH);
  assert_memory_equal(got, want, (size_t)N * EACH);
  free(got);
  free(want);
  close(c);
  close(s);
  io_test_done(L);
}

static void test_sendv_at_a_closed_peer_rejects_with_epipe(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  close(s);
  assert_end_of_stream(L, c);
  rejection r = {0};
  for (int i = 0; i < 1000 && !r.thrown; i++) {
    aw_buf *v[1] = {aw_buf_from("x", 1)};
    r = rejection_of(wait_for(L, aw_sock_sendv(L, c, v, 1, NULL)));
  }
  assert_true(r.thrown);
  assert_true(r.errnum == EPIPE || r.errnum == ECONNRESET);
  char prefix[32];
  snprintf(prefix, sizeof prefix, "sendv fd %d: ", c);
  assert_memory_equal(r.message, prefix, strlen(prefix));
  close(c);
  io_test_done(L);
}

static void test_sendv_refuses_bad_arguments_with_a_type_error(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  rejection r = rejection_of(wait_for(L, aw_sock_sendv(L, sv[0], NULL, 1, NULL)));
  assert_string_equal(r.name, "TypeError");
  aw_buf *none[1] = {NULL};
  r = rejection_of(wait_for(L, aw_sock_sendv(L, sv[0], none, 0, NULL)));
  assert_string_equal(r.name, "TypeError");
  /* a NULL among buffers: the buffers given are released all the same */
  aw_buf *mixed[3] = {aw_buf_from("a", 1), NULL, aw_buf_from("b", 1)};
  r = rejection_of(wait_for(L, aw_sock_sendv(L, sv[0], mixed, 3, NULL)));
  assert_string_equal(r.name, "TypeError");
  aw_buf **many = calloc(1025, sizeof *many);
  for (int i = 0; i < 1025; i++)
    many[i] = aw_buf_from("x", 1);
  r = rejection_of(wait_for(L, aw_sock_sendv(L, sv[0], many, 1025, NULL)));
  assert_string_equal(r.name, "TypeError");
  free(many);
  aw_buf *one[1] = {aw_buf_from("x", 1)};
  r = rejection_of(wait_for(L, aw_sock_sendv(L, -1, one, 1, NULL)));
  assert_int_equal(r.errnum, EBADF);
  close(sv[0]);
  close(sv[1]);
  io_test_done(L);
}

/* ---- sendfile ----------------------------------------------------------------------------- */

static void assert_pattern(const uint8_t *got, uint64_t from, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (got[i] != pattern_at(from + i))
      fail_msg("byte %zu (file offset %llu) is wrong", i, (unsigned long long)(from + i));
}

static void test_sendfile_sends_the_range_asked_for(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  int f = pattern_file(3 * 1024 * 1024);
  assert_true(f >= 0);
  uint64_t len = 2 * 1024 * 1024 + 7;
  aw_promise *p = aw_sock_sendfile(L, c, f, 1000, len, NULL);
  uint8_t *got = malloc(len);
  recv_exactly(L, s, got, len);
  assert_int_equal(count_of(wait_for(L, p)), (int64_t)len);
  assert_pattern(got, 1000, len);
  assert_int_equal(lseek(f, 0, SEEK_CUR), 3 * 1024 * 1024); /* an offset leaves the position */
  free(got);
  close(f);
  close(c);
  close(s);
  io_test_done(L);
}

static void test_sendfile_stops_at_the_end_of_the_file(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  int f = pattern_file(100000);
  aw_promise *p = aw_sock_sendfile(L, c, f, 5, UINT64_MAX, NULL);
  uint8_t got[100000];
  recv_exactly(L, s, got, 99995);
  assert_int_equal(count_of(wait_for(L, p)), 99995);
  assert_pattern(got, 5, 99995);
  /* past the end: nothing to send */
  assert_int_equal(count_of(wait_for(L, aw_sock_sendfile(L, c, f, 200000, 10, NULL))), 0);
  close(f);
  close(c);
  close(s);
  io_test_done(L);
}

/* Long sends splice, short ones copy (io/send.c): the long path through the copy too. */
static void test_sendfile_by_copy_sends_a_long_range_in_chunks(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  int f = pattern_file(1000000);
  uint64_t saved = aw__sendfile_copy_max;
  aw__sendfile_copy_max = UINT64_MAX;
  aw_promise *p = aw_sock_sendfile(L, c, f, 77, 900001, NULL);
  uint8_t *got = malloc(901001);
  recv_exactly(L, s, got, 900001);
  assert_int_equal(count_of(wait_for(L, p)), 900001);
  /* one after the other: two sends at once on one socket may interleave their steps */
  aw_promise *q = aw_sock_sendfile(L, c, f, 999000, UINT64_MAX, NULL); /* to the end */
  aw__sendfile_copy_max = saved;
  recv_exactly(L, s, got + 900001, 1000);
  assert_int_equal(count_of(wait_for(L, q)), 1000);
  assert_pattern(got, 77, 900001);
  assert_pattern(got + 900001, 999000, 1000);
  free(got);
  close(f);
  close(c);
  close(s);
  io_test_done(L);
}

static void test_sendfile_by_copy_aborted_mid_way_rejects_with_the_reason(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  small_buffers(c, s); /* the send stalls for sure */
  int f = pattern_file(16 * 1024 * 1024);
  uint64_t saved = aw__sendfile_copy_max;
  aw__sendfile_copy_max = UINT64_MAX;
  aw_signal *sig = aw_signal_new(L);
  aw_io_opts o = {.signal = sig};
  aw_promise *p = aw_sock_sendfile(L, c, f, 0, 16 * 1024 * 1024, &o);
  aw__sendfile_copy_max = saved;
  for (int i = 0; i < 50; i++)
    assert_true(aw_loop_run_once(L, false) >= 0);
  assert_int_equal(aw_promise_state(p), AW_PENDING); /* nobody reads */
  assert_int_equal(aw_signal_abort(sig, aw_undefined()), 0);
  rejection r = rejection_of(wait_for(L, p));
  assert_string_equal(r.name, "AbortError");
  aw_release(sig);
  close(f);
  close(c);
  close(s);
  io_test_done(L);
}

static void test_sendfile_from_the_file_position_advances_it(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  int f = pattern_file(10000);
  assert_int_equal(lseek(f, 300, SEEK_SET), 300);
  assert_int_equal(count_of(wait_for(L, aw_sock_sendfile(L, c, f, AW_FS_CUR, 1000, NULL))), 1000);
  assert_int_equal(lseek(f, 0, SEEK_CUR), 1300);
  uint8_t got[1000];
  recv_exactly(L, s, got, 1000);
  assert_pattern(got, 300, 1000);
  close(f);
  close(c);
  close(s);
  io_test_done(L);
}

static void test_sendfile_to_the_end_of_a_short_file_from_its_position(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  int f = pattern_file(5000);
  assert_int_equal(lseek(f, 1000, SEEK_SET), 1000);
  assert_int_equal(count_of(wait_for(L, aw_sock_sendfile(L, c, f, AW_FS_CUR, UINT64_MAX, NULL))),
                   4000);
  assert_int_equal(lseek(f, 0, SEEK_CUR), 5000);
  uint8_t got[4000];
  recv_exactly(L, s, got, 4000);
  assert_pattern(got, 1000, 4000);
  close(f);
  close(c);
  close(s);
  io_test_done(L);
}

static void test_sendfile_of_nothing_resolves_with_zero(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  int f = pattern_file(10);
  assert_int_equal(count_of(wait_for(L, aw_sock_sendfile(L, c, f, 0, 0, NULL))), 0);
  int e = pattern_file(0);
  assert_int_equal(count_of(wait_for(L, aw_sock_sendfile(L, c, e, 0, UINT64_MAX, NULL))), 0);
  close(e);
  close(f);
  close(c);
  close(s);
  io_test_done(L);
}

static void test_sendfile_errors_name_the_descriptor_at_fault(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  int dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  rejection r = rejection_of(wait_for(L, aw_sock_sendfile(L, c, dir, 0, 100, NULL)));
  char prefix[48];
  snprintf(prefix, sizeof prefix, "sendfile file fd %d: ", dir);
  assert_true(r.thrown);
  if (strncmp(r.message, prefix, strlen(prefix)))
    fail_msg("\"%s\" does not start with \"%s\"", r.message, prefix);
  r = rejection_of(wait_for(L, aw_sock_sendfile(L, -1, dir, 0, 100, NULL)));
  assert_int_equal(r.errnum, EBADF);
  r = rejection_of(wait_for(L, aw_sock_sendfile(L, c, -1, 0, 100, NULL)));
  assert_int_equal(r.errnum, EBADF);
  r = rejection_of(wait_for(L, aw_sock_sendfile(L, c, dir, -5, 100, NULL)));
  assert_int_equal(r.errnum, EINVAL);
  /* the socket's failure names the socket */
  int f = pattern_file(4096);
  close(s);
  assert_end_of_stream(L, c);
  r = (rejection){0};
  for (int i = 0; i < 1000 && !r.thrown; i++)
    r = rejection_of(wait_for(L, aw_sock_sendfile(L, c, f, 0, 4096, NULL)));
  assert_true(r.errnum == EPIPE || r.errnum == ECONNRESET);
  snprintf(prefix, sizeof prefix, "sendfile fd %d: ", c);
  assert_memory_equal(r.message, prefix, strlen(prefix));
  close(f);
  close(dir);
  close(c);
  io_test_done(L);
}

static void test_sendfile_to_a_nonblocking_socket_waits_for_room(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  small_buffers(c, s); /* the splice finds the socket full, again and again */
  assert_int_equal(fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK), 0);
  size_t n = 4 * 1024 * 1024;
  int f = pattern_file(n);
  aw_promise *p = aw_sock_sendfile(L, c, f, 0, n, NULL);
  for (int i = 0; i < 50; i++) /* nobody reads yet: the socket is full, the send waits */
    assert_true(aw_loop_run_once(L, false) >= 0);
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  uint8_t *got = malloc(n);
  recv_exactly(L, s, got, n);
  assert_int_equal(count_of(wait_for(L, p)), (int64_t)n);
  assert_pattern(got, 0, n);
  free(got);
  close(f);
  close(c);
  close(s);
  io_test_done(L);
}

static void test_sendfile_by_copy_to_a_nonblocking_socket_waits_for_room(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  small_buffers(c, s);
  assert_int_equal(fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK), 0);
  size_t n = 4 * 1024 * 1024;
  int f = pattern_file(n);
  uint64_t saved = aw__sendfile_copy_max;
  aw__sendfile_copy_max = UINT64_MAX;
  aw_promise *p = aw_sock_sendfile(L, c, f, 0, n, NULL);
  aw__sendfile_copy_max = saved;
  for (int i = 0; i < 50; i++)
    assert_true(aw_loop_run_once(L, false) >= 0);
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  uint8_t *got = malloc(n);
  recv_exactly(L, s, got, n);
  assert_int_equal(count_of(wait_for(L, p)), (int64_t)n);
  assert_pattern(got, 0, n);
  free(got);
  close(f);
  close(c);
  close(s);
  io_test_done(L);
}

static void test_sendfile_aborted_mid_way_rejects_and_leaves_no_pipe(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  small_buffers(c, s); /* the send stalls for sure */
  int f = pattern_file(16 * 1024 * 1024);
  drain(L); /* the listener's background close */
  int before = open_fds();
  aw_signal *sig = aw_signal_new(L);
  aw_io_opts o = {.signal = sig};
  /* the peer does not read: the send stalls once the socket buffers are full */
  aw_promise *p = aw_sock_sendfile(L, c, f, 0, 16 * 1024 * 1024, &o);
  aw_val first = wait_for(L, aw_sock_recv(L, s, 1000, NULL)); /* it is under way */
  assert_false(aw_is_thrown(first));
  aw_release_val(first);
  for (int i = 0; i < 20; i++)
    assert_true(aw_loop_run_once(L, false) >= 0);
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  assert_int_equal(aw_signal_abort(sig, aw_undefined()), 0);
  rejection r = rejection_of(wait_for(L, p));
  assert_true(r.thrown);
  assert_string_equal(r.name, "AbortError");
  aw_release(sig);
  drain(L); /* the pipe's background closes */
  assert_int_equal(open_fds(), before);
  close(f);
  close(c);
  close(s);
  io_test_done(L);
}

static void test_sendfile_timeout_rejects_a_stalled_send(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  small_buffers(c, s); /* the send stalls for sure */
  int f = pattern_file(16 * 1024 * 1024);
  drain(L); /* the listener's background close */
  int before = open_fds();
  aw_io_opts o = {.timeout_ms = 50};
  rejection r = rejection_of(wait_for(L, aw_sock_sendfile(L, c, f, 0, 16 * 1024 * 1024, &o)));
  assert_string_equal(r.name, "TimeoutError");
  drain(L);
  assert_int_equal(open_fds(), before);
  close(f);
  close(c);
  close(s);
  io_test_done(L);
}

/* ---- send_zc ------------------------------------------------------------------------------ */

static void test_send_zc_sends_every_byte(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  size_t n = 3 * 1024 * 1024 + 5;
  aw_buf *b = buf_filled(n, 9);
  uint8_t *want = malloc(n);
  memcpy(want, b->data, n);
  aw_promise *p = aw_sock_send_zc(L, c, b, NULL);
  uint8_t *got = malloc(n);
  recv_exactly(L, s, got, n);
  assert_int_equal(count_of(wait_for(L, p)), (int64_t)n);
  assert_memory_equal(got, want, n);
  /* small ones, back to back */
  for (int i = 0; i < 50; i++)
    assert_int_equal(count_of(wait_for(L, aw_sock_send_zc(L, c, aw_buf_from("ab", 2), NULL))), 2);
  recv_exactly(L, s, got, 100);
  for (int i = 0; i < 100; i += 2)
    assert_memory_equal(got + i, "ab", 2);
  free(got);
  free(want);
  close(c);
  close(s);
  drain(L); /* every notification came: the loop is idle */
  io_test_done(L);
}

static void test_send_zc_on_a_unix_socket_sends_by_copy(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  assert_int_equal(count_of(wait_for(L, aw_sock_send_zc(L, sv[0], aw_buf_from("unix", 4), NULL))),
                   4);
  uint8_t got[4];
  recv_exactly(L, sv[1], got, 4);
  assert_memory_equal(got, "unix", 4);
  close(sv[0]);
  close(sv[1]);
  io_test_done(L);
}

static void test_send_zc_aborted_while_stalled_rejects_with_the_reason(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  small_buffers(c, s); /* the send stalls for sure */
  aw_signal *sig = aw_signal_new(L);
  aw_io_opts o = {.signal = sig};
  aw_promise *p = aw_sock_send_zc(L, c, buf_filled(32 * 1024 * 1024, 1), &o);
  for (int i = 0; i < 20; i++)
    assert_true(aw_loop_run_once(L, false) >= 0);
  assert_int_equal(aw_promise_state(p), AW_PENDING); /* nobody reads: it cannot finish */
  assert_int_equal(aw_signal_abort(sig, aw_string("enough")), 0);
  aw_val v = wait_for(L, p);
  assert_true(aw_is_thrown(v));
  assert_string_equal(aw_cstr(aw_caught(v)), "enough");
  aw_release_val(v);
  aw_release(sig);
  close(c);
  close(s);
  drain(L);
  io_test_done(L);
}

static void test_send_zc_refuses_what_is_not_a_buffer(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  rejection r = rejection_of(wait_for(L, aw_sock_send_zc(L, 3, NULL, NULL)));
  assert_string_equal(r.name, "TypeError");
  r = rejection_of(wait_for(L, aw_sock_send_zc(L, -1, aw_buf_from("x", 1), NULL)));
  assert_int_equal(r.errnum, EBADF);
  io_test_done(L);
}

/* ---- writes to sockets through aw_fs_write / aw_fs_writev --------------------------------- */

static void test_fs_writev_on_a_socket_carries_header_and_body(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  aw_buf *v[2] = {aw_buf_from("head:", 5), aw_buf_from("body", 4)};
  assert_int_equal(count_of(wait_for(L, aw_fs_writev(L, c, v, 2, AW_FS_CUR, NULL))), 9);
  assert_int_equal(count_of(wait_for(L, aw_fs_write(L, c, aw_buf_from("!", 1), AW_FS_CUR, NULL))),
                   1);
  uint8_t got[10];
  recv_exactly(L, s, got, 10);
  assert_memory_equal(got, "head:body!", 10);
  close(c);
  close(s);
  io_test_done(L);
}

static void test_fs_write_at_a_reset_peer_rejects_with_epipe_or_econnreset(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int c, s;
  pair(L, &c, &s);
  reset_close(s);
  int e = 0;
  for (int i = 0; i < 1000 && !e; i++)
    e = errnum_of(wait_for(L, aw_fs_write(L, c, aw_buf_from("x", 1), AW_FS_CUR, NULL)));
  assert_true(e == EPIPE || e == ECONNRESET);
  close(c);
  io_test_done(L);
}

static void test_fs_writes_to_a_socket_stay_safe_after_sigpipe_is_set_back_to_default(void **st) {
  (void)st;
  aw_loop *L = io_test_loop(0); /* the process ignores SIGPIPE from here on ... */
  struct sigaction dfl, old;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL; /* ... until the program says otherwise: a SIGPIPE now kills us */
  sigemptyset(&dfl.sa_mask);
  assert_int_equal(sigaction(SIGPIPE, &dfl, &old), 0);
  int e[2] = {0, 0};
  for (int writev = 0; writev < 2; writev++) {
    int c, s;
    pair(L, &c, &s);
    reset_close(s);
    for (int i = 0; i < 1000 && !e[writev]; i++)
      e[writev] = errnum_of(wait_for(L, write_path(L, writev ? P_FS_WRITEV : P_FS_WRITE, c, -1)));
    close(c);
  }
  sigaction(SIGPIPE, &old, NULL);
  assert_true(e[0] == EPIPE || e[0] == ECONNRESET);
  assert_true(e[1] == EPIPE || e[1] == ECONNRESET);
  io_test_done(L);
}

/* ---- SIGPIPE ------------------------------------------------------------------------------ */

static void test_a_loop_ignores_sigpipe_and_every_write_path_survives_a_vanished_peer(void **st) {
  (void)st;
  expect_child_ok("default");
}

static void test_with_keep_sigpipe_sigpipe_stays_default_and_every_path_is_still_safe(void **st) {
  (void)st;
  expect_child_ok("keep");
}

static void test_first_loops_on_several_threads_at_once_ignore_sigpipe_once(void **st) {
  (void)st;
  expect_child_ok("threads");
}

static void test_a_sigpipe_handler_of_the_program_is_left_alone(void **st) {
  (void)st;
  expect_child_ok("handler");
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--sigpipe-child"))
    return strcmp(argv[2], "threads") ? sigpipe_child(argv[2]) : sigpipe_threads_child();
  self_exe = "/proc/self/exe";
  static char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    self_exe = exe;
  }
  const struct CMUnitTest tests[] = {
      SEND_TEST(test_buf_append_adds_bytes_at_the_end),
      SEND_TEST(test_buf_append_grows_the_capacity_by_doubling),
      SEND_TEST(test_buf_append_of_its_own_bytes_survives_the_move),
      SEND_TEST(test_buf_append_refuses_bad_arguments_and_leaves_the_buffer),
      SEND_TEST(test_sendv_sends_every_buffer_in_order),
      SEND_TEST(test_sendv_continues_partial_sends_across_buffers),
      SEND_TEST(test_sendv_at_a_closed_peer_rejects_with_epipe),
      SEND_TEST(test_sendv_refuses_bad_arguments_with_a_type_error),
      SEND_TEST(test_sendfile_sends_the_range_asked_for),
      SEND_TEST(test_sendfile_stops_at_the_end_of_the_file),
      SEND_TEST(test_sendfile_by_copy_sends_a_long_range_in_chunks),
      SEND_TEST(test_sendfile_by_copy_aborted_mid_way_rejects_with_the_reason),
      SEND_TEST(test_sendfile_from_the_file_position_advances_it),
      SEND_TEST(test_sendfile_to_the_end_of_a_short_file_from_its_position),
      SEND_TEST(test_sendfile_of_nothing_resolves_with_zero),
      SEND_TEST(test_sendfile_errors_name_the_descriptor_at_fault),
      SEND_TEST(test_sendfile_to_a_nonblocking_socket_waits_for_room),
      SEND_TEST(test_sendfile_by_copy_to_a_nonblocking_socket_waits_for_room),
      SEND_TEST(test_sendfile_aborted_mid_way_rejects_and_leaves_no_pipe),
      SEND_TEST(test_sendfile_timeout_rejects_a_stalled_send),
      SEND_TEST(test_send_zc_sends_every_byte),
      SEND_TEST(test_send_zc_on_a_unix_socket_sends_by_copy),
      SEND_TEST(test_send_zc_aborted_while_stalled_rejects_with_the_reason),
      SEND_TEST(test_send_zc_refuses_what_is_not_a_buffer),
      SEND_TEST(test_fs_writev_on_a_socket_carries_header_and_body),
      SEND_TEST(test_fs_write_at_a_reset_peer_rejects_with_epipe_or_econnreset),
      SEND_TEST(test_fs_writes_to_a_socket_stay_safe_after_sigpipe_is_set_back_to_default),
      SEND_TEST(test_a_loop_ignores_sigpipe_and_every_write_path_survives_a_vanished_peer),
      SEND_TEST(test_with_keep_sigpipe_sigpipe_stays_default_and_every_path_is_still_safe),
      SEND_TEST(test_a_sigpipe_handler_of_the_program_is_left_alone),
      SEND_TEST(test_first_loops_on_several_threads_at_once_ignore_sigpipe_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
