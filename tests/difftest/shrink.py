"""shrink.py - the difftest IR as edit-able structure, and the edits a shrinker tries.

A program (emit_js.Program: name, hooks, blocks {id: (kind, [token list])}) is turned into a
Prog whose statements are parsed by their operand schema (IR.md's statement table), so that an
edit can drop a statement, a try..endtry region or one of its sections, a block's body, a hook,
an element of a combinator list, or replace an expression by `u`, and the result is printed back
as IR that every reader accepts. Blocks that nothing refers to any more are dropped and the rest
renumbered densely, as IR.md requires.

    candidates(prog) -> [Prog]    every one-step reduction of prog, biggest first
    to_ir(prog) -> str            the program as IR text
"""
import copy

import emit_js

# Operand kinds: L label, K slot index, N integer, B block id, H block id or '-', E expression,
# LIST a count then that many expressions, W a word.
SCHEMA = {
    'log': 'L', 'logv': 'LE', 'logp': 'L', 'set': 'KE', 'newp': 'KB', 'withres': 'K',
    'resolve': 'KE', 'reject': 'KE', 'tres': 'E', 'trej': 'E', 'tsave': 'K',
    'then': 'KKHH', 'catch': 'KKH', 'finally': 'KKH',
    'all': 'KX', 'allset': 'KX', 'race': 'KX', 'any': 'KX',
    'micro': 'B', 'tick': 'B', 'imm': 'KB', 'timeout': 'KNB', 'interval': 'KNB',
    'cleart': 'K', 'cleari': 'K', 'countclear': 'KNK',
    'await': 'E', 'return': 'E', 'retawait': 'E', 'throw': 'E',
    'try': '', 'endtry': '',
    'ptry': 'KB', 'state': 'LK', 'unref': 'K', 'ref': 'K', 'spawn': 'BH', 'rejmode': 'W',
    'sig': 'K', 'sigto': 'KN', 'sigany': 'KS', 'abort': 'KE', 'sigstate': 'LK', 'delay': 'KNW',
}
MARKERS = ('try', 'catch_', 'finally_', 'endtry')


class Unknown(Exception):
    pass


def parse_expr(t, i):
    """(tree, next index): a tree is a list [kind, operand...] with sub-expressions as trees."""
    k = t[i]
    if k in ('u', 'arg', 'acc', 'n'):
        return [k], i + 1
    if k in ('i', 's', 'e', 'v', 'th', 'rec'):
        return [k, t[i + 1]], i + 2
    if k in ('call', 'd'):
        return [k, t[i + 1], t[i + 2]], i + 3
    if k in ('res', 'rej'):
        e, j = parse_expr(t, i + 1)
        return [k, e], j
    raise Unknown(k)


def fmt_expr(e):
    out = [e[0]]
    for x in e[1:]:
        out.extend(fmt_expr(x) if isinstance(x, list) else [x])
    return out


def parse_stmt(t, depth):
    """[op, operand...]; a bare catch/finally inside a try is the section marker."""
    op = t[0]
    if depth > 0 and len(t) == 1 and op in ('catch', 'finally'):
        return [op + '_']
    if op not in SCHEMA:
        raise Unknown(op)
    ops, i = [op], 1
    for kind in SCHEMA[op]:
        if kind == 'E':
            e, i = parse_expr(t, i)
            ops.append(e)
        elif kind == 'X':
            c = int(t[i])
            i += 1
            items = []
            for _ in range(c):
                e, i = parse_expr(t, i)
                items.append(e)
            ops.append(items)
        elif kind == 'S':
            c = int(t[i])
            ops.append(t[i + 1:i + 1 + c])
            i += 1 + c
        else:
            ops.append(t[i])
            i += 1
    if i != len(t):
        raise Unknown(' '.join(t))
    return ops


def fmt_stmt(s):
    op = s[0]
    if op in ('catch_', 'finally_'):
        return op[:-1]
    out = [op]
    for kind, x in zip(SCHEMA[op], s[1:]):
        if kind == 'E':
            out.extend(fmt_expr(x))
        elif kind == 'X':
            out.append(str(len(x)))
            for e in x:
                out.extend(fmt_expr(e))
        elif kind == 'S':
            out.append(str(len(x)))
            out.extend(x)
        else:
            out.append(x)
    return ' '.join(out)


class Prog:
    def __init__(self, name, hooks, blocks):
        self.name = name
        self.hooks = list(hooks)
        self.blocks = blocks  # {id: [kind, [stmt]]}

    @classmethod
    def from_program(cls, p):
        blocks = {}
        for bid, (kind, lines) in p.blocks.items():
            depth, stmts = 0, []
            for t in lines:
                s = parse_stmt(t, depth)
                depth += {'try': 1, 'endtry': -1}.get(s[0], 0)
                stmts.append(s)
            blocks[bid] = [kind, stmts]
        return cls(p.name, p.hooks, blocks)

    @classmethod
    def from_ir(cls, text):
        progs = emit_js.parse(text)
        if len(progs) != 1:
            raise emit_js.IRError('expected one program')
        return cls.from_program(progs[0])

    def copy(self):
        return Prog(self.name, self.hooks, copy.deepcopy(self.blocks))

    def size(self):
        """Statements (markers included), blocks and hooks set: what shrinking reduces."""
        return (sum(len(b[1]) for b in self.blocks.values()) + len(self.blocks) +
                sum(h != '-' for h in self.hooks))

    def tokens(self):
        return sum(len(fmt_stmt(s).split(' ')) for b in self.blocks.values() for s in b[1])


def to_ir(p, name=None):
    lines = [f'program {name or p.name}', 'hooks ' + ' '.join(p.hooks)]
    for bid in sorted(p.blocks):
        kind, stmts = p.blocks[bid]
        lines.append(f'block {bid} {kind}')
        depth = 1
        for s in stmts:
            if s[0] in ('catch_', 'finally_', 'endtry'):
                depth -= 1
            lines.append('  ' * depth + fmt_stmt(s))
            if s[0] in ('try', 'catch_', 'finally_'):
                depth += 1
        lines.append('endblock')
    lines.append('end')
    return '\n'.join(lines) + '\n'


# ---- structure -------------------------------------------------------------------------------

def regions(stmts):
    """[(try index, [section marker indices], endtry index)] for every try in stmts."""
    stack, out = [], []
    for i, s in enumerate(stmts):
        if s[0] == 'try':
            stack.append((i, []))
        elif s[0] in ('catch_', 'finally_'):
            stack[-1][1].append(i)
        elif s[0] == 'endtry':
            a, secs = stack.pop()
            out.append((a, secs, i))
    return out


def valid_body(stmts):
    """try..endtry balanced, each with catch and/or finally, in that order."""
    stack = []
    for s in stmts:
        op = s[0]
        if op == 'try':
            stack.append([])
        elif op in ('catch_', 'finally_'):
            if not stack or op in stack[-1] or (op == 'catch_' and 'finally_' in stack[-1]):
                return False
            stack[-1].append(op)
        elif op == 'endtry':
            if not stack or not stack.pop():
                return False
    return not stack


def block_refs(s):
    """The block ids a statement refers to (positions are rewritten by renumber)."""
    out = []

    def ex(e):
        if e[0] in ('th', 'call', 'rec'):
            out.append(int(e[1]))
        for x in e[1:]:
            if isinstance(x, list):
                ex(x)

    if s[0] in MARKERS:
        return out
    for kind, x in zip(SCHEMA[s[0]], s[1:]):
        if kind == 'B' or (kind == 'H' and x != '-'):
            out.append(int(x))
        elif kind == 'E':
            ex(x)
        elif kind == 'X':
            for e in x:
                ex(e)
    return out


def reachable(p, roots):
    """The blocks the roots reach, through every block reference of their statements."""
    seen, todo = set(), list(roots)
    while todo:
        b = todo.pop()
        if b in seen or b not in p.blocks:
            continue
        seen.add(b)
        for s in p.blocks[b][1]:
            todo.extend(block_refs(s))
    return seen


def renumber(p):
    """Drop the blocks nothing reachable refers to, and renumber the rest densely."""
    order = sorted(reachable(p, [0] + [int(h) for h in p.hooks if h != '-']))
    m = {str(old): str(new) for new, old in enumerate(order)}
    if all(k == v for k, v in m.items()) and len(order) == len(p.blocks):
        return p

    def ex(e):
        if e[0] in ('th', 'call', 'rec'):
            e[1] = m[e[1]]
        for x in e[1:]:
            if isinstance(x, list):
                ex(x)

    blocks = {}
    for old in order:
        kind, stmts = p.blocks[old]
        for s in stmts:
            if s[0] in MARKERS:
                continue
            for j, kind_ in enumerate(SCHEMA[s[0]], 1):
                if kind_ == 'B' or (kind_ == 'H' and s[j] != '-'):
                    s[j] = m[s[j]]
                elif kind_ == 'E':
                    ex(s[j])
                elif kind_ == 'X':
                    for e in s[j]:
                        ex(e)
        blocks[int(m[str(old)])] = [kind, stmts]
    p.hooks = [m[h] if h != '-' else '-' for h in p.hooks]
    p.blocks = blocks
    return p


def protected_blocks(p):
    """Hook blocks, spawn's on_error blocks and what they call: IR.md says these never throw,
    so no edit may take away the try..catch that keeps a throw in."""
    roots = [int(h) for h in p.hooks if h != '-']
    roots += [int(s[2]) for b in p.blocks.values() for s in b[1] if s[0] == 'spawn' and s[2] != '-']
    return reachable(p, roots)


def has_interval(p):
    return any(s[0] == 'interval' for b in p.blocks.values() for s in b[1])


# ---- edits -----------------------------------------------------------------------------------

def _with_body(p, bid, stmts):
    q = p.copy()
    q.blocks[bid][1] = copy.deepcopy(stmts)
    return q


def _expr_slots(s):
    """(operand index, list index or None) of each expression operand of s."""
    out = []
    if s[0] in MARKERS:
        return out
    for j, kind in enumerate(SCHEMA[s[0]], 1):
        if kind == 'E':
            out.append((j, None))
        elif kind == 'X':
            out.extend((j, m) for m in range(len(s[j])))
    return out


def _simpler(e):
    """Smaller expressions to put in e's place."""
    out = []
    if e[0] != 'u':
        out.append(['u'])
    if e[0] in ('res', 'rej'):
        out.append(e[1])
    if e[0] == 'call' and e[2] not in ('0', '1'):
        out.append([e[0], e[1], '1'])
    return out


def _inlinable(p, s, into_async):
    """The blocks s refers to whose bodies can stand in s's place (a reduction: the candidate is
    tested like any other): no await outside an async block."""
    out = []
    for b in dict.fromkeys(block_refs(s)):
        if b not in p.blocks:
            continue
        body = p.blocks[b][1]
        if not into_async and any(x[0] in ('await', 'retawait') for x in body):
            continue
        out.append(b)
    return out


def candidates(p):
    """Every one-step reduction of p that is still a valid program, biggest cut first."""
    keep_cc = has_interval(p)  # an interval without its countclear never ends
    prot = protected_blocks(p)
    out = []

    def add(q):
        for kind, stmts in q.blocks.values():
            if not valid_body(stmts):
                return
        if keep_cc:
            before = sum(s[0] == 'countclear' for b in p.blocks.values() for s in b[1])
            after = sum(s[0] == 'countclear' for b in q.blocks.values() for s in b[1])
            if after < before and has_interval(q):
                return
        out.append(renumber(q))

    for h in range(3):
        if p.hooks[h] != '-':
            q = p.copy()
            q.hooks[h] = '-'
            add(q)
    for bid in sorted(p.blocks):
        stmts = p.blocks[bid][1]
        n = len(stmts)
        if n == 0:
            continue
        add(_with_body(p, bid, []))
        # chunks of consecutive statements, halves down to pairs (ddmin's granularity steps)
        k = n // 2
        while k >= 2:
            for a in range(0, n, k):
                add(_with_body(p, bid, stmts[:a] + stmts[a + k:]))
            k //= 2
        for a, secs, z in regions(stmts):
            add(_with_body(p, bid, stmts[:a] + stmts[z + 1:]))  # the whole region
            if bid not in prot or not any(stmts[c][0] == 'catch_' for c in secs):
                body = stmts[a + 1:secs[0]]
                add(_with_body(p, bid, stmts[:a] + body + stmts[z + 1:]))  # unwrapped
            if len(secs) == 2:
                c, f = secs
                if bid not in prot:  # without the catch section
                    add(_with_body(p, bid, stmts[:c] + stmts[f:]))
                add(_with_body(p, bid, stmts[:f] + stmts[z:]))  # without finally
        for i, s in enumerate(stmts):
            if s[0] in MARKERS:
                continue
            add(_with_body(p, bid, stmts[:i] + stmts[i + 1:]))
        for i, s in enumerate(stmts):
            if s[0] in MARKERS:
                continue
            if s[0] in ('all', 'allset', 'race', 'any'):
                for m in range(len(s[2])):
                    t = copy.deepcopy(s)
                    del t[2][m]
                    add(_with_body(p, bid, stmts[:i] + [t] + stmts[i + 1:]))
            if s[0] == 'then':
                for j in (3, 4):
                    if s[j] != '-':
                        t = copy.deepcopy(s)
                        t[j] = '-'
                        add(_with_body(p, bid, stmts[:i] + [t] + stmts[i + 1:]))
            if s[0] == 'newp':
                add(_with_body(p, bid, stmts[:i] + [['withres', s[1]]] + stmts[i + 1:]))
            # the body of a block the statement runs (a task, a handler, a call) in its place
            if bid not in prot:
                for b in _inlinable(p, s, p.blocks[bid][0] == 'async'):
                    add(_with_body(p, bid, stmts[:i] + p.blocks[b][1] + stmts[i + 1:]))
            for j, m in _expr_slots(s):
                e = s[j] if m is None else s[j][m]
                for r in _simpler(e):
                    t = copy.deepcopy(s)
                    if m is None:
                        t[j] = r
                    else:
                        t[j][m] = r
                    add(_with_body(p, bid, stmts[:i] + [t] + stmts[i + 1:]))
    # biggest cut first, then fewest tokens: the shrinker takes the first that still differs
    out.sort(key=lambda q: (q.size(), q.tokens()))
    return out
