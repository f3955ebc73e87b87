/*
 * tools/awsum/check.c — -c: verifying manifests as coreutils 9.1 sha256sum -c.
 *
 * The manifests are read in order (io_uring; '-' is standard input) and cut
 * into lines; every well-formed line's file goes into the hashing pipeline at
 * once, so files are checked in parallel, while the report follows the
 * manifests' order: a line is reported when it and every line before it are
 * settled (report_pump). The report, the messages and the exit status are
 * sha256sum's, as observed:
 *
 *  - "NAME: OK", "NAME: FAILED", "NAME: FAILED open or read" on stdout (the
 *    name escaped, with a leading backslash, if it holds a newline), after
 *    "awsum: NAME: <strerror>" on stderr for a file that cannot be read;
 *  - per manifest, after its lines: "WARNING: N line(s) is/are improperly
 *    formatted", "N listed file(s) could not be read", "N computed
 *    checksum(s) did NOT match", or "NAME: no properly formatted checksum
 *    lines found" when it had no usable line;
 *  - --quiet drops the OK lines, --status drops stdout and the warnings,
 *    --warn reports each malformed line ("NAME: LINE: improperly formatted
 *    SHA256 checksum line"); the last of the three given wins. --strict makes
 *    malformed lines fail the run. --ignore-missing skips files that do not
 *    exist (and "NAME: no file was verified" fails the run when no listed
 *    file matched).
 *
 * The line syntax (parse_line), as sha256sum 9.1 reads it:
 *
 *   line      := [CR-stripped] "" | "#..." (skipped) | blanks [ "\" ] body
 *   blanks    := { " " | TAB }
 *   body      := tagged | plain
 *   tagged    := "SHA256" [" "] "(" NAME ")" blanks "=" blanks HEX64 end
 *                (NAME runs to the last ')' of the line)
 *   plain     := HEX64 (" " | TAB) rest
 *
 * In the plain form, sha256sum tells two layouts apart: "HEX  NAME" or
 * "HEX *NAME" (the standard one, the second character a mode flag) and "HEX
 * NAME" (BSD's reversed layout). The first plain line decides which one the
 * rest of the run uses, across manifests: a line whose rest is one byte, or
 * does not start with ' ' or '*', is reversed (malformed if the run is
 * standard); otherwise the flag character is skipped unless the run is
 * reversed. An empty rest is malformed. After a leading backslash the name is
 * unescaped (\\, \n, \r; anything else is malformed). A name ends at a NUL
 * byte, as a C string does.
 */
#include "awsum.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

enum line_kind {
  L_CHECK,    /* a file to verify */
  L_IMPROPER, /* a malformed line */
  L_UNREAD,   /* the manifest itself could not be read */
  L_END       /* the end of a manifest: its summary */
};

typedef struct cline {
  uint8_t kind;
  uint32_t manifest;
  uint64_t lineno;
  arec *r; /* L_CHECK */
  uint8_t expect[SHA256_LEN];
} cline;

typedef struct manifest {
  const char *name; /* as given (argv) */
  unsigned long checks, improper, unreadable, mismatched, verified;
} manifest;

typedef struct checker {
  manifest *ms;
  cline *lines;
  size_t n, cap, next; /* lines[next] is the first not reported yet */
  int reversed;        /* -1: not known yet; 0: "HEX  NAME"; 1: "HEX NAME" */
  bool json;           /* --json, and not --status */
  int64_t json_open;   /* the manifest whose "lines" are open, or -1 */
  bool json_any, json_first_line;
} checker;

static checker C;

/* ---- parsing ----------------------------------------------------------------------------- */

enum { P_SKIP, P_IMPROPER, P_OK };

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The number of hex digits at s (up to end). */
static size_t hex_run(const char *s, const char *end) {
  const char *p = s;
  while (p < end && hexval(*p) >= 0)
    p++;
  return (size_t)(p - s);
}

static void parse_hex(uint8_t out[SHA256_LEN], const char *s) {
  for (int i = 0; i < SHA256_LEN; i++)
    out[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* The name in [s, end), unescaped if esc; NULL if an escape is malformed. Stops at a NUL. */
static char *take_name(const char *s, const char *end, bool esc) {
  char *name = xmalloc((size_t)(end - s) + 1), *o = name;
  for (const char *p = s; p < end && *p; p++) {
    if (!esc || *p != '\\') {
      *o++ = *p;
      continue;
    }
    char c = ++p < end ? *p : '\0';
    if (c == '\\')
      *o++ = '\\';
    else if (c == 'n')
      *o++ = '\n';
    else if (c == 'r')
      *o++ = '\r';
    else {
      free(name);
      return NULL;
    }
  }
  *o = '\0';
  return name;
}

/* "SHA256 (NAME) = HEX" from s (past "SHA256"). */
static int parse_tagged(const char *s, const char *end, bool esc, uint8_t digest[SHA256_LEN],
                        char **name) {
  if (s < end && *s == ' ')
    s++;
  if (s >= end || *s != '(')
    return P_IMPROPER;
  const char *open = ++s, *close = end;
  while (close > open && close[-1] != ')')
    close--;
  if (close == open)
    return P_IMPROPER;
  const char *p = close; /* just past ')' */
  while (p < end && is_blank(*p))
    p++;
  if (p >= end || *p++ != '=')
    return P_IMPROPER;
  while (p < end && is_blank(*p))
    p++;
  if (end - p != 2 * SHA256_LEN || hex_run(p, end) != 2 * SHA256_LEN)
    return P_IMPROPER;
  if (!(*name = take_name(open, close - 1, esc)))
    return P_IMPROPER;
  parse_hex(digest, p);
  return P_OK;
}

static int parse_plain(const char *s, const char *end, bool esc, int *reversed,
                       uint8_t digest[SHA256_LEN], char **name) {
  if (hex_run(s, end) != 2 * SHA256_LEN)
    return P_IMPROPER;
  const char *hex = s;
  s += 2 * SHA256_LEN;
  if (s >= end || !is_blank(*s))
    return P_IMPROPER;
  s++;
  if (s == end)
    return P_IMPROPER;
  if (end - s == 1 || (*s != ' ' && *s != '*')) {
    if (*reversed == 0)
      return P_IMPROPER;
    *reversed = 1;
  } else if (*reversed != 1) {
    *reversed = 0;
    s++; /* the mode flag: ' ' text, '*' binary (the same on this system) */
  }
  if (!(*name = take_name(s, end, esc)))
    return P_IMPROPER;
  parse_hex(digest, hex);
  return P_OK;
}

static int parse_line(const char *s, size_t len, int *reversed, uint8_t digest[SHA256_LEN],
                      char **name) {
  if (len && s[len - 1] == '\r')
    len--;
  if (len == 0 || s[0] == '#')
    return P_SKIP;
  const char *end = s + len;
  while (s < end && is_blank(*s))
    s++;
  bool esc = s < end && *s == '\\';
  if (esc)
    s++;
  if (end - s >= 6 && memcmp(s, "SHA256", 6) == 0)
    return parse_tagged(s + 6, end, esc, digest, name);
  return parse_plain(s, end, esc, reversed, digest, name);
}

/* ---- the report ---------------------------------------------------------------------------- */

static cline *add_line(enum line_kind kind, uint32_t m, uint64_t lineno) {
  if (C.n == C.cap) {
    C.cap = C.cap ? 2 * C.cap : 256;
    C.lines = xrealloc(C.lines, C.cap * sizeof *C.lines);
  }
  cline *l = &C.lines[C.n++];
  memset(l, 0, sizeof *l);
  l->kind = (uint8_t)kind;
  l->manifest = m;
  l->lineno = lineno;
  return l;
}

static const char *manifest_label(const manifest *m) {
  return strcmp(m->name, "-") == 0 ? "standard input" : m->name;
}

/*
 * --json: {"manifests":[{"manifest":M,"lines":[{"line":N,"path":P,"status":S},...],
 * "summary":{...}},...]}, written as the report goes (manifest by manifest).
 */
static void json_open_manifest(uint32_t mi) {
  if (C.json_open == (int64_t)mi)
    return;
  fputs(C.json_any ? ",\n{\"manifest\":" : "\n{\"manifest\":", stdout);
  C.json_any = true;
  print_json_str(stdout, C.ms[mi].name);
  fputs(",\"lines\":[", stdout);
  C.json_open = mi;
  C.json_first_line = true;
}

static void json_result(const cline *l, const char *status, const char *err) {
  json_open_manifest(l->manifest);
  printf("%s{\"line\":%llu,", C.json_first_line ? "\n" : ",\n", (unsigned long long)l->lineno);
  C.json_first_line = false;
  if (l->r) {
    fputs("\"path\":", stdout);
    print_json_str(stdout, l->r->path);
    putchar(',');
  }
  fputs("\"status\":", stdout);
  print_json_str(stdout, status);
  if (err) {
    fputs(",\"error\":", stdout);
    print_json_str(stdout, err);
  }
  putchar('}');
}

static void json_summary(uint32_t mi) {
  const manifest *m = &C.ms[mi];
  json_open_manifest(mi);
  printf("%s],\"summary\":{\"ok\":%lu,\"failed\":%lu,\"unreadable\":%lu,\"improper\":%lu}}",
         C.json_first_line ? "" : "\n", m->verified - m->mismatched, m->mismatched, m->unreadable,
         m->improper);
  C.json_open = -1;
}

static void json_unreadable(uint32_t mi, const char *err) {
  fputs(C.json_any ? ",\n{\"manifest\":" : "\n{\"manifest\":", stdout);
  C.json_any = true;
  print_json_str(stdout, C.ms[mi].name);
  fputs(",\"error\":", stdout);
  print_json_str(stdout, err);
  putchar('}');
}

static void text_result(const arec *r, const char *status) {
  print_check_name(stdout, r->path);
  printf(": %s\n", status);
}

static void emit_check(awsum *A, manifest *m, cline *l) {
  arec *r = l->r;
  enum check_verbosity vb = A->o.verbosity;
  const char *status;
  if (r->err) {
    if (A->o.ignore_missing && r->err == ENOENT)
      return;
    m->unreadable++;
    report_problem(A, r->path, rec_message(r));
    status = "FAILED open or read";
  } else if (memcmp(r->digest, l->expect, SHA256_LEN) != 0) {
    m->mismatched++;
    m->verified++;
    status = "FAILED";
  } else {
    m->verified++;
    if (vb == CHECK_QUIET)
      return;
    status = "OK";
  }
  if (vb == CHECK_STATUS)
    return;
  progress_before_stdout(A);
  if (C.json)
    json_result(l, status, r->err ? rec_message(r) : NULL);
  else
    text_result(r, status);
}

static void emit_improper(awsum *A, manifest *m, cline *l) {
  m->improper++;
  if (C.json) {
    progress_before_stdout(A);
    json_result(l, "improperly formatted", NULL);
  }
  if (A->o.verbosity != CHECK_WARN)
    return;
  sbuf q = {0};
  quote_name(&q, manifest_label(m));
  report_msg(A, "%s: %llu: improperly formatted SHA256 checksum line", q.p,
             (unsigned long long)l->lineno);
  sb_free(&q);
}

static void warn_count(awsum *A, unsigned long n, const char *one, const char *many) {
  if (n)
    report_msg(A, "WARNING: %lu %s", n, n == 1 ? one : many);
}

static void emit_end(awsum *A, manifest *m) {
  sbuf q = {0};
  quote_name(&q, manifest_label(m));
  bool quiet = A->o.verbosity == CHECK_STATUS;
  if (m->checks == 0) {
    report_msg(A, "%s: no properly formatted checksum lines found", q.p);
    A->status = 1;
  } else {
    if (!quiet) {
      warn_count(A, m->improper, "line is improperly formatted", "lines are improperly formatted");
      warn_count(A, m->unreadable, "listed file could not be read",
                 "listed files could not be read");
      warn_count(A, m->mismatched, "computed checksum did NOT match",
                 "computed checksums did NOT match");
    }
    if (A->o.ignore_missing && m->verified == m->mismatched) { /* nothing matched */
      if (!quiet)
        report_msg(A, "%s: no file was verified", q.p);
      A->status = 1;
    }
    if (m->unreadable || m->mismatched || (A->o.strict && m->improper))
      A->status = 1;
  }
  if (C.json) {
    progress_before_stdout(A);
    json_summary((uint32_t)(m - C.ms));
  }
  sb_free(&q);
}

/* Reports every line whose turn has come. */
static void report_pump(awsum *A) {
  for (; C.next < C.n; C.next++) {
    cline *l = &C.lines[C.next];
    manifest *m = &C.ms[l->manifest];
    switch (l->kind) {
    case L_CHECK:
      if (!(l->r->flags & RF_DONE))
        return;
      emit_check(A, m, l);
      break;
    case L_IMPROPER:
      emit_improper(A, m, l);
      break;
    case L_UNREAD:
      A->status = 1;
      report_problem(A, manifest_label(m), rec_message(l->r));
      if (C.json)
        json_unreadable(l->manifest, rec_message(l->r));
      break;
    case L_END:
      emit_end(A, m);
      break;
    }
  }
}

static void check_file_done(awsum *A, arec *r) {
  (void)r;
  report_pump(A);
}

/* ---- reading the manifests ------------------------------------------------------------------ */

static void take_manifest(awsum *A, uint32_t mi, const char *data, size_t len) {
  manifest *m = &C.ms[mi];
  uint64_t lineno = 0;
  for (size_t pos = 0; pos < len;) {
    const char *s = data + pos, *nl = memchr(s, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - s) : len - pos;
    pos += n + (nl != NULL);
    lineno++;
    uint8_t digest[SHA256_LEN];
    char *name = NULL;
    int kind = parse_line(s, n, &C.reversed, digest, &name);
    if (kind == P_SKIP)
      continue;
    if (kind == P_IMPROPER) {
      add_line(L_IMPROPER, mi, lineno);
      continue;
    }
    cline *l = add_line(L_CHECK, mi, lineno);
    memcpy(l->expect, digest, SHA256_LEN);
    l->r = awsum_rec_new(A, name, REC_FILE);
    if (strcmp(name, "-") == 0)
      l->r->flags |= RF_STDIN;
    m->checks++;
    A->files_total++;
  }
  add_line(L_END, mi, lineno);
}

typedef struct reader {
  aw_frame frame;
  awsum *A;
  uint32_t mi;
  int fd;
  bool opened;
  sbuf data;
  size_t first; /* C.n when this manifest began */
} reader;

static void submit_new_lines(awsum *A, size_t from) {
  for (size_t i = from; i < C.n; i++)
    if (C.lines[i].kind == L_CHECK)
      hash_submit(A, C.lines[i].r);
}

static void unreadable(awsum *A, reader *f, int err, const char *msg) {
  cline *l = add_line(L_UNREAD, f->mi, 0);
  l->r = awsum_rec_new(A, xstrdup(C.ms[f->mi].name), REC_ERROR);
  l->r->err = err;
  l->r->msg = msg;
}

static void reader_body(aw_loop *L, aw_frame *self) {
  reader *f = (reader *)self;
  awsum *A = f->A;
  AW_BEGIN(self);
  aw_val v, err;
  for (f->mi = 0; f->mi < (uint32_t)A->o.npaths; f->mi++) {
    f->first = C.n;
    f->data.len = 0;
    f->opened = false;
    if (strcmp(C.ms[f->mi].name, "-") == 0) {
      f->fd = 0;
      A->stdin_used = true;
      if (A->stdin_closed) {
        unreadable(A, f, EBADF, "read error"); /* as a failed read of stdin is */
        report_pump(A);
        continue;
      }
    } else {
      AW_AWAIT_SETTLED(v, fd_open(A, C.ms[f->mi].name, O_RDONLY | O_CLOEXEC));
      if (aw_is_thrown(v)) {
        err = aw_caught(v);
        goto open_failed;
      }
      f->fd = (int)v.u.i;
      f->opened = true;
      fd_hold(A);
    }
    for (;;) {
      AW_AWAIT_CATCH(v, aw_fs_read(L, f->fd, 1 << 20, -1, NULL), err, read_failed);
      aw_buf *b = (aw_buf *)v.u.o;
      size_t n = b->len;
      sb_put(&f->data, b->data, n);
      aw_release_val(v);
      if (n == 0)
        break;
    }
    if (f->opened) {
      AW_AWAIT_SETTLED(v, aw_fs_close(L, f->fd, NULL));
      aw_release_val(aw_caught(v));
      fd_release(A);
    }
    take_manifest(A, f->mi, f->data.p ? f->data.p : "", f->data.len);
    submit_new_lines(A, f->first);
    report_pump(A);
    continue;

  open_failed:
    unreadable(A, f, reason_errno(err), NULL);
    aw_release_val(err);
    report_pump(A);
    continue;

  read_failed:
    aw_release_val(err);
    if (f->opened) {
      AW_AWAIT_SETTLED(v, aw_fs_close(L, f->fd, NULL));
      aw_release_val(aw_caught(v));
      fd_release(A);
    }
    unreadable(A, f, EIO, "read error");
    report_pump(A);
  }
  sb_free(&f->data);
  A->walk_done = true;
  AW_END;
}

static void no_walk(awsum *A) { (void)A; }
static void no_found(awsum *A, arec *r) { (void)A, (void)r; }

int check_run(awsum *A) {
  C.reversed = -1;
  C.json = A->o.json && A->o.verbosity != CHECK_STATUS;
  C.json_open = -1;
  if (C.json)
    fputs("{\"manifests\":[", stdout);
  C.ms = xcalloc((size_t)A->o.npaths, sizeof *C.ms);
  for (int i = 0; i < A->o.npaths; i++)
    C.ms[i].name = A->o.paths[i];
  A->file_done = check_file_done;
  A->file_found = no_found;
  A->walk_over = no_walk;
  AW_ASYNC_NEW(A->L, reader, reader_body, f);
  f->A = A;
  aw_release(aw_async_start(&f->frame));
  int rc = aw_loop_run(A->L);
  if (rc < 0) {
    report_msg(A, "the event loop stopped: %s", aw_strerror(rc));
    A->status = 1;
  }
  if (C.json)
    fputs(C.json_any ? "\n]}\n" : "]}\n", stdout);
  free(C.lines);
  free(C.ms);
  return A->status;
}
