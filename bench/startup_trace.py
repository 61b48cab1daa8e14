"""Where a start-up's time goes, from the kernel's own trace events (issue
17's report): each process's exec and CPU time, the FUSE requests of the
exec by kind with how long each waited for its reply, and the requests the
loop device served. Read from a tracefs instance of its own (the global trace buffer
and its settings stay as they were) while the commands run as the bench
user; root only. Tracing makes the start-ups slower: these are proportions
and counts, never the timed rows.

Only the commands' own processes count: each run is the process tree of
the command started (sched_process_fork), the FUSE connections whose
FUSE_INIT came from that tree, and the loop devices it read.

    trace_execs(argv, env, runs, cwd) -> {"runs": [one dict per run]}
    summary(trace) -> [(what, median over runs, unit)]
"""
import os
import re
import statistics
import subprocess

import measure

EVENTS = ("sched/sched_process_fork", "sched/sched_process_exec", "sched/sched_process_exit",
          "sched/sched_stat_runtime", "fuse/fuse_request_send", "fuse/fuse_request_end", "block/block_rq_issue",
          "block/block_rq_complete")
LOOP_MAJOR = "7"  # Documentation/admin-guide/devices.txt

# "comm-pid [cpu] flags ts: event: rest"; a comm may hold spaces and dashes
# (at most 15 characters), the pid is the thread's.
LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[\d+\]\s+\S+\s+(?P<ts>\d+\.\d+): "
                  r"(?P<event>\w+): (?P<rest>.*)$")
FORK = re.compile(r"child_pid=(\d+)")
RUNTIME = re.compile(r"pid=(\d+) runtime=(\d+) \[ns\]$")
EXEC = re.compile(r"filename=(.*) pid=(\d+) old_pid=\d+$")
FUSE_SEND = re.compile(r"connection (\d+) req (\d+) opcode \d+ \((\w+)\)")
FUSE_END = re.compile(r"connection (\d+) req (\d+) ")
RQ_ISSUE = re.compile(r"^(\d+),(\d+) \S+ (\d+) \(.*?\) (\d+) \+ (\d+)")
RQ_DONE = re.compile(r"^(\d+),(\d+) \S+ \(.*?\) (\d+) \+ (\d+)")


class Unavailable(Exception):
    """No tracefs, or no event this kernel lacks; str() says which."""


def tracefs():
    for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.exists(os.path.join(d, "trace")):
            return d
    subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"],
                   capture_output=True)
    if os.path.exists("/sys/kernel/tracing/trace"):
        return "/sys/kernel/tracing"
    raise Unavailable("no tracefs (mount -t tracefs nodev /sys/kernel/tracing failed)")


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


class Instance:
    """A tracefs instance of our own (instances/NAME: its own buffer,
    events, clock and switch), removed with everything in it on exit."""

    def __init__(self, events=EVENTS):
        self.root = os.path.join(tracefs(), "instances", f"sing-bench-{os.getpid()}")
        self.events = events

    def __enter__(self):
        try:
            os.mkdir(self.root)
        except OSError as e:
            raise Unavailable(f"cannot make a tracefs instance: {e}") from None
        try:
            for e in self.events:
                if not os.path.exists(os.path.join(self.root, "events", e)):
                    raise Unavailable(f"this kernel has no trace event {e}")
            _write(self.path("tracing_on"), "0")
            _write(self.path("buffer_size_kb"), "8192")
            _write(self.path("trace_clock"), "mono")  # one clock for every CPU
            for e in self.events:
                _write(os.path.join(self.root, "events", e, "enable"), "1")
        except BaseException:
            self.__exit__()
            raise
        return self

    def path(self, name):
        return os.path.join(self.root, name)

    def __exit__(self, *exc):
        # rmdir takes the instance's events and buffer with it; it is refused
        # while they are on.
        if os.path.isdir(self.root):
            _write(self.path("tracing_on"), "0")
            _write(self.path("events/enable"), "0")
            os.rmdir(self.root)


def trace_execs(argv, env, runs, cwd="/", as_user=measure.as_user):
    """Runs argv (an exec of the installed singularity) `runs` times as the
    bench user (as_user wraps argv) with the events on; returns the parsed
    runs."""
    roots = []
    with Instance() as t:
        _write(t.path("tracing_on"), "1")
        for _ in range(runs):
            p = subprocess.Popen(as_user(argv), env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            _, err = p.communicate(timeout=120)
            if p.returncode != 0:
                raise measure.CommandFailed(f"{argv}: exit {p.returncode}: {err[-300:]}")
            roots.append(p.pid)
        _write(t.path("tracing_on"), "0")
        with open(t.path("trace")) as f:
            text = f.read()
    if re.search(r"\[LOST \d+ EVENTS\]", text):
        raise Unavailable("the trace buffer overflowed (events lost)")
    return {"runs": parse(text, argv[0], roots)}


def parse(text, frontend, roots):
    """Per root (the pid of one run's command): the first exec of each
    program in its process tree (µs from the tree's exec of frontend), the
    tree's last exit, and the FUSE and loop requests of the tree."""
    runs = {r: {"t0": None, "execs": {}, "last_exit": None, "fuse": [], "loop": [], "cpu": {}}
            for r in roots}
    owner = {r: runs[r] for r in roots}  # pid -> its run
    # CPU time: the scheduler's updates of each task's runtime
    # (sched_stat_runtime), charged to the program the task ran at the update:
    # its last exec, or its parent's. An update is the CPU used since the one
    # before, so a program that ends without a tick or a switch is charged to
    # the next one of its process (and an execve's work to the caller's).
    program = {}
    conn_owner, minor_owner = {}, {}  # FUSE connection, loop minor -> the run using it now
    fuse_open, rq_open = {}, {}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        pid, ts, ev, rest = int(m["pid"]), float(m["ts"]) * 1e6, m["event"], m["rest"]
        run = owner.get(pid)
        if ev == "sched_stat_runtime":
            c = RUNTIME.search(rest)
            who = owner.get(int(c[1])) if c else None
            if who and who["t0"] is not None and int(c[1]) in program:
                name = program[int(c[1])]
                who["cpu"][name] = who["cpu"].get(name, 0) + int(c[2]) / 1e3  # µs
            continue
        if ev == "sched_process_fork":
            f = FORK.search(rest)
            if run and f:
                owner[int(f[1])] = run
                if pid in program:
                    program[int(f[1])] = program[pid]
            continue
        if ev == "sched_process_exec":
            e = EXEC.search(rest)
            if run and e:
                if run["t0"] is None and e[1] == frontend:
                    run["t0"] = ts
                if run["t0"] is not None:
                    run["execs"].setdefault(os.path.basename(e[1]), ts - run["t0"])
                    program[pid] = os.path.basename(e[1])
            continue
        if ev == "sched_process_exit":
            if run and run["t0"] is not None:
                run["last_exit"] = ts
        elif ev == "fuse_request_send":
            f = FUSE_SEND.search(rest)
            if not f:
                continue
            if f[3] == "FUSE_INIT":  # a new connection (numbers are reused)
                conn_owner[f[1]] = run if run and run["t0"] is not None else None
            if conn_owner.get(f[1]):  # the connection's run, whoever asks
                fuse_open[(f[1], f[2])] = (conn_owner[f[1]], ts, f[3].replace("FUSE_", ""))
        elif ev == "fuse_request_end":
            f = FUSE_END.search(rest)
            if f and (f[1], f[2]) in fuse_open:
                r, t, op = fuse_open.pop((f[1], f[2]))
                r["fuse"].append((op, ts - t))
        elif ev == "block_rq_issue":
            b = RQ_ISSUE.match(rest)
            if not b or b[1] != LOOP_MAJOR:
                continue
            if run and run["t0"] is not None:
                minor_owner[b[2]] = run
            if minor_owner.get(b[2]):  # read-ahead issued by kernel threads too
                rq_open[(b[2], b[4])] = (minor_owner[b[2]], ts, int(b[5]) * 512)
        elif ev == "block_rq_complete":
            b = RQ_DONE.match(rest)
            if b and b[1] == LOOP_MAJOR and (b[2], b[3]) in rq_open:
                r, t, size = rq_open.pop((b[2], b[3]))
                r["loop"].append((size, ts - t))
    out = []
    for r in roots:
        run = runs[r]
        if run["t0"] is None or run["last_exit"] is None:
            continue  # no exec of frontend seen (a lost start)
        out.append({"execs": run["execs"], "wall": run["last_exit"] - run["t0"],
                    "fuse": run["fuse"], "loop": run["loop"], "cpu": run["cpu"]})
    return out


def summary(trace, top=6):
    """[(what, median per run, unit)]: the wall time, when each process
    started, the CPU time by program (a forked child counts as its parent's
    program until it execs another), the FUSE requests (all, FUSE_INIT's wait, the kinds that waited
    longest in all) and the loop device's requests."""
    runs = trace["runs"]
    if not runs:
        return []
    med = statistics.median

    def per_run(f):
        return med([f(r) for r in runs])
    out = [("traced wall time, the frontend's exec to the last exit",
            per_run(lambda r: r["wall"]) / 1e3, "ms")]
    names = sorted({n for r in runs for n in r["execs"]},
                   key=lambda n: med([r["execs"][n] for r in runs if n in r["execs"]]))
    for n in names:
        seen = [r["execs"][n] for r in runs if n in r["execs"]]
        if len(seen) == len(runs):
            shown = re.sub(r"[^\w.+-]", "?", n)  # a cell of a markdown table
            out.append((f"`{shown}` starts (exec) after", med(seen) / 1e3, "ms"))
    out.append(("CPU, all processes", per_run(lambda r: sum(r["cpu"].values())) / 1e3, "ms"))
    for n in sorted({n for r in runs for n in r["cpu"]},
                    key=lambda n: -med([r["cpu"].get(n, 0) for r in runs])):
        shown = re.sub(r"[^\w.+-]", "?", n)
        out.append((f"CPU of `{shown}`", per_run(lambda r, n=n: r["cpu"].get(n, 0)) / 1e3, "ms"))
    if any(r["fuse"] for r in runs):
        out.append(("FUSE requests", per_run(lambda r: len(r["fuse"])), ""))
        out.append(("FUSE requests: waited for their replies, in all",
                    per_run(lambda r: sum(w for _, w in r["fuse"])) / 1e3, "ms"))
        ops = {op for r in runs for op, _ in r["fuse"]}
        waits = {op: per_run(lambda r, op=op: sum(w for o, w in r["fuse"] if o == op))
                 for op in ops}
        for op in sorted(ops, key=lambda o: -waits[o])[:top]:
            count = per_run(lambda r, op=op: sum(1 for o, _ in r["fuse"] if o == op))
            out.append((f"  {op}: requests", count, ""))
            out.append((f"  {op}: waited, in all", waits[op] / 1e3, "ms"))
    if any(r["loop"] for r in runs):
        out.append(("loop device requests", per_run(lambda r: len(r["loop"])), ""))
        out.append(("loop device requests: KiB read",
                    per_run(lambda r: sum(s for s, _ in r["loop"])) / 1024, "KiB"))
        out.append(("loop device requests: waited, in all",
                    per_run(lambda r: sum(w for _, w in r["loop"])) / 1e3, "ms"))
    return out
