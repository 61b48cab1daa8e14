#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "remove_tree.h"
#include "digest.h"
#include "fileio.h"
#include "log.h"
#include "pending_file.h"
#include "tempfile.h"
#include "trusted_dir.h"

static const char *home_dir(const struct cache_opts *o)
{
        struct passwd *pw;
        if (o->home && *o->home == '/')
                return o->home;
        pw = getpwuid(getuid());
        return pw ? pw->pw_dir : "/";
}

/* root/<sub>, made if missing; it must be a directory of ours (not a
 * symlink), and private. */
static int private_subdir(int rootfd, const char *root, const char *sub, sing_err_t *e)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        if (mkdirat(rootfd, sub, 0700) < 0 && errno != EEXIST)
                return err_errno(e, "cannot create cache directory %s/%s", root, sub);
        fd = openat(rootfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return err_errno(e, "cannot use cache directory %s/%s", root, sub);
        if (fstat(fd, &st) < 0)
                return err_errno(e, "cannot use cache directory %s/%s", root, sub);
        if (st.st_uid != geteuid())
                return err_set(e, "cache directory %s/%s is owned by uid %u, not by you", root, sub,
                               (unsigned)st.st_uid);
        if (trusted_dir_needs_private(&st) && fchmod(fd, st.st_mode & 0700) < 0)
                return err_errno(e, "cannot make cache directory %s/%s private", root, sub);
        return 0;
}

static bool record_matches_at(int rootfd, const char *name, int fd, bool shared);

static const char *const cache_subdirs[] = {"blobs", "blobs/sha256", "sif", "locks", "verified"};

void cache_sweep(const struct cache *c)
{
        static const char *const dirs[] = {"blobs/sha256", "sif", "verified"};
        unsigned n = 0;
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                _cleanup_close_ int fd =
                    openat(c->fd, dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0)
                        n += temp_sweep(fd, NULL);
        }
        if (n)
                log_verbose("removed %u temporary file(s) of interrupted pulls from the cache", n);
}

/* The read-only cache's subdirectories that exist must be as sealed as the
 * cache itself (trusted_dir.h): an entry opened in them is root's (or
 * ours). One that is missing is simply empty. */
static int check_shared_subdirs(int rootfd, const char *root, sing_err_t *e)
{
        for (size_t i = 0; i < sizeof(cache_subdirs) / sizeof(cache_subdirs[0]); i++) {
                _cleanup_close_ int fd = openat(rootfd, cache_subdirs[i],
                                                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                struct stat st;
                if (fd < 0 && (errno == ENOENT || errno == EACCES))
                        continue;
                if (fd < 0 || fstat(fd, &st) < 0)
                        return err_errno(e, "cannot use cache directory %s/%s", root,
                                         cache_subdirs[i]);
                if (!trusted_dir_sealed(&st))
                        return err_set(e,
                                       "read-only cache directory %s/%s is writable by other "
                                       "users or owned by uid %u; refusing it",
                                       root, cache_subdirs[i], (unsigned)st.st_uid);
        }
        return 0;
}

/* The private part: a temporary directory (made here, or the caller's). */
static int open_temporary(struct cache *c, const struct cache_opts *o, sing_err_t *e)
{
        _cleanup_free_ char *want = NULL;
        if (o->temp_dir) {
                if (!(want = strdup(o->temp_dir)))
                        return err_set(e, "out of memory");
        } else {
                /* mkdtemp makes it 0700 and ours; the walk below still checks
                 * that nobody else can swap it (TMPDIR under another user's
                 * writable directory is refused). */
                if (asprintf(&want, "%s/singularity-cache-XXXXXX", o->tmpdir ? o->tmpdir : "/tmp") <
                    0)
                        return err_set(e, "out of memory");
                if (!mkdtemp(want))
                        return err_errno(e, "cannot create a temporary cache in %s",
                                         o->tmpdir ? o->tmpdir : "/tmp");
                c->temporary = true;
        }
        c->fd = trusted_dir_open(want, "cache directory", NULL, &c->root, e);
        if (c->fd < 0 && c->temporary)
                rmdir(want);
        return c->fd < 0 ? -1 : 0;
}

int cache_open(struct cache *c, const struct cache_opts *o, sing_err_t *e)
{
        _cleanup_free_ char *want = NULL;
        bool read_only = false;
        memset(c, 0, sizeof(*c));
        c->fd = c->use_fd = c->shared_fd = -1;
        if (o->disable) {
                if (open_temporary(c, o, e) < 0)
                        goto fail;
        } else {
                if (o->dir) {
                        if (*o->dir != '/')
                                return err_set(e, "SINGULARITY_CACHEDIR must be an absolute path");
                        if (!(want = strdup(o->dir)))
                                return err_set(e, "out of memory");
                } else if (asprintf(&want, "%s/.singularity/cache", home_dir(o)) < 0) {
                        return err_set(e, "out of memory");
                }
                c->fd = trusted_dir_open(want, "cache directory", &read_only, &c->root, e);
                if (c->fd < 0)
                        goto fail;
        }
        if (read_only) {
                c->shared_fd = steal_fd(&c->fd);
                c->shared_root = steal_ptr(&c->root);
                if (check_shared_subdirs(c->shared_fd, c->shared_root, e) < 0)
                        goto fail;
                if (o->lookup_only)
                        return 0;
                if (open_temporary(c, o, e) < 0)
                        goto fail;
        }
        for (size_t i = 0; i < sizeof(cache_subdirs) / sizeof(cache_subdirs[0]); i++)
                if (private_subdir(c->fd, c->root, cache_subdirs[i], e) < 0)
                        goto fail;
        return 0;
fail:
        cache_close(c);
        return -1;
}

static int in_use_fd(const struct cache *c)
{
        return openat(c->fd, "locks/in-use", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
}

void cache_hold(struct cache *c)
{
        if (c->temporary || c->fd < 0 || c->use_fd >= 0)
                return;
        c->use_fd = in_use_fd(c);
        /* Never blocks for long: clean only takes it without waiting. */
        while (c->use_fd >= 0 && flock(c->use_fd, LOCK_SH) < 0 && errno == EINTR)
                ;
}

bool cache_try_exclusive(const struct cache *c, int *fd)
{
        *fd = in_use_fd(c);
        if (*fd >= 0 && flock(*fd, LOCK_EX | LOCK_NB) == 0)
                return true;
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
        return false;
}

void cache_close(struct cache *c)
{
        if (c->use_fd >= 0)
                close(c->use_fd);
        if (c->temporary && c->root)
                remove_tree(c->root);
        if (c->fd >= 0)
                close(c->fd);
        if (c->shared_fd >= 0)
                close(c->shared_fd);
        free(c->root);
        free(c->shared_root);
        memset(c, 0, sizeof(*c));
        c->fd = c->use_fd = c->shared_fd = -1;
}

bool cache_shared_blob_recorded(const struct cache *c, const char *digest)
{
        char rel[128], name[128];
        _cleanup_close_ int fd = -1;
        if (c->shared_fd < 0 || !digest_is_valid(digest))
                return false;
        snprintf(rel, sizeof(rel), "blobs/sha256/%s", digest_hex(digest));
        snprintf(name, sizeof(name), "blob-%s", digest_hex(digest));
        fd = openat(c->shared_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        return fd >= 0 && record_matches_at(c->shared_fd, name, fd, true);
}

char *cache_blob_path(const struct cache *c, const char *digest)
{
        char *p = NULL;
        if (!digest_is_valid(digest))
                return NULL;
        if (asprintf(&p, "%s/blobs/sha256/%s",
                     cache_shared_blob_recorded(c, digest) ? c->shared_root : c->root,
                     digest_hex(digest)) < 0)
                return NULL;
        return p;
}

char *cache_sif_path(const struct cache *c, const char *digest, const char *arch)
{
        char *p = NULL;
        if (!digest_is_valid(digest) || strpbrk(arch, "/.") != NULL)
                return NULL;
        if (asprintf(&p, "%s/sif/%s-%s.sif", c->root, digest_hex(digest), arch) < 0)
                return NULL;
        return p;
}

/* "dev ino size mtime ctime" of an open file. */
static int identity_line(int fd, char *buf, size_t len)
{
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return -1;
        snprintf(buf, len, "%llu %llu %lld %lld.%09ld %lld.%09ld\n", (unsigned long long)st.st_dev,
                 (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                 st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
        return 0;
}

static bool record_name_ok(const char *name)
{
        return *name && strlen(name) < 200 && !strchr(name, '/') && name[0] != '.';
}

/* The identity line, then the content's sha256 on a second line when the
 * caller has it (a SIF linked as a pull's output: see cache_sif_rehash). */
static int record_write(const struct cache *c, const char *name, int fd, const char *sha,
                        sing_err_t *e)
{
        char line[160 + DIGEST_STR_LEN + 2];
        _cleanup_free_ char *final = NULL;
        if (!record_name_ok(name) || identity_line(fd, line, 160) < 0)
                return err_set(e, "cannot record cache entry %s", name);
        if (sha) {
                strcat(line, sha);
                strcat(line, "\n");
        }
        if (asprintf(&final, "%s/verified/%s", c->root, name) < 0)
                return err_set(e, "out of memory");
        return publish_private_file(final, line, strlen(line), false, e);
}

int cache_record_write(const struct cache *c, const char *name, int fd, sing_err_t *e)
{
        return record_write(c, name, fd, NULL, e);
}

/* The record's text (NUL-terminated, up to len - 1 bytes), or false. */
static bool record_read_at(int rootfd, const char *name, char *got, size_t len)
{
        char path[256];
        _cleanup_close_ int rfd = -1;
        ssize_t n;
        snprintf(path, sizeof(path), "verified/%s", name);
        rfd = openat(rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (rfd < 0)
                return false;
        n = read(rfd, got, len - 1);
        if (n <= 0)
                return false;
        got[n] = '\0';
        return true;
}

/* shared: the read-only cache, which only root can change, compared
 * without the ctime: the administrator's `chmod -R go+rX` that opens it to
 * users changes every ctime (the README's step); dev, inode, size and mtime
 * still tell a replaced or rewritten entry. */
static bool record_matches_at(int rootfd, const char *name, int fd, bool shared)
{
        char want[160], got[160 + DIGEST_STR_LEN + 3];
        if (!record_name_ok(name) || identity_line(fd, want, sizeof(want)) < 0 ||
            !record_read_at(rootfd, name, got, sizeof(got)))
                return false;
        /* The identity is the first line; a content hash may follow. */
        char *nl = strchr(got, '\n');
        if (nl)
                nl[1] = '\0';
        if (shared) {
                /* Without the ctime, what others may write could be written
                 * to while a container reads it (a chmod keeps the rest). */
                struct stat st;
                if (fstat(fd, &st) < 0 || !trusted_dir_sealed(&st))
                        return false;
                char *a = strrchr(got, ' '), *b = strrchr(want, ' ');
                return a && b && a - got == b - want && strncmp(got, want, (size_t)(a - got)) == 0;
        }
        return strcmp(got, want) == 0;
}

bool cache_record_matches(const struct cache *c, const char *name, int fd)
{
        return c->fd >= 0 && record_matches_at(c->fd, name, fd, false);
}

bool cache_shared_record_matches(const struct cache *c, const char *name, int fd)
{
        return c->shared_fd >= 0 && record_matches_at(c->shared_fd, name, fd, true);
}

static bool sif_record_name(const char *digest, const char *arch, char *buf, size_t len)
{
        if (!digest_is_valid(digest) || strpbrk(arch, "/.") != NULL)
                return false;
        return (size_t)snprintf(buf, len, "sif-%s-%s", digest_hex(digest), arch) < len;
}

/* The SIF for digest/arch in the cache at rootfd/root, if its record
 * there matches. */
static char *sif_usable_at(int rootfd, const char *root, const char *digest, const char *arch,
                           bool shared)
{
        _cleanup_close_ int fd = -1;
        char name[200], rel[256];
        char *path = NULL;
        if (rootfd < 0 || !sif_record_name(digest, arch, name, sizeof(name)))
                return NULL;
        snprintf(rel, sizeof(rel), "sif/%s-%s.sif", digest_hex(digest), arch);
        fd = openat(rootfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return NULL;
        if (!record_matches_at(rootfd, name, fd, shared)) {
                log_verbose("cached SIF %s/%s does not match %s record of it", root, rel,
                            shared ? "the read-only cache's" : "this cache's");
                return NULL;
        }
        if (asprintf(&path, "%s/%s", root, rel) < 0)
                return NULL;
        return path;
}

char *cache_sif_usable(const struct cache *c, const char *digest, const char *arch)
{
        char *path = sif_usable_at(c->shared_fd, c->shared_root, digest, arch, true);
        return path ? path : sif_usable_at(c->fd, c->root, digest, arch, false);
}

static int open_own_sif(const struct cache *c, const char *digest, const char *arch, char *name,
                        size_t len)
{
        char rel[256];
        if (c->fd < 0 || !sif_record_name(digest, arch, name, len))
                return -1;
        snprintf(rel, sizeof(rel), "sif/%s-%s.sif", digest_hex(digest), arch);
        return openat(c->fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
}

int cache_sif_verified(const struct cache *c, const char *digest, const char *arch, const char *sha,
                       sing_err_t *e)
{
        char name[200];
        _cleanup_close_ int fd = open_own_sif(c, digest, arch, name, sizeof(name));
        if (fd < 0)
                return err_errno(e, "cannot open the cached SIF");
        return record_write(c, name, fd, sha, e);
}

int cache_sif_hashed_record(const struct cache *c, const char *digest, const char *arch, bool exact,
                            char sha[DIGEST_STR_LEN + 1])
{
        char name[200], want[160], got[160 + DIGEST_STR_LEN + 3];
        int fd = open_own_sif(c, digest, arch, name, sizeof(name));
        if (fd < 0)
                return -1;
        char *nl = NULL, *a, *b;
        /* Same dev, inode, size and mtime (everything before the last
         * field; exact: the ctime too), and a well-formed hash line. */
        if (identity_line(fd, want, sizeof(want)) == 0 &&
            record_read_at(c->fd, name, got, sizeof(got)) && (nl = strchr(got, '\n')) &&
            (a = memrchr(got, ' ', (size_t)(nl - got))) && (b = strrchr(want, ' ')) &&
            a - got == b - want &&
            strncmp(got, want, exact ? (size_t)(nl + 1 - got) : (size_t)(a - got)) == 0 &&
            strlen(nl + 1) == DIGEST_STR_LEN + 1 && nl[DIGEST_STR_LEN + 1] == '\n') {
                memcpy(sha, nl + 1, DIGEST_STR_LEN);
                sha[DIGEST_STR_LEN] = '\0';
                if (digest_is_valid(sha))
                        return fd;
        }
        close(fd);
        return -1;
}

void temp_lock(int fd)
{
        /* A fresh file nobody else has open: this cannot block. */
        while (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EINTR)
                ;
}

/* The pid in ".NAME.tmp-<pid>-XXXXXX", or 0. */
static pid_t temp_owner(const char *name)
{
        const char *t = strstr(name, ".tmp-");
        char *end;
        long pid;
        if (name[0] != '.' || !t)
                return 0;
        pid = strtol(t + 5, &end, 10);
        return pid > 0 && (*end == '-' || *end == '\0') ? (pid_t)pid : 0;
}

unsigned temp_sweep(int dirfd, const char *prefix)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        struct stat st;
        unsigned n = 0;
        int dup_fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
        if (dup_fd < 0 || !(d = fdopendir(dup_fd))) {
                if (dup_fd >= 0)
                        close(dup_fd);
                return 0;
        }
        while ((de = readdir(d))) {
                pid_t pid = temp_owner(de->d_name);
                _cleanup_close_ int fd = -1;
                if (prefix && strncmp(de->d_name, prefix, strlen(prefix)) != 0)
                        continue;
                /* Alive here (or our own): not a leftover. A writer on
                 * another host sharing the cache holds its lock. */
                if (pid == 0 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
                        continue;
                fd = openat(dirfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
                    st.st_uid != geteuid() || flock(fd, LOCK_EX | LOCK_NB) < 0)
                        continue;
                if (unlinkat(dirfd, de->d_name, 0) == 0)
                        n++;
        }
        return n;
}

unsigned temp_sweep_beside(const char *final)
{
        const char *slash = strrchr(final, '/');
        _cleanup_free_ char *dir = slash ? strndup(final, (size_t)(slash - final)) : strdup(".");
        _cleanup_close_ int fd = -1;
        char prefix[NAME_MAX + 8];
        unsigned n;
        if (!dir)
                return 0;
        fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        snprintf(prefix, sizeof(prefix), ".%s.tmp-", slash ? slash + 1 : final);
        n = temp_sweep(fd, prefix);
        if (n)
                log_verbose("removed %u temporary file(s) of an interrupted run beside %s", n,
                            final);
        return n;
}

char *cache_temp_path(const char *final)
{
        const char *slash = strrchr(final, '/');
        char *p = NULL;
        int dirlen = slash ? (int)(slash - final) : 1;
        const char *dir = slash ? final : ".";
        const char *base = slash ? slash + 1 : final;
        if (asprintf(&p, "%.*s/.%s.tmp-%d-XXXXXX", dirlen, dir, base, (int)getpid()) < 0)
                return NULL;
        return p;
}

int cache_lock(const struct cache *c, const char *name, bool wait, int *fd, sing_err_t *e)
{
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int lfd = -1;
        *fd = -1;
        if (asprintf(&p, "locks/%s.lock", name) < 0)
                return err_set(e, "out of memory");
        lfd = openat(c->fd, p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lfd < 0)
                return err_errno(e, "cannot open lock %s", p);
        while (flock(lfd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
                if (errno == EINTR)
                        continue;
                if (errno == EWOULDBLOCK)
                        return 0;
                return err_errno(e, "cannot lock %s", p);
        }
        *fd = steal_fd(&lfd);
        return 1;
}

/* Bytes from in to out: copy_file_range, falling back to read/write where
 * the kernel cannot copy between these files. */
static int copy_fd(int in, int out)
{
        char buf[1 << 16];
        for (;;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
                if (n > 0)
                        continue;
                if (n == 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
                        return -1;
                break;
        }
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return (int)n;
                if (write_all(out, buf, (size_t)n) < 0)
                        return -1;
        }
}

int copy_file_atomic(const char *src, const char *dst, bool force, sing_err_t *e)
{
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        struct pending_file out;
        if (in < 0)
                return err_errno(e, "cannot open %s", src);
        /* Mode 0777 & ~umask, like a SIF. */
        if (pending_open(&out, dst, 0777, e) < 0)
                return -1;
        if (ioctl(out.fd, FICLONE, in) < 0 && copy_fd(in, out.fd) < 0) {
                err_errno(e, "cannot copy %s to %s", src, dst);
                pending_abandon(&out);
                return -1;
        }
        return pending_publish(&out, force, e);
}
