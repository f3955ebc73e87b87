/*
 * tests/io/test_idle.c — 15,000 idle connections on one loop while an active
 * client gets every answer, and what an idle connection costs (the issue's
 * goal: at most 1 KiB of user-space memory each, RSS delta / connections).
 *
 * The server is this process's loop: an echo server on aw_receiver (a
 * pending aw_receiver_next per connection, so each idle connection holds a
 * multishot recv and no buffer). The clients are a child process (the
 * descriptor limit, 20,000 here, cannot hold both ends of 15,000
 * connections): one active connection first, then the idle ones, one
 * request/response on the active one after every 1,000 connects, and once the
 * server holds them all (it says so on a pipe) 100 more round trips. Every
 * wait of the child is bounded (poll with a timeout), so a server that stops
 * answering fails the test instead of hanging it. The child is stopped by its
 * PID in every case.
 */
#include "io_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define IDLE 15000
#define ROUND_TRIPS 100

/* ---- the client (the child process: system calls only, no loop) ----------------------------- */

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* One request and its echo within 10 s. */
static bool round_trip(int fd, int i) {
  char msg[32], got[16]; /* 16 bytes go out: "ping-" and 10 digits and the NUL */
  snprintf(msg, sizeof msg, "ping-%010u", (unsigned)i);
  if (write(fd, msg, sizeof got) != (ssize_t)sizeof got)
    return false;
  size_t n = 0;
  while (n < sizeof got) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1)
      return false;
    ssize_t r = read(fd, got + n, sizeof got - n);
    if (r <= 0)
      return false;
    n += (size_t)r;
  }
  return memcmp(msg, got, sizeof got) == 0;
}

static int client(int port, int go_fd, int status_fd) {
  int active = dial(port);
  int st = active < 0 ? 2 : 0;
  for (int i = 0; i < IDLE && !st; i++) {
    if (dial(port) < 0) /* left open: the server holds it idle until the child exits */
      st = 3;
    else if (i % 1000 == 999 && !round_trip(active, i))
      st = 4;
  }
  struct pollfd p = {go_fd, POLLIN, 0};
  if (!st && poll(&p, 1, 120000) != 1)
    st = 5;
  for (int i = 0; i < ROUND_TRIPS && !st; i++)
    if (!round_trip(active, i))
      st = 6;
  char c = (char)st;
  if (write(status_fd, &c, 1) != 1)
    return 7;
  return st;
}

/* ---- the server (this process's loop) ---------------------------------------------------------
 */

typedef struct sconn {
  aw_receiver *r;
  int fd;
} sconn;

static struct {
  aw_val listener;
  int accepted, open, go_fd;
  long rss_base, rss_full;
  bool child_done, closed;
  int child_status;
  int send_failures;
} S;

static long rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &rss) != 2)
      rss = 0;
    fclose(f);
  }
  return rss * sysconf(_SC_PAGESIZE);
}

static void maybe_finish(void) {
  if (S.child_done && S.open == 0 && !S.closed) {
    S.closed = true;
    aw_listener_close(S.listener);
  }
}

static aw_val h_ignore(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v, (void)arg;
  return aw_undefined();
}

static void serve_next(aw_loop *L, sconn *c);

static aw_val on_chunk(aw_loop *L, aw_val v, void *arg) {
  sconn *c = arg;
  if (!aw_is_type(v, AW_T_BUFFER) || ((aw_buf *)v.u.o)->len == 0) { /* end, or an error */
    aw_receiver_free(c->r);
    close(c->fd);
    free(c);
    S.open--;
    maybe_finish();
    return aw_undefined();
  }
  aw_buf *b = (aw_buf *)v.u.o;
  aw_promise *p = aw_sock_send(L, c->fd, aw_retain(b), NULL); /* the ring buffer goes out */
  aw_release(aw_promise_catch(p, h_ignore, NULL));
  aw_release(p);
  serve_next(L, c);
  return aw_undefined();
}

static void serve_next(aw_loop *L, sconn *c) {
  (void)L;
  aw_promise *p = aw_receiver_next(c->r, NULL);
  aw_release(aw_promise_then(p, on_chunk, on_chunk, c));
  aw_release(p);
}

static void accept_next(aw_loop *L);

static aw_val on_accept(aw_loop *L, aw_val v, void *arg) {
  (void)arg;
  sconn *c = malloc(sizeof *c);
  c->fd = (int)v.u.i;
  c->r = aw_receiver_new(L, c->fd);
  if (!c->r) {
    close(c->fd);
    free(c);
    S.send_failures++;
  } else {
    S.accepted++;
    S.open++;
    serve_next(L, c);
  }
  if (S.accepted == 100)
    S.rss_base = rss_bytes();
  if (S.accepted == IDLE + 1) { /* every connection holds a pending next now */
    S.rss_full = rss_bytes();
    char go = 1;
    if (write(S.go_fd, &go, 1) != 1)
      S.send_failures++;
  }
  accept_next(L);
  return aw_undefined();
}

static void accept_next(aw_loop *L) {
  aw_promise *p = aw_tcp_accept(S.listener, NULL);
  if (!p)
    return;
  aw_release(aw_promise_then(p, on_accept, h_ignore, L));
  aw_release(p);
}

static aw_val on_status(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)arg;
  S.child_status =
      aw_is_type(v, AW_T_BUFFER) && ((aw_buf *)v.u.o)->len == 1 ? ((aw_buf *)v.u.o)->data[0] : 100;
  S.child_done = true;
  maybe_finish();
  return aw_undefined();
}

static void test_15000_idle_connections_and_an_active_client_answered_throughout(void **state) {
  (void)state;
  struct rlimit rl;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < IDLE + 200) {
    printf("skipped: RLIMIT_NOFILE's hard limit %llu is below %d\n",
           (unsigned long long)rl.rlim_max, IDLE + 200);
    skip();
  }
  aw_loop *L = io_test_loop(0);
  memset(&S, 0, sizeof S);
  aw_listen_opts lo = {.backlog = 4096};
  aw_promise *lp = aw_tcp_listen(L, "127.0.0.1", 0, &lo);
  S.listener = io_test_take(lp);
  assert_false(aw_is_thrown(S.listener));
  int port = aw_listener_port(S.listener);
  int go[2], status[2];
  assert_int_equal(pipe2(go, O_CLOEXEC), 0);
  assert_int_equal(pipe2(status, O_CLOEXEC), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(go[1]);
    close(status[0]);
    _exit(client(port, go[0], status[1]));
  }
  close(go[0]);
  close(status[1]);
  S.go_fd = go[1];
  accept_next(L);
  aw_promise *sp = aw_fs_read(L, status[0], 1, AW_FS_CUR, NULL);
  aw_release(aw_promise_then(sp, on_status, on_status, NULL));
  aw_release(sp);
  int rc = aw_loop_run(L);
  int ws = 0;
  kill(pid, SIGKILL); /* (already gone when all went well) */
  waitpid(pid, &ws, 0);
  close(go[1]);
  close(status[0]);
  aw_release_val(S.listener);
  double per_conn = (double)(S.rss_full - S.rss_base) / (IDLE + 1 - 100);
  printf("idle connections: %d accepted; RSS %.1f MiB -> %.1f MiB: %.0f B per idle connection; "
         "active client status %d\n",
         S.accepted, S.rss_base / 1048576.0, S.rss_full / 1048576.0, per_conn, S.child_status);
  assert_int_equal(rc, 0);
  assert_int_equal(S.child_status, 0); /* every answer came, within its deadline */
  assert_int_equal(S.accepted, IDLE + 1);
  assert_int_equal(S.send_failures, 0);
  assert_int_equal(S.open, 0);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  assert_true(per_conn <= 1024); /* sanitizers' allocators add their own red zones */
#endif
  io_test_done(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_15000_idle_connections_and_an_active_client_answered_throughout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
