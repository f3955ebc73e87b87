/*
 * tests/fault/test_fault.c — regression tests for what the fault walk found,
 * each arming one fault by hand (executor/fault.h) at the exact moment that
 * matters, so that it runs in a second. Built with -Dfault_injection=true only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aw.h"
#include "executor/fault.h"

static aw_val h_ignore(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v, (void)arg;
  return aw_undefined();
}

static void nothing(aw_loop *L, void *arg) { (void)L, (void)arg; }

/* Aborts the signal arg with no SQE to be had: its op's cancel has to wait. */
static aw_val abort_without_sqe(aw_loop *L, aw_val v, void *arg) {
  (void)L, (void)v;
  aw__fault_arm(AW__FAULT_SQE, 1);
  aw_signal_abort(arg, aw_err("AbortError", "stop"));
  aw__fault_arm(AW__FAULT_SQE, 0);
  return aw_undefined();
}

/*
 * Two NOPs complete in one batch. The first one's handler aborts the second
 * while no SQE is free, so its cancel is put off; then the second's own CQE
 * ends it. Before the fix its memory stayed on the list of cancels to send,
 * and the next turn read it after it was freed (fault-driver io sqe:42).
 */
static void test_an_op_that_completes_before_its_put_off_cancel_leaves_the_list(void **state) {
  (void)state;
  aw_loop *L = aw_loop_new(NULL, NULL);
  if (!L)
    skip();
  aw_signal *s = aw_signal_new(L);
  aw_promise *a = aw_io_nop(L, NULL);
  aw_promise *b = aw_io_nop(L, &(aw_io_opts){.signal = s});
  aw_release(aw_promise_then(a, abort_without_sqe, NULL, s));
  aw_release(aw_promise_catch(b, h_ignore, NULL));
  aw_set_timeout(L, 1, nothing, NULL); /* one more turn: the one that sends due cancels */
  assert_int_equal(aw_loop_run(L), 0);
  assert_int_equal(aw_promise_state(a), AW_FULFILLED);
  assert_int_not_equal(aw_promise_state(b), AW_PENDING);
  aw_release(a);
  aw_release(b);
  aw_release(s);
  assert_int_equal(aw_loop_free(L), 0);
  assert_int_equal(aw_objects_alive(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_an_op_that_completes_before_its_put_off_cancel_leaves_the_list),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
