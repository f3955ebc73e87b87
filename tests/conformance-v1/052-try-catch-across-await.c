// a rejection surfaces at the await that observes it; try/catch can nest, rethrow and wrap across
// awaits
#include "conf.h"

/* e.message */
static const char *message(aw_val e) {
  const char *m = aw_error_message(e);
  return m ? m : "undefined";
}

/* failAfter(ms, msg): new Promise((res, rej) => setTimeout(() => rej(new Error(msg)), ms)) */
typedef struct fail_args {
  int64_t ms;
  const char *msg;
} fail_args;

static aw_val fail_exec(aw_loop *L, aw_promise *p, void *arg) {
  const fail_args *a = arg;
  conf_reject_after(L, a->ms, p, a->msg);
  return aw_undefined();
}
static aw_promise *failAfter(aw_loop *L, int64_t ms, const char *msg) {
  fail_args a = {ms, msg};
  return aw_promise_new_executor(L, fail_exec, &a);
}

typedef struct fn_frame {
  aw_frame frame;
} fn_frame;

static void inner_body(aw_loop *L, aw_frame *self) {
  aw_val r;
  AW_BEGIN(self);
  AW_AWAIT_SETTLED(r, failAfter(L, 5, "inner fail")); /* try { await failAfter(...) } */
  if (aw_is_thrown(r)) {                              /* catch (e) */
    aw_val e = aw_caught(r);
    conf_log("inner caught %s", message(e));
    aw_val wrapped = aw_err("Error", "wrapped %s", message(e));
    aw_release_val(e);
    AW_THROW(wrapped);
  }
  aw_release_val(r);
  AW_END;
}
static aw_promise *inner(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, inner_body, f);
  return aw_async_start(&f->frame);
}

static void outer_body(aw_loop *L, aw_frame *self) {
  aw_val r;
  AW_BEGIN(self);
  AW_AWAIT_SETTLED(r, inner(L)); /* try { await inner(); ... } */
  if (!aw_is_thrown(r)) {
    aw_release_val(r);
    conf_log("not reached");
  } else { /* catch (e) */
    conf_log("outer caught %s", message(r));
    aw_release_val(r);
  }
  /* try { try { await Promise.reject(...) } finally { ... } } catch (e) { ... } */
  AW_AWAIT_SETTLED(r, aw_promise_rejected(L, aw_err("Error", "deep")));
  conf_log("inner finally"); /* the inner finally, on either outcome */
  if (aw_is_thrown(r)) {     /* the throw goes on to the outer catch */
    conf_log("outer caught %s", message(r));
  }
  aw_release_val(r);
  AW_RETURN(aw_string("outer done"));
  AW_END;
}
static aw_promise *outer(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, outer_body, f);
  return aw_async_start(&f->frame);
}

/* v => console.log(v) */
static aw_val log_value(aw_loop *L, aw_val v, void *arg) {
  aw_str *s = aw_to_string(v);
  conf_log("%s", s->data);
  aw_release(s);
  return aw_undefined();
}

static void program(aw_loop *L) {
  aw_release(conf_then(outer(L), log_value, NULL, NULL));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
