/* examples/first.c — the README's first example: an async function awaiting a promise. */
#include <aw.h>
#include <stdio.h>
struct fetch_total {
  aw_frame frame;
  int id;
};
static aw_promise *lookup(aw_loop *L, int id) { return aw_promise_resolved(L, aw_int(id * 100)); }
static void fetch_total_body(aw_loop *L, aw_frame *self) {
  struct fetch_total *f = (struct fetch_total *)self;
  AW_BEGIN(self);
  aw_val price;
  AW_AWAIT(price, lookup(L, f->id));
  AW_RETURN(aw_int(price.u.i * 2));
  AW_END;
}
aw_promise *fetch_total(aw_loop *L, int id) {
  AW_ASYNC_NEW(L, struct fetch_total, fetch_total_body, f);
  f->id = id;
  return aw_async_start(&f->frame);
}
static aw_val print(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  printf("%s %lld\n", (const char *)arg, (long long)v.u.i);
  return aw_undefined();
}
int main(void) {
  aw_loop *L = aw_loop_new(NULL, NULL);
  aw_promise *p = fetch_total(L, 7);
  aw_release(aw_promise_then(p, print, NULL, "total"));
  aw_release(p);
  int r = aw_loop_run(L);
  aw_loop_free(L);
  return r;
}
