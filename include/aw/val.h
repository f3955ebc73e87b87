/*
 * aw/val.h — values, objects and errors.
 *
 * A promise settles with an aw_val: a 16-byte tagged value passed by value.
 * It is undefined, null, a bool, an int64, a double, a borrowed pointer, or a
 * reference to an aw_obj. A zero-initialised aw_val is undefined.
 *
 * An aw_val can also be marked *thrown* (AW_THROWN in its tag). That is how C
 * code throws: a handler or async function returns aw_throw(err), and the
 * library rejects the promise it was computing with err. The same mark tells
 * a rejection from a fulfilment where a settled outcome is handed back: the
 * result of AW_AWAIT_SETTLED and the entries of aw_promise_all_settled().
 *
 * Objects (aw_obj) are reference counted with plain integers: an object and
 * everything that references it belong to one thread at a time. Kinds:
 * strings, buffers, arrays, errors, promises, resolvers and user objects
 * (a class with a finaliser and, optionally, a `then` operation, which makes
 * the object a thenable that promises adopt, as any object with a `then`
 * method is in JavaScript).
 *
 * Ownership, everywhere in libawait:
 *  - What a function returns is yours: release it, or hand it on.
 *  - A value you pass in (a resolution value, a rejection reason, an array
 *    element, an await operand, a handler's return value) is consumed.
 *  - The subject of an operation (the promise you call then on, the array you
 *    read) is borrowed, and so is the value a handler receives.
 * aw_retain()/aw_release() do nothing for values that are not objects.
 *
 * Sizes: strings, arrays and user objects have a documented maximum
 * (AW_STR_MAX, AW_ARRAY_MAX, AW_OBJECT_MAX, as V8 has its string and array
 * limits). A call asked for more, or for memory the system cannot give, fails
 * softly: it returns NULL (or -ENOMEM) and never aborts the process. Only the
 * library's own small bookkeeping (promises, reactions, frames) aborts with a
 * message when memory runs out, as V8 and libuv do.
 *
 * Misuse: a NULL object is refused by every function (NULL, 0, undefined or
 * -EINVAL, as each says). Releasing an object one time too many is a bug the
 * library reports: aw_release of an object whose count already reached zero
 * aborts with "libawait: aw_release of a freed <kind>". In debug builds
 * (NDEBUG not defined, for the library and for your code) the message also
 * names the file:line of the aw_release that freed it and of the one that
 * found it freed, and aw_retain checks too: a freed object's header is
 * poisoned until its memory is reused. With the per-loop pools (the default)
 * a freed promise stays poisoned on its pool's free list; other objects go
 * back to jemalloc, which leaves the header alone, so the check holds until
 * the memory is reused. -Dpools=false -Dallocator=libc builds give memory
 * back to malloc, which writes over the header: there the check is
 * AddressSanitizer's, which those builds are for (it reports every use after
 * free with where the object was freed). Release builds pay one predictable
 * branch per aw_release, the same as before the check.
 */
#ifndef AW_VAL_H
#define AW_VAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aw_obj aw_obj;
typedef struct aw_loop aw_loop;
typedef struct aw_promise aw_promise;
typedef struct aw_str aw_str;
typedef struct aw_buf aw_buf;
typedef struct aw_array aw_array;
typedef struct aw_error aw_error;
typedef struct aw_resolver aw_resolver;
typedef struct aw_fn aw_fn; /* a function value: code and captured values (aw/fn.h) */

enum aw_tag {
  AW_TAG_UNDEFINED = 0,
  AW_TAG_NULL,
  AW_TAG_BOOL,
  AW_TAG_INT,
  AW_TAG_DOUBLE,
  AW_TAG_PTR, /* a borrowed pointer: never retained or freed */
  AW_TAG_OBJ  /* a reference to an aw_obj */
};
#define AW_TAG_MASK 0xffu
#define AW_THROWN 0x100u /* the value is thrown (a rejection reason) */

typedef struct aw_val {
  union {
    int64_t i;
    double d;
    void *p;
    aw_obj *o;
    bool b;
  } u;
  uint32_t tag;
  uint32_t pad_; /* always 0 */
} aw_val;

/* Object kinds (aw_obj.type). */
enum aw_type {
  AW_T_PROMISE = 1,
  AW_T_STRING,
  AW_T_BUFFER,
  AW_T_ARRAY,
  AW_T_ERROR,
  AW_T_RESOLVER,
  AW_T_USER,
  AW_T_FUNCTION /* aw/fn.h */
};

/* The header every object starts with. Read-only outside the library. */
struct aw_obj {
  uint32_t refs;
  uint8_t type;
  uint8_t bits;   /* private, per kind */
  uint16_t flags; /* private, per kind */
};

/* ---- making and reading values ---------------------------------------- */

static inline aw_val aw_undefined(void) { return (aw_val){{0}, AW_TAG_UNDEFINED, 0}; }
static inline aw_val aw_null(void) { return (aw_val){{0}, AW_TAG_NULL, 0}; }
static inline aw_val aw_bool(bool b) {
  aw_val v = {{0}, AW_TAG_BOOL, 0};
  v.u.b = b;
  return v;
}
static inline aw_val aw_int(int64_t i) {
  aw_val v = {{0}, AW_TAG_INT, 0};
  v.u.i = i;
  return v;
}
static inline aw_val aw_double(double d) {
  aw_val v = {{0}, AW_TAG_DOUBLE, 0};
  v.u.d = d;
  return v;
}
static inline aw_val aw_ptr(void *p) {
  aw_val v = {{0}, AW_TAG_PTR, 0};
  v.u.p = p;
  return v;
}
/* Wraps an object reference; takes over the reference you pass. */
static inline aw_val aw_obj_val(void *o) {
  aw_val v = {{0}, AW_TAG_OBJ, 0};
  v.u.o = (aw_obj *)o;
  return v;
}

static inline unsigned aw_tag_of(aw_val v) { return v.tag & AW_TAG_MASK; }
static inline bool aw_is_undefined(aw_val v) { return aw_tag_of(v) == AW_TAG_UNDEFINED; }
static inline bool aw_is_obj(aw_val v) { return aw_tag_of(v) == AW_TAG_OBJ && v.u.o; }
static inline bool aw_is_type(aw_val v, enum aw_type t) { return aw_is_obj(v) && v.u.o->type == t; }
static inline bool aw_is_promise(aw_val v) { return aw_is_type(v, AW_T_PROMISE); }
static inline bool aw_is_string(aw_val v) { return aw_is_type(v, AW_T_STRING); }
static inline bool aw_is_error(aw_val v) { return aw_is_type(v, AW_T_ERROR); }
static inline bool aw_is_array(aw_val v) { return aw_is_type(v, AW_T_ARRAY); }
static inline bool aw_is_number(aw_val v) {
  return aw_tag_of(v) == AW_TAG_INT || aw_tag_of(v) == AW_TAG_DOUBLE;
}
/* The value as a number: ints and doubles; 0 for anything else. */
static inline double aw_num(aw_val v) {
  return aw_tag_of(v) == AW_TAG_INT ? (double)v.u.i : aw_tag_of(v) == AW_TAG_DOUBLE ? v.u.d : 0;
}

/* ---- throwing ----------------------------------------------------------- */

/* Marks v as thrown: return it from a handler or an async function to throw. */
static inline aw_val aw_throw(aw_val v) {
  v.tag |= AW_THROWN;
  return v;
}
static inline bool aw_is_thrown(aw_val v) { return (v.tag & AW_THROWN) != 0; }
/* The thrown value without the mark (the reason, as a catch block sees it). */
static inline aw_val aw_caught(aw_val v) {
  v.tag &= ~AW_THROWN;
  return v;
}

/* ---- reference counting --------------------------------------------------- */

void aw__obj_free(aw_obj *o);
/*
 * The last reference (refs == 1) or a freed object (refs == 0, or poisoned):
 * frees the object, or aborts with what it knows about the freed one. file
 * and line name the caller's aw_release (NULL and 0 when unknown).
 */
void aw__release_slow(aw_obj *o, const char *file, int line);
void aw__retain_freed(aw_obj *o, const char *file, int line);

/* A freed object's header, in debug builds: type AW__T_FREED | the release's file slot. */
#define AW__T_FREED 0x80u

static inline void *aw__retain_at(void *o, const char *file, int line) {
  aw_obj *h = (aw_obj *)o;
  if (h) {
#ifndef NDEBUG
    if (__builtin_expect(h->refs == 0 || (h->type & AW__T_FREED), 0))
      aw__retain_freed(h, file, line);
#endif
    h->refs++;
  }
  (void)file;
  (void)line;
  return o;
}
static inline void *aw__retain(void *o) { return aw__retain_at(o, (const char *)0, 0); }
static inline void aw__release_at(void *o, const char *file, int line) {
  aw_obj *h = (aw_obj *)o;
  if (!h)
    return;
  uint32_t r = h->refs;
#ifdef NDEBUG
  if (__builtin_expect(r > 1, 1))
#else
  if (__builtin_expect(r > 1 && !(h->type & AW__T_FREED), 1))
#endif
    h->refs = r - 1;
  else
    aw__release_slow(h, file, line);
}
static inline void aw_release(void *o) { aw__release_at(o, (const char *)0, 0); }
static inline aw_val aw_retain_val(aw_val v) {
  if (aw_is_obj(v))
    aw__retain(v.u.o);
  return v;
}
static inline void aw__release_val_at(aw_val v, const char *file, int line) {
  if (aw_is_obj(v))
    aw__release_at(v.u.o, file, line);
}
static inline void aw_release_val(aw_val v) { aw__release_val_at(v, (const char *)0, 0); }

/* A new reference to o, of o's own type (so aw_v(aw_retain(p)) works). */
#ifdef NDEBUG
#define aw_retain(o) ((__typeof__(o))aw__retain((void *)(o)))
#else
/* Debug builds pass the caller's file:line, for the freed-object report. */
#define aw_retain(o) ((__typeof__(o))aw__retain_at((void *)(o), __FILE__, __LINE__))
#define aw_release(o) aw__release_at((o), __FILE__, __LINE__)
#define aw_release_val(v) aw__release_val_at((v), __FILE__, __LINE__)
#endif

/*
 * aw_v(x): any C value as an aw_val. Objects are wrapped without a new
 * reference (the reference moves into the value). A C string (char *)
 * becomes a new string value, a copy, as a JS string literal is a value:
 * AW_RETURN("done") returns the string "done".
 *
 * aw_ref(x): aw_v of a new reference to x, for an operand that is consumed
 * (an await, a combinator's input, a resolution value) when you keep x:
 * AW_AWAIT(v, aw_ref(my->p)) awaits the promise the frame holds and leaves
 * it held.
 */
static inline aw_val aw__v_val(aw_val v) { return v; }
static inline aw_val aw__v_obj(const void *o) { return aw_obj_val((void *)o); }
static inline aw_val aw__v_int(long long i) { return aw_int(i); }
static inline aw_val aw__v_uint(unsigned long long i) { return aw_int((int64_t)i); }
static inline aw_val aw__v_cstr(const char *s); /* a new string (below) */
#define aw_v(x)                                                                                    \
  _Generic((x), aw_val                                                                             \
           : aw__v_val, aw_promise *                                                               \
           : aw__v_obj, aw_obj *                                                                   \
           : aw__v_obj, aw_str *                                                                   \
           : aw__v_obj, aw_buf *                                                                   \
           : aw__v_obj, aw_array *                                                                 \
           : aw__v_obj, aw_error *                                                                 \
           : aw__v_obj, aw_resolver *                                                              \
           : aw__v_obj, aw_fn *                                                                    \
           : aw__v_obj, char *                                                                     \
           : aw__v_cstr, const char *                                                              \
           : aw__v_cstr, _Bool                                                                     \
           : aw_bool, char                                                                         \
           : aw__v_int, signed char                                                                \
           : aw__v_int, short                                                                      \
           : aw__v_int, int                                                                        \
           : aw__v_int, long                                                                       \
           : aw__v_int, long long                                                                  \
           : aw__v_int, unsigned char                                                              \
           : aw__v_uint, unsigned short                                                            \
           : aw__v_uint, unsigned                                                                  \
           : aw__v_uint, unsigned long                                                             \
           : aw__v_uint, unsigned long long                                                        \
           : aw__v_uint, float                                                                     \
           : aw_double, double                                                                     \
           : aw_double)(x)
#define aw_ref(x) aw_retain_val(aw_v(x))

/* ---- strings ------------------------------------------------------------ */

/* Immutable byte strings, always NUL-terminated (they may contain NULs). */
struct aw_str {
  aw_obj hdr;
  uint32_t len;
  char data[]; /* len bytes + NUL */
};

/*
 * The longest string, in bytes: 1 GiB, V8's limit (2^29 - 24 UTF-16 units)
 * in round numbers. Asking for a longer one is refused, as JavaScript throws
 * a RangeError "Invalid string length".
 */
#define AW_STR_MAX ((size_t)1 << 30)

/*
 * A new string of len bytes copied from s. NULL if len passes AW_STR_MAX
 * (s is then not read), if s is NULL with len > 0, or if memory runs out.
 */
aw_str *aw_str_new(const char *s, size_t len);
/* aw_str_new(cstr, strlen(cstr)); NULL is the empty string. NULL on failure. */
aw_str *aw_str_from(const char *cstr);
/*
 * A string formatted as vsnprintf does. NULL (never a truncated or empty
 * string) if the output would be longer than AW_STR_MAX or INT_MAX (vsnprintf's
 * EOVERFLOW), if vsnprintf fails on the format or an argument (EILSEQ for a
 * bad wide character), if fmt is NULL, or if memory runs out.
 */
aw_str *aw_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
aw_str *aw_vstrf(const char *fmt, va_list ap);
/*
 * A string value: aw_obj_val(aw_str_from(cstr)). If the string cannot be made
 * the value is an object value holding NULL: aw_is_string() and aw_is_obj()
 * are false for it and releasing it does nothing.
 */
static inline aw_val aw_string(const char *cstr) { return aw_obj_val(aw_str_from(cstr)); }
static inline aw_val aw__v_cstr(const char *s) { return aw_string(s); }
/* The characters of a string value (borrowed), or NULL if v is not a string. */
static inline const char *aw_cstr(aw_val v) {
  return aw_is_string(v) ? ((aw_str *)v.u.o)->data : (const char *)0;
}

/*
 * JavaScript's String(v): undefined, null, true, 42, 1.5, the string itself,
 * an array's elements joined with ",", an error as "Name: message". A new
 * string; thrown values convert like their reason. NULL if the result would
 * pass AW_STR_MAX (a buffer of 4 GiB, a long array of long strings) or memory
 * runs out: nothing longer than the limit is ever copied.
 */
aw_str *aw_to_string(aw_val v);

/*
 * console.log(v0, v1, ...): the values as util.format prints them, joined by
 * spaces. A string at the top is itself; inside an array it is quoted
 * ('a'); arrays print as [ 1, 'a' ] ([] when empty); a promise as
 * Promise { <pending> }, Promise { 42 }, Promise { <rejected> Error: x }; a
 * function as [Function (anonymous)]; a user object as {}; an error as
 * "Name: message" (Node adds its stack). A new string, NULL as aw_to_string.
 */
aw_str *aw_format(size_t n, const aw_val *v);
/* Array.prototype.join(sep): String of each element (undefined and null empty); sep NULL is ",". */
aw_str *aw_join(const aw_array *a, const char *sep);
/*
 * Object.is (SameValue) and ===: numbers by value across ints and doubles
 * (NaN is NaN for SameValue only; +0 and -0 differ for SameValue only),
 * strings by content, other objects by identity.
 */
bool aw_same_value(aw_val x, aw_val y);
bool aw_strict_equals(aw_val x, aw_val y);

/* ---- buffers ------------------------------------------------------------ */

/* A byte buffer with a length and a capacity; the bytes are mutable. */
struct aw_buf {
  aw_obj hdr;
  uint32_t pad_;
  size_t len, cap;
  uint8_t *data;
};

/* A buffer with room for cap bytes and length 0; NULL if out of memory. */
aw_buf *aw_buf_new(size_t cap);
aw_buf *aw_buf_from(const void *data, size_t len);
/* Grows the capacity to at least cap; 0 or -ENOMEM (the buffer is unchanged). */
int aw_buf_reserve(aw_buf *b, size_t cap);

/*
 * The longest buffer aw_buf_append makes: 1 TiB. Far beyond any real
 * buffer; a length past it is a bug (a negative size cast to size_t).
 */
#define AW_BUF_MAX ((size_t)1 << 40)

/*
 * Appends n bytes from data to b (data may point into b itself). The
 * capacity at least doubles when it must grow, so n appends of one byte cost
 * O(n) copies in all, as a JavaScript array's push or a C++ vector's. Returns
 * 0; -EINVAL if b is not a buffer or data is NULL with n > 0; -E2BIG if the
 * length would pass AW_BUF_MAX; -ENOMEM if memory ran out. On an error the
 * buffer is unchanged.
 */
int aw_buf_append(aw_buf *b, const void *data, size_t n);

/* ---- arrays ------------------------------------------------------------- */

struct aw_array {
  aw_obj hdr;
  uint32_t len, cap;
  uint32_t icap_; /* private: the capacity allocated with the header */
  aw_val *items;
};

/* The most elements an array holds: 2^27, V8's FixedArray limit in round numbers. */
#define AW_ARRAY_MAX ((size_t)1 << 27)

/* A new empty array with room for cap elements; NULL if cap passes AW_ARRAY_MAX or no memory. */
aw_array *aw_array_new(size_t cap);
/*
 * Appends v (consumed, also when refused). 0; -EINVAL if a is NULL or not an
 * array; -ENOMEM if the array holds AW_ARRAY_MAX elements already or memory
 * for more room runs out (the array is unchanged and v released).
 */
int aw_array_push(aw_array *a, aw_val v);
/* The element at i (borrowed); undefined past the end or for a NULL array. */
static inline aw_val aw_array_get(const aw_array *a, size_t i) {
  return a && i < a->len ? a->items[i] : aw_undefined();
}
/* The number of elements; 0 for a NULL array. */
static inline size_t aw_array_len(const aw_array *a) { return a ? a->len : 0; }
/* The array in an array value, or NULL. */
static inline aw_array *aw_as_array(aw_val v) {
  return aw_is_array(v) ? (aw_array *)v.u.o : (aw_array *)0;
}

/* ---- errors ------------------------------------------------------------- */

/* One entry of an error's async stack: an async function and where it was. */
typedef struct aw_stack_entry {
  const char *function; /* NULL for the line that created the error */
  const char *file;
  int line;
} aw_stack_entry;

#define AW_STACK_MAX 16

struct aw_error {
  aw_obj hdr;
  int errnum;       /* errno (positive) or 0 */
  const char *name; /* "Error", "TypeError", "AbortError", ... (static) */
  aw_str *message;
  aw_val cause;        /* undefined if none */
  aw_array *errors;    /* AggregateError's errors, else NULL */
  uint32_t nstack;     /* entries in stack (you may lower it) */
  uint32_t stack_cap_; /* private: the entries allocated */
  aw_stack_entry stack[];
};

/*
 * A new error. name must be a string literal (or outlive the error). If the
 * message cannot be made (longer than AW_STR_MAX, past INT_MAX, or a format
 * vsnprintf refuses) the error is still made, with the message
 * "(message too long or not formattable)": a failure report never fails.
 * The async stack is captured: the creating line, then the chain of async
 * functions awaiting one another on this thread's running loop. An error
 * made outside every async function (in a callback, a completion, a pool
 * job) gets that chain from the first async function its rejection reaches:
 * the function and the line of the await that received it, then its
 * awaiters. Errors the library makes name no line of the library.
 */
#define aw_error_new(name, ...) aw__error_new(__FILE__, __LINE__, (name), __VA_ARGS__)
aw_error *aw__error_new(const char *file, int line, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * An error for a failed system call: message "op path: message (ENAME)",
 * or "op: message (ENAME)" when path is NULL; errnum = |code|.
 */
#define aw_error_errno(code, op, path) aw__error_errno(__FILE__, __LINE__, (code), (op), (path))
aw_error *aw__error_errno(const char *file, int line, int code, const char *op, const char *path);

/* An error value: shorthand for aw_obj_val(aw_error_new(...)). */
#define aw_err(name, ...) aw_obj_val(aw_error_new((name), __VA_ARGS__))

/* Sets the cause (consumed). */
void aw_error_set_cause(aw_error *e, aw_val cause);
/* The error in v (thrown or not), or NULL. */
static inline aw_error *aw_as_error(aw_val v) {
  v = aw_caught(v);
  return aw_is_error(v) ? (aw_error *)v.u.o : (aw_error *)0;
}
/* The message of an error value; for other values, NULL. */
static inline const char *aw_error_message(aw_val v) {
  aw_error *e = aw_as_error(v);
  return e ? e->message->data : (const char *)0;
}
/*
 * v instanceof <name>: v is an error (thrown or not) of that name, or name is
 * "Error" (every error class derives from it), or name is "DOMException" and
 * v is an AbortError or a TimeoutError (as Node makes those).
 */
bool aw_error_is(aw_val v, const char *name);
/*
 * Writes "Name: message", the cause chain and the async stack, one per line,
 * to f (a FILE *), as Node prints an uncaught error. Any value works.
 */
void aw_error_print(aw_val v, void *file);

/* ---- user objects and thenables ---------------------------------------------- */

/*
 * A class for user objects. finalize releases what the payload holds (may be
 * NULL). then, if set, makes the objects thenables: resolving a promise with
 * one (or awaiting one, or passing one to a combinator) calls then in its own
 * microtask job with a resolver for the promise; the thenable settles it by
 * calling aw_resolver_resolve/aw_resolver_reject, now or later, any number of
 * times (only the first call counts). Returning a thrown value rejects the
 * promise unless the resolver was already used. The resolver is borrowed:
 * retain it to keep it beyond the call.
 */
typedef struct aw_class {
  const char *name;
  void (*finalize)(aw_obj *self);
  aw_val (*then)(aw_loop *L, aw_obj *self, aw_resolver *r);
} aw_class;

/* The largest payload of a user object: 4 GiB - 1. */
#define AW_OBJECT_MAX ((size_t)UINT32_MAX)

/* A new object of cls with size bytes of zeroed payload; NULL if size passes AW_OBJECT_MAX or no
 * memory. */
aw_obj *aw_object_new(const aw_class *cls, size_t size);
/* The payload of a user object (max-aligned). */
void *aw_object_data(aw_obj *o);
const aw_class *aw_object_class(const aw_obj *o);

/* ---- macro machinery (aw/fn.h, aw/async.h) ------------------------------------------------ */

#define AW__CAT_(a, b) a##b
#define AW__CAT(a, b) AW__CAT_(a, b)
/* The number of arguments, 0 to 16. */
#define AW__NARG(...)                                                                              \
  AW__NARG_(__VA_ARGS__ __VA_OPT__(, ) 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define AW__NARG_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, N, ...) N
/* m(x) for each argument, 0 to 16 of them, side by side (m brings its own separator). */
#define AW__MAP(m, ...) AW__CAT(AW__MAP_, AW__NARG(__VA_ARGS__))(m __VA_OPT__(, ) __VA_ARGS__)
#define AW__MAP_0(m)
#define AW__MAP_1(m, x) m(x)
#define AW__MAP_2(m, x, ...) m(x) AW__MAP_1(m, __VA_ARGS__)
#define AW__MAP_3(m, x, ...) m(x) AW__MAP_2(m, __VA_ARGS__)
#define AW__MAP_4(m, x, ...) m(x) AW__MAP_3(m, __VA_ARGS__)
#define AW__MAP_5(m, x, ...) m(x) AW__MAP_4(m, __VA_ARGS__)
#define AW__MAP_6(m, x, ...) m(x) AW__MAP_5(m, __VA_ARGS__)
#define AW__MAP_7(m, x, ...) m(x) AW__MAP_6(m, __VA_ARGS__)
#define AW__MAP_8(m, x, ...) m(x) AW__MAP_7(m, __VA_ARGS__)
#define AW__MAP_9(m, x, ...) m(x) AW__MAP_8(m, __VA_ARGS__)
#define AW__MAP_10(m, x, ...) m(x) AW__MAP_9(m, __VA_ARGS__)
#define AW__MAP_11(m, x, ...) m(x) AW__MAP_10(m, __VA_ARGS__)
#define AW__MAP_12(m, x, ...) m(x) AW__MAP_11(m, __VA_ARGS__)
#define AW__MAP_13(m, x, ...) m(x) AW__MAP_12(m, __VA_ARGS__)
#define AW__MAP_14(m, x, ...) m(x) AW__MAP_13(m, __VA_ARGS__)
#define AW__MAP_15(m, x, ...) m(x) AW__MAP_14(m, __VA_ARGS__)
#define AW__MAP_16(m, x, ...) m(x) AW__MAP_15(m, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
