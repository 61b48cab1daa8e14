/* The light `singularity` side of the split (see commands.h): how it
 * reaches SING_IMAGE_TOOL_PATH, the binary holding pull/build/inspect. */
#ifndef SING_IMAGE_TOOL_H
#define SING_IMAGE_TOOL_H

#include <stdbool.h>

#include "error.h"

/* Replace this process with the image tool, same argv. Returns only on
 * failure (after printing why), with the exit status 255. */
int image_tool_exec(char **argv);

/* docker:// for run/exec/shell: the cached SIF path (malloc'd). A pinned
 * reference already in the cache is found here; anything else runs
 * `singularity-image cache-sif URI` (with our log level), which pulls when
 * needed and prints the path.
 * The tool prints its own messages; when it fails, returns -1 with an
 * empty e->msg (already reported), else -1 with e filled. */
struct cache_opts;
/* With co->disable (SINGULARITY_DISABLE_CACHE), the SIF goes into a private
 * temporary cache made here, which a small helper process removes once
 * this process (by then the starter, and the container) has exited. */
/* nohttps: run/exec --no-https (passed on as cache-sif --nohttps; the tool
 * also reads SINGULARITY_NOHTTPS itself). cred: run/exec --docker-login and
 * --authfile, passed on as they are (the tool asks on the terminal). */
struct cred_options;
int image_tool_cache_sif(const char *uri, const struct cache_opts *co, bool nohttps,
                         const struct cred_options *cred, char **sif_path, sing_err_t *e);

/* A seccomp profile (Docker JSON) for run/exec/shell: `singularity-image
 * seccomp-compile FILE` compiles it with libseccomp (see seccomp_profile.h);
 * *hex (malloc'd) is the BPF program in lowercase hex, for the starter's
 * --seccomp-bpf. Errors as image_tool_cache_sif. */
int image_tool_seccomp_compile(const char *profile, char **hex, sing_err_t *e);

/* instance://NAME for exec/run/shell: `singularity-image instance-info
 * NAME` checks the record and the process; *image is the instance's image,
 * *join "PID:START" for the starter's --instance (both malloc'd). Errors
 * as image_tool_cache_sif. */
int image_tool_instance_info(const char *name, char **image, char **join, sing_err_t *e);

#endif
