/* libFuzzer harness for the registry's JSON: image manifests and indexes
 * (registry_parse_document, the code registry_resolve runs on every
 * document) and the image config (metadata_from_oci_config).
 *
 * Input: one selector byte, then the document.
 *   bit 0     0: manifest or index, 1: image config
 *   bits 1-3  Content-Type header to pretend (manifests) / options (config)
 *   bits 4-5  platform asked for */
#include <stdbool.h>
#include <string.h>

#include "digest.h"
#include "fuzz_util.h"
#include "metadata.h"
#include "registry.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        fuzz_quiet_logs();
        return 0;
}

static const char *const content_types[8] = {
    NULL,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8",
    "application/json",
    "",
    ";",
};

static const char *const platforms[4] = {NULL, "amd64", "arm/v7", "linux/arm64/v8"};

static void fuzz_document(unsigned sel, const char *body)
{
        struct image_manifest m;
        char *next = NULL;
        sing_err_t e;
        int r;

        memset(&m, 0, sizeof(m));
        r = registry_parse_document(body, content_types[(sel >> 1) & 7], platforms[(sel >> 4) & 3],
                                    "registry.example/fuzz", "latest", &m, &next, &e);
        if (r == 1) {
                FUZZ_ASSERT(next && digest_is_valid(next), "index chose a bad digest");
                FUZZ_ASSERT(!m.layers && !m.config.digest, "index filled the manifest");
        } else if (r == 0) {
                FUZZ_ASSERT(!next, "manifest set a next digest");
                FUZZ_ASSERT(m.config.digest && digest_is_valid(m.config.digest), "config digest");
                FUZZ_ASSERT(m.config.size >= 0, "negative config size");
                FUZZ_ASSERT(m.nlayers <= 1000, "%zu layers", m.nlayers);
                for (size_t i = 0; i < m.nlayers; i++) {
                        FUZZ_ASSERT(digest_is_valid(m.layers[i].digest), "layer digest");
                        FUZZ_ASSERT(m.layers[i].size >= 0, "negative layer size");
                }
        } else {
                FUZZ_ASSERT(r == -1 && e.msg[0], "failure without a message");
                FUZZ_ASSERT(!next, "failure set a next digest");
        }
        free(next);
        image_manifest_free(&m);
}

/* A generated entry must land inside the image: relative, no "." or ".."
 * component, no empty component. */
static void check_entries(const struct synth_list *l)
{
        for (size_t i = 0; i < l->n; i++) {
                const char *p = l->v[i].path;
                FUZZ_ASSERT(p && *p && *p != '/', "entry path \"%s\"", p ? p : "(null)");
                for (const char *c = p; c <= p + strlen(p);) {
                        size_t len = strcspn(c, "/");
                        FUZZ_ASSERT(len && !(len == 1 && c[0] == '.') &&
                                        !(len == 2 && c[0] == '.' && c[1] == '.'),
                                    "entry path \"%s\"", p);
                        c += len + 1;
                }
        }
}

static void fuzz_config(unsigned sel, const char *json, size_t len)
{
        struct metadata_opts o = {
            .recipe_runscript = (sel & 2) ? "#!/bin/bash\necho from recipe\n" : NULL,
            .include_cmd = (sel & 4) != 0,
            .mtime = (sel & 8) ? -1 : 1600000000,
        };
        struct synth_list top = {0}, bottom = {0};
        sing_err_t e;

        if (metadata_from_oci_config(json, len, &o, &top, &bottom, &e) == 0) {
                FUZZ_ASSERT(top.n > 0, "no metadata generated");
                check_entries(&top);
                check_entries(&bottom);
        } else {
                FUZZ_ASSERT(e.msg[0], "failure without a message");
        }
        synth_list_free(&top);
        synth_list_free(&bottom);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        unsigned sel;
        char *body;

        if (size < 1)
                return 0;
        sel = data[0];
        body = fuzz_cstr(data + 1, size - 1);
        if (sel & 1)
                fuzz_config(sel, body, size - 1);
        else
                fuzz_document(sel, body);
        free(body);
        return 0;
}
