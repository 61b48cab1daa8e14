/* Docker image references: "docker://[registry[:port]/]path[:tag][@sha256:hex]".
 * The parser follows the grammar of the distribution project (the one Docker
 * uses) and resolves the Docker Hub shorthands ("ubuntu" is
 * index.docker.io/library/ubuntu:latest). Everything it returns is validated,
 * so later stages may put it into URLs and file names. */
#ifndef SING_REFERENCE_H
#define SING_REFERENCE_H

#include "error.h"

#define REF_DOCKER_HUB "index.docker.io"
#define REF_DOCKER_HUB_API "registry-1.docker.io"

struct image_ref {
        char *registry;   /* display name: "index.docker.io" for Docker Hub, else host[:port] */
        char *api_host;   /* "registry-1.docker.io" for Docker Hub, else registry */
        char *repository; /* path used in /v2/<repository>/..., e.g. "library/ubuntu" */
        char *tag;        /* "latest" when neither tag nor digest is given; the tag as given
                             when both are; NULL for a digest-only reference */
        char *digest;     /* "sha256:<64 lowercase hex>" or NULL */
};

/* Parse uri ("docker://..." or the same without "docker://") into out.
 * Returns 0, or -1 with a one-line message naming what is wrong; out is then
 * left empty (all NULL). */
int ref_parse(const char *uri, struct image_ref *out, sing_err_t *e);

/* "index.docker.io/library/ubuntu:latest", or ".../ubuntu@sha256:..." when the
 * reference has a digest. malloc'd; NULL on allocation failure. */
char *ref_display(const struct image_ref *r);

/* Default file name for `singularity pull`: "<last component>_<tag>.sif", or
 * "<last component>_sha256.<first 12 hex>.sif" for a digest-only reference.
 * malloc'd; NULL on allocation failure. */
char *ref_default_sif_name(const struct image_ref *r);

/* Free the strings and reset them to NULL (safe on an empty struct). */
void ref_free(struct image_ref *r);

#endif
