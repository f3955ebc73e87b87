/*
 * tests/difftest/awdiff.h — the compact form of a parsed difftest batch (IR.md),
 * shared by the parser (awdiff_parse.c) and the interpreter (awdiff.c).
 *
 * A batch is parsed once into four flat arrays that only grow while parsing and
 * never move afterwards (so a handler's arg may point at a statement):
 *  - aw_dt_ins: every statement of every block; a block is a contiguous run;
 *  - aw_dt_ex: every expression node; an expression is a contiguous run of
 *    res/rej wrappers followed by one leaf (prefix order, so a statement's
 *    operands are consecutive runs);
 *  - aw_dt_blocks: every block; a program's blocks are contiguous, by id;
 *  - aw_dt_chars: names, labels and words, NUL-terminated.
 *
 * try/catch/finally compile to S_TRY (with the pcs of its sections and of its
 * end) and one S_ENDSEC at the end of each section: the section that ends
 * normally goes to the finally section (or the end), and the end of the
 * finally section carries on with the completion it held.
 */
#ifndef AWDIFF_H
#define AWDIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DT_NONE UINT32_MAX /* no block ('-'), no section */
#define DT_NV 256          /* V and R slots */
#define DT_NT 64           /* TM, IM and CN slots */

enum dt_stmt {
  S_LOG,
  S_LOGV,
  S_LOGP,
  S_SET,
  S_NEWP,
  S_WITHRES,
  S_RESOLVE,
  S_REJECT,
  S_TRES,
  S_TREJ,
  S_TSAVE,
  S_THEN,
  S_CATCH,
  S_FINALLY,
  S_ALL,
  S_ALLSET,
  S_RACE,
  S_ANY,
  S_MICRO,
  S_TICK,
  S_IMM,
  S_TIMEOUT,
  S_INTERVAL,
  S_CLEART,
  S_CLEARI,
  S_COUNTCLEAR,
  S_AWAIT,
  S_RETURN,
  S_RETAWAIT,
  S_THROW,
  S_TRY,
  S_ENDSEC,
  S_PTRY,
  S_STATE,
  S_UNREF,
  S_REF,
  S_SPAWN,
  S_REJMODE,
  S_SIG,
  S_SIGTO,
  S_SIGANY,
  S_ABORT,
  S_SIGSTATE,
  S_DELAY
};

enum dt_expr {
  E_INT,
  E_STR,
  E_UNDEF,
  E_ERR,
  E_ARG,
  E_ACC,
  E_N,
  E_V,
  E_TH,
  E_CALL,
  E_REC,
  E_RES,
  E_REJ,
  E_DBL
};

/*
 * One statement. Fields by statement:
 *   k: the slot K (V/R; delay), T (TM; unref, ref), I (IM), C (CN), S (SG: sig, sigto,
 *      sigany, abort, sigstate), the mode (rejmode);
 *   b: block B (newp, ptry, spawn, micro, tick, imm, timeout, interval), J (then,
 *      catch, finally, state), count C (combinators, sigany), catch pc (try);
 *   c: F (then, finally), T (countclear), G (spawn), S (delay), finally pc (try);
 *   d: G (then, catch), end pc (try);
 *   ex: the first expression node of the operands (sigany: one E_INT per source slot);
 *   label: offset of L in aw_dt_chars;
 *   num: N (countclear), D (timeout, interval, sigto, delay).
 * Block ids are the program's own; pcs are relative to the block's start.
 */
typedef struct dt_ins {
  uint8_t op;
  uint8_t k;
  uint16_t pad;
  uint32_t b, c, d;
  uint32_t ex;
  uint32_t label;
  int64_t num;
} dt_ins;

/* One expression node: a = block (th, call, rec), slot (v), chars offset (s, e); num = N (i, call),
 * string slot (s), the bits of the double (d). */
typedef struct dt_ex {
  uint8_t op;
  uint8_t pad[3];
  uint32_t a;
  int64_t num;
} dt_ex;

typedef struct dt_block {
  uint32_t start, len; /* in aw_dt_ins */
  uint32_t maxdepth;   /* deepest try nesting */
  bool async;
} dt_block;

typedef struct dt_program {
  uint32_t name;       /* in aw_dt_chars */
  uint32_t hu, hh, hx; /* hook blocks or DT_NONE */
  uint32_t block0;     /* in aw_dt_blocks */
  uint32_t nblocks;
  uint32_t nstr; /* `s W` nodes: each has a slot for its string object */
} dt_program;

extern dt_ins *aw_dt_ins;
extern dt_ex *aw_dt_ex;
extern dt_block *aw_dt_blocks;
extern char *aw_dt_chars;
extern dt_program *aw_dt_programs;
extern size_t aw_dt_nprograms;

/*
 * Parses a whole batch (buf, len bytes; modified in place). 0, or -1 after
 * printing "awdiff: line L: what" to stderr.
 */
int aw_dt_parse(char *buf, size_t len);

#endif
