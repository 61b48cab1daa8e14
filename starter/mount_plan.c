/* Build the mount plan. Pure: reads the config, the request and the user,
 * returns a list; nothing here touches the file system, so every policy
 * decision can be unit-tested without privileges. */
#include "mount_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "path.h"

/* Host directories never bound as the working directory: they would hide
 * the container's own. */
static const char *const system_dirs[] = {"/bin",   "/boot",  "/dev",    "/etc",  "/lib",
                                          "/lib32", "/lib64", "/libx32", "/proc", "/run",
                                          "/sbin",  "/sys",   "/usr",    "/var",  NULL};

static const char *const minimal_dev_nodes[] = {
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", NULL};

static const char *const op_names[] = {
    [OP_MKDIR] = "MKDIR",
    [OP_TMPFS] = "TMPFS",
    [OP_SQUASHFS_LOOP] = "SQUASHFS_LOOP",
    [OP_SQUASHFS_FUSE] = "SQUASHFS_FUSE",
    [OP_OVERLAY] = "OVERLAY",
    [OP_BIND] = "BIND",
    [OP_DEV_BIND] = "DEV_BIND",
    [OP_PROC] = "PROC",
    [OP_SYSFS] = "SYSFS",
    [OP_DEVPTS] = "DEVPTS",
    [OP_SYMLINK] = "SYMLINK",
    [OP_FILE] = "FILE",
    [OP_REMOUNT_RO] = "REMOUNT_RO",
};

const char *mount_op_name(enum mount_op op)
{
        return op_names[op];
}

/* Collects entries; an allocation failure is remembered and reported once
 * at the end, so the policy code below reads straight through. */
struct builder {
        struct mount_plan *plan;
        bool oom;
        bool dev_minimal; /* /dev is our tmpfs, not the host's /dev */
};

static char *fmt(struct builder *b, const char *f, ...) __attribute__((format(printf, 2, 3)));
static char *fmt(struct builder *b, const char *f, ...)
{
        char *s = NULL;
        va_list ap;
        va_start(ap, f);
        if (vasprintf(&s, f, ap) < 0) {
                s = NULL;
                b->oom = true;
        }
        va_end(ap);
        return s;
}

static char *dup_or_null(struct builder *b, const char *s)
{
        char *r = s ? strdup(s) : NULL;
        if (s && !r)
                b->oom = true;
        return r;
}

static void add(struct builder *b, enum mount_op op, const char *src, const char *dst,
                const char *data, unsigned flags)
{
        struct mount_plan *p = b->plan;
        struct mount_entry *e;
        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 32;
                void *grown = realloc(p->entries, cap * sizeof(*p->entries));
                if (!grown) {
                        b->oom = true;
                        return;
                }
                p->entries = grown;
                p->cap = cap;
        }
        e = &p->entries[p->n++];
        e->op = op;
        e->source = dup_or_null(b, src);
        e->dest = dup_or_null(b, dst);
        e->data = dup_or_null(b, data);
        e->flags = flags;
}

/* Same as add() with session-relative paths built by fmt(), freed here. */
static void add_owned(struct builder *b, enum mount_op op, char *src, char *dst, char *data,
                      unsigned flags)
{
        add(b, op, src, dst, data, flags);
        free(src);
        free(dst);
        free(data);
}

static bool is_system_dir(const char *path)
{
        if (strcmp(path, "/") == 0)
                return true;
        for (int i = 0; system_dirs[i]; i++)
                if (path_is_under(path, system_dirs[i]))
                        return true;
        return false;
}

/* The cwd is already visible when a same-path bind contains it. */
static bool path_already_bound(const struct mount_plan *p, const char *path)
{
        for (size_t i = 0; i < p->n; i++) {
                const struct mount_entry *e = &p->entries[i];
                if (e->op == OP_BIND && (e->flags & MP_IN_ROOT) && e->source &&
                    strcmp(e->source, e->dest) == 0 && path_is_under(path, e->dest))
                        return true;
        }
        return false;
}

/* Is container path `path` inside a bind already planned (whatever its
 * source)? The cwd is not bound over it: with --home DIR:$HOME and the cwd
 * at $HOME, the container's $HOME must stay DIR. */
static bool dest_already_bound(const struct mount_plan *p, const char *path)
{
        for (size_t i = 0; i < p->n; i++) {
                const struct mount_entry *e = &p->entries[i];
                if (e->op == OP_BIND && (e->flags & MP_IN_ROOT) && path_is_under(path, e->dest))
                        return true;
        }
        return false;
}

static void plan_image(struct builder *b, const struct plan_input *in, bool overlay)
{
        const char *s = in->session;
        bool writable = in->req->writable;
        /* The session tmpfs only holds mount points. It is unbindable, so the
         * kernel refuses to bind from it or stack an overlay on it: generated
         * files and the overlay layers live in a second tmpfs, "data". */
        add_owned(b, OP_TMPFS, NULL, dup_or_null(b, s), dup_or_null(b, "size=1m,mode=755"),
                  MP_UNBINDABLE);
        /* The image's own mount: its files are read from here, never from
         * the assembled root with host directories bound into it. */
        b->plan->image_root = fmt(b, "%s/rootfs", s);
        add(b, OP_MKDIR, NULL, b->plan->image_root, NULL, 0);
        add_owned(b, OP_MKDIR, NULL, fmt(b, "%s/final", s), NULL, 0);
        add_owned(b, OP_MKDIR, NULL, fmt(b, "%s/data", s), NULL, 0);
        add_owned(b, OP_TMPFS, NULL, fmt(b, "%s/data", s),
                  fmt(b, "size=%dm,mode=755", in->cfg->sessiondir_max_size), 0);
        add_owned(b, OP_MKDIR, NULL, fmt(b, "%s/data/files", s), NULL, 0);
        if (in->image_src == IMGSRC_LOOP)
                add_owned(b, OP_SQUASHFS_LOOP, dup_or_null(b, in->image_path),
                          fmt(b, "%s/rootfs", s), NULL, MP_RO);
        else if (in->image_src == IMGSRC_FUSE)
                add_owned(b, OP_SQUASHFS_FUSE, dup_or_null(b, in->image_path),
                          fmt(b, "%s/rootfs", s),
                          fmt(b, "offset=%llu", (unsigned long long)in->image_offset), MP_RO);
        else
                add_owned(b, OP_BIND, dup_or_null(b, in->image_path), fmt(b, "%s/rootfs", s), NULL,
                          (in->image_src == IMGSRC_DIR ? MP_IMAGE_FD : 0) | (writable ? 0 : MP_RO));
        if (overlay) {
                const struct request *req = in->req;
                const char *user_upper = NULL;
                char *lowers = fmt(b, "%s", "");
                for (size_t i = 0; i < req->n_overlays; i++) {
                        if (!req->overlays[i].ro)
                                user_upper = req->overlays[i].dir;
                        else if (lowers) {
                                char *more = fmt(b, "%s%s:", lowers, req->overlays[i].dir);
                                free(lowers);
                                lowers = more;
                        }
                }
                /* Writable upper layer in the session tmpfs (mount points can be
                 * created there, and --writable-tmpfs keeps it writable), or
                 * the user's --overlay DIR: DIR/upper and DIR/work, which the
                 * executor opens as the user (MP_AS_USER), as every layer
                 * outside the session. */
                if (user_upper) {
                        b->plan->upper = fmt(b, "%s/upper", user_upper);
                } else {
                        b->plan->upper = fmt(b, "%s/data/upper", s);
                        add(b, OP_MKDIR, NULL, b->plan->upper, NULL, 0);
                        add_owned(b, OP_MKDIR, NULL, fmt(b, "%s/data/work", s), NULL, 0);
                }
                /* `enable overlay = try` without --writable-tmpfs or --overlay:
                 * the executor falls back to a read-only bind of the lower layer. */
                bool try = in->cfg->enable_overlay == CONFIG_OVERLAY_TRY && !req->writable_tmpfs &&
                           !req->n_overlays;
                add_owned(b, OP_OVERLAY, fmt(b, "%s/rootfs", s), fmt(b, "%s/final", s),
                          fmt(b, "lowerdir=%s%s/rootfs,upperdir=%s,workdir=%s/%s%s",
                              lowers ? lowers : "", s, b->plan->upper, user_upper ? user_upper : s,
                              user_upper ? "work" : "data/work", in->userns ? ",userxattr" : ""),
                          (try ? MP_OPTIONAL : 0) | (req->n_overlays ? MP_AS_USER : 0));
                free(lowers);
        } else {
                add_owned(b, OP_BIND, fmt(b, "%s/rootfs", s), fmt(b, "%s/final", s), NULL,
                          writable ? 0 : MP_RO);
        }
}

static void plan_dev(struct builder *b, const struct plan_input *in)
{
        int mode = in->cfg->mount_dev;
        if (in->req->no_mount & NO_MOUNT_DEV)
                return;
        if (mode == CONFIG_DEV_YES && in->req->contain)
                mode = CONFIG_DEV_MINIMAL;
        if (mode == CONFIG_DEV_YES) {
                add(b, OP_DEV_BIND, "/dev", "/dev", NULL, MP_IN_ROOT | MP_OPTIONAL);
                return;
        }
        if (mode != CONFIG_DEV_MINIMAL)
                return;
        /* A fresh /dev holding only harmless nodes, bound from the host (a
         * user namespace cannot mknod), plus its own devpts and shm. */
        add(b, OP_TMPFS, NULL, "/dev", "mode=755,size=1m", MP_IN_ROOT);
        b->dev_minimal = true;
        for (int i = 0; minimal_dev_nodes[i]; i++)
                add(b, OP_DEV_BIND, minimal_dev_nodes[i], minimal_dev_nodes[i], NULL,
                    MP_IN_ROOT | MP_OPTIONAL);
        add(b, OP_SYMLINK, "/proc/self/fd", "/dev/fd", NULL, MP_IN_ROOT);
        add(b, OP_SYMLINK, "/proc/self/fd/0", "/dev/stdin", NULL, MP_IN_ROOT);
        add(b, OP_SYMLINK, "/proc/self/fd/1", "/dev/stdout", NULL, MP_IN_ROOT);
        add(b, OP_SYMLINK, "/proc/self/fd/2", "/dev/stderr", NULL, MP_IN_ROOT);
        if (in->cfg->mount_devpts && !(in->req->no_mount & NO_MOUNT_DEVPTS)) {
                /* gid 5 (tty) is not mapped in a user namespace. */
                add(b, OP_DEVPTS, NULL, "/dev/pts",
                    in->userns ? "newinstance,ptmxmode=0666,mode=0620"
                               : "newinstance,ptmxmode=0666,mode=0620,gid=5",
                    MP_IN_ROOT);
                add(b, OP_SYMLINK, "pts/ptmx", "/dev/ptmx", NULL, MP_IN_ROOT);
        }
        add(b, OP_TMPFS, NULL, "/dev/shm", "mode=1777", MP_IN_ROOT);
}

static void plan_home_tmp(struct builder *b, const struct plan_input *in)
{
        const struct request *req = in->req;
        const struct user_info *u = in->user;
        if (!req->no_home && in->cfg->mount_home && !(req->no_mount & NO_MOUNT_HOME) &&
            strcmp(b->plan->home_dst, "/") != 0) {
                if (req->home_src)
                        add(b, OP_BIND, req->home_src, b->plan->home_dst, NULL,
                            MP_IN_ROOT | MP_AS_USER);
                else if (req->contain)
                        add_owned(b, OP_TMPFS, NULL, dup_or_null(b, b->plan->home_dst),
                                  fmt(b, "uid=%u,gid=%u,mode=700,size=%dm", (unsigned)u->uid,
                                      (unsigned)u->gid, in->cfg->sessiondir_max_size),
                                  MP_IN_ROOT);
                else /* Without an overlay (--writable) a missing home is skipped,
                      * as Apptainer does, rather than failing the run. */
                        add(b, OP_BIND, u->home, b->plan->home_dst, NULL,
                            MP_IN_ROOT | MP_AS_USER | (b->plan->root_creatable ? 0 : MP_OPTIONAL));
        }
        if (!in->cfg->mount_tmp || (req->no_mount & NO_MOUNT_TMP))
                return;
        if (req->contain) {
                add(b, OP_TMPFS, NULL, "/tmp", "mode=1777", MP_IN_ROOT);
                add(b, OP_TMPFS, NULL, "/var/tmp", "mode=1777", MP_IN_ROOT);
        } else {
                add(b, OP_BIND, "/tmp", "/tmp", NULL, MP_IN_ROOT | MP_AS_USER | MP_OPTIONAL);
                add(b, OP_BIND, "/var/tmp", "/var/tmp", NULL,
                    MP_IN_ROOT | MP_AS_USER | MP_OPTIONAL);
        }
}

static void plan_etc_files(struct builder *b, const struct plan_input *in)
{
        const char *s = in->session;
        /* Root in a --writable sandbox edits the image's own files (adduser,
         * package installs): nothing is bound over them. --fakeroot's root
         * is the image's own root entry. */
        bool own_files = in->user->uid == 0 && (in->req->writable || in->req->fakeroot);
        if (in->cfg->config_passwd && !own_files) {
                add_owned(b, OP_FILE, dup_or_null(b, "/etc/passwd"),
                          fmt(b, "%s/data/files/passwd", s), dup_or_null(b, "passwd"), 0);
                add_owned(b, OP_BIND, fmt(b, "%s/data/files/passwd", s),
                          dup_or_null(b, "/etc/passwd"), NULL, MP_IN_ROOT | MP_RO | MP_OPTIONAL);
        }
        if (in->cfg->config_group && !own_files) {
                add_owned(b, OP_FILE, dup_or_null(b, "/etc/group"),
                          fmt(b, "%s/data/files/group", s), dup_or_null(b, "group"), 0);
                add_owned(b, OP_BIND, fmt(b, "%s/data/files/group", s),
                          dup_or_null(b, "/etc/group"), NULL, MP_IN_ROOT | MP_RO | MP_OPTIONAL);
        }
        if (in->cfg->config_resolv_conf)
                add(b, OP_BIND, "/etc/resolv.conf", "/etc/resolv.conf", NULL,
                    MP_IN_ROOT | MP_RO | MP_OPTIONAL);
}

/* -S/--scratch without a workdir: a tmpfs of the user's at each DEST,
 * sized like the session. */
static int plan_scratch(struct builder *b, const struct plan_input *in, sing_err_t *err)
{
        for (size_t i = 0; i < in->req->n_scratch; i++) {
                char *dst = path_clean(in->req->scratch[i]);
                if (!dst || strcmp(dst, "/") == 0) {
                        free(dst);
                        return err_set(err, "--scratch %s: must be an absolute path other than /",
                                       in->req->scratch[i]);
                }
                add_owned(b, OP_TMPFS, NULL, dst,
                          fmt(b, "uid=%u,gid=%u,mode=700,size=%dm", (unsigned)in->user->uid,
                              (unsigned)in->user->gid, in->cfg->sessiondir_max_size),
                          MP_IN_ROOT);
        }
        return 0;
}

/* The file name of a --gpu-lib/--gpu-bin path (its mount point's name), or
 * NULL when the path is not absolute or names no file. */
static const char *gpu_file_name(const char *path)
{
        const char *base = strrchr(path, '/');
        if (path[0] != '/' || !base[1] || strcmp(base + 1, ".") == 0 || strcmp(base + 1, "..") == 0)
                return NULL;
        return base + 1;
}

/* --nv / --rocm: the driver libraries the frontend found, read-only in
 * /.singularity.d/libs (a tmpfs of ours, so their mount points can be made
 * whatever the image holds; on the images' LD_LIBRARY_PATH), the driver
 * binaries in /usr/bin when a mount point can be had, and the devices when
 * /dev is not the host's own. Sources are opened as the user and must be
 * root-owned regular files. */
static int plan_gpu(struct builder *b, const struct plan_input *in, sing_err_t *err)
{
        const struct request *req = in->req;
        const unsigned file_flags = MP_IN_ROOT | MP_AS_USER | MP_RO | MP_ROOT_OWNED;
        if (req->n_gpu_libs)
                add(b, OP_TMPFS, NULL, "/.singularity.d/libs", "mode=755,size=4m", MP_IN_ROOT);
        for (size_t i = 0; i < req->n_gpu_libs + req->n_gpu_bins; i++) {
                bool lib = i < req->n_gpu_libs;
                const char *path = lib ? req->gpu_libs[i] : req->gpu_bins[i - req->n_gpu_libs];
                const char *name = gpu_file_name(path);
                if (!name)
                        return err_set(err, "%s %s: not an absolute path of a file",
                                       lib ? "--gpu-lib" : "--gpu-bin", path);
                add_owned(b, OP_BIND, dup_or_null(b, path),
                          fmt(b, "%s/%s", lib ? "/.singularity.d/libs" : "/usr/bin", name), NULL,
                          file_flags | (lib ? 0 : MP_OPTIONAL));
                if (lib && i + 1 == req->n_gpu_libs) /* also to the user in a user ns */
                        add(b, OP_REMOUNT_RO, NULL, "/.singularity.d/libs", NULL, MP_IN_ROOT);
        }
        for (size_t i = 0; b->dev_minimal && in->gpu_devices && in->gpu_devices[i]; i++)
                add(b, OP_DEV_BIND, in->gpu_devices[i], in->gpu_devices[i], NULL,
                    MP_IN_ROOT | MP_OPTIONAL);
        return 0;
}

/* --no-mount /DEST: compared after cleaning both paths. */
static bool no_mount_names_path(const struct request *req, const char *dst)
{
        for (size_t i = 0; i < req->n_no_mount_paths; i++) {
                char *p = path_clean(req->no_mount_paths[i]);
                bool same = p && strcmp(p, dst) == 0;
                free(p);
                if (same)
                        return true;
        }
        return false;
}

/* A user-given source naming the session's internals (overlay layers, the
 * raw image mount, generated files): refused here by its name, and by what
 * it resolves to when it is opened (mount_exec.c). */
static bool in_session(const struct plan_input *in, const char *src)
{
        char *clean = path_clean(src);
        bool inside = clean && path_is_under(clean, in->session);
        free(clean);
        return inside;
}

/* Config `bind path` entries (admin-chosen: opened as root) and the user's
 * --bind entries (opened as the user). */
static int plan_binds(struct builder *b, const struct plan_input *in, sing_err_t *err)
{
        const struct sing_config *cfg = in->cfg;
        bool all_off = in->req->no_mount & NO_MOUNT_BIND_PATHS;
        for (size_t i = 0; !all_off && cfg->bind_path && cfg->bind_path[i]; i++) {
                struct bind_spec br;
                if (bind_spec_parse(cfg->bind_path[i], &br, err) < 0)
                        return err_prefix(err, "config `bind path`");
                char *dst = path_clean(br.dst);
                bool absolute = dst != NULL, root = dst && strcmp(dst, "/") == 0;
                if (absolute && !root && no_mount_names_path(in->req, dst))
                        log_verbose("--no-mount %s: skipping `bind path` %s", dst,
                                    cfg->bind_path[i]);
                else if (absolute && !root)
                        add(b, OP_BIND, br.src, dst, NULL,
                            MP_IN_ROOT | MP_OPTIONAL | (br.ro ? MP_RO : 0));
                free(br.src);
                free(dst);
                if (!absolute)
                        return err_set(err, "config `bind path` %s: not an absolute path",
                                       cfg->bind_path[i]);
                if (root)
                        return err_set(err,
                                       "config `bind path` %s: the destination is the container "
                                       "root",
                                       cfg->bind_path[i]);
        }
        for (size_t i = 0; i < in->req->nbinds; i++) {
                const struct bind_spec *br = &in->req->binds[i];
                char *dst = path_clean(br->dst);
                const char *why = !dst ? "the destination is not an absolute path"
                                  : strcmp(dst, "/") == 0 ? "the destination is the container root"
                                  : in_session(in, br->src)
                                      ? "the source is inside the starter's session directory"
                                      : NULL;
                if (!why)
                        add(b, OP_BIND, br->src, dst, NULL,
                            MP_IN_ROOT | MP_AS_USER | (br->ro ? MP_RO : 0));
                free(dst);
                if (why)
                        return err_set(err, "--bind %s:%s: %s", br->src, br->dst, why);
        }
        return 0;
}

static int check_request(const struct plan_input *in, bool overlay, sing_err_t *err)
{
        const struct request *req = in->req;
        if (req->nbinds && !in->cfg->user_bind_control)
                return err_set(err, "--bind: user bind control is disabled by the administrator");
        if (req->home_src && strcmp(req->home_src, in->user->home) != 0 &&
            !in->cfg->user_bind_control)
                return err_set(err, "--home %s: user bind control is disabled by the administrator",
                               req->home_src);
        if (req->home_src && in_session(in, req->home_src))
                return err_set(err, "--home %s: inside the starter's session directory",
                               req->home_src);
        if (req->pid && !in->cfg->allow_pid_ns)
                return err_set(err, "--pid: the PID namespace is disabled by the administrator");
        if (req->writable && req->writable_tmpfs)
                return err_set(err, "--writable and --writable-tmpfs cannot be used together");
        if (req->writable && in->image_src != IMGSRC_DIR)
                return err_set(err, "--writable: only a sandbox directory image can be writable");
        if (req->writable_tmpfs && !overlay)
                return err_set(err, "--writable-tmpfs: needs `enable overlay = yes` in the config");
        if (req->n_overlays && req->writable)
                return err_set(err, "--overlay and --writable cannot be used together");
        if (req->n_overlays && !overlay)
                return err_set(err, "--overlay: overlays are disabled by the administrator "
                                    "(`enable overlay = no`)");
        size_t rw = 0;
        for (size_t i = 0; i < req->n_overlays; i++) {
                rw += !req->overlays[i].ro;
                if (in_session(in, req->overlays[i].dir))
                        return err_set(err, "--overlay %s: inside the starter's session directory",
                                       req->overlays[i].dir);
        }
        if (rw > 1)
                return err_set(err, "--overlay: only one writable overlay directory (the others "
                                    "take :ro)");
        return 0;
}

int mount_plan_build(const struct plan_input *in, struct mount_plan *plan, sing_err_t *err)
{
        const struct request *req = in->req;
        struct builder b = {.plan = plan};
        bool overlay = in->cfg->enable_overlay != CONFIG_OVERLAY_NO && !req->writable;
        memset(plan, 0, sizeof(*plan));
        if (check_request(in, overlay, err) < 0)
                return -1;
        plan->root = fmt(&b, "%s/final", in->session);
        plan->root_creatable = overlay;
        plan->home_dst = path_clean(req->home_dst ? req->home_dst : in->user->home);
        if (!plan->home_dst) {
                mount_plan_free(plan);
                return err_set(err, "home directory %s is not an absolute path",
                               req->home_dst ? req->home_dst : in->user->home);
        }
        /* --home SRC:/ would replace the whole container with SRC. A home of /
         * in the user database is simply not mounted. */
        if (req->home_src && strcmp(plan->home_dst, "/") == 0) {
                mount_plan_free(plan);
                return err_set(err, "--home %s: the destination %s is the container root",
                               req->home_src, req->home_dst ? req->home_dst : plan->home_dst);
        }
        plan->session = fmt(&b, "%s", in->session);
        plan_image(&b, in, overlay);
        if (in->cfg->mount_proc && !(req->no_mount & NO_MOUNT_PROC))
                add(&b, req->pid ? OP_PROC : OP_BIND, req->pid ? NULL : "/proc", "/proc", NULL,
                    MP_IN_ROOT | MP_OPTIONAL);
        if (in->cfg->mount_sys && !(req->no_mount & NO_MOUNT_SYS))
                /* A user namespace may not mount sysfs without its own net ns. */
                add(&b, in->userns ? OP_BIND : OP_SYSFS, in->userns ? "/sys" : NULL, "/sys", NULL,
                    MP_IN_ROOT | MP_OPTIONAL);
        plan_dev(&b, in);
        plan_home_tmp(&b, in);
        plan_etc_files(&b, in);
        /* `mount hostfs`: host mounts outside the system directories, opened as
         * the user (skipped when the user cannot read them). */
        for (size_t i = 0;
             in->host_mounts && !(req->no_mount & NO_MOUNT_HOSTFS) && in->host_mounts[i]; i++)
                if (!is_system_dir(in->host_mounts[i]) &&
                    !path_already_bound(plan, in->host_mounts[i]))
                        add(&b, OP_BIND, in->host_mounts[i], in->host_mounts[i], NULL,
                            MP_IN_ROOT | MP_AS_USER | MP_OPTIONAL);
        if (plan_scratch(&b, in, err) < 0 || plan_gpu(&b, in, err) < 0 ||
            plan_binds(&b, in, err) < 0) {
                mount_plan_free(plan);
                return -1;
        }
        if (in->cwd && !req->contain && !(req->no_mount & NO_MOUNT_CWD) &&
            !is_system_dir(in->cwd) && !in_session(in, in->cwd) &&
            !dest_already_bound(plan, in->cwd))
                add(&b, OP_BIND, in->cwd, in->cwd, NULL, MP_IN_ROOT | MP_AS_USER | MP_OPTIONAL);
        bool user_upper = false;
        for (size_t i = 0; i < req->n_overlays; i++)
                user_upper |= !req->overlays[i].ro;
        if (overlay && !req->writable_tmpfs && !user_upper)
                add(&b, OP_REMOUNT_RO, NULL, "/", NULL, MP_IN_ROOT);
        if (b.oom) {
                mount_plan_free(plan);
                return err_set(err, "building the mount plan: out of memory");
        }
        return 0;
}

void mount_plan_print(const struct mount_plan *plan)
{
        log_debug("mount plan: container root %s (mount points %s)", plan->root,
                  plan->root_creatable ? "created in the overlay" : "must exist");
        for (size_t i = 0; i < plan->n; i++) {
                const struct mount_entry *e = &plan->entries[i];
                log_debug("  %2zu %-13s %s%s%s%s%s%s%s%s%s%s", i, mount_op_name(e->op),
                          e->source ? e->source : "", e->source ? " -> " : "",
                          (e->flags & MP_IN_ROOT) ? "[root]" : "", e->dest, e->data ? " " : "",
                          e->data ? e->data : "", (e->flags & MP_RO) ? " ro" : "",
                          (e->flags & MP_AS_USER) ? " as-user" : "",
                          (e->flags & MP_UNBINDABLE) ? " unbindable" : "",
                          (e->flags & MP_ROOT_OWNED) ? " root-owned" : "");
        }
}

void mount_plan_free(struct mount_plan *plan)
{
        for (size_t i = 0; i < plan->n; i++) {
                free(plan->entries[i].source);
                free(plan->entries[i].dest);
                free(plan->entries[i].data);
        }
        free(plan->entries);
        free(plan->root);
        free(plan->home_dst);
        free(plan->upper);
        free(plan->session);
        free(plan->image_root);
        memset(plan, 0, sizeof(*plan));
}
