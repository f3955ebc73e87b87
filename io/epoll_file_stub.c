/*
 * io/epoll_file_stub.c — TEMPORARY stand-in for io/epoll_file.c until it lands
 * (meson.build links this file only while io/epoll_file.c does not exist):
 * every file op the epoll backend hands over fails with ENOSYS.
 */
#include "io/epoll.h"

#include <errno.h>

int aw__epf_submit(aw__ep *ep, aw_loop *L, const struct io_uring_sqe *sqe) {
  (void)ep, (void)L, (void)sqe;
  return -ENOSYS;
}
int aw__epf_cancel(aw__ep *ep, uint64_t user_data) {
  (void)ep, (void)user_data;
  return -ENOENT;
}
int aw__epf_cancel_fd(aw__ep *ep, int fd, bool any) {
  (void)ep, (void)fd, (void)any;
  return 0;
}
unsigned aw__epf_outstanding(const aw__ep *ep) {
  (void)ep;
  return 0;
}
void aw__epf_free(aw__ep *ep) { (void)ep; }
