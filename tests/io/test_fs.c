/*
 * tests/io/test_fs.c — the file API of aw/io.h: every operation's success and
 * failure paths with exact values, messages and errnums; files deleted while
 * open; a 100 MiB read_file and files whose size the kernel reports as 0;
 * atomic write_file against a crash at every step; bad arguments.
 *
 * How a test drives the loop: the setup makes it (io_test_loop takes the
 * leak baseline then, so it comes before any object of the test); a test
 * starts an operation, runs the loop until it is idle (io_test_run; polled
 * under valgrind, see drive()), and inspects the settled promise. The test
 * holds the promise instead of attaching handlers, so the loop's
 * unhandled-rejection mode is NONE. Values the test takes are kept in a list
 * and released at the end (or by the teardown, when an assertion stopped the
 * test half-way, so one failure does not make every later test fail its leak
 * check).
 *
 * Fixtures and checks use plain system calls (open, write, stat...), never
 * the library under test. Each test has a fresh directory from io_test_dir(),
 * removed by the teardown, and ends with io_test_done (nothing left alive).
 *
 * The tests run as root, which bypasses permission checks: the EACCES tests
 * fork a child that drops to uid/gid 65534 and runs its own loop there,
 * reporting through its exit status (77: it could not drop privileges, or
 * the system does not enforce permissions for it: the test is skipped with
 * the printed reason). A call that may crash the process (a negative size,
 * which a sanitizer's allocator aborts on) runs in a child process too.
 */
#include "io_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#if AW_HAVE_MEMCHECK
#include <valgrind/valgrind.h>
#endif

/* The library's test hook (io/file.c): an atomic write_file stops dead before this step. */
extern int aw__write_file_crash_at;
/* And the random part of atomic write_file's temporary names (NULL: getrandom). */
extern uint64_t (*aw__write_file_tmp_rand)(void);

/* Temporary-name randoms the next atomic writes get, in order (then 0x5a5a... for ever). */
static struct {
  uint64_t v[8];
  unsigned n, next;
} rands;

static uint64_t next_rand(void) {
  return rands.next < rands.n ? rands.v[rands.next++] : 0x5a5a5a5a5a5a5a5au;
}

/* Makes the next atomic writes' temporary names predictable: "PATH.tmp.PID.<v as 16 hex>". */
static void fix_tmp_names(unsigned n, const uint64_t *v) {
  memcpy(rands.v, v, n * sizeof *v);
  rands.n = n;
  rands.next = 0;
  aw__write_file_tmp_rand = next_rand;
}

static const char *tmp_name_of(const char *path, uint64_t v);
/* The step numbers of io/file.c. */
enum {
  S_OPEN = 1,
  S_FSTAT,
  S_READ,
  S_WRITE,
  S_FSYNC,
  S_CLOSE,
  S_RENAME,
  S_DOPEN,
  S_DSYNC,
  S_DCLOSE
};

#define MiB (1024u * 1024u)

/* ---- the fixture ------------------------------------------------------------------------- */

static struct {
  aw_loop *L;
  char dir[512];
  char cwd[4096];
  aw_val held[256];
  size_t nheld;
} T;

static aw_loop *loop(void);

static void release_held(void) {
  while (T.nheld > 0)
    aw_release_val(T.held[--T.nheld]);
}

static aw_val hold(aw_val v) {
  if (T.nheld == sizeof T.held / sizeof T.held[0])
    fail_msg("test_fs: too many values held by one test");
  T.held[T.nheld++] = v;
  return v;
}

static int setup(void **state) {
  (void)state;
  snprintf(T.dir, sizeof T.dir, "%s", io_test_dir());
  T.L = NULL;
  T.nheld = 0;
  aw__write_file_crash_at = 0;
  aw__write_file_tmp_rand = NULL;
  loop(); /* first: io_test_loop takes the leak baseline, so no object may come before it */
  return 0;
}

static int teardown(void **state) {
  (void)state;
  aw__write_file_crash_at = 0;
  aw__write_file_tmp_rand = NULL;
  release_held();
  if (T.L) { /* the test stopped half-way */
    aw_loop_free(T.L);
    T.L = NULL;
  }
  if (chdir(T.cwd) != 0)
    fail_msg("chdir back to %s: %s", T.cwd, strerror(errno));
  io_test_rmrf(T.dir);
  return 0;
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* The test's loop (made by the setup, or again after finish()). */
static aw_loop *loop(void) {
  if (!T.L) {
    T.L = io_test_loop(0);
    aw_loop_set_rejection_mode(T.L, AW_REJECTIONS_NONE);
  }
  return T.L;
}

/* Ends the test: releases what it held, frees the loop, asserts nothing is left alive. */
static void finish(void) {
  release_held();
  aw_loop *L = loop();
  T.L = NULL;
  io_test_done(L);
}

/* dir/name, in one of a few rotating buffers. */
static const char *P(const char *name) {
  static char ring[16][1024];
  static unsigned i;
  char *s = ring[i++ % 16];
  snprintf(s, sizeof ring[0], "%s/%s", T.dir, name);
  return s;
}

static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...) {
  static char ring[8][2048];
  static unsigned i;
  char *s = ring[i++ % 8];
  va_list ap;
  va_start(ap, f);
  vsnprintf(s, sizeof ring[0], f, ap);
  va_end(ap);
  return s;
}

static const char *tmp_name_of(const char *path, uint64_t v) {
  return fmt("%s.tmp.%d.%016llx", path, (int)getpid(), (unsigned long long)v);
}

/* ---- running operations ------------------------------------------------------------------- */

/*
 * Runs L until nothing keeps it alive; aw_loop_run's result. Under valgrind
 * (3.19), whose io_uring_enter keeps the big lock while it blocks in the
 * kernel, a helper thread (readdir, realpath) could never run to post its
 * result and wake the loop: there the loop is polled, sleeping in between.
 */
static int drive(aw_loop *L) {
#if AW_HAVE_MEMCHECK
  if (RUNNING_ON_VALGRIND) {
    int r;
    while ((r = aw_loop_run_once(L, false)) == 1)
      usleep(1000);
    return r;
  }
#endif
  return aw_loop_run(L);
}

/* Runs the loop until idle; the outcome of p (thrown if it rejected), held by the test. */
static aw_val settle(aw_promise *p) {
  assert_non_null(p);
#if AW_HAVE_MEMCHECK
  if (RUNNING_ON_VALGRIND)
    assert_int_equal(drive(loop()), 0);
  else
#endif
    io_test_run(loop());
  return hold(io_test_take(p));
}

/* The value p fulfilled with (borrowed); fails the test if it rejected. */
static aw_val ok(aw_promise *p) {
  aw_val v = settle(p);
  if (aw_is_thrown(v)) {
    aw_error_print(v, stderr);
    fail_msg("expected a fulfilment, got a rejection: %s", aw_error_message(v));
  }
  return v;
}

/* The reason p rejected with (borrowed); fails the test if it fulfilled. */
static aw_val rejects(aw_promise *p) {
  aw_val v = settle(p);
  if (!aw_is_thrown(v))
    fail_msg("expected a rejection, got a fulfilment");
  return aw_caught(v);
}

static void check_error(aw_val v, const char *name, int errnum, const char *msg) {
  aw_error *e = aw_as_error(v);
  if (!e)
    fail_msg("expected %s \"%s\", got a value that is not an error", name, msg);
  assert_string_equal(e->name, name);
  assert_string_equal(e->message->data, msg);
  assert_int_equal(e->errnum, errnum);
}

/* p rejects with an Error of errnum whose message is msg. */
static void expect_errno(aw_promise *p, int errnum, const char *msg) {
  check_error(rejects(p), "Error", errnum, msg);
}

static int as_int(aw_val v) {
  assert_int_equal(aw_tag_of(v), AW_TAG_INT);
  return (int)v.u.i;
}

static aw_buf *as_buf(aw_val v) {
  assert_true(aw_is_type(v, AW_T_BUFFER));
  return (aw_buf *)v.u.o;
}

static void assert_buf_is(const aw_buf *b, const char *s) {
  size_t n = strlen(s);
  assert_int_equal(b->len, n);
  assert_memory_equal(b->data, s, n);
}

static const struct statx *as_statx(aw_val v) {
  const struct statx *st = aw_fs_statx(v);
  assert_non_null(st);
  return st;
}

/* ---- plain system calls for fixtures and checks ---------------------------------------------- */

static void put(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    fail_msg("open %s: %s", path, strerror(errno));
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n <= 0)
      fail_msg("write %s: %s", path, strerror(errno));
    p += n;
    len -= (size_t)n;
  }
  assert_int_equal(close(fd), 0);
}

static void puts_(const char *path, const char *s) { put(path, s, strlen(s)); }

/* The content of path, NUL-terminated, in a static buffer; fails if it is missing or too big. */
static const char *content(const char *path) {
  static char buf[1 << 16];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail_msg("open %s: %s", path, strerror(errno));
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n < 0)
      fail_msg("read %s: %s", path, strerror(errno));
    if (n == 0)
      break;
    len += (size_t)n;
    if (len == sizeof buf - 1)
      fail_msg("%s is too big for content()", path);
  }
  close(fd);
  buf[len] = 0;
  return buf;
}

static bool exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

static int open_ro(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail_msg("open %s: %s", path, strerror(errno));
  return fd;
}

/* A descriptor number that is not open (the lowest free one, once the loop has its own). */
static int closed_fd(void) {
  loop();
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  close(fd);
  return fd;
}

static bool fd_is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

/* Descriptors this process has open. */
static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* not the one opendir holds */
}

/* The names in T.dir other than those listed (NULL-terminated), sorted, joined with ' '. */
static const char *other_entries(const char *const *except) {
  static char out[4096];
  struct dirent **list;
  int n = scandir(T.dir, &list, NULL, alphasort);
  assert_true(n >= 0);
  out[0] = 0;
  for (int i = 0; i < n; i++) {
    const char *name = list[i]->d_name;
    bool skip_it = !strcmp(name, ".") || !strcmp(name, "..");
    for (const char *const *x = except; !skip_it && *x; x++)
      skip_it = !strcmp(name, *x);
    if (!skip_it) {
      if (out[0])
        strncat(out, " ", sizeof out - strlen(out) - 1);
      strncat(out, name, sizeof out - strlen(out) - 1);
    }
    free(list[i]);
  }
  free(list);
  return out;
}

/* "0123456789" in dir/name. */
static const char *digits_file(const char *name) {
  const char *path = P(name);
  puts_(path, "0123456789");
  return path;
}

/* ==== open, close ============================================================================= */

static void open_resolves_with_a_descriptor_of_the_file(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = as_int(ok(aw_fs_open(loop(), path, O_RDONLY, 0, NULL)));
  assert_true(fd >= 0);
  struct stat a, b;
  assert_int_equal(fstat(fd, &a), 0);
  assert_int_equal(stat(path, &b), 0);
  assert_int_equal(a.st_ino, b.st_ino);
  assert_int_equal(a.st_dev, b.st_dev);
  char c[4];
  assert_int_equal(pread(fd, c, 4, 0), 4);
  assert_memory_equal(c, "0123", 4);
  close(fd);
  finish();
}

static void open_with_o_creat_creates_the_file_with_its_mode(void **state) {
  (void)state;
  const char *path = P("new");
  int fd = as_int(ok(aw_fs_open(loop(), path, O_WRONLY | O_CREAT | O_EXCL, 0640, NULL)));
  close(fd);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0640); /* umask 022 takes nothing from 0640 */
  assert_int_equal(st.st_size, 0);
  finish();
}

static void open_with_o_trunc_empties_the_file(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = as_int(ok(aw_fs_open(loop(), path, O_WRONLY | O_TRUNC, 0, NULL)));
  close(fd);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, 0);
  finish();
}

static void open_missing_file_rejects_with_enoent(void **state) {
  (void)state;
  const char *path = P("missing");
  expect_errno(aw_fs_open(loop(), path, O_RDONLY, 0, NULL), ENOENT,
               fmt("open %s: No such file or directory (ENOENT)", path));
  finish();
}

static void open_below_a_file_rejects_with_enotdir(void **state) {
  (void)state;
  digits_file("f");
  const char *path = P("f/x");
  expect_errno(aw_fs_open(loop(), path, O_RDONLY, 0, NULL), ENOTDIR,
               fmt("open %s: Not a directory (ENOTDIR)", path));
  finish();
}

static void open_directory_for_writing_rejects_with_eisdir(void **state) {
  (void)state;
  assert_int_equal(mkdir(P("d"), 0755), 0);
  const char *path = P("d");
  expect_errno(aw_fs_open(loop(), path, O_WRONLY, 0, NULL), EISDIR,
               fmt("open %s: Is a directory (EISDIR)", path));
  finish();
}

static void open_exclusive_of_an_existing_file_rejects_with_eexist(void **state) {
  (void)state;
  const char *path = digits_file("f");
  expect_errno(aw_fs_open(loop(), path, O_WRONLY | O_CREAT | O_EXCL, 0644, NULL), EEXIST,
               fmt("open %s: File exists (EEXIST)", path));
  assert_string_equal(content(path), "0123456789");
  finish();
}

/* As Node: "ENOENT: no such file or directory, open ''" (it said "open fd -1"). */
static void operations_on_the_empty_path_reject_with_enoent_naming_it(void **state) {
  (void)state;
  expect_errno(aw_fs_open(loop(), "", O_RDONLY, 0, NULL), ENOENT,
               "open '': No such file or directory (ENOENT)");
  expect_errno(aw_fs_read_file(loop(), "", NULL), ENOENT,
               "open '': No such file or directory (ENOENT)");
  expect_errno(aw_fs_unlink(loop(), "", NULL), ENOENT,
               "unlink '': No such file or directory (ENOENT)");
  expect_errno(aw_fs_write_file(loop(), "", aw_buf_from("x", 1), NULL), ENOENT,
               "open '': No such file or directory (ENOENT)");
  finish();
}

static void open_rejection_leaves_no_descriptor_open(void **state) {
  (void)state;
  loop();
  int before = count_fds();
  rejects(aw_fs_open(loop(), P("missing"), O_RDONLY, 0, NULL));
  assert_int_equal(count_fds(), before);
  finish();
}

static void close_closes_the_descriptor(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  aw_val v = ok(aw_fs_close(loop(), fd, NULL));
  assert_true(aw_is_undefined(v));
  assert_false(fd_is_open(fd));
  finish();
}

static void close_of_a_closed_descriptor_rejects_with_ebadf(void **state) {
  (void)state;
  int fd = closed_fd();
  expect_errno(aw_fs_close(loop(), fd, NULL), EBADF,
               fmt("close fd %d: Bad file descriptor (EBADF)", fd));
  finish();
}

/* ---- EACCES: a child process as nobody ----------------------------------------------------------
 */

#define NOBODY 65534

typedef int (*child_fn)(const char *dir);
static const char *child_name(child_fn fn);

/*
 * Runs fn(dir) in a child process, as uid/gid 65534 if drop, with its own
 * loop; fn returns 0 (pass), 77 (cannot test here, reason printed) or another
 * code (fail, reason printed on stderr). A crash in the child fails the test
 * without taking the suite down. T.dir is made traversable first.
 *
 * The child execs this program again ("--child NAME DIR", see main) rather
 * than running fn in the forked copy: this process has threads (the loops'
 * pools), and a child forked from a threaded process may not start threads
 * of its own under ThreadSanitizer ("starting new threads after
 * multi-threaded fork is not supported"), nor safely anywhere (locks other
 * threads held at the fork stay held). Between fork and exec it only drops
 * its privileges.
 */
static void run_child(child_fn fn, bool drop) {
  const char *name = child_name(fn);
  assert_non_null(name);
  assert_int_equal(chmod(T.dir, 0755), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (drop && (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)) {
      printf("skipped: cannot drop privileges to uid/gid %d: %s\n", NOBODY, strerror(errno));
      fflush(stdout);
      _exit(77);
    }
    if (drop && (geteuid() != NOBODY || getegid() != NOBODY)) {
      printf("skipped: still euid %d egid %d after setuid/setgid\n", (int)geteuid(),
             (int)getegid());
      fflush(stdout);
      _exit(77);
    }
    execl("/proc/self/exe", "test_fs", "--child", name, T.dir, (char *)NULL);
    printf("skipped: cannot exec /proc/self/exe for the child: %s\n", strerror(errno));
    fflush(stdout);
    _exit(77);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFSIGNALED(status))
    fail_msg("the child process died of signal %d", WTERMSIG(status));
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77)
    skip();
  if (WEXITSTATUS(status) != 0)
    fail_msg("the child process failed (exit status %d): see its output above",
             WEXITSTATUS(status));
}

static void as_nobody(int (*fn)(const char *dir)) { run_child(fn, true); }

/* In the child: a loop, or exit 77 with the reason. */
static aw_loop *child_loop(void) {
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(NULL, &err);
  if (!L) {
    printf("skipped: no io_uring loop in the child (uid %d): %s\n", (int)getuid(),
           aw_error_message(err) ? aw_error_message(err) : "?");
    fflush(stdout);
    _exit(77);
  }
  aw_loop_set_rejection_mode(L, AW_REJECTIONS_NONE);
  return L;
}

/* In the child: runs L, then 0 if p rejected with exactly errnum and msg (else reasons on stderr).
 */
static int child_expect(aw_loop *L, aw_promise *p, int errnum, const char *msg) {
  int bad = 0;
  if (drive(L) != 0) {
    fprintf(stderr, "child: aw_loop_run failed\n");
    bad = 1;
  }
  aw_error *e = aw_as_error(aw_promise_result(p));
  if (aw_promise_state(p) != AW_REJECTED || !e) {
    fprintf(stderr, "child: expected a rejection \"%s\", got state %d\n", msg,
            (int)aw_promise_state(p));
    bad = 1;
  } else if (strcmp(e->name, "Error") || e->errnum != errnum || strcmp(e->message->data, msg)) {
    fprintf(stderr, "child: expected Error errnum %d \"%s\"\n       got %s errnum %d \"%s\"\n",
            errnum, msg, e->name, e->errnum, e->message->data);
    bad = 1;
  }
  aw_release(p);
  return bad;
}

/* In the child: frees L and checks nothing is left alive (the count the child started with). */
static int child_done(aw_loop *L, int64_t alive_before, int bad) {
  if (aw_loop_free(L) != 0 || aw_objects_alive() != alive_before) {
    fprintf(stderr, "child: %lld objects alive after aw_loop_free (%lld before)\n",
            (long long)aw_objects_alive(), (long long)alive_before);
    bad = 1;
  }
  return bad;
}

static int child_open_eacces(const char *dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/secret", dir);
  int fd = open(path, O_RDONLY);
  if (fd >= 0 || errno != EACCES) {
    printf("skipped: uid %d can open a 0600 file of root's (%s): permission checks are not "
           "enforced here\n",
           NOBODY, fd >= 0 ? "it opened" : strerror(errno));
    _exit(77);
  }
  int64_t alive = aw_objects_alive();
  aw_loop *L = child_loop();
  int bad = child_expect(L, aw_fs_open(L, path, O_RDONLY, 0, NULL), EACCES,
                         fmt("open %s: Permission denied (EACCES)", path));
  return child_done(L, alive, bad);
}

static void open_without_permission_rejects_with_eacces(void **state) {
  (void)state;
  const char *path = P("secret");
  puts_(path, "root only");
  assert_int_equal(chmod(path, 0600), 0);
  as_nobody(child_open_eacces);
  loop();
  finish();
}

static int child_readdir_eacces(const char *dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/private", dir);
  DIR *d = opendir(path);
  if (d || errno != EACCES) {
    printf("skipped: uid %d can list a 0700 directory of root's: permission checks are not "
           "enforced here\n",
           NOBODY);
    _exit(77);
  }
  int64_t alive = aw_objects_alive();
  aw_loop *L = child_loop();
  int bad = child_expect(L, aw_fs_readdir(L, path, NULL), EACCES,
                         fmt("scandir %s: Permission denied (EACCES)", path));
  return child_done(L, alive, bad);
}

static void readdir_without_permission_rejects_with_eacces(void **state) {
  (void)state;
  assert_int_equal(mkdir(P("private"), 0700), 0);
  puts_(P("private/f"), "x");
  as_nobody(child_readdir_eacces);
  loop();
  finish();
}

static int child_write_file_eacces(const char *dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/ro/f", dir);
  int fd = open(path, O_WRONLY | O_CREAT, 0644);
  if (fd >= 0 || errno != EACCES) {
    printf("skipped: uid %d can create a file in a 0755 directory of root's\n", NOBODY);
    _exit(77);
  }
  int64_t alive = aw_objects_alive();
  aw_loop *L = child_loop();
  int bad = child_expect(L, aw_fs_write_file(L, path, aw_buf_from("x", 1), NULL), EACCES,
                         fmt("open %s: Permission denied (EACCES)", path));
  return child_done(L, alive, bad);
}

static void write_file_in_a_directory_without_permission_rejects_with_eacces(void **state) {
  (void)state;
  assert_int_equal(mkdir(P("ro"), 0755), 0);
  as_nobody(child_write_file_eacces);
  assert_false(exists(P("ro/f")));
  loop();
  finish();
}

/* ==== read ==================================================================================== */

static void read_at_an_offset_returns_the_bytes_there(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  assert_buf_is(as_buf(ok(aw_fs_read(loop(), fd, 4, 3, NULL))), "3456");
  close(fd);
  finish();
}

static void
read_at_a_negative_offset_other_than_the_file_position_rejects_with_einval(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  const char *m = fmt("read fd %d: Invalid argument (EINVAL)", fd);
  expect_errno(aw_fs_read(loop(), fd, 4, -2, NULL), EINVAL, m);
  expect_errno(aw_fs_read_into(loop(), fd, aw_buf_new(4), INT64_MIN, NULL), EINVAL, m);
  aw_buf *v[1] = {aw_buf_new(4)};
  expect_errno(aw_fs_readv(loop(), fd, v, 1, -7, NULL), EINVAL,
               fmt("readv fd %d: Invalid argument (EINVAL)", fd));
  assert_int_equal(lseek(fd, 0, SEEK_CUR), 0); /* nothing was read */
  close(fd);
  finish();
}

static void
write_at_a_negative_offset_other_than_the_file_position_rejects_with_einval(void **state) {
  (void)state;
  int fd = open(digits_file("f"), O_WRONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  expect_errno(aw_fs_write(loop(), fd, aw_buf_from("x", 1), -2, NULL), EINVAL,
               fmt("write fd %d: Invalid argument (EINVAL)", fd));
  aw_buf *v[1] = {aw_buf_from("x", 1)};
  expect_errno(aw_fs_writev(loop(), fd, v, 1, -3, NULL), EINVAL,
               fmt("writev fd %d: Invalid argument (EINVAL)", fd));
  close(fd);
  assert_string_equal(content(P("f")), "0123456789");
  finish();
}

/* As pread: an offset on a pipe is ESPIPE (io_uring would read the stream, ignoring it). */
static void read_at_an_offset_on_a_pipe_rejects_with_espipe_and_leaves_the_data(void **state) {
  (void)state;
  int pp[2];
  assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
  assert_int_equal(write(pp[1], "abc", 3), 3);
  expect_errno(aw_fs_read(loop(), pp[0], 3, 0, NULL), ESPIPE,
               fmt("read fd %d: Illegal seek (ESPIPE)", pp[0]));
  expect_errno(aw_fs_write(loop(), pp[1], aw_buf_from("x", 1), 5, NULL), ESPIPE,
               fmt("write fd %d: Illegal seek (ESPIPE)", pp[1]));
  assert_buf_is(as_buf(ok(aw_fs_read(loop(), pp[0], 3, AW_FS_CUR, NULL))), "abc");
  close(pp[0]);
  close(pp[1]);
  finish();
}

static void read_at_an_offset_leaves_the_file_position(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  ok(aw_fs_read(loop(), fd, 4, 3, NULL));
  assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
  close(fd);
  finish();
}

static void two_reads_at_the_file_position_advance(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  assert_buf_is(as_buf(ok(aw_fs_read(loop(), fd, 4, -1, NULL))), "0123");
  assert_buf_is(as_buf(ok(aw_fs_read(loop(), fd, 4, -1, NULL))), "4567");
  assert_int_equal(lseek(fd, 0, SEEK_CUR), 8);
  close(fd);
  finish();
}

static void read_at_the_file_position_starts_where_the_descriptor_is(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  assert_int_equal(lseek(fd, 6, SEEK_SET), 6);
  assert_buf_is(as_buf(ok(aw_fs_read(loop(), fd, 3, -1, NULL))), "678");
  close(fd);
  finish();
}

static void read_across_the_end_returns_a_short_buffer(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  assert_buf_is(as_buf(ok(aw_fs_read(loop(), fd, 100, 6, NULL))), "6789");
  close(fd);
  finish();
}

static void read_at_the_end_returns_an_empty_buffer(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  assert_int_equal(as_buf(ok(aw_fs_read(loop(), fd, 16, 10, NULL)))->len, 0);
  assert_int_equal(as_buf(ok(aw_fs_read(loop(), fd, 16, 1000, NULL)))->len, 0);
  close(fd);
  finish();
}

static void read_of_a_directory_rejects_with_eisdir(void **state) {
  (void)state;
  int fd = open(T.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(fd >= 0);
  expect_errno(aw_fs_read(loop(), fd, 16, 0, NULL), EISDIR,
               fmt("read fd %d: Is a directory (EISDIR)", fd));
  close(fd);
  finish();
}

static void read_of_a_closed_descriptor_rejects_with_ebadf(void **state) {
  (void)state;
  int fd = closed_fd();
  expect_errno(aw_fs_read(loop(), fd, 16, 0, NULL), EBADF,
               fmt("read fd %d: Bad file descriptor (EBADF)", fd));
  finish();
}

static void read_of_a_write_only_descriptor_rejects_with_ebadf(void **state) {
  (void)state;
  int fd = open(digits_file("f"), O_WRONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  expect_errno(aw_fs_read(loop(), fd, 16, 0, NULL), EBADF,
               fmt("read fd %d: Bad file descriptor (EBADF)", fd));
  close(fd);
  finish();
}

/* ==== read_into ================================================================================
 */

static void read_into_appends_to_the_buffer_and_resolves_with_the_count(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  aw_buf *b = aw_buf_new(6);
  memcpy(b->data, "ab", 2);
  b->len = 2;
  aw_retain(b);
  hold(aw_obj_val(b));
  assert_int_equal(as_int(ok(aw_fs_read_into(loop(), fd, b, 5, NULL))), 4);
  assert_buf_is(b, "ab5678");
  assert_int_equal(b->hdr.refs, 1); /* the operation let its reference go */
  close(fd);
  finish();
}

static void read_into_at_the_end_resolves_with_zero(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  aw_buf *b = aw_buf_new(8);
  hold(aw_obj_val(aw_retain(b)));
  assert_int_equal(as_int(ok(aw_fs_read_into(loop(), fd, b, 10, NULL))), 0);
  assert_int_equal(b->len, 0);
  close(fd);
  finish();
}

static void two_read_intos_at_the_file_position_advance(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  aw_buf *a = aw_buf_new(3), *b = aw_buf_new(3);
  hold(aw_obj_val(aw_retain(a)));
  hold(aw_obj_val(aw_retain(b)));
  assert_int_equal(as_int(ok(aw_fs_read_into(loop(), fd, a, -1, NULL))), 3);
  assert_int_equal(as_int(ok(aw_fs_read_into(loop(), fd, b, -1, NULL))), 3);
  assert_buf_is(a, "012");
  assert_buf_is(b, "345");
  assert_int_equal(lseek(fd, 0, SEEK_CUR), 6);
  close(fd);
  finish();
}

static void
read_into_of_a_closed_descriptor_rejects_with_ebadf_and_releases_the_buffer(void **state) {
  (void)state;
  int fd = closed_fd();
  aw_buf *b = aw_buf_new(8);
  hold(aw_obj_val(aw_retain(b)));
  expect_errno(aw_fs_read_into(loop(), fd, b, 0, NULL), EBADF,
               fmt("read fd %d: Bad file descriptor (EBADF)", fd));
  assert_int_equal(b->len, 0);
  assert_int_equal(b->hdr.refs, 1);
  finish();
}

/* ==== write ====================================================================================
 */

static void write_at_an_offset_writes_there_and_resolves_with_the_count(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(as_int(ok(aw_fs_write(loop(), fd, aw_buf_from("ab", 2), 3, NULL))), 2);
  assert_int_equal(lseek(fd, 0, SEEK_CUR), 0); /* positional: the file position stays */
  close(fd);
  assert_string_equal(content(path), "012ab56789");
  finish();
}

static void write_past_the_end_extends_the_file_with_zeros(void **state) {
  (void)state;
  const char *path = P("f");
  puts_(path, "ab");
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  assert_int_equal(as_int(ok(aw_fs_write(loop(), fd, aw_buf_from("z", 1), 4, NULL))), 1);
  close(fd);
  char buf[8];
  int rfd = open_ro(path);
  assert_int_equal(read(rfd, buf, sizeof buf), 5);
  close(rfd);
  assert_memory_equal(buf, "ab\0\0z", 5);
  finish();
}

static void two_writes_at_the_file_position_follow_each_other(void **state) {
  (void)state;
  const char *path = P("f");
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(as_int(ok(aw_fs_write(loop(), fd, aw_buf_from("hello ", 6), -1, NULL))), 6);
  assert_int_equal(as_int(ok(aw_fs_write(loop(), fd, aw_buf_from("world", 5), -1, NULL))), 5);
  assert_int_equal(lseek(fd, 0, SEEK_CUR), 11);
  close(fd);
  assert_string_equal(content(path), "hello world");
  finish();
}

static void write_of_a_large_buffer_writes_every_byte(void **state) {
  (void)state;
  const size_t n = 24 * MiB + 13;
  const char *path = P("big");
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  aw_buf *b = aw_buf_new(n);
  for (size_t i = 0; i < n; i++)
    b->data[i] = (uint8_t)(i * 7 + (i >> 12));
  b->len = n;
  assert_int_equal(as_int(ok(aw_fs_write(loop(), fd, b, 0, NULL))), (int)n);
  close(fd);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, n);
  int rfd = open_ro(path);
  static uint8_t chunk[1 << 16];
  size_t off = 0;
  for (ssize_t got; (got = read(rfd, chunk, sizeof chunk)) > 0; off += (size_t)got)
    for (ssize_t i = 0; i < got; i++)
      if (chunk[i] != (uint8_t)((off + (size_t)i) * 7 + ((off + (size_t)i) >> 12)))
        fail_msg("byte %zu differs", off + (size_t)i);
  close(rfd);
  assert_int_equal(off, n);
  finish();
}

static void write_of_an_empty_buffer_resolves_with_zero(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  assert_int_equal(as_int(ok(aw_fs_write(loop(), fd, aw_buf_new(8), 0, NULL))), 0);
  close(fd);
  assert_string_equal(content(path), "0123456789");
  finish();
}

static void write_to_a_read_only_descriptor_rejects_with_ebadf(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = open_ro(path);
  expect_errno(aw_fs_write(loop(), fd, aw_buf_from("x", 1), 0, NULL), EBADF,
               fmt("write fd %d: Bad file descriptor (EBADF)", fd));
  close(fd);
  assert_string_equal(content(path), "0123456789");
  finish();
}

static void write_to_a_closed_descriptor_rejects_with_ebadf(void **state) {
  (void)state;
  int fd = closed_fd();
  expect_errno(aw_fs_write(loop(), fd, aw_buf_from("x", 1), 0, NULL), EBADF,
               fmt("write fd %d: Bad file descriptor (EBADF)", fd));
  finish();
}

/* ==== readv, writev =============================================================================
 */

static void readv_fills_the_buffers_in_order(void **state) {
  (void)state;
  const char *path = P("f");
  puts_(path, "0123456789AB");
  int fd = open_ro(path);
  aw_buf *b[3] = {aw_buf_new(3), aw_buf_new(4), aw_buf_new(5)};
  for (int i = 0; i < 3; i++)
    hold(aw_obj_val(aw_retain(b[i])));
  assert_int_equal(as_int(ok(aw_fs_readv(loop(), fd, b, 3, 0, NULL))), 12);
  assert_buf_is(b[0], "012");
  assert_buf_is(b[1], "3456");
  assert_buf_is(b[2], "789AB");
  for (int i = 0; i < 3; i++)
    assert_int_equal(b[i]->hdr.refs, 1);
  close(fd);
  finish();
}

static void readv_appends_after_the_bytes_the_buffers_hold(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  aw_buf *b[2] = {aw_buf_from("x", 1), aw_buf_new(3)};
  aw_buf_reserve(b[0], 3);
  for (int i = 0; i < 2; i++)
    hold(aw_obj_val(aw_retain(b[i])));
  assert_int_equal(as_int(ok(aw_fs_readv(loop(), fd, b, 2, 4, NULL))), 5);
  assert_buf_is(b[0], "x45");
  assert_buf_is(b[1], "678");
  close(fd);
  finish();
}

static void readv_across_the_end_fills_what_the_file_has(void **state) {
  (void)state;
  const char *path = P("f");
  puts_(path, "01234");
  int fd = open_ro(path);
  aw_buf *b[3] = {aw_buf_new(3), aw_buf_new(4), aw_buf_new(4)};
  for (int i = 0; i < 3; i++)
    hold(aw_obj_val(aw_retain(b[i])));
  assert_int_equal(as_int(ok(aw_fs_readv(loop(), fd, b, 3, 0, NULL))), 5);
  assert_buf_is(b[0], "012");
  assert_buf_is(b[1], "34");
  assert_buf_is(b[2], "");
  close(fd);
  finish();
}

static void two_readvs_at_the_file_position_advance(void **state) {
  (void)state;
  int fd = open_ro(digits_file("f"));
  aw_buf *a[2] = {aw_buf_new(2), aw_buf_new(2)}, *b[2] = {aw_buf_new(2), aw_buf_new(2)};
  for (int i = 0; i < 2; i++) {
    hold(aw_obj_val(aw_retain(a[i])));
    hold(aw_obj_val(aw_retain(b[i])));
  }
  assert_int_equal(as_int(ok(aw_fs_readv(loop(), fd, a, 2, -1, NULL))), 4);
  assert_int_equal(as_int(ok(aw_fs_readv(loop(), fd, b, 2, -1, NULL))), 4);
  assert_buf_is(a[0], "01");
  assert_buf_is(a[1], "23");
  assert_buf_is(b[0], "45");
  assert_buf_is(b[1], "67");
  close(fd);
  finish();
}

static void writev_writes_the_buffers_in_order_at_an_offset(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  aw_buf *b[3] = {aw_buf_from("ab", 2), aw_buf_new(4), aw_buf_from("cde", 3)}; /* one is empty */
  assert_int_equal(as_int(ok(aw_fs_writev(loop(), fd, b, 3, 2, NULL))), 5);
  assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
  close(fd);
  assert_string_equal(content(path), "01abcde789");
  finish();
}

static void two_writevs_at_the_file_position_follow_each_other(void **state) {
  (void)state;
  const char *path = P("f");
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  aw_buf *a[2] = {aw_buf_from("one ", 4), aw_buf_from("two ", 4)};
  aw_buf *b[2] = {aw_buf_from("three ", 6), aw_buf_from("four", 4)};
  assert_int_equal(as_int(ok(aw_fs_writev(loop(), fd, a, 2, -1, NULL))), 8);
  assert_int_equal(as_int(ok(aw_fs_writev(loop(), fd, b, 2, -1, NULL))), 10);
  close(fd);
  assert_string_equal(content(path), "one two three four");
  finish();
}

static void writev_of_large_buffers_writes_every_byte(void **state) {
  (void)state;
  const char *path = P("big");
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  enum { N = 4 };
  aw_buf *b[N];
  size_t total = 0;
  for (int i = 0; i < N; i++) {
    size_t n = 3 * MiB + (size_t)i * 1000;
    b[i] = aw_buf_new(n);
    memset(b[i]->data, 'a' + i, n);
    b[i]->len = n;
    total += n;
  }
  assert_int_equal(as_int(ok(aw_fs_writev(loop(), fd, b, N, 0, NULL))), (int)total);
  close(fd);
  int rfd = open_ro(path);
  static char chunk[1 << 16];
  for (int i = 0; i < N; i++) {
    size_t left = 3 * MiB + (size_t)i * 1000;
    while (left > 0) {
      ssize_t got = read(rfd, chunk, left < sizeof chunk ? left : sizeof chunk);
      assert_true(got > 0);
      for (ssize_t k = 0; k < got; k++)
        if (chunk[k] != 'a' + i)
          fail_msg("buffer %d: a wrong byte", i);
      left -= (size_t)got;
    }
  }
  assert_int_equal(read(rfd, chunk, 1), 0);
  close(rfd);
  finish();
}

static void readv_of_a_closed_descriptor_rejects_with_ebadf(void **state) {
  (void)state;
  int fd = closed_fd();
  aw_buf *b[2] = {aw_buf_new(4), aw_buf_new(4)};
  expect_errno(aw_fs_readv(loop(), fd, b, 2, 0, NULL), EBADF,
               fmt("readv fd %d: Bad file descriptor (EBADF)", fd));
  finish();
}

static void writev_to_a_read_only_descriptor_rejects_with_ebadf(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = open_ro(path);
  aw_buf *b[2] = {aw_buf_from("a", 1), aw_buf_from("b", 1)};
  expect_errno(aw_fs_writev(loop(), fd, b, 2, 0, NULL), EBADF,
               fmt("writev fd %d: Bad file descriptor (EBADF)", fd));
  close(fd);
  assert_string_equal(content(path), "0123456789");
  finish();
}

/* ==== stat, fstat ================================================================================
 */

static void stat_reports_size_mode_and_inode(void **state) {
  (void)state;
  const char *path = P("f");
  char data[1234];
  memset(data, 'x', sizeof data);
  put(path, data, sizeof data);
  assert_int_equal(chmod(path, 0640), 0);
  const struct statx *st = as_statx(ok(aw_fs_stat(loop(), path, 0, NULL)));
  struct stat ref;
  assert_int_equal(stat(path, &ref), 0);
  assert_int_equal(st->stx_size, 1234);
  assert_true(S_ISREG(st->stx_mode));
  assert_int_equal(st->stx_mode & 07777, 0640);
  assert_int_equal(st->stx_ino, ref.st_ino);
  assert_int_equal(st->stx_nlink, 1);
  assert_int_equal(st->stx_uid, ref.st_uid);
  finish();
}

static void stat_of_a_directory_reports_a_directory(void **state) {
  (void)state;
  assert_int_equal(mkdir(P("d"), 0751), 0);
  const struct statx *st = as_statx(ok(aw_fs_stat(loop(), P("d"), 0, NULL)));
  assert_true(S_ISDIR(st->stx_mode));
  assert_int_equal(st->stx_mode & 07777, 0751 & ~022);
  finish();
}

static void stat_of_a_symlink_reports_its_target(void **state) {
  (void)state;
  digits_file("target-file");
  assert_int_equal(symlink("target-file", P("link")), 0);
  const struct statx *st = as_statx(ok(aw_fs_stat(loop(), P("link"), 0, NULL)));
  assert_true(S_ISREG(st->stx_mode));
  assert_int_equal(st->stx_size, 10);
  finish();
}

static void stat_with_at_symlink_nofollow_reports_the_symlink_itself(void **state) {
  (void)state;
  digits_file("target-file");
  assert_int_equal(symlink("target-file", P("link")), 0);
  const struct statx *st = as_statx(ok(aw_fs_stat(loop(), P("link"), AT_SYMLINK_NOFOLLOW, NULL)));
  assert_true(S_ISLNK(st->stx_mode));
  assert_int_equal(st->stx_size, strlen("target-file"));
  finish();
}

static void stat_of_a_dangling_symlink_rejects_with_enoent(void **state) {
  (void)state;
  assert_int_equal(symlink("nowhere", P("link")), 0);
  const char *path = P("link");
  expect_errno(aw_fs_stat(loop(), path, 0, NULL), ENOENT,
               fmt("stat %s: No such file or directory (ENOENT)", path));
  finish();
}

static void stat_of_a_missing_file_rejects_with_enoent(void **state) {
  (void)state;
  const char *path = P("missing");
  expect_errno(aw_fs_stat(loop(), path, 0, NULL), ENOENT,
               fmt("stat %s: No such file or directory (ENOENT)", path));
  finish();
}

static void stat_below_a_file_rejects_with_enotdir(void **state) {
  (void)state;
  digits_file("f");
  const char *path = P("f/x");
  expect_errno(aw_fs_stat(loop(), path, 0, NULL), ENOTDIR,
               fmt("stat %s: Not a directory (ENOTDIR)", path));
  finish();
}

static void stat_of_an_empty_path_rejects_with_enoent(void **state) {
  (void)state;
  expect_errno(aw_fs_stat(loop(), "", 0, NULL), ENOENT,
               "stat '': No such file or directory (ENOENT)");
  finish();
}

static void fstat_reports_the_open_file(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = open(path, O_RDWR | O_CLOEXEC);
  assert_int_equal(write(fd, "more", 4), 4); /* at position 0: the size stays 10 */
  assert_int_equal(pwrite(fd, "!", 1, 19), 1);
  const struct statx *st = as_statx(ok(aw_fs_fstat(loop(), fd, NULL)));
  struct stat ref;
  assert_int_equal(fstat(fd, &ref), 0);
  assert_int_equal(st->stx_size, 20);
  assert_int_equal(st->stx_ino, ref.st_ino);
  assert_true(S_ISREG(st->stx_mode));
  close(fd);
  finish();
}

static void fstat_of_a_closed_descriptor_rejects_with_ebadf(void **state) {
  (void)state;
  int fd = closed_fd();
  expect_errno(aw_fs_fstat(loop(), fd, NULL), EBADF,
               fmt("fstat fd %d: Bad file descriptor (EBADF)", fd));
  finish();
}

static void statx_of_a_value_that_is_not_stats_is_null(void **state) {
  (void)state;
  loop();
  aw_val s = hold(aw_string("Stats"));
  assert_null(aw_fs_statx(s));
  assert_null(aw_fs_statx(aw_int(1)));
  assert_null(aw_fs_statx(aw_undefined()));
  assert_null(aw_fs_statx(hold(aw_obj_val(aw_buf_new(sizeof(struct statx))))));
  finish();
}

/* ==== fsync, fdatasync
 * ============================================================================== */

static void fsync_resolves_with_undefined(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  assert_int_equal(pwrite(fd, "x", 1, 0), 1);
  assert_true(aw_is_undefined(ok(aw_fs_fsync(loop(), fd, false, NULL))));
  close(fd);
  assert_string_equal(content(path), "x123456789");
  finish();
}

static void fdatasync_resolves_with_undefined(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  assert_int_equal(pwrite(fd, "y", 1, 9), 1);
  assert_true(aw_is_undefined(ok(aw_fs_fsync(loop(), fd, true, NULL))));
  close(fd);
  assert_string_equal(content(path), "012345678y");
  finish();
}

static void fsync_of_a_closed_descriptor_rejects_with_ebadf(void **state) {
  (void)state;
  int fd = closed_fd();
  expect_errno(aw_fs_fsync(loop(), fd, false, NULL), EBADF,
               fmt("fsync fd %d: Bad file descriptor (EBADF)", fd));
  finish();
}

static void fdatasync_of_a_closed_descriptor_rejects_with_ebadf(void **state) {
  (void)state;
  int fd = closed_fd();
  /* named after the system call, as Node names it (aw/io.h) */
  expect_errno(aw_fs_fsync(loop(), fd, true, NULL), EBADF,
               fmt("fdatasync fd %d: Bad file descriptor (EBADF)", fd));
  finish();
}

/* ==== unlink, rmdir
 * ================================================================================= */

static void unlink_removes_the_file(void **state) {
  (void)state;
  const char *path = digits_file("f");
  assert_true(aw_is_undefined(ok(aw_fs_unlink(loop(), path, NULL))));
  assert_false(exists(path));
  finish();
}

static void unlink_of_a_symlink_removes_the_link_not_the_target(void **state) {
  (void)state;
  const char *target = digits_file("target");
  assert_int_equal(symlink("target", P("link")), 0);
  ok(aw_fs_unlink(loop(), P("link"), NULL));
  assert_false(exists(P("link")));
  assert_string_equal(content(target), "0123456789");
  finish();
}

static void unlink_of_a_missing_file_rejects_with_enoent(void **state) {
  (void)state;
  const char *path = P("missing");
  expect_errno(aw_fs_unlink(loop(), path, NULL), ENOENT,
               fmt("unlink %s: No such file or directory (ENOENT)", path));
  finish();
}

static void unlink_of_a_directory_rejects_with_eisdir(void **state) {
  (void)state;
  const char *path = P("d");
  assert_int_equal(mkdir(path, 0755), 0);
  expect_errno(aw_fs_unlink(loop(), path, NULL), EISDIR,
               fmt("unlink %s: Is a directory (EISDIR)", path));
  assert_true(exists(path));
  finish();
}

static void unlink_below_a_file_rejects_with_enotdir(void **state) {
  (void)state;
  digits_file("f");
  const char *path = P("f/x");
  expect_errno(aw_fs_unlink(loop(), path, NULL), ENOTDIR,
               fmt("unlink %s: Not a directory (ENOTDIR)", path));
  finish();
}

static void rmdir_removes_an_empty_directory(void **state) {
  (void)state;
  const char *path = P("d");
  assert_int_equal(mkdir(path, 0755), 0);
  assert_true(aw_is_undefined(ok(aw_fs_rmdir(loop(), path, NULL))));
  assert_false(exists(path));
  finish();
}

static void rmdir_of_a_directory_with_entries_rejects_with_enotempty(void **state) {
  (void)state;
  const char *path = P("d");
  assert_int_equal(mkdir(path, 0755), 0);
  puts_(P("d/f"), "x");
  expect_errno(aw_fs_rmdir(loop(), path, NULL), ENOTEMPTY,
               fmt("rmdir %s: Directory not empty (ENOTEMPTY)", path));
  assert_string_equal(content(P("d/f")), "x");
  finish();
}

static void rmdir_of_a_file_rejects_with_enotdir(void **state) {
  (void)state;
  const char *path = digits_file("f");
  expect_errno(aw_fs_rmdir(loop(), path, NULL), ENOTDIR,
               fmt("rmdir %s: Not a directory (ENOTDIR)", path));
  assert_true(exists(path));
  finish();
}

static void rmdir_of_a_missing_directory_rejects_with_enoent(void **state) {
  (void)state;
  const char *path = P("missing");
  expect_errno(aw_fs_rmdir(loop(), path, NULL), ENOENT,
               fmt("rmdir %s: No such file or directory (ENOENT)", path));
  finish();
}

/* ==== rename
 * ========================================================================================= */

static void rename_moves_the_file(void **state) {
  (void)state;
  const char *from = digits_file("a"), *to = P("b");
  assert_true(aw_is_undefined(ok(aw_fs_rename(loop(), from, to, NULL))));
  assert_false(exists(from));
  assert_string_equal(content(to), "0123456789");
  finish();
}

static void rename_replaces_an_existing_target(void **state) {
  (void)state;
  const char *from = digits_file("a"), *to = P("b");
  puts_(to, "old old old old");
  ok(aw_fs_rename(loop(), from, to, NULL));
  assert_false(exists(from));
  assert_string_equal(content(to), "0123456789");
  finish();
}

static void rename_of_a_missing_file_rejects_with_enoent_naming_both_paths(void **state) {
  (void)state;
  const char *from = P("missing"), *to = P("b");
  expect_errno(aw_fs_rename(loop(), from, to, NULL), ENOENT,
               fmt("rename %s -> %s: No such file or directory (ENOENT)", from, to));
  assert_false(exists(to));
  finish();
}

static void rename_of_a_directory_over_a_file_rejects_with_enotdir(void **state) {
  (void)state;
  const char *from = P("d"), *to = digits_file("f");
  assert_int_equal(mkdir(from, 0755), 0);
  expect_errno(aw_fs_rename(loop(), from, to, NULL), ENOTDIR,
               fmt("rename %s -> %s: Not a directory (ENOTDIR)", from, to));
  assert_string_equal(content(to), "0123456789");
  finish();
}

static void rename_of_a_file_over_a_directory_rejects_with_eisdir(void **state) {
  (void)state;
  const char *from = digits_file("f"), *to = P("d");
  assert_int_equal(mkdir(to, 0755), 0);
  expect_errno(aw_fs_rename(loop(), from, to, NULL), EISDIR,
               fmt("rename %s -> %s: Is a directory (EISDIR)", from, to));
  assert_true(exists(from));
  finish();
}

/* ==== mkdir
 * ========================================================================================== */

static void mkdir_creates_a_directory_with_its_mode(void **state) {
  (void)state;
  const char *path = P("d");
  assert_true(aw_is_undefined(ok(aw_fs_mkdir(loop(), path, 0750, NULL))));
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0750);
  finish();
}

static void mkdir_of_an_existing_directory_rejects_with_eexist(void **state) {
  (void)state;
  const char *path = P("d");
  assert_int_equal(mkdir(path, 0755), 0);
  expect_errno(aw_fs_mkdir(loop(), path, 0755, NULL), EEXIST,
               fmt("mkdir %s: File exists (EEXIST)", path));
  finish();
}

static void mkdir_over_a_file_rejects_with_eexist(void **state) {
  (void)state;
  const char *path = digits_file("f");
  expect_errno(aw_fs_mkdir(loop(), path, 0755, NULL), EEXIST,
               fmt("mkdir %s: File exists (EEXIST)", path));
  assert_string_equal(content(path), "0123456789");
  finish();
}

static void mkdir_with_a_missing_parent_rejects_with_enoent(void **state) {
  (void)state;
  const char *path = P("no/d");
  expect_errno(aw_fs_mkdir(loop(), path, 0755, NULL), ENOENT,
               fmt("mkdir %s: No such file or directory (ENOENT)", path));
  finish();
}

static void mkdir_below_a_file_rejects_with_enotdir(void **state) {
  (void)state;
  digits_file("f");
  const char *path = P("f/d");
  expect_errno(aw_fs_mkdir(loop(), path, 0755, NULL), ENOTDIR,
               fmt("mkdir %s: Not a directory (ENOTDIR)", path));
  finish();
}

/* ==== read_file
 * ======================================================================================= */

static void read_file_returns_the_whole_content(void **state) {
  (void)state;
  const char *path = P("f");
  puts_(path, "hello, read_file\n");
  assert_buf_is(as_buf(ok(aw_fs_read_file(loop(), path, NULL))), "hello, read_file\n");
  finish();
}

static void read_file_of_an_empty_file_returns_an_empty_buffer(void **state) {
  (void)state;
  const char *path = P("empty");
  put(path, "", 0);
  assert_int_equal(as_buf(ok(aw_fs_read_file(loop(), path, NULL)))->len, 0);
  finish();
}

/* The 8-byte word at byte offset 8k of the big file. */
static uint64_t pattern(uint64_t k) { return (k + 1) * 0x9E3779B97F4A7C15ull; }

static void read_file_of_100_mib_returns_every_byte(void **state) {
  (void)state;
  const size_t size = 100 * MiB;
  const char *path = P("big");
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  static uint64_t chunk[MiB / 8];
  for (size_t off = 0; off < size; off += MiB) {
    for (size_t k = 0; k < MiB / 8; k++)
      chunk[k] = pattern(off / 8 + k);
    assert_int_equal(write(fd, chunk, MiB), (ssize_t)MiB);
  }
  close(fd);
  aw_buf *b = as_buf(ok(aw_fs_read_file(loop(), path, NULL)));
  assert_int_equal(b->len, size);
  for (size_t k = 0; k < size / 8; k++) {
    uint64_t w;
    memcpy(&w, b->data + 8 * k, 8);
    if (w != pattern(k))
      fail_msg("byte offset %zu: %016llx, expected %016llx", 8 * k, (unsigned long long)w,
               (unsigned long long)pattern(k));
  }
  finish();
}

/* The field names of a /proc status text ("Name Umask State ..."), in order. */
static void status_keys(const char *s, size_t len, char *out, size_t cap) {
  out[0] = 0;
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t j = i;
    while (j < len && s[j] != ':' && s[j] != '\n')
      j++;
    if (o + (j - i) + 2 < cap) {
      memcpy(out + o, s + i, j - i);
      o += j - i;
      out[o++] = ' ';
      out[o] = 0;
    }
    while (j < len && s[j] != '\n')
      j++;
    i = j + 1;
  }
}

static void read_file_of_a_proc_file_whose_size_is_zero_reads_it_whole(void **state) {
  (void)state;
  struct stat st;
  assert_int_equal(stat("/proc/self/status", &st), 0);
  assert_int_equal(st.st_size, 0); /* the premise: the kernel says 0 */
  aw_buf *b = as_buf(ok(aw_fs_read_file(loop(), "/proc/self/status", NULL)));
  char ref[16384];
  int fd = open_ro("/proc/self/status");
  ssize_t n = 0;
  for (ssize_t got; (got = read(fd, ref + n, sizeof ref - (size_t)n)) > 0;)
    n += got;
  close(fd);
  assert_true(n > 0);
  /* the values change (memory, context switches); the fields and their order do not */
  static char want[4096], got[4096];
  status_keys(ref, (size_t)n, want, sizeof want);
  status_keys((const char *)b->data, b->len, got, sizeof got);
  assert_string_equal(got, want);
  assert_true(b->len > 0 && b->data[b->len - 1] == '\n');
  char pid_line[64];
  int pl = snprintf(pid_line, sizeof pid_line, "\nPid:\t%d\n", (int)getpid());
  assert_non_null(memmem(b->data, b->len, pid_line, (size_t)pl));
  finish();
}

/*
 * A zero-size file bigger than read_file's first chunk: the environment of a
 * child process (/proc/PID/environ), made of three 100 000-byte variables, so
 * its content is known byte for byte.
 */
static void read_file_of_a_zero_size_file_larger_than_a_chunk_reads_it_whole(void **state) {
  (void)state;
  enum { VARS = 3, VLEN = 100000 };
  static char vars[VARS][VLEN + 16];
  char *envp[VARS + 1];
  size_t want_len = 0;
  for (int i = 0; i < VARS; i++) {
    int n = snprintf(vars[i], sizeof vars[i], "AW_VAR%d=", i);
    memset(vars[i] + n, 'a' + i, VLEN - (size_t)n);
    vars[i][VLEN] = 0;
    envp[i] = vars[i];
    want_len += VLEN + 1;
  }
  envp[VARS] = NULL;
  int sync[2];
  assert_int_equal(pipe2(sync, O_CLOEXEC), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char *argv[] = {"sleep", "1000", NULL};
    close(sync[0]);
    execve("/bin/sleep", argv, envp);
    _exit(127);
  }
  close(sync[1]);
  char c;
  assert_int_equal(read(sync[0], &c, 1), 0); /* EOF: the child exec'd (or died) */
  close(sync[0]);
  int status;
  if (waitpid(pid, &status, WNOHANG) != 0)
    fail_msg("the child could not exec /bin/sleep");
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
  struct stat st;
  int stat_r = stat(path, &st);
  aw_val v = settle(aw_fs_read_file(loop(), path, NULL));
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  assert_int_equal(stat_r, 0);
  assert_int_equal(st.st_size, 0);
  if (aw_is_thrown(v))
    fail_msg("read_file %s: %s", path, aw_error_message(v));
  aw_buf *b = as_buf(v);
  assert_int_equal(b->len, want_len);
  for (int i = 0; i < VARS; i++)
    assert_memory_equal(b->data + (size_t)i * (VLEN + 1), vars[i], VLEN + 1);
  finish();
}

static void read_file_of_a_missing_file_rejects_with_enoent(void **state) {
  (void)state;
  const char *path = P("missing");
  expect_errno(aw_fs_read_file(loop(), path, NULL), ENOENT,
               fmt("open %s: No such file or directory (ENOENT)", path));
  finish();
}

static void read_file_below_a_file_rejects_with_enotdir(void **state) {
  (void)state;
  digits_file("f");
  const char *path = P("f/x");
  expect_errno(aw_fs_read_file(loop(), path, NULL), ENOTDIR,
               fmt("open %s: Not a directory (ENOTDIR)", path));
  finish();
}

/* io/file.c: "names the step that failed: read /x/y: Is a directory (EISDIR)" (as Node: EISDIR,
 * read). */
static void read_file_of_a_directory_rejects_with_eisdir_naming_read(void **state) {
  (void)state;
  const char *path = P("d");
  assert_int_equal(mkdir(path, 0755), 0);
  expect_errno(aw_fs_read_file(loop(), path, NULL), EISDIR,
               fmt("read %s: Is a directory (EISDIR)", path));
  finish();
}

static void read_file_leaves_no_descriptor_open(void **state) {
  (void)state;
  const char *path = digits_file("f");
  assert_int_equal(mkdir(P("d"), 0755), 0);
  loop();
  int before = count_fds();
  ok(aw_fs_read_file(loop(), path, NULL));
  rejects(aw_fs_read_file(loop(), P("d"), NULL));
  rejects(aw_fs_read_file(loop(), P("missing"), NULL));
  assert_int_equal(count_fds(), before);
  finish();
}

/* ==== a file deleted while open
 * ========================================================================== */

static void read_through_a_descriptor_after_unlink_returns_the_content(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = open_ro(path);
  ok(aw_fs_unlink(loop(), path, NULL));
  assert_false(exists(path));
  assert_buf_is(as_buf(ok(aw_fs_read(loop(), fd, 64, 0, NULL))), "0123456789");
  close(fd);
  finish();
}

static void fstat_after_unlink_reports_no_links(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = open_ro(path);
  ok(aw_fs_unlink(loop(), path, NULL));
  const struct statx *st = as_statx(ok(aw_fs_fstat(loop(), fd, NULL)));
  assert_int_equal(st->stx_nlink, 0);
  assert_int_equal(st->stx_size, 10);
  close(fd);
  finish();
}

static void read_file_of_a_path_unlinked_while_open_rejects_with_enoent(void **state) {
  (void)state;
  const char *path = digits_file("f");
  int fd = open_ro(path);
  ok(aw_fs_unlink(loop(), path, NULL));
  expect_errno(aw_fs_read_file(loop(), path, NULL), ENOENT,
               fmt("open %s: No such file or directory (ENOENT)", path));
  assert_buf_is(as_buf(ok(aw_fs_read(loop(), fd, 4, 6, NULL))), "6789");
  close(fd);
  finish();
}

/* ==== write_file
 * ========================================================================================= */

static const aw_write_file_opts ATOMIC = {.atomic = true};

static void write_file_creates_the_file_with_the_content(void **state) {
  (void)state;
  const char *path = P("f");
  assert_true(
      aw_is_undefined(ok(aw_fs_write_file(loop(), path, aw_buf_from("brand new", 9), NULL))));
  assert_string_equal(content(path), "brand new");
  finish();
}

static void write_file_replaces_a_longer_content_whole(void **state) {
  (void)state;
  const char *path = P("f");
  puts_(path, "a much longer old content than the new one");
  ok(aw_fs_write_file(loop(), path, aw_buf_from("short", 5), NULL));
  assert_string_equal(content(path), "short");
  finish();
}

static void write_file_of_an_empty_buffer_empties_the_file(void **state) {
  (void)state;
  const char *path = digits_file("f");
  ok(aw_fs_write_file(loop(), path, aw_buf_new(16), NULL));
  assert_string_equal(content(path), "");
  finish();
}

static void write_file_gives_a_new_file_its_mode(void **state) {
  (void)state;
  const char *path = P("f");
  ok(aw_fs_write_file(loop(), path, aw_buf_from("x", 1), &(aw_write_file_opts){.mode = 0600}));
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  finish();
}

static void write_file_mode_zero_means_0666_before_the_umask(void **state) {
  (void)state;
  const char *path = P("f");
  ok(aw_fs_write_file(loop(), path, aw_buf_from("x", 1), NULL));
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0666 & ~022);
  finish();
}

static void write_file_of_a_large_buffer_writes_every_byte(void **state) {
  (void)state;
  const size_t n = 16 * MiB + 5;
  const char *path = P("big");
  aw_buf *b = aw_buf_new(n);
  for (size_t i = 0; i < n; i++)
    b->data[i] = (uint8_t)(i ^ (i >> 9));
  b->len = n;
  ok(aw_fs_write_file(loop(), path, b, NULL));
  int fd = open_ro(path);
  static uint8_t chunk[1 << 16];
  size_t off = 0;
  for (ssize_t got; (got = read(fd, chunk, sizeof chunk)) > 0; off += (size_t)got)
    for (ssize_t i = 0; i < got; i++)
      if (chunk[i] != (uint8_t)((off + (size_t)i) ^ ((off + (size_t)i) >> 9)))
        fail_msg("byte %zu differs", off + (size_t)i);
  close(fd);
  assert_int_equal(off, n);
  finish();
}

static void write_file_in_a_missing_directory_rejects_with_enoent(void **state) {
  (void)state;
  const char *path = P("no/f");
  expect_errno(aw_fs_write_file(loop(), path, aw_buf_from("x", 1), NULL), ENOENT,
               fmt("open %s: No such file or directory (ENOENT)", path));
  finish();
}

static void write_file_over_a_directory_rejects_with_eisdir(void **state) {
  (void)state;
  const char *path = P("d");
  assert_int_equal(mkdir(path, 0755), 0);
  expect_errno(aw_fs_write_file(loop(), path, aw_buf_from("x", 1), NULL), EISDIR,
               fmt("open %s: Is a directory (EISDIR)", path));
  finish();
}

static void write_file_below_a_file_rejects_with_enotdir(void **state) {
  (void)state;
  digits_file("f");
  const char *path = P("f/x");
  expect_errno(aw_fs_write_file(loop(), path, aw_buf_from("x", 1), NULL), ENOTDIR,
               fmt("open %s: Not a directory (ENOTDIR)", path));
  finish();
}

static void write_file_leaves_no_descriptor_open(void **state) {
  (void)state;
  assert_int_equal(mkdir(P("d"), 0755), 0);
  loop();
  int before = count_fds();
  ok(aw_fs_write_file(loop(), P("f"), aw_buf_from("x", 1), NULL));
  ok(aw_fs_write_file(loop(), P("g"), aw_buf_from("x", 1), &ATOMIC));
  rejects(aw_fs_write_file(loop(), P("d"), aw_buf_from("x", 1), NULL));
  rejects(aw_fs_write_file(loop(), P("d"), aw_buf_from("x", 1), &ATOMIC));
  assert_int_equal(count_fds(), before);
  finish();
}

static void write_file_atomic_replaces_the_content_and_leaves_no_temporary(void **state) {
  (void)state;
  const char *path = P("target");
  puts_(path, "the old content, longer than the new");
  assert_true(aw_is_undefined(ok(aw_fs_write_file(loop(), path, aw_buf_from("new!", 4), &ATOMIC))));
  assert_string_equal(content(path), "new!");
  assert_string_equal(other_entries((const char *[]){"target", NULL}), "");
  finish();
}

static void write_file_atomic_creates_a_new_file(void **state) {
  (void)state;
  const char *path = P("target");
  ok(aw_fs_write_file(loop(), path, aw_buf_from("fresh", 5), &ATOMIC));
  assert_string_equal(content(path), "fresh");
  assert_string_equal(other_entries((const char *[]){"target", NULL}), "");
  finish();
}

static void write_file_atomic_gives_a_new_file_its_mode(void **state) {
  (void)state;
  const char *path = P("target");
  ok(aw_fs_write_file(loop(), path, aw_buf_from("x", 1),
                      &(aw_write_file_opts){.atomic = true, .mode = 0600}));
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  finish();
}

static void write_file_atomic_of_an_empty_buffer_empties_the_file(void **state) {
  (void)state;
  const char *path = digits_file("target");
  ok(aw_fs_write_file(loop(), path, aw_buf_new(4), &ATOMIC));
  assert_string_equal(content(path), "");
  assert_string_equal(other_entries((const char *[]){"target", NULL}), "");
  finish();
}

static void write_file_atomic_to_a_relative_path_writes_beside_it(void **state) {
  (void)state;
  assert_int_equal(chdir(T.dir), 0);
  ok(aw_fs_write_file(loop(), "rel", aw_buf_from("relative", 8), &ATOMIC));
  assert_string_equal(content(P("rel")), "relative");
  assert_string_equal(other_entries((const char *[]){"rel", NULL}), "");
  finish();
}

static void write_file_atomic_in_a_missing_directory_rejects_with_enoent(void **state) {
  (void)state;
  const char *path = P("no/f");
  fix_tmp_names(1, (uint64_t[]){0xabc});
  /* the step that fails works on the temporary file: the error names it */
  expect_errno(aw_fs_write_file(loop(), path, aw_buf_from("x", 1), &ATOMIC), ENOENT,
               fmt("open %s: No such file or directory (ENOENT)", tmp_name_of(path, 0xabc)));
  assert_string_equal(other_entries((const char *[]){NULL}), "");
  finish();
}

static void
write_file_atomic_over_a_directory_rejects_with_eisdir_and_removes_the_temporary(void **state) {
  (void)state;
  const char *path = P("d");
  assert_int_equal(mkdir(path, 0755), 0);
  fix_tmp_names(1, (uint64_t[]){0xabc});
  expect_errno(aw_fs_write_file(loop(), path, aw_buf_from("x", 1), &ATOMIC), EISDIR,
               fmt("rename %s -> %s: Is a directory (EISDIR)", tmp_name_of(path, 0xabc), path));
  assert_string_equal(other_entries((const char *[]){"d", NULL}), "");
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  finish();
}

/* ---- atomic write_file: its temporary file -------------------------------------------------- */

/*
 * Files named as the old code named its temporary files (PATH.tmp.PID.N, N a
 * counter from 1): stale ones a crash could leave. The write must not fail on
 * them, nor remove them (the old code's O_EXCL open failed, and its cleanup
 * unlinked the file it had not created).
 */
static void write_file_atomic_never_removes_a_file_it_did_not_create(void **state) {
  (void)state;
  char path[1024]; /* P's buffers are reused below */
  snprintf(path, sizeof path, "%s", P("t"));
  enum { STALE = 400 };
  for (int n = 1; n <= STALE; n++)
    puts_(P(fmt("t.tmp.%d.%d", (int)getpid(), n)), "stale");
  for (int i = 0; i < 4; i++)
    ok(aw_fs_write_file(loop(), path, aw_buf_from("NEW", 3), &ATOMIC));
  assert_string_equal(content(path), "NEW");
  int intact = 0, first_gone = 0;
  for (int n = 1; n <= STALE; n++) {
    const char *stale = P(fmt("t.tmp.%d.%d", (int)getpid(), n));
    bool ok_ = exists(stale) && strcmp(content(stale), "stale") == 0;
    intact += ok_;
    if (!ok_ && !first_gone)
      first_gone = n;
  }
  if (intact != STALE)
    fail_msg("%d stale files removed or changed, the first t.tmp.%d.%d", STALE - intact,
             (int)getpid(), first_gone);
  finish();
}

/* A temporary name that exists already: another one is taken, the file there left alone. */
static void write_file_atomic_takes_another_temporary_name_when_one_exists(void **state) {
  (void)state;
  const char *path = P("t");
  const char *taken = tmp_name_of(path, 1);
  puts_(taken, "somebody else's");
  fix_tmp_names(2, (uint64_t[]){1, 2});
  ok(aw_fs_write_file(loop(), path, aw_buf_from("NEW", 3), &ATOMIC));
  assert_string_equal(content(path), "NEW");
  assert_string_equal(content(taken), "somebody else's");
  assert_string_equal(other_entries((const char *[]){"t", strrchr(taken, '/') + 1, NULL}), "");
  finish();
}

typedef struct writer {
  const char *path;
  char content[32];
  int failed;
  char first_error[256];
} writer;

/* A thread with its own loop: 200 atomic writes of its content to the same file. */
static void *atomic_writer(void *arg) {
  writer *w = arg;
  aw_loop *L = aw_loop_new(NULL, NULL);
  if (!L) {
    w->failed = -1;
    return NULL;
  }
  for (int i = 0; i < 200; i++) {
    aw_promise *p =
        aw_fs_write_file(L, w->path, aw_buf_from(w->content, strlen(w->content)), &ATOMIC);
    aw_loop_run(L);
    if (aw_promise_state(p) != AW_FULFILLED) {
      if (!w->failed++)
        snprintf(w->first_error, sizeof w->first_error, "%s",
                 aw_error_message(aw_promise_result(p)) ? aw_error_message(aw_promise_result(p))
                                                        : "?");
    }
    aw_release(p);
  }
  aw_loop_free(L);
  return NULL;
}

/* Two threads writing the same file atomically at once: every write succeeds, none is torn. */
static void two_atomic_write_files_at_once_on_two_threads_all_succeed(void **state) {
  (void)state;
  const char *path = P("t");
  writer w[2] = {{.path = path, .content = "the first writer"},
                 {.path = path, .content = "the second writer, longer"}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, atomic_writer, &w[i]), 0);
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_join(t[i], NULL), 0);
  for (int i = 0; i < 2; i++)
    if (w[i].failed)
      fail_msg("writer %d: %d writes failed, the first: %s", i, w[i].failed, w[i].first_error);
  const char *c = content(path);
  assert_true(strcmp(c, w[0].content) == 0 || strcmp(c, w[1].content) == 0);
  assert_string_equal(other_entries((const char *[]){"t", NULL}), "");
  finish();
}

/* ---- atomic write_file against a crash at every step
 * ----------------------------------------------------- */

/*
 * aw__write_file_crash_at = step: the atomic write stops dead before that
 * step, closing what it had open and nothing else, and rejects "write_file:
 * simulated crash at step N". What a crash there leaves:
 *   OPEN    nothing happened: the old content, no temporary file
 *   FSTAT, READ  not steps of write_file: the hook never fires, the write completes
 *   WRITE   the temporary file exists, empty; the old content
 *   FSYNC, CLOSE, RENAME  the temporary file holds the new content; the old content
 *   DOPEN, DSYNC, DCLOSE  renamed: the new content, no temporary file
 * Never anything else in the target, and never a descriptor left open.
 */
typedef struct crash_case {
  int step;
  bool fires;           /* the write reaches this step: it rejects there */
  bool renamed;         /* the target holds the new content */
  const char *leftover; /* the temporary file's content, or NULL: none left */
} crash_case;

static const crash_case crash_cases[] = {
    {S_OPEN, true, false, NULL},    {S_FSTAT, false, true, NULL},  {S_READ, false, true, NULL},
    {S_WRITE, true, false, ""},     {S_FSYNC, true, false, "NEW"}, {S_CLOSE, true, false, "NEW"},
    {S_RENAME, true, false, "NEW"}, {S_DOPEN, true, true, NULL},   {S_DSYNC, true, true, NULL},
    {S_DCLOSE, true, true, NULL},
};

#define OLD_CONTENT "the old content"
#define NEW_CONTENT "the new content, a little longer"

static void write_file_atomic_crash(void **state) {
  const crash_case *c = *state;
  const char *path = P("target");
  puts_(path, OLD_CONTENT);
  aw_loop *L = loop();
  int fds = count_fds();
  aw__write_file_crash_at = c->step;
  aw_val v =
      settle(aw_fs_write_file(L, path, aw_buf_from(NEW_CONTENT, strlen(NEW_CONTENT)), &ATOMIC));
  aw__write_file_crash_at = 0;
  if (c->fires) {
    if (!aw_is_thrown(v))
      fail_msg("crash at step %d: the write completed", c->step);
    check_error(aw_caught(v), "Error", 0, fmt("write_file: simulated crash at step %d", c->step));
  } else if (aw_is_thrown(v)) {
    fail_msg("hook at step %d: the write rejected: %s", c->step, aw_error_message(v));
  }
  assert_string_equal(content(path), c->renamed ? NEW_CONTENT : OLD_CONTENT);
  const char *left = other_entries((const char *[]){"target", NULL});
  if (!c->leftover) {
    assert_string_equal(left, "");
  } else {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "target.tmp.%d.", (int)getpid());
    if (strncmp(left, prefix, strlen(prefix)) != 0 || strchr(left, ' '))
      fail_msg("expected one temporary file %s*, found \"%s\"", prefix, left);
    assert_string_equal(content(P(left)),
                        strcmp(c->leftover, "NEW") == 0 ? NEW_CONTENT : c->leftover);
  }
  assert_int_equal(count_fds(), fds);
  finish();
}

#define CRASH_TEST(i, name)                                                                        \
  { name, write_file_atomic_crash, setup, teardown, (void *)&crash_cases[i] }

static void write_file_atomic_crash_before_rename_of_a_new_file_leaves_no_target(void **state) {
  (void)state;
  const char *path = P("target");
  aw__write_file_crash_at = S_RENAME;
  rejects(aw_fs_write_file(loop(), path, aw_buf_from("x", 1), &ATOMIC));
  aw__write_file_crash_at = 0;
  assert_false(exists(path));
  finish();
}

static void write_file_crash_hook_does_not_touch_a_plain_write(void **state) {
  (void)state;
  const char *path = digits_file("target");
  aw__write_file_crash_at = S_WRITE;
  ok(aw_fs_write_file(loop(), path, aw_buf_from("plain", 5), NULL));
  aw__write_file_crash_at = 0;
  assert_string_equal(content(path), "plain");
  finish();
}

/* ==== readdir
 * ============================================================================================= */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of an array of strings, sorted, joined with ' '. */
static const char *sorted_names(aw_val v) {
  static char out[4096];
  aw_array *a = aw_as_array(v);
  assert_non_null(a);
  const char *names[256];
  size_t n = aw_array_len(a);
  assert_true(n <= 256);
  for (size_t i = 0; i < n; i++) {
    names[i] = aw_cstr(aw_array_get(a, i));
    assert_non_null(names[i]);
  }
  qsort(names, n, sizeof names[0], cmp_str);
  out[0] = 0;
  for (size_t i = 0; i < n; i++) {
    if (i)
      strncat(out, " ", sizeof out - strlen(out) - 1);
    strncat(out, names[i], sizeof out - strlen(out) - 1);
  }
  return out;
}

static void readdir_lists_the_entries_without_dot_and_dot_dot(void **state) {
  (void)state;
  puts_(P("b-file"), "x");
  puts_(P(".hidden"), "x");
  assert_int_equal(mkdir(P("a-dir"), 0755), 0);
  assert_int_equal(symlink("b-file", P("c-link")), 0);
  aw_val v = ok(aw_fs_readdir(loop(), T.dir, NULL));
  assert_string_equal(sorted_names(v), ".hidden a-dir b-file c-link");
  finish();
}

static void readdir_of_an_empty_directory_is_an_empty_array(void **state) {
  (void)state;
  aw_val v = ok(aw_fs_readdir(loop(), T.dir, NULL));
  assert_non_null(aw_as_array(v));
  assert_int_equal(aw_array_len(aw_as_array(v)), 0);
  finish();
}

static void readdir_of_a_large_directory_lists_every_entry(void **state) {
  (void)state;
  enum { N = 200 };
  for (int i = 0; i < N; i++)
    puts_(P(fmt("f%03d", i)), "");
  aw_val v = ok(aw_fs_readdir(loop(), T.dir, NULL));
  aw_array *a = aw_as_array(v);
  assert_non_null(a);
  assert_int_equal(aw_array_len(a), N);
  bool seen[N] = {0};
  for (size_t i = 0; i < N; i++) {
    const char *s = aw_cstr(aw_array_get(a, i));
    assert_non_null(s);
    int k = atoi(s + 1);
    assert_true(s[0] == 'f' && k >= 0 && k < N && !seen[k]);
    seen[k] = true;
  }
  finish();
}

static void readdir_of_a_missing_directory_rejects_with_enoent(void **state) {
  (void)state;
  const char *path = P("missing");
  expect_errno(aw_fs_readdir(loop(), path, NULL), ENOENT,
               fmt("scandir %s: No such file or directory (ENOENT)", path));
  finish();
}

static void readdir_of_a_file_rejects_with_enotdir(void **state) {
  (void)state;
  const char *path = digits_file("f");
  expect_errno(aw_fs_readdir(loop(), path, NULL), ENOTDIR,
               fmt("scandir %s: Not a directory (ENOTDIR)", path));
  finish();
}

/* ==== realpath
 * ============================================================================================= */

static void realpath_resolves_dots_and_symlinks(void **state) {
  (void)state;
  assert_int_equal(mkdir(P("a"), 0755), 0);
  assert_int_equal(mkdir(P("a/b"), 0755), 0);
  puts_(P("a/b/f"), "x");
  assert_int_equal(symlink("a/b", P("l")), 0);
  char *want = realpath(P("a/b/f"), NULL);
  assert_non_null(want);
  aw_val v = ok(aw_fs_realpath(loop(), P("l/.././b//./f"), NULL));
  assert_non_null(aw_cstr(v));
  assert_string_equal(aw_cstr(v), want);
  free(want);
  finish();
}

static void realpath_of_a_missing_path_rejects_with_enoent(void **state) {
  (void)state;
  const char *path = P("missing/x");
  expect_errno(aw_fs_realpath(loop(), path, NULL), ENOENT,
               fmt("realpath %s: No such file or directory (ENOENT)", path));
  finish();
}

static void realpath_below_a_file_rejects_with_enotdir(void **state) {
  (void)state;
  digits_file("f");
  const char *path = P("f/x");
  expect_errno(aw_fs_realpath(loop(), path, NULL), ENOTDIR,
               fmt("realpath %s: Not a directory (ENOTDIR)", path));
  finish();
}

/* ==== bad arguments
 * ========================================================================================= */

/*
 * A call with bad arguments returns a promise already rejected, and puts
 * nothing in the ring: after it, one NOP is the only SQE the loop submits.
 */
typedef struct io_mark {
  aw_io_stats st;
} io_mark;

static io_mark mark(void) {
  io_mark m;
  ok(aw_io_nop(loop(), NULL)); /* a fresh loop's first enter also arms its wake poll */
  assert_int_equal(aw_io_stats_get(loop(), &m.st), 0);
  return m;
}

static void expect_nothing_queued(io_mark m) {
  ok(aw_io_nop(loop(), NULL));
  aw_io_stats now;
  assert_int_equal(aw_io_stats_get(loop(), &now), 0);
  assert_int_equal(now.submitted, m.st.submitted + 1);
  assert_int_equal(now.backlogged, m.st.backlogged);
}

/* p is already rejected with `name` (errnum, msg): checked before the loop runs. */
static void expect_early(const char *what, aw_promise *p, const char *name, int errnum,
                         const char *msg) {
  if (!p)
    fail_msg("%s: returned NULL", what);
  hold(aw_obj_val(p));
  if (aw_promise_state(p) != AW_REJECTED)
    fail_msg("%s: not rejected at once (state %d)", what, (int)aw_promise_state(p));
  aw_error *e = aw_as_error(aw_promise_result(p));
  if (!e || strcmp(e->name, name) || e->errnum != errnum || strcmp(e->message->data, msg))
    fail_msg("%s: expected %s errnum %d \"%s\", got %s errnum %d \"%s\"", what, name, errnum, msg,
             e ? e->name : "(not an error)", e ? e->errnum : -1, e ? e->message->data : "");
}

static void null_paths_reject_with_a_type_error_at_once(void **state) {
  (void)state;
  aw_loop *L = loop();
  io_mark m = mark();
  const char *np = "path must not be NULL";
  expect_early("open", aw_fs_open(L, NULL, O_RDONLY, 0, NULL), "TypeError", 0, np);
  expect_early("stat", aw_fs_stat(L, NULL, 0, NULL), "TypeError", 0, np);
  expect_early("unlink", aw_fs_unlink(L, NULL, NULL), "TypeError", 0, np);
  expect_early("rmdir", aw_fs_rmdir(L, NULL, NULL), "TypeError", 0, np);
  expect_early("rename from", aw_fs_rename(L, NULL, P("b"), NULL), "TypeError", 0, np);
  expect_early("rename to", aw_fs_rename(L, P("a"), NULL, NULL), "TypeError", 0, np);
  expect_early("mkdir", aw_fs_mkdir(L, NULL, 0755, NULL), "TypeError", 0, np);
  expect_early("read_file", aw_fs_read_file(L, NULL, NULL), "TypeError", 0, np);
  expect_early("readdir", aw_fs_readdir(L, NULL, NULL), "TypeError", 0, np);
  expect_early("realpath", aw_fs_realpath(L, NULL, NULL), "TypeError", 0, np);
  expect_nothing_queued(m);
  finish();
}

static void write_file_with_a_null_path_rejects_and_releases_the_data(void **state) {
  (void)state;
  aw_loop *L = loop();
  io_mark m = mark();
  aw_buf *b = aw_buf_from("x", 1);
  hold(aw_obj_val(aw_retain(b)));
  expect_early("write_file", aw_fs_write_file(L, NULL, b, &ATOMIC), "TypeError", 0,
               "write_file: path and data (a buffer) must not be NULL");
  assert_int_equal(b->hdr.refs, 1);
  expect_nothing_queued(m);
  finish();
}

static void null_buffers_reject_with_a_type_error_at_once(void **state) {
  (void)state;
  aw_loop *L = loop();
  int fd = open_ro(digits_file("f"));
  io_mark m = mark();
  expect_early("read_into", aw_fs_read_into(L, fd, NULL, 0, NULL), "TypeError", 0,
               "read_into: buf must be a buffer");
  expect_early("write", aw_fs_write(L, fd, NULL, 0, NULL), "TypeError", 0,
               "write: data must be a buffer");
  expect_early("write_file", aw_fs_write_file(L, P("f"), NULL, NULL), "TypeError", 0,
               "write_file: path and data (a buffer) must not be NULL");
  expect_early("readv NULL array", aw_fs_readv(L, fd, NULL, 2, 0, NULL), "TypeError", 0,
               "readv/writev: 1 to 1024 buffers");
  expect_early("writev NULL array", aw_fs_writev(L, fd, NULL, 2, 0, NULL), "TypeError", 0,
               "readv/writev: 1 to 1024 buffers");
  aw_buf *none[1] = {NULL};
  expect_early("readv no buffers", aw_fs_readv(L, fd, none, 0, 0, NULL), "TypeError", 0,
               "readv/writev: 1 to 1024 buffers");
  expect_early("writev NULL buffer", aw_fs_writev(L, fd, none, 1, 0, NULL), "TypeError", 0,
               "readv/writev: 1 to 1024 buffers");
  expect_nothing_queued(m);
  close(fd);
  assert_string_equal(content(P("f")), "0123456789");
  finish();
}

static void a_null_buffer_among_buffers_rejects_and_releases_the_others(void **state) {
  (void)state;
  aw_loop *L = loop();
  int fd = open(digits_file("f"), O_RDWR | O_CLOEXEC);
  io_mark m = mark();
  aw_buf *a = aw_buf_from("a", 1), *b = aw_buf_new(4);
  hold(aw_obj_val(aw_retain(a)));
  hold(aw_obj_val(aw_retain(b)));
  aw_buf *w[3] = {a, NULL, aw_retain(a)};
  expect_early("writev", aw_fs_writev(L, fd, w, 3, 0, NULL), "TypeError", 0,
               "readv/writev: 1 to 1024 buffers");
  aw_buf *r[2] = {b, NULL};
  expect_early("readv", aw_fs_readv(L, fd, r, 2, 0, NULL), "TypeError", 0,
               "readv/writev: 1 to 1024 buffers");
  assert_int_equal(a->hdr.refs, 1);
  assert_int_equal(b->hdr.refs, 1);
  expect_nothing_queued(m);
  close(fd);
  finish();
}

static void negative_descriptors_reject_with_ebadf_at_once(void **state) {
  (void)state;
  aw_loop *L = loop();
  io_mark m = mark();
  aw_buf *keep = aw_buf_new(4);
  hold(aw_obj_val(keep)); /* the test's one reference */
  const char *bad = "Bad file descriptor (EBADF)";
  expect_early("close", aw_fs_close(L, -1, NULL), "Error", EBADF, fmt("close fd -1: %s", bad));
  expect_early("read", aw_fs_read(L, -1, 4, 0, NULL), "Error", EBADF, fmt("read fd -1: %s", bad));
  expect_early("read_into", aw_fs_read_into(L, -1, aw_retain(keep), 0, NULL), "Error", EBADF,
               fmt("read fd -1: %s", bad));
  expect_early("write", aw_fs_write(L, -1, aw_retain(keep), 0, NULL), "Error", EBADF,
               fmt("write fd -1: %s", bad));
  aw_buf *v1[1] = {aw_retain(keep)}, *v2[1] = {aw_retain(keep)};
  expect_early("readv", aw_fs_readv(L, -1, v1, 1, 0, NULL), "Error", EBADF,
               fmt("readv fd -1: %s", bad));
  expect_early("writev", aw_fs_writev(L, -1, v2, 1, 0, NULL), "Error", EBADF,
               fmt("writev fd -1: %s", bad));
  expect_early("fstat", aw_fs_fstat(L, -1, NULL), "Error", EBADF, fmt("fstat fd -1: %s", bad));
  expect_early("fsync", aw_fs_fsync(L, -1, false, NULL), "Error", EBADF,
               fmt("fsync fd -1: %s", bad));
  expect_early("fdatasync", aw_fs_fsync(L, -1, true, NULL), "Error", EBADF,
               fmt("fdatasync fd -1: %s", bad));
  assert_int_equal(keep->hdr.refs, 1); /* every operation released what it was given */
  expect_nothing_queued(m);
  finish();
}

/* The message names the descriptor given (aw/io.h: "read fd 7: Bad file descriptor (EBADF)"). */
static void negative_descriptor_error_names_that_descriptor(void **state) {
  (void)state;
  aw_loop *L = loop();
  expect_early("read", aw_fs_read(L, -7, 4, 0, NULL), "Error", EBADF,
               "read fd -7: Bad file descriptor (EBADF)");
  expect_early("close", aw_fs_close(L, -100, NULL), "Error", EBADF,
               "close fd -100: Bad file descriptor (EBADF)");
  finish();
}

/*
 * aw/io.h: "Bad arguments (NULL, a negative size) reject with a TypeError";
 * the size is a size_t, so a negative one arrives as a huge one. In a child
 * process: an allocation of that size may abort it (a sanitizer's allocator).
 */
static int child_read_negative_size(const char *dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/f", dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "child: open %s: %s\n", path, strerror(errno));
    return 1;
  }
  int64_t alive = aw_objects_alive();
  aw_loop *L = child_loop();
  int64_t negative = -1;
  aw_promise *p = aw_fs_read(L, fd, (size_t)negative, 0, NULL);
  int bad = 0;
  aw_error *e = p ? aw_as_error(aw_promise_result(p)) : NULL;
  if (!p || aw_promise_state(p) != AW_REJECTED || !e || strcmp(e->name, "TypeError") != 0) {
    fprintf(stderr,
            "child: aw_fs_read of (size_t)-1 bytes: expected a TypeError at once, got %s%s%s\n",
            !p                                   ? "NULL"
            : aw_promise_state(p) != AW_REJECTED ? "a promise not rejected"
            : e                                  ? e->name
                                                 : "?",
            e ? ": " : "", e ? e->message->data : "");
    bad = 1;
  }
  aw_release(p);
  if (drive(L) != 0)
    bad = 1;
  close(fd);
  return child_done(L, alive, bad);
}

static void read_with_a_negative_size_rejects_with_a_type_error(void **state) {
  (void)state;
  digits_file("f");
  run_child(child_read_negative_size, false);
  loop();
  finish();
}

static void bad_arguments_leave_nothing_alive(void **state) {
  (void)state;
  aw_loop *L = loop();
  int fd = open_ro(digits_file("f"));
  /* every promise released unobserved: only io_test_done looks */
  aw_release(aw_fs_open(L, NULL, 0, 0, NULL));
  aw_release(aw_fs_read(L, -1, 8, 0, NULL));
  aw_release(aw_fs_read_into(L, fd, NULL, 0, NULL));
  aw_release(aw_fs_read_into(L, -3, aw_buf_new(8), 0, NULL));
  aw_release(aw_fs_write(L, fd, NULL, 0, NULL));
  aw_release(aw_fs_write(L, -3, aw_buf_from("x", 1), 0, NULL));
  aw_buf *v[2] = {aw_buf_new(2), aw_buf_new(2)};
  aw_release(aw_fs_readv(L, -3, v, 2, 0, NULL));
  aw_release(aw_fs_writev(L, fd, NULL, 3, 0, NULL));
  aw_release(aw_fs_write_file(L, NULL, aw_buf_from("x", 1), NULL));
  aw_release(aw_fs_write_file(L, P("f"), NULL, &ATOMIC));
  aw_release(aw_fs_rename(L, NULL, NULL, NULL));
  aw_release(aw_fs_readdir(L, NULL, NULL));
  aw_release(aw_fs_realpath(L, NULL, NULL));
  aw_release(aw_fs_fsync(L, -1, true, NULL));
  io_test_run(L);
  close(fd);
  finish();
}

/* ==== the suite
 * ================================================================================================
 */

/* The functions run_child can run, by name (the exec'd child finds its function here). */
static const struct {
  const char *name;
  child_fn fn;
} children[] = {
    {"open_eacces", child_open_eacces},
    {"readdir_eacces", child_readdir_eacces},
    {"write_file_eacces", child_write_file_eacces},
    {"read_negative_size", child_read_negative_size},
};

static const char *child_name(child_fn fn) {
  for (size_t i = 0; i < sizeof children / sizeof children[0]; i++)
    if (children[i].fn == fn)
      return children[i].name;
  return NULL;
}

/* test_fs --child NAME DIR: run_child's child, after the exec. */
static int child_main(const char *name, const char *dir) {
  umask(022);
  for (size_t i = 0; i < sizeof children / sizeof children[0]; i++) {
    if (strcmp(children[i].name, name) == 0) {
      int code = children[i].fn(dir);
      fflush(stdout);
      fflush(stderr);
      return code;
    }
  }
  fprintf(stderr, "test_fs --child: no child function %s\n", name);
  return 1;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--child") == 0)
    return child_main(argv[2], argv[3]);
  umask(022);
  if (!getcwd(T.cwd, sizeof T.cwd))
    return 1;
  const struct CMUnitTest tests[] = {
      TEST(open_resolves_with_a_descriptor_of_the_file),
      TEST(open_with_o_creat_creates_the_file_with_its_mode),
      TEST(open_with_o_trunc_empties_the_file),
      TEST(open_missing_file_rejects_with_enoent),
      TEST(open_below_a_file_rejects_with_enotdir),
      TEST(open_directory_for_writing_rejects_with_eisdir),
      TEST(open_exclusive_of_an_existing_file_rejects_with_eexist),
      TEST(open_rejection_leaves_no_descriptor_open),
      TEST(operations_on_the_empty_path_reject_with_enoent_naming_it),
      TEST(open_without_permission_rejects_with_eacces),
      TEST(close_closes_the_descriptor),
      TEST(close_of_a_closed_descriptor_rejects_with_ebadf),

      TEST(read_at_an_offset_returns_the_bytes_there),
      TEST(read_at_an_offset_leaves_the_file_position),
      TEST(two_reads_at_the_file_position_advance),
      TEST(read_at_a_negative_offset_other_than_the_file_position_rejects_with_einval),
      TEST(write_at_a_negative_offset_other_than_the_file_position_rejects_with_einval),
      TEST(read_at_an_offset_on_a_pipe_rejects_with_espipe_and_leaves_the_data),
      TEST(read_at_the_file_position_starts_where_the_descriptor_is),
      TEST(read_across_the_end_returns_a_short_buffer),
      TEST(read_at_the_end_returns_an_empty_buffer),
      TEST(read_of_a_directory_rejects_with_eisdir),
      TEST(read_of_a_closed_descriptor_rejects_with_ebadf),
      TEST(read_of_a_write_only_descriptor_rejects_with_ebadf),

      TEST(read_into_appends_to_the_buffer_and_resolves_with_the_count),
      TEST(read_into_at_the_end_resolves_with_zero),
      TEST(two_read_intos_at_the_file_position_advance),
      TEST(read_into_of_a_closed_descriptor_rejects_with_ebadf_and_releases_the_buffer),

      TEST(write_at_an_offset_writes_there_and_resolves_with_the_count),
      TEST(write_past_the_end_extends_the_file_with_zeros),
      TEST(two_writes_at_the_file_position_follow_each_other),
      TEST(write_of_a_large_buffer_writes_every_byte),
      TEST(write_of_an_empty_buffer_resolves_with_zero),
      TEST(write_to_a_read_only_descriptor_rejects_with_ebadf),
      TEST(write_to_a_closed_descriptor_rejects_with_ebadf),

      TEST(readv_fills_the_buffers_in_order),
      TEST(readv_appends_after_the_bytes_the_buffers_hold),
      TEST(readv_across_the_end_fills_what_the_file_has),
      TEST(two_readvs_at_the_file_position_advance),
      TEST(writev_writes_the_buffers_in_order_at_an_offset),
      TEST(two_writevs_at_the_file_position_follow_each_other),
      TEST(writev_of_large_buffers_writes_every_byte),
      TEST(readv_of_a_closed_descriptor_rejects_with_ebadf),
      TEST(writev_to_a_read_only_descriptor_rejects_with_ebadf),

      TEST(stat_reports_size_mode_and_inode),
      TEST(stat_of_a_directory_reports_a_directory),
      TEST(stat_of_a_symlink_reports_its_target),
      TEST(stat_with_at_symlink_nofollow_reports_the_symlink_itself),
      TEST(stat_of_a_dangling_symlink_rejects_with_enoent),
      TEST(stat_of_a_missing_file_rejects_with_enoent),
      TEST(stat_below_a_file_rejects_with_enotdir),
      TEST(stat_of_an_empty_path_rejects_with_enoent),
      TEST(fstat_reports_the_open_file),
      TEST(fstat_of_a_closed_descriptor_rejects_with_ebadf),
      TEST(statx_of_a_value_that_is_not_stats_is_null),

      TEST(fsync_resolves_with_undefined),
      TEST(fdatasync_resolves_with_undefined),
      TEST(fsync_of_a_closed_descriptor_rejects_with_ebadf),
      TEST(fdatasync_of_a_closed_descriptor_rejects_with_ebadf),

      TEST(unlink_removes_the_file),
      TEST(unlink_of_a_symlink_removes_the_link_not_the_target),
      TEST(unlink_of_a_missing_file_rejects_with_enoent),
      TEST(unlink_of_a_directory_rejects_with_eisdir),
      TEST(unlink_below_a_file_rejects_with_enotdir),
      TEST(rmdir_removes_an_empty_directory),
      TEST(rmdir_of_a_directory_with_entries_rejects_with_enotempty),
      TEST(rmdir_of_a_file_rejects_with_enotdir),
      TEST(rmdir_of_a_missing_directory_rejects_with_enoent),

      TEST(rename_moves_the_file),
      TEST(rename_replaces_an_existing_target),
      TEST(rename_of_a_missing_file_rejects_with_enoent_naming_both_paths),
      TEST(rename_of_a_directory_over_a_file_rejects_with_enotdir),
      TEST(rename_of_a_file_over_a_directory_rejects_with_eisdir),

      TEST(mkdir_creates_a_directory_with_its_mode),
      TEST(mkdir_of_an_existing_directory_rejects_with_eexist),
      TEST(mkdir_over_a_file_rejects_with_eexist),
      TEST(mkdir_with_a_missing_parent_rejects_with_enoent),
      TEST(mkdir_below_a_file_rejects_with_enotdir),

      TEST(read_file_returns_the_whole_content),
      TEST(read_file_of_an_empty_file_returns_an_empty_buffer),
      TEST(read_file_of_100_mib_returns_every_byte),
      TEST(read_file_of_a_proc_file_whose_size_is_zero_reads_it_whole),
      TEST(read_file_of_a_zero_size_file_larger_than_a_chunk_reads_it_whole),
      TEST(read_file_of_a_missing_file_rejects_with_enoent),
      TEST(read_file_below_a_file_rejects_with_enotdir),
      TEST(read_file_of_a_directory_rejects_with_eisdir_naming_read),
      TEST(read_file_leaves_no_descriptor_open),

      TEST(read_through_a_descriptor_after_unlink_returns_the_content),
      TEST(fstat_after_unlink_reports_no_links),
      TEST(read_file_of_a_path_unlinked_while_open_rejects_with_enoent),

      TEST(write_file_creates_the_file_with_the_content),
      TEST(write_file_replaces_a_longer_content_whole),
      TEST(write_file_of_an_empty_buffer_empties_the_file),
      TEST(write_file_gives_a_new_file_its_mode),
      TEST(write_file_mode_zero_means_0666_before_the_umask),
      TEST(write_file_of_a_large_buffer_writes_every_byte),
      TEST(write_file_in_a_missing_directory_rejects_with_enoent),
      TEST(write_file_over_a_directory_rejects_with_eisdir),
      TEST(write_file_below_a_file_rejects_with_enotdir),
      TEST(write_file_in_a_directory_without_permission_rejects_with_eacces),
      TEST(write_file_leaves_no_descriptor_open),
      TEST(write_file_atomic_replaces_the_content_and_leaves_no_temporary),
      TEST(write_file_atomic_creates_a_new_file),
      TEST(write_file_atomic_gives_a_new_file_its_mode),
      TEST(write_file_atomic_of_an_empty_buffer_empties_the_file),
      TEST(write_file_atomic_to_a_relative_path_writes_beside_it),
      TEST(write_file_atomic_in_a_missing_directory_rejects_with_enoent),
      TEST(write_file_atomic_over_a_directory_rejects_with_eisdir_and_removes_the_temporary),

      CRASH_TEST(0, "write_file_atomic_crash_before_open_keeps_the_old_content_and_no_temporary"),
      CRASH_TEST(1, "write_file_atomic_crash_hook_at_fstat_never_fires_and_the_write_completes"),
      CRASH_TEST(2, "write_file_atomic_crash_hook_at_read_never_fires_and_the_write_completes"),
      CRASH_TEST(3, "write_file_atomic_crash_before_write_keeps_the_old_content_and_an_empty_"
                    "temporary"),
      CRASH_TEST(4, "write_file_atomic_crash_before_fsync_keeps_the_old_content_and_the_temporary"),
      CRASH_TEST(5, "write_file_atomic_crash_before_close_keeps_the_old_content_and_the_temporary"),
      CRASH_TEST(6,
                 "write_file_atomic_crash_before_rename_keeps_the_old_content_and_the_temporary"),
      CRASH_TEST(7, "write_file_atomic_crash_before_directory_open_has_the_new_content_and_no_"
                    "temporary"),
      CRASH_TEST(8, "write_file_atomic_crash_before_directory_fsync_has_the_new_content_and_no_"
                    "temporary"),
      CRASH_TEST(9, "write_file_atomic_crash_before_directory_close_has_the_new_content_and_no_"
                    "temporary"),
      TEST(write_file_atomic_crash_before_rename_of_a_new_file_leaves_no_target),
      TEST(write_file_crash_hook_does_not_touch_a_plain_write),
      TEST(write_file_atomic_never_removes_a_file_it_did_not_create),
      TEST(write_file_atomic_takes_another_temporary_name_when_one_exists),
      TEST(two_atomic_write_files_at_once_on_two_threads_all_succeed),

      TEST(readdir_lists_the_entries_without_dot_and_dot_dot),
      TEST(readdir_of_an_empty_directory_is_an_empty_array),
      TEST(readdir_of_a_large_directory_lists_every_entry),
      TEST(readdir_of_a_missing_directory_rejects_with_enoent),
      TEST(readdir_of_a_file_rejects_with_enotdir),
      TEST(readdir_without_permission_rejects_with_eacces),

      TEST(realpath_resolves_dots_and_symlinks),
      TEST(realpath_of_a_missing_path_rejects_with_enoent),
      TEST(realpath_below_a_file_rejects_with_enotdir),

      TEST(null_paths_reject_with_a_type_error_at_once),
      TEST(write_file_with_a_null_path_rejects_and_releases_the_data),
      TEST(null_buffers_reject_with_a_type_error_at_once),
      TEST(a_null_buffer_among_buffers_rejects_and_releases_the_others),
      TEST(negative_descriptors_reject_with_ebadf_at_once),
      TEST(negative_descriptor_error_names_that_descriptor),
      TEST(read_with_a_negative_size_rejects_with_a_type_error),
      TEST(bad_arguments_leave_nothing_alive),
  };
  return cmocka_run_group_tests_name("io/fs", tests, NULL, NULL);
}
