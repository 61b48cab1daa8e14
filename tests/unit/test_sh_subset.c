/* common/sh_subset: exact results for the env files images really carry,
 * constructs that must give up, and differential runs against the real
 * dash (a fixed corpus and a few thousand random snippets), where every
 * snippet the evaluator accepts must leave the environment dash leaves.
 * SHOW_UNSUPPORTED=1 lists on stderr the snippets the evaluator gave up on;
 * SH_SUBSET_DIFF_DIR=dir also runs every file there (say, a fuzzer's
 * corpus) through the same differential check. */
#include "sh_subset.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "check.h"

#define DASH "/bin/dash"

static char cwd_env[4200]; /* PWD=<cwd>: dash keeps a PWD that names "." */

/* Two starting environments: a rich one and a bare one (no PATH). */
static const char *env_rich[] = {
    "HOME=/root",    "A=1",
    "EMPTY=",        "SP=a  b",
    "PATH=/usr/bin", "PS1=p1> ",
    "Q='q\"\\",      "LD_LIBRARY_PATH=/host/lib",
    "STAR=*",        "CTL=\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\xff",
    "DASHV=-n",      "FOO=foo",
    NULL /* PWD */,  NULL};
static const char *env_bare[] = {"A=1", NULL /* PWD */, NULL};

/* e with its PWD slot (the first NULL, once) filled in. */
static char **env_of(const char **e, size_t slots)
{
        if (!e[slots - 2])
                e[slots - 2] = cwd_env;
        return (char **)e;
}
#define ENV_OF(e) env_of(e, sizeof(e) / sizeof(e[0]))

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t count(char **v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

/* Our answer: rc, and on SH_OK the sorted exported environment. */
static int ours(const char *text, char **envp, char ***out)
{
        struct sh_vars vars;
        *out = NULL;
        if (sh_vars_init_like_dash(&vars, envp, getpid()) != 0)
                return SH_NOMEM;
        int r = sh_subset_run(&vars, text, strlen(text));
        if (r == SH_OK) {
                *out = sh_vars_environ(&vars);
                if (!*out)
                        r = SH_NOMEM;
                else
                        qsort(*out, count(*out), sizeof(char *), cmp_str);
        }
        sh_vars_free(&vars);
        return r;
}

static char *read_all(int fd, size_t *len)
{
        size_t cap = 4096, n = 0;
        char *b = malloc(cap);
        for (;;) {
                if (n + 1 >= cap)
                        b = realloc(b, cap *= 2);
                ssize_t k = read(fd, b + n, cap - n - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += (size_t)k;
        }
        b[n] = '\0';
        *len = n;
        return b;
}

static const char *snippet_path;

/* dash's answer: `. FILE; exec env -0` in envp; NULL when dash failed or
 * said anything on stderr (a syntax or runtime error). Sorted. */
static char **dash_env(const char *text, char **envp)
{
        int fd = open(snippet_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int out[2], err[2];
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) != 0)
                return NULL;
        if (pipe(out) != 0 || pipe(err) != 0)
                return NULL;
        char cmd[4400];
        snprintf(cmd, sizeof(cmd), ". %s; exec /usr/bin/env -0", snippet_path);
        /* posix_spawn, not fork: an ASan build's fork copies the page
         * tables of its shadow memory, thousands of times here. */
        posix_spawn_file_actions_t fa;
        pid_t pid;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_adddup2(&fa, err[1], 2);
        posix_spawn_file_actions_addclose(&fa, out[0]);
        posix_spawn_file_actions_addclose(&fa, err[0]);
        int rc = posix_spawn(&pid, DASH, &fa, NULL, (char *[]){"dash", "-c", cmd, NULL}, envp);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
                close(out[0]);
                close(out[1]);
                close(err[0]);
                close(err[1]);
                return NULL;
        }
        close(out[1]);
        close(err[1]);
        size_t olen, elen;
        char *o = read_all(out[0], &olen);
        char *e = read_all(err[0], &elen);
        close(out[0]);
        close(err[0]);
        int st;
        waitpid(pid, &st, 0);
        free(e);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || elen != 0) {
                free(o);
                return NULL;
        }
        size_t n = 0;
        for (size_t i = 0; i < olen; i++)
                n += o[i] == '\0';
        char **v = calloc(n + 1, sizeof(*v));
        size_t k = 0;
        for (size_t i = 0; i < olen; i += strlen(o + i) + 1)
                v[k++] = strdup(o + i);
        free(o);
        qsort(v, k, sizeof(char *), cmp_str);
        return v;
}

static bool same_env(char **a, char **b)
{
        size_t n = count(a);
        if (n != count(b))
                return false;
        for (size_t i = 0; i < n; i++) {
                if (strcmp(a[i], b[i]) != 0)
                        return false;
        }
        return true;
}

static void print_env(const char *who, char **v)
{
        fprintf(stderr, "  %s:", who);
        for (size_t i = 0; v && v[i]; i++)
                fprintf(stderr, " [%s]", v[i]);
        fprintf(stderr, "%s\n", v ? "" : " (failed)");
}

struct diff_stats {
        int accepted, unsupported, mismatches;
};

/* One snippet in one environment: if we accept it, dash must agree. */
static void differential(const char *text, char **envp, struct diff_stats *st, bool must_accept)
{
        char **mine;
        int r = ours(text, envp, &mine);
        if (r != SH_OK) {
                st->unsupported++;
                if (getenv("SHOW_UNSUPPORTED"))
                        fprintf(stderr, "unsupported: <<%s>>\n", text);
                if (must_accept) {
                        fprintf(stderr, "typical snippet not accepted (rc %d): %s\n", r, text);
                        check_failures++;
                }
                return;
        }
        st->accepted++;
        char **theirs = dash_env(text, envp);
        if (!theirs || !same_env(mine, theirs)) {
                fprintf(stderr, "differs from dash: <<%s>>\n", text);
                print_env("ours", mine);
                print_env("dash", theirs);
                st->mismatches++;
                check_failures++;
        }
        check_count++;
        sh_environ_free(mine);
        sh_environ_free(theirs);
}

/* ---- exact results ---- */

static struct sh_vars vars;

static int run(const char *text)
{
        static const char *env[] = {"HOME=/root", "DEFVAR=from-environment", NULL};
        sh_vars_free(&vars);
        if (sh_vars_init_like_dash(&vars, (char **)env, 1) != 0)
                return SH_NOMEM;
        return sh_subset_run(&vars, text, strlen(text));
}

static bool exported(const char *name)
{
        for (size_t i = 0; i < vars.n; i++) {
                if (strcmp(vars.v[i].name, name) == 0)
                        return vars.v[i].exported;
        }
        return false;
}

static const char docker_env[] =
    "#!/bin/sh\n"
    "# Environment from the Docker/OCI image config.\n"
    "export PATH='/usr/local/bin:/usr/bin'\n"
    "export LANG='C.UTF-8' GPG_KEY='A035C8C19219BA821ECEA86B64E628F8D684696D'\n"
    "export X='it'\\''s'\n"
    "PATH=\"${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}\"\n"
    "export PATH\n"
    "PS1='Singularity> '\n"
    "if [ -z \"${LD_LIBRARY_PATH:-}\" ]; then\n"
    "\tLD_LIBRARY_PATH='/.singularity.d/libs'\n"
    "else\n"
    "\tLD_LIBRARY_PATH=\"$LD_LIBRARY_PATH\":'/.singularity.d/libs'\n"
    "fi\n"
    "export PS1 LD_LIBRARY_PATH\n"
    "DEFVAR=from-environment\n"
    "export DEFVAR\n"
    "export A=\"x\\\"y\\$z\" B=plain C=\n"
    ":\n"
    "export FOO=\"$HOME/bin:${FOO:+$FOO:}/opt\"\n";

static const char singularityce_env[] =
    "if [ -z \"$LD_LIBRARY_PATH\" ]; then\n"
    "    LD_LIBRARY_PATH=\"/.singularity.d/libs\"\n"
    "else\n"
    "    LD_LIBRARY_PATH=\"$LD_LIBRARY_PATH:/.singularity.d/libs\"\n"
    "fi\n"
    "PS1=\"Singularity> \"\n"
    "export LD_LIBRARY_PATH PS1\n";

static void test_docker_env(void)
{
        CHECK(run(docker_env) == SH_OK);
        CHECK_STR(sh_var_get(&vars, "PATH"), "/usr/local/bin:/usr/bin");
        CHECK(exported("PATH"));
        CHECK_STR(sh_var_get(&vars, "LANG"), "C.UTF-8");
        CHECK_STR(sh_var_get(&vars, "GPG_KEY"), "A035C8C19219BA821ECEA86B64E628F8D684696D");
        CHECK_STR(sh_var_get(&vars, "X"), "it's");
        CHECK_STR(sh_var_get(&vars, "PS1"), "Singularity> ");
        CHECK(exported("PS1"));
        CHECK_STR(sh_var_get(&vars, "LD_LIBRARY_PATH"), "/.singularity.d/libs");
        CHECK(exported("LD_LIBRARY_PATH"));
        CHECK_STR(sh_var_get(&vars, "DEFVAR"), "from-environment");
        CHECK_STR(sh_var_get(&vars, "A"), "x\"y$z");
        CHECK_STR(sh_var_get(&vars, "B"), "plain");
        CHECK_STR(sh_var_get(&vars, "C"), "");
        CHECK(exported("C"));
        CHECK_STR(sh_var_get(&vars, "FOO"), "/root/bin:/opt");
        CHECK(exported("FOO"));
        char **env = sh_vars_environ(&vars);
        CHECK(env != NULL);
        bool found_c = false;
        for (size_t i = 0; env && env[i]; i++)
                found_c |= strcmp(env[i], "C=") == 0;
        CHECK(found_c);
        sh_environ_free(env);
}

static void test_singularityce_env(void)
{
        CHECK(run(singularityce_env) == SH_OK);
        CHECK_STR(sh_var_get(&vars, "LD_LIBRARY_PATH"), "/.singularity.d/libs");
        CHECK_STR(sh_var_get(&vars, "PS1"), "Singularity> ");
        CHECK(exported("LD_LIBRARY_PATH") && exported("PS1"));
        /* With a value already there, the else branch. */
        sh_vars_free(&vars);
        CHECK(sh_vars_init_like_dash(&vars, (char *[]){"LD_LIBRARY_PATH=/h", NULL}, 1) == 0);
        CHECK(sh_subset_run(&vars, singularityce_env, strlen(singularityce_env)) == SH_OK);
        CHECK_STR(sh_var_get(&vars, "LD_LIBRARY_PATH"), "/h:/.singularity.d/libs");
}

static void test_export_flags(void)
{
        CHECK(run("export N") == SH_OK);
        CHECK(sh_var_get(&vars, "N") == NULL && exported("N"));
        CHECK(run("export N; N=v") == SH_OK);
        CHECK_STR(sh_var_get(&vars, "N"), "v");
        CHECK(exported("N"));
        CHECK(run("N=v") == SH_OK);
        CHECK(!exported("N"));
        CHECK(run("export N=1; unset N; N=2") == SH_OK);
        CHECK(!exported("N")); /* dash frees an ordinary variable */
        CHECK(run("export PS2=x; unset PS2; PS2=y") == SH_OK);
        CHECK(exported("PS2")); /* a fixed one keeps its flag */
        CHECK(run("x=\"a b\"; export y=$x") == SH_OK);
        CHECK_STR(sh_var_get(&vars, "y"), "a b");
        CHECK(run("A=1 B=$A") == SH_OK);
        CHECK_STR(sh_var_get(&vars, "B"), "1");
        CHECK(run("A=1; export A=5 D=$A") == SH_OK);
        CHECK_STR(sh_var_get(&vars, "D"), "1"); /* all arguments expanded first */
        CHECK(run("export PATH") == SH_OK);     /* dash's default PATH */
        CHECK_STR(sh_var_get(&vars, "PATH"),
                  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        CHECK(exported("PATH"));
}

static void test_init_like_dash(void)
{
        char *env[] = {"A B=1", "X=2",  "IFS=x", "OPTIND=5", "PPID=7", "BASH_FUNC_f%%=() { :; }",
                       "1X=3",  "_Y=4", "Z=",    "noeq",     "X=3",    "=v",
                       NULL};
        struct sh_vars v;
        CHECK(sh_vars_init_like_dash(&v, env, 4242) == 0);
        char **e = sh_vars_environ(&v);
        qsort(e, count(e), sizeof(char *), cmp_str);
        const char *want[] = {"IFS= \t\n", "OPTIND=1", "PPID=4242", "X=3", "Z=", "_Y=4", NULL};
        CHECK(count(e) == count((char **)want));
        for (size_t i = 0; e && want[i] && i < count(e); i++)
                CHECK_STR(e[i], want[i]);
        CHECK_STR(sh_var_get(&v, "PATH"),
                  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        sh_environ_free(e);
        sh_vars_free(&v);
}

/* The same start-up, compared with dash itself. */
static void test_init_vs_dash(void)
{
        if (access(DASH, X_OK) != 0)
                SKIP(DASH " is missing");
        char *env[] = {"A B=1", "X=2",  "IFS=x", "OPTIND=5", "PPID=7", "BASH_FUNC_f%%=() { :; }",
                       "1X=3",  "_Y=4", "Z=",    "X=3",      cwd_env,  NULL};
        struct diff_stats st = {0};
        differential("", env, &st, true);
        differential("export PATH", env, &st, true);
        CHECK(st.mismatches == 0 && st.accepted == 2);
}

static void test_unsupported(void)
{
        static const char *const no[] = {
            /* other commands and shell syntax */
            "echo hi",
            "true",
            "[ -n \"$A\" ]",
            "test a",
            "A=1 export B",
            "A=1 :",
            "export A=1 | cat",
            "export A=1 & ",
            "export A=1 && :",
            "export A=1 || :",
            "export A=1 >f",
            "export A=1 <f",
            "(export A=1)",
            "{ export A=1; }",
            "! export A=1",
            "for i in a; do :; done",
            "while :; do :; done",
            "case a in a) :;; esac",
            "until :; do :; done",
            "f() { :; }",
            "export A=1;;",
            "; export A=1",
            "export A=1; ;",
            "export A=`id`",
            "export A=$(id)",
            "export A=\"$(id)\"",
            "export A=\"`id`\"",
            "A=$((1+1))",
            "then",
            "fi",
            "else :",
            "done",
            "do",
            "esac",
            "in",
            "}",
            "{",
            "!",
            "export",
            "export -p",
            "export -- A=1",
            "unset",
            "unset -v A",
            "unset -f A",
            "export 9=1",
            "export A-B=1",
            "unset 1A",
            "export A=\\",
            /* tilde */
            "A=~",
            "A=x:~",
            "export A=~/bin",
            "A=${B:-~}",
            "export ~",
            /* special parameters and other ${} forms */
            "A=$1",
            "A=$@",
            "A=$*",
            "A=$#",
            "A=$?",
            "A=$-",
            "A=$$",
            "A=$!",
            "A=${1}",
            "A=${#B}",
            "A=${B=x}",
            "A=${B:=x}",
            "A=${B?x}",
            "A=${B:?x}",
            "A=${B%x}",
            "A=${B#x}",
            "A=${B##x}",
            "A=${B%%x}",
            "A=${}",
            "A=${B",
            "A=\"${B\"",
            "A=$'x'",
            "A=$\"x\"",
            /* splitting and globbing in command words */
            "export $A",
            "export \"$A\"=1 $B",
            "unset $A",
            ": $A",
            "export A*",
            "if [ -z $A ]; then :; fi",
            "if [ a = * ]; then :; fi",
            "if [ ${A} ]; then :; fi",
            /* dash's own variables */
            "A=$IFS",
            "A=\"$PS1\"",
            "A=${PS2:-x}",
            "A=$PPID",
            "A=$OPTIND",
            "A=$PS4",
            "IFS=x",
            "export IFS",
            "export IFS=x",
            "OPTIND=1",
            "PPID=1",
            "unset IFS",
            "unset OPTIND",
            "export PS1",
            "export PS4",
            /* if/test shapes */
            "if [ a ]; then fi",
            "if [ a ]; then :; fi fi",
            "if [ a ] then :; fi",
            "if [ a; then :; fi",
            "if [ a ]; then :",
            "if [ ]; then :; fi",
            "if [ a b ]; then :; fi",
            "if [ -z ]; then :; fi",
            "if [ -x a ]; then :; fi",
            "if [ a -eq b ]; then :; fi",
            "if [ a == b ]; then :; fi",
            "if [ ! ]; then :; fi",
            "if [ ! ! a ]; then :; fi",
            "if [ a ] ]; then :; fi",
            "if [ a ]x; then :; fi",
            "if [ \"-n\" ]; then :; fi",
            "if [ -z \"-n\" ]; then :; fi",
            "if [ = = = ]; then :; fi",
            "if [ a ]; [ b ]; then :; fi",
            "if export A=1; then :; fi",
            "if [ a ]; then :; else fi",
            "if [ a ]; then :; elif [ b ]; then fi",
            "if [ a ]; then :; else :; else :; fi",
            "if [ a ]; then :; fi >x",
            "if [ a ]; then if [ b ]; then :; fi",
            "if test; then :; fi",
            /* an untaken branch still has to be in the subset */
            "if [ a ]; then :; else echo x; fi",
            "if [ a ]; then :; else A=$(id); fi",
            /* quoting and lexing */
            "A='x",
            "A=\"x",
            "A=\"${B:-\"x}\"",
            "A=${B:-x",
            "A=x\\\n\\",
            "A=$B\\\nC",
            "A=${B\\\n}",
            "ex\\\nport A=1",
            "A=\"a$\"b\"",
            "A=${B:-a$}",
            "A=$\\\n",
        };
        for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
                int r = run(no[i]);
                if (r != SH_UNSUPPORTED) {
                        fprintf(stderr, "accepted (rc %d), should be unsupported: <<%s>>\n", r,
                                no[i]);
                        check_failures++;
                }
                check_count++;
        }
}

static void test_limits(void)
{
        CHECK(sh_subset_run(&vars, "A=1\0B=2", 7) == SH_UNSUPPORTED);
        size_t big = (1u << 20) + 1;
        char *s = malloc(big + 1);
        memset(s, '#', big);
        s[big] = '\0';
        CHECK(run(s) == SH_UNSUPPORTED); /* over 1 MiB of input */
        free(s);

        /* A value that doubles until it passes 1 MiB. */
        char prog[4096] = "A=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
        for (int i = 0; i < 14; i++)
                strcat(prog, "A=$A$A\n");
        CHECK(run(prog) == SH_OK);
        CHECK(strlen(sh_var_get(&vars, "A")) == (size_t)64 << 14);
        strcat(prog, "A=$A$A\n");
        CHECK(run(prog) == SH_UNSUPPORTED);

        /* Words built and thrown away count too: 200 discarded 512 KiB
         * words are 100 MiB of copying, over the bound of one run. */
        prog[0] = '\0';
        strcat(prog, "B=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
        for (int i = 0; i < 12; i++)
                strcat(prog, "B=$B$B\n");
        CHECK(run(prog) == SH_OK);
        char *many = malloc(strlen(prog) + 200 * 16 + 1);
        strcpy(many, prog);
        for (int i = 0; i < 20; i++)
                strcat(many, "X=${U+$B$B}\n");
        CHECK(run(many) == SH_OK);
        for (int i = 20; i < 200; i++)
                strcat(many, "X=${U+$B$B}\n");
        CHECK(run(many) == SH_UNSUPPORTED);
        free(many);

        /* if nested 16 deep is fine, 17 is not. */
        char nest[2048] = "";
        for (int i = 0; i < 16; i++)
                strcat(nest, "if [ a ]; then\n");
        strcat(nest, "export DEEP=1\n");
        for (int i = 0; i < 16; i++)
                strcat(nest, "fi\n");
        CHECK(run(nest) == SH_OK);
        CHECK_STR(sh_var_get(&vars, "DEEP"), "1");
        char deeper[2100] = "if [ a ]; then\n";
        strcat(deeper, nest);
        strcat(deeper, "fi\n");
        CHECK(run(deeper) == SH_UNSUPPORTED);

        /* ${:-} nesting is bounded too. */
        char sub[4096] = "A=";
        for (int i = 0; i < 40; i++)
                strcat(sub, "${U:-");
        for (int i = 0; i < 40; i++)
                strcat(sub, "}");
        CHECK(run(sub) == SH_UNSUPPORTED);
}

/* ---- the differential corpus ---- */

static const char *const typical[] = {
    docker_env,
    singularityce_env,
    "export PATH='/usr/local/bin:/usr/bin'\n",
    "export LANG='C.UTF-8' GPG_KEY='A035C8C19219BA821ECEA86B64E628F8D684696D'\n",
    "export X='it'\\''s'\n",
    ("PATH=\"${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}\"\n"
     "export PATH\n"),
    "export A=\"x\\\"y\\$z\" B=plain C=\n",
    "export FOO=\"$HOME/bin:${FOO:+$FOO:}/opt\"\n",
    "PS1='Singularity> '\nexport PS1\n",
};

static const char *const corpus[] = {
    /* quoting */
    "export X=a\\ b Y='a  b' Z=\"a  b\"",
    "export X=\"\\a\\$\\\\\\`\\\"\"",
    "export X=\\a\\$\\'\\\"",
    "export X='\\' Y='\"'",
    "export X=\"'\"'\"'",
    "export X=a\"b\"'c'd\\e",
    "export X=\"a\nb\" Y='c\nd'",
    "export X=\"x\\\ny\" Y=a\\\nb",
    "export \\\nX=1",
    "\\\nexport X=2",
    "export X=a#b Y=\"#\" # trailing comment",
    "# only a comment \\\nexport X=1",
    "export X=a$ Y=\"a$\" Z=$ W=\"$\"",
    "export X=a$/b Y=a$.b Z=a$:b W=a$=b V=\"a$ b\"",
    "export X=}{ Y={a} Z=!x",
    "export X=* Y=? Z=[a]",
    "X=*; export X",
    "export X=\"*\" \"Y=a b\" 'Z=c'",
    "export 'W'=1",
    /* expansions */
    "export X=$A$A Y=${A}x Z=$EMPTY. W=$U.",
    "export X=\"$SP\" Y=$SP Z=${SP}",
    "export X=$Q Y=\"$Q\"",
    "export X=\"$STAR\" Y=$STAR",
    "export X=${U-d} Y=${EMPTY-d} Z=${A-d}",
    "export X=${U:-d} Y=${EMPTY:-d} Z=${A:-d}",
    "export X=${U+s} Y=${EMPTY+s} Z=${A+s}",
    "export X=${U:+s} Y=${EMPTY:+s} Z=${A:+s}",
    "export X=\"${U:-\"a b\"}\" Y=${U:-\"a b\"} Z=${U:-a  b}",
    "export X=\"${U:-\"}\"}\" Y=\"${U:-\\}}\" Z=${U:-\\}}",
    "export X=\"${U:-'x'}\" Y=${U:-'x'} Z=\"${U:-'}'}\"",
    "export X=\"${U:-\\a}\" Y=${U:-\\a} Z=\"${U:-\"\\a\"}\"",
    "export X=\"${U:-x\"}\"y}\" Y=\"${U:-\"\\}\"}\"",
    "export X=\"${U-${V:-\"q\"}}\" Y=${U:-${V:-${A}}}",
    "export X=${U:-a}b} Y=\"${A}}\"",
    "export X=\"${A:+\"$A$A\"}\" Y=${A:+'$A'}",
    "export X=\"${U:-$HOME:${A}}\"",
    "export X=${U:-\"$SP\"} Y=\"${U:-$SP}\"",
    "export X=\"${U:-\\\"}\" Y=\"${U:-\\$}\" Z=\"${U:-\\\\}\"",
    /* assignments and export/unset */
    "A=2 B=$A; export B",
    "U=1 V=$U W=${U}$V; export U V W",
    "export C=5 D=$C",
    "export A=5 D=$A",
    "export N; N=v",
    "export N",
    "export N; unset N; N=v",
    "N=1; export N; unset N; N=v; export M=$N",
    "unset A; A=3",
    "unset A U HOME",
    "export A; export A=3 A",
    "unset PATH; PATH=/x",
    "unset PATH; export PATH",
    "export PATH=\"/opt/bin:$PATH\"",
    "PS1='x> '; export PS1",
    "export PS2=a; unset PS2; PS2=b",
    "unset PS1; PS1=z",
    "export MAIL; unset MAIL; MAIL=m",
    "export X=\"\" Y='' Z=",
    "X=1;Y=2;export X Y",
    "export X=1;  export Y=2 ;export Z=3",
    ":; : a 'b c'; export X=1",
    "export LD_LIBRARY_PATH=\"${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/x\"",
    "export if=1 then=2 fi=3",
    "A=if; export A",
    /* if/elif/else and test */
    "if [ -z \"$U\" ]; then export K=1; elif [ a ]; then export K=2; else export K=3; fi",
    "if [ -n \"$U\" ]; then export K=1; elif [ a ]; then export K=2; else export K=3; fi",
    "if [ -n \"$U\" ]; then export K=1; elif [ \"\" ]; then export K=2; else export K=3; fi",
    "if test \"$A\" = 1; then export K=1; fi",
    "if test \"$A\" != 1; then export K=1; else export K=0; fi",
    "if [ ! \"$A\" != 1 ]; then export K=1; fi",
    "if [ ! -n \"\" ]; then export K=1; fi",
    "if [ ! \"\" ]; then export K=1; else export K=0; fi",
    "if [ \"$EMPTY\" ]; then export K=1; else export K=0; fi",
    "if [ -f /etc/passwd ]; then export K=1; fi; if [ -d /etc/passwd ]; then export L=1; fi",
    "if [ -d /tmp ]; then export K=1; fi; if [ -e /nonexistent ]; then export L=1; fi",
    "if [ -e / ]; then export K=1; fi; if [ ! -f / ]; then export L=1; fi",
    "if [ a = a ]; then export K=1; fi;",
    "if [ \"a b\" = 'a b' ]; then export K=1; fi",
    "if\n[ a ]\nthen\nexport K=3\nfi",
    "if [ a ]\nthen export K=4; fi",
    "if [ a ]; then export K=5; fi # hi",
    "if [ a ]; then if [ b ]; then export K=1; fi\nfi",
    ("if [ -z \"$A\" ]; then\n  if [ a ]; then export K=1; fi\nelse\n"
     "  if [ \"$A\" = 1 ]; then export K=2; else export K=3; fi\nfi"),
    "if [ \"$U\" ]; then export K=$(id); else export K=ok; fi",
    "if [ ${A:+x} ]; then export K=1; fi",
    "if [ \"${U:-a}\" = a ]; then export K=1; fi",
    /* odd but valid */
    "",
    "\n\n;",
    "   \t\n# x\n",
    "export X=1\n\n\n",
    "export X='a;b' Y=\"a|b\" Z=a\\;b",
    "export X=\"a&b(c)<d>\"",
    "export X=\"\\\n\"",
    "X=\"multi\nline\nvalue\"; export X",
    "export é=1",
    "export X=é Y=\"€\" Z='\x81\x82\x88'",
    "export X=\"\x81$A\x88\" Y=\x83\x84 Z=${U:-\x85\x86}",
    "export X=$CTL Y=\"$CTL\" Z=${U:-\"$CTL\"} W=\"${U:-$CTL}\"",
    "if [ \"$CTL\" = \"$CTL\" ]; then export K=\"$CTL\"; fi",
    "export A=1\r\nexport B='x'\r\n",
    "export A=1\vB=2\f",
    "export X=\"${U:-a\nb}\"",
    "export X=$PWD Y=\"${PWD}\"",
    "export N; export X=${N-unset} Y=${N+set} Z=\"${N:-e}\"",
    "export X=${U:-\"a}\"} Y=${U:-'b}'} Z=\"${U:-'}\"",
    "export X=\"${U:-a\\\nb}\" Y=${U:-\\\nc}",
    "export X=\"${A:+${U:-\"${A}\"}}\"",
    "if [ \"${U-}\" ]; then :; elif [ ! -d /nonexistent ]; then export K=e; fi",
    "A=x A=$A$A; export A",
    "unset PWD; export PWD=/x",
};

static void test_differential_corpus(void)
{
        if (access(DASH, X_OK) != 0)
                SKIP(DASH " is missing");
        struct diff_stats st = {0};
        char **envs[] = {ENV_OF(env_rich), ENV_OF(env_bare)};
        for (size_t e = 0; e < 2; e++) {
                char **envp = envs[e];
                for (size_t i = 0; i < sizeof(typical) / sizeof(typical[0]); i++)
                        differential(typical[i], envp, &st, true);
                for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++)
                        differential(corpus[i], envp, &st, false);
        }
        printf("# corpus: %zu snippets x 2 environments: %d accepted, %d unsupported, %d "
               "differ from dash\n",
               sizeof(corpus) / sizeof(corpus[0]) + sizeof(typical) / sizeof(typical[0]),
               st.accepted, st.unsupported, st.mismatches);
        CHECK(st.mismatches == 0);
        CHECK(st.accepted > st.unsupported); /* it does not give up on everything */
}

/* ---- random snippets ---- */

static uint64_t rng = 0x5eed5eed12345678ull;

static unsigned rnd(unsigned n)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (unsigned)(rng % n);
}

static const char *pick(const char *const *a, size_t n)
{
        return a[rnd((unsigned)n)];
}
#define PICK(a) pick(a, sizeof(a) / sizeof(a[0]))

struct sbuf {
        char s[2048];
        size_t n;
};

static void put(struct sbuf *b, const char *s)
{
        size_t l = strlen(s);
        if (b->n + l < sizeof(b->s)) {
                memcpy(b->s + b->n, s, l + 1);
                b->n += l;
        }
}

static const char *const names[] = {"A", "B", "U", "EMPTY", "SP", "HOME", "PATH", "PS1", "X"};

static void gen_word(struct sbuf *b, int depth, bool dq);

static void gen_expansion(struct sbuf *b, int depth, bool dq)
{
        static const char *const ops[] = {"-", ":-", "+", ":+"};
        switch (rnd(depth > 2 ? 2 : 3)) {
        case 0:
                put(b, "$");
                put(b, PICK(names));
                break;
        case 1:
                put(b, "${");
                put(b, PICK(names));
                put(b, "}");
                break;
        default:
                put(b, "${");
                put(b, PICK(names));
                put(b, PICK(ops));
                gen_word(b, depth + 1, dq);
                put(b, "}");
        }
}

/* A word: pieces of literal text, quotes and expansions. dq: inside
 * double quotes already (the w of a ${} there). */
static void gen_word(struct sbuf *b, int depth, bool dq)
{
        static const char *const lit[] = {"x",   "a b",  "",     ":",    "/",  "$", "-", "=",
                                          "*",   "}",    "\\",   "'",    "\"", "#", ";", "\\}",
                                          "\\$", "\\\"", "\\\\", "\\\n", " ",  "{", "é"};
        int n = (int)rnd(4);
        for (int i = 0; i < n; i++) {
                switch (rnd(6)) {
                case 0:
                        put(b, PICK(lit));
                        break;
                case 1:
                        put(b, "'");
                        put(b, PICK(lit));
                        put(b, "'");
                        break;
                case 2:
                        put(b, "\"");
                        put(b, PICK(lit));
                        if (rnd(2))
                                gen_expansion(b, depth + 1, true);
                        put(b, "\"");
                        break;
                case 3:
                        put(b, "\\");
                        put(b, PICK(lit));
                        break;
                default:
                        gen_expansion(b, depth, dq);
                }
        }
}

static void gen_commands(struct sbuf *b, int depth);

static void gen_test(struct sbuf *b)
{
        static const char *const un[] = {"-z", "-n", "-f", "-d", "-e", "!", "! -z", "! -n"};
        put(b, rnd(4) ? "[ " : "test ");
        bool bracket = b->s[b->n - 2] == '[';
        switch (rnd(3)) {
        case 0:
                put(b, PICK(un));
                put(b, " ");
                put(b, "\"");
                gen_word(b, 1, true);
                put(b, "\"");
                break;
        case 1:
                put(b, "\"");
                gen_word(b, 1, true);
                put(b, rnd(2) ? "\" = \"" : "\" != ");
                gen_word(b, 1, false);
                if (b->s[b->n - 1] != '"' && rnd(2))
                        put(b, "x");
                break;
        default:
                gen_word(b, 1, false);
        }
        if (bracket)
                put(b, " ]");
}

static void gen_command(struct sbuf *b, int depth)
{
        switch (rnd(depth > 1 ? 6 : 7)) {
        case 0:
        case 1:
                put(b, PICK(names));
                put(b, "=");
                gen_word(b, 0, false);
                if (rnd(3) == 0) {
                        put(b, " ");
                        put(b, PICK(names));
                        put(b, "=");
                        gen_word(b, 0, false);
                }
                break;
        case 2:
        case 3:
                put(b, "export");
                for (int i = 0, n = 1 + (int)rnd(3); i < n; i++) {
                        put(b, " ");
                        put(b, PICK(names));
                        if (rnd(3)) {
                                put(b, "=");
                                gen_word(b, 0, false);
                        }
                }
                break;
        case 4:
                put(b, "unset ");
                put(b, PICK(names));
                break;
        case 5:
                put(b, ":");
                break;
        default:
                put(b, "if ");
                gen_test(b);
                put(b, rnd(4) ? "; then\n" : "\nthen ");
                gen_commands(b, depth + 1);
                if (rnd(2)) {
                        put(b, "elif ");
                        gen_test(b);
                        put(b, "; then ");
                        gen_commands(b, depth + 1);
                }
                if (rnd(2)) {
                        put(b, "else\n");
                        gen_commands(b, depth + 1);
                }
                put(b, "fi");
        }
}

static void gen_commands(struct sbuf *b, int depth)
{
        static const char *const seps[] = {"\n", "; ", ";", " ;\n", "\n\n", " # c\n"};
        for (int i = 0, n = 1 + (int)rnd(3); i < n; i++) {
                gen_command(b, depth);
                put(b, PICK(seps));
        }
}

/* Character soup after an assignment: the lexer's corners. */
static void gen_soup(struct sbuf *b)
{
        static const char alpha[] = "$${}}:-+\"\"''\\\\ aA=;\n#*~`|&()";
        put(b, rnd(2) ? "export X=" : "X=");
        for (int i = 0, n = 1 + (int)rnd(14); i < n; i++) {
                char c[2] = {alpha[rnd(sizeof(alpha) - 1)], 0};
                put(b, c);
        }
        put(b, "\nexport X\n");
}

static void test_differential_random(void)
{
        if (access(DASH, X_OK) != 0)
                SKIP(DASH " is missing");
        struct diff_stats st = {0};
        char **envs[] = {ENV_OF(env_rich), ENV_OF(env_bare)};
        for (int i = 0; i < 4000 && st.mismatches < 10; i++) {
                struct sbuf b = {.n = 0};
                b.s[0] = '\0';
                if (i % 4 == 3)
                        gen_soup(&b);
                else
                        gen_commands(&b, 0);
                differential(b.s, envs[i % 2], &st, false);
        }
        printf("# random: 4000 snippets: %d accepted, %d unsupported, %d differ from dash\n",
               st.accepted, st.unsupported, st.mismatches);
        CHECK(st.mismatches == 0);
        CHECK(st.accepted > 1000);
}

/* Files holding a NUL (which we refuse) or over 64 KiB are left out. */
static char *read_small_file(const char *path)
{
        int fd = open(path, O_RDONLY);
        if (fd < 0)
                return NULL;
        size_t n;
        char *t = read_all(fd, &n);
        close(fd);
        if (n > 65536 || strlen(t) != n) {
                free(t);
                return NULL;
        }
        return t;
}

static void test_differential_dir(void)
{
        const char *dir = getenv("SH_SUBSET_DIFF_DIR");
        if (!dir)
                SKIP("SH_SUBSET_DIFF_DIR is not set");
        if (access(DASH, X_OK) != 0)
                SKIP(DASH " is missing");
        DIR *d = opendir(dir);
        CHECK(d != NULL);
        if (!d)
                return;
        struct diff_stats st = {0};
        char **envp = ENV_OF(env_rich);
        struct dirent *de;
        while ((de = readdir(d)) && st.mismatches < 20) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                struct stat sb;
                if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
                        continue;
                char *t = read_small_file(path);
                if (!t)
                        continue;
                differential(t, envp, &st, false);
                free(t);
        }
        closedir(d);
        printf("# %s: %d accepted, %d unsupported, %d differ from dash\n", dir, st.accepted,
               st.unsupported, st.mismatches);
        CHECK(st.mismatches == 0);
}

/* Env files run one after another into one table: 8 files of 4000 new
 * variables each and 100k lookups of a missing one take a linear table
 * about a minute (a file of lookups costs the variables' count each);
 * indexed, a fraction of a second. SIGALRM ends the test when it is slow. */
static void test_many_variables(void)
{
        struct sh_vars v;
        size_t cap = 4000 * 16 + 8 + 200000 + 8;
        char *text = malloc(cap);
        CHECK(sh_vars_init_like_dash(&v, NULL, 1) == 0);
        alarm(20);
        for (int f = 0; f < 8; f++) {
                size_t n = 0;
                for (int i = 0; i < 4000; i++)
                        n += (size_t)snprintf(text + n, cap - n, "v%d_%d=\n", f, i);
                n += (size_t)snprintf(text + n, cap - n, "A%d=", f);
                for (int i = 0; i < 100000; i++) {
                        memcpy(text + n, "$Z", 2);
                        n += 2;
                }
                text[n++] = '\n';
                CHECK(sh_subset_run(&v, text, n) == SH_OK);
        }
        alarm(0);
        CHECK(v.n == 8 * 4001 + 1); /* and PATH */
        CHECK_STR(sh_var_get(&v, "v7_3999"), "");
        CHECK(sh_var_get(&v, "Z") == NULL);
        free(text);
        sh_vars_free(&v);
}

/* A name of 200 KiB (an env file may hold 256 KiB) in an assignment: dash
 * takes it; so do we, on a small stack (no copy of the name on it). */
static void *long_name_thread(void *arg)
{
        struct sh_vars v;
        const char *text = arg;
        intptr_t ok = sh_vars_init_like_dash(&v, NULL, 1) == 0 &&
                      sh_subset_run(&v, text, strlen(text)) == SH_OK && v.n == 2;
        sh_vars_free(&v);
        return (void *)ok;
}

static void test_long_name(void)
{
        size_t n = 200 * 1024;
        char *text = malloc(n + 8);
        memset(text, 'N', n);
        strcpy(text + n, "=1\n");
        pthread_attr_t attr;
        pthread_t t;
        void *ok = NULL;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 128 * 1024);
        CHECK(pthread_create(&t, &attr, long_name_thread, text) == 0);
        CHECK(pthread_join(t, &ok) == 0);
        CHECK(ok == (void *)1);
        pthread_attr_destroy(&attr);
        free(text);
}

int main(void)
{
        char cwd[4096];
        if (!getcwd(cwd, sizeof(cwd)))
                return 1;
        snprintf(cwd_env, sizeof(cwd_env), "PWD=%s", cwd);
        char path[] = "/tmp/test_sh_subset.XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0)
                return 1;
        close(fd);
        snippet_path = path;

        RUN(test_docker_env);
        RUN(test_singularityce_env);
        RUN(test_export_flags);
        RUN(test_init_like_dash);
        RUN(test_init_vs_dash);
        RUN(test_unsupported);
        RUN(test_limits);
        RUN(test_many_variables);
        RUN(test_long_name);
        RUN(test_differential_corpus);
        RUN(test_differential_random);
        RUN(test_differential_dir);
        sh_vars_free(&vars);
        unlink(path);
        CHECK_DONE();
}
