"""HPC at scale (issue 15): the caller's fds pass through the starter, cached
tags cost one HEAD and survive an unreachable registry, registry rate
limits, shared loop devices, and the real launchers (Slurm, Open MPI,
MPICH) running `singularity exec`."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

import imagetools
from conftest import ensure_user, ensure_user2, run_as_user, user_env


def sing(*args, env=None, cwd=None, **kw):
    return run_as_user(["singularity", *args], env=env, cwd=cwd, **kw)


@pytest.fixture(scope="session")
def hpc_dir():
    """A directory the test user owns, for images and job files."""
    user = ensure_user()
    d = tempfile.mkdtemp(prefix="sing-hpc-")
    os.chmod(d, 0o755)
    os.chown(d, user.uid, user.gid)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def busybox_sif(registry, hpc_dir):
    imagetools.push_image(registry, "test/hpc-busybox", "latest", imagetools.busybox_image())
    r = run_as_user(["singularity", "pull", "--nohttps", "--name", "bb.sif",
                     f"docker://{registry.hostport}/test/hpc-busybox:latest"], cwd=hpc_dir)
    assert r.returncode == 0, r.stderr
    return os.path.join(hpc_dir, "bb.sif")


# --------------------------------------------------------------------------
# The caller's file descriptors


def test_process_substitution_and_redirections(busybox_sif, run_mode, hpc_dir):
    out = os.path.join(hpc_dir, f"fd3-{run_mode}.txt")
    script = (f"singularity exec {busybox_sif} cat <(echo from-substitution) && "
              f"singularity exec {busybox_sif} sh -c 'echo hi >&3' 3>{out} && "
              f"echo in-file >{out}.in && "
              f"singularity exec --pid {busybox_sif} sh -c 'cat <&4' 4<{out}.in")
    r = run_as_user(["bash", "-c", script], cwd=hpc_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from-substitution\nin-file\n"
    with open(out) as f:
        assert f.read() == "hi\n"


# Lists the fds of a process in the container; the wrapper compares them with the
# fds it passed (pass_fds), by number and by what they name.
FD_LISTER = r"""
import json, os, subprocess, sys
keep = []
r1, w1 = os.pipe()
keep.append(r1)
f = open(sys.argv[2] + "/fdfile", "w")
keep.append(f.fileno())
high = os.dup2(w1, 77)
keep.append(high)
expect = {str(fd): os.readlink(f"/proc/self/fd/{fd}") for fd in [0, 1, 2] + keep}
cmd = ["singularity", "exec"] + sys.argv[3:] + [sys.argv[1], "ls", "-l", "/proc/self/fd"]
p = subprocess.run(cmd, pass_fds=keep, capture_output=True, text=True)
# "... N -> target"; ls's own directory fd is gone by the time it reads it.
# busybox's sh runs `exec ls` as an applet in its own process, so the action
# script it is reading is open too: opened in the container, not by us.
got = dict(l.split()[-3::2] for l in p.stdout.splitlines()
           if " -> " in l and not l.endswith(" -> /.singularity.d/actions/exec"))
print(json.dumps({"rc": p.returncode, "err": p.stderr, "expect": expect, "got": got}))
"""


@pytest.mark.parametrize("extra", [[], ["--pid"], ["--contain"]], ids=["plain", "pid", "contain"])
def test_container_gets_exactly_the_callers_fds(busybox_sif, run_mode, hpc_dir, extra):
    r = run_as_user(["python3", "-c", FD_LISTER, busybox_sif, hpc_dir] + extra, cwd=hpc_dir)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["rc"] in (0, 1), res["err"]  # 1: the vanished directory fd
    got, expect = res["got"], res["expect"]
    # 0-2 and what the caller passed; nothing the starter
    # opened (image, loop device, /dev/fuse, session dir, config, mount fds).
    assert set(got) == set(expect), "\n".join(
        [f"got {k} {v}" for k, v in sorted(got.items())] +
        [f"want {k} {v}" for k, v in sorted(expect.items())])
    for fd, target in expect.items():
        if fd in ("1", "2"):
            continue  # the wrapper's capture pipes, not ours
        if target.startswith(("pipe:", "socket:")):
            assert got[fd] == target, (fd, got[fd], target)
        elif fd not in ("0", "1", "2"):
            assert got[fd].endswith("/fdfile"), (fd, got[fd])
    for fd, target in got.items():
        assert not re.search(r"/dev/loop|/dev/fuse|singularity\.conf|/session|\.sif", target), \
            (fd, target)


# --------------------------------------------------------------------------
# Cached tags: one HEAD, no GET; an unreachable registry runs the cached image

MANIFEST_RX = r"/v2/.+/manifests/"
BLOB_RX = r"/v2/.+/blobs/"


def marked_image(text):
    return imagetools.busybox_image(extra_layers=[[imagetools.File("etc/marker",
                                                                   text.encode())]])


def test_cached_tag_costs_one_head_and_no_get(make_registry, clean_user_cache):
    reg = make_registry("http")
    imagetools.push_image(reg, "hpc/app", "v1", marked_image("first\n"))
    uri = f"docker://{reg.hostport}/hpc/app:v1"
    env = {"SINGULARITY_NOHTTPS": "1"}
    r = sing("exec", uri, "cat", "/etc/marker", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "first\n"
    gets, heads, blobs = (reg.count(MANIFEST_RX, "GET"), reg.count(MANIFEST_RX, "HEAD"),
                          reg.count(BLOB_RX))
    for _ in range(3):
        r = sing("exec", uri, "cat", "/etc/marker", env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "first\n"
    assert reg.count(MANIFEST_RX, "GET") == gets, reg.requests()
    assert reg.count(MANIFEST_RX, "HEAD") == heads + 3, reg.requests()
    assert reg.count(BLOB_RX) == blobs, reg.requests()


def test_pull_of_a_converted_tag_costs_one_head_and_no_get(make_registry, clean_user_cache,
                                                           user_tmp):
    reg = make_registry("http")
    imagetools.push_image(reg, "hpc/pulled", "v1", marked_image("first\n"))
    uri = f"docker://{reg.hostport}/hpc/pulled:v1"
    env = {"SINGULARITY_NOHTTPS": "1"}
    r = run_as_user(["singularity", "pull", os.path.join(user_tmp, "a.sif"), uri], env=env)
    assert r.returncode == 0, r.stderr
    gets, heads, blobs = (reg.count(MANIFEST_RX, "GET"), reg.count(MANIFEST_RX, "HEAD"),
                          reg.count(BLOB_RX))
    for name in ("b.sif", "c.sif"):
        out = os.path.join(user_tmp, name)
        r = run_as_user(["singularity", "pull", out, uri], env=env)
        assert r.returncode == 0, r.stderr
        r = sing("exec", out, "cat", "/etc/marker")
        assert r.returncode == 0 and r.stdout == "first\n", r.stdout + r.stderr
    assert reg.count(MANIFEST_RX, "GET") == gets, reg.requests()
    assert reg.count(MANIFEST_RX, "HEAD") == heads + 2, reg.requests()
    assert reg.count(BLOB_RX) == blobs, reg.requests()
    # The tag moved: the HEAD sees a new digest, and the pull converts it.
    imagetools.push_image(reg, "hpc/pulled", "v1", marked_image("second\n"))
    out = os.path.join(user_tmp, "d.sif")
    r = run_as_user(["singularity", "pull", out, uri], env=env)
    assert r.returncode == 0, r.stderr
    r = sing("exec", out, "cat", "/etc/marker")
    assert r.returncode == 0 and r.stdout == "second\n", r.stdout + r.stderr
    # The tag moves: the HEAD sees another digest, so the new image runs.
    imagetools.push_image(reg, "hpc/app", "v1", marked_image("second\n"))
    r = sing("exec", uri, "cat", "/etc/marker", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "second\n"
    assert reg.count(MANIFEST_RX, "GET") > gets


def test_cached_tag_runs_when_the_registry_is_down(make_registry, clean_user_cache):
    reg = make_registry("http")
    img = marked_image("cached\n")
    pushed = imagetools.push_image(reg, "hpc/offline", "v1", img)
    imagetools.push_image(reg, "hpc/offline", "never-pulled", marked_image("other\n"))
    env = {"SINGULARITY_NOHTTPS": "1"}
    uri = f"docker://{reg.hostport}/hpc/offline:v1"
    r = sing("exec", uri, "cat", "/etc/marker", env=env)
    assert r.returncode == 0, r.stderr
    reg.stop()
    r = sing("exec", uri, "cat", "/etc/marker", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "cached\n"
    assert f"cannot connect to registry {reg.hostport}" in r.stderr, r.stderr
    assert pushed.manifest_digest in r.stderr, r.stderr
    assert re.search(r"last confirmed \d+ (seconds|minutes) ago", r.stderr), r.stderr
    # A tag never resolved here has no cached image to fall back on.
    r = sing("exec", f"docker://{reg.hostport}/hpc/offline:never-pulled", "true", env=env)
    assert r.returncode == 255
    assert f"cannot connect to registry {reg.hostport}" in r.stderr, r.stderr
    # Nothing half-written in the cache.
    leftovers = [os.path.join(d, f) for d, _, fs in os.walk(clean_user_cache) for f in fs
                 if ".tmp-" in f]
    assert leftovers == []


# --------------------------------------------------------------------------
# Registry errors: rate limits and busy registries


def test_rate_limit_is_retried_then_explained(pushed_busybox, make_fault_proxy, registry,
                                              clean_user_cache):
    proxy = make_fault_proxy(registry)
    uri = f"docker://{proxy.hostport}/library/busybox:latest"
    env = {"SINGULARITY_NOHTTPS": "1"}
    # Twice 429 with Retry-After: the third try gets through.
    proxy.fail(429, times=2, pattern=MANIFEST_RX, method="GET", headers=[("Retry-After", "1")],
               message="You have reached your pull rate limit.")
    r = sing("exec", uri, "true", env=env)
    assert r.returncode == 0, r.stderr
    assert "answered HTTP 429" in r.stderr and "asking again in 1 s" in r.stderr, r.stderr
    # Always 429: a bounded number of tries, then what to do about it.
    empty_cache_and_reset(proxy)
    proxy.fail(429, times=None, pattern=MANIFEST_RX, method="GET",
               headers=[("Retry-After", "1")], message="You have reached your pull rate limit.")
    r = sing("exec", uri, "true", env=env)
    assert r.returncode == 255
    assert f"rate limited by {proxy.hostport}: authenticate to raise the limit" in r.stderr, \
        r.stderr
    assert "You have reached your pull rate limit." in r.stderr, r.stderr
    assert proxy.count(MANIFEST_RX, "GET") == 3, proxy.requests
    # A Retry-After longer than we are willing to wait: no wait, no retry.
    empty_cache_and_reset(proxy)
    proxy.fail(429, times=None, pattern=MANIFEST_RX, method="GET",
               headers=[("Retry-After", "3600")])
    r = sing("exec", uri, "true", env=env)
    assert r.returncode == 255
    assert "rate limited by" in r.stderr, r.stderr
    assert proxy.count(MANIFEST_RX, "GET") == 1, proxy.requests


def test_rate_limited_blobs_are_retried_then_explained(pushed_busybox, make_fault_proxy, registry,
                                                       clean_user_cache, user_tmp):
    proxy = make_fault_proxy(registry)
    uri = f"docker://{proxy.hostport}/library/busybox:latest"
    env = {"SINGULARITY_NOHTTPS": "1"}
    # Twice 429 on a blob, with Retry-After: waited for, then downloaded.
    proxy.fail(429, times=2, pattern=BLOB_RX, method="GET", headers=[("Retry-After", "1")])
    out = os.path.join(user_tmp, "limited.sif")
    r = run_as_user(["singularity", "pull", out, uri], env=env)
    assert r.returncode == 0, r.stderr
    assert "answered HTTP 429 for blob sha256:" in r.stderr, r.stderr
    assert "asking again in 1 s" in r.stderr, r.stderr
    r = sing("exec", out, "true")
    assert r.returncode == 0, r.stderr
    # Always 429: a bounded number of tries, one line saying what to do,
    # and nothing half-written.
    empty_cache_and_reset(proxy)
    proxy.fail(429, times=None, pattern=BLOB_RX, method="GET", headers=[("Retry-After", "1")])
    out = os.path.join(user_tmp, "never.sif")
    r = run_as_user(["singularity", "pull", out, uri], env=env)
    assert r.returncode == 255, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and f"rate limited by {proxy.hostport}" in errors[0], r.stderr
    assert not os.path.exists(out)
    blob_gets = proxy.counts_by_path()
    assert max(n for p, n in blob_gets.items() if "/blobs/" in p) == 3, blob_gets
    # A Retry-After longer than we wait: no retry.
    empty_cache_and_reset(proxy)
    proxy.fail(429, times=None, pattern=BLOB_RX, method="GET", headers=[("Retry-After", "3600")])
    r = run_as_user(["singularity", "pull", out, uri], env=env)
    assert r.returncode == 255 and "rate limited by" in r.stderr, r.stderr
    blob_gets = proxy.counts_by_path()
    assert max(n for p, n in blob_gets.items() if "/blobs/" in p) == 1, blob_gets


def test_busy_registry_is_retried(pushed_busybox, make_fault_proxy, registry, clean_user_cache):
    proxy = make_fault_proxy(registry)
    uri = f"docker://{proxy.hostport}/library/busybox:latest"
    env = {"SINGULARITY_NOHTTPS": "1"}
    proxy.fail(503, times=2, pattern=MANIFEST_RX, method="GET")  # backoff without Retry-After
    r = sing("exec", uri, "true", env=env)
    assert r.returncode == 0, r.stderr
    assert proxy.count(MANIFEST_RX, "GET") >= 3
    empty_cache_and_reset(proxy)
    proxy.fail(503, times=None, pattern=MANIFEST_RX, method="GET",
               headers=[("Retry-After", "0")], message="service in maintenance")
    r = sing("exec", uri, "true", env=env)
    assert r.returncode == 255
    assert "answered HTTP 503" in r.stderr and "service in maintenance" in r.stderr, r.stderr
    assert proxy.count(MANIFEST_RX, "GET") == 3, proxy.requests


def empty_cache_and_reset(proxy):
    from conftest import empty_user_cache
    empty_user_cache()
    proxy.reset()


def test_unknown_repository_is_named(registry_token, clean_user_cache):
    r = sing("pull", "--nohttps", "--name", "/tmp/never.sif",
             f"docker://{registry_token.hostport}/no/such-repo:latest")
    assert r.returncode == 255
    assert f"{registry_token.hostport}/no/such-repo" in r.stderr, r.stderr
    assert "(or no such repository)" in r.stderr, r.stderr


# --------------------------------------------------------------------------
# A conversion helper that dies


FAKE_MKSQUASHFS = """#!/bin/sh
# Takes part of the tar stream, then dies as the OOM killer would kill it.
head -c 20000 >/dev/null
kill -KILL $$
"""


@pytest.mark.parametrize("how", ["exec", "pull"])
def test_killed_mksquashfs_is_reported(how, registry, pushed_busybox, clean_user_cache, user_tmp):
    fake = os.path.join(user_tmp, "bin")
    os.mkdir(fake)
    with open(os.path.join(fake, "mksquashfs"), "w") as f:
        f.write(FAKE_MKSQUASHFS)
    os.chmod(os.path.join(fake, "mksquashfs"), 0o755)
    env = {"SINGULARITY_NOHTTPS": "1", "PATH": fake + ":" + user_env()["PATH"]}
    uri = f"docker://{registry.hostport}/library/busybox:latest"
    args = ["exec", uri, "true"] if how == "exec" else ["pull", "--name", "bb.sif", uri]
    r = sing(*args, env=env, cwd=user_tmp)
    assert r.returncode == 255, (r.returncode, r.stderr)
    assert re.search(r"mksquashfs .*killed by signal 9 \(Killed\)", r.stderr), r.stderr
    assert os.listdir(user_tmp) == ["bin"]
    leftovers = [f for d, _, fs in os.walk(clean_user_cache) for f in fs if ".tmp-" in f]
    assert leftovers == []


def test_killed_image_tool_is_reported(registry, pushed_busybox, clean_user_cache, user_tmp):
    """The OOM killer may pick the converting process itself."""
    fake = os.path.join(user_tmp, "bin")
    os.mkdir(fake)
    with open(os.path.join(fake, "mksquashfs"), "w") as f:
        f.write("#!/bin/sh\nkill -KILL $PPID\nexec cat >/dev/null\n")
    os.chmod(os.path.join(fake, "mksquashfs"), 0o755)
    env = {"SINGULARITY_NOHTTPS": "1", "PATH": fake + ":" + user_env()["PATH"]}
    r = sing("exec", f"docker://{registry.hostport}/library/busybox:latest", "true", env=env,
             cwd=user_tmp)
    assert r.returncode == 255, (r.returncode, r.stderr)
    assert re.search(r"singularity-image \(converting docker://\S+\) was killed by signal 9 "
                     r"\(Killed\)", r.stderr), r.stderr
    # (A SIGKILLed process cannot remove its temp file: not checked here.)


# --------------------------------------------------------------------------
# Shared loop devices


def run_as(user, args, **kw):
    return subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                           "--"] + [str(a) for a in args], env=user_env(), capture_output=True,
                          text=True, **kw)


def loops_backed_by(path):
    """Loop devices whose backing file is path (losetup -l)."""
    out = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], capture_output=True,
                         text=True, check=True).stdout
    real = os.path.realpath(path)
    return [l.split()[0] for l in out.splitlines() if len(l.split()) >= 2
            and l.split(None, 1)[1].strip() == real]


def hold_containers(image, n, sync_dir, user=None):
    """Start n execs of image that stay up until sync_dir/go exists; return
    the processes once every one of them is running inside its container."""
    script = ('echo up > "$1/ready-$2"; while [ ! -e "$1/go" ]; do sleep 0.05; done')
    user = user or ensure_user().name
    procs = [subprocess.Popen(["setpriv", f"--reuid={user}", f"--regid={user}",
                               "--init-groups", "--", "singularity", "exec", "-B", sync_dir,
                               image, "sh", "-c", script, "sh", sync_dir, str(i)],
                              env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(n)]
    deadline = time.monotonic() + 120
    while sum(os.path.exists(os.path.join(sync_dir, f"ready-{i}")) for i in range(n)) < n:
        dead = [p for p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            open(os.path.join(sync_dir, "go"), "w").close()
            outs = [p.communicate() for p in procs]
            pytest.fail(f"containers did not all start: {outs}")
        time.sleep(0.05)
    return procs


def release(procs, sync_dir):
    open(os.path.join(sync_dir, "go"), "w").close()
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err


@pytest.mark.parametrize("shared", ["yes", "no"])
def test_concurrent_execs_share_one_loop_device(busybox_sif, sing_config, user_tmp, shared):
    # Loop devices are the kernel driver's: not the `iflimited` default.
    sing_config.set(**{"shared loop devices": shared, "allow setuid-mount squashfs": "yes"})
    img = os.path.join(user_tmp, "img.sif")
    shutil.copy(busybox_sif, img)
    os.chown(img, ensure_user().uid, ensure_user().gid)
    procs = hold_containers(img, 8, user_tmp)
    try:
        loops = loops_backed_by(img)
    finally:
        release(procs, user_tmp)
    assert len(loops) == (1 if shared == "yes" else 8), loops
    # Auto-clearing: gone with the last container.
    for _ in range(100):
        if not loops_backed_by(img):
            break
        time.sleep(0.05)
    assert loops_backed_by(img) == []


def test_shared_loop_device_does_not_open_other_users_images(busybox_sif, sing_config, user_tmp):
    """Another user's private image stays private while its loop device is
    shared: the starter opens the image as the caller, and shares only a
    device attached to the very file the caller opened."""
    sing_config.set(**{"shared loop devices": "yes", "allow setuid-mount squashfs": "yes"})
    other = ensure_user2()
    owner = ensure_user()
    private = os.path.join(user_tmp, "private")
    os.mkdir(private, 0o700)
    os.chown(private, owner.uid, owner.gid)
    img = os.path.join(private, "img.sif")
    shutil.copy(busybox_sif, img)
    os.chmod(img, 0o600)
    os.chown(img, owner.uid, owner.gid)
    sync = os.path.join(user_tmp, "sync")
    os.mkdir(sync, 0o777)
    os.chmod(sync, 0o777)
    procs = hold_containers(img, 1, sync)
    try:
        assert len(loops_backed_by(img)) == 1
        r = run_as(other.pw_name, ["singularity", "exec", img, "true"], cwd="/")
        assert r.returncode == 255
        assert "Permission denied" in r.stderr, r.stderr
        # The same bytes in a file of its own: its own device, not the owner's.
        mine = os.path.join(user_tmp, "mine.sif")
        shutil.copy(busybox_sif, mine)
        os.chown(mine, other.pw_uid, other.pw_gid)
        sync2 = os.path.join(user_tmp, "sync2")
        os.mkdir(sync2)
        os.chmod(sync2, 0o777)
        procs2 = hold_containers(mine, 1, sync2, user=other.pw_name)
        try:
            theirs, owners = loops_backed_by(mine), loops_backed_by(img)
        finally:
            release(procs2, sync2)
        assert len(theirs) == 1 and len(owners) == 1 and theirs != owners, (theirs, owners)
    finally:
        release(procs, sync)


# --------------------------------------------------------------------------
# Real launchers: Slurm, Open MPI, MPICH


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    import slurm as slurm_mod
    d = tempfile.mkdtemp(prefix="sing-slurm-")
    cluster = slurm_mod.SlurmCluster(d)
    try:
        cluster.start()
    except slurm_mod.Unavailable as exc:
        shutil.rmtree(d, ignore_errors=True)
        pytest.skip(f"Slurm cannot start here: {exc}")
    yield cluster
    cluster.stop()
    shutil.rmtree(d, ignore_errors=True)


MPI_HELLO = r"""
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
/* Every rank takes part in a collective, so a rank that cannot reach the
 * others (a lost PMI fd, say) fails the run. argv[1]: a rank that then
 * exits 3. */
int main(int argc, char **argv)
{
        int rank, size, sum = 0;
        MPI_Init(&argc, &argv);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        printf("rank %d of %d sum %d container %s\n", rank, size, sum,
               getenv("SINGULARITY_CONTAINER") ? "yes" : "no");
        MPI_Finalize();
        return argc > 1 && rank == atoi(argv[1]) ? 3 : 0;
}
"""

# The bind model: the host's MPI (libraries, plugins, help texts, config)
# bound into a busybox image that has only the directories to bind onto.
MPI_BINDS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/share/openmpi", "/etc/openmpi",
             "/usr/share/mpich"]


def mpi_binds():
    return ["-B", ",".join(b for b in MPI_BINDS if os.path.exists(b))]


@pytest.fixture(scope="session")
def mpi(registry, hpc_dir):
    """Programs compiled on the host against Open MPI and MPICH, and an image
    to run them in. Skips per flavour when its compiler is missing."""
    from imagetools import Dir, Symlink
    progs = {}
    src = os.path.join(hpc_dir, "hello.c")
    with open(src, "w") as f:
        f.write(MPI_HELLO)
    for flavour, cc in (("openmpi", "mpicc.openmpi"), ("mpich", "mpicc.mpich")):
        if shutil.which(cc):
            out = os.path.join(hpc_dir, f"hello-{flavour}")
            subprocess.run([cc, "-O1", "-o", out, src], check=True, capture_output=True)
            os.chmod(out, 0o755)
            progs[flavour] = out
    entries = [Dir("usr/lib"), Dir("usr/lib/x86_64-linux-gnu"), Dir("usr/lib64"),
               Dir("usr/share"), Dir("usr/share/openmpi"), Dir("usr/share/mpich"),
               Dir("etc/openmpi"), Symlink("lib", "usr/lib"), Symlink("lib64", "usr/lib64")]
    imagetools.push_image(registry, "test/hpc-mpi", "latest",
                          imagetools.busybox_image(extra_layers=[entries]))
    r = run_as_user(["singularity", "pull", "--nohttps", "--name", "mpi.sif",
                     f"docker://{registry.hostport}/test/hpc-mpi:latest"], cwd=hpc_dir)
    assert r.returncode == 0, r.stderr
    return dict(image=os.path.join(hpc_dir, "mpi.sif"), progs=progs)


def need(mpi, flavour, launcher):
    if flavour not in mpi["progs"]:
        pytest.skip(f"{flavour} compiler not installed (apt-get install lib{flavour}-dev)")
    if not shutil.which(launcher):
        pytest.skip(f"{launcher} not installed")
    return mpi["progs"][flavour]


def ranks(stdout, n):
    lines = sorted(l for l in stdout.splitlines() if l.startswith("rank "))
    want = sorted(f"rank {i} of {n} sum {n * (n - 1) // 2} container yes" for i in range(n))
    assert lines == want, stdout


def as_user_in(slurm, args, **kw):
    return run_as_user(args, env=dict(slurm.env), cwd=kw.pop("cwd", None), **kw)


def test_srun_runs_exec_per_task_with_slurm_variables(slurm, busybox_sif):
    r = as_user_in(slurm, ["srun", "-n", "2", "singularity", "exec", busybox_sif, "sh", "-c",
                           'echo "task $SLURM_PROCID of $SLURM_NTASKS job ${SLURM_JOB_ID:+set} '
                           'in $SINGULARITY_NAME"'], timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ["task 0 of 2 job set in bb.sif",
                                             "task 1 of 2 job set in bb.sif"], r.stdout


def test_failing_task_fails_the_step(slurm, busybox_sif):
    r = as_user_in(slurm, ["srun", "-n", "2", "singularity", "exec", busybox_sif, "sh", "-c",
                           '[ "$SLURM_PROCID" = 1 ] && exit 3; exit 0'], timeout=120)
    assert r.returncode != 0, r.stdout
    assert "task 1: Exited with exit code 3" in r.stderr, r.stderr


def wait_for_job(slurm, job_id, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = as_user_in(slurm, ["squeue", "-h", "-j", job_id, "-o", "%T"])
        if r.returncode != 0 or not r.stdout.strip():
            return
        time.sleep(0.5)
    pytest.fail(f"job {job_id} still queued or running after {timeout} s")


def test_sbatch_job_runs_exec(slurm, busybox_sif, hpc_dir):
    out = os.path.join(hpc_dir, "sbatch-%j.out")
    script = os.path.join(hpc_dir, "job.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n"
                f"singularity exec {busybox_sif} sh -c 'echo batch $SLURM_JOB_ID "
                "$(cat /etc/hostname)'\n")
    os.chmod(script, 0o755)
    r = as_user_in(slurm, ["sbatch", "--parsable", "-o", out, script], cwd=hpc_dir)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip().split(";")[0]
    wait_for_job(slurm, job)
    with open(out.replace("%j", job)) as f:
        assert f.read() == f"batch {job} busybox\n"


def test_openmpi_mpirun_hybrid(slurm, mpi, hpc_dir):
    prog = need(mpi, "openmpi", "mpirun")
    base = ["mpirun", "-np", "2", "--mca", "btl", "self,tcp", "singularity", "exec",
            *mpi_binds(), mpi["image"]]
    r = as_user_in(slurm, base + [prog], cwd=hpc_dir, timeout=180)
    assert r.returncode == 0, r.stderr + r.stdout
    ranks(r.stdout, 2)
    r = as_user_in(slurm, base + ["sh", "-c", "env | grep -E '^(OMPI_COMM_WORLD_RANK|PMIX_RANK)='"
                                  " | sort"], cwd=hpc_dir, timeout=180)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == sorted(["OMPI_COMM_WORLD_RANK=0", "PMIX_RANK=0",
                                               "OMPI_COMM_WORLD_RANK=1", "PMIX_RANK=1"]), r.stdout
    # A failing rank fails the run.
    r = as_user_in(slurm, base + [prog, "1"], cwd=hpc_dir, timeout=180)
    assert r.returncode != 0, r.stdout


def test_srun_mpi_pmix_with_openmpi(slurm, mpi, hpc_dir):
    prog = need(mpi, "openmpi", "srun")
    if "pmix" not in slurm.mpi_plugins:
        pytest.skip(f"Slurm has no pmix plugin here (srun --mpi=list: {slurm.mpi_plugins})")
    r = as_user_in(slurm, ["srun", "--mpi=pmix", "-n", "2", "singularity", "exec", *mpi_binds(),
                           mpi["image"], prog], cwd=hpc_dir, timeout=180)
    assert r.returncode == 0, r.stderr + r.stdout
    ranks(r.stdout, 2)


def test_mpich_hydra_pmi_over_inherited_fd(slurm, mpi, hpc_dir):
    prog = need(mpi, "mpich", "mpiexec.hydra")
    base = ["mpiexec.hydra", "-n", "2", "singularity", "exec", *mpi_binds(), mpi["image"]]
    # Hydra hands each rank its PMI connection as an open fd named by PMI_FD.
    r = as_user_in(slurm, base + ["sh", "-c", 'test -e /proc/self/fd/"$PMI_FD" && '
                                  'echo "fd $PMI_FD rank $PMI_RANK of $PMI_SIZE"'],
                   cwd=hpc_dir, timeout=180)
    assert r.returncode == 0, r.stderr + r.stdout
    assert re.fullmatch(r"fd \d+ rank [01] of 2\nfd \d+ rank [01] of 2\n", r.stdout), r.stdout
    r = as_user_in(slurm, base + [prog], cwd=hpc_dir, timeout=180)
    assert r.returncode == 0, r.stderr + r.stdout
    ranks(r.stdout, 2)
    r = as_user_in(slurm, base + [prog, "0"], cwd=hpc_dir, timeout=180)
    assert r.returncode != 0, r.stdout


def test_srun_mpi_pmi2_with_mpich(slurm, mpi, hpc_dir):
    prog = need(mpi, "mpich", "srun")
    if "pmi2" not in slurm.mpi_plugins:
        pytest.skip(f"Slurm has no pmi2 plugin here (srun --mpi=list: {slurm.mpi_plugins})")
    r = as_user_in(slurm, ["srun", "--mpi=pmi2", "-n", "2", "singularity", "exec", *mpi_binds(),
                           mpi["image"], prog], cwd=hpc_dir, timeout=180)
    assert r.returncode == 0, r.stderr + r.stdout
    ranks(r.stdout, 2)


def test_job_array_on_one_empty_cache(slurm, make_registry, hpc_dir):
    """16 tasks, one shared empty cache: each blob fetched once, one SIF."""
    reg = make_registry("http")
    pushed = imagetools.push_image(reg, "hpc/array", "v1", marked_image("array\n"))
    user = ensure_user()
    cache = os.path.join(hpc_dir, "array-cache")
    shutil.rmtree(cache, ignore_errors=True)
    os.mkdir(cache, 0o700)
    os.chown(cache, user.uid, user.gid)
    out = os.path.join(hpc_dir, "array-%a.out")
    script = os.path.join(hpc_dir, "array.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n"
                f"export SINGULARITY_CACHEDIR={cache} SINGULARITY_NOHTTPS=1\n"
                f"exec singularity exec docker://{reg.hostport}/hpc/array:v1 "
                "sh -c 'echo task $SLURM_ARRAY_TASK_ID $(cat /etc/marker)'\n")
    os.chmod(script, 0o755)
    r = as_user_in(slurm, ["sbatch", "--parsable", "--array=0-15", "-o", out, "-e",
                           out + ".err", script], cwd=hpc_dir)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip().split(";")[0]
    wait_for_job(slurm, job, timeout=300)
    for i in range(16):
        with open(out.replace("%a", str(i))) as f:
            assert f.read() == f"task {i} array\n", i
    for digest in pushed.layer_digests + [pushed.config_digest]:
        assert reg.count(f"/blobs/{digest}$", "GET") == 1, (digest, reg.requests())
    sifs = os.listdir(os.path.join(cache, "sif"))
    assert len(sifs) == 1, sifs
    temps = [os.path.join(d, f) for d, _, fs in os.walk(cache) for f in fs if ".tmp-" in f]
    assert temps == []
