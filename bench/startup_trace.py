"""Where a start-up's time goes, from the kernel's own trace events (issue
17's report): each process's exec, the FUSE requests of the exec by kind
with how long each waited for its reply, and the requests the loop device
served. Read from tracefs while the commands run as the bench user; root
only. Tracing makes the start-ups slower: these are proportions and counts,
never the timed rows.

    trace_execs(argv, env, runs, cwd) -> {"runs": [one dict per run]}
    summary(trace) -> [(what, median over runs, unit)]
"""
import os
import re
import statistics
import subprocess

import measure

EVENTS = ("sched/sched_process_exec", "sched/sched_process_exit", "fuse/fuse_request_send",
          "fuse/fuse_request_end", "block/block_rq_issue", "block/block_rq_complete")
LOOP_MAJOR = "7"  # Documentation/admin-guide/devices.txt

# "comm-pid [cpu] flags ts: event: rest"; a comm may hold spaces and dashes.
LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[\d+\]\s+\S+\s+(?P<ts>\d+\.\d+): "
                  r"(?P<event>\w+): (?P<rest>.*)$")
EXEC = re.compile(r"filename=(\S+) pid=(\d+)")
EXIT = re.compile(r"comm=(.*) pid=(\d+)")
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


def _set_events(root, on):
    for e in EVENTS:
        p = os.path.join(root, "events", e, "enable")
        if not os.path.exists(p):
            raise Unavailable(f"this kernel has no trace event {e}")
        _write(p, "1" if on else "0")


def trace_execs(argv, env, runs, cwd="/", as_user=measure.as_user):
    """Runs argv (an exec of the installed singularity) `runs` times as the
    bench user (as_user wraps argv) with the events on; returns the parsed
    runs. Each run begins at its own exec of argv[0]."""
    root = tracefs()
    _write(os.path.join(root, "tracing_on"), "0")
    _write(os.path.join(root, "buffer_size_kb"), "8192")
    _write(os.path.join(root, "trace"), "")
    _set_events(root, True)
    try:
        _write(os.path.join(root, "tracing_on"), "1")
        for _ in range(runs):
            r = subprocess.run(as_user(argv), env=env, cwd=cwd, capture_output=True,
                               text=True, timeout=120)
            if r.returncode != 0:
                raise measure.CommandFailed(f"{argv}: exit {r.returncode}: {r.stderr[-300:]}")
        _write(os.path.join(root, "tracing_on"), "0")
        with open(os.path.join(root, "trace")) as f:
            text = f.read()
    finally:
        _write(os.path.join(root, "tracing_on"), "0")
        _set_events(root, False)
        _write(os.path.join(root, "trace"), "")
    return {"runs": parse(text, argv[0])}


def parse(text, frontend):
    """The trace split at each exec of frontend: per run, the first exec of
    each program (µs from the frontend's), the program's exit, and the FUSE
    and loop requests with their waits."""
    runs, cur = [], None
    fuse_open, rq_open = {}, {}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        ts, ev, rest = float(m["ts"]) * 1e6, m["event"], m["rest"]
        if ev == "sched_process_exec":
            e = EXEC.search(rest)
            if e and e[1] == frontend:
                cur = {"t0": ts, "execs": {}, "last_exit": ts, "fuse": [], "loop": []}
                runs.append(cur)
                fuse_open.clear()
                rq_open.clear()
            if cur is not None and e:
                cur["execs"].setdefault(os.path.basename(e[1]), ts - cur["t0"])
            continue
        if cur is None:
            continue
        if ev == "sched_process_exit":
            cur["last_exit"] = ts
        elif ev == "fuse_request_send":
            f = FUSE_SEND.search(rest)
            if f:
                fuse_open[(f[1], f[2])] = (ts, f[3].replace("FUSE_", ""))
        elif ev == "fuse_request_end":
            f = FUSE_END.search(rest)
            if f and (f[1], f[2]) in fuse_open:
                t, op = fuse_open.pop((f[1], f[2]))
                cur["fuse"].append((op, ts - t))
        elif ev == "block_rq_issue":
            b = RQ_ISSUE.match(rest)
            if b and b[1] == LOOP_MAJOR:
                rq_open[(b[2], b[4])] = (ts, int(b[5]) * 512)
        elif ev == "block_rq_complete":
            b = RQ_DONE.match(rest)
            if b and b[1] == LOOP_MAJOR and (b[2], b[3]) in rq_open:
                t, size = rq_open.pop((b[2], b[3]))
                cur["loop"].append((size, ts - t))
    for r in runs:
        r["wall"] = r.pop("last_exit") - r.pop("t0")
    return runs


def summary(trace, top=6):
    """[(what, median per run, unit)]: the wall time, when each process
    started, the FUSE requests (all, FUSE_INIT's wait, the kinds that waited
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
            out.append((f"`{n}` starts (exec) after", med(seen) / 1e3, "ms"))
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
