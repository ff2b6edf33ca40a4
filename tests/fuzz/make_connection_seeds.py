#!/usr/bin/env python3
"""Writes the seed corpus of connection_fuzz (tests/fuzz/corpus/connection).

Each seed is: flags byte 0, flags byte 1, segment count, segment bytes, then the clients' bytes
("@@NEXT@@" between client connections). The layout and the meaning of every bit are described
at the top of connection_fuzz.cc. Re-run after changing the layout:

    tests/fuzz/make_connection_seeds.py [DIR]
"""
import base64
import hashlib
import os
import struct
import sys

# byte 0
LENGTH, CHUNKED, EARLY, CONTINUE, UNTIL_CLOSE, SILENT, INVALID, RESET = range(8)
ASYNC_SESSIONS = 0x08
LIMITS = 0x10
NO_HALF_CLOSE = 0x20
ALLOW_NON_TLS = 0x40
LAX_TLS = 0x80
# byte 1
SESSIONS_REQUIRED = 0x01
SMALL_LIMITS = 0x02
ECHO_TUNNELS = 0x04
OVERLAP = 0x08
FIRST_ONLY = 0x10

NEXT = b"@@NEXT@@"
SCOPED = "gatehouse_gc_fuzz" + "A" * 42


def seed(stream, b0=LENGTH, b1=0, segments=(0x3F,)):
    segments = list(segments)
    assert 1 <= len(segments) <= 16
    return bytes([b0, b1, len(segments) - 1] + segments) + stream


def get(host="origin.test", path="/", method="GET", extra=b"", version=b"HTTP/1.1"):
    target = f"http://{host}{path}".encode()
    return method.encode() + b" " + target + b" " + version + b"\r\nHost: " + host.encode() + \
        b"\r\n" + extra + b"\r\n"


def client_hello(sni="origin.test", alpn=(b"h2", b"http/1.1"), ech=False):
    exts = b""
    if sni is not None:
        name = sni.encode()
        entry = b"\x00" + struct.pack(">H", len(name)) + name
        body = struct.pack(">H", len(entry)) + entry
        exts += struct.pack(">HH", 0, len(body)) + body
    if alpn:
        protos = b"".join(bytes([len(p)]) + p for p in alpn)
        body = struct.pack(">H", len(protos)) + protos
        exts += struct.pack(">HH", 16, len(body)) + body
    versions = b"\x04\x03\x04\x03\x03"  # supported_versions: TLS 1.3, 1.2
    exts += struct.pack(">HH", 43, len(versions)) + versions
    if ech:
        exts += struct.pack(">HH", 0xFE0D, 4) + b"\x00\x01\x02\x03"
    hello = b"\x03\x03" + bytes(range(32)) + b"\x20" + bytes(32) + b"\x00\x04\x13\x01\x13\x02" + \
        b"\x01\x00" + struct.pack(">H", len(exts)) + exts
    handshake = b"\x01" + struct.pack(">I", len(hello))[1:] + hello
    return b"\x16\x03\x01" + struct.pack(">H", len(handshake)) + handshake


def connect(host="origin.test", port=443, extra=b""):
    return f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode() + extra + b"\r\n"


def pkt(data):
    return b"%04x" % (len(data) + 4) + data


def git_auth(credential=SCOPED):
    return b"Authorization: Basic " + base64.b64encode(("x:" + credential).encode()) + b"\r\n"


def origin_form(path, method="GET", host="github.com", extra=b"", body=b""):
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n".encode() + extra
    if body:
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + body


def receive_pack(ref):
    old, new = "0" * 40, "1" * 40
    section = pkt(f"{old} {new} {ref}\0report-status side-band-64k agent=git/2.43\n".encode())
    return section + b"0000" + b"PACK\x00\x00\x00\x02\x00\x00\x00\x00" + bytes(20)


def chunked(*parts, trailer=b""):
    out = b""
    for p in parts:
        out += b"%x\r\n" % len(p) + p + b"\r\n"
    return out + b"0\r\n" + trailer + b"\r\n"


POOL_HEAD = get(method="POST", extra=b"Content-Length: 10\r\n")
BYTEWISE = [0x00] * 15 + [0x3F]
SLOW = [0xC0 | 7, 0xC0 | 3, 0x80 | 20, 0x40 | 1, 0xC0 | 5, 0x3F]

SEEDS = {
    "get-absolute-form": seed(get()),
    "get-bytewise": seed(get(), segments=BYTEWISE),
    "get-slow-segments": seed(get(path="/a/b?c=d"), segments=SLOW),
    "head-chunked-origin": seed(get(method="HEAD"), b0=CHUNKED),
    "pipelined-three": seed(get(path="/1") + get(path="/2", method="HEAD") + get(path="/3"),
                            b0=NO_HALF_CLOSE),
    "pipelined-chunked-origin": seed(get(path="/1") + get(path="/2"), b0=CHUNKED | NO_HALF_CLOSE,
                                     segments=[0x05, 0x3F]),
    "post-content-length": seed(get(method="POST", extra=b"Content-Length: 11\r\n") +
                                b"hello world"),
    "post-chunked": seed(get(method="POST", extra=b"Transfer-Encoding: chunked\r\n") +
                         chunked(b"hello", b" world", trailer=b"X-Trailer: 1\r\n"),
                         segments=[0x20, 0x03, 0x07, 0x3F]),
    "post-chunked-extensions": seed(
        get(method="POST", extra=b"Transfer-Encoding: chunked\r\n") +
        b"5;name=value\r\nhello\r\n0\r\n\r\n" + get(path="/after"), b0=NO_HALF_CLOSE),
    "expect-continue": seed(get(method="PUT", extra=b"Expect: 100-continue\r\nContent-Length: 4"
                                b"\r\n") + b"data", b0=CONTINUE, segments=[0x3F, 0xC0 | 3]),
    "http10-until-close": seed(get(version=b"HTTP/1.0"), b0=UNTIL_CLOSE),
    "silent-origin": seed(get(), b0=SILENT),
    "invalid-origin-response": seed(get(), b0=INVALID),
    "origin-resets": seed(get(method="POST", extra=b"Content-Length: 3\r\n") + b"abc", b0=RESET),
    "keep-alive-idle": seed(get(), b0=NO_HALF_CLOSE),
    "slowloris-partial-head": seed(b"GET http://origin.test/ HTTP/1.1\r\nHost: or",
                                   b0=NO_HALF_CLOSE),
    "connect-client-hello": seed(connect() + client_hello() + b"\x17\x03\x03\x00\x05hello",
                                 b1=ECHO_TUNNELS, segments=[0x3F, 0x3F, 0x10, 0x3F]),
    "connect-hello-split": seed(connect() + client_hello(), segments=[0x3F] + [0x04] * 14 +
                                [0x3F]),
    "connect-sni-mismatch": seed(connect() + client_hello(sni="evil.example")),
    "connect-no-sni-lax": seed(connect() + client_hello(sni=None), b0=LAX_TLS, b1=ECHO_TUNNELS),
    "connect-ech": seed(connect() + client_hello(ech=True), b0=LAX_TLS),
    "connect-non-tls": seed(connect() + get(), b0=ALLOW_NON_TLS, b1=ECHO_TUNNELS),
    "connect-ip-literal": seed(connect(host="127.0.0.1") + client_hello(sni=None)),
    "connect-denied": seed(connect(host="deny.allowed.test") + client_hello("deny.allowed.test")),
    "connect-two-tunnels-one-slot": seed(
        connect() + client_hello() + NEXT + connect(host="a.allowed.test") +
        client_hello("a.allowed.test"), b0=NO_HALF_CLOSE, b1=SMALL_LIMITS | OVERLAP),
    "smuggle-cl-te": seed(get(method="POST", extra=b"Content-Length: 4\r\nTransfer-Encoding: "
                              b"chunked\r\n") + b"0\r\n\r\n" + get(host="deny.allowed.test")),
    "smuggle-te-te": seed(get(method="POST", extra=b"Transfer-Encoding: chunked\r\n"
                              b"Transfer-Encoding: identity\r\n") + chunked(b"x")),
    "smuggle-double-cl": seed(get(method="POST", extra=b"Content-Length: 1\r\nContent-Length: 2"
                                  b"\r\n") + b"ab"),
    "smuggle-bare-lf": seed(b"GET http://origin.test/ HTTP/1.1\nHost: origin.test\n\n" + get()),
    "smuggle-obs-fold": seed(get(extra=b"X-A: 1\r\n Transfer-Encoding: chunked\r\n")),
    "smuggle-space-before-colon": seed(get(method="POST", extra=b"Transfer-Encoding : chunked\r\n"
                                           b"Content-Length: 3\r\n") + b"abc"),
    "smuggle-chunk-size-overflow": seed(get(method="POST", extra=b"Transfer-Encoding: chunked\r\n")
                                        + b"ffffffffffffffffff1\r\nx\r\n0\r\n\r\n"),
    "upgrade-then-pipelined": seed(get(extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\n") +
                                   b"\x81\x85garbage" + get(path="/next")),
    "denied-then-pipelined": seed(get(host="evil.example") + get()),
    "host-header-mismatch": seed(b"GET http://origin.test/ HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
    "userinfo-in-target": seed(b"GET http://user:pw@origin.test/ HTTP/1.1\r\nHost: origin.test"
                               b"\r\n\r\n"),
    "ipv6-literal": seed(get(host="[::1]")),
    "git-info-refs": seed(origin_form("/git/org/repo.git/info/refs?service=git-upload-pack",
                                      extra=git_auth()), b1=ECHO_TUNNELS),
    "git-no-credential": seed(origin_form("/git/org/repo.git/info/refs?service=git-upload-pack")),
    "git-receive-pack-allowed": seed(origin_form(
        "/git/org/repo.git/git-receive-pack", method="POST",
        extra=git_auth() + b"Content-Type: application/x-git-receive-pack-request\r\n",
        body=receive_pack("refs/heads/agent-branch")), segments=[0x3F, 0x10, 0x3F]),
    "git-receive-pack-refused": seed(origin_form(
        "/git/org/repo.git/git-receive-pack", method="POST",
        extra=git_auth() + b"Content-Type: application/x-git-receive-pack-request\r\n",
        body=receive_pack("refs/heads/main")) + origin_form("/git/org/repo.git/info/refs")),
    "git-api": seed(origin_form("/github/api/repos/org/repo/pulls", method="POST",
                                host="api.github.com",
                                extra=git_auth() + b"Content-Type: application/json\r\n",
                                body=b'{"title":"t","head":"agent-branch","base":"main"}')),
    "origin-form-other": seed(b"GET /index.html HTTP/1.1\r\nHost: origin.test\r\n\r\n"),
    "session-report-mode": seed(get(host="elsewhere.example",
                                    extra=b"Proxy-Authorization: Basic ZnV6ejpmdXp6\r\n"),
                                b0=ASYNC_SESSIONS),
    "session-strict": seed(get(extra=b"Proxy-Authorization: Basic c3RyaWN0Ong=\r\n") +
                           get(host="a.allowed.test",
                               extra=b"Proxy-Authorization: Basic c3RyaWN0Ong=\r\n"),
                           b0=NO_HALF_CLOSE),
    "session-expired-throttled": seed(
        get(extra=b"Proxy-Authorization: Basic ZXhwaXJlZDp4\r\n") + NEXT +
        get(extra=b"Proxy-Authorization: Basic dGhyb3R0bGU=\r\n") + NEXT +
        get(extra=b"Proxy-Authorization: Basic bm9lbnY6eA==\r\n")),
    "session-required": seed(get() + NEXT + get(extra=b"Proxy-Authorization: Bearer x\r\n"),
                             b1=SESSIONS_REQUIRED),
    "limits-burst": seed(b"".join(get(path=f"/{i}") for i in range(7)), b0=LIMITS | NO_HALF_CLOSE),
    "limits-budget": seed(get(method="POST", extra=b"Content-Length: 30000\r\n") + b"x" * 30000 +
                          get(), b0=LIMITS | CHUNKED | NO_HALF_CLOSE),
    "pool-reuse-sequential": seed(get(path="/1") + NEXT + get(path="/2") + NEXT +
                                  get(method="POST", extra=b"Content-Length: 2\r\n") + b"ok"),
    "dns-fallback-private-mixed": seed(get(host="fallback.allowed.test") + NEXT +
                                       get(host="private.allowed.test") + NEXT +
                                       get(host="mixed.allowed.test")),
    "dns-failures": seed(get(host="nx.allowed.test") + NEXT + get(host="servfail.allowed.test") +
                         NEXT + get(host="timeout.allowed.test")),
    "dns-nodata-v6": seed(get(host="nodata.allowed.test") + NEXT + get(host="v6.allowed.test")),
    "small-limits-431-414": seed(get(extra=b"".join(b"X-%d: %s\r\n" % (i, b"v" * 40)
                                                    for i in range(12))) + NEXT +
                                 get(path="/" + "a" * 200), b1=SMALL_LIMITS),
    "garbage": seed(bytes(range(256))),
    "tls-to-proxy": seed(client_hello()),
    # Regressions (tests/fuzz/README.md, "Findings").
    # 1: an upstream answering before the whole body was sent went back to the pool mid-request.
    "regression-pool-mid-body": seed(POOL_HEAD + b"01234", b0=EARLY | NO_HALF_CLOSE,
                                     segments=[len(POOL_HEAD) - 1, 0xC0 | 4]),
    "regression-pool-desync-next-client": seed(POOL_HEAD + b"01234" + NEXT + get(path="/victim"),
                                               b0=EARLY | NO_HALF_CLOSE,
                                               segments=[len(POOL_HEAD) - 1, 0xC0 | 4, 0x3F]),
    # 2: a local endpoint waited forever for the rest of a body after answering.
    "regression-git-partial-body": seed(
        b"POST /git/org/repo.git/git-receive-pack HTTP/1.1\r\nHost: github.com\r\n"
        b"Content-Length: 10\r\n\r\n01234", b0=NO_HALF_CLOSE),
    # 3: a response timeout on a reused upstream connection resent the request.
    "regression-retry-after-response-timeout": seed(get(path="/1") + get(path="/2",
                                                                         method="DELETE"),
                                                    b0=NO_HALF_CLOSE, b1=FIRST_ONLY),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "connection")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
