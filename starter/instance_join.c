/* Joining an instance. The record that named the process is the user's
 * file, so nothing in it is believed (Singularity's CVE-2019-11328 came
 * from trusting such a file). The proof, in order:
 *
 *  1. proc_identity_open(): a pidfd and a /proc/PID fd for one process
 *     (the pidfd is checked alive after the directory is opened, so a
 *     reused pid is caught), whose four uids are the user's and whose start
 *     time is the recorded one.
 *  2. Its namespace files are opened through that directory fd with the
 *     user's effective uid and gid (seteuid, which also empties root's
 *     effective capabilities, CAP_SYS_PTRACE included): the kernel's
 *     ptrace-access check then decides, as for the user, whether the user
 *     may inspect that process. A process of another user, a root process,
 *     or one of the user's own that is not dumpable (a setuid program) is
 *     refused there.
 *  3. It must be a container: its pid namespace and its root are not ours,
 *     and (after setns) its root is its mount namespace's root (pivot_root).
 *  4. The pidfd must still be alive after the opens.
 *
 * What is entered is only what that process already has, and the user
 * could ptrace it: joining gives the user nothing they did not own. Which
 * image the instance runs is therefore not a security question here; the
 * image path in the record is for display (SINGULARITY_CONTAINER). */
#include "instance_join.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "proc_identity.h"

static const struct {
        const char *name;
        int type;
} namespaces[] = {
    /* user first: the others are owned by it and need its capabilities */
    {"user", CLONE_NEWUSER},     {"mnt", CLONE_NEWNS},  {"pid", CLONE_NEWPID},
    {"ipc", CLONE_NEWIPC},       {"net", CLONE_NEWNET}, {"uts", CLONE_NEWUTS},
    {"cgroup", CLONE_NEWCGROUP},
};
#define NNS (sizeof(namespaces) / sizeof(namespaces[0]))

static pid_t joined_child;

static void forward_signal(int sig)
{
        if (joined_child > 0)
                kill(joined_child, sig);
}

static bool same_file(int fd, const char *path)
{
        struct stat a, b;
        return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
               a.st_ino == b.st_ino;
}

/* Step 2: as the user, so that the kernel checks the user's access. */
static void open_namespaces(const struct proc_identity *p, const struct user_info *u,
                            bool privileged, int fds[NNS], int *rootfd)
{
        char path[32];
        int failed = -1, saved = 0;
        if (privileged && (setegid(u->gid) < 0 || seteuid(u->uid) < 0))
                die_errno("switching to uid %u", (unsigned)u->uid);
        for (size_t i = 0; i < NNS && failed < 0; i++) {
                snprintf(path, sizeof(path), "ns/%s", namespaces[i].name);
                fds[i] = openat(p->procfd, path, O_RDONLY | O_CLOEXEC);
                if (fds[i] < 0) {
                        failed = (int)i;
                        saved = errno;
                }
        }
        *rootfd = failed < 0 ? openat(p->procfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        if (failed < 0 && *rootfd < 0)
                saved = errno;
        if (privileged && (seteuid(0) < 0 || setegid(0) < 0))
                die_errno("switching back to root");
        if (failed >= 0 || *rootfd < 0) {
                errno = saved;
                die_errno("instance process %d: you may not access its %s", (int)p->pid,
                          failed >= 0 ? namespaces[failed].name : "root");
        }
}

/* The joining process's parent: outside the instance's pid namespace, with
 * no privilege; forwards signals and exits with the child's status. */
static __attribute__((noreturn)) void wait_joined(pid_t child, const struct user_info *u,
                                                  bool in_userns)
{
        static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT};
        struct sigaction sa = {.sa_handler = forward_signal, .sa_flags = SA_RESTART};
        int status;
        close_range(3, ~0U, 0);
        drop_privileges(u, in_userns);
        joined_child = child;
        for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
                sigaction(forwarded[i], &sa, NULL);
        while (waitpid(child, &status, 0) < 0)
                if (errno != EINTR)
                        die_errno("waiting for the process in the instance");
        exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
}

void instance_join(pid_t pid, unsigned long long start_time, struct user_info *u, bool *privileged,
                   bool *in_userns)
{
        struct proc_identity p;
        sing_err_t err;
        int fds[NNS], rootfd;
        bool join[NNS];

        if (proc_identity_open(pid, start_time, u->uid, &p, &err) < 0)
                die("instance: %s", err.msg);
        open_namespaces(&p, u, *privileged, fds, &rootfd);
        for (size_t i = 0; i < NNS; i++) {
                char self[32];
                snprintf(self, sizeof(self), "/proc/self/ns/%s", namespaces[i].name);
                join[i] = !same_file(fds[i], self);
        }
        /* Step 3: the instance's pid 1 and root are its own, never the host's. */
        if (!join[2] || same_file(rootfd, "/"))
                die("instance process %d: not a container (it shares the host's %s)", (int)pid,
                    join[2] ? "root directory" : "pid namespace");
        if (!proc_identity_alive(&p))
                die("instance process %d exited while being joined", (int)pid);
        *in_userns = join[0];
        if (*privileged && *in_userns) {
                /* A user-namespace instance is the user's own: join it as the
                 * user, with only the capabilities that namespace gives. */
                become_user_now(u);
                *privileged = false;
        }
        for (size_t i = 0; i < NNS; i++)
                if (join[i] && setns(fds[i], namespaces[i].type) < 0)
                        die_errno("joining the instance's %s namespace", namespaces[i].name);
        /* A --fakeroot instance maps the user to 0: join it as its root (the
         * user's own uid there would be one of the subordinate ids). */
        if (*in_userns && u->uid != 0 && getuid() == 0)
                user_as_fakeroot(u);
        /* Our instances pivot_root: their root is their mount namespace's,
         * which setns gave us. A process chrooted elsewhere is not one. */
        if (!same_file(rootfd, "/"))
                die("instance process %d: its root is not its mount namespace's root", (int)pid);
        for (size_t i = 0; i < NNS; i++)
                close(fds[i]);
        close(rootfd);
        proc_identity_close(&p);

        /* setns(CLONE_NEWPID) places only our children in the namespace. */
        pid_t child = fork();
        if (child < 0)
                die_errno("fork");
        if (child > 0)
                wait_joined(child, u, *in_userns);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != 0)
                die("the starter's waiting process exited");
}
