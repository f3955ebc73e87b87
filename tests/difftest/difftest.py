#!/usr/bin/env python3
"""difftest.py - differential testing of libawait against Node (issue 12).

    difftest.py --awdiff PATH [--node node] [-j J] [--batch B] [--out DIR] N [SEED]
    difftest.py --self-test [--node node]

Programs s<SEED>..s<SEED+N-1> come from gen.py (tests/difftest/IR.md is the format). They run in
batches of B programs: each batch is one Node script (emit_js.py) run twice, as two processes,
and one `awdiff --check-leaks` process; J batches run at a time (the programs mostly sleep in
their timers, so J may exceed the core count). Outputs are split on `#### NAME` .. `#### end`
and compared program by program:

- the two Node outputs differ: Node itself is nondeterministic on the program; it is discarded
  (counted);
- they agree and awdiff's differs: a suspect. After the batches, every suspect runs again with
  nothing else running, Node 5 times and awdiff 3 times: Node varying -> discarded; Node stable
  and awdiff different in any run -> a mismatch; awdiff equal every time -> 'passed on re-run'.

A process that crashes or is killed before the end of its batch: the program it was running is
run again alone (a program that crashes awdiff alone is a mismatch whose output is the crash),
the rest of the batch runs again as a new batch. A process that prints nothing for --timeout
seconds is killed (by its PID: its own process group); the program it was in gets its output so
far plus a '#### timeout' line (so an awdiff hang is a mismatch, a Node hang is counted apart).

Each mismatch is shrunk (shrink.py: delta debugging over statements, try regions, blocks, hooks,
combinator elements and expressions; a candidate is kept when Node is stable on it over 3 runs
and awdiff still differs; many candidates per Node process) and saved under --out DIR as NAME.ir,
NAME.js, NAME.node.out, NAME.aw.out (the original) and NAME.min.* (the shrunk one). The first one
is printed (IR, JS, a diff of the outputs). The last line is

    difftest: N programs, M mismatches, D discarded as nondeterministic on Node

and the exit status is 1 on any mismatch.
"""
import argparse
import difflib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import emit_js  # noqa: E402
import shrink  # noqa: E402

NODE_RUNS_CONFIRM = 5
AW_RUNS_CONFIRM = 3
NODE_RUNS_SHRINK = 3
SHRINK_CHUNK = 48  # candidates per shrink batch
KEEP_NONDET = 50  # programs Node ran two ways, saved under OUT/nondet/ for the generator's sake


def log(msg):
    sys.stderr.write(msg + '\n')
    sys.stderr.flush()


# ---- running one process ---------------------------------------------------------------------

def run_procs(cmds, outs, errs, idle):
    """Run the commands at once, stdout/stderr to files. A command whose stdout has not grown for
    `idle` seconds is killed (its process group, by PID). [(exit status or None, timed out)]."""
    procs, files = [], []
    try:
        for cmd, o, e in zip(cmds, outs, errs):
            fo, fe = open(o, 'wb'), open(e, 'wb')
            files += [fo, fe]
            p = subprocess.Popen(cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
            procs.append([p, fo, 0, time.monotonic(), None])
        live = len(procs)
        while live:
            time.sleep(0.05)
            now = time.monotonic()
            for st in procs:
                p, fo, size, last, res = st
                if res is not None:
                    continue
                rc = p.poll()
                if rc is not None:
                    st[4] = (rc, False)
                    live -= 1
                    continue
                sz = os.fstat(fo.fileno()).st_size
                if sz != size:
                    st[2], st[3] = sz, now
                elif now - last > idle:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.wait()
                    st[4] = (None, True)
                    live -= 1
        return [st[4] for st in procs]
    finally:
        for st in procs:
            if st[4] is None:
                try:
                    os.killpg(st[0].pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                st[0].wait()
        for f in files:
            f.close()


def split_output(path):
    """({name: text} of the finished programs, (name, text) of an unfinished one or None)."""
    done, cur, lines = {}, None, []
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            line = line.rstrip('\n')
            if line.startswith('#### '):
                tag = line[5:]
                if cur is None:
                    cur, lines = tag, []
                    continue
                if tag == 'end':
                    done[cur] = '\n'.join(lines)
                    cur = None
                    continue
            if cur is not None:
                lines.append(line)
    return done, (None if cur is None else (cur, '\n'.join(lines)))


def describe(rc, timed_out, idle):
    if timed_out:
        return f'#### timeout (no output for {idle:g} s: killed)'
    if rc is not None and rc < 0:
        try:
            return f'#### crash ({signal.Signals(-rc).name})'
        except ValueError:
            return f'#### crash (signal {-rc})'
    return f'#### crash (exit status {rc})'


# emit_js's runner starts the next program from 'beforeExit', but Node emits it again only if the
# loop had work: after a program that queues no timer or immediate the process just exits and the
# rest of the batch never runs. Until emit_js does it itself, an empty immediate queued after each
# program's main keeps the loop alive for one more turn (it runs after the program's own
# immediates of that turn, and nothing in the program can see it).
KEEP_ALIVE = '  setImmediate(() => {}); // difftest.py: so that beforeExit comes again'


def node_script(ir):
    js = emit_js.to_js(ir)
    if KEEP_ALIVE not in js and 'setImmediate(() => {})' not in emit_js.RUNNER:
        js = js.replace('\n  fn();\n', '\n  fn();\n' + KEEP_ALIVE + '\n', 1)
    return js


def program_names(ir):
    return [line.split(' ')[1] for line in ir.split('\n') if line.startswith('program ')]


def split_programs(ir):
    """[(name, ir)] of a batch's text."""
    out, cur, buf = [], None, []
    for line in ir.split('\n'):
        s = line.strip()
        if s.startswith('program '):
            cur, buf = s.split(' ')[1], []
        if cur is not None:
            buf.append(line)
        if s == 'end' and cur is not None:
            out.append((cur, '\n'.join(buf) + '\n'))
            cur = None
    return out


# ---- one side over a batch, with recovery ----------------------------------------------------

class Runner:
    def __init__(self, node, awdiff, workdir, timeout, stats):
        self.node, self.awdiff, self.workdir, self.timeout = node, awdiff, workdir, timeout
        self.stats = stats
        self.count_leaks = True  # in the batch phase only (re-runs would count them again)
        self._seq = 0
        self._lock = threading.Lock()

    def tmp(self, tag):
        with self._lock:
            self._seq += 1
            return os.path.join(self.workdir, f'{tag}-{self._seq}')

    def write_batch(self, progs, js=None):
        """The batch's files: BASE.ir and BASE.js; BASE."""
        base = self.tmp('b')
        ir = ''.join(t for _, t in progs)
        with open(base + '.ir', 'w') as f:
            f.write(ir)
        with open(base + '.js', 'w') as f:
            f.write(js or node_script(ir))
        return base

    def cmd(self, side, base):
        if side == 'node':
            return [self.node, '--expose-internals', base + '.js']  # pstate: emit_js.py
        return [self.awdiff, '--check-leaks', base + '.ir']

    def run(self, sides, progs, timeout=None, alone=False, js=None):
        """Run each side ('node' or 'aw') over the batch at once; for each, {name: output} of every
        program (unfinished programs recovered as the module's docstring says)."""
        timeout = timeout or self.timeout
        base = self.write_batch(progs, js)
        outs = [f'{base}.{k}.out' for k in range(len(sides))]
        errs = [f'{base}.{k}.err' for k in range(len(sides))]
        res = run_procs([self.cmd(s, base) for s in sides], outs, errs, timeout)
        results = []
        for side, o, e, (rc, to) in zip(sides, outs, errs, res):
            done, partial = split_output(o)
            self.note_stderr(side, e, rc)
            if len(done) < len(progs):
                if alone:  # the program alone: its output is the failure
                    name = progs[0][0]
                    text = partial[1] + '\n' if partial and partial[0] == name and partial[1] else ''
                    done[name] = text + describe(rc, to, timeout)
                else:
                    self.recover(side, progs, done, partial, rc, to, timeout)
            if side == 'aw':
                self.take_leaks(done)
            results.append(done)
            os.unlink(o)
            os.unlink(e)
        for ext in ('.ir', '.js'):
            os.unlink(base + ext)
        return results

    def note_stderr(self, side, path, rc):
        if side != 'aw':
            return
        leaks = []
        with open(path, errors='replace') as f:
            for line in f:
                if 'leak' in line.lower():
                    leaks.append(line.rstrip('\n'))
        if leaks and self.count_leaks:
            self.stats.leaks(leaks)

    def take_leaks(self, done):
        """awdiff's '#### leak N' lines (--check-leaks) out of its outputs, counted apart."""
        for name, text in done.items():
            if '#### leak' not in text:
                continue
            lines = text.split('\n')
            keep = [x for x in lines if not x.startswith('#### leak')]
            if self.count_leaks:
                self.stats.leaks([f'{name}: {x[5:]}' for x in lines if x.startswith('#### leak')])
            done[name] = '\n'.join(keep)

    def recover(self, side, progs, done, partial, rc, to, timeout):
        """Fill `done` for the programs a failed process did not finish."""
        rest = [p for p in progs if p[0] not in done]
        if not rest:
            return
        # the program the process was in: the one it had started (awdiff prints as it goes),
        # else the first unfinished one (Node prints a program when it ends)
        names = [p[0] for p in rest]
        culprit = rest[names.index(partial[0]) if partial and partial[0] in names else 0]
        text = partial[1] + '\n' if partial and partial[0] == culprit[0] and partial[1] else ''
        failed = text + describe(rc, to, timeout)
        self.stats.count(('timeouts ' if to else 'crashes ') + side)
        if to:
            done[culprit[0]] = failed  # a hang alone again would cost another timeout
        else:
            (alone,) = self.run([side], [culprit], timeout, alone=True)
            out = alone[culprit[0]]
            if out.startswith('#### ') or '\n#### ' in out:
                done[culprit[0]] = out
            else:
                # it passes alone: the crash needs the programs before it; keep the crash
                done[culprit[0]] = failed
                self.stats.count('batch crashes not reproduced alone ' + side)
        rest = [p for p in rest if p[0] != culprit[0]]
        if rest:
            (more,) = self.run([side], rest, timeout)
            done.update(more)


# ---- statistics ------------------------------------------------------------------------------

class Stats:
    def __init__(self, outdir):
        self.outdir = outdir
        self.lock = threading.Lock()
        self.counts = {}
        self.n_leaks = 0
        self.leak_file = None

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def get(self, key):
        return self.counts.get(key, 0)

    def leaks(self, lines):
        with self.lock:
            self.n_leaks += len(lines)
            if self.leak_file is None:
                self.leak_file = open(os.path.join(self.outdir, 'leaks.txt'), 'w')
            if self.n_leaks <= 10000:
                self.leak_file.write('\n'.join(lines) + '\n')
                self.leak_file.flush()


# ---- the phases ------------------------------------------------------------------------------

def load_gen(path):
    spec = importlib.util.spec_from_file_location('difftest_gen', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make_batch(gen, seeds, stats):
    """([(name, ir)], Node script): the programs of the seeds (one the emitter rejects is counted
    and left out)."""
    progs = []
    for seed in seeds:
        progs.extend(split_programs(gen.generate(seed)))
    try:
        return progs, node_script(''.join(t for _, t in progs))
    except (emit_js.IRError, ValueError, IndexError, KeyError):
        ok = []
        for name, text in progs:
            try:
                emit_js.to_js(text)
                ok.append((name, text))
            except (emit_js.IRError, ValueError, IndexError, KeyError) as e:
                stats.count('generator errors')
                log(f'difftest: {name}: the emitter rejects it: {e}')
        return ok, None


def classify(progs, n1, n2, aw):
    """Yield (verdict, name, ir, node output, aw output) per program."""
    for name, ir in progs:
        a, b, c = n1[name], n2[name], aw[name]
        if a != b:
            yield 'nondet', name, ir, a, c
        elif a.startswith('#### ') or '\n#### ' in a:
            yield 'nodefail', name, ir, a, c
        elif a == c:
            yield 'pass', name, ir, a, c
        else:
            yield 'suspect', name, ir, a, c


class Suspects:
    """The suspects of the batch phase, on disk (memory stays bounded)."""

    def __init__(self, outdir):
        self.path = os.path.join(outdir, 'suspects.ir')
        self.f = open(self.path, 'w')
        self.n = 0
        self.lock = threading.Lock()

    def add(self, ir):
        with self.lock:
            self.f.write(ir)
            self.n += 1

    def chunks(self, size):
        self.f.close()
        buf, cur = [], []
        with open(self.path) as f:
            for line in f:
                cur.append(line)
                if line.strip() == 'end':
                    buf.extend(split_programs(''.join(cur)))
                    cur = []
                    if len(buf) >= size:
                        yield buf
                        buf = []
        if buf:
            yield buf


def batch_phase(args, gen, runner, stats, suspects):
    """The number of programs run (fewer than N when --budget ran out)."""
    seeds = range(args.seed, args.seed + args.n)
    t0 = time.monotonic()
    last = [t0]
    done = [0]

    def job(lo, hi):
        progs, js = make_batch(gen, range(lo, hi), stats)
        if not progs:
            return hi - lo
        n1, n2, aw = runner.run(['node', 'node', 'aw'], progs, js=js)
        for verdict, name, ir, a, c in classify(progs, n1, n2, aw):
            stats.count(verdict)
            if verdict == 'suspect':
                suspects.add(ir)
            elif verdict == 'nondet' and stats.get('nondet') <= KEEP_NONDET:
                save(os.path.join(args.out_dir, 'nondet'), name, ir, n1[name], n2[name],
                     ('.node1.out', '.node2.out'))
        return hi - lo

    with ThreadPoolExecutor(max_workers=args.jobs) as ex:
        pending = set()
        starts = iter(range(seeds.start, seeds.stop, args.batch))
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < 2 * args.jobs:
                lo = next(starts, None)
                if lo is None:
                    exhausted = True
                    break
                pending.add(ex.submit(job, lo, min(lo + args.batch, seeds.stop)))
            fin, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fu in fin:
                done[0] += fu.result()
            now = time.monotonic()
            if args.budget and now - t0 > args.budget and not exhausted:
                exhausted = True  # the batches already started still finish
                log(f'difftest: time budget of {args.budget:g} s reached: no more batches')
            if not args.quiet and now - last[0] >= 30:
                last[0] = now
                log(f'difftest: {done[0]}/{args.n} programs, {done[0] / (now - t0):.0f}/s, '
                    f'{stats.get("suspect")} suspects, {stats.get("nondet")} nondeterministic')
    return done[0]


def confirm_phase(args, runner, stats, suspects):
    """[(name, ir, node output, aw output)] of the confirmed mismatches."""
    mismatches = []
    for progs in suspects.chunks(args.batch):
        nodes = [runner.run(['node'], progs)[0] for _ in range(NODE_RUNS_CONFIRM)]
        aws = [runner.run(['aw'], progs)[0] for _ in range(AW_RUNS_CONFIRM)]
        for name, ir in progs:
            outs = {r[name] for r in nodes}
            ref = nodes[0][name]
            if len(outs) > 1:
                stats.count('nondet on re-run')
            elif ref.startswith('#### ') or '\n#### ' in ref:
                stats.count('nodefail')
            else:
                bad = [r[name] for r in aws if r[name] != ref]
                if bad:
                    mismatches.append((name, ir, ref, bad[0]))
                else:
                    stats.count('passed on re-run')
    return mismatches


def failure_kind(aw_out):
    """What a shrunk program must keep: a crash stays a crash, a hang a hang."""
    for k in ('crash', 'timeout', 'loop-rc', 'loop-free'):
        if '#### ' + k in aw_out:
            return k
    return 'output'


def interesting(runner, progs, timeout, par, kind):
    """For each (name, ir): (Node stable over 3 runs and awdiff differs the same way (`kind`),
    node out, aw out). The programs run in `par` batches at once (they mostly sleep in timers)."""
    size = -(-len(progs) // par)
    parts = [progs[i:i + size] for i in range(0, len(progs), size)]
    with ThreadPoolExecutor(max_workers=len(parts)) as ex:
        ress = list(ex.map(lambda part: runner.run(['node'] * NODE_RUNS_SHRINK + ['aw'], part,
                                                   timeout), parts))
    out = []
    for part, res in zip(parts, ress):
        for name, _ in part:
            ns = {r[name] for r in res[:-1]}
            a = res[0][name]
            c = res[-1][name]
            ok = (len(ns) == 1 and not (a.startswith('#### ') or '\n#### ' in a) and c != a and
                  failure_kind(c) == kind)
            out.append((ok, a, res[-1][name]))
    return out


def shrink_one(runner, name, ir, aw_out, timeout, deadline, par):
    """(minimized Prog, node out, aw out, rounds, candidates tried) or None if it cannot parse."""
    try:
        best = shrink.renumber(shrink.Prog.from_ir(ir))
    except (shrink.Unknown, emit_js.IRError, ValueError, IndexError, KeyError) as e:
        log(f'difftest: {name}: cannot shrink ({e})')
        return None
    best_out = None
    rounds = tried = 0
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        rounds += 1
        cands = shrink.candidates(best)
        for i in range(0, len(cands), SHRINK_CHUNK):
            chunk = cands[i:i + SHRINK_CHUNK]
            progs = [(f'{name}_c{k}', shrink.to_ir(c, f'{name}_c{k}')) for k, c in enumerate(chunk)]
            tried += len(progs)
            verdicts = interesting(runner, progs, timeout, par, failure_kind(aw_out))
            hits = [(c, v) for c, v in zip(chunk, verdicts) if v[0]]
            if hits:
                c, v = hits[0]  # candidates come smallest first
                best, best_out, improved = c, (v[1], v[2]), True
                break
            if time.monotonic() >= deadline:
                break
    best.name = name
    return best, best_out, rounds, tried


def seed_key(name):
    digits = ''.join(c for c in name if c.isdigit())
    return (int(digits) if digits else -1, name)


def unified(node_out, aw_out):
    return '\n'.join(difflib.unified_diff(node_out.split('\n'), aw_out.split('\n'), 'node', 'libawait',
                                          lineterm=''))


def js_of(prog_ir):
    """The program's own part of the Node script (emit_js's prelude and runner left out)."""
    return ''.join(emit_js.Emitter(p).program() for p in emit_js.parse(prog_ir))


def save(outdir, stem, ir, node_out, aw_out, exts=('.node.out', '.aw.out')):
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, stem + '.ir'), 'w') as f:
        f.write(ir)
    with open(os.path.join(outdir, stem + '.js'), 'w') as f:
        f.write(node_script(ir))
    for ext, text in zip(exts, (node_out, aw_out)):
        with open(os.path.join(outdir, stem + ext), 'w') as f:
            f.write(text + '\n')


def run(args):
    if not args.awdiff:
        log('difftest: --awdiff PATH is required')
        return 2
    gen = load_gen(args.gen)
    outdir = args.out or tempfile.mkdtemp(prefix='difftest-')
    os.makedirs(outdir, exist_ok=True)
    args.out_dir = outdir
    workdir = tempfile.mkdtemp(prefix='work-', dir=outdir)
    stats = Stats(outdir)
    runner = Runner(args.node, args.awdiff, workdir, args.timeout, stats)
    suspects = Suspects(outdir)
    t0 = time.monotonic()
    n_run = batch_phase(args, gen, runner, stats, suspects)
    t1 = time.monotonic()
    runner.count_leaks = False
    mismatches = confirm_phase(args, runner, stats, suspects)
    mismatches.sort(key=lambda m: seed_key(m[0]))
    t2 = time.monotonic()
    first = None
    sizes = []
    deadline_each = args.shrink_time
    for k, (name, ir, node_out, aw_out) in enumerate(mismatches):
        save(outdir, name, ir, node_out, aw_out)
        if k >= args.max_shrink:
            continue
        r = shrink_one(runner, name, ir, aw_out, args.shrink_timeout, time.monotonic() + deadline_each,
                       min(args.jobs, 4))
        if r is None:
            continue
        p, outs, rounds, tried = r
        min_ir = shrink.to_ir(p)
        mn, ma = outs if outs else (node_out, aw_out)
        save(outdir, name + '.min', min_ir, mn, ma)
        size0 = shrink.Prog.from_ir(ir).size()
        sizes.append((name, size0, p.size(), rounds, tried))
        if first is None:
            first = (name, min_ir, mn, ma)
    t3 = time.monotonic()
    shutil.rmtree(workdir, ignore_errors=True)
    n_mis = len(mismatches)
    discarded = stats.get('nondet') + stats.get('nondet on re-run')
    if first:
        name, min_ir, mn, ma = first
        print(f'== first mismatch: {name} (shrunk; all saved under {outdir})')
        print('-- IR')
        print(min_ir, end='')
        print('-- JS (the program; the whole script: ' + os.path.join(outdir, name + '.min.js') + ')')
        print(js_of(min_ir), end='')
        print('-- output: node vs libawait')
        print(unified(mn, ma))
    elif mismatches:
        name, ir, node_out, aw_out = mismatches[0]
        print(f'== first mismatch: {name} (not shrunk; saved under {outdir})')
        print(ir, end='')
        print(unified(node_out, aw_out))
    for name, a, b, rounds, tried in sizes:
        print(f'difftest: shrunk {name}: size {a} -> {b} ({rounds} rounds, {tried} candidates)')
    elapsed = t3 - t0
    rate = n_run / (t1 - t0) if t1 > t0 else 0
    print(f'difftest: elapsed {elapsed:.1f} s (batches {t1 - t0:.1f} s, re-runs {t2 - t1:.1f} s, '
          f'shrinking {t3 - t2:.1f} s), {rate:.1f} programs/s (-j {args.jobs}, --batch {args.batch})')
    print(f'difftest: {suspects.n} suspects: {stats.get("passed on re-run")} passed on re-run, '
          f'{stats.get("nondet on re-run")} nondeterministic on re-run, {n_mis} mismatches')
    extra = [f'{k} {v}' for k, v in sorted(stats.counts.items())
             if k.startswith(('timeouts', 'crashes', 'batch crashes', 'generator'))]
    print(f'difftest: {stats.get("nodefail")} programs where Node itself hung or crashed (not '
          f'compared){"; " + ", ".join(extra) if extra else ""}')
    if stats.get('nondet'):
        print(f'difftest: the first {min(KEEP_NONDET, stats.get("nondet"))} programs Node ran two '
              f'ways are in {os.path.join(outdir, "nondet")}/ (NAME.node1.out, NAME.node2.out)')
    print(f'difftest: {stats.n_leaks} leak reports from awdiff --check-leaks'
          f'{" (in " + os.path.join(outdir, "leaks.txt") + ", a failure)" if stats.n_leaks else ""}')
    if n_run < args.n:
        print(f'difftest: the time budget ({args.budget:g} s) ran out: {n_run} of {args.n} '
              f'programs run (seeds {args.seed}..{args.seed + n_run - 1})')
    print(f'difftest: {n_run} programs, {n_mis} mismatches, {discarded} discarded as '
          f'nondeterministic on Node')
    sys.stdout.flush()
    if not args.out and not mismatches and not stats.n_leaks and not stats.get('nondet'):
        shutil.rmtree(outdir, ignore_errors=True)
    # aw_loop_free frees every cycle among promises (executor/teardown.c): a leak is a bug
    return 1 if mismatches or stats.n_leaks else 0


# ---- self-test ------------------------------------------------------------------------------
# A stub generator, a fake awdiff (emit_js + Node, with bugs planted on some labels) and a fake
# node (Node, but nondeterministic on one label) written to a temporary directory; the driver
# runs on them as a subprocess and its report is checked.

STUB_GEN = r"""
import random

DELAYS = (10, 40, 80)  # far apart: no timer order depends on the clock


def generate(seed, features=None):
    r = random.Random(seed)
    nb = r.randint(3, 7)
    kinds = ['sync'] + [r.choice(['sync', 'async']) for _ in range(nb - 1)]
    blocks = [[] for _ in range(nb)]
    slot = [0]

    def later(b, sync=False):
        c = [x for x in range(b + 1, nb) if not sync or kinds[x] == 'sync']
        return r.choice(c) if c else None

    def stmt(b, depth):
        k = r.randrange(14)
        lb = f'b{b}_{r.randrange(100)}'
        x = later(b)
        xs = later(b, True)
        v = r.randrange(8)
        if k == 0 and x is not None:
            return [f'micro {x}']
        if k == 1 and x is not None:
            return [f'tick {x}']
        if k == 2 and x is not None:
            return [f'imm {r.randrange(4)} {x}']
        if k == 3 and x is not None:
            return [f'timeout {r.randrange(4)} {r.choice(DELAYS)} {x}']
        if k == 4 and xs is not None:
            return [f'newp {v} {xs}']
        if k == 5:
            return [f'then {r.randrange(8)} {v} {x if x is not None else "-"} -']
        if k == 6:
            return [f'all {r.randrange(8)} 2 v {v} res i {r.randrange(9)}']
        if k == 7:
            return [f'logv {lb} v {v}']
        if k == 8 and depth < 2:
            return (['try'] + stmt(b, depth + 1) + [f'throw e {lb}', 'catch', f'logv {lb} acc',
                    'endtry'])
        if k == 9 and kinds[b] == 'async':
            return [f'await v {v}', f'logv {lb} acc']
        if k == 10:
            return [f'tres i {r.randrange(9)}']
        if k == 11:
            return [f'set {v} res s {lb}']
        if k == 12 and xs is not None and depth > 0:
            return [f'logv {lb} call {xs} 0']
        return [f'log {lb}']

    for b in range(nb):
        for _ in range(r.randint(1, 8)):
            blocks[b].extend(stmt(b, 0))
    special = {7: 'zap', 9: 'nd', 15: 'flaky', 17: 'leaky', 3: 'boom', 5: 'hang'}
    if seed in special:
        w = special[seed]
        if w == 'zap':  # 'pre' before 'zap' is what the fake awdiff gets wrong
            blocks[0].insert(r.randrange(len(blocks[0]) + 1), 'log pre')
            blocks.append(['log zap'])
            kinds.append('sync')
            blocks[r.randrange(nb)].append(f'timeout 7 80 {nb}')
        else:
            blocks[0].append('log ' + w)
    out = [f'program s{seed}', 'hooks - - -']
    for b, body in enumerate(blocks):
        out.append(f'block {b} {kinds[b]}')
        out.extend(body)
        out.append('endblock')
    out.append('end')
    return '\n'.join(out) + '\n'
"""

FAKE_AWDIFF = r"""#!/usr/bin/env python3
# awdiff standing in: emit_js + Node, with planted bugs: 'zap' after 'pre' printed as
# 'zap_wrong', a SIGSEGV at 'boom', a hang at 'hang', 'flaky' wrong on the first run only, and a
# leak report on stderr for 'leaky'.
import os, signal, subprocess, sys, time
sys.path.insert(0, @HERE@)
import difftest
files = [a for a in sys.argv[1:] if not a.startswith('--')]
js = difftest.node_script(open(files[0]).read())
out = subprocess.run([@NODE@, '--expose-internals', '-'], input=js.encode(), stdout=subprocess.PIPE).stdout.decode()
pre = False
name = None
for line in out.split('\n')[:-1]:
    if line.startswith('#### '):
        name, pre = line[5:], False
    elif line == 'pre':
        pre = True
    elif line == 'zap' and pre:
        line = 'zap_wrong'
    elif line == 'flaky':
        mark = os.path.join(@DIR@, 'flaky-' + name)
        if not os.path.exists(mark):
            open(mark, 'w').close()
            line = 'flaky_wrong'
    elif line == 'leaky':
        sys.stderr.write(f'awdiff: {name}: leak: 1 promise not freed\n')
    sys.stdout.write(line + '\n')
    sys.stdout.flush()
    if line == 'boom':
        os.kill(os.getpid(), signal.SIGSEGV)
    if line == 'hang':
        time.sleep(3600)
"""

FAKE_NODE = r"""#!/usr/bin/env python3
# node standing in: Node, but the line 'nd' comes out with a random number after it
import os, subprocess, sys
p = subprocess.run([@NODE@] + sys.argv[1:], stdout=subprocess.PIPE)
out = p.stdout.decode()
sys.stdout.write(out.replace('\nnd\n', '\nnd %d\n' % int.from_bytes(os.urandom(4), 'little')))
sys.exit(p.returncode)
"""


def self_test(args):
    import re
    t0 = time.monotonic()
    node = shutil.which(args.node)
    if not node:
        log(f'difftest --self-test: {args.node} not found')
        return 2
    d = tempfile.mkdtemp(prefix='difftest-self-')
    fail = []

    def write(name, text, mode=0o644):
        p = os.path.join(d, name)
        with open(p, 'w') as f:
            f.write(text.replace('@HERE@', repr(HERE)).replace('@NODE@', repr(node))
                    .replace('@DIR@', repr(d)))
        os.chmod(p, mode)
        return p

    gen = write('stubgen.py', STUB_GEN)
    aw = write('fake-awdiff', FAKE_AWDIFF, 0o755)
    fnode = write('fake-node', FAKE_NODE, 0o755)

    def check(cond, what):
        log(f'difftest --self-test: {"ok" if cond else "FAILED"}: {what}')
        if not cond:
            fail.append(what)

    def drive(n, seed, extra, out):
        cmd = [sys.executable, os.path.abspath(__file__), '--awdiff', aw, '--node', fnode,
               '--gen', gen, '--out', out, '-q', str(n), str(seed)] + extra
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return p.returncode, p.stdout, p.stderr

    # 1. a planted difference (s7), Node nondeterminism (s9), a flaky awdiff (s15), a leak (s17)
    out1 = os.path.join(d, 'out1')
    rc, so, se = drive(20, 6, ['-j', '2', '--batch', '5'], out1)
    last = so.rstrip('\n').split('\n')[-1]
    check(rc == 1, f'exit status 1 on a mismatch (got {rc})')
    check(last == 'difftest: 20 programs, 1 mismatches, 1 discarded as nondeterministic on Node',
          f'the last line: {last!r}')
    check('== first mismatch: s7 ' in so, 'the first mismatch printed is s7')
    m = re.search(r'shrunk s7: size (\d+) -> (\d+)', so)
    check(m is not None and int(m.group(1)) >= 15 and int(m.group(2)) <= 6,
          'shrunk to a small program: ' + (m.group(0) if m else 'no shrink line'))
    check('-zap\n+zap_wrong' in so, 'the output diff shows zap -> zap_wrong')
    check(re.search(r'\b1 passed on re-run', so) is not None, 'the flaky program passed on re-run')
    check('1 leak reports' in so, 'the leak report counted')
    for ext in ('.ir', '.js', '.node.out', '.aw.out', '.min.ir', '.min.js', '.min.node.out',
                '.min.aw.out'):
        check(os.path.exists(os.path.join(out1, 's7' + ext)), 's7' + ext + ' saved')
    try:
        p = shrink.Prog.from_ir(open(os.path.join(out1, 's7.min.ir')).read())
        emit_js.to_js(shrink.to_ir(p))
        check(True, 'the shrunk program is valid IR')
    except Exception as e:  # noqa: BLE001 - any failure to read it back is the finding
        check(False, f'the shrunk program is valid IR ({e})')
    if fail:
        sys.stderr.write(so + se)

    # 2. a crash (s3: SIGSEGV) and a hang (s5) of awdiff inside batches: both mismatches, the
    #    rest of their batches still compared
    out2 = os.path.join(d, 'out2')
    n_fail = len(fail)
    rc, so, se = drive(6, 1, ['-j', '2', '--batch', '3', '--timeout', '2', '--max-shrink', '0'], out2)
    last = so.rstrip('\n').split('\n')[-1]
    check(rc == 1 and last == 'difftest: 6 programs, 2 mismatches, 0 discarded as '
          'nondeterministic on Node', f'a crash and a hang are the 2 mismatches: {last!r}')

    def read(p):
        try:
            return open(p).read()
        except OSError:
            return ''
    check('#### crash (SIGSEGV)' in read(os.path.join(out2, 's3.aw.out')), "s3's output is the crash")
    check('#### timeout' in read(os.path.join(out2, 's5.aw.out')), "s5's output is the timeout")
    if len(fail) > n_fail:
        sys.stderr.write(so + se)
    log(f'difftest --self-test: {"FAILED" if fail else "passed"} ({time.monotonic() - t0:.1f} s)')
    if not fail:
        shutil.rmtree(d, ignore_errors=True)
    else:
        log(f'difftest --self-test: files kept in {d}')
    return 1 if fail else 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('n', nargs='?', type=int, default=10000, help='programs (default 10000)')
    ap.add_argument('seed', nargs='?', type=int, default=1, help='first seed (default 1)')
    ap.add_argument('--awdiff', help='the awdiff interpreter')
    ap.add_argument('--node', default='node')
    ap.add_argument('-j', '--jobs', type=int, default=8, help='batches at a time (default 8)')
    ap.add_argument('--batch', type=int, default=250, help='programs per process (default 250)')
    ap.add_argument('--out', help='where mismatches are saved (default: a new /tmp/difftest-*)')
    ap.add_argument('--gen', default=os.path.join(HERE, 'gen.py'), help='the generator module')
    ap.add_argument('--timeout', type=float, default=20,
                    help='seconds without output before a process is killed (default 20)')
    ap.add_argument('--shrink-timeout', type=float, default=5,
                    help='the same while shrinking (default 5)')
    ap.add_argument('--shrink-time', type=float, default=300,
                    help='seconds of shrinking per mismatch at most (default 300)')
    ap.add_argument('--max-shrink', type=int, default=10, help='mismatches shrunk (default 10)')
    ap.add_argument('--budget', type=float, default=0,
                    help='seconds after which no new batch starts (default: none)')
    ap.add_argument('-q', '--quiet', action='store_true', help='no progress lines')
    ap.add_argument('--self-test', action='store_true', help="test the driver itself")
    args = ap.parse_args(argv[1:])
    if args.self_test:
        return self_test(args)
    return run(args)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
