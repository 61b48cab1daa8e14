#include "safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "mkdir_p.h"

static bool force_fallback;

void safepath_force_fallback(bool on)
{
        force_fallback = on;
}

/* The kernel does the confinement itself; returns -1/ENOSYS where it can't. */
static int openat2_with(int dirfd, const char *path, int flags, mode_t mode,
                        unsigned long long resolve)
{
        struct open_how how = {
            .flags = (unsigned long long)(flags | O_CLOEXEC),
            .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
            .resolve = resolve,
        };
        int fd;
        /* EAGAIN: a concurrent rename raced with ".." resolution; try again. */
        for (int tries = 0; tries < 32; tries++) {
                fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
                if (fd >= 0 || errno != EAGAIN)
                        return fd;
        }
        return -1;
}

/* Re-open the directory `resolved` ("a/b", "" = root) by walking down from
 * the root without following anything: every component was checked to be a
 * real directory when it was entered, so a symlink now means a race. */
static int reopen_resolved(int rootfd, const char *resolved)
{
        char buf[PATH_MAX];
        char *save = NULL, *comp;
        int cur = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cur < 0)
                return -1;
        snprintf(buf, sizeof(buf), "%s", resolved);
        for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
                int next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                close(cur);
                if (next < 0)
                        return -1;
                cur = next;
        }
        return cur;
}

/* rest := target + rest_after (both into the same buffer). */
static int splice_link(char *rest, size_t restsz, const char *target, const char *after)
{
        char tmp[PATH_MAX];
        int n = snprintf(tmp, sizeof(tmp), "%s%s", target, after);
        if (n < 0 || (size_t)n >= sizeof(tmp) || (size_t)n >= restsz) {
                errno = ENAMETOOLONG;
                return -1;
        }
        memcpy(rest, tmp, (size_t)n + 1);
        return 0;
}

/* Component-by-component resolution, for kernels without openat2(2). Every
 * component is opened with O_NOFOLLOW; symlinks are read and spliced into the
 * remaining path, absolute ones restarting from the root, and ".." never
 * climbs above the root. */
static int open_by_walking(int rootfd, const char *path, int flags, mode_t mode)
{
        char rest[PATH_MAX], resolved[PATH_MAX] = "";
        char target[PATH_MAX];
        _cleanup_close_ int cur = -1;
        size_t pos = 0;
        int links = 0;

        if (strlen(path) >= sizeof(rest)) {
                errno = ENAMETOOLONG;
                return -1;
        }
        if (!*path) {
                errno = ENOENT;
                return -1;
        }
        strcpy(rest, path);
        cur = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cur < 0)
                return -1;

        for (;;) {
                char comp[NAME_MAX + 1];
                size_t len, after;
                bool last, trailing_slash;
                bool is_link = false;
                int fd;

                while (rest[pos] == '/')
                        pos++;
                if (!rest[pos]) /* "", "/", "a/..": the directory we are in */
                        return openat(cur, ".", (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC);

                len = strcspn(rest + pos, "/");
                if (len > NAME_MAX) {
                        errno = ENAMETOOLONG;
                        return -1;
                }
                memcpy(comp, rest + pos, len);
                comp[len] = '\0';
                after = pos + len;
                trailing_slash = rest[after] == '/';
                {
                        size_t k = after;
                        while (rest[k] == '/')
                                k++;
                        last = !rest[k];
                }
                pos = after;

                if (!strcmp(comp, "."))
                        continue;
                if (!strcmp(comp, "..")) {
                        char *slash = strrchr(resolved, '/');
                        int fdp;
                        if (slash)
                                *slash = '\0';
                        else
                                resolved[0] = '\0';
                        fdp = reopen_resolved(rootfd, resolved);
                        if (fdp < 0)
                                return -1;
                        close(cur);
                        cur = fdp;
                        continue;
                }

                if (!last || trailing_slash) {
                        struct stat st;
                        fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                        if (fd < 0)
                                return -1;
                        if (fstat(fd, &st) < 0) {
                                close(fd);
                                return -1;
                        }
                        if (S_ISLNK(st.st_mode)) {
                                is_link = true;
                                close(fd);
                        } else if (!S_ISDIR(st.st_mode)) {
                                close(fd);
                                errno = ENOTDIR;
                                return -1;
                        } else if (!last) {
                                size_t rl = strlen(resolved);
                                if (rl + 1 + len >= sizeof(resolved)) {
                                        close(fd);
                                        errno = ENAMETOOLONG;
                                        return -1;
                                }
                                snprintf(resolved + rl, sizeof(resolved) - rl, "%s%s",
                                         rl ? "/" : "", comp);
                                close(cur);
                                cur = fd;
                                continue;
                        } else {
                                /* "dir/": open the directory itself with the caller's flags */
                                close(fd);
                                return openat(cur, comp,
                                              flags | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC, mode);
                        }
                } else {
                        fd = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
                        if (fd >= 0) {
                                struct stat st;
                                /* O_PATH|O_NOFOLLOW opens a symlink itself */
                                if (!(flags & O_PATH) || (flags & O_NOFOLLOW))
                                        return fd;
                                if (fstat(fd, &st) < 0) {
                                        close(fd);
                                        return -1;
                                }
                                if (!S_ISLNK(st.st_mode))
                                        return fd;
                                close(fd);
                                is_link = true;
                        } else {
                                struct stat st;
                                int saved = errno;
                                /* O_NOFOLLOW met a symlink: ELOOP, or ENOTDIR with O_DIRECTORY */
                                if ((saved != ELOOP && saved != ENOTDIR) || (flags & O_NOFOLLOW))
                                        return -1;
                                if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
                                        return -1;
                                if (!S_ISLNK(st.st_mode)) {
                                        errno = saved;
                                        return -1;
                                }
                                is_link = true;
                        }
                }

                if (is_link) {
                        ssize_t n;
                        if (++links > SAFEPATH_MAX_SYMLINKS) {
                                errno = ELOOP;
                                return -1;
                        }
                        n = readlinkat(cur, comp, target, sizeof(target) - 1);
                        if (n < 0)
                                return -1;
                        target[n] = '\0';
                        if (splice_link(rest, sizeof(rest), target, rest + after) < 0)
                                return -1;
                        pos = 0;
                        if (target[0] == '/') {
                                int fdr = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
                                if (fdr < 0)
                                        return -1;
                                close(cur);
                                cur = fdr;
                                resolved[0] = '\0';
                        }
                }
        }
}

int safe_open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
        if (!force_fallback) {
                int fd = openat2_with(rootfd, path, flags, mode,
                                      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
                if (fd >= 0 || errno != ENOSYS)
                        return fd;
        }
        return open_by_walking(rootfd, path, flags, mode);
}

int safe_open_in_mount(int rootfd, const char *path, int flags)
{
        struct stat root, st;
        int fd = -1;
        if (!force_fallback) {
                fd = openat2_with(rootfd, path, flags, 0,
                                  RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
                if (fd >= 0 || errno != ENOSYS)
                        return fd;
        }
        fd = open_by_walking(rootfd, path, flags, 0);
        if (fd >= 0 &&
            (fstat(fd, &st) < 0 || fstat(rootfd, &root) < 0 || st.st_dev != root.st_dev)) {
                close(fd);
                errno = EXDEV;
                return -1;
        }
        return fd;
}

int safe_open_no_magiclinks(const char *path, int flags)
{
        if (!force_fallback) {
                int fd = openat2_with(AT_FDCWD, path, flags, 0, RESOLVE_NO_MAGICLINKS);
                if (fd >= 0 || errno != ENOSYS)
                        return fd;
        }
        /* Best effort only: a symlink to /proc still gets through here. */
        const char *p = path;
        while (p[0] == '/' && p[1] == '/')
                p++;
        if (strncmp(p, "/proc/", 6) == 0 || strcmp(p, "/proc") == 0 ||
            strncmp(p, "/dev/fd/", 8) == 0) {
                errno = EPERM;
                return -1;
        }
        return open(path, flags | O_CLOEXEC);
}

int safe_open_parent_in_root(int rootfd, const char *path, bool create, char last[NAME_MAX + 1])
{
        char buf[PATH_MAX];
        size_t len = strlen(path);
        char *slash, *name;

        if (len >= sizeof(buf)) {
                errno = ENAMETOOLONG;
                return -1;
        }
        memcpy(buf, path, len + 1);
        while (len > 1 && buf[len - 1] == '/')
                buf[--len] = '\0';
        slash = strrchr(buf, '/');
        name = slash ? slash + 1 : buf;
        if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
                errno = EINVAL;
                return -1;
        }
        if (strlen(name) > NAME_MAX) {
                errno = ENAMETOOLONG;
                return -1;
        }
        strcpy(last, name);
        if (slash)
                *slash = '\0';
        else
                buf[0] = '\0';
        if (!buf[0])
                strcpy(buf, ".");
        if (create)
                return safe_mkdir_p_in_root(rootfd, buf, 0755);
        return safe_open_in_root(rootfd, buf, O_RDONLY | O_DIRECTORY, 0);
}
