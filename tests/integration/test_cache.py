"""singularity cache list / clean as a normal user, on a cache holding blobs,
SIFs, locks held by a pull and stale temp files, while a pull runs; and
where a pull's image bytes are kept (reflink on btrfs)."""
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import threading

import pytest

import imagetools
from conftest import ensure_user, empty_user_cache, run_as_user, user_cache_dir
from fsprobe import reflink_supported
from imagetools import File


def sing(*args, **kw):
    return run_as_user(["singularity", *args], **kw)


@pytest.fixture(scope="module")
def refs(registry):
    out = []
    for i in range(3):
        img = imagetools.busybox_image(extra_layers=[[File(f"etc/n{i}", os.urandom(200000))]])
        imagetools.push_image(registry, f"test/cache{i}", "latest", img)
        out.append(f"docker://{registry.hostport}/test/cache{i}:latest")
    return out


def pull(ref, dest, *extra):
    r = sing("pull", "--nohttps", *extra, dest, ref)
    assert r.returncode == 0, r.stderr
    return r


def entries(kind):
    d = os.path.join(user_cache_dir(), "blobs/sha256" if kind == "blob" else "sif")
    return sorted(n for n in os.listdir(d) if not n.startswith("."))


def as_user_file(path, data=b"x"):
    with open(path, "wb") as f:
        f.write(data)
    u = ensure_user()
    os.chown(path, u.uid, u.gid)


@pytest.fixture
def work(user_tmp):
    empty_user_cache()
    return user_tmp


def test_list_counts_and_sizes(refs, work):
    pull(refs[0], os.path.join(work, "a.sif"))
    pull(refs[1], os.path.join(work, "b.sif"))
    r = sing("cache", "list")
    assert r.returncode == 0, r.stderr
    m = re.search(r"There are (\d+) container file\(s\) using .* and (\d+) oci blob file\(s\)",
                  r.stdout)
    assert m, r.stdout
    assert int(m.group(1)) == len(entries("sif")) == 2
    assert int(m.group(2)) == len(entries("blob")) > 0
    r = sing("cache", "list", "-v", "--type", "sif")
    names = [l.split()[0] for l in r.stdout.splitlines()[1:-2]]
    assert sorted(names) == entries("sif")
    r = sing("cache", "list", "--type", "nosuch")
    assert r.returncode == 255 and "nosuch" in r.stderr


def test_clean_while_a_pull_runs(refs, work):
    """A clean during a pull never takes a blob from under it."""
    pull(refs[0], os.path.join(work, "a.sif"))
    pull(refs[1], os.path.join(work, "b.sif"))
    for attempt in range(3):
        out = os.path.join(work, f"c{attempt}.sif")
        results = {}
        t = threading.Thread(target=lambda: results.update(
            r=sing("pull", "--nohttps", out, refs[2 if attempt % 2 == 0 else 0])))
        t.start()
        r = sing("cache", "clean", "-f")
        t.join()
        assert r.returncode == 0, r.stderr
        assert results["r"].returncode == 0, results["r"].stderr
        r = sing("exec", out, "true")
        assert r.returncode == 0, r.stderr


def test_clean_keeps_what_is_in_use(refs, work):
    pull(refs[0], os.path.join(work, "a.sif"))
    pull(refs[1], os.path.join(work, "b.sif"))
    cache = user_cache_dir()
    sifs = entries("sif")
    blobs = entries("blob")
    # A pull holding one blob's lock (as fetch.c does) and one SIF's.
    held_blob = blobs[0]
    held_sif = sifs[0]
    locks = []
    for name in (held_blob, "sif-" + held_sif[:-4]):
        path = os.path.join(cache, "locks", name + ".lock")
        as_user_file(path, b"")
        f = open(path, "rb")
        fcntl.flock(f, fcntl.LOCK_EX)
        locks.append(f)
    # Stale temp files of dead pids, and a live one (this process, locked).
    dead = os.path.join(cache, "blobs/sha256", ".deadbeef.tmp-999999999-abcdef")
    as_user_file(dead)
    dead_sif = os.path.join(cache, "sif", ".x.sif.tmp-999999998-abcdef")
    as_user_file(dead_sif)
    live = os.path.join(cache, "blobs/sha256", f".cafe.tmp-{os.getpid()}-abcdef")
    as_user_file(live)
    live_f = open(live, "rb")
    fcntl.flock(live_f, fcntl.LOCK_EX)
    r = sing("cache", "clean", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert entries("sif") == sifs and entries("blob") == blobs and os.path.exists(dead)
    assert "would remove" in r.stdout and held_sif not in r.stdout
    r = sing("cache", "clean", "-f", "--type", "all")
    assert r.returncode == 0, r.stderr
    assert entries("blob") == [held_blob] and entries("sif") == [held_sif], r.stderr
    assert not os.path.exists(dead) and not os.path.exists(dead_sif)
    assert os.path.exists(live)
    for f in locks + [live_f]:
        f.close()
    # The pulled images still run; the next pull fills the cache again.
    r = sing("exec", os.path.join(work, "b.sif"), "true")
    assert r.returncode == 0, r.stderr
    pull(refs[1], os.path.join(work, "b2.sif"))
    r = sing("cache", "clean", "-f", "--type", "sif")
    assert r.returncode == 0 and entries("sif") == [] and entries("blob"), r.stderr


def test_clean_keeps_a_sif_a_container_runs(refs, work):
    r = sing("exec", "--nohttps", refs[0], "true")
    assert r.returncode == 0, r.stderr
    sif = entries("sif")
    assert len(sif) == 1
    p = subprocess.Popen(["setpriv", f"--reuid={ensure_user().uid}",
                          f"--regid={ensure_user().gid}", "--init-groups", "env",
                          f"HOME={ensure_user().home}", "PATH=" + os.path.dirname(
                              shutil.which("singularity") or "") + ":/usr/bin:/bin",
                          os.path.join(os.environ.get("SING_PREFIX", "/tmp/sing-prefix"),
                                       "bin", "singularity"), "exec", "--nohttps", refs[0],
                          "sh", "-c", "echo up; read x"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "up\n"
        r = sing("cache", "clean", "-f")
        assert r.returncode == 0, r.stderr
        assert entries("sif") == sif
    finally:
        p.stdin.close()
        p.wait()
    r = sing("cache", "clean", "-f")
    assert entries("sif") == []


def test_clean_days_and_confirmation(refs, work):
    pull(refs[0], os.path.join(work, "a.sif"))
    r = sing("cache", "clean", "--days", "30", "-f")
    assert r.returncode == 0 and entries("sif"), r.stderr
    r = sing("cache", "clean", input="n\n")
    assert r.returncode == 0 and entries("sif")
    old = 10 * 365 * 86400
    for kind in ("sif", "blob"):
        d = os.path.join(user_cache_dir(), "blobs/sha256" if kind == "blob" else "sif")
        for n in entries(kind):
            st = os.stat(os.path.join(d, n))
            os.utime(os.path.join(d, n), (st.st_atime - old, st.st_mtime - old))
    r = sing("cache", "clean", "--days", "30", "-f")
    assert r.returncode == 0 and entries("sif") == [] and entries("blob") == [], r.stderr
    r = sing("cache", "clean", "--days", "x")
    assert r.returncode == 255


def allocated(path):
    """Bytes allocated under path, counting shared extents once (btrfs)."""
    r = subprocess.run(["btrfs", "filesystem", "du", "-s", "--raw", path],
                       capture_output=True, text=True, check=True)
    line = r.stdout.splitlines()[-1].split()
    return int(line[0]), int(line[1])  # total, exclusive


def test_pull_keeps_one_copy_on_a_reflink_fs(refs, user_tmp, tmp_path):
    if not shutil.which("mkfs.btrfs"):
        pytest.skip("mkfs.btrfs (btrfs-progs) is not installed")
    img = str(tmp_path / "fs.img")
    with open(img, "wb") as f:
        f.truncate(512 << 20)
    subprocess.run(["mkfs.btrfs", "-q", img], check=True)
    mnt = os.path.join(user_tmp, "mnt")
    os.mkdir(mnt)
    subprocess.run(["mount", "-o", "loop", img, mnt], check=True)
    try:
        u = ensure_user()
        os.chown(mnt, u.uid, u.gid)
        cache = os.path.join(mnt, "cache")
        env = {"SINGULARITY_CACHEDIR": cache}
        r = sing("pull", "--nohttps", os.path.join(mnt, "out.sif"), refs[0], env=env)
        assert r.returncode == 0, r.stderr
        subprocess.run(["sync"], check=True)
        sif = os.path.join(mnt, "out.sif")
        blobs = os.path.join(cache, "blobs")
        out_size = os.path.getsize(sif)
        blob_size = sum(os.path.getsize(os.path.join(blobs, "sha256", n))
                        for n in os.listdir(os.path.join(blobs, "sha256")))
        total, _ = allocated(mnt)
        r = subprocess.run(["btrfs", "filesystem", "du", "-s", "--raw", sif, cache],
                           capture_output=True, text=True, check=True)
        shared = sum(int(l.split()[2]) for l in r.stdout.splitlines()[1:])
        exclusive = sum(int(l.split()[1]) for l in r.stdout.splitlines()[1:])
        # Blobs + output + cache: the SIF's bytes once (shared extents).
        assert exclusive + shared / 2 <= 1.05 * (blob_size + out_size) + (1 << 20), r.stdout
        # --disable-cache keeps no cache at all.
        r = sing("pull", "--nohttps", "--disable-cache", os.path.join(mnt, "nc.sif"), refs[1],
                 env={"SINGULARITY_CACHEDIR": os.path.join(mnt, "cache2")})
        assert r.returncode == 0, r.stderr
        assert not os.path.exists(os.path.join(mnt, "cache2", "sif")) or \
            not os.listdir(os.path.join(mnt, "cache2", "sif"))
    finally:
        subprocess.run(["umount", "-l", mnt])


@pytest.fixture(scope="module")
def big_ref(registry):
    """An image whose SIF is mostly one incompressible 4 MB file: the SIF
    and the blobs are of one size, so a second copy shows in the totals."""
    img = imagetools.busybox_image(extra_layers=[[File("etc/big", os.urandom(4 << 20))]])
    imagetools.push_image(registry, "test/cache-big", "latest", img)
    return f"docker://{registry.hostport}/test/cache-big:latest"


def blocks(paths):
    """Bytes allocated under paths, each inode once (as du counts)."""
    seen, total = set(), 0
    for top in paths:
        for d, _, files in os.walk(top) if os.path.isdir(top) else [("", [], [top])]:
            for n in [""] + files if d else files:
                st = os.lstat(os.path.join(d, n) if d else n)
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


def cached_sifs(cache):
    d = os.path.join(cache, "sif")
    return [os.path.join(d, n) for n in os.listdir(d) if not n.startswith(".")]


@pytest.fixture
def linking_dir(user_tmp):
    """user_tmp with a cache in it, on a file system without reflinks."""
    if reflink_supported(user_tmp):
        pytest.skip(f"{user_tmp} supports reflinks: the layout there is a reflink")
    return user_tmp, os.path.join(user_tmp, "cache")


def test_pull_never_links_a_cached_sif_others_may_write(big_ref, linking_dir):
    # With umask 002 the cached SIF is group-writable: linked as the output
    # (in a project directory, say), anyone in the group could write to the
    # inode the next `run docker://` of the image finds in the private cache.
    work, cache = linking_dir
    out = os.path.join(work, "out.sif")
    r = run_as_user(["sh", "-c", f"umask 002 && singularity pull --nohttps {out} {big_ref}"],
                    env={"SINGULARITY_CACHEDIR": cache})
    assert r.returncode == 0, r.stderr
    [sif] = cached_sifs(cache)
    assert os.stat(sif).st_mode & 0o020, oct(os.stat(sif).st_mode)
    assert os.stat(out).st_ino != os.stat(sif).st_ino
    assert "is a hard link to the cached SIF" not in r.stderr, r.stderr


def linked_pull(big_ref, linking_dir):
    """Pull big_ref to WORK/out.sif, a hard link of the cached SIF:
    (work, cache, env, out)."""
    work, cache = linking_dir
    env = {"SINGULARITY_CACHEDIR": cache}
    out = os.path.join(work, "out.sif")
    r = sing("pull", "--nohttps", out, big_ref, env=env)
    assert r.returncode == 0 and "hard link to the cached SIF" in r.stderr, r.stderr
    return work, cache, env, out


def test_pull_keeps_one_copy_without_reflink(big_ref, linking_dir):
    work, cache = linking_dir
    env = {"SINGULARITY_CACHEDIR": cache}
    out = os.path.join(work, "out.sif")
    r = sing("pull", "--nohttps", out, big_ref, env=env)
    assert r.returncode == 0, r.stderr
    assert "hard link to the cached SIF" in r.stderr, r.stderr
    [sif] = cached_sifs(cache)
    assert os.stat(sif).st_ino == os.stat(out).st_ino
    blob_bytes = blocks([os.path.join(cache, "blobs")])
    sif_bytes = os.stat(out).st_blocks * 512
    used = blocks([cache, out])
    # Blobs + output + cache: the SIF's bytes once.
    assert used <= 1.05 * (blob_bytes + sif_bytes), (used, blob_bytes, sif_bytes)
    # The link re-recorded the SIF: the next run of the image uses it.
    r = sing("-v", "exec", "--nohttps", big_ref, "true", env=env)
    assert r.returncode == 0 and "Using cached SIF image" in r.stderr, r.stderr
    # A second pull of the same image: one more name of the same inode.
    out2 = os.path.join(work, "out2.sif")
    r = sing("pull", "--nohttps", out2, big_ref, env=env)
    assert r.returncode == 0 and "Using cached SIF image" in r.stderr, r.stderr
    assert os.stat(out2).st_ino == os.stat(sif).st_ino and os.stat(sif).st_nlink == 3
    r = sing("-v", "exec", "--nohttps", big_ref, "true", env=env)
    assert r.returncode == 0 and "Using cached SIF image" in r.stderr, r.stderr
    # cache list shows it, clean drops the cache's name only.
    r = sing("cache", "list", "-v", "--type", "sif", env=env)
    assert r.returncode == 0 and "hard link" in r.stdout, r.stdout
    r = sing("cache", "clean", "-f", "--type", "sif", env=env)
    assert r.returncode == 0, r.stderr
    assert cached_sifs(cache) == [] and os.stat(out).st_nlink == 2
    r = sing("exec", out, "true", env=env)
    assert r.returncode == 0, r.stderr
    # --disable-cache keeps nothing.
    cache2 = os.path.join(work, "cache2")
    r = sing("pull", "--nohttps", "--disable-cache", os.path.join(work, "nc.sif"), big_ref,
             env={"SINGULARITY_CACHEDIR": cache2})
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(cache2) or blocks([cache2]) < (64 << 10)


@pytest.mark.parametrize("how", ["remove", "rename", "second-link"])
def test_the_output_removed_or_renamed_stays_a_cache_hit(big_ref, linking_dir, how):
    """Removing or renaming the linked output (or adding a name) changes the
    cached inode's ctime only: the next run checks the content against the
    hash kept in the record and uses the SIF, instead of converting again."""
    work, cache, env, out = linked_pull(big_ref, linking_dir)
    [sif] = cached_sifs(cache)
    before = os.stat(sif)
    if how == "remove":
        os.unlink(out)
    elif how == "rename":
        os.rename(out, os.path.join(work, "renamed.sif"))
    else:
        os.link(out, os.path.join(work, "third.sif"))
    assert os.stat(sif).st_ctime_ns != before.st_ctime_ns
    for _ in range(2):
        r = sing("-v", "exec", "--nohttps", big_ref, "wc", "-c", "/etc/big", env=env)
        assert r.returncode == 0 and r.stdout.startswith(str(4 << 20)), r.stdout + r.stderr
        assert "Using cached SIF image" in r.stderr, r.stderr
        assert "content changed" not in r.stderr, r.stderr
    # The first run checked the bytes and wrote the record again; the second
    # trusted the record.
    assert os.stat(sif).st_ino == before.st_ino
    assert "checking its content" not in r.stderr, r.stderr


def test_a_second_linked_pull_keeps_the_recorded_hash(big_ref, linking_dir):
    # The second pull links again and takes the hash from the record (which
    # still matched): with both outputs removed, the content check must find
    # the bytes the hash names.
    work, cache, env, out = linked_pull(big_ref, linking_dir)
    out2 = os.path.join(work, "out2.sif")
    r = sing("pull", "--nohttps", out2, big_ref, env=env)
    assert r.returncode == 0 and "hard link to the cached SIF" in r.stderr, r.stderr
    os.unlink(out)
    os.unlink(out2)
    r = sing("-v", "exec", "--nohttps", big_ref, "true", env=env)
    assert r.returncode == 0, r.stderr
    assert "checking its content" in r.stderr and "content changed" not in r.stderr, r.stderr
    assert "Using cached SIF image" in r.stderr, r.stderr


def test_the_output_made_group_writable_is_converted_again(big_ref, linking_dir):
    # A chmod changes only the ctime too, but a SIF others may write is
    # never run from the cache, whatever its content.
    work, cache, env, out = linked_pull(big_ref, linking_dir)
    os.chmod(out, 0o664)
    r = sing("-v", "exec", "--nohttps", big_ref, "true", env=env)
    assert r.returncode == 0, r.stderr
    assert "others may write to it now; converting again" in r.stderr, r.stderr
    assert all(os.stat(s).st_ino != os.stat(out).st_ino for s in cached_sifs(cache))


def sha256(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.parametrize("change", ["append", "same-size-same-mtime"])
def test_a_changed_output_is_never_a_cache_hit(big_ref, linking_dir, change):
    """The output shares the cached SIF's inode: a change to it (even one
    that keeps size and mtime) must make the next run convert again, never
    run the changed bytes from the cache."""
    work, cache = linking_dir
    env = {"SINGULARITY_CACHEDIR": cache}
    out = os.path.join(work, "out.sif")
    r = sing("pull", "--nohttps", out, big_ref, env=env)
    assert r.returncode == 0, r.stderr
    st = os.stat(out)
    with open(out, "r+b") as f:
        if change == "append":
            f.seek(0, 2)
            f.write(b"\0")
        else:
            f.seek(st.st_size - 4096)
            old = f.read(1)
            f.seek(st.st_size - 4096)
            f.write(bytes([old[0] ^ 0xff]))
    if change != "append":
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert os.stat(out).st_mtime_ns == st.st_mtime_ns
    changed = sha256(out)
    r = sing("-v", "exec", "--nohttps", big_ref, "wc", "-c", "/etc/big", env=env)
    assert r.returncode == 0 and r.stdout.startswith(str(4 << 20)), r.stdout + r.stderr
    # What ran (the cache's SIF) is not the changed file; the user's output
    # is left as they made it.
    [sif] = cached_sifs(cache)
    assert sha256(sif) != changed and sha256(out) == changed
