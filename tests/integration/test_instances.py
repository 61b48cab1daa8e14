"""singularity instance start/list/stop and exec|run|shell instance://NAME,
as a normal user with the setuid starter (and in user-namespace mode), and
the security of joining and stopping: records are the user's files, so a
forged one (another user's process, a root process, a reused pid, a plain
process that is no container) must be refused by the starter itself."""
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import imagetools
import siftools
from conftest import USER2, ensure_user, ensure_user2, run_as_user, user_env
from imagetools import File

STARTSCRIPT = b"""#!/bin/sh
echo "startscript args: $*"
echo "$1" > /tmp/instance-started-$1
exec sh -c 'sleep 100000; :' "startscript-$1"
"""

# Ignores SIGTERM: only the --timeout SIGKILL ends it.
WEDGED_STARTSCRIPT = b"""#!/bin/sh
trap 'echo got TERM' TERM
echo wedged
while :; do sleep 1; done
"""


def wait_for(pred, what, timeout=60):
    """Poll pred() until true (the time limit only bounds a broken run)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # ESRCH: it exited while read
        return False


def start_time(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def build_sif(sandbox, dest, startscript):
    path = os.path.join(sandbox, ".singularity.d", "startscript")
    with open(path, "wb") as f:
        f.write(startscript)
    os.chmod(path, 0o755)
    r = run_as_user(["singularity", "build", "--force", dest, sandbox])
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def images(registry):
    user = ensure_user()
    img = imagetools.busybox_image(extra_layers=[[File("etc/marker", b"instance-image\n")]])
    imagetools.push_image(registry, "test/instanceimage", "latest", img)
    d = tempfile.mkdtemp(prefix="sing-inst-")
    os.chmod(d, 0o755)
    os.chown(d, user.uid, user.gid)
    r = run_as_user(["singularity", "pull", "--nohttps", "--name", "base.sif",
                     f"docker://{registry.hostport}/test/instanceimage:latest"], cwd=d)
    assert r.returncode == 0, r.stderr
    sandbox = os.path.join(d, "sandbox")
    siftools.extract(os.path.join(d, "base.sif"), sandbox)
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", sandbox], check=True)
    sif = os.path.join(d, "svc.sif")
    build_sif(sandbox, sif, STARTSCRIPT)
    wedged = os.path.join(d, "wedged.sif")
    build_sif(sandbox, wedged, WEDGED_STARTSCRIPT)
    IMAGES_WITH_LOG_LINE["sif"] = sif
    yield dict(dir=d, sif=sif, wedged=wedged, sandbox=sandbox)
    shutil.rmtree(d, ignore_errors=True)


def sing(*args, user=None, **kw):
    if user:
        return run_as_user_named(user, ["singularity", *args], **kw)
    return run_as_user(["singularity", *args], **kw)


def run_as_user_named(name, args, env=None, timeout=120):
    """run_as_user for another account (the second, unrelated user)."""
    pw = pwd.getpwnam(name)
    full = {"HOME": pw.pw_dir, "USER": name, "LOGNAME": name, "LANG": "C.UTF-8",
            "PATH": os.environ.get("SING_PREFIX", "/tmp/sing-prefix") + "/bin:/usr/bin:/bin"}
    full.update(env or {})
    return subprocess.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                           "--init-groups", *args], env=full, cwd=pw.pw_dir,
                          capture_output=True, text=True, timeout=timeout)


def list_json(user=None, verbose=False):
    r = sing(*(["-v"] if verbose else []), "instance", "list", "--json", user=user)
    if verbose:
        print(r.stderr)
    assert r.returncode == 0, r.stderr
    return {i["instance"]: i for i in json.loads(r.stdout)["instances"]}


def record_path(name, user_name=None):
    pw = pwd.getpwnam(user_name) if user_name else pwd.getpwuid(ensure_user().uid)
    return os.path.join(pw.pw_dir, ".singularity", "instances", "app", os.uname().nodename,
                        pw.pw_name, name, f"{name}.json")


@pytest.fixture
def instances():
    """Names started by a test; every one is stopped (and killed) after."""
    started = []
    yield started
    for name in started:
        sing("instance", "stop", "--timeout", "1", name)
    r = sing("instance", "list", "--json")
    for name in (json.loads(r.stdout)["instances"] if r.returncode == 0 else []):
        os.kill(name["pid"], signal.SIGKILL)


def start(instances, image, name, *args, opts=()):
    r = sing("-v", "instance", "start", *opts, image, name, *args)
    assert r.returncode == 0, r.stderr
    instances.append(name)
    if image == IMAGES_WITH_LOG_LINE.get("sif"):
        log = got_log(name)
        wait_for(lambda: "startscript args" in open(log).read(), "the startscript")
    got = list_json(verbose=True)
    if name not in got:
        rec = open(record_path(name)).read() if os.path.exists(record_path(name)) else None
        dbg = sing("-v", "instance", "list")
        raise AssertionError(f"{name} not listed; {r.stderr} record {rec}; list: {dbg.stdout}{dbg.stderr}")
    return got[name]


IMAGES_WITH_LOG_LINE = {}


def got_log(name):
    return os.path.join(pwd.getpwuid(ensure_user().uid).pw_dir, ".singularity", "instances",
                        "logs", os.uname().nodename, USER_NAME(), f"{name}.out")


def test_start_list_stop(images, instances):
    info = start(instances, images["sif"], "svc1", "hello")
    assert info["img"] == images["sif"] and info["ip"] == ""
    pid = info["pid"]
    assert pid_alive(pid)
    with open(f"/proc/{pid}/status") as f:
        assert f"Uid:\t{ensure_user().uid}\t" in f.read()
    # The startscript ran with its args, its output in the log file.
    wait_for(lambda: "startscript args: hello" in open(info["logOutPath"]).read(), "the log")
    assert info["logOutPath"].endswith("/logs/" + os.uname().nodename + f"/{USER_NAME()}/svc1.out")
    r = sing("instance", "list")
    assert r.returncode == 0 and "svc1" in r.stdout and str(pid) in r.stdout, r.stdout
    assert "svc1" in list_json() and "svc1" not in list_json_named_filter("other")
    # The instance outlived the command that started it; it is detached.
    sid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[3])
    assert sid != os.getsid(0)
    for d in ("app", "logs"):
        base = os.path.join(pwd.getpwuid(ensure_user().uid).pw_dir, ".singularity", "instances", d)
        assert os.stat(base).st_mode & 0o777 == 0o700
    r = sing("instance", "stop", "svc1")
    assert r.returncode == 0, r.stderr
    assert not pid_alive(pid)
    assert "svc1" not in list_json()
    assert not os.path.exists(record_path("svc1"))


def USER_NAME():
    return pwd.getpwuid(ensure_user().uid).pw_name


def list_json_named_filter(name):
    r = sing("instance", "list", "--json", name)
    assert r.returncode == 0, r.stderr
    return {i["instance"] for i in json.loads(r.stdout)["instances"]}


def test_two_instances_of_one_image(images, instances):
    a = start(instances, images["sif"], "twin-a", "marker-a")
    b = start(instances, images["sif"], "twin-b", "marker-b")
    assert a["pid"] != b["pid"]
    r = sing("instance", "start", images["sif"], "twin-a")
    assert r.returncode == 255 and "already exists" in r.stderr
    cmd = ["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"]
    ra = sing("exec", "instance://twin-a", *cmd)
    rb = sing("exec", "instance://twin-b", *cmd)
    assert ra.returncode == 0 and rb.returncode == 0, ra.stderr + rb.stderr
    # Each joins its own pid namespace: it sees its own startscript only.
    assert "startscript-marker-a" in ra.stdout and "marker-b" not in ra.stdout
    assert "startscript-marker-b" in rb.stdout and "marker-a" not in rb.stdout
    sing("instance", "stop", "twin-a")
    assert not pid_alive(a["pid"]) and pid_alive(b["pid"])


def test_exec_run_shell_join_the_instance(images, instances):
    info = start(instances, images["sif"], "joined", "j1", opts=("--contain",))
    # A file only the instance's mount namespace has (its own /tmp).
    r = sing("exec", "instance://joined", "sh", "-c", "echo inside > /tmp/only-here")
    assert r.returncode == 0, r.stderr
    r = sing("exec", "instance://joined", "cat", "/tmp/only-here", "/etc/marker")
    assert r.returncode == 0 and r.stdout == "inside\ninstance-image\n", r.stderr
    assert not os.path.exists("/tmp/only-here")
    r = sing("shell", "instance://joined", input="cat /tmp/only-here; id -u\n")
    assert r.returncode == 0 and r.stdout.split() == ["inside", str(ensure_user().uid)], r.stderr
    r = sing("run", "instance://joined")  # the image's runscript (busybox: a shell)
    assert r.returncode == 0, r.stderr
    r = sing("exec", "instance://joined", "sh", "-c", "exit 7")
    assert r.returncode == 7
    r = sing("exec", "instance://nosuch", "true")
    assert r.returncode == 255 and "nosuch" in r.stderr
    assert pid_alive(info["pid"])


def test_pid_namespace(images, instances):
    info = start(instances, images["sif"], "pidns", "p1", opts=("--pid",))
    r = sing("exec", "instance://pidns", "sh", "-c",
             "echo $$; for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # A small pid in the instance's namespace, not the host's; the
    # startscript (sleep p1) is there, the host's processes are not.
    assert int(lines[0]) < 100 and int(lines[0]) != info["pid"]
    assert any("startscript-p1" in l for l in lines), r.stdout
    assert not any("pytest" in l for l in lines)
    # pid 1 of the instance is its init, named as SingularityCE names it,
    # not a process from the host, and it shows none of the starter's
    # arguments.
    r = sing("exec", "instance://pidns", "cat", "/proc/1/cmdline", "/proc/1/comm")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\0")[0] == "sinit" and r.stdout.endswith("sinit\n"), r.stdout
    assert "--" not in r.stdout, r.stdout


def test_stop_wedged_instance_with_timeout(images, instances):
    info = start(instances, images["wedged"], "wedged")
    wait_for(lambda: "wedged" in open(info["logOutPath"]).read(), "the startscript")
    r = sing("instance", "stop", "--timeout", "2", "wedged")
    assert r.returncode == 0, r.stderr
    assert "killing" in r.stderr
    assert not pid_alive(info["pid"])
    assert "wedged" not in list_json()


def test_stop_signal_and_all(images, instances):
    a = start(instances, images["sif"], "sig-a", "s1")
    b = start(instances, images["sif"], "sig-b", "s2")
    r = sing("instance", "stop", "--signal", "KILL", "sig-a")
    assert r.returncode == 0 and not pid_alive(a["pid"]), r.stderr
    r = sing("instance", "stop", "--signal", "NOSUCH", "sig-b")
    assert r.returncode == 255 and pid_alive(b["pid"])
    r = sing("instance", "stop", "--all")
    assert r.returncode == 0 and not pid_alive(b["pid"]), r.stderr
    assert list_json() == {}


def test_cleanup_after_sigkill(images, instances):
    info = start(instances, images["sif"], "killed", "k1")
    ppid = int(open(f"/proc/{info['pid']}/stat").read().rsplit(")", 1)[1].split()[1])
    os.kill(info["pid"], signal.SIGKILL)
    wait_for(lambda: not pid_alive(info["pid"]), "the instance to die")
    # The starter that ran it ends too, and the stale record goes.
    wait_for(lambda: not pid_alive(ppid), "the starter to exit")
    assert "killed" not in list_json()
    assert not os.path.exists(record_path("killed"))
    r = sing("exec", "instance://killed", "true")
    assert r.returncode == 255
    # The name can be used again.
    start(instances, images["sif"], "killed", "k2")


def test_second_user_cannot_list_join_or_stop(images, instances):
    other = ensure_user2()
    info = start(instances, images["sif"], "private", "v1")
    assert "private" not in list_json(user=USER2)
    r = sing("exec", "instance://private", "true", user=USER2)
    assert r.returncode == 255
    r = sing("instance", "stop", "private", user=USER2)
    assert r.returncode == 255
    # The victim's record copied into the attacker's own tree.
    dest = record_path("private", USER2)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copy(record_path("private"), dest)
    subprocess.run(["chown", "-R", f"{other.pw_uid}:{other.pw_gid}",
                    os.path.join(other.pw_dir, ".singularity")], check=True)
    r = sing("exec", "instance://private", "id", user=USER2)
    assert r.returncode == 255 and "not to you" in r.stderr, r.stdout + r.stderr
    r = sing("instance", "stop", "private", user=USER2)
    assert r.returncode == 255
    # And straight at the starter, skipping the frontend's own checks.
    starter = os.path.join(os.environ.get("SING_PREFIX", "/tmp/sing-prefix"),
                           "libexec", "singularity", "starter")
    r = run_as_user_named(USER2, [starter, "--action", "exec", "--image", images["sif"],
                                  "--instance", f"{info['pid']}:{start_time(info['pid'])}",
                                  "--", "/bin/id"])
    assert r.returncode == 255 and "ERROR" in r.stderr and "uid=" not in r.stdout
    assert pid_alive(info["pid"])
    shutil.rmtree(os.path.join(other.pw_dir, ".singularity", "instances"))


def starter_path():
    return os.path.join(os.environ.get("SING_PREFIX", "/tmp/sing-prefix"),
                        "libexec", "singularity", "starter")


def forge(name, pid, start, image):
    """A record the user wrote by hand, in the user's own tree."""
    path = record_path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rec = {"pid": pid, "ppid": 1, "startTime": start, "name": name, "user": USER_NAME(),
           "image": image, "ip": "", "logOutPath": "/dev/null", "logErrPath": "/dev/null"}
    with open(path, "w") as f:
        json.dump(rec, f)
    u = ensure_user()
    home = pwd.getpwuid(u.uid).pw_dir
    subprocess.run(["chown", "-R", f"{u.uid}:{u.gid}", os.path.join(home, ".singularity")],
                   check=True)


def join_directly(pid, start):
    return run_as_user([starter_path(), "--action", "exec", "--image", "/",
                        "--instance", f"{pid}:{start}", "--", "/bin/id"])


@pytest.fixture
def victim_process(images):
    """A real instance of the second, unrelated user."""
    ensure_user2()
    r = sing("instance", "start", images["sif"], "victim", "v", user=USER2)
    assert r.returncode == 0, r.stderr
    r = sing("instance", "list", "--json", user=USER2)
    yield json.loads(r.stdout)["instances"][0]["pid"]
    sing("instance", "stop", "--signal", "KILL", "--all", user=USER2)


@pytest.fixture
def root_instance(images):
    """A real instance started by root."""
    env = {"HOME": "/root", "PATH": os.environ.get("SING_PREFIX", "/tmp/sing-prefix")
           + "/bin:/usr/bin:/bin"}
    r = subprocess.run(["singularity", "instance", "start", images["sif"], "rootinst", "r"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["singularity", "instance", "list", "--json"], env=env,
                       capture_output=True, text=True)
    yield [i for i in json.loads(r.stdout)["instances"] if i["instance"] == "rootinst"][0]["pid"]
    subprocess.run(["singularity", "instance", "stop", "--signal", "KILL", "rootinst"], env=env)


def child_of(pid):
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                    return int(d)
            except (FileNotFoundError, ProcessLookupError):
                pass
    return None


def test_forged_record_pointing_at_another_users_process(images, victim_process):
    pid = victim_process
    forge("forged-other", pid, start_time(pid), images["sif"])
    r = sing("exec", "instance://forged-other", "id")
    assert r.returncode == 255 and "uid=" not in r.stdout
    r = sing("instance", "stop", "forged-other")
    assert r.returncode == 255
    r = join_directly(pid, start_time(pid))
    assert r.returncode == 255 and "uid=" not in r.stdout and "ERROR" in r.stderr, r.stdout + r.stderr
    assert pid_alive(pid)
    shutil.rmtree(os.path.dirname(record_path("forged-other")))


def test_forged_record_pointing_at_a_root_process(images, root_instance):
    pid = root_instance
    try:
        forge("forged-root", pid, start_time(pid), images["sif"])
        r = sing("exec", "instance://forged-root", "id")
        assert r.returncode == 255 and "uid=" not in r.stdout
        r = sing("instance", "stop", "forged-root")
        assert r.returncode == 255 and pid_alive(pid)
        r = join_directly(pid, start_time(pid))
        assert r.returncode == 255 and "uid=" not in r.stdout and "ERROR" in r.stderr, r.stdout + r.stderr
        assert pid_alive(pid)
    finally:
        shutil.rmtree(os.path.dirname(record_path("forged-root")), ignore_errors=True)


def test_forged_record_with_a_reused_pid(images, instances):
    # The recorded instance died; its pid now names another process of the
    # user's (same owner, another start time): it must be neither joined
    # nor signalled, and the record counts as stale.
    p = subprocess.Popen(["setpriv", f"--reuid={ensure_user().uid}",
                          f"--regid={ensure_user().gid}", "--clear-groups", "sleep", "1000"])
    wait_for(lambda: open(f"/proc/{p.pid}/cmdline").read().startswith("sleep"), "sleep")
    try:
        forge("reused", p.pid, start_time(p.pid) + 12345, images["sif"])
        r = sing("exec", "instance://reused", "id")
        assert r.returncode == 255 and "uid=" not in r.stdout
        r = sing("instance", "stop", "reused")
        assert p.poll() is None
        r = join_directly(p.pid, start_time(p.pid) + 12345)
        assert r.returncode == 255 and "exited" in r.stderr
        assert "reused" not in list_json() and not os.path.exists(record_path("reused"))
        # The user's own process, right start time, but not a container.
        r = join_directly(p.pid, start_time(p.pid))
        assert r.returncode == 255 and "not a container" in r.stderr, r.stderr
        assert p.poll() is None
    finally:
        p.kill()
        p.wait()


def test_userns_instance(images, instances, sing_config):
    sing_config.set(**{"allow setuid": "no"})
    info = start(instances, images["sif"], "userns", "u1")
    r = sing("exec", "instance://userns", "sh", "-c", "cat /etc/marker; id -u")
    assert r.returncode == 0 and r.stdout.split() == ["instance-image", str(ensure_user().uid)], \
        r.stderr
    r = sing("instance", "stop", "userns")
    assert r.returncode == 0 and not pid_alive(info["pid"])


def test_inspect_startscript(images):
    r = sing("inspect", "--startscript", images["sif"])
    assert r.returncode == 0 and r.stdout.encode().rstrip() == STARTSCRIPT.rstrip(), r.stderr
    r = sing("inspect", "--json", "--startscript", images["sif"])
    data = json.loads(r.stdout)
    assert data["data"]["attributes"]["startscript"].encode().rstrip() == STARTSCRIPT.rstrip()


def test_bad_input(images):
    r = sing("instance", "start", images["sif"], "../evil")
    assert r.returncode == 255 and "instance name" in r.stderr
    r = sing("instance", "start", images["sif"])
    assert r.returncode == 255
    r = sing("instance", "stop")
    assert r.returncode == 255
    r = sing("instance", "frobnicate")
    assert r.returncode == 255 and "frobnicate" in r.stderr


def test_docker_image_instance_runs_entrypoint_and_cmd(registry, instances, user_tmp):
    """A Docker image has no %startscript: `instance start` runs its
    ENTRYPOINT/CMD (with the start arguments as CMD's replacement)."""
    marker = os.path.join(user_tmp, "docker-svc")
    img = imagetools.busybox_image(entrypoint=["/bin/sh", "-c",
                                               'echo "served $*" > "$0"; exec sleep 100000'],
                                   cmd=[marker, "by-cmd"])
    imagetools.push_image(registry, "test/instancedocker", "latest", img)
    r = run_as_user(["singularity", "pull", "--nohttps", "--name", "svc.sif",
                     f"docker://{registry.hostport}/test/instancedocker:latest"], cwd=user_tmp)
    assert r.returncode == 0, r.stderr
    sif = os.path.join(user_tmp, "svc.sif")
    instances.append("dock1")
    r = sing("instance", "start", sif, "dock1")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: os.path.exists(marker), "the ENTRYPOINT to run")
    wait_for(lambda: open(marker).read() == "served by-cmd\n", "the marker text")
    assert "dock1" in list_json()
    os.unlink(marker)
    instances.append("dock2")
    r = sing("instance", "start", sif, "dock2", marker, "by-args")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: os.path.exists(marker) and open(marker).read() == "served by-args\n",
             "the start arguments to replace CMD")
