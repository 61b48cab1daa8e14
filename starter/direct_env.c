#include "direct_env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "elf_deps.h"
#include "env_contract.h"
#include "fileio.h"
#include "host_arch.h"
#include "log.h"
#include "sh_subset.h"

extern char **environ;

#define ENV_FILES_MAX 256

static bool is_regular(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* `. path`: false when the shell is needed. */
static bool source_file(struct sh_vars *vars, const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (fd < 0 || read_all_bounded(fd, ENV_FILE_MAX, &text, &len) < 0) {
                log_debug("exec: %s: %s: using the shell", path, strerror(errno));
                return false;
        }
        /* The script's own variables (__sing_f: this file's path...) have
         * values only the script gives. */
        if (memmem(text, len, "_sing_", 6) || sh_subset_run(vars, text, len) != SH_OK) {
                log_debug("exec: %s needs the shell", path);
                return false;
        }
        return true;
}

/* Apptainer's fixpath (the script's __sing_fixpath): append the default
 * entries PATH lacks, and export it. */
static bool fixpath(struct sh_vars *vars)
{
        const char *cur = sh_var_get(vars, "PATH");
        _cleanup_free_ char *path = strdup(cur ? cur : "");
        char defaults[] = SING_DEFAULT_PATH, *save = NULL;
        if (!path)
                return false;
        for (char *d = strtok_r(defaults, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *wrapped = NULL, *grown = NULL;
                if (asprintf(&wrapped, ":%s:", path) < 0)
                        return false;
                size_t dl = strlen(d);
                bool found = false;
                for (const char *p = wrapped; (p = strstr(p, d)); p++)
                        if (p[-1] == ':' && p[dl] == ':') {
                                found = true;
                                break;
                        }
                if (found)
                        continue;
                if (asprintf(&grown, "%s%s%s", path, *path ? ":" : "", d) < 0)
                        return false;
                free(path);
                path = steal_ptr(&grown);
        }
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): cleanup attribute not modelled
        return sh_var_set(vars, "PATH", path, true) == 0;
}

static bool run_text(struct sh_vars *vars, const char *what, const char *text)
{
        if (sh_subset_run(vars, text, strlen(text)) == SH_OK)
                return true;
        log_debug("exec: the %s needs the shell", what);
        return false;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_env_file_name(const struct dirent *d)
{
        return env_file_name(d->d_name);
}

/* Step 1 and 2 (the script's __sing_env without an app). */
static bool load_env_files(struct sh_vars *vars, const char *inject)
{
        struct stat st;
        struct dirent **names = NULL;
        bool ok = true, injected = false;
        if (stat(ENV_FILES_DIR, &st) != 0 || !S_ISDIR(st.st_mode)) {
                if (is_regular(ENV_FILE_LEGACY) &&
                    !(source_file(vars, ENV_FILE_LEGACY) && fixpath(vars)))
                        return false;
                return run_text(vars, "overrides", inject);
        }
        int n = scandir(ENV_FILES_DIR, &names, is_env_file_name, name_cmp);
        if (n < 0 || n > ENV_FILES_MAX) {
                log_debug("exec: listing " ENV_FILES_DIR " failed: using the shell");
                ok = false;
        }
        for (int i = 0; ok && i < n; i++) {
                const char *name = names[i]->d_name;
                char path[sizeof(ENV_FILES_DIR) + 256 + 1];
                if (env_file_listed(env_files_skipped, name))
                        continue;
                snprintf(path, sizeof(path), ENV_FILES_DIR "/%s", name);
                if (is_regular(path))
                        ok = source_file(vars, path);
                if (ok && env_file_listed(env_files_fixpath_after, name))
                        ok = fixpath(vars);
                if (ok && strcmp(name, ENV_FILE_INJECT_AFTER) == 0) {
                        ok = run_text(vars, "overrides", inject);
                        injected = true;
                }
        }
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return ok && (injected || run_text(vars, "overrides", inject));
}

static bool executable_file(const char *path)
{
        return is_regular(path) && faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0;
}

/* A 64-bit ELF executable of this machine; *interp gets its PT_INTERP ("" for
 * none, a static one). */
static bool runnable_elf(int fd, char *interp, size_t size)
{
        _cleanup_free_ struct elf_deps *deps = malloc(sizeof(*deps));
        if (!deps || elf_deps_read_fd(fd, deps) != 0 || deps->machine != host_elf_machine() ||
            strlen(deps->interp) >= size)
                // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): cleanup attribute not modelled
                return false;
        strcpy(interp, deps->interp);
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): cleanup attribute not modelled
        return true;
}

/* An ELF interpreter the kernel would load: an executable ELF of this
 * machine with no PT_INTERP of its own (a 1-byte buffer takes only ""). */
static bool elf_interp_runs(const char *interp)
{
        char none[1];
        _cleanup_close_ int fd = -1;
        return executable_file(interp) &&
               (fd = open(interp, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) >= 0 &&
               runnable_elf(fd, none, sizeof(none));
}

/* The #! interpreters execve follows after the first file (the kernel's
 * BINPRM_MAX_RECURSION), and how much of a file's head it reads for one. */
#define SHEBANG_DEPTH_MAX 4
#define SHEBANG_HEAD 256

/* Whether execve(path) would start a program rather than fail (opened
 * O_NONBLOCK: a FIFO swapped in after the check must not hang the exec): an executable
 * regular file that is either a #! script whose interpreter passes the same
 * test, or a 64-bit ELF executable of this machine whose PT_INTERP, if any,
 * is an executable ELF of its own with none. What this cannot tell (another
 * ELF class, a format binfmt_misc knows) counts as no, so that the caller
 * lets the kernel answer. */
static bool would_exec(const char *prog)
{
        char path[PATH_MAX], interp[PATH_MAX];
        if ((size_t)snprintf(path, sizeof(path), "%s", prog) >= sizeof(path))
                return false;
        for (int depth = 0; depth <= SHEBANG_DEPTH_MAX; depth++) {
                char head[SHEBANG_HEAD + 1];
                ssize_t n;
                _cleanup_close_ int fd = -1;
                if (!executable_file(path) ||
                    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0 ||
                    (n = pread(fd, head, SHEBANG_HEAD, 0)) < 0)
                        return false;
                head[n] = '\0';
                if (n >= 2 && head[0] == '#' && head[1] == '!') {
                        const char *p = head + 2 + strspn(head + 2, " \t");
                        size_t len = strcspn(p, " \t\n");
                        /* An interpreter name cut off by the head's end: unknown. */
                        if (len == 0 || (p[len] == '\0' && n == SHEBANG_HEAD))
                                return false;
                        memcpy(path, p, len);
                        path[len] = '\0';
                        continue;
                }
                return runnable_elf(fd, interp, sizeof(interp)) &&
                       (interp[0] == '\0' || elf_interp_runs(interp));
        }
        return false;
}

/* The program `exec "$@"` runs (dash's search: the first PATH entry where
 * it is an executable regular file; an empty entry, leading, inner or
 * trailing, is the working directory, as for padvance); NULL when not found
 * (the shell then says so) or PATH is unset (the shell decides). */
static char *find_program(const struct sh_vars *vars, const char *name)
{
        if (strchr(name, '/'))
                return executable_file(name) ? strdup(name) : NULL;
        const char *path = sh_var_get(vars, "PATH");
        if (!path)
                return NULL;
        for (const char *p = path;;) {
                const char *end = strchrnul(p, ':');
                char *cand = NULL;
                if (end == p)
                        cand = strdup(name); /* relative: the working directory */
                else if (asprintf(&cand, "%.*s/%s", (int)(end - p), p, name) < 0)
                        cand = NULL;
                if (cand && executable_file(cand))
                        return cand;
                free(cand);
                if (!*end)
                        return NULL;
                p = end + 1;
        }
}

static bool may_run_direct(const struct request *req)
{
        return req->env_inject && req->env_finish && req->args[0] && req->action &&
               strcmp(req->action, "exec") == 0;
}

const char *direct_exec_program(const struct request *req)
{
        return may_run_direct(req) && req->args[0][0] == '/' ? req->args[0] : NULL;
}

const char *direct_exec_name(const struct request *req)
{
        return may_run_direct(req) ? req->args[0] : NULL;
}

void direct_exec_try(const struct request *req)
{
        struct sh_vars vars = {0};
        _cleanup_free_ char *prog = NULL;
        if (!may_run_direct(req))
                return;
        /* The script runs where /bin/sh does; without one (or with one the
         * kernel refuses: not executable, a missing ELF or #! interpreter,
         * another machine's), exec_container.h's no-shell plan or error, as
         * before: its rules take the overrides literally. */
        if (!would_exec("/bin/sh")) {
                log_debug("exec: /bin/sh would not run: not evaluating the env files");
                return;
        }
        /* The script sets and unsets its own variables (__sing_*, _sing_*):
         * an inherited one is gone from its environment. */
        for (char **e = environ; *e; e++)
                if (strncmp(*e, "_sing_", 6) == 0 || strncmp(*e, "__sing_", 7) == 0) {
                        log_debug("exec: %.*s is one of the script's variables: using the shell",
                                  (int)strcspn(*e, "="), *e);
                        return;
                }
        if (sh_vars_init_like_dash(&vars, environ, getppid()) == 0 &&
            load_env_files(&vars, req->env_inject) &&
            run_text(&vars, "PATH and restored variables", req->env_finish) &&
            (prog = find_program(&vars, req->args[0]))) {
                char **envp = sh_vars_environ(&vars);
                if (envp) {
                        log_debug("exec: %s without the shell", prog);
                        execve(prog, req->args, envp);
                        log_debug("exec: %s: %s: using the shell", prog, strerror(errno));
                        sh_environ_free(envp);
                }
        }
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): cleanup attribute not modelled
        sh_vars_free(&vars);
}
