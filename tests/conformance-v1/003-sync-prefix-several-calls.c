/* 003: several calls each run their prefix synchronously in call order; later steps resume in the
 * order their awaits were reached */
#include "conf.h"

typedef struct {
  aw_frame frame;
  const char *name;
  int64_t n, i;
} worker_frame;

static void worker_body(aw_loop *L, aw_frame *self) {
  worker_frame *f = (worker_frame *)self;
  AW_BEGIN(self);
  conf_log("%s start", f->name);
  for (f->i = 1; f->i <= f->n; f->i++) {
    AW_AWAIT_IGNORE(aw_null());
    conf_log("%s step %lld", f->name, (long long)f->i);
  }
  conf_log("%s done", f->name);
  AW_END;
}
static aw_promise *worker(aw_loop *L, const char *name, int64_t n) {
  AW_ASYNC_NEW(L, worker_frame, worker_body, f);
  f->name = name;
  f->n = n;
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) {
  conf_log("main start");
  aw_release(worker(L, "x", 3));
  aw_release(worker(L, "y", 1));
  aw_release(worker(L, "z", 2));
  conf_log("main end");
}

int main(void) { return conf_main(program); }
