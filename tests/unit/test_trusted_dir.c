/* frontend/trusted_dir: which parents make a directory swappable by
 * another user, symlinks resolved once, missing components created 0700.
 * Runs as any user; the "another owner" case needs root (chown). */
#include "check.h"
#include "trusted_dir.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char base[] = "/tmp/test_trusted_dir.XXXXXX";

/* 0 when trusted_dir_open(path) succeeds, else -1; the message in msg. */
static int try_open(const char *path, char *msg, size_t len, char **canon)
{
        sing_err_t e = {0};
        char *c = NULL;
        int fd = trusted_dir_open(path, "cache directory", NULL, &c, &e);
        snprintf(msg, len, "%s", e.msg);
        if (fd < 0)
                return -1;
        close(fd);
        if (canon)
                *canon = c;
        else
                free(c);
        return 0;
}

/* As uid 65534 in a child: what trusted_dir_open(path, read_only) says.
 * 0 and *ro when it opens, -1 when refused (msg). */
static int try_open_ro_as_nobody(const char *path, bool *ro, char *msg, size_t len)
{
        int pfd[2];
        pid_t pid;
        int status;
        char buf[1100] = "";
        CHECK(pipe(pfd) == 0);
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                sing_err_t e = {0};
                char *c = NULL;
                bool r = false;
                int fd;
                close(pfd[0]);
                if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        _exit(3);
                fd = trusted_dir_open(path, "cache directory", &r, &c, &e);
                dprintf(pfd[1], "%s", e.msg);
                _exit(fd < 0 ? 1 : r ? 2 : 0);
        }
        close(pfd[1]);
        CHECK(read(pfd[0], buf, sizeof(buf) - 1) >= 0);
        close(pfd[0]);
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        snprintf(msg, len, "%s", buf);
        *ro = WEXITSTATUS(status) == 2;
        CHECK(WEXITSTATUS(status) != 3);
        return WEXITSTATUS(status) == 1 ? -1 : 0;
}

static void mkdir_mode(const char *rel, mode_t mode, char *out, size_t len)
{
        snprintf(out, len, "%s/%s", base, rel);
        CHECK(mkdir(out, 0700) == 0);
        CHECK(chmod(out, mode) == 0);
}

int main(void)
{
        char p[600], q[512], msg[1024], *canon = NULL;
        struct stat st;

        CHECK(mkdtemp(base) != NULL);
        CHECK(chmod(base, 0755) == 0);

        /* Missing components are created, 0700; the result is canonical. */
        snprintf(p, sizeof(p), "%s/a/b/c", base);
        CHECK(try_open(p, msg, sizeof(msg), &canon) == 0);
        CHECK_STR(canon, p);
        free(canon);
        CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
        snprintf(q, sizeof(q), "%s/a/b", base);
        CHECK(stat(q, &st) == 0 && (st.st_mode & 0777) == 0700);

        /* An existing directory of ours with group/other bits is made private. */
        CHECK(chmod(p, 0777) == 0);
        CHECK(try_open(p, msg, sizeof(msg), NULL) == 0);
        CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0700);

        /* World- or group-writable parent, not sticky: refused, nothing made. */
        mkdir_mode("world", 0777, q, sizeof(q));
        snprintf(p, sizeof(p), "%s/cache", q);
        CHECK(try_open(p, msg, sizeof(msg), NULL) == -1);
        CHECK(strstr(msg, "writable by other users") != NULL);
        CHECK(access(p, F_OK) != 0);
        mkdir_mode("group", 0770, q, sizeof(q));
        snprintf(p, sizeof(p), "%s/cache", q);
        CHECK(try_open(p, msg, sizeof(msg), NULL) == -1);
        CHECK(strstr(msg, "writable by other users") != NULL);

        /* A sticky world-writable parent of ours (or root's, like /tmp): fine. */
        mkdir_mode("sticky", 01777, q, sizeof(q));
        snprintf(p, sizeof(p), "%s/cache", q);
        CHECK(try_open(p, msg, sizeof(msg), NULL) == 0);

        /* A parent another user owns (they could chmod it and swap). */
        if (geteuid() == 0) {
                mkdir_mode("theirs", 0755, q, sizeof(q));
                CHECK(chown(q, 65534, 65534) == 0);
                snprintf(p, sizeof(p), "%s/cache", q);
                CHECK(try_open(p, msg, sizeof(msg), NULL) == -1);
                CHECK(strstr(msg, "belongs to uid 65534") != NULL);
                /* The directory itself owned by another user. */
                CHECK(mkdir(p, 0700) == 0 && chown(p, 65534, 65534) == 0);
                CHECK(chown(q, 0, 0) == 0);
                CHECK(try_open(p, msg, sizeof(msg), NULL) == -1);
                CHECK(strstr(msg, "not by you") != NULL);

                /* A read-only cache: root's, 0755, used as it is by another
                 * user when asked for; root's and group-writable: refused. */
                bool ro = false;
                mkdir_mode("shared", 0755, q, sizeof(q));
                snprintf(p, sizeof(p), "%s/cache", q);
                CHECK(mkdir(p, 0755) == 0);
                CHECK(try_open_ro_as_nobody(p, &ro, msg, sizeof(msg)) == 0 && ro);
                CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755);
                CHECK(chmod(p, 0775) == 0);
                CHECK(try_open_ro_as_nobody(p, &ro, msg, sizeof(msg)) == -1);
                CHECK(strstr(msg, "by other users") != NULL);
                CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0775);
                /* Another (non-root) user's: refused. */
                CHECK(chmod(p, 0755) == 0 && chown(p, 1, 1) == 0);
                CHECK(try_open_ro_as_nobody(p, &ro, msg, sizeof(msg)) == -1);
                CHECK(strstr(msg, "not by you or root") != NULL);
        } else {
                fprintf(stderr, "not root: the other-owner cases are not checked\n");
        }

        /* A symlink in the given path is resolved once, up front. */
        snprintf(p, sizeof(p), "%s/link", base);
        snprintf(q, sizeof(q), "%s/a", base);
        CHECK(symlink(q, p) == 0);
        snprintf(p, sizeof(p), "%s/link/b/c", base);
        CHECK(try_open(p, msg, sizeof(msg), &canon) == 0);
        snprintf(q, sizeof(q), "%s/a/b/c", base);
        CHECK_STR(canon, q);
        free(canon);
        /* ... and its target's parents are what is checked. */
        snprintf(p, sizeof(p), "%s/tow", base);
        snprintf(q, sizeof(q), "%s/world", base);
        CHECK(symlink(q, p) == 0);
        snprintf(p, sizeof(p), "%s/tow/cache", base);
        CHECK(try_open(p, msg, sizeof(msg), NULL) == -1);
        CHECK(strstr(msg, "writable by other users") != NULL);

        /* Relative paths and ".." in what is to be created are refused. */
        CHECK(try_open("relative/cache", msg, sizeof(msg), NULL) == -1);
        snprintf(p, sizeof(p), "%s/a/new/../x", base);
        CHECK(try_open(p, msg, sizeof(msg), NULL) == -1);

        {
                char cmd[700];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
                CHECK(system(cmd) == 0);
        }
        CHECK_DONE();
}
