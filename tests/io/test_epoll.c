/*
 * tests/io/test_epoll.c — io/epoll.c, the epoll backend's SQE executor,
 * driven directly with raw SQEs (no op layer): each test fills SQEs with
 * liburing's prep helpers as the op layer does and checks the CQEs the
 * kernel would give (res, F_MORE, F_BUFFER | bid, cancel results).
 *
 * Waits are bounded: collect() enters with a timeout a bounded number of
 * times, so a lost wake-up fails the test instead of hanging it.
 */
#include "io_test.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "executor/internal.h"
#include "io/epoll.h"

/*
 * setsockopt, seen: the test executable's definition comes before libc's for the library's
 * calls too (it is linked in statically), so the tests can tell which sockets the backend
 * asked for TCP_INQ.
 */
static atomic_int tcp_inq_calls;
int setsockopt(int fd, int level, int name, const void *val, socklen_t len) {
  static int (*real)(int, int, int, const void *, socklen_t);
  if (!real)
    real = (int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt");
  if (level == SOL_TCP && name == TCP_INQ)
    atomic_fetch_add(&tcp_inq_calls, 1);
  return real(fd, level, name, val, len);
}

typedef struct env {
  aw_loop *L;
  aw__ep *ep;
} env;

static env env_new(void) {
  aw_loop_config cfg = {.no_io = true};
  env e = {aw_loop_new(&cfg, NULL), NULL};
  assert_non_null(e.L);
  assert_int_equal(aw__ep_new(e.L, 64, &e.ep), 0);
  return e;
}

static void env_free(env *e) {
  aw__cqe c;
  assert_false(aw__ep_peek(e->ep, &c)); /* every CQE was looked at */
  /* The loop first, as aw_loop_free orders it (the pool's part before the backend): it waits
   * until the pool's raw jobs have returned, so no worker is still in aw__ep_post_cqe (which
   * reads ep after its push) when ep goes. */
  io_test_done(e->L);
  aw__ep_free(e->ep);
}

static struct io_uring_sqe *sqe(env *e, uint64_t ud) {
  struct io_uring_sqe *s = aw__ep_get_sqe(e->ep);
  assert_non_null(s);
  s->user_data = ud;
  return s;
}

/* Enters until n CQEs are there (at most `tries` waits of 200 ms); returns how many. */
static unsigned collect(env *e, aw__cqe *out, unsigned n, int tries) {
  unsigned got = 0;
  for (int i = 0; got < n && i < tries; i++) {
    aw__ep_enter(e->ep, got ? 0 : 200);
    while (got < n && aw__ep_peek(e->ep, &out[got]))
      got++;
  }
  return got;
}

/* Enters once without waiting; asserts no CQE came. */
static void none(env *e) {
  aw__ep_enter(e->ep, 0);
  assert_int_equal(aw__ep_cq_ready(e->ep), 0);
}

static void one(env *e, uint64_t ud, int res, uint32_t flags) {
  aw__cqe c;
  assert_int_equal(collect(e, &c, 1, 20), 1);
  assert_int_equal(c.data, ud);
  assert_int_equal(c.res, res);
  assert_int_equal(c.flags, flags);
}

static void pair(int sv[2]) {
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_nop_and_caps(void **state) {
  (void)state;
  env e = env_new();
  aw_io_caps caps = {0};
  aw__ep_caps(e.ep, &caps);
  assert_true(caps.op_supported[IORING_OP_RECV]);
  assert_true(caps.op_supported[IORING_OP_ASYNC_CANCEL]);
  assert_false(caps.op_supported[IORING_OP_SEND_ZC]); /* io/send.c sends plainly */
  assert_int_equal(caps.sq_entries, 64);
  io_uring_prep_nop(sqe(&e, 7));
  assert_int_equal(aw__ep_sq_ready(e.ep), 1);
  one(&e, 7, 0, 0);
  /* the SQ gives out at most its size before a submit */
  for (int i = 0; i < 64; i++)
    io_uring_prep_nop(sqe(&e, 100 + (uint64_t)i));
  assert_null(aw__ep_get_sqe(e.ep));
  assert_int_equal(aw__ep_submit(e.ep), 64);
  aw__cqe c[64];
  assert_int_equal(collect(&e, c, 64, 2), 64);
  for (int i = 0; i < 64; i++)
    assert_int_equal(c[i].data, 100 + (uint64_t)i); /* in order */
  env_free(&e);
}

static void test_socketpair_recv_send(void **state) {
  (void)state;
  env e = env_new();
  int sv[2];
  pair(sv);
  char in[16] = {0};
  io_uring_prep_recv(sqe(&e, 1), sv[0], in, sizeof in, 0);
  none(&e); /* waits for data */
  io_uring_prep_send(sqe(&e, 2), sv[1], "hello", 5, MSG_NOSIGNAL);
  aw__cqe c[2];
  assert_int_equal(collect(&e, c, 2, 20), 2);
  /* the send runs at submit, the recv on the readiness that follows */
  assert_int_equal(c[0].data, 2);
  assert_int_equal(c[0].res, 5);
  assert_int_equal(c[1].data, 1);
  assert_int_equal(c[1].res, 5);
  assert_memory_equal(in, "hello", 5);
  /* data already there: the recv completes at submit */
  assert_int_equal(write(sv[1], "xy", 2), 2);
  io_uring_prep_recv(sqe(&e, 3), sv[0], in, sizeof in, 0);
  one(&e, 3, 2, 0);
  /* EOF */
  io_uring_prep_recv(sqe(&e, 4), sv[0], in, sizeof in, 0);
  none(&e);
  close(sv[1]);
  one(&e, 4, 0, 0);
  close(sv[0]);
  env_free(&e);
}

static void test_waitall_send(void **state) {
  (void)state;
  env e = env_new();
  int sv[2];
  pair(sv);
  size_t len = 4u << 20; /* far more than a socket buffer */
  char *big = malloc(len), *got = malloc(len);
  for (size_t i = 0; i < len; i++)
    big[i] = (char)(i * 7);
  io_uring_prep_send(sqe(&e, 1), sv[0], big, (unsigned)len, MSG_NOSIGNAL | MSG_WAITALL);
  size_t have = 0;
  aw__cqe c = {0};
  for (int i = 0; i < 100000 && !aw__ep_cq_ready(e.ep); i++) {
    aw__ep_enter(e.ep, 0);
    ssize_t n = read(sv[1], got + have, len - have);
    assert_true(n > 0);
    have += (size_t)n;
  }
  assert_true(aw__ep_peek(e.ep, &c));
  assert_int_equal(c.data, 1);
  assert_int_equal(c.res, (int)len);
  while (have < len) {
    ssize_t n = read(sv[1], got + have, len - have);
    assert_true(n > 0);
    have += (size_t)n;
  }
  assert_memory_equal(big, got, len);
  free(big);
  free(got);
  close(sv[0]);
  close(sv[1]);
  env_free(&e);
}

static int tcp_listener(struct sockaddr_in *a) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(l >= 0);
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(l, (struct sockaddr *)a, sizeof *a), 0);
  socklen_t al = sizeof *a;
  assert_int_equal(getsockname(l, (struct sockaddr *)a, &al), 0);
  assert_int_equal(listen(l, 16), 0);
  return l;
}

static void test_multishot_accept_connect(void **state) {
  (void)state;
  env e = env_new();
  struct sockaddr_in a;
  int l = tcp_listener(&a);
  io_uring_prep_multishot_accept(sqe(&e, 9), l, NULL, NULL, SOCK_CLOEXEC);
  none(&e);
  /* three connects through the backend (non-blocking, EINPROGRESS, SO_ERROR) */
  int cl[3];
  for (int i = 0; i < 3; i++) {
    cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    io_uring_prep_connect(sqe(&e, 20 + (uint64_t)i), cl[i], (struct sockaddr *)&a, sizeof a);
  }
  aw__cqe c[6];
  assert_int_equal(collect(&e, c, 6, 50), 6);
  int accepted[3], na = 0, nc = 0;
  for (int i = 0; i < 6; i++) {
    if (c[i].data == 9) {
      assert_true(c[i].res > 2);
      assert_int_equal(c[i].flags, IORING_CQE_F_MORE);
      accepted[na++] = c[i].res;
    } else {
      assert_int_equal(c[i].res, 0);
      nc++;
    }
  }
  assert_int_equal(na, 3);
  assert_int_equal(nc, 3);
  /* an accepted socket is blocking, as the kernel's accept gives it (no SOCK_NONBLOCK) */
  assert_false(fcntl(accepted[0], F_GETFL) & O_NONBLOCK);
  /* a recv on an accepted one works through the backend */
  char buf[8];
  io_uring_prep_recv(sqe(&e, 30), accepted[0], buf, sizeof buf, 0);
  none(&e);
  assert_int_equal(write(cl[0], "abc", 3), 3);
  one(&e, 30, 3, 0);
  /* the multishot accept stays armed until cancelled */
  io_uring_prep_cancel64(sqe(&e, 1), 9, 0);
  assert_int_equal(collect(&e, c, 2, 5), 2);
  assert_int_equal(c[0].data, 9);
  assert_int_equal(c[0].res, -ECANCELED);
  assert_int_equal(c[0].flags, 0);
  assert_int_equal(c[1].data, 1);
  assert_int_equal(c[1].res, 0);
  /* a connect refused */
  close(l);
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  io_uring_prep_connect(sqe(&e, 40), s, (struct sockaddr *)&a, sizeof a);
  one(&e, 40, -ECONNREFUSED, 0);
  close(s);
  for (int i = 0; i < 3; i++) {
    close(cl[i]);
    close(accepted[i]);
  }
  env_free(&e);
}

/*
 * TCP sockets born in the backend (accept, connect) learn from each recv what is left in the
 * queue: recvs that take part of it, all of it, then data with the FIN behind it (the data's
 * recv leaves the FIN queued, its edge already seen: the next recv must still get the end).
 */
static void test_tcp_recv_knows_what_is_left_and_sees_a_fin_behind_data(void **state) {
  (void)state;
  env e = env_new();
  struct sockaddr_in a;
  int l = tcp_listener(&a);
  io_uring_prep_accept(sqe(&e, 1), l, NULL, NULL, SOCK_CLOEXEC);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  io_uring_prep_connect(sqe(&e, 2), c, (struct sockaddr *)&a, sizeof a);
  aw__cqe cq[2];
  assert_int_equal(collect(&e, cq, 2, 50), 2);
  int s = cq[0].data == 1 ? cq[0].res : cq[1].res;
  assert_true(s > 2);
  char buf[8];
  assert_int_equal(write(s, "abc", 3), 3);
  for (int i = 0; i < 3; i++) { /* one byte at a time: the first two leave some */
    io_uring_prep_recv(sqe(&e, 10 + (uint64_t)i), c, buf + i, 1, 0);
    one(&e, 10 + (uint64_t)i, 1, 0);
  }
  assert_memory_equal(buf, "abc", 3);
  io_uring_prep_recv(sqe(&e, 13), c, buf, 1, 0);
  none(&e); /* the queue is empty: it waits */
  assert_int_equal(write(s, "de", 2), 2);
  shutdown(s, SHUT_WR);
  one(&e, 13, 1, 0);
  io_uring_prep_recv(sqe(&e, 14), c, buf, sizeof buf, 0);
  one(&e, 14, 1, 0); /* the rest of the data */
  io_uring_prep_recv(sqe(&e, 15), c, buf, sizeof buf, 0);
  one(&e, 15, 0, 0); /* and the end, whose edge came before */
  io_uring_prep_recv(sqe(&e, 16), s, buf, sizeof buf, 0);
  none(&e);
  close(c);
  one(&e, 16, 0, 0);
  close(s);
  close(l);
  env_free(&e);
}

static void test_reset(void **state) {
  (void)state;
  env e = env_new();
  struct sockaddr_in a;
  int l = tcp_listener(&a);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
  int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  assert_true(s >= 0);
  char buf[8];
  io_uring_prep_recv(sqe(&e, 5), s, buf, sizeof buf, 0);
  none(&e);
  struct linger lg = {1, 0}; /* close with RST */
  assert_int_equal(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  close(c);
  one(&e, 5, -ECONNRESET, 0);
  close(s);
  close(l);
  env_free(&e);
}

static void test_cancel_forms(void **state) {
  (void)state;
  env e = env_new();
  int sv[2];
  pair(sv);
  char b1[4], b2[4], b3[4];
  aw__cqe c[4];
  /* by user_data: 0, then -ENOENT */
  io_uring_prep_recv(sqe(&e, 11), sv[0], b1, sizeof b1, 0);
  none(&e);
  io_uring_prep_cancel64(sqe(&e, 1), 11, 0);
  assert_int_equal(collect(&e, c, 2, 5), 2);
  assert_int_equal(c[0].data, 11);
  assert_int_equal(c[0].res, -ECANCELED);
  assert_int_equal(c[1].res, 0);
  io_uring_prep_cancel64(sqe(&e, 1), 11, 0);
  one(&e, 1, -ENOENT, 0);
  /* by descriptor, all: the count */
  io_uring_prep_recv(sqe(&e, 12), sv[0], b1, sizeof b1, 0);
  io_uring_prep_recv(sqe(&e, 13), sv[0], b2, sizeof b2, 0);
  io_uring_prep_recv(sqe(&e, 14), sv[1], b3, sizeof b3, 0);
  none(&e);
  io_uring_prep_cancel_fd(sqe(&e, 1), sv[0], IORING_ASYNC_CANCEL_ALL);
  assert_int_equal(collect(&e, c, 3, 5), 3);
  assert_int_equal(c[0].data, 12);
  assert_int_equal(c[0].res, -ECANCELED);
  assert_int_equal(c[1].data, 13);
  assert_int_equal(c[2].data, 1);
  assert_int_equal(c[2].res, 2);
  /* by descriptor, the first only: 0 */
  io_uring_prep_recv(sqe(&e, 15), sv[1], b1, sizeof b1, 0);
  none(&e);
  io_uring_prep_cancel_fd(sqe(&e, 1), sv[1], 0);
  assert_int_equal(collect(&e, c, 2, 5), 2);
  assert_int_equal(c[0].data, 14); /* the older one */
  assert_int_equal(c[1].res, 0);
  /* nothing on that descriptor */
  io_uring_prep_cancel_fd(sqe(&e, 1), sv[0], IORING_ASYNC_CANCEL_ALL);
  one(&e, 1, -ENOENT, 0);
  /* any: everything, the wake poll too */
  io_uring_prep_poll_multishot(sqe(&e, 2), e.L->wake_fd, POLLIN);
  io_uring_prep_cancel(sqe(&e, 1), NULL, IORING_ASYNC_CANCEL_ANY);
  assert_int_equal(collect(&e, c, 3, 5), 3);
  bool saw15 = false, saw2 = false;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(c[i].res, -ECANCELED);
    assert_int_equal(c[i].flags, 0);
    saw15 |= c[i].data == 15;
    saw2 |= c[i].data == 2;
  }
  assert_true(saw15 && saw2);
  assert_int_equal(c[2].data, 1);
  assert_int_equal(c[2].res, 2);
  io_uring_prep_cancel(sqe(&e, 1), NULL, IORING_ASYNC_CANCEL_ANY);
  one(&e, 1, -ENOENT, 0);
  /* data sent after the cancels reaches nobody: no CQE */
  assert_int_equal(write(sv[1], "z", 1), 1);
  none(&e);
  close(sv[0]);
  close(sv[1]);
  env_free(&e);
}

static struct io_uring_buf_ring *ring_new(unsigned entries, char (*bufs)[64], unsigned nbufs) {
  struct io_uring_buf_ring *br = NULL;
  assert_int_equal(posix_memalign((void **)&br, 4096, entries * sizeof(struct io_uring_buf)), 0);
  io_uring_buf_ring_init(br);
  for (unsigned i = 0; i < nbufs; i++)
    io_uring_buf_ring_add(br, bufs[i], 64, (unsigned short)(i + 10),
                          io_uring_buf_ring_mask(entries), (int)i);
  io_uring_buf_ring_advance(br, (int)nbufs);
  return br;
}

static void test_buffer_select_multishot(void **state) {
  (void)state;
  env e = env_new();
  static char bufs[2][64];
  struct io_uring_buf_ring *br = ring_new(4, bufs, 2);
  assert_int_equal(aw__ep_buf_ring_register(e.ep, br, 4, 3), 0);
  assert_int_equal(aw__ep_buf_ring_register(e.ep, br, 4, 3), -EEXIST);
  int sv[2];
  pair(sv);
  struct io_uring_sqe *s = sqe(&e, 50);
  io_uring_prep_recv_multishot(s, sv[0], NULL, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = 3;
  none(&e);
  assert_int_equal(write(sv[1], "abc", 3), 3);
  one(&e, 50, 3, IORING_CQE_F_MORE | IORING_CQE_F_BUFFER | 10u << IORING_CQE_BUFFER_SHIFT);
  assert_memory_equal(bufs[0], "abc", 3);
  assert_int_equal(write(sv[1], "de", 2), 2);
  one(&e, 50, 2, IORING_CQE_F_MORE | IORING_CQE_F_BUFFER | 11u << IORING_CQE_BUFFER_SHIFT);
  /* the ring is empty now: the next data ends the multishot recv with ENOBUFS */
  assert_int_equal(write(sv[1], "f", 1), 1);
  one(&e, 50, -ENOBUFS, 0);
  /* the user gives a buffer back (tail moves): a new recv takes it, and the byte waiting */
  io_uring_buf_ring_add(br, bufs[0], 64, 10, io_uring_buf_ring_mask(4), 0);
  io_uring_buf_ring_advance(br, 1);
  s = sqe(&e, 51);
  io_uring_prep_recv(s, sv[0], NULL, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = 3;
  one(&e, 51, 1, IORING_CQE_F_BUFFER | 10u << IORING_CQE_BUFFER_SHIFT);
  /* end of stream: no buffer taken */
  io_uring_buf_ring_add(br, bufs[0], 64, 10, io_uring_buf_ring_mask(4), 0);
  io_uring_buf_ring_advance(br, 1);
  s = sqe(&e, 52);
  io_uring_prep_recv_multishot(s, sv[0], NULL, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = 3;
  none(&e);
  close(sv[1]);
  one(&e, 52, 0, 0);
  aw__ep_buf_ring_unregister(e.ep, 3);
  free(br);
  close(sv[0]);
  env_free(&e);
}

typedef struct poster {
  aw__ep *ep;
  atomic_int go;
} poster;

static void *post_thread(void *arg) {
  poster *p = arg;
  while (!atomic_load(&p->go))
    ;
  for (int i = 0; i < 100; i++)
    aw__ep_post_cqe(p->ep, 1000 + (uint64_t)i, i, 0);
  return NULL;
}

static void test_post_from_thread(void **state) {
  (void)state;
  env e = env_new();
  io_uring_prep_poll_multishot(sqe(&e, 2), e.L->wake_fd, POLLIN);
  aw__ep_submit(e.ep);
  poster p = {e.ep, 0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, post_thread, &p), 0);
  atomic_store(&p.go, 1);
  int next = 0;
  for (int i = 0; i < 1000 && next < 100; i++) {
    aw__ep_enter(e.ep, 1000); /* sleeps: a post must wake it */
    aw__cqe c;
    while (aw__ep_peek(e.ep, &c)) {
      if (c.data == 2) { /* the wake poll: reset the eventfd as the core does */
        assert_int_equal(c.flags, IORING_CQE_F_MORE);
        uint64_t v;
        ssize_t n = read(e.L->wake_fd, &v, sizeof v);
        (void)n;
        continue;
      }
      assert_int_equal(c.data, 1000 + (uint64_t)next); /* in the order of posting */
      assert_int_equal(c.res, next);
      next++;
    }
  }
  assert_int_equal(next, 100);
  pthread_join(t, NULL);
  io_uring_prep_cancel64(sqe(&e, 1), 2, 0);
  aw__cqe c[2];
  assert_int_equal(collect(&e, c, 2, 5), 2);
  /* the wake poll may have fired once more before the cancel: skip such CQEs */
  unsigned k = 0;
  while (c[k].data == 2 && c[k].res != -ECANCELED) {
    c[k] = c[k + 1];
    assert_int_equal(collect(&e, &c[1], 1, 5), 1);
  }
  assert_int_equal(c[0].data, 2);
  assert_int_equal(c[0].res, -ECANCELED);
  assert_int_equal(c[1].res, 0);
  env_free(&e);
}

/*
 * User code closes (close(2)) descriptors the backend registered and gets the same numbers
 * for new sockets: ops on the new ones must complete.
 */
static void test_fd_reuse_after_close(void **state) {
  (void)state;
  env e = env_new();
  int sv[2], nv[2];
  char buf[8];
  pair(sv);
  io_uring_prep_recv(sqe(&e, 60), sv[0], buf, sizeof buf, 0);
  none(&e); /* registered, waiting */
  assert_int_equal(write(sv[1], "a", 1), 1);
  one(&e, 60, 1, 0);
  /* a recv that found nothing: known "not ready" */
  io_uring_prep_recv(sqe(&e, 61), sv[0], buf, sizeof buf, 0);
  none(&e);
  io_uring_prep_cancel64(sqe(&e, 1), 61, 0);
  aw__cqe c[2];
  assert_int_equal(collect(&e, c, 2, 5), 2);
  close(sv[0]);
  close(sv[1]);
  pair(nv);
  if (nv[0] != sv[0])
    print_message("note: the new socket got %d, not %d\n", nv[0], sv[0]);
  /* the old registration is gone with the old file; the new socket has data waiting later */
  io_uring_prep_recv(sqe(&e, 62), nv[0], buf, sizeof buf, 0);
  aw__ep_enter(e.ep, 0);
  assert_int_equal(write(nv[1], "bc", 2), 2);
  one(&e, 62, 2, 0); /* within VERIFY_MS + a few enters */
  /* and once more, now that its registration is known alive */
  io_uring_prep_recv(sqe(&e, 63), nv[0], buf, sizeof buf, 0);
  none(&e);
  assert_int_equal(write(nv[1], "d", 1), 1);
  one(&e, 63, 1, 0);
  close(nv[0]);
  close(nv[1]);
  /* a descriptor closed through the backend with an op waiting: the op stays (as the kernel's,
   * on the old file) until cancelled, and a new socket at that number is not confused with it */
  pair(sv);
  io_uring_prep_recv(sqe(&e, 64), sv[0], buf, sizeof buf, 0);
  none(&e);
  io_uring_prep_close(sqe(&e, 65), sv[0]);
  one(&e, 65, 0, 0);
  pair(nv);
  io_uring_prep_recv(sqe(&e, 66), nv[0], buf, sizeof buf, 0);
  none(&e);
  assert_int_equal(write(nv[1], "e", 1), 1);
  one(&e, 66, 1, 0);
  io_uring_prep_cancel64(sqe(&e, 1), 64, 0);
  assert_int_equal(collect(&e, c, 2, 5), 2);
  assert_int_equal(c[0].data, 64);
  assert_int_equal(c[0].res, -ECANCELED);
  assert_int_equal(c[1].res, 0);
  close(sv[1]);
  close(nv[0]);
  close(nv[1]);
  env_free(&e);
}

static void test_pipe_and_file_rw(void **state) {
  (void)state;
  env e = env_new();
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  char buf[16] = {0};
  io_uring_prep_read(sqe(&e, 70), p[0], buf, sizeof buf, (uint64_t)-1);
  none(&e);
  io_uring_prep_write(sqe(&e, 71), p[1], "pipe", 4, (uint64_t)-1);
  aw__cqe c[2];
  assert_int_equal(collect(&e, c, 2, 20), 2);
  assert_int_equal(c[0].data, 71);
  assert_int_equal(c[0].res, 4);
  assert_int_equal(c[1].data, 70);
  assert_int_equal(c[1].res, 4);
  assert_memory_equal(buf, "pipe", 4);
  close(p[0]);
  close(p[1]);
  /* a regular file: epoll refuses it, the file path runs it */
  char path[64];
  snprintf(path, sizeof path, "/tmp/aw-test-epoll-%d", (int)getpid());
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  io_uring_prep_write(sqe(&e, 72), fd, "file!", 5, (uint64_t)-1);
  one(&e, 72, 5, 0);
  io_uring_prep_read(sqe(&e, 73), fd, buf, sizeof buf, 0);
  one(&e, 73, 5, 0);
  assert_memory_equal(buf, "file!", 5);
  close(fd);
  unlink(path);
  env_free(&e);
}

static void test_poll_and_shutdown(void **state) {
  (void)state;
  env e = env_new();
  int sv[2];
  pair(sv);
  /* writable at once */
  io_uring_prep_poll_add(sqe(&e, 80), sv[0], POLLOUT);
  one(&e, 80, POLLOUT, 0);
  /* readable later */
  io_uring_prep_poll_add(sqe(&e, 81), sv[0], POLLIN);
  none(&e);
  assert_int_equal(write(sv[1], "q", 1), 1);
  one(&e, 81, POLLIN, 0);
  /* shutdown: the peer's recv sees the end */
  char buf[4];
  io_uring_prep_recv(sqe(&e, 82), sv[1], buf, sizeof buf, 0);
  none(&e);
  io_uring_prep_shutdown(sqe(&e, 83), sv[0], SHUT_WR);
  aw__cqe c[2];
  assert_int_equal(collect(&e, c, 2, 20), 2);
  assert_int_equal(c[0].data, 83);
  assert_int_equal(c[0].res, 0);
  assert_int_equal(c[1].data, 82);
  assert_int_equal(c[1].res, 0);
  close(sv[0]);
  close(sv[1]);
  env_free(&e);
}

/* SENDMSG with MSG_WAITALL goes on after short sends across its iovecs, as the kernel's does,
 * and leaves the caller's msghdr and iovecs as they were. */
static void test_waitall_sendmsg_across_iovecs(void **state) {
  (void)state;
  env e = env_new();
  int sv[2];
  pair(sv);
  enum { NIOV = 5 };
  size_t part = 1u << 20, len = NIOV * part; /* far more than a socket buffer */
  char *big = malloc(len), *got = malloc(len);
  for (size_t i = 0; i < len; i++)
    big[i] = (char)(i * 7 + i / 4099);
  struct iovec iov[NIOV], copy[NIOV];
  for (int i = 0; i < NIOV; i++)
    iov[i] = (struct iovec){big + (size_t)i * part, part};
  memcpy(copy, iov, sizeof iov);
  struct msghdr m = {.msg_iov = iov, .msg_iovlen = NIOV};
  io_uring_prep_sendmsg(sqe(&e, 1), sv[0], &m, MSG_NOSIGNAL | MSG_WAITALL);
  size_t have = 0;
  for (int i = 0; i < 100000 && !aw__ep_cq_ready(e.ep); i++) {
    aw__ep_enter(e.ep, 0);
    ssize_t n = read(sv[1], got + have, len - have);
    assert_true(n > 0);
    have += (size_t)n;
  }
  aw__cqe c;
  assert_true(aw__ep_peek(e.ep, &c));
  assert_int_equal(c.data, 1);
  assert_int_equal(c.res, (int)len);
  while (have < len) {
    ssize_t n = read(sv[1], got + have, len - have);
    assert_true(n > 0);
    have += (size_t)n;
  }
  assert_memory_equal(big, got, len);
  assert_memory_equal(iov, copy, sizeof iov);
  assert_int_equal(m.msg_iovlen, NIOV);
  /* without MSG_WAITALL a short sendmsg completes with what it sent */
  io_uring_prep_sendmsg(sqe(&e, 2), sv[0], &m, MSG_NOSIGNAL);
  assert_int_equal(collect(&e, &c, 1, 20), 1);
  assert_int_equal(c.data, 2);
  assert_true(c.res > 0 && (size_t)c.res < len);
  free(big);
  free(got);
  close(sv[0]);
  close(sv[1]);
  env_free(&e);
}

/* Fills sv's send buffer (non-blocking writes until EAGAIN). */
static void fill(int fd) {
  static char junk[65536];
  for (int i = 0; i < 100000; i++)
    if (send(fd, junk, sizeof junk, MSG_DONTWAIT) < 0) {
      assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
      return;
    }
  fail_msg("the send buffer never filled");
}

static void drain(int fd) {
  char buf[65536];
  while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
    ;
}

/* A poll for POLLIN | POLLOUT is woken by either: room to write, or data to read. */
static void test_poll_in_or_out_waits_on_both(void **state) {
  (void)state;
  env e = env_new();
  int sv[2];
  pair(sv);
  fill(sv[0]);
  io_uring_prep_poll_add(sqe(&e, 1), sv[0], POLLIN | POLLOUT);
  none(&e); /* neither readable nor writable */
  drain(sv[1]);
  one(&e, 1, POLLOUT, 0); /* room came */
  fill(sv[0]);
  io_uring_prep_poll_add(sqe(&e, 2), sv[0], POLLIN | POLLOUT);
  none(&e);
  assert_int_equal(write(sv[1], "x", 1), 1);
  one(&e, 2, POLLIN, 0); /* data came */
  /* multishot: both edges, then cancelled */
  char b;
  assert_int_equal(read(sv[0], &b, 1), 1);
  io_uring_prep_poll_multishot(sqe(&e, 3), sv[0], POLLIN | POLLOUT);
  none(&e);
  assert_int_equal(write(sv[1], "y", 1), 1);
  one(&e, 3, POLLIN, IORING_CQE_F_MORE);
  drain(sv[1]);
  aw__cqe c[2];
  assert_int_equal(collect(&e, c, 1, 20), 1);
  assert_int_equal(c[0].data, 3);
  assert_true(c[0].res & POLLOUT);
  assert_int_equal(c[0].flags, IORING_CQE_F_MORE);
  io_uring_prep_cancel64(sqe(&e, 9), 3, 0);
  for (int i = 0; i < 10; i++) { /* edges before the cancel may still report */
    assert_int_equal(collect(&e, c, 1, 20), 1);
    if (c[0].data != 3 || c[0].res == -ECANCELED)
      break;
  }
  assert_int_equal(c[0].data, 3);
  assert_int_equal(c[0].res, -ECANCELED);
  one(&e, 9, 0, 0);
  close(sv[0]);
  close(sv[1]);
  env_free(&e);
}

static int unix_listener(struct sockaddr_un *a, int backlog) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  snprintf(a->sun_path, sizeof a->sun_path, "/tmp/aw-test-epoll-%d.sock", (int)getpid());
  unlink(a->sun_path);
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(l >= 0);
  assert_int_equal(bind(l, (struct sockaddr *)a, sizeof *a), 0);
  assert_int_equal(listen(l, backlog), 0);
  return l;
}

/*
 * A connect to a unix listener whose backlog is full: on a blocking socket it waits until
 * the listener makes room, as io_uring's does; on a non-blocking one it says -EAGAIN (the
 * kernel's answer too); a waiting one can be cancelled.
 */
static void test_connect_to_a_full_unix_backlog_waits(void **state) {
  (void)state;
  env e = env_new();
  struct sockaddr_un a;
  int l = unix_listener(&a, 1);
  int fill_fd[8], nf = 0;
  for (; nf < 8; nf++) { /* fill the backlog */
    fill_fd[nf] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (connect(fill_fd[nf], (struct sockaddr *)&a, sizeof a) < 0) {
      assert_int_equal(errno, EAGAIN);
      close(fill_fd[nf]);
      break;
    }
  }
  assert_true(nf > 0 && nf < 8);
  int nb = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  io_uring_prep_connect(sqe(&e, 1), nb, (struct sockaddr *)&a, sizeof a);
  one(&e, 1, -EAGAIN, 0);
  int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  io_uring_prep_connect(sqe(&e, 2), c, (struct sockaddr *)&a, sizeof a);
  none(&e);
  for (int i = 0; i < 3; i++) { /* tried again (enter waits for the next try), still no room */
    aw__ep_enter(e.ep, 50);
    assert_int_equal(aw__ep_cq_ready(e.ep), 0);
  }
  int s = accept4(l, NULL, NULL, SOCK_CLOEXEC); /* room for one */
  assert_true(s >= 0);
  one(&e, 2, 0, 0);
  /* it is connected: data goes through */
  assert_int_equal(write(c, "ok", 2), 2);
  /* a waiting one cancelled */
  int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  io_uring_prep_connect(sqe(&e, 3), c2, (struct sockaddr *)&a, sizeof a);
  none(&e);
  io_uring_prep_cancel64(sqe(&e, 4), 3, 0);
  aw__cqe cq[2];
  assert_int_equal(collect(&e, cq, 2, 5), 2);
  assert_int_equal(cq[0].data, 3);
  assert_int_equal(cq[0].res, -ECANCELED);
  assert_int_equal(cq[1].data, 4);
  assert_int_equal(cq[1].res, 0);
  none(&e);
  close(c2);
  close(c);
  close(s);
  close(nb);
  for (int i = 0; i < nf; i++)
    close(fill_fd[i]);
  close(l);
  unlink(a.sun_path);
  env_free(&e);
}

/* Sockets accepted from a unix listener are not asked for TCP_INQ (a TCP listener's are), and
 * receiving on them works by the short-recv rule. */
static void test_unix_accept_asks_no_tcp_inq(void **state) {
  (void)state;
  env e = env_new();
  struct sockaddr_un a;
  int l = unix_listener(&a, 16);
  io_uring_prep_multishot_accept(sqe(&e, 1), l, NULL, NULL, SOCK_CLOEXEC);
  none(&e);
  int before = atomic_load(&tcp_inq_calls);
  int cl[3], acc[3];
  for (int i = 0; i < 3; i++) {
    cl[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(cl[i], (struct sockaddr *)&a, sizeof a), 0);
  }
  aw__cqe c[3];
  assert_int_equal(collect(&e, c, 3, 20), 3);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(c[i].data, 1);
    assert_int_equal(c[i].flags, IORING_CQE_F_MORE);
    acc[i] = c[i].res;
  }
  assert_int_equal(atomic_load(&tcp_inq_calls), before);
  char buf[8];
  assert_int_equal(write(cl[0], "abc", 3), 3);
  io_uring_prep_recv(sqe(&e, 2), acc[0], buf, sizeof buf, 0);
  one(&e, 2, 3, 0);
  io_uring_prep_recv(sqe(&e, 3), acc[0], buf, sizeof buf, 0);
  none(&e); /* drained: it waits */
  assert_int_equal(write(cl[0], "d", 1), 1);
  one(&e, 3, 1, 0);
  io_uring_prep_cancel64(sqe(&e, 4), 1, 0);
  assert_int_equal(collect(&e, c, 2, 5), 2);
  assert_int_equal(c[0].res, -ECANCELED);
  /* a TCP listener's accepts are */
  struct sockaddr_in ta;
  int tl = tcp_listener(&ta);
  io_uring_prep_accept(sqe(&e, 5), tl, NULL, NULL, SOCK_CLOEXEC);
  int tc = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_int_equal(connect(tc, (struct sockaddr *)&ta, sizeof ta), 0);
  assert_int_equal(collect(&e, c, 1, 20), 1);
  assert_int_equal(c[0].data, 5);
  assert_true(c[0].res > 2);
  assert_int_equal(atomic_load(&tcp_inq_calls), before + 1);
  close(c[0].res);
  close(tc);
  close(tl);
  for (int i = 0; i < 3; i++) {
    close(cl[i]);
    close(acc[i]);
  }
  close(l);
  unlink(a.sun_path);
  env_free(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nop_and_caps),
      cmocka_unit_test(test_socketpair_recv_send),
      cmocka_unit_test(test_waitall_send),
      cmocka_unit_test(test_multishot_accept_connect),
      cmocka_unit_test(test_tcp_recv_knows_what_is_left_and_sees_a_fin_behind_data),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_cancel_forms),
      cmocka_unit_test(test_buffer_select_multishot),
      cmocka_unit_test(test_post_from_thread),
      cmocka_unit_test(test_fd_reuse_after_close),
      cmocka_unit_test(test_pipe_and_file_rw),
      cmocka_unit_test(test_poll_and_shutdown),
      cmocka_unit_test(test_waitall_sendmsg_across_iovecs),
      cmocka_unit_test(test_poll_in_or_out_waits_on_both),
      cmocka_unit_test(test_connect_to_a_full_unix_backlog_waits),
      cmocka_unit_test(test_unix_accept_asks_no_tcp_inq),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
