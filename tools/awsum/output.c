/*
 * tools/awsum/output.c — how names and problems are written.
 *
 * Three escapings, each matching what a reader of that output expects:
 *
 *  - Checksum lines, as coreutils 9.1 sha256sum writes them: a name holding
 *    a backslash, a newline or a carriage return is written with those three
 *    escaped (\\, \n, \r) and the line starts with a backslash, so that
 *    `sha256sum -c` reads the name back exactly.
 *  - The names in -c's report ("NAME: OK"): sha256sum 9.1 escapes them only
 *    when they hold a newline, and then as in a checksum line (\\, \n and
 *    \r, with the leading backslash); without a newline, a backslash or a
 *    carriage return is written as it is.
 *  - The names in messages on stderr: sha256sum quotes them for a shell
 *    (gnulib's shell-escape style, colons quoted too): unquoted when nothing
 *    needs it; 'single quotes' in general; "double quotes" when a single
 *    quote is the problem and nothing else would need escaping there; $'\ooo'
 *    for bytes that do not print in the locale. The rules below come from
 *    watching sha256sum's messages byte by byte (see the table in
 *    quote_class).
 *
 * JSON strings keep valid UTF-8 and write each byte that is not part of it
 * as \udcXX (the lone low surrogate Python's surrogateescape uses), so a
 * reader can get every file name back byte for byte.
 */
#include "awsum.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <wchar.h>
#include <wctype.h>

/* ---- sbuf -------------------------------------------------------------------------------- */

void sb_put(sbuf *s, const void *p, size_t n) {
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 64;
    while (s->len + n + 1 > cap)
      cap *= 2;
    s->p = xrealloc(s->p, cap);
    s->cap = cap;
  }
  memcpy(s->p + s->len, p, n);
  s->len += n;
  s->p[s->len] = '\0';
}

void sb_putc(sbuf *s, char c) { sb_put(s, &c, 1); }
void sb_puts(sbuf *s, const char *str) { sb_put(s, str, strlen(str)); }

void sb_free(sbuf *s) {
  free(s->p);
  *s = (sbuf){0};
}

/* ---- shell quoting of names in messages ------------------------------------------------- */

/*
 * How one character of a name behaves, by what sha256sum does with it:
 *   needs:  the name must be quoted;
 *   compat: the character may stand inside "double quotes" unescaped (the
 *           style used when a single quote is in the name);
 *   bad:    it does not print: written as $'\ooo' (or $'\n' and the like).
 *
 *   letters digits % + , - . / @ ] _      -> nothing
 *   space : '                             -> needs, compat
 *   # ~ first                             -> needs, compat; elsewhere: not compat
 *   { } as the whole name                 -> needs; elsewhere: not compat
 *   ! " $ & ( ) * ; < = > ? [ \ ^ ` |     -> needs
 *   controls, DEL, bytes that are not a printable character -> needs, bad
 *   printable multibyte characters        -> compat
 */
enum { Q_NEEDS = 1, Q_COMPAT = 2, Q_BAD = 4 };

static int quote_ascii(unsigned char c, size_t i, size_t len) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
      strchr("%+,-./@]_", c))
    return Q_COMPAT;
  if (c == ' ' || c == ':' || c == '\'')
    return Q_NEEDS | Q_COMPAT;
  if (c == '#' || c == '~')
    return i == 0 ? Q_NEEDS | Q_COMPAT : 0;
  if (c == '{' || c == '}')
    return len == 1 ? Q_NEEDS : 0;
  if (c < 0x20 || c == 0x7f)
    return Q_NEEDS | Q_BAD;
  return Q_NEEDS; /* ! " $ & ( ) * ; < = > ? [ \ ^ ` | */
}

/* The class of the character at s[i] and its length in bytes (*n). */
static int quote_class(const char *s, size_t i, size_t len, size_t *n) {
  unsigned char c = (unsigned char)s[i];
  if (c < 0x80) {
    *n = 1;
    return quote_ascii(c, i, len);
  }
  mbstate_t st;
  memset(&st, 0, sizeof st);
  wchar_t wc;
  size_t k = mbrtowc(&wc, s + i, len - i, &st);
  if (k == (size_t)-1 || k == (size_t)-2 || k == 0 || !iswprint((wint_t)wc)) {
    *n = k == (size_t)-1 || k == (size_t)-2 || k == 0 ? 1 : k;
    return Q_NEEDS | Q_BAD;
  }
  *n = k;
  return Q_COMPAT;
}

static void put_dollar_escape(sbuf *out, unsigned char c) {
  static const char letters[] = "abtnvfr"; /* \a (7) to \r (13) */
  char tmp[8];
  if (c >= 7 && c <= 13)
    snprintf(tmp, sizeof tmp, "\\%c", letters[c - 7]);
  else
    snprintf(tmp, sizeof tmp, "\\%03o", c);
  sb_puts(out, tmp);
}

void quote_name(sbuf *out, const char *name) {
  size_t len = strlen(name), n;
  bool needs = len == 0, all_compat = true, squote = false;
  for (size_t i = 0; i < len; i += n) {
    int q = quote_class(name, i, len, &n);
    needs |= (q & Q_NEEDS) != 0;
    all_compat &= (q & Q_COMPAT) != 0;
    squote |= name[i] == '\'';
  }
  if (!needs) {
    sb_put(out, name, len);
    return;
  }
  if (squote && all_compat) {
    sb_putc(out, '"');
    sb_put(out, name, len);
    sb_putc(out, '"');
    return;
  }
  /* Single quotes; a quote becomes '\'' and bytes that do not print $'\ooo'. */
  bool open = true, dollar = false;
  sb_putc(out, '\'');
  for (size_t i = 0; i < len; i += n) {
    int q = quote_class(name, i, len, &n);
    if (q & Q_BAD) {
      if (open)
        sb_putc(out, '\'');
      open = false;
      if (!dollar)
        sb_puts(out, "$'");
      dollar = true;
      for (size_t k = 0; k < n; k++)
        put_dollar_escape(out, (unsigned char)name[i + k]);
      continue;
    }
    if (dollar)
      sb_putc(out, '\'');
    dollar = false;
    if (name[i] == '\'') {
      sb_puts(out, open ? "'\\''" : "\\''");
      open = true;
      continue;
    }
    if (!open)
      sb_putc(out, '\'');
    open = true;
    sb_put(out, name + i, n);
  }
  if (dollar || open)
    sb_putc(out, '\'');
}

/* ---- messages ---------------------------------------------------------------------------- */

void report_problem(awsum *A, const char *name, const char *msg) {
  progress_hide(A);
  fflush(stdout);
  sbuf q = {0};
  quote_name(&q, name);
  fprintf(stderr, "awsum: %s: %s\n", q.p, msg);
  sb_free(&q);
}

void report_msg(awsum *A, const char *fmt, ...) {
  progress_hide(A);
  fflush(stdout);
  va_list ap;
  va_start(ap, fmt);
  fputs("awsum: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

const char *skipped_note(uint32_t mode) {
  switch (mode & S_IFMT) {
  case S_IFLNK:
    return "symbolic link skipped";
  case S_IFIFO:
    return "FIFO skipped";
  case S_IFSOCK:
    return "socket skipped";
  case S_IFCHR:
    return "character device skipped";
  case S_IFBLK:
    return "block device skipped";
  default:
    return "not a regular file, skipped";
  }
}

const char *not_regular_msg(uint32_t mode) {
  switch (mode & S_IFMT) {
  case S_IFLNK:
    return "not a regular file (symbolic link)";
  case S_IFIFO:
    return "not a regular file (FIFO)";
  case S_IFSOCK:
    return "not a regular file (socket)";
  case S_IFCHR:
    return "not a regular file (character device)";
  case S_IFBLK:
    return "not a regular file (block device)";
  default:
    return "not a regular file";
  }
}

const char *rec_message(const arec *r) {
  if (r->msg)
    return r->msg;
  if (r->err == AWSUM_ENOTREG)
    return "not a regular file";
  return strerror(r->err ? r->err : EIO);
}

void report_rec_problem(awsum *A, const arec *r) {
  if (r->kind == REC_NOTE && !A->o.verbose)
    return;
  report_problem(A, r->path, rec_message(r));
}

/* ---- checksum lines ---------------------------------------------------------------------- */

void hex_digest(char *out, const uint8_t digest[SHA256_LEN]) {
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < SHA256_LEN; i++) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
  out[2 * SHA256_LEN] = '\0';
}

/* Writes name with \\, \n and \r escaped. */
static void put_escaped(FILE *f, const char *name) {
  for (const char *p = name; *p; p++) {
    if (*p == '\\')
      fputs("\\\\", f);
    else if (*p == '\n')
      fputs("\\n", f);
    else if (*p == '\r')
      fputs("\\r", f);
    else
      putc(*p, f);
  }
}

void print_sum_line(FILE *f, const uint8_t digest[SHA256_LEN], const char *name) {
  char hex[2 * SHA256_LEN + 1];
  hex_digest(hex, digest);
  bool esc = strpbrk(name, "\\\n\r") != NULL;
  if (esc)
    putc('\\', f);
  fputs(hex, f);
  fputs("  ", f);
  if (esc)
    put_escaped(f, name);
  else
    fputs(name, f);
  putc('\n', f);
}

void print_check_name(FILE *f, const char *name) {
  if (!strchr(name, '\n')) {
    fputs(name, f);
    return;
  }
  putc('\\', f);
  put_escaped(f, name);
}

/* ---- JSON -------------------------------------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at s (1 to 4), or 0. */
static size_t utf8_len(const unsigned char *s) {
  unsigned char c = s[0];
  if (c >= 0xc2 && c <= 0xdf)
    return (s[1] & 0xc0) == 0x80 ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
  }
  return 0;
}

void print_json_str(FILE *f, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  putc('"', f);
  while (*p) {
    unsigned char c = *p;
    if (c == '"' || c == '\\') {
      putc('\\', f);
      putc(c, f);
      p++;
    } else if (c < 0x20 || c == 0x7f) {
      switch (c) {
      case '\n':
        fputs("\\n", f);
        break;
      case '\r':
        fputs("\\r", f);
        break;
      case '\t':
        fputs("\\t", f);
        break;
      default:
        fprintf(f, "\\u%04x", c);
      }
      p++;
    } else if (c < 0x80) {
      putc(c, f);
      p++;
    } else {
      size_t n = utf8_len(p); /* stops at the NUL: it is not a continuation byte */
      if (n) {
        fwrite(p, 1, n, f);
        p += n;
      } else {
        fprintf(f, "\\udc%02x", c);
        p++;
      }
    }
  }
  putc('"', f);
}

void print_json_errors(awsum *A) {
  fputs("\"errors\":[", stdout);
  bool first = true;
  for (size_t i = 0; i < A->nrecs; i++) {
    const arec *r = A->recs[i];
    if (r->kind == REC_NOTE || (r->kind == REC_FILE && !r->err && !r->msg))
      continue;
    fputs(first ? "\n{\"path\":" : ",\n{\"path\":", stdout);
    first = false;
    print_json_str(stdout, r->path);
    fputs(",\"error\":", stdout);
    print_json_str(stdout, rec_message(r));
    putchar('}');
  }
  fputs(first ? "]" : "\n]", stdout);
}
