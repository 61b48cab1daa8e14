"""Adversarial tests of the setuid starter (issue 6, "Starter"): each runs as
the normal user and expects the safe outcome."""

import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import USER, ensure_user, install_prefix, run_as_user
from test_run import images, no_leftovers, one_error, sing  # noqa: F401 (fixtures)

STARTER_REL = "libexec/singularity/starter"

ESCAPE_PROBE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void report(const char *what, int rc)
{
        printf("%s %s\n", what, rc == 0 ? "SUCCEEDED" : strerror(errno));
}

int main(int argc, char **argv)
{
        gid_t root = 0;
        if (argc != 3)
                return 2;
        report("setuid", setuid(0));
        report("setresuid", setresuid(0, 0, 0));
        report("setgid", setgid(0));
        report("setgroups", setgroups(1, &root));
        /* The classic escape: chroot into a subdirectory, walk up, chroot(".") */
        report("chroot", chroot("/tmp"));
        report("remount-rw", mount(NULL, "/", NULL, MS_REMOUNT, NULL));
        report("mount", mount("none", "/mnt", "tmpfs", 0, NULL));
        report("mknod", mknod(argv[1], S_IFBLK | 0666, makedev(7, 0)));
        report("kill", kill(atoi(argv[2]), SIGKILL));
        return 0;
}
"""

PRELOAD = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Leave a mark when loaded into the starter (or into anything, for the
 * self-test that shows the mark works). */
__attribute__((constructor)) static void mark(void)
{
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
                return;
        exe[n] = '\0';
        if (!strstr(exe, "/starter") && !getenv("PRELOAD_SELFTEST"))
                return;
        int fd = open(MARKER, O_WRONLY | O_CREAT | O_APPEND, 0666);
        if (fd >= 0) {
                write(fd, exe, (size_t)n);
                write(fd, "\n", 1);
                close(fd);
        }
}
"""


def starter():
    return os.path.join(install_prefix(), STARTER_REL)


def squash(root, dest):
    subprocess.run(["mksquashfs", root, dest, "-noappend", "-quiet", "-no-progress"],
                   check=True, stdout=subprocess.DEVNULL)
    os.chmod(dest, 0o644)
    return dest


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    os.chmod(path, mode)


@pytest.fixture(scope="module")
def lab(images):
    """Root-owned, user-traversable work area with test-built images:
    probe.sqfs (escape probe, file-capability binary, device nodes, symlinks
    out of the container), good.sqfs / bad.sqfs (different /etc/marker) and
    a scratch/scratch2/other layout for `limit container paths`."""
    work = tempfile.mkdtemp(prefix="sing-sec-")
    os.chmod(work, 0o755)
    root = os.path.join(work, "rootfs")
    shutil.copytree(images["sandbox"], root, symlinks=True)
    write(os.path.join(work, "probe.c"), ESCAPE_PROBE)
    os.makedirs(os.path.join(root, "probe"))
    subprocess.run(["gcc", "-static", "-O2", "-o", os.path.join(root, "probe", "escape"),
                    os.path.join(work, "probe.c")], check=True)
    fcap = os.path.join(root, "probe", "busybox")
    shutil.copy("/bin/busybox", fcap)
    subprocess.run(["setcap", "cap_setuid,cap_dac_override,cap_sys_admin+eip", fcap], check=True)
    os.mknod(os.path.join(root, "probe", "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(os.path.join(root, "probe", "loop0"), stat.S_IFBLK | 0o666, os.makedev(7, 0))
    for n in ("null", "loop0"):
        os.chmod(os.path.join(root, "probe", n), 0o666)
    os.makedirs(os.path.join(root, "mnt"), exist_ok=True)
    os.symlink("/etc", os.path.join(root, "mnt", "etclink"))
    os.symlink("../../..", os.path.join(root, "mnt", "uplink"))
    probe = squash(root, os.path.join(work, "probe.sqfs"))
    for d in ("scratch", "scratch2", "other", "markers"):
        os.mkdir(os.path.join(work, d))
        os.chmod(os.path.join(work, d), 0o755)
    os.chmod(os.path.join(work, "markers"), 0o1777)
    for name, where in (("good", "scratch"), ("bad", "other")):
        write(os.path.join(root, "etc", "marker"), f"{name}\n")
        squash(root, os.path.join(work, where, f"{name}.sqfs"))
    shutil.copy(os.path.join(work, "other", "bad.sqfs"), os.path.join(work, "scratch2", "x.sqfs"))
    yield dict(work=work, probe=probe, good=os.path.join(work, "scratch", "good.sqfs"),
               bad=os.path.join(work, "other", "bad.sqfs"))
    shutil.rmtree(work, ignore_errors=True)


def run_starter(image, *cmd, opts=(), env=None, **kw):
    return run_as_user([starter(), *opts, "--action", "exec", "--image", image, "--", *cmd],
                       env=env, **kw)


# ---- the config file ---------------------------------------------------------

def test_config_not_safely_owned_is_refused(images, sing_config, test_user, no_leftovers):
    path = sing_config.path
    confdir = os.path.dirname(path)
    etcdir = os.path.dirname(confdir)

    def refused(why):
        r = sing("exec", images["sif"], "true")
        one_error(r, path)
        assert why in r.stderr, r.stderr

    try:
        os.chown(path, test_user.uid, 0)
        refused("not owned by root")
        os.chown(path, 0, 0)
        for mode in (0o664, 0o646):
            os.chmod(path, mode)
            refused("writable by group or others")
        os.chmod(path, 0o644)
        for d in (confdir, etcdir):
            os.chmod(d, 0o777)
            refused("writable by group or others")
            os.chmod(d, 0o755)
            os.chown(d, test_user.uid, test_user.gid)
            refused("not owned by root")
            os.chown(d, 0, 0)
        # A symlink to an acceptable file is not the config file.
        shutil.move(path, path + ".real")
        os.symlink(path + ".real", path)
        r = sing("exec", images["sif"], "true")
        assert r.returncode == 255 and path in r.stderr, r.stderr
    finally:
        if os.path.islink(path):
            os.unlink(path)
            shutil.move(path + ".real", path)
        for d in (confdir, etcdir):
            os.chown(d, 0, 0)
            os.chmod(d, 0o755)
        os.chown(path, 0, 0)
        os.chmod(path, 0o644)
    r = sing("exec", images["sif"], "true")
    assert r.returncode == 0, r.stderr


# ---- the caller's environment --------------------------------------------------

def test_loader_variables_have_no_effect(lab, test_user):
    work = lab["work"]
    marker = os.path.join(work, "markers", "preload")
    write(os.path.join(work, "preload.c"), PRELOAD.replace("MARKER", f'"{marker}"'))
    lib = os.path.join(work, "preload.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", lib, os.path.join(work, "preload.c")],
                   check=True)
    # Same library under the name of one the starter loads: LD_LIBRARY_PATH.
    libdir = os.path.join(work, "fakelibs")
    os.makedirs(libdir, exist_ok=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libcap.so.2", "-o",
                    os.path.join(libdir, "libcap.so.2"), os.path.join(work, "preload.c")],
                   check=True)
    gconv = os.path.join(work, "gconv")
    os.makedirs(gconv, exist_ok=True)
    write(os.path.join(gconv, "gconv-modules"), "module INTERNAL EVIL// preload 1\n"
          "module EVIL// INTERNAL preload 1\nalias UTF-8// EVIL//\n")
    shutil.copy(lib, os.path.join(gconv, "preload.so"))
    # Self-test: a non-setuid copy of the starter does load the library.
    plain = os.path.join(work, "plain")
    os.makedirs(plain, exist_ok=True)
    shutil.copy(starter(), os.path.join(plain, "starter"))
    os.chmod(os.path.join(plain, "starter"), 0o755)
    run_as_user([os.path.join(plain, "starter"), "--version"], env={"LD_PRELOAD": lib})
    assert os.path.exists(marker), "self-test: the preload library left no mark"
    os.unlink(marker)

    env = {"LD_PRELOAD": lib, "LD_LIBRARY_PATH": libdir, "LD_AUDIT": lib,
           "GCONV_PATH": gconv, "LOCPATH": gconv, "LC_ALL": "EVIL", "LANGUAGE": "EVIL",
           "CHARSET": "EVIL", "NLSPATH": gconv + "/%N", "MALLOC_CHECK_": "3"}
    r = run_starter(lab["good"], "/bin/cat", "/etc/marker", env=env, cwd="/")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "good\n"
    r = run_starter(os.path.join(work, "nope.sqfs"), "/bin/true", env=env, cwd="/")
    assert r.returncode == 255 and "No such file or directory" in r.stderr, r.stderr
    assert not os.path.exists(marker), open(marker).read()


def test_path_and_config_variables_have_no_effect(lab, test_user):
    work = lab["work"]
    evil = os.path.join(work, "evil")
    marker = os.path.join(work, "markers", "path")
    os.makedirs(evil, exist_ok=True)
    for name in ("squashfuse", "unsquashfs", "mount", "umount", "losetup", "sh", "cat",
                 "true", "modprobe", "fusermount", "fusermount3", "getent", "id"):
        write(os.path.join(evil, name), f"#!/bin/sh\necho $0 >> {marker}\n", 0o755)
    conf = os.path.join(work, "evilconf")
    os.makedirs(conf, exist_ok=True)
    write(os.path.join(conf, "singularity.conf"), "mount proc = no\nallow setuid = no\n")
    env = {"PATH": evil + ":/usr/bin:/bin", "HOME": "/root",
           "SINGULARITY_CONFIGDIR": conf, "APPTAINER_CONFIGDIR": conf,
           "SINGULARITY_CONF_FILE": conf + "/singularity.conf",
           "SINGULARITY_CONFIG_FILE": conf + "/singularity.conf",
           "SINGULARITY_SYSCONFDIR": conf, "SINGULARITY_STARTER": evil + "/sh"}
    cmd = ["/bin/sh", "-c", "test -e /proc/self/status && echo proc; "
           "cat /proc/self/uid_map; echo $HOME"]
    r = run_starter(lab["good"], *cmd, env=env, cwd="/")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == "proc"  # `mount proc = no` was not read
    assert lines[1].split() == ["0", "0", "4294967295"]  # nor `allow setuid = no`
    assert lines[2] == test_user.home  # home from the passwd database
    # The same through the frontend.
    r = run_as_user([os.path.join(install_prefix(), "bin", "singularity"), "exec", lab["good"],
                     "/bin/sh", "-c", "test -e /proc/self/status && echo proc"], env=env, cwd="/")
    assert r.returncode == 0 and r.stdout == "proc\n", r.stderr
    assert not os.path.exists(marker), open(marker).read()


# ---- file descriptors ----------------------------------------------------------

FD_SCRIPT = "ls -l /proc/self/fd"


def fd_table(text):
    """{fd: target} from `ls -l /proc/self/fd`, without ls's own directory fd."""
    fds = {}
    for line in text.splitlines():
        if " -> " in line:
            left, target = line.split(" -> ", 1)
            if not (target.startswith("/proc/") and target.endswith("/fd")):
                fds[left.split()[-1]] = target
    return fds


@pytest.mark.parametrize("pid", [False, True], ids=["nopid", "pid"])
def test_only_the_callers_fds_reach_the_container(lab, run_mode, user_tmp, pid):
    out = os.path.join(user_tmp, "fds")
    opts = " --pid" if pid else ""
    # Extra fds 5 and 7 (an image and a directory) and 0-2 closed: the starter
    # reopens 0-2 on /dev/null, passes the caller's 5 and 7 through as they
    # are (they are the caller's: PMI fds, `3>file`) and adds nothing of its
    # own (test_hpc.py compares the whole table with what the caller passed).
    r = run_as_user(["sh", "-c", f"exec 5<{lab['good']} 7<{user_tmp} 0<&- 1>&- 2>&- "
                     f"{starter()}{opts} --action exec --image {lab['good']} -- /bin/sh -c "
                     f"'{FD_SCRIPT} > {out}'"], cwd="/")
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        fds = fd_table(f.read())
    assert fds.pop("1") == out
    assert fds.pop("5") == lab["good"] and fds.pop("7") == user_tmp, fds
    # The setuid starter's 0-2 come from glibc (secure mode: /dev/full
    # write-only for 0, /dev/null read-only for 1-2) or from its own reopening
    # (/dev/null): harmless nodes, never an image, loop or directory fd.
    assert sorted(fds) == ["0", "2"], fds
    assert set(fds.values()) <= {"/dev/null", "/dev/full"}, fds
    # Through the frontend with normal stdio: 0-2 are the caller's pipes.
    r = sing("exec", *(["--pid"] if pid else []), lab["good"], "/bin/sh", "-c", FD_SCRIPT,
             cwd="/")
    assert r.returncode == 0, r.stderr
    fds = fd_table(r.stdout)
    assert sorted(fds) == ["0", "1", "2"], fds  # no image, loop, fuse or directory fd


# ---- privileges inside ---------------------------------------------------------

def test_file_capabilities_and_device_nodes_give_nothing(lab, run_mode):
    r = run_starter(lab["probe"], "/probe/busybox", "cat", "/proc/self/status", cwd="/")
    assert r.returncode == 0, r.stderr
    status = dict(l.split(":", 1) for l in r.stdout.splitlines() if ":" in l)
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(status[cap], 16) == 0, (cap, status[cap])
    # Without nodev the char node (a null device, 0666) would open.
    for node in ("null", "loop0"):
        r = run_starter(lab["probe"], "/bin/sh", "-c", f"head -c1 /probe/{node} && echo OPENED",
                        cwd="/")
        assert r.returncode != 0 and "OPENED" not in r.stdout, (node, r.stdout)
        assert "Permission denied" in r.stderr, (node, r.stderr)


def test_escape_probes_fail(lab, run_mode, user_tmp):
    outside = subprocess.Popen(["sleep", "60"])  # root's process on the host
    node = os.path.join(user_tmp, "node")
    try:
        r = run_starter(lab["probe"], "/probe/escape", node, str(outside.pid), cwd="/")
        assert r.returncode == 0, r.stderr
        results = dict(l.split(" ", 1) for l in r.stdout.splitlines())
        assert len(results) == 9, r.stdout
        for probe, result in results.items():
            assert result != "SUCCEEDED", (probe, r.stdout)
        assert outside.poll() is None
        assert not os.path.exists(node)
        # With a PID namespace a process outside is not even visible.
        r = run_starter(lab["probe"], "/probe/escape", node, str(outside.pid),
                        opts=("--pid",), cwd="/")
        assert "kill No such process" in r.stdout, r.stdout
        assert outside.poll() is None
    finally:
        outside.kill()
        outside.wait()


def test_refused_inside_a_user_namespace(images):
    for flags in (["-U"], ["-Ur"]):
        r = run_as_user(["unshare", *flags, "singularity", "exec", images["sif"], "true"])
        one_error(r, "user namespace")


# ---- which image is mounted ------------------------------------------------------

def test_limit_container_paths_cannot_be_tricked(lab, run_mode, sing_config):
    work = lab["work"]
    scratch = os.path.join(work, "scratch")
    sing_config.set(**{"limit container paths": scratch})
    r = run_starter(lab["good"], "/bin/cat", "/etc/marker", cwd="/")
    assert r.returncode == 0 and r.stdout == "good\n", r.stderr
    link = os.path.join(scratch, "link.sqfs")
    os.symlink("../other/bad.sqfs", link)
    try:
        for path in (os.path.join(work, "scratch2", "x.sqfs"),
                     os.path.join(scratch, "..", "other", "bad.sqfs"),
                     link):
            r = run_starter(path, "/bin/cat", "/etc/marker", cwd="/")
            one_error(r, "limit container paths")
            assert "bad" not in r.stdout
    finally:
        os.unlink(link)


def test_symlink_flipped_during_startup(lab, sing_config):
    """A symlink in the allowed dir flips between the allowed image and a
    forbidden one while the starter runs: the image mounted is always the
    one that was checked."""
    scratch = os.path.join(lab["work"], "scratch")
    sing_config.set(**{"limit container paths": scratch})
    flip = os.path.join(scratch, "flip.sqfs")
    tmp = os.path.join(scratch, "flip.tmp")
    stop = threading.Event()

    def flipper():
        targets = ("good.sqfs", "../other/bad.sqfs")
        i = 0
        while not stop.is_set():
            os.symlink(targets[i % 2], tmp)
            os.rename(tmp, flip)
            i += 1

    os.symlink("good.sqfs", flip)
    t = threading.Thread(target=flipper)
    t.start()
    seen = {"good": 0, "refused": 0}
    # Several runs at a time, a few thousand in all, bounded in time.
    user = ensure_user()
    script = (f"i=0; while [ $i -lt 50 ]; do {starter()} --action exec --image {flip} -- "
              f"/bin/cat /etc/marker 2>&1; i=$((i+1)); done")
    deadline = time.monotonic() + 120
    try:
        while sum(seen.values()) < 2000 and time.monotonic() < deadline:
            procs = [subprocess.Popen(["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}",
                                       "--init-groups", "sh", "-c", script], cwd="/",
                                      stdout=subprocess.PIPE, text=True) for _ in range(4)]
            for p in procs:
                for line in p.communicate()[0].splitlines():
                    assert line.strip() != "bad", "the forbidden image was mounted"
                    if line == "good":
                        seen["good"] += 1
                    elif "limit container paths" in line:
                        seen["refused"] += 1
    finally:
        stop.set()
        t.join()
        for p in (flip, tmp):
            if os.path.lexists(p):
                os.unlink(p)
    assert seen["good"] > 0 and seen["refused"] > 0, seen  # both sides of the race were hit


def test_unreadable_images_are_refused(lab, run_mode, user_tmp):
    hidden = os.path.join(lab["work"], "hidden")
    os.makedirs(hidden, exist_ok=True)
    os.chmod(hidden, 0o700)
    shutil.copy(lab["good"], os.path.join(hidden, "x.sqfs"))
    secret = os.path.join(lab["work"], "secret.sqfs")
    shutil.copy(lab["good"], secret)
    os.chmod(secret, 0o600)
    sandbox = os.path.join(lab["work"], "secret-sandbox")
    if not os.path.exists(sandbox):
        shutil.copytree(os.path.join(lab["work"], "rootfs"), sandbox, symlinks=True)
    os.chmod(sandbox, 0o700)
    for path in (os.path.join(hidden, "x.sqfs"), secret, sandbox):
        r = run_starter(path, "/bin/cat", "/etc/marker", cwd="/")
        one_error(r, "permission denied")
        assert r.stdout == ""


# ---- binds ---------------------------------------------------------------------

def test_bind_onto_image_symlinks_lands_inside(lab, run_mode, user_tmp):
    name = f"sing-sec-{os.getpid()}"
    with open(os.path.join(user_tmp, name), "w") as f:
        f.write("inside\n")
    os.chmod(os.path.join(user_tmp, name), 0o644)
    r = run_starter(lab["probe"], "/bin/cat", f"/etc/{name}", opts=("--bind",
                    f"{user_tmp}:/mnt/etclink"), cwd="/")
    assert r.returncode == 0 and r.stdout == "inside\n", r.stderr
    assert not os.path.exists(f"/etc/{name}")
    # ../../.. from /mnt is the container's root, never the host's: refused,
    # as a bind onto / would replace the whole container.
    r = run_starter(lab["probe"], "/bin/cat", f"/{name}",
                    opts=("--bind", f"{user_tmp}:/mnt/uplink"), cwd="/")
    one_error(r, "/mnt/uplink: resolves to the container root")
    assert not os.path.exists(f"/{name}")


def test_unreadable_bind_sources_are_refused(lab, run_mode, user_tmp):
    private = os.path.join(user_tmp, "private")
    os.mkdir(private, 0o700)  # root's, inside a directory the user owns
    for spec in ("/root:/mnt", f"{private}:/mnt", "/etc/shadow:/mnt/x"):
        r = run_starter(lab["good"], "/bin/true", opts=("--bind", spec), cwd="/")
        one_error(r, spec.split(":")[0])
        assert "Permission denied" in r.stderr
    r = run_starter(lab["good"], "/bin/true", opts=("--home", "/root"), cwd="/")
    one_error(r, "/root")


# ---- nothing left behind ---------------------------------------------------------

def our_mounts():
    with open("/proc/self/mountinfo") as f:
        return f.read()


def our_loops(image):
    out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if image in l]


def test_container_mounts_stay_in_the_container(lab, run_mode, user_tmp):
    before = our_mounts()
    ready = os.path.join(user_tmp, "ready")
    p = subprocess.Popen(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups",
                          starter(), "--action", "exec", "--image", lab["good"], "--",
                          "/bin/sh", "-c", f"touch {ready}; sleep 3"], cwd="/")
    try:
        for _ in range(100):
            if os.path.exists(ready):
                break
            time.sleep(0.05)
        assert os.path.exists(ready)
        assert our_mounts() == before
        with open(f"/proc/{p.pid}/mountinfo") as f:
            assert f.read() != before  # the container does have its own mounts
    finally:
        p.kill()
        p.wait()


# Runs until killed, or until its image is gone (squashfuse killed).
CONTAINER_LOOP = "while /bin/cat /etc/marker >/dev/null; do sleep 0.2; done"


def start_container(lab, user_tmp, *opts):
    ready = os.path.join(user_tmp, f"ready-{time.monotonic_ns()}")
    p = subprocess.Popen(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups",
                          starter(), *opts, "--action", "exec", "--image", lab["good"], "--",
                          "/bin/sh", "-c", f"touch {ready}; {CONTAINER_LOOP}"], cwd="/")
    for _ in range(200):
        if os.path.exists(ready):
            return p
        time.sleep(0.05)
    p.kill()
    pytest.fail("the container did not start")


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


@pytest.mark.parametrize("victim", ["starter", "monitor", "container-init", "squashfuse"])
def test_killing_any_process_leaves_nothing(lab, run_mode, user_tmp, victim):
    if victim == "squashfuse" and run_mode != "userns":
        pytest.skip("squashfuse runs only in the user-namespace mode")
    before = our_mounts()
    opts = ("--pid",) if victim in ("monitor", "container-init") else ()
    p = start_container(lab, user_tmp, *opts)
    if victim in ("starter", "monitor"):
        target = p.pid
    elif victim == "container-init":
        target = [c for c in children(p.pid)
                  if open(f"/proc/{c}/comm").read().strip() != "squashfuse"][0]
    else:
        out = subprocess.run(["pgrep", "-x", "squashfuse", "-u", USER],
                             capture_output=True, text=True).stdout.split()
        mine = [int(x) for x in out if int(x) in children(p.pid) or
                any(int(x) in children(c) for c in children(p.pid))]
        assert mine, "no squashfuse process found"
        target = mine[0]
    os.kill(target, signal.SIGKILL)
    try:
        p.wait(timeout=40)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    # Every process of this container is gone, with its mounts and loop device.
    for _ in range(100):
        if our_mounts() == before and not our_loops(lab["good"]):
            break
        time.sleep(0.1)
    assert our_mounts() == before
    assert our_loops(lab["good"]) == []
    assert subprocess.run(["pgrep", "-u", USER, "-f", CONTAINER_LOOP],
                          capture_output=True, text=True).stdout.strip() == ""


def test_starter_is_hardened(prefix):
    """PIE, full RELRO (BIND_NOW + GNU_RELRO), stack protector and fortified
    libc calls; setuid root; linked with libc and libcap only."""
    import subprocess as sp
    starter = os.path.join(prefix, "libexec", "singularity", "starter")
    st = os.stat(starter)
    assert st.st_uid == 0 and st.st_mode & 0o4000
    dyn = sp.run(["readelf", "-d", "-W", starter], capture_output=True, text=True).stdout
    assert "BIND_NOW" in dyn and "PIE" in dyn
    assert "GNU_RELRO" in sp.run(["readelf", "-l", "-W", starter], capture_output=True,
                                 text=True).stdout
    syms = sp.run(["nm", "-D", starter], capture_output=True, text=True).stdout
    assert "__stack_chk_fail" in syms
    assert re.search(r"__\w+printf_chk", syms), syms  # _FORTIFY_SOURCE
    needed = re.findall(r"NEEDED.*\[(.+)\]", dyn)
    assert sorted(needed) == ["libc.so.6", "libcap.so.2"], needed
