/*
 * tests/io/test_ring.c — the loop's io_uring (aw/io.h, io/op.c, io/uring.c): 10,000
 * operations in flight on a 64-entry ring (back-pressure: nothing dropped,
 * never more in the kernel than the limit, the backlog in order), completions
 * as macrotasks of the I/O phase with a microtask checkpoint after each, the
 * check phase after the I/O phase (setImmediate before setTimeout 0 in a
 * completion, conformance 046), the capabilities, a loop without a ring
 * (cfg.no_io: ENOURING), aw_loop_free with operations still in flight, and
 * rings freed and made again on other threads (no ThreadSanitizer report).
 *
 * Assertions are on orders and counts only. Callbacks never assert (a failed
 * assertion must not longjmp out of aw_loop_run): they record, and the test
 * asserts once the loop returned.
 */
#include "io_test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------------------- */

/* The loop of the running test; the teardown frees it if the test failed half-way. */
static aw_loop *test_loop;

static aw_loop *ring_loop(unsigned entries) { return test_loop = io_test_loop(entries); }

static void ring_done(aw_loop *L) {
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

#define RING_TEST(f) cmocka_unit_test_teardown(f, free_leftover_loop)

static aw_io_stats io_stats(aw_loop *L) {
  aw_io_stats st;
  assert_int_equal(aw_io_stats_get(L, &st), 0);
  return st;
}

static aw_io_caps io_caps(aw_loop *L) {
  aw_io_caps c;
  assert_int_equal(aw_io_caps_get(L, &c), 0);
  return c;
}

static uint64_t iterations(aw_loop *L) {
  aw_loop_stats st;
  aw_loop_stats_get(L, &st);
  return st.iterations;
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

/* The order log: callbacks append words, a test compares the whole log. */
static char order_log[4096];

static void log_reset(void) { order_log[0] = 0; }

static void log_word(const char *w) {
  size_t n = strlen(order_log);
  snprintf(order_log + n, sizeof order_log - n, "%s%s", n ? " " : "", w);
}

static void log_task(aw_loop *L, void *word) {
  (void)L;
  log_word(word);
}

/* ---- back-pressure: 10,000 ops on a 64-entry ring -------------------------------------------- */

#define MANY 10000

typedef struct many_ctx {
  int fulfilled, rejected, wrong;
  int next;         /* the index the next completion should have */
  int out_of_order; /* completions that came before an op started earlier */
} many_ctx;

static many_ctx many;

static aw_val many_nop_done(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  int i = (int)(intptr_t)arg;
  many.fulfilled++;
  if (!aw_is_undefined(v))
    many.wrong++;
  if (i != many.next)
    many.out_of_order++;
  many.next = i + 1;
  return aw_undefined();
}

static aw_val many_failed(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v, (void)arg;
  many.rejected++;
  return aw_undefined();
}

static void test_ten_thousand_nops_on_a_64_entry_ring_all_complete(void **state) {
  (void)state;
  aw_loop *L = ring_loop(64);
  aw_io_caps caps = io_caps(L);
  memset(&many, 0, sizeof many);
  aw_io_stats before = io_stats(L);
  for (int i = 0; i < MANY; i++) {
    aw_promise *p = aw_io_nop(L, NULL);
    assert_non_null(p);
    aw_release(aw_promise_then(p, many_nop_done, many_failed, (void *)(intptr_t)i));
    aw_release(p);
  }
  io_test_run(L);
  aw_io_stats st = io_stats(L);
  printf("10000 nops, ring of %u SQEs / %u CQEs, limit %u: submitted %llu, enters %llu, "
         "backlogged %llu, max in flight %llu\n",
         caps.sq_entries, caps.cq_entries, caps.inflight_limit,
         (unsigned long long)(st.submitted - before.submitted),
         (unsigned long long)(st.enters - before.enters),
         (unsigned long long)(st.backlogged - before.backlogged),
         (unsigned long long)st.max_inflight);
  assert_int_equal(many.fulfilled, MANY);
  assert_int_equal(many.rejected, 0);
  assert_int_equal(many.wrong, 0);
  assert_true(st.submitted - before.submitted >= MANY);
  assert_true(st.completed - before.completed >= MANY);
  assert_true(st.backlogged - before.backlogged > 0);
  assert_true(st.max_inflight <= caps.inflight_limit);
  assert_true(st.max_inflight <= caps.cq_entries);
  ring_done(L);
}

static void test_backlogged_ops_complete_in_the_order_they_were_started(void **state) {
  (void)state;
  aw_loop *L = ring_loop(64);
  memset(&many, 0, sizeof many);
  for (int i = 0; i < MANY; i++) {
    aw_promise *p = aw_io_nop(L, NULL);
    aw_release(aw_promise_then(p, many_nop_done, many_failed, (void *)(intptr_t)i));
    aw_release(p);
  }
  io_test_run(L);
  assert_true(io_stats(L).backlogged > 0);
  assert_int_equal(many.fulfilled, MANY);
  assert_int_equal(many.out_of_order, 0);
  ring_done(L);
}

/* 10,000 reads of 8-byte records, each at its own offset, all started at once. */
typedef struct read_ctx {
  int fulfilled, rejected, wrong;
} read_ctx;

static read_ctx reads;

static void record_of(int i, char out[9]) { snprintf(out, 9, "%07d\n", i); }

static aw_val read_done(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  int i = (int)(intptr_t)arg;
  char want[9];
  record_of(i, want);
  aw_buf *b = aw_is_type(v, AW_T_BUFFER) ? (aw_buf *)v.u.o : NULL;
  if (b && b->len == 8 && !memcmp(b->data, want, 8))
    reads.fulfilled++;
  else
    reads.wrong++;
  return aw_undefined();
}

static aw_val read_failed(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v, (void)arg;
  reads.rejected++;
  return aw_undefined();
}

static void test_ten_thousand_file_reads_on_a_64_entry_ring_return_their_own_bytes(void **state) {
  (void)state;
  aw_loop *L = ring_loop(64);
  aw_io_caps caps = io_caps(L);
  const char *dir = io_test_dir();
  char path[600];
  snprintf(path, sizeof path, "%s/records", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (int i = 0; i < MANY; i++) {
    char rec[9];
    record_of(i, rec);
    fputs(rec, f);
  }
  fclose(f);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  memset(&reads, 0, sizeof reads);
  for (int i = 0; i < MANY; i++) {
    int k = (i * 7919) % MANY; /* not in file order */
    aw_promise *p = aw_fs_read(L, fd, 8, (int64_t)k * 8, NULL);
    aw_release(aw_promise_then(p, read_done, read_failed, (void *)(intptr_t)k));
    aw_release(p);
  }
  io_test_run(L);
  aw_io_stats st = io_stats(L);
  close(fd);
  io_test_rmrf(dir);
  assert_int_equal(reads.fulfilled, MANY);
  assert_int_equal(reads.wrong, 0);
  assert_int_equal(reads.rejected, 0);
  assert_true(st.backlogged > 0);
  assert_true(st.max_inflight <= caps.inflight_limit);
  ring_done(L);
}

/* ---- one turn, one enter -----------------------------------------------------------------------
 */

static void test_a_turn_gives_the_kernel_all_it_queued_in_one_enter(void **state) {
  (void)state;
  aw_loop *L = ring_loop(256);
  memset(&many, 0, sizeof many);
  for (int i = 0; i < 100; i++) {
    aw_promise *p = aw_io_nop(L, NULL);
    aw_release(aw_promise_then(p, many_nop_done, many_failed, (void *)(intptr_t)i));
    aw_release(p);
  }
  aw_io_stats before = io_stats(L);
  assert_int_equal(many.fulfilled, 0); /* queued: nothing runs before the loop turns */
  io_test_turn(L);
  aw_io_stats after = io_stats(L);
  assert_int_equal(many.fulfilled, 100);
  assert_true(after.submitted - before.submitted >= 100);
  assert_int_equal(after.enters - before.enters, 1);
  ring_done(L);
}

/* ---- completions are macrotasks
 * ------------------------------------------------------------------ */

typedef struct turn_rec {
  uint64_t iteration_a, iteration_b;
} turn_rec;

static turn_rec turns;

static void micro_2(aw_loop *L, void *arg) {
  (void)L, (void)arg;
  log_word("A.micro2");
}

static void micro_1(aw_loop *L, void *arg) {
  (void)arg;
  log_word("A.micro1");
  aw_queue_microtask(L, micro_2, NULL);
}

static aw_val handler_a(aw_loop *L, aw_val v, void *arg) {
  (void)v, (void)arg;
  log_word("A");
  turns.iteration_a = iterations(L);
  aw_queue_microtask(L, micro_1, NULL);
  return aw_undefined();
}

static aw_val handler_b(aw_loop *L, aw_val v, void *arg) {
  (void)v, (void)arg;
  log_word("B");
  turns.iteration_b = iterations(L);
  return aw_undefined();
}

static void test_each_completion_is_a_macrotask_followed_by_a_microtask_checkpoint(void **state) {
  (void)state;
  aw_loop *L = ring_loop(0);
  log_reset();
  memset(&turns, 0, sizeof turns);
  aw_promise *a = aw_io_nop(L, NULL), *b = aw_io_nop(L, NULL);
  aw_release(aw_promise_then(a, handler_a, NULL, NULL));
  aw_release(aw_promise_then(b, handler_b, NULL, NULL));
  aw_release(a);
  aw_release(b);
  aw_loop_stats before;
  aw_loop_stats_get(L, &before);
  io_test_run(L);
  aw_loop_stats after;
  aw_loop_stats_get(L, &after);
  /* both completed in the same turn, yet all of A's microtasks ran before B's handler */
  assert_int_equal(turns.iteration_a, turns.iteration_b);
  assert_string_equal(order_log, "A A.micro1 A.micro2 B");
  assert_true(after.macrotasks - before.macrotasks >= 2);
  ring_done(L);
}

static aw_val schedule_timeout_and_immediate(aw_loop *L, aw_val v, void *arg) {
  (void)v, (void)arg;
  log_word("io");
  aw_set_timeout(L, 0, log_task, "timeout");
  aw_set_immediate(L, log_task, "immediate");
  return aw_undefined();
}

static void test_immediate_queued_by_a_completion_runs_before_a_zero_timeout(void **state) {
  (void)state;
  aw_loop *L = ring_loop(0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  /* a nop, a read of data already there, and a recv that waits for its data */
  for (int round = 0; round < 3; round++) {
    log_reset();
    aw_promise *p;
    if (round == 0) {
      p = aw_io_nop(L, NULL);
    } else if (round == 1) {
      assert_int_equal(write(sv[1], "d", 1), 1);
      p = aw_sock_recv(L, sv[0], 4, NULL);
    } else {
      p = aw_sock_recv(L, sv[0], 4, NULL);
      io_test_turn(L);
      assert_int_equal(write(sv[1], "d", 1), 1);
    }
    aw_release(aw_promise_then(p, schedule_timeout_and_immediate, NULL, NULL));
    aw_release(p);
    io_test_run(L);
    assert_string_equal(order_log, "io immediate timeout");
  }
  close(sv[0]);
  close(sv[1]);
  ring_done(L);
}

/* A flood of completions does not keep the check phase waiting: at most a bounded number is
 * dispatched per I/O phase. */
static int flood_done, flood_seen_by_immediate = -1;

static aw_val flood_one(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v, (void)arg;
  flood_done++;
  return aw_undefined();
}

static void flood_immediate(aw_loop *L, void *arg) {
  (void)L, (void)arg;
  flood_seen_by_immediate = flood_done;
}

static void test_immediates_are_not_starved_by_a_flood_of_completions(void **state) {
  (void)state;
  aw_loop *L = ring_loop(4096);
  aw_io_caps caps = io_caps(L);
  int n = (int)caps.inflight_limit - 16;
  assert_true(n > 4096);
  flood_done = 0;
  flood_seen_by_immediate = -1;
  for (int i = 0; i < n; i++) {
    aw_promise *p = aw_io_nop(L, NULL);
    aw_release(aw_promise_then(p, flood_one, NULL, NULL));
    aw_release(p);
  }
  aw_set_immediate(L, flood_immediate, NULL);
  io_test_run(L);
  printf("flood: %d completions, %d dispatched before the immediate ran\n", n,
         flood_seen_by_immediate);
  assert_int_equal(flood_done, n);
  assert_true(flood_seen_by_immediate >= 0);
  assert_true(flood_seen_by_immediate < n);
  ring_done(L);
}

/* ---- capabilities and statistics
 * ------------------------------------------------------------------ */

static void test_caps_report_nodrop_and_a_sane_inflight_limit(void **state) {
  (void)state;
  aw_loop *L = ring_loop(64);
  aw_io_caps c = io_caps(L);
  printf("caps: sq %u cq %u limit %u nops %u single_issuer %d defer_taskrun %d coop_taskrun %d "
         "nodrop %d ext_arg %d fast_poll %d\n",
         c.sq_entries, c.cq_entries, c.inflight_limit, c.nops, c.single_issuer, c.defer_taskrun,
         c.coop_taskrun, c.nodrop, c.ext_arg, c.fast_poll);
  assert_true(c.nodrop);
  assert_int_equal(c.sq_entries, 64);
  assert_true(c.cq_entries >= c.sq_entries);
  assert_true(c.inflight_limit > 0);
  assert_true(c.inflight_limit <= c.cq_entries);
  assert_true(c.nops > IORING_OP_NOP);
  assert_true(c.op_supported[IORING_OP_NOP]);
  ring_done(L);
}

static void test_caps_and_stats_reject_null_arguments(void **state) {
  (void)state;
  aw_loop *L = ring_loop(0);
  aw_io_caps c;
  aw_io_stats s;
  assert_int_equal(aw_io_caps_get(NULL, &c), -EINVAL);
  assert_int_equal(aw_io_caps_get(L, NULL), -EINVAL);
  assert_int_equal(aw_io_stats_get(NULL, &s), -EINVAL);
  assert_int_equal(aw_io_stats_get(L, NULL), -EINVAL);
  ring_done(L);
}

/* ---- a loop that cannot have its ring -------------------------------------------------------- */

typedef struct new_error {
  bool made;
  char name[32], message[512];
  int errnum;
} new_error;

/* aw_loop_new(cfg): whether it made a loop (freed at once), and the error it gave. */
static new_error try_loop_new(const aw_loop_config *cfg) {
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(cfg, &err);
  new_error r = {.made = L != NULL};
  aw_error *e = aw_as_error(err);
  if (e) {
    snprintf(r.name, sizeof r.name, "%s", e->name);
    snprintf(r.message, sizeof r.message, "%s", e->message->data);
    r.errnum = e->errnum;
  }
  aw_release_val(err);
  if (L)
    aw_loop_free(L);
  return r;
}

/* The kernel's limit, checked before it is asked (it said "io_uring is not available"). */
static void test_ring_entries_above_32768_reject_with_a_range_error(void **state) {
  (void)state;
  new_error r = try_loop_new(&(aw_loop_config){.ring_entries = 32769});
  assert_false(r.made);
  assert_string_equal(r.name, "RangeError");
  assert_int_equal(r.errnum, EINVAL);
  assert_string_equal(r.message, "aw_loop_new: ring_entries 32769 is above 32768 (the largest "
                                 "ring io_uring_setup takes)");
}

/* No descriptor left for the ring: the error says EMFILE, not "io_uring is not available". */
static void test_a_ring_without_a_descriptor_left_reports_emfile(void **state) {
  (void)state;
  int lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true(lowest > 2);
  close(lowest);
  struct rlimit saved, low;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
  low = saved;
  low.rlim_cur = (rlim_t)lowest + 1; /* room for the loop's eventfd, not for its ring */
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  new_error r = try_loop_new(NULL);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
  assert_false(r.made);
  assert_int_equal(r.errnum, EMFILE);
  if (!strstr(r.message, "Too many open files (EMFILE)") ||
      strstr(r.message, "io_uring is not available") || strstr(r.message, "kernel's io_uring"))
    fail_msg("unclear message: %s", r.message);
}

/* ---- a loop without a ring
 * ------------------------------------------------------------------------- */

static aw_loop *no_io_loop(void) {
  aw_loop_config cfg = {.no_io = true};
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(&cfg, &err);
  assert_non_null(L);
  assert_true(aw_is_undefined(err));
  return test_loop = L;
}

/* p rejected before the loop ran, with "<op> (this loop has no io_uring): ... (ENOURING)". */
static void assert_enouring(aw_loop *L, aw_promise *p, const char *op) {
  assert_non_null(p);
  enum aw_state st = aw_promise_state(p);
  aw_val v = io_test_wait(L, p);
  aw_error *e = aw_as_error(v);
  int errnum = e ? e->errnum : 0;
  char msg[256] = "";
  if (e)
    snprintf(msg, sizeof msg, "%s", e->message->data);
  bool thrown = aw_is_thrown(v);
  aw_release_val(v);
  char want[256];
  snprintf(want, sizeof want,
           "%s (this loop has no io_uring): io_uring is not available (ENOURING)", op);
  assert_int_equal(st, AW_REJECTED);
  assert_true(thrown);
  assert_int_equal(errnum, -AW_ENOURING);
  assert_string_equal(msg, want);
}

/*
 * A program started with stdin, stdout and stderr closed: the loop's eventfd
 * and ring must not take fds 0-2 (reading "stdin" would then block on the
 * eventfd for ever). Checked in a child, which closes them, makes a loop,
 * runs a NOP through the ring and a post through the eventfd, and exits 0
 * only if 0, 1 and 2 are still free.
 */
static void post_flag(aw_loop *L, void *arg) {
  (void)L;
  *(int *)arg = 1;
}

static void test_loop_fds_stay_above_stdio(void **state) {
  (void)state;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(0);
    close(1);
    close(2);
    aw_loop *L = aw_loop_new(NULL, NULL);
    if (!L)
      _exit(77);
    aw_promise *p = aw_io_nop(L, NULL);
    int posted = 0;
    aw_loop_post(L, post_flag, &posted);
    aw_loop_run(L);
    int ok = aw_promise_state(p) == AW_FULFILLED && posted;
    aw_release(p);
    for (int fd = 0; fd < 3; fd++)
      if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
        ok = 0;
    aw_loop_free(L);
    _exit(ok ? 0 : 1);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77)
    skip();
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_loop_without_io_rejects_io_ops_with_enouring(void **state) {
  (void)state;
  aw_loop *L = no_io_loop();
  assert_string_equal(aw_err_name(AW_ENOURING), "ENOURING");
  aw_io_caps c;
  aw_io_stats s;
  assert_int_equal(aw_io_caps_get(L, &c), -ENOSYS);
  assert_int_equal(aw_io_stats_get(L, &s), -ENOSYS);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  assert_enouring(L, aw_io_nop(L, NULL), "nop");
  assert_enouring(L, aw_sock_recv(L, sv[0], 16, NULL), "recv");
  assert_enouring(L, aw_sock_send(L, sv[0], aw_buf_from("x", 1), NULL), "send");
  assert_enouring(L, aw_sock_shutdown(L, sv[0], SHUT_WR, NULL), "shutdown");
  assert_enouring(L, aw_tcp_connect(L, "127.0.0.1", 9, NULL), "connect");
  assert_enouring(L, aw_fs_open(L, "/", O_RDONLY, 0, NULL), "open");
  assert_enouring(L, aw_fs_read(L, sv[0], 16, -1, NULL), "read");
  assert_enouring(L, aw_fs_close(L, sv[0], NULL), "close");
  /* Listing a directory needs no ring: it runs on the pool's blocking class. */
  aw_val names = io_test_wait(L, aw_fs_readdir(L, "/", NULL));
  bool listed = aw_as_array(names) != NULL && aw_array_len(aw_as_array(names)) > 0;
  aw_release_val(names);
  assert_true(listed);
  assert_int_equal(aw_loop_run(L), 0);
  close(sv[0]);
  close(sv[1]);
  ring_done(L); /* the buffer given to send was released */
}

/* A listener may exist without a ring, but an accept on it must not wait for ever in silence. */
static void test_loop_without_io_never_leaves_an_accept_pending(void **state) {
  (void)state;
  aw_loop *L = no_io_loop();
  aw_val l = io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", 0, NULL));
  if (aw_is_thrown(l)) { /* refusing to listen is fine too, with ENOURING */
    aw_error *e = aw_as_error(l);
    int errnum = e ? e->errnum : 0;
    aw_release_val(l);
    assert_int_equal(errnum, -AW_ENOURING);
    ring_done(L);
    return;
  }
  aw_promise *p = aw_tcp_accept(l, NULL);
  assert_non_null(p);
  aw_release(aw_promise_catch(p, io_test_ignore, NULL));
  int run = aw_loop_run(L);
  enum aw_state st = aw_promise_state(p);
  aw_error *e = aw_as_error(aw_promise_result(p));
  int errnum = e ? e->errnum : 0;
  aw_release(p);
  aw_listener_close(l);
  aw_release_val(l);
  assert_int_equal(run, 0); /* nothing uncaught on the way */
  assert_int_equal(st, AW_REJECTED);
  assert_int_equal(errnum, -AW_ENOURING);
  ring_done(L);
}

/* ---- aw_loop_free with ops in flight
 * -------------------------------------------------------------- */

/*
 * Ops of every state when the loop goes: in the kernel (recvs and a pipe read
 * that never complete, an armed multishot accept), in the backlog (more than
 * the ring holds), queued but not submitted, with a deadline, with a signal,
 * and aborted but not yet given back. Their promises are released first, as
 * io_test_done wants nothing alive but the loop.
 */
static void test_loop_free_with_ops_in_flight_frees_everything(void **state) {
  (void)state;
  int fds_before = count_fds();
  aw_loop *L = ring_loop(16);
  aw_io_caps caps = io_caps(L);
  int sv[2], pp[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
  aw_val l = io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", 0, NULL));
  assert_false(aw_is_thrown(l));
  aw_signal *sig = aw_signal_new(L), *gone = aw_signal_new(L);
  aw_io_opts with_sig = {.signal = sig}, with_deadline = {.timeout_ms = 3600 * 1000};
  aw_io_opts aborted = {.signal = gone};
  aw_promise *p;
  p = aw_tcp_accept(l, NULL);
  aw_release(aw_promise_catch(p, io_test_ignore, NULL));
  aw_release(p);
  for (int i = 0; i < 4; i++) {
    p = aw_fs_read(L, pp[0], 16, -1, i ? &with_deadline : NULL);
    aw_release(aw_promise_catch(p, io_test_ignore, NULL));
    aw_release(p);
  }
  p = aw_sock_recv(L, sv[0], 16, &aborted);
  aw_release(aw_promise_catch(p, io_test_ignore, NULL));
  aw_release(p);
  for (unsigned i = 0; i < 64; i++) { /* unbounded: never counted, never queued */
    p = aw_sock_recv(L, sv[0], 16, i % 2 ? &with_sig : NULL);
    aw_release(aw_promise_catch(p, io_test_ignore, NULL));
    aw_release(p);
  }
  for (unsigned i = 0; i < caps.inflight_limit + 16; i++) { /* the budget fills; the rest wait */
    p = aw_fs_read(L, pp[0], 16, -1, i % 2 ? &with_sig : NULL);
    aw_release(aw_promise_catch(p, io_test_ignore, NULL));
    aw_release(p);
  }
  io_test_turn(L);
  aw_signal_abort(gone, aw_undefined()); /* its cancel is not even sent yet */
  p = aw_io_nop(L, NULL);                /* queued, never submitted */
  aw_release(aw_promise_catch(p, io_test_ignore, NULL));
  aw_release(p);
  uint64_t backlogged = io_stats(L).backlogged;
  aw_release_val(l);
  aw_release(sig);
  aw_release(gone);
  ring_done(L);
  close(sv[0]);
  close(sv[1]);
  close(pp[0]);
  close(pp[1]);
  assert_true(backlogged > 0);
  assert_int_equal(count_fds(), fds_before); /* the ring, the listener, every op's descriptor */
}

/* An async function suspended on a recv when the loop goes. */
typedef struct reader {
  aw_frame frame;
  int fd;
} reader;

static void reader_body(aw_loop *L, aw_frame *self) {
  reader *f = (reader *)self;
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, aw_sock_recv(L, f->fd, 16, NULL));
  aw_release_val(v);
  AW_END;
}

/*
 * Promises held across aw_loop_free stay valid (pending, inspectable) until
 * released; the suspended function is freed; a connect in flight (its SYN
 * dropped by a listener whose queue is full) has its socket closed.
 */
static void test_loop_free_keeps_held_promises_valid_and_closes_what_ops_owned(void **state) {
  (void)state;
  int fds_before = count_fds();
  aw_loop *L = ring_loop(0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  aw_listen_opts lo = {.backlog = 1};
  aw_val l = io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", 0, &lo));
  assert_false(aw_is_thrown(l));
  int fill[2];
  fill_accept_queue(l, fill);
  aw_promise *conn = aw_tcp_connect(L, "127.0.0.1", aw_listener_port(l), NULL);
  aw_promise *recv = aw_sock_recv(L, sv[0], 16, NULL);
  AW_ASYNC_NEW(L, reader, reader_body, f);
  f->fd = sv[0];
  aw_promise *fn = aw_async_start(&f->frame);
  aw_release(aw_promise_catch(conn, io_test_ignore, NULL));
  aw_release(aw_promise_catch(recv, io_test_ignore, NULL));
  aw_release(aw_promise_catch(fn, io_test_ignore, NULL));
  io_test_turn(L);
  io_test_turn(L);
  assert_int_equal(aw_promise_state(conn), AW_PENDING);
  assert_int_equal(aw_promise_state(recv), AW_PENDING);
  assert_int_equal(aw_promise_state(fn), AW_PENDING);
  test_loop = NULL;
  assert_int_equal(aw_loop_free(L), 0);
  /* still there to look at, never settled */
  enum aw_state s1 = aw_promise_state(conn), s2 = aw_promise_state(recv), s3 = aw_promise_state(fn);
  aw_release(conn);
  aw_release(recv);
  aw_release(fn);
  aw_release_val(l);
  for (int i = 0; i < 2; i++)
    close(fill[i]);
  close(sv[0]);
  close(sv[1]);
  assert_int_equal(s1, AW_PENDING);
  assert_int_equal(s2, AW_PENDING);
  assert_int_equal(s3, AW_PENDING);
  assert_int_equal(aw_objects_alive(), 0);
  assert_int_equal(count_fds(), fds_before);
}

/*
 * Loops of two threads made and freed in turns, the turns handed over with a
 * relaxed atomic, which orders nothing for ThreadSanitizer. Each new ring is
 * usually mapped where the other thread's last one was; liburing maps with
 * raw system calls TSan cannot see, so before io/uring.c told it (an acquire
 * after the map, a release before the unmap) TSan reported the new ring's
 * SQE and CQ accesses as races with the freed ring's. Elsewhere the test
 * checks only that every turn's nop completes.
 */
#define TURNS 20
static atomic_int ring_turn;
static int turn_ok[2];

static void *ring_taker(void *arg) {
  int me = (int)(intptr_t)arg;
  for (int i = me; i < TURNS; i += 2) {
    while (atomic_load_explicit(&ring_turn, memory_order_relaxed) != i)
      sched_yield();
    aw_loop *L = aw_loop_new(NULL, NULL);
    if (L) {
      aw_promise *p = aw_io_nop(L, NULL);
      aw_loop_run(L);
      turn_ok[me] += p && aw_promise_state(p) == AW_FULFILLED;
      aw_release(p);
      aw_loop_free(L);
    }
    atomic_store_explicit(&ring_turn, i + 1, memory_order_relaxed);
  }
  return NULL;
}

static void test_rings_freed_and_made_on_other_threads_in_turn_are_not_races(void **state) {
  (void)state;
  ring_done(ring_loop(0)); /* skips where there is no io_uring; sets the baseline */
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, ring_taker, (void *)(intptr_t)i), 0);
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_join(t[i], NULL), 0);
  assert_int_equal(turn_ok[0] + turn_ok[1], TURNS);
  assert_int_equal(aw_objects_alive(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      RING_TEST(test_ten_thousand_nops_on_a_64_entry_ring_all_complete),
      RING_TEST(test_backlogged_ops_complete_in_the_order_they_were_started),
      RING_TEST(test_ten_thousand_file_reads_on_a_64_entry_ring_return_their_own_bytes),
      RING_TEST(test_a_turn_gives_the_kernel_all_it_queued_in_one_enter),
      RING_TEST(test_each_completion_is_a_macrotask_followed_by_a_microtask_checkpoint),
      RING_TEST(test_immediate_queued_by_a_completion_runs_before_a_zero_timeout),
      RING_TEST(test_immediates_are_not_starved_by_a_flood_of_completions),
      RING_TEST(test_caps_report_nodrop_and_a_sane_inflight_limit),
      RING_TEST(test_caps_and_stats_reject_null_arguments),
      RING_TEST(test_loop_fds_stay_above_stdio),
      RING_TEST(test_loop_without_io_rejects_io_ops_with_enouring),
      RING_TEST(test_loop_without_io_never_leaves_an_accept_pending),
      RING_TEST(test_loop_free_with_ops_in_flight_frees_everything),
      RING_TEST(test_loop_free_keeps_held_promises_valid_and_closes_what_ops_owned),
      RING_TEST(test_ring_entries_above_32768_reject_with_a_range_error),
      RING_TEST(test_a_ring_without_a_descriptor_left_reports_emfile),
      RING_TEST(test_rings_freed_and_made_on_other_threads_in_turn_are_not_races),
  };
  return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}
