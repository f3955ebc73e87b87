/* 018: an async function returning a thenable costs one extra tick, returning a native promise two,
 * a value none */
#include "conf.h"

typedef struct {
  aw_frame frame;
} fn_frame;

static void ret_value_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_string("value"));
  AW_END;
}
static aw_promise *ret_value(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, ret_value_body, fr);
  return aw_async_start(&fr->frame);
}

/* { then(res) { console.log('thenable.then'); res('thenable'); } } */
static aw_val logging_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  conf_log("thenable.then");
  aw_resolver_resolve(r, aw_string("thenable"));
  return aw_undefined();
}
static void ret_thenable_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(conf_thenable(logging_then, NULL));
  AW_END;
}
static aw_promise *ret_thenable(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, ret_thenable_body, fr);
  return aw_async_start(&fr->frame);
}

static void ret_native_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_promise_resolved(L, aw_string("native")));
  AW_END;
}
static aw_promise *ret_native(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, ret_native_body, fr);
  return aw_async_start(&fr->frame);
}

/* { then(res) { res('awaited thenable'); } } */
static aw_val quiet_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  aw_resolver_resolve(r, aw_string("awaited thenable"));
  return aw_undefined();
}
static void ret_awaited_thenable_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  aw_val v;
  AW_AWAIT(v, conf_thenable(quiet_then, NULL));
  AW_RETURN(v);
  AW_END;
}
static aw_promise *ret_awaited_thenable(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, ret_awaited_thenable_body, fr);
  return aw_async_start(&fr->frame);
}

/* v => console.log(v) */
static aw_val log_value(aw_loop *L, aw_val v, void *arg) {
  aw_str *s = aw_to_string(v);
  conf_log("%s", s->data);
  aw_release(s);
  return aw_undefined();
}

static void program(aw_loop *L) {
  conf_ticks(L, 6);
  aw_release(conf_then(ret_native(L), log_value, NULL, NULL));
  aw_release(conf_then(ret_thenable(L), log_value, NULL, NULL));
  aw_release(conf_then(ret_awaited_thenable(L), log_value, NULL, NULL));
  aw_release(conf_then(ret_value(L), log_value, NULL, NULL));
}

int main(void) { return conf_main(program); }
