"""Reading SIF files from tests: the descriptor table (independently of our
C reader), and the squashfs partition's tree as root sees it."""

import hashlib
import os
import stat
import struct
import subprocess
import tempfile

DESC_SIZE = 585
DATA_PARTITION = 0x4004


def descriptors(path):
    with open(path, "rb") as f:
        head = f.read(128)
        assert head[32:41] == b"SIF_MAGIC", head[32:42]
        total, descoff = struct.unpack_from("<qq", head, 88)
        f.seek(descoff)
        table = f.read(total * DESC_SIZE)
    out = []
    for i in range(total):
        d = table[i * DESC_SIZE:(i + 1) * DESC_SIZE]
        dtype, used = struct.unpack_from("<iB", d, 0)
        if not used:
            continue
        ident, group, link, off, size = struct.unpack_from("<IIIqq", d, 5)
        name = d[73:201].split(b"\0", 1)[0].decode()
        extra = struct.unpack_from("<ii", d, 201) if dtype == DATA_PARTITION else None
        out.append(dict(type=dtype, id=ident, group=group, offset=off, size=size,
                        name=name, fs=extra))
    return out


def partition(path):
    parts = [d for d in descriptors(path) if d["type"] == DATA_PARTITION and d["fs"][1] == 2]
    assert len(parts) == 1, parts
    return parts[0]


def object_bytes(path, dtype):
    for d in descriptors(path):
        if d["type"] == dtype:
            with open(path, "rb") as f:
                f.seek(d["offset"])
                return f.read(d["size"])
    return None


def extract(path, dest):
    """Unpack the SIF's squashfs into dest (as root: owners are kept)."""
    off = partition(path)["offset"]
    subprocess.run(["unsquashfs", "-no-progress", "-f", "-d", dest, "-o", str(off), path],
                   check=True, stdout=subprocess.DEVNULL)
    return dest


def cat(path, inner):
    with tempfile.TemporaryDirectory() as d:
        extract(path, d + "/r")
        with open(os.path.join(d, "r", inner.lstrip("/")), "rb") as f:
            return f.read()


def tree(root, skip=()):
    """{relative path: (type, mode, uid, gid, size, sha256 or link target, inode group)}"""
    out = {}
    inodes = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if any(rel == s or rel.startswith(s + "/") for s in skip):
                continue
            st = os.lstat(full)
            kind = stat.S_IFMT(st.st_mode)
            if stat.S_ISREG(kind):
                with open(full, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
                size = st.st_size
            elif stat.S_ISLNK(kind):
                extra = os.readlink(full)
                size = 0
            else:
                extra = None
                size = 0
            group = None
            if stat.S_ISREG(kind) and st.st_nlink > 1:
                group = inodes.setdefault(st.st_ino, rel)
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, size, extra)
            if group is not None:
                out[rel + "#link"] = group
    return out
