#include "host_arch.h"

#include <elf.h>

/* One ladder for both names of the host's architecture. */
#if defined(__x86_64__)
#define HOST_GOARCH "amd64"
#define HOST_EM EM_X86_64
#elif defined(__i386__)
#define HOST_GOARCH "386"
#define HOST_EM EM_386
#elif defined(__aarch64__)
#define HOST_GOARCH "arm64"
#define HOST_EM EM_AARCH64
#elif defined(__arm__)
#define HOST_GOARCH "arm"
#define HOST_EM EM_ARM
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define HOST_GOARCH "ppc64le"
#define HOST_EM EM_PPC64
#elif defined(__powerpc64__)
#define HOST_GOARCH "ppc64"
#define HOST_EM EM_PPC64
#elif defined(__s390x__)
#define HOST_GOARCH "s390x"
#define HOST_EM EM_S390
#elif defined(__riscv) && __riscv_xlen == 64
#define HOST_GOARCH "riscv64"
#define HOST_EM EM_RISCV
#elif defined(__mips64) && defined(__MIPSEL__)
#define HOST_GOARCH "mips64le"
#define HOST_EM EM_MIPS
#elif defined(__mips64)
#define HOST_GOARCH "mips64"
#define HOST_EM EM_MIPS
#elif defined(__mips__) && defined(__MIPSEL__)
#define HOST_GOARCH "mipsle"
#define HOST_EM EM_MIPS
#elif defined(__mips__)
#define HOST_GOARCH "mips"
#define HOST_EM EM_MIPS
#else
#define HOST_GOARCH "unknown"
#define HOST_EM EM_NONE
#endif

const char *host_goarch(void)
{
        return HOST_GOARCH;
}

unsigned host_elf_machine(void)
{
        return HOST_EM;
}
