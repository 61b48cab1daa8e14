"""The FUSE server's start-up protocol (starter/fuse_server.c,
fuse/receive_fuse_fd.c): the starter starts squashfs-serve before it makes
its namespaces and mounts, and sends it the mounted connection's /dev/fuse
fd on a socket. Whatever dies at whichever step, the container fails in one
line (or never starts), nothing hangs and no server process is left.

The failures are made with strace's fault injection, run as root with
`-u USER` (which keeps the setuid bit of the starter in effect): a signal on
entry to the starter's sendmsg (the hand-over) or the server's recvmsg (its
wait), and a delay on the hand-over; and with a stand-in server bound over
the installed one in a private mount namespace of the test."""

import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import (USER, ensure_user, exec_with_fuse_server_replaced, fuse_server_path,
                      live_fuse_servers, user_env)
from test_run import images, one_error  # noqa: F401 (fixture)


def user_servers():
    return live_fuse_servers()


def wait_no_servers():
    """A killed process's server ends with it, asynchronously (it watches
    the starter's process: fuse_server.h)."""
    for _ in range(100):
        if not user_servers():
            return []
        time.sleep(0.1)
    return user_servers()


def no_fuse(run_mode):
    if run_mode == "setuid":
        pytest.skip("the kernel squashfs driver serves the image: no FUSE server")


@pytest.fixture
def no_servers_before():
    # A failed start of an earlier test (one_error) kills its server on
    # exit, and the zombie stays listed until init reaps it: wait for that.
    assert wait_no_servers() == [], "a FUSE server of the test user was already running"


def strace_exec(images, marker, *inject, opts=()):
    """`singularity exec` as the user under strace (as root, -u keeps setuid
    bits), with fault injections; the program would create `marker`."""
    if not shutil.which("strace"):
        pytest.skip("strace is not installed (tools/deps.sh --test)")
    user = ensure_user()
    cmd = ["strace", "-f", "-qq", "-o", "/dev/null", "-u", user.name,
           "-e", "trace=sendmsg,recvmsg", *[a for i in inject for a in ("-e", f"inject={i}")],
           "singularity", "exec", *opts, images["sif"], "touch", marker]
    return subprocess.run(cmd, env=user_env(), cwd="/", capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("opts", [(), ("--pid",)], ids=["plain", "pid"])
def test_starter_killed_before_the_hand_over_leaves_no_server(images, run_mode, user_tmp, opts,
                                                               no_servers_before):
    """The process that mounts the connection (the starter; with --pid the
    container's init-to-be, inside the pid namespace) is killed right before
    it sends the fd: the server, already waiting, dies too (its parent's
    death signal, or the monitor's kill and the socket's end of file), and
    the program never runs."""
    no_fuse(run_mode)
    marker = os.path.join(user_tmp, "ran")
    r = strace_exec(images, marker, "sendmsg:signal=SIGKILL", opts=opts)
    # Killed by SIGKILL: strace kills itself with it (plain); the monitor
    # reports it as 128 + 9 (--pid).
    assert r.returncode in (-9, 137), (r.returncode, r.stderr)
    assert not os.path.exists(marker)
    assert wait_no_servers() == [], "a FUSE server outlived the starter"


@pytest.mark.parametrize("opts", [(), ("--pid",)], ids=["plain", "pid"])
def test_server_dead_before_the_hand_over(images, run_mode, user_tmp, opts, no_servers_before):
    """The server is killed while it waits for the connection, and the
    starter only sends after that: one error line naming the server, exit
    255, no hang, nothing left."""
    no_fuse(run_mode)
    marker = os.path.join(user_tmp, "ran")
    r = strace_exec(images, marker, "recvmsg:signal=SIGKILL", "sendmsg:delay_enter=1000000",
                    opts=opts)
    one_error(r, "squashfs-serve exited before it got the FUSE connection")
    assert not os.path.exists(marker)
    assert wait_no_servers() == []


def stand_in_exec(images, script, *opts, env=None):
    """`singularity exec` as the user with `script` (sh) bound over the
    installed squashfs-serve, in a private mount namespace of this test only;
    env: variables added to the user's environment."""
    user = ensure_user()
    d = os.path.join(user.home, f"stand-in-{time.monotonic_ns()}")
    with open(d, "w") as f:
        f.write("#!/bin/sh\n" + script + "\n")
    os.chmod(d, 0o755)
    try:
        return exec_with_fuse_server_replaced(d, *opts, images["sif"], "true", env=env)
    finally:
        os.unlink(d)


@pytest.mark.parametrize("opts", [(), ("--pid",)], ids=["plain", "pid"])
def test_server_dying_with_the_connection_in_flight(images, run_mode, opts, no_servers_before):
    """A server that exits after the starter sent the fd but without taking
    it: the fd in its socket is released with it, so the connection aborts
    and the starter's first access fails (the usual error) instead of
    waiting for an answer that never comes."""
    no_fuse(run_mode)
    r = stand_in_exec(images, "sleep 1; exit 0", *opts)
    one_error(r, "squashfs-serve did not serve")
    assert "not connected" in r.stderr
    assert wait_no_servers() == []


def test_server_that_cannot_start(images, run_mode, no_servers_before):
    """A server that exits at once (a broken install, an image it cannot
    read): one error line, exit 255, whether it was gone before the
    hand-over or the connection was in flight."""
    no_fuse(run_mode)
    r = stand_in_exec(images, "exit 1")
    one_error(r, "squashfs-serve")
    assert wait_no_servers() == []


def test_server_gets_its_own_environment_not_the_users(images, run_mode, user_tmp,
                                                        no_servers_before):
    """The starter execs the server with one variable only (glibc's malloc
    tunable for huge pages, starter/fuse_server.c): nothing of the user's
    environment, SINGULARITYENV_ and LD_ variables included."""
    no_fuse(run_mode)
    out = os.path.join(user_tmp, "server-env")
    real = os.path.join(user_tmp, "real-server")
    shutil.copy(fuse_server_path(), real)
    os.chmod(real, 0o755)
    r = stand_in_exec(images, f"tr '\\0' '\\n' < /proc/$$/environ > {out}; exec {real} \"$@\"",
                      env={"SINGULARITYENV_FOO": "bar", "LD_BIND_NOW": "1", "SECRET": "x"})
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        assert f.read().split("\n") == ["GLIBC_TUNABLES=glibc.malloc.hugetlb=1", ""]
    assert wait_no_servers() == []


def thp_mode():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return f.read().split("[", 1)[1].split("]", 1)[0]
    except (OSError, IndexError):
        return "absent"


def heap_flags(pid):
    """VmFlags of the [heap] mapping of pid."""
    with open(f"/proc/{pid}/smaps") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        if line.endswith("[heap]"):
            for flags in lines[i + 1:]:
                if flags.startswith("VmFlags:"):
                    return flags.split()[1:]
    return None


def test_server_heap_asks_for_huge_pages(images, run_mode, no_servers_before):
    """Under THP's `madvise` mode (Debian's default), glibc's malloc in the
    server marks its heap MADV_HUGEPAGE (`hg`): the tunable the starter
    passes arrives and takes effect (whether the kernel then finds free
    huge pages is its business)."""
    no_fuse(run_mode)
    if thp_mode() != "madvise":
        pytest.skip(f"transparent huge pages are in mode {thp_mode()!r} here, not madvise")
    libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    version = tuple(int(x) for x in libc.split()[-1].split(".")[:2]) if libc else (0, 0)
    if version < (2, 35):
        pytest.skip(f"{libc or 'this libc'} has no glibc.malloc.hugetlb tunable (2.35)")
    info = ensure_user()
    p = subprocess.Popen(["setpriv", f"--reuid={info.name}", f"--regid={info.name}",
                          "--init-groups", "--", "singularity", "exec", images["sif"], "sleep",
                          "3"], env=user_env(), cwd="/", stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        # malloc grows the heap, then madvises it: poll until the flag shows
        # (or the container ends), and judge the last flags seen.
        flags, deadline = None, time.monotonic() + 30
        while time.monotonic() < deadline and p.poll() is None:
            for pid in user_servers():
                try:
                    flags = heap_flags(pid) or flags
                except OSError:
                    pass
            if flags and "hg" in flags:
                break
            time.sleep(0.05)
        assert flags is not None, "no FUSE server with a heap seen"
        assert "hg" in flags, flags
    finally:
        _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert wait_no_servers() == []


# ---- the server's end: exactly one fd, and it must be /dev/fuse --------------

def serve_with(images, send):
    """Run the installed squashfs-serve as the user on the plain squashfs
    image, call send(our end of its socket), and return its exit status and
    stderr."""
    user = ensure_user()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    p = subprocess.Popen(["setpriv", f"--reuid={user.name}", f"--regid={user.name}",
                          "--init-groups", fuse_server_path(), images["squashfs"], "offset=0",
                          f"fuse-socket={theirs.fileno()}"],
                         pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    theirs.close()
    try:
        send(ours)
        ours.close()
        _, err = p.communicate(timeout=30)
    finally:
        p.kill()
    return p.returncode, err


def send_fds(paths):
    def send(sock):
        fds = [os.open(path, os.O_RDWR) for path in paths]
        if fds:
            socket.send_fds(sock, [b"x"], fds)
        else:
            sock.send(b"x")
        for fd in fds:
            os.close(fd)
    return send


@pytest.mark.parametrize("paths", [[], ["/dev/null"], ["/dev/fuse", "/dev/fuse"],
                                   ["/dev/fuse", "/dev/null"]],
                         ids=["no-fd", "not-fuse", "two-fuse", "fuse-and-other"])
def test_server_refuses_anything_but_one_fuse_fd(images, paths):
    rc, err = serve_with(images, send_fds(paths))
    assert rc == 255
    assert err.strip() == "squashfs-serve: expected exactly one /dev/fuse descriptor", err


def test_server_exits_quietly_when_the_starter_never_sends(images):
    """End of file on the socket: the starter exited, and has said why."""
    rc, err = serve_with(images, lambda sock: None)
    assert rc == 255
    assert err == ""


def test_server_waits_for_the_connection(images):
    """It opens the image first and then waits (the point of starting it
    early); it does not give up on its own."""
    def later(sock):
        time.sleep(1)
        sock.send(b"x")  # a message without an fd, a second later
    rc, err = serve_with(images, later)
    assert rc == 255
    assert "expected exactly one /dev/fuse descriptor" in err
