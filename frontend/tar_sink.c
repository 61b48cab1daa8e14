#include "tar_sink.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdbool.h>
#include <stdlib.h>

#include "log.h"

#define ZERO_CHUNK (1u << 20)

struct tar_sink {
        struct archive *w;
        char *zeros; /* ZERO_CHUNK bytes */
};

/* Zeros for [from, to) (holes and zero blocks): mksquashfs stores them as
 * sparse blocks. */
static int write_zeros(struct tar_sink *t, int64_t from, int64_t to, sing_err_t *e)
{
        while (from < to) {
                size_t n = to - from > ZERO_CHUNK ? ZERO_CHUNK : (size_t)(to - from);
                if (archive_write_data(t->w, t->zeros, n) != (la_ssize_t)n)
                        return err_set(e, "writing tar stream: %s", archive_error_string(t->w));
                from += (int64_t)n;
        }
        return 0;
}

static int copy_data(struct tar_sink *t, struct archive_entry *ae, struct merge_data *data,
                     sing_err_t *e)
{
        int64_t size = archive_entry_size(ae), pos = 0, off;
        const void *buf;
        size_t len;
        int r;

        while ((r = merge_data_next(data, &buf, &len, &off, e)) == 1) {
                if (off + (int64_t)len > size)
                        return err_set(e, "more data than the header said");
                if (write_zeros(t, pos, off, e) < 0)
                        return -1;
                if (archive_write_data(t->w, buf, len) != (la_ssize_t)len)
                        return err_set(e, "writing tar stream: %s", archive_error_string(t->w));
                pos = off + (int64_t)len;
        }
        if (r < 0)
                return -1;
        return write_zeros(t, pos, size, e);
}

static int tar_entry(void *ctx, struct archive_entry *ae, struct merge_data *data, sing_err_t *e)
{
        struct tar_sink *t = ctx;
        bool has_data = !archive_entry_hardlink(ae) && archive_entry_filetype(ae) == AE_IFREG;
        int r;

        /* Numeric owners only: names would be mapped through this host's
         * passwd by whoever reads the stream. Other times, ACLs and file
         * flags are not part of the image's squashfs. Sparse files go as
         * plain files: the holes are written as zeros, which mksquashfs
         * stores as sparse blocks (a sparse map written by libarchive's pax
         * writer is misread by mksquashfs 4.5.1). A huge hole costs CPU
         * time, not space. */
        archive_entry_set_uname(ae, NULL);
        archive_entry_set_gname(ae, NULL);
        archive_entry_unset_atime(ae);
        archive_entry_unset_ctime(ae);
        archive_entry_unset_birthtime(ae);
        archive_entry_acl_clear(ae);
        archive_entry_set_fflags(ae, 0, 0);
        archive_entry_sparse_clear(ae);
        if (!has_data)
                archive_entry_set_size(ae, 0);

        r = archive_write_header(t->w, ae);
        if (r == ARCHIVE_WARN)
                log_debug("%s: %s", archive_entry_pathname(ae), archive_error_string(t->w));
        else if (r != ARCHIVE_OK)
                return err_set(e, "writing tar header: %s", archive_error_string(t->w));
        if (has_data && copy_data(t, ae, data, e) < 0)
                return -1;
        if (archive_write_finish_entry(t->w) != ARCHIVE_OK)
                return err_set(e, "writing tar stream: %s", archive_error_string(t->w));
        return 0;
}

int tar_sink_open(int fd, struct merge_sink *out, sing_err_t *e)
{
        struct tar_sink *t = calloc(1, sizeof(*t));

        if (!t || !(t->zeros = calloc(1, ZERO_CHUNK)) || !(t->w = archive_write_new())) {
                if (t)
                        free(t->zeros);
                free(t);
                return err_set(e, "tar stream: out of memory");
        }
        /* Full pax: keeps sub-second mtimes, long names, big ids, xattrs. */
        if (archive_write_set_format_pax(t->w) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(t->w, 1) != ARCHIVE_OK ||
            archive_write_open_fd(t->w, fd) != ARCHIVE_OK) {
                err_set(e, "starting tar stream: %s", archive_error_string(t->w));
                archive_write_free(t->w);
                free(t->zeros);
                free(t);
                return -1;
        }
        out->entry = tar_entry;
        out->ctx = t;
        return 0;
}

int tar_sink_close(struct merge_sink *s, sing_err_t *e)
{
        struct tar_sink *t = s->ctx;
        int ret = 0;

        if (!t)
                return 0;
        if (archive_write_close(t->w) != ARCHIVE_OK)
                ret = err_set(e, "finishing tar stream: %s", archive_error_string(t->w));
        archive_write_free(t->w);
        free(t->zeros);
        free(t);
        s->ctx = NULL;
        return ret;
}
