"""awserve: 10,000 concurrent connections on one loop (--threads 1), all open at once, then a
request on every one of them: every request is answered 200, and a separate client is answered
while they are all open (idle first, then busy). RLIMIT_NOFILE is raised to its hard limit for
this process and awserve (skip if the hard limit is below what 10,000 connections need)."""

import os
import resource
import selectors
import socket
import tempfile
import time

from awlib import HOST, Server, check, finish, log, make_root, opt, t

N = int(os.environ.get("AWSERVE_CONNS", "10000"))
REQ = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = N + 200
    if hard != resource.RLIM_INFINITY and hard < need:
        print("SKIP: RLIMIT_NOFILE hard limit %d < %d needed for %d connections" % (hard, need, N))
        raise SystemExit(77)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        make_root(root)
        with Server(root, opt("max_conns"), N + 1000, opt("idle_timeout"), 600000,
                    opt("header_timeout"), 600000) as srv:
            sel = selectors.DefaultSelector()
            socks = []
            # connect in batches, so the listen backlog never overflows into SYN retries
            t0 = time.monotonic()
            deadline = t0 + t(600)
            batch = 500
            while len(socks) < N and time.monotonic() < deadline:
                pend = []
                for _ in range(min(batch, N - len(socks))):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    s.connect_ex((HOST, srv.port))
                    pend.append(s)
                    sel.register(s, selectors.EVENT_WRITE)
                left = set(pend)
                while left and time.monotonic() < deadline:
                    for key, _ in sel.select(timeout=1):
                        s = key.fileobj
                        if s in left:
                            left.discard(s)
                            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                            if err:
                                check(False, "connect %d: %s" % (len(socks), os.strerror(err)))
                                raise SystemExit(finish())
                            sel.unregister(s)
                socks.extend(pend)
            log("%d connections open after %.1f s" % (len(socks), time.monotonic() - t0))
            check(len(socks) == N, "only %d of %d connections opened" % (len(socks), N))
            check(srv.serving(), "a new client is not answered with %d idle connections" % N)

            # a request on every connection
            state = {}
            for s in socks:
                state[s] = [0, b""]  # bytes of REQ sent, bytes received
                sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ)
            done = 0
            bad = 0
            probe_ok = False
            t1 = time.monotonic()
            last = time.monotonic()
            while done < len(socks) and time.monotonic() < deadline:
                if time.monotonic() - last > t(120):
                    log("no answer for 120 s: giving up on the rest")
                    break
                events = sel.select(timeout=1)
                if not events:
                    continue
                last = time.monotonic()
                for key, ev in events:
                    s = key.fileobj
                    st = state[s]
                    if ev & selectors.EVENT_WRITE and st[0] < len(REQ):
                        try:
                            st[0] += s.send(REQ[st[0]:])
                        except BlockingIOError:
                            pass
                        if st[0] == len(REQ):
                            sel.modify(s, selectors.EVENT_READ)
                    if ev & selectors.EVENT_READ:
                        try:
                            chunk = s.recv(4096)
                        except (BlockingIOError, InterruptedError):
                            continue
                        except ConnectionError:
                            chunk = b""
                        st[1] += chunk
                        head, sep, body = st[1].partition(b"\r\n\r\n")
                        finished = False
                        if sep:
                            cl = 0
                            for line in head.split(b"\r\n")[1:]:
                                k, _, v = line.partition(b":")
                                if k.strip().lower() == b"content-length":
                                    cl = int(v)
                            finished = len(body) >= cl
                        if finished or not chunk:
                            if not st[1].startswith(b"HTTP/1.1 200"):
                                bad += 1
                            sel.unregister(s)
                            done += 1
                if not probe_ok and done > len(socks) // 2:
                    probe_ok = True
                    check(srv.serving(), "a new client is not answered while %d are busy" % N)
            log("%d of %d answered (%d not 200) in %.1f s" % (done, len(socks), bad,
                                                               time.monotonic() - t1))
            check(done == len(socks), "%d of %d requests unanswered" % (len(socks) - done, len(socks)))
            check(bad == 0, "%d requests not answered 200" % bad)
            check(srv.serving(), "not serving after the %d connections" % N)
            for s in socks:
                s.close()
            sel.close()
            check(srv.serving(), "not serving after closing them")
    finish()


if __name__ == "__main__":
    main()
