/*
 * io/net.c — TCP over io_uring: listen, accept (multishot), connect, recv,
 * send, shutdown.
 *
 * Listening is socket + setsockopt + bind + listen, done at once (they never
 * block); the promise settles with the listener or with the error
 * ("listen 127.0.0.1:8080: Address already in use (EADDRINUSE)").
 *
 * A listener owns one multishot accept, armed while someone waits for a
 * connection or the queue of accepted-but-not-taken connections has room.
 * Each CQE carries one new descriptor: it goes to the oldest waiting
 * aw_tcp_accept, or into the queue (at most AW__ACCEPT_QUEUE, after which the
 * accept is cancelled until the queue drains, so the kernel's backlog does
 * the waiting). The multishot op points at its listener without a reference:
 * freeing the listener cancels the op and the op, when it finishes, closes
 * what it still accepts. The op stays the listener's (d->op) until its last
 * CQE, also while a pause's cancel is on the way, so that at most one accept
 * per listener is ever in the kernel.
 *
 * Errors of the multishot accept (it stops at the first):
 *   - out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): the
 *     connection stays in the kernel's backlog; the listener pauses and tries
 *     again after a back-off (5 ms, doubling up to 1 s, back to 5 ms after a
 *     success), or as soon as the loop closes a descriptor (aw_fs_close, a
 *     close of its own), so a server under descriptor exhaustion recovers by
 *     itself without spinning. Waiting accepts keep waiting (libuv's choice).
 *   - an error of one connection (ECONNABORTED, EPROTO, ENETDOWN...: accept(2)
 *     says to retry them): at once the first time, then with the back-off.
 *   - anything else is the listening socket's own failure (EINVAL, EBADF...):
 *     every waiting accept rejects with it; the next aw_tcp_accept tries again.
 *
 * aw_loop_free closes the loop's listeners (aw__net_loop_free): the socket,
 * the queued connections, the back-off timer; waiting accepts are dropped
 * (their promises stay pending, their signals are let go). The listener
 * object stays valid, closed, until its last reference goes.
 *
 * Sends use MSG_NOSIGNAL and go on until every byte is sent.
 */
#define _GNU_SOURCE
#include "io/internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define AW__ACCEPT_QUEUE 1024

/* ---- addresses ---------------------------------------------------------------------------- */

typedef struct addr {
  struct sockaddr_storage ss;
  socklen_t len;
  char text[INET6_ADDRSTRLEN + 8]; /* "host:port" for messages */
} addr;

/* Numeric IPv4/IPv6, "localhost", or NULL/"" (any) when passive. 0 or -EINVAL. */
static int parse_addr(const char *host, int port, bool passive, addr *a) {
  memset(a, 0, sizeof *a);
  if (port < 0 || port > 65535)
    return -EINVAL;
  if (!host || !host[0])
    host = passive ? "0.0.0.0" : "127.0.0.1";
  if (!strcmp(host, "localhost"))
    host = "127.0.0.1";
  struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    a->len = sizeof *s4;
    snprintf(a->text, sizeof a->text, "%s:%d", host, port);
    return 0;
  }
  if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    a->len = sizeof *s6;
    snprintf(a->text, sizeof a->text, "[%s]:%d", host, port);
    return 0;
  }
  return -EINVAL;
}

static aw_promise *bad_host(aw_loop *L, const char *op, const char *host, int port) {
  return aw_promise_rejected(L,
                             aw_err("TypeError",
                                    "%s: '%s' port %d is not a numeric IPv4/IPv6 address and port "
                                    "(names need a DNS lookup)",
                                    op, host ? host : "", port));
}

static aw_promise *bad_fd(aw_loop *L, const char *op, int fd) {
  char what[32];
  snprintf(what, sizeof what, "fd %d", fd);
  return aw_promise_rejected(L, aw_obj_val(aw_error_errno(-EBADF, op, what)));
}

/* ---- the listener object ------------------------------------------------------------------ */

typedef struct accept_op accept_op;

typedef struct waiter {
  struct waiter *next;
  aw_promise *promise;
  aw_signal *signal;
  aw_signal_listener listener;
  aw_timer deadline; /* opts.timeout_ms, 0 if none */
  struct aw__listener *owner;
} waiter;

typedef struct aw__listener {
  aw_loop *loop;
  struct aw__listener *prev, *next; /* the loop's open listeners (R->listeners) */
  bool registered;                  /* in that list */
  int fd, port;
  bool closed;
  accept_op *op;         /* the multishot accept until its last CQE (even cancelled), or NULL */
  aw_timer retry;        /* the back-off after an error, or 0 */
  bool out_of_fds;       /* that error was EMFILE/ENFILE: a close may end the back-off early */
  uint32_t errors;       /* accepts that failed in a row */
  waiter *whead, *wtail; /* aw_tcp_accept calls waiting, oldest first */
  int *queue;            /* accepted descriptors not taken yet (a ring of qcap) */
  uint32_t qhead, qlen, qcap;
  char text[INET6_ADDRSTRLEN + 8]; /* the bound address, "127.0.0.1:40123" */
} listener_data;

#define BACKOFF_MIN_MS 5
#define BACKOFF_MAX_MS 1000

struct accept_op {
  aw__op op;
  listener_data *ld; /* not a reference: cleared when the listener goes */
};

static void listener_finalize(aw_obj *o);
static const aw_class listener_class = {"TCPListener", listener_finalize, NULL};

static listener_data *LD(aw_val v) {
  v = aw_caught(v);
  if (!aw_is_obj(v) || aw_object_class(v.u.o) != &listener_class)
    return NULL;
  return aw_object_data(v.u.o);
}

int aw_listener_fd(aw_val listener) {
  listener_data *d = LD(listener);
  return d && !d->closed ? d->fd : -1;
}

int aw_listener_port(aw_val listener) {
  listener_data *d = LD(listener);
  return d ? d->port : 0;
}

static void waiter_free(waiter *w) {
  if (w->deadline)
    aw_clear_timer(w->owner->loop, w->deadline);
  if (w->signal) {
    aw_signal_unlisten(w->signal, &w->listener);
    aw_release((aw_obj *)w->signal);
  }
  aw_release(w->promise);
  aw__free(w, sizeof *w);
}

static waiter *waiter_pop(listener_data *d) {
  waiter *w = d->whead;
  if (w) {
    d->whead = w->next;
    if (!d->whead)
      d->wtail = NULL;
  }
  return w;
}

static void waiter_unlink(listener_data *d, waiter *w) {
  waiter **pp = &d->whead, *prev = NULL;
  while (*pp && *pp != w) {
    prev = *pp;
    pp = &(*pp)->next;
  }
  if (!*pp)
    return;
  *pp = w->next;
  if (d->wtail == w)
    d->wtail = prev;
}

static int queue_take(listener_data *d) {
  int fd = d->queue[d->qhead];
  d->qhead = (d->qhead + 1) % d->qcap;
  d->qlen--;
  return fd;
}

static void queue_put(listener_data *d, int fd) {
  if (d->qlen == d->qcap) { /* grows past the pause point only by the CQEs already in flight */
    uint32_t ncap = d->qcap ? d->qcap * 2 : 64;
    int *q = aw__alloc(ncap * sizeof(int));
    for (uint32_t i = 0; i < d->qlen; i++)
      q[i] = d->queue[(d->qhead + i) % d->qcap];
    aw__free(d->queue, d->qcap * sizeof(int));
    d->queue = q;
    d->qhead = 0;
    d->qcap = ncap;
  }
  d->queue[(d->qhead + d->qlen++) % d->qcap] = fd;
}

static void deliver(listener_data *d, int fd) {
  waiter *w = waiter_pop(d);
  if (w) {
    aw__promise_resolve_value(w->promise, aw_int(fd));
    waiter_free(w);
    return;
  }
  queue_put(d, fd);
}

/* ---- the multishot accept op ---------------------------------------------------------------- */

static void accept_prep(aw__op *op, struct io_uring_sqe *sqe) {
  io_uring_prep_multishot_accept(sqe, op->fd, NULL, NULL, SOCK_CLOEXEC);
}

static void arm(listener_data *d);
static void pause_accepting(listener_data *d);

/* Someone waits, or the queue has room: the listener should be accepting. */
static bool wants_accept(const listener_data *d) {
  return !d->closed && (d->whead || d->qlen < AW__ACCEPT_QUEUE / 2);
}

/* Out of descriptors or memory: nothing can be accepted until something is freed. */
static bool resource_error(int res) {
  return res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM;
}

/* An error of one connection, not of the listener: accept(2) says to retry. */
static bool connection_error(int res) {
  switch (-res) {
  case ECONNABORTED:
  case EPROTO:
  case ENOPROTOOPT:
  case EHOSTDOWN:
  case ENONET:
  case EHOSTUNREACH:
  case EOPNOTSUPP:
  case ENETDOWN:
  case ENETUNREACH:
  case EPERM: /* a firewall rule */
  case ETIMEDOUT:
    return true;
  default:
    return false;
  }
}

static void retry_due(aw_loop *L, void *arg) {
  (void)L;
  listener_data *d = arg;
  d->retry = 0;
  d->out_of_fds = false;
  if (wants_accept(d))
    arm(d);
}

/* The accept failed with res: pause and try again later, or fail the waiters. */
static void accept_failed(listener_data *d, int res) {
  if (!resource_error(res) && !connection_error(res)) {
    /* the listening socket itself: every waiter hears of it; the next accept tries again */
    while (d->whead) {
      waiter *w = waiter_pop(d);
      aw__promise_reject_value(w->promise, aw_obj_val(aw_error_errno(res, "accept", d->text)));
      waiter_free(w);
    }
    return;
  }
  uint32_t n = ++d->errors;
  if (connection_error(res) && n == 1) { /* that connection is gone: the next one may be fine */
    if (wants_accept(d))
      arm(d);
    return;
  }
  /* 5 ms, 10 ms, ... up to 1 s: no spinning while the process has no descriptor to give */
  uint32_t shift = n - 1 < 8 ? n - 1 : 8;
  uint32_t ms = BACKOFF_MIN_MS << shift;
  d->retry = aw_set_timeout(d->loop, ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS, retry_due, d);
  d->out_of_fds = res == -EMFILE || res == -ENFILE;
}

void aw__net_fd_closed(aw_loop *L) {
  /* At most one accept per paused listener per close: bounded by the closes, never a spin. */
  for (listener_data *d = L->io->listeners; d; d = d->next) {
    if (d->retry && d->out_of_fds) {
      aw_clear_timer(L, d->retry);
      retry_due(L, d);
    }
  }
}

/* The multishot accept gave its last CQE (res). */
static void accept_ended(accept_op *a, int res) {
  listener_data *d = a->ld;
  if (d && d->op == a)
    d->op = NULL;
  if (!d || d->closed)
    return;
  if (res < 0 && res != -ECANCELED)
    accept_failed(d, res);
  else if (wants_accept(d))
    arm(d); /* the kernel ended it (or a pause did), and it is wanted again */
}

static void accept_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  accept_op *a = (accept_op *)op;
  listener_data *d = a->ld;
  bool more = flags & IORING_CQE_F_MORE;
  if (res >= 0) {
    if (!d || d->closed) {
      aw__quiet_close(L, res);
    } else {
      d->errors = 0;
      deliver(d, res);
    }
    if (d && more && d->qlen >= AW__ACCEPT_QUEUE)
      pause_accepting(d); /* full: the kernel's backlog waits instead */
  }
  if (more)
    return;
  accept_ended(a, res);
  aw__op_settle(op, aw_undefined()); /* nobody holds this promise */
  aw__op_finish(op);
}

/* The CQEs of a cancelled accept: connections that raced the cancel are kept (or closed). */
static void accept_on_abort(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  accept_op *a = (accept_op *)op;
  listener_data *d = a->ld;
  if (res >= 0) {
    if (d && !d->closed)
      deliver(d, res);
    else
      aw__quiet_close(L, res);
  }
  if (!(flags & IORING_CQE_F_MORE))
    accept_ended(a, -ECANCELED); /* a pause ended: arm again if the queue drained meanwhile */
}

static const aw__op_vt accept_vt = {"accept", accept_prep, accept_complete, accept_on_abort, NULL};

static void arm(listener_data *d) {
  if (d->op || d->closed || d->retry || d->qlen >= AW__ACCEPT_QUEUE)
    return; /* armed, or cancelled and not back yet, or backing off, or full */
  aw_promise *early;
  accept_op *a = (accept_op *)aw__op_new(d->loop, &accept_vt, sizeof *a, NULL, &early);
  if (!a) {
    aw_release(early);
    return;
  }
  aw__op_internal(&a->op);
  a->op.fd = d->fd;
  a->op.flags |= AW__OPF_MULTISHOT | AW__OPF_UNBOUNDED;
  a->ld = d;
  d->op = a;
  aw__op_submit(&a->op);
}

/* Cancels the multishot accept; what it still accepts is kept. It stays d->op until it is back. */
static void pause_accepting(listener_data *d) {
  if (d->op)
    aw__op_abort(&d->op->op, aw_err("AbortError", "accept: paused"));
}

static void listener_register(listener_data *d) {
  aw__io *R = d->loop->io;
  d->prev = NULL;
  d->next = R->listeners;
  if (R->listeners)
    R->listeners->prev = d;
  R->listeners = d;
  d->registered = true;
}

static void listener_unregister(listener_data *d) {
  if (!d->registered)
    return;
  if (d->prev)
    d->prev->next = d->next;
  else
    d->loop->io->listeners = d->next;
  if (d->next)
    d->next->prev = d->prev;
  d->prev = d->next = NULL;
  d->registered = false;
}

/*
 * Closes the listener. While the loop is being freed nothing may settle or
 * run any more: waiting accepts are dropped (their promises released
 * unsettled, their signals let go) and the accept in the kernel is left to
 * aw__io_free, which cancels every op.
 */
static void listener_close(listener_data *d) {
  if (d->closed)
    return;
  d->closed = true;
  aw_loop *L = d->loop;
  bool gone = L->freeing;
  listener_unregister(d);
  if (d->retry) {
    aw_clear_timer(L, d->retry);
    d->retry = 0;
  }
  if (d->op) {
    accept_op *a = d->op;
    d->op = NULL;
    a->ld = NULL; /* from now on it closes what it accepts */
    if (!gone)
      aw__op_abort(&a->op, aw_err("AbortError", "accept: listener closed"));
  }
  while (d->whead) {
    waiter *w = waiter_pop(d);
    if (!gone)
      aw__promise_reject_value(w->promise,
                               aw_obj_val(aw_error_errno(-ECANCELED, "accept", d->text)));
    waiter_free(w);
  }
  while (d->qlen)
    close(queue_take(d));
  /* A cancelled accept may still hold the socket in the kernel until its CQE comes back:
   * shut it down first, so that no connection is taken from now on. Its SQE may not even
   * have been submitted yet: closed now, the descriptor could be the next listener's by
   * the time the kernel reads that SQE, and the stale accept would take (and close) that
   * listener's connections. Closed through the ring, the close comes after it. */
  shutdown(d->fd, SHUT_RDWR);
  aw__quiet_close(d->loop, d->fd);
}

void aw_listener_close(aw_val listener) {
  listener_data *d = LD(listener);
  if (d && aw__on_owner(d->loop))
    listener_close(d);
}

static void listener_finalize(aw_obj *o) {
  listener_data *d = aw_object_data(o);
  listener_close(d);
  aw__free(d->queue, d->qcap * sizeof(int));
  aw__loop_release(d->loop);
}

void aw__net_loop_free(aw_loop *L) {
  while (L->io->listeners)
    listener_close(L->io->listeners); /* unregisters it */
}

/* "host:port" of a bound address, for messages. */
static void addr_text(const struct sockaddr_storage *ss, char *out, size_t n) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
    snprintf(out, n, "%s:%d", host, ntohs(s4->sin_port));
  } else {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
    snprintf(out, n, "[%s]:%d", host, ntohs(s6->sin6_port));
  }
}

static int sock_listen(const addr *a, const aw_listen_opts *o) {
  int fd = AW__FAULT_FD(socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd < 0)
    return -errno;
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      (o && o->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
      /* accepted sockets inherit it on Linux (a test checks): no setsockopt per connection */
      (!(o && o->no_nodelay) && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) ||
      (a->ss.ss_family == AF_INET6 && o && o->ipv6_only &&
       setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
      bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 ||
      listen(fd, o && o->backlog > 0 ? o->backlog : 511) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

aw_promise *aw_tcp_listen(aw_loop *L, const char *host, int port, const aw_listen_opts *o) {
  if (!L || !aw__on_owner(L) || L->freeing)
    return NULL;
  addr a;
  if (parse_addr(host, port, true, &a) < 0)
    return bad_host(L, "listen", host, port);
  int fd = sock_listen(&a, o);
  if (fd < 0)
    return aw_promise_rejected(L, aw_obj_val(aw_error_errno(fd, "listen", a.text)));
  aw_obj *obj = aw_object_new(&listener_class, sizeof(listener_data));
  if (!obj) {
    close(fd);
    return aw_promise_rejected(L, aw_obj_val(aw_error_errno(-ENOMEM, "listen", a.text)));
  }
  listener_data *d = aw_object_data(obj);
  d->loop = L;
  L->live++; /* the listener keeps the loop's memory */
  d->fd = fd;
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  snprintf(d->text, sizeof d->text, "%s", a.text);
  if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0) {
    d->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                               : ((struct sockaddr_in6 *)&bound)->sin6_port);
    addr_text(&bound, d->text, sizeof d->text); /* the port port 0 got, not ":0" */
  }
  if (L->io)
    listener_register(d); /* aw_loop_free closes it */
  return aw_promise_resolved(L, aw_obj_val(obj));
}

static void waiter_aborted(aw_loop *L, aw_signal *s, aw_signal_listener *l) {
  (void)L;
  waiter *w = AW__CONTAINER(l, waiter, listener);
  waiter_unlink(w->owner, w);
  aw__promise_reject_value(w->promise, aw_retain_val(aw_signal_reason(s)));
  waiter_free(w);
}

static void waiter_timed_out(aw_loop *L, void *arg) {
  (void)L;
  waiter *w = arg;
  w->deadline = 0;
  waiter_unlink(w->owner, w);
  aw__promise_reject_value(w->promise, aw__timeout_error());
  waiter_free(w);
}

aw_promise *aw_tcp_accept(aw_val listener, const aw_io_opts *o) {
  listener_data *d = LD(listener);
  if (!d)
    return NULL;
  aw_loop *L = d->loop;
  if (!aw__on_owner(L) || L->freeing)
    return NULL;
  if (d->closed)
    return aw_promise_rejected(L, aw_obj_val(aw_error_errno(-EBADF, "accept", d->text)));
  if (!L->io)
    return aw_promise_rejected(
        L, aw_obj_val(aw_error_errno(AW_ENOURING, "accept", "(this loop has no io_uring)")));
  if (o && o->signal && aw_signal_aborted(o->signal))
    return aw_promise_rejected(L, aw_retain_val(aw_signal_reason(o->signal)));
  if (d->qlen) {
    int fd = queue_take(d);
    if (d->qlen < AW__ACCEPT_QUEUE / 2)
      arm(d); /* there is room again */
    return aw_promise_resolved(L, aw_int(fd));
  }
  waiter *w = aw__calloc(sizeof *w);
  w->promise = aw__promise_alloc(L);
  w->owner = d;
  if (o && o->signal) {
    w->signal = aw_retain(o->signal);
    w->listener.fn = waiter_aborted;
    aw_signal_listen(w->signal, &w->listener);
  }
  if (o && o->timeout_ms)
    w->deadline = aw__io_deadline(L, o->timeout_ms, waiter_timed_out, w);
  if (d->wtail)
    d->wtail->next = w;
  else
    d->whead = w;
  d->wtail = w;
  arm(d);
  return aw_retain(w->promise);
}

/* ---- connect ----------------------------------------------------------------------------------
 */

typedef struct sop {
  aw__op op;
  aw_buf *buf;
  size_t done;
  int how;
  bool owns_fd;
  addr a;
} sop;

static void sop_cleanup(aw_loop *L, aw__op *op) {
  sop *s = (sop *)op;
  (void)L;
  aw_release(s->buf);
  if (s->owns_fd && op->fd >= 0)
    close(op->fd);
}

static void sop_fail(sop *s, int res, const char *what) {
  aw__op_fail(&s->op, res, what);
  aw__op_finish(&s->op);
}

static const char *fdname(sop *s, char *tmp, size_t n) {
  snprintf(tmp, n, "fd %d", s->op.fd);
  return tmp;
}

static void connect_prep(aw__op *op, struct io_uring_sqe *sqe) {
  sop *s = (sop *)op;
  io_uring_prep_connect(sqe, op->fd, (const struct sockaddr *)&s->a.ss, s->a.len);
}
static void connect_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  sop *s = (sop *)op;
  if (res < 0)
    return sop_fail(s, res, s->a.text); /* cleanup closes the socket */
  s->owns_fd = false;                   /* it is the caller's now */
  aw__op_settle(op, aw_int(op->fd));
  aw__op_finish(op);
}
static const aw__op_vt connect_vt = {"connect", connect_prep, connect_complete, NULL, sop_cleanup};

aw_promise *aw_tcp_connect(aw_loop *L, const char *host, int port, const aw_io_opts *o) {
  if (!L || !aw__on_owner(L) || L->freeing)
    return NULL;
  addr a;
  if (parse_addr(host, port, false, &a) < 0 || port == 0)
    return bad_host(L, "connect", host, port);
  aw_promise *early;
  sop *s = (sop *)aw__op_new(L, &connect_vt, sizeof *s, o, &early);
  if (!s)
    return early;
  s->a = a;
  int fd = AW__FAULT_FD(socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd < 0) {
    int e = errno;
    aw_promise *p = aw__op_promise(&s->op);
    sop_fail(s, -e, a.text);
    return p;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  s->op.fd = fd;
  s->op.flags |= AW__OPF_UNBOUNDED; /* a peer that drops SYNs keeps it for minutes */
  s->owns_fd = true;
  aw_promise *p = aw__op_promise(&s->op);
  aw__op_submit(&s->op);
  return p;
}

/* ---- recv, send, shutdown -------------------------------------------------------------------- */

/*
 * A recv of up to the ring's buffer size waits with no buffer: the kernel
 * picks one of the loop's ring when data comes (IOSQE_BUFFER_SELECT, len
 * capping what it takes), and that buffer is the result. A bigger max, or a
 * ring that is out of buffers (ENOBUFS), or no ring: a buffer of max bytes.
 */
typedef struct rcv {
  sop s;
  aw__bufring *ring; /* selecting from the ring, or NULL: into s.buf */
  size_t max;
  bool grown; /* an ENOBUFS grew the ring once already */
} rcv;

static void recv_prep(aw__op *op, struct io_uring_sqe *sqe) {
  rcv *r = (rcv *)op;
  if (r->ring) {
    io_uring_prep_recv(sqe, op->fd, NULL, (unsigned)r->max, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = aw__bufring_group(r->ring);
    return;
  }
  aw_buf *b = r->s.buf;
  size_t room = b->cap - b->len;
  io_uring_prep_recv(sqe, op->fd, b->data + b->len, room > (1u << 30) ? (1u << 30) : room, 0);
}
static void recv_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L;
  rcv *r = (rcv *)op;
  char tmp[32];
  if (res == -ENOBUFS && r->ring) { /* the ring is empty: grow it, or a buffer of our own */
    if (r->grown || !aw__bufring_grow(r->ring)) {
      r->ring = NULL;
      if (!(r->s.buf = aw_buf_new(r->max)))
        return sop_fail(&r->s, -ENOMEM, "recv buffer");
    }
    r->grown = true; /* grown once: a second ENOBUFS takes an own buffer */
    return aw__op_submit(op);
  }
  if (res < 0)
    return sop_fail(&r->s, res, fdname(&r->s, tmp, sizeof tmp));
  aw_buf *b;
  if (r->ring && (flags & IORING_CQE_F_BUFFER)) {
    b = aw__bufring_take(r->ring, flags, (size_t)res);
  } else if (r->ring) {
    b = aw_buf_new(0); /* end of stream: no buffer was taken */
  } else {
    b = r->s.buf;
    r->s.buf = NULL;
    aw__io_defined(b->data + b->len, (size_t)res);
    b->len += (size_t)res;
  }
  if (!b)
    return sop_fail(&r->s, -ENOMEM, "recv buffer");
  aw__op_settle(op, aw_obj_val(b));
  aw__op_finish(op);
}
/* At aw_loop_free (or a cancel that lost the race to an error): a buffer taken goes back. */
static void recv_on_abort(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)res;
  rcv *r = (rcv *)op;
  if (r->ring)
    aw__bufring_give_back(r->ring, flags);
}
static const aw__op_vt recv_vt = {"recv", recv_prep, recv_complete, recv_on_abort, sop_cleanup};

aw_promise *aw_sock_recv(aw_loop *L, int fd, size_t max, const aw_io_opts *o) {
  if (fd < 0)
    return bad_fd(L, "recv", fd);
  if (max == 0 || max > AW__IO_MAX_LEN)
    return aw__io_bad_args(L, "recv: max must be at least 1 and not absurdly large");
  aw_promise *early;
  rcv *r = (rcv *)aw__op_new(L, &recv_vt, sizeof *r, o, &early);
  if (!r)
    return early;
  r->s.op.fd = fd;
  r->s.op.flags |= AW__OPF_UNBOUNDED; /* an idle peer may never send */
  r->max = max;
  int err;
  aw__bufring *ring = aw__bufring_get(L, &err);
  if (ring && max <= aw__bufring_bufsize(ring))
    r->ring = ring;
  else if (!(r->s.buf = aw_buf_new(max))) {
    aw_promise *p = aw__op_promise(&r->s.op);
    sop_fail(&r->s, -ENOMEM, "recv buffer");
    return p;
  }
  aw_promise *p = aw__op_promise(&r->s.op);
  aw__op_submit(&r->s.op);
  return p;
}

/* Into buf's free space, as aw_fs_read_into: the caller's buffer, held while it waits. */
static void recv_into_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  sop *s = (sop *)op;
  char tmp[32];
  if (res < 0)
    return sop_fail(s, res, fdname(s, tmp, sizeof tmp));
  aw__io_defined(s->buf->data + s->buf->len, (size_t)res);
  s->buf->len += (size_t)res;
  aw__op_settle(op, aw_int(res));
  aw__op_finish(op);
}
static const aw__op_vt recv_into_vt = {"recv", recv_prep, recv_into_complete, NULL, sop_cleanup};

aw_promise *aw_sock_recv_into(aw_loop *L, int fd, aw_buf *buf, const aw_io_opts *o) {
  if (!buf || buf->hdr.type != AW_T_BUFFER) {
    aw_release(buf);
    return aw__io_bad_args(L, "recv: buf must be a buffer");
  }
  if (buf->len >= buf->cap) {
    aw_release(buf);
    return aw__io_bad_args(L, "recv: buf has no free space (len == cap)");
  }
  if (fd < 0) {
    aw_release(buf);
    return bad_fd(L, "recv", fd);
  }
  aw_promise *early;
  rcv *r = (rcv *)aw__op_new(L, &recv_into_vt, sizeof *r, o, &early);
  if (!r) {
    aw_release(buf);
    return early;
  }
  r->s.op.fd = fd;
  r->s.op.flags |= AW__OPF_UNBOUNDED;
  r->s.buf = buf;
  aw_promise *p = aw__op_promise(&r->s.op);
  aw__op_submit(&r->s.op);
  return p;
}

static void send_prep(aw__op *op, struct io_uring_sqe *sqe) {
  sop *s = (sop *)op;
  size_t left = s->buf->len - s->done;
  io_uring_prep_send(sqe, op->fd, s->buf->data + s->done, left > (1u << 30) ? (1u << 30) : left,
                     MSG_NOSIGNAL);
}
static void send_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  sop *s = (sop *)op;
  char tmp[32];
  if (res < 0)
    return sop_fail(s, res, fdname(s, tmp, sizeof tmp));
  if (res == 0 && s->done < s->buf->len)
    return sop_fail(s, -EPIPE, fdname(s, tmp, sizeof tmp));
  s->done += (size_t)res;
  if (s->done < s->buf->len)
    return aw__op_submit(op); /* a partial send: the rest */
  aw__op_settle(op, aw_int((int64_t)s->done));
  aw__op_finish(op);
}
static const aw__op_vt send_vt = {"send", send_prep, send_complete, NULL, sop_cleanup};

aw_promise *aw_sock_send(aw_loop *L, int fd, aw_buf *data, const aw_io_opts *o) {
  if (!data || data->hdr.type != AW_T_BUFFER) {
    aw_release(data);
    return aw__io_bad_args(L, "send: data must be a buffer");
  }
  if (fd < 0) {
    aw_release(data);
    return bad_fd(L, "send", fd);
  }
  aw_promise *early;
  sop *s = (sop *)aw__op_new(L, &send_vt, sizeof *s, o, &early);
  if (!s) {
    aw_release(data);
    return early;
  }
  s->op.fd = fd;
  s->op.flags |= AW__OPF_UNBOUNDED; /* a peer that does not read holds it for ever */
  s->buf = data;
  aw_promise *p = aw__op_promise(&s->op);
  aw__op_submit(&s->op);
  return p;
}

/* ---- close ---------------------------------------------------------------------------------- */

/*
 * A close does not end what the ring still does with the descriptor: a
 * pending recv holds the socket's file, so the connection would stay open
 * (no FIN to the peer) until data came. So: first an async cancel of every
 * op on fd (IORING_ASYNC_CANCEL_FD | ALL: they reject with ECANCELED), then
 * the close. `how` is the step: 0 the cancel, 1 the close.
 */
static void sock_close_prep(aw__op *op, struct io_uring_sqe *sqe) {
  sop *s = (sop *)op;
  if (s->how == 0)
    io_uring_prep_cancel_fd(sqe, op->fd, IORING_ASYNC_CANCEL_ALL);
  else
    io_uring_prep_close(sqe, op->fd);
}
static void sock_close_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)flags;
  sop *s = (sop *)op;
  char tmp[32];
  if (s->how == 0) { /* the cancel: how many it cancelled, or ENOENT (none), either is fine */
    s->how = 1;
    return aw__op_submit(op);
  }
  if (res < 0)
    return sop_fail(s, res, fdname(s, tmp, sizeof tmp));
  if (L->io->listeners)
    aw__net_fd_closed(L); /* a descriptor is free: a listener out of them may accept again */
  aw__op_settle(op, aw_undefined());
  aw__op_finish(op);
}
static const aw__op_vt sock_close_vt = {"close", sock_close_prep, sock_close_complete, NULL,
                                        sop_cleanup};

aw_promise *aw_sock_close(aw_loop *L, int fd, const aw_io_opts *o) {
  if (fd < 0)
    return bad_fd(L, "close", fd);
  aw_promise *early;
  sop *s = (sop *)aw__op_new(L, &sock_close_vt, sizeof *s, o, &early);
  if (!s)
    return early;
  s->op.fd = fd;
  /* a kernel without IORING_OP_ASYNC_CANCEL by descriptor (before 5.19): the close alone */
  s->how = L->io->caps.op_supported[IORING_OP_ASYNC_CANCEL] ? 0 : 1;
  aw_promise *p = aw__op_promise(&s->op);
  aw__op_submit(&s->op);
  return p;
}

/* ---- addresses of a connection ------------------------------------------------------------ */

static int sock_name(int fd, bool peer, char *out, size_t n) {
  if (!out || n == 0)
    return -EINVAL;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
               : getsockname(fd, (struct sockaddr *)&ss, &len);
  if (r < 0)
    return -errno;
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
    return -EAFNOSUPPORT;
  char text[INET6_ADDRSTRLEN + 8];
  addr_text(&ss, text, sizeof text);
  if (strlen(text) >= n)
    return -ENOSPC;
  memcpy(out, text, strlen(text) + 1);
  return 0;
}

int aw_sock_peer(int fd, char *out, size_t n) { return sock_name(fd, true, out, n); }
int aw_sock_local(int fd, char *out, size_t n) { return sock_name(fd, false, out, n); }

static void shutdown_prep(aw__op *op, struct io_uring_sqe *sqe) {
  io_uring_prep_shutdown(sqe, op->fd, ((sop *)op)->how);
}
static void shutdown_complete(aw_loop *L, aw__op *op, int res, uint32_t flags) {
  (void)L, (void)flags;
  sop *s = (sop *)op;
  char tmp[32];
  if (res < 0)
    return sop_fail(s, res, fdname(s, tmp, sizeof tmp));
  aw__op_settle(op, aw_undefined());
  aw__op_finish(op);
}
static const aw__op_vt shutdown_vt = {"shutdown", shutdown_prep, shutdown_complete, NULL,
                                      sop_cleanup};

aw_promise *aw_sock_shutdown(aw_loop *L, int fd, int how, const aw_io_opts *o) {
  if (fd < 0)
    return bad_fd(L, "shutdown", fd);
  aw_promise *early;
  sop *s = (sop *)aw__op_new(L, &shutdown_vt, sizeof *s, o, &early);
  if (!s)
    return early;
  s->op.fd = fd;
  s->how = how;
  aw_promise *p = aw__op_promise(&s->op);
  aw__op_submit(&s->op);
  return p;
}
