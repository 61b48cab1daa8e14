/* `docker save` tarballs: manifest.json lists images as
 *   {"Config": "<id>.json" | "blobs/sha256/<id>", "RepoTags": [...],
 *    "Layers": ["<dir>/layer.tar" | "<diff_id>.tar" | "blobs/sha256/<hex>"]}
 * The config is checked against the image id in its name, each layer
 * (decompressed, when Docker stored it compressed) against the config's
 * rootfs.diff_ids: the same chain a registry pull verifies. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "convert.h"
#include "digest.h"
#include "file_digest.h"
#include "source_local.h"

/* "ubuntu" -> "docker.io/library/ubuntu:latest", "me/x:1" -> "docker.io/me/x:1". */
static char *normal_name(const char *ref)
{
        const char *slash = strchr(ref, '/'), *last = strrchr(ref, '/');
        const char *tagc = strchr(last ? last : ref, ':');
        bool has_host =
            slash && (memchr(ref, '.', (size_t)(slash - ref)) ||
                      memchr(ref, ':', (size_t)(slash - ref)) || !strncmp(ref, "localhost/", 10));
        char *out = NULL;
        if (asprintf(&out, "%s%s%s%s", has_host ? "" : "docker.io/",
                     !slash && !has_host ? "library/" : "", ref, tagc ? "" : ":latest") < 0)
                return NULL;
        return out;
}

static bool repotag_matches(const char *repotag, const char *tag)
{
        _cleanup_free_ char *a = NULL, *b = NULL;
        if (!strcmp(repotag, tag))
                return true;
        a = normal_name(repotag);
        b = normal_name(tag);
        return a && b && !strcmp(a, b);
}

/* A bare "TAG" (no name) matches the tag part of a RepoTag. */
static bool tag_part_matches(const char *repotag, const char *tag)
{
        const char *last = strrchr(repotag, '/'), *colon = strrchr(last ? last : repotag, ':');
        return !strchr(tag, ':') && !strchr(tag, '/') && colon && !strcmp(colon + 1, tag);
}

static size_t count_matches(json_object *list, const char *tag,
                            bool (*match)(const char *, const char *), json_object **found)
{
        size_t hits = 0;
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *img = json_object_array_get_idx(list, i), *tags;
                if (!json_object_object_get_ex(img, "RepoTags", &tags) ||
                    !json_object_is_type(tags, json_type_array))
                        continue;
                for (size_t j = 0; j < json_object_array_length(tags); j++) {
                        json_object *t = json_object_array_get_idx(tags, j);
                        if (json_object_is_type(t, json_type_string) &&
                            match(json_object_get_string(t), tag)) {
                                *found = img;
                                hits++;
                                break;
                        }
                }
        }
        return hits;
}

static void list_tags(json_object *list, char *buf, size_t sz)
{
        buf[0] = '\0';
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *img = json_object_array_get_idx(list, i), *tags;
                size_t used = strlen(buf);
                const char *first = "(untagged)";
                if (json_object_object_get_ex(img, "RepoTags", &tags) &&
                    json_object_is_type(tags, json_type_array) &&
                    json_object_array_length(tags) > 0 &&
                    json_object_is_type(json_object_array_get_idx(tags, 0), json_type_string))
                        first = json_object_get_string(json_object_array_get_idx(tags, 0));
                snprintf(buf + used, sz - used, "%s%s", used ? ", " : "", first);
        }
}

static int pick_image(json_object *list, const char *what, const char *tag, json_object **out,
                      sing_err_t *e)
{
        size_t n = json_object_array_length(list), hits;
        char tags[512];
        list_tags(list, tags, sizeof(tags));
        if (n == 0)
                return err_set(e, "%s: manifest.json lists no image", what);
        if (!tag) {
                if (n > 1)
                        return err_set(e, "%s holds %zu images (%s); name one as %s:NAME:TAG", what,
                                       n, tags, what);
                *out = json_object_array_get_idx(list, 0);
                return 0;
        }
        hits = count_matches(list, tag, repotag_matches, out);
        if (hits == 0)
                hits = count_matches(list, tag, tag_part_matches, out);
        if (hits == 1)
                return 0;
        if (hits > 1)
                return err_set(e, "%s: the tag \"%s\" matches %zu images (%s); give NAME:TAG", what,
                               tag, hits, tags);
        return err_set(e, "%s has no image tagged \"%s\" (it has: %s)", what, tag, tags);
}

/* The digest a config's name carries: "<hex>.json" or "blobs/sha256/<hex>". */
static int config_digest_of_name(const char *name, char out[DIGEST_STR_LEN + 1])
{
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        snprintf(out, DIGEST_STR_LEN + 1, "%s%.*s", DIGEST_PREFIX, DIGEST_HEX_LEN, base);
        if (!digest_is_valid(out))
                return -1;
        return strlen(base) == DIGEST_HEX_LEN || !strcmp(base + DIGEST_HEX_LEN, ".json") ? 0 : -1;
}

static int read_config(const struct archive_store *st, const char *what, json_object *img,
                       struct pulled_image *out, json_object **config, sing_err_t *e)
{
        json_object *c;
        const struct store_member *m;
        char want[DIGEST_STR_LEN + 1];
        size_t len = 0;
        if (!json_object_object_get_ex(img, "Config", &c) ||
            !json_object_is_type(c, json_type_string))
                return err_set(e, "%s: a manifest.json entry has no Config", what);
        const char *name = json_object_get_string(c);
        if (archive_store_lookup(st, name, &m, e) < 0)
                return err_prefix(e, "%s: manifest.json Config", what);
        if (config_digest_of_name(name, want) < 0)
                return err_set(e, "%s: the config name \"%.200s\" does not carry its digest", what,
                               name);
        if (strcmp(m->digest, want) != 0)
                return err_set(e, "%s: config %s has the digest %s: it was changed", what, name,
                               m->digest);
        if (read_small_file(m->file, SOURCE_JSON_MAX, &out->config_json, &len, e) < 0)
                return -1;
        out->config_len = len;
        if (!(out->digest = strdup(want)))
                return err_set(e, "out of memory");
        *config = json_tokener_parse(out->config_json);
        if (!*config || !json_object_is_type(*config, json_type_object))
                return err_set(e, "%s: config %s is not a JSON object", what, name);
        return 0;
}

static json_object *diff_ids_of(json_object *config)
{
        json_object *rootfs, *ids;
        if (json_object_object_get_ex(config, "rootfs", &rootfs) &&
            json_object_object_get_ex(rootfs, "diff_ids", &ids) &&
            json_object_is_type(ids, json_type_array))
                return ids;
        return NULL;
}

/* Layer i against diff_ids[i]: its bytes, or decompressed when stored
 * compressed (Docker 25+ may keep the registry's gzip blobs). */
static int check_layer(const struct store_member *m, const char *name, size_t i, const char *what,
                       const char *diff_id, sing_err_t *e)
{
        char got[DIGEST_STR_LEN + 1];
        if (!strcmp(m->digest, diff_id))
                return 0;
        if (file_sha256_uncompressed(m->file, got, e) < 0)
                return err_prefix(e, "%s: layer %zu (%s)", what, i + 1, name);
        if (!strcmp(got, diff_id))
                return 0;
        return err_set(e,
                       "%s: layer %zu (%s) has the digest %s, the image config says %s: it was "
                       "changed",
                       what, i + 1, name, got, diff_id);
}

static int read_layers(const struct archive_store *st, const char *what, json_object *img,
                       json_object *config, struct pulled_image *out, sing_err_t *e)
{
        json_object *layers, *ids = diff_ids_of(config);
        size_t n;
        if (!json_object_object_get_ex(img, "Layers", &layers) ||
            !json_object_is_type(layers, json_type_array))
                return err_set(e, "%s: a manifest.json entry has no Layers", what);
        n = json_object_array_length(layers);
        if (!ids || json_object_array_length(ids) != n)
                return err_set(e, "%s: the image config lists %zu diff_ids for %zu layers", what,
                               ids ? json_object_array_length(ids) : 0, n);
        if (!(out->layers = calloc(n ? n : 1, sizeof(char *))))
                return err_set(e, "out of memory");
        for (size_t i = 0; i < n; i++) {
                json_object *l = json_object_array_get_idx(layers, i);
                json_object *d = json_object_array_get_idx(ids, i);
                const struct store_member *m;
                const char *name =
                    json_object_is_type(l, json_type_string) ? json_object_get_string(l) : NULL;
                const char *diff_id =
                    json_object_is_type(d, json_type_string) ? json_object_get_string(d) : NULL;
                if (!name)
                        return err_set(e, "%s: manifest.json layer %zu is not a name", what, i + 1);
                if (!diff_id || !digest_is_valid(diff_id))
                        return err_set(e,
                                       "%s: diff_id %zu of the image config is not a sha256 "
                                       "digest",
                                       what, i + 1);
                if (archive_store_lookup(st, name, &m, e) < 0)
                        return err_prefix(e, "%s: manifest.json layer %zu", what, i + 1);
                if (check_layer(m, name, i, what, diff_id, e) < 0)
                        return -1;
                if (!(out->layers[i] = strdup(m->file)))
                        return err_set(e, "out of memory");
                out->nlayers = i + 1;
        }
        return 0;
}

int docker_archive_image(const struct archive_store *st, const char *what, const char *tag,
                         struct pulled_image *img, sing_err_t *e)
{
        _cleanup_free_ char *text = NULL;
        json_object *list = NULL, *entry = NULL, *config = NULL;
        size_t len = 0;
        int rc = -1;
        memset(img, 0, sizeof(*img));
        if (store_read_small(st, "manifest.json", SOURCE_JSON_MAX, &text, &len, e) < 0)
                return err_prefix(e, "%s: not a docker save archive", what);
        list = json_tokener_parse(text);
        if (!list || !json_object_is_type(list, json_type_array)) {
                err_set(e, "%s: manifest.json is not a JSON list", what);
                goto out;
        }
        if (pick_image(list, what, tag, &entry, e) < 0 ||
            read_config(st, what, entry, img, &config, e) < 0 ||
            read_layers(st, what, entry, config, img, e) < 0)
                goto out;
        rc = 0;
out:
        json_object_put(config);
        json_object_put(list);
        if (rc < 0)
                pulled_image_free(img);
        return rc;
}
