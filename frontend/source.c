#include "source.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "archive_store.h"
#include "cache.h"
#include "cleanup.h"
#include "remove_tree.h"
#include "source_local.h"
#include "tempfile.h"

static const struct {
        const char *prefix;
        enum source_kind kind;
} schemes[] = {
    /* Longest first: "oci-archive:" before "oci:". */
    {"docker-archive://", SOURCE_DOCKER_ARCHIVE},
    {"docker-archive:", SOURCE_DOCKER_ARCHIVE},
    {"oci-archive://", SOURCE_OCI_ARCHIVE},
    {"oci-archive:", SOURCE_OCI_ARCHIVE},
    {"oci://", SOURCE_OCI_DIR},
    {"oci:", SOURCE_OCI_DIR},
    {"docker://", SOURCE_DOCKER},
    {"https://", SOURCE_HTTP},
    {"http://", SOURCE_HTTP},
};

static int scheme_of(const char *uri)
{
        for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
                if (!strncmp(uri, schemes[i].prefix, strlen(schemes[i].prefix)))
                        return (int)i;
        return -1;
}

bool source_is_uri(const char *uri)
{
        return scheme_of(uri) >= 0;
}

static const char *kind_scheme(enum source_kind k)
{
        switch (k) {
        case SOURCE_DOCKER_ARCHIVE:
                return "docker-archive";
        case SOURCE_OCI_ARCHIVE:
                return "oci-archive";
        case SOURCE_OCI_DIR:
                return "oci";
        case SOURCE_HTTP:
                return "http";
        default:
                return "docker";
        }
}

/* FILE[:TAG]: the first ':' in front of which something exists. */
static int split_path_tag(const char *rest, struct source *s, sing_err_t *e)
{
        struct stat st;
        const char *c = rest;
        if (!*rest)
                return err_set(e, "%s: no file given", s->uri);
        if (stat(rest, &st) == 0) {
                s->path = strdup(rest);
                return s->path ? 0 : err_set(e, "out of memory");
        }
        while ((c = strchr(c, ':'))) {
                _cleanup_free_ char *p = strndup(rest, (size_t)(c - rest));
                if (!p)
                        return err_set(e, "out of memory");
                if (*p && stat(p, &st) == 0) {
                        if (!c[1])
                                return err_set(e, "%s: empty tag after ':'", s->uri);
                        s->path = steal_ptr(&p);
                        s->tag = strdup(c + 1);
                        return s->tag ? 0 : err_set(e, "out of memory");
                }
                c++;
        }
        /* Name the file as the user most likely meant it: up to the first ':'. */
        {
                c = strchr(rest, ':');
                _cleanup_free_ char *p = c ? strndup(rest, (size_t)(c - rest)) : strdup(rest);
                if (!p)
                        return err_set(e, "out of memory");
                if (stat(p, &st) == 0)
                        errno = ENOENT;
                return err_errno(e, "%s: %s", s->uri, p);
        }
}

int source_parse(const char *uri, struct source *s, sing_err_t *e)
{
        int i = scheme_of(uri);
        struct stat st;
        memset(s, 0, sizeof(*s));
        if (i < 0)
                return err_set(e, "unsupported image URI \"%s\"", uri);
        s->kind = schemes[i].kind;
        if (!(s->uri = strdup(uri)))
                return err_set(e, "out of memory");
        if (s->kind == SOURCE_DOCKER)
                return 0;
        if (s->kind == SOURCE_HTTP) {
                if (!uri[strlen(schemes[i].prefix)]) {
                        source_free(s);
                        return err_set(e, "\"%s\": no host in the URL", uri);
                }
                if (!(s->path = strdup(uri)))
                        return err_set(e, "out of memory");
                return 0;
        }
        if (split_path_tag(uri + strlen(schemes[i].prefix), s, e) < 0) {
                source_free(s);
                return -1;
        }
        if (stat(s->path, &st) < 0 || (s->kind == SOURCE_OCI_DIR) != !!S_ISDIR(st.st_mode)) {
                err_set(e, "%s: %s is %s", uri, s->path,
                        s->kind == SOURCE_OCI_DIR ? "not a directory (an OCI layout)"
                                                  : "a directory, not an archive file");
                source_free(s);
                return -1;
        }
        return 0;
}

void source_free(struct source *s)
{
        free(s->uri);
        free(s->path);
        free(s->tag);
        memset(s, 0, sizeof(*s));
}

int source_kind_for_bootstrap(const char *b)
{
        if (!strcasecmp(b, "docker-archive"))
                return SOURCE_DOCKER_ARCHIVE;
        if (!strcasecmp(b, "oci-archive"))
                return SOURCE_OCI_ARCHIVE;
        if (!strcasecmp(b, "oci"))
                return SOURCE_OCI_DIR;
        return -1;
}

char *source_uri_for_bootstrap(enum source_kind k, const char *from)
{
        char *uri = NULL;
        const char *scheme = kind_scheme(k);
        size_t n = strlen(scheme);
        /* A From that repeats the scheme ("docker-archive:x.tar") is fine. */
        if (!strncmp(from, scheme, n) && from[n] == ':')
                return strdup(from);
        if (asprintf(&uri, "%s:%s", scheme, from) < 0)
                return NULL;
        return uri;
}

char *source_default_sif_name(const struct source *s)
{
        _cleanup_free_ char *copy = strdup(s->path ? s->path : "image");
        char *base, *dot, *out = NULL;
        if (!copy)
                return NULL;
        if (s->kind == SOURCE_HTTP) {
                char *q = strpbrk(copy, "?#");
                if (q)
                        *q = '\0';
        }
        while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
                copy[strlen(copy) - 1] = '\0';
        base = basename(copy);
        if (s->kind == SOURCE_HTTP)
                return strdup(*base && strcmp(base, "/") ? base : "image.sif");
        /* "bb.tar.gz" -> "bb". */
        if ((dot = strchr(base, '.')) && dot != base)
                *dot = '\0';
        if (asprintf(&out, "%s_%s.sif", base, s->tag ? s->tag : "latest") < 0)
                return NULL;
        /* A "name:tag" tag makes no good file name. */
        for (char *p = out; *p; p++)
                if (*p == ':' || *p == '/')
                        *p = '_';
        return out;
}

int source_fetch_local(const struct source *s, const char *platform, const char *near,
                       struct pulled_image *img, sing_err_t *e)
{
        struct archive_store st;
        int rc;
        memset(img, 0, sizeof(*img));
        if (s->kind == SOURCE_OCI_DIR) {
                struct oci_layout l = {.dir = s->path, .what = s->uri};
                return oci_layout_image(&l, s->tag, platform, img, e);
        }
        if (s->kind != SOURCE_DOCKER_ARCHIVE && s->kind != SOURCE_OCI_ARCHIVE)
                return err_set(e, "%s: not a local image source", s->uri);
        if (archive_store_unpack(s->path, s->uri, near, &st, e) < 0)
                return -1;
        if (s->kind == SOURCE_DOCKER_ARCHIVE) {
                rc = docker_archive_image(&st, s->uri, s->tag, img, e);
        } else {
                struct oci_layout l = {.st = &st, .what = s->uri};
                rc = oci_layout_image(&l, s->tag, platform, img, e);
        }
        if (rc < 0) {
                archive_store_free(&st);
                return -1;
        }
        /* The unpacked files (the layers among them) live until the image is
         * freed: the directory passes to img, still registered. */
        img->cache_root = steal_ptr(&st.dir);
        img->cache_temporary = true;
        archive_store_free(&st);
        return 0;
}

void source_image_free(struct pulled_image *img)
{
        if (img->cache_temporary && img->cache_root) {
                remove_tree(img->cache_root);
                tempfile_forget_dir(img->cache_root);
                img->cache_temporary = false;
        }
        pulled_image_free(img);
}
