/* libFuzzer harness for the ELF reader of the FUSE server's prefetcher
 * (fuse/elf_deps.c): the input is the file (an image's /bin/sh or a library
 * it names). Reads go through the callback the server uses, bounded by the
 * file size as a squashfs read is. */
#include <string.h>

#include "elf_deps.h"
#include "fuzz_util.h"

struct input {
        const uint8_t *data;
        size_t size;
        size_t reads; /* bytes asked for: a parser that reads without bound */
};

static int read_input(void *ctx, uint64_t off, void *buf, size_t len)
{
        struct input *in = ctx;
        in->reads += len;
        if (off > in->size || len > in->size - off)
                return -1;
        memcpy(buf, in->data + off, len);
        return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* A malloc'd copy: ASan sees a read past the input's end. */
        uint8_t *copy = malloc(size ? size : 1);
        if (!copy)
                abort();
        memcpy(copy, data, size);
        struct input in = {copy, size, 0};
        static struct elf_deps deps; /* 8 KiB + 4 KiB: not on the stack */
        if (elf_deps_read(read_input, &in, size, &deps) == 0) {
                FUZZ_ASSERT(memchr(deps.interp, '\0', sizeof(deps.interp)), "interp unterminated");
                FUZZ_ASSERT(deps.n_needed <= ELF_DEPS_MAX_NEEDED, "%zu needed", deps.n_needed);
                for (size_t i = 0; i < deps.n_needed; i++) {
                        FUZZ_ASSERT(memchr(deps.needed[i], '\0', ELF_DEPS_NAME_MAX),
                                    "needed[%zu] unterminated", i);
                        FUZZ_ASSERT(deps.needed[i][0], "needed[%zu] empty", i);
                }
        }
        /* Headers, program headers, the dynamic segment, names, the interp:
         * a few tens of KiB whatever the file says. */
        FUZZ_ASSERT(in.reads <= 64 * 1024 + 64 * 64 + ELF_DEPS_PATH_MAX +
                                    ELF_DEPS_MAX_NEEDED * ELF_DEPS_NAME_MAX,
                    "read %zu bytes", in.reads);
        free(copy);
        return 0;
}
