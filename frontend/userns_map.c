#include "userns_map.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "program_path.h"
#include "run_command.h"

int subid_range(const char *file, const char *user, uid_t id, unsigned long *start,
                unsigned long *count, sing_err_t *e)
{
        _cleanup_fclose_ FILE *f = fopen(file, "re");
        char line[512], idstr[32];
        snprintf(idstr, sizeof(idstr), "%u", (unsigned)id);
        if (!f)
                return err_errno(e, "cannot read %s", file);
        while (fgets(line, sizeof(line), f)) {
                char *save = NULL, *name = strtok_r(line, ":\n", &save),
                     *s = strtok_r(NULL, ":\n", &save), *c = strtok_r(NULL, ":\n", &save);
                if (!name || !s || !c)
                        continue;
                if (strcmp(name, user ? user : "") != 0 && strcmp(name, idstr) != 0)
                        continue;
                *start = strtoul(s, NULL, 10);
                *count = strtoul(c, NULL, 10);
                if (*count > 0)
                        return 0;
        }
        return err_set(e, "no subordinate id range for %s in %s", user ? user : idstr, file);
}

int subid_ranges_get(struct subid_ranges *r, sing_err_t *e)
{
        struct passwd *pw = getpwuid(getuid());
        _cleanup_free_ char *name = pw ? strdup(pw->pw_name) : NULL;
        char path[PATH_MAX];
        r->uid = getuid();
        r->gid = getgid();
        if (subid_range("/etc/subuid", name, r->uid, &r->uid_start, &r->uid_count, e) < 0 ||
            subid_range("/etc/subgid", name, r->uid, &r->gid_start, &r->gid_count, e) < 0)
                return -1;
        if (program_path("newuidmap", path, sizeof(path)) < 0 ||
            program_path("newgidmap", path, sizeof(path)) < 0)
                return err_set(e, "newuidmap/newgidmap not found on PATH (the uidmap package)");
        return 0;
}

static int run_map_helper(const char *helper, pid_t pid, unsigned long id, unsigned long start,
                          unsigned long count, sing_err_t *e)
{
        char p[32], i[32], s[32], c[32];
        snprintf(p, sizeof(p), "%d", (int)pid);
        snprintf(i, sizeof(i), "%lu", id);
        snprintf(s, sizeof(s), "%lu", start);
        snprintf(c, sizeof(c), "%lu", count);
        char *argv[] = {(char *)helper, p, "0", i, "1", "1", s, c, NULL};
        if (run_command(argv, -1, e) < 0)
                return err_prefix(e,
                                  "mapping ids for --fakeroot (is the uidmap package installed?)");
        return 0;
}

int subid_map_pid(pid_t pid, const struct subid_ranges *r, sing_err_t *e)
{
        if (run_map_helper("newuidmap", pid, r->uid, r->uid_start, r->uid_count, e) < 0 ||
            run_map_helper("newgidmap", pid, r->gid, r->gid_start, r->gid_count, e) < 0)
                return -1;
        return 0;
}

/* The helper: one request, one answer. */
static __attribute__((noreturn)) void helper_serve(int fd, const struct subid_ranges *r)
{
        char buf[32];
        ssize_t n;
        sing_err_t e = {0};
        while ((n = read(fd, buf, sizeof(buf) - 1)) < 0 && errno == EINTR)
                ;
        if (n <= 0)
                _exit(0); /* the starter ended before asking */
        buf[n] = '\0';
        char *end;
        long pid = strtol(buf, &end, 10);
        if (end == buf || *end != '\0' || pid <= 0 || pid > INT_MAX) {
                log_error("--fakeroot: bad request from the starter");
                _exit(255);
        }
        if (subid_map_pid((pid_t)pid, r, &e) < 0) {
                log_error("%s", e.msg);
                _exit(255);
        }
        if (write(fd, "ok", 2) != 2)
                _exit(255);
        _exit(0);
}

int fakeroot_helper_start(const struct subid_ranges *r, int *fd, sing_err_t *e)
{
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return err_errno(e, "--fakeroot: socketpair");
        fflush(NULL);
        pid_t mid = fork();
        if (mid < 0) {
                close(sv[0]);
                close(sv[1]);
                return err_errno(e, "--fakeroot: fork");
        }
        if (mid == 0) {
                /* Detached (its parent exits at once): the starter that
                 * replaces our caller never has to reap it. */
                close(sv[0]);
                pid_t helper = fork();
                if (helper == 0) {
                        /* Nothing of the caller's but stderr (for its messages):
                         * a pipe on stdout or a launcher's fd must not wait
                         * for us. */
                        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
                            dup2(sv[1], 3) < 0)
                                _exit(255);
                        close_range(4, ~0U, 0);
                        helper_serve(3, r);
                }
                _exit(helper < 0 ? 255 : 0);
        }
        close(sv[1]);
        int status;
        while (waitpid(mid, &status, 0) < 0)
                if (errno != EINTR)
                        break;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
            fcntl(sv[0], F_SETFD, 0) < 0) { /* the starter inherits it */
                close(sv[0]);
                return err_set(e, "--fakeroot: could not start the id mapping helper");
        }
        *fd = sv[0];
        return 0;
}
