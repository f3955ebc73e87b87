/*
 * tests/fault/prog_io.c — io: a listener on loopback, a server that accepts,
 * receives and echoes, a client that connects, sends, receives and closes;
 * then a file written (plain and atomic), read whole, opened, read, closed and
 * unlinked, a read_file aborted while in flight, and a burst of NOPs, some
 * aborted while they wait. The ring has 4 SQEs (and 8 CQEs), so that the SQ
 * fills, ops wait in the backlog, and cancels queue behind them.
 *
 * Server and client share a signal: whichever fails aborts it, so the other
 * is not left waiting for a peer that will never come (what a real program
 * does; without it a failed connect would leave the accept pending forever).
 */
#include "programs.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char file_path[64];

typedef struct server_frame {
  aw_frame frame;
  aw_val listener; /* borrowed from main */
  aw_signal *stop; /* borrowed */
  int fd;
} server_frame;

static void server_body(aw_loop *L, aw_frame *self) {
  server_frame *f = (server_frame *)self;
  AW_BEGIN(self);
  aw_val v, err;
  aw_io_opts o = {.signal = f->stop};
  AW_AWAIT_CATCH(v, aw_tcp_accept(f->listener, &o), err, fail);
  f->fd = (int)v.u.i;
  o = (aw_io_opts){.signal = f->stop};
  AW_AWAIT_CATCH(v, aw_sock_recv(L, f->fd, 64, &o), err, fail);
  o = (aw_io_opts){.signal = f->stop};
  AW_AWAIT_CATCH(v, aw_sock_send(L, f->fd, (aw_buf *)v.u.o, &o), err, fail);
  AW_RETURN(v);
fail:
  aw_signal_abort(f->stop, aw_err("AbortError", "the server failed"));
  AW_THROW(err);
  AW_END;
}

/* On every free of the frame, also when aw_loop_free frees it suspended. */
static void server_dispose(aw_frame *self) {
  server_frame *f = (server_frame *)self;
  if (f->fd >= 0)
    close(f->fd);
}

typedef struct client_frame {
  aw_frame frame;
  int port;
  aw_signal *stop; /* borrowed */
  int fd;
} client_frame;

static void client_body(aw_loop *L, aw_frame *self) {
  client_frame *f = (client_frame *)self;
  AW_BEGIN(self);
  aw_val v, err;
  aw_io_opts o = {.signal = f->stop};
  AW_AWAIT_CATCH(v, aw_tcp_connect(L, "127.0.0.1", f->port, &o), err, fail);
  f->fd = (int)v.u.i;
  aw_buf *b = aw_buf_from("ping", 4);
  if (!b) {
    err = aw_err("Error", "aw_buf_from: out of memory");
    goto fail;
  }
  o = (aw_io_opts){.signal = f->stop};
  AW_AWAIT_CATCH(v, aw_sock_send(L, f->fd, b, &o), err, fail);
  o = (aw_io_opts){.signal = f->stop};
  AW_AWAIT_CATCH(v, aw_sock_recv(L, f->fd, 64, &o), err, fail);
  aw_release_val(v);
  {
    int fd = f->fd;
    f->fd = -1; /* a close that fails has still let the descriptor go */
    AW_AWAIT_CATCH(v, aw_fs_close(L, fd, NULL), err, fail);
  }
  AW_RETURN(aw_int(1));
fail:
  aw_signal_abort(f->stop, aw_err("AbortError", "the client failed"));
  AW_THROW(err);
  AW_END;
}

static void client_dispose(aw_frame *self) {
  client_frame *f = (client_frame *)self;
  if (f->fd >= 0)
    close(f->fd);
}

typedef struct main_frame {
  aw_frame frame;
  aw_val listener;
  bool have_listener;
  aw_signal *stop;
  int fd;
  aw_promise *aborted;
  aw_promise *round[4]; /* two accepts, then two connects */
  aw_signal *stop2;
  aw_val listener2;
  bool have_listener2;
  aw_promise *nops[12];
} main_frame;

/* The descriptor a settled promise fulfilled with, or -1. */
static int fd_or_none(aw_promise *p) {
  return p && aw_promise_state(p) == AW_FULFILLED ? (int)aw_promise_result(p).u.i : -1;
}

static aw_promise *start_server(aw_loop *L, main_frame *m) {
  AW_ASYNC_NEW_DISPOSE(L, server_frame, server_body, server_dispose, s);
  s->listener = m->listener;
  s->stop = m->stop;
  s->fd = -1;
  return aw_async_start(&s->frame);
}

static aw_promise *start_client(aw_loop *L, main_frame *m) {
  AW_ASYNC_NEW_DISPOSE(L, client_frame, client_body, client_dispose, c);
  c->fd = -1;
  c->port = aw_listener_port(m->listener);
  c->stop = m->stop;
  return aw_async_start(&c->frame);
}

static void main_body(aw_loop *L, aw_frame *self) {
  main_frame *f = (main_frame *)self;
  AW_BEGIN(self);
  aw_val v, err;
  AW_AWAIT_CATCH(v, aw_tcp_listen(L, "127.0.0.1", 0, NULL), err, fail);
  f->listener = v;
  f->have_listener = true;
  f->stop = aw_signal_new(L);
  {
    aw_val both[2] = {aw_obj_val(start_server(L, f)), aw_obj_val(start_client(L, f))};
    AW_AWAIT(v, aw_promise_all_settled(L, 2, both));
    aw_release_val(v);
  }
  /*
   * Two accepts waiting, then two connections: if one accept fails (EMFILE),
   * the other must still get a connection once it waits in the backlog. A
   * connect that fails aborts the accepts, which would otherwise wait forever.
   */
  aw_listener_close(f->listener);
  AW_AWAIT_CATCH(v, aw_tcp_listen(L, "127.0.0.1", 0, NULL), err, fail);
  f->listener2 = v; /* a new one: its accept is armed with both waiters there */
  f->have_listener2 = true;
  f->stop2 = aw_signal_new(L);
  for (int i = 0; i < 2; i++) {
    f->round[i] = aw_tcp_accept(f->listener2, &(aw_io_opts){.signal = f->stop2});
    aw_release(aw_promise_catch(f->round[i], h_ignore, NULL)); /* awaited later */
  }
  for (int i = 2; i < 4; i++) {
    f->round[i] = aw_tcp_connect(L, "127.0.0.1", aw_listener_port(f->listener2), NULL);
    aw_release(aw_promise_catch(f->round[i], h_ignore, NULL));
  }
  {
    aw_val xs[2] = {aw_obj_val(aw_retain(f->round[2])), aw_obj_val(aw_retain(f->round[3]))};
    AW_AWAIT(v, aw_promise_all_settled(L, 2, xs));
    aw_release_val(v);
  }
  if (fd_or_none(f->round[2]) < 0 || fd_or_none(f->round[3]) < 0)
    aw_signal_abort(f->stop2, aw_err("AbortError", "a connect failed"));
  {
    aw_val xs[2] = {aw_obj_val(aw_retain(f->round[0])), aw_obj_val(aw_retain(f->round[1]))};
    AW_AWAIT(v, aw_promise_all_settled(L, 2, xs));
    aw_release_val(v);
  }
  aw_listener_close(f->listener2);

  aw_buf *b = aw_buf_from("hello, file", 11);
  if (!b)
    AW_THROW(aw_err("Error", "aw_buf_from: out of memory"));
  AW_AWAIT_CATCH(v, aw_fs_write_file(L, file_path, b, NULL), err, fail);
  b = aw_buf_from("hello again", 11);
  if (!b)
    AW_THROW(aw_err("Error", "aw_buf_from: out of memory"));
  {
    aw_write_file_opts wo = {.atomic = true};
    AW_AWAIT_CATCH(v, aw_fs_write_file(L, file_path, b, &wo), err, fail);
  }
  AW_AWAIT_CATCH(v, aw_fs_read_file(L, file_path, NULL), err, fail);
  aw_release_val(v);
  AW_AWAIT_CATCH(v, aw_fs_open(L, file_path, O_RDONLY, 0, NULL), err, fail);
  f->fd = (int)v.u.i;
  AW_AWAIT_CATCH(v, aw_fs_read(L, f->fd, 64, 0, NULL), err, fail);
  aw_release_val(v);
  {
    int fd = f->fd;
    f->fd = -1;
    AW_AWAIT_CATCH(v, aw_fs_close(L, fd, NULL), err, fail);
  }
  {
    /* a read_file aborted while in the kernel: it settles, and leaves no descriptor open */
    aw_signal *s = aw_signal_new(L);
    aw_io_opts o = {.signal = s};
    f->aborted = aw_fs_read_file(L, file_path, &o);
    aw_signal_abort(s, aw_err("AbortError", "changed my mind"));
    aw_release(s);
  }
  AW_AWAIT_SETTLED(v, aw_retain(f->aborted));
  aw_release_val(v);
  {
    aw_signal *s = aw_signal_new(L);
    aw_val xs[12];
    for (int i = 0; i < 12; i++) {
      f->nops[i] = aw_io_nop(L, i % 3 ? NULL : &(aw_io_opts){.signal = s});
      xs[i] = aw_obj_val(aw_retain(f->nops[i]));
    }
    aw_signal_abort(s, aw_err("AbortError", "enough"));
    aw_release(s);
    AW_AWAIT(v, aw_promise_all_settled(L, 12, xs));
    aw_release_val(v);
  }
  AW_AWAIT_CATCH(v, aw_fs_unlink(L, file_path, NULL), err, fail);
  AW_RETURN(aw_int(1));
fail:
  AW_THROW(err);
  AW_END;
}

static void main_dispose(aw_frame *self) {
  main_frame *f = (main_frame *)self;
  if (f->fd >= 0)
    close(f->fd);
  if (f->have_listener)
    aw_release_val(f->listener);
  if (f->have_listener2)
    aw_release_val(f->listener2);
  if (f->stop)
    aw_release(f->stop);
  if (f->aborted)
    aw_release(f->aborted);
  for (int i = 0; i < 4; i++) {
    int fd = fd_or_none(f->round[i]);
    if (fd >= 0)
      close(fd);
    if (f->round[i])
      aw_release(f->round[i]);
  }
  if (f->stop2)
    aw_release(f->stop2);
  for (int i = 0; i < 12; i++)
    if (f->nops[i])
      aw_release(f->nops[i]);
  unlink(file_path);
}

int prog_io(void) {
  snprintf(file_path, sizeof file_path, "/tmp/aw-fault-%d", (int)getpid());
  aw_loop *L = prog_loop(4);
  if (!L)
    return 0;
  tracker t = {0};
  AW_ASYNC_NEW_DISPOSE(L, main_frame, main_body, main_dispose, m);
  m->fd = -1;
  aw_promise *p = track(&t, aw_async_start(&m->frame));
  if (p)
    aw_release(aw_promise_catch(p, h_ignore, NULL));
  int r = aw_loop_run(L);
  int bad = track_check(&t, "io", r);
  track_release(&t);
  aw_loop_free(L);
  unlink(file_path);
  return bad;
}
