#include "run_command.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_status.h"
#include "cleanup.h"
#include "tempfile.h"

extern char **environ;

int run_command(char *const argv[], int out_fd, sing_err_t *e)
{
        _cleanup_close_ int logfd = memfd_create("command-output", MFD_CLOEXEC);
        _cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int r, status;

        if (logfd < 0 || devnull < 0)
                return err_errno(e, "running %s", argv[0]);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, devnull, 0);
        posix_spawn_file_actions_adddup2(&fa, out_fd >= 0 ? out_fd : logfd, 1);
        posix_spawn_file_actions_adddup2(&fa, logfd, 2);
        r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0) {
                errno = r;
                return err_errno(e, "cannot run %s", argv[0]);
        }
        tempfile_register_child(pid);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        tempfile_forget_child(pid);
                        return err_errno(e, "waiting for %s", argv[0]);
                }
        tempfile_forget_child(pid);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        char tail[512];
        output_tail(logfd, tail, sizeof(tail));
        return child_status_check(status, argv[0], tail, e);
}
