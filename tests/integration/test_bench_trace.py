"""bench/startup_trace.py, the bench's report of where a start-up's time goes:
it reads the kernel's trace events as the kernel prints them, keeps each run
to its own processes (other users' execs, FUSE mounts and loop devices stay
out), and on a live exec in each mode finds the processes and requests that
mode has, leaving the global trace as it was."""
import os
import sys

import pytest

from conftest import ensure_user, install_prefix, user_env
from test_run import images  # noqa: F401 (fixture)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import startup_trace  # noqa: E402

FRONTEND = "/tmp/sing-prefix-bench/bin/singularity"

# A FUSE exec (setuid default) started as pid 12141: setpriv's exec before
# the frontend's, the server (12142) and its thread (12143), the container
# (12144), every exit; FUSE_INIT and two requests on connection 42. Recorded
# from traced execs of the bench image (Debian 12, kernel 6.18), trimmed.
FUSE_RUN = """\
         python3-12140   [001] .....  3271.239158: sched_process_fork: comm=python3 pid=12140 child_comm=python3 child_pid=12141
         starter-12141   [001] .....  3271.239642: sched_process_exec: filename=/usr/bin/setpriv pid=12141 old_pid=12141
         starter-12141   [001] .....  3271.242219: sched_process_exec: filename=/tmp/sing-prefix-bench/bin/singularity pid=12141 old_pid=12141
         starter-12141   [001] .....  3271.243524: sched_process_exec: filename=/tmp/sing-prefix-bench/libexec/singularity/starter pid=12141 old_pid=12141
         starter-12141   [001] .....  3271.244554: sched_process_fork: comm=starter pid=12141 child_comm=starter child_pid=12142
         starter-12141   [001] ...2.  3271.244790: fuse_request_send: connection 42 req 2 opcode 26 (FUSE_INIT) len 104 
  squashfs-serve-12142   [001] .....  3271.245107: sched_process_exec: filename=/tmp/sing-prefix-bench/libexec/singularity/squashfs-serve pid=12142 old_pid=12142
  squashfs-serve-12142   [001] .....  3271.246975: sched_process_fork: comm=squashfs-serve pid=12142 child_comm=squashfs-serve child_pid=12143
  squashfs-serve-12142   [001] .....  3271.247042: fuse_request_end: connection 42 req 2 len 80 error 0
         starter-12141   [001] ...1.  3271.247051: fuse_request_send: connection 42 req 4 opcode 3 (FUSE_GETATTR) len 56 
  squashfs-serve-12142   [001] .....  3271.247067: fuse_request_end: connection 42 req 4 len 120 error 0
         starter-12141   [001] ...1.  3271.247112: fuse_request_send: connection 42 req 6 opcode 1 (FUSE_LOOKUP) len 45 
  squashfs-serve-12142   [001] .....  3271.247351: fuse_request_end: connection 42 req 6 len 144 error 0
         starter-12141   [001] .....  3271.249830: sched_process_fork: comm=starter pid=12141 child_comm=starter child_pid=12144
            true-12144   [000] .....  3271.256132: sched_process_exec: filename=/bin/true pid=12144 old_pid=12144
            true-12144   [000] .....  3271.258005: sched_process_exit: comm=true pid=12144 prio=120 group_dead=true
  squashfs-serve-12143   [001] .....  3271.258243: sched_process_exit: comm=squashfs-serve pid=12143 prio=120 group_dead=false
  squashfs-serve-12142   [001] .....  3271.258265: sched_process_exit: comm=squashfs-serve pid=12142 prio=120 group_dead=true
         starter-12141   [001] .N...  3271.258542: sched_process_exit: comm=starter pid=12141 prio=120 group_dead=true
"""

# A kernel-driver exec started as pid 12148: the superblock read twice
# through /dev/loop0 by the starter, then a read-ahead that a kernel worker
# issued for it; the read-ahead process (12150) forked by a child (12149).
KERNEL_RUN = """\
         python3-12147   [000] .....  3271.394236: sched_process_fork: comm=python3 pid=12147 child_comm=python3 child_pid=12148
            true-12148   [001] .....  3271.394505: sched_process_exec: filename=/usr/bin/setpriv pid=12148 old_pid=12148
            true-12148   [001] .....  3271.396530: sched_process_exec: filename=/tmp/sing-prefix-bench/bin/singularity pid=12148 old_pid=12148
            true-12148   [001] .....  3271.397444: sched_process_exec: filename=/tmp/sing-prefix-bench/libexec/singularity/starter pid=12148 old_pid=12148
            true-12148   [001] .....  3271.399058: block_rq_issue: 7,0 RS 1024 () 0 + 2 be,0,4 [starter]
     ksoftirqd/1-24      [001] ..s..  3271.399081: block_rq_complete: 7,0 RS () 0 + 2 be,0,4 [0]
            true-12148   [001] .....  3271.399107: block_rq_issue: 7,0 RS 1024 () 0 + 2 be,0,4 [starter]
     ksoftirqd/1-24      [001] ..s..  3271.399116: block_rq_complete: 7,0 RS () 0 + 2 be,0,4 [0]
            true-12148   [000] .....  3271.399593: sched_process_fork: comm=starter pid=12148 child_comm=starter child_pid=12149
         starter-12149   [001] .....  3271.399716: sched_process_fork: comm=starter pid=12149 child_comm=starter child_pid=12150
         starter-12149   [001] .....  3271.399732: sched_process_exit: comm=starter pid=12149 prio=120 group_dead=true
    kworker/1:1H-46      [001] .....  3271.400696: block_rq_issue: 7,0 RS 30720 () 47312 + 60 be,0,4 [kworker/1:1H]
     ksoftirqd/1-24      [001] ..s..  3271.400712: block_rq_complete: 7,0 RS () 47312 + 60 be,0,4 [0]
            true-12148   [000] .....  3271.405561: sched_process_exec: filename=/bin/true pid=12148 old_pid=12148
   squashfs-hold-12150   [001] .....  3271.406437: sched_process_exit: comm=squashfs-hold pid=12150 prio=120 group_dead=true
            true-12148   [000] .....  3271.406547: sched_process_exit: comm=true pid=12148 prio=120 group_dead=true
"""

# The same lines from processes outside the runs: a user's exec of the
# frontend, a FUSE mount of their own (connection 43), their loop device
# (7,1), a comm with a space and dashes, and an exit after the run's.
FOREIGN = """\
     my job-x-1-9001    [000] .....  3271.242300: sched_process_exec: filename=/tmp/sing-prefix-bench/bin/singularity pid=9001 old_pid=9001
     my job-x-1-9001    [000] ...2.  3271.244800: fuse_request_send: connection 43 req 2 opcode 26 (FUSE_INIT) len 104 
     my job-x-1-9001    [000] ...1.  3271.247060: fuse_request_send: connection 43 req 4 opcode 1 (FUSE_LOOKUP) len 45 
      sshfs-9002        [000] .....  3271.247300: fuse_request_end: connection 43 req 4 len 144 error 0
     my job-x-1-9001    [000] .....  3271.247400: block_rq_issue: 7,1 RS 1024 () 0 + 2 be,0,4 [my job-x-1]
     ksoftirqd/0-14     [000] ..s..  3271.247450: block_rq_complete: 7,1 RS () 0 + 2 be,0,4 [0]
     my job-x-1-9001    [000] .....  3271.300000: sched_process_exit: comm=my job-x-1 pid=9001 prio=120 group_dead=true
"""


# CPU accounting (sched_stat_runtime), from another traced FUSE exec (pid
# 8492) while a compiler ran beside it (clang, 8491). A child is its
# parent's program until its exec event (the server's and the container's
# children are "starter" until then); what setpriv used before the
# frontend's exec, and the compiler's, is no run's.
RUNTIME_RUN = """\
         python3-8488    [001] .....  4022.100575: sched_process_fork: comm=python3 pid=8488 child_comm=python3 child_pid=8492
         starter-8492    [001] d..2.  4022.100695: sched_stat_runtime: comm=python3 pid=8492 runtime=112767 [ns]
           clang-8491    [001] d.s4.  4022.100770: sched_stat_runtime: comm=clang pid=8491 runtime=75612 [ns]
         starter-8492    [001] d..5.  4022.100795: sched_stat_runtime: comm=python3 pid=8492 runtime=25228 [ns]
         starter-8492    [001] .....  4022.100937: sched_process_exec: filename=/usr/bin/setpriv pid=8492 old_pid=8492
         starter-8492    [001] d..2.  4022.101182: sched_stat_runtime: comm=setpriv pid=8492 runtime=327286 [ns]
           clang-8491    [001] d.s4.  4022.101276: sched_stat_runtime: comm=clang pid=8491 runtime=93648 [ns]
         starter-8492    [001] d..2.  4022.101372: sched_stat_runtime: comm=setpriv pid=8492 runtime=96263 [ns]
         starter-8492    [001] d..2.  4022.104851: sched_stat_runtime: comm=singularity pid=8492 runtime=325212 [ns]
         starter-8492    [001] .....  4022.105349: sched_process_exec: filename=/tmp/sing-prefix-bench/bin/singularity pid=8492 old_pid=8492
         starter-8492    [001] d..2.  4022.105859: sched_stat_runtime: comm=singularity pid=8492 runtime=553390 [ns]
         starter-8492    [001] d..2.  4022.109098: sched_stat_runtime: comm=starter pid=8492 runtime=285814 [ns]
         starter-8492    [001] .....  4022.109672: sched_process_exec: filename=/tmp/sing-prefix-bench/libexec/singularity/starter pid=8492 old_pid=8492
         starter-8492    [001] .....  4022.110706: sched_process_fork: comm=starter pid=8492 child_comm=starter child_pid=8493
  squashfs-serve-8493    [000] d..3.  4022.110801: sched_stat_runtime: comm=starter pid=8493 runtime=91780 [ns]
  squashfs-serve-8493    [000] dN.2.  4022.110806: sched_stat_runtime: comm=starter pid=8493 runtime=5098 [ns]
         starter-8492    [001] d..2.  4022.110987: sched_stat_runtime: comm=starter pid=8492 runtime=1377282 [ns]
  squashfs-serve-8493    [000] d..2.  4022.113030: sched_stat_runtime: comm=squashfs-serve pid=8493 runtime=692392 [ns]
  squashfs-serve-8493    [000] .....  4022.114193: sched_process_exec: filename=/tmp/sing-prefix-bench/libexec/singularity/squashfs-serve pid=8493 old_pid=8493
  squashfs-serve-8493    [000] d..2.  4022.114606: sched_stat_runtime: comm=squashfs-serve pid=8493 runtime=488759 [ns]
  squashfs-serve-8493    [000] .....  4022.114910: sched_process_fork: comm=squashfs-serve pid=8493 child_comm=squashfs-serve child_pid=8496
  squashfs-serve-8496    [001] d..2.  4022.115536: sched_stat_runtime: comm=squashfs-serve pid=8496 runtime=562409 [ns]
  squashfs-serve-8496    [001] d..2.  4022.120086: sched_stat_runtime: comm=squashfs-serve pid=8496 runtime=40580 [ns]
         starter-8492    [000] .....  4022.123474: sched_process_fork: comm=starter pid=8492 child_comm=starter child_pid=8497
            true-8497    [000] dN.2.  4022.123727: sched_stat_runtime: comm=starter pid=8497 runtime=89653 [ns]
            true-8497    [000] dN.2.  4022.123981: sched_stat_runtime: comm=starter pid=8497 runtime=215981 [ns]
            true-8497    [000] .....  4022.132336: sched_process_exec: filename=/bin/true pid=8497 old_pid=8497
            true-8497    [000] dN.2.  4022.132570: sched_stat_runtime: comm=true pid=8497 runtime=400844 [ns]
            true-8497    [000] dN.2.  4022.132606: sched_stat_runtime: comm=true pid=8497 runtime=18728 [ns]
            true-8497    [000] .N...  4022.133570: sched_process_exit: comm=true pid=8497 prio=120 group_dead=true
  squashfs-serve-8493    [000] .....  4022.133762: sched_process_exit: comm=squashfs-serve pid=8493 prio=120 group_dead=false
  squashfs-serve-8496    [001] .....  4022.133805: sched_process_exit: comm=squashfs-serve pid=8496 prio=120 group_dead=true
         starter-8492    [000] .N...  4022.134061: sched_process_exit: comm=starter pid=8492 prio=120 group_dead=true
"""


def test_parse_charges_cpu_by_program_to_its_own_run():
    runs = startup_trace.parse(RUNTIME_RUN, FRONTEND, [8492])
    # An update inside an execve (after the comm changed) is the caller's.
    assert {k: round(v, 3) for k, v in runs[0]["cpu"].items()} == {
        "singularity": 839.204, "starter": 2472.186, "squashfs-serve": 1091.748, "true": 419.572}
    s = {what: v for what, v, _ in startup_trace.summary({"runs": runs})}
    assert s["CPU, all processes"] == pytest.approx(4.82271)
    assert s["CPU of `squashfs-serve`"] == pytest.approx(1.091748)


def merged(*texts):
    """Lines of several traces in time order, as the kernel prints them."""
    lines = [line for t in texts for line in t.splitlines()]
    return "\n".join(sorted(lines, key=lambda line: float(line.split(": ")[0].split()[-1])))


def test_parse_keeps_each_run_to_its_own_processes_and_requests():
    runs = startup_trace.parse(merged(FUSE_RUN, KERNEL_RUN, FOREIGN), FRONTEND, [12141, 12148])
    assert len(runs) == 2
    fuse, kernel = runs
    assert fuse["execs"] == pytest.approx({"singularity": 0, "starter": 1305,
                                           "squashfs-serve": 2888, "true": 13913})
    assert [op for op, _ in fuse["fuse"]] == ["INIT", "GETATTR", "LOOKUP"]
    assert [w for _, w in fuse["fuse"]] == pytest.approx([2252, 16, 239])
    assert fuse["loop"] == [] and kernel["fuse"] == []
    assert fuse["wall"] == pytest.approx(16323)  # the foreign exit comes later
    assert kernel["execs"] == pytest.approx({"singularity": 0, "starter": 914, "true": 9031})
    assert [s for s, _ in kernel["loop"]] == [1024, 1024, 30720]  # the worker's for it too
    assert [w for _, w in kernel["loop"]] == pytest.approx([23, 9, 16])
    assert kernel["wall"] == pytest.approx(10017)


def test_parse_a_reused_connection_belongs_to_the_run_that_mounted_it():
    second = FUSE_RUN.replace("3271.2", "3272.2").replace("1214", "1314")
    runs = startup_trace.parse(merged(FUSE_RUN, second), FRONTEND, [12141, 13141])
    assert [len(r["fuse"]) for r in runs] == [3, 3]
    assert [w for _, w in runs[1]["fuse"]] == pytest.approx([2252, 16, 239])


def test_parse_a_run_without_the_frontend_exec_is_left_out():
    assert startup_trace.parse(FUSE_RUN, "/usr/bin/other", [12141]) == []


def test_summary_is_the_median_over_runs():
    second = FUSE_RUN.replace("3271.2", "3272.2").replace("1214", "1314")
    runs = startup_trace.parse(merged(FUSE_RUN, second), FRONTEND, [12141, 13141])
    s = {what: v for what, v, _ in startup_trace.summary({"runs": runs})}
    assert s["FUSE requests"] == 3
    assert s["  INIT: waited, in all"] == pytest.approx(2.252)
    assert s["`squashfs-serve` starts (exec) after"] == pytest.approx(2.888)
    assert "loop device requests" not in s


def require_tracefs():
    try:
        startup_trace.tracefs()
    except startup_trace.Unavailable as e:
        pytest.skip(str(e))


def live_trace(images, n=2):
    require_tracefs()
    info = ensure_user()

    def as_user(argv):
        return ["setpriv", f"--reuid={info.name}", f"--regid={info.name}", "--init-groups",
                "--"] + list(argv)
    sing = os.path.join(install_prefix(), "bin", "singularity")
    try:
        return startup_trace.trace_execs([sing, "exec", images["sif"], "/bin/true"], user_env(),
                                         n, cwd=info.home, as_user=as_user)["runs"]
    except startup_trace.Unavailable as e:  # no instances, or an event this kernel lacks
        pytest.skip(str(e))


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


def global_state():
    root = startup_trace.tracefs()
    files = ["tracing_on", "buffer_size_kb", "trace_clock"] + [
        os.path.join("events", e, "enable") for e in startup_trace.EVENTS]
    state = {}
    for f in files:
        with open(os.path.join(root, f)) as fh:
            state[f] = fh.read()
    instances = os.path.join(root, "instances")
    state["instances"] = sorted(os.listdir(instances)) if os.path.isdir(instances) else None
    return state


def test_trace_leaves_the_global_trace_as_it_was(images):
    require_tracefs()
    before = global_state()
    live_trace(images, n=1)
    assert global_state() == before


def test_a_failing_command_is_an_error_and_leaves_no_instance(images):
    require_tracefs()
    before = global_state()
    with pytest.raises(startup_trace.measure.CommandFailed, match="exit 255"):
        live_trace({"sif": "/nonexistent.sif"}, n=1)
    assert global_state() == before
