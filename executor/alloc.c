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
#include <sys/mman.h>

#if AW_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

_Thread_local aw__counter aw__tls_count;

static pthread_mutex_t counters_lock = PTHREAD_MUTEX_INITIALIZER;
static aw__counter *counters;    /* every thread's, while the thread lives */
static int64_t counters_retired; /* what exited threads left */
static pthread_key_t counter_key;
static pthread_once_t counter_once = PTHREAD_ONCE_INIT;

static void counter_exit(void *p) {
  aw__counter *c = p;
  pthread_mutex_lock(&counters_lock);
  counters_retired += atomic_load_explicit(&c->n, memory_order_relaxed);
  if (c->prev)
    c->prev->next = c->next;
  else
    counters = c->next;
  if (c->next)
    c->next->prev = c->prev;
  pthread_mutex_unlock(&counters_lock);
}

/*
 * fork(): the child has only the forking thread, but the list still holds the
 * counters of the parent's other threads, whose thread-local memory a new
 * thread of the child may get again (zeroed) and register a second time. So
 * the child folds those counts into counters_retired and keeps its own.
 */
static void counters_prefork(void) { pthread_mutex_lock(&counters_lock); }
static void counters_parent(void) { pthread_mutex_unlock(&counters_lock); }
static void counters_child(void) {
  aw__counter *self = &aw__tls_count;
  for (aw__counter *c = counters; c; c = c->next)
    if (c != self)
      counters_retired += atomic_load_explicit(&c->n, memory_order_relaxed);
  counters = NULL;
  if (self->registered) {
    self->prev = self->next = NULL;
    counters = self;
  }
  pthread_mutex_init(&counters_lock, NULL);
}

static void counter_init(void) {
  pthread_key_create(&counter_key, counter_exit);
  pthread_atfork(counters_prefork, counters_parent, counters_child);
}

void aw__counter_register(void) {
  pthread_once(&counter_once, counter_init);
  aw__counter *c = &aw__tls_count;
  pthread_mutex_lock(&counters_lock);
  c->prev = NULL;
  c->next = counters;
  if (counters)
    counters->prev = c;
  counters = c;
  c->registered = true;
  pthread_mutex_unlock(&counters_lock);
  pthread_setspecific(counter_key, c); /* counter_exit folds it in when the thread ends */
}

int64_t aw_objects_alive(void) {
  pthread_mutex_lock(&counters_lock);
  int64_t n = counters_retired;
  for (aw__counter *c = counters; c; c = c->next)
    n += atomic_load_explicit(&c->n, memory_order_relaxed);
  pthread_mutex_unlock(&counters_lock);
  return n;
}

_Noreturn void aw__oom(size_t size) {
  fprintf(stderr, "libawait: out of memory allocating %zu bytes\n", size);
  abort();
}

void *aw__try_alloc(size_t size) {
  if (AW__FAULT(ALLOC))
    return NULL;
#if AW_USE_JEMALLOC
  return mallocx(size ? size : 1, 0);
#else
  return malloc(size ? size : 1);
#endif
}

/* Big arrays (rings, timer slots) get huge pages too: see aw__advise_huge. */
#define AW__HUGE_MIN (4 * AW__CHUNK)

void *aw__alloc(size_t size) {
  void *p = aw__try_alloc(size);
  if (AW__UNLIKELY(!p))
    aw__oom(size);
  if (AW__UNLIKELY(size >= AW__HUGE_MIN))
    aw__advise_huge(p, size);
  return p;
}

void *aw__calloc(size_t size) {
#if AW_USE_JEMALLOC
  void *p = AW__FAULT(ALLOC) ? NULL : mallocx(size ? size : 1, MALLOCX_ZERO);
#else
  void *p = AW__FAULT(ALLOC) ? NULL : calloc(1, size ? size : 1);
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
  void *q = AW__FAULT(ALLOC) ? NULL : rallocx(p, new_size ? new_size : 1, 0);
#else
  void *q = AW__FAULT(ALLOC) ? NULL : realloc(p, new_size ? new_size : 1);
#endif
  if (AW__UNLIKELY(!q))
    aw__oom(new_size);
  if (AW__UNLIKELY(new_size >= AW__HUGE_MIN))
    aw__advise_huge(q, new_size);
  return q;
}

void aw__free(void *p, size_t size) {
  if (!p)
    return;
#if AW_USE_JEMALLOC
#ifndef NDEBUG
  /* A sized free with the wrong size corrupts jemalloc's bins silently: check it. */
  if (nallocx(size ? size : 1, 0) != sallocx(p, 0)) {
    fprintf(stderr, "libawait: freeing %p with size %zu, allocated as %zu\n", p, size,
            sallocx(p, 0));
    abort();
  }
#endif
  sdallocx(p, size ? size : 1, 0);
#else
  (void)size;
  free(p);
#endif
}

void aw__advise_huge(void *p, size_t size) {
  uintptr_t lo = ((uintptr_t)p + AW__CHUNK - 1) & ~(uintptr_t)(AW__CHUNK - 1);
  uintptr_t hi = ((uintptr_t)p + size) & ~(uintptr_t)(AW__CHUNK - 1);
  if (hi > lo)
    madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* advice only: failure is harmless */
}

static void *chunk_alloc(void) {
#if AW_USE_JEMALLOC
  void *c = AW__FAULT(ALLOC) ? NULL : mallocx(AW__CHUNK, MALLOCX_ALIGN(AW__CHUNK));
#else
  void *c = AW__FAULT(ALLOC) ? NULL : aligned_alloc(AW__CHUNK, AW__CHUNK);
#endif
  if (!c)
    aw__oom(AW__CHUNK);
  aw__advise_huge(c, AW__CHUNK);
  return c;
}

static void chunk_free(void *c) {
#if AW_USE_JEMALLOC
  sdallocx(c, AW__CHUNK, MALLOCX_ALIGN(AW__CHUNK));
#else
  free(c);
#endif
}

void *aw__pool_get_slow(aw_loop *L, size_t size) {
  size_t bytes = (size + 15) & ~(size_t)15;
  if (bytes > AW__POOL_MAX)
    return aw__alloc(bytes);
  aw__pool *P = &L->pool;
  if ((size_t)(P->bump_end - P->bump) < bytes) {
    char *c = chunk_alloc();
    *(void **)c = P->chunks; /* the first 16 bytes link the chunks */
    P->chunks = c;
    P->nchunks++;
    P->bump = c + 16;
    P->bump_end = c + AW__CHUNK;
  }
  void *b = P->bump;
  P->bump += bytes;
  return b;
}

void aw__pool_drain(aw_loop *L) {
  aw__pool *P = &L->pool;
  void *c = P->chunks;
  while (c) {
    void *next = *(void **)c;
    chunk_free(c);
    c = next;
  }
  memset(P, 0, sizeof *P);
}
