/* OCI image layouts (image-layout spec): index.json -> manifest (through
 * image indexes by platform) -> config + layers, every blob verified. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "convert.h"
#include "digest.h"
#include "file_digest.h"
#include "registry.h"
#include "source_local.h"

#define REF_NAME "org.opencontainers.image.ref.name"
#define MAX_INDEX_DEPTH 4

int store_read_small(const struct archive_store *st, const char *name, size_t max, char **data,
                     size_t *len, sing_err_t *e)
{
        const struct store_member *m;
        if (archive_store_lookup(st, name, &m, e) < 0)
                return -1;
        return read_small_file(m->file, max, data, len, e);
}

/* The blob `digest` as a file, checked: its sha256 and (size >= 0) size. */
static int blob_path(const struct oci_layout *l, const char *digest, int64_t size, char **path,
                     sing_err_t *e)
{
        char got[DIGEST_STR_LEN + 1];
        int64_t got_size = 0;
        if (!digest_is_valid(digest))
                return err_set(e, "%s: invalid blob digest \"%.80s\"", l->what, digest);
        if (l->st) {
                char name[128];
                const struct store_member *m;
                snprintf(name, sizeof(name), "blobs/sha256/%s", digest_hex(digest));
                if (archive_store_lookup(l->st, name, &m, e) < 0)
                        return err_prefix(e, "%s", l->what);
                snprintf(got, sizeof(got), "%s", m->digest);
                got_size = m->size;
                *path = strdup(m->file);
        } else {
                if (asprintf(path, "%s/blobs/sha256/%s", l->dir, digest_hex(digest)) < 0)
                        *path = NULL;
                else if (file_sha256(*path, got, &got_size, e) < 0) {
                        free(*path);
                        *path = NULL;
                        return err_prefix(e, "%s", l->what);
                }
        }
        if (!*path)
                return err_set(e, "out of memory");
        if (strcmp(got, digest) != 0 || (size >= 0 && got_size != size)) {
                free(*path);
                *path = NULL;
                if (strcmp(got, digest) != 0)
                        return err_set(e, "%s: blob %s has the digest %s: it was changed", l->what,
                                       digest, got);
                return err_set(e, "%s: blob %s has %lld bytes, the manifest says %lld", l->what,
                               digest, (long long)got_size, (long long)size);
        }
        return 0;
}

static int read_blob(const struct oci_layout *l, const char *digest, int64_t size, char **data,
                     size_t *len, sing_err_t *e)
{
        _cleanup_free_ char *path = NULL;
        if (size > (int64_t)SOURCE_JSON_MAX)
                return err_set(e, "%s: %s is larger than %u bytes", l->what, digest,
                               SOURCE_JSON_MAX);
        if (blob_path(l, digest, size, &path, e) < 0)
                return -1;
        return read_small_file(path, SOURCE_JSON_MAX, data, len, e);
}

static const char *ref_name_of(json_object *desc)
{
        json_object *ann, *n;
        if (json_object_object_get_ex(desc, "annotations", &ann) &&
            json_object_object_get_ex(ann, REF_NAME, &n) &&
            json_object_is_type(n, json_type_string))
                return json_object_get_string(n);
        return NULL;
}

static bool tag_matches(const char *name, const char *tag)
{
        const char *colon;
        if (!name)
                return false;
        if (!strcmp(name, tag))
                return true;
        /* "oci:DIR:repo:tag" names the tag part too. */
        colon = strrchr(tag, ':');
        return colon && !strcmp(name, colon + 1);
}

/* The index.json entry for tag (or the only one). */
static int pick_entry(const struct oci_layout *l, json_object *index, const char *tag,
                      json_object **out, sing_err_t *e)
{
        json_object *ms;
        size_t n, found = 0;
        char names[512] = "";
        if (!json_object_object_get_ex(index, "manifests", &ms) ||
            !json_object_is_type(ms, json_type_array))
                return err_set(e, "%s: index.json has no manifests list", l->what);
        n = json_object_array_length(ms);
        if (n == 0)
                return err_set(e, "%s: index.json lists no image", l->what);
        for (size_t i = 0; i < n; i++) {
                json_object *d = json_object_array_get_idx(ms, i);
                const char *rn = ref_name_of(d);
                size_t used = strlen(names);
                snprintf(names + used, sizeof(names) - used, "%s%s", used ? ", " : "",
                         rn ? rn : "(untagged)");
                if (tag && tag_matches(rn, tag)) {
                        *out = d;
                        found++;
                }
        }
        if (tag && found == 0)
                return err_set(e, "%s has no image tagged \"%s\" (it has: %s)", l->what, tag,
                               names);
        if (!tag && n > 1)
                return err_set(e, "%s holds %zu images (%s); name one as %s:TAG", l->what, n, names,
                               l->what);
        if (!tag)
                *out = json_object_array_get_idx(ms, 0);
        return 0;
}

static const char *jstr(json_object *o, const char *key)
{
        json_object *v;
        if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
                return json_object_get_string(v);
        return NULL;
}

static int64_t jsize(json_object *o)
{
        json_object *v;
        if (o && json_object_object_get_ex(o, "size", &v) && json_object_is_type(v, json_type_int))
                return json_object_get_int64(v);
        return -1;
}

static int resolve(const struct oci_layout *l, json_object *desc, const char *platform,
                   struct image_manifest *man, char **top, sing_err_t *e)
{
        _cleanup_free_ char *digest = NULL, *media = NULL;
        int64_t size = jsize(desc);
        const char *d = jstr(desc, "digest"), *mt = jstr(desc, "mediaType");
        if (!d)
                return err_set(e, "%s: an index.json entry has no digest", l->what);
        if (!(digest = strdup(d)) || (mt && !(media = strdup(mt))) || !(*top = strdup(d)))
                return err_set(e, "out of memory");
        for (int depth = 0; depth < MAX_INDEX_DEPTH; depth++) {
                _cleanup_free_ char *body = NULL, *next = NULL;
                size_t len = 0;
                int r;
                if (read_blob(l, digest, size, &body, &len, e) < 0)
                        return -1;
                r = registry_parse_document(body, media, platform, l->what, digest, man, &next, e);
                if (r <= 0)
                        return r;
                /* An index: the platform's manifest, size unknown here but
                 * its digest is checked. */
                free(digest);
                digest = steal_ptr(&next);
                free(media);
                media = NULL;
                size = -1;
        }
        return err_set(e, "%s: image indexes nested more than %d deep", l->what, MAX_INDEX_DEPTH);
}

int oci_layout_image(const struct oci_layout *l, const char *tag, const char *platform,
                     struct pulled_image *img, sing_err_t *e)
{
        _cleanup_free_ char *index_json = NULL, *top = NULL;
        struct image_manifest man = {0};
        json_object *index = NULL, *entry = NULL;
        size_t len = 0;
        int rc = -1;
        memset(img, 0, sizeof(*img));
        if (l->st) {
                if (store_read_small(l->st, "index.json", SOURCE_JSON_MAX, &index_json, &len, e) <
                    0)
                        return err_prefix(e, "%s: not an OCI image layout", l->what);
        } else {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/index.json", l->dir) < 0)
                        return err_set(e, "out of memory");
                if (read_small_file(p, SOURCE_JSON_MAX, &index_json, &len, e) < 0)
                        return err_prefix(e, "%s: not an OCI image layout", l->what);
        }
        index = json_tokener_parse(index_json);
        if (!index || !json_object_is_type(index, json_type_object)) {
                err_set(e, "%s: index.json is not a JSON object", l->what);
                goto out;
        }
        if (pick_entry(l, index, tag, &entry, e) < 0 ||
            resolve(l, entry, platform, &man, &top, e) < 0)
                goto out;
        if (read_blob(l, man.config.digest, man.config.size, &img->config_json, &len, e) < 0)
                goto out;
        img->config_len = len;
        img->layers = calloc(man.nlayers ? man.nlayers : 1, sizeof(char *));
        if (!img->layers) {
                err_set(e, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < man.nlayers; i++) {
                if (blob_path(l, man.layers[i].digest, man.layers[i].size, &img->layers[i], e) < 0)
                        goto out;
                img->nlayers = i + 1;
        }
        img->nlayers = man.nlayers;
        img->digest = steal_ptr(&top);
        rc = 0;
out:
        json_object_put(index);
        image_manifest_free(&man);
        if (rc < 0)
                pulled_image_free(img);
        return rc;
}
