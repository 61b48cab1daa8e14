/* What the dynamic loader will load for one ELF file: its program
 * interpreter (PT_INTERP) and the libraries it names (DT_NEEDED), read from
 * image bytes nobody checked. Every offset and size is bounded before use;
 * nothing recurses. Only 64-bit ELF of the host's byte order is read: the
 * prefetcher that asks is an optimisation, and anything else just stops it. */
#ifndef SING_ELF_DEPS_H
#define SING_ELF_DEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELF_DEPS_MAX_NEEDED 32 /* more DT_NEEDED entries are ignored */
#define ELF_DEPS_NAME_MAX 256  /* a longer library name is skipped */
#define ELF_DEPS_PATH_MAX 4096 /* a longer interpreter path is ignored */

struct elf_deps {
        uint16_t machine;               /* e_machine (EM_X86_64, EM_AARCH64, ...) */
        char interp[ELF_DEPS_PATH_MAX]; /* "" when there is none */
        size_t n_needed;
        char needed[ELF_DEPS_MAX_NEEDED][ELF_DEPS_NAME_MAX];
};

/* Reads exactly len bytes at off of the file; returns 0, or -1 (short or
 * failed read). */
typedef int (*elf_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);

/* Fills *out from a file of file_size bytes read through rd. Returns 0, or
 * -1 when the file is not an ELF file this parser reads or is malformed
 * (then *out holds whatever was read before: use it only on 0). */
int elf_deps_read(elf_read_fn rd, void *ctx, uint64_t file_size, struct elf_deps *out);

/* The same for an open regular file (pread: the file offset is untouched). */
int elf_deps_read_fd(int fd, struct elf_deps *out);

#endif
