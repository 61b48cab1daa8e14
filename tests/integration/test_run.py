"""run, exec and shell as a normal user, in both runtime modes."""

import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import tempfile
import time

import pytest

import imagetools
import siftools
from conftest import USER, ensure_user, live_fuse_servers, run_as_user, user_env
from cprobe import build_probe
from imagetools import File, Hardlink

ENV_VALUES = {
    "QUOTES": "it's \"quoted\"",
    "DOLLAR": "$HOME ${PATH} $(id)",
    "BACKSLASH": "a\\b\\\\c\\n",
    "BACKTICK": "`id` done",
    "SPACES": "  lead and trail  ",
    "NEWLINE": "line1\nline2\n",
    "EMPTY": "",
}


def run_image():
    extra = [
        File("etc/marker", b"run-test-image\n"),
        # A setuid-root busybox: runs as the user in the container (nosuid).
        File("suid/id", open("/bin/busybox", "rb").read(), mode=0o4755),
    ]
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "IMAGEVAR=from-image", "OVERRIDE=image"]
    env += [f"{k}={v}" for k, v in ENV_VALUES.items()]
    return imagetools.busybox_image(extra_layers=[extra], env=env,
                                    entrypoint=["/bin/echo", "entry:"], cmd=["default"])


@pytest.fixture(scope="session")
def images(registry, tmp_path_factory):
    """SIF, plain squashfs, .simg and sandbox of one image, readable by the user."""
    user = ensure_user()
    img = run_image()
    pushed = imagetools.push_image(registry, "test/runimage", "latest", img)
    d = tempfile.mkdtemp(prefix="sing-run-images-")
    os.chmod(d, 0o755)
    os.chown(d, user.uid, user.gid)
    r = run_as_user(["singularity", "pull", "--nohttps", "--name", "img.sif",
                     f"docker://{registry.hostport}/test/runimage:latest"], cwd=d)
    assert r.returncode == 0, r.stderr
    sif = os.path.join(d, "img.sif")
    part = siftools.partition(sif)
    with open(sif, "rb") as f:
        f.seek(part["offset"])
        sq = f.read(part["size"])
    with open(os.path.join(d, "img.sqfs"), "wb") as f:
        f.write(sq)
    with open(os.path.join(d, "img.simg"), "wb") as f:
        f.write(b"#!/usr/bin/env run-singularity\n" + sq)
    sandbox = os.path.join(d, "sandbox")
    siftools.extract(sif, sandbox)
    yield dict(dir=d, sif=sif, squashfs=os.path.join(d, "img.sqfs"),
               simg=os.path.join(d, "img.simg"), sandbox=sandbox, pushed=pushed,
               registry=registry)
    shutil.rmtree(d, ignore_errors=True)


def sing(*args, env=None, cwd=None, **kw):
    return run_as_user(["singularity", *args], env=env, cwd=cwd, **kw)


def loop_devices_under(dirs):
    """The loop devices whose backing file lies under one of dirs, as
    "NAME BACK-FILE" lines. Loop devices are machine-wide: other test runs
    (other users, other checkouts, a chroot sharing /dev) attach and detach
    theirs meanwhile, so a test can only answer for the files it made."""
    prefixes = [os.path.realpath(d).rstrip("/") + "/" for d in dirs]
    out = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], capture_output=True,
                         text=True, check=True).stdout
    found = set()
    for line in out.splitlines():
        name, _, back = line.strip().partition(" ")
        back = back.strip()
        if any(back.startswith(p) for p in prefixes):
            found.add(f"{name} {back}")
    return found


def own_dirs(request):
    """Where a test's images live: the test user's home (its cache), the
    shared images and the test's own user_tmp, when it uses them."""
    dirs = [ensure_user().home]
    if "images" in request.fixturenames:
        dirs.append(request.getfixturevalue("images")["dir"])
    if "user_tmp" in request.fixturenames:
        dirs.append(request.getfixturevalue("user_tmp"))
    return dirs


def mounts_snapshot(dirs):
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    return mounts, loop_devices_under(dirs)


@pytest.fixture
def no_leftovers(request):
    dirs = own_dirs(request)
    before = mounts_snapshot(dirs)
    yield
    for _ in range(50):
        if mounts_snapshot(dirs) == before:
            break
        time.sleep(0.1)
    after = mounts_snapshot(dirs)
    assert after[0] == before[0], "mounts left behind"
    assert after[1] == before[1], f"loop devices left behind: {sorted(after[1] - before[1])}"


def test_leftover_check_sees_only_the_tests_own_loop_devices(images, user_tmp, request):
    """The check no_leftovers makes: a loop device on a file of the test's
    own is a leftover; one on a file elsewhere (another run's) is not."""
    dirs = own_dirs(request)
    assert user_tmp in dirs and images["dir"] in dirs
    outside = tempfile.mkdtemp(prefix="sing-not-ours-")
    attached = []
    try:
        for d in (user_tmp, outside):
            with open(os.path.join(d, "backing"), "wb") as f:
                f.write(b"\0" * 65536)
        before = loop_devices_under(dirs)
        for d in (user_tmp, outside):
            attached.append(subprocess.run(
                ["losetup", "-f", "--show", "-r", os.path.join(d, "backing")], check=True,
                capture_output=True, text=True).stdout.strip())
        new = loop_devices_under(dirs) - before
        assert new == {f"{attached[0]} {os.path.realpath(user_tmp)}/backing"}, new
    finally:
        for dev in attached:
            subprocess.run(["losetup", "-d", dev])
        shutil.rmtree(outside, ignore_errors=True)
    assert loop_devices_under(dirs) == before


def test_exec_runs_as_the_user_without_privileges(images, run_mode, test_user, no_leftovers):
    r = sing("exec", images["sif"], "cat", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    status = dict(l.split(":", 1) for l in r.stdout.splitlines() if ":" in l)
    assert status["Uid"].split() == [str(test_user.uid)] * 4
    assert status["Gid"].split() == [str(test_user.gid)] * 4
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[cap].strip(), 16) == 0, (cap, status[cap])
    assert status["NoNewPrivs"].strip() == "1"
    r = sing("exec", images["sif"], "/suid/id", "-u")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(test_user.uid)
    r = sing("exec", images["sif"], "cat", "/etc/marker")
    assert r.stdout == "run-test-image\n"


@pytest.mark.parametrize("kind", ["sif", "squashfs", "simg", "sandbox"])
def test_image_kinds(images, kind, run_mode, no_leftovers):
    r = sing("exec", images[kind], "cat", "/etc/marker")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "run-test-image\n"


def test_exit_status_and_missing_command(images, run_mode):
    r = sing("exec", images["sif"], "sh", "-c", "exit 7")
    assert r.returncode == 7, r.stderr
    r = sing("exec", images["sif"], "sh", "-c", "kill -TERM $$")
    assert r.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), r.returncode
    r = sing("exec", images["sif"], "no-such-command", "x")
    assert r.returncode == 127, r.stderr
    assert "no-such-command" in r.stderr


def test_run_uses_runscript_with_exact_arguments(images, run_mode):
    r = sing("run", images["sif"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "entry: default\n"
    r = sing("run", images["sif"], "a  b", "c'd", 'e"f')
    assert r.stdout == "entry: a  b c'd e\"f\n"


def test_launch_line_runs_the_image(images):
    r = run_as_user([images["sif"], "x  y"], cwd=images["dir"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "entry: x  y\n"


def test_environment(images, run_mode):
    def getenv(name, *opts, env=None):
        r = sing("exec", *opts, images["sif"], "sh", "-c", f'printf %s "${name}"', env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert getenv("IMAGEVAR") == "from-image"
    assert getenv("HOSTVAR", env={"HOSTVAR": "host"}) == "host"
    assert getenv("HOSTVAR", "--cleanenv", env={"HOSTVAR": "host"}) == ""
    assert getenv("OVERRIDE", env={"SINGULARITYENV_OVERRIDE": "mine"}) == "mine"
    assert getenv("OVERRIDE", env={"APPTAINERENV_OVERRIDE": "apptainer"}) == "apptainer"
    assert getenv("OVERRIDE", "--env", "OVERRIDE=flag") == "flag"
    assert getenv("PATH", env={"SINGULARITYENV_PREPEND_PATH": "/pre",
                               "SINGULARITYENV_APPEND_PATH": "/post"}).startswith("/pre:")
    assert getenv("PATH", env={"SINGULARITYENV_APPEND_PATH": "/post"}).endswith(":/post")
    assert getenv("SINGULARITY_CONTAINER") == images["sif"]
    assert getenv("SINGULARITY_NAME") == "img.sif"
    for key, value in ENV_VALUES.items():
        assert getenv(key) == value, key
    # Overrides are evaluated by the container's shell (Apptainer 1.x): $x
    # and `y` expand (to nothing here), quotes and other backslashes stay;
    # --no-eval keeps the value as given.
    tricky = "a'b\"c $x `y` \\z\nnext"
    assert getenv("TRICKY", env={"SINGULARITYENV_TRICKY": tricky}) == "a'b\"c   \\z\nnext"
    assert getenv("TRICKY", "--no-eval", env={"SINGULARITYENV_TRICKY": tricky}) == tricky


def test_env_file(images, user_tmp):
    path = os.path.join(user_tmp, "env")
    with open(path, "w") as f:
        f.write("# comment\nFROMFILE=yes\nQUOTED=\"a b\"\n")
    r = sing("exec", "--env-file", path, images["sif"], "sh", "-c",
             'printf "%s|%s" "$FROMFILE" "$QUOTED"')
    assert r.returncode == 0, r.stderr
    assert r.stdout == "yes|a b"


def test_home_cwd_and_tmp(images, run_mode, test_user, user_tmp):
    marker = os.path.join(test_user.home, "home-marker")
    run_as_user(["sh", "-c", f"echo home > {marker}"], check=True)
    tmpfile = os.path.join("/tmp", f"sing-tmp-marker-{os.getpid()}")
    run_as_user(["sh", "-c", f"echo tmp > {tmpfile}"], check=True)
    run_as_user(["sh", "-c", f"echo cwd > {user_tmp}/cwd-marker"], check=True)
    try:
        r = sing("exec", images["sif"], "sh", "-c",
                 f'cat "$HOME/home-marker" {tmpfile} cwd-marker; pwd; echo $HOME',
                 cwd=user_tmp)
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"home\ntmp\ncwd\n{user_tmp}\n{test_user.home}\n"
        r = sing("exec", "--contain", images["sif"], "sh", "-c",
                 f'ls "$HOME"; cat {tmpfile} 2>/dev/null || echo no-tmp', cwd=user_tmp)
        assert r.returncode == 0, r.stderr
        assert "home-marker" not in r.stdout and "no-tmp" in r.stdout
        r = sing("exec", "--no-home", images["sif"], "sh", "-c",
                 "cat $HOME/home-marker 2>/dev/null || echo no-home", cwd="/")
        assert "no-home" in r.stdout
        r = sing("exec", "--pwd", "/etc", images["sif"], "pwd")
        assert r.stdout == "/etc\n"
    finally:
        os.unlink(marker)
        os.unlink(tmpfile)


def test_binds(images, run_mode, user_tmp):
    src = os.path.join(user_tmp, "data")
    run_as_user(["mkdir", src], check=True)
    run_as_user(["sh", "-c", f"echo bound > {src}/f"], check=True)
    r = sing("exec", "-B", f"{src}:/mnt/data", images["sif"], "cat", "/mnt/data/f")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "bound\n"
    r = sing("exec", "-B", f"{src}:/mnt/data:ro", images["sif"], "sh", "-c",
             "echo x > /mnt/data/g")
    assert r.returncode != 0
    assert not os.path.exists(os.path.join(src, "g"))
    r = sing("exec", images["sif"], "cat", "/opt/f", env={"SINGULARITY_BIND": f"{src}:/opt"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "bound\n"


def test_pid_namespace(images, run_mode):
    r = sing("exec", "--pid", images["sif"], "sh", "-c", "echo $$")
    assert r.returncode == 0, r.stderr
    # pid 1 is our init; the FUSE server (setuid mode without limits, or userns)
    # and its prefetch thread (fuse/prefetch.c) may come before the program.
    assert r.stdout.strip() in ("2", "3", "4")


def test_run_docker_uri_uses_the_cache(images, make_fault_proxy, clean_user_cache):
    reg = images["registry"]
    proxy = make_fault_proxy(reg)
    uri = f"docker://{proxy.hostport}/test/runimage:latest"
    env = {"SINGULARITY_NOHTTPS": "1"}
    r = sing("run", uri, "first", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "entry: first\n"
    proxy.reset()
    r = sing("run", uri, "second", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "entry: second\n"
    assert proxy.count(r"/manifests/") == 1, proxy.requests
    assert proxy.count(r"/blobs/") == 0, proxy.requests
    digest = images["pushed"].manifest_digest
    pinned = f"docker://{proxy.hostport}/test/runimage@{digest}"
    r = sing("run", pinned, "third", env=env)
    assert r.returncode == 0, r.stderr
    proxy.reset()
    r = sing("run", pinned, "fourth", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "entry: fourth\n"
    assert proxy.requests == []


def user_processes(uid):
    """{pid: argv} of the processes whose real uid is uid."""
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                uids = next(l for l in f if l.startswith("Uid:")).split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")[:-1]
        except (OSError, StopIteration):
            continue  # gone meanwhile
        if int(uids[1]) == uid:
            procs[int(pid)] = [a.decode(errors="replace") for a in argv]
    return procs


def test_killed_container_leaves_nothing(images, run_mode, test_user, no_leftovers):
    before = set(user_processes(test_user.uid))
    p = subprocess.Popen(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups",
                          "singularity", "exec", images["sif"], "sleep", "60"],
                         env=user_env(), cwd="/")
    new = {}
    try:
        # Kill the command once the container's process runs (without --pid
        # it may be the command's own process: the starter execs in place).
        for _ in range(300):
            new = {pid: argv for pid, argv in user_processes(test_user.uid).items()
                   if pid not in before}
            if ["sleep", "60"] in new.values():
                break
            assert p.poll() is None, "exec ended before it was killed"
            time.sleep(0.1)
        assert ["sleep", "60"] in new.values(), f"the container never ran: {new}"
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        # Anything the container started (its process, the FUSE server) dies with it.
        for _ in range(100):
            new = {pid: argv for pid, argv in user_processes(test_user.uid).items()
                   if pid not in before}
            if not new:
                break
            time.sleep(0.1)
        assert new == {}, f"processes left behind: {new}"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for pid in new:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_interactive_shell_in_tmux(images, run_mode):
    session = f"{USER}{os.getpid()}"
    cmd = (f"setpriv --reuid={USER} --regid={USER} --init-groups env -i HOME=/home/{USER} "
           f"PATH={os.path.dirname(shutil.which('singularity') or '')}:"
           f"{user_env()['PATH']} TERM=xterm singularity shell {images['sif']}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "30", cmd],
                   check=True)
    try:
        screen = ""
        for _ in range(100):
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
            if "Singularity>" in screen:
                break
            time.sleep(0.1)
        assert "Singularity>" in screen, screen
        subprocess.run(["tmux", "send-keys", "-t", session, "echo $((6*7)); id -u", "Enter"],
                       check=True)
        for _ in range(50):
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
            # Both lines: the second may be drawn a moment after the first.
            if re.search(r"^42$", screen, re.M) and \
                    re.search(rf"^{ensure_user().uid}$", screen, re.M):
                break
            time.sleep(0.1)
        assert re.search(r"^42$", screen, re.M), screen
        assert re.search(rf"^{ensure_user().uid}$", screen, re.M), screen
        subprocess.run(["tmux", "send-keys", "-t", session, "exit", "Enter"], check=True)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


# ---- bad input ---------------------------------------------------------------

def one_error(r, needle):
    assert r.returncode == 255, (r.returncode, r.stderr)
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR:")]
    assert len(errors) == 1, r.stderr
    assert needle.lower() in errors[0].lower(), r.stderr


def test_bad_images(images, user_tmp, run_mode, no_leftovers):
    one_error(sing("exec", os.path.join(user_tmp, "nope.sif"), "true"), "no such file")
    junk = os.path.join(user_tmp, "junk.sif")
    with open(junk, "wb") as f:
        f.write(os.urandom(65536))
    one_error(sing("exec", junk, "true"), "not a")
    trunc = os.path.join(user_tmp, "trunc.sif")
    with open(images["sif"], "rb") as src, open(trunc, "wb") as dst:
        dst.write(src.read(40000))
    one_error(sing("exec", trunc, "true"), "SIF")
    secret = os.path.join(user_tmp, "secret.sif")
    shutil.copy(images["sif"], secret)
    os.chown(secret, 0, 0)
    os.chmod(secret, 0o600)
    one_error(sing("exec", secret, "true"), "permission denied")


def test_bad_bind_source(images, run_mode, no_leftovers):
    one_error(sing("exec", "-B", "/no/such/dir:/mnt", images["sif"], "true"), "/no/such/dir")
    one_error(sing("exec", "-B", "/root:/mnt", images["sif"], "true"), "/root")


def test_user_binds_forbidden_by_config(images, sing_config, user_tmp):
    sing_config.set(**{"user bind control": "no"})
    one_error(sing("exec", "-B", f"{user_tmp}:/mnt", images["sif"], "true"), "bind")


def test_config_must_be_root_owned(images, sing_config, test_user):
    path = sing_config.path
    os.chown(path, test_user.uid, 0)
    try:
        one_error(sing("exec", images["sif"], "true"), path)
    finally:
        os.chown(path, 0, 0)
    os.chmod(path, 0o666)
    try:
        one_error(sing("exec", images["sif"], "true"), path)
    finally:
        os.chmod(path, 0o644)


def test_stdin_and_signals_are_forwarded(images, run_mode):
    r = sing("exec", images["sif"], "cat", input="piped through\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "piped through\n"
    script = ('trap "echo got-usr1; exit 3" USR1; trap "echo got-hup; exit 4" HUP; '
              'echo ready; while :; do sleep 0.05; done')
    for opts in ([], ["--pid"]):
        for sig, word, code in ((signal.SIGUSR1, "got-usr1", 3), (signal.SIGHUP, "got-hup", 4)):
            p = subprocess.Popen(["setpriv", f"--reuid={USER}", f"--regid={USER}",
                                  "--init-groups", "singularity", "exec", *opts, images["sif"],
                                  "sh", "-c", script],
                                 env=user_env(), cwd="/", stdout=subprocess.PIPE, text=True)
            assert p.stdout.readline() == "ready\n"
            p.send_signal(sig)
            out, _ = p.communicate(timeout=20)
            assert word in out, (opts, sig, out)
            assert p.returncode == code, (opts, sig, p.returncode)


def test_containall_isolates(images, run_mode, test_user):
    marker = os.path.join(test_user.home, "containall-marker")
    run_as_user(["sh", "-c", f"echo x > {marker}"], check=True)
    try:
        r = sing("exec", "--containall", images["sif"], "sh", "-c",
                 'echo "pid=$$"; ls "$HOME"; printf "host=%s\\n" "$HOSTVAR"; '
                 'ls /dev | wc -l',
                 env={"HOSTVAR": "leak"})
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        # under our init (and the FUSE server and its prefetch thread)
        assert lines[0] in ("pid=2", "pid=3", "pid=4"), lines
        assert "containall-marker" not in r.stdout
        assert "host=" in lines and "host=leak" not in lines
        assert int(lines[-1]) < 20  # a minimal /dev
        r = sing("exec", "--ipc", images["sif"], "true")
        assert r.returncode == 0, r.stderr
    finally:
        os.unlink(marker)


def test_writable_sandbox_then_sif(images, run_mode, user_tmp, registry):
    sandbox = os.path.join(user_tmp, "sb")
    r = run_as_user(["singularity", "build", "--sandbox", sandbox, images["sif"]], cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    r = sing("exec", "--writable", sandbox, "sh", "-c", "echo added > /added-file")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(sandbox, "added-file")) as f:
        assert f.read() == "added\n"
    r = run_as_user(["singularity", "build", os.path.join(user_tmp, "sb.sif"), sandbox],
                    cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    r = sing("exec", os.path.join(user_tmp, "sb.sif"), "cat", "/added-file")
    assert r.stdout == "added\n", r.stderr
    # Without --writable the image stays read-only.
    r = sing("exec", sandbox, "sh", "-c", "echo x > /other-file")
    assert r.returncode != 0
    assert not os.path.exists(os.path.join(sandbox, "other-file"))


def test_sif_made_by_siftool(images, user_tmp, run_mode, no_leftovers):
    """A SIF written by the reference tool runs; one with no primary system
    partition, or with two, is refused with a clear line."""
    def make(name, parttypes):
        path = os.path.join(user_tmp, name)
        subprocess.run(["siftool", "new", path], check=True, capture_output=True)
        for pt in parttypes:
            subprocess.run(["siftool", "add", "--datatype", "4", "--parttype", str(pt),
                            "--partfs", "1", "--partarch", "2", path, images["squashfs"]],
                           check=True, capture_output=True)
        os.chmod(path, 0o644)
        return path

    good = make("ref.sif", [2])
    r = sing("exec", good, "cat", "/etc/marker")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "run-test-image\n"
    one_error(sing("exec", make("none.sif", [3]), "true"), "no primary")
    # siftool refuses a second primary partition: add a plain system one and
    # turn it into a second primary in the descriptor (partition type field).
    two = make("two.sif", [2, 1])
    with open(two, "r+b") as f:
        head = f.read(128)
        total, descoff = struct.unpack_from("<qq", head, 88)
        for i in range(total):
            base = descoff + i * siftools.DESC_SIZE
            f.seek(base)
            d = f.read(siftools.DESC_SIZE)
            if d[4] == 1 and struct.unpack_from("<i", d, 0)[0] == 0x4004 and \
                    struct.unpack_from("<i", d, 205)[0] == 1:
                f.seek(base + 205)
                f.write(struct.pack("<i", 2))
    one_error(sing("exec", two, "true"), "2 primary")


def test_net_none_has_only_loopback(images, run_mode):
    """--net --network none (what cwltool passes for tools without
    NetworkAccess): only lo, and it is up; the host's loopback services are
    out of reach."""
    import socket
    import threading
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen(4)
    port = host.getsockname()[1]

    def serve():  # answer and hang up, so that a client that got here ends
        while True:
            try:
                conn, _ = host.accept()
            except OSError:
                return
            conn.sendall(b"hello\n")
            conn.close()
    threading.Thread(target=serve, daemon=True).start()
    try:
        probe = (f"cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; "
                 f"if nc -w 2 127.0.0.1 {port} </dev/null | grep -q hello; then echo host-reached; fi; "
                 "(echo pong | nc -l -p 5555 >/dev/null &); sleep 0.3; "
                 "nc -w 2 127.0.0.1 5555 </dev/null | grep -q pong && echo lo-up")
        r = sing("exec", "--net", "--network", "none", images["sif"], "sh", "-c", probe,
                 timeout=60)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.split()
        assert lines[0] == "lo" and "lo-up" in lines, r.stdout
        assert "host-reached" not in lines and lines.count("lo") == 1, r.stdout
        # Without --net the host's loopback listener is reachable.
        r = sing("exec", images["sif"], "sh", "-c",
                 f"nc -w 2 127.0.0.1 {port} </dev/null | grep -q hello && echo host-reached",
                 timeout=60)
        assert "host-reached" in r.stdout, r.stderr
    finally:
        host.shutdown(socket.SHUT_RDWR)
        host.close()


@pytest.mark.parametrize("args, message", [
    (["--net"], "use --net --network none"),
    (["--net", "--network", "bridge"], "--network bridge: not supported"),
    (["--network-args", "portmap=80:80/tcp"], "--network-args"),
])
def test_other_networks_are_refused_clearly(images, args, message):
    r = sing("exec", *args, images["sif"], "true")
    assert r.returncode == 255 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_userns_flag_forces_the_unprivileged_mode(images, test_user):
    """-u/--userns with the setuid starter: a user namespace, no loop device
    (cwltool probes for it with `exec --userns`)."""
    for flag in ("-u", "--userns"):
        r = sing("exec", flag, images["sif"], "cat", "/proc/self/uid_map")
        assert r.returncode == 0, r.stderr
        fields = r.stdout.split()
        assert fields[:3] == [str(test_user.uid), str(test_user.uid), "1"], r.stdout
    r = sing("exec", images["sif"], "cat", "/proc/self/uid_map")
    assert r.stdout.split()[:3] == ["0", "0", "4294967295"], r.stdout


def test_cwd_is_an_alias_of_pwd(images):
    r = sing("exec", "--cwd", "/etc", images["sif"], "pwd")
    assert r.returncode == 0 and r.stdout == "/etc\n", r.stderr


def test_mount_option_and_escaped_bind_specs(images, user_tmp):
    """--mount type=bind,src=,dst=[,ro] and `\\:` / `\\,` in -B paths."""
    odd = os.path.join(user_tmp, "a:b,c")
    run_as_user(["sh", "-c", f"mkdir '{odd}' && echo odd > '{odd}/f'"], check=True)
    esc = odd.replace(":", "\\:").replace(",", "\\,")
    r = sing("exec", "-B", f"{esc}:/mnt/x\\:y:ro,{user_tmp}:/mnt/plain", images["sif"], "sh",
             "-c", "cat '/mnt/x:y/f' /mnt/plain/a:b,c/f; touch '/mnt/x:y/g' 2>/dev/null || "
             "echo read-only")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "odd\nodd\nread-only\n", r.stdout
    r = sing("exec", "--mount", f"type=bind,source={user_tmp},target=/mnt/m,readonly",
             images["sif"], "sh", "-c", "cat '/mnt/m/a:b,c/f'; touch /mnt/m/g || echo ro")
    assert r.returncode == 0 and r.stdout == "odd\nro\n", (r.stdout, r.stderr)
    r = sing("exec", "--mount", f"type=bind,src={user_tmp},dst=/mnt/m", images["sif"], "sh",
             "-c", "touch /mnt/m/g && echo rw")
    assert r.returncode == 0 and r.stdout == "rw\n", r.stderr
    for bad, msg in ((f"type=volume,src={user_tmp},dst=/m", "only type=bind"),
                     (f"type=bind,src={user_tmp}", "absolute dst="),
                     (f"type=bind,src={user_tmp},dst=/m,propagation=x", "propagation")):
        r = sing("exec", "--mount", bad, images["sif"], "true")
        assert r.returncode == 255 and msg in r.stderr, r.stderr


# ---- processes: our init, the FUSE server's parent ----------------------------------

@pytest.fixture(scope="module")
def probe_dir():
    d = tempfile.mkdtemp(prefix="sing-run-probe-")
    build_probe(d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def user_fuse_servers():
    """The user's live FUSE servers, once a just-ended one has gone (it ends
    with the starter's process, asynchronously)."""
    for _ in range(100):
        if not live_fuse_servers():
            break
        time.sleep(0.05)
    return live_fuse_servers()


@pytest.mark.parametrize("opts", [(), ("--pid",)], ids=["plain", "pid"])
def test_program_waiting_for_all_its_children_returns(images, run_mode, probe_dir, opts):
    """A program that wait()s until ECHILD must not find the FUSE server (or any
    other process of ours) among its children."""
    r = sing("exec", *opts, "-B", f"{probe_dir}:/probe", images["sif"], "/probe/probe",
             "waitall", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "waited 1\n"


def test_image_xattrs_reach_the_container(images, run_mode, probe_dir, tmp_path):
    """An image's extended attributes are seen in the container in every
    mode (the FUSE server answers xattr requests itself only for images
    without an xattr table); an image without any shows none."""
    root = tmp_path / "root"
    shutil.copytree(images["sandbox"], root, symlinks=True)
    marked = root / "marked"
    marked.write_text("x\n")
    os.setxattr(marked, "user.sing", b"yes")
    d = tempfile.mkdtemp(prefix="sing-run-xattr-")
    try:
        os.chmod(d, 0o755)
        sq = os.path.join(d, "xattr.sqfs")
        subprocess.run(["mksquashfs", root, sq, "-noappend", "-quiet", "-all-root"], check=True,
                       stdout=subprocess.DEVNULL)
        os.chmod(sq, 0o644)
        r = sing("exec", "-B", f"{probe_dir}:/probe", sq, "/probe/probe", "getxattr", "/marked",
                 "user.sing", timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "value=yes\n"
        r = sing("exec", "-B", f"{probe_dir}:/probe", images["squashfs"], "/probe/probe",
                 "getxattr", "/bin/sh", "user.sing", timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout in ("errno=ENODATA\n", "errno=ENOTSUP\n")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_fuse_server_ends_with_the_container(images, run_mode):
    assert user_fuse_servers() == []
    for opts in ([], ["--pid"]):
        # A background process outliving the program does not keep it alive.
        r = sing("exec", *opts, images["sif"], "sh", "-c", "sleep 30 >/dev/null 2>&1 & echo started",
                 timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "started\n"
        assert user_fuse_servers() == [], "the FUSE server outlived the container"
    subprocess.run(["pkill", "-KILL", "-u", USER, "-x", "sleep"])


def start_user(args):
    return subprocess.Popen(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups",
                             *args], env=user_env(), cwd="/", stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_pid_namespace_init_forwards_signals(images, run_mode, sig):
    """Under --pid, `sleep` is not pid 1 (which ignores every signal it has
    no handler for): a batch system's SIGTERM or a Ctrl-C reaches it."""
    p = start_user(["singularity", "exec", "--pid", images["sif"], "sh", "-c",
                    "echo ready; exec sleep 100"])
    assert p.stdout.readline() == "ready\n"
    time.sleep(0.2)  # the shell has exec'd sleep
    p.send_signal(sig)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        pytest.fail(f"{signal.Signals(sig).name} did not end the container")
    assert p.returncode == 128 + sig


def test_pid_namespace_init_reaps_orphans(images, run_mode, probe_dir):
    r = sing("exec", "--pid", "-B", f"{probe_dir}:/probe", images["sif"], "/probe/probe",
             "zombies", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "zombies=0\n"


def test_no_init_is_accepted(images):
    r = sing("exec", "--pid", "--no-init", images["sif"], "true")
    assert r.returncode == 0, r.stderr


def test_nested_bind_under_a_bound_home(images, run_mode, test_user, user_tmp):
    """cwltool's layout: a file bound under the bound home. The missing mount
    points (a file, then a directory with parents) are created in the host
    directory, owned by the user."""
    home, data = os.path.join(user_tmp, "h"), os.path.join(user_tmp, "f")
    run_as_user(["sh", "-c", f"mkdir {home} {data}.d && echo staged > {data} && "
                 f"echo indir > {data}.d/g"], check=True)
    r = sing("exec", "--contain", "--home", f"{home}:/w", "--bind", f"{data}:/w/f.txt:ro",
             "--bind", f"{data}.d:/w/sub/dir", "--pwd", "/w", images["sif"], "sh", "-c",
             "cat f.txt sub/dir/g; echo x > f.txt 2>/dev/null || echo ro; echo out > out")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "staged\nindir\nro\n", r.stdout
    for name, kind in (("f.txt", stat.S_ISREG), ("sub", stat.S_ISDIR),
                       ("sub/dir", stat.S_ISDIR), ("out", stat.S_ISREG)):
        st = os.lstat(os.path.join(home, name))
        assert kind(st.st_mode) and st.st_uid == test_user.uid, (name, st)
    assert open(os.path.join(home, "out")).read() == "out\n"
    assert os.path.getsize(os.path.join(home, "f.txt")) == 0


def test_home_elsewhere_when_the_cwd_is_home(images, run_mode, test_user, user_tmp):
    """--home DIR:$HOME from $HOME: the container's $HOME is DIR, the cwd is
    not bound over it."""
    other = os.path.join(user_tmp, "h")
    run_as_user(["sh", "-c", f"mkdir {other} && echo other-home > {other}/marker"], check=True)
    r = sing("exec", "--home", f"{other}:{test_user.home}", images["sif"], "sh", "-c",
             'echo "$PWD"; cat "$HOME/marker"', cwd=test_user.home)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{test_user.home}\nother-home\n", r.stdout


def test_root_edits_passwd_and_group_in_a_writable_sandbox(images, prefix, tmp_path):
    """Root in a --writable sandbox gets the image's own /etc/passwd and
    /etc/group (adduser, package installs), not generated read-only copies."""
    sandbox = str(tmp_path / "sb")
    shutil.copytree(images["sandbox"], sandbox, symlinks=True)
    exe = os.path.join(prefix, "bin", "singularity")
    r = subprocess.run([exe, "exec", "--writable", sandbox, "sh", "-c",
                        "echo 'added:x:4321:4321::/:/bin/sh' >> /etc/passwd && "
                        "echo 'addedgrp:x:4321:' >> /etc/group && id -u"],
                       capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "0\n"
    assert "added:x:4321:4321" in open(os.path.join(sandbox, "etc/passwd")).read()
    assert "addedgrp:x:4321:" in open(os.path.join(sandbox, "etc/group")).read()


def test_run_no_https_option(images, clean_user_cache):
    """run/exec --no-https (and pull --no-https, Apptainer's spelling) reach a
    plain-HTTP registry without SINGULARITY_NOHTTPS."""
    uri = f"docker://{images['registry'].hostport}/test/runimage:latest"
    r = sing("run", uri, "x")
    assert r.returncode == 255, (r.stdout, r.stderr)
    for opt in ("--no-https", "--nohttps"):
        r = sing("run", opt, uri, "x")
        assert r.returncode == 0, r.stderr
        assert r.stdout == "entry: x\n"
    r = sing("exec", "--no-https", uri, "cat", "/etc/marker")
    assert r.returncode == 0 and r.stdout == "run-test-image\n", r.stderr
    d = tempfile.mkdtemp(prefix="sing-nohttps-")
    try:
        os.chmod(d, 0o777)
        r = sing("pull", "--no-https", "--name", f"{d}/p.sif", uri)
        assert r.returncode == 0 and os.path.getsize(f"{d}/p.sif") > 0, r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_scratch_and_workdir(images, run_mode, test_user, user_tmp):
    """-S DIR: a writable scratch directory (a private tmpfs, or
    WORKDIR/scratch/NAME with -W); -W with --contain also backs /tmp,
    /var/tmp and the home."""
    r = sing("exec", "-S", "/scratch,/data/s", images["sif"], "sh", "-c",
             "echo a > /scratch/f && echo b > /data/s/f && cat /scratch/f /data/s/f && "
             "stat -c %a:%u /scratch")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"a\nb\n700:{test_user.uid}\n", r.stdout
    work = os.path.join(user_tmp, "work")
    run_as_user(["mkdir", work], check=True)
    r = sing("exec", "--contain", "-W", work, "--scratch", "/scratch", images["sif"], "sh", "-c",
             'echo s > /scratch/f; echo t > /tmp/f; echo v > /var/tmp/f; echo h > "$HOME/f"',
             env={"SINGULARITY_SCRATCH": "/env/scratch"})
    assert r.returncode == 0, r.stderr
    for sub, text in (("scratch/scratch/f", "s"), ("tmp/f", "t"), ("var_tmp/f", "v"),
                      ("home/f", "h")):
        path = os.path.join(work, sub)
        assert open(path).read() == text + "\n", sub
        assert os.stat(path).st_uid == test_user.uid
    assert os.path.isdir(os.path.join(work, "scratch", "env_scratch"))
    # Without --contain the workdir holds only the scratch directories.
    r = sing("exec", "-W", work, "-S", "/s2", images["sif"], "sh", "-c", "echo x > /s2/f")
    assert r.returncode == 0, r.stderr
    assert open(os.path.join(work, "scratch", "s2", "f")).read() == "x\n"
    for bad in ("relative", "/", "/a/../b"):
        one_error(sing("exec", "-S", bad, images["sif"], "true"), "--scratch")
    one_error(sing("exec", "-W", os.path.join(user_tmp, "missing"), "-S", "/s", images["sif"],
                   "true"), "--workdir")


def test_run_disable_cache_option(images, clean_user_cache, user_tmp):
    """exec --disable-cache (the option, not the variable): the user's cache
    stays empty and the private one goes after the run."""
    tmpdir = os.path.join(user_tmp, "t")
    run_as_user(["mkdir", "-m", "700", tmpdir], check=True)
    uri = f"docker://{images['registry'].hostport}/test/runimage:latest"
    r = sing("exec", "--no-https", "--disable-cache", uri, "cat", "/etc/marker",
             env={"TMPDIR": tmpdir})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "run-test-image\n"
    for _ in range(300):
        if not os.listdir(tmpdir):
            break
        time.sleep(0.1)
    assert os.listdir(tmpdir) == []
    sifs = os.path.join(clean_user_cache, "sif")
    assert not os.path.isdir(sifs) or os.listdir(sifs) == []


def test_no_mount_dev_with_an_image_that_ships_device_nodes(images, run_mode, user_tmp):
    """--no-mount dev keeps the image's own /dev, whose nodes cannot be
    opened (nodev): the run itself must not need /dev/null."""
    sandbox = os.path.join(user_tmp, "sb")
    shutil.copytree(images["sandbox"], sandbox, symlinks=True)
    os.mknod(os.path.join(sandbox, "dev", "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(os.path.join(sandbox, "dev", "zero"), 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    r = sing("exec", "--no-mount", "dev", sandbox, "sh", "-c",
             "ls /dev; cat /dev/zero 2>/dev/null || echo nodev")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["null", "zero", "nodev"], r.stdout
    r = sing("exec", "--no-mount", "dev", sandbox, "no-such-program")
    assert r.returncode == 127 and "no such file or directory" in r.stderr, r.stderr


def test_missing_mount_point_parent_keeps_the_image_owner_and_mode(images, run_mode, user_tmp):
    """A bind onto /data/sub where the image has /data but no sub: /data,
    made in the overlay's upper layer before the mount (no copy-up), keeps
    the image's mode and, as root, its owner and group (in a user namespace
    they are the user's: the image's ids are not mapped there)."""
    d = tempfile.mkdtemp(prefix="sing-run-owner-")
    try:
        os.chmod(d, 0o755)
        root = os.path.join(d, "root")
        shutil.copytree(images["sandbox"], root, symlinks=True)
        data = os.path.join(root, "data")
        os.mkdir(data)
        os.chown(data, 1234, 1235)
        os.chmod(data, 0o2755)
        sq = os.path.join(d, "owners.sqfs")
        subprocess.run(["mksquashfs", root, sq, "-noappend", "-quiet"], check=True,
                       stdout=subprocess.DEVNULL)
        os.chmod(sq, 0o644)
        r = sing("exec", "-B", f"{user_tmp}:/data/sub", sq, "stat", "-c", "%a:%u:%g", "/data",
                 timeout=60)
        assert r.returncode == 0, r.stderr
        mode, uid, gid = r.stdout.strip().split(":")
        assert mode == "2755", r.stdout
        if run_mode != "userns":
            assert (uid, gid) == ("1234", "1235"), r.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)
