"""singularity build (issue 4): every source/output combination, recipes
(Bootstrap docker and localimage), the runscript precedence rules, recipe
credentials, --fakeroot owners, bad recipes and --force.

SIF helpers (also used by test_inspect.py) read descriptors and the
squashfs partition with unsquashfs, so nothing needs mounting."""

import json
import os
import pathlib
import shutil
import stat
import struct
import subprocess
import tempfile
import textwrap

import pytest

import imagetools
import siftools
from imagetools import Dir, File
from conftest import USER, user_without_subids

# --------------------------------------------------------------------------
# SIF helpers
DEFFILE, LABELS, PARTITION, GENERICJSON = 0x4001, 0x4003, 0x4004, 0x4006


def descriptors(path):
    """[(datatype, offset, size, parttype)] of the used descriptors."""
    with open(path, "rb") as f:
        head = f.read(128)
        assert head[32:41] == b"SIF_MAGIC", f"{path} is not a SIF"
        dtotal = struct.unpack_from("<q", head, 88)[0]
        descoff = struct.unpack_from("<q", head, 96)[0]
        f.seek(descoff)
        table = f.read(dtotal * 585)
    out = []
    for i in range(dtotal):
        d = table[i * 585:(i + 1) * 585]
        datatype, used = struct.unpack_from("<iB", d, 0)
        if not used:
            continue
        offset, size = struct.unpack_from("<qq", d, 17)
        parttype = struct.unpack_from("<i", d, 205)[0] if datatype == PARTITION else 0
        out.append((datatype, offset, size, parttype))
    return out


def partition_offset(path):
    for datatype, offset, _size, parttype in descriptors(path):
        if datatype == PARTITION and parttype == 2:
            return offset
    raise AssertionError(f"{path}: no primary partition")


def object_data(path, datatype):
    """The first object of that type, or None."""
    for dt, offset, size, _ in descriptors(path):
        if dt == datatype:
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read(size)
    return None


def squashfs_cat(path, inner, offset=None):
    """Content of a file in the image's squashfs (bytes), or None."""
    if offset is None:
        offset = partition_offset(path)
    r = subprocess.run(["unsquashfs", "-cat", "-o", str(offset), path, inner],
                       capture_output=True)
    return r.stdout if r.returncode == 0 else None


def squashfs_list(path, offset=None):
    """{path: (mode_string, uid, gid)} from unsquashfs -lln."""
    if offset is None:
        offset = partition_offset(path)
    r = subprocess.run(["unsquashfs", "-lln", "-o", str(offset), path],
                       check=True, capture_output=True, text=True)
    entries = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) < 6 or "/" not in parts[1]:
            continue
        uid, gid = parts[1].split("/")
        name = line[line.index("squashfs-root"):].split(" -> ")[0]
        entries[name[len("squashfs-root"):] or "/"] = (parts[0], int(uid), int(gid))
    return entries


# --------------------------------------------------------------------------
# Running the command


def sing(singularity, *args, **kw):
    return subprocess.run([singularity, *map(str, args)], capture_output=True, text=True,
                          timeout=kw.pop("timeout", 300), **kw)


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


def failed(r):
    assert r.returncode == 255, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r.stderr


def write_recipe(path, text):
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def chroot_run(rootfs, *args):
    """Run a command in a sandbox with chroot (the runtime is not needed)."""
    r = subprocess.run(["chroot", str(rootfs), *args], capture_output=True, text=True,
                       timeout=60)
    return r


def all_bytes_under(path):
    """Every file's bytes (and every name) under a directory, for greps."""
    chunks = []
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            chunks.append(full.encode())
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as f:
                    chunks.append(f.read())
    return b"\n".join(chunks)


def leftovers(directory, keep):
    """Entries of directory other than those in keep (temp files, OUT)."""
    return sorted(set(os.listdir(directory)) - set(keep))


# --------------------------------------------------------------------------
# Images in the plain-HTTP registry

ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FROM_DOCKER=yes"]


def push(registry, repo, **config):
    img = imagetools.busybox_image(
        extra_layers=[[Dir("opt"), File("opt/hello.txt", "hello from the image\n"),
                       File("opt/owned", "x", uid=1000, gid=1000)]],
        **config)
    imagetools.push_image(registry, repo, "latest", img)
    return f"{registry.hostport}/{repo}:latest"


@pytest.fixture(scope="module")
def images(registry):
    """name -> "host:port/repo:latest" for images with each runscript shape."""
    return {
        "cmd": push(registry, "build/cmd", env=ENV, cmd=["/bin/echo", "from-cmd"],
                    labels={"org.example.docker": "docker-label"}),
        "entrypoint": push(registry, "build/entrypoint", env=ENV,
                           entrypoint=["/bin/echo", "from-entrypoint"], cmd=["default-arg"]),
        "none": push(registry, "build/none", env=ENV, cmd=[]),
    }


@pytest.fixture(scope="module")
def docker_sif(singularity, images, tmp_path_factory):
    out = tmp_path_factory.mktemp("docker-sif") / "image.sif"
    ok(sing(singularity, "build", "--nohttps", out, "docker://" + images["cmd"]))
    return out


FULL_RECIPE = """\
    Bootstrap: docker
    From: {ref}   # comment after the reference
    IncludeCmd: no

    %setup
        echo setup-ran > "$SINGULARITY_ROOTFS/setup-marker"

    %files
        data/*.txt /data/
        single.conf /etc/single.conf

    %post
        echo "post ran as $(id -u)" > /post-marker
        test -e /proc/self/status
        test -e /dev/null
        test -s /etc/resolv.conf || test -e /etc/resolv.conf
        cat /data/a.txt >> /post-marker

    %environment
        export RECIPE_VAR=from-recipe

    %runscript
        echo "runscript says $*"

    %startscript
        echo started

    %test
        test -e /post-marker

    %labels
        Maintainer Jane Doe
        Version 2.1

    %help
        This image says hello.
"""


def make_recipe_dir(tmp_path, ref):
    d = tmp_path / "recipe"
    (d / "data").mkdir(parents=True)
    (d / "data" / "a.txt").write_text("file a\n")
    (d / "data" / "b.txt").write_text("file b\n")
    (d / "single.conf").write_text("single=1\n")
    return write_recipe(d / "full.def", FULL_RECIPE.format(ref=ref))


def check_recipe_tree(read):
    """read(path) -> bytes or None, for a sandbox or a SIF."""
    assert read("/setup-marker") == b"setup-ran\n"
    assert read("/data/a.txt") == b"file a\n"
    assert read("/data/b.txt") == b"file b\n"
    assert read("/etc/single.conf") == b"single=1\n"
    assert read("/post-marker") == b"post ran as 0\nfile a\n"
    assert read("/opt/hello.txt") == b"hello from the image\n"
    assert b"export RECIPE_VAR=from-recipe" in read("/.singularity.d/env/90-environment.sh")
    assert b"FROM_DOCKER" in read("/.singularity.d/env/10-docker2singularity.sh")
    assert b'echo "runscript says $*"' in read("/.singularity.d/runscript")
    assert b"echo started" in read("/.singularity.d/startscript")
    assert b"test -e /post-marker" in read("/.singularity.d/test")
    assert b"This image says hello." in read("/.singularity.d/runscript.help")
    deffile = read("/.singularity.d/Singularity")
    assert b"Bootstrap: docker" in deffile and b"%post" in deffile
    labels = json.loads(read("/.singularity.d/labels.json"))
    assert labels["Maintainer"] == "Jane Doe"
    assert labels["Version"] == "2.1"
    assert labels["org.example.docker"] == "docker-label"
    assert labels["org.label-schema.usage.singularity.version"]
    assert labels["org.label-schema.build-date"]
    assert labels["org.label-schema.usage.singularity.deffile.bootstrap"] == "docker"
    return labels


# --------------------------------------------------------------------------
# Source/output combinations


def test_docker_to_sif(docker_sif):
    assert squashfs_cat(str(docker_sif), "/opt/hello.txt") == b"hello from the image\n"
    assert b"from-cmd" in squashfs_cat(str(docker_sif), "/.singularity.d/runscript")
    assert object_data(str(docker_sif), GENERICJSON) is not None
    owners = squashfs_list(str(docker_sif))
    assert owners["/opt/owned"][1:] == (1000, 1000)
    assert owners["/bin/busybox"][1:] == (0, 0)


def test_docker_to_sandbox(singularity, images, tmp_path):
    out = tmp_path / "sandbox"
    ok(sing(singularity, "build", "--nohttps", "--sandbox", out, "docker://" + images["cmd"]))
    assert (out / "opt" / "hello.txt").read_text() == "hello from the image\n"
    assert os.stat(out / "opt" / "owned").st_uid == 1000  # built as root: owners kept
    assert os.access(out / ".singularity.d" / "runscript", os.X_OK)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755
    assert chroot_run(out, "/bin/cat", "/opt/hello.txt").stdout == "hello from the image\n"
    assert leftovers(tmp_path, ["sandbox"]) == []


def test_recipe_to_sif(singularity, images, tmp_path):
    recipe = make_recipe_dir(tmp_path, images["cmd"])
    out = tmp_path / "out.sif"
    r = ok(sing(singularity, "build", "--nohttps", out, recipe))
    assert "%test" in r.stderr or "test" in r.stderr
    check_recipe_tree(lambda p: squashfs_cat(str(out), p))
    assert b"%post" in object_data(str(out), DEFFILE)
    labels = json.loads(object_data(str(out), LABELS))
    assert labels["Maintainer"] == "Jane Doe"
    assert leftovers(tmp_path, ["recipe", "out.sif"]) == []


def test_recipe_to_sandbox(singularity, images, tmp_path):
    recipe = make_recipe_dir(tmp_path, images["cmd"])
    out = tmp_path / "sb"

    def read(p):
        try:
            return (out / p.lstrip("/")).read_bytes()
        except FileNotFoundError:
            return None

    ok(sing(singularity, "build", "--nohttps", "--sandbox", out, recipe))
    check_recipe_tree(read)
    r = chroot_run(out, "/.singularity.d/runscript", "a", "b")
    assert r.stdout == "runscript says a b\n"
    assert leftovers(tmp_path, ["recipe", "sb"]) == []


def test_sandbox_to_sif_and_back(singularity, images, tmp_path):
    sandbox = tmp_path / "sb"
    ok(sing(singularity, "build", "--nohttps", "--sandbox", sandbox, "docker://" + images["cmd"]))
    (sandbox / "opt" / "added").write_text("added in the sandbox\n")
    sif = tmp_path / "from-sandbox.sif"
    ok(sing(singularity, "build", sif, sandbox))
    assert squashfs_cat(str(sif), "/opt/added") == b"added in the sandbox\n"
    assert squashfs_list(str(sif))["/opt/owned"][1:] == (1000, 1000)
    assert object_data(str(sif), LABELS) is not None

    back = tmp_path / "back"
    ok(sing(singularity, "build", "--sandbox", back, sif))
    assert (back / "opt" / "added").read_text() == "added in the sandbox\n"
    assert os.stat(back / "opt" / "owned").st_uid == 1000
    assert chroot_run(back, "/bin/cat", "/opt/hello.txt").returncode == 0
    assert leftovers(tmp_path, ["sb", "from-sandbox.sif", "back"]) == []


def test_sif_to_sif(singularity, docker_sif, tmp_path):
    out = tmp_path / "copy.sif"
    ok(sing(singularity, "build", out, docker_sif))
    assert squashfs_cat(str(out), "/opt/hello.txt") == b"hello from the image\n"


def test_localimage_recipe(singularity, docker_sif, tmp_path):
    recipe = write_recipe(tmp_path / "local.def", f"""
        Bootstrap: localimage
        From: {docker_sif}

        %post
            echo local > /local-marker

        %runscript
            #!/bin/sh
            echo local runscript
    """)
    out = tmp_path / "local.sif"
    ok(sing(singularity, "build", out, recipe))
    assert squashfs_cat(str(out), "/local-marker") == b"local\n"
    runscript = squashfs_cat(str(out), "/.singularity.d/runscript")
    assert runscript.startswith(b"#!/bin/sh\n") and b"echo local runscript" in runscript
    assert runscript.count(b"#!") == 1  # its own (indented) #! line, not a second one
    labels = json.loads(squashfs_cat(str(out), "/.singularity.d/labels.json"))
    assert labels["org.example.docker"] == "docker-label"  # the base's labels stay
    assert labels["org.label-schema.usage.singularity.deffile.bootstrap"] == "localimage"


# --------------------------------------------------------------------------
# Runscript precedence (docker-builds.md, "What gets used as the runscript?")


def build_runscript_sandbox(singularity, tmp_path, ref, header="", sections=""):
    recipe = write_recipe(tmp_path / "r.def", f"Bootstrap: docker\nFrom: {ref}\n{header}\n{sections}")
    out = tmp_path / "sb"
    ok(sing(singularity, "build", "--nohttps", "--sandbox", out, recipe))
    return out


def test_runscript_rule1_recipe_runscript_wins(singularity, images, tmp_path):
    out = build_runscript_sandbox(singularity, tmp_path, images["entrypoint"], "IncludeCmd: yes",
                                  "%runscript\n    echo recipe wins \"$@\"\n")
    assert chroot_run(out, "/.singularity.d/runscript", "x").stdout == "recipe wins x\n"


def test_runscript_rule2_entrypoint_with_cmd_defaults(singularity, images, tmp_path):
    out = build_runscript_sandbox(singularity, tmp_path, images["entrypoint"])
    assert chroot_run(out, "/.singularity.d/runscript").stdout == "from-entrypoint default-arg\n"
    assert chroot_run(out, "/.singularity.d/runscript", "given").stdout == "from-entrypoint given\n"


def test_runscript_rule3_includecmd_uses_cmd(singularity, images, tmp_path):
    out = build_runscript_sandbox(singularity, tmp_path, images["entrypoint"], "IncludeCmd: yes")
    # The entrypoint image's CMD is ["default-arg"]: run it with PATH.
    script = (out / ".singularity.d" / "runscript").read_text()
    assert "default-arg" in script and "from-entrypoint" not in script
    # No ENTRYPOINT at all: CMD is the runscript.
    out2 = build_runscript_sandbox(singularity, tmp_path / "x", images["cmd"]) \
        if (tmp_path / "x").mkdir() is None else None
    assert chroot_run(out2, "/.singularity.d/runscript").stdout == "from-cmd\n"


def test_runscript_rule4_shell(singularity, images, tmp_path):
    out = build_runscript_sandbox(singularity, tmp_path, images["none"])
    r = chroot_run(out, "/.singularity.d/runscript", "-c", "echo shell-ran")
    assert r.stdout == "shell-ran\n"


# --------------------------------------------------------------------------
# Credentials


def test_recipe_credentials(singularity, registry_basic, tmp_path):
    img = imagetools.busybox_image()
    imagetools.push_image(registry_basic, "private/app", "v1", img,
                          username=registry_basic.username, password=registry_basic.password)
    base = f"""
        Bootstrap: docker
        Registry: {registry_basic.hostport}
        Namespace: private
        From: app:v1
        Token: no
    """
    # Without credentials the registry refuses.
    anon = write_recipe(tmp_path / "anon.def", base)
    err = failed(sing(singularity, "build", "--nohttps", "--disable-cache",
                      tmp_path / "anon.sif", anon))
    assert not (tmp_path / "anon.sif").exists()
    assert "401" in err or "auth" in err.lower() or "denied" in err.lower()

    recipe = write_recipe(tmp_path / "creds.def", base + f"""
        Username: {registry_basic.username}
        Password: {registry_basic.password}
        %labels
            Owner me
    """)
    sif = tmp_path / "creds.sif"
    ok(sing(singularity, "build", "--nohttps", "--disable-cache", sif, recipe))
    pw = registry_basic.password.encode()
    data = sif.read_bytes()
    assert pw not in data
    assert b"Password: <redacted>" in object_data(str(sif), DEFFILE)

    sandbox = tmp_path / "creds-sb"
    ok(sing(singularity, "build", "--nohttps", "--disable-cache", "--sandbox", sandbox, recipe))
    assert pw not in all_bytes_under(sandbox)
    assert (sandbox / ".singularity.d" / "Singularity").exists()


# --------------------------------------------------------------------------
# Unprivileged builds


@pytest.fixture
def user_dir(test_user):
    """An empty directory the test user owns (pytest's tmp_path is root-only)."""
    d = tempfile.mkdtemp(prefix="sing-build-user-")
    os.chmod(d, 0o755)
    d = pathlib.Path(d) / "user"
    d.mkdir()
    os.chown(d, test_user.uid, test_user.gid)
    yield d
    shutil.rmtree(d.parent, ignore_errors=True)


def user_write(test_user, path, text):
    path.write_text(textwrap.dedent(text).lstrip())
    os.chown(path, test_user.uid, test_user.gid)
    return path


def test_fakeroot_chown_kept_in_sif(singularity, images, user_dir, test_user, run_as_user,
                                    clean_user_cache):
    recipe = user_write(test_user, user_dir / "fr.def", f"""
        Bootstrap: docker
        From: {images['cmd']}

        %post
            touch /owned-by-1234
            chown 1234:1234 /owned-by-1234
            mkdir /dir-5678 && chown 5678:5678 /dir-5678
            echo "post uid $(id -u)" > /who
    """)
    out = user_dir / "fr.sif"
    r = run_as_user([singularity, "build", "--nohttps", "--fakeroot", out, recipe])
    assert r.returncode == 0, r.stderr
    owners = squashfs_list(str(out))
    assert owners["/owned-by-1234"][1:] == (1234, 1234)
    assert owners["/dir-5678"][1:] == (5678, 5678)
    assert owners["/bin/busybox"][1:] == (0, 0)
    assert owners["/opt/owned"][1:] == (1000, 1000)
    assert squashfs_cat(str(out), "/who") == b"post uid 0\n"
    assert os.stat(out).st_uid == test_user.uid
    assert leftovers(user_dir, ["fr.def", "fr.sif"]) == []


def test_user_setup_refused_before_download(singularity, user_dir, test_user, run_as_user):
    recipe = user_write(test_user, user_dir / "p.def", """
        Bootstrap: docker
        From: 127.0.0.1:1/nowhere/image:latest

        %setup
            true
        %post
            true
    """)
    r = run_as_user([singularity, "build", "--nohttps", user_dir / "p.sif", recipe])
    assert r.returncode == 255
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR")]
    assert len(errors) == 1 and "%setup" in errors[0] and "root" in errors[0], r.stderr
    assert "nowhere" not in r.stderr  # refused before contacting the registry
    assert leftovers(user_dir, ["p.def"]) == []


# --------------------------------------------------------------------------
# Unprivileged builds (issue 13): %post switches to --fakeroot by itself, or
# to a namespace mapping only the user's ids; images with device nodes and
# security.* / trusted.* xattrs rebuilt by a normal user.


@pytest.fixture(scope="module")
def local_layout():
    """An OCI layout of busybox with a marker, readable by every user."""
    d = tempfile.mkdtemp(prefix="sing-build-layout-")
    os.chmod(d, 0o755)
    img = imagetools.busybox_image(extra_layers=[[File("marker", "layout"),
                                                  File("etc/owned", "x", uid=1000, gid=1000)]])
    imagetools.write_oci_layout(img, os.path.join(d, "l"), tag="v1")
    for root, dirs, files in os.walk(d):
        for n in dirs:
            os.chmod(os.path.join(root, n), 0o755)
        for n in files:
            os.chmod(os.path.join(root, n), 0o644)
    yield "oci:" + os.path.join(d, "l") + ":v1"
    shutil.rmtree(d, ignore_errors=True)


POST_RECIPE = """
    Bootstrap: oci
    From: {src}

    %post
        echo "uid $(id -u)" > /who
        touch /chowned
        if chown 1234:1234 /chowned 2>/dev/null; then echo yes; else echo no; fi > /chown-ok
"""


def test_user_post_switches_to_fakeroot(singularity, user_dir, test_user, run_as_user,
                                        local_layout):
    recipe = user_write(test_user, user_dir / "p.def", POST_RECIPE.format(src=local_layout[4:]))
    out = user_dir / "p.sif"
    r = run_as_user([singularity, "build", out, recipe])
    assert r.returncode == 0, r.stderr
    assert "building with --fakeroot" in r.stderr
    assert squashfs_cat(str(out), "/who") == b"uid 0\n"
    assert squashfs_cat(str(out), "/chown-ok") == b"yes\n"
    owners = squashfs_list(str(out))
    assert owners["/chowned"][1:] == (1234, 1234)
    assert owners["/etc/owned"][1:] == (1000, 1000)
    assert leftovers(user_dir, ["p.def", "p.sif"]) == []


def test_user_post_without_subids_uses_own_id_namespace(singularity, user_dir, local_layout):
    pw = user_without_subids()
    d = pathlib.Path(tempfile.mkdtemp(prefix="sing-build-nosub-"))
    os.chown(d, pw.pw_uid, pw.pw_gid)
    try:
        recipe = d / "p.def"
        recipe.write_text(textwrap.dedent(POST_RECIPE.format(src=local_layout[4:])).lstrip())
        out = d / "p.sif"
        env = {"HOME": pw.pw_dir, "USER": pw.pw_name, "PATH": os.environ["PATH"]}
        r = subprocess.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                            "--init-groups", singularity, "build", str(out), str(recipe)],
                           env=env, cwd=str(d), capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "maps only your own ids" in r.stderr and "cannot chown" in r.stderr
        assert squashfs_cat(str(out), "/who") == b"uid 0\n"
        assert squashfs_cat(str(out), "/chown-ok") == b"no\n"
        assert "files and directories are owned by you" in r.stderr  # /etc/owned (1000)
        assert leftovers(d, ["p.def", "p.sif"]) == []
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def hostile_attrs_images(singularity, local_layout):
    """A SIF and a plain squashfs (made by root) with a device node and
    security.selinux / trusted.* / user.* xattrs on /etc/hostname."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="sing-build-attrs-"))
    os.chmod(d, 0o755)
    root = d / "root"
    ok(sing(singularity, "build", "--sandbox", root, local_layout))
    os.mknod(root / "dev" / "null2", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(root / "root", 0o755)  # the sandbox must be readable by the user
    f = str(root / "etc" / "hostname")
    try:
        os.setxattr(f, "security.selinux", b"system_u:object_r:etc_t:s0")
        os.setxattr(f, "trusted.note", b"1")
        os.setxattr(f, "user.keep", b"yes")
    except OSError as exc:
        pytest.skip(f"cannot set xattrs here: {exc}")
    subprocess.run(["mksquashfs", str(root), str(d / "img.sqfs"), "-quiet", "-no-progress"],
                   check=True, capture_output=True)
    ok(sing(singularity, "build", d / "img.sif", root))
    for n in ("img.sqfs", "img.sif"):
        os.chmod(d / n, 0o644)
    yield {"sif": d / "img.sif", "squashfs": d / "img.sqfs", "sandbox": root}
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("kind", ["sif", "squashfs", "sandbox"])
def test_user_rebuilds_image_with_devices_and_xattrs(singularity, user_dir, test_user,
                                                     run_as_user, hostile_attrs_images, kind):
    src = hostile_attrs_images[kind]
    box = user_dir / "box"
    r = run_as_user([singularity, "build", "--sandbox", box, src])
    assert r.returncode == 0, r.stderr
    if kind == "sandbox":  # cp passes over what it cannot set
        assert "device node(s) of" in r.stderr and "skipped" in r.stderr
    else:
        assert "security.* and trusted.*" in r.stderr and "device nodes are skipped" in r.stderr
    assert not os.path.lexists(box / "dev" / "null2")
    attrs = os.listxattr(box / "etc" / "hostname")
    if kind == "sandbox":
        # cp -a keeps what the user may set and passes over the rest.
        assert "user.keep" in attrs and "trusted.note" not in attrs
    else:
        assert attrs == ["user.keep"]
    assert (box / "marker").read_text() == "layout"
    # A recipe on top of it, with %post (fakeroot by itself).
    recipe = user_write(test_user, user_dir / "r.def", f"""
        Bootstrap: localimage
        From: {src}
        %post
            echo rebuilt > /rebuilt
    """)
    out = user_dir / "r.sif"
    r = run_as_user([singularity, "build", out, recipe])
    assert r.returncode == 0, r.stderr
    assert squashfs_cat(str(out), "/rebuilt") == b"rebuilt\n"
    assert squashfs_cat(str(out), "/marker") == b"layout"


def test_user_docker_to_sandbox_and_sif(singularity, images, user_dir, test_user, run_as_user,
                                        clean_user_cache):
    sb = user_dir / "sb"
    r = run_as_user([singularity, "build", "--nohttps", "--sandbox", sb, "docker://" + images["cmd"]])
    assert r.returncode == 0, r.stderr
    assert os.stat(sb).st_uid == test_user.uid
    assert os.stat(sb / "opt" / "hello.txt").st_uid == test_user.uid
    sif = user_dir / "sb.sif"
    r = run_as_user([singularity, "build", sif, sb])
    assert r.returncode == 0, r.stderr
    # The user's files become root's in the image.
    assert squashfs_list(str(sif))["/opt/hello.txt"][1:] == (0, 0)
    # A recipe without %post / %setup needs no privileges; %test runs.
    recipe = user_write(test_user, user_dir / "nopost.def", f"""
        Bootstrap: localimage
        From: {sif}
        %labels
            Who user
        %test
            test -e /opt/hello.txt
    """)
    out = user_dir / "nopost.sif"
    r = run_as_user([singularity, "build", out, recipe])
    assert r.returncode == 0, r.stderr
    assert json.loads(object_data(str(out), LABELS))["Who"] == "user"


# --------------------------------------------------------------------------
# Bad recipes


BAD = {
    "unknown-bootstrap": ("Bootstrap: yum\nFrom: x\n", "bad.def:1: unknown Bootstrap"),
    "missing-from": ("# hi\nBootstrap: docker\n%post\n  true\n", "bad.def:2: Bootstrap docker needs a From"),
    "unknown-section": ("Bootstrap: docker\nFrom: {ref}\n%post\n true\n%bogus\n", "bad.def:5: unknown section %bogus"),
    "keyword-twice": ("Bootstrap: docker\nFrom: {ref}\nFROM: other\n", "bad.def:3: header keyword From given twice"),
    "missing-files-source": ("Bootstrap: docker\nFrom: {ref}\n%files\n  nothere.txt /x\n", "bad.def:4: %files source nothere.txt does not exist"),
    "post-fails": ("Bootstrap: docker\nFrom: {ref}\n%post\n  touch /partial\n  exit 3\n", "%post script failed with exit status 3"),
    "test-fails": ("Bootstrap: docker\nFrom: {ref}\n%test\n  exit 4\n", "%test script failed with exit status 4"),
}


@pytest.mark.parametrize("sandbox", [False, True], ids=["sif", "sandbox"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_recipe(singularity, images, tmp_path, case, sandbox):
    text, want = BAD[case]
    recipe = tmp_path / "bad.def"
    recipe.write_text(text.format(ref=images["cmd"]))
    out = tmp_path / "out"
    args = ["build", "--nohttps"] + (["--sandbox"] if sandbox else []) + [out, recipe]
    err = failed(sing(singularity, *args))
    assert want in err
    assert len([l for l in err.splitlines() if l.startswith("ERROR")]) == 1, err
    assert not os.path.lexists(out)
    assert leftovers(tmp_path, ["bad.def"]) == []


def test_unreadable_recipe(singularity, user_dir, test_user, run_as_user):
    recipe = user_write(test_user, user_dir / "secret.def", "Bootstrap: docker\nFrom: x\n")
    os.chmod(recipe, 0)
    r = run_as_user([singularity, "build", user_dir / "o.sif", recipe])
    assert r.returncode == 255
    assert "secret.def" in r.stderr and "Permission denied" in r.stderr
    assert leftovers(user_dir, ["secret.def"]) == []


def test_notest_skips_failing_test(singularity, images, tmp_path):
    recipe = write_recipe(tmp_path / "t.def", f"""
        Bootstrap: docker
        From: {images['cmd']}
        %test
            exit 1
    """)
    ok(sing(singularity, "build", "--nohttps", "--notest", tmp_path / "t.sif", recipe))


# --------------------------------------------------------------------------
# --force


def test_force(singularity, images, docker_sif, tmp_path):
    out = tmp_path / "exists.sif"
    out.write_text("old")
    err = failed(sing(singularity, "build", "--nohttps", out, "docker://" + images["cmd"]))
    assert "already exists" in err and "--force" in err
    assert out.read_text() == "old"
    ok(sing(singularity, "build", "--force", "--nohttps", out, "docker://" + images["cmd"]))
    assert squashfs_cat(str(out), "/opt/hello.txt") == b"hello from the image\n"

    sb = tmp_path / "sb"
    sb.mkdir()
    (sb / "old-file").write_text("old")
    err = failed(sing(singularity, "build", "--sandbox", sb, docker_sif))
    assert "already exists" in err
    ok(sing(singularity, "build", "-F", "--sandbox", sb, docker_sif))
    assert not (sb / "old-file").exists()
    assert (sb / "opt" / "hello.txt").exists()
    assert leftovers(tmp_path, ["exists.sif", "sb"]) == []


def test_interrupted_build_leaves_nothing(singularity, images, user_dir, test_user,
                                          clean_user_cache):
    """SIGTERM during %post: no output, no temp directory, no temp file."""
    import signal
    p, _ = _build_held_in_post(singularity, images, test_user, user_dir, "slow")
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    assert p.returncode != 0
    assert leftovers(user_dir, ["slow.def"]) == []


FS_IOC_GETFLAGS = 0x80086601  # _IOR('f', 1, long) on a 64-bit host
FS_TOPDIR_FL = 0x00020000


def _inode_flags(path):
    import fcntl
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return int.from_bytes(fcntl.ioctl(fd, FS_IOC_GETFLAGS, bytes(8))[:4], "little")
    finally:
        os.close(fd)


def _build_held_in_post(singularity, images, test_user, where, name):
    """Start a user's recipe build in WHERE whose %post waits for /go; return
    the process and the build's temporary directory once %post runs."""
    from conftest import user_env
    import time
    recipe = user_write(test_user, where / f"{name}.def", f"""
        Bootstrap: docker
        From: {images['cmd']}

        %post
            touch /post-started
            while [ ! -e /go ]; do sleep 0.05; done
    """)
    p = subprocess.Popen(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups",
                          singularity, "build", "--nohttps", "--fakeroot",
                          str(where / f"{name}.sif"), str(recipe)],
                         cwd=str(where), env=user_env(), stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        tmp = [d for d in where.glob(f".{name}.sif.tmp-*") if (d / "rootfs/post-started").exists()]
        if tmp:
            return p, tmp[0]
        time.sleep(0.05)
    p.kill()
    raise AssertionError(f"the %post section never started: {p.communicate()[1][-2000:]}")


def _release(p, tmp, test_user):
    go = tmp / "rootfs/go"
    go.touch()
    os.chown(go, test_user.uid, test_user.gid)
    _, err = p.communicate(timeout=120)
    return err


def test_build_tree_gets_top_directory_hint(singularity, images, user_dir, test_user,
                                            clean_user_cache):
    """On ext4 the build's temporary directory carries FS_TOPDIR_FL, so the
    rootfs made in it is spread by the Orlov allocator instead of landing on
    the inodes the previous build just freed (see frontend/tree_hint.c)."""
    fstype = subprocess.run(["stat", "-f", "-c", "%T", str(user_dir)], capture_output=True,
                            text=True, check=True).stdout.strip()
    if fstype not in ("ext2/ext3", "ext4"):
        pytest.skip(f"the hint is an ext4 one; the test directory is on {fstype}")
    p, tmp = _build_held_in_post(singularity, images, test_user, user_dir, "hint")
    try:
        flags = _inode_flags(tmp)
    finally:
        err = _release(p, tmp, test_user)
    assert flags & FS_TOPDIR_FL, f"{tmp} flags {flags:#x}"
    assert p.returncode == 0, err
    assert (user_dir / "hint.sif").is_file()
    assert not _inode_flags(user_dir) & FS_TOPDIR_FL, "the user's own directory was changed"
    assert leftovers(user_dir, ["hint.def", "hint.sif"]) == []


def test_build_where_the_hint_is_refused(singularity, images, user_dir, test_user,
                                         clean_user_cache):
    """On a filesystem without the flag (tmpfs) the build goes on unchanged."""
    where = user_dir / "tmpfs"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "none", str(where)], check=True)
    try:
        os.chown(where, test_user.uid, test_user.gid)
        p, tmp = _build_held_in_post(singularity, images, test_user, where, "refused")
        try:
            try:
                flags = _inode_flags(tmp)
            except OSError:
                flags = 0
        finally:
            err = _release(p, tmp, test_user)
        assert not flags & FS_TOPDIR_FL
        assert p.returncode == 0, err
        assert (where / "refused.sif").is_file()
        assert leftovers(where, ["refused.def", "refused.sif"]) == []
    finally:
        subprocess.run(["umount", str(where)], check=True)


# --------------------------------------------------------------------------
# As a normal user, end to end with the runtime


USER_RECIPE = """\
    Bootstrap: docker
    From: {ref}

    %files
        data.txt /opt/data.txt

    %environment
        export RECIPE_VAR=from-recipe

    %runscript
        echo "runscript says $*"

    %test
        echo "test sees $RECIPE_VAR"
        exit "${{TEST_STATUS:-0}}"

    %labels
        Maintainer Jane Doe

    %help
        Helpful text.
"""


@pytest.mark.parametrize("runscript_case", ["recipe", "entrypoint", "includecmd", "cmd", "none"])
def test_user_built_images_run(singularity, images, user_dir, test_user, run_as_user,
                               runscript_case):
    """Each runscript rule, built by a normal user and run with `singularity run`."""
    ref = {"recipe": images["cmd"], "entrypoint": images["entrypoint"],
           "includecmd": images["entrypoint"], "cmd": images["cmd"],
           "none": images["none"]}[runscript_case]
    user_write(test_user, user_dir / "data.txt", "data from the host\n")
    if runscript_case == "recipe":
        text = USER_RECIPE.format(ref=ref)
    else:
        text = f"Bootstrap: docker\nFrom: {ref}\n"
        if runscript_case == "includecmd":
            text += "IncludeCmd: yes\n"
    recipe = user_write(test_user, user_dir / "u.def", text)
    out = user_dir / "u.sif"
    r = run_as_user([singularity, "build", "--nohttps", out, recipe], cwd=str(user_dir))
    assert r.returncode == 0, r.stderr
    def run(*args):
        return run_as_user([singularity, "run", out, *args], cwd=str(user_dir), input="")

    if runscript_case == "recipe":  # 1. %runscript wins
        assert run("arg one").stdout == "runscript says arg one\n"
    elif runscript_case == "entrypoint":  # 2. ENTRYPOINT, CMD as default arguments
        assert run().stdout == "from-entrypoint default-arg\n"
        assert run("arg one").stdout == "from-entrypoint arg one\n"
    elif runscript_case == "includecmd":  # 3. IncludeCmd: CMD (["default-arg"]) runs
        r = run()
        assert r.returncode == 127 and "default-arg" in r.stderr, r.stderr
    elif runscript_case == "cmd":  # 3. CMD, replaced by run's arguments
        assert run().stdout == "from-cmd\n"
        assert run("/bin/echo", "replaced").stdout == "replaced\n"
    else:  # 4. the container's shell
        r = run("-c", "echo shell-ran")
        assert r.stdout == "shell-ran\n", r.stderr
    if runscript_case == "recipe":
        r = run_as_user([singularity, "exec", out, "sh", "-c",
                         'cat /opt/data.txt; echo "$RECIPE_VAR"'], cwd=str(user_dir))
        assert r.stdout == "data from the host\nfrom-recipe\n", r.stderr
        r = run_as_user([singularity, "inspect", "--labels", out])
        assert "Jane Doe" in r.stdout
        r = run_as_user([singularity, "inspect", "--helpfile", out])
        assert "Helpful text." in r.stdout
        r = run_as_user([singularity, "run-help", out])
        assert r.returncode == 0 and "Helpful text." in r.stdout, r.stderr
        r = run_as_user([singularity, "test", out], cwd=str(user_dir))
        assert r.returncode == 0 and r.stdout == "test sees from-recipe\n", r.stderr
        r = run_as_user([singularity, "test", out], cwd=str(user_dir), env={"TEST_STATUS": "3"})
        assert r.returncode == 3, r.stderr
    assert leftovers(user_dir, ["u.def", "u.sif", "data.txt"]) == []


# --------------------------------------------------------------------------
# Multi-stage recipes and build arguments (issue 13), by a normal user


def test_user_multi_stage_with_build_args(singularity, user_dir, test_user, run_as_user,
                                          local_layout):
    layout = local_layout[4:].rsplit(":", 1)[0]
    recipe = user_write(test_user, user_dir / "ms.def", f"""
        Bootstrap: oci
        From: {layout}:v1
        Stage: build

        %post
            mkdir -p /out/sub
            echo "built {{{{ WHAT }}}}" > /out/sub/result
            ln -s /etc/shadow /out/hostlink

        Bootstrap: oci
        From: {layout}:{{{{ TAG }}}}
        Stage: final

        %arguments
            TAG=v1
            WHAT=nothing

        %files from build
            /out/sub/result /result
            /out /copied/

        %runscript
            cat /result
    """)
    args = user_write(test_user, user_dir / "args.txt", "# from a file\nWHAT = from-file\n")
    out = user_dir / "ms.sif"
    r = run_as_user([singularity, "build", "--build-arg-file", args, out, recipe])
    assert r.returncode == 0, r.stderr
    assert "Building stage 1/2: build" in r.stderr
    assert squashfs_cat(str(out), "/result") == b"built from-file\n"
    owners = squashfs_list(str(out))
    # A symlink in the stage is copied as a symlink, never resolved on the host.
    assert owners["/copied/out/hostlink"][0].startswith("l")
    assert squashfs_cat(str(out), "/copied/out/sub/result") == b"built from-file\n"
    # --build-arg wins over the file and the default.
    out2 = user_dir / "ms2.sif"
    r = run_as_user([singularity, "build", "--build-arg-file", args, "--build-arg",
                     "WHAT=cli", out2, recipe])
    assert r.returncode == 0, r.stderr
    r = run_as_user([singularity, "run", out2])
    assert r.stdout == "built cli\n", r.stderr
    assert leftovers(user_dir, ["ms.def", "args.txt", "ms.sif", "ms2.sif"]) == []


def test_user_recipe_undefined_argument_and_unknown_stage(singularity, user_dir, test_user,
                                                          run_as_user, local_layout):
    recipe = user_write(test_user, user_dir / "u.def", f"""
        Bootstrap: oci
        From: {local_layout[4:]}
        %post
            echo {{{{ NOPE }}}}
    """)
    r = run_as_user([singularity, "build", user_dir / "u.sif", recipe])
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR")]
    assert r.returncode == 255 and len(errors) == 1, r.stderr
    assert f"{recipe}:4: build argument \"NOPE\" has no value" in errors[0]
    recipe = user_write(test_user, user_dir / "s.def", f"""
        Bootstrap: oci
        From: {local_layout[4:]}
        %files from nowhere
            /etc/hostname /h
    """)
    r = run_as_user([singularity, "build", user_dir / "s.sif", recipe])
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR")]
    assert r.returncode == 255 and len(errors) == 1, r.stderr
    assert f"{recipe}:3: %files from nowhere: no earlier stage" in errors[0]
    assert leftovers(user_dir, ["u.def", "s.def"]) == []


def test_user_build_docker_goes_through_pull_and_its_sif_cache(singularity, registry,
                                                               unique_repo, busybox, user_dir,
                                                               run_as_user, clean_user_cache):
    imagetools.push_image(registry, unique_repo, "v1", busybox)
    ref = f"docker://{registry.hostport}/{unique_repo}:v1"
    blobs = f"/v2/{unique_repo}/blobs/"
    r = run_as_user([singularity, "build", "--nohttps", user_dir / "a.sif", ref])
    assert r.returncode == 0, r.stderr
    fetched = registry.count(blobs, "GET")
    assert fetched >= 2  # config + layer
    # The second build takes the SIF the first left in the cache: no blob
    # request, the same bytes.
    r = run_as_user([singularity, "build", "--nohttps", user_dir / "b.sif", ref])
    assert r.returncode == 0, r.stderr
    assert "Using cached SIF image" in r.stderr
    assert registry.count(blobs, "GET") == fetched
    assert (user_dir / "a.sif").read_bytes() == (user_dir / "b.sif").read_bytes()
    assert leftovers(user_dir, ["a.sif", "b.sif"]) == []


# --------------------------------------------------------------------------
# Reproducible builds (issue 13): SOURCE_DATE_EPOCH gives byte-identical SIFs


def test_user_source_date_epoch_builds_are_byte_identical(singularity, user_dir, test_user,
                                                          run_as_user, local_layout):
    recipe = user_write(test_user, user_dir / "r.def", f"""
        Bootstrap: oci
        From: {local_layout[4:]}
        %post
            echo hello > /hello
            mkdir -p /opt/made && touch /opt/made/file
        %labels
            Team hpc
        %environment
            export X=1
        %runscript
            cat /hello
    """)
    epoch = {"SOURCE_DATE_EPOCH": "1700000000"}
    outs = []
    for name, env in (("a", epoch), ("b", epoch), ("c", None)):
        out = user_dir / f"{name}.sif"
        r = run_as_user([singularity, "build", out, recipe], env=env)
        assert r.returncode == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1], "two builds with SOURCE_DATE_EPOCH differ"
    assert outs[0] != outs[2]  # without it: the build time and a random UUID
    # The header's creation time is the epoch; the SIF says where it came from.
    assert struct.unpack_from("<q", outs[0], 64)[0] == 1700000000
    r = run_as_user([singularity, "inspect", user_dir / "a.sif"])
    assert r.returncode == 0, r.stderr
    assert "org.opencontainers.image.base.name: " + local_layout in r.stdout
    layout_dir = local_layout[4:].rsplit(":", 1)[0]
    with open(os.path.join(layout_dir, "index.json")) as f:
        digest = json.load(f)["manifests"][0]["digest"]
    assert "org.opencontainers.image.base.digest: " + digest in r.stdout
    assert "build-date: Tuesday_14_November_2023_22:13:20_UTC" in r.stdout
    # A pull is reproducible too.
    pulls = []
    for name in ("p1", "p2"):
        out = user_dir / f"{name}.sif"
        r = run_as_user([singularity, "pull", out, local_layout], env=epoch)
        assert r.returncode == 0, r.stderr
        pulls.append(out.read_bytes())
    assert pulls[0] == pulls[1]
    r = run_as_user([singularity, "pull", user_dir / "bad.sif", local_layout],
                    env={"SOURCE_DATE_EPOCH": "yesterday"})
    assert r.returncode == 255 and "SOURCE_DATE_EPOCH" in r.stderr
    assert leftovers(user_dir, ["r.def", "a.sif", "b.sif", "c.sif", "p1.sif", "p2.sif"]) == []


# The build environment of %setup / %post, and the umask (issue 9)


def test_setup_and_post_variables(singularity, images, tmp_path):
    """%setup runs on the host as root: SINGULARITY_ROOTFS / APPTAINER_ROOTFS
    must name the image root (absolute, also for a relative OUT), or `touch
    $X/file` writes the host's /file. %post gets SINGULARITY_ENVIRONMENT and
    SINGULARITY_LABELS (and the APPTAINER_ twins); the labels land in
    labels.json and the file does not stay in the image."""
    mark = "sing-setup-" + os.urandom(4).hex()
    recipe = write_recipe(tmp_path / "env.def", f"""
        Bootstrap: docker
        From: {images["cmd"]}

        %setup
            touch "${{SINGULARITY_ROOTFS}}/{mark}-s"
            touch "${{APPTAINER_ROOTFS}}/{mark}-a"
            case "$SINGULARITY_ROOTFS" in /*) ;; *) exit 7 ;; esac

        %post
            test "$SINGULARITY_ROOTFS" = / && test "$APPTAINER_ROOTFS" = /
            echo 'export FROM_POST=yes' >> "$SINGULARITY_ENVIRONMENT"
            echo 'export FROM_POST_A=yes' >> "$APPTAINER_ENVIRONMENT"
            echo "post.label value one" >> "$SINGULARITY_LABELS"
            echo "post.twin two" >> "$APPTAINER_LABELS"
        """)
    for out, args in (("env.sif", []), ("envsb", ["--sandbox"])):
        try:
            ok(sing(singularity, "build", "--nohttps", *args, out, recipe, cwd=tmp_path))
            for suffix in ("-s", "-a"):
                assert not os.path.exists(f"/{mark}{suffix}"), "%setup wrote the host's /"
            if args:
                root = tmp_path / out
                for suffix in ("-s", "-a"):
                    assert (root / f"{mark}{suffix}").exists()
                labels = json.loads((root / ".singularity.d" / "labels.json").read_text())
                env = (root / ".singularity.d" / "env" / "91-environment.sh").read_text()
                assert not (root / ".build.labels").exists()
            else:
                sif = str(tmp_path / out)
                names = squashfs_list(sif)
                for suffix in ("-s", "-a"):
                    assert f"/{mark}{suffix}" in names, sorted(names)[:20]
                labels = json.loads(object_data(sif, LABELS))
                env = squashfs_cat(sif, "/.singularity.d/env/91-environment.sh").decode()
                assert "/.build.labels" not in names
            assert labels["post.label"] == "value one"
            assert labels["post.twin"] == "two"
            assert "FROM_POST=yes" in env and "FROM_POST_A=yes" in env
        finally:
            for suffix in ("-s", "-a"):
                if os.path.exists(f"/{mark}{suffix}"):
                    os.unlink(f"/{mark}{suffix}")


def test_sandbox_follows_umask(singularity, images, user_dir, run_as_user, clean_user_cache):
    """build --sandbox under umask 077: nobody else can look in."""
    for umask, want in (("077", 0o700), ("022", 0o755)):
        out = user_dir / f"sb-{umask}"
        r = run_as_user(["sh", "-c", f'umask {umask}; exec "$0" "$@"', singularity, "build",
                         "--nohttps", "--sandbox", str(out), "docker://" + images["cmd"]])
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(os.stat(out).st_mode) == want, (umask, oct(os.stat(out).st_mode))


def test_docker_recipe_takes_the_cached_sif_only_on_a_hit(singularity, registry, user_dir,
                                                         test_user, run_as_user,
                                                         clean_user_cache, unique_repo):
    """Bootstrap docker (issues 13 and 17): a base not in the SIF cache is
    built from its layers (no SIF made only to be unsquashed again), with the
    blobs kept, so neither a rebuild nor a later pull downloads a blob; a
    base already pulled is taken from the SIF cache. Both paths give the same
    labels, OCI config, owners and %post result."""
    img = imagetools.busybox_image(
        extra_layers=[[Dir("opt"), File("opt/owned", "x", uid=1000, gid=1000)]])
    imagetools.push_image(registry, unique_repo, "t", img)
    recipe = user_write(test_user, user_dir / "c.def", f"""
        Bootstrap: docker
        Registry: http://{registry.hostport}
        From: {unique_repo}:t
        %labels
            Team hpc
        %post
            touch /post-ran
        %runscript
            echo from the recipe
        """)
    blob_gets = lambda: registry.count(rf"/{unique_repo}/blobs/", method="GET")
    sifdir = os.path.join(clean_user_cache, "sif")
    cached_sifs = lambda: [f for f in os.listdir(sifdir) if f.endswith(".sif")] \
        if os.path.isdir(sifdir) else []
    # Cold: the layers, no conversion into the SIF cache.
    r = run_as_user([singularity, "build", user_dir / "cold.sif", recipe])
    assert r.returncode == 0, r.stderr
    assert "Using cached SIF image" not in r.stderr
    assert cached_sifs() == []
    cold_gets = blob_gets()
    assert cold_gets >= 3  # config + two layers
    # A rebuild: every blob from the blob cache.
    r = run_as_user([singularity, "build", user_dir / "again.sif", recipe])
    assert r.returncode == 0, r.stderr
    assert blob_gets() == cold_gets
    assert cached_sifs() == []
    # A pull of the same reference only converts.
    r = run_as_user([singularity, "pull", "--nohttps", "--name", "p.sif",
                     f"docker://{registry.hostport}/{unique_repo}:t"], cwd=str(user_dir))
    assert r.returncode == 0, r.stderr
    assert "Using cached SIF image" not in r.stderr
    assert blob_gets() == cold_gets
    assert len(cached_sifs()) == 1
    digest = [l.split("Digest: ")[1] for l in r.stderr.splitlines() if "Digest: " in l][0]
    # A build after the pull takes its SIF.
    r = run_as_user([singularity, "build", user_dir / "hit.sif", recipe])
    assert r.returncode == 0, r.stderr
    assert "Using cached SIF image" in r.stderr
    assert blob_gets() == cold_gets
    # The same image either way.
    made = {}
    for name in ("cold", "hit"):
        sif = str(user_dir / f"{name}.sif")
        labels = json.loads(squashfs_cat(sif, "/.singularity.d/labels.json"))
        del labels["org.label-schema.build-date"]
        r = run_as_user([singularity, "inspect", sif])
        assert r.returncode == 0, r.stderr
        made[name] = dict(
            labels=labels,
            label_keys=list(labels),
            inspect=[l for l in r.stdout.splitlines() if "build-date" not in l],
            oci_config=siftools.object_bytes(sif, 0x4006),
            tree=squashfs_list(sif),
            post=squashfs_cat(sif, "/post-ran"),
            runscript=squashfs_cat(sif, "/.singularity.d/runscript"),
            env=sorted(p for p in squashfs_list(sif) if p.startswith("/.singularity.d/env/")))
    cold, hit = made["cold"], made["hit"]
    assert cold["labels"]["org.opencontainers.image.base.digest"] == digest
    assert cold["labels"]["org.opencontainers.image.base.name"] == \
        f"docker://{registry.hostport}/{unique_repo}:t"
    assert cold["labels"]["Team"] == "hpc"
    assert cold["oci_config"] is not None and json.loads(cold["oci_config"])["rootfs"]
    assert cold["post"] == b""
    assert cold["tree"]["/opt/owned"][1:] == (1000, 1000)
    assert b"echo from the recipe" in cold["runscript"]
    for key in cold:
        assert cold[key] == hit[key], key


def slow_base_image(registry, unique_repo, make_fault_proxy):
    """busybox, then a 1 MiB layer of random bytes the proxy streams slowly
    (4 s or more), then a small top layer: (recipe's From and Registry
    lines, the image, the slow layer's digest, the proxy)."""
    img = imagetools.busybox_image(extra_layers=[
        [Dir("opt"), File("opt/base.bin", os.urandom(1 << 20))],
        [Dir("opt"), File("opt/top-marker", "top\n")]])
    imagetools.push_image(registry, unique_repo, "slow", img)
    slow = img.layer_digests[1]
    proxy = make_fault_proxy(registry)
    header = f"Bootstrap: docker\nRegistry: http://{proxy.hostport}\nFrom: {unique_repo}:slow\n"
    return header, img, slow, proxy


def test_docker_recipe_merges_layers_while_the_base_downloads(singularity, registry, user_dir,
                                                             test_user, clean_user_cache,
                                                             unique_repo, make_fault_proxy):
    """Bootstrap docker from layers (issue 17): the build merges each layer
    as it arrives, top-down as a pull does, so the top layer is in the build
    tree while a lower one is still downloading."""
    from conftest import user_env
    import time
    header, img, slow, proxy = slow_base_image(registry, unique_repo, make_fault_proxy)
    proxy.slow_blob(0.25, pattern=rf"/blobs/{slow}$")
    recipe = user_write(test_user, user_dir / "overlap.def", header + "%post\n    touch /post-ran\n")
    out = user_dir / "overlap.sif"
    slow_blob = os.path.join(clean_user_cache, "blobs", "sha256", slow.split(":")[1])
    p = subprocess.Popen(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups",
                          singularity, "build", str(out), str(recipe)],
                         cwd=str(user_dir), env=user_env(), stderr=subprocess.PIPE, text=True)
    seen, slow_there = None, None
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and seen is None:
        for root, _, files in os.walk(user_dir):
            if "top-marker" in files and root.endswith("/rootfs/opt"):
                seen = os.path.join(root, "top-marker")
                slow_there = os.path.exists(slow_blob)
        time.sleep(0.02)
    _, err = p.communicate(timeout=180)
    assert p.returncode == 0, err
    assert seen, "the top layer never showed in the build tree:\n" + err
    assert slow_there is False, "the top layer was merged only after the base's download"
    assert os.path.exists(slow_blob)  # kept for the next build
    for inner, want in (("/opt/top-marker", b"top\n"), ("/post-ran", b"")):
        assert squashfs_cat(str(out), inner) == want
    assert len(squashfs_cat(str(out), "/opt/base.bin")) == 1 << 20
    assert leftovers(user_dir, ["overlap.def", "overlap.sif"]) == []


def test_docker_recipe_base_download_failing_under_the_merge(singularity, registry, user_dir,
                                                            test_user, run_as_user,
                                                            clean_user_cache, unique_repo,
                                                            make_fault_proxy):
    """A layer that fails its digest while the merge waits for it: the
    build ends with the download's own error, status 255, and leaves no
    output, no build tree and no blob of that digest."""
    header, img, slow, proxy = slow_base_image(registry, unique_repo, make_fault_proxy)
    proxy.corrupt_blob(pattern=rf"/blobs/{slow}$")
    recipe = user_write(test_user, user_dir / "bad.def", header + "%post\n    touch /post-ran\n")
    r = run_as_user([singularity, "build", user_dir / "bad.sif", recipe], cwd=str(user_dir))
    assert r.returncode == 255, r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith(("ERROR", "FATAL"))]
    assert len(errors) == 1 and slow.split(":")[1][:12] in errors[0], r.stderr
    assert "digest" in errors[0].lower(), errors
    assert leftovers(user_dir, ["bad.def"]) == []
    blobs = os.path.join(clean_user_cache, "blobs", "sha256")
    assert slow.split(":")[1] not in os.listdir(blobs)
    assert all(not n.startswith(".") for n in os.listdir(blobs)), os.listdir(blobs)


def test_docker_recipe_layers_from_a_token_registry_renewing_its_token(
        singularity, make_registry, make_fault_proxy, user_dir, test_user, run_as_user,
        clean_user_cache, unique_repo):
    """The layers download in the build's own process (the --fakeroot
    child, since issue 17's overlap): it still answers the token server when
    the token expires mid-download (1 s tokens, a layer failing 3 times so
    that the retries outlast one), with the credentials of the environment."""
    reg = make_registry("token", token_kwargs={"expires_in": 1})
    img = imagetools.busybox_image(extra_layers=[[File("opt/x", "x\n")]])
    pushed = imagetools.push_image(reg, unique_repo, "t", img)
    proxy = make_fault_proxy(reg)
    proxy.fail(500, times=3, pattern=r"/blobs/" + pushed.layer_digests[-1] + "$")
    recipe = user_write(test_user, user_dir / "tok.def", f"""
        Bootstrap: docker
        Registry: http://{proxy.hostport}
        From: {unique_repo}:t
        %post
            touch /post-ran
        """)
    user, password = reg.credentials()
    reg.token_server.reset_counters()
    r = run_as_user([singularity, "build", user_dir / "tok.sif", recipe], cwd=str(user_dir),
                    env={"SINGULARITY_DOCKER_USERNAME": user,
                         "SINGULARITY_DOCKER_PASSWORD": password})
    assert r.returncode == 0, r.stderr
    assert "--fakeroot" in r.stderr  # the layers came to the user namespace's child
    assert reg.token_server.tokens_issued >= 2
    assert squashfs_cat(str(user_dir / "tok.sif"), "/opt/x") == b"x\n"
    assert leftovers(user_dir, ["tok.def", "tok.sif"]) == []


def test_docker_recipe_layers_over_tls(singularity, registry_tls, user_dir, test_user,
                                       run_as_user, clean_user_cache, unique_repo):
    """The same child downloads over HTTPS with the user's SSL_CERT_FILE."""
    img = imagetools.busybox_image(extra_layers=[[File("opt/tls", "tls\n")]])
    imagetools.push_image(registry_tls, unique_repo, "t", img)
    ca = user_dir / "ca.pem"
    shutil.copy(registry_tls.ca_file, ca)
    os.chmod(ca, 0o644)
    recipe = user_write(test_user, user_dir / "tls.def", f"""
        Bootstrap: docker
        Registry: {registry_tls.hostport}
        From: {unique_repo}:t
        %post
            touch /post-ran
        """)
    r = run_as_user([singularity, "build", user_dir / "tls.sif", recipe], cwd=str(user_dir),
                    env={"SSL_CERT_FILE": str(ca)})
    assert r.returncode == 0, r.stderr
    assert squashfs_cat(str(user_dir / "tls.sif"), "/opt/tls") == b"tls\n"
    assert registry_tls.count(rf"/{unique_repo}/blobs/sha256:", method="GET") >= 2


NO_TMPFILE_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
/* A file system without O_TMPFILE (NFS): temp files get names. */
static int refuse(int flags) { return (flags & O_TMPFILE) == O_TMPFILE; }
#define WRAP(name, ...)                                                        \
    va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, mode_t); va_end(ap); \
    if (refuse(flags)) { errno = EOPNOTSUPP; return -1; }                      \
    static int (*real)(); if (!real) real = (int (*)())dlsym(RTLD_NEXT, name); \
    return real(__VA_ARGS__, flags, m);
int open(const char *p, int flags, ...) { WRAP("open", p) }
int open64(const char *p, int flags, ...) { WRAP("open64", p) }
int openat(int d, const char *p, int flags, ...) { WRAP("openat", d, p) }
int openat64(int d, const char *p, int flags, ...) { WRAP("openat64", d, p) }
"""


def test_docker_recipe_interrupted_while_the_child_downloads(singularity, registry, user_dir,
                                                            test_user, clean_user_cache,
                                                            unique_repo, make_fault_proxy):
    """SIGTERM to the build (not its process group, as a batch system may
    send it) while its user-namespace child downloads a layer, on a file
    system without O_TMPFILE: the child gets the signal and removes its
    named temp blob before it goes; no output, no build tree, no temp file."""
    from conftest import user_env
    import signal
    import time
    shim_dir = tempfile.mkdtemp(prefix="sing-notmpfile-")
    os.chmod(shim_dir, 0o755)
    src, shim = os.path.join(shim_dir, "s.c"), os.path.join(shim_dir, "notmpfile.so")
    with open(src, "w") as f:
        f.write(NO_TMPFILE_C)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, src, "-ldl"], check=True)
    header, img, slow, proxy = slow_base_image(registry, unique_repo, make_fault_proxy)
    proxy.slow_blob(0.25, pattern=rf"/blobs/{slow}$")
    recipe = user_write(test_user, user_dir / "int.def", header + "%post\n    touch /post-ran\n")
    blobs = os.path.join(clean_user_cache, "blobs", "sha256")
    temps = lambda: [n for n in os.listdir(blobs) if n.startswith(".")] \
        if os.path.isdir(blobs) else []
    p = subprocess.Popen(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups",
                          singularity, "build", str(user_dir / "int.sif"), str(recipe)],
                         cwd=str(user_dir),
                         # Under tools/sanitize-integration.sh the shim comes
                         # before ASan's runtime, which ASan would refuse.
                         env=user_env({"LD_PRELOAD": shim,
                                       "ASAN_OPTIONS": "verify_asan_link_order=0"}),
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None and not temps():
            time.sleep(0.02)
        assert temps(), "no named temp blob appeared (is O_TMPFILE still used?):\n" + (
            p.stderr.read() if p.poll() is not None else "")
        os.kill(p.pid, signal.SIGTERM)  # the parent (setpriv execs it) only
        _, err = p.communicate(timeout=60)
    finally:
        shutil.rmtree(shim_dir)
    assert p.returncode != 0
    assert temps() == [], err
    assert slow.split(":")[1] not in os.listdir(blobs)
    assert leftovers(user_dir, ["int.def"]) == [], err


def test_multi_stage_recipe_fetches_every_stage_before_any_post(singularity, registry,
                                                               user_dir, test_user,
                                                               run_as_user, clean_user_cache,
                                                               unique_repo, make_fault_proxy):
    """A multi-stage recipe downloads all its stages' layers before it
    builds any: a later stage's bad blob fails the build before the first
    stage's %post runs (one-stage recipes download beside the merge)."""
    first = imagetools.busybox_image(extra_layers=[[File("first", "1\n")]])
    second = imagetools.busybox_image(extra_layers=[[File("second", "2\n")]])
    imagetools.push_image(registry, unique_repo, "first", first)
    imagetools.push_image(registry, unique_repo, "second", second)
    proxy = make_fault_proxy(registry)
    proxy.corrupt_blob(pattern=rf"/blobs/{second.layer_digests[-1]}$")
    recipe = user_write(test_user, user_dir / "ms.def", f"""
        Bootstrap: docker
        Registry: http://{proxy.hostport}
        From: {unique_repo}:first
        Stage: one
        %post
            touch /post-one

        Bootstrap: docker
        Registry: http://{proxy.hostport}
        From: {unique_repo}:second
        Stage: two
        %files from one
            /post-one /post-one
        """)
    r = run_as_user([singularity, "build", user_dir / "ms.sif", recipe], cwd=str(user_dir))
    assert r.returncode == 255, r.stderr
    assert second.layer_digests[-1].split(":")[1][:12] in r.stderr
    assert "Running %post" not in r.stderr and "Building stage" not in r.stderr, r.stderr
    assert leftovers(user_dir, ["ms.def"]) == []
