/* Docker-format seccomp profiles compiled to BPF (frontend/seccomp_profile.c):
 * the programs are loaded in a child (no_new_privs, no privilege needed)
 * to check what they actually do; bad profiles give one-line errors. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "seccomp_profile.h"

static char path[] = "/tmp/test_seccomp_profile.XXXXXX";

static void write_profile(const char *text)
{
        int fd = open(path, O_WRONLY | O_TRUNC);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
                abort();
        close(fd);
}

/* Compile text, load it in a child, and return the errno mkdir() then
 * fails with (0: it worked), or -1 when the profile did not compile. */
static int mkdir_errno_under(const char *text, sing_err_t *e)
{
        unsigned char *bpf = NULL;
        size_t len = 0;
        int status;
        write_profile(text);
        if (seccomp_profile_compile(path, &bpf, &len, e) < 0)
                return -1;
        CHECK(len > 0 && len % sizeof(struct sock_filter) == 0);
        pid_t pid = fork();
        if (pid == 0) {
                struct sock_fprog prog = {.len = (unsigned short)(len / 8),
                                          .filter = (struct sock_filter *)bpf};
                char dir[] = "/tmp/test_seccomp_dir.XXXXXX";
                if (!mkdtemp(dir))
                        _exit(100);
                char sub[64];
                snprintf(sub, sizeof(sub), "%s/sub", dir);
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                        _exit(101);
                int rc = mkdir(sub, 0700) == 0 ? 0 : errno;
                rmdir(sub);
                rmdir(dir); /* may be refused by the filter: the test tree is /tmp */
                _exit(rc);
        }
        free(bpf);
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
                return -2;
        return WEXITSTATUS(status);
}

static void check_programs(void)
{
        sing_err_t e = {0};
        CHECK(mkdir_errno_under("{\"defaultAction\": \"SCMP_ACT_ALLOW\"}", &e) == 0);
        CHECK(mkdir_errno_under("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                                "{\"names\": [\"mkdir\", \"mkdirat\"],"
                                " \"action\": \"SCMP_ACT_ERRNO\"}]}",
                                &e) == EPERM);
        CHECK(mkdir_errno_under("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                                "{\"names\": [\"mkdir\", \"mkdirat\"],"
                                " \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13}]}",
                                &e) == EACCES);
        /* defaultErrnoRet, and a rule equal to the default is no error. */
        CHECK(mkdir_errno_under("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"defaultErrnoRet\": 28,"
                                " \"syscalls\": [{\"names\": [\"mkdir\", \"mkdirat\"],"
                                " \"action\": \"SCMP_ACT_ERRNO\"},"
                                " {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
                                &e) == ENOSPC);
        /* Entries for capabilities we do not have, or another architecture,
         * are left out; unknown names are skipped. */
        CHECK(
            mkdir_errno_under("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                              "{\"names\": [\"mkdir\", \"mkdirat\"], \"action\": "
                              "\"SCMP_ACT_ERRNO\", \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},"
                              "{\"names\": [\"mkdir\", \"mkdirat\"], \"action\": "
                              "\"SCMP_ACT_ERRNO\", \"includes\": {\"arches\": [\"s390x\"]}},"
                              "{\"names\": [\"no_such_call\"], \"action\": \"SCMP_ACT_ERRNO\"}]}",
                              &e) == 0);
        /* Argument conditions: mode 0700 matches, 0755 would not. */
        CHECK(
            mkdir_errno_under("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                              "{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": "
                              "[{\"index\": 1, \"value\": 448, \"op\": \"SCMP_CMP_EQ\"}]},"
                              "{\"names\": [\"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\", "
                              "\"args\": [{\"index\": 2, \"value\": 511, \"valueTwo\": 448, "
                              "\"op\": \"SCMP_CMP_MASKED_EQ\"}]}]}",
                              &e) == EPERM);
        CHECK(
            mkdir_errno_under("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                              "{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": "
                              "[{\"index\": 1, \"value\": 493, \"op\": \"SCMP_CMP_EQ\"}]},"
                              "{\"names\": [\"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\", "
                              "\"args\": [{\"index\": 2, \"value\": 493, "
                              "\"op\": \"SCMP_CMP_EQ\"}]}]}",
                              &e) == 0);
}

static const struct {
        const char *text, *msg;
} bad[] = {
    {"", "not valid JSON"},
    {"[]", "expected a JSON object"},
    {"{\"defaultAction\": \"SCMP_ACT_ALLOW\"} {}", "data after the end"},
    {"{}", "defaultAction"},
    {"{\"defaultAction\": 1}", "defaultAction"},
    {"{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}", "unsupported action: SCMP_ACT_NOTIFY"},
    {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"listenerPath\": \"/x\"}",
     "unsupported key: listenerPath"},
    {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"x86_64\"]}",
     "unknown architecture: x86_64"},
    {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": {}}", "syscalls is an array"},
    {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\"]}]}",
     "need names (array) or name, and an action"},
    {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\"], "
     "\"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 99999}]}",
     "errnoRet out of range"},
    {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\"], "
     "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"op\": \"SCMP_CMP_EQ\", "
     "\"vaule\": 1}]}]}",
     "bad args entry: vaule"},
    {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\"], "
     "\"action\": \"SCMP_ACT_ERRNO\", \"includes\": {\"kernel\": \"5.4\"}}]}",
     "bad includes/excludes: kernel"},
};

static void check_errors(void)
{
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                sing_err_t e = {0};
                CHECK(mkdir_errno_under(bad[i].text, &e) == -1);
                if (!strstr(e.msg, bad[i].msg) || !strstr(e.msg, path) || strchr(e.msg, '\n')) {
                        fprintf(stderr, "case %zu: message \"%s\" lacks \"%s\"\n", i, e.msg,
                                bad[i].msg);
                        check_failures++;
                }
        }
        unsigned char *bpf = NULL;
        size_t len;
        sing_err_t e = {0};
        CHECK(seccomp_profile_compile("/nonexistent/profile.json", &bpf, &len, &e) == -1);
        CHECK(strstr(e.msg, "/nonexistent/profile.json") != NULL);
        CHECK(seccomp_profile_compile("/tmp", &bpf, &len, &e) == -1);
        CHECK(strstr(e.msg, "not a regular file") != NULL);
}

int main(int argc, char **argv)
{
        int fd = mkstemp(path);
        if (fd < 0)
                return 1;
        close(fd);
        if (argc > 1) {
                /* The shipped profile compiles. */
                unsigned char *bpf = NULL;
                size_t len = 0;
                sing_err_t e = {0};
                CHECK(seccomp_profile_compile(argv[1], &bpf, &len, &e) == 0);
                CHECK(len > 0);
                free(bpf);
        }
        check_programs();
        check_errors();
        unlink(path);
        CHECK_DONE();
}
