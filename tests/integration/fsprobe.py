"""What the file system under a directory can do, for tests and the bench.

    reflink_supported(d) -> whether FICLONE (shared extents) works in d
"""
import fcntl
import os

FICLONE = 0x40049409


def reflink_supported(d):
    """Whether FICLONE works in directory d (the file system shares extents)."""
    a, b = os.path.join(d, ".reflink-a"), os.path.join(d, ".reflink-b")
    try:
        with open(a, "wb") as fa:
            fa.write(b"x" * 4096)
        with open(a, "rb") as fa, open(b, "wb") as fb:
            fcntl.ioctl(fb.fileno(), FICLONE, fa.fileno())
        return True
    except OSError:
        return False
    finally:
        for p in (a, b):
            if os.path.exists(p):
                os.unlink(p)
