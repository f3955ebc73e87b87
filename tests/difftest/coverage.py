#!/usr/bin/env python3
"""coverage.py - what the generated programs reach in the library (issue 12, point 7).

    python3 coverage.py --build BUILD_DIR [--count N] [--seed S] [--batch B] [--src SRC_DIR]
                        [--report-only] [--uncovered]

BUILD_DIR is a meson tree configured with -Db_coverage=true. The script clears the tree's .gcda
counters, pushes N generated programs (gen.py) through BUILD_DIR/tests/difftest/awdiff in batches
(Node is not needed: only the library's side is measured), then reads gcov's counts for every
executor/ source and prints, per file and in total: lines executed, branches taken, and functions
called; then the public entry points of aw/promise.h, aw/async.h, aw/loop.h and aw/signal.h
(promises, async functions, timers, queues, abort signals) that were never called. --uncovered
lists the lines not run, by function.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# The public headers whose entry points the generated programs should reach, and the ones that
# are out of the generator's scope (I/O, OS signals, embedding, threads, statistics), which are
# listed but not counted as gaps.
HEADERS = ['promise.h', 'async.h', 'loop.h', 'signal.h']
OUT_OF_SCOPE = re.compile(r'^aw_(loop_(fd|timeout|post|on_signal|off_signal|stats_get|ref|unref|'
                          r'stop|run_once|exception|now)|objects_alive)$')


def public_functions(src):
    names = []
    for h in HEADERS:
        text = open(os.path.join(src, 'include', 'aw', h)).read()
        text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
        for m in re.finditer(r'^[a-z_][a-z0-9_ \*]*?\b(aw_[a-z0-9_]+)\s*\(', text, flags=re.M):
            if not text[m.start():m.end()].startswith(('typedef', '#define', 'static')):
                names.append(m.group(1))
    return sorted(set(names))


def run_programs(build, count, seed, batch, features):
    import gen  # tests/difftest/gen.py
    awdiff = os.path.join(build, 'tests', 'difftest', 'awdiff')
    done = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'batch.ir')
        while done < count:
            n = min(batch, count - done)
            with open(path, 'w') as f:
                for s in range(seed + done, seed + done + n):
                    f.write(gen.generate(s, features))
            r = subprocess.run([awdiff, path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if r.returncode != 0:
                sys.stderr.write(f'coverage: awdiff exited {r.returncode} on seeds '
                                 f'{seed + done}..{seed + done + n - 1}: '
                                 f'{r.stderr.decode(errors="replace")[:500]}\n')
            done += n


def gcov_file(objdir, gcno, build, name):
    """{line: count}, [(line, taken)] branches, {function: calls} for executor/NAME.

    gcov runs in the build tree (the object's source paths are relative to it) and writes to
    stdout (-t), so nothing is left there. Its output has one section per source the object
    includes (the .c, then headers with inline functions); only the .c's section counts."""
    r = subprocess.run(['gcov', '-b', '-c', '-t', '-o', objdir, gcno], cwd=build,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines, branches, funcs = {}, [], {}
    fn_of = {}            # line -> the function it is in
    cur_line = 0
    cur_fn = '?'
    mine = False
    for raw in r.stdout.split('\n'):
        m = re.match(r'^\s*-:\s*0:Source:(.*)$', raw)
        if m:
            mine = m.group(1).replace('\\', '/').endswith('executor/' + name)
            continue
        if not mine:
            continue
        m = re.match(r'^\s*([0-9*]+|#####|=====|-):\s*(\d+):', raw)
        if m:
            cnt, ln = m.group(1), int(m.group(2))
            cur_line = ln
            if cnt == '-' or ln == 0:
                continue
            lines[ln] = 0 if cnt in ('#####', '=====') else int(cnt.rstrip('*'))
            fn_of[ln] = cur_fn
            continue
        m = re.match(r'^function (\S+) called (\d+)', raw)
        if m:
            funcs[m.group(1)] = int(m.group(2))
            cur_fn = m.group(1)
            continue
        m = re.match(r'^branch\s+\d+ (taken (\d+)|never executed)', raw)
        if m:
            branches.append((cur_line, 1 if m.group(2) and int(m.group(2)) > 0 else 0))
    return lines, branches, funcs, fn_of


def report(build, src, uncovered=False):
    build = os.path.abspath(build)
    objdir = None
    for root, _dirs, files in os.walk(build):
        if any(f.endswith('.gcno') and 'executor_promise.c' in f for f in files):
            objdir = root
            break
    if objdir is None:
        sys.exit('coverage: no .gcno files for executor/ under ' + build +
                 ' (configure it with -Db_coverage=true)')
    tot_l = tot_lx = tot_b = tot_bx = 0
    called = {}
    rows = []
    for name in sorted(os.listdir(os.path.join(src, 'executor'))):
        if not name.endswith('.c'):
            continue
        srcfile = os.path.join(src, 'executor', name)
        # meson names objects after the source path: <target>.p/executor_name.c.o
        gcno = [f for f in os.listdir(objdir) if f.endswith('executor_' + name + '.gcno')]
        if not gcno:
            continue
        lines, branches, funcs, fn_of = gcov_file(objdir, os.path.join(objdir, gcno[0]), build,
                                                  name)
        lx = sum(1 for c in lines.values() if c > 0)
        bx = sum(t for _, t in branches)
        tot_l += len(lines)
        tot_lx += lx
        tot_b += len(branches)
        tot_bx += bx
        for f, c in funcs.items():
            called[f] = called.get(f, 0) + c
        never = sorted(f for f, c in funcs.items() if c == 0)
        missing = {}
        for ln, c in lines.items():
            if c == 0:
                missing.setdefault(fn_of.get(ln, '?'), []).append(ln)
        rows.append((name, lx, len(lines), bx, len(branches), never, missing))
    pct = lambda a, b: 100.0 * a / b if b else 100.0
    print(f'{"file":<16} {"lines":>14} {"branches":>16}')
    for name, lx, ln, bx, bn, _never, _missing in rows:
        print(f'{name:<16} {lx:>5}/{ln:<5} {pct(lx, ln):5.1f}% {bx:>5}/{bn:<5} {pct(bx, bn):5.1f}%')
    print(f'{"executor/":<16} {tot_lx:>5}/{tot_l:<5} {pct(tot_lx, tot_l):5.1f}% '
          f'{tot_bx:>5}/{tot_b:<5} {pct(tot_bx, tot_b):5.1f}%')
    for name, _lx, _ln, _bx, _bn, never, _missing in rows:
        if never:
            print(f'  never called in {name}: {", ".join(never)}')
    if uncovered:
        print('lines not run, by function (count: first-last line):')
        for name, _lx, _ln, _bx, _bn, _never, missing in rows:
            for f, lns in sorted(missing.items(), key=lambda x: (-len(x[1]), x[0])):
                print(f'  {name} {f}: {len(lns)}: {lns[0]}-{lns[-1]}')
    pub = public_functions(src)
    missed = [f for f in pub if called.get(f, 0) == 0 and not OUT_OF_SCOPE.match(f)]
    skipped = [f for f in pub if OUT_OF_SCOPE.match(f)]
    print(f'public promise/async/timer/queue entry points: {len(pub) - len(skipped)}, '
          f'reached {len(pub) - len(skipped) - len(missed)}')
    if missed:
        print('  not reached: ' + ', '.join(missed))
    print('  out of the generator\'s scope (I/O, OS signals, embedding, threads, stats): ' +
          ', '.join(skipped))
    return pct(tot_lx, tot_l)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', required=True)
    ap.add_argument('--src', default=os.path.dirname(os.path.dirname(HERE)))
    ap.add_argument('--count', type=int, default=100000)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--batch', type=int, default=2000)
    ap.add_argument('--report-only', action='store_true')
    ap.add_argument('--uncovered', action='store_true',
                    help='also list the lines not run, by function')
    a = ap.parse_args()
    if not a.report_only:
        for root, _dirs, files in os.walk(a.build):
            for f in files:
                if f.endswith('.gcda'):
                    os.unlink(os.path.join(root, f))
        run_programs(a.build, a.count, a.seed, a.batch, None)
    report(a.build, a.src, a.uncovered)


if __name__ == '__main__':
    main()
