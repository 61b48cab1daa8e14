#include "cache_sif_out.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "file_digest.h"
#include "log.h"
#include "pending_file.h"
#include "tempfile.h"

static int try_reflink(int in, const char *out, bool force, bool *done, sing_err_t *e)
{
        struct pending_file pf;
        *done = false;
        /* Mode 0777 & ~umask, like a SIF. */
        if (pending_open(&pf, out, 0777, e) < 0)
                return -1;
        if (ioctl(pf.fd, FICLONE, in) < 0) {
                pending_abandon(&pf);
                return 0;
        }
        *done = true;
        return pending_publish(&pf, force, e);
}

/* out as a second name of the inode `in` (linked through /proc: the fd,
 * not a path anyone could have swapped). 1 when done, 0 when the file
 * system cannot (another one, no hard links), -1 on error. */
static int try_link(int in, const char *out, bool force, sing_err_t *e)
{
        _cleanup_free_ char *tmp = cache_temp_path(out);
        char proc[64];
        int rc;
        if (!tmp)
                return err_set(e, "out of memory");
        /* Ours alone: the pid is in the name. */
        memcpy(tmp + strlen(tmp) - 6, "hlink0", 6);
        unlink(tmp);
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", in);
        tempfile_register(tmp);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0) {
                int saved = errno;
                tempfile_forget(tmp);
                if (saved == EXDEV || saved == EPERM || saved == EMLINK || saved == EOPNOTSUPP ||
                    saved == ENOSYS)
                        return 0;
                errno = saved;
                return err_errno(e, "cannot link %s", out);
        }
        rc = publish_rename(tmp, out, force, e);
        /* On failure, or when out already was this inode (rename does
         * nothing then), the temp name is still there. */
        unlink(tmp);
        tempfile_forget(tmp);
        return rc < 0 ? -1 : 1;
}

int cache_sif_publish(const struct cache *c, const char *digest, const char *arch,
                      const char *cached, const char *out, bool force, sing_err_t *e)
{
        _cleanup_close_ int in = open(cached, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        size_t rootlen = c->root ? strlen(c->root) : 0;
        /* Only a SIF of the user's own persistent cache is linked. */
        bool own = !c->temporary && rootlen && strncmp(cached, c->root, rootlen) == 0 &&
                   cached[rootlen] == '/';
        bool done;
        int got;
        struct stat st;
        if (in < 0 || fstat(in, &st) < 0)
                return err_errno(e, "cannot open the cached SIF %s", cached);
        /* A second name shares the mode: a SIF others may write (umask 002)
         * must stay behind the private cache directory, or whoever can write
         * to the output writes to what the next run of the image finds in
         * the cache (while it runs: the record is checked at its start). */
        own = own && !(st.st_mode & (S_IWGRP | S_IWOTH));
        if (try_reflink(in, out, force, &done, e) < 0)
                return -1;
        if (done) {
                log_info("%s shares its blocks with the cached SIF (reflink): the image is on "
                         "disk once",
                         out);
                return 0;
        }
        /* The content's hash goes into the record with the link: when the
         * other name is later removed or renamed (which changes only the
         * ctime), the next run checks the bytes instead of converting again. */
        char sha[DIGEST_STR_LEN + 1];
        /* A record that still matches exactly and has the hash (an earlier
         * link): the bytes are the ones hashed then, no need to read them. */
        int hashed = own ? cache_sif_hashed_record(c, digest, arch, true, sha) : -1;
        bool have_sha = hashed >= 0;
        if (hashed >= 0)
                close(hashed);
        if (own && (got = try_link(in, out, force, e)) != 0) {
                if (got < 0)
                        return -1;
                /* The link changed the inode's ctime: record it as it is now. */
                if ((!have_sha && fd_sha256(in, -1, sha, NULL, e) < 0) ||
                    cache_sif_verified(c, digest, arch, sha, e) < 0)
                        return err_prefix(e, "%s is linked, but the cache's record is not", out);
                log_info("%s is a hard link to the cached SIF: the image is on disk once (this "
                         "file system cannot share blocks); changing it makes the next run of the "
                         "image convert it again",
                         out);
                return 0;
        }
        if (copy_file_atomic(cached, out, force, e) < 0)
                return -1;
        if (!own && c->shared_root)
                log_info("%s is a copy of the SIF in the read-only cache %s", out, c->shared_root);
        else
                log_info(
                    "%s is a copy of the cached SIF (no shared blocks or hard link across these "
                    "directories): the image is on disk twice; 'singularity cache clean --type "
                    "sif' "
                    "frees the cached copy",
                    out);
        return 0;
}

char *cache_sif_usable_rehashed(const struct cache *c, const char *digest, const char *arch)
{
        char *path = cache_sif_usable(c, digest, arch);
        char sha[DIGEST_STR_LEN + 1], got[DIGEST_STR_LEN + 1];
        sing_err_t e;
        if (path)
                return path;
        _cleanup_close_ int fd = cache_sif_hashed_record(c, digest, arch, false, sha);
        struct stat st;
        if (fd < 0)
                return NULL;
        /* As for the link itself: never a SIF others may write. */
        if (fstat(fd, &st) < 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
                log_verbose("cached SIF of %s: others may write to it now; converting again",
                            digest);
                return NULL;
        }
        log_verbose("cached SIF of %s: a name of it was removed, renamed or added since it was "
                    "recorded; checking its content",
                    digest);
        if (fd_sha256(fd, -1, got, NULL, &e) < 0 || strcmp(got, sha) != 0) {
                log_verbose("cached SIF of %s: its content changed; converting again", digest);
                return NULL;
        }
        if (cache_sif_verified(c, digest, arch, sha, &e) < 0) {
                log_debug("%s", e.msg);
                return NULL;
        }
        return cache_sif_usable(c, digest, arch);
}
