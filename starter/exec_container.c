#include "exec_container.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "direct_env.h"
#include "log.h"

extern char **environ;

/* What the shell does first when it runs the action script, so that the
 * shell-free paths give the same PWD (and the env files see it): the inherited one is kept when it
 * names the working directory, else it becomes the working directory's path (the caller's PWD is
 * the host's, which --pwd or the mounts may have changed). */
static void set_pwd_as_a_shell_does(void)
{
        const char *pwd = getenv("PWD");
        struct stat named, here;
        char cwd[PATH_MAX];
        if (pwd && pwd[0] == '/' && stat(pwd, &named) == 0 && stat(".", &here) == 0 &&
            named.st_dev == here.st_dev && named.st_ino == here.st_ino)
                return;
        if (getcwd(cwd, sizeof(cwd)) && setenv("PWD", cwd, 1) != 0)
                die_errno("setting PWD");
}

void exec_container(const struct request *req)
{
        size_t nargs = 0;
        if (!req->script) {
                if (!req->args[0])
                        die("nothing to run: no --script and no command after --");
                execvp(req->args[0], req->args);
                die_errno("%s", req->args[0]);
        }
        set_pwd_as_a_shell_does();
        direct_exec_try(req);
        while (req->args[nargs])
                nargs++;
        char **argv = calloc(nargs + 5, sizeof(*argv));
        if (!argv)
                die("out of memory");
        argv[0] = "/bin/sh";
        argv[1] = "-c";
        argv[2] = (char *)req->script;
        argv[3] = (char *)req->action; /* $0 of the script */
        memcpy(argv + 4, req->args, nargs * sizeof(*argv));
        execve("/bin/sh", argv, environ);
        if (errno != ENOENT)
                die_errno("running /bin/sh in the container");
        if (!req->fallback_argv[0])
                die("/bin/sh doesn't exist in container");
        log_verbose("no /bin/sh in the container: running %s directly", req->fallback_argv[0]);
        for (char **kv = req->fallback_env; *kv; kv++)
                if (putenv(*kv) != 0)
                        die_errno("setting the container environment");
        execvp(req->fallback_argv[0], req->fallback_argv);
        die_errno("%s", req->fallback_argv[0]);
}
