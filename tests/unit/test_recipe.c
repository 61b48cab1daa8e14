/* Definition file parser: a full valid recipe, then each bad recipe with the
 * FILE:LINE its message must name. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "recipe.h"
#include "recipe_args.h"

static int parse(const char *text, struct recipe *r, sing_err_t *e)
{
        return recipe_parse(text, strlen(text), "/defs/my.def", r, e);
}

static void test_valid(void)
{
        const char *text = "# a comment\n"
                           "Bootstrap: docker\n"
                           "From: ubuntu:latest # trailing comment\n"
                           "registry: reg.example:5000\n"
                           "Namespace: team\n"
                           "IncludeCmd: yes\n"
                           "Token: no\n"
                           "Username: alice\n"
                           "Password: s3cr#t\n"
                           "\n"
                           "%files\n"
                           "  data/*.txt /opt/\n"
                           "# comment\n"
                           "\n"
                           "  hello.sh\n"
                           "%post\n"
                           "  echo one\n"
                           "%labels\n"
                           "  Author alice smith\n"
                           "  Version 1.0\n"
                           "%runscript\n"
                           "#!/bin/bash\n"
                           "echo %s hi\n"
                           "%post\n"
                           "  echo two\n";
        struct recipe r;
        sing_err_t e;
        CHECK(parse(text, &r, &e) == 0);
        CHECK(r.bootstrap == BOOTSTRAP_DOCKER);
        CHECK_STR(r.from, "ubuntu:latest");
        CHECK_STR(r.registry, "reg.example:5000");
        CHECK_STR(r.namespace_, "team");
        CHECK_STR(r.username, "alice");
        CHECK_STR(r.password, "s3cr#t"); /* "#" not after a blank: part of the value */
        CHECK(r.include_cmd);
        CHECK(r.no_token);
        CHECK_STR(r.dir, "/defs");
        CHECK(r.sec[SEC_POST].present && r.sec[SEC_POST].line == 16);
        CHECK_STR(r.sec[SEC_POST].body, "  echo one\n  echo two\n");
        CHECK_STR(r.sec[SEC_RUNSCRIPT].body, "#!/bin/bash\necho %s hi\n");
        CHECK(!r.sec[SEC_TEST].present);
        CHECK(strstr(r.redacted, "s3cr#t") == NULL);
        CHECK(strstr(r.redacted, "alice") == NULL || strstr(r.redacted, "Author alice"));
        CHECK(strstr(r.redacted, "Password: <redacted>") != NULL);
        CHECK(strstr(r.redacted, "From: ubuntu:latest") != NULL);
        CHECK(strstr(r.redacted, "echo two") != NULL);

        char *uri = recipe_docker_uri(&r);
        CHECK_STR(uri, "docker://reg.example:5000/team/ubuntu:latest");
        free(uri);

        struct recipe_file *files;
        size_t nf;
        CHECK(recipe_files(&r, &files, &nf, &e) == 0);
        CHECK(nf == 2);
        if (nf == 2) {
                CHECK_STR(files[0].src, "data/*.txt");
                CHECK_STR(files[0].dst, "/opt/");
                CHECK(files[0].line == 12);
                CHECK_STR(files[1].src, "hello.sh");
                CHECK(files[1].dst == NULL);
                CHECK(files[1].line == 15);
        }
        recipe_files_free(files, nf);

        struct recipe_label *labels;
        size_t nl;
        CHECK(recipe_labels(&r, &labels, &nl, &e) == 0);
        CHECK(nl == 2);
        if (nl == 2) {
                CHECK_STR(labels[0].key, "Author");
                CHECK_STR(labels[0].value, "alice smith");
                CHECK_STR(labels[1].key, "Version");
                CHECK_STR(labels[1].value, "1.0");
        }
        recipe_labels_free(labels, nl);
        recipe_free(&r);
}

static void test_minimal(void)
{
        struct recipe r;
        sing_err_t e;
        CHECK(parse("bootstrap: LocalImage\nfrom: /img/base.sif\r\n", &r, &e) == 0);
        CHECK(r.bootstrap == BOOTSTRAP_LOCALIMAGE);
        CHECK_STR(r.from, "/img/base.sif");
        CHECK(!r.include_cmd && !r.no_token);
        recipe_free(&r);

        CHECK(parse("Bootstrap: docker\nFrom: debian\n", &r, &e) == 0);
        char *uri = recipe_docker_uri(&r);
        CHECK_STR(uri, "docker://debian");
        free(uri);
        recipe_free(&r);
}

/* SCIF apps: sections keyed by app, apps in the order first named, repeats
 * appended, #! moved to the top of %apprun. */
static void test_apps(void)
{
        struct recipe r;
        sing_err_t e = {0};
        CHECK(parse("Bootstrap: docker\nFrom: a\n%apprun foo\n    #!/bin/bash\n    echo run\n"
                    "%appenv bar\nX=1\n%APPINSTALL foo\nmake\n%appenv bar\nY=2\n%post\ntrue\n",
                    &r, &e) == 0);
        CHECK(r.napps == 2);
        if (r.napps == 2) {
                CHECK_STR(r.apps[0].name, "foo");
                CHECK_STR(r.apps[1].name, "bar");
                CHECK_STR(r.apps[0].sec[APP_RUN].body, "#!/bin/bash\n    echo run\n");
                CHECK_STR(r.apps[0].sec[APP_INSTALL].body, "make\n");
                CHECK(!r.apps[0].sec[APP_ENV].present);
                CHECK_STR(r.apps[1].sec[APP_ENV].body, "X=1\nY=2\n");
                CHECK(r.apps[1].sec[APP_ENV].line == 6);
        }
        CHECK_STR(r.sec[SEC_POST].body, "true\n");
        recipe_free(&r);
}

/* Each bad recipe must fail with a message that contains `want`. */
static void bad(const char *text, const char *want)
{
        struct recipe r;
        sing_err_t e = {0};
        int rc = parse(text, &r, &e);
        CHECK(rc == -1);
        if (rc == 0) {
                fprintf(stderr, "  accepted: %s\n", text);
                recipe_free(&r);
        } else if (!strstr(e.msg, want)) {
                fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", e.msg, want);
                check_failures++;
        }
}

static void test_bad(void)
{
        bad("Bootstrap: yum\nFrom: x\n", "/defs/my.def:1: unknown Bootstrap \"yum\"");
        bad("\n# c\nBootstrap: docker\n\n%post\necho\n",
            "/defs/my.def:3: Bootstrap docker needs a From");
        bad("Bootstrap: docker\nFrom: a\n%post\necho\n%apprunner foo\necho\n",
            "/defs/my.def:5: unknown section %apprunner");
        bad("Bootstrap: docker\nFrom: a\n%apprun\necho\n",
            "/defs/my.def:3: %apprun needs an app name");
        bad("Bootstrap: docker\nFrom: a\n%appenv foo bar\n",
            "/defs/my.def:3: %appenv takes one app name");
        bad("Bootstrap: docker\nFrom: a\n%apphelp ../x\n", "/defs/my.def:3: app name \"../x\"");
        bad("Bootstrap: docker\nFrom: a\nfrom: b\n", "/defs/my.def:3: header keyword From given "
                                                     "twice (first at line 2)");
        bad("From: a\n", "/defs/my.def:1: no Bootstrap");
        bad("Bootstrap: docker\nFrom a\n", "/defs/my.def:2: expected 'Keyword: value'");
        bad("Bootstrap: docker\nFrom: a\nIncludeCmd: maybe\n", "/defs/my.def:3: IncludeCmd must");
        bad("Bootstrap: docker\nFrom:  # nothing\n", "/defs/my.def:2: From has no value");
        {
                static const char nul[] = "Bootstrap: docker\nFrom: a\0b\n";
                struct recipe r;
                sing_err_t e;
                CHECK(recipe_parse(nul, sizeof(nul) - 1, "x.def", &r, &e) == -1);
                CHECK(strstr(e.msg, "x.def: not a text file") != NULL);
        }

        struct recipe r;
        sing_err_t e;
        const char *two = "Bootstrap: docker\nFrom: a\n%files\n a b c\n";
        CHECK(parse(two, &r, &e) == 0);
        struct recipe_file *f;
        size_t n;
        CHECK(recipe_files(&r, &f, &n, &e) == -1);
        CHECK(strstr(e.msg, "/defs/my.def:4: %files takes") != NULL);
        recipe_free(&r);
}

static void test_unreadable(void)
{
        struct recipe r;
        sing_err_t e;
        CHECK(recipe_load("/nonexistent/dir/x.def", &r, &e) == -1);
        CHECK(strstr(e.msg, "/nonexistent/dir/x.def") != NULL);
}

static char *expand(const char *text, struct build_args *a, sing_err_t *e)
{
        char *out = NULL;
        size_t len = 0;
        if (recipe_expand_args(text, strlen(text), "/defs/a.def", a, &out, &len, e) < 0)
                return NULL;
        CHECK(len == strlen(out));
        return out;
}

static void test_build_args(void)
{
        const char *text = "Bootstrap: docker\n"
                           "From: busybox:{{ VERSION }}\n"
                           "%arguments\n"
                           "  VERSION=1.36\n"
                           "  # a comment\n"
                           "  WHO = world \n"
                           "%post\n"
                           "  echo {{WHO}} {{ VERSION}} {{ not a key }} {{\n";
        struct build_args a = {0};
        sing_err_t e;
        char *out = expand(text, &a, &e);
        /* Defaults; %arguments blanked; line numbers kept; odd braces kept. */
        CHECK_STR(out, "Bootstrap: docker\nFrom: busybox:1.36\n\n\n\n\n%post\n"
                       "  echo world 1.36 {{ not a key }} {{\n");
        free(out);
        /* --build-arg wins over the default; a later value wins. */
        CHECK(build_args_add(&a, "VERSION=1.35", "--build-arg", &e) == 0);
        CHECK(build_args_add(&a, " VERSION = 1.37 ", "--build-arg", &e) == 0);
        CHECK(build_args_add(&a, "UNUSED=x", "--build-arg", &e) == 0);
        out = expand(text, &a, &e);
        CHECK(out && strstr(out, "From: busybox:1.37\n") != NULL);
        free(out);
        CHECK(a.used[0] && !a.used[1]);
        build_args_free(&a);

        CHECK(build_args_add(&a, "1X=y", "--build-arg", &e) == -1);
        CHECK(strstr(e.msg, "--build-arg: \"1X=y\" is not KEY=VALUE") != NULL);
        CHECK(build_args_add(&a, "novalue", "--build-arg", &e) == -1);

        /* An undefined one names FILE:LINE and the key. */
        CHECK(expand("Bootstrap: docker\nFrom: x\n%post\n echo {{ MISSING }}\n", &a, &e) == NULL);
        CHECK(strstr(e.msg, "/defs/a.def:4: build argument \"MISSING\" has no value") != NULL);
        CHECK(expand("Bootstrap: docker\nFrom: x\n%arguments\n bad line\n", &a, &e) == NULL);
        CHECK(strstr(e.msg, "/defs/a.def:4: %arguments: \"bad line\"") != NULL);
        build_args_free(&a);
}

static void test_stages(void)
{
        const char *text = "# two stages\n"
                           "Bootstrap: docker\n"
                           "From: golang\n"
                           "Stage: build\n"
                           "%post\n"
                           "  make\n"
                           "\n"
                           "bootstrap : docker\n"
                           "From: alpine\n"
                           "%files from build\n"
                           "  /src/app /usr/bin/app\n"
                           "%files\n"
                           "  local.txt\n"
                           "%post\n"
                           "  true\n";
        struct recipe *v;
        size_t n;
        sing_err_t e;
        CHECK(recipe_parse_stages(text, strlen(text), "/d/m.def", &v, &n, &e) == 0);
        CHECK(n == 2);
        if (n == 2) {
                CHECK_STR(v[0].stage, "build");
                CHECK_STR(v[0].from, "golang");
                CHECK_STR(v[0].sec[SEC_POST].body, "  make\n\n");
                CHECK(v[1].stage == NULL);
                CHECK_STR(v[1].from, "alpine");
                CHECK(v[1].nfiles_from == 1 && v[1].files_from[0].sec.line == 10);
                CHECK_STR(v[1].files_from[0].stage, "build");
                CHECK_STR(v[1].sec[SEC_FILES].body, "  local.txt\n");
                CHECK(v[1].sec[SEC_POST].line == 14); /* the file's line numbers */
                struct recipe_file *f;
                size_t nf;
                CHECK(recipe_files_from(&v[1], 0, &f, &nf, &e) == 0 && nf == 1);
                CHECK_STR(f[0].src, "/src/app");
                CHECK_STR(f[0].dst, "/usr/bin/app");
                recipe_files_free(f, nf);
                recipe_stages_free(v, n);
        }
        /* A stage that is not there (or comes later), two stages of one name. */
        const char *bad = "Bootstrap: docker\nFrom: a\n%files from later\n x\n"
                          "Bootstrap: docker\nFrom: b\nStage: later\n";
        CHECK(recipe_parse_stages(bad, strlen(bad), "/d/m.def", &v, &n, &e) == -1);
        CHECK(strstr(e.msg, "/d/m.def:3: %files from later: no earlier stage") != NULL);
        const char *dup = "Bootstrap: docker\nFrom: a\nStage: x\n"
                          "Bootstrap: docker\nFrom: b\nStage: x\n";
        CHECK(recipe_parse_stages(dup, strlen(dup), "/d/m.def", &v, &n, &e) == -1);
        CHECK(strstr(e.msg, "two stages are called \"x\"") != NULL);
        /* A parse error in the second stage names its line in the file. */
        const char *err2 = "Bootstrap: docker\nFrom: a\nBootstrap: docker\nFrom: b\n%bogus\n";
        CHECK(recipe_parse_stages(err2, strlen(err2), "/d/m.def", &v, &n, &e) == -1);
        CHECK(strstr(e.msg, "/d/m.def:5: unknown section %bogus") != NULL);
}

int main(void)
{
        RUN(test_stages);
        RUN(test_build_args);
        RUN(test_valid);
        RUN(test_apps);
        RUN(test_minimal);
        RUN(test_bad);
        RUN(test_unreadable);
        CHECK_DONE();
}
