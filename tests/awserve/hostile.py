"""awserve: a corpus of malformed and hostile requests, each with its exact status, the
connection closed where the request stream can no longer be trusted, and the server still
serving afterwards (a fresh GET /hello answered 200 after every case). Limits are set small on
the command line: header 8 KiB (431), body 1 MiB (413).

Statuses chosen (RFC 9110/9112):
  400  any request the parser rejects (request line, header syntax, NUL, obs-fold, bad or
       conflicting Content-Length, Content-Length with Transfer-Encoding, Transfer-Encoding
       whose last coding is not chunked or in an HTTP/1.0 request, bad chunk framing), a missing
       Host in HTTP/1.1 or two of them (RFC 9112 3.2), a bad
       %-escape or a NUL by escape (%00): the connection is closed after a parse error
  403  a path that leaves the root lexically (.., %2e%2e) or through a symlink
  431  header section over --max-header-bytes, then closed
  413  body over --max-body-bytes (Content-Length announced or chunked as it streams), then closed
"""

import os
import tempfile

from awlib import Reader, Server, check, exchange, finish, make_root, opt

SECRET = b"SECRET-OUTSIDE-THE-ROOT-3b1f"
H = b"Host: t\r\n"


def corpus():
    """(name, raw request bytes, expected status, must close after)"""
    c = []

    def add(name, raw, status, close=True):
        c.append((name, raw, status, close))

    # request lines
    add("garbage request line", b"GARBAGE\r\n\r\n", 400)
    add("binary request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400)
    add("extra word after version", b"GET / HTTP/1.1 extra\r\n" + H + b"\r\n", 400)
    add("bad version", b"GET / HTTP/1.x\r\n" + H + b"\r\n", 400)
    add("bad protocol name", b"GET / XTTP/1.1\r\n" + H + b"\r\n", 400)
    add("target without slash", b"GET a.txt HTTP/1.1\r\n" + H + b"\r\n", 400)
    add("NUL in request target", b"GET /a\x00.txt HTTP/1.1\r\n" + H + b"\r\n", 400)
    add("missing Host in HTTP/1.1", b"GET /hello HTTP/1.1\r\n\r\n", 400, close=False)
    add("two Host headers", b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, close=False)
    # header syntax
    add("header line without colon", b"GET / HTTP/1.1\r\n" + H + b"NoColonHere\r\n\r\n", 400)
    add("space before colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400)
    add("bad char in header name", b"GET / HTTP/1.1\r\n" + H + b"X(y): a\r\n\r\n", 400)
    add("NUL in header value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400)
    add("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-Folded: a\r\n b\r\n\r\n", 400)
    add("obs-fold with tab", b"GET / HTTP/1.1\r\n" + H + b"X-Folded: a\r\n\tb\r\n\r\n", 400)
    # body framing / smuggling
    post = b"POST /sha256 HTTP/1.1\r\n" + H
    add("Content-Length + Transfer-Encoding",
        post + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
    add("Transfer-Encoding + Content-Length",
        post + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400)
    add("two different Content-Lengths", post + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400)
    add("negative Content-Length", post + b"Content-Length: -1\r\n\r\n", 400)
    add("non-numeric Content-Length", post + b"Content-Length: 1x\r\n\r\nab", 400)
    add("Content-Length overflow", post + b"Content-Length: 99999999999999999999999\r\n\r\n", 400)
    add("Transfer-Encoding in HTTP/1.0",
        b"POST /sha256 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400)
    add("chunked not last coding", post + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400)
    te = post + b"Transfer-Encoding: chunked\r\n\r\n"
    add("bad chunk size", te + b"zz\r\nabc\r\n0\r\n\r\n", 400)
    add("negative chunk size", te + b"-1\r\nabc\r\n0\r\n\r\n", 400)
    add("chunk size overflow", te + b"fffffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400)
    add("chunk data without CRLF", te + b"3\r\nabcXY0\r\n\r\n", 400)
    # size limits
    add("header over the limit (one 64 KiB header)",
        b"GET /hello HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 65536 + b"\r\n\r\n", 431)
    add("header over the limit (2000 small headers)",
        b"GET /hello HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(2000)) + b"\r\n",
        431)
    add("body over the limit (Content-Length)",
        post + b"Content-Length: 2000000\r\n\r\n" + b"x" * 1000, 413)
    chunk = b"%x\r\n" % 65536 + b"y" * 65536 + b"\r\n"
    add("body over the limit (chunked)", te + chunk * 40 + b"0\r\n\r\n", 413)
    # paths leaving the root lexically: 403; NUL in the decoded path: 400
    for p in (b"/../secret.txt", b"/sub/../../secret.txt", b"/%2e%2e/secret.txt",
              b"/%2E%2e/secret.txt", b"/.%2e/secret.txt", b"/sub/%2e%2e/%2e%2e/secret.txt"):
        add("traversal " + p.decode(), b"GET " + p + b" HTTP/1.1\r\n" + H + b"\r\n", 403, close=False)
    for p in (b"/a.txt%00.html", b"/%00"):
        add("NUL by escape " + p.decode(), b"GET " + p + b" HTTP/1.1\r\n" + H + b"\r\n", 400,
            close=False)
    add("bad %-escape", b"GET /%zz HTTP/1.1\r\n" + H + b"\r\n", 400, close=False)
    add("symlink to a file outside the root", b"GET /out-link HTTP/1.1\r\n" + H + b"\r\n", 403,
        close=False)
    add("symlinked directory outside the root",
        b"GET /out-dir/secret.txt HTTP/1.1\r\n" + H + b"\r\n", 403, close=False)
    return c


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        make_root(root)
        with open(os.path.join(tmp, "secret.txt"), "wb") as f:
            f.write(SECRET)
        os.symlink(os.path.join(tmp, "secret.txt"), os.path.join(root, "out-link"))
        os.symlink(tmp, os.path.join(root, "out-dir"))
        os.symlink("a.txt", os.path.join(root, "in-link"))  # inside: allowed
        args = [opt("max_header"), 8192, opt("max_body"), 1 << 20]
        with Server(root, *args) as srv:
            for name, raw, status, close in corpus():
                try:
                    r, closed = exchange(srv, raw, close_after=close)
                except (AssertionError, TimeoutError, OSError) as e:
                    check(False, "%s: %r" % (name, e))
                    r, closed = None, None
                if r is None:
                    check(False, "%s: no response (connection closed), want %d" % (name, status))
                else:
                    check(r.status == status, "%s: status %d, want %d" % (name, r.status, status))
                    check(SECRET not in r.body, "%s: the response leaks the file outside the root"
                          % name)
                    if close:
                        check(closed, "%s: connection not closed after the %d" % (name, r.status))
                check(srv.alive() and srv.serving(), "%s: not serving afterwards" % name)
            # a bad request pipelined behind a good one: 200, then 400, then closed; a request
            # smuggled behind a CL+TE conflict is never answered
            for tail, want in ((b"GARBAGE\r\n\r\n", [200, 400]),
                               (b"POST /sha256 HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                                b"GET /smuggled HTTP/1.1\r\n" + H + b"\r\n", [200, 400])):
                s = srv.connect()
                rd = Reader(s)
                s.sendall(b"GET /hello HTTP/1.1\r\n" + H + b"\r\n" + tail)
                got = []
                try:
                    for _ in range(3):
                        r = rd.read_response()
                        if r is None:
                            break
                        got.append(r.status)
                except (AssertionError, TimeoutError) as e:
                    got.append(repr(e))
                check(got == want, "pipelined %r: statuses %r, want %r then closed" % (tail[:30], got, want))
                s.close()
            r, _ = exchange(srv, b"GET /in-link HTTP/1.1\r\n" + H + b"\r\n")
            check(r is not None and r.status == 200, "symlink inside the root: %r" % r)
    finish()


if __name__ == "__main__":
    main()
