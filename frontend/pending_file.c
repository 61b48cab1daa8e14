#include "pending_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "cleanup.h"
#include "fileio.h"
#include "tempfile.h"

static mode_t current_umask(void)
{
        mode_t um = umask(0);
        umask(um);
        return um;
}

static char *dir_of(const char *path)
{
        const char *slash = strrchr(path, '/');
        if (!slash)
                return strdup(".");
        if (slash == path)
                return strdup("/");
        return strndup(path, (size_t)(slash - path));
}

int pending_open(struct pending_file *pf, const char *final, mode_t mode, sing_err_t *e)
{
        _cleanup_free_ char *dir = dir_of(final);
        memset(pf, 0, sizeof(*pf));
        pf->fd = -1;
        if (!dir || !(pf->final = strdup(final)))
                return err_set(e, "out of memory");
        pf->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
        if (pf->fd >= 0)
                return 0;
        /* EOPNOTSUPP (the file system), EISDIR/EINVAL (an old kernel). */
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOSYS) {
                err_errno(e, "cannot create a file in %s", dir);
                pending_abandon(pf);
                return -1;
        }
        if (!(pf->tmp = cache_temp_path(final))) {
                pending_abandon(pf);
                return err_set(e, "out of memory");
        }
        tempfile_register(pf->tmp); /* before it exists, for a signal right after */
        pf->fd = mkostemp(pf->tmp, O_CLOEXEC);
        if (pf->fd < 0) {
                err_errno(e, "cannot create a file in %s", dir);
                tempfile_forget(pf->tmp);
                free(steal_ptr(&pf->tmp));
                pending_abandon(pf);
                return -1;
        }
        temp_lock(pf->fd);
        if (fchmod(pf->fd, mode & ~current_umask()) < 0) {
                err_errno(e, "cannot set the mode of %s", pf->tmp);
                pending_abandon(pf);
                return -1;
        }
        return 0;
}

/* Link an O_TMPFILE to `name` (through /proc: linkat with AT_EMPTY_PATH
 * needs CAP_DAC_READ_SEARCH). */
static int link_tmpfile(int fd, const char *name)
{
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        return linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW);
}

int publish_exists_error(const char *path, sing_err_t *e)
{
        return err_set(e, "%s already exists; use --force to overwrite it", path);
}

/* errno is kept: a caller may go on after EEXIST (publish_output). */
static int publish_error(const char *final, sing_err_t *e)
{
        int saved = errno;
        if (errno == EEXIST)
                publish_exists_error(final, e);
        else
                err_errno(e, "cannot create %s", final);
        errno = saved;
        return -1;
}

static int rename_final(const char *tmp, const char *final, bool replace)
{
        return replace ? rename(tmp, final)
                       : renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE);
}

int publish_rename(const char *tmp, const char *final, bool replace, sing_err_t *e)
{
        return rename_final(tmp, final, replace) < 0 ? publish_error(final, e) : 0;
}

int pending_publish(struct pending_file *pf, bool replace, sing_err_t *e)
{
        int rc;
        if (pf->tmp) {
                rc = rename_final(pf->tmp, pf->final, replace);
        } else {
                rc = link_tmpfile(pf->fd, pf->final);
                if (rc < 0 && errno == EEXIST && replace) {
                        /* Over an existing file: a named link, then rename. */
                        _cleanup_free_ char *tmp = cache_temp_path(pf->final);
                        if (!tmp) {
                                pending_abandon(pf);
                                return err_set(e, "out of memory");
                        }
                        /* Ours alone: the pid is in the name. */
                        memcpy(tmp + strlen(tmp) - 6, "link00", 6);
                        unlink(tmp);
                        rc = link_tmpfile(pf->fd, tmp);
                        if (rc == 0 && (rc = rename(tmp, pf->final)) < 0)
                                unlink(tmp);
                }
        }
        if (rc < 0) {
                publish_error(pf->final, e);
                pending_abandon(pf);
                return -1;
        }
        if (pf->tmp) {
                tempfile_forget(pf->tmp);
                free(steal_ptr(&pf->tmp));
        }
        rc = close(steal_fd(&pf->fd));
        if (rc < 0)
                err_errno(e, "cannot write %s", pf->final);
        pending_abandon(pf);
        return rc;
}

int publish_private_file(const char *final, const void *buf, size_t len, bool durable,
                         sing_err_t *e)
{
        struct pending_file pf;
        if (pending_open(&pf, final, 0600, e) < 0)
                return -1;
        /* pending_open applied the umask; a record is 0600, not less. */
        if (fchmod(pf.fd, 0600) < 0 || write_all(pf.fd, buf, len) < 0 ||
            (durable && fsync(pf.fd) < 0)) {
                err_errno(e, "cannot write %s", final);
                pending_abandon(&pf);
                return -1;
        }
        return pending_publish(&pf, true, e);
}

void pending_abandon(struct pending_file *pf)
{
        if (pf->fd >= 0)
                close(steal_fd(&pf->fd));
        if (pf->tmp) {
                unlink(pf->tmp);
                tempfile_forget(pf->tmp);
                free(steal_ptr(&pf->tmp));
        }
        free(steal_ptr(&pf->final));
}
