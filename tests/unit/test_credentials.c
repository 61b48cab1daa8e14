/* Credential sources: environment pairs (read by envopts, as the commands
 * do), Docker config "auths" matching (exact host[:port], Docker Hub
 * aliases), decoding, refusal of bad input, and --authfile. */
#include "check.h"
#include "cred_options.h"
#include "credentials.h"
#include "envopts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/test_credentials.XXXXXX";
static char cfg[sizeof(dir) + 32];

static void write_config(const char *json)
{
        FILE *f = fopen(cfg, "w");
        CHECK(f != NULL);
        if (f) {
                fputs(json, f);
                fclose(f);
        }
}

/* Expect credentials_lookup to return rc and, when 1, these values. */
static void expect(int line, const char *reg, const char *api, int rc, const char *u, const char *p)
{
        char *user = (char *)"x", *pass = (char *)"x";
        sing_err_t e = {0};
        struct cred_sources src;
        int got;
        cred_sources_from_env(&src);
        got = credentials_lookup(&src, reg, api, &user, &pass, &e);

        if (got != rc) {
                fprintf(stderr, "line %d: rc %d, expected %d (%s)\n", line, got, rc, e.msg);
                check_failures++;
        }
        if (rc == 1 && got == 1) {
                CHECK_STR(user, u);
                CHECK_STR(pass, p);
        } else {
                CHECK(user == NULL && pass == NULL);
        }
        credentials_free_secret(user);
        credentials_free_secret(pass);
}

#define HUB "index.docker.io", "registry-1.docker.io"

static int lookup(const char *reg, char **u, char **p, sing_err_t *e)
{
        struct cred_sources src;
        cred_sources_from_env(&src);
        return credentials_lookup(&src, reg, reg, u, p, e);
}

int main(void)
{
        sing_err_t e = {0};
        char *u, *p;

        CHECK(mkdtemp(dir) != NULL);
        snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
        unsetenv("SINGULARITY_DOCKER_USERNAME");
        unsetenv("SINGULARITY_DOCKER_PASSWORD");
        unsetenv("APPTAINER_DOCKER_USERNAME");
        unsetenv("APPTAINER_DOCKER_PASSWORD");
        setenv("DOCKER_CONFIG", dir, 1);

        /* No config file: nothing found. */
        expect(__LINE__, HUB, 0, NULL, NULL);

        /* Docker Hub's usual key; "auth" is base64("hubuser:hub:pass"). */
        write_config("{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":"
                     "\"aHVidXNlcjpodWI6cGFzcw==\"}}}");
        expect(__LINE__, HUB, 1, "hubuser", "hub:pass");
        expect(__LINE__, "quay.io", "quay.io", 0, NULL, NULL);

        /* Other Docker Hub spellings of the key. */
        write_config("{\"auths\":{\"docker.io\":{\"username\":\"a\",\"password\":\"b\"}}}");
        expect(__LINE__, HUB, 1, "a", "b");
        write_config("{\"auths\":{\"registry-1.docker.io\":{\"auth\":\"dTpw\"}}}");
        expect(__LINE__, HUB, 1, "u", "p");

        /* Several registries: each gets its own, ports must match exactly. */
        write_config("{\"auths\":{"
                     "\"quay.io\":{\"auth\":\"cXVheTpxcA==\"},"
                     "\"https://ghcr.io/\":{\"auth\":\"Z2g6Z3A=\"},"
                     "\"http://localhost:5000/v1/\":{\"username\":\"lu\",\"password\":\"lp\"},"
                     "\"Reg.Example.COM:8443\":{\"auth\":\"cmU6cnA\"},"
                     "\"evil.example/quay.io\":{\"auth\":\"ZXZpbDpldmls\"},"
                     "\"https://index.docker.io/v1/\":{}"
                     "}}");
        expect(__LINE__, "quay.io", "quay.io", 1, "quay", "qp");
        expect(__LINE__, "ghcr.io", "ghcr.io", 1, "gh", "gp");
        expect(__LINE__, "localhost:5000", "localhost:5000", 1, "lu", "lp");
        expect(__LINE__, "localhost", "localhost", 0, NULL, NULL);
        expect(__LINE__, "localhost:5001", "localhost:5001", 0, NULL, NULL);
        expect(__LINE__, "reg.example.com:8443", "reg.example.com:8443", 1, "re", "rp");
        expect(__LINE__, "reg.example.com", "reg.example.com", 0, NULL, NULL);
        expect(__LINE__, "quay.io.evil.example", "quay.io.evil.example", 0, NULL, NULL);
        expect(__LINE__, "evil.example", "evil.example", 1, "evil", "evil");
        expect(__LINE__, "io", "io", 0, NULL, NULL);
        /* {} (credential store in use) is "none", not an error. */
        expect(__LINE__, HUB, 0, NULL, NULL);

        /* Config without auths, and other JSON shapes. */
        write_config("{\"credsStore\":\"desktop\"}");
        expect(__LINE__, HUB, 0, NULL, NULL);
        write_config("{\"auths\":{\"quay.io\":\"notanobject\"}}");
        expect(__LINE__, "quay.io", "quay.io", 0, NULL, NULL);

        /* Broken input is an error naming the file. */
        write_config("{\"auths\":{\"quay.io\":{\"auth\":\"!!!\"}}}");
        expect(__LINE__, "quay.io", "quay.io", -1, NULL, NULL);
        CHECK(lookup("quay.io", &u, &p, &e) == -1);
        CHECK(strstr(e.msg, "config.json") && strstr(e.msg, "base64"));
        write_config("{\"auths\":{\"quay.io\":{\"auth\":\"bm9jb2xvbg==\"}}}"); /* "nocolon" */
        expect(__LINE__, "quay.io", "quay.io", -1, NULL, NULL);
        write_config("{\"auths\":{\"quay.io\":{\"auth\":\"YQB6OmI=\"}}}"); /* "a\0z:b" */
        expect(__LINE__, "quay.io", "quay.io", -1, NULL, NULL);
        write_config("{\"auths\": [1,2]}");
        expect(__LINE__, "quay.io", "quay.io", -1, NULL, NULL);
        write_config("{\"auths\": {\"quay.io\": {\"auth\": \"cXVheTpxcA==\"}");
        expect(__LINE__, "quay.io", "quay.io", -1, NULL, NULL);
        CHECK(lookup("quay.io", &u, &p, &e) == -1);
        CHECK(strstr(e.msg, "invalid JSON") != NULL);
        write_config("[]");
        expect(__LINE__, "quay.io", "quay.io", -1, NULL, NULL);

        /* Environment wins over the file; APPTAINER_ over SINGULARITY_ (as
         * Apptainer: the SINGULARITY_ pair when no APPTAINER_ one is set). */
        write_config("{\"auths\":{\"quay.io\":{\"auth\":\"cXVheTpxcA==\"}}}");
        setenv("SINGULARITY_DOCKER_USERNAME", "su", 1);
        setenv("SINGULARITY_DOCKER_PASSWORD", "sp", 1);
        expect(__LINE__, "quay.io", "quay.io", 1, "su", "sp");
        setenv("APPTAINER_DOCKER_USERNAME", "au", 1);
        setenv("APPTAINER_DOCKER_PASSWORD", "ap", 1);
        expect(__LINE__, "quay.io", "quay.io", 1, "au", "ap");
        /* Half a pair is an error naming the missing variable. */
        unsetenv("APPTAINER_DOCKER_PASSWORD");
        CHECK(lookup("quay.io", &u, &p, &e) == -1);
        CHECK(strstr(e.msg, "APPTAINER_DOCKER_PASSWORD") != NULL);
        unsetenv("APPTAINER_DOCKER_USERNAME");
        expect(__LINE__, "quay.io", "quay.io", 1, "su", "sp");
        unsetenv("SINGULARITY_DOCKER_PASSWORD");
        CHECK(lookup("quay.io", &u, &p, &e) == -1);
        CHECK(strstr(e.msg, "SINGULARITY_DOCKER_PASSWORD") != NULL);
        unsetenv("SINGULARITY_DOCKER_USERNAME");
        expect(__LINE__, "quay.io", "quay.io", 1, "quay", "qp");

        /* --authfile: read instead of the Docker config; a missing one is an
         * error naming it, also when it goes after the option was checked. */
        {
                struct cred_options co = {.authfile = "/nonexistent/auth.json"};
                struct cred_sources src;
                char other[sizeof(dir) + 32];
                FILE *f;
                cred_sources_from_env(&src);
                CHECK(cred_options_apply(&co, &src, &e) == -1);
                CHECK(strstr(e.msg, "--authfile /nonexistent/auth.json") != NULL);
                snprintf(other, sizeof(other), "%s/auth.json", dir);
                f = fopen(other, "w");
                CHECK(f != NULL);
                if (f) {
                        fputs("{\"auths\":{\"quay.io\":{\"auth\":\"dTpw\"}}}", f);
                        fclose(f);
                }
                co.authfile = other;
                CHECK(cred_options_apply(&co, &src, &e) == 0);
                CHECK(credentials_lookup(&src, "quay.io", "quay.io", &u, &p, &e) == 1);
                CHECK_STR(u, "u");
                CHECK_STR(p, "p");
                credentials_free_secret(u);
                credentials_free_secret(p);
                unlink(other);
                CHECK(credentials_lookup(&src, "quay.io", "quay.io", &u, &p, &e) == -1);
                CHECK(strstr(e.msg, other) != NULL);
                cred_options_free(&co);
        }

        /* Without DOCKER_CONFIG, $HOME/.docker/config.json. */
        unsetenv("DOCKER_CONFIG");
        setenv("HOME", dir, 1);
        expect(__LINE__, "quay.io", "quay.io", 0, NULL, NULL);
        {
                char d2[sizeof(dir) + 16], c2[sizeof(dir) + 32];
                snprintf(d2, sizeof(d2), "%s/.docker", dir);
                snprintf(c2, sizeof(c2), "%s/config.json", d2);
                CHECK(mkdir(d2, 0700) == 0);
                CHECK(rename(cfg, c2) == 0);
                expect(__LINE__, "quay.io", "quay.io", 1, "quay", "qp");
                unlink(c2);
                rmdir(d2);
        }
        unlink(cfg);
        rmdir(dir);
        CHECK_DONE();
}
