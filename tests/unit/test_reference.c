/* Image reference parsing: a table of valid references with what they must
 * resolve to, and invalid ones with a word the error message must contain. */
#include "check.h"
#include "digest.h"
#include "reference.h"

#include <stdlib.h>
#include <string.h>

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DG "sha256:" HEX
#define HUB "index.docker.io", "registry-1.docker.io"

struct ok_case {
        const char *uri;
        const char *registry, *api_host, *repository, *tag, *digest;
        const char *display, *sif;
};

static const struct ok_case ok_cases[] = {
    {"docker://ubuntu", HUB, "library/ubuntu", "latest", NULL,
     "index.docker.io/library/ubuntu:latest", "ubuntu_latest.sif"},
    {"ubuntu", HUB, "library/ubuntu", "latest", NULL, NULL, NULL},
    {"docker://ubuntu:22.04", HUB, "library/ubuntu", "22.04", NULL,
     "index.docker.io/library/ubuntu:22.04", "ubuntu_22.04.sif"},
    {"docker://library/ubuntu", HUB, "library/ubuntu", "latest", NULL, NULL, NULL},
    {"docker://vanessa/code-samples", HUB, "vanessa/code-samples", "latest", NULL, NULL,
     "code-samples_latest.sif"},
    {"docker://docker.io/ubuntu", HUB, "library/ubuntu", "latest", NULL, NULL, NULL},
    {"docker://index.docker.io/ubuntu:20.04", HUB, "library/ubuntu", "20.04", NULL, NULL, NULL},
    {"docker://registry-1.docker.io/ubuntu", HUB, "library/ubuntu", "latest", NULL, NULL, NULL},
    {"docker://index.docker.io/library/ubuntu:latest", HUB, "library/ubuntu", "latest", NULL,
     "index.docker.io/library/ubuntu:latest", NULL},
    {"docker://docker.io/biocontainers/samtools:v1.9", HUB, "biocontainers/samtools", "v1.9", NULL,
     NULL, "samtools_v1.9.sif"},
    {"docker://ubuntu@" DG, HUB, "library/ubuntu", NULL, DG, "index.docker.io/library/ubuntu@" DG,
     "ubuntu_sha256.0123456789ab.sif"},
    {"docker://ubuntu:22.04@" DG, HUB, "library/ubuntu", "22.04", DG,
     "index.docker.io/library/ubuntu@" DG, "ubuntu_22.04.sif"},
    {"docker://quay.io/biocontainers/samtools:1.9--h91753b0_8", "quay.io", "quay.io",
     "biocontainers/samtools", "1.9--h91753b0_8", NULL, NULL, "samtools_1.9--h91753b0_8.sif"},
    {"docker://ghcr.io/owner/repo/sub/image:v1", "ghcr.io", "ghcr.io", "owner/repo/sub/image", "v1",
     NULL, "ghcr.io/owner/repo/sub/image:v1", "image_v1.sif"},
    {"docker://localhost/foo", "localhost", "localhost", "foo", "latest", NULL, NULL, NULL},
    {"docker://localhost:5000/foo/bar:1", "localhost:5000", "localhost:5000", "foo/bar", "1", NULL,
     "localhost:5000/foo/bar:1", NULL},
    {"docker://127.0.0.1:5000/test/alpine", "127.0.0.1:5000", "127.0.0.1:5000", "test/alpine",
     "latest", NULL, NULL, NULL},
    {"docker://10.0.0.1/x", "10.0.0.1", "10.0.0.1", "x", "latest", NULL, NULL, NULL},
    {"docker://[::1]:5000/x", "[::1]:5000", "[::1]:5000", "x", "latest", NULL, NULL, NULL},
    {"docker://my-registry.example.com:65535/a/b@" DG, "my-registry.example.com:65535",
     "my-registry.example.com:65535", "a/b", NULL, DG, NULL, "b_sha256.0123456789ab.sif"},
    {"docker://Quay.IO/x/y", "quay.io", "quay.io", "x/y", "latest", NULL, NULL, NULL},
    {"docker://a/b.c_d__e-f--g", HUB, "a/b.c_d__e-f--g", "latest", NULL, NULL, NULL},
    /* "localhost" alone is a Docker Hub image name, not a registry. */
    {"docker://localhost", HUB, "library/localhost", "latest", NULL, NULL, NULL},
    {"docker://localhost:5000", HUB, "library/localhost", "5000", NULL, NULL, NULL},
    {"docker://ubuntu:_", HUB, "library/ubuntu", "_", NULL, NULL, NULL},
    {"docker://ubuntu:A-b.C_9", HUB, "library/ubuntu", "A-b.C_9", NULL, NULL, NULL},
    {"docker://ubuntu:"
     "0123456789012345678901234567890123456789012345678901234567890123"
     "0123456789012345678901234567890123456789012345678901234567890123",
     HUB, "library/ubuntu",
     "0123456789012345678901234567890123456789012345678901234567890123"
     "0123456789012345678901234567890123456789012345678901234567890123",
     NULL, NULL, NULL},
};

struct bad_case {
        const char *uri;
        const char *why; /* must appear in the message */
};

static const struct bad_case bad_cases[] = {
    {"docker://", "empty"},
    {"", "empty"},
    {"docker://Ubuntu", "must be lowercase"},
    {"docker://library/Ubuntu", "must be lowercase"},
    {"docker://ubuntu:", "tag after ':' is empty"},
    {"docker://ubuntu:latest:", "empty"},
    {"docker://ubuntu:-x", "tag must start"},
    {"docker://ubuntu:a+b", "invalid character '+' in tag"},
    {"docker://ubuntu:"
     "0123456789012345678901234567890123456789012345678901234567890123"
     "01234567890123456789012345678901234567890123456789012345678901234",
     "longer than 128"},
    {"docker://ubuntu@", "digest after '@' is empty"},
    {"docker://ubuntu@sha256:abc", "64 hex digits"},
    {"docker://ubuntu@sha256:" HEX "0", "64 hex digits"},
    {"docker://ubuntu@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
     "lowercase hex"},
    {"docker://ubuntu@sha256:g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
     "lowercase hex"},
    {"docker://ubuntu@sha256:../../x", "lowercase hex"},
    {"docker://ubuntu@sha512:" HEX HEX, "unsupported digest algorithm \"sha512\""},
    {"docker://ubuntu@" HEX, "sha256:"},
    {"docker://ubuntu@" DG "@" DG, "lowercase hex"},
    {"docker://quay.io//ubuntu", "empty component"},
    {"docker://foo//bar", "empty component"},
    {"docker://quay.io/ubuntu/", "empty component"},
    {"docker://ubuntu/", "empty component"},
    {"docker:///ubuntu", "empty component"},
    {"docker://quay.io/", "empty component"},
    {"docker://quay.io/../etc", "invalid repository path component \"..\""},
    {"docker://a/../b", "\"..\""},
    {"docker://a/./b", "\".\""},
    {"docker://a..b", "\"a..b\""},
    {"docker://a___b", "\"a___b\""},
    {"docker://a._b", "\"a._b\""},
    {"docker://-a", "\"-a\""},
    {"docker://a-", "\"a-\""},
    {"docker://localhost:0/x", "invalid port \"0\""},
    {"docker://localhost:65536/x", "invalid port"},
    {"docker://localhost:/x", "invalid port"},
    {"docker://localhost:50a/x", "invalid port"},
    {"docker://localhost:123456/x", "invalid port"},
    {"docker://bad_host.com/x", "invalid registry host"},
    {"docker://-bad.com/x", "invalid registry host"},
    {"docker://a..com/x", "invalid registry host"},
    {"docker://[zz::1]:5000/x", "invalid registry host"},
    {"docker://ubuntu latest", "whitespace"},
    {"docker:// ubuntu", "whitespace"},
    {"docker://ubuntu\n", "control"},
    {"docker://ub\xc3\xbcntu", "non-ASCII"},
    {"docker://ubuntu:sha256:" HEX, "invalid character ':' in repository name"},
    {"docker://:latest", "repository name is empty"},
    {"docker://@" DG, "repository name is empty"},
    {"oras://ubuntu", "unsupported transport"},
    {"docker://ub$untu", "invalid character '$'"},
};

static void check_ok(const struct ok_case *c)
{
        struct image_ref r;
        sing_err_t e = {0};
        char *s;

        if (ref_parse(c->uri, &r, &e) != 0) {
                fprintf(stderr, "%s: unexpected error: %s\n", c->uri, e.msg);
                check_failures++;
                return;
        }
        CHECK_STR(r.registry, c->registry);
        CHECK_STR(r.api_host, c->api_host);
        CHECK_STR(r.repository, c->repository);
        if (c->tag)
                CHECK_STR(r.tag, c->tag);
        else
                CHECK(r.tag == NULL);
        if (c->digest) {
                CHECK_STR(r.digest, c->digest);
                CHECK(digest_is_valid(r.digest));
        } else {
                CHECK(r.digest == NULL);
        }
        if (c->display) {
                s = ref_display(&r);
                CHECK_STR(s, c->display);
                free(s);
        }
        if (c->sif) {
                s = ref_default_sif_name(&r);
                CHECK_STR(s, c->sif);
                free(s);
        }
        ref_free(&r);
        CHECK(r.registry == NULL && r.repository == NULL);
}

static void check_bad(const struct bad_case *c)
{
        struct image_ref r;
        sing_err_t e = {0};

        if (ref_parse(c->uri, &r, &e) == 0) {
                fprintf(stderr, "\"%s\": accepted, expected error containing \"%s\"\n", c->uri,
                        c->why);
                check_failures++;
                ref_free(&r);
                return;
        }
        CHECK(r.registry == NULL && r.repository == NULL && r.tag == NULL && r.digest == NULL);
        if (!strstr(e.msg, c->why)) {
                fprintf(stderr, "\"%s\": message \"%s\" lacks \"%s\"\n", c->uri, e.msg, c->why);
                check_failures++;
        }
        CHECK(strncmp(e.msg, "invalid image reference", 23) == 0);
        CHECK(strchr(e.msg, '\n') == NULL);
}

static void check_digest_helpers(void)
{
        CHECK(digest_is_valid(DG));
        CHECK(!digest_is_valid(NULL));
        CHECK(!digest_is_valid(""));
        CHECK(!digest_is_valid("sha256:"));
        CHECK(!digest_is_valid(HEX));
        CHECK(!digest_is_valid(DG "0"));
        CHECK(!digest_is_valid(
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"));
        CHECK(!digest_is_valid(
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF"));
        CHECK(!digest_is_valid("sha256:../../../../etc/passwd"));
        CHECK(!digest_is_valid("SHA256:" HEX));
        CHECK(!digest_is_valid("sha512:" HEX));
        CHECK_STR(digest_hex(DG), HEX);
        CHECK(digest_hex("md5:abc") == NULL);
        CHECK(digest_hex(NULL) == NULL);
}

int main(void)
{
        size_t i;
        sing_err_t e = {0};
        struct image_ref r;

        for (i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++)
                check_ok(&ok_cases[i]);
        for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
                check_bad(&bad_cases[i]);
        RUN(check_digest_helpers);

        /* The message quotes the input as given. */
        CHECK(ref_parse("docker://Ubuntu", &r, &e) == -1);
        CHECK_STR(e.msg, "invalid image reference \"docker://Ubuntu\": repository name must be "
                         "lowercase");
        CHECK(ref_parse(NULL, &r, &e) == -1);
        CHECK_DONE();
}
