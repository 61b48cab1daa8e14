"""HPC rows of issue 15, on one node, as the bench user:

  - `srun -n 16|32 singularity exec IMG /bin/true` against `srun -n 16|32
    /bin/true` (the launcher's own cost), on a single-node Slurm started
    for the run (tests/integration/slurm.py);
  - 64 concurrent `exec IMG /bin/true` with `shared loop devices = no|yes`:
    wall time and the most loop devices attached at once;
  - registry requests of one `run docker://REF:tag` already in the cache
    (target: 1 HEAD, 0 GET).

Run as root with an installed prefix (setuid starter):
    /usr/bin/python3 bench/hpc.py --prefix /tmp/sing-prefix [--runs 5]
Prints a markdown table and writes bench/results/hpc.md. Medians with min
and max; nothing here is asserted."""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import imagetools  # noqa: E402
import measure  # noqa: E402
import registry as registry_mod  # noqa: E402
import slurm as slurm_mod  # noqa: E402
from measure import Stat  # noqa: E402


def timed(args, env, runs, cwd=None):
    samples = []
    for _ in range(runs):
        t0 = time.monotonic()
        p = subprocess.run(measure.as_user(args), env=env, cwd=cwd, capture_output=True,
                           text=True)
        samples.append(time.monotonic() - t0)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {p.stderr.strip()[-400:]}")
    return Stat(samples)


def fmt(st):
    return f"{st.median * 1000:.0f} ms ({st.min * 1000:.0f}-{st.max * 1000:.0f})"


def loop_count():
    out = subprocess.run(["losetup", "-l", "-n", "-O", "NAME"], capture_output=True,
                         text=True).stdout
    return len(out.split())


def concurrent_execs(sing_env, image, n, runs):
    samples, peaks = [], []
    for _ in range(runs):
        base = loop_count()
        peak = [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], loop_count() - base)
                time.sleep(0.005)

        t = threading.Thread(target=sample)
        t.start()
        t0 = time.monotonic()
        procs = [subprocess.Popen(measure.as_user(["singularity", "exec", image, "/bin/true"]),
                                  env=sing_env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for _ in range(n)]
        errs = [p.communicate()[1] for p in procs]
        samples.append(time.monotonic() - t0)
        stop.set()
        t.join()
        peaks.append(peak[0])
        bad = [e for p, e in zip(procs, errs) if p.returncode != 0]
        if bad:
            raise RuntimeError(f"{len(bad)} of {n} execs failed: {bad[0][-300:]!r}")
    return Stat(samples), max(peaks)


def set_conf(conf, key, value):
    with open(conf) as f:
        lines = [l for l in f.read().splitlines() if not re.match(rf"\s*{key}\s*=", l)]
    with open(conf, "w") as f:
        f.write("\n".join(lines + [f"{key} = {value}"]) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prefix", default="/tmp/sing-prefix")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/hpc.py: run as root")
    work = tempfile.mkdtemp(prefix="sing-bench-hpc-")
    os.chmod(work, 0o755)
    measure.chown_user(work)
    env = measure.user_env(a.prefix, {"SINGULARITY_CACHEDIR": os.path.join(work, "cache"),
                                      "SINGULARITY_NOHTTPS": "1"})
    conf = os.path.join(a.prefix, "etc", "singularity", "singularity.conf")
    with open(conf) as f:
        saved_conf = f.read()
    reg = registry_mod.Registry(os.path.join(work, "registry"), "http").start()
    cluster = None
    rows = []
    try:
        imagetools.push_image(reg, "bench/busybox", "latest", imagetools.busybox_image())
        uri = f"docker://{reg.hostport}/bench/busybox:latest"
        image = os.path.join(work, "img.sif")
        subprocess.run(measure.as_user(["singularity", "pull", "--name", image, uri]), env=env,
                       check=True, capture_output=True)

        try:
            cluster = slurm_mod.SlurmCluster(os.path.join(work, "slurm")).start()
            senv = dict(env, **cluster.env)
            # One warm-up of each: the first step of a new cluster is slow.
            timed(["srun", "-n", "2", "/bin/true"], senv, 1)
            timed(["srun", "-n", "2", "singularity", "exec", image, "/bin/true"], senv, 1)
            for n in (16, 32):
                floor = timed(["srun", "-n", str(n), "/bin/true"], senv, a.runs)
                ours = timed(["srun", "-n", str(n), "singularity", "exec", image, "/bin/true"],
                             senv, a.runs)
                rows.append((f"`srun -n {n}` exec `/bin/true` / `srun -n {n} /bin/true`",
                             f"{fmt(ours)} / {fmt(floor)}",
                             f"{(ours.median - floor.median) * 1000:+.0f} ms (medians)"))
        except slurm_mod.Unavailable as exc:
            rows.append(("`srun -n 16/32`", f"n/a: {str(exc)[:120]}", ""))

        for shared in ("no", "yes"):
            set_conf(conf, "shared loop devices", shared)
            st, peak = concurrent_execs(env, image, 64, a.runs)
            rows.append((f"64 concurrent exec, `shared loop devices = {shared}`", fmt(st),
                         f"loop devices attached at once: at most {peak}"))

        subprocess.run(measure.as_user(["singularity", "exec", uri, "/bin/true"]), env=env,
                       check=True, capture_output=True)
        before = reg.requests()
        for _ in range(a.runs):
            subprocess.run(measure.as_user(["singularity", "exec", uri, "/bin/true"]), env=env,
                           check=True, capture_output=True)
        time.sleep(0.3)
        new = reg.requests()[len(before):]
        per = {m: sum(1 for mm, _, _ in new if mm == m) / a.runs for m in ("HEAD", "GET")}
        rows.append(("registry requests per cached `run docker://REF:tag`",
                     f"{per['HEAD']:g} HEAD, {per['GET']:g} GET", "target: 1 HEAD, 0 GET"))
    finally:
        with open(conf, "w") as f:
            f.write(saved_conf)
        if cluster:
            cluster.stop()
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)
    md = [f"HPC rows (issue 15), {a.runs} runs each, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}", "", "| row | ours | note |", "|---|---|---|"]
    md += [f"| {r[0]} | {r[1]} | {r[2]} |" for r in rows]
    text = "\n".join(md) + "\n"
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "hpc.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
