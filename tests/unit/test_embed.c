/*
 * tests/unit/test_embed.c — what an embedding program sees. Linked against the
 * shared libawait (which links jemalloc), it checks that the program's malloc
 * is still the C library's: libawait allocates through jemalloc's own
 * mallocx/sdallocx and must never replace malloc for its host.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aw.h"

/* The object that defines the malloc this program calls: libc (or a sanitizer's interceptor). */
static const char *malloc_owner(void *fn) {
  Dl_info info;
  assert_true(dladdr(fn, &info) != 0);
  assert_non_null(info.dli_fname);
  return info.dli_fname;
}

static void test_malloc_of_the_program_is_not_jemalloc_s(void **state) {
  (void)state;
  void *(*fn)(size_t) = malloc;
  const char *owner = malloc_owner((void *)fn);
  assert_null(strstr(owner, "jemalloc"));
  assert_true(strstr(owner, "libc.so") || strstr(owner, "libasan") || strstr(owner, "libtsan"));
  owner = malloc_owner(dlsym(RTLD_DEFAULT, "malloc"));
  assert_null(strstr(owner, "jemalloc"));
}

static aw_val keep(aw_loop *L, aw_val v, void *arg) {
  (void)L;
  *(int64_t *)arg = v.u.i;
  return aw_undefined();
}

static void test_a_program_on_the_shared_library_runs_and_leaks_nothing(void **state) {
  (void)state;
  aw_loop *L = aw_loop_new(NULL, NULL);
  assert_non_null(L);
  int64_t got = 0;
  aw_promise *p = aw_promise_resolved(L, aw_int(42));
  aw_release(aw_promise_then(p, keep, NULL, &got));
  aw_release(p);
  void *mine = malloc(1000); /* the program's own allocations are untouched */
  assert_non_null(mine);
  assert_int_equal(aw_loop_run(L), 0);
  assert_int_equal(got, 42);
  free(mine);
  assert_int_equal(aw_loop_free(L), 0);
  assert_int_equal(aw_objects_alive(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_malloc_of_the_program_is_not_jemalloc_s),
      cmocka_unit_test(test_a_program_on_the_shared_library_runs_and_leaks_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
