/* Docker/OCI image config to Singularity's /.singularity.d layout: the env
 * files, runscript, labels and action scripts the starter runs, plus the
 * mount points a container needs. Output is a pair of synthetic entry lists
 * (see synth.h) that the layer merge writes into the image. */
#ifndef SING_METADATA_H
#define SING_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "synth.h"

struct metadata_opts {
        const char *recipe_runscript; /* %runscript body from a recipe, or NULL */
        bool include_cmd;             /* recipe "IncludeCmd: yes" */
        int64_t mtime;                /* mtime of every generated entry */
        /* Where a pulled image came from (NULL: not recorded): the source
         * reference and the digest it resolved to, written to labels.json
         * as org.opencontainers.image.base.name / .digest (over labels of
         * those names in the image config), as recipe builds record their
         * base. */
        const char *source_name, *source_digest;
};

/* Parse the image config JSON (the blob the manifest's "config" points at)
 * and append the generated entries. All are owned by root.
 *   top:    entries that replace whatever the layers hold at that path
 *           (.singularity.d/..., the /singularity symlink).
 *   bottom: mount points (proc, tmp, etc/hosts, ...), to be created only
 *           when no layer provides something at that path.
 * Runscript choice, first match wins:
 *   1. o->recipe_runscript (a leading "#!" line is kept, else #!/bin/sh);
 *   2. include_cmd and Cmd set: Cmd alone (Entrypoint ignored, as the
 *      Singularity docs say IncludeCmd makes Cmd the runscript); run's
 *      arguments replace Cmd;
 *   3. Entrypoint set: exec Entrypoint followed by Cmd, or by run's
 *      arguments when any are given;
 *   4. Cmd set: exec Cmd, or run's arguments instead when any are given
 *      (when the first argument is an option, "-c", it cannot be a command:
 *      the arguments are then appended to Cmd, so that
 *      `run docker://python:3 -c 'print(42)'` runs python3 -c ...);
 *   5. neither: the container's shell (/bin/bash if present, else /bin/sh)
 *      with run's arguments.
 * On error returns -1 with e filled; entries already appended stay in the
 * lists (the caller frees them with synth_list_free). */
int metadata_from_oci_config(const char *config_json, size_t len, const struct metadata_opts *o,
                             struct synth_list *top, struct synth_list *bottom, sing_err_t *e);

/* For tests: as metadata_from_oci_config, but the action scripts look for
 * .singularity.d under root_prefix (e.g. a temp dir) instead of "/".
 * root_prefix "" is the real layout. */
int metadata_from_oci_config_at(const char *config_json, size_t len, const struct metadata_opts *o,
                                const char *root_prefix, struct synth_list *top,
                                struct synth_list *bottom, sing_err_t *e);

#endif
