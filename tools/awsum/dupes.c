/*
 * tools/awsum/dupes.c — --dupes: groups of identical files, as jdupes prints them.
 *
 * Each stage reads only what the one before could not decide:
 *
 *  1. sizes: the walk's stat. Files of a size no other file has are out;
 *     so are empty files (jdupes skips them unless -z) and further names of
 *     an inode already in the group (hard links: jdupes treats them as one
 *     file unless -H), and symbolic links inside trees (not followed).
 *  2. samples: of every file still in a size group, the first and the last
 *     SAMPLE bytes (the whole file when it is no bigger than two samples),
 *     folded into a 64-bit fingerprint (sample_print). The last block catches
 *     the files that share a header and differ at the end, which a prefix
 *     alone would send to the full comparison. Files whose fingerprint no
 *     other file of their size has are out.
 *  3. exact comparison of what is left, group by group: the k files of a
 *     group are read side by side, a chunk of each at a time, into k buffers
 *     of the shared pool, and split into classes of equal bytes (memcmp);
 *     a file alone in its class is out at once, so a group of different
 *     files costs one chunk each. A group of more than COMPARE_MAX files
 *     goes through the hashing pipeline instead (full SHA-256 of each file,
 *     split by digest), so the buffers in flight stay bounded.
 *
 * Fingerprints only decide what is compared; whether two files are the same
 * is decided by their bytes (or, for the big groups, their SHA-256).
 *
 * Output: the paths of each group one per line, in byte order, and a blank
 * line after each group; groups in the order of their first paths. With
 * --json, one document: {"groups":[{"size":N,"files":["a","b"]},...],
 * "errors":[{"path":P,"error":MSG},...]}.
 */
#include "awsum.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE 4096    /* bytes at each end of a file */
#define SAMPLERS 64    /* files being sampled at once */
#define COMPARE_MAX 16 /* files compared side by side at most */
#define COMPARE_BUFS 8 /* chunk buffers the comparisons use at once (more if a group needs) */

typedef struct dgroup dgroup;

typedef struct dent {
  arec *r;
  uint64_t print; /* the fingerprint of the samples */
  int cls;        /* the class in stage 3; -1: out */
  int fd;
  dgroup *group; /* stage 3, hashed: the group it is in */
} dent;

/* A run of dents (same size, same fingerprint) to compare, and then its classes. */
struct dgroup {
  dent **e;
  unsigned k;
  uint64_t size;
  unsigned pending; /* hashed: files not back yet */
};

typedef struct dstate {
  awsum *A;
  dent *ents;
  dent **cand; /* candidates (stage 2 on) */
  size_t ncand;
  dgroup *groups; /* stage 3's work */
  size_t ngroups, nextgroup;
  dgroup *found; /* the answer */
  size_t nfound, capfound;
  aw_promise *walked;   /* resolved by the walk */
  aw_promise *sampled;  /* resolved when stage 2 is over */
  aw_promise *compared; /* resolved when stage 3 is over */
  size_t nextsample;
  unsigned active;    /* stage 2: samplers running; stage 3: groups running */
  unsigned bufs_used; /* stage 3: chunk buffers the running groups hold */
  unsigned hashing;   /* stage 3: files in the hashing pipeline */
} dstate;

static dstate D;

static void found_group(dent **e, unsigned k, uint64_t size) {
  if (D.nfound == D.capfound) {
    D.capfound = D.capfound ? 2 * D.capfound : 64;
    D.found = xrealloc(D.found, D.capfound * sizeof *D.found);
  }
  dent **copy = xmalloc(k * sizeof *copy);
  memcpy(copy, e, k * sizeof *copy);
  D.found[D.nfound++] = (dgroup){copy, k, size, 0};
}

static void fail_file(awsum *A, dent *d, int err, const char *msg) {
  d->r->err = err;
  if (msg)
    d->r->msg = msg;
  d->cls = -1;
  A->status = 1;
}

/* d's file, just opened as fd: still a regular file of the size the walk saw? */
static bool check_fd_size(awsum *A, dent *d, int fd) {
  uint64_t size = d->r->size;
  int e = rec_check_fd(d->r, fd);
  if (e || d->r->size != size) {
    fail_file(A, d, e, e ? NULL : "file changed as we read it");
    return false;
  }
  return true;
}

/* ---- stage 1: sizes ------------------------------------------------------------------------- */

static int by_size_inode_path(const void *a, const void *b) {
  const arec *x = (*(const dent *const *)a)->r, *y = (*(const dent *const *)b)->r;
  if (x->size != y->size)
    return x->size < y->size ? -1 : 1;
  if (x->dev != y->dev)
    return x->dev < y->dev ? -1 : 1;
  if (x->ino != y->ino)
    return x->ino < y->ino ? -1 : 1;
  return strcmp(x->path, y->path);
}

/* Keeps the files that share their size with another file (one name per inode). */
static void by_size(awsum *A) {
  size_t n = 0;
  for (size_t i = 0; i < A->nrecs; i++)
    n += A->recs[i]->kind == REC_FILE && A->recs[i]->size > 0;
  D.ents = xcalloc(n ? n : 1, sizeof *D.ents);
  dent **all = xmalloc((n ? n : 1) * sizeof *all);
  size_t m = 0;
  for (size_t i = 0; i < A->nrecs; i++) {
    arec *r = A->recs[i];
    if (r->kind == REC_FILE && r->size > 0) {
      D.ents[m] = (dent){.r = r, .fd = -1};
      all[m] = &D.ents[m];
      m++;
    }
  }
  qsort(all, m, sizeof *all, by_size_inode_path);
  size_t w = 0; /* hard links: the first name of each inode stays */
  for (size_t i = 0; i < m; i++) {
    const arec *r = all[i]->r, *p = w ? all[w - 1]->r : NULL;
    if (p && p->size == r->size && p->dev == r->dev && p->ino == r->ino)
      continue;
    all[w++] = all[i];
  }
  D.cand = xmalloc((w ? w : 1) * sizeof *D.cand);
  D.ncand = 0;
  for (size_t i = 0; i < w;) {
    size_t j = i + 1;
    while (j < w && all[j]->r->size == all[i]->r->size)
      j++;
    if (j - i >= 2)
      for (size_t k = i; k < j; k++)
        D.cand[D.ncand++] = all[k];
    i = j;
  }
  free(all);
  A->files_total = D.ncand;
  A->bytes_total = 0;
  for (size_t i = 0; i < D.ncand; i++)
    A->bytes_total += D.cand[i]->r->size;
}

/* ---- stage 2: samples ----------------------------------------------------------------------- */

/* Folds n bytes into four lanes (independent multiplies, so they overlap). */
static void fold(uint64_t lane[4], const uint8_t *p, size_t n) {
  const uint64_t K = 0x9e3779b97f4a7c15ull;
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int j = 0; j < 4; j++) {
      uint64_t w;
      memcpy(&w, p + i + 8 * j, 8);
      lane[j] = (lane[j] ^ w) * K;
      lane[j] ^= lane[j] >> 31;
    }
  for (; i < n; i++)
    lane[0] = (lane[0] ^ p[i]) * K;
}

static uint64_t sample_print(const aw_buf *head, const aw_buf *tail) {
  uint64_t lane[4] = {1, 2, 3, 4};
  fold(lane, head->data, head->len);
  if (tail)
    fold(lane, tail->data, tail->len);
  uint64_t h = lane[0] ^ (lane[1] << 1 | lane[1] >> 63) ^ (lane[2] << 2 | lane[2] >> 62) ^
               (lane[3] << 3 | lane[3] >> 61);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

typedef struct sampler {
  aw_frame frame;
  dent *d;
  int fd;
  bool opened;
  aw_buf *head, *tail;
  aw_promise *ptail;
} sampler;

static void sample_next(void);

static void sampler_body(aw_loop *L, aw_frame *self) {
  sampler *s = (sampler *)self;
  awsum *A = D.A;
  arec *r = s->d->r;
  AW_BEGIN(self);
  aw_val v, err;
  AW_AWAIT_SETTLED(v, fd_open(A, r->path, rec_open_flags(r)));
  if (aw_is_thrown(v)) {
    err = aw_caught(v);
    goto failed;
  }
  s->fd = (int)v.u.i;
  s->opened = true;
  fd_hold(A);
  if (!check_fd_size(A, s->d, s->fd))
    goto finish;
  bool whole = r->size <= 2 * SAMPLE;
  s->head = aw_buf_new(whole ? r->size : SAMPLE);
  s->tail = whole ? NULL : aw_buf_new(SAMPLE);
  if (!s->head || (!whole && !s->tail))
    awsum_oom();
  aw_promise *phead = aw_fs_read_into(L, s->fd, aw_retain(s->head), 0, NULL);
  if (s->tail)
    s->ptail = aw_fs_read_into(L, s->fd, aw_retain(s->tail), (int64_t)(r->size - SAMPLE), NULL);
  AW_AWAIT_CATCH(v, phead, err, failed);
  if (s->ptail) {
    aw_promise *p = s->ptail;
    s->ptail = NULL;
    AW_AWAIT_CATCH(v, p, err, failed);
  }
  if (s->head->len != s->head->cap || (s->tail && s->tail->len != SAMPLE)) {
    fail_file(A, s->d, 0, "file changed as we read it");
    goto finish;
  }
  s->d->print = sample_print(s->head, s->tail);
  A->bytes_done += s->head->len + (s->tail ? s->tail->len : 0);
  goto finish;

failed:
  fail_file(A, s->d, reason_errno(err), NULL);
  aw_release_val(err);
finish:
  if (s->ptail) {
    aw_promise *p = s->ptail;
    s->ptail = NULL;
    AW_AWAIT_SETTLED(v, p);
    aw_release_val(aw_caught(v));
  }
  aw_release(s->head);
  aw_release(s->tail);
  if (s->opened) {
    AW_AWAIT_SETTLED(v, aw_fs_close(L, s->fd, NULL));
    aw_release_val(aw_caught(v));
    fd_release(A);
  }
  A->files_done++;
  D.active--;
  sample_next();
  AW_END;
}

static void sample_next(void) {
  unsigned most = D.A->fd_budget < SAMPLERS ? D.A->fd_budget : SAMPLERS;
  while (D.active < (most ? most : 1) && D.nextsample < D.ncand) {
    AW_ASYNC_NEW(D.A->L, sampler, sampler_body, s);
    s->d = D.cand[D.nextsample++];
    D.active++;
    aw_release(aw_async_start(&s->frame));
  }
  if (D.active == 0 && D.nextsample == D.ncand && D.sampled)
    aw_promise_resolve(D.sampled, aw_undefined());
}

static int by_size_print_path(const void *a, const void *b) {
  const dent *x = *(const dent *const *)a, *y = *(const dent *const *)b;
  if (x->r->size != y->r->size)
    return x->r->size < y->r->size ? -1 : 1;
  if (x->print != y->print)
    return x->print < y->print ? -1 : 1;
  return strcmp(x->r->path, y->r->path);
}

/* Runs of two or more files of one size and one fingerprint become stage 3's groups. */
static void by_sample(void) {
  size_t w = 0;
  for (size_t i = 0; i < D.ncand; i++)
    if (D.cand[i]->cls >= 0)
      D.cand[w++] = D.cand[i];
  D.ncand = w;
  qsort(D.cand, D.ncand, sizeof *D.cand, by_size_print_path);
  D.groups = xmalloc((D.ncand / 2 + 1) * sizeof *D.groups);
  for (size_t i = 0; i < D.ncand;) {
    size_t j = i + 1;
    while (j < D.ncand && D.cand[j]->r->size == D.cand[i]->r->size &&
           D.cand[j]->print == D.cand[i]->print)
      j++;
    if (j - i >= 2)
      D.groups[D.ngroups++] = (dgroup){D.cand + i, (unsigned)(j - i), D.cand[i]->r->size, 0};
    i = j;
  }
}

/* ---- stage 3: exact comparison -----------------------------------------------------------------
 */

typedef struct comparer {
  aw_frame frame;
  dgroup *g;
  aw_buf *bufs[COMPARE_MAX];
  aw_promise *ops[COMPARE_MAX];
  uint64_t off;
  size_t step;
  unsigned i;
  int nclasses;
  int short_err; /* EMFILE or ENFILE: some member could not be opened for lack of descriptors */
  unsigned held; /* members open */
} comparer;

#define FD_SHORT (-2) /* a member's fd: its open failed with EMFILE or ENFILE */

static void compare_next(awsum *A);

/* How many members class c has. */
static unsigned class_size(const dgroup *g, int c) {
  unsigned n = 0;
  for (unsigned i = 0; i < g->k; i++)
    n += g->e[i]->cls == c;
  return n;
}

/* Splits every class by the bytes just read; a member alone in its class is out. */
static void split_classes(comparer *c) {
  dgroup *g = c->g;
  int ncls = c->nclasses;
  for (int cls = 0; cls < ncls; cls++) {
    int reps[COMPARE_MAX], nreps = 0;
    unsigned repidx[COMPARE_MAX];
    for (unsigned i = 0; i < g->k; i++) {
      if (g->e[i]->cls != cls)
        continue;
      int found = -1;
      for (int r = 0; r < nreps && found < 0; r++)
        if (memcmp(c->bufs[i]->data, c->bufs[repidx[r]]->data, c->bufs[i]->len) == 0)
          found = reps[r];
      if (found < 0) {
        found = nreps == 0 ? cls : c->nclasses++;
        reps[nreps] = found;
        repidx[nreps++] = i;
      }
      g->e[i]->cls = found;
    }
  }
  for (unsigned i = 0; i < g->k; i++)
    if (g->e[i]->cls >= 0 && class_size(g, g->e[i]->cls) < 2)
      g->e[i]->cls = -1;
}

static bool any_class_left(const dgroup *g) {
  for (unsigned i = 0; i < g->k; i++)
    if (g->e[i]->cls >= 0)
      return true;
  return false;
}

static void report_classes(dgroup *g, int nclasses) {
  dent *members[COMPARE_MAX];
  for (int cls = 0; cls < nclasses; cls++) {
    unsigned n = 0;
    for (unsigned i = 0; i < g->k; i++)
      if (g->e[i]->cls == cls)
        members[n++] = g->e[i];
    if (n >= 2)
      found_group(members, n, g->size);
  }
}

static void comparer_body(aw_loop *L, aw_frame *self) {
  comparer *c = (comparer *)self;
  dgroup *g = c->g;
  awsum *A = D.A;
  AW_BEGIN(self);
  aw_val v;
  for (c->i = 0; c->i < g->k; c->i++) {
    g->e[c->i]->cls = 0;
    g->e[c->i]->fd = -1;
  }
  /*
   * Every member open at once. Short of descriptors, the group gives back
   * those it got before it waits for one of ours to close (two groups holding
   * some each and waiting for more would wait for ever), then tries again;
   * with nothing else of ours open, the members left out are errors.
   */
  for (;;) {
    for (c->i = 0; c->i < g->k; c->i++) {
      dent *d = g->e[c->i];
      c->ops[c->i] = d->cls < 0 ? NULL : aw_fs_open(L, d->r->path, rec_open_flags(d->r), 0, NULL);
    }
    c->short_err = 0;
    for (c->i = 0; c->i < g->k; c->i++) {
      if (!c->ops[c->i])
        continue;
      AW_AWAIT_SETTLED(v, c->ops[c->i]);
      dent *d = g->e[c->i];
      if (aw_is_thrown(v)) {
        int e = reason_errno(aw_caught(v));
        aw_release_val(aw_caught(v));
        if (e == EMFILE || e == ENFILE) {
          c->short_err = e;
          d->fd = FD_SHORT;
        } else {
          fail_file(A, d, e, NULL);
        }
        continue;
      }
      d->fd = (int)v.u.i;
      fd_hold(A);
      c->held++;
    }
    if (!c->short_err)
      break;
    if (A->fds_held <= c->held) { /* nothing else of ours to wait for */
      for (unsigned i = 0; i < g->k; i++)
        if (g->e[i]->fd == FD_SHORT) {
          g->e[i]->fd = -1;
          fail_file(A, g->e[i], c->short_err, NULL);
        }
      break;
    }
    for (c->i = 0; c->i < g->k; c->i++) {
      if (g->e[c->i]->fd >= 0) { /* (no local survives the await) */
        AW_AWAIT_SETTLED(v, aw_fs_close(L, g->e[c->i]->fd, NULL));
        aw_release_val(aw_caught(v));
        c->held--;
        fd_release(A);
      }
      g->e[c->i]->fd = -1;
    }
    AW_AWAIT_IGNORE(fd_wait(A));
  }
  for (unsigned i = 0; i < g->k; i++)
    if (g->e[i]->fd >= 0)
      check_fd_size(A, g->e[i], g->e[i]->fd);
  c->nclasses = 1;
  for (unsigned i = 0; i < g->k; i++)
    if (g->e[i]->cls >= 0 && class_size(g, 0) < 2)
      g->e[i]->cls = -1;

  while (c->off < g->size && any_class_left(g)) {
    c->step = g->size - c->off < A->o.chunk ? (size_t)(g->size - c->off) : A->o.chunk;
    for (c->i = 0; c->i < g->k; c->i++) {
      c->ops[c->i] = NULL;
      if (g->e[c->i]->cls < 0)
        continue;
      c->bufs[c->i]->len = 0;
      c->ops[c->i] =
          aw_fs_read_into(L, g->e[c->i]->fd, aw_retain(c->bufs[c->i]), (int64_t)c->off, NULL);
    }
    for (c->i = 0; c->i < g->k; c->i++) {
      if (!c->ops[c->i])
        continue;
      AW_AWAIT_SETTLED(v, c->ops[c->i]);
      dent *d = g->e[c->i];
      if (aw_is_thrown(v)) {
        fail_file(A, d, reason_errno(aw_caught(v)), NULL);
        aw_release_val(aw_caught(v));
      } else if (c->bufs[c->i]->len < c->step) { /* the file shrank */
        fail_file(A, d, 0, "file changed as we read it");
      } else {
        c->bufs[c->i]->len = c->step; /* bytes it grew by are not compared */
        A->bytes_done += c->step;
      }
    }
    split_classes(c);
    c->off += c->step;
  }
  report_classes(g, c->nclasses);
  for (c->i = 0; c->i < g->k; c->i++) {
    if (g->e[c->i]->fd >= 0) {
      AW_AWAIT_SETTLED(v, aw_fs_close(L, g->e[c->i]->fd, NULL));
      aw_release_val(aw_caught(v));
      c->held--;
      fd_release(A);
    }
    g->e[c->i]->fd = -1;
  }
  D.bufs_used -= g->k;
  for (unsigned i = 0; i < g->k; i++)
    bufpool_give(A, c->bufs[i]);
  D.active--;
  compare_next(A);
  AW_END;
}

/* Stage 3 for a big group: full SHA-256 of each file through the pipeline. */
static void hash_group(awsum *A, dgroup *g) {
  g->pending = g->k;
  D.hashing += g->k;
  for (unsigned i = 0; i < g->k; i++) {
    g->e[i]->group = g;
    g->e[i]->r->owner = g->e[i];
    hash_submit(A, g->e[i]->r);
  }
}

static int by_digest_path(const void *a, const void *b) {
  const arec *x = (*(const dent *const *)a)->r, *y = (*(const dent *const *)b)->r;
  int c = (x->err != 0) - (y->err != 0);
  if (c)
    return c;
  c = memcmp(x->digest, y->digest, SHA256_LEN);
  return c ? c : strcmp(x->path, y->path);
}

/* A hashed group is back: split it by digest. */
static void split_by_digest(dgroup *g) {
  qsort(g->e, g->k, sizeof *g->e, by_digest_path);
  for (unsigned i = 0; i < g->k;) {
    unsigned j = i + 1;
    while (j < g->k && !g->e[i]->r->err && !g->e[j]->r->err &&
           memcmp(g->e[j]->r->digest, g->e[i]->r->digest, SHA256_LEN) == 0)
      j++;
    if (j - i >= 2)
      found_group(g->e + i, j - i, g->size);
    i = j;
  }
}

static void dupes_file_hashed(awsum *A, arec *r) {
  dent *d = r->owner;
  if (r->err)
    A->status = 1;
  if (--d->group->pending == 0)
    split_by_digest(d->group);
  if (--D.hashing == 0)
    compare_next(A);
}

static void compare_next(awsum *A) {
  while (D.nextgroup < D.ngroups) {
    dgroup *g = &D.groups[D.nextgroup];
    if (g->k > COMPARE_MAX || g->k > bufpool_max(A) || g->k > A->fd_budget) {
      D.nextgroup++;
      hash_group(A, g);
      continue;
    }
    unsigned most = A->fd_budget < COMPARE_BUFS ? A->fd_budget : COMPARE_BUFS;
    if (D.bufs_used && D.bufs_used + g->k > most)
      return; /* the next group to finish calls again */
    if (bufpool_available(A) < g->k) {
      bufpool_on_give(A, compare_next);
      return;
    }
    D.nextgroup++;
    D.bufs_used += g->k;
    AW_ASYNC_NEW(A->L, comparer, comparer_body, c);
    c->g = g;
    for (unsigned i = 0; i < g->k; i++)
      if (!(c->bufs[i] = bufpool_take(A)))
        awsum_oom();
    D.active++;
    aw_release(aw_async_start(&c->frame));
  }
  if (D.active == 0 && D.hashing == 0 && D.compared)
    aw_promise_resolve(D.compared, aw_undefined());
}

/* ---- the driver --------------------------------------------------------------------------------
 */

typedef struct driver {
  aw_frame frame;
} driver;

static void driver_body(aw_loop *L, aw_frame *self) {
  awsum *A = D.A;
  AW_BEGIN(self);
  AW_AWAIT_IGNORE(aw_retain(D.walked));
  by_size(A);
  D.sampled = aw_promise_new(L);
  sample_next();
  AW_AWAIT_IGNORE(aw_retain(D.sampled));
  by_sample();
  D.compared = aw_promise_new(L);
  compare_next(A);
  AW_AWAIT_IGNORE(aw_retain(D.compared));
  AW_END;
}

static void dupes_found(awsum *A, arec *r) {
  if (r->kind == REC_ERROR)
    A->status = 1;
  else if (r->kind == REC_FILE && (r->flags & RF_STDIN)) {
    r->kind = REC_NOTE;
    r->msg = "standard input skipped";
  }
}

static void dupes_walked(awsum *A) {
  (void)A;
  aw_promise_resolve(D.walked, aw_undefined());
}

/* ---- output -------------------------------------------------------------------------------------
 */

static int by_path(const void *a, const void *b) {
  return strcmp((*(const dent *const *)a)->r->path, (*(const dent *const *)b)->r->path);
}

static int by_first_path(const void *a, const void *b) {
  const dgroup *x = a, *y = b;
  return strcmp(x->e[0]->r->path, y->e[0]->r->path);
}

static void print_groups(awsum *A) {
  for (size_t i = 0; i < D.nfound; i++)
    qsort(D.found[i].e, D.found[i].k, sizeof *D.found[i].e, by_path);
  if (D.nfound)
    qsort(D.found, D.nfound, sizeof *D.found, by_first_path);
  if (A->o.json)
    fputs("{\"groups\":[", stdout);
  for (size_t i = 0; i < D.nfound; i++) {
    dgroup *g = &D.found[i];
    if (A->o.json) {
      printf("%s{\"size\":%llu,\"files\":[", i ? ",\n" : "\n", (unsigned long long)g->size);
      for (unsigned j = 0; j < g->k; j++) {
        if (j)
          putchar(',');
        print_json_str(stdout, g->e[j]->r->path);
      }
      fputs("]}", stdout);
    } else {
      for (unsigned j = 0; j < g->k; j++)
        printf("%s\n", g->e[j]->r->path);
      putchar('\n');
    }
  }
  if (A->o.json) {
    fputs(D.nfound ? "\n]," : "],", stdout);
    print_json_errors(A);
    fputs("}\n", stdout);
  }
  if (D.nfound == 0 && !A->o.json) {
    fflush(stdout);
    fputs("No duplicates found.\n", stderr);
  }
}

int dupes_run(awsum *A) {
  D.A = A;
  D.walked = aw_promise_new(A->L);
  A->file_found = dupes_found;
  A->walk_over = dupes_walked;
  A->file_done = dupes_file_hashed;
  walk_start(A, A->o.paths, A->o.npaths);
  AW_ASYNC_NEW(A->L, driver, driver_body, f);
  aw_release(aw_async_start(&f->frame));
  int rc = aw_loop_run(A->L);
  progress_stop(A);
  if (rc < 0) {
    report_msg(A, "the event loop stopped: %s", aw_strerror(rc));
    A->status = 1;
  }
  awsum_sort_recs(A);
  for (size_t i = 0; i < A->nrecs; i++) {
    arec *r = A->recs[i];
    if (r->kind != REC_FILE || r->err || r->msg)
      report_rec_problem(A, r);
  }
  print_groups(A);
  for (size_t i = 0; i < D.nfound; i++)
    free(D.found[i].e);
  free(D.found);
  free(D.groups);
  free(D.cand);
  free(D.ents);
  aw_release(D.walked);
  aw_release(D.sampled);
  aw_release(D.compared);
  return A->status;
}
