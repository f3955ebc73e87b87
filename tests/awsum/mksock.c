/*
 * tests/awsum/mksock.c — leaves a unix domain socket at PATH (bound, then the
 * process exits: the socket inode stays in the directory), for the awsum tests
 * of special files. Exit 0 on success, 1 with the cause on stderr otherwise.
 *
 *   awsum-mksock PATH
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH\n", argv[0]);
    return 2;
  }
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof sa.sun_path) {
    fprintf(stderr, "awsum-mksock: path too long for a unix socket: %s\n", argv[1]);
    return 1;
  }
  strcpy(sa.sun_path, argv[1]);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    fprintf(stderr, "awsum-mksock: %s: %m\n", argv[1]);
    return 1;
  }
  close(fd);
  return 0;
}
