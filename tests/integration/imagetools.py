"""Build OCI / Docker images in Python and push them to a registry.

Layer entries (all paths are inside the image, a leading "/" is optional):
    File(path, content=b"", mode=0o644, uid=0, gid=0, mtime=MTIME)
    HostFile(path, src, mode=None, ...)      content (and mode) from a host file
    Dir(path, mode=0o755, ...)
    Symlink(path, target, ...)
    Hardlink(path, target, ...)               target: another path in the layer
    Fifo(path, mode=0o644, ...)
    Whiteout(path)                            writes DIR/.wh.NAME
    Opaque(dir)                               writes DIR/.wh..wh..opq

    layer = Layer([File("etc/x", "hi"), ...], compression="gzip"|"zstd"|"none",
                  tar_format="pax"|"gnu"|"ustar")
    img = Image([layer, ...], fmt="oci"|"docker", env=[...], entrypoint=[...],
                cmd=[...], labels={...}, workdir="/", user="", arch="amd64",
                os_name="linux", variant=None, extra_config=None)
    idx = Index([img_amd64, img_arm64_v8], fmt="oci"|"docker")
    res = push_image(registry_or_client, "repo/name", "tag", img)   # PushResult
    res = push_index(registry_or_client, "repo/name", "tag", idx)   # PushResult
    write_oci_layout(img_or_idx, "/path/dir", tag="latest")  # for umoci/skopeo
    write_docker_archive([(img, ["name:tag", ...]), ...], "/path/x.tar",
                         gzip_outer=False, layout="legacy"|"oci", edit=None)
                         # a `docker save` tarball (legacy: <id>/layer.tar,
                         # <config hex>.json; oci: Docker 25+ blobs/sha256/)

Ready-made images: busybox_image(...), debian_image() (cached in
/tmp/sing-test-cache). All output is deterministic: same input, same digests.
"""

import collections
import fcntl
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

import registry as _registry

MTIME = 1700000000  # fixed timestamp so digests are reproducible

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

LAYER_TYPES = {
    ("oci", "gzip"): "application/vnd.oci.image.layer.v1.tar+gzip",
    ("oci", "zstd"): "application/vnd.oci.image.layer.v1.tar+zstd",
    ("oci", "none"): "application/vnd.oci.image.layer.v1.tar",
    ("docker", "gzip"): "application/vnd.docker.image.rootfs.diff.tar.gzip",
    # Docker has no own zstd type; docker/buildkit use the OCI one.
    ("docker", "zstd"): "application/vnd.oci.image.layer.v1.tar+zstd",
    ("docker", "none"): "application/vnd.docker.image.rootfs.diff.tar",
}

CACHE_DIR = "/tmp/sing-test-cache"


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


# --------------------------------------------------------------------------
# Layer entries


class _Entry:
    def __init__(self, path, mode, uid=0, gid=0, mtime=MTIME):
        self.path = path.lstrip("/")
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime = mtime

    def tarinfo(self):
        ti = tarfile.TarInfo(self.path)
        ti.mode = self.mode
        ti.uid, ti.gid, ti.mtime = self.uid, self.gid, self.mtime
        ti.uname = ti.gname = ""
        return ti

    def add_to(self, tar):
        tar.addfile(self.tarinfo())


class File(_Entry):
    def __init__(self, path, content=b"", mode=0o644, **kw):
        super().__init__(path, mode, **kw)
        self.content = content.encode() if isinstance(content, str) else content

    def add_to(self, tar):
        ti = self.tarinfo()
        ti.size = len(self.content)
        tar.addfile(ti, io.BytesIO(self.content))


class HostFile(File):
    def __init__(self, path, src, mode=None, **kw):
        with open(src, "rb") as f:
            content = f.read()
        if mode is None:
            mode = os.stat(src).st_mode & 0o7777
        super().__init__(path, content, mode, **kw)


class Dir(_Entry):
    def __init__(self, path, mode=0o755, **kw):
        super().__init__(path, mode, **kw)

    def tarinfo(self):
        ti = super().tarinfo()
        ti.type = tarfile.DIRTYPE
        return ti


class Symlink(_Entry):
    def __init__(self, path, target, **kw):
        super().__init__(path, 0o777, **kw)
        self.target = target

    def tarinfo(self):
        ti = super().tarinfo()
        ti.type = tarfile.SYMTYPE
        ti.linkname = self.target
        return ti


class Hardlink(_Entry):
    def __init__(self, path, target, mode=0o644, **kw):
        super().__init__(path, mode, **kw)
        self.target = target.lstrip("/")

    def tarinfo(self):
        ti = super().tarinfo()
        ti.type = tarfile.LNKTYPE
        ti.linkname = self.target
        return ti


class Fifo(_Entry):
    def __init__(self, path, mode=0o644, **kw):
        super().__init__(path, mode, **kw)

    def tarinfo(self):
        ti = super().tarinfo()
        ti.type = tarfile.FIFOTYPE
        return ti


def Whiteout(path, **kw):
    """Delete PATH of a lower layer: an empty DIR/.wh.NAME file."""
    d, name = os.path.split(path.strip("/"))
    return File(os.path.join(d, ".wh." + name), b"", 0o644, **kw)


def Opaque(directory, **kw):
    """Hide everything lower layers put in DIRECTORY."""
    return File(os.path.join(directory.strip("/"), ".wh..wh..opq"), b"", 0o644, **kw)


# --------------------------------------------------------------------------
# Layers and blobs


def compress(data, compression):
    if compression == "gzip":
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            gz.write(data)
        return buf.getvalue()
    if compression == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, check=True,
                              capture_output=True).stdout
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")


class Layer:
    """One layer. Attributes: tar (uncompressed bytes, None when file-backed),
    diff_id, data (blob bytes) or path (blob file), digest, size, compression.
    """

    def __init__(self, entries=None, compression="gzip", tar_format="pax",
                 tar_bytes=None):
        self.compression = compression
        if tar_bytes is None:
            fmt = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT,
                   "ustar": tarfile.USTAR_FORMAT}[tar_format]
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8") as tar:
                for e in entries or []:
                    e.add_to(tar)
            tar_bytes = buf.getvalue()
        self.tar = tar_bytes
        self.diff_id = sha256_digest(tar_bytes)
        self.data = compress(tar_bytes, compression)
        self.path = None
        self.digest = sha256_digest(self.data)
        self.size = len(self.data)

    @classmethod
    def from_blob_file(cls, path, digest, size, diff_id, compression):
        self = cls.__new__(cls)
        self.compression = compression
        self.tar = None
        self.data = None
        self.path = path
        self.digest, self.size, self.diff_id = digest, size, diff_id
        return self

    def media_type(self, fmt):
        return LAYER_TYPES[(fmt, self.compression)]

    def blob(self):
        """Blob bytes (reads the file for file-backed layers)."""
        if self.data is not None:
            return self.data
        with open(self.path, "rb") as f:
            return f.read()

    def uncompressed(self):
        if self.tar is not None:
            return self.tar
        if self.compression == "gzip":
            with gzip.open(self.path, "rb") as f:
                return f.read()
        if self.compression == "zstd":
            return subprocess.run(["zstd", "-q", "-d", "-c", self.path], check=True,
                                  capture_output=True).stdout
        return self.blob()


class Image:
    """Config + manifest over a list of layers.

    Attributes: layers, fmt, config (dict), config_bytes, config_digest,
    manifest (dict), manifest_bytes, manifest_digest, media_type, platform,
    layer_digests, diff_ids.
    """

    def __init__(self, layers, fmt="oci", env=None, entrypoint=None, cmd=None,
                 labels=None, workdir=None, user=None, arch="amd64", os_name="linux",
                 variant=None, extra_config=None, annotations=None):
        if fmt not in ("oci", "docker"):
            raise ValueError(f"unknown manifest format {fmt!r}")
        self.layers = list(layers)
        self.fmt = fmt
        cfg = {}
        if env is not None:
            cfg["Env"] = list(env)
        if entrypoint is not None:
            cfg["Entrypoint"] = list(entrypoint)
        if cmd is not None:
            cfg["Cmd"] = list(cmd)
        if labels is not None:
            cfg["Labels"] = dict(labels)
        if workdir is not None:
            cfg["WorkingDir"] = workdir
        if user is not None:
            cfg["User"] = user
        config = {
            "architecture": arch,
            "os": os_name,
            "created": "2024-01-01T00:00:00Z",
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in self.layers]},
            "history": [{"created": "2024-01-01T00:00:00Z",
                         "created_by": f"imagetools layer {i}"}
                        for i in range(len(self.layers))],
        }
        if variant:
            config["variant"] = variant
        if extra_config:
            config.update(extra_config)
        self.config = config
        self.config_bytes = canonical_json(config)
        self.config_digest = sha256_digest(self.config_bytes)
        self.platform = {"architecture": arch, "os": os_name}
        if variant:
            self.platform["variant"] = variant
        self.media_type = OCI_MANIFEST if fmt == "oci" else DOCKER_MANIFEST
        manifest = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": {"mediaType": OCI_CONFIG if fmt == "oci" else DOCKER_CONFIG,
                       "digest": self.config_digest, "size": len(self.config_bytes)},
            "layers": [{"mediaType": l.media_type(fmt), "digest": l.digest, "size": l.size}
                       for l in self.layers],
        }
        if annotations:
            manifest["annotations"] = dict(annotations)
        self.manifest = manifest
        self.manifest_bytes = canonical_json(manifest)
        self.manifest_digest = sha256_digest(self.manifest_bytes)

    @property
    def layer_digests(self):
        return [l.digest for l in self.layers]

    @property
    def diff_ids(self):
        return [l.diff_id for l in self.layers]

    def descriptor(self):
        return {"mediaType": self.media_type, "digest": self.manifest_digest,
                "size": len(self.manifest_bytes), "platform": dict(self.platform)}


class Index:
    """OCI image index or Docker manifest list over several Images."""

    def __init__(self, images, fmt="oci"):
        self.images = list(images)
        self.fmt = fmt
        self.media_type = OCI_INDEX if fmt == "oci" else DOCKER_LIST
        self.manifest = {"schemaVersion": 2, "mediaType": self.media_type,
                         "manifests": [img.descriptor() for img in self.images]}
        self.manifest_bytes = canonical_json(self.manifest)
        self.manifest_digest = sha256_digest(self.manifest_bytes)

    def image_for(self, arch, variant=None):
        for img in self.images:
            p = img.platform
            if p["architecture"] == arch and (variant is None or p.get("variant") == variant):
                return img
        raise KeyError(f"no image for {arch}/{variant}")


# --------------------------------------------------------------------------
# Push / write


PushResult = collections.namedtuple(
    "PushResult", "manifest_digest layer_digests config_digest config media_type ref")


def _client(target, username=None, password=None):
    if isinstance(target, _registry.RegistryClient):
        return target
    return target.client(username, password)


def _push_blobs(client, repo, img):
    for layer in img.layers:
        client.upload_blob(repo, layer.digest, layer.path or layer.data)
    client.upload_blob(repo, img.config_digest, img.config_bytes)


def push_image(target, repo, tag, img, username=None, password=None):
    """Push blobs, config and manifest (by tag; tag=None pushes by digest).

    target: a registry.Registry (its own credentials are used) or a
    registry.RegistryClient."""
    client = _client(target, username, password)
    _push_blobs(client, repo, img)
    ref = tag or img.manifest_digest
    digest = client.put_manifest(repo, ref, img.manifest_bytes, img.media_type)
    assert digest == img.manifest_digest, (digest, img.manifest_digest)
    return PushResult(digest, img.layer_digests, img.config_digest, img.config,
                      img.media_type, ref)


def push_index(target, repo, tag, idx, username=None, password=None):
    """Push every image of the index by digest, then the index by tag."""
    client = _client(target, username, password)
    for img in idx.images:
        _push_blobs(client, repo, img)
        client.put_manifest(repo, img.manifest_digest, img.manifest_bytes, img.media_type)
    digest = client.put_manifest(repo, tag, idx.manifest_bytes, idx.media_type)
    assert digest == idx.manifest_digest, (digest, idx.manifest_digest)
    layers = [d for img in idx.images for d in img.layer_digests]
    return PushResult(digest, layers, None, None, idx.media_type, tag)


def write_oci_layout(obj, directory, tag="latest"):
    """Write an Image or Index as an OCI image layout (umoci/skopeo 'oci:DIR:tag')."""
    blobs = os.path.join(directory, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(digest, data=None, path=None):
        dest = os.path.join(blobs, digest.split(":", 1)[1])
        if os.path.exists(dest):
            return
        if path:
            shutil.copyfile(path, dest)
        else:
            with open(dest, "wb") as f:
                f.write(data)

    images = obj.images if isinstance(obj, Index) else [obj]
    for img in images:
        for l in img.layers:
            put(l.digest, l.data, l.path)
        put(img.config_digest, img.config_bytes)
        put(img.manifest_digest, img.manifest_bytes)
    if isinstance(obj, Index):
        put(obj.manifest_digest, obj.manifest_bytes)
    with open(os.path.join(directory, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": obj.media_type, "digest": obj.manifest_digest,
        "size": len(obj.manifest_bytes),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(directory, "index.json"), "w") as f:
        json.dump(index, f)
    return directory


def write_docker_archive(images, path, gzip_outer=False, layout="legacy", edit=None):
    """Write a `docker save` tarball of [(Image, [repo tags])].

    Layers are stored uncompressed (as Docker does), named by the diff_id.
    edit(members, manifest) may change the member dict {name: bytes} and the
    manifest.json list before they are written (to make broken archives)."""
    members = {}
    manifest = []
    repositories = {}
    for img, tags in images:
        if layout == "legacy":
            cfg_name = img.config_digest.split(":", 1)[1] + ".json"
        else:
            cfg_name = "blobs/sha256/" + img.config_digest.split(":", 1)[1]
        members[cfg_name] = img.config_bytes
        layer_names = []
        parent = ""
        for l in img.layers:
            diff_hex = l.diff_id.split(":", 1)[1]
            if layout == "legacy":
                layer_id = hashlib.sha256((parent + diff_hex).encode()).hexdigest()
                name = layer_id + "/layer.tar"
                members[layer_id + "/VERSION"] = b"1.0"
                members[layer_id + "/json"] = json.dumps({"id": layer_id}).encode()
                parent = layer_id
            else:
                name = "blobs/sha256/" + diff_hex
            members[name] = l.uncompressed()
            layer_names.append(name)
        manifest.append({"Config": cfg_name, "RepoTags": list(tags), "Layers": layer_names})
        for t in tags:
            repo, _, tag = t.rpartition(":")
            repositories.setdefault(repo, {})[tag] = img.config_digest.split(":", 1)[1]
    if edit:
        edit(members, manifest)
    members["manifest.json"] = json.dumps(manifest).encode()
    members["repositories"] = json.dumps(repositories).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()
        for name in sorted(members):
            d = os.path.dirname(name)
            while d and d not in dirs:
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, MTIME
                tar.addfile(ti)
                dirs.add(d)
                d = os.path.dirname(d)
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(members[name]), 0o644, MTIME
            tar.addfile(ti, io.BytesIO(members[name]))
    data = buf.getvalue()
    with open(path, "wb") as f:
        f.write(compress(data, "gzip") if gzip_outer else data)
    return path


# --------------------------------------------------------------------------
# Ready-made images

BUSYBOX = "/bin/busybox"


def busybox_entries():
    """Entries of a runnable busybox rootfs (one layer)."""
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    entries = [Dir("bin"), Dir("etc"), Dir("tmp", 0o1777), Dir("home"), Dir("root", 0o700),
               Dir("usr"), Dir("usr/bin"), Dir("var"), Dir("var/tmp", 0o1777),
               Dir("proc"), Dir("sys"), Dir("dev"),
               HostFile("bin/busybox", BUSYBOX, 0o755)]
    for name in sorted(set(applets) - {"busybox"}):
        if "/" not in name:
            entries.append(Symlink("bin/" + name, "busybox"))
    entries += [
        File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                           "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
        File("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        File("etc/hostname", "busybox\n"),
    ]
    return entries


def busybox_image(fmt="oci", compression="gzip", extra_layers=(), arch="amd64",
                  variant=None, **config):
    """Runnable busybox image: layer 0 the rootfs, then extra_layers (lists
    of entries). config: keyword arguments of Image (env, cmd, labels...)."""
    layers = [Layer(busybox_entries(), compression)]
    layers += [Layer(e, compression) for e in extra_layers]
    config.setdefault("env", ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    config.setdefault("cmd", ["/bin/sh"])
    return Image(layers, fmt=fmt, arch=arch, variant=variant, **config)


# -- Debian image from the host's installed packages ----------------------

DEBIAN_BASE = ["base-files", "base-passwd", "bash", "dash", "coreutils", "libc-bin",
               "libc6", "debianutils", "sed", "grep", "findutils", "tar", "gzip",
               "diffutils", "hostname", "ncurses-base", "libselinux1", "mawk",
               "sensible-utils"]
DEBIAN_PYTHON = ["python3", "python3.11", "python3-minimal", "python3.11-minimal",
                 "libpython3.11-stdlib", "libpython3.11-minimal"]
# Big, self-contained packages to bring layer 1 to a realistic size.
DEBIAN_FILLER = ["perl-modules-5.36", "libperl5.36", "perl", "libicu72", "vim-runtime",
                 "libllvm14", "libllvm15", "libclang-cpp14", "git", "cpp-12", "gcc-12",
                 "libgl1-mesa-dri", "iso-codes", "libz3-4"]
DEBIAN_MIN = 250 * 1024 * 1024
DEBIAN_MAX = 330 * 1024 * 1024
DEBIAN_TARGET = 290 * 1024 * 1024


def _installed_packages():
    """{name: (version, deps list of alternatives)} and {virtual: name}."""
    fmt = "${Package}\\t${Version}\\t${db:Status-Abbrev}\\t${Pre-Depends}\\t${Depends}\\t${Provides}\\n"
    out = subprocess.run(["dpkg-query", "-W", "-f", fmt], check=True, capture_output=True,
                         text=True).stdout
    pkgs, provides = {}, {}

    def names(field):
        groups = []
        for dep in filter(None, (d.strip() for d in field.split(","))):
            alts = [a.strip().split(" ")[0].split(":")[0] for a in dep.split("|")]
            groups.append(alts)
        return groups

    for line in out.splitlines():
        name, version, status, pre, dep, prov = (line.split("\t") + [""] * 6)[:6]
        # Installed, or installed with dpkg triggers pending (t/W: a concurrent
        # apt-get run leaves libc-bin so for a while).
        if len(status) < 2 or status[1] not in "itW" or name in pkgs:
            continue
        pkgs[name] = (version, names(pre) + names(dep))
        for group in names(prov):
            provides.setdefault(group[0], name)
    return pkgs, provides


def _closure(roots, pkgs, provides, exclude=()):
    seen, todo = set(), [r for r in roots if r in pkgs]
    while todo:
        p = todo.pop()
        if p in seen or p in exclude:
            continue
        seen.add(p)
        for alts in pkgs[p][1]:
            for a in alts:
                real = a if a in pkgs else provides.get(a)
                if real:
                    todo.append(real)
                    break
    return seen


def _package_paths(packages):
    """Host paths of packages' files, with directory parts resolved through
    host symlinks (merged /usr), as sorted image paths -> host path."""
    out = subprocess.run(["dpkg", "-L"] + sorted(packages), capture_output=True, text=True).stdout
    result = {}
    for path in out.splitlines():
        if not path.startswith("/") or path == "/.":
            continue
        parent, base = os.path.split(path)
        real = os.path.join(os.path.realpath(parent), base)
        if os.path.lexists(real):
            result[real.lstrip("/")] = real
    return result


def _paths_size(paths):
    total = 0
    for p in paths.values():
        st = os.lstat(p)
        if not os.path.isdir(p) or os.path.islink(p):
            total += st.st_size
    return total


def _debian_plan():
    pkgs, provides = _installed_packages()
    missing = [p for p in DEBIAN_BASE[:6] + DEBIAN_PYTHON[:2] if p not in pkgs]
    if missing:
        raise RuntimeError(f"host lacks Debian packages needed for debian_image: {missing}")
    base = _closure(DEBIAN_BASE, pkgs, provides)
    python = _closure(DEBIAN_PYTHON, pkgs, provides, exclude=base)
    size = _paths_size(_package_paths(base)) + _paths_size(_package_paths(python))
    for filler in DEBIAN_FILLER:
        if size >= DEBIAN_TARGET:
            break
        if filler not in pkgs or filler in base or filler in python:
            continue
        extra = _closure([filler], pkgs, provides, exclude=base | python)
        extra_size = _paths_size(_package_paths(extra))
        if size + extra_size > DEBIAN_MAX:
            continue
        base |= extra
        size += extra_size
    versions = {p: pkgs[p][0] for p in base | python}
    return sorted(base), sorted(python), versions


class _HashingWriter:
    """File-like: sha256 + byte count of what passes, forwarded to inner."""

    def __init__(self, inner):
        self.inner, self.h, self.n = inner, hashlib.sha256(), 0

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.inner.write(b)

    def flush(self):
        pass


def _parents(path):
    parts = path.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _write_host_layer(paths, extra_entries, dest):
    """Tar host paths (+ entries) gzip-compressed into dest.
    Returns (digest, size, diff_id)."""
    with open(dest, "wb") as raw:
        blob = _HashingWriter(raw)
        with gzip.GzipFile(fileobj=blob, mode="wb", mtime=0, compresslevel=6) as gz:
            tarstream = _HashingWriter(gz)
            with tarfile.open(fileobj=tarstream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                names = set(paths)
                for p in list(paths):
                    for parent in _parents(p):
                        if parent not in names:
                            names.add(parent)
                            paths[parent] = "/" + parent
                extra = {e.path: e for e in extra_entries}
                for name in sorted(names | set(extra)):
                    if name in extra:
                        extra[name].add_to(tar)
                    else:
                        tar.add(paths[name], arcname=name, recursive=False)
    return "sha256:" + blob.h.hexdigest(), blob.n, "sha256:" + tarstream.h.hexdigest()


def _debian_extra_entries():
    return [
        File("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"
                           "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
        File("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        File("etc/hostname", "debian\n"),
        Dir("tmp", 0o1777), Dir("var/tmp", 0o1777), Dir("root", 0o700), Dir("home"),
        Dir("proc"), Dir("sys"), Dir("dev"),
    ]


def debian_image(fmt="docker"):
    """2-layer Debian image (~300 MB unpacked) from host packages, cached in
    /tmp/sing-test-cache/debian-<key>/ (key: package list + versions).
    Layer 1: base system (+ filler packages), layer 2: python3.
    Attribute .packages on the result: (base list, python list)."""
    base, python, versions = _debian_plan()
    key = hashlib.sha256(canonical_json({"base": base, "python": python,
                                         "versions": versions, "v": 1})).hexdigest()[:16]
    cache = os.path.join(CACHE_DIR, f"debian-{key}")
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(os.path.join(CACHE_DIR, "debian.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        meta_path = os.path.join(cache, "image.json")
        if not os.path.exists(meta_path):
            tmp = tempfile.mkdtemp(dir=CACHE_DIR, prefix="debian-build-")
            layers = []
            for i, (pkgset, extra) in enumerate([(base, _debian_extra_entries()),
                                                 (python, [])]):
                dest = os.path.join(tmp, f"layer{i}.tar.gz")
                digest, size, diff_id = _write_host_layer(_package_paths(pkgset), extra, dest)
                layers.append({"file": f"layer{i}.tar.gz", "digest": digest, "size": size,
                               "diff_id": diff_id})
            with open(os.path.join(tmp, "image.json"), "w") as f:
                json.dump({"layers": layers, "base": base, "python": python,
                           "versions": versions}, f, indent=1)
            shutil.rmtree(cache, ignore_errors=True)
            os.rename(tmp, cache)
        with open(meta_path) as f:
            meta = json.load(f)
    layers = [Layer.from_blob_file(os.path.join(cache, l["file"]), l["digest"], l["size"],
                                   l["diff_id"], "gzip") for l in meta["layers"]]
    img = Image(layers, fmt=fmt,
                env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                     "LANG=C.UTF-8"],
                cmd=["/bin/bash"], labels={"org.sing-test.image": "debian"})
    img.packages = (meta["base"], meta["python"])
    return img
