"""awserve: descriptor exhaustion. awserve runs under RLIMIT_NOFILE 128 (soft and hard, so it
cannot raise it); 300 clients connect and send a request each, keeping their connections open:
the server runs out of descriptors (EMFILE on accept). It must not die and (information only,
no assert) should not spin: its CPU time over the stalled period is printed. Then the answered
clients close, freeing descriptors, and every remaining client must be answered in turn (the
listener resumes by itself). A fresh client is answered at the end."""

import os
import selectors
import socket
import tempfile
import time

from awlib import HOST, Server, check, finish, log, make_root, opt, t

LIMIT = 128
N = 300
REQ = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        make_root(root)
        # keep-alive and header deadlines far away: only the test's closes free descriptors
        with Server(root, opt("idle_timeout"), 600000, opt("header_timeout"), 600000,
                    rlimit_nofile=(LIMIT, LIMIT)) as srv:
            sel = selectors.DefaultSelector()
            socks = []
            for i in range(N):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.connect_ex((HOST, srv.port))
                socks.append(s)
                sel.register(s, selectors.EVENT_WRITE)
            sent = set()
            answered = {}
            deadline = time.monotonic() + t(120)

            def pump(until_quiet):
                """Sends requests and collects answers; returns when until_quiet seconds pass
                with no new answer, or at the deadline."""
                last = time.monotonic()
                while time.monotonic() < deadline and time.monotonic() - last < until_quiet:
                    for key, ev in sel.select(timeout=0.5):
                        s = key.fileobj
                        if ev & selectors.EVENT_WRITE and s not in sent:
                            try:
                                s.send(REQ)
                                sent.add(s)
                                sel.modify(s, selectors.EVENT_READ)
                            except (BlockingIOError, ConnectionError):
                                pass
                        elif ev & selectors.EVENT_READ:
                            try:
                                chunk = s.recv(4096)
                            except BlockingIOError:
                                continue
                            except ConnectionError:
                                chunk = b""
                            buf = answered.get(s, b"") + chunk
                            answered[s] = buf
                            if b"\r\n\r\n" in buf or not chunk:
                                sel.unregister(s)
                                last = time.monotonic()
                    if len(answered) == N:
                        return

            pump(until_quiet=t(5))
            n1 = len(answered)
            log("with %d descriptors: %d of %d answered before any closes" % (LIMIT, n1, N))
            check(srv.alive(), "awserve died when it ran out of descriptors")
            check(n1 < N, "all %d answered under a limit of %d: the test did not exhaust descriptors"
                  % (N, LIMIT))
            c0, w0 = cpu_seconds(srv.proc.pid), time.monotonic()
            time.sleep(2)
            c1, w1 = cpu_seconds(srv.proc.pid), time.monotonic()
            log("awserve CPU while out of descriptors: %.2f s in %.2f s (a busy loop would use ~all)"
                % (c1 - c0, w1 - w0))
            # free the answered ones, again and again, until everyone is answered
            while len(answered) < N and time.monotonic() < deadline:
                for s in list(answered):
                    if s.fileno() >= 0:
                        s.close()
                before = len(answered)
                pump(until_quiet=t(10))
                if len(answered) == before:
                    break
            log("%d of %d answered in the end" % (len(answered), N))
            check(len(answered) == N, "%d clients never answered after descriptors were freed"
                  % (N - len(answered)))
            bad = [b[:40] for b in answered.values() if b and not b.startswith(b"HTTP/1.1 200")]
            check(not bad, "answers other than 200: %r" % bad[:5])
            unanswered_closed = sum(1 for b in answered.values() if not b)
            log("%d were closed without an answer" % unanswered_closed)
            check(unanswered_closed == 0, "%d clients were closed without an answer"
                  % unanswered_closed)
            for s in socks:
                s.close()
            check(srv.serving(), "a fresh client is not answered after the exhaustion")
    finish()


if __name__ == "__main__":
    main()
