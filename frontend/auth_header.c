/* WWW-Authenticate parsing (RFC 7235 section 4.1):
 *
 *   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string )
 *
 * Challenges and parameters are both separated by commas, so a comma is
 * followed either by another "name=value" of the same challenge or by the
 * scheme of the next one; looks_like_param() tells them apart. */
#include "auth_header.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Registries send a few hundred bytes; refuse absurd input early. */
#define HEADER_MAX_LEN 16384

static bool is_tchar(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token68_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("-._~+/", c));
}

static size_t token_len(const char *p)
{
        size_t n = 0;
        while (is_tchar(p[n]))
                n++;
        return n;
}

/* RFC 7235 allows only a token unquoted, but some servers send URLs bare
 * ("realm=https://host/token"): take any visible ASCII up to a delimiter. */
static size_t unquoted_len(const char *p)
{
        size_t n = 0;
        while (p[n] > 0x20 && p[n] < 0x7f && p[n] != ',' && p[n] != '"' && p[n] != '\\')
                n++;
        return n;
}

static const char *skip_ows(const char *p)
{
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

static const char *skip_ows_commas(const char *p)
{
        while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
        return p;
}

/* "name = value" starts at p (rather than a token68 or the next scheme). */
static bool looks_like_param(const char *p)
{
        size_t n = token_len(p);
        if (n == 0)
                return false;
        p = skip_ows(p + n);
        if (*p != '=')
                return false;
        /* "abc==" or "abc=" at the end of an element is a token68. */
        p = skip_ows(p + 1);
        return *p != '\0' && *p != ',' && *p != '=';
}

static int malformed(sing_err_t *e, const char *start, const char *at, const char *what)
{
        return err_set(e, "malformed WWW-Authenticate header: %s at offset %zu", what,
                       (size_t)(at - start));
}

/* Read the quoted-string at *pp (which points at '"') into a new string and
 * move *pp past the closing quote. */
static int parse_quoted(const char *start, const char **pp, char **out, sing_err_t *e)
{
        const char *p = *pp + 1;
        char *buf = malloc(strlen(p) + 1), *w = buf;

        if (!buf)
                return err_errno(e, "parsing WWW-Authenticate header");
        for (;;) {
                unsigned char c = (unsigned char)*p;
                if (c == '\0') {
                        free(buf);
                        return malformed(e, start, p, "unterminated quoted string");
                }
                if (c == '"')
                        break;
                if (c == '\\') {
                        p++;
                        c = (unsigned char)*p;
                        if (c == '\0') {
                                free(buf);
                                return malformed(e, start, p, "unterminated quoted string");
                        }
                }
                if ((c < 0x20 && c != '\t') || c == 0x7f) {
                        free(buf);
                        return malformed(e, start, p, "control character in quoted string");
                }
                *w++ = (char)c;
                p++;
        }
        *w = '\0';
        *pp = p + 1;
        *out = buf;
        return 0;
}

static int scheme_of(const char *p, size_t n)
{
        if (n == 5 && strncasecmp(p, "basic", 5) == 0)
                return AUTH_BASIC;
        if (n == 6 && strncasecmp(p, "bearer", 6) == 0)
                return AUTH_BEARER;
        return AUTH_NONE; /* some other scheme: parsed, then skipped */
}

/* The parameter slot for a name we keep, or NULL for one we ignore. */
static char **param_slot(struct auth_challenge *c, const char *name, size_t n)
{
        if (n == 5 && strncasecmp(name, "realm", 5) == 0)
                return &c->realm;
        if (n == 7 && strncasecmp(name, "service", 7) == 0)
                return &c->service;
        if (n == 5 && strncasecmp(name, "scope", 5) == 0)
                return &c->scope;
        return NULL;
}

/* Parse "name = value" at *pp into c. */
static int parse_param(const char *start, const char **pp, struct auth_challenge *c, sing_err_t *e)
{
        const char *p = *pp, *name = p;
        size_t n = token_len(p);
        char *value = NULL, **slot;

        p = skip_ows(p + n);
        p = skip_ows(p + 1); /* the '=' looks_like_param() saw */
        if (*p == '"') {
                if (parse_quoted(start, &p, &value, e) < 0)
                        return -1;
        } else {
                size_t vn = unquoted_len(p);
                if (vn == 0)
                        return malformed(e, start, p, "invalid parameter value");
                value = strndup(p, vn);
                if (!value)
                        return err_errno(e, "parsing WWW-Authenticate header");
                p += vn;
        }
        slot = param_slot(c, name, n);
        if (slot && *slot) {
                free(value);
                return err_set(e, "malformed WWW-Authenticate header: duplicate parameter \"%.*s\"",
                               (int)n, name);
        }
        if (slot)
                *slot = value;
        else
                free(value);
        *pp = p;
        return 0;
}

/* Parse one challenge starting at *pp (at its scheme) into c and move *pp to
 * the start of the next challenge or the end. */
static int parse_challenge(const char *start, const char **pp, struct auth_challenge *c,
                           sing_err_t *e)
{
        const char *p = *pp;
        size_t n = token_len(p);
        bool first = true;

        if (n == 0)
                return malformed(e, start, p, "expected an authentication scheme");
        c->scheme = scheme_of(p, n);
        p += n;
        if (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
                return malformed(e, start, p, "unexpected character after scheme");
        p = skip_ows(p);
        for (;;) {
                if (*p == '\0')
                        break;
                if (*p == ',') {
                        p = skip_ows_commas(p);
                        if (!looks_like_param(p))
                                break; /* end, or the next challenge's scheme */
                        continue;
                }
                if (first && !looks_like_param(p)) {
                        /* token68 form ("Negotiate abc=="): carries nothing we use. */
                        while (is_token68_char(*p))
                                p++;
                        while (*p == '=')
                                p++;
                } else if (parse_param(start, &p, c, e) < 0) {
                        return -1;
                }
                first = false;
                p = skip_ows(p);
                if (*p != '\0' && *p != ',')
                        return malformed(e, start, p, "expected ',' after parameter");
        }
        *pp = p;
        return 0;
}

int auth_challenge_parse(const char *value, struct auth_challenge *out, sing_err_t *e)
{
        struct auth_challenge best = {0}, cur;
        const char *p = value;

        memset(out, 0, sizeof(*out));
        if (!value)
                return err_set(e, "no WWW-Authenticate header");
        if (strlen(value) > HEADER_MAX_LEN)
                return err_set(e, "WWW-Authenticate header is longer than %d bytes",
                               HEADER_MAX_LEN);
        for (;;) {
                p = skip_ows_commas(p);
                if (*p == '\0')
                        break;
                memset(&cur, 0, sizeof(cur));
                if (parse_challenge(value, &p, &cur, e) < 0) {
                        auth_challenge_free(&cur);
                        auth_challenge_free(&best);
                        return -1;
                }
                if (cur.scheme == AUTH_BEARER && !cur.realm) {
                        auth_challenge_free(&cur);
                        auth_challenge_free(&best);
                        return err_set(e, "malformed WWW-Authenticate header: Bearer challenge "
                                          "without realm");
                }
                /* Keep the first Bearer challenge, else the first Basic one. */
                if (cur.scheme > best.scheme) {
                        auth_challenge_free(&best);
                        best = cur;
                } else {
                        auth_challenge_free(&cur);
                }
        }
        if (best.scheme == AUTH_NONE)
                return err_set(e, "WWW-Authenticate header has no Basic or Bearer challenge");
        *out = best;
        return 0;
}

void auth_challenge_free(struct auth_challenge *c)
{
        free(c->realm);
        free(c->service);
        free(c->scope);
        memset(c, 0, sizeof(*c));
}
