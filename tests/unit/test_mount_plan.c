/* The starter's mount plan, built without privileges from a config, a
 * request and a user: which mounts appear, with which flags, and which
 * requests the config refuses. Also the command-line parser it reads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "check.h"
#include "mount_plan.h"
#include "path.h"
#include "protocol.h"

#define SESSION "/var/singularity/mnt/session"

static struct sing_config cfg;
static struct request req;
static struct user_info user;
static struct plan_input in;
static struct mount_plan plan;
static sing_err_t err;

static void reset(void)
{
        config_free(&cfg);
        config_init_defaults(&cfg);
        memset(&req, 0, sizeof(req));
        memset(&user, 0, sizeof(user));
        user.uid = 1000;
        user.gid = 1000;
        user.name = "stest";
        user.home = "/home/stest";
        in = (struct plan_input){.cfg = &cfg,
                                 .req = &req,
                                 .user = &user,
                                 .session = SESSION,
                                 .cwd = "/scratch/work",
                                 .image_src = IMGSRC_LOOP,
                                 .image_path = "/dev/loop3"};
        mount_plan_free(&plan);
        memset(&err, 0, sizeof(err));
}

static int build(void)
{
        mount_plan_free(&plan);
        return mount_plan_build(&in, &plan, &err);
}

/* Index of the first entry with this op and dest, or -1. */
static int find(enum mount_op op, const char *dest)
{
        for (size_t i = 0; i < plan.n; i++)
                if (plan.entries[i].op == op && strcmp(plan.entries[i].dest, dest) == 0)
                        return (int)i;
        return -1;
}

static const struct mount_entry *entry(enum mount_op op, const char *dest)
{
        int i = find(op, dest);
        return i < 0 ? NULL : &plan.entries[i];
}

static int count_dest(const char *dest)
{
        int n = 0;
        for (size_t i = 0; i < plan.n; i++)
                n += strcmp(plan.entries[i].dest, dest) == 0;
        return n;
}

static void test_default(void)
{
        const struct mount_entry *e;
        reset();
        CHECK(build() == 0);
        CHECK_STR(plan.root, SESSION "/final");
        CHECK(plan.root_creatable);
        CHECK_STR(plan.home_dst, "/home/stest");
        /* Session tmpfs first, sized from the config. */
        CHECK(plan.n > 0 && plan.entries[0].op == OP_TMPFS);
        /* Unbindable: a recursive bind of /tmp or home must not copy it. */
        CHECK(plan.n > 0 && (plan.entries[0].flags & MP_UNBINDABLE));
        e = entry(OP_TMPFS, SESSION "/data");
        CHECK(e && strstr(e->data, "size=64m") && !(e->flags & MP_UNBINDABLE));
        CHECK(find(OP_TMPFS, SESSION "/data") < find(OP_MKDIR, SESSION "/data/files"));
        e = entry(OP_SQUASHFS_LOOP, SESSION "/rootfs");
        CHECK(e && strcmp(e->source, "/dev/loop3") == 0 && (e->flags & MP_RO));
        e = entry(OP_OVERLAY, SESSION "/final");
        CHECK(e && strstr(e->data, "lowerdir=" SESSION "/rootfs") && !strstr(e->data, "userxattr"));
        CHECK(e && (e->flags & MP_OPTIONAL)); /* default `enable overlay = try` */
        CHECK(entry(OP_BIND, "/proc") && !entry(OP_PROC, "/proc"));
        CHECK(entry(OP_SYSFS, "/sys"));
        e = entry(OP_DEV_BIND, "/dev");
        CHECK(e && strcmp(e->source, "/dev") == 0);
        e = entry(OP_BIND, "/home/stest");
        CHECK(e && strcmp(e->source, "/home/stest") == 0 && (e->flags & MP_AS_USER) &&
              (e->flags & MP_IN_ROOT) && !(e->flags & MP_RO) && !(e->flags & MP_OPTIONAL));
        CHECK(entry(OP_BIND, "/tmp") && entry(OP_BIND, "/var/tmp"));
        CHECK(entry(OP_BIND, "/etc/localtime") && entry(OP_BIND, "/etc/hosts"));
        /* Config binds are the admin's: opened as root, skipped when missing. */
        e = entry(OP_BIND, "/etc/hosts");
        CHECK(e && !(e->flags & MP_AS_USER) && (e->flags & MP_OPTIONAL));
        e = entry(OP_FILE, SESSION "/data/files/passwd");
        CHECK(e && strcmp(e->source, "/etc/passwd") == 0 && strcmp(e->data, "passwd") == 0);
        e = entry(OP_BIND, "/etc/passwd");
        CHECK(e && strcmp(e->source, SESSION "/data/files/passwd") == 0 && (e->flags & MP_RO));
        CHECK(find(OP_FILE, SESSION "/data/files/passwd") < find(OP_BIND, "/etc/passwd"));
        CHECK(entry(OP_BIND, "/etc/group") && entry(OP_BIND, "/etc/resolv.conf"));
        CHECK(entry(OP_BIND, "/scratch/work"));
        /* The root is made read-only last. */
        CHECK(plan.n > 0 && plan.entries[plan.n - 1].op == OP_REMOUNT_RO &&
              strcmp(plan.entries[plan.n - 1].dest, "/") == 0);
        /* Every container mount is resolved inside the root. */
        for (size_t i = 0; i < plan.n; i++)
                if (plan.entries[i].dest[0] == '/' && strncmp(plan.entries[i].dest, SESSION, 28))
                        CHECK(plan.entries[i].flags & MP_IN_ROOT);
}

static void test_contain(void)
{
        const struct mount_entry *e;
        reset();
        req.contain = true;
        CHECK(build() == 0);
        CHECK(!entry(OP_BIND, "/home/stest"));
        e = entry(OP_TMPFS, "/home/stest");
        CHECK(e && strstr(e->data, "uid=1000") && strstr(e->data, "mode=700"));
        CHECK(entry(OP_TMPFS, "/tmp") && entry(OP_TMPFS, "/var/tmp"));
        CHECK(!entry(OP_BIND, "/tmp"));
        /* --contain: a minimal /dev instead of the host's. */
        CHECK(!entry(OP_DEV_BIND, "/dev") && entry(OP_TMPFS, "/dev"));
        CHECK(entry(OP_DEV_BIND, "/dev/null") && entry(OP_DEV_BIND, "/dev/urandom"));
        CHECK(find(OP_TMPFS, "/dev") < find(OP_DEV_BIND, "/dev/null"));
        CHECK(!entry(OP_BIND, "/scratch/work"));
}

static void test_home_options(void)
{
        reset();
        req.no_home = true;
        CHECK(build() == 0);
        CHECK(count_dest("/home/stest") == 0);
        CHECK_STR(plan.home_dst, "/home/stest");

        reset();
        cfg.mount_home = false;
        CHECK(build() == 0);
        CHECK(count_dest("/home/stest") == 0);

        reset();
        req.no_mount = NO_MOUNT_HOME;
        CHECK(build() == 0);
        CHECK(count_dest("/home/stest") == 0);

        reset();
        req.home_src = "/data/h";
        req.home_dst = "/home/me";
        CHECK(build() == 0);
        CHECK_STR(plan.home_dst, "/home/me");
        CHECK(entry(OP_BIND, "/home/me") &&
              strcmp(entry(OP_BIND, "/home/me")->source, "/data/h") == 0);
        CHECK(count_dest("/home/stest") == 0);

        reset();
        cfg.user_bind_control = false;
        req.home_src = "/data/h";
        req.home_dst = "/data/h";
        CHECK(build() < 0 && strstr(err.msg, "user bind control"));
}

static void test_dev_modes(void)
{
        reset();
        cfg.mount_dev = CONFIG_DEV_MINIMAL;
        CHECK(build() == 0);
        CHECK(entry(OP_TMPFS, "/dev") && entry(OP_DEVPTS, "/dev/pts"));
        CHECK(entry(OP_SYMLINK, "/dev/ptmx") && entry(OP_TMPFS, "/dev/shm"));
        CHECK(strstr(entry(OP_DEVPTS, "/dev/pts")->data, "gid=5"));
        CHECK(!entry(OP_DEV_BIND, "/dev"));

        reset();
        cfg.mount_dev = CONFIG_DEV_MINIMAL;
        cfg.mount_devpts = false;
        CHECK(build() == 0);
        CHECK(!entry(OP_DEVPTS, "/dev/pts") && entry(OP_DEV_BIND, "/dev/null"));

        reset();
        cfg.mount_dev = CONFIG_DEV_NO;
        CHECK(build() == 0);
        CHECK(count_dest("/dev") == 0 && count_dest("/dev/null") == 0);

        reset();
        req.no_mount = NO_MOUNT_DEV;
        CHECK(build() == 0);
        CHECK(count_dest("/dev") == 0);
}

static void test_no_mount(void)
{
        reset();
        req.no_mount = NO_MOUNT_PROC | NO_MOUNT_SYS | NO_MOUNT_TMP | NO_MOUNT_CWD;
        CHECK(build() == 0);
        CHECK(count_dest("/proc") == 0 && count_dest("/sys") == 0);
        CHECK(count_dest("/tmp") == 0 && count_dest("/var/tmp") == 0);
        CHECK(count_dest("/scratch/work") == 0);
        CHECK(entry(OP_BIND, "/home/stest"));

        reset();
        cfg.mount_proc = cfg.mount_sys = cfg.mount_tmp = false;
        cfg.config_passwd = cfg.config_group = cfg.config_resolv_conf = false;
        CHECK(build() == 0);
        CHECK(count_dest("/proc") == 0 && count_dest("/sys") == 0 && count_dest("/tmp") == 0);
        CHECK(count_dest("/etc/passwd") == 0 && count_dest("/etc/group") == 0);
        CHECK(count_dest("/etc/resolv.conf") == 0);
}

static void test_user_binds(void)
{
        const struct mount_entry *e;
        reset();
        CHECK(bind_spec_parse("/data:/mnt/data:ro", &req.binds[0], &err) == 0);
        CHECK(bind_spec_parse("/home/stest/x", &req.binds[1], &err) == 0);
        req.nbinds = 2;
        CHECK(build() == 0);
        e = entry(OP_BIND, "/mnt/data");
        CHECK(e && strcmp(e->source, "/data") == 0 && (e->flags & MP_RO) &&
              (e->flags & MP_AS_USER) && !(e->flags & MP_OPTIONAL));
        /* A bind under home comes after the home bind. */
        CHECK(find(OP_BIND, "/home/stest") < find(OP_BIND, "/home/stest/x"));
        free(req.binds[0].src);
        free(req.binds[1].src);

        reset();
        cfg.user_bind_control = false;
        CHECK(bind_spec_parse("/data", &req.binds[0], &err) == 0);
        req.nbinds = 1;
        CHECK(build() < 0);
        CHECK(strstr(err.msg, "user bind control") != NULL);
        free(req.binds[0].src);

        reset();
        CHECK(bind_spec_parse("/data:rel/dir", &req.binds[0], &err) == 0);
        req.nbinds = 1;
        CHECK(build() < 0 && strstr(err.msg, "absolute"));
        free(req.binds[0].src);

        reset();
        CHECK(bind_spec_parse("/data:/a/..", &req.binds[0], &err) == 0);
        req.nbinds = 1;
        CHECK(build() < 0);
        free(req.binds[0].src);

        reset();
        CHECK(bind_spec_parse("/data:/x:rx", &req.binds[0], &err) < 0);
        CHECK(bind_spec_parse(":/x", &req.binds[0], &err) < 0);
}

static void test_namespaces_and_modes(void)
{
        const struct mount_entry *e;
        reset();
        req.pid = true;
        CHECK(build() == 0);
        CHECK(entry(OP_PROC, "/proc") && !entry(OP_BIND, "/proc"));

        reset();
        req.pid = true;
        cfg.allow_pid_ns = false;
        CHECK(build() < 0 && strstr(err.msg, "PID namespace"));

        reset();
        in.userns = true;
        in.image_src = IMGSRC_FUSE;
        in.image_path = "/proc/self/fd/5";
        in.image_offset = 4096;
        cfg.mount_dev = CONFIG_DEV_MINIMAL;
        CHECK(build() == 0);
        e = entry(OP_SQUASHFS_FUSE, SESSION "/rootfs");
        CHECK(e && strcmp(e->data, "offset=4096") == 0);
        CHECK(!entry(OP_SYSFS, "/sys") && entry(OP_BIND, "/sys"));
        CHECK(strstr(entry(OP_OVERLAY, SESSION "/final")->data, "userxattr"));
        CHECK(!strstr(entry(OP_DEVPTS, "/dev/pts")->data, "gid="));
        CHECK(count_dest(SESSION "/rootfs") == 2); /* MKDIR + mount */
        CHECK(entry(OP_BIND, "/home/stest") &&
              !(entry(OP_BIND, "/home/stest")->flags & MP_OPTIONAL));
        CHECK(plan.upper && strcmp(plan.upper, SESSION "/data/upper") == 0);
}

static void test_writable(void)
{
        const struct mount_entry *e;
        reset();
        req.writable = true;
        CHECK(build() < 0 && strstr(err.msg, "sandbox"));

        reset();
        req.writable = true;
        in.image_src = IMGSRC_DIR;
        in.image_path = "/home/stest/sandbox";
        CHECK(build() == 0);
        CHECK(!plan.root_creatable && !entry(OP_OVERLAY, SESSION "/final"));
        e = entry(OP_BIND, SESSION "/rootfs");
        CHECK(e && (e->flags & MP_IMAGE_FD) && !(e->flags & MP_RO));
        e = entry(OP_BIND, SESSION "/final");
        CHECK(e && !(e->flags & MP_RO));
        CHECK(count_dest("/") == 0); /* no REMOUNT_RO */

        reset();
        in.image_src = IMGSRC_DIR;
        in.image_path = "/home/stest/sandbox";
        CHECK(build() == 0);
        CHECK((entry(OP_BIND, SESSION "/rootfs")->flags & MP_RO) && entry(OP_REMOUNT_RO, "/"));

        reset();
        in.image_src = IMGSRC_EXTRACTED;
        in.image_path = "/tmp/x/root";
        CHECK(build() == 0);
        CHECK(!(entry(OP_BIND, SESSION "/rootfs")->flags & MP_IMAGE_FD));

        reset();
        req.writable_tmpfs = true;
        CHECK(build() == 0);
        CHECK(!entry(OP_REMOUNT_RO, "/"));
        CHECK(!(entry(OP_OVERLAY, SESSION "/final")->flags & MP_OPTIONAL));

        reset();
        req.writable_tmpfs = true;
        cfg.enable_overlay = CONFIG_OVERLAY_NO;
        CHECK(build() < 0 && strstr(err.msg, "overlay"));

        reset();
        cfg.enable_overlay = CONFIG_OVERLAY_NO;
        CHECK(build() == 0);
        CHECK(!plan.root_creatable && !entry(OP_OVERLAY, SESSION "/final"));
        e = entry(OP_BIND, SESSION "/final");
        CHECK(e && (e->flags & MP_RO) && strcmp(e->source, SESSION "/rootfs") == 0);
}

static void test_cwd(void)
{
        static const char *const skipped[] = {
            "/",           "/usr/src",         "/etc",      "/var/lib/x", "/proc/1",
            "/home/stest", "/home/stest/proj", "/tmp/build"};
        for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
                reset();
                in.cwd = skipped[i];
                CHECK(build() == 0);
                CHECK(find(OP_BIND, skipped[i]) < 0 || strcmp(skipped[i], "/home/stest") == 0);
                if (strcmp(skipped[i], "/home/stest") == 0)
                        CHECK(count_dest("/home/stest") == 1); /* the home bind only */
        }
        reset();
        in.cwd = "/usrlocal/x"; /* not under /usr */
        CHECK(build() == 0);
        CHECK(entry(OP_BIND, "/usrlocal/x"));
        reset();
        in.cwd = NULL;
        CHECK(build() == 0);
}

/* --home DIR:$HOME with the cwd at (or under) $HOME: the cwd is not bound
 * over the home; a user bind covering the cwd wins the same way. */
static void test_cwd_under_other_binds(void)
{
        reset();
        req.home_src = "/data/h";
        req.home_dst = "/home/stest";
        in.cwd = "/home/stest/proj";
        CHECK(build() == 0);
        CHECK(count_dest("/home/stest") == 1 && !entry(OP_BIND, "/home/stest/proj"));
        reset();
        req.binds[0] = (struct bind_spec){.src = "/data/w", .dst = "/scratch"};
        req.nbinds = 1;
        CHECK(build() == 0);
        CHECK(entry(OP_BIND, "/scratch") && !entry(OP_BIND, "/scratch/work"));
}

/* Root in a --writable sandbox keeps the image's /etc/passwd and /etc/group;
 * everyone else (and root without --writable) gets the generated ones. */
static void test_root_writable_etc_files(void)
{
        for (int root = 0; root < 2; root++) {
                for (int writable = 0; writable < 2; writable++) {
                        reset();
                        user.uid = root ? 0 : 1000;
                        req.writable = writable;
                        in.image_src = IMGSRC_DIR;
                        in.image_path = "/srv/sandbox";
                        CHECK(build() == 0);
                        bool bound = entry(OP_BIND, "/etc/passwd") && entry(OP_BIND, "/etc/group");
                        CHECK(bound == !(root && writable));
                }
        }
}

/* --nv / --rocm files: read-only, as the user, root-owned, in a read-only
 * tmpfs on /.singularity.d/libs; devices only into a minimal /dev. */
static void test_gpu(void)
{
        const struct mount_entry *e;
        static char *devs[] = {"/dev/nvidia0", NULL};
        reset();
        req.nv = true;
        req.gpu_libs[req.n_gpu_libs++] = "/usr/lib/x86_64-linux-gnu/libcuda.so.1";
        req.gpu_bins[req.n_gpu_bins++] = "/usr/bin/nvidia-smi";
        in.gpu_devices = devs;
        CHECK(build() == 0);
        int tmpfs = find(OP_TMPFS, "/.singularity.d/libs"),
            lib = find(OP_BIND, "/.singularity.d/libs/libcuda.so.1"),
            ro = find(OP_REMOUNT_RO, "/.singularity.d/libs");
        CHECK(tmpfs >= 0 && lib > tmpfs && ro > lib);
        e = entry(OP_BIND, "/.singularity.d/libs/libcuda.so.1");
        CHECK(e && (e->flags & MP_RO) && (e->flags & MP_AS_USER) && (e->flags & MP_ROOT_OWNED));
        e = entry(OP_BIND, "/usr/bin/nvidia-smi");
        CHECK(e && (e->flags & MP_ROOT_OWNED) && (e->flags & MP_OPTIONAL));
        CHECK(!entry(OP_DEV_BIND, "/dev/nvidia0")); /* the host's /dev holds it */
        req.contain = true;
        CHECK(build() == 0);
        CHECK(entry(OP_DEV_BIND, "/dev/nvidia0"));
        req.gpu_libs[0] = "/usr/lib/";
        CHECK(build() < 0 && strstr(err.msg, "--gpu-lib /usr/lib/"));
        req.gpu_libs[0] = "libcuda.so.1";
        CHECK(build() < 0 && strstr(err.msg, "not an absolute path"));
}

static void test_hostfs(void)
{
        char *mounts[] = {"/", "/proc", "/srv/data", "/tmp/x", "/srv/data", NULL};
        reset();
        in.host_mounts = mounts;
        CHECK(build() == 0);
        const struct mount_entry *e = entry(OP_BIND, "/srv/data");
        CHECK(e && (e->flags & MP_AS_USER) && (e->flags & MP_OPTIONAL));
        CHECK(count_dest("/srv/data") == 1);                      /* listed twice, bound once */
        CHECK(!entry(OP_BIND, "/") && !entry(OP_BIND, "/tmp/x")); /* system, under /tmp */
        CHECK(count_dest("/proc") == 1);                          /* only the plan's own /proc */
}

static void test_paths(void)
{
        char *p;
        CHECK(path_is_under("/scratch/x", "/scratch"));
        CHECK(path_is_under("/scratch", "/scratch/"));
        CHECK(!path_is_under("/scratch2", "/scratch"));
        CHECK(!path_is_under("/scratch2/x", "/scratch"));
        CHECK(path_is_under("/anything", "/"));
        CHECK_STR((p = path_clean("//a/./b/../c/")), "/a/c");
        free(p);
        CHECK_STR((p = path_clean("/../..")), "/");
        free(p);
        CHECK(path_clean("a/b") == NULL);

        /* the one lexical normaliser behind path_clean, tar member names
         * and archive link targets: only ".." differs */
        char out[16];
        CHECK(path_normalise("./a//b/./c/", PATH_DOTDOT_REFUSE, 255, out, sizeof(out)) == 5);
        CHECK_STR(out, "a/b/c");
        CHECK(path_normalise("/./", PATH_DOTDOT_REFUSE, 255, out, sizeof(out)) == 0);
        CHECK_STR(out, "");
        CHECK(path_normalise("a/../b", PATH_DOTDOT_REFUSE, 255, out, sizeof(out)) < 0 &&
              errno == EINVAL);
        CHECK(path_normalise("a/b/../../c", PATH_DOTDOT_CLIMB, 255, out, sizeof(out)) == 1);
        CHECK_STR(out, "c");
        CHECK(path_normalise("a/../..", PATH_DOTDOT_CLIMB, 255, out, sizeof(out)) < 0 &&
              errno == EINVAL);
        CHECK(path_normalise("/../../x", PATH_DOTDOT_STAY, 255, out, sizeof(out)) == 1);
        CHECK_STR(out, "x");
        CHECK(path_normalise("abcd/e", PATH_DOTDOT_REFUSE, 3, out, sizeof(out)) < 0 &&
              errno == ENAMETOOLONG);
        CHECK(path_normalise("0123456789/abcde", PATH_DOTDOT_REFUSE, 255, out, 16) < 0 &&
              errno == ENAMETOOLONG); /* 16 bytes with the NUL: no room */
        CHECK(path_normalise("0123456789/abcd", PATH_DOTDOT_REFUSE, 255, out, 16) == 15);
}

static void test_args(void)
{
        char *argv[] = {"starter",     "--debug",
                        "--action",    "exec",
                        "--image",     "/x.sif",
                        "--bind",      "/a:/b:ro",
                        "--bind",      "/c",
                        "--contain",   "--no-mount",
                        "tmp",         "--home",
                        "/h:/home/h",  "--pwd",
                        "/w",          "--script",
                        "exec \"$@\"", "--fallback-env",
                        "A=1",         "--fallback-arg",
                        "ls",          "--fallback-env",
                        "B=2",         "--",
                        "ls",          "--bind",
                        NULL};
        int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
        reset();
        CHECK(args_parse(argc, argv, &req, &err) == 0);
        CHECK(req.debug && req.contain && !req.pid);
        CHECK_STR(req.action, "exec");
        CHECK_STR(req.image, "/x.sif");
        CHECK(req.nbinds == 2 && req.binds[0].ro && !req.binds[1].ro);
        CHECK_STR(req.binds[0].dst, "/b");
        CHECK_STR(req.binds[1].dst, "/c");
        CHECK(req.no_mount == NO_MOUNT_TMP);
        CHECK_STR(req.home_dst, "/home/h");
        CHECK_STR(req.pwd, "/w");
        CHECK_STR(req.args[0], "ls");
        CHECK_STR(req.args[1], "--bind"); /* after "--": the container's */
        CHECK(req.args[2] == NULL);
        CHECK_STR(req.script, "exec \"$@\"");
        CHECK_STR(req.fallback_env[0], "A=1");
        CHECK_STR(req.fallback_env[1], "B=2");
        CHECK(req.fallback_env[2] == NULL);
        CHECK_STR(req.fallback_argv[0], "ls");
        CHECK(req.fallback_argv[1] == NULL);
        /* args_parse copies binds and --home; the starter keeps them until
         * exec, a test frees them. */
        free(req.binds[0].src);
        free(req.binds[1].src);
        free(req.home_src);
        free(req.fallback_env);
        free(req.fallback_argv);

        char *bad1[] = {"starter", "--action", "exec", "--image", "/x", "--frob", NULL};
        CHECK(args_parse(6, bad1, &req, &err) < 0 && strstr(err.msg, "--frob"));
        free(req.fallback_env);
        free(req.fallback_argv);
        char *bad2[] = {"starter", "--action", "boot", "--image", "/x", NULL};
        CHECK(args_parse(5, bad2, &req, &err) < 0);
        free(req.fallback_env);
        free(req.fallback_argv);
        char *bad3[] = {"starter", "--action", "exec", "--image", "/x", "--no-mount", "etc", NULL};
        CHECK(args_parse(7, bad3, &req, &err) < 0);
        free(req.fallback_env);
        free(req.fallback_argv);
        char *bad4[] = {"starter", "--action", "exec", NULL};
        CHECK(args_parse(3, bad4, &req, &err) < 0);
        free(req.fallback_env);
        free(req.fallback_argv);
        char *bad5[] = {"starter", "--action", "exec", "--image", NULL};
        CHECK(args_parse(4, bad5, &req, &err) < 0);
        free(req.fallback_env);
        free(req.fallback_argv);
}

/* --overlay DIR[:ro]: the user's upper (DIR/upper, DIR/work) replaces the
 * session's, :ro layers go above the image in the order given, the executor
 * opens them as the user (MP_AS_USER), and the root stays writable. */
static void test_overlay_dirs(void)
{
        const struct mount_entry *e;
        reset();
        req.overlays[0].dir = "/home/stest/ov";
        req.overlays[1].dir = "/data/layer";
        req.overlays[1].ro = true;
        req.n_overlays = 2;
        CHECK(build() == 0);
        e = entry(OP_OVERLAY, SESSION "/final");
        CHECK(e && (e->flags & MP_AS_USER) && !(e->flags & MP_OPTIONAL));
        CHECK(e && strstr(e->data, "lowerdir=/data/layer:" SESSION "/rootfs,"));
        CHECK(e && strstr(e->data, "upperdir=/home/stest/ov/upper,workdir=/home/stest/ov/work"));
        CHECK_STR(plan.upper, "/home/stest/ov/upper");
        CHECK(!entry(OP_MKDIR, SESSION "/data/upper"));
        CHECK(!entry(OP_REMOUNT_RO, "/"));

        /* Only :ro layers: the session's upper, and a read-only root. */
        req.overlays[0].ro = true;
        CHECK(build() == 0);
        e = entry(OP_OVERLAY, SESSION "/final");
        CHECK(e && strstr(e->data, "lowerdir=/home/stest/ov:/data/layer:" SESSION "/rootfs,"));
        CHECK(e && strstr(e->data, "upperdir=" SESSION "/data/upper"));
        CHECK(entry(OP_REMOUNT_RO, "/"));

        req.overlays[0].ro = req.overlays[1].ro = false;
        CHECK(build() < 0 && strstr(err.msg, "only one writable"));
        req.n_overlays = 1;
        cfg.enable_overlay = CONFIG_OVERLAY_NO;
        CHECK(build() < 0 && strstr(err.msg, "enable overlay = no"));
        cfg.enable_overlay = CONFIG_OVERLAY_YES;
        req.writable = true;
        in.image_src = IMGSRC_DIR;
        CHECK(build() < 0 && strstr(err.msg, "--writable"));
        req.writable = false;
        req.overlays[0].dir = SESSION "/data";
        CHECK(build() < 0 && strstr(err.msg, "session"));

        char *argv[] = {"starter",   "--action", "run",       "--image", "/x",
                        "--overlay", "/a/b/:ro", "--overlay", "/c:d",    NULL};
        CHECK(args_parse(7, argv, &req, &err) == 0 && req.n_overlays == 1 && req.overlays[0].ro);
        CHECK(req.n_overlays == 1 && strcmp(req.overlays[0].dir, "/a/b") == 0);
        free(req.overlays[0].dir);
        free(req.fallback_env);
        free(req.fallback_argv);
        CHECK(args_parse(9, argv, &req, &err) < 0 && strstr(err.msg, "':'"));
        free(req.overlays[0].dir);
        free(req.fallback_env);
        free(req.fallback_argv);
}

/* --fakeroot: root's entries are the image's own (nothing generated over
 * /etc/passwd), and the id helper's fd is read. */
static void test_fakeroot(void)
{
        reset();
        req.fakeroot = true;
        user.uid = user.gid = 0;
        CHECK(build() == 0);
        CHECK(!entry(OP_BIND, "/etc/passwd") && !entry(OP_BIND, "/etc/group"));
        req.fakeroot = false;
        CHECK(build() == 0);
        CHECK(entry(OP_BIND, "/etc/passwd"));

        char *argv[] = {"starter",    "--action",      "run", "--image", "/x",
                        "--fakeroot", "--fakeroot-fd", "7",   NULL};
        CHECK(args_parse(8, argv, &req, &err) == 0 && req.fakeroot && req.fakeroot_fd == 7);
        free(req.fallback_env);
        free(req.fallback_argv);
        CHECK(args_parse(6, argv, &req, &err) == 0 && req.fakeroot_fd == -1);
        free(req.fallback_env);
        free(req.fallback_argv);
        argv[7] = "1";
        CHECK(args_parse(8, argv, &req, &err) < 0);
        free(req.fallback_env);
        free(req.fallback_argv);
}

/* The shared protocol table (common/protocol.c), which the frontend writes
 * from: every flag in it sets a field of the request, and --home is split
 * one way on both sides. */
static void test_protocol(void)
{
        for (int f = 0; f < PROTO_N_FLAGS; f++) {
                char *argv[] = {"starter", "--action", "run",
                                "--image", "/x.sif",   (char *)proto_flag_names[f],
                                NULL};
                reset();
                CHECK(args_parse(6, argv, &req, &err) == 0);
                /* exactly one boolean more than with no flag at all */
                int set = req.debug + req.contain + req.pid + req.ipc + req.net + req.userns +
                          req.no_home + req.writable + req.writable_tmpfs + req.nv + req.rocm +
                          req.fakeroot;
                CHECK(set == 1);
                free(req.fallback_env);
                free(req.fallback_argv);
        }
        for (int o = 0; o < PROTO_N_OPTS; o++)
                CHECK(proto_flag_lookup(proto_opt_names[o]) < 0 &&
                      proto_opt_lookup(proto_opt_names[o]) == o);
        CHECK(proto_action_valid("start") && !proto_action_valid("boot"));

        char spec[64], *src, *dst;
        strcpy(spec, "/h/src:/home/x");
        CHECK(proto_home_split(spec, &src, &dst, &err) == 0);
        CHECK_STR(src, "/h/src");
        CHECK_STR(dst, "/home/x");
        strcpy(spec, "myhome");
        CHECK(proto_home_split(spec, &src, &dst, &err) == 0 && src == dst);
        const char *bad[] = {"/a:rel", "/a:/b:/c", ":/b", "", NULL};
        for (int i = 0; bad[i]; i++) {
                strcpy(spec, bad[i]);
                CHECK(proto_home_split(spec, &src, &dst, &err) < 0);
                CHECK(strstr(err.msg, bad[i]) != NULL); /* names the spec as given */
        }
}

/* Issue 9: nothing may be mounted on the container root, and the session's
 * internals are never a user's bind source. */
static void test_root_and_session(void)
{
        static const char *const roots[] = {"/", "/.", "//", "/a/..", "/./b/../", NULL};
        for (int i = 0; roots[i]; i++) {
                reset();
                req.home_src = "/data/h";
                req.home_dst = (char *)roots[i];
                CHECK(build() < 0 && strstr(err.msg, "container root"));
                reset();
                cfg.user_bind_control = false; /* the user's own home too */
                req.home_src = "/home/stest";
                req.home_dst = (char *)roots[i];
                CHECK(build() < 0 && strstr(err.msg, "container root"));
                reset();
                req.binds[0] = (struct bind_spec){.src = "/data", .dst = (char *)roots[i]};
                req.nbinds = 1;
                CHECK(build() < 0 && strstr(err.msg, "container root"));
        }
        /* A home of / in the user database: no home mount, no error. */
        reset();
        user.home = "/";
        CHECK(build() == 0);
        CHECK(!entry(OP_BIND, "/") && !entry(OP_TMPFS, "/"));

        reset();
        char *bind_root[] = {"/srv:/", NULL}, **saved = cfg.bind_path;
        cfg.bind_path = bind_root;
        CHECK(build() < 0 && strstr(err.msg, "container root"));
        cfg.bind_path = saved;

        static const char *const inside[] = {SESSION,
                                             SESSION "/data/upper",
                                             SESSION "/rootfs/",
                                             SESSION "/./final",
                                             "/var//singularity/mnt/session/x",
                                             NULL};
        for (int i = 0; inside[i]; i++) {
                reset();
                req.binds[0] = (struct bind_spec){.src = (char *)inside[i], .dst = "/mnt"};
                req.nbinds = 1;
                CHECK(build() < 0 && strstr(err.msg, "session"));
                reset();
                req.home_src = (char *)inside[i];
                CHECK(build() < 0 && strstr(err.msg, "session"));
        }
        reset();
        req.binds[0] = (struct bind_spec){.src = SESSION "2/x", .dst = "/mnt"};
        req.nbinds = 1;
        CHECK(build() == 0);
        CHECK_STR(plan.image_root, SESSION "/rootfs");
        CHECK_STR(plan.session, SESSION);
}

int main(void)
{
        RUN(test_default);
        RUN(test_contain);
        RUN(test_home_options);
        RUN(test_dev_modes);
        RUN(test_no_mount);
        RUN(test_user_binds);
        RUN(test_namespaces_and_modes);
        RUN(test_writable);
        RUN(test_cwd);
        RUN(test_cwd_under_other_binds);
        RUN(test_root_writable_etc_files);
        RUN(test_gpu);
        RUN(test_hostfs);
        RUN(test_paths);
        RUN(test_args);
        RUN(test_protocol);
        RUN(test_overlay_dirs);
        RUN(test_fakeroot);
        RUN(test_root_and_session);
        mount_plan_free(&plan);
        config_free(&cfg);
        CHECK_DONE();
}
