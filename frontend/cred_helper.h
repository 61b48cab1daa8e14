/* Docker credential helpers (the config's "credsStore" / "credHelpers"):
 * `docker-credential-NAME get` with the server on stdin, JSON on stdout. */
#ifndef SING_CRED_HELPER_H
#define SING_CRED_HELPER_H

#include <stdbool.h>

#include "error.h"

/* A helper name Docker would accept as part of a program name. */
bool cred_helper_name_valid(const char *name);

/* Ask docker-credential-NAME (found in PATH) for `server`'s credentials.
 * 1 with malloc'd *user and *pass, 0 when the helper has none for it (it
 * exits non-zero, as helpers do for "credentials not found") or is not
 * installed (a warning), -1 with a
 * message when it cannot be run or answers something that is not the
 * helper protocol's JSON. */
int cred_helper_get(const char *name, const char *server, char **user, char **pass, sing_err_t *e);

#endif
