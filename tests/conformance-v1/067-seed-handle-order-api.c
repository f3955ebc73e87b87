// the seed article's order-processing handler, verbatim, with the order printed: the chain runs
// step by step and the payment step waits for its 100 ms timer
#include "conf.h"

/* { customerName, orderTotal }: a plain object (no then). */
typedef struct order {
  const char *customerName;
  double orderTotal;
} order;
static const aw_class order_class = {"Object", NULL, NULL};

static order *order_of(aw_val v) { return aw_object_data(v.u.o); }

// Simulate external services
static aw_promise *getOrderInfo(aw_loop *L) {
  aw_obj *o = aw_object_new(&order_class, sizeof(order));
  *(order *)aw_object_data(o) = (order){"John Doe", 10.99};
  return aw_promise_resolved(L, aw_obj_val(o));
}

static aw_promise *updateOrderInDatabase(aw_loop *L, aw_val o) {
  conf_log("update %s", order_of(o)->customerName);
  return aw_promise_resolved(L, aw_undefined());
}

static void resolve_task(aw_loop *L, void *p) {
  aw_promise_resolve(p, aw_undefined());
  aw_release(p);
}
static aw_val payment_exec(aw_loop *L, aw_promise *p, void *arg) {
  aw_set_timeout(L, 100, resolve_task, aw_retain(p)); // Simulate payment gateway response
  return aw_undefined();
}
static aw_promise *confirmPaymentGateway(aw_loop *L, aw_val o) {
  conf_logv("pay", aw_double(order_of(o)->orderTotal));
  return aw_promise_new_executor(L, payment_exec, NULL);
}

static aw_promise *sendOrderToShippingProvider(aw_loop *L, aw_val o) {
  conf_log("ship %s", order_of(o)->customerName);
  return aw_promise_resolved(L, aw_undefined());
}

typedef struct handle_frame {
  aw_frame frame;
  aw_val order, error;
} handle_frame;

/* await expr inside the try block: a rejection goes to the catch block. */
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
  aw_val v;
  AW_BEGIN(self);
  /* try { */
  // Add task to MicroTask Queue
  TRY_AWAIT(f->order, getOrderInfo(L));
  // Add tasks to Macrotask Queue
  TRY_AWAIT(v, updateOrderInDatabase(L, f->order));
  aw_release_val(v);
  TRY_AWAIT(v, confirmPaymentGateway(L, f->order));
  aw_release_val(v);
  TRY_AWAIT(v, sendOrderToShippingProvider(L, f->order));
  aw_release_val(v);
  conf_log("Order processed");
  AW_RETURN(aw_undefined());
  /* } catch (error) { */
catch_:
  fprintf(stderr, "Error processing order: ");
  aw_error_print(f->error, stderr);
  /* } */
  AW_CLEANUP; /* releases the frame's locals (not a JS finally) */
  aw_release_val(f->order);
  aw_release_val(f->error);
  AW_END_CLEANUP;
}
static aw_promise *handleOrderApi(aw_loop *L) {
  AW_ASYNC_NEW(L, handle_frame, handle_body, f);
  return aw_async_start(&f->frame);
}

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void program(aw_loop *L) {
  aw_release(handleOrderApi(L));
  aw_set_timeout(L, 50, log_task, "timer 50");
  conf_log("handler started");
}

int main(void) { return conf_main(program); }
