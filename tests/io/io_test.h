/*
 * tests/io/io_test.h — shared by the io suites.
 *
 * io_test_loop() makes a loop with an io_uring, or exits 77 (meson's "skipped")
 * printing why the machine cannot give one. io_test_run() runs an async main
 * function to completion and returns its outcome; io_test_done() frees the loop
 * and asserts nothing is left alive.
 */
#ifndef IO_TEST_H
#define IO_TEST_H

#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "aw.h"

/* A loop with a ring of `entries` SQEs (0: the default), or exit 77 with the reason. */
aw_loop *io_test_loop(unsigned entries);
/* The same with a whole configuration. */
aw_loop *io_test_loop_cfg(const aw_loop_config *cfg);
/*
 * The loop io_test_loop*() made last, until io_test_done() or io_test_forget() (a test that
 * frees it itself): io_test_free_leftover, a cmocka teardown, frees it if a failed assertion
 * left it behind.
 */
void io_test_forget(aw_loop *L);
int io_test_free_leftover(void **state);
/* Runs the loop until idle; asserts aw_loop_run returned 0. */
void io_test_run(aw_loop *L);
/* Frees L; asserts no object is left alive and no promise or frame was. */
void io_test_done(aw_loop *L);
/* The value a settled promise holds (asserting it settled), and releases p. */
aw_val io_test_take(aw_promise *p);
/* A then-handler that ignores its value (to mark a rejection handled). */
aw_val io_test_ignore(aw_loop *L, aw_val v, void *arg);
/*
 * Runs L until p settles and returns its outcome (a reference, thrown if it rejected); p is
 * consumed. Fails the test if the loop goes idle with p still pending.
 */
aw_val io_test_wait(aw_loop *L, aw_promise *p);
/* One turn without sleeping: gives the kernel what is queued, collects what is ready. */
void io_test_turn(aw_loop *L);
/* A fresh empty directory under $TMPDIR (or /tmp) for one test; removed by io_test_rmrf. */
const char *io_test_dir(void);
void io_test_rmrf(const char *path);

#endif
