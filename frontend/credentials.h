/* Where registry credentials come from, first found wins:
 *   1. --docker-login: what the user typed on the terminal for this command
 *      (cred_options.h; never written anywhere), else
 *      APPTAINER_DOCKER_USERNAME + APPTAINER_DOCKER_PASSWORD, else
 *      SINGULARITY_DOCKER_USERNAME + SINGULARITY_DOCKER_PASSWORD (Apptainer's
 *      precedence; the command reads them: envopts.h cred_sources_from_env),
 *      else Docker's DOCKER_USERNAME + DOCKER_PASSWORD
 *   2. the Docker config file: --authfile FILE, else $DOCKER_CONFIG/config.json,
 *      else ~/.docker/config.json (the file `registry login` writes): the
 *      credential helper its "credHelpers" names for this registry, else its
 *      "credsStore" (docker-credential-NAME), then its "auths" entry for this
 *      registry. A default config the user cannot read is a warning (a public
 *      pull needs none); an --authfile that cannot be read is an error.
 * Config entries are matched on host[:port] exactly, so credentials saved for
 * one registry are never sent to another. Identity tokens are not supported. */
#ifndef SING_CREDENTIALS_H
#define SING_CREDENTIALS_H

#include <stdbool.h>

#include "error.h"

/* registry_display and api_host as in struct image_ref ("index.docker.io" and
 * "registry-1.docker.io" for Docker Hub, else both host[:port]).
 * Returns 1 with malloc'd *user and *pass, 0 when nothing applies (both
 * NULL), or -1 with a message: only one variable of an environment pair set,
 * an unreadable or malformed config file, an undecodable "auth" value. */
/* What the command found in the environment. */
struct cred_sources {
        /* The pair given for this command: --docker-login's answers, else one
         * environment pair (NULL: unset). */
        const char *user, *pass;
        char user_var[64], pass_var[64]; /* that pair's names, for messages */
        char docker_config[4096];        /* config.json path; "" when no home is known */
        bool config_given;               /* --authfile: a missing or unreadable file is an error */
};

int credentials_lookup(const struct cred_sources *src, const char *registry_display,
                       const char *api_host, char **user, char **pass, sing_err_t *e);

/* Overwrite and free a secret string (NULL is fine). */
void credentials_free_secret(char *s);

#endif
