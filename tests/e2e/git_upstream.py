#!/usr/bin/python3
"""A hermetic "GitHub" for end-to-end tests of gatehouse's git path (SPEC.md section 7).

A TLS server on loopback (port 0 by default) that
  * serves git smart-HTTP by running the real `git http-backend` CGI over --repos,
  * stubs the GitHub REST API under --api-prefix (GHES style, default /api/v3), and on any
    request whose Host starts with "api." (api.github.com style, API at the root),
  * records every request, one JSON object per line, in --log.

Python 3 standard library only (Debian 12: python 3.11). Never prints the token.

Routes (every one needs exactly one Authorization header; see check_auth):
  GET  /<owner>/<repo>[.git]/info/refs?service=git-upload-pack|git-receive-pack   http-backend
  POST /<owner>/<repo>[.git]/git-upload-pack | git-receive-pack                  http-backend
       owner and repo are matched case-insensitively against <repos>/<owner>/<repo>.git
  /redirect/...                  302, Location: https://elsewhere.test/x
  /status/<code>[...]/...        <code> with a short text body (e.g. /status/503.git/info/refs)
  <api-prefix>/...               the REST stub: POST .../pulls -> 201 {"number":1,...},
                                 anything else -> 200 {"ok":true,"method":...,"path":...};
                                 <api-prefix>[/repos]/redirect/... and .../status/<code>/... as
                                 above
  anything else                  404

Log record (one line per request, written before the last byte of the response is sent, so a
client that saw its response complete can read its line):
  {"seq", "conn" (TLS connection number: keep-alive shows as repeats), "method", "target",
   "path", "query", "version", "headers": [[name, value]...] (as received, in order, the
   Authorization value included), "body_len" (de-chunked request body bytes), "body" (API
   requests only, utf-8, at most 64 KiB), "kind" ("git", "api", "redirect", "status",
   "other"), "auth" ("ok", "missing", "bad", "multiple"), "status", "sni", "alpn",
   "tls_version"}
Failed TLS handshakes are not requests: nothing is logged, one line goes to stderr.

stdout: "git_upstream: listening on HOST:PORT", then "git_upstream: request seq=N status=S" per
request (no path, no header). stderr: one-line errors and http-backend's own messages. The
token is never printed (http-backend never sees it: no HTTP_AUTHORIZATION is passed).
"""

import argparse
import base64
import json
import os
import queue
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY_LOG_LIMIT = 64 * 1024
IO_CHUNK = 64 * 1024
SOCKET_TIMEOUT_S = 60
GIT_SERVICES = ("info/refs", "git-upload-pack", "git-receive-pack")
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


class BadRequest(Exception):
    pass


class Upstream(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, args, token, tls):
        super().__init__(address, Handler)
        self.args = args
        self.token = token
        self.tls = tls
        self.git = shutil.which("git") or "/usr/bin/git"
        self.repos = os.path.abspath(args.repos)
        self.api_prefix = args.api_prefix.rstrip("/")
        basic = base64.b64encode(("x-access-token:" + token).encode()).decode()
        self.git_auth = {"Basic " + basic}
        self.api_auth = {"Basic " + basic, "Bearer " + token, "token " + token}
        self.log_lock = threading.Lock()
        self.log_file = open(args.log, "a", encoding="utf-8")
        self.seq = 0
        self.conns = 0
        self.conn_lock = threading.Lock()

    def next_conn(self):
        with self.conn_lock:
            self.conns += 1
            return self.conns

    def record(self, entry):
        with self.log_lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.log_file.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self.log_file.flush()
            # One stdout line per request (no path, no header): lets a test wait for the Nth.
            sys.stdout.write("git_upstream: request seq=%d status=%s\n" %
                             (self.seq, entry.get("status")))
            sys.stdout.flush()

    def handle_error(self, request, client_address):
        # Never a traceback with request data: one line naming the exception type.
        err = sys.exc_info()[1]
        if isinstance(err, (ssl.SSLError, ConnectionError, TimeoutError, socket.timeout)):
            sys.stderr.write("git_upstream: connection error: %s\n" % type(err).__name__)
        else:
            sys.stderr.write("git_upstream: handler error: %s\n" % type(err).__name__)
        sys.stderr.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "git-upstream-test"
    sys_version = ""
    timeout = SOCKET_TIMEOUT_S

    # ---- connection --------------------------------------------------------------------------

    def version_string(self):
        return self.server_version

    def setup(self):
        # The handshake runs here, on the connection's own thread (not in the accept loop).
        self.request.settimeout(SOCKET_TIMEOUT_S)
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        self.conn_id = self.server.next_conn()
        self.sni = getattr(self.request, "gh_sni", None)
        self.alpn = self.request.selected_alpn_protocol()
        self.tls_version = self.request.version()
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            self.request.close()

    def log_message(self, fmt, *args):  # quiet: the JSONL log is the record
        pass

    def log_error(self, fmt, *args):
        sys.stderr.write("git_upstream: %s\n" % (fmt % args)[:200])

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # ---- request body ------------------------------------------------------------------------

    def body_chunks(self):
        """Yields the request body as it arrives (de-chunked); sets self.body_len."""
        self.body_len = 0
        te = self.headers.get_all("Transfer-Encoding") or []
        cl = self.headers.get_all("Content-Length") or []
        if te:
            if cl or [v.strip().lower() for v in te] != ["chunked"]:
                raise BadRequest("unsupported transfer-encoding")
            while True:
                line = self.rfile.readline(1024)
                if not line.endswith(b"\n"):
                    raise BadRequest("bad chunk size line")
                size_text = line.split(b";", 1)[0].strip()
                if not re.fullmatch(rb"[0-9A-Fa-f]{1,15}", size_text):
                    raise BadRequest("bad chunk size")
                size = int(size_text, 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(8192)
                        if not t:
                            raise BadRequest("eof in trailers")
                        if t in (b"\r\n", b"\n"):
                            return
                while size > 0:
                    data = self.rfile.read(min(size, IO_CHUNK))
                    if not data:
                        raise BadRequest("eof in chunk")
                    size -= len(data)
                    self.body_len += len(data)
                    yield data
                if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise BadRequest("missing chunk terminator")
        elif cl:
            if len(set(v.strip() for v in cl)) != 1 or not re.fullmatch(r"[0-9]{1,18}",
                                                                          cl[0].strip()):
                raise BadRequest("bad content-length")
            left = int(cl[0].strip())
            while left > 0:
                data = self.rfile.read(min(left, IO_CHUNK))
                if not data:
                    raise BadRequest("eof in body")
                left -= len(data)
                self.body_len += len(data)
                yield data

    def read_body(self, keep):
        kept = bytearray()
        for data in self.body_chunks():
            if len(kept) < keep:
                kept += data[: keep - len(kept)]
        return bytes(kept)

    # ---- records and simple responses --------------------------------------------------------

    def base_entry(self, kind):
        path, _, query = self.path.partition("?")
        return {
            "conn": self.conn_id,
            "method": self.command,
            "target": self.path,
            "path": path,
            "query": query,
            "version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_len": getattr(self, "body_len", 0),
            "kind": kind,
            "auth": self.auth_state,
            "sni": self.sni,
            "alpn": self.alpn,
            "tls_version": self.tls_version,
        }

    def simple(self, entry, status, body, content_type="text/plain; charset=utf-8", extra=()):
        entry["status"] = status
        self.server.record(entry)
        payload = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        if status >= 200 and status not in (204, 304):
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and status >= 200 and status not in (204, 304):
            self.wfile.write(payload)
        self.wfile.flush()

    def check_auth(self, accepted):
        values = self.headers.get_all("Authorization") or []
        if not values:
            return "missing"
        if len(values) > 1:
            return "multiple"
        return "ok" if values[0].strip() in accepted else "bad"

    # ---- routing ----------------------------------------------------------------------------

    def is_api(self, path):
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("api."):
            return True
        prefix = self.server.api_prefix
        return bool(prefix) and (path == prefix or path.startswith(prefix + "/"))

    def dispatch(self):
        self.body_len = 0
        self.auth_state = "missing"
        path = self.path.partition("?")[0]
        try:
            if self.is_api(path):
                self.api(path)
            else:
                self.git_or_special(path)
        except BadRequest as e:
            self.close_connection = True
            entry = self.base_entry("other")
            self.simple(entry, 400, "bad request: %s\n" % e, extra=[("Connection", "close")])

    @staticmethod
    def special(segments):
        """/redirect/... and /status/<code>...: (kind, status, body, extra) or None."""
        if not segments:
            return None
        if segments[0] == "redirect":
            return ("redirect", 302, "redirecting\n", [("Location", "https://elsewhere.test/x")])
        if segments[0] == "status" and len(segments) > 1:
            m = re.match(r"^(\d{3})", segments[1])
            if m and 200 <= int(m.group(1)) <= 599:
                code = int(m.group(1))
                return ("status", code, "status %d from the test upstream\n" % code, [])
        return None

    def git_or_special(self, path):
        self.auth_state = self.check_auth(self.server.git_auth)
        segments = [s for s in path.split("/") if s]
        sp = self.special(segments)
        if self.auth_state != "ok":
            self.read_body(0)
            kind = sp[0] if sp else ("git" if self.git_target(segments) else "other")
            self.simple(self.base_entry(kind), 401, "Invalid username or token.\n",
                        extra=[("WWW-Authenticate", 'Basic realm="GitHub"')])
            return
        if sp:
            kind, status, body, extra = sp
            self.read_body(0)
            self.simple(self.base_entry(kind), status, body, extra=extra)
            return
        target = self.git_target(segments)
        if target is None:
            self.read_body(0)
            self.simple(self.base_entry("other"), 404, "Not Found\n")
            return
        owner, repo, service = target
        resolved = self.resolve(owner, repo)
        allowed = {"info/refs": ("GET", "HEAD"), "git-upload-pack": ("POST",),
                   "git-receive-pack": ("POST",)}[service]
        if resolved is None or self.command not in allowed:
            self.read_body(0)
            status = 404 if resolved is None else 405
            self.simple(self.base_entry("git"), status,
                        "Repository not found.\n" if resolved is None else "Method not allowed\n")
            return
        self.run_backend(resolved, service)

    @staticmethod
    def git_target(segments):
        if len(segments) < 3:
            return None
        owner, repo, rest = segments[0], segments[1], "/".join(segments[2:])
        if rest not in GIT_SERVICES:
            return None
        if repo.endswith(".git"):
            repo = repo[:-4]
        if not NAME_RE.match(owner) or not NAME_RE.match(repo):
            return None
        return owner, repo, rest

    def resolve(self, owner, repo):
        """<owner>/<repo>.git under --repos, matched case-insensitively."""
        root = self.server.repos

        def find(parent, name):
            try:
                entries = os.listdir(parent)
            except OSError:
                return None
            if name in entries:
                return name
            for e in sorted(entries):
                if e.lower() == name.lower():
                    return e
            return None

        o = find(root, owner)
        if o is None:
            return None
        r = find(os.path.join(root, o), repo + ".git")
        if r is None or not os.path.isdir(os.path.join(root, o, r)):
            return None
        return o + "/" + r

    # ---- git http-backend ------------------------------------------------------------------

    def run_backend(self, resolved, service):
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.server.repos,
            "LANG": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_PROJECT_ROOT": self.server.repos,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": "/" + resolved + "/" + service,
            "QUERY_STRING": query,
            "REMOTE_USER": "x-access-token",
            "REMOTE_ADDR": self.client_address[0],
        }
        if self.headers.get("Content-Type"):
            env["CONTENT_TYPE"] = self.headers["Content-Type"]
        cl = self.headers.get("Content-Length")
        if cl is not None and not self.headers.get("Transfer-Encoding"):
            env["CONTENT_LENGTH"] = cl.strip()
        if self.headers.get("Git-Protocol"):
            env["HTTP_GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]

        proc = subprocess.Popen([self.server.git, "http-backend"], env=env, cwd=self.server.repos,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, bufsize=0)
        # The CGI's output is drained by threads so it never blocks while this thread (the only
        # one touching the TLS socket) still feeds it the request body.
        out_q = queue.Queue()
        err_parts = []

        def pump_out():
            while True:
                data = proc.stdout.read(IO_CHUNK)
                out_q.put(data)
                if not data:
                    return

        def pump_err():
            for line in proc.stderr:
                err_parts.append(line)

        t_out = threading.Thread(target=pump_out, daemon=True)
        t_err = threading.Thread(target=pump_err, daemon=True)
        t_out.start()
        t_err.start()

        bad_request = None
        try:
            for data in self.body_chunks():
                if proc.stdin is None:
                    continue  # the CGI stopped reading: drain the rest
                try:
                    proc.stdin.write(data)
                except (BrokenPipeError, OSError):
                    proc.stdin = None
        except BadRequest as e:
            bad_request = e
        finally:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass

        entry = self.base_entry("git")
        if bad_request is not None:
            proc.kill()
            proc.wait()
            t_out.join()
            t_err.join()
            raise bad_request

        # CGI headers.
        buf = b""
        eof = False
        while b"\n\n" not in buf.replace(b"\r\n", b"\n") and not eof:
            data = out_q.get()
            if not data:
                eof = True
            buf += data
        norm = buf.replace(b"\r\n", b"\n")
        if b"\n\n" not in norm:
            proc.wait()
            t_err.join()
            self.report_stderr(err_parts)
            self.simple(entry, 500, "git http-backend failed\n")
            return
        # Split on the original bytes: find the first blank line in either style.
        m = re.search(rb"\r?\n\r?\n", buf)
        head, rest = buf[: m.start()], buf[m.end():]
        status, reason = 200, "OK"
        headers = []
        length = None
        for line in re.split(rb"\r?\n", head):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip(), value.strip()
            if name.lower() == "status":
                code, _, reason = value.partition(" ")
                status = int(code)
            elif name.lower() == "content-length":
                length = int(value)
            elif name.lower() in ("connection", "transfer-encoding", "keep-alive"):
                continue
            elif name:
                headers.append((name, value))
        entry["status"] = status

        self.send_response(status, reason or None)
        for k, v in headers:
            self.send_header(k, v)
        chunked = length is None
        logged = False
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
            if length == 0:
                self.server.record(entry)
                logged = True
        self.end_headers()

        sent = 0
        pending = rest
        while True:
            if pending:
                if chunked:
                    self.wfile.write(b"%x\r\n" % len(pending) + pending + b"\r\n")
                else:
                    pending = pending[: max(0, length - sent)]
                    if sent + len(pending) >= length and not logged:
                        self.server.record(entry)
                        logged = True
                    self.wfile.write(pending)
                sent += len(pending)
                pending = b""
            if eof:
                break
            data = out_q.get()
            if not data:
                eof = True
            pending = data
        proc.wait()
        t_err.join()
        self.report_stderr(err_parts)
        if not logged:
            self.server.record(entry)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        elif sent < length:
            self.close_connection = True  # the CGI lied about its length
        self.wfile.flush()

    @staticmethod
    def report_stderr(parts):
        # http-backend never sees the token (no HTTP_AUTHORIZATION is passed to it).
        for line in parts[:20]:
            sys.stderr.write("git_upstream: http-backend: %s" %
                             line.decode("utf-8", "replace")[:300])
        sys.stderr.flush()

    # ---- REST API stub -------------------------------------------------------------------------

    def api(self, path):
        self.auth_state = self.check_auth(self.server.api_auth)
        body = self.read_body(BODY_LOG_LIMIT)
        entry = self.base_entry("api")
        entry["body"] = body.decode("utf-8", "replace")
        prefix = self.server.api_prefix
        rel = path[len(prefix):] if prefix and path.startswith(prefix) else path
        if self.auth_state != "ok":
            self.simple(entry, 401, json.dumps({
                "message": "Bad credentials",
                "documentation_url": "https://docs.github.com/rest"}) + "\n",
                "application/json; charset=utf-8")
            return
        segments = [s for s in rel.split("/") if s]
        if segments and segments[0] == "repos":
            segments = segments[1:]
        sp = self.special(segments)
        if sp:
            kind, status, text, extra = sp
            entry["kind"] = kind
            self.simple(entry, status, text, extra=extra)
            return
        if self.command == "POST" and rel.rstrip("/").endswith("/pulls"):
            self.simple(entry, 201, json.dumps({
                "number": 1, "html_url": "https://github.test/o/r/pull/1"}) + "\n",
                "application/json; charset=utf-8")
            return
        self.simple(entry, 200, json.dumps({"ok": True, "method": self.command, "path": path}) +
                    "\n", "application/json; charset=utf-8")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--repos", required=True, help="GIT_PROJECT_ROOT")
    p.add_argument("--token", help="the expected real token (prefer --token-file)")
    p.add_argument("--token-file", help="a file holding the expected real token")
    p.add_argument("--log", required=True, help="JSONL request log")
    p.add_argument("--port-file", help="written (atomically) with the bound port")
    p.add_argument("--api-prefix", default="/api/v3")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()

    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            token = f.read().strip()
    else:
        token = args.token
    if not token:
        sys.stderr.write("git_upstream: --token or --token-file is required\n")
        return 2

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(args.cert, args.key)
    tls.set_alpn_protocols(["http/1.1"])

    def on_sni(sock, server_name, _ctx):
        sock.gh_sni = server_name

    tls.sni_callback = on_sni

    server = Upstream((args.host, args.port), args, token, tls)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    sys.stdout.write("git_upstream: listening on %s:%d\n" % (args.host, port))
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
