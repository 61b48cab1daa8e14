/* The starter runs in a new session (setsid: no controlling terminal, no
 * SIGHUP when the shell that started it ends), stdin from /dev/null, stdout
 * and stderr to the instance's log files. With --pid (always, for an
 * instance) it stays as the unprivileged monitor outside the instance's pid
 * namespace; the process recorded is the instance's program, the start
 * action's shell (is_instance_program), which exec|run|shell instance://
 * join and `instance stop` signals. */
#include "instance_start.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "instance_read.h"
#include "log.h"

#define START_WAIT_SECONDS 60

/* The instance's program: in another pid namespace, readable by us (so
 * run as the user, after exec), and what the starter runs for the start
 * action, `/bin/sh -c SCRIPT start ARGS...` (not the starter's init, not
 * squashfuse). */
static bool is_instance_program(pid_t pid, ino_t own_pidns)
{
        char path[64];
        struct stat st;
        _cleanup_free_ char *cmd = NULL;
        size_t len = 0;
        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
        if (stat(path, &st) < 0 || st.st_ino == own_pidns)
                return false;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read_all_bounded(fd, 1 << 20, &cmd, &len) < 0)
                return false;
        const char *a0 = cmd, *end = cmd + len;
        const char *a1 = a0 + strlen(a0) + 1;
        if (a1 >= end || strcmp(a0, "/bin/sh") != 0 || strcmp(a1, "-c") != 0)
                return false;
        const char *a2 = a1 + strlen(a1) + 1;
        const char *a3 = a2 < end ? a2 + strlen(a2) + 1 : end;
        return a3 < end && strcmp(a3, "start") == 0;
}

/* ppid of pid from /proc/PID/stat, -1 when unreadable. */
static pid_t parent_of(pid_t pid)
{
        char path[64], *p;
        _cleanup_free_ char *text = NULL;
        size_t len;
        int ppid;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read_all_bounded(fd, 4096, &text, &len) < 0 || !(p = strrchr(text, ')')))
                return -1;
        return sscanf(p + 1, " %*c %d", &ppid) == 1 ? ppid : -1;
}

/* Breadth-first over the descendants of root: the first that is the
 * instance's program. 0 when there is none (yet). */
static pid_t find_container_process(pid_t root, ino_t own_pidns)
{
        pid_t level[256], next[256];
        size_t nlevel = 1;
        level[0] = root;
        while (nlevel) {
                size_t nnext = 0;
                _cleanup_closedir_ DIR *d = opendir("/proc");
                for (struct dirent *de; d && (de = readdir(d));) {
                        pid_t pid = (pid_t)atoi(de->d_name), pp;
                        if (pid <= 0 || (pp = parent_of(pid)) <= 0)
                                continue;
                        for (size_t i = 0; i < nlevel; i++)
                                if (pp == level[i] && nnext < 256)
                                        next[nnext++] = pid;
                }
                for (size_t i = 0; i < nnext; i++)
                        if (is_instance_program(next[i], own_pidns))
                                return next[i];
                memcpy(level, next, nnext * sizeof(*next));
                nlevel = nnext;
        }
        return 0;
}

static int open_log(const char *path)
{
        return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* The first lines of the error log, for a failed start. */
static void show_log(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        if (fd >= 0 && read_all_bounded(fd, 1 << 20, &text, &len) == 0 && len)
                fprintf(stderr, "%.*s%s", (int)(len > 4000 ? 4000 : len), text,
                        text[len - 1] == '\n' ? "" : "\n");
}

static __attribute__((noreturn)) void run_detached(int out, int err, char **av, char **envp)
{
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (setsid() < 0 || null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
                _exit(255);
        execve(av[0], av, envp);
        dprintf(2, "ERROR:   cannot execute the starter %s: %s\n", av[0], strerror(errno));
        _exit(255);
}

int instance_launch(const char *name, const char *image, char **av, char **envp)
{
        struct instance_paths paths;
        struct instance_record rec = {0};
        struct proc_identity proc;
        enum instance_state state;
        sing_err_t e = {0};
        struct stat self_ns;

        if (instance_paths_get(name, true, &paths, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        if (instance_record_read(&paths, &rec, &e) == 0) {
                if (instance_check(&rec, &proc, &state, &e) < 0) {
                        log_error("%s", e.msg);
                        return 255;
                }
                if (state == INSTANCE_RUNNING) {
                        proc_identity_close(&proc);
                        log_error("instance %s already exists", name);
                        return 255;
                }
                instance_record_remove(&paths);
                if (instance_paths_get(name, true, &paths, &e) < 0) {
                        log_error("%s", e.msg);
                        return 255;
                }
        }
        if (stat("/proc/self/ns/pid", &self_ns) < 0) {
                log_error("/proc/self/ns/pid: %s", strerror(errno));
                return 255;
        }
        _cleanup_close_ int out = open_log(paths.log_out), err = open_log(paths.log_err);
        if (out < 0 || err < 0) {
                log_error("instance %s: creating its log files in %s: %s", name,
                          strrchr(paths.log_out, '/') ? "the logs directory" : paths.log_out,
                          strerror(errno));
                return 255;
        }
        fflush(NULL);
        pid_t starter = fork();
        if (starter < 0) {
                log_error("fork: %s", strerror(errno));
                return 255;
        }
        if (starter == 0)
                run_detached(out, err, av, envp);

        pid_t container = 0;
        int status;
        struct timespec tick = {0, 20 * 1000 * 1000};
        for (int i = 0; i < START_WAIT_SECONDS * 50 && !container; i++) {
                if (waitpid(starter, &status, WNOHANG) == starter) {
                        log_error("instance %s did not start (%s):", name, paths.log_err);
                        show_log(paths.log_err);
                        return 255;
                }
                container = find_container_process(starter, self_ns.st_ino);
                if (!container)
                        nanosleep(&tick, NULL);
        }
        if (!container || proc_identity_open(container, 0, getuid(), &proc, &e) < 0) {
                log_error("instance %s: its process did not appear%s%s", name, e.msg[0] ? ": " : "",
                          e.msg);
                kill(starter, SIGKILL);
                return 255;
        }
        snprintf(rec.name, sizeof(rec.name), "%s", name);
        rec.pid = container;
        rec.ppid = starter;
        rec.start_time = proc.start_time;
        snprintf(rec.image, sizeof(rec.image), "%s", image);
        snprintf(rec.log_out, sizeof(rec.log_out), "%s", paths.log_out);
        snprintf(rec.log_err, sizeof(rec.log_err), "%s", paths.log_err);
        proc_identity_close(&proc);
        if (instance_record_write(&paths, &rec, &e) < 0) {
                log_error("%s", e.msg);
                kill(starter, SIGKILL);
                return 255;
        }
        log_verbose("instance %s: process %d (started at %llu), starter %d", name, (int)rec.pid,
                    rec.start_time, (int)starter);
        log_info("instance started successfully");
        return 0;
}
