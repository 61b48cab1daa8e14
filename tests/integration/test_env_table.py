"""The environment table: every source of a variable alone and in every
pair, checked inside the container.

Expected results are written from the Singularity 3.6+ / Apptainer 1.x
documentation ("Environment and Metadata": precedence, evaluation), not
from our output:
  - precedence, lowest first: the host environment, the image's
    environment, SINGULARITYENV_X, APPTAINERENV_X, --env-file, --env
    (Apptainer takes the SINGULARITYENV_ spelling only when the
    APPTAINERENV_ one is not set);
  - host and image values are data: they reach the container as they are;
  - override values are evaluated by the container's shell after the
    image's environment: $VAR / ${VAR} / $(cmd) expand against the
    container, \\$ stays a literal $, quotes, runs of spaces and newlines
    are kept; --no-eval takes them literally;
  - SINGULARITYENV_PREPEND_PATH / APPEND_PATH add to the image's PATH, and
    a PATH override replaces the result.
"""
import itertools
import os
import shutil
import tempfile

import pytest

import imagetools
from conftest import empty_user_cache, ensure_user, run_as_user, singularity_path

IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# (raw value given to the source, expected value in the container)
SOURCES = {
    "host": ('host $IMGX \\$h "q" sp  ace\nline2', 'host $IMGX \\$h "q" sp  ace\nline2'),
    "image": ("img $HOME \\$i 'q'  two\nline2", "img $HOME \\$i 'q'  two\nline2"),
    "aenv": ('aenv $IMGX \\$a "dq" x  y\nline2', 'aenv imgx $a "dq" x  y\nline2'),
    "senv": ("senv ${IMGX}-\\$s 'sq' end", "senv imgx-$s 'sq' end"),
    # Written single-quoted in the file, so the file format adds nothing.
    "file": ('file $IMGX \\$f "dq"  two', 'file imgx $f "dq"  two'),
    "flag": ('flag $(echo sub) \\$g "q"\nnl', 'flag sub $g "q"\nnl'),
}
# Apptainer takes SINGULARITYENV_X only when APPTAINERENV_X is not set.
ORDER = ["host", "image", "senv", "aenv", "file", "flag"]
OVERRIDES = {"aenv", "senv", "file", "flag"}


@pytest.fixture(scope="session")
def table_images(registry):
    """Two pulled SIFs, one whose image config sets K, one that does not."""
    user = ensure_user()
    d = tempfile.mkdtemp(prefix="sing-envtable-")
    os.chmod(d, 0o755)
    os.chown(d, user.uid, user.gid)
    empty_user_cache()
    out = {}
    for name, env in (("with", ["K=" + SOURCES["image"][0]]), ("without", [])):
        img = imagetools.busybox_image(env=["PATH=" + IMAGE_PATH, "IMGX=imgx"] + env)
        imagetools.push_image(registry, f"test/envtable-{name}", "latest", img)
        r = run_as_user(["singularity", "pull", "--nohttps", "--name", f"{name}.sif",
                         f"docker://{registry.hostport}/test/envtable-{name}:latest"], cwd=d)
        assert r.returncode == 0, r.stderr
        out[name] = os.path.join(d, f"{name}.sif")
    out["dir"] = d
    yield out
    shutil.rmtree(d, ignore_errors=True)


def run_with(images, sources, no_eval=False, var="K", extra_env=None, extra_opts=()):
    env, opts = dict(extra_env or {}), list(extra_opts)
    for s in sources:
        raw = SOURCES[s][0]
        if s == "host":
            env[var] = raw
        elif s == "aenv":
            env["APPTAINERENV_" + var] = raw
        elif s == "senv":
            env["SINGULARITYENV_" + var] = raw
        elif s == "file":
            path = os.path.join(images["dir"], "envfile-" + var)
            with open(path, "w") as f:
                f.write(f"# the table's file\n{var}='{raw}'\n")
            os.chmod(path, 0o644)
            opts += ["--env-file", path]
        elif s == "flag":
            opts += ["--env", f"{var}={raw}"]
    if no_eval:
        opts.append("--no-eval")
    image = images["with" if "image" in sources else "without"]
    r = run_as_user(["singularity", "exec", *opts, image, "sh", "-c",
                     f'printf "[%s]" "${{{var}-unset}}"'], env=env, cwd="/tmp")
    assert r.returncode == 0, r.stderr
    return r.stdout


def expected(sources, no_eval=False):
    if not sources:
        return "[unset]"
    top = max(sources, key=ORDER.index)
    return "[" + (SOURCES[top][0] if no_eval and top in OVERRIDES else SOURCES[top][1]) + "]"


CASES = [()] + [(s,) for s in ORDER] + list(itertools.combinations(ORDER, 2))


@pytest.mark.parametrize("sources", CASES, ids=lambda c: "+".join(c) or "none")
def test_table(table_images, sources):
    assert run_with(table_images, sources) == expected(sources)


@pytest.mark.parametrize("sources", [c for c in CASES if set(c) & OVERRIDES],
                         ids=lambda c: "+".join(c))
def test_table_no_eval(table_images, sources):
    assert run_with(table_images, sources, no_eval=True) == expected(sources, no_eval=True)


def test_no_eval_from_environment(table_images):
    """SINGULARITY_NO_EVAL=1 is --no-eval."""
    out = run_with(table_images, ("flag",), extra_env={"SINGULARITY_NO_EVAL": "1"})
    assert out == expected(("flag",), no_eval=True)


def test_cleanenv_drops_only_the_host(table_images):
    for sources in (("host",), ("host", "image"), ("host", "senv"), ("host", "flag")):
        want = expected(tuple(s for s in sources if s != "host"))
        assert run_with(table_images, sources, extra_opts=["--cleanenv"]) == want, sources


PATH_CASES = [
    ({"SINGULARITYENV_PREPEND_PATH": "/pre"}, [], "/pre:" + IMAGE_PATH),
    ({"SINGULARITYENV_APPEND_PATH": "/post"}, [], IMAGE_PATH + ":/post"),
    ({"APPTAINERENV_PREPEND_PATH": "/apre"}, ["--env", "APPEND_PATH=/fpost"],
     "/apre:" + IMAGE_PATH + ":/fpost"),
    ({}, ["--env", "PATH=$PATH:/opt/bin"], IMAGE_PATH + ":/opt/bin"),
    ({"SINGULARITYENV_PATH": "/only"}, [], "/only"),
    ({"SINGULARITYENV_PATH": "/sing", "SINGULARITYENV_PREPEND_PATH": "/pre"}, [], "/sing"),
    ({"SINGULARITYENV_PATH": "/sing"}, ["--env", "PATH=/flag:$PATH"], "/flag:" + IMAGE_PATH),
    ({"PATH": "/host/bin:/usr/bin:/bin"}, [], IMAGE_PATH),
]


@pytest.mark.parametrize("env,opts,want", PATH_CASES)
def test_path_table(table_images, env, opts, want):
    r = run_as_user([singularity_path(), "exec", *opts, table_images["without"], "sh", "-c",
                     'printf %s "$PATH"'], env=env, cwd="/tmp")
    assert r.returncode == 0, r.stderr
    assert r.stdout == want
