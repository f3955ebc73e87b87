/*
 * executor/fault.h — fault injection for tests (meson -Dfault_injection=true).
 *
 * Each place where the library can meet a failure of the system under it is a
 * hit of one site kind. Every hit is counted; a test arms a site with N and
 * the Nth hit from then on fails, once, the way SQLite's and libuv's test
 * builds do it. A driver runs a program once to count the hits, then once per
 * N with that hit failing (tests/fault/). Off (the default), every hook is the
 * constant false and compiles away.
 *
 * Sites:
 *   alloc   every allocation: aw__alloc/calloc/realloc, the pools' chunks, and
 *           the workers' own malloc calls; fails as the allocator returning NULL
 *   sqe     getting an SQE from the ring (sqe_get): fails as a full SQ the
 *           kernel would not take
 *   enter   io_uring_enter (submit, submit-and-wait, get-events): fails with
 *           -EAGAIN, nothing submitted, nothing waited for
 *   thread  pthread_create in the worker pool: fails with EAGAIN
 *   open    an openat SQE, a socket(2) or opendir: the kernel's answer becomes
 *           -EMFILE (an SQE is turned into a NOP that injects the result,
 *           which needs Linux 6.11: see aw__fault_inject_works)
 *   accept  an accept SQE: its completion is -EMFILE, as for open
 *
 * Control: aw__fault_arm(site, n) from the program, or AW_FAULT=site:n[,site:n]
 * in the environment (read at the first hit). AW_FAULT_TRACE=1 prints where
 * a fault is injected (offsets for addr2line), =2 also a symbolized stack in
 * sanitizer builds; AW_FAULT_REPORT=1 prints every site's count at exit.
 */
#ifndef AW_EXECUTOR_FAULT_H
#define AW_EXECUTOR_FAULT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

enum aw__fault_site {
  AW__FAULT_ALLOC,
  AW__FAULT_SQE,
  AW__FAULT_ENTER,
  AW__FAULT_THREAD,
  AW__FAULT_OPEN,
  AW__FAULT_ACCEPT,
  AW__FAULT_NSITES
};

#if AW_FAULT_INJECTION
/* Counts a hit of site; true if this one is to fail. */
bool aw__fault_hit(enum aw__fault_site site);
/* The same for an SQE just prepared: turns an openat/accept into a NOP completing -EMFILE. */
struct io_uring_sqe;
void aw__fault_sqe(struct io_uring_sqe *sqe);

/* The Nth hit of site from now fails (0: none); resets that site's counter. */
void aw__fault_arm(enum aw__fault_site site, uint64_t n);
/* Hits of site since the last arm (or the start); faults injected at it. */
uint64_t aw__fault_count(enum aw__fault_site site);
uint64_t aw__fault_injected(enum aw__fault_site site);
/* The site's name ("alloc", ...), or NULL past the last; and back. */
const char *aw__fault_name(enum aw__fault_site site);
int aw__fault_site_of(const char *name);
/* 1: print each injection's call chain (offsets for addr2line); 2: also a full stack. */
void aw__fault_set_trace(int level);
/* Whether this kernel's NOP can inject a result (the open and accept sites need it). */
bool aw__fault_inject_works(void);

#define AW__FAULT(site) __builtin_expect(aw__fault_hit(AW__FAULT_##site), 0)
#define AW__FAULT_SQE_HOOK(sqe) aw__fault_sqe(sqe)
#else
#define AW__FAULT(site) false
#define AW__FAULT_SQE_HOOK(sqe) ((void)0)
#endif

/* call, or err in its place when the site fails: `r = AW__FAULT_OR(ENTER, -EAGAIN, submit(R))` */
#define AW__FAULT_OR(site, err, call) (AW__FAULT(site) ? (err) : (call))
/* io_uring_enter: fails as a kernel that took nothing for now */
#define AW__FAULT_ENTER(call) AW__FAULT_OR(ENTER, -EAGAIN, call)
/* a descriptor-making call (-1 and errno) that fails with EMFILE when the open site does */
#define AW__FAULT_FD(call) AW__FAULT_OR(OPEN, (errno = EMFILE, -1), call)

#endif
