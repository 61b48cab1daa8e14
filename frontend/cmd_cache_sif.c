/* `singularity-image cache-sif docker://REF` (hidden): the docker:// step of
 * `singularity run|exec|shell`, which the light binary runs as a child so
 * that it never loads the registry client. The answer, the cached SIF's
 * path, is the only thing written on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "commands.h"
#include "log.h"
#include "pull.h"

/* SINGULARITY_<name> (else APPTAINER_<name>) set to something other than
 * "", "0" or "false", as run/exec/shell read their options. */
static bool env_flag(const char *name)
{
        char key[64];
        const char *v;
        snprintf(key, sizeof(key), "SINGULARITY_%s", name);
        v = getenv(key);
        if (!v || !*v) {
                snprintf(key, sizeof(key), "APPTAINER_%s", name);
                v = getenv(key);
        }
        return v && *v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0;
}

int cmd_cache_sif(int argc, char **argv)
{
        struct pull_opts po = {.nohttps = env_flag("NOHTTPS"),
                               .disable_cache = env_flag("DISABLE_CACHE")};
        _cleanup_free_ char *path = NULL;
        sing_err_t e = {0};

        if (argc != 2 || strncmp(argv[1], "docker://", 9) != 0) {
                log_error("usage: singularity-image cache-sif docker://REF");
                return 255;
        }
        if (pull_to_cache(argv[1], &po, &path, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        printf("%s\n", path);
        return fflush(stdout) == 0 ? 0 : 255;
}
