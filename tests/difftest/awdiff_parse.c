/*
 * tests/difftest/awdiff_parse.c — reads a batch of difftest programs (IR.md)
 * into the flat form of awdiff.h. Every malformation is an error with its
 * line number; nothing in the input can make the parser crash or loop.
 */
#include "awdiff.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dt_ins *aw_dt_ins;
dt_ex *aw_dt_ex;
dt_block *aw_dt_blocks;
char *aw_dt_chars;
dt_program *aw_dt_programs;
size_t aw_dt_nprograms;

static size_t nins, cins, nex, cex, nblk, cblk, nchr, cchr, cprog;

#define DT_MAX_BLOCKS 65536u
#define DT_MAX_WRAP 10000u /* res/rej wrappers around one leaf */
#define DT_MAX_TRY 1000u   /* try nesting in one block */

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return p;
  size_t n = *cap ? *cap : 64;
  while (n < need)
    n *= 2;
  void *q = realloc(p, n * elem);
  if (!q) {
    fprintf(stderr, "awdiff: out of memory\n");
    exit(2);
  }
  *cap = n;
  return q;
}

/* ---- the line being parsed ---------------------------------------------------------- */

typedef struct tok {
  const char *s;
  uint32_t len;
} tok;

static tok *toks;
static size_t ntok, ctok, itok;
static unsigned long lineno;
static char errbuf[256];
static bool failed;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  if (failed)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  failed = true;
}

static bool tok_is(const tok *t, const char *w) {
  size_t n = strlen(w);
  return t->len == n && memcmp(t->s, w, n) == 0;
}

static const tok *next(const char *what) {
  if (itok >= ntok) {
    fail("missing %s", what);
    return NULL;
  }
  return &toks[itok++];
}

static bool word_ok(const tok *t, bool dash) {
  if (t->len == 0)
    return false;
  for (uint32_t i = 0; i < t->len; i++) {
    char c = t->s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          (dash && c == '-')))
      return false;
  }
  return true;
}

static uint32_t add_chars(const tok *t) {
  aw_dt_chars = grow(aw_dt_chars, &cchr, nchr + t->len + 1, 1);
  uint32_t off = (uint32_t)nchr;
  memcpy(aw_dt_chars + nchr, t->s, t->len);
  aw_dt_chars[nchr + t->len] = 0;
  nchr += t->len + 1;
  return off;
}

static bool num_of(const tok *t, int64_t *out) {
  char buf[32];
  if (t->len == 0 || t->len >= sizeof buf)
    return false;
  memcpy(buf, t->s, t->len);
  buf[t->len] = 0;
  const char *p = buf[0] == '-' ? buf + 1 : buf;
  if (!*p)
    return false;
  for (; *p; p++)
    if (*p < '0' || *p > '9')
      return false;
  errno = 0;
  long long v = strtoll(buf, NULL, 10);
  if (errno)
    return false;
  *out = v;
  return true;
}

static int64_t number(const char *what) {
  const tok *t = next(what);
  int64_t v = 0;
  if (t && !num_of(t, &v))
    fail("bad number '%.*s' for %s", (int)t->len, t->s, what);
  return v;
}

static uint32_t bounded(const char *what, int64_t max) {
  const tok *t = next(what);
  int64_t v = 0;
  if (!t)
    return 0;
  if (!num_of(t, &v) || v < 0 || v >= max) {
    fail("bad %s '%.*s' (0..%lld)", what, (int)t->len, t->s, (long long)max - 1);
    return 0;
  }
  return (uint32_t)v;
}

static uint32_t label(void) {
  const tok *t = next("label");
  if (!t)
    return 0;
  if (!word_ok(t, false)) {
    fail("bad label '%.*s'", (int)t->len, t->s);
    return 0;
  }
  return add_chars(t);
}

/* ---- block references, checked when the program ends ---------------------------------- */

typedef struct bref {
  uint32_t id;
  bool need_sync;
  unsigned long line;
} bref;
static bref *refs;
static size_t nref, cref;
static bref *spawn_refs; /* spawn's task blocks, which must be async */
static size_t nspawn, cspawn;

static uint32_t block_ref(bool allow_none, bool need_sync) {
  const tok *t = next("block id");
  if (!t)
    return 0;
  if (allow_none && tok_is(t, "-"))
    return DT_NONE;
  int64_t v;
  if (!num_of(t, &v) || v < 0 || v >= (int64_t)DT_MAX_BLOCKS) {
    fail("bad block id '%.*s'", (int)t->len, t->s);
    return 0;
  }
  refs = grow(refs, &cref, nref + 1, sizeof *refs);
  refs[nref++] = (bref){(uint32_t)v, need_sync, lineno};
  return (uint32_t)v;
}

/* ---- expressions ---------------------------------------------------------------------- */

static dt_program *prog; /* the program being parsed */

static dt_ex *ex_push(uint8_t op) {
  aw_dt_ex = grow(aw_dt_ex, &cex, nex + 1, sizeof *aw_dt_ex);
  dt_ex *e = &aw_dt_ex[nex++];
  *e = (dt_ex){.op = op};
  return e;
}

/* Appends one expression (its wrappers, then its leaf); returns the index of its first node. */
static uint32_t expr(void) {
  uint32_t first = (uint32_t)nex;
  for (unsigned wraps = 0; !failed; wraps++) {
    const tok *t = next("expression");
    if (!t)
      break;
    if (wraps > DT_MAX_WRAP) {
      fail("expression nested too deep");
      break;
    }
    if (tok_is(t, "res") || tok_is(t, "rej")) {
      ex_push(tok_is(t, "res") ? E_RES : E_REJ);
      continue;
    }
    if (tok_is(t, "i")) {
      int64_t v = number("integer");
      ex_push(E_INT)->num = v;
    } else if (tok_is(t, "s") || tok_is(t, "e")) {
      bool str = tok_is(t, "s");
      const tok *w = next("word");
      if (!w)
        break;
      if (!word_ok(w, false)) {
        fail("bad word '%.*s'", (int)w->len, w->s);
        break;
      }
      uint32_t off = add_chars(w);
      dt_ex *e = ex_push(str ? E_STR : E_ERR);
      e->a = off;
      if (str)
        e->num = prog->nstr++;
    } else if (tok_is(t, "d")) {
      /* d M E: the double nearest to M * 10^E (strtod of "MeE", as JS's Number("MeE")) */
      const tok *m = next("mantissa"), *x = m ? next("exponent") : NULL;
      int64_t mi, xi;
      if (!x)
        break;
      if (!num_of(m, &mi) || !num_of(x, &xi) || m->len > 20 || x->len > 5) {
        fail("bad double '%.*s %.*s'", (int)m->len, m->s, (int)x->len, x->s);
        break;
      }
      char buf[32];
      snprintf(buf, sizeof buf, "%.*se%.*s", (int)m->len, m->s, (int)x->len, x->s);
      double d = strtod(buf, NULL);
      dt_ex *e = ex_push(E_DBL);
      memcpy(&e->num, &d, sizeof d);
    } else if (tok_is(t, "u")) {
      ex_push(E_UNDEF);
    } else if (tok_is(t, "arg")) {
      ex_push(E_ARG);
    } else if (tok_is(t, "acc")) {
      ex_push(E_ACC);
    } else if (tok_is(t, "n")) {
      ex_push(E_N);
    } else if (tok_is(t, "v")) {
      uint32_t k = bounded("slot", DT_NV);
      ex_push(E_V)->a = k;
    } else if (tok_is(t, "th")) {
      uint32_t b = block_ref(false, true);
      ex_push(E_TH)->a = b;
    } else if (tok_is(t, "call")) {
      uint32_t b = block_ref(false, false);
      int64_t n = number("call argument");
      dt_ex *e = ex_push(E_CALL);
      e->a = b;
      e->num = n;
    } else if (tok_is(t, "rec")) {
      uint32_t b = block_ref(false, false);
      ex_push(E_REC)->a = b;
    } else {
      fail("unknown expression '%.*s'", (int)t->len, t->s);
    }
    break;
  }
  return first;
}

/* ---- statements ------------------------------------------------------------------------- */

typedef struct tryopen {
  uint32_t tpc;
  int section; /* 0 body, 1 catch, 2 finally */
} tryopen;
static tryopen *trys;
static size_t ntry, ctry;

static dt_block cur; /* the block being parsed */
static bool in_block;

static dt_ins *ins_push(uint8_t op) {
  aw_dt_ins = grow(aw_dt_ins, &cins, nins + 1, sizeof *aw_dt_ins);
  dt_ins *I = &aw_dt_ins[nins++];
  *I = (dt_ins){.op = op, .b = DT_NONE, .c = DT_NONE, .d = DT_NONE};
  cur.len++;
  return I;
}

static uint32_t pc_now(void) { return (uint32_t)(nins - cur.start); }

static void try_section(int section) {
  if (ntry == 0) {
    fail(section == 3 ? "endtry without try" : "%s without try",
         section == 1 ? "catch" : "finally");
    return;
  }
  tryopen *o = &trys[ntry - 1];
  if ((section == 1 && o->section != 0) || (section == 2 && o->section == 2) ||
      (section == 3 && o->section == 0)) {
    fail(section == 3 ? "endtry needs a catch or a finally section" : "misplaced %s",
         section == 1 ? "catch" : "finally");
    return;
  }
  ins_push(S_ENDSEC);
  dt_ins *t = &aw_dt_ins[cur.start + o->tpc];
  if (section == 1)
    t->b = pc_now();
  else if (section == 2)
    t->c = pc_now();
  else
    t->d = pc_now();
  o->section = section;
  if (section == 3)
    ntry--;
}

static const struct {
  const char *name;
  uint8_t op;
} comb[] = {{"all", S_ALL}, {"allset", S_ALLSET}, {"race", S_RACE}, {"any", S_ANY}};

static void statement(void) {
  const tok *t = next("statement");
  if (tok_is(t, "log")) {
    ins_push(S_LOG)->label = label();
  } else if (tok_is(t, "logv")) {
    dt_ins *I = ins_push(S_LOGV);
    I->label = label();
    I->ex = expr();
  } else if (tok_is(t, "logp")) {
    ins_push(S_LOGP)->label = label();
  } else if (tok_is(t, "set") || tok_is(t, "resolve") || tok_is(t, "reject")) {
    dt_ins *I = ins_push(tok_is(t, "set") ? S_SET : tok_is(t, "resolve") ? S_RESOLVE : S_REJECT);
    I->k = (uint8_t)bounded("slot", DT_NV);
    I->ex = expr();
  } else if (tok_is(t, "newp")) {
    dt_ins *I = ins_push(S_NEWP);
    I->k = (uint8_t)bounded("slot", DT_NV);
    I->b = block_ref(false, true);
  } else if (tok_is(t, "ptry")) {
    dt_ins *I = ins_push(S_PTRY);
    I->k = (uint8_t)bounded("slot", DT_NV);
    I->b = block_ref(false, false);
  } else if (tok_is(t, "state")) {
    dt_ins *I = ins_push(S_STATE);
    I->label = label();
    I->b = bounded("slot", DT_NV);
  } else if (tok_is(t, "unref") || tok_is(t, "ref")) {
    ins_push(tok_is(t, "unref") ? S_UNREF : S_REF)->k = (uint8_t)bounded("timer slot", DT_NT);
  } else if (tok_is(t, "spawn")) {
    dt_ins *I = ins_push(S_SPAWN);
    I->b = block_ref(false, false);
    I->c = block_ref(true, true);
    spawn_refs = grow(spawn_refs, &cspawn, nspawn + 1, sizeof *spawn_refs);
    spawn_refs[nspawn++] = (bref){I->b, false, lineno};
  } else if (tok_is(t, "sig") || tok_is(t, "sigto")) {
    bool to = tok_is(t, "sigto");
    dt_ins *I = ins_push(to ? S_SIGTO : S_SIG);
    I->k = (uint8_t)bounded("signal slot", DT_NT);
    if (to && (I->num = number("delay")) < 0)
      fail("negative delay");
  } else if (tok_is(t, "sigany")) {
    dt_ins *I = ins_push(S_SIGANY);
    I->k = (uint8_t)bounded("signal slot", DT_NT);
    I->b = bounded("count", DT_NT + 1);
    I->ex = (uint32_t)nex;
    for (uint32_t j = 0; j < I->b && !failed; j++) {
      uint32_t src = bounded("signal slot", DT_NT);
      ex_push(E_INT)->num = src;
    }
  } else if (tok_is(t, "abort")) {
    dt_ins *I = ins_push(S_ABORT);
    I->k = (uint8_t)bounded("signal slot", DT_NT);
    I->ex = expr();
  } else if (tok_is(t, "sigstate")) {
    dt_ins *I = ins_push(S_SIGSTATE);
    I->label = label();
    I->k = (uint8_t)bounded("signal slot", DT_NT);
  } else if (tok_is(t, "delay")) {
    dt_ins *I = ins_push(S_DELAY);
    I->k = (uint8_t)bounded("slot", DT_NV);
    if ((I->num = number("delay")) < 0)
      fail("negative delay");
    const tok *w = next("signal slot or -");
    if (w && tok_is(w, "-"))
      I->c = DT_NONE;
    else if (w)
      itok--, I->c = bounded("signal slot", DT_NT);
  } else if (tok_is(t, "rejmode")) {
    const tok *m = next("rejection mode");
    static const char *const modes[] = {"throw", "warn", "none"};
    uint8_t i = 0;
    while (m && i < 3 && !tok_is(m, modes[i]))
      i++;
    if (m && i == 3)
      fail("bad rejection mode '%.*s'", (int)m->len, m->s);
    ins_push(S_REJMODE)->k = i;
  } else if (tok_is(t, "withres") || tok_is(t, "tsave")) {
    dt_ins *I = ins_push(tok_is(t, "withres") ? S_WITHRES : S_TSAVE);
    I->k = (uint8_t)bounded("slot", DT_NV);
  } else if (tok_is(t, "tres") || tok_is(t, "trej")) {
    ins_push(tok_is(t, "tres") ? S_TRES : S_TREJ)->ex = expr();
  } else if (tok_is(t, "then")) {
    dt_ins *I = ins_push(S_THEN);
    I->k = (uint8_t)bounded("slot", DT_NV);
    I->b = bounded("slot", DT_NV);
    I->c = block_ref(true, false);
    I->d = block_ref(true, false);
  } else if (tok_is(t, "catch") && ntok == 1) {
    try_section(1);
  } else if (tok_is(t, "finally") && ntok == 1) {
    try_section(2);
  } else if (tok_is(t, "endtry")) {
    try_section(3);
  } else if (tok_is(t, "catch")) {
    dt_ins *I = ins_push(S_CATCH);
    I->k = (uint8_t)bounded("slot", DT_NV);
    I->b = bounded("slot", DT_NV);
    I->d = block_ref(true, false);
  } else if (tok_is(t, "finally")) {
    dt_ins *I = ins_push(S_FINALLY);
    I->k = (uint8_t)bounded("slot", DT_NV);
    I->b = bounded("slot", DT_NV);
    I->c = block_ref(true, false);
  } else if (tok_is(t, "micro") || tok_is(t, "tick")) {
    ins_push(tok_is(t, "micro") ? S_MICRO : S_TICK)->b = block_ref(false, false);
  } else if (tok_is(t, "imm")) {
    dt_ins *I = ins_push(S_IMM);
    I->k = (uint8_t)bounded("immediate slot", DT_NT);
    I->b = block_ref(false, false);
  } else if (tok_is(t, "timeout") || tok_is(t, "interval")) {
    dt_ins *I = ins_push(tok_is(t, "timeout") ? S_TIMEOUT : S_INTERVAL);
    I->k = (uint8_t)bounded("timer slot", DT_NT);
    I->num = number("delay"); /* the library clamps as Node does (below 1 or above 2^31-1: 1) */
    if (I->num < 0)
      fail("negative delay");
    I->b = block_ref(false, false);
  } else if (tok_is(t, "cleart") || tok_is(t, "cleari")) {
    bool tm = tok_is(t, "cleart");
    ins_push(tm ? S_CLEART : S_CLEARI)->k =
        (uint8_t)bounded(tm ? "timer slot" : "immediate slot", DT_NT);
  } else if (tok_is(t, "countclear")) {
    dt_ins *I = ins_push(S_COUNTCLEAR);
    I->k = (uint8_t)bounded("counter slot", DT_NT);
    I->num = number("count");
    I->c = bounded("timer slot", DT_NT);
  } else if (tok_is(t, "await") || tok_is(t, "retawait")) {
    if (!cur.async)
      fail("%.*s in a sync block", (int)t->len, t->s);
    ins_push(tok_is(t, "await") ? S_AWAIT : S_RETAWAIT)->ex = expr();
  } else if (tok_is(t, "return") || tok_is(t, "throw")) {
    ins_push(tok_is(t, "return") ? S_RETURN : S_THROW)->ex = expr();
  } else if (tok_is(t, "try")) {
    trys = grow(trys, &ctry, ntry + 1, sizeof *trys);
    trys[ntry++] = (tryopen){pc_now(), 0};
    ins_push(S_TRY);
    if (ntry > DT_MAX_TRY)
      fail("try nested too deep");
    if (ntry > cur.maxdepth)
      cur.maxdepth = (uint32_t)ntry;
  } else {
    size_t i;
    for (i = 0; i < sizeof comb / sizeof comb[0]; i++)
      if (tok_is(t, comb[i].name))
        break;
    if (i == sizeof comb / sizeof comb[0]) {
      fail("unknown statement '%.*s'", (int)t->len, t->s);
      return;
    }
    dt_ins *I = ins_push(comb[i].op);
    I->k = (uint8_t)bounded("slot", DT_NV);
    I->b = bounded("count", 1 << 20);
    I->ex = (uint32_t)nex;
    for (uint32_t j = 0; j < I->b && !failed; j++)
      expr();
  }
}

/* ---- programs ---------------------------------------------------------------------------- */

typedef struct pblock {
  uint32_t id;
  dt_block b;
} pblock;
static pblock *pblocks;
static size_t npb, cpb;
static bool in_prog, hooks_seen;

static uint32_t hook_ref(void) { return block_ref(true, false); }

static void program_end(void) {
  uint32_t n = 0;
  for (size_t i = 0; i < npb; i++)
    if (pblocks[i].id + 1 > n)
      n = pblocks[i].id + 1;
  aw_dt_blocks = grow(aw_dt_blocks, &cblk, nblk + n, sizeof *aw_dt_blocks);
  dt_block *B = aw_dt_blocks + nblk;
  static unsigned char *seen;
  static size_t cseen;
  seen = grow(seen, &cseen, n + 1, 1);
  memset(seen, 0, n + 1);
  for (size_t i = 0; i < npb; i++) {
    if (seen[pblocks[i].id]) {
      fail("block %u defined twice", pblocks[i].id);
      return;
    }
    seen[pblocks[i].id] = 1;
    B[pblocks[i].id] = pblocks[i].b;
  }
  for (uint32_t i = 0; i < n; i++)
    if (!seen[i]) {
      fail("block %u missing (ids must be dense)", i);
      return;
    }
  if (n == 0) {
    fail("program without block 0");
    return;
  }
  if (B[0].async) {
    fail("block 0 must be sync");
    return;
  }
  for (size_t i = 0; i < nref; i++) {
    if (refs[i].id >= n) {
      lineno = refs[i].line;
      fail("unknown block id %u", refs[i].id);
      return;
    }
    if (refs[i].need_sync && B[refs[i].id].async) {
      lineno = refs[i].line;
      fail("block %u must be sync here", refs[i].id);
      return;
    }
  }
  for (size_t i = 0; i < nspawn; i++) {
    if (spawn_refs[i].id < n && !B[spawn_refs[i].id].async) {
      lineno = spawn_refs[i].line;
      fail("block %u must be async (spawn)", spawn_refs[i].id);
      return;
    }
  }
  prog->block0 = (uint32_t)nblk;
  prog->nblocks = n;
  nblk += n;
  aw_dt_nprograms++;
  in_prog = false;
}

static void line(void) {
  const tok *t = &toks[itok++];
  if (in_block) {
    if (tok_is(t, "endblock")) {
      if (ntry)
        fail("endblock inside an open try");
      in_block = false;
      pblocks[npb].b = cur; /* its id was stored at the block line */
      npb++;
      return;
    }
    if (tok_is(t, "block") || tok_is(t, "end") || tok_is(t, "program") || tok_is(t, "hooks")) {
      fail("missing endblock before '%.*s'", (int)t->len, t->s);
      return;
    }
    itok--;
    statement();
    return;
  }
  if (!in_prog) {
    if (!tok_is(t, "program")) {
      fail("expected 'program', got '%.*s'", (int)t->len, t->s);
      return;
    }
    const tok *w = next("program name");
    if (!w)
      return;
    if (!word_ok(w, true)) {
      fail("bad program name '%.*s'", (int)w->len, w->s);
      return;
    }
    aw_dt_programs = grow(aw_dt_programs, &cprog, aw_dt_nprograms + 1, sizeof *aw_dt_programs);
    prog = &aw_dt_programs[aw_dt_nprograms];
    *prog = (dt_program){.name = add_chars(w), .hu = DT_NONE, .hh = DT_NONE, .hx = DT_NONE};
    in_prog = true;
    hooks_seen = false;
    npb = 0;
    nref = 0;
    nspawn = 0;
    return;
  }
  if (tok_is(t, "hooks")) {
    if (hooks_seen)
      fail("hooks given twice");
    hooks_seen = true;
    prog->hu = hook_ref();
    prog->hh = hook_ref();
    prog->hx = hook_ref();
  } else if (tok_is(t, "block")) {
    uint32_t id = bounded("block id", DT_MAX_BLOCKS);
    const tok *k = next("block kind");
    if (failed)
      return;
    if (!tok_is(k, "sync") && !tok_is(k, "async")) {
      fail("bad block kind '%.*s'", (int)k->len, k->s);
      return;
    }
    cur = (dt_block){.start = (uint32_t)nins, .async = tok_is(k, "async")};
    in_block = true;
    ntry = 0;
    /* the id travels with the block until the program ends */
    pblocks = grow(pblocks, &cpb, npb + 1, sizeof *pblocks);
    pblocks[npb].id = id;
  } else if (tok_is(t, "end")) {
    if (itok == ntok)
      program_end();
  } else {
    fail("unknown line '%.*s'", (int)t->len, t->s);
  }
}

int aw_dt_parse(char *buf, size_t len) {
  char *p = buf, *e = buf + len;
  lineno = 0;
  while (p < e && !failed) {
    char *nl = memchr(p, '\n', (size_t)(e - p));
    char *le = nl ? nl : e;
    lineno++;
    ntok = 0;
    itok = 0;
    char *q = p;
    while (q < le) {
      while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
        q++;
      if (q == le)
        break;
      char *s = q;
      while (q < le && *q != ' ' && *q != '\t' && *q != '\r')
        q++;
      toks = grow(toks, &ctok, ntok + 1, sizeof *toks);
      toks[ntok++] = (tok){s, (uint32_t)(q - s)};
    }
    p = nl ? nl + 1 : e;
    if (ntok == 0 || toks[0].s[0] == '#')
      continue;
    line();
    if (!failed && itok < ntok)
      fail("unexpected '%.*s'", (int)toks[itok].len, toks[itok].s);
  }
  if (!failed && in_block)
    fail("missing endblock at the end of the input");
  else if (!failed && in_prog)
    fail("missing 'end' at the end of the input");
  if (failed) {
    fprintf(stderr, "awdiff: line %lu: %s\n", lineno, errbuf);
    return -1;
  }
  return 0;
}
