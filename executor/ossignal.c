/*
 * executor/ossignal.c — OS signals as macrotasks of every loop that asked
 * (aw_loop_on_signal), as Node's process.on('SIGTERM').
 *
 * The path of one signal:
 *
 *   handler (any thread)   raised[signo] = 1; write one byte to the pipe
 *   signal thread          wakes on the pipe, drains it, takes every raised
 *                          flag (exchange with 0) and, under the registry
 *                          lock, posts deliver(signo) to each loop that
 *                          wants signo and has none pending for it
 *   the loop's thread      deliver clears the pending bit and calls the
 *                          loop's registrations for signo, each a macrotask
 *
 * The handler does two async-signal-safe things and never touches a loop,
 * so a signal that arrives while loops come and go is merely not delivered
 * to them. A full pipe loses nothing: the byte already in it wakes the
 * thread, which looks at every flag.
 *
 * The registry (all under `lock`): a list of `sigloop`s, one per loop with
 * registrations. `want` and `pending` are what the signal thread reads and
 * writes; the registrations array belongs to the loop's thread, which
 * changes it under the lock (so the signal thread's reads of `want` stay
 * right) and reads it without (nobody else writes it). While a delivery runs
 * on the loop, removed registrations are only marked (fn = NULL) and the
 * array is compacted afterwards, so callbacks may register and unregister.
 *
 * Per signal: how many registrations it has over all loops, and the
 * disposition it had before the first one (put back when the count drops to
 * 0). The thread runs while any registration exists; it is stopped through
 * an eventfd of its own, so a new thread started meanwhile (another loop
 * registering) cannot steal its wake-up. Lock order: `lock` before the
 * inbox's registry lock (the thread posts under `lock`); aw_loop_free calls
 * in here before it touches its inbox.
 */
#define _GNU_SOURCE /* pipe2 */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NSIGS 65 /* signals 1..64 on Linux: bit signo - 1 of a uint64_t */

typedef struct reg {
  int signo;
  aw_task_fn fn; /* NULL: removed while a delivery ran (compacted afterwards) */
  void *arg;
} reg;

typedef struct sigloop {
  struct sigloop *next;
  aw_loop *loop;
  uint64_t want;    /* signals with a live registration on this loop */
  uint64_t pending; /* signals whose deliver task is queued and not yet run */
  reg *regs;
  uint32_t nregs, cap;
  uint32_t delivering; /* a deliver task is calling regs */
  bool dirty;          /* marked removals to compact */
} sigloop;

typedef struct sigthread {
  pthread_t tid;
  int stop_fd;
} sigthread;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static sigloop *loops;
static uint64_t nregs_total;
static uint32_t sig_count[NSIGS];
static struct sigaction sig_old[NSIGS];
static sigthread *thread;
static int pipe_rd = -1;

/* What the handler reads: lock-free atomics, so async-signal-safe. */
static _Atomic int raised[NSIGS];
static _Atomic int pipe_wr = -1;

static inline uint64_t bit_of(int signo) { return (uint64_t)1 << (signo - 1); }

/* ---- the handler -------------------------------------------------------------------------- */

static void on_os_signal(int signo) {
  int saved = errno;
  if (signo > 0 && signo < NSIGS)
    atomic_store_explicit(&raised[signo], 1, memory_order_release);
  int fd = atomic_load_explicit(&pipe_wr, memory_order_acquire);
  if (fd >= 0) {
    char c = (char)signo;
    ssize_t n = write(fd, &c, 1); /* EAGAIN: a byte is there already, the thread will look */
    (void)n;
  }
  errno = saved;
}

/* ---- the signal thread -------------------------------------------------------------------- */

static void deliver(aw_loop *L, void *arg);

static sigloop *find(aw_loop *L) {
  for (sigloop *s = loops; s; s = s->next)
    if (s->loop == L)
      return s;
  return NULL;
}

/* Under the lock: each raised signal to each loop that wants it and has no call queued. */
static void dispatch(void) {
  for (int signo = 1; signo < NSIGS; signo++) {
    if (!atomic_load_explicit(&raised[signo], memory_order_relaxed) ||
        !atomic_exchange_explicit(&raised[signo], 0, memory_order_acq_rel))
      continue;
    uint64_t bit = bit_of(signo);
    for (sigloop *s = loops; s; s = s->next) {
      if (!(s->want & bit) || (s->pending & bit))
        continue;
      /* never blocks; the loop is alive (aw_loop_free removes it under this lock first) */
      if (aw_loop_post(s->loop, deliver, (void *)(intptr_t)signo) == 0)
        s->pending |= bit;
    }
  }
}

static void *signal_thread(void *arg) {
  sigthread *me = arg;
  struct pollfd p[2] = {{.fd = pipe_rd, .events = POLLIN}, {.fd = me->stop_fd, .events = POLLIN}};
  for (;;) {
    int r = poll(p, 2, -1);
    if (r < 0)
      continue; /* EINTR (every signal is blocked here, but a debugger may stop us) */
    if (p[1].revents)
      return NULL;
    if (p[0].revents) {
      char buf[256];
      while (read(pipe_rd, buf, sizeof buf) > 0) {
      }
      pthread_mutex_lock(&lock);
      dispatch();
      pthread_mutex_unlock(&lock);
    }
  }
}

/* Under the lock: the pipe (once) and a thread (while none runs). */
static int thread_start(void) {
  if (thread)
    return 0;
  if (pipe_rd < 0) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
      return -errno;
    int rd = aw__fd_above_stdio(fds[0]);
    int wr = rd < 0 ? -1 : aw__fd_above_stdio(fds[1]);
    if (rd < 0 || wr < 0) {
      int e = errno;
      if (rd >= 0)
        close(rd);
      else
        close(fds[1]);
      return -e;
    }
    pipe_rd = rd;
    atomic_store_explicit(&pipe_wr, wr, memory_order_release);
  }
  sigthread *t = calloc(1, sizeof *t);
  if (!t)
    return -ENOMEM;
  t->stop_fd = aw__fd_above_stdio(eventfd(0, EFD_CLOEXEC));
  if (t->stop_fd < 0) {
    int e = errno;
    free(t);
    return -e;
  }
  /* the thread starts with every signal blocked, so the handler never runs on it */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024); /* it polls and posts: little, even sanitized */
  int r = pthread_create(&t->tid, &attr, signal_thread, t);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r != 0) {
    close(t->stop_fd);
    free(t);
    return -r;
  }
  thread = t;
  return 0;
}

/* Under the lock: takes the thread away for thread_join (after the lock is released). */
static sigthread *thread_take(void) {
  sigthread *t = nregs_total == 0 ? thread : NULL;
  if (t)
    thread = NULL;
  return t;
}

static void thread_join(sigthread *t) {
  if (!t)
    return;
  uint64_t one = 1;
  ssize_t n = write(t->stop_fd, &one, sizeof one);
  (void)n;
  pthread_join(t->tid, NULL);
  close(t->stop_fd);
  free(t);
}

/* ---- dispositions ------------------------------------------------------------------------- */

static bool refused(int signo) {
  switch (signo) {
  case SIGKILL:
  case SIGSTOP:
  case SIGSEGV:
  case SIGBUS:
  case SIGFPE:
  case SIGILL:
  case SIGTRAP:
  case SIGSYS:
    return true;
  default:
    return signo < 1 || signo >= NSIGS;
  }
}

/* Under the lock: one more registration for signo (the first installs the handler). */
static int sig_ref(int signo) {
  if (sig_count[signo]++ > 0)
    return 0;
  atomic_store(&raised[signo], 0); /* one raised before anybody registered is not delivered */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_os_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(signo, &sa, &sig_old[signo]) < 0) {
    sig_count[signo]--;
    return -errno;
  }
  return 0;
}

static void sig_unref(int signo) {
  if (--sig_count[signo] == 0)
    sigaction(signo, &sig_old[signo], NULL);
}

/* ---- fork ---------------------------------------------------------------------------------- */

static void fork_prepare(void) { pthread_mutex_lock(&lock); }
static void fork_parent(void) { pthread_mutex_unlock(&lock); }

/* The child: nothing registered, the old dispositions back, no thread, no pipe (shared). */
static void fork_child(void) {
  pthread_mutex_init(&lock, NULL);
  for (int signo = 1; signo < NSIGS; signo++)
    if (sig_count[signo]) {
      sigaction(signo, &sig_old[signo], NULL);
      sig_count[signo] = 0;
    }
  int wr = atomic_exchange(&pipe_wr, -1);
  if (wr >= 0)
    close(wr);
  if (pipe_rd >= 0)
    close(pipe_rd);
  pipe_rd = -1;
  if (thread) { /* it did not come along: nothing to join */
    close(thread->stop_fd);
    free(thread);
    thread = NULL;
  }
  while (loops) {
    sigloop *s = loops;
    loops = s->next;
    free(s->regs);
    free(s);
  }
  nregs_total = 0;
}

static void atfork_init(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* ---- registrations ------------------------------------------------------------------------- */

static int check(aw_loop *L, int signo, aw_task_fn fn) {
  if (!L || !fn || refused(signo))
    return -EINVAL;
  if (!aw__on_owner(L))
    return -EPERM;
  if (L->freeing)
    return -ESHUTDOWN;
  return 0;
}

static reg *find_reg(sigloop *s, int signo, aw_task_fn fn, void *arg) {
  for (uint32_t i = 0; i < s->nregs; i++) {
    reg *r = &s->regs[i];
    if (r->fn == fn && r->arg == arg && r->signo == signo)
      return r;
  }
  return NULL;
}

static uint64_t want_of(const sigloop *s) {
  uint64_t w = 0;
  for (uint32_t i = 0; i < s->nregs; i++)
    if (s->regs[i].fn)
      w |= bit_of(s->regs[i].signo);
  return w;
}

/* Under the lock: drops marked registrations; frees s if nothing is left (then false). */
static bool sigloop_tidy(sigloop *s) {
  if (s->delivering)
    return true;
  if (s->dirty) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->nregs; i++)
      if (s->regs[i].fn)
        s->regs[k++] = s->regs[i];
    s->nregs = k;
    s->dirty = false;
  }
  if (s->nregs)
    return true;
  for (sigloop **pp = &loops; *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  free(s->regs);
  free(s);
  return false;
}

int aw_loop_on_signal(aw_loop *L, int signo, aw_task_fn fn, void *arg) {
  int r = check(L, signo, fn);
  if (r)
    return r;
  pthread_once(&atfork_once, atfork_init); /* after the inbox's: its prepare runs after ours */
  pthread_mutex_lock(&lock);
  sigloop *s = find(L);
  if (s && find_reg(s, signo, fn, arg)) {
    pthread_mutex_unlock(&lock);
    return -EEXIST;
  }
  bool made = false;
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s) {
      pthread_mutex_unlock(&lock);
      return -ENOMEM;
    }
    s->loop = L;
    made = true;
  }
  if (s->nregs == s->cap) {
    uint32_t ncap = s->cap ? s->cap * 2 : 4;
    reg *nr = realloc(s->regs, ncap * sizeof *nr);
    if (!nr) {
      r = -ENOMEM;
      goto fail;
    }
    s->regs = nr;
    s->cap = ncap;
  }
  if ((r = thread_start()) < 0 || (r = sig_ref(signo)) < 0)
    goto fail;
  s->regs[s->nregs++] = (reg){signo, fn, arg};
  s->want |= bit_of(signo);
  nregs_total++;
  if (made) {
    s->next = loops;
    loops = s;
  }
  pthread_mutex_unlock(&lock);
  return 0;
fail:;
  sigthread *t = thread_take(); /* a thread started for nothing */
  if (made) {
    free(s->regs);
    free(s);
  }
  pthread_mutex_unlock(&lock);
  thread_join(t);
  return r;
}

int aw_loop_off_signal(aw_loop *L, int signo, aw_task_fn fn, void *arg) {
  if (!L || !fn || signo < 1 || signo >= NSIGS)
    return -EINVAL;
  if (!aw__on_owner(L))
    return -EPERM;
  pthread_mutex_lock(&lock);
  sigloop *s = find(L);
  reg *r = s ? find_reg(s, signo, fn, arg) : NULL;
  if (!r) {
    pthread_mutex_unlock(&lock);
    return -ENOENT;
  }
  r->fn = NULL;
  s->dirty = true;
  s->want = want_of(s);
  nregs_total--;
  sig_unref(signo);
  sigloop_tidy(s);
  sigthread *t = thread_take();
  pthread_mutex_unlock(&lock);
  thread_join(t);
  return 0;
}

/* aw_loop_free, first of all: from here the signal thread never posts to L. */
void aw__ossignal_loop_free(aw_loop *L) {
  pthread_mutex_lock(&lock);
  sigloop *s = find(L);
  sigthread *t = NULL;
  if (s) {
    for (uint32_t i = 0; i < s->nregs; i++)
      if (s->regs[i].fn) {
        s->regs[i].fn = NULL;
        nregs_total--;
        sig_unref(s->regs[i].signo);
      }
    s->dirty = true;
    s->delivering = 0; /* L is not running: no delivery is under way */
    sigloop_tidy(s);
    t = thread_take();
  }
  pthread_mutex_unlock(&lock);
  thread_join(t);
}

/* ---- delivery, on the loop's thread ------------------------------------------------------ */

static void deliver(aw_loop *L, void *arg) {
  int signo = (int)(intptr_t)arg;
  pthread_mutex_lock(&lock);
  sigloop *s = find(L);
  if (s) {
    s->pending &= ~bit_of(signo);
    s->delivering++;
  }
  pthread_mutex_unlock(&lock);
  if (!s)
    return; /* every registration went after the post */
  /* the registrations made before this delivery, in order; the array may move (index) */
  uint32_t n = s->nregs;
  for (uint32_t i = 0; i < n && !L->failed; i++) {
    reg r = s->regs[i];
    if (r.fn && r.signo == signo)
      aw__macrotask(L, r.fn, r.arg);
  }
  pthread_mutex_lock(&lock);
  s->delivering--;
  sigloop_tidy(s);
  pthread_mutex_unlock(&lock);
}
