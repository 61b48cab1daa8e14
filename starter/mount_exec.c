/* Execute the mount plan. Every mount uses the new mount API: sources are
 * opened first (as the user when the plan says so), destinations are
 * resolved inside the container root with safe_open_in_root(), and the new
 * mount is attached to that fd, so a symlink in the image can never send a
 * mount to a host path. */
#include "mount_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "fuse_server.h"
#include "kernel_prefetch.h"
#include "log.h"
#include "overlay_layers.h"
#include "path.h"
#include "safepath.h"

#define MAX_WRITABLE_FS 16
#define MAX_USER_BIND_MOUNTS 256
#define MAX_GENERATED_BASE (4 << 20) /* container /etc/passwd or /etc/group */

struct run {
        const struct mount_plan *plan;
        struct exec_context *ctx;
        int rootfd;
        /* File systems where missing mount points may be created: the overlay
         * root and the tmpfs mounts made by the plan, never a host bind. */
        bool root_creatable; /* false after an `enable overlay = try` fallback */
        dev_t writable[MAX_WRITABLE_FS];
        size_t nwritable;
        /* The mounts of the user's own binds (--home, -B, cwd, /tmp): a
         * missing mount point under one is made in that host directory with
         * the user's file-system ids, so only what the user could create
         * there. Mount ids, not st_dev: other binds of the same host file
         * system (and submounts of these) are not included. */
        uint64_t user_binds[MAX_USER_BIND_MOUNTS];
        size_t nuser_binds;
};

static uint64_t mount_id_of(int fd)
{
        struct statx stx;
        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) < 0 ||
            !(stx.stx_mask & STATX_MNT_ID))
                return 0;
        return stx.stx_mnt_id;
}

static void mark_user_bind(struct run *r, int mnt)
{
        uint64_t id = mount_id_of(mnt);
        if (id && r->nuser_binds < MAX_USER_BIND_MOUNTS)
                r->user_binds[r->nuser_binds++] = id;
}

static bool is_user_bind(const struct run *r, int fd)
{
        uint64_t id = mount_id_of(fd);
        for (size_t i = 0; id && i < r->nuser_binds; i++)
                if (r->user_binds[i] == id)
                        return true;
        return false;
}

static void mark_writable(struct run *r, int fd)
{
        struct stat st;
        if (fstat(fd, &st) == 0 && r->nwritable < MAX_WRITABLE_FS)
                r->writable[r->nwritable++] = st.st_dev;
}

static bool is_writable_fs(const struct run *r, int fd)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return false;
        for (size_t i = 0; i < r->nwritable; i++)
                if (r->writable[i] == st.st_dev)
                        return true;
        return false;
}

/* A new file system through fsopen/fsconfig/fsmount; "k=v,flag" options.
 * Returns a detached mount fd, or -1 with the kernel's message in why. */
static int fs_new(const char *type, const char *source, const char *data, unsigned attrs, char *why,
                  size_t whylen)
{
        _cleanup_close_ int fs = fsopen(type, FSOPEN_CLOEXEC);
        /* Freed by the cleanup attribute, which clang's analyzer does not model. */
        _cleanup_free_ char *opts = data ? strdup(data) : NULL;
        char *save = NULL, *msg = why;
        int ok = fs >= 0 && (!data || opts);
        if (ok && source)
                ok = fsconfig(fs, FSCONFIG_SET_STRING, "source", source, 0) == 0;
        /* A read-only superblock too: a read-only loop device refuses rw opens. */
        if (ok && (attrs & MOUNT_ATTR_RDONLY))
                ok = fsconfig(fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) == 0;
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): cleanup attribute not modelled
        for (char *o = ok && opts ? strtok_r(opts, ",", &save) : NULL; o && ok;
             o = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(o, '=');
                if (eq)
                        *eq++ = '\0';
                ok = fsconfig(fs, eq ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, o, eq, 0) == 0;
        }
        if (ok && fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0) {
                int mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
                if (mnt >= 0)
                        return mnt;
        }
        /* The fs context explains most failures better than errno does. */
        snprintf(why, whylen, "%s", strerror(errno));
        if (fs >= 0) {
                ssize_t n = read(fs, msg, whylen - 1);
                if (n > 2) {
                        msg[n] = '\0';
                        memmove(msg, msg + 2, (size_t)n - 1); /* drop the "e " prefix */
                }
        }
        return -1;
}

static int fs_new_or_die(const char *type, const char *source, const char *data, unsigned attrs)
{
        char why[256];
        int fd = fs_new(type, source, data, attrs, why, sizeof(why));
        if (fd < 0)
                die("mounting %s %s: %s", type, source ? source : "", why);
        return fd;
}

static void attach(int mnt, int dst, const char *dest)
{
        if (move_mount(mnt, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                die_errno("mounting on %s", dest);
}

/* Create the missing mount point `name` in `parent`: on a file system the
 * plan made writable as root, in a user's bind as the user. Never through
 * a symlink: the new entry is opened with O_NOFOLLOW relative to `parent`. */
static int create_at(const struct run *r, int parent, const char *name, bool dir)
{
        bool as_user = is_user_bind(r, parent);
        if (!as_user && !is_writable_fs(r, parent)) {
                errno = ENOENT;
                return -1;
        }
        if (as_user)
                fs_as_user(r->ctx->user);
        int fd = -1;
        if (dir) {
                if (mkdirat(parent, name, 0755) == 0 || errno == EEXIST)
                        fd = openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        } else {
                /* In the user's directory O_EXCL: nothing (a FIFO, a file
                 * planted meanwhile) is opened that we did not just make. */
                fd = openat(parent, name,
                            O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
                                (as_user ? O_EXCL : 0),
                            0644);
        }
        int saved = errno;
        if (as_user)
                fs_as_root();
        errno = saved;
        return fd;
}

/* Open a container path; create it (and its parents) when missing and the
 * parent lies on a file system the plan made writable or in one of the
 * user's binds (create_at). -1/ENOENT when it is missing and may not be
 * created. Walks down the path: every existing prefix is resolved inside
 * the root, missing ones are made relative to the directory fd just opened
 * (never through a symlink). Resolution runs with the user's file-system
 * ids: a mount point behind a host directory the user cannot search
 * (another user's 0700 directory in /tmp) is neither found nor probed.
 * Creation on the plan's own writable file systems is done as root (image
 * directories there are root's), in the user's binds as the user.
 * Deliberately not common/mkdir_p.c's walk: here each component decides
 * whose ids create it, every lookup runs with the user's ids, and the last
 * component may be a file. */
static int resolve_as_user(struct run *r, const char *path)
{
        fs_as_user(r->ctx->user);
        int fd = safe_open_in_root(r->rootfd, path, O_PATH, 0);
        int saved = errno;
        fs_as_root();
        errno = saved;
        return fd;
}

static int open_in_root(struct run *r, const char *path, bool dir)
{
        int fd = resolve_as_user(r, path);
        if (fd >= 0 || errno != ENOENT || strcmp(path, "/") == 0)
                return fd;
        char buf[PATH_MAX];
        if (path[0] != '/' || snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
                errno = ENAMETOOLONG;
                return -1;
        }
        _cleanup_close_ int parent = resolve_as_user(r, "/");
        for (char *slash = buf; slash && parent >= 0;) {
                char *next = strchr(slash + 1, '/');
                const char *name = slash + 1;
                if (next)
                        *next = '\0';
                int cur = resolve_as_user(r, buf);
                if (cur < 0 && errno == ENOENT && *name)
                        cur = create_at(r, parent, name, next || dir);
                if (cur < 0 || !next)
                        return cur;
                close(parent);
                parent = cur;
                *next = '/';
                slash = next;
        }
        return -1;
}

/* The mount point for e: -1 when an optional entry should be skipped. */
static int open_dest(struct run *r, const struct mount_entry *e, bool dir)
{
        int fd;
        if (!(e->flags & MP_IN_ROOT)) {
                fd = open(e->dest, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        die_errno("opening %s", e->dest);
                return fd;
        }
        fd = open_in_root(r, e->dest, dir);
        struct stat st, root;
        /* Whatever the path says (/., /a/.., an image symlink such as
         * ../../..), a mount on the root itself would replace the whole
         * container: only the final read-only remount may name it. */
        if (fd >= 0 && e->op != OP_REMOUNT_RO &&
            (fstat(fd, &st) < 0 || fstat(r->rootfd, &root) < 0 ||
             (st.st_dev == root.st_dev && st.st_ino == root.st_ino)))
                die("mount point %s: resolves to the container root", e->dest);
        if (fd >= 0)
                return fd;
        /* EACCES: in a user namespace, root-owned image directories stay
         * read-only to us even in the overlay. */
        if (errno == ENOENT && (e->flags & MP_OPTIONAL)) {
                log_verbose("skipping %s: no mount point in the container", e->dest);
                return -1;
        }
        if (errno == EACCES && (e->flags & MP_OPTIONAL)) {
                log_warn("skipping %s: cannot create its mount point in the container (%s)",
                         e->dest, strerror(errno));
                return -1;
        }
        if (errno == ENOENT)
                die("mount point %s: missing in the container and cannot be created there%s",
                    e->dest, r->root_creatable ? "" : " (no overlay)");
        die_errno("mount point %s", e->dest);
}

/* What a user's source really is, once opened: never the session's
 * internals (overlay layers, the raw image mount, generated files), even
 * when reached through a symlink. */
static void refuse_session_source(const struct run *r, int src, const char *source)
{
        char link[64], real[PATH_MAX];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", src);
        ssize_t n = readlink(link, real, sizeof(real) - 1);
        if (n <= 0 || real[0] != '/')
                die("bind source %s: cannot resolve its path", source);
        real[n] = '\0';
        if (path_is_under(real, r->plan->session))
                die("bind source %s: inside the starter's session directory", source);
}

/* Bind mounts: recursive, nosuid, nodev unless it is a device bind. */
static void do_bind(struct run *r, const struct mount_entry *e, bool devices)
{
        const struct user_info *u = r->ctx->user;
        _cleanup_close_ int src = -1, dst = -1, tree = -1;
        struct stat st;
        bool as_user = e->flags & (MP_AS_USER | MP_IMAGE_FD);
        if (as_user)
                fs_as_user(u);
        /* The user's sources never through a magic link: /proc/self/fd/N
         * would be one of our own descriptors (image, loop device, root). */
        if (e->flags & MP_AS_USER)
                src = safe_open_no_magiclinks(e->source, O_PATH);
        else
                src = open(e->source,
                           O_PATH | O_CLOEXEC | ((e->flags & MP_IMAGE_FD) ? O_NOFOLLOW : 0));
        int saved = errno;
        if (as_user)
                fs_as_root();
        errno = saved;
        /* An O_PATH open needs no permission on the source itself: check the
         * user's access too (real ids, as access(2) does). */
        if (src < 0 || fstat(src, &st) < 0 ||
            ((e->flags & MP_AS_USER) &&
             faccessat(src, "", S_ISDIR(st.st_mode) ? R_OK | X_OK : R_OK, AT_EMPTY_PATH) < 0)) {
                if (!(e->flags & MP_OPTIONAL))
                        die_errno("bind source %s", e->source);
                if (errno == ENOENT)
                        log_verbose("skipping bind of %s: it does not exist on the host",
                                    e->source);
                else
                        log_warn("skipping bind of %s: %s", e->source, strerror(errno));
                return;
        }
        if (e->flags & MP_AS_USER)
                refuse_session_source(r, src, e->source);
        /* Unprivileged, root is not mapped (its files show the overflow
         * uid) and the user could make this namespace without us anyway. */
        if ((e->flags & MP_ROOT_OWNED) &&
            (!S_ISREG(st.st_mode) || (!r->ctx->userns && st.st_uid != 0)))
                die("%s: not a regular file owned by root", e->source);
        /* The checked image fd belongs to the host mount namespace, which
         * open_tree() refuses: reopen it here and insist on the same inode. */
        struct stat checked;
        if ((e->flags & MP_IMAGE_FD) &&
            (fstat(r->ctx->image_fd, &checked) < 0 || checked.st_dev != st.st_dev ||
             checked.st_ino != st.st_ino))
                die("image %s: replaced while the starter was using it", e->source);
        dst = open_dest(r, e, S_ISDIR(st.st_mode));
        if (dst < 0)
                return;
        tree =
            open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        if (tree < 0)
                die_errno("bind source %s", e->source);
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID};
        if (!devices)
                attr.attr_set |= MOUNT_ATTR_NODEV;
        if (e->flags & MP_RO)
                attr.attr_set |= MOUNT_ATTR_RDONLY;
        if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
                die_errno("setting nosuid,nodev on the bind of %s", e->source);
        attach(tree, dst, e->dest);
        if ((e->flags & MP_AS_USER) && S_ISDIR(st.st_mode))
                mark_user_bind(r, tree);
}

static void do_new_fs(struct run *r, const struct mount_entry *e, const char *type, unsigned attrs)
{
        _cleanup_close_ int dst = open_dest(r, e, true);
        if (dst < 0)
                return;
        _cleanup_close_ int mnt = fs_new_or_die(type, e->source ? e->source : type, e->data, attrs);
        attach(mnt, dst, e->dest);
        /* As early as the image is there: the rest of the plan runs beside it. */
        if (e->op == OP_SQUASHFS_LOOP && r->ctx->prefetch)
                kernel_prefetch_start(&(struct kernel_prefetch){.mnt = mnt,
                                                                .host_mntns = r->ctx->host_mntns,
                                                                .user = r->ctx->user,
                                                                .program = r->ctx->prefetch_program,
                                                                .linger = r->ctx->linger});
        if (e->op == OP_TMPFS && (e->flags & MP_IN_ROOT))
                mark_writable(r, mnt);
        struct mount_attr unbindable = {.propagation = MS_UNBINDABLE};
        if ((e->flags & MP_UNBINDABLE) &&
            mount_setattr(mnt, "", AT_EMPTY_PATH, &unbindable, sizeof(unbindable)) < 0)
                die_errno("making %s unbindable", e->dest);
}

/* squashfs served by our FUSE server (squashfs-serve, libsquashfuse_ll),
 * running as the user with no privilege at all (also in setuid mode, where
 * `allow setuid-mount squashfs` keeps the kernel driver away from images the
 * user may have crafted). main() started it before the namespaces
 * (fuse_server.c), so it has already opened the image while we got here. We
 * mount the FUSE device ourselves (as root, or with CAP_SYS_ADMIN in our user
 * namespace; the server has neither) and send it the fd. */
static void do_fuse_server(struct run *r, const struct mount_entry *e)
{
        const struct user_info *u = r->ctx->user;
        char opts[160];
        _cleanup_close_ int fuse = open("/dev/fuse", O_RDWR | O_CLOEXEC);
        if (fuse < 0)
                die_errno("opening /dev/fuse");
        /* setuid mode: root must see the mount to build the container
         * (allow_other; the mount lives in our private mount namespace), and
         * the kernel checks the image's modes as it does for a loop mount. */
        snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=%u,group_id=%u%s", fuse,
                 (unsigned)u->uid, (unsigned)u->gid,
                 r->ctx->userns ? "" : ",allow_other,default_permissions");
        _cleanup_close_ int dst = open_dest(r, e, true);
        _cleanup_close_ int mnt = fs_new_or_die(
            "fuse", "squashfuse", opts, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
        fuse_server_hand_over(r->ctx->fuse_server, fuse, e->source);
        /* Only the server may hold the device now: if it dies, the connection
         * aborts, and the first access below fails instead of waiting. */
        close(steal_fd(&fuse));
        attach(mnt, dst, e->dest);
        struct stat st;
        if (fstatat(dst, "", &st, AT_EMPTY_PATH) < 0 || stat(e->dest, &st) < 0)
                die_errno("squashfs-serve did not serve %s", e->source);
}

static bool exists_in(int rootfd, const char *path)
{
        int fd = safe_open_in_root(rootfd, path, O_PATH, 0);
        if (fd < 0)
                return false;
        close(fd);
        return true;
}

/* The parent directories of missing mount points (/home of /home/USER,
 * /mnt of /mnt/x) are made in the upper layer before the overlay is
 * mounted, with the image's mode (and, as root, its owner). In a user
 * namespace the image's root-owned directories stay read-only to us in the
 * overlay, so the mount point could not be made there otherwise; as root
 * this saves the copy-up of the parent, which on FUSE costs six requests
 * (listxattr, two opendir/releasedir pairs, the fileattr ioctl). The image
 * is probed with the user's file-system ids, as every mount point is. Only
 * where the image has a real directory or nothing: an image symlink is
 * never shadowed (the walk stops there). */
static void prepare_mount_points(const struct run *r, const char *lower, int user_upper)
{
        bool as_root = !r->ctx->userns && user_upper < 0;
        _cleanup_close_ int lowerfd = open(lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int upperfd = user_upper >= 0
                                          ? fcntl(user_upper, F_DUPFD_CLOEXEC, 0)
                                          : open(r->plan->upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (lowerfd < 0 || upperfd < 0)
                die_errno("opening the overlay layers");
        if (as_root)
                fs_as_user(r->ctx->user); /* back to root for each directory made */
        for (size_t i = 0; i < r->plan->n; i++) {
                const struct mount_entry *e = &r->plan->entries[i];
                char path[PATH_MAX];
                if (!(e->flags & MP_IN_ROOT) || exists_in(lowerfd, e->dest) ||
                    snprintf(path, sizeof(path), "%s", e->dest) >= (int)sizeof(path))
                        continue;
                for (char *slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                        struct stat st = {.st_mode = S_IFDIR | 0755}; /* root's, if missing */
                        *slash = '\0';
                        int fd = safe_open_in_root(lowerfd, path, O_PATH | O_NOFOLLOW, 0);
                        bool ok =
                            fd >= 0 ? fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) : errno == ENOENT;
                        if (fd >= 0)
                                close(fd);
                        if (!ok)
                                break;
                        if (as_root)
                                fs_as_root();
                        /* fchmodat: the image's mode, not the umask's. */
                        if ((mkdirat(upperfd, path + 1, 0700) < 0 && errno != EEXIST) ||
                            (as_root && fchownat(upperfd, path + 1, st.st_uid, st.st_gid,
                                                 AT_SYMLINK_NOFOLLOW) < 0) ||
                            fchmodat(upperfd, path + 1, st.st_mode & 07777, 0) < 0)
                                die_errno("creating the mount point %s in the overlay", path);
                        if (as_root)
                                fs_as_user(r->ctx->user);
                        *slash = '/';
                }
        }
        if (as_root)
                fs_as_root();
}

static void do_overlay(struct run *r, const struct mount_entry *e)
{
        char why[256];
        struct overlay_layers layers = {.upper = -1};
        _cleanup_close_ int dst = open_dest(r, e, true);
        /* --overlay: the user's layers, by fd (overlay_layers.h). */
        if (e->flags & MP_AS_USER)
                overlay_layers_open(e->data, r->plan->session, r->ctx->user, &layers);
        /* A user's upper gets the mount points made as the user (root's
         * would be directories the user cannot remove from it). */
        if (layers.upper >= 0 && !r->ctx->userns) {
                fs_as_user(r->ctx->user);
                prepare_mount_points(r, e->source, layers.upper);
                fs_as_root();
        } else if (r->plan->upper) {
                prepare_mount_points(r, e->source, layers.upper);
        }
        _cleanup_close_ int mnt = fs_new("overlay", "overlay", layers.data ? layers.data : e->data,
                                         MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, why, sizeof(why));
        overlay_layers_close(&layers);
        if (mnt < 0 && !(e->flags & MP_OPTIONAL))
                die("mounting the overlay on %s: %s", e->dest, why);
        if (mnt < 0) {
                log_verbose("no overlay (%s): the container root stays read-only and its mount "
                            "points must exist",
                            why);
                struct mount_entry lower = {
                    .op = OP_BIND, .source = e->source, .dest = e->dest, .flags = MP_RO};
                r->root_creatable = false;
                do_bind(r, &lower, false);
                return;
        }
        attach(mnt, dst, e->dest);
}

/* The image's own copy of a file (its /etc/passwd): read from the image's
 * mount, never from the assembled root where host directories (/tmp, /dev,
 * home, binds) are mounted, without crossing any mount (RESOLVE_NO_XDEV),
 * and with the user's file-system ids (a sandbox is the user's to change
 * while we read it). Anything else than a regular file the user may read
 * there gives an empty base: no error tells the user what was refused. */
static char *read_container_file(struct run *r, const char *path, size_t *len)
{
        struct stat st;
        char *buf = NULL;
        *len = 0;
        _cleanup_close_ int image =
            open(r->plan->image_root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (image < 0)
                die_errno("opening the image mount %s", r->plan->image_root);
        fs_as_user(r->ctx->user);
        /* O_NONBLOCK: a FIFO in the image must not hang the starter. */
        _cleanup_close_ int fd = safe_open_in_mount(image, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
        fs_as_root();
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_GENERATED_BASE)
                return strdup(""); /* no usable file: only our entries */
        if (read_all_bounded(fd, MAX_GENERATED_BASE, &buf, len) < 0) {
                *len = 0;
                return errno == ENOMEM ? NULL : strdup(""); /* grew, or unreadable */
        }
        return buf;
}

/* Does this passwd/group line name `name` (field 0) or `id` (field 2)? */
static bool line_matches(const char *line, size_t len, const char *name, unsigned id)
{
        size_t nl = strlen(name);
        const char *f = memchr(line, ':', len);
        if (nl && len > nl && strncmp(line, name, nl) == 0 && line[nl] == ':')
                return true;
        if (!f || !(f = memchr(f + 1, ':', len - (size_t)(f + 1 - line))))
                return false;
        return strtoul(f + 1, NULL, 10) == id && f[1] >= '0' && f[1] <= '9';
}

/* /etc/passwd and /etc/group for the container: its own entries, with the
 * user's (from the host database, read before any mount) replacing any
 * entry of the same name or id. */
static void do_file(struct run *r, const struct mount_entry *e)
{
        const struct user_info *u = r->ctx->user;
        bool passwd = strcmp(e->data, "passwd") == 0;
        size_t len;
        /* Freed by the cleanup attribute, which clang's analyzer does not model. */
        _cleanup_free_ char *base = read_container_file(r, e->source, &len);
        _cleanup_fclose_ FILE *out = NULL;
        int fd = open(e->dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (!base || fd < 0 || !(out = fdopen(fd, "w")))
                die_errno("generating %s", e->dest);
        for (char *line = base, *end; line < base + len; line = end + 1) {
                end = memchr(line, '\n', (size_t)(base + len - line));
                if (!end)
                        end = base + len;
                bool drop =
                    passwd ? line_matches(line, (size_t)(end - line), u->name, u->uid) : false;
                if (!drop)
                        fprintf(out, "%.*s\n", (int)(end - line), line);
        }
        if (passwd)
                fprintf(out, "%s:x:%u:%u:%s:%s:%s\n", u->name, (unsigned)u->uid, (unsigned)u->gid,
                        u->gecos, r->plan->home_dst, u->shell);
        for (int i = 0; !passwd && i < u->ngroups; i++) {
                const char *gname = u->group_names[i];
                bool present = false;
                for (char *line = base, *end; gname && line < base + len; line = end + 1) {
                        end = memchr(line, '\n', (size_t)(base + len - line));
                        if (!end)
                                end = base + len;
                        present |= line_matches(line, (size_t)(end - line), gname, u->groups[i]);
                }
                if (gname && !present)
                        fprintf(out, "%s:x:%u:%s\n", gname, (unsigned)u->groups[i], u->name);
        }
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): cleanup attribute not modelled
        if (fflush(out) != 0 || ferror(out))
                die_errno("writing %s", e->dest);
}

static void do_symlink(struct run *r, const struct mount_entry *e)
{
        char last[NAME_MAX + 1];
        _cleanup_close_ int parent = safe_open_parent_in_root(r->rootfd, e->dest, false, last);
        if (parent < 0 || !is_writable_fs(r, parent) || symlinkat(e->source, parent, last) < 0)
                die_errno("creating the symlink %s", e->dest);
}

static void do_remount_ro(struct run *r, const struct mount_entry *e)
{
        _cleanup_close_ int dst = open_dest(r, e, true);
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
        if (mount_setattr(dst, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                die_errno("making %s read-only", e->dest);
}

void mount_plan_execute(const struct mount_plan *plan, struct exec_context *ctx)
{
        struct run r = {
            .plan = plan, .ctx = ctx, .rootfd = -1, .root_creatable = plan->root_creatable};
        for (size_t i = 0; i < plan->n; i++) {
                const struct mount_entry *e = &plan->entries[i];
                /* The root is ready once the first container path comes up. */
                if ((e->flags & MP_IN_ROOT) && r.rootfd < 0) {
                        r.rootfd = open(plan->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
                        if (r.rootfd < 0)
                                die_errno("opening the container root %s", plan->root);
                        if (r.root_creatable)
                                mark_writable(&r, r.rootfd);
                }
                switch (e->op) {
                case OP_MKDIR:
                        if (mkdir(e->dest, 0755) < 0)
                                die_errno("creating %s", e->dest);
                        break;
                case OP_TMPFS:
                        do_new_fs(&r, e, "tmpfs", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
                        break;
                case OP_SQUASHFS_LOOP:
                        do_new_fs(&r, e, "squashfs",
                                  MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
                        break;
                case OP_SQUASHFS_FUSE:
                        do_fuse_server(&r, e);
                        break;
                case OP_OVERLAY:
                        do_overlay(&r, e);
                        break;
                case OP_BIND:
                case OP_DEV_BIND:
                        do_bind(&r, e, e->op == OP_DEV_BIND);
                        break;
                case OP_PROC:
                        do_new_fs(&r, e, "proc",
                                  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
                        break;
                case OP_SYSFS:
                        do_new_fs(&r, e, "sysfs",
                                  MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                      MOUNT_ATTR_NOEXEC);
                        break;
                case OP_DEVPTS:
                        do_new_fs(&r, e, "devpts", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
                        break;
                case OP_SYMLINK:
                        do_symlink(&r, e);
                        break;
                case OP_FILE:
                        do_file(&r, e);
                        break;
                case OP_REMOUNT_RO:
                        do_remount_ro(&r, e);
                        break;
                }
        }
        if (r.rootfd >= 0)
                close(r.rootfd);
}

void enter_container_root(const struct mount_plan *plan)
{
        _cleanup_close_ int root = open(plan->root, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        /* pivot_root(".", "."): the old root ends up stacked on the new one
         * and is detached right away; nothing of the host stays reachable. */
        if (root < 0 || fchdir(root) < 0)
                die_errno("entering the container root %s", plan->root);
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                die_errno("pivot_root into %s", plan->root);
        if (umount2(".", MNT_DETACH) < 0)
                die_errno("detaching the host root");
        if (chdir("/") < 0)
                die_errno("chdir /");
}
