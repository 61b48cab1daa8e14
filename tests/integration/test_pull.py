"""singularity pull docker://..., run as a normal user against real registries."""

import filecmp
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import imagetools
import siftools
from conftest import USER, run_as_user, user_cache_dir
from imagetools import Dir, File, Hardlink, Layer, Image, Opaque, Symlink, Whiteout

NOHTTPS = {"SINGULARITY_NOHTTPS": "1"}


def pull(singularity, uri, *args, cwd, env=None, **kw):
    e = dict(NOHTTPS)
    e.update(env or {})
    return run_as_user([singularity, "pull", *args, uri], cwd=cwd, env=e, **kw)


def assert_clean_dir(d, allowed=()):
    left = [n for n in os.listdir(d) if n not in allowed]
    assert left == [], left


def assert_no_cache_temp():
    cache = user_cache_dir()
    temps = glob.glob(os.path.join(cache, "**", ".*tmp*"), recursive=True)
    assert temps == [], temps


def assert_one_line_error(r, needle):
    assert r.returncode == 255, (r.returncode, r.stderr)
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR:")]
    assert len(errors) == 1, r.stderr
    assert needle in errors[0], r.stderr


def test_pull_default_name_and_messages(singularity, registry, pushed_busybox, user_tmp,
                                        clean_user_cache):
    uri = f"docker://{registry.hostport}/library/busybox:latest"
    r = pull(singularity, uri, cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    sif = os.path.join(user_tmp, "busybox_latest.sif")
    assert os.path.isfile(sif)
    assert os.stat(sif).st_uid != 0
    assert f"{registry.hostport}/library/busybox:latest" in r.stderr
    assert "Cache folder set to" in r.stderr and user_cache_dir() in r.stderr
    assert pushed_busybox.manifest_digest in r.stderr
    assert "@sha256:" in r.stderr  # how to pin it
    assert_clean_dir(user_tmp, {"busybox_latest.sif"})
    assert "\r" not in r.stderr  # no progress bar when stderr is not a terminal
    # The reference implementation accepts what we wrote.
    h = subprocess.run(["siftool", "header", sif], capture_output=True, text=True)
    assert h.returncode == 0, h.stderr
    assert "#!/usr/bin/env run-singularity" in h.stdout
    assert "amd64" in h.stdout
    lst = subprocess.run(["siftool", "list", sif], capture_output=True, text=True)
    assert lst.returncode == 0, lst.stderr
    assert "JSON.Generic" in lst.stdout and "FS (Squashfs/*System/amd64)" in lst.stdout
    part = siftools.partition(sif)
    assert part["offset"] % 4096 == 0
    cfg = json.loads(siftools.object_bytes(sif, 0x4006))
    assert cfg["architecture"] == "amd64"
    with open(sif, "rb") as f:
        f.seek(part["offset"])
        assert f.read(4) == b"hsqs"
    # The cache is private and the user's.
    st = os.stat(user_cache_dir())
    assert st.st_mode & 0o777 == 0o700 and st.st_uid != 0


def test_progress_bar_on_a_terminal(singularity, registry, pushed_busybox, user_tmp,
                                     clean_user_cache):
    uri = f"docker://{registry.hostport}/library/busybox:latest"
    r = run_as_user(["script", "-qec", f"{singularity} pull --nohttps {uri}", "/dev/null"],
                    cwd=user_tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(100%)" in r.stdout, r.stdout


@pytest.fixture
def slow_image(registry, unique_repo, make_fault_proxy):
    """docker:// URI of a 6-layer image (1 MiB each) behind a proxy that
    streams blobs slowly: more layers than parallel downloads, so layers
    start (and log "Fetching ...") while the progress is shown, and the
    download lasts over 5 s."""
    layers = [[File(f"l{i}", os.urandom(1 << 20))] for i in range(6)]
    img = imagetools.busybox_image(extra_layers=layers)
    imagetools.push_image(registry, unique_repo, "slow", img)
    proxy = make_fault_proxy(registry)
    proxy.slow_blob(0.2)
    return f"docker://{proxy.hostport}/{unique_repo}:slow"


def test_progress_on_a_terminal_with_rate_eta_and_log_lines(singularity, slow_image, user_tmp,
                                                            clean_user_cache):
    r = run_as_user(["script", "-qec", f"{singularity} pull --nohttps {slow_image}",
                     "/dev/null"], cwd=user_tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout  # text mode: "\r" and "\r\n" read as "\n"
    # Every message starts a line, or follows the progress line's erasure
    # ("\r\x1b[K"), never the end of a progress line.
    for m in re.finditer(r"(INFO|WARNING|ERROR):", out):
        before = out[:m.start()]
        assert before == "" or before.endswith("\n") or before.endswith("\n\x1b[K"), \
            repr(out[max(0, m.start() - 80):m.end()])
    # Redraws carry the rate and the time left; the last one says 100%.
    draws = [d for d in re.split(r"[\r\n]", out) if " / " in d and "%)" in d]
    assert any(re.search(r"\(\d+%\), [\d.]+ [KMG]iB/s, ETA \d+:\d\d", d) for d in draws), draws
    assert "(100%)" in draws[-1], draws
    assert "Fetching" in out


def test_progress_without_a_terminal_every_few_seconds(singularity, slow_image, user_tmp,
                                                       clean_user_cache):
    r = pull(singularity, slow_image, cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "\x1b" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("INFO:    Downloaded ")]
    assert lines, r.stderr
    assert re.search(r"\(\d+%\), [\d.]+ [KMG]iB/s, ETA \d+:\d\d", lines[0]), lines
    assert "(100%)" in lines[-1], lines


def test_pull_starts_the_top_layers_downloads_first(singularity, registry, unique_repo,
                                                     make_fault_proxy, user_tmp,
                                                     clean_user_cache):
    """The merge goes top-down and waits for the layer it needs next, so
    with more layers than parallel transfers (4) the top layers' downloads
    start first and the bottom ones wait for a free transfer."""
    layers = [[File(f"l{i}", os.urandom(512 << 10))] for i in range(6)]
    img = imagetools.busybox_image(extra_layers=layers)
    imagetools.push_image(registry, unique_repo, "order", img)
    proxy = make_fault_proxy(registry)
    proxy.slow_blob(0.1)  # a layer lasts 0.8 s: no transfer ends before the 4 start
    r = pull(singularity, f"docker://{proxy.hostport}/{unique_repo}:order", cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    index = {d: i for i, d in enumerate(img.layer_digests)}
    got = [index[m.group(1)] for q in proxy.requests if q.method == "GET"
           for m in [re.search(r"/blobs/(sha256:[0-9a-f]{64})$", q.path)]
           if m and m.group(1) in index]
    n = len(img.layer_digests)
    assert sorted(got) == list(range(n)), got
    assert sorted(got[:4]) == list(range(n - 4, n)), got


def test_failed_merge_does_not_wait_for_another_pulls_blob(singularity, registry, unique_repo,
                                                          user_tmp, clean_user_cache):
    """The base layer's lock is held (as by another pull downloading it),
    and the top layer is no tar (its digest is right), so the merge fails
    at once: the pull stops with the merge's error instead of waiting for
    the other pull's download (the timeout fails the test if it waits)."""
    import fcntl
    base = imagetools.busybox_image()
    bad = Layer(tar_bytes=b"this is not a tar archive\n" * 64)
    img = Image(base.layers + [bad], env=["PATH=/bin"], cmd=["/bin/sh"])
    imagetools.push_image(registry, unique_repo, "held", img)
    info = os.stat(clean_user_cache)
    locks = os.path.join(clean_user_cache, "locks")
    os.makedirs(locks, mode=0o700, exist_ok=True)
    os.chown(locks, info.st_uid, info.st_gid)
    lock = os.path.join(locks, img.layer_digests[0].split(":")[1] + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchown(fd, info.st_uid, info.st_gid)
        fcntl.flock(fd, fcntl.LOCK_EX)
        base_gets = lambda: registry.count(rf"/blobs/{img.layer_digests[0]}$", method="GET")
        before = base_gets()  # the session registry serves this busybox layer to others too
        r = pull(singularity, f"docker://{registry.hostport}/{unique_repo}:held", cwd=user_tmp,
                 timeout=30)
    finally:
        os.close(fd)
    assert r.returncode == 255, r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR:")]
    assert len(errors) == 1 and img.layer_digests[1].split(":")[1][:12] in errors[0], r.stderr
    assert "cancelled" not in errors[0]
    assert base_gets() == before
    assert os.listdir(user_tmp) == []


def test_rate_limited_blob_waits_alone(singularity, registry, unique_repo, make_fault_proxy,
                                       user_tmp, clean_user_cache):
    """While the base layer waits out a 429 (Retry-After: 25), the other
    downloads go on and the merge takes what they finish: here the top
    layer, which is no tar (its digest is right), so the pull fails at once
    with the merge's error, asking for the base only once (the timeout
    fails the test if the pull sleeps out the wait)."""
    base = imagetools.busybox_image()
    bad = Layer(tar_bytes=b"this is not a tar archive\n" * 64)
    img = Image(base.layers + [bad], env=["PATH=/bin"], cmd=["/bin/sh"])
    imagetools.push_image(registry, unique_repo, "rl", img)
    proxy = make_fault_proxy(registry)
    proxy.fail(429, times=None, pattern=rf"/blobs/{img.layer_digests[0]}$",
               headers=[("Retry-After", "25")])
    r = pull(singularity, f"docker://{proxy.hostport}/{unique_repo}:rl", cwd=user_tmp,
             timeout=15)
    assert r.returncode == 255, r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR:")]
    assert len(errors) == 1 and img.layer_digests[1].split(":")[1][:12] in errors[0], r.stderr
    assert proxy.count(rf"/blobs/{img.layer_digests[0]}$", method="GET") == 1
    assert os.listdir(user_tmp) == []


def test_pull_name_force_and_pullfolder(singularity, registry, pushed_busybox, user_tmp):
    uri = f"docker://{registry.hostport}/library/busybox:latest"
    r = pull(singularity, uri, "--name", "mine.sif", cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    before = os.stat(os.path.join(user_tmp, "mine.sif")).st_mtime_ns
    r = pull(singularity, uri, "--name", "mine.sif", cwd=user_tmp)
    assert_one_line_error(r, "already exists")
    assert os.stat(os.path.join(user_tmp, "mine.sif")).st_mtime_ns == before
    r = pull(singularity, uri, "-F", "--name", "mine.sif", cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    # Positional output name, as Singularity accepts it.
    r = pull(singularity, uri, "other.sif", cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    sub = os.path.join(user_tmp, "folder")
    run_as_user(["mkdir", sub], check=True)
    r = pull(singularity, uri, cwd=user_tmp, env={"SINGULARITY_PULLFOLDER": sub})
    assert r.returncode == 0, r.stderr
    assert os.path.isfile(os.path.join(sub, "busybox_latest.sif"))
    assert_clean_dir(user_tmp, {"mine.sif", "other.sif", "folder"})


@pytest.mark.parametrize("fmt", ["oci", "docker"])
@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_pull_formats_and_compressions(singularity, registry, unique_repo, user_tmp, fmt,
                                       compression):
    img = imagetools.busybox_image(
        fmt=fmt, compression=compression,
        extra_layers=[[File("etc/marker", f"{fmt}-{compression}\n".encode())]])
    imagetools.push_image(registry, unique_repo, "v1", img)
    r = pull(singularity, f"docker://{registry.hostport}/{unique_repo}:v1", "--name", "x.sif",
             cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    sif = os.path.join(user_tmp, "x.sif")
    assert siftools.cat(sif, "etc/marker") == f"{fmt}-{compression}\n".encode()
    assert siftools.cat(sif, "bin/busybox")[:4] == b"\x7fELF"


def _platform_image(arch, variant=None):
    marker = f"{arch}/{variant or ''}\n".encode()
    return imagetools.busybox_image(arch=arch, variant=variant,
                                    extra_layers=[[File("etc/platform", marker)]])


@pytest.mark.parametrize("fmt", ["oci", "docker"])
def test_pull_index_picks_platform(singularity, registry, unique_repo, user_tmp, fmt):
    idx = imagetools.Index([_platform_image("arm64", "v8"), _platform_image("amd64"),
                            _platform_image("arm", "v7")], fmt=fmt)
    imagetools.push_index(registry, unique_repo, "multi", idx)
    uri = f"docker://{registry.hostport}/{unique_repo}:multi"
    r = pull(singularity, uri, "--name", "host.sif", cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    assert siftools.cat(os.path.join(user_tmp, "host.sif"), "etc/platform") == b"amd64/\n"
    r = pull(singularity, uri, "--arch", "arm64", "--name", "arm64.sif", cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    assert siftools.cat(os.path.join(user_tmp, "arm64.sif"), "etc/platform") == b"arm64/v8\n"
    assert "arm64" in subprocess.run(["siftool", "header", os.path.join(user_tmp, "arm64.sif")],
                                     capture_output=True, text=True).stdout
    r = pull(singularity, uri, "--arch", "arm/v7", "--name", "armv7.sif", cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    assert siftools.cat(os.path.join(user_tmp, "armv7.sif"), "etc/platform") == b"arm/v7\n"
    r = pull(singularity, uri, "--arch", "s390x", "--name", "none.sif", cwd=user_tmp)
    assert_one_line_error(r, "no image for linux/s390x")
    assert "linux/arm64/v8" in r.stderr and "linux/amd64" in r.stderr
    assert not os.path.exists(os.path.join(user_tmp, "none.sif"))


def test_pull_by_digest(singularity, registry, pushed_busybox, user_tmp):
    uri = f"docker://{registry.hostport}/library/busybox@{pushed_busybox.manifest_digest}"
    r = pull(singularity, uri, cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    sifs = glob.glob(os.path.join(user_tmp, "*.sif"))
    assert len(sifs) == 1 and "busybox_" in sifs[0]
    assert "not reproducible" not in r.stderr


def test_cached_blobs_are_not_fetched_again(singularity, registry, make_fault_proxy,
                                            unique_repo, user_tmp, clean_user_cache):
    img = imagetools.busybox_image(extra_layers=[[File("a", b"a")], [File("b", b"b")]])
    pushed = imagetools.push_image(registry, unique_repo, "t", img)
    proxy = make_fault_proxy(registry)
    uri = f"docker://{proxy.hostport}/{unique_repo}:t"
    r = pull(singularity, uri, "--name", "one.sif", cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    blobs = proxy.count(r"/blobs/", method="GET")
    assert blobs == len(pushed.layer_digests) + 1
    for d in pushed.layer_digests:
        path = os.path.join(user_cache_dir(), "blobs", "sha256", d.split(":")[1])
        assert os.path.isfile(path)
    r = pull(singularity, uri, "--name", "two.sif", cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    assert proxy.count(r"/blobs/", method="GET") == blobs
    assert "Using cached SIF image" in r.stderr
    # Without the converted SIF in the cache, the cached blobs are used.
    shutil.rmtree(os.path.join(user_cache_dir(), "sif"))
    r = pull(singularity, uri, "--name", "three.sif", cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    assert proxy.count(r"/blobs/", method="GET") == blobs
    assert "Using cached layer" in r.stderr and "Creating SIF file" in r.stderr
    assert filecmp.cmp(os.path.join(user_tmp, "one.sif"), os.path.join(user_tmp, "two.sif"),
                       shallow=False)


def test_disable_cache_leaves_nothing(singularity, registry, pushed_busybox, user_tmp,
                                      clean_user_cache, test_user):
    tmpdir = os.path.join(user_tmp, "tmp")
    run_as_user(["mkdir", tmpdir], check=True)
    uri = f"docker://{registry.hostport}/library/busybox:latest"
    for how in (["--disable-cache"], []):
        env = {"TMPDIR": tmpdir}
        if not how:
            env["SINGULARITY_DISABLE_CACHE"] = "1"
        r = pull(singularity, uri, *how, "--force", cwd=user_tmp, env=env)
        assert r.returncode == 0, r.stderr
        assert os.listdir(tmpdir) == []
        blobs = os.path.join(user_cache_dir(), "blobs", "sha256")
        assert not os.path.exists(blobs) or os.listdir(blobs) == []


def test_concurrent_pulls_download_each_blob_once(singularity, registry, make_fault_proxy,
                                                  unique_repo, user_tmp, clean_user_cache):
    big = os.urandom(8 << 20)
    img = imagetools.busybox_image(extra_layers=[[File("big", big)], [File("c", b"c")]])
    pushed = imagetools.push_image(registry, unique_repo, "t", img)
    proxy = make_fault_proxy(registry)
    uri = f"docker://{proxy.hostport}/{unique_repo}:t"
    procs = []
    for i in range(8):
        cmd = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups",
               singularity, "pull", "--name", f"p{i}.sif", uri]
        from conftest import user_env
        procs.append(subprocess.Popen(cmd, cwd=user_tmp, env=user_env(NOHTTPS),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    conversions = 0
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        conversions += "Creating SIF file" in err
    # One pull converts; the others wait for it and copy its result.
    assert conversions == 1
    counts = proxy.counts_by_path()
    for d in list(pushed.layer_digests) + [pushed.config_digest]:
        path = f"/v2/{unique_repo}/blobs/{d}"
        assert counts.get(path, 0) == 1, (path, counts)
    sizes = {os.path.getsize(os.path.join(user_tmp, f"p{i}.sif")) for i in range(8)}
    assert len(sizes) == 1
    assert_no_cache_temp()


def _fidelity_image(fmt="oci"):
    uids = dict(uid=1234, gid=4321)
    layer1 = [
        Dir("etc"), File("etc/keep", b"keep\n"), File("etc/gone", b"gone\n"),
        Dir("opaque"), File("opaque/old1", b"1"), Dir("opaque/sub"), File("opaque/sub/old2", b"2"),
        Dir("data", mode=0o750, **uids), File("data/owned", b"owned\n", mode=0o640, **uids),
        File("data/other", b"other\n", uid=42, gid=43),
        Dir("whdir"), File("whdir/x", b"x"),
        File("usr/bin/suid", b"#!/bin/sh\n", mode=0o4755),
        File("usr/bin/sgid", b"#!/bin/sh\n", mode=0o2755, gid=50),
        File("secret", b"nobody reads me", mode=0o000),
        File("links/target", b"hardlinked content\n"),
        Hardlink("links/hard", "links/target"),
        Symlink("links/soft", "target"), Symlink("links/abs", "/etc/keep"),
        File("d" * 60 + "/" + "e" * 60 + "/long-name-" + "f" * 40, b"long\n"),
        File("unicode/caf\u00e9-\u65e5\u672c.txt", "non-ascii\n".encode()),
        Dir("sticky", mode=0o1777),
    ]
    layer2 = [
        Whiteout("etc/gone"), Whiteout("whdir"),
        Opaque("opaque"), File("opaque/new", b"new"),
        File("etc/keep", b"replaced\n", mode=0o600, uid=7, gid=8),
        File("layer2", b"2\n"),
        Hardlink("links/hard2", "layer2"),
    ]
    layer3 = [Dir("whdir"), File("whdir/y", b"y")]
    return imagetools.busybox_image(fmt=fmt, extra_layers=[layer1, layer2, layer3])


def test_pull_fidelity_matches_umoci(singularity, registry, unique_repo, user_tmp, tmp_path):
    """Every entry of the SIF equals `umoci unpack` (as root) of the same image."""
    img = _fidelity_image()
    imagetools.push_image(registry, unique_repo, "fid", img)
    r = pull(singularity, f"docker://{registry.hostport}/{unique_repo}:fid", "--name", "f.sif",
             cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    layout = tmp_path / "layout"
    imagetools.write_oci_layout(img, str(layout), tag="fid")
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:fid", str(tmp_path / "bundle")],
                   check=True, capture_output=True)
    ref = siftools.tree(str(tmp_path / "bundle" / "rootfs"))
    ours = siftools.tree(siftools.extract(os.path.join(user_tmp, "f.sif"), str(tmp_path / "sif")),
                         skip=(".singularity.d", "singularity"))
    missing = set(ref) - set(ours)
    assert not missing, sorted(missing)
    for path, want in ref.items():
        if path.endswith("#link"):
            # Same hardlink grouping (the group's first name may differ).
            continue
        assert ours[path] == want, (path, ours[path], want)
    groups_ref = {(k[:-5], v) for k, v in ref.items() if k.endswith("#link")}
    for name, first in groups_ref:
        assert ours.get(name + "#link") == ours.get(first + "#link") or \
            ours.get(name + "#link") == first or ours.get(first + "#link") == name, name
    # Only mount points the runtime needs (and Singularity's /environment
    # link) may be added, and no whiteout survives.
    extra = {p for p in set(ours) - set(ref) if not p.endswith("#link")}
    allowed = {"proc", "sys", "dev", "tmp", "var", "var/tmp", "home", "root", "mnt", "etc",
               "etc/hosts", "etc/resolv.conf", "etc/passwd", "etc/group", "etc/localtime",
               "environment"}
    assert extra <= allowed, sorted(extra - allowed)
    assert not [p for p in ours if ".wh." in p]
    assert ours["usr/bin/suid"][1] == 0o4755
    assert ours["data/owned"][2:4] == (1234, 4321)
    assert "etc/gone" not in ours and "whdir/x" not in ours and "opaque/old1" not in ours
    assert ours["whdir/y"]


def test_env_and_runscript_metadata(singularity, registry, unique_repo, user_tmp, tmp_path):
    values = {
        "QUOTES": "it's \"quoted\"",
        "DOLLAR": "$HOME and ${PATH} and $(id)",
        "BACKSLASH": "a\\b\\\\c\\n",
        "BACKTICK": "`id` done",
        "SPACES": "  lead and trail  ",
        "NEWLINE": "line1\nline2\n",
        "EMPTY": "",
    }
    img = imagetools.busybox_image(
        env=["PATH=/bin"] + [f"{k}={v}" for k, v in values.items()],
        entrypoint=["/bin/echo", "entry point"], cmd=["default arg"],
        labels={"org.example.x": "y"})
    imagetools.push_image(registry, unique_repo, "env", img)
    r = pull(singularity, f"docker://{registry.hostport}/{unique_repo}:env", "--name", "e.sif",
             cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    root = siftools.extract(os.path.join(user_tmp, "e.sif"), str(tmp_path / "r"))
    envfile = os.path.join(root, ".singularity.d/env/10-docker2singularity.sh")
    for key, value in values.items():
        out = subprocess.run(["sh", "-c", f'. "$1"; printf %s "${key}"', "sh", envfile],
                             capture_output=True, env={})
        assert out.stdout == value.encode(), key
    labels = json.load(open(os.path.join(root, ".singularity.d/labels.json")))
    assert labels["org.example.x"] == "y"
    for action in ("exec", "run", "shell", "start", "test"):
        assert os.access(os.path.join(root, ".singularity.d/actions", action), os.X_OK)
    assert os.readlink(os.path.join(root, "singularity")).endswith(".singularity.d/runscript")
    rs = os.path.join(root, ".singularity.d/runscript")
    out = subprocess.run(["sh", rs], capture_output=True, text=True)
    assert out.stdout == "entry point default arg\n"
    out = subprocess.run(["sh", rs, "a  b", "c'd"], capture_output=True, text=True)
    assert out.stdout == "entry point a  b c'd\n"


# ---- bad input: one clear line, exit 255, nothing half-written ----------------

def test_invalid_reference(singularity, user_tmp):
    for uri, needle in [("docker://Ubuntu", "lowercase"),
                        ("docker://ubuntu@sha256:1234", "digest"),
                        ("docker://ubuntu:", "tag"),
                        ("docker://ubuntu@sha256:../../x", "digest")]:
        r = pull(singularity, uri, cwd=user_tmp)
        assert_one_line_error(r, needle)
    assert_clean_dir(user_tmp)


def test_unknown_repo_and_tag(singularity, registry, pushed_busybox, user_tmp):
    r = pull(singularity, f"docker://{registry.hostport}/library/nope:latest", cwd=user_tmp)
    assert_one_line_error(r, "not found")
    r = pull(singularity, f"docker://{registry.hostport}/library/busybox:nope", cwd=user_tmp)
    assert_one_line_error(r, "not found")
    assert_clean_dir(user_tmp)


def test_registry_down(singularity, user_tmp):
    from registry import free_port
    r = pull(singularity, f"docker://127.0.0.1:{free_port()}/library/busybox:latest",
             cwd=user_tmp)
    assert_one_line_error(r, "cannot connect to registry")
    assert_clean_dir(user_tmp)


def test_corrupted_blob_is_rejected(singularity, registry, make_fault_proxy, unique_repo,
                                    user_tmp, clean_user_cache):
    img = imagetools.busybox_image(extra_layers=[[File("x", os.urandom(100000))]])
    pushed = imagetools.push_image(registry, unique_repo, "c", img)
    proxy = make_fault_proxy(registry)
    proxy.corrupt_blob(pattern=r"/blobs/" + pushed.layer_digests[-1] + "$")
    r = pull(singularity, f"docker://{proxy.hostport}/{unique_repo}:c", cwd=user_tmp)
    assert_one_line_error(r, "digest mismatch")
    assert pushed.layer_digests[-1] in r.stderr
    assert_clean_dir(user_tmp)
    assert_no_cache_temp()
    bad = os.path.join(user_cache_dir(), "blobs", "sha256", pushed.layer_digests[-1][7:])
    assert not os.path.exists(bad)


def test_dropped_connection_resumes_with_range(singularity, registry, make_fault_proxy,
                                               unique_repo, user_tmp, clean_user_cache):
    content = os.urandom(3 << 20)
    img = imagetools.busybox_image(extra_layers=[[File("x", content)]])
    pushed = imagetools.push_image(registry, unique_repo, "r", img)
    proxy = make_fault_proxy(registry)
    proxy.cut_blob(1 << 20, times=2, pattern=r"/blobs/" + pushed.layer_digests[-1] + "$")
    r = pull(singularity, f"docker://{proxy.hostport}/{unique_repo}:r", "--name", "r.sif",
             cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    ranged = [q for q in proxy.requests if q.path.endswith(pushed.layer_digests[-1])
              and "range" in {k.lower() for k in q.headers}]
    assert ranged, proxy.requests
    assert siftools.cat(os.path.join(user_tmp, "r.sif"), "x") == content


def test_truncated_download_fails_cleanly(singularity, registry, make_fault_proxy, unique_repo,
                                          user_tmp, clean_user_cache):
    img = imagetools.busybox_image(extra_layers=[[File("x", os.urandom(1 << 20))]])
    pushed = imagetools.push_image(registry, unique_repo, "t", img)
    proxy = make_fault_proxy(registry)
    proxy.cut_blob(1000, times=None, pattern=r"/blobs/" + pushed.layer_digests[-1] + "$")
    r = pull(singularity, f"docker://{proxy.hostport}/{unique_repo}:t", cwd=user_tmp, timeout=120)
    assert r.returncode == 255, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("ERROR:")
    assert_clean_dir(user_tmp)
    assert_no_cache_temp()


def test_malformed_manifest(singularity, registry, make_fault_proxy, pushed_busybox, user_tmp):
    proxy = make_fault_proxy(registry)
    proxy.malformed_manifest()
    r = pull(singularity, f"docker://{proxy.hostport}/library/busybox:latest", cwd=user_tmp)
    assert_one_line_error(r, "malformed manifest")
    assert_clean_dir(user_tmp)


def test_unsupported_media_type(singularity, registry, make_fault_proxy, pushed_busybox,
                                user_tmp):
    proxy = make_fault_proxy(registry)
    proxy.unsupported_media_type()
    r = pull(singularity, f"docker://{proxy.hostport}/library/busybox:latest", cwd=user_tmp)
    assert_one_line_error(r, "unsupported")
    assert_clean_dir(user_tmp)


def test_output_dir_not_writable(singularity, registry, pushed_busybox, user_tmp):
    ro = os.path.join(user_tmp, "ro")
    run_as_user(["mkdir", "-m", "0555", ro], check=True)
    r = pull(singularity, f"docker://{registry.hostport}/library/busybox:latest",
             "--name", os.path.join(ro, "x.sif"), cwd=user_tmp)
    assert_one_line_error(r, "Permission denied")
    assert os.listdir(ro) == []


@pytest.fixture
def small_tmpfs(test_user):
    """A 3 MiB tmpfs owned by the user, for running out of space."""
    small = tempfile.mkdtemp(prefix="sing-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", small], check=True)
    try:
        os.chown(small, test_user.uid, test_user.gid)
        yield small
    finally:
        subprocess.run(["umount", small], check=True)
        os.rmdir(small)


@pytest.mark.parametrize("where", ["output", "output-blobs-cached", "cache"])
def test_disk_full(singularity, registry, unique_repo, user_tmp, clean_user_cache, small_tmpfs,
                   where):
    img = imagetools.busybox_image(extra_layers=[[File("big", os.urandom(6 << 20))]])
    imagetools.push_image(registry, unique_repo, "full", img)
    uri = f"docker://{registry.hostport}/{unique_repo}:full"
    env = {}
    out = os.path.join(small_tmpfs, "x.sif")
    if where == "cache":
        # The blobs do not fit in the cache.
        env["SINGULARITY_CACHEDIR"] = os.path.join(small_tmpfs, "cache")
        out = os.path.join(user_tmp, "x.sif")
    else:
        # Warm the cache so that the output, not the cache, runs out of space:
        # with the SIF cached (copied out), or the blobs only (converted).
        assert pull(singularity, uri, "--name", "warm.sif", cwd=user_tmp).returncode == 0
        if where == "output-blobs-cached":
            shutil.rmtree(os.path.join(user_cache_dir(), "sif"))
    r = pull(singularity, uri, "--name", out, cwd=user_tmp, env=env)
    assert_one_line_error(r, "No space left on device")
    assert not os.path.exists(out)
    if where != "cache":
        assert os.listdir(small_tmpfs) == []


def test_sigterm_during_pull_leaves_nothing(singularity, registry, unique_repo, user_tmp,
                                            clean_user_cache):
    img = imagetools.busybox_image(extra_layers=[[File(f"f{i}", os.urandom(4 << 20))
                                                  for i in range(12)]])
    imagetools.push_image(registry, unique_repo, "sig", img)
    from conftest import user_env
    cmd = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups",
           singularity, "pull", "--name", "s.sif",
           f"docker://{registry.hostport}/{unique_repo}:sig"]
    for sig in (signal.SIGTERM, signal.SIGINT):
        p = subprocess.Popen(cmd, cwd=user_tmp, env=user_env(NOHTTPS), stderr=subprocess.PIPE,
                             text=True)
        deadline = time.time() + 60
        # Wait for the conversion to start writing the SIF's temp file (in
        # the cache's sif/: the output is then made from the cached SIF).
        sif_dir = os.path.join(user_cache_dir(), "sif")
        while time.time() < deadline and not [
                n for n in os.listdir(user_tmp) +
                (os.listdir(sif_dir) if os.path.isdir(sif_dir) else []) if "tmp" in n]:
            if p.poll() is not None:
                break
            time.sleep(0.01)
        p.send_signal(sig)
        p.communicate(timeout=60)
        assert os.listdir(user_tmp) == [], (sig, os.listdir(user_tmp))
        assert_no_cache_temp()


@pytest.mark.slow
def test_pull_debian_image_as_user(singularity, registry, debian, user_tmp, clean_user_cache):
    """The issue's 'done when': a 2-layer Debian image of about 300 MB unpacked."""
    imagetools.push_image(registry, "library/debian-python", "latest", debian)
    r = pull(singularity, f"docker://{registry.hostport}/library/debian-python:latest",
             cwd=user_tmp, timeout=900)
    assert r.returncode == 0, r.stderr
    sif = os.path.join(user_tmp, "debian-python_latest.sif")
    listing = subprocess.run(["unsquashfs", "-lln", "-o", str(siftools.partition(sif)["offset"]),
                              sif], capture_output=True, text=True, check=True).stdout
    assert "/usr/bin/python3.11" in listing
    assert " 0/0 " in listing
