"""singularity.conf: each directive changes what the starter does.

Every test flips one directive with the sing_config fixture (restored after
the test) and checks the behaviour on both sides of the change, mostly in
both runtime modes (run_mode: setuid and user namespace)."""

import grp
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import USER, ensure_user, exec_with_fuse_server_replaced, run_as_user, user_env
from test_run import images, no_leftovers, one_error, sing  # noqa: F401 (fixtures)


def sh(img, script, *opts, **kw):
    """`singularity exec [opts] img sh -c script` as the test user."""
    return sing("exec", *opts, img, "sh", "-c", script, **kw)


def out(img, script, *opts, **kw):
    r = sh(img, script, *opts, **kw)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_allow_setuid(images, sing_config):
    # setuid mode: the container is in the host's user namespace.
    assert out(images["sif"], "cat /proc/self/uid_map").split() == ["0", "0", "4294967295"]
    sing_config.set(**{"allow setuid": "no"})
    uid = str(ensure_user().uid)
    assert out(images["sif"], "cat /proc/self/uid_map").split() == [uid, uid, "1"]


def _loop_index(dev):
    return int(re.fullmatch(r"/dev/loop(\d+)", dev.strip()).group(1))


def test_max_loop_devices(images, sing_config, tmp_path):
    backing = tmp_path / "backing"
    backing.write_bytes(b"\0" * 65536)
    # Occupy a device so that every index below the next free one is in use.
    ours = subprocess.run(["losetup", "-f", "--show", "-r", str(backing)], check=True,
                          capture_output=True, text=True).stdout.strip()
    try:
        free = _loop_index(subprocess.run(["losetup", "-f"], check=True, capture_output=True,
                                          text=True).stdout)
        assert free >= 1
        sing_config.set(**{"max loop devices": str(free), "allow setuid-mount squashfs": "yes"})
        one_error(sing("exec", images["sif"], "true"), "max loop devices")
        sing_config.set(**{"max loop devices": str(free + 16)})
        r = sing("exec", images["sif"], "true")
        assert r.returncode == 0, r.stderr
    finally:
        subprocess.run(["losetup", "-d", ours])


def test_allow_pid_ns(images, run_mode, sing_config):
    # pid 1 is our init; the FUSE server (and its prefetch thread), when it
    # serves the image, is the monitor's child outside the container's pid
    # namespace.
    assert out(images["sif"], "echo $$", "--pid").strip() == "2"
    sing_config.set(**{"allow pid ns": "no"})
    one_error(sh(images["sif"], "echo $$", "--pid"), "PID namespace")


@pytest.mark.parametrize("key,path", [("config passwd", "/etc/passwd"),
                                      ("config group", "/etc/group")])
def test_config_passwd_group(images, run_mode, sing_config, key, path):
    # The image's files have neither the user nor the user's group.
    script = f"grep -c ^{USER}: {path} || true"
    assert out(images["sif"], script).strip() == "1"
    assert "root:x:0:" in out(images["sif"], f"cat {path}")  # the image's entries stay
    sing_config.set(**{key: "no"})
    assert out(images["sif"], script).strip() == "0"


def test_config_resolv_conf(images, run_mode, sing_config):
    with open("/etc/resolv.conf") as f:
        host = f.read()
    script = "cat /etc/resolv.conf 2>/dev/null || echo missing"
    assert out(images["sif"], script) == host
    # (set() would turn the underscore into a space)
    sing_config.remove("config resolv_conf")
    sing_config.add("config resolv_conf", "no")
    assert out(images["sif"], script) in ("", "missing\n")  # the image's (empty) file


@pytest.mark.parametrize("key,probe", [("mount proc", "/proc/self/status"),
                                       ("mount sys", "/sys/kernel")])
def test_mount_proc_sys(images, run_mode, sing_config, key, probe):
    script = f"test -e {probe} && echo yes || echo no"
    assert out(images["sif"], script) == "yes\n"
    sing_config.set(**{key: "no"})
    assert out(images["sif"], script) == "no\n"


def test_mount_dev(images, run_mode, sing_config):
    script = "ls /dev | tr '\\n' ' '"
    full = out(images["sif"], script).split()
    assert "null" in full and "loop-control" in full  # the host's /dev
    sing_config.set(**{"mount dev": "minimal"})
    minimal = out(images["sif"], script).split()
    assert "null" in minimal and "urandom" in minimal and "pts" in minimal
    assert "loop-control" not in minimal and "fuse" not in minimal
    sing_config.set(**{"mount dev": "no"})
    # The image's empty /dev. Through `shell -c`: the exec action needs /dev/null.
    r = sing("shell", images["sif"], "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == []


def test_mount_devpts(images, run_mode, sing_config):
    sing_config.set(**{"mount dev": "minimal"})
    script = "test -e /dev/pts/ptmx && echo yes || echo no"
    assert out(images["sif"], script) == "yes\n"
    sing_config.set(**{"mount devpts": "no"})
    assert out(images["sif"], script) == "no\n"


def test_mount_home(images, run_mode, sing_config, test_user):
    marker = os.path.join(test_user.home, f"cfg-home-{secrets.token_hex(3)}")
    run_as_user(["touch", marker], check=True)
    try:
        script = f"test -e {marker} && echo yes || echo no"
        assert out(images["sif"], script, cwd="/") == "yes\n"
        sing_config.set(**{"mount home": "no"})
        assert out(images["sif"], script, cwd="/") == "no\n"
    finally:
        os.unlink(marker)


def test_mount_tmp(images, run_mode, sing_config):
    marker = f"/tmp/cfg-tmp-{secrets.token_hex(3)}"
    run_as_user(["touch", marker], check=True)
    try:
        script = f"test -e {marker} && echo yes || echo no"
        assert out(images["sif"], script, cwd="/") == "yes\n"
        sing_config.set(**{"mount tmp": "no"})
        assert out(images["sif"], script, cwd="/") == "no\n"
    finally:
        os.unlink(marker)


def in_private_mount_ns(script):
    """Run a root shell script in a new, private mount namespace: mounts it
    makes never reach the host's mount table (nor other tests)."""
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-ec",
                           script], capture_output=True, text=True, timeout=120)


def user_cmd(*args):
    env = " ".join(f"{k}='{v}'" for k, v in user_env().items())
    return (f"cd / && env -i {env} setpriv --reuid={USER} --regid={USER} --init-groups "
            + " ".join(f"'{a}'" for a in args))


def test_mount_hostfs(images, run_mode, sing_config):
    mnt = f"/srv/sing-hostfs-{secrets.token_hex(3)}"
    os.mkdir(mnt)
    try:
        script = (f"mount -t tmpfs -o mode=755 hostfs-test {mnt}; echo hostfs > {mnt}/f; "
                  + user_cmd("singularity", "exec", images["sif"], "sh", "-c",
                             f"cat {mnt}/f 2>/dev/null || echo absent"))
        r = in_private_mount_ns(script)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "absent\n"
        sing_config.set(**{"mount hostfs": "yes"})
        r = in_private_mount_ns(script)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "hostfs\n"
        r = in_private_mount_ns(script.replace("'exec'", "'exec' '--no-mount' 'hostfs'"))
        assert r.returncode == 0, r.stderr
        assert r.stdout == "absent\n"
    finally:
        os.rmdir(mnt)


def test_bind_path(images, run_mode, sing_config, user_tmp):
    run_as_user(["sh", "-c", f"echo cfg-bind > {user_tmp}/f"], check=True)
    script = "cat /mnt/cfgbind/f 2>/dev/null || echo absent"
    assert out(images["sif"], script, cwd="/") == "absent\n"
    sing_config.add("bind path", f"{user_tmp}:/mnt/cfgbind")
    assert out(images["sif"], script, cwd="/") == "cfg-bind\n"
    # The defaults (/etc/hosts) are replaced by the first `bind path` line.
    sing_config.remove("bind path")
    sing_config.add("bind path", "/etc/hosts")
    with open("/etc/hosts") as f:
        assert out(images["sif"], "cat /etc/hosts") == f.read()


def test_user_bind_control(images, run_mode, sing_config, user_tmp):
    run_as_user(["sh", "-c", f"echo user-bind > {user_tmp}/f"], check=True)
    assert out(images["sif"], "cat /mnt/u/f", "-B", f"{user_tmp}:/mnt/u") == "user-bind\n"
    sing_config.set(**{"user bind control": "no"})
    one_error(sh(images["sif"], "cat /mnt/u/f", "-B", f"{user_tmp}:/mnt/u"),
              "user bind control")
    # Binds the administrator configured still work.
    sing_config.add("bind path", f"{user_tmp}:/mnt/u")
    assert out(images["sif"], "cat /mnt/u/f") == "user-bind\n"


def writable_dir(run_mode):
    """Where --writable-tmpfs lets the user write: the image's own /tmp (1777)
    in setuid mode; in a user namespace the overlay cannot copy up directories
    of unmapped owners (root), but its top directory is the user's."""
    return "/tmp" if run_mode.startswith("setuid") else ""


def test_enable_overlay(images, run_mode, sing_config):
    f = writable_dir(run_mode) + "/written"
    script = f"echo x > {f} && cat {f} && touch /etc/passwd 2>/dev/null"
    opts = ("--writable-tmpfs", "--no-mount", "tmp")
    sing_config.set(**{"enable overlay": "yes"})
    r = sh(images["sif"], script, *opts)
    assert r.stdout == "x\n" and r.returncode == 1, r.stderr  # /etc/passwd: root's file
    # Without --writable-tmpfs the root stays read-only.
    r = sh(images["sif"], script, "--no-mount", "tmp")
    assert r.returncode != 0 and "Read-only" in r.stderr, r.stderr
    sing_config.set(**{"enable overlay": "no"})
    one_error(sh(images["sif"], script, *opts), "enable overlay")
    # Without an overlay, mount points must exist in the image (not the home).
    r = sh(images["sif"], "cat /etc/marker", "--no-home", cwd="/")
    assert r.returncode == 0 and r.stdout == "run-test-image\n", r.stderr


def test_mount_slave(images, run_mode, sing_config):
    """A mount the host makes after the container started reaches it only
    with `mount slave = yes`."""
    d = f"/srv/sing-slave-{secrets.token_hex(3)}"
    os.mkdir(d)
    container = user_cmd(
        "singularity", "exec", "-B", f"{d}:/mnt/s", images["sif"], "sh", "-c",
        "touch /mnt/s/ready; i=0; while [ ! -e /mnt/s/go ] && [ $i -lt 300 ]; do "
        "sleep 0.1; i=$((i+1)); done; cat /mnt/s/sub/f 2>/dev/null || echo none")
    script = f"""
mount -t tmpfs -o mode=1777 slave-test {d}
mount --make-shared {d}
mkdir {d}/sub
{container} > {d}.out 2>&1 &
i=0; while [ ! -e {d}/ready ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
mount -t tmpfs -o mode=755 slave-sub {d}/sub
echo propagated > {d}/sub/f
touch {d}/go
wait
cat {d}.out
"""
    try:
        r = in_private_mount_ns(script)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "propagated\n"
        sing_config.set(**{"mount slave": "no"})
        r = in_private_mount_ns(script)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "none\n"
    finally:
        os.rmdir(d)
        if os.path.exists(d + ".out"):
            os.unlink(d + ".out")


def test_sessiondir_max_size(images, run_mode, sing_config):
    # --writable-tmpfs writes land in the session tmpfs.
    sing_config.set(**{"enable overlay": "yes"})
    opts = ("--writable-tmpfs", "--no-mount", "tmp")
    script = f"head -c 3000000 /dev/zero > {writable_dir(run_mode)}/big && echo written"
    size = "df -k / | tail -1 | awk '{print $2}'"
    assert out(images["sif"], script, *opts) == "written\n"
    assert int(out(images["sif"], size, *opts)) == 64 * 1024
    sing_config.set(**{"sessiondir max size": "1"})
    r = sh(images["sif"], script, *opts)
    assert r.returncode != 0 and "written" not in r.stdout, r.stderr
    assert int(out(images["sif"], size, *opts)) == 1024


def test_limit_container_owners_groups(images, run_mode, sing_config, test_user):
    # The images are owned by the user (pulled as the user).
    for key, other, own in (("limit container owners", "root", test_user.name),
                            ("limit container groups", "root", USER)):
        sing_config.set(**{key: other})
        one_error(sing("exec", images["sif"], "true"), key)
        sing_config.set(**{key: f"{other}, {own}"})
        r = sing("exec", images["sif"], "true")
        assert r.returncode == 0, r.stderr
        sing_config.remove(key)


def test_limit_container_paths(images, run_mode, sing_config):
    d = images["dir"]
    sing_config.set(**{"limit container paths": d})
    r = sing("exec", images["sif"], "true")
    assert r.returncode == 0, r.stderr
    # Component-wise: a string prefix of the directory admits nothing.
    sing_config.set(**{"limit container paths": d[:-2]})
    one_error(sing("exec", images["sif"], "true"), "limit container paths")
    sing_config.set(**{"limit container paths": "/nonexistent, " + d + "/"})
    r = sing("exec", images["sif"], "true")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("kind,key", [("sif", "allow container sif"),
                                      ("squashfs", "allow container squashfs"),
                                      ("simg", "allow container squashfs"),
                                      ("sandbox", "allow container dir")])
def test_allow_container_kinds(images, run_mode, sing_config, kind, key):
    sing_config.set(**{key: "no"})
    one_error(sing("exec", images[kind], "true"), key)
    others = [k for k in ("sif", "squashfs", "sandbox")
              if not (k == kind or (kind == "simg" and k == "squashfs"))]
    for other in others:
        r = sing("exec", images[other], "true")
        assert r.returncode == 0, (other, r.stderr)


@pytest.mark.parametrize("key,value,needle", [
    ("no such directive", "yes", "unknown directive"),
    ("mount dev", "sometimes", "invalid value"),
    ("max loop devices", "-1", "invalid value"),
    ("allow setuid", None, "key = value"),
])
def test_bad_config_line(images, run_mode, sing_config, no_leftovers, key, value, needle):
    sing_config.remove(key)
    with open(sing_config.path, "a") as f:
        f.write(f"{key} = {value}\n" if value else f"{key}\n")
    with open(sing_config.path) as f:
        nlines = len(f.read().splitlines())
    r = sing("exec", images["sif"], "true")
    one_error(r, needle)
    assert f"{sing_config.path}:{nlines}:" in r.stderr, r.stderr  # file:line of the bad line


def test_no_mount_names_every_apptainer_mount(images, run_mode, sing_config, user_tmp):
    """--no-mount takes Apptainer's names: bind-paths (all `bind path`
    entries), /DEST (one of them), devpts, hostfs, and an unknown name is one
    clear error."""
    run_as_user(["sh", "-c", f"echo one > {user_tmp}/f"], check=True)
    sing_config.add("bind path", f"{user_tmp}:/mnt/one")
    sing_config.add("bind path", f"{user_tmp}:/mnt/two")
    script = ("for d in one two; do cat /mnt/$d/f 2>/dev/null || echo no-$d; done; "
              "test -e /dev/pts/ptmx && echo devpts || echo no-devpts")
    assert out(images["sif"], script, "-c", cwd="/") == "one\none\ndevpts\n"
    assert out(images["sif"], script, "-c", "--no-mount", "bind-paths", cwd="/") == \
        "no-one\nno-two\ndevpts\n"
    assert out(images["sif"], script, "-c", "--no-mount", "/mnt/two/", cwd="/") == \
        "one\nno-two\ndevpts\n"
    assert out(images["sif"], script, "-c", "--no-mount", "devpts,tmp", cwd="/") == \
        "one\none\nno-devpts\n"
    one_error(sh(images["sif"], "true", "--no-mount", "proc,nosuch"), "--no-mount nosuch")


def image_mount_op(image, *opts):
    """How the starter mounted the image, from its --debug mount plan."""
    r = sing("--debug", "exec", *opts, image, "true")
    assert r.returncode == 0, r.stderr
    ops = set(re.findall(r"SQUASHFS_(LOOP|FUSE)", r.stderr))
    assert len(ops) == 1, r.stderr
    return ops.pop()


@pytest.mark.parametrize("value,limit,expected", [
    (None, None, "FUSE"),                 # the default: iflimited, no limit set
    ("iflimited", None, "FUSE"),
    ("iflimited", "paths", "LOOP"),
    ("iflimited", "owners", "LOOP"),
    ("iflimited", "groups", "LOOP"),
    ("no", None, "FUSE"),
    ("yes", None, "LOOP"),
])
def test_allow_setuid_mount_squashfs(images, sing_config, test_user, value, limit, expected):
    if value:
        sing_config.set(**{"allow setuid-mount squashfs": value})
    if limit == "paths":
        sing_config.set(**{"limit container paths": images["dir"]})
    elif limit == "owners":
        sing_config.set(**{"limit container owners": test_user.name})
    elif limit == "groups":
        sing_config.set(**{"limit container groups": grp.getgrgid(test_user.gid).gr_name})
    # The fixture's squashfs and .simg copies are root's, the SIF the user's.
    kinds = ("sif",) if limit in ("owners", "groups") else ("sif", "squashfs", "simg")
    for kind in kinds:
        assert image_mount_op(images[kind]) == expected, kind
    # A sandbox directory is a bind, whatever the setting (the fixture's is
    # root's, which owner/group limits refuse).
    if limit not in ("owners", "groups"):
        assert out(images["sandbox"], "cat /etc/marker") == "run-test-image\n"
    # Unprivileged mode never uses the kernel driver.
    sing_config.set(**{"allow setuid": "no"})
    assert image_mount_op(images["sif"]) == "FUSE"


@pytest.mark.parametrize("limit", ["paths", "owners", "groups"])
def test_setuid_mount_no_with_a_limit_is_refused(images, sing_config, test_user, limit):
    """`no` would serve a limited image through the FUSE server, which runs as the
    user and can be swapped by them: the limit could not hold, so the
    config is refused (red-team finding), in one line."""
    value = {"paths": images["dir"], "owners": "root", "groups": "root"}[limit]
    sing_config.set(**{"allow setuid-mount squashfs": "no", f"limit container {limit}": value})
    one_error(sh(images["sif"], "true"), "cannot enforce")


def test_allow_setuid_mount_squashfs_bad_value(images, sing_config):
    sing_config.set(**{"allow setuid-mount squashfs": "sometimes"})
    one_error(sh(images["sif"], "true"), "allow setuid-mount squashfs")


def test_setuid_without_usable_fuse_server(images, sing_config, user_tmp):
    """When the kernel driver is not allowed and the FUSE server cannot run,
    the setuid starter says so in one line instead of falling back to the
    kernel driver. The server is hidden by a non-executable file bound over
    it in a private mount namespace of this test only."""
    blocker = os.path.join(user_tmp, "not-a-fuse-server")
    with open(blocker, "w") as f:
        f.write("not a program\n")
    os.chmod(blocker, 0o644)

    def run():
        return exec_with_fuse_server_replaced(blocker, images["sif"], "cat", "/etc/marker")
    one_error(run(), "squashfs-serve")
    sing_config.set(**{"allow setuid-mount squashfs": "yes"})
    r = run()
    assert r.returncode == 0, r.stderr
    assert r.stdout == "run-test-image\n"
