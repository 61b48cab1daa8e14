"""The bench's images, built from the host's installed Debian packages with
tests/integration/imagetools.py and cached under /tmp/sing-bench-cache:

* debian  - imagetools.debian_image(): 2 layers (base system + filler, then
            python3), about 300 MB unpacked, gzip.
* big     - about 1.5 GB unpacked in 6 layers: the debian image's 2 layers
            plus 4 layers of more installed packages' files (largest first,
            spread so the layers are of similar size).
* tiny    - busybox (smoke mode), one small layer.

All get CMD ["/bin/true"] so `run docker://REF` measures start-up only.
"""
import hashlib
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import imagetools  # noqa: E402

CACHE = "/tmp/sing-bench-cache"
BIG_TARGET = 1500 * 1024 * 1024
BIG_EXTRA_LAYERS = 4
ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]


def _with_cmd(layers, name):
    return imagetools.Image(layers, fmt="docker", env=ENV, cmd=["/bin/true"],
                            labels={"org.sing-bench.image": name})


def tiny_image():
    return imagetools.busybox_image(cmd=["/bin/true"])


def debian_image():
    return _with_cmd(imagetools.debian_image().layers, "debian")


def _pkg_size(name):
    """Bytes of a package's regular files and symlinks, from dpkg's list
    (read directly: one `dpkg -L` per package would take half a minute)."""
    for suffix in ("", ":amd64", ":all"):
        path = f"/var/lib/dpkg/info/{name}{suffix}.list"
        if os.path.exists(path):
            break
    else:
        return 0
    total = 0
    with open(path, errors="replace") as f:
        for line in f:
            try:
                st = os.lstat(line.rstrip("\n"))
            except OSError:
                continue
            if not os.path.isdir(line.rstrip("\n")):
                total += st.st_size
    return total


def _big_plan(exclude):
    """Packages for the extra layers: [[pkg...] x BIG_EXTRA_LAYERS]."""
    pkgs, _ = imagetools._installed_packages()
    candidates = sorted(set(pkgs) - set(exclude))
    sizes = {p: _pkg_size(p) for p in candidates}
    bins = [[] for _ in range(BIG_EXTRA_LAYERS)]
    fill = [0] * BIG_EXTRA_LAYERS
    return sizes, bins, fill, pkgs


def _build_layer(args):
    packages, dest = args
    paths = imagetools._package_paths(packages)
    return imagetools._write_host_layer(paths, [], dest)


def big_image():
    deb = imagetools.debian_image()
    base, python = deb.packages
    have = imagetools._paths_size(imagetools._package_paths(base)) + \
        imagetools._paths_size(imagetools._package_paths(python))
    sizes, bins, fill, pkgs = _big_plan(set(base) | set(python))
    budget = BIG_TARGET - have
    total = 0
    # Largest first, each into the emptiest layer, until the budget is met.
    for p in sorted(sizes, key=lambda p: -sizes[p]):
        if total >= budget:
            break
        if sizes[p] == 0 or sizes[p] > budget // BIG_EXTRA_LAYERS:
            continue
        i = fill.index(min(fill))
        bins[i].append(p)
        fill[i] += sizes[p]
        total += sizes[p]
    versions = {p: pkgs[p][0] for b in bins for p in b}
    key = hashlib.sha256(json.dumps([sorted(b) for b in bins] + [versions, deb.diff_ids],
                                    sort_keys=True).encode()).hexdigest()[:16]
    cache = os.path.join(CACHE, f"big-{key}")
    meta_path = os.path.join(cache, "image.json")
    if not os.path.exists(meta_path):
        os.makedirs(cache, exist_ok=True)
        jobs = [(sorted(b), os.path.join(cache, f"layer{i}.tar.gz"))
                for i, b in enumerate(bins)]
        print(f"bench: building the big image's {len(jobs)} extra layers "
              f"({total >> 20} MiB of package files; cached in {cache})", flush=True)
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
            results = list(ex.map(_build_layer, jobs))
        meta = [{"file": os.path.basename(dest), "digest": d, "size": s, "diff_id": di}
                for (_, dest), (d, s, di) in zip(jobs, results)]
        with open(meta_path + ".tmp", "w") as f:
            json.dump(meta, f)
        os.rename(meta_path + ".tmp", meta_path)
    with open(meta_path) as f:
        meta = json.load(f)
    extra = [imagetools.Layer.from_blob_file(os.path.join(cache, m["file"]), m["digest"],
                                             m["size"], m["diff_id"], "gzip") for m in meta]
    return _with_cmd(list(deb.layers) + extra, "big")


def unpacked_size(img):
    """Sum of the layers' uncompressed tar sizes (gzip's ISIZE trailer; every
    layer is < 4 GiB)."""
    total = 0
    for layer in img.layers:
        if layer.tar is not None:
            total += len(layer.tar)
        else:
            with open(layer.path, "rb") as f:
                f.seek(-4, os.SEEK_END)
                total += int.from_bytes(f.read(4), "little")
    return total
