#include "zstd_block.h"

#include <zstd.h>

/* Each thread of the server (requests, prefetch) decompresses with its own
 * context: no lock is needed, and a context is never shared between two
 * blocks in flight. It lives until the process exits. */
static __thread ZSTD_DCtx *dctx;

sqfs_err zstd_block_decompress(void *in, size_t insz, void *out, size_t *outsz)
{
        if (!dctx && !(dctx = ZSTD_createDCtx()))
                return SQFS_ERR;
        size_t n = ZSTD_decompressDCtx(dctx, out, *outsz, in, insz);
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
