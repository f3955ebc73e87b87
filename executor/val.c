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

static void free_one(aw_obj *o) {
  aw__objects_add(-1);
  switch (o->type) {
  case AW_T_PROMISE:
    aw__promise_free((aw_promise *)o);
    return;
  case AW_T_STRING: {
    aw_str *s = (aw_str *)o;
    size_t sz = sizeof(aw_str) + s->len + 1;
    aw__free(s, sz < 16 ? 16 : sz);
    return;
  }
  case AW_T_BUFFER: {
    aw_buf *b = (aw_buf *)o;
    aw__free(b->data, b->cap);
    aw__free(b, sizeof *b);
    return;
  }
  case AW_T_ARRAY: {
    aw_array *a = (aw_array *)o;
    for (uint32_t i = 0; i < a->len; i++)
      aw_release_val(a->items[i]);
    if (!(a->hdr.flags & ARRAY_INLINE))
      aw__free(a->items, (size_t)a->cap * sizeof(aw_val));
    aw__free(a, sizeof *a + (size_t)a->icap_ * sizeof(aw_val));
    return;
  }
  case AW_T_ERROR:
    aw__error_free((aw_error *)o);
    return;
  case AW_T_RESOLVER: {
    aw_resolver *r = (aw_resolver *)o;
    aw_release(r->promise);
    aw__free(r, sizeof *r);
    return;
  }
  case AW_T_USER: {
    aw__uobj *u = (aw__uobj *)o;
    if (u->cls && u->cls->finalize)
      u->cls->finalize(o);
    aw__free(u, sizeof *u + u->size);
    return;
  }
  default:
    fprintf(stderr, "libawait: freeing an object of unknown type %u\n", o->type);
    abort();
  }
}

#define AW__FREE_INLINE 64
static _Thread_local struct {
  aw_obj *inline_items[AW__FREE_INLINE];
  aw_obj **items;
  size_t len, cap;
  bool active;
} freeq;

static void freeq_push(aw_obj *o) {
  if (!freeq.items) {
    freeq.items = freeq.inline_items;
    freeq.cap = AW__FREE_INLINE;
  }
  if (freeq.len == freeq.cap) {
    size_t ncap = freeq.cap * 2;
    aw_obj **n = aw__alloc(ncap * sizeof *n);
    memcpy(n, freeq.items, freeq.len * sizeof *n);
    if (freeq.items != freeq.inline_items)
      aw__free(freeq.items, freeq.cap * sizeof *n);
    freeq.items = n;
    freeq.cap = ncap;
  }
  freeq.items[freeq.len++] = o;
}

void aw__obj_free(aw_obj *o) {
  if (freeq.active) {
    freeq_push(o);
    return;
  }
  freeq.active = true;
  free_one(o);
  while (freeq.len)
    free_one(freeq.items[--freeq.len]);
  if (freeq.items && freeq.items != freeq.inline_items) {
    aw__free(freeq.items, freeq.cap * sizeof(aw_obj *));
    freeq.items = freeq.inline_items;
    freeq.cap = AW__FREE_INLINE;
  }
  freeq.active = false;
}

static inline void obj_init(aw_obj *o, uint8_t type) {
  o->refs = 1;
  o->type = type;
  o->bits = 0;
  o->flags = 0;
  aw__objects_add(1);
}

/* ---- strings ---------------------------------------------------------------- */

aw_str *aw_str_new(const char *s, size_t len) {
  if (len > UINT32_MAX - 64)
    aw__oom(len);
  size_t sz = sizeof(aw_str) + len + 1;
  aw_str *str = aw__alloc(sz < 16 ? 16 : sz);
  obj_init(&str->hdr, AW_T_STRING);
  str->len = (uint32_t)len;
  if (len)
    memcpy(str->data, s, len);
  str->data[len] = 0;
  return str;
}

aw_str *aw_str_from(const char *cstr) {
  return aw_str_new(cstr ? cstr : "", cstr ? strlen(cstr) : 0);
}

aw_str *aw_vstrf(const char *fmt, va_list ap) {
  char small[256];
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  if (n < 0) {
    va_end(ap2);
    return aw_str_new("", 0);
  }
  if ((size_t)n < sizeof small) {
    va_end(ap2);
    return aw_str_new(small, (size_t)n);
  }
  size_t sz = sizeof(aw_str) + (size_t)n + 1;
  aw_str *s = aw__alloc(sz);
  obj_init(&s->hdr, AW_T_STRING);
  s->len = (uint32_t)n;
  vsnprintf(s->data, (size_t)n + 1, fmt, ap2);
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

/* ---- buffers ---------------------------------------------------------------- */

aw_buf *aw_buf_new(size_t cap) {
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
  aw_buf *b = aw_buf_new(len);
  if (b && len) {
    memcpy(b->data, data, len);
    b->len = len;
  }
  return b;
}

int aw_buf_reserve(aw_buf *b, size_t cap) {
  if (!b)
    return -EINVAL;
  if (cap <= b->cap)
    return 0;
  uint8_t *n = aw__try_alloc(cap);
  if (!n)
    return -ENOMEM;
  memcpy(n, b->data, b->len);
  aw__free(b->data, b->cap);
  b->data = n;
  b->cap = cap;
  return 0;
}

/* ---- arrays ----------------------------------------------------------------- */

/* The first capacity lives in the same block as the header; growing moves it out. */
aw_array *aw_array_new(size_t cap) {
  if (cap > UINT32_MAX / 2)
    aw__oom(cap * sizeof(aw_val));
  aw_array *a = aw__alloc(sizeof *a + cap * sizeof(aw_val));
  obj_init(&a->hdr, AW_T_ARRAY);
  a->hdr.flags = ARRAY_INLINE;
  a->len = 0;
  a->cap = (uint32_t)cap;
  a->icap_ = (uint32_t)cap;
  a->items = (aw_val *)(a + 1);
  return a;
}

void aw_array_push(aw_array *a, aw_val v) {
  if (!a || a->hdr.type != AW_T_ARRAY) {
    aw_release_val(v); /* consumed, as promised, even when refused */
    return;
  }
  if (a->len == a->cap) {
    uint32_t ncap = a->cap ? a->cap * 2 : 4;
    aw_val *items = aw__alloc((size_t)ncap * sizeof(aw_val));
    if (a->len)
      memcpy(items, a->items, (size_t)a->len * sizeof(aw_val));
    if (!(a->hdr.flags & ARRAY_INLINE))
      aw__free(a->items, (size_t)a->cap * sizeof(aw_val));
    a->hdr.flags &= (uint16_t)~ARRAY_INLINE;
    a->items = items;
    a->cap = ncap;
  }
  a->items[a->len++] = v;
}

/* ---- user objects ------------------------------------------------------------ */

aw_obj *aw_object_new(const aw_class *cls, size_t size) {
  if (size > UINT32_MAX)
    aw__oom(size);
  aw__uobj *u = aw__calloc(sizeof *u + size);
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

typedef struct sbuf {
  char *p;
  size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t ncap = b->cap ? b->cap * 2 : 64;
    while (ncap < b->len + n + 1)
      ncap *= 2;
    b->p = aw__realloc(b->p, b->cap, ncap);
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
  case AW_T_USER: {
    const aw_class *c = aw_object_class(v.u.o);
    snprintf(tmp, sizeof tmp, "[object %s]", c && c->name ? c->name : "Object");
    sb_adds(b, tmp);
    return;
  }
  default:
    sb_adds(b, "[object]");
  }
}

aw_str *aw_to_string(aw_val v) {
  sbuf b = {0};
  to_string_into(&b, v, 0);
  aw_str *s = aw_str_new(b.p ? b.p : "", b.len);
  aw__free(b.p, b.cap);
  return s;
}

void aw__print_value(FILE *f, aw_val v) {
  aw_str *s = aw_to_string(v);
  fwrite(s->data, 1, s->len, f);
  aw_release(s);
}
