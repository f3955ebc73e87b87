/*
 * aw/io.h — files and sockets as promises, on the loop's io_uring (or, where
 * io_uring cannot be had, on the epoll backend: aw/loop.h, enum aw_io_backend).
 *
 * Every operation returns a promise (yours) that settles in the loop's I/O
 * phase, as a macrotask followed by a microtask checkpoint: `await
 * aw_fs_read(...)` resumes exactly as `await fs.promises.read(...)` does in
 * Node. What a turn of the loop asks for reaches the kernel in one
 * io_uring_enter, together with the wait for what completed.
 *
 * Backends: everything below holds on both. On the epoll backend "the
 * kernel" is the backend: sockets are non-blocking descriptors it drives by
 * readiness, file operations run as blocking calls on the worker pool's
 * blocking class, a cancel removes an operation no worker started (one that
 * runs completes with its real result), and its completion queue grows
 * instead of overflowing. aw_io_caps_get says which backend a loop runs.
 *
 * Errors: a failed operation rejects with an Error whose errnum is the errno
 * and whose message names the operation and the path or descriptor:
 * "open /x/y: No such file or directory (ENOENT)", "read fd 7: Bad file
 * descriptor (EBADF)", "connect 127.0.0.1:9: Connection refused
 * (ECONNREFUSED)". Bad arguments (NULL, a negative size) reject with a
 * TypeError; nothing is queued then. Sends use MSG_NOSIGNAL: a vanished peer
 * is an EPIPE rejection, never a SIGPIPE.
 *
 * Ownership follows aw/val.h: buffers you pass are consumed (the operation
 * keeps them until the kernel is done with them, even after a cancel); the
 * buffers and values results carry are yours. Paths are copied.
 *
 * Cancellation: pass an aw_signal in the options, or a timeout. Aborting
 * cancels the operation in the kernel (an io_uring async cancel). Exactly one
 * outcome reaches your code, once the kernel has given the operation back, and
 * whichever won the race decides it: if the kernel cancelled it, the promise
 * rejects with the signal's reason (an AbortError, or a TimeoutError "The
 * operation was aborted due to timeout"); if the kernel had already finished
 * it, its real result counts (bytes a recv took are never lost), except that
 * an operation of several steps (read_file, write_file, a long write) stops
 * before its next step and rejects with the reason.
 *
 * Back-pressure: operations that end by themselves (file I/O, a nop, a
 * shutdown, a close) are bounded: never more of them are in the kernel than
 * its completion queue holds (caps.inflight_limit); the rest wait in order in
 * user space. Operations that may wait for ever (a socket recv, a receiver,
 * an accept, a connect, a socket send to a peer that does not read) are not
 * counted and never wait behind the bounded ones, so a million idle
 * connections leave every other operation as fast as one: only an SQE is
 * waited for. Their completions, when more come at once than the CQ holds,
 * wait in the kernel's overflow list (IORING_FEAT_NODROP, required) and are
 * reaped from there: nothing is dropped. The CQ is 4 x the SQ, at least 4096
 * (aw_loop_config.cq_entries). Note: aw_fs_read on a pipe or a terminal is a
 * file operation and counts as bounded; use aw_sock_recv for sockets.
 *
 * Threads: the loop's thread only, as everything of a loop.
 *
 * Lifetime (what aw_loop_free does to I/O; the loop must not be running):
 *   - Operations: those still waiting in user space are dropped; those in the
 *     kernel are cancelled (one IORING_ASYNC_CANCEL_ANY) and aw_loop_free
 *     waits for the kernel to give each back (at most 5 s; a regular-file
 *     read the kernel cannot cancel ends on its own), so no buffer is freed
 *     under the kernel. Their promises stay pending for good: nothing settles
 *     or runs once the loop is being freed. A promise you hold stays valid
 *     until you release it. What an operation opened for itself (read_file's
 *     and write_file's descriptors, connect's socket, a connection accepted
 *     in the race) is closed, and an atomic write_file's temporary file is
 *     removed; descriptors you passed in are never closed.
 *   - Background closes (the library's own, of descriptors it opened) are
 *     done before aw_loop_free returns, and before aw_loop_run returns: they
 *     keep the loop alive until the kernel has closed the descriptor.
 *   - Listeners: each open listener of the loop is closed (its socket, the
 *     connections accepted but not taken, its retry timer); its pending
 *     aw_tcp_accept promises are dropped unsettled and their signals let go.
 *     The listener object outlives its loop, inert, until its last reference
 *     goes: aw_listener_close does nothing, aw_listener_fd is -1,
 *     aw_tcp_accept returns NULL. (A loop without a ring never accepts: its
 *     listeners' sockets stay open until they are closed or released.)
 *   - Receivers: each turns inert (its recv cancelled with the rest, its
 *     pending next dropped unsettled, its queued chunks released); free it
 *     with aw_receiver_free as before. The buffer ring is unregistered; the
 *     chunks you still hold stay valid and its memory goes with the last.
 *   - Signals: every operation and accept detaches from its signal at
 *     aw_loop_free; aborting the signal afterwards reaches nothing.
 *   - Another thread must not call any of this on a loop being freed or gone
 *     (it never could: these calls are for the loop's thread).
 */
#ifndef AW_IO_H
#define AW_IO_H

#include <stdint.h>
#include <sys/types.h>

#include "loop.h"
#include "promise.h"
#include "signal.h"
#include "val.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options every operation accepts (the pointer may be NULL). */
typedef struct aw_io_opts {
  aw_signal *signal;   /* cancel when aborted (borrowed; the operation retains it) */
  uint64_t timeout_ms; /* if not 0: reject with a TimeoutError after that long */
} aw_io_opts;

/* ---- files ---------------------------------------------------------------- */

/* open(path, flags, mode): resolves with the descriptor (an int value). */
aw_promise *aw_fs_open(aw_loop *L, const char *path, int flags, int mode, const aw_io_opts *o);
/* close(fd): resolves with undefined. */
aw_promise *aw_fs_close(aw_loop *L, int fd, const aw_io_opts *o);

/*
 * Offsets: AW_FS_CUR (-1) reads or writes at the file position, which
 * advances, as read(2)/write(2); 0 or more at that offset, leaving the
 * position alone, as pread(2)/pwrite(2). As pread, any other negative offset
 * rejects with EINVAL, and an offset on a pipe, FIFO or socket with ESPIPE
 * ("read fd 7: Illegal seek (ESPIPE)"): use AW_FS_CUR there.
 */
#define AW_FS_CUR ((int64_t)-1)

/*
 * Reads up to len bytes at offset (AW_FS_CUR: at the file position).
 * Resolves with a new buffer of the bytes read (shorter at end of file, empty
 * at end of file).
 */
aw_promise *aw_fs_read(aw_loop *L, int fd, size_t len, int64_t offset, const aw_io_opts *o);
/*
 * Reads into buf's free space (data + len, up to cap) and adds what it read
 * to buf->len. buf is consumed: retain it to look at it afterwards. Resolves
 * with the number of bytes read.
 */
aw_promise *aw_fs_read_into(aw_loop *L, int fd, aw_buf *buf, int64_t offset, const aw_io_opts *o);
/*
 * Writes all of data (short writes are continued) at offset (-1: at the file
 * position). data is consumed. Resolves with the number of bytes written.
 */
aw_promise *aw_fs_write(aw_loop *L, int fd, aw_buf *data, int64_t offset, const aw_io_opts *o);
/* readv/writev over n buffers (each consumed), as aw_fs_read_into/aw_fs_write. */
aw_promise *aw_fs_readv(aw_loop *L, int fd, aw_buf **bufs, size_t n, int64_t offset,
                        const aw_io_opts *o);
aw_promise *aw_fs_writev(aw_loop *L, int fd, aw_buf **bufs, size_t n, int64_t offset,
                         const aw_io_opts *o);

/*
 * statx: resolves with a Stats object; aw_fs_statx() reads it. flags are
 * statx's (AT_SYMLINK_NOFOLLOW...). aw_fs_fstat is statx of a descriptor.
 */
aw_promise *aw_fs_stat(aw_loop *L, const char *path, int flags, const aw_io_opts *o);
aw_promise *aw_fs_fstat(aw_loop *L, int fd, const aw_io_opts *o);
struct statx;
/* The statx of a Stats value (borrowed), or NULL if v is not one
 * (struct statx comes from <sys/stat.h> with _GNU_SOURCE). */
const struct statx *aw_fs_statx(aw_val v);

/* fsync, or fdatasync when datasync: resolves with undefined. */
aw_promise *aw_fs_fsync(aw_loop *L, int fd, bool datasync, const aw_io_opts *o);
aw_promise *aw_fs_unlink(aw_loop *L, const char *path, const aw_io_opts *o);
aw_promise *aw_fs_rmdir(aw_loop *L, const char *path, const aw_io_opts *o);
aw_promise *aw_fs_rename(aw_loop *L, const char *from, const char *to, const aw_io_opts *o);
/* mkdir(path, mode); mode 0 means 0777 (before the umask), as Node's default. */
aw_promise *aw_fs_mkdir(aw_loop *L, const char *path, int mode, const aw_io_opts *o);

/* The whole file in a new buffer: any size, short reads continued. */
aw_promise *aw_fs_read_file(aw_loop *L, const char *path, const aw_io_opts *o);

typedef struct aw_write_file_opts {
  aw_io_opts io;
  int mode;    /* for a new file; 0 means 0666 (before the umask) */
  bool atomic; /* write a temporary file beside it, fsync, rename over it */
} aw_write_file_opts;
/*
 * Writes data (consumed) as the whole file. Atomic: the content is either the
 * old one or the new one whatever happens (a crash, a failed write): a
 * temporary file in the same directory is written, fsynced, and renamed
 * over path, then the directory is fsynced. Resolves with undefined.
 *
 * The temporary file is "PATH.tmp.PID.R" (R: 16 random hex digits), created
 * with O_EXCL, so writes at once from any thread or process never share one;
 * if the name exists (a file a crash left), another is taken and that file
 * is left alone. A failure removes only the temporary file this write made,
 * and the error names the file the failed step worked on: "open
 * DIR/f.tmp.PID.R: ...", "rename DIR/f.tmp.PID.R -> DIR/f: ...".
 */
aw_promise *aw_fs_write_file(aw_loop *L, const char *path, aw_buf *data,
                             const aw_write_file_opts *o);

/*
 * The names in a directory (without "." and ".."), as an array of strings in
 * the order the system lists them (errors are named "scandir", as Node's);
 * and realpath. Both block in the system, so they run off the loop thread.
 */
aw_promise *aw_fs_readdir(aw_loop *L, const char *path, const aw_io_opts *o);
aw_promise *aw_fs_realpath(aw_loop *L, const char *path, const aw_io_opts *o);

/* ---- sockets (TCP, IPv4 and IPv6) ----------------------------------------------- */

typedef struct aw_listen_opts {
  int backlog;     /* 0 means 511, as Node */
  bool reuseport;  /* SO_REUSEPORT (SO_REUSEADDR is always set) */
  bool ipv6_only;  /* for "::": no IPv4-mapped connections */
  bool no_nodelay; /* accepted sockets keep Nagle's algorithm (default: TCP_NODELAY, which
                      they inherit from the listening socket: no system call per accept) */
} aw_listen_opts;

/*
 * A listening TCP socket on host (a numeric IPv4 or IPv6 address, "localhost",
 * or NULL/"" for all interfaces) and port (0: any free port). Resolves with
 * a listener object. Accepting uses one multishot accept in the kernel.
 */
aw_promise *aw_tcp_listen(aw_loop *L, const char *host, int port, const aw_listen_opts *o);
/* The listener's descriptor and its bound port (-1/0 if l is not a listener). */
int aw_listener_fd(aw_val listener);
int aw_listener_port(aw_val listener);
/*
 * The next connection: resolves with its descriptor (an int value). NULL if
 * listener is not a listener (or from another thread, or its loop was freed);
 * on a closed listener, rejects with "accept ADDR: Bad file descriptor
 * (EBADF)". ADDR is the bound address ("127.0.0.1:40123" for port 0).
 *
 * When accepting fails:
 *   - no descriptor or memory to give the connection (EMFILE, ENFILE,
 *     ENOBUFS, ENOMEM): the accept keeps waiting; the connection stays in the
 *     kernel's backlog, and the listener pauses and tries again after a
 *     back-off (5 ms, doubling up to 1 s; back to 5 ms after a success), or
 *     as soon as this loop closes a descriptor (aw_fs_close, or a close of its
 *     own). A server out of descriptors recovers by itself once some are
 *     closed, and never spins (libuv's choice; bound the wait with a signal
 *     or timeout).
 *   - an error of that one connection (ECONNABORTED, EPROTO, ENETDOWN, ...,
 *     which accept(2) says to retry): retried at once, then with the back-off.
 *   - anything else is the listening socket's failure: every pending accept
 *     rejects with "accept ADDR: <message> (ENAME)"; the next call retries.
 */
aw_promise *aw_tcp_accept(aw_val listener, const aw_io_opts *o);
/*
 * Stops listening at once (new connections are refused), closes connections
 * accepted but not taken, and rejects pending accepts with "accept ADDR:
 * Operation canceled (ECANCELED)". Also done when the listener object is
 * freed, and by aw_loop_free (which drops the pending accepts unsettled).
 * Closing twice, or after the loop was freed, does nothing.
 */
void aw_listener_close(aw_val listener);

/*
 * Connects to host:port (numeric address or "localhost"): resolves with the
 * descriptor, which has TCP_NODELAY set.
 */
aw_promise *aw_tcp_connect(aw_loop *L, const char *host, int port, const aw_io_opts *o);
/*
 * Receives up to max bytes: resolves with a buffer, empty at end of stream.
 * With max up to AW_RECV_CHUNK the recv waits holding no memory: the kernel
 * takes a buffer of the loop's buffer ring when data comes, and that buffer
 * is the result (its cap is AW_RECV_CHUNK; see "Receivers" below for what
 * releasing it does). A larger max allocates max bytes up front.
 */
aw_promise *aw_sock_recv(aw_loop *L, int fd, size_t max, const aw_io_opts *o);
/*
 * Receives into buf's free space (data + len, up to cap) and adds what came
 * to buf->len, as aw_fs_read_into. buf is consumed (retain it to look at it
 * afterwards) and held while the recv waits. Resolves with the number of
 * bytes received, 0 at end of stream; a buf with no free space (len == cap)
 * rejects with a TypeError.
 */
aw_promise *aw_sock_recv_into(aw_loop *L, int fd, aw_buf *buf, const aw_io_opts *o);
/* Sends all of data (consumed; partial sends continued): resolves with the byte count. */
aw_promise *aw_sock_send(aw_loop *L, int fd, aw_buf *data, const aw_io_opts *o);
/* shutdown(fd, how): SHUT_RD, SHUT_WR or SHUT_RDWR. */
aw_promise *aw_sock_shutdown(aw_loop *L, int fd, int how, const aw_io_opts *o);
/*
 * Closes a socket through the ring: first every operation of this loop still
 * pending on fd is cancelled (they reject with "... (ECANCELED)"; a receiver
 * on fd ends the same way: free it first), since a pending recv would
 * otherwise keep the connection open after the close; then the close. As
 * aw_fs_close, a listener paused for lack of descriptors tries again.
 * Resolves with undefined.
 */
aw_promise *aw_sock_close(aw_loop *L, int fd, const aw_io_opts *o);
/*
 * The peer's address (getpeername) and the local one (getsockname) of a
 * socket as text: "1.2.3.4:5678" or "[::1]:5678". 0, or -ENOTCONN, -EBADF,
 * -ENOTSOCK (the system's error), -EINVAL for a NULL out or n 0, -ENOSPC if
 * the text does not fit in n bytes (INET6_ADDRSTRLEN + 8 always does).
 * Blocking-free and callable from any thread.
 */
int aw_sock_peer(int fd, char *out, size_t n);
int aw_sock_local(int fd, char *out, size_t n);

/*
 * Receivers: one multishot recv on a socket, on the loop's buffer ring.
 *
 * A server's idle connection should cost nothing: an aw_receiver keeps one
 * IORING_OP_RECV (multishot, IOSQE_BUFFER_SELECT) in the kernel, holding no
 * buffer and no slot other operations could wait for. When data comes the
 * kernel fills a buffer of the loop's provided buffer ring (created on first
 * use, registered with the ring) and the receiver hands it to you as an
 * aw_buf, without a copy.
 *
 * Ring buffers: a chunk's cap is AW_RECV_CHUNK and its bytes belong to the
 * ring. Releasing the chunk (on any thread; a pool job's is put back by the
 * loop's next I/O phase) puts the buffer back for the next recv; growing it
 * (aw_buf_reserve past its cap) copies it into memory of its own and gives
 * the ring buffer back at once. Release chunks soon, or copy what you keep:
 * the ring has AW_RECV_RING_MIN buffers at first, doubles when a recv finds
 * it empty (ENOBUFS), up to AW_RECV_RING_MAX; past that a receiver that
 * finds it empty takes its next chunk with one recv into a buffer of its own
 * (AW_RECV_CHUNK bytes, an ordinary buffer), then goes back to the ring.
 * Exhaustion never loses data or hangs: the bytes wait in the socket.
 * After aw_loop_free, chunks still held stay valid; the ring's memory goes
 * with the last of them.
 *
 * Memory: an idle receiver with a pending next costs about 300 bytes in user
 * space (the receiver, its op, the promise) and nothing in the ring; the
 * ring costs the loop AW_RECV_RING_MIN x AW_RECV_CHUNK (1 MiB) once.
 */
#define AW_RECV_CHUNK 16384   /* bytes of a ring buffer */
#define AW_RECV_RING_MIN 64   /* buffers at first use */
#define AW_RECV_RING_MAX 2048 /* buffers at most (32 MiB) */

typedef struct aw_receiver aw_receiver;
/*
 * A receiver on fd (a connected socket; borrowed: never closed by the
 * receiver). Its recv starts at once: what arrives before the first
 * aw_receiver_next is kept for it. NULL with errno set: EBADF for a negative
 * fd, EPERM from another thread or a loop being freed, the ring's error
 * (ENOMEM, EINVAL on a kernel without buffer rings) if the buffer ring cannot
 * be made; -errno is AW_ENOURING on a loop without a ring. An fd that is not
 * a socket is accepted here; its first next rejects ("recv fd N: Socket
 * operation on non-socket (ENOTSOCK)").
 */
aw_receiver *aw_receiver_new(aw_loop *L, int fd);
/*
 * The next chunk: resolves with a buffer (yours; a ring buffer, see above)
 * of at least one byte, in the order the bytes came; at end of stream with
 * an empty buffer (and so every later next); rejects with "recv fd N:
 * <message> (ECONNRESET)" on an error, once (a later next tries the socket
 * again). A signal or timeout in o aborts only the wait, never the recv:
 * bytes that come later are kept for the next call, none is lost. One next
 * at a time: a second while one is pending rejects with a TypeError. NULL
 * for a NULL receiver, from another thread, or after its loop was freed.
 *
 * Chunks that come with no next pending are queued in the receiver: past 8
 * the recv is cancelled, and started again once you took half of them (the
 * kernel's socket buffer, then TCP's window, hold the rest). The bound is
 * soft: what the kernel took in the burst before it saw the cancel is kept
 * too (at most the socket's receive buffer, or the ring's free buffers),
 * never dropped. A pending next keeps the loop alive; a receiver alone does
 * not.
 */
aw_promise *aw_receiver_next(aw_receiver *r, const aw_io_opts *o);
/* The receiver's descriptor, or -1 (NULL, or its loop was freed). */
int aw_receiver_fd(const aw_receiver *r);
/*
 * Frees the receiver: cancels its recv, releases the queued chunks, and
 * rejects a pending next with "recv fd N: Operation canceled (ECANCELED)"
 * (as closing a listener does to its accepts). The descriptor stays open.
 * Loop thread only (from another thread it does nothing). After aw_loop_free
 * the receiver is inert (its pending next dropped unsettled, its chunks
 * released, aw_receiver_next returns NULL) and aw_receiver_free only frees
 * it (on the thread that owned the loop).
 */
void aw_receiver_free(aw_receiver *r);

/* ---- sending ---- */

/*
 * SIGPIPE: a write to a socket whose peer has gone fails with EPIPE (or
 * ECONNRESET after a reset) and never kills the process, on every send path:
 * aw_sock_send, aw_sock_sendv, aw_sock_send_zc, aw_sock_sendfile, and
 * aw_fs_write/aw_fs_writev on a socket. How: the first loop of the process
 * sets SIGPIPE to SIG_IGN if it is SIG_DFL (once; a handler or SIG_IGN you
 * set is left alone; aw_loop_config.keep_sigpipe opts out), and every call
 * that can passes MSG_NOSIGNAL; aw_fs_write/aw_fs_writev at AW_FS_CUR check
 * whether the descriptor is a socket (one fstat per call) and then send with
 * it. So with keep_sigpipe, or SIGPIPE set back to SIG_DFL, they stay safe.
 * The exception is aw_sock_sendfile past 64 KiB: splice has no
 * MSG_NOSIGNAL. The kernel runs io_uring's splices in its io-wq threads,
 * which block every signal, so the SIGPIPE of a failed splice is not
 * delivered (tests/io/test_send.c checks it, on Linux 6.18), but that is how
 * the kernel works today, not a promise: keep SIGPIPE ignored, or handled,
 * if you send long files with keep_sigpipe.
 */

/*
 * Sends every byte of n buffers (1 to 1024, each consumed), in order, as one
 * stream: sendmsg with MSG_NOSIGNAL, a partial send continued from where it
 * stopped, across buffers. The header and the body of a response in one
 * call, without copying them together. Resolves with the byte count; empty
 * buffers are fine. Rejects "sendv fd 7: Broken pipe (EPIPE)" and the like;
 * bad arguments (no buffer, more than 1024, one not a buffer) with a
 * TypeError (every buffer given is released).
 */
aw_promise *aw_sock_sendv(aw_loop *L, int fd, aw_buf **bufs, size_t n, const aw_io_opts *o);

/*
 * Sends len bytes of the file file_fd, from offset (AW_FS_CUR: from its file
 * position, which advances), to the socket sock. Stops at the end of the
 * file (len UINT64_MAX: send the whole rest), and resolves with the byte
 * count sent; len 0 resolves with 0 at once. Both descriptors are borrowed,
 * never closed.
 *
 * How: more than 64 KiB goes file -> pipe -> socket with IORING_OP_SPLICE,
 * so the bytes never come to user space. Each call has its own pipe (64 KiB,
 * up to 1 MiB for a longer send: F_SETPIPE_SZ, as far as fs.pipe-max-size
 * allows), closed when the call ends, however it ends: an abort or an error
 * mid-way leaks nothing, and bytes that were in the pipe are dropped. Up to
 * 64 KiB is read into a buffer of the call's and sent (IORING_OP_READ +
 * IORING_OP_SEND): the kernel runs every splice in an io-wq thread, and the
 * two hops cost a short send three times the copy (4 KiB: 39 us by splice,
 * 13 us by copy, one call at a time on loopback; 16 MiB: 10 ms by splice,
 * 15 ms by copy; io/send.c has the figures).
 *
 * Aborted or failed mid-way, the peer has a prefix of the range (with
 * AW_FS_CUR the file position may be past what was sent). Rejects "sendfile
 * fd 7: Broken pipe (EPIPE)" for the socket's errors, "sendfile file fd 8:
 * ..." for the file's (EISDIR, EBADF...), "sendfile pipe: ..." when no pipe
 * could be made (EMFILE).
 *
 * A splice into a blocking socket that is full waits in its io-wq thread: a
 * long sendfile to a peer that stops reading holds one kernel thread until
 * the peer reads, goes, or the call is aborted. On an O_NONBLOCK socket the
 * splice does not wait: the call polls for room and goes on (no thread held).
 *
 * Like every send of several steps (a long aw_sock_send, sendv, send_zc),
 * its bytes go out in several system calls: start the next send on the same
 * socket once this one resolved, or their pieces may interleave.
 */
aw_promise *aw_sock_sendfile(aw_loop *L, int sock, int file_fd, int64_t offset, uint64_t len,
                             const aw_io_opts *o);

/*
 * aw_sock_send with IORING_OP_SEND_ZC: the kernel sends from data itself
 * instead of copying it into the socket, and tells when it is done with it.
 * Resolves with the byte count once everything was sent (an abort or an
 * error settles at once too); data (consumed) is kept until the kernel's
 * notification, which comes once the peer has taken the bytes (its ACK), and
 * which keeps the loop alive till then. aw_loop_free waits for it (at most
 * 5 s): end such connections before freeing the loop. On a socket without
 * zero-copy (AF_UNIX) or a kernel without SEND_ZC (before 6.0) it sends as
 * aw_sock_send does.
 *
 * When it pays: not on loopback. Measured on this machine (Linux 6.18,
 * 2 vCPUs shared with other work, one TCP connection over 127.0.0.1, 256 MiB
 * per run in sends of one size, 4 in flight, a thread receiving 1 MiB at a
 * time; MB/s, median of 5 alternating runs, min-max):
 *
 *      size   aw_sock_send            aw_sock_send_zc
 *     1 KiB    465 (194-558)           268 (144-414)
 *     4 KiB    801 (655-1394)          677 (528-919)
 *    16 KiB   2309 (2093-2858)        1477 (998-1782)
 *    64 KiB   1582 (1512-2342)        2116 (1752-2245)
 *   256 KiB   2524 (1529-2788)        1942 (1046-2432)
 *     1 MiB   1976 (1695-2358)         940 (915-1889)
 *     4 MiB   1574 (1266-1706)         840 (769-1054)
 *
 * Zero-copy wins only at 64 KiB (a dip of the plain send there, in two runs
 * of two), and loses from 256 KiB up, so there is no size from which it
 * pays: loopback delivery copies zero-copy pages anyway, and SEND_ZC adds its
 * notification and the page pinning to that copy. aw_sock_send therefore
 * never switches to it by itself. Through a real network card it can pay
 * for large buffers (from where depends on the card and the CPU): measure
 * there, and call aw_sock_send_zc for buffers past the size where it does.
 */
aw_promise *aw_sock_send_zc(aw_loop *L, int fd, aw_buf *data, const aw_io_opts *o);

/* ---- the ring --------------------------------------------------------------------- */

/* A no-op through the ring (IORING_OP_NOP): resolves with undefined. */
aw_promise *aw_io_nop(aw_loop *L, const aw_io_opts *o);

/*
 * What this loop's backend offers (read at aw_loop_new). On io_uring, what the
 * kernel gave the ring; on epoll, op_supported[] says which opcodes the
 * backend runs, sq_entries/cq_entries are its own queues' sizes, and the setup
 * flags and features are the backend's (see aw/loop.h, enum aw_io_backend).
 */
typedef struct aw_io_caps {
  enum aw_io_backend backend; /* AW_IO_BACKEND_URING or AW_IO_BACKEND_EPOLL */
  const char *backend_name;   /* "io_uring" or "epoll" (static) */
  /* AUTO chose epoll: why io_uring could not be had (the text the error of a loop with
   * AW_IO_BACKEND_URING would have), else "" */
  char fallback_reason[512];
  unsigned sq_entries, cq_entries;
  bool single_issuer, defer_taskrun, coop_taskrun; /* setup flags accepted */
  bool nodrop, ext_arg, fast_poll;                 /* features */
  unsigned inflight_limit; /* bounded ops in the kernel at most (see Back-pressure) */
  unsigned nops;           /* opcodes probed */
  bool op_supported[64];   /* by IORING_OP_* number */
} aw_io_caps;

/* Fills *out; -EINVAL for NULL, -ENOSYS if the loop has no I/O (no_io). */
int aw_io_caps_get(aw_loop *L, aw_io_caps *out);

/* Counters of the loop's backend (for tests and benchmarks). */
typedef struct aw_io_stats {
  uint64_t submitted;    /* SQEs given to the kernel */
  uint64_t completed;    /* CQEs consumed */
  uint64_t enters;       /* io_uring_enter calls (epoll: the backend's submits and waits) */
  uint64_t backlogged;   /* operations that waited in user space */
  uint64_t max_inflight; /* bounded ops in the kernel at once, at most (<= inflight_limit) */
  uint64_t cancels;      /* async cancels sent */
} aw_io_stats;
int aw_io_stats_get(aw_loop *L, aw_io_stats *out);

#ifdef __cplusplus
}
#endif
#endif
