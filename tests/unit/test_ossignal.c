/*
 * tests/unit/test_ossignal.c — OS signals as loop macrotasks
 * (aw_loop_on_signal / aw_loop_off_signal).
 *
 * Every test puts a handler of its own on the signals it uses first
 * (prior_handler), so that a signal that reaches no loop shows up as a
 * count instead of killing the test, and so that restoring "the old
 * disposition" can be checked. Loops are kept alive with aw_loop_ref until
 * the call they wait for arrives: a registration does not keep a loop
 * alive. No sleep synchronises anything: the threads meet at a barrier.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#if defined(__SANITIZE_THREAD__)
#define OS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define OS_TSAN 1
#endif
#endif
#ifndef OS_TSAN
#define OS_TSAN 0
#endif

static volatile sig_atomic_t prior_calls;
static void prior_handler(int signo) {
  (void)signo;
  prior_calls++;
}

static void install_prior(int signo) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = prior_handler;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(signo, &sa, NULL), 0);
  prior_calls = 0;
}

static void (*disposition(int signo))(int) {
  struct sigaction sa;
  assert_int_equal(sigaction(signo, NULL, &sa), 0);
  return sa.sa_handler;
}

static void kill_self(int signo) { assert_int_equal(kill(getpid(), signo), 0); }

/* ---- one loop ----------------------------------------------------------------------------- */

static void on_usr1_unref(aw_loop *L, void *arg) {
  ulog("%s", (const char *)arg);
  aw_loop_unref(L);
}

static void raise_usr1(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  kill(getpid(), SIGUSR1);
}

static void test_a_signal_runs_fn_on_the_loop_and_off_restores_the_disposition(void **state) {
  (void)state;
  install_prior(SIGUSR1);
  aw_loop *L = unit_loop();
  assert_int_equal(aw_loop_on_signal(L, SIGUSR1, on_usr1_unref, "usr1"), 0);
  assert_true(disposition(SIGUSR1) != prior_handler);
  aw_loop_ref(L); /* until the signal came */
  aw_set_timeout(L, 1, raise_usr1, NULL);
  run_ok(L);
  assert_log("usr1");
  assert_int_equal(prior_calls, 0);
  assert_int_equal(aw_loop_off_signal(L, SIGUSR1, on_usr1_unref, "usr1"), 0);
  assert_true(disposition(SIGUSR1) == prior_handler);
  kill_self(SIGUSR1); /* the old handler has it again */
  while (prior_calls == 0) {
  }
  unit_finish(L);
}

static void test_a_registration_does_not_keep_the_loop_alive(void **state) {
  (void)state;
  install_prior(SIGUSR2);
  aw_loop *L = unit_loop();
  assert_int_equal(aw_loop_on_signal(L, SIGUSR2, on_usr1_unref, "never"), 0);
  run_ok(L); /* returns at once */
  assert_int_equal(aw_loop_off_signal(L, SIGUSR2, on_usr1_unref, "never"), 0);
  assert_log("");
  unit_finish(L);
}

static void test_bad_registrations_are_refused(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  const int refused[] = {0, -1, 65, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
    assert_int_equal(aw_loop_on_signal(L, refused[i], on_usr1_unref, NULL), -EINVAL);
  assert_int_equal(aw_loop_on_signal(L, SIGUSR1, NULL, NULL), -EINVAL);
  assert_int_equal(aw_loop_on_signal(NULL, SIGUSR1, on_usr1_unref, NULL), -EINVAL);
  assert_int_equal(aw_loop_off_signal(L, SIGUSR1, on_usr1_unref, NULL), -ENOENT);
  install_prior(SIGUSR1);
  assert_int_equal(aw_loop_on_signal(L, SIGUSR1, on_usr1_unref, NULL), 0);
  assert_int_equal(aw_loop_on_signal(L, SIGUSR1, on_usr1_unref, NULL), -EEXIST);
  assert_int_equal(aw_loop_on_signal(L, SIGUSR1, on_usr1_unref, "other arg"), 0);
  assert_int_equal(aw_loop_off_signal(L, SIGUSR1, on_usr1_unref, NULL), 0);
  assert_true(disposition(SIGUSR1) != prior_handler); /* one is left */
  assert_int_equal(aw_loop_off_signal(L, SIGUSR1, on_usr1_unref, NULL), -ENOENT);
  assert_int_equal(aw_loop_off_signal(L, SIGUSR1, on_usr1_unref, "other arg"), 0);
  assert_true(disposition(SIGUSR1) == prior_handler);
  unit_finish(L);
}

static void *register_elsewhere(void *arg) {
  aw_loop *L = arg;
  intptr_t r = aw_loop_on_signal(L, SIGUSR1, on_usr1_unref, NULL);
  return (void *)r;
}

static void test_another_thread_may_not_register(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  pthread_t t;
  void *r;
  assert_int_equal(pthread_create(&t, NULL, register_elsewhere, L), 0);
  assert_int_equal(pthread_join(t, &r), 0);
  assert_int_equal((intptr_t)r, -EPERM);
  unit_finish(L);
}

/* ---- registrations that change while a delivery runs ---------------------------------- */

typedef struct pair {
  int calls_a, calls_b;
} pair;

static void fn_b(aw_loop *L, void *arg);
static void fn_a(aw_loop *L, void *arg) {
  pair *p = arg;
  p->calls_a++;
  ulog("a");
  aw_loop_off_signal(L, SIGUSR1, fn_b, p); /* registered after a: not called */
  aw_loop_off_signal(L, SIGUSR1, fn_a, p);
  aw_loop_unref(L);
}
static void fn_b(aw_loop *L, void *arg) {
  (void)L;
  ((pair *)arg)->calls_b++;
  ulog("b");
}

static void test_a_registration_removed_during_the_delivery_is_not_called(void **state) {
  (void)state;
  install_prior(SIGUSR1);
  aw_loop *L = unit_loop();
  pair p = {0};
  assert_int_equal(aw_loop_on_signal(L, SIGUSR1, fn_a, &p), 0);
  assert_int_equal(aw_loop_on_signal(L, SIGUSR1, fn_b, &p), 0);
  aw_loop_ref(L);
  aw_set_timeout(L, 1, raise_usr1, NULL);
  run_ok(L);
  assert_log("a");
  assert_true(disposition(SIGUSR1) == prior_handler);
  unit_finish(L);
}

/* ---- the SIGTERM drain ---------------------------------------------------------------------- */

typedef struct server {
  aw_timer work;
  int ticks;
  bool draining;
} server;

static void serve_tick(aw_loop *L, void *arg) {
  server *s = arg;
  if (++s->ticks == 3)
    kill(getpid(), SIGTERM); /* an orchestrator stops us */
  (void)L;
}

static void drained(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  ulog("drained");
}

static void on_term(aw_loop *L, void *arg) {
  server *s = arg;
  ulog("SIGTERM");
  s->draining = true;
  aw_clear_timer(L, s->work);                 /* stop taking work */
  aw_set_timeout(L, 2, drained, s);           /* what is in flight finishes */
  aw_loop_off_signal(L, SIGTERM, on_term, s); /* the default again: a second one kills */
}

static void test_sigterm_drains_a_server_and_the_loop_returns(void **state) {
  (void)state;
  install_prior(SIGTERM);
  aw_loop *L = unit_loop();
  server s = {0};
  assert_int_equal(aw_loop_on_signal(L, SIGTERM, on_term, &s), 0);
  s.work = aw_set_interval(L, 1, serve_tick, &s);
  run_ok(L); /* the interval keeps it alive until the drain */
  assert_log("SIGTERM drained");
  assert_true(s.draining);
  assert_true(disposition(SIGTERM) == prior_handler);
  assert_int_equal(prior_calls, 0);
  unit_finish(L);
}

/* ---- freeing a loop with registrations ------------------------------------------------------- */

static void test_a_loop_freed_with_registrations_lets_go_of_the_signal(void **state) {
  (void)state;
  install_prior(SIGUSR1);
  install_prior(SIGUSR2);
  aw_loop *L = unit_loop();
  assert_int_equal(aw_loop_on_signal(L, SIGUSR1, on_usr1_unref, "x"), 0);
  assert_int_equal(aw_loop_on_signal(L, SIGUSR2, on_usr1_unref, "y"), 0);
  kill_self(SIGUSR1); /* a call may be queued for L now: freed unrun */
  unit_free(L);
  assert_true(disposition(SIGUSR1) == prior_handler);
  assert_true(disposition(SIGUSR2) == prior_handler);
  kill_self(SIGUSR2);
  while (prior_calls == 0) {
  }
  assert_log("");
}

/* ---- two loops on two threads --------------------------------------------------------------- */

typedef struct looper {
  pthread_barrier_t *ready;
  int calls;
  int run;
  int freed;
} looper;

static void count_and_unref(aw_loop *L, void *arg) {
  ((looper *)arg)->calls++;
  aw_loop_unref(L);
}

static void *loop_thread(void *arg) {
  looper *me = arg;
  aw_loop *L = aw_loop_new(NULL, NULL);
  if (!L || aw_loop_on_signal(L, SIGUSR1, count_and_unref, me) != 0) {
    me->run = -1;
    pthread_barrier_wait(me->ready);
    return NULL;
  }
  aw_loop_ref(L);
  pthread_barrier_wait(me->ready);
  me->run = aw_loop_run(L);
  me->freed = aw_loop_free(L);
  return NULL;
}

static void test_one_signal_reaches_two_loops_on_two_threads(void **state) {
  (void)state;
  install_prior(SIGUSR1);
  for (int round = 0; round < 20; round++) {
    pthread_barrier_t ready;
    pthread_barrier_init(&ready, NULL, 3);
    looper a = {.ready = &ready}, b = {.ready = &ready};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, loop_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, loop_thread, &b), 0);
    pthread_barrier_wait(&ready);
    kill_self(SIGUSR1);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&ready);
    assert_int_equal(a.run, 0);
    assert_int_equal(b.run, 0);
    assert_int_equal(a.freed, 0);
    assert_int_equal(b.freed, 0);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_true(disposition(SIGUSR1) == prior_handler);
  }
  assert_int_equal(prior_calls, 0);
}

/* ---- fork ----------------------------------------------------------------------------------- */

static void test_a_forked_child_starts_with_no_registration(void **state) {
  (void)state;
  install_prior(SIGUSR1);
  aw_loop *L = unit_loop();
  assert_int_equal(aw_loop_on_signal(L, SIGUSR1, on_usr1_unref, "parent"), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* the old disposition is back; a loop of the child may register again */
    int ok = disposition(SIGUSR1) == prior_handler;
    if (OS_TSAN) /* ThreadSanitizer cannot start threads after a multi-threaded fork */
      _exit(ok ? 0 : 1);
    aw_loop *C = aw_loop_new(&(aw_loop_config){.no_io = true}, NULL);
    ok = ok && C && aw_loop_on_signal(C, SIGUSR1, on_usr1_unref, "child") == 0;
    ok = ok && aw_loop_off_signal(C, SIGUSR1, on_usr1_unref, "child") == 0;
    ok = ok && disposition(SIGUSR1) == prior_handler;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_true(disposition(SIGUSR1) != prior_handler); /* the parent's registration stands */
  assert_int_equal(aw_loop_off_signal(L, SIGUSR1, on_usr1_unref, "parent"), 0);
  unit_finish(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      UNIT_TEST(test_a_signal_runs_fn_on_the_loop_and_off_restores_the_disposition),
      UNIT_TEST(test_a_registration_does_not_keep_the_loop_alive),
      UNIT_TEST(test_bad_registrations_are_refused),
      UNIT_TEST(test_another_thread_may_not_register),
      UNIT_TEST(test_a_registration_removed_during_the_delivery_is_not_called),
      UNIT_TEST(test_sigterm_drains_a_server_and_the_loop_returns),
      UNIT_TEST(test_a_loop_freed_with_registrations_lets_go_of_the_signal),
      UNIT_TEST(test_one_signal_reaches_two_loops_on_two_threads),
      UNIT_TEST(test_a_forked_child_starts_with_no_registration),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
