/* The content of one merged entry, as the sinks read it (merge_data_next in
 * layers.h). One place for what every sink needs:
 *  - sparse files: holes, also a trailing hole or an all-hole file, are
 *    gaps between pieces (libarchive's archive_read_data() drops a
 *    trailing hole);
 *  - zeros: 4 KiB blocks (at file offsets) that are all zero are gaps too,
 *    so a sandbox gets holes and only what is really stored is counted;
 *  - the layer's budget against decompression bombs (layers.h): the
 *    non-zero bytes handed to sinks, summed over the layer, may not pass
 *    it; the piece that would is never handed out;
 *  - the size GNU tar reads: libarchive takes the size of a non-sparse GNU
 *    entry from the "realsize" field when that is set (Go's nil-uid.tar:
 *    2176 bytes where the archive holds 14); the data is looked at before
 *    the header goes to a sink, and the entry's size fixed;
 *  - data ending before the entry's size is an error ("truncated"). */
#ifndef SING_LAYER_DATA_H
#define SING_LAYER_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct archive;
struct archive_entry;

/* A layer's allowance of stored bytes. */
struct data_budget {
        uint64_t stored, limit, compressed;
        unsigned ratio;
};

struct data_piece {
        const unsigned char *p;
        size_t len;
        int64_t off;
};

struct merge_data {
        struct archive *a; /* NULL: the memory piece */
        struct data_budget *budget;
        int64_t size;
        bool sparse;
        bool eof;
        int64_t end;            /* end of the data seen so far */
        struct data_piece cur;  /* being split into pieces */
        struct data_piece next; /* read ahead, after cur */
        unsigned char *ahead;   /* copy of a block read ahead */
};

/* For an entry just read from `a` (ae's size may be corrected). */
int merge_data_from_archive(struct merge_data *d, struct archive *a, struct archive_entry *ae,
                            struct data_budget *budget, sing_err_t *e);
/* For synthetic content (not counted). */
void merge_data_from_memory(struct merge_data *d, const void *data, size_t len);
void merge_data_release(struct merge_data *d);

#endif
