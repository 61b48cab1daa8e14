/* fuse/ld_cache: lookups in ld.so.cache files built here (glibc's layout),
 * broken ones, and the host's own cache. */
#include "ld_cache.h"

#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

struct entry {
        int32_t flags;
        uint32_t key, value, osversion;
        uint64_t hwcap;
};

static uint8_t buf[4096];
static size_t len;

/* A new-format cache at base in buf with the given entries: key i is
 * names[2i], value names[2i+1]. Returns the cache's length from base. */
static size_t build_at(size_t base, const char *const *names, const int32_t *flags,
                       const uint64_t *hwcap, uint32_t n)
{
        memset(buf + base, 0, sizeof(buf) - base);
        uint8_t *c = buf + base;
        memcpy(c, "glibc-ld.so.cache1.1", 20);
        memcpy(c + 20, &n, 4);
        size_t str = 48 + (size_t)n * sizeof(struct entry);
        for (uint32_t i = 0; i < n; i++) {
                struct entry e = {.flags = flags[i], .hwcap = hwcap ? hwcap[i] : 0};
                e.key = (uint32_t)str;
                strcpy((char *)c + str, names[2 * i]);
                str += strlen(names[2 * i]) + 1;
                e.value = (uint32_t)str;
                strcpy((char *)c + str, names[2 * i + 1]);
                str += strlen(names[2 * i + 1]) + 1;
                memcpy(c + 48 + i * sizeof(e), &e, sizeof(e));
        }
        return str;
}

static const char *const two[] = {"libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", "libm.so.6",
                                  "/lib/x86_64-linux-gnu/libm.so.6"};
static const int32_t x86[] = {0x0303, 0x0303};

static char path[256];

static bool look(const char *name)
{
        path[0] = '\0';
        return ld_cache_lookup(buf, len, name, 0x0303, path, sizeof(path));
}

static void test_found(void)
{
        len = build_at(0, two, x86, NULL, 2);
        CHECK(look("libm.so.6"));
        CHECK_STR(path, "/lib/x86_64-linux-gnu/libm.so.6");
        CHECK(look("libc.so.6"));
        CHECK_STR(path, "/lib/x86_64-linux-gnu/libc.so.6");
        CHECK(!look("libz.so.1"));
        CHECK(!look("libc.so"));
}

static void test_flags_and_hwcap(void)
{
        static const int32_t other[] = {0x0003, 0x0a03}; /* i386, aarch64 */
        len = build_at(0, two, other, NULL, 2);
        CHECK(!look("libc.so.6"));
        CHECK(!look("libm.so.6"));
        static const uint64_t hw[] = {1ull << 62, 0};
        len = build_at(0, two, x86, hw, 2);
        CHECK(!look("libc.so.6")); /* a glibc-hwcaps subdirectory entry */
        CHECK(look("libm.so.6"));
        CHECK(ld_cache_flags_for(EM_X86_64) == 0x0303);
        CHECK(ld_cache_flags_for(EM_AARCH64) == 0x0a03);
        CHECK(ld_cache_flags_for(EM_NONE) == -1);
}

static void test_old_format_first(void)
{
        /* "ld.so-1.7.0", 2 old entries of 12 bytes, aligned to 8: 40. */
        memset(buf, 0, sizeof(buf));
        memcpy(buf, "ld.so-1.7.0", 11);
        uint32_t n = 2;
        memcpy(buf + 12, &n, 4);
        len = 40 + build_at(40, two, x86, NULL, 2);
        CHECK(look("libm.so.6"));
        CHECK_STR(path, "/lib/x86_64-linux-gnu/libm.so.6");
        n = 0xffffffff; /* old part larger than the file */
        memcpy(buf + 12, &n, 4);
        CHECK(!look("libm.so.6"));
}

static void test_malformed(void)
{
        len = build_at(0, two, x86, NULL, 2);
        /* Truncated anywhere: libm's path is the last string, so it is cut
         * (never read past the end, never a crash). */
        size_t full = len;
        for (len = 0; len < full; len++)
                CHECK(!look("libm.so.6"));
        len = 30;
        CHECK(!look("libc.so.6"));
        /* nlibs far beyond the file. */
        len = build_at(0, two, x86, NULL, 2);
        uint32_t huge = 0x7fffffff;
        memcpy(buf + 20, &huge, 4);
        CHECK(!look("libc.so.6"));
        /* A key or value offset past the end; a relative value. */
        len = build_at(0, two, x86, NULL, 2);
        struct entry e;
        memcpy(&e, buf + 48, sizeof(e));
        e.key = 0xfffffff0;
        memcpy(buf + 48, &e, sizeof(e));
        CHECK(!look("libc.so.6"));
        len = build_at(0, two, x86, NULL, 2);
        memcpy(&e, buf + 48, sizeof(e));
        e.value = (uint32_t)len; /* at the very end: no NUL inside */
        memcpy(buf + 48, &e, sizeof(e));
        CHECK(!look("libc.so.6"));
        static const char *const rel[] = {"libc.so.6", "lib/libc.so.6"};
        len = build_at(0, rel, x86, NULL, 1);
        CHECK(!look("libc.so.6"));
        /* The value must fit the caller's buffer. */
        len = build_at(0, two, x86, NULL, 2);
        CHECK(!ld_cache_lookup(buf, len, "libc.so.6", 0x0303, path, 10));
        memcpy(buf, "glibc-ld.so.cache1.0", 20);
        CHECK(!look("libc.so.6"));
}

static void test_host_cache(void)
{
#if defined(__x86_64__)
        int fd = open("/etc/ld.so.cache", O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > (1 << 22)) {
                if (fd >= 0)
                        close(fd);
                SKIP("no readable /etc/ld.so.cache");
        }
        char *c = malloc((size_t)st.st_size);
        bool ok = c && read(fd, c, (size_t)st.st_size) == st.st_size;
        close(fd);
        CHECK(ok);
        char p[4096];
        CHECK(ok && ld_cache_lookup(c, (size_t)st.st_size, "libc.so.6",
                                    ld_cache_flags_for(EM_X86_64), p, sizeof(p)));
        CHECK(ok && access(p, R_OK) == 0);
        free(c);
#else
        SKIP("the host cache test knows x86_64 only");
#endif
}

int main(void)
{
        RUN(test_found);
        RUN(test_flags_and_hwcap);
        RUN(test_old_format_first);
        RUN(test_malformed);
        RUN(test_host_cache);
        CHECK_DONE();
}
