/*
 * tools/awserve/files.c — static files under --root.
 *
 * Traversal (the documented choice, see awserve.1):
 *   - the path is percent-decoded first, then split on '/': a bad escape
 *     ("%zz", a lone '%') or a NUL (raw or %00) is 400 Bad Request;
 *   - a ".." segment, raw or encoded (%2e%2e, .%2e, ..%2f...), is 403
 *     Forbidden: nothing is resolved, whatever directory it would reach;
 *   - "." and empty segments are dropped ("/a//./b" is "a/b");
 *   - a symlink is followed only if what it names lies under the root: the
 *     opened file's real path (/proc/self/fd) must start with the root's
 *     real path, else 403 (the file is never read).
 * Files that do not exist, or that cannot be opened, are 404.
 */
#include "awserve.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int files_map_path(const char *url, size_t url_len, char *out, size_t out_cap, bool *trailing) {
  const char *p = url, *end = url + url_len;
  /* absolute-form (GET http://host/path): the path starts after the authority. */
  if (url_len >= 7 && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)) {
    p = strstr(url, "://") + 3;
    while (p < end && *p != '/')
      p++;
    if (p == end)
      p = "/", end = p + 1;
  }
  if (p == end || *p != '/')
    return 400;
  /* Decode into a scratch copy of the path (up to '?' or '#'). */
  char dec[4096];
  size_t n = 0;
  for (; p < end && *p != '?' && *p != '#'; p++) {
    int c = (unsigned char)*p;
    if (c == '%') {
      if (end - p < 3 || hexval(p[1]) < 0 || hexval(p[2]) < 0)
        return 400;
      c = hexval(p[1]) * 16 + hexval(p[2]);
      p += 2;
    }
    if (c == 0)
      return 400;
    if (n + 1 >= sizeof dec)
      return 404; /* longer than any path we serve (PATH_MAX) */
    dec[n++] = (char)c;
  }
  dec[n] = 0;
  *trailing = n > 0 && dec[n - 1] == '/';
  /* Segments: drop "" and ".", refuse "..". */
  size_t o = 0;
  char *save = NULL;
  for (char *seg = strtok_r(dec, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
    if (strcmp(seg, ".") == 0)
      continue;
    if (strcmp(seg, "..") == 0)
      return 403;
    size_t sl = strlen(seg);
    if (o + sl + 2 >= out_cap)
      return 404;
    if (o)
      out[o++] = '/';
    memcpy(out + o, seg, sl);
    o += sl;
  }
  out[o] = 0;
  return 0;
}

int files_check_beneath(int fd) {
  char link[64], real[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, real, sizeof real - 1);
  if (n < 0)
    return 403;
  real[n] = 0;
  size_t rl = g_opts.root_len;
  if ((size_t)n < rl || memcmp(real, g_opts.root_real, rl) != 0)
    return 403;
  if ((size_t)n > rl && real[rl] != '/' && rl > 1)
    return 403; /* "/srv/www2" is not under "/srv/www" */
  return 0;
}

static const struct {
  const char *ext, *type;
} mimes[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"bin", "application/octet-stream"},
};

const char *files_mime(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *dot = strrchr(slash ? slash : path, '.');
  if (dot && dot[1])
    for (size_t i = 0; i < sizeof mimes / sizeof mimes[0]; i++)
      if (strcasecmp(dot + 1, mimes[i].ext) == 0)
        return mimes[i].type;
  return "application/octet-stream";
}

void files_etag(const struct stat *st, char *out, size_t cap) {
  unsigned long long ns = (unsigned long long)st->st_mtim.tv_sec * 1000000000ull +
                          (unsigned long long)st->st_mtim.tv_nsec;
  snprintf(out, cap, "\"%llx-%llx\"", (unsigned long long)st->st_size, ns);
}

static bool parse_u64(const char **pp, uint64_t *out) {
  const char *p = *pp;
  if (*p < '0' || *p > '9')
    return false;
  uint64_t v = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (UINT64_MAX - 9) / 10)
      return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  *pp = p;
  *out = v;
  return true;
}

int files_range(const char *spec, uint64_t size, uint64_t *from, uint64_t *to) {
  const char *p = spec;
  while (*p == ' ' || *p == '\t')
    p++;
  if (strncasecmp(p, "bytes=", 6) != 0)
    return 0;
  p += 6;
  if (strchr(p, ','))
    return 0; /* several ranges: RFC 9110 lets us send the whole file */
  while (*p == ' ')
    p++;
  uint64_t a = 0, b = 0;
  if (*p == '-') { /* the last b bytes */
    p++;
    if (!parse_u64(&p, &b))
      return 0;
    while (*p == ' ')
      p++;
    if (*p)
      return 0;
    if (b == 0 || size == 0)
      return -1;
    *from = b >= size ? 0 : size - b;
    *to = size - 1;
    return 1;
  }
  if (!parse_u64(&p, &a) || *p != '-')
    return 0;
  p++;
  bool open_end = !(*p >= '0' && *p <= '9');
  if (!open_end && !parse_u64(&p, &b))
    return 0;
  while (*p == ' ')
    p++;
  if (*p || (!open_end && b < a))
    return 0;
  if (a >= size)
    return -1;
  *from = a;
  *to = open_end || b >= size ? size - 1 : b;
  return 1;
}

int files_html_escape(aw_buf *b, const char *s) {
  for (; *s; s++) {
    int rc;
    switch (*s) {
    case '<':
      rc = buf_adds(b, "&lt;");
      break;
    case '>':
      rc = buf_adds(b, "&gt;");
      break;
    case '&':
      rc = buf_adds(b, "&amp;");
      break;
    case '"':
      rc = buf_adds(b, "&quot;");
      break;
    case '\'':
      rc = buf_adds(b, "&#39;");
      break;
    default:
      rc = buf_add(b, s, 1);
    }
    if (rc < 0)
      return rc;
  }
  return 0;
}

int files_url_escape(aw_buf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    int rc;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        strchr("-._~!$()*+,;=:@", c)) {
      rc = buf_add(b, s, 1);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      rc = buf_add(b, e, 3);
    }
    if (rc < 0)
      return rc;
  }
  return 0;
}
