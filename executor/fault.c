/*
 * executor/fault.c — fault injection (see fault.h). Built only with
 * -Dfault_injection=true; the hooks at the call sites are then one atomic
 * add each, and nothing at all otherwise.
 */
#define _GNU_SOURCE /* dladdr */
#include "executor/fault.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#include <sanitizer/common_interface_defs.h>
#define AW__HAVE_SAN_TRACE 1
#endif

#ifndef IORING_NOP_INJECT_RESULT
#define IORING_NOP_INJECT_RESULT (1U << 0) /* Linux 6.11; liburing 2.3's header predates it */
#endif

static const char *const names[AW__FAULT_NSITES] = {"alloc",  "sqe",  "enter",
                                                    "thread", "open", "accept"};
static _Atomic uint64_t hits[AW__FAULT_NSITES];
static _Atomic uint64_t target[AW__FAULT_NSITES];
static _Atomic uint64_t injected[AW__FAULT_NSITES];
static int trace; /* 1: the call chain as offsets into the executable; 2: a full stack */
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

const char *aw__fault_name(enum aw__fault_site site) {
  return (unsigned)site < AW__FAULT_NSITES ? names[site] : NULL;
}

int aw__fault_site_of(const char *name) {
  for (int i = 0; i < AW__FAULT_NSITES; i++)
    if (!strcmp(names[i], name))
      return i;
  return -1;
}

static void report(void) {
  for (int i = 0; i < AW__FAULT_NSITES; i++)
    fprintf(stderr, "libawait: fault: %s reached %llu times, %llu injected\n", names[i],
            (unsigned long long)atomic_load(&hits[i]),
            (unsigned long long)atomic_load(&injected[i]));
}

/* AW_FAULT=alloc:37,open:2 arms sites; AW_FAULT_REPORT=1 prints the counts at exit. */
static void read_env(void) {
  const char *t = getenv("AW_FAULT_TRACE");
  trace = t ? atoi(t) : 0;
  const char *r = getenv("AW_FAULT_REPORT");
  if (r && r[0] == '1')
    atexit(report);
  const char *s = getenv("AW_FAULT");
  while (s && *s) {
    char name[16];
    size_t n = strcspn(s, ":");
    if (n == 0 || n >= sizeof name || s[n] != ':')
      break;
    memcpy(name, s, n);
    name[n] = 0;
    char *end;
    unsigned long long v = strtoull(s + n + 1, &end, 10);
    int site = aw__fault_site_of(name);
    if (site < 0) {
      fprintf(stderr, "libawait: AW_FAULT: unknown site '%s'\n", name);
      abort();
    }
    atomic_store(&target[site], v);
    s = *end == ',' ? end + 1 : NULL;
  }
}

/* Offsets, not addresses: the same in every run of a PIE, and what addr2line takes. */
static void print_trace(enum aw__fault_site site, uint64_t n) {
  void *pc[12];
  int depth = backtrace(pc, 12);
  char line[512];
  int len = snprintf(line, sizeof line, "libawait: fault: injecting %s #%llu at", names[site],
                     (unsigned long long)n);
  for (int i = 1; i < depth && len < (int)sizeof line - 24; i++) {
    Dl_info info;
    uintptr_t off = (uintptr_t)pc[i];
    if (dladdr(pc[i], &info) && info.dli_fbase)
      off -= (uintptr_t)info.dli_fbase;
    len += snprintf(line + len, sizeof line - (size_t)len, " 0x%lx", (unsigned long)(off - 1));
  }
  fprintf(stderr, "%s\n", line);
#ifdef AW__HAVE_SAN_TRACE
  if (trace > 1)
    __sanitizer_print_stack_trace();
#endif
}

void aw__fault_set_trace(int level) {
  pthread_once(&env_once, read_env);
  trace = level;
}

bool aw__fault_hit(enum aw__fault_site site) {
  pthread_once(&env_once, read_env);
  uint64_t n = atomic_fetch_add_explicit(&hits[site], 1, memory_order_relaxed) + 1;
  if (__builtin_expect(n != atomic_load_explicit(&target[site], memory_order_relaxed), 1))
    return false;
  atomic_fetch_add(&injected[site], 1);
  if (trace)
    print_trace(site, n);
  return true;
}

void aw__fault_sqe(struct io_uring_sqe *sqe) {
  enum aw__fault_site site;
  switch (sqe->opcode) {
  case IORING_OP_OPENAT:
  case IORING_OP_OPENAT2:
    site = AW__FAULT_OPEN;
    break;
  case IORING_OP_ACCEPT:
    site = AW__FAULT_ACCEPT;
    break;
  default:
    return;
  }
  if (!aw__fault_hit(site))
    return;
  /* The kernel completes a NOP with this result and no IORING_CQE_F_MORE: what a
   * (multishot) accept or an openat that met the descriptor limit gives back. */
  uint8_t keep = sqe->flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK);
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = IORING_OP_NOP;
  sqe->flags = keep;
  sqe->rw_flags = IORING_NOP_INJECT_RESULT;
  sqe->len = (uint32_t)-EMFILE;
}

void aw__fault_arm(enum aw__fault_site site, uint64_t n) {
  pthread_once(&env_once, read_env);
  atomic_store(&target[site], n);
  atomic_store(&hits[site], 0);
  atomic_store(&injected[site], 0);
}

uint64_t aw__fault_count(enum aw__fault_site site) { return atomic_load(&hits[site]); }
uint64_t aw__fault_injected(enum aw__fault_site site) { return atomic_load(&injected[site]); }

bool aw__fault_inject_works(void) {
  struct io_uring ring;
  if (io_uring_queue_init(2, &ring, 0) < 0)
    return false;
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  io_uring_prep_nop(sqe);
  sqe->rw_flags = IORING_NOP_INJECT_RESULT;
  sqe->len = (uint32_t)-EMFILE;
  struct io_uring_cqe *cqe;
  bool ok = io_uring_submit_and_wait(&ring, 1) == 1 && io_uring_peek_cqe(&ring, &cqe) == 0 &&
            cqe->res == -EMFILE;
  io_uring_queue_exit(&ring);
  return ok;
}
