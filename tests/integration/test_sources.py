"""Image sources other than a registry (issue 13), for pull, build and
recipe Bootstrap: docker-archive: (a `docker save` tarball, gzip or not, one
or several tags), oci-archive:, oci: (an OCI layout directory), http(s)://
SIF files; pull --dir / --sandbox; Registry: with a scheme.

Every user-facing command runs as the normal test user. Archives the
"world" makes come from skopeo (real docker-archive / oci-archive output);
the broken ones are written by imagetools.write_docker_archive."""

import hashlib
import http.server
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile
import textwrap
import threading

import pytest

import imagetools
from imagetools import Dir, File, Whiteout

SKOPEO = shutil.which("skopeo")


# --------------------------------------------------------------------------
# helpers


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


def one_error(r, *fragments):
    """Exit 255 with exactly one ERROR line that names every fragment."""
    assert r.returncode == 255, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR")]
    assert len(errors) == 1, r.stderr
    for f in fragments:
        assert f in errors[0], (f, errors[0])
    return errors[0]


def marked_image(marker, extra=()):
    """busybox with /marker = marker, and a second layer that whites out a
    file of the first (so the merge's whiteouts are exercised)."""
    return imagetools.busybox_image(
        extra_layers=[[File("gone", "x"), File("marker", "lower")],
                      [Whiteout("gone"), File("marker", marker), *extra]],
        cmd=["/bin/cat", "/marker"])


def user_file(path, test_user):
    os.chown(path, test_user.uid, test_user.gid)
    return path


def chown_tree(path, test_user):
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), test_user.uid, test_user.gid)
    os.chown(path, test_user.uid, test_user.gid)


def skopeo_copy(src, dst):
    if not SKOPEO:
        pytest.skip("skopeo is not installed (tools/deps.sh installs it)")
    subprocess.run([SKOPEO, "--insecure-policy", "copy", "-q", src, dst], check=True,
                   capture_output=True)


def exec_cat(run_as_user, singularity, image, path="/marker"):
    r = ok(run_as_user([singularity, "exec", image, "cat", path]))
    return r.stdout


def assert_only(directory, names):
    """Nothing but `names` in directory: no output, no temp file or dir."""
    assert sorted(os.listdir(directory)) == sorted(names)


@pytest.fixture
def oci_dir(user_tmp, test_user):
    d = os.path.join(user_tmp, "layout")
    imagetools.write_oci_layout(marked_image("from-oci"), d, tag="v1")
    chown_tree(d, test_user)
    return d


@pytest.fixture(scope="module")
def skopeo_archives():
    """Real skopeo output: docker-archive (one tag), oci-archive (tag v1),
    readable by the test user."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="sing-skopeo-"))
    layout = str(d / "layout")
    imagetools.write_oci_layout(marked_image("from-skopeo"), layout, tag="v1")
    skopeo_copy(f"oci:{layout}:v1", f"docker-archive:{d}/docker.tar:bb:v1")
    skopeo_copy(f"oci:{layout}:v1", f"oci-archive:{d}/oci.tar:v1")
    for n in os.listdir(d):
        os.chmod(d / n, 0o755 if (d / n).is_dir() else 0o644)
    os.chmod(d, 0o755)
    yield {"docker": str(d / "docker.tar"), "oci": str(d / "oci.tar")}
    shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# pull from each source kind


def test_pull_docker_archive_from_skopeo(run_as_user, singularity, user_tmp,
                                         skopeo_archives):
    out = os.path.join(user_tmp, "bb.sif")
    ok(run_as_user([singularity, "pull", out, "docker-archive:" + skopeo_archives["docker"]]))
    assert exec_cat(run_as_user, singularity, out) == "from-skopeo"
    r = run_as_user([singularity, "exec", out, "ls", "/gone"])
    assert r.returncode != 0, "the whiteout of the upper layer was not applied"
    assert_only(user_tmp, ["bb.sif"])


def test_pull_docker_archive_scheme_slashes_and_tag(run_as_user, singularity, user_tmp,
                                                    skopeo_archives):
    ok(run_as_user([singularity, "pull", "docker-archive://" + skopeo_archives["docker"] +
                    ":bb:v1"], cwd=user_tmp))
    # FILE's base name and the tag make the default name.
    assert_only(user_tmp, ["docker_bb_v1.sif"])
    out = os.path.join(user_tmp, "docker_bb_v1.sif")
    assert exec_cat(run_as_user, singularity, out) == "from-skopeo"


def test_pull_oci_archive_from_skopeo(run_as_user, singularity, user_tmp, skopeo_archives):
    out = os.path.join(user_tmp, "o.sif")
    ok(run_as_user([singularity, "pull", out, "oci-archive:" + skopeo_archives["oci"] + ":v1"]))
    assert exec_cat(run_as_user, singularity, out) == "from-skopeo"
    # The only image needs no tag.
    out2 = os.path.join(user_tmp, "o2.sif")
    ok(run_as_user([singularity, "pull", out2, "oci-archive:" + skopeo_archives["oci"]]))
    assert exec_cat(run_as_user, singularity, out2) == "from-skopeo"


def test_pull_oci_dir(run_as_user, singularity, user_tmp, oci_dir):
    out = os.path.join(user_tmp, "l.sif")
    r = ok(run_as_user([singularity, "pull", out, f"oci:{oci_dir}:v1"]))
    assert exec_cat(run_as_user, singularity, out) == "from-oci"
    assert "Digest: sha256:" in r.stderr
    assert_only(user_tmp, ["l.sif", "layout"])


def test_pull_oci_dir_multi_arch_index(run_as_user, singularity, user_tmp, test_user):
    amd = marked_image("amd64")
    arm = imagetools.busybox_image(arch="arm64", variant="v8",
                                   extra_layers=[[File("marker", "arm64")]])
    d = os.path.join(user_tmp, "idx")
    imagetools.write_oci_layout(imagetools.Index([arm, amd]), d, tag="multi")
    chown_tree(d, test_user)
    out = os.path.join(user_tmp, "m.sif")
    ok(run_as_user([singularity, "pull", "--arch", "amd64", out, f"oci:{d}:multi"]))
    assert exec_cat(run_as_user, singularity, out) == "amd64"


@pytest.mark.parametrize("gzip_outer", [False, True], ids=["tar", "tar.gz"])
@pytest.mark.parametrize("layout", ["legacy", "oci"])
def test_pull_docker_archive_several_tags(run_as_user, singularity, user_tmp, test_user,
                                          gzip_outer, layout):
    tar = os.path.join(user_tmp, "two.tar" + (".gz" if gzip_outer else ""))
    imagetools.write_docker_archive(
        [(marked_image("one"), ["example.com/team/one:1.0"]),
         (marked_image("two"), ["two:latest", "two:2"])], tar, gzip_outer=gzip_outer,
        layout=layout)
    user_file(tar, test_user)
    cases = {"example.com/team/one:1.0": "one", "two": "two", "docker.io/library/two:2": "two",
             "1.0": "one"}
    for i, (tag, want) in enumerate(cases.items()):
        out = os.path.join(user_tmp, f"{i}.sif")
        ok(run_as_user([singularity, "pull", out, f"docker-archive:{tar}:{tag}"]))
        assert exec_cat(run_as_user, singularity, out) == want, tag


def test_pull_sandbox_and_dir(run_as_user, singularity, user_tmp, test_user, skopeo_archives,
                              oci_dir):
    dest = os.path.join(user_tmp, "images")
    os.mkdir(dest)
    user_file(dest, test_user)
    ok(run_as_user([singularity, "pull", "--dir", dest, "oci-archive:" + skopeo_archives["oci"]]))
    assert os.listdir(dest) == ["oci_latest.sif"]
    box = os.path.join(user_tmp, "box")
    ok(run_as_user([singularity, "pull", "--sandbox", box, f"oci:{oci_dir}:v1"]))
    with open(os.path.join(box, "marker")) as f:
        assert f.read() == "from-oci"
    assert not os.path.exists(os.path.join(box, "gone"))
    assert os.path.isdir(os.path.join(box, ".singularity.d"))
    assert exec_cat(run_as_user, singularity, box) == "from-oci"


# --------------------------------------------------------------------------
# build from each source kind, and recipes


def test_build_from_each_source(run_as_user, singularity, user_tmp, skopeo_archives, oci_dir):
    for i, src in enumerate(["docker-archive:" + skopeo_archives["docker"],
                             "oci-archive:" + skopeo_archives["oci"] + ":v1",
                             f"oci:{oci_dir}:v1"]):
        out = os.path.join(user_tmp, f"b{i}.sif")
        ok(run_as_user([singularity, "build", out, src]))
        want = "from-oci" if src.startswith("oci:") else "from-skopeo"
        assert exec_cat(run_as_user, singularity, out) == want, src
        box = os.path.join(user_tmp, f"s{i}")
        ok(run_as_user([singularity, "build", "--sandbox", box, src]))
        with open(os.path.join(box, "marker")) as f:
            assert f.read() == want


@pytest.mark.parametrize("bootstrap", ["docker-archive", "oci-archive", "oci"])
def test_recipe_bootstrap_local_sources(run_as_user, singularity, user_tmp, test_user,
                                        skopeo_archives, oci_dir, bootstrap):
    frm = {"docker-archive": skopeo_archives["docker"],
           "oci-archive": skopeo_archives["oci"] + ":v1", "oci": oci_dir + ":v1"}[bootstrap]
    recipe = os.path.join(user_tmp, "r.def")
    with open(recipe, "w") as f:
        f.write(textwrap.dedent(f"""\
            Bootstrap: {bootstrap}
            From: {frm}

            %environment
                export GREETING=hello-{bootstrap}

            %runscript
                echo "$GREETING $(cat /marker)"
            """))
    user_file(recipe, test_user)
    out = os.path.join(user_tmp, "r.sif")
    ok(run_as_user([singularity, "build", out, recipe]))
    want = "from-oci" if bootstrap == "oci" else "from-skopeo"
    r = ok(run_as_user([singularity, "run", out]))
    assert r.stdout.strip() == f"hello-{bootstrap} {want}"


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_recipe_registry_with_scheme(run_as_user, singularity, user_tmp, test_user, busybox,
                                     registry, registry_tls, scheme):
    reg = registry if scheme == "http" else registry_tls
    imagetools.push_image(reg, "library/busybox", "latest", busybox)
    recipe = os.path.join(user_tmp, "r.def")
    with open(recipe, "w") as f:
        f.write(f"Bootstrap: docker\nRegistry: {scheme}://{reg.hostport}/\n"
                "From: library/busybox:latest\n")
    user_file(recipe, test_user)
    out = os.path.join(user_tmp, "r.sif")
    env = {}
    if scheme == "https":
        env["SSL_CERT_FILE"] = os.path.join(user_tmp, "ca.pem")
        shutil.copy(reg.ca_file, env["SSL_CERT_FILE"])
        os.chmod(env["SSL_CERT_FILE"], 0o644)
    # http:// means plain HTTP: no --nohttps needed.
    ok(run_as_user([singularity, "build", out, recipe], env=env))
    r = ok(run_as_user([singularity, "exec", out, "cat", "/etc/hostname"]))
    assert r.stdout == "busybox\n"


# --------------------------------------------------------------------------
# bad input: one line, exit 255, nothing left behind


def test_truncated_archive(run_as_user, singularity, user_tmp, test_user, skopeo_archives):
    tar = os.path.join(user_tmp, "cut.tar")
    with open(skopeo_archives["docker"], "rb") as f:
        data = f.read()
    with open(tar, "wb") as f:
        f.write(data[: len(data) // 2])
    user_file(tar, test_user)
    r = run_as_user([singularity, "pull", "x.sif", f"docker-archive:{tar}"], cwd=user_tmp)
    one_error(r, "docker-archive:", "runcated")
    r = run_as_user([singularity, "build", "y.sif", f"docker-archive:{tar}"], cwd=user_tmp)
    one_error(r, "runcated")
    assert_only(user_tmp, ["cut.tar"])


def test_missing_tag(run_as_user, singularity, user_tmp, skopeo_archives, oci_dir):
    before = sorted(os.listdir(user_tmp))
    r = run_as_user([singularity, "pull", "x.sif",
                     "docker-archive:" + skopeo_archives["docker"] + ":bb:nope"], cwd=user_tmp)
    one_error(r, "no image tagged \"bb:nope\"", "docker.io/library/bb:v1")
    r = run_as_user([singularity, "pull", "x.sif", f"oci:{oci_dir}:nope"], cwd=user_tmp)
    one_error(r, "no image tagged \"nope\"", "v1")
    r = run_as_user([singularity, "pull", "x.sif",
                     "oci-archive:" + skopeo_archives["oci"] + ":nope"], cwd=user_tmp)
    one_error(r, "no image tagged \"nope\"")
    assert sorted(os.listdir(user_tmp)) == before


def test_two_images_and_no_tag(run_as_user, singularity, user_tmp, test_user):
    tar = os.path.join(user_tmp, "two.tar")
    imagetools.write_docker_archive([(marked_image("one"), ["one:1"]),
                                     (marked_image("two"), ["two:2"])], tar)
    user_file(tar, test_user)
    r = run_as_user([singularity, "pull", "x.sif", f"docker-archive:{tar}"], cwd=user_tmp)
    one_error(r, "holds 2 images", "one:1", "two:2")
    r = run_as_user([singularity, "build", "--sandbox", "box", f"docker-archive:{tar}"],
                    cwd=user_tmp)
    one_error(r, "holds 2 images")
    assert_only(user_tmp, ["two.tar"])


def test_dotdot_path_in_manifest(run_as_user, singularity, user_tmp, test_user):
    def edit(members, manifest):
        manifest[0]["Layers"][0] = "../layer.tar"

    tar = os.path.join(user_tmp, "evil.tar")
    imagetools.write_docker_archive([(marked_image("evil"), ["evil:1"])], tar, edit=edit)
    user_file(tar, test_user)
    r = run_as_user([singularity, "pull", "x.sif", f"docker-archive:{tar}"], cwd=user_tmp)
    one_error(r, "manifest.json layer 1", "outside the archive")
    assert_only(user_tmp, ["evil.tar"])


def test_symlink_member_to_a_host_path_stays_inside(run_as_user, singularity, user_tmp,
                                                        test_user):
    """A member that is a symlink to a host path must not read the host file."""
    img = marked_image("link")

    def edit(members, manifest):
        manifest[0]["Layers"][0] = "hostlink"

    tar = os.path.join(user_tmp, "link.tar")
    imagetools.write_docker_archive([(img, ["l:1"])], tar, edit=edit)
    # Append a symlink member "hostlink" -> /etc/passwd (absolute: archive root).
    with tarfile.open(tar, "a") as t:
        ti = tarfile.TarInfo("hostlink")
        ti.type, ti.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(ti)
    user_file(tar, test_user)
    r = run_as_user([singularity, "pull", "x.sif", f"docker-archive:{tar}"], cwd=user_tmp)
    one_error(r, "manifest.json layer 1", "\"hostlink\" is not in the archive")
    assert_only(user_tmp, ["link.tar"])


def test_docker_archive_layer_digest_mismatch(run_as_user, singularity, user_tmp, test_user):
    img = marked_image("good")
    bad = imagetools.Layer([File("marker", "evil")], "none")

    def edit(members, manifest):
        members[manifest[0]["Layers"][-1]] = bad.tar

    tar = os.path.join(user_tmp, "bad.tar")
    imagetools.write_docker_archive([(img, ["b:1"])], tar, edit=edit)
    user_file(tar, test_user)
    r = run_as_user([singularity, "pull", "x.sif", f"docker-archive:{tar}"], cwd=user_tmp)
    one_error(r, "layer 3", bad.diff_id, img.layers[-1].diff_id)
    r = run_as_user([singularity, "build", "y.sif", f"docker-archive:{tar}"], cwd=user_tmp)
    one_error(r, "layer 3")
    assert_only(user_tmp, ["bad.tar"])


def test_docker_archive_config_changed(run_as_user, singularity, user_tmp, test_user):
    img = marked_image("good")

    def edit(members, manifest):
        cfg = json.loads(members[manifest[0]["Config"]])
        cfg["config"]["Cmd"] = ["/bin/evil"]
        members[manifest[0]["Config"]] = json.dumps(cfg).encode()

    tar = os.path.join(user_tmp, "cfg.tar")
    imagetools.write_docker_archive([(img, ["c:1"])], tar, edit=edit)
    user_file(tar, test_user)
    r = run_as_user([singularity, "pull", "x.sif", f"docker-archive:{tar}"], cwd=user_tmp)
    one_error(r, "config", "was changed")
    assert_only(user_tmp, ["cfg.tar"])


def test_oci_blob_digest_mismatch(run_as_user, singularity, user_tmp, test_user, oci_dir):
    img = marked_image("from-oci")
    blob = os.path.join(oci_dir, "blobs", "sha256", img.layers[-1].digest.split(":", 1)[1])
    with open(blob, "r+b") as f:
        f.seek(20)
        b = f.read(1)
        f.seek(20)
        f.write(bytes([b[0] ^ 0xFF]))
    before = sorted(os.listdir(user_tmp))
    r = run_as_user([singularity, "pull", "x.sif", f"oci:{oci_dir}:v1"], cwd=user_tmp)
    one_error(r, img.layers[-1].digest, "was changed")
    r = run_as_user([singularity, "build", "--sandbox", "box", f"oci:{oci_dir}"], cwd=user_tmp)
    one_error(r, "was changed")
    assert sorted(os.listdir(user_tmp)) == before


def test_not_an_archive_and_missing_file(run_as_user, singularity, user_tmp, test_user):
    junk = os.path.join(user_tmp, "junk.tar")
    with open(junk, "wb") as f:
        f.write(os.urandom(4096))
    user_file(junk, test_user)
    r = run_as_user([singularity, "pull", "x.sif", f"oci-archive:{junk}"], cwd=user_tmp)
    one_error(r, "oci-archive:")
    r = run_as_user([singularity, "pull", "x.sif", "docker-archive:/nonexistent.tar:a:b"],
                    cwd=user_tmp)
    one_error(r, "/nonexistent.tar", "No such file")
    r = run_as_user([singularity, "pull", "x.sif", f"oci:{junk}"], cwd=user_tmp)
    one_error(r, "not a directory")
    assert_only(user_tmp, ["junk.tar"])


# --------------------------------------------------------------------------
# http(s):// SIF files


class _SifHandler(http.server.BaseHTTPRequestHandler):
    """Serves `data` at /image.sif; with `drop_first`, the first response
    is cut in the middle (Content-Length promises it all), so the client
    must resume with a Range request."""
    data = b""
    drop_first = False
    ranges = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        cls = type(self)
        if self.path != "/image.sif":
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        cls.ranges.append(rng)
        start = 0
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
        body = cls.data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(cls.data) - 1}/{len(cls.data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cls.drop_first:
            cls.drop_first = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def sif_server():
    class H(_SifHandler):
        ranges = []

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield H, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def a_sif(run_as_user, singularity, user_tmp, oci_dir):
    out = os.path.join(user_tmp, "src.sif")
    ok(run_as_user([singularity, "pull", out, f"oci:{oci_dir}:v1"]))
    with open(out, "rb") as f:
        data = f.read()
    os.unlink(out)
    return data


def test_pull_http_sif_resumes(run_as_user, singularity, user_tmp, sif_server, a_sif):
    handler, url = sif_server
    handler.data, handler.drop_first = a_sif, True
    r = ok(run_as_user([singularity, "pull", url + "/image.sif"], cwd=user_tmp))
    out = os.path.join(user_tmp, "image.sif")
    with open(out, "rb") as f:
        assert hashlib.sha256(f.read()).digest() == hashlib.sha256(a_sif).digest()
    assert handler.ranges[0] is None and handler.ranges[1] == f"bytes={len(a_sif) // 2}-", \
        (handler.ranges, r.stderr)
    assert exec_cat(run_as_user, singularity, out) == "from-oci"
    # build takes the same reference.
    ok(run_as_user([singularity, "build", "--sandbox", "box", url + "/image.sif"], cwd=user_tmp))
    with open(os.path.join(user_tmp, "box", "marker")) as f:
        assert f.read() == "from-oci"


def test_pull_http_not_a_sif(run_as_user, singularity, user_tmp, sif_server):
    handler, url = sif_server
    handler.data = b"<html>not an image</html>\n" * 100
    before = sorted(os.listdir(user_tmp))
    r = run_as_user([singularity, "pull", "x.sif", url + "/image.sif"], cwd=user_tmp)
    one_error(r, url + "/image.sif")
    r = run_as_user([singularity, "pull", "y.sif", url + "/missing.sif"], cwd=user_tmp)
    one_error(r, "HTTP 404")
    assert sorted(os.listdir(user_tmp)) == before


def test_compressed_archive_bomb_refused(run_as_user, singularity, user_tmp, test_user):
    """A small .tar.gz that would unpack to 600 MiB of zeros is refused
    before anything of it is written out."""
    import gzip

    class Zeros:
        def __init__(self, n):
            self.left = n

        def read(self, k=-1):
            k = self.left if k < 0 else min(k, self.left)
            self.left -= k
            return b"\0" * k

    bomb = os.path.join(user_tmp, "bomb.tar.gz")
    size = 600 << 20
    with gzip.open(bomb, "wb", compresslevel=9) as gz:
        with tarfile.open(fileobj=gz, mode="w|") as t:
            ti = tarfile.TarInfo("zeros")
            ti.size = size
            t.addfile(ti, Zeros(size))
    assert os.path.getsize(bomb) < 2 << 20
    user_file(bomb, test_user)
    r = run_as_user([singularity, "pull", "x.sif", f"docker-archive:{bomb}"], cwd=user_tmp)
    one_error(r, "decompression bomb")
    assert_only(user_tmp, ["bomb.tar.gz"])
