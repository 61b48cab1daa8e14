/* libFuzzer harness for auth_challenge_parse (frontend/auth_header.c): the
 * WWW-Authenticate value comes from any registry, or a man in the middle of
 * a plain-HTTP one. */
#include <string.h>

#include "auth_header.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        fuzz_quiet_logs();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *value = fuzz_cstr(data, size);
        struct auth_challenge c;
        sing_err_t e;

        if (auth_challenge_parse(value, &c, &e) < 0) {
                FUZZ_ASSERT(c.scheme == AUTH_NONE && !c.realm && !c.service && !c.scope,
                            "failed parse left fields set");
                FUZZ_ASSERT(e.msg[0] && !strchr(e.msg, '\n'), "error is not one line: %s", e.msg);
        } else {
                FUZZ_ASSERT(c.scheme == AUTH_BASIC || c.scheme == AUTH_BEARER, "scheme %d",
                            c.scheme);
                FUZZ_ASSERT(c.scheme != AUTH_BEARER || c.realm, "Bearer without realm");
                /* Values end up in a token URL and in messages: no control bytes. */
                const char *vals[] = {c.realm, c.service, c.scope};
                for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
                        for (const char *p = vals[i]; p && *p; p++)
                                FUZZ_ASSERT(((unsigned char)*p >= 0x20 || *p == '\t') && *p != 0x7f,
                                            "control byte in a parameter");
                auth_challenge_free(&c);
        }
        free(value);
        return 0;
}
