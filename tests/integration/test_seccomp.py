"""Seccomp: the starter's built-in filter (ioctl TIOCSTI / TIOCLINUX refused,
so a container cannot type into the caller's terminal) in every mode, and
Docker-format profiles (--security seccomp:FILE, `seccomp profile` in
singularity.conf) compiled by the unprivileged frontend."""

import fcntl
import json
import os
import pty
import shutil
import subprocess
import tempfile
import termios
import tty

import pytest

from conftest import USER, install_prefix, run_as_user, user_env
from cprobe import build_probe
from test_run import images, one_error, sing  # noqa: F401 (fixtures)

TIOCSTI = 0x5412
TIOCLINUX = 0x541C


@pytest.fixture(scope="module")
def probe():
    d = tempfile.mkdtemp(prefix="sing-seccomp-probe-")
    yield build_probe(d)
    shutil.rmtree(d, ignore_errors=True)


def on_pty(args):
    """Run args as the test user with a new pty as stdin and controlling
    terminal (as an interactive shell would be); stdout, stderr, status.
    Whatever was pushed into the terminal's input is read back too."""
    master, slave = pty.openpty()
    tty.setraw(slave)  # a pushed byte is readable at once, without a newline

    def make_ctty():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    cmd = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--", *args]
    try:
        p = subprocess.Popen(cmd, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=make_ctty, env=user_env(), cwd="/", text=True)
        out, err = p.communicate(timeout=120)
        # What a TIOCSTI pushed is waiting in the slave's input queue.
        os.set_blocking(slave, False)
        try:
            typed = os.read(slave, 100)
        except BlockingIOError:
            typed = b""
    finally:
        os.close(slave)
        os.close(master)
    return out, err, p.returncode, typed


def in_container(probe, *opts, req=TIOCSTI):
    return on_pty([os.path.join(install_prefix(), "bin", "singularity"), "exec", *opts,
                   "-B", f"{os.path.dirname(probe)}:/probe", IMAGE["sif"], "/probe/probe",
                   "tiocsti", hex(req)])


IMAGE = {}


@pytest.fixture(autouse=True)
def _image(images):
    IMAGE.update(images)


def test_host_allows_tiocsti(probe):
    """The control: without a container the same probe pushes a byte into
    the terminal, so EPERM below is the filter's doing."""
    out, err, rc, typed = on_pty([probe, "tiocsti"])
    assert rc == 0, err
    if out.strip() == "ctty=yes ioctl=EPERM":
        pytest.skip("this kernel refuses TIOCSTI itself (dev.tty.legacy_tiocsti = 0)")
    assert out.strip() == "ctty=yes ioctl=OK", out
    assert typed == b"#"
    out, _, _, typed = on_pty([probe, "tiocsti", hex(TIOCSTI | 1 << 32)])
    assert out.strip() == "ctty=yes ioctl=OK", "the kernel ignores the upper 32 bits"


@pytest.mark.parametrize("opts", [(), ("-C",), ("--pid",)], ids=["plain", "containall", "pid"])
def test_tiocsti_refused_in_the_container(probe, run_mode, opts):
    for req in (TIOCSTI, TIOCSTI | 1 << 32, TIOCSTI | 0xFFFFFFFF00000000, TIOCLINUX):
        out, err, rc, typed = in_container(probe, *opts, req=req)
        assert rc == 0, err
        assert out.strip() == "ctty=yes ioctl=EPERM", (hex(req), out, err)
        assert typed == b"", "something was typed into the caller's terminal"


def write_profile(directory, name, text, mode=0o644):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def profile(directory, rules, default="SCMP_ACT_ALLOW", name="profile.json", **extra):
    return write_profile(directory, name,
                         json.dumps({"defaultAction": default, "syscalls": rules, **extra}))


DENY_MKDIR = [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]


def mkdir_in_container(*opts, env=None):
    return sing("exec", "--contain", *opts, IMAGE["sif"], "mkdir", "/tmp/made-here", env=env)


def test_profile_denies_mkdir(run_mode, user_tmp):
    r = mkdir_in_container()
    assert r.returncode == 0, r.stderr  # the control
    path = profile(user_tmp, DENY_MKDIR)
    r = mkdir_in_container("--security", f"seccomp:{path}")
    assert r.returncode != 0
    assert "Operation not permitted" in r.stderr, r.stderr
    r = mkdir_in_container(env={"SINGULARITY_SECURITY": f"seccomp:{path}"})
    assert "Operation not permitted" in r.stderr, r.stderr
    # errnoRet, args with MASKED_EQ, archMap, includes/excludes are honoured.
    path = profile(user_tmp, [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
         "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["not_a_syscall_anywhere"], "action": "SCMP_ACT_ERRNO"},
        {"name": "ioctl", "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 0xFFFFFFFF, "valueTwo": TIOCSTI,
                   "op": "SCMP_CMP_MASKED_EQ"}]},
    ], name="eacces.json", archMap=[{"architecture": "SCMP_ARCH_X86_64",
                                     "subArchitectures": ["SCMP_ARCH_X86"]}])
    r = mkdir_in_container("--security", f"seccomp:{path}")
    assert "Permission denied" in r.stderr, r.stderr


def test_config_default_profile(sing_config, user_tmp):
    deny = profile(user_tmp, DENY_MKDIR)
    allow = profile(user_tmp, [], name="allow.json")
    sing_config.set(**{"seccomp profile": deny})
    r = mkdir_in_container()
    assert "Operation not permitted" in r.stderr, r.stderr
    # --security replaces the administrator's default (both only restrict
    # the user's own container; the built-in filter stays).
    r = mkdir_in_container("--security", f"seccomp:{allow}")
    assert r.returncode == 0, r.stderr


def test_default_action_errno(user_tmp):
    path = profile(user_tmp, [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ALLOW"}],
                   default="SCMP_ACT_ERRNO", name="errno.json")
    # Everything but mkdir fails: the action script cannot even start.
    r = mkdir_in_container("--security", f"seccomp:{path}")
    assert r.returncode != 0


def test_shipped_profile(prefix):
    shipped = os.path.join(prefix, "etc", "singularity", "seccomp-profiles", "default.json")
    assert os.path.isfile(shipped)
    r = sing("--debug", "exec", "--security", f"seccomp:{shipped}", IMAGE["sif"], "sh", "-c",
             "ls / >/dev/null && echo ok")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"


def test_debug_shows_the_filter(run_mode, user_tmp):
    r = sing("--debug", "exec", IMAGE["sif"], "true")
    assert r.returncode == 0, r.stderr
    assert "seccomp: default filter (ioctl TIOCSTI, TIOCLINUX: EPERM), no profile" in r.stderr
    path = profile(user_tmp, DENY_MKDIR)
    r = sing("--debug", "exec", "--security", f"seccomp:{path}", IMAGE["sif"], "true")
    assert r.returncode == 0, r.stderr
    compiled = [l for l in r.stderr.splitlines() if f"seccomp: profile {path}:" in l]
    installed = [l for l in r.stderr.splitlines() if "seccomp: default filter" in l]
    assert compiled and installed, r.stderr
    n = compiled[0].split(": ")[-1].split()[0]
    assert int(n) > 0
    assert f"+ profile, {n} instructions" in installed[0], r.stderr


BAD_PROFILES = [
    ("not json", "{\"defaultAction\": ", "not valid JSON"),
    ("trailing data", "{\"defaultAction\": \"SCMP_ACT_ALLOW\"} x", "not valid JSON"),
    ("no default", "{\"syscalls\": []}", "defaultAction"),
    ("bad action", json.dumps({"defaultAction": "SCMP_ACT_MAYBE"}), "SCMP_ACT_MAYBE"),
    ("unknown key", json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "defaultActoin": 1}),
     "defaultActoin"),
    ("names not a list", json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": "mkdir", "action": "SCMP_ACT_ERRNO"}]}), "names"),
    ("bad op", json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]}),
     "SCMP_CMP_SOMETIMES"),
    ("bad arch", json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                             "architectures": ["SCMP_ARCH_Z80"]}), "SCMP_ARCH_Z80"),
    ("bad index", json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}), "index"),
]


@pytest.mark.parametrize("case", BAD_PROFILES, ids=[c[0] for c in BAD_PROFILES])
def test_bad_profile_is_one_error(user_tmp, case):
    _, text, needle = case
    path = write_profile(user_tmp, "bad.json", text)
    r = sing("exec", "--security", f"seccomp:{path}", IMAGE["sif"], "true")
    one_error(r, needle)
    assert r.stdout == ""


def test_bad_security_options(user_tmp):
    one_error(sing("exec", "--security", "seccomp:/no/such/profile.json", IMAGE["sif"], "true"),
              "/no/such/profile.json")
    one_error(sing("exec", "--security", "apparmor:unconfined", IMAGE["sif"], "true"),
              "only seccomp:FILE")
    # root's, 0600: the profile is read with the user's rights
    secret = write_profile(user_tmp, "secret.json", json.dumps({"defaultAction": "SCMP_ACT_ALLOW"}),
                           mode=0o600)
    one_error(sing("exec", "--security", f"seccomp:{secret}", IMAGE["sif"], "true"),
              "permission denied")


def test_starter_checks_the_program(prefix):
    starter = os.path.join(prefix, "libexec", "singularity", "starter")
    base = [starter, "--action", "exec", "--image", IMAGE["sif"]]
    count = "expected 1 to 4096 BPF instructions"
    for bad, needle in (("abc", count), ("00" * 7, count), ("", count),
                        ("zz" * 8, "not lowercase hex"), ("00" * 8 * 4097, count)):
        one_error(run_as_user([*base, "--seccomp-bpf", bad, "--", "true"]), needle)
    # Well-formed but not a valid filter: the kernel refuses, nothing runs.
    r = run_as_user([*base, "--seccomp-bpf", "00" * 8, "--", "echo", "ran"])
    one_error(r, "installing the seccomp profile")
    assert "ran" not in r.stdout
