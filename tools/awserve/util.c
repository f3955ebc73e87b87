/*
 * tools/awserve/util.c — HTTP dates and appending to buffers.
 *
 * Buffers grow by doubling (amortised), so a response built piece by piece
 * costs a few reallocations at most; the first size is big enough for every
 * fixed response (headers and a short body).
 */
#include "awserve.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int buf_add(aw_buf *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
      cap *= 2;
    int rc = aw_buf_reserve(b, cap);
    if (rc < 0)
      return rc;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int buf_adds(aw_buf *b, const char *s) { return buf_add(b, s, strlen(s)); }

int buf_addf(aw_buf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0)
    return -EINVAL;
  if ((size_t)n < sizeof tmp)
    return buf_add(b, tmp, (size_t)n);
  /* Longer than the scratch: format straight into the buffer. */
  size_t need = b->len + (size_t)n + 1;
  if (need > b->cap) {
    int rc = aw_buf_reserve(b, need);
    if (rc < 0)
      return rc;
  }
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* By hand rather than strftime: the names must be the English ones whatever the locale. */
void http_date(int64_t t, char out[32]) {
  struct tm tm;
  time_t tt = (time_t)t;
  gmtime_r(&tt, &tm);
  /* The fields are in range (gmtime), the year has four digits until 9999. */
  char tmp[64];
  snprintf(tmp, sizeof tmp, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday % 7],
           tm.tm_mday % 100, months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour % 100,
           tm.tm_min % 100, tm.tm_sec % 100);
  memcpy(out, tmp, 31);
  out[31] = 0;
}

int64_t http_date_parse(const char *s) {
  char wd[4], mon[4];
  int d, y, h, mi, se;
  if (sscanf(s, "%3s, %d %3s %d %d:%d:%d GMT", wd, &d, mon, &y, &h, &mi, &se) != 7)
    return -1;
  int m = -1;
  for (int i = 0; i < 12; i++)
    if (strcmp(mon, months[i]) == 0)
      m = i;
  if (m < 0 || d < 1 || d > 31 || y < 1970 || h > 23 || mi > 59 || se > 60)
    return -1;
  struct tm tm = {
      .tm_sec = se, .tm_min = mi, .tm_hour = h, .tm_mday = d, .tm_mon = m, .tm_year = y - 1900};
  return (int64_t)timegm(&tm);
}

const char *worker_date(worker *w) {
  int64_t now = (int64_t)time(NULL);
  if (now != w->date_sec) {
    char d[32];
    http_date(now, d);
    snprintf(w->date, sizeof w->date, "Date: %s\r\n", d);
    w->date_sec = now;
  }
  return w->date;
}
