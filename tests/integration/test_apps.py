"""SCIF apps (issue 13): %appinstall, %apprun, %appenv, %applabels, %appfiles,
%apphelp, %apptest in a recipe built by the normal test user; --app on
run/exec/shell/test/inspect, inspect --list-apps, SINGULARITY_APPNAME and the
SCIF_* variables inside, as Apptainer lays apps out and sets them."""

import json
import os
import pathlib
import shutil
import tempfile

import pytest

from test_build import ok, push, squashfs_cat, write_recipe

APPS_RECIPE = """
Bootstrap: docker
Registry: http://{host}
From: {repo}

%post
    echo post > /post-marker

%appinstall foo
    # runs in the app's root with its 01-base.sh sourced
    printf '#!/bin/sh\\necho foo-tool in $SCIF_APPNAME\\n' > bin/foo-tool
    chmod 755 bin/foo-tool
    pwd > /foo-install-cwd

%apprun foo
    echo "foo runs: $* app=$SINGULARITY_APPNAME/$APPTAINER_APPNAME scif=$SCIF_APPNAME data=$SCIF_APPDATA"

%appenv foo
    FOO_ENV=from-appenv
    export FOO_ENV

%applabels foo
    Maintainer Foo Person

%appfiles foo
    data.txt

%apphelp foo
    Foo is the best app.

%apptest foo
    test "$FOO_ENV" = from-appenv || exit 7
    echo foo-test-ok

%apprun bar
    echo bar runs
"""


@pytest.fixture(scope="module")
def apps_sif(singularity, registry, test_user):
    from conftest import run_as_user
    ref = push(registry, "apps/base", env=["PATH=/bin"], cmd=["/bin/true"])
    host, repo = ref.split("/", 1)
    top = tempfile.mkdtemp(prefix="sing-apps-")
    os.chmod(top, 0o755)
    d = pathlib.Path(top)
    (d / "data.txt").write_text("app data\n")
    write_recipe(d / "apps.def", APPS_RECIPE.format(host=host, repo=repo))
    out = d / "out"
    out.mkdir()
    os.chown(out, test_user.uid, test_user.gid)
    sif = out / "apps.sif"
    ok(run_as_user([singularity, "build", sif, d / "apps.def"]))
    yield sif
    shutil.rmtree(top, ignore_errors=True)


def test_layout(apps_sif):
    """Apptainer's layout: /scif/apps/NAME/{bin,lib,scif/...}, /scif/data/NAME."""
    assert squashfs_cat(str(apps_sif), "/scif/apps/foo/scif/runscript").startswith(b"#!/bin/sh")
    labels = json.loads(squashfs_cat(str(apps_sif), "/scif/apps/foo/scif/labels.json"))
    assert labels == {"SCIF_APP_NAME": "foo", "Maintainer": "Foo Person"}
    assert b"FOO_ENV=from-appenv" in squashfs_cat(
        str(apps_sif), "/scif/apps/foo/scif/env/90-environment.sh")
    assert b"SCIF_APPDATA=\"/scif/data/foo\"" in squashfs_cat(
        str(apps_sif), "/scif/apps/foo/scif/env/01-base.sh")
    assert squashfs_cat(str(apps_sif), "/scif/apps/foo/data.txt") == b"app data\n"
    assert squashfs_cat(str(apps_sif), "/scif/apps/foo/scif/runscript.help").strip() == \
        b"Foo is the best app."
    assert squashfs_cat(str(apps_sif), "/foo-install-cwd") == b"/scif/apps/foo\n"
    glob = squashfs_cat(str(apps_sif), "/.singularity.d/env/94-appsbase.sh")
    assert b"SCIF_APPBIN_foo=/scif/apps/foo/bin" in glob and b"SCIF_APPRUN_bar=" in glob
    assert b"SCIF_APPENV_bar" not in glob  # bar has no %appenv


def test_run_app(singularity, apps_sif, run_as_user):
    r = ok(run_as_user([singularity, "run", "--app", "foo", apps_sif, "a", "b c"]))
    assert r.stdout == "foo runs: a b c app=foo/foo scif=foo data=/scif/data/foo\n"
    assert ok(run_as_user([singularity, "run", "--app", "bar", apps_sif])).stdout == "bar runs\n"


def test_exec_app_env(singularity, apps_sif, run_as_user):
    script = ('echo "$FOO_ENV|$SCIF_APPNAME|$SCIF_APPROOT|$SINGULARITY_APPNAME|${PATH%%:*}|'
              '${LD_LIBRARY_PATH%%:*}|$SCIF_APPDATA_foo"; foo-tool')
    r = ok(run_as_user([singularity, "exec", "--app", "foo", apps_sif, "/bin/sh", "-c", script]))
    assert r.stdout == ("from-appenv|foo|/scif/apps/foo|foo|/scif/apps/foo/bin|/scif/apps/foo/lib|"
                        "/scif/data/foo\nfoo-tool in foo\n")
    # Without --app: no app environment, only the global per-app variables.
    r = run_as_user([singularity, "exec", apps_sif, "/bin/sh", "-c",
                     'echo "$FOO_ENV|$SCIF_APPNAME|$SINGULARITY_APPNAME|$SCIF_APPDATA_foo"; '
                     'command -v foo-tool || echo no-tool'])
    assert ok(r).stdout == "|||/scif/data/foo\nno-tool\n"


def test_override_wins_over_appenv(singularity, apps_sif, run_as_user):
    r = ok(run_as_user([singularity, "exec", "--app", "foo", "--env", "FOO_ENV=mine", apps_sif,
                        "/bin/sh", "-c", 'echo "$FOO_ENV"']))
    assert r.stdout == "mine\n"


def test_shell_app(singularity, apps_sif, run_as_user):
    r = ok(run_as_user([singularity, "shell", "--app", "foo", apps_sif, "-c",
                        'echo "$SCIF_APPNAME $FOO_ENV"']))
    assert r.stdout == "foo from-appenv\n"


def test_test_app(singularity, apps_sif, run_as_user):
    r = ok(run_as_user([singularity, "test", "--app", "foo", apps_sif]))
    assert r.stdout == "foo-test-ok\n"
    r = run_as_user([singularity, "test", "--app", "bar", apps_sif])
    assert r.returncode == 1 and "app bar has no test (%apptest)" in r.stderr


def test_unknown_app(singularity, apps_sif, run_as_user):
    for action in ("run", "exec", "shell", "test"):
        args = ["/bin/true"] if action == "exec" else []
        r = run_as_user([singularity, action, "--app", "nope", apps_sif, *args])
        assert r.returncode == 255, (action, r)
        assert r.stderr.strip().splitlines() == [
            "singularity: no app nope in the container (apps: bar foo)"], (action, r.stderr)
    r = run_as_user([singularity, "run", "--app", "../x", apps_sif])
    assert r.returncode == 255 and "--app ../x: not an app name" in r.stderr


def test_inspect_apps(singularity, apps_sif, run_as_user):
    assert ok(run_as_user([singularity, "inspect", "--list-apps", apps_sif])).stdout == "bar\nfoo\n"
    r = ok(run_as_user([singularity, "inspect", "--app", "foo", apps_sif]))
    assert r.stdout == "SCIF_APP_NAME: foo\nMaintainer: Foo Person\n"
    r = ok(run_as_user([singularity, "inspect", "--app", "foo", "--helpfile", apps_sif]))
    assert r.stdout.strip() == "Foo is the best app."
    r = ok(run_as_user([singularity, "inspect", "--app", "foo", "--runscript", apps_sif]))
    assert "foo runs:" in r.stdout
    doc = json.loads(ok(run_as_user([singularity, "inspect", "--app", "foo", "--json",
                                     "--environment", apps_sif])).stdout)
    assert doc["data"]["attributes"]["apps"]["foo"]["environment"] == {
        "/scif/apps/foo/scif/env/90-environment.sh": "    FOO_ENV=from-appenv\n    export FOO_ENV"}
    doc = json.loads(ok(run_as_user([singularity, "inspect", "--all", apps_sif])).stdout)
    apps = doc["data"]["attributes"]["apps"]
    assert set(apps) == {"foo", "bar"}
    assert apps["foo"]["labels"]["Maintainer"] == "Foo Person"
    assert apps["foo"]["test"].endswith("echo foo-test-ok")
    assert apps["bar"]["runscript"].endswith("echo bar runs")
    r = run_as_user([singularity, "inspect", "--app", "nope", apps_sif])
    assert r.returncode == 255 and "no app nope in" in r.stderr and "(apps: bar foo)" in r.stderr
