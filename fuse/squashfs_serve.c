/* squashfs-serve: serves one squashfs image (a SIF partition or a bare
 * squashfs file) on a FUSE connection the starter has already mounted.
 *
 * It replaces an exec of squashfuse for the starter's FUSE path. The file
 * system code is libsquashfuse_ll's (the library ch-run serves images with);
 * what this program adds is what start-up profiles showed missing:
 *  - a larger cache of decompressed data and fragment blocks. libsquashfuse
 *    keeps 1 data block and 3 fragment blocks, while the kernel's
 *    read-around of an exec's page faults asks for 128 KiB windows that
 *    straddle two blocks, so each block was decompressed about 2.5 times
 *    (zstd was ~40% of an `exec /bin/true`'s CPU);
 *  - symlink caching (FUSE_CAP_CACHE_SYMLINKS) and keep_cache on open: the
 *    image cannot change under the mount, so the kernel may keep what it
 *    read (usr-merged /bin, /lib symlinks were read again on every path);
 *  - negative lookups cached by the kernel (an entry with inode 0): every
 *    exec walks PATH, and each missing /usr/local/bin/NAME was asked again;
 *  - on images without an xattr table, ENOSYS for getxattr/listxattr, which
 *    makes the kernel stop asking (one round trip per new inode otherwise).
 *    The answer is the same (no attributes), only the errno a caller sees
 *    becomes ENOTSUP instead of ENODATA, as on any file system without
 *    xattrs;
 *  - blocks and replies from a heap that is kept, not an mmap, page faults
 *    and munmap for every 128 KiB block (about 0.5 ms of an exec);
 *  - a second thread that, while the starter builds the container,
 *    decompresses into those caches what the container's first exec reads
 *    (prefetch.c): /bin/sh, its loader and libraries; then pushes each small
 *    file the kernel opens whole into the page cache (page_store.c), so the
 *    exec's page faults that follow need no READ;
 *  - a found name answered from one directory search (the library's lookup
 *    searched again);
 *  - one request thread and no daemonising, option parsing or mounting: the
 *    starter mounts the connection and sends its fd (receive_fuse_fd.c); it
 *    starts us first, so that opening the image and the caches (and the
 *    prefetch) run while it builds the container; libsquashfuse, libfuse3
 *    and the compressors linked in (fuse/meson.build).
 *
 * libsquashfuse is not thread-safe: every call on the server's sqfs
 * instance (ll), by either thread, holds library_lock; the request thread
 * holds it for a whole request. The prefetcher's own instance is its alone.
 *
 * Usage (by the starter only, as the user, after the privilege drop and
 * the seccomp filter): squashfs-serve IMAGE offset=BYTES fuse-socket=FD
 * [watch-pidfd=FD] [prefetch=PROGRAM] */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <malloc.h>
#include <pthread.h>
#include <squashfuse/ll.h>

#include "image_check.h"
#include "page_store.h"
#include "prefetch.h"
#include "receive_fuse_fd.h"
#include "zstd_block.h"

/* How long the kernel may trust an answer: the image never changes. */
#define FOREVER 1e9

/* At most this many bytes of decompressed blocks each (data, fragments):
 * python3 -c pass on the Debian image needs 297 decompressions with
 * squashfuse, 158 with 1 MiB, 143 with 4 MiB, 139 with 8 MiB. The prefetched
 * set (dash, ld.so, libc: 2.3 MB) comes on top and must stay until the shell
 * has read it, so the prefetch may fill half of the data cache. With these
 * sizes (and the metadata cache below) the request thread decompresses
 * 70-120 blocks for python3 -c pass, 20-27 for /bin/true (was 141 and 40),
 * the prefetch thread 15-40 on the other core. */
#define DATA_CACHE_BYTES (16u << 20)
#define FRAG_CACHE_BYTES (8u << 20)
#define PREFETCH_BYTES (DATA_CACHE_BYTES / 2)
/* Metadata blocks (inodes, directories; 8 KiB each): the library keeps 8,
 * fewer than one exec's lookups walk. */
#define MD_CACHE_BYTES (2u << 20)

static bool no_xattrs;
static pthread_mutex_t library_lock = PTHREAD_MUTEX_INITIALIZER;

/* One request, whole, under the library lock. */
#define LOCKED(call)                                                                               \
        do {                                                                                       \
                pthread_mutex_lock(&library_lock);                                                 \
                call;                                                                              \
                pthread_mutex_unlock(&library_lock);                                               \
        } while (0)

/* libsquashfuse_ll's stat of an inode: exported, declared only in its
 * private fuseprivate.h. */
sqfs_err sqfs_stat(sqfs *fs, sqfs_inode *inode, struct stat *st);

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
        (void)userdata;
        if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
                conn->want |= FUSE_CAP_CACHE_SYMLINKS;
}

/* The library's lookup searches the directory, then we would search it
 * again: the answer is built here from the one search, registering the
 * inode as the library does (ino_register, which its forget undoes). A name
 * the directory does not have is a negative entry the kernel keeps. */
static void lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
        sqfs_ll *ll = fuse_req_userdata(req);
        sqfs_inode dir, inode;
        sqfs_name buf;
        sqfs_dir_entry entry;
        bool found = false;
        sqfs_dentry_init(&entry, buf);
        if (sqfs_ll_inode(ll, &dir, parent) != SQFS_OK) {
                fuse_reply_err(req, ENOENT);
                return;
        }
        if (!S_ISDIR(dir.base.mode)) {
                fuse_reply_err(req, ENOTDIR);
                return;
        }
        if (sqfs_dir_lookup(&ll->fs, &dir, name, strlen(name), &entry, &found) != SQFS_OK) {
                fuse_reply_err(req, EIO);
                return;
        }
        struct fuse_entry_param e = {.entry_timeout = FOREVER, .attr_timeout = FOREVER};
        if (!found) {
                fuse_reply_entry(req, &e); /* ino 0: negative, cached */
                return;
        }
        if (sqfs_inode_get(&ll->fs, &inode, sqfs_dentry_inode(&entry)) != SQFS_OK) {
                fuse_reply_err(req, ENOENT);
                return;
        }
        /* Every inode the kernel gets (but the root) comes from here, and
         * getattr, open, read and getxattr use it as it was checked. */
        int bad = image_check_inode(&ll->fs, &inode);
        if (bad) {
                fuse_reply_err(req, bad);
                return;
        }
        if (sqfs_stat(&ll->fs, &inode, &e.attr) != SQFS_OK) {
                fuse_reply_err(req, EIO);
                return;
        }
        e.ino = ll->ino_register(ll, &entry);
        e.attr.st_ino = e.ino;
        fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
        LOCKED(lookup(req, parent, name));
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        fi->keep_cache = 1; /* read-only image: cached pages never go stale */
        pthread_mutex_lock(&library_lock);
        sqfs_ll_op_open(req, ino, fi);
        if (fi->fh) /* opened: the library's copy of the inode */
                page_store_opened(ino, (const sqfs_inode *)(uintptr_t)fi->fh);
        pthread_mutex_unlock(&library_lock);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
        if (no_xattrs)
                fuse_reply_err(req, ENOSYS);
        else
                LOCKED(sqfs_ll_op_getxattr(req, ino, name, size));
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
        if (no_xattrs)
                fuse_reply_err(req, ENOSYS);
        else
                LOCKED(sqfs_ll_op_listxattr(req, ino, size));
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, unsigned long nlookup)
{
        LOCKED(sqfs_ll_op_forget(req, ino, nlookup));
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        LOCKED(sqfs_ll_op_getattr(req, ino, fi));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
        LOCKED(sqfs_ll_op_readlink(req, ino));
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
        LOCKED(sqfs_ll_op_read(req, ino, size, off, fi));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        LOCKED(sqfs_ll_op_opendir(req, ino, fi));
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
        LOCKED(sqfs_ll_op_readdir(req, ino, size, off, fi));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
        LOCKED(stfs_ll_op_statfs(req, ino));
}

/* release, releasedir and create touch no library state (free, EROFS). */
static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .open = op_open,
    .read = op_read,
    .release = sqfs_ll_op_release,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = sqfs_ll_op_releasedir,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .create = sqfs_ll_op_create, /* answers EROFS */
};

/* Replace one of libsquashfuse's block caches with a larger one. */
static int grow_cache(sqfs_cache *cache, size_t bytes, size_t block_size)
{
        size_t count = bytes / block_size;
        sqfs_cache_destroy(cache);
        return sqfs_block_cache_init(cache, count ? count : 1) == SQFS_OK ? 0 : -1;
}

/* The starter's process ended (the container's program, or its monitor):
 * so does the server, as it did as that process's child (what the program
 * left running in the container loses its files, as after a kill). */
static void *watch_starter(void *arg)
{
        struct pollfd ended = {.fd = (int)(intptr_t)arg, .events = POLLIN};
        while (poll(&ended, 1, -1) < 0 && errno == EINTR)
                ;
        _exit(0);
}

/* A number after `key` in arg, >= 0 and an int, or -1. */
static long option_fd(const char *arg, const char *key)
{
        size_t n = strlen(key);
        if (strncmp(arg, key, n) != 0)
                return -1;
        char *end;
        errno = 0;
        long v = strtol(arg + n, &end, 10);
        return errno || end == arg + n || *end || v < 0 || v > INT_MAX ? -1 : v;
}

int main(int argc, char **argv)
{
        const char *prefetch = NULL;
        long watch = -1;
        bool ok = argc >= 4;
        for (int i = 4; ok && i < argc; i++) {
                if (strncmp(argv[i], "prefetch=", 9) == 0 && !prefetch)
                        prefetch = argv[i] + 9;
                else if (watch < 0 && (watch = option_fd(argv[i], "watch-pidfd=")) >= 0)
                        ;
                else
                        ok = false;
        }
        if (!ok) {
                fprintf(stderr,
                        "usage: %s IMAGE offset=BYTES fuse-socket=FD [watch-pidfd=FD] "
                        "[prefetch=PROGRAM] (run by the starter)\n",
                        argv[0]);
                return 255;
        }
        const char *num = strncmp(argv[2], "offset=", 7) == 0 ? argv[2] + 7 : "";
        char *end;
        errno = 0;
        uintmax_t offset = strtoumax(num, &end, 10);
        if (errno || end == num || *end) {
                fprintf(stderr, "squashfs-serve: bad offset %s\n", argv[2]);
                return 255;
        }
        long sock = option_fd(argv[3], "fuse-socket=");
        if (sock < 0) {
                fprintf(stderr, "squashfs-serve: bad %s\n", argv[3]);
                return 255;
        }
        /* Blocks and replies (up to 1 MiB each) come from the heap and go back
         * to it, instead of an mmap, page faults and munmap per block. */
        mallopt(M_MMAP_THRESHOLD, 4 << 20);
        mallopt(M_TRIM_THRESHOLD, 64 << 20);
        /* Every block decompressed for an exec (2.7 MB for /bin/true of the
         * Debian image) lands in fresh heap memory, and each fresh 4 KiB page
         * cost a fault, its zeroing and a memory-cgroup charge, and its
         * freeing at exit: perf put the server's kernel time above its
         * decompression. The starter runs us with glibc.malloc.hugetlb=1
         * (malloc madvises its heaps MADV_HUGEPAGE, THP's default `madvise`
         * mode), and the heap grows 4 MiB at a time so that whole 2 MiB
         * pages fit. Measured by swapping the installed server between
         * rounds of 30 execs run in turn with ch-run on the same squashfs:
         * 1.12x to 1.02x of ch-run's time (again later: 1.06x to 0.95x),
         * the server's CPU per exec 8.9 to 7.2 ms; the growth alone measured
         * 1.06x against 1.07x. The cost is memory: the server's peak RSS went
         * from 6.3 to 8.6 MB for /bin/true, 14.0 to 14.8 MB for python3. */
        mallopt(M_TOP_PAD, 4 << 20);
        sqfs_ll *ll = sqfs_ll_open(argv[1], (size_t)offset);
        if (!ll)
                return 255; /* the library said why */
        if (image_check_superblock(&ll->fs) < 0) {
                fprintf(stderr,
                        "squashfs-serve: %s: bad block size %" PRIu32 " in the superblock\n",
                        argv[1], ll->fs.sb.block_size);
                return 255;
        }
        zstd_block_install(&ll->fs);
        if (grow_cache(&ll->fs.md_cache, MD_CACHE_BYTES, SQUASHFS_METADATA_SIZE) < 0 ||
            grow_cache(&ll->fs.data_cache, DATA_CACHE_BYTES, ll->fs.sb.block_size) < 0 ||
            grow_cache(&ll->fs.frag_cache, FRAG_CACHE_BYTES, ll->fs.sb.block_size) < 0) {
                fprintf(stderr, "squashfs-serve: out of memory\n");
                return 255;
        }
        sqfs_inode root;
        if (sqfs_inode_get(&ll->fs, &root, sqfs_inode_root(&ll->fs)) != SQFS_OK ||
            image_check_inode(&ll->fs, &root) != 0) {
                fprintf(stderr, "squashfs-serve: %s: corrupt root directory inode\n", argv[1]);
                return 255;
        }
        no_xattrs = ll->fs.sb.xattr_id_table_start == (uint64_t)SQUASHFS_INVALID_BLK;
        /* or serve without */
        prefetch_start(ll, &library_lock, PREFETCH_BYTES, prefetch);
        pthread_t watcher;
        if (watch >= 0 &&
            pthread_create(&watcher, NULL, watch_starter, (void *)(intptr_t)watch) != 0) {
                fprintf(stderr, "squashfs-serve: cannot watch the starter\n");
                return 255;
        }

        char *fuse_argv[] = {argv[0], NULL};
        struct fuse_args args = FUSE_ARGS_INIT(1, fuse_argv);
        struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), ll);
        if (!se)
                return 255;
        int fuse_fd = receive_fuse_fd((int)sock);
        char dev[32];
        snprintf(dev, sizeof(dev), "/dev/fd/%d", fuse_fd);
        if (fuse_fd < 0 || fuse_session_mount(se, dev) != 0)
                return 255;
        page_store_session(se);
        int rc = fuse_session_loop(se);
        page_store_stop();
        fuse_session_unmount(se);
        fuse_session_destroy(se);
        return rc ? 255 : 0;
}
