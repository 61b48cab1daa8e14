#include "tar_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 512u
#define MAX_SPECIAL (1u << 20) /* Go's maxSpecialFileSize */

enum state {
        ST_HEADER,  /* assembling a 512-byte header block */
        ST_EXT,     /* old GNU sparse extension blocks */
        ST_COLLECT, /* the data of a pax header */
        ST_SKIP,    /* data and padding */
        ST_DONE,    /* end of archive, or no longer tar as we know it */
};

struct tar_check {
        enum state st;
        unsigned char blk[BLOCK];
        size_t have;    /* bytes in blk */
        uint64_t skip;  /* ST_SKIP: bytes left */
        uint64_t after; /* ST_EXT / ST_COLLECT: bytes to skip after */
        char *pax;      /* ST_COLLECT */
        size_t pax_len, pax_want;
        bool pax_global;
        bool pending_ext; /* extension headers seen, their entry not yet */
        bool size_override;
        uint64_t size; /* the pax "size" for the next entry */
        bool zero_block;
};

/* One value of a pax header that mergePAX would parse. */
struct pax_value {
        const char *v;
        size_t len;
};

enum { PV_UID, PV_GID, PV_SIZE, PV_ATIME, PV_MTIME, PV_CTIME, PV_N };
static const char *const pax_numeric[PV_N] = {"uid", "gid", "size", "atime", "mtime", "ctime"};

struct tar_check *tar_check_new(void)
{
        return calloc(1, sizeof(struct tar_check));
}

void tar_check_free(struct tar_check *c)
{
        if (c)
                free(c->pax);
        free(c);
}

static uint64_t round_block(uint64_t n)
{
        return (n + BLOCK - 1) / BLOCK * BLOCK;
}

/* A tar number field: octal (NUL/space padded) or base-256. false when it
 * is neither, or negative. */
static bool parse_numeric(const unsigned char *f, size_t n, uint64_t *out)
{
        uint64_t v = 0;
        size_t i = 0, end = n;

        if (f[0] & 0x80) {
                if (f[0] & 0x40)
                        return false; /* negative */
                v = f[0] & 0x3f;
                for (i = 1; i < n; i++) {
                        if (v >> 56)
                                return false;
                        v = v << 8 | f[i];
                }
                *out = v;
                return true;
        }
        while (i < n && (f[i] == ' ' || f[i] == '\0'))
                i++;
        while (end > i && (f[end - 1] == ' ' || f[end - 1] == '\0'))
                end--;
        for (; i < end; i++) {
                if (f[i] < '0' || f[i] > '7' || v >> 60)
                        return false;
                v = v << 3 | (uint64_t)(f[i] - '0');
        }
        *out = v;
        return true;
}

static bool checksum_ok(const unsigned char *b)
{
        uint64_t want;
        unsigned long sum = 0;
        for (size_t i = 0; i < BLOCK; i++)
                sum += (i >= 148 && i < 156) ? ' ' : b[i];
        return parse_numeric(b + 148, 8, &want) && want == sum;
}

/* strconv.ParseInt(s, 10, 64) succeeds? */
static bool go_int(const char *s, size_t n)
{
        uint64_t v = 0, lim = INT64_MAX;
        size_t i = 0;
        if (n && (s[0] == '+' || s[0] == '-')) {
                lim += s[0] == '-';
                i = 1;
        }
        if (i == n)
                return false;
        for (; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                if (v > (lim - (uint64_t)(s[i] - '0')) / 10)
                        return false;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        return true;
}

/* Go's parsePAXTime: SECONDS[.DIGITS]. */
static bool go_time(const char *s, size_t n)
{
        const char *dot = memchr(s, '.', n);
        size_t secs = dot ? (size_t)(dot - s) : n;
        if (!go_int(s, secs))
                return false;
        for (size_t i = secs + 1; dot && i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

static bool key_is(const char *k, size_t klen, const char *name)
{
        return klen == strlen(name) && !memcmp(k, name, klen);
}

static int bad(sing_err_t *e, const char *why)
{
        return err_set(e,
                       "malformed pax extended header (%s); Go's archive/tar and umoci refuse "
                       "it too",
                       why);
}

/* parsePAX + parsePAXRecord + validPAXRecord, and mergePAX's number checks
 * for a local header. Sets the size override. */
static int check_pax(struct tar_check *c, sing_err_t *e)
{
        struct pax_value vals[PV_N] = {{0}};
        const char *s = c->pax, *end = c->pax + c->pax_len;
        unsigned sparse_records = 0;

        while (s < end) {
                const char *sp = memchr(s, ' ', (size_t)(end - s));
                size_t left = (size_t)(end - s), n = 0, numlen;
                const char *rec, *eq;
                size_t reclen, klen;
                if (!sp || !go_int(s, (size_t)(sp - s)))
                        return bad(e, "record without a length");
                numlen = (size_t)(sp - s);
                for (const char *d = s; d < sp; d++)
                        if (*d >= '0' && *d <= '9')
                                n = n * 10 + (size_t)(*d - '0');
                if (s[0] == '-' || n < 5 || n > left || n <= numlen + 1)
                        return bad(e, "bad record length");
                rec = sp + 1;
                reclen = n - numlen - 1; /* with the newline */
                if (rec[reclen - 1] != '\n')
                        return bad(e, "missing newline");
                reclen--;
                eq = memchr(rec, '=', reclen);
                if (!eq)
                        return bad(e, "missing equal sign");
                klen = (size_t)(eq - rec);
                if (klen == 0)
                        return bad(e, "empty key");
                const char *v = eq + 1;
                size_t vlen = reclen - klen - 1;
                if (key_is(rec, klen, "path") || key_is(rec, klen, "linkpath") ||
                    key_is(rec, klen, "uname") || key_is(rec, klen, "gname")) {
                        if (memchr(v, '\0', vlen))
                                return bad(e, "NUL in a name");
                } else if (memchr(rec, '\0', klen)) {
                        return bad(e, "NUL in a key");
                }
                if (key_is(rec, klen, "GNU.sparse.offset") ||
                    key_is(rec, klen, "GNU.sparse.numbytes")) {
                        bool want_offset = sparse_records % 2 == 0;
                        if (want_offset != key_is(rec, klen, "GNU.sparse.offset") ||
                            memchr(v, ',', vlen))
                                return bad(e, "bad GNU sparse map");
                        sparse_records++;
                }
                for (int i = 0; i < PV_N; i++)
                        if (key_is(rec, klen, pax_numeric[i]))
                                vals[i] = (struct pax_value){v, vlen};
                s += n;
        }
        if (c->pax_global)
                return 0; /* Go does not check a global header's values */
        for (int i = 0; i < PV_N; i++) {
                if (!vals[i].v || !vals[i].len)
                        continue; /* absent or empty: the header's own value */
                bool ok =
                    i <= PV_SIZE ? go_int(vals[i].v, vals[i].len) : go_time(vals[i].v, vals[i].len);
                if (!ok)
                        return bad(e, pax_numeric[i]);
        }
        if (vals[PV_SIZE].v && vals[PV_SIZE].len) {
                uint64_t n = 0;
                for (size_t i = 0; i < vals[PV_SIZE].len; i++)
                        if (vals[PV_SIZE].v[i] >= '0' && vals[PV_SIZE].v[i] <= '9')
                                n = n * 10 + (uint64_t)(vals[PV_SIZE].v[i] - '0');
                if (vals[PV_SIZE].v[0] == '-')
                        return bad(e, "negative size");
                c->size_override = true;
                c->size = n;
        }
        return 0;
}

static int on_header(struct tar_check *c, sing_err_t *e)
{
        const unsigned char *b = c->blk;
        uint64_t size;
        char type = (char)b[156];
        bool all_zero = true;

        for (size_t i = 0; i < BLOCK && all_zero; i++)
                all_zero = b[i] == 0;
        if (all_zero) {
                if (c->zero_block)
                        c->st = ST_DONE;
                c->zero_block = true;
                return 0;
        }
        if (c->zero_block || !checksum_ok(b) || !parse_numeric(b + 124, 12, &size)) {
                c->st = ST_DONE; /* libarchive decides */
                return 0;
        }
        switch (type) {
        case 'x':
        case 'g':
                if (size > MAX_SPECIAL)
                        return err_set(e, "pax extended header of %llu bytes, over 1 MiB",
                                       (unsigned long long)size);
                free(c->pax);
                c->pax = malloc(size ? size : 1);
                if (!c->pax)
                        return err_set(e, "out of memory");
                c->pax_len = 0;
                c->pax_want = (size_t)size;
                c->pax_global = type == 'g';
                c->after = round_block(size) - size;
                c->st = ST_COLLECT;
                if (type == 'x')
                        c->pending_ext = true;
                if (size == 0) {
                        if (check_pax(c, e) < 0)
                                return -1;
                        c->skip = 0;
                        c->st = ST_HEADER;
                }
                return 0;
        case 'L':
        case 'K':
                if (size > MAX_SPECIAL)
                        return err_set(e, "GNU long name of %llu bytes, over 1 MiB",
                                       (unsigned long long)size);
                c->pending_ext = true;
                c->skip = round_block(size);
                break;
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
                c->skip = 0; /* header-only: no data whatever the size says */
                c->pending_ext = c->size_override = false;
                break;
        default:
                if (c->size_override)
                        size = c->size;
                c->skip = round_block(size);
                c->pending_ext = c->size_override = false;
                if (type == 'S' && b[482]) {
                        c->after = c->skip;
                        c->st = ST_EXT;
                        return 0;
                }
                break;
        }
        c->st = c->skip ? ST_SKIP : ST_HEADER;
        return 0;
}

int tar_check_feed(struct tar_check *c, const void *buf, size_t len, sing_err_t *e)
{
        const unsigned char *p = buf;

        while (len > 0 && c->st != ST_DONE) {
                size_t n;
                switch (c->st) {
                case ST_HEADER:
                case ST_EXT:
                        n = BLOCK - c->have < len ? BLOCK - c->have : len;
                        memcpy(c->blk + c->have, p, n);
                        c->have += n;
                        if (c->have == BLOCK) {
                                c->have = 0;
                                if (c->st == ST_HEADER) {
                                        if (on_header(c, e) < 0)
                                                return -1;
                                } else if (!c->blk[504]) { /* last extension block */
                                        c->skip = c->after;
                                        c->st = c->skip ? ST_SKIP : ST_HEADER;
                                }
                        }
                        break;
                case ST_COLLECT:
                        n = c->pax_want - c->pax_len < len ? c->pax_want - c->pax_len : len;
                        memcpy(c->pax + c->pax_len, p, n);
                        c->pax_len += n;
                        if (c->pax_len == c->pax_want) {
                                if (check_pax(c, e) < 0)
                                        return -1;
                                c->skip = c->after;
                                c->st = c->skip ? ST_SKIP : ST_HEADER;
                        }
                        break;
                case ST_SKIP:
                        n = c->skip < len ? (size_t)c->skip : len;
                        c->skip -= n;
                        if (!c->skip)
                                c->st = ST_HEADER;
                        break;
                default:
                        return 0;
                }
                p += n;
                len -= n;
        }
        return 0;
}

bool tar_check_ended_after_extension(const struct tar_check *c)
{
        return c->st == ST_HEADER && c->have == 0 && c->pending_ext && !c->zero_block;
}
