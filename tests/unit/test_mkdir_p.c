/* mkdir_p_below: makes what is missing, nothing through a symlink or above
 * its directory, and shows every directory on the way to the check.
 * (safe_mkdir_p_in_root, the same walk resolving inside a root, is tested
 * in test_safepath.c.) */
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkdir_p.h"
#include "remove_tree.h"

static char base[] = "/tmp/test_mkdir_p.XXXXXX";
static int basefd = -1;

static bool is_dir(const char *rel)
{
        struct stat st;
        return fstatat(basefd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *rel)
{
        struct stat st;
        return fstatat(basefd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool same_dir(int fd, const char *rel)
{
        struct stat a, b;
        return fd >= 0 && fstat(fd, &a) == 0 && fstatat(basefd, rel, &b, 0) == 0 &&
               a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void test_makes_missing_components_with_mode(void)
{
        int fd = mkdir_p_below(basefd, "a/b//c/", 0710, NULL, NULL);
        struct stat st;
        CHECK(same_dir(fd, "a/b/c"));
        CHECK(fstatat(basefd, "a/b", &st, 0) == 0 && (st.st_mode & 07777) == 0710);
        CHECK(fstatat(basefd, "a/b/c", &st, 0) == 0 && (st.st_mode & 07777) == 0710);
        /* The descriptor is usable for *at() calls and fchmod. */
        CHECK(fd >= 0 && mkdirat(fd, "d", 0700) == 0 && is_dir("a/b/c/d"));
        CHECK(fd >= 0 && fchmod(fd, 0700) == 0);
        if (fd >= 0)
                close(fd);
}

static void test_existing_path_is_opened(void)
{
        CHECK(mkdirat(basefd, "have", 0755) == 0 && mkdirat(basefd, "have/it", 0755) == 0);
        int fd = mkdir_p_below(basefd, "have/it", 0700, NULL, NULL);
        struct stat st;
        CHECK(same_dir(fd, "have/it"));
        /* An existing directory keeps its mode. */
        CHECK(fstatat(basefd, "have/it", &st, 0) == 0 && (st.st_mode & 07777) == 0755);
        if (fd >= 0)
                close(fd);
}

static void test_empty_path_is_the_directory_itself(void)
{
        int fd = mkdir_p_below(basefd, "", 0700, NULL, NULL);
        CHECK(same_dir(fd, "."));
        if (fd >= 0)
                close(fd);
        fd = mkdir_p_below(basefd, "//", 0700, NULL, NULL);
        CHECK(same_dir(fd, "."));
        if (fd >= 0)
                close(fd);
}

static void test_never_through_a_symlink(void)
{
        CHECK(mkdirat(basefd, "elsewhere", 0755) == 0);
        CHECK(symlinkat("elsewhere", basefd, "link") == 0);
        errno = 0;
        CHECK(mkdir_p_below(basefd, "link/x", 0700, NULL, NULL) < 0 &&
              (errno == ELOOP || errno == ENOTDIR));
        CHECK(!exists("elsewhere/x"));
        /* A symlink as the last component is refused as well. */
        errno = 0;
        CHECK(mkdir_p_below(basefd, "link", 0700, NULL, NULL) < 0 &&
              (errno == ELOOP || errno == ENOTDIR));
}

static void test_a_file_on_the_way(void)
{
        int f = openat(basefd, "file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        CHECK(f >= 0);
        if (f >= 0)
                close(f);
        errno = 0;
        CHECK(mkdir_p_below(basefd, "file/x", 0700, NULL, NULL) < 0 && errno == ENOTDIR);
}

static void test_dot_and_dotdot_refused(void)
{
        errno = 0;
        CHECK(mkdir_p_below(basefd, "up/../escaped", 0700, NULL, NULL) < 0 && errno == EINVAL);
        CHECK(!exists("escaped") && !exists("up"));
        errno = 0;
        CHECK(mkdir_p_below(basefd, "dot/./x", 0700, NULL, NULL) < 0 && errno == EINVAL);
        CHECK(!exists("dot/x"));
}

static void test_long_component(void)
{
        char name[NAME_MAX + 2];
        memset(name, 'n', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        errno = 0;
        CHECK(mkdir_p_below(basefd, name, 0700, NULL, NULL) < 0 && errno == ENAMETOOLONG);
}

/* The check: what it was shown, and a refusal at "p/q". */
struct seen {
        char log[256];
        int fds_ok;
};

static int record(int fd, const char *prefix, bool last, void *arg)
{
        struct seen *s = arg;
        struct stat st;
        size_t n = strlen(s->log);
        snprintf(s->log + n, sizeof(s->log) - n, "[%s%s]", prefix, last ? " last" : "");
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && same_dir(fd, *prefix ? prefix : "."))
                s->fds_ok++;
        if (strcmp(prefix, "p/q") == 0) {
                errno = EACCES;
                return -1;
        }
        return 0;
}

static void test_check_sees_every_directory(void)
{
        struct seen s = {""};
        int fd = mkdir_p_below(basefd, "m/n/", 0700, record, &s);
        CHECK(same_dir(fd, "m/n"));
        CHECK_STR(s.log, "[][m][m/n last]");
        CHECK(s.fds_ok == 3);
        if (fd >= 0)
                close(fd);

        struct seen empty = {""};
        fd = mkdir_p_below(basefd, "", 0700, record, &empty);
        CHECK(fd >= 0);
        CHECK_STR(empty.log, "[ last]");
        if (fd >= 0)
                close(fd);
}

static void test_check_stops_the_walk(void)
{
        struct seen s = {""};
        errno = 0;
        CHECK(mkdir_p_below(basefd, "p/q/r/s", 0700, record, &s) < 0 && errno == EACCES);
        CHECK_STR(s.log, "[][p][p/q]");
        CHECK(is_dir("p/q") && !exists("p/q/r"));
}

int main(void)
{
        umask(0);
        if (!mkdtemp(base) || (basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                perror(base);
                return 2;
        }
        RUN(test_makes_missing_components_with_mode);
        RUN(test_existing_path_is_opened);
        RUN(test_empty_path_is_the_directory_itself);
        RUN(test_never_through_a_symlink);
        RUN(test_a_file_on_the_way);
        RUN(test_dot_and_dotdot_refused);
        RUN(test_long_component);
        RUN(test_check_sees_every_directory);
        RUN(test_check_stops_the_walk);
        close(basefd);
        remove_tree(base);
        CHECK_DONE();
}
