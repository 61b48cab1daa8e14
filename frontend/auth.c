#include "auth.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "auth_header.h"
#include "cleanup.h"
#include "credentials.h"
#include "http.h"
#include "log.h"
#include "pull.h"
#include "reference.h"

#define TOKEN_MAX_BYTES (1 << 20)

int registry_init(struct registry *r, const struct image_ref *ref, const struct pull_opts *o,
                  sing_err_t *e)
{
        memset(r, 0, sizeof(*r));
        r->nohttps = o->nohttps;
        r->scheme = strdup(o->nohttps ? "http" : "https");
        r->host = strdup(ref->api_host);
        r->display = strdup(ref->registry);
        r->repository = strdup(ref->repository);
        r->no_token = o->no_token;
        if (!r->scheme || !r->host || !r->display || !r->repository) {
                registry_free(r);
                return err_set(e, "out of memory");
        }
        if (o->username && o->password) {
                r->user = strdup(o->username);
                r->pass = strdup(o->password);
        } else {
                int rc = credentials_lookup(&o->creds, ref->registry, ref->api_host, &r->user,
                                            &r->pass, e);
                if (rc < 0) {
                        registry_free(r);
                        return -1;
                }
        }
        return 0;
}

void registry_free(struct registry *r)
{
        free(r->scheme);
        free(r->host);
        free(r->display);
        free(r->repository);
        free(r->user);
        if (r->pass)
                explicit_bzero(r->pass, strlen(r->pass));
        free(r->pass);
        free(r->realm);
        free(r->service);
        for (unsigned i = 0; i < r->ntokens; i++) {
                free(r->tokens[i].scope);
                if (r->tokens[i].value)
                        explicit_bzero(r->tokens[i].value, strlen(r->tokens[i].value));
                free(r->tokens[i].value);
        }
        memset(r, 0, sizeof(*r));
}

char *registry_url(const struct registry *r, const char *kind, const char *name)
{
        char *u = NULL;
        if (asprintf(&u, "%s://%s/v2/%s/%s/%s", r->scheme, r->host, r->repository, kind, name) < 0)
                return NULL;
        return u;
}

static char *pull_scope(const struct registry *r)
{
        char *s = NULL;
        if (asprintf(&s, "repository:%s:pull", r->repository) < 0)
                return NULL;
        return s;
}

static char *basic_line(const struct registry *r)
{
        _cleanup_free_ char *plain = NULL, *enc = NULL;
        char *line = NULL;
        size_t n;
        if (asprintf(&plain, "%s:%s", r->user, r->pass) < 0)
                return NULL;
        n = strlen(plain);
        enc = malloc(4 * ((n + 2) / 3) + 1);
        if (!enc)
                return NULL;
        EVP_EncodeBlock((unsigned char *)enc, (unsigned char *)plain, (int)n);
        explicit_bzero(plain, n);
        if (asprintf(&line, "Authorization: Basic %s", enc) < 0)
                return NULL;
        return line;
}

static struct registry_token *token_for(struct registry *r, const char *scope)
{
        for (unsigned i = 0; i < r->ntokens; i++)
                if (strcmp(r->tokens[i].scope, scope) == 0)
                        return &r->tokens[i];
        return NULL;
}

/* Ask the token server named by the registry's challenge for a token. */
static int fetch_token(struct registry *r, const char *scope, sing_err_t *e)
{
        _cleanup_free_ char *url = NULL, *realm_host = NULL, *auth = NULL;
        CURL *esc = curl_easy_init();
        struct http_response resp;
        struct registry_token *t;
        json_object *root, *tok = NULL, *exp = NULL;
        const char *value;
        char *s_service = NULL, *s_scope = NULL;
        int64_t expires_in = 60;

        if (!esc)
                return err_set(e, "cannot initialise libcurl");
        s_service = curl_easy_escape(esc, r->service ? r->service : "", 0);
        s_scope = curl_easy_escape(esc, scope, 0);
        if (asprintf(&url, "%s%sservice=%s&scope=%s", r->realm, strchr(r->realm, '?') ? "&" : "?",
                     s_service, s_scope) < 0)
                url = NULL;
        curl_free(s_service);
        curl_free(s_scope);
        curl_easy_cleanup(esc);
        if (!url)
                return err_set(e, "out of memory");
        realm_host = http_url_host(r->realm);
        /* The token server the registry named gets the user's credentials, and
         * only it: http_get drops them on a redirect elsewhere. */
        if (r->user && r->pass) {
                if (!http_may_send_credentials(r->realm, r->nohttps))
                        return err_set(e,
                                       "refusing to send the credentials for %s to its token "
                                       "server %s over plain HTTP, where anyone on the network "
                                       "can read them; use --nohttps (SINGULARITY_NOHTTPS) only "
                                       "for a registry you reach over a trusted network",
                                       r->display, realm_host ? realm_host : r->realm);
                auth = basic_line(r);
        }
        log_debug("requesting token for %s from %s", scope, r->realm);
        if (http_get(url, NULL, auth, realm_host, TOKEN_MAX_BYTES, &resp, e) < 0)
                return err_prefix(e, "getting a token for %s", r->display);
        if (resp.status == 401 || resp.status == 403) {
                http_response_free(&resp);
                if (r->user)
                        return err_set(e, "authentication failed for %s/%s", r->display,
                                       r->repository);
                return err_set(e, "authentication required for %s/%s (or no such repository)",
                               r->display, r->repository);
        }
        if (resp.status != 200) {
                long st = resp.status;
                http_response_free(&resp);
                return err_set(e, "token server for %s answered HTTP %ld", r->display, st);
        }
        root = json_tokener_parse(resp.body);
        http_response_free(&resp);
        if (!root || !json_object_is_type(root, json_type_object) ||
            (!json_object_object_get_ex(root, "token", &tok) &&
             !json_object_object_get_ex(root, "access_token", &tok)) ||
            !json_object_is_type(tok, json_type_string)) {
                json_object_put(root);
                return err_set(e, "token server for %s sent no token", r->display);
        }
        value = json_object_get_string(tok);
        if (json_object_object_get_ex(root, "expires_in", &exp) &&
            json_object_is_type(exp, json_type_int) && json_object_get_int64(exp) > 0)
                expires_in = json_object_get_int64(exp);
        t = token_for(r, scope);
        if (!t) {
                if (r->ntokens == sizeof(r->tokens) / sizeof(r->tokens[0])) {
                        json_object_put(root);
                        return err_set(e, "too many token scopes");
                }
                t = &r->tokens[r->ntokens++];
                t->scope = strdup(scope);
        } else {
                free(t->value);
        }
        t->value = strdup(value);
        /* Renew a little early so a token does not expire mid-request. */
        t->expires = time(NULL) + (expires_in > 10 ? expires_in - 5 : expires_in);
        json_object_put(root);
        if (!t->scope || !t->value)
                return err_set(e, "out of memory");
        return 0;
}

int registry_auth_line(struct registry *r, char **line, sing_err_t *e)
{
        _cleanup_free_ char *scope = NULL;
        struct registry_token *t;
        *line = NULL;
        if (r->auth_scheme == AUTH_BASIC) {
                if (!(*line = basic_line(r)))
                        return err_set(e, "out of memory");
                return 0;
        }
        if (r->auth_scheme != AUTH_BEARER)
                return 0;
        if (!(scope = pull_scope(r)))
                return err_set(e, "out of memory");
        t = token_for(r, scope);
        if (!t || time(NULL) >= t->expires) {
                if (fetch_token(r, scope, e) < 0)
                        return -1;
                t = token_for(r, scope);
        }
        if (asprintf(line, "Authorization: Bearer %s", t->value) < 0) {
                *line = NULL;
                return err_set(e, "out of memory");
        }
        return 0;
}

int registry_authenticate(struct registry *r, const char *www_authenticate, bool retry,
                          sing_err_t *e)
{
        struct auth_challenge c;
        _cleanup_free_ char *scope = NULL;
        if (!www_authenticate)
                return err_set(e, "%s answered 401 without an authentication challenge",
                               r->display);
        if (auth_challenge_parse(www_authenticate, &c, e) < 0)
                return err_prefix(e, "%s", r->display);
        if (c.scheme == AUTH_BASIC) {
                auth_challenge_free(&c);
                if (!r->user || !r->pass)
                        return err_set(
                            e,
                            "authentication required for %s: set "
                            "SINGULARITY_DOCKER_USERNAME and SINGULARITY_DOCKER_PASSWORD",
                            r->display);
                if (retry && r->auth_scheme == AUTH_BASIC)
                        return err_set(e, "authentication failed for %s", r->display);
                r->auth_scheme = AUTH_BASIC;
                return 0;
        }
        if (r->no_token) {
                auth_challenge_free(&c);
                return err_set(e, "%s requires a token, but the recipe says \"Token: no\"",
                               r->display);
        }
        if (!c.realm) {
                auth_challenge_free(&c);
                return err_set(e, "%s sent a Bearer challenge without a realm", r->display);
        }
        if (retry && r->auth_scheme == AUTH_BEARER) {
                auth_challenge_free(&c);
                if (r->user)
                        return err_set(e, "authentication failed for %s", r->display);
                return err_set(e,
                               "authentication required for %s/%s (or no such repository): set "
                               "SINGULARITY_DOCKER_USERNAME and SINGULARITY_DOCKER_PASSWORD",
                               r->display, r->repository);
        }
        free(r->realm);
        free(r->service);
        r->realm = steal_ptr(&c.realm);
        r->service = steal_ptr(&c.service);
        auth_challenge_free(&c);
        r->auth_scheme = AUTH_BEARER;
        /* A 401 with a token we hold means it is stale: get a fresh one. */
        if (!(scope = pull_scope(r)))
                return err_set(e, "out of memory");
        return fetch_token(r, scope, e);
}
