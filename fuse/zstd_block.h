/* The zstd block decompressor of squashfs-serve, in place of libsquashfuse's.
 * The library calls ZSTD_decompress() per block, which makes a new context
 * each time: a malloc, and zstd's CPU feature probe, three CPUID
 * instructions. In a VM each CPUID traps to the hypervisor (12 µs each on
 * the bench host): perf put ZSTD_initDCtx_internal at 0.7 ms of the
 * server's CPU per `exec /bin/true` (39 blocks), much of it on the request
 * thread while a page fault of the container waits. One context per thread,
 * made once, does the same decompression without: no samples left there
 * (50 execs), but the server's samples in all stayed within their noise
 * (15383 against 15450), as did its CPU per exec (sched_stat_runtime) and
 * the exec's wall time (1.09x -> 1.08x of ch-run's, 8 rounds of 30 in
 * turn): the first touch of fresh memory, which the new context no longer
 * does per block, moved to the blocks' own buffers. */
#ifndef SING_ZSTD_BLOCK_H
#define SING_ZSTD_BLOCK_H

#include <stddef.h>

#include <squashfuse/squashfuse.h>

/* For a zstd image, makes fs use the per-thread context decompressor;
 * any other compressor stays the library's. Every sqfs instance of the
 * server needs it after its sqfs_init: the request thread's (main, after
 * sqfs_ll_open) and the prefetch thread's own (prefetch.c). */
void zstd_block_install(sqfs *fs);

/* The decompressor itself (sqfs_decompressor): *outsz is the room at out
 * on entry, the decompressed length on SQFS_OK. */
sqfs_err zstd_block_decompress(void *in, size_t insz, void *out, size_t *outsz);

#endif
