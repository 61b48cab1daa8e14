/* fuse/zstd_block: squashfs-serve's zstd decompressor gives what zstd itself
 * gives, block after block on one reused context, on a second thread, after
 * a corrupt block, and refuses what does not fit; it replaces the library's
 * decompressor for zstd images only. */
#include "zstd_block.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "check.h"

#define BLOCK (128u << 10) /* mksquashfs's default block size */

/* Compressible, and different for each seed (a squashfs block of a file). */
static void fill(uint8_t *b, size_t n, unsigned seed)
{
        uint32_t x = 2463534242u + seed;
        for (size_t i = 0; i < n; i++) {
                x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                b[i] = (uint8_t)("libc.so.6 ld-linux "[x % 19] + (i % 64 == 0 ? seed : 0));
        }
}

static size_t compress(void *dst, size_t room, const void *src, size_t n)
{
        size_t z = ZSTD_compress(dst, room, src, n, 3);
        return ZSTD_isError(z) ? 0 : z;
}

/* Twenty blocks in a row on one thread (its context is reused), each one
 * what went in. */
static void test_round_trip(void)
{
        static uint8_t plain[BLOCK], packed[BLOCK + 1024], out[BLOCK];
        for (unsigned seed = 0; seed < 20; seed++) {
                size_t n = seed == 7 ? 1000 : BLOCK; /* a short tail block too */
                fill(plain, n, seed);
                size_t z = compress(packed, sizeof(packed), plain, n);
                CHECK(z > 0 && z < n);
                size_t outsz = sizeof(out);
                memset(out, 0xa5, sizeof(out));
                CHECK(zstd_block_decompress(packed, z, out, &outsz) == SQFS_OK);
                CHECK(outsz == n);
                CHECK(memcmp(out, plain, n) == 0);
        }
}

/* A corrupt block is an error, and the next good one still decompresses on
 * the same context; so does a truncated one. */
static void test_corrupt_then_good(void)
{
        static uint8_t plain[BLOCK], packed[BLOCK + 1024], bad[BLOCK + 1024], out[BLOCK];
        fill(plain, BLOCK, 99);
        size_t z = compress(packed, sizeof(packed), plain, BLOCK);
        CHECK(z > 16);
        memcpy(bad, packed, z);
        memset(bad + 4, 0xff, 12); /* the frame header after the magic */
        size_t outsz = sizeof(out);
        CHECK(zstd_block_decompress(bad, z, out, &outsz) == SQFS_ERR);
        outsz = sizeof(out);
        CHECK(zstd_block_decompress(packed, z / 2, out, &outsz) == SQFS_ERR);
        outsz = sizeof(out);
        CHECK(zstd_block_decompress(packed, z, out, &outsz) == SQFS_OK);
        CHECK(outsz == BLOCK && memcmp(out, plain, BLOCK) == 0);
}

/* A block that decompresses to more than the room given is refused (the
 * server's buffers are one block long: a crafted image must not overrun
 * them), whether its frame declares its size or not (then only the
 * decoding finds out). */
static void test_no_room(void)
{
        static uint8_t plain[BLOCK], packed[BLOCK + 1024], out[BLOCK];
        fill(plain, BLOCK, 5);
        for (int declared = 1; declared >= 0; declared--) {
                ZSTD_CCtx *c = ZSTD_createCCtx();
                CHECK(c != NULL);
                if (!c)
                        return;
                ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, declared);
                size_t z = ZSTD_compress2(c, packed, sizeof(packed), plain, BLOCK);
                ZSTD_freeCCtx(c);
                CHECK(!ZSTD_isError(z) && z > 0);
                CHECK(ZSTD_getFrameContentSize(packed, z) ==
                      (declared ? BLOCK : ZSTD_CONTENTSIZE_UNKNOWN));
                size_t outsz = BLOCK - 1;
                out[BLOCK - 1] = 0x5a;
                CHECK(zstd_block_decompress(packed, z, out, &outsz) == SQFS_ERR);
                CHECK(out[BLOCK - 1] == 0x5a);
                outsz = BLOCK; /* and with room, it is the block */
                CHECK(zstd_block_decompress(packed, z, out, &outsz) == SQFS_OK);
                CHECK(outsz == BLOCK && memcmp(out, plain, BLOCK) == 0);
        }
}

/* Two threads decompress at once, many blocks each: with one context shared
 * between them, their blocks would corrupt each other. */
#define ROUNDS 200
static pthread_barrier_t start_together;

static void *on_thread(void *arg)
{
        unsigned seed = *(unsigned *)arg;
        uint8_t *plain = malloc(BLOCK), *packed = malloc(BLOCK + 1024), *out = malloc(BLOCK);
        bool ok = plain && packed && out;
        if (ok)
                fill(plain, BLOCK, seed);
        size_t z = ok ? compress(packed, BLOCK + 1024, plain, BLOCK) : 0;
        ok = ok && z > 0;
        pthread_barrier_wait(&start_together);
        for (int i = 0; ok && i < ROUNDS; i++) {
                size_t outsz = BLOCK;
                ok = zstd_block_decompress(packed, z, out, &outsz) == SQFS_OK && outsz == BLOCK &&
                     memcmp(out, plain, BLOCK) == 0;
        }
        free(plain);
        free(packed);
        free(out);
        *(unsigned *)arg = ok;
        return NULL;
}

/* The request thread and the prefetch thread each get a context. */
static void test_threads_at_once(void)
{
        pthread_t t[2];
        unsigned arg[2] = {42, 43};
        CHECK(pthread_barrier_init(&start_together, NULL, 2) == 0);
        for (int i = 0; i < 2; i++)
                CHECK(pthread_create(&t[i], NULL, on_thread, &arg[i]) == 0);
        for (int i = 0; i < 2; i++)
                CHECK(pthread_join(t[i], NULL) == 0);
        pthread_barrier_destroy(&start_together);
        CHECK(arg[0] == 1 && arg[1] == 1);
}

/* zstd images get this decompressor; gzip, xz, lz4, lzo keep the library's. */
static void test_install(void)
{
        static sqfs fs;
        sqfs_decompressor library = (sqfs_decompressor)(uintptr_t)0x1;
        fs.sb.compression = ZSTD_COMPRESSION;
        fs.decompressor = library;
        zstd_block_install(&fs);
        CHECK(fs.decompressor == zstd_block_decompress);
        const int others[] = {ZLIB_COMPRESSION, XZ_COMPRESSION, LZ4_COMPRESSION, LZO_COMPRESSION};
        for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
                fs.sb.compression = (uint16_t)others[i];
                fs.decompressor = library;
                zstd_block_install(&fs);
                CHECK(fs.decompressor == library);
        }
}

int main(void)
{
        RUN(test_round_trip);
        RUN(test_corrupt_then_good);
        RUN(test_no_room);
        RUN(test_threads_at_once);
        RUN(test_install);
        CHECK_DONE();
}
