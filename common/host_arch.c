#include "host_arch.h"

#include <elf.h>

const char *host_goarch(void)
{
#if defined(__x86_64__)
        return "amd64";
#elif defined(__i386__)
        return "386";
#elif defined(__aarch64__)
        return "arm64";
#elif defined(__arm__)
        return "arm";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
        return "ppc64le";
#elif defined(__powerpc64__)
        return "ppc64";
#elif defined(__s390x__)
        return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
        return "riscv64";
#elif defined(__mips64) && defined(__MIPSEL__)
        return "mips64le";
#elif defined(__mips64)
        return "mips64";
#elif defined(__mips__) && defined(__MIPSEL__)
        return "mipsle";
#elif defined(__mips__)
        return "mips";
#else
        return "unknown";
#endif
}

unsigned host_elf_machine(void)
{
#if defined(__x86_64__)
        return EM_X86_64;
#elif defined(__i386__)
        return EM_386;
#elif defined(__aarch64__)
        return EM_AARCH64;
#elif defined(__arm__)
        return EM_ARM;
#elif defined(__powerpc64__)
        return EM_PPC64;
#elif defined(__s390x__)
        return EM_S390;
#elif defined(__riscv)
        return EM_RISCV;
#elif defined(__mips__)
        return EM_MIPS;
#else
        return EM_NONE;
#endif
}
