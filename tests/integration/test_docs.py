"""What `meson install` ships besides the binaries: a man page for
singularity and for every command (generated from the help text), and bash
completion of commands, options and image files."""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import ensure_user, run_as_user


def listed_commands():
    r = run_as_user(["singularity", "--help"])
    assert r.returncode == 0, r.stderr
    block = r.stdout.split("Commands:", 1)[1].split("\n\n", 1)[0]
    cmds = re.findall(r"^\s+([\w-]+)\s", block, re.M)
    assert "exec" in cmds and "pull" in cmds, r.stdout
    return cmds


def help_options(cmd):
    r = run_as_user(["singularity", "help", cmd])
    assert r.returncode == 0, r.stderr
    return sorted(set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", r.stdout, re.M)))


def render_man(prefix, page):
    """The page as `man` shows it to the user (plain text)."""
    if not shutil.which("man"):
        pytest.skip("man is not installed (apt-get install man-db)")
    r = run_as_user(["man", "-M", os.path.join(prefix, "share", "man"), page],
                    env={"MANPAGER": "cat", "MANWIDTH": "100", "MAN_KEEP_FORMATTING": ""})
    assert r.returncode == 0, (page, r.stderr)
    # No bold/underline overstrike left, whatever the pager settings.
    return re.sub(r".\x08", "", r.stdout)


def test_every_command_has_a_man_page(prefix):
    cmds = listed_commands()
    man1 = os.path.join(prefix, "share", "man", "man1")
    pages = sorted(f for f in os.listdir(man1) if f.startswith("singularity"))
    assert pages == sorted(["singularity.1"] + [f"singularity-{c}.1" for c in cmds])
    main = render_man(prefix, "singularity")
    for c in cmds:
        assert f"singularity-{c}(1)" in main, c
    for c in cmds:
        text = render_man(prefix, f"singularity-{c}")
        assert text.startswith(f"SINGULARITY-{c.upper()}(1)"), text[:200]
        assert "NAME" in text and "SYNOPSIS" in text, text[:400]
        # Every option of the help text is documented: the page is the help.
        for opt in help_options(c):
            assert re.search(rf"(^|[\s,]){re.escape(opt)}\b", text), (c, opt)


COMPLETE = r'''
source "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_singularity
printf '%s\n' "${COMPREPLY[@]}"
'''


def complete(prefix, words, cwd=None):
    """COMPREPLY of the installed completion for COMP_WORDS=words (the last
    word is the one being completed), run as the user in bash."""
    script = os.path.join(prefix, "share", "bash-completion", "completions", "singularity")
    assert os.path.isfile(script)
    r = run_as_user(["bash", "-c", COMPLETE, "complete", script] + words, cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    return [l for l in r.stdout.splitlines() if l]


def test_completion_offers_every_command(prefix):
    cmds = listed_commands()
    assert sorted(complete(prefix, ["singularity", ""])) == sorted(cmds)
    for c in cmds:
        assert c in complete(prefix, ["singularity", c[:2]]), c
    # After global options too.
    assert complete(prefix, ["singularity", "-d", "pu"]) == ["pull"]
    assert sorted(complete(prefix, ["singularity", "help", ""])) == sorted(cmds)


def test_completion_offers_the_options_of_exec(prefix):
    opts = help_options("exec")
    assert "--bind" in opts and "--writable-tmpfs" in opts
    offered = complete(prefix, ["singularity", "exec", "--"])
    assert sorted(offered) == opts
    assert complete(prefix, ["singularity", "exec", "--writable-t"]) == ["--writable-tmpfs"]
    assert "-B" in complete(prefix, ["singularity", "exec", "-"])


@pytest.fixture
def image_dir():
    info = ensure_user()
    d = tempfile.mkdtemp(prefix="sing-complete-")
    os.chmod(d, 0o755)
    for name in ("a.sif", "b.simg", "notes.txt"):
        open(os.path.join(d, name), "w").close()
    os.mkdir(os.path.join(d, "sandbox"))
    os.chown(d, info.uid, info.gid)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_completion_offers_image_files_then_any_file(prefix, image_dir):
    # The image argument: images, directories and docker://, not other files.
    assert sorted(complete(prefix, ["singularity", "exec", ""], cwd=image_dir)) == \
        ["a.sif", "b.simg", "docker://", "sandbox"]
    # Also after options and their values.
    assert sorted(complete(prefix, ["singularity", "run", "-B", "/tmp", "--pid", ""],
                           cwd=image_dir)) == ["a.sif", "b.simg", "docker://", "sandbox"]
    assert complete(prefix, ["singularity", "pull", "do"], cwd=image_dir) == ["docker://"]
    # The value of --env-file: any file.
    assert "notes.txt" in complete(prefix, ["singularity", "exec", "--env-file", ""],
                                   cwd=image_dir)
    # After the image: the command's arguments, any file.
    assert "notes.txt" in complete(prefix, ["singularity", "exec", "a.sif", ""],
                                   cwd=image_dir)
