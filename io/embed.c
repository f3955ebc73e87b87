/*
 * io/embed.c — aw_loop_fd / aw_loop_timeout: the loop nested in a host's
 * event loop (epoll, GLib, libuv), as uv_backend_fd / uv_backend_timeout.
 *
 * The descriptor is an epoll set of the loop's own holding:
 *
 *   timerfd    armed at the next timer's due time, or "now" (1 ns) when the
 *              loop has something runnable (an immediate, a post, a CQE
 *              ready, SQEs to submit); disarmed when there is no timer
 *   ring_efd   io_uring: an eventfd registered with the ring (io_uring_register_eventfd).
 *              On a DEFER_TASKRUN ring (what io/uring.c sets up where it can) a
 *              completion is task work that runs only when this thread enters
 *              the kernel, and polling the ring fd does not wake on it; the
 *              kernel does signal a registered eventfd when such task work is
 *              queued (and whenever it posts CQEs).
 *   wake_fd    the loop's own eventfd, which other threads' posts write while
 *              the loop has announced a sleep. Watched directly, not through
 *              the ring's poll on it: on Linux 6.18 with DEFER_TASKRUN, task
 *              work queued from inside an eventfd write (the ring's poll on
 *              wake_fd firing) signals the registered eventfd only the first
 *              time (measured: later rounds never came, within 2 s, while a
 *              ring without DEFER_TASKRUN signalled every round). Socket and
 *              file completions are not queued from an eventfd write and do
 *              signal it. Also watched, for the same reason, on a loop
 *              without a ring.
 *   be_fd      epoll backend: its own descriptor (aw__ep_fd), readable while
 *              completions may be ready; the turn's I/O phase collects them.

 * Level-triggered, and every wake-up is consumed by someone, so nothing
 * spins: the timerfd is re-armed (which clears it) whenever its target
 * changes; ring_efd is read at the start and the end of each turn and, if it
 * was signalled, the pending task work is run (io_uring_get_events) so the
 * CQEs it makes are seen — the turn's dispatch takes them, or the end of the
 * turn says "runnable now"; a signal that comes after that read stays in the
 * eventfd and wakes the host. No wake-up is lost: every read that takes a
 * signal is followed by a get_events that runs whatever the signal was for.
 *
 * Posts from other threads write the wake eventfd only while the loop has
 * announced a sleep (executor/inbox.h). So the end of an embedded turn that
 * leaves nothing runnable announces one, exactly as the loop does before it
 * blocks itself, and the start of the next turn takes it back.
 *
 * The hooks: aw_loop_run_once / aw_loop_run call aw__embed_begin and
 * aw__embed_end (executor/loop.c) when the loop is embedded; aw_loop_free
 * calls aw__embed_free. The loop reaches them through L->embed_vt, which
 * aw_loop_fd sets, so that executor/ does not depend on io/.
 */
#include "io/backend.h"
#include "workers/pool.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define ARMED_NONE (-1)
#define ARMED_NOW (-2)

struct aw__embed {
  int epfd;
  int tfd;
  int ring_efd;  /* -1 unless the backend is io_uring */
  int be_fd;     /* the backend's descriptor we watch (ring_efd on io_uring), or -1 */
  int64_t armed; /* the timerfd's target: loop ms, ARMED_NOW or ARMED_NONE */
  bool sleeping; /* a sleep is announced to the inbox */
};

static void close_fd(int fd) {
  if (fd >= 0)
    close(fd);
}

/* Reads an eventfd; true if it had been signalled. */
static bool efd_take(int fd) {
  uint64_t v;
  return read(fd, &v, sizeof v) == (ssize_t)sizeof v;
}

/* ring_efd signalled: run the task work it stands for, so its CQEs are visible. */
static void take_ring_signal(aw_loop *L) {
  aw__embed *E = L->embed;
  if (E->ring_efd < 0 || !L->io || !efd_take(E->ring_efd))
    return;
  aw__be_embed_signalled(L->io);
}

/* Something the next turn would run without waiting. */
static bool runnable_now(aw_loop *L) {
  if (L->imms.count || L->nclosing || !aw__ring_empty(&L->micro) || !aw__ring_empty(&L->ticks) ||
      aw__inbox_ready(&L->inbox))
    return true;
  aw__io *R = L->io;
  if (!R)
    return false;
  return aw__be_cq_ready(R) || aw__be_sq_ready(R) || R->cancel_head ||
         (!R->wake_armed && R->wake_poll) ||
         (R->backlog_head && R->bounded < R->caps.inflight_limit) || R->ubacklog_head;
}

static int arm(aw_loop *L, int64_t target) {
  aw__embed *E = L->embed;
  if (target == E->armed)
    return 0;
  struct itimerspec its = {{0, 0}, {0, 0}};
  int flags = 0;
  if (target == ARMED_NOW) {
    its.it_value.tv_nsec = 1; /* expires at once: readable until re-armed */
  } else if (target >= 0) {
    uint64_t ns = L->base_ns + (uint64_t)target * 1000000u;
    its.it_value.tv_sec = (time_t)(ns / 1000000000u);
    its.it_value.tv_nsec = (long)(ns % 1000000000u);
    flags = TFD_TIMER_ABSTIME;
  }
  if (timerfd_settime(E->tfd, flags, &its, NULL) < 0)
    return -errno;
  E->armed = target;
  return 0;
}

void aw__embed_begin(aw_loop *L) {
  aw__embed *E = L->embed;
  if (E->sleeping) {
    aw__inbox_awake(&L->inbox);
    E->sleeping = false;
  }
  take_ring_signal(L); /* this turn's dispatch gets the completions */
}

/* Brings the descriptor up to date; returns what aw_loop_timeout reports. */
int aw__embed_end(aw_loop *L) {
  aw__embed *E = L->embed;
  if (AW__UNLIKELY(aw__inbox_forked(&L->inbox)))
    return -1;       /* the parent's loop in a fork()ed child: it does not run here */
  aw__work_flush(L); /* jobs made after the I/O phase go to the pool now, as a sleep would */
  aw__io *R = L->io;
  unsigned queued = R ? aw__be_sq_ready(R) : 0;
  if (queued) {
    /* SQEs queued after the I/O phase (by immediates, say) go in now, not a turn later;
     * one the kernel refuses for now stays queued and keeps the fd readable */
    (void)aw__be_submit(R);
    R->stats.enters++;
    R->stats.submitted += queued - aw__be_sq_ready(R);
  }
  take_ring_signal(L);
  int timeout = 0;
  if (!runnable_now(L) && !L->failed) {
    while (efd_take(L->wake_fd)) {
    } /* before the announcement: a post after it writes again */
    if (!E->sleeping) {
      E->sleeping = true;
      if (aw__inbox_sleep(&L->inbox)) { /* a post came in meanwhile */
        aw__inbox_awake(&L->inbox);
        E->sleeping = false;
      }
    }
    if (E->sleeping) {
      int64_t t = aw__timers_timeout(L);
      timeout = t > INT32_MAX ? INT32_MAX : (int)t;
    }
  }
  int64_t target = timeout == 0 ? ARMED_NOW : timeout < 0 ? ARMED_NONE : (int64_t)L->now + timeout;
  (void)arm(L, target); /* fails only on bad arguments; the timeout still says it */
  return timeout;
}

void aw__embed_free(aw_loop *L) {
  aw__embed *E = L->embed;
  if (!E)
    return;
  if (E->sleeping)
    aw__inbox_awake(&L->inbox);
  close_fd(E->epfd);
  close_fd(E->tfd);
  close_fd(E->ring_efd); /* the ring is gone (aw__io_free), and its registration with it */
  aw__free(E, sizeof *E);
  L->embed = NULL;
  L->embed_vt = NULL;
}

static int watch(int epfd, int fd) {
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int aw_loop_fd(aw_loop *L) {
  if (!L)
    return -EINVAL;
  if (!aw__on_owner(L))
    return -EPERM;
  if (L->freeing)
    return -ESHUTDOWN;
  if (L->embed)
    return L->embed->epfd;
  aw__embed *E = aw__calloc(sizeof *E);
  E->ring_efd = E->be_fd = -1;
  E->armed = ARMED_NONE;
  int r = 0;
  E->epfd = aw__fd_above_stdio(epoll_create1(EPOLL_CLOEXEC));
  E->tfd = aw__fd_above_stdio(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (E->epfd < 0 || E->tfd < 0) {
    r = -errno;
    goto fail;
  }
  if (L->io && aw__be_embed_wants_eventfd(L->io)) {
    E->ring_efd = aw__fd_above_stdio(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (E->ring_efd < 0) {
      r = -errno;
      goto fail;
    }
  }
  if (L->io && (E->be_fd = aw__be_embed_attach(L->io, E->ring_efd)) < 0) {
    r = E->be_fd;
    E->be_fd = -1;
    goto fail;
  }
  if ((r = watch(E->epfd, E->tfd)) < 0 || (r = watch(E->epfd, L->wake_fd)) < 0 ||
      (E->be_fd >= 0 && (r = watch(E->epfd, E->be_fd)) < 0))
    goto fail;
  static const aw__embed_vt hooks = {aw__embed_begin, aw__embed_end, aw__embed_free};
  L->embed = E;
  L->embed_vt = &hooks;
  aw__hrtime_ms(L);
  aw__embed_end(L);
  return E->epfd;
fail:
  if (E->be_fd >= 0)
    aw__be_embed_detach(L->io);
  close_fd(E->epfd);
  close_fd(E->tfd);
  close_fd(E->ring_efd);
  aw__free(E, sizeof *E);
  return r;
}

/* Without aw_loop_fd: what aw__embed_end would say, changing nothing. */
static int plain_timeout(aw_loop *L) {
  if (runnable_now(L))
    return 0;
  int64_t t = aw__timers_timeout(L);
  return t > INT32_MAX ? INT32_MAX : (int)t;
}

int aw_loop_timeout(aw_loop *L) {
  if (!L || !aw__on_owner(L) || L->freeing)
    return -1;
  if (!L->embed)
    return plain_timeout(L);
  aw__hrtime_ms(L);
  return aw__embed_end(L);
}
