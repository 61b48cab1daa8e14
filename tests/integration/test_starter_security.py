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

from conftest import (FUSE_SERVER, USER, ensure_user, fuse_servers_of, install_prefix,
                      live_fuse_servers, run_as_user)
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


def test_missing_mount_points_under_image_symlinks_stay_inside(lab, run_mode, user_tmp):
    """The parents of a missing mount point are made in the overlay's upper
    layer before it is mounted (as root in setuid mode, with the image's
    mode and owner), walking the image: the walk stops at an image symlink,
    which is never shadowed by a directory, and the rest is made inside the
    container root where the symlink leads (/etc, or the root itself for
    ../../..), never on the host or in the session. In a user namespace the
    image's root-owned /etc stays read-only: one error line."""
    name = f"sing-sec-new-{os.getpid()}"
    with open(os.path.join(user_tmp, "f"), "w") as f:
        f.write("inside\n")
    os.chmod(os.path.join(user_tmp, "f"), 0o644)
    session_parent = os.path.dirname(session_dir())
    before = sorted(os.listdir(session_parent))
    for link, seen in (("etclink", f"/etc/{name}/sub/f"), ("uplink", f"/{name}/sub/f")):
        r = run_starter(lab["probe"], "/bin/sh", "-c",
                        f"readlink /mnt/{link} && cat {seen}",
                        opts=("--bind", f"{user_tmp}/f:/mnt/{link}/{name}/sub/f"), cwd="/")
        if run_mode == "userns" and link == "etclink":
            # The image's root-owned /etc stays read-only to us in a user
            # namespace (the root is the upper layer's, ours), and the
            # symlink is not shadowed by a directory to make room.
            one_error(r, f"mount point /mnt/{link}/{name}/sub/f: Permission denied")
        else:
            assert r.returncode == 0, (link, r.stderr)
            assert r.stdout.split("\n")[:2] == [os.readlink(os.path.join(
                lab["work"], "rootfs", "mnt", link)), "inside"], (link, r.stdout)
        for host in (f"/etc/{name}", f"/{name}", os.path.join(session_parent, name)):
            assert not os.path.exists(host), host
    assert sorted(os.listdir(session_parent)) == before


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


# Runs until killed, or until its image is gone (the FUSE server killed).
CONTAINER_LOOP = "while /bin/cat /etc/marker >/dev/null; do sleep 0.2; done"


def start_container(lab, user_tmp, *opts, pass_fds=()):
    ready = os.path.join(user_tmp, f"ready-{time.monotonic_ns()}")
    p = subprocess.Popen(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups",
                          starter(), *opts, "--action", "exec", "--image", lab["good"], "--",
                          "/bin/sh", "-c", f"touch {ready}; {CONTAINER_LOOP}"], cwd="/",
                         pass_fds=pass_fds)
    for _ in range(200):
        if os.path.exists(ready):
            return p
        time.sleep(0.05)
    p.kill()
    pytest.fail("the container did not start")


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


@pytest.mark.parametrize("victim", ["starter", "monitor", "container-init", "fuse-server"])
def test_killing_any_process_leaves_nothing(lab, run_mode, user_tmp, victim):
    if victim == "fuse-server" and run_mode == "setuid":
        pytest.skip("the FUSE server does not run with the kernel squashfs driver")
    before = our_mounts()
    opts = ("--pid",) if victim in ("monitor", "container-init") else ()
    p = start_container(lab, user_tmp, *opts)
    if victim in ("starter", "monitor"):
        target = p.pid
    elif victim == "container-init":
        target = [c for c in children(p.pid)
                  if open(f"/proc/{c}/comm").read().strip() != FUSE_SERVER][0]
    else:
        mine = fuse_servers_of(lab["good"])
        assert mine, "no FUSE server process found"
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
    # The FUSE server too: it ends with its connection, whichever process
    # was killed.
    for _ in range(100):
        if not live_fuse_servers():
            break
        time.sleep(0.1)
    assert live_fuse_servers() == [], "FUSE server left behind"


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(l.split(":\t", 1) for l in f.read().splitlines() if ":\t" in l)


@pytest.mark.parametrize("opts", [(), ("--pid",), ("--fakeroot",), ("--fakeroot", "--pid")],
                         ids=["plain", "pid", "fakeroot", "fakeroot-pid"])
def test_fuse_server_runs_as_the_user_without_privileges(lab, run_mode, user_tmp, test_user,
                                                        opts):
    """In setuid mode without limits (and in user-namespace mode) the image
    is served by the FUSE server (squashfs-serve): the user's uid and gids, no capability, no way
    back (no_new_privs), and the starter's grandchild, reparented: no
    child of the container program, nor of the starter or its monitor and
    init. With --fakeroot it is root of the container's user namespace
    (the user, seen from here) and still holds nothing: it is started
    there before the other namespaces are made and drops its bounding set
    there."""
    if run_mode == "setuid" and "--fakeroot" not in opts:
        pytest.skip("the kernel squashfs driver serves the image")
    p = start_container(lab, user_tmp, *opts)
    try:
        fuse = fuse_servers_of(lab["good"])
        assert len(fuse) == 1, fuse
        st = proc_status(fuse[0])
        assert st["Uid"].split() == [str(test_user.uid)] * 4
        assert st["Gid"].split() == [str(test_user.gid)] * 4
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(st[cap], 16) == 0, (cap, st[cap])
        assert st["NoNewPrivs"].strip() == "1"
        # Started by a clone sharing the starter's memory, with every signal
        # blocked until its exec: it runs with the caller's mask (none).
        assert int(st["SigBlk"], 16) == 0, st["SigBlk"]
        parent = int(st["PPid"])
        # The shell running the loop (the starter's own command line has it too).
        program = [pid for pid in (int(x) for x in subprocess.run(
            ["pgrep", "-u", USER, "-f", CONTAINER_LOOP], capture_output=True,
            text=True).stdout.split()) if open(f"/proc/{pid}/comm").read().strip() == "sh"]
        assert program and parent not in program, "the FUSE server is the program's child"
        assert parent != p.pid and parent not in children(p.pid), parent
        # Every process of ours the container could ptrace carries the
        # TIOCSTI filter too (Seccomp: 2 is filter mode).
        for pid in (fuse[0], p.pid, *children(p.pid), *program):
            assert proc_status(pid)["Seccomp"].strip() == "2", pid
    finally:
        p.kill()
        p.wait()
        for _ in range(100):  # the server ends with its connection, asynchronously
            if not live_fuse_servers():
                break
            time.sleep(0.1)


@pytest.mark.parametrize("opts", [(), ("--pid",), ("--fakeroot",)],
                         ids=["plain", "pid", "fakeroot"])
def test_fuse_server_holds_only_its_own_fds(lab, run_mode, user_tmp, opts):
    """The server is forked from the starter before any namespace, with
    everything the starter had open then (as root) and the caller's fds (an
    MPI launcher's, `5<file`): it must end up with /dev/null on 0 and 1, the
    caller's stderr, the image and its FUSE connection, and nothing else.
    The container's own process sees no FUSE server with --pid (it is the
    monitor's child, outside the container's pid namespace)."""
    if run_mode == "setuid" and "--fakeroot" not in opts:
        pytest.skip("the kernel squashfs driver serves the image (--fakeroot: FUSE)")
    caller = [os.open(os.path.join(user_tmp, f"caller-{n}"), os.O_RDWR | os.O_CREAT, 0o600)
              for n in range(3)]
    for fd in caller:
        os.fchown(fd, ensure_user().uid, ensure_user().gid)
    p = start_container(lab, user_tmp, *opts, pass_fds=caller)
    try:
        fuse = fuse_servers_of(lab["good"])
        assert len(fuse) == 1, fuse
        fds = {}
        for fd in os.listdir(f"/proc/{fuse[0]}/fd"):
            fds[int(fd)] = os.readlink(f"/proc/{fuse[0]}/fd/{fd}")
        stderr = os.readlink(f"/proc/{p.pid}/fd/2")
        assert fds.pop(0) == fds.pop(1) == "/dev/null", fds
        assert fds.pop(2) == stderr, fds
        # The starter's process, to end with it.
        assert fds.pop(5) == "anon_inode:[pidfd]", fds
        # The image (its fd 4, and the library's own open of it), and the
        # connection: /dev/fuse, opened in the container's mount namespace
        # in setuid mode (its path there is not ours: "/fuse").
        assert fds and set(fds.values()) <= {lab["good"], "/dev/fuse", "/fuse"}, fds
        assert sum(v in ("/dev/fuse", "/fuse") for v in fds.values()) == 1, fds
        if "--pid" in opts:
            program = [pid for pid in (int(x) for x in subprocess.run(
                ["pgrep", "-u", USER, "-f", CONTAINER_LOOP], capture_output=True,
                text=True).stdout.split()) if open(f"/proc/{pid}/comm").read().strip() == "sh"]
            assert program, "the container program was not found"
            assert (os.readlink(f"/proc/{fuse[0]}/ns/pid") !=
                    os.readlink(f"/proc/{program[0]}/ns/pid"))
    finally:
        p.kill()
        p.wait()
        for fd in caller:
            os.close(fd)
        wait_no_user_servers()


def wait_no_user_servers():
    for _ in range(100):  # the server ends with the starter's process, asynchronously
        if not live_fuse_servers():
            return
        time.sleep(0.1)


def test_starter_is_hardened(prefix):
    """PIE, full RELRO (BIND_NOW + GNU_RELRO), stack protector and fortified
    libc calls; setuid root; linked with libc, libcap and libseccomp only
    (the two statically where their .a exists, as on Debian:
    starter/meson.build)."""
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
    assert "libc.so.6" in needed, needed
    assert set(needed) <= {"libc.so.6", "libcap.so.2", "libseccomp.so.2"}, needed
    if all(os.path.exists(f"/usr/lib/{os.uname().machine}-linux-gnu/lib{n}.a")
           for n in ("cap", "seccomp")):
        assert needed == ["libc.so.6"], needed


# ---- issue 9: what the starter reads as root, and where it mounts -------------

def session_dir():
    """The starter's session directory (meson.build: PREFIX/var/lib/... for
    a private prefix, /var/lib/... for a system one). It must exist: a test
    naming a path that is not the session would pass on "No such file"."""
    for d in (os.path.join(install_prefix(), "var", "lib", "singularity", "mnt", "session"),
              "/var/lib/singularity/mnt/session"):
        if os.path.isdir(d):
            return d
    pytest.fail("the starter's session directory was not found (-Dsessiondir?)")


def user2():
    from conftest import ensure_user2
    return ensure_user2()


@pytest.fixture(scope="module")
def victim():
    """Private files of the second user (0600, in /tmp and /dev/shm) and the
    host's /etc/shadow: none of them may ever reach the first user."""
    pw = user2()
    secret = f"VICTIM-SECRET-{os.getpid()}-{time.monotonic_ns()}"
    files = {}
    for where in ("/tmp", "/dev/shm"):
        path = os.path.join(where, f"sing-victim-{os.getpid()}")
        write(path, f"{secret}:x:4242:\n", 0o600)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        files[where] = path
    with open("/etc/shadow") as f:
        shadow = [l for l in f.read().splitlines() if l.strip()]
    yield dict(secret=secret, tmp=files["/tmp"], shm=files["/dev/shm"], shadow=shadow)
    for path in files.values():
        os.unlink(path)


def leaked(victim, text):
    return victim["secret"] in text or any(l in text.splitlines() for l in victim["shadow"])


# (file replaced by a symlink, its target in the container, starter options)
LEAK_CASES = {
    "group-tmp": ("etc/group", lambda v: v["tmp"], ()),
    "passwd-tmp-relative": ("etc/passwd", lambda v: "../" + v["tmp"].lstrip("/"), ()),
    "passwd-devshm": ("etc/passwd", lambda v: v["shm"], ()),
    "group-hostroot-shadow": ("etc/group", lambda v: "/hostroot/etc/shadow",
                              ("--home", "/:/hostroot")),
}


def hostile_rootfs(lab, dest, link, target):
    root = os.path.join(lab["work"], dest)
    if os.path.exists(root):
        shutil.rmtree(root)
    shutil.copytree(os.path.join(lab["work"], "rootfs"), root, symlinks=True)
    os.unlink(os.path.join(root, link))
    os.symlink(target, os.path.join(root, link))
    return root


def hostile_image(lab, kind, name, link, target):
    root = hostile_rootfs(lab, f"hostile-{name}-{kind}", link, target)
    if kind == "sandbox":
        return root
    out = os.path.join(lab["work"], f"hostile-{name}.{kind}")
    if kind == "squashfs":
        return squash(root, out)
    r = subprocess.run([os.path.join(install_prefix(), "bin", "singularity"), "build", "-F",
                        out, root + "/"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    os.chmod(out, 0o644)
    return out


@pytest.mark.parametrize("kind", ["sif", "squashfs", "sandbox"])
@pytest.mark.parametrize("case", sorted(LEAK_CASES))
def test_image_symlinks_do_not_read_host_files(lab, victim, kind, case):
    """The container's /etc/passwd and /etc/group are built from the image's
    copies: an image whose copy is a symlink into a host bind (/tmp, /dev,
    --home /:/hostroot) gets an empty base, never the host file."""
    link, target, opts = LEAK_CASES[case]
    image = hostile_image(lab, kind, case, link, target(victim))
    r = run_starter(image, "/bin/cat", "/" + link, opts=opts, cwd="/")
    assert not leaked(victim, r.stdout + r.stderr), r.stdout
    assert r.returncode == 0, r.stderr
    assert f"{USER}:" in r.stdout  # our own entry is still there


def test_image_symlinks_with_user_bind_control_off(lab, victim, sing_config):
    sing_config.set(**{"user bind control": "no"})
    image = hostile_image(lab, "squashfs", "ubc", "etc/group", victim["tmp"])
    r = sing("exec", image, "cat", "/etc/group", cwd="/")
    assert not leaked(victim, r.stdout + r.stderr), r.stdout
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("link", ["etc/group", "etc/passwd"])
def test_writable_sandbox_symlinks_do_not_read_host_files(lab, victim, test_user, link):
    """A sandbox the user owns and runs --writable: its /etc files are read
    with the user's rights and never through a mount of the host."""
    root = hostile_rootfs(lab, "hostile-writable", link, victim["tmp"])
    subprocess.run(["chown", "-hR", f"{test_user.uid}:{test_user.gid}", root], check=True)
    r = run_starter(root, "/bin/cat", "/" + link, opts=("--writable",), cwd="/")
    assert not leaked(victim, r.stdout + r.stderr), r.stdout
    assert r.returncode == 0, r.stderr
    # A directory link into another user's 0700 directory: same outcome.
    private = tempfile.mkdtemp(prefix="sing-victim-dir-")
    write(os.path.join(private, os.path.basename(link)), victim["secret"] + ":x:1:\n")
    os.chown(private, user2().pw_uid, user2().pw_gid)
    os.chmod(private, 0o700)
    try:
        etc = os.path.join(root, "etc")
        shutil.move(etc, etc + ".real")
        os.symlink(private, etc)
        r = run_starter(root, "/bin/cat", "/" + link, opts=("--writable",), cwd="/")
        assert not leaked(victim, r.stdout + r.stderr), r.stdout
    finally:
        shutil.rmtree(private)


def test_writable_sandbox_flipping_etc_reads_nothing_private(lab, victim, test_user):
    """The sandbox's owner flips its /etc between the real directory and a
    symlink into another user's 0700 directory (reached through the /tmp
    bind) while the starter reads /etc/group: whichever state it sees, it
    reads as the user, so the private file never appears."""
    root = hostile_rootfs(lab, "hostile-flip", "etc/group", "group.real")
    shutil.copy(os.path.join(lab["work"], "rootfs", "etc", "group"),
                os.path.join(root, "etc", "group.real"))
    subprocess.run(["chown", "-hR", f"{test_user.uid}:{test_user.gid}", root], check=True)
    private = tempfile.mkdtemp(prefix="sing-victim-dir-")
    write(os.path.join(private, "group"), victim["secret"] + ":x:1:\n")
    write(os.path.join(private, "group.real"), victim["secret"] + ":x:1:\n")
    os.chown(private, user2().pw_uid, user2().pw_gid)
    os.chmod(private, 0o700)
    etc, real, tmp = (os.path.join(root, n) for n in ("etc", "etc.real", "etc.tmp"))
    os.rename(etc, real)
    os.symlink("etc.real", etc)
    stop = threading.Event()

    def flipper():
        targets = ("etc.real", private)
        i = 0
        while not stop.is_set():
            os.symlink(targets[i % 2], tmp)
            os.rename(tmp, etc)
            i += 1

    t = threading.Thread(target=flipper)
    t.start()
    try:
        script = (f"i=0; while [ $i -lt 40 ]; do {starter()} --writable --action exec "
                  f"--image {root} -- /bin/cat /etc/group 2>&1; i=$((i+1)); done")
        for _ in range(3):
            r = run_as_user(["sh", "-c", script], cwd="/")
            assert victim["secret"] not in r.stdout, "another user's file was read"
    finally:
        stop.set()
        t.join()
        shutil.rmtree(private)


def test_mount_points_behind_private_directories_are_not_probed(lab, user_tmp):
    """A destination inside another user's 0700 directory (seen through the
    /tmp bind) is resolved with the user's rights: refused the same way
    whether or not the name exists there, so nothing is learnt about it."""
    private = tempfile.mkdtemp(prefix="sing-victim-dir-")
    os.mkdir(os.path.join(private, "exists"))
    os.chown(private, user2().pw_uid, user2().pw_gid)
    os.chmod(private, 0o700)
    try:
        errors = []
        for name in ("exists", "missing"):
            r = run_starter(lab["good"], "/bin/true",
                            opts=("--bind", f"{user_tmp}:{private}/{name}"), cwd="/")
            one_error(r, "permission denied")
            errors.append(r.stderr.replace(name, "NAME"))
        assert errors[0] == errors[1], errors
    finally:
        shutil.rmtree(private)


def user_namespace_holder(user_tmp, script):
    """A process of the user in its own user + mount namespace, running
    `script` (sh) and then sleeping; returns (Popen, pid of the sleeper)."""
    ready = os.path.join(user_tmp, f"ns-ready-{time.monotonic_ns()}")
    p = subprocess.Popen(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups",
                          "unshare", "-Urm", "sh", "-c",
                          f"{script} && echo $$ > {ready}.tmp && mv {ready}.tmp {ready} && "
                          f"exec sleep 120"], cwd="/")
    for _ in range(200):
        if os.path.exists(ready):
            return p, int(open(ready).read())
        if p.poll() is not None:
            pytest.fail("the namespace holder failed")
        time.sleep(0.05)
    p.kill()
    pytest.fail("the namespace holder did not start")


def test_limit_container_paths_through_proc_magic_links(lab, sing_config, user_tmp):
    """A tmpfs over the allowed directory in the user's own mount namespace,
    with the user's image in it, reached through /proc/PID/root or cwd."""
    scratch = os.path.join(lab["work"], "scratch")
    sing_config.set(**{"limit container paths": scratch})
    p, pid = user_namespace_holder(
        user_tmp, f"mount -t tmpfs none {scratch} && cp {lab['bad']} {scratch}/good.sqfs && "
                  f"cd {scratch}")
    link = os.path.join(user_tmp, "via-link.sqfs")
    os.symlink(f"/proc/{pid}/root{scratch}/good.sqfs", link)
    try:
        for path in (f"/proc/{pid}/root{scratch}/good.sqfs", f"/proc/{pid}/cwd/good.sqfs",
                     link):
            r = run_starter(path, "/bin/cat", "/etc/marker", cwd="/")
            one_error(r, "image")
            assert "bad" not in r.stdout, path
        # The allowed image itself still runs.
        r = run_starter(lab["good"], "/bin/cat", "/etc/marker", cwd="/")
        assert r.returncode == 0 and r.stdout == "good\n", r.stderr
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("limit", ["owners", "groups"])
def test_owner_limits_refuse_images_on_fuse(lab, sing_config, user_tmp, limit):
    """FUSE reports whatever owner its server likes: an image (or sandbox)
    served by FUSE never passes `limit container owners|groups`."""
    outer_root = os.path.join(lab["work"], f"fuse-outer-{limit}")
    os.makedirs(outer_root, exist_ok=True)
    shutil.copy(lab["bad"], os.path.join(outer_root, "inner.sqfs"))
    if not os.path.exists(os.path.join(outer_root, "sb")):
        shutil.copytree(os.path.join(lab["work"], "rootfs"), os.path.join(outer_root, "sb"),
                        symlinks=True)
    outer = squash(outer_root, os.path.join(lab["work"], f"fuse-outer-{limit}.sqfs"))
    mnt = os.path.join(user_tmp, "fuse")
    os.mkdir(mnt)
    # allow_other: what `user_allow_other` in /etc/fuse.conf lets a user do.
    subprocess.run(["squashfuse", "-o", "allow_other", outer, mnt], check=True)
    try:
        sing_config.set(**{f"limit container {limit}": "root"})
        for image in ("inner.sqfs", "sb"):
            r = run_starter(os.path.join(mnt, image), "/bin/cat", "/etc/marker", cwd="/")
            one_error(r, "FUSE")
            assert "bad" not in r.stdout
        r = run_starter(lab["good"], "/bin/cat", "/etc/marker", cwd="/")
        assert r.returncode == 0 and r.stdout == "good\n", r.stderr
    finally:
        subprocess.run(["umount", "-l", mnt])


def test_owner_limits_refuse_writable_images(lab, sing_config):
    """`limit container owners = root` trusts root's images: a root-owned
    directory or file that others can write into (/var/tmp) is not one."""
    sing_config.set(**{"limit container owners": "root"})
    work = lab["work"]
    outer = os.path.join(work, "owners")
    sb = os.path.join(outer, "sb")
    if not os.path.exists(sb):
        shutil.copytree(os.path.join(work, "rootfs"), sb, symlinks=True)
    shared = os.path.join(work, "owners-shared.sqfs")
    shutil.copy(lab["good"], shared)
    try:
        for d_mode, p_mode in ((0o777, 0o755), (0o1777, 0o755), (0o775, 0o755),
                               (0o755, 0o777), (0o755, 0o757)):
            os.chmod(sb, d_mode)
            os.chmod(outer, p_mode)
            r = run_starter(sb, "/bin/cat", "/etc/marker", cwd="/")
            one_error(r, "writable by group or others")
        for mode in (0o666, 0o664):
            os.chmod(shared, mode)
            one_error(run_starter(shared, "/bin/true", cwd="/"), "writable by group or others")
        # Root-owned, not writable by others, in a sticky or a plain parent: runs.
        for p_mode in (0o1777, 0o755):
            os.chmod(sb, 0o755)
            os.chmod(outer, p_mode)
            r = run_starter(sb, "/bin/cat", "/etc/marker", cwd="/")
            assert r.returncode == 0, r.stderr
        os.chmod(shared, 0o644)
        r = run_starter(shared, "/bin/cat", "/etc/marker", cwd="/")
        assert r.returncode == 0 and r.stdout == "good\n", r.stderr
    finally:
        os.chmod(outer, 0o755)


ROOT_DESTS = ["/", "/.", "//", "/mnt/..", "/./mnt/../"]


@pytest.mark.parametrize("dest", ROOT_DESTS)
def test_no_home_or_bind_replaces_the_container_root(lab, user_tmp, dest):
    fake = os.path.join(user_tmp, "fakeroot")
    os.makedirs(os.path.join(fake, "etc"))
    write(os.path.join(fake, "etc", "marker"), "fake\n")
    for opts in (("--home", f"{fake}:{dest}"), ("--bind", f"{fake}:{dest}")):
        r = run_starter(lab["good"], "/bin/cat", "/etc/marker", opts=opts, cwd="/")
        one_error(r, "container root")
        assert "fake" not in r.stdout
    r = sing("exec", lab["good"], "cat", "/etc/marker", cwd="/",
             env={"SINGULARITY_BIND": f"{fake}:{dest}"})
    one_error(r, "container root")


def test_own_home_cannot_replace_the_root_without_bind_control(lab, sing_config, test_user):
    """With `user bind control = no` the user's own home is still allowed as
    --home, but not onto / (nor onto an image symlink leading there)."""
    sing_config.set(**{"user bind control": "no"})
    for dest in ("/", "//.", "/mnt/uplink"):
        r = run_starter(lab["probe"], "/bin/true", opts=("--home", f"{test_user.home}:{dest}"),
                        cwd="/")
        one_error(r, "container root")


def test_config_bind_path_cannot_replace_the_root(lab, sing_config, user_tmp):
    # (The parser already refuses "." and ".." components in `bind path`.)
    for spec in (f"{user_tmp}:/", f"{user_tmp}://"):
        sing_config.restore()
        sing_config.add("bind path", spec)
        r = run_starter(lab["good"], "/bin/true", cwd="/")
        one_error(r, "container root")


SESSION_SOURCES = ["data/upper", "data/work", "data/files", "data", "rootfs", "final"]


@pytest.mark.parametrize("inner", SESSION_SOURCES)
def test_session_internals_are_not_bind_sources(lab, user_tmp, inner):
    src = os.path.join(session_dir(), inner)
    link = os.path.join(user_tmp, "session-link")
    os.symlink(src, link)
    for spec in (f"{src}:/mnt/x", f"{link}:/mnt/x", f"{session_dir()}/./{inner}/:/mnt/x"):
        r = run_starter(lab["good"], "/bin/ls", "/mnt/x", opts=("--bind", spec), cwd="/")
        one_error(r, "inside the starter's session directory")


def test_starter_fds_are_not_bind_sources(lab):
    """/proc/self/fd/N names the starter's own descriptors (image, loop
    device, container root): magic links are refused as bind sources."""
    for n in range(3, 8):
        r = run_starter(lab["good"], "/bin/ls", "/mnt/x",
                        opts=("--bind", f"/proc/self/fd/{n}:/mnt/x"), cwd="/")
        assert r.returncode == 255, (n, r.stdout, r.stderr)


def test_config_fifo_does_not_hang(sing_config, lab):
    path = sing_config.path
    os.rename(path, path + ".real")
    try:
        os.mkfifo(path, 0o644)
        try:
            r = run_starter(lab["good"], "/bin/true", cwd="/", timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("the starter hung on a FIFO at the config path")
        one_error(r, "not a regular file")
    finally:
        if os.path.lexists(path):
            os.unlink(path)
        os.rename(path + ".real", path)


# ---- the same without openat2(2): the starter's fallbacks ----------------------

NO_OPENAT2 = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* As root: openat2 fails with ENOSYS from now on (a kernel older than 5.6),
 * then become the user and exec argv[2..]. The filter is inherited by the
 * setuid starter (installed with CAP_SYS_ADMIN, without no_new_privs). */
int main(int argc, char **argv)
{
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
        struct passwd *pw = argc > 2 ? getpwnam(argv[1]) : NULL;
        if (!pw || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0 ||
            initgroups(pw->pw_name, pw->pw_gid) < 0 ||
            setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
                return 126;
        execv(argv[2], argv + 2);
        return 127;
}
"""


@pytest.fixture(scope="module")
def no_openat2(lab):
    if os.uname().machine != "x86_64":
        pytest.skip("the openat2 filter is written for x86_64")
    src = os.path.join(lab["work"], "no_openat2.c")
    exe = os.path.join(lab["work"], "no_openat2")
    write(src, NO_OPENAT2)
    subprocess.run(["gcc", "-O2", "-o", exe, src], check=True)
    user = ensure_user()

    def run(image, *cmd, opts=()):
        from conftest import user_env
        return subprocess.run([exe, user.name, starter(), *opts, "--action", "exec", "--image",
                               image, "--", *cmd], env=user_env(), cwd="/",
                              capture_output=True, text=True, timeout=120)

    # Self-test: openat2 really is gone for what the wrapper runs.
    probe = ("import ctypes; c = ctypes.CDLL(None, use_errno=True); "
             "c.syscall(437, -100, b'/', None, 0); print(ctypes.get_errno())")
    r = subprocess.run([exe, user.name, "/usr/bin/python3", "-c", probe], capture_output=True,
                       text=True)
    assert r.stdout.strip() == "38", (r.stdout, r.stderr)  # ENOSYS
    return run


def test_without_openat2_the_starter_still_runs(lab, no_openat2):
    r = no_openat2(lab["good"], "/bin/cat", "/etc/marker")
    assert r.returncode == 0 and r.stdout == "good\n", r.stderr


@pytest.mark.parametrize("kind", ["squashfs", "sandbox"])
@pytest.mark.parametrize("case", sorted(LEAK_CASES))
def test_without_openat2_image_symlinks_do_not_read_host_files(lab, victim, no_openat2, kind,
                                                                case):
    link, target, opts = LEAK_CASES[case]
    image = hostile_image(lab, kind, case, link, target(victim))
    r = no_openat2(image, "/bin/cat", "/" + link, opts=opts)
    assert not leaked(victim, r.stdout + r.stderr), r.stdout
    assert r.returncode == 0, r.stderr


def test_without_openat2_magic_links_and_root_and_session(lab, sing_config, user_tmp,
                                                          no_openat2):
    scratch = os.path.join(lab["work"], "scratch")
    sing_config.set(**{"limit container paths": scratch})
    p, pid = user_namespace_holder(
        user_tmp, f"mount -t tmpfs none {scratch} && cp {lab['bad']} {scratch}/good.sqfs && "
                  f"cd {scratch}")
    link = os.path.join(user_tmp, "via-link.sqfs")
    os.symlink(f"/proc/{pid}/root{scratch}/good.sqfs", link)
    try:
        r = no_openat2(f"/proc/{pid}/cwd/good.sqfs", "/bin/cat", "/etc/marker")
        one_error(r, "image")
        # Past the lexical /proc test: the mount-namespace check refuses it.
        r = no_openat2(link, "/bin/cat", "/etc/marker")
        one_error(r, "not mounted in the starter's mount namespace")
        assert "bad" not in r.stdout
    finally:
        p.kill()
        p.wait()
    sing_config.restore()
    r = no_openat2(lab["probe"], "/bin/true", opts=("--bind", f"{user_tmp}:/mnt/uplink"))
    one_error(r, "container root")
    slink = os.path.join(user_tmp, "session-link")
    os.symlink(os.path.join(session_dir(), "rootfs"), slink)
    r = no_openat2(lab["good"], "/bin/true", opts=("--bind", f"{slink}:/mnt/x"))
    one_error(r, "inside the starter's session directory")


def test_nested_bind_mount_points_are_made_only_as_the_user(images, run_mode, user_tmp):
    """A missing mount point under a bound directory is created with the
    user's rights, in that directory only, never through a symlink: another
    user's directory (bound directly, or reached through a symlink in the
    user's own bind), or a read-only bind, get nothing, and the run fails in
    one line."""
    from conftest import ensure_user2
    victim = ensure_user2()
    vdir = tempfile.mkdtemp(prefix="sing-victim-")
    os.chown(vdir, victim.pw_uid, victim.pw_gid)
    os.chmod(vdir, 0o755)
    try:
        mine = os.path.join(user_tmp, "mine")
        run_as_user(["sh", "-c", f"mkdir {mine} && echo x > {user_tmp}/f && "
                     f"ln -s {vdir} {mine}/link"], check=True)
        f = os.path.join(user_tmp, "f")
        cases = (
            (["-B", f"{vdir}:/v", "-B", f"{f}:/v/planted"], "permission denied"),
            (["-B", f"{vdir}:/v", "-B", f"{user_tmp}:/v/sub/dir"], "permission denied"),
            (["--home", f"{mine}:/w", "-B", f"{f}:/w/link/planted"], "/w/link/planted"),
            (["-B", f"{mine}:/m:ro", "-B", f"{f}:/m/planted"], "read-only"),
        )
        for opts, needle in cases:
            r = sing("exec", *opts, images["sif"], "true")
            one_error(r, needle)
            assert os.listdir(vdir) == [], (opts, os.listdir(vdir))
        assert sorted(os.listdir(mine)) == ["link"]
    finally:
        shutil.rmtree(vdir, ignore_errors=True)
