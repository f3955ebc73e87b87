/*
 * tests/io/test_net.c — TCP sockets on the loop's io_uring (aw/io.h): listen
 * on IPv4 and IPv6 loopback, SO_REUSEPORT and EADDRINUSE, accept, connect,
 * recv, send, shutdown and close, the errors a vanished peer gives
 * (ECONNREFUSED, EPIPE without SIGPIPE, ECONNRESET), closing a listener with
 * accepts pending, a 10 MiB echo over 100 concurrent connections with every
 * byte checked, a peer resetting mid-transfer, and bad arguments.
 *
 * Everything is on loopback, and every port comes from port 0. Most tests
 * drive the loop step by step with io_test_wait() (run the loop until one promise
 * settles); the echo runs async functions. As in the unit suites, callbacks
 * never assert (a failed assertion longjmps, which must not happen inside
 * aw_loop_run): they record, and the test asserts once the loop returned.
 */
#include "io_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------------------- */

/*
 * The loop of the test that runs: a test that fails half-way leaves it to the
 * teardown, which frees it, so that what it held does not count against the
 * next test's leak check.
 */
static aw_loop *test_loop;

static aw_loop *net_loop(void) { return test_loop = io_test_loop(0); }

static void net_done(aw_loop *L) {
  test_loop = NULL;
  io_test_done(L);
}

/* RLIMIT_NOFILE as it was before a test lowered it (restored by the teardown too). */
static struct rlimit saved_nofile;
static bool nofile_lowered;

/* From now on the process can open no descriptor: the limit is the lowest free one. */
static void lower_nofile_to_none_free(void) {
  int lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true(lowest >= 0);
  close(lowest);
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
  struct rlimit low = {(rlim_t)lowest, saved_nofile.rlim_max};
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  nofile_lowered = true;
  int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int e = errno;
  if (probe >= 0)
    close(probe);
  assert_int_equal(probe, -1);
  assert_int_equal(e, EMFILE);
}

static void restore_nofile(void) {
  if (nofile_lowered)
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
  nofile_lowered = false;
}

static int free_leftover_loop(void **state) {
  (void)state;
  if (nofile_lowered) {
    setrlimit(RLIMIT_NOFILE, &saved_nofile);
    nofile_lowered = false;
  }
  if (test_loop)
    aw_loop_free(test_loop);
  test_loop = NULL;
  return 0;
}

#define NET_TEST(f) cmocka_unit_test_teardown(f, free_leftover_loop)

/*
 * Runs L until p settles and returns its outcome (a reference; thrown if it
 * rejected); p is consumed. A rejection is handled, so it is never reported.
 */
/* The descriptor a promise fulfilled with. */
static int fd_of(aw_val v) {
  assert_false(aw_is_thrown(v));
  assert_int_equal(aw_tag_of(v), AW_TAG_INT);
  assert_true(v.u.i >= 0);
  return (int)v.u.i;
}

/* The buffer a promise fulfilled with (a reference). */
static aw_buf *buf_of(aw_val v) {
  if (aw_is_thrown(v)) {
    aw_error_print(v, stderr);
    fail_msg("expected a buffer, got a rejection");
  }
  assert_true(aw_is_type(v, AW_T_BUFFER));
  return (aw_buf *)v.u.o;
}

/*
 * What a rejection carries, copied so that the value can be released before
 * anything is asserted (a failed assertion then leaks nothing into later tests).
 */
typedef struct rejection {
  bool thrown, is_error;
  int errnum;
  char name[32], message[256];
} rejection;

static rejection rejection_of(aw_val v) {
  rejection r = {.thrown = aw_is_thrown(v)};
  aw_error *e = aw_as_error(v);
  if (e) {
    r.is_error = true;
    r.errnum = e->errnum;
    snprintf(r.name, sizeof r.name, "%s", e->name);
    snprintf(r.message, sizeof r.message, "%s", e->message->data);
  }
  aw_release_val(v);
  return r;
}

/* A rejection with an errno error: errnum and, if not NULL, the exact message. Releases v. */
static void assert_errno_rejection(aw_val v, int errnum, const char *message) {
  rejection r = rejection_of(v);
  assert_true(r.thrown);
  assert_true(r.is_error);
  assert_string_equal(r.name, "Error");
  if (message)
    assert_string_equal(r.message, message);
  assert_int_equal(r.errnum, errnum);
}

/* A rejection with a TypeError whose message contains `part`. Releases v. */
static void assert_type_error(aw_val v, const char *part) {
  rejection r = rejection_of(v);
  assert_true(r.thrown);
  assert_true(r.is_error);
  assert_string_equal(r.name, "TypeError");
  if (!strstr(r.message, part))
    fail_msg("TypeError message \"%s\" does not contain \"%s\"", r.message, part);
}

static aw_val listen_ok(aw_loop *L, const char *host, int port, const aw_listen_opts *o) {
  aw_val l = io_test_wait(L, aw_tcp_listen(L, host, port, o));
  if (aw_is_thrown(l)) {
    aw_error_print(l, stderr);
    fail_msg("listen %s:%d failed", host ? host : "(any)", port);
  }
  assert_true(aw_listener_fd(l) >= 0);
  assert_true(aw_listener_port(l) > 0);
  return l;
}

static void listener_drop(aw_val l) {
  aw_listener_close(l);
  aw_release_val(l);
}

/* A connected pair over loopback: *client from aw_tcp_connect, *server from aw_tcp_accept. */
static void tcp_pair(aw_loop *L, aw_val listener, const char *host, int *client, int *server) {
  aw_promise *pa = aw_tcp_accept(listener, NULL);
  aw_promise *pc = aw_tcp_connect(L, host, aw_listener_port(listener), NULL);
  *client = fd_of(io_test_wait(L, pc));
  *server = fd_of(io_test_wait(L, pa));
}

static void send_all(aw_loop *L, int fd, const void *data, size_t n) {
  aw_val v = io_test_wait(L, aw_sock_send(L, fd, aw_buf_from(data, n), NULL));
  assert_false(aw_is_thrown(v));
  assert_int_equal(v.u.i, (int64_t)n);
}

/* Receives exactly n bytes (several recvs if need be) and compares them with `expected`. */
static void recv_exactly(aw_loop *L, int fd, const void *expected, size_t n) {
  size_t got = 0;
  while (got < n) {
    aw_buf *b = buf_of(io_test_wait(L, aw_sock_recv(L, fd, n - got, NULL)));
    assert_true(b->len > 0); /* not end of stream yet */
    assert_memory_equal(b->data, (const uint8_t *)expected + got, b->len);
    got += b->len;
    aw_release(b);
  }
}

static void assert_end_of_stream(aw_loop *L, int fd) {
  aw_buf *b = buf_of(io_test_wait(L, aw_sock_recv(L, fd, 64, NULL)));
  assert_int_equal(b->len, 0);
  aw_release(b);
}

static void close_fd(aw_loop *L, int fd) {
  aw_val v = io_test_wait(L, aw_fs_close(L, fd, NULL));
  assert_false(aw_is_thrown(v));
}

/* A connection the kernel resets: SO_LINGER {1, 0} and close send an RST. */
static void reset_and_close(int fd) {
  struct linger lg = {1, 0};
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  assert_int_equal(close(fd), 0);
}

static bool ipv6_loopback_available(void) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

/* ---- listening --------------------------------------------------------------------------------
 */

static void test_listen_on_ipv4_loopback_reports_the_bound_port(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  assert_int_equal(getsockname(aw_listener_fd(l), (struct sockaddr *)&a, &alen), 0);
  assert_int_equal(a.sin_family, AF_INET);
  assert_int_equal(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
  assert_int_equal(ntohs(a.sin_port), aw_listener_port(l));
  aw_listener_close(l);
  assert_int_equal(aw_listener_fd(l), -1); /* closed */
  aw_release_val(l);
  net_done(L);
}

static void test_listen_on_ipv6_loopback_reports_the_bound_port(void **state) {
  (void)state;
  if (!ipv6_loopback_available())
    skip();
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "::1", 0, NULL);
  struct sockaddr_in6 a;
  socklen_t alen = sizeof a;
  assert_int_equal(getsockname(aw_listener_fd(l), (struct sockaddr *)&a, &alen), 0);
  assert_int_equal(a.sin6_family, AF_INET6);
  assert_true(IN6_IS_ADDR_LOOPBACK(&a.sin6_addr));
  assert_int_equal(ntohs(a.sin6_port), aw_listener_port(l));
  listener_drop(l);
  net_done(L);
}

static void test_connection_over_ipv6_loopback_carries_data(void **state) {
  (void)state;
  if (!ipv6_loopback_available())
    skip();
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "::1", 0, NULL);
  int c, s;
  tcp_pair(L, l, "::1", &c, &s);
  send_all(L, c, "over six", 8);
  recv_exactly(L, s, "over six", 8);
  close_fd(L, c);
  close_fd(L, s);
  listener_drop(l);
  net_done(L);
}

static void test_localhost_listens_on_ipv4_loopback(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "localhost", 0, NULL);
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  assert_int_equal(getsockname(aw_listener_fd(l), (struct sockaddr *)&a, &alen), 0);
  assert_int_equal(a.sin_family, AF_INET);
  assert_int_equal(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
  listener_drop(l);
  net_done(L);
}

static void test_two_reuseport_listeners_share_one_port(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_listen_opts o = {.reuseport = true};
  aw_val l1 = listen_ok(L, "127.0.0.1", 0, &o);
  aw_val l2 = listen_ok(L, "127.0.0.1", aw_listener_port(l1), &o);
  assert_int_equal(aw_listener_port(l2), aw_listener_port(l1));
  assert_int_not_equal(aw_listener_fd(l2), aw_listener_fd(l1));
  listener_drop(l1);
  listener_drop(l2);
  net_done(L);
}

static void test_second_listener_without_reuseport_rejects_with_eaddrinuse(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l1 = listen_ok(L, "127.0.0.1", 0, NULL);
  int port = aw_listener_port(l1);
  char msg[128];
  snprintf(msg, sizeof msg, "listen 127.0.0.1:%d: Address already in use (EADDRINUSE)", port);
  assert_errno_rejection(io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", port, NULL)), EADDRINUSE,
                         msg);
  listener_drop(l1);
  net_done(L);
}

static void test_reuseport_on_only_the_second_listener_rejects_with_eaddrinuse(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l1 = listen_ok(L, "127.0.0.1", 0, NULL);
  int port = aw_listener_port(l1);
  aw_listen_opts o = {.reuseport = true};
  char msg[128];
  snprintf(msg, sizeof msg, "listen 127.0.0.1:%d: Address already in use (EADDRINUSE)", port);
  assert_errno_rejection(io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", port, &o)), EADDRINUSE, msg);
  listener_drop(l1);
  net_done(L);
}

/* ---- a connection's life ------------------------------------------------------------------------
 */

static void test_send_and_recv_carry_bytes_both_ways(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  int c, s;
  tcp_pair(L, l, "127.0.0.1", &c, &s);
  assert_int_not_equal(c, s);
  send_all(L, c, "hello", 5);
  recv_exactly(L, s, "hello", 5);
  send_all(L, s, "world!", 6);
  recv_exactly(L, c, "world!", 6);
  close_fd(L, c);
  close_fd(L, s);
  listener_drop(l);
  net_done(L);
}

static void test_recv_returns_at_most_max_bytes(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  int c, s;
  tcp_pair(L, l, "127.0.0.1", &c, &s);
  send_all(L, c, "abcdefgh", 8);
  aw_buf *b = buf_of(io_test_wait(L, aw_sock_recv(L, s, 3, NULL)));
  assert_int_equal(b->len, 3);
  assert_memory_equal(b->data, "abc", 3);
  aw_release(b);
  recv_exactly(L, s, "defgh", 5);
  close_fd(L, c);
  close_fd(L, s);
  listener_drop(l);
  net_done(L);
}

static void test_shutdown_write_gives_the_peer_end_of_stream(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  int c, s;
  tcp_pair(L, l, "127.0.0.1", &c, &s);
  send_all(L, c, "last", 4);
  aw_val v = io_test_wait(L, aw_sock_shutdown(L, c, SHUT_WR, NULL));
  assert_false(aw_is_thrown(v));
  assert_true(aw_is_undefined(v));
  recv_exactly(L, s, "last", 4);
  assert_end_of_stream(L, s);
  /* the other direction still works after a half close */
  send_all(L, s, "reply", 5);
  recv_exactly(L, c, "reply", 5);
  close_fd(L, c);
  close_fd(L, s);
  listener_drop(l);
  net_done(L);
}

static void test_close_gives_the_peer_end_of_stream(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  int c, s;
  tcp_pair(L, l, "127.0.0.1", &c, &s);
  aw_promise *pending = aw_sock_recv(L, c, 64, NULL); /* waiting when the peer closes */
  io_test_turn(L);
  assert_int_equal(aw_promise_state(pending), AW_PENDING);
  close_fd(L, s);
  aw_buf *b = buf_of(io_test_wait(L, pending));
  assert_int_equal(b->len, 0);
  aw_release(b);
  close_fd(L, c);
  listener_drop(l);
  net_done(L);
}

static void test_shutdown_of_an_unconnected_socket_rejects_with_enotconn(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  char msg[96];
  snprintf(msg, sizeof msg, "shutdown fd %d: Transport endpoint is not connected (ENOTCONN)", fd);
  assert_errno_rejection(io_test_wait(L, aw_sock_shutdown(L, fd, SHUT_RDWR, NULL)), ENOTCONN, msg);
  close(fd);
  net_done(L);
}

static void test_accepts_take_connections_in_arrival_order(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  int c[4];
  for (int i = 0; i < 4; i++) { /* connected, and in the kernel's queue, before any accept */
    c[i] = fd_of(io_test_wait(L, aw_tcp_connect(L, "127.0.0.1", aw_listener_port(l), NULL)));
    char tag = (char)('0' + i);
    send_all(L, c[i], &tag, 1);
  }
  for (int i = 0; i < 4; i++) {
    int s = fd_of(io_test_wait(L, aw_tcp_accept(l, NULL)));
    char tag = (char)('0' + i);
    recv_exactly(L, s, &tag, 1);
    close_fd(L, s);
  }
  for (int i = 0; i < 4; i++)
    close_fd(L, c[i]);
  listener_drop(l);
  net_done(L);
}

/* ---- what a vanished peer gives
 * ------------------------------------------------------------------ */

static void test_connect_to_a_port_nobody_listens_on_rejects_with_econnrefused(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  /* A port bound but not listening: nobody else takes it while the test runs. */
  int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(holder, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t alen = sizeof a;
  assert_int_equal(getsockname(holder, (struct sockaddr *)&a, &alen), 0);
  int port = ntohs(a.sin_port);
  char msg[96];
  snprintf(msg, sizeof msg, "connect 127.0.0.1:%d: Connection refused (ECONNREFUSED)", port);
  assert_errno_rejection(io_test_wait(L, aw_tcp_connect(L, "127.0.0.1", port, NULL)), ECONNREFUSED,
                         msg);
  close(holder);
  net_done(L); /* the socket the connect made is closed too (nothing leaked) */
}

static void test_send_after_the_peer_closed_rejects_with_epipe_without_sigpipe(void **state) {
  (void)state;
  /* SIGPIPE has its default action (death) here: a send without MSG_NOSIGNAL would kill us. */
  struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
  sigemptyset(&dfl.sa_mask);
  assert_int_equal(sigaction(SIGPIPE, &dfl, NULL), 0);
  assert_int_equal(sigaction(SIGPIPE, NULL, &old), 0);
  assert_true(old.sa_handler == SIG_DFL);

  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  int c, s;
  tcp_pair(L, l, "127.0.0.1", &c, &s);
  close_fd(L, s);
  assert_end_of_stream(L, c); /* the FIN is here: c is in CLOSE_WAIT */
  /* The first send may still be taken (the peer answers it with an RST); then EPIPE. */
  aw_val v = aw_undefined();
  int sends = 0;
  while (sends < 10000) {
    sends++;
    v = io_test_wait(L, aw_sock_send(L, c, aw_buf_from("x", 1), NULL));
    if (aw_is_thrown(v))
      break;
  }
  assert_true(aw_is_thrown(v));
  char msg[64];
  snprintf(msg, sizeof msg, "send fd %d: Broken pipe (EPIPE)", c);
  assert_errno_rejection(v, EPIPE, msg);
  close_fd(L, c);
  listener_drop(l);
  net_done(L);
}

static void test_recv_when_the_peer_resets_rejects_with_econnreset(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  int c, s;
  tcp_pair(L, l, "127.0.0.1", &c, &s);
  aw_promise *p = aw_sock_recv(L, c, 64, NULL);
  io_test_turn(L);
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  reset_and_close(s);
  char msg[80];
  snprintf(msg, sizeof msg, "recv fd %d: Connection reset by peer (ECONNRESET)", c);
  assert_errno_rejection(io_test_wait(L, p), ECONNRESET, msg);
  close_fd(L, c);
  listener_drop(l);
  net_done(L);
}

/* ---- closing a listener
 * ----------------------------------------------------------------------------- */

static void test_closing_a_listener_rejects_pending_accepts(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  aw_promise *p[3];
  for (int i = 0; i < 3; i++)
    p[i] = aw_tcp_accept(l, NULL);
  io_test_turn(L); /* the multishot accept is in the kernel */
  for (int i = 0; i < 3; i++)
    assert_int_equal(aw_promise_state(p[i]), AW_PENDING);
  aw_listener_close(l);
  for (int i = 0; i < 3; i++) {
    rejection r = rejection_of(io_test_wait(L, p[i]));
    assert_true(r.thrown);
    assert_true(r.is_error);
    assert_int_equal(r.errnum, ECANCELED);
    /* "accept 127.0.0.1:PORT: Operation canceled (ECANCELED)" (aw/io.h) */
    assert_non_null(strstr(r.message, "accept 127.0.0.1:"));
    assert_non_null(strstr(r.message, ": Operation canceled (ECANCELED)"));
  }
  assert_int_equal(aw_loop_run(L), 0); /* the cancelled accept came back: nothing keeps the loop */
  aw_release_val(l);
  net_done(L);
}

static void test_accept_on_a_closed_listener_rejects(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  aw_listener_close(l);
  aw_listener_close(l); /* twice is harmless */
  rejection r = rejection_of(io_test_wait(L, aw_tcp_accept(l, NULL)));
  aw_release_val(l);
  assert_true(r.thrown);
  assert_true(r.is_error);
  /* "accept 127.0.0.1:PORT: Bad file descriptor (EBADF)" (aw/io.h) */
  assert_int_equal(r.errnum, EBADF);
  assert_non_null(strstr(r.message, "accept 127.0.0.1:"));
  assert_non_null(strstr(r.message, ": Bad file descriptor (EBADF)"));
  net_done(L);
}

static void test_closing_a_listener_ends_connections_accepted_but_not_taken(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  int c0, s0;
  tcp_pair(L, l, "127.0.0.1", &c0, &s0); /* the multishot accept stays armed */
  int c[3];
  for (int i = 0; i < 3; i++)
    c[i] = fd_of(io_test_wait(L, aw_tcp_connect(L, "127.0.0.1", aw_listener_port(l), NULL)));
  for (int i = 0; i < 4; i++)
    io_test_turn(L); /* let the accepts come back into the listener's queue */
  aw_listener_close(l);
  /* Each client sees its connection end: closed by the listener (end of stream) or reset by
   * the kernel if it was still in the listening socket's queue. */
  for (int i = 0; i < 3; i++) {
    aw_val v = io_test_wait(L, aw_sock_recv(L, c[i], 64, NULL));
    if (aw_is_thrown(v))
      assert_errno_rejection(v, ECONNRESET, NULL);
    else {
      assert_int_equal(buf_of(v)->len, 0);
      aw_release_val(v);
    }
    close_fd(L, c[i]);
  }
  close_fd(L, c0);
  close_fd(L, s0);
  assert_int_equal(aw_loop_run(L), 0);
  aw_release_val(l);
  net_done(L);
}

static void test_releasing_a_listener_rejects_its_pending_accept(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  aw_promise *p = aw_tcp_accept(l, NULL);
  io_test_turn(L);
  aw_release_val(l); /* the last reference: the listener goes, its accept rejects */
  rejection r = rejection_of(io_test_wait(L, p));
  assert_true(r.thrown);
  assert_int_equal(r.errnum, ECANCELED);
  assert_non_null(strstr(r.message, ": Operation canceled (ECANCELED)"));
  assert_int_equal(aw_loop_run(L), 0);
  net_done(L);
}

/* "Stops listening: closes the socket", even with the multishot accept in the kernel. */
static void test_closed_listener_refuses_new_connections(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  int port = aw_listener_port(l);
  aw_promise *p = aw_tcp_accept(l, NULL);
  io_test_turn(L); /* the accept is armed in the kernel */
  aw_listener_close(l);
  aw_release_val(io_test_wait(L, p));
  aw_val c = io_test_wait(L, aw_tcp_connect(L, "127.0.0.1", port, NULL));
  if (!aw_is_thrown(c))
    close((int)c.u.i);
  char msg[96];
  snprintf(msg, sizeof msg, "connect 127.0.0.1:%d: Connection refused (ECONNREFUSED)", port);
  aw_release_val(l);
  assert_errno_rejection(c, ECONNREFUSED, msg);
  net_done(L);
}

/* ---- a listener and its loop's end ----------------------------------------------------------- */

/*
 * aw_loop_free closes the loop's listeners and drops their waiting accepts:
 * their promises stay pending for good, nothing settles on the freed loop, and
 * the listener object stays valid (closed) until released. Each of these
 * crashed (a promise of the freed loop settled) or leaked the loop.
 */
static void test_listener_close_after_its_loop_was_freed_does_nothing(void **state) {
  (void)state;
  int64_t before = aw_objects_alive();
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  aw_promise *p = aw_tcp_accept(l, NULL);
  aw_release(aw_promise_catch(p, io_test_ignore, NULL)); /* a reaction, that would be queued */
  io_test_turn(L);                                       /* the multishot accept is in the kernel */
  test_loop = NULL;
  assert_int_equal(aw_loop_free(L), 0);
  int fd_after_free = aw_listener_fd(l);
  aw_listener_close(l); /* a no-op: it was closed with its loop */
  aw_listener_close(l);
  enum aw_state st = aw_promise_state(p);
  assert_null(aw_tcp_accept(l, NULL)); /* the loop is gone */
  aw_release(p);
  aw_release_val(l); /* the last reference: the loop's memory goes with it */
  assert_int_equal(fd_after_free, -1);
  assert_int_equal(st, AW_PENDING);
  assert_int_equal(aw_objects_alive(), before);
}

static void test_aborting_an_accept_signal_after_its_loop_was_freed_does_nothing(void **state) {
  (void)state;
  int64_t before = aw_objects_alive();
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s};
  aw_promise *p = aw_tcp_accept(l, &o);
  aw_release(aw_promise_catch(p, io_test_ignore, NULL));
  io_test_turn(L);
  test_loop = NULL;
  assert_int_equal(aw_loop_free(L), 0);
  assert_int_equal(aw_signal_abort(s, aw_undefined()), 0); /* nobody listens any more */
  enum aw_state st = aw_promise_state(p);
  aw_release(p);
  aw_release(s);
  aw_release_val(l);
  assert_int_equal(st, AW_PENDING);
  assert_int_equal(aw_objects_alive(), before);
}

static void test_releasing_a_listener_after_its_loop_was_freed_frees_everything(void **state) {
  (void)state;
  int64_t before = aw_objects_alive();
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s};
  aw_release(aw_tcp_accept(l, &o)); /* nobody holds the promise but the waiter */
  aw_release(aw_tcp_accept(l, NULL));
  io_test_turn(L);
  test_loop = NULL;
  assert_int_equal(aw_loop_free(L), 0);
  aw_release(s);
  aw_release_val(l); /* waiters, their promises, the signal, the loop: all gone */
  assert_int_equal(aw_objects_alive(), before);
}

/* ---- descriptor exhaustion ----------------------------------------------------------------------
 */

static aw_io_stats io_stats(aw_loop *L) {
  aw_io_stats st;
  assert_int_equal(aw_io_stats_get(L, &st), 0);
  return st;
}

/*
 * Three accepts wait, three connections arrive, and the process has no
 * descriptor to give them: the multishot accept fails with EMFILE. The
 * listener pauses and retries after a back-off (a timer, so no spinning),
 * every accept keeps waiting, and once descriptors are free again each one
 * gets its connection from the backlog. (Before: the first rejected, the
 * others never settled.)
 */
static void
test_accepts_waiting_through_emfile_get_their_connections_once_fds_are_free(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                          .sin_port = htons((uint16_t)aw_listener_port(l))};
  aw_promise *p[3];
  for (int i = 0; i < 3; i++) {
    p[i] = aw_tcp_accept(l, NULL);
    aw_release(aw_promise_catch(p[i], io_test_ignore, NULL));
  }
  int c[3];
  for (int i = 0; i < 3; i++)
    assert_true((c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
  lower_nofile_to_none_free();
  io_test_turn(L); /* the multishot accept is in the kernel (which reads the limit at submission) */
  for (int i = 0; i < 3; i++) /* the kernel completes them into the backlog */
    assert_int_equal(connect(c[i], (struct sockaddr *)&a, sizeof a), 0);
  /* the EMFILE, then two retries after the back-off, each failing again */
  uint64_t want = io_stats(L).completed + 3;
  int turns = 0;
  while (io_stats(L).completed < want && turns++ < 100)
    if (aw_loop_run_once(L, true) != 1)
      break;
  aw_loop_stats ls;
  aw_loop_stats_get(L, &ls);
  enum aw_state st[3];
  for (int i = 0; i < 3; i++)
    st[i] = aw_promise_state(p[i]);
  restore_nofile();
  assert_true(io_stats(L).completed >= want);
  assert_int_equal(ls.timers, 1); /* paused: the back-off timer, not an accept, is pending */
  for (int i = 0; i < 3; i++)
    assert_int_equal(st[i], AW_PENDING);
  for (int i = 0; i < 3; i++) {
    int fd = fd_of(io_test_wait(L, p[i]));
    close(fd);
    close(c[i]);
  }
  listener_drop(l);
  assert_int_equal(aw_loop_run(L), 0);
  net_done(L);
}

/*
 * Out of descriptors, paused: a close through the loop ends the back-off at
 * once (the timer is gone when the close settles), and the waiting accept gets
 * the descriptor the close freed.
 */
static void test_a_close_through_the_loop_ends_the_emfile_back_off_at_once(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                          .sin_port = htons((uint16_t)aw_listener_port(l))};
  aw_promise *p = aw_tcp_accept(l, NULL);
  aw_release(aw_promise_catch(p, io_test_ignore, NULL));
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int spare = open("/dev/null", O_RDONLY | O_CLOEXEC); /* below the limit, freed later */
  assert_true(c >= 0 && spare >= 0);
  lower_nofile_to_none_free();
  io_test_turn(L);
  assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
  uint64_t want = io_stats(L).completed + 1;
  for (int turns = 0; io_stats(L).completed < want && turns < 100; turns++)
    if (aw_loop_run_once(L, true) != 1)
      break;
  aw_loop_stats paused, after_close;
  aw_loop_stats_get(L, &paused);
  aw_val closed = io_test_wait(L, aw_fs_close(L, spare, NULL));
  aw_loop_stats_get(L, &after_close);
  aw_val v = io_test_wait(L, p);
  restore_nofile();
  assert_false(aw_is_thrown(closed));
  assert_int_equal(paused.timers, 1);      /* the back-off */
  assert_int_equal(after_close.timers, 0); /* ended by the close, not by its timer */
  assert_int_equal(fd_of(v), spare);       /* the descriptor the close freed */
  close((int)v.u.i);
  close(c);
  listener_drop(l);
  assert_int_equal(aw_loop_run(L), 0);
  net_done(L);
}

/* A later accept after the exhaustion is over works as usual (the back-off was reset). */
static void test_a_listener_accepts_as_usual_after_emfile(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                          .sin_port = htons((uint16_t)aw_listener_port(l))};
  aw_promise *p = aw_tcp_accept(l, NULL);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(c >= 0);
  lower_nofile_to_none_free();
  io_test_turn(L);
  assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
  uint64_t want = io_stats(L).completed + 1;
  for (int turns = 0; io_stats(L).completed < want && turns < 100; turns++)
    if (aw_loop_run_once(L, true) != 1)
      break;
  restore_nofile();
  close(fd_of(io_test_wait(L, p)));
  close(c);
  for (int i = 0; i < 3; i++) {
    int cl, sv;
    tcp_pair(L, l, "127.0.0.1", &cl, &sv);
    close(cl);
    close(sv);
  }
  listener_drop(l);
  assert_int_equal(aw_loop_run(L), 0);
  net_done(L);
}

/* Errors name the port the listener got, not the 0 it asked for. */
static void test_accept_errors_name_the_bound_port(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  char msg[96];
  snprintf(msg, sizeof msg, "accept 127.0.0.1:%d: Bad file descriptor (EBADF)",
           aw_listener_port(l));
  aw_listener_close(l);
  aw_val v = io_test_wait(L, aw_tcp_accept(l, NULL));
  aw_release_val(l);
  assert_errno_rejection(v, EBADF, msg);
  net_done(L);
}

/*
 * An accept whose SQE had not reached the kernel when its listener was closed
 * must not take the connections of the next listener, which gets the same
 * descriptor number (the fault driver found it: fault-driver io open:4).
 */
static void test_listener_closed_before_its_accept_went_in_spares_the_next_listener(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l1 = listen_ok(L, "127.0.0.1", 0, NULL);
  aw_promise *stale = aw_tcp_accept(l1, NULL); /* its SQE waits for the loop's next turn */
  aw_release(aw_promise_catch(stale, io_test_ignore, NULL));
  aw_listener_close(l1);
  aw_promise *pl = aw_tcp_listen(L, "127.0.0.1", 0, NULL); /* its socket is made now */
  aw_val l2 = io_test_wait(L, pl);
  assert_false(aw_is_thrown(l2));
  aw_signal *deadline = aw_signal_timeout(L, 2000); /* accept ignores timeout_ms */
  aw_promise *pa = aw_tcp_accept(l2, &(aw_io_opts){.signal = deadline});
  aw_release(deadline);
  int client = fd_of(io_test_wait(L, aw_tcp_connect(L, "127.0.0.1", aw_listener_port(l2), NULL)));
  aw_val a = io_test_wait(L, pa); /* before: the stale accept took it, and this timed out */
  aw_release_val(io_test_wait(L, stale));
  close(client);
  listener_drop(l2);
  aw_release_val(l1);
  close(fd_of(a));
  net_done(L);
}

/* ---- the echo: 10 MiB over 100 connections ------------------------------------------------------
 */

#define ECHO_CONNS 100
#define ECHO_TOTAL (10u << 20)

typedef struct echo_ctx {
  aw_val listener;
  int port;
  uint64_t sent, received, matched, mismatched;
  int clients_complete; /* got back exactly what they sent, then end of stream */
  int clients_failed, servers_failed, servers_done, acceptor_failed;
  char first_error[256];
} echo_ctx;

/* Byte k of connection i: a different stream for every connection. */
static uint8_t pattern(int i, size_t k) {
  uint32_t x = (uint32_t)k * 2654435761u + (uint32_t)i * 40503u + 0x9e3779b9u;
  x ^= x >> 15;
  x *= 2246822519u;
  x ^= x >> 13;
  return (uint8_t)(x ^ (uint32_t)i);
}

static size_t echo_len(int i) {
  return ECHO_TOTAL / ECHO_CONNS + ((size_t)i < ECHO_TOTAL % ECHO_CONNS ? 1 : 0);
}

static void note_error(echo_ctx *c, const char *who, aw_val v) {
  if (c->first_error[0])
    return;
  aw_str *s = aw_to_string(v);
  snprintf(c->first_error, sizeof c->first_error, "%s: %s", who, s->data);
  aw_release(s);
}

static aw_val count_server_fail(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  echo_ctx *c = arg;
  c->servers_failed++;
  note_error(c, "server", v);
  return aw_undefined();
}

static aw_val count_server_done(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v;
  ((echo_ctx *)arg)->servers_done++;
  return aw_undefined();
}

/* One per accepted connection: echo until end of stream, then close. */
typedef struct echo_server {
  aw_frame frame;
  echo_ctx *ctx;
  int fd;
} echo_server;

static void echo_server_dispose(aw_frame *self) {
  echo_server *f = (echo_server *)self;
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
}

static void echo_server_body(aw_loop *L, aw_frame *self) {
  echo_server *f = (echo_server *)self;
  AW_BEGIN(self);
  for (;;) {
    aw_val v;
    AW_AWAIT(v, aw_sock_recv(L, f->fd, 65536, NULL));
    aw_buf *b = (aw_buf *)v.u.o;
    if (b->len == 0) {
      aw_release(b);
      break;
    }
    AW_AWAIT_IGNORE(aw_sock_send(L, f->fd, b, NULL)); /* the same buffer goes back */
  }
  {
    int fd = f->fd;
    f->fd = -1;
    AW_AWAIT_IGNORE(aw_fs_close(L, fd, NULL));
  }
  AW_END;
}

/* Accepts ECHO_CONNS connections and starts a server for each. */
typedef struct echo_acceptor {
  aw_frame frame;
  echo_ctx *ctx;
  int i;
} echo_acceptor;

static void echo_acceptor_body(aw_loop *L, aw_frame *self) {
  echo_acceptor *f = (echo_acceptor *)self;
  AW_BEGIN(self);
  for (f->i = 0; f->i < ECHO_CONNS; f->i++) {
    aw_val v;
    AW_AWAIT(v, aw_tcp_accept(f->ctx->listener, NULL));
    AW_ASYNC_NEW_DISPOSE(L, echo_server, echo_server_body, echo_server_dispose, s);
    s->ctx = f->ctx;
    s->fd = (int)v.u.i;
    aw_promise *p = aw_async_start(&s->frame);
    aw_release(aw_promise_then(p, count_server_done, count_server_fail, f->ctx));
    aw_release(p);
  }
  AW_END;
}

/* A client's sending half: its pattern in chunks of varied sizes, then a half close. */
typedef struct echo_sender {
  aw_frame frame;
  echo_ctx *ctx;
  int fd, i;
  size_t n, off;
} echo_sender;

static void echo_sender_body(aw_loop *L, aw_frame *self) {
  echo_sender *f = (echo_sender *)self;
  AW_BEGIN(self);
  while (f->off < f->n) {
    aw_val v;
    size_t chunk = 1 + (f->off * 7 + (size_t)f->i * 131) % 50000;
    if (chunk > f->n - f->off)
      chunk = f->n - f->off;
    {
      aw_buf *b = aw_buf_new(chunk);
      for (size_t k = 0; k < chunk; k++)
        b->data[k] = pattern(f->i, f->off + k);
      b->len = chunk;
      f->off += chunk;
      AW_AWAIT(v, aw_sock_send(L, f->fd, b, NULL));
    }
    f->ctx->sent += (uint64_t)v.u.i;
  }
  AW_AWAIT_IGNORE(aw_sock_shutdown(L, f->fd, SHUT_WR, NULL));
  AW_END;
}

/* A client: connects, sends (concurrently) and checks every byte that comes back. */
typedef struct echo_client {
  aw_frame frame;
  echo_ctx *ctx;
  int fd, i;
  size_t n, got;
  aw_promise *sender;
} echo_client;

static void echo_client_dispose(aw_frame *self) {
  echo_client *f = (echo_client *)self;
  aw_release(f->sender);
  f->sender = NULL;
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
}

static void echo_client_body(aw_loop *L, aw_frame *self) {
  echo_client *f = (echo_client *)self;
  AW_BEGIN(self);
  {
    aw_val v;
    AW_AWAIT(v, aw_tcp_connect(L, "127.0.0.1", f->ctx->port, NULL));
    f->fd = (int)v.u.i;
  }
  {
    AW_ASYNC_NEW(L, echo_sender, echo_sender_body, s);
    s->ctx = f->ctx;
    s->fd = f->fd;
    s->i = f->i;
    s->n = f->n;
    f->sender = aw_async_start(&s->frame);
  }
  for (;;) {
    aw_val v;
    AW_AWAIT(v, aw_sock_recv(L, f->fd, 32768, NULL));
    aw_buf *b = (aw_buf *)v.u.o;
    size_t len = b->len;
    for (size_t k = 0; k < len; k++) {
      if (b->data[k] == pattern(f->i, f->got + k))
        f->ctx->matched++;
      else
        f->ctx->mismatched++;
    }
    aw_release(b);
    if (len == 0)
      break;
    f->got += len;
    f->ctx->received += len;
  }
  {
    aw_promise *s = f->sender;
    f->sender = NULL;
    AW_AWAIT_IGNORE(s);
  }
  {
    int fd = f->fd;
    f->fd = -1;
    AW_AWAIT_IGNORE(aw_fs_close(L, fd, NULL));
  }
  if (f->got == f->n)
    f->ctx->clients_complete++;
  AW_END;
}

static aw_val echo_all_done(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v;
  echo_ctx *c = arg;
  aw_listener_close(c->listener);
  return aw_undefined();
}

static aw_val echo_all_failed(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  echo_ctx *c = arg;
  c->clients_failed++;
  note_error(c, "client", v);
  aw_listener_close(c->listener);
  return aw_undefined();
}

static aw_val echo_acceptor_failed(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  echo_ctx *c = arg;
  c->acceptor_failed++;
  note_error(c, "acceptor", v);
  return aw_undefined();
}

static void test_echo_of_10_mib_over_100_connections_returns_every_byte(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  static echo_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.listener = listen_ok(L, "127.0.0.1", 0, NULL);
  ctx.port = aw_listener_port(ctx.listener);
  {
    AW_ASYNC_NEW(L, echo_acceptor, echo_acceptor_body, a);
    a->ctx = &ctx;
    aw_promise *p = aw_async_start(&a->frame);
    aw_release(aw_promise_catch(p, echo_acceptor_failed, &ctx));
    aw_release(p);
  }
  aw_val clients[ECHO_CONNS];
  for (int i = 0; i < ECHO_CONNS; i++) {
    AW_ASYNC_NEW_DISPOSE(L, echo_client, echo_client_body, echo_client_dispose, c);
    c->ctx = &ctx;
    c->fd = -1;
    c->i = i;
    c->n = echo_len(i);
    clients[i] = aw_v(aw_async_start(&c->frame));
  }
  aw_promise *all = aw_promise_all(L, ECHO_CONNS, clients);
  aw_release(aw_promise_then(all, echo_all_done, echo_all_failed, &ctx));
  aw_release(all);
  io_test_run(L);
  if (ctx.first_error[0])
    fail_msg("%s", ctx.first_error);
  printf("echo: %d connections, %llu bytes sent, %llu received, %llu matched\n", ECHO_CONNS,
         (unsigned long long)ctx.sent, (unsigned long long)ctx.received,
         (unsigned long long)ctx.matched);
  assert_int_equal(ctx.clients_failed, 0);
  assert_int_equal(ctx.servers_failed, 0);
  assert_int_equal(ctx.acceptor_failed, 0);
  assert_int_equal(ctx.servers_done, ECHO_CONNS);
  assert_int_equal(ctx.clients_complete, ECHO_CONNS);
  assert_int_equal(ctx.sent, ECHO_TOTAL);
  assert_int_equal(ctx.received, ECHO_TOTAL);
  assert_int_equal(ctx.mismatched, 0);
  assert_int_equal(ctx.matched, ECHO_TOTAL);
  aw_release_val(ctx.listener);
  net_done(L);
}

/* ---- a peer resetting mid-transfer
 * ----------------------------------------------------------------- */

#define BIG_SEND (32u << 20) /* far more than both socket buffers hold: the send must wait */

static void test_peer_reset_mid_transfer_rejects_the_pending_send(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  int c, s;
  tcp_pair(L, l, "127.0.0.1", &c, &s);
  aw_buf *big = aw_buf_new(BIG_SEND);
  assert_non_null(big);
  memset(big->data, 'z', BIG_SEND);
  big->len = BIG_SEND;
  aw_promise *ps = aw_sock_send(L, c, big, NULL);
  /* The transfer is under way: the server sees the first bytes. */
  aw_buf *first = buf_of(io_test_wait(L, aw_sock_recv(L, s, 65536, NULL)));
  assert_true(first->len > 0);
  assert_int_equal(first->data[0], 'z');
  aw_release(first);
  io_test_turn(L);
  assert_int_equal(aw_promise_state(ps), AW_PENDING);
  reset_and_close(s);
  rejection r = rejection_of(io_test_wait(L, ps));
  assert_true(r.thrown);
  assert_true(r.is_error);
  if (r.errnum != ECONNRESET && r.errnum != EPIPE)
    fail_msg("expected ECONNRESET or EPIPE, got: %s", r.message);
  char prefix[32];
  snprintf(prefix, sizeof prefix, "send fd %d: ", c);
  assert_memory_equal(r.message, prefix, strlen(prefix));
  close_fd(L, c);
  listener_drop(l);
  net_done(L);
}

static void test_peer_reset_mid_transfer_rejects_the_pending_recv(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val l = listen_ok(L, "127.0.0.1", 0, NULL);
  int c, s;
  tcp_pair(L, l, "127.0.0.1", &c, &s);
  static uint8_t part[65536];
  for (size_t k = 0; k < sizeof part; k++)
    part[k] = pattern(7, k);
  send_all(L, c, part, sizeof part);
  recv_exactly(L, s, part, sizeof part);
  aw_promise *pr = aw_sock_recv(L, s, 65536, NULL); /* waits for the rest, which never comes */
  io_test_turn(L);
  assert_int_equal(aw_promise_state(pr), AW_PENDING);
  reset_and_close(c);
  char msg[80];
  snprintf(msg, sizeof msg, "recv fd %d: Connection reset by peer (ECONNRESET)", s);
  assert_errno_rejection(io_test_wait(L, pr), ECONNRESET, msg);
  close_fd(L, s);
  listener_drop(l);
  net_done(L);
}

/* ---- errors of the system, through the ring
 * ------------------------------------------------------- */

static void test_recv_on_a_closed_descriptor_rejects_with_ebadf(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  int fd = sv[0];
  close(sv[0]);
  close(sv[1]);
  char msg[64];
  snprintf(msg, sizeof msg, "recv fd %d: Bad file descriptor (EBADF)", fd);
  assert_errno_rejection(io_test_wait(L, aw_sock_recv(L, fd, 16, NULL)), EBADF, msg);
  net_done(L);
}

static void test_recv_on_a_regular_file_rejects_with_enotsock(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  char msg[80];
  snprintf(msg, sizeof msg, "recv fd %d: Socket operation on non-socket (ENOTSOCK)", fd);
  assert_errno_rejection(io_test_wait(L, aw_sock_recv(L, fd, 16, NULL)), ENOTSOCK, msg);
  close(fd);
  net_done(L);
}

/* ---- bad arguments
 * ---------------------------------------------------------------------------------- */

/* Nothing reached the ring since `before`. */
static void assert_nothing_queued(aw_loop *L, const aw_io_stats *before) {
  aw_io_stats now;
  assert_int_equal(aw_io_stats_get(L, &now), 0);
  assert_int_equal(now.backlogged, before->backlogged);
  assert_int_equal(now.max_inflight, before->max_inflight);
  assert_int_equal(aw_loop_run(L), 0); /* and nothing keeps the loop alive */
  assert_int_equal(aw_io_stats_get(L, &now), 0);
  assert_int_equal(now.submitted, before->submitted);
}

static void test_listen_rejects_a_host_name_with_a_type_error(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  assert_type_error(io_test_wait(L, aw_tcp_listen(L, "example.com", 0, NULL)), "example.com");
  assert_type_error(io_test_wait(L, aw_tcp_listen(L, "127.0.0.1.5", 0, NULL)), "127.0.0.1.5");
  assert_type_error(io_test_wait(L, aw_tcp_listen(L, "::1::", 0, NULL)), "::1::");
  net_done(L);
}

static void test_connect_rejects_a_host_name_with_a_type_error(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_io_stats before;
  assert_int_equal(aw_io_stats_get(L, &before), 0);
  assert_type_error(io_test_wait(L, aw_tcp_connect(L, "example.com", 80, NULL)), "example.com");
  assert_type_error(io_test_wait(L, aw_tcp_connect(L, "256.0.0.1", 80, NULL)), "256.0.0.1");
  assert_nothing_queued(L, &before);
  net_done(L);
}

static void test_listen_and_connect_reject_ports_out_of_range(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_io_stats before;
  assert_int_equal(aw_io_stats_get(L, &before), 0);
  assert_type_error(io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", -1, NULL)), "port -1");
  assert_type_error(io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", 65536, NULL)), "port 65536");
  assert_type_error(io_test_wait(L, aw_tcp_connect(L, "127.0.0.1", -1, NULL)), "port -1");
  assert_type_error(io_test_wait(L, aw_tcp_connect(L, "127.0.0.1", 65536, NULL)), "port 65536");
  assert_type_error(io_test_wait(L, aw_tcp_connect(L, "127.0.0.1", 0, NULL)), "port 0");
  assert_nothing_queued(L, &before);
  net_done(L);
}

static void test_accept_on_a_value_that_is_not_a_listener_returns_null(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val s = aw_string("not a listener");
  assert_null(aw_tcp_accept(aw_null(), NULL));
  assert_null(aw_tcp_accept(aw_undefined(), NULL));
  assert_null(aw_tcp_accept(aw_int(3), NULL));
  assert_null(aw_tcp_accept(s, NULL));
  aw_release_val(s);
  net_done(L);
}

static void test_listener_accessors_on_a_value_that_is_not_a_listener(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_val s = aw_string("not a listener");
  assert_int_equal(aw_listener_fd(aw_null()), -1);
  assert_int_equal(aw_listener_port(aw_null()), 0);
  assert_int_equal(aw_listener_fd(s), -1);
  assert_int_equal(aw_listener_port(s), 0);
  aw_listener_close(aw_null()); /* harmless */
  aw_listener_close(s);
  assert_string_equal(aw_cstr(s), "not a listener");
  aw_release_val(s);
  net_done(L);
}

static void test_socket_ops_on_a_negative_fd_reject_with_ebadf(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  aw_io_stats before;
  assert_int_equal(aw_io_stats_get(L, &before), 0);
  assert_errno_rejection(io_test_wait(L, aw_sock_recv(L, -1, 16, NULL)), EBADF,
                         "recv fd -1: Bad file descriptor (EBADF)");
  assert_errno_rejection(io_test_wait(L, aw_sock_send(L, -1, aw_buf_from("x", 1), NULL)), EBADF,
                         "send fd -1: Bad file descriptor (EBADF)");
  assert_errno_rejection(io_test_wait(L, aw_sock_shutdown(L, -1, SHUT_WR, NULL)), EBADF,
                         "shutdown fd -1: Bad file descriptor (EBADF)");
  assert_nothing_queued(L, &before);
  net_done(L); /* the buffer given to send was released */
}

static void test_negative_fd_error_names_the_descriptor_given(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  assert_errno_rejection(io_test_wait(L, aw_sock_recv(L, -5, 16, NULL)), EBADF,
                         "recv fd -5: Bad file descriptor (EBADF)");
  assert_errno_rejection(io_test_wait(L, aw_sock_send(L, -5, aw_buf_from("x", 1), NULL)), EBADF,
                         "send fd -5: Bad file descriptor (EBADF)");
  net_done(L);
}

static void test_send_of_something_not_a_buffer_rejects_with_a_type_error(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  aw_io_stats before;
  assert_int_equal(aw_io_stats_get(L, &before), 0);
  assert_type_error(io_test_wait(L, aw_sock_send(L, sv[0], NULL, NULL)), "buffer");
  /* a string is not a buffer; it is consumed all the same */
  assert_type_error(io_test_wait(L, aw_sock_send(L, sv[0], (aw_buf *)aw_str_from("text"), NULL)),
                    "buffer");
  assert_nothing_queued(L, &before);
  close(sv[0]);
  close(sv[1]);
  net_done(L);
}

static void test_recv_of_zero_bytes_rejects_with_a_type_error(void **state) {
  (void)state;
  aw_loop *L = net_loop();
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  aw_io_stats before;
  assert_int_equal(aw_io_stats_get(L, &before), 0);
  assert_type_error(io_test_wait(L, aw_sock_recv(L, sv[0], 0, NULL)), "max");
  assert_nothing_queued(L, &before);
  close(sv[0]);
  close(sv[1]);
  net_done(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      NET_TEST(test_listen_on_ipv4_loopback_reports_the_bound_port),
      NET_TEST(test_listen_on_ipv6_loopback_reports_the_bound_port),
      NET_TEST(test_connection_over_ipv6_loopback_carries_data),
      NET_TEST(test_localhost_listens_on_ipv4_loopback),
      NET_TEST(test_two_reuseport_listeners_share_one_port),
      NET_TEST(test_second_listener_without_reuseport_rejects_with_eaddrinuse),
      NET_TEST(test_reuseport_on_only_the_second_listener_rejects_with_eaddrinuse),
      NET_TEST(test_send_and_recv_carry_bytes_both_ways),
      NET_TEST(test_recv_returns_at_most_max_bytes),
      NET_TEST(test_shutdown_write_gives_the_peer_end_of_stream),
      NET_TEST(test_close_gives_the_peer_end_of_stream),
      NET_TEST(test_shutdown_of_an_unconnected_socket_rejects_with_enotconn),
      NET_TEST(test_accepts_take_connections_in_arrival_order),
      NET_TEST(test_connect_to_a_port_nobody_listens_on_rejects_with_econnrefused),
      NET_TEST(test_send_after_the_peer_closed_rejects_with_epipe_without_sigpipe),
      NET_TEST(test_recv_when_the_peer_resets_rejects_with_econnreset),
      NET_TEST(test_closing_a_listener_rejects_pending_accepts),
      NET_TEST(test_accept_on_a_closed_listener_rejects),
      NET_TEST(test_closing_a_listener_ends_connections_accepted_but_not_taken),
      NET_TEST(test_releasing_a_listener_rejects_its_pending_accept),
      NET_TEST(test_closed_listener_refuses_new_connections),
      NET_TEST(test_listener_closed_before_its_accept_went_in_spares_the_next_listener),
      NET_TEST(test_echo_of_10_mib_over_100_connections_returns_every_byte),
      NET_TEST(test_peer_reset_mid_transfer_rejects_the_pending_send),
      NET_TEST(test_peer_reset_mid_transfer_rejects_the_pending_recv),
      NET_TEST(test_recv_on_a_closed_descriptor_rejects_with_ebadf),
      NET_TEST(test_recv_on_a_regular_file_rejects_with_enotsock),
      NET_TEST(test_listen_rejects_a_host_name_with_a_type_error),
      NET_TEST(test_connect_rejects_a_host_name_with_a_type_error),
      NET_TEST(test_listen_and_connect_reject_ports_out_of_range),
      NET_TEST(test_accept_on_a_value_that_is_not_a_listener_returns_null),
      NET_TEST(test_listener_accessors_on_a_value_that_is_not_a_listener),
      NET_TEST(test_socket_ops_on_a_negative_fd_reject_with_ebadf),
      NET_TEST(test_negative_fd_error_names_the_descriptor_given),
      NET_TEST(test_send_of_something_not_a_buffer_rejects_with_a_type_error),
      NET_TEST(test_recv_of_zero_bytes_rejects_with_a_type_error),
      NET_TEST(test_listener_close_after_its_loop_was_freed_does_nothing),
      NET_TEST(test_aborting_an_accept_signal_after_its_loop_was_freed_does_nothing),
      NET_TEST(test_releasing_a_listener_after_its_loop_was_freed_frees_everything),
      NET_TEST(test_accepts_waiting_through_emfile_get_their_connections_once_fds_are_free),
      NET_TEST(test_a_listener_accepts_as_usual_after_emfile),
      NET_TEST(test_a_close_through_the_loop_ends_the_emfile_back_off_at_once),
      NET_TEST(test_accept_errors_name_the_bound_port),
  };
  return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
