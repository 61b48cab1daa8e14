#include "config_check.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build_config.h"
#include "cleanup.h"
#include "inherited_fds.h"
#include "log.h"

static void refuse_user_namespace(void)
{
        char buf[128], *p, *end;
        unsigned long v[3];
        _cleanup_close_ int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                die_errno("reading /proc/self/uid_map (is /proc mounted?)");
        buf[n] = '\0';
        /* The initial namespace maps everything: "0 0 4294967295", one line;
         * anything else (an empty map too) is a user namespace. */
        p = buf;
        bool ok = true;
        for (int i = 0; i < 3 && ok; i++, p = end) {
                errno = 0;
                v[i] = strtoul(p, &end, 10);
                ok = end != p && errno == 0;
        }
        while (ok && (*p == ' ' || *p == '\n'))
                p++;
        if (!ok || v[0] != 0 || v[1] != 0 || v[2] != 4294967295UL || *p != '\0')
                die("refusing to run inside a user namespace (/proc/self/uid_map is not the "
                    "initial one)");
}

void sanitize_process(void)
{
        inherited_fds_record();
        for (int fd = 0; fd <= 2; fd++) {
                if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
                        continue;
                /* open() returns the lowest free fd: this one. */
                if (open("/dev/null", O_RDWR) != fd)
                        die_errno("opening /dev/null for fd %d", fd);
        }
        refuse_user_namespace();
}

/* What may write to the object: `writers` is the set of mode bits that
 * must be clear (a root-owned sticky parent is fine where sticky_ok). */
static void check_owner_mode(const struct stat *st, bool need_root, mode_t writers, bool sticky_ok,
                             const char *what, const char *path, const char *obj)
{
        if (need_root && st->st_uid != 0)
                die("%s %s: %s is not owned by root", what, path, obj);
        if ((st->st_mode & writers) && !(sticky_ok && st->st_uid == 0 && (st->st_mode & S_ISVTX)))
                die("%s %s: %s is writable by %s", what, path, obj,
                    writers & S_IWGRP ? "group or others" : "others");
}

/* The object behind fd, then its real path (resolved by the kernel) up to /. */
static void check_object_and_parents(int fd, bool need_root, mode_t writers, const char *what,
                                     const char *path)
{
        char link[64], real[PATH_MAX];
        struct stat st;
        ssize_t n;
        if (fstat(fd, &st) < 0)
                die_errno("%s %s", what, path);
        check_owner_mode(&st, need_root, writers, false, what, path, path);
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, real, sizeof(real) - 1);
        if (n <= 0 || real[0] != '/')
                die("%s %s: cannot resolve its path", what, path);
        real[n] = '\0';
        while (strcmp(real, "/") != 0) {
                char *slash = strrchr(real, '/');
                slash[slash == real ? 1 : 0] = '\0';
                if (lstat(real, &st) < 0)
                        die_errno("%s %s: %s", what, path, real);
                if (!S_ISDIR(st.st_mode))
                        die("%s %s: %s is not a directory", what, path, real);
                check_owner_mode(&st, need_root, writers, true, what, path, real);
        }
}

void require_root_owned(int fd, const char *what, const char *path)
{
        check_object_and_parents(fd, true, S_IWGRP | S_IWOTH, what, path);
}

void require_not_writable(int fd, mode_t writers, const char *what, const char *path)
{
        check_object_and_parents(fd, false, writers, what, path);
}

void config_load(struct sing_config *cfg, bool privileged)
{
        sing_err_t err;
        /* Not a symlink, not a FIFO or device: the file itself, checked next. */
        _cleanup_close_ int fd = config_open(SING_CONFIG_PATH, true, &err);
        if (fd < 0)
                die("config file: %s", err.msg);
        if (privileged)
                require_root_owned(fd, "config file", SING_CONFIG_PATH);
        /* The parser fills cfg itself, defaults first. */
        if (config_parse_fd(fd, SING_CONFIG_PATH, cfg, &err) < 0)
                die("%s", err.msg);
}
