/* libFuzzer harness for the ld.so.cache reader of the FUSE server's
 * prefetcher (fuse/ld_cache.c): the input is an image's /etc/ld.so.cache.
 * Each run looks up a few names, with the x86_64 flags and a mismatching
 * one, into a large and a tiny path buffer. */
#include <string.h>

#include "fuzz_util.h"
#include "ld_cache.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        return 0;
}

static void lookup(const uint8_t *cache, size_t size, const char *name, int32_t flags)
{
        char path[4096], small[8];
        if (ld_cache_lookup(cache, size, name, flags, path, sizeof(path))) {
                FUZZ_ASSERT(memchr(path, '\0', sizeof(path)), "path unterminated");
                FUZZ_ASSERT(path[0] == '/', "relative path \"%s\"", path);
        }
        if (ld_cache_lookup(cache, size, name, flags, small, sizeof(small)))
                FUZZ_ASSERT(strlen(small) < sizeof(small) && small[0] == '/', "small path");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t *copy = malloc(size ? size : 1); /* ASan sees reads past the end */
        if (!copy)
                abort();
        memcpy(copy, data, size);
        static const char *names[] = {"libc.so.6", "libm.so.6", "a", ""};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                lookup(copy, size, names[i], 0x0303);
                lookup(copy, size, names[i], 0x0a03);
        }
        free(copy);
        return 0;
}
