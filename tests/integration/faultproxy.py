"""A pass-through HTTP proxy in front of a registry that can misbehave.

    proxy = FaultProxy(registry.url, ca_file=registry.ca_file)   # starts
    proxy.url / proxy.hostport        point clients here (plain HTTP)
    proxy.requests                    [ProxyRequest] (.method .path .headers .status)
    proxy.count(regex, method=None)   requests whose path matches
    proxy.counts_by_path()            Counter {path: n}

Faults (each applies to requests whose path matches ``pattern``, a regex;
``times`` = how many times it fires, None = always):
    proxy.cut_blob(after_bytes, times=1, pattern=BLOB)   close mid-body
    proxy.corrupt_blob(times=None, pattern=BLOB)          flip one byte
    proxy.slow_blob(pause, times=None, pattern=BLOB)      pause after each 64 KiB
    proxy.redirect_blobs(times=None, pattern=BLOB)        307 to 127.0.0.2
    proxy.malformed_manifest(body=..., times=None, pattern=MANIFEST)
    proxy.unsupported_media_type(media_type=..., times=None, pattern=MANIFEST)
    proxy.fail(status, times=1, pattern=".*", method=None, headers=(),
               message="injected failure")   e.g. 500/429 (+ Retry-After);
                                      message: the JSON errors[].message
    proxy.reset()                     drop faults and logs
    proxy.redirect_target             RedirectTarget: .url, .requests
                                      (headers it received), .count()
    proxy.stop()

Everything else is forwarded unchanged (Range included, bodies streamed),
with Location headers pointing at the upstream rewritten to the proxy.
"""

import collections
import hashlib
import http.client
import http.server
import json
import re
import secrets
import ssl
import threading
import time
import urllib.parse

from registry import free_port

BLOB = r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$"
MANIFEST = r"^/v2/.+/manifests/[^/]+$"
CHUNK = 64 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection",
              "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"}

class ProxyRequest:
    """One request seen by the proxy; status is filled in once answered
    (the record exists before the answer so a client never outruns it)."""

    def __init__(self, method, path, headers):
        self.method, self.path, self.headers, self.status = method, path, headers, None

    def __repr__(self):
        return f"ProxyRequest({self.method} {self.path} -> {self.status})"


class _Fault:
    def __init__(self, kind, pattern, times, method=None, **params):
        self.kind = kind
        self.rx = re.compile(pattern)
        self.remaining = times
        self.method = method
        self.params = params


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _serve(server):
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return t


def _parse_range(header, size):
    """'bytes=a-b' -> (start, end inclusive) or None when absent/unsatisfiable."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    if m.group(1) == "":
        start, end = max(0, size - int(m.group(2))), size - 1
    else:
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


# --------------------------------------------------------------------------
# Redirect target: a "CDN" on another loopback address


class _RedirectHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head=False):
        owner = self.server.owner
        owner._record(self.command, self.path, dict(self.headers))
        key = urllib.parse.urlsplit(self.path).path
        data = owner.blobs.get(key)
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        rng = _parse_range(self.headers.get("Range"), len(data))
        if rng:
            start, end = rng
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            body = data[start:end + 1]
        else:
            self.send_response(200)
            body = data
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class RedirectTarget:
    """Serves blobs the proxy parked here; records what each request carried."""

    def __init__(self, host="127.0.0.2"):
        self.host = host
        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.blobs = {}
        self.requests = []  # dicts: method, path, headers
        self._lock = threading.Lock()
        self._httpd = _Server((host, self.port), _RedirectHandler)
        self._httpd.owner = self
        _serve(self._httpd)

    def _record(self, method, path, headers):
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers})

    def park(self, digest, data):
        """Store data; return the URL (with a fake signature query) serving it."""
        path = f"/cdn/{digest}"
        self.blobs[path] = data
        return f"{self.url}{path}?X-Sig={secrets.token_hex(8)}"

    def count(self):
        return len(self.requests)

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()


# --------------------------------------------------------------------------
# Proxy


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # -- plumbing ----------------------------------------------------------

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else None

    def _simple(self, status, body=b"", headers=()):
        self._rec.status = status
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _upstream(self, method, body, extra_headers=None, drop=()):
        p = self.server.owner
        conn = p._connect()
        headers = {}
        for k, v in self.headers.items():
            lk = k.lower()
            if lk in HOP_BY_HOP or lk in ("host", "content-length", "expect") or lk in drop:
                continue
            headers[k] = v
        headers["Host"] = p.upstream_hostport
        if body is not None:
            headers["Content-Length"] = str(len(body))
        headers.update(extra_headers or {})
        conn.request(method, self.path, body=body, headers=headers)
        return conn, conn.getresponse()

    def _send_upstream_headers(self, resp, length):
        p = self.server.owner
        self._rec.status = resp.status
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in HOP_BY_HOP or lk == "content-length":
                continue
            if lk == "location" and v.startswith(p.upstream_url):
                v = p.url + v[len(p.upstream_url):]
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    # -- main --------------------------------------------------------------

    def _handle(self):
        p = self.server.owner
        path = urllib.parse.urlsplit(self.path).path
        body = self._read_body()
        if body is None and self.command in ("POST", "PUT", "PATCH"):
            body = b""
        self._rec = p._record(self.command, self.path, dict(self.headers))
        try:
            fault = p._take_fault(self.command, path)
            if fault is None or not self._apply(fault, path, body):
                self._forward(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _forward(self, body, fault=None):
        conn, resp = self._upstream(self.command, body)
        try:
            length = resp.getheader("Content-Length")
            if self.command == "HEAD" or resp.status in (204, 304):
                self._send_upstream_headers(resp, int(length) if length else None)
                return
            if length is None:  # chunked upstream: buffer so we can send a length
                data = resp.read()
                self._send_upstream_headers(resp, len(data))
                self.wfile.write(data)
                return
            length = int(length)
            self._send_upstream_headers(resp, length)
            self._stream(resp, length, fault if resp.status in (200, 206) else None)
        finally:
            conn.close()

    def _stream(self, resp, length, fault):
        sent = 0
        flip_at = length // 2 if fault and fault.kind == "corrupt" else -1
        cut_at = fault.params["after_bytes"] if fault and fault.kind == "cut" else -1
        pause = fault.params["pause"] if fault and fault.kind == "slow" else 0
        while sent < length:
            chunk = resp.read(min(CHUNK, length - sent))
            if not chunk:
                break
            if cut_at >= 0 and sent + len(chunk) >= cut_at:
                self.wfile.write(chunk[:cut_at - sent])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # the client sees a short body
                return
            if sent <= flip_at < sent + len(chunk):
                i = flip_at - sent
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
            self.wfile.write(chunk)
            sent += len(chunk)
            if pause:
                self.wfile.flush()
                time.sleep(pause)

    def _apply(self, fault, path, body):
        """Act out a fault; False means 'forward normally after all'."""
        p = self.server.owner
        if fault.kind in ("cut", "corrupt", "slow"):
            if self.command != "GET":
                return False
            self._forward(body, fault)
            return True
        if fault.kind == "redirect":
            if self.command not in ("GET", "HEAD"):
                return False
            conn, resp = self._upstream("GET", None, drop=("range",))
            try:
                data = resp.read()
                if resp.status != 200:
                    # e.g. 401 before the client has a token: pass the answer
                    # on and keep the fault for the retry.
                    p._refund(fault)
                    self._send_upstream_headers(resp, len(data))
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    return True
            finally:
                conn.close()
            location = p.redirect_target.park(path.rsplit("/", 1)[1], data)
            self._simple(307, b"", [("Location", location),
                                    ("Docker-Distribution-Api-Version", "registry/2.0")])
            return True
        if fault.kind == "manifest":
            data = fault.params["body"]
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            self._simple(200, data, [("Content-Type", fault.params["media_type"]),
                                     ("Docker-Content-Digest", digest),
                                     ("Docker-Distribution-Api-Version", "registry/2.0")])
            return True
        if fault.kind == "fail":
            err = json.dumps({"errors": [{"code": "UNKNOWN", "message": fault.params["message"]}]})
            self._simple(fault.params["status"], err.encode(),
                         [("Content-Type", "application/json")] + fault.params["headers"])
            return True
        return False


class FaultProxy:
    """See the module docstring. upstream_url: "http(s)://127.0.0.1:N"."""

    def __init__(self, upstream_url, ca_file=None, host="127.0.0.1", tls=None,
                 redirect_host="127.0.0.2"):
        u = urllib.parse.urlsplit(upstream_url)
        self.upstream_url = f"{u.scheme}://{u.netloc}"
        self.upstream_hostport = u.netloc
        self._upstream_tls = u.scheme == "https"
        self._ctx = ssl.create_default_context(cafile=ca_file) if self._upstream_tls else None
        self.host = host
        self.port = free_port(host)
        self.hostport = f"{host}:{self.port}"
        self.url = f"{'https' if tls else 'http'}://{self.hostport}"
        self.requests = []
        self._faults = []
        self._lock = threading.Lock()
        self.redirect_target = RedirectTarget(redirect_host)
        self._httpd = _Server((host, self.port), _ProxyHandler)
        if tls is not None:
            self._httpd.socket = tls.server_context().wrap_socket(self._httpd.socket,
                                                                  server_side=True)
        self._httpd.owner = self
        _serve(self._httpd)

    def _connect(self):
        host, _, port = self.upstream_hostport.rpartition(":")
        if self._upstream_tls:
            return http.client.HTTPSConnection(host, int(port), timeout=60, context=self._ctx)
        return http.client.HTTPConnection(host, int(port), timeout=60)

    def _record(self, method, path, headers):
        rec = ProxyRequest(method, path, headers)
        with self._lock:
            self.requests.append(rec)
        return rec

    def _take_fault(self, method, path):
        with self._lock:
            for f in self._faults:
                if f.remaining == 0 or not f.rx.search(path):
                    continue
                if f.method and f.method != method:
                    continue
                if f.kind in ("cut", "corrupt") and method != "GET":
                    continue
                if f.remaining is not None:
                    f.remaining -= 1
                return f
        return None

    def _refund(self, fault):
        with self._lock:
            if fault.remaining is not None:
                fault.remaining += 1

    def _add(self, fault):
        with self._lock:
            self._faults.append(fault)
        return fault

    # -- faults ------------------------------------------------------------

    def cut_blob(self, after_bytes, times=1, pattern=BLOB):
        """Send the full Content-Length header, then only after_bytes bytes
        and close: the client has to resume with a Range request."""
        return self._add(_Fault("cut", pattern, times, after_bytes=after_bytes))

    def slow_blob(self, pause, times=None, pattern=BLOB):
        """Stream blob bodies with `pause` seconds after every CHUNK bytes: a
        download that lasts (for progress output)."""
        return self._add(_Fault("slow", pattern, times, pause=pause))

    def corrupt_blob(self, times=None, pattern=BLOB):
        """Flip the middle byte of matching blob bodies."""
        return self._add(_Fault("corrupt", pattern, times))

    def redirect_blobs(self, times=None, pattern=BLOB):
        """Answer blob GET/HEAD with 307 to the redirect target (127.0.0.2)."""
        return self._add(_Fault("redirect", pattern, times))

    def malformed_manifest(self, body=b'{"schemaVersion": 2, "mediaType": '
                           b'"application/vnd.oci.image.manifest.v1+json", "layers": [',
                           media_type="application/vnd.oci.image.manifest.v1+json",
                           times=None, pattern=MANIFEST):
        return self._add(_Fault("manifest", pattern, times, body=body, media_type=media_type))

    def unsupported_media_type(self, media_type="application/vnd.example.unknown.v1+json",
                               times=None, pattern=MANIFEST):
        body = json.dumps({"schemaVersion": 2, "mediaType": media_type,
                           "layers": []}).encode()
        return self._add(_Fault("manifest", pattern, times, body=body, media_type=media_type))

    def fail(self, status, times=1, pattern=".*", method=None, headers=(),
             message="injected failure"):
        """Answer matching requests with an error status (e.g. 500, 429) and a
        registry-style JSON error body carrying `message`."""
        return self._add(_Fault("fail", pattern, times, method=method, status=status,
                                headers=list(headers), message=message))

    def reset(self):
        with self._lock:
            self._faults.clear()
            self.requests.clear()
        self.redirect_target.requests.clear()

    # -- observation -------------------------------------------------------

    def count(self, pattern, method=None):
        rx = re.compile(pattern)
        with self._lock:
            return sum(1 for r in self.requests
                       if rx.search(urllib.parse.urlsplit(r.path).path)
                       and (method is None or r.method == method))

    def counts_by_path(self):
        with self._lock:
            return collections.Counter(urllib.parse.urlsplit(r.path).path
                                       for r in self.requests)

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self.redirect_target.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
