#include "file_digest.h"

#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"

int sha256_begin(struct sha256_run *r, sing_err_t *e)
{
        r->md = EVP_MD_CTX_new();
        if (!r->md || !EVP_DigestInit_ex(r->md, EVP_sha256(), NULL)) {
                EVP_MD_CTX_free(r->md);
                r->md = NULL;
                return err_set(e, "cannot start a sha256 digest");
        }
        return 0;
}

void sha256_update(struct sha256_run *r, const void *buf, size_t len)
{
        EVP_DigestUpdate(r->md, buf, len);
}

void sha256_end(struct sha256_run *r, char out[DIGEST_STR_LEN + 1])
{
        unsigned char md[32];
        unsigned int mdlen = 0;
        EVP_DigestFinal_ex(r->md, md, &mdlen);
        memcpy(out, DIGEST_PREFIX, strlen(DIGEST_PREFIX));
        for (int i = 0; i < 32; i++)
                snprintf(out + strlen(DIGEST_PREFIX) + 2 * i, 3, "%02x", md[i]);
        sha256_abandon(r);
}

void sha256_abandon(struct sha256_run *r)
{
        EVP_MD_CTX_free(r->md);
        r->md = NULL;
}

int fd_sha256(int fd, int copy_to, char out[DIGEST_STR_LEN + 1], int64_t *size, sing_err_t *e)
{
        struct sha256_run r;
        char buf[1 << 16];
        int64_t total = 0;
        ssize_t n;
        if (sha256_begin(&r, e) < 0)
                return -1;
        while ((n = read(fd, buf, sizeof(buf))) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        sha256_abandon(&r);
                        return err_errno(e, "read error");
                }
                sha256_update(&r, buf, (size_t)n);
                if (copy_to >= 0 && write_all(copy_to, buf, (size_t)n) < 0) {
                        sha256_abandon(&r);
                        return err_errno(e, "write error");
                }
                total += n;
        }
        sha256_end(&r, out);
        if (size)
                *size = total;
        return 0;
}

int file_sha256(const char *path, char out[DIGEST_STR_LEN + 1], int64_t *size, sing_err_t *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_errno(e, "cannot open %s", path);
        if (fd_sha256(fd, -1, out, size, e) < 0)
                return err_prefix(e, "cannot read %s", path);
        return 0;
}

int file_sha256_uncompressed(const char *path, char out[DIGEST_STR_LEN + 1], sing_err_t *e)
{
        struct archive *a = archive_read_new();
        struct archive_entry *ae;
        struct sha256_run r;
        int ret = -1;
        if (!a)
                return err_set(e, "out of memory");
        archive_read_support_filter_all(a);
        archive_read_support_format_raw(a);
        archive_read_support_format_empty(a);
        if (sha256_begin(&r, e) < 0) {
                archive_read_free(a);
                return -1;
        }
        if (archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK) {
                err_set(e, "cannot read %s: %s", path, archive_error_string(a));
                goto out;
        }
        int h = archive_read_next_header(a, &ae);
        if (h == ARCHIVE_OK || h == ARCHIVE_WARN) {
                const void *buf;
                size_t len;
                la_int64_t off;
                int d;
                while ((d = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK)
                        sha256_update(&r, buf, len);
                if (d != ARCHIVE_EOF) {
                        err_set(e, "cannot decompress %s: %s", path, archive_error_string(a));
                        goto out;
                }
        } else if (h != ARCHIVE_EOF) {
                err_set(e, "cannot read %s: %s", path, archive_error_string(a));
                goto out;
        }
        sha256_end(&r, out);
        ret = 0;
out:
        if (r.md)
                sha256_abandon(&r);
        archive_read_free(a);
        return ret;
}
