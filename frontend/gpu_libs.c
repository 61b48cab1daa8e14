/* --nv / --rocm: find the driver files of nvliblist.conf / rocmliblist.conf
 * on the host, with the user's rights. Libraries come from the linker cache
 * (what the host's own programs load), read through `ldconfig -p` so that
 * the admin's `ldconfig path` decides which cache that is. */
#include "gpu_libs.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build_config.h"
#include "cleanup.h"
#include "log.h"

#define MAX_LIST_NAMES 256

/* The tuple tag ldconfig prints for this machine's libraries; 32-bit
 * entries on a 64-bit host have none and are skipped. */
#if defined(__x86_64__)
#define LDCACHE_ARCH ",x86-64"
#elif defined(__aarch64__)
#define LDCACHE_ARCH ",AArch64"
#else
#define LDCACHE_ARCH NULL
#endif

static const char *const bin_dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                       "/usr/bin",        "/sbin",          "/bin"};

bool ldcache_line_matches(const char *line, const char *want, const char *arch, const char **path,
                          size_t *path_len)
{
        const char *p = line + strspn(line, " \t");
        size_t wl = strlen(want);
        if (wl == 0 || strncmp(p, want, wl) != 0)
                return false;
        p += wl;
        if (*p == '.') { /* libcuda.so.1, libcuda.so.535.104.05 */
                size_t v = strspn(p + 1, "0123456789.");
                if (v == 0)
                        return false;
                p += 1 + v;
        }
        if (strncmp(p, " (", 2) != 0)
                return false;
        const char *close = strchr(p, ')');
        if (!close || (arch && !memmem(p, (size_t)(close - p), arch, strlen(arch))))
                return false;
        const char *arrow = strstr(close, " => ");
        if (!arrow || arrow[4] != '/')
                return false;
        *path = arrow + 4;
        *path_len = strcspn(*path, "\n");
        return true;
}

/* The names of the list file, libraries (".so" in the name) and binaries. */
static int read_list(const char *list, struct strv *libs, struct strv *bins, sing_err_t *e)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", SING_SYSCONFDIR, list);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        if (!f)
                return err_errno(e, "%s", path);
        for (unsigned n = 1; getline(&line, &cap, f) >= 0; n++) {
                char *name = line + strspn(line, " \t");
                name[strcspn(name, " \t\r\n")] = '\0';
                if (!*name || *name == '#')
                        continue;
                if (strchr(name, '/') || strcmp(name, "..") == 0 || strcmp(name, ".") == 0)
                        return err_set(e, "%s:%u: %s: a file name, not a path", path, n, name);
                if (libs->n + bins->n >= MAX_LIST_NAMES)
                        return err_set(e, "%s: more than %d names", path, MAX_LIST_NAMES);
                if (strv_push(strstr(name, ".so") ? libs : bins, name) < 0)
                        return err_set(e, "out of memory");
        }
        return ferror(f) ? err_errno(e, "reading %s", path) : 0;
}

static bool have_basename(const struct strv *l, const char *path, size_t len)
{
        const char *base = memrchr(path, '/', len) + 1;
        size_t blen = len - (size_t)(base - path);
        for (size_t i = 0; i < l->n; i++) {
                const char *b = strrchr(l->v[i], '/') + 1;
                if (strlen(b) == blen && memcmp(b, base, blen) == 0)
                        return true;
        }
        return false;
}

/* `ldconfig -p`, as the user, with a fixed environment (C locale). */
static int read_ldcache(const char *ldconfig, const struct strv *want, struct strv *out,
                        sing_err_t *e)
{
        char *argv[] = {(char *)ldconfig, "-p", NULL};
        char *envp[] = {"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
        posix_spawn_file_actions_t fa;
        int pfd[2], status, rc = 0;
        pid_t pid;
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return err_errno(e, "pipe");
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
        fflush(NULL);
        int err = posix_spawn(&pid, ldconfig, &fa, NULL, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        close(pfd[1]);
        if (err) {
                close(pfd[0]);
                errno = err;
                return err_errno(e, "running %s -p (`ldconfig path`)", ldconfig);
        }
        FILE *f = fdopen(pfd[0], "r");
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        if (!f) {
                close(pfd[0]);
                rc = err_set(e, "out of memory");
        }
        while (f && getline(&line, &cap, f) >= 0) {
                const char *path;
                size_t len;
                for (size_t i = 0; rc == 0 && i < want->n; i++) {
                        if (!ldcache_line_matches(line, want->v[i], LDCACHE_ARCH, &path, &len) ||
                            have_basename(out, path, len))
                                continue;
                        _cleanup_free_ char *copy = strndup(path, len);
                        if (!copy || strv_push(out, copy) < 0)
                                rc = err_set(e, "out of memory");
                        break;
                }
        }
        if (f)
                fclose(f);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                rc = err_set(e, "%s -p (`ldconfig path`) failed", ldconfig);
        return rc;
}

static int find_bins(const struct strv *names, struct strv *out, sing_err_t *e)
{
        for (size_t i = 0; i < names->n; i++) {
                for (size_t d = 0; d < sizeof(bin_dirs) / sizeof(bin_dirs[0]); d++) {
                        char path[4096];
                        struct stat st;
                        snprintf(path, sizeof(path), "%s/%s", bin_dirs[d], names->v[i]);
                        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0)
                                continue;
                        if (strv_push(out, path) < 0)
                                return err_set(e, "out of memory");
                        break;
                }
        }
        return 0;
}

int gpu_files_find(const char *list, const char *ldconfig, struct strv *libs, struct strv *bins,
                   sing_err_t *e)
{
        struct strv lib_names = {0}, bin_names = {0};
        int rc = read_list(list, &lib_names, &bin_names, e);
        if (rc == 0 && lib_names.n)
                rc = read_ldcache(ldconfig, &lib_names, libs, e);
        if (rc == 0)
                rc = find_bins(&bin_names, bins, e);
        strv_free(&lib_names);
        strv_free(&bin_names);
        return rc;
}
