/*
 * tests/workers/test_dns.c — aw_dns_lookup: getaddrinfo on the blocking class
 * (aw/work.h).
 *
 *  - "localhost" resolves with an array of address strings holding
 *    "127.0.0.1" or "::1"; with AF_INET, exactly IPv4 addresses and
 *    "127.0.0.1" among them.
 *  - "nonexistent.invalid" (RFC 6761: never resolves) rejects with
 *    "getaddrinfo ENOTFOUND nonexistent.invalid", as Node says it; a machine
 *    without a working resolver may answer EAI_AGAIN ("getaddrinfo
 *    EAI_AGAIN ..."), which is accepted: the promise must reject, never hang.
 *    glibc does not special-case .invalid: it asks /etc/hosts, then the
 *    configured resolver (here NXDOMAIN at once); with no resolver reachable
 *    the answer comes after resolv.conf's timeout, well inside the test's.
 *  - Bad arguments reject with a TypeError; a signal aborted before the call
 *    rejects with its reason; many lookups at once all come back.
 *  - The lookup's request is the job's arg (freed by the pool): no leak.
 */
#include "workers.h"

#include <sys/socket.h>

static aw_loop *dns_loop(aw_pool **pool) {
  *pool = wk_pool(1, 4);
  return wk_loop(*pool);
}

/* True if the array v holds the string s. */
static bool array_has(aw_val v, const char *s) {
  if (!aw_is_array(v))
    return false;
  aw_array *a = (aw_array *)v.u.o;
  for (uint32_t i = 0; i < a->len; i++) {
    const char *x = aw_cstr(aw_array_get(a, i));
    if (x && strcmp(x, s) == 0)
      return true;
  }
  return false;
}

static void test_localhost_resolves_to_loopback(void **state) {
  (void)state;
  aw_pool *P;
  aw_loop *L = dns_loop(&P);
  outcome any = {0}, v4 = {0};
  track(aw_dns_lookup(L, "localhost", 0, NULL), &any);
  track(aw_dns_lookup(L, "localhost", AF_INET, NULL), &v4);
  run_ok(L);
  assert_int_equal(any.settled, 1);
  if (any.rejected)
    fail_msg("localhost: %s", err_msg(any.v));
  assert_true(aw_is_array(any.v));
  assert_true(((aw_array *)any.v.u.o)->len >= 1);
  assert_true(array_has(any.v, "127.0.0.1") || array_has(any.v, "::1"));
  assert_int_equal(v4.settled, 1);
  if (v4.rejected)
    fail_msg("localhost (AF_INET): %s", err_msg(v4.v));
  assert_true(array_has(v4.v, "127.0.0.1"));
  aw_array *a = (aw_array *)v4.v.u.o;
  for (uint32_t i = 0; i < a->len; i++)
    assert_null(strchr(aw_cstr(aw_array_get(a, i)), ':')); /* no IPv6 address */
  outcome_clear(&any);
  outcome_clear(&v4);
  wk_finish(L);
  aw_pool_free(P);
}

static void test_invalid_name_rejects_enotfound(void **state) {
  (void)state;
  aw_pool *P;
  aw_loop *L = dns_loop(&P);
  outcome o = {0};
  track(aw_dns_lookup(L, "nonexistent.invalid", 0, NULL), &o);
  run_ok(L);
  assert_int_equal(o.settled, 1);
  assert_true(o.rejected);
  assert_string_equal(err_name(o.v), "Error");
  const char *m = err_msg(o.v);
  if (strcmp(m, "getaddrinfo ENOTFOUND nonexistent.invalid") != 0 &&
      strcmp(m, "getaddrinfo EAI_AGAIN nonexistent.invalid") != 0)
    fail_msg("unexpected message: %s", m);
  outcome_clear(&o);
  wk_finish(L);
  aw_pool_free(P);
}

static void test_dns_bad_arguments_and_aborted_signal(void **state) {
  (void)state;
  aw_pool *P;
  aw_loop *L = dns_loop(&P);
  outcome empty = {0}, nul = {0}, fam = {0}, ab = {0};
  track(aw_dns_lookup(L, "", 0, NULL), &empty);
  track(aw_dns_lookup(L, NULL, 0, NULL), &nul);
  track(aw_dns_lookup(L, "localhost", 12345, NULL), &fam);
  aw_signal *s = aw_signal_new(L);
  aw_signal_abort(s, aw_undefined());
  aw_work_opts o = {.signal = s};
  track(aw_dns_lookup(L, "localhost", 0, &o), &ab);
  aw_release(s);
  assert_null(aw_dns_lookup(NULL, "localhost", 0, NULL));
  run_ok(L);
  const char *msg = "aw_dns_lookup: a host name and AF_INET, AF_INET6 or 0";
  assert_rejected(&empty, "TypeError", msg);
  assert_rejected(&nul, "TypeError", msg);
  assert_rejected(&fam, "TypeError", msg);
  assert_rejected(&ab, "AbortError", "This operation was aborted");
  assert_int_equal(wk_pool_stats(P).jobs_run, 0);
  outcome_clear(&empty);
  outcome_clear(&nul);
  outcome_clear(&fam);
  outcome_clear(&ab);
  wk_finish(L);
  aw_pool_free(P);
}

static void test_many_lookups_at_once(void **state) {
  (void)state;
  aw_pool *P;
  aw_loop *L = dns_loop(&P);
  enum { N = 64 };
  outcome o[N];
  memset(o, 0, sizeof o);
  for (int i = 0; i < N; i++)
    track(aw_dns_lookup(L, i % 4 == 3 ? "nonexistent.invalid" : "localhost", 0, NULL), &o[i]);
  run_ok(L);
  for (int i = 0; i < N; i++) {
    assert_int_equal(o[i].settled, 1);
    assert_int_equal(o[i].rejected, i % 4 == 3);
    if (!o[i].rejected)
      assert_true(array_has(o[i].v, "127.0.0.1") || array_has(o[i].v, "::1"));
    outcome_clear(&o[i]);
  }
  assert_int_equal(wk_pool_stats(P).jobs_run, N);
  wk_finish(L);
  aw_pool_free(P);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      WK_TEST(test_localhost_resolves_to_loopback),
      WK_TEST(test_invalid_name_rejects_enotfound),
      WK_TEST(test_dns_bad_arguments_and_aborted_signal),
      WK_TEST(test_many_lookups_at_once),
  };
  return cmocka_run_group_tests_name("workers: dns", tests, NULL, NULL);
}
