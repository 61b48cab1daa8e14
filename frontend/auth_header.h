/* The WWW-Authenticate header a registry sends with 401 (RFC 7235):
 *   Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"
 *   Basic realm="Registry Realm"
 * A header may carry several challenges; Bearer is preferred over Basic and
 * other schemes are skipped. */
#ifndef SING_AUTH_HEADER_H
#define SING_AUTH_HEADER_H

#include "error.h"

enum auth_scheme {
        AUTH_NONE = 0,
        AUTH_BASIC,
        AUTH_BEARER,
};

struct auth_challenge {
        int scheme;    /* enum auth_scheme */
        char *realm;   /* required for Bearer; NULL when absent */
        char *service; /* NULL when absent */
        char *scope;   /* NULL when absent */
};

/* Parse one header value. Returns 0, or -1 with a message when the header is
 * malformed or holds no Basic or Bearer challenge (out is then empty). */
int auth_challenge_parse(const char *value, struct auth_challenge *out, sing_err_t *e);

/* Free the strings and reset the struct (safe on an empty one). */
void auth_challenge_free(struct auth_challenge *c);

#endif
