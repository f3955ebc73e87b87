"""awserve: POST /sha256 hashes the streamed request body (chunked or Content-Length) on the CPU
pool; the answer's first word is the hex digest, checked against coreutils sha256sum."""

import os
import subprocess
import tempfile

from awlib import Reader, Server, check, finish, make_root, t


def sha256sum(path):
    out = subprocess.run(["sha256sum", path], stdout=subprocess.PIPE, check=True, timeout=t(120))
    return out.stdout.split()[0].decode()


def digest_of(body):
    words = body.split()
    return words[0].decode("latin-1").lower() if words else ""


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        make_root(root)
        inputs = {}
        for name, size in (("empty", 0), ("one", 1), ("small", 1000), ("odd", 65537),
                           ("big", 40 * 1024 * 1024 + 3)):
            p = os.path.join(tmp, name)
            with open(p, "wb") as f:
                left = size
                block = os.urandom(1 << 20)
                while left:
                    n = min(left, len(block))
                    f.write(block[:n])
                    left -= n
            inputs[name] = p
        with Server(root) as srv:
            for name, p in inputs.items():
                want = sha256sum(p)
                for mode in ("chunked", "length"):
                    args = ["curl", "-sS", "--max-time", str(int(t(120))), "--data-binary", "@" + p,
                            "-H", "Content-Type: application/octet-stream"]
                    if mode == "chunked":
                        args += ["-H", "Transfer-Encoding: chunked"]
                    r = subprocess.run(args + [srv.url("/sha256")], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, timeout=t(180))
                    got = digest_of(r.stdout)
                    check(r.returncode == 0 and got == want,
                          "curl %s upload of %s: %r (want %s) %s" %
                          (mode, name, r.stdout[:100], want, r.stderr.decode()[-300:]))

            # hand-made chunking: odd sizes, a chunk extension, trailers; two uploads on one
            # keep-alive connection, the second pipelined behind the first
            data = os.urandom(100003)
            want = subprocess.run(["sha256sum"], input=data, stdout=subprocess.PIPE,
                                  timeout=t(60)).stdout.split()[0].decode()
            body = b""
            i, sizes = 0, [1, 2, 3, 4096, 7, 65536, 10]
            k = 0
            while i < len(data):
                n = min(sizes[k % len(sizes)], len(data) - i)
                ext = b";name=value" if k == 2 else b""
                body += b"%x%s\r\n" % (n, ext) + data[i:i + n] + b"\r\n"
                i += n
                k += 1
            body += b"0\r\nX-Trailer: yes\r\n\r\n"
            req = (b"POST /sha256 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
            s = srv.connect()
            rd = Reader(s, t(120))
            s.sendall(req + req)
            for j in range(2):
                r = rd.read_response()
                check(r is not None and r.status == 200 and digest_of(r.body) == want,
                      "hand-chunked upload %d: %r" % (j, r and r.body[:100]))
            # sent a byte at a time across the chunk framing
            small = b"POST /sha256 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" \
                    b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
            for b in small:
                s.sendall(bytes([b]))
            r = rd.read_response()
            want5 = subprocess.run(["sha256sum"], input=b"abcde", stdout=subprocess.PIPE,
                                   timeout=t(60)).stdout.split()[0].decode()
            check(r is not None and r.status == 200 and digest_of(r.body) == want5,
                  "byte-at-a-time chunked upload: %r" % (r and r.body[:100]))
            s.close()
            check(srv.serving(), "not serving at the end")
    finish()


if __name__ == "__main__":
    main()
