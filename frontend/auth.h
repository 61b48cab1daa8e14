/* A registry session: where to talk to, with which credentials, and the
 * tokens it got (cached per scope, refreshed on expiry or a 401). */
#ifndef SING_AUTH_H
#define SING_AUTH_H

#include <stdbool.h>
#include <time.h>

#include "error.h"

struct image_ref;
struct pull_opts;

struct registry_token {
        char *scope;
        char *value;
        time_t expires;
};

struct registry {
        char *scheme;     /* "https" or "http" */
        char *host;       /* API host[:port] */
        char *display;    /* registry name for messages */
        char *repository; /* library/ubuntu */
        char *user, *pass;
        bool no_token; /* recipe "Token: no" */
        /* --nohttps / SINGULARITY_NOHTTPS for this registry: the user accepts
         * plain HTTP, credentials included. Without it, credentials never go
         * over plain HTTP (an https registry naming an http:// token realm). */
        bool nohttps;
        /* What the registry asked for on its last 401. */
        int auth_scheme; /* 0 anonymous, else AUTH_BASIC / AUTH_BEARER */
        char *realm, *service;
        struct registry_token tokens[8];
        unsigned ntokens;
        unsigned requests; /* registry requests made, for --debug */
};

int registry_init(struct registry *r, const struct image_ref *ref, const struct pull_opts *o,
                  sing_err_t *e);
void registry_free(struct registry *r);

/* "Authorization: ..." for the next request to r->host, or NULL (anonymous).
 * A cached token that has expired is renewed first. */
int registry_auth_line(struct registry *r, char **line, sing_err_t *e);

/* Handle a 401 with this WWW-Authenticate value: fetch a token, or arm Basic
 * credentials. `retry` says whether this is the second 401 in a row for the
 * same request (then the credentials are wrong). */
int registry_authenticate(struct registry *r, const char *www_authenticate, bool retry,
                          sing_err_t *e);

/* Base URL "scheme://host/v2/repository". malloc'd. */
char *registry_url(const struct registry *r, const char *kind, const char *name);

#endif
