"""Layers as other tools write them (issue 14): Go's archive/tar corpus
(from Debian's golang-1.19-src), GNU `tar -S` sparse archives, hardlinks to
lower layers, zero-filled files, bombs, malformed pax headers. Each image is
pulled by the normal test user; every entry of the SIF is compared with GNU
tar's extraction of the same layer as root (or `umoci unpack` for several
layers)."""

import glob
import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

import imagetools
import siftools
from conftest import run_as_user
from imagetools import File, Hardlink, Layer, Image, Symlink, Dir

GO_CORPUS = "/usr/share/go-1.19/src/archive/tar/testdata"
NOHTTPS = {"SINGULARITY_NOHTTPS": "1"}

# What the runtime adds to every image, and what it never copies.
RUNTIME_PATHS = {"proc", "sys", "dev", "tmp", "var", "var/tmp", "home", "root", "mnt", "etc",
                 "etc/hosts", "etc/resolv.conf", "etc/passwd", "etc/group", "etc/localtime",
                 "singularity", "environment", ".singularity.d"}

# Refused by Go's archive/tar (reader_test.go: ErrHeader / ErrFieldTooLong),
# hence by umoci; libarchive alone lets the pax ones through. The truncated
# ones (writer-big*: a 16 GiB header without its data) fail everywhere.
GO_REFUSED = {
    "pax-bad-hdr-file.tar": "malformed pax extended header",
    "pax-bad-mtime-file.tar": "malformed pax extended header",
    "pax-nul-xattrs.tar": "malformed pax extended header",
    "pax-nul-path.tar": "malformed pax extended header",
    "pax-bad-hdr-large.tar.bz2": "over 1 MiB",
    "neg-size.tar": "layer",
    "issue10968.tar": "layer",
    "issue11169.tar": "layer",
    "issue12435.tar": "layer",
    "writer-big.tar": "truncated",
    "writer-big-long.tar": "truncated",
}


# Go reads these, GNU tar exits 2 and umoci refuses them ("unknown typeflag"
# 'g' / 'S'): accepted. pax-global-records: GNU tar fails only on the global
# headers' own pseudo entries; what it extracts is compared (but mtimes:
# GNU tar applies global records, Go and libarchive do not). sparse-formats:
# GNU tar writes a wrong 58-byte sparse-gnu then stops; compared with the
# md5 sums of Go's reader_test.go.
GNU_PARTIAL = {"pax-global-records.tar"}
GO_MD5 = {"sparse-formats.tar": {"sparse-gnu": "6f53234398c2449fe67c1812d993012f",
                                 "sparse-posix-0.0": "6f53234398c2449fe67c1812d993012f",
                                 "sparse-posix-0.1": "6f53234398c2449fe67c1812d993012f",
                                 "sparse-posix-1.0": "6f53234398c2449fe67c1812d993012f",
                                 "end": "b0061974914468de549a2af8ced10316"}}


def corpus_files():
    if not os.path.isdir(GO_CORPUS):
        return []
    return sorted(os.path.basename(p) for p in glob.glob(GO_CORPUS + "/*.tar*"))


def pull(singularity, uri, out, cwd, env=None):
    e = dict(NOHTTPS)
    e["SINGULARITY_CACHEDIR"] = os.path.join(cwd, "cache")
    e.update(env or {})
    return run_as_user([singularity, "pull", "--name", out, uri], cwd=cwd, env=e)


def one_error(r, needle):
    assert r.returncode == 255, (r.returncode, r.stderr)
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR:")]
    assert len(errors) == 1, r.stderr
    assert needle.lower() in errors[0].lower(), r.stderr
    assert "(null)" not in r.stderr
    return errors[0]


def assert_nothing_left(workdir):
    left = sorted(set(os.listdir(workdir)) - {"cache"})
    assert left == [], left
    temps = [p for p in glob.glob(os.path.join(workdir, "cache", "**", "*"), recursive=True)
             if ".tmp" in os.path.basename(p)]
    assert temps == [], temps


def push(registry, repo, layers):
    img = Image(layers, env=["PATH=/bin"], cmd=["/bin/sh"])
    imagetools.push_image(registry, repo, "v1", img)
    return f"docker://{registry.hostport}/{repo}:v1", img


def content_hash(path, size):
    """sha256 over the non-zero 4 KiB blocks and their offsets: equal for
    equal content however the holes are laid out (a 60 GB sparse file is
    read by its data regions only)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        fd = f.fileno()
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            off = start - start % 4096
            f.seek(off)
            while off < end:
                block = f.read(min(4096, end - off))
                if not block:
                    break
                if block.strip(b"\0"):
                    h.update(b"%d:" % off + block.rstrip(b"\0"))
                off += len(block)
            pos = end
    return h.hexdigest()


def tree(root, skip=()):
    """{path: (type, mode, uid, gid, size, content hash or link target,
    mtime, xattrs)} plus path + "#link" -> first name of its hardlink group."""
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if rel in skip or any(rel.startswith(s + "/") for s in skip):
                continue
            st = os.lstat(full)
            kind = stat.S_IFMT(st.st_mode)
            size, extra = 0, None
            if stat.S_ISREG(kind):
                size, extra = st.st_size, content_hash(full, st.st_size)
            elif stat.S_ISLNK(kind):
                extra = os.readlink(full)
            elif not stat.S_ISDIR(kind):
                continue  # devices, fifos: not part of images (layers.h)
            xattrs = {}
            if not stat.S_ISLNK(kind):
                for k in os.listxattr(full, follow_symlinks=False):
                    xattrs[k] = os.getxattr(full, k, follow_symlinks=False)
            mtime = None if stat.S_ISDIR(kind) else st.st_mtime_ns // 10**9
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, size, extra,
                        mtime, tuple(sorted(xattrs.items())))
            if stat.S_ISREG(kind) and st.st_nlink > 1:
                out[rel + "#link"] = inodes.setdefault((st.st_dev, st.st_ino), rel)
    return out


def sif_tree(sif, dest):
    siftools.extract(sif, dest)
    st = os.stat(dest)
    root = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return tree(dest, skip=RUNTIME_PATHS), root


def gnu_extract(tar_bytes, dest):
    os.makedirs(dest)
    r = subprocess.run(["tar", "-x", "-p", "--numeric-owner", "--xattrs",
                        "--xattrs-include=*", "-C", dest, "-f", "-"], input=tar_bytes,
                       capture_output=True)
    return r


def assert_same_tree(ours, ref):
    def strip_links(t):
        return {k: v for k, v in t.items() if not k.endswith("#link")}
    a, b = strip_links(ours), strip_links(ref)
    assert sorted(set(b) - set(a)) == [], "missing from the SIF"
    assert sorted(set(a) - set(b)) == [], "not in the reference"
    for path in sorted(b):
        assert a[path] == b[path], (path, a[path], b[path])
    # same hardlink groups (the name a group is known by may differ)
    def groups(t):
        g = {}
        for k, v in t.items():
            if k.endswith("#link"):
                g.setdefault(v, set()).add(k[:-5])
        return sorted(sorted(s) for s in g.values())
    assert groups(ours) == groups(ref)


def layer_from_tar(data, name):
    if name.endswith(".bz2"):  # already compressed: libarchive sees bzip2
        return Layer(tar_bytes=data, compression="none")
    return Layer(tar_bytes=data, compression="gzip")


# --------------------------------------------------------------------------
# Go's archive/tar corpus


@pytest.mark.slow
@pytest.mark.parametrize("name", corpus_files() or ["(golang-1.19-src missing)"])
def test_go_corpus(singularity, registry, unique_repo, user_tmp, tmp_path, name):
    if not os.path.isdir(GO_CORPUS):
        pytest.skip("golang-1.19-src is not installed (tools/deps.sh --test)")
    with open(os.path.join(GO_CORPUS, name), "rb") as f:
        data = f.read()
    uri, img = push(registry, unique_repo, [layer_from_tar(data, name)])
    r = pull(singularity, uri, "c.sif", user_tmp)
    if name in GO_REFUSED:
        err = one_error(r, GO_REFUSED[name])
        assert "decompression bomb" not in err
        assert_nothing_left(user_tmp)
        return
    assert r.returncode == 0, r.stderr
    ours, root = sif_tree(os.path.join(user_tmp, "c.sif"), str(tmp_path / "sif"))
    assert root == (0o755, 0, 0)
    g = gnu_extract(data, str(tmp_path / "gnu"))
    ref = tree(str(tmp_path / "gnu"))
    if name in GO_MD5:
        root_dir = str(tmp_path / "sif")
        got = {p: hashlib.md5(open(os.path.join(root_dir, p), "rb").read()).hexdigest()
               for p in ours}
        assert got == GO_MD5[name]
        return
    if name in GNU_PARTIAL:
        assert g.returncode != 0 and ref, g.stderr
        ref = {k: v for k, v in ref.items() if k != "global1"}  # a 'g' header to Go
        assert sorted(set(ref) - set(ours)) == []
        for path in ref:
            # GNU tar applies the global mtime (POSIX); Go and libarchive do
            # not (reader_test.go: file1..file3 have mtime 0): Go's reading.
            assert ours[path][:6] == ref[path][:6], (path, ours[path], ref[path])
        assert ours["file1"][6] == 0 and ours["file4"][6] == 1400000000
        return
    assert g.returncode == 0, g.stderr
    assert_same_tree(ours, ref)


def test_go_corpus_decisions():
    """The refusals listed above are Go's (reader_test.go), so umoci's."""
    src = os.path.join(os.path.dirname(GO_CORPUS), "reader_test.go")
    if not os.path.exists(src):
        pytest.skip("golang-1.19-src is not installed (tools/deps.sh --test)")
    text = open(src).read()
    for name in ("pax-bad-hdr-file.tar", "pax-bad-mtime-file.tar", "pax-nul-xattrs.tar",
                 "pax-nul-path.tar", "neg-size.tar", "issue10968.tar", "issue11169.tar",
                 "issue12435.tar", "pax-bad-hdr-large.tar.bz2"):
        i = text.index('"testdata/%s"' % name)
        assert "err:" in text[i:i + 120], name


# --------------------------------------------------------------------------
# GNU tar -S sparse archives


def gnu_sparse_tar(tmp_path, fmt, files):
    src = tmp_path / ("src-" + fmt)
    src.mkdir()
    for name, size, writes in files:
        p = src / name
        with open(p, "wb") as f:
            f.truncate(size)
            for off, b in writes:
                f.seek(off)
                f.write(b)
        os.utime(p, (imagetools.MTIME, imagetools.MTIME))
    out = subprocess.run(["tar", "-S", "--format=" + fmt, "--numeric-owner", "-C", str(src),
                          "-cf", "-"] + [n for n, _, _ in files], capture_output=True,
                         check=True).stdout
    return out


@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_gnu_sparse_files(singularity, registry, unique_repo, user_tmp, tmp_path, fmt):
    files = [("all-hole", 1 << 20, []),
             ("ends-in-hole", 5 << 20, [(4096, b"data")]),
             ("starts-with-hole", 3 << 20, [((3 << 20) - 5, b"tail!")]),
             ("middle", 10 << 20, [(0, b"a" * 10000), (6 << 20, b"b" * 70000)]),
             ("empty", 0, [])]
    data = gnu_sparse_tar(tmp_path, fmt, files)
    uri, _ = push(registry, unique_repo, [Layer(tar_bytes=data, compression="zstd")])
    r = pull(singularity, uri, "s.sif", user_tmp)
    assert r.returncode == 0, r.stderr
    ours, _ = sif_tree(os.path.join(user_tmp, "s.sif"), str(tmp_path / "sif"))
    assert gnu_extract(data, str(tmp_path / "gnu")).returncode == 0
    assert_same_tree(ours, tree(str(tmp_path / "gnu")))
    assert ours["all-hole"][4] == 1 << 20


def test_sparse_sandbox(singularity, registry, unique_repo, user_tmp, tmp_path):
    data = gnu_sparse_tar(tmp_path, "posix", [("f", 1 << 20, []), ("g", 64 << 20,
                                                                     [(1 << 20, b"x")])])
    uri, _ = push(registry, unique_repo, [Layer(tar_bytes=data, compression="gzip")])
    e = dict(NOHTTPS, SINGULARITY_CACHEDIR=os.path.join(user_tmp, "cache"))
    r = run_as_user([singularity, "build", "--sandbox", "sb", uri], cwd=user_tmp, env=e)
    assert r.returncode == 0, r.stderr
    g = os.path.join(user_tmp, "sb", "g")
    assert os.path.getsize(os.path.join(user_tmp, "sb", "f")) == 1 << 20
    assert os.path.getsize(g) == 64 << 20
    assert os.stat(g).st_blocks * 512 < 1 << 20  # holes stay holes
    with open(g, "rb") as f:
        f.seek(1 << 20)
        assert f.read(1) == b"x"


# --------------------------------------------------------------------------
# Zeros are not a bomb; non-zero data past the limit is


def zero_file_tar(name, size, fill=b"\0"):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = size, imagetools.MTIME, 0o664
    head = ti.tobuf(tarfile.PAX_FORMAT)
    body = fill * size if fill != b"\0" else bytes(size)
    return head + body + bytes((512 - size % 512) % 512) + bytes(1024)


@pytest.mark.slow
def test_lastlog_of_zeros_is_not_a_bomb(singularity, registry, unique_repo, user_tmp, tmp_path):
    """useradd -u 1500000 writes a 418 MiB /var/log/lastlog of zeros; its
    gzip layer is ~416 KiB (1000:1)."""
    layer = Layer(tar_bytes=zero_file_tar("var/log/lastlog", 418 << 20), compression="gzip")
    assert layer.size < 1 << 20
    uri, _ = push(registry, unique_repo, [layer])
    r = pull(singularity, uri, "z.sif", user_tmp)
    assert r.returncode == 0, r.stderr
    lst = subprocess.run(["unsquashfs", "-lln", "-o",
                          str(siftools.partition(os.path.join(user_tmp, "z.sif"))["offset"]),
                          os.path.join(user_tmp, "z.sif"), "var/log/lastlog"],
                         capture_output=True, text=True, check=True).stdout
    assert str(418 << 20) in lst
    assert os.path.getsize(os.path.join(user_tmp, "z.sif")) < 4 << 20


@pytest.fixture(scope="module")
def bomb_tar():
    # 300 MiB of "A": ~300 KiB gzip; limit 200 x 300 KiB + 64 MiB ~ 124 MiB.
    return zero_file_tar("bomb", 300 << 20, b"A")


@pytest.mark.slow
def test_true_bomb_refused_and_limit_configurable(singularity, registry, unique_repo, user_tmp,
                                                  prefix, bomb_tar):
    layer = Layer(tar_bytes=bomb_tar, compression="gzip")
    uri, _ = push(registry, unique_repo, [layer])
    err = one_error(pull(singularity, uri, "b.sif", user_tmp), "decompression bomb")
    assert "200x" in err and "max layer expansion" in err
    assert_nothing_left(user_tmp)
    conf = os.path.join(prefix, "etc", "singularity", "singularity.conf")
    with open(conf) as f:
        saved = f.read()
    assert "\nmax layer expansion = 200\n" in saved
    try:
        with open(conf, "w") as f:
            f.write(saved.replace("\nmax layer expansion = 200\n",
                                  "\nmax layer expansion = 5000\n"))
        r = pull(singularity, uri, "b.sif", user_tmp)
        assert r.returncode == 0, r.stderr
    finally:
        with open(conf, "w") as f:
            f.write(saved)


def test_truncated_layer_is_not_called_a_bomb(singularity, registry, unique_repo, user_tmp):
    ti = tarfile.TarInfo("huge")
    ti.size = 60 << 30
    tar = ti.tobuf(tarfile.PAX_FORMAT) + bytes(1 << 20)
    uri, _ = push(registry, unique_repo, [Layer(tar_bytes=tar, compression="gzip")])
    err = one_error(pull(singularity, uri, "t.sif", user_tmp), "truncated")
    assert "bomb" not in err
    assert_nothing_left(user_tmp)


# --------------------------------------------------------------------------
# Several layers, compared with umoci


def umoci_tree(img, tmp_path):
    layout = tmp_path / "layout"
    imagetools.write_oci_layout(img, str(layout), tag="v1")
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:v1", str(tmp_path / "bundle")],
                   check=True, capture_output=True)
    return tree(str(tmp_path / "bundle" / "rootfs"), skip=RUNTIME_PATHS)


def pull_and_compare_with_umoci(singularity, registry, unique_repo, user_tmp, tmp_path, layers):
    uri, img = push(registry, unique_repo, layers)
    r = pull(singularity, uri, "m.sif", user_tmp)
    assert r.returncode == 0, r.stderr
    ours, root = sif_tree(os.path.join(user_tmp, "m.sif"), str(tmp_path / "sif"))
    assert root == (0o755, 0, 0)
    ref = umoci_tree(img, tmp_path)
    for t in (ours, ref):  # umoci keeps mtimes of directories it made differently
        for k, v in list(t.items()):
            if not k.endswith("#link") and stat.S_ISDIR(v[0]):
                t[k] = v[:6] + (None,) + v[7:]
    assert_same_tree(ours, ref)
    return ours, r


def test_hardlink_to_lower_layer(singularity, registry, unique_repo, user_tmp, tmp_path):
    layers = [
        Layer([Dir("usr"), Dir("usr/bin"), File("usr/bin/python3", b"python\n", mode=0o755),
               File("usr/bin/old", b"old\n"), File("usr/bin/gone", b"gone\n")]),
        # RUN ln /usr/bin/python3 /usr/local/bin/py (and a link to that link)
        Layer([Dir("usr/local"), Dir("usr/local/bin"),
               Hardlink("usr/local/bin/py", "usr/bin/python3"),
               Hardlink("usr/local/bin/py2", "usr/local/bin/py"),
               Hardlink("usr/local/bin/old", "usr/bin/old")]),
        # the upper layer replaces one target: the links keep the old file
        Layer([File("usr/bin/old", b"new\n")]),
    ]
    ours, r = pull_and_compare_with_umoci(singularity, registry, unique_repo, user_tmp,
                                          tmp_path, layers)
    assert ours["usr/local/bin/py"][5] == ours["usr/bin/python3"][5]
    assert "usr/local/bin/py#link" in ours
    assert not [l for l in r.stderr.splitlines() if "WARNING" in l and "hardlink" in l and
                "tag is not reproducible" not in l], r.stderr


def test_root_dir_owned_by_root(singularity, registry, unique_repo, user_tmp, tmp_path):
    uri, _ = push(registry, unique_repo, [Layer([File("x", b"x", uid=5, gid=6)])])
    r = pull(singularity, uri, "r.sif", user_tmp)
    assert r.returncode == 0, r.stderr
    ours, root = sif_tree(os.path.join(user_tmp, "r.sif"), str(tmp_path / "sif"))
    assert root == (0o755, 0, 0)
    assert ours["x"][2:4] == (5, 6)


def test_upper_files_under_a_lower_dir_symlink_warn(singularity, registry, unique_repo,
                                                    user_tmp):
    """Known limit of the top-down merge: an upper layer writing bin/hello
    over a lower bin -> usr/bin cannot be written through the link (the
    upper entries are out before the link is read). The pull says so,
    naming the link, instead of silently losing /bin's contents."""
    layers = [
        Layer([Dir("usr"), Dir("usr/bin"), File("usr/bin/sh", b"sh\n", mode=0o755),
               Symlink("bin", "usr/bin")]),
        # No "bin" entry of its own: a layer with one would replace the link.
        Layer([File("bin/hello", b"hello\n", mode=0o755)]),
    ]
    uri, _ = push(registry, unique_repo, layers)
    r = pull(singularity, uri, "s.sif", user_tmp)
    assert r.returncode == 0, r.stderr
    warnings = [l for l in r.stderr.splitlines() if l.startswith("WARNING") and "bin" in l
                and "usr/bin" in l]
    assert len(warnings) == 1, r.stderr
