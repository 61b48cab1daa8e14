"""singularity inspect (issue 4) on every image kind: SIF, plain squashfs,
Singularity 2 .simg and sandbox directory, built once from one recipe."""

import json
import os
import subprocess

import pytest

from test_build import make_recipe_dir, ok, partition_offset, push, sing

KINDS = ["sif", "squashfs", "simg", "sandbox"]


@pytest.fixture(scope="module")
def built(singularity, registry, tmp_path_factory):
    """kind -> path of the same recipe image in that form."""
    tmp = tmp_path_factory.mktemp("inspect")
    ref = push(registry, "inspect/base", env=["PATH=/bin", "FROM_DOCKER=yes"],
               cmd=["/bin/echo", "from-cmd"], labels={"org.example.docker": "docker-label"})
    recipe = make_recipe_dir(tmp, ref)
    sif = tmp / "image.sif"
    ok(sing(singularity, "build", "--nohttps", sif, recipe))
    # The SIF's partition alone is a plain squashfs image; with a launch
    # line in front it is a Singularity 2 .simg.
    off = partition_offset(str(sif))
    data = sif.read_bytes()[off:]
    (tmp / "image.sqfs").write_bytes(data)
    (tmp / "image.simg").write_bytes(b"#!/usr/bin/env run-singularity\n" + data)
    ok(sing(singularity, "build", "--sandbox", tmp / "sandbox", sif))
    return {"sif": sif, "squashfs": tmp / "image.sqfs", "simg": tmp / "image.simg",
            "sandbox": tmp / "sandbox"}


@pytest.mark.parametrize("kind", KINDS)
def test_default_is_labels(singularity, built, kind):
    out = ok(sing(singularity, "inspect", built[kind])).stdout
    assert "Maintainer: Jane Doe\n" in out
    assert "org.example.docker: docker-label\n" in out
    assert "org.label-schema.usage.singularity.version: " in out
    assert ok(sing(singularity, "inspect", "--labels", built[kind])).stdout == out


@pytest.mark.parametrize("kind", KINDS)
def test_each_option(singularity, built, kind):
    img = built[kind]
    assert 'echo "runscript says $*"' in ok(sing(singularity, "inspect", "--runscript", img)).stdout
    env = ok(sing(singularity, "inspect", "--environment", img)).stdout
    assert "export RECIPE_VAR=from-recipe" in env and "FROM_DOCKER" in env
    assert env.index("10-docker2singularity") < env.index("90-environment")
    deffile = ok(sing(singularity, "inspect", "--deffile", img)).stdout
    assert deffile.startswith("Bootstrap: docker\n") and "%post" in deffile
    assert "This image says hello." in ok(sing(singularity, "inspect", "--helpfile", img)).stdout


@pytest.mark.parametrize("kind", KINDS)
def test_json(singularity, built, kind):
    doc = json.loads(ok(sing(singularity, "inspect", "--json", built[kind])).stdout)
    attrs = doc["data"]["attributes"]
    assert doc["type"] == "container"
    assert attrs["labels"]["Version"] == "2.1"
    assert "runscript says" in attrs["runscript"]
    assert "RECIPE_VAR" in attrs["environment"]["/.singularity.d/env/90-environment.sh"]
    assert "%labels" in attrs["deffile"]
    assert "says hello" in attrs["helpfile"]
    only = json.loads(ok(sing(singularity, "inspect", "--json", "--labels", built[kind])).stdout)
    assert set(only["data"]["attributes"]) == {"labels"}


def test_docker_image_without_recipe(singularity, registry, tmp_path):
    """A plain pull records where it came from: the reference and the
    manifest digest it resolved to (the one pull reports)."""
    ref = push(registry, "inspect/plain", cmd=["/bin/true"], labels={"a.b": "c"})
    sif = tmp_path / "plain.sif"
    r = ok(sing(singularity, "build", "--nohttps", sif, "docker://" + ref))
    digest = [l.split("Digest: ")[1] for l in r.stderr.splitlines() if "Digest: " in l][0]
    assert digest.startswith("sha256:")
    assert ok(sing(singularity, "inspect", sif)).stdout == (
        f"a.b: c\norg.opencontainers.image.base.name: docker://{ref}\n"
        f"org.opencontainers.image.base.digest: {digest}\n")
    r = ok(sing(singularity, "inspect", "--deffile", sif))
    assert r.stdout == "" and "no definition file" in r.stderr


def test_not_an_image(singularity, tmp_path):
    junk = tmp_path / "junk"
    junk.write_text("nothing here")
    r = sing(singularity, "inspect", junk)
    assert r.returncode == 255 and "not a Singularity image" in r.stderr
    assert sing(singularity, "inspect", tmp_path / "missing").returncode == 255


def test_no_temp_left(singularity, built, tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    ok(subprocess.run([singularity, "inspect", "--json", built["sif"]], env=env,
                      capture_output=True, text=True))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["sif", "sandbox"])
def test_json_environment_is_a_map(singularity, built, kind):
    """Apptainer's layout: environment maps each env file to its text (the
    Docker env and the %environment files), values without the final newline."""
    doc = json.loads(ok(sing(singularity, "inspect", "--json", "--environment",
                             built[kind])).stdout)
    env = doc["data"]["attributes"]["environment"]
    assert set(doc["data"]["attributes"]) == {"environment"}
    assert set(env) == {"/.singularity.d/env/10-docker2singularity.sh",
                        "/.singularity.d/env/90-environment.sh"}
    assert "export RECIPE_VAR=from-recipe" in env["/.singularity.d/env/90-environment.sh"]
    assert not env["/.singularity.d/env/90-environment.sh"].endswith("\n")
    text = ok(sing(singularity, "inspect", "--environment", built[kind])).stdout
    assert text.startswith("=== /.singularity.d/env/10-docker2singularity.sh ===\n")
    assert "\n\n=== /.singularity.d/env/90-environment.sh ===\n" in text


@pytest.mark.parametrize("kind", KINDS)
def test_startscript_and_all(singularity, built, kind):
    assert "echo started" in ok(sing(singularity, "inspect", "--startscript",
                                     built[kind])).stdout
    doc = json.loads(ok(sing(singularity, "inspect", "--all", built[kind])).stdout)
    attrs = doc["data"]["attributes"]
    assert doc["type"] == "container"
    assert {"environment", "labels", "runscript", "test", "helpfile", "deffile",
            "startscript"} <= set(attrs)
    assert "echo started" in attrs["startscript"]
    assert attrs["labels"]["Version"] == "2.1"
