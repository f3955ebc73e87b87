/*
 * aw/loop.h — the event loop.
 *
 * A loop runs Node's phases, in libuv's order:
 *
 *   1. timers   every timer whose time has come (by due time, then creation)
 *   2. I/O      every completion ready now, and every aw_loop_post() task
 *   3. check    the immediates queued before this phase began
 *   4. close    close callbacks
 *
 * Each callback is a macrotask, and after each one comes a microtask
 * checkpoint: the nextTick queue, then the microtask queue (promise jobs and
 * aw_queue_microtask), repeatedly until both are empty; then unhandled
 * rejections are reported. The loop sleeps only when nothing is runnable,
 * until the next timer is due or another thread posts. aw_loop_run returns
 * when nothing keeps the loop alive: no referenced timer or immediate, no
 * pending post, no aw_loop_ref().
 *
 * Threads: a loop belongs to the thread that created it. Everything here,
 * and every promise, timer and async function of the loop, is for that
 * thread only, except aw_loop_post(), which any thread may call. Calls from
 * another thread fail with -EPERM (and never corrupt anything).
 *
 * Lifetime, across threads (the contract):
 *  - Another thread may call aw_loop_post(L) at any time, also while L is
 *    being freed and after aw_loop_free(L) has returned: once aw_loop_free
 *    has begun, a post is refused with -ESHUTDOWN, never a crash, and the
 *    posting thread never reads or writes L's memory or its eventfd again
 *    (a post that races the start of aw_loop_free is either refused or
 *    queued and then dropped unrun). The one hazard left is the caller's:
 *    after aw_loop_free returned, a new loop may be made at the same
 *    address, and a post through the old pointer then goes to the new loop.
 *  - aw_loop_free returns only when no other thread is inside a post to L
 *    or finishing a job of L: from then on no thread touches L.
 *  - At aw_loop_free: posts not yet run are dropped (never run); jobs of L
 *    still queued are dropped, jobs running are cancelled (aw_job_cancelled
 *    turns true) and waited for; no promise settles; every job's arg_free
 *    runs on this thread before aw_loop_free returns, and memory a job
 *    borrowed (its arg without arg_free) may be freed once it has returned.
 *    See aw/work.h and aw/io.h for jobs and I/O operations.
 *
 * fork(): a loop belongs to the process that made it. In a child, a loop
 * inherited from the parent that has an io_uring cannot run (the ring
 * serves the parent's task, and its operations are the parent's):
 * aw_loop_run and aw_loop_run_once return AW_EFORKED at once (a run in
 * progress, if the fork was made from one of its callbacks, returns it at
 * its next iteration), and aw_loop_free frees the child's copy at once,
 * without touching the ring (operations in flight are the parent's; the
 * child leaves their memory alone). Make a new loop in the child. A loop
 * without a ring (no_io) goes on in the child, with an eventfd of its own.
 * The parent's loop is never affected.
 */
#ifndef AW_LOOP_H
#define AW_LOOP_H

#include "val.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A macrotask or microtask callback. arg is yours (borrowed by the loop). */
typedef void (*aw_task_fn)(aw_loop *L, void *arg);

/* What happens to a rejection nobody handled, as Node's --unhandled-rejections. */
enum aw_rejection_mode {
  AW_REJECTIONS_THROW = 0, /* default: the hook, else an uncaught exception (a reason that is not
                              an error is wrapped, as Node does, in an UnhandledPromiseRejection
                              error naming it) */
  AW_REJECTIONS_WARN,      /* the hook, else a warning on stderr */
  AW_REJECTIONS_NONE       /* the hook only */
};

/*
 * The I/O backend of a loop (aw_loop_config.backend; aw_io_caps.backend says
 * which one a loop got). Both run every I/O operation of aw/io.h with the same
 * semantics: completions are macrotasks of the I/O phase, an aborted operation
 * settles exactly once, buffers stay owned until the system is done with them.
 *
 *   AW_IO_BACKEND_AUTO   io_uring where it can be had, else epoll: io_uring_setup
 *                        refused (EPERM/ENOSYS: a seccomp filter, as Docker's,
 *                        containerd's and Kubernetes' default profiles have;
 *                        kernel.io_uring_disabled; ENOMEM: RLIMIT_MEMLOCK on old
 *                        kernels), or a kernel without IORING_FEAT_NODROP or
 *                        without an opcode the library uses. aw_io_caps
 *                        .fallback_reason then says why. Out of descriptors
 *                        (EMFILE/ENFILE) is an error, not a fallback.
 *   AW_IO_BACKEND_URING  io_uring or nothing: where it cannot be had,
 *                        aw_loop_new fails with the error that says why (and
 *                        what to do).
 *   AW_IO_BACKEND_EPOLL  epoll: sockets are non-blocking descriptors driven by
 *                        readiness, file operations run on the worker pool's
 *                        blocking class (as libuv does).
 *
 * The environment: AW_IO=uring (or io_uring) or AW_IO=epoll chooses for the
 * loops whose cfg->backend is AUTO (an explicit cfg->backend wins); AW_IO=none
 * makes every loop one without I/O, whatever cfg says (see cfg->no_io). Any
 * other value (an empty one too) makes aw_loop_new of an AUTO loop fail with a
 * TypeError naming it, so that a typo does not quietly pick another backend.
 */
enum aw_io_backend { AW_IO_BACKEND_AUTO = 0, AW_IO_BACKEND_URING, AW_IO_BACKEND_EPOLL };

typedef struct aw_loop_config {
  enum aw_rejection_mode rejections;
  unsigned ring_entries; /* SQ entries (io_uring or epoll); 0 means 256; above 32768: RangeError */
  unsigned cq_entries;   /* CQ entries; 0 means 4 x ring_entries, at least 4096; at least the
                            SQ size; above 65536: RangeError (see "Back-pressure" in aw/io.h) */
  bool no_io;            /* no I/O backend: I/O operations reject with ENOURING */
  /*
   * Leave SIGPIPE alone. By default the first loop with a ring (once per
   * process) sets SIGPIPE to SIG_IGN if, and only if, it is SIG_DFL, as Node
   * and Rust's runtime do: a write to a socket whose peer has gone then
   * rejects with EPIPE instead of killing the process. A handler you
   * installed, or SIG_IGN, is never touched. With keep_sigpipe every send
   * call is still safe (aw/io.h, "sending", says how and the one exception).
   * SIG_IGN is inherited across fork and exec: a program you start should
   * get SIGPIPE back to SIG_DFL in the child, as libuv's uv_spawn does.
   */
  bool keep_sigpipe;
  enum aw_io_backend backend; /* AUTO (0), URING or EPOLL: enum aw_io_backend above */
} aw_loop_config;

/*
 * A new loop bound to the calling thread, with its own I/O backend: io_uring,
 * or epoll where io_uring cannot be had (enum aw_io_backend); cfg may be NULL
 * for defaults (an out-of-range rejection mode or backend is an error). On
 * failure returns NULL and, if err is not NULL, stores an error value that
 * names the cause (yours to release). With cfg->backend = AW_IO_BACKEND_URING
 * (or AW_IO=uring) where io_uring cannot be used (seccomp, the
 * kernel.io_uring_disabled sysctl, RLIMIT_MEMLOCK on old kernels) the error
 * says which and what to do, and has errnum set; cfg->no_io (or AW_IO=none
 * in the environment) makes a loop without I/O: promises and timers work,
 * I/O operations reject with ENOURING.
 */
aw_loop *aw_loop_new(const aw_loop_config *cfg, aw_val *err);

/*
 * Runs the loop: first a microtask checkpoint for what the caller queued, then
 * loop iterations until nothing keeps the loop alive (returns 0), or
 * aw_loop_stop() was called (returns 1 if something still keeps the loop
 * alive, 0 if not, as uv_run does), or an exception reached the top
 * (AW_EUNCAUGHT: it was printed to stderr; aw_loop_exception() has it).
 * -EPERM from another thread, -EBUSY if the loop is already running,
 * AW_EFORKED in a fork()ed child for a loop with a ring made by the parent.
 */
int aw_loop_run(aw_loop *L);

/*
 * One iteration. With wait, sleeps until something is runnable if nothing is,
 * and then also runs the timers that came due (as libuv's UV_RUN_ONCE), so
 * every call that slept makes progress. Returns 1 if the loop is still alive
 * afterwards, 0 if not, or an error as aw_loop_run.
 */
int aw_loop_run_once(aw_loop *L, bool wait);

/* Makes aw_loop_run return after the current iteration. Loop thread only. */
void aw_loop_stop(aw_loop *L);

/*
 * Frees the loop. Work still queued is dropped without running: timers,
 * immediates, posts, microtasks; async functions still suspended are freed
 * with their frames. The loop's pool jobs that run are cancelled and waited
 * for (see the lifetime contract above); no promise settles. Promises you
 * still hold stay valid until you release them (the loop's memory goes with
 * the last one), and so does everything they reach; the loop's promises
 * nothing outside holds are freed, cycles among them included (a promise
 * rejected with itself, two resolved with each other), except cycles through
 * a user object's own references. Other threads' posts are refused
 * (-ESHUTDOWN) from the moment it begins. -EBUSY while running, -EPERM from
 * another thread.
 */
int aw_loop_free(aw_loop *L);

/*
 * Queues fn(L, arg) as a macrotask of the I/O phase. The one call any thread
 * may make. Tasks posted by one thread run in the order it posted them;
 * tasks from different threads have no order between them. Never blocks on
 * the loop and drops nothing (a thread that outruns the loop queues on). 0,
 * or -EINVAL (NULL), -ESHUTDOWN (aw_loop_free has begun or is over: nothing
 * was queued, and L was not touched), -ENOMEM. A queued post keeps the loop
 * alive; one still queued when the loop is freed never runs (arg stays
 * yours).
 */
int aw_loop_post(aw_loop *L, aw_task_fn fn, void *arg);

/* Keep-alive count for handles the loop cannot see (libuv's ref/unref). */
void aw_loop_ref(aw_loop *L);
void aw_loop_unref(aw_loop *L);

/* Loop time in milliseconds (monotonic, since the loop was created). */
uint64_t aw_loop_now(aw_loop *L);

/* The exception that made aw_loop_run return AW_EUNCAUGHT (borrowed). */
aw_val aw_loop_exception(aw_loop *L);

/* ---- hooks: Node's process events ---------------------------------------- */

/* 'unhandledRejection': reason and promise are borrowed. */
typedef void (*aw_unhandled_fn)(aw_loop *L, aw_val reason, aw_promise *p, void *arg);
/* 'rejectionHandled': a reported rejection got a handler later. */
typedef void (*aw_handled_fn)(aw_loop *L, aw_promise *p, void *arg);
/* 'uncaughtException': err is borrowed. */
typedef void (*aw_uncaught_fn)(aw_loop *L, aw_val err, void *arg);

/*
 * One hook per event, as a C callback: each setter replaces the listener it
 * added before (NULL removes it), which is one entry of the event's list
 * below, in the place of its call.
 */
void aw_loop_on_unhandled_rejection(aw_loop *L, aw_unhandled_fn fn, void *arg);
void aw_loop_on_rejection_handled(aw_loop *L, aw_handled_fn fn, void *arg);
void aw_loop_on_uncaught_exception(aw_loop *L, aw_uncaught_fn fn, void *arg);
void aw_loop_set_rejection_mode(aw_loop *L, enum aw_rejection_mode mode);

/*
 * process.on(event, listener): lists of function values (aw/fn.h), called in
 * registration order, as an EventEmitter emits: the list is copied first, so
 * a listener added during an emit is not called by it and one removed is
 * still called. A listener gets (a, b):
 *
 *   AW_EVENT_UNCAUGHT_EXCEPTION  (err, origin) origin "uncaughtException" or
 *                                "unhandledRejection" (the throw mode's)
 *   AW_EVENT_UNHANDLED_REJECTION (reason, promise)
 *   AW_EVENT_REJECTION_HANDLED   (promise)
 *   AW_EVENT_EXIT                (code)  see "exit" below
 *   AW_EVENT_WARNING             (warning) an error value, see aw_loop_emit_warning
 *
 * A listener that throws (returns aw_throw(x)) stops the emit: the listeners
 * after it are not called, and x is an uncaught exception (aw_uncaught),
 * except from an uncaughtException listener: then, as in Node, the loop stops
 * at once, x is printed as fatal, the exit code is 7 and no 'exit' listener
 * runs.
 *
 * aw_loop_on takes the listener (consumed); the same function added twice is
 * two listeners. aw_loop_off removes the most recently added listener that is
 * that function (borrowed; -ENOENT if none), as removeListener;
 * aw_loop_off_all empties the list (removeAllListeners). -EINVAL for a bad
 * event or listener, -EPERM from another thread.
 */
enum aw_event {
  AW_EVENT_UNCAUGHT_EXCEPTION = 0,
  AW_EVENT_UNHANDLED_REJECTION,
  AW_EVENT_REJECTION_HANDLED,
  AW_EVENT_EXIT,
  AW_EVENT_WARNING
};
int aw_loop_on(aw_loop *L, enum aw_event ev, aw_fn *listener);
int aw_loop_off(aw_loop *L, enum aw_event ev, aw_fn *listener);
void aw_loop_off_all(aw_loop *L, enum aw_event ev);
size_t aw_loop_listener_count(aw_loop *L, enum aw_event ev);

/*
 * 'exit' and process.exitCode. aw_loop_run emits AW_EVENT_EXIT once in a
 * loop's life, with the exit code as a: when it returns because nothing is
 * left, or because an uncaught exception stopped it (the code is then 1, and
 * the error is printed after the listeners, as Node prints it). Not on
 * aw_loop_stop, and not after an uncaughtException listener threw (code 7).
 * A listener may set the code or add listeners (not called by this emit); a
 * tick it queues never runs, a microtask runs after the last listener.
 * aw_loop_exit_code is the code so far: what the set call stored (0 at
 * first), 1 after an uncaught exception, 7 after a throw in an
 * uncaughtException listener; return it from main().
 */
int aw_loop_exit_code(const aw_loop *L);
void aw_loop_set_exit_code(aw_loop *L, int code);
/* Whether the code was set (process.exitCode !== undefined): by the call, or by a fatal exception. */
bool aw_loop_exit_code_set(const aw_loop *L);

/*
 * process.emitWarning(warning): warning (consumed) is an error value, or a
 * string that becomes an error named "Warning". The 'warning' listeners get
 * it in a nextTick, as in Node; with no listener it is printed to stderr as
 * "(libawait) Name: message". The library's own warnings go this way: the
 * warn rejection mode's UnhandledPromiseRejectionWarning (two, as Node's)
 * and PromiseRejectionHandledWarning, with Node's messages and rejection ids.
 */
void aw_loop_emit_warning(aw_loop *L, aw_val warning);

/*
 * Reports an exception thrown by a callback (err is consumed), as an
 * exception escaping a timer callback reaches 'uncaughtException' in Node:
 * the hook runs if one is set; otherwise the error is printed and
 * aw_loop_run stops with AW_EUNCAUGHT.
 */
void aw_uncaught(aw_loop *L, aw_val err);

/* ---- microtasks and nextTick --------------------------------------------- */

/* queueMicrotask(): runs fn(L, arg) as a microtask job. 0 or -EINVAL/-EPERM. */
int aw_queue_microtask(aw_loop *L, aw_task_fn fn, void *arg);
/* process.nextTick(): runs before the promise jobs of the same checkpoint. */
int aw_next_tick(aw_loop *L, aw_task_fn fn, void *arg);

/* ---- timers and immediates --------------------------------------------- */

/*
 * Timer and immediate ids. 0 is never a valid id, and clearing an id whose
 * timer already fired or was cleared does nothing, as in Node.
 */
typedef uint64_t aw_timer;
typedef uint64_t aw_immediate;

/*
 * setTimeout: fn(L, arg) after ms milliseconds. As in Node, a delay below 1
 * (or above 2^31-1) means 1, and timers due at the same time fire in the
 * order they were created. Returns 0 on bad arguments.
 */
aw_timer aw_set_timeout(aw_loop *L, int64_t ms, aw_task_fn fn, void *arg);
/* setInterval: every ms milliseconds until cleared (also from inside fn). */
aw_timer aw_set_interval(aw_loop *L, int64_t ms, aw_task_fn fn, void *arg);
/* clearTimeout / clearInterval. */
void aw_clear_timer(aw_loop *L, aw_timer t);
/* An unref'd timer does not keep the loop alive. */
void aw_timer_unref(aw_loop *L, aw_timer t);
void aw_timer_ref(aw_loop *L, aw_timer t);
/* timeout.hasRef(): false for an unref'd timer, and for one that fired (for good) or was cleared.
 */
bool aw_timer_has_ref(aw_loop *L, aw_timer t);
/*
 * timeout.refresh(): the timer's delay starts again now, its callback and
 * ref state unchanged. From inside its own callback, a timeout is armed again
 * (it runs once more, a delay after the call), as in Node; an interval goes on
 * as it would. -ENOENT for a timer that fired for good or was cleared (Node
 * would re-arm it; here its id is dead once its callback returned).
 */
int aw_timer_refresh(aw_loop *L, aw_timer t);

/* setImmediate: fn(L, arg) in the next check phase. Returns 0 on bad arguments. */
aw_immediate aw_set_immediate(aw_loop *L, aw_task_fn fn, void *arg);
void aw_clear_immediate(aw_loop *L, aw_immediate id);
/*
 * immediate.unref() / ref() / hasRef(): an unref'd immediate does not keep
 * the loop alive and does not keep the I/O phase from blocking; it still runs
 * in the check phase of any turn the loop makes for something else, and can
 * be cleared. has_ref is false for an id that ran or was cleared.
 */
void aw_immediate_unref(aw_loop *L, aw_immediate id);
void aw_immediate_ref(aw_loop *L, aw_immediate id);
bool aw_immediate_has_ref(aw_loop *L, aw_immediate id);

/* ---- delays ------------------------------------------------------------ */

struct aw_io_opts; /* aw/io.h */

/*
 * await aw_delay(L, ms): as timers/promises' setTimeout(ms) in Node. A
 * promise that resolves with undefined after ms milliseconds (a delay below
 * 1 means 1, as setTimeout; above 2^31-1 it is clamped to that). Its timer
 * keeps the loop alive while it is pending. With o->signal it rejects with
 * an AbortError ("The operation was aborted") whose cause is the signal's
 * reason when the signal aborts, and settles as Node's does, through a
 * finally (five ticks after the timer or the abort); if the signal is
 * aborted at the call, the promise is rejected already. With o->timeout_ms
 * (no Node counterpart) it rejects with a TimeoutError if that comes first. o may be NULL. NULL
 * from another thread or on a loop being freed. At aw_loop_free a pending delay never settles (its
 * promise is released like an I/O operation's).
 */
aw_promise *aw_delay(aw_loop *L, uint64_t ms, const struct aw_io_opts *o);

/* ---- OS signals ---------------------------------------------------------- */

/*
 * process.on('SIGTERM', fn): when the process receives signo, fn(L, arg)
 * runs as a macrotask of L's I/O phase, on L's thread. Any number of loops,
 * on any threads, may register for one signal: each registered loop gets
 * its call. Like Node's signal handles, a registration does not keep the
 * loop alive (a delivered call, once queued, does, until it runs).
 *
 * Coalescing: the calls of one loop for one signal do not queue up. A
 * delivery that finds a call for (L, signo) queued and not yet run adds
 * nothing: at least one call follows every burst of deliveries, never one
 * per delivery (as POSIX signals coalesce in the kernel too). Several
 * registrations on one loop run in the order they were made; one removed
 * while the call runs (from an earlier fn) is not called, one added is
 * called from the next delivery on.
 *
 * How: the first registration for signo installs a handler (sigaction, with
 * SA_RESTART) and keeps the old disposition; the handler only notes the
 * signal and writes a byte to a pipe (async-signal-safe). A thread of the
 * library (all signals blocked) reads the pipe and posts the calls to the
 * registered loops (aw_loop_post). When the last registration for signo goes
 * (aw_loop_off_signal, or aw_loop_free of its loop), the old disposition is
 * put back as it was (a change you made to it in between is overwritten);
 * when no registration is left at all the thread exits.
 *
 * Refused signals: SIGKILL and SIGSTOP (they cannot be caught), and the
 * synchronous faults SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS (a
 * handler that returns would fault again for ever): -EINVAL, as for a signo
 * out of range. The same (signo, fn, arg) twice on one loop: -EEXIST.
 * Another thread: -EPERM, changing nothing; a loop being freed: -ESHUTDOWN;
 * sigaction, pipe or thread failures: their -errno (nothing registered).
 *
 * Lifetime: aw_loop_free removes the loop's registrations first (before
 * anything else goes), so the signal thread never posts to a loop being
 * freed, and a call queued for it is dropped unrun. The library's handler
 * does not depend on a loop's memory, so a signal arriving during any of
 * this is merely not delivered to that loop.
 *
 * fork(): the child starts with no registration. Inherited ones belonged to
 * the parent's loops; in the child the library's dispositions are put back
 * to the ones saved, its pipe closed, and a loop made in the child registers
 * again. The parent is not affected.
 *
 * Threads: the signal may be delivered to any thread of the process; only
 * the library's handler runs there, for a few instructions, and a system
 * call it interrupts that SA_RESTART does not restart (epoll_wait,
 * io_uring_enter: the loop's own wait handles that) returns EINTR. Signals
 * you block in every thread (to read them with signalfd or sigwait) never
 * reach the handler: do not register those. Latency, measured on a 2-vCPU
 * VM: 30-45 us from kill() to fn on an idle loop (handler, thread, post,
 * wake-up). 0, or the error.
 */
int aw_loop_on_signal(aw_loop *L, int signo, aw_task_fn fn, void *arg);
/* Removes that registration: 0, -ENOENT if there is none, -EPERM, -EINVAL. */
int aw_loop_off_signal(aw_loop *L, int signo, aw_task_fn fn, void *arg);

/* ---- embedding in another event loop ---------------------------------------- */

/*
 * A descriptor to nest the loop in a host event loop (epoll, poll, GLib's
 * g_unix_fd_add, libuv's uv_poll), as uv_backend_fd: it becomes readable
 * (POLLIN) when the loop has something to run: an I/O completion, a post
 * from another thread (or a pool job's completion), a timer come due
 * (unref'd ones too: the host decides how long the loop lives), or an
 * immediate queued. The host then calls aw_loop_run_once(L, false), which
 * runs what is ready and never blocks. The descriptor is the loop's (an
 * epoll set of its own; do not read or close it), level-triggered: it stays
 * readable until a turn has taken what made it so, and a turn that leaves
 * work runnable (an immediate queued by an immediate, say) leaves it
 * readable; an idle loop leaves it quiet (no wake-up for nothing). It is the
 * same descriptor on every call and goes with aw_loop_free.
 *
 * The contract, as for any backend fd: from the first aw_loop_fd on, every
 * aw_loop_run_once (and aw_loop_run) on L ends by bringing the descriptor up
 * to date, and so does aw_loop_timeout. Work you queue from the loop's
 * thread outside its callbacks (a timer, an immediate or an operation
 * started by host code) shows once you call aw_loop_timeout(L) or run a
 * turn: call aw_loop_timeout before each wait (a host's prepare step), and
 * wait at most what it returns (waiting on the descriptor alone, -1, also
 * works then: a timer makes it readable when it is due).
 *
 * Cost, per turn of an embedded loop: a timerfd_settime when the next due
 * time changes, a read of the ring's eventfd at the start and the end of
 * the turn and, after kernel activity, an io_uring_get_events; when the
 * loop goes idle it announces the sleep to posting threads (a memory
 * barrier, as before any sleep of the loop), so a post from another thread
 * then costs that thread an eventfd write.
 *
 * Known limit (Linux 6.18, DEFER_TASKRUN rings): the kernel signals the
 * ring's eventfd only the first time a completion is triggered from inside
 * an eventfd write, so an operation of yours on an eventfd (aw_fs_read of
 * one that another thread writes) may not make the descriptor readable
 * until something else does. Posts and pool completions do not depend on
 * it (the loop's own eventfd is watched directly); sockets, pipes and files
 * are not affected.
 *
 * After aw_loop_run_once returned AW_EUNCAUGHT the descriptor stays
 * readable (a failed loop does not run again): stop polling it.
 *
 * The fd, or -errno (-EMFILE...; io_uring_register_eventfd's error; -EPERM
 * from another thread, -ESHUTDOWN on a loop being freed, -EINVAL for NULL).
 */
int aw_loop_fd(aw_loop *L);

/*
 * How long the host may wait on aw_loop_fd before the next aw_loop_run_once,
 * as uv_backend_timeout: 0 if something is runnable now, the milliseconds
 * until the next timer (ref'd or not), or -1 if no timer is pending (wait
 * until the descriptor is readable). With aw_loop_fd given out, it also
 * brings the descriptor up to date (see above); without, it only answers.
 * -1 (and nothing else) from another thread or for NULL.
 */
int aw_loop_timeout(aw_loop *L);

/* ---- statistics ----------------------------------------------------------- */

typedef struct aw_loop_stats {
  uint64_t promises;     /* promises alive */
  uint64_t frames;       /* async function frames alive */
  uint64_t timers;       /* timers pending */
  uint64_t immediates;   /* immediates pending */
  uint64_t iterations;   /* loop iterations so far */
  uint64_t macrotasks;   /* macrotask callbacks run */
  uint64_t microtasks;   /* microtask jobs run */
  uint64_t wakeups;      /* times the loop slept and was woken */
  uint64_t wake_signals; /* times another thread had to wake it (eventfd writes) */
} aw_loop_stats;

void aw_loop_stats_get(const aw_loop *L, aw_loop_stats *out);

/* Objects of any kind (promises included) alive in the process, on every thread. */
int64_t aw_objects_alive(void);

#ifdef __cplusplus
}
#endif
#endif
