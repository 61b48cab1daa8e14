/* --docker-login and --authfile FILE (Apptainer's options): registry
 * credentials for one command. pull and build apply them themselves;
 * run/exec/shell/test/instance start of a docker:// image record them and
 * hand them to the image tool's cache-sif, which applies them (image_tool.h).
 * --docker-login asks for the user name and password on the terminal; the
 * answers live in this process only, are wiped when it is done, and win
 * over every other source (credentials.h). --authfile replaces the Docker
 * config file (default ~/.docker/config.json, where `registry login` writes). */
#ifndef SING_CRED_OPTIONS_H
#define SING_CRED_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct cred_sources;

/* getopt_long values, outside every command's own: a command's option table
 * has {"docker-login", no_argument, NULL, CRED_OPT_DOCKER_LOGIN} and
 * {"authfile", required_argument, NULL, CRED_OPT_AUTHFILE}. */
enum { CRED_OPT_DOCKER_LOGIN = 3000, CRED_OPT_AUTHFILE };

struct cred_options {
        bool docker_login;
        const char *authfile;
        char *user, *pass; /* the answers to --docker-login, once asked */
};

/* Record opt (from getopt_long) when it is one of ours: true, else false. */
bool cred_options_take(struct cred_options *c, int opt, const char *arg);

/* The options as arguments for another process (cache-sif): appends at most
 * 3 strings to args at *n. */
void cred_options_args(const struct cred_options *c, const char **args, size_t *n);

/* Apply them to s: --authfile must name a file this user can read (else an
 * error naming it), --docker-login asks now (no terminal: an error). */
int cred_options_apply(struct cred_options *c, struct cred_sources *s, sing_err_t *e);

/* Wipe and free the answers. */
void cred_options_free(struct cred_options *c);

#endif
