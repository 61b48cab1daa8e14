/* `singularity-image cache-sif [--nohttps] [--temp-cache|--miss-cache DIR] [--docker-login]
 * [--authfile FILE] docker://REF` (hidden): the docker:// step of
 * `singularity run|exec|shell|test|instance start`, which the light binary
 * runs as a child so that it never loads the registry client. The answer,
 * the cached SIF's path, is the only thing written on stdout (the
 * --docker-login questions go to the terminal).
 *
 * --temp-cache: SINGULARITY_DISABLE_CACHE in the caller. The caller made
 * DIR (private, empty) and removes it once the container has exited: the SIF
 * must outlive this process, as the starter opens it after we are gone.
 * --miss-cache DIR: the same for a read-only cache (cache.h): DIR, made
 * and removed the same way, takes what it lacks. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "commands.h"
#include "cred_options.h"
#include "envopts.h"
#include "log.h"
#include "pull.h"

enum { OPT_NOHTTPS = 1, OPT_TEMP_CACHE, OPT_MISS_CACHE };

int cmd_cache_sif(int argc, char **argv)
{
        static const struct option opts[] = {
            {"nohttps", no_argument, NULL, OPT_NOHTTPS},
            {"temp-cache", required_argument, NULL, OPT_TEMP_CACHE},
            {"miss-cache", required_argument, NULL, OPT_MISS_CACHE},
            {"docker-login", no_argument, NULL, CRED_OPT_DOCKER_LOGIN},
            {"authfile", required_argument, NULL, CRED_OPT_AUTHFILE},
            {NULL, 0, NULL, 0},
        };
        struct pull_opts po;
        struct cred_options co = {0};
        _cleanup_free_ char *path = NULL;
        const char *temp_cache = NULL;
        sing_err_t e = {0};
        bool nohttps = false, bad = false, miss_only = false;
        int opt, rc;

        while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
                if (opt == OPT_NOHTTPS) /* run/exec --no-https */
                        nohttps = true;
                else if ((opt == OPT_TEMP_CACHE || opt == OPT_MISS_CACHE) && optarg[0] == '/') {
                        temp_cache = optarg;
                        miss_only = opt == OPT_MISS_CACHE;
                } else if (!cred_options_take(&co, opt, optarg)) {
                        bad = true;
                }
        }
        if (bad || optind != argc - 1 || strncmp(argv[optind], "docker://", 9) != 0) {
                log_error("usage: singularity-image cache-sif [--nohttps] "
                          "[--temp-cache|--miss-cache DIR] [--docker-login] [--authfile FILE] "
                          "docker://REF");
                return 255;
        }
        if (pull_opts_from_env(&po, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        po.nohttps |= nohttps;
        if (temp_cache && miss_only) {
                /* A read-only cache: what it lacks goes there. */
                po.cache.temp_dir = temp_cache;
        } else if (temp_cache) {
                po.cache.dir = temp_cache;
                po.cache.disable = false;
        } else if (po.cache.disable) {
                log_error("cache-sif: the cache is disabled; the caller passes --temp-cache");
                return 255;
        }
        rc = cred_options_apply(&co, &po.creds, &e);
        if (rc == 0)
                rc = pull_to_cache(argv[optind], &po, &path, &e);
        cred_options_free(&co);
        if (rc < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        printf("%s\n", path);
        return fflush(stdout) == 0 ? 0 : 255;
}
