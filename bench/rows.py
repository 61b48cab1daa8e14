"""The bench rows: each function measures one thing N times and returns a
measure.Stat (or a dict of them). A row that cannot run raises NA."""
import glob
import os
import re
import shutil
import subprocess
import time

import measure
from measure import Stat, run, drop_caches

import bench_images  # noqa: F401  (puts tests/integration on sys.path)
from fsprobe import reflink_supported  # noqa: E402

SQUASH_OURS = ["-comp", "zstd", "-Xcompression-level", "3", "-processors", str(os.cpu_count())]


class NA(Exception):
    """A row that cannot be measured here; str() is the reason."""


class Ctx:
    """What the rows share: prefix, work dir, registries, drop flag, N."""

    def __init__(self, prefix, work, reg, reg_tls, runs, drop, startups):
        self.prefix, self.work, self.reg, self.reg_tls = prefix, work, reg, reg_tls
        self.runs, self.drop, self.startups = runs, drop, startups
        self.cache = os.path.join(work, "cache")
        self.tmp = measure.make_user_dir(os.path.join(work, "tmp"))
        self.out = measure.make_user_dir(os.path.join(work, "out"))

    def env(self, **extra):
        e = {"SINGULARITY_CACHEDIR": self.cache, "SINGULARITY_NOHTTPS": "1",
             "TMPDIR": self.tmp}
        e.update(extra)
        return measure.user_env(self.prefix, e)

    def sing(self):
        return os.path.join(self.prefix, "bin", "singularity")

    def empty_cache(self):
        shutil.rmtree(self.cache, ignore_errors=True)
        measure.make_user_dir(self.cache)

    def registry_requests(self, reg=None):
        time.sleep(0.3)  # let the registry flush its access log
        return (reg or self.reg).requests()


def ref(reg, repo, tag="latest"):
    return f"{reg.hostport}/{repo}:{tag}"


# -- our pulls ------------------------------------------------------------

def pull_cold(c, repo, name):
    out = os.path.join(c.out, name + ".sif")
    times = []
    for _ in range(c.runs):
        c.empty_cache()
        if os.path.exists(out):
            os.unlink(out)
        drop_caches(c.drop)
        t, *_ = run([c.sing(), "pull", "--name", out, "docker://" + ref(c.reg, repo)],
                    env=c.env(), cwd=c.out)
        times.append(t)
    return Stat(times), out


def pull_warm(c, repo, name):
    """Blobs already in the cache (from pull_cold), no SIF anywhere."""
    out = os.path.join(c.out, name + "-warm.sif")
    times = []
    for _ in range(c.runs):
        for f in glob.glob(os.path.join(c.cache, "sif", "*")):
            os.unlink(f)
        if os.path.exists(out):
            os.unlink(out)
        drop_caches(c.drop)
        t, *_ = run([c.sing(), "pull", "--name", out, "docker://" + ref(c.reg, repo)],
                    env=c.env(), cwd=c.out)
        times.append(t)
    os.unlink(out)
    return Stat(times)


def recipe_build(c, repo, name):
    """`build OUT.sif RECIPE` (Bootstrap docker, trivial %post) of the pull's
    image (issue 17): cold (empty cache: the layers merged into the build
    tree, no SIF made on the way), again (blobs cached, still no SIF), and
    after a pull of the same reference (the base's SIF taken from the SIF
    cache and extracted)."""
    recipe = os.path.join(c.tmp, name + ".def")
    with open(recipe, "w") as f:
        f.write(f"Bootstrap: docker\nRegistry: http://{c.reg.hostport}\nFrom: {repo}:latest\n"
                "%post\n    touch /built\n")
    os.chmod(recipe, 0o644)
    out = os.path.join(c.out, name + "-recipe.sif")
    pulled = os.path.join(c.out, name + "-recipe-base.sif")
    cold, again, after_pull = [], [], []
    for _ in range(c.runs):
        c.empty_cache()
        for times in (cold, again, after_pull):
            if os.path.exists(out):
                os.unlink(out)
            if times is after_pull:
                run([c.sing(), "pull", "--force", "--name", pulled, "docker://" + ref(c.reg, repo)],
                    env=c.env(), cwd=c.out)
            drop_caches(c.drop)
            t, *_ = run([c.sing(), "build", out, recipe], env=c.env(), cwd=c.out)
            times.append(t)
    for p in (out, pulled):
        if os.path.exists(p):
            os.unlink(p)
    return {"cold": Stat(cold), "again": Stat(again), "after_pull": Stat(after_pull)}


def pull_https(c, repo, name):
    """Cold pull over TLS (same registry storage), to compare with ch-image
    which only speaks HTTPS."""
    if c.reg_tls is None:
        raise NA("no HTTPS registry")
    out = os.path.join(c.out, name + "-tls.sif")
    times = []
    for _ in range(c.runs):
        c.empty_cache()
        if os.path.exists(out):
            os.unlink(out)
        drop_caches(c.drop)
        env = c.env(SSL_CERT_FILE=c.reg_tls.ca_file)
        del env["SINGULARITY_NOHTTPS"]
        t, *_ = run([c.sing(), "pull", "--name", out, "docker://" + ref(c.reg_tls, repo)],
                    env=env, cwd=c.out)
        times.append(t)
    os.unlink(out)
    return Stat(times)


def pull_resources(c, repo, name, runs):
    """Cold pulls sampled for peak RSS (whole tree), disk and CPU."""
    out = os.path.join(c.out, name + "-res.sif")
    res = []
    for _ in range(runs):
        c.empty_cache()
        if os.path.exists(out):
            os.unlink(out)
        drop_caches(c.drop)
        res.append(measure.run_sampled(
            [c.sing(), "pull", "--name", out, "docker://" + ref(c.reg, repo)], c.env(),
            disk_paths=[c.cache, c.out, c.tmp]))
    os.unlink(out)
    pick = lambda k: Stat([r[k] for r in res], unit="B")  # noqa: E731
    return {"secs": Stat([r["secs"] for r in res]), "peak_rss": pick("peak_rss"),
            "peak_rss_bound": pick("peak_rss_bound"), "max_rss_one": pick("max_rss_one"),
            "max_rss_one_name": sorted({r["max_rss_one_name"] for r in res}),
            "temp_disk": Stat([r["disk_peak"] - r["disk_after"] for r in res], unit="B"),
            "disk_growth_peak": Stat([r["disk_peak"] - r["disk_before"] for r in res], unit="B"),
            "cpu_busy": Stat([r["cpu"] / r["secs"] for r in res], unit="cores")}


def concurrent_pulls(c, repo, n=8):
    """n simultaneous pulls of one image into one empty cache: wall time of
    the whole group and the blob GETs the registry served."""
    times, gets = [], []
    for _ in range(c.runs):
        c.empty_cache()
        outs = [os.path.join(c.out, f"conc{i}.sif") for i in range(n)]
        for o in outs:
            if os.path.exists(o):
                os.unlink(o)
        drop_caches(c.drop)
        before = len(c.registry_requests())
        t0 = time.perf_counter()
        procs = [subprocess.Popen(measure.as_user([c.sing(), "pull", "--name", o,
                                                   "docker://" + ref(c.reg, repo)]),
                                  env=c.env(), cwd=c.out, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for o in outs]
        errs = [p.communicate()[1] for p in procs]
        times.append(time.perf_counter() - t0)
        bad = [e for p, e in zip(procs, errs) if p.returncode != 0]
        if bad:
            raise measure.CommandFailed(f"{len(bad)}/{n} concurrent pulls failed: "
                                        + bad[0].decode(errors="replace")[-500:])
        reqs = c.registry_requests()[before:]
        gets.append(sum(1 for m, p, s in reqs if m == "GET" and "/blobs/" in p and s < 300))
        for o in outs:
            os.unlink(o)
    return Stat(times), Stat(gets, unit="GETs")


# -- start-up -------------------------------------------------------------

def startup(c, args, cwd=None, nofile=None, env=None):
    t = measure.spawn_times(args, c.startups, env or c.env(), cwd=cwd or c.out, nofile=nofile)
    return Stat(t)


def run_cache_hit(c, repo, digest):
    """`run docker://REF@digest` and `:tag` with the SIF in the cache, and
    the cached SIF run directly; registry requests per invocation."""
    by_digest = "docker://" + f"{c.reg.hostport}/{repo}@{digest}"
    by_tag = "docker://" + ref(c.reg, repo)
    run([c.sing(), "run", by_digest], env=c.env())  # converts once into the cache
    sifs = glob.glob(os.path.join(c.cache, "sif", digest.split(":")[1] + "*.sif"))
    if not sifs:
        raise NA(f"no cached SIF for {digest} in {c.cache}/sif")
    out = {}
    for key, target in (("digest", by_digest), ("tag", by_tag), ("sif", sifs[0])):
        before = len(c.registry_requests())
        out[key] = startup(c, [c.sing(), "run", target])
        reqs = c.registry_requests()[before:]
        out[key + "_requests"] = len(reqs) / len(out[key])
        out[key + "_manifest_requests"] = sum(1 for _, p, _ in reqs if "/manifests/" in p) / len(out[key])
        for method in ("HEAD", "GET"):
            out[f"{key}_{method}"] = sum(1 for m, _, _ in reqs if m == method) / len(out[key])
    return out


def nofile_limit(want=1 << 20):
    """RLIMIT_NOFILE to test with: `want`, or the hard limit when this
    process cannot raise it (no CAP_SYS_RESOURCE in a container)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard if hard >= want else want))
        return want
    except (ValueError, OSError):
        return hard


def many_files_dir(c, n=100_000):
    d = os.path.join(c.work, "manyfiles")
    if not os.path.isdir(d) or len(os.listdir(d)) < n:
        os.makedirs(d, exist_ok=True)
        for i in range(n):
            open(os.path.join(d, f"f{i:06d}"), "w").close()
    return d


# -- floor and peers ------------------------------------------------------

def registry_blob(reg, digest):
    hexd = digest.split(":")[1]
    return os.path.join(reg.directory, "data", "docker", "registry", "v2", "blobs", "sha256",
                        hexd[:2], hexd, "data")


def floor(c, img, tree):
    """Decompress every layer (pigz -dc > /dev/null, all layers in parallel)
    and mksquashfs the final unpacked tree with our settings. `tree` is made
    once by extracting the layers in order (no whiteouts in bench images)."""
    blobs = [registry_blob(c.reg, l.digest) for l in img.layers]
    if not os.path.isdir(tree):
        os.makedirs(tree + ".part", exist_ok=True)
        for b in blobs:
            subprocess.run(["tar", "-xzf", b, "-C", tree + ".part", "--same-owner",
                            "--numeric-owner", "--xattrs", "--xattrs-include=*"], check=True)
        os.rename(tree + ".part", tree)
    dec, sq = [], []
    sqfs = os.path.join(c.work, "floor.sqfs")
    for _ in range(c.runs):
        drop_caches(c.drop)
        t0 = time.perf_counter()
        procs = [subprocess.Popen(["pigz", "-dc", b], stdout=subprocess.DEVNULL) for b in blobs]
        if any(p.wait() for p in procs):
            raise measure.CommandFailed("pigz -dc failed")
        dec.append(time.perf_counter() - t0)
        t, *_ = run(["mksquashfs", tree, sqfs, "-noappend", "-quiet", "-no-progress"]
                    + SQUASH_OURS, user=False)
        sq.append(t)
    size = os.path.getsize(sqfs)
    os.unlink(sqfs)
    return {"decompress": Stat(dec), "squash": Stat(sq),
            "total": Stat([a + b for a, b in zip(dec, sq)]), "size": size}


def skopeo_pipeline(c, repo):
    """skopeo copy + umoci unpack --rootless + mksquashfs (defaults, and
    zstd 3), as the bench user; per run all three stages, both squashes of
    the same unpacked tree."""
    for tool in ("skopeo", "umoci"):
        if not shutil.which(tool):
            raise NA(f"{tool} not installed")
    st = {k: [] for k in ("skopeo", "umoci", "mksq_default", "mksq_zstd")}
    sizes = {}
    base = os.path.join(c.work, "skopeo")
    for _ in range(c.runs):
        shutil.rmtree(base, ignore_errors=True)
        measure.make_user_dir(base)
        oci, bundle = os.path.join(base, "oci"), os.path.join(base, "bundle")
        drop_caches(c.drop)
        env = measure.user_env(c.prefix, {"TMPDIR": c.tmp})
        t, *_ = run(["skopeo", "copy", "--src-tls-verify=false", "docker://" + ref(c.reg, repo),
                     "oci:" + oci + ":latest"], env=env)
        st["skopeo"].append(t)
        t, *_ = run(["umoci", "unpack", "--rootless", "--image", oci + ":latest", bundle], env=env)
        st["umoci"].append(t)
        for key, flags in (("mksq_default", []), ("mksq_zstd", SQUASH_OURS[:4])):
            out = os.path.join(base, key + ".sqfs")
            t, *_ = run(["mksquashfs", os.path.join(bundle, "rootfs"), out, "-noappend",
                         "-quiet", "-no-progress"] + flags, env=env)
            st[key].append(t)
            sizes[key] = os.path.getsize(out)
    r = {k: Stat(v) for k, v in st.items()}
    pre = [a + b for a, b in zip(st["skopeo"], st["umoci"])]
    r["total_default"] = Stat([p + m for p, m in zip(pre, st["mksq_default"])])
    r["total_zstd"] = Stat([p + m for p, m in zip(pre, st["mksq_zstd"])])
    r["sizes"] = sizes
    return r


def ch_image_pipeline(c, repo):
    """ch-image pull + ch-convert -o squash, cold (storage emptied). ch-image
    0.31 only speaks HTTPS, so it talks to the TLS registry (same storage)
    with --tls-no-verify."""
    if not shutil.which("ch-image") or not shutil.which("ch-convert"):
        raise NA("ch-image/ch-convert not installed")
    if c.reg_tls is None:
        raise NA("no HTTPS registry")
    pull, conv = [], []
    storage = os.path.join(c.work, "ch", "storage")
    measure.make_user_dir(os.path.dirname(storage))
    name = ref(c.reg_tls, repo)
    env = measure.user_env(c.prefix, {
        "CH_IMAGE_STORAGE": storage, "TMPDIR": c.tmp, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"})
    size = 0
    for _ in range(c.runs):
        shutil.rmtree(storage, ignore_errors=True)
        out = os.path.join(c.work, "ch", "out.sqfs")
        if os.path.exists(out):
            os.unlink(out)
        drop_caches(c.drop)
        t, *_ = run(["ch-image", "pull", "--tls-no-verify", name], env=env)
        pull.append(t)
        t, *_ = run(["ch-convert", "-i", "ch-image", "-o", "squash", name, out], env=env)
        conv.append(t)
        size = os.path.getsize(out)
    return {"pull": Stat(pull), "convert": Stat(conv),
            "total": Stat([a + b for a, b in zip(pull, conv)]), "size": size}


def ch_run(c, tree):
    if not shutil.which("ch-run"):
        raise NA("ch-run not installed")
    return startup(c, ["ch-run", tree, "--", "/bin/true"])


def sif_size(path):
    return os.path.getsize(path)




# -- start-up paths of issue 17 ---------------------------------------------

def squashfs_of_sif(sif, out):
    """The SIF's squashfs partition as a plain .sqfs file (for ch-run on the
    very same file system): the first squashfs superblock, bytes_used long,
    padded with zeros to 4 KiB as mksquashfs pads its own (a loop device
    is a whole number of sectors: the kernel refuses a file system longer
    than its device, EINVAL)."""
    import struct
    with open(sif, "rb") as f:
        data = f.read()
    at = data.find(b"hsqs")
    if at < 0:
        raise NA(f"no squashfs partition in {sif}")
    used = struct.unpack_from("<Q", data, at + 40)[0]
    with open(out, "wb") as f:
        f.write(data[at:at + used])
        f.write(bytes(-used % 4096))
    measure.chown_user(out)
    return out


def ch_run_sqfs_argv(sqfs):
    """ch-run on a squashfs file: its in-process squashfuse (libsquashfuse_ll)."""
    if not shutil.which("ch-run"):
        raise NA("ch-run not installed")
    lib = subprocess.run(["ldd", shutil.which("ch-run")], capture_output=True, text=True).stdout
    if "squashfuse" not in lib:
        raise NA("this ch-run has no squashfuse support compiled in")
    return ["ch-run", sqfs, "--", "/bin/true"]


def ch_run_sqfs(c, sqfs):
    return startup(c, ch_run_sqfs_argv(sqfs))


def in_turn_with_ch_run_sqfs(c, sif, sqfs):
    """`exec SIF /bin/true` and ch-run on the SIF's squashfs run in turn (A B
    A B ...), so that a load change hits both alike: {"ours", "peer"}."""
    cmds = [([c.sing(), "exec", sif, "/bin/true"], c.env()), (ch_run_sqfs_argv(sqfs), c.env())]
    ours, peer = measure.spawn_times_alternate(cmds, c.startups, cwd=c.out)
    return {"ours": Stat(ours), "peer": Stat(peer)}


# A realistic set of overrides: SINGULARITYENV_ values that refer to other
# variables, a PREPEND_PATH, --env (one refers to $HOME) and an --env-file.
# None that /bin/true itself reads (LANGUAGE, LC_*...): the no-shell plan
# takes them literally, and a different value must not change its work.
ENV_OVERRIDES = {"SINGULARITYENV_SCRATCH": "$HOME/scratch",
                 "SINGULARITYENV_OMP_NUM_THREADS": "4",
                 "SINGULARITYENV_JOBDIR": "${HOME}/jobs/$USER",
                 "SINGULARITYENV_PREPEND_PATH": "/opt/tool/bin"}
ENV_FLAGS = ["--env", "PROJECT=$HOME/project", "--env", "TOOL_OPTS=-v --color=never"]
ENV_FILE = 'JOB_NAME=bench\nJOB_OUT="$HOME/out/$JOB_NAME"\nMPLBACKEND=Agg\n'


def squashfs_pair(sif, work):
    """The SIF's file system repacked twice from one unpacked tree with the
    same mksquashfs options (the SIF's compressor, level and block size):
    as it is, and without /.singularity.d/env (nothing to evaluate), so the
    two differ only by the env files. (with_env, without_env) paths."""
    sqfs = squashfs_of_sif(sif, os.path.join(work, "sif-part.sqfs"))
    info = subprocess.run(["unsquashfs", "-s", sqfs], capture_output=True, text=True,
                          check=True).stdout
    opts = ["-comp", re.search(r"Compression (\w+)", info).group(1),
            "-b", re.search(r"Block size (\d+)", info).group(1)]
    level = re.search(r"compression-level (\d+)", info)
    if level:
        opts += ["-Xcompression-level", level.group(1)]
    tree = os.path.join(work, "env-pair-tree")
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["unsquashfs", "-q", "-n", "-d", tree, sqfs], check=True,
                   stdout=subprocess.DEVNULL)
    os.unlink(sqfs)
    out = []
    for name in ("with-env.sqfs", "without-env.sqfs"):
        if name == "without-env.sqfs":
            shutil.rmtree(os.path.join(tree, ".singularity.d", "env"))
        path = os.path.join(work, name)
        subprocess.run(["mksquashfs", tree, path, "-noappend", "-quiet", "-no-progress"] + opts,
                       check=True, stdout=subprocess.DEVNULL)
        measure.chown_user(path)
        out.append(path)
    shutil.rmtree(tree)
    return tuple(out)


# An override the shell-free evaluation leaves to the shell (a length
# expansion: no command substitution, so no extra fork in the shell).
FORCE_SHELL = ["--env", "BENCH_FORCE=${#HOME}"]


def env_eval_cost(c, sif, noenv_sqfs):
    """What the environment evaluation costs (issue 17): exec of the image
    (sif: the SIF's file system, squashfs_pair), whose env files the starter
    evaluates (starter/direct_env.c), against the same file system without
    env files (noenv_sqfs); with ENV_OVERRIDES evaluated
    and taken as given (--no-eval); and, for comparison, the same exec
    through the image's /bin/sh (an override only the shell evaluates).
    Run in turn, one invocation each, so load changes on a shared machine
    hit every variant alike."""
    env_file = os.path.join(c.tmp, "bench.env")
    with open(env_file, "w") as f:
        f.write(ENV_FILE)
    measure.chown_user(env_file)
    over = ENV_FLAGS + ["--env-file", env_file]
    oenv = c.env(**ENV_OVERRIDES)
    variants = {
        "direct": ([c.sing(), "exec", sif, "/bin/true"], c.env()),
        "noenv": ([c.sing(), "exec", noenv_sqfs, "/bin/true"], c.env()),
        "over": ([c.sing(), "exec"] + over + [sif, "/bin/true"], oenv),
        "over_noeval": ([c.sing(), "exec", "--no-eval"] + over + [sif, "/bin/true"], oenv),
        "shell": ([c.sing(), "exec"] + FORCE_SHELL + [sif, "/bin/true"], c.env()),
    }
    # Each variant must take the path it stands for: the debug log says
    # whether the shell was needed.
    for name, (cmd, env) in variants.items():
        _, rc, _, err = run([cmd[0], "--debug"] + cmd[1:], env=env, cwd=c.out, check=False)
        direct = "without the shell" in err
        if rc != 0 or direct != (name != "shell"):
            raise RuntimeError(f"env row {name}: rc {rc}, shell-free {direct}: {err[-500:]}")
    times = measure.spawn_times_alternate(list(variants.values()), c.startups, cwd=c.out)
    out = dict(zip(variants, times))
    return {k: Stat(v) for k, v in out.items()}


def seccomp_filter_cost(c, src):
    """Exec of /bin/true by a tiny program that installs the starter's own
    built-in filter (starter/seccomp_install.c) vs the same program without
    it: {"filter", "none"}. Built here with cc; no production switch."""
    exe = os.path.join(c.work, "seccomp_cost")
    cmd = ["cc", "-O2", "-D_GNU_SOURCE", "-I", os.path.join(src, "common"),
           "-I", os.path.join(src, "starter"), os.path.join(src, "bench", "seccomp_cost.c"),
           os.path.join(src, "starter", "seccomp_install.c"), os.path.join(src, "common", "log.c"),
           os.path.join(src, "common", "error.c"), "-lseccomp", "-o", exe]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise NA("cannot build bench/seccomp_cost.c: " + r.stderr.strip()[-200:])
    out = {"filter": [], "none": []}
    # Interleaved batches, so load changes on a shared machine hit both.
    for _ in range(5):
        for mode in ("none", "filter"):
            out[mode] += startup(c, [exe, mode, "/bin/true"]).samples
    return {k: Stat(v) for k, v in out.items()}


def process_floor(c, src):
    """One process start before any of our code (bench/process_floor.c):
    exec of a program without libc, of an empty static and an empty dynamic
    glibc program, and the time of one CPUID instruction (glibc's start-up
    probes the CPU with dozens; in a VM each one traps):
    {"nolibc", "static", "dynamic": Stat, "cpuid_us": float or None}."""
    c_file = os.path.join(src, "bench", "process_floor.c")
    exes = {"nolibc": ["-DNO_LIBC", "-nostdlib", "-static"], "static": ["-static"], "dynamic": []}
    for name, flags in exes.items():
        r = subprocess.run(["cc", "-O2"] + flags + [c_file, "-o",
                                                    os.path.join(c.work, "floor-" + name)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise NA(f"cannot build bench/process_floor.c ({name}): " + r.stderr.strip()[-200:])
    out = {k: [] for k in exes}
    for _ in range(5):  # interleaved batches, as for the seccomp row
        for name in exes:
            out[name] += startup(c, [os.path.join(c.work, "floor-" + name)]).samples
    res = {k: Stat(v) for k, v in out.items()}
    r = subprocess.run([os.path.join(c.work, "floor-dynamic"), "cpuid"], capture_output=True,
                       text=True)
    res["cpuid_us"] = float(r.stdout) if r.returncode == 0 else None
    return res


def kernel_mount_floor(c, src, sqfs):
    """The least a start on the kernel squashfs path costs here
    (bench/kernel_mount_floor.c, as root): a loop device on sqfs, a fresh
    squashfs mount of it (a new superblock: the program and libc are
    decompressed again), chroot, exec /bin/true; nothing else."""
    exe = os.path.join(c.work, "kernel-mount-floor")
    r = subprocess.run(["cc", "-O2", os.path.join(src, "bench", "kernel_mount_floor.c"), "-o",
                        exe], capture_output=True, text=True)
    if r.returncode != 0:
        raise NA("cannot build bench/kernel_mount_floor.c: " + r.stderr.strip()[-200:])
    return Stat(measure.spawn_times([exe, sqfs, "/bin/true"], c.startups, c.env(), cwd=c.out,
                                    root=True))


def concurrent_execs(c, args, n=64):
    """n simultaneous `args` as the bench user: the wall time of each from
    its own spawn to its exit (median over all n of all runs), and the CPU
    time (user + system) of each one's process tree (wait4's rusage: the
    starter reaps its helpers, so theirs is in it)."""
    starts, ends, cpu = {}, {}, []
    for _ in range(c.runs):
        procs = []
        for _ in range(n):
            t0 = time.perf_counter()
            p = subprocess.Popen(measure.as_user(args), env=c.env(), cwd=c.out,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            starts[p.pid] = t0
            procs.append(p)
        left, failed = {p.pid for p in procs}, 0
        while left:
            pid, status, ru = os.wait4(-1, 0)
            if pid in left:
                ends[pid] = time.perf_counter()
                cpu.append(ru.ru_utime + ru.ru_stime)
                left.discard(pid)
                failed += status != 0
        for p in procs:
            p.returncode = 0  # reaped above
        if failed:
            raise measure.CommandFailed(f"{failed} of {n} concurrent execs failed")
    return Stat([ends[p] - starts[p] for p in ends]), Stat(cpu)


def disk_after_pull(c, repo):
    """Disk used by cache + output after one cold pull, ÷ (blobs + one SIF)."""
    c.empty_cache()
    out = os.path.join(c.out, "disk.sif")
    if os.path.exists(out):
        os.unlink(out)
    run([c.sing(), "pull", "--name", out, "docker://" + ref(c.reg, repo)], env=c.env(),
        cwd=c.out)
    used = measure.dir_bytes([c.cache, out])
    blobs = measure.dir_bytes([os.path.join(c.cache, d) for d in os.listdir(c.cache)
                               if d != "sif"])
    st = os.stat(out)
    sif = st.st_blocks * 512
    os.unlink(out)
    reflink = reflink_supported(c.out)
    # How the pull kept the SIF (frontend/cache_sif_out.h): a reflink where
    # the file system shares extents, else a hard link to the cached SIF
    # (one inode: st_nlink 2), else a copy.
    layout = "reflink" if reflink else "hard link" if st.st_nlink > 1 else "copy"
    return {"used": used, "floor": blobs + sif, "ratio": used / (blobs + sif),
            "reflink": reflink, "layout": layout}


RECIPE = """Bootstrap: docker
From: {ref}

%post
    true
"""


def recipe_vs_pull(c, repo):
    """`build` of `Bootstrap: docker` + a trivial %post, empty cache each
    run (the same image the cold pull row pulls)."""
    d = measure.make_user_dir(os.path.join(c.work, "recipe"))
    spec = os.path.join(d, "bench.def")
    with open(spec, "w") as f:
        f.write(RECIPE.format(ref=ref(c.reg, repo)))
    measure.chown_user(spec)
    out = os.path.join(d, "built.sif")
    times = []
    for _ in range(c.runs):
        c.empty_cache()
        if os.path.exists(out):
            os.unlink(out)
        drop_caches(c.drop)
        t, *_ = run([c.sing(), "build", out, spec], env=c.env(), cwd=d)
        times.append(t)
    os.unlink(out)
    return Stat(times)
