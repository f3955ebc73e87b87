/*
 * tests/fault/prog_pool.c — the worker pool: CPU and blocking jobs on a pool
 * of the program's own, one with arg_free, one cancelled by a signal while it
 * runs, one cancelled by its timeout, a readdir and a realpath (blocking jobs
 * of the io layer), posts to the loop from a job, then aw_pool_shutdown with
 * drain and aw_pool_free.
 */
#include "programs.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static aw_val job_sum(aw_job *job, void *arg) {
  (void)job;
  int64_t n = (int64_t)(intptr_t)arg, s = 0;
  for (int64_t i = 1; i <= n; i++)
    s += i;
  return aw_int(s);
}

static aw_val job_owned(aw_job *job, void *arg) {
  (void)job;
  return aw_int(*(int *)arg);
}

static int posts_run;
static void on_post(aw_loop *L, void *arg) {
  (void)L, (void)arg;
  posts_run++;
}

/* Posts to the loop from the pool thread (the inbox's lanes): 0 or -ENOMEM, as the job's value. */
static aw_val job_post(aw_job *job, void *arg) {
  (void)job;
  int r = 0;
  for (int i = 0; i < 3 && r == 0; i++)
    r = aw_loop_post(arg, on_post, NULL);
  return aw_int(r);
}

static atomic_int spinner_started;

/* Runs until cancelled (at most about 2 s, so a lost cancel cannot hang the walk). */
static aw_val job_until_cancelled(aw_job *job, void *arg) {
  (void)arg;
  atomic_store(&spinner_started, 1);
  for (int i = 0; i < 2000 && !aw_job_cancelled(job); i++)
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  return aw_int(aw_job_cancelled(job) ? 1 : 0);
}

typedef struct cancel_ctx {
  aw_signal *s;
  aw_promise *job; /* borrowed from the tracker */
  int polls;
} cancel_ctx;

/* Aborts the signal once the job runs (polled from a 1 ms interval, at most 2000 times). */
static aw_timer poller;
static void poll_started(aw_loop *L, void *arg) {
  cancel_ctx *c = arg;
  bool over = !c->job || aw_promise_state(c->job) != AW_PENDING; /* never ran: no thread */
  if (over || atomic_load(&spinner_started) || ++c->polls > 2000) {
    aw_signal_abort(c->s, aw_err("AbortError", "stop"));
    aw_clear_timer(L, poller);
  }
}

int prog_pool(void) {
  aw_loop *L = prog_loop(0);
  if (!L)
    return 0;
  aw_pool *pool = aw_pool_new(&(aw_pool_config){.cpu_threads = 2, .blocking_threads = 2});
  if (!pool) {
    aw_loop_free(L);
    return 0; /* reported: NULL */
  }
  aw_loop_set_pool(L, pool);
  tracker t = {0};
  atomic_store(&spinner_started, 0);
  cancel_ctx cc = {aw_signal_new(L), NULL, 0};

  for (int i = 0; i < 4; i++)
    track(&t, aw_work(L, job_sum, (void *)(intptr_t)(1000 * (i + 1)), NULL));
  track(&t, aw_work(L, job_sum, (void *)(intptr_t)10, &(aw_work_opts){.klass = AW_WORK_BLOCKING}));
  int *owned = malloc(sizeof *owned);
  if (owned) {
    *owned = 42;
    track(&t, aw_work(L, job_owned, owned, &(aw_work_opts){.arg_free = free}));
  }
  cc.job = track(&t, aw_work(L, job_until_cancelled, NULL, &(aw_work_opts){.signal = cc.s}));
  poller = aw_set_interval(L, 1, poll_started, &cc);
  track(&t, aw_work(L, job_until_cancelled, NULL, &(aw_work_opts){.timeout_ms = 5}));
  track(&t, aw_fs_readdir(L, "/", NULL));
  track(&t, aw_fs_realpath(L, "/tmp/..", NULL));
  posts_run = 0;
  track(&t, aw_work(L, job_post, L, NULL));
  for (size_t i = 0; i < t.n; i++)
    aw_release(aw_promise_catch(t.p[i], h_ignore, NULL));

  int r = aw_loop_run(L);
  int bad = track_check(&t, "pool", r);
  track_release(&t);
  aw_clear_timer(L, poller);
  aw_release(cc.s);
  aw_loop_free(L);
  aw_pool_report rep;
  int s = aw_pool_shutdown(pool, true, 5000, &rep);
  if (s != 0) {
    fprintf(stderr, "pool: aw_pool_shutdown returned %d (%u still running, %u threads left)\n", s,
            rep.still_running, rep.threads_left);
    bad = 1;
  }
  aw_pool_free(pool);
  return bad;
}
