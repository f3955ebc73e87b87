// seed example: the order-processing chain of awaits (payment waits 100 ms on a timer) interleaved
// with other work
#include <stdlib.h>

#include "conf.h"

/* e.message */
static const char *message(aw_val e) {
  const char *m = aw_error_message(e);
  return m ? m : "undefined";
}

static aw_promise *getOrderInfo(aw_loop *L, int64_t orderId) {
  conf_log("getOrderInfo %lld", (long long)orderId);
  return aw_promise_resolved(L, aw_int(orderId * 10));
}

typedef struct update_frame {
  aw_frame frame;
  int64_t orderId;
  aw_val total;
} update_frame;

static void update_body(aw_loop *L, aw_frame *self) {
  update_frame *f = (update_frame *)self;
  AW_BEGIN(self);
  aw_str *t = aw_to_string(f->total);
  conf_log("updateOrderInDatabase %lld %s", (long long)f->orderId, t->data);
  aw_release(t);
  AW_AWAIT_IGNORE(aw_null());
  AW_RETURN(aw_string("updated"));
  AW_CLEANUP; /* releases the frame's locals (not a JS finally) */
  aw_release_val(f->total);
  AW_END_CLEANUP;
}
static aw_promise *updateOrderInDatabase(aw_loop *L, int64_t orderId, aw_val total) {
  AW_ASYNC_NEW(L, update_frame, update_body, f);
  f->orderId = orderId;
  f->total = total;
  return aw_async_start(&f->frame);
}

typedef struct payment_timer {
  aw_promise *p;
  aw_val total;
} payment_timer;

static void payment_fire(aw_loop *L, void *arg) {
  payment_timer *t = arg;
  conf_logv("payment confirmed", t->total);
  aw_promise_resolve(t->p, aw_string("paid"));
  aw_release(t->p);
  aw_release_val(t->total);
  free(t);
}
static aw_val payment_exec(aw_loop *L, aw_promise *p, void *total) {
  payment_timer *t = malloc(sizeof *t);
  *t = (payment_timer){aw_retain(p), aw_retain_val(*(aw_val *)total)};
  aw_set_timeout(L, 100, payment_fire, t);
  return aw_undefined();
}
static aw_promise *confirmPaymentGateway(aw_loop *L, aw_val total) {
  conf_logv("confirmPaymentGateway", total);
  return aw_promise_new_executor(L, payment_exec, &total);
}

typedef struct shipping_frame {
  aw_frame frame;
  int64_t orderId;
} shipping_frame;

static void shipping_body(aw_loop *L, aw_frame *self) {
  shipping_frame *f = (shipping_frame *)self;
  AW_BEGIN(self);
  conf_log("sendOrderToShippingProvider %lld", (long long)f->orderId);
  AW_RETURN(aw_strf("shipped %lld", (long long)f->orderId));
  AW_END;
}
static aw_promise *sendOrderToShippingProvider(aw_loop *L, int64_t orderId) {
  AW_ASYNC_NEW(L, shipping_frame, shipping_body, f);
  f->orderId = orderId;
  return aw_async_start(&f->frame);
}

typedef struct handle_frame {
  aw_frame frame;
  int64_t orderId;
  aw_val total, status, payment, shipping, error;
} handle_frame;

/* dst = await expr, inside the try block: a rejection goes to the catch block. */
#define TRY_AWAIT(dst, expr)                                                                       \
  do {                                                                                             \
    AW_AWAIT_SETTLED(dst, expr);                                                                   \
    if (aw_is_thrown(dst)) {                                                                       \
      f->error = aw_caught(dst);                                                                   \
      (dst) = aw_undefined();                                                                      \
      goto catch_;                                                                                 \
    }                                                                                              \
  } while (0)

static void handle_body(aw_loop *L, aw_frame *self) {
  handle_frame *f = (handle_frame *)self;
  AW_BEGIN(self);
  /* try { */
  TRY_AWAIT(f->total, getOrderInfo(L, f->orderId));
  TRY_AWAIT(f->status, updateOrderInDatabase(L, f->orderId, aw_retain_val(f->total)));
  conf_logv("status", f->status);
  TRY_AWAIT(f->payment, confirmPaymentGateway(L, f->total));
  conf_logv("payment", f->payment);
  TRY_AWAIT(f->shipping, sendOrderToShippingProvider(L, f->orderId));
  conf_logv("shipping", f->shipping);
  AW_RETURN(aw_retain_val(f->shipping));
  /* } catch (e) { */
catch_:
  conf_log("order failed %s", message(f->error));
  AW_RETURN(aw_string("failed"));
  /* } */
  AW_CLEANUP; /* releases the frame's locals (not a JS finally) */
  aw_release_val(f->total);
  aw_release_val(f->status);
  aw_release_val(f->payment);
  aw_release_val(f->shipping);
  aw_release_val(f->error);
  AW_END_CLEANUP;
}
static aw_promise *handleOrderApi(aw_loop *L, int64_t orderId) {
  AW_ASYNC_NEW(L, handle_frame, handle_body, f);
  f->orderId = orderId;
  return aw_async_start(&f->frame);
}

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void program(aw_loop *L) {
  conf_log("request received");
  aw_release(conf_then(handleOrderApi(L, 7), conf_logv_then, NULL, "response sent"));
  aw_release(
      conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "other microtask"));
  aw_set_timeout(L, 50, log_task, "other timer 50");
  conf_log("handler returned");
}

int main(void) { return conf_main(program); }
