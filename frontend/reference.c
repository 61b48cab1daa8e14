/* Parsing of "docker://" image references. The grammar is the one of the
 * distribution project's reference package:
 *
 *   reference      := name [ ":" tag ] [ "@" digest ]
 *   name           := [ domain "/" ] path-component [ "/" path-component ]*
 *   domain         := host [ ":" port ]
 *   path-component := [a-z0-9]+ ( separator [a-z0-9]+ )*
 *   separator      := "." | "_" | "__" | "-"+
 *   tag            := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest         := "sha256:" 64 lowercase hex digits (the only one we take)
 *
 * The first component is a registry when it contains '.' or ':' or is
 * "localhost" and more components follow. */
#include "reference.h"

#include "cleanup.h"
#include "digest.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCHEME "docker://"
#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128
#define HOST_MAX_LEN 255
/* Longest possible valid input: name, ":" tag, "@" digest. Anything longer is
 * rejected before looking closer. */
#define REF_MAX_LEN (NAME_MAX_LEN + 1 + TAG_MAX_LEN + 1 + DIGEST_STR_LEN)

/* Fill e with `invalid image reference "<uri>": <reason>`. The uri is quoted
 * with non-printable bytes replaced and long input shortened, so the message
 * stays one readable line whatever the input was. */
static int bad_ref(sing_err_t *e, const char *uri, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad_ref(sing_err_t *e, const char *uri, const char *fmt, ...)
{
        char safe[160], reason[512];
        size_t i, n = 0;
        va_list ap;

        for (i = 0; uri[i] && n < sizeof(safe) - 4; i++) {
                unsigned char c = (unsigned char)uri[i];
                safe[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        }
        if (uri[i]) { /* cut: mark it */
                memcpy(safe + n, "...", 3);
                n += 3;
        }
        safe[n] = '\0';

        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        return err_set(e, "invalid image reference \"%s\": %s", safe, reason);
}

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* printf arguments for "%.*s" showing at most 64 bytes of [s, s+len). */
#define SHOW(s, len) ((int)(len) > 64 ? 64 : (int)(len)), (s)

static int check_digest(const char *uri, const char *d, sing_err_t *e)
{
        const char *hex, *colon;
        size_t i, n;

        if (*d == '\0')
                return bad_ref(e, uri, "digest after '@' is empty");
        colon = strchr(d, ':');
        if (!colon)
                return bad_ref(e, uri, "digest must be \"sha256:\" followed by 64 hex digits");
        if (strncmp(d, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) != 0)
                return bad_ref(e, uri, "unsupported digest algorithm \"%.*s\" (only sha256)",
                               SHOW(d, colon - d));
        hex = digest_hex(d);
        n = strlen(hex);
        for (i = 0; i < n; i++) {
                if (!is_digit(hex[i]) && !(hex[i] >= 'a' && hex[i] <= 'f'))
                        return bad_ref(e, uri,
                                       "sha256 digest must be 64 lowercase hex digits, found '%c'",
                                       hex[i]);
        }
        if (n != DIGEST_HEX_LEN)
                return bad_ref(e, uri, "sha256 digest must have %d hex digits, not %zu",
                               DIGEST_HEX_LEN, n);
        return 0;
}

static int check_tag(const char *uri, const char *tag, sing_err_t *e)
{
        size_t i, n = strlen(tag);

        if (n == 0)
                return bad_ref(e, uri, "tag after ':' is empty");
        if (n > TAG_MAX_LEN)
                return bad_ref(e, uri, "tag is longer than %d characters", TAG_MAX_LEN);
        if (!is_alnum(tag[0]) && tag[0] != '_')
                return bad_ref(e, uri, "tag must start with a letter, digit or '_'");
        for (i = 1; i < n; i++) {
                if (!is_alnum(tag[i]) && tag[i] != '_' && tag[i] != '.' && tag[i] != '-')
                        return bad_ref(e, uri, "invalid character '%c' in tag", tag[i]);
        }
        return 0;
}

/* domain-name := component ("." component)*, component := [A-Za-z0-9] or
 * [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]. Covers IPv4 addresses too. */
static bool is_domain_name(const char *h, size_t len)
{
        size_t i, start = 0;

        if (len == 0 || len > HOST_MAX_LEN)
                return false;
        for (i = 0; i <= len; i++) {
                if (i == len || h[i] == '.') {
                        if (i == start || h[start] == '-' || h[i - 1] == '-')
                                return false;
                        start = i + 1;
                } else if (!is_alnum(h[i]) && h[i] != '-') {
                        return false;
                }
        }
        return true;
}

/* "[" IPv6 "]": only the character set is checked; the address is never
 * interpreted here, only used as a host name. */
static bool is_bracketed_ipv6(const char *h, size_t len)
{
        size_t i;
        bool colon = false;

        if (len < 4 || h[0] != '[' || h[len - 1] != ']')
                return false;
        for (i = 1; i < len - 1; i++) {
                char c = h[i];
                if (c == ':')
                        colon = true;
                else if (!is_digit(c) && !((c | 0x20) >= 'a' && (c | 0x20) <= 'f') && c != '.')
                        return false;
        }
        return colon;
}

static int check_registry(const char *uri, const char *reg, sing_err_t *e)
{
        const char *close = reg[0] == '[' ? strchr(reg, ']') : NULL;
        const char *colon = strchr(close ? close : reg, ':');
        size_t hostlen = colon ? (size_t)(colon - reg) : strlen(reg);

        if (!is_domain_name(reg, hostlen) && !is_bracketed_ipv6(reg, hostlen))
                return bad_ref(e, uri, "invalid registry host \"%.*s\"", SHOW(reg, hostlen));
        if (colon) {
                const char *port = colon + 1;
                size_t i, n = strlen(port);
                long v = 0;
                bool ok = n >= 1 && n <= 5;
                for (i = 0; ok && i < n; i++) {
                        ok = is_digit(port[i]);
                        v = v * 10 + (port[i] - '0');
                }
                if (!ok || v < 1 || v > 65535)
                        return bad_ref(e, uri,
                                       "invalid port \"%.*s\" in registry (expected 1-65535)",
                                       SHOW(port, n));
        }
        return 0;
}

/* One path component: [a-z0-9]+ (separator [a-z0-9]+)*. */
static int check_component(const char *uri, const char *c, size_t len, sing_err_t *e)
{
        size_t i, sep_start = 0;
        bool in_sep = false;

        if (len == 0)
                return bad_ref(e, uri, "repository path has an empty component");
        for (i = 0; i < len; i++) {
                if (c[i] >= 'A' && c[i] <= 'Z')
                        return bad_ref(e, uri, "repository name must be lowercase");
                if (!is_lower_alnum(c[i]) && c[i] != '.' && c[i] != '_' && c[i] != '-')
                        return bad_ref(e, uri, "invalid character '%c' in repository name", c[i]);
        }
        if (!is_lower_alnum(c[0]) || !is_lower_alnum(c[len - 1]))
                goto bad;
        for (i = 0; i < len; i++) {
                if (is_lower_alnum(c[i])) {
                        if (in_sep) {
                                /* Allowed separators: ".", "_", "__", or a run of "-". */
                                const char *s = c + sep_start;
                                size_t n = i - sep_start, k;
                                bool ok = (n == 1) || (n == 2 && s[0] == '_' && s[1] == '_');
                                if (!ok) {
                                        ok = true;
                                        for (k = 0; k < n; k++)
                                                ok = ok && s[k] == '-';
                                }
                                if (!ok)
                                        goto bad;
                        }
                        in_sep = false;
                } else if (!in_sep) {
                        in_sep = true;
                        sep_start = i;
                }
        }
        return 0;
bad:
        return bad_ref(e, uri, "invalid repository path component \"%.*s\"", SHOW(c, len));
}

static int check_path(const char *uri, const char *path, sing_err_t *e)
{
        const char *p = path;

        for (;;) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t)(slash - p) : strlen(p);
                if (check_component(uri, p, len, e) < 0)
                        return -1;
                if (!slash)
                        return 0;
                p = slash + 1;
        }
}

static bool is_registry_component(const char *s, size_t len)
{
        return memchr(s, '.', len) || memchr(s, ':', len) ||
               (len == strlen("localhost") && strncmp(s, "localhost", len) == 0);
}

static bool is_docker_hub(const char *reg)
{
        return strcasecmp(reg, "docker.io") == 0 || strcasecmp(reg, REF_DOCKER_HUB) == 0 ||
               strcasecmp(reg, REF_DOCKER_HUB_API) == 0;
}

static void lowercase(char *s)
{
        for (; *s; s++) {
                if (*s >= 'A' && *s <= 'Z')
                        *s = (char)(*s - 'A' + 'a');
        }
}

int ref_parse(const char *uri, struct image_ref *out, sing_err_t *e)
{
        _cleanup_free_ char *buf = NULL;
        char *name, *tag = NULL, *digest = NULL, *reg = NULL, *path, *at, *slash, *colon;
        const char *s;
        struct image_ref r = {0};
        size_t i;

        memset(out, 0, sizeof(*out));
        if (!uri)
                return err_set(e, "invalid image reference: none given");
        s = uri;
        if (strncmp(s, SCHEME, strlen(SCHEME)) == 0)
                s += strlen(SCHEME);
        else if (strstr(s, "://"))
                return bad_ref(e, uri, "unsupported transport (expected docker://)");
        if (*s == '\0')
                return bad_ref(e, uri, "image name is empty");
        if (strlen(s) > REF_MAX_LEN)
                return bad_ref(e, uri, "reference is longer than %d characters", (int)REF_MAX_LEN);
        for (i = 0; s[i]; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == ' ' || c == '\t')
                        return bad_ref(e, uri, "contains whitespace");
                if (c < 0x20 || c >= 0x7f)
                        return bad_ref(e, uri, "contains a control or non-ASCII character");
        }

        buf = strdup(s);
        if (!buf)
                return err_errno(e, "parsing image reference");
        name = buf;

        /* name[:tag][@digest]: the digest goes first, then a ':' after the last
         * '/' starts the tag (a ':' before it belongs to a registry port). */
        at = strchr(name, '@');
        if (at) {
                *at = '\0';
                digest = at + 1;
                if (check_digest(uri, digest, e) < 0)
                        return -1;
        }
        slash = strrchr(name, '/');
        colon = strrchr(slash ? slash : name, ':');
        if (colon) {
                *colon = '\0';
                tag = colon + 1;
                if (check_tag(uri, tag, e) < 0)
                        return -1;
        }
        if (*name == '\0')
                return bad_ref(e, uri, "repository name is empty");
        if (strlen(name) > NAME_MAX_LEN)
                return bad_ref(e, uri, "name is longer than %d characters", NAME_MAX_LEN);

        path = name;
        slash = strchr(name, '/');
        if (slash && is_registry_component(name, (size_t)(slash - name))) {
                *slash = '\0';
                reg = name;
                path = slash + 1;
                if (check_registry(uri, reg, e) < 0)
                        return -1;
                lowercase(reg);
        }
        if (check_path(uri, path, e) < 0)
                return -1;

        if (!reg || is_docker_hub(reg)) {
                r.registry = strdup(REF_DOCKER_HUB);
                r.api_host = strdup(REF_DOCKER_HUB_API);
                /* Official images live under "library/" on Docker Hub only. */
                if (strchr(path, '/')) {
                        r.repository = strdup(path);
                } else if (asprintf(&r.repository, "library/%s", path) < 0) {
                        r.repository = NULL;
                }
        } else {
                r.registry = strdup(reg);
                r.api_host = strdup(reg);
                r.repository = strdup(path);
        }
        if (tag)
                r.tag = strdup(tag);
        else if (!digest)
                r.tag = strdup("latest");
        if (digest)
                r.digest = strdup(digest);
        if (!r.registry || !r.api_host || !r.repository || (!r.tag && (tag || !digest)) ||
            (digest && !r.digest)) {
                ref_free(&r);
                return err_errno(e, "parsing image reference");
        }
        *out = r;
        return 0;
}

char *ref_display(const struct image_ref *r)
{
        char *s;
        int rc;

        if (r->digest)
                rc = asprintf(&s, "%s/%s@%s", r->registry, r->repository, r->digest);
        else
                rc = asprintf(&s, "%s/%s:%s", r->registry, r->repository,
                              r->tag ? r->tag : "latest");
        return rc < 0 ? NULL : s;
}

char *ref_default_sif_name(const struct image_ref *r)
{
        const char *last = strrchr(r->repository, '/');
        char *s;
        int rc;

        last = last ? last + 1 : r->repository;
        if (r->tag)
                rc = asprintf(&s, "%s_%s.sif", last, r->tag);
        else if (r->digest && digest_hex(r->digest))
                rc = asprintf(&s, "%s_sha256.%.12s.sif", last, digest_hex(r->digest));
        else
                rc = asprintf(&s, "%s_latest.sif", last);
        return rc < 0 ? NULL : s;
}

void ref_free(struct image_ref *r)
{
        free(r->registry);
        free(r->api_host);
        free(r->repository);
        free(r->tag);
        free(r->digest);
        memset(r, 0, sizeof(*r));
}
