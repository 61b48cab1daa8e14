#include "image_open.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "config_check.h"
#include "path.h"
#include "remove_tree.h"
#include "log.h"
#include "mount_plan.h"
#include "safepath.h"

static bool kind_allowed(const struct sing_config *cfg, enum image_kind kind, const char **key)
{
        switch (kind) {
        case IMAGE_SIF:
                *key = "allow container sif";
                return cfg->allow_container_sif;
        case IMAGE_SQUASHFS:
        case IMAGE_SIMG:
                *key = "allow container squashfs";
                return cfg->allow_container_squashfs;
        case IMAGE_DIR:
                *key = "allow container dir";
                return cfg->allow_container_dir;
        }
        return false;
}

/* The type of the file system holding fd, from the starter's own
 * /proc/self/mountinfo; false when that mount is not in our mount namespace
 * (a path through another namespace, such as a user's private tmpfs). */
static bool mount_fstype(int fd, char type[64])
{
        struct statx stx;
        char *line = NULL;
        size_t cap = 0;
        bool found = false;
        if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 || !(stx.stx_mask & STATX_MNT_ID))
                die_errno("finding the mount of the image");
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                die_errno("reading /proc/self/mountinfo");
        /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - TYPE SOURCE SUPER" */
        while (!found && getline(&line, &cap, f) > 0) {
                char *sep = strstr(line, " - "), *end;
                unsigned long long id = strtoull(line, &end, 10);
                if (end != line && *end == ' ' && id == stx.stx_mnt_id && sep) {
                        sep += 3;
                        snprintf(type, 64, "%.*s", (int)strcspn(sep, " \n"), sep);
                        found = true;
                }
        }
        free(line);
        return found;
}

/* Where the image lives: in our mount namespace (always), and, when the
 * admin trusts only some owners or groups, on a file system whose owners
 * mean something (not FUSE, whose server reports any owner) and where no
 * one else could have written it. */
static void check_location(const struct sing_config *cfg, const struct opened_image *img)
{
        char type[64];
        if (!mount_fstype(img->fd, type))
                die("image %s: its file system is not mounted in the starter's mount namespace",
                    img->path);
        if (!cfg->limit_container_owners && !cfg->limit_container_groups)
                return;
        if (strcmp(type, "fuse") == 0 || strncmp(type, "fuse.", 5) == 0 ||
            strcmp(type, "fuseblk") == 0)
                die("image %s: on a FUSE file system (%s), whose owners cannot satisfy `limit "
                    "container owners` or `limit container groups`",
                    img->path, type);
        /* Owners trusted: nobody else may write. Groups trusted: the group may. */
        require_not_writable(img->fd, cfg->limit_container_owners ? S_IWGRP | S_IWOTH : S_IWOTH,
                             "image", img->path);
}

/* `limit container owners|groups|paths`: NULL list means no limit. */
static void check_limits(const struct sing_config *cfg, const struct opened_image *img)
{
        bool ok = !cfg->limit_container_owners;
        for (char **n = cfg->limit_container_owners; n && *n && !ok; n++) {
                struct passwd *pw = getpwnam(*n);
                ok = pw && pw->pw_uid == img->st.st_uid;
        }
        if (!ok)
                die("image %s: its owner (uid %u) is not in `limit container owners`", img->path,
                    (unsigned)img->st.st_uid);
        ok = !cfg->limit_container_groups;
        for (char **n = cfg->limit_container_groups; n && *n && !ok; n++) {
                struct group *gr = getgrnam(*n);
                ok = gr && gr->gr_gid == img->st.st_gid;
        }
        if (!ok)
                die("image %s: its group (gid %u) is not in `limit container groups`", img->path,
                    (unsigned)img->st.st_gid);
        ok = !cfg->limit_container_paths;
        for (char **p = cfg->limit_container_paths; p && *p && !ok; p++)
                ok = path_is_under(img->path, *p);
        if (!ok)
                die("image %s: not under any of `limit container paths`", img->path);
}

void image_open_checked(const char *path, const struct sing_config *cfg, const struct user_info *u,
                        bool writable, struct opened_image *img)
{
        char link[64], resolved[PATH_MAX];
        const char *key = "";
        sing_err_t err;
        ssize_t n;
        memset(img, 0, sizeof(*img));
        /* With the user's rights: root must not open what the user cannot.
         * O_NONBLOCK so that a FIFO cannot hang us; the type is checked next. */
        fs_as_user(u);
        /* No magic links: /proc/PID/root would reach another mount namespace,
         * where the allowed path may hold anything. */
        img->fd = safe_open_no_magiclinks(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
        int saved = errno;
        fs_as_root();
        errno = saved;
        if (img->fd < 0 && errno == ELOOP)
                die("image %s: a symlink loop or a /proc magic link in the path (refused)", path);
        if (img->fd < 0 || fstat(img->fd, &img->st) < 0)
                die_errno("image %s", path);
        if (!S_ISREG(img->st.st_mode) && !S_ISDIR(img->st.st_mode))
                die("image %s: not a regular file or a directory", path);
        snprintf(link, sizeof(link), "/proc/self/fd/%d", img->fd);
        n = readlink(link, resolved, sizeof(resolved) - 1);
        if (n <= 0 || resolved[0] != '/')
                die("image %s: cannot resolve its path", path);
        resolved[n] = '\0';
        img->path = strdup(resolved);
        if (!img->path)
                die("out of memory");
        if (image_probe_fd(img->fd, &img->info, &err) < 0)
                die("image %s: %s", path, err.msg);
        if (!kind_allowed(cfg, img->info.kind, &key))
                die("image %s: %s images are disabled by the administrator (%s = no)", path,
                    image_kind_name(img->info.kind), key);
        if (u->uid != 0) { /* as in Singularity, the limits do not apply to root */
                check_location(cfg, img);
                check_limits(cfg, img);
        }
        if (writable && img->info.kind != IMAGE_DIR)
                die("image %s: --writable needs a sandbox directory", path);
        if (writable && img->st.st_uid != u->uid)
                die("image %s: --writable needs a sandbox directory that you own", path);
        log_verbose("image %s: %s (squashfs at offset %llu, %llu bytes)", img->path,
                    image_kind_name(img->info.kind), (unsigned long long)img->info.offset,
                    (unsigned long long)img->info.size);
}

char *image_extract(const struct opened_image *img)
{
        char dir[] = "/tmp/singularity-extract-XXXXXX", root[64], offset[32];
        int status;
        if (!mkdtemp(dir)) /* 0700: private to the user */
                die_errno("creating a directory to extract the image");
        snprintf(root, sizeof(root), "%s/root", dir);
        snprintf(offset, sizeof(offset), "%llu", (unsigned long long)img->info.offset);
        log_info("FUSE is not usable here: extracting %s to %s (slower, removed on exit)",
                 img->path, dir);
        pid_t pid = fork();
        if (pid < 0)
                die_errno("fork");
        if (pid == 0) {
                /* Via a high fd: dup2() onto itself would keep close-on-exec. */
                int devnull = open("/dev/null", O_RDWR), fd = fcntl(img->fd, F_DUPFD, 10);
                if (devnull < 0 || fd < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
                    dup2(fd, 3) < 0)
                        _exit(127);
                close_range(4, ~0U, 0);
                execl(UNSQUASHFS_PATH, "unsquashfs", "-q", "-n", "-no-xattrs", "-f", "-d", root,
                      "-o", offset, "/proc/self/fd/3", (char *)NULL);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        die_errno("waiting for unsquashfs");
        /* Exit 2: non-fatal errors, such as device nodes a user cannot create. */
        if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 2)) {
                image_remove_extracted(dir);
                die("extracting %s with %s failed", img->path, UNSQUASHFS_PATH);
        }
        char *r = strdup(dir);
        if (!r)
                die("out of memory");
        return r;
}

/* Runs as the user (the monitor has dropped privileges). */
void image_remove_extracted(const char *dir)
{
        if (remove_tree(dir) < 0)
                log_warn("could not remove all of the extracted image in %s", dir);
}
