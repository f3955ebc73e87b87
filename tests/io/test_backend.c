/*
 * tests/io/test_backend.c — the loop's two I/O backends, io_uring and epoll + the worker pool,
 * chosen and compared in one binary:
 *   - selection: aw_loop_config.backend, the AW_IO environment variable and which wins (the
 *     variable decides only when the configuration says AUTO; AW_IO=none always wins), invalid
 *     values of both refused with an error that names them; what aw_io_caps_get reports on each
 *     backend (its name, no fallback reason when chosen);
 *   - the same work on both, explicitly: a file round trip, a TCP echo through a receiver to end
 *     of stream, the abort of a pending recv (tests/io/io_work.c);
 *   - on epoll: an abort racing a recv's completion and a file op's, 1000 times at different
 *     points, exactly one settlement each and no byte lost; a descriptor number reused after a
 *     close(2) the loop did not see (a new socket with the same number must still get its
 *     recv: the backend's record of the old one must not hang it); the loop freed with file
 *     operations running on the workers (nothing leaks, nothing settles).
 * A machine without io_uring skips the io_uring half of each test, not the test.
 *
 * Callbacks never assert (a failed assertion must not longjmp out of aw_loop_run): they
 * record, and the test asserts once the loop returned.
 */
#include "io_test.h"
#include "io_work.h"

#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const enum aw_io_backend on_uring = AW_IO_BACKEND_URING, on_epoll = AW_IO_BACKEND_EPOLL;

static const char *backend_label(enum aw_io_backend b) {
  return b == AW_IO_BACKEND_URING ? "io_uring" : b == AW_IO_BACKEND_EPOLL ? "epoll" : "auto";
}

/* Whether this machine gives a loop an io_uring (asked once). */
static bool uring_available(void) {
  static int known = -1;
  if (known < 0) {
    aw_loop_config cfg = {.backend = AW_IO_BACKEND_URING};
    aw_val err = aw_undefined();
    aw_loop *L = aw_loop_new(&cfg, &err);
    known = L != NULL;
    if (L)
      aw_loop_free(L);
    else {
      printf("no io_uring here: %s\n", aw_error_message(err) ? aw_error_message(err) : "?");
      aw_release_val(err);
    }
  }
  return known;
}

/* A loop on backend b (freed by the teardown if the test fails); skips the test if b is io_uring
 * and the machine has none. */
static aw_loop *be_loop(enum aw_io_backend b) {
  if (b == AW_IO_BACKEND_URING && !uring_available())
    skip();
  aw_loop_config cfg = {.backend = b};
  aw_loop *L = io_test_loop_cfg(&cfg);
  aw_io_caps caps;
  assert_int_equal(aw_io_caps_get(L, &caps), 0);
  assert_int_equal(caps.backend, b);
  return L;
}

static enum aw_io_backend backend_of(void **state) { return *(const enum aw_io_backend *)*state; }

/* The backend a fresh loop made with cfg gets (-1: no loop; -2: a loop without I/O). */
static int backend_with(const aw_loop_config *cfg) {
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(cfg, &err);
  if (!L) {
    aw_release_val(err);
    return -1;
  }
  aw_io_caps caps;
  int r = aw_io_caps_get(L, &caps) == 0 ? (int)caps.backend : -2;
  assert_int_equal(aw_loop_free(L), 0);
  return r;
}

/* ---- selection ------------------------------------------------------------------------------ */

static void test_config_chooses_the_backend(void **state) {
  (void)state;
  unsetenv("AW_IO");
  aw_loop_config cfg = {.backend = AW_IO_BACKEND_EPOLL};
  assert_int_equal(backend_with(&cfg), AW_IO_BACKEND_EPOLL);
  if (uring_available()) {
    cfg.backend = AW_IO_BACKEND_URING;
    assert_int_equal(backend_with(&cfg), AW_IO_BACKEND_URING);
    /* AUTO takes io_uring where it can be had */
    cfg.backend = AW_IO_BACKEND_AUTO;
    assert_int_equal(backend_with(&cfg), AW_IO_BACKEND_URING);
    assert_int_equal(backend_with(NULL), AW_IO_BACKEND_URING);
  } else {
    assert_int_equal(backend_with(NULL), AW_IO_BACKEND_EPOLL);
  }
  /* no_io wins over everything: no backend at all */
  cfg = (aw_loop_config){.no_io = true, .backend = AW_IO_BACKEND_EPOLL};
  assert_int_equal(backend_with(&cfg), -2);
  assert_int_equal(aw_objects_alive(), 0);
}

static void test_env_chooses_the_backend_when_the_config_says_auto(void **state) {
  (void)state;
  setenv("AW_IO", "epoll", 1);
  assert_int_equal(backend_with(NULL), AW_IO_BACKEND_EPOLL);
  aw_loop_config cfg = {.backend = AW_IO_BACKEND_AUTO};
  assert_int_equal(backend_with(&cfg), AW_IO_BACKEND_EPOLL);
  setenv("AW_IO", "none", 1);
  assert_int_equal(backend_with(NULL), -2);
  /* none wins over an explicit backend too: no I/O at all */
  cfg.backend = AW_IO_BACKEND_EPOLL;
  assert_int_equal(backend_with(&cfg), -2);
  cfg.backend = AW_IO_BACKEND_AUTO;
  if (uring_available()) {
    setenv("AW_IO", "uring", 1);
    assert_int_equal(backend_with(NULL), AW_IO_BACKEND_URING);
    setenv("AW_IO", "io_uring", 1);
    assert_int_equal(backend_with(NULL), AW_IO_BACKEND_URING);
    /* an explicit configuration wins over the variable */
    cfg.backend = AW_IO_BACKEND_EPOLL;
    assert_int_equal(backend_with(&cfg), AW_IO_BACKEND_EPOLL);
    setenv("AW_IO", "epoll", 1);
    cfg.backend = AW_IO_BACKEND_URING;
    assert_int_equal(backend_with(&cfg), AW_IO_BACKEND_URING);
  }
  unsetenv("AW_IO");
  assert_int_equal(aw_objects_alive(), 0);
}

/* aw_loop_new(cfg) fails, with an error whose message contains `names`. */
static void assert_refused(const aw_loop_config *cfg, const char *names) {
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(cfg, &err);
  if (L)
    aw_loop_free(L);
  assert_null(L);
  const char *msg = aw_error_message(err);
  char copy[512];
  snprintf(copy, sizeof copy, "%s", msg ? msg : "(no message)");
  aw_release_val(err);
  if (!strstr(copy, names))
    fail_msg("the error \"%s\" does not name \"%s\"", copy, names);
}

static void test_invalid_backend_values_are_refused_with_a_clear_error(void **state) {
  (void)state;
  unsetenv("AW_IO");
  aw_loop_config cfg = {.backend = (enum aw_io_backend)42};
  assert_refused(&cfg, "backend");
  setenv("AW_IO", "kqueue", 1);
  assert_refused(NULL, "AW_IO");
  assert_refused(NULL, "kqueue");
  setenv("AW_IO", "", 1);
  assert_refused(NULL, "AW_IO");
  unsetenv("AW_IO");
  assert_int_equal(aw_objects_alive(), 0);
}

static void test_caps_report_the_backend(void **state) {
  enum aw_io_backend b = backend_of(state);
  aw_loop *L = be_loop(b);
  aw_io_caps caps;
  assert_int_equal(aw_io_caps_get(L, &caps), 0);
  assert_int_equal(caps.backend, b);
  assert_non_null(caps.backend_name);
  assert_string_equal(caps.backend_name, backend_label(b));
  /* chosen, not fallen back to: no reason given */
  assert_string_equal(caps.fallback_reason, "");
  /* the op core's bound holds on both: something may be in flight, and what the ops use is there */
  assert_true(caps.inflight_limit > 0);
  assert_true(caps.op_supported[IORING_OP_NOP] && caps.op_supported[IORING_OP_READ] &&
              caps.op_supported[IORING_OP_RECV] && caps.op_supported[IORING_OP_ACCEPT]);
  io_test_done(L);
}

/* ---- the same work on both backends ------------------------------------------------------- */

static void test_files_round_trip(void **state) {
  aw_loop *L = be_loop(backend_of(state));
  const char *dir = io_test_dir();
  char path[512];
  snprintf(path, sizeof path, "%s", dir);
  assert_int_equal(iow_files(L, path, 300 * 1024 + 1), 0);
  assert_int_equal(iow_files(L, path, 0), 0);
  io_test_run(L);
  io_test_rmrf(path);
  io_test_done(L);
}

static void test_socket_echo(void **state) {
  aw_loop *L = be_loop(backend_of(state));
  assert_int_equal(iow_tcp_echo(L, 1), 0);
  assert_int_equal(iow_tcp_echo(L, 1024 * 1024), 0);
  io_test_run(L);
  io_test_done(L);
}

static void test_abort_of_a_pending_recv(void **state) {
  aw_loop *L = be_loop(backend_of(state));
  assert_int_equal(iow_abort_recv(L), 0);
  io_test_done(L);
}

/* ---- an abort racing completion, on epoll -------------------------------------------------- */

struct outcome {
  int fulfilled, rejected;
  bool reason_ok; /* a rejection carried the signal's very reason */
  size_t bytes;   /* a fulfilled recv's length */
  aw_signal *s;
};
static aw_val on_ok(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  struct outcome *o = arg;
  o->fulfilled++;
  if (aw_is_type(v, AW_T_BUFFER))
    o->bytes = ((aw_buf *)v.u.o)->len;
  return aw_undefined();
}
static aw_val on_err(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  struct outcome *o = arg;
  o->rejected++;
  aw_val reason = aw_signal_reason(o->s);
  o->reason_ok = aw_is_obj(v) && aw_is_obj(reason) && v.u.o == reason.u.o;
  return aw_undefined();
}

/*
 * Where the abort lands, by i % 4: before the peer's byte exists, just after it was written
 * (the recv and its cancel reach the backend in one batch), after one turn with the byte already
 * there, after one turn and the byte written just before the abort.
 */
static void race_one_recv(aw_loop *L, int a, int b, int i, int *won) {
  struct outcome o = {.s = aw_signal_new(L)};
  aw_io_opts opts = {.signal = o.s};
  aw_promise *p = aw_sock_recv(L, a, 16, &opts);
  assert_non_null(p);
  aw_release(aw_promise_then(p, on_ok, on_err, &o));
  aw_release(p);
  switch (i % 4) {
  case 0:
    aw_signal_abort(o.s, aw_undefined());
    assert_int_equal(write(b, "q", 1), 1);
    break;
  case 1:
    assert_int_equal(write(b, "q", 1), 1);
    aw_signal_abort(o.s, aw_undefined());
    break;
  case 2:
    assert_int_equal(write(b, "q", 1), 1);
    io_test_turn(L);
    aw_signal_abort(o.s, aw_undefined());
    break;
  default:
    io_test_turn(L);
    assert_int_equal(write(b, "q", 1), 1);
    aw_signal_abort(o.s, aw_undefined());
    break;
  }
  io_test_run(L);
  aw_release(o.s);
  assert_int_equal(o.fulfilled + o.rejected, 1);
  if (o.fulfilled) {
    assert_int_equal(o.bytes, 1);
    (*won)++;
    return;
  }
  assert_true(o.reason_ok);
  /* the cancelled recv took nothing: the byte is still there for the next one */
  aw_val v = io_test_wait(L, aw_sock_recv(L, a, 16, NULL));
  assert_true(aw_is_type(v, AW_T_BUFFER));
  size_t len = ((aw_buf *)v.u.o)->len;
  aw_release_val(v);
  assert_int_equal(len, 1);
}

/* The same for a file operation on the workers: it ran (its result) or was cancelled (the reason).
 */
static void race_one_file(aw_loop *L, const char *path, int i, int *won) {
  struct outcome o = {.s = aw_signal_new(L)};
  aw_io_opts opts = {.signal = o.s};
  aw_promise *p = i % 2 ? aw_fs_read_file(L, path, &opts) : aw_fs_stat(L, path, 0, &opts);
  assert_non_null(p);
  aw_release(aw_promise_then(p, on_ok, on_err, &o));
  aw_release(p);
  for (int t = 0; t < (i / 2) % 3; t++)
    io_test_turn(L);
  aw_signal_abort(o.s, aw_undefined());
  io_test_run(L);
  aw_release(o.s);
  assert_int_equal(o.fulfilled + o.rejected, 1);
  if (o.fulfilled) {
    if (i % 2)
      assert_int_equal(o.bytes, 5);
    (*won)++;
  } else {
    assert_true(o.reason_ok);
  }
}

static void test_abort_racing_completion_settles_once(void **state) {
  aw_loop *L = be_loop(backend_of(state));
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int recv_won = 0, file_won = 0;
  for (int i = 0; i < 1000; i++)
    race_one_recv(L, sv[0], sv[1], i, &recv_won);
  const char *dir = io_test_dir();
  char path[512];
  snprintf(path, sizeof path, "%s/f", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("hello", f);
  fclose(f);
  for (int i = 0; i < 1000; i++)
    race_one_file(L, path, i, &file_won);
  /* both outcomes are possible and fine; printed to show the race was real */
  printf("%s: recv completed first %d/1000, file op %d/1000\n", backend_label(backend_of(state)),
         recv_won, file_won);
  close(sv[1]);
  io_test_wait(L, aw_sock_close(L, sv[0], NULL));
  io_test_run(L);
  io_test_rmrf(dir);
  io_test_done(L);
}

/* ---- a descriptor number reused behind the loop's back ------------------------------------- */

static void test_fd_number_reused_after_close_still_receives(void **state) {
  aw_loop *L = be_loop(backend_of(state));
  int sv[2], nv[2];
  for (int round = 0; round < 3; round++) {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    /* the loop uses sv[0]: round 0 a recv that completes at once, 1 a recv that waits for
     * readiness, 2 a send (the other direction) */
    if (round == 2) {
      aw_val v = io_test_wait(L, aw_sock_send(L, sv[0], aw_buf_from("s", 1), NULL));
      aw_release_val(v);
    } else {
      aw_promise *p = aw_sock_recv(L, sv[0], 16, NULL);
      if (round == 0)
        assert_int_equal(write(sv[1], "a", 1), 1);
      else {
        io_test_turn(L);
        io_test_turn(L);
        assert_int_equal(write(sv[1], "a", 1), 1);
      }
      aw_val v = io_test_wait(L, p);
      assert_true(aw_is_type(v, AW_T_BUFFER));
      aw_release_val(v);
    }
    /* close(2), not aw_sock_close: the loop is not told */
    int old = sv[0];
    assert_int_equal(close(sv[0]), 0);
    assert_int_equal(close(sv[1]), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, nv), 0);
    assert_int_equal(nv[0], old); /* the lowest free number: the one just closed */
    /* a recv on the new socket that has to wait for readiness, then one that finds data */
    aw_promise *p = aw_sock_recv(L, nv[0], 16, NULL);
    io_test_turn(L);
    io_test_turn(L);
    assert_int_equal(write(nv[1], "bc", 2), 2);
    aw_val v = io_test_wait(L, p);
    assert_true(aw_is_type(v, AW_T_BUFFER));
    size_t len = ((aw_buf *)v.u.o)->len;
    aw_release_val(v);
    assert_int_equal(len, 2);
    /* and a send the other way through the loop */
    v = io_test_wait(L, aw_sock_send(L, nv[0], aw_buf_from("d", 1), NULL));
    aw_release_val(v);
    char c = 0;
    assert_int_equal(read(nv[1], &c, 1), 1);
    assert_int_equal(c, 'd');
    close(nv[1]);
    io_test_wait(L, aw_sock_close(L, nv[0], NULL));
  }
  io_test_run(L);
  io_test_done(L);
}

/* ---- the loop freed with file operations on the workers ------------------------------------ */

static void test_loop_freed_with_worker_file_ops_in_flight(void **state) {
  aw_loop *L = be_loop(backend_of(state));
  const char *dir = io_test_dir();
  char root[512];
  snprintf(root, sizeof root, "%s", dir);
  enum { N = 48 };
  aw_promise *ps[N + 2];
  aw_buf *big = aw_buf_new(1 << 20);
  assert_non_null(big);
  memset(big->data, 'x', 1 << 20);
  big->len = 1 << 20;
  for (int i = 0; i < N; i++) {
    char path[600];
    snprintf(path, sizeof path, "%s/f%d", root, i);
    aw_write_file_opts atomic = {.atomic = i % 2 == 0};
    ps[i] = i % 3 == 2 ? aw_fs_stat(L, root, 0, NULL)
                       : aw_fs_write_file(L, path, aw_buf_from(big->data, big->len), &atomic);
    assert_non_null(ps[i]);
  }
  aw_release(big);
  /* and a recv that waits for ever, on a socket only the loop watches */
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ps[N] = aw_sock_recv(L, sv[0], 16, NULL);
  ps[N + 1] = aw_io_nop(L, NULL);
  /* a turn: the file ops reach the workers (some run, some wait in the pool's queue) */
  io_test_turn(L);
  io_test_forget(L);
  assert_int_equal(aw_loop_free(L), 0);
  for (int i = 0; i < N + 2; i++)
    aw_release(ps[i]); /* pending for good, or settled before the free: either is fine */
  assert_int_equal(aw_objects_alive(), 0);
  close(sv[0]);
  close(sv[1]);
  /* no temporary file of an atomic write is left behind */
  char cmd[700];
  snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '\\.tmp\\.'", root);
  assert_int_not_equal(system(cmd), 0);
  io_test_rmrf(root);
}

/* Test f on backend b, named "f on b" */
#define ON(f, b)                                                                                   \
  { #f " on " #b, f, NULL, io_test_free_leftover, (void *)&on_##b }

int main(void) {
  unsetenv("AW_IO"); /* each test says which backend it is about */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_config_chooses_the_backend, io_test_free_leftover),
      cmocka_unit_test_teardown(test_env_chooses_the_backend_when_the_config_says_auto,
                                io_test_free_leftover),
      cmocka_unit_test_teardown(test_invalid_backend_values_are_refused_with_a_clear_error,
                                io_test_free_leftover),
      ON(test_caps_report_the_backend, uring),
      ON(test_caps_report_the_backend, epoll),
      ON(test_files_round_trip, uring),
      ON(test_files_round_trip, epoll),
      ON(test_socket_echo, uring),
      ON(test_socket_echo, epoll),
      ON(test_abort_of_a_pending_recv, uring),
      ON(test_abort_of_a_pending_recv, epoll),
      ON(test_abort_racing_completion_settles_once, epoll),
      ON(test_abort_racing_completion_settles_once, uring),
      ON(test_fd_number_reused_after_close_still_receives, epoll),
      ON(test_fd_number_reused_after_close_still_receives, uring),
      ON(test_loop_freed_with_worker_file_ops_in_flight, epoll),
      ON(test_loop_freed_with_worker_file_ops_in_flight, uring),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
