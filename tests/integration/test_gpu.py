"""--nv and --rocm with a fake driver (these machines have no GPU): stub
libraries registered in a test linker cache (read through the config's
`ldconfig path`), stub device nodes in the host's /dev and a stub driver
binary, checked inside the container as the normal user; without a driver
the job runs with a warning."""

import hashlib
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import run_as_user
from test_run import images, one_error, sing  # noqa: F401 (fixtures)

GPUS = {
    # option: (stub libraries, device nodes (name, major, minor), binary)
    "--nv": (["libcuda.so.1", "libnvidia-ml.so.1"], [("nvidia0", 195, 0), ("nvidiactl", 195, 255)],
             "nvidia-smi"),
    "--rocm": (["libamdhip64.so.5", "libhsa-runtime64.so.1"], [("kfd", 235, 0)], "rocminfo"),
}


class FakeDriver:
    def __init__(self, opt):
        self.libs, self.devs, self.binary = GPUS[opt]
        self.dir = tempfile.mkdtemp(prefix="sing-fake-gpu-")
        os.chmod(self.dir, 0o755)
        self.libdir = os.path.join(self.dir, "lib")
        os.mkdir(self.libdir)
        src = os.path.join(self.dir, "stub.c")
        self.digests = {}
        for lib in self.libs:
            with open(src, "w") as f:
                f.write(f'const char *fake_driver_name(void) {{ return "{lib}"; }}\n')
            out = os.path.join(self.libdir, lib)
            subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{lib}", "-o", out, src],
                           check=True)
            self.digests[lib] = hashlib.md5(open(out, "rb").read()).hexdigest()
        conf = os.path.join(self.dir, "ld.so.conf")
        with open(conf, "w") as f:
            f.write(self.libdir + "\n")
        self.cache = os.path.join(self.dir, "ld.so.cache")
        subprocess.run(["/sbin/ldconfig", "-X", "-C", self.cache, "-f", conf], check=True,
                       capture_output=True)
        self.ldconfig = os.path.join(self.dir, "ldconfig")
        with open(self.ldconfig, "w") as f:
            f.write(f'#!/bin/sh\nexec /sbin/ldconfig -C {self.cache} "$@"\n')
        os.chmod(self.ldconfig, 0o755)
        self.made = []
        for name, major, minor in self.devs:
            path = "/dev/" + name
            if not os.path.exists(path):
                os.mknod(path, 0o666 | 0o020000, os.makedev(major, minor))
                os.chmod(path, 0o666)
                self.made.append(path)
        self.bin = "/usr/local/bin/" + self.binary
        if os.path.exists(self.bin):
            self.bin = None
        else:
            with open(self.bin, "w") as f:
                f.write(f"#!/bin/sh\necho fake {self.binary}\n")
            os.chmod(self.bin, 0o755)
            self.made.append(self.bin)

    def remove(self):
        for path in self.made:
            os.unlink(path)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(params=sorted(GPUS))
def fake_driver(request, sing_config):
    drv = FakeDriver(request.param)
    drv.opt = request.param
    sing_config.set(**{"ldconfig path": drv.ldconfig})
    yield drv
    drv.remove()


PROBE = ("ls /.singularity.d/libs; echo LD=$LD_LIBRARY_PATH; "
         "for l in /.singularity.d/libs/*; do md5sum $l; done; "
         "ls -l {devs} | cut -c1; {binary}; "
         "touch /.singularity.d/libs/x 2>/dev/null && echo libs-writable; "
         "echo . >> /.singularity.d/libs/{lib} 2>/dev/null || echo libs-read-only")


@pytest.mark.parametrize("contain", [False, True], ids=["host-dev", "minimal-dev"])
def test_gpu_driver_files_and_devices_in_the_container(images, fake_driver, run_mode, contain):
    drv = fake_driver
    devs = " ".join("/dev/" + d[0] for d in drv.devs)
    probe = PROBE.format(devs=devs, binary=drv.binary, lib=drv.libs[0])
    r = sing("exec", *(["--contain"] if contain else []), drv.opt, images["sif"], "sh", "-c",
             probe)
    assert r.returncode == 0, r.stderr
    assert "WARNING" not in r.stderr, r.stderr
    out = r.stdout.splitlines()
    assert out[:len(drv.libs)] == sorted(drv.libs), out
    ld = out[len(drv.libs)]
    assert "/.singularity.d/libs" in ld.removeprefix("LD=").split(":"), out
    sums = {line.split()[1].rsplit("/", 1)[1]: line.split()[0]
            for line in out[len(drv.libs) + 1:2 * len(drv.libs) + 1]}
    assert sums == drv.digests, out
    rest = out[2 * len(drv.libs) + 1:]
    assert rest[:len(drv.devs)] == ["c"] * len(drv.devs), out
    if drv.bin:
        assert rest[len(drv.devs)] == f"fake {drv.binary}", out
    assert rest[-1] == "libs-read-only" and "libs-writable" not in rest, out


def test_gpu_files_must_be_root_owned(images, fake_driver, test_user):
    """A library the cache names but root does not own is refused (in setuid
    mode --nv must not bind what the admin did not install)."""
    os.chown(os.path.join(fake_driver.libdir, fake_driver.libs[0]), test_user.uid, test_user.gid)
    r = sing("exec", fake_driver.opt, images["sif"], "true")
    one_error(r, "not a regular file owned by root")


def test_gpu_without_a_driver_warns_and_runs(images):
    for opt, vendor in (("--nv", "NVIDIA"), ("--rocm", "ROCm")):
        r = sing("exec", opt, images["sif"], "sh", "-c", "echo ran; ls /.singularity.d/libs")
        assert r.returncode == 0, r.stderr
        assert r.stdout == "ran\n", r.stdout
        warnings = [l for l in r.stderr.splitlines() if l.startswith("WARNING")]
        assert any(f"no {vendor} driver libraries" in w for w in warnings), r.stderr


def test_starter_refuses_gpu_paths_that_are_not_files(images, prefix):
    """The frontend-starter protocol: --gpu-lib must name a file by absolute path."""
    starter = os.path.join(prefix, "libexec", "singularity", "starter")
    for bad in ("relative.so", "/usr/lib/", "/usr/lib/.."):
        r = run_as_user([starter, "--action", "exec", "--image", images["sif"], "--gpu-lib",
                         bad, "--", "true"])
        one_error(r, "not an absolute path of a file")
