#!/usr/bin/env python3
"""emit_js.py - a batch of difftest IR programs (tests/difftest/IR.md) as one Node.js script.

    python3 emit_js.py BATCH.ir > batch.js && node --expose-internals batch.js

Each IR statement becomes the JavaScript its row in IR.md gives, nothing more, so that what Node
prints is what the program means. Programs run one after another in one process: the next one
starts from a 'beforeExit' listener, that is when the previous one has nothing left to run, with
fresh state and fresh process listeners.
"""
import sys

PRELUDE = r"""'use strict';
let OUT = [];
function out(s) { OUT.push(s); }
function show(x) {
  if (x === undefined) return 'undefined';
  if (x === null) return 'null';
  if (typeof x === 'number' || typeof x === 'boolean') return String(x);
  if (typeof x === 'string') return x;
  if (x instanceof Promise) return 'promise';
  if (x instanceof Error) {
    let s = x.name + ':' + x.message;
    if (x instanceof AggregateError) s += '[' + x.errors.map(show).join(',') + ']';
    return s;
  }
  if (Array.isArray(x)) return '[' + x.map(show).join(',') + ']';
  if (typeof x === 'object' && (x.status === 'fulfilled' || x.status === 'rejected'))
    return x.status === 'fulfilled' ? show(x.value) : '{r:' + show(x.reason) + '}';
  if (typeof x === 'object' && typeof x.then === 'function') return 'thenable';
  return 'object';
}
const isP = (x) => x instanceof Promise;
// state: a promise's [[PromiseState]] and [[PromiseResult]], read synchronously with V8's
// Promise::State through Node's internal util binding (run node with --expose-internals). Not
// through an in-process inspector session: once one has been connected, Node runs the microtask
// queue at other points after an exception escapes a nextTick (found: s488092 of the million on
// e23fc79), so the session changed the very order the programs print.
const getPromiseDetails = (() => {
  const w = process.emitWarning; /* the module warns "for internal testing only" in a nextTick */
  process.emitWarning = () => {};
  try {
    return require('internal/test/binding').internalBinding('util').getPromiseDetails;
  } finally {
    process.emitWarning = w;
  }
})();
function pstate(p) {
  if (!isP(p)) return '-';
  const [st, res] = getPromiseDetails(p); // kPending 0, kFulfilled 1, kRejected 2
  if (st === 0) return 'pending';
  return (st === 1 ? 'fulfilled ' : 'rejected ') + show(res);
}
// the first use of these costs a little: not inside a program
pstate(Promise.resolve(0));
AbortSignal.any([new AbortController().signal]);
// rejmode: Node's --unhandled-rejections=warn|none, per program: what they change that a
// program can see is that an unhandled rejection without a listener is not an uncaught
// exception, which a listener that does nothing gives too
const quietRej = () => {};
function rejmode(m) {
  process.removeListener('unhandledRejection', quietRej);
  if (m !== 'throw') process.on('unhandledRejection', quietRej);
}
// every timer a program makes: the ones still pending when it ends (unref'd) never run
const TP = require('timers/promises');
let TIMERS = [];
function tm(t) { TIMERS.push(t); return t; }
const PROGS = [];
"""

RUNNER = r"""
const EVENTS = ['unhandledRejection', 'rejectionHandled', 'uncaughtException'];
let next = 0, running = false;
function finish() {
  if (!running) return;
  running = false;
  for (const e of EVENTS) process.removeAllListeners(e);
  for (const t of TIMERS) clearTimeout(t);
  TIMERS = [];
  OUT.push('#### end');
  process.stdout.write(OUT.join('\n') + '\n');
  OUT = [];
}
function start() {
  finish();
  if (next >= PROGS.length) return;
  const [name, fn] = PROGS[next++];
  running = true;
  OUT.push('#### ' + name);
  fn();
  // Node emits beforeExit again only if the loop had work after the last one: an empty
  // immediate, after the program's own ones of that turn (awdiff queues the same one: a drain that
  // a throwing nextTick cut short goes on after it).
  setImmediate(() => {});
}
process.on('beforeExit', start);
start();
"""


class IRError(Exception):
    pass


class Program:
    def __init__(self, name):
        self.name = name
        self.hooks = ('-', '-', '-')
        self.hooks_given = False
        self.blocks = {}  # id -> (kind, [lines])


def parse(text):
    """The programs of a batch: [Program]. Structure only; statements stay token lists."""
    progs, cur, blk = [], None, None
    for lineno, raw in enumerate(text.split('\n'), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        t = line.split(' ')
        if t[0] == 'program':
            if cur is not None:
                raise IRError(f'line {lineno}: program inside program')
            cur = Program(t[1])
        elif cur is None:
            raise IRError(f'line {lineno}: outside a program: {line}')
        elif t[0] == 'hooks':
            if len(t) != 4:
                raise IRError(f'line {lineno}: hooks takes three block ids or -: {line}')
            cur.hooks = tuple(t[1:4])
            cur.hooks_given = True
        elif t[0] == 'block':
            blk = []
            if len(t) != 3 or t[2] not in ('sync', 'async') or int(t[1]) in cur.blocks:
                raise IRError(f'line {lineno}: {cur.name}: bad block line {line}')
            cur.blocks[int(t[1])] = (t[2], blk)
        elif t[0] == 'endblock':
            blk = None
        elif t[0] == 'end':
            progs.append(cur)
            cur = None
        else:
            if blk is None:
                raise IRError(f'line {lineno}: statement outside a block: {line}')
            blk.append(t)
    if cur is not None:
        raise IRError('missing end')
    return progs


class Emitter:
    def __init__(self, prog):
        self.prog = prog

    def expr(self, t, i):
        """(js, next index) for the expression starting at t[i]."""
        k = t[i]
        if k == 'i':
            return str(int(t[i + 1])), i + 2
        if k == 'd':
            m, x = int(t[i + 1]), int(t[i + 2])
            return f"Number('{t[i + 1]}e{t[i + 2]}')", i + 3
        if k == 's':
            return "'" + t[i + 1] + "'", i + 2
        if k == 'u':
            return 'undefined', i + 1
        if k == 'e':
            return "new Error('" + t[i + 1] + "')", i + 2
        if k in ('arg', 'acc', 'n'):
            return k, i + 1
        if k == 'v':
            return f'V[{int(t[i + 1])}]', i + 2
        if k == 'th':
            b = self.bref(t[i + 1])
            return f'{{ then(res, rej) {{ {b}(undefined, 0, res, rej); }} }}', i + 2
        if k == 'call':
            return f'{self.bref(t[i + 1])}(undefined, {int(t[i + 2])})', i + 3
        if k == 'rec':
            return f'(n > 0 ? {self.bref(t[i + 1])}(undefined, n - 1) : n)', i + 2
        if k in ('res', 'rej'):
            e, j = self.expr(t, i + 1)
            fn = 'resolve' if k == 'res' else 'reject'
            return f'Promise.{fn}({e})', j
        raise IRError(f'unknown expression {k!r}')

    def bref(self, s):
        b = int(s)
        if b not in self.prog.blocks:
            raise IRError(f'unknown block {b}')
        return f'b{b}'

    def handler(self, s):
        return 'undefined' if s == '-' else f'(x) => {self.bref(s)}(x, 0)'

    def one_expr(self, t, i):
        e, j = self.expr(t, i)
        if j != len(t):
            raise IRError('trailing tokens: ' + ' '.join(t))
        return e

    def stmt(self, t):
        op = t[0]
        if op == 'log':
            return f"out('{t[1]}');"
        if op == 'logv':
            return f"out('{t[1]} ' + show({self.one_expr(t, 2)}));"
        if op == 'logp':
            return f"out('{t[1]} ' + (hookp === undefined ? -1 : V.indexOf(hookp)));"
        if op == 'set':
            return f'V[{int(t[1])}] = {self.one_expr(t, 2)};'
        if op == 'newp':
            k, b = int(t[1]), self.bref(t[2])
            return (f'V[{k}] = new Promise((res, rej) => {{ R[{k}] = {{res, rej}}; '
                    f'{b}(undefined, 0, res, rej); }});')
        if op == 'ptry':
            k, b = int(t[1]), self.bref(t[2])
            return f'V[{k}] = new Promise((ok) => ok({b}(undefined, 0)));'
        if op == 'state':
            return f"out('{t[1]} ' + pstate(V[{int(t[2])}]));"
        if op in ('unref', 'ref'):
            k = int(t[1])
            return f'if (TM[{k}]) TM[{k}].{op}();'
        if op == 'spawn':
            b = self.bref(t[1])
            if t[2] == '-':
                return f'{b}(undefined, 0).catch(() => {{}});'
            g = self.bref(t[2])
            return f'{b}(undefined, 0).catch((x) => {{ try {{ {g}(x, 0); }} catch (e) {{}} }});'
        if op == 'sig':
            return f'SG[{int(t[1])}] = new AbortController();'
        if op == 'sigto':
            return f'SG[{int(t[1])}] = {{signal: AbortSignal.timeout({int(t[2])})}};'
        if op == 'sigany':
            k, c = int(t[1]), int(t[2])
            srcs = [f'SG[{int(x)}]' for x in t[3:]]
            if len(srcs) != c:
                raise IRError('bad sigany')
            return (f'SG[{k}] = {{signal: AbortSignal.any([{", ".join(srcs)}]'
                    f'.filter(Boolean).map((x) => x.signal))}};')
        if op == 'abort':
            k = int(t[1])
            return f'{{ const x = {self.one_expr(t, 2)}; if (SG[{k}] && SG[{k}].abort) SG[{k}].abort(x); }}'
        if op == 'sigstate':
            k = int(t[2])
            return (f"out('{t[1]} ' + (!SG[{k}] ? '-' : SG[{k}].signal.aborted ? "
                    f"'aborted ' + show(SG[{k}].signal.reason) : 'live'));")
        if op == 'delay':
            k, d = int(t[1]), int(t[2])
            if d < 0:
                raise IRError('negative delay')
            if t[3] == '-':
                return f'V[{k}] = TP.setTimeout({d});'
            s = int(t[3])
            return (f'V[{k}] = SG[{s}] ? TP.setTimeout({d}, undefined, {{signal: SG[{s}].signal}}) '
                    f': TP.setTimeout({d});')
        if op == 'rejmode':
            if t[1] not in ('throw', 'warn', 'none'):
                raise IRError('bad rejection mode ' + t[1])
            return f"rejmode('{t[1]}');"
        if op == 'withres':
            k = int(t[1])
            return (f'{{ let r; V[{k}] = new Promise((a, b) => {{ r = {{res: a, rej: b}}; }}); '
                    f'R[{k}] = r; }}')
        if op in ('resolve', 'reject'):
            k, e = int(t[1]), self.one_expr(t, 2)
            f = 'res' if op == 'resolve' else 'rej'
            return f'{{ const x = {e}; if (R[{k}]) R[{k}].{f}(x); }}'
        if op in ('tres', 'trej'):
            f = 'res' if op == 'tres' else 'rej'
            return f'{{ const x = {self.one_expr(t, 1)}; if ({f}) {f}(x); }}'
        if op == 'tsave':
            return f'if (res) R[{int(t[1])}] = {{res, rej}};'
        if op == 'then':
            k, j = int(t[1]), int(t[2])
            return (f'V[{k}] = isP(V[{j}]) ? V[{j}].then({self.handler(t[3])}, '
                    f'{self.handler(t[4])}) : undefined;')
        if op == 'catch':
            k, j = int(t[1]), int(t[2])
            return f'V[{k}] = isP(V[{j}]) ? V[{j}].catch({self.handler(t[3])}) : undefined;'
        if op == 'finally':
            k, j = int(t[1]), int(t[2])
            f = 'undefined' if t[3] == '-' else f'() => {self.bref(t[3])}(undefined, 0)'
            return f'V[{k}] = isP(V[{j}]) ? V[{j}].finally({f}) : undefined;'
        if op in ('all', 'allset', 'race', 'any'):
            k, c = int(t[1]), int(t[2])
            items, i = [], 3
            for _ in range(c):
                e, i = self.expr(t, i)
                items.append(e)
            if i != len(t):
                raise IRError('trailing tokens: ' + ' '.join(t))
            fn = {'all': 'all', 'allset': 'allSettled', 'race': 'race', 'any': 'any'}[op]
            return f'V[{k}] = Promise.{fn}([{", ".join(items)}]);'
        if op == 'micro':
            return f'queueMicrotask(() => {self.bref(t[1])}(undefined, 0));'
        if op == 'tick':
            return f'process.nextTick(() => {self.bref(t[1])}(undefined, 0));'
        if op == 'imm':
            return f'IM[{int(t[1])}] = setImmediate(() => {self.bref(t[2])}(undefined, 0));'
        if op in ('timeout', 'interval'):
            fn = 'setTimeout' if op == 'timeout' else 'setInterval'
            return (f'TM[{int(t[1])}] = tm({fn}(() => {self.bref(t[3])}(undefined, 0), '
                    f'{int(t[2])}));')
        if op == 'cleart':
            return f'clearTimeout(TM[{int(t[1])}]);'
        if op == 'cleari':
            return f'clearImmediate(IM[{int(t[1])}]);'
        if op == 'countclear':
            return f'if (++CN[{int(t[1])}] >= {int(t[2])}) clearInterval(TM[{int(t[3])}]);'
        if op == 'await':
            return f'acc = await {self.one_expr(t, 1)};'
        if op == 'return':
            return f'return {self.one_expr(t, 1)};'
        if op == 'retawait':
            return f'return await {self.one_expr(t, 1)};'
        if op == 'throw':
            return f'throw {self.one_expr(t, 1)};'
        if op == 'try':
            return 'try {'
        if op == 'catch_':
            return '} catch (e) { acc = e;'
        if op == 'finally_':
            return '} finally {'
        if op == 'endtry':
            return '}'
        raise IRError(f'unknown statement {op!r}')

    def block(self, bid, kind, lines):
        head = 'async function' if kind == 'async' else 'function'
        body = []
        # inside a try section, `catch` and `finally` lines are the section markers
        depth = 0
        for t in lines:
            if t[0] == 'try':
                depth += 1
            elif t[0] == 'endtry':
                depth -= 1
            elif depth > 0 and t[0] == 'catch' and len(t) == 1:
                t = ['catch_']
            elif depth > 0 and t[0] == 'finally' and len(t) == 1:
                t = ['finally_']
            body.append('    ' + self.stmt(t))
        if depth != 0:
            raise IRError(f'block {bid}: unbalanced try')
        return (f'  {head} b{bid}(arg, n, res, rej) {{\n    let acc;\n' + '\n'.join(body) +
                '\n  }\n')

    def program(self):
        p = self.prog
        if 0 not in p.blocks:
            raise IRError(f'program {p.name}: no block 0')
        parts = [f'PROGS.push([{p.name!r}, () => {{\n',
                 '  const V = [], R = [], TM = [], IM = [], CN = new Array(64).fill(0), SG = [];\n',
                 '  let hookp;\n']
        for bid in sorted(p.blocks):
            kind, lines = p.blocks[bid]
            parts.append(self.block(bid, kind, lines))
        u, h, x = p.hooks
        if u != '-':
            parts.append(f"  process.on('unhandledRejection', (r, p) => {{ hookp = p; "
                         f"{self.bref(u)}(r, 0); hookp = undefined; }});\n")
        if h != '-':
            parts.append(f"  process.on('rejectionHandled', (p) => {{ hookp = p; "
                         f"{self.bref(h)}(undefined, 0); hookp = undefined; }});\n")
        if x != '-':
            parts.append(f"  process.on('uncaughtException', (e) => {{ {self.bref(x)}(e, 0); }});\n")
        else:
            parts.append("  process.on('uncaughtException', (e) => { out('uncaught ' + show(e)); });\n")
        parts.append("  try { b0(undefined, 0); } catch (e) { out('mainthrow ' + show(e)); }\n")
        parts.append('}]);\n')
        return ''.join(parts)


def to_js(text):
    """The Node.js script for a batch of IR programs (text)."""
    return PRELUDE + ''.join(Emitter(p).program() for p in parse(text)) + RUNNER


def main(argv):
    src = sys.stdin.read() if len(argv) < 2 or argv[1] == '-' else open(argv[1]).read()
    try:
        sys.stdout.write(to_js(src))
    except (IRError, ValueError, IndexError, KeyError) as e:
        sys.stderr.write(f'emit_js: {e}\n')
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
