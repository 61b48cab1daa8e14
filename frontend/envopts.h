/* The one reader of the environment variables the frontend obeys.
 * Commands call these at the top and hand what they found down in option
 * structs (struct cache_opts, struct pull_opts): no module below the
 * commands calls getenv, so a setting means the same in every command.
 *
 * Every SINGULARITY_<NAME> has an APPTAINER_<NAME> twin. As in Apptainer,
 * the APPTAINER_ spelling wins when both are set; an empty value counts as
 * unset. Boolean values go through common/boolval (one truth table, unknown
 * values are an error naming the variable and the value). */
#ifndef SING_ENVOPTS_H
#define SING_ENVOPTS_H

#include <stdbool.h>

#include "boolval.h"
#include "error.h"

/* How the help text describes the boolean variables. */
#define ENVOPTS_BOOL_HELP                                                                          \
        "  Boolean variables (SINGULARITY_CONTAIN, SINGULARITY_NOHTTPS, ...) take\n"               \
        "  1/yes/true/on or 0/no/false/off (any case; empty is off); any other\n"                  \
        "  value is an error. APPTAINER_<NAME> wins over SINGULARITY_<NAME>.\n"

/* The value of APPTAINER_<name>, else SINGULARITY_<name>, else NULL. */
const char *envopt_str(const char *name);

/* The name of the variable envopt_str(name) took its value from (for
 * messages), or "SINGULARITY_<name>" when neither is set. Static storage. */
const char *envopt_var(const char *name);

/* A boolean variable: unset leaves *out as it is; a value outside the truth
 * table is -1 with "SINGULARITY_X=VALUE: expected ...". */
int envopt_bool(const char *name, bool *out, sing_err_t *e);

/* A plain (unprefixed) variable: TMPDIR, HOME, DOCKER_CONFIG, SSL_CERT_FILE.
 * Empty is NULL. */
const char *envopt_plain(const char *name);

struct cache_opts;
struct cred_sources;
struct pull_opts;

/* Registry credentials: the APPTAINER_DOCKER_USERNAME/_PASSWORD pair when
 * either is set, else the SINGULARITY_ pair; the Docker config path from
 * DOCKER_CONFIG, else HOME (else the password database). */
void cred_sources_from_env(struct cred_sources *s);

/* SINGULARITY_CACHEDIR, SINGULARITY_DISABLE_CACHE, HOME, TMPDIR
 * (SINGULARITY_TMPDIR wins over TMPDIR). */
int cache_opts_from_env(struct cache_opts *o, sing_err_t *e);
/* The above, credentials, SINGULARITY_NOHTTPS, SSL_CERT_FILE, SSL_CERT_DIR. Zeroes *o
 * first; the command's flags are applied after. */
int pull_opts_from_env(struct pull_opts *o, sing_err_t *e);

#endif
