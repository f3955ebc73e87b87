"""awserve: graceful shutdown. With a half-sent request and a download in flight, SIGTERM (and
SIGINT in a second run): the listener stops accepting (new connections are refused), the
half-sent request, completed afterwards, is answered 200 and its connection closed, the download
finishes byte for byte, idle keep-alive connections are closed, and awserve exits 0 by itself.
Then a client that never finishes its request: awserve still exits 0 once --drain-ms passes."""

import hashlib
import os
import signal
import socket
import tempfile
import time

from awlib import HOST, Reader, Server, check, finish, log, make_root, opt, t

H = b"Host: t\r\n"


def refused(port):
    try:
        s = socket.create_connection((HOST, port), timeout=t(5))
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    s.close()
    return False


def run(root, big_sum, signo):
    name = signal.Signals(signo).name
    with Server(root, opt("drain"), 60000) as srv:
        # an idle keep-alive connection (one request answered)
        idle = srv.connect()
        idle_rd = Reader(idle)
        idle.sendall(b"GET /hello HTTP/1.1\r\n" + H + b"\r\n")
        r = idle_rd.read_response()
        check(r is not None and r.status == 200, "%s: idle connection's request: %r" % (name, r))
        # a download in flight, read slowly
        dl = srv.connect()
        dl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        dl.sendall(b"GET /big.bin HTTP/1.1\r\n" + H + b"\r\n")
        dl_rd = Reader(dl, t(120))
        first = dl_rd.read_until(b"\r\n\r\n", time.monotonic() + t(30))
        check(first is not None and first.startswith(b"HTTP/1.1 200"), "%s: download head %r"
              % (name, first and first[:40]))
        # a half-sent request: behind a complete one in the same write, so that the answer to
        # the first proves the server has read the start of the second
        half = srv.connect()
        half_rd = Reader(half)
        half.sendall(b"GET /hello HTTP/1.1\r\n" + H + b"\r\nGET /a.txt HTTP/1.1\r\n" + H + b"X-Half: ")
        r = half_rd.read_response()
        check(r is not None and r.status == 200, "%s: the request before the half one: %r" % (name, r))

        srv.signal(signo)
        # the listener goes: new connections refused (polled, bounded)
        end = time.monotonic() + t(30)
        while time.monotonic() < end and not refused(srv.port):
            time.sleep(0.1)
        check(refused(srv.port), "%s: new connections still accepted 30 s after the signal" % name)
        check(srv.alive(), "%s: exited with a download and a half-sent request in flight" % name)

        # the half-sent request completed: answered, then closed
        half.sendall(b"yes\r\n\r\n")
        try:
            r = half_rd.read_response()
        except (AssertionError, TimeoutError) as e:
            r = None
            log("half-sent request: %r" % e)
        check(r is not None and r.status == 200, "%s: the half-sent request got %r, not a 200"
              % (name, r))
        check(half_rd.closed(), "%s: connection of the half-sent request not closed" % name)
        # the idle keep-alive connection is closed
        check(idle_rd.closed(t(60)), "%s: idle keep-alive connection not closed" % name)
        # the download finishes intact
        head = first or b""
        cl = None
        for line in head.split(b"\r\n"):
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                cl = int(v)
        h = hashlib.sha256()
        n = 0
        buf, dl_rd.buf = dl_rd.buf, b""
        h.update(buf)
        n += len(buf)
        dl.settimeout(t(60))
        while cl is not None and n < cl:
            time.sleep(0.001)
            try:
                chunk = dl.recv(65536)
            except OSError as e:
                log("download: %r" % e)
                break
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        check(n == cl and h.hexdigest() == big_sum, "%s: download cut at %d of %r bytes" % (name, n, cl))
        for s in (idle, dl, half):
            s.close()
        rc = srv.wait(t(60))
        check(rc == 0, "%s: exit status %r after the drain, not 0" % (name, rc))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        make_root(root)
        big = os.path.join(root, "big.bin")
        with open(big, "wb") as f:
            for i in range(16):
                f.write(hashlib.sha256(b"%d" % i).digest() * 32768)  # 16 MiB
        big_sum = hashlib.sha256(open(big, "rb").read()).hexdigest()
        run(root, big_sum, signal.SIGTERM)
        run(root, big_sum, signal.SIGINT)

        # a request that never completes does not hold the exit past --drain-ms
        with Server(root, opt("drain"), 1000) as srv:
            stuck = srv.connect()
            stuck.sendall(b"GET /hello HTTP/1.1\r\n" + H + b"\r\nGET /a.txt HTTP/1.1\r\n" + H + b"X-Never: ")
            r = Reader(stuck).read_response()
            check(r is not None and r.status == 200, "the request before the stuck one: %r" % r)
            t0 = time.monotonic()
            srv.signal(signal.SIGTERM)
            rc = srv.wait(t(60))
            log("exited %.1f s after SIGTERM with a stuck request (--drain-ms 1000)"
                % (time.monotonic() - t0))
            check(rc == 0, "exit status %r with a stuck request past --drain-ms, not 0" % rc)
            stuck.close()
    finish()


if __name__ == "__main__":
    main()
