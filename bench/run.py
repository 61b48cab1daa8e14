"""Issue 5's benchmark: pull-and-convert and start-up of our singularity
against skopeo+umoci+mksquashfs, ch-image+ch-convert, ch-run and the floor,
in one run on this machine. Run as root: bench/run.sh [--smoke] [--runs N] [--only env].
Writes bench/results/latest.md (smoke: bench/results/smoke.md; --only GROUP:
bench/results/only-GROUP.md, or only-GROUP-smoke.md)."""
import argparse
import os
import shutil
import statistics
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import bench_images  # noqa: E402
import imagetools  # noqa: E402
import measure  # noqa: E402
import registry as registry_mod  # noqa: E402
import report  # noqa: E402
import rows  # noqa: E402
import setup_env  # noqa: E402
import startup_trace  # noqa: E402
from report import cells, ratio, table, Target  # noqa: E402

WORK = os.environ.get("SING_BENCH_WORK", "/tmp/sing-bench-work")
REG_DIR = os.path.join(bench_images.CACHE, "registry")


class Results:
    """Row results by key; a failed or impossible row is kept as "n/a: why"."""

    def __init__(self):
        self.r, self.failures = {}, []

    def measure(self, key, fn, *args, ours=True):
        t0 = time.monotonic()
        print(f"bench: {key} ...", end="", flush=True)
        try:
            self.r[key] = fn(*args)
            print(f" {time.monotonic() - t0:.1f}s", flush=True)
        except rows.NA as e:
            self.r[key] = f"n/a: {e}"
            print(f" n/a: {e}", flush=True)
        except Exception as e:  # noqa: BLE001 - report and continue
            self.r[key] = f"n/a: failed: {str(e).splitlines()[0][:160] if str(e) else type(e).__name__}"
            print(" FAILED\n" + traceback.format_exc(limit=3), flush=True)
            if ours:
                self.failures.append(key)
        return self.r[key]

    def get(self, key, sub=None):
        v = self.r.get(key, "n/a: not run")
        if sub is not None and isinstance(v, dict):
            return v.get(sub, "n/a")
        return v


def start_registries(with_tls):
    reg = registry_mod.Registry(REG_DIR, "http").start()
    tls = None
    if with_tls:
        tls_dir = os.path.join(WORK, "registry-tls")
        os.makedirs(tls_dir, exist_ok=True)
        if not os.path.lexists(os.path.join(tls_dir, "data")):
            os.symlink(os.path.join(REG_DIR, "data"), os.path.join(tls_dir, "data"))
        tls = registry_mod.Registry(tls_dir, "https").start()
    return reg, tls


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--smoke", action="store_true",
                    help="tiny image, one run of each row, no peer installs (CI)")
    ap.add_argument("--runs", type=int, default=5, help="runs per row (default 5)")
    ap.add_argument("--only", choices=sorted(ONLY),
                    help="only one group of rows (for development; no peers): "
                    + "; ".join(f"{k}: {v}" for k, v in sorted(ONLY.items())))
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (it installs packages, a setuid starter, drops caches)")
    runs = 1 if a.smoke else a.runs
    startups = 3 if a.smoke else 10 * runs
    t_start = time.monotonic()

    def phase(what):
        print(f"bench: [{time.monotonic() - t_start:6.1f}s] {what}", flush=True)

    phase("packages")
    missing_peers = setup_env.install_packages(with_peers=not a.smoke and not a.only)
    phase("building and installing into " + setup_env.PREFIX)
    prefix = setup_env.build_and_install()
    measure.ensure_user()
    if os.path.exists("/dev/fuse"):
        os.chmod("/dev/fuse", 0o666)
    drop = measure.drop_caches_allowed()
    shutil.rmtree(WORK, ignore_errors=True)
    measure.make_user_dir(WORK)

    phase("images")
    if a.smoke:
        images = {"small": ("bench/tiny", bench_images.tiny_image())}
    else:
        images = {"small": ("bench/debian", bench_images.debian_image()),
                  "big": ("bench/big", bench_images.big_image())}
    if a.only and a.only != "rss":
        images = {"small": images["small"]}
    reg, reg_tls = start_registries(with_tls=bool(shutil.which("ch-image")) and not a.only)
    try:
        for name, (repo, img) in images.items():
            print(f"bench: pushing {repo} ({len(img.layers)} layers)", flush=True)
            imagetools.push_image(reg, repo, "latest", img)
        phase("rows")
        c = rows.Ctx(prefix, WORK, reg, reg_tls, runs, drop, startups)
        res = Results()
        if a.only:
            run_only(a.only, res, c, images)
        else:
            run_rows(res, c, images, a.smoke)
    finally:
        reg.stop()
        if reg_tls:
            reg_tls.stop()
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    if a.only:
        text = render_only(a.only, res, images, c, a, drop, time.monotonic() - t_start)
        out = os.path.join(HERE, "results",
                           f"only-{a.only}{'-smoke' if a.smoke else ''}.md")
    else:
        text = render(res, images, c, a, missing_peers, drop, time.monotonic() - t_start)
        out = os.path.join(HERE, "results", "smoke.md" if a.smoke else "latest.md")
    with open(out, "w") as f:
        f.write(text)
    print("\n" + text)
    print(f"bench: written to {out}")
    if res.failures:
        print("bench: FAILED rows of ours: " + ", ".join(res.failures))
        return 1
    return 0


def run_rows(res, c, images, smoke):
    repo, img = images["small"]
    sif = None
    if isinstance(res.measure("pull_cold", rows.pull_cold, c, repo, "small"), tuple):
        res.r["pull_cold"], sif = res.r["pull_cold"]
    res.measure("pull_warm", rows.pull_warm, c, repo, "small")
    res.measure("pull_cold_tls", rows.pull_https, c, repo, "small")
    res.measure("recipe_build", rows.recipe_build, c, repo, "small")
    res.measure("res_small", rows.pull_resources, c, repo, "small", 1 if smoke else 2)
    tree = os.path.join(c.work, "floor-tree")
    res.measure("floor", rows.floor, c, img, tree)
    res.measure("skopeo", rows.skopeo_pipeline, c, repo, ours=False)
    res.measure("ch_image", rows.ch_image_pipeline, c, repo, ours=False)
    res.measure("concurrent", rows.concurrent_pulls, c, repo)
    if isinstance(res.get("concurrent"), tuple):
        res.r["concurrent"], res.r["concurrent_gets"] = res.r["concurrent"]
    # Start-up.
    if sif:
        res.measure("exec_setuid", rows.startup, c, [c.sing(), "exec", sif, "/bin/true"])
        res.measure("exec_100k", lambda: rows.startup(
            c, [c.sing(), "exec", sif, "/bin/true"], cwd=rows.many_files_dir(c)))
        res.r["nofile"] = rows.nofile_limit()
        res.measure("exec_nofile", rows.startup, c, [c.sing(), "exec", sif, "/bin/true"],
                    None, res.r["nofile"])

        def unpriv():
            with setup_env.Unprivileged(c.prefix):
                return rows.startup(c, [c.sing(), "exec", sif, "/bin/true"])
        res.measure("exec_unpriv", unpriv)
        res.measure("run_hit", rows.run_cache_hit, c, repo, img.manifest_digest)
        startup_paths(res, c, sif, repo, smoke)
        trace_rows(res, c, sif, smoke)
        res.measure("disk_pull", rows.disk_after_pull, c, repo)
    res.measure("ch_run", rows.ch_run, c, tree, ours=False)
    # The peer under the 64-concurrent target: what the 2 cores allow it.
    if not shutil.which("ch-run"):
        res.r["conc_ch_run"] = res.r["conc_ch_run_cpu"] = "n/a: ch-run not installed"
    elif isinstance(res.get("conc_n"), int):
        res.measure("conc_ch_run", rows.concurrent_execs, c, ["ch-run", tree, "--", "/bin/true"],
                    res.r["conc_n"], ours=False)
        if isinstance(res.get("conc_ch_run"), tuple):
            res.r["conc_ch_run"], res.r["conc_ch_run_cpu"] = res.r["conc_ch_run"]
        else:
            res.r["conc_ch_run_cpu"] = res.r["conc_ch_run"]
    if not hasattr(rows, "recipe_build"):  # the apps helper's row, if merged, wins
        res.measure("recipe", rows.recipe_vs_pull, c, repo)
    if "big" in images:
        brepo, bimg = images["big"]
        res.measure("res_big", rows.pull_resources, c, brepo, "big", min(c.runs, 3))
        bsif = os.path.join(c.out, "big.sif")
        res.measure("big_pull_for_exec", lambda: measure.run(
            [c.sing(), "pull", "--force", "--name", bsif, "docker://" + rows.ref(c.reg, brepo)],
            env=c.env()))
        res.measure("exec_big", rows.startup, c, [c.sing(), "exec", bsif, "/bin/true"])


def pull_sif(c, repo, name):
    """A SIF of repo in the output directory, pulled once (not timed)."""
    out = os.path.join(c.out, name + ".sif")
    measure.run([c.sing(), "pull", "--force", "--name", out, "docker://" + rows.ref(c.reg, repo)],
                env=c.env(), cwd=c.out)
    return out


def env_rows(res, c, sif):
    """The environment evaluation (rows.env_eval_cost): sif's file system
    with and without its env files, packed alike."""
    res.measure("env_eval", lambda: rows.env_eval_cost(c, *rows.squashfs_pair(sif, c.out)))


# --only GROUP: the rows of one group, for development (the full bench needs
# 9 minutes and a quiet machine). Each needs only the small image's SIF.
ONLY = {"env": "the environment evaluation: exec against the same file system without env "
               "files, overrides evaluated against --no-eval, and through /bin/sh",
        "recipe": "the cold pull and the recipe build rows (empty cache, blobs cached, after "
                  "a pull), with the recipe target",
        "rss": "the sampled cold pulls of the small and the big image (peak RSS, disk, "
               "cores), with the RSS targets",
        "trace": "where a start-up's time goes, from tracefs: each process's start and CPU, "
                 "the FUSE requests by kind and their waits, the loop device's requests (FUSE setuid, "
                 "kernel squashfs, FUSE unprivileged)"}


def run_only(group, res, c, images):
    repo, _ = images["small"]
    if group == "env":
        env_rows(res, c, pull_sif(c, repo, "small"))
    elif group == "recipe":
        if isinstance(res.measure("pull_cold", rows.pull_cold, c, repo, "small"), tuple):
            res.r["pull_cold"] = res.r["pull_cold"][0]
        res.measure("recipe_build", rows.recipe_build, c, repo, "small")
    elif group == "trace":
        trace_rows(res, c, pull_sif(c, repo, "small"), False)
    elif group == "rss":
        res.measure("res_small", rows.pull_resources, c, repo, "small", min(c.runs, 2))
        if "big" in images:
            res.measure("res_big", rows.pull_resources, c, images["big"][0], "big",
                        min(c.runs, 3))


def render_only(group, res, images, c, a, drop, elapsed):
    repo, _ = images["small"]
    what = (f"Image `{repo}`, and its file system without /.singularity.d/env. "
            f"Start-up rows: {c.startups} invocations each, the variants in turn. "
            if group == "env" else
            f"Image `{repo}`. " if group == "trace" else
            f"Image `{repo}`, {c.runs} runs per row, page cache dropped before each: "
            f"{'yes' if drop else 'NO'}. ")
    L = [f"# Benchmark results, rows `{group}` only{' (smoke)' if a.smoke else ''}\n",
         what + f"Load average at the end: {os.getloadavg()[0]:.1f}. "
         f"Bench wall time {elapsed / 60:.1f} min.\n"]
    if group == "env":
        L.append(table(["row", "median", "min", "max", "n"],
                       [[n] + cells(s, "ms") for n, s in env_table_rows(res)]))
        L.append("")
        L.append(table(["target", "measured", "limit", "verdict"],
                       [t.row() for t in env_targets(res)]))
    elif group == "trace":
        L += trace_section(res)
    elif group == "rss":
        L += resources_section(res, repo, images)
        L.append(table(["target", "measured", "limit", "verdict"],
                       [t.row() for t in rss_targets(res, images)]))
    elif group == "recipe":
        g, cold = res.get, res.get("pull_cold")
        named = [("ours: cold pull -> SIF (empty cache)", cold),
                 ("ours: recipe build, trivial %post (empty cache)", g("recipe_build", "cold")),
                 ("ours: recipe build again (blobs cached, no SIF)", g("recipe_build", "again")),
                 ("ours: recipe build after a pull (base SIF cached)",
                  g("recipe_build", "after_pull"))]
        L.append(table(["row", "median", "min", "max", "n", "÷ cold pull"],
                       [[n] + cells(s) + [ratio(s, cold)] for n, s in named]))
        L.append("")
        L.append(table(["target", "measured", "limit", "verdict"],
                       [Target("recipe build (empty cache) ÷ cold pull",
                               _r(g("recipe_build", "cold"), cold), 1.3, "x").row()]))
    return "\n".join(L) + "\n"


def env_table_rows(res):
    def e(k):
        v = res.get("env_eval")
        return v[k] if isinstance(v, dict) else v
    over = (f"{len(rows.ENV_OVERRIDES)} SINGULARITYENV_ (with $VAR), "
            f"{len(rows.ENV_FLAGS) // 2} --env, an --env-file of "
            f"{rows.ENV_FILE.count(chr(10))} lines")
    return [("exec IMAGE.sqfs, setuid default: env files evaluated by the starter", e("direct")),
            ("exec the same file system without env files (packed alike)", e("noenv")),
            (f"exec IMAGE.sqfs, overrides ({over})", e("over")),
            ("exec IMAGE.sqfs, the same overrides, `--no-eval`", e("over_noeval")),
            ("exec IMAGE.sqfs through /bin/sh (an override only the shell evaluates)",
             e("shell"))]


def env_targets(res):
    v = res.get("env_eval")
    T = []
    for name, a, b in (("environment evaluation: exec − the same without env files",
                        "direct", "noenv"),
                       ("environment evaluation with overrides − without env files",
                        "over", "noenv"),
                       ("overrides evaluated − the same `--no-eval`", "over", "over_noeval")):
        if isinstance(v, str):
            T.append(Target(name, v, 1, " ms"))
            continue
        T.append(Target(name + " (ms, medians)", _ms_diff(v[a], v[b]), 1, " ms"))
        # On a loaded machine the medians wander more than this cost: the
        # difference of the fastest runs, and the median of the differences
        # of invocations run one after the other, are steadier estimates.
        T.append(Target(name + " (ms, minima)", (v[a].min - v[b].min) * 1000, 1, " ms"))
        paired = statistics.median(x - y for x, y in zip(v[a].samples, v[b].samples))
        T.append(Target(name + " (ms, median of paired differences)", paired * 1000, 1, " ms"))
    return T


def startup_paths(res, c, sif, repo, smoke):
    """Issue 17: exec through each mount path and its peer on the same file
    system, the environment evaluation, the seccomp filter, 64 at once."""
    exe = [c.sing(), "exec", sif, "/bin/true"]
    # A limit option makes iflimited choose the kernel driver (SIF under c.work).
    kernel = {"limit container paths": c.work}
    with setup_env.Conf(c.prefix, kernel):
        res.measure("exec_kernel", rows.startup, c, exe)
    env_rows(res, c, sif)
    sqfs = rows.squashfs_of_sif(sif, os.path.join(c.out, "same.sqfs"))
    res.measure("ch_run_sqfs", rows.ch_run_sqfs, c, sqfs, ours=False)
    # The floors are this project's own programs: a failure is a bench bug
    # (the smoke run in CI fails on it), not a missing peer.
    res.measure("kernel_floor", rows.kernel_mount_floor, c, setup_env.SRC, sqfs)
    # The FUSE targets again, each exec run in turn with ch-run.
    res.measure("fuse_in_turn", rows.in_turn_with_ch_run_sqfs, c, sif, sqfs)

    def unpriv_in_turn():
        with setup_env.Unprivileged(c.prefix):
            return rows.in_turn_with_ch_run_sqfs(c, sif, sqfs)
    res.measure("fuse_unpriv_in_turn", unpriv_in_turn)
    res.measure("seccomp", rows.seccomp_filter_cost, c, setup_env.SRC)
    res.measure("process_floor", rows.process_floor, c, setup_env.SRC)
    n = 8 if smoke else 64
    res.r["conc_n"] = n
    with setup_env.Conf(c.prefix, dict(kernel, **{"shared loop devices": "yes"})):
        res.measure("conc_exec", rows.concurrent_execs, c, exe, n)
    if isinstance(res.get("conc_exec"), tuple):
        res.r["conc_exec"], res.r["conc_exec_cpu"] = res.r["conc_exec"]
    # The kernel path again, its mount kept between runs (singularity.conf).
    linger = dict(kernel, **{"shared loop devices": "yes", "squashfs mount linger": "2"})
    with setup_env.Conf(c.prefix, linger):
        res.measure("exec_kernel_linger", rows.startup, c, exe)
    time.sleep(3)  # the last run's mount goes before the next rows


# Where a start-up's time goes (bench/startup_trace.py): one traced batch per
# mount path, after the timed rows (tracing slows what it watches).
TRACED = (("trace_fuse", "FUSE, setuid default"), ("trace_kernel", "kernel squashfs"),
          ("trace_unpriv", "FUSE, unprivileged"))


def trace_rows(res, c, sif, smoke):
    exe = [c.sing(), "exec", sif, "/bin/true"]
    n = 3 if smoke else 20

    def traced():
        try:
            return startup_trace.trace_execs(exe, c.env(), n, cwd=c.out)
        except startup_trace.Unavailable as e:
            raise rows.NA(str(e)) from None
    res.measure("trace_fuse", traced)
    with setup_env.Conf(c.prefix, {"limit container paths": c.work}):
        res.measure("trace_kernel", traced)
    with setup_env.Unprivileged(c.prefix):
        res.measure("trace_unpriv", traced)


def trace_section(res):
    """The traced batches side by side: medians per exec."""
    got = [(k, name, res.get(k)) for k, name in TRACED]
    if not any(isinstance(v, dict) for _, _, v in got):
        return []
    sums = {k: {what: (v, unit) for what, v, unit in startup_trace.summary(t)}
            for k, _, t in got if isinstance(t, dict)}
    order = []
    for k, _, _ in got:
        for what in sums.get(k, {}):
            if what not in order:
                order.append(what)
    # Each column lists its own processes and FUSE kinds: the starts first,
    # then the CPU rows, the FUSE totals, the kinds, the loop device's rows.
    def rank(what):
        for i, prefix in enumerate(("CPU", "FUSE", "  ", "loop")):
            if what.startswith(prefix):
                return i + 1
        return 0
    order.sort(key=rank)

    def cell(k, what):
        if k not in sums:
            return str(res.get(k))[:60]
        if what not in sums[k]:
            return ""
        v, unit = sums[k][what]
        return f"{v:.2f} {unit}" if unit else f"{v:g}"
    n = max(len(t["runs"]) for _, _, t in got if isinstance(t, dict))
    L = ["## Where a start-up's time goes (tracefs, `bench/startup_trace.py`)\n",
         f"`exec SIF /bin/true`, {n} traced runs per mount path, medians per exec; tracing "
         "slows the start-up, so these are counts and shares, not the timed rows. A FUSE "
         "request waits from the kernel's send to the server's reply; FUSE_INIT is the "
         "starter's wait for the server to start; RELEASE is sent asynchronously, its wait blocks "
         "no one. CPU is the scheduler's runtime updates charged to the program each task "
         "ran: the frontend, which usually ends without a tick or a switch, is charged to the "
         "starter it execs, and a forked child that never execs (the kernel path's read-ahead) "
         "to its parent's program.\n",
         table(["what"] + [name for _, name, _ in got],
               [[w] + [cell(k, w) for k, _, _ in got] for w in order]), ""]
    return L


def render(res, images, c, a, missing_peers, drop, elapsed):
    g = res.get
    small_repo, small_img = images["small"]
    unpacked = bench_images.unpacked_size(small_img)
    comp = sum(l.size for l in small_img.layers)
    L = []
    L.append(f"# Benchmark results{' (smoke)' if a.smoke else ''}\n")
    v = setup_env.tool_versions()
    L.append(f"Machine: {v['cpu']}, {v['cores']} cores, kernel {v['kernel']}; "
             f"{v['mksquashfs'].split('(')[0].strip()}; skopeo {v['skopeo'].split()[-1]}; "
             f"umoci {v['umoci'].split()[-1]}; {v['ch-run']}. "
             f"Runs per row: {c.runs} (start-up rows: {c.startups} invocations). "
             f"Page cache dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`) before every "
             f"pull-type run: {'yes' if drop else 'NO (not allowed here)'}. "
             f"Bench wall time {elapsed / 60:.1f} min.\n")
    L.append(f"Image `{small_repo}`: {len(small_img.layers)} layers, {comp / 2**20:.0f} MiB "
             f"compressed (gzip), {unpacked / 2**20:.0f} MiB unpacked (tar bytes).")
    if "big" in images:
        brepo, bimg = images["big"]
        L.append(f" Image `{brepo}`: {len(bimg.layers)} layers, "
                 f"{sum(l.size for l in bimg.layers) / 2**20:.0f} MiB compressed, "
                 f"{bench_images.unpacked_size(bimg) / 2**20:.0f} MiB unpacked.")
    if missing_peers:
        L.append(f"\nPeers not installed: {', '.join(missing_peers)}.")
    L.append("")

    floor = g("floor", "total")
    sk, ch = g("skopeo"), g("ch_image")
    sk_d = sk["total_default"] if isinstance(sk, dict) else sk
    sk_z = sk["total_zstd"] if isinstance(sk, dict) else sk
    ch_t = ch["total"] if isinstance(ch, dict) else ch
    cold = g("pull_cold")

    def prow(name, stat, peer_cols=True):
        r = [name] + cells(stat) + [ratio(stat, floor)]
        if peer_cols:
            r += [ratio(cold, stat) if stat is not cold else "-"]
        return r

    L.append(f"## Pull to a squashfs image (`{small_repo}`), wall time\n")
    pr = [prow("**ours: cold pull -> SIF** (empty cache)", cold),
          prow("ours: warm pull (blobs cached, no SIF)", g("pull_warm")),
          prow("ours: cold pull over HTTPS (as ch-image)", g("pull_cold_tls")),
          prow("ours: recipe build, trivial %post (empty cache)", g("recipe_build", "cold")),
          prow("ours: recipe build again (blobs cached, no SIF)", g("recipe_build", "again")),
          prow("ours: recipe build after a pull (base SIF cached)",
               g("recipe_build", "after_pull")),
          prow("floor: decompress all layers (pigz -dc, in parallel)", g("floor", "decompress")),
          prow("floor: mksquashfs final tree, zstd 3, all cores", g("floor", "squash")),
          prow("**floor total**", floor),
          prow("skopeo copy", g("skopeo", "skopeo")),
          prow("umoci unpack --rootless", g("skopeo", "umoci")),
          prow("mksquashfs defaults (gzip)", g("skopeo", "mksq_default")),
          prow("mksquashfs -comp zstd -Xcompression-level 3", g("skopeo", "mksq_zstd")),
          prow("**skopeo+umoci+mksquashfs defaults**", sk_d),
          prow("**skopeo+umoci+mksquashfs zstd 3**", sk_z),
          prow("ch-image pull (HTTPS, --tls-no-verify)", g("ch_image", "pull")),
          prow("ch-convert -o squash (gzip, -b 64K)", g("ch_image", "convert")),
          prow("**ch-image pull + ch-convert**", ch_t)]
    L.append(table(["row", "median", "min", "max", "n", "÷ floor", "ours cold ÷ row"], pr))
    sizes = []
    if sif_size_ok(c):
        sizes.append(f"our SIF {os.path.getsize(os.path.join(c.out, 'small.sif')) / 2**20:.1f} MiB")
    if isinstance(g("floor"), dict):
        sizes.append(f"floor squashfs {g('floor')['size'] / 2**20:.1f} MiB")
    if isinstance(sk, dict):
        sizes.append(f"mksquashfs defaults {sk['sizes']['mksq_default'] / 2**20:.1f} MiB, "
                     f"zstd 3 {sk['sizes']['mksq_zstd'] / 2**20:.1f} MiB")
    if isinstance(ch, dict):
        sizes.append(f"ch-convert {ch['size'] / 2**20:.1f} MiB")
    L.append("\nOutput sizes: " + "; ".join(sizes) + ".\n")

    L.append("## Start-up (`/bin/true`), wall time per invocation\n")
    chr_ = g("ch_run")
    rh = g("run_hit")
    rh_get = (lambda k: rh[k]) if isinstance(rh, dict) else (lambda k: rh)
    sc = g("seccomp")
    sc_get = (lambda k: sc[k]) if isinstance(sc, dict) else (lambda k: sc)
    st = [("**exec SIF, setuid, default install (FUSE server under `iflimited`)**",
           g("exec_setuid")),
          ("**exec SIF, setuid, kernel squashfs (`limit container paths` set)**",
           g("exec_kernel")),
          ("floor of the kernel path: loop device, fresh squashfs mount of the same file "
           "system, chroot, exec /bin/true, as root, nothing else (bench/kernel_mount_floor.c)",
           g("kernel_floor")),
          ("**exec SIF, setuid, kernel squashfs, `shared loop devices = yes`, "
           "`squashfs mount linger = 2`**", g("exec_kernel_linger")),
          (f"{g('conc_n')} concurrent exec SIF, kernel squashfs, `shared loop devices = yes`: "
           "each one's wall time", g("conc_exec")),
          (f"{g('conc_n')} concurrent exec SIF, same: each one's CPU time (user + system, "
           "whole process tree)", g("conc_exec_cpu")),
          (f"{g('conc_n')} concurrent ch-run DIR /bin/true (peer): each one's wall time",
           g("conc_ch_run")),
          (f"{g('conc_n')} concurrent ch-run DIR /bin/true (peer): each one's CPU time",
           g("conc_ch_run_cpu")),
          ("exec SIF, setuid, 1.5 GB image", g("exec_big")),
          ("exec SIF, setuid, cwd with 100k files", g("exec_100k")),
          (f"exec SIF, setuid, RLIMIT_NOFILE {g('nofile')}" + ("" if g("nofile") == 1 << 20 else
           " (hard limit here; 1M needs CAP_SYS_RESOURCE, absent in this container)"),
           g("exec_nofile")),
          ("**exec SIF, unprivileged (userns + FUSE server)**", g("exec_unpriv")),
          ("run docker://REF@sha256 (cache hit)", rh_get("digest")),
          ("run docker://REF:tag (cache hit)", rh_get("tag")),
          ("run CACHED.sif directly", rh_get("sif")),
          ("**ch-run DIR /bin/true** (peer)", chr_),
          ("**ch-run IMAGE.sqfs /bin/true** (peer; the SIF's own squashfs partition)",
           g("ch_run_sqfs")),
          *env_table_rows(res),
          ("tiny C program: no_new_privs + exec /bin/true", sc_get("none")),
          ("tiny C program: no_new_privs + the starter's seccomp filter + exec /bin/true",
           sc_get("filter")),
          *in_turn_rows(res),
          ("one process, no libc (exec and exit only)", g("process_floor", "nolibc")),
          ("one process, empty static glibc program", g("process_floor", "static")),
          ("one process, empty dynamic glibc program", g("process_floor", "dynamic"))]
    L.append(table(["row", "median", "min", "max", "n", "÷ ch-run", "÷ ch-run sqfs",
                    "÷ exec setuid"],
                   [[n] + cells(s, "ms") + [ratio(s, chr_), ratio(s, g("ch_run_sqfs")),
                                            ratio(s, g("exec_setuid"))]
                    for n, s in st]))
    if isinstance(rh, dict):
        L.append(f"\nRegistry requests per cache-hit run: by digest {rh['digest_requests']:.1f} "
                 f"(manifests {rh['digest_manifest_requests']:.1f}); by tag "
                 f"{rh['tag_requests']:.1f} (manifests {rh['tag_manifest_requests']:.1f}; "
                 f"HEAD {rh['tag_HEAD']:.1f}, GET {rh['tag_GET']:.1f}).\n")
    dp = g("disk_pull")
    if isinstance(dp, dict):
        L.append(f"Disk after one cold pull (cache + output SIF): {dp['used'] / 2**20:.1f} MiB; "
                 f"blobs + one SIF: {dp['floor'] / 2**20:.1f} MiB ({dp['ratio']:.2f}x). "
                 f"Reflinks (FICLONE) in the output directory: "
                 f"{'yes' if dp['reflink'] else 'no (this file system cannot share extents)'}; "
                 f"the output is {dp.get('layout', 'a copy')} of the cached SIF.\n")

    L += resources_section(res, small_repo, images)

    L.append("## 8 concurrent pulls of one image into one empty cache\n")
    conc, gets = g("concurrent"), g("concurrent_gets")
    nblobs = len(small_img.layers) + 1
    L.append(table(["row", "median", "min", "max", "n", "÷ single cold pull"],
                   [["8 pulls, wall until all done"] + cells(conc) + [ratio(conc, cold)],
                    [f"blob GETs served (image has {nblobs} blobs)"] + cells(gets) + [""]]))
    L.append("")

    L.append("## Targets (issue 5)\n")
    L.append(table(["target", "measured", "limit", "verdict"], [t.row() for t in targets(res, images, floor, sk_z, cold, chr_, nblobs)]))
    L.append("")
    L.append("## Targets (issue 17)\n")
    L.append(table(["target", "measured", "limit", "verdict"],
                   [t.row() for t in targets17(res, cold, chr_)]))
    L.append("")
    bound = concurrent_bound(res)
    if bound:
        L.append(bound + "\n")
    floor = process_floor_text(res)
    if floor:
        L.append(floor + "\n")
    kfloor = kernel_floor_text(res, chr_)
    if kfloor:
        L.append(kfloor + "\n")
    L += trace_section(res)
    return "\n".join(L) + "\n"


def sif_size_ok(c):
    return os.path.exists(os.path.join(c.out, "small.sif"))


def med(x):
    return x if isinstance(x, str) else x.median


def _r(a, b):
    if isinstance(a, str) or isinstance(b, str):
        return a if isinstance(a, str) else b
    return a.median / b.median


def targets(res, images, floor, sk_z, cold, chr_, nblobs):
    g = res.get
    T = [Target("cold pull ÷ floor", _r(cold, floor), 1.5, "x"),
         Target("cold pull ÷ skopeo+umoci+mksquashfs zstd 3", _r(cold, sk_z), 0.5, "x"),
         Target("warm pull ÷ floor", _r(g("pull_warm"), floor), 1.2, "x")]
    rh = g("run_hit")
    if isinstance(rh, dict):
        T.append(Target("run @digest: registry requests", rh["digest_requests"], 0, ""))
        T.append(Target("run @digest − run SIF (ms)",
                        (rh["digest"].median - rh["sif"].median) * 1000, 20, " ms"))
        T.append(Target("run :tag: manifest requests", rh["tag_manifest_requests"], 1, ""))
        T.append(Target("run :tag: all registry requests", rh["tag_requests"], 1, ""))
    else:
        T.append(Target("run docker:// cache hit", rh, 0))
    es = g("exec_setuid")
    T.append(Target("exec setuid ÷ ch-run", _r(es, chr_), 3, "x"))
    for key, label in (("exec_big", "1.5 GB image"), ("exec_100k", "100k files in cwd"),
                       ("exec_nofile", f"RLIMIT_NOFILE {g('nofile')}")):
        if key == "exec_big" and "big" not in images:
            continue
        v = g(key)
        # "No growth": within 10% or 1 ms of the 300 MB median, whichever is larger.
        if isinstance(v, str) or isinstance(es, str):
            T.append(Target(f"exec growth, {label}", v if isinstance(v, str) else es, 0))
        else:
            T.append(Target(f"exec growth, {label} (ms over base; limit max(1 ms, 10%))",
                            (v.median - es.median) * 1000, max(1.0, es.median * 100), " ms"))
    eu = g("exec_unpriv")
    T.append(Target("exec unprivileged (ms)", med(eu) * 1000 if not isinstance(eu, str) else eu,
                    35, " ms"))
    rb = g("res_big")
    if "big" in images:
        if isinstance(rb, dict):
            T += rss_targets(res, images)
            big_unpacked = bench_images.unpacked_size(images["big"][1])
            T.append(Target("1.5 GB pull: temp disk ÷ unpacked size",
                            rb["temp_disk"].median / big_unpacked, 1, "x"))
            T.append(Target("1.5 GB pull: idle core share (1 − cpu/wall/cores)",
                            1 - rb["cpu_busy"].median / (os.cpu_count() or 2), 0.5, "x"))
        else:
            T.append(Target("1.5 GB pull resources", rb, 0))
    conc = g("concurrent")
    T.append(Target("8 concurrent pulls ÷ single pull", _r(conc, cold), 1.5, "x"))
    gets = g("concurrent_gets")
    T.append(Target("8 concurrent pulls: blob GETs ÷ blobs",
                    gets if isinstance(gets, str) else gets.max / nblobs, 1, "x"))
    return T


def resources_section(res, small_repo, images):
    """The sampled cold pulls of the small and the big image."""
    L = []
    L.append("## Resources of a cold pull (sampled every 50 ms)\n")
    rr = []
    for key, label in (("res_small", small_repo), ("res_big", "bench/big")):
        r = res.get(key)
        if isinstance(r, str):
            if key == "res_big" and "big" not in images:
                continue
            rr.append([label, r, "", "", "", "", "", ""])
            continue
        rr.append([label, " / ".join(cells(r["secs"])[:3]), " / ".join(cells(r["peak_rss"])[:3]),
                   " / ".join(cells(r["peak_rss_bound"])[:3]),
                   " / ".join(cells(r["max_rss_one"])[:3]) + " (" + ", ".join(r["max_rss_one_name"])
                   + ")", " / ".join(cells(r["temp_disk"])[:3]),
                   " / ".join(cells(r["cpu_busy"])[:3]), str(len(r["secs"]))])
    L.append(table(["image", "wall (med / min / max)", "peak RSS, whole tree (sum)",
                    "sum of the live processes' own peaks (VmHWM; upper bound)",
                    "largest process (VmHWM)", "temp disk (peak - final)", "cores busy (cpu/wall)",
                    "n"], rr))
    L.append("\nTemp disk counts cache, output dir and TMPDIR; the final SIF and cached blobs "
             "are not temporary. RSS counts file pages mapped as well as anonymous memory.\n")
    return L


def rss_targets(res, images):
    rb = res.get("res_big")
    if "big" not in images or not isinstance(rb, dict):
        return [Target("1.5 GB pull: peak RSS, whole tree (MiB)",
                       rb if isinstance(rb, str) else "not run", 100)]
    return [Target("1.5 GB pull: peak RSS, whole tree (MiB)", rb["peak_rss"].median / 2**20,
                   100, " MiB"),
            Target("1.5 GB pull: sum of the live processes' own peaks (MiB; upper bound)",
                   rb["peak_rss_bound"].median / 2**20, 100, " MiB")]


def _ms_diff(a, b):
    if isinstance(a, str) or isinstance(b, str):
        return a if isinstance(a, str) else b
    return (a.median - b.median) * 1000


IN_TURN = (("fuse_in_turn", "setuid default (FUSE)"), ("fuse_unpriv_in_turn", "unprivileged (FUSE)"))


def in_turn_rows(res):
    rows_ = []
    for key, what in IN_TURN:
        rows_ += [(f"exec SIF, {what}, run in turn with ch-run IMAGE.sqfs", res.get(key, "ours")),
                  ("ch-run IMAGE.sqfs, run in turn with the row above", res.get(key, "peer"))]
    return rows_


def in_turn_targets(res):
    T = []
    for key, what in IN_TURN:
        T.append(Target(f"exec {what} ÷ ch-run IMAGE.sqfs, run in turn",
                        _r(res.get(key, "ours"), res.get(key, "peer")), 1, "x"))
    return T


def process_floor_text(res):
    """What a process start costs here, in words: the chains of processes
    each start-up row runs are made of them."""
    pf = res.get("process_floor")
    if not isinstance(pf, dict):
        return ""
    glibc = (pf["static"].median - pf["nolibc"].median) * 1000
    glibc_min = (pf["static"].min - pf["nolibc"].min) * 1000
    cpuid = (f"; one CPUID instruction takes {pf['cpuid_us']:.1f} µs here"
             if pf.get("cpuid_us") is not None else "")
    return (f"One process start on this machine: {pf['nolibc'].median * 1000:.2f} ms without "
            f"libc, {glibc:.2f} ms more with static glibc (minima: {glibc_min:.2f} ms), whose "
            f"start-up probes the CPU with CPUID{cpuid}. `exec` through the kernel driver runs "
            f"three glibc processes (frontend, starter, program), through FUSE four (the "
            f"server beside the starter); `ch-run` runs two.")


def kernel_floor_text(res, chr_):
    """How much of the kernel target the kernel's own work leaves."""
    kf, ours = res.get("kernel_floor"), res.get("exec_kernel")
    if isinstance(kf, str) or isinstance(ours, str) or isinstance(chr_, str):
        return ""
    return (f"The kernel path's floor (a fresh squashfs mount and exec, nothing else) is "
            f"{kf.median * 1000:.1f} ms, {kf.median / chr_.median:.2f}x `ch-run DIR`: of the "
            f"target's 3x, {(3 * chr_.median - kf.median) * 1000:.1f} ms are left for "
            f"everything else (frontend, starter, checks, binds, environment); the exec takes "
            f"{(ours.median - kf.median) * 1000:.1f} ms more than the floor "
            f"({ours.median / kf.median:.2f}x it).")


def concurrent_bound(res):
    """What the machine allows the concurrent row: n execs started at once,
    each needing CPU time c, on k cores: the i-th to end cannot end before
    i*c/k (no schedule does more work per second than k cores), so the
    median one is at least ceil(n/2)*c/k after the start."""
    g = res.get
    cpu, single, n = g("conc_exec_cpu"), g("exec_kernel"), g("conc_n")
    if isinstance(cpu, str) or isinstance(single, str) or not isinstance(n, int):
        return ""
    cores = os.cpu_count() or 1
    bound = -(-n // 2) * cpu.median / cores
    return (f"Lower bound of the {n}-concurrent median on this machine ({cores} cores): "
            f"ceil({n}/2) x {cpu.median * 1000:.1f} ms CPU per exec (median) / {cores} cores = "
            f"{bound * 1000:.0f} ms = {bound / single.median:.2f}x the single exec; the "
            f"target's 2x needs the CPU per exec below "
            f"{2 * single.median * cores / -(-n // 2) * 1000:.2f} ms on {cores} cores."
            + concurrent_peer(res))


def concurrent_peer(res):
    """The same n-at-once run of the peer, measured against its own single
    run: whether the 2x target is within any runtime's reach here."""
    g = res.get
    peer, single, cpu = g("conc_ch_run"), g("ch_run"), g("conc_ch_run_cpu")
    if isinstance(peer, str) or isinstance(single, str) or isinstance(cpu, str):
        return ""
    return (f" The peer, {g('conc_n')} `ch-run DIR /bin/true` at once: median "
            f"{peer.median * 1000:.0f} ms, {peer.median / single.median:.2f}x its single run, "
            f"with {cpu.median * 1000:.1f} ms CPU each.")


def targets17(res, cold, chr_):
    g = res.get
    T = [Target("exec kernel squashfs ÷ ch-run DIR", _r(g("exec_kernel"), chr_), 3, "x"),
         Target("exec kernel squashfs, squashfs mount linger = 2 ÷ ch-run DIR",
                _r(g("exec_kernel_linger"), chr_), 3, "x"),
         Target("exec setuid default (FUSE) ÷ ch-run IMAGE.sqfs",
                _r(g("exec_setuid"), g("ch_run_sqfs")), 1, "x"),
         Target("exec unprivileged (FUSE) ÷ ch-run IMAGE.sqfs",
                _r(g("exec_unpriv"), g("ch_run_sqfs")), 1, "x"),
         *in_turn_targets(res),
         Target(f"{g('conc_n')} concurrent execs: median ÷ single exec (kernel squashfs)",
                _r(g("conc_exec"), g("exec_kernel")), 2, "x")]
    rh = g("run_hit")
    if isinstance(rh, dict):
        T += [Target("cached run :tag: HEAD requests", rh["tag_HEAD"], 1, ""),
              Target("cached run :tag: GET requests", rh["tag_GET"], 0, ""),
              Target("cached run @digest: requests", rh["digest_requests"], 0, "")]
    else:
        T.append(Target("cached run requests", rh, 0))
    # Measured whatever the file system: a reflink, else a hard link
    # between the cached SIF and the output keeps the image once.
    dp = g("disk_pull")
    T.append(Target("disk after pull ÷ (blobs + one SIF)",
                    dp["ratio"] if isinstance(dp, dict) else dp, 1.05, "x"))
    if "recipe_build" in res.r:
        T.append(Target("recipe build (empty cache) ÷ cold pull",
                        _r(g("recipe_build", "cold"), cold), 1.3, "x"))
    elif "recipe" in res.r:
        T.append(Target("recipe build ÷ cold pull", _r(g("recipe"), cold), 1.3, "x"))
    T += env_targets(res)
    sc = g("seccomp")
    T.append(Target("seccomp filter: with − without, tiny C program (ms)",
                    _ms_diff(sc["filter"], sc["none"]) if isinstance(sc, dict) else sc, 1, " ms"))
    # On a loaded machine the medians wander more than these costs: the
    # difference of the fastest runs is the steadier estimate of the work.
    v = sc if isinstance(sc, str) else (sc["filter"].min - sc["none"].min) * 1000
    T.append(Target("seccomp filter: same, difference of the minima (ms)", v, 1, " ms"))
    return T


if __name__ == "__main__":
    sys.exit(main())
