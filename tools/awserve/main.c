/*
 * tools/awserve/main.c — the command line, the loops, the drain.
 *
 * Threads: one loop per thread (--threads, default the online CPUs), each
 * with its own SO_REUSEPORT listener on the same port, so the kernel spreads
 * new connections over the loops (by a hash of the 4-tuple). Worker 0 binds
 * first; with --port 0 the others then bind the port it got. All loops share
 * the process's worker pool (aw_pool_default), where /sha256 hashes.
 *
 * Startup: the main thread starts the workers, waits until every listener is
 * bound, then prints "awserve: listening on http://HOST:PORT" as the first
 * line on stdout (and flushes it): from then on connections are accepted.
 *
 * Signals: each loop registers for SIGTERM and SIGINT (aw_loop_on_signal),
 * so the drain runs as a macrotask on each loop's own thread: the listener
 * closes, idle connections close, requests in flight are answered (with
 * "Connection: close"); after --drain-ms the rest are shut down. A second signal shuts everything
 * down at once. Each loop then runs out of work, its thread frees it, and awserve exits 0.
 */
#include "awserve.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <fcntl.h>
#include <netdb.h>
#include <unistd.h>

serve_opts g_opts = {
    .host = "127.0.0.1",
    .port = 8080,
    .max_header = 8192,
    .max_body = 64ull << 20,
    .header_timeout_ms = 10000,
    .keepalive_ms = 5000,
    .body_timeout_ms = 10000,
    .send_timeout_ms = 30000,
    .drain_ms = 5000,
    .max_conns = 100000,
    .access_log_fd = -1,
};
atomic_uint g_conns;

static worker *workers;
static pthread_t *tids;
static bool *created;
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;
static unsigned started, failed;

static void usage(FILE *f) {
  fputs("usage: awserve [--host ADDR] [--port N] [--root DIR] [--threads N] [OPTIONS]\n"
        "\n"
        "An HTTP/1.1 server on libawait: keep-alive, pipelining, static files, /hello,\n"
        "POST /sha256 (the SHA-256 of the request body, hashed on the worker pool).\n"
        "\n"
        "  --host ADDR              address to listen on (default 127.0.0.1; \"::\", \"0.0.0.0\")\n"
        "  --port N                 port (default 8080; 0: any free port)\n"
        "  --root DIR               serve the files under DIR (default: none, 404)\n"
        "  --threads N              loops, one per thread (default: online CPUs)\n"
        "  --max-header-bytes N     request line + headers at most (default 8192; 431)\n"
        "  --max-body-bytes N       request body at most (default 67108864; 413)\n"
        "  --header-timeout-ms N    time for a request's headers (default 10000; 408)\n"
        "  --keepalive-ms N         idle time between requests (default 5000)\n"
        "  --body-timeout-ms N      longest silence while a body arrives (default 10000; 408)\n"
        "  --send-timeout-ms N      longest a response write may take (default 30000)\n"
        "  --max-conns N            open connections at most, all threads (default 100000; 503)\n"
        "  --drain-ms N             on SIGTERM/SIGINT, time to finish requests (default 5000)\n"
        "  --access-log FILE        common log format lines to FILE (\"-\": stdout; default off)\n"
        "  --quiet                  no error messages about single connections\n"
        "  -h, --help               this help\n"
        "\n"
        "First line on stdout once it accepts: \"awserve: listening on http://HOST:PORT\".\n",
        f);
}

static _Noreturn void die_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "awserve: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'awserve --help'.\n");
  exit(2);
}

static uint64_t parse_num(const char *opt, const char *s, uint64_t min, uint64_t max) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s: bad number '%%s' (%llu to %llu)", opt, (unsigned long long)min,
             (unsigned long long)max);
    die_usage(msg, s);
  }
  return v;
}

/* ---- a worker: one loop ---------------------------------------------------------------- */

typedef struct accept_loop {
  aw_frame frame;
  worker *w;
} accept_loop;

static void reject_overload(worker *w, int fd) {
  static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\nServer: awserve\r\n"
                            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 24\r\n"
                            "Connection: close\r\n\r\n503 Service Unavailable\n";
  ssize_t n = send(fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)n; /* best effort: the client is over the limit anyway */
  aw_release(aw_fs_close(w->L, fd, NULL));
}

static void accept_body(aw_loop *L, aw_frame *self) {
  accept_loop *f = (accept_loop *)self;
  worker *w = f->w;
  aw_val v, err;
  AW_BEGIN(self);
  for (;;) {
    AW_AWAIT_CATCH(v, aw_tcp_accept(w->listener, NULL), err, failed);
    {
      int fd = (int)v.u.i;
      if (w->draining) {
        aw_release(aw_fs_close(L, fd, NULL));
        continue;
      }
      if (atomic_fetch_add(&g_conns, 1) >= g_opts.max_conns) {
        atomic_fetch_sub(&g_conns, 1);
        reject_overload(w, fd);
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      conn_start(w, fd);
    }
    continue;
  failed:
    if (w->draining) {
      aw_release_val(err);
      break;
    }
    if (!g_opts.quiet) {
      fprintf(stderr, "awserve: ");
      aw_error_print(err, stderr);
    }
    aw_release_val(err);
    AW_AWAIT_IGNORE(aw_delay(L, 100, NULL));
  }
  AW_END;
}

static void drain_expired(aw_loop *L, void *arg) {
  worker *w = arg;
  (void)L;
  w->drain_timer = 0;
  conn_force_all(w);
}

static void drain_start(aw_loop *L, void *arg) {
  worker *w = arg;
  if (w->draining) { /* a second signal: no more waiting */
    conn_force_all(w);
    return;
  }
  w->draining = true;
  if (aw_is_obj(w->listener))
    aw_listener_close(w->listener);
  conn_drain_all(w);
  w->drain_timer = aw_set_timeout(L, (int64_t)g_opts.drain_ms, drain_expired, w);
  aw_timer_unref(L, w->drain_timer);
  if (w->ref_held) {
    w->ref_held = false;
    aw_loop_unref(L);
  }
}

static void report_started(worker *w, int err) {
  pthread_mutex_lock(&start_mu);
  if (err)
    failed++;
  else
    started++;
  w->bind_err = err;
  pthread_cond_broadcast(&start_cv);
  pthread_mutex_unlock(&start_mu);
}

static aw_val on_listen(aw_loop *L, aw_val v, void *arg) {
  worker *w = arg;
  w->listener = aw_retain_val(v);
  w->port = aw_listener_port(v);
  AW_ASYNC_NEW(L, accept_loop, accept_body, f);
  f->w = w;
  aw_async_spawn(&f->frame, NULL, NULL); /* a failure is printed ("aw: task failed: ...") */
  report_started(w, 0);
  return aw_undefined();
}

static aw_val on_listen_failed(aw_loop *L, aw_val err, void *arg) {
  worker *w = arg;
  (void)L;
  const char *m = aw_error_message(err);
  snprintf(w->bind_msg, sizeof w->bind_msg, "%s", m ? m : "listen failed");
  if (w->ref_held) {
    w->ref_held = false;
    aw_loop_unref(L);
  }
  aw_error *e = aw_as_error(err);
  report_started(w, e && e->errnum ? -e->errnum : -EINVAL);
  return aw_undefined();
}

static void *worker_main(void *arg) {
  worker *w = arg;
  aw_loop_config cfg = {.rejections = AW_REJECTIONS_WARN};
  aw_val err = aw_undefined();
  w->L = aw_loop_new(&cfg, &err);
  if (!w->L) {
    const char *m = aw_error_message(err);
    snprintf(w->bind_msg, sizeof w->bind_msg, "%s", m ? m : "cannot make a loop");
    aw_release_val(err);
    report_started(w, -ENOMEM);
    return NULL;
  }
  /* SIGTERM/SIGINT as macrotasks of this loop, on its thread (a second one forces). */
  aw_loop_on_signal(w->L, SIGTERM, drain_start, w);
  aw_loop_on_signal(w->L, SIGINT, drain_start, w);
  aw_loop_ref(w->L); /* until the drain: the loop serves even between connections */
  w->ref_held = true;
  aw_listen_opts lo = {.reuseport = true};
  int port = w->index == 0 ? g_opts.port : workers[0].port;
  aw_promise *p = aw_tcp_listen(w->L, g_opts.host, port, &lo);
  aw_promise *q = aw_promise_then(p, on_listen, on_listen_failed, w);
  aw_release(p);
  aw_release(q);
  int rc = aw_loop_run(w->L);
  if (rc < 0 && rc != AW_EUNCAUGHT)
    fprintf(stderr, "awserve: loop %u: error %d\n", w->index, rc);
  aw_release_val(w->listener);
  w->listener = aw_undefined();
  aw_loop_free(w->L);
  conn_thread_end();
  /* w->L stays: main may still post to it, which is refused now */
  return NULL;
}

/* Starts worker i and waits until it is bound (or failed). */
static int start_worker(unsigned i) {
  workers[i].index = i;
  workers[i].listener = aw_undefined();
  int rc = pthread_create(&tids[i], NULL, worker_main, &workers[i]);
  created[i] = rc == 0;
  if (rc) {
    snprintf(workers[i].bind_msg, sizeof workers[i].bind_msg, "pthread_create: %s", strerror(rc));
    return -rc;
  }
  pthread_mutex_lock(&start_mu);
  while (started + failed <= i)
    pthread_cond_wait(&start_cv, &start_mu);
  pthread_mutex_unlock(&start_mu);
  return workers[i].bind_err;
}

/* ---- options -------------------------------------------------------------------------------- */

enum {
  O_HOST = 256,
  O_PORT,
  O_ROOT,
  O_THREADS,
  O_MAXHDR,
  O_MAXBODY,
  O_HDRTO,
  O_KATO,
  O_BODYTO,
  O_SENDTO,
  O_MAXCONN,
  O_DRAIN,
  O_LOG,
  O_QUIET
};

static void parse_args(int argc, char **argv) {
  static const struct option longs[] = {
      {"host", required_argument, 0, O_HOST},
      {"port", required_argument, 0, O_PORT},
      {"root", required_argument, 0, O_ROOT},
      {"threads", required_argument, 0, O_THREADS},
      {"max-header-bytes", required_argument, 0, O_MAXHDR},
      {"max-body-bytes", required_argument, 0, O_MAXBODY},
      {"header-timeout-ms", required_argument, 0, O_HDRTO},
      {"keepalive-ms", required_argument, 0, O_KATO},
      {"body-timeout-ms", required_argument, 0, O_BODYTO},
      {"send-timeout-ms", required_argument, 0, O_SENDTO},
      {"max-conns", required_argument, 0, O_MAXCONN},
      {"drain-ms", required_argument, 0, O_DRAIN},
      {"access-log", required_argument, 0, O_LOG},
      {"quiet", no_argument, 0, O_QUIET},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0},
  };
  const char *log = NULL;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  g_opts.threads = ncpu > 0 ? (unsigned)ncpu : 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
    switch (ch) {
    case O_HOST:
      g_opts.host = optarg;
      break;
    case O_PORT:
      g_opts.port = (int)parse_num("--port", optarg, 0, 65535);
      break;
    case O_ROOT:
      g_opts.root = optarg;
      break;
    case O_THREADS:
      g_opts.threads = (unsigned)parse_num("--threads", optarg, 1, 1024);
      break;
    case O_MAXHDR:
      g_opts.max_header = parse_num("--max-header-bytes", optarg, 64, 1 << 24);
      break;
    case O_MAXBODY:
      g_opts.max_body = parse_num("--max-body-bytes", optarg, 0, UINT64_MAX / 2);
      break;
    case O_HDRTO:
      g_opts.header_timeout_ms = parse_num("--header-timeout-ms", optarg, 1, 1u << 31);
      break;
    case O_KATO:
      g_opts.keepalive_ms = parse_num("--keepalive-ms", optarg, 1, 1u << 31);
      break;
    case O_BODYTO:
      g_opts.body_timeout_ms = parse_num("--body-timeout-ms", optarg, 1, 1u << 31);
      break;
    case O_SENDTO:
      g_opts.send_timeout_ms = parse_num("--send-timeout-ms", optarg, 1, 1u << 31);
      break;
    case O_MAXCONN:
      g_opts.max_conns = (unsigned)parse_num("--max-conns", optarg, 1, 1u << 30);
      break;
    case O_DRAIN:
      g_opts.drain_ms = parse_num("--drain-ms", optarg, 0, 1u << 31);
      break;
    case O_LOG:
      log = optarg;
      break;
    case O_QUIET:
      g_opts.quiet = true;
      break;
    case 'h':
      usage(stdout);
      exit(0);
    case ':':
      die_usage("option '%s' needs a value", argv[optind - 1]);
    default:
      die_usage("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc)
    die_usage("unexpected argument '%s'", argv[optind]);
  if (g_opts.root) {
    char *real = realpath(g_opts.root, NULL);
    struct stat st;
    if (!real || stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
      die_usage("--root %s: not a directory", g_opts.root);
    size_t n = strlen(real);
    while (n > 1 && real[n - 1] == '/')
      real[--n] = 0;
    g_opts.root_real = real;
    g_opts.root_len = strcmp(real, "/") == 0 ? 0 : n;
    if (g_opts.root_len == 0)
      real[0] = 0; /* root "/": paths are "/x", and every file is beneath it */
  }
  if (log) {
    if (strcmp(log, "-") == 0) {
      g_opts.access_log_fd = STDOUT_FILENO;
    } else {
      g_opts.access_log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (g_opts.access_log_fd < 0) {
        fprintf(stderr, "awserve: --access-log %s: %s\n", log, strerror(errno));
        exit(2);
      }
    }
  }
}

/*
 * SO_REUSEPORT lets any socket of the same user with the option set join a port, so a second
 * awserve on a busy port would silently share it. A socket bound without the option first
 * refuses a port anyone listens on (EADDRINUSE), and for --port 0 picks a port nobody has;
 * the loops then bind that port (the window between the probe's close and their bind is the
 * one a second awserve could still slip into).
 */
static int probe_port(void) {
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  char serv[8];
  snprintf(serv, sizeof serv, "%d", g_opts.port);
  const char *host = g_opts.host[0] ? g_opts.host : NULL;
  int e = getaddrinfo(host, serv, &hints, &ai);
  if (e) {
    fprintf(stderr, "awserve: listen %s:%d: %s\n", g_opts.host, g_opts.port, gai_strerror(e));
    return -1;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(fd, ai->ai_addr, ai->ai_addrlen)) {
    fprintf(stderr, "awserve: listen %s:%d: %s\n", g_opts.host, g_opts.port, strerror(errno));
    if (fd >= 0)
      close(fd);
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (g_opts.port == 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
    g_opts.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (probe_port())
    return 1;
  signal(SIGPIPE, SIG_IGN); /* every write is MSG_NOSIGNAL already; splice may not be */

  workers = calloc(g_opts.threads, sizeof *workers);
  tids = calloc(g_opts.threads, sizeof *tids);
  created = calloc(g_opts.threads, sizeof *created);
  if (!workers || !tids || !created) {
    fprintf(stderr, "awserve: out of memory\n");
    return 1;
  }
  unsigned n = 0;
  int rc = 0;
  for (; n < g_opts.threads; n++) {
    rc = start_worker(n);
    if (rc) {
      fprintf(stderr, "awserve: listen %s:%d: %s\n", g_opts.host, n ? workers[0].port : g_opts.port,
              workers[n].bind_msg);
      n++; /* its thread (if any) exits by itself */
      break;
    }
  }
  if (rc == 0) {
    bool v6 = strchr(g_opts.host, ':') != NULL;
    printf("awserve: listening on http://%s%s%s:%d\n", v6 ? "[" : "", g_opts.host, v6 ? "]" : "",
           workers[0].port);
    fflush(stdout);
  }
  /* Each loop takes SIGTERM/SIGINT itself; a bind failure drains the loops already bound. */
  for (unsigned i = 0; rc != 0 && i < n; i++)
    if (workers[i].L)
      aw_loop_post(workers[i].L, drain_start, &workers[i]);
  for (unsigned i = 0; i < n; i++)
    if (created[i])
      pthread_join(tids[i], NULL);
  free(workers);
  free(tids);
  free(created);
  free(g_opts.root_real);
  return rc ? 1 : 0;
}
