#include "layer_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fileio.h"
#include "gzip_inflate.h"
#include "layer_inflate.h"
#include "log.h"
#include "tar_check.h"

#define READ_BLOCK (1 << 20)

struct layer_reader {
        struct archive *raw;     /* decompression only, on the inflate thread */
        struct gzip_inflate *gz; /* ... or, for gzip, this, reading fd */
        int fd;
        struct layer_inflate *inflate;
        struct archive *tar; /* entries, fed from raw through feed() */
        struct tar_check *check;
        const char *path;
        sing_err_t err; /* set when check or raw failed */
        bool failed;
        bool raw_eof;
};

const char *layer_error_string(struct archive *a, const char *fallback)
{
        const char *s = a ? archive_error_string(a) : NULL;
        return s && *s ? s : fallback;
}

/* libarchive's read callback: the next decompressed block, checked. */
static la_ssize_t feed(struct archive *a, void *ctx, const void **buf)
{
        struct layer_reader *r = ctx;
        size_t len = 0;
        int rc;

        if (r->failed)
                return -1;
        if (r->raw_eof)
                return 0;
        rc = layer_inflate_next(r->inflate, buf, &len, &r->err);
        if (rc == 0) {
                r->raw_eof = true;
                return 0;
        }
        if (rc < 0) {
                r->failed = true;
                archive_set_error(a, EIO, "%s", r->err.msg);
                return -1;
        }
        if (tar_check_feed(r->check, *buf, len, &r->err) < 0) {
                r->failed = true;
                archive_set_error(a, EINVAL, "%s", r->err.msg);
                return -1;
        }
        return (la_ssize_t)len;
}

void layer_reader_free(struct layer_reader *r)
{
        if (!r)
                return;
        layer_inflate_stop(r->inflate); /* before raw or gz, which its thread reads */
        if (r->tar)
                archive_read_free(r->tar);
        if (r->raw)
                archive_read_free(r->raw);
        gzip_inflate_free(r->gz);
        if (r->fd >= 0)
                close(r->fd);
        tar_check_free(r->check);
        free(r);
}

/* A gzip blob: its decompression thread reads it with ISA-L. 1 when
 * started, 0 when the blob is not gzip (or cannot be read: libarchive
 * says why), -1 with e set. */
static int open_gzip(struct layer_reader *r, const char *path, sing_err_t *e)
{
        unsigned char magic[4];

        r->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0 || pread_full(r->fd, magic, sizeof(magic), 0) != sizeof(magic) ||
            !gzip_member_start(magic, sizeof(magic))) {
                if (r->fd >= 0)
                        close(r->fd);
                r->fd = -1;
                return 0;
        }
        if (!(r->gz = gzip_inflate_new_fd(r->fd, e)) ||
            !(r->inflate = layer_inflate_start_gzip(r->gz, e)))
                return err_prefix(e, "opening layer %s", path);
        return 1;
}

/* Any other blob: libarchive finds its compression (zstd, xz, bzip2,
 * none...) and decompresses it on the thread. */
static int open_libarchive(struct layer_reader *r, const char *path, sing_err_t *e)
{
        struct archive_entry *raw_entry;
        int rc;

        if (!(r->raw = archive_read_new()))
                return err_set(e, "reading %s: out of memory", path);
        archive_read_support_filter_all(r->raw);
        archive_read_support_format_raw(r->raw);
        archive_read_support_format_empty(r->raw);
        if (archive_read_open_filename(r->raw, path, READ_BLOCK) != ARCHIVE_OK)
                return err_set(e, "opening layer %s: %s", path,
                               layer_error_string(r->raw, "cannot read it"));
        rc = archive_read_next_header(r->raw, &raw_entry);
        if (rc == ARCHIVE_EOF)
                r->raw_eof = true; /* an empty blob: an empty layer */
        else if (rc < ARCHIVE_WARN)
                return err_set(e, "opening layer %s: %s", path,
                               layer_error_string(r->raw, "damaged compressed data"));
        if (!r->raw_eof && !(r->inflate = layer_inflate_start(r->raw, e)))
                return err_prefix(e, "opening layer %s", path);
        return 0;
}

struct layer_reader *layer_reader_open(const char *path, sing_err_t *e)
{
        struct layer_reader *r = calloc(1, sizeof(*r));
        int rc;

        if (r)
                r->fd = -1;
        if (!r || !(r->check = tar_check_new()) || !(r->tar = archive_read_new())) {
                layer_reader_free(r);
                err_set(e, "reading %s: out of memory", path);
                return NULL;
        }
        r->path = path;
        rc = open_gzip(r, path, e);
        if (rc == 0)
                rc = open_libarchive(r, path, e);
        if (rc < 0) {
                layer_reader_free(r);
                return NULL;
        }
        archive_read_support_format_tar(r->tar);
        archive_read_support_format_gnutar(r->tar);
        archive_read_support_format_empty(r->tar);
        if (archive_read_open(r->tar, r, NULL, feed, NULL) != ARCHIVE_OK) {
                if (r->failed)
                        err_set(e, "opening layer %s: %s", path, r->err.msg);
                else
                        err_set(e, "opening layer %s: %s", path,
                                layer_error_string(r->tar, "not a tar archive"));
                layer_reader_free(r);
                return NULL;
        }
        return r;
}

struct archive *layer_reader_archive(struct layer_reader *r)
{
        return r->tar;
}

/* The tar's end comes before the stream's (its zero records, a gzip
 * trailer): the rest is decompressed, unchecked by tar_check, so that the
 * decoder verifies the gzip CRC32 and length, and a damaged or truncated
 * end fails. Up to LAYER_DRAIN_MAX: more after the tar (a bomb where
 * nobody looks) is left unread, as it was. */
#define LAYER_DRAIN_MAX (16u << 20)
static int drain(struct layer_reader *r, sing_err_t *e)
{
        size_t total = 0;

        while (!r->failed && !r->raw_eof && r->inflate && total < LAYER_DRAIN_MAX) {
                const void *buf;
                size_t len = 0;
                int rc = layer_inflate_next(r->inflate, &buf, &len, &r->err);
                if (rc < 0)
                        r->failed = true;
                else if (rc == 0)
                        r->raw_eof = true;
                total += len;
        }
        if (r->failed)
                return err_set(e, "reading layer %s: %s", r->path, r->err.msg);
        return 0;
}

int layer_reader_next(struct layer_reader *r, struct archive_entry **ae, sing_err_t *e)
{
        int rc = archive_read_next_header(r->tar, ae);

        if (rc == ARCHIVE_OK)
                return 1;
        if (rc == ARCHIVE_WARN) {
                log_debug("%s: %s", r->path, layer_error_string(r->tar, "warning"));
                return 1;
        }
        if (rc == ARCHIVE_EOF)
                return drain(r, e);
        if (r->failed)
                return err_set(e, "reading layer %s: %s", r->path, r->err.msg);
        /* Extension headers and then the end of the stream: an empty
         * archive to Go and GNU tar; libarchive says "damaged". */
        if (r->raw_eof && tar_check_ended_after_extension(r->check))
                return 0;
        return err_set(e, "reading layer %s: %s", r->path,
                       layer_error_string(r->tar, "damaged or truncated tar archive"));
}
