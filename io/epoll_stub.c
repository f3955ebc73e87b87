/*
 * io/epoll_stub.c — TEMPORARY stand-in for io/epoll.c until the epoll backend
 * lands (meson.build links this file only while io/epoll.c does not exist):
 * the backend cannot be made (ENOSYS), so nothing else here is ever called.
 */
#include "io/epoll.h"

#include <errno.h>
#include <stdlib.h>

int aw__ep_new(aw_loop *L, unsigned sq_entries, aw__ep **out) {
  (void)L, (void)sq_entries;
  *out = NULL;
  return -ENOSYS;
}
void aw__ep_free(aw__ep *ep) { (void)ep; }
void aw__ep_caps(const aw__ep *ep, aw_io_caps *caps) { (void)ep, (void)caps; }
struct io_uring_sqe *aw__ep_get_sqe(aw__ep *ep) {
  (void)ep;
  return NULL;
}
unsigned aw__ep_sq_ready(const aw__ep *ep) {
  (void)ep;
  return 0;
}
int aw__ep_submit(aw__ep *ep) {
  (void)ep;
  return -ENOSYS;
}
int aw__ep_enter(aw__ep *ep, int timeout_ms) {
  (void)ep, (void)timeout_ms;
  return -ENOSYS;
}
bool aw__ep_peek(aw__ep *ep, aw__cqe *out) {
  (void)ep, (void)out;
  return false;
}
unsigned aw__ep_cq_ready(const aw__ep *ep) {
  (void)ep;
  return 0;
}
int aw__ep_buf_ring_register(aw__ep *ep, struct io_uring_buf_ring *br, unsigned entries,
                             unsigned short bgid) {
  (void)ep, (void)br, (void)entries, (void)bgid;
  return -ENOSYS;
}
void aw__ep_buf_ring_unregister(aw__ep *ep, unsigned short bgid) { (void)ep, (void)bgid; }
int aw__ep_fd(const aw__ep *ep) {
  (void)ep;
  return -ENOSYS;
}
void aw__ep_post_cqe(aw__ep *ep, uint64_t data, int32_t res, uint32_t flags) {
  (void)ep, (void)data, (void)res, (void)flags;
  abort(); /* no epoll backend exists to post to */
}
struct aw__epf **aw__ep_file_state(aw__ep *ep) {
  (void)ep;
  abort();
}
