/* j. tiny libuv HTTP/1.1 server on 127.0.0.1:PORT answering every request with a fixed
 *    'hello' response (keep-alive; requests are counted by their "\r\n\r\n" terminator,
 *    pipelined requests get one response each). Stops on SIGTERM/SIGINT.
 * usage: uv_http [PORT=39092] */
#include <signal.h>
#include <string.h>
#include <uv.h>
#include "uv_common.h"

static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                           "5\r\nConnection: keep-alive\r\n\r\nhello";
typedef struct {
  uv_tcp_t tcp;
  int match;
} conn_t;
static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigterm_h, sigint_h;
static char rbuf[65536];

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  (void)h;
  (void)sz;
  *b = uv_buf_init(rbuf, sizeof rbuf);
}
static void on_closed(uv_handle_t *h) { free(h); }
static void on_written(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  conn_t *c = (conn_t *)s;
  if (n < 0) {
    uv_close((uv_handle_t *)s, on_closed);
    return;
  }
  int reqs = 0;
  static const char term[] = "\r\n\r\n";
  for (ssize_t i = 0; i < n; i++) {
    char ch = b->base[i];
    if (ch == term[c->match]) {
      if (++c->match == 4) {
        reqs++;
        c->match = 0;
      }
    } else
      c->match = (ch == '\r') ? 1 : 0;
  }
  while (reqs > 0) {
    enum { MAXB = 64 };
    uv_buf_t bufs[MAXB];
    int k = reqs < MAXB ? reqs : MAXB;
    for (int i = 0; i < k; i++)
      bufs[i] = uv_buf_init((char *)RESP, sizeof RESP - 1);
    uv_write_t *w = malloc(sizeof *w);
    if (uv_write(w, s, bufs, k, on_written) < 0) {
      free(w);
      uv_close((uv_handle_t *)s, on_closed);
      return;
    }
    reqs -= k;
  }
}
static void on_conn(uv_stream_t *srv, int status) {
  if (status < 0)
    return;
  conn_t *c = calloc(1, sizeof *c);
  uv_tcp_init(loop, &c->tcp);
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) == 0) {
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  } else
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}
static void close_all(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}
static void on_signal(uv_signal_t *h, int sig) {
  (void)sig;
  uv_walk(h->loop, close_all, NULL);
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 39092;
  loop = uv_default_loop();
  struct sockaddr_in addr;
  UVCHECK(uv_ip4_addr("127.0.0.1", port, &addr));
  UVCHECK(uv_tcp_init(loop, &server));
  UVCHECK(uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0));
  UVCHECK(uv_listen((uv_stream_t *)&server, 1024, on_conn));
  uv_signal_init(loop, &sigterm_h);
  uv_signal_start(&sigterm_h, on_signal, SIGTERM);
  uv_signal_init(loop, &sigint_h);
  uv_signal_start(&sigint_h, on_signal, SIGINT);
  printf("listening %d\n", port);
  fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
