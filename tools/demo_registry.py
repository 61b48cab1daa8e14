#!/usr/bin/python3
"""Start a local plain-HTTP registry holding a small busybox image made on the
spot (no internet needed), print its host:port, and serve until stdin closes."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import imagetools  # noqa: E402
import registry  # noqa: E402


def main():
    work = tempfile.mkdtemp(prefix="sing-demo-registry-")
    reg = registry.Registry(work, flavour="http")
    reg.start()
    img = imagetools.busybox_image(
        extra_layers=[[imagetools.File("etc/os-release",
                                       b'PRETTY_NAME="Singularity demo (busybox)"\nID=demo\n')]],
        cmd=["/bin/echo", "Hello Dinosaur!"],
        env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "GREETING=hello from the image"],
        labels={"org.example.demo": "yes"})
    imagetools.push_image(reg, "demo/busybox", "latest", img)
    print(reg.hostport, flush=True)
    try:
        sys.stdin.read()
    finally:
        reg.stop()


if __name__ == "__main__":
    main()
