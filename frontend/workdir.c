/* -W/--workdir, -S/--scratch: where a container's scratch space lives. */
#include "workdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bind_spec.h"
#include "cleanup.h"

/* mkdir DIR/NAME (0700) unless it is a directory already; never follows a
 * symlink planted there. */
static int make_subdir(int dirfd, const char *dir, const char *name, sing_err_t *e)
{
        struct stat st;
        if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
                return err_errno(e, "--workdir: creating %s/%s", dir, name);
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                return err_set(e, "--workdir: %s/%s is not a directory", dir, name);
        return 0;
}

static int add_bind(struct strv *binds, const char *src, const char *dst, sing_err_t *e)
{
        _cleanup_free_ char *spec = bind_spec_format(src, dst, false);
        if (!spec || strv_push(binds, spec) < 0)
                return err_set(e, "out of memory");
        return 0;
}

/* The scratch directory's name under WORKDIR/scratch: its container path
 * with '/' as '_' ("/scratch/a" -> "scratch_a"), unique per destination. */
static char *scratch_name(const char *dest)
{
        char *name = strdup(dest + strspn(dest, "/"));
        for (char *p = name; p && *p; p++)
                if (*p == '/')
                        *p = '_';
        return name;
}

static int check_scratch(const char *dest, sing_err_t *e)
{
        if (dest[0] != '/' || dest[strspn(dest, "/")] == '\0')
                return err_set(e, "--scratch %s: must be an absolute path other than /", dest);
        for (const char *p = dest; *p; p++)
                if (strncmp(p, "/..", 3) == 0 && (p[3] == '/' || p[3] == '\0'))
                        return err_set(e, "--scratch %s: \"..\" is not allowed", dest);
        return 0;
}

int workdir_prepare(const struct workdir_request *req, struct workdir_plan *out, sing_err_t *e)
{
        memset(out, 0, sizeof(*out));
        for (size_t i = 0; i < req->scratch->n; i++)
                if (check_scratch(req->scratch->v[i], e) < 0)
                        return -1;
        if (!req->workdir) {
                for (size_t i = 0; i < req->scratch->n; i++)
                        if (strv_push(&out->tmpfs, req->scratch->v[i]) < 0)
                                return err_set(e, "out of memory");
                return 0;
        }
        _cleanup_free_ char *dir = NULL;
        if (req->workdir[0] == '/' || !req->cwd)
                dir = strdup(req->workdir);
        else if (asprintf(&dir, "%s/%s", req->cwd, req->workdir) < 0)
                dir = NULL;
        if (!dir)
                return err_set(e, "out of memory");
        _cleanup_close_ int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return err_errno(e, "--workdir %s", dir);
        if (req->scratch->n) {
                _cleanup_free_ char *sdir = NULL;
                if (make_subdir(fd, dir, "scratch", e) < 0)
                        return -1;
                if (asprintf(&sdir, "%s/scratch", dir) < 0)
                        return err_set(e, "out of memory");
                _cleanup_close_ int sfd =
                    openat(fd, "scratch", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sfd < 0)
                        return err_errno(e, "--workdir: %s", sdir);
                for (size_t i = 0; i < req->scratch->n; i++) {
                        _cleanup_free_ char *name = scratch_name(req->scratch->v[i]), *src = NULL;
                        if (!name || asprintf(&src, "%s/%s", sdir, name) < 0)
                                return err_set(e, "out of memory");
                        if (make_subdir(sfd, sdir, name, e) < 0 ||
                            add_bind(&out->binds, src, req->scratch->v[i], e) < 0)
                                return -1;
                }
        }
        if (!req->contain)
                return 0;
        static const char *const backed[][2] = {{"tmp", "/tmp"}, {"var_tmp", "/var/tmp"}};
        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *src = NULL;
                if (make_subdir(fd, dir, backed[i][0], e) < 0)
                        return -1;
                if (asprintf(&src, "%s/%s", dir, backed[i][0]) < 0)
                        return err_set(e, "out of memory");
                if (add_bind(&out->binds, src, backed[i][1], e) < 0)
                        return -1;
        }
        if (!req->home_given && req->home_dest) {
                _cleanup_free_ char *src = NULL;
                if (make_subdir(fd, dir, "home", e) < 0)
                        return -1;
                if (asprintf(&src, "%s/home", dir) < 0)
                        return err_set(e, "out of memory");
                /* The starter's --home SRC:DST (no escapes, as --home takes). */
                if (asprintf(&out->home_spec, "%s:%s", src, req->home_dest) < 0) {
                        out->home_spec = NULL;
                        return err_set(e, "out of memory");
                }
        }
        return 0;
}

void workdir_plan_free(struct workdir_plan *p)
{
        strv_free(&p->binds);
        strv_free(&p->tmpfs);
        free(p->home_spec);
        memset(p, 0, sizeof(*p));
}
