#include "zstd_block.h"

#include <pthread.h>
#include <stdbool.h>
#include <zstd.h>

/* Each thread of the server (requests, prefetch) decompresses with its own
 * context: no lock is needed, and a context is never shared between two
 * blocks in flight. A thread that ends frees its context (the key's
 * destructor); the server's threads live as long as the process. */
static __thread ZSTD_DCtx *dctx;
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static bool dctx_key_made;

static void free_dctx(void *ctx)
{
        ZSTD_freeDCtx(ctx);
}

static void make_dctx_key(void)
{
        dctx_key_made = pthread_key_create(&dctx_key, free_dctx) == 0;
}

static ZSTD_DCtx *thread_dctx(void)
{
        if (dctx)
                return dctx;
        pthread_once(&dctx_once, make_dctx_key);
        if (!dctx_key_made) /* no key: the context could not be freed at exit */
                return NULL;
        ZSTD_DCtx *made = ZSTD_createDCtx();
        if (!made || pthread_setspecific(dctx_key, made) != 0) {
                ZSTD_freeDCtx(made);
                return NULL;
        }
        return dctx = made;
}

sqfs_err zstd_block_decompress(void *in, size_t insz, void *out, size_t *outsz)
{
        ZSTD_DCtx *ctx = thread_dctx();
        /* Without one (out of memory), as the library did: a context for
         * this block alone. */
        size_t n = ctx ? ZSTD_decompressDCtx(ctx, out, *outsz, in, insz)
                       : ZSTD_decompress(out, *outsz, in, insz);
        if (ZSTD_isError(n))
                return SQFS_ERR;
        *outsz = n;
        return SQFS_OK;
}

void zstd_block_install(sqfs *fs)
{
        if (fs->sb.compression == ZSTD_COMPRESSION)
                fs->decompressor = zstd_block_decompress;
}
