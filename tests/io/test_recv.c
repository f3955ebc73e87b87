/*
 * tests/io/test_recv.c — the receive side (aw/io.h "Receivers", io/recv.c,
 * io/bufring.c) and what keeps idle connections from blocking the ring
 * (io/op.c): aw_receiver chunks in order, end of stream, errors, one next at
 * a time, aborts and timeouts that lose no byte, freeing with a next pending,
 * with chunks queued or a completion on the way, aw_loop_free with a
 * receiver's completions in flight, the queue's pause and resume, buffer-ring exhaustion
 * (ENOBUFS: growth, then own buffers) without a hang or a lost byte, chunks
 * released on another thread or after their loop, aw_buf_reserve on a ring
 * chunk, aw_sock_recv with and without a ring buffer, aw_sock_recv_into,
 * TCP_NODELAY on accepted sockets (and the opt-out), aw_sock_peer/local,
 * aw_sock_close ending a pending recv, ops not waiting behind thousands of
 * idle recvs, CQ sizing, and more completions at once than the CQ holds.
 *
 * As in the other io suites: loopback only, ports from port 0, callbacks never
 * assert (they record; the test asserts once the loop returned), and every
 * test frees its loop and checks that nothing is left alive.
 */
#include "io_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------------------- */

#define RECV_TEST(f) cmocka_unit_test_teardown(f, io_test_free_leftover)

static int fd_of(aw_val v) {
  if (aw_is_thrown(v)) {
    aw_error_print(v, stderr);
    fail_msg("expected a descriptor, got a rejection");
  }
  assert_int_equal(aw_tag_of(v), AW_TAG_INT);
  return (int)v.u.i;
}

static aw_buf *buf_of(aw_val v) {
  if (aw_is_thrown(v)) {
    aw_error_print(v, stderr);
    fail_msg("expected a buffer, got a rejection");
  }
  assert_true(aw_is_type(v, AW_T_BUFFER));
  return (aw_buf *)v.u.o;
}

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

static aw_val listen_ok(aw_loop *L, const aw_listen_opts *o) {
  aw_val l = io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", 0, o));
  assert_false(aw_is_thrown(l));
  return l;
}

static void listener_drop(aw_val l) {
  aw_listener_close(l);
  aw_release_val(l);
}

/* A connected pair: *client from aw_tcp_connect, *server from aw_tcp_accept. */
static void tcp_pair(aw_loop *L, aw_val l, int *client, int *server) {
  aw_promise *pa = aw_tcp_accept(l, NULL);
  aw_promise *pc = aw_tcp_connect(L, "127.0.0.1", aw_listener_port(l), NULL);
  *client = fd_of(io_test_wait(L, pc));
  *server = fd_of(io_test_wait(L, pa));
}

/* A socket pair with a loop and a listener already torn down afterwards by the test. */
typedef struct conn {
  aw_val l;
  int c, s;
} conn;

static conn conn_open(aw_loop *L) {
  conn k;
  k.l = listen_ok(L, NULL);
  tcp_pair(L, k.l, &k.c, &k.s);
  return k;
}

static void conn_close(conn *k) {
  close(k->c);
  close(k->s);
  listener_drop(k->l);
}

/* Writes all of data with plain write(2) (loopback: never blocks for small sizes). */
static void put(int fd, const void *data, size_t n) {
  const uint8_t *p = data;
  while (n) {
    ssize_t w = write(fd, p, n);
    assert_true(w > 0);
    p += w;
    n -= (size_t)w;
  }
}

static void reset_and_close(int fd) {
  struct linger lg = {1, 0};
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  assert_int_equal(close(fd), 0);
}

/* Takes chunks from r until n bytes came, comparing them with expected. */
static void next_exactly(aw_loop *L, aw_receiver *r, const uint8_t *expected, size_t n) {
  size_t got = 0;
  while (got < n) {
    aw_buf *b = buf_of(io_test_wait(L, aw_receiver_next(r, NULL)));
    assert_true(b->len > 0);
    assert_true(got + b->len <= n);
    assert_memory_equal(b->data, expected + got, b->len);
    got += b->len;
    aw_release(b);
  }
}

static uint8_t *pattern(size_t n, unsigned seed) {
  uint8_t *p = malloc(n);
  assert_non_null(p);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (uint8_t)(x >> 16);
  }
  return p;
}

/* Raises RLIMIT_NOFILE to its hard limit; skips the test if that is below need. */
static void nofile_at_least(rlim_t need) {
  struct rlimit rl;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    printf("skipped: RLIMIT_NOFILE %llu is below %llu\n", (unsigned long long)rl.rlim_cur,
           (unsigned long long)need);
    skip();
  }
}

/* ---- receivers ------------------------------------------------------------------------------ */

static void test_receiver_gives_the_bytes_in_order(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  assert_non_null(r);
  assert_int_equal(aw_receiver_fd(r), k.s);
  put(k.c, "hello ", 6);
  next_exactly(L, r, (const uint8_t *)"hello ", 6);
  put(k.c, "world", 5);
  next_exactly(L, r, (const uint8_t *)"world", 5);
  aw_receiver_free(r);
  conn_close(&k);
  io_test_done(L);
}

static void test_receiver_chunk_is_a_ring_buffer_of_the_chunk_size(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  put(k.c, "x", 1);
  aw_buf *b = buf_of(io_test_wait(L, aw_receiver_next(r, NULL)));
  size_t len = b->len, cap = b->cap;
  aw_release(b);
  aw_receiver_free(r);
  conn_close(&k);
  assert_int_equal(len, 1);
  assert_int_equal(cap, AW_RECV_CHUNK);
  io_test_done(L);
}

/* Many more chunks than the ring has buffers: each released one goes back and is used again. */
static void test_receiver_reuses_released_buffers_for_64_mib(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  size_t total = (size_t)64 << 20, sent = 0, got = 0, chunks = 0;
  uint8_t block[65536];
  memset(block, 0x5a, sizeof block);
  int fl = fcntl(k.c, F_GETFL);
  fcntl(k.c, F_SETFL, fl | O_NONBLOCK);
  bool bad = false;
  while (got < total) {
    while (sent < total) { /* as much as the socket takes now */
      size_t n = total - sent < sizeof block ? total - sent : sizeof block;
      ssize_t w = write(k.c, block, n);
      if (w <= 0)
        break;
      sent += (size_t)w;
    }
    aw_buf *b = buf_of(io_test_wait(L, aw_receiver_next(r, NULL)));
    for (size_t i = 0; i < b->len; i++)
      bad |= b->data[i] != 0x5a;
    bad |= b->len == 0 || b->cap != AW_RECV_CHUNK;
    got += b->len;
    chunks++;
    aw_release(b);
  }
  aw_receiver_free(r);
  conn_close(&k);
  printf("64 MiB in %zu chunks\n", chunks);
  assert_false(bad);
  assert_int_equal(got, total);
  assert_true(chunks > AW_RECV_RING_MAX);
  io_test_done(L);
}

static void test_receiver_end_of_stream_is_an_empty_buffer_every_time(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  put(k.c, "bye", 3);
  assert_int_equal(shutdown(k.c, SHUT_WR), 0);
  next_exactly(L, r, (const uint8_t *)"bye", 3);
  for (int i = 0; i < 3; i++) {
    aw_buf *b = buf_of(io_test_wait(L, aw_receiver_next(r, NULL)));
    assert_int_equal(b->len, 0);
    aw_release(b);
  }
  aw_receiver_free(r);
  conn_close(&k);
  io_test_done(L);
}

static void test_receiver_waiting_when_the_peer_closes_resolves_empty(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  aw_promise *p = aw_receiver_next(r, NULL);
  io_test_turn(L);
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  close(k.c);
  k.c = -1;
  aw_buf *b = buf_of(io_test_wait(L, p));
  assert_int_equal(b->len, 0);
  aw_release(b);
  aw_receiver_free(r);
  conn_close(&k);
  io_test_done(L);
}

static void test_receiver_reset_rejects_with_econnreset_naming_the_descriptor(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  aw_promise *p = aw_receiver_next(r, NULL);
  io_test_turn(L);
  reset_and_close(k.c);
  k.c = -1;
  rejection e = rejection_of(io_test_wait(L, p));
  char want[64];
  snprintf(want, sizeof want, "recv fd %d: Connection reset by peer (ECONNRESET)", k.s);
  aw_receiver_free(r);
  conn_close(&k);
  assert_true(e.thrown);
  assert_int_equal(e.errnum, ECONNRESET);
  assert_string_equal(e.message, want);
  io_test_done(L);
}

static void test_receiver_second_pending_next_rejects_with_a_type_error(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  aw_promise *first = aw_receiver_next(r, NULL);
  rejection e = rejection_of(io_test_wait(L, aw_receiver_next(r, NULL)));
  assert_int_equal(aw_promise_state(first), AW_PENDING);
  put(k.c, "ok", 2);
  aw_buf *b = buf_of(io_test_wait(L, first));
  bool ok = b->len == 2 && !memcmp(b->data, "ok", 2);
  aw_release(b);
  aw_receiver_free(r);
  conn_close(&k);
  assert_true(e.thrown);
  assert_string_equal(e.name, "TypeError");
  assert_true(ok);
  io_test_done(L);
}

static void test_aborting_a_next_loses_no_byte(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s};
  aw_promise *p = aw_receiver_next(r, &o);
  io_test_turn(L);
  aw_signal_abort(s, aw_undefined());
  rejection e = rejection_of(io_test_wait(L, p));
  put(k.c, "after", 5);
  next_exactly(L, r, (const uint8_t *)"after", 5);
  aw_release(s);
  aw_receiver_free(r);
  conn_close(&k);
  assert_true(e.thrown);
  assert_string_equal(e.name, "AbortError");
  io_test_done(L);
}

static void test_next_timeout_rejects_with_a_timeout_error_and_keeps_the_data(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  aw_io_opts o = {.timeout_ms = 5};
  rejection e = rejection_of(io_test_wait(L, aw_receiver_next(r, &o)));
  put(k.c, "late", 4);
  next_exactly(L, r, (const uint8_t *)"late", 4);
  aw_receiver_free(r);
  conn_close(&k);
  assert_true(e.thrown);
  assert_string_equal(e.name, "TimeoutError");
  io_test_done(L);
}

static void test_next_with_an_aborted_signal_rejects_at_once(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  aw_signal *s = aw_signal_new(L);
  aw_signal_abort(s, aw_undefined());
  aw_io_opts o = {.signal = s};
  aw_promise *p = aw_receiver_next(r, &o);
  enum aw_state st = aw_promise_state(p);
  rejection e = rejection_of(io_test_wait(L, p));
  aw_release(s);
  aw_receiver_free(r);
  conn_close(&k);
  assert_int_equal(st, AW_REJECTED);
  assert_string_equal(e.name, "AbortError");
  io_test_done(L);
}

static void test_freeing_a_receiver_rejects_its_pending_next_with_ecanceled(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  aw_promise *p = aw_receiver_next(r, NULL);
  io_test_turn(L);
  aw_receiver_free(r);
  rejection e = rejection_of(io_test_wait(L, p));
  /* the descriptor stays open and usable */
  put(k.c, "still", 5);
  aw_buf *b = buf_of(io_test_wait(L, aw_sock_recv(L, k.s, 64, NULL)));
  bool ok = b->len == 5 && !memcmp(b->data, "still", 5);
  aw_release(b);
  listener_drop(k.l); /* (an open listener keeps the loop alive) */
  k.l = aw_undefined();
  io_test_run(L); /* the cancelled multishot recv comes back */
  conn_close(&k);
  assert_true(e.thrown);
  assert_int_equal(e.errnum, ECANCELED);
  assert_true(ok);
  io_test_done(L);
}

static void test_freeing_a_receiver_with_chunks_queued_gives_them_back(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  uint8_t *data = pattern(1 << 20, 1);
  int fl = fcntl(k.c, F_GETFL);
  fcntl(k.c, F_SETFL, fl | O_NONBLOCK);
  size_t sent = 0;
  for (int i = 0; i < 100; i++) { /* more than the queue holds: it pauses */
    ssize_t w = write(k.c, data + sent, (1u << 20) - sent);
    if (w > 0)
      sent += (size_t)w;
    io_test_turn(L);
  }
  listener_drop(k.l); /* (an open listener keeps the loop alive) */
  k.l = aw_undefined();
  aw_receiver_free(r);
  io_test_run(L);
  assert_int_equal(shutdown(k.c, SHUT_WR), 0);
  aw_receiver *r2 = aw_receiver_new(L, k.s); /* takes over where the old one stopped */
  size_t rest = 0;
  bool eof = false;
  for (int i = 0; i < 100000 && !eof; i++) {
    aw_buf *b = buf_of(io_test_wait(L, aw_receiver_next(r2, NULL)));
    eof = b->len == 0;
    rest += b->len;
    aw_release(b);
  }
  aw_receiver_free(r2);
  io_test_run(L);
  free(data);
  conn_close(&k);
  printf("sent %zu, %zu after the free\n", sent, rest);
  assert_true(eof);
  assert_true(rest <= sent);
  io_test_done(L);
}

/* Freed while the kernel has already filled a buffer for it (its CQE not reaped yet). */
static void
test_freeing_a_receiver_with_a_completion_on_the_way_gives_the_buffer_back(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  for (int i = 0; i < 200; i++) { /* more than the ring's first buffers */
    aw_receiver *r = aw_receiver_new(L, k.s);
    io_test_turn(L); /* the multishot recv is in the kernel */
    put(k.c, "race", 4);
    aw_receiver_free(r); /* its CQE, with a buffer, comes after */
    io_test_turn(L);
    aw_io_opts o = {.timeout_ms = 1}; /* the bytes went to the freed receiver, or are here */
    aw_release_val(io_test_wait(L, aw_sock_recv(L, k.s, 4, &o)));
  }
  aw_receiver *r = aw_receiver_new(L, k.s);
  put(k.c, "last", 4);
  aw_buf *b = buf_of(io_test_wait(L, aw_receiver_next(r, NULL)));
  bool ok = b->len > 0;
  aw_release(b);
  aw_receiver_free(r);
  conn_close(&k);
  assert_true(ok);
  io_test_done(L);
}

/* aw_loop_free while a receiver's completions are still in the kernel, with chunks queued. */
static void test_loop_free_with_a_receivers_completions_in_flight_frees_everything(void **state) {
  (void)state;
  int64_t before = aw_objects_alive();
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  aw_receiver *r2 = aw_receiver_new(L, k.c);
  put(k.c, "queued", 6);
  for (int i = 0; i < 5; i++)
    io_test_turn(L); /* "queued" is in r's queue */
  put(k.c, "in flight", 9);
  put(k.s, "other way", 9);
  aw_promise *p = aw_receiver_next(r2, NULL);
  io_test_forget(L);
  assert_int_equal(aw_loop_free(L), 0);
  aw_receiver_free(r);
  aw_receiver_free(r2);
  aw_release(p);
  conn_close(&k);
  assert_int_equal(aw_objects_alive(), before);
}

/* With no next pending the queue fills, the recv pauses, and resumes as chunks are taken. */
static void test_receiver_pauses_when_its_queue_is_full_and_loses_nothing(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  size_t n = 2u << 20;
  uint8_t *data = pattern(n, 2);
  int fl = fcntl(k.c, F_GETFL);
  fcntl(k.c, F_SETFL, fl | O_NONBLOCK);
  size_t sent = 0;
  for (int i = 0; i < 200 && sent < n; i++) { /* fill the socket: the queue pauses the recv */
    ssize_t w = write(k.c, data + sent, n - sent);
    if (w > 0)
      sent += (size_t)w;
    io_test_turn(L);
  }
  aw_io_stats st;
  aw_io_stats_get(L, &st);
  size_t got = 0;
  bool bad = false;
  while (got < n) {
    if (sent < n) {
      ssize_t w = write(k.c, data + sent, n - sent);
      if (w > 0)
        sent += (size_t)w;
    }
    aw_buf *b = buf_of(io_test_wait(L, aw_receiver_next(r, NULL)));
    bad |= b->len == 0 || got + b->len > n || memcmp(b->data, data + got, b->len) != 0;
    got += b->len;
    aw_release(b);
    if (bad)
      break;
  }
  free(data);
  aw_receiver_free(r);
  conn_close(&k);
  assert_false(bad);
  assert_int_equal(got, n);
  assert_true(st.cancels > 0); /* it did pause */
  io_test_done(L);
}

/*
 * Every ring buffer held by the user: the ring grows to its largest, and then
 * chunks come in buffers of their own; no byte lost, no hang.
 */
static void test_holding_every_ring_buffer_neither_hangs_nor_loses_data(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  size_t n = AW_RECV_RING_MAX + 100;
  aw_buf **held = calloc(n, sizeof *held);
  assert_non_null(held);
  bool bad = false;
  for (size_t i = 0; i < n && !bad; i++) {
    uint8_t msg[8];
    memcpy(msg, &i, sizeof msg);
    put(k.c, msg, sizeof msg);
    held[i] = buf_of(io_test_wait(L, aw_receiver_next(r, NULL)));
    bad = held[i]->len != sizeof msg || memcmp(held[i]->data, msg, sizeof msg) != 0;
  }
  for (size_t i = 0; i < n; i++)
    aw_release(held[i]);
  free(held);
  /* all back in the ring: the receiver goes on as before */
  put(k.c, "again", 5);
  next_exactly(L, r, (const uint8_t *)"again", 5);
  aw_receiver_free(r);
  conn_close(&k);
  assert_false(bad);
  io_test_done(L);
}

/* The same for aw_sock_recv: an empty ring gives it a buffer of its own. */
static void test_sock_recv_with_every_ring_buffer_held_still_receives(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  size_t n = AW_RECV_RING_MAX + 10;
  aw_buf **held = calloc(n, sizeof *held);
  assert_non_null(held);
  bool bad = false;
  for (size_t i = 0; i < n && !bad; i++) {
    put(k.c, "abcd", 4);
    held[i] = buf_of(io_test_wait(L, aw_sock_recv(L, k.s, 4, NULL)));
    bad = held[i]->len != 4 || memcmp(held[i]->data, "abcd", 4) != 0;
  }
  for (size_t i = 0; i < n; i++)
    aw_release(held[i]);
  free(held);
  conn_close(&k);
  assert_false(bad);
  io_test_done(L);
}

static void *release_on_thread(void *arg) {
  aw_buf **bufs = arg;
  for (int i = 0; bufs[i]; i++)
    aw_release(bufs[i]);
  return NULL;
}

static void test_chunks_released_on_another_thread_go_back_to_the_ring(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  bool bad = false;
  for (int round = 0; round < 3 && !bad; round++) { /* 3 x 1000 > the largest ring */
    aw_buf *bufs[1001] = {0};
    for (int i = 0; i < 1000 && !bad; i++) {
      put(k.c, "t", 1);
      bufs[i] = buf_of(io_test_wait(L, aw_receiver_next(r, NULL)));
      bad = bufs[i]->len != 1;
    }
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_on_thread, bufs), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
  }
  put(k.c, "end", 3);
  next_exactly(L, r, (const uint8_t *)"end", 3);
  aw_receiver_free(r);
  conn_close(&k);
  assert_false(bad);
  io_test_done(L);
}

static void test_a_chunk_outlives_its_loop(void **state) {
  (void)state;
  int64_t before = aw_objects_alive();
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  put(k.c, "keep me", 7);
  aw_buf *b = buf_of(io_test_wait(L, aw_receiver_next(r, NULL)));
  aw_promise *pending = aw_receiver_next(r, NULL); /* dropped unsettled by aw_loop_free */
  conn_close(&k);
  io_test_forget(L);
  assert_int_equal(aw_loop_free(L), 0);
  bool same = b->len == 7 && !memcmp(b->data, "keep me", 7);
  bool inert = aw_receiver_next(r, NULL) == NULL && aw_receiver_fd(r) == -1;
  aw_release(b);       /* the last buffer: the ring's memory goes now */
  aw_receiver_free(r); /* only frees it */
  enum aw_state st = aw_promise_state(pending);
  aw_release(pending);
  assert_true(same);
  assert_true(inert);
  assert_int_equal(st, AW_PENDING);
  assert_int_equal(aw_objects_alive(), before);
}

static void test_reserving_past_a_chunks_cap_copies_it_and_frees_the_ring_buffer(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_receiver *r = aw_receiver_new(L, k.s);
  put(k.c, "grow", 4);
  aw_buf *b = buf_of(io_test_wait(L, aw_receiver_next(r, NULL)));
  int rc = aw_buf_reserve(b, AW_RECV_CHUNK * 2);
  bool ok = b->len == 4 && !memcmp(b->data, "grow", 4) && b->cap == AW_RECV_CHUNK * 2;
  memset(b->data + b->len, 1, b->cap - b->len); /* all of it is ours now */
  aw_release(b);
  aw_receiver_free(r);
  conn_close(&k);
  assert_int_equal(rc, 0);
  assert_true(ok);
  io_test_done(L);
}

static void test_receiver_new_refuses_a_negative_descriptor(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  errno = 0;
  assert_null(aw_receiver_new(L, -1));
  assert_int_equal(errno, EBADF);
  assert_null(aw_receiver_next(NULL, NULL));
  assert_int_equal(aw_receiver_fd(NULL), -1);
  aw_receiver_free(NULL);
  io_test_done(L);
}

static void test_receiver_on_a_file_rejects_with_enotsock(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  aw_receiver *r = aw_receiver_new(L, fd);
  assert_non_null(r);
  rejection e = rejection_of(io_test_wait(L, aw_receiver_next(r, NULL)));
  aw_receiver_free(r);
  close(fd);
  assert_true(e.thrown);
  assert_int_equal(e.errnum, ENOTSOCK);
  io_test_done(L);
}

/* A receiver alone does not keep the loop alive; a pending next does. */
static void test_a_receiver_without_a_pending_next_lets_the_loop_end(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  listener_drop(k.l);
  k.l = aw_undefined();
  aw_receiver *r = aw_receiver_new(L, k.s);
  io_test_run(L); /* returns: nothing waits */
  aw_promise *p = aw_receiver_next(r, NULL);
  assert_int_equal(aw_loop_run_once(L, false), 1); /* alive now */
  put(k.c, "z", 1);
  aw_release_val(io_test_wait(L, p));
  aw_receiver_free(r);
  close(k.c);
  close(k.s);
  io_test_done(L);
}

/* ---- aw_sock_recv, aw_sock_recv_into --------------------------------------------------------- */

static void test_sock_recv_up_to_the_chunk_size_gives_a_ring_buffer(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  put(k.c, "abcdef", 6);
  aw_buf *small = buf_of(io_test_wait(L, aw_sock_recv(L, k.s, 4, NULL)));
  aw_buf *big = buf_of(io_test_wait(L, aw_sock_recv(L, k.s, AW_RECV_CHUNK * 4, NULL)));
  bool ok_small = small->len == 4 && !memcmp(small->data, "abcd", 4) && small->cap == AW_RECV_CHUNK;
  bool ok_big = big->len == 2 && !memcmp(big->data, "ef", 2) && big->cap == AW_RECV_CHUNK * 4;
  aw_release(small);
  aw_release(big);
  shutdown(k.c, SHUT_WR);
  aw_buf *eof = buf_of(io_test_wait(L, aw_sock_recv(L, k.s, 64, NULL)));
  bool ok_eof = eof->len == 0;
  aw_release(eof);
  conn_close(&k);
  assert_true(ok_small);
  assert_true(ok_big);
  assert_true(ok_eof);
  io_test_done(L);
}

static void test_sock_recv_into_appends_to_the_buffer(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_buf *b = aw_buf_new(16);
  memcpy(b->data, "head:", 5);
  b->len = 5;
  put(k.c, "tail", 4);
  aw_retain(b);
  aw_val v = io_test_wait(L, aw_sock_recv_into(L, k.s, b, NULL));
  bool ok = !aw_is_thrown(v) && v.u.i == 4 && b->len == 9 && !memcmp(b->data, "head:tail", 9);
  aw_release_val(v);
  b->len = b->cap; /* full: refused */
  rejection e = rejection_of(io_test_wait(L, aw_sock_recv_into(L, k.s, b, NULL)));
  shutdown(k.c, SHUT_WR);
  aw_val z = io_test_wait(L, aw_sock_recv_into(L, k.s, aw_buf_new(8), NULL));
  conn_close(&k);
  assert_true(ok);
  assert_string_equal(e.name, "TypeError");
  assert_false(aw_is_thrown(z));
  assert_int_equal(z.u.i, 0);
  io_test_done(L);
}

/* ---- accepted sockets, addresses, close ------------------------------------------------------ */

static int nodelay_of(int fd) {
  int v = -1;
  socklen_t n = sizeof v;
  assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &n), 0);
  return v;
}

static void test_accepted_sockets_have_tcp_nodelay(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  int on_server = nodelay_of(k.s), on_client = nodelay_of(k.c);
  conn_close(&k);
  assert_int_not_equal(on_server, 0);
  assert_int_not_equal(on_client, 0);
  io_test_done(L);
}

static void test_no_nodelay_leaves_nagle_on_accepted_sockets(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  aw_listen_opts o = {.no_nodelay = true};
  aw_val l = listen_ok(L, &o);
  int c, s;
  tcp_pair(L, l, &c, &s);
  int v = nodelay_of(s);
  close(c);
  close(s);
  listener_drop(l);
  assert_int_equal(v, 0);
  io_test_done(L);
}

static void test_peer_and_local_addresses_match_across_the_connection(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  char sp[64], sl[64], cp[64], cl[64], tiny[4], want[64];
  assert_int_equal(aw_sock_peer(k.s, sp, sizeof sp), 0);
  assert_int_equal(aw_sock_local(k.s, sl, sizeof sl), 0);
  assert_int_equal(aw_sock_peer(k.c, cp, sizeof cp), 0);
  assert_int_equal(aw_sock_local(k.c, cl, sizeof cl), 0);
  snprintf(want, sizeof want, "127.0.0.1:%d", aw_listener_port(k.l));
  int small = aw_sock_peer(k.s, tiny, sizeof tiny);
  int null = aw_sock_peer(k.s, NULL, 10);
  int bad = aw_sock_peer(-1, sp + 0, 0);
  int badfd = aw_sock_local(9999, cl + 0, sizeof cl);
  conn_close(&k);
  assert_string_equal(sp, cl);
  assert_string_equal(sl, cp);
  assert_string_equal(sl, want);
  assert_int_equal(small, -ENOSPC);
  assert_int_equal(null, -EINVAL);
  assert_int_equal(bad, -EINVAL);
  assert_int_equal(badfd, -EBADF);
  io_test_done(L);
}

static void test_sock_close_ends_a_pending_recv_and_the_peer_sees_the_end(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  conn k = conn_open(L);
  aw_promise *pending = aw_sock_recv(L, k.s, 64, NULL);
  aw_release(aw_promise_catch(pending, io_test_ignore, NULL));
  aw_receiver *r = aw_receiver_new(L, k.s);
  aw_promise *next = aw_receiver_next(r, NULL);
  aw_release(aw_promise_catch(next, io_test_ignore, NULL));
  io_test_turn(L);
  aw_val v = io_test_wait(L, aw_sock_close(L, k.s, NULL));
  bool closed_ok = !aw_is_thrown(v) && aw_is_undefined(v);
  aw_release_val(v);
  rejection e1 = rejection_of(io_test_wait(L, pending));
  rejection e2 = rejection_of(io_test_wait(L, next));
  aw_receiver_free(r);
  char c;
  ssize_t n = read(k.c, &c, 1); /* the FIN came: the pending recv did not keep it open */
  close(k.c);
  listener_drop(k.l);
  assert_true(closed_ok);
  assert_int_equal(e1.errnum, ECANCELED);
  assert_int_equal(e2.errnum, ECANCELED);
  assert_int_equal(n, 0);
  io_test_done(L);
}

/* ---- the ring: idle ops, CQ size, overflow --------------------------------------------------- */

/* 4,000 recvs that never complete, 16 x the budget: a nop and a file read go by at once. */
static void test_thousands_of_idle_recvs_do_not_delay_other_ops(void **state) {
  (void)state;
  nofile_at_least(4200);
  aw_loop *L = io_test_loop_cfg(&(aw_loop_config){.ring_entries = 64, .cq_entries = 256});
  aw_io_caps caps;
  assert_int_equal(aw_io_caps_get(L, &caps), 0);
  enum { N = 2000 };
  int sv[N][2];
  aw_signal *all = aw_signal_new(L);
  aw_io_opts o = {.signal = all};
  aw_promise **ps = calloc(2 * N, sizeof *ps);
  assert_non_null(ps);
  for (int i = 0; i < N; i++) {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]), 0);
    ps[2 * i] = aw_sock_recv(L, sv[i][0], 16, &o);
    ps[2 * i + 1] = aw_sock_recv(L, sv[i][1], 16, &o);
    aw_release(aw_promise_catch(ps[2 * i], io_test_ignore, NULL));
    aw_release(aw_promise_catch(ps[2 * i + 1], io_test_ignore, NULL));
  }
  io_test_turn(L);
  aw_io_stats before;
  aw_io_stats_get(L, &before);
  aw_val v = io_test_wait(L, aw_io_nop(L, NULL));
  aw_release_val(v);
  int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  aw_buf *b = buf_of(io_test_wait(L, aw_fs_read(L, fd, 8, 0, NULL)));
  size_t got = b->len;
  aw_release(b);
  close(fd);
  aw_io_stats after;
  aw_io_stats_get(L, &after);
  aw_signal_abort(all, aw_undefined());
  int aborted = 0;
  for (int i = 0; i < 2 * N; i++) {
    rejection e = rejection_of(io_test_wait(L, ps[i]));
    aborted += e.thrown;
  }
  free(ps);
  for (int i = 0; i < N; i++) {
    close(sv[i][0]);
    close(sv[i][1]);
  }
  aw_release(all);
  assert_true(2 * N > (int)caps.inflight_limit);
  assert_int_equal(after.backlogged, before.backlogged); /* nothing waited in user space */
  assert_int_equal(got, 8);
  assert_int_equal(aborted, 2 * N);
  io_test_done(L);
}

static void test_the_cq_is_sized_for_the_load(void **state) {
  (void)state;
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(NULL, &err);
  if (!L)
    skip();
  aw_io_caps c;
  int r = aw_io_caps_get(L, &c);
  aw_loop_free(L);
  if (r == -ENOSYS)
    skip();
  assert_true(c.cq_entries >= 4096);
  L = aw_loop_new(&(aw_loop_config){.ring_entries = 2048}, &err);
  assert_non_null(L);
  assert_int_equal(aw_io_caps_get(L, &c), 0);
  aw_loop_free(L);
  assert_true(c.cq_entries >= 8192);
  L = aw_loop_new(&(aw_loop_config){.ring_entries = 64, .cq_entries = 128}, &err);
  assert_non_null(L);
  assert_int_equal(aw_io_caps_get(L, &c), 0);
  aw_loop_free(L);
  assert_int_equal(c.cq_entries, 128);
  assert_null(aw_loop_new(&(aw_loop_config){.cq_entries = 65537}, &err));
  rejection e = rejection_of(err);
  assert_string_equal(e.name, "RangeError");
}

typedef struct got_one {
  int done, bytes;
} got_one;

static aw_val on_recv(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  got_one *g = arg;
  g->done++;
  if (aw_is_type(v, AW_T_BUFFER))
    g->bytes += (int)((aw_buf *)v.u.o)->len;
  return aw_undefined();
}

/* 1,500 recvs complete at once on a CQ of 64: the rest overflow (NODROP) and none is lost. */
static void test_more_completions_at_once_than_the_cq_holds_are_all_delivered(void **state) {
  (void)state;
  nofile_at_least(3200);
  aw_loop *L = io_test_loop_cfg(&(aw_loop_config){.ring_entries = 64, .cq_entries = 64});
  enum { N = 1500 };
  int(*sv)[2] = calloc(N, sizeof *sv);
  assert_non_null(sv);
  got_one g = {0, 0};
  for (int i = 0; i < N; i++) {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]), 0);
    aw_promise *p = aw_sock_recv(L, sv[i][0], 16, NULL);
    aw_release(aw_promise_then(p, on_recv, NULL, &g));
    aw_release(p);
  }
  for (int k = 0; k < 10; k++)
    io_test_turn(L); /* all in the kernel */
  for (int i = 0; i < N; i++)
    put(sv[i][1], "abc", 3); /* N completions, the CQ holds 64 */
  io_test_run(L);
  for (int i = 0; i < N; i++) {
    close(sv[i][0]);
    close(sv[i][1]);
  }
  free(sv);
  assert_int_equal(g.done, N);
  assert_int_equal(g.bytes, 3 * N);
  io_test_done(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      RECV_TEST(test_receiver_gives_the_bytes_in_order),
      RECV_TEST(test_receiver_chunk_is_a_ring_buffer_of_the_chunk_size),
      RECV_TEST(test_receiver_reuses_released_buffers_for_64_mib),
      RECV_TEST(test_receiver_end_of_stream_is_an_empty_buffer_every_time),
      RECV_TEST(test_receiver_waiting_when_the_peer_closes_resolves_empty),
      RECV_TEST(test_receiver_reset_rejects_with_econnreset_naming_the_descriptor),
      RECV_TEST(test_receiver_second_pending_next_rejects_with_a_type_error),
      RECV_TEST(test_aborting_a_next_loses_no_byte),
      RECV_TEST(test_next_timeout_rejects_with_a_timeout_error_and_keeps_the_data),
      RECV_TEST(test_next_with_an_aborted_signal_rejects_at_once),
      RECV_TEST(test_freeing_a_receiver_rejects_its_pending_next_with_ecanceled),
      RECV_TEST(test_freeing_a_receiver_with_chunks_queued_gives_them_back),
      RECV_TEST(test_freeing_a_receiver_with_a_completion_on_the_way_gives_the_buffer_back),
      RECV_TEST(test_loop_free_with_a_receivers_completions_in_flight_frees_everything),
      RECV_TEST(test_receiver_pauses_when_its_queue_is_full_and_loses_nothing),
      RECV_TEST(test_holding_every_ring_buffer_neither_hangs_nor_loses_data),
      RECV_TEST(test_sock_recv_with_every_ring_buffer_held_still_receives),
      RECV_TEST(test_chunks_released_on_another_thread_go_back_to_the_ring),
      RECV_TEST(test_a_chunk_outlives_its_loop),
      RECV_TEST(test_reserving_past_a_chunks_cap_copies_it_and_frees_the_ring_buffer),
      RECV_TEST(test_receiver_new_refuses_a_negative_descriptor),
      RECV_TEST(test_receiver_on_a_file_rejects_with_enotsock),
      RECV_TEST(test_a_receiver_without_a_pending_next_lets_the_loop_end),
      RECV_TEST(test_sock_recv_up_to_the_chunk_size_gives_a_ring_buffer),
      RECV_TEST(test_sock_recv_into_appends_to_the_buffer),
      RECV_TEST(test_accepted_sockets_have_tcp_nodelay),
      RECV_TEST(test_no_nodelay_leaves_nagle_on_accepted_sockets),
      RECV_TEST(test_peer_and_local_addresses_match_across_the_connection),
      RECV_TEST(test_sock_close_ends_a_pending_recv_and_the_peer_sees_the_end),
      RECV_TEST(test_thousands_of_idle_recvs_do_not_delay_other_ops),
      RECV_TEST(test_the_cq_is_sized_for_the_load),
      RECV_TEST(test_more_completions_at_once_than_the_cq_holds_are_all_delivered),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
