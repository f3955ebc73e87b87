/* tests/io/io_test.c — see io_test.h. */
#include "io_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t baseline; /* objects alive before the test's loop: a leak fails one test only */

static aw_loop *current; /* see io_test_forget */

aw_loop *io_test_loop(unsigned entries) {
  aw_loop_config cfg = {.ring_entries = entries};
  return io_test_loop_cfg(&cfg);
}

aw_loop *io_test_loop_cfg(const aw_loop_config *cfg) {
  baseline = aw_objects_alive();
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(cfg, &err);
  if (!L) {
    aw_error *e = aw_as_error(err);
    if (e && (e->errnum == EPERM || e->errnum == ENOSYS || e->errnum == ENOMEM)) {
      printf("skipped: %s\n", e->message->data);
      aw_release_val(err);
      exit(77);
    }
    aw_error_print(err, stderr);
    aw_release_val(err);
    fail_msg("aw_loop_new failed");
  }
  aw_io_caps caps;
  if (aw_io_caps_get(L, &caps) == -ENOSYS) {
    printf("skipped: the loop has no io_uring (AW_IO=none)\n");
    aw_loop_free(L);
    exit(77);
  }
  return current = L;
}

void io_test_run(aw_loop *L) { assert_int_equal(aw_loop_run(L), 0); }

void io_test_forget(aw_loop *L) {
  if (current == L)
    current = NULL;
}

int io_test_free_leftover(void **state) {
  (void)state;
  if (current)
    aw_loop_free(current);
  current = NULL;
  return 0;
}

void io_test_done(aw_loop *L) {
  io_test_forget(L);
  aw_loop_stats st;
  aw_loop_stats_get(L, &st);
  assert_int_equal(st.frames, 0);
  assert_int_equal(aw_loop_free(L), 0);
  assert_int_equal(aw_objects_alive(), baseline);
}

aw_val io_test_take(aw_promise *p) {
  assert_non_null(p);
  assert_int_not_equal(aw_promise_state(p), AW_PENDING);
  aw_val v = aw_retain_val(aw_promise_result(p));
  if (aw_promise_state(p) == AW_REJECTED)
    v = aw_throw(v);
  aw_release(p);
  return v;
}

aw_val io_test_ignore(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v, (void)arg;
  return aw_undefined();
}

aw_val io_test_wait(aw_loop *L, aw_promise *p) {
  assert_non_null(p);
  aw_release(aw_promise_catch(p, io_test_ignore, NULL));
  while (aw_promise_state(p) == AW_PENDING) {
    int r = aw_loop_run_once(L, true);
    assert_true(r >= 0);
    if (r == 0 && aw_promise_state(p) == AW_PENDING)
      fail_msg("the loop went idle with the promise still pending");
  }
  return io_test_take(p);
}

void io_test_turn(aw_loop *L) { assert_true(aw_loop_run_once(L, false) >= 0); }

const char *io_test_dir(void) {
  static char path[512];
  const char *base = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/aw-io-test-XXXXXX", base && base[0] ? base : "/tmp");
  assert_non_null(mkdtemp(path));
  return path;
}

void io_test_rmrf(const char *path) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  assert_int_equal(system(cmd), 0);
}
