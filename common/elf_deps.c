/* PT_INTERP and DT_NEEDED of an untrusted ELF file (see elf_deps.h). */
#include "elf_deps.h"

#include <elf.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"

/* Bounds on what one file may make us read: program headers and dynamic
 * entries (a real libc has 14 and ~40). */
#define MAX_PHDRS 64
#define MAX_DYN 1024

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_ELFDATA ELFDATA2LSB
#else
#define HOST_ELFDATA ELFDATA2MSB
#endif

/* off + len lies within a file of size bytes (no overflow). */
static bool in_file(uint64_t off, uint64_t len, uint64_t size)
{
        return off <= size && len <= size - off;
}

/* The file offset of virtual address vaddr: inside the file part of a
 * PT_LOAD segment, with at least one byte there. */
static int vaddr_to_offset(const Elf64_Phdr *ph, size_t n, uint64_t vaddr, uint64_t *off)
{
        for (size_t i = 0; i < n; i++) {
                if (ph[i].p_type != PT_LOAD || vaddr < ph[i].p_vaddr ||
                    vaddr - ph[i].p_vaddr >= ph[i].p_filesz)
                        continue;
                uint64_t delta = vaddr - ph[i].p_vaddr;
                if (ph[i].p_offset > UINT64_MAX - delta)
                        return -1;
                *off = ph[i].p_offset + delta;
                return 0;
        }
        return -1;
}

/* A NUL-terminated string of at most max-1 bytes at off, not beyond limit
 * (the end of the string table or of the file). */
static int read_string(elf_read_fn rd, void *ctx, uint64_t off, uint64_t limit, char *buf,
                       size_t max)
{
        if (off >= limit)
                return -1;
        size_t len = limit - off < max ? (size_t)(limit - off) : max;
        if (rd(ctx, off, buf, len) < 0)
                return -1;
        if (!memchr(buf, '\0', len))
                return -1;
        return 0;
}

static int read_interp(elf_read_fn rd, void *ctx, uint64_t size, const Elf64_Phdr *p,
                       struct elf_deps *out)
{
        if (p->p_filesz < 2 || p->p_filesz > sizeof(out->interp) ||
            !in_file(p->p_offset, p->p_filesz, size))
                return -1;
        if (rd(ctx, p->p_offset, out->interp, p->p_filesz) < 0 ||
            out->interp[p->p_filesz - 1] != '\0') {
                out->interp[0] = '\0';
                return -1;
        }
        return 0;
}

static int read_needed(elf_read_fn rd, void *ctx, uint64_t size, const Elf64_Phdr *ph, size_t nph,
                       const Elf64_Phdr *dynseg, struct elf_deps *out)
{
        static Elf64_Dyn dyn[MAX_DYN]; /* one prefetch thread: not on its stack */
        uint64_t n = dynseg->p_filesz / sizeof(Elf64_Dyn);
        if (n > MAX_DYN)
                n = MAX_DYN;
        if (n == 0 || !in_file(dynseg->p_offset, n * sizeof(Elf64_Dyn), size) ||
            rd(ctx, dynseg->p_offset, dyn, n * sizeof(Elf64_Dyn)) < 0)
                return -1;
        uint64_t strtab = 0, strsz = 0, needed[ELF_DEPS_MAX_NEEDED];
        size_t nneeded = 0;
        bool have_strtab = false;
        for (uint64_t i = 0; i < n && dyn[i].d_tag != DT_NULL; i++) {
                if (dyn[i].d_tag == DT_NEEDED && nneeded < ELF_DEPS_MAX_NEEDED)
                        needed[nneeded++] = dyn[i].d_un.d_val;
                else if (dyn[i].d_tag == DT_STRTAB) {
                        strtab = dyn[i].d_un.d_ptr;
                        have_strtab = true;
                } else if (dyn[i].d_tag == DT_STRSZ)
                        strsz = dyn[i].d_un.d_val;
        }
        if (nneeded == 0)
                return 0;
        uint64_t stroff;
        if (!have_strtab || vaddr_to_offset(ph, nph, strtab, &stroff) < 0 || stroff > size)
                return -1;
        /* The table ends at DT_STRSZ or at the end of the file, whichever is
         * first. */
        uint64_t limit = strsz <= size - stroff ? stroff + strsz : size;
        for (size_t i = 0; i < nneeded; i++) {
                if (needed[i] >= limit - stroff)
                        continue;
                char *name = out->needed[out->n_needed];
                if (read_string(rd, ctx, stroff + needed[i], limit, name, ELF_DEPS_NAME_MAX) == 0 &&
                    name[0] != '\0')
                        out->n_needed++;
        }
        return 0;
}

int elf_deps_read(elf_read_fn rd, void *ctx, uint64_t file_size, struct elf_deps *out)
{
        memset(out, 0, sizeof(*out));
        Elf64_Ehdr eh;
        if (file_size < sizeof(eh) || rd(ctx, 0, &eh, sizeof(eh)) < 0)
                return -1;
        if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
            eh.e_ident[EI_DATA] != HOST_ELFDATA || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) ||
            eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > MAX_PHDRS ||
            !in_file(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), file_size))
                return -1;
        out->machine = eh.e_machine;
        Elf64_Phdr ph[MAX_PHDRS];
        size_t nph = eh.e_phnum;
        if (rd(ctx, eh.e_phoff, ph, nph * sizeof(Elf64_Phdr)) < 0)
                return -1;
        const Elf64_Phdr *dynseg = NULL;
        for (size_t i = 0; i < nph; i++) {
                if (ph[i].p_type == PT_INTERP && !out->interp[0] &&
                    read_interp(rd, ctx, file_size, &ph[i], out) < 0)
                        return -1;
                if (ph[i].p_type == PT_DYNAMIC && !dynseg)
                        dynseg = &ph[i];
        }
        return dynseg ? read_needed(rd, ctx, file_size, ph, nph, dynseg, out) : 0;
}

static int pread_exact(void *ctx, uint64_t off, void *buf, size_t len)
{
        ssize_t n = pread_full(*(const int *)ctx, buf, len, off);
        return n >= 0 && (size_t)n == len ? 0 : -1;
}

int elf_deps_read_fd(int fd, struct elf_deps *out)
{
        struct stat st;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
                return -1;
        return elf_deps_read(pread_exact, &fd, (uint64_t)st.st_size, out);
}
