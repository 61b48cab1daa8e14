#include "gzip_inflate.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

struct gzip_inflate {
        struct inflate_state st; /* next_in/avail_in: the unread part of in */
        gzip_read_fn read;
        void *ctx;
        int fd; /* gzip_inflate_new_fd's source, read at off */
        uint64_t off;
        bool in_member; /* from a member's header to the end of its trailer */
        bool started;   /* a first member was there */
        bool eof;       /* read gave 0 */
        bool done;      /* the stream ended */
        unsigned char in[GZIP_INFLATE_IN];
};

bool gzip_member_start(const void *p, size_t n)
{
        const unsigned char *b = p;
        /* libarchive's bidder: ID1 ID2 CM=8, and FLG bits 5-7 clear. */
        return n >= 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8 && (n < 4 || !(b[3] & 0xe0));
}

struct gzip_inflate *gzip_inflate_new(gzip_read_fn read, void *ctx, sing_err_t *e)
{
        struct gzip_inflate *g = malloc(sizeof(*g));

        if (!g) {
                err_set(e, "gzip: out of memory");
                return NULL;
        }
        isal_inflate_init(&g->st);
        g->st.next_in = g->in;
        g->st.avail_in = 0;
        g->read = read;
        g->ctx = ctx;
        g->fd = -1;
        g->off = 0;
        g->in_member = g->started = g->eof = g->done = false;
        return g;
}

static ssize_t fd_read(void *ctx, void *buf, size_t len)
{
        struct gzip_inflate *g = ctx;
        ssize_t n = pread_full(g->fd, buf, len, g->off);
        if (n > 0)
                g->off += (uint64_t)n;
        return n;
}

struct gzip_inflate *gzip_inflate_new_fd(int fd, sing_err_t *e)
{
        struct gzip_inflate *g = gzip_inflate_new(fd_read, NULL, e);
        if (g) {
                g->ctx = g;
                g->fd = fd;
        }
        return g;
}

void gzip_inflate_free(struct gzip_inflate *g)
{
        free(g);
}

/* Keep the unread input and read after it until there are `want` bytes or
 * the input ends. */
static int refill(struct gzip_inflate *g, size_t want, sing_err_t *e)
{
        size_t have = g->st.avail_in;

        if (have && g->st.next_in != g->in)
                memmove(g->in, g->st.next_in, have);
        g->st.next_in = g->in;
        if (want > sizeof(g->in))
                want = sizeof(g->in);
        while (have < want && !g->eof) {
                ssize_t n = g->read(g->ctx, g->in + have, sizeof(g->in) - have);
                if (n < 0)
                        return err_errno(e, "reading gzip data");
                if (n == 0)
                        g->eof = true;
                have += (size_t)n;
        }
        g->st.avail_in = (uint32_t)have;
        return 0;
}

static const char *isal_message(int rc)
{
        switch (rc) {
        case ISAL_INVALID_BLOCK:
        case ISAL_INVALID_SYMBOL:
        case ISAL_INVALID_LOOKBACK:
                return "gzip decompression failed: invalid deflate data";
        case ISAL_INVALID_WRAPPER:
                return "gzip decompression failed: invalid gzip header";
        case ISAL_UNSUPPORTED_METHOD:
                return "gzip decompression failed: unsupported compression method";
        case ISAL_INCORRECT_CHECKSUM:
                return "gzip decompression failed: CRC32 or length mismatch (damaged data)";
        default:
                return "gzip decompression failed";
        }
}

/* The length of the gzip header at p, or 0 when its n bytes do not tell.
 * ISA-L 2.30 misreads a header with FEXTRA, FNAME or FCOMMENT that comes in
 * more than one piece ("invalid deflate data" for a valid member): it is
 * given whole, and parses (and with FHCRC, checks) it itself. */
static size_t header_len(const unsigned char *p, size_t n)
{
        size_t len = 10;

        if (n < len)
                return 0;
        if (p[3] & 4) { /* FEXTRA: XLEN, then XLEN bytes */
                if (n < len + 2)
                        return 0;
                len += 2 + (p[len] | (size_t)p[len + 1] << 8);
        }
        for (unsigned bit = 8; bit <= 16; bit <<= 1) { /* FNAME, FCOMMENT */
                const unsigned char *nul;
                if (!(p[3] & bit))
                        continue;
                nul = len < n ? memchr(p + len, 0, n - len) : NULL;
                if (!nul)
                        return 0;
                len = (size_t)(nul - p) + 1;
        }
        if (p[3] & 2) /* FHCRC */
                len += 2;
        return len <= n ? len : 0;
}

/* Between members: start the next one, or end the stream where the bytes
 * left do not start one (as libarchive's filter ends it there). */
static int next_member(struct gzip_inflate *g, sing_err_t *e)
{
        uint8_t *in, *out;
        uint32_t avail_in, avail_out;

        if (g->st.avail_in < 4 && refill(g, 4, e) < 0)
                return -1;
        if (!gzip_member_start(g->st.next_in, g->st.avail_in)) {
                if (!g->started)
                        return err_set(e, "not in gzip format");
                g->done = true;
                return 0;
        }
        g->started = true;
        while (!header_len(g->st.next_in, g->st.avail_in)) {
                if (g->eof)
                        return err_set(e, "truncated gzip input");
                if (g->st.avail_in == sizeof(g->in))
                        return err_set(e, "gzip header over %u KiB", GZIP_INFLATE_IN >> 10);
                if (refill(g, (size_t)g->st.avail_in + 1, e) < 0)
                        return -1;
        }
        /* The reset is for the decoding state; the buffers are ours. */
        in = g->st.next_in, out = g->st.next_out;
        avail_in = g->st.avail_in, avail_out = g->st.avail_out;
        isal_inflate_reset(&g->st);
        g->st.next_in = in, g->st.next_out = out;
        g->st.avail_in = avail_in, g->st.avail_out = avail_out;
        g->st.crc_flag = ISAL_GZIP;
        g->in_member = true;
        return 0;
}

int gzip_inflate_read(struct gzip_inflate *g, void *out, size_t cap, size_t *len, sing_err_t *e)
{
        g->st.next_out = out;
        g->st.avail_out = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
        while (g->st.avail_out && !g->done) {
                uint32_t in0, out0;
                int rc;

                if (!g->in_member) {
                        if (next_member(g, e) < 0)
                                return -1;
                        continue;
                }
                if (!g->st.avail_in && refill(g, 1, e) < 0)
                        return -1;
                in0 = g->st.avail_in, out0 = g->st.avail_out;
                rc = isal_inflate(&g->st);
                if (rc < 0)
                        return err_set(e, "%s", isal_message(rc));
                if (g->st.block_state == ISAL_BLOCK_FINISH) {
                        g->in_member = false;
                        continue;
                }
                if (g->st.avail_in != in0 || g->st.avail_out != out0)
                        continue;
                /* No progress: the decoder waits for input there is none of
                 * (ISA-L takes all it is given before asking for more). */
                if (g->eof)
                        return err_set(e, "truncated gzip input");
                if (refill(g, (size_t)g->st.avail_in + 1, e) < 0)
                        return -1;
                if (g->st.avail_in == in0 && !g->eof)
                        return err_set(e, "gzip decompression failed: decoder stalled");
        }
        *len = (size_t)(g->st.next_out - (uint8_t *)out);
        return *len ? 1 : 0;
}
