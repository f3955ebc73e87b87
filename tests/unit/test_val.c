/*
 * tests/unit/test_val.c — values, strings, buffers, arrays, user objects,
 * String() formatting, errors, error codes and async stacks (aw/val.h,
 * aw/errno.h).
 */
#include "unit.h"

#include <float.h>
#include <limits.h>
#include <math.h>

/* ---- scalar values --------------------------------------------------------------------- */

static void test_zero_initialised_val_is_undefined(void **state) {
  (void)state;
  aw_val v = {0};
  assert_true(aw_is_undefined(v));
  assert_int_equal(aw_tag_of(v), AW_TAG_UNDEFINED);
  assert_int_equal(aw_tag_of(aw_undefined()), AW_TAG_UNDEFINED);
  assert_false(aw_is_thrown(v));
  assert_false(aw_is_obj(v));
  assert_no_objects();
}

static void test_scalar_constructors_set_tag_and_payload(void **state) {
  (void)state;
  int x;
  assert_int_equal(aw_tag_of(aw_null()), AW_TAG_NULL);
  assert_int_equal(aw_tag_of(aw_bool(true)), AW_TAG_BOOL);
  assert_true(aw_bool(true).u.b);
  assert_false(aw_bool(false).u.b);
  assert_int_equal(aw_tag_of(aw_int(-5)), AW_TAG_INT);
  assert_int_equal(aw_int(-5).u.i, -5);
  assert_int_equal(aw_tag_of(aw_double(2.5)), AW_TAG_DOUBLE);
  assert_true(aw_double(2.5).u.d == 2.5);
  assert_int_equal(aw_tag_of(aw_ptr(&x)), AW_TAG_PTR);
  assert_ptr_equal(aw_ptr(&x).u.p, &x);
  assert_int_equal(aw_int(1).pad_, 0);
  assert_no_objects();
}

static void test_num_reads_ints_and_doubles_and_zero_otherwise(void **state) {
  (void)state;
  assert_true(aw_num(aw_int(-3)) == -3.0);
  assert_true(aw_num(aw_double(0.25)) == 0.25);
  assert_true(aw_num(aw_bool(true)) == 0);
  assert_true(aw_num(aw_undefined()) == 0);
  assert_true(aw_is_number(aw_int(1)));
  assert_true(aw_is_number(aw_double(1)));
  assert_false(aw_is_number(aw_null()));
  assert_no_objects();
}

static void test_v_converts_c_types_by_generic(void **state) {
  (void)state;
  aw_val a = aw_v(7);
  assert_int_equal(aw_tag_of(a), AW_TAG_INT);
  assert_int_equal(a.u.i, 7);
  aw_val b = aw_v((unsigned char)200);
  assert_int_equal(aw_tag_of(b), AW_TAG_INT);
  assert_int_equal(b.u.i, 200);
  aw_val c = aw_v(1.5);
  assert_int_equal(aw_tag_of(c), AW_TAG_DOUBLE);
  assert_true(c.u.d == 1.5);
  aw_val d = aw_v(0.5f);
  assert_int_equal(aw_tag_of(d), AW_TAG_DOUBLE);
  assert_true(d.u.d == 0.5);
  aw_val e = aw_v((_Bool)1);
  assert_int_equal(aw_tag_of(e), AW_TAG_BOOL);
  aw_val f = aw_v(aw_null());
  assert_int_equal(aw_tag_of(f), AW_TAG_NULL);
  aw_str *s = aw_str_from("x");
  aw_val g = aw_v(s); /* the reference moves into the value */
  assert_true(aw_is_string(g));
  assert_ptr_equal(g.u.o, &s->hdr);
  assert_int_equal(s->hdr.refs, 1);
  aw_release_val(g);
  assert_no_objects();
}

static void test_throw_marks_and_caught_unmarks(void **state) {
  (void)state;
  aw_val t = aw_throw(aw_int(3));
  assert_true(aw_is_thrown(t));
  assert_int_equal(aw_tag_of(t), AW_TAG_INT); /* the mark is not part of the tag */
  assert_int_equal(t.u.i, 3);
  aw_val c = aw_caught(t);
  assert_false(aw_is_thrown(c));
  assert_int_equal(c.u.i, 3);
  aw_val s = aw_throw(aw_string("s"));
  assert_true(aw_is_obj(s));
  assert_true(aw_is_string(s));
  assert_string_equal(aw_cstr(aw_caught(s)), "s");
  aw_release_val(s); /* a thrown object value is still an object value */
  assert_no_objects();
}

static void test_retain_release_of_non_objects_do_nothing(void **state) {
  (void)state;
  aw_val v = aw_retain_val(aw_int(1));
  aw_release_val(v);
  aw_release_val(aw_ptr(&v));
  aw_release_val(aw_undefined());
  aw_release(NULL);
  assert_null(aw_retain(NULL));
  assert_no_objects();
}

/* ---- strings ---------------------------------------------------------------------- */

static void test_str_new_keeps_embedded_nul_and_terminates(void **state) {
  (void)state;
  aw_str *s = aw_str_new("a\0b", 3);
  assert_int_equal(s->hdr.type, AW_T_STRING);
  assert_int_equal(s->hdr.refs, 1);
  assert_int_equal(s->len, 3);
  assert_memory_equal(s->data, "a\0b", 4); /* 3 bytes and the NUL */
  aw_release(s);
  assert_no_objects();
}

static void test_str_from_copies_the_c_string(void **state) {
  (void)state;
  char buf[] = "hello";
  aw_str *s = aw_str_from(buf);
  buf[0] = 'j';
  assert_string_equal(s->data, "hello");
  assert_int_equal(s->len, 5);
  aw_release(s);
  aw_str *e = aw_str_new("", 0);
  assert_int_equal(e->len, 0);
  assert_string_equal(e->data, "");
  aw_release(e);
  assert_no_objects();
}

static void test_strf_formats_short_and_long_strings(void **state) {
  (void)state;
  aw_str *s = aw_strf("%s-%d", "n", 42);
  assert_string_equal(s->data, "n-42");
  aw_release(s);
  /* longer than any small stack buffer an implementation would try first */
  char big[1001];
  memset(big, 'x', 1000);
  big[1000] = 0;
  aw_str *l = aw_strf("<%s>", big);
  assert_int_equal(l->len, 1002);
  assert_int_equal(l->data[0], '<');
  assert_int_equal(l->data[1001], '>');
  assert_int_equal(l->data[1002], 0);
  aw_release(l);
  assert_no_objects();
}

static void test_cstr_of_a_non_string_is_null(void **state) {
  (void)state;
  assert_null(aw_cstr(aw_int(1)));
  assert_null(aw_cstr(aw_undefined()));
  aw_buf *b = aw_buf_from("ab", 2);
  assert_null(aw_cstr(aw_obj_val(b)));
  aw_release(b);
  aw_val s = aw_string("yes");
  assert_string_equal(aw_cstr(s), "yes");
  aw_release_val(s);
  assert_no_objects();
}

static void test_objects_alive_counts_objects_until_released(void **state) {
  (void)state;
  int64_t before = aw_objects_alive();
  aw_str *s = aw_str_from("x");
  assert_int_equal(aw_objects_alive(), before + 1);
  aw_retain(s);
  assert_int_equal(s->hdr.refs, 2);
  aw_release(s);
  assert_int_equal(aw_objects_alive(), before + 1); /* one reference left */
  aw_release(s);
  assert_int_equal(aw_objects_alive(), before);
  assert_no_objects();
}

/* ---- String(v) --------------------------------------------------------------------- */

static void test_to_string_of_primitives(void **state) {
  (void)state;
  assert_str_of(aw_undefined(), "undefined");
  assert_str_of(aw_null(), "null");
  assert_str_of(aw_bool(true), "true");
  assert_str_of(aw_bool(false), "false");
  assert_str_of(aw_int(42), "42");
  assert_str_of(aw_int(-7), "-7");
  assert_str_of(aw_int(0), "0");
  assert_str_of(aw_int(INT64_MIN), "-9223372036854775808");
  assert_no_objects();
}

/* Number::toString: shortest round-trip digits, fixed notation for 1e-7 < |x| < 1e21. */
static void test_to_string_of_doubles_is_javascripts(void **state) {
  (void)state;
  static const struct {
    double d;
    const char *s;
  } cases[] = {
      {0.1, "0.1"},
      {1e21, "1e+21"},
      {1e-7, "1e-7"},
      {-0.0, "0"},
      {0.0, "0"},
      {1.5, "1.5"},
      {-1.5, "-1.5"},
      {100.0, "100"},
      {1e20, "100000000000000000000"},
      {123456789012345680000.0, "123456789012345680000"},
      {1.2345e21, "1.2345e+21"},
      {1e100, "1e+100"},
      {1e-6, "0.000001"},
      {1.5e-6, "0.0000015"},
      {0.000001234, "0.000001234"},
      {2.5e-5, "0.000025"},
      {1.7e-7, "1.7e-7"},
      {-1e-7, "-1e-7"},
      {123e-20, "1.23e-18"},
      {0.1 + 0.2, "0.30000000000000004"},
      {1.0 / 3.0, "0.3333333333333333"},
      {4.35, "4.35"},
      {9007199254740993.0, "9007199254740992"},
      {9223372036854775808.0, "9223372036854776000"},
      {5e-324, "5e-324"},
      {DBL_MAX, "1.7976931348623157e+308"},
      {-123.456, "-123.456"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_str_of(aw_double(cases[i].d), cases[i].s);
  assert_str_of(aw_double(NAN), "NaN");
  assert_str_of(aw_double(-NAN), "NaN");
  assert_str_of(aw_double(INFINITY), "Infinity");
  assert_str_of(aw_double(-INFINITY), "-Infinity");
  assert_no_objects();
}

static void test_to_string_of_string_and_buffer_is_their_bytes(void **state) {
  (void)state;
  aw_val s = aw_string("text");
  assert_str_of(s, "text");
  aw_release_val(s);
  aw_val b = aw_obj_val(aw_buf_from("raw", 3));
  assert_str_of(b, "raw");
  aw_release_val(b);
  assert_no_objects();
}

static void test_to_string_of_array_joins_with_commas(void **state) {
  (void)state;
  aw_array *inner = aw_array_new(0);
  aw_array_push(inner, aw_int(2));
  aw_array_push(inner, aw_int(3));
  aw_array *a = aw_array_new(2);
  aw_array_push(a, aw_int(1));
  aw_array_push(a, aw_undefined()); /* undefined and null join as empty */
  aw_array_push(a, aw_null());
  aw_array_push(a, aw_string("a"));
  aw_array_push(a, aw_obj_val(inner));
  aw_array_push(a, aw_bool(true));
  aw_array_push(a, aw_double(0.5));
  assert_str_of(aw_obj_val(a), "1,,,a,2,3,true,0.5");
  aw_release(a);
  aw_array *e = aw_array_new(0);
  assert_str_of(aw_obj_val(e), "");
  aw_array *nested = aw_array_new(2);
  aw_array_push(nested, aw_obj_val(e)); /* String([[], 1]) is ",1" */
  aw_array_push(nested, aw_int(1));
  assert_str_of(aw_obj_val(nested), ",1");
  aw_release(nested);
  assert_no_objects();
}

static void test_to_string_of_error_is_name_colon_message(void **state) {
  (void)state;
  aw_val e = aw_err("TypeError", "bad %d", 3);
  assert_str_of(e, "TypeError: bad 3");
  aw_release_val(e);
  aw_val empty = aw_err("RangeError", "%s", ""); /* String(new RangeError()) */
  assert_str_of(empty, "RangeError");
  aw_release_val(empty);
  assert_no_objects();
}

static void test_to_string_of_thrown_value_converts_the_reason(void **state) {
  (void)state;
  assert_str_of(aw_throw(aw_int(5)), "5");
  aw_val e = aw_throw(aw_err("Error", "boom"));
  assert_str_of(e, "Error: boom");
  aw_release_val(e);
  assert_no_objects();
}

static void test_to_string_of_promise_is_object_promise(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = aw_promise_new(L);
  assert_str_of(aw_obj_val(p), "[object Promise]");
  aw_release(p);
  unit_finish(L);
}

/* ---- buffers ----------------------------------------------------------------------- */

static void test_buf_new_is_empty_with_the_capacity_asked(void **state) {
  (void)state;
  aw_buf *b = aw_buf_new(100);
  assert_non_null(b);
  assert_int_equal(b->hdr.type, AW_T_BUFFER);
  assert_int_equal(b->len, 0);
  assert_true(b->cap >= 100);
  memset(b->data, 0xab, 100); /* all of it is writable */
  aw_release(b);
  assert_no_objects();
}

static void test_buf_from_copies_the_bytes(void **state) {
  (void)state;
  uint8_t src[4] = {1, 0, 2, 255};
  aw_buf *b = aw_buf_from(src, sizeof src);
  src[0] = 9;
  assert_int_equal(b->len, 4);
  assert_true(b->cap >= 4);
  assert_memory_equal(b->data, ((uint8_t[]){1, 0, 2, 255}), 4);
  aw_release(b);
  aw_buf *e = aw_buf_from(NULL, 0);
  assert_non_null(e);
  assert_int_equal(e->len, 0);
  aw_release(e);
  assert_no_objects();
}

static void test_buf_reserve_grows_and_keeps_the_bytes(void **state) {
  (void)state;
  aw_buf *b = aw_buf_from("abc", 3);
  assert_int_equal(aw_buf_reserve(b, 4096), 0);
  assert_true(b->cap >= 4096);
  assert_int_equal(b->len, 3);
  assert_memory_equal(b->data, "abc", 3);
  size_t cap = b->cap;
  assert_int_equal(aw_buf_reserve(b, 10), 0); /* never shrinks */
  assert_int_equal(b->cap, cap);
  assert_int_equal(b->len, 3);
  aw_release(b);
  assert_no_objects();
}

/* ---- arrays ----------------------------------------------------------------------------- */

static void test_array_push_grows_and_get_reads_in_order(void **state) {
  (void)state;
  aw_array *a = aw_array_new(0);
  assert_int_equal(a->hdr.type, AW_T_ARRAY);
  assert_int_equal(aw_array_len(a), 0);
  for (int i = 0; i < 1000; i++)
    aw_array_push(a, aw_int(i * 2));
  assert_int_equal(aw_array_len(a), 1000);
  for (int i = 0; i < 1000; i++)
    assert_int_equal(aw_array_get(a, (size_t)i).u.i, i * 2);
  aw_release(a);
  assert_no_objects();
}

static void test_array_get_past_the_end_is_undefined(void **state) {
  (void)state;
  aw_array *a = aw_array_new(4);
  aw_array_push(a, aw_int(1));
  assert_true(aw_is_undefined(aw_array_get(a, 1)));
  assert_true(aw_is_undefined(aw_array_get(a, 4)));
  assert_true(aw_is_undefined(aw_array_get(a, SIZE_MAX)));
  aw_release(a);
  assert_no_objects();
}

static void test_as_array_is_null_for_other_values(void **state) {
  (void)state;
  aw_array *a = aw_array_new(0);
  assert_ptr_equal(aw_as_array(aw_obj_val(a)), a);
  assert_null(aw_as_array(aw_int(1)));
  aw_val s = aw_string("s");
  assert_null(aw_as_array(s));
  aw_release_val(s);
  aw_release(a);
  assert_no_objects();
}

static int g_finalized;
static char g_final_order[64];
static void counting_finalize(aw_obj *self) {
  int *tag = aw_object_data(self);
  g_finalized++;
  size_t n = strlen(g_final_order);
  if (n < sizeof g_final_order - 1) {
    g_final_order[n] = (char)('0' + *tag % 10);
    g_final_order[n + 1] = 0;
  }
}
static const aw_class counting_class = {"Counting", counting_finalize, NULL};

static aw_obj *counting_new(int tag) {
  aw_obj *o = aw_object_new(&counting_class, sizeof(int));
  *(int *)aw_object_data(o) = tag;
  return o;
}

static void test_array_releases_its_elements_when_freed(void **state) {
  (void)state;
  g_finalized = 0;
  g_final_order[0] = 0;
  aw_array *a = aw_array_new(0);
  aw_obj *kept = counting_new(1);
  aw_array_push(a, aw_obj_val(aw_retain(kept))); /* the array holds its own reference */
  aw_array_push(a, aw_obj_val(counting_new(2)));
  aw_release(a);
  assert_int_equal(g_finalized, 1); /* 2 went with the array; 1 is still ours */
  assert_string_equal(g_final_order, "2");
  aw_release(kept);
  assert_int_equal(g_finalized, 2);
  assert_no_objects();
}

/* ---- user objects -------------------------------------------------------------------- */

static void test_object_payload_is_zeroed_and_max_aligned(void **state) {
  (void)state;
  aw_obj *o = aw_object_new(&counting_class, 64);
  assert_int_equal(o->type, AW_T_USER);
  assert_int_equal(o->refs, 1);
  unsigned char *d = aw_object_data(o);
  assert_non_null(d);
  assert_int_equal((uintptr_t)d % _Alignof(max_align_t), 0);
  for (int i = 0; i < 64; i++)
    assert_int_equal(d[i], 0);
  assert_ptr_equal(aw_object_class(o), &counting_class);
  *(int *)d = 0;
  g_finalized = 0;
  aw_release(o);
  assert_int_equal(g_finalized, 1);
  assert_no_objects();
}

static void test_object_finalizer_runs_once_at_last_release(void **state) {
  (void)state;
  g_finalized = 0;
  aw_obj *o = counting_new(5);
  aw_retain(o);
  aw_retain(o);
  aw_release(o);
  aw_release(o);
  assert_int_equal(g_finalized, 0);
  aw_release(o);
  assert_int_equal(g_finalized, 1);
  assert_no_objects();
}

static void test_object_without_finalizer_or_payload_frees(void **state) {
  (void)state;
  static const aw_class bare = {"Bare", NULL, NULL};
  aw_obj *o = aw_object_new(&bare, 0);
  assert_non_null(o);
  assert_ptr_equal(aw_object_class(o), &bare);
  aw_release(o);
  assert_no_objects();
}

static void test_object_data_and_class_of_non_user_objects_are_null(void **state) {
  (void)state;
  aw_str *s = aw_str_from("s");
  assert_null(aw_object_data(&s->hdr));
  assert_null(aw_object_class(&s->hdr));
  aw_release(s);
  assert_no_objects();
}

/* A chain: each object holds the next; releasing the head frees all of them. */
typedef struct link_obj {
  aw_obj *next;
} link_obj;
static int64_t g_links_freed;
static void link_finalize(aw_obj *self) {
  link_obj *l = aw_object_data(self);
  g_links_freed++;
  aw_release(l->next);
}
static const aw_class link_class = {"Link", link_finalize, NULL};

static void test_releasing_a_million_long_object_chain_does_not_recurse(void **state) {
  (void)state;
  enum { N = 1000000 };
  g_links_freed = 0;
  aw_obj *head = NULL;
  for (int i = 0; i < N; i++) {
    aw_obj *o = aw_object_new(&link_class, sizeof(link_obj));
    ((link_obj *)aw_object_data(o))->next = head;
    head = o;
  }
  aw_release(head); /* would overflow the C stack if freeing recursed */
  assert_int_equal(g_links_freed, N);
  assert_no_objects();
}

static void test_releasing_a_million_deep_nested_array_does_not_recurse(void **state) {
  (void)state;
  enum { N = 1000000 };
  aw_array *a = aw_array_new(1);
  for (int i = 0; i < N; i++) {
    aw_array *outer = aw_array_new(1);
    aw_array_push(outer, aw_obj_val(a));
    a = outer;
  }
  aw_release(a);
  assert_no_objects();
}

/* ---- errors ------------------------------------------------------------------------ */

static void test_error_new_has_name_message_and_no_errno_or_cause(void **state) {
  (void)state;
  int line = __LINE__ + 1;
  aw_error *e = aw_error_new("TypeError", "bad %s", "arg");
  assert_int_equal(e->hdr.type, AW_T_ERROR);
  assert_string_equal(e->name, "TypeError");
  assert_string_equal(e->message->data, "bad arg");
  assert_int_equal(e->errnum, 0);
  assert_true(aw_is_undefined(e->cause));
  assert_null(e->errors);
  /* made outside any async function: the stack is the creating line only */
  assert_int_equal(e->nstack, 1);
  assert_null(e->stack[0].function);
  assert_string_equal(e->stack[0].file, __FILE__);
  assert_int_equal(e->stack[0].line, line);
  aw_val v = aw_obj_val(e);
  assert_ptr_equal(aw_as_error(v), e);
  assert_ptr_equal(aw_as_error(aw_throw(v)), e);
  assert_string_equal(aw_error_message(v), "bad arg");
  assert_string_equal(aw_error_message(aw_throw(v)), "bad arg");
  aw_release(e);
  assert_no_objects();
}

static void test_error_message_and_as_error_of_non_errors_are_null(void **state) {
  (void)state;
  assert_null(aw_error_message(aw_int(1)));
  assert_null(aw_as_error(aw_undefined()));
  aw_val s = aw_string("Error: not one");
  assert_null(aw_as_error(s));
  assert_null(aw_error_message(s));
  aw_release_val(s);
  assert_no_objects();
}

static void test_error_cause_is_kept_unmarked_and_replaced(void **state) {
  (void)state;
  aw_error *e = aw_error_new("Error", "outer");
  aw_error_set_cause(e, aw_throw(aw_err("Error", "first"))); /* a thrown cause is unwrapped */
  assert_false(aw_is_thrown(e->cause));
  assert_string_equal(aw_error_message(e->cause), "first");
  aw_error_set_cause(e, aw_string("second")); /* replaces (and releases) the first */
  assert_string_equal(aw_cstr(e->cause), "second");
  aw_release(e); /* releases the cause too */
  assert_no_objects();
}

static void test_error_errno_message_names_op_path_message_and_code(void **state) {
  (void)state;
  aw_error *e = aw_error_errno(-ENOENT, "open", "/x/y");
  assert_string_equal(e->message->data, "open /x/y: No such file or directory (ENOENT)");
  assert_string_equal(e->name, "Error");
  assert_int_equal(e->errnum, ENOENT);
  aw_release(e);
  aw_error *p = aw_error_errno(ENOENT, "open", "/x/y"); /* a positive errno works the same */
  assert_string_equal(p->message->data, "open /x/y: No such file or directory (ENOENT)");
  assert_int_equal(p->errnum, ENOENT);
  aw_release(p);
  assert_no_objects();
}

static void test_error_errno_without_path_omits_it(void **state) {
  (void)state;
  aw_error *e = aw_error_errno(-EBADF, "read", NULL);
  assert_string_equal(e->message->data, "read: Bad file descriptor (EBADF)");
  assert_int_equal(e->errnum, EBADF);
  aw_release(e);
  assert_no_objects();
}

static void test_strerror_and_err_name_cover_every_code_of_the_map(void **state) {
  (void)state;
  int n = 0;
#define XX(name, msg)                                                                              \
  assert_string_equal(aw_strerror(-name), msg);                                                    \
  assert_string_equal(aw_strerror(name), msg);                                                     \
  assert_string_equal(aw_err_name(-name), #name);                                                  \
  assert_string_equal(aw_err_name(name), #name);                                                   \
  n++;
  AW_ERRNO_MAP(XX)
#undef XX
  assert_true(n > 50);
  assert_no_objects();
}

static void test_strerror_names_libawaits_own_codes(void **state) {
  (void)state;
  assert_string_equal(aw_err_name(AW_EUNCAUGHT), "EUNCAUGHT");
  assert_string_equal(aw_err_name(AW_ENOURING), "ENOURING");
  assert_non_null(aw_strerror(AW_EUNCAUGHT));
  assert_non_null(aw_strerror(AW_ENOURING));
  assert_string_not_equal(aw_strerror(AW_EUNCAUGHT), "Unknown error");
  assert_string_not_equal(aw_strerror(AW_ENOURING), "Unknown error");
  assert_no_objects();
}

static void test_strerror_of_unknown_codes_is_unknown(void **state) {
  (void)state;
  static const int codes[] = {0, 4000, -4000, 99999, INT_MAX, -INT_MAX, INT_MIN};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    assert_string_equal(aw_strerror(codes[i]), "Unknown error");
    assert_string_equal(aw_err_name(codes[i]), "UNKNOWN");
  }
  assert_no_objects();
}

static void test_error_print_writes_name_message_stack_and_cause(void **state) {
  (void)state;
  int line = __LINE__ + 1;
  aw_error *e = aw_error_new("TypeError", "outer");
  aw_error_set_cause(e, aw_err("Error", "inner"));
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  aw_error_print(aw_obj_val(e), f);
  fclose(f);
  char at[256];
  snprintf(at, sizeof at, "%s:%d", __FILE__, line);
  assert_true(strncmp(out, "TypeError: outer\n", 17) == 0);
  assert_non_null(strstr(out, at));            /* the creating line */
  char *cause = strstr(out, "Error: inner\n"); /* the cause, after the error */
  assert_non_null(cause);
  assert_true(cause > out + 17);
  free(out);
  aw_release(e);
  /* any value prints as String(v) */
  out = NULL;
  f = open_memstream(&out, &len);
  aw_error_print(aw_int(42), f);
  fclose(f);
  assert_string_equal(out, "42\n");
  free(out);
  assert_no_objects();
}

/* ---- async stacks ----------------------------------------------------------------- */

typedef struct plain_frame {
  aw_frame frame;
} plain_frame;

typedef struct level_frame {
  aw_frame frame;
  int n;
} level_frame;

static int g_inner_line, g_middle_line, g_outer_line, g_create_line;
static aw_error *g_err; /* a reference the test releases */

static void inner_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  g_inner_line = __LINE__ + 1;
  AW_AWAIT_IGNORE(aw_undefined());
  g_create_line = __LINE__ + 1;
  g_err = aw_error_new("Error", "deep");
  AW_THROW(aw_obj_val(aw_retain(g_err)));
  AW_END;
}
static aw_promise *inner(aw_loop *L) {
  AW_ASYNC_NEW(L, plain_frame, inner_body, f);
  return aw_async_start(&f->frame);
}

static void middle_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  aw_val v;
  g_middle_line = __LINE__ + 1;
  AW_AWAIT(v, inner(L));
  AW_RETURN(v);
  AW_END;
}
static aw_promise *middle(aw_loop *L) {
  AW_ASYNC_NEW(L, plain_frame, middle_body, f);
  return aw_async_start(&f->frame);
}

static void outer_body(aw_loop *L, aw_frame *self) {
  AW_BEGIN(self);
  aw_val v;
  g_outer_line = __LINE__ + 1;
  AW_AWAIT_SETTLED(v, middle(L));
  AW_RETURN(aw_caught(v)); /* hands the error back as a value */
  AW_END;
}
static aw_promise *outer(aw_loop *L) {
  AW_ASYNC_NEW(L, plain_frame, outer_body, f);
  return aw_async_start(&f->frame);
}

static void test_error_in_awaited_async_records_every_awaiting_function(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  g_err = NULL;
  aw_promise *p = outer(L);
  run_ok(L);
  assert_int_equal(aw_promise_state(p), AW_FULFILLED);
  assert_ptr_equal(aw_as_error(aw_promise_result(p)), g_err);
  aw_error *e = g_err;
  assert_non_null(e);
  assert_int_equal(e->nstack, 4);
  assert_null(e->stack[0].function);
  assert_string_equal(e->stack[0].file, __FILE__);
  assert_int_equal(e->stack[0].line, g_create_line);
  assert_string_equal(e->stack[1].function, "inner_body");
  assert_string_equal(e->stack[1].file, __FILE__);
  assert_int_equal(e->stack[1].line, g_inner_line);
  assert_string_equal(e->stack[2].function, "middle_body");
  assert_int_equal(e->stack[2].line, g_middle_line);
  assert_string_equal(e->stack[3].function, "outer_body");
  assert_int_equal(e->stack[3].line, g_outer_line);
  /* the printed form names them in the same order */
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  aw_error_print(aw_obj_val(e), f);
  fclose(f);
  char *a = strstr(out, "inner_body"), *b = strstr(out, "middle_body"),
       *c = strstr(out, "outer_body");
  assert_true(a && b && c && a < b && b < c);
  free(out);
  aw_release(g_err);
  aw_release(p);
  unit_finish(L);
}

static aw_promise *level(aw_loop *L, int n);
static void level_body(aw_loop *L, aw_frame *self) {
  level_frame *f = (level_frame *)self;
  AW_BEGIN(self);
  if (f->n == 0) {
    AW_AWAIT_IGNORE(aw_undefined());
    AW_THROW(aw_err("Error", "bottom"));
  }
  aw_val v;
  AW_AWAIT(v, level(L, f->n - 1));
  AW_RETURN(v);
  AW_END;
}
static aw_promise *level(aw_loop *L, int n) {
  AW_ASYNC_NEW(L, level_frame, level_body, f);
  f->n = n;
  return aw_async_start(&f->frame);
}

static void test_error_async_stack_stops_at_stack_max(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = level(L, 40);
  aw_promise *c = aw_promise_catch(p, h_log, "caught");
  run_ok(L);
  assert_log("caught:Error: bottom");
  aw_error *e = aw_as_error(aw_promise_result(p));
  assert_non_null(e);
  assert_int_equal(e->nstack, AW_STACK_MAX);
  for (uint32_t i = 1; i < e->nstack; i++)
    assert_string_equal(e->stack[i].function, "level_body");
  aw_release(c);
  aw_release(p);
  unit_finish(L);
}

static void test_error_stack_of_an_unawaited_async_names_only_it(void **state) {
  (void)state;
  aw_loop *L = unit_loop();
  aw_promise *p = level(L, 0);
  aw_promise *c = aw_promise_catch(p, h_mark, "caught");
  run_ok(L);
  /* the error was made while level_body ran, so it names it... */
  aw_error *e = aw_as_error(aw_promise_result(p));
  assert_int_equal(e->nstack, 2);
  assert_string_equal(e->stack[1].function, "level_body");
  aw_release(c);
  aw_release(p);
  /* ...but an error made outside any async function afterwards does not */
  aw_error *later = aw_error_new("Error", "later");
  assert_int_equal(later->nstack, 1);
  aw_release(later);
  unit_finish(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      UNIT_TEST(test_zero_initialised_val_is_undefined),
      UNIT_TEST(test_scalar_constructors_set_tag_and_payload),
      UNIT_TEST(test_num_reads_ints_and_doubles_and_zero_otherwise),
      UNIT_TEST(test_v_converts_c_types_by_generic),
      UNIT_TEST(test_throw_marks_and_caught_unmarks),
      UNIT_TEST(test_retain_release_of_non_objects_do_nothing),
      UNIT_TEST(test_str_new_keeps_embedded_nul_and_terminates),
      UNIT_TEST(test_str_from_copies_the_c_string),
      UNIT_TEST(test_strf_formats_short_and_long_strings),
      UNIT_TEST(test_cstr_of_a_non_string_is_null),
      UNIT_TEST(test_objects_alive_counts_objects_until_released),
      UNIT_TEST(test_to_string_of_primitives),
      UNIT_TEST(test_to_string_of_doubles_is_javascripts),
      UNIT_TEST(test_to_string_of_string_and_buffer_is_their_bytes),
      UNIT_TEST(test_to_string_of_array_joins_with_commas),
      UNIT_TEST(test_to_string_of_error_is_name_colon_message),
      UNIT_TEST(test_to_string_of_thrown_value_converts_the_reason),
      UNIT_TEST(test_to_string_of_promise_is_object_promise),
      UNIT_TEST(test_buf_new_is_empty_with_the_capacity_asked),
      UNIT_TEST(test_buf_from_copies_the_bytes),
      UNIT_TEST(test_buf_reserve_grows_and_keeps_the_bytes),
      UNIT_TEST(test_array_push_grows_and_get_reads_in_order),
      UNIT_TEST(test_array_get_past_the_end_is_undefined),
      UNIT_TEST(test_as_array_is_null_for_other_values),
      UNIT_TEST(test_array_releases_its_elements_when_freed),
      UNIT_TEST(test_object_payload_is_zeroed_and_max_aligned),
      UNIT_TEST(test_object_finalizer_runs_once_at_last_release),
      UNIT_TEST(test_object_without_finalizer_or_payload_frees),
      UNIT_TEST(test_object_data_and_class_of_non_user_objects_are_null),
      UNIT_TEST(test_releasing_a_million_long_object_chain_does_not_recurse),
      UNIT_TEST(test_releasing_a_million_deep_nested_array_does_not_recurse),
      UNIT_TEST(test_error_new_has_name_message_and_no_errno_or_cause),
      UNIT_TEST(test_error_message_and_as_error_of_non_errors_are_null),
      UNIT_TEST(test_error_cause_is_kept_unmarked_and_replaced),
      UNIT_TEST(test_error_errno_message_names_op_path_message_and_code),
      UNIT_TEST(test_error_errno_without_path_omits_it),
      UNIT_TEST(test_strerror_and_err_name_cover_every_code_of_the_map),
      UNIT_TEST(test_strerror_names_libawaits_own_codes),
      UNIT_TEST(test_strerror_of_unknown_codes_is_unknown),
      UNIT_TEST(test_error_print_writes_name_message_stack_and_cause),
      UNIT_TEST(test_error_in_awaited_async_records_every_awaiting_function),
      UNIT_TEST(test_error_async_stack_stops_at_stack_max),
      UNIT_TEST(test_error_stack_of_an_unawaited_async_names_only_it),
  };
  return cmocka_run_group_tests_name("val", tests, NULL, NULL);
}
