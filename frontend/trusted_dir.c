#include "trusted_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "mkdir_p.h"

/* The longest existing prefix of path, resolved, plus the rest (to be
 * created) appended unresolved. "." and ".." are refused in the rest: they
 * would mean something else once created. */
static char *resolve(const char *path, sing_err_t *e)
{
        _cleanup_free_ char *head = strdup(path);
        char *out = NULL, *real = NULL, *slash;
        size_t len;
        if (!head) {
                err_set(e, "out of memory");
                return NULL;
        }
        for (;;) {
                real = realpath(head, NULL);
                if (real || errno != ENOENT)
                        break;
                slash = strrchr(head, '/');
                if (!slash || slash == head) {
                        real = strdup("/");
                        head[1] = '\0';
                        break;
                }
                *slash = '\0';
        }
        if (!real) {
                err_errno(e, "%s", head);
                return NULL;
        }
        len = strlen(head);
        for (const char *p = path + len; *p;) {
                size_t n;
                while (*p == '/')
                        p++;
                n = strcspn(p, "/");
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
                        free(real);
                        err_set(e, "%s: \".\" and \"..\" are not allowed in a directory to create",
                                path);
                        return NULL;
                }
                p += n;
        }
        if (asprintf(&out, "%s%s%s", real, strcmp(real, "/") == 0 ? "" : "/",
                     path[len] == '/' ? path + len + 1 : path + len) < 0)
                out = NULL;
        free(real);
        if (!out)
                err_set(e, "out of memory");
        else
                for (len = strlen(out); len > 1 && out[len - 1] == '/'; len--)
                        out[len - 1] = '\0';
        return out;
}

/* May others change what names in this parent directory point to? */
static int check_parent(const struct stat *st, const char *what, const char *top, const char *dir,
                        sing_err_t *e)
{
        uid_t me = geteuid();
        if (st->st_uid != 0 && st->st_uid != me)
                return err_set(e,
                               "%s %s: its parent %s belongs to uid %u, who could replace it; "
                               "use a directory under one only you and root control",
                               what, top, dir, (unsigned)st->st_uid);
        if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
                return err_set(e,
                               "%s %s: its parent %s is writable by other users, who could "
                               "swap it; use a directory under one only you and root can write",
                               what, top, dir);
        return 0;
}

bool trusted_dir_sealed(const struct stat *st)
{
        return (st->st_uid == 0 || st->st_uid == geteuid()) && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

bool trusted_dir_needs_private(const struct stat *st)
{
        if (!(st->st_mode & 0077))
                return false;
        /* Root's directory that others may read but not write: an
         * administrator's shared cache, opened to users on purpose. */
        if (geteuid() == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH)))
                return false;
        return true;
}

/* The directory itself, once reached: ours and writable (the group and
 * other bits cleared), or, when the caller accepts it, one we may only
 * read (left as it is). */
static int check_final(int fd, const struct stat *st, const char *what, const char *full,
                       bool *read_only, sing_err_t *e)
{
        bool writable = st->st_uid == geteuid() && faccessat(fd, ".", W_OK, AT_EACCESS) == 0;
        if (!writable && read_only) {
                if (st->st_uid != 0 && st->st_uid != geteuid())
                        return err_set(e, "%s %s is owned by uid %u, not by you or root", what,
                                       full, (unsigned)st->st_uid);
                if (!trusted_dir_sealed(st))
                        return err_set(e,
                                       "%s %s is not writable by you but is by other users, who "
                                       "could change what it holds; refusing it",
                                       what, full);
                *read_only = true;
                return 0;
        }
        if (st->st_uid != geteuid())
                return err_set(e, "%s %s is owned by uid %u, not by you", what, full,
                               (unsigned)st->st_uid);
        if (!trusted_dir_needs_private(st))
                return 0;
        if (fchmod(fd, st->st_mode & 0700) < 0)
                return err_errno(e, "cannot make %s %s private", what, full);
        return 0;
}

struct walk_ctx {
        const char *what, *path, *full;
        bool *read_only;
        sing_err_t *e;
        bool said; /* the walk stopped here, with the message in e */
};

/* Every directory on the way (mkdir_p_below): a parent must be one others
 * cannot change (check_parent), the last one passes check_final. */
static int check_step(int fd, const char *prefix, bool last, void *arg)
{
        struct walk_ctx *c = arg;
        struct stat st;
        char dir[PATH_MAX + 1];
        c->said = true;
        if (fstat(fd, &st) < 0)
                return err_errno(c->e, "%s %s", c->what, c->full);
        if (!last) {
                snprintf(dir, sizeof(dir), "/%s", prefix);
                if (check_parent(&st, c->what, c->path, dir, c->e) < 0)
                        return -1;
        } else if (check_final(fd, &st, c->what, c->full, c->read_only, c->e) < 0) {
                return -1;
        }
        c->said = false;
        return 0;
}

int trusted_dir_open(const char *path, const char *what, bool *read_only, char **canon,
                     sing_err_t *e)
{
        _cleanup_free_ char *full = NULL;
        _cleanup_close_ int top = -1;
        int fd;

        *canon = NULL;
        if (read_only)
                *read_only = false;
        if (path[0] != '/')
                return err_set(e, "%s %s: must be an absolute path", what, path);
        if (!(full = resolve(path, e)))
                return -1;
        top = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (top < 0)
                return err_errno(e, "/");
        struct walk_ctx c = {
            .what = what, .path = path, .full = full, .read_only = read_only, .e = e};
        fd = mkdir_p_below(top, full + 1, 0700, check_step, &c);
        if (fd < 0 && c.said)
                return -1;
        if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
                return err_set(e,
                               "%s %s: %s changed into a symlink or a non-directory while it "
                               "was opened",
                               what, path, full);
        if (fd < 0)
                return err_errno(e, "cannot open or create %s %s", what, full);
        *canon = steal_ptr(&full);
        return fd;
}
