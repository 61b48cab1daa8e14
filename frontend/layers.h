/* Merge OCI image layers (tar, tar+gzip, tar+zstd) into one stream of
 * entries, in one pass and without extracting anything.
 *
 * Layers are read top-down (last layer first), so the first entry seen for a
 * path is the one that wins:
 *  - an entry shadows the same path in lower layers; within one layer the
 *    first entry for a path wins (a later duplicate is skipped);
 *  - `.wh.NAME` hides NAME and everything under it in lower layers only;
 *    `.wh..wh..opq` in D hides D's contents in lower layers (D stays);
 *    other `.wh..wh.*` names (aufs bookkeeping) are ignored; no `.wh.` entry
 *    is ever emitted;
 *  - a path made a non-directory (file, symlink, hardlink, skipped device)
 *    hides everything under it in lower layers, and within the same layer an
 *    entry below a non-directory is skipped with a warning: nothing is ever
 *    written through a symlink;
 *  - a non-directory at a path that already has emitted children is a
 *    conflict and is skipped with a warning;
 *  - a hardlink must name an entry emitted earlier from the same layer.
 *    Limitation: if its target was shadowed by an upper layer (or skipped),
 *    the link is skipped with a warning although the lower file's content
 *    would be right for it: the data was already passed over;
 *  - device nodes, fifos and sockets are skipped (they still shadow lower
 *    layers); the root entry "." is skipped (mksquashfs flags set it);
 *  - a name with a ".." component, longer than LAYERS_MAX_PATH or with a
 *    component longer than LAYERS_MAX_NAME (no file system takes it), or a file
 *    claiming more than LAYERS_MAX_FILE_SIZE bytes rejects the whole image.
 * Names are normalised: leading "/" and "./" stripped, "//" and "/./"
 * collapsed, trailing "/" dropped. */
#ifndef SING_LAYERS_H
#define SING_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "synth.h"

struct archive;
struct archive_entry;

#define LAYERS_MAX_PATH 4096               /* bytes, normalised name, with NUL */
#define LAYERS_MAX_NAME 255                /* bytes in one component (NAME_MAX) */
#define LAYERS_MAX_PATHS 10000000u         /* distinct paths (and entries read) */
#define LAYERS_MAX_FILE_SIZE (64ull << 30) /* a bigger tar header is refused */
#define LAYERS_MAX_LAYERS 60000u           /* levels are kept in 16 bits */

/* Decompression bombs. The files of a layer (the sizes its tar headers
 * declare, summed over every entry read, including those skipped) may not
 * pass
 *     LAYERS_MAX_RATIO x (the layer's compressed size) + LAYERS_RATIO_SLACK;
 * the header that goes past it refuses the image ("... likely a
 * decompression bomb") before its data is decompressed, so nothing of it
 * reaches the output. Real layers compress 2-20x (binaries, text); only long
 * runs of zeros go past 200x (gzip reaches ~1000x on them, zstd far more),
 * and the slack lets a small layer still carry one such file of tens of MiB.
 * Tar headers are not counted: a layer of a million empty files (better than
 * 200x with zstd) is not a bomb; their number has its own limit,
 * LAYERS_MAX_PATHS. With the layer sizes fixed by the manifest (and verified
 * on download) this bounds an image too: its files add up to at most the
 * sum of its layers' limits.
 * Limitation: a legitimate layer made mostly of a non-sparse zero-filled
 * file bigger than the slack is refused too (a sparse file counts with its
 * holes: the sandbox writes them out). */
#define LAYERS_MAX_RATIO 200u
#define LAYERS_RATIO_SLACK (64ull << 20)

/* Where merged entries go. `ae` carries the normalised pathname (and
 * hardlink target), type, mode, uid/gid, mtime, symlink target and xattrs.
 * File content is read from `data_from` (archive_read_data) when it is not
 * NULL, else it is `data`/`len` (synthetic entries). Returns 0 or -1. */
struct merge_sink {
        int (*entry)(void *ctx, struct archive_entry *ae, struct archive *data_from,
                     const void *data, size_t len, sing_err_t *e);
        void *ctx;
};

/* Normalise a tar member name into `out` (LAYERS_MAX_PATH bytes).
 * Returns 0, 1 when the name is the root itself (""), or -1 with errno
 * EINVAL (a ".." component) or ENAMETOOLONG (the name or a component). */
int layers_normalise_path(const char *name, char out[LAYERS_MAX_PATH]);

/* Merge `layer_paths` (blob files, bottom..top order) into `sink`. `top`
 * entries are emitted first and win over every layer; `bottom` entries are
 * emitted last where nothing else provides the path (mount points such as
 * proc, dev, etc/hosts; whiteouts do not remove them, a non-directory
 * parent does). Either list may be NULL. Returns 0 or -1. */
int layers_merge(const char *const *layer_paths, size_t nlayers, const struct synth_list *top,
                 const struct synth_list *bottom, const struct merge_sink *sink, sing_err_t *e);

/* Called before a layer is read (top layer first), so that a caller can
 * merge layers while lower ones are still downloading: it returns once
 * layer_paths[index] is complete, or -1 with e filled. */
struct layer_wait {
        int (*wait)(void *ctx, size_t index, sing_err_t *e);
        void *ctx;
};

/* layers_merge, waiting for each layer with w (NULL: all present). */
int layers_merge_waiting(const char *const *layer_paths, size_t nlayers,
                         const struct synth_list *top, const struct synth_list *bottom,
                         const struct merge_sink *sink, const struct layer_wait *w, sing_err_t *e);

#endif
