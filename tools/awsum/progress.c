/*
 * tools/awsum/progress.c — one line on stderr while the run goes on.
 *
 *   awsum: 1234/2000 files  512.0 MiB/1.0 GiB  1.3 GiB/s  ETA 0:01
 *
 * Redrawn by an interval timer at most ten times a second (the timer is
 * unreferenced: it never keeps the loop alive), erased before anything else
 * is written (report_problem, --unordered lines) and at the end. Shown when
 * stderr is a terminal, unless --no-progress; --progress forces it. Totals
 * grow while the walk goes on ("2000+ files"); the ETA appears once the walk
 * is over and the total is known.
 */
#include "awsum.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_INTERVAL_MS 100

struct progress {
  aw_timer timer;
  double t0;
  bool shown;
  bool stdout_tty; /* stdout shares the terminal: erase before each output line */
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *human(char *buf, size_t n, double bytes) {
  static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024 && u < 5) {
    bytes /= 1024;
    u++;
  }
  snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

static int term_width(void) {
  struct winsize ws;
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
    return ws.ws_col;
  return 80;
}

static void draw(awsum *A) {
  progress *p = A->prog;
  double dt = now_s() - p->t0;
  double rate = dt > 0 ? (double)A->bytes_done / dt : 0;
  char line[256], done[32], total[32], speed[32], eta[32] = "";
  if (A->walk_done && rate > 0 && A->bytes_total >= A->bytes_done) {
    unsigned long s = (unsigned long)((double)(A->bytes_total - A->bytes_done) / rate + 0.5);
    snprintf(eta, sizeof eta, "  ETA %lu:%02lu", s / 60, s % 60);
  }
  int n = snprintf(line, sizeof line, "awsum: %llu/%llu%s files  %s/%s  %s/s%s",
                   (unsigned long long)A->files_done, (unsigned long long)A->files_total,
                   A->walk_done ? "" : "+", human(done, sizeof done, (double)A->bytes_done),
                   human(total, sizeof total, (double)A->bytes_total),
                   human(speed, sizeof speed, rate), eta);
  int w = term_width() - 1;
  if (n > w)
    n = w;
  if (n < 0)
    return;
  fprintf(stderr, "\r%.*s\033[K", n, line);
  fflush(stderr);
  p->shown = true;
}

static void tick(aw_loop *L, void *arg) {
  (void)L;
  draw(arg);
}

void progress_start(awsum *A) {
  bool on = A->o.progress == 1 || (A->o.progress < 0 && isatty(STDERR_FILENO));
  if (!on)
    return;
  progress *p = xcalloc(1, sizeof *p);
  p->t0 = now_s();
  p->stdout_tty = isatty(STDOUT_FILENO);
  A->prog = p;
  p->timer = aw_set_interval(A->L, PROGRESS_INTERVAL_MS, tick, A);
  aw_timer_unref(A->L, p->timer);
}

void progress_hide(awsum *A) {
  progress *p = A->prog;
  if (!p || !p->shown)
    return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
  p->shown = false;
}

void progress_before_stdout(awsum *A) {
  if (A->prog && A->prog->stdout_tty)
    progress_hide(A);
}

void progress_stop(awsum *A) {
  progress *p = A->prog;
  if (!p)
    return;
  progress_hide(A);
  aw_clear_timer(A->L, p->timer);
  free(p);
  A->prog = NULL;
}
