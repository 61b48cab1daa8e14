"""The split front end: bin/singularity (run, exec, shell, test, help,
version; libc and json-c only, so a container starts without loading
libcurl & co.) hands every other command to
libexec/singularity/singularity-image with the same argv, and runs it as a
child for the docker:// step of run/exec/shell."""

import os
import re
import subprocess

import pytest

from conftest import run_as_user

LISTED = ["build", "exec", "help", "inspect", "pull", "run", "run-help", "shell", "test",
          "version"]


def needed_libs(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", out)


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("ERROR:")]


def test_light_binary_needs_only_libc_and_json(prefix):
    # json-c reads a SIF's OCI config for images without /bin/sh
    # (frontend/oci_runtime.c): ~0.07 ms of loader time, measured.
    assert sorted(needed_libs(os.path.join(prefix, "bin", "singularity"))) == \
        ["libc.so.6", "libjson-c.so.5"]
    tool = os.path.join(prefix, "libexec", "singularity", "singularity-image")
    assert "libcurl.so.4" in needed_libs(tool)


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


@pytest.mark.parametrize("cmd", ["run", "exec", "shell", "test", "pull", "build", "inspect"])
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
