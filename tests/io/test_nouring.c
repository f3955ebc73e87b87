/*
 * tests/io/test_nouring.c — where io_uring is forbidden, the loop comes up on the epoll backend
 * and does real work; forced onto io_uring it fails with an error that names the cause.
 *
 * The "forbidden" is real: a forked child installs a seccomp filter that makes io_uring_setup,
 * io_uring_enter and io_uring_register fail with EPERM, exactly as Docker's, containerd's and
 * Kubernetes' RuntimeDefault profiles do (moby PR 46762), or with ENOSYS (a kernel or a sandbox
 * without io_uring). Under it:
 *   - AUTO (no cfg, no AW_IO): aw_loop_new succeeds, aw_io_caps_get says the backend is epoll,
 *     and the child runs tests/io/io_work.c's work to completion: a file round trip (write_file,
 *     read_file, stat, fstat, read at an offset, fsync, rename, unlink, mkdir, rmdir), a 256 KiB
 *     TCP echo through a receiver to end of stream, the abort of a pending recv (one settlement,
 *     the signal's reason), then frees the loop with nothing left alive;
 *   - awsum (the bundled tool, found through AW_TEST_AWSUM, which meson sets) prints the right
 *     sums instead of "cannot start";
 *   - cfg.backend = AW_IO_BACKEND_URING, or AW_IO=uring: aw_loop_new fails with errnum = the
 *     filter's errno and a message naming io_uring, the errno and seccomp;
 *   - AW_IO=none: a loop without I/O, as before.
 * A loop made with cfg.no_io still runs promises and timers, and its I/O rejects with ENOURING.
 *
 * The checks in a child never use cmocka's assertions (a failed one would longjmp into the
 * parent's copy of cmocka): they print and exit 1; the parent asserts the exit status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
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
#include "io_work.h"

/* Makes io_uring_setup, io_uring_enter and io_uring_register fail with err in this process (and
 * its children, across exec: PR_SET_NO_NEW_PRIVS). */
static int forbid_io_uring(int err) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
  };
  struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

#define CHILD_CHECK(c)                                                                             \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      printf("%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                                 \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

/* In the child: the filter, and proof that it bites (all three calls fail with err). */
static int child_forbid(int err) {
  unsetenv("AW_IO"); /* each check sets what it is about */
  if (forbid_io_uring(err) < 0) {
    printf("seccomp not available here: %s\n", strerror(errno));
    return 77;
  }
  struct io_uring_params p = {0};
  errno = 0;
  CHILD_CHECK(syscall(__NR_io_uring_setup, 1, &p) == -1 && errno == err);
  errno = 0;
  CHILD_CHECK(syscall(__NR_io_uring_enter, 0, 0, 0, 0, NULL, 0) == -1 && errno == err);
  errno = 0;
  CHILD_CHECK(syscall(__NR_io_uring_register, 0, 0, NULL, 0) == -1 && errno == err);
  return 0;
}

/* AUTO under the filter: the epoll backend, and real work on it to completion. */
static int child_auto_runs_real_work(int err) {
  int rc = child_forbid(err);
  if (rc)
    return rc;
  aw_val e = aw_undefined();
  aw_loop *L = aw_loop_new(NULL, &e);
  if (!L) {
    printf("aw_loop_new failed without io_uring: ");
    aw_error_print(e, stdout);
    aw_release_val(e);
    return 1;
  }
  aw_io_caps caps;
  CHILD_CHECK(aw_io_caps_get(L, &caps) == 0);
  CHILD_CHECK(caps.backend == AW_IO_BACKEND_EPOLL);
  CHILD_CHECK(caps.backend_name && strcmp(caps.backend_name, "epoll") == 0);
  /* and why: the text a forced io_uring loop fails with */
  if (!strstr(caps.fallback_reason, "io_uring") ||
      !strstr(caps.fallback_reason, err == EPERM ? "(EPERM)" : "(ENOSYS)")) {
    printf("fallback_reason: \"%s\"\n", caps.fallback_reason);
    return 1;
  }
  char dir[] = "/tmp/aw-nouring-XXXXXX";
  CHILD_CHECK(mkdtemp(dir) != NULL);
  CHILD_CHECK(iow_files(L, dir, 100 * 1024 + 7) == 0);
  CHILD_CHECK(iow_tcp_echo(L, 256 * 1024) == 0);
  CHILD_CHECK(iow_abort_recv(L) == 0);
  CHILD_CHECK(aw_loop_run(L) == 0);
  CHILD_CHECK(aw_loop_free(L) == 0);
  CHILD_CHECK(aw_objects_alive() == 0);
  CHILD_CHECK(rmdir(dir) == 0);
  return 0;
}

/* awsum, a program on the library, under the filter. */
static int child_awsum(int err) {
  const char *awsum = getenv("AW_TEST_AWSUM");
  if (!awsum || !awsum[0]) {
    printf("AW_TEST_AWSUM is not set (meson sets it to the build's tools/awsum/awsum)\n");
    return 77;
  }
  int rc = child_forbid(err);
  if (rc)
    return rc;
  char dir[] = "/tmp/aw-nouring-awsum-XXXXXX";
  CHILD_CHECK(mkdtemp(dir) != NULL);
  rc = iow_awsum(awsum, dir);
  rmdir(dir);
  return rc ? 1 : 0;
}

/* aw_loop_new(cfg) under the filter must fail with the detailed error. */
static int expect_uring_error(const aw_loop_config *cfg, int err, const char *how) {
  aw_val e = aw_undefined();
  aw_loop *L = aw_loop_new(cfg, &e);
  if (L) {
    printf("%s: aw_loop_new succeeded without io_uring\n", how);
    aw_loop_free(L);
    return 1;
  }
  const char *msg = aw_error_message(e);
  aw_error *ae = aw_as_error(e);
  int ok = msg && ae && ae->errnum == err && strstr(msg, "io_uring is not available") &&
           strstr(msg, err == EPERM ? "(EPERM)" : "(ENOSYS)") && strstr(msg, "seccomp");
  if (!ok)
    printf("%s: unexpected error (errnum %d): %s\n", how, ae ? ae->errnum : -1,
           msg ? msg : "(none)");
  aw_release_val(e);
  return ok ? 0 : 1;
}

/* io_uring forced, by the configuration and by the environment, under the filter. */
static int child_forced_uring_fails(int err) {
  int rc = child_forbid(err);
  if (rc)
    return rc;
  aw_loop_config cfg = {.backend = AW_IO_BACKEND_URING};
  if (expect_uring_error(&cfg, err, "cfg.backend = AW_IO_BACKEND_URING"))
    return 1;
  setenv("AW_IO", "uring", 1);
  rc = expect_uring_error(NULL, err, "AW_IO=uring");
  unsetenv("AW_IO");
  return rc;
}

/* AW_IO=none and AW_IO=epoll under the filter: what they say, nothing tries io_uring. */
static int child_env_none_and_epoll(int err) {
  int rc = child_forbid(err);
  if (rc)
    return rc;
  aw_io_caps caps;
  setenv("AW_IO", "none", 1);
  aw_loop *L = aw_loop_new(NULL, NULL);
  CHILD_CHECK(L != NULL);
  CHILD_CHECK(aw_io_caps_get(L, &caps) == -ENOSYS);
  CHILD_CHECK(aw_loop_free(L) == 0);
  setenv("AW_IO", "epoll", 1);
  L = aw_loop_new(NULL, NULL);
  CHILD_CHECK(L != NULL);
  CHILD_CHECK(aw_io_caps_get(L, &caps) == 0 && caps.backend == AW_IO_BACKEND_EPOLL);
  CHILD_CHECK(iow_abort_recv(L) == 0);
  CHILD_CHECK(aw_loop_free(L) == 0);
  unsetenv("AW_IO");
  CHILD_CHECK(aw_objects_alive() == 0);
  return 0;
}

/*
 * Runs fn(err) in a child. Exit codes: 0 pass, 1 wrong behaviour (printed), 77 skipped (seccomp
 * unavailable). The child leaves with exit(), not _exit(), so that LeakSanitizer checks it.
 */
static void run_in_child(int (*fn)(int), int err) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int rc = fn(err);
    fflush(stdout);
    exit(rc);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77)
    skip();
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_auto_falls_back_to_epoll_and_runs_real_work_under_eperm(void **state) {
  (void)state;
  run_in_child(child_auto_runs_real_work, EPERM);
}

static void test_auto_falls_back_to_epoll_and_runs_real_work_under_enosys(void **state) {
  (void)state;
  run_in_child(child_auto_runs_real_work, ENOSYS);
}

static void test_awsum_sums_files_under_eperm(void **state) {
  (void)state;
  run_in_child(child_awsum, EPERM);
}

static void test_forced_uring_names_seccomp_eperm_and_what_to_do(void **state) {
  (void)state;
  run_in_child(child_forced_uring_fails, EPERM);
}

static void test_forced_uring_names_seccomp_enosys_and_what_to_do(void **state) {
  (void)state;
  run_in_child(child_forced_uring_fails, ENOSYS);
}

static void test_aw_io_none_and_epoll_under_eperm(void **state) {
  (void)state;
  run_in_child(child_env_none_and_epoll, EPERM);
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
      cmocka_unit_test(test_auto_falls_back_to_epoll_and_runs_real_work_under_eperm),
      cmocka_unit_test(test_auto_falls_back_to_epoll_and_runs_real_work_under_enosys),
      cmocka_unit_test(test_awsum_sums_files_under_eperm),
      cmocka_unit_test(test_forced_uring_names_seccomp_eperm_and_what_to_do),
      cmocka_unit_test(test_forced_uring_names_seccomp_enosys_and_what_to_do),
      cmocka_unit_test(test_aw_io_none_and_epoll_under_eperm),
      cmocka_unit_test(test_no_io_loop_runs_timers_and_rejects_io_with_enouring),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
