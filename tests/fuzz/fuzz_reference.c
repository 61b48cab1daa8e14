/* libFuzzer harness for ref_parse (frontend/reference.c). Besides "no crash",
 * it checks what the parser promises: everything it returns is safe to put
 * into a URL path and a file name. */
#include <stdbool.h>
#include <string.h>

#include "digest.h"
#include "fuzz_util.h"
#include "reference.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        fuzz_quiet_logs();
        return 0;
}

/* Non-empty "/"-separated components, none "." or "..", printable ASCII
 * without URL specials. */
static bool path_safe(const char *s)
{
        size_t n = strlen(s);
        if (n == 0)
                return false;
        for (const char *c = s; c <= s + n;) {
                size_t len = strcspn(c, "/");
                if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && !strncmp(c, "..", 2)))
                        return false;
                c += len + 1;
        }
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] > '~' || s[i] == '?' || s[i] == '#' || s[i] == '%')
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *uri = fuzz_cstr(data, size);
        struct image_ref r;
        sing_err_t e;

        if (ref_parse(uri, &r, &e) < 0) {
                FUZZ_ASSERT(!r.registry && !r.api_host && !r.repository && !r.tag && !r.digest,
                            "ref_parse failed but left fields set");
                FUZZ_ASSERT(e.msg[0] && !strchr(e.msg, '\n'), "error is not one line: %s", e.msg);
        } else {
                char *display = ref_display(&r), *sif = ref_default_sif_name(&r);
                FUZZ_ASSERT(r.registry && r.api_host && r.repository, "missing fields");
                FUZZ_ASSERT(r.tag || r.digest, "neither tag nor digest");
                FUZZ_ASSERT(path_safe(r.registry) && !strchr(r.registry, '/'), "registry %s",
                            r.registry);
                FUZZ_ASSERT(path_safe(r.api_host) && !strchr(r.api_host, '/'), "api_host %s",
                            r.api_host);
                FUZZ_ASSERT(path_safe(r.repository), "repository %s", r.repository);
                FUZZ_ASSERT(!r.tag ||
                                (path_safe(r.tag) && !strchr(r.tag, '/') && strlen(r.tag) <= 128),
                            "tag %s", r.tag);
                FUZZ_ASSERT(!r.digest || digest_is_valid(r.digest), "digest %s", r.digest);
                FUZZ_ASSERT(display && sif, "out of memory");
                FUZZ_ASSERT(!strchr(sif, '/') && sif[0] != '.', "SIF name %s", sif);
                free(display);
                free(sif);
                ref_free(&r);
                FUZZ_ASSERT(!r.registry && !r.repository, "ref_free left fields set");
        }
        free(uri);
        return 0;
}
