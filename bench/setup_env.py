"""Bench set-up: Debian packages for the peers, and our tree built and
installed (starter setuid root) into a bench prefix."""
import os
import shutil
import subprocess

SRC = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BUILD = os.path.join(SRC, "build-bench")  # per tree: never a stale build of another checkout
PREFIX = os.environ.get("SING_BENCH_PREFIX", "/tmp/sing-prefix-bench")

# command -> Debian package. Needed by our own rows, then the peers.
NEEDED = {"mksquashfs": "squashfs-tools", "docker-registry": "docker-registry",
          "squashfuse": "squashfuse", "pigz": "pigz", "setpriv": "util-linux",
          "prlimit": "util-linux"}
PEERS = {"skopeo": "skopeo", "umoci": "umoci", "ch-run": "charliecloud-runtime",
         "ch-image": "charliecloud-builders", "ch-convert": "charliecloud-builders",
         "hyperfine": "hyperfine"}


def _missing(table):
    return sorted({pkg for cmd, pkg in table.items() if not shutil.which(cmd, path="/usr/bin:/usr/sbin:/bin:/sbin")})


def install_packages(with_peers):
    """apt-get install what is missing; returns the peers still missing."""
    pkgs = _missing(NEEDED) + (_missing(PEERS) if with_peers else [])
    if pkgs:
        print(f"bench: apt-get install {' '.join(pkgs)}", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + pkgs,
                           env=env, capture_output=True, text=True)
        if r.returncode != 0:
            print("bench: apt-get failed (peers may be missing): " + r.stderr[-400:])
    return [c for c in PEERS if not shutil.which(c, path="/usr/bin:/usr/sbin")]


def build_and_install():
    """meson setup (once) + ninja + meson install into PREFIX (the build is
    set to this run's PREFIX each time: SING_BENCH_PREFIX may have moved it)."""
    if not os.path.exists(os.path.join(BUILD, "build.ninja")):
        subprocess.run(["meson", "setup", BUILD, SRC, f"--prefix={PREFIX}",
                        f"--sysconfdir={PREFIX}/etc"], check=True, capture_output=True)
    else:
        subprocess.run(["meson", "configure", BUILD, f"-Dprefix={PREFIX}",
                        f"-Dsysconfdir={PREFIX}/etc"], check=True, capture_output=True)
    for cmd in (["ninja", "-C", BUILD], ["meson", "install", "-C", BUILD]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
    return PREFIX


def starter_path(prefix):
    return os.path.join(prefix, "libexec", "singularity", "starter")


class Unprivileged:
    """Context: the starter without its setuid bit, i.e. the unprivileged
    (user namespace + FUSE server) install; restored on exit."""

    def __init__(self, prefix):
        self.path = starter_path(prefix)

    def __enter__(self):
        self.mode = os.stat(self.path).st_mode
        os.chmod(self.path, self.mode & 0o777 & ~0o4000)
        return self

    def __exit__(self, *exc):
        os.chmod(self.path, self.mode & 0o7777)


def tool_versions():
    out = {}
    for name, cmd in (("kernel", ["uname", "-r"]), ("mksquashfs", ["mksquashfs", "-version"]),
                      ("skopeo", ["skopeo", "--version"]), ("umoci", ["umoci", "--version"]),
                      ("ch-run", ["ch-run", "--version"])):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10,
                               env=dict(os.environ, USER="root"))
            out[name] = (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            out[name] = "n/a"
    try:
        with open("/proc/cpuinfo") as f:
            out["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        out["cpu"] = "n/a"
    out["cores"] = str(os.cpu_count())
    return out


class Conf:
    """Context: singularity.conf of prefix with some directives set
    (`key = value`, replacing any line setting key); restored on exit."""

    def __init__(self, prefix, settings):
        self.path = os.path.join(prefix, "etc", "singularity", "singularity.conf")
        self.settings = settings

    def __enter__(self):
        import re
        with open(self.path) as f:
            self.saved = f.read()
        keys = [re.compile(rf"\s*{re.escape(k)}\s*=") for k in self.settings]
        lines = [l for l in self.saved.splitlines() if not any(k.match(l) for k in keys)]
        lines += [f"{k} = {v}" for k, v in self.settings.items()]
        with open(self.path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return self

    def __exit__(self, *exc):
        with open(self.path, "w") as f:
            f.write(self.saved)
