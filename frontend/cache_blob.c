#include "cache_blob.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "digest.h"
#include "file_digest.h"
#include "fileio.h"
#include "log.h"
#include "pending_file.h"

static int open_blob(const struct cache *c, const char *digest)
{
        char rel[128];
        snprintf(rel, sizeof(rel), "blobs/sha256/%s", digest_hex(digest));
        return openat(c->fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
}

/* A blob of the read-only cache without a matching record: copied into
 * the private cache, hashed on the way, kept there only if it is the
 * digest's. The read-only cache is never written. */
static bool copy_shared_blob(const struct cache *c, const char *digest, int64_t size)
{
        char rel[128], got[DIGEST_STR_LEN + 1];
        _cleanup_free_ char *dst = NULL;
        _cleanup_close_ int fd = -1;
        struct pending_file out;
        struct stat st;
        sing_err_t e;
        snprintf(rel, sizeof(rel), "blobs/sha256/%s", digest_hex(digest));
        fd = openat(c->shared_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 || c->fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
            st.st_size != size ||
            asprintf(&dst, "%s/blobs/sha256/%s", c->root, digest_hex(digest)) < 0)
                return false;
        log_verbose("verifying blob %s of the read-only cache (it has no record of it)", digest);
        if (pending_open(&out, dst, 0600, &e) < 0) {
                log_debug("%s", e.msg);
                return false;
        }
        if (fd_sha256(fd, out.fd, got, NULL, &e) < 0 || strcmp(got, digest) != 0) {
                log_warn("blob %s in the read-only cache %s does not match its digest; fetching "
                         "it",
                         digest, c->shared_root);
                pending_abandon(&out);
                return false;
        }
        if (pending_publish(&out, true, &e) < 0) {
                log_debug("%s", e.msg);
                return false;
        }
        cache_blob_verified(c, digest);
        return true;
}

bool cache_blob_usable(const struct cache *c, const char *digest, int64_t size)
{
        _cleanup_close_ int fd = -1;
        char name[128], got[DIGEST_STR_LEN + 1];
        struct stat st;
        sing_err_t ignored;
        if (!digest_is_valid(digest))
                return false;
        if (c->shared_fd >= 0) {
                _cleanup_close_ int sfd = -1;
                char rel[128];
                snprintf(rel, sizeof(rel), "blobs/sha256/%s", digest_hex(digest));
                sfd = openat(c->shared_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                snprintf(name, sizeof(name), "blob-%s", digest_hex(digest));
                if (sfd >= 0 && fstat(sfd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == size &&
                    cache_shared_record_matches(c, name, sfd))
                        return true;
        }
        if ((fd = open_blob(c, digest)) < 0)
                return c->shared_fd >= 0 && copy_shared_blob(c, digest, size);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != size)
                return false;
        snprintf(name, sizeof(name), "blob-%s", digest_hex(digest));
        if (cache_record_matches(c, name, fd))
                return true;
        /* No record (an older cache) or the file changed since: hash it. */
        log_verbose("verifying cached blob %s", digest);
        if (fd_sha256(fd, -1, got, NULL, &ignored) == 0 && strcmp(got, digest) == 0) {
                if (cache_record_write(c, name, fd, &ignored) < 0)
                        log_debug("%s", ignored.msg);
                return true;
        }
        log_warn("cached blob %s does not match its digest; fetching it again", digest);
        {
                char rel[128];
                snprintf(rel, sizeof(rel), "blobs/sha256/%s", digest_hex(digest));
                unlinkat(c->fd, rel, 0);
        }
        return false;
}

void cache_blob_verified(const struct cache *c, const char *digest)
{
        _cleanup_close_ int fd = open_blob(c, digest);
        char name[128];
        sing_err_t e;
        if (fd < 0)
                return;
        snprintf(name, sizeof(name), "blob-%s", digest_hex(digest));
        if (cache_record_write(c, name, fd, &e) < 0)
                log_debug("%s", e.msg);
}
