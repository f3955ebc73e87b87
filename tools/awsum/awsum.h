/*
 * tools/awsum/awsum.h — what the parts of awsum share.
 *
 * awsum hashes files with SHA-256 (lines as coreutils sha256sum prints them),
 * checks manifests (as sha256sum -c) and finds duplicate files (as jdupes).
 * One loop thread owns everything below; the worker pool reads directories
 * (blocking class) and hashes chunks (CPU class); io_uring opens, reads and
 * closes the files.
 *
 *   main.c      options, the loop and the pool, the three modes' outer steps
 *   walk.c      arguments and directory trees -> records (blocking jobs)
 *   hash.c      the pipeline: buffers, reads, hashing jobs, bytes in flight
 *   check.c     manifests: parsing, ordered report, summary
 *   dupes.c     size groups -> sampled bytes -> exact comparison
 *   output.c    escaping, quoting, JSON, error messages
 *   progress.c  the progress line on a terminal
 *
 * Records (arec): every path the run meets becomes one, in A->recs: a file to
 * hash, a problem to report, or a note for --verbose. Reports in path order
 * come from sorting them at the end; --unordered prints each as it settles.
 */
#ifndef AWSUM_H
#define AWSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <aw.h>

#define AWSUM_VERSION "0.1.0"
#define SHA256_LEN 32

enum awsum_mode { MODE_HASH, MODE_CHECK, MODE_DUPES };
/* sha256sum's --status/--quiet/--warn: the last one given wins. */
enum check_verbosity { CHECK_NORMAL, CHECK_QUIET, CHECK_STATUS, CHECK_WARN };

typedef struct awsum_opts {
  enum awsum_mode mode;
  enum check_verbosity verbosity;
  bool strict, ignore_missing;
  bool unordered, json, follow, verbose;
  int progress;        /* -1: when stderr is a terminal; 0 or 1: forced */
  size_t chunk;        /* bytes per read */
  size_t max_inflight; /* bytes of read buffers at most */
  unsigned jobs;       /* CPU threads; 0: online CPUs */
  char **paths;        /* the operands (borrowed from argv) */
  int npaths;
} awsum_opts;

/* What a record is. */
enum arec_kind {
  REC_FILE,  /* a regular file (or stdin) to hash */
  REC_ERROR, /* a problem: reported on stderr, exit status 1 */
  REC_NOTE   /* something skipped: reported with --verbose only */
};

/* Flags of a record. */
enum {
  RF_STDIN = 1 << 0,      /* "-": standard input */
  RF_TYPE_KNOWN = 1 << 1, /* the walk saw a regular file (else: stat before opening) */
  RF_NOFOLLOW = 1 << 2,   /* open with O_NOFOLLOW (found inside a tree without -L) */
  RF_DONE = 1 << 3,       /* hashed, or failed */
  RF_REPORTED = 1 << 4    /* printed already (--unordered) */
};

typedef struct arec {
  char *path; /* as printed: the operand, or the walk's join (malloc) */
  uint64_t size, dev, ino;
  uint32_t seq; /* order of creation: ties in sorting */
  uint8_t kind, flags;
  int err;         /* errno of what failed (REC_ERROR, or a REC_FILE that failed) */
  const char *msg; /* a message instead of strerror(err) (static) */
  uint8_t digest[SHA256_LEN];
  void *owner; /* the mode's own record for it (dupes.c's entry) */
} arec;

typedef struct hashq hashq;
typedef struct walker walker;
typedef struct progress progress;

typedef struct awsum {
  aw_loop *L;
  aw_pool *pool;
  awsum_opts o;
  int status;              /* the exit status so far: 0, or 1 once something went wrong */
  unsigned fd_budget;      /* descriptors awsum may hold open at once, all stages (fds_init) */
  unsigned walk_fds;       /* of which the walk's directories (or -c's manifest) */
  unsigned fds_held;       /* ours open now, or jobs that may hold one: what an EMFILE waits for */
  aw_promise **fd_waiters; /* opens that failed with EMFILE, waiting for one of ours to close */
  size_t nwaiters, capwaiters;
  bool stdin_closed; /* the caller closed fd 0: "-" cannot be read */
  bool stdin_used;   /* "-" was read (or tried): sha256sum closes stdin at the end */

  arec **recs; /* every record, in order of creation */
  size_t nrecs, caprecs;

  /* what the progress line shows */
  uint64_t files_total, files_done, bytes_total, bytes_done;
  bool walk_done;

  hashq *hq;
  walker *walk;
  progress *prog;

  /* the mode's hooks (loop thread) */
  void (*file_found)(struct awsum *A, arec *r); /* the walk found a record */
  void (*walk_over)(struct awsum *A);           /* the walk is over */
  void (*file_done)(struct awsum *A, arec *r);  /* the pipeline finished r */
} awsum;

/* ---- main.c ------------------------------------------------------------------------------ */

/* Aborts with a message: out of memory in a place that cannot go on. */
_Noreturn void awsum_oom(void);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/*
 * Descriptors. fds_init computes the budget: the limit (raised to the hard
 * one) less the descriptors open now (the standard ones, inherited ones, the
 * loop's). An open that fails with EMFILE or ENFILE while one of ours is
 * open waits for it to close and tries again (fd_should_wait, fd_wait); with
 * none of ours open, nothing will free one: the error is reported.
 * fd_hold/fd_release count ours (a directory job counts from its start to
 * its end, as it may hold one meanwhile).
 */
void fds_init(awsum *A);
void fd_hold(awsum *A);
void fd_release(awsum *A);
bool fd_should_wait(const awsum *A, int err);
/* A promise that resolves once one of ours is released (the caller owns the reference). */
aw_promise *fd_wait(awsum *A);
/*
 * aw_fs_open(path, flags), waiting for a descriptor as above while the
 * process is out of them: fulfils with the fd, or rejects with the open's
 * error when waiting cannot help. path is borrowed until it settles.
 */
aw_promise *fd_open(awsum *A, const char *path, int flags);

/* A new record (owned by A->recs); path is taken over. */
arec *awsum_rec_new(awsum *A, char *path, enum arec_kind kind);
/* Sorts A->recs by path (bytes, memcmp order), then by creation. */
void awsum_sort_recs(awsum *A);

/* ---- walk.c ------------------------------------------------------------------------------ */

/*
 * Walks the operands: regular files (given, or found under directories,
 * recursively) become REC_FILE records, problems REC_ERROR, skipped things
 * REC_NOTE; each goes to A->file_found as it appears, and A->walk_over runs
 * once nothing is left to read. Directories are read by blocking-class jobs,
 * one per directory (and per WALK_BATCH entries of a big one).
 */
void walk_start(awsum *A, char **paths, int npaths);
void walk_free(awsum *A);

/* ---- hash.c ------------------------------------------------------------------------------ */

/* Makes the pipeline (buffers are made on demand, up to max_inflight). */
void hash_init(awsum *A);
/* Queues r (a REC_FILE) for hashing; A->file_done(A, r) runs when it is over. */
void hash_submit(awsum *A, arec *r);
void hash_free(awsum *A);

/* The shared read buffers (hash.c), also lent to dupes.c: NULL when none is free. */
aw_buf *bufpool_take(awsum *A);
void bufpool_give(awsum *A, aw_buf *b);
/* Buffers free now, or makeable. */
unsigned bufpool_available(awsum *A);
unsigned bufpool_max(awsum *A);
/* Runs fn(A) once, the next time a buffer comes back (dupes.c waits this way). */
void bufpool_on_give(awsum *A, void (*fn)(awsum *A));

/*
 * Opening a file without ever opening a FIFO or a device for reading: when
 * the walk did not see the type, stat first (aw_fs_stat) and check it with
 * rec_check_stat; open with rec_open_flags (O_NONBLOCK, so that a file
 * swapped for a FIFO meanwhile cannot block the open) and check the
 * descriptor with rec_check_fd (fstat again, then O_NONBLOCK off). Both
 * return 0 or an errno for r->err (AWSUM_ENOTREG: not a regular file).
 */
#define AWSUM_ENOTREG 100000
int rec_open_flags(const arec *r);
int rec_check_stat(arec *r, aw_val stats);
int rec_check_fd(arec *r, int fd);
/* The errno of a rejection reason (EIO if it has none). */
int reason_errno(aw_val reason);

/* ---- check.c ----------------------------------------------------------------------------- */

/* Verifies the manifests in A->o.paths; returns the exit status. */
int check_run(awsum *A);

/* ---- dupes.c ----------------------------------------------------------------------------- */

int dupes_run(awsum *A);

/* ---- output.c ---------------------------------------------------------------------------- */

/* A growable byte string. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
} sbuf;
void sb_putc(sbuf *s, char c);
void sb_put(sbuf *s, const void *p, size_t n);
void sb_puts(sbuf *s, const char *str);
void sb_free(sbuf *s);

/* The name quoted as sha256sum quotes file names in its messages (shell style). */
void quote_name(sbuf *out, const char *name);
/* "awsum: NAME: MESSAGE" on stderr, after flushing stdout (as GNU error() does). */
void report_problem(awsum *A, const char *name, const char *msg);
/* "awsum: MESSAGE" on stderr, likewise. */
void report_msg(awsum *A, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "FIFO skipped" (a note) and "not a regular file (FIFO)" (an error), by st_mode. */
const char *skipped_note(uint32_t mode);
const char *not_regular_msg(uint32_t mode);
/* The text for a record's problem. */
const char *rec_message(const arec *r);
/* Reports a REC_ERROR, a REC_NOTE (--verbose only) or a REC_FILE that failed, on stderr. */
void report_rec_problem(awsum *A, const arec *r);

/* "HEX  NAME\n" as sha256sum prints it (names with \\, \n or \r escaped). */
void print_sum_line(FILE *f, const uint8_t digest[SHA256_LEN], const char *name);
/* NAME for sha256sum -c's report: escaped (\\, \n, \r, a leading \\) if it holds a newline. */
void print_check_name(FILE *f, const char *name);
/* The hex digest into out (65 bytes). */
void hex_digest(char *out, const uint8_t digest[SHA256_LEN]);
/* A JSON string: UTF-8 kept, controls escaped, bytes that are not UTF-8 as \udcXX. */
void print_json_str(FILE *f, const char *s);
/* "errors":[{"path":P,"error":MSG},...] of every problem record, in A->recs order. */
void print_json_errors(awsum *A);

/* ---- progress.c -------------------------------------------------------------------------- */

/* Starts the progress line if asked for (or stderr is a terminal). */
void progress_start(awsum *A);
/* Erases the line before something else is printed; the next tick redraws it. */
void progress_hide(awsum *A);
/* Erases it before a line goes to stdout, if stdout is the same terminal. */
void progress_before_stdout(awsum *A);
/* Erases it for good. */
void progress_stop(awsum *A);

#endif
