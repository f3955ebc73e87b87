/*
 * tests/io/test_cancel.c — cancellation and deadlines of I/O operations
 * (aw/io.h, aw/signal.h): an AbortSignal aborting an operation that would
 * block for ever, a custom reason, a signal aborted before the call,
 * aw_signal_timeout and opts.timeout_ms, aborts racing completions (10,000
 * times, at different points), an accept waiter aborted, one signal shared by
 * many operations, an abort of an operation still in the backlog and of a
 * connect in flight.
 *
 * The contract under test: an aborted operation's promise rejects with the
 * signal's reason (the very value), exactly one outcome reaches the code
 * whichever won the race, and nothing is left behind (io_test_done: no object
 * alive; descriptors counted where an operation owned one).
 *
 * Callbacks never assert (a failed assertion must not longjmp out of
 * aw_loop_run): they record, and the test asserts once the loop returned.
 */
#include "io_test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------------------- */

/* The loop of the running test; the teardown frees it if the test failed half-way. */
static aw_loop *test_loop;

static aw_loop *cancel_loop(unsigned entries) { return test_loop = io_test_loop(entries); }

static void cancel_done(aw_loop *L) {
  test_loop = NULL;
  io_test_done(L);
}

static int free_leftover_loop(void **state) {
  (void)state;
  if (test_loop)
    aw_loop_free(test_loop);
  test_loop = NULL;
  return 0;
}

#define CANCEL_TEST(f) cmocka_unit_test_teardown(f, free_leftover_loop)

/* A rejection, copied so the value can be released before anything is asserted. */
typedef struct rejection {
  bool thrown, is_error;
  bool same; /* the very value expected (same object) */
  int errnum;
  char name[32], message[256];
} rejection;

/* `same`: v is s's reason (read here, once v was computed: the wait may abort s). */
static rejection rejection_of(aw_val v, aw_signal *s) {
  rejection r = {.thrown = aw_is_thrown(v)};
  aw_val expected = s ? aw_signal_reason(s) : aw_undefined();
  aw_val c = aw_caught(v);
  r.same = aw_is_obj(c) && aw_is_obj(expected) && c.u.o == expected.u.o;
  aw_error *e = aw_as_error(v);
  if (e) {
    r.is_error = true;
    r.errnum = e->errnum;
    snprintf(r.name, sizeof r.name, "%s", e->name);
    snprintf(r.message, sizeof r.message, "%s", e->message->data);
  } else if (aw_is_string(c)) {
    snprintf(r.message, sizeof r.message, "%s", aw_cstr(c));
  }
  aw_release_val(v);
  return r;
}

/* v is a rejection with exactly s's reason, an error named `name`. Releases v. */
static void assert_aborted_with(aw_val v, aw_signal *s, const char *name) {
  rejection r = rejection_of(v, s);
  assert_true(r.thrown);
  assert_true(r.same);
  assert_true(r.is_error);
  assert_string_equal(r.name, name);
}

static aw_io_stats io_stats(aw_loop *L) {
  aw_io_stats st;
  assert_int_equal(aw_io_stats_get(L, &st), 0);
  return st;
}

static void pair(int sv[2]) {
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int n = 0;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

/*
 * Fills the accept queue of a listener made with backlog 1: two connections
 * nobody accepts (the kernel queues backlog + 1). From then on the kernel
 * drops the SYNs of further connects, so they stay in flight for as long as
 * the test needs. Waits until the listener's queue length (tcpi_unacked of a
 * listening socket) is over its maximum (tcpi_sacked).
 */
static void fill_accept_queue(aw_val listener, int fill[2]) {
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                          .sin_port = htons((uint16_t)aw_listener_port(listener))};
  for (int i = 0; i < 2; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fill[i] >= 0);
    assert_int_equal(connect(fill[i], (struct sockaddr *)&a, sizeof a), 0);
  }
  for (int tries = 0;; tries++) {
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    assert_int_equal(getsockopt(aw_listener_fd(listener), IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    if (ti.tcpi_unacked > ti.tcpi_sacked)
      break;
    assert_true(tries < 10000);
    usleep(1000);
  }
}

/* A recorder for a promise's handlers: how many times they ran, and the outcome. */
typedef struct outcome {
  int calls;
  bool rejected;
  aw_val v;
} outcome;

static aw_val rec_ok(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  outcome *o = arg;
  if (o->calls++ == 0)
    o->v = aw_retain_val(v);
  return aw_undefined();
}

static aw_val rec_err(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  outcome *o = arg;
  if (o->calls++ == 0) {
    o->rejected = true;
    o->v = aw_retain_val(v);
  }
  return aw_undefined();
}

/* Records p's outcome in o; p consumed. */
static void watch(aw_promise *p, outcome *o) {
  assert_non_null(p);
  aw_release(aw_promise_then(p, rec_ok, rec_err, o));
  aw_release(p);
}

static void outcome_clear(outcome *o) {
  aw_release_val(o->v);
  memset(o, 0, sizeof *o);
}

static aw_val abort_in_handler_plain(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v;
  aw_signal_abort(arg, aw_undefined());
  return aw_undefined();
}

/* ---- an abort, a reason -------------------------------------------------------------------------
 */

static void test_abort_rejects_a_blocked_recv_with_the_signals_abort_error(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  int sv[2];
  pair(sv);
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s};
  aw_promise *p = aw_sock_recv(L, sv[0], 16, &o);
  io_test_turn(L); /* in the kernel, waiting for data that never comes */
  assert_int_equal(aw_promise_state(p), AW_PENDING);
  uint64_t cancels = io_stats(L).cancels;
  assert_int_equal(aw_signal_abort(s, aw_undefined()), 0);
  rejection r = rejection_of(io_test_wait(L, p), s);
  assert_true(r.thrown);
  assert_true(r.same);
  assert_string_equal(r.name, "AbortError");
  assert_string_equal(r.message, "This operation was aborted");
  assert_int_equal(io_stats(L).cancels, cancels + 1); /* cancelled in the kernel */
  assert_int_equal(aw_loop_run(L), 0);
  aw_release(s);
  close(sv[0]);
  close(sv[1]);
  cancel_done(L);
}

static void test_aborted_recv_leaves_the_data_for_the_next_recv(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  int sv[2];
  pair(sv);
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s};
  aw_promise *p = aw_sock_recv(L, sv[0], 16, &o);
  io_test_turn(L);
  aw_signal_abort(s, aw_undefined());
  assert_aborted_with(io_test_wait(L, p), s, "AbortError");
  assert_int_equal(write(sv[1], "after", 5), 5);
  aw_val v = io_test_wait(L, aw_sock_recv(L, sv[0], 16, NULL));
  assert_false(aw_is_thrown(v));
  aw_buf *b = (aw_buf *)v.u.o;
  bool same = b->len == 5 && memcmp(b->data, "after", 5) == 0;
  aw_release_val(v);
  assert_true(same);
  aw_release(s);
  close(sv[0]);
  close(sv[1]);
  cancel_done(L);
}

static void test_custom_abort_reason_passes_through(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  int sv[2];
  pair(sv);
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s};
  aw_promise *p = aw_sock_recv(L, sv[0], 16, &o);
  io_test_turn(L);
  aw_signal_abort(s, aw_string("shutting down"));
  rejection r = rejection_of(io_test_wait(L, p), s);
  assert_true(r.thrown);
  assert_true(r.same); /* the reason itself, not a copy or a wrapper */
  assert_false(r.is_error);
  assert_string_equal(r.message, "shutting down");
  aw_release(s);
  close(sv[0]);
  close(sv[1]);
  cancel_done(L);
}

static void test_signal_aborted_before_the_call_rejects_at_once(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  int sv[2];
  pair(sv);
  aw_val l = io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", 0, NULL));
  assert_false(aw_is_thrown(l));
  aw_signal *s = aw_signal_new(L);
  aw_signal_abort(s, aw_err("AbortError", "too late"));
  aw_io_opts o = {.signal = s};
  aw_io_stats before = io_stats(L);
  aw_promise *p[6] = {
      aw_sock_recv(L, sv[0], 16, &o),
      aw_sock_send(L, sv[0], aw_buf_from("x", 1), &o), /* the buffer is consumed all the same */
      aw_io_nop(L, &o),
      aw_fs_read(L, sv[0], 16, -1, &o),
      aw_tcp_connect(L, "127.0.0.1", aw_listener_port(l), &o),
      aw_tcp_accept(l, &o),
  };
  enum aw_state st[6];
  for (int i = 0; i < 6; i++) /* settled before the loop ran at all */
    st[i] = p[i] ? aw_promise_state(p[i]) : AW_PENDING;
  rejection r[6];
  for (int i = 0; i < 6; i++)
    r[i] = rejection_of(io_test_wait(L, p[i]), s);
  aw_io_stats after = io_stats(L);
  aw_listener_close(l);
  aw_release_val(l);
  for (int i = 0; i < 6; i++) {
    assert_int_equal(st[i], AW_REJECTED);
    assert_true(r[i].thrown);
    assert_true(r[i].same);
    assert_string_equal(r[i].message, "too late");
  }
  assert_int_equal(after.backlogged, before.backlogged); /* nothing was queued */
  assert_int_equal(after.max_inflight, before.max_inflight);
  assert_int_equal(after.submitted, before.submitted); /* (the listener's close comes after) */
  assert_int_equal(aw_loop_run(L), 0);
  aw_release(s);
  close(sv[0]);
  close(sv[1]);
  cancel_done(L);
}

static void test_abort_after_the_op_settled_changes_nothing(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s};
  outcome out = {0};
  aw_promise *p = aw_io_nop(L, &o);
  aw_retain(p);
  watch(p, &out);
  io_test_run(L);
  uint64_t cancels = io_stats(L).cancels;
  aw_signal_abort(s, aw_undefined());
  io_test_run(L);
  enum aw_state st = aw_promise_state(p);
  aw_release(p);
  int calls = out.calls;
  bool rejected = out.rejected;
  outcome_clear(&out);
  assert_int_equal(st, AW_FULFILLED);
  assert_int_equal(calls, 1);
  assert_false(rejected);
  assert_int_equal(io_stats(L).cancels, cancels);
  aw_release(s);
  cancel_done(L);
}

/*
 * The race lost by the abort: the recv already took the bytes in the kernel
 * (its completion is in the CQ, not yet dispatched) when a sibling's handler
 * aborts it. "Exactly one outcome ever reaches your code, whichever won the
 * race": here the recv won, so its bytes must reach the code; a rejection is
 * acceptable only if the bytes are still in the socket. Either way, no byte
 * of the stream may vanish.
 */
static void test_aborted_recv_never_loses_bytes_it_took(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  int sv[2];
  pair(sv);
  assert_int_equal(write(sv[1], "x", 1), 1);
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s};
  aw_promise *sibling = aw_io_nop(L, NULL); /* submitted first, completes first */
  outcome out = {0};
  watch(aw_sock_recv(L, sv[0], 16, &o), &out);
  aw_release(aw_promise_then(sibling, abort_in_handler_plain, NULL, s));
  aw_release(sibling);
  io_test_run(L);
  char tmp[16];
  ssize_t left = recv(sv[0], tmp, sizeof tmp, MSG_DONTWAIT);
  bool delivered = out.calls == 1 && !out.rejected && aw_is_type(out.v, AW_T_BUFFER) &&
                   ((aw_buf *)out.v.u.o)->len == 1;
  bool aborted = out.calls == 1 && out.rejected;
  outcome_clear(&out);
  aw_release(s);
  close(sv[0]);
  close(sv[1]);
  assert_true(delivered || aborted);
  if (aborted && left != 1)
    fail_msg("the recv was reported aborted, but the byte it took from the socket is gone");
  if (delivered)
    assert_true(left < 0); /* and nothing left behind twice */
  cancel_done(L);
}

/* ---- deadlines ----------------------------------------------------------------------------------
 */

static void test_signal_timeout_rejects_a_blocked_recv_with_a_timeout_error(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  int sv[2];
  pair(sv);
  aw_signal *s = aw_signal_timeout(L, 5);
  aw_io_opts o = {.signal = s};
  rejection r = rejection_of(io_test_wait(L, aw_sock_recv(L, sv[0], 16, &o)), s);
  assert_true(aw_signal_aborted(s));
  assert_true(r.thrown);
  assert_true(r.same);
  assert_string_equal(r.name, "TimeoutError");
  assert_string_equal(r.message, "The operation was aborted due to timeout");
  aw_release(s);
  close(sv[0]);
  close(sv[1]);
  cancel_done(L);
}

static void test_timeout_ms_rejects_a_blocked_recv_with_a_timeout_error(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  int sv[2];
  pair(sv);
  aw_io_opts o = {.timeout_ms = 5};
  rejection r = rejection_of(io_test_wait(L, aw_sock_recv(L, sv[0], 16, &o)), NULL);
  assert_true(r.thrown);
  assert_true(r.is_error);
  assert_string_equal(r.name, "TimeoutError");
  assert_non_null(strstr(r.message, "aborted due to timeout"));
  assert_int_equal(aw_loop_run(L), 0);
  close(sv[0]);
  close(sv[1]);
  cancel_done(L);
}

/* accept honours timeout_ms as every other op does (it used to be ignored). */
static void test_timeout_ms_rejects_an_accept_nobody_connects_to(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  aw_val l = io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", 0, NULL));
  assert_false(aw_is_thrown(l));
  aw_io_opts o = {.timeout_ms = 5};
  rejection r = rejection_of(io_test_wait(L, aw_tcp_accept(l, &o)), NULL);
  assert_true(r.thrown);
  assert_true(r.is_error);
  assert_string_equal(r.name, "TimeoutError");
  assert_non_null(strstr(r.message, "aborted due to timeout"));
  /* the listener still works: the next accept gets the next connection */
  o.timeout_ms = 3600 * 1000;
  aw_promise *pa = aw_tcp_accept(l, &o);
  aw_val c = io_test_wait(L, aw_tcp_connect(L, "127.0.0.1", aw_listener_port(l), NULL));
  assert_false(aw_is_thrown(c));
  aw_val a = io_test_wait(L, pa);
  assert_false(aw_is_thrown(a));
  close((int)a.u.i);
  close((int)c.u.i);
  aw_listener_close(l);
  aw_release_val(l);
  assert_int_equal(aw_loop_run(L), 0); /* the hour-long deadline went with the accept */
  cancel_done(L);
}

static void test_timeout_ms_of_an_op_that_completes_first_never_fires(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  aw_io_opts o = {.timeout_ms = 3600 * 1000};
  outcome out = {0};
  watch(aw_io_nop(L, &o), &out);
  io_test_run(L); /* returns: the deadline does not hold the loop */
  aw_loop_stats st;
  aw_loop_stats_get(L, &st);
  int calls = out.calls;
  bool rejected = out.rejected;
  outcome_clear(&out);
  assert_int_equal(calls, 1);
  assert_false(rejected);
  assert_int_equal(st.timers, 0); /* the deadline went with the op */
  cancel_done(L);
}

/* ---- cancellation racing completion ------------------------------------------------------------
 */

#define RACE_N 10000
/* K_RECV: the byte is waiting before the recv starts; K_RECV_ARRIVING: it is written just
 * before the abort, so it arrives while the recv waits in the kernel and races the cancel. */
enum { K_READ, K_NOP, K_RECV, K_RECV_ARRIVING, NKINDS };
enum { P_SAME_TICK, P_MICROTASK, P_IMMEDIATE, P_SIBLING_HANDLER, NPOINTS };
static const char *const kind_names[NKINDS] = {"read", "nop", "recv", "recv (arriving)"};
static const char *const point_names[NPOINTS] = {
    "same tick", "next microtask", "next macrotask (immediate)", "a sibling's completion handler"};
static const char race_file_data[] = "0123456789abcdef";

/* What an abort point does: write the arriving byte if there is one, then abort. */
typedef struct race_abort {
  aw_signal *signal;
  int write_fd; /* or -1 */
  int write_errors;
} race_abort;

static void race_abort_now(race_abort *a) {
  if (a->write_fd >= 0 && write(a->write_fd, "x", 1) != 1)
    a->write_errors++;
  aw_signal_abort(a->signal, aw_undefined());
}

static void abort_task(aw_loop *L, void *arg) {
  (void)L;
  race_abort_now(arg);
}

static aw_val abort_in_handler(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v;
  race_abort_now(arg);
  return aw_undefined();
}

/* The value an op of `kind` fulfils with when it was not aborted. */
static bool race_value_ok(int kind, aw_val v) {
  if (kind == K_NOP)
    return aw_is_undefined(v);
  if (!aw_is_type(v, AW_T_BUFFER))
    return false;
  aw_buf *b = (aw_buf *)v.u.o;
  if (kind == K_READ)
    return b->len == sizeof race_file_data - 1 && !memcmp(b->data, race_file_data, b->len);
  return b->len == 1 && b->data[0] == 'x';
}

static void test_cancellation_racing_completion_settles_each_op_exactly_once(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  const char *dir = io_test_dir();
  char path[600];
  snprintf(path, sizeof path, "%s/small", dir);
  int ffd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(ffd >= 0);
  assert_int_equal(write(ffd, race_file_data, sizeof race_file_data - 1),
                   (ssize_t)(sizeof race_file_data - 1));
  int sv[2];
  pair(sv);

  int completed[NKINDS][NPOINTS] = {{0}}, aborted[NKINDS][NPOINTS] = {{0}};
  int recv_aborted_data_kept[NKINDS] = {0}, recv_aborted_data_taken[NKINDS] = {0};
  int bad = 0;
  char first_bad[160] = "";
#define BAD(...)                                                                                   \
  do {                                                                                             \
    if (!bad++)                                                                                    \
      snprintf(first_bad, sizeof first_bad, __VA_ARGS__);                                          \
  } while (0)

  for (int i = 0; i < RACE_N; i++) {
    int kind = i % NKINDS, point = (i / NKINDS) % NPOINTS;
    aw_signal *s = aw_signal_new(L);
    aw_io_opts o = {.signal = s};
    race_abort ab = {s, kind == K_RECV_ARRIVING ? sv[1] : -1, 0};
    if (kind == K_RECV && write(sv[1], "x", 1) != 1)
      BAD("write: %d", errno);
    aw_promise *sibling = point == P_SIBLING_HANDLER ? aw_io_nop(L, NULL) : NULL;
    aw_promise *p = kind == K_READ  ? aw_fs_read(L, ffd, 64, 0, &o)
                    : kind == K_NOP ? aw_io_nop(L, &o)
                                    : aw_sock_recv(L, sv[0], 16, &o);
    outcome out = {0};
    watch(p, &out);
    switch (point) {
    case P_SAME_TICK:
      race_abort_now(&ab);
      break;
    case P_MICROTASK:
      aw_queue_microtask(L, abort_task, &ab);
      break;
    case P_IMMEDIATE:
      aw_set_immediate(L, abort_task, &ab);
      break;
    default: /* the sibling was submitted first: its handler runs between the two completions */
      aw_release(aw_promise_then(sibling, abort_in_handler, NULL, &ab));
      aw_release(sibling);
      break;
    }
    int r = aw_loop_run(L);
    if (r != 0)
      BAD("iteration %d: aw_loop_run returned %d", i, r);
    if (ab.write_errors)
      BAD("iteration %d: write failed", i);
    if (out.calls != 1) {
      BAD("iteration %d (%s, %s): %d handler calls", i, kind_names[kind], point_names[point],
          out.calls);
    } else if (out.rejected) {
      aw_val reason = aw_signal_reason(s);
      if (!aw_is_obj(out.v) || out.v.u.o != reason.u.o)
        BAD("iteration %d (%s, %s): rejected with something else than the reason", i,
            kind_names[kind], point_names[point]);
      aborted[kind][point]++;
    } else {
      if (!race_value_ok(kind, out.v))
        BAD("iteration %d (%s, %s): wrong result", i, kind_names[kind], point_names[point]);
      completed[kind][point]++;
    }
    if (kind == K_RECV || kind == K_RECV_ARRIVING) { /* what the recv left in the socket */
      char tmp[16];
      ssize_t n = recv(sv[0], tmp, sizeof tmp, MSG_DONTWAIT);
      if (n > 1 || (n == 1 && !out.rejected))
        BAD("iteration %d: %zd bytes left in the socket after a recv that %s", i, n,
            out.rejected ? "was aborted" : "fulfilled");
      else if (out.rejected)
        *(n == 1 ? &recv_aborted_data_kept[kind] : &recv_aborted_data_taken[kind]) += 1;
    }
    aw_loop_stats st;
    aw_loop_stats_get(L, &st);
    if (st.promises != 0 || st.timers != 0 || st.immediates != 0)
      BAD("iteration %d: %llu promises, %llu timers, %llu immediates left", i,
          (unsigned long long)st.promises, (unsigned long long)st.timers,
          (unsigned long long)st.immediates);
    outcome_clear(&out);
    aw_release(s);
  }
#undef BAD

  int total_completed = 0, total_aborted = 0;
  printf("cancellation race, %d iterations: result / AbortError\n", RACE_N);
  for (int k = 0; k < NKINDS; k++)
    for (int q = 0; q < NPOINTS; q++) {
      printf("  %-5s aborted at %-31s %5d / %5d\n", kind_names[k], point_names[q], completed[k][q],
             aborted[k][q]);
      total_completed += completed[k][q];
      total_aborted += aborted[k][q];
    }
  for (int k = K_RECV; k <= K_RECV_ARRIVING; k++)
    printf("  aborted %s: %d left the byte in the socket, %d had taken it (lost)\n", kind_names[k],
           recv_aborted_data_kept[k], recv_aborted_data_taken[k]);
  close(ffd);
  close(sv[0]);
  close(sv[1]);
  io_test_rmrf(dir);
  if (bad)
    fail_msg("%d bad iterations; the first: %s", bad, first_bad);
  assert_int_equal(total_completed + total_aborted, RACE_N);
  /* An abort in the same tick always comes before the completion is seen, and a nop is done
   * (submitted and reaped in the I/O phase) before the check phase aborts it: both outcomes. */
  assert_true(total_completed > 0);
  assert_true(total_aborted > 0);
  cancel_done(L);
}

/* ---- accept waiters, shared signals, the backlog, connect
 * ---------------------------------------- */

static void test_aborting_an_accept_waiter_rejects_it_and_leaves_the_next_connection(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  aw_val l = io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", 0, NULL));
  assert_false(aw_is_thrown(l));
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s};
  aw_promise *pa = aw_tcp_accept(l, &o);
  io_test_turn(L);
  assert_int_equal(aw_promise_state(pa), AW_PENDING);
  aw_signal_abort(s, aw_undefined());
  assert_aborted_with(io_test_wait(L, pa), s, "AbortError");
  /* the next connection goes to the next accept, not to the aborted one */
  aw_val c = io_test_wait(L, aw_tcp_connect(L, "127.0.0.1", aw_listener_port(l), NULL));
  aw_val a = io_test_wait(L, aw_tcp_accept(l, NULL));
  assert_false(aw_is_thrown(c));
  assert_false(aw_is_thrown(a));
  assert_int_equal(write((int)c.u.i, "k", 1), 1);
  aw_val v = io_test_wait(L, aw_sock_recv(L, (int)a.u.i, 4, NULL));
  bool got = !aw_is_thrown(v) && ((aw_buf *)v.u.o)->len == 1 && ((aw_buf *)v.u.o)->data[0] == 'k';
  aw_release_val(v);
  assert_true(got);
  close((int)c.u.i);
  close((int)a.u.i);
  aw_listener_close(l);
  aw_release_val(l);
  assert_int_equal(aw_loop_run(L), 0);
  aw_release(s);
  cancel_done(L);
}

#define SHARED_RECVS 20
#define SHARED_READS 5

static void test_one_signal_shared_by_many_ops_aborts_them_all(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(0);
  int sv[2], pp[2];
  pair(sv);
  assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
  aw_val l = io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", 0, NULL));
  assert_false(aw_is_thrown(l));
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s};
  /* one op with the signal that completes before the abort: it stays fulfilled */
  outcome early = {0};
  watch(aw_io_nop(L, &o), &early);
  io_test_run(L);
  enum { N = SHARED_RECVS + SHARED_READS + 1 };
  outcome out[N];
  memset(out, 0, sizeof out);
  for (int i = 0; i < SHARED_RECVS; i++)
    watch(aw_sock_recv(L, sv[0], 16, &o), &out[i]);
  for (int i = 0; i < SHARED_READS; i++)
    watch(aw_fs_read(L, pp[0], 16, -1, &o), &out[SHARED_RECVS + i]);
  watch(aw_tcp_accept(l, &o), &out[N - 1]);
  io_test_turn(L);
  io_test_turn(L);
  int pending_before = 0;
  for (int i = 0; i < N; i++)
    pending_before += out[i].calls == 0;
  aw_signal_abort(s, aw_undefined());
  aw_listener_close(l);
  io_test_run(L);
  aw_val reason = aw_signal_reason(s);
  int aborted = 0, other = 0;
  for (int i = 0; i < N; i++) {
    if (out[i].calls == 1 && out[i].rejected && aw_is_obj(out[i].v) && out[i].v.u.o == reason.u.o)
      aborted++;
    else
      other++;
    outcome_clear(&out[i]);
  }
  int early_calls = early.calls;
  bool early_rejected = early.rejected;
  outcome_clear(&early);
  aw_release_val(l);
  aw_release(s);
  close(sv[0]);
  close(sv[1]);
  close(pp[0]);
  close(pp[1]);
  assert_int_equal(pending_before, N);
  assert_int_equal(aborted, N);
  assert_int_equal(other, 0);
  assert_int_equal(early_calls, 1);
  assert_false(early_rejected);
  cancel_done(L);
}

static void test_abort_of_an_op_waiting_in_the_backlog_settles_it_without_a_cancel(void **state) {
  (void)state;
  aw_loop *L = cancel_loop(16);
  aw_io_caps caps;
  assert_int_equal(aw_io_caps_get(L, &caps), 0);
  int sv[2]; /* a pipe: a read of it is bounded (counted) yet blocks */
  assert_int_equal(pipe2(sv, O_CLOEXEC), 0);
  aw_signal *all = aw_signal_new(L), *one = aw_signal_new(L);
  aw_io_opts o_all = {.signal = all}, o_one = {.signal = one};
  int n = (int)caps.inflight_limit + 8; /* more reads that block than the budget holds */
  outcome *out = calloc((size_t)n, sizeof *out);
  assert_non_null(out);
  for (int i = 0; i < n; i++)
    watch(aw_fs_read(L, sv[0], 16, AW_FS_CUR, &o_all), &out[i]);
  aw_promise *last = aw_fs_read(L, sv[0], 16, AW_FS_CUR, &o_one); /* behind them, in the backlog */
  io_test_turn(L);
  aw_io_stats before = io_stats(L);
  aw_signal_abort(one, aw_undefined());
  enum aw_state at_once = aw_promise_state(last);
  rejection r = rejection_of(io_test_wait(L, last), one);
  aw_io_stats after = io_stats(L);
  aw_signal_abort(all, aw_undefined());
  io_test_run(L);
  int aborted = 0;
  for (int i = 0; i < n; i++) {
    aborted += out[i].calls == 1 && out[i].rejected;
    outcome_clear(&out[i]);
  }
  free(out);
  aw_release(all);
  aw_release(one);
  close(sv[0]);
  close(sv[1]);
  assert_true(before.backlogged > 0);
  assert_int_equal(at_once, AW_REJECTED); /* it never reached the kernel: done at once */
  assert_true(r.thrown);
  assert_true(r.same);
  assert_int_equal(after.cancels, before.cancels); /* no async cancel for it */
  assert_int_equal(aborted, n);
  cancel_done(L);
}

/*
 * A connect that stays in flight: a listener with a backlog of 1 whose queue
 * is full (nobody accepts) drops the SYNs of further connects.
 */
static void test_aborting_a_connect_in_flight_closes_its_socket(void **state) {
  (void)state;
  int fds_before = count_fds();
  aw_loop *L = cancel_loop(0);
  aw_listen_opts lo = {.backlog = 1};
  aw_val l = io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", 0, &lo));
  assert_false(aw_is_thrown(l));
  int fill[2];
  fill_accept_queue(l, fill);
  aw_signal *s = aw_signal_new(L);
  aw_io_opts o = {.signal = s};
  aw_promise *p = aw_tcp_connect(L, "127.0.0.1", aw_listener_port(l), &o);
  io_test_turn(L);
  io_test_turn(L);
  enum aw_state before_abort = aw_promise_state(p);
  aw_signal_abort(s, aw_undefined());
  rejection r = rejection_of(io_test_wait(L, p), s);
  for (int i = 0; i < 2; i++)
    close(fill[i]);
  aw_listener_close(l);
  aw_release_val(l);
  assert_int_equal(aw_loop_run(L), 0);
  aw_release(s);
  assert_int_equal(before_abort, AW_PENDING);
  assert_true(r.thrown);
  assert_true(r.same);
  cancel_done(L);
  assert_int_equal(count_fds(), fds_before); /* the connect's socket was closed */
}

/* ---- aborted multi-step file ops close what they opened ------------------------------------ */

/* A file of n bytes under $TMPDIR; its path in a static buffer (removed by the caller). */
static const char *temp_file(size_t n) {
  static char path[600];
  snprintf(path, sizeof path, "%s/f", io_test_dir());
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  char buf[4096];
  memset(buf, 'x', sizeof buf);
  for (size_t done = 0; done < n;) {
    size_t k = n - done < sizeof buf ? n - done : sizeof buf;
    assert_int_equal(write(fd, buf, k), (ssize_t)k);
    done += k;
  }
  close(fd);
  return path;
}

static void temp_file_remove(const char *path) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s", path);
  *strrchr(dir, '/') = 0;
  io_test_rmrf(dir);
}

/* Descriptors of this process open on path (their /proc/self/fd link names it). */
static int fds_on(const char *path) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char link[300], target[700];
    snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
    ssize_t k = readlink(link, target, sizeof target - 1);
    if (k <= 0)
      continue;
    target[k] = 0;
    n += strcmp(target, path) == 0;
  }
  closedir(d);
  return n;
}

/* Runs L turn by turn (each waits for a completion) until it consumed `n` more CQEs. */
static void run_until_completed(aw_loop *L, uint64_t n) {
  uint64_t want = io_stats(L).completed + n;
  for (int i = 0; io_stats(L).completed < want; i++) {
    assert_true(i < 100);
    assert_int_equal(aw_loop_run_once(L, true), 1);
  }
  assert_true(io_stats(L).completed == want); /* one step at a time: never past it */
}

/*
 * The read the kernel completes anyway: OPEN's and FSTAT's CQEs consumed, the
 * READ is in the SQ, the abort puts its cancel behind it; the kernel reads the
 * cached file inline at submission, before the cancel looks. The op then stops
 * before its close step, which it had not submitted: it must close the file
 * itself (it did not: the step said CLOSE, and on_abort thought it in flight).
 */
static void test_aborted_read_file_whose_last_read_completed_closes_its_file(void **state) {
  (void)state;
  const char *path = temp_file(100);
  aw_loop *L = cancel_loop(0);
  int leaked = 0, wrong = 0;
  for (int round = 0; round < 20; round++) {
    aw_signal *s = aw_signal_new(L);
    aw_io_opts o = {.signal = s};
    aw_promise *p = aw_fs_read_file(L, path, &o);
    run_until_completed(L, 2); /* OPEN, FSTAT */
    aw_signal_abort(s, aw_undefined());
    rejection r = rejection_of(io_test_wait(L, p), s);
    wrong += !(r.thrown && r.same);
    assert_int_equal(aw_loop_run(L), 0);
    leaked += fds_on(path);
    aw_release(s);
  }
  temp_file_remove(path);
  assert_int_equal(wrong, 0);
  assert_int_equal(leaked, 0);
  cancel_done(L);
}

/* The same for write_file: its WRITE completes inline, the op stops before its CLOSE. */
static void test_aborted_write_file_whose_last_write_completed_closes_its_file(void **state) {
  (void)state;
  const char *path = temp_file(0);
  aw_loop *L = cancel_loop(0);
  int leaked = 0, wrong = 0;
  for (int round = 0; round < 20; round++) {
    aw_signal *s = aw_signal_new(L);
    aw_write_file_opts o = {.io.signal = s};
    aw_promise *p = aw_fs_write_file(L, path, aw_buf_from("some bytes", 10), &o);
    run_until_completed(L, 1); /* OPEN: the WRITE is in the SQ */
    aw_signal_abort(s, aw_undefined());
    aw_val v = io_test_wait(L, p);
    if (aw_is_thrown(v)) {
      rejection r = rejection_of(v, s);
      wrong += !r.same;
    } else {
      aw_release_val(v); /* the kernel won every step: the write is done, nothing open */
    }
    assert_int_equal(aw_loop_run(L), 0);
    leaked += fds_on(path);
    aw_release(s);
  }
  temp_file_remove(path);
  assert_int_equal(wrong, 0);
  assert_int_equal(leaked, 0);
  cancel_done(L);
}

/*
 * The close an aborted op does in the background is done when aw_loop_run
 * returns: OPEN's CQE consumed, FSTAT in the SQ, then the abort. Whatever wins
 * the race, the op closes its file with a quiet close and settles; that close
 * must not be left in the SQ when the loop goes idle.
 */
static void test_loop_run_returns_with_an_aborted_read_files_file_closed(void **state) {
  (void)state;
  const char *path = temp_file(100);
  aw_loop *L = cancel_loop(0);
  int open_after_run = 0;
  for (int round = 0; round < 20; round++) {
    aw_signal *s = aw_signal_new(L);
    aw_io_opts o = {.signal = s};
    outcome out = {0};
    watch(aw_fs_read_file(L, path, &o), &out);
    run_until_completed(L, 1); /* OPEN */
    aw_signal_abort(s, aw_undefined());
    assert_int_equal(aw_loop_run(L), 0);
    open_after_run += fds_on(path);
    bool settled = out.calls == 1 && out.rejected;
    outcome_clear(&out);
    aw_release(s);
    assert_true(settled);
    if (open_after_run)
      break; /* the next round's enter would submit the close left behind */
  }
  temp_file_remove(path);
  assert_int_equal(open_after_run, 0);
  cancel_done(L);
}

/*
 * An op whose next step waits in the backlog when it is aborted: it leaves the
 * backlog at once, and closes the file its first step opened.
 */
static void test_abort_of_a_read_file_waiting_in_the_backlog_closes_its_file(void **state) {
  (void)state;
  const char *path = temp_file(100);
  aw_loop *L = cancel_loop(16);
  aw_io_caps caps;
  assert_int_equal(aw_io_caps_get(L, &caps), 0);
  int sv[2]; /* a pipe: a read of it is bounded (counted) yet blocks */
  assert_int_equal(pipe2(sv, O_CLOEXEC), 0);
  aw_signal *s = aw_signal_new(L), *all = aw_signal_new(L);
  aw_io_opts o = {.signal = s}, o_all = {.signal = all};
  aw_promise *rf = aw_fs_read_file(L, path, &o);
  aw_release(aw_promise_catch(rf, io_test_ignore, NULL));
  /* reads that block: the kernel's budget (less the wake poll and the OPEN), and some more */
  int n = (int)caps.inflight_limit + 4;
  outcome *out = calloc((size_t)n, sizeof *out);
  assert_non_null(out);
  for (int i = 0; i < n; i++)
    watch(aw_fs_read(L, sv[0], 16, AW_FS_CUR, &o_all), &out[i]);
  run_until_completed(L, 1); /* OPEN: a read takes its slot, FSTAT waits behind the others */
  aw_io_stats st = io_stats(L);
  int open_before = fds_on(path);
  aw_signal_abort(s, aw_undefined());
  bool at_once = aw_promise_state(rf) == AW_REJECTED; /* it never reached the kernel */
  aw_signal_abort(all, aw_undefined());
  io_test_run(L);
  int open_after = fds_on(path);
  aw_release(rf);
  for (int i = 0; i < n; i++)
    outcome_clear(&out[i]);
  free(out);
  aw_release(s);
  aw_release(all);
  close(sv[0]);
  close(sv[1]);
  temp_file_remove(path);
  assert_true(st.backlogged > 0);
  assert_int_equal(open_before, 1);
  assert_true(at_once);
  assert_int_equal(open_after, 0);
  cancel_done(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      CANCEL_TEST(test_abort_rejects_a_blocked_recv_with_the_signals_abort_error),
      CANCEL_TEST(test_aborted_recv_leaves_the_data_for_the_next_recv),
      CANCEL_TEST(test_custom_abort_reason_passes_through),
      CANCEL_TEST(test_signal_aborted_before_the_call_rejects_at_once),
      CANCEL_TEST(test_abort_after_the_op_settled_changes_nothing),
      CANCEL_TEST(test_aborted_recv_never_loses_bytes_it_took),
      CANCEL_TEST(test_signal_timeout_rejects_a_blocked_recv_with_a_timeout_error),
      CANCEL_TEST(test_timeout_ms_rejects_a_blocked_recv_with_a_timeout_error),
      CANCEL_TEST(test_timeout_ms_of_an_op_that_completes_first_never_fires),
      CANCEL_TEST(test_timeout_ms_rejects_an_accept_nobody_connects_to),
      CANCEL_TEST(test_cancellation_racing_completion_settles_each_op_exactly_once),
      CANCEL_TEST(test_aborting_an_accept_waiter_rejects_it_and_leaves_the_next_connection),
      CANCEL_TEST(test_one_signal_shared_by_many_ops_aborts_them_all),
      CANCEL_TEST(test_abort_of_an_op_waiting_in_the_backlog_settles_it_without_a_cancel),
      CANCEL_TEST(test_aborting_a_connect_in_flight_closes_its_socket),
      CANCEL_TEST(test_aborted_read_file_whose_last_read_completed_closes_its_file),
      CANCEL_TEST(test_aborted_write_file_whose_last_write_completed_closes_its_file),
      CANCEL_TEST(test_loop_run_returns_with_an_aborted_read_files_file_closed),
      CANCEL_TEST(test_abort_of_a_read_file_waiting_in_the_backlog_closes_its_file),
  };
  return cmocka_run_group_tests_name("cancel", tests, NULL, NULL);
}
