/*
 * tests/io/test_nouring.c — when io_uring cannot be used, aw_loop_new fails
 * with an error that names the cause and what to do; a loop made with
 * cfg.no_io still runs promises and timers, and its I/O rejects with
 * ENOURING. The "cannot be used" is real: a forked child installs a seccomp
 * filter that makes io_uring_setup fail with EPERM or ENOSYS, as a
 * container's default profile does.
 */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "aw.h"

/* Makes io_uring_setup fail with err in this process (and its children). */
static int forbid_io_uring(int err) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/*
 * In a child: forbid io_uring with err, then check aw_loop_new's error.
 * Exit codes: 0 pass, 1 wrong behaviour (printed), 77 seccomp unavailable.
 */
static int child_checks(int err) {
  unsetenv("AW_IO"); /* this test is about the real failure, not the switch */
  if (forbid_io_uring(err) < 0) {
    printf("seccomp not available here: %s\n", strerror(errno));
    return 77;
  }
  aw_val e = aw_undefined();
  aw_loop *L = aw_loop_new(NULL, &e);
  if (L) {
    printf("aw_loop_new succeeded without io_uring\n");
    return 1;
  }
  const char *msg = aw_error_message(e);
  aw_error *ae = aw_as_error(e);
  int ok = msg && ae && ae->errnum == err && strstr(msg, "io_uring is not available") &&
           strstr(msg, err == EPERM ? "(EPERM)" : "(ENOSYS)") && strstr(msg, "seccomp");
  if (!ok)
    printf("unexpected error (errnum %d): %s\n", ae ? ae->errnum : -1, msg ? msg : "(none)");
  aw_release_val(e);
  return ok ? 0 : 1;
}

static void run_in_child(int err) {
  fflush(stdout);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(child_checks(err));
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77)
    skip();
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_loop_new_names_seccomp_eperm_and_what_to_do(void **state) {
  (void)state;
  run_in_child(EPERM);
}

static void test_loop_new_names_seccomp_enosys_and_what_to_do(void **state) {
  (void)state;
  run_in_child(ENOSYS);
}

static int fired;
static void on_timer(aw_loop *L, void *arg) {
  (void)L, (void)arg;
  fired++;
}
static aw_val on_nop_rejected(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  aw_error *e = aw_as_error(v);
  *(int *)arg = e ? e->errnum : -1;
  return aw_undefined();
}

static void test_no_io_loop_runs_timers_and_rejects_io_with_enouring(void **state) {
  (void)state;
  aw_loop_config cfg = {.no_io = true};
  aw_loop *L = aw_loop_new(&cfg, NULL);
  assert_non_null(L);
  aw_io_caps caps;
  assert_int_equal(aw_io_caps_get(L, &caps), -ENOSYS);
  aw_set_timeout(L, 1, on_timer, NULL);
  int errnum = 0;
  aw_promise *p = aw_io_nop(L, NULL);
  aw_release(aw_promise_catch(p, on_nop_rejected, &errnum));
  aw_release(p);
  assert_int_equal(aw_loop_run(L), 0);
  assert_int_equal(fired, 1);
  assert_int_equal(errnum, -AW_ENOURING);
  assert_int_equal(aw_loop_free(L), 0);
  assert_int_equal(aw_objects_alive(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_loop_new_names_seccomp_eperm_and_what_to_do),
      cmocka_unit_test(test_loop_new_names_seccomp_enosys_and_what_to_do),
      cmocka_unit_test(test_no_io_loop_runs_timers_and_rejects_io_with_enouring),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
