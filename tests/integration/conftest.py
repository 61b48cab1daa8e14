"""Shared fixtures for the integration tests (run as root with Debian's
/usr/bin/python3: ``tests/run-integration.sh`` or
``/usr/bin/python3 -m pytest tests/integration``).

Modules next to this file (import them directly in test files):
    registry.py    Registry, TokenServer, TestCA, RegistryClient, RegistryError
    imagetools.py  File, HostFile, Dir, Symlink, Hardlink, Fifo, Whiteout, Opaque,
                   Layer, Image, Index, push_image, push_index, write_oci_layout,
                   busybox_image, debian_image (see its docstring)
    faultproxy.py  FaultProxy (see its docstring)

Install / user fixtures and helpers:
    prefix -> str                      SING_PREFIX env, default /tmp/sing-prefix
    singularity -> str                 PREFIX/bin/singularity; the test FAILS
                                       (not skips) when it is not installed
    test_user -> UserInfo(name, uid, gid, home)   user "singtest", created if
                                       missing, with /etc/subuid + /etc/subgid
    run_as_user (fixture and function):
        run_as_user(args, env=None, cwd=None, input=None, timeout=300,
                    check=False) -> subprocess.CompletedProcess (text output)
        runs args as singtest (setpriv --reuid/--regid --init-groups) with a
        clean env: HOME, USER, LOGNAME, LANG=C.UTF-8, PATH=PREFIX/bin first,
        plus env; cwd defaults to the user's home.
    user_cache_dir() -> str            ~singtest/.singularity/cache (function)
    empty_user_cache() -> str          empty that dir, keep it owned by the user
    clean_user_cache -> str            fixture: empty_user_cache() before a test
    Session setup (autouse): /dev/fuse is made mode 0666.

Registry fixtures (session-scoped, started once, on 127.0.0.1:free port):
    registry        plain HTTP, no auth
    registry_tls    HTTPS; .ca_file is the CA certificate (PEM)
    registry_basic  HTTP Basic auth (htpasswd -B); .username/.password
    registry_token  Bearer tokens; .token_server (TokenServer: realm, service,
                    issuer, tokens_issued, requests, expires_in, anonymous_pull)
    Each is a registry.Registry: .flavour .host .port .hostport .url .scheme
    .username .password .ca_file .requests() -> [(method, path, status)]
    .count(regex, method=None) .client(username=None, password=None,
    anonymous=False) -> RegistryClient .credentials() -> (user, password)
    test_ca -> registry.TestCA         the CA used by registry_tls
    make_registry(flavour, **kw) -> Registry   function-scoped factory for a
                    private registry (kw: token_kwargs={"anonymous_pull": True,
                    "pull_only": [...], "expires_in": 5}, basic_tls=True)
    unique_repo -> str                 "test/<test name>-<random>" for pushes
                                       to the shared session registries

Fault proxy fixtures (function-scoped):
    fault_proxy -> FaultProxy          in front of `registry`
    make_fault_proxy(reg) -> FaultProxy  in front of any Registry

Image fixtures (session-scoped):
    busybox -> imagetools.Image        busybox_image() (OCI, gzip)
    pushed_busybox -> PushResult       busybox pushed to `registry` as
                                       library/busybox:latest
    debian -> imagetools.Image         debian_image(), ~300 MB unpacked,
                                       built once per machine (cached)
Markers: slow (big images; still run by default).
"""

import collections
import fcntl
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess

import pytest

import faultproxy
import imagetools
import registry as registry_mod


# A runner started under nohup, or as a background job of a script, ignores
# SIGHUP (SIGINT, SIGQUIT): an ignored signal stays ignored across exec, so
# every container the tests start would too, and the signal tests would
# test the runner. A handler that does nothing keeps the runner as it was
# and gives children the default (exec resets handled signals).
for _sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, lambda *_: None)

# SING_TEST_USER / SING_TEST_USER2 let parallel runs use their own users.
USER = os.environ.get("SING_TEST_USER", "singtest")
USER2 = os.environ.get("SING_TEST_USER2", USER + "2")
DEFAULT_PREFIX = "/tmp/sing-prefix"
# The FUSE server the starter runs as the user (fuse/squashfs_serve.c): its
# process name, and where it is installed under a prefix.
FUSE_SERVER = "squashfs-serve"


def live_fuse_servers(user=USER):
    """The user's running FUSE servers (pids as strings). Not zombies: the
    server is the starter's grandchild, reparented, and whoever reaps it
    (init, a subreaper) may take its time."""
    out = subprocess.run(["pgrep", "-u", user, "-x", FUSE_SERVER], capture_output=True,
                         text=True).stdout.split()
    live = []
    for pid in out:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    live.append(pid)
        except OSError:
            pass
    return live


def fuse_servers_of(image, user=USER):
    """The user's live FUSE servers serving image (their fd 4), as ints. No
    process tree finds them: the starter's grandchildren, reparented."""
    found = []
    for pid in map(int, live_fuse_servers(user)):
        try:
            if os.path.samefile(f"/proc/{pid}/fd/4", image):
                found.append(pid)
        except OSError:
            pass
    return found


def fuse_server_path(prefix=None):
    return os.path.join(prefix or install_prefix(), "libexec", "singularity", FUSE_SERVER)


def exec_with_fuse_server_replaced(replacement, *exec_args, env=None):
    """`singularity exec EXEC_ARGS...` as the test user, with the file
    replacement bound over the installed squashfs-serve in a private mount
    namespace of this call only (the starter runs whatever is there); env:
    variables added to the user's environment."""
    import shlex
    cmd = (f"mount --bind {shlex.quote(replacement)} {shlex.quote(fuse_server_path())} && "
           f"exec setpriv --reuid={USER} --regid={USER} --init-groups singularity exec "
           + " ".join(shlex.quote(a) for a in exec_args))
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd],
                          env=user_env(env), cwd="/", capture_output=True, text=True,
                          timeout=120)

UserInfo = collections.namedtuple("UserInfo", "name uid gid home")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: builds or moves big images (still runs)")


# --------------------------------------------------------------------------
# Install prefix


def install_prefix():
    return os.environ.get("SING_PREFIX", DEFAULT_PREFIX)


def singularity_path(prefix=None):
    """PREFIX/bin/singularity, or pytest.fail with what to do."""
    prefix = prefix or install_prefix()
    path = os.path.join(prefix, "bin", "singularity")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not installed: run `meson setup build --prefix={prefix} "
                    f"&& ninja -C build install` (or set SING_PREFIX)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def prefix():
    return install_prefix()


@pytest.fixture(scope="session")
def singularity(prefix):
    return singularity_path(prefix)


# --------------------------------------------------------------------------
# Session setup


@pytest.fixture(scope="session", autouse=True)
def _session_setup():
    if os.path.exists("/dev/fuse"):
        os.chmod("/dev/fuse", 0o666)
    yield


# --------------------------------------------------------------------------
# Test user


def _next_sub_range(path, count=65536):
    start = 100000
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                    start = max(start, int(parts[1]) + int(parts[2]))
    except FileNotFoundError:
        pass
    return start


def _ensure_subids(path, user):
    try:
        with open(path) as f:
            if any(line.split(":")[0] == user for line in f):
                return
    except FileNotFoundError:
        pass
    start = _next_sub_range(path)
    with open(path, "a") as f:
        f.write(f"{user}:{start}:65536\n")


def ensure_user():
    """Create singtest (home, subuid/subgid) if missing; return UserInfo."""
    with open("/tmp/sing-test-user.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            pw = pwd.getpwnam(USER)
        except KeyError:
            subprocess.run(["useradd", "-m", "-d", f"/home/{USER}", "-s", "/bin/bash", USER],
                           check=True, capture_output=True)
            pw = pwd.getpwnam(USER)
        if not os.path.isdir(pw.pw_dir):
            os.makedirs(pw.pw_dir, mode=0o755)
            os.chown(pw.pw_dir, pw.pw_uid, pw.pw_gid)
        _ensure_subids("/etc/subuid", USER)
        _ensure_subids("/etc/subgid", USER)
    return UserInfo(USER, pw.pw_uid, pw.pw_gid, pw.pw_dir)


def ensure_user2():
    """The second, unrelated normal user (the victim or attacker of security
    tests), created if missing; its pwd entry."""
    with open("/tmp/sing-test-user.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return pwd.getpwnam(USER2)
        except KeyError:
            subprocess.run(["useradd", "-m", "-d", f"/home/{USER2}", "-s", "/bin/bash", USER2],
                           check=True, capture_output=True)
            return pwd.getpwnam(USER2)


def user_without_subids():
    """USER + "-nosub" (created when missing, never given subordinate ids),
    or a skip when an administrator gave it some; its pwd entry."""
    name = USER + "-nosub"
    with open("/tmp/sing-test-user.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "-m", "-d", f"/home/{name}", "-s", "/bin/bash",
                            "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name],
                           check=True, capture_output=True)
            pw = pwd.getpwnam(name)
    for f in ("/etc/subuid", "/etc/subgid"):
        with open(f) as fh:
            if any(line.split(":")[0] in (name, str(pw.pw_uid)) for line in fh):
                pytest.skip(f"{name} has subordinate ids in {f}")
    return pw


def user_env(extra=None):
    info = ensure_user()
    env = {
        "HOME": info.home,
        "USER": info.name,
        "LOGNAME": info.name,
        "LANG": "C.UTF-8",
        "PATH": os.path.join(install_prefix(), "bin")
        + ":/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
    }
    env.update(extra or {})
    return env


def run_as_user(args, env=None, cwd=None, input=None, timeout=300, check=False):
    """Run args as singtest with a clean environment; CompletedProcess (text)."""
    info = ensure_user()
    cmd = ["setpriv", f"--reuid={info.name}", f"--regid={info.name}", "--init-groups",
           "--"] + [str(a) for a in args]
    return subprocess.run(cmd, env=user_env(env), cwd=cwd or info.home, input=input,
                          timeout=timeout, check=check, capture_output=True, text=True)


@pytest.fixture(scope="session")
def test_user():
    return ensure_user()


@pytest.fixture(name="run_as_user")
def _run_as_user_fixture(test_user):
    return run_as_user


def user_cache_dir():
    return os.path.join(ensure_user().home, ".singularity", "cache")


def empty_user_cache():
    """Empty ~singtest/.singularity/cache; the dirs stay, owned by the user."""
    info = ensure_user()
    cache = user_cache_dir()
    shutil.rmtree(cache, ignore_errors=True)
    for d in (os.path.dirname(cache), cache):
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.chown(d, info.uid, info.gid)
    return cache


@pytest.fixture
def clean_user_cache(test_user):
    return empty_user_cache()


# --------------------------------------------------------------------------
# Registries


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    return registry_mod.TestCA(str(tmp_path_factory.mktemp("ca")))


def _session_registry(tmp_path_factory, flavour, ca=None):
    reg = registry_mod.Registry(str(tmp_path_factory.mktemp(f"registry-{flavour}")),
                                flavour, ca=ca)
    reg.start()
    return reg


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    reg = _session_registry(tmp_path_factory, "http")
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def registry_tls(tmp_path_factory, test_ca):
    reg = _session_registry(tmp_path_factory, "https", ca=test_ca)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def registry_basic(tmp_path_factory):
    reg = _session_registry(tmp_path_factory, "basic")
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory):
    reg = _session_registry(tmp_path_factory, "token")
    yield reg
    reg.stop()


@pytest.fixture
def make_registry(tmp_path_factory, test_ca):
    started = []

    def make(flavour="http", **kw):
        kw.setdefault("ca", test_ca)
        reg = registry_mod.Registry(str(tmp_path_factory.mktemp(f"registry-{flavour}")),
                                    flavour, **kw)
        started.append(reg)
        return reg.start()

    yield make
    for reg in started:
        reg.stop()


@pytest.fixture
def unique_repo(request):
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    return f"test/{name}-{secrets.token_hex(3)}"


# --------------------------------------------------------------------------
# Fault proxy


@pytest.fixture
def make_fault_proxy():
    started = []

    def make(reg, **kw):
        proxy = faultproxy.FaultProxy(reg.url, ca_file=reg.ca_file, **kw)
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture
def fault_proxy(make_fault_proxy, registry):
    return make_fault_proxy(registry)


# --------------------------------------------------------------------------
# Images


@pytest.fixture(scope="session")
def busybox():
    return imagetools.busybox_image()


@pytest.fixture(scope="session")
def pushed_busybox(registry, busybox):
    return imagetools.push_image(registry, "library/busybox", "latest", busybox)


@pytest.fixture(scope="session")
def debian():
    return imagetools.debian_image()


@pytest.fixture
def user_tmp(test_user):
    """A fresh directory under /tmp owned by the test user (0755), removed after."""
    import tempfile
    d = tempfile.mkdtemp(prefix="sing-user-")
    os.chown(d, test_user.uid, test_user.gid)
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class SingConfig:
    """Edit the installed singularity.conf for one test; restored afterwards.

    set(**{"allow setuid": "no"}) replaces (or appends) `key = value` lines;
    add(key, value) appends one more line (repeatable directives);
    remove(key) drops every line of a directive."""

    def __init__(self, path):
        self.path = path
        with open(path) as f:
            self.original = f.read()

    def _lines(self):
        with open(self.path) as f:
            return f.read().splitlines()

    def _write(self, lines):
        with open(self.path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def set(self, **kw):
        lines = self._lines()
        for key, value in kw.items():
            key = key.replace("_", " ")
            rx = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
            lines = [l for l in lines if not rx.match(l)]
            lines.append(f"{key} = {value}")
        self._write(lines)

    def add(self, key, value):
        self._write(self._lines() + [f"{key} = {value}"])

    def remove(self, key):
        rx = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        self._write([l for l in self._lines() if not rx.match(l)])

    def restore(self):
        with open(self.path, "w") as f:
            f.write(self.original)
        os.chmod(self.path, 0o644)
        os.chown(self.path, 0, 0)


@pytest.fixture
def sing_config(prefix):
    cfg = SingConfig(os.path.join(prefix, "etc", "singularity", "singularity.conf"))
    yield cfg
    cfg.restore()


@pytest.fixture(params=["setuid", "setuid-fuse", "userns"])
def run_mode(request, sing_config):
    """Every runtime mode: the setuid starter with the kernel squashfs driver
    (`allow setuid-mount squashfs = yes`), the setuid starter with the FUSE server
    run as the user (the default, iflimited without limits), and the
    unprivileged user-namespace mode (selected by `allow setuid = no`)."""
    if request.param == "userns":
        sing_config.set(**{"allow setuid": "no"})
    elif request.param == "setuid":
        sing_config.set(**{"allow setuid-mount squashfs": "yes"})
    return request.param
