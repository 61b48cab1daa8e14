#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include "digest.h"
#include "fileio.h"
#include "log.h"
#include "tempfile.h"

static const char *home_dir(void)
{
        const char *h = getenv("HOME");
        struct passwd *pw;
        if (h && *h == '/')
                return h;
        pw = getpwuid(getuid());
        return pw ? pw->pw_dir : "/";
}

/* mkdir 0700 if missing; an existing dir must be ours, and is made private. */
static int private_dir(const char *path, sing_err_t *e)
{
        struct stat st;
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return err_errno(e, "cannot create cache directory %s", path);
        if (stat(path, &st) < 0)
                return err_errno(e, "cannot use cache directory %s", path);
        if (!S_ISDIR(st.st_mode))
                return err_set(e, "cache path %s is not a directory", path);
        if (st.st_uid != geteuid())
                return err_set(e, "cache directory %s is owned by uid %u, not by you", path,
                               (unsigned)st.st_uid);
        if ((st.st_mode & 0077) && chmod(path, 0700) < 0)
                return err_errno(e, "cannot make cache directory %s private", path);
        return 0;
}

static int mkdirs_private(const char *path, sing_err_t *e)
{
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return err_set(e, "out of memory");
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                struct stat st;
                *s = '\0';
                /* Only directories that do not exist yet are ours to create. */
                if (stat(p, &st) < 0 && private_dir(p, e) < 0)
                        return -1;
                *s = '/';
        }
        return private_dir(p, e);
}

int cache_open(struct cache *c, bool disable, sing_err_t *e)
{
        const char *env = getenv("SINGULARITY_DISABLE_CACHE");
        const char *dir;
        memset(c, 0, sizeof(*c));
        if (!env)
                env = getenv("APPTAINER_DISABLE_CACHE");
        if (env && *env && strcmp(env, "0") != 0 && strcasecmp(env, "false") != 0)
                disable = true;
        if (disable) {
                const char *tmp = getenv("TMPDIR");
                if (asprintf(&c->root, "%s/singularity-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp") <
                    0)
                        return err_set(e, "out of memory");
                if (!mkdtemp(c->root)) {
                        err_errno(e, "cannot create a temporary cache in %s", c->root);
                        free(c->root);
                        c->root = NULL;
                        return -1;
                }
                c->temporary = true;
        } else {
                dir = getenv("SINGULARITY_CACHEDIR");
                if (!dir || !*dir)
                        dir = getenv("APPTAINER_CACHEDIR");
                if (dir && *dir) {
                        if (*dir != '/')
                                return err_set(e, "SINGULARITY_CACHEDIR must be an absolute path");
                        c->root = strdup(dir);
                } else if (asprintf(&c->root, "%s/.singularity/cache", home_dir()) < 0) {
                        c->root = NULL;
                }
                if (!c->root)
                        return err_set(e, "out of memory");
                if (mkdirs_private(c->root, e) < 0) {
                        cache_close(c);
                        return -1;
                }
        }
        {
                const char *subs[] = {"blobs", "blobs/sha256", "sif", "locks"};
                for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
                        _cleanup_free_ char *p = NULL;
                        if (asprintf(&p, "%s/%s", c->root, subs[i]) < 0)
                                return err_set(e, "out of memory");
                        if (private_dir(p, e) < 0) {
                                cache_close(c);
                                return -1;
                        }
                }
        }
        return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        if (flag == FTW_DP)
                rmdir(path);
        else
                unlink(path);
        return 0;
}

/* Directories the last unlock pass could not open, and opened up. */
static unsigned unreadable_dirs;

static int unlock_dir(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)ftw;
        if ((flag == FTW_D || flag == FTW_DNR) && (st->st_mode & 0700) != 0700 &&
            chmod(path, (st->st_mode & 07777) | 0700) == 0 && flag == FTW_DNR)
                unreadable_dirs++;
        return 0;
}

int remove_tree(const char *path)
{
        /* A sandbox may hold 0555 or 000 directories (the image's modes), whose
         * entries not even their owner can remove: make our directories
         * rwx first. A 000 directory is opened only in the pass after its
         * mode was fixed, hence the passes (one per level of nesting). */
        for (unsigned pass = 0; pass < 64; pass++) {
                unreadable_dirs = 0;
                if (nftw(path, unlock_dir, 16, FTW_PHYS) < 0 || unreadable_dirs == 0)
                        break;
        }
        return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void cache_close(struct cache *c)
{
        if (c->temporary && c->root)
                remove_tree(c->root);
        free(c->root);
        memset(c, 0, sizeof(*c));
}

char *cache_blob_path(const struct cache *c, const char *digest)
{
        char *p = NULL;
        if (!digest_is_valid(digest))
                return NULL;
        if (asprintf(&p, "%s/blobs/sha256/%s", c->root, digest_hex(digest)) < 0)
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
        if (asprintf(&p, "%s/locks/%s.lock", c->root, name) < 0)
                return err_set(e, "out of memory");
        lfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
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
        _cleanup_close_ int out = -1;
        _cleanup_free_ char *tmp = cache_temp_path(dst);
        mode_t um;
        int rc = -1;
        if (in < 0)
                return err_errno(e, "cannot open %s", src);
        if (!tmp)
                return err_set(e, "out of memory");
        /* Registered before it exists: a signal right after the create must
         * still find it. */
        tempfile_register(tmp);
        out = mkostemp(tmp, O_CLOEXEC);
        if (out < 0) {
                tempfile_forget(tmp);
                return err_errno(e, "cannot create a file in the directory of %s", dst);
        }
        um = umask(0);
        umask(um);
        if (ioctl(out, FICLONE, in) < 0 && copy_fd(in, out) < 0) {
                err_errno(e, "cannot copy %s to %s", src, dst);
                goto out;
        }
        if (fchmod(out, 0777 & ~um) < 0 || close(out) < 0) {
                out = -1;
                err_errno(e, "cannot write %s", dst);
                goto out;
        }
        out = -1;
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, force ? 0 : RENAME_NOREPLACE) < 0) {
                if (errno == EEXIST)
                        err_set(e, "image file %s already exists; use --force to overwrite it",
                                dst);
                else
                        err_errno(e, "cannot create %s", dst);
                goto out;
        }
        rc = 0;
out:
        if (rc < 0)
                unlink(tmp);
        tempfile_forget(tmp);
        return rc;
}
