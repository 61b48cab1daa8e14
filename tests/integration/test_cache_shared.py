"""A read-only cache an administrator filled (root-owned, 0755, populated by
root's pulls with SINGULARITY_CACHEDIR and made readable with
`chmod -R go+rX`), used by a normal user through SINGULARITY_CACHEDIR: hits
are used where they are, misses go to a private temporary cache, and the
shared directory is never written, locked or chmod-ed."""
import glob
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import imagetools
from conftest import empty_user_cache, ensure_user, ensure_user2, install_prefix, run_as_user
from imagetools import File


@pytest.fixture(scope="module")
def refs(registry):
    out = []
    for i in range(2):
        img = imagetools.busybox_image(extra_layers=[[File(f"etc/shared{i}", os.urandom(100000))]])
        imagetools.push_image(registry, f"test/shared{i}", "latest", img)
        out.append(f"docker://{registry.hostport}/test/shared{i}:latest")
    return out


def as_root(*args, env=None):
    e = {"PATH": os.path.join(install_prefix(), "bin") + ":/usr/bin:/bin", "HOME": "/root",
         "LANG": "C.UTF-8"}
    e.update(env or {})
    return subprocess.run([os.path.join(install_prefix(), "bin", "singularity"), *args],
                          env=e, capture_output=True, text=True, timeout=300)


@pytest.fixture
def shared(refs):
    """/tmp/sing-shared-*/cache: root's, 0755, holding refs[0] (blobs, SIF,
    records) as root's pull left it, then opened to everyone to read."""
    top = tempfile.mkdtemp(prefix="sing-shared-")
    os.chmod(top, 0o755)
    cache = os.path.join(top, "cache")
    os.mkdir(cache, 0o755)
    r = as_root("pull", "--nohttps", os.path.join(top, "root.sif"), refs[0],
                env={"SINGULARITY_CACHEDIR": cache})
    assert r.returncode == 0, r.stderr
    # The admin's step (README): what root's pull wrote is 0700/0600.
    subprocess.run(["chmod", "-R", "go+rX", cache], check=True)
    yield cache
    shutil.rmtree(top, ignore_errors=True)


def snapshot(top):
    """Every entry under top with what a write, chmod or replacement changes."""
    out = {}
    for d, dirs, files in os.walk(top):
        for n in [""] + dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            out[os.path.relpath(p, top)] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns,
                                            st.st_ctime_ns, st.st_ino)
    return out


def user_temp_caches(before=None):
    """The user's temporary caches in /tmp. With before: waits (bounded) for
    the ones made since to go; a run's is removed by a helper once the
    container has exited, which may be just after the command returns."""
    uid = ensure_user().uid

    def now():
        out = set()
        for p in glob.glob("/tmp/singularity-cache-*"):
            try:
                if os.lstat(p).st_uid == uid:
                    out.add(p)
            except FileNotFoundError:
                pass
        return out
    for _ in range(100):
        if before is None or now() <= before:
            break
        time.sleep(0.1)
    return now()


def sing(*args, cache, **kw):
    env = {"SINGULARITY_CACHEDIR": cache}
    env.update(kw.pop("env", {}))
    return run_as_user(["singularity", *args], env=env, **kw)


def test_hit_is_used_and_nothing_is_written(shared, refs, user_tmp):
    empty_user_cache()
    before = snapshot(shared)
    temps = user_temp_caches()
    out = os.path.join(user_tmp, "a.sif")
    r = sing("pull", "--nohttps", out, refs[0], cache=shared)
    assert r.returncode == 0, r.stderr
    assert "Using cached SIF image" in r.stderr, r.stderr
    assert "read-only" in r.stderr and "temporary cache" not in r.stderr, r.stderr
    r = sing("exec", out, "wc", "-c", "/etc/shared0", cache=shared)
    assert r.returncode == 0 and r.stdout.startswith("100000"), r.stdout + r.stderr
    # run docker:// of the same image: the shared SIF is what runs.
    r = sing("-v", "exec", "--nohttps", refs[0], "true", cache=shared)
    assert r.returncode == 0 and "Using cached SIF image" in r.stderr, r.stderr
    assert snapshot(shared) == before
    assert user_temp_caches(temps) == temps
    # The user's own default cache was not used either.
    home_cache = os.path.join(ensure_user().home, ".singularity", "cache", "sif")
    assert not os.path.isdir(home_cache) or not os.listdir(home_cache)


def test_miss_goes_to_a_temporary_cache(shared, refs, user_tmp):
    before = snapshot(shared)
    temps = user_temp_caches()
    out = os.path.join(user_tmp, "b.sif")
    r = sing("pull", "--nohttps", out, refs[1], cache=shared)
    assert r.returncode == 0, r.stderr
    assert "read-only" in r.stderr and "temporary cache" in r.stderr, r.stderr
    # The base layers both images share came from the shared cache.
    assert "Using cached layer" in r.stderr, r.stderr
    r = sing("exec", out, "wc", "-c", "/etc/shared1", cache=shared)
    assert r.returncode == 0 and r.stdout.startswith("100000"), r.stdout + r.stderr
    r = sing("exec", "--nohttps", refs[1], "wc", "-c", "/etc/shared1", cache=shared)
    assert r.returncode == 0 and r.stdout.startswith("100000"), r.stdout + r.stderr
    assert "temporary cache" in r.stderr, r.stderr
    assert snapshot(shared) == before
    assert (os.stat(shared).st_mode & 0o7777) == 0o755
    assert user_temp_caches(temps) == temps


def test_entries_without_records_are_verified_not_rewritten(shared, refs, user_tmp):
    """Records gone (an older cache, or one copied by rsync): the SIF proves
    nothing and is converted again; the blobs are hashed on the way into the
    temporary cache. The shared cache stays as it is."""
    shutil.rmtree(os.path.join(shared, "verified"))
    before = snapshot(shared)
    r = sing("exec", "--nohttps", refs[0], "wc", "-c", "/etc/shared0", cache=shared)
    assert r.returncode == 0 and r.stdout.startswith("100000"), r.stdout + r.stderr
    assert "Using cached SIF image" not in r.stderr, r.stderr
    assert snapshot(shared) == before


def test_clean_is_refused_and_list_works(shared, refs):
    before = snapshot(shared)
    r = sing("cache", "clean", "-f", cache=shared)
    assert r.returncode == 255 and "read-only" in r.stderr, r.stderr
    r = sing("cache", "list", cache=shared)
    assert r.returncode == 0, r.stderr
    assert "There are 1 container file(s)" in r.stdout, r.stdout
    assert snapshot(shared) == before


def test_a_shared_cache_others_can_write_is_refused(shared, refs, user_tmp):
    for path, mode in ((shared, 0o775), (shared, 0o757),
                       (os.path.join(shared, "sif"), 0o777)):
        old = os.stat(path).st_mode & 0o7777
        os.chmod(path, mode)
        try:
            r = sing("pull", "--nohttps", os.path.join(user_tmp, "x.sif"), refs[0], cache=shared)
            assert r.returncode == 255 and "by other users" in r.stderr, (path, mode, r.stderr)
            assert (os.stat(path).st_mode & 0o7777) == mode
        finally:
            os.chmod(path, old)
    # A parent others can write (not sticky) is refused as before.
    top = os.path.dirname(shared)
    os.chmod(top, 0o777)
    try:
        r = sing("pull", "--nohttps", os.path.join(user_tmp, "x.sif"), refs[0], cache=shared)
        assert r.returncode == 255 and "writable by other users" in r.stderr, r.stderr
    finally:
        os.chmod(top, 0o755)
    assert not os.path.exists(os.path.join(user_tmp, "x.sif"))


def test_a_shared_sif_others_can_write_is_not_used(shared, refs, user_tmp):
    # Records there leave out the ctime (the admin's chmod): a SIF anyone may
    # write must not be run from there, even while its record matches.
    [sif] = glob.glob(os.path.join(shared, "sif", "*.sif"))
    old = os.stat(sif).st_mode & 0o7777
    os.chmod(sif, 0o666)
    try:
        r = sing("-v", "exec", "--nohttps", refs[0], "true", cache=shared)
        assert r.returncode == 0, r.stderr
        assert "does not match the read-only cache's record" in r.stderr, r.stderr
    finally:
        os.chmod(sif, old)


def test_pinned_run_and_build_use_the_shared_cache(shared, refs, user_tmp):
    """`exec docker://REF@sha256:...` found by the light binary in the
    shared cache (no temporary cache, no registry request), and a `build`
    from docker:// of an image it lacks: the shared dir stays as it is."""
    r = as_root("inspect", "--json", os.path.join(os.path.dirname(shared), "root.sif"))
    import json
    labels = json.loads(r.stdout)["data"]["attributes"]["labels"]
    digest = labels["org.opencontainers.image.base.digest"]
    pinned = refs[0].rsplit(":", 1)[0] + "@" + digest
    # SIFs are cached per reference: root pulls the pinned one too.
    r = as_root("pull", "--nohttps", os.path.join(os.path.dirname(shared), "pinned.sif"), pinned,
                env={"SINGULARITY_CACHEDIR": shared})
    assert r.returncode == 0, r.stderr
    subprocess.run(["chmod", "-R", "go+rX", shared], check=True)
    before = snapshot(shared)
    temps = user_temp_caches()
    r = sing("-v", "exec", "--nohttps", pinned, "wc", "-c", "/etc/shared0", cache=shared)
    assert r.returncode == 0 and r.stdout.startswith("100000"), r.stdout + r.stderr
    assert "Using cached SIF image" in r.stderr, r.stderr
    assert user_temp_caches() == temps
    out = os.path.join(user_tmp, "built.sif")
    r = sing("build", "--nohttps", out, refs[1], cache=shared)
    assert r.returncode == 0, r.stderr
    r = sing("exec", out, "wc", "-c", "/etc/shared1", cache=shared)
    assert r.returncode == 0 and r.stdout.startswith("100000"), r.stdout + r.stderr
    assert snapshot(shared) == before
    assert user_temp_caches(temps) == temps


def test_a_cache_of_another_user_is_refused(shared, refs, user_tmp):
    """Read-only is trusted only from root: another user could put a SIF
    there that would run as you."""
    other = ensure_user2()
    for d, _, files in os.walk(shared):
        for p in [d] + [os.path.join(d, f) for f in files]:
            os.lchown(p, other.pw_uid, other.pw_gid)
    before = snapshot(shared)
    r = sing("exec", "--nohttps", refs[0], "true", cache=shared)
    assert r.returncode == 255 and "not by you or root" in r.stderr, r.stderr
    r = sing("pull", "--nohttps", os.path.join(user_tmp, "x.sif"), refs[0], cache=shared)
    assert r.returncode == 255 and "not by you or root" in r.stderr, r.stderr
    assert snapshot(shared) == before
