/* ld.so's default library directories (see lib_dirs.h). */
#include "lib_dirs.h"

#include <elf.h>
#include <stdbool.h>
#include <stdio.h>

static const char *multiarch(uint16_t machine)
{
        switch (machine) {
        case EM_X86_64:
                return "x86_64-linux-gnu";
        case EM_AARCH64:
                return "aarch64-linux-gnu";
        case EM_PPC64:
                return "powerpc64le-linux-gnu";
        case EM_S390:
                return "s390x-linux-gnu";
        default:
                return NULL;
        }
}

int lib_default_path(uint16_t machine, unsigned i, const char *name, char *buf, size_t size)
{
        static const struct {
                const char *dir;
                bool multiarch;
        } dirs[] = {{"/lib/", true},       {"/usr/lib/", true}, {"/lib64", false},
                    {"/usr/lib64", false}, {"/lib", false},     {"/usr/lib", false}};
        if (i >= sizeof(dirs) / sizeof(dirs[0]))
                return 0;
        /* An unknown machine has no multiarch triplet: those entries are skipped. */
        const char *triplet = multiarch(machine);
        if (dirs[i].multiarch && !triplet)
                return -1;
        int n = snprintf(buf, size, "%s%s/%s", dirs[i].dir, dirs[i].multiarch ? triplet : "", name);
        return n > 0 && (size_t)n < size ? 1 : -1;
}
