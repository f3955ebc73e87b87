/*
 * tools/demo.c — the seed article's order handler (handleOrderApi) in C,
 * with a timeline: what `tools/run demo` shows until awsum exists.
 *
 * Three orders arrive together. Each async handler awaits getOrderInfo (an
 * already-resolved promise), updateOrderInDatabase (an async function),
 * confirmPaymentGateway (a timer: the "external service") and
 * sendOrderToShippingProvider. The timeline shows the three handlers
 * interleaving on one thread: every await hands the loop back, and each
 * handler resumes in a microtask when what it awaited settles. Then the
 * same two payments are awaited one after the other and in parallel.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "aw.h"

static double t0;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("[%4.0f ms] ", now_ms() - t0);
  vprintf(fmt, ap);
  putchar('\n');
  va_end(ap);
}

/* ---- the "external services" ------------------------------------------------ */

static aw_promise *get_order_info(aw_loop *L, int id) {
  say("order %d: getOrderInfo", id);
  return aw_promise_resolved(L, aw_int(id * 1099)); /* the total, in cents */
}

struct update {
  aw_frame frame;
  int id;
};
static void update_body(aw_loop *L, aw_frame *self) {
  struct update *f = (struct update *)self;
  AW_BEGIN(self);
  say("order %d: updateOrderInDatabase", f->id);
  AW_AWAIT_IGNORE(aw_undefined()); /* one tick, as a fast in-memory store would take */
  AW_RETURN(aw_string("updated"));
  AW_END;
}
static aw_promise *update_order(aw_loop *L, int id) {
  AW_ASYNC_NEW(L, struct update, update_body, f);
  f->id = id;
  return aw_async_start(&f->frame);
}

typedef struct payment {
  aw_promise *p;
  int id;
} payment;

static void payment_done(aw_loop *L, void *arg) {
  payment *pay = arg;
  say("order %d: payment gateway answered", pay->id);
  aw_promise_resolve(pay->p, aw_string("paid"));
  aw_release(pay->p);
  free(pay);
}

static aw_promise *confirm_payment(aw_loop *L, int id, int ms) {
  say("order %d: confirmPaymentGateway (the gateway takes %d ms)", id, ms);
  payment *pay = malloc(sizeof *pay);
  if (!pay)
    abort();
  aw_promise *p = aw_promise_new(L);
  pay->p = aw_retain(p);
  pay->id = id;
  aw_set_timeout(L, ms, payment_done, pay);
  return p;
}

static aw_promise *ship(aw_loop *L, int id) {
  say("order %d: sendOrderToShippingProvider", id);
  return aw_promise_resolved(L, aw_undefined());
}

/* ---- handleOrderApi ------------------------------------------------------------ */

struct handler {
  aw_frame frame;
  int id, pay_ms;
};

static void handle_order_body(aw_loop *L, aw_frame *self) {
  struct handler *f = (struct handler *)self;
  AW_BEGIN(self);
  say("order %d: request received", f->id);
  aw_val v;
  AW_AWAIT(v, get_order_info(L, f->id));
  say("order %d: total %lld.%02lld", f->id, (long long)v.u.i / 100, (long long)v.u.i % 100);
  AW_AWAIT(v, update_order(L, f->id));
  say("order %d: database says %s", f->id, aw_cstr(v));
  aw_release_val(v);
  AW_AWAIT(v, confirm_payment(L, f->id, f->pay_ms));
  aw_release_val(v);
  AW_AWAIT_IGNORE(ship(L, f->id));
  say("order %d: Order processed", f->id);
  AW_END;
}

static aw_promise *handle_order(aw_loop *L, int id, int pay_ms) {
  AW_ASYNC_NEW(L, struct handler, handle_order_body, f);
  f->id = id;
  f->pay_ms = pay_ms;
  return aw_async_start(&f->frame);
}

/* ---- sequential vs parallel ---------------------------------------------------- */

struct both {
  aw_frame frame;
  double start;
};

static void both_body(aw_loop *L, aw_frame *self) {
  struct both *f = (struct both *)self;
  AW_BEGIN(self);
  f->start = now_ms();
  AW_AWAIT_IGNORE(confirm_payment(L, 4, 100));
  AW_AWAIT_IGNORE(confirm_payment(L, 5, 100));
  say("sequential: two 100 ms payments took %.0f ms", now_ms() - f->start);
  f->start = now_ms();
  aw_val two[2];
  two[0] = aw_v(confirm_payment(L, 6, 100));
  two[1] = aw_v(confirm_payment(L, 7, 100));
  AW_AWAIT_IGNORE(aw_promise_all(L, 2, two));
  say("parallel (Promise.all): two 100 ms payments took %.0f ms", now_ms() - f->start);
  AW_END;
}

static aw_promise *sequential_vs_parallel(aw_loop *L) {
  AW_ASYNC_NEW(L, struct both, both_body, f);
  return aw_async_start(&f->frame);
}

static aw_val then_both(aw_loop *L, aw_val v, void *arg) {
  printf("\nSequential awaits add up; awaits on promises started together overlap:\n");
  return aw_obj_val(sequential_vs_parallel(L));
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  aw_val err;
  aw_loop *L = aw_loop_new(NULL, &err);
  if (!L) {
    aw_error_print(err, stderr);
    return 1;
  }
  t0 = now_ms();
  printf("libawait demo: the seed article's handleOrderApi, in C, three orders at once.\n"
         "Each line is stamped with the loop time. Every await hands the thread back to\n"
         "the loop; the handler resumes in a microtask when what it awaited settles.\n\n");
  aw_val orders[3];
  orders[0] = aw_v(handle_order(L, 1, 150));
  orders[1] = aw_v(handle_order(L, 2, 50));
  orders[2] = aw_v(handle_order(L, 3, 100));
  say("main: three handlers started, back in main");
  aw_promise *all = aw_promise_all(L, 3, orders);
  aw_release(aw_promise_then(all, then_both, NULL, NULL));
  aw_release(all);
  int r = aw_loop_run(L);
  aw_loop_free(L);
  printf("\nloop finished: %s\n", r == 0 ? "nothing left to do" : aw_strerror(r));
  return r == 0 ? 0 : 1;
}
