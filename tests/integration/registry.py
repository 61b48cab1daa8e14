"""Local OCI registries for the integration tests.

Everything runs on 127.0.0.1 with free ports:

* ``Registry``     - Debian's docker-registry (distribution 2.8) in one of
                     four flavours: plain HTTP, HTTPS (test CA), HTTP Basic
                     (htpasswd -B) or Bearer tokens (``TokenServer``).
* ``TokenServer``  - a Docker-Hub-like token endpoint issuing RS256 JWTs with
                     an ``x5c`` header, counting the tokens it hands out.
* ``RegistryClient`` - a tiny urllib client for the distribution API that
                     answers Basic and Bearer challenges, used to push images
                     and to check what a registry serves.
* ``make_ca`` / ``free_port`` - helpers shared with the fault proxy.
"""

import base64
import ctypes
import datetime
import hashlib
import http.server
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


REGISTRY_BIN = "/usr/bin/docker-registry"


def _die_with_parent():
    """In the child: get SIGTERM when the test process dies, so a crashed
    session leaves no registry behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port(host="127.0.0.1"):
    """A TCP port that is free right now on host (tiny race accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(host, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


# --------------------------------------------------------------------------
# Certificates


def _new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_pem(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def _key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _cert_builder(subject, issuer, pubkey, days=30):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(pubkey)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


class TestCA:
    """A CA plus one server certificate for 127.0.0.1/127.0.0.2/localhost.

    Files: ``ca_file`` (CA cert), ``cert_file``/``key_file`` (server)."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        ca_key = _new_key()
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sing-test CA")])
        ca_cert = (
            _cert_builder(ca_name, ca_name, ca_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False,
                    key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False),
                critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        srv_key = _new_key()
        srv_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        san = x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("127.0.0.2")),
            x509.DNSName("localhost"),
        ])
        srv_cert = (
            _cert_builder(srv_name, ca_name, srv_key.public_key())
            .add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        self.ca_file = _write_pem(os.path.join(directory, "ca.pem"), ca_cert.public_bytes(pem))
        self.cert_file = _write_pem(os.path.join(directory, "server.pem"), srv_cert.public_bytes(pem))
        self.key_file = _write_pem(os.path.join(directory, "server.key"), _key_pem(srv_key))

    def server_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def client_context(self):
        return ssl.create_default_context(cafile=self.ca_file)


# --------------------------------------------------------------------------
# Token server


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    def _reply(self, code, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _basic_user(self):
        """(user, ok): user None means anonymous; ok False means bad creds."""
        auth = self.headers.get("Authorization", "")
        if not auth:
            return None, True
        if not auth.lower().startswith("basic "):
            return None, False
        try:
            user, _, pw = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except Exception:
            return None, False
        return user, self.server.owner.check_password(user, pw)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        user, ok = self._basic_user()
        self._issue(user, ok, q.get("service", [""])[0], q.get("scope", []), "GET")

    def do_POST(self):
        # OAuth2 password grant, as "docker login" tries first.
        n = int(self.headers.get("Content-Length", "0") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        if form.get("grant_type", [""])[0] != "password":
            self._reply(400, {"error": "unsupported_grant_type"})
            return
        user = form.get("username", [None])[0]
        pw = form.get("password", [""])[0]
        ok = user is not None and self.server.owner.check_password(user, pw)
        scopes = form.get("scope", [""])[0].split()
        self._issue(user, ok, form.get("service", [""])[0], scopes, "POST")

    def _issue(self, user, ok, service, scopes, method):
        ts = self.server.owner
        ts._record(method, self.path, dict(self.headers), user, scopes)
        if not ok:
            self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                        [("WWW-Authenticate", 'Basic realm="token"')])
            return
        if user is None and not ts.anonymous_pull:
            self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "login required"}]},
                        [("WWW-Authenticate", 'Basic realm="token"')])
            return
        token = ts.make_token(user, service, scopes)
        now = datetime.datetime.now(datetime.timezone.utc)
        body = {"token": token, "access_token": token, "expires_in": ts.expires_in,
                "issued_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
        self._reply(200, body)


class TokenServer:
    """Docker-Hub-like token endpoint (http://127.0.0.1:PORT/token).

    users: {name: password}. Authenticated users get every action they ask
    for, except names in ``pull_only`` who only get "pull". Anonymous callers
    get "pull" when ``anonymous_pull`` is true, else 401.
    Attributes: realm, service, issuer, cert_file (goes in rootcertbundle),
    expires_in (seconds, may be changed by a test), tokens_issued, requests.
    """

    def __init__(self, directory, users, anonymous_pull=False, pull_only=(),
                 service="sing-test-registry", issuer="sing-test-token-issuer",
                 expires_in=300, tls=None):
        os.makedirs(directory, exist_ok=True)
        self.users = dict(users)
        self.pull_only = set(pull_only)
        self.anonymous_pull = anonymous_pull
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.tokens_issued = 0
        self.requests = []  # dicts: method, path, headers, user, scopes
        self._lock = threading.Lock()
        self._key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sing-test token signer")])
        # No EKU: distribution verifies the x5c chain with default usages.
        self._cert = _cert_builder(name, name, self._key.public_key()).sign(self._key, hashes.SHA256())
        self.cert_file = _write_pem(os.path.join(directory, "token-signer.pem"),
                                    self._cert.public_bytes(serialization.Encoding.PEM))
        self._key_pem = _key_pem(self._key)
        self._x5c = base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()
        self.port = free_port()
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _TokenHandler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self
        scheme = "http"
        if tls is not None:
            self._httpd.socket = tls.server_context().wrap_socket(self._httpd.socket, server_side=True)
            scheme = "https"
        self.realm = f"{scheme}://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def check_password(self, user, password):
        return user in self.users and secrets.compare_digest(self.users[user], password)

    def _record(self, method, path, headers, user, scopes):
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers,
                                  "user": user, "scopes": list(scopes)})

    def make_token(self, user, service, scopes):
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            rtype, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
            if user is None or user in self.pull_only:
                actions = [a for a in actions if a == "pull"]
            access.append({"type": rtype, "name": name, "actions": actions})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user or "", "aud": service or self.service,
                  "exp": now + self.expires_in, "nbf": now - 10, "iat": now,
                  "jti": secrets.token_hex(16), "access": access}
        token = jwt.encode(claims, self._key_pem, algorithm="RS256",
                           headers={"x5c": [self._x5c]})
        with self._lock:
            self.tokens_issued += 1
        return token

    def reset_counters(self):
        with self._lock:
            self.tokens_issued = 0
            self.requests.clear()

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()


# --------------------------------------------------------------------------
# Registry process

_ACCESS_RE = re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3}) ')


class Registry:
    """One docker-registry process.

    flavour: "http" | "https" | "basic" | "token".
    Attributes: flavour, host ("127.0.0.1"), port, hostport ("127.0.0.1:N"),
    url ("http(s)://127.0.0.1:N"), scheme, username/password (None when no
    auth), ca_file (https only, else None), token_server (token only),
    directory. ``requests()`` parses the access log: [(method, path, status)].
    """

    USER = "singuser"
    PASSWORD = "s3cret-pass"

    def __init__(self, directory, flavour="http", ca=None, token_kwargs=None,
                 basic_tls=False):
        if flavour not in ("http", "https", "basic", "token"):
            raise ValueError(f"unknown registry flavour {flavour!r}")
        self.flavour = flavour
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.hostport = f"{self.host}:{self.port}"
        use_tls = flavour == "https" or (flavour == "basic" and basic_tls)
        if use_tls and ca is None:
            ca = TestCA(os.path.join(directory, "ca"))
        self.ca = ca if use_tls else None
        self.ca_file = ca.ca_file if use_tls else None
        self.scheme = "https" if use_tls else "http"
        self.url = f"{self.scheme}://{self.hostport}"
        self.username = self.password = None
        self.token_server = None
        auth = None
        if flavour == "basic":
            self.username, self.password = self.USER, self.PASSWORD
            htpasswd = os.path.join(directory, "htpasswd")
            subprocess.run(["htpasswd", "-B", "-b", "-c", htpasswd, self.username, self.password],
                           check=True, capture_output=True)
            auth = {"htpasswd": {"realm": "sing-test-basic", "path": htpasswd}}
        elif flavour == "token":
            self.username, self.password = self.USER, self.PASSWORD
            kw = {"users": {self.username: self.password}}
            kw.update(token_kwargs or {})
            self.token_server = TokenServer(os.path.join(directory, "token"), **kw)
            ts = self.token_server
            auth = {"token": {"realm": ts.realm, "service": ts.service,
                              "issuer": ts.issuer, "rootcertbundle": ts.cert_file}}
        config = {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": os.path.join(directory, "data")},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.hostport, "secret": secrets.token_hex(16),
                     "headers": {"X-Content-Type-Options": ["nosniff"]}},
        }
        if use_tls:
            config["http"]["tls"] = {"certificate": ca.cert_file, "key": ca.key_file}
        if auth:
            config["auth"] = auth
        # JSON is valid YAML, so no YAML library is needed.
        self.config_file = os.path.join(directory, "config.yml")
        with open(self.config_file, "w") as f:
            json.dump(config, f, indent=1)
        self.stdout_path = os.path.join(directory, "access.log")
        self.stderr_path = os.path.join(directory, "registry.log")
        self._proc = None

    def start(self, timeout=15.0):
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        self._proc = subprocess.Popen([REGISTRY_BIN, "serve", self.config_file],
                                      stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                      preexec_fn=_die_with_parent)
        out.close()
        err.close()
        deadline = time.monotonic() + timeout
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited ({self._proc.returncode}): "
                                   + self._tail(self.stderr_path))
            try:
                urllib.request.urlopen(self.url + "/v2/", timeout=1, context=ctx).close()
                return self
            except urllib.error.HTTPError:
                return self  # 401 also means it is serving
            except (urllib.error.URLError, OSError):
                time.sleep(0.03)
        raise TimeoutError("docker-registry did not answer /v2/: " + self._tail(self.stderr_path))

    @staticmethod
    def _tail(path):
        try:
            with open(path, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self.token_server:
            self.token_server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- observation -------------------------------------------------------

    def requests(self):
        """[(method, path, status)] for every request seen so far."""
        out = []
        try:
            with open(self.stdout_path, errors="replace") as f:
                for line in f:
                    m = _ACCESS_RE.match(line)
                    if m:
                        out.append((m.group(1), m.group(2), int(m.group(3))))
        except FileNotFoundError:
            pass
        return out

    def count(self, pattern, method=None):
        """How many logged requests have a path matching regex pattern."""
        rx = re.compile(pattern)
        return sum(1 for m, p, _ in self.requests()
                   if rx.search(p) and (method is None or m == method))

    def client(self, username=None, password=None, anonymous=False):
        """A RegistryClient for this registry, with its own credentials
        unless others are given (or anonymous=True)."""
        if anonymous:
            username = password = None
        else:
            username = username or self.username
            password = password or self.password
        return RegistryClient(self.url, username, password, ca_file=self.ca_file)

    def credentials(self):
        return (self.username, self.password)


# --------------------------------------------------------------------------
# Client


class RegistryError(Exception):
    def __init__(self, status, message, headers=None, body=b""):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.headers = headers or {}
        self.body = body


def parse_challenge(header):
    """'Bearer realm="x",service="y"' -> ("bearer", {"realm": "x", ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class RegistryClient:
    """Minimal distribution-API client (urllib) answering auth challenges.

    request(method, path, data=None, headers=None, scope=None) -> (status,
    headers, body). ``path`` is relative to the base url or absolute. Raises
    RegistryError for status >= 400. Redirects are followed unless
    follow_redirects=False (then 3xx comes back as a normal answer).
    """

    def __init__(self, base_url, username=None, password=None, ca_file=None,
                 follow_redirects=True):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.ctx = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.follow_redirects = follow_redirects
        self._auth = None  # Authorization header value once known
        self._challenge = None
        self.tokens_fetched = 0

    def _basic(self):
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _open(self, req):
        handlers = [urllib.request.HTTPSHandler(context=self.ctx)]
        if not self.follow_redirects:
            handlers.append(_NoRedirect())
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(req, timeout=120) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            body = e.read()
            return e.code, e.headers, body

    def _token(self, params, scope):
        q = {"service": params.get("service", "")}
        if scope:
            q["scope"] = scope
        elif params.get("scope"):
            q["scope"] = params["scope"]
        url = params["realm"] + "?" + urllib.parse.urlencode(q)
        req = urllib.request.Request(url)
        if self.username is not None:
            req.add_header("Authorization", self._basic())
        status, headers, body = self._open(req)
        if status != 200:
            raise RegistryError(status, "token request refused: " + body.decode(errors="replace"),
                                headers, body)
        self.tokens_fetched += 1
        doc = json.loads(body)
        return "Bearer " + (doc.get("token") or doc["access_token"])

    def _authorize(self, challenge_header, scope):
        scheme, params = parse_challenge(challenge_header)
        self._challenge = (scheme, params)
        if scheme == "basic":
            if self.username is None:
                return False
            self._auth = self._basic()
        elif scheme == "bearer":
            self._auth = self._token(params, scope)
        else:
            return False
        return True

    def request(self, method, path, data=None, headers=None, scope=None, raw=False):
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        for attempt in range(2):
            req = urllib.request.Request(url, data=data, method=method)
            for k, v in (headers or {}).items():
                req.add_header(k, v)
            if self._auth:
                req.add_header("Authorization", self._auth)
            status, rheaders, body = self._open(req)
            if status == 401 and attempt == 0 and "WWW-Authenticate" in rheaders:
                if hasattr(data, "seek"):
                    data.seek(0)
                try:
                    if self._authorize(rheaders["WWW-Authenticate"], scope):
                        continue
                except RegistryError:
                    if not raw:
                        raise
            break
        if status >= 400 and not raw:
            raise RegistryError(status, body[:300].decode(errors="replace"), rheaders, body)
        return status, rheaders, body

    # -- distribution API helpers ---------------------------------------------

    def blob_exists(self, repo, digest):
        st, _, _ = self.request("HEAD", f"/v2/{repo}/blobs/{digest}",
                                scope=f"repository:{repo}:pull,push", raw=True)
        return st == 200

    def upload_blob(self, repo, digest, data_or_path, size=None):
        """Monolithic upload (POST then PUT). data_or_path: bytes or a file path."""
        scope = f"repository:{repo}:pull,push"
        if self.blob_exists(repo, digest):
            return
        st, h, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/", data=b"", scope=scope)
        loc = h["Location"]
        if loc.startswith("/"):
            loc = self.base_url + loc
        sep = "&" if "?" in loc else "?"
        loc = f"{loc}{sep}digest={urllib.parse.quote(digest)}"
        if isinstance(data_or_path, (bytes, bytearray)):
            self.request("PUT", loc, data=bytes(data_or_path), scope=scope,
                         headers={"Content-Type": "application/octet-stream"})
        else:
            size = os.path.getsize(data_or_path)
            with open(data_or_path, "rb") as f:
                self.request("PUT", loc, data=f, scope=scope,
                             headers={"Content-Type": "application/octet-stream",
                                      "Content-Length": str(size)})

    def put_manifest(self, repo, ref, body, media_type):
        st, h, _ = self.request("PUT", f"/v2/{repo}/manifests/{ref}", data=body,
                                headers={"Content-Type": media_type},
                                scope=f"repository:{repo}:pull,push")
        return h.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()

    ACCEPT_ALL = ", ".join([
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ])

    def get_manifest(self, repo, ref, accept=None):
        """-> (media_type, body bytes, digest header)."""
        st, h, body = self.request("GET", f"/v2/{repo}/manifests/{ref}",
                                   headers={"Accept": accept or self.ACCEPT_ALL},
                                   scope=f"repository:{repo}:pull")
        return h.get("Content-Type"), body, h.get("Docker-Content-Digest")

    def get_blob(self, repo, digest, headers=None):
        st, h, body = self.request("GET", f"/v2/{repo}/blobs/{digest}", headers=headers,
                                   scope=f"repository:{repo}:pull")
        return body
