/*
 * tests/awsum/churn.c — changes files under awsum's feet as fast as it can, for
 * the racy half of tests/awsum/changing.sh.
 *
 *   awsum-churn DIR N SECONDS
 *
 * Keeps N files DIR/c0 .. DIR/c<N-1> in motion for SECONDS seconds (or until
 * DIR/stop exists): each step picks a file and deletes it, recreates it with
 * up to 1 MiB, or truncates it in place to a smaller size. A fixed seed makes
 * the sequence of steps the same on every run; how it interleaves with awsum
 * is up to the scheduler. Exit 0, or 1 with the cause if DIR is unusable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t state = 0x636875726e21ull;
static uint64_t next(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s DIR N SECONDS\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  int n = atoi(argv[2]);
  double secs = atof(argv[3]);
  if (n < 1 || secs <= 0) {
    fprintf(stderr, "awsum-churn: bad N or SECONDS\n");
    return 2;
  }
  static char buf[1 << 16];
  memset(buf, 'c', sizeof buf);
  char path[4096], stop[4096];
  snprintf(stop, sizeof stop, "%s/stop", dir);
  double end = now() + secs;
  for (unsigned long step = 0;; step++) {
    if ((step & 255) == 0 && (now() > end || access(stop, F_OK) == 0))
      break;
    uint64_t r = next();
    snprintf(path, sizeof path, "%s/c%d", dir, (int)(r % (uint64_t)n));
    switch ((r >> 32) % 3) {
    case 0:
      unlink(path);
      break;
    case 1: {
      int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) {
        fprintf(stderr, "awsum-churn: %s: %s\n", path, strerror(errno));
        return 1;
      }
      size_t want = (size_t)((r >> 40) % (1u << 20));
      while (want > 0) {
        size_t k = want < sizeof buf ? want : sizeof buf;
        if (write(fd, buf, k) < 0)
          break;
        want -= k;
      }
      close(fd);
      break;
    }
    default:
      (void)truncate(path, (off_t)((r >> 40) % (256u << 10)));
      break;
    }
  }
  return 0;
}
