#include "overlay_layers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "path.h"

static void require_owned_dir(int fd, const struct user_info *u, const char *what, const char *path)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                die_errno("--overlay: %s %s", what, path);
        if (!S_ISDIR(st.st_mode))
                die("--overlay: %s %s is not a directory", what, path);
        if (st.st_uid != u->uid)
                die("--overlay: %s %s is not yours (owned by uid %u)", what, path,
                    (unsigned)st.st_uid);
}

/* name in dirfd (AT_FDCWD: path) as a readable directory, never through a
 * symlink there (parents resolve as the user resolves them): pinned with
 * O_PATH first, so what was checked is what gets opened. */
static int open_dir_nofollow(int dirfd, const char *name, const char *what, const char *path)
{
        struct stat st;
        _cleanup_close_ int p = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (p < 0 || fstat(p, &st) < 0)
                die_errno("--overlay: %s %s", what, path);
        if (S_ISLNK(st.st_mode))
                die("--overlay: %s %s is a symbolic link (not followed)", what, path);
        if (!S_ISDIR(st.st_mode))
                die("--overlay: %s %s is not a directory", what, path);
        int fd = openat(p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                die_errno("--overlay: %s %s", what, path);
        return fd;
}

/* DIR/upper or DIR/work: DIR and it the user's own, made when missing. */
static int open_writable_layer(const char *path, const struct user_info *u)
{
        char parent[PATH_MAX];
        char *slash = snprintf(parent, sizeof(parent), "%s", path) < (int)sizeof(parent)
                          ? strrchr(parent, '/')
                          : NULL;
        if (!slash || slash == parent || !slash[1])
                die("--overlay: bad layer %s", path);
        *slash = '\0';
        const char *name = slash + 1;
        _cleanup_close_ int dir = open_dir_nofollow(AT_FDCWD, parent, "directory", parent);
        require_owned_dir(dir, u, "directory", parent);
        if (mkdirat(dir, name, strcmp(name, "work") == 0 ? 0700 : 0755) < 0 && errno != EEXIST)
                die_errno("--overlay: creating %s", path);
        int fd = open_dir_nofollow(dir, name, "layer", path);
        require_owned_dir(fd, u, "layer", path);
        return fd;
}

static void put(FILE *out, struct overlay_layers *l, const char *path, int kind,
                const char *session, const struct user_info *u)
{
        if (path_is_under(path, session)) {
                fputs(path, out);
                return;
        }
        if (l->nfds == MAX_OVERLAY_LAYER_FDS)
                die("--overlay: too many layers");
        int fd = kind == 'l' ? open_dir_nofollow(AT_FDCWD, path, "layer", path)
                             : open_writable_layer(path, u);
        l->fds[l->nfds++] = fd;
        if (kind == 'u')
                l->upper = fd;
        fprintf(out, "/proc/self/fd/%d", fd);
}

void overlay_layers_open(const char *data, const char *session, const struct user_info *u,
                         struct overlay_layers *out)
{
        _cleanup_free_ char *copy = strdup(data);
        size_t len = 0;
        char *save = NULL;
        FILE *f = open_memstream(&out->data, &len);
        out->nfds = 0;
        out->upper = -1;
        if (!copy || !f)
                die("out of memory");
        fs_as_user(u);
        for (char *opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
                fprintf(f, "%s", opt == copy ? "" : ",");
                char *eq = strchr(opt, '=');
                int kind = !eq                                 ? 0
                           : strncmp(opt, "lowerdir=", 9) == 0 ? 'l'
                           : strncmp(opt, "upperdir=", 9) == 0 ? 'u'
                           : strncmp(opt, "workdir=", 8) == 0  ? 'w'
                                                               : 0;
                if (!kind) {
                        fputs(opt, f);
                        continue;
                }
                *eq = '\0';
                fprintf(f, "%s=", opt);
                char *lsave = NULL;
                for (char *p = strtok_r(eq + 1, ":", &lsave); p; p = strtok_r(NULL, ":", &lsave)) {
                        if (p != eq + 1)
                                fputc(':', f);
                        put(f, out, p, kind, session, u);
                }
        }
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): cleanup attribute not modelled
        fs_as_root();
        if (fclose(f) != 0)
                die("out of memory");
}

void overlay_layers_close(struct overlay_layers *l)
{
        for (size_t i = 0; i < l->nfds; i++)
                close(l->fds[i]);
        l->nfds = 0;
        free(l->data);
        l->data = NULL;
}
