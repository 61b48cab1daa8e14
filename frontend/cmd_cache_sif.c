/* `singularity-image cache-sif [--nohttps] [--temp-cache DIR] docker://REF` (hidden):
 * the docker:// step of `singularity run|exec|shell`, which the light binary
 * runs as a child so that it never loads the registry client. The answer,
 * the cached SIF's path, is the only thing written on stdout.
 *
 * --temp-cache: SINGULARITY_DISABLE_CACHE in the caller. The caller made
 * DIR (private, empty) and removes it once the container has exited: the SIF
 * must outlive this process, as the starter opens it after we are gone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "commands.h"
#include "envopts.h"
#include "log.h"
#include "pull.h"

int cmd_cache_sif(int argc, char **argv)
{
        struct pull_opts po;
        _cleanup_free_ char *path = NULL;
        const char *temp_cache = NULL;
        sing_err_t e = {0};
        bool nohttps = false;

        if (argc >= 3 && strcmp(argv[1], "--nohttps") == 0) { /* run/exec --no-https */
                nohttps = true;
                argv++;
                argc--;
        }
        if (argc == 4 && strcmp(argv[1], "--temp-cache") == 0 && argv[2][0] == '/') {
                temp_cache = argv[2];
                argv += 2;
                argc -= 2;
        }
        if (argc != 2 || strncmp(argv[1], "docker://", 9) != 0) {
                log_error("usage: singularity-image cache-sif [--nohttps] [--temp-cache DIR] "
                          "docker://REF");
                return 255;
        }
        if (pull_opts_from_env(&po, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        po.nohttps |= nohttps;
        if (temp_cache) {
                po.cache.dir = temp_cache;
                po.cache.disable = false;
        } else if (po.cache.disable) {
                log_error("cache-sif: the cache is disabled; the caller passes --temp-cache");
                return 255;
        }
        if (pull_to_cache(argv[1], &po, &path, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        printf("%s\n", path);
        return fflush(stdout) == 0 ? 0 : 255;
}
