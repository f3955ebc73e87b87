/*
 * tests/io/io_work.h — real work on a loop, whatever its backend: a file round trip, a TCP echo
 * through a receiver, the abort of a pending recv, awsum run as a program. Shared by
 * test_nouring (in a child under a seccomp filter, where a cmocka assertion must not longjmp
 * out of the child) and test_backend (on each backend in turn): so these never assert. Each
 * returns 0, or prints what went wrong (file:line and the values) and returns -1; the caller
 * asserts or exits. The loop is left with nothing pending on success; on failure it may hold
 * operations, which aw_loop_free cancels.
 */
#ifndef IO_WORK_H
#define IO_WORK_H

#include <stddef.h>

#include "aw.h"

/*
 * Runs L until p settles (p consumed, its rejection marked handled) and stores its outcome in
 * *out (a reference; thrown if it rejected). -1 if the loop went idle with p still pending.
 */
int iow_wait(aw_loop *L, aw_promise *p, aw_val *out);

/*
 * In dir (which exists): aw_fs_write_file of `size` patterned bytes (plain, then atomic over
 * it), aw_fs_read_file back with every byte compared, aw_fs_stat (size, regular file) and
 * aw_fs_fstat of an aw_fs_open'ed fd with an aw_fs_read at an offset, aw_fs_rename (the old
 * name then ENOENT, the new one the same bytes), aw_fs_unlink (then ENOENT), aw_fs_mkdir and
 * aw_fs_rmdir. Leaves dir as it found it.
 */
int iow_files(aw_loop *L, const char *dir, size_t size);

/*
 * aw_tcp_listen on 127.0.0.1:0, aw_tcp_connect + aw_tcp_accept, then `size` patterned bytes
 * client -> server (the client shuts down its side after them), which the server takes with an
 * aw_receiver to end of stream and sends back (then shuts down), which the client takes with
 * aw_sock_recv to end of stream; every byte compared both ways. Everything closed after.
 */
int iow_tcp_echo(aw_loop *L, size_t size);

/*
 * On a connected socket pair: an aw_sock_recv with a signal, aborted while it waits: its promise
 * rejects with the signal's very reason, and exactly one settlement reaches code (counted by a
 * handler, after the loop ran to idle). Then the peer sends a byte and a new recv gets it (the
 * aborted recv took nothing).
 */
int iow_abort_recv(aw_loop *L);

/*
 * Runs the awsum program at `awsum` on three files it makes in dir ("abc", empty, 1,000,000 x
 * 'a': SHA-256 test vectors) and checks its output is exactly the three sha256sum lines and it
 * exited 0. The child inherits the caller's seccomp filter.
 */
int iow_awsum(const char *awsum, const char *dir);

#endif
