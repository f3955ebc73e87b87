/*
 * io/helper.c — calls that block in the system (directory listing, realpath)
 * on a helper thread, and the NOP op.
 *
 * Until the worker pool exists (the workers issue moves these to its blocking
 * class), each blocking call runs on a short-lived detached thread: it does
 * the work into the op, posts the op back with aw_loop_post, and only then
 * decrements the loop's count of helpers. aw_loop_free waits for that count to
 * reach zero before it frees anything, so a helper never outlives its loop;
 * the op (pool memory of the loop) is touched on the loop thread only.
 */
#define _GNU_SOURCE
#include "io/internal.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- nop ---------------------------------------------------------------------------------- */

static void nop_prep(aw__op *op, struct io_uring_sqe *sqe) {
  (void)op;
  io_uring_prep_nop(sqe);
}
static void nop_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  if (res < 0)
    aw__op_fail(op, res, "nop");
  else
    aw__op_settle(op, aw_undefined());
  aw__op_finish(op);
}
static const aw__op_vt nop_vt = {"nop", nop_prep, nop_complete, NULL, NULL};

aw_promise *aw_io_nop(aw_loop *L, const aw_io_opts *o) {
  aw_promise *early;
  aw__op *op = aw__op_new(L, &nop_vt, sizeof *op, o, &early);
  if (!op)
    return early;
  aw_promise *p = aw__op_promise(op);
  aw__op_submit(op);
  return p;
}

/* ---- blocking helper threads
 * --------------------------------------------------------------------- */

typedef struct bop {
  aw__op op;
  aw__blocking_fn work;
  aw_task_fn done;
  struct bop *next_orphan;
  int err;      /* errno of the work, or 0 */
  char **names; /* readdir: the entries (malloc) */
  size_t nnames;
  char *result; /* realpath (malloc) */
  char path[];
} bop;

/* What a helper posts: the op's own done callback, on the loop thread. */
static void helper_post(aw_loop *L, void *arg) {
  bop *b = arg;
  b->done(L, b);
}

static void *helper_main(void *arg) {
  bop *b = arg;
  aw_loop *L = b->op.loop;
  b->work(b);
  if (aw_loop_post(L, helper_post, b) < 0) {
    /* the loop is being freed: it waits for us, then takes the op back itself */
    pthread_mutex_lock(&L->orphan_lock);
    b->next_orphan = L->orphans;
    L->orphans = b;
    pthread_mutex_unlock(&L->orphan_lock);
  }
  atomic_fetch_sub(&L->helpers, 1); /* last: after this the thread touches nothing of L */
  return NULL;
}

/*
 * aw_loop_free: waits for the helpers still running, then finishes the ops
 * they returned (posted, or left as orphans once posting was refused).
 */
void aw__helpers_drain(aw_loop *L) {
  while (atomic_load(&L->helpers) > 0)
    usleep(1000);
  /* Their returns are in the inbox (or orphans): run those; user posts are dropped anyway. */
  aw_task_fn fn;
  void *arg;
  while (aw__inbox_pop(&L->inbox, &fn, &arg))
    if (fn == helper_post)
      fn(L, arg);
  pthread_mutex_lock(&L->orphan_lock);
  bop *orphans = L->orphans;
  L->orphans = NULL;
  pthread_mutex_unlock(&L->orphan_lock);
  while (orphans) {
    bop *next = orphans->next_orphan;
    orphans->done(L, orphans);
    orphans = next;
  }
}

int aw__blocking_run(aw_loop *L, aw__op *op, aw__blocking_fn work, aw_task_fn done) {
  bop *b = (bop *)op;
  b->work = work;
  b->done = done;
  b->op.state = AW__OP_INFLIGHT;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  atomic_fetch_add(&L->helpers, 1);
  pthread_t t;
  int r = pthread_create(&t, &attr, helper_main, b);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    atomic_fetch_sub(&L->helpers, 1);
    b->op.state = AW__OP_IDLE;
    return -r;
  }
  return 0;
}

/* The op's return to the loop: settle (or the abort reason) and free. */
static void helper_done(aw_loop *L, bop *b, aw_val ok) {
  (void)L;
  b->op.state = AW__OP_IDLE;
  if (b->op.flags & AW__OPF_ABORTED) {
    aw_release_val(ok);
    aw__op_settle(&b->op, aw_throw(aw_retain_val(b->op.abort_reason)));
  } else if (b->err) {
    aw_release_val(ok);
    aw__op_fail(&b->op, -b->err, b->path);
  } else {
    aw__op_settle(&b->op, ok);
  }
  aw__op_finish(&b->op);
}

static void bop_cleanup(aw_loop *L, aw__op *op) {
  (void)L;
  bop *b = (bop *)op;
  for (size_t i = 0; i < b->nnames; i++)
    free(b->names[i]);
  free(b->names);
  free(b->result);
}

/* A blocking op can't be taken back from its thread: prep never runs. */
static void no_prep(aw__op *op, struct io_uring_sqe *sqe) {
  (void)op;
  io_uring_prep_nop(sqe);
}
static void no_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)op, (void)res, (void)flags;
}

static aw_promise *blocking(aw_loop *L, const aw__op_vt *vt, const char *path, const aw_io_opts *o,
                            aw__blocking_fn work, aw_task_fn done) {
  if (!path)
    return aw__io_bad_args(L, "path must not be NULL");
  aw_promise *early;
  size_t n = strlen(path) + 1;
  bop *b = (bop *)aw__op_new(L, vt, sizeof(bop) + n, o, &early);
  if (!b)
    return early;
  memcpy(b->path, path, n);
  aw_promise *p = aw__op_promise(&b->op);
  int r = aw__blocking_run(L, &b->op, work, done);
  if (r < 0) {
    aw__op_settle(&b->op, aw_throw(aw_obj_val(aw_error_errno(r, "pthread_create", vt->name))));
    aw__op_finish(&b->op);
  }
  return p;
}

/* ---- readdir ----------------------------------------------------------------------------------
 */

static void readdir_work(void *arg) {
  bop *b = arg;
  DIR *d = opendir(b->path);
  if (!d) {
    b->err = errno;
    return;
  }
  size_t cap = 0;
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    if (b->nnames == cap) {
      cap = cap ? cap * 2 : 64;
      char **n = realloc(b->names, cap * sizeof *n);
      if (!n) {
        b->err = ENOMEM;
        break;
      }
      b->names = n;
    }
    if (!(b->names[b->nnames] = strdup(e->d_name))) {
      b->err = ENOMEM;
      break;
    }
    b->nnames++;
  }
  if (!b->err && errno)
    b->err = errno;
  closedir(d);
}

static void readdir_done(aw_loop *L, void *arg) {
  bop *b = arg;
  aw_val ok = aw_undefined();
  if (!b->err) {
    aw_array *a = aw_array_new(b->nnames);
    for (size_t i = 0; i < b->nnames; i++)
      aw_array_push(a, aw_string(b->names[i]));
    ok = aw_obj_val(a);
  }
  helper_done(L, b, ok);
}

static const aw__op_vt readdir_vt = {"scandir", no_prep, no_complete, NULL, bop_cleanup};

aw_promise *aw_fs_readdir(aw_loop *L, const char *path, const aw_io_opts *o) {
  return blocking(L, &readdir_vt, path, o, readdir_work, readdir_done);
}

/* ---- realpath -----------------------------------------------------------------------------------
 */

static void realpath_work(void *arg) {
  bop *b = arg;
  b->result = realpath(b->path, NULL);
  if (!b->result)
    b->err = errno;
}

static void realpath_done(aw_loop *L, void *arg) {
  bop *b = arg;
  helper_done(L, b, b->err ? aw_undefined() : aw_string(b->result));
}

static const aw__op_vt realpath_vt = {"realpath", no_prep, no_complete, NULL, bop_cleanup};

aw_promise *aw_fs_realpath(aw_loop *L, const char *path, const aw_io_opts *o) {
  return blocking(L, &realpath_vt, path, o, realpath_work, realpath_done);
}
