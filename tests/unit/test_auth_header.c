/* WWW-Authenticate parsing: real registry headers, quoting corner cases, and
 * malformed input that must be refused with a message (and not crash). */
#include "auth_header.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

struct ok_case {
        const char *header;
        int scheme;
        const char *realm, *service, *scope; /* NULL: must be absent */
};

static const struct ok_case ok_cases[] = {
    {"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
     "scope=\"repository:library/ubuntu:pull\"",
     AUTH_BEARER, "https://auth.docker.io/token", "registry.docker.io",
     "repository:library/ubuntu:pull"},
    {"Basic realm=\"Registry Realm\"", AUTH_BASIC, "Registry Realm", NULL, NULL},
    {"Basic", AUTH_BASIC, NULL, NULL, NULL},
    /* Commas inside quotes belong to the value. */
    {"Bearer realm=\"https://r/t\",scope=\"repository:a/b:pull,push\"", AUTH_BEARER, "https://r/t",
     NULL, "repository:a/b:pull,push"},
    /* Case-insensitive scheme and parameter names. */
    {"bEARER REALM=\"https://r/t\", Service=\"svc\"", AUTH_BEARER, "https://r/t", "svc", NULL},
    /* Unquoted token values, whitespace around '=' and ','. */
    {"Bearer  realm = https://r/t ,\tservice = reg.example , scope=repository:x:pull", AUTH_BEARER,
     NULL, NULL, NULL},
    /* Escapes inside quoted strings. */
    {"Basic realm=\"a \\\"quoted\\\" \\\\ realm\"", AUTH_BASIC, "a \"quoted\" \\ realm", NULL,
     NULL},
    /* Unknown parameters are ignored. */
    {"Bearer realm=\"https://r/t\",error=\"insufficient_scope\",foo=bar", AUTH_BEARER,
     "https://r/t", NULL, NULL},
    /* Several challenges: Bearer wins over Basic, whatever the order. */
    {"Basic realm=\"b\", Bearer realm=\"https://r/t\",service=\"s\"", AUTH_BEARER, "https://r/t",
     "s", NULL},
    {"Bearer realm=\"https://r/t\", Basic realm=\"b\"", AUTH_BEARER, "https://r/t", NULL, NULL},
    /* Of two challenges of the same scheme, the first counts. */
    {"Bearer realm=\"https://first/t\", Bearer realm=\"https://second/t\"", AUTH_BEARER,
     "https://first/t", NULL, NULL},
    {"Basic realm=\"one\", Basic realm=\"two\"", AUTH_BASIC, "one", NULL, NULL},
    /* Unknown schemes (with token68 or params) are skipped. */
    {"Negotiate abc123==, Basic realm=\"x\"", AUTH_BASIC, "x", NULL, NULL},
    {"Digest realm=\"d\", nonce=\"n,1\", Basic realm=\"x\"", AUTH_BASIC, "x", NULL, NULL},
    /* Empty list elements. */
    {" , Bearer realm=\"https://r/t\",, service=\"s\",", AUTH_BEARER, "https://r/t", "s", NULL},
    {"Bearer realm=\"\"", AUTH_BEARER, "", NULL, NULL},
};

static const struct {
        const char *header, *why;
} bad_cases[] = {
    {"", "no Basic or Bearer"},
    {"   ", "no Basic or Bearer"},
    {"Negotiate", "no Basic or Bearer"},
    {"Bearer", "without realm"},
    {"Bearer service=\"s\"", "without realm"},
    {"Bearer realm=\"https://r/t", "unterminated quoted string"},
    {"Bearer realm=\"https://r/t\\", "unterminated quoted string"},
    {"Bearer realm=\"a\nb\"", "control character"},
    {"Bearer realm=\"a\" service=\"b\"", "expected ','"},
    {"Bearer realm=\"a\",realm=\"b\"", "duplicate parameter"},
    {"Bearer realm=\"a\",REALM=\"b\"", "duplicate parameter"},
    {"Bearer realm=,", "without realm"},
    {"Bearer realm= \"", "unterminated"},
    {"Bearer realm=\\x", "invalid parameter value"},
    {"Bearer realm=\"a\"x", "expected ','"},
    {"\"Bearer\" realm=a", "expected an authentication scheme"},
    {"Bearer\"x\"", "unexpected character after scheme"},
    {"=Bearer", "expected an authentication scheme"},
    {"Bearer realm=\"a\", =b", "expected an authentication scheme"},
    {"Bearer realm=\"a\", x y z", "expected ','"},
};

static void check_ok(const struct ok_case *c)
{
        struct auth_challenge a;
        sing_err_t e = {0};

        if (auth_challenge_parse(c->header, &a, &e) != 0) {
                fprintf(stderr, "[%s]: unexpected error: %s\n", c->header, e.msg);
                check_failures++;
                return;
        }
        CHECK(a.scheme == c->scheme);
        if (c->realm)
                CHECK_STR(a.realm, c->realm);
        if (c->service)
                CHECK_STR(a.service, c->service);
        if (c->scope)
                CHECK_STR(a.scope, c->scope);
        auth_challenge_free(&a);
        CHECK(a.realm == NULL && a.scheme == AUTH_NONE);
}

int main(void)
{
        struct auth_challenge a;
        sing_err_t e = {0};
        size_t i;
        char *big;

        for (i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++)
                check_ok(&ok_cases[i]);
        for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
                int rc = auth_challenge_parse(bad_cases[i].header, &a, &e);
                CHECK(rc == -1);
                if (rc == 0) {
                        fprintf(stderr, "[%s] accepted\n", bad_cases[i].header);
                        auth_challenge_free(&a);
                        continue;
                }
                CHECK(a.realm == NULL && a.service == NULL && a.scope == NULL);
                if (!strstr(e.msg, bad_cases[i].why)) {
                        fprintf(stderr, "[%s]: \"%s\" lacks \"%s\"\n", bad_cases[i].header, e.msg,
                                bad_cases[i].why);
                        check_failures++;
                }
        }

        /* Unquoted values keep exactly the token. */
        CHECK(auth_challenge_parse("Bearer  realm = https://r/t ,\tservice = reg.example , "
                                   "scope=repository:x:pull",
                                   &a, &e) == 0);
        CHECK_STR(a.realm, "https://r/t");
        CHECK_STR(a.service, "reg.example");
        CHECK_STR(a.scope, "repository:x:pull");
        auth_challenge_free(&a);

        /* NULL and oversized input are refused. */
        CHECK(auth_challenge_parse(NULL, &a, &e) == -1);
        big = malloc(20001);
        CHECK(big != NULL);
        if (big) {
                memset(big, 'a', 20000);
                big[20000] = '\0';
                memcpy(big, "Bearer realm=\"", 14);
                CHECK(auth_challenge_parse(big, &a, &e) == -1);
                CHECK(strstr(e.msg, "longer than") != NULL);
                free(big);
        }

        /* Every prefix of a valid header parses or fails cleanly (no crash, no
         * leak under sanitizers). */
        {
                const char *h = "Bearer realm=\"https://r/t\\\"x\",service=s, Basic realm=\"b\"";
                char buf[128];
                for (i = 0; i <= strlen(h); i++) {
                        memcpy(buf, h, i);
                        buf[i] = '\0';
                        if (auth_challenge_parse(buf, &a, &e) == 0)
                                auth_challenge_free(&a);
                }
        }
        CHECK_DONE();
}
