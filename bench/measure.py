"""Measuring helpers for the bench: the bench user, timed commands, a
sampler for peak RSS / disk of a whole process tree, and summary stats.

Everything user-facing runs as the unprivileged user ``singbench`` (created
on demand) through setpriv, like a real user on a login node.
"""
import atexit
import json
import os
import pwd
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

USER = "singbench"
HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.sysconf("SC_PAGE_SIZE")


class CommandFailed(RuntimeError):
    pass


def ensure_user():
    """Create singbench with a home if missing; return its passwd entry."""
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", USER], check=True,
                       capture_output=True)
        pw = pwd.getpwnam(USER)
    for path, start in (("/etc/subuid", 300000), ("/etc/subgid", 300000)):
        text = open(path).read() if os.path.exists(path) else ""
        if not any(l.split(":")[0] == USER for l in text.splitlines()):
            with open(path, "a") as f:
                f.write(f"{USER}:{start}:65536\n")
    return pw


def user_env(prefix, extra=None):
    pw = ensure_user()
    env = {"HOME": pw.pw_dir, "USER": USER, "LOGNAME": USER, "LANG": "C.UTF-8",
           "PATH": f"{prefix}/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
    env.update(extra or {})
    return env


def as_user(args):
    return ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--"] + list(args)


def chown_user(path):
    pw = ensure_user()
    os.chown(path, pw.pw_uid, pw.pw_gid)


def make_user_dir(path):
    os.makedirs(path, exist_ok=True)
    chown_user(path)
    return path


def drop_caches(enabled):
    """sync + drop the page cache (so a pull reads blobs from disk)."""
    if not enabled:
        return
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def drop_caches_allowed():
    try:
        drop_caches(True)
        return True
    except OSError:
        return False


def run(args, env=None, cwd=None, user=True, prefix=None, check=True, timeout=3600,
        preexec=None):
    """Run a command (as the bench user unless user=False); return
    (seconds, rusage of the tree, CompletedProcess-like stdout/stderr)."""
    cmd = as_user(args) if user else list(args)
    if env is None and user:
        env = user_env(prefix)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=preexec)
    out, err = p.communicate(timeout=timeout)
    secs = time.perf_counter() - t0
    # communicate() reaped it; children rusage of this process is cumulative,
    # so callers needing CPU use run_sampled instead.
    if check and p.returncode != 0:
        raise CommandFailed(f"{' '.join(map(str, args))} exited {p.returncode}: "
                            + err.decode(errors="replace")[-800:])
    return secs, p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def _children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _tree_rss(root, hwm):
    """The summed RSS of root's process tree now, and the sum of each live
    process's own peak (VmHWM): an upper bound on the tree's peak that a
    spike between samples does not escape, unless its process exits before
    the next sample. hwm (pid -> (name, bytes)) collects each process's
    peak."""
    kids = _children_map()
    total, bound, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                st = dict(line.split(":", 1) for line in f if ":" in line)
            rss = int(st["VmRSS"].split()[0]) * 1024
            peak = int(st["VmHWM"].split()[0]) * 1024
        except (OSError, KeyError, ValueError):
            todo.extend(kids.get(pid, []))
            continue  # gone, or a kernel thread / zombie without an mm
        total += rss
        bound += peak
        name = st.get("Name", "?").strip()
        if peak > hwm.get(pid, ("", 0))[1]:
            hwm[pid] = (name, peak)
        todo.extend(kids.get(pid, []))
    return total, bound


def dir_bytes(paths):
    """Disk blocks used under paths (files counted once per inode)."""
    seen, total = set(), 0
    todo = [p for p in paths if os.path.lexists(p)]
    while todo:
        p = todo.pop()
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        total += st.st_blocks * 512
        if os.path.isdir(p) and not os.path.islink(p):
            try:
                todo.extend(os.path.join(p, n) for n in os.listdir(p))
            except OSError:
                pass
    return total


def run_sampled(args, env, disk_paths=(), interval=0.05):
    """Run as the bench user while sampling every `interval` s: the summed
    RSS of the whole process tree and the disk used under disk_paths.
    Returns a dict: secs, peak_rss, peak_rss_bound (the sum of the live
    processes' own peaks, an upper bound), max_rss_one and max_rss_one_name
    (the largest single process by its VmHWM), cpu (user+sys s of the tree), disk_before, disk_peak,
    disk_after."""
    before = dir_bytes(disk_paths)
    peak = {"rss": 0, "bound": 0, "disk": before}
    hwm = {}
    t0 = time.perf_counter()
    p = subprocess.Popen(as_user(args), env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    done = threading.Event()

    def sampler():
        while not done.is_set():
            rss, bound = _tree_rss(p.pid, hwm)
            peak["rss"], peak["bound"] = max(peak["rss"], rss), max(peak["bound"], bound)
            peak["disk"] = max(peak["disk"], dir_bytes(disk_paths))
            done.wait(interval)

    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    th.join()
    if p.returncode != 0:
        raise CommandFailed(f"{' '.join(args)} exited {p.returncode}: "
                            + err.decode(errors="replace")[-800:])
    after = dir_bytes(disk_paths)
    # The largest process by its own VmHWM as sampled (wait4's ru_maxrss is
    # not used: a forked child that execs reports its parent's resident
    # memory at the fork as its own peak).
    name, one = max(hwm.values(), key=lambda v: v[1], default=("?", 0))
    return {"secs": secs, "peak_rss": peak["rss"], "peak_rss_bound": peak["bound"],
            "max_rss_one": one, "max_rss_one_name": name,
            "cpu": ru.ru_utime + ru.ru_stime, "disk_before": before,
            "disk_peak": max(peak["disk"], after), "disk_after": after}


_SPAWN_TIMER = []


def spawn_timer_path():
    """bench/spawn_timer.py copied once into a root-owned 0755 temp dir (removed
    at exit): the bench user must read it, and the checkout may sit where
    that user cannot (/root, a 0700 home)."""
    if not _SPAWN_TIMER:
        d = tempfile.mkdtemp(prefix="sing-bench-tools.")
        atexit.register(shutil.rmtree, d, True)
        os.chmod(d, 0o755)
        dst = os.path.join(d, "spawn_timer.py")
        shutil.copyfile(os.path.join(HERE, "spawn_timer.py"), dst)
        os.chmod(dst, 0o644)
        _SPAWN_TIMER.append(dst)
    return _SPAWN_TIMER[0]


def spawn_times(args, count, env, cwd=None, nofile=None, root=False):
    """Wall seconds of `count` back-to-back start-ups of args, as the bench
    user (bench/spawn_timer.py), or as root (a floor that needs privilege).
    nofile: RLIMIT_NOFILE soft+hard to set."""
    cmd = ["/usr/bin/python3", spawn_timer_path(), str(count)] + list(args)
    if not root:
        cmd = as_user(cmd)
    if nofile:
        cmd = ["prlimit", f"--nofile={nofile}:{nofile}", "--"] + cmd
    return _spawn_timer(cmd, env, cwd)


def spawn_times_alternate(cmds, count, cwd=None):
    """As spawn_times for several (args, env) at once, run in turn (A B C A B
    C ...) `count` times each: a list of time lists, one per command."""
    spec = json.dumps([{"argv": list(a), "env": e} for a, e in cmds])
    cmd = as_user(["/usr/bin/python3", spawn_timer_path(), str(count), "--alternate", spec])
    return _spawn_timer(cmd, cmds[0][1], cwd)


def _spawn_timer(cmd, env, cwd):
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    try:
        data = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        data = {"error": f"exit {p.returncode}"}
    if isinstance(data, dict):
        raise CommandFailed(f"{data['error']}: {p.stderr.strip()[-600:]}")
    return data


class Stat:
    """Median / min / max of samples (seconds unless unit says otherwise)."""

    def __init__(self, samples, unit="s"):
        self.samples = list(samples)
        self.unit = unit

    @property
    def median(self):
        return statistics.median(self.samples)

    @property
    def min(self):
        return min(self.samples)

    @property
    def max(self):
        return max(self.samples)

    def __len__(self):
        return len(self.samples)
