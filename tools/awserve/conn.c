/*
 * tools/awserve/conn.c — one async function per connection.
 *
 * The connection's life (conn_body):
 *
 *   loop:
 *     no input left?  flush the responses built so far (one send for a whole
 *                     pipelined batch), then wait for bytes (conn_recv) with
 *                     the deadline of the state we are in
 *     parse           llhttp over the input, pausing at the end of the
 *                     headers (route, limits) and at the end of each message
 *                     (respond), so a pipelined batch is answered in order
 *     respond         /hello, errors and 304s are appended to the output at
 *                     once; a static file or a /sha256 digest awaits first
 *   close: linger (shut our side, read what the client still sends, up to a
 *          bound) when the client may still be sending, then close.
 *
 * States and their deadlines:
 *   IDLE   between requests: keep-alive timeout (--keepalive-ms), closed
 *          silently; before the first request: the header deadline, silent
 *   HEAD   from the request's first byte (or from the accept) to the end of
 *          its headers: one deadline (--header-timeout-ms) that bytes do not
 *          push back, so a client sending a byte every 500 ms gets a 408
 *   BODY   each wait for body bytes: --body-timeout-ms, then 408
 *   DONE   the message is in; the response is being made
 *
 * Memory: while idle a connection holds its frame (the conn struct, 272
 * bytes: the frame header, the llhttp parser and a few fields) and the
 * library's pending receive (an aw_receiver: no buffer while it waits); the
 * per-request state (struct req: URL, the few headers we read, the hash)
 * goes back to a per-thread cache when the connection turns idle, and no
 * input or output buffer is kept. Measured (RSS delta / connections, 15,000
 * idle connections on one loop): 632 bytes with receivers, 977 with one
 * aw_sock_recv per wait.
 *
 * Drain (SIGTERM): idle connections waiting for a request are shut for
 * reading (their receive ends at once, as an end of stream), busy ones
 * answer with "Connection: close" and go; conn_force_all shuts the rest
 * down when --drain-ms runs out.
 *
 * The library calls sit behind small wrappers (conn_recv, conn_send,
 * conn_close) so that each can follow the API as it grows.
 */
#include "awserve.h"

#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_IDLE, ST_HEAD, ST_BODY, ST_DONE };
enum { R_NONE, R_HELLO, R_SHA, R_STATIC, R_REJECT };
enum { H_NONE = -1, H_INM = 0, H_IMS, H_RANGE, H_IFRANGE, H_EXPECT, H_COUNT };
enum { P_MORE, P_HEADERS, P_COMPLETE, P_ERROR };

#define HDR_VAL_MAX 200          /* longest value kept of the headers we read */
#define RECV_SMALL 4096          /* a receive while waiting for headers */
#define RECV_BODY 65536          /* a receive while a body streams in */
#define HASH_CHUNK 65536         /* body bytes collected before a hash job */
#define OUT_FLUSH 65536          /* responses collected before a send */
#define SMALL_FILE 65536         /* files up to this size are read into the response */
#define LINGER_MS 1000           /* a closing connection reads on for this long at most */
#define LINGER_BYTES (256 << 10) /* ... and this many bytes */
#define REQ_CACHE 64             /* req structs kept per worker for reuse */

/* Per request; not held while the connection is idle. */
typedef struct req {
  struct req *next_free;
  char *url;
  uint32_t url_len, url_cap;
  int8_t cur;        /* the header whose value is being read (H_*), or H_NONE */
  uint8_t field_len; /* of the header name read so far (capped) */
  bool field_done;   /* the name is complete: the next name starts afresh */
  char field[24];
  uint16_t vlen[H_COUNT];
  char val[H_COUNT][HDR_VAL_MAX + 1];
  uint64_t hdr_bytes, body_bytes;
  int route;
  int status;          /* the response's (access log) */
  int err;             /* the status of a refusal found while parsing (431, 413) */
  uint64_t resp_bytes; /* body bytes of the response (access log) */
  uint8_t method, major, minor;
  EVP_MD_CTX *sha;
  aw_buf *body; /* body bytes waiting to be hashed */
  struct {      /* what a hash job gets (the job borrows it) */
    EVP_MD_CTX *ctx;
    const uint8_t *p;
    size_t n;
    bool final;
    unsigned char md[32];
  } job;
  char path[2048]; /* static: the path under the root */
  bool trailing;
  uint8_t hosts;   /* Host header fields seen (RFC 9112 3.2: exactly one in HTTP/1.1) */
  bool value_cut;  /* a span of the current header value ended inside the input */
  bool value_open; /* the current header value has had a span */
  const char *exec_start, *exec_end; /* the input llhttp is running over */
} req;

struct conn {
  aw_frame frame;
  llhttp_t p;
  worker *w;
  conn *prev, *next;
  req *rq;
  aw_receiver *rx;   /* the connection's multishot recv (NULL: one recv per wait) */
  aw_buf *in;        /* input not parsed yet (only while parsing) */
  aw_buf *out;       /* responses not sent yet */
  uint64_t deadline; /* loop time the headers must be in by; 0: none */
  int fd;
  uint32_t in_off;
  uint8_t state;
  bool keep;      /* keep-alive after the response */
  bool served;    /* one request answered */
  bool closing;   /* close once the output is sent */
  bool linger;    /* the client may still be sending: read on before closing */
  bool in_recv;   /* waiting for bytes */
  bool peer_gone; /* EOF or an error: no linger */
  bool counted;   /* holds one of g_conns */
  bool kick;      /* paused at the end of the headers: parse on before receiving */
};

static llhttp_settings_t settings;
static const EVP_MD *sha256_md;

/* ---- wrappers over the library calls ------------------------------------------ */

/* The next bytes. A receiver holds no buffer while it waits, and its timeout ends only the
   wait: bytes that come later are kept for the next call. */
static aw_promise *conn_recv(conn *c, size_t max, uint64_t timeout_ms) {
  aw_io_opts o = {.timeout_ms = timeout_ms};
  if (!c->rx)
    c->rx = aw_receiver_new(c->w->L, c->fd);
  if (c->rx)
    return aw_receiver_next(c->rx, &o);
  return aw_sock_recv(c->w->L, c->fd, max, &o); /* no buffer ring: one recv per wait */
}

static void conn_rx_free(conn *c) {
  if (c->rx)
    aw_receiver_free(c->rx);
  c->rx = NULL;
}

static aw_promise *conn_send(conn *c, aw_buf *b) {
  aw_io_opts o = {.timeout_ms = g_opts.send_timeout_ms};
  return aw_sock_send(c->w->L, c->fd, b, &o);
}

static aw_promise *conn_close(conn *c) {
  int fd = c->fd;
  c->fd = -1;
  conn_rx_free(c);
  return aw_sock_close(c->w->L, fd, NULL);
}

/* ---- per-request state ---------------------------------------------------------- */

typedef struct req_cache {
  req *free;
  unsigned n;
} req_cache;
static _Thread_local req_cache rcache;

/* The per-request fields to their start values (a cached or new req, or between requests). */
static void req_clear(req *r) {
  r->url_len = 0;
  r->cur = H_NONE;
  r->field_len = 0;
  r->field_done = true;
  memset(r->vlen, 0, sizeof r->vlen);
  r->hdr_bytes = r->body_bytes = 0;
  r->route = R_NONE;
  r->status = 0;
  r->err = 0;
  r->resp_bytes = 0;
  r->path[0] = 0;
  r->hosts = 0;
  r->value_cut = r->value_open = false;
}

static req *req_get(void) {
  req *r = rcache.free;
  if (r) {
    rcache.free = r->next_free;
    rcache.n--;
  } else {
    r = calloc(1, sizeof *r);
    if (!r)
      return NULL;
  }
  req_clear(r);
  return r;
}

static void req_end_hash(req *r) {
  if (r->sha) {
    EVP_MD_CTX_free(r->sha);
    r->sha = NULL;
  }
  if (r->body) {
    aw_release(r->body);
    r->body = NULL;
  }
}

static void req_put(req *r) {
  req_end_hash(r);
  if (rcache.n < REQ_CACHE && r->url_cap <= 4096) {
    r->next_free = rcache.free;
    rcache.free = r;
    rcache.n++;
    return;
  }
  free(r->url);
  free(r);
}

void conn_thread_end(void) {
  while (rcache.free) {
    req *r = rcache.free;
    rcache.free = r->next_free;
    free(r->url);
    free(r);
  }
  rcache.n = 0;
}

/* Between two requests of one connection. */
static void req_reset(req *r) {
  req_end_hash(r);
  req_clear(r);
}

/* ---- llhttp callbacks ---------------------------------------------------------------- */

static int on_message_begin(llhttp_t *p) {
  conn *c = p->data;
  c->state = ST_HEAD;
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  req *r = ((conn *)p->data)->rq;
  if (r->url_len + n > g_opts.max_header) {
    r->err = 431;
    return HPE_USER;
  }
  if (r->url_len + n + 1 > r->url_cap) {
    uint32_t cap = r->url_cap ? r->url_cap : 256;
    while (cap < r->url_len + n + 1)
      cap *= 2;
    char *u = realloc(r->url, cap);
    if (!u) {
      r->err = 500;
      return HPE_USER;
    }
    r->url = u;
    r->url_cap = cap;
  }
  memcpy(r->url + r->url_len, at, n);
  r->url_len += (uint32_t)n;
  r->url[r->url_len] = 0;
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  req *r = ((conn *)p->data)->rq;
  if (r->field_done) {
    r->field_len = 0;
    r->field_done = false;
    r->cur = H_NONE;
  }
  /* Names longer than any we look at are kept only as "too long". */
  if ((size_t)r->field_len + n < sizeof r->field) {
    memcpy(r->field + r->field_len, at, n);
    r->field_len += (uint8_t)n;
  } else {
    r->field_len = sizeof r->field - 1;
    r->field[0] = 0;
  }
  return 0;
}

static int on_header_field_complete(llhttp_t *p) {
  req *r = ((conn *)p->data)->rq;
  static const char *const names[H_COUNT] = {"if-none-match", "if-modified-since", "range",
                                             "if-range", "expect"};
  r->field_done = true;
  r->cur = H_NONE;
  for (int i = 0; i < H_COUNT; i++)
    if (strlen(names[i]) == r->field_len && strncasecmp(r->field, names[i], r->field_len) == 0)
      r->cur = (int8_t)i;
  if (r->cur != H_NONE)
    r->vlen[r->cur] = 0; /* the last one counts */
  else if (r->field_len == 4 && strncasecmp(r->field, "host", 4) == 0 && r->hosts < UINT8_MAX)
    r->hosts++;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  req *r = ((conn *)p->data)->rq;
  /*
   * obs-fold (a value continued on the next line): llhttp 8 accepts it even in strict mode and
   * hands the value over in two spans, the first ending before the end of the input it was
   * given, or the second starting after its start (a span cut by the end of the input and
   * continued at the start of the next is only a short read). RFC 9112 5.2 lets a
   * server refuse it with 400, and we do: a proxy that unfolds differently is a smuggling
   * vector.
   */
  if (r->value_cut || (r->value_open && at != r->exec_start)) {
    r->err = 400;
    return HPE_USER;
  }
  r->value_cut = at + n < r->exec_end;
  r->value_open = true;
  if (r->cur == H_NONE)
    return 0;
  size_t have = r->vlen[r->cur];
  if (have + n > HDR_VAL_MAX) {
    n = have < HDR_VAL_MAX ? HDR_VAL_MAX - have : 0;
    r->vlen[r->cur] = HDR_VAL_MAX + 1; /* marked too long: ignored */
    return 0;
  }
  memcpy(r->val[r->cur] + have, at, n);
  r->vlen[r->cur] = (uint16_t)(have + n);
  r->val[r->cur][have + n] = 0;
  return 0;
}

static int on_header_value_complete(llhttp_t *p) {
  req *r = ((conn *)p->data)->rq;
  r->value_cut = r->value_open = false;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  conn *c = p->data;
  req *r = c->rq;
  /*
   * What llhttp lets through and a server must refuse (each a smuggling vector when a proxy
   * reads the request differently): Host missing in HTTP/1.1 or repeated (RFC 9112 3.2), and
   * Transfer-Encoding in an HTTP/1.0 request, whose framing is then faulty (RFC 9112 6.1).
   */
  if (r->hosts > 1 || (r->hosts == 0 && p->http_major == 1 && p->http_minor >= 1) ||
      (p->http_major == 1 && p->http_minor == 0 && (p->flags & F_TRANSFER_ENCODING))) {
    r->err = 400;
    return HPE_USER;
  }
  c->state = ST_BODY;
  return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  conn *c = p->data;
  req *r = c->rq;
  r->body_bytes += n;
  if (r->body_bytes > g_opts.max_body) {
    r->err = 413;
    return HPE_USER;
  }
  if (r->route == R_SHA && r->body && buf_add(r->body, at, n) < 0) {
    r->err = 500;
    return HPE_USER;
  }
  return 0;
}

/* A chunk's size is known before its bytes: refuse at once what would pass the limit. */
static int on_chunk_header(llhttp_t *p) {
  req *r = ((conn *)p->data)->rq;
  if (p->content_length > g_opts.max_body - r->body_bytes) {
    r->err = 413;
    return HPE_USER;
  }
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  conn *c = p->data;
  c->state = ST_DONE;
  c->keep = llhttp_should_keep_alive(p);
  return HPE_PAUSED;
}

/* Runs llhttp over the input until it needs more, or pauses at a boundary. */
static int conn_parse(conn *c) {
  req *r = c->rq;
  /* No input is fine: after a pause at the end of the headers, llhttp gets to the end of a
     message without a body only when called again. */
  const char *data = c->in ? (const char *)c->in->data + c->in_off : "";
  size_t n = c->in ? c->in->len - c->in_off : 0;
  bool in_head = c->state <= ST_HEAD;
  r->exec_start = data;
  r->exec_end = data + n;
  llhttp_errno_t e = llhttp_execute(&c->p, data, n);
  size_t used = e == HPE_OK ? n : (size_t)(llhttp_get_error_pos(&c->p) - data);
  c->in_off += (uint32_t)used;
  if (c->in && c->in_off >= c->in->len) {
    aw_release(c->in);
    c->in = NULL;
  }
  if (in_head) {
    r->hdr_bytes += used;
    if (r->hdr_bytes > g_opts.max_header && (c->state <= ST_HEAD || e == HPE_PAUSED)) {
      r->err = 431;
      return P_ERROR;
    }
  }
  switch (e) {
  case HPE_OK:
    return P_MORE;
  case HPE_PAUSED:
    llhttp_resume(&c->p);
    return c->state == ST_DONE ? P_COMPLETE : P_HEADERS;
  case HPE_PAUSED_UPGRADE: /* CONNECT or Upgrade: answered, then closed */
    c->keep = false;
    c->state = ST_DONE;
    return P_COMPLETE;
  case HPE_USER:
    return P_ERROR;
  default: /* llhttp's errors, and a callback's refusal it reports as its own */
    if (!r->err)
      r->err = 400;
    return P_ERROR;
  }
}

/* ---- responses -------------------------------------------------------------------------- */

static const char *reason(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 200:
    return "OK";
  case 206:
    return "Partial Content";
  case 301:
    return "Moved Permanently";
  case 304:
    return "Not Modified";
  case 400:
    return "Bad Request";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 413:
    return "Content Too Large";
  case 416:
    return "Range Not Satisfiable";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 503:
    return "Service Unavailable";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Unknown";
  }
}

static int out_ready(conn *c, size_t need) {
  if (!c->out) {
    c->out = aw_buf_new(need > 512 ? need : 512);
    if (!c->out)
      return -ENOMEM;
  }
  return 0;
}

/* The status line and the common headers; extra: more header lines (each "...\r\n"). */
static int resp_head(conn *c, int status, const char *ctype, int64_t clen, const char *extra) {
  if (out_ready(c, 256) < 0)
    return -ENOMEM;
  if (c->w->draining)
    c->keep = false;
  aw_buf *b = c->out;
  bool http10 = c->p.http_major == 1 && c->p.http_minor == 0;
  int rc = buf_addf(b, "HTTP/1.1 %d %s\r\nServer: awserve\r\n%s", status, reason(status),
                    worker_date(c->w));
  if (rc == 0 && ctype)
    rc = buf_addf(b, "Content-Type: %s\r\n", ctype);
  if (rc == 0 && clen >= 0)
    rc = buf_addf(b, "Content-Length: %lld\r\n", (long long)clen);
  if (rc == 0 && !c->keep)
    rc = buf_adds(b, "Connection: close\r\n");
  else if (rc == 0 && http10)
    rc = buf_adds(b, "Connection: keep-alive\r\n");
  if (rc == 0 && extra)
    rc = buf_adds(b, extra);
  if (rc == 0)
    rc = buf_add(b, "\r\n", 2);
  if (c->rq)
    c->rq->status = status;
  return rc;
}

static bool is_head(conn *c) { return c->rq && c->rq->method == HTTP_HEAD; }

/* A short text response: "<status> <reason>\n". */
static int resp_simple(conn *c, int status, const char *extra) {
  char body[96];
  int n = snprintf(body, sizeof body, "%d %s\n", status, reason(status));
  int rc = resp_head(c, status, "text/plain; charset=utf-8", n, extra);
  if (rc == 0 && !is_head(c)) {
    rc = buf_add(c->out, body, (size_t)n);
    if (c->rq)
      c->rq->resp_bytes = (uint64_t)n;
  }
  return rc;
}

/* An error found before or while reading the request: answered, then the connection goes. */
static int resp_error(conn *c, int status) {
  c->keep = false;
  c->closing = true;
  c->linger = true;
  return resp_simple(c, status, NULL);
}

static int resp_hello(conn *c) {
  static const char tail[] = "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
  static const char head[] = "HTTP/1.1 200 OK\r\nServer: awserve\r\n";
  if (!c->keep || (c->p.http_major == 1 && c->p.http_minor == 0) || c->w->draining) {
    int rc = resp_head(c, 200, "text/plain", 5, NULL);
    if (rc == 0 && !is_head(c))
      rc = buf_add(c->out, "hello", 5);
    c->rq->resp_bytes = is_head(c) ? 0 : 5;
    return rc;
  }
  /* The benchmark path: three copies into the batch's buffer. */
  if (out_ready(c, 256) < 0)
    return -ENOMEM;
  const char *date = worker_date(c->w);
  size_t dl = strlen(date);
  size_t tl = sizeof tail - 1 - (is_head(c) ? 5 : 0);
  aw_buf *b = c->out;
  if (b->len + sizeof head + dl + tl > b->cap && aw_buf_reserve(b, 2 * (b->cap + 256)) < 0)
    return -ENOMEM;
  memcpy(b->data + b->len, head, sizeof head - 1);
  b->len += sizeof head - 1;
  memcpy(b->data + b->len, date, dl);
  b->len += dl;
  memcpy(b->data + b->len, tail, tl);
  b->len += tl;
  c->rq->status = 200;
  c->rq->resp_bytes = is_head(c) ? 0 : 5;
  return 0;
}

/* ---- access log (common log format) ------------------------------------------------------- */

static void access_log(conn *c) {
  if (g_opts.access_log_fd < 0 || !c->rq)
    return;
  req *r = c->rq;
  char host[64] = "-";
  if (c->fd >= 0 && aw_sock_peer(c->fd, host, sizeof host) == 0) {
    /* "1.2.3.4:5678" / "[::1]:5678": the log wants the address only */
    char *colon = strrchr(host, ':');
    if (colon)
      *colon = 0;
    if (host[0] == '[') {
      size_t hl = strlen(host);
      memmove(host, host + 1, hl);
      if (hl >= 2 && host[hl - 2] == ']')
        host[hl - 2] = 0;
    }
  }
  char when[40];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
  char line[1024];
  /* The URL is written as it came, cut at 700 bytes; quotes and control bytes escaped. */
  char url[720];
  size_t u = 0;
  for (uint32_t i = 0; i < r->url_len && u + 5 < 700; i++) {
    unsigned char ch = (unsigned char)r->url[i];
    if (ch < 0x20 || ch == '"' || ch == '\\' || ch >= 0x7f)
      u += (size_t)snprintf(url + u, sizeof url - u, "\\x%02x", ch);
    else
      url[u++] = (char)ch;
  }
  url[u] = 0;
  int n = snprintf(line, sizeof line, "%s - - [%s] \"%s %s HTTP/%d.%d\" %d %llu\n", host, when,
                   llhttp_method_name((llhttp_method_t)c->p.method), url, c->p.http_major,
                   c->p.http_minor, r->status, (unsigned long long)r->resp_bytes);
  if (n > 0) {
    ssize_t wr =
        write(g_opts.access_log_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line);
    (void)wr; /* a log that cannot be written does not stop the server */
  }
}

/* ---- /sha256: hashing on the worker pool ---------------------------------------------------- */

static aw_val sha_job(aw_job *job, void *arg) {
  req *r = arg;
  (void)job;
  if (r->job.n && EVP_DigestUpdate(r->job.ctx, r->job.p, r->job.n) != 1)
    return aw_throw(aw_err("Error", "sha256: EVP_DigestUpdate failed"));
  if (r->job.final) {
    unsigned len = 0;
    if (EVP_DigestFinal_ex(r->job.ctx, r->job.md, &len) != 1)
      return aw_throw(aw_err("Error", "sha256: EVP_DigestFinal_ex failed"));
  }
  return aw_undefined();
}

static aw_promise *sha_submit(conn *c, bool final) {
  req *r = c->rq;
  r->job.ctx = r->sha;
  r->job.p = r->body->data;
  r->job.n = r->body->len;
  r->job.final = final;
  return aw_work(c->w->L, sha_job, r, NULL);
}

/* ---- routing -----------------------------------------------------------------------------------
 */

static bool url_is(const req *r, const char *path) {
  size_t n = strlen(path);
  return r->url_len >= n && memcmp(r->url, path, n) == 0 && (r->url_len == n || r->url[n] == '?');
}

/* At the end of the headers: which route, and the refusals that need no body. 0 or an error status.
 */
static int route(conn *c) {
  req *r = c->rq;
  r->method = (uint8_t)c->p.method;
  r->major = c->p.http_major;
  r->minor = c->p.http_minor;
  c->deadline = 0;
  if (r->major != 1)
    return 505;
  if (c->p.content_length != UINT64_MAX && (c->p.flags & F_CONTENT_LENGTH) &&
      c->p.content_length > g_opts.max_body)
    return 413;
  bool get = r->method == HTTP_GET || r->method == HTTP_HEAD;
  if (url_is(r, "/hello")) {
    r->route = get ? R_HELLO : R_REJECT;
  } else if (url_is(r, "/sha256")) {
    r->route = r->method == HTTP_POST ? R_SHA : R_REJECT;
  } else {
    r->route = get ? R_STATIC : R_REJECT;
  }
  if (r->route == R_SHA) {
    r->sha = EVP_MD_CTX_new();
    r->body = aw_buf_new(HASH_CHUNK + RECV_BODY);
    if (!r->sha || !r->body || EVP_DigestInit_ex(r->sha, sha256_md, NULL) != 1)
      return 500;
    if (r->vlen[H_EXPECT] && strcasecmp(r->val[H_EXPECT], "100-continue") == 0 &&
        (out_ready(c, 64) < 0 || buf_adds(c->out, "HTTP/1.1 100 Continue\r\n\r\n") < 0))
      return 500;
  }
  return 0;
}

/* ---- static files
 * --------------------------------------------------------------------------------- */

typedef struct serve_static {
  aw_frame frame;
  conn *c;
  int ffd;
  struct stat st;
  uint64_t from, len, sent;
  int status;
  bool index_try; /* looking for index.html in a directory */
  size_t dir_len; /* of the directory's path, while index_try */
  aw_array *names;
} serve_static;

static void serve_static_dispose(aw_frame *self) {
  serve_static *f = (serve_static *)self;
  if (f->ffd >= 0)
    close(f->ffd);
  if (f->names)
    aw_release(f->names);
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The HTML index of the directory in f->names. */
static int listing(conn *c, serve_static *f) {
  req *r = c->rq;
  aw_buf *b = aw_buf_new(1024);
  if (!b)
    return -ENOMEM;
  size_t n = aw_array_len(f->names);
  const char **v = calloc(n + 1, sizeof *v);
  int rc = v ? 0 : -ENOMEM;
  size_t k = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const char *s = aw_cstr(aw_array_get(f->names, i));
    if (s)
      v[k++] = s;
  }
  if (rc == 0)
    qsort(v, k, sizeof *v, name_cmp);
  char shown[2100];
  snprintf(shown, sizeof shown, "/%s%s", r->path, r->path[0] ? "/" : "");
  if (rc == 0)
    rc = buf_adds(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
  if (rc == 0)
    rc = files_html_escape(b, shown);
  if (rc == 0)
    rc = buf_adds(b, "</title></head>\n<body><h1>Index of ");
  if (rc == 0)
    rc = files_html_escape(b, shown);
  if (rc == 0)
    rc = buf_adds(b, "</h1>\n<ul>\n");
  if (rc == 0 && r->path[0])
    rc = buf_adds(b, "<li><a href=\"../\">../</a></li>\n");
  for (size_t i = 0; rc == 0 && i < k; i++) {
    rc = buf_adds(b, "<li><a href=\"");
    if (rc == 0)
      rc = files_url_escape(b, v[i]);
    if (rc == 0)
      rc = buf_adds(b, "\">");
    if (rc == 0)
      rc = files_html_escape(b, v[i]);
    if (rc == 0)
      rc = buf_adds(b, "</a></li>\n");
  }
  if (rc == 0)
    rc = buf_adds(b, "</ul>\n</body></html>\n");
  free(v);
  if (rc == 0)
    rc = resp_head(c, 200, "text/html; charset=utf-8", (int64_t)b->len, NULL);
  if (rc == 0 && !is_head(c)) {
    rc = buf_add(c->out, b->data, b->len);
    r->resp_bytes = b->len;
  }
  aw_release(b);
  return rc;
}

/* The status, validators and range of a regular file; 0 with f->status set. */
static int file_head(conn *c, serve_static *f) {
  req *r = c->rq;
  char etag[64], lm[32], extra[256];
  files_etag(&f->st, etag, sizeof etag);
  http_date((int64_t)f->st.st_mtim.tv_sec, lm);
  uint64_t size = (uint64_t)f->st.st_size;
  bool not_modified = false;
  if (r->vlen[H_INM] && r->vlen[H_INM] <= HDR_VAL_MAX) {
    const char *v = r->val[H_INM];
    not_modified = strcmp(v, "*") == 0 || strstr(v, etag) != NULL;
  } else if (r->vlen[H_IMS] && r->vlen[H_IMS] <= HDR_VAL_MAX) {
    int64_t t = http_date_parse(r->val[H_IMS]);
    not_modified = t >= 0 && (int64_t)f->st.st_mtim.tv_sec <= t;
  }
  if (not_modified) {
    snprintf(extra, sizeof extra, "ETag: %s\r\nLast-Modified: %s\r\n", etag, lm);
    f->status = 304;
    f->len = 0;
    return resp_head(c, 304, NULL, -1, extra);
  }
  f->status = 200;
  f->from = 0;
  f->len = size;
  const char *ctype = files_mime(r->path);
  bool use_range = r->vlen[H_RANGE] && r->vlen[H_RANGE] <= HDR_VAL_MAX;
  if (use_range && r->vlen[H_IFRANGE])
    use_range = r->vlen[H_IFRANGE] <= HDR_VAL_MAX && strcmp(r->val[H_IFRANGE], etag) == 0;
  if (use_range) {
    uint64_t a, b;
    int rr = files_range(r->val[H_RANGE], size, &a, &b);
    if (rr < 0) {
      snprintf(extra, sizeof extra, "Content-Range: bytes */%llu\r\n", (unsigned long long)size);
      f->status = 416;
      f->len = 0;
      return resp_simple(c, 416, extra);
    }
    if (rr > 0) {
      f->status = 206;
      f->from = a;
      f->len = b - a + 1;
      snprintf(extra, sizeof extra,
               "Accept-Ranges: bytes\r\nETag: %s\r\nLast-Modified: %s\r\n"
               "Content-Range: bytes %llu-%llu/%llu\r\n",
               etag, lm, (unsigned long long)a, (unsigned long long)b, (unsigned long long)size);
      return resp_head(c, 206, ctype, (int64_t)f->len, extra);
    }
  }
  snprintf(extra, sizeof extra, "Accept-Ranges: bytes\r\nETag: %s\r\nLast-Modified: %s\r\n", etag,
           lm);
  return resp_head(c, 200, ctype, (int64_t)f->len, extra);
}

/* The file body from f->from, f->len bytes, after the head already in c->out. */
static void serve_static_body(aw_loop *L, aw_frame *self) {
  serve_static *f = (serve_static *)self;
  conn *c = f->c;
  req *r = c->rq;
  aw_val v;
  AW_BEGIN(self);
  {
    char full[4200];
    snprintf(full, sizeof full, "%s/%s", g_opts.root_real, r->path);
    AW_AWAIT_SETTLED(v, aw_fs_open(L, full, O_RDONLY | O_CLOEXEC, 0, NULL));
  }
open_done:
  if (aw_is_thrown(v)) {
    aw_error *e = aw_as_error(v);
    int en = e ? e->errnum : 0;
    aw_release_val(v);
    if (f->index_try && en == ENOENT) {
      /* No index.html: list the directory. */
      f->index_try = false;
      r->path[f->dir_len] = 0;
      {
        char full[4200];
        snprintf(full, sizeof full, "%s/%s", g_opts.root_real, r->path);
        AW_AWAIT_SETTLED(v, aw_fs_readdir(L, full, NULL));
      }
      if (aw_is_thrown(v)) {
        aw_release_val(v);
        AW_RETURN(aw_int(resp_simple(c, 404, NULL)));
      }
      f->names = aw_as_array(v);
      AW_RETURN(aw_int(listing(c, f)));
    }
    /* Out of descriptors is the server's state, not the file's: try again later. */
    int st = en == EACCES ? 403 : en == EMFILE || en == ENFILE ? 503 : 404;
    AW_RETURN(aw_int(resp_simple(c, st, st == 503 ? "Retry-After: 1\r\n" : NULL)));
  }
  f->ffd = (int)v.u.i;
  if (fstat(f->ffd, &f->st) < 0)
    AW_RETURN(aw_int(resp_simple(c, 404, NULL)));
  if (files_check_beneath(f->ffd) != 0)
    AW_RETURN(aw_int(resp_simple(c, 403, NULL)));
  if (S_ISDIR(f->st.st_mode)) {
    close(f->ffd);
    f->ffd = -1;
    if (!r->trailing && r->path[0]) {
      /* "Location: /a/b/\r\n", each segment escaped, the buffer NUL-terminated */
      aw_buf *loc = aw_buf_new(256);
      int rc = loc ? buf_adds(loc, "Location: ") : -ENOMEM;
      for (char *seg = r->path; rc == 0 && seg;) {
        char *slash = strchr(seg, '/');
        if (slash)
          *slash = 0;
        rc = buf_add(loc, "/", 1);
        if (rc == 0)
          rc = files_url_escape(loc, seg);
        if (slash)
          *slash = '/';
        seg = slash ? slash + 1 : NULL;
      }
      if (rc == 0)
        rc = buf_add(loc, "/\r\n", 4);
      if (rc == 0)
        rc = resp_simple(c, 301, (const char *)loc->data);
      if (loc)
        aw_release(loc);
      AW_RETURN(aw_int(rc));
    }
    if (f->index_try)
      AW_RETURN(aw_int(resp_simple(c, 404, NULL))); /* index.html is a directory */
    f->index_try = true;
    {
      size_t pl = strlen(r->path);
      f->dir_len = pl;
      if (pl + 12 >= sizeof r->path)
        AW_RETURN(aw_int(resp_simple(c, 404, NULL)));
      memcpy(r->path + pl, pl ? "/index.html" : "index.html", pl ? 12 : 11);
      char full[4200];
      snprintf(full, sizeof full, "%s/%s", g_opts.root_real, r->path);
      AW_AWAIT_SETTLED(v, aw_fs_open(L, full, O_RDONLY | O_CLOEXEC, 0, NULL));
    }
    goto open_done;
  }
  if (!S_ISREG(f->st.st_mode))
    AW_RETURN(aw_int(resp_simple(c, 403, NULL)));
  {
    int rc = file_head(c, f);
    if (rc < 0 || f->status == 304 || f->status == 416 || is_head(c))
      AW_RETURN(aw_int(rc));
  }
  r->resp_bytes = f->len;
  if (f->len <= SMALL_FILE) {
    /* Small: read straight behind the head, one send for both. */
    if (aw_buf_reserve(c->out, c->out->len + f->len) < 0)
      AW_RETURN(aw_int(-ENOMEM));
    while (f->sent < f->len) {
      AW_AWAIT(v,
               aw_fs_read_into(L, f->ffd, aw_retain(c->out), (int64_t)(f->from + f->sent), NULL));
      if (v.u.i <= 0)
        AW_THROW(aw_err("Error", "read %s: the file shrank", r->path));
      f->sent += (uint64_t)v.u.i;
    }
    AW_RETURN(aw_int(0));
  }
  /* Large: the head first, then the file (spliced: the bytes never come to user space). */
  {
    aw_buf *head = c->out;
    c->out = NULL;
    AW_AWAIT_IGNORE(conn_send(c, head));
  }
#ifdef AWSERVE_HAVE_AW_SOCK_SENDFILE
  {
    aw_io_opts o = {.timeout_ms = g_opts.send_timeout_ms};
    AW_AWAIT(v, aw_sock_sendfile(L, c->fd, f->ffd, (int64_t)f->from, f->len, &o));
  }
  if ((uint64_t)v.u.i != f->len)
    AW_THROW(aw_err("Error", "read %s: the file shrank", r->path));
  f->sent = f->len;
#endif
  while (f->sent < f->len) {
    {
      uint64_t left = f->len - f->sent;
      AW_AWAIT(v, aw_fs_read(L, f->ffd, left < (1 << 17) ? (size_t)left : (1 << 17),
                             (int64_t)(f->from + f->sent), NULL));
    }
    {
      aw_buf *chunk = (aw_buf *)v.u.o;
      if (chunk->len == 0) {
        aw_release(chunk);
        AW_THROW(aw_err("Error", "read %s: the file shrank", r->path));
      }
      f->sent += chunk->len;
      AW_AWAIT_IGNORE(conn_send(c, chunk));
    }
  }
  AW_RETURN(aw_int(0));
  AW_END;
}

static aw_promise *serve_static_start(conn *c) {
  AW_ASYNC_NEW_DISPOSE(c->w->L, serve_static, serve_static_body, serve_static_dispose, f);
  f->c = c;
  f->ffd = -1;
  return aw_async_start(&f->frame);
}

/* ---- the connection
 * -------------------------------------------------------------------------------- */

static uint64_t recv_timeout(conn *c) {
  if (c->state == ST_BODY || c->state == ST_DONE)
    return g_opts.body_timeout_ms;
  bool partial = c->state == ST_HEAD || (c->rq && c->rq->hdr_bytes);
  if (partial || c->deadline) {
    uint64_t now = aw_loop_now(c->w->L);
    /* The header deadline starts with the request's first bytes; it is set only when they
       did not bring the whole head, so a request that comes in one piece reads no clock. */
    if (!c->deadline)
      c->deadline = now + g_opts.header_timeout_ms;
    return c->deadline > now ? c->deadline - now : 0;
  }
  return g_opts.keepalive_ms;
}

static bool is_timeout(aw_val err) {
  aw_error *e = aw_as_error(err);
  return e && (strcmp(e->name, "TimeoutError") == 0 || e->errnum == ETIMEDOUT);
}

static void conn_body(aw_loop *L, aw_frame *self) {
  conn *c = (conn *)self;
  aw_val v, err;
  AW_BEGIN(self);
  for (;;) {
    if (!c->in && !c->kick) {
      if (c->out && c->out->len) {
        aw_buf *b = c->out;
        c->out = NULL;
        AW_AWAIT_CATCH(v, conn_send(c, b), err, send_failed);
      }
      if (c->closing)
        break;
      if (c->state == ST_IDLE && c->rq && !c->rq->hdr_bytes) {
        req_put(c->rq);
        c->rq = NULL;
      }
      if (c->state == ST_IDLE && c->w->draining)
        break;
      {
        uint64_t t = recv_timeout(c);
        if (t == 0)
          goto timed_out;
        c->in_recv = true;
        AW_AWAIT_CATCH(v, conn_recv(c, c->state >= ST_BODY ? RECV_BODY : RECV_SMALL, t), err,
                       recv_failed);
        c->in_recv = false;
      }
      {
        aw_buf *b = (aw_buf *)v.u.o;
        if (b->len == 0) {
          aw_release(b);
          c->peer_gone = true;
          break; /* end of stream: a half request gets no answer */
        }
        c->in = b;
        c->in_off = 0;
      }
    }
    c->kick = false;
    if (!c->rq && !(c->rq = req_get())) {
      c->closing = true;
      break;
    }
    switch (conn_parse(c)) {
    case P_MORE:
      if (c->rq->route == R_SHA && c->rq->body->len >= HASH_CHUNK) {
        AW_AWAIT_CATCH(v, sha_submit(c, false), err, internal_error);
        c->rq->body->len = 0;
      }
      continue;
    case P_HEADERS: {
      int st = route(c);
      if (st) {
        if (resp_error(c, st) < 0)
          goto internal_error_nomsg;
        goto closing;
      }
      c->kick = true;
      continue;
    }
    case P_ERROR:
      if (resp_error(c, c->rq->err ? c->rq->err : 400) < 0)
        goto internal_error_nomsg;
      access_log(c);
      goto closing;
    case P_COMPLETE:
      break;
    }
    /* A whole request: answer it. */
    switch (c->rq->route) {
    case R_HELLO:
      if (resp_hello(c) < 0)
        goto internal_error_nomsg;
      break;
    case R_SHA: {
      AW_AWAIT_CATCH(v, sha_submit(c, true), err, internal_error);
      char hex[66];
      for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", c->rq->job.md[i]);
      hex[64] = '\n';
      hex[65] = 0;
      if (resp_head(c, 200, "text/plain", 65, NULL) < 0 || buf_add(c->out, hex, 65) < 0)
        goto internal_error_nomsg;
      c->rq->resp_bytes = 65;
      break;
    }
    case R_STATIC:
      if (!g_opts.root_real) {
        if (resp_simple(c, 404, NULL) < 0)
          goto internal_error_nomsg;
        break;
      }
      {
        int st = files_map_path(c->rq->url, c->rq->url_len, c->rq->path, sizeof c->rq->path,
                                &c->rq->trailing);
        if (st) {
          if (resp_simple(c, st, NULL) < 0)
            goto internal_error_nomsg;
          break;
        }
      }
      /* The batch so far goes first, so that a large file streams after it. */
      AW_AWAIT_CATCH(v, serve_static_start(c), err, static_failed);
      if (v.u.i < 0)
        goto internal_error_nomsg;
      break;
    default: {
      const char *allow = url_is(c->rq, "/sha256") ? "Allow: POST\r\n" : "Allow: GET, HEAD\r\n";
      if (resp_simple(c, 405, allow) < 0)
        goto internal_error_nomsg;
      break;
    }
    }
    access_log(c);
    c->served = true;
    c->state = ST_IDLE;
    c->deadline = 0;
    req_reset(c->rq);
    if (!c->keep || c->w->draining) {
      c->closing = true;
      c->linger = c->in != NULL; /* pipelined requests we will not answer */
      goto closing;
    }
    if (c->out && c->out->len >= OUT_FLUSH) {
      aw_buf *b = c->out;
      c->out = NULL;
      AW_AWAIT_CATCH(v, conn_send(c, b), err, send_failed);
    }
    continue;

  closing:
    if (c->in) {
      aw_release(c->in);
      c->in = NULL;
    }
    continue; /* flushes, then leaves the loop */

  timed_out:
    if (c->state == ST_HEAD || c->state == ST_BODY ||
        (c->state == ST_IDLE && c->rq && c->rq->hdr_bytes)) {
      if (resp_error(c, 408) < 0)
        break;
      access_log(c);
    } else {
      break; /* idle: closed without a word */
    }
    continue;

  recv_failed:
    c->in_recv = false;
    if (is_timeout(err)) {
      aw_release_val(err);
      goto timed_out;
    }
    aw_release_val(err);
    c->peer_gone = true;
    break;

  send_failed:
    aw_release_val(err);
    c->peer_gone = true;
    break;

  static_failed:
    /* The response may be half sent: only closing tells the client. */
    if (!g_opts.quiet && !c->peer_gone) {
      aw_error *e = aw_as_error(err);
      if (e && e->errnum != EPIPE && e->errnum != ECONNRESET)
        fprintf(stderr, "awserve: %s\n", e->message->data);
    }
    aw_release_val(err);
    c->peer_gone = true;
    break;

  internal_error:
    aw_release_val(err);
  internal_error_nomsg:
    if (c->out) {
      aw_release(c->out);
      c->out = NULL;
    }
    c->keep = false;
    resp_error(c, 500);
    c->closing = true;
    continue;
  }
  /* Closing: linger if the client may still be sending, so that our answer is not lost to a
     reset (a close with unread bytes sends RST). */
  if (c->linger && !c->peer_gone && c->fd >= 0) {
    AW_AWAIT_SETTLED(v, aw_sock_shutdown(L, c->fd, SHUT_WR, NULL));
    aw_release_val(v);
    c->in_off = 0;                            /* bytes drained */
    c->deadline = aw_loop_now(L) + LINGER_MS; /* in all: a trickling client does not extend it */
    for (;;) {
      {
        uint64_t now = aw_loop_now(L);
        if (now >= c->deadline)
          break;
        AW_AWAIT_SETTLED(v, conn_recv(c, RECV_SMALL, c->deadline - now));
      }
      if (aw_is_thrown(v) || !aw_is_obj(v) || ((aw_buf *)v.u.o)->len == 0) {
        aw_release_val(v);
        break;
      }
      c->in_off += (uint32_t)((aw_buf *)v.u.o)->len;
      aw_release_val(v);
      if (c->in_off > LINGER_BYTES)
        break;
    }
  }
  if (c->fd >= 0) {
    AW_AWAIT_SETTLED(v, conn_close(c));
    aw_release_val(v);
  }
  AW_END;
}

static void conn_dispose(aw_frame *self) {
  conn *c = (conn *)self;
  worker *w = c->w;
  if (c->prev)
    c->prev->next = c->next;
  else if (w->conns == c)
    w->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
  w->nconns--;
  conn_rx_free(c);
  if (c->fd >= 0)
    close(c->fd);
  if (c->in)
    aw_release(c->in);
  if (c->out)
    aw_release(c->out);
  if (c->rq)
    req_put(c->rq);
  if (c->counted)
    atomic_fetch_sub(&g_conns, 1);
}

static aw_val conn_failed(aw_loop *L, aw_val reason, void *arg) {
  /* A bug, not a client's doing: say it and keep serving the others. */
  (void)L;
  (void)arg;
  fprintf(stderr, "awserve: connection failed: ");
  aw_error_print(reason, stderr);
  return aw_undefined();
}

static void settings_init(void) {
  llhttp_settings_init(&settings);
  settings.on_message_begin = on_message_begin;
  settings.on_url = on_url;
  settings.on_header_field = on_header_field;
  settings.on_header_field_complete = on_header_field_complete;
  settings.on_header_value_complete = on_header_value_complete;
  settings.on_header_value = on_header_value;
  settings.on_headers_complete = on_headers_complete;
  settings.on_body = on_body;
  settings.on_chunk_header = on_chunk_header;
  settings.on_message_complete = on_message_complete;
  sha256_md = EVP_sha256();
}

void conn_start(worker *w, int fd) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, settings_init);
  AW_ASYNC_NEW_DISPOSE(w->L, conn, conn_body, conn_dispose, c);
  c->w = w;
  c->fd = fd;
  c->counted = true;
  llhttp_init(&c->p, HTTP_REQUEST, &settings);
  c->p.data = c;
  c->deadline = aw_loop_now(w->L) + g_opts.header_timeout_ms;
  c->next = w->conns;
  if (w->conns)
    w->conns->prev = c;
  w->conns = c;
  w->nconns++;
  /* Detached with its own error boundary: one connection's failure never stops the loop. */
  aw_async_spawn(&c->frame, conn_failed, NULL);
}

void conn_drain_all(worker *w) {
  for (conn *c = w->conns; c; c = c->next)
    if (c->in_recv && c->state == ST_IDLE && c->fd >= 0)
      shutdown(c->fd, SHUT_RD); /* the pending receive ends as an end of stream */
}

void conn_force_all(worker *w) {
  for (conn *c = w->conns; c; c = c->next)
    if (c->fd >= 0)
      shutdown(c->fd, SHUT_RDWR);
}
