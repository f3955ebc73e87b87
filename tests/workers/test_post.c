/*
 * tests/workers/test_post.c — aw_loop_post from other threads, and the inbox
 * under it (aw/loop.h; executor/inbox.h).
 *
 *  - 8 threads post 100,000 tasks each at once: every task runs exactly
 *    once, and each thread's tasks run in the order it posted them
 *    (threads have no order between them).
 *  - 400 short-lived threads post a few tasks each and exit: all run, and
 *    the loop lets go of their lanes.
 *  - One thread posts 10,000 tasks while the loop does not run (a lane has
 *    512 cells: the rest overflow), the loop drains part of them, the
 *    thread posts 10,000 more behind them, then 100 once the overflow is
 *    gone: nothing dropped, the order kept throughout.
 *  - A loop freed and a new one made (often at the same address), posted to
 *    by the same thread: the tasks reach the new loop, never the old lane;
 *    tasks posted to a loop freed before it ran them never run.
 *  - Ping-pong: a thread posts, waits for the loop to run it, posts again,
 *    2,000 times, so the loop is often asleep: no wake-up is ever lost.
 *  - A busy loop (an immediate chain) receiving 100,000 job completions
 *    needs next to no wake signals (eventfd writes): under a tenth of the
 *    completions (it never sleeps, so in fact none).
 *  - The loop's own posts run in order; bad arguments are refused.
 *  - 400 rounds: a thread's last post (or a job's completion) ends the
 *    loop, which is freed at once while the poster may still be inside
 *    aw_loop_post; a post to the freed loop is refused with -ESHUTDOWN; an
 *    eventfd made after the free never gets a stray write.
 *
 * meson runs this suite three times: as is, with AW_MEMBARRIER=0 (the
 * producers' full-fence fallback) and with AW_IO=none (the loop sleeps in
 * poll(2) instead of io_uring_enter).
 */
#include "workers.h"

#include <semaphore.h>
#include <sys/eventfd.h>

#include "executor/internal.h" /* L->inbox.nlanes: lanes the loop still holds */

/* Packs (thread, sequence number) into a task's arg. */
static inline void *tag(uint32_t thread, uint32_t seq) {
  return (void *)(((uintptr_t)thread << 32) | seq);
}
static inline uint32_t tag_thread(void *arg) { return (uint32_t)((uintptr_t)arg >> 32); }
static inline uint32_t tag_seq(void *arg) { return (uint32_t)(uintptr_t)arg; }

/* ---- 8 threads at once ----------------------------------------------------------------------- */

#define POSTERS 8
#define POSTS_EACH 100000u

static struct many {
  aw_loop *L;
  uint32_t next[POSTERS]; /* the sequence number expected next from each thread (loop) */
  uint64_t delivered, out_of_order, bad_thread, want;
  _Atomic int post_fail;
  _Atomic int go;
} MP;

static void mp_task(aw_loop *L, void *arg) {
  uint32_t t = tag_thread(arg), seq = tag_seq(arg);
  if (t >= POSTERS) {
    MP.bad_thread++;
  } else {
    if (seq != MP.next[t])
      MP.out_of_order++;
    MP.next[t] = seq + 1;
  }
  if (++MP.delivered == MP.want)
    aw_loop_unref(L);
}

static void *mp_poster(void *arg) {
  uint32_t t = (uint32_t)(uintptr_t)arg;
  while (!atomic_load(&MP.go))
    sched_yield();
  for (uint32_t i = 0; i < POSTS_EACH; i++)
    if (aw_loop_post(MP.L, mp_task, tag(t, i)) != 0)
      atomic_fetch_add(&MP.post_fail, 1);
  return NULL;
}

static void mp_go(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  atomic_store(&MP.go, 1); /* from inside the running loop */
}

static void test_eight_threads_post_concurrently(void **state) {
  (void)state;
  memset(&MP, 0, sizeof MP);
  aw_loop *L = MP.L = wk_loop(NULL);
  MP.want = (uint64_t)POSTERS * POSTS_EACH;
  aw_loop_ref(L); /* until every task came */
  pthread_t th[POSTERS];
  for (uintptr_t t = 0; t < POSTERS; t++)
    assert_int_equal(pthread_create(&th[t], NULL, mp_poster, (void *)t), 0);
  aw_set_immediate(L, mp_go, NULL);
  run_ok(L);
  for (int t = 0; t < POSTERS; t++)
    assert_int_equal(pthread_join(th[t], NULL), 0);
  assert_int_equal(atomic_load(&MP.post_fail), 0);
  assert_int_equal(MP.bad_thread, 0);
  assert_int_equal(MP.out_of_order, 0);
  assert_int_equal(MP.delivered, MP.want);
  for (int t = 0; t < POSTERS; t++)
    assert_int_equal(MP.next[t], POSTS_EACH);
  /* nothing more arrives afterwards */
  assert_int_equal(aw_loop_run_once(L, false), 0);
  assert_int_equal(MP.delivered, MP.want);
  wk_finish(L);
}

/* ---- short-lived threads ----------------------------------------------------------------------
 */

#define SHORT_THREADS 400u
#define SHORT_POSTS 5u
#define SHORT_WAVE 8u

static struct shortlived {
  aw_loop *L;
  uint8_t *next; /* per thread */
  uint64_t delivered, out_of_order;
  _Atomic int post_fail, create_fail;
} SL;

static void sl_task(aw_loop *L, void *arg) {
  uint32_t t = tag_thread(arg), seq = tag_seq(arg);
  if (seq != SL.next[t])
    SL.out_of_order++;
  SL.next[t] = (uint8_t)(seq + 1);
  if (++SL.delivered == (uint64_t)SHORT_THREADS * SHORT_POSTS)
    aw_loop_unref(L);
}

static void *sl_poster(void *arg) {
  uint32_t t = (uint32_t)(uintptr_t)arg;
  for (uint32_t i = 0; i < SHORT_POSTS; i++)
    if (aw_loop_post(SL.L, sl_task, tag(t, i)) != 0)
      atomic_fetch_add(&SL.post_fail, 1);
  return NULL; /* the thread's exit lets go of its lane */
}

/* Starts the short-lived threads, a wave at a time, and joins them all. */
static void *sl_spawner(void *arg) {
  (void)arg;
  pthread_t wave[SHORT_WAVE];
  for (uint32_t base = 0; base < SHORT_THREADS; base += SHORT_WAVE) {
    for (uint32_t k = 0; k < SHORT_WAVE; k++)
      if (pthread_create(&wave[k], NULL, sl_poster, (void *)(uintptr_t)(base + k)) != 0) {
        atomic_fetch_add(&SL.create_fail, 1);
        sl_poster((void *)(uintptr_t)(base + k)); /* post its share from here, keep the count */
        wave[k] = 0;
      }
    for (uint32_t k = 0; k < SHORT_WAVE; k++)
      if (wave[k])
        pthread_join(wave[k], NULL);
  }
  return NULL;
}

static void test_short_lived_threads_and_lane_reclaim(void **state) {
  (void)state;
  memset(&SL, 0, sizeof SL);
  SL.next = calloc(SHORT_THREADS, 1);
  assert_non_null(SL.next);
  aw_loop *L = SL.L = wk_loop(NULL);
  aw_loop_ref(L);
  pthread_t sp;
  assert_int_equal(pthread_create(&sp, NULL, sl_spawner, NULL), 0);
  run_ok(L);
  assert_int_equal(pthread_join(sp, NULL), 0);
  assert_int_equal(atomic_load(&SL.post_fail), 0);
  assert_int_equal(atomic_load(&SL.create_fail), 0);
  assert_int_equal(SL.out_of_order, 0);
  assert_int_equal(SL.delivered, (uint64_t)SHORT_THREADS * SHORT_POSTS);
  for (uint32_t t = 0; t < SHORT_THREADS; t++)
    assert_int_equal(SL.next[t], SHORT_POSTS);
  /*
   * Every poster has exited: the loop drops a lane once it finds it empty with
   * its producer gone (one turn to notice, one to sweep).
   */
  for (int i = 0; i < 3; i++)
    aw_loop_run_once(L, false);
  assert_int_equal(L->inbox.nlanes, 0);
  assert_null(atomic_load(&L->inbox.reg));
  free(SL.next);
  wk_finish(L);
}

/* ---- overflow: one thread, far more than a lane holds -------------------------------------------
 */

static struct overflow {
  aw_loop *L;
  sem_t go, done;
  uint32_t from, count; /* what the poster posts next */
  uint32_t next;        /* what the loop expects next */
  uint64_t delivered, out_of_order;
  _Atomic int post_fail;
  bool quit;
} OV;

static void ov_task(aw_loop *L, void *arg) {
  (void)L;
  if (tag_seq(arg) != OV.next)
    OV.out_of_order++;
  OV.next = tag_seq(arg) + 1;
  OV.delivered++;
}

static void *ov_poster(void *arg) {
  (void)arg;
  for (;;) {
    sem_wait(&OV.go);
    if (OV.quit)
      return NULL;
    for (uint32_t i = 0; i < OV.count; i++)
      if (aw_loop_post(OV.L, ov_task, tag(0, OV.from + i)) != 0)
        atomic_fetch_add(&OV.post_fail, 1);
    sem_post(&OV.done);
  }
}

/* The poster posts count tasks numbered from `from`; returns when it is done. */
static void ov_post(uint32_t from, uint32_t count) {
  OV.from = from;
  OV.count = count;
  sem_post(&OV.go);
  sem_wait(&OV.done);
}

static void test_overflow_keeps_order_and_drops_nothing(void **state) {
  (void)state;
  memset(&OV, 0, sizeof OV);
  assert_int_equal(sem_init(&OV.go, 0, 0), 0);
  assert_int_equal(sem_init(&OV.done, 0, 0), 0);
  aw_loop *L = OV.L = wk_loop(NULL);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, ov_poster, NULL), 0);
  /* 10,000 while the loop does not run: 512 in the lane, the rest in its overflow */
  ov_post(0, 10000);
  /* one turn runs at most 4,096 posted tasks: some of the overflow is left */
  assert_int_equal(aw_loop_run_once(L, false), 1);
  uint64_t first = OV.delivered;
  assert_true(first > 0 && first < 10000);
  assert_int_equal(OV.out_of_order, 0);
  /* 10,000 more while the overflow is not empty: they go behind it */
  ov_post(10000, 10000);
  run_ok(L);
  assert_int_equal(OV.delivered, 20000);
  assert_int_equal(OV.next, 20000);
  /* the overflow is empty now: the next ones go through the lane again, still in order */
  ov_post(20000, 100);
  run_ok(L);
  assert_int_equal(OV.delivered, 20100);
  assert_int_equal(OV.next, 20100);
  assert_int_equal(OV.out_of_order, 0);
  assert_int_equal(atomic_load(&OV.post_fail), 0);
  OV.quit = true;
  sem_post(&OV.go);
  assert_int_equal(pthread_join(t, NULL), 0);
  sem_destroy(&OV.go);
  sem_destroy(&OV.done);
  wk_finish(L);
}

/* ---- a new loop where an old one was -----------------------------------------------------------
 */

static struct reuse {
  aw_loop *L;
  sem_t go, done;
  uint32_t cycle;
  uint64_t delivered[40], wrong_cycle, out_of_order;
  uint32_t next;
  _Atomic int post_fail;
  bool quit;
} RU;

static void ru_task(aw_loop *L, void *arg) {
  (void)L;
  if (tag_thread(arg) != RU.cycle)
    RU.wrong_cycle++;
  else
    RU.delivered[RU.cycle]++;
  if (tag_seq(arg) != RU.next)
    RU.out_of_order++;
  RU.next = tag_seq(arg) + 1;
}

static void *ru_poster(void *arg) {
  (void)arg;
  for (;;) {
    sem_wait(&RU.go);
    if (RU.quit)
      return NULL;
    for (uint32_t i = 0; i < 600; i++) /* more than a lane's 512 cells */
      if (aw_loop_post(RU.L, ru_task, tag(RU.cycle, i)) != 0)
        atomic_fetch_add(&RU.post_fail, 1);
    sem_post(&RU.done);
  }
}

static void test_new_loop_at_the_old_address(void **state) {
  (void)state;
  memset(&RU, 0, sizeof RU);
  assert_int_equal(sem_init(&RU.go, 0, 0), 0);
  assert_int_equal(sem_init(&RU.done, 0, 0), 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, ru_poster, NULL), 0);
  aw_loop *prev = NULL;
  unsigned same_address = 0;
  for (uint32_t c = 0; c < 40; c++) {
    aw_loop *L = RU.L = wk_loop(NULL);
    same_address += L == prev;
    prev = L;
    RU.cycle = c;
    RU.next = 0;
    sem_post(&RU.go);
    sem_wait(&RU.done);
    if (c % 3 == 2) {
      /* freed with the tasks still queued: they never run */
      assert_int_equal(aw_loop_free(L), 0);
      continue;
    }
    run_ok(L);
    assert_int_equal(RU.delivered[c], 600);
    assert_int_equal(RU.next, 600);
    wk_finish(L);
  }
  RU.quit = true;
  sem_post(&RU.go);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(atomic_load(&RU.post_fail), 0);
  assert_int_equal(RU.wrong_cycle, 0);
  assert_int_equal(RU.out_of_order, 0);
  for (uint32_t c = 2; c < 40; c += 3)
    assert_int_equal(RU.delivered[c], 0);
  print_message("    %u of 39 new loops took the old one's address\n", same_address);
  sem_destroy(&RU.go);
  sem_destroy(&RU.done);
}

/* ---- ping-pong: the loop often asleep
 * ------------------------------------------------------------ */

#define PINGS 2000

static struct pingpong {
  aw_loop *L;
  _Atomic int ran; /* tasks the loop has run */
  int stuck, post_fail;
} PP;

static void pp_task(aw_loop *L, void *arg) {
  int k = (int)(intptr_t)arg;
  atomic_store(&PP.ran, k + 1);
  if (k + 1 == PINGS)
    aw_loop_unref(L);
}

static void *pp_poster(void *arg) {
  (void)arg;
  for (int k = 0; k < PINGS; k++) {
    if (k % 7 == 3)
      wk_nap_us((unsigned)(k % 5) * 100); /* sometimes the loop is asleep by now */
    if (aw_loop_post(PP.L, pp_task, (void *)(intptr_t)k) != 0)
      PP.post_fail++;
    if (!wait_atleast(&PP.ran, k + 1)) {
      PP.stuck = k + 1; /* a lost wake-up: give up (the loop's ref keeps it running) */
      return NULL;
    }
  }
  return NULL;
}

static void test_ping_pong_never_loses_a_wakeup(void **state) {
  (void)state;
  memset(&PP, 0, sizeof PP);
  aw_loop *L = PP.L = wk_loop(NULL);
  aw_loop_ref(L);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, pp_poster, NULL), 0);
  run_ok(L);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(PP.stuck, 0);
  assert_int_equal(PP.post_fail, 0);
  assert_int_equal(atomic_load(&PP.ran), PINGS);
  aw_loop_stats st = wk_stats(L);
  assert_true(st.wake_signals <= PINGS); /* at most one per post */
  print_message("    %d round trips: %llu wake signals, %llu wake-ups\n", PINGS,
                (unsigned long long)st.wake_signals, (unsigned long long)st.wakeups);
  wk_finish(L);
}

/* ---- 7. a busy loop needs next to no wake signals
 * ------------------------------------------------ */

#define BUSY_COMPLETIONS 100000u

static struct busy {
  uint32_t started, completed, in_flight, hops;
  uint64_t bad;
} BZ;

static void busy_refill(aw_loop *L);

static aw_val busy_done(aw_loop *L, aw_val v, void *arg) {
  if (aw_tag_of(v) != AW_TAG_INT || v.u.i != (int64_t)(intptr_t)arg)
    BZ.bad++;
  BZ.completed++;
  BZ.in_flight--;
  busy_refill(L);
  return aw_undefined();
}

static aw_val busy_failed(aw_loop *L, aw_val v, void *arg) {
  (void)v;
  (void)arg;
  BZ.bad++;
  BZ.completed++;
  BZ.in_flight--;
  busy_refill(L);
  return aw_undefined();
}

static void busy_refill(aw_loop *L) {
  while (BZ.in_flight < 256 && BZ.started < BUSY_COMPLETIONS) {
    intptr_t i = BZ.started++;
    aw_promise *p = aw_work(L, job_echo, (void *)i, NULL);
    if (!p) {
      BZ.bad++;
      continue;
    }
    aw_release(aw_promise_then(p, busy_done, busy_failed, (void *)i));
    aw_release(p);
    BZ.in_flight++;
  }
}

/* The loop keeps itself busy: an immediate every turn while completions are due. */
static void busy_hop(aw_loop *L, void *arg) {
  (void)arg;
  BZ.hops++;
  if (BZ.completed < BUSY_COMPLETIONS)
    aw_set_immediate(L, busy_hop, NULL);
}

static void test_busy_loop_needs_few_wake_signals(void **state) {
  (void)state;
  memset(&BZ, 0, sizeof BZ);
  aw_pool *P = wk_pool(2, 1);
  aw_loop *L = wk_loop(P);
  busy_refill(L);
  aw_set_immediate(L, busy_hop, NULL);
  run_ok(L);
  assert_int_equal(BZ.bad, 0);
  assert_int_equal(BZ.completed, BUSY_COMPLETIONS);
  aw_loop_stats st = wk_stats(L);
  /*
   * The worst case: a producer writes the eventfd only when the loop has
   * announced that it is about to sleep, and a loop with an immediate
   * pending never does. So the count is 0; a tenth is the brief's bound.
   */
  print_message("    %u completions, %u loop turns: %llu wake signals, %llu wake-ups\n",
                BUSY_COMPLETIONS, BZ.hops, (unsigned long long)st.wake_signals,
                (unsigned long long)st.wakeups);
  assert_true(st.wake_signals < BUSY_COMPLETIONS / 10);
  assert_true(st.wakeups < BUSY_COMPLETIONS / 10);
  wk_finish(L);
  aw_pool_free(P);
}

/* ---- the loop's own posts; bad arguments
 * --------------------------------------------------------- */

static void own_task(aw_loop *L, void *arg) {
  wlog("%d", (int)(intptr_t)arg);
  if ((intptr_t)arg == 1)
    aw_loop_post(L, own_task, (void *)(intptr_t)4); /* behind the ones already posted */
}

static void test_posts_from_the_loop_thread_run_in_order(void **state) {
  (void)state;
  aw_loop *L = wk_loop(NULL);
  assert_int_equal(aw_loop_post(NULL, own_task, NULL), -EINVAL);
  assert_int_equal(aw_loop_post(L, NULL, NULL), -EINVAL);
  for (intptr_t i = 1; i <= 3; i++)
    assert_int_equal(aw_loop_post(L, own_task, (void *)i), 0);
  run_ok(L);
  assert_log("1 2 3 4");
  wk_finish(L);
}

/* ---- the last post ends the loop, which is freed at once ------------------------------------ */

/*
 * A thread posts a few tasks, the last of which lets the loop end; the test
 * frees the loop the moment aw_loop_run returns, while the poster may still
 * be inside aw_loop_post (reading the inbox, writing the eventfd). Half the
 * rounds also finish a pool job last. Then a post to the freed loop is
 * refused (-ESHUTDOWN) without touching it, and an eventfd made right after
 * the free (often with the loop's old number) never receives a stray write.
 * ASan/TSan: a use after free on the old code.
 */
#define END_ROUNDS 400

static struct endpost {
  aw_loop *L;
  sem_t go, done;
  int round;
  _Atomic int ran;
  int post_fail, after_free, quit;
} EP;

static void ep_noop(aw_loop *L, void *arg) {
  (void)L;
  (void)arg;
  atomic_fetch_add(&EP.ran, 1);
}

static void ep_last(aw_loop *L, void *arg) {
  (void)arg;
  atomic_fetch_add(&EP.ran, 1);
  aw_loop_unref(L); /* nothing keeps the loop alive now: aw_loop_run returns */
}

static void *ep_poster(void *arg) {
  (void)arg;
  for (;;) {
    sem_wait(&EP.go);
    if (EP.quit)
      return NULL;
    aw_loop *L = EP.L;
    int k = EP.round % 4;
    if (EP.round % 3 == 1)
      wk_nap_us(300); /* the loop is asleep by now: the post writes its eventfd */
    for (int i = 0; i < k; i++)
      if (aw_loop_post(L, ep_noop, NULL) != 0)
        EP.post_fail++;
    if (aw_loop_post(L, ep_last, NULL) != 0)
      EP.post_fail++;
    sem_post(&EP.done);
    /* L is freed (or being freed) now: refused, never touched */
    sem_wait(&EP.go);
    if (aw_loop_post(L, ep_noop, NULL) != -ESHUTDOWN)
      EP.after_free++;
    sem_post(&EP.done);
  }
}

static aw_val ep_job(aw_job *job, void *arg) {
  (void)job;
  (void)arg;
  return aw_int(1);
}

static void test_last_post_ends_the_loop_freed_at_once(void **state) {
  (void)state;
  memset(&EP, 0, sizeof EP);
  assert_int_equal(sem_init(&EP.go, 0, 0), 0);
  assert_int_equal(sem_init(&EP.done, 0, 0), 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, ep_poster, NULL), 0);
  int strays = 0, want = 0;
  for (int r = 0; r < END_ROUNDS; r++) {
    aw_loop_config cfg = {.no_io = r % 2 == 0}; /* a quick free, or one with a ring */
    aw_loop *L = aw_loop_new(&cfg, NULL);
    if (!L)
      L = wk_loop(NULL);
    EP.L = L;
    EP.round = r;
    aw_loop_ref(L);
    if (r % 2 == 1)
      then_drop(aw_work(L, ep_job, NULL, NULL), NULL, NULL, NULL);
    want += r % 4 + 1;
    sem_post(&EP.go);
    run_ok(L);
    assert_int_equal(aw_loop_free(L), 0);
    int efd = eventfd(0, EFD_NONBLOCK); /* often the number the loop's eventfd had */
    sem_wait(&EP.done);
    sem_post(&EP.go);
    sem_wait(&EP.done);
    uint64_t v;
    if (efd >= 0 && read(efd, &v, sizeof v) == (ssize_t)sizeof v)
      strays++;
    if (efd >= 0)
      close(efd);
  }
  EP.quit = 1;
  sem_post(&EP.go);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(EP.post_fail, 0);
  assert_int_equal(EP.after_free, 0);
  assert_int_equal(strays, 0);
  assert_int_equal(atomic_load(&EP.ran), want);
  sem_destroy(&EP.go);
  sem_destroy(&EP.done);
  assert_int_equal(aw_objects_alive(), wk_base);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      WK_TEST(test_eight_threads_post_concurrently),
      WK_TEST(test_short_lived_threads_and_lane_reclaim),
      WK_TEST(test_overflow_keeps_order_and_drops_nothing),
      WK_TEST(test_new_loop_at_the_old_address),
      WK_TEST(test_ping_pong_never_loses_a_wakeup),
      WK_TEST(test_busy_loop_needs_few_wake_signals),
      WK_TEST(test_posts_from_the_loop_thread_run_in_order),
      WK_TEST(test_last_post_ends_the_loop_freed_at_once),
  };
  return cmocka_run_group_tests_name("workers: post", tests, NULL, NULL);
}
