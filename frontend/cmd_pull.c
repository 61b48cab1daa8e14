/* singularity pull [--name FILE] [--dir DIR] [--sandbox] [-F] [--arch ARCH] [--nohttps]
 * [--disable-cache] [--docker-login] [--authfile FILE] [FILE] SOURCE (source.h: docker://,
 * docker-archive:, oci:, oci-archive:, http(s)://) */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_epoch.h"
#include "cleanup.h"
#include "commands.h"
#include "cred_options.h"
#include "envopts.h"
#include "log.h"
#include "pull.h"
#include "reference.h"
#include "source.h"
#include "tempfile.h"

const char usage_pull[] =
    "Usage: singularity pull [options] [OUTPUT] SOURCE\n"
    "\n"
    "Pull an image and write it as a SIF file: <repo>_<tag>.sif in the current\n"
    "directory (or --dir, or $SINGULARITY_PULLFOLDER), or OUTPUT / --name.\n"
    "SOURCE is one of:\n"
    "  docker://REF                  an image in a Docker/OCI registry\n"
    "  docker-archive:FILE[:TAG]     a `docker save` tarball (gzip or not)\n"
    "  oci-archive:FILE[:TAG]        a tarball of an OCI image layout\n"
    "  oci:DIR[:TAG]                 an OCI image layout directory\n"
    "  https://URL, http://URL       a SIF file on a web server\n"
    "\n"
    "Options:\n"
    "      --name FILE       write the image to FILE\n"
    "      --dir DIR         write the image into DIR\n"
    "  -s, --sandbox         write a sandbox directory instead of a SIF\n"
    "  -F, --force           overwrite an existing file\n"
    "      --arch ARCH       architecture to pull (amd64, arm64, arm/v7, ...)\n"
    "      --nohttps, --no-https  use plain HTTP to talk to the registry\n"
    "      --disable-cache   do not use or fill the cache\n"
    "      --docker-login    ask for the registry user name and password on the\n"
    "                        terminal (for this pull only; never saved)\n"
    "      --authfile FILE   read registry credentials from the Docker-style\n"
    "                        config FILE instead of ~/.docker/config.json\n"
    "  -h, --help            show this help\n"
    "\n"
    "Registry credentials: --docker-login, else SINGULARITY_DOCKER_USERNAME and\n"
    "SINGULARITY_DOCKER_PASSWORD (or DOCKER_USERNAME and DOCKER_PASSWORD), else\n"
    "--authfile FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json (where\n"
    "`singularity registry login` saves them).\n"
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

/* <repo>_<tag>.sif for docker://, <file>_<tag>.sif for archives, the URL's
 * file name for http(s); a sandbox drops ".sif". */
static char *default_name(const struct source *s, bool sandbox, sing_err_t *e)
{
        char *name = NULL;
        if (s->kind == SOURCE_DOCKER) {
                struct image_ref ref;
                if (ref_parse(s->uri, &ref, e) < 0)
                        return NULL;
                name = ref_default_sif_name(&ref);
                ref_free(&ref);
        } else {
                name = source_default_sif_name(s);
        }
        if (!name) {
                err_set(e, "out of memory");
                return NULL;
        }
        if (sandbox && strlen(name) > 4 && !strcmp(name + strlen(name) - 4, ".sif"))
                name[strlen(name) - 4] = '\0';
        return name;
}

int cmd_pull(int argc, char **argv)
{
        static const struct option opts[] = {
            {"name", required_argument, NULL, 'n'},
            {"dir", required_argument, NULL, 'd'},
            {"sandbox", no_argument, NULL, 's'},
            {"force", no_argument, NULL, 'F'},
            {"arch", required_argument, NULL, 'a'},
            {"nohttps", no_argument, NULL, 'H'},
            {"no-https", no_argument, NULL, 'H'}, /* Apptainer's spelling */
            {"disable-cache", no_argument, NULL, 'D'},
            {"docker-login", no_argument, NULL, CRED_OPT_DOCKER_LOGIN},
            {"authfile", required_argument, NULL, CRED_OPT_AUTHFILE},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        struct pull_opts o;
        struct cred_options co = {0};
        const char *name = NULL, *uri, *folder, *dir = NULL;
        _cleanup_free_ char *out = NULL, *deflt = NULL;
        struct source src;
        bool force = false, sandbox = false;
        int rc;
        sing_err_t e;
        int opt;

        if (pull_opts_from_env(&o, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        while ((opt = getopt_long(argc, argv, "+Fhs", opts, NULL)) != -1) {
                switch (opt) {
                case 'n':
                        name = optarg;
                        break;
                case 'd':
                        dir = optarg;
                        break;
                case 's':
                        sandbox = true;
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
                case CRED_OPT_DOCKER_LOGIN:
                case CRED_OPT_AUTHFILE:
                        cred_options_take(&co, opt, optarg);
                        break;
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
        if (!source_is_uri(uri)) {
                log_error("unsupported image URI \"%s\": pull supports docker://, "
                          "docker-archive:, oci-archive:, oci:, http:// and https://",
                          uri);
                return 255;
        }
        if (source_parse(uri, &src, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        if (!name && !(deflt = default_name(&src, sandbox, &e))) {
                log_error("%s", e.msg);
                source_free(&src);
                return 255;
        }
        if (!name)
                name = deflt;
        folder = dir ? dir : envopt_str("PULLFOLDER");
        if (folder && *folder && !strchr(name, '/')) {
                if (asprintf(&out, "%s/%s", folder, name) < 0)
                        out = NULL;
        } else {
                out = strdup(name);
        }
        if (!out) {
                log_error("out of memory");
                source_free(&src);
                return 255;
        }
        tempfile_install_handlers();
        if (build_epoch_set(envopt_plain("SOURCE_DATE_EPOCH"), &e) < 0) {
                log_error("%s", e.msg);
                source_free(&src);
                return 255;
        }
        rc = cred_options_apply(&co, &o.creds, &e);
        if (rc == 0)
                rc = sandbox ? pull_source_to_sandbox(&src, &o, out, force, &e)
                             : pull_source_to_file(&src, &o, out, force, &e);
        cred_options_free(&co);
        source_free(&src);
        if (rc < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        log_info("Singularity container built: %s", out);
        return 0;
}
