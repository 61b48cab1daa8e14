/* common/elf_deps: PT_INTERP and DT_NEEDED from ELF files built here, good
 * and broken the ways a crafted image could break them, and the host's own
 * /bin/sh. */
#include "elf_deps.h"

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define SIZE 0x1000
#define INTERP_OFF 0x200
#define STR_OFF 0x300
#define DYN_OFF 0x400
#define VADDR 0x400000

static uint8_t img[SIZE];

struct mem {
        const uint8_t *buf;
        size_t len;
        int reads;
};

static int mem_read(void *ctx, uint64_t off, void *buf, size_t len)
{
        struct mem *m = ctx;
        m->reads++;
        if (off > m->len || len > m->len - off)
                return -1;
        memcpy(buf, m->buf + off, len);
        return 0;
}

static Elf64_Ehdr *ehdr(void)
{
        return (Elf64_Ehdr *)img;
}

static Elf64_Phdr *phdr(int i)
{
        return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i;
}

static Elf64_Dyn *dyn(int i)
{
        return (Elf64_Dyn *)(img + DYN_OFF) + i;
}

/* A small dynamic executable: interpreter /lib64/ld.so, needs libc.so.6
 * and libm.so.6. */
static void build(void)
{
        memset(img, 0, sizeof(img));
        Elf64_Ehdr *e = ehdr();
        memcpy(e->e_ident, ELFMAG, SELFMAG);
        e->e_ident[EI_CLASS] = ELFCLASS64;
        e->e_ident[EI_DATA] = ELFDATA2LSB;
        e->e_type = ET_DYN;
        e->e_machine = EM_X86_64;
        e->e_phoff = sizeof(Elf64_Ehdr);
        e->e_phentsize = sizeof(Elf64_Phdr);
        e->e_phnum = 3;
        *phdr(0) = (Elf64_Phdr){
            .p_type = PT_LOAD, .p_offset = 0, .p_vaddr = VADDR, .p_filesz = SIZE, .p_memsz = SIZE};
        static const char interp[] = "/lib64/ld.so";
        memcpy(img + INTERP_OFF, interp, sizeof(interp));
        *phdr(1) =
            (Elf64_Phdr){.p_type = PT_INTERP, .p_offset = INTERP_OFF, .p_filesz = sizeof(interp)};
        static const char strs[] = "\0libc.so.6\0libm.so.6";
        memcpy(img + STR_OFF, strs, sizeof(strs));
        *phdr(2) = (Elf64_Phdr){
            .p_type = PT_DYNAMIC, .p_offset = DYN_OFF, .p_filesz = 5 * sizeof(Elf64_Dyn)};
        *dyn(0) = (Elf64_Dyn){.d_tag = DT_NEEDED, .d_un.d_val = 1};
        *dyn(1) = (Elf64_Dyn){.d_tag = DT_NEEDED, .d_un.d_val = 11};
        *dyn(2) = (Elf64_Dyn){.d_tag = DT_STRTAB, .d_un.d_ptr = VADDR + STR_OFF};
        *dyn(3) = (Elf64_Dyn){.d_tag = DT_STRSZ, .d_un.d_val = sizeof(strs)};
        *dyn(4) = (Elf64_Dyn){.d_tag = DT_NULL};
}

static struct elf_deps deps;

static int parse(size_t len)
{
        struct mem m = {img, len, 0};
        return elf_deps_read(mem_read, &m, len, &deps);
}

static void test_good_file(void)
{
        build();
        CHECK(parse(SIZE) == 0);
        CHECK(deps.machine == EM_X86_64);
        CHECK_STR(deps.interp, "/lib64/ld.so");
        CHECK(deps.n_needed == 2);
        CHECK_STR(deps.needed[0], "libc.so.6");
        CHECK_STR(deps.needed[1], "libm.so.6");
}

static void test_not_elf(void)
{
        build();
        img[1] = 'X';
        CHECK(parse(SIZE) == -1);
        build();
        ehdr()->e_ident[EI_CLASS] = ELFCLASS32;
        CHECK(parse(SIZE) == -1);
        build();
        ehdr()->e_type = ET_REL;
        CHECK(parse(SIZE) == -1);
        CHECK(parse(10) == -1); /* shorter than a header */
        CHECK(parse(0) == -1);
}

static void test_absurd_program_headers(void)
{
        build();
        ehdr()->e_phnum = 0xffff;
        CHECK(parse(SIZE) == -1);
        build();
        ehdr()->e_phoff = UINT64_MAX - 8; /* offset + size overflows */
        CHECK(parse(SIZE) == -1);
        build();
        ehdr()->e_phoff = SIZE - 8; /* runs past the end */
        CHECK(parse(SIZE) == -1);
        build();
        ehdr()->e_phentsize = 32;
        CHECK(parse(SIZE) == -1);
        build();
        ehdr()->e_phnum = 0;
        CHECK(parse(SIZE) == -1);
        build();
        CHECK(parse(DYN_OFF) == -1); /* truncated: the dynamic section is gone */
}

static void test_bad_interp(void)
{
        build();
        phdr(1)->p_filesz = 4; /* "/lib" without its NUL */
        CHECK(parse(SIZE) == -1);
        CHECK(deps.interp[0] == '\0');
        build();
        phdr(1)->p_filesz = UINT64_MAX;
        CHECK(parse(SIZE) == -1);
        build();
        phdr(1)->p_offset = UINT64_MAX - 4;
        CHECK(parse(SIZE) == -1);
}

static void test_bad_needed_offsets(void)
{
        build();
        dyn(0)->d_un.d_val = 1000; /* beyond DT_STRSZ: skipped */
        dyn(1)->d_un.d_val = UINT64_MAX;
        CHECK(parse(SIZE) == 0);
        CHECK(deps.n_needed == 0);
        build();
        dyn(2)->d_un.d_ptr = 0x10; /* DT_STRTAB in no PT_LOAD segment */
        CHECK(parse(SIZE) == -1);
        build();
        dyn(2)->d_un.d_ptr = UINT64_MAX;
        CHECK(parse(SIZE) == -1);
        /* A huge DT_STRSZ ends at the end of the file, and a name there
         * without its NUL is skipped. */
        build();
        dyn(3)->d_un.d_val = UINT64_MAX;
        memset(img + SIZE - 8, 'a', 8);
        dyn(1)->d_un.d_val = SIZE - 8 - STR_OFF;
        CHECK(parse(SIZE) == 0);
        CHECK(deps.n_needed == 1);
        CHECK_STR(deps.needed[0], "libc.so.6");
        /* An empty name is no library. */
        build();
        dyn(0)->d_un.d_val = 0;
        CHECK(parse(SIZE) == 0);
        CHECK(deps.n_needed == 1);
}

static void test_bad_dynamic_segment(void)
{
        build();
        phdr(2)->p_filesz = UINT64_MAX; /* more entries than the file holds */
        CHECK(parse(SIZE) == -1);
        build();
        phdr(2)->p_offset = UINT64_MAX - 16;
        CHECK(parse(SIZE) == -1);
        /* No DT_NULL: the walk stops at the end of the segment. */
        build();
        *dyn(4) = (Elf64_Dyn){.d_tag = DT_NEEDED, .d_un.d_val = 1};
        phdr(2)->p_filesz = 5 * sizeof(Elf64_Dyn);
        CHECK(parse(SIZE) == 0);
        CHECK(deps.n_needed == 3);
}

static void test_needed_count_bounded(void)
{
        build();
        /* More DT_NEEDED entries than are kept, then the table: only the
         * first ELF_DEPS_MAX_NEEDED count. */
        size_t room = (SIZE - DYN_OFF) / sizeof(Elf64_Dyn);
        int n = (int)room - 3;
        CHECK(n > ELF_DEPS_MAX_NEEDED);
        for (int i = 0; i < n; i++)
                *dyn(i) = (Elf64_Dyn){.d_tag = DT_NEEDED, .d_un.d_val = 1};
        *dyn(n) = (Elf64_Dyn){.d_tag = DT_STRTAB, .d_un.d_ptr = VADDR + STR_OFF};
        *dyn(n + 1) = (Elf64_Dyn){.d_tag = DT_STRSZ, .d_un.d_val = 21};
        *dyn(n + 2) = (Elf64_Dyn){.d_tag = DT_NULL};
        phdr(2)->p_filesz = room * sizeof(Elf64_Dyn);
        CHECK(parse(SIZE) == 0);
        CHECK(deps.n_needed == ELF_DEPS_MAX_NEEDED);
}

/* The host's shell (dash or bash) is dynamic and needs libc: read through
 * the fd variant, which refuses anything but a regular file. */
static void test_host_shell(void)
{
        int fd = open("/bin/sh", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                SKIP("no /bin/sh");
        int rc = elf_deps_read_fd(fd, &deps);
        close(fd);
        CHECK(rc == 0);
        CHECK(deps.interp[0] == '/');
        bool libc = false;
        for (size_t i = 0; i < deps.n_needed; i++)
                libc = libc || strcmp(deps.needed[i], "libc.so.6") == 0;
        CHECK(libc);
        int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(dir >= 0 && elf_deps_read_fd(dir, &deps) == -1);
        close(dir);
}

int main(void)
{
        RUN(test_good_file);
        RUN(test_not_elf);
        RUN(test_absurd_program_headers);
        RUN(test_bad_interp);
        RUN(test_bad_needed_offsets);
        RUN(test_bad_dynamic_segment);
        RUN(test_needed_count_bounded);
        RUN(test_host_shell);
        CHECK_DONE();
}
