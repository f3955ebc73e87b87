/*
 * tests/fault/driver.c — walks every fault site of a program (SQLite's and
 * libuv's approach; executor/fault.h has the sites).
 *
 *   fault-driver PROGRAM            count the hits of each site in one clean run, then
 *                                   for every site and every N from 1 to its count, run
 *                                   the program in a forked child with the Nth hit failing
 *   fault-driver PROGRAM SITE:N     one run in this process with that hit failing (what a
 *                                   failure prints to reproduce it; AW_FAULT_TRACE=2 shows
 *                                   where the fault went in)
 *   fault-driver PROGRAM SITE       the walk of one site only
 *
 * PROGRAM is promise, io or pool (programs.h). A run passes if it exits 0:
 * the program found every promise settled or the failure reported, nothing
 * alive (aw_objects_alive() == 0), no descriptor left open, and LeakSanitizer
 * (in ASan builds) found no leak. It fails if it crashes, leaks, or is still
 * running after RUN_TIMEOUT seconds (a hang). An allocation failure where the
 * library aborts by design (DESIGN.md, "Out of memory": the executor's small
 * objects) is counted as such, not as a failure; the walk ends with the list
 * of the functions that aborted, so that the design can be checked site by
 * site. Exit status: 0 if every run passed, 1 otherwise.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "executor/fault.h"
#include "programs.h"

#define RUN_TIMEOUT 10 /* seconds: aw_loop_free and aw_pool_shutdown each wait up to 5 */
#define OOM_MESSAGE "libawait: out of memory allocating"
/* A run slower than this waited out one of the library's timeouts (aw_loop_free's 5 s
 * reap, aw_pool_shutdown's wait): a lost wake-up or a cancel never sent. The programs
 * take well under a second even in an ASan build. */
#define RUN_STALL 4.0

/* ---- what the programs share ---------------------------------------------------------- */

aw_promise *track(tracker *t, aw_promise *p) {
  if (!p) {
    t->made_null++;
    return NULL;
  }
  if (t->n == TRACK_MAX) {
    fprintf(stderr, "tracker full\n");
    abort();
  }
  t->p[t->n++] = p;
  return p;
}

int track_check(tracker *t, const char *prog, int r) {
  if (r < 0 && r != AW_EUNCAUGHT) {
    fprintf(stderr, "%s: aw_loop_run returned %d\n", prog, r);
    return 1;
  }
  if (r != 0)
    return 0; /* the loop reported why it stopped */
  for (size_t i = 0; i < t->n; i++)
    if (aw_promise_state(t->p[i]) == AW_PENDING) {
      fprintf(stderr, "%s: promise %zu still pending after aw_loop_run returned 0\n", prog, i);
      return 1;
    }
  return 0;
}

void track_release(tracker *t) {
  for (size_t i = 0; i < t->n; i++)
    aw_release(t->p[i]);
  t->n = 0;
}

aw_loop *prog_loop(unsigned ring_entries) {
  aw_val err = aw_undefined();
  aw_loop *L = aw_loop_new(&(aw_loop_config){.ring_entries = ring_entries}, &err);
  if (!L)
    aw_release_val(err);
  return L;
}

aw_val h_ignore(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v, (void)arg;
  return aw_undefined();
}

/* ---- one run ---------------------------------------------------------------------------- */

static const struct {
  const char *name;
  int (*fn)(void);
} programs[] = {{"promise", prog_promise}, {"io", prog_io}, {"pool", prog_pool}};

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static void list_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char path[300], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n > 0 && e->d_name[0] != '.')
      fprintf(stderr, "  fd %s -> %.*s\n", e->d_name, (int)n, target);
  }
  if (d)
    closedir(d);
}

/* Runs prog with site's nth hit failing (site < 0: none); 0 if it behaved. */
static int run_once(int (*prog)(void), int site, uint64_t n) {
  for (int s = 0; s < AW__FAULT_NSITES; s++)
    aw__fault_arm(s, 0);
  int fds = count_fds();
  if (site >= 0)
    aw__fault_arm(site, n);
  int bad = prog();
  int64_t alive = aw_objects_alive();
  if (alive != 0) {
    fprintf(stderr, "fault-driver: %lld objects still alive after aw_loop_free\n",
            (long long)alive);
    bad = 1;
  }
  int fds_after = count_fds();
  if (fds_after != fds) {
    fprintf(stderr, "fault-driver: %d descriptors open before, %d after:\n", fds, fds_after);
    list_fds();
    bad = 1;
  }
  return bad;
}

/* ---- the walk --------------------------------------------------------------------------- */

typedef struct outcome {
  int status;     /* waitpid's */
  double secs;    /* how long the run took */
  char err[8192]; /* the start of the child's stderr */
  size_t err_len;
} outcome;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Forks a child for one run; counts (if not NULL) receives its hit counts. */
static void run_child(int (*prog)(void), int site, uint64_t n, uint64_t *counts, outcome *out) {
  int errp[2], cntp[2];
  if (pipe2(errp, O_CLOEXEC) || pipe2(cntp, O_CLOEXEC)) {
    perror("pipe");
    exit(2);
  }
  fflush(NULL);
  double t0 = now_s();
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(2);
  }
  if (pid == 0) {
    dup2(errp[1], 2);
    alarm(RUN_TIMEOUT);
    aw__fault_set_trace(1);
    int bad = run_once(prog, site, n);
    uint64_t c[AW__FAULT_NSITES];
    for (int s = 0; s < AW__FAULT_NSITES; s++)
      c[s] = aw__fault_count(s);
    if (write(cntp[1], c, sizeof c) != (ssize_t)sizeof c)
      bad = 1;
    exit(bad ? 1 : 0); /* LeakSanitizer checks at exit */
  }
  close(errp[1]);
  close(cntp[1]);
  out->err_len = 0;
  char sink[4096];
  for (;;) {
    char *dst = out->err_len < sizeof out->err - 1 ? out->err + out->err_len : sink;
    size_t room =
        out->err_len < sizeof out->err - 1 ? sizeof out->err - 1 - out->err_len : sizeof sink;
    ssize_t r = read(errp[0], dst, room);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    if (dst != sink)
      out->err_len += (size_t)r;
  }
  out->err[out->err_len] = 0;
  uint64_t c[AW__FAULT_NSITES];
  ssize_t got = read(cntp[0], c, sizeof c);
  if (counts && got == (ssize_t)sizeof c)
    memcpy(counts, c, sizeof c);
  close(errp[0]);
  close(cntp[0]);
  while (waitpid(pid, &out->status, 0) < 0 && errno == EINTR)
    ;
  out->secs = now_s() - t0;
}

/* A run that passes: exit 0, quickly, and without the library reporting stuck operations. */
static bool run_passed(const outcome *o) {
  return WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0 && o->secs < RUN_STALL &&
         !strstr(o->err, "did not complete");
}

/* The functions that aborted on an injected allocation failure, by design. */
#define MAX_SITES 256
static struct {
  char trace[400];
  unsigned runs;
} oom_sites[MAX_SITES];
static unsigned n_oom_sites;

static void note_oom(const char *err) {
  const char *t = strstr(err, "libawait: fault: injecting alloc");
  if (!t || !(t = strstr(t, " at ")))
    return;
  size_t len = strcspn(t + 4, "\n");
  if (len >= sizeof oom_sites[0].trace)
    len = sizeof oom_sites[0].trace - 1;
  for (unsigned i = 0; i < n_oom_sites; i++)
    if (strlen(oom_sites[i].trace) == len && !memcmp(oom_sites[i].trace, t + 4, len)) {
      oom_sites[i].runs++;
      return;
    }
  if (n_oom_sites == MAX_SITES)
    return;
  memcpy(oom_sites[n_oom_sites].trace, t + 4, len);
  oom_sites[n_oom_sites].trace[len] = 0;
  oom_sites[n_oom_sites++].runs = 1;
}

/* Frames of the allocator and of the injection itself: the site is the first other one. */
static bool is_alloc_frame(const char *fn) {
  static const char *const skip[] = {"aw__fault",    "print_trace", "aw__try_alloc", "aw__alloc",
                                     "aw__calloc",   "aw__realloc", "aw__oom",       "chunk_alloc",
                                     "aw__pool_get", "pool_get",    "grow",          "??"};
  for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
    if (!strncmp(fn, skip[i], strlen(skip[i])))
      return true;
  return false;
}

/*
 * Symbolizes each distinct call chain once with addr2line and prints, per
 * function that made the failed allocation, how many runs aborted there and
 * one chain of its callers.
 */
static void print_oom_sites(const char *exe) {
  if (!n_oom_sites)
    return;
  static struct {
    char site[600], chain[600];
    unsigned runs;
  } by_fn[MAX_SITES];
  unsigned n_fn = 0;
  for (unsigned i = 0; i < n_oom_sites; i++) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "addr2line -f -s -e %s %s 2>/dev/null", exe, oom_sites[i].trace);
    FILE *p = popen(cmd, "r");
    char fn[256], loc[256], site[600] = "", chain[600] = "";
    int shown = 0;
    while (p && fgets(fn, sizeof fn, p) && fgets(loc, sizeof loc, p)) {
      fn[strcspn(fn, "\n")] = 0;
      loc[strcspn(loc, " \n")] = 0;
      if (shown == 0 && is_alloc_frame(fn))
        continue;
      if (shown == 0)
        snprintf(site, sizeof site, "%s (%s)", fn, loc);
      else if (shown < 4) {
        size_t l = strlen(chain);
        snprintf(chain + l, sizeof chain - l, " <- %s", fn);
      }
      shown++;
    }
    if (p)
      pclose(p);
    unsigned j = 0;
    while (j < n_fn && strcmp(by_fn[j].site, site))
      j++;
    if (j == n_fn) {
      snprintf(by_fn[j].site, sizeof by_fn[j].site, "%s", site);
      snprintf(by_fn[j].chain, sizeof by_fn[j].chain, "%s", chain);
      n_fn++;
    }
    by_fn[j].runs += oom_sites[i].runs;
  }
  printf("  allocation failures that abort by design (DESIGN.md \"Out of memory\"), by site:\n");
  for (unsigned j = 0; j < n_fn; j++)
    printf("    %4u x %s%s\n", by_fn[j].runs, by_fn[j].site, by_fn[j].chain);
}

/* One line for a failed run, with the command that reproduces it, and the child's stderr. */
static void report_failure(const char *exe, const char *prog, int site, uint64_t n,
                           const outcome *o) {
  char why[64];
  if (WIFSIGNALED(o->status))
    snprintf(why, sizeof why, "%s",
             WTERMSIG(o->status) == SIGALRM ? "hang (timeout)" : strsignal(WTERMSIG(o->status)));
  else if (WEXITSTATUS(o->status) != 0)
    snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(o->status));
  else
    snprintf(why, sizeof why, "stalled (%.1f s, or operations left in the kernel)", o->secs);
  printf("FAIL %s %s:%llu: %s\n  reproduce: %s %s %s:%llu\n", prog, aw__fault_name(site),
         (unsigned long long)n, why, exe, prog, aw__fault_name(site), (unsigned long long)n);
  const char *e = o->err;
  int lines = 0;
  while (*e && lines < 40) {
    size_t l = strcspn(e, "\n");
    printf("  | %.*s\n", (int)l, e);
    e += l + (e[l] == '\n');
    lines++;
  }
}

static int walk(const char *exe, const char *prog_name, int (*prog)(void), int only_site) {
  uint64_t counts[AW__FAULT_NSITES] = {0};
  outcome *o = malloc(sizeof *o);
  run_child(prog, -1, 0, counts, o);
  if (!run_passed(o)) {
    printf("FAIL %s: the run without faults failed\n", prog_name);
    report_failure(exe, prog_name, 0, 0, o);
    free(o);
    return 1;
  }
  bool inject = aw__fault_inject_works();
  int failures = 0;
  double t0 = now_s();
  for (int site = 0; site < AW__FAULT_NSITES; site++) {
    if (only_site >= 0 && site != only_site)
      continue;
    if (!inject && (site == AW__FAULT_OPEN || site == AW__FAULT_ACCEPT)) {
      printf("%s %s: skipped (this kernel's NOP cannot inject a result: Linux 6.11 needed)\n",
             prog_name, aw__fault_name(site));
      continue;
    }
    unsigned passed = 0, oom = 0, failed = 0;
    double ts = now_s();
    for (uint64_t n = 1; n <= counts[site]; n++) {
      run_child(prog, site, n, NULL, o);
      if (run_passed(o)) {
        passed++;
      } else if (site == AW__FAULT_ALLOC && WIFSIGNALED(o->status) &&
                 WTERMSIG(o->status) == SIGABRT && strstr(o->err, OOM_MESSAGE) &&
                 !strstr(o->err, "Sanitizer")) {
        oom++;
        note_oom(o->err);
      } else {
        failed++;
        report_failure(exe, prog_name, site, n, o);
      }
    }
    printf("%s %s: %llu hits, %u passed, %u aborted by design, %u failed (%.1f s)\n", prog_name,
           aw__fault_name(site), (unsigned long long)counts[site], passed, oom, failed,
           now_s() - ts);
    fflush(stdout);
    failures += (int)failed;
  }
  print_oom_sites(exe);
  printf("%s: %s (%.1f s)\n", prog_name, failures ? "FAILED" : "every site passed", now_s() - t0);
  free(o);
  return failures ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s promise|io|pool [SITE[:N]]\n", argv[0]);
    return 2;
  }
  int (*prog)(void) = NULL;
  for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++)
    if (!strcmp(argv[1], programs[i].name))
      prog = programs[i].fn;
  if (!prog) {
    fprintf(stderr, "fault-driver: unknown program '%s'\n", argv[1]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  char exe[4096];
  ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[l > 0 ? l : 0] = 0;
  if (argc < 3)
    return walk(exe, argv[1], prog, -1);
  char site_name[16];
  unsigned long long n = 0;
  int k = sscanf(argv[2], "%15[a-z]:%llu", site_name, &n);
  int site = k >= 1 ? aw__fault_site_of(site_name) : -1;
  if (site < 0) {
    fprintf(stderr, "fault-driver: bad site '%s'\n", argv[2]);
    return 2;
  }
  if (k == 1)
    return walk(exe, argv[1], prog, site);
  const char *t = getenv("AW_FAULT_TRACE");
  aw__fault_set_trace(t ? atoi(t) : 1);
  alarm(RUN_TIMEOUT); /* a hang ends as it does in the walk */
  int bad = run_once(prog, site, n);
  printf("%s %s:%llu: %s (%llu hits, %llu injected)\n", argv[1], site_name, n,
         bad ? "FAILED" : "passed", (unsigned long long)aw__fault_count(site),
         (unsigned long long)aw__fault_injected(site));
  return bad;
}
