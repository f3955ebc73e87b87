/*
 * tests/awsum/maxrss.c — runs a command and reports the peak resident set size
 * of it (and of anything it waited for), so that the awsum suite can bound
 * awsum's memory without /usr/bin/time.
 *
 *   awsum-maxrss REPORT CMD [ARGS...]
 *
 * CMD inherits stdin, stdout and stderr. When it ends, one line goes to the file
 * REPORT: "maxrss_kib=N status=S", S being the exit status or 128+signal. The
 * runner exits with S too (127 if CMD could not be run).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s REPORT CMD [ARGS...]\n", argv[0]);
    return 2;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("awsum-maxrss: fork");
    return 127;
  }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    fprintf(stderr, "awsum-maxrss: cannot run %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  int wstatus;
  struct rusage ru;
  while (wait4(pid, &wstatus, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("awsum-maxrss: wait4");
      return 127;
    }
  }
  /* RUSAGE_CHILDREN covers CMD's own waited-for children too. */
  struct rusage all;
  if (getrusage(RUSAGE_CHILDREN, &all) == 0 && all.ru_maxrss > ru.ru_maxrss)
    ru.ru_maxrss = all.ru_maxrss;
  int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  FILE *f = fopen(argv[1], "w");
  if (!f || fprintf(f, "maxrss_kib=%ld status=%d\n", ru.ru_maxrss, status) < 0 || fclose(f)) {
    fprintf(stderr, "awsum-maxrss: cannot write %s: %s\n", argv[1], strerror(errno));
    return 127;
  }
  return status;
}
