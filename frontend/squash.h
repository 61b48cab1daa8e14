/* Run mksquashfs (squashfs-tools >= 4.5, found on PATH) to write a squashfs
 * at an offset of an output file (the SIF partition), either from a tar
 * stream on a pipe (`-tar`) or from a directory (sandbox builds).
 *
 * mksquashfs -noappend truncates its output and zero-fills the bytes before
 * -offset: the SIF header is written after it (sif_write.h), never before. */
#ifndef SING_SQUASH_H
#define SING_SQUASH_H

#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct squash_proc {
        pid_t pid; /* the mksquashfs child, or -1 */
        int fd;    /* write the tar stream here, or -1 */
        int logfd; /* memfd holding the child's stdout and stderr */
        char *out_path;
        uint64_t offset;
};

/* Start `mksquashfs - OUT -tar -offset N -noappend ...` with `compressor`
 * ("zstd", "gzip", ...), `level` (-Xcompression-level, 0 = default) and
 * `processors` (0 = all). Root directory: 0755, owned by 0:0. Sets SIGPIPE
 * to SIG_IGN in this process, so a dying mksquashfs shows as EPIPE on p->fd.
 * Returns 0 with p->fd and p->pid set, or -1. */
int squash_start(const char *out_path, uint64_t offset, const char *compressor, int level,
                 int processors, struct squash_proc *p, sing_err_t *e);

/* Close p->fd, wait for mksquashfs, and give the
 * squashfs size (output file size - offset, checked against the
 * superblock). On failure the message holds the end of mksquashfs's
 * output. Always releases p. Returns 0 or -1. */
int squash_finish(struct squash_proc *p, uint64_t *fs_size, sing_err_t *e);

/* Stop a started mksquashfs (after a failed merge): kill, reap, release. */
void squash_abort(struct squash_proc *p);
/* The same after a failed write of the stream: when mksquashfs is what
 * failed (killed, or exited), e says so instead of the write error. */
void squash_abort_explained(struct squash_proc *p, sing_err_t *e);

/* `mksquashfs DIR OUT -offset N -noappend ...` in one call, keeping the
 * directory's owners and modes. Returns 0 with *fs_size set, or -1. */
int squash_dir(const char *dir, const char *out_path, uint64_t offset, const char *compressor,
               int level, int processors, uint64_t *fs_size, sing_err_t *e);

#endif
