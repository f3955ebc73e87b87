/*
 * executor/alloc.c — the library's allocator and the per-loop pools.
 *
 * Built with jemalloc (the default), blocks come from mallocx/sdallocx: the
 * library never replaces the embedding program's malloc, it only calls
 * jemalloc's own non-standard entry points. Built with -Dallocator=libc
 * (sanitizer and valgrind builds), malloc/free, so the tools see everything.
 */
#include "internal.h"

#include <string.h>

#if AW_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

_Thread_local int64_t aw__tls_objects;

_Noreturn void aw__oom(size_t size) {
  fprintf(stderr, "libawait: out of memory allocating %zu bytes\n", size);
  abort();
}

void *aw__try_alloc(size_t size) {
#if AW_USE_JEMALLOC
  return mallocx(size ? size : 1, 0);
#else
  return malloc(size ? size : 1);
#endif
}

void *aw__alloc(size_t size) {
  void *p = aw__try_alloc(size);
  if (AW__UNLIKELY(!p))
    aw__oom(size);
  return p;
}

void *aw__calloc(size_t size) {
#if AW_USE_JEMALLOC
  void *p = mallocx(size ? size : 1, MALLOCX_ZERO);
#else
  void *p = calloc(1, size ? size : 1);
#endif
  if (AW__UNLIKELY(!p))
    aw__oom(size);
  return p;
}

void *aw__realloc(void *p, size_t old_size, size_t new_size) {
  (void)old_size;
  if (!p)
    return aw__alloc(new_size);
#if AW_USE_JEMALLOC
  void *q = rallocx(p, new_size ? new_size : 1, 0);
#else
  void *q = realloc(p, new_size ? new_size : 1);
#endif
  if (AW__UNLIKELY(!q))
    aw__oom(new_size);
  return q;
}

void aw__free(void *p, size_t size) {
  if (!p)
    return;
#if AW_USE_JEMALLOC
  sdallocx(p, size ? size : 1, 0);
#else
  (void)size;
  free(p);
#endif
}

void *aw__pool_get_slow(aw_loop *L, size_t size) {
  (void)L;
  return aw__alloc((size + 15) & ~(size_t)15);
}

void aw__pool_drain(aw_loop *L) {
  for (size_t c = 1; c <= AW__POOL_CLASSES; c++) {
    void *b = L->pool.head[c];
    while (b) {
      void *next = *(void **)b;
      aw__free(b, c << 4);
      b = next;
    }
    L->pool.head[c] = NULL;
    L->pool.count[c] = 0;
  }
}
