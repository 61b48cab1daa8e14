"""--fakeroot (root in a user namespace with the subordinate ids) and
--overlay DIR[:ro] (a persistent writable directory overlay, read-only
layers) on run/exec/shell/test/instance start, as the normal test user
with the setuid starter from the prefix, in every run mode."""

import os
import shutil
import subprocess
import tempfile

import pytest

import imagetools
import siftools
from conftest import ensure_user, ensure_user2, run_as_user, user_env, user_without_subids


@pytest.fixture(scope="module")
def images(registry):
    """A SIF of a busybox image, readable by the user, and a directory to
    make sandboxes in."""
    user = ensure_user()
    # /data: where the user may write as themselves (the rest is root's).
    extra = [imagetools.File("etc/marker", "image\n"), imagetools.Dir("data", 0o777),
             imagetools.File("data/marker", "image\n", mode=0o666),
             imagetools.File("data/gone", "x\n", mode=0o666),
             # A setuid-root program in a directory anyone may rename in.
             imagetools.Dir("suid", 0o777),
             imagetools.File("suid/prog", "#!/bin/sh\nid -u\n", mode=0o4755),
             # What `singularity test` runs.
             imagetools.File(".singularity.d/test", "#!/bin/sh\necho test-uid=$(id -u)\n",
                             mode=0o755)]
    img = imagetools.busybox_image(extra_layers=[extra])
    imagetools.push_image(registry, "test/fakeroot-overlay", "latest", img)
    d = tempfile.mkdtemp(prefix="sing-fakeroot-")
    os.chmod(d, 0o755)
    os.chown(d, user.uid, user.gid)
    r = run_as_user(["singularity", "pull", "--nohttps", "--name", "img.sif",
                     f"docker://{registry.hostport}/test/fakeroot-overlay:latest"], cwd=d)
    assert r.returncode == 0, r.stderr
    yield dict(dir=d, sif=os.path.join(d, "img.sif"))
    shutil.rmtree(d, ignore_errors=True)


def sing(*args, env=None, cwd=None, **kw):
    return run_as_user(["singularity", *args], env=env, cwd=cwd, **kw)


def ok(r):
    assert r.returncode == 0, r.stderr
    return r


def one_error(r, needle):
    """Refused: status 255 and one ERROR line naming what was wrong."""
    assert r.returncode == 255, (r.returncode, r.stdout, r.stderr)
    errors = [line for line in r.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and needle in errors[0], r.stderr


def subid_start(user, path):
    with open(path) as f:
        for line in f:
            name, start, count = line.strip().split(":")
            if name == user:
                return int(start), int(count)
    pytest.skip(f"{user} has no range in {path}")


def user_sandbox(images, test_user):
    """A fresh sandbox of the image, every file owned by the user (as
    `build --sandbox` by the user makes it)."""
    d = tempfile.mkdtemp(prefix="sb-", dir=images["dir"])
    root = os.path.join(d, "root")
    siftools.extract(images["sif"], root)
    subprocess.run(["chown", "-R", "-h", f"{test_user.uid}:{test_user.gid}", d], check=True)
    os.chmod(d, 0o755)
    return root


# --------------------------------------------------------------------------
# --fakeroot


@pytest.mark.parametrize("flag", ["--fakeroot", "-f"])
def test_fakeroot_is_root_mapped_to_the_user_and_the_subordinate_ids(images, run_mode, test_user,
                                                                     user_tmp, flag):
    start, count = subid_start(test_user.name, "/etc/subuid")
    gstart, gcount = subid_start(test_user.name, "/etc/subgid")
    r = ok(sing("exec", flag, images["sif"], "sh", "-c",
                f"id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; cd {user_tmp} && "
                "touch owned && chown 1:1 owned && touch mine && echo chowned"))
    lines = r.stdout.split("\n")
    assert lines[0] == "0" and lines[1] == "0", r.stdout
    maps = [line.split() for line in lines[2:6]]
    assert maps == [["0", str(test_user.uid), "1"], ["1", str(start), str(count)],
                    ["0", str(test_user.gid), "1"], ["1", str(gstart), str(gcount)]], r.stdout
    assert "chowned" in r.stdout
    # Inside uid 1 is the first subordinate id; root's files are the user's.
    st = os.stat(os.path.join(user_tmp, "owned"))
    assert (st.st_uid, st.st_gid) == (start, gstart)
    st = os.stat(os.path.join(user_tmp, "mine"))
    assert (st.st_uid, st.st_gid) == (test_user.uid, test_user.gid)
    os.unlink(os.path.join(user_tmp, "owned"))


def test_fakeroot_home_is_root_with_the_users_home_bound_there(images, run_mode, test_user):
    marker = os.path.join(test_user.home, "fakeroot-home-marker")
    with open(marker, "w") as f:
        f.write("in the home\n")
    os.chown(marker, test_user.uid, test_user.gid)
    try:
        r = ok(sing("exec", "--fakeroot", images["sif"], "sh", "-c",
                    "echo $HOME; cat /root/fakeroot-home-marker; grep ^root: /etc/passwd"))
        assert r.stdout.split("\n")[:3] == ["/root", "in the home",
                                            "root:x:0:0:root:/root:/bin/sh"], r.stdout
    finally:
        os.unlink(marker)


def test_fakeroot_run_shell_and_test_actions(images, run_mode):
    r = ok(sing("run", "--fakeroot", images["sif"], "-c", "id -u"))
    assert r.stdout.strip() == "0"
    r = ok(sing("shell", "--fakeroot", images["sif"], input="id -u\n"))
    assert r.stdout.strip().endswith("0"), r.stdout
    r = ok(sing("test", "--fakeroot", images["sif"]))
    assert r.stdout.strip() == "test-uid=0", r.stdout
    # Without it, the same test script runs as the user.
    r = ok(sing("test", images["sif"]))
    assert r.stdout.strip() == f"test-uid={ensure_user().uid}", r.stdout


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_fakeroot_from_the_environment(images, run_mode, value):
    for var in ("SINGULARITY_FAKEROOT", "APPTAINER_FAKEROOT"):
        r = ok(sing("exec", images["sif"], "id", "-u", env={var: value}))
        assert r.stdout.strip() == "0", (var, r.stdout)
        r = ok(sing("test", images["sif"], env={var: value}))
        assert r.stdout.strip() == "test-uid=0", (var, r.stdout)
    # Off is off.
    r = ok(sing("exec", images["sif"], "id", "-u", env={"SINGULARITY_FAKEROOT": "0"}))
    assert r.stdout.strip() == str(ensure_user().uid), r.stdout


def test_fakeroot_without_subordinate_ids_maps_only_the_users_id(images, run_mode):
    pw = user_without_subids()
    env = {"HOME": pw.pw_dir, "USER": pw.pw_name, "LANG": "C.UTF-8",
           "PATH": user_env()["PATH"]}
    cmd = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups",
           "singularity", "exec", "--fakeroot", images["sif"], "sh", "-c",
           "id -u; cat /proc/self/uid_map; cd /tmp && touch f-$$ && "
           "(chown 1:1 f-$$ 2>/dev/null && echo chowned || echo refused); rm -f f-$$"]
    r = subprocess.run(cmd, env=env, cwd="/", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(pw.pw_uid), "1"] and lines[2] == "refused", r.stdout
    notes = [line for line in r.stderr.splitlines() if "--fakeroot" in line]
    assert len(notes) == 1 and "no subordinate id range" in notes[0] and \
        "only your own id is mapped" in notes[0], r.stderr


def test_fakeroot_writable_sandbox_edits_passwd_as_root(images, run_mode, test_user):
    root = user_sandbox(images, test_user)
    try:
        r = ok(sing("exec", "--fakeroot", "--writable", root, "sh", "-c",
                    "echo 'svc:x:101:101::/nonexistent:/bin/false' >> /etc/passwd && "
                    "echo 'svc:x:101:' >> /etc/group && mkdir -p /srv/svc && "
                    "chown 101:101 /srv/svc && grep -c . /etc/passwd"))
        assert r.stdout.strip() == "3", r.stdout
        with open(os.path.join(root, "etc", "passwd")) as f:
            assert f.read().splitlines() == [
                "root:x:0:0:root:/root:/bin/sh",
                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false",
                "svc:x:101:101::/nonexistent:/bin/false"]
        start, _ = subid_start(test_user.name, "/etc/subuid")
        assert os.stat(os.path.join(root, "srv", "svc")).st_uid == start + 100
        # The same without --fakeroot: the user, with a generated read-only passwd.
        r = sing("exec", "--writable", root, "sh", "-c", "echo x >> /etc/passwd")
        assert r.returncode != 0
    finally:
        shutil.rmtree(os.path.dirname(root), ignore_errors=True)


def test_fakeroot_instance_and_joining_it(images, run_mode, test_user):
    name = f"fr{os.getpid()}"
    ok(sing("instance", "start", "--fakeroot", images["sif"], name))
    try:
        r = ok(sing("exec", f"instance://{name}", "sh", "-c", "id -u; echo $HOME"))
        assert r.stdout.split("\n")[:2] == ["0", "/root"], r.stdout
    finally:
        ok(sing("instance", "stop", name))


# --------------------------------------------------------------------------
# --overlay


def user_dir(parent, name, user):
    path = os.path.join(parent, name)
    os.mkdir(path, 0o755)
    os.chown(path, user.uid, user.gid)
    return path


@pytest.mark.parametrize("flag", ["--overlay", "-o"])
def test_overlay_directory_persists_changes(images, run_mode, test_user, user_tmp, flag):
    ov = user_dir(user_tmp, "ov", test_user)
    # Every mode is a user namespace mapping only the user (a setuid starter
    # too: root must not copy up into the user's directory), which cannot
    # copy up root's directories (as --writable-tmpfs there); the top is the
    # user's.
    ok(sing("exec", flag, ov, images["sif"], "sh", "-c", "echo kept > /persisted"))
    r = ok(sing("exec", flag, ov, images["sif"], "cat", "/persisted"))
    assert r.stdout == "kept\n"
    persisted = "persisted"
    # Apptainer's layout: the changes in DIR/upper, DIR/work beside it, the user's.
    upper = os.path.join(ov, "upper")
    assert os.stat(os.path.join(upper, persisted)).st_uid == test_user.uid
    assert os.stat(upper).st_uid == test_user.uid
    assert os.path.isdir(os.path.join(ov, "work"))
    # Without the overlay the image is as it was.
    r = ok(sing("exec", images["sif"], "sh", "-c",
                "cat /data/marker; test -e /data/persisted -o -e /persisted || echo absent"))
    assert r.stdout == "image\nabsent\n"


def test_overlay_never_copies_up_root_owned_files_into_the_users_directory(images, run_mode,
                                                                          test_user, user_tmp):
    # overlayfs copies up with its mounter's credentials: mounted by root,
    # renaming the image's setuid-root program (in a 0777 directory) would
    # leave a real setuid-root program, with the image's content, in the
    # user's upper on the host.
    ov = user_dir(user_tmp, "ov", test_user)
    r = sing("exec", "--overlay", ov, images["sif"], "sh", "-c",
             "mv /suid/prog /suid/moved; mkdir -p /data/new; touch /suid/prog2 /new")
    upper = os.path.join(ov, "upper")
    assert os.path.exists(os.path.join(upper, "new")), r.stderr
    rootfiles = []
    for d, dirs, files in os.walk(upper):
        for name in dirs + files:
            st = os.lstat(os.path.join(d, name))
            if st.st_uid == 0 or st.st_gid == 0:
                rootfiles.append((os.path.join(d, name), oct(st.st_mode)))
    assert rootfiles == [], rootfiles


def test_overlay_with_fakeroot_keeps_root_owned_changes(images, run_mode, test_user, user_tmp):
    ov = user_dir(user_tmp, "ov", test_user)
    ok(sing("exec", "--fakeroot", "--overlay", ov, images["sif"], "sh", "-c",
            "echo 'svc:x:101:101::/:/bin/false' >> /etc/passwd"))
    r = ok(sing("exec", "--fakeroot", "--overlay", ov, images["sif"], "grep", "^svc:",
                "/etc/passwd"))
    assert r.stdout.startswith("svc:x:101:")


def test_overlay_read_only_layer_is_visible_and_not_writable(images, run_mode, test_user,
                                                             user_tmp):
    layer = user_dir(user_tmp, "layer", test_user)
    os.mkdir(os.path.join(layer, "opt"))
    with open(os.path.join(layer, "opt", "tool"), "w") as f:
        f.write("from the layer\n")
    subprocess.run(["chown", "-R", f"{test_user.uid}:{test_user.gid}", layer], check=True)
    r = ok(sing("exec", "--overlay", f"{layer}:ro", images["sif"], "cat", "/opt/tool",
                "/etc/marker"))
    assert r.stdout == "from the layer\nimage\n"
    r = sing("exec", "--overlay", f"{layer}:ro", images["sif"], "sh", "-c",
             "echo changed > /opt/tool")
    assert r.returncode != 0
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    with open(os.path.join(layer, "opt", "tool")) as f:
        assert f.read() == "from the layer\n"
    # Under a writable overlay: its changes land in the upper, never in the layer.
    ov = user_dir(user_tmp, "ov", test_user)
    r = ok(sing("exec", "--overlay", f"{layer}:ro", "--overlay", ov, images["sif"], "sh", "-c",
                "echo changed > /opt/tool && cat /opt/tool"))
    assert r.stdout == "changed\n"
    with open(os.path.join(layer, "opt", "tool")) as f:
        assert f.read() == "from the layer\n"
    with open(os.path.join(ov, "upper", "opt", "tool")) as f:
        assert f.read() == "changed\n"


def test_overlay_upper_owned_by_another_user_is_refused(images, run_mode, test_user, user_tmp):
    other = ensure_user2()
    ov = user_dir(user_tmp, "ov", test_user)
    upper = os.path.join(ov, "upper")
    os.mkdir(upper, 0o777)
    os.chmod(upper, 0o777)
    os.chown(upper, other.pw_uid, other.pw_gid)
    r = sing("exec", "--overlay", ov, images["sif"], "sh", "-c", "echo x > /etc/planted")
    one_error(r, f"{upper} is not yours")
    assert os.listdir(upper) == []
    # The whole directory another user's: refused too.
    theirs = os.path.join(user_tmp, "theirs")
    os.mkdir(theirs, 0o777)
    os.chmod(theirs, 0o777)
    os.chown(theirs, other.pw_uid, other.pw_gid)
    r = sing("exec", "--overlay", theirs, images["sif"], "true")
    one_error(r, f"{theirs} is not yours")
    assert os.listdir(theirs) == []


@pytest.fixture
def victim_dir():
    """A directory of the second user, the victim, writable by them only."""
    other = ensure_user2()
    d = tempfile.mkdtemp(prefix="sing-victim-")
    os.chown(d, other.pw_uid, other.pw_gid)
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_symlinked_overlay_directory_is_refused(images, run_mode, test_user, user_tmp,
                                                victim_dir):
    # The attacker (the test user) points the overlay at the victim's directory.
    link = os.path.join(user_tmp, "ov")
    os.symlink(victim_dir, link)
    os.lchown(link, test_user.uid, test_user.gid)
    r = sing("exec", "--overlay", link, images["sif"], "sh", "-c", "echo x > /etc/planted")
    one_error(r, "is a symbolic link")
    # DIR the attacker's, DIR/upper (and DIR/work) a symlink into the victim's.
    ov2 = user_dir(user_tmp, "ov2", test_user)
    os.symlink(victim_dir, os.path.join(ov2, "upper"))
    os.lchown(os.path.join(ov2, "upper"), test_user.uid, test_user.gid)
    r = sing("exec", "--overlay", ov2, images["sif"], "sh", "-c", "echo x > /etc/planted")
    one_error(r, "is a symbolic link")
    ov3 = user_dir(user_tmp, "ov3", test_user)
    os.symlink(victim_dir, os.path.join(ov3, "work"))
    os.lchown(os.path.join(ov3, "work"), test_user.uid, test_user.gid)
    r = sing("exec", "--overlay", ov3, images["sif"], "sh", "-c", "echo x > /etc/planted")
    one_error(r, "is a symbolic link")
    # And the victim's directory named directly.
    r = sing("exec", "--overlay", victim_dir, images["sif"], "true")
    one_error(r, "is not yours")
    assert os.listdir(victim_dir) == []


def test_overlay_refused_when_the_config_disables_overlays(images, sing_config, test_user,
                                                           user_tmp):
    sing_config.set(**{"enable overlay": "no"})
    ov = user_dir(user_tmp, "ov", test_user)
    r = sing("exec", "--overlay", ov, images["sif"], "true")
    one_error(r, "enable overlay = no")
    assert os.listdir(ov) == []


def test_overlay_image_files_and_bad_specs_are_refused(images, test_user, user_tmp):
    img = os.path.join(user_tmp, "overlay.img")
    with open(img, "wb") as f:
        f.write(b"\0" * 4096)
    os.chown(img, test_user.uid, test_user.gid)
    one_error(sing("exec", "--overlay", img, images["sif"], "true"),
              "overlay image files (ext3) are not supported")
    one_error(sing("exec", "--overlay", os.path.join(user_tmp, "missing"), images["sif"], "true"),
              "No such file or directory")
    a = user_dir(user_tmp, "a", test_user)
    b = user_dir(user_tmp, "b", test_user)
    one_error(sing("exec", "--overlay", a, "--overlay", b, images["sif"], "true"),
              "only one writable overlay directory")
    one_error(sing("exec", "--overlay", a, "--writable", images["sif"], "true"),
              "cannot be used together")


def test_overlay_from_the_environment(images, test_user, user_tmp):
    ov = user_dir(user_tmp, "ov", test_user)
    ok(sing("exec", images["sif"], "touch", "/from-env", env={"SINGULARITY_OVERLAY": ov}))
    assert os.path.exists(os.path.join(ov, "upper", "from-env"))
