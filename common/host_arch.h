/* The host's architecture, one source for both sides: what the registry
 * client asks for, what the cache names, what a built SIF records. It is the
 * architecture this binary was compiled for (what it can run: a 32-bit
 * build on a 64-bit kernel wants 32-bit images), not uname's machine. */
#ifndef SING_HOST_ARCH_H
#define SING_HOST_ARCH_H

/* In Go/OCI naming ("amd64", "arm64", ...); "unknown" on a machine the
 * table does not know, so no image of another architecture is chosen for it. */
const char *host_goarch(void);

/* The ELF e_machine of the same architecture (EM_X86_64, ...): what execve
 * of a 64-bit ELF needs to match; 0 (EM_NONE) when the table does not know. */
unsigned host_elf_machine(void);

#endif
