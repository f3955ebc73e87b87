/*
 * tests/fault/programs.h — the programs the fault driver walks.
 *
 * Each one makes its own loop (and pool), does a little of everything in its
 * area, frees what it made and returns 0 if its promises behaved: every
 * promise it made settled, or the loop reported why not (aw_loop_new or a
 * call returned NULL/an error, or aw_loop_run an error). It never asserts
 * inside a callback: callbacks record, the program checks once the loop has
 * returned. A failure prints one line saying what was wrong.
 */
#ifndef FAULT_PROGRAMS_H
#define FAULT_PROGRAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "aw.h"

int prog_promise(void);
int prog_io(void);
int prog_pool(void);

/* ---- shared by the programs (driver.c) ---- */

/* Where the program tracks its promises: every one is checked settled after the run. */
#define TRACK_MAX 64
typedef struct tracker {
  aw_promise *p[TRACK_MAX];
  size_t n;
  int made_null; /* calls that returned NULL (a failure reported by the call) */
} tracker;

/* Keeps p (may be NULL: counted as a reported failure); returns p, borrowed. */
aw_promise *track(tracker *t, aw_promise *p);
/* After aw_loop_run returned r: 0 if every tracked promise settled (or r reports why not). */
int track_check(tracker *t, const char *prog, int r);
/* Releases the tracked promises. */
void track_release(tracker *t);
/* A new loop (a ring of ring_entries SQEs, 0: the default), or NULL after releasing the
 * error aw_loop_new reported. */
aw_loop *prog_loop(unsigned ring_entries);
/* A handler that ignores its value (marks a rejection handled). */
aw_val h_ignore(aw_loop *L, aw_val v, void *arg);

#endif
