/*
 * tests/io/test_tasks.c — what a server needs from tasks: one detached task
 * per connection with its own error boundary (aw_async_spawn), async stacks
 * of I/O failures that name the user's await and not the library's files,
 * and several loops on several threads, one per core, each with its own
 * SO_REUSEPORT listener on one port and one shared worker pool.
 *
 * Loopback only, every port from port 0. Callbacks and tasks never assert
 * (a failed assertion longjmps, which must not happen inside aw_loop_run or
 * on another thread): they record, and the test asserts afterwards.
 */
#include "io_test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------------------- */

static aw_val listen_ok(aw_loop *L) {
  aw_val l = io_test_wait(L, aw_tcp_listen(L, "127.0.0.1", 0, NULL));
  if (aw_is_thrown(l)) {
    aw_error_print(l, stderr);
    fail_msg("listen failed");
  }
  return l;
}

/* What aw_error_print writes for v, in a malloc'd string. */
static char *printed(aw_val v) {
  char *text = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&text, &n);
  assert_non_null(f);
  aw_error_print(v, f);
  fclose(f);
  return text;
}

/* Every "    at " line of text names this test's file: no frame of the library. */
static void assert_every_frame_in_this_file(const char *text) {
  int frames = 0;
  for (const char *p = strstr(text, "    at "); p; p = strstr(p + 1, "    at ")) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)len, p);
    if (!strstr(line, "test_tasks.c:"))
      fail_msg("a stack frame outside the test: \"%s\" in\n%s", line, text);
    frames++;
  }
  if (!frames)
    fail_msg("no stack frame at all in\n%s", text);
}

/* text contains "at async FN (FILE:LINE)" for this file. */
static void assert_frame(const char *text, const char *fn, int line) {
  char want[512];
  snprintf(want, sizeof want, "    at async %s (%s:%d)\n", fn, __FILE__, line);
  if (!strstr(text, want))
    fail_msg("\"%s\" is not in\n%s", want, text);
}

/* Runs fn with stderr going to a temporary file; returns what was written (malloc'd). */
static char *capture_stderr(void (*fn)(void *), void *arg) {
  fflush(stderr);
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  int saved = dup(2);
  assert_true(saved >= 0);
  assert_true(dup2(fileno(tmp), 2) >= 0);
  fn(arg);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  long n = ftell(tmp);
  rewind(tmp);
  char *out = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
  assert_non_null(out);
  size_t got = fread(out, 1, (size_t)(n > 0 ? n : 0), tmp);
  out[got] = 0;
  fclose(tmp);
  return out;
}

static const char missing_path[] = "/nonexistent-aw-test-dir/missing-file";

/* ---- the async stack of an I/O rejection ------------------------------------------------ */

static int g_open_line, g_outer_line;

/* Opens a file that does not exist, without catching: the rejection goes on to its caller. */
typedef struct opener {
  aw_frame frame;
} opener;

static void open_missing_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  g_open_line = __LINE__ + 1;
  AW_AWAIT_IGNORE(aw_fs_open(L, missing_path, O_RDONLY, 0, NULL));
  AW_END;
}

static aw_promise *open_missing(aw_loop *L) {
  AW_ASYNC_NEW(L, opener, open_missing_body, f);
  return aw_async_start(&f->frame);
}

/* Awaits open_missing() and keeps what it rejected with. */
typedef struct outer {
  aw_frame frame;
  aw_val *out;
} outer;

static void stack_outer_body(aw_loop *L, aw_frame *self) {
  outer *f = (outer *)self;
  AW_BEGIN(self);
  aw_val v;
  g_outer_line = __LINE__ + 1;
  AW_AWAIT_SETTLED(v, open_missing(L));
  *f->out = v;
  AW_END;
}

static void test_stack_of_a_failed_open_names_the_awaits_not_the_library(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  aw_val got = aw_undefined();
  AW_ASYNC_NEW(L, outer, stack_outer_body, f);
  f->out = &got;
  aw_release(aw_async_start(&f->frame));
  io_test_run(L);
  assert_true(aw_is_thrown(got));
  assert_int_equal(aw_as_error(got)->errnum, ENOENT);
  char *text = printed(got);
  aw_release_val(got);
  char first[256];
  snprintf(first, sizeof first, "Error: open %s: No such file or directory (ENOENT)\n",
           missing_path);
  assert_true(strncmp(text, first, strlen(first)) == 0);
  assert_frame(text, "open_missing_body", g_open_line);
  assert_frame(text, "stack_outer_body", g_outer_line);
  assert_every_frame_in_this_file(text);
  free(text);
  io_test_done(L);
}

/* A connect to a port nobody listens on: the error is made in a completion too. */
typedef struct connector {
  aw_frame frame;
  int port;
  aw_val *out;
} connector;

static int g_connect_line;

static void refused_connect_body(aw_loop *L, aw_frame *self) {
  connector *f = (connector *)self;
  AW_BEGIN(self);
  aw_val v;
  g_connect_line = __LINE__ + 1;
  AW_AWAIT_SETTLED(v, aw_tcp_connect(L, "127.0.0.1", f->port, NULL));
  *f->out = v;
  AW_END;
}

static void test_stack_of_a_refused_connect_names_the_await(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  aw_val l = listen_ok(L);
  int port = aw_listener_port(l);
  aw_listener_close(l); /* the port is now known to be free */
  aw_release_val(l);
  aw_val got = aw_undefined();
  AW_ASYNC_NEW(L, connector, refused_connect_body, f);
  f->port = port;
  f->out = &got;
  aw_release(aw_async_start(&f->frame));
  io_test_run(L);
  assert_true(aw_is_thrown(got));
  assert_int_equal(aw_as_error(got)->errnum, ECONNREFUSED);
  char *text = printed(got);
  aw_release_val(got);
  assert_frame(text, "refused_connect_body", g_connect_line);
  assert_every_frame_in_this_file(text);
  free(text);
  io_test_done(L);
}

/* An I/O rejection handled first by a then (no async function), awaited later. */
typedef struct later {
  aw_frame frame;
  aw_promise *p;
  aw_val *out;
} later;

static int g_later_line;

static aw_val rethrow(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)arg;
  return aw_throw(aw_retain_val(v));
}

static void await_later_body(aw_loop *L, aw_frame *self) {
  later *f = (later *)self;
  AW_BEGIN(self);
  aw_val v;
  g_later_line = __LINE__ + 1;
  AW_AWAIT_SETTLED(v, f->p);
  *f->out = v;
  AW_END;
}

static void test_stack_of_an_io_error_passed_through_a_then_names_the_await(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  aw_promise *open = aw_fs_open(L, missing_path, O_RDONLY, 0, NULL);
  aw_promise *chained = aw_promise_then(open, NULL, rethrow, NULL);
  aw_release(open);
  aw_val got = aw_undefined();
  AW_ASYNC_NEW(L, later, await_later_body, f);
  f->p = chained;
  f->out = &got;
  aw_release(aw_async_start(&f->frame));
  io_test_run(L);
  char *text = printed(got);
  aw_release_val(got);
  assert_frame(text, "await_later_body", g_later_line);
  assert_every_frame_in_this_file(text);
  free(text);
  io_test_done(L);
}

static void run_loop(void *arg) { assert_int_equal(aw_loop_run(arg), 0); }

static void test_spawned_task_failing_in_io_prints_task_failed_with_its_await(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0);
  AW_ASYNC_NEW(L, opener, open_missing_body, f);
  assert_int_equal(aw_async_spawn(&f->frame, NULL, NULL), 0);
  char *err = capture_stderr(run_loop, L);
  char first[256];
  snprintf(first, sizeof first,
           "aw: task failed: Error: open %s: No such file or directory (ENOENT)\n", missing_path);
  if (!strstr(err, first))
    fail_msg("\"%s\" not in\n%s", first, err);
  assert_frame(err, "open_missing_body", g_open_line);
  assert_every_frame_in_this_file(err);
  free(err);
  io_test_done(L);
}

/* ---- one task per connection: a failing one leaves the others serving ------------------- */

#define SERVE_CONNS 40
#define SERVE_BOOM 17 /* this client's request makes its server task fail */

typedef struct serve_ctx {
  aw_val listener;
  int port;
  int served, answered, closed_unanswered, client_failures, acceptor_failures;
  int task_failures, failure_errnum;
  char *failure_text; /* aw_error_print of the one failure (malloc'd) */
} serve_ctx;

static int g_boom_line;

/* The server's task for one connection: a request, a reply; "boom" fails in an I/O await. */
typedef struct conn_task {
  aw_frame frame;
  serve_ctx *ctx;
  int fd;
} conn_task;

static void conn_task_dispose(aw_frame *self) {
  conn_task *f = (conn_task *)self;
  if (f->fd >= 0)
    close(f->fd); /* also when the task failed: the client sees the end of the stream */
  f->fd = -1;
}

static void conn_body(aw_loop *L, aw_frame *self) {
  conn_task *f = (conn_task *)self;
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, aw_sock_recv(L, f->fd, 64, NULL));
  aw_buf *req = (aw_buf *)v.u.o;
  bool boom = req->len >= 4 && memcmp(req->data, "boom", 4) == 0;
  aw_release(req);
  if (boom) {
    g_boom_line = __LINE__ + 1;
    AW_AWAIT_IGNORE(aw_fs_open(L, missing_path, O_RDONLY, 0, NULL)); /* rejects: uncaught */
  }
  AW_AWAIT_IGNORE(aw_sock_send(L, f->fd, aw_buf_from("ok", 2), NULL));
  {
    int fd = f->fd;
    f->fd = -1;
    AW_AWAIT_IGNORE(aw_fs_close(L, fd, NULL));
  }
  f->ctx->served++;
  AW_END;
}

static aw_val conn_failed(aw_loop *L, aw_val reason, void *arg) {
  (void)L;
  serve_ctx *c = arg;
  if (c->task_failures++ == 0) {
    aw_error *e = aw_as_error(reason);
    c->failure_errnum = e ? e->errnum : -1;
    c->failure_text = printed(reason);
  }
  return aw_undefined();
}

static aw_val count_failure(aw_loop *L, aw_val reason, void *arg) {
  (void)L;
  (*(int *)arg)++;
  aw_error_print(reason, stderr);
  return aw_undefined();
}

typedef struct acceptor_task {
  aw_frame frame;
  serve_ctx *ctx;
  int i;
} acceptor_task;

static void acceptor_body(aw_loop *L, aw_frame *self) {
  acceptor_task *f = (acceptor_task *)self;
  AW_BEGIN(self);
  for (f->i = 0; f->i < SERVE_CONNS; f->i++) {
    aw_val v;
    AW_AWAIT(v, aw_tcp_accept(f->ctx->listener, NULL));
    AW_ASYNC_NEW_DISPOSE(L, conn_task, conn_body, conn_task_dispose, c);
    c->ctx = f->ctx;
    c->fd = (int)v.u.i;
    if (aw_async_spawn(&c->frame, conn_failed, f->ctx) != 0)
      f->ctx->acceptor_failures++;
  }
  aw_listener_close(f->ctx->listener); /* an open listener keeps the loop alive, as in Node */
  AW_END;
}

typedef struct client_task {
  aw_frame frame;
  serve_ctx *ctx;
  int i, fd;
  size_t got;
  char reply[16];
} client_task;

static void client_task_dispose(aw_frame *self) {
  client_task *f = (client_task *)self;
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
}

static void client_body(aw_loop *L, aw_frame *self) {
  client_task *f = (client_task *)self;
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, aw_tcp_connect(L, "127.0.0.1", f->ctx->port, NULL));
  f->fd = (int)v.u.i;
  {
    const char *req = f->i == SERVE_BOOM ? "boom" : "hello";
    AW_AWAIT_IGNORE(aw_sock_send(L, f->fd, aw_buf_from(req, strlen(req)), NULL));
  }
  for (;;) {
    AW_AWAIT(v, aw_sock_recv(L, f->fd, sizeof f->reply - 1 - f->got, NULL));
    aw_buf *b = (aw_buf *)v.u.o;
    size_t n = b->len;
    if (n)
      memcpy(f->reply + f->got, b->data, n);
    aw_release(b);
    if (!n || (f->got += n) >= sizeof f->reply - 1)
      break;
  }
  if (f->got == 2 && memcmp(f->reply, "ok", 2) == 0)
    f->ctx->answered++;
  else if (f->got == 0)
    f->ctx->closed_unanswered++;
  AW_END;
}

static void test_a_failing_connection_task_leaves_the_other_tasks_serving(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0); /* rejection mode throw: an unhandled one would stop the run */
  serve_ctx c = {.listener = listen_ok(L)};
  c.port = aw_listener_port(c.listener);
  AW_ASYNC_NEW(L, acceptor_task, acceptor_body, a);
  a->ctx = &c;
  assert_int_equal(aw_async_spawn(&a->frame, count_failure, &c.acceptor_failures), 0);
  for (int i = 0; i < SERVE_CONNS; i++) {
    AW_ASYNC_NEW_DISPOSE(L, client_task, client_body, client_task_dispose, t);
    t->ctx = &c;
    t->i = i;
    t->fd = -1;
    assert_int_equal(aw_async_spawn(&t->frame, count_failure, &c.client_failures), 0);
  }
  io_test_run(L); /* returns 0: the failure stopped nothing */
  aw_release_val(c.listener);
  assert_int_equal(c.acceptor_failures, 0);
  assert_int_equal(c.client_failures, 0);
  assert_int_equal(c.task_failures, 1);
  assert_int_equal(c.failure_errnum, ENOENT);
  assert_int_equal(c.served, SERVE_CONNS - 1);
  assert_int_equal(c.answered, SERVE_CONNS - 1);
  assert_int_equal(c.closed_unanswered, 1);
  assert_non_null(c.failure_text);
  assert_frame(c.failure_text, "conn_body", g_boom_line);
  assert_every_frame_in_this_file(c.failure_text);
  free(c.failure_text);
  io_test_done(L); /* no frame, promise or object of any task is left */
}

static void test_loop_freed_with_spawned_connection_tasks_suspended_is_clean(void **state) {
  (void)state;
  int64_t base = aw_objects_alive();
  aw_loop *L = io_test_loop(0);
  serve_ctx c = {.listener = listen_ok(L)};
  c.port = aw_listener_port(c.listener);
  /* Server tasks wait in recv for requests the clients never send. */
  int clients[8];
  for (int i = 0; i < 8; i++) {
    aw_promise *pa = aw_tcp_accept(c.listener, NULL);
    aw_val fd = io_test_wait(L, aw_tcp_connect(L, "127.0.0.1", c.port, NULL));
    assert_false(aw_is_thrown(fd));
    clients[i] = (int)fd.u.i;
    aw_val s = io_test_wait(L, pa);
    assert_false(aw_is_thrown(s));
    AW_ASYNC_NEW_DISPOSE(L, conn_task, conn_body, conn_task_dispose, t);
    t->ctx = &c;
    t->fd = (int)s.u.i;
    assert_int_equal(aw_async_spawn(&t->frame, conn_failed, &c), 0);
  }
  assert_int_equal(aw_loop_run_once(L, false), 1); /* the recvs are in the kernel */
  aw_loop_stats st;
  aw_loop_stats_get(L, &st);
  assert_int_equal(st.frames, 8);
  aw_release_val(c.listener);
  assert_int_equal(aw_loop_free(L), 0); /* cancels the recvs, frees the frames (their fds close) */
  assert_int_equal(c.task_failures, 0);
  for (int i = 0; i < 8; i++) {
    char b;
    assert_int_equal(read(clients[i], &b, 1), 0); /* the server's end was closed */
    close(clients[i]);
  }
  assert_int_equal(aw_objects_alive(), base);
}

/* ---- several loops, one per core: SO_REUSEPORT listeners on one port -------------------- */

#define MLOOPS 2
#define MCONNS 400

typedef struct mloop {
  int index;
  pthread_t thread;
  aw_loop *L;
  aw_val listener;
  int port_in, port;
  int served, failures, run_rc, accept_errnum;
  bool ready, broken;
} mloop;

static pthread_mutex_t m_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t m_cond = PTHREAD_COND_INITIALIZER;

static void mloop_ready(mloop *m) {
  pthread_mutex_lock(&m_lock);
  m->ready = true;
  pthread_cond_broadcast(&m_cond);
  pthread_mutex_unlock(&m_lock);
}

/* CPU work on the shared default pool: every loop's jobs go to the same threads. */
static aw_val reply_job(aw_job *job, void *arg) {
  (void)job;
  return aw_int((int64_t)(intptr_t)arg * 1000 + 7);
}

typedef struct mconn {
  aw_frame frame;
  mloop *m;
  int fd;
} mconn;

static void mconn_dispose(aw_frame *self) {
  mconn *f = (mconn *)self;
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
}

static void mconn_body(aw_loop *L, aw_frame *self) {
  mconn *f = (mconn *)self;
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, aw_sock_recv(L, f->fd, 64, NULL));
  aw_release_val(v);
  AW_AWAIT(v, aw_work(L, reply_job, (void *)(intptr_t)f->m->index, NULL));
  {
    char reply[32];
    int n = snprintf(reply, sizeof reply, "loop%d:%lld", f->m->index, (long long)v.u.i);
    AW_AWAIT_IGNORE(aw_sock_send(L, f->fd, aw_buf_from(reply, (size_t)n), NULL));
  }
  {
    int fd = f->fd;
    f->fd = -1;
    AW_AWAIT_IGNORE(aw_fs_close(L, fd, NULL));
  }
  f->m->served++;
  AW_END;
}

static aw_val mloop_failed(aw_loop *L, aw_val reason, void *arg) {
  (void)L;
  mloop *m = arg;
  m->failures++;
  aw_error_print(reason, stderr);
  if (!m->ready) { /* the listen failed: the test must not wait for it */
    m->broken = true;
    mloop_ready(m);
  }
  return aw_undefined();
}

/* A loop's main task: listen on the shared port, serve every connection until the listener closes.
 */
typedef struct mserver {
  aw_frame frame;
  mloop *m;
} mserver;

static void mserver_body(aw_loop *L, aw_frame *self) {
  mserver *f = (mserver *)self;
  aw_val v, err;
  AW_BEGIN(self);
  {
    aw_listen_opts lo = {.reuseport = true};
    AW_AWAIT(v, aw_tcp_listen(L, "127.0.0.1", f->m->port_in, &lo));
  }
  f->m->listener = v;
  f->m->port = aw_listener_port(v);
  mloop_ready(f->m);
  for (;;) {
    AW_AWAIT_CATCH(v, aw_tcp_accept(f->m->listener, NULL), err, closed);
    AW_ASYNC_NEW_DISPOSE(L, mconn, mconn_body, mconn_dispose, c);
    c->m = f->m;
    c->fd = (int)v.u.i;
    if (aw_async_spawn(&c->frame, mloop_failed, f->m) != 0)
      f->m->failures++;
  }
closed: /* the stop task closed the listener: the pending accept rejects with ECANCELED */
  f->m->accept_errnum = aw_as_error(err) ? aw_as_error(err)->errnum : -1;
  aw_release_val(err);
  AW_END;
}

static void mloop_stop(aw_loop *L, void *arg) {
  (void)L;
  aw_listener_close(((mloop *)arg)->listener); /* stop accepting: the loop then runs dry */
}

static void *mloop_thread(void *arg) {
  mloop *m = arg;
  aw_loop *L = aw_loop_new(NULL, NULL); /* the default pool: shared by every loop */
  if (!L) {
    m->broken = true;
    mloop_ready(m);
    return NULL;
  }
  m->L = L;
  AW_ASYNC_NEW(L, mserver, mserver_body, s);
  s->m = m;
  if (aw_async_spawn(&s->frame, mloop_failed, m) != 0) {
    m->broken = true;
    mloop_ready(m);
  }
  m->run_rc = aw_loop_run(L);
  aw_release_val(m->listener);
  m->listener = aw_undefined();
  aw_loop_free(L);
  return NULL;
}

static void mloop_start(mloop *m, int index, int port) {
  *m = (mloop){.index = index, .port_in = port, .listener = aw_undefined()};
  assert_int_equal(pthread_create(&m->thread, NULL, mloop_thread, m), 0);
  pthread_mutex_lock(&m_lock);
  while (!m->ready)
    pthread_cond_wait(&m_cond, &m_lock);
  pthread_mutex_unlock(&m_lock);
  assert_false(m->broken);
}

typedef struct mctx {
  int port;
  int answered[MLOOPS], bad_replies, failures;
} mctx;

typedef struct mclient {
  aw_frame frame;
  mctx *ctx;
  int fd;
  size_t got;
  char reply[32];
} mclient;

static void mclient_body(aw_loop *L, aw_frame *self) {
  mclient *f = (mclient *)self;
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, aw_tcp_connect(L, "127.0.0.1", f->ctx->port, NULL));
  f->fd = (int)v.u.i;
  AW_AWAIT_IGNORE(aw_sock_send(L, f->fd, aw_buf_from("ping", 4), NULL));
  for (;;) {
    AW_AWAIT(v, aw_sock_recv(L, f->fd, sizeof f->reply - 1 - f->got, NULL));
    aw_buf *b = (aw_buf *)v.u.o;
    size_t n = b->len;
    if (n)
      memcpy(f->reply + f->got, b->data, n);
    aw_release(b);
    if (!n || (f->got += n) >= sizeof f->reply - 1)
      break;
  }
  {
    int k = -1;
    long long x = 0;
    if (sscanf(f->reply, "loop%d:%lld", &k, &x) == 2 && k >= 0 && k < MLOOPS && x == k * 1000 + 7)
      f->ctx->answered[k]++;
    else
      f->ctx->bad_replies++;
  }
  AW_END;
}

static void mclient_dispose(aw_frame *self) {
  mclient *f = (mclient *)self;
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
}

static void test_two_loops_on_two_threads_share_a_reuseport_port_and_the_pool(void **state) {
  (void)state;
  aw_loop *L = io_test_loop(0); /* first: its leak baseline is taken before any server loop */
  mloop m[MLOOPS];
  mloop_start(&m[0], 0, 0); /* port 0: the first loop takes a free port */
  for (int i = 1; i < MLOOPS; i++)
    mloop_start(&m[i], i, m[0].port); /* the others join its reuseport group */
  mctx c = {.port = m[0].port};
  for (int i = 0; i < MCONNS; i++) {
    AW_ASYNC_NEW_DISPOSE(L, mclient, mclient_body, mclient_dispose, t);
    t->ctx = &c;
    t->fd = -1;
    assert_int_equal(aw_async_spawn(&t->frame, count_failure, &c.failures), 0);
  }
  io_test_run(L);
  for (int i = 0; i < MLOOPS; i++)
    assert_int_equal(aw_loop_post(m[i].L, mloop_stop, &m[i]), 0);
  for (int i = 0; i < MLOOPS; i++)
    assert_int_equal(pthread_join(m[i].thread, NULL), 0);
  printf("reuseport: %d connections over %d loops:", MCONNS, MLOOPS);
  for (int i = 0; i < MLOOPS; i++)
    printf(" loop%d %d", i, m[i].served);
  printf("\n");
  assert_int_equal(c.failures, 0);
  assert_int_equal(c.bad_replies, 0);
  int total = 0;
  for (int i = 0; i < MLOOPS; i++) {
    assert_int_equal(m[i].failures, 0);
    assert_int_equal(m[i].run_rc, 0);
    assert_int_equal(m[i].accept_errnum, ECANCELED);
    assert_int_equal(m[i].served, c.answered[i]); /* each reply came from the loop that accepted */
    assert_true(m[i].served > 0); /* 400 hashed connections: all on one loop is p = 2^-399 */
    total += m[i].served;
  }
  assert_int_equal(total, MCONNS);
  io_test_done(L); /* every loop freed: nothing of any thread is left */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stack_of_a_failed_open_names_the_awaits_not_the_library),
      cmocka_unit_test(test_stack_of_a_refused_connect_names_the_await),
      cmocka_unit_test(test_stack_of_an_io_error_passed_through_a_then_names_the_await),
      cmocka_unit_test(test_spawned_task_failing_in_io_prints_task_failed_with_its_await),
      cmocka_unit_test(test_a_failing_connection_task_leaves_the_other_tasks_serving),
      cmocka_unit_test(test_loop_freed_with_spawned_connection_tasks_suspended_is_clean),
      cmocka_unit_test(test_two_loops_on_two_threads_share_a_reuseport_port_and_the_pool),
  };
  return cmocka_run_group_tests_name("tasks", tests, NULL, NULL);
}
