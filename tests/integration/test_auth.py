"""Registry authentication and transport security for pull, as a normal user."""

import json
import os
import shutil

import pytest

import imagetools
from conftest import run_as_user, test_user as _unused  # noqa: F401

NOHTTPS = {"SINGULARITY_NOHTTPS": "1"}


def pull(singularity, uri, *args, cwd, env=None):
    return run_as_user([singularity, "pull", "--force", *args, uri], cwd=cwd, env=env or {})


def one_error(r, needle):
    assert r.returncode == 255, r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR:")]
    assert len(errors) == 1 and needle in errors[0], r.stderr


@pytest.fixture
def user_ca(registry_tls, user_tmp, test_user):
    """The test CA, copied where the test user can read it."""
    dst = os.path.join(user_tmp, "ca.pem")
    shutil.copy(registry_tls.ca_file, dst)
    os.chmod(dst, 0o644)
    return dst


def push_busybox(reg, repo):
    return imagetools.push_image(reg, repo, "latest", imagetools.busybox_image())


def test_tls_with_trusted_ca(singularity, registry_tls, user_ca, user_tmp, unique_repo):
    push_busybox(registry_tls, unique_repo)
    uri = f"docker://{registry_tls.hostport}/{unique_repo}:latest"
    r = pull(singularity, uri, "--name", "a.sif", cwd=user_tmp, env={"SSL_CERT_FILE": user_ca})
    assert r.returncode == 0, r.stderr
    capath = os.path.join(user_tmp, "certs")
    os.mkdir(capath)
    shutil.copy(user_ca, capath)
    import subprocess
    subprocess.run(["openssl", "rehash", capath], check=True)
    os.chmod(capath, 0o755)
    r = pull(singularity, uri, "--name", "b.sif", cwd=user_tmp, env={"SSL_CERT_DIR": capath})
    assert r.returncode == 0, r.stderr


def test_tls_untrusted_ca_says_how_to_trust(singularity, registry_tls, user_tmp, unique_repo):
    push_busybox(registry_tls, unique_repo)
    r = pull(singularity, f"docker://{registry_tls.hostport}/{unique_repo}:latest",
             cwd=user_tmp)
    one_error(r, "not trusted")
    assert "SSL_CERT_FILE" in r.stderr
    assert os.listdir(user_tmp) == []


def test_plain_http_needs_nohttps(singularity, registry, pushed_busybox, user_tmp):
    uri = f"docker://{registry.hostport}/library/busybox:latest"
    r = pull(singularity, uri, cwd=user_tmp)
    assert r.returncode == 255
    r = pull(singularity, uri, "--nohttps", cwd=user_tmp)
    assert r.returncode == 0, r.stderr


def test_basic_auth_from_environment(singularity, registry_basic, user_tmp, unique_repo):
    push_busybox(registry_basic, unique_repo)
    uri = f"docker://{registry_basic.hostport}/{unique_repo}:latest"
    user, password = registry_basic.credentials()
    env = dict(NOHTTPS, SINGULARITY_DOCKER_USERNAME=user, SINGULARITY_DOCKER_PASSWORD=password)
    r = pull(singularity, uri, cwd=user_tmp, env=env)
    assert r.returncode == 0, r.stderr
    env["SINGULARITY_DOCKER_PASSWORD"] = "wrong"
    r = pull(singularity, uri, "--name", "x.sif", cwd=user_tmp, env=env)
    one_error(r, f"authentication failed for {registry_basic.hostport}")
    r = pull(singularity, uri, "--name", "y.sif", cwd=user_tmp, env=NOHTTPS)
    one_error(r, "authentication required")
    assert sorted(os.listdir(user_tmp)) == [f"{unique_repo.split('/')[-1]}_latest.sif"]


def test_basic_auth_from_docker_config(singularity, registry_basic, user_tmp, unique_repo,
                                       test_user):
    push_busybox(registry_basic, unique_repo)
    user, password = registry_basic.credentials()
    docker_dir = os.path.join(user_tmp, "docker")
    os.mkdir(docker_dir)
    import base64
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    with open(os.path.join(docker_dir, "config.json"), "w") as f:
        json.dump({"auths": {registry_basic.hostport: {"auth": auth},
                             "other.example:5000": {"auth": "eDp5"}}}, f)
    for p in (docker_dir, os.path.join(docker_dir, "config.json")):
        os.chown(p, test_user.uid, test_user.gid)
    os.chmod(docker_dir, 0o700)
    env = dict(NOHTTPS, DOCKER_CONFIG=docker_dir)
    r = pull(singularity, f"docker://{registry_basic.hostport}/{unique_repo}:latest",
             cwd=user_tmp, env=env)
    assert r.returncode == 0, r.stderr
    # The environment wins over the config file.
    env.update(SINGULARITY_DOCKER_USERNAME=user, SINGULARITY_DOCKER_PASSWORD="wrong")
    r = pull(singularity, f"docker://{registry_basic.hostport}/{unique_repo}:latest",
             "--name", "z.sif", cwd=user_tmp, env=env)
    one_error(r, "authentication failed")


def test_token_auth(singularity, registry_token, user_tmp, unique_repo):
    push_busybox(registry_token, unique_repo)
    ts = registry_token.token_server
    user, password = registry_token.credentials()
    uri = f"docker://{registry_token.hostport}/{unique_repo}:latest"
    ts.reset_counters()
    env = dict(NOHTTPS, SINGULARITY_DOCKER_USERNAME=user, SINGULARITY_DOCKER_PASSWORD=password)
    r = pull(singularity, uri, cwd=user_tmp, env=env)
    assert r.returncode == 0, r.stderr
    # One token for the whole pull: it is cached per scope.
    assert ts.tokens_issued == 1, ts.requests
    assert any(f"repository:{unique_repo}:pull" in q["scopes"] for q in ts.requests)
    env["SINGULARITY_DOCKER_PASSWORD"] = "wrong"
    r = pull(singularity, uri, "--name", "bad.sif", cwd=user_tmp, env=env)
    one_error(r, f"authentication failed for {registry_token.hostport}")
    assert not os.path.exists(os.path.join(user_tmp, "bad.sif"))


def test_token_anonymous_pull(singularity, make_registry, user_tmp, unique_repo):
    reg = make_registry("token", token_kwargs={"anonymous_pull": True})
    push_busybox(reg, unique_repo)
    r = pull(singularity, f"docker://{reg.hostport}/{unique_repo}:latest", cwd=user_tmp,
             env=NOHTTPS)
    assert r.returncode == 0, r.stderr


def test_token_refreshed_when_expired(singularity, make_registry, make_fault_proxy, user_tmp,
                                      unique_repo, clean_user_cache):
    reg = make_registry("token", token_kwargs={"expires_in": 1})
    img = imagetools.busybox_image(extra_layers=[[imagetools.File("x", b"x")]])
    pushed = imagetools.push_image(reg, unique_repo, "latest", img)
    proxy = make_fault_proxy(reg)
    # Server errors make the pull retry with backoff past the token's life.
    proxy.fail(500, times=3, pattern=r"/blobs/" + pushed.layer_digests[-1] + "$")
    user, password = reg.credentials()
    reg.token_server.reset_counters()
    env = dict(NOHTTPS, SINGULARITY_DOCKER_USERNAME=user, SINGULARITY_DOCKER_PASSWORD=password)
    r = pull(singularity, f"docker://{proxy.hostport}/{unique_repo}:latest", cwd=user_tmp,
             env=env)
    assert r.returncode == 0, r.stderr
    assert reg.token_server.tokens_issued >= 2


def test_redirect_to_other_host_drops_credentials(singularity, registry_basic, make_fault_proxy,
                                                  user_tmp, unique_repo, clean_user_cache):
    push_busybox(registry_basic, unique_repo)
    proxy = make_fault_proxy(registry_basic)
    proxy.redirect_blobs()
    user, password = registry_basic.credentials()
    env = dict(NOHTTPS, SINGULARITY_DOCKER_USERNAME=user, SINGULARITY_DOCKER_PASSWORD=password)
    r = run_as_user([singularity, "-d", "pull", f"docker://{proxy.hostport}/{unique_repo}:latest"],
                    cwd=user_tmp, env=env)
    assert r.returncode == 0, r.stderr
    target = proxy.redirect_target
    assert target.count() >= 2  # config and layer came from the other host
    for q in target.requests:
        assert "authorization" not in {k.lower() for k in q["headers"]}, q
    # The registry itself did get them.
    assert any("authorization" in {k.lower() for k in q.headers} for q in proxy.requests)
    # Never printed, not even with --debug.
    assert password not in r.stderr and password not in r.stdout


class _ForwardProxy:
    """A minimal plain-HTTP forward proxy that records the absolute URLs it
    is asked for (a client honouring http_proxy sends them)."""

    def __init__(self):
        import http.server
        import threading
        import urllib.request
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                seen.append(self.path)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-connection", "connection", "host")}
                req = urllib.request.Request(self.path, headers=headers)
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                try:
                    resp = opener.open(req)
                    status, body, rh = resp.status, resp.read(), resp.headers
                except urllib.error.HTTPError as err:
                    status, body, rh = err.code, err.read(), err.headers
                self.send_response(status)
                for k, v in rh.items():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def test_http_proxy_from_environment(singularity, registry, pushed_busybox, user_tmp,
                                     clean_user_cache):
    proxy = _ForwardProxy()
    try:
        r = pull(singularity, f"docker://{registry.hostport}/library/busybox:latest",
                 cwd=user_tmp, env=dict(NOHTTPS, http_proxy=proxy.url))
        assert r.returncode == 0, r.stderr
        assert any(u.startswith(f"http://{registry.hostport}/v2/library/busybox/manifests/")
                   for u in proxy.seen), proxy.seen
        assert any("/blobs/sha256:" in u for u in proxy.seen), proxy.seen
    finally:
        proxy.stop()


# --------------------------------------------------------------------------
# Credentials never go over plain HTTP unless --nohttps asked for it (issue 9)


def _token_requests_with_auth(ts):
    return [q for q in ts.requests
            if "authorization" in {k.lower() for k in q["headers"]}]


def test_https_registry_with_http_realm_keeps_credentials(
        singularity, make_registry, make_fault_proxy, test_ca, user_tmp, unique_repo,
        clean_user_cache):
    """An HTTPS registry (the TLS proxy) whose token realm is http://: the
    user's password must not be sent there in clear; one line says why."""
    reg = make_registry("token")
    push_busybox(reg, unique_repo)
    proxy = make_fault_proxy(reg, tls=test_ca)
    ca = os.path.join(user_tmp, "ca.pem")
    shutil.copy(test_ca.ca_file, ca)
    os.chmod(ca, 0o644)
    ts = reg.token_server
    assert ts.realm.startswith("http://")
    user, password = reg.credentials()
    ts.reset_counters()
    for env in ({"SINGULARITY_DOCKER_USERNAME": user, "SINGULARITY_DOCKER_PASSWORD": password},
                {"APPTAINER_DOCKER_USERNAME": user, "APPTAINER_DOCKER_PASSWORD": password}):
        env["SSL_CERT_FILE"] = ca
        r = pull(singularity, f"docker://{proxy.hostport}/{unique_repo}:latest", "--name",
                 "leak.sif", cwd=user_tmp, env=env)
        one_error(r, "plain HTTP")
        assert "--nohttps" in r.stderr
        assert not os.path.exists(os.path.join(user_tmp, "leak.sif"))
    assert _token_requests_with_auth(ts) == [], ts.requests
    # --nohttps for that very registry: the user accepted plain HTTP, creds go.
    env = dict(NOHTTPS, SINGULARITY_DOCKER_USERNAME=user, SINGULARITY_DOCKER_PASSWORD=password)
    r = pull(singularity, f"docker://{reg.hostport}/{unique_repo}:latest", "--name", "ok.sif",
             cwd=user_tmp, env=env)
    assert r.returncode == 0, r.stderr
    assert _token_requests_with_auth(ts), ts.requests
    # No credentials, nothing to leak: an anonymous token over http is fine.
    anon = make_registry("token", token_kwargs={"anonymous_pull": True})
    push_busybox(anon, unique_repo)
    anon_proxy = make_fault_proxy(anon, tls=test_ca)
    anon.token_server.reset_counters()  # the push authenticated
    r = pull(singularity, f"docker://{anon_proxy.hostport}/{unique_repo}:latest", cwd=user_tmp,
             env={"SSL_CERT_FILE": ca})
    assert r.returncode == 0, r.stderr
    assert anon.token_server.requests, "no token was asked for"
    assert _token_requests_with_auth(anon.token_server) == []


def test_docker_username_and_password_variables(singularity, registry_basic, user_tmp,
                                                 unique_repo):
    push_busybox(registry_basic, unique_repo)
    user, password = registry_basic.credentials()
    uri = f"docker://{registry_basic.hostport}/{unique_repo}:latest"
    r = pull(singularity, uri, cwd=user_tmp,
             env=dict(NOHTTPS, DOCKER_USERNAME=user, DOCKER_PASSWORD=password))
    assert r.returncode == 0, r.stderr
    r = pull(singularity, uri, "--name", "x.sif", cwd=user_tmp,
             env=dict(NOHTTPS, DOCKER_USERNAME=user, DOCKER_PASSWORD="wrong"))
    one_error(r, "authentication failed")


HELPER = """#!/bin/sh
# A docker-credential helper: `get` reads the server on stdin.
[ "$1" = get ] || exit 2
read -r server
echo "$server" >> "{log}"
if [ "$server" = "{host}" ]; then
    printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{password}"}}\\n' "$server"
else
    echo "credentials not found in native keychain"
    exit 1
fi
"""


@pytest.mark.parametrize("key", ["credsStore", "credHelpers"])
def test_docker_credential_helpers(singularity, registry_basic, user_tmp, unique_repo, key):
    push_busybox(registry_basic, unique_repo)
    user, password = registry_basic.credentials()
    bindir, docker_dir = os.path.join(user_tmp, "bin"), os.path.join(user_tmp, "docker")
    log = os.path.join(user_tmp, "helper.log")
    run_as_user(["mkdir", bindir, docker_dir], check=True)
    helper = os.path.join(bindir, "docker-credential-wftest")
    run_as_user(["sh", "-c", 'cat > "$0" && chmod 755 "$0"', helper], check=True,
                input=HELPER.format(log=log, host=registry_basic.hostport, user=user,
                                    password=password))
    conf = ({"credsStore": "wftest"} if key == "credsStore"
            else {"credHelpers": {registry_basic.hostport: "wftest",
                                  "other.example": "missing-helper"}})
    run_as_user(["sh", "-c", 'cat > "$0"', os.path.join(docker_dir, "config.json")], check=True,
                input=json.dumps(conf))
    path = f"{bindir}:/usr/local/bin:/usr/bin:/bin"
    env = dict(NOHTTPS, DOCKER_CONFIG=docker_dir, PATH=f"{os.path.dirname(singularity)}:{path}")
    r = pull(singularity, f"docker://{registry_basic.hostport}/{unique_repo}:latest",
             cwd=user_tmp, env=env)
    assert r.returncode == 0, r.stderr
    assert open(log).read().splitlines()[0] == registry_basic.hostport
    assert password not in r.stderr


def test_unreadable_docker_config_is_a_warning(singularity, registry, pushed_busybox, user_tmp):
    docker_dir = os.path.join(user_tmp, "docker")
    os.mkdir(docker_dir, 0o755)
    with open(os.path.join(docker_dir, "config.json"), "w") as f:
        f.write("{}")
    os.chmod(os.path.join(docker_dir, "config.json"), 0o600)  # root's: unreadable to the user
    r = pull(singularity, f"docker://{registry.hostport}/library/busybox:latest", cwd=user_tmp,
             env=dict(NOHTTPS, DOCKER_CONFIG=docker_dir))
    assert r.returncode == 0, r.stderr
    assert any(l.startswith("WARNING") and "config.json" in l for l in r.stderr.splitlines()), \
        r.stderr


def test_registry_login_and_logout(singularity, registry_basic, user_tmp, unique_repo):
    """registry login writes the credentials into the Docker config that pulls
    read (0600, other entries kept); logout removes them."""
    push_busybox(registry_basic, unique_repo)
    user, password = registry_basic.credentials()
    docker_dir = os.path.join(user_tmp, "docker")
    conf = os.path.join(docker_dir, "config.json")
    run_as_user(["mkdir", docker_dir], check=True)
    run_as_user(["sh", "-c", 'cat > "$0"', conf], check=True,
                input=json.dumps({"auths": {"other.example": {"auth": "eDp5"}}, "x": 1}))
    env = dict(NOHTTPS, DOCKER_CONFIG=docker_dir)
    host = f"docker://{registry_basic.hostport}"
    uri = f"{host}/{unique_repo}:latest"
    r = run_as_user([singularity, "registry", "login", "-u", user, "--password-stdin", host],
                    env=env, input=password + "\n")
    assert r.returncode == 0, r.stderr
    assert password not in r.stdout + r.stderr
    assert os.stat(conf).st_mode & 0o777 == 0o600
    saved = json.load(open(conf))
    assert saved["x"] == 1 and "other.example" in saved["auths"]
    assert registry_basic.hostport in saved["auths"]
    r = pull(singularity, uri, cwd=user_tmp, env=env)
    assert r.returncode == 0, r.stderr
    r = run_as_user([singularity, "registry", "logout", host], env=env)
    assert r.returncode == 0, r.stderr
    saved = json.load(open(conf))
    assert registry_basic.hostport not in saved["auths"] and "other.example" in saved["auths"]
    r = pull(singularity, uri, "--name", "again.sif", cwd=user_tmp, env=env)
    one_error(r, "authentication required")
    r = run_as_user([singularity, "registry", "logout", host], env=env)
    one_error(r, "not logged in")
    # --authfile names another file; -p gives the password.
    other = os.path.join(user_tmp, "auth.json")
    r = run_as_user([singularity, "registry", "login", "--authfile", other, "-u", user, "-p",
                     password, host], env=env)
    assert r.returncode == 0, r.stderr
    assert registry_basic.hostport in json.load(open(other))["auths"]
    r = run_as_user([singularity, "registry", "login", host], env=env, input="")
    one_error(r, "a user name and a password are needed")


def test_registry_login_file_is_0600_and_whole(singularity, registry_basic, user_tmp):
    """The credentials file is 0600 whatever the umask and appears whole; a
    login that cannot write it says so once and leaves the old file and no
    temp file behind."""
    user, password = registry_basic.credentials()
    docker_dir = os.path.join(user_tmp, "docker-umask")
    conf = os.path.join(docker_dir, "config.json")
    env = dict(NOHTTPS, DOCKER_CONFIG=docker_dir)
    host = f"docker://{registry_basic.hostport}"
    login = ["sh", "-c", 'umask 0; exec "$@"', "sh", singularity, "registry", "login", "-u",
             user, "--password-stdin", host]
    r = run_as_user(login, env=env, input=password + "\n")
    assert r.returncode == 0, r.stderr
    assert os.stat(conf).st_mode & 0o777 == 0o600
    assert os.listdir(docker_dir) == ["config.json"]
    assert registry_basic.hostport in json.load(open(conf))["auths"]
    before = open(conf).read()
    os.chmod(docker_dir, 0o500)
    try:
        r = run_as_user([singularity, "registry", "logout", host], env=env)
    finally:
        os.chmod(docker_dir, 0o700)
    one_error(r, docker_dir)
    assert os.listdir(docker_dir) == ["config.json"]
    assert open(conf).read() == before


# --------------------------------------------------------------------------
# --docker-login and --authfile (issue 11)


def run_on_terminal(args, answers, env=None, cwd=None, timeout=120):
    """Run args as the test user with a pseudo-terminal as its controlling
    terminal (and stdin); each (prompt, reply) of answers is typed when the
    prompt shows. Returns (returncode, terminal transcript, stdout, stderr)."""
    import fcntl
    import select
    import subprocess
    import termios
    import time
    from conftest import ensure_user, user_env
    info = ensure_user()
    master, slave = os.openpty()
    os.chown(os.ttyname(slave), info.uid, info.gid)

    def take_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    cmd = ["setpriv", f"--reuid={info.name}", f"--regid={info.name}", "--init-groups",
           "--"] + [str(a) for a in args]
    proc = subprocess.Popen(cmd, env=user_env(env), cwd=cwd or info.home, stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=take_terminal)
    os.close(slave)
    transcript, pending = b"", list(answers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every holder of the terminal is gone
                break
            if not chunk:
                break
            transcript += chunk
        if pending and pending[0][0].encode() in transcript.split(b"\n")[-1]:
            os.write(master, pending.pop(0)[1].encode() + b"\n")
        if proc.poll() is not None and not ready:
            break
    out, err = proc.communicate(timeout=timeout)
    os.close(master)
    return proc.returncode, transcript.decode(errors="replace"), out.decode(), err.decode()


def files_holding(secret, *roots):
    """Paths under roots whose content holds secret (or its base64 user:pass form)."""
    found = []
    for root in roots:
        for d, _, names in os.walk(root):
            for n in names:
                p = os.path.join(d, n)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                with open(p, "rb") as f:
                    data = f.read()
                if any(s in data for s in secret):
                    found.append(p)
    return found


def user_file(path, text, test_user, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, test_user.uid, test_user.gid)
    os.chmod(path, mode)
    return path


def docker_auth(hostport, user, password):
    import base64
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {hostport: {"auth": auth}}})


@pytest.fixture(params=["basic", "token"])
def auth_registry(request):
    return request.getfixturevalue("registry_" + request.param)


def test_docker_login_asks_on_the_terminal(singularity, auth_registry, user_tmp, unique_repo,
                                           test_user, clean_user_cache):
    """pull --docker-login: the user name and password are typed on the
    terminal (the password not echoed), used for this pull only, over the
    environment's wrong pair, and written nowhere."""
    import base64
    push_busybox(auth_registry, unique_repo)
    user, password = auth_registry.credentials()
    uri = f"docker://{auth_registry.hostport}/{unique_repo}:latest"
    docker_dir = os.path.join(user_tmp, "docker")
    run_as_user(["mkdir", docker_dir], check=True)
    env = dict(NOHTTPS, DOCKER_CONFIG=docker_dir, SINGULARITY_DOCKER_USERNAME=user,
               SINGULARITY_DOCKER_PASSWORD="wrong")
    answers = [("Username: ", user), ("Password: ", password)]
    rc, tty, out, err = run_on_terminal([singularity, "pull", "--docker-login", "--name",
                                         "a.sif", uri], answers, env=env, cwd=user_tmp)
    assert rc == 0, (tty, err)
    assert os.path.exists(os.path.join(user_tmp, "a.sif"))
    assert "Username: " in tty and user in tty and "Password: " in tty
    assert password not in tty + out + err  # not echoed, never printed
    assert os.listdir(docker_dir) == []
    plain = base64.b64encode(f"{user}:{password}".encode())
    assert files_holding([password.encode(), plain], user_tmp, test_user.home) == []
    # Only for that command: the next pull has the environment's pair again.
    r = pull(singularity, uri, "--name", "b.sif", cwd=user_tmp, env=env)
    one_error(r, "authentication failed")
    # A wrong password typed is the registry's refusal, nothing else.
    rc, tty, out, err = run_on_terminal(
        [singularity, "pull", "--docker-login", "--name", "c.sif", uri],
        [("Username: ", user), ("Password: ", "nope")], env=env, cwd=user_tmp)
    assert rc == 255 and "authentication failed" in err, (tty, err)
    assert not os.path.exists(os.path.join(user_tmp, "c.sif"))


def test_docker_login_without_a_terminal(singularity, registry_basic, user_tmp, unique_repo):
    uri = f"docker://{registry_basic.hostport}/{unique_repo}:latest"
    for cmd in (["pull", "--docker-login", uri], ["build", "--docker-login", "o.sif", uri],
                ["exec", "--docker-login", uri, "true"]):
        # setsid: a new session, so no controlling terminal whatever runs the tests.
        r = run_as_user(["setsid", "-w", singularity, *cmd], cwd=user_tmp, env=NOHTTPS,
                        input="")
        one_error(r, "--docker-login: no terminal")
        assert os.listdir(user_tmp) == [], cmd


def test_exec_docker_login(singularity, registry_token, user_tmp, unique_repo,
                           clean_user_cache):
    """exec docker:// --docker-login: the light binary hands the option to the
    image tool, which asks on the terminal."""
    push_busybox(registry_token, unique_repo)
    user, password = registry_token.credentials()
    uri = f"docker://{registry_token.hostport}/{unique_repo}:latest"
    rc, tty, out, err = run_on_terminal(
        [singularity, "exec", "--docker-login", uri, "echo", "in-container"],
        [("Username: ", user), ("Password: ", password)], env=NOHTTPS, cwd=user_tmp)
    assert rc == 0, (tty, err)
    assert "in-container" in out
    assert password not in tty + out + err


def test_authfile_replaces_the_docker_config(singularity, auth_registry, user_tmp, unique_repo,
                                             test_user, clean_user_cache):
    """--authfile FILE is read instead of the Docker config (which holds a
    wrong password here), by pull and build; a missing or unreadable FILE is
    an error naming it."""
    push_busybox(auth_registry, unique_repo)
    user, password = auth_registry.credentials()
    uri = f"docker://{auth_registry.hostport}/{unique_repo}:latest"
    docker_dir = os.path.join(user_tmp, "docker")
    run_as_user(["mkdir", docker_dir], check=True)
    user_file(os.path.join(docker_dir, "config.json"),
              docker_auth(auth_registry.hostport, user, "wrong"), test_user)
    good = user_file(os.path.join(user_tmp, "auth.json"),
                     docker_auth(auth_registry.hostport, user, password), test_user)
    env = dict(NOHTTPS, DOCKER_CONFIG=docker_dir)
    r = pull(singularity, uri, "--name", "default.sif", cwd=user_tmp, env=env)
    one_error(r, "authentication failed")
    r = pull(singularity, uri, "--authfile", good, "--name", "a.sif", cwd=user_tmp, env=env)
    assert r.returncode == 0, r.stderr
    r = run_as_user([singularity, "build", "--authfile", "auth.json", "b.sif", uri],
                    cwd=user_tmp, env=env)
    assert r.returncode == 0, r.stderr
    missing = os.path.join(user_tmp, "nothere.json")
    r = pull(singularity, uri, "--authfile", missing, "--name", "c.sif", cwd=user_tmp, env=env)
    one_error(r, f"--authfile {missing}: No such file or directory")
    root_only = os.path.join(user_tmp, "root.json")
    with open(root_only, "w") as f:
        f.write(docker_auth(auth_registry.hostport, user, password))
    os.chmod(root_only, 0o600)
    r = pull(singularity, uri, "--authfile", root_only, "--name", "d.sif", cwd=user_tmp,
             env=env)
    one_error(r, f"--authfile {root_only}: Permission denied")
    fifo = os.path.join(user_tmp, "fifo")
    os.mkfifo(fifo, 0o666)
    r = run_as_user([singularity, "pull", "--authfile", fifo, "--name", "e.sif", uri],
                    cwd=user_tmp, env=env, timeout=60)  # refused, not waited on
    one_error(r, f"{fifo} is not a regular file")
    assert sorted(os.listdir(user_tmp)) == ["a.sif", "auth.json", "b.sif", "docker", "fifo",
                                            "root.json"]


def test_run_and_exec_docker_with_authfile(singularity, registry_basic, user_tmp, unique_repo,
                                           test_user, clean_user_cache):
    push_busybox(registry_basic, unique_repo)
    user, password = registry_basic.credentials()
    uri = f"docker://{registry_basic.hostport}/{unique_repo}:latest"
    good = user_file(os.path.join(user_tmp, "auth.json"),
                     docker_auth(registry_basic.hostport, user, password), test_user)
    r = run_as_user([singularity, "exec", uri, "true"], cwd=user_tmp, env=NOHTTPS)
    one_error(r, "authentication required")
    r = run_as_user([singularity, "exec", "--authfile", good, uri, "echo", "exec-ok"],
                    cwd=user_tmp, env=NOHTTPS)
    assert r.returncode == 0 and "exec-ok" in r.stdout, r.stderr
    empty_user_cache_again()
    r = run_as_user([singularity, "run", "--authfile", "auth.json", uri, "-c", "echo run-ok"],
                    cwd=user_tmp, env=NOHTTPS)
    assert r.returncode == 0, r.stderr
    empty_user_cache_again()
    name = "authfile-" + unique_repo.rsplit("-", 1)[-1]
    r = run_as_user([singularity, "instance", "start", "--authfile", good, uri, name],
                    cwd=user_tmp, env=NOHTTPS)
    try:
        assert r.returncode == 0, r.stderr
        r = run_as_user([singularity, "exec", f"instance://{name}", "echo", "joined"],
                        cwd=user_tmp)
        assert r.returncode == 0 and "joined" in r.stdout, r.stderr
    finally:
        run_as_user([singularity, "instance", "stop", "--timeout", "1", name])
    missing = os.path.join(user_tmp, "none.json")
    empty_user_cache_again()
    r = run_as_user([singularity, "exec", "--authfile", missing, uri, "true"], cwd=user_tmp,
                    env=NOHTTPS)
    one_error(r, f"--authfile {missing}")


def empty_user_cache_again():
    from conftest import empty_user_cache
    empty_user_cache()


def test_authfile_credentials_not_sent_to_a_redirect_host(singularity, registry_basic,
                                                         make_fault_proxy, user_tmp,
                                                         unique_repo, test_user,
                                                         clean_user_cache):
    """Credentials from --authfile go to the registry they are saved for,
    never to the other host (port) its blob redirects point to."""
    push_busybox(registry_basic, unique_repo)
    proxy = make_fault_proxy(registry_basic)
    proxy.redirect_blobs()
    user, password = registry_basic.credentials()
    good = user_file(os.path.join(user_tmp, "auth.json"),
                     docker_auth(proxy.hostport, user, password), test_user)
    r = run_as_user([singularity, "-d", "pull", "--authfile", good,
                     f"docker://{proxy.hostport}/{unique_repo}:latest"], cwd=user_tmp,
                    env=NOHTTPS)
    assert r.returncode == 0, r.stderr
    target = proxy.redirect_target
    assert target.count() >= 2
    for q in target.requests:
        assert "authorization" not in {k.lower() for k in q["headers"]}, q
    assert any("authorization" in {k.lower() for k in q.headers} for q in proxy.requests)
    assert password not in r.stderr and password not in r.stdout


def test_apptainer_docker_pair_wins(singularity, registry_basic, user_tmp, unique_repo,
                                    clean_user_cache):
    """APPTAINER_DOCKER_USERNAME/_PASSWORD over the SINGULARITY_ pair, for pull
    and for exec of a docker:// image (read by the image tool)."""
    push_busybox(registry_basic, unique_repo)
    user, password = registry_basic.credentials()
    uri = f"docker://{registry_basic.hostport}/{unique_repo}:latest"
    right = dict(NOHTTPS, APPTAINER_DOCKER_USERNAME=user, APPTAINER_DOCKER_PASSWORD=password,
                 SINGULARITY_DOCKER_USERNAME=user, SINGULARITY_DOCKER_PASSWORD="wrong")
    wrong = dict(right, APPTAINER_DOCKER_PASSWORD="wrong", SINGULARITY_DOCKER_PASSWORD=password)
    r = pull(singularity, uri, "--name", "a.sif", cwd=user_tmp, env=wrong)
    one_error(r, "authentication failed")
    r = pull(singularity, uri, "--name", "a.sif", cwd=user_tmp, env=right)
    assert r.returncode == 0, r.stderr
    empty_user_cache_again()
    r = run_as_user([singularity, "exec", uri, "true"], cwd=user_tmp, env=wrong)
    one_error(r, "authentication failed")
    r = run_as_user([singularity, "exec", uri, "true"], cwd=user_tmp, env=right)
    assert r.returncode == 0, r.stderr


def test_registry_login_asks_on_the_terminal(singularity, registry_basic, user_tmp, test_user):
    """registry login without -u/-p asks on the terminal (the prompt code it
    shares with --docker-login), the password without echo."""
    user, password = registry_basic.credentials()
    conf = os.path.join(user_tmp, "auth.json")
    rc, tty, out, err = run_on_terminal(
        [singularity, "registry", "login", "--authfile", conf,
         f"docker://{registry_basic.hostport}"],
        [("Username: ", user), ("Password: ", password)], cwd=user_tmp)
    assert rc == 0, (tty, err)
    assert password not in tty + out + err
    import base64
    saved = json.load(open(conf))["auths"][registry_basic.hostport]["auth"]
    assert base64.b64decode(saved).decode() == f"{user}:{password}"
