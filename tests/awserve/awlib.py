"""Shared helpers for the awserve tests (Python 3 stdlib only).

Every test script is run as `python3 SCRIPT AWSERVE` (meson passes the built awserve). A test
starts awserve with `Server(...)` in a `with` block: the server listens on 127.0.0.1 port 0, the
port is read from the first stdout line ("awserve: listening on http://HOST:PORT"), and on the way
out (also on failure) it is stopped by its PID: SIGTERM, then SIGKILL if it has not exited after a
generous wait. A graceful stop must exit 0 and leave no sanitizer report on stderr, so a leak or
an ASan/UBSan error in the server fails the test that ran it.

Nothing here asserts on time: timeouts are upper bounds generous enough for a loaded 2-core
machine running the ASan+UBSan build (AWSERVE_TIMEOUT_SCALE multiplies them).
"""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

SCALE = float(os.environ.get("AWSERVE_TIMEOUT_SCALE", "1"))
HOST = "127.0.0.1"

# The options this suite uses besides the CLI contract (--host --port --root --threads): for each
# concept the names accepted, the first one `awserve --help` lists is used; none listed is a test
# failure naming them. Values are milliseconds or bytes.
OPT = {
    "header_timeout": ("--header-timeout-ms", "--header-timeout"),
    "idle_timeout": ("--idle-timeout-ms", "--keepalive-ms", "--keepalive-timeout-ms",
                     "--keep-alive-ms"),
    "max_header": ("--max-header-bytes", "--max-header", "--max-headers"),
    "max_body": ("--max-body-bytes", "--max-body"),
    "max_conns": ("--max-conns", "--max-connections"),
    "drain": ("--drain-ms",),
}

FAILURES = []


def t(seconds):
    """A timeout bound, scaled for slow builds."""
    return seconds * SCALE


def log(*a):
    print(*a, flush=True)


def check(cond, what):
    """Records a failure (the test goes on to report every broken case) and returns cond."""
    if not cond:
        FAILURES.append(what)
        log("FAIL: " + what)
    return cond


def finish():
    if FAILURES:
        log("%d check(s) failed:" % len(FAILURES))
        for f in FAILURES:
            log("  - " + f)
        sys.exit(1)
    log("ok")
    sys.exit(0)


def skip(reason):
    log("SKIP: " + reason)
    sys.exit(77)


def awserve_path():
    if len(sys.argv) < 2:
        sys.exit("usage: %s AWSERVE" % sys.argv[0])
    return os.path.abspath(sys.argv[1])


_help_text = None


def help_text():
    global _help_text
    if _help_text is None:
        p = subprocess.run([awserve_path(), "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=t(60))
        _help_text = p.stdout.decode("utf-8", "replace")
    return _help_text


def opt(name):
    """The command-line option for a concept; fails the test if --help lists none of its names."""
    for o in OPT[name]:
        if re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", help_text()):
            return o
    raise AssertionError("awserve --help lists none of %s (needed by this test)" % " ".join(OPT[name]))


SANITIZER = re.compile(rb"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
                       rb"runtime error:|ThreadSanitizer")


class Server:
    """awserve on loopback port 0; stopped by PID on exit from the with block."""

    def __init__(self, root, *args, threads=1, rlimit_nofile=None, expect_exit=0):
        self.argv = [awserve_path(), "--host", HOST, "--port", "0", "--root", root,
                     "--threads", str(threads)] + [str(a) for a in args]
        self.rlimit_nofile = rlimit_nofile
        self.expect_exit = expect_exit
        self.proc = None
        self.port = None
        self.stdout_lines = []
        self.stderr = b""
        self.returncode = None

    def _preexec(self):
        if self.rlimit_nofile is not None:
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, self.rlimit_nofile)

    def __enter__(self):
        log("starting: " + " ".join(self.argv))
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=self._preexec)
        self._err_chunks = []
        self._err_thread = threading.Thread(target=self._drain_err, daemon=True)
        self._err_thread.start()
        first = self._read_first_line(t(60))
        m = re.fullmatch(r"awserve: listening on http://([^ ]+):(\d+)", first)
        if not m:
            self.stop()
            raise AssertionError("first stdout line is %r, not 'awserve: listening on "
                                 "http://HOST:PORT'; stderr: %r" % (first, self.stderr[-2000:]))
        self.port = int(m.group(2))
        self._out_thread = threading.Thread(target=self._drain_out, daemon=True)
        self._out_thread.start()
        log("awserve pid %d on port %d" % (self.proc.pid, self.port))
        return self

    def _read_first_line(self, timeout):
        fd = self.proc.stdout.fileno()
        buf = b""
        end = time.monotonic() + timeout
        while b"\n" not in buf:
            left = end - time.monotonic()
            if left <= 0:
                return buf.decode("utf-8", "replace") + " (timed out)"
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
        line, _, rest = buf.partition(b"\n")
        self._out_rest = rest
        return line.decode("utf-8", "replace")

    def _drain_out(self):
        data = self._out_rest
        while True:
            chunk = self.proc.stdout.read1(65536) if hasattr(self.proc.stdout, "read1") else \
                self.proc.stdout.read(65536)
            if not chunk:
                break
            data += chunk
        self.stdout_lines = data.decode("utf-8", "replace").splitlines()

    def _drain_err(self):
        while True:
            chunk = self.proc.stderr.read1(65536)
            if not chunk:
                break
            self._err_chunks.append(chunk)
            self.stderr = b"".join(self._err_chunks)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, signo):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signo)

    def wait(self, timeout):
        """Waits for the exit; returns the status or None if still running."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """SIGTERM by PID, wait, SIGKILL if needed; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            if self.wait(t(60)) is None:
                log("awserve pid %d did not exit 60 s after SIGTERM: SIGKILL" % self.proc.pid)
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._err_thread.join(t(10))
        if hasattr(self, "_out_thread"):
            self._out_thread.join(t(10))
        self.returncode = self.proc.returncode
        return self.returncode

    def __exit__(self, et, ev, tb):
        rc = self.stop()
        err = self.stderr
        if SANITIZER.search(err):
            check(False, "sanitizer report on awserve's stderr:\n" +
                  err.decode("utf-8", "replace")[-6000:])
        if self.expect_exit is not None:
            check(rc == self.expect_exit, "awserve exited with status %r after SIGTERM, not %d"
                  " (stderr tail: %r)" % (rc, self.expect_exit, err[-1500:]))
        return False

    # ---- clients -------------------------------------------------------------------------

    def connect(self, timeout=None):
        s = socket.create_connection((HOST, self.port), timeout=timeout or t(30))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def url(self, path="/"):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def serving(self, path="/hello"):
        """A fresh connection gets 200 for GET path: the server is still serving."""
        try:
            s = self.connect()
            try:
                s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
                r = read_response(s)
                return r is not None and r.status == 200
            finally:
                s.close()
        except OSError as e:
            log("serving check: %r" % e)
            return False


# ---- a small HTTP/1.1 response reader over a raw socket (the tests need byte-level control) --

class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-case name, value)
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def __repr__(self):
        return "<%d %s %r body %d B>" % (self.status, self.reason, self.headers, len(self.body))


class Reader:
    """Buffered reads from a socket with an overall deadline; pipelined responses share it."""

    def __init__(self, sock, timeout=None):
        self.sock = sock
        self.buf = b""
        self.timeout = timeout or t(30)
        self.eof = False
        self.error = None

    def _more(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no response within %.0f s" % self.timeout)
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(262144)
        except socket.timeout:
            raise TimeoutError("no response within %.0f s" % self.timeout)
        except ConnectionResetError as e:
            self.error = e
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk
        return chunk

    def read_until(self, sep, deadline):
        while sep not in self.buf:
            if not self._more(deadline):
                return None
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_n(self, n, deadline):
        while len(self.buf) < n:
            if not self._more(deadline):
                break
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_only=False):
        """One response; None at EOF (or reset) before a status line. Bodies: Content-Length,
        chunked, or to EOF."""
        deadline = time.monotonic() + self.timeout
        head = self.read_until(b"\r\n\r\n", deadline)
        if head is None:
            return None
        lines = head[:-4].split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ?(.*)", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        headers = []
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            headers.append((k.strip().lower().decode("latin-1"), v.strip().decode("latin-1")))
        r = Response(int(m.group(1)), m.group(2).decode("latin-1"), headers, b"", head)
        if head_only or r.status in (204, 304) or 100 <= r.status < 200:
            return r
        te = r.header("transfer-encoding")
        cl = r.header("content-length")
        if te and "chunked" in te.lower():
            body = b""
            while True:
                line = self.read_until(b"\r\n", deadline)
                if line is None:
                    raise AssertionError("EOF inside a chunked response")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    self.read_until(b"\r\n\r\n" if self.buf[:2] != b"\r\n" else b"\r\n", deadline)
                    break
                body += self.read_n(size, deadline)
                self.read_n(2, deadline)
            r.body = body
        elif cl is not None:
            n = int(cl)
            r.body = self.read_n(n, deadline)
            if len(r.body) != n:
                raise AssertionError("response body cut: %d of %d bytes" % (len(r.body), n))
        else:
            while self._more(deadline):
                pass
            r.body, self.buf = self.buf, b""
        return r

    def closed(self, timeout=None):
        """True if the peer closes (EOF or reset) within timeout with no further bytes
        (bytes that arrive are kept in buf and make it False)."""
        deadline = time.monotonic() + (timeout or t(30))
        try:
            while not self.eof:
                if self._more(deadline) and self.buf:
                    return False
        except TimeoutError:
            return False
        return not self.buf


def read_response(sock, timeout=None, head_only=False):
    return Reader(sock, timeout).read_response(head_only)


def exchange(srv, raw, timeout=None, close_after=False):
    """Sends raw bytes on a fresh connection while reading (a server that answers early and
    closes must not make the send fail the test), returns (Response or None, closed_after).
    closed_after: the server closed the connection after the response."""
    s = srv.connect()
    try:
        s.setblocking(False)
        sent = 0
        deadline = time.monotonic() + (timeout or t(30))
        got = b""
        while sent < len(raw) and time.monotonic() < deadline:
            _, w, _ = select.select([], [s], [], 0.5)
            r, _, _ = select.select([s], [], [], 0)
            if r:
                try:
                    chunk = s.recv(65536)
                except (ConnectionResetError, BlockingIOError):
                    chunk = b""
                got += chunk
                if not chunk or b"\r\n\r\n" in got:
                    break  # the server answered (or gave up) before reading everything
            if w:
                try:
                    sent += s.send(raw[sent:sent + 65536])
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    break
        s.setblocking(True)
        rd = Reader(s, timeout)
        rd.buf = got
        resp = rd.read_response()
        closed = rd.closed(t(30)) if close_after else None
        return resp, closed
    finally:
        s.close()


def rst_close(sock):
    """Closes with SO_LINGER 0: the peer gets a RST."""
    import struct
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def make_root(base):
    """A document root with known files; returns dict name -> bytes."""
    import random
    rnd = random.Random(10)
    files = {
        "index.html": b"<!doctype html><title>awserve test</title><p>index</p>\n",
        "a.txt": b"plain text file\n" * 10,
        "style.css": b"body { color: black }\n",
        "data.json": b'{"k": [1, 2, 3]}\n',
        "img.png": b"\x89PNG\r\n\x1a\n" + bytes(rnd.getrandbits(8) for _ in range(500)),
        "bin.dat": bytes(rnd.getrandbits(8) for _ in range(100000)),
        "sub/index.html": b"<p>sub index</p>\n",
        "sub/deep/file.txt": b"deep\n",
        "space name.txt": b"space\n",
    }
    for name, data in files.items():
        p = os.path.join(base, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    return files
