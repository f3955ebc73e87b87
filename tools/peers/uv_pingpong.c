/*
 * tools/peers/uv_pingpong.c — the tcp_pingpong workload of awbench written
 * for plain libuv, to compare against: CONNS client/server pairs on one loop
 * over loopback, each round trip one byte from the client and the same byte
 * echoed back. Prints "tcp_pingpong_uv_cCONNS N roundtrips SECONDS s".
 * usage: uv_pingpong [CONNS=1] [N=200000]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

#define CHECK(c, msg)                                                                              \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      fprintf(stderr, "CHECK FAILED: %s\n", msg);                                                  \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

static uv_loop_t *loop;
static uv_tcp_t server;
static long long left, done, total;
static int conns;
static double t0;
static char byte = 'x';

typedef struct peer {
  uv_tcp_t tcp;
  uv_write_t wr;
  char buf[64];
  int is_client;
} peer;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  (void)sz;
  peer *p = (peer *)h;
  *b = uv_buf_init(p->buf, sizeof p->buf);
}

static void on_close(uv_handle_t *h) { free(h); }

static void send_byte(peer *p);

static void on_written(uv_write_t *w, int status) {
  CHECK(status == 0, "write");
  (void)w;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  peer *p = (peer *)s;
  if (n < 0) {
    uv_close((uv_handle_t *)s, on_close);
    return;
  }
  if (n == 0)
    return;
  if (!p->is_client) { /* echo */
    uv_buf_t out = uv_buf_init(p->buf, (unsigned)n);
    CHECK(uv_write(&p->wr, s, &out, 1, on_written) == 0, "echo");
    return;
  }
  done++;
  if (done == total) {
    printf("tcp_pingpong_uv_c%d %lld roundtrips %.3f s\n", conns, total, now_s() - t0);
    fflush(stdout);
    uv_close((uv_handle_t *)&server, NULL); /* the listener would keep the loop alive */
  }
  if (left > 0)
    send_byte(p);
  else
    uv_close((uv_handle_t *)s, on_close);
}

static void send_byte(peer *p) {
  left--;
  uv_buf_t out = uv_buf_init(&byte, 1);
  CHECK(uv_write(&p->wr, (uv_stream_t *)&p->tcp, &out, 1, on_written) == 0, "send");
}

static void on_connect(uv_connect_t *c, int status) {
  CHECK(status == 0, "connect");
  peer *p = c->data;
  free(c);
  uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
  send_byte(p);
}

static void on_connection(uv_stream_t *s, int status) {
  CHECK(status == 0, "connection");
  peer *p = calloc(1, sizeof *p);
  uv_tcp_init(loop, &p->tcp);
  CHECK(uv_accept(s, (uv_stream_t *)&p->tcp) == 0, "accept");
  uv_tcp_nodelay(&p->tcp, 1);
  uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
}

int main(int argc, char **argv) {
  conns = argc > 1 ? atoi(argv[1]) : 1;
  total = argc > 2 ? atoll(argv[2]) : 200000;
  CHECK(conns >= 1 && total > 0, "usage: uv_pingpong [CONNS] [N]");
  left = total;
  loop = uv_default_loop();
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_init(loop, &server);
  CHECK(uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) == 0, "bind");
  CHECK(uv_listen((uv_stream_t *)&server, 511, on_connection) == 0, "listen");
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &blen);
  t0 = now_s();
  for (int k = 0; k < conns; k++) {
    peer *p = calloc(1, sizeof *p);
    p->is_client = 1;
    uv_tcp_init(loop, &p->tcp);
    uv_tcp_nodelay(&p->tcp, 1);
    uv_connect_t *c = malloc(sizeof *c);
    c->data = p;
    CHECK(uv_tcp_connect(c, &p->tcp, (const struct sockaddr *)&bound, on_connect) == 0, "connect");
  }
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(done == total, "round trips");
  return 0;
}
