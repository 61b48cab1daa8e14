/* common/lib_dirs: ld.so's default directories, in its order, for the
 * machines with a multiarch triplet and for one without. */
#include "lib_dirs.h"

#include <elf.h>
#include <string.h>

#include "check.h"

/* Every location of name for machine, joined by spaces. */
static void all_paths(uint16_t machine, const char *name, char *out, size_t size)
{
        char buf[256];
        out[0] = '\0';
        for (unsigned i = 0;; i++) {
                int got = lib_default_path(machine, i, name, buf, sizeof(buf));
                if (got == 0)
                        break;
                if (got < 0)
                        continue;
                if (out[0])
                        strncat(out, " ", size - strlen(out) - 1);
                strncat(out, buf, size - strlen(out) - 1);
        }
}

static void test_multiarch_first(void)
{
        char out[1024];
        all_paths(EM_X86_64, "libc.so.6", out, sizeof(out));
        CHECK_STR(out, "/lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc.so.6 "
                       "/lib64/libc.so.6 /usr/lib64/libc.so.6 /lib/libc.so.6 /usr/lib/libc.so.6");
        all_paths(EM_AARCH64, "libm.so.6", out, sizeof(out));
        CHECK(strncmp(out, "/lib/aarch64-linux-gnu/libm.so.6 ", 33) == 0);
}

static void test_no_triplet(void)
{
        char out[1024];
        all_paths(EM_386, "libc.so.6", out, sizeof(out));
        CHECK_STR(out, "/lib64/libc.so.6 /usr/lib64/libc.so.6 /lib/libc.so.6 /usr/lib/libc.so.6");
}

static void test_too_long(void)
{
        char small[17]; /* "/lib64/libc.so.6" and its NUL, exactly */
        CHECK(lib_default_path(EM_X86_64, 0, "libc.so.6", small, sizeof(small)) == -1);
        CHECK(lib_default_path(EM_X86_64, 2, "libc.so.6", small, sizeof(small)) == 1);
        CHECK_STR(small, "/lib64/libc.so.6");
        CHECK(lib_default_path(EM_X86_64, 6, "libc.so.6", small, sizeof(small)) == 0);
}

int main(void)
{
        RUN(test_multiarch_first);
        RUN(test_no_triplet);
        RUN(test_too_long);
        CHECK_DONE();
}
