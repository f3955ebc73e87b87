// the seed's throw example: an async function that throws returns a rejected promise, caught by
// .catch one tick later; await 10 and an async method returning a string
#include "conf.h"

/* console.log as a handler: console.log(v) */
static aw_val console_log(aw_loop *L, aw_val v, void *arg) {
  aw_str *s = aw_to_string(v);
  conf_log("%s", s->data);
  aw_release(s);
  return aw_undefined();
}

typedef struct fn_frame {
  aw_frame frame;
} fn_frame;

static void test_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_THROW(aw_string("Error!"));
  AW_END;
}
static aw_promise *test(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, test_body, f);
  return aw_async_start(&f->frame);
}

static void getName_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  AW_RETURN(aw_string("Anoop"));
  AW_END;
}
static aw_promise *getName(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, getName_body, f);
  return aw_async_start(&f->frame);
}

static void ten_body(aw_loop *L, aw_frame *self) {
  aw_val v;
  AW_BEGIN(self);
  AW_AWAIT(v, aw_int(10));
  conf_logv("await 10 ->", v);
  AW_END;
}
static aw_promise *ten(aw_loop *L) {
  AW_ASYNC_NEW(L, fn_frame, ten_body, f);
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) {
  aw_release(conf_catch(test(L), console_log, NULL));
  aw_release(conf_then(getName(L), conf_logv_then, NULL, "name"));
  aw_release(ten(L));
  conf_log("sync done");
}

int main(void) { return conf_main(program); }
