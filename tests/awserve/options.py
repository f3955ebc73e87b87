"""awserve: the command line and the limits not covered elsewhere. --help (exit 0, the contract's
usage line), usage errors (exit 2, "awserve: ..." on stderr), a port in use (non-zero exit, a
message), --threads 2 (two loops on one port: many connections, all answered), --max-conns
(the connection past the limit answered 503, then served again once one closes), the idle
keep-alive timeout (an idle connection closed, never before the timeout), the body deadline
(408), and the access log in common log format (--access-log FILE; nothing logged without it)."""

import os
import re
import socket
import subprocess
import tempfile
import time

from awlib import (HOST, Reader, Server, awserve_path, check, exchange, finish, help_text, log,
                   make_root, opt, t)

H = b"Host: t\r\n"
CLF = re.compile(r'^\S+ - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] '
                 r'"(GET|HEAD|POST) (\S+) HTTP/1\.[01]" (\d{3}) (\d+|-)$')


def run(args, timeout=60):
    return subprocess.run([awserve_path()] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=t(timeout))


def main():
    check(re.search(r"awserve \[--host ADDR\] \[--port N\] \[--root DIR\] \[--threads N\]",
                    help_text()) is not None, "--help lacks the contract's usage line")
    p = run(["--help"])
    check(p.returncode == 0, "--help exit status %d" % p.returncode)
    for bad in (["--no-such-option"], ["--port", "nope"], ["--port", "70000"], ["--threads", "0"],
                ["--root", "/nonexistent/dir"]):
        p = run(bad)
        check(p.returncode == 2 and p.stderr.startswith(b"awserve: "),
              "%r: exit %d, stderr %r (want 2 and 'awserve: ...')" % (bad, p.returncode, p.stderr[:80]))

    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        files = make_root(root)

        # a port in use
        # (a second server that starts instead, sharing the port through SO_REUSEPORT, fails)
        with Server(root) as srv:
            q = subprocess.Popen([awserve_path(), "--host", HOST, "--port", str(srv.port), "--root",
                                  root, "--threads", "1"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                out, err = q.communicate(timeout=t(15))
                check(q.returncode != 0 and b"awserve: " in err,
                      "port in use: exit %d, stderr %r" % (q.returncode, err[:100]))
            except subprocess.TimeoutExpired:
                q.kill()  # by its PID (Popen.kill)
                out, err = q.communicate()
                check(False, "port in use: a second awserve started on the same port (%r)"
                      % out[:80])

        # two loops: many connections, each answered
        with Server(root, threads=2) as srv:
            socks = [srv.connect() for _ in range(200)]
            for s in socks:
                s.sendall(b"GET /a.txt HTTP/1.1\r\n" + H + b"\r\n")
            ok = 0
            for s in socks:
                r = Reader(s).read_response()
                ok += r is not None and r.status == 200 and r.body == files["a.txt"]
                s.close()
            check(ok == len(socks), "--threads 2: %d of %d answered" % (ok, len(socks)))

        # --max-conns 4: the fifth gets 503; after one closes a new one is served
        with Server(root, opt("max_conns"), 4, opt("idle_timeout"), 600000) as srv:
            held = []
            for _ in range(4):
                s = srv.connect()
                s.sendall(b"GET /hello HTTP/1.1\r\n" + H + b"\r\n")
                r = Reader(s).read_response()
                check(r is not None and r.status == 200, "within --max-conns: %r" % r)
                held.append(s)
            r, closed = exchange(srv, b"GET /hello HTTP/1.1\r\n" + H + b"\r\n", close_after=True)
            check(r is not None and r.status == 503, "past --max-conns: %r, not 503" % r)
            check(closed, "past --max-conns: not closed after the 503")
            held.pop().close()
            ok = False
            end = time.monotonic() + t(30)
            while not ok and time.monotonic() < end:  # the close reaches the server in its time
                r, _ = exchange(srv, b"GET /hello HTTP/1.1\r\n" + H + b"\r\n")
                ok = r is not None and r.status == 200
                if not ok:
                    time.sleep(0.2)
            check(ok, "not served again after a connection under --max-conns closed")
            for s in held:
                s.close()

        # the idle keep-alive timeout closes an idle connection, not before it
        with Server(root, opt("idle_timeout"), 1500) as srv:
            s = srv.connect()
            rd = Reader(s)
            t0 = time.monotonic()  # before the request: the server's idle timer starts later
            s.sendall(b"GET /hello HTTP/1.1\r\n" + H + b"\r\n")
            r = rd.read_response()
            check(r is not None and r.status == 200, "keep-alive request: %r" % r)
            closed = rd.closed(t(60))
            secs = time.monotonic() - t0
            check(closed, "idle keep-alive connection not closed within 60 s (--keepalive 1500 ms)")
            check(secs >= 1.5 * 0.9, "idle connection closed after %.2f s, before 1.5 s" % secs)
            s.close()

        # the body deadline: a body that stops arriving is answered 408
        if re.search(r"--body-timeout-ms\b", help_text()):
            with Server(root, "--body-timeout-ms", 1500) as srv:
                s = srv.connect()
                s.sendall(b"POST /sha256 HTTP/1.1\r\n" + H + b"Content-Length: 100\r\n\r\nabc")
                rd = Reader(s, t(60))
                r = rd.read_response()
                check(r is not None and r.status == 408, "stalled body: %r, not 408" % r)
                s.close()
        else:
            log("no --body-timeout-ms in --help: the body deadline is not tested")

        # access log: CLF lines for each request, to a file; none on stdout without the option
        logf = os.path.join(tmp, "access.log")
        with Server(root, "--access-log", logf) as srv:
            for path, want in ((b"/a.txt", 200), (b"/missing", 404), (b"/hello", 200)):
                r, _ = exchange(srv, b"GET " + path + b" HTTP/1.1\r\n" + H + b"\r\n")
                check(r is not None and r.status == want, "logged request %s: %r" % (path, r))
        lines = open(logf).read().splitlines() if os.path.exists(logf) else []
        log("access log: %r" % lines[:3])
        got = [(m.group(2), m.group(3)) for m in map(CLF.match, lines) if m]
        check(len(got) == len(lines), "access log lines not in common log format: %r"
              % [ln for ln in lines if not CLF.match(ln)][:3])
        for path, status in (("/a.txt", "200"), ("/missing", "404"), ("/hello", "200")):
            check((path, status) in got, "access log lacks %s %s" % (path, status))
        with Server(root) as srv:
            exchange(srv, b"GET /a.txt HTTP/1.1\r\n" + H + b"\r\n")
        check(srv.stdout_lines == [], "without --access-log, stdout after the first line: %r"
              % srv.stdout_lines[:3])
    finish()


if __name__ == "__main__":
    main()
