/* Credential helpers: run as the user, with the user's environment (they
 * may need DBUS or a keyring socket), never through a shell. */
#include "cred_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "credentials.h"
#include "log.h"

#define HELPER_MAX_OUTPUT (64 * 1024)

extern char **environ;

bool cred_helper_name_valid(const char *name)
{
        if (!*name || strlen(name) > 64)
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
                        return false;
        return true;
}

static int parse_answer(const char *prog, const char *out, char **user, char **pass, sing_err_t *e)
{
        struct json_object *root = json_tokener_parse(out), *u, *s;
        int rc;
        if (!root || !json_object_is_type(root, json_type_object) ||
            !json_object_object_get_ex(root, "Username", &u) ||
            !json_object_object_get_ex(root, "Secret", &s) ||
            !json_object_is_type(u, json_type_string) || !json_object_is_type(s, json_type_string))
                rc = err_set(e, "%s get: not a credential helper answer", prog);
        else if (!*json_object_get_string(s))
                rc = 0;
        else if (!(*user = strdup(json_object_get_string(u))) ||
                 !(*pass = strdup(json_object_get_string(s)))) {
                free(*user);
                *user = NULL;
                rc = err_set(e, "out of memory");
        } else {
                rc = 1;
        }
        json_object_put(root);
        return rc;
}

int cred_helper_get(const char *name, const char *server, char **user, char **pass, sing_err_t *e)
{
        char prog[96];
        int in[2], out[2], status, err;
        pid_t pid;
        posix_spawn_file_actions_t fa;
        *user = *pass = NULL;
        if (!cred_helper_name_valid(name))
                return err_set(e, "credential helper \"%s\": not a valid helper name", name);
        snprintf(prog, sizeof(prog), "docker-credential-%s", name);
        char *argv[] = {prog, "get", NULL};
        if (pipe2(in, O_CLOEXEC) < 0)
                return err_errno(e, "pipe");
        if (pipe2(out, O_CLOEXEC) < 0) {
                close(in[0]);
                close(in[1]);
                return err_errno(e, "pipe");
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
        posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
        fflush(NULL);
        err = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        close(out[1]);
        if (err) {
                close(in[1]);
                close(out[0]);
                /* A config copied from another machine ("desktop",
                 * "osxkeychain") must not fail a public pull. */
                if (err == ENOENT) {
                        log_warn("credential helper %s not found: not using it", prog);
                        return 0;
                }
                errno = err;
                return err_errno(e, "running the credential helper %s", prog);
        }
        /* The server name is short: it fits the pipe, no deadlock. A helper
         * that exited already gives EPIPE, which must not kill us. */
        struct sigaction ign = {.sa_handler = SIG_IGN}, old;
        sigaction(SIGPIPE, &ign, &old);
        ssize_t w = write(in[1], server, strlen(server));
        close(in[1]);
        sigaction(SIGPIPE, &old, NULL);
        (void)w;
        char *buf = malloc(HELPER_MAX_OUTPUT + 1);
        size_t got = 0;
        while (buf && got < HELPER_MAX_OUTPUT) {
                ssize_t n = read(out[0], buf + got, HELPER_MAX_OUTPUT - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t)n;
        }
        close(out[0]);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (!buf)
                return err_set(e, "out of memory");
        buf[got] = '\0';
        int rc = 0;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                rc = parse_answer(prog, buf, user, pass, e);
        credentials_free_secret(buf);
        return rc;
}
