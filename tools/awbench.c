/*
 * tools/awbench.c — one benchmark per run, one line on stdout:
 *
 *   NAME N UNIT SECONDS s
 *
 * the same line the Node.js and libuv peers in ../shared/peers print, with
 * the same default sizes, so a ratio is one division. SECONDS is measured
 * in-process around the workload, as the peers do. Each workload checks its
 * result and exits 1 (with "CHECK FAILED" on stderr) if it is wrong.
 *
 *   awbench await_loop [N]       one async function awaiting N plain values
 *   awbench promise_chain [N]    N then links on a pending head, then resolve it
 *   awbench promise_fanout [N]   N pending promises, resolve each, all() over them
 *   awbench async_tree [D]       binary async recursion of depth D over all()
 *   awbench immediate_chain [N]  N chained setImmediate hops
 *   awbench timers [N]           N setTimeout(i % 100), every odd one cleared
 *   awbench sizes                sizeof the hot objects
 *   awbench caps                 the loop's backend (and why, if it fell back to epoll),
 *                                then what the kernel gave its io_uring (or what epoll runs)
 *   awbench io_nop [N]           IORING_OP_NOP round trips, 64 lanes each awaiting its own
 *   awbench file_read_small [DIR] [N]  open+read(4 KiB)+close of N files, 64 in flight
 *   awbench tcp_pingpong [CONNS] [N]   1-byte request/response round trips over loopback
 *   awbench worker_roundtrip [N] [INFLIGHT]  N tiny pool jobs (x -> 2x+1), INFLIGHT awaited at once
 *   awbench post_pingpong [INFLIGHT] [N]     a thread and the loop exchanging messages
 *   awbench idle_conns [CONNS] [N]   CONNS idle connections on one loop, RSS per idle
 *                                    connection, N round trips of an active client meanwhile
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#include "aw.h"
#include "internal.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *name, long long n, const char *unit, double secs) {
  printf("%s %lld %s %.3f s\n", name, n, unit, secs);
  fflush(stdout);
}

static void check(int cond, const char *what) {
  if (!cond) {
    fprintf(stderr, "CHECK FAILED: %s\n", what);
    exit(1);
  }
}

static aw_loop *new_loop(void) {
  aw_val err;
  aw_loop *L = aw_loop_new(NULL, &err);
  if (!L) {
    aw_error_print(err, stderr);
    exit(2);
  }
  return L;
}

static void print_io_stats(aw_loop *L) {
  aw_io_stats s;
  aw_loop_stats ls;
  if (!getenv("AWBENCH_STATS") || aw_io_stats_get(L, &s) < 0)
    return;
  aw_loop_stats_get(L, &ls);
  fprintf(stderr,
          "  io: submitted %llu completed %llu enters %llu backlogged %llu max_inflight %llu "
          "cancels %llu; loop: iterations %llu wakeups %llu macrotasks %llu microtasks %llu\n",
          (unsigned long long)s.submitted, (unsigned long long)s.completed,
          (unsigned long long)s.enters, (unsigned long long)s.backlogged,
          (unsigned long long)s.max_inflight, (unsigned long long)s.cancels,
          (unsigned long long)ls.iterations, (unsigned long long)ls.wakeups,
          (unsigned long long)ls.macrotasks, (unsigned long long)ls.microtasks);
}

static void free_loop(aw_loop *L) {
  print_io_stats(L);
  check(aw_loop_free(L) == 0, "aw_loop_free");
  check(aw_objects_alive() == 0, "nothing left alive");
}

/* ---- await_loop --------------------------------------------------------------- */

struct await_loop {
  aw_frame frame;
  int64_t n, i, s;
  double t0;
};

static void await_loop_body(aw_loop *L, aw_frame *self) {
  struct await_loop *f = (struct await_loop *)self;
  AW_BEGIN(self);
  f->t0 = now_s();
  for (f->i = 0; f->i < f->n; f->i++) {
    aw_val v;
    AW_AWAIT(v, aw_int(f->i));
    f->s += v.u.i;
  }
  double t = now_s() - f->t0;
  check(f->s == f->n * (f->n - 1) / 2, "sum");
  report("await_loop", f->n, "awaits", t);
  AW_END;
}

static void bench_await_loop(long long n) {
  aw_loop *L = new_loop();
  AW_ASYNC_NEW(L, struct await_loop, await_loop_body, f);
  f->n = n;
  aw_release(aw_async_start(&f->frame));
  check(aw_loop_run(L) == 0, "run");
  free_loop(L);
}

/* ---- promise_chain ---------------------------------------------------------------- */

static double chain_t0;
static long long chain_n;

static aw_val plus_one(aw_loop *L, aw_val v, void *arg) { return aw_int(v.u.i + 1); }

static aw_val chain_done(aw_loop *L, aw_val v, void *arg) {
  double t = now_s() - chain_t0;
  check(v.u.i == chain_n, "chain value");
  report("promise_chain", chain_n, "links", t);
  return aw_undefined();
}

static void bench_promise_chain(long long n) {
  aw_loop *L = new_loop();
  chain_n = n;
  chain_t0 = now_s();
  aw_promise *head = aw_promise_new(L);
  aw_promise *p = aw_retain(head);
  for (long long i = 0; i < n; i++) {
    aw_promise *q = aw_promise_then(p, plus_one, NULL, NULL);
    aw_release(p);
    p = q;
  }
  aw_promise_resolve(head, aw_int(0));
  aw_release(head);
  aw_release(aw_promise_then(p, chain_done, NULL, NULL));
  aw_release(p);
  check(aw_loop_run(L) == 0, "run");
  free_loop(L);
}

/* ---- promise_fanout ---------------------------------------------------------------- */

struct fanout {
  aw_frame frame;
  int64_t n;
  double t0;
  aw_promise **ps;
};

static void fanout_body(aw_loop *L, aw_frame *self) {
  struct fanout *f = (struct fanout *)self;
  AW_BEGIN(self);
  f->t0 = now_s();
  f->ps = malloc((size_t)f->n * sizeof *f->ps);
  aw_val *in = malloc((size_t)f->n * sizeof *in);
  for (int64_t i = 0; i < f->n; i++)
    f->ps[i] = aw_promise_new(L);
  for (int64_t i = 0; i < f->n; i++)
    aw_promise_resolve(f->ps[i], aw_int(i));
  for (int64_t i = 0; i < f->n; i++)
    in[i] = aw_obj_val(f->ps[i]); /* all() takes over our references */
  aw_promise *all = aw_promise_all(L, (size_t)f->n, in);
  free(in);
  free(f->ps);
  aw_val vals;
  AW_AWAIT(vals, all);
  double t = now_s() - f->t0;
  aw_array *a = aw_as_array(vals);
  int64_t s = 0;
  for (int64_t i = 0; i < f->n; i++)
    s += a->items[i].u.i;
  check(s == f->n * (f->n - 1) / 2, "sum");
  aw_release_val(vals);
  report("promise_fanout", f->n, "promises", t);
  AW_END;
}

static void bench_promise_fanout(long long n) {
  aw_loop *L = new_loop();
  AW_ASYNC_NEW(L, struct fanout, fanout_body, f);
  f->n = n;
  aw_release(aw_async_start(&f->frame));
  check(aw_loop_run(L) == 0, "run");
  free_loop(L);
}

/* ---- async_tree ------------------------------------------------------------------------ */

static long long tree_calls;

struct tree {
  aw_frame frame;
  int d;
};

static aw_promise *tree(aw_loop *L, int d);

static void tree_body(aw_loop *L, aw_frame *self) {
  struct tree *f = (struct tree *)self;
  AW_BEGIN(self);
  tree_calls++;
  if (f->d == 0)
    AW_RETURN(aw_int(1));
  aw_val kids[2];
  kids[0] = aw_v(tree(L, f->d - 1));
  kids[1] = aw_v(tree(L, f->d - 1));
  aw_val both;
  AW_AWAIT(both, aw_promise_all(L, 2, kids));
  aw_array *a = aw_as_array(both);
  int64_t sum = a->items[0].u.i + a->items[1].u.i;
  aw_release_val(both);
  AW_RETURN(aw_int(sum));
  AW_END;
}

static aw_promise *tree(aw_loop *L, int d) {
  AW_ASYNC_NEW(L, struct tree, tree_body, f);
  f->d = d;
  return aw_async_start(&f->frame);
}

struct tree_main {
  aw_frame frame;
  int d;
  double t0;
};

static void tree_main_body(aw_loop *L, aw_frame *self) {
  struct tree_main *f = (struct tree_main *)self;
  AW_BEGIN(self);
  f->t0 = now_s();
  aw_val leaves;
  AW_AWAIT(leaves, tree(L, f->d));
  double t = now_s() - f->t0;
  check(leaves.u.i == 1ll << f->d && tree_calls == (1ll << (f->d + 1)) - 1, "tree");
  report("async_tree", tree_calls, "async_calls", t);
  AW_END;
}

static void bench_async_tree(int d) {
  aw_loop *L = new_loop();
  AW_ASYNC_NEW(L, struct tree_main, tree_main_body, f);
  f->d = d;
  aw_release(aw_async_start(&f->frame));
  check(aw_loop_run(L) == 0, "run");
  free_loop(L);
}

/* ---- immediate_chain ------------------------------------------------------------------- */

static long long hops, hops_n;
static double hops_t0;

static void hop(aw_loop *L, void *arg) {
  if (++hops < hops_n)
    aw_set_immediate(L, hop, NULL);
  else
    report("immediate_chain", hops_n, "hops", now_s() - hops_t0);
}

static void bench_immediate_chain(long long n) {
  aw_loop *L = new_loop();
  hops_n = n;
  hops_t0 = now_s();
  aw_set_immediate(L, hop, NULL);
  check(aw_loop_run(L) == 0, "run");
  check(hops == n, "hops");
  free_loop(L);
}

/* ---- timers ------------------------------------------------------------------------------ */

static long long fired, timers_n;
static double timers_t0;

static void timer_cb(aw_loop *L, void *arg) {
  if (++fired == timers_n / 2)
    report("timers", timers_n, "timers", now_s() - timers_t0);
}

static void bench_timers(long long n) {
  aw_loop *L = new_loop();
  timers_n = n;
  timers_t0 = now_s();
  aw_timer *ts = malloc((size_t)n * sizeof *ts);
  for (long long i = 0; i < n; i++)
    ts[i] = aw_set_timeout(L, i % 100, timer_cb, NULL);
  for (long long i = 1; i < n; i += 2)
    aw_clear_timer(L, ts[i]);
  free(ts);
  check(aw_loop_run(L) == 0, "run");
  check(fired == n / 2, "fired");
  free_loop(L);
}

/* ---- io_nop: 64 lanes, each awaiting one NOP at a time ---------------------------------- */

static long long lanes_next, lanes_n, lanes_done;

struct nop_lane {
  aw_frame frame;
};

static void nop_lane_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  while (lanes_next < lanes_n) {
    lanes_next++;
    AW_AWAIT_IGNORE(aw_io_nop(L, NULL));
    lanes_done++;
  }
  AW_END;
}

static void bench_io_nop(long long n) {
  aw_loop *L = new_loop();
  lanes_n = n;
  double t0 = now_s();
  for (int k = 0; k < 64; k++) {
    AW_ASYNC_NEW(L, struct nop_lane, nop_lane_body, f);
    aw_release(aw_async_start(&f->frame));
  }
  check(aw_loop_run(L) == 0, "run");
  double t = now_s() - t0;
  check(lanes_done == n, "nops");
  report("io_nop", n, "nops", t);
  free_loop(L);
}

/* ---- file_read_small: open -> read -> close per file, 64 lanes ----------------------------- */

static const char *small_dir;
static long long small_bytes;

struct file_lane {
  aw_frame frame;
  int fd;
  char path[512];
};

static void file_lane_body(aw_loop *L, aw_frame *self) {
  struct file_lane *f = (struct file_lane *)self;
  AW_BEGIN(self);
  while (lanes_next < lanes_n) {
    snprintf(f->path, sizeof f->path, "%s/f%05lld", small_dir, lanes_next++);
    aw_val v;
    AW_AWAIT(v, aw_fs_open(L, f->path, O_RDONLY, 0, NULL));
    f->fd = (int)v.u.i;
    AW_AWAIT(v, aw_fs_read(L, f->fd, 4096, 0, NULL));
    small_bytes += (long long)((aw_buf *)v.u.o)->len;
    aw_release_val(v);
    AW_AWAIT_IGNORE(aw_fs_close(L, f->fd, NULL));
    lanes_done++;
  }
  AW_END;
}

static aw_val lane_failed(aw_loop *L, aw_val v, void *arg) {
  fprintf(stderr, "CHECK FAILED: %s: ", (const char *)arg);
  aw_error_print(v, stderr);
  exit(1);
}

static void bench_file_read_small(const char *dir, long long n) {
  aw_loop *L = new_loop();
  small_dir = dir;
  lanes_n = n;
  double t0 = now_s();
  for (int k = 0; k < 64; k++) {
    AW_ASYNC_NEW(L, struct file_lane, file_lane_body, f);
    aw_promise *p = aw_async_start(&f->frame);
    aw_release(aw_promise_catch(p, lane_failed, "file_read_small"));
    aw_release(p);
  }
  check(aw_loop_run(L) == 0, "run");
  double t = now_s() - t0;
  check(lanes_done == n && small_bytes == n * 4096, "files and bytes");
  report("file_read_small", n, "files", t);
  free_loop(L);
}

/* ---- tcp_pingpong: CONNS client/server pairs on one loop, 1 byte each way ----------------------
 */

static long long pp_left, pp_done;

struct pp_server {
  aw_frame frame;
  int fd;
};

static void pp_server_body(aw_loop *L, aw_frame *self) {
  struct pp_server *f = (struct pp_server *)self;
  AW_BEGIN(self);
  for (;;) {
    aw_val v;
    AW_AWAIT(v, aw_sock_recv(L, f->fd, 1, NULL));
    size_t got = ((aw_buf *)v.u.o)->len;
    if (got == 0) {
      aw_release_val(v);
      break;
    }
    AW_AWAIT_IGNORE(aw_sock_send(L, f->fd, (aw_buf *)v.u.o, NULL)); /* echo the same buffer */
  }
  AW_AWAIT_IGNORE(aw_fs_close(L, f->fd, NULL));
  AW_END;
}

struct pp_client {
  aw_frame frame;
  aw_val listener;
  int fd;
};

static void pp_client_body(aw_loop *L, aw_frame *self) {
  struct pp_client *f = (struct pp_client *)self;
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, aw_tcp_connect(L, "127.0.0.1", aw_listener_port(f->listener), NULL));
  f->fd = (int)v.u.i;
  AW_AWAIT(v, aw_tcp_accept(f->listener, NULL));
  {
    AW_ASYNC_NEW(L, struct pp_server, pp_server_body, s);
    s->fd = (int)v.u.i;
    aw_release(aw_async_start(&s->frame));
  }
  while (pp_left > 0) {
    pp_left--;
    AW_AWAIT_IGNORE(aw_sock_send(L, f->fd, aw_buf_from("x", 1), NULL));
    AW_AWAIT(v, aw_sock_recv(L, f->fd, 1, NULL));
    check(((aw_buf *)v.u.o)->len == 1, "echo");
    aw_release_val(v);
    pp_done++;
  }
  AW_AWAIT_IGNORE(aw_sock_shutdown(L, f->fd, SHUT_WR, NULL));
  AW_AWAIT_IGNORE(aw_fs_close(L, f->fd, NULL));
  AW_END;
}

struct pp_main {
  aw_frame frame;
  int conns;
  aw_val listener;
  aw_promise **clients;
  double t0;
  long long n;
};

static void pp_main_body(aw_loop *L, aw_frame *self) {
  struct pp_main *f = (struct pp_main *)self;
  AW_BEGIN(self);
  AW_AWAIT(f->listener, aw_tcp_listen(L, "127.0.0.1", 0, NULL));
  f->t0 = now_s();
  {
    aw_val *all = malloc(sizeof(aw_val) * (size_t)f->conns);
    for (int k = 0; k < f->conns; k++) {
      AW_ASYNC_NEW(L, struct pp_client, pp_client_body, c);
      c->listener = f->listener;
      all[k] = aw_v(aw_async_start(&c->frame));
    }
    aw_promise *both = aw_promise_all(L, (size_t)f->conns, all);
    free(all);
    AW_AWAIT_IGNORE(both);
  }
  double t = now_s() - f->t0;
  check(pp_done == f->n, "round trips");
  char name[64];
  snprintf(name, sizeof name, "tcp_pingpong_c%d", f->conns);
  report(name, f->n, "roundtrips", t);
  aw_listener_close(f->listener);
  aw_release_val(f->listener);
  AW_END;
}

static void bench_tcp_pingpong(int conns, long long n) {
  aw_loop *L = new_loop();
  pp_left = n;
  AW_ASYNC_NEW(L, struct pp_main, pp_main_body, f);
  f->conns = conns;
  f->n = n;
  aw_promise *p = aw_async_start(&f->frame);
  aw_release(aw_promise_catch(p, lane_failed, "tcp_pingpong"));
  aw_release(p);
  check(aw_loop_run(L) == 0, "run");
  free_loop(L);
}

/* ---- worker_roundtrip: INFLIGHT lanes, each awaiting one tiny job at a time -------------------
 */

static aw_val twice_plus_one(aw_job *job, void *arg) {
  (void)job;
  return aw_int(2 * (int64_t)(intptr_t)arg + 1);
}

static long long work_sum;

struct work_lane {
  aw_frame frame;
  long long x;
};

static void work_lane_body(aw_loop *L, aw_frame *self) {
  struct work_lane *f = (struct work_lane *)self;
  AW_BEGIN(self);
  while (lanes_next < lanes_n) {
    f->x = lanes_next++;
    aw_val v;
    AW_AWAIT(v, aw_work(L, twice_plus_one, (void *)(intptr_t)f->x, NULL));
    check(v.u.i == 2 * f->x + 1, "job result");
    work_sum += v.u.i;
    lanes_done++;
  }
  AW_END;
}

static void bench_worker_roundtrip(long long n, int inflight) {
  aw_loop *L = new_loop();
  const char *threads = getenv("AWBENCH_CPU_THREADS");
  if (threads && atoi(threads) > 0)
    aw_pool_resize(aw_pool_default(), AW_WORK_CPU, (unsigned)atoi(threads));
  lanes_n = n;
  double t0 = now_s();
  for (int k = 0; k < inflight; k++) {
    AW_ASYNC_NEW(L, struct work_lane, work_lane_body, f);
    aw_promise *p = aw_async_start(&f->frame);
    aw_release(aw_promise_catch(p, lane_failed, "worker_roundtrip"));
    aw_release(p);
  }
  check(aw_loop_run(L) == 0, "run");
  double t = now_s() - t0;
  check(lanes_done == n && work_sum == n * n, "jobs");
  report("worker_roundtrip", n, "jobs", t);
  if (getenv("AWBENCH_STATS")) {
    aw_pool_stats ps;
    aw_pool_stats_get(aw_pool_default(), &ps);
    fprintf(stderr, "  pool: jobs %llu sleeps %llu wakeups %llu threads %u\n",
            (unsigned long long)ps.jobs_run, (unsigned long long)ps.sleeps,
            (unsigned long long)ps.wakeups, ps.cpu_threads);
  }
  free_loop(L);
}

/* ---- post_pingpong: a thread posts to the loop, the loop answers through an SPSC ring ----------
 */

#define PP_RING 1024
static struct {
  _Alignas(64) _Atomic uint64_t head; /* the thread reads */
  _Alignas(64) _Atomic uint64_t tail; /* the loop writes */
  _Alignas(64) uint64_t vals[PP_RING];
} pp_replies;
static aw_loop *pp_loop;
static long long pp_n;
static int pp_inflight;

static void pp_on_message(aw_loop *L, void *arg) {
  (void)L;
  uint64_t t = atomic_load_explicit(&pp_replies.tail, memory_order_relaxed);
  pp_replies.vals[t % PP_RING] = (uint64_t)(uintptr_t)arg + 1;
  atomic_store_explicit(&pp_replies.tail, t + 1, memory_order_release);
}

static void pp_finish(aw_loop *L, void *arg) {
  (void)arg;
  aw_loop_unref(L);
}

static void *pp_thread(void *arg) {
  (void)arg;
  long long sent = 0, got = 0;
  uint64_t tail_seen = 0; /* the loop's tail, read again only when we caught up with it */
  while (sent < pp_n && sent < pp_inflight)
    check(aw_loop_post(pp_loop, pp_on_message, (void *)(uintptr_t)sent++) == 0, "post");
  while (got < pp_n) {
    uint64_t h = atomic_load_explicit(&pp_replies.head, memory_order_relaxed);
    if (h == tail_seen) {
      tail_seen = atomic_load_explicit(&pp_replies.tail, memory_order_acquire);
      if (h == tail_seen) {
        __builtin_ia32_pause();
        continue;
      }
    }
    check(pp_replies.vals[h % PP_RING] == (uint64_t)got + 1, "reply order");
    atomic_store_explicit(&pp_replies.head, h + 1, memory_order_relaxed);
    got++;
    if (sent < pp_n)
      check(aw_loop_post(pp_loop, pp_on_message, (void *)(uintptr_t)sent++) == 0, "post");
  }
  aw_loop_post(pp_loop, pp_finish, NULL);
  return NULL;
}

static void bench_post_pingpong(int inflight, long long n) {
  aw_loop *L = new_loop();
  pp_loop = L;
  pp_n = n;
  pp_inflight = inflight;
  aw_loop_ref(L); /* the thread posts until pp_finish */
  double t0 = now_s();
  pthread_t t;
  check(pthread_create(&t, NULL, pp_thread, NULL) == 0, "thread");
  check(aw_loop_run(L) == 0, "run");
  pthread_join(t, NULL);
  double secs = now_s() - t0;
  char name[64];
  snprintf(name, sizeof name, "post_pingpong_f%d", inflight);
  report(name, n, "roundtrips", secs);
  if (getenv("AWBENCH_STATS")) {
    aw_loop_stats ls;
    aw_loop_stats_get(L, &ls);
    fprintf(stderr, "  loop: iterations %llu wakeups %llu wake_signals %llu\n",
            (unsigned long long)ls.iterations, (unsigned long long)ls.wakeups,
            (unsigned long long)ls.wake_signals);
  }
  free_loop(L);
}

static void caps(void) {
  aw_loop *L = new_loop();
  aw_io_caps c;
  check(aw_io_caps_get(L, &c) == 0, "caps");
  printf("backend %s\n", c.backend_name);
  if (c.fallback_reason[0])
    printf("fallback_reason %s\n", c.fallback_reason);
  printf("sq_entries %u\ncq_entries %u\ninflight_limit %u\n", c.sq_entries, c.cq_entries,
         c.inflight_limit);
  printf("single_issuer %d\ndefer_taskrun %d\ncoop_taskrun %d\n", c.single_issuer, c.defer_taskrun,
         c.coop_taskrun);
  printf("nodrop %d\next_arg %d\nfast_poll %d\n", c.nodrop, c.ext_arg, c.fast_poll);
  static const char *names[] = {"NOP",
                                "READV",
                                "WRITEV",
                                "FSYNC",
                                "READ_FIXED",
                                "WRITE_FIXED",
                                "POLL_ADD",
                                "POLL_REMOVE",
                                "SYNC_FILE_RANGE",
                                "SENDMSG",
                                "RECVMSG",
                                "TIMEOUT",
                                "TIMEOUT_REMOVE",
                                "ACCEPT",
                                "ASYNC_CANCEL",
                                "LINK_TIMEOUT",
                                "CONNECT",
                                "FALLOCATE",
                                "OPENAT",
                                "CLOSE",
                                "FILES_UPDATE",
                                "STATX",
                                "READ",
                                "WRITE",
                                "FADVISE",
                                "MADVISE",
                                "SEND",
                                "RECV",
                                "OPENAT2",
                                "EPOLL_CTL",
                                "SPLICE",
                                "PROVIDE_BUFFERS",
                                "REMOVE_BUFFERS",
                                "TEE",
                                "SHUTDOWN",
                                "RENAMEAT",
                                "UNLINKAT",
                                "MKDIRAT",
                                "SYMLINKAT",
                                "LINKAT",
                                "MSG_RING",
                                "FSETXATTR",
                                "SETXATTR",
                                "FGETXATTR",
                                "GETXATTR",
                                "SOCKET",
                                "URING_CMD",
                                "SEND_ZC",
                                "SENDMSG_ZC",
                                "READ_MULTISHOT",
                                "WAITID",
                                "FUTEX_WAIT",
                                "FUTEX_WAKE",
                                "FUTEX_WAITV",
                                "FIXED_FD_INSTALL",
                                "FTRUNCATE",
                                "BIND",
                                "LISTEN",
                                "RECV_ZC",
                                "EPOLL_WAIT",
                                "READV_FIXED",
                                "WRITEV_FIXED",
                                "PIPE"};
  unsigned nops = c.nops ? c.nops : 64; /* a backend that does not say: every opcode */
  printf("opcodes %u:", nops);
  for (unsigned i = 0; i < nops && i < 64; i++)
    printf(" %s%s", i < sizeof names / sizeof names[0] ? names[i] : "?",
           c.op_supported[i] ? "" : "(no)");
  printf("\n");
  free_loop(L);
}

/* ---- idle_conns ---------------------------------------------------------------------------------
 */

/*
 * CONNS idle connections on one loop (an echo server on aw_receiver, a
 * pending aw_receiver_next each) and one active client: what an idle
 * connection costs in user space (RSS delta / connections, measured between
 * the 100th connection and the last) and the active client's round trips
 * while the loop holds them all (N, 16 bytes each). The clients are a child
 * process: one process cannot hold both ends of 15,000 connections under a
 * 20,000 descriptor limit. Prints the usual line and, after it, rss_per_conn
 * B and the active round trip's mean in microseconds.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int idle_dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int idle_round_trip(int fd, long long i) {
  char msg[32], got[16]; /* 16 bytes go out: "ping-" and 10 digits and the NUL */
  snprintf(msg, sizeof msg, "ping-%010llu", (unsigned long long)(i % 10000000000LL));
  if (write(fd, msg, sizeof got) != (ssize_t)sizeof got)
    return 0;
  size_t n = 0;
  while (n < sizeof got) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) /* an answer that does not come within 10 s fails the run */
      return 0;
    ssize_t r = read(fd, got + n, sizeof got - n);
    if (r <= 0)
      return 0;
    n += (size_t)r;
  }
  return memcmp(msg, got, sizeof got) == 0;
}

typedef struct idle_report {
  int status; /* 0: every answer came */
  double secs;
} idle_report;

static int idle_client(int port, int conns, long long n, int go_fd, int report_fd) {
  idle_report rep = {0, 0};
  int active = idle_dial(port);
  if (active < 0)
    rep.status = 2;
  for (int i = 0; i < conns && !rep.status; i++) {
    if (idle_dial(port) < 0)
      rep.status = 3;
    else if (i % 1000 == 999 && !idle_round_trip(active, i))
      rep.status = 4; /* answered while the idle ones come in, too */
  }
  struct pollfd p = {go_fd, POLLIN, 0};
  if (!rep.status && poll(&p, 1, 120000) != 1)
    rep.status = 5;
  double t0 = now_s();
  for (long long i = 0; i < n && !rep.status; i++)
    if (!idle_round_trip(active, i))
      rep.status = 6;
  rep.secs = now_s() - t0;
  if (write(report_fd, &rep, sizeof rep) != (ssize_t)sizeof rep)
    return 7;
  return rep.status;
}

typedef struct idle_conn {
  aw_receiver *r;
  int fd;
} idle_conn;

static struct {
  aw_val listener;
  int target, accepted, open, go_fd, failures;
  long rss_base, rss_full;
  bool child_done, closed;
  aw_buf *report;
} IC;

static long rss_now(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &rss) != 2)
      rss = 0;
    fclose(f);
  }
  return rss * sysconf(_SC_PAGESIZE);
}

static void idle_maybe_finish(void) {
  if (IC.child_done && IC.open == 0 && !IC.closed) {
    IC.closed = true;
    aw_listener_close(IC.listener);
  }
}

static aw_val idle_ignore(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v, (void)arg;
  return aw_undefined();
}

static void idle_next(idle_conn *c);

static aw_val idle_chunk(aw_loop *L, aw_val v, void *arg) {
  idle_conn *c = arg;
  if (!aw_is_type(v, AW_T_BUFFER) || ((aw_buf *)v.u.o)->len == 0) {
    aw_receiver_free(c->r);
    close(c->fd);
    free(c);
    IC.open--;
    idle_maybe_finish();
    return aw_undefined();
  }
  aw_promise *p = aw_sock_send(L, c->fd, aw_retain((aw_buf *)v.u.o), NULL);
  aw_release(aw_promise_catch(p, idle_ignore, NULL));
  aw_release(p);
  idle_next(c);
  return aw_undefined();
}

static void idle_next(idle_conn *c) {
  aw_promise *p = aw_receiver_next(c->r, NULL);
  aw_release(aw_promise_then(p, idle_chunk, idle_chunk, c));
  aw_release(p);
}

static void idle_accept_next(void);

static aw_val idle_accepted(aw_loop *L, aw_val v, void *arg) {
  (void)arg;
  idle_conn *c = malloc(sizeof *c);
  check(c != NULL, "malloc");
  c->fd = (int)v.u.i;
  c->r = aw_receiver_new(L, c->fd);
  if (!c->r) {
    close(c->fd);
    free(c);
    IC.failures++;
  } else {
    IC.accepted++;
    IC.open++;
    idle_next(c);
  }
  if (IC.accepted == 100)
    IC.rss_base = rss_now();
  if (IC.accepted == IC.target + 1) { /* all held, each with a pending next */
    IC.rss_full = rss_now();
    char go = 1;
    if (write(IC.go_fd, &go, 1) != 1)
      IC.failures++;
  }
  idle_accept_next();
  return aw_undefined();
}

static void idle_accept_next(void) {
  aw_promise *p = aw_tcp_accept(IC.listener, NULL);
  if (!p)
    return;
  aw_release(aw_promise_then(p, idle_accepted, idle_ignore, NULL));
  aw_release(p);
}

static aw_val idle_reported(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)arg;
  if (aw_is_type(v, AW_T_BUFFER))
    IC.report = aw_retain((aw_buf *)v.u.o);
  IC.child_done = true;
  idle_maybe_finish();
  return aw_undefined();
}

static void bench_idle_conns(int conns, long long n) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  check(rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)conns + 200,
        "RLIMIT_NOFILE's hard limit holds CONNS + 200 descriptors");
  aw_loop *L = new_loop();
  memset(&IC, 0, sizeof IC);
  IC.target = conns;
  aw_listen_opts lo = {.backlog = 4096};
  aw_promise *lp = aw_tcp_listen(L, "127.0.0.1", 0, &lo);
  check(aw_promise_state(lp) == AW_FULFILLED, "listen");
  IC.listener = aw_retain_val(aw_promise_result(lp));
  aw_release(lp);
  int port = aw_listener_port(IC.listener);
  int go[2], rep[2];
  check(pipe2(go, O_CLOEXEC) == 0 && pipe2(rep, O_CLOEXEC) == 0, "pipe2");
  fflush(NULL);
  pid_t pid = fork();
  check(pid >= 0, "fork");
  if (pid == 0) {
    close(go[1]);
    close(rep[0]);
    _exit(idle_client(port, conns, n, go[0], rep[1]));
  }
  close(go[0]);
  close(rep[1]);
  IC.go_fd = go[1];
  double t0 = now_s();
  idle_accept_next();
  aw_promise *rp = aw_fs_read(L, rep[0], sizeof(idle_report), AW_FS_CUR, NULL);
  aw_release(aw_promise_then(rp, idle_reported, idle_reported, NULL));
  aw_release(rp);
  int rc = aw_loop_run(L);
  double total = now_s() - t0;
  int ws = 0;
  kill(pid, SIGKILL); /* gone already when all went well */
  waitpid(pid, &ws, 0);
  close(go[1]);
  close(rep[0]);
  idle_report r = {100, 0};
  if (IC.report && IC.report->len == sizeof r)
    memcpy(&r, IC.report->data, sizeof r);
  aw_release(IC.report);
  aw_release_val(IC.listener);
  print_io_stats(L);
  free_loop(L);
  check(rc == 0, "aw_loop_run");
  check(IC.failures == 0 && IC.accepted == conns + 1, "every connection accepted");
  check(r.status == 0, "the active client got every answer within 10 s");
  double per_conn = (double)(IC.rss_full - IC.rss_base) / (conns + 1 - 100);
  printf("idle_conns %d conns %.3f s rss_per_conn %.0f B active_rtt %.1f us (%lld round trips)\n",
         conns, total, per_conn, r.secs / (double)n * 1e6, n);
  fflush(stdout);
}

/* ---- sizes ----------------------------------------------------------------------------------- */

static void sizes(void) {
  printf("promise %zu\n", sizeof(aw_promise));
  printf("reaction %zu\n", sizeof(aw__then_r));
  printf("then_promise %zu (a promise allocated with the reaction that settles it)\n",
         sizeof(aw__tpromise));
  printf("pending_promise_with_one_reaction %zu\n", sizeof(aw_promise) + sizeof(aw__then_r));
  printf("timer %zu\n", sizeof(aw__timer));
  printf("immediate %zu\n", sizeof(aw__imm));
  printf("async_frame_header %zu\n", sizeof(aw_frame));
  printf("job %zu\n", sizeof(aw__job));
  printf("value %zu\n", sizeof(aw_val));
}

static long long arg_or(int argc, char **argv, long long dflt) {
  if (argc < 3)
    return dflt;
  char *end;
  long long v = strtoll(argv[2], &end, 10);
  if (*end || v <= 0) {
    fprintf(stderr, "awbench: bad size '%s'\n", argv[2]);
    exit(2);
  }
  return v;
}

static void usage(FILE *f) {
  fprintf(f, "usage: awbench NAME [SIZE]\n"
             "  await_loop [10000000] | promise_chain [1000000] | promise_fanout [1000000]\n"
             "  async_tree [20] | immediate_chain [2000000] | timers [1000000] | sizes\n"
             "  io_nop [16000000] | file_read_small [DIR=/tmp/peerdata/small] [N=20000]\n"
             "  tcp_pingpong [CONNS=1] [N=200000] | caps\n"
             "  worker_roundtrip [N=200000] [INFLIGHT=64] | post_pingpong [INFLIGHT=64] [N]\n"
             "  idle_conns [CONNS=15000] [N=10000]\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *name = argv[1];
  if (!strcmp(name, "await_loop"))
    bench_await_loop(arg_or(argc, argv, 10000000));
  else if (!strcmp(name, "promise_chain"))
    bench_promise_chain(arg_or(argc, argv, 1000000));
  else if (!strcmp(name, "promise_fanout"))
    bench_promise_fanout(arg_or(argc, argv, 1000000));
  else if (!strcmp(name, "async_tree")) {
    long long d = arg_or(argc, argv, 20);
    if (d > 30) {
      fprintf(stderr, "awbench: depth %lld is too deep\n", d);
      return 2;
    }
    bench_async_tree((int)d);
  } else if (!strcmp(name, "immediate_chain"))
    bench_immediate_chain(arg_or(argc, argv, 2000000));
  else if (!strcmp(name, "timers"))
    bench_timers(arg_or(argc, argv, 1000000));
  else if (!strcmp(name, "sizes"))
    sizes();
  else if (!strcmp(name, "caps"))
    caps();
  else if (!strcmp(name, "worker_roundtrip")) {
    long long n = arg_or(argc, argv, 200000);
    long long inflight = argc > 3 ? atoll(argv[3]) : 64;
    check(inflight >= 1 && inflight <= 100000, "INFLIGHT");
    bench_worker_roundtrip(n, (int)inflight);
  } else if (!strcmp(name, "post_pingpong")) {
    long long inflight = arg_or(argc, argv, 64);
    long long n = argc > 3 ? atoll(argv[3]) : (inflight > 1 ? 20000000 : 2000000);
    check(inflight >= 1 && inflight <= PP_RING && n > 0, "INFLIGHT (1..1024) and N");
    bench_post_pingpong((int)inflight, n);
  } else if (!strcmp(name, "io_nop"))
    bench_io_nop(arg_or(argc, argv, 16000000));
  else if (!strcmp(name, "file_read_small")) {
    const char *dir = argc > 2 ? argv[2] : "/tmp/peerdata/small";
    long long n = argc > 3 ? atoll(argv[3]) : 20000;
    check(n > 0, "N");
    bench_file_read_small(dir, n);
  } else if (!strcmp(name, "tcp_pingpong")) {
    long long conns = arg_or(argc, argv, 1);
    long long n = argc > 3 ? atoll(argv[3]) : 200000;
    check(conns >= 1 && conns <= 4096 && n > 0, "CONNS and N");
    bench_tcp_pingpong((int)conns, n);
  } else if (!strcmp(name, "idle_conns")) {
    long long conns = arg_or(argc, argv, 15000);
    long long n = argc > 3 ? atoll(argv[3]) : 10000;
    check(conns >= 100 && conns <= 1000000 && n > 0, "CONNS (100..1000000) and N");
    bench_idle_conns((int)conns, n);
  } else if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
    usage(stdout);
    return 0;
  } else {
    fprintf(stderr, "awbench: unknown benchmark '%s'\n", name);
    usage(stderr);
    return 2;
  }
  return 0;
}
