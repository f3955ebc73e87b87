/*
 * tools/awsum/main.c — the command line, the loop and the pool, hash mode.
 *
 *   awsum [OPTIONS] PATH...            SHA-256 of every regular file (sha256sum lines)
 *   awsum -c [OPTIONS] MANIFEST...     verify, as sha256sum -c
 *   awsum --dupes [OPTIONS] PATH...    groups of identical files, as jdupes -r
 *
 * The run: options parsed (usage errors exit 2), a loop with its io_uring,
 * a pool of our own (--jobs CPU threads), then the mode; the loop runs until
 * nothing is left to do; records are reported (in path order unless
 * --unordered); exit 0, or 1 if anything could not be done.
 */
#include "awsum.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

#define DEFAULT_CHUNK MiB
#define DEFAULT_MAX_INFLIGHT (64 * MiB)
#define MIN_CHUNK (4 * KiB)
#define MAX_CHUNK GiB
#define MAX_JOBS 1024

/* ---- memory ------------------------------------------------------------------------------ */

_Noreturn void awsum_oom(void) {
  fputs("awsum: out of memory\n", stderr);
  abort();
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p)
    awsum_oom();
  return p;
}

void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p)
    awsum_oom();
  return p;
}

void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p)
    awsum_oom();
  return p;
}

char *xstrdup(const char *s) {
  char *p = strdup(s);
  if (!p)
    awsum_oom();
  return p;
}

/* ---- records ----------------------------------------------------------------------------- */

arec *awsum_rec_new(awsum *A, char *path, enum arec_kind kind) {
  if (A->nrecs == A->caprecs) {
    A->caprecs = A->caprecs ? 2 * A->caprecs : 1024;
    A->recs = xrealloc(A->recs, A->caprecs * sizeof *A->recs);
  }
  arec *r = xcalloc(1, sizeof *r);
  r->path = path;
  r->kind = (uint8_t)kind;
  r->seq = (uint32_t)A->nrecs;
  A->recs[A->nrecs++] = r;
  return r;
}

static int by_path_then_seq(const void *a, const void *b) {
  const arec *x = *(const arec *const *)a, *y = *(const arec *const *)b;
  int c = strcmp(x->path, y->path); /* strcmp compares as unsigned char: byte order */
  return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

void awsum_sort_recs(awsum *A) {
  if (A->nrecs)
    qsort(A->recs, A->nrecs, sizeof *A->recs, by_path_then_seq);
}

static void free_recs(awsum *A) {
  for (size_t i = 0; i < A->nrecs; i++) {
    free(A->recs[i]->path);
    free(A->recs[i]);
  }
  free(A->recs);
}

/* ---- descriptors ------------------------------------------------------------------------- */

/* The descriptor limit, raised to the hard limit if lower (up to 65536). */
static unsigned open_files_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 256;
  rlim_t want = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur < 65536 ? (unsigned)rl.rlim_cur : 65536;
}

/* The descriptors open now, below limit: /proc/self/fd, else asking each number. */
static unsigned open_fds_count(unsigned limit) {
  unsigned n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    struct dirent *de;
    while ((de = readdir(d)))
      n += de->d_name[0] != '.' && (unsigned)atoi(de->d_name) != (unsigned)dirfd(d);
    closedir(d);
    return n;
  }
  for (unsigned fd = 0; fd < limit; fd++)
    n += fcntl((int)fd, F_GETFD) != -1;
  return n;
}

void fds_init(awsum *A) {
  unsigned limit = open_files_limit(), used = open_fds_count(limit);
  /* Nothing else opens one for long; a moment's (OpenSSL's, say) costs a wait at most. */
  A->fd_budget = limit > used ? limit - used : 1;
  /* The walk: a directory per blocking thread at most, a quarter of the budget at most. */
  unsigned walk = A->fd_budget / 4;
  A->walk_fds = walk < 1 ? 1 : walk > AW_POOL_BLOCKING_DEFAULT ? AW_POOL_BLOCKING_DEFAULT : walk;
}

void fd_hold(awsum *A) { A->fds_held++; }

static void wake_waiter(awsum *A, size_t i) {
  aw_promise *p = A->fd_waiters[i];
  aw_promise_resolve(p, aw_undefined());
  aw_release(p);
}

void fd_release(awsum *A) {
  A->fds_held--;
  if (A->nwaiters == 0)
    return;
  if (A->fds_held > 0) { /* one descriptor back: the oldest waiter tries again */
    wake_waiter(A, 0);
    memmove(A->fd_waiters, A->fd_waiters + 1, --A->nwaiters * sizeof *A->fd_waiters);
    return;
  }
  /* None of ours left to wait for: every waiter tries once more, and reports if it fails. */
  size_t n = A->nwaiters;
  A->nwaiters = 0;
  for (size_t i = 0; i < n; i++)
    wake_waiter(A, i);
}

bool fd_should_wait(const awsum *A, int err) {
  return (err == EMFILE || err == ENFILE) && A->fds_held > 0;
}

aw_promise *fd_wait(awsum *A) {
  if (A->nwaiters == A->capwaiters) {
    A->capwaiters = A->capwaiters ? 2 * A->capwaiters : 64;
    A->fd_waiters = xrealloc(A->fd_waiters, A->capwaiters * sizeof *A->fd_waiters);
  }
  aw_promise *p = aw_promise_new(A->L);
  if (!p)
    awsum_oom();
  A->fd_waiters[A->nwaiters++] = p;
  return aw_retain(p);
}

/* Opens path, waiting for a descriptor while the process is out of them (EMFILE, ENFILE). */
AW_ASYNC(fd_open_async, (awsum *, A), (const char *, path), (int, flags)) {
  aw_val v;
  for (;;) {
    AW_AWAIT_SETTLED(v, aw_fs_open(L, my->path, my->flags, 0, NULL));
    if (!aw_is_thrown(v))
      AW_RETURN(v);
    if (!fd_should_wait(my->A, reason_errno(aw_caught(v))))
      AW_THROW(aw_caught(v));
    aw_release_val(v);
    AW_AWAIT_IGNORE(fd_wait(my->A));
  }
}
AW_ASYNC_END;

aw_promise *fd_open(awsum *A, const char *path, int flags) {
  return fd_open_async(A->L, A, path, flags);
}

/* ---- hash mode --------------------------------------------------------------------------- */

/* --json: {"files":[...],"errors":[...]}; files stream out as they are printed. */
static bool json_first_file = true;

static void print_rec(awsum *A, arec *r) {
  if (r->flags & RF_REPORTED)
    return;
  r->flags |= RF_REPORTED;
  if (r->kind != REC_FILE || r->err) {
    report_rec_problem(A, r); /* and in "errors" at the end, with --json */
    return;
  }
  progress_before_stdout(A);
  if (!A->o.json) {
    print_sum_line(stdout, r->digest, r->path);
    return;
  }
  char hex[2 * SHA256_LEN + 1];
  hex_digest(hex, r->digest);
  fputs(json_first_file ? "\n{\"path\":" : ",\n{\"path\":", stdout);
  json_first_file = false;
  print_json_str(stdout, r->path);
  printf(",\"size\":%llu,\"sha256\":\"%s\"}", (unsigned long long)r->size, hex);
}

static void hash_found(awsum *A, arec *r) {
  if (r->kind == REC_FILE) {
    hash_submit(A, r);
    return;
  }
  if (r->kind == REC_ERROR)
    A->status = 1;
  if (A->o.unordered)
    print_rec(A, r);
}

static void hash_done(awsum *A, arec *r) {
  if (r->err)
    A->status = 1;
  if (A->o.unordered)
    print_rec(A, r);
}

static void hash_walked(awsum *A) { (void)A; }

static int hash_run(awsum *A) {
  A->file_found = hash_found;
  A->file_done = hash_done;
  A->walk_over = hash_walked;
  if (A->o.json)
    fputs("{\"files\":[", stdout);
  walk_start(A, A->o.paths, A->o.npaths);
  int rc = aw_loop_run(A->L);
  progress_stop(A);
  if (rc < 0) {
    report_msg(A, "the event loop stopped: %s", aw_strerror(rc));
    A->status = 1;
  }
  if (!A->o.unordered)
    awsum_sort_recs(A);
  for (size_t i = 0; i < A->nrecs; i++)
    print_rec(A, A->recs[i]);
  if (A->o.json) {
    fputs("\n],", stdout);
    print_json_errors(A);
    fputs("}\n", stdout);
  }
  return A->status;
}

static int close_stdout(int status);

/* ---- options ----------------------------------------------------------------------------- */

static const char usage_text[] =
    "Usage: awsum [OPTION]... [PATH]...\n"
    "  or:  awsum -c [OPTION]... [MANIFEST]...\n"
    "  or:  awsum --dupes [OPTION]... [PATH]...\n"
    "Print SHA-256 checksums of every regular file given or found under the given\n"
    "directories (recursively), as sha256sum prints them; check them; or find\n"
    "duplicate files. With no PATH, or when PATH is -, read standard input.\n"
    "\n"
    "Modes:\n"
    "  (default)             one line per file: HEX, two spaces, the path; sorted by\n"
    "                        path (byte order); names holding \\, newline or CR are\n"
    "                        escaped and the line starts with \\ (as sha256sum)\n"
    "  -c, --check           read SHA-256 sums from the MANIFESTs and check them\n"
    "                        (as sha256sum -c; files are read in parallel, the report\n"
    "                        keeps the manifests' order)\n"
    "      --dupes           print groups of identical files (as jdupes -r): one path\n"
    "                        per line, a blank line after each group; paths sorted in\n"
    "                        a group, groups by their first path. Empty files, and\n"
    "                        further names (hard links) of the same file, are left out\n"
    "\n"
    "Hashing:\n"
    "      --unordered       print each file as soon as it is done (not sorted)\n"
    "  -L, --follow          follow symbolic links inside directories (loops are\n"
    "                        detected and reported); without it they are skipped.\n"
    "                        Symbolic links given as PATH are always followed\n"
    "\n"
    "Checking (-c):\n"
    "      --ignore-missing  don't fail or report status for missing files\n"
    "      --quiet           don't print OK for each successfully verified file\n"
    "      --status          don't output anything, status code shows success\n"
    "      --strict          exit non-zero for improperly formatted checksum lines\n"
    "  -w, --warn            warn about improperly formatted checksum lines\n"
    "                        (of --quiet, --status and --warn, the last one counts)\n"
    "\n"
    "Output and performance:\n"
    "      --json            one JSON document on stdout instead of text (below)\n"
    "      --chunk SIZE      bytes per read (default 1M; 4K to 1G)\n"
    "      --max-inflight SIZE  bytes of read buffers in flight at most (default 64M;\n"
    "                        at least two chunks are)\n"
    "  -j, --jobs N          hashing threads (default: online CPUs)\n"
    "      --progress        show the progress line on stderr even if not a terminal\n"
    "      --no-progress     never show it (default: shown when stderr is a terminal)\n"
    "  -v, --verbose         report what is skipped (links, FIFOs, sockets, devices)\n"
    "  -h, --help            display this help and exit\n"
    "      --version         output version information and exit\n"
    "\n"
    "SIZE is a number of bytes with an optional suffix K, M, G or T (powers of\n"
    "1024; KiB, MB and the like are accepted too).\n"
    "\n"
    "FIFOs, sockets and devices are never opened: inside a directory they are\n"
    "skipped (listed with --verbose); named as a PATH, or listed in a manifest,\n"
    "they are reported as not regular files. Directories are entered, not hashed.\n"
    "Each problem (a missing file, permission denied, a read error, a directory\n"
    "loop) is reported on stderr as \"awsum: NAME: MESSAGE\", the rest is still\n"
    "processed, and the exit status is 1.\n"
    "\n"
    "JSON (--json), one document, its arrays in the order of the text output:\n"
    "  hashing: {\"files\":[{\"path\":P,\"size\":BYTES,\"sha256\":HEX},...],\n"
    "            \"errors\":[{\"path\":P,\"error\":MSG},...]}\n"
    "  -c:      {\"manifests\":[{\"manifest\":M,\"lines\":[{\"line\":N,\"path\":P,\n"
    "            \"status\":S[,\"error\":MSG]},...],\"summary\":{\"ok\":N,\"failed\":N,\n"
    "            \"unreadable\":N,\"improper\":N}},...]}; S is \"OK\", \"FAILED\",\n"
    "            \"FAILED open or read\" or \"improperly formatted\" (no \"path\"); a\n"
    "            manifest that cannot be read is {\"manifest\":M,\"error\":MSG};\n"
    "            --quiet leaves out the OK lines, --status the whole document\n"
    "  --dupes: {\"groups\":[{\"size\":BYTES,\"files\":[P,...]},...],\"errors\":[...]}\n"
    "Strings are UTF-8; a byte of a name that is not UTF-8 is written \\udcXX (a lone\n"
    "surrogate, as Python's surrogateescape decodes it).\n"
    "\n"
    "Exit status: 0 if all went well, 1 if a file could not be read or (with -c)\n"
    "a checksum did not match or a line was malformed (--strict), 2 for usage errors.\n";

enum {
  OPT_DUPES = 256,
  OPT_UNORDERED,
  OPT_JSON,
  OPT_CHUNK,
  OPT_MAX_INFLIGHT,
  OPT_PROGRESS,
  OPT_NO_PROGRESS,
  OPT_QUIET,
  OPT_STATUS,
  OPT_STRICT,
  OPT_IGNORE_MISSING,
  OPT_VERSION
};

static const struct option long_opts[] = {
    {"check", no_argument, NULL, 'c'},
    {"dupes", no_argument, NULL, OPT_DUPES},
    {"unordered", no_argument, NULL, OPT_UNORDERED},
    {"json", no_argument, NULL, OPT_JSON},
    {"follow", no_argument, NULL, 'L'},
    {"chunk", required_argument, NULL, OPT_CHUNK},
    {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
    {"jobs", required_argument, NULL, 'j'},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"status", no_argument, NULL, OPT_STATUS},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"warn", no_argument, NULL, 'w'},
    {"ignore-missing", no_argument, NULL, OPT_IGNORE_MISSING},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

__attribute__((format(printf, 1, 2))) _Noreturn static void usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("awsum: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\nTry 'awsum --help' for more information.\n", stderr);
  va_end(ap);
  exit(2);
}

/* "64M", "1G", "4096", "4KiB": bytes, or false. */
static bool parse_size(const char *s, size_t *out) {
  if (*s < '0' || *s > '9')
    return false;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno)
    return false;
  unsigned shift = 0;
  switch (*end) {
  case 'k':
  case 'K':
    shift = 10;
    end++;
    break;
  case 'm':
  case 'M':
    shift = 20;
    end++;
    break;
  case 'g':
  case 'G':
    shift = 30;
    end++;
    break;
  case 't':
  case 'T':
    shift = 40;
    end++;
    break;
  }
  if (shift && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
    end += strlen(end);
  if (*end || (v << shift >> shift) != v || v << shift > SIZE_MAX)
    return false;
  *out = (size_t)(v << shift);
  return true;
}

static unsigned parse_jobs(const char *s) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *s == '\0' || *end || v < 1 || v > MAX_JOBS)
    usage_error("invalid number of jobs: '%s' (1 to 1024)", s);
  return (unsigned)v;
}

static void parse_options(awsum_opts *o, int argc, char **argv) {
  const char *check_opt = NULL; /* the last option given that only -c takes */
  *o = (awsum_opts){.progress = -1, .chunk = DEFAULT_CHUNK, .max_inflight = DEFAULT_MAX_INFLIGHT};
  argv[0] = (char *)"awsum"; /* getopt's messages say "awsum: ..." */
  int c;
  while ((c = getopt_long(argc, argv, "cLj:whv", long_opts, NULL)) != -1) {
    switch (c) {
    case 'c':
    case OPT_DUPES:
      if (o->mode != MODE_HASH && o->mode != (c == 'c' ? MODE_CHECK : MODE_DUPES))
        usage_error("--check and --dupes cannot be used together");
      o->mode = c == 'c' ? MODE_CHECK : MODE_DUPES;
      break;
    case OPT_UNORDERED:
      o->unordered = true;
      break;
    case OPT_JSON:
      o->json = true;
      break;
    case 'L':
      o->follow = true;
      break;
    case OPT_CHUNK:
      if (!parse_size(optarg, &o->chunk) || o->chunk < MIN_CHUNK || o->chunk > MAX_CHUNK)
        usage_error("invalid --chunk size: '%s' (4K to 1G)", optarg);
      break;
    case OPT_MAX_INFLIGHT:
      if (!parse_size(optarg, &o->max_inflight) || o->max_inflight == 0)
        usage_error("invalid --max-inflight size: '%s'", optarg);
      break;
    case 'j':
      o->jobs = parse_jobs(optarg);
      break;
    case OPT_PROGRESS:
      o->progress = 1;
      break;
    case OPT_NO_PROGRESS:
      o->progress = 0;
      break;
    case OPT_QUIET:
      o->verbosity = CHECK_QUIET;
      check_opt = "--quiet";
      break;
    case OPT_STATUS:
      o->verbosity = CHECK_STATUS;
      check_opt = "--status";
      break;
    case 'w':
      o->verbosity = CHECK_WARN;
      check_opt = "--warn";
      break;
    case OPT_STRICT:
      o->strict = true;
      check_opt = "--strict";
      break;
    case OPT_IGNORE_MISSING:
      o->ignore_missing = true;
      check_opt = "--ignore-missing";
      break;
    case 'v':
      o->verbose = true;
      break;
    case 'h':
      fputs(usage_text, stdout);
      exit(close_stdout(0));
    case OPT_VERSION:
      printf("awsum (libawait) %s\n", AWSUM_VERSION);
      exit(close_stdout(0));
    default:
      fputs("Try 'awsum --help' for more information.\n", stderr);
      exit(2);
    }
  }
  if (check_opt && o->mode != MODE_CHECK)
    usage_error("the %s option is meaningful only when verifying checksums", check_opt);
  if (o->unordered && o->mode != MODE_HASH)
    usage_error("the %s option is meaningful only when printing checksums", "--unordered");
  static char *dash[] = {"-", NULL};
  o->paths = optind < argc ? argv + optind : dash;
  o->npaths = optind < argc ? argc - optind : 1;
}

/* ---- main -------------------------------------------------------------------------------- */

/*
 * The standard descriptors the caller closed (`awsum FILE >&-`). The library
 * keeps its ring and eventfd above 2, but the files and directories awsum
 * opens take the lowest free numbers: left free, 0 would be a hashed file
 * that "-" then reads, 1 and 2 files our lines and messages go to. So each
 * one is taken by /dev/null opened the wrong way round (0 for writing, 1 and
 * 2 for reading): using it fails with EBADF, as using the closed descriptor
 * does for sha256sum ("-: Bad file descriptor", "write error: Bad file
 * descriptor"). Returns a bit per closed descriptor.
 */
static unsigned guard_std_fds(void) {
  unsigned closed = 0;
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
      continue;
    closed |= 1u << fd;
    int nfd = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
    if (nfd >= 0 && nfd != fd) /* lower ones are open: it landed above */
      close(nfd);
  }
  return closed;
}

static bool stdout_closed; /* by the caller: guard_std_fds */

/*
 * Closes stdout as sha256sum 9.1 does at exit: the output is flushed, then
 * the descriptor closed. A write that failed (during the run, or in that
 * flush) is "awsum: write error", exit status 1, with the errno of the close
 * only if the close failed too: plain "write error" for >/dev/full or a
 * broken pipe, "write error: Bad file descriptor" for a closed stdout (glibc
 * drops the buffer after a failed flush, so fclose's errno is the close's).
 * A closed stdout nothing was written to is no error. Returns status, or 1.
 */
static int close_stdout(int status) {
  bool failed = fflush(stdout) != 0 || ferror(stdout) != 0;
  int err = fclose(stdout) == 0 ? 0 : errno;
  if (!err && stdout_closed)
    err = EBADF; /* what closing the caller's closed descriptor gives */
  if (!failed && (!err || err == EBADF))
    return status;
  if (err)
    fprintf(stderr, "awsum: write error: %s\n", strerror(err));
  else
    fputs("awsum: write error\n", stderr);
  return 1;
}

int main(int argc, char **argv) {
  unsigned closed = guard_std_fds();
  stdout_closed = closed & 2;
  setlocale(LC_ALL, "");
  awsum A = {0};
  A.stdin_closed = closed & 1;
  parse_options(&A.o, argc, argv);
  static char outbuf[1 << 16];
  setvbuf(stdout, outbuf, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, sizeof outbuf);

  aw_val err = aw_undefined();
  /* SIGPIPE as sha256sum has it: `awsum ... | head` ends quietly when head does */
  aw_loop_config cfg = {.keep_sigpipe = true};
  A.L = aw_loop_new(&cfg, &err);
  if (!A.L) {
    aw_str *s = aw_to_string(err);
    fprintf(stderr, "awsum: cannot start: %s\n", s ? s->data : "unknown error");
    aw_release(s);
    aw_release_val(err);
    return 1;
  }
  A.pool = aw_pool_new(&(aw_pool_config){.cpu_threads = A.o.jobs});
  if (!A.pool)
    awsum_oom();
  aw_loop_set_pool(A.L, A.pool);
  fds_init(&A);
  hash_init(&A);
  progress_start(&A);

  int status;
  switch (A.o.mode) {
  case MODE_CHECK:
    status = check_run(&A);
    break;
  case MODE_DUPES:
    status = dupes_run(&A);
    break;
  default:
    status = hash_run(&A);
    break;
  }
  progress_stop(&A);

  if (A.stdin_used && A.stdin_closed) { /* sha256sum's fclose(stdin) fails: one more message */
    report_msg(&A, "standard input: %s", strerror(EBADF));
    status = 1;
  }
  status = close_stdout(status);
  hash_free(&A);
  walk_free(&A);
  free_recs(&A);
  free(A.fd_waiters); /* empty: the loop ran out of work */
  aw_loop_free(A.L);
  aw_pool_free(A.pool);
  return status;
}
