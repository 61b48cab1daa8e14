/* Readers of the local image formats (source.h), internal to source*.c.
 * Every blob they hand out was checked against the digest its manifest
 * names: OCI blobs against their descriptors (sha256 and size), docker-save
 * configs against the image id in their name and layers against the
 * config's diff_ids. */
#ifndef SING_SOURCE_LOCAL_H
#define SING_SOURCE_LOCAL_H

#include "archive_store.h"
#include "error.h"
#include "pull.h"

#define SOURCE_JSON_MAX (16u << 20)

/* An OCI image layout: a directory, or an unpacked oci-archive. */
struct oci_layout {
        const char *dir;                /* or NULL */
        const struct archive_store *st; /* or NULL */
        const char *what;               /* for messages: "oci:DIR", "oci-archive:FILE" */
};

/* Fill img (config, layers, digest) from the layout's index.json entry
 * named `tag` (NULL: the only one); platform picks in an image index. */
int oci_layout_image(const struct oci_layout *l, const char *tag, const char *platform,
                     struct pulled_image *img, sing_err_t *e);

/* Same from an unpacked `docker save` tarball: the manifest.json entry
 * whose RepoTags match `tag` (NULL: the only one). */
int docker_archive_image(const struct archive_store *st, const char *what, const char *tag,
                         struct pulled_image *img, sing_err_t *e);

/* A small member read into memory, NUL-terminated. */
int store_read_small(const struct archive_store *st, const char *name, size_t max, char **data,
                     size_t *len, sing_err_t *e);

#endif
