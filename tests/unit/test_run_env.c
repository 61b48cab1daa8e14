/* The container environment rules of run/exec/shell (frontend/run_env.c),
 * the --env-file format and bind list parsing. The generated
 * SINGULARITY_ENV_SCRIPT is checked by running it with /bin/sh. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "run_env.h"

/* The value of key in a NULL-terminated KEY=VALUE array, or NULL. */
static const char *env_get(char **env, const char *key)
{
        size_t n = strlen(key);
        for (; env && *env; env++)
                if (strncmp(*env, key, n) == 0 && (*env)[n] == '=')
                        return *env + n + 1;
        return NULL;
}

static int compute(char **host, bool cleanenv, bool shell, const struct strv *file,
                   const struct strv *flag, struct run_env *out, sing_err_t *e)
{
        struct run_env_input in = {
            .host_env = host,
            .cleanenv = cleanenv,
            .shell = shell,
            .home_dest = "/home/me",
            .image = "/images/alpine.sif",
            .env_file = file,
            .env_flag = flag,
        };
        return run_env_compute(&in, out, e);
}

/* Run `sh -c '<pre> eval "$SINGULARITY_ENV_SCRIPT"; <post>'` with only
 * SINGULARITY_ENV_SCRIPT in the environment; return its stdout (malloc'd)
 * and length, or NULL if sh failed. */
static char *sh_eval(const char *script, const char *pre, const char *post, size_t *len)
{
        char *cmd, *env_script, *buf = NULL;
        size_t cap = 0, n = 0;
        int fds[2], status;
        pid_t pid;

        if (asprintf(&cmd, "%s eval \"$SINGULARITY_ENV_SCRIPT\"; %s", pre, post) < 0 ||
            asprintf(&env_script, "SINGULARITY_ENV_SCRIPT=%s", script) < 0 || pipe(fds) < 0)
                return NULL;
        pid = fork();
        if (pid == 0) {
                char *argv[] = {"/bin/sh", "-c", cmd, NULL};
                char *envp[] = {env_script, NULL};
                dup2(fds[1], 1);
                close(fds[0]);
                close(fds[1]);
                execve("/bin/sh", argv, envp);
                _exit(127);
        }
        close(fds[1]);
        for (;;) {
                ssize_t r;
                if (n + 4096 > cap) {
                        cap = cap ? cap * 2 : 8192;
                        buf = realloc(buf, cap);
                }
                r = read(fds[0], buf + n, cap - n);
                if (r <= 0)
                        break;
                n += (size_t)r;
        }
        close(fds[0]);
        waitpid(pid, &status, 0);
        free(cmd);
        free(env_script);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                free(buf);
                return NULL;
        }
        buf = realloc(buf, n + 1); /* room for a NUL: callers compare strings */
        if (buf)
                buf[n] = '\0';
        *len = n;
        return buf;
}

static void test_passthrough(void)
{
        char *host[] = {"FOO=bar",
                        "HOME=/root",
                        "PATH=/host/bin",
                        "LD_LIBRARY_PATH=/host/lib",
                        "SINGULARITY_BIND=/a",
                        "APPTAINER_CACHEDIR=/c",
                        "SINGULARITY_ENV_SCRIPT=rm -rf /",
                        "TERM=xterm",
                        "FOO=second",
                        "NOEQUALS",
                        NULL};
        struct run_env env;
        sing_err_t e = {0};
        CHECK(compute(host, false, false, NULL, NULL, &env, &e) == 0);
        CHECK(run_env_finish(&env, &e) == 0);
        CHECK_STR(env_get(env.pass.v, "FOO"), "bar"); /* first of duplicates, as getenv */
        CHECK_STR(env_get(env.pass.v, "TERM"), "xterm");
        CHECK_STR(env_get(env.pass.v, "HOME"), "/home/me");
        CHECK_STR(env_get(env.pass.v, "PATH"),
                  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        CHECK(env_get(env.pass.v, "LD_LIBRARY_PATH") == NULL);
        CHECK(env_get(env.pass.v, "SINGULARITY_BIND") == NULL);
        CHECK(env_get(env.pass.v, "APPTAINER_CACHEDIR") == NULL);
        CHECK(env_get(env.pass.v, "NOEQUALS") == NULL);
        CHECK(env_get(env.pass.v, "LANG") == NULL);
        CHECK_STR(env_get(env.pass.v, "SINGULARITY_CONTAINER"), "/images/alpine.sif");
        CHECK_STR(env_get(env.pass.v, "SINGULARITY_NAME"), "alpine.sif");
        /* The host's script is replaced by ours (empty: nothing to override). */
        CHECK_STR(env_get(env.pass.v, "SINGULARITY_ENV_SCRIPT"), "");
        CHECK(env.pass.v[env.pass.n] == NULL);
        run_env_free(&env);
}

static void test_cleanenv(void)
{
        char *host[] = {
            "FOO=bar",       "TERM=vt100", "LANG=fr_FR.UTF-8",        "http_proxy=http://p:3128",
            "HTTPS_PROXY=x", "USER=me",    "SINGULARITYENV_KEEP=yes", NULL};
        struct run_env env;
        sing_err_t e = {0};
        CHECK(compute(host, true, false, NULL, NULL, &env, &e) == 0);
        CHECK(env_get(env.pass.v, "FOO") == NULL);
        CHECK(env_get(env.pass.v, "USER") == NULL);
        CHECK_STR(env_get(env.pass.v, "TERM"), "vt100");
        CHECK_STR(env_get(env.pass.v, "http_proxy"), "http://p:3128");
        CHECK_STR(env_get(env.pass.v, "HTTPS_PROXY"), "x");
        CHECK_STR(env_get(env.pass.v, "LANG"), "C");
        CHECK_STR(env_get(env.pass.v, "HOME"), "/home/me");
        /* Overrides still apply with --cleanenv. */
        CHECK_STR(kv_get(&env.overrides, "KEEP"), "yes");
        run_env_free(&env);
}

static void test_precedence(void)
{
        char *host[] = {"APPTAINERENV_A=apt",        "SINGULARITYENV_A=sing",
                        "APPTAINERENV_B=apt",        "SINGULARITYENV_C=sing",
                        "SINGULARITYENV_D=sing",     "A=host",
                        "SINGULARITYENV_HOME=/evil", "SINGULARITYENV_1BAD=x",
                        "SINGULARITYENV_=x",         NULL};
        struct strv file = {0}, flag = {0};
        struct run_env env;
        sing_err_t e = {0};
        kv_set(&file, "C", "file");
        kv_set(&file, "D", "file");
        strv_push(&flag, "D=flag1");
        strv_push(&flag, "D=flag2");
        strv_push(&flag, "E=a=b");
        CHECK(compute(host, false, false, &file, &flag, &env, &e) == 0);
        CHECK_STR(kv_get(&env.overrides, "A"), "sing");
        CHECK_STR(kv_get(&env.overrides, "B"), "apt");
        CHECK_STR(kv_get(&env.overrides, "C"), "file");
        CHECK_STR(kv_get(&env.overrides, "D"), "flag2");
        CHECK_STR(kv_get(&env.overrides, "E"), "a=b");
        CHECK(kv_get(&env.overrides, "HOME") == NULL);
        CHECK(kv_get(&env.overrides, "1BAD") == NULL);
        CHECK(env.overrides.n == 5);
        /* The overridden host A and the prefixed variables do not pass. */
        CHECK(env_get(env.pass.v, "A") == NULL);
        CHECK(env_get(env.pass.v, "SINGULARITYENV_A") == NULL);
        CHECK(env_get(env.pass.v, "APPTAINERENV_B") == NULL);
        run_env_free(&env);

        /* Explicit flags with a bad name or HOME are errors. */
        strv_free(&flag);
        strv_push(&flag, "HOME=/x");
        CHECK(compute(host, false, false, NULL, &flag, &env, &e) == -1);
        CHECK(strstr(e.msg, "HOME") != NULL);
        strv_free(&flag);
        strv_push(&flag, "A-B=1");
        CHECK(compute(host, false, false, NULL, &flag, &env, &e) == -1);
        CHECK(strstr(e.msg, "A-B") != NULL);
        strv_free(&flag);
        strv_free(&file);
}

static void test_shell_var(void)
{
        char *host[] = {"APPTAINER_SHELL=/bin/zsh", NULL};
        struct run_env env;
        sing_err_t e = {0};
        CHECK(compute(host, false, true, NULL, NULL, &env, &e) == 0);
        CHECK_STR(env_get(env.pass.v, "SINGULARITY_SHELL"), "/bin/zsh");
        run_env_free(&env);
        CHECK(compute(host, false, false, NULL, NULL, &env, &e) == 0);
        CHECK(env_get(env.pass.v, "SINGULARITY_SHELL") == NULL);
        run_env_free(&env);
}

static int write_file(char *path, const char *text)
{
        int fd = mkstemp(path);
        if (fd < 0)
                return -1;
        if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
                close(fd);
                return -1;
        }
        return close(fd);
}

static void test_env_file(void)
{
        char path[] = "/tmp/test_run_env.XXXXXX";
        struct strv kv = {0};
        sing_err_t e = {0};
        const char *good = "# a comment\n"
                           "\n"
                           "   PLAIN=some value  \n"
                           "SQ='single $HOME \"x\" \\n'\n"
                           "DQ=\"a \\\"q\\\" \\\\ \\$HOME \\n\"  # trailing comment\n"
                           "export EXP=yes\r\n"
                           "EMPTY=\n"
                           "PLAIN=later wins\n"
                           "HASH=a#b\n";
        CHECK(write_file(path, good) == 0);
        CHECK(env_file_read(path, &kv, &e) == 0);
        CHECK_STR(kv_get(&kv, "PLAIN"), "later wins");
        CHECK_STR(kv_get(&kv, "SQ"), "single $HOME \"x\" \\n");
        CHECK_STR(kv_get(&kv, "DQ"), "a \"q\" \\ $HOME \\n");
        CHECK_STR(kv_get(&kv, "EXP"), "yes");
        CHECK_STR(kv_get(&kv, "EMPTY"), "");
        CHECK_STR(kv_get(&kv, "HASH"), "a#b");
        CHECK(kv.n == 6);
        unlink(path);
        strv_free(&kv);

        static const struct {
                const char *text, *why;
        } bad[] = {
            {"A=1\n# ok\nJUSTAWORD\n", ":3: expected KEY=VALUE"},
            {"A='open\n", ":1: unterminated ' quote"},
            {"\n\nA=\"open\n", ":3: unterminated \" quote"},
            {"A='x' y\n", ":1: unexpected text"},
            {"1A=x\n", ":1: \"1A\" is not a valid"},
            {"A B=x\n", ":1: \"A B\" is not a valid"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char p[] = "/tmp/test_run_env.XXXXXX";
                char want[128];
                CHECK(write_file(p, bad[i].text) == 0);
                CHECK(env_file_read(p, &kv, &e) == -1);
                snprintf(want, sizeof(want), "%s%s", p, bad[i].why);
                if (strncmp(e.msg, want, strlen(want)) != 0) {
                        fprintf(stderr, "env file %zu: got \"%s\", want \"%s...\"\n", i, e.msg,
                                want);
                        check_failures++;
                }
                unlink(p);
                strv_free(&kv);
        }
        CHECK(env_file_read("/nonexistent/env", &kv, &e) == -1);
        CHECK(strstr(e.msg, "/nonexistent/env") != NULL);
}

static void test_bind_list(void)
{
        struct strv b = {0};
        sing_err_t e = {0};
        CHECK(bind_list_parse("/a:/b,/c:/d:ro,,/e", "/cwd", &b, &e) == 0);
        CHECK(bind_list_parse("/f:/g:rw", "/cwd", &b, &e) == 0);
        /* Relative sources are made absolute; DST defaults to SRC. */
        CHECK(bind_list_parse("data:/data,./out,.:/w:ro", "/home/me", &b, &e) == 0);
        CHECK(bind_list_parse("x", "/", &b, &e) == 0);
        CHECK(b.n == 8);
        if (b.n == 8) {
                CHECK_STR(b.v[0], "/a:/b");
                CHECK_STR(b.v[1], "/c:/d:ro");
                CHECK_STR(b.v[2], "/e");
                CHECK_STR(b.v[3], "/f:/g"); /* rw is the default */
                CHECK_STR(b.v[4], "/home/me/data:/data");
                CHECK_STR(b.v[5], "/home/me/out");
                CHECK_STR(b.v[6], "/home/me:/w:ro");
                CHECK_STR(b.v[7], "/x");
        }
        CHECK(bind_list_parse("a:b:c:d", "/", &b, &e) == -1);
        CHECK(strstr(e.msg, "a:b:c:d") != NULL);
        CHECK(bind_list_parse("/a:/b:rx", "/", &b, &e) == -1);
        CHECK(strstr(e.msg, "rx") != NULL);
        CHECK(bind_list_parse("/a:rel", "/", &b, &e) == -1);
        CHECK(strstr(e.msg, "absolute") != NULL);
        CHECK(bind_list_parse(":/b", "/", &b, &e) == -1);
        CHECK(bind_list_parse("/ok,/x:/y:/z:ro", "/", &b, &e) == -1);
        CHECK(b.n == 9); /* items before the bad one were appended */
        strv_free(&b);
}

static void test_home_spec(void)
{
        char *norm, *dest;
        sing_err_t e = {0};
        CHECK(home_spec_parse("/h/src:/home/x", "/cwd", &norm, &dest, &e) == 0);
        CHECK_STR(norm, "/h/src:/home/x");
        CHECK_STR(dest, "/home/x");
        free(norm);
        free(dest);
        CHECK(home_spec_parse("myhome", "/cwd", &norm, &dest, &e) == 0);
        CHECK_STR(norm, "/cwd/myhome");
        CHECK_STR(dest, "/cwd/myhome");
        free(norm);
        free(dest);
        CHECK(home_spec_parse("/a:rel", "/cwd", &norm, &dest, &e) == -1);
        CHECK(norm == NULL && dest == NULL);
        CHECK(home_spec_parse("/a:/b:/c", "/cwd", &norm, &dest, &e) == -1);
        CHECK(strstr(e.msg, "SRC[:DST]") != NULL);
        CHECK(home_spec_parse(":/b", "/cwd", &norm, &dest, &e) == -1);
}

static void test_path_edits(void)
{
        char *host[] = {"SINGULARITYENV_PREPEND_PATH=/pre dir", NULL};
        struct strv flag = {0};
        struct run_env env;
        sing_err_t e = {0};
        char *out, *script;
        size_t len = 0;

        strv_push(&flag, "APPEND_PATH=/post'$x");
        CHECK(compute(host, false, false, NULL, &flag, &env, &e) == 0);
        CHECK(kv_get(&env.overrides, "PREPEND_PATH") == NULL);
        script = run_env_script(&env);
        CHECK(script != NULL);
        /* PATH as the image's env would have left it. */
        out = sh_eval(script, "PATH=/img/bin;", "printf %s \"$PATH\"", &len);
        CHECK_STR(out, "/pre dir:/img/bin:/post'$x");
        free(out);
        out = sh_eval(script, "PATH=;", "printf %s \"$PATH\"", &len);
        CHECK_STR(out, "/pre dir:/post'$x");
        free(out);
        /* The helper variables are gone afterwards. */
        out = sh_eval(script, "",
                      "printf %s \"${SING_USER_DEFINED_PREPEND_PATH-unset}"
                      "${SING_USER_DEFINED_APPEND_PATH-unset}\"",
                      &len);
        CHECK_STR(out, "unsetunset");
        free(out);
        free(script);
        run_env_free(&env);
        strv_free(&flag);
}

static void test_script_exact(void)
{
        static const char *const values[] = {
            "it's",
            "\"double\"",
            "$HOME and ${PATH}",
            "back\\slash\\",
            "line1\nline2\n",
            "`id`; $(id)",
            "'",
            "",
            " lead and trail ",
            "*?[a]~",
        };
        size_t nv = sizeof(values) / sizeof(values[0]);
        struct strv flag = {0};
        struct run_env env;
        sing_err_t e = {0};
        char *host[] = {NULL};
        char *script;

        for (size_t i = 0; i < nv; i++) {
                char *kv;
                CHECK(asprintf(&kv, "V%zu=%s", i, values[i]) >= 0);
                strv_push(&flag, kv);
                free(kv);
        }
        CHECK(compute(host, false, false, NULL, &flag, &env, &e) == 0);
        CHECK(run_env_finish(&env, &e) == 0);
        script = strdup(env_get(env.pass.v, "SINGULARITY_ENV_SCRIPT"));
        for (size_t i = 0; i < nv; i++) {
                char post[64];
                size_t len = 0;
                char *out;
                /* The image's env set V<i> first: the override must win. */
                snprintf(post, sizeof(post), "printf %%s \"$V%zu\"", i);
                out = sh_eval(script, "V0=image; V3=image;", post, &len);
                CHECK(out != NULL);
                if (out && (len != strlen(values[i]) || memcmp(out, values[i], len) != 0)) {
                        fprintf(stderr, "value %zu: got \"%.*s\", want \"%s\"\n", i, (int)len, out,
                                values[i]);
                        check_failures++;
                }
                free(out);
        }
        free(script);
        run_env_free(&env);
        strv_free(&flag);
}

static void test_secure_restore(void)
{
        char *host[] = {"TMPDIR=/scratch/my tmp", "TZDIR=/zone", NULL};
        struct run_env env;
        sing_err_t e = {0};
        char *script, *out;
        size_t len = 0;
        CHECK(compute(host, false, false, NULL, NULL, &env, &e) == 0);
        CHECK_STR(env_get(env.pass.v, "TMPDIR"), "/scratch/my tmp");
        script = run_env_script(&env);
        /* Deleted by the setuid loader: the script puts the host value back. */
        out = sh_eval(script, "unset TMPDIR;", "printf %s \"$TMPDIR\"", &len);
        CHECK_STR(out, "/scratch/my tmp");
        free(out);
        /* Set by the image's env: the image wins over the host. */
        out = sh_eval(script, "TMPDIR=/image/tmp;", "printf %s \"$TMPDIR\"", &len);
        CHECK_STR(out, "/image/tmp");
        free(out);
        out = sh_eval(script, "", "printf %s \"${SING_HOST_TMPDIR-unset}${SING_HOST_TZDIR-unset}\"",
                      &len);
        CHECK_STR(out, "unsetunset");
        free(out);
        free(script);
        run_env_free(&env);

        /* --cleanenv: nothing to restore. */
        CHECK(compute(host, true, false, NULL, NULL, &env, &e) == 0);
        CHECK(env.restore.n == 0);
        CHECK(env_get(env.pass.v, "TMPDIR") == NULL);
        run_env_free(&env);
}

static void test_kv(void)
{
        struct strv l = {0};
        CHECK(kv_set(&l, "A", "1") == 0);
        CHECK(kv_set(&l, "AB", "2") == 0);
        CHECK(kv_set(&l, "A", "3") == 0);
        CHECK(l.n == 2);
        CHECK_STR(l.v[0], "A=3");
        CHECK_STR(kv_get(&l, "AB"), "2");
        CHECK(l.v[2] == NULL);
        CHECK(kv_get(&l, "B") == NULL);
        CHECK(env_name_valid("_a9") && !env_name_valid("9a") && !env_name_valid("") &&
              !env_name_valid("a.b"));
        strv_free(&l);
}

int main(void)
{
        test_kv();
        test_passthrough();
        test_cleanenv();
        test_precedence();
        test_shell_var();
        test_env_file();
        test_bind_list();
        test_home_spec();
        test_path_edits();
        test_script_exact();
        test_secure_restore();
        CHECK_DONE();
}
