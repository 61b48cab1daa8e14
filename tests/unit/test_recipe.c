/* Definition file parser: a full valid recipe, then each bad recipe with the
 * FILE:LINE its message must name. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "recipe.h"

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
        bad("Bootstrap: docker\nFrom: a\n%post\necho\n%apprun foo\necho\n",
            "/defs/my.def:5: unknown section %apprun");
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

int main(void)
{
        test_valid();
        test_minimal();
        test_bad();
        test_unreadable();
        CHECK_DONE();
}
