/*
 * io/uring.c — the io_uring backend's own part: setting the ring up (the best
 * flags the kernel takes), the opcode probe, why io_uring cannot be had here,
 * and unmapping the ring. Submitting and reaping are liburing's inline calls,
 * reached through io/backend.h; the op core above them is io/op.c.
 */
#include "io/backend.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
/*
 * liburing maps and unmaps the rings with raw system calls, which
 * ThreadSanitizer does not see: when a loop is freed on one thread and a new
 * ring of another thread's loop is mapped at the same address, the old
 * thread's accesses still shadow that memory and TSan reports races that
 * cannot be (on the SQEs, the CQ head). munmap and mmap are ordered in the
 * kernel; a release before every unmap and an acquire after every map, on one
 * address, tell TSan so.
 */
static char ring_maps;
static void ring_mapped(void) { __tsan_acquire(&ring_maps); }
static void ring_exit(struct io_uring *ring) {
  __tsan_release(&ring_maps);
  io_uring_queue_exit(ring);
}
#else
static void ring_mapped(void) {}
static void ring_exit(struct io_uring *ring) { io_uring_queue_exit(ring); }
#endif

static int read_io_uring_disabled(void) {
  FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
  if (!f)
    return -1;
  int v = -1;
  if (fscanf(f, "%d", &v) != 1)
    v = -1;
  fclose(f);
  return v;
}

/* Why io_uring_setup failed with res here, and what to do, into why[0..n). */
static void no_uring_text(int res, char *why_buf, size_t n) {
  int disabled = read_io_uring_disabled();
  const char *why, *todo;
  if (res == -EPERM && disabled > 0) {
    why = disabled == 2 ? "the sysctl kernel.io_uring_disabled is 2 (io_uring off for everyone)"
                        : "the sysctl kernel.io_uring_disabled is 1 (only the io_uring_group may "
                          "use it)";
    todo = "run `sysctl kernel.io_uring_disabled=0` as root, or add this user to "
           "kernel.io_uring_group";
  } else if (res == -EPERM || res == -ENOSYS) {
    why = res == -ENOSYS ? "the kernel has no io_uring, or a seccomp filter hides it"
                         : "a seccomp filter (a container's default profile, say) forbids it";
    todo = "run on Linux 5.15 or later outside the seccomp profile (docker: --security-opt "
           "seccomp=unconfined, or a profile that allows io_uring_setup/enter/register)";
  } else if (res == -ENOMEM) {
    why = "the ring does not fit in RLIMIT_MEMLOCK (kernels before 5.12 charge it there)";
    todo = "raise the limit (ulimit -l, or LimitMEMLOCK= in a systemd unit), or use a newer kernel";
  } else if (res == -EMFILE || res == -ENFILE) {
    why = res == -EMFILE ? "the process has no descriptor left for the ring (RLIMIT_NOFILE)"
                         : "the system has no descriptor left for the ring (fs.file-max)";
    todo = "close descriptors or raise the limit (ulimit -n)";
  } else {
    why = "io_uring_setup failed";
    todo = "check the kernel's io_uring support";
  }
  /* Running out of descriptors is not "io_uring is not available": say what it is. */
  const char *head = res == -EMFILE || res == -ENFILE ? "cannot create the loop's io_uring"
                                                      : "io_uring is not available";
  snprintf(why_buf, n, "%s: io_uring_setup: %s (%s): %s; %s", head, aw_strerror(res),
           aw_err_name(res), why, todo);
}

/* Sets the ring up with the best flags the kernel takes, dropping them one by one on EINVAL. */
static int ring_setup(aw__io *R, unsigned entries, unsigned cq_entries) {
  static const unsigned tries[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN,
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
      IORING_SETUP_COOP_TASKRUN,
      0,
  };
  int r = -EINVAL;
  for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = tries[i] | IORING_SETUP_CQSIZE;
    p.cq_entries = cq_entries;
    r = AW__FAULT_OR(OPEN, -EMFILE, io_uring_queue_init_params(entries, &R->ring, &p));
    if (r == -EINVAL)
      continue;
    if (r < 0)
      return r;
    ring_mapped();
    int fd = aw__fd_above_stdio(R->ring.ring_fd); /* before anything registers it */
    if (fd < 0) {
      ring_exit(&R->ring);
      return -errno;
    }
    R->ring.ring_fd = R->ring.enter_ring_fd = fd;
    R->caps.sq_entries = p.sq_entries;
    R->caps.cq_entries = p.cq_entries;
    R->caps.single_issuer = p.flags & IORING_SETUP_SINGLE_ISSUER;
    R->caps.defer_taskrun = p.flags & IORING_SETUP_DEFER_TASKRUN;
    R->caps.coop_taskrun = p.flags & IORING_SETUP_COOP_TASKRUN;
    R->caps.nodrop = p.features & IORING_FEAT_NODROP;
    R->caps.ext_arg = p.features & IORING_FEAT_EXT_ARG;
    R->caps.fast_poll = p.features & IORING_FEAT_FAST_POLL;
    return 0;
  }
  return r;
}

/* Probes the opcodes; false if the kernel has no probe (before 5.6). */
static bool probe(aw__io *R) {
  struct io_uring_probe *pr = io_uring_get_probe_ring(&R->ring);
  if (!pr)
    return false;
  R->caps.nops = pr->last_op + 1u;
  for (unsigned op = 0; op < 64 && op <= pr->last_op; op++)
    R->caps.op_supported[op] = io_uring_opcode_supported(pr, (int)op);
  io_uring_free_probe(pr);
  return true;
}

/* The opcodes the op layer submits without asking caps first (SEND_ZC and ASYNC_CANCEL
 * it checks), with the kernel that brought the last of them. */
static const struct {
  unsigned char op;
  const char *name;
} required_ops[] = {
    {IORING_OP_NOP, "NOP"},           {IORING_OP_READV, "READV"},
    {IORING_OP_WRITEV, "WRITEV"},     {IORING_OP_FSYNC, "FSYNC"},
    {IORING_OP_POLL_ADD, "POLL_ADD"}, {IORING_OP_SENDMSG, "SENDMSG"},
    {IORING_OP_ACCEPT, "ACCEPT"},     {IORING_OP_CONNECT, "CONNECT"},
    {IORING_OP_OPENAT, "OPENAT"},     {IORING_OP_CLOSE, "CLOSE"},
    {IORING_OP_STATX, "STATX"},       {IORING_OP_READ, "READ"},
    {IORING_OP_WRITE, "WRITE"},       {IORING_OP_SEND, "SEND"},
    {IORING_OP_RECV, "RECV"},         {IORING_OP_SPLICE, "SPLICE"},
    {IORING_OP_SHUTDOWN, "SHUTDOWN"}, {IORING_OP_RENAMEAT, "RENAMEAT"},
    {IORING_OP_UNLINKAT, "UNLINKAT"}, {IORING_OP_MKDIRAT, "MKDIRAT"},
};

int aw__uring_open(aw__io *R, unsigned entries, unsigned cq_entries, bool need_ops, char *why,
                   size_t n) {
  int r = ring_setup(R, entries, cq_entries);
  if (r < 0) {
    no_uring_text(r, why, n);
    return r;
  }
  if (!R->caps.nodrop) {
    snprintf(why, n,
             "io_uring is not available: the kernel lacks IORING_FEAT_NODROP "
             "(Linux 5.5); use Linux 5.15 or later");
    ring_exit(&R->ring);
    return AW_ENOURING;
  }
  bool probed = probe(R);
  if (need_ops) {
    const char *missing = probed ? NULL : "the opcode probe (Linux 5.6)";
    for (size_t i = 0; probed && i < sizeof required_ops / sizeof required_ops[0]; i++)
      if (!R->caps.op_supported[required_ops[i].op]) {
        missing = required_ops[i].name;
        break;
      }
    if (missing) {
      snprintf(why, n, "io_uring is not available: the kernel lacks %s%s; use Linux 5.15 or later",
               probed ? "IORING_OP_" : "", missing);
      ring_exit(&R->ring);
      return AW_ENOURING;
    }
  }
  R->kind = AW__BE_URING;
  R->wake_poll = true;
  return 0;
}

void aw__uring_close(aw__io *R) { ring_exit(&R->ring); }
