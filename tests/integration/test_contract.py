"""The container contract (issue 10): the installed runtime carries the action
logic and applies it to every kind of image, whoever built it.

Images made here, no downloads:
  ours      a SIF pulled by this project from a local registry
  foreign   SIFs laid out as SingularityCE/Apptainer write them (siftool +
            mksquashfs): their env files 01-base.sh ... 99-runtimevars.sh,
            descriptors deffile + JSON + primary squashfs, action scripts that
            are a plain `exec "$@"` (foreign) or missing (foreign-noactions)
  simg      a Singularity 2.x image: only /environment and /singularity
  squashfs  a plain squashfs without /.singularity.d
  dir       a bare busybox root filesystem directory without /.singularity.d
  static    a shell-less image pulled from the registry whose ENTRYPOINT is a
            static C program (no /bin/sh at all)
Expected values are the Singularity 3.6+ / Apptainer 1.x rules (see
tests/integration/test_env_table.py for the full table).
"""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

import imagetools
from conftest import empty_user_cache, ensure_user, run_as_user
from imagetools import File, Layer

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The env files SingularityCE / Apptainer put in every image (their content
# as those projects write it: base, docker env, %environment, %post's
# $SINGULARITY_ENVIRONMENT, the apps files, 99-base, 99-runtimevars).
FOREIGN_ENV = {
    "01-base.sh": "#!/bin/sh\n#\n",
    "10-docker2singularity.sh": "#!/bin/sh\nexport PATH=\"/opt/tool/bin:/usr/bin:/bin\"\n"
                                "export IMGVAR=\"docker-env\"\nexport DEFVAR=\"docker\"\n",
    "90-environment.sh": "#!/bin/sh\n# Custom environment shell code should follow\n"
                         "DEFVAR=from-environment\nexport DEFVAR\n",
    "91-environment.sh": "export POSTVAR=\"from-post\"\n",
    "94-appsbase.sh": "#!/bin/sh\n",
    "95-apps.sh": "#!/bin/sh\n",
    "99-base.sh": "#!/bin/sh\nif [ -z \"$LD_LIBRARY_PATH\" ]; then\n"
                  "    LD_LIBRARY_PATH=\"/.singularity.d/libs\"\nelse\n"
                  "    LD_LIBRARY_PATH=\"$LD_LIBRARY_PATH:/.singularity.d/libs\"\nfi\n"
                  "PS1=\"Singularity> \"\nexport LD_LIBRARY_PATH PS1\n",
    "99-runtimevars.sh": "#!/bin/sh\n"
                         "if [ -n \"${SING_USER_DEFINED_PREPEND_PATH:-}\" ]; then\n"
                         "\tPATH=\"${SING_USER_DEFINED_PREPEND_PATH}:${PATH}\"\nfi\n"
                         "if [ -n \"${SING_USER_DEFINED_APPEND_PATH:-}\" ]; then\n"
                         "\tPATH=\"${PATH}:${SING_USER_DEFINED_APPEND_PATH}\"\nfi\n"
                         "if [ -n \"${SING_USER_DEFINED_PATH:-}\" ]; then\n"
                         "\tPATH=\"${SING_USER_DEFINED_PATH}\"\nfi\n"
                         "unset SING_USER_DEFINED_PREPEND_PATH SING_USER_DEFINED_APPEND_PATH "
                         "SING_USER_DEFINED_PATH\nexport PATH\n",
}
FOREIGN_PATH = "/opt/tool/bin:/usr/bin:/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin"
PLAIN_EXEC = "#!/bin/sh\nfor script in /.singularity.d/env/*.sh; do\n" \
             "    if [ -f \"$script\" ]; then\n        . \"$script\"\n    fi\ndone\nexec \"$@\"\n"

# What each kind's own environment leaves (before any override).
KIND_ENV = {
    "ours": {"IMGVAR": "docker-env", "PATH": FOREIGN_PATH},
    "foreign": {"IMGVAR": "docker-env", "DEFVAR": "from-environment", "POSTVAR": "from-post",
                "PATH": FOREIGN_PATH},
    "foreign-noactions": {"IMGVAR": "docker-env", "DEFVAR": "from-environment",
                          "POSTVAR": "from-post", "PATH": FOREIGN_PATH},
    "simg": {"IMGVAR": "two", "PATH": "/old/bin:/bin:/usr/bin:/usr/local/sbin:/usr/local/bin"
                                      ":/usr/sbin:/sbin"},
    "squashfs": {"IMGVAR": "", "PATH": DEFAULT_PATH},
    "dir": {"IMGVAR": "", "PATH": DEFAULT_PATH},
}
KINDS = list(KIND_ENV)

STATIC_SRC = r"""
#include <stdio.h>
#include <stdlib.h>
extern char **environ;
int main(int argc, char **argv)
{
        for (int i = 0; i < argc; i++)
                printf("ARG %s\n", argv[i]);
        for (char **e = environ; *e; e++)
                printf("ENV %s\n", *e);
        return 0;
}
"""


def busybox_tree(root, extra=None):
    """A runnable busybox root with the usual mount points."""
    applets = subprocess.run(["/bin/busybox", "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for d in ("bin", "etc", "tmp", "home", "root", "proc", "sys", "dev", "usr/bin", "var/tmp",
              "opt/tool/bin", "old/bin"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    shutil.copy("/bin/busybox", os.path.join(root, "bin/busybox"))
    for a in applets:
        if a != "busybox" and "/" not in a:
            os.symlink("busybox", os.path.join(root, "bin", a))
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    for path, (content, mode) in (extra or {}).items():
        p = os.path.join(root, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(content)
        os.chmod(p, mode)
    return root


def foreign_layout(with_actions):
    files = {f".singularity.d/env/{k}": (v, 0o755) for k, v in FOREIGN_ENV.items()}
    files[".singularity.d/runscript"] = ("#!/bin/sh\necho \"foreign-runscript:$*\"\n", 0o755)
    files[".singularity.d/test"] = ("#!/bin/sh\necho \"foreign-test:$DEFVAR\"\nexit 3\n", 0o755)
    files[".singularity.d/labels.json"] = ('{"org.label-schema.schema-version": "1.0"}\n',
                                           0o644)
    if with_actions:
        for a in ("exec", "run", "shell", "test", "start"):
            files[f".singularity.d/actions/{a}"] = (PLAIN_EXEC, 0o755)
    return files


def squash(src, dest):
    subprocess.run(["mksquashfs", src, dest, "-noappend", "-quiet", "-no-progress"],
                   check=True, stdout=subprocess.DEVNULL)


def siftool_sif(squashfs, dest, d):
    """A SIF with the descriptors SingularityCE/Apptainer write: the
    definition file, a JSON object, the primary system partition."""
    deffile = os.path.join(d, "def")
    with open(deffile, "w") as f:
        f.write("Bootstrap: docker\nFrom: busybox\n%environment\nDEFVAR=from-environment\n")
    meta = os.path.join(d, "meta.json")
    with open(meta, "w") as f:
        json.dump({"org.label-schema.schema-version": "1.0"}, f)
    subprocess.run(["siftool", "new", dest], check=True, capture_output=True)
    subprocess.run(["siftool", "add", "--datatype", "1", dest, deffile], check=True,
                   capture_output=True)
    subprocess.run(["siftool", "add", "--datatype", "6", dest, meta], check=True,
                   capture_output=True)
    subprocess.run(["siftool", "add", "--datatype", "4", "--parttype", "2", "--partfs", "1",
                    "--partarch", "2", dest, squashfs], check=True, capture_output=True)


@pytest.fixture(scope="session")
def kinds(registry):
    """{kind: image path}, all readable by the test user."""
    user = ensure_user()
    d = tempfile.mkdtemp(prefix="sing-contract-")
    os.chmod(d, 0o755)
    os.chown(d, user.uid, user.gid)
    out = {}
    work = os.path.join(d, "work")
    os.makedirs(work)

    # ours: a pull of an OCI image with the same env as the foreign ones' docker part
    # (converted now, not taken from a cache filled by another build).
    empty_user_cache()
    img = imagetools.busybox_image(
        env=["PATH=/opt/tool/bin:/usr/bin:/bin", "IMGVAR=docker-env"],
        cmd=["/bin/echo", "ours-cmd"], labels={"org.example.team": "hpc", "version": "1.2"})
    imagetools.push_image(registry, "test/contract-ours", "latest", img)
    r = run_as_user(["singularity", "pull", "--nohttps", "--name", "ours.sif",
                     f"docker://{registry.hostport}/test/contract-ours:latest"], cwd=d)
    assert r.returncode == 0, r.stderr
    out["ours"] = os.path.join(d, "ours.sif")

    for kind, actions in (("foreign", True), ("foreign-noactions", False)):
        root = busybox_tree(os.path.join(work, kind), foreign_layout(actions))
        squash(root, os.path.join(work, kind + ".sqfs"))
        siftool_sif(os.path.join(work, kind + ".sqfs"), os.path.join(d, kind + ".sif"), work)
        out[kind] = os.path.join(d, kind + ".sif")

    root = busybox_tree(os.path.join(work, "simg"), {
        "environment": ("# Singularity 2.x\nPATH=/old/bin:/bin:/usr/bin\nIMGVAR=two\n"
                        "export PATH IMGVAR\n", 0o644),
        "singularity": ("#!/bin/sh\necho \"two-runscript:$*\"\n", 0o755)})
    squash(root, os.path.join(work, "simg.sqfs"))
    with open(os.path.join(d, "old.simg"), "wb") as f:
        f.write(b"#!/usr/bin/env run-singularity\n")
        with open(os.path.join(work, "simg.sqfs"), "rb") as s:
            f.write(s.read())
    out["simg"] = os.path.join(d, "old.simg")

    root = busybox_tree(os.path.join(work, "plain"))
    squash(root, os.path.join(d, "plain.sqfs"))
    out["squashfs"] = os.path.join(d, "plain.sqfs")
    out["dir"] = busybox_tree(os.path.join(d, "rootdir"))

    # static: no shell anywhere, ENTRYPOINT a static binary.
    src = os.path.join(work, "hello.c")
    with open(src, "w") as f:
        f.write(STATIC_SRC)
    binary = os.path.join(work, "hello")
    subprocess.run(["gcc", "-static", "-O1", "-o", binary, src], check=True)
    with open(binary, "rb") as f:
        hello = f.read()
    simg = imagetools.Image([Layer([imagetools.Dir("app"),
                                    File("app/hello", hello, mode=0o755)])],
                            env=["PATH=/app", "GREETING=hi there"],
                            entrypoint=["/app/hello"], cmd=["default-arg"])
    imagetools.push_image(registry, "test/contract-static", "latest", simg)
    r = run_as_user(["singularity", "pull", "--nohttps", "--name", "static.sif",
                     f"docker://{registry.hostport}/test/contract-static:latest"], cwd=d)
    assert r.returncode == 0, r.stderr
    out["static"] = os.path.join(d, "static.sif")
    yield out
    shutil.rmtree(d, ignore_errors=True)


def sing(*args, env=None, **kw):
    return run_as_user(["singularity", *args], env=env, cwd="/tmp", **kw)


SHOW = ('printf "%s|" "$IMGVAR" "$PATH" "$FOO" "$BAR" "$FILEVAR" "$WHO" "$HOSTVAR" '
        '"$SINGULARITY_COMMAND" "$SINGULARITY_NAME" "$APPTAINER_NAME" "$SINGULARITY_CONTAINER" '
        '"$SINGULARITY_ENVIRONMENT" "$SINGULARITY_BIND" "$APPTAINER_BIND"')


def show(kinds, kind, *opts, env=None):
    r = sing("exec", *opts, kinds[kind], "sh", "-c", SHOW, env=env)
    assert r.returncode == 0, (kind, r.stderr)
    return r.stdout.split("|")[:-1]


@pytest.mark.parametrize("kind", KINDS)
def test_environment_every_kind(kinds, kind, user_tmp):
    """Image env, then SINGULARITYENV_/APPTAINERENV_, --env-file, --env,
    PREPEND/APPEND_PATH, evaluation after the image's env, runtime variables."""
    image = kinds[kind]
    base = KIND_ENV[kind]
    v = show(kinds, kind, env={"HOSTVAR": "host"})
    assert v[0] == base["IMGVAR"] and v[1] == base["PATH"], v
    assert v[6] == "host"
    assert v[7:12] == ["exec", os.path.basename(image), os.path.basename(image), image,
                       "/.singularity.d/env/91-environment.sh"], v
    assert v[12] == v[13] == ""

    envfile = os.path.join(user_tmp, "envfile")
    with open(envfile, "w") as f:
        f.write("FILEVAR=\"from file $IMGVAR\"\nBAR=file\n")
    os.chmod(envfile, 0o644)
    v = show(kinds, kind, "--env", "FOO=flag:$IMGVAR", "--env-file", envfile, "-B", "/etc:/mnt",
             env={"SINGULARITYENV_BAR": "sing", "APPTAINERENV_WHO": "${IMGVAR}-\\$x",
                  "SINGULARITYENV_PREPEND_PATH": "/pre", "SINGULARITYENV_APPEND_PATH": "/post",
                  "HOSTVAR": "host"})
    assert v[0] == base["IMGVAR"]
    assert v[1] == "/pre:" + base["PATH"] + ":/post"
    assert v[2] == "flag:" + base["IMGVAR"]        # --env, evaluated after the image env
    assert v[3] == "file"                          # --env-file wins over SINGULARITYENV_
    assert v[4] == "from file " + base["IMGVAR"]
    assert v[5] == base["IMGVAR"] + "-$x"          # \$ stays a literal $
    assert v[12] == v[13] == "/etc:/mnt"

    # --no-eval: values as given; --cleanenv: host variables gone.
    v = show(kinds, kind, "--no-eval", "--cleanenv", "--env", "FOO=$IMGVAR",
             env={"SINGULARITYENV_WHO": "$(id -u)", "HOSTVAR": "host"})
    assert v[2] == "$IMGVAR" and v[5] == "$(id -u)" and v[6] == "", v
    # A PATH override is evaluated against the image's PATH.
    v = show(kinds, kind, "--env", "PATH=$PATH:/opt/bin")
    assert v[1] == base["PATH"] + ":/opt/bin"


@pytest.mark.parametrize("kind", KINDS)
def test_actions_every_kind(kinds, kind):
    image = kinds[kind]
    expect = {"foreign": "foreign-runscript:a b c\n",
              "foreign-noactions": "foreign-runscript:a b c\n",
              "simg": "two-runscript:a b c\n"}
    if kind in expect:
        r = sing("run", image, "a b", "c")
        assert r.returncode == 0, r.stderr
        assert r.stdout == expect[kind], (kind, r.stdout, r.stderr)
    r = sing("run", image, "-c", "echo shell-ran:$SINGULARITY_COMMAND")
    if kind in ("squashfs", "dir"):
        # No runscript: the container's shell, with run's arguments.
        assert r.stdout == "shell-ran:run\n", r.stderr
        assert "no runscript" in r.stderr
    r = sing("test", image)
    if kind.startswith("foreign"):
        assert r.returncode == 3 and r.stdout == "foreign-test:from-environment\n", r.stderr
    else:
        assert r.returncode == 0, r.stderr
    r = sing("shell", image, "-c", 'printf "%s|%s|%s" "$PS1" "$PROMPT_COMMAND" '
                                   '"$SINGULARITY_COMMAND"')
    assert r.returncode == 0, r.stderr
    # 99-base.sh sets Singularity's prompt; without it, Singularity's fallback.
    ps1 = "Singularity> " if kind in ("ours", "foreign", "foreign-noactions") else \
        f"\\u@\\h/{os.path.basename(image)}:\\w > "
    assert r.stdout == f'{ps1}|PS1="{ps1}"; unset PROMPT_COMMAND|shell'
    # The image's raw actions are never run and nothing of ours leaks.
    r = sing("exec", image, "sh", "-c", "env")
    assert "SINGULARITY_ENV_SCRIPT" not in r.stdout and "__sing" not in r.stdout


def test_ours_runs_entrypoint_cmd(kinds):
    r = sing("run", kinds["ours"])
    assert r.returncode == 0 and r.stdout == "ours-cmd\n", r.stderr


def static_out(r):
    args = [l[4:] for l in r.stdout.splitlines() if l.startswith("ARG ")]
    env = dict(l[4:].split("=", 1) for l in r.stdout.splitlines() if l.startswith("ENV "))
    return args, env


@pytest.mark.parametrize("run_mode", ["setuid", "userns"], indirect=True)
def test_shell_less_image(kinds, run_mode, no_leftovers_contract):
    image = kinds["static"]
    # run without arguments: ENTRYPOINT + CMD.
    r = sing("run", image, env={"SINGULARITYENV_WHO": "$USER", "HOSTVAR": "host"})
    assert r.returncode == 0, r.stderr
    args, env = static_out(r)
    assert args == ["/app/hello", "default-arg"]
    assert env["GREETING"] == "hi there"
    assert env["WHO"] == "$USER"        # no shell: no evaluation
    assert env["HOSTVAR"] == "host"
    assert env["PATH"] == "/app:" + DEFAULT_PATH
    assert env["SINGULARITY_COMMAND"] == env["APPTAINER_COMMAND"] == "run"
    assert env["SINGULARITY_NAME"] == "static.sif"
    # run with arguments: they replace CMD.
    r = sing("run", "--env", "GREETING=flag", "--cleanenv", image, "x y", "z",
             env={"SINGULARITYENV_PREPEND_PATH": "/pre", "HOSTVAR": "host"})
    assert r.returncode == 0, r.stderr
    args, env = static_out(r)
    assert args == ["/app/hello", "x y", "z"]
    assert env["GREETING"] == "flag" and "HOSTVAR" not in env
    assert env["PATH"] == "/pre:/app:" + DEFAULT_PATH
    # exec looks the program up in the container's PATH.
    r = sing("exec", image, "hello", "e1")
    assert r.returncode == 0, r.stderr
    assert static_out(r)[0] == ["hello", "e1"]
    # PWD as a shell would set it: the working directory, not the host's.
    r = sing("exec", "--pwd", "/app", image, "hello", env={"PWD": "/tmp"})
    assert r.returncode == 0, r.stderr
    assert static_out(r)[1]["PWD"] == "/app", r.stdout
    # A shell is truly required: the words workflow engines look for.
    for cmd in (["shell", image], ["test", image]):
        r = sing(*cmd)
        assert r.returncode == 255, r.stderr
        assert "/bin/sh doesn't exist in container" in r.stderr
    r = sing("exec", image, "no-such-program")
    assert r.returncode == 255 and "no-such-program" in r.stderr


@pytest.fixture
def no_leftovers_contract():
    def mounts():
        with open("/proc/self/mountinfo") as f:
            return len(f.readlines())
    before = mounts()
    yield
    assert mounts() == before


@pytest.mark.parametrize("run_mode", ["setuid", "userns"], indirect=True)
def test_foreign_sif_both_modes(kinds, run_mode):
    v = show(kinds, "foreign-noactions", env={"SINGULARITYENV_FOO": "$DEFVAR"})
    assert v[2] == "from-environment"
    assert v[1] == FOREIGN_PATH


def test_docker_labels_and_links(kinds):
    """A pull keeps the Docker labels (labels.json, inspect) and has the
    /environment and /singularity links of built images."""
    r = sing("exec", kinds["ours"], "sh", "-c",
             "cat /.singularity.d/labels.json; readlink /environment; readlink /singularity")
    assert r.returncode == 0, r.stderr
    head, links = r.stdout.rsplit("}", 1)
    labels = json.loads(head + "}")
    # and where it came from (issue 13): the reference and its digest
    assert labels.pop("org.opencontainers.image.base.name").startswith("docker://")
    assert labels.pop("org.opencontainers.image.base.digest").startswith("sha256:")
    assert labels == {"org.example.team": "hpc", "version": "1.2"}
    assert links.split() == [".singularity.d/env/90-environment.sh", ".singularity.d/runscript"]
    r = sing("inspect", "--json", kinds["ours"])
    assert r.returncode == 0, r.stderr
    assert "org.example.team" in r.stdout and "hpc" in r.stdout


def test_shell_program(kinds):
    """SINGULARITY_SHELL (or APPTAINER_SHELL) picks the shell when it is
    executable in the container; else bash, else sh (Apptainer's order)."""
    r = sing("shell", kinds["foreign"], "from", "echo", env={"SINGULARITY_SHELL": "/bin/echo"})
    assert r.returncode == 0 and r.stdout == "from echo\n", r.stderr
    r = sing("shell", kinds["dir"], "-c", "echo fallback:$SHELL",
             env={"APPTAINER_SHELL": "/no/such/shell"})
    assert r.returncode == 0 and r.stdout == "fallback:/bin/sh\n", r.stderr


# exec without a shell (starter/direct_env.c): the starter evaluates the env
# files itself; an override that needs command substitution sends the same
# exec to the shell, so the two paths can be compared on every kind.
DIRECT = "without the shell"


def exec_env(image, *opts, env=None, force_shell=False):
    force = "$(echo forced)" if force_shell else "forced"
    r = sing("--debug", "exec", "--env", "FORCE=" + force, *opts, image, "env", env=env)
    assert r.returncode == 0, r.stderr
    took_direct = DIRECT in r.stderr
    assert took_direct != force_shell, (image, force_shell, r.stderr[-2000:])
    return sorted(l for l in r.stdout.splitlines() if not l.startswith("SHLVL="))


@pytest.mark.parametrize("kind", KINDS)
def test_exec_without_shell_same_environment(kinds, kind):
    """Every kind: the environment exec gives without the shell is the one
    the shell gives, with overrides of every sort, restored secure-mode
    variables, names the shell drops, IFS from the host."""
    image = kinds[kind]
    host = {"HOSTVAR": "host value", "TMPDIR": "/tmp/host tmp", "TZDIR": "/host/zones",
            "LD_LIBRARY_PATH": "/host/lib", "IFS": "x",
            "BASH_FUNC_ml%%": "() {  echo ml\n}", "SINGULARITYENV_WHO": "${IMGVAR}-\\$x",
            "SINGULARITYENV_PREPEND_PATH": "/pre", "APPTAINERENV_APPEND_PATH": "/post",
            "SINGULARITYENV_LANG": "C"}
    opts = ("--env", "FOO=flag:$IMGVAR:${HOSTVAR:-none}", "--env", "PATH=$PATH:/opt/bin")
    direct = exec_env(image, *opts, env=host)
    shell = exec_env(image, *opts, env=host, force_shell=True)
    assert direct == shell
    got = dict(l.split("=", 1) for l in direct if "=" in l)
    assert got["FOO"] == "flag:" + KIND_ENV[kind]["IMGVAR"] + ":host value"
    assert got["FORCE"] == "forced" and got["TMPDIR"] == "/tmp/host tmp"  # restored
    # dash resets an inherited IFS (its newline ends this line of env output)
    assert got["IFS"] == " \t" and not any(k.startswith("BASH_FUNC") for k in got)
    # A PATH override replaces PREPEND_PATH/APPEND_PATH's result.
    assert got["PATH"] == KIND_ENV[kind]["PATH"] + ":/opt/bin"
    # --no-eval and --cleanenv take the same path.
    r = sing("--debug", "exec", "--no-eval", "--cleanenv", "--env", "FOO=$IMGVAR", image,
             "sh", "-c", 'echo "$FOO|${HOSTVAR:-}"', env=host)
    assert r.returncode == 0 and r.stdout == "$IMGVAR|\n" and DIRECT in r.stderr, r.stderr


@pytest.fixture(scope="module")
def shell_needed_dir():
    """A sandbox whose env files need the shell, and programs the shell
    must run itself."""
    user = ensure_user()
    d = tempfile.mkdtemp(prefix="sing-direct-")
    os.chmod(d, 0o755)
    root = busybox_tree(os.path.join(d, "root"), {
        ".singularity.d/env/10-plain.sh": ("export PLAIN=1\n", 0o644),
        ".singularity.d/env/20-loop.sh": ('for x in a b; do LOOP="$LOOP$x"; done\n'
                                          "export LOOP\n", 0o644),
        "bin/no-shebang": ("echo ran-by-the-shell:$PLAIN\n", 0o755),
        "bin/not-executable": ("#!/bin/sh\necho no\n", 0o644)})
    os.chown(root, user.uid, user.gid)
    yield root
    shutil.rmtree(d, ignore_errors=True)


def test_exec_env_file_needing_the_shell(shell_needed_dir):
    r = sing("--debug", "exec", shell_needed_dir, "sh", "-c", 'echo "$PLAIN$LOOP"')
    assert r.returncode == 0 and r.stdout == "1ab\n", r.stderr
    assert "20-loop.sh needs the shell" in r.stderr and DIRECT not in r.stderr


def test_exec_programs_only_the_shell_runs(shell_needed_dir):
    """What direct exec cannot do goes to the shell, with the shell's result:
    a script without #!, a missing or non-executable program."""
    sub = os.path.join(shell_needed_dir, ".singularity.d/env/20-loop.sh")
    os.rename(sub, sub + ".off")
    try:
        r = sing("--debug", "exec", shell_needed_dir, "sh", "-c", "echo $PLAIN")
        assert r.returncode == 0 and r.stdout == "1\n" and DIRECT in r.stderr, r.stderr
        r = sing("--debug", "exec", shell_needed_dir, "no-shebang")
        assert r.returncode == 0 and r.stdout == "ran-by-the-shell:1\n", r.stderr
        assert "Exec format error: using the shell" in r.stderr
        r = sing("exec", shell_needed_dir, "no-such-program")
        assert r.returncode == 127, r.stderr
        assert "no-such-program: no such file or directory in container" in r.stderr
        r = sing("exec", shell_needed_dir, "/bin/not-executable")
        assert r.returncode == 126, (r.returncode, r.stderr)
    finally:
        os.rename(sub + ".off", sub)


@pytest.fixture(scope="module")
def empty_path_entry():
    """A sandbox whose env file puts an empty entry (the working directory,
    for dash) first in PATH, and a working directory holding a program of
    the same name as one in the image's /bin."""
    user = ensure_user()
    d = tempfile.mkdtemp(prefix="sing-direct-path-")
    os.chmod(d, 0o755)
    root = busybox_tree(os.path.join(d, "root"), {
        ".singularity.d/env/90-environment.sh": ('export PATH=":/bin:/usr/bin"\n', 0o644),
        "bin/hello": ("#!/bin/sh\necho image-hello\n", 0o755)})
    work = os.path.join(d, "work")
    os.mkdir(work)
    with open(os.path.join(work, "hello"), "w") as f:
        f.write("#!/bin/sh\necho cwd-hello\n")
    os.chmod(work, 0o755)
    os.chmod(os.path.join(work, "hello"), 0o755)
    os.chown(root, user.uid, user.gid)
    yield root, work
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("override", [None, "/nowhere::/bin", "/nowhere:"])
def test_exec_empty_path_entry_is_the_working_directory(empty_path_entry, override):
    """dash's exec searches an empty PATH entry (leading, inner, trailing)
    as the working directory: without the shell, the same program runs."""
    root, work = empty_path_entry
    opts = ("--env", "PATH=" + override) if override else ()
    outs = []
    for force in ("forced", "$(echo forced)"):
        r = run_as_user(["singularity", "--debug", "exec", "--env", "FORCE=" + force, *opts,
                         root, "hello"], cwd=work)
        assert r.returncode == 0, r.stderr
        assert (DIRECT in r.stderr) == (force == "forced"), r.stderr[-2000:]
        outs.append(r.stdout)
    assert outs == ["cwd-hello\n", "cwd-hello\n"]


@pytest.fixture(scope="module")
def script_vars_dir():
    user = ensure_user()
    d = tempfile.mkdtemp(prefix="sing-direct-vars-")
    os.chmod(d, 0o755)
    root = busybox_tree(os.path.join(d, "root"), {
        ".singularity.d/env/90-environment.sh": ('export WHERE="$__sing_f"\n', 0o644)})
    os.chown(root, user.uid, user.gid)
    yield root
    shutil.rmtree(d, ignore_errors=True)


def test_exec_script_variables_as_the_shell_gives_them(script_vars_dir):
    """The action script's own variables (__sing_f, the env file being
    sourced; _sing_found...): an env file or override reading one, or an
    inherited one (the script unsets them), gives what the shell gives."""
    host = {"__sing_d": "host", "_sing_found": "host2"}
    opts = ("--env", "OVR=${__sing_f:-unset}")
    direct = exec_env(script_vars_dir, *opts, env=host, force_shell=True)
    got = dict(l.split("=", 1) for l in direct if "=" in l)
    assert got["WHERE"] == "/.singularity.d/env/90-environment.sh"
    assert "__sing_d" not in got and "_sing_found" not in got
    for env, opts in ((host, ()), (None, opts), (None, ())):
        r = sing("--debug", "exec", *opts, script_vars_dir, "env", env=env)
        assert r.returncode == 0 and DIRECT not in r.stderr, r.stderr[-2000:]
        shell = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
        assert shell["WHERE"] == got["WHERE"], r.stdout
        assert "__sing_d" not in shell and "_sing_found" not in shell, r.stdout


@pytest.fixture(scope="module")
def no_shell_dirs():
    """Sandboxes with an env file and no usable /bin/sh: none at all (a
    static busybox as env), or one that is not executable."""
    user = ensure_user()
    d = tempfile.mkdtemp(prefix="sing-direct-nosh-")
    os.chmod(d, 0o755)
    none = os.path.join(d, "none")
    for sub in ("bin", ".singularity.d/env", "proc", "sys", "dev", "tmp", "home", "etc"):
        os.makedirs(os.path.join(none, sub))
    shutil.copy("/bin/busybox", os.path.join(none, "bin/busybox"))
    os.symlink("busybox", os.path.join(none, "bin/env"))
    with open(os.path.join(none, ".singularity.d/env/90-environment.sh"), "w") as f:
        f.write('export FROMFILE="$HOME-x"\n')
    os.chmod(os.path.join(none, ".singularity.d/env/90-environment.sh"), 0o644)
    bad = busybox_tree(os.path.join(d, "bad"), {
        ".singularity.d/env/90-environment.sh": ('export FROMFILE="$HOME-x"\n', 0o644)})
    os.unlink(os.path.join(bad, "bin/sh"))
    shutil.copy("/bin/busybox", os.path.join(bad, "bin/sh"))
    os.chmod(os.path.join(bad, "bin/sh"), 0o644)
    # execve of /bin/sh fails with ENOENT (the no-shell plan, as "none"): a
    # dynamic /bin/sh without its ELF interpreter; a #! one whose
    # interpreter is missing, directly or two levels down.
    missing = []
    for name, make in (("nointerp", lambda sh: shutil.copy(os.path.realpath("/bin/dash"), sh)),
                       ("shebang", lambda sh: open(sh, "w").write("#!/bin/missing -e\n")),
                       ("shebang2", lambda sh: open(sh, "w").write("#! /bin/sh2\n"))):
        root = shutil.copytree(none, os.path.join(d, name), symlinks=True)
        make(os.path.join(root, "bin/sh"))
        if name == "shebang2":
            with open(os.path.join(root, "bin/sh2"), "w") as f:
                f.write("#!/lib/none\n")
            os.chmod(os.path.join(root, "bin/sh2"), 0o755)
        os.chmod(os.path.join(root, "bin/sh"), 0o755)
        missing.append(root)
    # execve fails otherwise (ENOEXEC: the error, as "bad"): another
    # machine's ELF, an executable text without #!.
    refused = [bad]
    for name in ("foreign", "text"):
        root = busybox_tree(os.path.join(d, name), {
            ".singularity.d/env/90-environment.sh": ('export FROMFILE="$HOME-x"\n', 0o644)})
        sh = os.path.join(root, "bin/sh")
        os.unlink(sh)
        if name == "foreign":
            shutil.copy("/bin/busybox", sh)
            with open(sh, "r+b") as f:  # e_machine: EM_AARCH64, or EM_X86_64 on arm64
                f.seek(18)
                f.write((62 if os.uname().machine == "aarch64" else 183).to_bytes(2, "little"))
        else:
            with open(sh, "w") as f:
                f.write("echo no interpreter line\n")
        os.chmod(sh, 0o755)
        refused.append(root)
    for root in [none] + missing + refused:
        os.chown(root, user.uid, user.gid)
    yield [none] + missing, refused
    shutil.rmtree(d, ignore_errors=True)


def test_exec_without_usable_shell_keeps_the_no_shell_rules(no_shell_dirs):
    """No /bin/sh: exec's no-shell plan (overrides taken literally, no env
    file evaluated) whatever the overrides are; a /bin/sh the kernel
    refuses: the same error as before, not an exec that works."""
    missing, refused = no_shell_dirs
    for root in missing:
        for extra in ((), ("--env", "C=$(echo x)")):
            r = sing("exec", "--env", "B=$HOME", *extra, root, "env")
            assert r.returncode == 0, (root, r.stderr)
            got = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
            assert got["B"] == "$HOME" and "FROMFILE" not in got, (root, extra, r.stdout)
    foreign_runs = any("aarch64" in n or "x86_64" in n or "x86-64" in n
                       for n in os.listdir("/proc/sys/fs/binfmt_misc")
                       if n not in ("register", "status")) \
        if os.path.isdir("/proc/sys/fs/binfmt_misc") else False
    for root in refused:
        if foreign_runs and root.endswith("foreign"):
            continue  # an emulator registered for the other machine would run it
        r = sing("exec", root, "env")
        assert r.returncode != 0 and "running /bin/sh in the container" in r.stderr, (root, r)
