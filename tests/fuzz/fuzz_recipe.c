/* libFuzzer harness for the definition file parser (frontend/recipe.c):
 * recipe_parse, then what the build reads out of a parsed recipe (the
 * docker URI, %files and %labels lines). */
#include <string.h>

#include "fuzz_util.h"
#include "recipe.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        fuzz_quiet_logs();
        return 0;
}

static void check_parsed(const struct recipe *r)
{
        struct recipe_file *files = NULL;
        struct recipe_label *labels = NULL;
        size_t nfiles = 0, nlabels = 0;
        char *uri;
        sing_err_t e;

        FUZZ_ASSERT(r->from && r->path && r->dir && r->redacted, "missing fields");
        for (int s = 0; s < SEC_COUNT; s++) {
                const struct recipe_section *sec = &r->sec[s];
                size_t n;
                if (!sec->present) {
                        FUZZ_ASSERT(!sec->body, "absent section with a body");
                        continue;
                }
                n = strlen(sec->body);
                FUZZ_ASSERT(n == 0 || sec->body[n - 1] == '\n', "body of %%%s not \\n-terminated",
                            recipe_section_name(s));
        }
        uri = recipe_docker_uri(r);
        FUZZ_ASSERT(uri && !strncmp(uri, "docker://", 9), "docker URI");
        free(uri);

        if (recipe_files(r, &files, &nfiles, &e) == 0) {
                for (size_t i = 0; i < nfiles; i++) {
                        FUZZ_ASSERT(files[i].src[0] && !strpbrk(files[i].src, " \t\n"),
                                    "%%files source \"%s\"", files[i].src);
                        FUZZ_ASSERT(!files[i].dst ||
                                        (files[i].dst[0] && !strpbrk(files[i].dst, " \t\n")),
                                    "%%files destination \"%s\"", files[i].dst);
                }
                recipe_files_free(files, nfiles);
        } else {
                FUZZ_ASSERT(e.msg[0], "failure without a message");
        }
        if (recipe_labels(r, &labels, &nlabels, &e) == 0) {
                for (size_t i = 0; i < nlabels; i++)
                        FUZZ_ASSERT(labels[i].key[0] && labels[i].value, "label");
                recipe_labels_free(labels, nlabels);
        } else {
                FUZZ_ASSERT(e.msg[0], "failure without a message");
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = fuzz_cstr(data, size);
        struct recipe r;
        sing_err_t e;

        if (recipe_parse(text, size, "/fuzz/dir/Singularity.def", &r, &e) == 0) {
                check_parsed(&r);
                recipe_free(&r);
        } else {
                FUZZ_ASSERT(e.msg[0] && !strchr(e.msg, '\n'), "error is not one line: %s", e.msg);
                FUZZ_ASSERT(!r.from && !r.path, "failed parse left fields set");
        }
        free(text);
        return 0;
}
