/* The container environment rules of run/exec/shell (frontend/run_env.c),
 * the --env-file format, bind list parsing, the action script
 * (action_script.c, run with this machine's /bin/sh: no /.singularity.d
 * here, so the environment given to sh stands for what the image's env
 * files left) and the plan for images without a shell (direct_plan.c). */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "action_script.h"
#include "check.h"
#include "direct_plan.h"
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
            .action = shell ? "shell" : "exec",
            .env_file = file,
            .env_flag = flag,
        };
        return run_env_compute(&in, out, e);
}

/* Run the action script for `exec /bin/sh -c POST` with envp as the
 * environment; return its stdout (malloc'd) and length, or NULL if sh
 * failed. */
static char *sh_eval(const char *script, char **envp, const char *post, size_t *len)
{
        char *buf = NULL;
        size_t cap = 0, n = 0;
        int fds[2], status;
        pid_t pid;

        if (pipe(fds) < 0)
                return NULL;
        pid = fork();
        if (pid == 0) {
                char *argv[] = {"/bin/sh", "-c", (char *)script, "exec",
                                "/bin/sh", "-c", (char *)post,   NULL};
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
        CHECK_STR(env_get(env.pass.v, "FOO"), "bar"); /* first of duplicates, as getenv */
        CHECK_STR(env_get(env.pass.v, "TERM"), "xterm");
        /* HOME, SINGULARITY_CONTAINER and _NAME are the starter's to set */
        CHECK(env_get(env.pass.v, "HOME") == NULL);
        CHECK_STR(env_get(env.pass.v, "PATH"),
                  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        CHECK(env_get(env.pass.v, "LD_LIBRARY_PATH") == NULL);
        CHECK(env_get(env.pass.v, "SINGULARITY_BIND") == NULL);
        CHECK(env_get(env.pass.v, "APPTAINER_CACHEDIR") == NULL);
        CHECK(env_get(env.pass.v, "NOEQUALS") == NULL);
        CHECK(env_get(env.pass.v, "LANG") == NULL);
        CHECK(env_get(env.pass.v, "SINGULARITY_CONTAINER") == NULL);
        CHECK(env_get(env.pass.v, "SINGULARITY_NAME") == NULL);
        CHECK_STR(env_get(env.pass.v, "SINGULARITY_COMMAND"), "exec");
        CHECK_STR(env_get(env.pass.v, "APPTAINER_COMMAND"), "exec");
        CHECK_STR(env_get(env.pass.v, "SINGULARITY_ENVIRONMENT"),
                  "/.singularity.d/env/91-environment.sh");
        /* The host's SINGULARITY_ENV_SCRIPT is an option variable: dropped. */
        CHECK(env_get(env.pass.v, "SINGULARITY_ENV_SCRIPT") == NULL);
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
        CHECK_STR(kv_get(&env.overrides, "A"), "apt"); /* Apptainer: APPTAINERENV_ wins */
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
        char *norm;
        sing_err_t e = {0};
        CHECK(home_spec_parse("/h/src:/home/x", "/cwd", &norm, &e) == 0);
        CHECK_STR(norm, "/h/src:/home/x");
        free(norm);
        CHECK(home_spec_parse("myhome", "/cwd", &norm, &e) == 0);
        CHECK_STR(norm, "/cwd/myhome");
        free(norm);
        CHECK(home_spec_parse("/a:rel", "/cwd", &norm, &e) == -1);
        CHECK(norm == NULL);
        CHECK(home_spec_parse("/a:/b:/c", "/cwd", &norm, &e) == -1);
        CHECK(strstr(e.msg, "SRC[:DST]") != NULL);
        CHECK(home_spec_parse(":/b", "/cwd", &norm, &e) == -1);
}

static void test_path_edits(void)
{
        char *host[] = {"SINGULARITYENV_PREPEND_PATH=/pre dir", NULL};
        char *img[] = {"PATH=/img/bin", NULL}, *empty[] = {"PATH=", NULL};
        struct strv flag = {0};
        struct run_env env;
        sing_err_t e = {0};
        char *out, *script;
        size_t len = 0;

        strv_push(&flag, "APPEND_PATH=/post'$x");
        CHECK(compute(host, false, false, NULL, &flag, &env, &e) == 0);
        CHECK(kv_get(&env.overrides, "PREPEND_PATH") == NULL);
        script = action_script(&env, "exec", false);
        CHECK(script != NULL);
        /* PATH as the image's env would have left it; PREPEND/APPEND are data. */
        out = sh_eval(script, img, "printf %s \"$PATH\"", &len);
        CHECK_STR(out, "/pre dir:/img/bin:/post'$x");
        free(out);
        out = sh_eval(script, empty, "printf %s \"$PATH\"", &len);
        CHECK_STR(out, "/pre dir:/post'$x");
        free(out);
        /* The helpers are gone afterwards. */
        out = sh_eval(script, img,
                      "printf %s \"${__sing_path-unset}${__sing_f-unset}\"; "
                      "command -v __sing_env || echo gone",
                      &len);
        CHECK_STR(out, "unsetunsetgone\n");
        free(out);
        free(script);
        run_env_free(&env);

        /* A PATH override is evaluated against the image's PATH and wins
         * over PREPEND_PATH (Apptainer's 99-runtimevars.sh order). */
        strv_free(&flag);
        strv_push(&flag, "PATH=$PATH:/opt/bin");
        CHECK(compute(host, false, false, NULL, &flag, &env, &e) == 0);
        CHECK(kv_get(&env.overrides, "PATH") == NULL);
        script = action_script(&env, "exec", false);
        out = sh_eval(script, img, "printf %s \"$PATH\"", &len);
        CHECK_STR(out, "/img/bin:/opt/bin");
        free(out);
        free(script);
        script = action_script(&env, "exec", true);
        out = sh_eval(script, img, "printf %s \"$PATH\"", &len);
        CHECK_STR(out, "$PATH:/opt/bin");
        free(out);
        free(script);
        run_env_free(&env);
        strv_free(&flag);
}

/* Each value through the script: evaluated (want[i][0]) and --no-eval
 * (want[i][1]), with HOME=/h and X=ex in the container. */
static void test_script_values(void)
{
        static const char *const values[][3] = {
            {"it's", "it's", "it's"},
            {"\"double\"", "\"double\"", "\"double\""},
            {"$HOME and ${X}", "/h and ex", "$HOME and ${X}"},
            {"\\$HOME", "$HOME", "\\$HOME"},
            {"back\\slash\\", "back\\slash\\", "back\\slash\\"},
            {"a\\\\b", "a\\b", "a\\\\b"},
            {"\\\"q", "\"q", "\\\"q"},
            {"line1\nline2\n", "line1\nline2\n", "line1\nline2\n"},
            {"`echo hi`; $(echo there)", "hi; there", "`echo hi`; $(echo there)"},
            {"'", "'", "'"},
            {"", "", ""},
            {" lead and trail ", " lead and trail ", " lead and trail "},
            {"*?[a]~", "*?[a]~", "*?[a]~"},
        };
        size_t nv = sizeof(values) / sizeof(values[0]);
        struct strv flag = {0};
        struct run_env env;
        sing_err_t e = {0};
        char *host[] = {NULL};
        /* V0 and V3 were set by the image: the override must win. */
        char *img[] = {"HOME=/h", "X=ex", "V0=image", "V3=image", NULL};

        for (size_t i = 0; i < nv; i++) {
                char *kv;
                CHECK(asprintf(&kv, "V%zu=%s", i, values[i][0]) >= 0);
                strv_push(&flag, kv);
                free(kv);
        }
        CHECK(compute(host, false, false, NULL, &flag, &env, &e) == 0);
        for (int no_eval = 0; no_eval < 2; no_eval++) {
                char *script = action_script(&env, "exec", no_eval);
                for (size_t i = 0; i < nv; i++) {
                        char post[64];
                        size_t len = 0;
                        const char *want = values[i][1 + no_eval];
                        char *out;
                        snprintf(post, sizeof(post), "printf %%s \"$V%zu\"", i);
                        out = sh_eval(script, img, post, &len);
                        CHECK(out != NULL);
                        if (out && (len != strlen(want) || memcmp(out, want, len) != 0)) {
                                fprintf(stderr,
                                        "value %zu (no_eval %d): got \"%.*s\", want \"%s\"\n", i,
                                        no_eval, (int)len, out, want);
                                check_failures++;
                        }
                        free(out);
                }
                free(script);
        }
        run_env_free(&env);
        strv_free(&flag);
}

/* No /bin/sh: the run rule of metadata.h and the environment without
 * evaluation. */
static void test_direct_plan(void)
{
        char *host[] = {"SINGULARITYENV_WHO=$USER", "SINGULARITYENV_APPEND_PATH=/post", NULL};
        char *none[] = {NULL}, *some[] = {"a", NULL}, *opt[] = {"-v", NULL};
        struct oci_runtime oci = {.found = true, .config_runscript = true};
        struct direct_plan p;
        struct run_env env;
        sing_err_t e = {0};

        strv_push(&oci.env, "PATH=/app/bin");
        strv_push(&oci.env, "WHO=image");
        strv_push(&oci.cmd, "serve");
        CHECK(compute(host, false, false, NULL, NULL, &env, &e) == 0);
        /* CMD only: args replace it, unless they start with an option. */
        CHECK(direct_plan_build(&env, &oci, "run", none, &p, &e) == 0);
        CHECK(p.argv.n == 1 && strcmp(p.argv.v[0], "serve") == 0);
        CHECK_STR(kv_get(&p.set, "WHO"), "$USER");
        CHECK_STR(kv_get(&p.set, "PATH"),
                  "/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/post");
        direct_plan_free(&p);
        CHECK(direct_plan_build(&env, &oci, "run", some, &p, &e) == 0);
        CHECK(p.argv.n == 1 && strcmp(p.argv.v[0], "a") == 0);
        direct_plan_free(&p);
        CHECK(direct_plan_build(&env, &oci, "run", opt, &p, &e) == 0);
        CHECK(p.argv.n == 2 && strcmp(p.argv.v[0], "serve") == 0 && strcmp(p.argv.v[1], "-v") == 0);
        direct_plan_free(&p);
        /* ENTRYPOINT: args replace CMD after it. */
        strv_push(&oci.entrypoint, "/app/bin/tool");
        CHECK(direct_plan_build(&env, &oci, "run", none, &p, &e) == 0);
        CHECK(p.argv.n == 2 && strcmp(p.argv.v[1], "serve") == 0);
        direct_plan_free(&p);
        CHECK(direct_plan_build(&env, &oci, "run", some, &p, &e) == 0);
        CHECK(p.argv.n == 2 && strcmp(p.argv.v[0], "/app/bin/tool") == 0 &&
              strcmp(p.argv.v[1], "a") == 0);
        direct_plan_free(&p);
        /* exec: the command itself; shell or a recipe runscript: no plan. */
        CHECK(direct_plan_build(&env, &oci, "exec", some, &p, &e) == 0);
        CHECK(p.argv.n == 1 && strcmp(p.argv.v[0], "a") == 0);
        direct_plan_free(&p);
        CHECK(direct_plan_build(&env, &oci, "shell", none, &p, &e) == 0);
        CHECK(p.argv.n == 0 && p.set.n == 0);
        oci.config_runscript = false;
        CHECK(direct_plan_build(&env, &oci, "run", none, &p, &e) == 0);
        CHECK(p.argv.n == 0);
        /* No OCI config: exec still runs, with the default PATH. */
        CHECK(direct_plan_build(&env, NULL, "exec", some, &p, &e) == 0);
        CHECK_STR(kv_get(&p.set, "PATH"),
                  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/post");
        direct_plan_free(&p);
        oci_runtime_free(&oci);
        run_env_free(&env);
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
        char *stripped[] = {NULL}, *img[] = {"TMPDIR=/image/tmp", NULL};
        script = action_script(&env, "exec", false);
        /* Deleted by the setuid loader: the script puts the host value back. */
        out = sh_eval(script, stripped, "printf %s \"$TMPDIR\"", &len);
        CHECK_STR(out, "/scratch/my tmp");
        free(out);
        /* Set by the image's env: the image wins over the host. */
        out = sh_eval(script, img, "printf %s \"$TMPDIR\"", &len);
        CHECK_STR(out, "/image/tmp");
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

/* --app: the names it takes; an app the root lacks ends the script. */
static void test_app_script(void)
{
        char *envp[] = {"PATH=/usr/bin:/bin", NULL};
        struct run_env env = {0};
        size_t len = 0;
        char *script, *out;
        CHECK(app_name_valid("foo") && app_name_valid("my-app_2.1+x"));
        CHECK(!app_name_valid("") && !app_name_valid("../x") && !app_name_valid("a/b") &&
              !app_name_valid(".hidden") && !app_name_valid("-x") && !app_name_valid("a b") &&
              !app_name_valid("a'b") && !app_name_valid(NULL));
        script = action_script_app(&env, "run", false, "no-such-app-here");
        CHECK(script != NULL);
        CHECK(script && strstr(script, "'/scif/apps/no-such-app-here/scif/runscript'") != NULL);
        out = sh_eval(script, envp, "echo ran", &len);
        CHECK(out == NULL); /* status 255 before any action */
        free(out);
        free(script);
        script = action_script(&env, "run", false);
        CHECK(script && strstr(script, "/scif/apps/") == NULL);
        free(script);
}

int main(void)
{
        RUN(test_kv);
        RUN(test_app_script);
        RUN(test_passthrough);
        RUN(test_cleanenv);
        RUN(test_precedence);
        RUN(test_shell_var);
        RUN(test_env_file);
        RUN(test_bind_list);
        RUN(test_home_spec);
        RUN(test_path_edits);
        RUN(test_script_values);
        RUN(test_direct_plan);
        RUN(test_secure_restore);
        CHECK_DONE();
}
