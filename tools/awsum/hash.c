/*
 * tools/awsum/hash.c — the hashing pipeline.
 *
 * Each file in flight is one async function (hash_file) that owns an open
 * descriptor, an EVP_MD_CTX and one or two read buffers:
 *
 *   open -> read chunk 0 -> loop:
 *       hash chunk k on the CPU class (aw_work; the EVP state travels in the job)
 *       meanwhile read chunk k+1 into a second buffer, if one is free
 *       await the hash; give the first buffer back; await the read
 *   -> digest -> close
 *
 * Buffers come in two classes, made on demand and reused for the whole run:
 * chunk-sized ones for files bigger than SMALL_FILE, and SMALL_FILE-sized
 * ones for the small files (most files of most trees), so that small files
 * never pin a chunk's worth of memory and both kinds keep flowing at once.
 * Together they never hold more than --max-inflight bytes; a file starts
 * only when it gets a buffer of its class. The second buffer of a file is
 * taken only if one is free right then, never waited for, so files holding
 * one buffer each can never wait on one another. Big files start largest
 * first (a heap), so the run does not end on one big file hashed by one
 * thread while the others idle.
 *
 * Small files: a file that fits its first read is hashed whole by one job,
 * and the jobs of the small files read in one loop turn go to the pool
 * together (hash_batch: up to BATCH_FILES files or BATCH_BYTES bytes per
 * job, flushed by an immediate at the end of the turn), so a tree of tiny
 * files costs a job per batch, not per file.
 *
 * Files the walk did not stat (manifest lines) are stat'ed first (at most
 * STATS_IN_FLIGHT at once; statx goes to the kernel's io-wq threads), then
 * queued by size like the others.
 *
 * End of file: sha256sum reads until read() returns 0. A regular file whose
 * read came back short once the size fstat gave is reached is at its end
 * too, which saves a read per file; a file that shrank reads on to 0 (and is
 * hashed as far as it was read, as sha256sum does), one that grew reads on.
 *
 * A job never touches a promise or a buffer object: it gets the EVP state,
 * a pointer and a length (all in the frame, which outlives the job).
 */
#include "awsum.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SMALL_FILE (64 * 1024)   /* files up to this size use small buffers */
#define SMALL_BUFS 256           /* small buffers at most */
#define BATCH_FILES 64           /* small files hashed by one job at most */
#define BATCH_BYTES (512 * 1024) /* bytes hashed by one batch job at most */
#define STATS_IN_FLIGHT 32

enum { CLS_SMALL, CLS_BIG };

typedef struct bclass {
  aw_buf **free;
  unsigned nfree, nmade, nmax;
  size_t size;
} bclass;

typedef struct hjob hjob;

typedef struct hbatch {
  unsigned n;
  hjob *jobs[BATCH_FILES];
} hbatch;

struct hashq {
  EVP_MD *sha256;
  EVP_MD_CTX **ctxs; /* free EVP states */
  unsigned nctx, capctx;

  bclass cls[2];
  void (*on_give)(awsum *A); /* run once when a chunk buffer comes back */

  arec **small; /* small files waiting for a buffer: small[head..tail) */
  size_t shead, stail, scap;
  arec **big; /* big files waiting, a max-heap by size */
  size_t nbig, capbig;
  arec **unstat; /* files to stat first: unstat[head..tail) */
  size_t uhead, utail, ucap;
  unsigned stats; /* stats in flight */
  bool pumping;

  hbatch *batch; /* small files' jobs not sent yet */
  aw_promise *batch_done;
  size_t batch_bytes;
  aw_immediate batch_flush;
};

/* ---- queues -------------------------------------------------------------------------------- */

static void fifo_push(arec ***v, size_t *head, size_t *tail, size_t *cap, arec *r) {
  if (*tail == *cap) {
    if (*head > *cap / 2) { /* slide down rather than grow */
      memmove(*v, *v + *head, (*tail - *head) * sizeof **v);
      *tail -= *head;
      *head = 0;
    } else {
      *cap = *cap ? 2 * *cap : 1024;
      *v = xrealloc(*v, *cap * sizeof **v);
    }
  }
  (*v)[(*tail)++] = r;
}

static void heap_push(hashq *q, arec *r) {
  if (q->nbig == q->capbig) {
    q->capbig = q->capbig ? 2 * q->capbig : 1024;
    q->big = xrealloc(q->big, q->capbig * sizeof *q->big);
  }
  size_t i = q->nbig++;
  while (i > 0 && q->big[(i - 1) / 2]->size < r->size) {
    q->big[i] = q->big[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  q->big[i] = r;
}

static arec *heap_pop(hashq *q) {
  arec *top = q->big[0], *last = q->big[--q->nbig];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= q->nbig)
      break;
    if (c + 1 < q->nbig && q->big[c + 1]->size > q->big[c]->size)
      c++;
    if (q->big[c]->size <= last->size)
      break;
    q->big[i] = q->big[c];
    i = c;
  }
  if (q->nbig)
    q->big[i] = last;
  return top;
}

/* ---- buffers ----------------------------------------------------------------------------- */

static aw_buf *class_take(bclass *c) {
  if (c->nfree)
    return c->free[--c->nfree];
  if (c->nmade == c->nmax)
    return NULL;
  aw_buf *b = aw_buf_new(c->size);
  if (!b)
    return NULL;
  c->nmade++;
  return b;
}

static void pump(awsum *A);

static void class_give(awsum *A, aw_buf *b) {
  hashq *q = A->hq;
  bclass *c = &q->cls[b->cap == q->cls[CLS_BIG].size ? CLS_BIG : CLS_SMALL];
  b->len = 0;
  c->free[c->nfree++] = b;
  if (c == &q->cls[CLS_BIG] && q->on_give) {
    void (*fn)(awsum *) = q->on_give;
    q->on_give = NULL;
    fn(A);
  }
  pump(A);
}

aw_buf *bufpool_take(awsum *A) { return class_take(&A->hq->cls[CLS_BIG]); }
void bufpool_give(awsum *A, aw_buf *b) { class_give(A, b); }
unsigned bufpool_available(awsum *A) {
  bclass *c = &A->hq->cls[CLS_BIG];
  return c->nfree + (c->nmax - c->nmade);
}
unsigned bufpool_max(awsum *A) { return A->hq->cls[CLS_BIG].nmax; }
void bufpool_on_give(awsum *A, void (*fn)(awsum *A)) { A->hq->on_give = fn; }

/* ---- opening ----------------------------------------------------------------------------- */

int rec_open_flags(const arec *r) {
  return O_RDONLY | O_CLOEXEC | O_NONBLOCK | (r->flags & RF_NOFOLLOW ? O_NOFOLLOW : 0);
}

static int check_mode(arec *r, mode_t mode, uint64_t size) {
  if (S_ISDIR(mode))
    return EISDIR; /* what sha256sum reports for a directory */
  if (!S_ISREG(mode)) {
    r->msg = not_regular_msg(mode);
    return AWSUM_ENOTREG;
  }
  r->size = size;
  return 0;
}

int rec_check_stat(arec *r, aw_val stats) {
  const struct statx *sx = aw_fs_statx(stats);
  return sx ? check_mode(r, sx->stx_mode, sx->stx_size) : EIO;
}

int rec_check_fd(arec *r, int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0)
    return errno;
  int err = check_mode(r, st.st_mode, (uint64_t)st.st_size);
  if (err)
    return err;
  r->dev = st.st_dev;
  r->ino = st.st_ino;
  /* rec_open_flags set no other status flag, so this clears just O_NONBLOCK: reads wait again */
  return fcntl(fd, F_SETFL, 0) < 0 ? errno : 0;
}

int reason_errno(aw_val reason) {
  aw_error *e = aw_as_error(reason);
  return e && e->errnum ? e->errnum : EIO;
}

/* ---- jobs ---------------------------------------------------------------------------------- */

struct hjob {
  EVP_MD_CTX *md;
  const uint8_t *data;
  size_t len;
  bool final;
  bool failed;
  uint8_t out[SHA256_LEN];
};

static void hash_piece(hjob *h) {
  if (h->len && !EVP_DigestUpdate(h->md, h->data, h->len))
    h->failed = true;
  if (h->final && !EVP_DigestFinal_ex(h->md, h->out, NULL))
    h->failed = true;
}

static aw_val hash_job(aw_job *job, void *arg) {
  (void)job;
  hash_piece(arg);
  return aw_undefined();
}

static aw_val batch_job(aw_job *job, void *arg) {
  (void)job;
  hbatch *b = arg;
  for (unsigned i = 0; i < b->n; i++)
    hash_piece(b->jobs[i]);
  return aw_undefined();
}

static const aw_work_opts cpu_class = {.klass = AW_WORK_CPU};

static void batch_send(awsum *A) {
  hashq *q = A->hq;
  if (!q->batch)
    return;
  aw_clear_immediate(A->L, q->batch_flush);
  aw_promise *p =
      aw_work(A->L, batch_job, q->batch, &(aw_work_opts){.klass = AW_WORK_CPU, .arg_free = free});
  aw_promise_resolve(q->batch_done, aw_v(p)); /* the waiting files follow the job */
  aw_release(q->batch_done);
  q->batch = NULL;
  q->batch_done = NULL;
  q->batch_bytes = 0;
}

static void batch_flush_cb(aw_loop *L, void *arg) {
  (void)L;
  awsum *A = arg;
  A->hq->batch_flush = 0;
  batch_send(A);
}

/* Adds a whole small file to the batch; the promise settles once it is hashed. */
static aw_promise *batch_add(awsum *A, hjob *h) {
  hashq *q = A->hq;
  if (!q->batch) {
    q->batch = xcalloc(1, sizeof *q->batch);
    q->batch_done = aw_promise_new(A->L);
    q->batch_flush = aw_set_immediate(A->L, batch_flush_cb, A);
  }
  q->batch->jobs[q->batch->n++] = h;
  q->batch_bytes += h->len;
  aw_promise *p = aw_retain(q->batch_done);
  if (q->batch->n == BATCH_FILES || q->batch_bytes >= BATCH_BYTES)
    batch_send(A);
  return p;
}

/* ---- one file ---------------------------------------------------------------------------- */

typedef struct hash_file {
  aw_frame frame;
  awsum *A;
  arec *r;
  int fd;
  bool opened, is_stdin;
  aw_buf *cur, *next; /* borrowed from the pool */
  aw_promise *read;   /* the read of `next`, in flight */
  int64_t off;
  hjob job;
} hash_file;

static aw_promise *read_chunk(hash_file *h, aw_buf *b) {
  b->len = 0;
  return aw_fs_read_into(h->A->L, h->fd, aw_retain(b), h->is_stdin ? -1 : h->off, NULL);
}

/* Whether the read that just came back (n bytes into cur) ended the file. */
static bool at_end(hash_file *h, size_t n) {
  if (h->is_stdin)
    return false;
  return n < h->cur->cap && (uint64_t)h->off >= h->r->size;
}

static EVP_MD_CTX *ctx_take(hashq *q) {
  EVP_MD_CTX *c = q->nctx ? q->ctxs[--q->nctx] : EVP_MD_CTX_new();
  if (!c || !EVP_DigestInit_ex2(c, q->sha256, NULL))
    awsum_oom();
  return c;
}

static void ctx_give(hashq *q, EVP_MD_CTX *c) {
  if (q->nctx == q->capctx) {
    q->capctx = q->capctx ? 2 * q->capctx : 64;
    q->ctxs = xrealloc(q->ctxs, q->capctx * sizeof *q->ctxs);
  }
  q->ctxs[q->nctx++] = c;
}

/* The next step after chunk n was read: hash it, alone or in the small files' batch. */
static aw_promise *hash_chunk(hash_file *h, size_t n) {
  h->off += (int64_t)n;
  h->job.data = h->cur->data;
  h->job.len = n;
  h->job.final = at_end(h, n);
  if (h->job.final && h->off == (int64_t)n && n <= SMALL_FILE)
    return batch_add(h->A, &h->job);
  return aw_work(h->A->L, hash_job, &h->job, &cpu_class);
}

static void hash_file_body(aw_loop *L, aw_frame *self) {
  hash_file *h = (hash_file *)self;
  awsum *A = h->A;
  arec *r = h->r;
  AW_BEGIN(self);
  aw_val v, err;
  h->job.md = ctx_take(A->hq);
  if (r->flags & RF_STDIN) {
    h->fd = 0;
    h->is_stdin = true;
    A->stdin_used = true;
    if (A->stdin_closed) {
      r->err = EBADF;
      goto finish;
    }
  } else {
    AW_AWAIT_SETTLED(v, fd_open(A, r->path, rec_open_flags(r)));
    if (aw_is_thrown(v)) {
      err = aw_caught(v);
      goto failed;
    }
    h->fd = (int)v.u.i;
    h->opened = true;
    fd_hold(A);
    r->err = rec_check_fd(r, h->fd);
    if (r->err)
      goto finish;
  }

  AW_AWAIT_CATCH(v, read_chunk(h, h->cur), err, failed);
  for (;;) {
    size_t n = (size_t)v.u.i;
    if (n == 0) { /* the end, found by an empty read: the digest is quick */
      if (!EVP_DigestFinal_ex(h->job.md, h->job.out, NULL))
        h->job.failed = true;
      break;
    }
    aw_promise *hashing = hash_chunk(h, n);
    if (!h->job.final && (h->next = class_take(&A->hq->cls[CLS_BIG])))
      h->read = read_chunk(h, h->next);
    AW_AWAIT_CATCH(v, hashing, err, failed);
    A->bytes_done += h->job.len;
    if (h->job.final)
      break;
    if (h->next) {
      class_give(A, h->cur);
      h->cur = h->next;
      h->next = NULL;
      aw_promise *p = h->read;
      h->read = NULL;
      AW_AWAIT_CATCH(v, p, err, failed);
    } else {
      AW_AWAIT_CATCH(v, read_chunk(h, h->cur), err, failed);
    }
  }
  if (h->job.failed) {
    r->err = EIO;
  } else {
    memcpy(r->digest, h->job.out, SHA256_LEN);
    r->size = (uint64_t)h->off;
  }
  goto finish;

failed:
  r->err = reason_errno(err);
  aw_release_val(err);
finish:
  if (h->read) { /* never give a buffer back while the kernel may still write to it */
    aw_promise *p = h->read;
    h->read = NULL;
    AW_AWAIT_SETTLED(v, p);
    aw_release_val(aw_caught(v));
  }
  if (h->next)
    class_give(A, h->next);
  h->next = NULL;
  class_give(A, h->cur);
  h->cur = NULL;
  ctx_give(A->hq, h->job.md);
  if (h->opened) {
    AW_AWAIT_SETTLED(v, aw_fs_close(L, h->fd, NULL));
    aw_release_val(aw_caught(v));
    fd_release(A);
  }
  r->flags |= RF_DONE;
  A->files_done++;
  A->file_done(A, r); /* which decides whether r->err fails the run */
  AW_END;
}

static void start_file(awsum *A, arec *r, aw_buf *b) {
  AW_ASYNC_NEW(A->L, hash_file, hash_file_body, h);
  h->A = A;
  h->r = r;
  h->cur = b;
  aw_release(aw_async_start(&h->frame));
}

/* ---- stat first ------------------------------------------------------------------------------ */

static void queue_file(awsum *A, arec *r);

/* A file's stat is in (or failed): it goes to the hash queue, or is done. */
static void stat_done(awsum *A, arec *r) {
  A->hq->stats--;
  if (r->err) {
    r->flags |= RF_DONE;
    A->files_done++;
    A->file_done(A, r);
  } else {
    r->flags |= RF_TYPE_KNOWN;
    A->bytes_total += r->size;
    queue_file(A, r);
  }
  pump(A);
}

AW_ASYNC(stat_file, (awsum *, A), (arec *, r)) {
  aw_val v, err;
  AW_AWAIT_CATCH(v, aw_fs_stat(L, my->r->path, 0, NULL), err, failed);
  my->r->err = rec_check_stat(my->r, v);
  aw_release_val(v);
  goto done;
failed:
  my->r->err = reason_errno(err);
  aw_release_val(err);
done:
  stat_done(my->A, my->r);
}
AW_ASYNC_END;

/* ---- scheduling --------------------------------------------------------------------------------
 */

static bool is_small(const hashq *q, const arec *r) {
  return q->cls[CLS_SMALL].nmax && (r->flags & RF_TYPE_KNOWN) && r->size < SMALL_FILE;
}

static void queue_file(awsum *A, arec *r) {
  hashq *q = A->hq;
  if (is_small(q, r))
    fifo_push(&q->small, &q->shead, &q->stail, &q->scap, r);
  else
    heap_push(q, r);
}

static void pump(awsum *A) {
  hashq *q = A->hq;
  if (q->pumping)
    return;
  q->pumping = true;
  aw_buf *b;
  while (q->shead < q->stail && (b = class_take(&q->cls[CLS_SMALL])))
    start_file(A, q->small[q->shead++], b);
  while (q->nbig && (b = class_take(&q->cls[CLS_BIG])))
    start_file(A, heap_pop(q), b);
  while (q->uhead < q->utail && q->stats < STATS_IN_FLIGHT) {
    q->stats++;
    aw_release(stat_file(A->L, A, q->unstat[q->uhead++]));
  }
  if (q->shead == q->stail)
    q->shead = q->stail = 0;
  if (q->uhead == q->utail)
    q->uhead = q->utail = 0;
  q->pumping = false;
}

void hash_submit(awsum *A, arec *r) {
  hashq *q = A->hq;
  if (!(r->flags & (RF_TYPE_KNOWN | RF_STDIN)))
    fifo_push(&q->unstat, &q->uhead, &q->utail, &q->ucap, r);
  else
    queue_file(A, r);
  pump(A);
}

/* ---- setup
 * --------------------------------------------------------------------------------------- */

void hash_init(awsum *A) {
  hashq *q = xcalloc(1, sizeof *q);
  q->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (!q->sha256) {
    fprintf(stderr, "awsum: OpenSSL has no SHA256\n");
    exit(1);
  }
  size_t budget = A->o.max_inflight, chunk = A->o.chunk;
  /* Small buffers only when a chunk is bigger than one, and with at most a quarter of the budget */
  size_t small = chunk > SMALL_FILE ? budget / 4 / SMALL_FILE : 0;
  if (small > SMALL_BUFS)
    small = SMALL_BUFS;
  size_t big = (budget - small * SMALL_FILE) / chunk;
  /*
   * Each file in flight holds a buffer and a descriptor: as many buffers as
   * the descriptors the walk leaves (fds_init). Two chunk buffers at least,
   * so that a big file's reads overlap its hashing; past the budget, an open
   * waits for a descriptor (hash_file_body).
   */
  size_t fds = A->fd_budget > A->walk_fds ? A->fd_budget - A->walk_fds : 1;
  if (small > fds / 2)
    small = fds / 2;
  if (big > fds - small)
    big = fds - small;
  q->cls[CLS_BIG] = (bclass){.nmax = big < 2 ? 2 : (unsigned)big, .size = chunk};
  q->cls[CLS_SMALL] = (bclass){.nmax = (unsigned)small, .size = SMALL_FILE};
  for (int i = 0; i < 2; i++)
    q->cls[i].free = xcalloc(q->cls[i].nmax ? q->cls[i].nmax : 1, sizeof(aw_buf *));
  A->hq = q;
}

void hash_free(awsum *A) {
  hashq *q = A->hq;
  if (!q)
    return;
  for (int c = 0; c < 2; c++) {
    for (unsigned i = 0; i < q->cls[c].nfree; i++)
      aw_release(q->cls[c].free[i]);
    free(q->cls[c].free);
  }
  for (unsigned i = 0; i < q->nctx; i++)
    EVP_MD_CTX_free(q->ctxs[i]);
  EVP_MD_free(q->sha256);
  free(q->ctxs);
  free(q->small);
  free(q->big);
  free(q->unstat);
  free(q);
  A->hq = NULL;
}
