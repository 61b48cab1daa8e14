#include "tar_sink.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdbool.h>
#include <stdlib.h>

#include "log.h"

#define COPY_CHUNK (1u << 20)

struct tar_sink {
        struct archive *w;
        char *buf;
};

static int copy_data(struct tar_sink *t, struct archive_entry *ae, struct archive *from,
                     const void *data, size_t len, sing_err_t *e)
{
        la_int64_t want = archive_entry_size(ae), done = 0;

        if (!from) {
                if ((la_int64_t)len != want)
                        return err_set(e, "synthetic data size mismatch");
                if (len && archive_write_data(t->w, data, len) != (la_ssize_t)len)
                        return err_set(e, "writing tar stream: %s", archive_error_string(t->w));
                return 0;
        }
        for (;;) {
                la_ssize_t n = archive_read_data(from, t->buf, COPY_CHUNK);
                if (n < 0)
                        return err_set(e, "reading data: %s", archive_error_string(from));
                if (n == 0)
                        break;
                if (done + n > want)
                        return err_set(e, "more data than the header said");
                if (archive_write_data(t->w, t->buf, (size_t)n) != n)
                        return err_set(e, "writing tar stream: %s", archive_error_string(t->w));
                done += n;
        }
        if (done != want)
                return err_set(e, "truncated data (%lld of %lld bytes)", (long long)done,
                               (long long)want);
        return 0;
}

static int tar_entry(void *ctx, struct archive_entry *ae, struct archive *from, const void *data,
                     size_t len, sing_err_t *e)
{
        struct tar_sink *t = ctx;
        bool has_data = !archive_entry_hardlink(ae) && archive_entry_filetype(ae) == AE_IFREG;
        int r;

        /* Numeric owners only: names would be mapped through this host's
         * passwd by whoever reads the stream. Other times, ACLs, file flags
         * and sparse maps are not part of the image's squashfs. */
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
        if (has_data && copy_data(t, ae, from, data, len, e) < 0)
                return -1;
        if (archive_write_finish_entry(t->w) != ARCHIVE_OK)
                return err_set(e, "writing tar stream: %s", archive_error_string(t->w));
        return 0;
}

int tar_sink_open(int fd, struct merge_sink *out, sing_err_t *e)
{
        struct tar_sink *t = calloc(1, sizeof(*t));

        if (!t || !(t->buf = malloc(COPY_CHUNK)) || !(t->w = archive_write_new())) {
                if (t)
                        free(t->buf);
                free(t);
                return err_set(e, "tar stream: out of memory");
        }
        /* Full pax: keeps sub-second mtimes, long names, big ids, xattrs. */
        if (archive_write_set_format_pax(t->w) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(t->w, 1) != ARCHIVE_OK ||
            archive_write_open_fd(t->w, fd) != ARCHIVE_OK) {
                err_set(e, "starting tar stream: %s", archive_error_string(t->w));
                archive_write_free(t->w);
                free(t->buf);
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
        free(t->buf);
        free(t);
        s->ctx = NULL;
        return ret;
}
