// a loop of 100000 awaits runs without stack growth and gives the exact sum
#include "conf.h"

typedef struct sum_frame {
  aw_frame frame;
  int64_t n, i, total;
} sum_frame;

static void sum_body(aw_loop *L, aw_frame *self) {
  sum_frame *f = (sum_frame *)self;
  AW_BEGIN(self);
  f->total = 0;
  for (f->i = 1; f->i <= f->n; f->i++) {
    aw_val v;
    AW_AWAIT(v, aw_int(f->i)); /* total += await i */
    f->total += v.u.i;
  }
  AW_RETURN(aw_int(f->total));
  AW_END;
}
static aw_promise *sum(aw_loop *L, int64_t n) {
  AW_ASYNC_NEW(L, sum_frame, sum_body, f);
  f->n = n;
  return aw_async_start(&f->frame);
}

static void program(aw_loop *L) {
  aw_release(conf_then(sum(L, 100000), conf_logv_then, NULL, "sum"));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
