/* examples/first.c — the README's first example: declared async functions, a try statement and a
 * function value. */
#include <aw.h>
#include <stdio.h>

static aw_promise *lookup(aw_loop *L, int id) { return aw_promise_resolved(L, aw_int(id * 100)); }

/* async function fetchTotal(id) { const price = await lookup(id); return price * 2; } */
AW_ASYNC(fetch_total, (int, id)) { /* aw_promise *fetch_total(aw_loop *L, int id) */
  aw_val price;
  AW_AWAIT(price, lookup(L, my->id)); /* suspends; resumes in a microtask */
  AW_RETURN(price.u.i * 2);
}
AW_ASYNC_END;

/* async function report(id) { try { log('total', await fetchTotal(id)); } catch (e) { ... } } */
AW_ASYNC(report, (int, id), AW_VAR(aw_val, err)) {
  AW_TRY {
    aw_val total;
    AW_AWAIT(total, fetch_total(L, my->id));
    printf("total %lld\n", (long long)total.u.i); /* total 1400 */
  }
  AW_CATCH(my->err) { printf("failed: %s\n", aw_error_message(my->err)); }
  AW_END_TRY;
}
AW_ASYNC_END;

/* setTimeout(() => console.log(label, n), 10): a function value with two captures */
AW_FN(print_later) {
  printf("%s %lld\n", aw_cstr(cap[0]), (long long)cap[1].u.i);
  return aw_undefined();
}

int main(void) {
  aw_loop *L = aw_loop_new(NULL, NULL);
  aw_release(report(L, 7));
  aw_set_timeout_fn(L, 10, aw_fn(print_later, "later", 42)); /* later 42 */
  int r = aw_loop_run(L);
  aw_loop_free(L);
  return r == 0 && aw_objects_alive() == 0 ? 0 : 1;
}
