"""Adversarial tests of the image pipeline (issue 6, "Images and pulls"):
hostile layers, bombs, limits, bad digests, private directories and
credentials. Each runs `singularity pull` (SIF sink: frontend/tar_sink.c ->
mksquashfs) or `singularity build --sandbox` (directory sink:
frontend/dir_sink.c) as the normal user and expects the safe outcome:
nothing outside the output is read, written or deleted; a refused image
exits 255 with one ERROR line and leaves no output, temp file or process.

Credentials sent on a redirect to another host: see
test_auth.py::test_redirect_to_other_host_drops_credentials (not repeated).
"""

import base64
import glob
import hashlib
import io
import json
import os
import pwd
import re
import secrets
import stat
import subprocess
import tarfile
import textwrap
import threading
import time

import pytest

import faultproxy
import siftools
import imagetools
from conftest import USER, ensure_user2, run_as_user
from imagetools import File, Image, Layer
from test_build import squashfs_cat, squashfs_list

NOHTTPS = {"SINGULARITY_NOHTTPS": "1"}
MTIME = imagetools.MTIME


# --------------------------------------------------------------------------
# Helpers: users, commands, outcome checks


def as_user2(fn, *args):
    """Run fn(*args) in a child process as singtest2; 'ok' when it returned,
    else the name of the exception it raised (e.g. 'PermissionError')."""
    pw = ensure_user2()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            fn(*args)
            out = b"ok"
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out = type(exc).__name__.encode()
        os.write(w, out)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


def _create_in(d):
    fd = os.open(os.path.join(d, f"planted-{secrets.token_hex(3)}"),
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.close(fd)


def _write_to(path):
    os.close(os.open(path, os.O_WRONLY))


def assert_private_from_user2(d):
    """d is a 0700 directory of the test user that singtest2 can neither list
    nor plant a file in."""
    st = os.lstat(d)
    user = pwd.getpwnam(USER)
    assert stat.S_ISDIR(st.st_mode), d
    assert st.st_uid == user.pw_uid, (d, st.st_uid)
    assert st.st_mode & 0o777 == 0o700, (d, oct(st.st_mode))
    assert as_user2(os.listdir, d) == "PermissionError", d
    assert as_user2(_create_in, d) == "PermissionError", d


def pull(singularity, uri, out, cwd, env=None, debug=False, **kw):
    e = dict(NOHTTPS)
    e.update(env or {})
    pre = [singularity, "-d"] if debug else [singularity]
    return run_as_user(pre + ["pull", "--name", out, uri], cwd=cwd, env=e, **kw)


def build_sandbox(singularity, uri, out, cwd, env=None, **kw):
    return run_as_user([singularity, "build", "--nohttps", "--sandbox", out, uri], cwd=cwd,
                       env=env, **kw)


def one_error(r, needle):
    assert r.returncode == 255, (r.returncode, r.stdout, r.stderr)
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR:")]
    assert len(errors) == 1, r.stderr
    assert needle.lower() in errors[0].lower(), r.stderr
    return errors[0]


def procs_mentioning(text):
    """Pids (other than ours) whose command line contains text."""
    found = []
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        pid = int(p.split("/")[2])
        if pid == os.getpid():
            continue
        try:
            with open(p, "rb") as f:
                if text.encode() in f.read():
                    found.append(pid)
        except OSError:
            pass
    return found


def assert_nothing_left(workdir, keep, cache):
    """Only `keep` in workdir (no output, no .tmp file or dir), no temp file in
    the cache, no process still working in workdir."""
    left = sorted(set(os.listdir(workdir)) - set(keep))
    assert left == [], left
    temps = [p for p in glob.glob(os.path.join(cache, "**", "*"), recursive=True)
             if ".tmp" in os.path.basename(p)]
    assert temps == [], temps
    for _ in range(50):
        if not procs_mentioning(workdir):
            break
        time.sleep(0.1)
    assert procs_mentioning(workdir) == []


class Sentinels:
    """Files of the user's outside any image, which hostile layers aim at:
    a directory in the user's home and one in /tmp, both writable by the
    user (so a pull that escaped could change them). Every hostile name uses
    `self.mark` so a stray file can be searched for."""

    def __init__(self, user):
        tag = secrets.token_hex(4)
        self.mark = f"pwned-{tag}"
        self.home = os.path.join(user.home, f"sentinel-{tag}")
        self.tmp = f"/tmp/sentinel-{tag}"
        for d in (self.home, self.tmp):
            os.mkdir(d, 0o755)
            with open(os.path.join(d, "keep"), "w") as f:
                f.write("keep me\n")
            os.chown(d, user.uid, user.gid)
            os.chown(os.path.join(d, "keep"), user.uid, user.gid)
        self.user = user
        self.before = self.snapshot()

    @staticmethod
    def _digest(path):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    def snapshot(self):
        snap = {}
        for d in (self.home, self.tmp):
            for root, dirs, files in os.walk(d):
                for n in dirs + files:
                    p = os.path.join(root, n)
                    st = os.lstat(p)
                    snap[p] = (st.st_mode, st.st_mtime_ns,
                               self._digest(p) if stat.S_ISREG(st.st_mode) else None)
        st = os.stat("/etc/shadow")
        snap["/etc/shadow"] = (st.st_mode, st.st_mtime_ns, self._digest("/etc/shadow"))
        return snap

    def check(self):
        assert self.snapshot() == self.before
        for d in ("/", "/tmp", "/etc", self.user.home, os.path.dirname(self.user.home)):
            stray = [n for n in os.listdir(d) if self.mark in n]
            assert stray == [], (d, stray)

    def remove(self):
        subprocess.run(["rm", "-rf", self.home, self.tmp], check=False)


@pytest.fixture
def sentinels(test_user):
    s = Sentinels(test_user)
    yield s
    s.remove()


@pytest.fixture
def work(user_tmp):
    """(workdir, cache): a private cache per test keeps the check for
    leftovers independent of other tests using the user's default cache."""
    cache = os.path.join(user_tmp, "cache")
    return user_tmp, cache


def cache_env(cache, extra=None):
    env = {"SINGULARITY_CACHEDIR": cache}
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------
# Raw tar layers (names exactly as given: tarfile does not sanitise on write)


def tinfo(name, kind="file", data=b"", link="", mode=None, size=None):
    ti = tarfile.TarInfo(name)
    ti.mtime = MTIME
    ti.uname = ti.gname = ""
    if kind == "file":
        ti.type, ti.mode = tarfile.REGTYPE, mode or 0o644
        ti.size = len(data) if size is None else size
    elif kind == "dir":
        ti.type, ti.mode = tarfile.DIRTYPE, mode or 0o755
    elif kind == "symlink":
        ti.type, ti.mode, ti.linkname = tarfile.SYMTYPE, 0o777, link
    elif kind == "hardlink":
        ti.type, ti.mode, ti.linkname = tarfile.LNKTYPE, mode or 0o644, link
    return ti


def raw_tar(entries):
    """entries: (name, kind, data_or_link[, mode]) tuples -> tar bytes (pax)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            name, kind = e[0], e[1]
            arg = e[2] if len(e) > 2 else b""
            mode = e[3] if len(e) > 3 else None
            if kind in ("file",):
                data = arg.encode() if isinstance(arg, str) else arg
                tar.addfile(tinfo(name, kind, data, mode=mode), io.BytesIO(data))
            elif kind in ("symlink", "hardlink"):
                tar.addfile(tinfo(name, kind, link=arg))
            else:
                tar.addfile(tinfo(name, kind, mode=mode))
    return buf.getvalue()


def raw_layer(entries, compression="gzip"):
    return Layer(tar_bytes=raw_tar(entries), compression=compression)


def push_layers(registry, repo, layers):
    img = Image(layers, env=["PATH=/bin"], cmd=["/bin/sh"])
    imagetools.push_image(registry, repo, "v1", img)
    return f"docker://{registry.hostport}/{repo}:v1", img


# --------------------------------------------------------------------------
# Hostile layers. Each case: (layers(s) -> [entries of a layer, bottom
# first], expected: "ok" or the words of the refusal, check(read, s) for an
# accepted image where read(path) -> ("file"|"dir"|"symlink"|None, data).

ESCAPE = "../" * 12


def _case_dotdot(s):
    return [[(f"{ESCAPE}tmp/{os.path.basename(s.tmp)}/{s.mark}", "file", "x")]]


def _case_dotdot_inner(s):
    return [[("usr/", "dir"), (f"usr/../{ESCAPE}tmp/{s.mark}", "file", "x")]]


def _case_dotdot_in_lower_layer(s):
    # The upper layer is merged first (top-down): its files are already out
    # when the lower layer is refused; they must be cleaned up.
    return [[(f"{ESCAPE}{s.mark}", "file", "x")],
            [("d/", "dir", b"", 0o555), ("d/f", "file", "data", 0o444),
             ("z/", "dir", b"", 0o000)]]


def _case_absolute(s):
    return [[(f"{s.tmp}/{s.mark}", "file", "inside"),
             (f"/{s.mark}-abs", "file", "inside")]]


def _check_absolute(read, s):
    assert read(f"{s.tmp}/{s.mark}") == ("file", b"inside")
    assert read(f"/{s.mark}-abs") == ("file", b"inside")


def _case_symlink_same_layer(s):
    return [[("evil", "symlink", s.tmp), (f"evil/{s.mark}", "file", "x"),
             ("rel", "symlink", f"{ESCAPE}tmp/{os.path.basename(s.tmp)}"),
             (f"rel/{s.mark}", "file", "x"), ("rel/keep", "file", "overwritten")]]


def _check_symlinks_kept(read, s):
    kind, _ = read("evil")
    assert kind == "symlink"
    assert read(f"evil/{s.mark}")[0] in (None, "symlink-parent")


def _case_symlink_later_layer(s):
    return [[("evil", "symlink", s.tmp), ("home", "symlink", s.home),
              ("rel", "symlink", f"{ESCAPE}{s.home.lstrip('/')}")],
            [(f"evil/{s.mark}", "file", "x"), ("evil/keep", "file", "overwritten"),
             ("home/keep", "file", "overwritten"), (f"rel/{s.mark}", "file", "x")]]


def _check_later_layer(read, s):
    # The upper layer's files win; the lower symlinks are dropped (conflict).
    assert read(f"evil/{s.mark}") == ("file", b"x")
    assert read("evil")[0] == "dir"


def _case_hardlink_shadow(s):
    return [[("shadow", "hardlink", "/etc/shadow"), ("shadow2", "hardlink", "etc/shadow"),
             ("etcl", "symlink", "/etc"), ("h", "hardlink", "etcl/shadow"),
             ("keep", "hardlink", f"{s.tmp}/keep")]]


def _check_no_links(read, s):
    for name in ("shadow", "shadow2", "h", "keep"):
        assert read(name) == (None, None), name


def _case_hardlink_dotdot(s):
    return [[(s.mark, "hardlink", f"../../{os.path.basename(s.tmp)}/keep")]]


def _case_dot_symlink(s):
    return [[(".", "symlink", s.tmp), ("./", "symlink", s.home), (s.mark, "file", "inside")]]


def _check_dot(read, s):
    assert read(s.mark) == ("file", b"inside")
    assert read("")[0] == "dir"


def _case_opaque_under_symlink(s):
    return [[("home", "symlink", s.home), ("d/", "dir"), ("d/x", "symlink", s.tmp)],
            [("home/.wh..wh..opq", "file"), ("d/x/.wh..wh..opq", "file"),
             ("home/.wh.keep", "file"), ("d/x/.wh.keep", "file")]]


def _case_whiteout_names(s):
    return [[("a/", "dir"), ("a/f", "file", "lower")],
            [(".wh.", "file"), ("a/.wh.", "file"), (".wh...", "file"), ("a/.wh...", "file"),
             ("a/.wh..", "file"), ("a/.wh../x", "file"), (".wh..wh..opq/x", "file")]]


def _check_whiteout_names(read, s):
    assert read("a/f") == ("file", b"lower")


def _case_whiteout_dotdot_path(s):
    return [[(f"a/.wh../../{ESCAPE}{s.tmp.lstrip('/')}/keep", "file")]]


def _case_mount_points_are_symlinks(s):
    # Directories the pull itself writes into (.singularity.d) or creates
    # mount points under (etc/hosts, proc, dev, tmp) aimed outside.
    return [[(".singularity.d", "symlink", s.tmp), ("etc", "symlink", s.tmp),
             ("proc", "symlink", s.home), ("dev", "symlink", s.home),
             ("tmp", "symlink", s.tmp), ("var", "symlink", s.tmp)]]


def _check_mount_points(read, s):
    assert read(".singularity.d")[0] == "dir"
    assert read("etc")[0] == "symlink"
    assert read("etc/hosts")[0] in (None, "symlink-parent")


HOSTILE = {
    "mount-points-are-symlinks": (_case_mount_points_are_symlinks, "ok", _check_mount_points),
    "dotdot": (_case_dotdot, "'..' component", None),
    "dotdot-inner": (_case_dotdot_inner, "'..' component", None),
    "dotdot-lower-layer": (_case_dotdot_in_lower_layer, "'..' component", None),
    "absolute-names": (_case_absolute, "ok", _check_absolute),
    "symlink-then-write-same-layer": (_case_symlink_same_layer, "ok", _check_symlinks_kept),
    "symlink-then-write-later-layer": (_case_symlink_later_layer, "ok", _check_later_layer),
    "hardlink-to-shadow": (_case_hardlink_shadow, "ok", _check_no_links),
    "hardlink-dotdot": (_case_hardlink_dotdot, "'..' component", None),
    "dot-is-symlink": (_case_dot_symlink, "ok", _check_dot),
    "opaque-under-symlink": (_case_opaque_under_symlink, "ok", None),
    "whiteout-odd-names": (_case_whiteout_names, "ok", _check_whiteout_names),
    "whiteout-dotdot-path": (_case_whiteout_dotdot_path, "'..' component", None),
}


def sandbox_reader(root):
    def read(path):
        if not path.strip("/"):
            return ("dir", None) if os.path.isdir(root) else (None, None)
        p = os.path.join(root, path.lstrip("/"))
        parent = os.path.dirname(p.rstrip("/"))
        # Never follow a symlink out of the sandbox while looking.
        rp = os.path.realpath(parent)
        if rp != root and not rp.startswith(root + "/"):
            return ("symlink-parent", None)
        if not os.path.lexists(p):
            return (None, None)
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            return ("symlink", os.readlink(p).encode())
        if stat.S_ISDIR(st.st_mode):
            return ("dir", None)
        with open(p, "rb") as f:
            return ("file", f.read())
    return read


def sif_reader(sif):
    listing = squashfs_list(sif)

    def read(path):
        p = "/" + path.strip("/") if path.strip("/") else "/"
        if p not in listing:
            return (None, None)
        mode = listing[p][0]
        if mode.startswith("l"):
            return ("symlink", None)
        if mode.startswith("d"):
            return ("dir", None)
        return ("file", squashfs_cat(sif, p))
    return read


@pytest.mark.parametrize("sink", ["sif", "sandbox"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layer(singularity, registry, unique_repo, work, sentinels, case, sink):
    make, expect, check = HOSTILE[case]
    uri, _ = push_layers(registry, unique_repo,
                         [raw_layer(entries) for entries in make(sentinels)])
    workdir, cache = work
    out = "out.sif" if sink == "sif" else "sb"
    if sink == "sif":
        r = pull(singularity, uri, out, workdir, env=cache_env(cache))
    else:
        r = build_sandbox(singularity, uri, out, workdir, env=cache_env(cache))
    sentinels.check()
    if expect == "ok":
        assert r.returncode == 0, r.stderr
        path = os.path.join(workdir, out)
        read = sif_reader(path) if sink == "sif" else sandbox_reader(path)
        if check:
            check(read, sentinels)
        assert_nothing_left(workdir, {"cache", out}, cache)
    else:
        one_error(r, expect)
        assert_nothing_left(workdir, {"cache"}, cache)


# --------------------------------------------------------------------------
# Limits: decompression bombs, huge headers, long paths, many files


def zero_file_tar(name, size, fill=None):
    """A tar with one file of `size` zero bytes (or `fill` bytes), built
    without tarfile's copying (header + data + padding + end)."""
    head = tinfo(name, "file", size=size).tobuf(tarfile.PAX_FORMAT)
    pad = (512 - size % 512) % 512
    return head + (fill * size if fill else bytes(size)) + bytes(pad) + bytes(1024)


@pytest.fixture(scope="module")
def bomb_uri(registry):
    # 300 MB of "A": ~300 KB gzip-compressed (~1000:1). The limit for that
    # layer is 200 x 300 KB + 64 MiB, about 124 MiB. (Zeros would pass: they
    # are stored as sparse blocks, test_layers_world.py.)
    layer = Layer(tar_bytes=zero_file_tar("zeros", 300 << 20, b"A"), compression="gzip")
    assert layer.size < 1 << 20
    uri, _ = push_layers(registry, "sec/bomb", [layer])
    return uri


@pytest.mark.parametrize("sink", ["sif", "sandbox"])
def test_gzip_bomb_stopped(singularity, bomb_uri, work, sentinels, sink):
    workdir, cache = work
    start = time.monotonic()
    if sink == "sif":
        r = pull(singularity, bomb_uri, "bomb.sif", workdir, env=cache_env(cache))
    else:
        r = build_sandbox(singularity, bomb_uri, "bomb", workdir, env=cache_env(cache))
    err = one_error(r, "decompression bomb")
    assert "200x" in err
    assert time.monotonic() - start < 60
    assert_nothing_left(workdir, {"cache"}, cache)
    sentinels.check()


def test_compressible_but_normal_images_pass(singularity, registry, unique_repo, work):
    """Real images stay far below 200:1; a small layer with one 40 MiB
    zero-filled file passes thanks to the slack."""
    img = imagetools.busybox_image(extra_layers=[[File("zeros", bytes(40 << 20))]])
    imagetools.push_image(registry, unique_repo, "v1", img)
    workdir, cache = work
    uri = f"docker://{registry.hostport}/{unique_repo}:v1"
    r = pull(singularity, uri, "ok.sif", workdir, env=cache_env(cache))
    assert r.returncode == 0, r.stderr
    r = build_sandbox(singularity, uri, "ok", workdir, env=cache_env(cache))
    assert r.returncode == 0, r.stderr
    assert os.path.getsize(os.path.join(workdir, "ok", "zeros")) == 40 << 20


def huge_header_tar(size, data_len):
    head = tinfo("huge", "file", size=size).tobuf(tarfile.PAX_FORMAT)
    return head + b"\0" * data_len


@pytest.mark.parametrize("sink", ["sif", "sandbox"])
@pytest.mark.parametrize("claim", ["over-file-limit", "over-ratio", "truncated"])
def test_tar_header_claiming_huge_size(singularity, registry, unique_repo, work, claim, sink):
    if claim == "over-file-limit":  # LAYERS_MAX_FILE_SIZE
        tar, needle = huge_header_tar(100 << 30, 4096), "over the 64 GiB limit"
    elif claim == "over-ratio":  # 60 GiB declared in a ~1 KiB layer, 1 MiB of it there:
        # zeros cost no space, so it is the missing data that refuses it
        tar, needle = huge_header_tar(60 << 30, 1 << 20), "truncated"
    else:  # within the limits, but the data is not there
        tar, needle = huge_header_tar(10 << 20, 1 << 20), "truncated"
    uri, _ = push_layers(registry, unique_repo,
                         [raw_layer([("ok", "file", "fine")]),
                          Layer(tar_bytes=tar, compression="gzip")])
    workdir, cache = work
    if sink == "sif":
        r = pull(singularity, uri, "h.sif", workdir, env=cache_env(cache))
    else:
        r = build_sandbox(singularity, uri, "h", workdir, env=cache_env(cache))
    one_error(r, needle)
    assert_nothing_left(workdir, {"cache"}, cache)


@pytest.mark.parametrize("sink", ["sif", "sandbox"])
@pytest.mark.parametrize("shape", ["deep", "long-component"])
def test_path_longer_than_path_max(singularity, registry, unique_repo, work, shape, sink):
    if shape == "deep":  # every component fine, 5000 bytes in all
        name, needle = "/".join(["d" * 99] * 50) + "/f", "longer than 4095 bytes"
    else:  # one component over NAME_MAX
        name, needle = "x" * 300, "name longer than 255 bytes"
    uri, _ = push_layers(registry, unique_repo, [raw_layer([(name, "file", "deep")])])
    workdir, cache = work
    if sink == "sif":
        r = pull(singularity, uri, "p.sif", workdir, env=cache_env(cache))
    else:
        r = build_sandbox(singularity, uri, "p", workdir, env=cache_env(cache))
    one_error(r, needle)
    assert_nothing_left(workdir, {"cache"}, cache)


def many_files_layer(path, ndirs, per_dir):
    """A zstd layer of ndirs x per_dir empty files (ustar headers written
    directly: tarfile is too slow for a million entries). Returns a Layer."""
    def header(name, typeflag, mode):
        h = bytearray(512)
        nb = name.encode()
        h[0:len(nb)] = nb
        h[100:108] = b"%07o\0" % mode
        h[108:116] = b"0000000\0"
        h[116:124] = b"0000000\0"
        h[124:136] = b"00000000000\0"
        h[136:148] = b"%011o\0" % MTIME
        h[148:156] = b" " * 8
        h[156:157] = typeflag
        h[257:265] = b"ustar\x0000"
        h[148:156] = b"%06o\0 " % sum(h)
        return bytes(h)

    tar_hash, blob_hash = hashlib.sha256(), hashlib.sha256()
    proc = subprocess.Popen(["zstd", "-q", "-c", "-3", "-T2"], stdin=subprocess.PIPE,
                            stdout=open(path, "wb"))
    for d in range(ndirs):
        chunk = [header(f"d{d:04d}/", b"5", 0o755)]
        chunk += [header(f"d{d:04d}/{f:04d}", b"0", 0o644) for f in range(per_dir)]
        data = b"".join(chunk)
        tar_hash.update(data)
        proc.stdin.write(data)
    tar_hash.update(bytes(1024))
    proc.stdin.write(bytes(1024))
    proc.stdin.close()
    assert proc.wait() == 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            blob_hash.update(block)
    return Layer.from_blob_file(path, "sha256:" + blob_hash.hexdigest(), os.path.getsize(path),
                                "sha256:" + tar_hash.hexdigest(), "zstd")


@pytest.mark.slow
def test_a_million_tiny_files_pull_within_limits(singularity, registry, unique_repo, work,
                                                  tmp_path):
    """10^6 empty files are below LAYERS_MAX_PATHS (10M): the pull succeeds,
    with every file in the image, in bounded time."""
    layer = many_files_layer(str(tmp_path / "many.tar.zst"), 1000, 1000)
    uri, _ = push_layers(registry, unique_repo, [layer])
    workdir, cache = work
    start = time.monotonic()
    r = pull(singularity, uri, "many.sif", workdir, env=cache_env(cache), timeout=600)
    took = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    assert took < 300, took
    sif = os.path.join(workdir, "many.sif")
    from test_build import partition_offset
    s = subprocess.run(["unsquashfs", "-s", "-o", str(partition_offset(sif)), sif],
                       capture_output=True, text=True, check=True).stdout
    inodes = int(re.search(r"Number of inodes (\d+)", s).group(1))
    assert inodes >= 1000 * 1000 + 1000, s
    assert_nothing_left(workdir, {"cache", "many.sif"}, cache)


# --------------------------------------------------------------------------
# Digests that are not sha256 + 64 lowercase hex

HEX = "0123456789abcdef" * 4
BAD_DIGESTS = {
    "dotdot": "sha256:../../x",
    "dotdot-after-hex": f"sha256:{HEX}/../../x",
    "uppercase": "sha256:" + HEX.upper(),
    "md5": "md5:" + HEX[:32],
    "sha512": "sha512:" + HEX * 2,
    "63-hex": "sha256:" + HEX[:63],
    "65-hex": "sha256:" + HEX + "0",
    "empty": "",
    "slash": "sha256:/etc/passwd",
}


def _manifest_with(config_digest, layer_digest):
    return json.dumps({
        "schemaVersion": 2, "mediaType": imagetools.OCI_MANIFEST,
        "config": {"mediaType": imagetools.OCI_CONFIG, "digest": config_digest, "size": 100},
        "layers": [{"mediaType": imagetools.LAYER_TYPES[("oci", "gzip")],
                    "digest": layer_digest, "size": 100}],
    }).encode()


def _index_with(digest):
    return json.dumps({
        "schemaVersion": 2, "mediaType": imagetools.OCI_INDEX,
        "manifests": [{"mediaType": imagetools.OCI_MANIFEST, "digest": digest, "size": 100,
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }).encode()


@pytest.mark.parametrize("where", ["layer", "config", "index"])
@pytest.mark.parametrize("bad", sorted(BAD_DIGESTS))
def test_bad_digest_rejected_before_use(singularity, fault_proxy, work, sentinels, bad, where):
    digest = BAD_DIGESTS[bad]
    good = "sha256:" + HEX
    if where == "layer":
        body, mt = _manifest_with(good, digest), imagetools.OCI_MANIFEST
    elif where == "config":
        body, mt = _manifest_with(digest, good), imagetools.OCI_MANIFEST
    else:
        body, mt = _index_with(digest), imagetools.OCI_INDEX
    fault_proxy.malformed_manifest(body=body, media_type=mt)
    workdir, cache = work
    uri = f"docker://{fault_proxy.hostport}/sec/digest:v1"
    r = pull(singularity, uri, "d.sif", workdir, env=cache_env(cache))
    one_error(r, "digest")
    # One manifest request (after the /v2/ ping), nothing made from the digest.
    paths = [q.path for q in fault_proxy.requests]
    assert {p for p in paths if "/manifests/" in p} == {"/v2/sec/digest/manifests/v1"}, paths
    assert not [p for p in paths if "/blobs/" in p], paths
    # No file anywhere in the cache (only its directories), none beside it.
    files = [p for p in glob.glob(os.path.join(cache, "**"), recursive=True)
             if not os.path.isdir(p) and "/locks/" not in p]
    assert files == [], files
    assert sorted(os.listdir(workdir)) == ["cache"]
    assert sorted(os.listdir(os.path.join(cache, "blobs"))) == ["sha256"]
    sentinels.check()


# --------------------------------------------------------------------------
# Private cache, temp and build directories; a second user cannot get in


class _GatedHandler(faultproxy._ProxyHandler):
    """Holds GETs whose path matches the proxy's `gate` pattern until
    released, so a test can look around while a pull is in progress."""

    def _handle(self):
        p = self.server.owner
        gate = getattr(p, "gate", None)
        if gate and self.command == "GET" and re.search(gate["pattern"], self.path):
            gate["reached"].set()
            gate["release"].wait(120)
        super()._handle()


def gate_proxy(proxy, pattern):
    proxy.gate = {"pattern": pattern, "reached": threading.Event(),
                  "release": threading.Event()}
    proxy._httpd.RequestHandlerClass = _GatedHandler
    return proxy.gate


def run_in_background(args, env):
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", run_as_user(args, env=env)))
    t.start()
    return t, result


@pytest.fixture(scope="module")
def gated_image(registry):
    img = imagetools.busybox_image(extra_layers=[[File("opt/data", "payload\n")]])
    imagetools.push_image(registry, "sec/gated", "v1", img)
    return img


def test_cache_dirs_private_during_pull(singularity, registry, gated_image, make_fault_proxy,
                                        work):
    proxy = make_fault_proxy(registry)
    gate = gate_proxy(proxy, gated_image.layers[-1].digest)
    workdir, cache = work
    out = os.path.join(workdir, "g.sif")
    t, res = run_in_background([singularity, "pull", "--nohttps", "--name", out,
                                f"docker://{proxy.hostport}/sec/gated:v1"],
                               env=cache_env(cache))
    try:
        assert gate["reached"].wait(60), "the pull never asked for the layer"
        for sub in ("", "blobs", "blobs/sha256", "sif", "locks"):
            assert_private_from_user2(os.path.join(cache, sub))
        # Files in the cache (partial downloads too) are the user's alone.
        for p in glob.glob(os.path.join(cache, "**", "*"), recursive=True):
            if stat.S_ISREG(os.lstat(p).st_mode):
                assert as_user2(_write_to, p) == "PermissionError", p
        # The SIF being written beside the output cannot be written by others.
        for p in glob.glob(os.path.join(workdir, ".g.sif.tmp*")):
            assert as_user2(_write_to, p) == "PermissionError", p
    finally:
        gate["release"].set()
        t.join(300)
    assert res["r"].returncode == 0, res["r"].stderr
    assert_nothing_left(workdir, {"cache", "g.sif"}, cache)


def test_disable_cache_temp_dir_private(singularity, registry, gated_image, make_fault_proxy,
                                        work, test_user):
    proxy = make_fault_proxy(registry)
    gate = gate_proxy(proxy, gated_image.layers[-1].digest)
    workdir, _ = work
    tmpdir = os.path.join(workdir, "tmp")
    os.mkdir(tmpdir)
    os.chmod(tmpdir, 0o1777)  # like /tmp
    out = os.path.join(workdir, "n.sif")
    t, res = run_in_background([singularity, "pull", "--nohttps", "--name", out,
                                f"docker://{proxy.hostport}/sec/gated:v1"],
                               env={"SINGULARITY_DISABLE_CACHE": "1", "TMPDIR": tmpdir})
    try:
        assert gate["reached"].wait(60), "the pull never asked for the layer"
        temps = os.listdir(tmpdir)
        assert len(temps) == 1 and temps[0].startswith("singularity-cache-"), temps
        assert_private_from_user2(os.path.join(tmpdir, temps[0]))
        assert_private_from_user2(os.path.join(tmpdir, temps[0], "blobs", "sha256"))
    finally:
        gate["release"].set()
        t.join(300)
    assert res["r"].returncode == 0, res["r"].stderr
    assert os.listdir(tmpdir) == []  # the temporary cache is gone


def test_cache_dir_of_another_user_refused(singularity, registry, pushed_busybox, work):
    pw2 = ensure_user2()
    workdir, _ = work
    theirs = os.path.join(workdir, "theirs")
    os.mkdir(theirs, 0o777)
    os.chown(theirs, pw2.pw_uid, pw2.pw_gid)
    os.chmod(theirs, 0o777)
    r = pull(singularity, f"docker://{registry.hostport}/library/busybox:latest", "b.sif",
             workdir, env=cache_env(theirs))
    one_error(r, "not by you")
    assert os.listdir(theirs) == []
    # A cache dir of the user's that others could write is made private.
    mine = os.path.join(workdir, "mine")
    run_as_user(["mkdir", "-m", "777", mine], check=True)
    r = pull(singularity, f"docker://{registry.hostport}/library/busybox:latest", "b.sif",
             workdir, env=cache_env(mine))
    assert r.returncode == 0, r.stderr
    assert_private_from_user2(mine)


def test_build_temp_dir_private(singularity, registry, pushed_busybox, work, test_user):
    """While a build runs (%test sleeps), the temp dir beside the output is
    0700: the sandbox inside (with the image's 1777 /tmp) is out of reach."""
    workdir, cache = work
    recipe = os.path.join(workdir, "slow.def")
    with open(recipe, "w") as f:
        f.write(textwrap.dedent(f"""\
            Bootstrap: docker
            From: {registry.hostport}/library/busybox:latest

            %test
                sleep 4
            """))
    os.chown(recipe, test_user.uid, test_user.gid)
    for out, args in (("slow.sif", []), ("slow-sb", ["--sandbox"])):
        t, res = run_in_background([singularity, "build", "--nohttps", *args,
                                    os.path.join(workdir, out), recipe], env=cache_env(cache))
        try:
            found = []
            deadline = time.monotonic() + 60
            while not found and time.monotonic() < deadline and t.is_alive():
                found = [p for p in glob.glob(os.path.join(workdir, f".{out}.tmp*"))
                         if os.path.isdir(os.path.join(p, "rootfs"))
                         and os.path.isdir(os.path.join(p, "rootfs", "tmp"))]
                time.sleep(0.05)
            assert found, "no build directory seen"
            assert_private_from_user2(found[0])
            assert as_user2(_create_in, os.path.join(found[0], "rootfs", "tmp")) \
                == "PermissionError"
            assert_private_from_user2(cache)
        finally:
            t.join(300)
        assert res["r"].returncode == 0, res["r"].stderr
    assert_nothing_left(workdir, {"cache", "slow.def", "slow.sif", "slow-sb"}, cache)
    # The finished sandbox is the user's and no one else can write its root.
    st = os.stat(os.path.join(workdir, "slow-sb"))
    assert st.st_uid == test_user.uid and st.st_mode & 0o022 == 0


def test_cache_private_during_run_of_docker_uri(singularity, registry, gated_image,
                                                make_fault_proxy, work):
    proxy = make_fault_proxy(registry)
    gate = gate_proxy(proxy, gated_image.layers[-1].digest)
    workdir, cache = work
    t, res = run_in_background([singularity, "exec", f"docker://{proxy.hostport}/sec/gated:v1",
                                "cat", "/opt/data"],
                               env=cache_env(cache, NOHTTPS))
    try:
        assert gate["reached"].wait(60), "the run never asked for the layer"
        for sub in ("", "blobs/sha256", "sif"):
            assert_private_from_user2(os.path.join(cache, sub))
    finally:
        gate["release"].set()
        t.join(300)
    assert res["r"].returncode == 0, res["r"].stderr
    assert res["r"].stdout == "payload\n"
    assert_private_from_user2(os.path.join(cache, "sif"))


# --------------------------------------------------------------------------
# Credentials: never on disk (beyond where the user put them), never printed


def secret_forms(user, password):
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [password, basic]


def files_containing(roots, needles, since, owner=None):
    hits = []
    for root in roots:
        for dirpath, dirs, files in os.walk(root):
            for n in files:
                p = os.path.join(dirpath, n)
                try:
                    st = os.lstat(p)
                    if not stat.S_ISREG(st.st_mode) or st.st_size > (256 << 20):
                        continue
                    if st.st_mtime < since or (owner is not None and st.st_uid != owner):
                        continue
                    with open(p, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                hits += [(p, x) for x in needles if x.encode() in data]
    return hits


def test_basic_auth_pull_leaves_no_credentials(singularity, registry_basic, unique_repo, work,
                                               test_user):
    imagetools.push_image(registry_basic, unique_repo, "v1", imagetools.busybox_image())
    user, password = registry_basic.credentials()
    secrets_ = secret_forms(user, password)
    workdir, cache = work
    since = time.time() - 1
    env = cache_env(cache, {"SINGULARITY_DOCKER_USERNAME": user,
                            "SINGULARITY_DOCKER_PASSWORD": password})
    r = pull(singularity, f"docker://{registry_basic.hostport}/{unique_repo}:v1", "c.sif",
             workdir, env=env, debug=True)
    assert r.returncode == 0, r.stderr
    assert "DEBUG" in r.stderr  # -d did print debugging output
    for s in secrets_:
        assert s not in r.stdout and s not in r.stderr
    assert files_containing([workdir, "/tmp"], secrets_, since, owner=test_user.uid) == []


def test_recipe_credentials_not_printed_or_stored(singularity, registry_basic, unique_repo,
                                                  work, test_user):
    """test_build.py checks the SIF and sandbox bytes; here: -d output, the
    cache and /tmp, for a SIF and a sandbox build."""
    imagetools.push_image(registry_basic, unique_repo, "v1", imagetools.busybox_image())
    user, password = registry_basic.credentials()
    secrets_ = secret_forms(user, password)
    workdir, cache = work
    recipe = os.path.join(workdir, "creds.def")
    with open(recipe, "w") as f:
        f.write(textwrap.dedent(f"""\
            Bootstrap: docker
            Registry: {registry_basic.hostport}
            From: {unique_repo}:v1
            Username: {user}
            Password: {password}
            """))
    os.chown(recipe, test_user.uid, test_user.gid)
    os.chmod(recipe, 0o600)
    since = time.time() - 1
    for out, args in (("c.sif", []), ("c-sb", ["--sandbox"])):
        r = run_as_user([singularity, "-d", "build", "--nohttps", *args,
                         os.path.join(workdir, out), recipe], env=cache_env(cache))
        assert r.returncode == 0, r.stderr
        assert "DEBUG" in r.stderr
        for s in secrets_:
            assert s not in r.stdout and s not in r.stderr
    hits = files_containing([workdir, "/tmp"], secrets_, since, owner=test_user.uid)
    assert [h for h in hits if h[0] != recipe] == []


# --------------------------------------------------------------------------
# Cache swaps by another user, poisoned entries, temp files of killed pulls
# (issue 9)


def _as_root_copytree(src, dst, uid, gid):
    subprocess.run(["cp", "-a", src, dst], check=True)
    subprocess.run(["chown", "-R", f"{uid}:{gid}", dst], check=True)


@pytest.fixture(scope="module")
def marked_images(registry):
    """Two images whose /marker says which one ran: GOOD (the victim's) and
    EVIL (the other user's)."""
    out = {}
    for name in ("good", "evil"):
        img = imagetools.busybox_image(extra_layers=[[File("marker", name.upper() + "\n")]])
        out[name] = imagetools.push_image(registry, f"sec/marked-{name}", "v1", img)
    return out


def _pinned(registry, pushed, name):
    return f"docker://{registry.hostport}/sec/marked-{name}@{pushed.manifest_digest}"


def test_cache_under_dir_others_can_write_refused(singularity, registry, marked_images, work):
    """A cache whose path another user can change is refused, whatever the
    parent: world-writable, group-writable, or owned by another user; a
    root-owned sticky parent (like /tmp) is fine."""
    pw2 = ensure_user2()
    workdir, _ = work
    uri = _pinned(registry, marked_images["good"], "good")
    cases = [("world", 0, 0o777, "writable by other users"),
             ("group", 0, 0o775, "writable by other users"),
             ("theirs", pw2.pw_uid, 0o755, f"belongs to uid {pw2.pw_uid}"),
             ("theirsticky", pw2.pw_uid, 0o1777, f"belongs to uid {pw2.pw_uid}")]
    for name, owner, mode, needle in cases:
        parent = os.path.join(workdir, name)
        os.mkdir(parent)
        os.chown(parent, owner, owner)
        os.chmod(parent, mode)
        cache = os.path.join(parent, "cache")
        for cmd in (["pull", "--name", f"{name}.sif", uri], ["exec", uri, "cat", "/marker"]):
            r = run_as_user([singularity, *cmd], cwd=workdir,
                            env=dict(NOHTTPS, SINGULARITY_CACHEDIR=cache))
            one_error(r, needle)
            assert "GOOD" not in r.stdout
        assert not os.path.exists(os.path.join(workdir, f"{name}.sif"))
        assert os.listdir(parent) == [], (name, os.listdir(parent))
    # A root-owned sticky parent: accepted, and the cache inside is private.
    sticky = os.path.join(workdir, "sticky")
    os.mkdir(sticky)
    os.chmod(sticky, 0o1777)
    cache = os.path.join(sticky, "cache")
    r = run_as_user([singularity, "exec", uri, "cat", "/marker"], cwd=workdir,
                    env=dict(NOHTTPS, SINGULARITY_CACHEDIR=cache))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "GOOD\n"
    assert_private_from_user2(cache)


ATTACKER_LOOP = r"""
import os, sys, time
d, real, evil = sys.argv[1:4]
os.symlink(real, os.path.join(d, "a")); os.symlink(evil, os.path.join(d, "b"))
end = time.monotonic() + float(sys.argv[4])
while time.monotonic() < end:
    for n in ("a", "b"):
        try:
            os.symlink(real if n == "a" else evil, os.path.join(d, n + ".new"))
            os.rename(os.path.join(d, n + ".new"), os.path.join(d, "cache"))
        except OSError:
            pass
"""


def test_cache_symlink_swap_race_by_other_user(singularity, registry, marked_images, work,
                                                test_user):
    """The second user, who can write the cache's parent, swaps
    `cache` between a symlink to the victim's real cache and one to their own
    cache holding their SIF under the victim's name (40 runs while it
    loops). Their SIF never runs: the cache is refused every time."""
    pw2 = ensure_user2()
    workdir, private = work
    good = _pinned(registry, marked_images["good"], "good")
    # The victim's cache, populated; the attacker's copy with their SIF in it.
    r = run_as_user([singularity, "exec", good, "cat", "/marker"],
                    env=dict(NOHTTPS, SINGULARITY_CACHEDIR=private))
    assert r.returncode == 0 and r.stdout == "GOOD\n", r.stderr
    shared = os.path.join(workdir, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o777)  # a project directory both users can write
    real = os.path.join(shared, "real")
    evil = os.path.join(shared, "evil")
    _as_root_copytree(private, real, test_user.uid, test_user.gid)
    os.chmod(real, 0o700)
    # The attacker's own pull, in a directory of theirs (under the victim's
    # workdir their cache would be refused too).
    import tempfile
    evil_cache = tempfile.mkdtemp(prefix="sing-user2-")
    os.chown(evil_cache, pw2.pw_uid, pw2.pw_gid)
    r = subprocess.run(["setpriv", f"--reuid={pw2.pw_uid}", f"--regid={pw2.pw_gid}",
                        "--clear-groups", singularity, "pull", "--nohttps", "--name",
                        os.path.join(evil_cache, "e.sif"),
                        _pinned(registry, marked_images["evil"], "evil")],
                       env={"PATH": "/usr/bin:/bin", "HOME": evil_cache,
                            "SINGULARITY_CACHEDIR": os.path.join(evil_cache, "c")},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    _as_root_copytree(real, evil, pw2.pw_uid, pw2.pw_gid)
    for sif in glob.glob(os.path.join(evil, "sif", "*.sif")):
        subprocess.run(["cp", os.path.join(evil_cache, "e.sif"), sif], check=True)
    subprocess.run(["chown", "-R", f"{pw2.pw_uid}:{pw2.pw_gid}", evil], check=True)
    os.chmod(evil, 0o755)
    attacker = subprocess.Popen(
        ["setpriv", f"--reuid={pw2.pw_uid}", f"--regid={pw2.pw_gid}", "--clear-groups",
         "/usr/bin/python3", "-c", ATTACKER_LOOP, shared, real, evil, "600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if os.path.islink(os.path.join(shared, "cache")):
                break
            time.sleep(0.1)
        outcomes = []
        for _ in range(40):
            r = run_as_user([singularity, "exec", good, "cat", "/marker"],
                            env=dict(NOHTTPS, SINGULARITY_CACHEDIR=os.path.join(shared, "cache")))
            assert "EVIL" not in r.stdout, r.stderr
            outcomes.append((r.returncode, r.stdout))
            one_error(r, "writable by other users")
    finally:
        attacker.kill()
        attacker.wait()
        subprocess.run(["rm", "-rf", evil_cache])
    assert all(rc == 255 for rc, _ in outcomes), outcomes


def _poison_in_place(path, data=None):
    """Overwrite path's bytes (same size, same inode, same owner), as a
    stand-in for whatever wrote the cache behind our back."""
    size = os.path.getsize(path)
    data = (data or os.urandom(size))[:size].ljust(size, b"\0")
    with open(path, "r+b") as f:
        f.write(data)


def test_poisoned_same_size_blob_not_reused(singularity, registry, marked_images, work):
    workdir, cache = work
    pushed = marked_images["good"]
    uri = f"docker://{registry.hostport}/sec/marked-good:v1"
    r = pull(singularity, uri, "one.sif", workdir, env=cache_env(cache))
    assert r.returncode == 0, r.stderr
    blob = os.path.join(cache, "blobs", "sha256", pushed.layer_digests[-1][7:])
    assert os.path.isfile(blob)
    _poison_in_place(blob)
    for p in glob.glob(os.path.join(cache, "sif", "*")):
        os.unlink(p)  # so the layers are needed again
    r = pull(singularity, uri, "two.sif", workdir, env=cache_env(cache))
    assert r.returncode == 0, r.stderr
    assert "does not match its digest" in r.stderr
    assert siftools.cat(os.path.join(workdir, "two.sif"), "marker") == b"GOOD\n"
    with open(blob, "rb") as f:
        assert "sha256:" + hashlib.sha256(f.read()).hexdigest() == pushed.layer_digests[-1]


def test_poisoned_same_size_cached_sif_not_reused(singularity, registry, marked_images, work):
    """A cached SIF changed after it was recorded (same size) is converted
    again, for pull and for exec of a pinned reference (the light binary's
    own cache lookup)."""
    workdir, cache = work
    pushed = marked_images["good"]
    uri = f"docker://{registry.hostport}/sec/marked-good:v1"
    pinned = _pinned(registry, pushed, "good")
    for i, cmd in enumerate((["pull", "--name", "p.sif", uri], ["exec", pinned, "cat", "/marker"])):
        r = run_as_user([singularity, *cmd], cwd=workdir, env=dict(NOHTTPS, SINGULARITY_CACHEDIR=cache))
        assert r.returncode == 0, r.stderr
        sifs = glob.glob(os.path.join(cache, "sif", "*.sif"))
        assert sifs
        for sif in sifs:
            _poison_in_place(sif)
        if cmd[0] == "pull":
            os.unlink(os.path.join(workdir, "p.sif"))
        r = run_as_user([singularity, *cmd], cwd=workdir, env=dict(NOHTTPS, SINGULARITY_CACHEDIR=cache))
        assert r.returncode == 0, r.stderr
        assert "Using cached SIF image" not in r.stderr
        if cmd[0] == "pull":
            assert siftools.cat(os.path.join(workdir, "p.sif"), "marker") == b"GOOD\n"
        else:
            assert r.stdout == "GOOD\n"


def test_killed_pull_leaves_no_temp_blob(singularity, registry, gated_image, make_fault_proxy,
                                         work):
    """SIGKILL while a blob downloads: the partial blob had no name
    (O_TMPFILE), so no blob temp is left. The SIF being converted from the
    layers already there may be a named temp (mksquashfs writes to a path):
    it carries the dead pull's pid, and the next pull sweeps it."""
    proxy = make_fault_proxy(registry)
    gate = gate_proxy(proxy, gated_image.layers[-1].digest)
    workdir, cache = work
    out = os.path.join(workdir, "k.sif")
    t, res = run_in_background([singularity, "pull", "--nohttps", "--name", out,
                                f"docker://{proxy.hostport}/sec/gated:v1"],
                               env=cache_env(cache))
    try:
        assert gate["reached"].wait(60), "the pull never asked for the layer"
        for pid in procs_mentioning(out):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    finally:
        gate["release"].set()
        t.join(300)
    assert res["r"].returncode != 0

    def temps():
        # os.walk, not glob: glob skips the dot-files temps are named as.
        return [os.path.join(d, f) for d, _, files in os.walk(cache) for f in files
                if ".tmp" in f]
    assert [t for t in temps() if "/blobs/" in t] == [], temps()
    blobs = os.listdir(os.path.join(cache, "blobs", "sha256"))
    assert gated_image.layers[-1].digest[7:] not in blobs
    for t in temps():
        pid = int(re.search(r"\.tmp-(\d+)-", t).group(1))
        assert not os.path.exists(f"/proc/{pid}"), (t, "its pull still runs")
    r = run_as_user([singularity, "pull", "--nohttps", "--name", out,
                     f"docker://{proxy.hostport}/sec/gated:v1"], env=cache_env(cache))
    assert r.returncode == 0, r.stderr
    assert temps() == []


def test_stale_temp_files_of_dead_pulls_removed(singularity, registry, marked_images, work,
                                                test_user):
    """Named temps (file systems without O_TMPFILE, SIFs being squashed) of
    a process that is gone are removed by the next run; a live one's stay."""
    workdir, cache = work
    uri = f"docker://{registry.hostport}/sec/marked-good:v1"
    r = pull(singularity, uri, "a.sif", workdir, env=cache_env(cache))
    assert r.returncode == 0, r.stderr
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs
    live = os.getpid()
    planted = {}
    for sub in ("blobs/sha256", "sif"):
        for who, pid in (("dead", dead.pid), ("live", live)):
            p = os.path.join(cache, sub, f".{'0' * 64}.tmp-{pid}-AbC123")
            with open(p, "wb") as f:
                f.write(b"x" * 4096)
            os.chown(p, test_user.uid, test_user.gid)
            planted[p] = who
    # And beside the output: a killed pull's partial SIF (mksquashfs writes
    # it by name, so it cannot be an O_TMPFILE).
    for who, pid in (("dead", dead.pid), ("live", live)):
        p = os.path.join(workdir, f".b.sif.tmp-{pid}-XyZ789")
        with open(p, "wb") as f:
            f.write(b"partial")
        os.chown(p, test_user.uid, test_user.gid)
        planted[p] = who
    other = os.path.join(workdir, f".other.sif.tmp-{dead.pid}-XyZ789")  # not this output's
    with open(other, "wb") as f:
        f.write(b"x")
    os.chown(other, test_user.uid, test_user.gid)
    r = pull(singularity, uri, "b.sif", workdir, env=cache_env(cache))
    assert r.returncode == 0, r.stderr
    for p, who in planted.items():
        assert os.path.exists(p) == (who == "live"), (p, who)
    assert os.path.exists(other)


def test_manifest_digest_mismatch_names_both_digests(singularity, work):
    """A registry whose Docker-Content-Digest disagrees with the manifest it
    sends: the message says what it claimed (it printed "(null)", the header
    being freed before the message was made)."""
    import http.server
    body = json.dumps({"schemaVersion": 2, "mediaType": imagetools.OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + "a" * 64, "size": 2},
                       "layers": []}).encode()
    claimed = "sha256:" + "b" * 64

    class Liar(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            data = body if "/manifests/" in self.path else b"{}"
            self.send_response(200)
            self.send_header("Content-Type", imagetools.OCI_MANIFEST)
            self.send_header("Docker-Content-Digest", claimed)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_HEAD = do_GET

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Liar)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        workdir, cache = work
        r = pull(singularity, f"docker://127.0.0.1:{srv.server_address[1]}/sec/liar:v1",
                 "l.sif", workdir, env=cache_env(cache))
        err = one_error(r, "manifest digest mismatch")
        assert f"registry says {claimed}" in err, err
        assert "sha256:" + hashlib.sha256(body).hexdigest() in err
        assert "(null)" not in r.stderr
    finally:
        srv.shutdown()
