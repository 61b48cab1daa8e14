/* Where an image comes from, for pull, build and recipe Bootstrap:
 *
 *   docker://REF                 a registry (pull.c)
 *   docker-archive:FILE[:TAG]    a `docker save` tarball (gzip or not);
 *   docker-archive://FILE[:TAG]  TAG is "name:tag", a bare "tag", or absent
 *                                when the tarball holds one image
 *   oci-archive:FILE[:TAG]       a tarball of an OCI image layout
 *   oci:DIR[:TAG]                an OCI image layout directory; TAG matches
 *                                org.opencontainers.image.ref.name
 *   http://URL, https://URL      a SIF file on a web server
 *
 * Local layers end as a `struct pulled_image` (config + layer files, each
 * verified against the digest the manifest names), so that they go through
 * the same top-down merge as pulled ones (convert.c, rootfs_from_layers). */
#ifndef SING_SOURCE_H
#define SING_SOURCE_H

#include <stdbool.h>

#include "error.h"
#include "pull.h"

enum source_kind {
        SOURCE_DOCKER,
        SOURCE_DOCKER_ARCHIVE,
        SOURCE_OCI_ARCHIVE,
        SOURCE_OCI_DIR,
        SOURCE_HTTP,
};

struct source {
        enum source_kind kind;
        char *uri;  /* as given */
        char *path; /* FILE or DIR; the URL for SOURCE_HTTP; NULL for docker */
        char *tag;  /* NULL: the only image */
};

/* Does `uri` start with one of the schemes above? */
bool source_is_uri(const char *uri);

/* Parse `uri`. For the local kinds FILE must exist: a ':' splits FILE from
 * TAG at the first place where what is in front of it exists, so a path
 * may contain ':' too. Returns 0 or -1 naming what is wrong. */
int source_parse(const char *uri, struct source *s, sing_err_t *e);
void source_free(struct source *s);

/* The kind for a recipe's Bootstrap keyword ("docker-archive", "oci",
 * "oci-archive"), -1 for others. */
int source_kind_for_bootstrap(const char *bootstrap);
/* "docker-archive:FROM" etc. for a recipe's From (malloc'd). */
char *source_uri_for_bootstrap(enum source_kind k, const char *from);

/* Default SIF name for `pull` ("<file's base name>_<tag>.sif"), malloc'd. */
char *source_default_sif_name(const struct source *s);

/* Read a local source's image (not docker, not http): config and layer
 * files verified, bottom to top. Archives are unpacked into a private
 * temporary directory made beside `near` (a path whose directory gets it),
 * removed by source_image_free, also on an interrupt. `platform` picks
 * from a multi-arch index (NULL: the host's). */
int source_fetch_local(const struct source *s, const char *platform, const char *near,
                       struct pulled_image *img, sing_err_t *e);
void source_image_free(struct pulled_image *img);

/* ---- source_http.c ---- */

/* Download the SIF at s->path to out_path atomically (temp file beside it,
 * resumed with a Range request when the connection drops, renamed only
 * once it is complete and reads as a SIF). */
int source_http_download(const struct source *s, const struct pull_opts *o, const char *out_path,
                         bool force, sing_err_t *e);

/* ---- pull_source.c: the pull command's sources other than docker -> SIF ---- */

/* Local layers (archives, OCI layouts) -> SIF at out, through the same
 * streaming merge and squash as a registry pull; http(s) -> the SIF as
 * downloaded. */
int pull_source_to_file(const struct source *s, const struct pull_opts *o, const char *out,
                        bool force, sing_err_t *e);
/* Any layered source (docker too) -> a sandbox directory at out. */
int pull_source_to_sandbox(const struct source *s, const struct pull_opts *o, const char *out,
                           bool force, sing_err_t *e);
/* The layers of a docker:// or local source (build): fetched into the
 * cache, or read and verified from the local file. */
int source_fetch(const struct source *s, const struct pull_opts *o, const char *near,
                 struct pulled_image *img, sing_err_t *e);

#endif
