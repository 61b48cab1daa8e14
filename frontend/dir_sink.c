#include "dir_sink.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "log.h"
#include "safepath.h"

/* Directory attributes applied at close, deepest first. */
struct dir_rec {
        char *path;
        mode_t mode;
        uid_t uid;
        gid_t gid;
        struct timespec mtime;
        unsigned depth;
};

struct dir_sink {
        int rootfd;
        bool as_root;    /* euid 0: owners are set too */
        size_t unmapped; /* owners this user namespace has no id for */
        struct dir_rec *dirs;
        size_t n, cap;
        /* What a new entry gets without a call: our uid, our gid when the
         * root's group is ours too (a setgid root or a grpid mount hands
         * the root's group down), and mode bits the umask leaves. */
        uid_t uid;
        gid_t gid;
        bool gid_by_default;
        mode_t umask;
        /* The parent directory of the last entry: the entries of a layer
         * come directory by directory, so most share it. */
        int parent_fd;
        char parent[LAYERS_MAX_PATH];
};

/* The directory holding `path`'s last component, which goes to `last`.
 * The fd stays the sink's. Reusing it is the same as resolving the path
 * again: the merge never replaces or removes what it made, and never emits
 * an entry below a symlink or a file, so the path still leads to it. */
static int open_parent(struct dir_sink *d, const char *path, char last[NAME_MAX + 1])
{
        const char *slash = strrchr(path, '/');
        size_t plen = slash ? (size_t)(slash - path) : 0;
        const char *name = slash ? slash + 1 : path;

        if (plen >= sizeof(d->parent)) {
                errno = ENAMETOOLONG;
                return -1;
        }
        if (d->parent_fd >= 0 && !strncmp(d->parent, path, plen) && d->parent[plen] == '\0' &&
            strlen(name) <= NAME_MAX && *name && strcmp(name, ".") && strcmp(name, "..")) {
                strcpy(last, name);
                return d->parent_fd;
        }
        if (d->parent_fd >= 0)
                close(d->parent_fd);
        d->parent_fd = safe_open_parent_in_root(d->rootfd, path, true, last);
        if (d->parent_fd < 0)
                return -1;
        memcpy(d->parent, path, plen);
        d->parent[plen] = '\0';
        return d->parent_fd;
}

/* Is the owner a new entry gets already (uid, gid)? */
static bool owner_by_default(const struct dir_sink *d, uid_t uid, gid_t gid)
{
        return uid == d->uid && gid == d->gid && d->gid_by_default;
}

/* Set the owner of `last` in pfd (or of pfd itself when last is NULL). As
 * root of a user namespace that maps only some ids (the caller's own, or a
 * subuid range too small), an owner with no id there (EINVAL) stays the
 * caller's: counted, reported once at close. */
static int set_owner(struct dir_sink *d, int pfd, const char *last, uid_t uid, gid_t gid)
{
        if (!d->as_root)
                return 0;
        if (fchownat(pfd, last ? last : "", uid, gid, last ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH) ==
            0)
                return 0;
        if (errno != EINVAL)
                return -1;
        d->unmapped++;
        return 0;
}

static void set_xattrs(int fd, struct archive_entry *ae, const char *path)
{
        const char *name;
        const void *value;
        size_t size;

        if (archive_entry_xattr_reset(ae) == 0)
                return;
        while (archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK) {
                /* Unprivileged users cannot set security.* / trusted.*: not fatal. */
                if (fsetxattr(fd, name, value, size, 0) < 0)
                        log_verbose("%s: could not set xattr %s: %s", path, name, strerror(errno));
        }
}

/* Pieces at their offsets; the gaps (holes, zero blocks) stay holes. */
static int copy_data(int fd, struct archive_entry *ae, struct merge_data *data, sing_err_t *e)
{
        const void *buf;
        size_t len;
        int64_t off, pos = 0; /* the file is new: empty, at 0 */
        int r;

        while ((r = merge_data_next(data, &buf, &len, &off, e)) == 1) {
                if ((off != pos && lseek(fd, (off_t)off, SEEK_SET) < 0) ||
                    write_all(fd, buf, len) < 0)
                        return err_errno(e, "write");
                pos = off + (int64_t)len;
        }
        if (r < 0)
                return -1;
        /* A trailing hole (or zeros) is the only gap a seek does not make. */
        if (pos != archive_entry_size(ae) && ftruncate(fd, (off_t)archive_entry_size(ae)) < 0)
                return err_errno(e, "write");
        return 0;
}

static struct timespec entry_mtime(struct archive_entry *ae)
{
        struct timespec ts = {.tv_sec = archive_entry_mtime(ae),
                              .tv_nsec = archive_entry_mtime_nsec(ae)};
        return ts;
}

static int make_file(struct dir_sink *d, struct archive_entry *ae, struct merge_data *data,
                     const char *path, sing_err_t *e)
{
        char last[NAME_MAX + 1];
        int pfd = open_parent(d, path, last);
        _cleanup_close_ int fd = -1;
        struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, entry_mtime(ae)};
        mode_t perm = archive_entry_perm(ae) & 07777;
        uid_t uid = archive_entry_uid(ae);
        gid_t gid = archive_entry_gid(ae);
        bool chown_it = d->as_root && !owner_by_default(d, uid, gid);
        /* The mode at creation when nothing changes it later: no setuid,
         * setgid or sticky bit (a chown would clear them), none the umask
         * drops. The descriptor is writable whatever the mode (even 000). */
        bool exact = !(perm & 07000) && !(perm & d->umask);

        if (pfd < 0)
                return err_errno(e, "opening parent directory");
        fd = openat(pfd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    exact ? perm : 0600);
        if (fd < 0)
                return err_errno(e, "creating file");
        if (copy_data(fd, ae, data, e) < 0)
                return -1;
        set_xattrs(fd, ae, path);
        /* chown before chmod: chown clears setuid/setgid bits */
        if (chown_it && set_owner(d, fd, NULL, uid, gid) < 0)
                return err_errno(e, "chown");
        if (!exact && fchmod(fd, perm) < 0)
                return err_errno(e, "chmod");
        if (futimens(fd, times) < 0)
                return err_errno(e, "setting times");
        return 0;
}

static int make_symlink(struct dir_sink *d, struct archive_entry *ae, const char *path,
                        sing_err_t *e)
{
        char last[NAME_MAX + 1];
        int pfd = open_parent(d, path, last);
        struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, entry_mtime(ae)};
        const char *target = archive_entry_symlink(ae);
        uid_t uid = archive_entry_uid(ae);
        gid_t gid = archive_entry_gid(ae);

        if (pfd < 0)
                return err_errno(e, "opening parent directory");
        if (symlinkat(target ? target : "", pfd, last) < 0)
                return err_errno(e, "creating symlink");
        if (!owner_by_default(d, uid, gid) && set_owner(d, pfd, last, uid, gid) < 0)
                return err_errno(e, "chown");
        if (utimensat(pfd, last, times, AT_SYMLINK_NOFOLLOW) < 0)
                return err_errno(e, "setting times");
        return 0;
}

static int make_hardlink(struct dir_sink *d, const char *target, const char *path, sing_err_t *e)
{
        char tlast[NAME_MAX + 1], llast[NAME_MAX + 1];
        _cleanup_close_ int tfd = safe_open_parent_in_root(d->rootfd, target, false, tlast);
        int lfd;

        if (tfd < 0)
                return err_errno(e, "opening hardlink target's directory");
        lfd = open_parent(d, path, llast);
        if (lfd < 0)
                return err_errno(e, "opening parent directory");
        /* no AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself */
        if (linkat(tfd, tlast, lfd, llast, 0) < 0)
                return err_errno(e, "creating hardlink to %s", target);
        return 0;
}

static unsigned path_depth(const char *p)
{
        unsigned n = 0;
        for (; *p; p++)
                n += *p == '/';
        return n;
}

static int make_dir(struct dir_sink *d, struct archive_entry *ae, const char *path, sing_err_t *e)
{
        char last[NAME_MAX + 1];
        int pfd = open_parent(d, path, last);
        struct stat st;
        struct dir_rec *r;

        if (pfd < 0)
                return err_errno(e, "opening parent directory");
        /* It may exist: made as the parent of an entry of an upper layer. */
        if (mkdirat(pfd, last, 0755) < 0 &&
            (errno != EEXIST || fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
             !S_ISDIR(st.st_mode))) {
                if (errno == EEXIST)
                        errno = ENOTDIR;
                return err_errno(e, "creating directory");
        }
        if (archive_entry_xattr_count(ae) > 0) {
                _cleanup_close_ int fd =
                    openat(pfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return err_errno(e, "opening directory");
                set_xattrs(fd, ae, path);
        }
        if (d->n == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 256;
                struct dir_rec *v = realloc(d->dirs, cap * sizeof(*v));
                if (!v)
                        return err_set(e, "out of memory");
                d->dirs = v;
                d->cap = cap;
        }
        r = &d->dirs[d->n];
        r->path = strdup(path);
        if (!r->path)
                return err_set(e, "out of memory");
        r->mode = archive_entry_perm(ae) & 07777;
        r->uid = archive_entry_uid(ae);
        r->gid = archive_entry_gid(ae);
        r->mtime = entry_mtime(ae);
        r->depth = path_depth(path);
        d->n++;
        return 0;
}

static int dir_entry(void *ctx, struct archive_entry *ae, struct merge_data *data, sing_err_t *e)
{
        struct dir_sink *d = ctx;
        const char *path = archive_entry_pathname(ae);
        const char *hardlink = archive_entry_hardlink(ae);

        if (!path)
                return err_set(e, "entry without a name");
        if (hardlink)
                return make_hardlink(d, hardlink, path, e);
        switch (archive_entry_filetype(ae)) {
        case AE_IFREG:
                return make_file(d, ae, data, path, e);
        case AE_IFDIR:
                return make_dir(d, ae, path, e);
        case AE_IFLNK:
                return make_symlink(d, ae, path, e);
        default:
                log_verbose("%s: unsupported file type skipped", path);
                return 0;
        }
}

int dir_sink_open(int rootfd, struct merge_sink *out, sing_err_t *e)
{
        struct dir_sink *d = calloc(1, sizeof(*d));

        if (!d) {
                return err_set(e, "out of memory");
        }
        d->rootfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        if (d->rootfd < 0) {
                err_errno(e, "dup");
                free(d);
                return -1;
        }
        struct stat root;
        if (fstat(d->rootfd, &root) < 0) {
                err_errno(e, "fstat");
                close(d->rootfd);
                free(d);
                return -1;
        }
        d->as_root = geteuid() == 0;
        d->uid = geteuid();
        d->gid = getegid();
        /* Every directory below is made by the sink, in the root's group
         * or ours: with the root's group ours, so is every new entry's. */
        d->gid_by_default = root.st_gid == d->gid;
        d->umask = umask(0);
        umask(d->umask);
        d->parent_fd = -1;
        out->entry = dir_entry;
        out->ctx = d;
        return 0;
}

static int by_depth_desc(const void *a, const void *b)
{
        const struct dir_rec *x = a, *y = b;
        return (x->depth < y->depth) - (x->depth > y->depth);
}

int dir_sink_close(struct merge_sink *s, sing_err_t *e)
{
        struct dir_sink *d = s->ctx;
        int ret = 0;

        if (!d)
                return 0;
        if (d->parent_fd >= 0)
                close(d->parent_fd);
        /* Children before parents, so a 0555 or 000 parent is restricted only
         * after everything below it is final. */
        qsort(d->dirs, d->n, sizeof(*d->dirs), by_depth_desc);
        for (size_t i = 0; i < d->n; i++) {
                struct dir_rec *r = &d->dirs[i];
                struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, r->mtime};
                _cleanup_close_ int fd = -1;
                if (ret == 0) {
                        fd = safe_open_in_root(d->rootfd, r->path, O_RDONLY | O_DIRECTORY, 0);
                        if (fd < 0 || set_owner(d, fd, NULL, r->uid, r->gid) < 0 ||
                            fchmod(fd, r->mode) < 0 || futimens(fd, times) < 0)
                                ret = err_errno(e, "%s: setting directory attributes", r->path);
                }
                free(r->path);
        }
        if (d->unmapped)
                log_warn("%zu files and directories are owned by you instead of their image "
                         "owners: this user namespace has no ids for them (--fakeroot with "
                         "/etc/subuid and /etc/subgid ranges keeps them)",
                         d->unmapped);
        free(d->dirs);
        close(d->rootfd);
        free(d);
        s->ctx = NULL;
        return ret;
}
