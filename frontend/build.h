/* The stages of `singularity build`, wired together by cmd_build.c:
 *
 *   source -> sandbox directory -> (recipe: %setup, %files, %post, metadata,
 *   %test) -> SIF or sandbox at OUT
 *
 * build_rootfs.c fills a sandbox (from layers, an image, a directory),
 * build_files.c writes into a sandbox without leaving it (%files, metadata),
 * build_script.c runs recipe scripts, build_userns.c runs a function in a
 * user namespace (--fakeroot, or a plain user squashing a sandbox),
 * build_output.c squashes a sandbox into a SIF and publishes OUT. */
#ifndef SING_BUILD_H
#define SING_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "metadata.h"
#include "pull.h"
#include "run_command.h"
#include "sif_write.h"

/* ---- build_rootfs.c ---- */

/* Merge the pulled layers and the /.singularity.d metadata into the empty
 * directory `rootfs`. */
int rootfs_from_layers(const char *rootfs, const struct pulled_image *img,
                       const struct metadata_opts *mo, sing_err_t *e);
/* Extract the squashfs of a SIF / squashfs / .simg file into `rootfs`
 * (which must not exist yet) with unsquashfs. */
int rootfs_from_image(const char *image, const char *rootfs, sing_err_t *e);
/* Copy a sandbox directory's tree into `rootfs` (which must not exist). */
int rootfs_from_dir(const char *dir, const char *rootfs, sing_err_t *e);

/* ---- build_files.c ---- */

/* Create or replace the regular file `path` (relative to the root, parents
 * made 0755) with `data`; owned by the caller, `mode` permissions. */
/* $SINGULARITY_LABELS of %post, inside the image (build_recipe.c reads it). */
#define BUILD_LABELS_FILE "/.build.labels"
/* $SINGULARITY_ENVIRONMENT of %post, inside the image. */
#define BUILD_ENV_FILE "/.singularity.d/env/91-environment.sh"

int sandbox_write_file(int rootfd, const char *path, const void *data, size_t len, mode_t mode,
                       sing_err_t *e);
/* Read a regular file inside the root (a missing file: 0 with *data NULL). */
int sandbox_read_file(int rootfd, const char *path, size_t max, char **data, size_t *len,
                      sing_err_t *e);
/* Copy the host path `src` (file, symlink or directory tree, as cp -a) to
 * `dst` inside the root. A `dst` that is an existing directory (or ends in
 * "/") receives src under its own name. */
int sandbox_copy_in(int rootfd, const char *src, const char *dst, sing_err_t *e);
/* Same, but symlinks below src stay symlinks (src itself is followed): for
 * copies out of another image's tree ("%files from STAGE"). */
int sandbox_copy_in_keep_links(int rootfd, const char *src, const char *dst, sing_err_t *e);

/* ---- build_script.c ---- */

enum script_where {
        SCRIPT_ON_HOST,      /* %setup: on the host, $SINGULARITY_ROOTFS set */
        SCRIPT_IN_ROOTFS,    /* %post: chroot, read-write */
        SCRIPT_IN_ROOTFS_RO, /* %test: chroot, read-only */
};

/* Run `body` with /bin/sh -e -c, as root (real or in a user namespace).
 * In the rootfs: a private mount namespace with /proc, /sys, /dev and the
 * host's /etc/resolv.conf bound in. A non-zero exit status is an error
 * naming `section` and the status. */
int run_script(const char *rootfs, const char *section, const char *body, enum script_where w,
               sing_err_t *e);

/* ---- build_userns.c ---- */

typedef int (*userns_fn)(void *arg, sing_err_t *e);

/* Run fn in a child in a new user namespace where the caller is root and
 * uids/gids 1..N are the caller's /etc/subuid and /etc/subgid ranges
 * (written by newuidmap/newgidmap). The child's error comes back in e. */
int userns_run_fakeroot(userns_fn fn, void *arg, sing_err_t *e);
/* Same with only the caller's own uid/gid mapped to 0 (no helper needed):
 * files the caller owns look root-owned, e.g. to mksquashfs. */
int userns_run_self(userns_fn fn, void *arg, sing_err_t *e);

/* ---- build_output.c ---- */

/* mksquashfs `rootfs` into a SIF at the temp path `tmp` with `objs` in
 * front of it; arch_code NULL: the host's. */
int sandbox_to_sif(const char *rootfs, const struct sif_object *objs, size_t nobjs,
                   const char *arch_code, const char *tmp, sing_err_t *e);
/* Move the finished `tmp` (file or directory) to `out`. Without `force` an
 * existing out is an error; with it out is replaced (an old directory is
 * removed after the swap). */
int publish_output(const char *tmp, const char *out, bool force, sing_err_t *e);
/* A directory made 0700 beside `out` for the build's temp files. */
char *make_build_dir(const char *out, sing_err_t *e);

#endif
