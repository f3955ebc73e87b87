/*
 * tools/peers/uv_fsread.c — the file_read_small workload of awbench written for plain libuv
 * (from shared/peers/libuv): read N files of 4 KiB (DIR/f00000..), 64 in flight.
 *   chain: uv_fs_open -> uv_fs_read -> uv_fs_close, each an async threadpool hop (3 per file).
 *   work:  one uv_queue_work per file doing open/read/close synchronously in the pool (1 hop).
 * Prints "file_read_small_uv_MODE N files SECONDS s".
 * usage: uv_fsread chain|work [DIR=/tmp/peerdata/small] [N=20000]
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include "uv_common.h"

enum { INFLIGHT = 64, FSZ = 4096 };
typedef struct {
  uv_fs_t req;
  uv_work_t work;
  long idx;
  uv_file fd;
  ssize_t got;
  char path[256];
  char buf[FSZ];
} lane_t;

static const char *dir;
static long N, next_idx, done_files;
static long long total;
static uv_loop_t *loop;
static lane_t lanes[INFLIGHT];

static void start_chain(lane_t *l);
static void on_close(uv_fs_t *r) {
  lane_t *l = r->data;
  UVCHECK(r->result);
  uv_fs_req_cleanup(r);
  done_files++;
  start_chain(l);
}
static void on_read(uv_fs_t *r) {
  lane_t *l = r->data;
  UVCHECK(r->result);
  total += r->result;
  uv_fs_req_cleanup(r);
  UVCHECK(uv_fs_close(loop, &l->req, l->fd, on_close));
}
static void on_open(uv_fs_t *r) {
  lane_t *l = r->data;
  UVCHECK(r->result);
  l->fd = (uv_file)r->result;
  uv_fs_req_cleanup(r);
  uv_buf_t b = uv_buf_init(l->buf, FSZ);
  UVCHECK(uv_fs_read(loop, &l->req, l->fd, &b, 1, 0, on_read));
}
static void start_chain(lane_t *l) {
  if (next_idx >= N)
    return;
  l->idx = next_idx++;
  snprintf(l->path, sizeof l->path, "%s/f%05ld", dir, l->idx);
  l->req.data = l;
  UVCHECK(uv_fs_open(loop, &l->req, l->path, O_RDONLY, 0, on_open));
}

static void work_cb(uv_work_t *w) {
  lane_t *l = w->data;
  int fd = open(l->path, O_RDONLY | O_CLOEXEC);
  l->got = fd < 0 ? -1 : pread(fd, l->buf, FSZ, 0);
  if (fd >= 0)
    close(fd);
}
static void start_work(lane_t *l);
static void after_work(uv_work_t *w, int status) {
  lane_t *l = w->data;
  UVCHECK(status);
  CHECK(l->got >= 0, "read %s", l->path);
  total += l->got;
  done_files++;
  start_work(l);
}
static void start_work(lane_t *l) {
  if (next_idx >= N)
    return;
  l->idx = next_idx++;
  snprintf(l->path, sizeof l->path, "%s/f%05ld", dir, l->idx);
  l->work.data = l;
  UVCHECK(uv_queue_work(loop, &l->work, work_cb, after_work));
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "chain";
  dir = argc > 2 ? argv[2] : "/tmp/peerdata/small";
  N = argc > 3 ? atol(argv[3]) : 20000;
  loop = uv_default_loop();
  int chain = !strcmp(mode, "chain");
  CHECK(chain || !strcmp(mode, "work"), "unknown mode %s", mode);
  double t0 = now_s();
  for (int k = 0; k < INFLIGHT; k++)
    (chain ? start_chain : start_work)(&lanes[k]);
  uv_run(loop, UV_RUN_DEFAULT);
  double t = now_s() - t0;
  CHECK(done_files == N && total == (long long)N * FSZ, "files %ld bytes %lld", done_files, total);
  char name[64];
  snprintf(name, sizeof name, "file_read_small_uv_%s", mode);
  report(name, N, "files", t);
  return 0;
}
