/* gzip_inflate (ISA-L) against zlib: the same bytes as zlib's gzread for
 * every input zlib writes (levels, strategies, header fields, members one
 * after the other, an empty one, padding after the last), fed in pieces of
 * random size into outputs of random size; and an error, never data, for
 * every truncation of a small file and for a flipped CRC32 or ISIZE byte. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "gzip_inflate.h"

static char tmpdir[] = "/tmp/test_gzip_inflate.XXXXXX";

struct buf {
        unsigned char *p;
        size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
        if (b->cap - b->len < n) {
                b->cap = (b->len + n) * 2 + 64;
                b->p = realloc(b->p, b->cap);
        }
        if (n)
                memcpy(b->p + b->len, p, n);
        b->len += n;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        return (uint32_t)(rng >> 11);
}

/* Data with some structure (so that every kind of deflate block appears):
 * runs, repeated phrases and noise. */
static void make_data(struct buf *b, size_t n)
{
        b->len = 0;
        while (b->len < n) {
                unsigned char chunk[512];
                size_t k = 1 + rnd() % sizeof(chunk);
                switch (rnd() % 3) {
                case 0:
                        memset(chunk, rnd(), k);
                        break;
                case 1:
                        for (size_t i = 0; i < k; i++)
                                chunk[i] = "the quick brown fox "[i % 20];
                        break;
                default:
                        for (size_t i = 0; i < k; i++)
                                chunk[i] = (unsigned char)rnd();
                }
                buf_add(b, chunk, k > n - b->len ? n - b->len : k);
        }
}

/* One gzip member of data appended to out, with header fields when hdr. */
static void gz_member(struct buf *out, const void *data, size_t n, int level, int strategy, int hdr)
{
        z_stream z = {0};
        gz_header h = {0};
        unsigned char tmp[1 << 16];
        static unsigned char extra[] = "XYab";

        CHECK(deflateInit2(&z, level, Z_DEFLATED, 31, 8, strategy) == Z_OK);
        if (hdr) {
                h.name = (Bytef *)"some-file-name.tar";
                h.comment = (Bytef *)"a comment";
                h.extra = extra;
                h.extra_len = 4;
                h.hcrc = 1;
                h.time = 12345;
                CHECK(deflateSetHeader(&z, &h) == Z_OK);
        }
        z.next_in = (Bytef *)data;
        z.avail_in = (uInt)n;
        for (;;) {
                int rc;
                z.next_out = tmp;
                z.avail_out = sizeof(tmp);
                rc = deflate(&z, Z_FINISH);
                buf_add(out, tmp, sizeof(tmp) - z.avail_out);
                if (rc == Z_STREAM_END)
                        break;
                CHECK(rc == Z_OK || rc == Z_BUF_ERROR);
        }
        deflateEnd(&z);
}

/* zlib's gzread of the bytes: what libarchive (with zlib) gave before. */
static int zlib_read(const struct buf *in, struct buf *out)
{
        char path[64];
        int fd;
        gzFile f;
        unsigned char tmp[1 << 16];
        int n;

        snprintf(path, sizeof(path), "%s/in.gz", tmpdir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, in->p, in->len) != (ssize_t)in->len)
                return -1;
        close(fd);
        f = gzopen(path, "rb");
        if (!f)
                return -1;
        out->len = 0;
        while ((n = gzread(f, tmp, sizeof(tmp))) > 0)
                buf_add(out, tmp, (size_t)n);
        gzclose(f);
        return n < 0 ? -1 : 0;
}

struct src {
        const struct buf *b;
        size_t off, max_piece; /* 0: any size */
};

static ssize_t src_read(void *ctx, void *p, size_t len)
{
        struct src *s = ctx;
        size_t n = s->b->len - s->off;
        if (n > len)
                n = len;
        if (s->max_piece && n > 1) {
                size_t k = 1 + rnd() % s->max_piece;
                if (n > k)
                        n = k;
        }
        if (n)
                memcpy(p, s->b->p + s->off, n);
        s->off += n;
        return (ssize_t)n;
}

/* ISA-L's output, read in pieces of at most max_piece (0: whole buffers)
 * into outputs of at most max_out; -1 with e on error. */
static int isal_read(const struct buf *in, size_t max_piece, size_t max_out, struct buf *out,
                     sing_err_t *e)
{
        struct src s = {in, 0, max_piece};
        struct gzip_inflate *g = gzip_inflate_new(src_read, &s, e);
        unsigned char tmp[1 << 16];
        int rc;

        if (!g)
                return -1;
        out->len = 0;
        for (;;) {
                size_t cap = max_out ? 1 + rnd() % max_out : sizeof(tmp), len = 0;
                rc = gzip_inflate_read(g, tmp, cap > sizeof(tmp) ? sizeof(tmp) : cap, &len, e);
                if (rc <= 0)
                        break;
                buf_add(out, tmp, len);
        }
        gzip_inflate_free(g);
        return rc;
}

/* ISA-L's bytes are zlib's, however the input and output are cut. */
static int same_as_zlib(const struct buf *gz, const struct buf *want)
{
        static const size_t pieces[][2] = {{0, 0}, {1, 7}, {3, 1}, {100, 5000}, {70000, 300}};
        struct buf z = {0}, got = {0};
        int ok = zlib_read(gz, &z) == 0 &&
                 (!want || (z.len == want->len && (!z.len || !memcmp(z.p, want->p, z.len))));
        if (!ok)
                fprintf(stderr, "zlib did not read the input back\n");
        for (size_t i = 0; ok && i < sizeof(pieces) / sizeof(pieces[0]); i++) {
                sing_err_t e = {0};
                /* one byte at a time is slow: only for small inputs */
                if (pieces[i][0] && pieces[i][0] < 10 && gz->len > (200u << 10))
                        continue;
                if (isal_read(gz, pieces[i][0], pieces[i][1], &got, &e) != 0 || got.len != z.len ||
                    (z.len && memcmp(got.p, z.p, z.len))) {
                        fprintf(stderr, "pieces %zu/%zu: %zu bytes, zlib %zu (%s)\n", pieces[i][0],
                                pieces[i][1], got.len, z.len, e.msg);
                        ok = 0;
                }
        }
        free(z.p);
        free(got.p);
        return ok;
}

static void test_random_data(void)
{
        static const size_t sizes[] = {0, 1, 2, 100, 32768, 65537, 300000, 3u << 20};
        static const int levels[] = {0, 1, 6, 9};
        static const int strategies[] = {Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE,
                                         Z_FIXED};
        struct buf data = {0}, gz = {0};

        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                make_data(&data, sizes[i]);
                for (size_t l = 0; l < 4; l++) {
                        for (size_t s = 0; s < 5; s++) {
                                if (sizes[i] > (1u << 20) && (l != 2 || s > 1))
                                        continue; /* the big one: a few only */
                                gz.len = 0;
                                gz_member(&gz, data.p, data.len, levels[l], strategies[s], 0);
                                CHECK(same_as_zlib(&gz, &data));
                        }
                }
        }
        free(data.p);
        free(gz.p);
}

static void test_header_fields(void)
{
        struct buf data = {0}, gz = {0};

        make_data(&data, 5000);
        gz_member(&gz, data.p, data.len, 6, Z_DEFAULT_STRATEGY, 1);
        CHECK(gz.p[3] == (2 | 4 | 8 | 16)); /* FHCRC FEXTRA FNAME FCOMMENT */
        CHECK(same_as_zlib(&gz, &data));
        free(data.p);
        free(gz.p);
}

/* Several members, an empty one among them, some with header fields;
 * small ones (read a byte at a time too), then big ones. */
static void test_members(void)
{
        struct buf data = {0}, gz = {0}, all = {0};

        for (int m = 0; m < 12; m++) {
                size_t n = m % 6 == 2 ? 0 : rnd() % (m < 6 ? 3000 : 200000);
                if (m == 6) {
                        CHECK(same_as_zlib(&gz, &all));
                        gz.len = all.len = 0;
                }
                make_data(&data, n);
                buf_add(&all, data.p, data.len);
                gz_member(&gz, data.p, data.len, m % 3 ? 6 : 1, Z_DEFAULT_STRATEGY, m & 1);
        }
        CHECK(same_as_zlib(&gz, &all));
        free(data.p);
        free(gz.p);
        free(all.p);
}

/* After the last member: zero padding, or bytes that start no member, end
 * the stream (libarchive's gzip filter and zlib's gzread ignore them). */
static void test_trailing_bytes(void)
{
        static const unsigned char zeros[1000], junk[] = "not gzip";
        struct buf data = {0}, gz = {0};
        size_t len;

        make_data(&data, 10000);
        gz_member(&gz, data.p, data.len, 6, Z_DEFAULT_STRATEGY, 0);
        len = gz.len;
        buf_add(&gz, zeros, 1);
        CHECK(same_as_zlib(&gz, &data));
        buf_add(&gz, zeros, sizeof(zeros));
        CHECK(same_as_zlib(&gz, &data));
        gz.len = len;
        buf_add(&gz, junk, sizeof(junk));
        CHECK(same_as_zlib(&gz, &data));
        free(data.p);
        free(gz.p);
}

/* Every strict prefix of a small member, header fields and all, fails. */
static void test_truncated_everywhere(void)
{
        struct buf data = {0}, gz = {0}, cut = {0}, out = {0};
        int all_failed = 1;

        make_data(&data, 3000);
        gz_member(&gz, data.p, data.len, 6, Z_DEFAULT_STRATEGY, 1);
        for (size_t n = 0; n < gz.len; n++) {
                for (size_t piece = 0; piece < 2; piece++) {
                        sing_err_t e = {0};
                        cut.len = 0;
                        buf_add(&cut, gz.p, n);
                        if (isal_read(&cut, piece ? 1 : 0, 0, &out, &e) != -1 || !*e.msg ||
                            strchr(e.msg, '\n')) {
                                fprintf(stderr, "prefix of %zu bytes (of %zu): no error\n", n,
                                        gz.len);
                                all_failed = 0;
                        }
                }
        }
        CHECK(all_failed);
        free(data.p);
        free(gz.p);
        free(cut.p);
        free(out.p);
}

/* A flipped byte of the CRC32 or of ISIZE, in the last member or an
 * earlier one, fails with the checksum message. */
static void test_trailer_checked(void)
{
        struct buf data = {0}, gz = {0}, out = {0};
        size_t first;

        make_data(&data, 70000);
        gz_member(&gz, data.p, data.len, 6, Z_DEFAULT_STRATEGY, 0);
        first = gz.len;
        gz_member(&gz, data.p, data.len / 2, 6, Z_DEFAULT_STRATEGY, 0);
        for (size_t end = first; end <= gz.len; end += gz.len - first) {
                for (size_t i = 1; i <= 8; i++) {
                        sing_err_t e = {0};
                        gz.p[end - i] ^= 0x01;
                        CHECK(isal_read(&gz, 0, 0, &out, &e) == -1);
                        CHECK(strstr(e.msg, "CRC32 or length") != NULL);
                        gz.p[end - i] ^= 0x01;
                }
        }
        free(data.p);
        free(gz.p);
        free(out.p);
}

/* A byte of deflate data changed: an error (bad data or CRC), not data. */
static void test_damaged_data(void)
{
        struct buf data = {0}, gz = {0}, out = {0};
        int all_failed = 1;

        make_data(&data, 20000);
        gz_member(&gz, data.p, data.len, 6, Z_DEFAULT_STRATEGY, 0);
        /* after the 10-byte header, before the last deflate byte (whose
         * padding bits no decoder reads) */
        for (size_t i = 10; i + 9 < gz.len; i += 37) {
                sing_err_t e = {0};
                gz.p[i] ^= 0x10;
                if (isal_read(&gz, 0, 0, &out, &e) != -1)
                        all_failed = 0;
                gz.p[i] ^= 0x10;
        }
        CHECK(all_failed);
        free(data.p);
        free(gz.p);
        free(out.p);
}

static void test_member_start(void)
{
        CHECK(gzip_member_start("\x1f\x8b\x08\x00", 4));
        CHECK(gzip_member_start("\x1f\x8b\x08\x1e", 4));
        CHECK(!gzip_member_start("\x1f\x8b\x08\x20", 4)); /* reserved flag */
        CHECK(!gzip_member_start("\x1f\x8b\x07\x00", 4)); /* not deflate */
        CHECK(!gzip_member_start("\x28\xb5\x2f\xfd", 4)); /* zstd */
        CHECK(!gzip_member_start("\x1f\x8b", 2));
}

int main(void)
{
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 2;
        }
        RUN(test_member_start);
        RUN(test_random_data);
        RUN(test_header_fields);
        RUN(test_members);
        RUN(test_trailing_bytes);
        RUN(test_truncated_everywhere);
        RUN(test_trailer_checked);
        RUN(test_damaged_data);
        {
                char path[64];
                snprintf(path, sizeof(path), "%s/in.gz", tmpdir);
                unlink(path);
                rmdir(tmpdir);
        }
        CHECK_DONE();
}
