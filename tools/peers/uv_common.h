/* Shared helpers for the libuv peers (from shared/peers/libuv/common.h): clock, report, checks. */
#ifndef PEERS_COMMON_H
#define PEERS_COMMON_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static inline void report(const char *name, long long value, const char *unit, double secs) {
  printf("%s %lld %s %.3f s\n", name, value, unit, secs);
  fflush(stdout);
}
#define CHECK(c, ...)                                                                              \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      fprintf(stderr, "CHECK FAILED: " __VA_ARGS__);                                               \
      fputc('\n', stderr);                                                                         \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)
#define UVCHECK(r)                                                                                 \
  do {                                                                                             \
    int r_ = (r);                                                                                  \
    if (r_ < 0) {                                                                                  \
      fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #r, uv_strerror(r_));                  \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)
#endif
