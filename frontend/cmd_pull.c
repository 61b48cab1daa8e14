/* singularity pull [--name FILE] [-F] [--arch ARCH] [--nohttps] [--disable-cache] [FILE]
 * docker://REF */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "commands.h"
#include "envopts.h"
#include "log.h"
#include "pull.h"
#include "reference.h"

const char usage_pull[] =
    "Usage: singularity pull [options] [OUTPUT] docker://REF\n"
    "\n"
    "Pull an image from a Docker/OCI registry and write it as a SIF file:\n"
    "<repo>_<tag>.sif in the current directory (or $SINGULARITY_PULLFOLDER),\n"
    "or OUTPUT / --name.\n"
    "\n"
    "Options:\n"
    "      --name FILE       write the image to FILE\n"
    "  -F, --force           overwrite an existing file\n"
    "      --arch ARCH       architecture to pull (amd64, arm64, arm/v7, ...)\n"
    "      --nohttps         use plain HTTP to talk to the registry\n"
    "      --disable-cache   do not use or fill the cache\n"
    "  -h, --help            show this help\n"
    "\n"
    "Environment: SINGULARITY_DOCKER_USERNAME, SINGULARITY_DOCKER_PASSWORD,\n"
    "SINGULARITY_CACHEDIR, SINGULARITY_PULLFOLDER, SINGULARITY_NOHTTPS,\n"
    "SINGULARITY_DISABLE_CACHE, SSL_CERT_FILE, SSL_CERT_DIR, *_proxy (each\n"
    "SINGULARITY_ variable also as APPTAINER_).\n" ENVOPTS_BOOL_HELP
    "  Credentials are never sent over plain HTTP unless --nohttps (or\n"
    "  SINGULARITY_NOHTTPS) is given for that registry.\n"
    "\n"
    "Examples:\n"
    "  singularity pull docker://ubuntu:latest\n"
    "  singularity pull --name py.sif docker://python:3\n"
    "  singularity pull docker://ubuntu@sha256:<digest>\n";

int cmd_pull(int argc, char **argv)
{
        static const struct option opts[] = {
            {"name", required_argument, NULL, 'n'},
            {"force", no_argument, NULL, 'F'},
            {"arch", required_argument, NULL, 'a'},
            {"nohttps", no_argument, NULL, 'H'},
            {"disable-cache", no_argument, NULL, 'D'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        struct pull_opts o;
        const char *name = NULL, *uri, *folder;
        _cleanup_free_ char *out = NULL, *deflt = NULL;
        struct image_ref ref;
        bool force = false;
        sing_err_t e;
        int opt;

        if (pull_opts_from_env(&o, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        while ((opt = getopt_long(argc, argv, "+Fh", opts, NULL)) != -1) {
                switch (opt) {
                case 'n':
                        name = optarg;
                        break;
                case 'F':
                        force = true;
                        break;
                case 'a':
                        o.arch = optarg;
                        break;
                case 'H':
                        o.nohttps = true;
                        break;
                case 'D':
                        o.cache.disable = true;
                        break;
                case 'h':
                        fputs(usage_pull, stdout);
                        return 0;
                default:
                        fputs(usage_pull, stderr);
                        return 255;
                }
        }
        if (optind == argc - 2 && !name) {
                name = argv[optind++];
        } else if (optind != argc - 1) {
                log_error("pull takes one image URI (and optionally an output file); see "
                          "'singularity help pull'");
                return 255;
        }
        uri = argv[optind];
        if (strncmp(uri, "docker://", 9) != 0) {
                log_error("unsupported image URI \"%s\": pull supports docker://", uri);
                return 255;
        }
        if (ref_parse(uri, &ref, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        deflt = ref_default_sif_name(&ref);
        ref_free(&ref);
        if (!name)
                name = deflt;
        folder = envopt_str("PULLFOLDER");
        if (folder && *folder && !strchr(name, '/')) {
                if (asprintf(&out, "%s/%s", folder, name) < 0)
                        out = NULL;
        } else {
                out = strdup(name);
        }
        if (!out) {
                log_error("out of memory");
                return 255;
        }
        if (pull_to_file(uri, &o, out, force, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        log_info("Singularity container built: %s", out);
        return 0;
}
