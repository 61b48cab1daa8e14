/* Writing into a sandbox without ever leaving it: every path is resolved
 * with common/safepath, so a symlink in the image (say /opt -> /home/me)
 * cannot redirect a write to the host, even when building as root. */
#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "log.h"
#include "mkdir_p.h"
#include "safepath.h"

int sandbox_write_file(int rootfd, const char *path, const void *data, size_t len, mode_t mode,
                       sing_err_t *e)
{
        char last[NAME_MAX + 1];
        _cleanup_close_ int pfd = safe_open_parent_in_root(rootfd, path, true, last);
        _cleanup_close_ int fd = -1;

        if (pfd < 0)
                return err_errno(e, "cannot open the directory of /%s in the sandbox", path);
        /* Replace whatever is there (a symlink is removed, never followed). */
        if (unlinkat(pfd, last, 0) < 0 && errno != ENOENT)
                return err_errno(e, "cannot replace /%s in the sandbox", path);
        fd = openat(pfd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return err_errno(e, "cannot create /%s in the sandbox", path);
        if (write_all(fd, data, len) < 0 || fchmod(fd, mode & 07777) < 0)
                return err_errno(e, "cannot write /%s in the sandbox", path);
        if (close(steal_fd(&fd)) < 0)
                return err_errno(e, "cannot write /%s in the sandbox", path);
        return 0;
}

int sandbox_read_file(int rootfd, const char *path, size_t max, char **data, size_t *len,
                      sing_err_t *e)
{
        _cleanup_close_ int fd = safe_open_in_root(rootfd, path, O_RDONLY, 0);
        struct stat st;

        *data = NULL;
        *len = 0;
        if (fd < 0) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return 0;
                return err_errno(e, "cannot open /%s", path);
        }
        if (fstat(fd, &st) < 0)
                return err_errno(e, "cannot stat /%s", path);
        if (!S_ISREG(st.st_mode))
                return 0;
        if (read_all_bounded(fd, max, data, len) < 0) {
                if (errno == EFBIG)
                        return err_set(e, "/%s is larger than %zu bytes", path, max);
                return err_errno(e, "cannot read /%s", path);
        }
        return 0;
}

/* cp the host path src to NAME in the directory dirfd (inside the root):
 * the copy runs on /proc/self/fd/DIRFD/NAME, a path that cannot leave the
 * resolved directory. Symlinks in the source are followed (as Singularity
 * does for %files); an existing destination is removed, not written
 * through. */
/* keep_links: symlinks below src are copied as symlinks (only src itself is
 * followed), for trees whose links must not be resolved on the host. */
static int copy_into(int dirfd, const char *name, const char *src, bool keep_links, sing_err_t *e)
{
        char dst[PATH_MAX];
        int flags = fcntl(dirfd, F_GETFD);
        snprintf(dst, sizeof(dst), "/proc/self/fd/%d/%s", dirfd, name);
        if (flags < 0 || fcntl(dirfd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
                return err_errno(e, "fcntl");
        char *argv[] = {"cp",
                        keep_links ? "-H" : "-L",
                        "-R",
                        "-f",
                        keep_links ? "--preserve=mode,timestamps,links"
                                   : "--preserve=mode,timestamps",
                        "--remove-destination",
                        "-T",
                        (char *)src,
                        dst,
                        NULL};
        int rc = run_command(argv, -1, e);
        fcntl(dirfd, F_SETFD, flags);
        return rc;
}

static int copy_in(int rootfd, const char *src, const char *dst, bool keep_links, sing_err_t *e);

int sandbox_copy_in(int rootfd, const char *src, const char *dst, sing_err_t *e)
{
        return copy_in(rootfd, src, dst, false, e);
}

int sandbox_copy_in_keep_links(int rootfd, const char *src, const char *dst, sing_err_t *e)
{
        return copy_in(rootfd, src, dst, true, e);
}

static int copy_in(int rootfd, const char *src, const char *dst, bool keep_links, sing_err_t *e)
{
        _cleanup_free_ char *srccopy = strdup(src);
        _cleanup_close_ int dirfd = -1;
        char last[NAME_MAX + 1];
        struct stat st;
        size_t dl = strlen(dst);

        if (!srccopy)
                return err_set(e, "out of memory");
        if (stat(src, &st) < 0)
                return err_errno(e, "%s", src);
        while (*dst == '/')
                dst++;
        dl = strlen(dst);
        /* "" (the root), "dir/" or an existing directory: copy under src's name. */
        if (dl == 0 || dst[dl - 1] == '/' ||
            ((dirfd = safe_open_in_root(rootfd, dst, O_RDONLY | O_DIRECTORY, 0)) >= 0)) {
                if (dirfd < 0) {
                        dirfd = dl ? safe_mkdir_p_in_root(rootfd, dst, 0755)
                                   : fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
                        if (dirfd < 0)
                                return err_errno(e, "cannot create /%s in the sandbox", dst);
                }
                const char *base = basename(srccopy);
                if (!*base || !strcmp(base, "/") || !strcmp(base, ".") || !strcmp(base, ".."))
                        return err_set(e, "%s: cannot copy to /%s under that name", src, dst);
                log_verbose("copying %s to /%s%s%s", src, dst, dl ? "/" : "", base);
                return copy_into(dirfd, base, src, keep_links, e);
        }
        dirfd = safe_open_parent_in_root(rootfd, dst, true, last);
        if (dirfd < 0)
                return err_errno(e, "cannot open the directory of /%s in the sandbox", dst);
        log_verbose("copying %s to /%s", src, dst);
        return copy_into(dirfd, last, src, keep_links, e);
}
