"""The fixtures themselves work: registries, token server, image builder,
fault proxy, test user. No singularity binary needed."""

import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request

import jwt
import pytest
from cryptography import x509

import imagetools as it
from conftest import USER, empty_user_cache, singularity_path, user_cache_dir
from registry import RegistryClient, RegistryError

CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
FLAVOURS = ["registry", "registry_tls", "registry_basic", "registry_token"]


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def small_image(fmt="oci", compression="gzip", **kw):
    layers = [it.Layer([it.Dir("data"), it.File("data/hello.txt", "hello\n")], compression)]
    return it.Image(layers, fmt=fmt, cmd=["/bin/sh"], **kw)


def skopeo_raw(reg, ref, tmp_path):
    args = ["skopeo", "inspect", "--raw"]
    if reg.ca_file:
        certs = tmp_path / "certs"
        certs.mkdir(exist_ok=True)
        shutil.copy(reg.ca_file, certs / "ca.crt")
        args += ["--cert-dir", str(certs)]
    else:
        args += ["--tls-verify=false"]
    if reg.username:
        args += ["--creds", f"{reg.username}:{reg.password}"]
    args.append(f"docker://{reg.hostport}/{ref}")
    res = subprocess.run(args, capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    return res.stdout


def umoci_unpack(obj, tmp_path, tag="t"):
    layout = str(tmp_path / "layout")
    it.write_oci_layout(obj, layout, tag)
    bundle = str(tmp_path / "bundle")
    res = subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", bundle],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return os.path.join(bundle, "rootfs")


# --------------------------------------------------------------------------
# Registries


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_registry_serves_v2(request, flavour):
    reg = request.getfixturevalue(flavour)
    anon = reg.client(anonymous=True)
    status, headers, _ = anon.request("GET", "/v2/", raw=True)
    if reg.username is None:
        assert status == 200
        assert headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    else:
        assert status == 401
        scheme = headers["WWW-Authenticate"].split()[0]
        assert scheme == ("Basic" if reg.flavour == "basic" else "Bearer")
        status, _, _ = reg.client().request("GET", "/v2/")
        assert status == 200
    assert ("GET", "/v2/", status) in reg.requests()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_push_and_fetch_back(request, flavour, unique_repo, tmp_path):
    reg = request.getfixturevalue(flavour)
    img = small_image(labels={"flavour": flavour})
    res = it.push_image(reg, unique_repo, "v1", img)
    assert res.manifest_digest == img.manifest_digest

    media_type, body, digest = reg.client().get_manifest(unique_repo, "v1")
    assert media_type == it.OCI_MANIFEST
    assert body == img.manifest_bytes and digest == sha256(body)
    layer = json.loads(body)["layers"][0]
    blob = reg.client().get_blob(unique_repo, layer["digest"])
    assert sha256(blob) == layer["digest"] == res.layer_digests[0]
    config = reg.client().get_blob(unique_repo, res.config_digest)
    assert json.loads(config)["config"]["Labels"] == {"flavour": flavour}

    raw = skopeo_raw(reg, f"{unique_repo}:v1", tmp_path)
    assert sha256(raw) == img.manifest_digest
    assert reg.count(rf"/v2/{unique_repo}/manifests/v1", "PUT") == 1


def test_basic_registry_rejects_wrong_password(registry_basic):
    client = registry_basic.client(password="wrong")
    with pytest.raises(RegistryError) as e:
        client.request("GET", "/v2/")
    assert e.value.status == 401


def test_token_server_rejects_wrong_password(registry_token):
    ts = registry_token.token_server
    before = ts.tokens_issued
    client = registry_token.client(password="not-the-password")
    with pytest.raises(RegistryError) as e:
        client.request("GET", "/v2/")
    assert e.value.status == 401 and "token request refused" in str(e.value)
    assert ts.tokens_issued == before
    assert ts.requests[-1]["user"] == registry_token.username


def test_token_is_a_verifiable_jwt(registry_token):
    ts = registry_token.token_server
    q = urllib.parse.urlencode({"service": ts.service, "scope": "repository:a/b:pull,push"})
    req = urllib.request.Request(f"{ts.realm}?{q}")
    req.add_header("Authorization", registry_token.client()._basic())
    before = ts.tokens_issued
    with urllib.request.urlopen(req) as resp:
        doc = json.load(resp)
    assert ts.tokens_issued == before + 1
    assert doc["expires_in"] == ts.expires_in and doc["token"] == doc["access_token"]
    header = jwt.get_unverified_header(doc["token"])
    assert header["alg"] == "RS256"
    cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    with open(ts.cert_file, "rb") as f:
        assert cert == x509.load_pem_x509_certificate(f.read())
    claims = jwt.decode(doc["token"], cert.public_key(), algorithms=["RS256"],
                        audience=ts.service, issuer=ts.issuer)
    assert claims["access"] == [{"type": "repository", "name": "a/b",
                                 "actions": ["pull", "push"]}]
    assert claims["exp"] - claims["iat"] == ts.expires_in


def test_token_anonymous_pull_only(make_registry, unique_repo):
    reg = make_registry("token", token_kwargs={"anonymous_pull": True})
    img = small_image()
    it.push_image(reg, unique_repo, "latest", img)
    anon = reg.client(anonymous=True)
    _, body, _ = anon.get_manifest(unique_repo, "latest")
    assert body == img.manifest_bytes
    with pytest.raises(RegistryError) as e:
        anon.upload_blob(unique_repo, sha256(b"x"), b"x")
    assert e.value.status == 401
    anon_req = [r for r in reg.token_server.requests if r["user"] is None]
    assert anon_req and all("Authorization" not in r["headers"] for r in anon_req)


# --------------------------------------------------------------------------
# Image builder

LONG = "long/" + "d" * 60 + "/" + "n" * 80 + ".txt"
UNICODE = "données/ünïcødé-名前.txt"


def special_entries():
    return [
        it.Dir("a"), it.File("a/x", "x"), it.File("a/y", "y"),
        it.File("gone", "bye"), it.File("keep", "kept", mtime=1234567890),
        it.Dir("long"), it.Dir("long/" + "d" * 60), it.File(LONG, "long"),
        it.Dir("données"), it.File(UNICODE, "unicode"),
        it.File("suid", "#!/bin/sh\n", mode=0o4755),
        it.File("nomode", "secret", mode=0o000),
        it.File("owned", "o", uid=1234, gid=5678),
        it.Symlink("link", "keep"),
        it.Hardlink("hard", "keep"),
        it.Fifo("fifo"),
    ]


def second_layer():
    return [it.Whiteout("gone"), it.Opaque("a"), it.File("a/new", "new")]


@pytest.mark.parametrize("tar_format", ["pax", "gnu"])
def test_layer_entries(tar_format):
    layer = it.Layer(special_entries() + second_layer(), "none", tar_format=tar_format)
    tf = tarfile.open(fileobj=io.BytesIO(layer.tar), encoding="utf-8")
    members = {m.name: m for m in tf.getmembers()}
    assert len(LONG) > 100 and members[LONG].isfile()
    assert tf.extractfile(members[UNICODE]).read() == b"unicode"
    assert members["suid"].mode == 0o4755 and members["nomode"].mode == 0
    assert (members["owned"].uid, members["owned"].gid) == (1234, 5678)
    assert members["link"].issym() and members["link"].linkname == "keep"
    assert members["hard"].islnk() and members["hard"].linkname == "keep"
    assert members["fifo"].isfifo()
    assert members[".wh.gone"].isfile() and members["a/.wh..wh..opq"].isfile()
    assert members["keep"].mtime == 1234567890
    assert layer.diff_id == layer.digest == sha256(layer.tar)


@pytest.mark.parametrize("compression,magic", [("gzip", b"\x1f\x8b"),
                                               ("zstd", b"\x28\xb5\x2f\xfd"),
                                               ("none", None)])
def test_layer_compression(compression, magic):
    layer = it.Layer([it.File("f", "data" * 1000)], compression)
    if magic:
        assert layer.data.startswith(magic)
    else:
        assert layer.data == layer.tar
    if compression == "zstd":
        plain = subprocess.run(["zstd", "-d", "-c"], input=layer.data, check=True,
                               capture_output=True).stdout
    elif compression == "gzip":
        plain = gzip.decompress(layer.data)
    else:
        plain = layer.data
    assert plain == layer.tar and sha256(plain) == layer.diff_id
    assert layer.digest == sha256(layer.data)
    assert it.Layer([it.File("f", "data" * 1000)], compression).digest == layer.digest
    oci = it.Image([layer])
    assert oci.manifest["layers"][0]["mediaType"] == it.LAYER_TYPES[("oci", compression)]


def test_docker_manifest_and_config():
    img = small_image("docker", env=["A=1"], entrypoint=["/bin/echo"], workdir="/data",
                      user="1000", arch="arm64", variant="v8")
    m = img.manifest
    assert m["mediaType"] == it.DOCKER_MANIFEST
    assert m["config"]["mediaType"] == it.DOCKER_CONFIG
    assert m["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    c = img.config
    assert (c["architecture"], c["os"], c["variant"]) == ("arm64", "linux", "v8")
    assert c["config"] == {"Env": ["A=1"], "Entrypoint": ["/bin/echo"], "Cmd": ["/bin/sh"],
                           "WorkingDir": "/data", "User": "1000"}
    assert c["rootfs"]["diff_ids"] == img.diff_ids
    assert img.manifest_digest == sha256(img.manifest_bytes)


@pytest.mark.parametrize("fmt", ["oci", "docker"])
def test_multiarch_index_push(registry, unique_repo, fmt):
    images = [small_image(fmt, arch="amd64"),
              small_image(fmt, arch="arm64", variant="v8"),
              small_image(fmt, arch="arm", variant="v7")]
    idx = it.Index(images, fmt)
    res = it.push_index(registry, unique_repo, "multi", idx)
    client = registry.client()
    media_type, body, digest = client.get_manifest(unique_repo, "multi")
    assert media_type == (it.OCI_INDEX if fmt == "oci" else it.DOCKER_LIST)
    assert digest == res.manifest_digest == sha256(body)
    platforms = [m["platform"] for m in json.loads(body)["manifests"]]
    assert {"architecture": "arm64", "os": "linux", "variant": "v8"} in platforms
    arm = idx.image_for("arm", "v7")
    _, child, _ = client.get_manifest(unique_repo, arm.manifest_digest)
    assert child == arm.manifest_bytes


def test_oci_layout_unpacks_with_umoci(tmp_path):
    img = it.busybox_image(extra_layers=[special_entries(), second_layer()])
    rootfs = umoci_unpack(img, tmp_path)
    out = subprocess.run([CHROOT, rootfs, "/bin/sh", "-c", "echo ok; cat /a/new"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout == "ok\nnew", out.stderr
    r = lambda p: os.path.join(rootfs, p)  # noqa: E731
    assert not os.path.lexists(r("gone")) and not os.path.lexists(r("a/x"))
    assert open(r("keep")).read() == "kept"
    assert open(r(LONG)).read() == "long" and open(r(UNICODE)).read() == "unicode"
    assert stat.S_IMODE(os.stat(r("suid")).st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(r("nomode")).st_mode) == 0
    assert os.readlink(r("link")) == "keep"
    assert os.stat(r("hard")).st_ino == os.stat(r("keep")).st_ino


def test_busybox_image(busybox, tmp_path):
    tf = tarfile.open(fileobj=io.BytesIO(busybox.layers[0].uncompressed()))
    names = {m.name: m for m in tf.getmembers()}
    assert names["bin/busybox"].size == os.path.getsize("/bin/busybox")
    for applet in ("sh", "cat", "ls", "id", "env", "sleep", "sha256sum", "grep", "stat"):
        assert names[f"bin/{applet}"].linkname == "busybox"
    assert names["tmp"].mode == 0o1777
    rootfs = umoci_unpack(busybox, tmp_path)
    out = subprocess.run([CHROOT, rootfs, "sh", "-c", "echo ok; id -un; ls /etc"],
                         capture_output=True, text=True, timeout=30,
                         env={"PATH": "/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok", "root", "group", "hostname", "passwd"]


def test_pushed_busybox(registry, pushed_busybox, busybox):
    _, body, digest = registry.client().get_manifest("library/busybox", "latest")
    assert digest == pushed_busybox.manifest_digest == busybox.manifest_digest


@pytest.mark.slow
def test_debian_image(debian, registry, tmp_path):
    assert len(debian.layers) == 2
    assert all(l.path.startswith(it.CACHE_DIR) for l in debian.layers)
    start = time.monotonic()
    again = it.debian_image()
    assert time.monotonic() - start < 10, "debian_image() was not served from the cache"
    assert again.manifest_digest == debian.manifest_digest
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    total = 0
    for layer in debian.layers:
        with tarfile.open(layer.path, "r|gz") as tf:
            total += sum(m.size for m in tf if m.isfile())
        subprocess.run(["tar", "-xzf", layer.path, "-C", str(rootfs), "--numeric-owner"],
                       check=True)
    assert 250 << 20 <= total <= 350 << 20, f"unpacked size {total >> 20} MiB"
    out = subprocess.run([CHROOT, str(rootfs), "/bin/sh", "-c",
                          "ls / >/dev/null && python3 -c 'print(42)' && bash -c 'echo $BASH'"],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["42", "/usr/bin/bash"]
    res = it.push_image(registry, "test/debian", "bookworm", debian)
    client = registry.client()
    assert client.blob_exists("test/debian", res.layer_digests[0])
    assert client.get_manifest("test/debian", "bookworm")[2] == debian.manifest_digest


# --------------------------------------------------------------------------
# Fault proxy


@pytest.fixture
def big_blob(registry, unique_repo):
    data = os.urandom(300 * 1024)
    digest = sha256(data)
    registry.client().upload_blob(unique_repo, digest, data)
    return unique_repo, digest, data


def proxy_get(proxy, path, headers=None):
    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    return conn, conn.getresponse()


def test_proxy_passes_through(fault_proxy, registry, unique_repo):
    img = small_image()
    it.push_image(RegistryClient(fault_proxy.url), unique_repo, "p", img)
    client = RegistryClient(fault_proxy.url)
    assert client.get_manifest(unique_repo, "p")[1] == img.manifest_bytes
    assert fault_proxy.count(r"/blobs/uploads/", "POST") == 2  # layer + config
    assert fault_proxy.count(r"/manifests/p$", "GET") == 1
    assert registry.count(rf"/v2/{unique_repo}/manifests/p", "GET") == 1
    assert fault_proxy.counts_by_path()[f"/v2/{unique_repo}/manifests/p"] == 2


def test_proxy_honours_range(fault_proxy, big_blob):
    repo, digest, data = big_blob
    conn, resp = proxy_get(fault_proxy, f"/v2/{repo}/blobs/{digest}",
                           {"Range": "bytes=1000-1999"})
    assert resp.status == 206 and resp.read() == data[1000:2000]
    conn.close()


def test_proxy_cuts_once_then_resume(fault_proxy, big_blob):
    repo, digest, data = big_blob
    fault_proxy.cut_blob(100_000)
    path = f"/v2/{repo}/blobs/{digest}"
    conn, resp = proxy_get(fault_proxy, path)
    assert resp.status == 200 and int(resp.getheader("Content-Length")) == len(data)
    with pytest.raises(http.client.IncompleteRead) as e:
        resp.read()
    got = e.value.partial
    assert len(got) == 100_000
    conn.close()
    conn, resp = proxy_get(fault_proxy, path, {"Range": f"bytes={len(got)}-"})
    assert resp.status == 206
    assert sha256(got + resp.read()) == digest
    conn.close()
    conn, resp = proxy_get(fault_proxy, path)  # only once
    assert resp.read() == data
    assert fault_proxy.count(path, "GET") == 3


def test_proxy_corrupts(fault_proxy, big_blob):
    repo, digest, data = big_blob
    fault_proxy.corrupt_blob()
    conn, resp = proxy_get(fault_proxy, f"/v2/{repo}/blobs/{digest}")
    body = resp.read()
    assert len(body) == len(data) and sha256(body) != digest
    assert sum(a != b for a, b in zip(body, data)) == 1


def test_proxy_redirects_to_second_host(make_fault_proxy, registry_token, unique_repo):
    img = small_image()
    it.push_image(registry_token, unique_repo, "r", img)
    proxy = make_fault_proxy(registry_token)
    proxy.redirect_blobs()
    client = RegistryClient(proxy.url, registry_token.username, registry_token.password,
                            follow_redirects=False)
    digest = img.layer_digests[0]
    status, headers, _ = client.request("GET", f"/v2/{unique_repo}/blobs/{digest}",
                                        scope=f"repository:{unique_repo}:pull")
    assert status == 307
    location = headers["Location"]
    assert location.startswith(proxy.redirect_target.url) and "127.0.0.2" in location
    assert any("Authorization" in r.headers for r in proxy.requests)
    with urllib.request.urlopen(location) as resp:  # what a careful client does
        assert sha256(resp.read()) == digest
    target = proxy.redirect_target
    assert target.count() == 1 and "Authorization" not in target.requests[0]["headers"]
    # The recorder does see the header when a careless client sends it.
    req = urllib.request.Request(location, headers={"Authorization": "Bearer leaked"})
    urllib.request.urlopen(req).close()
    assert target.requests[-1]["headers"]["Authorization"] == "Bearer leaked"


def test_proxy_bad_manifests(fault_proxy, pushed_busybox):
    fault_proxy.malformed_manifest(times=1)
    fault_proxy.unsupported_media_type(times=1)
    client = RegistryClient(fault_proxy.url)
    media_type, body, _ = client.get_manifest("library/busybox", "latest")
    assert media_type == it.OCI_MANIFEST
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    media_type, body, _ = client.get_manifest("library/busybox", "latest")
    assert media_type == "application/vnd.example.unknown.v1+json"
    media_type, body, digest = client.get_manifest("library/busybox", "latest")
    assert digest == pushed_busybox.manifest_digest


def test_proxy_injected_failure(fault_proxy, pushed_busybox):
    fault_proxy.fail(500, times=1, pattern="/manifests/")
    client = RegistryClient(fault_proxy.url)
    with pytest.raises(RegistryError) as e:
        client.get_manifest("library/busybox", "latest")
    assert e.value.status == 500
    assert client.get_manifest("library/busybox", "latest")[2] == pushed_busybox.manifest_digest


# --------------------------------------------------------------------------
# User, install prefix, session setup


def test_run_as_user(run_as_user, test_user, prefix):
    assert test_user.uid != 0
    res = run_as_user(["id", "-u"])
    assert res.returncode == 0 and int(res.stdout) == test_user.uid
    res = run_as_user(["env"], env={"EXTRA": "1"})
    env = dict(line.split("=", 1) for line in res.stdout.splitlines())
    assert env["HOME"] == test_user.home == f"/home/{USER}"
    assert env["USER"] == USER and env["EXTRA"] == "1" and env["LANG"] == "C.UTF-8"
    assert env["PATH"].split(":")[0] == os.path.join(prefix, "bin")
    assert "PYTEST_CURRENT_TEST" not in env
    assert run_as_user(["pwd"]).stdout.strip() == test_user.home
    assert run_as_user(["cat"], input="piped").stdout == "piped"
    for f in ("/etc/subuid", "/etc/subgid"):
        assert any(line.startswith(f"{USER}:") for line in open(f))


def test_user_cache_is_emptied(run_as_user, test_user):
    cache = empty_user_cache()
    assert cache == user_cache_dir() == f"/home/{USER}/.singularity/cache"
    assert run_as_user(["touch", os.path.join(cache, "leftover")]).returncode == 0
    empty_user_cache()
    assert os.listdir(cache) == [] and os.stat(cache).st_uid == test_user.uid


def test_singularity_path(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="not installed"):
        singularity_path(str(tmp_path))
    (tmp_path / "bin").mkdir()
    exe = tmp_path / "bin" / "singularity"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert singularity_path(str(tmp_path)) == str(exe)


def test_dev_fuse_mode():
    if not os.path.exists("/dev/fuse"):
        pytest.fail("/dev/fuse is missing on this machine")
    assert stat.S_IMODE(os.stat("/dev/fuse").st_mode) == 0o666
