"""bench/startup_trace.py, the bench's report of where a start-up's time goes:
it reads the kernel's trace events as the kernel prints them (the lines
below were recorded from traced execs of the bench image on Debian 12's
kernel, trimmed), and on a live exec in each mode it finds the processes
and the requests that mode has."""
import os
import sys

import pytest

from conftest import ensure_user, install_prefix, user_env
from test_run import images  # noqa: F401 (fixture)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import startup_trace  # noqa: E402

FRONTEND = "/tmp/sing-prefix-bench/bin/singularity"

# A FUSE exec (setuid default): two FUSE requests, the block device of the
# host's disk (254,0: not a loop device), a cached superblock read of the
# loop device of another container (7,1), every process's exit.
FUSE_RUN = """\
         starter-2824    [001] .....  2765.086295: sched_process_exec: filename=/usr/bin/setpriv pid=2824 old_pid=2824
         starter-2824    [001] .....  2765.089735: sched_process_exec: filename=/tmp/sing-prefix-bench/bin/singularity pid=2824 old_pid=2824
         starter-2824    [001] .....  2765.090342: block_rq_issue: 254,0 RA 4096 () 350685712 + 8 be,0,4 [singularity]
          <idle>-0       [001] ..s1.  2765.090440: block_rq_complete: 254,0 RA () 350685712 + 8 be,0,4 [0]
         starter-2824    [001] .....  2765.091447: sched_process_exec: filename=/tmp/sing-prefix-bench/libexec/singularity/starter pid=2824 old_pid=2824
         starter-2824    [001] ...2.  2765.093334: fuse_request_send: connection 42 req 2 opcode 26 (FUSE_INIT) len 104 
  squashfs-serve-2825    [001] .....  2765.093732: sched_process_exec: filename=/tmp/sing-prefix-bench/libexec/singularity/squashfs-serve pid=2825 old_pid=2825
  squashfs-serve-2825    [001] .....  2765.094855: fuse_request_end: connection 42 req 2 len 80 error 0
         starter-2824    [001] ...1.  2765.094930: fuse_request_send: connection 42 req 6 opcode 1 (FUSE_LOOKUP) len 45 
  squashfs-serve-2825    [001] .....  2765.094975: fuse_request_end: connection 42 req 6 len 144 error 0
            true-2827    [000] .....  2765.104782: sched_process_exec: filename=/bin/true pid=2827 old_pid=2827
            true-2827    [000] .....  2765.106654: sched_process_exit: comm=true pid=2827 prio=120 group_dead=true
  squashfs-serve-2825    [001] .....  2765.106872: sched_process_exit: comm=squashfs-serve pid=2825 prio=120 group_dead=false
         starter-2824    [000] .N...  2765.107177: sched_process_exit: comm=starter pid=2824 prio=120 group_dead=true
"""

# A kernel-driver exec: the superblock read three times through /dev/loop0,
# a flush of the host's disk in between.
KERNEL_RUN = """\
            true-20294   [000] .....  2101.554350: sched_process_exec: filename=/tmp/sing-prefix-bench/bin/singularity pid=20294 old_pid=20294
            true-20294   [000] .....  2101.554993: sched_process_exec: filename=/tmp/sing-prefix-bench/libexec/singularity/starter pid=20294 old_pid=20294
    kworker/0:0H-10      [000] .....  2101.555898: block_rq_issue: 254,0 FF 0 () 0 + 0 none,0,0 [kworker/0:0H]
            true-20294   [001] .....  2101.556217: block_rq_issue: 7,0 RS 1024 () 0 + 2 be,0,4 [starter]
     ksoftirqd/0-14      [000] ..s..  2101.556267: block_rq_complete: 7,0 RS () 0 + 2 be,0,4 [0]
            true-20294   [001] .....  2101.556313: block_rq_issue: 7,0 RS 1024 () 0 + 2 be,0,4 [starter]
     ksoftirqd/0-14      [000] ..s..  2101.556338: block_rq_complete: 7,0 RS () 0 + 2 be,0,4 [0]
            true-20294   [001] .....  2101.556361: block_rq_issue: 7,0 RS 1024 () 0 + 2 be,0,4 [starter]
     ksoftirqd/0-14      [000] ..s..  2101.556386: block_rq_complete: 7,0 RS () 0 + 2 be,0,4 [0]
            true-20294   [001] .....  2101.560100: sched_process_exec: filename=/usr/bin/true pid=20294 old_pid=20294
            true-20294   [001] .....  2101.561000: sched_process_exit: comm=true pid=20294 prio=120 group_dead=true
"""


def test_parse_splits_runs_at_the_frontend_and_pairs_requests():
    runs = startup_trace.parse(FUSE_RUN + KERNEL_RUN, FRONTEND)
    assert len(runs) == 2  # setpriv's exec before the first one belongs to no run
    fuse, kernel = runs
    assert fuse["execs"] == pytest.approx({"singularity": 0, "starter": 1712,
                                           "squashfs-serve": 3997, "true": 15047})
    assert [op for op, _ in fuse["fuse"]] == ["INIT", "LOOKUP"]
    assert [w for _, w in fuse["fuse"]] == pytest.approx([1521, 45])
    assert fuse["loop"] == []  # 254,0 is the host's disk
    assert fuse["wall"] == pytest.approx(17442)
    assert kernel["fuse"] == []
    assert [s for s, _ in kernel["loop"]] == [1024] * 3
    assert [w for _, w in kernel["loop"]] == pytest.approx([50, 25, 25])
    assert kernel["execs"]["true"] == pytest.approx(5750)


def test_summary_is_the_median_over_runs():
    runs = startup_trace.parse(FUSE_RUN * 3, FRONTEND)
    s = {what: v for what, v, _ in startup_trace.summary({"runs": runs})}
    assert s["FUSE requests"] == 2
    assert s["  INIT: waited, in all"] == pytest.approx(1.521)
    assert s["`squashfs-serve` starts (exec) after"] == pytest.approx(3.997)
    assert "loop device requests" not in s


def live_trace(images, n=2):
    try:
        root = startup_trace.tracefs()
    except startup_trace.Unavailable as e:
        pytest.skip(str(e))
    for e in startup_trace.EVENTS:
        if not os.path.exists(os.path.join(root, "events", e)):
            pytest.skip(f"this kernel has no trace event {e}")
    info = ensure_user()

    def as_user(argv):
        return ["setpriv", f"--reuid={info.name}", f"--regid={info.name}", "--init-groups",
                "--"] + list(argv)
    sing = os.path.join(install_prefix(), "bin", "singularity")
    return startup_trace.trace_execs([sing, "exec", images["sif"], "/bin/true"], user_env(), n,
                                     cwd=info.home, as_user=as_user)["runs"]


def test_live_trace_of_each_mode(images, run_mode):
    runs = live_trace(images)
    assert len(runs) == 2
    for r in runs:
        assert {"singularity", "starter", "true"} <= set(r["execs"]), r["execs"]
        assert r["execs"]["starter"] < r["execs"]["true"] < r["wall"]
        if run_mode == "setuid":  # the kernel driver: no server, the loop device
            assert "squashfs-serve" not in r["execs"] and r["fuse"] == []
            assert r["loop"], "no request of a loop device seen"
        else:
            ops = [op for op, _ in r["fuse"]]
            assert "squashfs-serve" in r["execs"]
            assert ops[0] == "INIT" and ops.count("LOOKUP") > 3, ops
            assert all(w >= 0 for _, w in r["fuse"])


def test_trace_leaves_the_events_off(images):
    live_trace(images, n=1)
    root = startup_trace.tracefs()
    for e in startup_trace.EVENTS:
        with open(os.path.join(root, "events", e, "enable")) as f:
            assert f.read().strip() == "0", e
    with open(os.path.join(root, "tracing_on")) as f:
        assert f.read().strip() == "0"


def test_a_failing_command_is_an_error_and_the_events_go_off(images):
    with pytest.raises(startup_trace.measure.CommandFailed, match="exit 255"):
        live_trace({"sif": "/nonexistent.sif"}, n=1)
    root = startup_trace.tracefs()
    with open(os.path.join(root, "tracing_on")) as f:
        assert f.read().strip() == "0"
