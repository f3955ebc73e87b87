#!/usr/bin/env python3
"""gen.py - random difftest programs (tests/difftest/IR.md), one per seed.

    python3 gen.py SEED COUNT [--no-FEATURE ...]   # a batch: programs s<SEED> .. s<SEED+COUNT-1>

    from gen import generate, FEATURES
    text = generate(seed, {'timers': False})

Every step logs a label unique in its program (a0, a1, ...), so what a program prints is its
trace. The generator keeps Node's own nondeterminism out (see gen_notes.md): it keeps a model of
when each block may run (a set of due times in ms, or unknown) and gives every timer a due time
at least SEP ms away from every other one (timers of one delay, same Node timer list, may share
a due time in programs without immediates), keeps timers whose callbacks throw alone in their
due time, and ends every interval with a countclear as its first statement.
"""
import random
import sys

FEATURES = {
    'timers': True,          # setTimeout / clearTimeout
    'intervals': True,       # setInterval (each ends itself with countclear, N <= 4)
    'immediates': True,      # setImmediate / clearImmediate
    'micro': True,           # queueMicrotask
    'ticks': True,           # process.nextTick (nested)
    'clears': True,          # cleart / cleari
    'timer_groups': True,    # timers of the same delay sharing a due time (no immediates then)
    'throwing_tasks': True,  # timer / interval / immediate callbacks that throw (uncaughtException)
    'microtask_throw': True, # queueMicrotask callbacks that throw
    'tick_throw': True,      # nextTick callbacks that throw
    'hooks': True,           # unhandledRejection / rejectionHandled / uncaughtException listeners
    'thenables': True,       # th B
    'async': True,           # async blocks, await, retawait
    'combinators': True,     # all / allset / race / any
    'recursion': True,       # rec
    'self_resolution': True, # resolving a promise with itself, handler returning its own promise
    'withres': True,         # withres K
    'try': True,             # try / catch / finally
    'large': True,           # ~5% of programs of 100-300 statements
    'ptry': True,            # Promise.try (ptry K B)
    'state': True,           # a promise's state and result (state L J)
    'unref': True,           # timers unref'd while a later timer keeps the program alive
    'ghost_timers': True,    # bursts of long timers cleared at once, or unref'd for ever
    'spawn': True,           # async functions run as detached tasks with a catch (spawn B G)
    'rejmode': True,         # --unhandled-rejections=warn|none (rejmode M)
    'doubles': True,         # d M E: numbers that are not integers (or are huge)
    'odd_reasons': True,     # rejections and throws of undefined, a promise, a thenable, n
    'finally_none': True,    # finally without a callback (finally K J -)
    'signals': True,         # AbortController, AbortSignal.timeout / any, abort, sigstate
    'delay': True,           # timers/promises setTimeout (delay K D -)
    'delay_signal': True,    # delay K D S: a delay a signal cancels
}

SEP = 5         # ms between two due times of different timer lists
NOW = frozenset((0,))


class Blk:
    """A block being generated, and what the generator knows about its invocations."""
    __slots__ = ('bid', 'kind', 'role', 'times', 'phase', 'mult', 'mt', 'depth', 'cur', 'lines',
                 'tryc', 'selfk', 'cw', 'fns', 'dead', 'nov', 'slack')

    def __init__(self, bid, kind, role, times, phase, mult, mt, depth, cur):
        self.bid = bid
        self.kind = kind      # 'sync' | 'async'
        self.role = role      # main call rec handler fin exec then task hook
        self.times = times    # frozenset of ms when it may run, or None (unknown)
        self.phase = phase    # main tgroup imm unk
        self.mult = mult      # once | seq (several runs, at the distinct times) | multi
        self.mt = mt          # a throw may escape it
        self.depth = depth
        self.cur = cur        # has res/rej (executor, thenable's then)
        self.lines = []
        self.tryc = 0         # enclosing try parts with a catch
        self.selfk = None     # slot of the handler's own derived promise
        self.cw = None
        self.fns = None
        self.dead = False     # the current section ended with a throw / return


class Gen:
    def __init__(self, seed, features=None):
        f = dict(FEATURES)
        if features:
            for k, v in features.items():
                if k not in FEATURES:
                    raise KeyError(f'unknown feature {k!r}')
                f[k] = bool(v)
        self.f = f
        self.seed = seed
        r = self.r = random.Random(seed)
        self.rnd = r.random
        self.blocks = []      # [Blk]
        self.lab = 0
        self.val = 0
        self.nv = 0           # next fresh V/R slot
        self.pslots = []      # slots assigned promise-like values
        self.rslots = []      # slots with a resolver
        self.ntm = 0
        self.tms = []         # TM slots of timeouts (reusable, for cleart)
        self.ivs = []         # TM slots of intervals (never set again; for cleart)
        self.nim = 0
        self.ncn = 0
        self.nsg = 0          # next SG slot (never reused: a signal lives as long as its program)
        self.sg_ctl = []      # SG slots of AbortControllers
        self.sg_frozen = set()  # sources of an any: no listener may come after (see s_delay)
        self.due = []         # (earliest, latest due ms, delay, exclusive)
        # sizes: most small / medium, ~5% large
        # (a budget unit is one statement chosen; the blocks it makes add some more lines)
        x = self.rnd()
        if x < 0.25:
            n = r.randint(1, 4)
        elif x < 0.65:
            n = r.randint(4, 12)
        elif x < 0.95 or not f['large']:
            n = r.randint(12, 40)
        else:
            n = r.randint(60, 200)
        self.size = n
        self.left = n
        # about half the programs without timers; max due time mostly <= 30, rarely 60
        self.use_tm = f['timers'] and self.rnd() < 0.55
        self.use_iv = self.use_tm and f['intervals'] and self.rnd() < 0.5
        self.use_imm = f['immediates'] and self.rnd() < 0.5
        self.groups = f['timer_groups'] and not self.use_imm
        self.tmax = 60 if self.rnd() < 0.05 else r.choice((20, 20, 25, 30))
        if self.use_imm:
            # the first loop turn: no timer within SEP (+3 ms of a late start) of it, so that
            # the immediates of main run before its timers
            self.due.append((0, 3, -1, True))

    # ---- small helpers -------------------------------------------------------------------

    def L(self):
        self.lab += 1
        return f'a{self.lab}'

    def newslot(self):
        if self.nv < 250:
            k = self.nv
            self.nv += 1
            return k
        return self.r.randrange(256)

    def anyslot(self):
        if self.nv and self.rnd() < 0.8:
            return self.r.randrange(self.nv)
        return self.newslot()

    def pslot(self):
        if self.pslots and self.rnd() < 0.9:
            return self.r.choice(self.pslots)
        return self.anyslot()

    def newblock(self, kind, role, times, phase, mult, mt, parent, cur=False):
        b = Blk(len(self.blocks), kind, role, times, phase, mult, mt,
                parent.depth + 1 if parent else 0, cur)
        # a thenable's then, and all it makes, never reads V (nor arg / acc, nor calls a
        # function, which could): its resolution must not lead back to a thenable kept in V,
        # whose then would run again, for ever
        b.nov = role == 'then' or (parent is not None and parent.nov)
        b.slack = parent.slack if parent else 0   # ms it may run late, at most (a guess)
        self.blocks.append(b)
        return b

    def can_throw(self, b):
        return b.mt or b.tryc > 0

    # ---- expressions ---------------------------------------------------------------------

    def plain(self, b):
        x = self.rnd()
        self.val += 1
        if b.nov and x >= 0.65:
            x = self.rnd() * 0.65
        if x < 0.3:
            if self.f['doubles'] and self.rnd() < 0.1:
                return self.double()
            return f'i {self.val}'
        if x < 0.45:
            return f's w{self.val}'
        if x < 0.6:
            return f'e E{self.val}'
        if x < 0.65:
            return 'u'
        if x < 0.75:
            return 'arg'
        if x < 0.83:
            return 'acc'
        if x < 0.88:
            return 'n'
        return f'v {self.anyslot()}'

    def double(self):
        """d M E: mantissas of 1-17 digits, exponents mostly small, at times at the ends of
        the range (subnormals, Infinity); both sides print it as JS's Number::toString."""
        r = self.r
        m = str(r.randrange(1, 10 ** r.randint(1, 17)))
        if r.random() < 0.3:
            m = '-' + m
        x = r.random()
        if x < 0.7:
            e = r.randint(-25, 25)
        elif x < 0.85:
            e = r.randint(-30, 30) - len(m)
        else:
            e = r.choice((r.randint(-345, -300), r.randint(290, 320)))
        return f'd {m} {e}'

    def err(self, b=None):
        self.val += 1
        if b is not None and self.f['odd_reasons'] and not b.nov and self.rnd() < 0.08:
            x = self.rnd()
            if x < 0.25:
                return 'u'
            if x < 0.35:
                return 'n'
            if x < 0.5:
                return self.r.choice(('arg', 'acc'))   # in a handler of `all`: an array
            if x < 0.75 or not self.f['thenables'] or b.depth >= 5 or self.left <= 0:
                return f'v {self.pslot()}'
            return f'th {self.thenable(b)}'
        if self.rnd() < 0.85:
            return f'e E{self.val}'
        return f'i {self.val}' if self.rnd() < 0.5 else f's w{self.val}'

    def prom(self, b, sync_ok=True):
        """A promise-like expression (promise, thenable, async call)."""
        f = self.f
        x = self.rnd()
        if x < 0.25:
            return f'res {self.plain(b)}'
        if x < 0.4:
            return f'rej {self.err()}'
        if x < 0.55 and f['thenables'] and b.depth < 5 and self.left > 0:
            return f'th {self.thenable(b)}'
        if x < 0.67 and f['async'] and b.depth < 5 and self.left > 0 and not b.nov:
            return f'call {self.asyncfn(b)} {self.r.randint(0, 3)}'
        if x < 0.72 and f['thenables'] and b.depth < 5:
            return f'res th {self.thenable(b)}'
        if b.nov:
            return f'res {self.plain(b)}'
        return f'v {self.pslot()}'

    def anyx(self, b):
        x = self.rnd()
        if x < 0.45:
            return self.plain(b)
        if x < 0.5 and b.depth < 5 and self.left > 0 and not b.nov:
            return f'call {self.syncfn(b)} {self.r.randint(0, 3)}'
        return self.prom(b)

    # ---- blocks --------------------------------------------------------------------------

    def nsub(self, b):
        """Statement count of a nested block."""
        if b.depth >= 4:
            return 1
        return self.r.choice((1, 1, 2, 2, 2, 3, 3, 4, 5, 6)) if self.left > 3 else 1

    def thenable(self, b):
        """A sync block for a thenable's then (called with res, rej; any time, maybe often)."""
        t = self.newblock('sync', 'then', None, 'unk', 'multi', True, b, True)
        out = t.lines
        out.append(f'log {self.L()}')
        self.left -= 1
        if self.rnd() < 0.3:
            self.body(t, 1)
            if t.dead:
                return t.bid
        x = self.rnd()
        if x < 0.3:
            out.append(f'tres {self.resval(t)}')
        elif x < 0.42:
            out.append(f'trej {self.err()}')
        elif x < 0.52:
            out.append(f'tres {self.resval(t)}')
            out.append(self.r.choice(('tres ', 'trej ')) + self.plain(t))
        elif x < 0.6:
            out.append(f'throw {self.err()}')
        elif x < 0.7:
            out.append(self.r.choice(('tres ', 'trej ')) + self.plain(t))
            out.append(f'throw {self.err()}')
        elif x < 0.9:
            k = self.newslot()
            out.append(f'tsave {k}')
            self.later_settle(t, k)
        else:
            pass                  # never calls back
        return t.bid

    def resval(self, b):
        """What to resolve something with: a value, a promise, a thenable (nested)."""
        x = self.rnd()
        if x < 0.55 or b.depth >= 5:
            return self.plain(b)
        return self.prom(b)

    def later_settle(self, b, k):
        """Settle R[k] later, from a microtask, tick, immediate or timer made in b."""
        opts = ['micro', 'tick']
        if self.use_imm:
            opts += ['imm', 'imm']
        if self.timer_ok(b):
            opts += ['timeout', 'timeout']
        how = self.r.choice(opts)
        verb = 'resolve' if self.rnd() < 0.7 else 'reject'
        if how == 'timeout':
            d = self.pick_delay(b, False)
            if d is None:
                how = 'micro'
        if how in ('micro', 'tick'):
            c = self.newblock('sync', 'task', b.times, b.phase, b.mult, False, b)
        elif how == 'imm':
            c = self.newblock('sync', 'task', b.times, 'imm', b.mult, False, b)
            c.slack += 1
        else:
            c = self.newblock('sync', 'task', frozenset(t + max(d, 1) for t in b.times),
                              'tgroup', b.mult, False, b)
            c.slack += 1
        c.lines.append(f'log {self.L()}')
        v = self.resval(c) if verb == 'resolve' else self.err()
        c.lines.append(f'{verb} {k} {v}')
        self.left -= 2
        if how in ('micro', 'tick'):
            b.lines.append(f'{how} {c.bid}')
        elif how == 'imm':
            b.lines.append(f'imm {self.imslot()} {c.bid}')
        else:
            b.lines.append(f'timeout {self.tmslot()} {d} {c.bid}')
        if k not in self.rslots:
            self.rslots.append(k)

    def executor(self, b, k):
        """The executor of newp k: sync, runs now, cur = the new promise's resolvers."""
        t = self.newblock('sync', 'exec', b.times, b.phase, b.mult, True, b, True)
        out = t.lines
        out.append(f'log {self.L()}')
        self.left -= 1
        if self.rnd() < 0.25:
            self.body(t, self.nsub(t))
            if t.dead:
                return t.bid
        x = self.rnd()
        if x < 0.35:
            out.append(f'tres {self.resval(t)}')
        elif x < 0.45:
            out.append(f'trej {self.err()}')
        elif x < 0.5:
            out.append(f'tres {self.plain(t)}')
            out.append(self.r.choice(('tres ', 'trej ')) + self.plain(t))
        elif x < 0.55:
            out.append(f'throw {self.err()}')
        elif x < 0.6:
            out.append(f'tres {self.plain(t)}')
            out.append(f'throw {self.err()}')
        elif x < 0.85:
            self.later_settle(t, k)
        elif x < 0.9:
            k2 = self.newslot()
            out.append(f'tsave {k2}')
            self.rslots.append(k2)
        else:
            pass                  # stays pending (unless someone resolves R[k])
        return t.bid

    def syncfn(self, b):
        """A sync block called now (call B N): its throw propagates to the caller."""
        f = self.f
        if f['recursion'] and self.rnd() < 0.3:
            return self.recfn(b, 'sync')
        t = self.newblock('sync', 'call', b.times, b.phase, b.mult, self.can_throw(b),
                          b)
        t.lines.append(f'logv {self.L()} n')
        self.left -= 1
        self.body(t, self.nsub(t))
        self.ending(t)
        return t.bid

    def asyncfn(self, b):
        """An async block called now; its sync part runs now."""
        if self.f['recursion'] and self.rnd() < 0.25:
            return self.recfn(b, 'async')
        t = self.newblock('async', 'call', b.times, b.phase, b.mult, True, b)
        t.lines.append(f'logv {self.L()} n')
        self.left -= 1
        self.body(t, self.nsub(t) + 1)
        self.ending(t)
        return t.bid

    def recfn(self, b, kind):
        mt = True if kind == 'async' else self.can_throw(b)
        t = self.newblock(kind, 'rec', b.times, b.phase, 'multi', mt, b)
        out = t.lines
        out.append(f'logv {self.L()} n')
        x = self.rnd()
        if kind == 'async' and x < 0.5:
            out.append(f'await rec {t.bid}')
            out.append(f'logv {self.L()} acc')
        elif x < 0.8:
            k = self.newslot()
            out.append(f'set {k} rec {t.bid}')
            out.append(f'logv {self.L()} v {k}')
        else:
            out.append(f'logv {self.L()} rec {t.bid}')
            out.append(f'logv {self.L()} rec {t.bid}')
        self.left -= 3
        if self.rnd() < 0.3:
            self.body(t, 1)
        if kind == 'async' and self.rnd() < 0.5:
            out.append('retawait ' + self.r.choice(('n', 'acc', 'res n')))
        elif mt and self.rnd() < 0.15:
            out.append(f'throw {self.err()}')
        else:
            out.append('return ' + self.r.choice(('n', 'acc', f'i {self.val}', 'res n')))
        return t.bid

    def handler(self, b, role, selfk=None):
        """A then/catch/finally callback: runs at an unknown time."""
        kind = 'async' if self.f['async'] and self.rnd() < 0.25 else 'sync'
        mult = 'once' if b.mult == 'once' else 'multi'
        t = self.newblock(kind, role, None, 'unk', mult, True, b)
        t.selfk = selfk
        if role == 'fin':
            t.lines.append(f'log {self.L()}')
        else:
            t.lines.append(f'logv {self.L()} arg')
        self.left -= 1
        if self.rnd() < 0.5:
            self.body(t, self.nsub(t) - 1)
        self.ending(t)
        return t.bid

    def logger(self, b):
        """A handler that only logs its argument."""
        t = self.newblock('sync', 'handler', None, 'unk', 'multi', True, b)
        t.lines.append(f'logv {self.L()} arg')
        self.left -= 1
        return t.bid

    def ending(self, t):
        """How a handler / function ends: return (value, promise, thenable, itself), throw."""
        if t.dead:
            return
        x = self.rnd()
        out = t.lines
        if t.selfk is not None and self.f['self_resolution'] and x < 0.08 and not t.nov:
            out.append(f'return v {t.selfk}')
        elif x < 0.4:
            out.append(f'return {self.plain(t)}')
        elif x < 0.6:
            op = 'retawait' if t.kind == 'async' and self.rnd() < 0.5 else 'return'
            out.append(f'{op} {self.prom(t)}')
        elif x < 0.75 and t.mt:
            out.append(f'throw {self.err(t)}')
        # else: falls off the end

    def task(self, b, how, times, phase, mult, mt):
        """A callback block for micro/tick/imm/timeout/interval."""
        kind = 'async' if self.f['async'] and self.rnd() < 0.15 else 'sync'
        if kind == 'async':
            mt = True          # a throw rejects its (dropped) promise
        t = self.newblock(kind, 'task', times, phase, mult, mt, b)
        t.lines.append(f'log {self.L()}')
        self.left -= 1
        return t

    # ---- timers: the due time model ------------------------------------------------------

    def timer_ok(self, b):
        return self.use_tm and b.times is not None and (b.mult != 'multi' or self.groups)

    def fits(self, dues, delay, excl, mult):
        """May timers of this delay be due in these (earliest, latest) ms ranges? Each must be
        SEP ms away from every other timer's range, except timers of the same delay (one Node
        timer list: they run in the order they were made) in programs without immediates."""
        if mult == 'multi' and (excl or not self.groups):
            return False
        grp = self.groups and not excl
        for lo, hi in dues:
            if hi > self.tmax:
                return False
            for (rlo, rhi, dl, ex) in self.due:
                if lo < rhi + SEP and rlo < hi + SEP:
                    if not grp or ex or dl != delay:
                        return False
        return True

    def pick_delay(self, b, excl, reps=1):
        """A delay D for a timer made in b (fires reps times, every D), reserved; or None."""
        r = self.r
        sl = b.slack
        for _ in range(4):
            x = self.rnd()
            if x < 0.25:
                d = r.choice((0, 1, 1, 2))
            elif x < 0.85:
                d = SEP * r.choice((1, 1, 1, 2, 2, 3, 4))
            else:
                d = r.randint(3, 3 * SEP)
            if reps > 1 and d < SEP:
                d = SEP
            de = max(d, 1)
            # a timer runs a little late (more on a busy machine), an interval's k-th run k
            # times that; what it makes inherits the lateness
            dues = [(t + de * k, t + de * k + sl + k) for t in b.times for k in range(1, reps + 1)]
            if self.fits(dues, de, excl, b.mult):
                for lo, hi in dues:
                    self.due.append((lo, hi, de, excl))
                return d
        return None

    def tmslot(self):
        if self.ntm < 64 and (not self.tms or self.rnd() < 0.85):
            k = self.ntm
            self.ntm += 1
            self.tms.append(k)
            return k
        if self.tms:
            return self.r.choice(self.tms)
        return self.r.randrange(64)  # unreachable in practice: 64 intervals

    def imslot(self):
        if self.nim < 64:
            k = self.nim
            self.nim += 1
            return k
        return self.r.randrange(64)

    # ---- statements ----------------------------------------------------------------------

    def s_log(self, b):
        b.lines.append(f'log {self.L()}')

    def s_logv(self, b):
        b.lines.append(f'logv {self.L()} {self.anyx(b) if self.rnd() < 0.5 else self.plain(b)}')

    def s_set(self, b):
        k = self.newslot() if self.rnd() < 0.7 else self.anyslot()
        if self.rnd() < 0.6:
            e = self.prom(b)
            self.pslots.append(k)
        else:
            e = self.anyx(b)
        b.lines.append(f'set {k} {e}')

    def s_newp(self, b):
        k = self.newslot() if self.rnd() < 0.9 else self.anyslot()
        e = self.executor(b, k)
        b.lines.append(f'newp {k} {e}')
        self.pslots.append(k)
        self.rslots.append(k)
        if self.rnd() < 0.5:
            self.observe(b, k)

    def s_withres(self, b):
        k = self.newslot()
        b.lines.append(f'withres {k}')
        self.pslots.append(k)
        self.rslots.append(k)
        if self.rnd() < 0.4:
            self.observe(b, k)
        if self.rnd() < 0.3:
            self.later_settle(b, k)

    def s_resolve(self, b):
        k = self.r.choice(self.rslots) if self.rslots and self.rnd() < 0.9 else self.anyslot()
        if self.rnd() < 0.65:
            if self.f['self_resolution'] and self.rnd() < 0.06 and not b.nov:
                v = f'v {k}'
            else:
                v = self.resval(b)
            b.lines.append(f'resolve {k} {v}')
        else:
            b.lines.append(f'reject {k} {self.err(b)}')

    def observe(self, b, k):
        """Attach logging handlers to V[k]."""
        k2 = self.newslot()
        x = self.rnd()
        if x < 0.6:
            b.lines.append(f'then {k2} {k} {self.logger(b)} {self.logger(b)}')
        elif x < 0.85:
            b.lines.append(f'catch {k2} {k} {self.logger(b)}')
        else:
            b.lines.append(f'then {k2} {k} {self.logger(b)} -')
        self.pslots.append(k2)

    def s_then(self, b):
        j = self.pslot()
        k = self.newslot()
        x = self.rnd()
        if x < 0.55:
            f = self.handler(b, 'handler', k)
            g = self.handler(b, 'handler', k) if self.rnd() < 0.5 else '-'
            b.lines.append(f'then {k} {j} {f} {g}')
        elif x < 0.8:
            b.lines.append(f'catch {k} {j} {self.handler(b, "handler", k)}')
        elif x < 0.97 or not self.f['finally_none']:
            b.lines.append(f'finally {k} {j} {self.handler(b, "fin", k)}')
        else:
            b.lines.append(f'finally {k} {j} -')
        self.pslots.append(k)
        if self.rnd() < 0.3:
            self.observe(b, k)

    def s_comb(self, b):
        op = self.r.choice(('all', 'allset', 'race', 'any'))
        c = 0 if self.rnd() < 0.1 else self.r.randint(1, 4)
        items = []
        for _ in range(c):
            x = self.rnd()
            if x < 0.12 and self.f['withres'] and not b.nov:
                k = self.newslot()        # never settles (nobody has its resolvers)
                b.lines.append(f'withres {k}')
                items.append(f'v {k}')
            else:
                items.append(self.plain(b) if x < 0.3 else self.prom(b))
        k = self.newslot()
        b.lines.append(' '.join([op, str(k), str(c)] + items))
        self.pslots.append(k)
        if self.rnd() < 0.8:
            self.observe(b, k)

    def s_late(self, b):
        """A rejected promise handled later: in a timer, an immediate, the same drain, never."""
        k = self.newslot()
        if self.rnd() < 0.6:
            b.lines.append(f'set {k} rej {self.err(b)}')
        else:
            e = self.newblock('sync', 'exec', b.times, b.phase, b.mult, True, b, True)
            e.lines.append(f'log {self.L()}')
            e.lines.append(f'trej {self.err()}')
            self.left -= 1
            b.lines.append(f'newp {k} {e.bid}')
        self.pslots.append(k)
        opts = ['micro', 'tick', 'never']
        if self.use_imm:
            opts += ['imm', 'imm']
        if self.timer_ok(b):
            opts += ['timeout', 'timeout', 'timeout']
        how = self.r.choice(opts)
        if how == 'never':
            return
        d = None
        if how == 'timeout':
            d = self.pick_delay(b, False)
            if d is None:
                how = 'micro'
        if how == 'timeout':
            t = self.task(b, how, frozenset(x + max(d, 1) for x in b.times), 'tgroup', b.mult,
                          False)
            t.slack += 1
        else:
            t = self.task(b, how, b.times, 'imm' if how == 'imm' else b.phase, b.mult, False)
        k2 = self.newslot()
        if self.rnd() < 0.7:
            t.lines.append(f'catch {k2} {k} {self.logger(t)}')
        else:
            t.lines.append(f'then {k2} {k} {self.logger(t)} {self.handler(t, "handler", k2)}')
        self.pslots.append(k2)
        if how == 'timeout':
            b.lines.append(f'timeout {self.tmslot()} {d} {t.bid}')
        elif how == 'imm':
            b.lines.append(f'imm {self.imslot()} {t.bid}')
        else:
            b.lines.append(f'{how} {t.bid}')

    def s_call(self, b):
        x = self.rnd()
        if x < 0.5 or not self.f['async']:
            e = f'call {self.syncfn(b)} {self.r.randint(0, 4)}'
        else:
            e = f'call {self.asyncfn(b)} {self.r.randint(0, 4)}'
        if self.rnd() < 0.5:
            b.lines.append(f'logv {self.L()} {e}')
        else:
            k = self.newslot()
            b.lines.append(f'set {k} {e}')
            self.pslots.append(k)

    def s_selfcall(self, b):
        """An async function resolving its own promise with itself (after an await)."""
        k = self.newslot()
        t = self.newblock('async', 'call', b.times, b.phase, b.mult, True, b)
        t.lines.append(f'log {self.L()}')
        t.lines.append('await ' + self.r.choice(('u', 'res u', f'i {self.val}')))
        t.lines.append(f'return v {k}')
        self.left -= 2
        b.lines.append(f'set {k} call {t.bid} 0')
        self.pslots.append(k)
        self.observe(b, k)

    def s_micro(self, b):
        mt = self.f['microtask_throw'] and self.rnd() < 0.2
        t = self.task(b, 'micro', b.times, b.phase, b.mult, mt)
        self.body(t, self.nsub(t) - 1)
        if mt and t.kind == 'sync' and self.rnd() < 0.6:
            t.lines.append(f'throw {self.err()}')
        b.lines.append(f'micro {t.bid}')

    def s_tick(self, b):
        # A throwing nextTick of main's drain leaves the rest of the drain to the first callback
        # of the first loop turn: a timer if one is due by then, else the check phase (the
        # harness's empty immediate). Only programs with immediates keep timers away from the
        # first turn (found: s526050 of the first million, a 1 ms timer).
        mt = (self.f['tick_throw'] and (self.use_imm or b.phase in ('tgroup', 'imm'))
              and self.rnd() < 0.2)
        t = self.task(b, 'tick', b.times, b.phase, b.mult, mt)
        self.body(t, self.nsub(t) - 1)
        if mt and t.kind == 'sync' and self.rnd() < 0.6:
            t.lines.append(f'throw {self.err()}')
        b.lines.append(f'tick {t.bid}')

    def s_imm(self, b):
        if not self.use_imm:
            return self.s_micro(b)
        thrower = self.f['throwing_tasks'] and self.rnd() < 0.15
        t = self.task(b, 'imm', b.times, 'imm', b.mult, False)
        t.slack += 1
        if thrower and t.kind == 'sync':
            # a throwing immediate: its body, then the throw (Node's phase restart; libawait
            # models it, see DESIGN.md section 3)
            self.body(t, self.nsub(t) - 1)
            t.lines.append(f'throw {self.err()}')
        else:
            self.body(t, self.nsub(t) - 1)
        i = self.imslot()
        b.lines.append(f'imm {i} {t.bid}')
        if self.f['clears'] and self.rnd() < 0.1:
            b.lines.append(f'cleari {i}')

    def s_timeout(self, b):
        if not self.timer_ok(b):
            return self.s_imm(b) if self.use_imm else self.s_micro(b)
        thrower = (self.f['throwing_tasks'] and b.mult != 'multi' and self.rnd() < 0.15)
        # A throwing timer is alone in its phase: after its throw Node restarts the phase with
        # no drain before the next timer, and whether a timer of the same list made a moment
        # later (in a tick of the same drain) is due by then is a millisecond boundary's call
        # (found: s853474 of the million on b784f1b).
        d = self.pick_delay(b, thrower)
        if d is None:
            return self.s_log(b)
        times = frozenset(t + max(d, 1) for t in b.times)
        t = self.task(b, 'timeout', times, 'tgroup', b.mult, thrower)
        t.slack += 1
        self.body(t, self.nsub(t) - 1)
        if thrower and t.kind == 'sync' and self.rnd() < 0.7:
            t.lines.append(f'throw {self.err()}')
        k = self.tmslot()
        b.lines.append(f'timeout {k} {d} {t.bid}')
        if self.f['clears'] and self.rnd() < 0.08:
            b.lines.append(f'cleart {k}')

    def s_interval(self, b):
        if not (self.use_iv and b.mult == 'once' and self.timer_ok(b) and self.ntm < 64
                and self.ncn < 64):
            return self.s_timeout(b)
        thrower = self.f['throwing_tasks'] and self.rnd() < 0.15
        n = self.r.randint(1, 4)
        d = self.pick_delay(b, thrower or self.rnd() < 0.3, n)
        if d is None:
            return self.s_log(b)
        de = max(d, 1)
        times = frozenset(t + de * j for t in b.times for j in range(1, n + 1))
        k = self.ntm          # its own TM slot: nothing else sets it
        self.ntm += 1
        c = self.ncn
        self.ncn += 1
        t = self.task(b, 'interval', times, 'tgroup', 'seq', thrower)
        t.slack += n
        t.lines.insert(0, f'countclear {c} {n} {k}')
        self.body(t, self.nsub(t) - 1)
        if thrower and t.kind == 'sync' and self.rnd() < 0.7:
            t.lines.append(f'throw {self.err()}')
        b.lines.append(f'interval {k} {d} {t.bid}')
        if self.f['clears'] and self.rnd() < 0.05:
            b.lines.append(f'cleart {k}')
        self.ivs.append(k)

    def s_ptry(self, b):
        """Promise.try of a block called now: its throw rejects the new promise."""
        kind = 'async' if self.f['async'] and self.rnd() < 0.3 else 'sync'
        t = self.newblock(kind, 'call', b.times, b.phase, b.mult, True, b)
        t.lines.append(f'logv {self.L()} n')
        self.left -= 1
        self.body(t, self.nsub(t) + (kind == 'async'))
        self.ending(t)
        k = self.newslot()
        b.lines.append(f'ptry {k} {t.bid}')
        self.pslots.append(k)
        if self.rnd() < 0.5:
            self.observe(b, k)

    def s_state(self, b):
        b.lines.append(f'state {self.L()} {self.pslot()}')

    def s_spawn(self, b):
        """An async block called now as a detached task; G logs what it throws."""
        t = self.newblock('async', 'call', b.times, b.phase, b.mult, True, b)
        t.lines.append(f'logv {self.L()} n')
        self.left -= 1
        self.body(t, self.nsub(t) + 1)
        self.ending(t)
        g = self.logger(b) if self.rnd() < 0.75 else '-'
        b.lines.append(f'spawn {t.bid} {g}')

    def s_rejmode(self, b):
        b.lines.append('rejmode ' + self.r.choice(('throw', 'warn', 'warn', 'none')))

    def s_unref(self, b):
        """A timeout unref'd at once, then: a later timer that keeps the program alive until
        after it (the keeper: its own TM slot, which nothing clears), a ref again, or a clear. An
        unref'd timer nothing outlives would race the end of the program."""
        if not (self.timer_ok(b) and b.mult == 'once'):
            return self.s_timeout(b)
        d = self.pick_delay(b, False)
        if d is None:
            return self.s_log(b)
        t = self.task(b, 'timeout', frozenset(x + max(d, 1) for x in b.times), 'tgroup', b.mult,
                      False)
        t.slack += 1
        self.body(t, self.nsub(t) - 1)
        k = self.tmslot()
        b.lines.append(f'timeout {k} {d} {t.bid}')
        b.lines.append(f'unref {k}')
        x = self.rnd()
        if x < 0.65 and self.ntm < 64:
            # keeper due >= SEP after the unref'd one's latest due, whichever time b runs at
            spread = max(b.times) - min(b.times)
            lo = max(d, 1) + spread + b.slack + 1 + SEP
            for dk in (lo, lo + 1, lo + SEP, lo + 2 * SEP):
                dues = [(x + dk, x + dk + b.slack + 1) for x in b.times]
                if self.fits(dues, dk, False, b.mult):
                    for a, z in dues:
                        self.due.append((a, z, dk, False))
                    kt = self.task(b, 'timeout', frozenset(x + dk for x in b.times), 'tgroup',
                                   b.mult, False)
                    kt.slack += 1
                    kk = self.ntm
                    self.ntm += 1
                    b.lines.append(f'timeout {kk} {dk} {kt.bid}')
                    return
        if x < 0.85 or self.rnd() < 0.5:
            b.lines.append(f'ref {k}')
        else:
            b.lines.append(f'cleart {k}')

    def s_ghost(self, b):
        """Timeouts of many delays (many timer lists), all cleared at once in some order, or far
        in the future and unref'd, so that they never run (the program ends long before)."""
        if self.ntm > 48:
            return self.s_log(b)
        g = self.newblock('sync', 'task', None, 'unk', 'multi', False, b)
        g.lines.append(f'log {self.L()}')
        self.left -= 1
        forever = self.f['unref'] and self.rnd() < 0.3
        ks = []
        # cleared at once, any delay would do; short ones keep a shrunk program without its
        # clears quick (it then runs them, late and alone)
        for _ in range(self.r.randint(2, 5) if forever else self.r.randint(3, 14)):
            k = self.ntm
            self.ntm += 1
            d = self.r.randint(600000, 900000) if forever else self.r.randint(200, 3000)
            b.lines.append(f'timeout {k} {d} {g.bid}')
            ks.append(k)
        self.r.shuffle(ks)
        for k in ks:
            b.lines.append(f'unref {k}' if forever else f'cleart {k}')

    def s_sig(self, b):
        """A new signal: a controller's, AbortSignal.timeout (a due time of its own, kept apart
        from every other: it aborts then if the program still runs), or AbortSignal.any."""
        if self.nsg >= 64:
            return self.s_sigstate(b)
        k = self.nsg
        x = self.rnd()
        if x < 0.3 and self.timer_ok(b) and b.mult == 'once':
            d = self.pick_delay(b, True)
            if d is not None:
                self.nsg += 1
                b.lines.append(f'sigto {k} {d}')
                return
        if x < 0.6 and self.nsg:
            srcs = [str(self.r.randrange(self.nsg)) for _ in range(self.r.randint(0, 3))]
            self.nsg += 1
            self.sg_frozen.update(int(s) for s in srcs)
            b.lines.append(' '.join(['sigany', str(k), str(len(srcs))] + srcs))
            return
        self.nsg += 1
        self.sg_ctl.append(k)
        b.lines.append(f'sig {k}')

    def s_abort(self, b):
        k = self.r.choice(self.sg_ctl) if self.rnd() < 0.9 else self.r.randrange(64)
        e = 'u' if self.rnd() < 0.4 else self.err(b)
        b.lines.append(f'abort {k} {e}')

    def s_sigstate(self, b):
        k = self.r.randrange(self.nsg) if self.nsg and self.rnd() < 0.95 else self.r.randrange(64)
        b.lines.append(f'sigstate {self.L()} {k}')

    def s_delay(self, b):
        """await-able timers/promises setTimeout: a timer (due time reserved as a timeout's)."""
        if not self.timer_ok(b):
            return self.s_log(b)
        d = self.pick_delay(b, False)
        if d is None:
            return self.s_log(b)
        s = '-'
        if self.f['delay_signal'] and self.nsg and self.rnd() < 0.6:
            # its abort listener comes after every listener of the signal so far: in Node 20 an
            # AbortSignal.any made from the signal aborts after all of them, in libawait where it
            # listens; no listener after one
            ok = [i for i in range(self.nsg) if i not in self.sg_frozen]
            if ok:
                s = str(self.r.choice(ok))
        k = self.newslot()
        b.lines.append(f'delay {k} {d} {s}')
        self.pslots.append(k)
        if self.rnd() < 0.7:
            self.observe(b, k)

    def s_clear(self, b):
        if (self.tms or self.ivs) and (self.rnd() < 0.6 or not self.nim):
            b.lines.append(f'cleart {self.r.choice(self.tms + self.ivs)}')
        elif self.nim:
            b.lines.append(f'cleari {self.r.randrange(self.nim)}')
        else:
            self.s_log(b)

    def s_await(self, b):
        x = self.rnd()
        if x < 0.25:
            e = self.plain(b)
        else:
            e = self.prom(b)
        b.lines.append(f'await {e}')
        b.times = None            # the rest runs at an unknown time
        b.phase = 'unk'
        if b.mult == 'seq':
            b.mult = 'multi'
        b.cw = None
        if self.rnd() < 0.7:
            b.lines.append(f'logv {self.L()} acc')

    def s_throw(self, b):
        b.lines.append(f'throw {self.err(b)}')
        b.dead = True

    def s_tcur(self, b):
        x = self.rnd()
        if x < 0.5:
            b.lines.append(f'tres {self.resval(b)}')
        elif x < 0.8:
            b.lines.append(f'trej {self.err()}')
        else:
            k = self.newslot()
            b.lines.append(f'tsave {k}')
            self.rslots.append(k)

    def s_try(self, b):
        out = b.lines
        has_c = self.rnd() < 0.8
        has_f = not has_c or self.rnd() < 0.4
        out.append('try')
        if has_c:
            b.tryc += 1
        out.append(f'log {self.L()}')
        self.left -= 1
        self.section(b, self.r.randint(1, 3), True)
        b.dead = False
        if has_c:
            b.tryc -= 1
            out.append('catch')
            out.append(f'logv {self.L()} acc')
            self.left -= 1
            self.section(b, self.r.randint(0, 2), True)
            b.dead = False
        if has_f:
            out.append('finally')
            out.append(f'log {self.L()}')
            self.left -= 1
            self.section(b, self.r.randint(0, 1), False)
            b.dead = False
        out.append('endtry')

    def section(self, b, n, may_end):
        """n statements of a try section; ends it early with a return or a throw at times."""
        for _ in range(n):
            if b.dead:
                return True
            self.stmt(b)
        if b.dead:
            return True
        x = self.rnd()
        if may_end and x < 0.2 and b.role != 'main':
            if b.kind == 'async' and self.rnd() < 0.5:
                b.lines.append(f'retawait {self.prom(b)}')
            else:
                b.lines.append(f'return {self.plain(b)}')
            return True
        if may_end and x < 0.45 and self.can_throw(b):
            b.lines.append(f'throw {self.err()}')
            return True
        return False

    # ---- the statement chooser -----------------------------------------------------------

    def weights(self, b):
        f = self.f
        fns = [self.s_log, self.s_logv, self.s_set, self.s_newp, self.s_then, self.s_resolve]
        w = [3, 3, 4, 5, 8, 3]
        if f['withres']:
            fns.append(self.s_withres)
            w.append(2)
        if not b.nov:
            fns.append(self.s_late)
            w.append(1.5)
        if f['combinators']:
            fns.append(self.s_comb)
            w.append(3)
        if b.depth < 5 and not b.nov:
            fns.append(self.s_call)
            w.append(2)
        if f['micro']:
            fns.append(self.s_micro)
            w.append(2)
        if f['ticks']:
            fns.append(self.s_tick)
            w.append(2)
        if self.use_imm:
            fns.append(self.s_imm)
            w.append(2)
        if self.timer_ok(b):
            fns.append(self.s_timeout)
            w.append(6 if b.role == 'main' else 3)
            if self.use_iv and b.mult == 'once':
                fns.append(self.s_interval)
                w.append(2)
        if f['clears'] and (self.tms or self.ivs or self.nim):
            fns.append(self.s_clear)
            w.append(1)
        if f['ptry'] and b.depth < 5 and not b.nov:
            fns.append(self.s_ptry)
            w.append(1.5)
        if f['state']:
            fns.append(self.s_state)
            w.append(1.5)
        if f['spawn'] and f['async'] and b.depth < 5 and not b.nov:
            fns.append(self.s_spawn)
            w.append(1)
        if f['rejmode']:
            fns.append(self.s_rejmode)
            w.append(0.3)
        if f['unref'] and self.timer_ok(b) and b.mult == 'once':
            fns.append(self.s_unref)
            w.append(1.5)
        if f['signals']:
            fns.append(self.s_sig)
            w.append(1 if self.nsg < 64 else 0)
            if self.sg_ctl:
                fns.append(self.s_abort)
                w.append(1)
            if self.nsg:
                fns.append(self.s_sigstate)
                w.append(1)
        if f['delay'] and self.timer_ok(b):
            fns.append(self.s_delay)
            w.append(1.5)
        if f['ghost_timers']:
            fns.append(self.s_ghost)
            w.append(0.3)
        if f['try'] and b.depth < 5:
            fns.append(self.s_try)
            w.append(2)
        if b.kind == 'async':
            fns.append(self.s_await)
            w.append(8)
        if b.cur:
            fns.append(self.s_tcur)
            w.append(2)
        if self.can_throw(b) and b.role != 'main':
            fns.append(self.s_throw)
            w.append(0.5)
        if f['self_resolution'] and f['async'] and not b.nov:
            fns.append(self.s_selfcall)
            w.append(0.15)
        cw, s = [], 0
        for x in w:
            s += x
            cw.append(s)
        b.fns = fns
        b.cw = cw

    def stmt(self, b):
        if self.left <= 0 or b.depth >= 6:
            b.lines.append(f'log {self.L()}')
            self.left -= 1
            return
        if b.cw is None:
            self.weights(b)
        self.left -= 1
        fn = self.r.choices(b.fns, cum_weights=b.cw)[0]
        fn(b)

    def body(self, b, n):
        for _ in range(n):
            if b.dead:
                return
            self.stmt(b)

    # ---- the program ---------------------------------------------------------------------

    def program(self):
        f = self.f
        main = self.newblock('sync', 'main', NOW, 'main', 'once', False, None)
        hooks = ['-', '-', '-']
        if f['hooks']:
            for i, p in enumerate((0.6, 0.35, 0.35)):
                if self.rnd() < p:
                    h = self.newblock('sync', 'hook', None, 'unk', 'multi', False, None)
                    if i == 0:
                        h.lines.append(f'logv {self.L()} arg')
                        h.lines.append(f'logp {self.L()}')
                    elif i == 1:
                        h.lines.append(f'logp {self.L()}')
                    else:
                        h.lines.append(f'logv {self.L()} arg')
                    hooks[i] = str(h.bid)
        main.lines.append(f'log {self.L()}')
        if self.use_tm and self.rnd() < 0.8:
            self.left -= 1
            (self.s_interval if self.use_iv and self.rnd() < 0.3 else self.s_timeout)(main)
        if self.use_imm and self.rnd() < 0.5:
            self.left -= 1
            self.s_imm(main)
        while self.left > 0:
            self.stmt(main)
        out = [f'program s{self.seed}', 'hooks ' + ' '.join(hooks)]
        for b in self.blocks:
            out.append(f'block {b.bid} {b.kind}')
            out.extend(b.lines)
            out.append('endblock')
        out.append('end')
        return '\n'.join(out) + '\n'


# ---- well-formedness (IR.md), for the generator's own tests -------------------------------

class Bad(Exception):
    pass


def check(text):
    """Raise Bad unless every program of the batch text is well formed per IR.md (and keeps the
    generator's own promises: unique labels, intervals ending themselves, logging-only hooks,
    no throw at the top of main). Returns the number of programs."""
    import emit_js  # its parser: structure only (programs, hooks, blocks, statement tokens)
    try:
        parsed = emit_js.parse(text)
    except (emit_js.IRError, ValueError, IndexError) as e:
        raise Bad(str(e)) from e
    progs = [{'name': q.name, 'hooks': list(q.hooks) if q.hooks_given else None,
              'blocks': q.blocks} for q in parsed]
    for p in progs:
        _check_prog(p)
    return len(progs)


def _check_prog(p):
    name, blocks = p['name'], p['blocks']
    if sorted(blocks) != list(range(len(blocks))) or blocks[0][0] != 'sync':
        raise Bad(f'{name}: blocks not dense from a sync block 0')
    if p['hooks'] is None or len(p['hooks']) != 3:
        raise Bad(f'{name}: bad hooks line')
    labels = set()
    iv_slots = {}         # TM slot -> interval statements
    tm_sets = {}          # TM slot -> timeout statements
    cns = set()
    ivblocks = []
    errblocks = []        # spawn's on_error blocks: they only log, as hooks

    def fail(msg):
        raise Bad(f'{name}: {msg}')

    def bref(s, sync=False):
        b = int(s)
        if b not in blocks:
            fail(f'unknown block {b}')
        if sync and blocks[b][0] != 'sync':
            fail(f'block {b} must be sync')
        return b

    def slot(s, lim):
        k = int(s)
        if not 0 <= k < lim:
            fail(f'slot {k} out of range')
        return k

    def label(s):
        if s in labels:
            fail(f'label {s} twice')
        if not s.replace('_', '').isalnum():
            fail(f'bad label {s}')
        labels.add(s)

    def expr(t, i):
        k = t[i]
        if k in ('i',):
            int(t[i + 1])
            return i + 2
        if k == 'd':
            int(t[i + 1]), int(t[i + 2])
            if len(t[i + 1]) > 20 or len(t[i + 2]) > 5:
                fail('bad double')
            return i + 3
        if k in ('s', 'e'):
            if not t[i + 1].replace('_', '').isalnum():
                fail(f'bad word {t[i + 1]}')
            return i + 2
        if k in ('u', 'arg', 'acc', 'n'):
            return i + 1
        if k == 'v':
            slot(t[i + 1], 256)
            return i + 2
        if k == 'th':
            bref(t[i + 1], True)
            return i + 2
        if k == 'call':
            bref(t[i + 1])
            int(t[i + 2])
            return i + 3
        if k == 'rec':
            bref(t[i + 1])
            return i + 2
        if k in ('res', 'rej'):
            return expr(t, i + 1)
        fail(f'unknown expression {k}')

    def one(t, i):
        if expr(t, i) != len(t):
            fail('trailing tokens: ' + ' '.join(t))

    for bid, (kind, lines) in blocks.items():
        depth = []        # per open try: sections seen
        for t in lines:
            op = t[0]
            if depth and op in ('catch', 'finally') and len(t) == 1:
                sec = depth[-1]
                if op == 'catch' and sec != ['try']:
                    fail(f'block {bid}: catch out of order')
                if op == 'finally' and 'finally' in sec:
                    fail(f'block {bid}: finally twice')
                sec.append(op)
                continue
            if op == 'try' and len(t) == 1:
                depth.append(['try'])
            elif op == 'endtry' and len(t) == 1:
                if not depth or len(depth[-1]) < 2:
                    fail(f'block {bid}: bad endtry')
                depth.pop()
            elif op == 'log':
                label(t[1])
                if len(t) != 2:
                    fail('bad log')
            elif op == 'logv':
                label(t[1])
                one(t, 2)
            elif op == 'logp':
                label(t[1])
                if len(t) != 2:
                    fail('bad logp')
            elif op == 'set':
                slot(t[1], 256)
                one(t, 2)
            elif op == 'newp':
                slot(t[1], 256)
                bref(t[2], True)
            elif op == 'withres':
                slot(t[1], 256)
            elif op == 'ptry':
                slot(t[1], 256)
                bref(t[2])
                if len(t) != 3:
                    fail('bad ptry')
            elif op == 'state':
                label(t[1])
                slot(t[2], 256)
                if len(t) != 3:
                    fail('bad state')
            elif op in ('unref', 'ref'):
                slot(t[1], 64)
                if len(t) != 2:
                    fail('bad ' + op)
            elif op == 'spawn':
                if len(t) != 3:
                    fail('bad spawn')
                if blocks[bref(t[1])][0] != 'async':
                    fail(f'spawn of the sync block {t[1]}')
                if t[2] != '-':
                    errblocks.append(bref(t[2], True))
            elif op == 'sig':
                slot(t[1], 64)
                if len(t) != 2:
                    fail('bad sig')
            elif op == 'sigto':
                slot(t[1], 64)
                if len(t) != 3 or int(t[2]) < 0:
                    fail('bad sigto')
            elif op == 'sigany':
                slot(t[1], 64)
                if len(t) != 3 + int(t[2]):
                    fail('bad sigany')
                for x in t[3:]:
                    slot(x, 64)
            elif op == 'abort':
                slot(t[1], 64)
                one(t, 2)
            elif op == 'sigstate':
                label(t[1])
                slot(t[2], 64)
                if len(t) != 3:
                    fail('bad sigstate')
            elif op == 'delay':
                slot(t[1], 256)
                if len(t) != 4 or int(t[2]) < 0:
                    fail('bad delay')
                if t[3] != '-':
                    slot(t[3], 64)
            elif op == 'rejmode':
                if len(t) != 2 or t[1] not in ('throw', 'warn', 'none'):
                    fail('bad rejmode')
            elif op in ('resolve', 'reject'):
                slot(t[1], 256)
                one(t, 2)
            elif op in ('tres', 'trej', 'await', 'return', 'retawait', 'throw'):
                one(t, 1)
                if op in ('await', 'retawait') and kind != 'async':
                    fail(f'block {bid}: {op} in a sync block')
                if op == 'throw' and bid == 0 and not depth:
                    fail('throw at the top of main')
            elif op == 'tsave':
                slot(t[1], 256)
            elif op == 'then':
                slot(t[1], 256), slot(t[2], 256)
                for h in t[3:5]:
                    if h != '-':
                        bref(h)
                if len(t) != 5:
                    fail('bad then')
            elif op in ('catch', 'finally'):
                slot(t[1], 256), slot(t[2], 256)
                if t[3] != '-' or op == 'catch':
                    bref(t[3])
                if len(t) != 4:
                    fail('bad ' + op)
            elif op in ('all', 'allset', 'race', 'any'):
                slot(t[1], 256)
                i = 3
                for _ in range(int(t[2])):
                    i = expr(t, i)
                if i != len(t):
                    fail('trailing tokens: ' + ' '.join(t))
            elif op in ('micro', 'tick'):
                bref(t[1])
            elif op == 'imm':
                slot(t[1], 64)
                bref(t[2])
            elif op == 'timeout':
                tm_sets.setdefault(slot(t[1], 64), []).append(t)
                if int(t[2]) < 0:
                    fail('negative delay')
                bref(t[3])
            elif op == 'interval':
                k = slot(t[1], 64)
                iv_slots.setdefault(k, []).append(t)
                if int(t[2]) < 0:
                    fail('negative delay')
                ivblocks.append((k, bref(t[3])))
            elif op == 'cleart':
                slot(t[1], 64)
            elif op == 'cleari':
                slot(t[1], 64)
            elif op == 'countclear':
                slot(t[1], 64), slot(t[3], 64)
                int(t[2])
            else:
                fail(f'unknown statement {op}')
        if depth:
            fail(f'block {bid}: unbalanced try')
    for k, sts in iv_slots.items():
        if len(sts) != 1 or k in tm_sets:
            fail(f'TM slot {k} of an interval set elsewhere')
    for k, b in ivblocks:
        first = blocks[b][1][0] if blocks[b][1] else []
        if (len(first) != 4 or first[0] != 'countclear' or int(first[3]) != k
                or not 1 <= int(first[2]) <= 4 or first[1] in cns):
            fail(f'interval block {b} does not start with its own countclear')
        cns.add(first[1])
    for h in p['hooks'] + [str(b) for b in errblocks]:
        if h != '-':
            for t in blocks[bref(h, True)][1]:
                if t[0] not in ('log', 'logv', 'logp'):
                    fail(f'hook or on_error block {h} does more than log')


def generate(seed, features=None):
    """The IR text of one program named s<seed>."""
    return Gen(seed, features).program()


def selftest(seed, count, feats):
    """--check: generate, check well-formedness, emit JS (emit_js.py beside this file)."""
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import emit_js
    for s in range(seed, seed + count):
        text = generate(s, feats)
        if generate(s, feats) != text:
            sys.stderr.write(f'gen.py: seed {s} not deterministic\n')
            return 1
        try:
            check(text)
            emit_js.to_js(text)
        except Exception as e:
            sys.stderr.write(f'gen.py: seed {s}: {type(e).__name__}: {e}\n')
            return 1
    print(f'gen.py: {count} programs well formed')
    return 0


def main(argv):
    args = [a for a in argv[1:] if not a.startswith('--')]
    feats = {}
    chk = False
    for a in argv[1:]:
        if a == '--check':
            chk = True
        elif a.startswith('--no-'):
            name = a[5:].replace('-', '_')
            if name not in FEATURES:
                sys.stderr.write(f'gen.py: unknown feature {name}\n')
                return 2
            feats[name] = False
        elif a.startswith('--'):
            sys.stderr.write(f'gen.py: unknown option {a}\n')
            return 2
    if len(args) != 2:
        sys.stderr.write('usage: gen.py SEED COUNT [--no-FEATURE ...]\n')
        return 2
    seed, count = int(args[0]), int(args[1])
    if chk:
        return selftest(seed, count, feats)
    w = sys.stdout.write
    for s in range(seed, seed + count):
        w(generate(s, feats))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
