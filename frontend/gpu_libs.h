/* --nv / --rocm, the unprivileged half: which host driver files to bind.
 * The starter binds them (root-owned regular files only) and the devices. */
#ifndef SING_GPU_LIBS_H
#define SING_GPU_LIBS_H

#include "error.h"
#include "run_env.h"

/* The files named in SING_SYSCONFDIR/<list> (nvliblist.conf,
 * rocmliblist.conf): libraries from the linker cache as printed by
 * `<ldconfig> -p` (this architecture's entries, first one of each name),
 * binaries from the standard system directories. Paths are appended to libs
 * and bins (absolute, as the cache and the directories name them). A list
 * that cannot be read is an error; names not found are skipped. */
int gpu_files_find(const char *list, const char *ldconfig, struct strv *libs, struct strv *bins,
                   sing_err_t *e);

/* Does `line` of `ldconfig -p` name a library `want` (the name itself or
 * the name followed by ".VERSION")? Sets *path to the path in the line
 * (not copied). For unit tests and gpu_files_find. */
bool ldcache_line_matches(const char *line, const char *want, const char *arch, const char **path,
                          size_t *path_len);

#endif
