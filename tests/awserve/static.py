"""awserve: static files, keep-alive reuse, pipelining, HEAD, Range 206/416, 304 by ETag and
If-Modified-Since, Content-Type, directory index and listing (escaped), the trailing-slash
redirect, HTTP/1.0 and Connection: close, with curl and
Python's http.client."""

import email.utils
import hashlib
import http.client
import os
import subprocess
import tempfile

from awlib import (HOST, Reader, Server, check, finish, log, make_root, read_response, t)


def curl(*args):
    p = subprocess.run(["curl", "-sS", "--max-time", str(int(t(60)))] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(120))
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        files = make_root(root)
        big = os.path.join(root, "big.bin")
        with open(big, "wb") as f:  # 24 MiB: large enough for sendfile/splice to loop
            for i in range(24):
                f.write(hashlib.sha256(b"%d" % i).digest() * 32768)
        big_sum = hashlib.sha256(open(big, "rb").read()).hexdigest()
        with Server(root) as srv:
            u = srv.url

            # /hello
            rc, out, err = curl("-i", u("/hello"))
            check(rc == 0 and out.startswith(b"HTTP/1.1 200"), "GET /hello: %r %r" % (out[:80], err))

            # keep-alive reuse, curl: two URLs on one command line share the connection
            rc, out, err = curl("-v", "-o", "/dev/null", "-o", "/dev/null", u("/a.txt"), u("/hello"))
            check(rc == 0 and "Re-using existing connection" in err,
                  "curl did not reuse the connection for a second request:\n" + err[-1500:])

            # keep-alive reuse, raw: three requests one after another on one socket
            s = srv.connect()
            rd = Reader(s)
            for path in ("/a.txt", "/index.html", "/hello"):
                s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode())
                r = rd.read_response()
                check(r is not None and r.status == 200, "keep-alive GET %s: %r" % (path, r))
                if path != "/hello" and r is not None:
                    check(r.body == files[path[1:]], "body of %s differs" % path)
            # pipelining: three requests in one write, answered in order
            s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                      b"GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n"
                      b"HEAD /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
            r1, r2 = rd.read_response(), rd.read_response()
            r3 = rd.read_response(head_only=True)
            check(r1 and r1.status == 200 and r1.body == files["a.txt"], "pipelined 1: %r" % r1)
            check(r2 and r2.status == 200 and r2.body == files["style.css"], "pipelined 2: %r" % r2)
            check(r3 and r3.status == 200 and
                  r3.header("content-length") == str(len(files["index.html"])),
                  "pipelined HEAD: %r" % r3)
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            r4 = rd.read_response()
            check(r4 and r4.status == 200 and not rd.buf,
                  "after a pipelined HEAD: %r (HEAD must send no body; left %r)" % (r4, rd.buf[:60]))
            s.close()

            # http.client: keep-alive over one connection object (same socket throughout)
            c = http.client.HTTPConnection(HOST, srv.port, timeout=t(30))
            c.request("GET", "/a.txt")
            resp = c.getresponse()
            body = resp.read()
            sock1 = c.sock
            check(resp.status == 200 and body == files["a.txt"], "http.client GET /a.txt")
            c.request("GET", "/data.json")
            resp = c.getresponse()
            resp.read()
            check(c.sock is sock1 and sock1 is not None, "http.client had to reconnect")
            check(resp.status == 200, "http.client GET /data.json: %d" % resp.status)

            # Content-Type by extension
            for name, want in (("index.html", "text/html"), ("a.txt", "text/plain"),
                               ("style.css", "text/css"), ("data.json", "application/json"),
                               ("img.png", "image/png")):
                c.request("GET", "/" + name)
                resp = c.getresponse()
                resp.read()
                ct = resp.getheader("Content-Type", "")
                check(ct.split(";")[0].strip().lower() == want,
                      "Content-Type of %s is %r, not %s" % (name, ct, want))
            # directory index, %-encoded names
            for path, want in (("/", files["index.html"]), ("/sub/", files["sub/index.html"]),
                               ("/sub/deep/file.txt", files["sub/deep/file.txt"]),
                               ("/space%20name.txt", files["space name.txt"])):
                c.request("GET", path)
                resp = c.getresponse()
                b = resp.read()
                check(resp.status == 200 and b == want, "GET %s: %d %r" % (path, resp.status, b[:40]))
            # a directory without index.html: a listing naming its entries, HTML-escaped
            os.makedirs(os.path.join(root, "list"))
            for name in ("one.txt", "two.txt", "x<b>y.txt"):
                with open(os.path.join(root, "list", name), "wb") as f:
                    f.write(b"x")
            c.request("GET", "/list/")
            resp = c.getresponse()
            b = resp.read()
            check(resp.status == 200 and b"one.txt" in b and b"two.txt" in b,
                  "listing of /list/: %d %r" % (resp.status, b[:200]))
            check(b"<b>" not in b and b"x&lt;b&gt;y.txt" in b,
                  "listing of /list/ does not HTML-escape a file name: %r" % b[:400])
            # a directory without the trailing slash: redirected to it
            c.request("GET", "/sub")
            resp = c.getresponse()
            resp.read()
            loc = resp.getheader("Location", "")
            check(resp.status in (301, 302, 307, 308) and loc.endswith("/sub/"),
                  "GET /sub: %d Location %r (want a redirect to /sub/)" % (resp.status, loc))
            c.request("GET", "/no-such-file")
            resp = c.getresponse()
            resp.read()
            check(resp.status == 404, "GET /no-such-file: %d, not 404" % resp.status)

            # HEAD: headers of the GET, no body
            c.request("HEAD", "/bin.dat")
            resp = c.getresponse()
            b = resp.read()
            check(resp.status == 200 and b == b"" and
                  resp.getheader("Content-Length") == str(len(files["bin.dat"])),
                  "HEAD /bin.dat: %d CL %r" % (resp.status, resp.getheader("Content-Length")))
            rc, out, err = curl("-I", u("/bin.dat"))
            check(rc == 0 and out.startswith(b"HTTP/1.1 200"), "curl -I: %r %s" % (out[:60], err))

            # Last-Modified / ETag, then 304
            c.request("GET", "/a.txt")
            resp = c.getresponse()
            resp.read()
            etag = resp.getheader("ETag")
            lm = resp.getheader("Last-Modified")
            check(etag is not None, "no ETag on /a.txt")
            check(lm is not None, "no Last-Modified on /a.txt")
            if lm:
                mtime = int(os.stat(os.path.join(root, "a.txt")).st_mtime)
                parsed = email.utils.parsedate_to_datetime(lm).timestamp()
                check(int(parsed) == mtime, "Last-Modified %r is not the file's mtime %d" % (lm, mtime))
            if etag:
                for inm in (etag, '"nope", ' + etag, "*"):
                    c.request("GET", "/a.txt", headers={"If-None-Match": inm})
                    resp = c.getresponse()
                    b = resp.read()
                    check(resp.status == 304 and b == b"", "If-None-Match %r: %d" % (inm, resp.status))
                c.request("GET", "/a.txt", headers={"If-None-Match": '"other"'})
                resp = c.getresponse()
                b = resp.read()
                check(resp.status == 200 and b == files["a.txt"], "If-None-Match other: %d" % resp.status)
                rc, out, err = curl("-si", "-H", "If-None-Match: " + etag, u("/a.txt"))
                check(rc == 0 and out.startswith(b"HTTP/1.1 304"), "curl 304 by ETag: %r" % out[:60])
            if lm:
                c.request("GET", "/a.txt", headers={"If-Modified-Since": lm})
                resp = c.getresponse()
                b = resp.read()
                check(resp.status == 304 and b == b"", "If-Modified-Since = Last-Modified: %d" % resp.status)
                c.request("GET", "/a.txt", headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"})
                resp = c.getresponse()
                b = resp.read()
                check(resp.status == 200 and b == files["a.txt"], "If-Modified-Since 2000: %d" % resp.status)
                rc, out, err = curl("-si", "-z", lm, u("/a.txt"))
                check(rc == 0 and out.startswith(b"HTTP/1.1 304"), "curl -z: %r" % out[:60])

            # Range
            data = files["bin.dat"]
            n = len(data)
            for rng, lo, hi in (("bytes=0-99", 0, 99), ("bytes=1000-", 1000, n - 1),
                                ("bytes=-500", n - 500, n - 1), ("bytes=%d-%d" % (n - 1, n + 50), n - 1, n - 1)):
                c.request("GET", "/bin.dat", headers={"Range": rng})
                resp = c.getresponse()
                b = resp.read()
                check(resp.status == 206, "Range %s: %d, not 206" % (rng, resp.status))
                check(b == data[lo:hi + 1], "Range %s: wrong bytes (%d of them)" % (rng, len(b)))
                cr = resp.getheader("Content-Range")
                check(cr == "bytes %d-%d/%d" % (lo, hi, n), "Range %s: Content-Range %r" % (rng, cr))
            for rng in ("bytes=%d-" % n, "bytes=%d-%d" % (n + 10, n + 20)):
                c.request("GET", "/bin.dat", headers={"Range": rng})
                resp = c.getresponse()
                resp.read()
                check(resp.status == 416, "Range %s: %d, not 416" % (rng, resp.status))
                cr = resp.getheader("Content-Range")
                check(cr == "bytes */%d" % n, "416 Content-Range %r" % cr)
            rc, out, err = curl("-s", "-r", "10-19", u("/bin.dat"))
            check(rc == 0 and out == data[10:20], "curl -r 10-19")
            c.close()

            # a large file through curl (the sendfile/splice path), checked by its sha256
            rc, out, err = curl(u("/big.bin"))
            check(rc == 0 and hashlib.sha256(out).hexdigest() == big_sum,
                  "GET /big.bin: %d bytes, sum differs (%s)" % (len(out), err))

            # HTTP/1.0 and Connection: close: answered, then the server closes
            for req in (b"GET /a.txt HTTP/1.0\r\n\r\n",
                        b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"):
                s = srv.connect()
                s.sendall(req)
                rd = Reader(s)
                r = rd.read_response()
                check(r is not None and r.status == 200 and r.body == files["a.txt"],
                      "%r: %r" % (req[:30], r))
                check(rd.closed(), "%r: the server did not close the connection" % req[:30])
                s.close()
            # HTTP/1.0 asking for keep-alive: persistent only if the answer says so (optional)
            s = srv.connect()
            rd = Reader(s)
            s.sendall(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = rd.read_response()
            check(r is not None and r.status == 200, "HTTP/1.0 keep-alive: %r" % r)
            if r is not None and (r.header("connection") or "").lower() == "keep-alive":
                s.sendall(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                r = rd.read_response()
                check(r is not None and r.status == 200, "HTTP/1.0 keep-alive, second: %r" % r)
            elif r is not None:
                check(rd.closed(), "HTTP/1.0 answered without keep-alive but not closed")
            s.close()
            check(srv.serving(), "not serving at the end")
    finish()


if __name__ == "__main__":
    main()
