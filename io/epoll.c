/*
 * io/epoll.c — the epoll backend: a user-space executor of io_uring SQEs.
 *
 * The op layer fills SQEs from our SQ array exactly as it does for the
 * kernel; aw__ep_submit executes each one and puts its CQEs (the kernel's
 * res/flags conventions) into our CQ, which grows and never drops.
 *
 * What runs where:
 *   - inline, at submit: NOP, CLOSE, SHUTDOWN, ASYNC_CANCEL, and the first
 *     try of every socket op (accept4, connect, recv, send, sendmsg) and of
 *     READ/WRITE(V) at offset -1 on a pollable descriptor (preadv2/pwritev2
 *     with RWF_NOWAIT). A try that would block (EAGAIN) parks the op on the
 *     descriptor's queue of that direction; epoll readiness retries it.
 *   - on the worker pool (io/epoll_file.c, aw__epf_submit): everything else
 *     (file opcodes, positional I/O, statx, fsync, rename, ...), and
 *     READ/WRITE(V) on a descriptor epoll refuses (EPERM: a regular file) or
 *     RWF_NOWAIT does not support (EOPNOTSUPP). Their CQEs come back through
 *     aw__ep_post_cqe, a lock-free stack aw__ep_enter drains.
 *
 * Readiness: a descriptor is added, edge-triggered, for a direction
 * (EPOLLIN | EPOLLRDHUP, or EPOLLOUT) when an op first has to wait on it in
 * that direction (a MOD adds the other one the first time it is needed); it
 * stays registered, so a wait costs no epoll_ctl. We
 * remember per direction "known not ready" (set by EAGAIN, by a short send,
 * by a TCP socket's TCP_INQ cmsg saying its queue is empty, and by a short
 * recv on another stream socket we saw born) so that an op is not tried when
 * it would only get EAGAIN: a ping-pong round costs epoll_wait, recvmsg and
 * send per side and no epoll_ctl (libuv: one more, its epoll_ctl).
 *
 * Descriptor reuse. User code may close(2) a descriptor we registered and get
 * the same number for a new file: the kernel dropped the old registration,
 * our table still says "registered", and an op waiting on the new file would
 * never be woken. Three rules keep that from hanging anything:
 *   1. a descriptor we see born (accept's result, a connect's socket) or
 *      close (CLOSE) starts with a fresh entry (its generation, kept in the
 *      epoll data, moves on, so events of a lingering old registration are
 *      ignored);
 *   2. EEXIST on ADD means the registration is there (we MOD our data in);
 *   3. an op that starts waiting on a descriptor registered earlier (not
 *      just now) is checked if it still waits VERIFY_MS to 2 * VERIFY_MS
 *      later: epoll_ctl ADD gives EEXIST when the registration is alive
 *      (nothing to do), and adds it when it was stale (edge-triggered ADD
 *      reports present readiness, so the op runs). That check costs the hot
 *      path a queue entry: an op that completes within VERIFY_MS is never
 *      checked, and the checks run in sweeps every VERIFY_MS, so a wait reads
 *      no clock (one read per enter while waits are queued).
 *
 * Queues: per descriptor, readers (RD), writers (WR), and polls asking for
 * both POLLIN and POLLOUT (RW), which every readiness runs.
 *
 * A CONNECT of a blocking socket to a unix listener with a full backlog waits
 * as io_uring's does (a non-blocking socket gets -EAGAIN, as there): nothing
 * on its socket says when room comes, so it sits on its queue unwatched and
 * is tried again after 1, 2, 4 ... BACKOFF_MAX_MS ms (backoff_due).
 *
 * Close of a descriptor with waiting ops: as in the kernel, the ops are not
 * completed by the close; they stay pending (on no descriptor) until
 * cancelled (net.c cancels by descriptor before it closes).
 */
#define _GNU_SOURCE
#include "io/epoll.h"
#include "io/internal.h"

#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CQ_MIN 4096u
#define EVENTS_MAX 256
#define MULTISHOT_MAX 32u /* CQEs of one multishot op per readiness, as the kernel's retry cap */
#define VERIFY_MS 25      /* a wait older than this checks its registration (rule 3) */
#define SPIN_NS 50000     /* how long enter spins for worker completions before sleeping */
#define BACKOFF_MAX_MS 16 /* the longest wait between a backlogged connect's tries */
#define WAKE_DATA UINT64_MAX
#define BUFRINGS_MAX 4
#ifndef TCP_INQ
#define TCP_INQ 36
#endif
#ifndef TCP_CM_INQ
#define TCP_CM_INQ TCP_INQ
#endif

/* the queues of a descriptor: readers, writers, and polls that wait for either */
enum { RD = 0, WR = 1, RW = 2, NQ = 3 };
enum { W_NONE = 0, W_FD, W_ORPHAN, W_WAKE }; /* where a parked op is */
enum { K_UNKNOWN = 0, K_POLL, K_FILE };      /* may epoll watch the descriptor */
enum { R_DONE, R_WAIT, R_STAY };
enum { F_UNKNOWN = 0, F_TCP, F_OTHER }; /* an attempt: finished, must wait, poll op stays */

typedef struct epop {
  struct io_uring_sqe sqe;  /* a copy: the SQ slot is reused at once */
  struct epop *next, *prev; /* the descriptor's queue of its direction, or the orphans */
  struct epop *hnext;       /* the user_data hash chain */
  size_t done;              /* bytes moved so far (MSG_WAITALL) */
  int fd;
  uint8_t dir, where;
  bool connecting; /* a CONNECT that got EINPROGRESS: the next readiness reads SO_ERROR */
  bool started;    /* a CONNECT tried once (the socket is ours, non-blocking) */
  bool user_nb;    /* ... and was O_NONBLOCK before: EAGAIN is its result, as the kernel's */
  bool in_backoff; /* a CONNECT on the backoff list (a full unix backlog: tried again) */
  uint8_t backoff_ms;
  int64_t due_ms;
  struct epop *bnext;
} epop;

typedef struct fdent {
  epop *head[NQ], *tail[NQ];
  uint32_t gen;
  uint8_t reg;      /* in the epoll set, as far as we know */
  uint8_t notready; /* bit per direction: the last try found nothing to do */
  uint8_t stream;   /* born from accept/connect here: a short recv means drained */
  uint8_t inq;      /* TCP_INQ is on (a TCP socket born here) */
  uint8_t hup;      /* EPOLLRDHUP/HUP/ERR seen: an end or an error waits, nothing is drained */
  uint8_t kind;
  uint8_t family;    /* a listener's: 0 unknown, F_TCP, F_OTHER (its accepts' TCP_INQ) */
  uint32_t mask;     /* the events registered (EPOLLET aside) */
  uint64_t wait_seq; /* the latest wait that needs the registration checked (rule 3) */
} fdent;

typedef struct verify_item {
  int fd;
  uint64_t seq;
} verify_item;

typedef struct post {
  struct post *next;
  aw__cqe c;
} post;

typedef struct bufring {
  struct io_uring_buf_ring *br;
  unsigned mask;
  uint16_t head; /* ours, as the kernel's: the user's tail is in br */
  uint16_t bgid;
  bool used;
} bufring;

struct aw__ep {
  aw_loop *L;
  int epfd, wake_fd;
  /* SQ */
  struct io_uring_sqe *sq;
  unsigned sq_entries, sq_n;
  /* CQ: a ring that doubles when full */
  aw__cqe *cq;
  unsigned cq_cap, cq_head, cq_n;
  /* descriptors */
  fdent *fds;
  unsigned nfds;
  unsigned parked; /* ops in descriptor queues */
  epop *orphans;
  epop *wake_op; /* the core's POLL on the wake eventfd */
  epop *backoff; /* connects waiting for room in a unix listener's backlog (do_connect) */
  epop *free_ops;
  /* user_data -> parked op */
  epop **hash;
  unsigned hash_cap, hash_n;
  /* rule 3's checks, oldest first */
  verify_item *vq;
  unsigned vq_cap, vq_head, vq_n;
  unsigned vq_old;  /* the first vq_old were queued before the last sweep: the next checks them */
  int64_t sweep_ms; /* when the last sweep ran */
  uint64_t seq;
  /* descriptors whose multishot op stopped at MULTISHOT_MAX: tried again next enter */
  int *rerun;
  unsigned rerun_n, rerun_cap;
  bufring bufs[BUFRINGS_MAX];
  /* completions from other threads */
  _Atomic(post *) posted;
  atomic_int sleeping;
  atomic_bool embedded; /* aw__ep_fd was asked for: a host's epoll waits on ours, not us */
  struct aw__epf *file;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- CQ ---------------------------------------------------------------------------------- */

/* The growth paths are kept out of line: inlined, their register saves cost every call. */
static __attribute__((noinline, cold)) void cq_grow(aw__ep *ep) {
  unsigned cap = ep->cq_cap * 2;
  aw__cqe *n = aw__alloc(cap * sizeof *n);
  for (unsigned i = 0; i < ep->cq_n; i++)
    n[i] = ep->cq[(ep->cq_head + i) & (ep->cq_cap - 1)];
  aw__free(ep->cq, ep->cq_cap * sizeof *ep->cq);
  ep->cq = n;
  ep->cq_cap = cap;
  ep->cq_head = 0;
}

static inline void cq_push(aw__ep *ep, uint64_t data, int32_t res, uint32_t flags) {
  if (AW__UNLIKELY(ep->cq_n == ep->cq_cap))
    cq_grow(ep);
  ep->cq[(ep->cq_head + ep->cq_n) & (ep->cq_cap - 1)] = (aw__cqe){data, res, flags};
  ep->cq_n++;
}

bool aw__ep_peek(aw__ep *ep, aw__cqe *out) {
  if (!ep->cq_n)
    return false;
  *out = ep->cq[ep->cq_head];
  ep->cq_head = (ep->cq_head + 1) & (ep->cq_cap - 1);
  ep->cq_n--;
  return true;
}

unsigned aw__ep_cq_ready(const aw__ep *ep) { return ep->cq_n; }

/* ---- completions from other threads -------------------------------------------------------- */

/*
 * ep is read after the push (sleeping, embedded, wake_fd): it must outlive every call. It does,
 * because aw_loop_free ends the pool's part of the loop (waiting for running raw jobs to return)
 * before it frees the backend.
 */
void aw__ep_post_cqe(aw__ep *ep, uint64_t data, int32_t res, uint32_t flags) {
  post *p = malloc(sizeof *p);
  if (!p)
    abort(); /* a completion must not be lost: the op's memory would never be freed */
  p->c = (aw__cqe){data, res, flags};
  post *head = atomic_load_explicit(&ep->posted, memory_order_relaxed);
  do
    p->next = head;
  while (!atomic_compare_exchange_weak_explicit(&ep->posted, &head, p, memory_order_seq_cst,
                                                memory_order_relaxed));
  /* only a loop that sleeps (or is about to) needs the eventfd: see aw__ep_enter */
  if (atomic_load_explicit(&ep->sleeping, memory_order_seq_cst) ||
      atomic_load_explicit(&ep->embedded, memory_order_relaxed)) {
    uint64_t one = 1;
    ssize_t n = write(ep->wake_fd, &one, sizeof one);
    (void)n;
  }
}

/* Moves posted completions into the CQ, oldest first. */
static void drain_posted(aw__ep *ep) {
  if (!atomic_load_explicit(&ep->posted, memory_order_relaxed))
    return;
  post *p = atomic_exchange_explicit(&ep->posted, NULL, memory_order_acquire);
  post *rev = NULL;
  while (p) {
    post *n = p->next;
    p->next = rev;
    rev = p;
    p = n;
  }
  while (rev) {
    post *n = rev->next;
    cq_push(ep, rev->c.data, rev->c.res, rev->c.flags);
    free(rev);
    rev = n;
  }
}

struct aw__epf **aw__ep_file_state(aw__ep *ep) {
  return &ep->file;
}

/* ---- ops and the user_data hash --------------------------------------------------------------
 */

static epop *op_alloc(aw__ep *ep) {
  epop *o = ep->free_ops;
  if (o)
    ep->free_ops = o->next;
  else
    o = aw__alloc(sizeof *o);
  return o;
}

static void op_free(aw__ep *ep, epop *o) {
  o->next = ep->free_ops;
  ep->free_ops = o;
}

static unsigned hash_of(const aw__ep *ep, uint64_t ud) {
  ud ^= ud >> 29;
  ud *= 0xbf58476d1ce4e5b9ull;
  ud ^= ud >> 32;
  return (unsigned)ud & (ep->hash_cap - 1);
}

static __attribute__((noinline)) void hash_grow(aw__ep *ep) {
  {
    unsigned cap = ep->hash_cap ? ep->hash_cap * 2 : 64;
    epop **old = ep->hash;
    unsigned ocap = ep->hash_cap;
    ep->hash = aw__calloc(cap * sizeof *ep->hash);
    ep->hash_cap = cap;
    for (unsigned i = 0; i < ocap; i++)
      for (epop *p = old[i], *n; p; p = n) {
        n = p->hnext;
        unsigned h = hash_of(ep, p->sqe.user_data);
        p->hnext = ep->hash[h];
        ep->hash[h] = p;
      }
    if (old)
      aw__free(old, ocap * sizeof *old);
  }
}

static inline void hash_add(aw__ep *ep, epop *o) {
  if (AW__UNLIKELY(ep->hash_n * 2 >= ep->hash_cap))
    hash_grow(ep);
  unsigned h = hash_of(ep, o->sqe.user_data);
  o->hnext = ep->hash[h];
  ep->hash[h] = o;
  ep->hash_n++;
}

static void hash_del(aw__ep *ep, epop *o) {
  for (epop **pp = &ep->hash[hash_of(ep, o->sqe.user_data)]; *pp; pp = &(*pp)->hnext)
    if (*pp == o) {
      *pp = o->hnext;
      ep->hash_n--;
      return;
    }
}

/* ---- descriptors -------------------------------------------------------------------------------
 */

static __attribute__((noinline)) void ent_grow(aw__ep *ep, int fd) {
  unsigned n = ep->nfds ? ep->nfds : 256;
  while (n <= (unsigned)fd)
    n *= 2;
  fdent *t = aw__calloc(n * sizeof *t);
  if (ep->fds) {
    memcpy(t, ep->fds, ep->nfds * sizeof *t);
    aw__free(ep->fds, ep->nfds * sizeof *t);
  }
  ep->fds = t;
  ep->nfds = n;
}

/* fd's entry (the table grows to it). */
static inline fdent *ent(aw__ep *ep, int fd) {
  if (AW__UNLIKELY((unsigned)fd >= ep->nfds))
    ent_grow(ep, fd);
  return &ep->fds[fd];
}

static void q_unlink(aw__ep *ep, epop *o) {
  if (o->where == W_FD) {
    fdent *e = &ep->fds[o->fd];
    if (o->prev)
      o->prev->next = o->next;
    else
      e->head[o->dir] = o->next;
    if (o->next)
      o->next->prev = o->prev;
    else
      e->tail[o->dir] = o->prev;
    ep->parked--;
  } else if (o->where == W_ORPHAN) {
    if (o->prev)
      o->prev->next = o->next;
    else
      ep->orphans = o->next;
    if (o->next)
      o->next->prev = o->prev;
  } else if (o->where == W_WAKE) {
    ep->wake_op = NULL;
  }
  o->where = W_NONE;
  o->next = o->prev = NULL;
}

/* Takes a parked op out of everything and frees it. */
static void op_drop(aw__ep *ep, epop *o) {
  if (AW__UNLIKELY(o->in_backoff))
    for (epop **pp = &ep->backoff; *pp; pp = &(*pp)->bnext)
      if (*pp == o) {
        *pp = o->bnext;
        break;
      }
  q_unlink(ep, o);
  hash_del(ep, o);
  op_free(ep, o);
}

/* A new file at fd (born here, or fd was closed here): a fresh entry; waiting ops are orphans. */
static void fd_reset(aw__ep *ep, int fd) {
  fdent *e = ent(ep, fd);
  for (int d = 0; d < NQ; d++)
    while (e->head[d]) {
      epop *o = e->head[d];
      q_unlink(ep, o);
      o->where = W_ORPHAN;
      o->prev = NULL;
      o->next = ep->orphans;
      if (ep->orphans)
        ep->orphans->prev = o;
      ep->orphans = o;
    }
  uint32_t gen = e->gen + 1;
  memset(e, 0, sizeof *e);
  e->gen = gen;
}

static uint64_t ev_data(const fdent *e, int fd) { return (uint64_t)e->gen << 32 | (uint32_t)fd; }

static uint32_t dir_events(int dir) {
  return dir == RD ? EPOLLIN | EPOLLRDHUP : dir == WR ? EPOLLOUT : EPOLLIN | EPOLLRDHUP | EPOLLOUT;
}

/* No op waits on the descriptor. */
static bool fd_idle(const fdent *e) { return !e->head[RD] && !e->head[WR] && !e->head[RW]; }

/*
 * Puts fd in the epoll set for direction dir if it is not there by our count: 0, or -errno
 * (EPERM: not pollable). Only the directions ops waited for are watched: a writable socket
 * watched for EPOLLOUT would wake the loop at each edge of its send buffer for nothing.
 */
static int fd_register(aw__ep *ep, int fd, int dir) {
  fdent *e = ent(ep, fd);
  uint32_t want = dir_events(dir);
  if (e->reg && (e->mask & want) == want)
    return 0;
  struct epoll_event ev = {.events = e->mask | want | EPOLLET};
  ev.data.u64 = ev_data(e, fd);
  int r;
  if (e->reg) {
    r = epoll_ctl(ep->epfd, EPOLL_CTL_MOD, fd, &ev);
    if (r < 0 && errno == ENOENT) /* rule 3's case, found on the way: a new file */
      r = epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fd, &ev);
  } else {
    r = epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fd, &ev);
    if (r < 0 && errno == EEXIST) /* registered before its entry was reset: ours now */
      r = epoll_ctl(ep->epfd, EPOLL_CTL_MOD, fd, &ev);
  }
  if (r < 0) {
    int err = errno;
    if (err == EPERM)
      e->kind = K_FILE;
    return -err;
  }
  e->reg = 1;
  e->mask = ev.events & ~(uint32_t)EPOLLET;
  e->kind = K_POLL;
  return 0;
}

static bool pollable_rw(const struct io_uring_sqe *s);
static void to_worker(aw__ep *ep, const struct io_uring_sqe *sqe);

/* Rule 3: the wait that began at seq on fd checks its registration now. */
static void verify(aw__ep *ep, int fd, uint64_t seq) {
  if ((unsigned)fd >= ep->nfds)
    return;
  fdent *e = &ep->fds[fd];
  if (e->wait_seq != seq || !e->reg || fd_idle(e))
    return;
  e->wait_seq = 0;
  struct epoll_event ev = {.events = e->mask | EPOLLET};
  ev.data.u64 = ev_data(e, fd);
  if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 || errno == EEXIST)
    return; /* alive (EEXIST), or stale and now added: present readiness is reported */
  /* EBADF: closed and not reused (the ops wait, as the kernel's would on the old file);
   * EPERM: a file epoll cannot watch took the number: the ops fail rather than hang */
  if (errno == EPERM) {
    ep->fds[fd].kind = K_FILE;
    for (int d = 0; d < NQ; d++)
      while (ep->fds[fd].head[d]) {
        epop *o = ep->fds[fd].head[d];
        if (pollable_rw(&o->sqe)) /* a regular file: the worker pool reads it */
          to_worker(ep, &o->sqe);
        else
          cq_push(ep, o->sqe.user_data, o->done ? (int32_t)o->done : -EBADF, 0);
        op_drop(ep, o);
      }
  }
}

static void vq_push(aw__ep *ep, int fd, uint64_t seq) {
  if (ep->vq_n == ep->vq_cap) {
    unsigned cap = ep->vq_cap ? ep->vq_cap * 2 : 64;
    verify_item *n = aw__alloc(cap * sizeof *n);
    for (unsigned i = 0; i < ep->vq_n; i++)
      n[i] = ep->vq[(ep->vq_head + i) & (ep->vq_cap - 1)];
    if (ep->vq)
      aw__free(ep->vq, ep->vq_cap * sizeof *ep->vq);
    ep->vq = n;
    ep->vq_cap = cap;
    ep->vq_head = 0;
  }
  ep->vq[(ep->vq_head + ep->vq_n) & (ep->vq_cap - 1)] = (verify_item){fd, seq};
  ep->vq_n++;
}

static bool vq_live(const aw__ep *ep, const verify_item *it) {
  return (unsigned)it->fd < ep->nfds && ep->fds[it->fd].wait_seq == it->seq;
}

static void vq_pop(aw__ep *ep) {
  ep->vq_head = (ep->vq_head + 1) & (ep->vq_cap - 1);
  ep->vq_n--;
  if (ep->vq_old)
    ep->vq_old--;
}

/*
 * Rule 3's sweep: every VERIFY_MS, the waits queued before the previous sweep that still wait
 * are checked (so each has waited at least VERIFY_MS). Returns the ms until the next sweep
 * (-1: nothing queued).
 */
static int verify_due(aw__ep *ep) {
  while (ep->vq_n && !vq_live(ep, &ep->vq[ep->vq_head])) /* waits that ended: no clock */
    vq_pop(ep);
  if (!ep->vq_n)
    return -1;
  int64_t now = now_ms();
  if (now - ep->sweep_ms >= VERIFY_MS) {
    while (ep->vq_old) {
      verify_item it = ep->vq[ep->vq_head];
      vq_pop(ep);
      if (vq_live(ep, &it))
        verify(ep, it.fd, it.seq);
    }
    ep->vq_old = ep->vq_n;
    ep->sweep_ms = now;
    if (!ep->vq_n)
      return -1;
  }
  return (int)(ep->sweep_ms + VERIFY_MS - now);
}

/*
 * Parks op (a copy of *tmp) on fd's queue of its direction; *out is it. 0, or -errno when fd
 * cannot be watched (then nothing is parked). A connect on the backoff list is not watched:
 * nothing on its socket tells when the listener has room.
 */
static int park(aw__ep *ep, const epop *tmp, epop **out) {
  int fd = tmp->fd;
  fdent *e = ent(ep, fd);
  if (!tmp->in_backoff) {
    uint32_t want = dir_events(tmp->dir);
    if (!e->reg || (e->mask & want) != want) { /* the ADD or MOD checks it */
      int r = fd_register(ep, fd, tmp->dir);
      if (r < 0)
        return r;
      e = &ep->fds[fd];
    } else if (fd_idle(e)) { /* rule 3: a wait on an earlier registration */
      e->wait_seq = ++ep->seq;
      vq_push(ep, fd, e->wait_seq);
    }
  }
  epop *o = op_alloc(ep);
  *out = o;
  *o = *tmp;
  o->where = W_FD;
  o->next = NULL;
  o->prev = e->tail[o->dir];
  if (o->prev)
    o->prev->next = o;
  else
    e->head[o->dir] = o;
  e->tail[o->dir] = o;
  ep->parked++;
  hash_add(ep, o);
  return 0;
}

static void rerun_add(aw__ep *ep, int fd) {
  if (ep->rerun_n == ep->rerun_cap) {
    unsigned cap = ep->rerun_cap ? ep->rerun_cap * 2 : 16;
    int *n = aw__alloc(cap * sizeof *n);
    if (ep->rerun) {
      memcpy(n, ep->rerun, ep->rerun_n * sizeof *n);
      aw__free(ep->rerun, ep->rerun_cap * sizeof *n);
    }
    ep->rerun = n;
    ep->rerun_cap = cap;
  }
  ep->rerun[ep->rerun_n++] = fd;
}

/* ---- provided buffers --------------------------------------------------------------------------
 */

int aw__ep_buf_ring_register(aw__ep *ep, struct io_uring_buf_ring *br, unsigned entries,
                             unsigned short bgid) {
  if (!entries || (entries & (entries - 1)) || entries > 32768)
    return -EINVAL;
  bufring *slot = NULL;
  for (int i = 0; i < BUFRINGS_MAX; i++) {
    if (ep->bufs[i].used && ep->bufs[i].bgid == bgid)
      return -EEXIST;
    if (!ep->bufs[i].used && !slot)
      slot = &ep->bufs[i];
  }
  if (!slot)
    return -ENOMEM;
  /* as the kernel: a new ring starts with head 0, and its tail is whatever the user put */
  *slot = (bufring){br, entries - 1, 0, bgid, true};
  return 0;
}

void aw__ep_buf_ring_unregister(aw__ep *ep, unsigned short bgid) {
  for (int i = 0; i < BUFRINGS_MAX; i++)
    if (ep->bufs[i].used && ep->bufs[i].bgid == bgid)
      ep->bufs[i].used = false;
}

static bufring *bufring_of(aw__ep *ep, unsigned bgid) {
  for (int i = 0; i < BUFRINGS_MAX; i++)
    if (ep->bufs[i].used && ep->bufs[i].bgid == bgid)
      return &ep->bufs[i];
  return NULL;
}

/* The next buffer of the ring (not consumed yet), or NULL if the user has put none there. */
static struct io_uring_buf *buf_peek(bufring *b) {
  uint16_t tail = __atomic_load_n(&b->br->tail, __ATOMIC_ACQUIRE);
  if (tail == b->head)
    return NULL;
  return &b->br->bufs[b->head & b->mask];
}

/* ---- executing an op ----------------------------------------------------------------------------
 */

static bool is_multishot(const epop *o) {
  switch (o->sqe.opcode) {
  case IORING_OP_ACCEPT:
    return o->sqe.ioprio & IORING_ACCEPT_MULTISHOT;
  case IORING_OP_RECV:
    return o->sqe.ioprio & IORING_RECV_MULTISHOT;
  case IORING_OP_POLL_ADD:
    return o->sqe.len & IORING_POLL_ADD_MULTI;
  default:
    return false;
  }
}

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return -errno;
  if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return -errno;
  return 0;
}

static void mark_notready(aw__ep *ep, int fd, int dir) { ent(ep, fd)->notready |= 1u << dir; }

static int do_recv(aw__ep *ep, epop *o) {
  struct io_uring_sqe *s = &o->sqe;
  int fd = o->fd;
  bool multi = is_multishot(o), waitall = (s->msg_flags & MSG_WAITALL) && !multi;
  int flags = (int)(s->msg_flags & ~(unsigned)MSG_WAITALL) | MSG_DONTWAIT;
  for (unsigned round = 0;; round++) {
    if (multi && round == MULTISHOT_MAX) {
      rerun_add(ep, fd); /* others get their turn; this one goes on at the next enter */
      return R_WAIT;
    }
    char *buf;
    size_t len;
    struct io_uring_buf *kb = NULL;
    bufring *b = NULL;
    if (s->flags & IOSQE_BUFFER_SELECT) {
      b = bufring_of(ep, s->buf_group);
      kb = b ? buf_peek(b) : NULL;
      if (!kb) {
        cq_push(ep, s->user_data, -ENOBUFS, 0);
        return R_DONE;
      }
      buf = (char *)(uintptr_t)kb->addr;
      len = kb->len;
      if (s->len && s->len < len)
        len = s->len;
    } else {
      buf = (char *)(uintptr_t)s->addr + o->done;
      len = s->len - o->done;
    }
    ssize_t n;
    int inq = -1; /* bytes left in a TCP socket's queue after this recv (TCP_INQ), or -1 */
    if (ep->fds[fd].inq) {
      /* the kernel says what is left: a full recv that emptied the queue needs no EAGAIN
       * recv after it to know (it counts a pending FIN as 1) */
      struct iovec iov = {buf, len};
      union {
        char b[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
      } cbuf;
      struct msghdr mh = {
          .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b, .msg_controllen = sizeof cbuf.b};
      n = recvmsg(fd, &mh, flags);
      if (n >= 0)
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
          if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ)
            memcpy(&inq, CMSG_DATA(c), sizeof inq);
    } else {
      n = recv(fd, buf, len, flags);
    }
    if (n < 0) {
      int err = errno;
      if (err == EINTR)
        continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        mark_notready(ep, fd, RD);
        return R_WAIT;
      }
      cq_push(ep, s->user_data, o->done ? (int32_t)o->done : -err, 0);
      return R_DONE;
    }
    uint32_t cf = 0;
    if (kb && n > 0) {
      cf = IORING_CQE_F_BUFFER | (uint32_t)kb->bid << IORING_CQE_BUFFER_SHIFT;
      b->head++;
    }
    /* A stream socket's queue is empty after a short recv: its next data is an edge. Not
     * once its end (or an error) was reported: the recv took the data before the FIN, the
     * FIN is still there, and its edge came already. */
    fdent *e = ent(ep, fd);
    if (n > 0 && (inq >= 0 ? inq == 0 : (size_t)n < len && e->stream && !e->hup))
      mark_notready(ep, fd, RD);
    if (waitall && n > 0 && o->done + (size_t)n < s->len) {
      o->done += (size_t)n;
      if (ent(ep, fd)->notready & (1u << RD))
        return R_WAIT;
      continue;
    }
    if (multi && n > 0) {
      cq_push(ep, s->user_data, (int32_t)n, cf | IORING_CQE_F_MORE);
      if (ent(ep, fd)->notready & (1u << RD))
        return R_WAIT;
      continue;
    }
    cq_push(ep, s->user_data, (int32_t)(o->done + (size_t)n), cf);
    return R_DONE;
  }
}

/*
 * A SENDMSG continued after a short send (MSG_WAITALL): msg with its iovecs advanced past
 * the done bytes, in iov (at most SENDMSG_IOV of them: what is beyond goes in a later
 * round), and no control data (the kernel sends it with the first part only). Returns the
 * bytes left to send; *offered, those this round offers.
 */
#define SENDMSG_IOV 64
static size_t sendmsg_rest(const struct msghdr *m, size_t done, struct msghdr *out,
                           struct iovec *iov, size_t *offered) {
  size_t i = 0, left = 0;
  while (i < m->msg_iovlen && done >= m->msg_iov[i].iov_len)
    done -= m->msg_iov[i++].iov_len;
  *out = *m;
  out->msg_control = NULL;
  out->msg_controllen = 0;
  out->msg_iov = iov;
  out->msg_iovlen = 0;
  for (; i < m->msg_iovlen && out->msg_iovlen < SENDMSG_IOV; i++, done = 0) {
    iov[out->msg_iovlen].iov_base = (char *)m->msg_iov[i].iov_base + done;
    iov[out->msg_iovlen].iov_len = m->msg_iov[i].iov_len - done;
    left += iov[out->msg_iovlen++].iov_len;
  }
  *offered = left;
  for (; i < m->msg_iovlen; i++)
    left += m->msg_iov[i].iov_len;
  return left;
}

static size_t iov_total(const struct msghdr *m) {
  size_t n = 0;
  for (size_t i = 0; i < m->msg_iovlen; i++)
    n += m->msg_iov[i].iov_len;
  return n;
}

static int do_send(aw__ep *ep, epop *o) {
  struct io_uring_sqe *s = &o->sqe;
  bool waitall = s->msg_flags & MSG_WAITALL;
  int flags = (int)(s->msg_flags & ~(unsigned)MSG_WAITALL) | MSG_DONTWAIT;
  for (;;) {
    ssize_t n;
    size_t len, offered; /* left to send, and offered to this call */
    if (s->opcode == IORING_OP_SENDMSG) {
      const struct msghdr *m = (const struct msghdr *)(uintptr_t)s->addr;
      if (!o->done) {
        len = offered = iov_total(m);
        n = sendmsg(o->fd, m, flags);
      } else { /* the user's msghdr and iovecs stay as they were, as with the kernel */
        struct msghdr rest;
        struct iovec iov[SENDMSG_IOV];
        len = sendmsg_rest(m, o->done, &rest, iov, &offered);
        n = sendmsg(o->fd, &rest, flags);
      }
    } else {
      len = offered = s->len - o->done;
      n = send(o->fd, (const char *)(uintptr_t)s->addr + o->done, len, flags);
    }
    if (n < 0) {
      int err = errno;
      if (err == EINTR)
        continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        mark_notready(ep, o->fd, WR);
        return R_WAIT;
      }
      cq_push(ep, s->user_data, o->done ? (int32_t)o->done : -err, 0);
      return R_DONE;
    }
    if ((size_t)n < len) {
      if ((size_t)n < offered && !ent(ep, o->fd)->hup) /* the socket's buffer is full: */
        mark_notready(ep, o->fd, WR);                  /* room comes as an edge */
      if (waitall && n > 0) {
        o->done += (size_t)n;
        if (ent(ep, o->fd)->notready & (1u << WR))
          return R_WAIT;
        continue;
      }
    }
    cq_push(ep, s->user_data, (int32_t)(o->done + (size_t)n), 0);
    return R_DONE;
  }
}

/* A TCP socket born here tells, with each recv, what is left in its queue (TCP_INQ). */
static void tcp_inq_on(aw__ep *ep, int fd) {
  int one = 1;
  if (setsockopt(fd, SOL_TCP, TCP_INQ, &one, sizeof one) == 0)
    ep->fds[fd].inq = 1;
}

/* Whether the listener fd gives TCP sockets: asked once per listener (a stale answer after
 * user code reused the number costs a failed setsockopt, or TCP_INQ's saving, no more). */
static bool listener_tcp(aw__ep *ep, int fd) {
  fdent *e = ent(ep, fd);
  if (e->family == F_UNKNOWN) {
    int dom = 0;
    socklen_t l = sizeof dom;
    bool tcp =
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0 && (dom == AF_INET || dom == AF_INET6);
    e->family = tcp ? F_TCP : F_OTHER;
  }
  return e->family == F_TCP;
}

static int do_accept(aw__ep *ep, epop *o) {
  struct io_uring_sqe *s = &o->sqe;
  bool multi = is_multishot(o), tcp = listener_tcp(ep, o->fd);
  for (unsigned round = 0;; round++) {
    if (multi && round == MULTISHOT_MAX) {
      rerun_add(ep, o->fd);
      return R_WAIT;
    }
    int nfd =
        accept4(o->fd, (struct sockaddr *)(uintptr_t)s->addr, (socklen_t *)(uintptr_t)s->addr2,
                (int)(s->accept_flags & (SOCK_CLOEXEC | SOCK_NONBLOCK)));
    if (nfd < 0) {
      int err = errno;
      if (err == EINTR || err == ECONNABORTED)
        continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        mark_notready(ep, o->fd, RD);
        return R_WAIT;
      }
      cq_push(ep, s->user_data, -err, 0); /* EMFILE and friends end a multishot accept */
      return R_DONE;
    }
    fd_reset(ep, nfd); /* rule 1: born here */
    ent(ep, nfd)->stream = 1;
    if (tcp)
      tcp_inq_on(ep, nfd);
    if (!multi) {
      cq_push(ep, s->user_data, nfd, 0);
      return R_DONE;
    }
    cq_push(ep, s->user_data, nfd, IORING_CQE_F_MORE);
  }
}

/* Puts a connect parked by do_connect on the backoff list, due after its next interval. */
static void backoff_add(aw__ep *ep, epop *o) {
  o->backoff_ms = !o->backoff_ms ? 1
                                 : (uint8_t)(o->backoff_ms * 2 < BACKOFF_MAX_MS ? o->backoff_ms * 2
                                                                                : BACKOFF_MAX_MS);
  o->due_ms = now_ms() + o->backoff_ms;
  o->in_backoff = true;
  o->bnext = ep->backoff;
  ep->backoff = o;
}

static int do_connect(aw__ep *ep, epop *o) {
  struct io_uring_sqe *s = &o->sqe;
  if (o->connecting) {
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
      err = errno;
    cq_push(ep, s->user_data, -err, 0);
    return R_DONE;
  }
  if (!o->started) {
    int fl = fcntl(o->fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(o->fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
      cq_push(ep, s->user_data, -errno, 0);
      return R_DONE;
    }
    o->started = true;
    o->user_nb = fl & O_NONBLOCK;
    if (fd_idle(ent(ep, o->fd))) {
      fd_reset(ep, o->fd); /* rule 1: a new socket */
      ent(ep, o->fd)->stream = 1;
      sa_family_t fam = ((const struct sockaddr *)(uintptr_t)s->addr)->sa_family;
      if (fam == AF_INET || fam == AF_INET6)
        tcp_inq_on(ep, o->fd);
    }
  }
  int r;
  while ((r = connect(o->fd, (const struct sockaddr *)(uintptr_t)s->addr, (socklen_t)s->off)) < 0 &&
         errno == EINTR)
    ;
  if (r < 0 && (errno == EINPROGRESS || errno == EALREADY)) {
    o->connecting = true;
    mark_notready(ep, o->fd, WR);
    return R_WAIT;
  }
  if (r < 0 && errno == EAGAIN && !o->user_nb) {
    /* A unix listener's backlog is full. io_uring's connect on a blocking socket waits for
     * room (its worker blocks in connect(2), probed on 6.18), on a non-blocking one it says
     * -EAGAIN. The waiting connect sleeps on the listener, so its own socket gets no event
     * when room comes (it even reads as writable, and hung up, before it connects): tried
     * again after 1, 2, 4 ... BACKOFF_MAX_MS ms instead (aw__ep_enter's backoff_due). */
    o->in_backoff = true;
    return R_WAIT;
  }
  cq_push(ep, s->user_data, r < 0 ? -errno : 0, 0);
  return R_DONE;
}

/* Tries the connects whose backoff is over; returns the ms until the next one (-1: none). */
static int backoff_due(aw__ep *ep) {
  if (AW__LIKELY(!ep->backoff))
    return -1;
  int64_t now = now_ms();
  epop *list = ep->backoff;
  ep->backoff = NULL;
  while (list) {
    epop *o = list;
    list = o->bnext;
    o->in_backoff = false;
    if (o->where != W_FD || o->connecting) /* closed here: it waits for its cancel; or */
      continue;                            /* in progress now: readiness ends it */
    if (o->due_ms > now) {
      o->in_backoff = true;
      o->bnext = ep->backoff;
      ep->backoff = o;
      continue;
    }
    if (do_connect(ep, o) == R_DONE) {
      op_drop(ep, o);
    } else if (o->in_backoff) {
      backoff_add(ep, o);
    } else { /* EINPROGRESS now: readiness ends it */
      int r = fd_register(ep, o->fd, WR);
      if (r < 0) {
        cq_push(ep, o->sqe.user_data, r, 0);
        op_drop(ep, o);
      }
    }
  }
  int next = -1;
  for (epop *o = ep->backoff; o; o = o->bnext) {
    int left = o->due_ms > now ? (int)(o->due_ms - now) : 0;
    if (next < 0 || left < next)
      next = left;
  }
  return next;
}

static int do_rw(aw__ep *ep, epop *o) {
  struct io_uring_sqe *s = &o->sqe;
  bool wr = s->opcode == IORING_OP_WRITE || s->opcode == IORING_OP_WRITEV;
  struct iovec one, *iov;
  int n;
  if (s->opcode == IORING_OP_READ || s->opcode == IORING_OP_WRITE) {
    one.iov_base = (void *)(uintptr_t)s->addr;
    one.iov_len = s->len;
    iov = &one;
    n = 1;
  } else {
    iov = (struct iovec *)(uintptr_t)s->addr;
    n = (int)s->len;
  }
  for (;;) {
    ssize_t r =
        wr ? pwritev2(o->fd, iov, n, -1, RWF_NOWAIT) : preadv2(o->fd, iov, n, -1, RWF_NOWAIT);
    if (r >= 0) {
      cq_push(ep, s->user_data, (int32_t)r, 0);
      return R_DONE;
    }
    int err = errno;
    if (err == EINTR)
      continue;
    if (err == EAGAIN) {
      mark_notready(ep, o->fd, wr ? WR : RD);
      return R_WAIT;
    }
    if (err == EOPNOTSUPP) {
      ent(ep, o->fd)->kind = K_FILE; /* no RWF_NOWAIT here: a worker does the blocking call */
      return -EOPNOTSUPP;
    }
    cq_push(ep, s->user_data, -err, 0);
    return R_DONE;
  }
}

/* A POLL_ADD: revents from epoll, or 0 to ask poll(2) now. */
static int do_poll(aw__ep *ep, epop *o, uint32_t revents) {
  unsigned want = o->sqe.poll32_events | POLLERR | POLLHUP;
  unsigned got;
  if (revents) {
    got = 0;
    if (revents & EPOLLIN)
      got |= POLLIN;
    if (revents & EPOLLOUT)
      got |= POLLOUT;
    if (revents & EPOLLRDHUP)
      got |= POLLRDHUP | POLLIN;
    if (revents & EPOLLERR)
      got |= POLLERR;
    if (revents & EPOLLHUP)
      got |= POLLHUP;
  } else {
    struct pollfd p = {o->fd, (short)o->sqe.poll32_events, 0};
    if (poll(&p, 1, 0) <= 0)
      return R_WAIT;
    got = (unsigned)p.revents;
  }
  got &= want;
  if (!got)
    return R_WAIT;
  if (is_multishot(o)) {
    cq_push(ep, o->sqe.user_data, (int32_t)got, IORING_CQE_F_MORE);
    return R_STAY;
  }
  cq_push(ep, o->sqe.user_data, (int32_t)got, 0);
  return R_DONE;
}

static int attempt(aw__ep *ep, epop *o, uint32_t revents) {
  switch (o->sqe.opcode) {
  case IORING_OP_RECV:
    return do_recv(ep, o);
  case IORING_OP_SEND:
  case IORING_OP_SENDMSG:
    return do_send(ep, o);
  case IORING_OP_ACCEPT:
    return do_accept(ep, o);
  case IORING_OP_CONNECT:
    return do_connect(ep, o);
  case IORING_OP_POLL_ADD:
    return do_poll(ep, o, revents);
  default:
    return do_rw(ep, o);
  }
}

static void to_worker(aw__ep *ep, const struct io_uring_sqe *sqe) {
  int r = aw__epf_submit(ep, ep->L, sqe);
  if (r < 0)
    cq_push(ep, sqe->user_data, r, 0);
}

/*
 * Retries fd's parked ops of direction dir in order (readiness came), until one must wait
 * again. revents: the epoll event (0 for a retry without one).
 */
static void run_queue(aw__ep *ep, int fd, int dir, uint32_t revents) {
  ep->fds[fd].notready &= (uint8_t) ~(1u << dir);
  epop *o = ep->fds[fd].head[dir];
  while (o) {
    epop *next = o->next;
    int r = attempt(ep, o, revents); /* may grow the table (accept): no fdent pointer kept */
    if (r == R_WAIT && o->sqe.opcode != IORING_OP_POLL_ADD)
      return; /* (a poll that was not for this event takes nothing: the rest get their turn) */
    if (r == -EOPNOTSUPP) {
      to_worker(ep, &o->sqe);
      r = R_DONE;
    }
    if (r == R_DONE)
      op_drop(ep, o);
    o = next;
  }
}

/* ---- cancellation ---------------------------------------------------------------------------- */

static void cancel_one(aw__ep *ep, epop *o) {
  cq_push(ep, o->sqe.user_data, -ECANCELED, 0);
  op_drop(ep, o);
}

static void do_cancel(aw__ep *ep, const struct io_uring_sqe *s) {
  unsigned fl = s->cancel_flags;
  bool any = fl & IORING_ASYNC_CANCEL_ANY, by_fd = fl & IORING_ASYNC_CANCEL_FD;
  bool all = any || (fl & IORING_ASYNC_CANCEL_ALL);
  int count = 0;
  /* parked ops first */
  if (any) {
    for (unsigned i = 0; i < ep->hash_cap; i++)
      while (ep->hash[i]) {
        cancel_one(ep, ep->hash[i]);
        count++;
      }
  } else if (by_fd) {
    if ((unsigned)s->fd < ep->nfds)
      for (int d = 0; d < NQ && (all || !count); d++)
        while (ep->fds[s->fd].head[d] && (all || !count)) {
          cancel_one(ep, ep->fds[s->fd].head[d]);
          count++;
        }
    for (epop *o = ep->orphans, *n; o && (all || !count); o = n) {
      n = o->next;
      if (o->fd == s->fd) {
        cancel_one(ep, o);
        count++;
      }
    }
    if (ep->wake_op && ep->wake_op->fd == s->fd && (all || !count)) {
      cancel_one(ep, ep->wake_op);
      count++;
    }
  } else if (ep->hash_cap) {
    for (epop *o = ep->hash[hash_of(ep, s->addr)], *n; o && (all || !count); o = n) {
      n = o->hnext;
      if (o->sqe.user_data == s->addr) {
        cancel_one(ep, o);
        count++;
        n = ep->hash[hash_of(ep, s->addr)]; /* the chain changed: from its start */
      }
    }
  }
  int res;
  if (!all && count) {
    res = 0;
  } else if (by_fd || any) {
    int w = aw__epf_cancel_fd(ep, any ? -1 : s->fd, any);
    count += w > 0 ? w : 0;
    res = count ? (all ? count : 0) : -ENOENT;
  } else {
    res = count ? count : aw__epf_cancel(ep, s->addr); /* 0, -EALREADY or -ENOENT */
  }
  cq_push(ep, s->user_data, res, 0);
}

/* ---- submission ---------------------------------------------------------------------------------
 */

struct io_uring_sqe *aw__ep_get_sqe(aw__ep *ep) {
  if (ep->sq_n == ep->sq_entries)
    return NULL;
  /* not zeroed, as the kernel's SQ ring is not: the prep helpers set every field */
  return &ep->sq[ep->sq_n++];
}

unsigned aw__ep_sq_ready(const aw__ep *ep) { return ep->sq_n; }

static bool pollable_rw(const struct io_uring_sqe *s) {
  switch (s->opcode) {
  case IORING_OP_READ:
  case IORING_OP_WRITE:
  case IORING_OP_READV:
  case IORING_OP_WRITEV:
    return s->off == (uint64_t)-1 && !(s->flags & IOSQE_BUFFER_SELECT) && !s->rw_flags;
  default:
    return false;
  }
}

static int dir_of(const struct io_uring_sqe *s) {
  switch (s->opcode) {
  case IORING_OP_SEND:
  case IORING_OP_SENDMSG:
  case IORING_OP_CONNECT:
  case IORING_OP_WRITE:
  case IORING_OP_WRITEV:
    return WR;
  case IORING_OP_POLL_ADD: /* both: in the queue every readiness runs */
    if (s->poll32_events & POLLOUT)
      return s->poll32_events & POLLIN ? RW : WR;
    return RD;
  default:
    return RD;
  }
}

static void start(aw__ep *ep, const struct io_uring_sqe *s) {
  switch (s->opcode) {
  case IORING_OP_NOP:
    cq_push(ep, s->user_data, 0, 0);
    return;
  case IORING_OP_ASYNC_CANCEL:
    do_cancel(ep, s);
    return;
  case IORING_OP_CLOSE: {
    int r = close(s->fd);
    int res = r < 0 && errno != EINTR ? -errno : 0; /* EINTR: the descriptor is gone anyway */
    if (s->fd >= 0)
      fd_reset(ep, s->fd);
    cq_push(ep, s->user_data, res, 0);
    return;
  }
  case IORING_OP_SHUTDOWN:
    cq_push(ep, s->user_data, shutdown(s->fd, (int)s->len) < 0 ? -errno : 0, 0);
    return;
  case IORING_OP_POLL_ADD:
    if (s->fd == ep->wake_fd) { /* always in the epoll set (level-triggered): just remember */
      epop *o = op_alloc(ep);
      memset(o, 0, sizeof *o);
      o->sqe = *s;
      o->fd = s->fd;
      if (ep->wake_op)
        cancel_one(ep, ep->wake_op);
      o->where = W_WAKE;
      ep->wake_op = o;
      hash_add(ep, o);
      return;
    }
    break;
  case IORING_OP_RECV:
  case IORING_OP_SEND:
  case IORING_OP_SENDMSG:
  case IORING_OP_CONNECT:
    break;
  case IORING_OP_ACCEPT: {
    int r = set_nonblock(s->fd); /* accept4 has no MSG_DONTWAIT */
    if (r < 0) {
      cq_push(ep, s->user_data, r, 0);
      return;
    }
    break;
  }
  default:
    if (pollable_rw(s)) {
      fdent *e = s->fd >= 0 ? ent(ep, s->fd) : NULL;
      if (e && e->kind == K_UNKNOWN) /* may epoll watch it? a regular file says EPERM */
        fd_register(ep, s->fd, dir_of(s));
      if (e && ep->fds[s->fd].kind == K_POLL)
        break;
    }
    to_worker(ep, s);
    return;
  }
  if (s->fd < 0) {
    cq_push(ep, s->user_data, -EBADF, 0);
    return;
  }
  epop tmp;
  memset(&tmp, 0, sizeof tmp);
  tmp.sqe = *s;
  tmp.fd = s->fd;
  tmp.dir = (uint8_t)dir_of(s);
  fdent *e = ent(ep, s->fd);
  int r = R_WAIT;
  /* behind ops already waiting in that direction, and not tried when known not ready */
  if (!e->head[tmp.dir] && !(e->notready & (1u << tmp.dir)))
    r = attempt(ep, &tmp, 0);
  else if (s->opcode == IORING_OP_CONNECT || s->opcode == IORING_OP_POLL_ADD)
    r = attempt(ep, &tmp, 0); /* a connect must start; a poll asks poll(2) */
  if (r == -EOPNOTSUPP) {
    to_worker(ep, s);
    return;
  }
  if (r != R_WAIT && r != R_STAY)
    return;
  epop *o;
  r = park(ep, &tmp, &o);
  if (r == 0 && o->in_backoff)
    backoff_add(ep, o);
  if (r == -EPERM && pollable_rw(s)) {
    to_worker(ep, s);
    return;
  }
  if (r < 0) /* a multishot op's CQEs so far said more would come: this one ends it */
    cq_push(ep, s->user_data, tmp.done ? (int32_t)tmp.done : r, 0);
}

int aw__ep_submit(aw__ep *ep) {
  unsigned n = ep->sq_n;
  /* an SQE a start submits (none does today) would land after these: take them first */
  for (unsigned i = 0; i < n; i++)
    start(ep, &ep->sq[i]);
  ep->sq_n = 0;
  aw__epf_flush(ep); /* the file ops among them go to the pool now */
  return (int)n;
}

/* ---- waiting
 * ------------------------------------------------------------------------------------- */

static void wake_event(aw__ep *ep) {
  epop *o = ep->wake_op;
  if (!o) { /* nobody polls it: reset it here, or level-triggered epoll reports it for ever */
    uint64_t v;
    ssize_t n = read(ep->wake_fd, &v, sizeof v);
    (void)n;
    return;
  }
  bool multi = is_multishot(o);
  cq_push(ep, o->sqe.user_data, POLLIN, multi ? IORING_CQE_F_MORE : 0);
  if (!multi)
    op_drop(ep, o);
}

static void handle_event(aw__ep *ep, const struct epoll_event *ev) {
  if (ev->data.u64 == WAKE_DATA) {
    wake_event(ep);
    return;
  }
  int fd = (int)(uint32_t)ev->data.u64;
  if ((unsigned)fd >= ep->nfds || ep->fds[fd].gen != (uint32_t)(ev->data.u64 >> 32))
    return; /* an old registration of a descriptor since closed or born again */
  uint32_t m = ev->events;
  if (m & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    ep->fds[fd].hup = 1;
  /* (an empty queue only forgets "not ready": a socket watched both ways reports both) */
  if (m & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    run_queue(ep, fd, RD, m);
  if (m & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
    if (ep->fds[fd].head[WR])
      run_queue(ep, fd, WR, m);
    else
      ep->fds[fd].notready &= (uint8_t) ~(1u << WR);
  }
  if (ep->fds[fd].head[RW])
    run_queue(ep, fd, RW, m);
}

static void run_reruns(aw__ep *ep) {
  unsigned n = ep->rerun_n;
  if (!n)
    return;
  int fds[64];
  if (n > 64)
    n = 64;
  memcpy(fds, ep->rerun, n * sizeof *fds);
  memmove(ep->rerun, ep->rerun + n, (ep->rerun_n - n) * sizeof *fds);
  ep->rerun_n -= n;
  for (unsigned i = 0; i < n; i++)
    if ((unsigned)fds[i] < ep->nfds)
      run_queue(ep, fds[i], RD, 0);
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int aw__ep_enter(aw__ep *ep, int timeout_ms) {
  aw__ep_submit(ep);
  drain_posted(ep);
  run_reruns(ep);
  int next_try = backoff_due(ep);
  aw__epf_flush(ep);
  if (ep->cq_n || ep->rerun_n)
    timeout_ms = 0;
  if (next_try >= 0 && (timeout_ms < 0 || timeout_ms > next_try))
    timeout_ms = next_try;
  int next_check = verify_due(ep);
  if (next_check >= 0 && (timeout_ms < 0 || timeout_ms > next_check))
    timeout_ms = next_check;
  if (timeout_ms != 0 && aw__epf_outstanding(ep) > 0) {
    /* a worker's completion is likely soon, and a sleeping vCPU takes tens of us to wake */
    int64_t until = mono_ns() + SPIN_NS;
    while (!atomic_load_explicit(&ep->posted, memory_order_relaxed) && mono_ns() < until)
      __builtin_ia32_pause();
    if (atomic_load_explicit(&ep->posted, memory_order_relaxed))
      timeout_ms = 0;
  }
  /* (embedded, the wake eventfd must be read here, or the host's epoll spins on ours) */
  if (timeout_ms == 0 && !ep->parked &&
      !atomic_load_explicit(&ep->embedded, memory_order_relaxed)) {
    drain_posted(ep); /* nothing to ask epoll: no op waits on readiness */
    return 0;
  }
  struct epoll_event evs[EVENTS_MAX];
  if (timeout_ms != 0) {
    atomic_store_explicit(&ep->sleeping, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&ep->posted, memory_order_seq_cst))
      timeout_ms = 0;
  }
  int n = epoll_wait(ep->epfd, evs, EVENTS_MAX, timeout_ms);
  int err = n < 0 ? errno : 0;
  if (timeout_ms != 0)
    atomic_store_explicit(&ep->sleeping, 0, memory_order_relaxed);
  for (int i = 0; i < n; i++)
    handle_event(ep, &evs[i]);
  aw__epf_flush(ep); /* regular files' reads handed over at readiness */
  drain_posted(ep);
  if (n < 0)
    return err == EINTR ? -EINTR : -err;
  if (n == 0 && timeout_ms != 0 && !ep->cq_n)
    return -ETIME;
  return 0;
}

/* ---- life
 * ---------------------------------------------------------------------------------------- */

int aw__ep_new(aw_loop *L, unsigned sq_entries, aw__ep **out) {
  if (!sq_entries)
    sq_entries = 256;
  int epfd = aw__fd_above_stdio(epoll_create1(EPOLL_CLOEXEC));
  if (epfd < 0)
    return -errno;
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.u64 = WAKE_DATA;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, L->wake_fd, &ev) < 0) {
    int e = errno;
    close(epfd);
    return -e;
  }
  aw__ep *ep = aw__calloc(sizeof *ep);
  ep->L = L;
  ep->epfd = epfd;
  ep->wake_fd = L->wake_fd;
  ep->sq_entries = sq_entries;
  ep->sq = aw__calloc(sq_entries * sizeof *ep->sq);
  ep->cq_cap = CQ_MIN;
  while (ep->cq_cap < sq_entries * 4)
    ep->cq_cap *= 2;
  ep->cq = aw__alloc(ep->cq_cap * sizeof *ep->cq);
  atomic_init(&ep->posted, NULL);
  atomic_init(&ep->sleeping, 0);
  *out = ep;
  return 0;
}

void aw__ep_free(aw__ep *ep) {
  if (!ep)
    return;
  aw__epf_free(ep);
  drain_posted(ep);
  for (unsigned i = 0; i < ep->hash_cap; i++)
    while (ep->hash[i])
      op_drop(ep, ep->hash[i]);
  while (ep->free_ops) {
    epop *o = ep->free_ops;
    ep->free_ops = o->next;
    aw__free(o, sizeof *o);
  }
  if (ep->hash)
    aw__free(ep->hash, ep->hash_cap * sizeof *ep->hash);
  if (ep->fds)
    aw__free(ep->fds, ep->nfds * sizeof *ep->fds);
  if (ep->vq)
    aw__free(ep->vq, ep->vq_cap * sizeof *ep->vq);
  if (ep->rerun)
    aw__free(ep->rerun, ep->rerun_cap * sizeof *ep->rerun);
  aw__free(ep->cq, ep->cq_cap * sizeof *ep->cq);
  aw__free(ep->sq, ep->sq_entries * sizeof *ep->sq);
  close(ep->epfd);
  aw__free(ep, sizeof *ep);
}

int aw__ep_fd(aw__ep *ep) {
  atomic_store_explicit(
      &ep->embedded, true,
      memory_order_relaxed); /* set once on the loop thread, before any host waits on it */
  return ep->epfd;
}

void aw__ep_caps(const aw__ep *ep, aw_io_caps *caps) {
  static const uint8_t ops[] = {
      IORING_OP_NOP,      IORING_OP_READV,    IORING_OP_WRITEV,   IORING_OP_FSYNC,
      IORING_OP_POLL_ADD, IORING_OP_SENDMSG,  IORING_OP_ACCEPT,   IORING_OP_ASYNC_CANCEL,
      IORING_OP_CONNECT,  IORING_OP_OPENAT,   IORING_OP_CLOSE,    IORING_OP_STATX,
      IORING_OP_READ,     IORING_OP_WRITE,    IORING_OP_SEND,     IORING_OP_RECV,
      IORING_OP_SPLICE,   IORING_OP_SHUTDOWN, IORING_OP_RENAMEAT, IORING_OP_UNLINKAT,
      IORING_OP_MKDIRAT,
  };
  memset(caps->op_supported, 0, sizeof caps->op_supported);
  for (size_t i = 0; i < sizeof ops; i++)
    caps->op_supported[ops[i]] = true; /* not SEND_ZC: io/send.c then sends plainly */
  caps->nops = IORING_OP_LAST < 64 ? IORING_OP_LAST : 64;
  caps->sq_entries = ep->sq_entries;
  caps->cq_entries = ep->cq_cap;
  caps->nodrop = true; /* the CQ grows */
  caps->ext_arg = caps->fast_poll = false;
  caps->single_issuer = caps->defer_taskrun = caps->coop_taskrun = false;
  caps->inflight_limit = ep->cq_cap - 8;
}
