/* Applying a parsed recipe to a sandbox (everything but running scripts). */
#ifndef SING_BUILD_RECIPE_H
#define SING_BUILD_RECIPE_H

#include <stdbool.h>

#include "error.h"
#include "recipe.h"

/* Every %files source matches something (checked before any download). */
int recipe_check_files(const struct recipe *r, sing_err_t *e);
/* Copy the %files entries into the sandbox open at rootfd. */
int recipe_copy_files(const struct recipe *r, int rootfd, sing_err_t *e);
/* Copy the i-th "%files from STAGE" section's entries from the stage's
 * root `stage_root` (sources resolved inside it, never leaving it) into the
 * sandbox open at rootfd. Sources are literal paths (no globs). */
int recipe_copy_files_from(const struct recipe *r, size_t i, const char *stage_root, int rootfd,
                           sing_err_t *e);
/* Write /.singularity.d/env/90-environment.sh, startscript, test,
 * runscript.help, Singularity (redacted recipe) and labels.json (merged
 * with the image's labels and the build labels); the runscript too when
 * write_runscript (a localimage base: the docker path makes it earlier with
 * the runscript precedence rules). base_name / base_digest (may be NULL):
 * the source the image was built from and what it resolved to, recorded as
 * the org.opencontainers.image.base.* labels. */
int recipe_write_metadata(const struct recipe *r, int rootfd, bool write_runscript,
                          const char *base_name, const char *base_digest, sing_err_t *e);

/* One %files-style entry (glob, destination inside the root); `what`
 * names the section in messages. */
int recipe_copy_one(const struct recipe *r, int rootfd, const struct recipe_file *f,
                    const char *what, sing_err_t *e);

/* build_apps.c: the SCIF apps' layout, files, metadata and
 * /.singularity.d/env/94-appsbase.sh (before %post), then each
 * %appinstall (after it), as Apptainer does. */
int recipe_write_apps(const struct recipe *r, int rootfd, sing_err_t *e);
int recipe_run_appinstall(const struct recipe *r, const char *rootfs, sing_err_t *e);

#endif
