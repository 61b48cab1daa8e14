#include "image_tool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build_config.h"
#include "cache.h"
#include "cleanup.h"
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

/* Start the tool with its stdout on a pipe; *out is the pipe's read end. */
static int spawn_cache_sif(const char *uri, pid_t *pid, int *out, sing_err_t *e)
{
        char *argv[5], *flag = level_flag();
        size_t n = 0;
        posix_spawn_file_actions_t fa;
        int pfd[2], rc;

        /* argv[0] "singularity": the tool's getopt messages read as ours. */
        argv[n++] = "singularity";
        if (flag)
                argv[n++] = flag;
        argv[n++] = "cache-sif";
        argv[n++] = (char *)uri;
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

/* A pinned reference (@sha256:...) already converted needs no registry:
 * find its SIF as pull_to_cache does and say what the tool would have said.
 * NULL for anything else (a tag, not cached yet, cache disabled, a bad
 * reference): the tool handles and reports it. */
static char *pinned_cache_hit(const char *uri)
{
        struct image_ref ref;
        struct cache cache;
        sing_err_t ignored;
        char key[64];
        char *path = NULL;
        struct stat st;

        if (ref_parse(uri, &ref, &ignored) < 0)
                return NULL;
        if (ref.digest && cache_open(&cache, false, &ignored) == 0) {
                platform_cache_key(host_goarch(), key, sizeof(key));
                if (!cache.temporary)
                        path = cache_sif_path(&cache, ref.digest, key);
                if (path && stat(path, &st) == 0) {
                        _cleanup_free_ char *display = ref_display(&ref);
                        log_verbose("Docker image path: %s", display ? display : uri);
                        log_verbose("Cache folder set to %s", cache.root);
                        log_info("Using cached SIF image");
                } else {
                        free(steal_ptr(&path));
                }
                cache_close(&cache);
        }
        ref_free(&ref);
        return path;
}

int image_tool_cache_sif(const char *uri, char **sif_path, sing_err_t *e)
{
        _cleanup_free_ char *answer = NULL;
        _cleanup_close_ int out = -1;
        size_t len = 0;
        pid_t pid;
        int status, read_rc, read_errno;

        *sif_path = pinned_cache_hit(uri);
        if (*sif_path)
                return 0;
        if (spawn_cache_sif(uri, &pid, &out, e) < 0)
                return -1;
        read_rc = read_all_bounded(out, PATH_MAX + 1, &answer, &len);
        read_errno = errno;
        close(steal_fd(&out)); /* a tool still writing gets EPIPE, not a hang */
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return err_errno(e, "waiting for %s", SING_IMAGE_TOOL_PATH);
        if (WIFSIGNALED(status))
                return err_set(e, "%s (converting %s) was killed by signal %d (%s)",
                               SING_IMAGE_TOOL_PATH, uri, WTERMSIG(status),
                               strsignal(WTERMSIG(status)));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                e->code = 0;
                e->msg[0] = '\0'; /* the tool said why */
                return -1;
        }
        if (read_rc < 0) {
                errno = read_errno;
                return err_errno(e, "reading the cached image path from %s", SING_IMAGE_TOOL_PATH);
        }
        /* One absolute path and a newline, nothing else. */
        if (len < 2 || answer[0] != '/' || answer[len - 1] != '\n' ||
            memchr(answer, '\n', len - 1) || strlen(answer) != len)
                return err_set(e, "%s cache-sif: unexpected answer", SING_IMAGE_TOOL_PATH);
        answer[len - 1] = '\0';
        *sif_path = steal_ptr(&answer);
        return 0;
}
