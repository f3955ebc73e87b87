"""awserve: slowloris. Clients sending one header byte every 500 ms are answered 408 and closed
at the header deadline (--header-timeout-ms 3000), never before it, while a normal client is
answered throughout. A client that sends nothing at all is closed at the same deadline.
No timing assert beyond "not before the deadline" (load can only make the close later); the
upper bound is a generous 60 s."""

import os
import socket
import tempfile
import threading
import time

from awlib import Reader, Server, check, finish, log, make_root, opt, t

DEADLINE_MS = 3000


def slow_client(srv, results, i, send_bytes=True):
    t0 = time.monotonic()  # before connecting: the server's deadline cannot start earlier
    s = srv.connect()
    head = b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100000
    s.setblocking(False)
    got = b""
    closed = False
    k = 0
    limit = t0 + t(60)
    while time.monotonic() < limit:
        if send_bytes:
            try:
                s.send(head[k:k + 1])
                k += 1
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        time.sleep(0.5)
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    closed = True
                    break
                got += chunk
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed = True
        if closed:
            break
    results[i] = (closed, time.monotonic() - t0, got, k)
    s.close()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        make_root(root)
        with Server(root, opt("header_timeout"), DEADLINE_MS) as srv:
            n = 5
            results = [None] * (n + 1)
            threads = [threading.Thread(target=slow_client, args=(srv, results, i)) for i in range(n)]
            threads.append(threading.Thread(target=slow_client, args=(srv, results, n, False)))
            for th in threads:
                th.start()
            # meanwhile a normal client is answered, repeatedly
            served = 0
            while any(th.is_alive() for th in threads) and served < 200:
                if check(srv.serving(), "a normal client was not answered during the slowloris"):
                    served += 1
                else:
                    break
                time.sleep(0.05)
            for th in threads:
                th.join(t(120))
            for i, res in enumerate(results):
                who = "silent client" if i == n else "slow client %d" % i
                if not check(res is not None, who + ": no result"):
                    continue
                closed, secs, got, sent = res
                log("%s: closed=%s after %.1f s, %d bytes sent, answer %r" % (who, closed, secs, sent,
                                                                               got[:40]))
                check(closed, "%s: not closed within 60 s" % who)
                check(secs >= DEADLINE_MS / 1000 * 0.9, "%s: closed after %.2f s, before the %d ms"
                      " deadline" % (who, secs, DEADLINE_MS))
                if i < n:
                    check(got.startswith(b"HTTP/1.1 408"), "%s: answer %r, not 408" % (who, got[:40]))
            check(srv.serving(), "not serving after the slowloris")
    finish()


if __name__ == "__main__":
    main()
