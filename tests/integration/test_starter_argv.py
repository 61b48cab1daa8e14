"""The starter's arguments carry the container's environment overrides, and
/proc/PID/cmdline is readable by every user. Starter processes that outlive
its exec (the read-ahead holder of `squashfs mount linger`, the FUSE
server's parent, the --pid monitor) must not show them to another user
(starter/argv_hide.c)."""
import subprocess
import time

import pytest

from conftest import ensure_user, ensure_user2, user_env
from test_kernel_prefetch import image_dir, make_image  # noqa: F401 (a fixture)

SECRET = "s3cr3t-argv-7q"
STARTERS = ("starter", "squashfs-hold")  # comm of the starter and its forks


@pytest.fixture
def image(image_dir):  # noqa: F811
    return make_image(image_dir)


MODES = {
    "kernel-linger": ({"allow setuid-mount squashfs": "yes", "shared loop devices": "yes",
                       "squashfs mount linger": "3"}, []),
    "setuid-fuse": ({}, []),
    "pid": ({"allow setuid-mount squashfs": "yes"}, ["--pid"]),
}

SCAN = f"""
import os
seen, starters = [], 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        comm = open(f"/proc/{{pid}}/comm").read().strip()
        cmd = open(f"/proc/{{pid}}/cmdline", "rb").read()
    except OSError:
        continue
    starters += comm in {STARTERS!r}
    if b"{SECRET}" in cmd and int(pid) != os.getpid():
        seen.append((pid, comm))
print(starters, seen)
"""


@pytest.mark.parametrize("mode", sorted(MODES))
def test_env_values_stay_out_of_other_users_view(sing_config, image, mode):
    conf, opts = MODES[mode]
    if conf:
        sing_config.set(**conf)
    user, other = ensure_user(), ensure_user2()
    p = subprocess.Popen(["setpriv", f"--reuid={user.name}", f"--regid={user.name}",
                          "--init-groups", "--", "singularity", "exec", *opts,
                          "--env", f"TOKEN={SECRET}", image, "/probe/busybox", "sleep", "3"],
                         env=user_env(), cwd=user.home, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # the container runs by now
        assert p.poll() is None, p.stderr.read()
        r = subprocess.run(["setpriv", f"--reuid={other.pw_name}", f"--regid={other.pw_name}",
                            "--init-groups", "--", "/usr/bin/python3", "-c", SCAN],
                           capture_output=True, text=True, cwd="/", check=True)
        starters, seen = r.stdout.split(" ", 1)
        # A starter process outlives the exec in each mode: the scan saw it.
        assert int(starters) >= 1, r.stdout
        assert seen.strip() == "[]", r.stdout
    finally:
        p.kill()
        p.wait(timeout=60)
