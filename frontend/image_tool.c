#include "image_tool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build_config.h"
#include "cache.h"
#include "cache_lookup.h"
#include "child_status.h"
#include "cleanup.h"
#include "cred_options.h"
#include "remove_tree.h"
#include "fileio.h"
#include "log.h"
#include "platform.h"
#include "reference.h"

extern char **environ;

int image_tool_exec(char **argv)
{
        fflush(NULL);
        execv(SING_IMAGE_TOOL_PATH, argv);
        log_error("cannot execute %s: %s", SING_IMAGE_TOOL_PATH, strerror(errno));
        return 255;
}

/* The global option that gives the tool our log level (NULL: the default). */
static char *level_flag(void)
{
        switch (log_get_level()) {
        case LOG_LVL_ERROR:
        case LOG_LVL_WARN:
                return "-q";
        case LOG_LVL_VERBOSE:
                return "-v";
        case LOG_LVL_DEBUG:
                return "-d";
        default:
                return NULL;
        }
}

/* Start `tool [LEVEL] ARGS...` (at most 12 args) with its stdout on a pipe;
 * *out is the pipe's read end. */
static int spawn_tool(const char *const *args, pid_t *pid, int *out, sing_err_t *e)
{
        char *argv[16], *flag = level_flag();
        size_t n = 0;
        posix_spawn_file_actions_t fa;
        int pfd[2], rc;

        /* argv[0] "singularity": the tool's getopt messages read as ours. */
        argv[n++] = "singularity";
        if (flag)
                argv[n++] = flag;
        for (; *args && n < 14; args++)
                argv[n++] = (char *)*args;
        argv[n] = NULL;

        if (pipe2(pfd, O_CLOEXEC) < 0)
                return err_errno(e, "pipe");
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
        fflush(NULL);
        rc = posix_spawn(pid, SING_IMAGE_TOOL_PATH, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(pfd[1]);
        if (rc != 0) {
                close(pfd[0]);
                errno = rc;
                return err_errno(e, "cannot execute %s", SING_IMAGE_TOOL_PATH);
        }
        *out = pfd[0];
        return 0;
}

/* Run `tool ARGS...` and take its answer: at most `max` bytes of its stdout
 * (*answer, malloc'd and NUL-terminated, *len bytes). `doing` and `what`
 * say what the tool was asked ("converting", "docker://x") if it is killed;
 * when it exits non-zero it has said why itself, and e's message is left
 * empty. `answer_name` names the answer in a read error. */
static int run_tool_capture(const char *const *args, size_t max, const char *doing,
                            const char *what, const char *answer_name, char **answer, size_t *len,
                            sing_err_t *e)
{
        _cleanup_close_ int out = -1;
        pid_t pid;
        int status, read_rc, read_errno;

        *answer = NULL;
        *len = 0;
        if (spawn_tool(args, &pid, &out, e) < 0)
                return -1;
        read_rc = read_all_bounded(out, max, answer, len);
        read_errno = errno;
        close(steal_fd(&out)); /* a tool still writing gets EPIPE, not a hang */
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        err_errno(e, "waiting for %s", SING_IMAGE_TOOL_PATH);
                        goto fail;
                }
        if (WIFSIGNALED(status)) {
                char tool[PATH_MAX + 64];
                snprintf(tool, sizeof(tool), "%s (%s %s)", SING_IMAGE_TOOL_PATH, doing, what);
                child_status_check(status, tool, NULL, e);
                goto fail;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                e->code = 0;
                e->msg[0] = '\0'; /* the tool said why */
                goto fail;
        }
        if (read_rc < 0) {
                errno = read_errno;
                err_errno(e, "reading %s from %s", answer_name, SING_IMAGE_TOOL_PATH);
                goto fail;
        }
        return 0;
fail:
        free(steal_ptr(answer));
        *len = 0;
        return -1;
}

/* A pinned reference (@sha256:...) already converted needs no registry:
 * find its SIF as pull_to_cache does and say what the tool would have said.
 * NULL for anything else (a tag, not cached yet, cache disabled, a bad
 * reference): the tool handles and reports it. *read_only: the cache is
 * an admin's read-only one, so what the tool converts needs a temporary
 * cache of ours that outlives it. */
static char *pinned_cache_hit(const char *uri, const struct cache_opts *co, bool *read_only)
{
        struct cache_opts look = *co;
        struct image_ref ref;
        struct cache cache;
        sing_err_t ignored;
        char *path = NULL;

        *read_only = false;
        look.lookup_only = true;
        if (co->disable || ref_parse(uri, &ref, &ignored) < 0)
                return NULL;
        if (cache_open(&cache, &look, &ignored) == 0) {
                *read_only = cache.shared_root != NULL;
                path = ref.digest ? cache_lookup_pinned(&cache, &ref, host_goarch()) : NULL;
                if (path) {
                        cache_lookup_announce(false, &ref, uri, &cache);
                        cache_lookup_say_hit();
                }
                cache_close(&cache);
        }
        ref_free(&ref);
        return path;
}

/* A private temporary cache for one run (SINGULARITY_DISABLE_CACHE). */
static char *make_temp_cache(const struct cache_opts *co, sing_err_t *e)
{
        char *dir = NULL;
        if (asprintf(&dir, "%s/singularity-cache-XXXXXX", co->tmpdir ? co->tmpdir : "/tmp") < 0) {
                err_set(e, "out of memory");
                return NULL;
        }
        if (!mkdtemp(dir)) {
                err_errno(e, "cannot create a temporary cache in %s",
                          co->tmpdir ? co->tmpdir : "/tmp");
                free(dir);
                return NULL;
        }
        return dir;
}

/* Remove dir once this process has exited: it is about to become the
 * starter (same pid), which opens the SIF in dir after we are gone and
 * holds it until the container exits; a failed or interrupted run exits
 * sooner. The helper is its own session (a
 * Ctrl-C for the container does not reach it), holds no descriptor of the
 * caller's, and waits on a pidfd. */
static int remove_after_exit(const char *dir, sing_err_t *e)
{
        pid_t parent = getpid(), pid;
        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return err_errno(e, "fork");
        if (pid > 0)
                return 0;
        {
                int pfd = (int)syscall(SYS_pidfd_open, parent, 0);
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                struct pollfd p = {.fd = pfd, .events = POLLIN};
                setsid();
                signal(SIGINT, SIG_IGN);
                signal(SIGTERM, SIG_IGN);
                signal(SIGHUP, SIG_IGN);
                if (null >= 0) {
                        dup2(null, STDIN_FILENO);
                        dup2(null, STDOUT_FILENO);
                        dup2(null, STDERR_FILENO);
                }
                /* Closing what we inherited (pipes of a caller waiting for
                 * EOF) keeps us invisible; the pidfd stays. */
                for (int fd = 3; fd < 1024; fd++)
                        if (fd != pfd)
                                close(fd);
                if (pfd >= 0 && getppid() == parent) {
                        while (poll(&p, 1, -1) < 0 && errno == EINTR)
                                ;
                } else {
                        /* No pidfd (kernel < 5.3): until we are re-parented. */
                        while (getppid() == parent)
                                sleep(1);
                }
                remove_tree(dir);
                _exit(0);
        }
}

int image_tool_cache_sif(const char *uri, const struct cache_opts *co, bool nohttps,
                         const struct cred_options *cred, char **sif_path, sing_err_t *e)
{
        _cleanup_free_ char *answer = NULL, *temp_cache = NULL;
        size_t len = 0;

        bool read_only;
        *sif_path = pinned_cache_hit(uri, co, &read_only);
        if (*sif_path)
                return 0;
        /* The helper first: however this process ends from here on (the
         * container exits, a Ctrl-C during the pull, SIGKILL), it goes. */
        if (co->disable || read_only) {
                if (!(temp_cache = make_temp_cache(co, e)))
                        return -1;
                if (remove_after_exit(temp_cache, e) < 0)
                        goto fail;
        }
        const char *args[10] = {"cache-sif"};
        size_t na = 1;
        if (nohttps)
                args[na++] = "--nohttps";
        cred_options_args(cred, args, &na);
        if (temp_cache) {
                args[na++] = co->disable ? "--temp-cache" : "--miss-cache";
                args[na++] = temp_cache;
        }
        args[na++] = uri;
        if (run_tool_capture(args, PATH_MAX + 1, "converting", uri, "the cached image path",
                             &answer, &len, e) < 0)
                goto fail;
        /* One absolute path and a newline, nothing else. */
        if (len < 2 || answer[0] != '/' || answer[len - 1] != '\n' ||
            memchr(answer, '\n', len - 1) || strlen(answer) != len) {
                err_set(e, "%s cache-sif: unexpected answer", SING_IMAGE_TOOL_PATH);
                goto fail;
        }
        answer[len - 1] = '\0';
        *sif_path = steal_ptr(&answer);
        return 0;
fail:
        if (temp_cache)
                remove_tree(temp_cache);
        return -1;
}

int image_tool_seccomp_compile(const char *profile, char **hex, sing_err_t *e)
{
        static const char digits[] = "0123456789abcdef";
        const char *args[] = {"seccomp-compile", profile, NULL};
        _cleanup_free_ char *bpf = NULL;
        size_t len = 0;

        /* BPF_MAXINSNS instructions of 8 bytes; the starter checks again. */
        if (run_tool_capture(args, 4096 * 8, "compiling", profile, "the seccomp program", &bpf,
                             &len, e) < 0)
                return -1;
        if (len == 0 || len % 8 != 0)
                return err_set(e, "%s seccomp-compile: unexpected answer", SING_IMAGE_TOOL_PATH);
        *hex = malloc(2 * len + 1);
        if (!*hex)
                return err_set(e, "out of memory");
        for (size_t i = 0; i < len; i++) {
                (*hex)[2 * i] = digits[(unsigned char)bpf[i] >> 4];
                (*hex)[2 * i + 1] = digits[(unsigned char)bpf[i] & 15];
        }
        (*hex)[2 * len] = '\0';
        return 0;
}

int image_tool_instance_info(const char *name, char **image, char **join, sing_err_t *e)
{
        const char *args[] = {"instance-info", name, NULL};
        _cleanup_free_ char *answer = NULL;
        size_t len = 0;
        int ipid, n = 0;
        unsigned long long start;

        if (run_tool_capture(args, PATH_MAX + 64, "looking up instance", name, "the instance",
                             &answer, &len, e) < 0)
                return -1;
        /* "PID START\nIMAGE\n" */
        if (strlen(answer) != len || sscanf(answer, "%d %llu\n%n", &ipid, &start, &n) != 2 ||
            n == 0 || len < (size_t)n + 2 || answer[len - 1] != '\n')
                return err_set(e, "%s instance-info: unexpected answer", SING_IMAGE_TOOL_PATH);
        answer[len - 1] = '\0';
        if (asprintf(join, "%d:%llu", ipid, start) < 0 || !(*image = strdup(answer + n)))
                return err_set(e, "out of memory");
        return 0;
}
