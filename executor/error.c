/*
 * executor/error.c — error codes and error objects.
 *
 * An error captures its async stack when it is created: the file:line that
 * created it, then the async function running on this thread's loop and, up
 * the chain, each async function awaiting the previous one's promise (found
 * through the promise's reaction list, as V8 builds async stack traces).
 * Capturing copies pointers to static strings only; formatting waits until
 * someone prints the error.
 *
 * Errors the library makes name no line of its own (the library is built
 * with AW__LIBRARY, and executor/internal.h makes its aw_error_new and
 * aw_error_errno pass no file): "at io/op.c:481" says nothing a user can
 * act on. Most of them are made where no async function runs — in a
 * completion, a pool job, a reaction — so their stack is empty when made.
 * Such an error, and any other made outside every async function, is left
 * open (ERR_STACK_OPEN): the first async function it is thrown into (the
 * await that receives the rejection) writes itself and its awaiters into
 * the stack, so a failed aw_fs_open reads "at async serve (server.c:42)",
 * the line of the await that failed. Once written, the stack stays as it is.
 */
#include "internal.h"

#include <limits.h>
#include <string.h>

/* ---- codes ------------------------------------------------------------------- */

/* |code| without overflow (INT_MIN has no positive int): unknown codes stay unknown. */
static int magnitude(int code) { return code == INT_MIN ? 0 : code < 0 ? -code : code; }

const char *aw_err_name(int code) {
  code = magnitude(code);
  switch (code) {
#define XX(name, msg)                                                                              \
  case name:                                                                                       \
    return #name;
    AW_ERRNO_MAP(XX)
#undef XX
  case -AW_EUNCAUGHT:
    return "EUNCAUGHT";
  case -AW_ENOURING:
    return "ENOURING";
  case -AW_EFORKED:
    return "EFORKED";
  default:
    return "UNKNOWN";
  }
}

const char *aw_strerror(int code) {
  code = magnitude(code);
  switch (code) {
#define XX(name, msg)                                                                              \
  case name:                                                                                       \
    return msg;
    AW_ERRNO_MAP(XX)
#undef XX
  case -AW_EUNCAUGHT:
    return "Uncaught exception";
  case -AW_ENOURING:
    return "io_uring is not available";
  case -AW_EFORKED:
    return "the loop belongs to the parent process (inherited through fork)";
  default:
    return "Unknown error";
  }
}

/* ---- async stacks ---------------------------------------------------------- */

/* The async frame awaiting promise p, if one is (directly) in its reactions. */
static aw_frame *awaiting_frame(aw_promise *p) {
  if (!p || p->hdr.bits != AW_PENDING)
    return NULL;
  for (aw__rlink *r = p->u.q.head; r; r = aw__r_next(r))
    if (aw__r_kind(r) == AW__R_FRAME)
      return (aw_frame *)r;
  return NULL;
}

/* The stack of an error made outside every async function: the first await it reaches writes it. */
enum { ERR_STACK_OPEN = 1 << 0 };

/* Appends f and the chain of frames awaiting it; returns the new count. */
static uint32_t chain(aw_stack_entry *st, uint32_t n, uint32_t cap, aw_frame *f) {
  while (f && n < cap) {
    st[n++] = (aw_stack_entry){f->desc->name, f->desc->file, (int)f->line};
    f = awaiting_frame(f->promise);
  }
  return n;
}

/* file NULL: made by the library, which names no line of its own. */
static uint32_t capture(aw_stack_entry *st, const char *file, int line, bool *open) {
  uint32_t n = 0;
  if (file)
    st[n++] = (aw_stack_entry){NULL, file, line};
  aw_loop *L = aw__tls_loop;
  aw_frame *f = L ? L->cur_frame : NULL;
  *open = !f;
  return chain(st, n, AW_STACK_MAX, f);
}

static aw_error *error_alloc(const char *file, int line, const char *name, aw_str *msg) {
  aw_stack_entry st[AW_STACK_MAX];
  bool open;
  uint32_t n = capture(st, file, line, &open);
  uint32_t cap = open ? AW_STACK_MAX : n; /* room for the frames the first await adds */
  aw_error *e = aw__alloc(sizeof *e + cap * sizeof(aw_stack_entry));
  e->hdr = (aw_obj){1, AW_T_ERROR, 0, open ? ERR_STACK_OPEN : 0};
  aw__objects_add(1);
  e->errnum = 0;
  e->name = name ? name : "Error";
  e->message = msg;
  e->cause = aw_undefined();
  e->errors = NULL;
  e->nstack = n;
  e->stack_cap_ = cap;
  memcpy(e->stack, st, n * sizeof st[0]);
  return e;
}

void aw__error_reached(aw_val v, aw_frame *f) {
  aw_error *e = aw_as_error(v);
  if (!e || !(e->hdr.flags & ERR_STACK_OPEN))
    return;
  e->hdr.flags &= (uint16_t)~ERR_STACK_OPEN;
  uint32_t n = e->nstack < e->stack_cap_ ? e->nstack : e->stack_cap_;
  e->nstack = chain(e->stack, n, e->stack_cap_, f);
}

/* What an error says when its message could not be made. */
static const char msg_unmade[] = "(message too long or not formattable)";

aw_error *aw__error_new(const char *file, int line, const char *name, const char *fmt, ...) {
  aw_str *msg = NULL;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    msg = aw_vstrf(fmt, ap);
    va_end(ap);
    if (!msg)
      msg = aw__str_lit(msg_unmade);
  } else {
    msg = aw__str_lit("");
  }
  return error_alloc(file, line, name, msg);
}

aw_error *aw__error_errno(const char *file, int line, int code, const char *op, const char *path) {
  code = magnitude(code);
  aw_str *msg = NULL;
  if (path) /* a path too long to print is left out, the rest still says what failed */
    msg = aw_strf("%s %s: %s (%s)", op ? op : "?", path, aw_strerror(code), aw_err_name(code));
  if (!msg)
    msg = aw_strf("%s: %s (%s)", op ? op : "?", aw_strerror(code), aw_err_name(code));
  if (!msg)
    msg = aw__str_lit(msg_unmade);
  aw_error *e = error_alloc(file, line, "Error", msg);
  e->errnum = code;
  return e;
}

void aw_error_set_cause(aw_error *e, aw_val cause) {
  if (!e) {
    aw_release_val(cause);
    return;
  }
  aw_release_val(e->cause);
  e->cause = aw_caught(cause);
}

void aw__error_free(aw_error *e) {
  aw_release(e->message);
  aw_release_val(e->cause);
  aw_release(e->errors);
  aw__obj_block_free(&e->hdr, sizeof *e + e->stack_cap_ * sizeof(aw_stack_entry));
}

/* ---- printing --------------------------------------------------------------------- */

static void print_error(FILE *f, aw_error *e, int depth) {
  fprintf(f, "%s", e->name);
  if (e->message->len)
    fprintf(f, ": %s", e->message->data);
  fputc('\n', f);
  for (uint32_t i = 0; i < e->nstack && i < e->stack_cap_; i++) {
    const aw_stack_entry *s = &e->stack[i];
    if (s->function)
      fprintf(f, "    at async %s (%s:%d)\n", s->function, s->file, s->line);
    else
      fprintf(f, "    at %s:%d\n", s->file, s->line);
  }
  if (e->errors) {
    for (uint32_t i = 0; i < e->errors->len; i++) {
      fprintf(f, "  [errors][%u]: ", i);
      aw_error *sub = aw_as_error(e->errors->items[i]);
      if (sub && depth < 8)
        print_error(f, sub, depth + 1);
      else {
        aw__print_value(f, e->errors->items[i]);
        fputc('\n', f);
      }
    }
  }
  if (!aw_is_undefined(e->cause)) {
    fprintf(f, "  [cause]: ");
    aw_error *c = aw_as_error(e->cause);
    if (c && depth < 8)
      print_error(f, c, depth + 1);
    else {
      aw__print_value(f, e->cause);
      fputc('\n', f);
    }
  }
}

void aw_error_print(aw_val v, void *file) {
  FILE *f = file ? (FILE *)file : stderr;
  aw_error *e = aw_as_error(v);
  if (e) {
    print_error(f, e, 0);
    return;
  }
  aw__print_value(f, v);
  fputc('\n', f);
}
