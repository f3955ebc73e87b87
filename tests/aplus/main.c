/*
 * tests/aplus/main.c — expands the group tables of the Promises/A+ port into
 * cmocka tests, one per row of (dimension × dimension × ... × mode), in the
 * original's order, each with its descriptor as prestate.
 *
 * Environment:
 *   APLUS_FILTER=pattern   run only the cases whose name matches (cmocka's
 *                          wildcards: * and ?), e.g. APLUS_FILTER='2.3.3.3.1*'
 *   APLUS_LIST=1           print the case names and exit
 */
#include "aplus.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *const setting_names[][3] = {
    [M_ONCE] = {NULL, NULL, NULL},
    [M_FULFILLED] = {"already-fulfilled", "immediately-fulfilled", "eventually-fulfilled"},
    [M_REJECTED] = {"already-rejected", "immediately-rejected", "eventually-rejected"},
    [M_VIA] = {"via return from a fulfilled promise", "via return from a rejected promise", NULL},
};

static int settings_of(enum mode m) { return m == M_ONCE ? 1 : m == M_VIA ? 2 : 3; }

static int ndims(const group *g) {
  int n = 0;
  while (n < 3 && g->dims[n])
    n++;
  return n;
}

static size_t rows_of(const group *g) {
  size_t n = (size_t)settings_of(g->mode);
  for (int d = 0; d < ndims(g); d++)
    n *= (size_t)g->dims[d]->n;
  return n;
}

static char *case_name(const group *g, const int ix[3], int setting, bool *is_c) {
  size_t cap = strlen(g->title) + 64;
  int nd = ndims(g);
  for (int d = 0; d < nd; d++)
    cap += strlen(g->dims[d]->names[ix[d]]) + 4;
  char *s = malloc(cap);
  if (!s)
    abort();
  size_t len = (size_t)snprintf(s, cap, "%s", g->title);
  *is_c = strncmp(g->title, "[C]", 3) == 0;
  for (int d = 0; d < nd; d++) {
    const char *dn = g->dims[d]->names[ix[d]];
    if (strncmp(dn, "[C]", 3) == 0)
      *is_c = true;
    len += (size_t)snprintf(s + len, cap - len, " | %s", dn);
  }
  if (setting_names[g->mode][setting])
    snprintf(s + len, cap - len, " | %s", setting_names[g->mode][setting]);
  return s;
}

int main(void) {
  const group_table *tables[] = {&aplus_2_1_groups, &aplus_2_2_groups, &aplus_2_3_groups};
  size_t n = 0;
  for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
    for (size_t i = 0; i < tables[t]->n; i++)
      n += rows_of(&tables[t]->groups[i]);

  acase *cases = calloc(n, sizeof *cases);
  struct CMUnitTest *tests = calloc(n, sizeof *tests);
  if (!cases || !tests)
    abort();

  size_t k = 0, n_c = 0;
  for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
    for (size_t i = 0; i < tables[t]->n; i++) {
      const group *g = &tables[t]->groups[i];
      int nd = ndims(g), ns = settings_of(g->mode);
      int ix[3] = {0, 0, 0};
      for (;;) {
        for (int s = 0; s < ns; s++) {
          bool is_c;
          acase *a = &cases[k];
          a->g = g;
          memcpy(a->ix, ix, sizeof a->ix);
          a->setting = s;
          a->name = case_name(g, ix, s, &is_c);
          n_c += is_c;
          tests[k] = (struct CMUnitTest){a->name, aplus_run_case, NULL, NULL, a};
          k++;
        }
        /* the next combination, the last dimension fastest */
        int d = nd - 1;
        while (d >= 0 && ++ix[d] == g->dims[d]->n)
          ix[d--] = 0;
        if (d < 0)
          break;
      }
    }
  }

  printf("[aplus] %zu cases: %zu straight ports of promises-tests cases, %zu with a C-specific "
         "row ([C])\n",
         n, n - n_c, n_c);
  fflush(stdout);

  int rc = 0;
  if (getenv("APLUS_LIST")) {
    for (size_t i = 0; i < n; i++)
      printf("%s\n", cases[i].name);
  } else {
    const char *filter = getenv("APLUS_FILTER");
    if (filter && *filter)
      cmocka_set_test_filter(filter);
    rc = _cmocka_run_group_tests("aplus", tests, n, NULL, NULL);
  }

  for (size_t i = 0; i < n; i++)
    free(cases[i].name);
  free(cases);
  free(tests);
  return rc;
}
