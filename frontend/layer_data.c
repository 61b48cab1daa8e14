#include "layer_data.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "layer_reader.h"
#include "layers.h"

#define ZERO_BLOCK 4096u

static const unsigned char zeros[ZERO_BLOCK];

/* The next block from libarchive: 1, 0 at the end, -1. */
static int read_block(struct merge_data *d, struct data_piece *out, sing_err_t *e)
{
        const void *buf;
        size_t len;
        la_int64_t off;
        int rc;

        if (d->eof)
                return 0;
        rc = archive_read_data_block(d->a, &buf, &len, &off);
        if (rc == ARCHIVE_EOF) {
                d->eof = true;
                return 0;
        }
        if (rc < ARCHIVE_WARN)
                return err_set(e, "truncated or damaged data: %s",
                               layer_error_string(d->a, "read error"));
        if (off < d->end)
                return err_set(e, "damaged sparse map (data at %lld after %lld)", (long long)off,
                               (long long)d->end);
        *out = (struct data_piece){buf, len, off};
        d->end = off + (int64_t)len;
        return 1;
}

int merge_data_from_archive(struct merge_data *d, struct archive *a, struct archive_entry *ae,
                            struct data_budget *budget, sing_err_t *e)
{
        int rc;

        memset(d, 0, sizeof(*d));
        d->a = a;
        d->budget = budget;
        d->size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : 0;
        d->sparse = archive_entry_sparse_count(ae) > 0;
        if (d->sparse || d->size == 0 || archive_entry_filetype(ae) != AE_IFREG)
                return 0;
        /* Look at the data first: does it reach the size the header gave? */
        rc = read_block(d, &d->cur, e);
        if (rc < 0)
                return -1;
        if (rc == 1 && d->end >= d->size)
                return 0;
        if (rc == 1) {
                d->ahead = malloc(d->cur.len);
                if (!d->ahead)
                        return err_set(e, "out of memory");
                memcpy(d->ahead, d->cur.p, d->cur.len);
                d->cur.p = d->ahead;
                rc = read_block(d, &d->next, e);
                if (rc != 0)
                        return rc < 0 ? -1 : 0;
        }
        /* The archive's data ended cleanly before the size: what GNU tar
         * reads (the header's size field) is what is there. */
        d->size = d->end;
        archive_entry_set_size(ae, d->size);
        return 0;
}

void merge_data_from_memory(struct merge_data *d, const void *data, size_t len)
{
        memset(d, 0, sizeof(*d));
        d->size = (int64_t)len;
        d->cur = (struct data_piece){data, len, 0};
        d->end = (int64_t)len;
        d->eof = true;
}

void merge_data_release(struct merge_data *d)
{
        free(d->ahead);
        d->ahead = NULL;
}

static size_t chunk_len(const struct data_piece *p)
{
        size_t to_boundary = ZERO_BLOCK - (size_t)((uint64_t)p->off % ZERO_BLOCK);
        return p->len < to_boundary ? p->len : to_boundary;
}

static void advance(struct data_piece *p, size_t n)
{
        p->p += n;
        p->len -= n;
        p->off += (int64_t)n;
}

static int charge(struct merge_data *d, size_t n, sing_err_t *e)
{
        struct data_budget *b = d->budget;
        if (!b)
                return 0;
        b->stored += n;
        if (b->stored > b->limit)
                return err_set(e,
                               "more than %llu MiB of file data (not counting zeros) from %llu "
                               "KiB compressed (over %ux): likely a decompression bomb; refusing "
                               "the image (\"max layer expansion\" in singularity.conf)",
                               (unsigned long long)(b->limit >> 20),
                               (unsigned long long)(b->compressed >> 10), b->ratio);
        return 0;
}

int merge_data_next(struct merge_data *d, const void **buf, size_t *len, int64_t *offset,
                    sing_err_t *e)
{
        for (;;) {
                if (d->cur.len == 0) {
                        int rc;
                        if (d->next.len) {
                                d->cur = d->next;
                                d->next.len = 0;
                                continue;
                        }
                        if (!d->a)
                                return 0;
                        rc = read_block(d, &d->cur, e);
                        if (rc < 0)
                                return -1;
                        if (rc == 1)
                                continue;
                        if (d->end > d->size || (!d->sparse && d->end < d->size))
                                return err_set(e, "truncated data (%lld of %lld bytes)",
                                               (long long)d->end, (long long)d->size);
                        return 0;
                }
                if (!d->a) { /* synthetic: one piece */
                        *buf = d->cur.p;
                        *len = d->cur.len;
                        *offset = d->cur.off;
                        d->cur.len = 0;
                        return 1;
                }
                /* skip whole zero blocks, then take the non-zero run after them */
                size_t n = chunk_len(&d->cur);
                if (!memcmp(d->cur.p, zeros, n)) {
                        advance(&d->cur, n);
                        continue;
                }
                size_t run = n;
                while (run < d->cur.len) {
                        struct data_piece rest = {d->cur.p + run, d->cur.len - run,
                                                  d->cur.off + (int64_t)run};
                        size_t m = chunk_len(&rest);
                        if (!memcmp(rest.p, zeros, m))
                                break;
                        run += m;
                }
                if (charge(d, run, e) < 0)
                        return -1;
                *buf = d->cur.p;
                *len = run;
                *offset = d->cur.off;
                advance(&d->cur, run);
                return 1;
        }
}
