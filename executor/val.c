/*
 * executor/val.c — objects: strings, buffers, arrays, user objects, and the
 * one place an object is freed.
 *
 * Freeing is iterative: an object whose last reference goes while another
 * object is being freed is put on a per-thread worklist instead of being freed
 * recursively, so dropping a long chain (a million promises, each the only
 * holder of the next) never grows the C stack.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ---- freeing ---------------------------------------------------------------- */

enum { ARRAY_INLINE = 1 }; /* items follow the header in the same block */

typedef struct aw__uobj {
  aw_obj hdr;
  uint32_t size;
  const aw_class *cls;
  max_align_t data[];
} aw__uobj;

void aw__error_free(aw_error *e);

static const char *kind_name(unsigned type) {
  switch (type) {
  case AW_T_PROMISE:
    return "promise";
  case AW_T_STRING:
    return "string";
  case AW_T_BUFFER:
    return "buffer";
  case AW_T_ARRAY:
    return "array";
  case AW_T_ERROR:
    return "error";
  case AW_T_RESOLVER:
    return "resolver";
  case AW_T_USER:
    return "user object";
  default:
    return "object";
  }
}

/*
 * Freed objects. The header of a freed object keeps refs == 0 (pool free lists
 * link through the second word, not the header), so a release one too many
 * takes aw_release's slow path and is reported here instead of corrupting a
 * free list. Debug builds also poison the header: type AW__T_FREED | the slot
 * of the freeing release's file in site_files, bits the old type, flags its
 * line. The slots are relaxed atomics: a report is diagnostics, and locks or
 * acquire loads here would hide real races from ThreadSanitizer.
 */
#ifndef NDEBUG
#define SITE_SLOTS 0x7fu /* slot 0x7f: unknown */
static const char *_Atomic site_files[SITE_SLOTS];
static _Thread_local struct {
  const char *file; /* of the free_one running */
  int line;
  const char *last_file; /* a cache of the last slot looked up */
  unsigned last_slot;
} site;

static unsigned site_slot(const char *file) {
  if (!file)
    return SITE_SLOTS;
  if (file == site.last_file)
    return site.last_slot;
  for (unsigned i = 0; i < SITE_SLOTS; i++) {
    const char *f = atomic_load_explicit(&site_files[i], memory_order_relaxed);
    if (!f && atomic_compare_exchange_strong_explicit(&site_files[i], &f, file,
                                                      memory_order_relaxed, memory_order_relaxed))
      f = file;
    if (f == file) {
      site.last_file = file;
      site.last_slot = i;
      return i;
    }
  }
  return SITE_SLOTS;
}

void aw__obj_poison(aw_obj *o) {
  uint8_t type = o->type;
  o->refs = 0;
  o->type = (uint8_t)(AW__T_FREED | site_slot(site.file));
  o->bits = type;
  o->flags = (uint16_t)(site.line < 0 ? 0 : site.line > 0xffff ? 0xffff : site.line);
}
#endif

_Noreturn void aw__freed_abort(const char *what, const aw_obj *o, const char *file, int line) {
  bool poisoned = (o->type & AW__T_FREED) != 0;
  fprintf(stderr, "libawait: %s of a freed %s (%p)", what, kind_name(poisoned ? o->bits : o->type),
          (const void *)o);
  if (file)
    fprintf(stderr, " at %s:%d", file, line);
#ifndef NDEBUG
  if (poisoned) {
    unsigned slot = o->type & SITE_SLOTS;
    const char *ff =
        slot < SITE_SLOTS ? atomic_load_explicit(&site_files[slot], memory_order_relaxed) : NULL;
    if (ff)
      fprintf(stderr, "; it was freed by the aw_release at %s:%u", ff, (unsigned)o->flags);
    else
      fprintf(stderr, "; where it was freed is not known (that release was built with NDEBUG)");
  }
#endif
  fputc('\n', stderr);
  fflush(stderr);
  abort();
}

void aw__retain_freed(aw_obj *o, const char *file, int line) {
  aw__freed_abort("aw_retain", o, file, line);
}

#if defined(__SANITIZE_ADDRESS__)
#define AW__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AW__ASAN 1
#endif
#endif

#if !defined(NDEBUG) && !defined(AW__ASAN)
/*
 * The quarantine (debug builds): each thread keeps its last QUARANTINE freed
 * object blocks, poisoned, before they go back to the allocator, so a release
 * one too many soon after the free is reported even where malloc would write
 * over the header (-Dpools=false -Dallocator=libc) or jemalloc would hand the
 * block out again at once. The ring is malloc'd (static TLS stays small for a
 * library that may be dlopen'ed) and flushed when the thread exits. ASan
 * builds have ASan's own, longer quarantine.
 */
#define QUARANTINE 256
typedef struct qitem {
  void *p;
  size_t size;
} qitem;
static _Thread_local qitem *quar;
static _Thread_local unsigned quar_next;
static pthread_key_t quar_key;
static pthread_once_t quar_once = PTHREAD_ONCE_INIT;

static void quar_flush(void *ring) {
  qitem *q = ring;
  quar = NULL;
  for (unsigned i = 0; i < QUARANTINE; i++)
    aw__free(q[i].p, q[i].size);
  free(q);
}
static void quar_init(void) { pthread_key_create(&quar_key, quar_flush); }

static void block_free(void *p, size_t size) {
  if (!quar) {
    pthread_once(&quar_once, quar_init);
    quar = calloc(QUARANTINE, sizeof *quar);
    if (!quar) {
      aw__free(p, size);
      return;
    }
    pthread_setspecific(quar_key, quar);
  }
  qitem *slot = &quar[quar_next++ % QUARANTINE];
  aw__free(slot->p, slot->size); /* the oldest goes now */
  slot->p = p;
  slot->size = size;
}
#else
static void block_free(void *p, size_t size) { aw__free(p, size); }
#endif

/* An object's own block: poisoned (debug builds), then back to the allocator. */
void aw__obj_block_free(aw_obj *o, size_t size) {
  aw__obj_poison(o);
  block_free(o, size);
}

/* What frees external bytes (aw__buf_external): the buffer ring's, set with its first buffer. */
static _Atomic(aw__buf_release_fn) external_release_fn;
static void external_release(uint8_t *data) {
  atomic_load_explicit(&external_release_fn, memory_order_relaxed)(data);
}

static void free_one(aw_obj *o) {
  aw__objects_add(-1);
  switch (o->type) {
  case AW_T_PROMISE:
    aw__promise_free((aw_promise *)o);
    return;
  case AW_T_STRING: {
    aw_str *s = (aw_str *)o;
    size_t sz = sizeof(aw_str) + s->len + 1;
    aw__obj_block_free(o, sz < 16 ? 16 : sz);
    return;
  }
  case AW_T_BUFFER: {
    aw_buf *b = (aw_buf *)o;
    if (AW__UNLIKELY(b->hdr.flags & AW__BUF_EXTERNAL))
      external_release(b->data);
    else
      aw__free(b->data, b->cap);
    aw__obj_block_free(o, sizeof *b);
    return;
  }
  case AW_T_ARRAY: {
    aw_array *a = (aw_array *)o;
    for (uint32_t i = 0; i < a->len; i++)
      aw_release_val(a->items[i]);
    if (!(a->hdr.flags & ARRAY_INLINE))
      aw__free(a->items, (size_t)a->cap * sizeof(aw_val));
    aw__obj_block_free(o, sizeof *a + (size_t)a->icap_ * sizeof(aw_val));
    return;
  }
  case AW_T_ERROR:
    aw__error_free((aw_error *)o);
    return;
  case AW_T_RESOLVER: {
    aw_resolver *r = (aw_resolver *)o;
    aw_release(r->promise);
    aw__obj_block_free(o, sizeof *r);
    return;
  }
  case AW_T_FUNCTION:
    aw__fn_free((aw_fn *)o);
    return;
  case AW_T_USER: {
    aw__uobj *u = (aw__uobj *)o;
    if (u->cls && u->cls->finalize)
      u->cls->finalize(o);
    aw__obj_block_free(o, sizeof *u + u->size);
    return;
  }
  default:
    fprintf(stderr, "libawait: freeing an object of unknown type %u\n", o->type);
    abort();
  }
}

/* An object whose count reached zero, and (debug builds) the release that did it. */
typedef struct freeq_item {
  aw_obj *o;
#ifndef NDEBUG
  const char *file;
  int line;
#endif
} freeq_item;

static inline void free_item(freeq_item it) {
#ifndef NDEBUG
  site.file = it.file;
  site.line = it.line;
#endif
  free_one(it.o);
}

#ifdef NDEBUG
#define AW__FREE_INLINE 64
#else
#define AW__FREE_INLINE 24 /* items are 24 bytes here: keep static TLS small */
#endif
static _Thread_local struct {
  freeq_item inline_items[AW__FREE_INLINE];
  freeq_item *items;
  size_t len, cap;
  bool active;
} freeq;

static void freeq_push(freeq_item it) {
  if (!freeq.items) {
    freeq.items = freeq.inline_items;
    freeq.cap = AW__FREE_INLINE;
  }
  if (freeq.len == freeq.cap) {
    size_t ncap = freeq.cap * 2;
    freeq_item *n = aw__alloc(ncap * sizeof *n);
    memcpy(n, freeq.items, freeq.len * sizeof *n);
    if (freeq.items != freeq.inline_items)
      aw__free(freeq.items, freeq.cap * sizeof *n);
    freeq.items = n;
    freeq.cap = ncap;
  }
  freeq.items[freeq.len++] = it;
}

static void obj_free_at(aw_obj *o, const char *file, int line) {
  freeq_item it = {.o = o};
#ifndef NDEBUG
  it.file = file;
  it.line = line;
#else
  (void)file;
  (void)line;
#endif
  if (freeq.active) {
    freeq_push(it);
    return;
  }
  freeq.active = true;
  free_item(it);
  while (freeq.len)
    free_item(freeq.items[--freeq.len]);
  if (freeq.items && freeq.items != freeq.inline_items) {
    aw__free(freeq.items, freeq.cap * sizeof(freeq_item));
    freeq.items = freeq.inline_items;
    freeq.cap = AW__FREE_INLINE;
  }
  freeq.active = false;
}

/* Kept for code compiled against the header whose aw_release decremented to 0 itself. */
void aw__obj_free(aw_obj *o) { obj_free_at(o, NULL, 0); }

void aw__release_slow(aw_obj *o, const char *file, int line) {
  if (AW__UNLIKELY(o->refs != 1 || (o->type & AW__T_FREED)))
    aw__freed_abort("aw_release", o, file, line);
  o->refs = 0;
  obj_free_at(o, file, line);
}

static inline void obj_init(aw_obj *o, uint8_t type) {
  o->refs = 1;
  o->type = type;
  o->bits = 0;
  o->flags = 0;
  aw__objects_add(1);
}

/* ---- strings ---------------------------------------------------------------- */

/* A string of len bytes, uninitialised but for the final NUL; NULL if too long or no memory. */
static aw_str *str_alloc(size_t len) {
  if (len > AW_STR_MAX)
    return NULL;
  size_t sz = sizeof(aw_str) + len + 1;
  aw_str *str = aw__try_alloc_user(sz < 16 ? 16 : sz);
  if (!str)
    return NULL;
  obj_init(&str->hdr, AW_T_STRING);
  str->len = (uint32_t)len;
  str->data[len] = 0;
  return str;
}

aw_str *aw_str_new(const char *s, size_t len) {
  if (len && !s)
    return NULL;
  aw_str *str = str_alloc(len);
  if (str && len)
    memcpy(str->data, s, len);
  return str;
}

aw_str *aw_str_from(const char *cstr) {
  return aw_str_new(cstr ? cstr : "", cstr ? strlen(cstr) : 0);
}

aw_str *aw_vstrf(const char *fmt, va_list ap) {
  if (!fmt)
    return NULL;
  char small[256];
  va_list ap2;
  va_copy(ap2, ap);
  /* n < 0: the output would pass INT_MAX (EOVERFLOW) or the format is bad (EILSEQ...) */
  int n = vsnprintf(small, sizeof small, fmt, ap);
  aw_str *s = NULL;
  if (n >= 0 && (size_t)n < sizeof small) {
    s = aw_str_new(small, (size_t)n);
  } else if (n >= 0) {
    s = str_alloc((size_t)n);
    if (s && vsnprintf(s->data, (size_t)n + 1, fmt, ap2) != n) {
      aw_release(s); /* the arguments changed under us: refuse rather than lie */
      s = NULL;
    }
  }
  va_end(ap2);
  return s;
}

aw_str *aw_strf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  aw_str *s = aw_vstrf(fmt, ap);
  va_end(ap);
  return s;
}

aw_str *aw__str_lit(const char *cstr) {
  aw_str *s = aw_str_from(cstr);
  if (!s)
    aw__oom(strlen(cstr));
  return s;
}

/* ---- buffers ---------------------------------------------------------------- */

aw_buf *aw_buf_new(size_t cap) {
  if (cap > PTRDIFF_MAX) /* no allocator gives that much: fail without asking */
    return NULL;
  aw_buf *b = aw__try_alloc(sizeof *b);
  if (!b)
    return NULL;
  b->data = aw__try_alloc(cap ? cap : 1);
  if (!b->data) {
    aw__free(b, sizeof *b);
    return NULL;
  }
  obj_init(&b->hdr, AW_T_BUFFER);
  b->pad_ = 0;
  b->len = 0;
  b->cap = cap ? cap : 1;
  return b;
}

aw_buf *aw_buf_from(const void *data, size_t len) {
  if (len && !data)
    return NULL;
  aw_buf *b = aw_buf_new(len);
  if (b && len) {
    memcpy(b->data, data, len);
    b->len = len;
  }
  return b;
}

int aw_buf_append(aw_buf *b, const void *data, size_t n) {
  if (!b || b->hdr.type != AW_T_BUFFER || (n && !data))
    return -EINVAL;
  if (n == 0)
    return 0;
  if (b->len > AW_BUF_MAX || n > AW_BUF_MAX - b->len)
    return -E2BIG;
  size_t need = b->len + n;
  if (need > b->cap) {
    /* data may be inside b: find it again after the bytes move */
    const uint8_t *src = data;
    bool inside = src >= b->data && src < b->data + b->cap;
    size_t at = inside ? (size_t)(src - b->data) : 0;
    /* doubling keeps n small appends O(n) in all; 64 bytes spares tiny buffers many steps */
    size_t ncap = b->cap < AW_BUF_MAX / 2 ? b->cap * 2 : AW_BUF_MAX;
    if (ncap < 64)
      ncap = 64;
    if (ncap < need)
      ncap = need;
    /* a doubling memory cannot give may still leave room for what is asked */
    if (aw_buf_reserve(b, ncap) < 0 && aw_buf_reserve(b, need) < 0)
      return -ENOMEM;
    if (inside)
      data = b->data + at;
  }
  memmove(b->data + b->len, data, n);
  b->len = need;
  return 0;
}

int aw_buf_reserve(aw_buf *b, size_t cap) {
  if (!b || b->hdr.type != AW_T_BUFFER)
    return -EINVAL;
  if (cap <= b->cap)
    return 0;
  if (cap > PTRDIFF_MAX)
    return -ENOMEM;
  uint8_t *n = aw__try_alloc(cap);
  if (!n)
    return -ENOMEM;
  memcpy(n, b->data, b->len);
  if (AW__UNLIKELY(b->hdr.flags & AW__BUF_EXTERNAL)) { /* the copy is ours: give the bytes back */
    external_release(b->data);
    b->hdr.flags &= (uint16_t)~AW__BUF_EXTERNAL;
  } else {
    aw__free(b->data, b->cap);
  }
  b->data = n;
  b->cap = cap;
  return 0;
}

aw_buf *aw__buf_external(uint8_t *data, size_t len, size_t cap, aw__buf_release_fn release) {
  /* stored before the buffer exists: whoever frees it was handed it, so sees the store */
  if (AW__UNLIKELY(atomic_load_explicit(&external_release_fn, memory_order_relaxed) != release))
    atomic_store_explicit(&external_release_fn, release, memory_order_relaxed);
  aw_buf *b = aw__try_alloc(sizeof *b);
  if (!b)
    return NULL;
  obj_init(&b->hdr, AW_T_BUFFER);
  b->hdr.flags = AW__BUF_EXTERNAL;
  b->pad_ = 0;
  b->len = len;
  b->cap = cap;
  b->data = data;
  return b;
}

/* ---- arrays ----------------------------------------------------------------- */

/* The first capacity lives in the same block as the header; growing moves it out. */
aw_array *aw_array_new(size_t cap) {
  if (cap > AW_ARRAY_MAX)
    return NULL;
  aw_array *a = aw__try_alloc_user(sizeof *a + cap * sizeof(aw_val));
  if (!a)
    return NULL;
  obj_init(&a->hdr, AW_T_ARRAY);
  a->hdr.flags = ARRAY_INLINE;
  a->len = 0;
  a->cap = (uint32_t)cap;
  a->icap_ = (uint32_t)cap;
  a->items = (aw_val *)(a + 1);
  return a;
}

int aw_array_push(aw_array *a, aw_val v) {
  if (!a || a->hdr.type != AW_T_ARRAY) {
    aw_release_val(v); /* consumed, as promised, even when refused */
    return -EINVAL;
  }
  if (a->len == a->cap) {
    if (a->len >= AW_ARRAY_MAX) {
      aw_release_val(v);
      return -ENOMEM;
    }
    uint32_t ncap = a->cap ? a->cap * 2 : 4;
    if (ncap > AW_ARRAY_MAX)
      ncap = AW_ARRAY_MAX;
    aw_val *items = aw__try_alloc_user((size_t)ncap * sizeof(aw_val));
    if (!items) {
      aw_release_val(v);
      return -ENOMEM;
    }
    if (a->len)
      memcpy(items, a->items, (size_t)a->len * sizeof(aw_val));
    if (!(a->hdr.flags & ARRAY_INLINE))
      aw__free(a->items, (size_t)a->cap * sizeof(aw_val));
    a->hdr.flags &= (uint16_t)~ARRAY_INLINE;
    a->items = items;
    a->cap = ncap;
  }
  a->items[a->len++] = v;
  return 0;
}

/* ---- user objects ------------------------------------------------------------ */

aw_obj *aw_object_new(const aw_class *cls, size_t size) {
  if (size > AW_OBJECT_MAX)
    return NULL;
  aw__uobj *u = aw__try_alloc(sizeof *u + size);
  if (!u)
    return NULL;
  memset(u, 0, sizeof *u + size);
  obj_init(&u->hdr, AW_T_USER);
  u->size = (uint32_t)size;
  u->cls = cls;
  return &u->hdr;
}

void *aw_object_data(aw_obj *o) {
  return o && o->type == AW_T_USER ? (void *)((aw__uobj *)o)->data : NULL;
}

const aw_class *aw_object_class(const aw_obj *o) {
  return o && o->type == AW_T_USER ? ((const aw__uobj *)o)->cls : NULL;
}

/* ---- String(v) ------------------------------------------------------------------ */

/* Number::toString for finite non-integral or large doubles, as JS prints them. */
static void format_double(char *out, size_t outsz, double d) {
  if (isnan(d)) {
    snprintf(out, outsz, "NaN");
    return;
  }
  if (isinf(d)) {
    snprintf(out, outsz, d < 0 ? "-Infinity" : "Infinity");
    return;
  }
  if (d == 0) {
    snprintf(out, outsz, "0");
    return;
  }
  /* the shortest digits that read back as d */
  char buf[40];
  int prec;
  for (prec = 1; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    if (strtod(buf, NULL) == d)
      break;
  }
  const char *p = buf;
  bool neg = false;
  if (*p == '-') {
    neg = true;
    p++;
  }
  char digits[24];
  int k = 0;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9')
      digits[k++] = *p;
  while (k > 1 && digits[k - 1] == '0')
    k--;
  digits[k] = 0;
  int e = atoi(p + 1);
  int n = e + 1; /* position of the decimal point */
  char *o = out;
  size_t left = outsz;
#define PUT(...)                                                                                   \
  do {                                                                                             \
    int w_ = snprintf(o, left, __VA_ARGS__);                                                       \
    if (w_ < 0 || (size_t)w_ >= left)                                                              \
      return;                                                                                      \
    o += w_;                                                                                       \
    left -= (size_t)w_;                                                                            \
  } while (0)
  if (neg)
    PUT("-");
  if (k <= n && n <= 21) {
    PUT("%s", digits);
    for (int i = 0; i < n - k; i++)
      PUT("0");
  } else if (0 < n && n <= 21) {
    PUT("%.*s.%s", n, digits, digits + n);
  } else if (-6 < n && n <= 0) {
    PUT("0.");
    for (int i = 0; i < -n; i++)
      PUT("0");
    PUT("%s", digits);
  } else {
    PUT("%c", digits[0]);
    if (k > 1)
      PUT(".%s", digits + 1);
    PUT("e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
  }
#undef PUT
}

/* The string being built; failed once it would pass AW_STR_MAX or memory ran out. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  bool failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->failed)
    return;
  if (n > AW_STR_MAX - b->len) {
    b->failed = true;
    return;
  }
  if (b->len + n + 1 > b->cap) {
    size_t ncap = b->cap ? b->cap * 2 : 64;
    while (ncap < b->len + n + 1)
      ncap *= 2;
    char *np = aw__try_alloc_user(ncap);
    if (!np) {
      b->failed = true;
      return;
    }
    if (b->len)
      memcpy(np, b->p, b->len);
    aw__free(b->p, b->cap);
    b->p = np;
    b->cap = ncap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}
static void sb_adds(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void to_string_into(sbuf *b, aw_val v, int depth) {
  char tmp[64];
  v = aw_caught(v);
  switch (aw_tag_of(v)) {
  case AW_TAG_UNDEFINED:
    sb_adds(b, "undefined");
    return;
  case AW_TAG_NULL:
    sb_adds(b, "null");
    return;
  case AW_TAG_BOOL:
    sb_adds(b, v.u.b ? "true" : "false");
    return;
  case AW_TAG_INT:
    snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i);
    sb_adds(b, tmp);
    return;
  case AW_TAG_DOUBLE:
    format_double(tmp, sizeof tmp, v.u.d);
    sb_adds(b, tmp);
    return;
  case AW_TAG_PTR:
    snprintf(tmp, sizeof tmp, "[pointer %p]", v.u.p);
    sb_adds(b, tmp);
    return;
  default:
    break;
  }
  if (!v.u.o) {
    sb_adds(b, "null");
    return;
  }
  switch (v.u.o->type) {
  case AW_T_STRING: {
    aw_str *s = (aw_str *)v.u.o;
    sb_add(b, s->data, s->len);
    return;
  }
  case AW_T_BUFFER: {
    aw_buf *bf = (aw_buf *)v.u.o;
    sb_add(b, (const char *)bf->data, bf->len);
    return;
  }
  case AW_T_ARRAY: {
    aw_array *a = (aw_array *)v.u.o;
    if (depth > 32)
      return;
    for (uint32_t i = 0; i < a->len; i++) {
      if (i)
        sb_adds(b, ",");
      unsigned t = aw_tag_of(a->items[i]);
      if (t != AW_TAG_UNDEFINED && t != AW_TAG_NULL)
        to_string_into(b, a->items[i], depth + 1);
    }
    return;
  }
  case AW_T_ERROR: {
    aw_error *e = (aw_error *)v.u.o;
    sb_adds(b, e->name);
    if (e->message->len) {
      sb_adds(b, ": ");
      sb_add(b, e->message->data, e->message->len);
    }
    return;
  }
  case AW_T_PROMISE:
    sb_adds(b, "[object Promise]");
    return;
  case AW_T_RESOLVER:
    sb_adds(b, "[object Resolver]");
    return;
  case AW_T_USER: /* Object.prototype.toString: the class's name is not JS's to see */
    sb_adds(b, "[object Object]");
    return;
  case AW_T_FUNCTION:
    sb_adds(b, "function () { [native code] }");
    return;
  default:
    sb_adds(b, "[object]");
  }
}

/* util.inspect's forms for what console.log prints of a value inside another, or not a string. */
static void inspect_into(sbuf *b, aw_val v, int depth) {
  v = aw_caught(v);
  if (aw_is_string(v) && depth > 0) {
    sb_adds(b, "'");
    to_string_into(b, v, depth);
    sb_adds(b, "'");
    return;
  }
  if (aw_tag_of(v) != AW_TAG_OBJ || !v.u.o) {
    to_string_into(b, v, depth);
    return;
  }
  switch (v.u.o->type) {
  case AW_T_ARRAY: {
    aw_array *a = (aw_array *)v.u.o;
    if (!a->len) {
      sb_adds(b, "[]");
      return;
    }
    if (depth > 2) {
      sb_adds(b, "[Array]");
      return;
    }
    sb_adds(b, "[ ");
    for (uint32_t i = 0; i < a->len; i++) {
      if (i)
        sb_adds(b, ", ");
      inspect_into(b, a->items[i], depth + 1);
    }
    sb_adds(b, " ]");
    return;
  }
  case AW_T_PROMISE: {
    aw_promise *p = (aw_promise *)v.u.o;
    enum aw_state st = aw_promise_state(p);
    sb_adds(b, st == AW_PENDING    ? "Promise { <pending> }"
               : st == AW_REJECTED ? "Promise { <rejected> "
                                   : "Promise { ");
    if (st != AW_PENDING) {
      inspect_into(b, aw_promise_result(p), depth + 1);
      sb_adds(b, " }");
    }
    return;
  }
  case AW_T_FUNCTION:
    sb_adds(b, "[Function (anonymous)]");
    return;
  case AW_T_USER:
    sb_adds(b, "{}");
    return;
  default:
    to_string_into(b, v, depth);
  }
}

aw_str *aw_format(size_t n, const aw_val *v) {
  sbuf b = {0};
  for (size_t i = 0; i < n && v; i++) {
    if (i)
      sb_adds(&b, " ");
    inspect_into(&b, v[i], 0);
  }
  aw_str *s = b.failed ? NULL : aw_str_new(b.p ? b.p : "", b.len);
  aw__free(b.p, b.cap);
  return s;
}

aw_str *aw_join(const aw_array *a, const char *sep) {
  if (!a || a->hdr.type != AW_T_ARRAY)
    return NULL;
  sbuf b = {0};
  for (uint32_t i = 0; i < a->len; i++) {
    if (i)
      sb_adds(&b, sep ? sep : ",");
    unsigned t = aw_tag_of(a->items[i]);
    if (t != AW_TAG_UNDEFINED && t != AW_TAG_NULL)
      to_string_into(&b, a->items[i], 1);
  }
  aw_str *s = b.failed ? NULL : aw_str_new(b.p ? b.p : "", b.len);
  aw__free(b.p, b.cap);
  return s;
}

/* Numbers compare across int and double, as JS has one number type. */
static bool equal_values(aw_val x, aw_val y, bool same_value) {
  x = aw_caught(x);
  y = aw_caught(y);
  if (aw_is_number(x) && aw_is_number(y)) {
    if (aw_tag_of(x) == AW_TAG_INT && aw_tag_of(y) == AW_TAG_INT)
      return x.u.i == y.u.i;
    double a = aw_num(x), c = aw_num(y);
    if (same_value) {
      if (isnan(a) || isnan(c))
        return isnan(a) && isnan(c);
      return a == c && signbit(a) == signbit(c);
    }
    return a == c;
  }
  unsigned tx = aw_tag_of(x), ty = aw_tag_of(y);
  bool nx = tx == AW_TAG_NULL || (tx == AW_TAG_OBJ && !x.u.o);
  bool ny = ty == AW_TAG_NULL || (ty == AW_TAG_OBJ && !y.u.o);
  if (nx || ny)
    return nx && ny;
  if (tx != ty)
    return false;
  switch (tx) {
  case AW_TAG_UNDEFINED:
    return true;
  case AW_TAG_BOOL:
    return x.u.b == y.u.b;
  case AW_TAG_PTR:
    return x.u.p == y.u.p;
  default:
    if (x.u.o == y.u.o)
      return true;
    if (x.u.o->type == AW_T_STRING && y.u.o->type == AW_T_STRING) { /* strings are values */
      const aw_str *a = (const aw_str *)x.u.o, *c = (const aw_str *)y.u.o;
      return a->len == c->len && !memcmp(a->data, c->data, a->len);
    }
    return false;
  }
}

bool aw_same_value(aw_val x, aw_val y) { return equal_values(x, y, true); }
bool aw_strict_equals(aw_val x, aw_val y) { return equal_values(x, y, false); }

bool aw_error_is(aw_val v, const char *name) {
  v = aw_caught(v);
  if (!aw_is_error(v) || !name)
    return false;
  const aw_error *e = (const aw_error *)v.u.o;
  return !strcmp(name, "Error") || !strcmp(e->name, name) ||
         (!strcmp(name, "DOMException") &&
          (!strcmp(e->name, "AbortError") || !strcmp(e->name, "TimeoutError")));
}

aw_str *aw_to_string(aw_val v) {
  sbuf b = {0};
  to_string_into(&b, v, 0);
  aw_str *s = b.failed ? NULL : aw_str_new(b.p ? b.p : "", b.len);
  aw__free(b.p, b.cap);
  return s;
}

void aw__print_value(FILE *f, aw_val v) {
  aw_str *s = aw_to_string(v);
  if (!s) {
    fputs("[a value too long to print]", f);
    return;
  }
  fwrite(s->data, 1, s->len, f);
  aw_release(s);
}
