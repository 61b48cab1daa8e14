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
 * them). */
static void test_no_room(void)
{
        static uint8_t plain[BLOCK], packed[BLOCK + 1024], out[BLOCK];
        fill(plain, BLOCK, 5);
        size_t z = compress(packed, sizeof(packed), plain, BLOCK);
        size_t outsz = BLOCK - 1;
        out[BLOCK - 1] = 0x5a;
        CHECK(zstd_block_decompress(packed, z, out, &outsz) == SQFS_ERR);
        CHECK(out[BLOCK - 1] == 0x5a);
}

static void *on_thread(void *arg)
{
        static uint8_t plain[BLOCK], packed[BLOCK + 1024], out[BLOCK];
        fill(plain, BLOCK, 42);
        size_t z = compress(packed, sizeof(packed), plain, BLOCK), outsz = sizeof(out);
        bool ok = zstd_block_decompress(packed, z, out, &outsz) == SQFS_OK && outsz == BLOCK &&
                  memcmp(out, plain, BLOCK) == 0;
        *(bool *)arg = ok;
        return NULL;
}

/* The prefetch thread gets a context of its own. */
static void test_second_thread(void)
{
        pthread_t t;
        bool ok = false;
        CHECK(pthread_create(&t, NULL, on_thread, &ok) == 0);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(ok);
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
        RUN(test_second_thread);
        RUN(test_install);
        CHECK_DONE();
}
