/* Where registry credentials come from, first found wins:
 *   1. APPTAINER_DOCKER_USERNAME + APPTAINER_DOCKER_PASSWORD, else
 *      SINGULARITY_DOCKER_USERNAME + SINGULARITY_DOCKER_PASSWORD (Apptainer's
 *      precedence; the command reads them: envopts.h cred_sources_from_env),
 *      else Docker's DOCKER_USERNAME + DOCKER_PASSWORD
 *   2. the Docker config file, $DOCKER_CONFIG/config.json or
 *      ~/.docker/config.json: the credential helper its "credHelpers" names
 *      for this registry, else its "credsStore" (docker-credential-NAME),
 *      then its "auths" entry for this registry. A config the user cannot
 *      read is a warning (a public pull needs none).
 * Config entries are matched on host[:port] exactly, so credentials saved for
 * one registry are never sent to another. Identity tokens are not supported. */
#ifndef SING_CREDENTIALS_H
#define SING_CREDENTIALS_H

#include "error.h"

/* registry_display and api_host as in struct image_ref ("index.docker.io" and
 * "registry-1.docker.io" for Docker Hub, else both host[:port]).
 * Returns 1 with malloc'd *user and *pass, 0 when nothing applies (both
 * NULL), or -1 with a message: only one variable of an environment pair set,
 * an unreadable or malformed config file, an undecodable "auth" value. */
/* What the command found in the environment. */
struct cred_sources {
        const char *env_user, *env_pass; /* one pair's values (NULL: unset) */
        char user_var[64], pass_var[64]; /* that pair's names, for messages */
        char docker_config[4096];        /* config.json path; "" when no home is known */
};

int credentials_lookup(const struct cred_sources *src, const char *registry_display,
                       const char *api_host, char **user, char **pass, sing_err_t *e);

/* Overwrite and free a secret string (NULL is fine). */
void credentials_free_secret(char *s);

#endif
