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
 *  - a hardlink names an entry emitted earlier from the same layer, or a
 *    file of a lower layer (`RUN ln /usr/bin/python3 /usr/local/bin/py`):
 *    the link waits until the lower entry for its target is read, and is
 *    then emitted as a hardlink to it, or, when an upper layer replaced or
 *    removed the target's path, as a copy of that lower entry (the first
 *    such link gets the data, the others link to it). A link whose target
 *    no lower layer provides (or an intermediate layer removed) is skipped
 *    with a warning, as are links to directories;
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

/* Decompression bombs. The file data a layer hands to the sinks, not
 * counting 4 KiB blocks of zeros and sparse holes (squashfs stores them as
 * sparse blocks, the sandbox as holes), may not pass
 *     max_expansion x (the layer's compressed size) + LAYERS_RATIO_SLACK;
 * the piece of data that would pass it refuses the image ("... likely a
 * decompression bomb") before it is written anywhere. max_expansion is
 * "max layer expansion" in singularity.conf (default
 * LAYERS_DEFAULT_EXPANSION). Real layers compress 2-20x (binaries, text);
 * zeros (a 418 MiB lastlog after `useradd -u 1500000`, in a
 * 416 KiB layer) do not count, whatever their ratio. Data that is skipped
 * (shadowed by an upper layer) costs decompression time only and is not
 * counted; nor are tar headers: a layer of a million empty files is not a
 * bomb, their number has its own limit, LAYERS_MAX_PATHS. With the layer
 * sizes fixed by the manifest (and verified on download) this bounds an
 * image too: what it stores adds up to at most the sum of its layers'
 * limits. */
#define LAYERS_DEFAULT_EXPANSION 200u
#define LAYERS_RATIO_SLACK (64ull << 20)

/* The content of the entry a sink receives. */
struct merge_data;

/* The next piece of the content: 1 with the piece (*buf, *len) at *offset, 0 at the end,
 * -1 with e set (truncated or damaged data, over the layer's budget).
 * Pieces come in increasing offsets and never overlap; the gaps between
 * them and from the last one to the entry's size are zeros (holes, zero
 * blocks), which the sink writes as it likes. */
int merge_data_next(struct merge_data *d, const void **buf, size_t *len, int64_t *offset,
                    sing_err_t *e);

/* Where merged entries go. `ae` carries the normalised pathname (and
 * hardlink target), type, mode, uid/gid, mtime, size, symlink target,
 * xattrs and the input's sparse map. A regular file's content is read from
 * `data` with merge_data_next(). Returns 0 or -1. */
struct merge_sink {
        int (*entry)(void *ctx, struct archive_entry *ae, struct merge_data *data, sing_err_t *e);
        void *ctx;
};

/* Limits of one merge. */
struct merge_opts {
        unsigned max_expansion; /* see above; 0: LAYERS_DEFAULT_EXPANSION */
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
                 const struct synth_list *bottom, const struct merge_opts *opts,
                 const struct merge_sink *sink, sing_err_t *e);

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
                         const struct merge_opts *opts, const struct merge_sink *sink,
                         const struct layer_wait *w, sing_err_t *e);

#endif
