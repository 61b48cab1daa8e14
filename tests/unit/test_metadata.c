/* Tests for frontend/metadata.c: the generated texts, and the scripts really
 * run by /bin/sh (and busybox sh when present) from a temp dir, comparing
 * what comes out byte for byte. */
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "metadata.h"
#include "shell_quote.h"

#define MTIME 1700000000

static char tmp[] = "/tmp/test_metadata.XXXXXX";

/* ---- helpers ---- */

struct kv {
        const char *key, *value;
};

/* Values that break naive quoting. */
static const struct kv nasty[] = {
    {"QUOTE", "it's"},
    {"DQUOTE", "say \"hi\""},
    {"DOLLAR", "$HOME `id` $(id) ${X:-y} \\n \\\\"},
    {"NEWLINES", "a  b\nc\n"},
    {"EMPTY", ""},
    {"QUOTES3", "'''"},
    {"BACKSLASH_END", "trail\\"},
    {"EQ", "x=y=z"},
    {"MIXED", "h\xc3\xa9llo\t* ? [a] ~ ; & | < > # !"},
    {"DASH", "-n"},
    {"_under9", "ok"},
};
#define N_NASTY (sizeof(nasty) / sizeof(nasty[0]))

static json_object *strs(const char *const *v)
{
        json_object *a = json_object_new_array();
        for (; *v; v++)
                json_object_array_add(a, json_object_new_string(*v));
        return a;
}

/* Build a config JSON; NULL arrays are left out. */
static char *make_config(json_object *env, const char *const *entrypoint, const char *const *cmd,
                         json_object *labels)
{
        json_object *root = json_object_new_object(), *cfg = json_object_new_object();
        if (env)
                json_object_object_add(cfg, "Env", env);
        if (entrypoint)
                json_object_object_add(cfg, "Entrypoint", strs(entrypoint));
        if (cmd)
                json_object_object_add(cfg, "Cmd", strs(cmd));
        if (labels)
                json_object_object_add(cfg, "Labels", labels);
        json_object_object_add(root, "architecture", json_object_new_string("amd64"));
        json_object_object_add(root, "config", cfg);
        char *s = strdup(json_object_to_json_string(root));
        json_object_put(root);
        return s;
}

static const struct synth_entry *find(const struct synth_list *l, const char *path)
{
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->v[i].path, path) == 0)
                        return &l->v[i];
        return NULL;
}

/* NUL-terminated copy of a file entry's text ("" if missing). */
static char *text_of(const struct synth_list *l, const char *path)
{
        const struct synth_entry *s = find(l, path);
        if (!s || !s->data)
                return strdup("");
        char *t = malloc(s->len + 1);
        memcpy(t, s->data, s->len);
        t[s->len] = 0;
        return t;
}

static int run(char *const argv[], char *const envp[], const char *out, const char *err);

static void rm_rf(const char *dir)
{
        char *argv[] = {"/bin/rm", "-rf", (char *)dir, NULL};
        char *envp[] = {"PATH=/usr/bin:/bin", NULL};
        run(argv, envp, NULL, NULL);
}

/* Write the entries under dir, as the layer merge would. */
static int materialize(const struct synth_list *l, const char *dir)
{
        for (size_t i = 0; i < l->n; i++) {
                const struct synth_entry *s = &l->v[i];
                char p[1024];
                snprintf(p, sizeof(p), "%s/%s", dir, s->path);
                if (S_ISDIR(s->mode)) {
                        if (mkdir(p, s->mode & 07777) < 0 && errno != EEXIST)
                                return -1;
                } else if (S_ISLNK(s->mode)) {
                        if (symlink(s->link, p) < 0)
                                return -1;
                } else {
                        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                        if (fd < 0 || write(fd, s->data, s->len) != (ssize_t)s->len)
                                return -1;
                        close(fd);
                }
                if (!S_ISLNK(s->mode) && chmod(p, s->mode & 07777) < 0)
                        return -1;
        }
        return 0;
}

/* Fork/exec argv with envp, stdout/stderr to files (NULL: /dev/null).
 * Returns the exit status, or -1 when it did not exit normally. */
static int run(char *const argv[], char *const envp[], const char *out, const char *err)
{
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
                int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
                int e = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
                int in = open("/dev/null", O_RDONLY);
                if (o < 0 || e < 0 || in < 0)
                        _exit(126);
                dup2(in, 0);
                dup2(o, 1);
                dup2(e, 2);
                execve(argv[0], argv, envp);
                _exit(125);
        }
        int st;
        if (pid < 0 || waitpid(pid, &st, 0) < 0)
                return -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return NULL;
        char *buf = NULL;
        size_t n = 0;
        FILE *m = open_memstream(&buf, &n);
        int c;
        while ((c = fgetc(f)) != EOF)
                fputc(c, m);
        fclose(f);
        fclose(m);
        if (len)
                *len = n;
        return buf;
}

/* Run argv, check the exit status, and compare stdout byte for byte. */
#define CHECK_RUN(argv, envp, want_status, want_out)                                               \
        do {                                                                                       \
                char out_[128], err_[128];                                                         \
                snprintf(out_, sizeof(out_), "%s/out", tmp);                                       \
                snprintf(err_, sizeof(err_), "%s/err", tmp);                                       \
                int st_ = run(argv, envp, out_, err_);                                             \
                size_t n_;                                                                         \
                char *got_ = slurp(out_, &n_);                                                     \
                const char *w_ = (want_out);                                                       \
                if (st_ != (want_status)) {                                                        \
                        char *e_ = slurp(err_, NULL);                                              \
                        fprintf(stderr, "%s:%d: exit %d, wanted %d; stderr: %s\n", __FILE__,       \
                                __LINE__, st_, (want_status), e_ ? e_ : "");                       \
                        free(e_);                                                                  \
                        check_failures++;                                                          \
                }                                                                                  \
                if (w_ && (!got_ || n_ != strlen(w_) || memcmp(got_, w_, n_) != 0)) {              \
                        fprintf(stderr, "%s:%d: output [%s] != [%s]\n", __FILE__, __LINE__,        \
                                got_ ? got_ : "(none)", w_);                                       \
                        check_failures++;                                                          \
                }                                                                                  \
                free(got_);                                                                        \
        } while (0)

/* Generate from a config into a fresh subdir of tmp; returns the subdir. */
static char *generate(const char *name, const char *config, const struct metadata_opts *o,
                      struct synth_list *top, struct synth_list *bottom)
{
        static char dir[256];
        sing_err_t e = {0};
        snprintf(dir, sizeof(dir), "%s/%s", tmp, name);
        mkdir(dir, 0755);
        int r = metadata_from_oci_config_at(config, strlen(config), o, dir, top, bottom, &e);
        if (r < 0)
                fprintf(stderr, "generate %s: %s\n", name, e.msg);
        CHECK(r == 0);
        CHECK(materialize(top, dir) == 0);
        return dir;
}

static char *envp_path[] = {"PATH=/usr/bin:/bin", NULL};

/* ---- tests ---- */

static json_object *nasty_env(void)
{
        json_object *env = json_object_new_array();
        for (size_t i = 0; i < N_NASTY; i++) {
                char *kv;
                if (asprintf(&kv, "%s=%s", nasty[i].key, nasty[i].value) < 0)
                        abort();
                json_object_array_add(env, json_object_new_string(kv));
                free(kv);
        }
        /* Not variables: skipped with a warning. */
        const char *bad[] = {"1BAD=x", "A-B=x", "NOEQUALS", "=novalue", "SP ACE=x"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                json_object_array_add(env, json_object_new_string(bad[i]));
        return env;
}

/* Source the env file in a shell and print each variable: byte-exact. */
static void test_env_file(void)
{
        struct metadata_opts o = {.mtime = MTIME};
        struct synth_list top = {0}, bottom = {0};
        char *cfg = make_config(nasty_env(), NULL, NULL, NULL);
        char *dir = generate("env", cfg, &o, &top, &bottom);
        char *text = text_of(&top, ".singularity.d/env/10-docker2singularity.sh");
        CHECK(strncmp(text, "#!/bin/sh\n", 10) == 0);
        CHECK(strstr(text, "export QUOTE='it'\\''s'\n") != NULL);
        CHECK(strstr(text, "export EQ='x=y=z'\n") != NULL);
        CHECK(strstr(text, "export EMPTY=''\n") != NULL);
        CHECK(strstr(text, "1BAD") == NULL && strstr(text, "A-B") == NULL);
        CHECK(strstr(text, "NOEQUALS") == NULL && strstr(text, "novalue") == NULL);
        CHECK(strstr(text, "SP ACE") == NULL);
        const struct synth_entry *s = find(&top, ".singularity.d/env/10-docker2singularity.sh");
        CHECK(s && s->mode == (S_IFREG | 0755));

        char envfile[512];
        snprintf(envfile, sizeof(envfile), "%s/.singularity.d/env/10-docker2singularity.sh", dir);
        const char *shells[] = {"/bin/sh", "/bin/dash", "/usr/bin/busybox", "/bin/bash"};
        for (size_t sh = 0; sh < sizeof(shells) / sizeof(shells[0]); sh++) {
                if (access(shells[sh], X_OK) != 0)
                        continue;
                int busybox = strstr(shells[sh], "busybox") != NULL;
                for (size_t i = 0; i < N_NASTY; i++) {
                        char script[256];
                        /* The file must win over a value already in the environment. */
                        snprintf(script, sizeof(script), ". \"$1\" && printf '%%s' \"$%s\"",
                                 nasty[i].key);
                        char pre[300];
                        snprintf(pre, sizeof(pre), "%s=preset", nasty[i].key);
                        char *envp[] = {"PATH=/usr/bin:/bin", pre, NULL};
                        char *argv_sh[] = {(char *)shells[sh], "-c", script, "sh", envfile, NULL};
                        char *argv_bb[] = {
                            (char *)shells[sh], "sh", "-c", script, "sh", envfile, NULL};
                        CHECK_RUN(busybox ? argv_bb : argv_sh, envp, 0, nasty[i].value);
                }
        }
        free(text);
        free(cfg);
        synth_list_free(&top);
        synth_list_free(&bottom);
}

static void test_env_script(void)
{
        char *kv[] = {"A=b'c", "1X=y", "E=", "N=l1\nl2"};
        char *s = shell_env_script(kv, 4);
        CHECK_STR(s, "export A='b'\\''c'\nexport E=''\nexport N='l1\nl2'\n");
        free(s);
        s = shell_env_script(NULL, 0);
        CHECK_STR(s, "");
        free(s);
}

static void check_runscript(const char *name, const char *const *ep, const char *const *cmd,
                            bool include_cmd, const char *want_noargs, char *const *args,
                            const char *want_args)
{
        struct metadata_opts o = {.mtime = MTIME, .include_cmd = include_cmd};
        struct synth_list top = {0}, bottom = {0};
        char *cfg = make_config(NULL, ep, cmd, NULL);
        char *dir = generate(name, cfg, &o, &top, &bottom);
        char rs[512], run_action[512];
        snprintf(rs, sizeof(rs), "%s/.singularity.d/runscript", dir);
        snprintf(run_action, sizeof(run_action), "%s/.singularity.d/actions/run", dir);
        char *argv0[] = {rs, NULL};
        CHECK_RUN(argv0, envp_path, 0, want_noargs);
        char *argv0_action[] = {run_action, NULL};
        CHECK_RUN(argv0_action, envp_path, 0, want_noargs);
        if (args) {
                char *argv[8] = {rs}, *argv_action[8] = {run_action};
                for (int i = 0; args[i] && i < 6; i++)
                        argv[i + 1] = argv_action[i + 1] = args[i];
                CHECK_RUN(argv, envp_path, 0, want_args);
                CHECK_RUN(argv_action, envp_path, 0, want_args);
        }
        free(cfg);
        synth_list_free(&top);
        synth_list_free(&bottom);
}

static void test_runscripts(void)
{
        const char *ep[] = {"/usr/bin/printf", "[%s]", NULL};
        const char *cmd[] = {"a b", "it's\n \"$HOME\"", NULL};
        char *args[] = {"x  y", "q\"'\n$HOME `id`", "", NULL};
        /* ENTRYPOINT + CMD: CMD is the default, run's arguments replace it. */
        check_runscript("ep_cmd", ep, cmd, false, "[a b][it's\n \"$HOME\"]", args,
                        "[x  y][q\"'\n$HOME `id`][]");
        /* ENTRYPOINT alone. */
        check_runscript("ep", ep, NULL, false, "[]", args, "[x  y][q\"'\n$HOME `id`][]");

        /* CMD alone: run's arguments are the whole command. */
        const char *cmd_only[] = {"/usr/bin/printf", "<%s>", "c d", NULL};
        char *args2[] = {"/usr/bin/printf", "{%s}", "z 'z'", NULL};
        check_runscript("cmd", NULL, cmd_only, false, "<c d>", args2, "{z 'z'}");
        /* CMD alone and arguments starting with an option: options for CMD. */
        const char *cmd_sh[] = {"/bin/sh", NULL};
        char *args_opt[] = {"-c", "printf '<%s>' \"$0\" \"$1\"", "a b", "c'd", NULL};
        check_runscript("cmd_opt", NULL, cmd_sh, false, "", args_opt, "<a b><c'd>");

        /* IncludeCmd with both: CMD is the runscript, ENTRYPOINT ignored. */
        const char *ep_false[] = {"/bin/false", NULL};
        const char *cmd_won[] = {"/usr/bin/printf", "%s", "cmd won", NULL};
        check_runscript("inc_both", ep_false, cmd_won, true, "cmd won", args2, "{z 'z'}");
        /* IncludeCmd without CMD: ENTRYPOINT still used. */
        check_runscript("inc_ep", ep, NULL, true, "[]", NULL, NULL);
        /* Without IncludeCmd, ENTRYPOINT runs with CMD as its arguments. */
        const char *ep2[] = {"/usr/bin/printf", "E[%s]", NULL};
        check_runscript("no_inc", ep2, cmd_won, false, "E[/usr/bin/printf]E[%s]E[cmd won]", NULL,
                        NULL);

        /* Neither: the container's shell with run's arguments. */
        char *args3[] = {"-c", "printf '%s|' \"$0\" \"$1\"", "zero", "o n e", NULL};
        check_runscript("none", NULL, NULL, false, "", args3, "zero|o n e|");

        /* Empty arrays count as unset. */
        const char *empty[] = {NULL};
        check_runscript("empty", empty, cmd_only, false, "<c d>", NULL, NULL);
}

static void test_recipe_runscript(void)
{
        struct synth_list top = {0}, bottom = {0};
        const char *ep[] = {"/bin/false", NULL};
        char *cfg = make_config(NULL, ep, ep, NULL);
        struct metadata_opts o = {.mtime = MTIME, .recipe_runscript = "printf 'R:%s' \"$@\""};
        char *dir = generate("recipe", cfg, &o, &top, &bottom);
        char *text = text_of(&top, ".singularity.d/runscript");
        CHECK_STR(text, "#!/bin/sh\nprintf 'R:%s' \"$@\"\n");
        char rs[512];
        snprintf(rs, sizeof(rs), "%s/.singularity.d/runscript", dir);
        char *argv[] = {rs, "a b", NULL};
        CHECK_RUN(argv, envp_path, 0, "R:a b");
        free(text);
        synth_list_free(&top);
        synth_list_free(&bottom);

        /* A #! line is the interpreter. */
        memset(&top, 0, sizeof(top));
        memset(&bottom, 0, sizeof(bottom));
        o.recipe_runscript = "#!/bin/bash\nprintf '%s' \"${BASH_VERSION:+bash}\"\n";
        dir = generate("recipe_bash", cfg, &o, &top, &bottom);
        text = text_of(&top, ".singularity.d/runscript");
        CHECK_STR(text, o.recipe_runscript);
        snprintf(rs, sizeof(rs), "%s/.singularity.d/runscript", dir);
        char *argv2[] = {rs, NULL};
        if (access("/bin/bash", X_OK) == 0)
                CHECK_RUN(argv2, envp_path, 0, "bash");
        free(text);
        free(cfg);
        synth_list_free(&top);
        synth_list_free(&bottom);
}

static void test_actions(void)
{
        struct synth_list top = {0}, bottom = {0};
        json_object *env = json_object_new_array();
        json_object_array_add(env, json_object_new_string("FOO=image"));
        json_object_array_add(env, json_object_new_string("KEEP=image keep"));
        const char *ep[] = {"/usr/bin/printf", "run:%s", NULL};
        char *cfg = make_config(env, ep, NULL, NULL);
        struct metadata_opts o = {.mtime = MTIME};
        char *dir = generate("actions", cfg, &o, &top, &bottom);

        /* An env file that clobbers its positional parameters must not touch
         * the action's arguments. */
        char evil[512];
        snprintf(evil, sizeof(evil), "%s/.singularity.d/env/50-evil.sh", dir);
        FILE *f = fopen(evil, "w");
        fputs("set -- clobbered\n", f);
        fclose(f);

        char a_exec[512], a_run[512], a_shell[512], a_test[512], a_start[512];
        snprintf(a_exec, sizeof(a_exec), "%s/.singularity.d/actions/exec", dir);
        snprintf(a_run, sizeof(a_run), "%s/.singularity.d/actions/run", dir);
        snprintf(a_shell, sizeof(a_shell), "%s/.singularity.d/actions/shell", dir);
        snprintf(a_test, sizeof(a_test), "%s/.singularity.d/actions/test", dir);
        snprintf(a_start, sizeof(a_start), "%s/.singularity.d/actions/start", dir);

        const char *show =
            "printf '%s|%s|%s' \"$FOO\" \"$NEWV\" \"${SINGULARITY_ENV_SCRIPT-unset}\"";
        char *argv_show[] = {a_exec, "/bin/sh", "-c", (char *)show, NULL};
        /* Image value without overrides. */
        CHECK_RUN(argv_show, envp_path, 0, "image||unset");

        /* The runtime carries the override logic (action_script.c): the
         * image's scripts never evaluate what the environment holds. */
        char *envp_over[] = {"PATH=/usr/bin:/bin", "SINGULARITY_ENV_SCRIPT=FOO=evil", NULL};
        CHECK_RUN(argv_show, envp_over, 0, "image||FOO=evil");

        /* Arguments pass exactly; a missing command is 127 with a message. */
        char *argv_args[] = {a_exec, "/usr/bin/printf", "<%s>", "a  b", "'\"\n", "", NULL};
        CHECK_RUN(argv_args, envp_path, 0, "<a  b><'\"\n><>");
        char *argv_missing[] = {a_exec, "no-such-cmd-xyz", "arg", NULL};
        CHECK_RUN(argv_missing, envp_path, 127, "");
        char errp[512];
        snprintf(errp, sizeof(errp), "%s/err", tmp);
        char *err = slurp(errp, NULL);
        CHECK(err && strstr(err, "no-such-cmd-xyz") && strstr(err, "no such file"));
        free(err);
        char *argv_missing_abs[] = {a_exec, "/no/such/cmd", NULL};
        CHECK_RUN(argv_missing_abs, envp_path, 127, "");

        /* PATH is exported even when the caller passes none. */
        char *envp_empty[] = {NULL};
        char *argv_path[] = {a_exec, "/bin/sh", "-c", "printf '%s' \"${PATH:+set}\"", NULL};
        CHECK_RUN(argv_path, envp_empty, 0, "set");

        /* run -> runscript with the arguments. */
        char *argv_run[] = {a_run, "x y", NULL};
        CHECK_RUN(argv_run, envp_path, 0, "run:x y");

        /* shell: SINGULARITY_SHELL, PS1 exported. */
        char *envp_shell[] = {"PATH=/usr/bin:/bin", "SINGULARITY_SHELL=/bin/sh", NULL};
        char *argv_shell[] = {a_shell, "-c", "printf '%s|%s' \"$PS1\" \"$KEEP\"", NULL};
        CHECK_RUN(argv_shell, envp_shell, 0, "Singularity> |image keep");

        /* test: exit 0 without a test script, its status with one. */
        char *argv_test[] = {a_test, NULL};
        CHECK_RUN(argv_test, envp_path, 0, "");
        char tscript[512];
        snprintf(tscript, sizeof(tscript), "%s/.singularity.d/test", dir);
        f = fopen(tscript, "w");
        fputs("#!/bin/sh\nprintf 'test:%s' \"$FOO\"\nexit 3\n", f);
        fclose(f);
        chmod(tscript, 0755);
        CHECK_RUN(argv_test, envp_path, 3, "test:image");

        /* start: nothing to do without a startscript. */
        char *argv_start[] = {a_start, NULL};
        CHECK_RUN(argv_start, envp_path, 0, "");

        /* The same actions under busybox sh. */
        if (access("/usr/bin/busybox", X_OK) == 0) {
                char *bb_show[] = {"/usr/bin/busybox", "sh", a_exec, "/bin/sh", "-c",
                                   (char *)show,       NULL};
                CHECK_RUN(bb_show, envp_over, 0, "image||FOO=evil");
                char *bb_missing[] = {"/usr/bin/busybox", "sh", a_exec, "no-such-cmd-xyz", NULL};
                CHECK_RUN(bb_missing, envp_path, 127, "");
                char *bb_run[] = {"/usr/bin/busybox", "sh", a_run, "a 'b'", NULL};
                CHECK_RUN(bb_run, envp_path, 0, "run:a 'b'");
        }

        free(cfg);
        synth_list_free(&top);
        synth_list_free(&bottom);
}

static void test_entries(void)
{
        struct synth_list top = {0}, bottom = {0};
        sing_err_t e = {0};
        struct metadata_opts o = {.mtime = MTIME};
        const char *cfg = "{\"config\":{}}";
        CHECK(metadata_from_oci_config(cfg, strlen(cfg), &o, &top, &bottom, &e) == 0);

        const char *dirs[] = {".singularity.d", ".singularity.d/actions", ".singularity.d/env",
                              ".singularity.d/libs"};
        for (size_t i = 0; i < 4; i++) {
                const struct synth_entry *s = find(&top, dirs[i]);
                CHECK(s && s->mode == (S_IFDIR | 0755));
        }
        const char *exe[] = {".singularity.d/runscript",     ".singularity.d/actions/exec",
                             ".singularity.d/actions/run",   ".singularity.d/actions/shell",
                             ".singularity.d/actions/start", ".singularity.d/actions/test",
                             ".singularity.d/env/01-base.sh"};
        for (size_t i = 0; i < sizeof(exe) / sizeof(exe[0]); i++) {
                const struct synth_entry *s = find(&top, exe[i]);
                CHECK(s && s->mode == (S_IFREG | 0755) && s->len > 10);
                CHECK(s && memcmp(s->data, "#!/bin/sh\n", 10) == 0);
        }
        /* The real layout uses absolute /.singularity.d paths. */
        char *run = text_of(&top, ".singularity.d/actions/run");
        CHECK(strstr(run, "'/.singularity.d'/runscript") != NULL);
        free(run);
        char *base = text_of(&top, ".singularity.d/env/01-base.sh");
        CHECK(strstr(base, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") != NULL);
        free(base);

        const struct synth_entry *l = find(&top, "singularity");
        CHECK(l && S_ISLNK(l->mode) && l->link && strcmp(l->link, ".singularity.d/runscript") == 0);
        char *labels = text_of(&top, ".singularity.d/labels.json");
        CHECK_STR(labels, "{}\n");
        free(labels);
        CHECK(find(&top, ".singularity.d/runscript.help") == NULL);

        const struct synth_entry *t = find(&bottom, "tmp");
        CHECK(t && t->mode == (S_IFDIR | 01777));
        t = find(&bottom, "var/tmp");
        CHECK(t && t->mode == (S_IFDIR | 01777));
        t = find(&bottom, "root");
        CHECK(t && t->mode == (S_IFDIR | 0700));
        const char *files[] = {"etc/hosts", "etc/resolv.conf", "etc/passwd", "etc/group"};
        for (size_t i = 0; i < 4; i++) {
                t = find(&bottom, files[i]);
                CHECK(t && S_ISREG(t->mode) && t->len == 0);
        }
        const char *mps[] = {"proc", "sys", "dev", "home", "mnt"};
        for (size_t i = 0; i < 5; i++) {
                t = find(&bottom, mps[i]);
                CHECK(t && S_ISDIR(t->mode));
        }
        /* Parents before children, so the merge can create them in order. */
        CHECK(find(&bottom, "var") < find(&bottom, "var/tmp"));
        CHECK(find(&bottom, "etc") < find(&bottom, "etc/hosts"));
        CHECK(find(&top, ".singularity.d") == &top.v[0]);

        for (size_t i = 0; i < top.n; i++)
                CHECK(top.v[i].uid == 0 && top.v[i].gid == 0 && top.v[i].mtime == MTIME);
        for (size_t i = 0; i < bottom.n; i++)
                CHECK(bottom.v[i].uid == 0 && bottom.v[i].gid == 0 && bottom.v[i].mtime == MTIME);
        CHECK(find(&bottom, ".singularity.d") == NULL && find(&top, "tmp") == NULL);
        synth_list_free(&top);
        synth_list_free(&bottom);

        /* A config without "config" at all is an image with no settings. */
        cfg = "{\"architecture\":\"amd64\"}";
        CHECK(metadata_from_oci_config(cfg, strlen(cfg), &o, &top, &bottom, &e) == 0);
        CHECK(find(&top, ".singularity.d/runscript") != NULL);
        synth_list_free(&top);
        synth_list_free(&bottom);
}

static void test_labels(void)
{
        struct synth_list top = {0}, bottom = {0};
        sing_err_t e = {0};
        struct metadata_opts o = {.mtime = MTIME};
        json_object *labels = json_object_new_object();
        json_object_object_add(labels, "org.opencontainers.image.url",
                               json_object_new_string("https://x/y"));
        json_object_object_add(labels, "quote", json_object_new_string("a \"b\"\n"));
        char *cfg = make_config(NULL, NULL, NULL, labels);
        CHECK(metadata_from_oci_config(cfg, strlen(cfg), &o, &top, &bottom, &e) == 0);
        char *text = text_of(&top, ".singularity.d/labels.json");
        CHECK(strchr(text, '\n') != NULL); /* pretty-printed */
        CHECK(strstr(text, "https://x/y") != NULL);
        json_object *back = json_tokener_parse(text);
        json_object *v;
        CHECK(back && json_object_object_length(back) == 2);
        CHECK(back && json_object_object_get_ex(back, "quote", &v) &&
              strcmp(json_object_get_string(v), "a \"b\"\n") == 0);
        json_object_put(back);
        free(text);
        free(cfg);
        synth_list_free(&top);
        synth_list_free(&bottom);
}

static void check_error(const char *cfg, const char *want_in_msg)
{
        struct synth_list top = {0}, bottom = {0};
        sing_err_t e = {0};
        struct metadata_opts o = {.mtime = MTIME};
        CHECK(metadata_from_oci_config(cfg, strlen(cfg), &o, &top, &bottom, &e) == -1);
        if (!strstr(e.msg, want_in_msg)) {
                fprintf(stderr, "config %s: message \"%s\" lacks \"%s\"\n", cfg, e.msg,
                        want_in_msg);
                check_failures++;
        }
        synth_list_free(&top);
        synth_list_free(&bottom);
}

static void test_errors(void)
{
        check_error("{\"config\": {", "parsing image config");
        check_error("", "parsing image config");
        check_error("{\"config\":{}} x", "after the JSON");
        check_error("[]", "not a JSON object");
        check_error("{\"config\":[]}", "config");
        check_error("{\"config\":{\"Env\":\"A=1\"}}", "Env is not an array");
        check_error("{\"config\":{\"Env\":[\"A=1\", 2]}}", "Env[1]");
        check_error("{\"config\":{\"Cmd\":\"/bin/sh\"}}", "Cmd");
        check_error("{\"config\":{\"Entrypoint\":[\"a\\u0000b\"]}}", "NUL");
        check_error("{\"config\":{\"Labels\":[1]}}", "Labels");
        /* A length shorter than the text parses only that much. */
        struct synth_list top = {0}, bottom = {0};
        sing_err_t e = {0};
        struct metadata_opts o = {0};
        CHECK(metadata_from_oci_config("{\"config\":{}}", 5, &o, &top, &bottom, &e) == -1);
        synth_list_free(&top);
        synth_list_free(&bottom);
        /* null Labels/Cmd are fine. */
        const char *ok = "{\"config\":{\"Labels\":null,\"Cmd\":null,\"Env\":null}}";
        CHECK(metadata_from_oci_config(ok, strlen(ok), &o, &top, &bottom, &e) == 0);
        synth_list_free(&top);
        synth_list_free(&bottom);
}

int main(void)
{
        if (!mkdtemp(tmp)) {
                perror("mkdtemp");
                return 1;
        }
        RUN(test_env_script);
        RUN(test_entries);
        RUN(test_labels);
        RUN(test_errors);
        RUN(test_env_file);
        RUN(test_runscripts);
        RUN(test_recipe_runscript);
        RUN(test_actions);
        if (check_failures)
                fprintf(stderr, "scripts left in %s\n", tmp);
        else
                rm_rf(tmp);
        CHECK_DONE();
}
