#include "tag_record.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "digest.h"
#include "fileio.h"
#include "pending_file.h"

/* A fixed-length name: references can be longer than NAME_MAX. */
static char *record_path(const char *root, const char *registry, const char *repository,
                         const char *tag, const char *arch)
{
        _cleanup_free_ char *key = NULL;
        unsigned char md[32];
        unsigned int mdlen = 0;
        char hex[65], *path = NULL;
        if (asprintf(&key, "%s/%s:%s %s", registry, repository, tag, arch) < 0)
                return NULL;
        if (!EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
                return NULL;
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        if (asprintf(&path, "%s/tags/%s", root, hex) < 0)
                return NULL;
        return path;
}

static char *read_at(const char *root, const char *registry, const char *repository,
                     const char *tag, const char *arch, time_t *confirmed)
{
        _cleanup_free_ char *path =
            root ? record_path(root, registry, repository, tag, arch) : NULL;
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t len = 0;
        if (!path || (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
            fstat(fd, &st) < 0 || read_all_bounded(fd, 128, &data, &len) < 0)
                return NULL;
        if (len < 2 || data[len - 1] != '\n')
                return NULL;
        data[len - 1] = '\0';
        if (!digest_is_valid(data))
                return NULL;
        *confirmed = st.st_mtime;
        return steal_ptr(&data);
}

char *tag_record_read(const struct cache *c, const char *registry, const char *repository,
                      const char *tag, const char *arch, time_t *confirmed)
{
        char *d = read_at(c->root, registry, repository, tag, arch, confirmed);
        return d ? d : read_at(c->shared_root, registry, repository, tag, arch, confirmed);
}

int tag_record_write(const struct cache *c, const char *registry, const char *repository,
                     const char *tag, const char *arch, const char *digest, sing_err_t *e)
{
        _cleanup_free_ char *path = record_path(c->root, registry, repository, tag, arch);
        _cleanup_free_ char *dir = NULL, *line = NULL;
        time_t ignored;
        if (!path || asprintf(&dir, "%s/tags", c->root) < 0 || asprintf(&line, "%s\n", digest) < 0)
                return err_set(e, "out of memory");
        /* Already says so: only the confirmation time changes. */
        _cleanup_free_ char *old = tag_record_read(c, registry, repository, tag, arch, &ignored);
        if (old && strcmp(old, digest) == 0)
                return utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) < 0
                           ? err_errno(e, "cannot update %s", path)
                           : 0;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return err_errno(e, "cannot create %s", dir);
        return publish_private_file(path, line, strlen(line), false, e);
}
