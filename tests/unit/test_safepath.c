/* safepath: every resolution stays inside the root, with openat2(2) and with
 * the component walk. A file "marker" exists only inside the root; the same
 * name outside the root holds different content, so an escape shows. */
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkdir_p.h"
#include "safepath.h"

static char base[] = "/tmp/test_safepath.XXXXXX";
static char root[sizeof(base) + 16];

static void put(const char *rel, const char *content)
{
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", base, rel);
        FILE *f = fopen(p, "w");
        if (!f) {
                perror(p);
                exit(2);
        }
        fputs(content, f);
        fclose(f);
}

static void link_in_root(const char *target, const char *rel)
{
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        if (symlink(target, p) < 0) {
                perror(p);
                exit(2);
        }
}

/* Read what `path` opens to inside the root ("" on failure). */
static const char *read_in_root(int rootfd, const char *path, char *buf, size_t sz)
{
        int fd = safe_open_in_root(rootfd, path, O_RDONLY, 0);
        ssize_t n;
        buf[0] = '\0';
        if (fd < 0)
                return buf;
        n = read(fd, buf, sz - 1);
        buf[n > 0 ? n : 0] = '\0';
        close(fd);
        return buf;
}

static void run_checks(int rootfd)
{
        char buf[128], last[NAME_MAX + 1];
        struct stat st;
        int fd;

        /* Absolute, relative and ".."-laden symlinks all resolve in the root. */
        CHECK_STR(read_in_root(rootfd, "etc/passwd", buf, sizeof(buf)), "inside");
        CHECK_STR(read_in_root(rootfd, "abs/passwd", buf, sizeof(buf)), "inside");
        CHECK_STR(read_in_root(rootfd, "up/etc/passwd", buf, sizeof(buf)), "inside");
        CHECK_STR(read_in_root(rootfd, "sub/rel/passwd", buf, sizeof(buf)), "inside");
        CHECK_STR(read_in_root(rootfd, "/../../../etc/passwd", buf, sizeof(buf)), "inside");
        CHECK_STR(read_in_root(rootfd, "sub/../../../etc/./passwd", buf, sizeof(buf)), "inside");
        CHECK_STR(read_in_root(rootfd, "pw", buf, sizeof(buf)), "inside");
        CHECK_STR(read_in_root(rootfd, "uppw", buf, sizeof(buf)), "inside");
        /* The file outside the root (base/etc-outside) is never reached. */
        CHECK_STR(read_in_root(rootfd, "escape", buf, sizeof(buf)), "");

        /* safe_open_in_mount: the same confinement, and no other mount. */
        fd = safe_open_in_mount(rootfd, "abs/passwd", O_RDONLY);
        CHECK(fd >= 0 && read(fd, buf, 6) == 6 && memcmp(buf, "inside", 6) == 0);
        if (fd >= 0)
                close(fd);
        CHECK(safe_open_in_mount(rootfd, "escape", O_RDONLY) < 0);
        {
                int slash = open("/", O_PATH | O_DIRECTORY);
                errno = 0;
                CHECK(safe_open_in_mount(slash, "proc/self/status", O_RDONLY) < 0 &&
                      errno == EXDEV);
                close(slash);
        }
        /* safe_open_no_magiclinks: /proc/PID/fd, root, cwd never followed. */
        CHECK(safe_open_no_magiclinks("/proc/self/fd/0", O_PATH) < 0);
        CHECK(safe_open_no_magiclinks("/proc/self/root/tmp", O_PATH) < 0);
        CHECK(safe_open_no_magiclinks("//proc/self/cwd", O_PATH) < 0);
        CHECK(safe_open_no_magiclinks("/dev/fd/0", O_PATH) < 0);
        fd = safe_open_no_magiclinks(root, O_PATH | O_DIRECTORY);
        CHECK(fd >= 0);
        if (fd >= 0)
                close(fd);

        /* Loops end with ELOOP. */
        errno = 0;
        CHECK(safe_open_in_root(rootfd, "loop1", O_RDONLY, 0) < 0 && errno == ELOOP);
        errno = 0;
        CHECK(safe_open_in_root(rootfd, "self/x", O_RDONLY, 0) < 0 && errno == ELOOP);

        /* O_NOFOLLOW on a trailing symlink does not follow it. */
        errno = 0;
        CHECK(safe_open_in_root(rootfd, "abs", O_RDONLY | O_NOFOLLOW, 0) < 0);
        fd = safe_open_in_root(rootfd, "abs", O_PATH | O_NOFOLLOW, 0);
        CHECK(fd >= 0 && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode));
        if (fd >= 0)
                close(fd);

        /* O_CREAT through a dangling absolute symlink creates inside the root. */
        fd = safe_open_in_root(rootfd, "dangle", O_WRONLY | O_CREAT, 0644);
        CHECK(fd >= 0);
        if (fd >= 0)
                close(fd);
        CHECK(faccessat(rootfd, "etc/created", F_OK, 0) == 0);
        unlinkat(rootfd, "etc/created", 0);

        /* mkdir -p through an absolute symlink: made inside the root. */
        fd = safe_mkdir_p_in_root(rootfd, "abs/new/deeper", 0755);
        CHECK(fd >= 0);
        if (fd >= 0) {
                CHECK(fstat(fd, &st) == 0 && S_ISDIR(st.st_mode));
                close(fd);
        }
        CHECK(faccessat(rootfd, "etc/new/deeper", F_OK, AT_SYMLINK_NOFOLLOW) == 0);
        unlinkat(rootfd, "etc/new/deeper", AT_REMOVEDIR);
        unlinkat(rootfd, "etc/new", AT_REMOVEDIR);
        fd = safe_mkdir_p_in_root(rootfd, "", 0755);
        CHECK(fd >= 0);
        if (fd >= 0)
                close(fd);
        CHECK(safe_mkdir_p_in_root(rootfd, "etc/passwd/x", 0755) < 0 && errno == ENOTDIR);

        /* Parent helper. */
        fd = safe_open_parent_in_root(rootfd, "up/etc/passwd//", false, last);
        CHECK(fd >= 0);
        CHECK_STR(last, "passwd");
        if (fd >= 0) {
                CHECK(faccessat(fd, "passwd", F_OK, 0) == 0);
                close(fd);
        }
        fd = safe_open_parent_in_root(rootfd, "top", false, last);
        CHECK(fd >= 0);
        CHECK_STR(last, "top");
        if (fd >= 0)
                close(fd);
        fd = safe_open_parent_in_root(rootfd, "made/by/parent/leaf", true, last);
        CHECK(fd >= 0);
        if (fd >= 0)
                close(fd);
        CHECK(faccessat(rootfd, "made/by/parent", F_OK, 0) == 0);
        CHECK(safe_open_parent_in_root(rootfd, "", false, last) < 0 && errno == EINVAL);
        CHECK(safe_open_parent_in_root(rootfd, "a/.", false, last) < 0 && errno == EINVAL);
        CHECK(safe_open_parent_in_root(rootfd, "a/..", false, last) < 0 && errno == EINVAL);
        CHECK(safe_open_parent_in_root(rootfd, "/", false, last) < 0 && errno == EINVAL);
}

int main(void)
{
        char p[512];
        int rootfd;

        if (!mkdtemp(base)) {
                perror("mkdtemp");
                return 2;
        }
        snprintf(root, sizeof(root), "%s/root", base);
        snprintf(p, sizeof(p), "%s/etc", base);
        mkdir(p, 0755);
        mkdir(root, 0755);
        snprintf(p, sizeof(p), "%s/etc", root);
        mkdir(p, 0755);
        snprintf(p, sizeof(p), "%s/sub", root);
        mkdir(p, 0755);
        put("etc/passwd", "outside");
        put("root/etc/passwd", "inside");
        put("secret", "outside");

        link_in_root("/etc", "abs");
        link_in_root("../../..", "up");
        link_in_root("../../../etc", "sub/rel");
        link_in_root("/etc/passwd", "pw");
        link_in_root("up/etc/passwd", "uppw");
        link_in_root("../secret", "escape");
        link_in_root("loop2", "loop1");
        link_in_root("loop1", "loop2");
        link_in_root("self", "self");
        link_in_root("/etc/created", "dangle");

        rootfd = open(root, O_RDONLY | O_DIRECTORY);
        if (rootfd < 0) {
                perror(root);
                return 2;
        }
        fprintf(stderr, "openat2 pass\n");
        run_checks(rootfd);
        fprintf(stderr, "fallback walk pass\n");
        safepath_force_fallback(true);
        run_checks(rootfd);
        close(rootfd);

        snprintf(p, sizeof(p), "rm -rf '%s'", base);
        if (system(p) != 0)
                fprintf(stderr, "could not remove %s\n", base);
        CHECK_DONE();
}
