/* Layers + image config -> SIF, in one streaming pass: the layers are merged
 * top-down into one tar stream that mksquashfs turns into the squashfs
 * partition directly inside the output file; the SIF header, descriptors and
 * the OCI config are written into the space left in front of it. */
#ifndef SING_CONVERT_H
#define SING_CONVERT_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "layers.h"
#include "metadata.h"

struct squash_settings {
        char compressor[16];    /* zstd, gzip, xz, ... */
        int level;              /* 0: the compressor's default */
        int processors;         /* 0: all */
        unsigned max_expansion; /* "max layer expansion" (layers.h) */
};

/* From singularity.conf (squashfs compressor / level), overridden by
 * SINGULARITY_SQUASHFS_COMPRESSOR? no: only the config and the caller. */
void squash_settings_default(struct squash_settings *s);

/* Write `out_path` atomically (temp file beside it, renamed at the end;
 * without `force` an existing file is an error, also if it appears meanwhile). */
int convert_layers_to_sif(const char *config_json, size_t config_len, const char *const *layers,
                          size_t nlayers, const struct metadata_opts *mo,
                          const struct squash_settings *sq, const char *out_path, bool force,
                          sing_err_t *e);
/* Same, reading each layer only once w says it is complete (w may be NULL). */
int convert_layers_to_sif_waiting(const char *config_json, size_t config_len,
                                  const char *const *layers, size_t nlayers,
                                  const struct metadata_opts *mo, const struct squash_settings *sq,
                                  const struct layer_wait *w, const char *out_path, bool force,
                                  sing_err_t *e);

/* Read a whole (small) file; fails above max bytes. */
int read_small_file(const char *path, size_t max, char **data, size_t *len, sing_err_t *e);

#endif
