#include "supervise.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image_open.h"
#include "log.h"
#include "seccomp_install.h"

static volatile sig_atomic_t program_pid;

static void forward_signal(int sig, siginfo_t *si, void *ucontext)
{
        (void)ucontext;
        /* SI_KERNEL: the terminal (Ctrl-C, hang-up) signalled its whole
         * foreground process group, and the program is in it: forwarding
         * would deliver it twice. kill() from a process (a batch system, the
         * monitor above us) is SI_USER / SI_QUEUE / SI_TKILL. */
        if (si && si->si_code == SI_KERNEL)
                return;
        if (program_pid > 0)
                kill((pid_t)program_pid, sig);
}

void die_with_parent(pid_t parent)
{
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
                die("the starter's monitor process exited");
}

void supervise(pid_t program, const struct supervise_opts *o)
{
        static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
        struct sigaction sa = {.sa_sigaction = forward_signal, .sa_flags = SA_SIGINFO | SA_RESTART};
        int status = 0;

        /* The image, loop and FUSE fds belong to the others; so do the
         * caller's fds (the program has its own copies): we need none. */
        close_range(3, ~0U, 0);
        drop_privileges(o->user, o->userns);
        seccomp_install_default();
        if (o->parent >= 0)
                die_with_parent(o->parent);
        program_pid = program;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
                sigaddset(&sa.sa_mask, forwarded[i]);
        for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
                sigaction(forwarded[i], &sa, NULL);
        /* Any child: as pid 1 we inherit the container's orphans, and a
         * zombie nobody reaps would stay until the container ends. */
        for (;;) {
                int st;
                pid_t pid = wait(&st);
                if (pid < 0) {
                        if (errno == EINTR)
                                continue;
                        die_errno("waiting for the container");
                }
                if (pid == program) {
                        status = st;
                        break;
                }
        }
        if (o->extract_dir)
                image_remove_extracted(o->extract_dir);
        exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
}
