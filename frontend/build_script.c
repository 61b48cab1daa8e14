/* Running recipe scripts. %post and %test run in the sandbox as root (real
 * root, or root of a --fakeroot user namespace): a child process unshares
 * its mount namespace, makes every mount private (so nothing propagates back
 * to the host), binds /proc, /sys, /dev and the host's resolv.conf into the
 * sandbox, chroots and execs /bin/sh -e -c BODY. %setup runs on the host. */
#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_status.h"
#include "cleanup.h"
#include "envopts.h"
#include "log.h"
#include "mkdir_p.h"
#include "safepath.h"
#include "tempfile.h"

#define SCRIPT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* In the child only: report and exit (no recovery in a half-set-up mount
 * namespace). */
static void __attribute__((noreturn)) child_fail(const char *what)
{
        fprintf(stderr, "ERROR: %s: %s\n", what, strerror(errno));
        _exit(255);
}

/* Bind the host path `src` onto `dst` inside the root; the target is found
 * with safepath and mounted through its /proc/self/fd path, so a symlink in
 * the image cannot move the mount elsewhere. */
static void bind_in(int rootfd, const char *src, const char *dst, bool file)
{
        char target[64];
        int fd;
        if (file) {
                fd = safe_open_in_root(rootfd, dst, O_RDONLY | O_NOFOLLOW, 0);
                if (fd < 0 && errno == ENOENT) {
                        char last[NAME_MAX + 1];
                        int pfd = safe_open_parent_in_root(rootfd, dst, true, last);
                        if (pfd >= 0) {
                                fd = openat(pfd, last,
                                            O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                            0644);
                                close(pfd);
                        }
                }
                if (fd < 0) {
                        /* e.g. a resolv.conf symlink to a path the image lacks */
                        log_verbose("not binding %s: /%s unusable: %s", src, dst, strerror(errno));
                        return;
                }
        } else {
                fd = safe_mkdir_p_in_root(rootfd, dst, 0755);
                if (fd < 0)
                        child_fail(dst);
        }
        snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
        if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0) {
                if (file) {
                        log_verbose("not binding %s: %s", src, strerror(errno));
                        close(fd);
                        return;
                }
                child_fail(src);
        }
        close(fd);
}

/* Flags a bind remount must keep: in a user namespace the kernel refuses to
 * drop nosuid/nodev/noexec that the original mount has. */
static unsigned long locked_flags(const char *path)
{
        struct statvfs sv;
        unsigned long f = 0;
        if (statvfs(path, &sv) < 0)
                return 0;
        if (sv.f_flag & ST_NOSUID)
                f |= MS_NOSUID;
        if (sv.f_flag & ST_NODEV)
                f |= MS_NODEV;
        if (sv.f_flag & ST_NOEXEC)
                f |= MS_NOEXEC;
        if (sv.f_flag & ST_NOATIME)
                f |= MS_NOATIME;
        if (sv.f_flag & ST_NODIRATIME)
                f |= MS_NODIRATIME;
        if (sv.f_flag & ST_RELATIME)
                f |= MS_RELATIME;
        return f;
}

/* In the child: a private mount namespace with the sandbox bound onto
 * itself (a mount of its own, made read-only for %test), the host's
 * /proc, /sys, /dev and resolv.conf bound in, then chroot. */
static void enter_rootfs(const char *rootfs, bool readonly)
{
        int rootfd;
        if (unshare(CLONE_NEWNS) < 0)
                child_fail("unshare(CLONE_NEWNS)");
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                child_fail("making mounts private");
        if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
                child_fail("binding the sandbox");
        rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                child_fail(rootfs);
        bind_in(rootfd, "/proc", "proc", false);
        bind_in(rootfd, "/sys", "sys", false);
        bind_in(rootfd, "/dev", "dev", false);
        bind_in(rootfd, "/etc/resolv.conf", "etc/resolv.conf", true);
        if (readonly && mount(NULL, rootfs, NULL,
                              MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(rootfs), NULL) < 0)
                child_fail("making the sandbox read-only");
        if (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0)
                child_fail("chroot into the sandbox");
        close(rootfd);
}

/* SINGULARITY_<name> and its APPTAINER_ twin, as recipes use either. */
static void set_twins(const char *name, const char *value)
{
        char key[64];
        snprintf(key, sizeof(key), "SINGULARITY_%s", name);
        setenv(key, value, 1);
        snprintf(key, sizeof(key), "APPTAINER_%s", name);
        setenv(key, value, 1);
}

/* rootfs_var: the image root as the script sees it (the host path for
 * %setup, "/" inside). %setup runs on the host as root, so ROOTFS must be
 * set there above all: `touch $SINGULARITY_ROOTFS/x` must not write /x. */
static void child_env(const char *rootfs_var, bool in_image)
{
        static const char *const keep[] = {"TERM",     "http_proxy", "https_proxy",
                                           "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                                           "NO_PROXY", "ftp_proxy",  "all_proxy"};
        char *saved[sizeof(keep) / sizeof(keep[0])];
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
                const char *v = envopt_plain(keep[i]);
                saved[i] = v ? strdup(v) : NULL;
        }
        clearenv();
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
                if (saved[i])
                        setenv(keep[i], saved[i], 1);
        setenv("PATH", SCRIPT_PATH, 1);
        setenv("HOME", "/root", 1);
        setenv("LANG", "C", 1);
        set_twins("ROOTFS", rootfs_var);
        if (in_image) {
                set_twins("ENVIRONMENT", BUILD_ENV_FILE);
                set_twins("LABELS", BUILD_LABELS_FILE);
        }
}

int run_script(const char *rootfs, const char *section, const char *body, enum script_where w,
               sing_err_t *e)
{
        int status;
        pid_t pid;

        log_info("Running %%%s script...", section);
        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return err_errno(e, "fork");
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                signal(SIGPIPE, SIG_DFL);
                if (w == SCRIPT_ON_HOST) {
                        /* Absolute: the script runs in rootfs, so a relative
                         * path (OUT given relative) would name the wrong place. */
                        char *abs = realpath(rootfs, NULL);
                        if (!abs)
                                child_fail(rootfs);
                        child_env(abs, false);
                        if (chdir(rootfs) < 0)
                                child_fail(rootfs);
                } else {
                        child_env("/", true);
                        enter_rootfs(rootfs, w == SCRIPT_IN_ROOTFS_RO);
                }
                execl("/bin/sh", "/bin/sh", "-e", "-c", body, (char *)NULL);
                fprintf(stderr, "ERROR: cannot run /bin/sh%s: %s\n",
                        w == SCRIPT_ON_HOST ? "" : " in the container", strerror(errno));
                _exit(127);
        }
        tempfile_register_child(pid);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        tempfile_forget_child(pid);
                        return err_errno(e, "waiting for %%%s", section);
                }
        tempfile_forget_child(pid);
        char what[64];
        snprintf(what, sizeof(what), "%%%s script", section);
        return child_status_check(status, what, NULL, e);
}
