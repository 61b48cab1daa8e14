"""The split front end: bin/singularity (run, exec, shell, test, help,
version; libc and json-c only, so a container starts without loading
libcurl & co.) hands every other command to
libexec/singularity/singularity-image with the same argv, and runs it as a
child for the docker:// step of run/exec/shell."""

import os
import re
import subprocess
import time

import pytest

from conftest import run_as_user

LISTED = ["build", "cache", "exec", "help", "inspect", "instance", "pull", "registry", "run",
          "run-help", "shell", "test", "version"]


def needed_libs(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", out)


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("ERROR:")]


def test_light_binary_needs_only_libc_and_json(prefix):
    # json-c reads a SIF's OCI config for images without /bin/sh
    # (frontend/oci_runtime.c); it is linked statically where Debian's .a
    # exists (frontend/meson.build), so the loader maps libc alone.
    needed = sorted(needed_libs(os.path.join(prefix, "bin", "singularity")))
    if os.path.exists(f"/usr/lib/{os.uname().machine}-linux-gnu/libjson-c.a"):
        # json-c's thread-local state names the dynamic loader itself (for
        # __tls_get_addr): the program's interpreter, mapped in any case.
        assert [n for n in needed if not n.startswith("ld-linux")] == ["libc.so.6"], needed
    else:
        assert needed == ["libc.so.6", "libjson-c.so.5"], needed
    tool = os.path.join(prefix, "libexec", "singularity", "singularity-image")
    assert "libcurl.so.4" in needed_libs(tool)


def test_fuse_server_is_static_pie(prefix):
    # fuse/meson.build: where libsquashfuse and its compressors have their
    # .a, the server links libc statically too (one file to map on every
    # FUSE exec), as a static PIE so that ASLR still moves it.
    server = os.path.join(prefix, "libexec", "singularity", "squashfs-serve")
    arch = f"/usr/lib/{os.uname().machine}-linux-gnu"
    archives = ("squashfuse_ll", "squashfuse", "fuse3", "zstd", "lzma", "z", "lz4", "lzo2", "c")
    missing = [n for n in archives if not os.path.exists(f"{arch}/lib{n}.a")]
    if missing:
        pytest.skip(f"no lib{missing[0]}.a in {arch}: the server is linked shared")
    if any(n.startswith(("libasan", "libubsan")) for n in needed_libs(server)):
        pytest.skip("a sanitizer build (tools/sanitize-integration.sh): linked shared")
    headers = subprocess.run(["readelf", "-h", "-l", server], capture_output=True, text=True,
                             check=True).stdout
    assert re.search(r"Type:\s+DYN ", headers), headers  # position-independent
    assert "INTERP" not in headers, headers  # no dynamic loader
    assert needed_libs(server) == []


def test_version_strings(singularity):
    r = run_as_user([singularity, "--version"])
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"singularity version (\d+)\.(\d+)\.\d+\n", r.stdout)
    assert m and (int(m[1]), int(m[2])) >= (3, 5), r.stdout  # cwltool gates on 3.1/3.4/3.5
    bare = run_as_user([singularity, "version"])
    assert bare.returncode == 0 and bare.stdout == r.stdout.split()[-1] + "\n"
    # The project's own release stays visible in the help.
    assert re.search(r"^singularity \d+\.\d+\.\d+, implementing the Singularity "
                     + re.escape(bare.stdout.strip()), run_as_user([singularity, "help"]).stdout)


CLIENT_CHECKS = {
    # cwltool 3.1's own parser and gates (it takes its 2.x code path otherwise).
    "cwltool": "import cwltool.singularity as s; "
               "assert s.is_version_3_4_or_newer() and not s.is_version_2_6(), s.get_version()",
    # snakemake's check(): `singularity --version`, last word, >= 2.4.1.
    "snakemake": "from snakemake.deployment.singularity import Singularity; "
                 "s = Singularity(); s.check(); print(s.version)",
}


@pytest.mark.parametrize("client", sorted(CLIENT_CHECKS))
def test_workflow_clients_accept_the_version(singularity, client):
    try:
        __import__(client)
    except ImportError:
        pytest.skip(f"Debian package {client} is not installed")
    r = run_as_user(["/usr/bin/python3", "-c", CLIENT_CHECKS[client]])
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("flag", ["-s", "--silent", "-q", "--nocolor"])
def test_global_flags_clients_pass(singularity, flag):
    r = run_as_user([singularity, flag, "version"])
    assert r.returncode == 0, r.stderr
    quiet = run_as_user([singularity, flag, "exec", "/nonexistent.sif", "true"])
    assert quiet.returncode == 255 and "nonexistent" in quiet.stderr


def test_help_lists_every_command(singularity):
    for args in (["help"], ["--help"]):
        r = run_as_user([singularity] + args)
        assert r.returncode == 0, r.stderr
        listed = re.findall(r"^  ([\w-]+) ", r.stdout.split("Commands:\n", 1)[1], re.M)
        assert listed == LISTED


@pytest.mark.parametrize("cmd", ["run", "exec", "shell", "test", "pull", "build", "inspect",
                                 "instance", "cache"])
def test_help_for_each_side(singularity, cmd):
    # run/exec/shell are answered by the light binary, the rest by the tool.
    r = run_as_user([singularity, "help", cmd])
    assert r.returncode == 0, r.stderr
    assert f"singularity {cmd} " in r.stdout
    r = run_as_user([singularity, cmd, "--help"])
    assert r.returncode == 0, r.stderr
    assert f"singularity {cmd} " in r.stdout


def test_unknown_and_hidden_commands(singularity):
    r = run_as_user([singularity, "nope"])
    assert r.returncode == 255
    assert 'unknown command "nope"' in r.stderr
    r = run_as_user([singularity, "help", "nope"])
    assert r.returncode == 255
    assert 'unknown command "nope"' in r.stderr
    # The tool's internal command is not reachable through the front end.
    r = run_as_user([singularity, "cache-sif", "docker://alpine"])
    assert r.returncode == 255
    assert 'unknown command "cache-sif"' in r.stderr


def test_handed_off_command_keeps_status_and_message(singularity):
    r = run_as_user([singularity, "pull"])
    assert r.returncode == 255
    assert error_lines(r.stderr) == [
        "ERROR:   pull takes one image URI (and optionally an output file); see "
        "'singularity help pull'"]
    r = run_as_user([singularity, "-q", "inspect", "/no/such/image.sif"])
    assert r.returncode == 255
    assert len(error_lines(r.stderr)) == 1, r.stderr


def test_docker_failure_reported_once(singularity):
    r = run_as_user([singularity, "exec", "docker://127.0.0.1:1/none/img:tag", "true"],
                    env={"SINGULARITY_NOHTTPS": "1"})
    assert r.returncode == 255
    errors = error_lines(r.stderr)
    assert len(errors) == 1, r.stderr
    assert "127.0.0.1:1" in errors[0]
    assert r.stdout == ""


def test_docker_cache_hits_follow_log_level(singularity, registry, pushed_busybox,
                                                    clean_user_cache):
    pinned = f"docker://{registry.hostport}/library/busybox@{pushed_busybox.manifest_digest}"
    env = {"SINGULARITY_NOHTTPS": "1"}
    r = run_as_user([singularity, "exec", pinned, "echo", "first"], env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "first\n"
    # Only the container's output reaches stdout: the path the tool answers
    # with stays between the two binaries.
    r = run_as_user([singularity, "exec", pinned, "echo", "hit"], env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hit\n"
    assert "INFO:    Using cached SIF image" in r.stderr
    r = run_as_user([singularity, "-q", "exec", pinned, "true"], env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    r = run_as_user([singularity, "-v", "exec", pinned, "true"], env=env)
    assert r.returncode == 0, r.stderr
    assert "VERBOSE: Docker image path:" in r.stderr
    # A tag needs the registry, so the image tool answers: same rules.
    tagged = f"docker://{registry.hostport}/library/busybox:latest"
    for level, wanted in ((["-q"], ""), ([], "INFO:    Using cached SIF image\n")):
        r = run_as_user([singularity] + level + ["exec", tagged, "echo", "tag"], env=env)
        assert r.returncode == 0, r.stderr
        assert (r.stdout, r.stderr) == ("tag\n", wanted)
    r = run_as_user([singularity, "-v", "exec", tagged, "true"], env=env)
    assert r.returncode == 0, r.stderr
    assert "VERBOSE: Docker image path:" in r.stderr


# --------------------------------------------------------------------------
# One truth table for every boolean variable (issue 9, issue 16)

TRUE_WORDS = ["1", "yes", "YES", "true", "True", "on"]
FALSE_WORDS = ["0", "no", "No", "false", "FALSE", "off", ""]
BAD_WORDS = ["2", "maybe", "enable", " yes", "-1"]
RUN_BOOLS = ["CONTAIN", "CONTAINALL", "CLEANENV", "PID", "IPC", "NET", "USERNS", "NO_HOME",
             "WRITABLE", "NOHTTPS",
             "WRITABLE_TMPFS", "DISABLE_CACHE"]
PULL_BOOLS = ["NOHTTPS", "DISABLE_CACHE"]


@pytest.fixture
def pinned(registry, pushed_busybox):
    return f"docker://{registry.hostport}/library/busybox@{pushed_busybox.manifest_digest}"


def test_boolean_unknown_values_are_errors(singularity, registry, pinned, user_tmp):
    """Every boolean variable, both spellings: a value outside the table is
    one error naming the variable and the value, and nothing runs."""
    for name in RUN_BOOLS:
        for prefix in ("SINGULARITY_", "APPTAINER_"):
            for bad in BAD_WORDS:
                var = prefix + name
                r = run_as_user([singularity, "exec", pinned, "echo", "RAN"],
                                env={"SINGULARITY_NOHTTPS": "1", var: bad})
                assert r.returncode == 255, (var, bad, r.stderr)
                errors = error_lines(r.stderr)
                assert len(errors) == 1 and f"{var}={bad}" in errors[0], (var, bad, r.stderr)
                assert "RAN" not in r.stdout
    for name in PULL_BOOLS:
        for prefix in ("SINGULARITY_", "APPTAINER_"):
            var = prefix + name
            env = {"SINGULARITY_NOHTTPS": "1", var: "maybe"}
            for cmd in (["pull", "--force", "--name", "x.sif", pinned],
                        ["build", "--force", "x.sif", pinned]):
                r = run_as_user([singularity, *cmd], env=env, cwd=user_tmp)
                assert r.returncode == 255, (var, cmd, r.stderr)
                errors = error_lines(r.stderr)
                assert len(errors) == 1 and f"{var}=maybe" in errors[0], (var, r.stderr)
                assert not os.path.exists(os.path.join(user_tmp, "x.sif"))


def test_boolean_words_cleanenv(singularity, pinned):
    probe = ["exec", pinned, "sh", "-c", "echo ${SING_BOOL_PROBE-unset}"]
    base = {"SINGULARITY_NOHTTPS": "1", "SING_BOOL_PROBE": "here"}
    for word, want in [(w, "unset") for w in TRUE_WORDS] + [(w, "here") for w in FALSE_WORDS]:
        for var in ("SINGULARITY_CLEANENV", "APPTAINER_CLEANENV"):
            r = run_as_user([singularity, *probe], env=dict(base, **{var: word}))
            assert r.returncode == 0, (var, word, r.stderr)
            assert r.stdout == want + "\n", (var, word, r.stdout)
    # Apptainer's precedence: APPTAINER_ wins over SINGULARITY_.
    r = run_as_user([singularity, *probe],
                    env=dict(base, APPTAINER_CLEANENV="no", SINGULARITY_CLEANENV="yes"))
    assert r.stdout == "here\n", r.stderr
    r = run_as_user([singularity, *probe],
                    env=dict(base, APPTAINER_CLEANENV="yes", SINGULARITY_CLEANENV="no"))
    assert r.stdout == "unset\n", r.stderr


def test_boolean_words_contain(singularity, pinned, user_tmp):
    marker = os.path.join("/tmp", os.path.basename(user_tmp) + "-contain-marker")
    run_as_user(["touch", marker], check=True)
    try:
        probe = ["exec", pinned, "sh", "-c", f"test -e {marker} && echo shared || echo contained"]
        for word, want in ([(w, "contained") for w in TRUE_WORDS] +
                           [(w, "shared") for w in FALSE_WORDS]):
            r = run_as_user([singularity, *probe],
                            env={"SINGULARITY_NOHTTPS": "1", "SINGULARITY_CONTAIN": word})
            assert r.returncode == 0, (word, r.stderr)
            assert r.stdout == want + "\n", (word, r.stdout)
        # It used to mean "off".
        r = run_as_user([singularity, *probe],
                        env={"SINGULARITY_NOHTTPS": "1", "SINGULARITY_CONTAIN": "2"})
        assert r.returncode == 255 and r.stdout == "", r.stderr
        assert "SINGULARITY_CONTAIN=2" in r.stderr
    finally:
        os.unlink(marker)


def test_boolean_words_nohttps(singularity, registry, pushed_busybox, user_tmp):
    """SINGULARITY_NOHTTPS=no used to switch to plain HTTP: now only a true
    word does (the test registry speaks plain HTTP only)."""
    uri = f"docker://{registry.hostport}/library/busybox:latest"
    for word in TRUE_WORDS:
        r = run_as_user([singularity, "pull", "--force", "--name", "b.sif", uri],
                        env={"APPTAINER_NOHTTPS": word}, cwd=user_tmp)
        assert r.returncode == 0, (word, r.stderr)
    for word in FALSE_WORDS:
        r = run_as_user([singularity, "pull", "--force", "--name", "n.sif", uri],
                        env={"SINGULARITY_NOHTTPS": word}, cwd=user_tmp)
        assert r.returncode == 255, (word, r.stderr)
        assert len(error_lines(r.stderr)) == 1, r.stderr
        assert not os.path.exists(os.path.join(user_tmp, "n.sif"))


def test_help_documents_the_boolean_table(singularity):
    for cmd in ("exec", "pull", "build"):
        r = run_as_user([singularity, "help", cmd])
        assert r.returncode == 0, r.stderr
        text = " ".join(r.stdout.split())
        assert "1/yes/true/on or 0/no/false/off" in text, (cmd, r.stdout)
        assert "APPTAINER_" in text


def test_disable_cache_exec_docker(singularity, registry, pushed_busybox, user_tmp,
                                   clean_user_cache):
    """SINGULARITY_DISABLE_CACHE=1 exec docker://... used to fail with "No such
    file or directory": the temporary cache went before the starter opened
    the SIF. Now the run works, leaves the user's cache alone, and the
    temporary cache goes once the container has exited."""
    tmpdir = os.path.join(user_tmp, "t")
    run_as_user(["mkdir", "-m", "700", tmpdir], check=True)
    tagged = f"docker://{registry.hostport}/library/busybox:latest"
    pinned = f"docker://{registry.hostport}/library/busybox@{pushed_busybox.manifest_digest}"
    for var, word, uri in (("SINGULARITY_DISABLE_CACHE", "1", tagged),
                           ("APPTAINER_DISABLE_CACHE", "yes", pinned),
                           ("SINGULARITY_DISABLE_CACHE", "true", pinned)):
        r = run_as_user([singularity, "exec", uri, "echo", "ran"],
                        env={"SINGULARITY_NOHTTPS": "1", var: word, "TMPDIR": tmpdir})
        assert r.returncode == 0, (var, r.stderr)
        assert r.stdout == "ran\n"
        assert "Using cached SIF image" not in r.stderr
        # Removed by a helper once the container is gone: wait for it.
        for _ in range(300):
            if not os.listdir(tmpdir):
                break
            time.sleep(0.1)
        assert os.listdir(tmpdir) == []
    sifs = os.path.join(clean_user_cache, "sif")
    assert not os.path.isdir(sifs) or os.listdir(sifs) == []
