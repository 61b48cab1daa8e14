"""The FUSE server's prefetcher (fuse/prefetch.c) reads /bin/sh, its ELF
interpreter and libraries and the image's /etc/ld.so.cache before the
container runs: all untrusted. Whatever an image holds there, the container
must behave exactly as with the kernel squashfs driver (no FUSE server, no
prefetch): the same exit status, output and errors, and no server crashed
(the supervisor would say so), hung or left behind."""
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import time

import pytest

from conftest import USER, ensure_user, fuse_servers_of, live_fuse_servers, run_as_user, user_env

BUSYBOX = "/bin/busybox"  # static
LIBDIR = "/lib/x86_64-linux-gnu"


def squash(root, dest):
    subprocess.run(["mksquashfs", root, dest, "-noappend", "-quiet", "-no-progress",
                    "-all-root"], check=True, stdout=subprocess.DEVNULL)
    os.chmod(dest, 0o644)


def base_root(d):
    """A bare root file system: busybox (static) as /probe/busybox, no /bin/sh."""
    root = os.path.join(d, "root")
    for sub in ("bin", "etc", "tmp", "home", "proc", "sys", "dev", "probe", "lib", "lib64"):
        os.makedirs(os.path.join(root, sub))
    shutil.copy(BUSYBOX, os.path.join(root, "probe", "busybox"))
    return root


def elf_dynamic(data):
    """(file offset, count) of the PT_DYNAMIC entries of a 64-bit ELF."""
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data,
                                                                  phoff + i * phentsize)
        if p_type == 2:  # PT_DYNAMIC
            return p_offset, p_filesz // 16
    raise AssertionError("no PT_DYNAMIC")


def host_dash():
    path = os.path.realpath("/bin/dash")
    if not os.path.exists(path) or not os.path.exists(os.path.join(LIBDIR, "libc.so.6")):
        pytest.skip("needs the host's dash and glibc (x86_64 Debian)")
    return bytearray(open(path, "rb").read())


def with_dynamic_libs(root):
    """The host's ld.so and libc in the image where dash looks for them."""
    shutil.copy(os.path.realpath("/lib64/ld-linux-x86-64.so.2"),
                os.path.join(root, "lib64", "ld-linux-x86-64.so.2"))
    os.makedirs(os.path.join(root, LIBDIR.lstrip("/")))
    shutil.copy(os.path.realpath(os.path.join(LIBDIR, "libc.so.6")),
                os.path.join(root, LIBDIR.lstrip("/"), "libc.so.6"))


def write_sh(root, data, mode=0o755):
    path = os.path.join(root, "bin", "sh")
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def shell_symlink_loop(root):
    os.symlink("sh2", os.path.join(root, "bin", "sh"))
    os.symlink("/bin/sh", os.path.join(root, "bin", "sh2"))


def shell_symlink_chain(root):
    """/bin/sh -> s1 -> s2 ... -> s30 -> /probe/busybox: long, within the
    kernel's 40 links."""
    os.symlink("s1", os.path.join(root, "bin", "sh"))
    for i in range(1, 30):
        os.symlink(f"s{i + 1}", os.path.join(root, "bin", f"s{i}"))
    os.symlink("/probe/busybox", os.path.join(root, "bin", "s30"))


def shell_empty(root):
    write_sh(root, b"")


def shell_missing(root):
    pass


def shell_absurd_program_headers(root):
    data = bytearray(open(BUSYBOX, "rb").read())
    struct.pack_into("<Q", data, 32, 0xFFFFFFFFFFFFFF00)  # e_phoff
    write_sh(root, data)


def shell_absurd_phnum(root):
    data = host_dash()
    struct.pack_into("<H", data, 56, 0xFFFF)  # e_phnum
    with_dynamic_libs(root)
    write_sh(root, data)


def shell_absurd_needed_offsets(root):
    data = host_dash()
    off, n = elf_dynamic(data)
    for i in range(n):
        tag, = struct.unpack_from("<q", data, off + 16 * i)
        if tag == 1:  # DT_NEEDED
            struct.pack_into("<Q", data, off + 16 * i + 8, 0xFFFFFFFFFFFFFFF0)
        if tag == 10:  # DT_STRSZ
            struct.pack_into("<Q", data, off + 16 * i + 8, 0xFFFFFFFFFFFFFFFF)
    with_dynamic_libs(root)
    write_sh(root, data)


def shell_library_name_with_dotdot(root):
    """dash's DT_NEEDED "libc.so.6" renamed "../libc.6" (ld.so: a path)."""
    data = host_dash()
    i = data.index(b"\0libc.so.6\0")
    data[i + 1:i + 10] = b"../libc.6"
    with_dynamic_libs(root)
    shutil.copy(os.path.realpath(os.path.join(LIBDIR, "libc.so.6")),
                os.path.join(root, "libc.6"))
    write_sh(root, data)


def ld_cache(entries):
    """glibc's "glibc-ld.so.cache1.1" with (flags, key, value) entries: keys and
    values are strings, or ints taken as raw (bogus) offsets."""
    head = 48 + 24 * len(entries)
    strings, raw = b"", []
    for flags, key, value in entries:
        offs = []
        for s in (key, value):
            if isinstance(s, int):
                offs.append(s)
            else:
                offs.append(head + len(strings))
                strings += s.encode() + b"\0"
        raw.append(struct.pack("<iIIIQ", flags, offs[0], offs[1], 0, 0))
    header = b"glibc-ld.so.cache1.1" + struct.pack("<IIB3xI12x", len(entries), len(strings),
                                                    0, 0)
    assert len(header) == 48
    return header + b"".join(raw) + strings


def shell_hostile_ld_cache(root):
    """A working dash; the image's ld.so.cache points libc.so.6 into a symlink
    loop, has offsets past its end and a relative path, before the real one."""
    write_sh(root, bytes(host_dash()))
    with_dynamic_libs(root)
    os.symlink("loop2", os.path.join(root, "lib", "loop"))
    os.symlink("loop", os.path.join(root, "lib", "loop2"))
    cache = ld_cache([(0x0303, 0xFFFFFFF0, 0xFFFFFFF0),
                      (0x0303, "libc.so.6", "/lib/loop/libc.so.6"),
                      (0x0303, "libc.so.6", 0x7FFFFFFF),
                      (0x0303, "libc.so.6", "lib/x86_64-linux-gnu/libc.so.6")])
    with open(os.path.join(root, "etc", "ld.so.cache"), "wb") as f:
        f.write(cache)


def shell_garbage_ld_cache(root):
    write_sh(root, bytes(host_dash()))
    with_dynamic_libs(root)
    with open(os.path.join(root, "etc", "ld.so.cache"), "wb") as f:
        f.write(b"glibc-ld.so.cache1.1" + b"\xff" * 4000)


def many_needed_shell(d):
    """A dynamic program that execs /probe/busybox as the shell, with 32
    DT_NEEDED entries that all say libc.so.6 (ld.so loads it once): gcc's
    spare dynamic tags turned into DT_NEEDED."""
    if not shutil.which("gcc"):
        pytest.skip("needs gcc")
    src, exe = os.path.join(d, "shim.c"), os.path.join(d, "shim")
    with open(src, "w") as f:
        f.write('#include <unistd.h>\nint main(int c, char **v, char **e)\n'
                '{ (void)c; execve("/probe/busybox", v, e); return 127; }\n')
    subprocess.run(["gcc", "-O2", "-Wl,--spare-dynamic-tags=40", src, "-o", exe], check=True)
    data = bytearray(open(exe, "rb").read())
    off, n = elf_dynamic(data)
    tags = [struct.unpack_from("<qQ", data, off + 16 * i) for i in range(n)]
    libc = next(v for t, v in tags if t == 1)
    first_null = next(i for i, (t, _) in enumerate(tags) if t == 0)
    assert n - first_null > 31, n - first_null
    for i in range(first_null, first_null + 31):
        struct.pack_into("<qQ", data, off + 16 * i, 1, libc)
    return bytes(data)


def walk_then(name, length=4000):
    """A path of about length bytes that walks down into x and up again, ending
    in name: one directory lookup per 5 bytes."""
    return "x/../" * ((length - len(name)) // 5) + name


def shell_expensive_paths(root):
    """A working shell with 32 DT_NEEDED libc.so.6, and an ld.so.cache that
    sends libc.so.6 into 40 symlinks of 4000-byte targets, each ~800
    directory lookups in a root of 60000 names, ending in a loop: the kernel
    answers ELOOP from its dentry cache at once and ld.so takes
    /lib/x86_64-linux-gnu/libc.so.6, but a path walk without a work budget
    does ~33000 lookups for each of the 32 names."""
    host_dash()  # the host's glibc, or skip
    write_sh(root, many_needed_shell(os.path.dirname(root)))
    with_dynamic_libs(root)
    os.makedirs(os.path.join(root, "x"))
    for i in range(60000):  # each lookup there reads ~200 index entries
        open(os.path.join(root, f"f{i:05d}"), "w").close()
    for i in range(1, 41):
        os.symlink(walk_then(f"L{i % 40 + 1}"), os.path.join(root, f"L{i}"))
    looping = "/" + walk_then("L1")
    cache = ld_cache([(0x0303, "libc.so.6", looping),
                      (0x0303, "ld-linux-x86-64.so.2", looping)])
    with open(os.path.join(root, "etc", "ld.so.cache"), "wb") as f:
        f.write(cache)


CASES = {
    "symlink-loop": shell_symlink_loop,
    "symlink-chain": shell_symlink_chain,
    "empty": shell_empty,
    "missing": shell_missing,
    "absurd-phoff": shell_absurd_program_headers,
    "absurd-phnum": shell_absurd_phnum,
    "absurd-needed-offsets": shell_absurd_needed_offsets,
    "dotdot-library": shell_library_name_with_dotdot,
    "hostile-ld-cache": shell_hostile_ld_cache,
    "garbage-ld-cache": shell_garbage_ld_cache,
    "expensive-paths": shell_expensive_paths,
}


def images_dir(prefix, names):
    """A directory the user can read, with an empty work directory per name:
    (the directory, {name: its work directory})."""
    ensure_user()
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    works = {name: os.path.join(d, name) for name in names}
    for work in works.values():
        os.makedirs(work)
    return d, works


@pytest.fixture(scope="module")
def crafted():
    """One squashfs image per case, readable by the user."""
    d, works = images_dir("sing-prefetch-", CASES)
    made = {}
    for name, make in CASES.items():
        root = base_root(works[name])
        try:
            make(root)
        except pytest.skip.Exception:
            continue
        made[name] = os.path.join(d, name + ".sqfs")
        squash(root, made[name])
    yield made
    shutil.rmtree(d, ignore_errors=True)


def exec_in(image):
    """The container runs its shell, then a static program. The shell is
    named by its path, so that the prefetcher starts from it (the starter
    names an absolute program to the server) and exec runs it without the
    action script's shell when it can, else through it. Output as bytes:
    ld.so prints what it took for a library name."""
    info = ensure_user()
    return subprocess.run(["setpriv", f"--reuid={info.name}", f"--regid={info.name}",
                           "--init-groups", "--", "singularity", "exec", image,
                           "/bin/sh", "-c", "/probe/busybox echo ran"],
                          env=user_env(None), cwd=info.home, timeout=120, capture_output=True)


def no_server_left():
    for _ in range(100):  # it ends with the starter's process, asynchronously
        if not live_fuse_servers():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("mode", ["setuid-fuse", "userns"])
def test_crafted_shell_behaves_as_without_the_server(crafted, sing_config, case, mode):
    if case not in crafted:
        pytest.skip("needs the host's dash and glibc (x86_64 Debian)")
    image = crafted[case]
    sing_config.set(**{"allow setuid-mount squashfs": "yes"})  # the kernel driver
    want = exec_in(image)
    if mode == "userns":
        sing_config.set(**{"allow setuid": "no", "allow setuid-mount squashfs": "iflimited"})
    else:
        sing_config.set(**{"allow setuid-mount squashfs": "iflimited"})
    got = exec_in(image)
    assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout,
                                                        want.stderr)
    assert b"FUSE server" not in got.stderr
    assert no_server_left()


def cpu_ticks(pid):
    """{tid: utime + stime} of every thread of pid."""
    ticks = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks[tid] = int(fields[11]) + int(fields[12])
    return ticks


@pytest.mark.parametrize("case", ["hostile-ld-cache", "garbage-ld-cache", "symlink-chain",
                                  "expensive-paths"])
@pytest.mark.parametrize("mode", ["setuid-fuse", "userns"])
def test_crafted_image_with_a_working_shell_runs(crafted, sing_config, case, mode):
    """The shell works (the prefetcher's bad guesses cost nothing): the program
    runs, the prefetch thread is idle (a loop did not keep it spinning) and the
    server goes on serving."""
    if case not in crafted:
        pytest.skip("needs the host's dash and glibc (x86_64 Debian)")
    if mode == "userns":
        sing_config.set(**{"allow setuid": "no"})
    info = ensure_user()
    p = subprocess.Popen(["setpriv", f"--reuid={info.name}", f"--regid={info.name}",
                          "--init-groups", "--", "singularity", "exec", crafted[case], "sh",
                          "-c", "echo ok; read x; /probe/busybox cat /etc/hostname-missing "
                          "2>/dev/null || echo still-served"],
                         env=user_env(None), cwd=info.home, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ok\n", p.stderr.read()
        servers = fuse_servers_of(crafted[case])
        assert len(servers) == 1, servers
        # Once the prefetch is done its thread only waits for files to push
        # into the page cache: no thread of the server may keep using CPU
        # while the container sits in `read` (the prefetch takes
        # milliseconds; a loop would spin for ever).
        idle = False
        before = cpu_ticks(servers[0])
        for _ in range(20):
            time.sleep(0.5)
            after = cpu_ticks(servers[0])
            if after == before:
                idle = True
                break
            before = after
        assert idle, (before, after)
        # the request thread, the prefetch thread, the starter's watcher
        assert len(after) <= 3, after
        out, err = p.communicate("\n", timeout=60)
        assert (p.returncode, out) == (0, "still-served\n"), err
    finally:
        if p.poll() is None:
            p.stdin.close()  # the container's `read` ends, and with it the container
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.mark.parametrize("mode", ["setuid-fuse", "userns"])
def test_files_pushed_into_the_page_cache_keep_their_contents(crafted, sing_config, mode):
    """After the kernel opens a small file the server pushes it whole into the
    page cache (fuse/page_store.c): what the container then reads is the
    file, byte for byte (libc: 15 blocks and a fragment tail)."""
    if "hostile-ld-cache" not in crafted:
        pytest.skip("needs the host's dash and glibc (x86_64 Debian)")
    if mode == "userns":
        sing_config.set(**{"allow setuid": "no"})
    lib = os.path.join(LIBDIR, "libc.so.6")
    want = subprocess.run(["sha256sum"], stdin=open(os.path.realpath(lib), "rb"),
                          capture_output=True, text=True, check=True).stdout
    # Opened, then read a second later: by then the push is done.
    r = run_as_user(["singularity", "exec", crafted["hostile-ld-cache"], "sh", "-c",
                     f"exec 3< {lib}; /probe/busybox sleep 1; /probe/busybox sha256sum <&3"],
                    timeout=120)
    assert (r.returncode, r.stdout) == (0, want), r.stderr


# Inode fields that index a table of the superblock (uid and gid: the id
# table; a regular file's fragment: the fragment table), as offsets into a
# basic file inode: type, mode, uid, guid (u16), mtime, inode number,
# blocks start, fragment (u32).
TABLE_INDEXES = {"uid": (4, "<H", 0xFFF0), "gid": (6, "<H", 0xFFF0),
                 "fragment": (20, "<I", 0x7FFFFFF0),
                 # Not a table: a symlink's size, which libsquashfuse mallocs
                 # (basic symlink inode: ..., nlink, symlink_size (u32)).
                 "symlink-size": (20, "<I", 0xFFFFFFF0)}
MTIME = 1600000000


def bad_index_image(d, field):
    """/data/bad (1234 bytes, in a fragment; a symlink to good for
    symlink-size) with field set past its table, /data/good beside it. Inodes uncompressed (-noI) to be found by mtime and
    size."""
    root = base_root(d)
    os.makedirs(os.path.join(root, "data"))
    if field == "symlink-size":
        os.symlink("good", os.path.join(root, "data", "bad"))
    else:
        with open(os.path.join(root, "data", "bad"), "wb") as f:
            f.write(b"B" * 1234)
    with open(os.path.join(root, "data", "good"), "wb") as f:
        f.write(b"G" * 999)
    image = os.path.join(d, field + ".sqfs")
    subprocess.run(["mksquashfs", root, image, "-noappend", "-quiet", "-no-progress",
                    "-all-root", "-noI", "-all-time", str(MTIME)], check=True,
                   stdout=subprocess.DEVNULL)
    data = bytearray(open(image, "rb").read())
    if field == "symlink-size":  # type 3, size 4, then the target
        hits = [i for i in range(len(data) - 32)
                if struct.unpack_from("<HHHHI", data, i)[0] == 3
                and struct.unpack_from("<HHHHI", data, i)[4] == MTIME
                and struct.unpack_from("<I", data, i + 20)[0] == 4
                and data[i + 24:i + 28] == b"good"]
    else:  # type 2 (basic file) of 1234 bytes
        hits = [i for i in range(len(data) - 32)
                if struct.unpack_from("<HHHHI", data, i)[0] == 2
                and struct.unpack_from("<HHHHI", data, i)[4] == MTIME
                and struct.unpack_from("<I", data, i + 28)[0] == 1234]
    assert len(hits) == 1, hits
    off, fmt, value = TABLE_INDEXES[field]
    struct.pack_into(fmt, data, hits[0] + off, value)
    with open(image, "wb") as f:
        f.write(data)
    os.chmod(image, 0o644)
    return image


@pytest.fixture(scope="module")
def bad_indexes():
    d, works = images_dir("sing-badidx-", TABLE_INDEXES)
    yield {field: bad_index_image(work, field) for field, work in works.items()}
    shutil.rmtree(d, ignore_errors=True)


def as_the_kernel_driver_does(sing_config, image, script, mode, check):
    """busybox sh -c script in image as the user, first through the kernel
    squashfs driver (whose result check(want) judges), then through the
    FUSE server in mode (setuid-fuse, userns): the same exit status,
    output and errors, and no server left."""
    cmd = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--",
           "singularity", "exec", image, "/probe/busybox", "sh", "-c", script]
    info = ensure_user()
    sing_config.set(**{"allow setuid-mount squashfs": "yes"})  # the kernel driver
    want = subprocess.run(cmd, env=user_env(None), cwd=info.home, timeout=120,
                          capture_output=True)
    check(want)
    if mode == "userns":
        sing_config.set(**{"allow setuid": "no", "allow setuid-mount squashfs": "iflimited"})
    else:
        sing_config.set(**{"allow setuid-mount squashfs": "iflimited"})
    got = subprocess.run(cmd, env=user_env(None), cwd=info.home, timeout=120,
                         capture_output=True)
    assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout,
                                                        want.stderr)
    assert no_server_left()


@pytest.mark.parametrize("field", sorted(TABLE_INDEXES))
@pytest.mark.parametrize("mode", ["setuid-fuse", "userns"])
def test_inode_table_index_past_its_table(bad_indexes, sing_config, field, mode):
    """libsquashfuse looks a uid, gid or fragment index up without bounding it
    (the server read past its heap array and crashed, taking the container's
    root with it): the server answers for such a file as the kernel's driver
    does (EINVAL, EIO) and goes on serving the others."""
    image = bad_indexes[field]
    script = ("/probe/busybox stat -c '%n %s' /data/bad /data/good; /probe/busybox md5sum "
              "/data/bad; echo rc=$?; "
              "/probe/busybox md5sum /data/good")
    def check(want):
        assert b"596263b7447b5dcea7563e606d73f901" in want.stdout, want  # /data/good
    as_the_kernel_driver_does(sing_config, image, script, mode, check)


MAPCAT = r"""
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
/* Writes each file out through a private mapping (page faults, not read). */
int main(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                int fd = open(argv[i], O_RDONLY);
                struct stat st;
                if (fd < 0 || fstat(fd, &st) < 0)
                        return 1;
                if (st.st_size == 0)
                        continue;
                char *p = mmap(0, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (p == MAP_FAILED)
                        return 1;
                for (off_t o = 0; o < st.st_size;) {
                        ssize_t n = write(1, p + o, st.st_size - o);
                        if (n <= 0)
                                return 1;
                        o += n;
                }
                munmap(p, st.st_size);
                close(fd);
        }
        return 0;
}
"""

# Sizes around the page, the block, a fragment's tail and the push's 4 MiB.
EDGE_SIZES = [0, 1, 4095, 4096, 4097, 131071, 131072, 131073, 3 << 20, (4 << 20) - 1, 4 << 20,
              (4 << 20) + 1]


def integrity_root(d):
    """Files whose bytes say where they are: each 4 KiB page of file N starts
    with N and the page number, so a page of one file under another's name
    or at another offset changes the digest. Plus sparse files (holes), a
    duplicate (mksquashfs shares its blocks) and the host's libc."""
    if not shutil.which("gcc"):
        pytest.skip("needs gcc")
    root = base_root(d)
    data = os.path.join(root, "data")
    os.makedirs(data)
    src = os.path.join(d, "mapcat.c")
    with open(src, "w") as f:
        f.write(MAPCAT)
    r = subprocess.run(["gcc", "-O2", "-static", src, "-o", os.path.join(root, "probe", "mapcat")],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("needs a static libc (libc6-dev)")
    for n, size in enumerate(EDGE_SIZES):
        body = bytearray(os.urandom(size))
        for page in range(0, size, 4096):
            tag = b"%d:%d;" % (n, page // 4096)
            body[page:page + len(tag)] = tag[:size - page]
        with open(os.path.join(data, f"f{size}"), "wb") as f:
            f.write(body)
    shutil.copy(os.path.join(data, f"f{131073}"), os.path.join(data, "dup"))
    for name, size, at in (("sparse", 3 << 20, [1 << 20]), ("sparse4m", 4 << 20, [5000]),
                           ("holes-only", (4 << 20) - 1, [])):
        with open(os.path.join(data, name), "wb") as f:
            f.truncate(size)
            for off in at:
                f.seek(off)
                f.write(os.urandom(70000))
    shutil.copy(os.path.realpath(os.path.join(LIBDIR, "libc.so.6")), os.path.join(data, "libc"))
    return root


def md5s(paths):
    import hashlib
    return {os.path.basename(p): hashlib.md5(open(p, "rb").read()).hexdigest() for p in paths}


@pytest.mark.parametrize("layout", [["-b", "131072"], ["-b", "4096", "-always-use-fragments"],
                                    ["-noF", "-b", "1048576"]], ids=["128k", "4k-frags", "1m-nofrags"])
@pytest.mark.parametrize("mode", ["setuid-fuse", "userns"])
def test_every_file_served_intact_with_the_push(sing_config, layout, mode):
    """Every file, read through read() and through mmap page faults, right
    after its open (the push of fuse/page_store.c racing the READs) and again
    once the push is done, is its own bytes at its own offsets."""
    host_dash()  # the host's libc to copy, or skip
    ensure_user()
    d = tempfile.mkdtemp(prefix="sing-integrity-")
    os.chmod(d, 0o755)
    try:
        root = integrity_root(d)
        image = os.path.join(d, "img.sqfs")
        subprocess.run(["mksquashfs", root, image, "-noappend", "-quiet", "-no-progress",
                        "-all-root"] + layout, check=True, stdout=subprocess.DEVNULL)
        os.chmod(image, 0o644)
        names = sorted(os.listdir(os.path.join(root, "data")))
        want = md5s([os.path.join(root, "data", n) for n in names])
        if mode == "userns":
            sing_config.set(**{"allow setuid": "no"})
        bb = "/probe/busybox"
        # Pass 1: mmap right after the open (the open queues the push);
        # pass 2: read() through an fd opened before a pause (pushed by then);
        # pass 3: read() on a fresh open (the page cache as pushed).
        script = (f"cd /data; for f in {' '.join(names)}; do "
                  f"echo \"map $f $(/probe/mapcat $f | {bb} md5sum)\"; done; "
                  f"for f in {' '.join(names)}; do exec 3< $f; {bb} sleep 0.2; "
                  f"echo \"fd $f $({bb} md5sum <&3)\"; exec 3<&-; "
                  f"echo \"read $f $({bb} md5sum < $f)\"; done")
        r = run_as_user(["singularity", "exec", image, bb, "sh", "-c", script], timeout=300)
        assert r.returncode == 0, r.stderr
        got = {}
        for line in r.stdout.splitlines():
            how, name, digest = line.split()[:3]
            got[(how, name)] = digest
        expected = {(how, n): want[n] for how in ("map", "fd", "read") for n in names}
        assert got == expected
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("block_size", [0, 3, 8192, 1 << 30])
@pytest.mark.parametrize("mode", ["setuid-fuse", "userns"])
def test_superblock_block_size_refused(sing_config, block_size, mode):
    """libsquashfuse divides by the superblock's block size and allocates it
    per block (0 crashed the server, 1 GiB let one small block take 1 GiB;
    8192 disagrees with the image's block_log 17): refused in one line, as
    the kernel's driver refuses to mount it."""
    ensure_user()
    d = tempfile.mkdtemp(prefix="sing-blocksize-")
    os.chmod(d, 0o755)
    try:
        root = base_root(d)
        with open(os.path.join(root, "tmp", "f"), "wb") as f:
            f.write(os.urandom(300000))
        image = os.path.join(d, "img.sqfs")
        squash(root, image)
        data = bytearray(open(image, "rb").read())
        assert struct.unpack_from("<IIH", data, 12)[0] == 131072
        struct.pack_into("<I", data, 12, block_size)
        with open(image, "wb") as f:
            f.write(data)
        if mode == "userns":
            sing_config.set(**{"allow setuid": "no"})
        r = run_as_user(["singularity", "exec", image, "/probe/busybox", "md5sum", "/tmp/f"],
                        timeout=120)
        assert r.returncode == 255, (r.returncode, r.stdout, r.stderr)
        assert f"bad block size {block_size} in the superblock" in r.stderr, r.stderr
        # The server exited on its own; init may not have reaped it yet.
        for _ in range(100):
            if no_server_left():
                break
            time.sleep(0.1)
        assert no_server_left()
    finally:
        shutil.rmtree(d, ignore_errors=True)


# fuse/zstd_block.c: the server decompresses zstd blocks itself, with one
# context per thread, instead of libsquashfuse's call per block.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def text_block(i):
    """128 KiB of compressible text, different for each block."""
    line = f"block {i:03d}: the quick brown fox jumps over the lazy dog\n".encode()
    return (line * (131072 // len(line) + 1))[:131072]


def zstd_first_block_header(data, frame):
    """Offset of the first block header of the zstd frame at frame: after the
    magic, the frame header descriptor and the fields it says are there
    (window descriptor, dictionary id, content size). Its bits 1-2 are the
    block type; 3 is reserved, which every decoder must refuse (squashfs
    frames carry no checksum: damaged literals would decode silently)."""
    fhd = data[frame + 4]
    single = (fhd >> 5) & 1
    window = 0 if single else 1
    dict_id = (0, 1, 2, 4)[fhd & 3]
    content = ((1 if single else 0), 2, 4, 8)[fhd >> 6]
    return frame + 5 + window + dict_id + content


def zstd_image(d, comp, corrupt):
    """/data/text (3 blocks of text, its data written first) and /data/good, with
    `comp`; corrupt: the second data block's zstd frame given a reserved
    block type. Returns (image, the text's sha256)."""
    root = base_root(d)
    os.makedirs(os.path.join(root, "data"))
    text = b"".join(text_block(i) for i in range(3))
    with open(os.path.join(root, "data", "text"), "wb") as f:
        f.write(text)
    with open(os.path.join(root, "data", "good"), "wb") as f:
        f.write(b"G" * 999)
    image = os.path.join(d, "image.sqfs")
    r = subprocess.run(["mksquashfs", root, image, "-noappend", "-quiet", "-no-progress",
                        "-all-root", "-comp", comp], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        pytest.skip(f"mksquashfs cannot make a {comp} image here: {r.stderr.strip()[:200]}")
    if corrupt:
        data = bytearray(open(image, "rb").read())
        frames = [i for i in range(96, len(data) - 4) if data[i:i + 4] == ZSTD_MAGIC]
        # The text's blocks come first (directory order: data/ before probe/);
        # check that the frame damaged is the text's second block.
        second = frames[1]
        r = subprocess.run(["zstd", "-dcq"], input=bytes(data[second:frames[2]]),
                           capture_output=True)
        assert r.stdout == text_block(1), "layout: the second frame is not the text's block 1"
        data[zstd_first_block_header(data, second)] |= 0x06  # block type 3: reserved
        with open(image, "wb") as f:
            f.write(data)
    os.chmod(image, 0o644)
    return image, hashlib.sha256(text).hexdigest()


@pytest.mark.parametrize("comp,corrupt", [("zstd", False), ("zstd", True), ("gzip", False)],
                         ids=["zstd", "zstd-corrupt-block", "gzip"])
@pytest.mark.parametrize("mode", ["setuid-fuse", "userns"])
def test_zstd_blocks_read_as_with_the_kernel_driver(sing_config, comp, corrupt, mode):
    """Every block reads back byte for byte; a corrupt one is EIO for that
    file, as from the kernel's driver, and the server goes on serving the
    rest (gzip: the library's own decompressor, unchanged)."""
    if comp == "zstd" and corrupt and not shutil.which("zstd"):
        pytest.skip("the zstd command is not installed (tools/deps.sh --test)")
    d, works = images_dir("sing-zstd-", ["image"])
    try:
        zstd_blocks_case(works["image"], sing_config, comp, corrupt, mode)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def zstd_blocks_case(work, sing_config, comp, corrupt, mode):
    image, sha = zstd_image(work, comp, corrupt)
    script = ("/probe/busybox sha256sum /data/text; echo rc=$?; "
              "/probe/busybox md5sum /data/good")
    def check(want):
        if want.returncode != 0 and not want.stdout:  # the container never ran
            pytest.skip(f"the kernel squashfs driver cannot mount a {comp} image here: "
                        f"{want.stderr.decode(errors='replace').strip()[:200]}")
        assert b"596263b7447b5dcea7563e606d73f901" in want.stdout, want  # /data/good
        assert (sha.encode() in want.stdout) != corrupt, want
        assert (b"rc=1" in want.stdout) == corrupt, want
    as_the_kernel_driver_does(sing_config, image, script, mode, check)
