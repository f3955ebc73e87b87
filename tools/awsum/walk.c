/*
 * tools/awsum/walk.c — from operands to records.
 *
 * One blocking-class job per directory does the system calls (open,
 * readdir, fstatat of each entry) and hands back an array of entries; the
 * loop turns them into records and starts a job for each subdirectory. A
 * big directory comes back WALK_BATCH entries at a time (the job is queued
 * again for the rest, the directory stays open), so hashing starts before
 * a directory of 100,000 files has been read to its end. The first job
 * stats the operands themselves. No promise is touched by a job; a job reads
 * nothing of the loop's but its own wdir and, for the loop check, its
 * ancestors' (dev, ino), written before it was queued.
 *
 * Descriptors: a directory job holds one while it reads (and a big directory
 * between its jobs), so at most A->walk_fds directories are read at once, the
 * others wait in a queue here. A directory whose open fails with EMFILE waits
 * for one of awsum's descriptors to close and is read then (fd_wait); only
 * when none is open is the error reported.
 *
 * Symbolic links: an operand is followed (as sha256sum and find -H do);
 * inside a tree, links are skipped (a note with --verbose) unless -L, which
 * follows them: a dangling link is skipped, a link that loops on itself is
 * reported (ELOOP, as find -L does). A directory whose (dev, ino) is one of
 * its ancestors' is a loop (a link with -L, or a bind mount): reported, not
 * entered.
 *
 * Special files (FIFOs, sockets, devices) are never opened: inside a tree
 * they are skipped (a note with --verbose); named as an operand, not hashing
 * one is a problem (reported, exit status 1).
 *
 * Paths: an entry's path is its directory's path, one '/' unless that path
 * already ends in '/', and the name ("dir/" gives "dir/x", "/" gives "/x").
 */
#include "awsum.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_BATCH 1024

typedef struct went {
  char *path; /* malloc */
  uint64_t size, dev, ino;
  uint32_t mode; /* st_mode; 0 for stdin */
  int err;       /* the stat's errno */
} went;

typedef struct wdir {
  awsum *A;
  struct wdir *parent; /* the directory this one is in (NULL for operands) */
  struct wdir *all;    /* the list of every wdir, freed at the end */
  char *path;          /* NULL: the operands job */
  bool operand;        /* an operand: opened following a symbolic link */
  uint64_t dev, ino;   /* of this directory, once open */
  char **args;         /* the operands job's */
  int nargs;
  went *ents;
  size_t n, cap;
  DIR *dir;         /* open between the jobs of a big directory */
  int err;          /* opening or reading the directory */
  bool open_failed; /* err is the open's: EMFILE may be retried */
  const char *msg;  /* instead of strerror(err) */
} wdir;

struct walker {
  wdir *all;
  unsigned pending; /* directories not done yet */
  unsigned active;  /* directories being read (a job queued, running, or a big one open) */
  wdir **queue;     /* directories waiting for their turn: queue[head..tail) */
  size_t head, tail, cap;
};

/* ---- the jobs (pool threads) --------------------------------------------------------------- */

static went *add_entry(wdir *d) {
  if (d->n == d->cap) {
    size_t cap = d->cap ? 2 * d->cap : 16;
    went *e = realloc(d->ents, cap * sizeof *e);
    if (!e)
      return NULL;
    d->ents = e;
    d->cap = cap;
  }
  went *e = &d->ents[d->n++];
  memset(e, 0, sizeof *e);
  return e;
}

static void fill_stat(went *e, const struct stat *st) {
  e->mode = st->st_mode;
  e->size = (uint64_t)st->st_size;
  e->dev = st->st_dev;
  e->ino = st->st_ino;
}

/* The entry add_entry just made, taken back (out of memory for its path). */
static void drop_entry(wdir *d) {
  d->n--;
  d->err = ENOMEM;
}

static void stat_operands(wdir *d) {
  for (int i = 0; i < d->nargs; i++) {
    went *e = add_entry(d);
    if (!e) {
      d->err = ENOMEM;
      return;
    }
    if (!(e->path = strdup(d->args[i]))) {
      drop_entry(d);
      return;
    }
    if (strcmp(e->path, "-") == 0)
      continue; /* stdin: mode 0 */
    struct stat st;
    if (stat(e->path, &st) != 0)
      e->err = errno;
    else
      fill_stat(e, &st);
  }
}

static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  bool slash = a == 0 || dir[a - 1] != '/';
  char *p = malloc(a + slash + b + 1);
  if (!p)
    return NULL;
  memcpy(p, dir, a);
  if (slash)
    p[a] = '/';
  memcpy(p + a + slash, name, b + 1);
  return p;
}

static bool is_loop(const wdir *d) {
  for (const wdir *a = d->parent; a; a = a->parent)
    if (a->dev == d->dev && a->ino == d->ino)
      return true;
  return false;
}

/* Opens d->path into d->dir, unless it is a loop. */
static void open_dir(wdir *d, bool follow) {
  int fd =
      open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (d->operand || follow ? 0 : O_NOFOLLOW));
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    d->err = errno;
    d->open_failed = fd < 0;
    if (fd >= 0)
      close(fd);
    return;
  }
  d->dev = st.st_dev;
  d->ino = st.st_ino;
  if (is_loop(d)) {
    d->err = ELOOP;
    d->msg = "File system loop detected";
    close(fd);
    return;
  }
  if (!(d->dir = fdopendir(fd))) {
    d->err = errno;
    close(fd);
  }
}

/* Up to WALK_BATCH entries of d->dir; closes it at its end. */
static void list_dir(wdir *d, bool follow) {
  if (!d->dir) {
    open_dir(d, follow);
    if (!d->dir)
      return;
  }
  DIR *dir = d->dir;
  struct stat st;
  struct dirent *de = NULL;
  for (errno = 0; d->n < WALK_BATCH && (de = readdir(dir)); errno = 0) {
    const char *name = de->d_name;
    if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
      continue;
    went *e = add_entry(d);
    if (!e) {
      d->err = ENOMEM;
      break;
    }
    if (!(e->path = join(d->path, name))) {
      drop_entry(d);
      break;
    }
    int rc = fstatat(dirfd(dir), name, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW);
    if (rc != 0 && follow && errno == ENOENT) /* a dangling link: skipped, as find -L does */
      rc = fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW);
    if (rc != 0)
      e->err = errno;
    else
      fill_stat(e, &st);
  }
  if (d->n == WALK_BATCH && !d->err)
    return; /* more to come: the job is queued again */
  if (!de && errno && !d->err)
    d->err = errno;
  closedir(dir);
  d->dir = NULL;
}

static aw_val dir_job(aw_job *job, void *arg) {
  (void)job;
  wdir *d = arg;
  if (!d->path)
    stat_operands(d);
  else
    list_dir(d, d->A->o.follow);
  return aw_undefined();
}

/* ---- the loop's side ------------------------------------------------------------------------ */

static void start_dir(awsum *A, wdir *parent, char *path, bool operand);
static void dispatch(awsum *A, wdir *d);
static void walk_pump(awsum *A);

static void take_entry(awsum *A, wdir *d, went *e) {
  arec *r;
  bool operand = d->path == NULL;
  if (operand && e->mode == 0 && !e->err) { /* "-" */
    r = awsum_rec_new(A, e->path, REC_FILE);
    r->flags |= RF_STDIN;
  } else if (e->err) {
    r = awsum_rec_new(A, e->path, REC_ERROR);
    r->err = e->err;
  } else if (S_ISREG(e->mode)) {
    r = awsum_rec_new(A, e->path, REC_FILE);
    r->size = e->size;
    r->dev = e->dev;
    r->ino = e->ino;
    r->flags |= RF_TYPE_KNOWN | (operand || A->o.follow ? 0 : RF_NOFOLLOW);
    A->files_total++;
    A->bytes_total += e->size;
  } else if (S_ISDIR(e->mode)) {
    start_dir(A, operand ? NULL : d, e->path, operand);
    return;
  } else if (operand) { /* asked for by name: not hashing it is a problem */
    r = awsum_rec_new(A, e->path, REC_ERROR);
    r->err = AWSUM_ENOTREG;
    r->msg = not_regular_msg(e->mode);
  } else {
    r = awsum_rec_new(A, e->path, REC_NOTE);
    r->msg = skipped_note(e->mode);
  }
  A->file_found(A, r);
}

static aw_val retry_dir(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v;
  wdir *d = arg;
  dispatch(d->A, d);
  return aw_undefined();
}

static aw_val dir_done(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  wdir *d = arg;
  awsum *A = d->A;
  if (aw_as_error(v)) { /* the pool could not run the job */
    d->err = reason_errno(v);
    d->open_failed = false;
    if (d->dir)
      closedir(d->dir);
    d->dir = NULL;
  }
  if (d->open_failed && !d->dir) { /* the job is over: its descriptor is not held */
    A->walk->active--;
    fd_release(A);
    if (fd_should_wait(A, d->err)) { /* no descriptor free: try again when one of ours closes */
      d->err = 0;
      d->open_failed = false;
      aw_promise *p = fd_wait(A);
      aw_release(aw_promise_then(p, retry_dir, retry_dir, d));
      aw_release(p);
      return aw_undefined(); /* and no other directory now: the next one would fail alike */
    }
  }
  for (size_t i = 0; i < d->n; i++)
    take_entry(A, d, &d->ents[i]);
  d->n = 0;
  if (d->dir) { /* the rest of a big directory */
    aw_promise *p = aw_work(A->L, dir_job, d, &(aw_work_opts){.klass = AW_WORK_BLOCKING});
    aw_release(aw_promise_then(p, dir_done, dir_done, d));
    aw_release(p);
    return aw_undefined();
  }
  free(d->ents);
  d->ents = NULL;
  d->cap = 0;
  if (!d->open_failed) {
    A->walk->active--;
    fd_release(A);
  }
  if (d->err) {
    arec *r = awsum_rec_new(A, d->path ? d->path : xstrdup("-"), REC_ERROR);
    d->path = NULL;
    r->err = d->err;
    r->msg = d->msg;
    A->file_found(A, r);
  }
  free(d->path);
  d->path = NULL;
  walk_pump(A);
  if (--A->walk->pending == 0) {
    A->walk_done = true;
    A->walk_over(A);
  }
  return aw_undefined();
}

/* Sends d's (next) job to the pool: a directory being read holds a descriptor. */
static void dispatch(awsum *A, wdir *d) {
  A->walk->active++;
  fd_hold(A);
  aw_promise *p = aw_work(A->L, dir_job, d, &(aw_work_opts){.klass = AW_WORK_BLOCKING});
  aw_release(aw_promise_then(p, dir_done, dir_done, d));
  aw_release(p);
}

/* Starts the directories waiting for their turn, as far as the walk's descriptors go. */
static void walk_pump(awsum *A) {
  walker *w = A->walk;
  while (w->head < w->tail && w->active < A->walk_fds)
    dispatch(A, w->queue[w->head++]);
  if (w->head == w->tail)
    w->head = w->tail = 0;
}

static void queue_job(awsum *A, wdir *d) {
  walker *w = A->walk;
  d->A = A;
  d->all = w->all;
  w->all = d;
  w->pending++;
  if (w->tail == w->cap) {
    if (w->head > 0) { /* slide down rather than grow */
      memmove(w->queue, w->queue + w->head, (w->tail - w->head) * sizeof *w->queue);
      w->tail -= w->head;
      w->head = 0;
    } else {
      w->cap = w->cap ? 2 * w->cap : 256;
      w->queue = xrealloc(w->queue, w->cap * sizeof *w->queue);
    }
  }
  w->queue[w->tail++] = d;
  walk_pump(A);
}

static void start_dir(awsum *A, wdir *parent, char *path, bool operand) {
  wdir *d = xcalloc(1, sizeof *d);
  d->parent = parent;
  d->path = path;
  d->operand = operand;
  queue_job(A, d);
}

void walk_start(awsum *A, char **paths, int npaths) {
  A->walk = xcalloc(1, sizeof *A->walk);
  wdir *d = xcalloc(1, sizeof *d);
  d->args = paths;
  d->nargs = npaths;
  queue_job(A, d);
}

void walk_free(awsum *A) {
  if (!A->walk)
    return;
  for (wdir *d = A->walk->all, *next; d; d = next) {
    next = d->all;
    if (d->dir)
      closedir(d->dir);
    free(d->path);
    free(d->ents);
    free(d);
  }
  free(A->walk->queue);
  free(A->walk);
  A->walk = NULL;
}
