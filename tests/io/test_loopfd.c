/*
 * tests/io/test_loopfd.c — aw_loop_fd / aw_loop_timeout: the loop nested in
 * a host's epoll loop.
 *
 * The host is the usual embedding loop: ask aw_loop_timeout, epoll_wait on
 * a set holding aw_loop_fd, run aw_loop_run_once(L, false). Each test checks
 * that the event it is about (a timer, a post from another thread, a socket
 * completion, a nop) wakes the host, and bounds the host's turns, so a fd
 * that stays readable for nothing (a busy spin) fails the test instead of
 * passing slowly. Threads meet through atomics, never through sleeps.
 */
#include "io_test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct host {
  aw_loop *L;
  int ep;
  int turns;        /* epoll_wait + aw_loop_run_once */
  int timed_out;    /* epoll_wait returned nothing */
  int empty;        /* turns that ran no callback (woken for nothing, or for a timer not due) */
  bool use_timeout; /* false: wait on the fd alone (-1) */
} host;

static host host_new(aw_loop *L, bool use_timeout) {
  host h = {.L = L, .use_timeout = use_timeout};
  h.ep = epoll_create1(EPOLL_CLOEXEC);
  assert_true(h.ep >= 0);
  int fd = aw_loop_fd(L);
  assert_true(fd > 2);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  assert_int_equal(epoll_ctl(h.ep, EPOLL_CTL_ADD, fd, &ev), 0);
  return h;
}

static void host_turn(host *h) {
  int t = h->use_timeout ? aw_loop_timeout(h->L) : -1;
  struct epoll_event ev;
  int n;
  while ((n = epoll_wait(h->ep, &ev, 1, t)) < 0 && errno == EINTR) {
  }
  if (n < 0)
    fail_msg("epoll_wait: %s (timeout %d)", strerror(errno), t);
  if (n == 0)
    h->timed_out++;
  h->turns++;
  aw_loop_stats before, after;
  aw_loop_stats_get(h->L, &before);
  int r = aw_loop_run_once(h->L, false);
  aw_loop_stats_get(h->L, &after);
  if (after.macrotasks == before.macrotasks)
    h->empty++;
  assert_true(r == 0 || r == 1);
}

/* Turns until *done, at most max (a spinning fd runs out of them). */
static void host_until(host *h, atomic_int *done, int want, int max) {
  while (atomic_load(done) < want) {
    assert_true(h->turns < max);
    host_turn(h);
  }
}

/* Whether the fd is readable now (no wait). */
static bool readable(host *h, int ms) {
  struct epoll_event ev;
  return epoll_wait(h->ep, &ev, 1, ms) == 1;
}

/*
 * Quiet after at most two more turns: a post's eventfd write may land just
 * after the turn that ran it (the poster read "sleeping" before the loop woke
 * for another reason); the next turn takes it, and no turn after that.
 */
static bool settles(host *h) {
  for (int i = 0; i < 2 && readable(h, 0); i++)
    aw_loop_run_once(h->L, false);
  return !readable(h, 0);
}

static void host_close(host *h) { close(h->ep); }

/* ---- timers ---------------------------------------------------------------------------------- */

static atomic_int ticks;

static void chain(aw_loop *L, void *arg) {
  (void)arg;
  if (atomic_fetch_add(&ticks, 1) + 1 < 3)
    aw_set_timeout(L, 5, chain, NULL);
}

static void timers_wake(bool use_timeout) {
  aw_loop *L = io_test_loop(0);
  host h = host_new(L, use_timeout);
  atomic_store(&ticks, 0);
  aw_set_timeout(L, 5, chain, NULL);
  aw_loop_timeout(L); /* host code queued work: the fd hears of it here (the contract) */
  host_until(&h, &ticks, 3, 3 * 4 + 4);
  print_message("    3 timers: %d host turns, %d of them ran nothing\n", h.turns, h.empty);
  host_close(&h);
  io_test_done(L);
}

static void test_timers_wake_a_host_that_waits_as_told(void **state) {
  (void)state;
  timers_wake(true);
}

static void test_timers_wake_a_host_that_waits_on_the_fd_alone(void **state) {
  (void)state;
  timers_wake(false);
}

/* ---- a post from another thread ----------------------------------------------------------------
 */

#define ROUNDS 200

static atomic_int posted_runs;

static void bump(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  atomic_fetch_add(&posted_runs, 1);
}

static void *poster(void *arg) {
  aw_loop *L = arg;
  for (int i = 0; i < ROUNDS; i++) {
    while (atomic_load(&posted_runs) < i)
      sched_yield();
    if (aw_loop_post(L, bump, NULL) != 0)
      return (void *)1;
  }
  return NULL;
}

static void test_a_post_from_another_thread_wakes_the_host(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  host h = host_new(L, false);
  atomic_store(&posted_runs, 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, poster, L), 0);
  host_until(&h, &posted_runs, ROUNDS, 4 * ROUNDS + 4);
  void *r;
  pthread_join(t, &r);
  assert_null(r);
  print_message("    %d posts: %d host turns, %d of them ran nothing\n", ROUNDS, h.turns, h.empty);
  assert_true(settles(&h)); /* every post taken: quiet again */
  host_close(&h);
  io_test_done(L);
}

/* ---- socket and nop completions -----------------------------------------------------------------
 */

typedef struct pingpong {
  int fd;
  atomic_int got;
} pingpong;

static aw_val on_recv(aw_loop *L, aw_val v, void *arg);

static void recv_next(aw_loop *L, pingpong *pp) {
  aw_promise *p = aw_sock_recv(L, pp->fd, 16, NULL);
  aw_release(aw_promise_then(p, on_recv, NULL, pp));
  aw_release(p);
}

static aw_val on_recv(aw_loop *L, aw_val v, void *arg) {
  pingpong *pp = arg;
  aw_buf *b = aw_is_type(v, AW_T_BUFFER) ? (aw_buf *)v.u.o : NULL;
  if (!b || b->len == 0)
    return aw_undefined(); /* end of stream: the test is over */
  atomic_fetch_add(&pp->got, (int)b->len);
  recv_next(L, pp);
  return aw_undefined();
}

typedef struct writer {
  int fd;
  pingpong *pp;
} writer;

static void *write_rounds(void *arg) {
  writer *w = arg;
  for (int i = 0; i < ROUNDS; i++) {
    while (atomic_load(&w->pp->got) < i)
      sched_yield();
    if (write(w->fd, "x", 1) != 1)
      return (void *)1;
  }
  return NULL;
}

static aw_val nop_done(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  (void)v;
  atomic_fetch_add((atomic_int *)arg, 1);
  return aw_undefined();
}

static void test_socket_and_nop_completions_wake_the_host(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  host h = host_new(L, true);
  atomic_int nops = 0;
  aw_promise *n = aw_io_nop(L, NULL);
  aw_release(aw_promise_then(n, nop_done, NULL, &nops));
  aw_release(n);
  host_until(&h, &nops, 1, 4);

  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  pingpong pp = {.fd = sv[0]};
  recv_next(L, &pp);
  writer w = {sv[1], &pp};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, write_rounds, &w), 0);
  h.turns = 0;
  host_until(&h, &pp.got, ROUNDS, 4 * ROUNDS + 4);
  void *r;
  pthread_join(t, &r);
  assert_null(r);
  print_message("    %d socket completions: %d host turns, %d of them ran nothing\n", ROUNDS,
                h.turns, h.empty);
  shutdown(sv[1], SHUT_WR); /* the last recv ends */
  while (aw_loop_run_once(L, false) == 1)
    host_turn(&h);
  close(sv[0]);
  close(sv[1]);
  host_close(&h);
  io_test_done(L);
}

/* ---- pool jobs
 * ----------------------------------------------------------------------------------- */

static aw_val job_square(aw_job *job, void *arg) {
  (void)job;
  intptr_t x = (intptr_t)arg;
  return aw_int(x * x);
}

static aw_val job_done(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  atomic_fetch_add((atomic_int *)arg, (int)v.u.i);
  return aw_undefined();
}

static void test_pool_job_completions_wake_the_host(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  host h = host_new(L, true);
  atomic_int sum = 0, want = 0;
  for (intptr_t i = 1; i <= 20; i++) {
    aw_promise *p = aw_work(L, job_square, (void *)i, NULL);
    assert_non_null(p);
    aw_release(aw_promise_then(p, job_done, NULL, &sum));
    aw_release(p);
    want += (int)(i * i);
  }
  aw_loop_timeout(L); /* host code queued the jobs: they go to the pool here */
  host_until(&h, &sum, atomic_load(&want), 4 * 20 + 4);
  assert_true(settles(&h));
  host_close(&h);
  io_test_done(L);
}

/* ---- quiet when idle ----------------------------------------------------------------------------
 */

static void local_post(aw_loop *L, void *arg) {
  (void)L;
  atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_an_idle_loop_leaves_the_fd_quiet(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  host h = host_new(L, true);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  pingpong pp = {.fd = sv[0]};
  recv_next(L, &pp); /* pending for ever: in the kernel, not runnable */
  aw_timer far = aw_set_timeout(L, 1000000, local_post, NULL);
  for (int i = 0; i < 4 && readable(&h, 0); i++)
    assert_int_equal(aw_loop_run_once(L, false), 1); /* submits the recv */
  assert_false(readable(&h, 0));
  assert_true(aw_loop_timeout(L) > 900000);
  assert_false(readable(&h, 20)); /* no wake-up for nothing */

  atomic_int runs = 0; /* work queued by host code on the loop's thread shows after timeout */
  assert_int_equal(aw_loop_post(L, local_post, &runs), 0);
  assert_int_equal(aw_loop_timeout(L), 0);
  assert_true(readable(&h, 0));
  assert_int_equal(aw_loop_run_once(L, false), 1);
  assert_int_equal(atomic_load(&runs), 1);
  assert_false(readable(&h, 0));

  aw_clear_timer(L, far);
  shutdown(sv[1], SHUT_WR); /* the recv completes: readable, from the kernel's side */
  assert_true(readable(&h, 5000));
  while (aw_loop_run_once(L, false) == 1)
    host_turn(&h);
  assert_false(readable(&h, 0));
  close(sv[0]);
  close(sv[1]);
  host_close(&h);
  io_test_done(L);
}

/* ---- immediates ------------------------------------------------------------------------------ */

static void imm2(aw_loop *L, void *arg) {
  (void)L;
  atomic_fetch_add((atomic_int *)arg, 1);
}

static void imm1(aw_loop *L, void *arg) { aw_set_immediate(L, imm2, arg); }

static void test_an_immediate_left_runnable_keeps_the_fd_readable(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  host h = host_new(L, true);
  atomic_int done = 0;
  aw_set_immediate(L, imm1, &done);
  assert_int_equal(aw_loop_timeout(L), 0);
  assert_true(readable(&h, 0));
  assert_int_equal(aw_loop_run_once(L, false), 1); /* imm1: imm2 is for the next turn */
  assert_true(readable(&h, 0));
  assert_int_equal(aw_loop_timeout(L), 0);
  assert_int_equal(aw_loop_run_once(L, false), 0);
  assert_int_equal(atomic_load(&done), 1);
  assert_false(readable(&h, 0));
  assert_int_equal(aw_loop_timeout(L), -1);
  host_close(&h);
  io_test_done(L);
}

/* ---- a loop without a ring
 * ----------------------------------------------------------------------- */

static void test_a_loop_without_a_ring_embeds_too(void **state) {
  (void)state;
  int64_t base = aw_objects_alive();
  aw_loop_config cfg = {.no_io = true};
  aw_loop *L = aw_loop_new(&cfg, NULL);
  assert_non_null(L);
  host h = host_new(L, false);
  atomic_store(&ticks, 0);
  aw_set_timeout(L, 5, chain, NULL);
  aw_loop_timeout(L); /* host code queued work: the fd hears of it here (the contract) */
  host_until(&h, &ticks, 3, 3 * 4 + 4);
  atomic_store(&posted_runs, 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, poster, L), 0);
  h.turns = 0;
  host_until(&h, &posted_runs, ROUNDS, 4 * ROUNDS + 4);
  pthread_join(t, NULL);
  assert_true(settles(&h));
  host_close(&h);
  assert_int_equal(aw_loop_free(L), 0);
  assert_int_equal(aw_objects_alive(), base);
}

/* ---- the descriptor itself ----------------------------------------------------------------------
 */

static void *fd_elsewhere(void *arg) {
  intptr_t a = aw_loop_fd(arg), b = aw_loop_timeout(arg);
  return (void *)(a * 1000 + b);
}

static void test_the_fd_is_the_loops_and_goes_with_it(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  assert_int_equal(aw_loop_run_once(L, false), 0);
  assert_int_equal(aw_loop_timeout(L), -1); /* nothing scheduled, no fd yet */
  int fd = aw_loop_fd(L);
  assert_true(fd > 2);
  assert_int_equal(aw_loop_fd(L), fd);
  assert_int_equal(aw_loop_fd(NULL), -EINVAL);
  pthread_t t;
  void *r;
  assert_int_equal(pthread_create(&t, NULL, fd_elsewhere, L), 0);
  pthread_join(t, &r);
  assert_int_equal((intptr_t)r, -EPERM * 1000 - 1);
  io_test_done(L);
  assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed by aw_loop_free */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timers_wake_a_host_that_waits_as_told),
      cmocka_unit_test(test_timers_wake_a_host_that_waits_on_the_fd_alone),
      cmocka_unit_test(test_a_post_from_another_thread_wakes_the_host),
      cmocka_unit_test(test_socket_and_nop_completions_wake_the_host),
      cmocka_unit_test(test_pool_job_completions_wake_the_host),
      cmocka_unit_test(test_an_idle_loop_leaves_the_fd_quiet),
      cmocka_unit_test(test_an_immediate_left_runnable_keeps_the_fd_readable),
      cmocka_unit_test(test_a_loop_without_a_ring_embeds_too),
      cmocka_unit_test(test_the_fd_is_the_loops_and_goes_with_it),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
