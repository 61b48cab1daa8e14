/* The zstd block decompressor of squashfs-serve, in place of libsquashfuse's.
 * The library calls ZSTD_decompress() per block, which makes a new context
 * each time: a malloc, and zstd's CPU feature probe, three CPUID
 * instructions. In a VM each CPUID traps to the hypervisor (12 µs each on
 * the bench host): perf put ZSTD_initDCtx_internal at 0.7 ms of the
 * server's CPU per `exec /bin/true` (39 blocks), much of it on the request
 * thread while a page fault of the container waits. One context per thread,
 * made once, does the same decompression without: 0.5 ms left there (two
 * contexts, their first touch of fresh memory), the server's CPU per exec
 * 10.8 -> 10.5 ms (sched_stat_runtime, medians of 6 x 100 execs taken in
 * turn); the exec's wall time moved within its noise (1.09x -> 1.08x of
 * ch-run's, 8 rounds of 30 in turn). */
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
