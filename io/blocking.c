/*
 * io/blocking.c — calls that block in the system (directory listing, realpath)
 * on the worker pool's blocking class, and the NOP op.
 *
 * io_uring has no getdents or realpath, so these run as aw_work jobs of class
 * AW_WORK_BLOCKING: a slow file system then never holds up CPU jobs, and the
 * loop never blocks. The job owns a copy of the path (arg_free), builds its
 * result (an array of strings, a string, or an Error) on the pool thread and
 * hands it to the loop with the completion, as every job does. Errors keep
 * Node's names ("scandir", "realpath"). Cancellation and timeouts are the
 * pool's: aborting rejects the promise at once with the reason, and a listing
 * already under way is finished and freed.
 */
#define _GNU_SOURCE
#include "io/internal.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- jobs on the blocking class ---------------------------------------------------------------
 */

static aw_promise *blocking(aw_loop *L, const char *what, const char *path, const aw_io_opts *o,
                            aw_work_fn fn) {
  if (!L || !aw__on_owner(L))
    return NULL;
  if (!path)
    return aw__io_bad_args(L, "path must not be NULL");
  char *copy = AW__FAULT(ALLOC) ? NULL : strdup(path);
  if (!copy)
    return aw_promise_rejected(L, aw_obj_val(aw_error_errno(-ENOMEM, what, path)));
  aw_work_opts wo = {AW_WORK_BLOCKING, o ? o->signal : NULL, o ? o->timeout_ms : 0, free};
  return aw_work(L, fn, copy, &wo); /* the job owns copy now, whatever happens */
}

/* ---- readdir ------------------------------------------------------------------------------------
 */

static aw_val readdir_job(aw_job *job, void *arg) {
  const char *path = arg;
  DIR *d = AW__FAULT_OR(OPEN, (errno = EMFILE, NULL), opendir(path));
  if (!d)
    return aw_throw(aw_obj_val(aw_error_errno(-errno, "scandir", path)));
  aw_array *a = aw_array_new(64);
  if (!a) {
    closedir(d);
    return aw_throw(aw_obj_val(aw_error_errno(-ENOMEM, "scandir", path)));
  }
  struct dirent *e;
  int err = 0;
  for (;;) {
    errno = 0;
    if (!(e = readdir(d))) {
      err = errno;
      break;
    }
    const char *n = e->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0)))
      continue;
    if ((a->len & 1023) == 0 && aw_job_cancelled(job))
      break; /* nobody waits for the rest: the promise was already rejected */
    aw_str *s = aw_str_from(n);
    if (!s || aw_array_push(a, aw_obj_val(s)) < 0) {
      err = ENOMEM; /* names are user-sized: a listing too big for memory fails, never aborts */
      break;
    }
  }
  closedir(d);
  if (err) {
    aw_release(a);
    return aw_throw(aw_obj_val(aw_error_errno(-err, "scandir", path)));
  }
  return aw_obj_val(a);
}

aw_promise *aw_fs_readdir(aw_loop *L, const char *path, const aw_io_opts *o) {
  return blocking(L, "scandir", path, o, readdir_job);
}

/* ---- realpath -----------------------------------------------------------------------------------
 */

static aw_val realpath_job(aw_job *job, void *arg) {
  (void)job;
  const char *path = arg;
  char *r = AW__FAULT(ALLOC) ? (errno = ENOMEM, NULL) : realpath(path, NULL);
  if (!r)
    return aw_throw(aw_obj_val(aw_error_errno(-errno, "realpath", path)));
  aw_str *s = aw_str_from(r);
  free(r);
  if (!s)
    return aw_throw(aw_obj_val(aw_error_errno(-ENOMEM, "realpath", path)));
  return aw_obj_val(s);
}

aw_promise *aw_fs_realpath(aw_loop *L, const char *path, const aw_io_opts *o) {
  return blocking(L, "realpath", path, o, realpath_job);
}
