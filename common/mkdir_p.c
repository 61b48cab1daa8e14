#include "mkdir_p.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "safepath.h"

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)

struct walk {
        int dirfd;
        bool in_root; /* components resolved inside dirfd as the root */
        mode_t mode;
        mkdir_p_check_fn check;
        void *arg;
};

/* Nothing but slashes left: the component just passed was the last. */
static bool at_end(const char *rest)
{
        return rest[strspn(rest, "/")] == '\0';
}

/* The component `name` of `cur`; `prefix` is the path up to and including
 * it (what the in-root rule resolves, from the root, every time). */
static int open_component(const struct walk *w, int cur, const char *prefix, const char *name)
{
        if (w->in_root)
                return safe_open_in_root(w->dirfd, prefix, DIR_FLAGS, 0);
        return openat(cur, name, DIR_FLAGS | O_NOFOLLOW);
}

/* Refused before anything is made: a name too long, and (below a
 * directory, not in a root) "." or "..". */
static int check_names(const struct walk *w, const char *path)
{
        for (const char *p = path + strspn(path, "/"); *p; p += strspn(p, "/")) {
                size_t n = strcspn(p, "/");
                if (n > NAME_MAX) {
                        errno = ENAMETOOLONG;
                        return -1;
                }
                if (!w->in_root && p[0] == '.' && (n == 1 || (n == 2 && p[1] == '.'))) {
                        errno = EINVAL;
                        return -1;
                }
                p += n;
        }
        return 0;
}

static int walk(const struct walk *w, const char *path)
{
        char buf[PATH_MAX];
        size_t len = strlen(path), pos = 0;
        if (len >= sizeof(buf)) {
                errno = ENAMETOOLONG;
                return -1;
        }
        if (check_names(w, path) < 0)
                return -1;
        memcpy(buf, path, len + 1);
        _cleanup_close_ int cur = openat(w->dirfd, ".", DIR_FLAGS);
        if (cur < 0 || (w->check && w->check(cur, "", at_end(path), w->arg) != 0))
                return -1;
        while (!at_end(path + pos)) {
                char name[NAME_MAX + 1];
                pos += strspn(path + pos, "/");
                size_t n = strcspn(path + pos, "/");
                memcpy(name, path + pos, n);
                name[n] = '\0';
                pos += n;
                buf[pos] = '\0'; /* buf: the prefix so far */
                int next = open_component(w, cur, buf, name);
                if (next < 0 && errno == ENOENT) {
                        /* Made in the directory we hold, then opened by the
                         * same rule: whatever raced in between is checked. */
                        if (mkdirat(cur, name, w->mode) < 0 && errno != EEXIST)
                                return -1;
                        next = open_component(w, cur, buf, name);
                }
                if (next < 0)
                        return -1;
                close(cur);
                cur = next;
                if (w->check && w->check(cur, buf, at_end(path + pos), w->arg) != 0)
                        return -1;
                buf[pos] = path[pos];
        }
        return steal_fd(&cur);
}

int mkdir_p_below(int dirfd, const char *path, mode_t mode, mkdir_p_check_fn check, void *arg)
{
        const struct walk w = {.dirfd = dirfd, .mode = mode, .check = check, .arg = arg};
        return walk(&w, path);
}

int safe_mkdir_p_in_root(int rootfd, const char *path, mode_t mode)
{
        const struct walk w = {.dirfd = rootfd, .in_root = true, .mode = mode};
        /* Most directories asked for exist already (one per layer entry):
         * one resolution instead of one per component. */
        int fd = safe_open_in_root(rootfd, at_end(path) ? "." : path, DIR_FLAGS, 0);
        if (fd >= 0 || errno != ENOENT)
                return fd;
        return walk(&w, path);
}
