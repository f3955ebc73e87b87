"""awserve: clients that reset (SO_LINGER 0) mid-request (inside the request line, the headers,
a Content-Length body, a chunked /sha256 upload) and mid-response (a large download read in part,
a pipelined burst never read, a 40 MiB upload's answer never read), many times over; the server
stays up, keeps serving, and exits 0 with no sanitizer report. A vanished peer must never raise
SIGPIPE in awserve (the write paths: headers, body from a file, small responses)."""

import os
import socket
import tempfile
import time

from awlib import Server, check, finish, log, make_root, rst_close, t

H = b"Host: t\r\n"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        make_root(root)
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.truncate(64 << 20)  # 64 MiB (sparse): far more than the socket buffers hold
        with Server(root) as srv:
            partial = [
                b"GE",
                b"GET /hello HTT",
                b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Half: abc",
                b"POST /sha256 HTTP/1.1\r\n" + H + b"Content-Length: 100000\r\n\r\n" + b"z" * 5000,
                b"POST /sha256 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
                b"1000\r\n" + b"q" * 2000,
                b"POST /sha256 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
                b"10\r\n" + b"q" * 16 + b"\r\n",
            ]
            for rnd in range(5):
                for i, raw in enumerate(partial):
                    s = srv.connect()
                    s.sendall(raw)
                    if rnd % 2:
                        time.sleep(0.05)  # let the server get into the middle of it
                    rst_close(s)
                    check(srv.alive() and srv.serving(), "round %d: reset mid-request %d: not serving"
                          % (rnd, i))

            for rnd in range(10):
                # a large download, reset after a part of it was read
                s = srv.connect()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
                s.sendall(b"GET /big.bin HTTP/1.1\r\n" + H + b"\r\n")
                got = 0
                want = 1000 + rnd * 200000
                while got < want:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += len(chunk)
                check(got >= want, "download ended after %d bytes" % got)
                rst_close(s)
                # a pipelined burst of requests, answers never read, reset
                s = srv.connect()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.sendall((b"GET /bin.dat HTTP/1.1\r\n" + H + b"\r\n") * 50)
                time.sleep(0.02 * (rnd % 3))
                rst_close(s)
                # a plain close (FIN) in the middle of a download: the server's next write fails
                s = srv.connect()
                s.sendall(b"GET /big.bin HTTP/1.1\r\n" + H + b"\r\n")
                s.recv(1000)
                s.close()
                check(srv.alive() and srv.serving(), "round %d: reset mid-response: not serving" % rnd)

            # an upload whose answer is never read: the hash is computed, the send finds a reset
            for rnd in range(3):
                s = srv.connect()
                body = b"u" * (4 << 20)
                s.sendall(b"POST /sha256 HTTP/1.1\r\n" + H + b"Content-Length: %d\r\n\r\n" % len(body)
                          + body)
                rst_close(s)
            time.sleep(0.2)
            check(srv.alive() and srv.serving(), "after resets with uploads: not serving")
            log("server alive after the resets")
    finish()


if __name__ == "__main__":
    main()
