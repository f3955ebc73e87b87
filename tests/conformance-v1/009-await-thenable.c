/* 009: await of a plain-object thenable calls its then in a separate job: two ticks instead of one
 */
#include "conf.h"

static aw_obj *thenable; /* const thenable */

static aw_val thenable_then(aw_loop *L, aw_obj *self, aw_resolver *r) {
  conf_log("then called");
  aw_resolver_resolve(r, aw_string("tv"));
  return aw_undefined();
}

typedef struct {
  aw_frame frame;
} f_frame;

static void f_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  conf_log("f start");
  aw_val v;
  AW_AWAIT(v, aw_obj_val(aw_retain(thenable)));
  conf_logv("f got", v);
  aw_release_val(v);
  AW_END;
}
static aw_promise *f(aw_loop *L) {
  AW_ASYNC_NEW(L, f_frame, f_body, fr);
  return aw_async_start(&fr->frame);
}

/* const x = ...: the reference moves into a global that lives until the end. */
static aw_obj *global(aw_obj *o) {
  conf_keep_val(aw_obj_val(o));
  aw_release(o);
  return o;
}

static void program(aw_loop *L) {
  thenable = global(conf_thenable(thenable_then, NULL));
  conf_ticks(L, 4);
  aw_release(f(L));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
