/*
 * tools/awserve/awserve.h — what the parts of awserve share.
 *
 * awserve is an HTTP/1.1 server written on libawait's public API only:
 *
 *   main.c   the command line, one loop per thread (each with its own
 *            SO_REUSEPORT listener on one port), the shared worker pool,
 *            SIGTERM/SIGINT and the graceful drain;
 *   conn.c   one async function per connection: receive, parse with llhttp
 *            (keep-alive, pipelining, chunked bodies), the limits and
 *            deadlines, the routes (/hello, POST /sha256, static files),
 *            sending, the access log;
 *   files.c  the static file side: the URL path to a file under the root
 *            (traversal refused), Content-Type, validators (ETag,
 *            Last-Modified), Range, directory indexes;
 *   util.c   HTTP dates and small string helpers.
 *
 * Threads: each worker (one loop) is touched only by its own thread, except
 * for the fields marked shared (atomics) and the drain post.
 */
#ifndef AWSERVE_H
#define AWSERVE_H

#include <aw.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* The options, read-only once the workers run. */
typedef struct serve_opts {
  const char *host; /* "127.0.0.1" unless --host */
  int port;         /* 0: any free port */
  const char *root; /* --root as given (NULL: no static files) */
  char *root_real;  /* realpath of root, without a trailing '/' */
  size_t root_len;
  unsigned threads;           /* loops (threads) */
  uint64_t max_header;        /* bytes of request line + headers (431 above) */
  uint64_t max_body;          /* request body bytes (413 above) */
  uint64_t header_timeout_ms; /* from a request's first byte to its last header (408) */
  uint64_t keepalive_ms;      /* idle time between requests before closing */
  uint64_t body_timeout_ms;   /* longest silence while a body arrives (408) */
  uint64_t send_timeout_ms;   /* longest a send may take before the connection goes */
  uint64_t drain_ms;          /* graceful shutdown: how long in-flight requests get */
  unsigned max_conns;         /* connections open at once, all threads together */
  int access_log_fd;          /* -1: off */
  bool quiet;
} serve_opts;

extern serve_opts g_opts;
extern atomic_uint g_conns; /* connections open, all workers */

typedef struct conn conn;

/* One loop, its thread, its listener and its connections. */
typedef struct worker {
  aw_loop *L;
  unsigned index;
  aw_val listener; /* the listener object (undefined until bound) */
  int port;        /* bound port */
  conn *conns;     /* the live connections (an intrusive list) */
  unsigned nconns;
  bool draining; /* SIGTERM: no new connections, idle ones closed */
  bool ref_held; /* the loop_ref that keeps the loop running until the drain */
  aw_timer drain_timer;
  char date[40]; /* "Date: ...\r\n" of date_sec, cached per second */
  int64_t date_sec;
  int bind_err; /* startup: 0 or -errno, with bind_msg */
  char bind_msg[256];
} worker;

/* conn.c */
void conn_start(worker *w, int fd);
void conn_drain_all(worker *w); /* closes idle connections, marks the rest to close */
void conn_force_all(worker *w); /* the drain ran out: shut every connection down */
void conn_thread_end(void);     /* frees this thread's cache of request states */

/* files.c: what a request for a static file resolved to. */
enum {
  FILE_OK = 0,   /* fd is open, st filled */
  FILE_DIR,      /* a directory: serve index.html or a listing */
  FILE_REDIRECT, /* a directory without the trailing slash */
};
/* Decodes and checks the URL path (no query): 0 with the relative path in out
 * (no leading '/'), or an HTTP status (400: bad encoding or NUL, 403: "..",
 * 404). */
int files_map_path(const char *url, size_t url_len, char *out, size_t out_cap, bool *trailing);
/* Whether fd (an opened file) lies under the root: 0 yes, 403 no. */
int files_check_beneath(int fd);
const char *files_mime(const char *path);
/* The ETag of st: "\"<size hex>-<mtime ns hex>\"" in out (at least 48 bytes). */
void files_etag(const struct stat *st, char *out, size_t cap);
/* Parses a single "bytes=" range against size: 1 and [*from, *to] inclusive;
 * 0 to ignore (malformed, several ranges: the whole file is sent); -1 if
 * unsatisfiable (416). */
int files_range(const char *spec, uint64_t size, uint64_t *from, uint64_t *to);
/* Appends an HTML escaped copy of s to b. */
int files_html_escape(aw_buf *b, const char *s);
/* Appends a percent-encoded copy of s (for hrefs) to b. */
int files_url_escape(aw_buf *b, const char *s);

/* util.c */
/* "Sun, 06 Nov 1994 08:49:37 GMT" (29 chars + NUL). */
void http_date(int64_t t, char out[32]);
/* Parses an IMF-fixdate; -1 if it is not one. */
int64_t http_date_parse(const char *s);
/* The worker's "Date: ...\r\n" line for now. */
const char *worker_date(worker *w);
int buf_add(aw_buf *b, const void *p, size_t n);
int buf_adds(aw_buf *b, const char *s);
int buf_addf(aw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
