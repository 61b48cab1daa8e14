/* The starter: sets up a container and runs its action script in it.
 *
 * Protocol (called by the frontend's run/exec/shell/test/start; the names
 * are common/protocol.h's, which the frontend writes from):
 *
 *   starter [--debug] --action exec|run|shell|test|start --image PATH
 *           [--bind SRC[:DST[:ro|rw]]]... [--contain] [--pid] [--ipc] [--net]
 *           [--userns]
 *           [--home SRC[:DST]] [--no-home] [--pwd DIR] [--writable]
 *           [--writable-tmpfs] [--no-mount proc|sys|dev|home|tmp|cwd]...
 *           [--script TEXT [--fallback-env KEY=VALUE]... [--fallback-arg ARG]...
 *            [--env-inject TEXT --env-finish TEXT]]
 *           [--seccomp-bpf HEX] [--nv] [--rocm] [--gpu-lib PATH]... [--gpu-bin PATH]...
 *           [--scratch DEST]... [--instance PID:START]
 *           [--fakeroot [--fakeroot-fd FD]] [--overlay DIR[:ro]]...
 *           -- ARGS...
 *
 * --instance joins the running instance whose process is PID (started at
 * START, /proc/PID/stat field 22) instead of making a container; the other
 * container options are then ignored (instance_join.c).
 *
 * It execs `/bin/sh -c TEXT <action> ARGS...` inside the container (the
 * runtime's action script, built by the frontend: images carry data, not
 * logic), or, when the container has no /bin/sh, the --fallback-arg argv
 * with the --fallback-env variables set; without --script, ARGS itself
 * (exec_container.h). For exec with --env-inject/--env-finish, the script's
 * work is first tried without a shell (direct_env.h), after the privilege
 * drop. Always with the caller's environment plus
 * SINGULARITY_CONTAINER=<image path>, SINGULARITY_NAME=<image basename>
 * (and their APPTAINER_ twins) and HOME=<home inside the container>.
 * The environment never changes what the starter itself does (and, setuid,
 * glibc has already removed LD_* and similar variables from it). Errors:
 * "ERROR:   <what>: <why>" on stderr, exit 255. Otherwise the exit status
 * is the container's (128+n when killed by signal n). --seccomp-bpf: a
 * seccomp profile the frontend compiled, installed after the built-in
 * filter (seccomp_install.c).
 *
 * Modes. Privileged (setuid root, `allow setuid = yes`): squashfs through a
 * read-only auto-clearing loop device when `allow setuid-mount squashfs`
 * allows the kernel driver, else through our FUSE server (squashfs-serve) run as the user; a new
 * mount namespace. Unprivileged
 * (not setuid, or `allow setuid = no`): a user namespace mapping the user
 * to itself, squashfs through squashfs-serve, or extracted with unsquashfs
 * when FUSE is unusable; never a loop device. --fakeroot is that mode with
 * the user as root of the namespace, which keeps its capabilities there;
 * 1..N are the user's subordinate ids when the frontend's helper (FD, which
 * runs newuidmap/newgidmap) maps them, else only the user's own id is.
 *
 * --overlay DIR: DIR/upper and DIR/work (made as the user) are the overlay's
 * writable layer, :ro adds DIR as a read-only layer over the image; every
 * layer is opened as the user, without following a symlink, an upper must
 * be the user's, and the kernel gets /proc/self/fd/N (mount_exec.c).
 *
 * Steps: check the process and the config, open and check the image as the
 * user, build the mount plan (mount_plan.c), start the FUSE server when the
 * plan needs it (fuse_server.c; after the user namespace, in unprivileged
 * mode), enter the namespaces, execute the plan (mount_exec.c, which hands
 * the server its mounted connection), pivot_root, drop every privilege for good
 * (privileges.c), install the seccomp filters (seccomp_install.c), exec. The
 * staging area is a tmpfs mounted, inside the new mount namespace only, on
 * SING_SESSION_DIR (-Dsessiondir, by default /var/lib/singularity/mnt/session:
 * a root-owned directory made at install time; meson.build says why there),
 * so nothing outlives the process.
 *
 * Processes (supervise.c). With a loop device and no --pid the starter
 * becomes the program (one process, no cleanup needed). Otherwise the
 * program is never the parent of our helpers: an unprivileged monitor stays
 * outside the new pid namespace (--pid) or owns the extracted image, and an
 * unprivileged init (pid 1 with --pid) or, without --pid, the starter
 * itself stays the parent of the program. The FUSE server is the child of
 * the process that started it, the starter, which is the monitor with
 * --pid. Each forwards signals, reaps, and ends the FUSE server when the
 * program ends. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <mntent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "argv_hide.h"
#include "cleanup.h"
#include "config_check.h"
#include "direct_env.h"
#include "exec_container.h"
#include "fuse_server.h"
#include "gpu_devices.h"
#include "image_open.h"
#include "inherited_fds.h"
#include "instance_join.h"
#include "log.h"
#include "loop.h"
#include "mount_exec.h"
#include "mount_plan.h"
#include "net.h"
#include "privileges.h"
#include "seccomp_install.h"
#include "supervise.h"

extern char **environ;

static bool fuse_usable(void)
{
        _cleanup_close_ int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
        return fd >= 0 && access(FUSE_SERVER_PATH, X_OK) == 0;
}

/* `mount hostfs`: the host's mount points, read before any namespace. */
static char **host_mount_points(void)
{
        _cleanup_fclose_ FILE *f = setmntent("/proc/self/mounts", "re");
        char **list = calloc(1, sizeof(*list));
        size_t n = 0;
        for (struct mntent *m; list && f && (m = getmntent(f)); n++) {
                char **grown = realloc(list, (n + 2) * sizeof(*list));
                if (!grown || !(grown[n] = strdup(m->mnt_dir)))
                        die("out of memory");
                list = grown;
                list[n + 1] = NULL;
        }
        if (!list || !f)
                die_errno("reading the host's mount table");
        return list;
}

/* --pwd, else the host cwd, else home, else /. As the user: after the drop. */
static void enter_workdir(const struct request *req, const char *cwd, const char *home)
{
        if (req->pwd) {
                if (chdir(req->pwd) < 0)
                        die_errno("--pwd %s", req->pwd);
        } else if (!(cwd && chdir(cwd) == 0) && chdir(home) < 0 && chdir("/") < 0) {
                die_errno("chdir /");
        }
}

static __attribute__((noreturn)) void exec_action(const struct request *req,
                                                  const struct opened_image *img, const char *home)
{
        char name[PATH_MAX];
        snprintf(name, sizeof(name), "%s", req->image);
        if (setenv("SINGULARITY_CONTAINER", img->path, 1) < 0 ||
            setenv("APPTAINER_CONTAINER", img->path, 1) < 0 ||
            setenv("SINGULARITY_NAME", basename(name), 1) < 0 ||
            setenv("APPTAINER_NAME", basename(name), 1) < 0 || setenv("HOME", home, 1) < 0)
                die_errno("setting the container environment");
        close_starter_fds();
        exec_container(req);
}

int main(int argc, char **argv)
{
        struct request req;
        struct sing_config cfg;
        struct user_info user;
        struct opened_image img;
        struct mount_plan plan;
        sing_err_t err;
        char cwd[PATH_MAX], loopdev[32], fdpath[64];
        _cleanup_close_ int loopfd = -1;
        pid_t supervisor = -1; /* our parent, as we see it, once one supervises us */
        static struct sock_filter profile[BPF_MAXINSNS];
        size_t profile_len = 0;
        _cleanup_free_ char *extract_dir = NULL, *extract_root = NULL;
        struct fuse_server srv = {.sock = -1};

        sanitize_process();
        argv = argv_hide(argc, argv);
        mode_t user_umask = umask(022);
        if (args_parse(argc, argv, &req, &err) < 0)
                die("%s", err.msg);
        if (req.debug)
                log_set_level(LOG_LVL_DEBUG);
        if (req.seccomp_bpf &&
            seccomp_profile_decode(req.seccomp_bpf, profile, &profile_len, &err) < 0)
                die("%s", err.msg);
        seccomp_default_build(); /* before any fork: one program for every process */
        bool privileged = geteuid() == 0;
        config_load(&cfg, privileged);
        user_lookup(&user);
        /* --fakeroot is a user-namespace run: root there, never here. So is
         * --overlay: overlayfs copies up with its mounter's credentials, and
         * root copying the image's root-owned setuid files into a directory
         * of the user's would leave real setuid-root programs on the host. */
        if (privileged && (!cfg.allow_setuid || req.userns || req.fakeroot || req.n_overlays) &&
            user.uid != 0) {
                log_verbose("%s: running unprivileged", req.fakeroot     ? "--fakeroot"
                                                        : req.userns     ? "--userns"
                                                        : req.n_overlays ? "--overlay"
                                                                         : "`allow setuid = no`");
                become_user_now(&user);
                privileged = false;
        }
        if (privileged) {
                /* setuid does not change the gid: without this, whatever root
                 * creates (session, overlay upper) would get the user's group. */
                if (setegid(0) < 0)
                        die_errno("setegid(0)");
                _cleanup_close_ int s =
                    open(SING_SESSION_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s < 0)
                        die_errno("session directory %s", SING_SESSION_DIR);
                require_root_owned(s, "session directory", SING_SESSION_DIR);
        }

        if (req.instance_pid) {
                bool in_userns = false;
                const char *host_cwd = getcwd(cwd, sizeof(cwd)); /* before the join moves us */
                uid_t host_uid = user.uid;
                instance_join(req.instance_pid, req.instance_start, &user, &privileged, &in_userns);
                bool fakeroot = in_userns && host_uid != 0 && user.uid == 0;
                if (fakeroot)
                        stay_fakeroot(&user);
                else
                        drop_privileges(&user, in_userns);
                enter_workdir(&req, host_cwd, fakeroot ? "/root" : user.home);
                umask(user_umask);
                seccomp_install(profile, profile_len);
                img.path = (char *)req.image; /* for SINGULARITY_CONTAINER only */
                exec_action(&req, &img, fakeroot ? "/root" : user.home);
        }
        image_open_checked(req.image, &cfg, &user, req.writable, &img);
        /* Opened as the user; inside, the user is root (and the home /root). */
        bool fakeroot = req.fakeroot && !privileged;
        uid_t host_uid = user.uid;
        gid_t host_gid = user.gid;
        if (fakeroot) {
                user_as_fakeroot(&user);
                if (!req.home_dst)
                        req.home_dst = (char *)"/root";
        }
        struct plan_input in = {.cfg = &cfg,
                                .req = &req,
                                .user = &user,
                                .session = SING_SESSION_DIR,
                                .cwd = getcwd(cwd, sizeof(cwd)),
                                .userns = !privileged,
                                .image_offset = img.info.offset,
                                .host_mounts = cfg.mount_hostfs ? host_mount_points() : NULL,
                                .gpu_devices =
                                    req.nv || req.rocm ? gpu_device_list(req.nv, req.rocm) : NULL};
        if (img.info.kind == IMAGE_DIR) {
                in.image_src = IMGSRC_DIR;
                in.image_path = img.path;
        } else if (privileged && config_setuid_kernel_squashfs(&cfg)) {
                /* Held open (closed at exec) so that the auto-clearing loop
                 * device survives until the squashfs mount holds it. */
                loopfd = loop_attach(img.fd, img.info.offset, img.info.size, // NOLINT
                                     img.path, (unsigned)cfg.max_loop_devices,
                                     cfg.shared_loop_devices, loopdev);
                in.image_src = IMGSRC_LOOP;
                in.image_path = loopdev;
        } else if (fuse_usable()) {
                snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", img.fd);
                in.image_src = IMGSRC_FUSE;
                in.image_path = fdpath;
        } else if (privileged) {
                die("image %s: `allow setuid-mount squashfs` refuses the kernel squashfs driver "
                    "here, and FUSE (%s, /dev/fuse) is not usable",
                    img.path, FUSE_SERVER_PATH);
        } else {
                extract_dir = image_extract(&img);
                if (asprintf(&extract_root, "%s/root", extract_dir) < 0)
                        die("out of memory");
                in.image_src = IMGSRC_EXTRACTED;
                in.image_path = extract_root;
        }
        if (mount_plan_build(&in, &plan, &err) < 0) {
                if (extract_dir)
                        image_remove_extracted(extract_dir);
                die("%s", err.msg);
        }
        mount_plan_print(&plan);

        if (fakeroot)
                enter_fakeroot_namespace(host_uid, host_gid, req.fakeroot_fd);
        else if (!privileged)
                enter_user_namespace(&user);
        /* The FUSE server starts now, before our namespaces and mounts, so that
         * its start-up runs beside ours; the plan's mount hands it the
         * connection. In a user namespace it is started inside (its bounding
         * set can only be dropped there), before the pid namespace. */
        for (size_t i = 0; i < plan.n && srv.sock < 0; i++)
                if (plan.entries[i].op == OP_SQUASHFS_FUSE)
                        fuse_server_start(&srv, &plan.entries[i], &user, img.fd, !privileged,
                                          direct_exec_program(&req));
        /* The read-ahead process goes back here, holding the image's mount
         * alone (kernel_prefetch.h). Not with --pid: it would show in its
         * process table. */
        int host_mntns = in.image_src == IMGSRC_LOOP && !req.pid
                             ? open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)
                             : -1;
        int ns = CLONE_NEWNS | (req.ipc ? CLONE_NEWIPC : 0) | (req.pid ? CLONE_NEWPID : 0) |
                 (req.net ? CLONE_NEWNET : 0);
        if (unshare(ns) < 0)
                die_errno("creating the container namespaces");
        if (req.net)
                net_loopback_up();
        /* Nothing we mount may propagate back to the host. */
        if (mount(NULL, "/", NULL, MS_REC | (cfg.mount_slave ? MS_SLAVE : MS_PRIVATE), NULL) < 0)
                die_errno("making / %s", cfg.mount_slave ? "slave" : "private");
        if (req.pid || extract_dir) {
                pid_t parent = getpid(), child = fork();
                if (child < 0)
                        die_errno("fork");
                if (child > 0) {
                        struct supervise_opts mon = {.user = &user,
                                                     .userns = !privileged,
                                                     .parent = -1,
                                                     .extract_dir = extract_dir};
                        supervise(child, &mon);
                }
                /* The container dies with its monitor (set again after the drop,
                 * which clears it). Outside our pid namespace the parent is 0. */
                supervisor = req.pid ? 0 : parent;
                die_with_parent(supervisor);
        }

        struct exec_context ctx = {.user = &user,
                                   .image_fd = img.fd,
                                   .userns = !privileged,
                                   .fuse_server = &srv,
                                   .prefetch = host_mntns >= 0,
                                   .prefetch_program = direct_exec_name(&req),
                                   .host_mntns = host_mntns,
                                   .linger =
                                       cfg.shared_loop_devices ? cfg.squashfs_mount_linger : 0};
        mount_plan_execute(&plan, &ctx);
        close(img.fd);
        if (host_mntns >= 0)
                close(host_mntns);
        if (req.pid) {
                /* pid 1. */
                pid_t parent = getpid(), child = fork();
                if (child < 0)
                        die_errno("fork");
                if (child > 0) {
                        struct supervise_opts init = {.user = &user,
                                                      .userns = !privileged,
                                                      .parent = supervisor,
                                                      .extract_dir = NULL};
                        argv_set_title("sinit");
                        supervise(child, &init);
                }
                supervisor = parent;
                die_with_parent(supervisor);
        }
        enter_container_root(&plan);
        if (fakeroot)
                stay_fakeroot(&user);
        else
                drop_privileges(&user, !privileged);
        if (supervisor >= 0)
                die_with_parent(supervisor);
        enter_workdir(&req, in.cwd, plan.home_dst);
        umask(user_umask);
        seccomp_install(profile, profile_len);
        exec_action(&req, &img, plan.home_dst);
}
