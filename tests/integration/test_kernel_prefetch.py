"""The read-ahead process of the setuid starter (starter/kernel_prefetch.c):
forked right after the image's kernel squashfs mount, it reads the program
the container will run into the page cache (not on the FUSE path). It must
read only inside the image, only with the user's rights, and must not show
up as a child of the container's process. The image's squashfs superblock
is kept alive by a second container on the same shared loop device, so that
what the read-ahead left in the page cache can be looked at afterwards
(fincore through that container's /proc/PID/root)."""
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import ensure_user, run_as_user, user_env

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import startup_trace  # noqa: E402

BUSYBOX = "/bin/busybox"  # static
MIB = 1 << 20


def resident_bytes(path):
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip())


def evicted_file(path, size, mode):
    """A file of random bytes, written to disk and dropped from the page cache."""
    with open(path, "wb") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    os.chmod(path, mode)
    assert resident_bytes(path) == 0


@pytest.fixture
def host_victim():
    """A user-readable host file outside everything the container binds."""
    d = tempfile.mkdtemp(prefix="sing-prefetch-victim-", dir="/var/lib")
    os.chmod(d, 0o755)
    victim = os.path.join(d, "victim")
    evicted_file(victim, 4 * MIB, 0o644)
    yield victim
    shutil.rmtree(d, ignore_errors=True)


def make_image(d, links=None, files=None):
    """A squashfs image owned by root: busybox as /probe/busybox and /bin/sh,
    plus links {path: target} and files {path: (size, mode)} (random bytes)."""
    root = os.path.join(d, "root")
    for sub in ("bin", "etc", "tmp", "home", "proc", "sys", "dev", "probe", "opt"):
        os.makedirs(os.path.join(root, sub))
    shutil.copy(BUSYBOX, os.path.join(root, "probe", "busybox"))
    os.symlink("/probe/busybox", os.path.join(root, "bin", "sh"))
    for path, target in (links or {}).items():
        os.symlink(target, os.path.join(root, path.lstrip("/")))
    for path, (size, mode) in (files or {}).items():
        os.makedirs(os.path.dirname(os.path.join(root, path.lstrip("/"))), exist_ok=True)
        with open(os.path.join(root, path.lstrip("/")), "wb") as f:
            f.write(os.urandom(size))
        os.chmod(os.path.join(root, path.lstrip("/")), mode)
    image = os.path.join(d, "img.sqfs")
    subprocess.run(["mksquashfs", root, image, "-noappend", "-quiet", "-no-progress",
                    "-all-root"], check=True, stdout=subprocess.DEVNULL)
    os.chmod(image, 0o644)
    return image


@pytest.fixture
def image_dir():
    ensure_user()
    d = tempfile.mkdtemp(prefix="sing-kprefetch-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def kernel_shared(sing_config):
    sing_config.set(**{"allow setuid-mount squashfs": "yes", "shared loop devices": "yes"})


def program_pid(starter):
    """The container's program: the starter exec'd into it (the kernel
    path); None while it does not run /probe/busybox yet."""
    try:
        with open(f"/proc/{starter}/cmdline", "rb") as f:
            return starter if f.read().split(b"\0")[0] == b"/probe/busybox" else None
    except OSError:
        return None


@contextlib.contextmanager
def held(image):
    """A container of image that sleeps while the block runs (the superblock
    stays): yields the pid of the container's program as the host sees it."""
    info = ensure_user()
    p = subprocess.Popen(["setpriv", f"--reuid={info.name}", f"--regid={info.name}",
                          "--init-groups", "--", "singularity", "exec", image,
                          "/probe/busybox", "sleep", "60"],
                         env=user_env(), cwd=info.home, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if p.poll() is not None:
                pytest.fail(f"the holding container ended: {p.stderr.read()}")
            if time.monotonic() > deadline:
                pytest.fail("the holding container did not start")
            pid = program_pid(p.pid)
            if pid:
                break
            time.sleep(0.05)
        yield pid
    finally:
        p.kill()
        p.wait(timeout=60)


@pytest.mark.parametrize("target", ["relative", "absolute", "magic"])
def test_read_ahead_stays_inside_the_image(kernel_shared, image_dir, host_victim, target):
    """The program is a symlink out of the image to a host file the user may
    read: the container cannot reach it (the path is not bound), and
    neither may the read-ahead (its lookups relative to the image's mount,
    RESOLVE_IN_ROOT)."""
    to = {"relative": "../" * 8 + host_victim.lstrip("/"),
          "absolute": host_victim,
          "magic": "/proc/1/root" + host_victim}[target]
    image = make_image(image_dir, links={"/bin/prog": to})
    ok = run_as_user(["singularity", "exec", image, "/probe/busybox", "true"])
    assert ok.returncode == 0, ok.stderr
    r = run_as_user(["singularity", "exec", image, "/bin/prog"])
    assert r.returncode != 0 and "/bin/prog" in r.stderr, r.stderr
    time.sleep(0.5)  # a read-ahead still running would be done by now
    assert resident_bytes(host_victim) == 0


@pytest.mark.parametrize("stack_kib", [None, 64])
def test_read_ahead_reads_with_the_users_rights(kernel_shared, image_dir, stack_kib):
    """Two files in the image, neither executable: one the user may read and
    one only root may. The container's exec of either fails before reading
    it (EACCES); the read-ahead of the first fills the page cache (so this
    test does see a read), the second stays out of it. Also under a 64 KiB
    stack limit, which the read-ahead's state must not need while it is
    still root (it once faulted there, before reading anything)."""
    image = make_image(image_dir, links={"/bin/public": "/opt/public",
                                         "/bin/secret": "/opt/secret"},
                       files={"/opt/public": (4 * MIB, 0o644), "/opt/secret": (4 * MIB, 0o600)})
    with held(image) as pid:
        root = f"/proc/{pid}/root"
        # The holder's own read-ahead read busybox only.
        assert resident_bytes(root + "/opt/public") == 0
        assert resident_bytes(root + "/opt/secret") == 0
        limit = f"ulimit -s {stack_kib}; " if stack_kib else ""
        for prog in ("/bin/public", "/bin/secret"):
            r = run_as_user(["sh", "-c", limit + 'exec singularity exec "$0" "$1"', image, prog])
            assert r.returncode != 0 and "ermission denied" in r.stderr, r.stderr
        time.sleep(0.5)
        assert resident_bytes(root + "/opt/public") >= 2 * MIB
        assert resident_bytes(root + "/opt/secret") == 0


def test_read_ahead_finds_a_name_in_the_default_path(kernel_shared, image_dir):
    """`exec IMAGE NAME`: the read-ahead looks NAME up in the default PATH
    (the first regular file wins), as the container will most likely find
    it. NAME is not executable, so the container itself never reads it."""
    image = make_image(image_dir, files={"/usr/local/bin/tool": (4 * MIB, 0o644),
                                         "/usr/bin/tool": (4 * MIB, 0o644)})
    with held(image) as pid:
        root = f"/proc/{pid}/root"
        assert resident_bytes(root + "/usr/local/bin/tool") == 0
        r = run_as_user(["singularity", "exec", image, "tool"])
        assert r.returncode != 0, r.stdout
        time.sleep(0.5)
        assert resident_bytes(root + "/usr/local/bin/tool") >= 2 * MIB
        assert resident_bytes(root + "/usr/bin/tool") == 0


# What would touch the image while still root: a walk of a path, a change
# of directory or root, a look at an inode.
WALKS = ("chroot", "fchdir", "chdir", "open", "openat", "openat2", "newfstatat", "statx",
         "faccessat2", "readlinkat", "getdents64")


# startup_trace.LINE, also for a syscall's entry: "sys_NAME(arg: value, ...)".
TRACE_LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[\d+\]\s+\S+\s+\d+\.\d+: "
                        r"(?P<event>\w+)(?::|(?=\())\s*(?P<rest>.*)$")


def traced_exec(image):
    """One exec of image as the user, traced: [(pid, event name, text)]."""
    events = (["task/task_rename", "syscalls/sys_enter_setresuid"]
              + [f"syscalls/sys_enter_{w}" for w in WALKS])
    try:
        with startup_trace.Instance(events) as t:
            with open(t.path("tracing_on"), "w") as f:
                f.write("1")
            r = run_as_user(["singularity", "exec", image, "/probe/busybox", "true"])
            time.sleep(0.5)  # the read-ahead is done by now
            with open(t.path("tracing_on"), "w") as f:
                f.write("0")
            with open(t.path("trace")) as f:
                text = f.read()
    except startup_trace.Unavailable as e:
        pytest.skip(str(e))
    assert r.returncode == 0, r.stderr
    assert "LOST" not in text
    return [(m["pid"], m["event"], m["rest"])
            for m in map(TRACE_LINE.match, text.splitlines()) if m]


def read_ahead_pids(lines):
    """The processes that renamed themselves squashfs-hold (task_rename: the
    trace's own names of a task are not those it had at each event)."""
    return {re.search(r"pid=(\d+)", rest)[1] for _, event, rest in lines
            if event == "task_rename" and "newcomm=squashfs-hold" in rest}


def read_ahead_events(image):
    """The read-ahead process's events of one traced exec, in order,
    [(event name, text)]."""
    lines = traced_exec(image)
    [pid] = read_ahead_pids(lines)
    return [(event, rest) for p, event, rest in lines if p == pid]


def test_read_ahead_touches_the_image_only_as_the_user(kernel_shared, image_dir):
    """The read-ahead process, while still root, walks no path: everything
    it does to the image comes after its setresuid to the user (an earlier
    version chdir'd and chrooted into the image's mount first; on FUSE the
    user's server could have held that root process, with the starter's
    fds, in a request never answered). After the setresuid it does look
    the image up (openat2): the trace sees it."""
    image = make_image(image_dir)
    events = read_ahead_events(image)
    names = [e for e, _ in events]
    assert "sys_setresuid" in names, events
    # (the trace names a syscall's entry event sys_NAME)
    before = names[:names.index("sys_setresuid")]
    assert [e for e in before if e != "task_rename"] == [], events
    after = names[names.index("sys_setresuid"):]
    assert "sys_openat2" in after, events


def test_no_read_ahead_on_the_fuse_path(sing_config, image_dir):
    """The setuid FUSE path forks no read-ahead process (it cost more than
    it saved where a fork is slow: kernel_prefetch.h); the kernel path's
    does show in the same trace."""
    image = make_image(image_dir)
    sing_config.set(**{"allow setuid-mount squashfs": "no"})
    assert read_ahead_pids(traced_exec(image)) == set()
    sing_config.set(**{"allow setuid-mount squashfs": "yes"})
    assert len(read_ahead_pids(traced_exec(image))) == 1


def test_read_ahead_is_no_child_of_the_container(kernel_shared, image_dir):
    """The container's process (the starter exec'd into the program) has
    no child: the read-ahead process is a grandchild of the starter,
    reparented away."""
    image = make_image(image_dir)
    with held(image) as pid:
        time.sleep(0.5)
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            assert f.read().split() == []


def holders(image):
    """Live squashfs-hold processes of image (their fd 0 is the image's
    root, on one of its loop devices; zombies not counted): {pid: status
    text}."""
    devs = {os.stat(loop).st_rdev for loop in loop_devices(image)}
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                status = f.read()
            if ("Name:\tsquashfs-hold\n" in status and "State:\tZ" not in status
                    and os.stat(f"/proc/{pid}/fd/0").st_dev in devs):
                found[int(pid)] = status
        except OSError:
            continue
    return found


def in_mount_ns(ns):
    """Pids of every process whose mount namespace is ns ("mnt:[N]")."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") == ns:
                pids.append(int(pid))
        except OSError:
            pass
    return pids


def loop_devices(image):
    out = subprocess.run(["losetup", "--noheadings", "--output", "NAME", "-j", image],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


LINGER = 3


def test_linger_holds_the_image_mount_alone(sing_config, image_dir):
    """`squashfs mount linger`: after the container is gone, one process of
    the user (no capabilities, no fd but one of the image's root, in the
    host's mount namespace, its own root the host's) holds the image's mount, so the next container on the shared
    loop device finds what the first one read in the page cache. Nothing
    holds the container's mount namespace (its other mounts: binds, an
    overlay), and after the linger the loop device is gone."""
    sing_config.set(**{"allow setuid-mount squashfs": "yes", "shared loop devices": "yes",
                       "squashfs mount linger": str(LINGER)})
    image = make_image(image_dir, files={"/opt/data": (4 * MIB, 0o644)})
    info = ensure_user()
    r = run_as_user(["singularity", "exec", image, "/probe/busybox", "sh", "-c",
                     "readlink /proc/self/ns/mnt; /probe/busybox cat /opt/data >/dev/null"])
    assert r.returncode == 0, r.stderr
    container_ns = r.stdout.strip()
    assert container_ns.startswith("mnt:[") and container_ns != os.readlink("/proc/self/ns/mnt")
    assert in_mount_ns(container_ns) == []
    [loop] = loop_devices(image)
    [(pid, status)] = holders(image).items()
    assert f"Uid:\t{info.uid}\t{info.uid}\t{info.uid}\t{info.uid}\n" in status, status
    assert "CapEff:\t0000000000000000\n" in status and "CapPrm:\t0000000000000000\n" in status
    assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    assert os.listdir(f"/proc/{pid}/fd") == ["0"]
    assert os.path.samefile(f"/proc/{pid}/root", "/")
    assert resident_bytes(f"/proc/{pid}/fd/0/opt/data") >= 2 * MIB
    # The next container shares the device and the holder; still one of each.
    r = run_as_user(["singularity", "exec", image, "/probe/busybox", "true"])
    assert r.returncode == 0, r.stderr
    time.sleep(0.5)  # the second read-ahead ends when it sees the first holder
    assert loop_devices(image) == [loop]
    assert list(holders(image)) == [pid]
    deadline = time.monotonic() + LINGER + 10
    while (holders(image) or loop_devices(image)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert holders(image) == {} and loop_devices(image) == []


def test_linger_counts_from_the_containers_end(sing_config, image_dir):
    """A container that runs longer than the linger: its image's mount is
    still held after it ends, for the linger, and then goes. While the
    container runs, the holder's fds are the image's root and a pidfd (of
    the container's process, to see its end)."""
    sing_config.set(**{"allow setuid-mount squashfs": "yes", "shared loop devices": "yes",
                       "squashfs mount linger": str(LINGER)})
    image = make_image(image_dir)
    with held(image):
        time.sleep(LINGER + 1)
        [pid] = holders(image)
        assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1"]
        assert os.readlink(f"/proc/{pid}/fd/1") == "anon_inode:[pidfd]"
    time.sleep(0.5)
    assert list(holders(image)) == [pid] and len(loop_devices(image)) == 1
    deadline = time.monotonic() + LINGER + 10
    while (holders(image) or loop_devices(image)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert holders(image) == {} and loop_devices(image) == []


@pytest.mark.parametrize("how", ["block", "ignore"])
def test_linger_ends_whatever_the_callers_signals(sing_config, image_dir, how):
    """A caller that blocks or ignores SIGALRM (both survive the setuid
    exec) cannot keep the image's mount past the linger."""
    sing_config.set(**{"allow setuid-mount squashfs": "yes", "shared loop devices": "yes",
                       "squashfs mount linger": str(LINGER)})
    image = make_image(image_dir)
    setup = {"block": "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])",
             "ignore": "signal.signal(signal.SIGALRM, signal.SIG_IGN)"}[how]
    r = run_as_user(["/usr/bin/python3", "-c", f"import os, signal, sys; {setup}; "
                     "os.execvp('singularity', sys.argv[1:])",
                     "singularity", "exec", image, "/probe/busybox", "true"])
    assert r.returncode == 0, r.stderr
    assert len(holders(image)) == 1
    deadline = time.monotonic() + LINGER + 10
    while (holders(image) or loop_devices(image)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert holders(image) == {} and loop_devices(image) == []


@pytest.mark.parametrize("shared,linger", [("no", str(LINGER)), ("yes", "0")])
def test_no_linger_without_shared_loop_devices_or_by_default(sing_config, image_dir, shared, linger):
    """Without shared loop devices nothing could find a lingering mount (each
    container attaches a device of its own), and linger 0 is the default:
    either way the image's mount and loop device go with the container."""
    sing_config.set(**{"allow setuid-mount squashfs": "yes", "shared loop devices": shared,
                       "squashfs mount linger": linger})
    image = make_image(image_dir)
    r = run_as_user(["singularity", "exec", image, "/probe/busybox", "true"])
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 5  # the read-ahead is done long before
    while (holders(image) or loop_devices(image)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert holders(image) == {} and loop_devices(image) == []
