#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "build_config.h"
#include "cleanup.h"

static const char *tls_ca_file, *tls_ca_dir;

void http_global_init(const char *ca_file, const char *ca_dir)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
        tls_ca_file = ca_file && *ca_file ? ca_file : NULL;
        tls_ca_dir = ca_dir && *ca_dir ? ca_dir : NULL;
}

bool http_may_send_credentials(const char *url, bool plain_http_ok)
{
        return strncasecmp(url, "https://", 8) == 0 ||
               (plain_http_ok && strncasecmp(url, "http://", 7) == 0);
}

void http_setup_handle(CURL *h)
{
        if (tls_ca_file)
                curl_easy_setopt(h, CURLOPT_CAINFO, tls_ca_file);
        if (tls_ca_dir)
                curl_easy_setopt(h, CURLOPT_CAPATH, tls_ca_dir);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "singularity/" SING_VERSION);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
        /* A stalled transfer (under 1 KiB/s for 60 s) is a dropped connection. */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
}

static char *header_value(const char *buf, size_t len, const char *name)
{
        size_t nl = strlen(name);
        const char *v, *end = buf + len;
        if (len <= nl || strncasecmp(buf, name, nl) != 0 || buf[nl] != ':')
                return NULL;
        v = buf + nl + 1;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
                end--;
        return strndup(v, (size_t)(end - v));
}

size_t http_header_cb(char *buf, size_t size, size_t n, void *userdata)
{
        struct http_response *r = userdata;
        size_t len = size * n;
        char *v;
        /* A new status line (after a 100 Continue, say) starts a new header set. */
        if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
                free(r->www_authenticate);
                free(r->location);
                free(r->content_type);
                free(r->docker_digest);
                free(r->retry_after);
                r->www_authenticate = r->location = r->content_type = r->docker_digest = NULL;
                r->retry_after = NULL;
                return len;
        }
#define TAKE(field, name)                                                                          \
        if ((v = header_value(buf, len, name))) {                                                  \
                free(r->field);                                                                    \
                r->field = v;                                                                      \
                return len;                                                                        \
        }
        TAKE(www_authenticate, "WWW-Authenticate")
        TAKE(location, "Location")
        TAKE(content_type, "Content-Type")
        TAKE(docker_digest, "Docker-Content-Digest")
        TAKE(retry_after, "Retry-After")
#undef TAKE
        return len;
}

struct body_buf {
        struct http_response *r;
        size_t max;
        bool too_big;
};

static size_t body_cb(char *buf, size_t size, size_t n, void *userdata)
{
        struct body_buf *b = userdata;
        size_t len = size * n;
        char *p;
        if (b->r->len + len > b->max) {
                b->too_big = true;
                return 0;
        }
        p = realloc(b->r->body, b->r->len + len + 1);
        if (!p)
                return 0;
        memcpy(p + b->r->len, buf, len);
        b->r->body = p;
        b->r->len += len;
        p[b->r->len] = '\0';
        return len;
}

char *http_url_host(const char *url)
{
        const char *p = strstr(url, "://");
        size_t n;
        if (!p)
                return NULL;
        p += 3;
        n = strcspn(p, "/?#");
        /* Userinfo is never part of our URLs, but do not let it fool the check. */
        {
                const char *at = memchr(p, '@', n);
                if (at) {
                        n -= (size_t)(at + 1 - p);
                        p = at + 1;
                }
        }
        return strndup(p, n);
}

char *http_resolve_location(const char *base, const char *location)
{
        char *out = NULL;
        CURLU *u = curl_url();
        if (!u)
                return NULL;
        if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
            curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK)
                curl_url_get(u, CURLUPART_URL, &out, 0);
        curl_url_cleanup(u);
        if (out) {
                char *copy = strdup(out);
                curl_free(out);
                return copy;
        }
        return NULL;
}

int http_curl_error(sing_err_t *e, CURLcode rc, const char *url, const char *errbuf)
{
        _cleanup_free_ char *host = http_url_host(url);
        const char *why = errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);
        switch (rc) {
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
                return err_set(e,
                               "TLS certificate of %s is not trusted (%s); to trust its CA, set "
                               "SSL_CERT_FILE=/path/to/ca.pem or add the CA to the system store "
                               "(update-ca-certificates); for a plain-HTTP registry use --nohttps",
                               host ? host : url, why);
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_OPERATION_TIMEDOUT:
                err_set(e, "cannot connect to registry %s: %s", host ? host : url, why);
                e->code = EHOSTUNREACH;
                return -1;
        default:
                return err_set(e, "request to %s failed: %s", url, why);
        }
}

void http_response_free(struct http_response *r)
{
        free(r->body);
        free(r->content_type);
        free(r->www_authenticate);
        free(r->location);
        free(r->docker_digest);
        free(r->retry_after);
        free(r->effective_url);
        memset(r, 0, sizeof(*r));
}

static int http_request(bool head, const char *url, const char *const *headers, const char *auth,
                        const char *auth_host, size_t max_body, struct http_response *r,
                        sing_err_t *e)
{
        _cleanup_free_ char *cur = strdup(url);
        /* A caller that asked for plain http (--nohttps) accepts it for the
         * credentials too; a redirect from https down to http does not. */
        bool plain_ok = strncasecmp(url, "http://", 7) == 0;
        memset(r, 0, sizeof(*r));
        if (!cur)
                return err_set(e, "out of memory");
        for (int hop = 0; hop <= 5; hop++) {
                CURL *h = curl_easy_init();
                struct curl_slist *hl = NULL;
                struct body_buf bb = {.r = r, .max = max_body};
                char errbuf[CURL_ERROR_SIZE] = "";
                _cleanup_free_ char *host = http_url_host(cur);
                CURLcode rc;
                if (!h)
                        return err_set(e, "cannot initialise libcurl");
                for (const char *const *hp = headers; hp && *hp; hp++)
                        hl = curl_slist_append(hl, *hp);
                /* Credentials only go to the host they belong to. */
                if (auth && host && auth_host && strcasecmp(host, auth_host) == 0 &&
                    http_may_send_credentials(cur, plain_ok))
                        hl = curl_slist_append(hl, auth);
                http_setup_handle(h);
                curl_easy_setopt(h, CURLOPT_URL, cur);
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
                curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_header_cb);
                curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
                curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
                curl_easy_setopt(h, CURLOPT_WRITEDATA, &bb);
                curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
                curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
                if (head)
                        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
                rc = curl_easy_perform(h);
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
                curl_easy_cleanup(h);
                curl_slist_free_all(hl);
                if (bb.too_big) {
                        http_response_free(r);
                        return err_set(e, "response from %s is larger than %zu bytes", cur,
                                       max_body);
                }
                if (rc != CURLE_OK) {
                        http_response_free(r);
                        return http_curl_error(e, rc, cur, errbuf);
                }
                if ((r->status == 301 || r->status == 302 || r->status == 303 || r->status == 307 ||
                     r->status == 308) &&
                    r->location) {
                        char *next = http_resolve_location(cur, r->location);
                        if (!next) {
                                http_response_free(r);
                                return err_set(e, "bad redirect from %s", cur);
                        }
                        free(cur);
                        cur = next;
                        http_response_free(r);
                        continue;
                }
                r->effective_url = steal_ptr(&cur);
                return 0;
        }
        http_response_free(r);
        return err_set(e, "too many redirects from %s", url);
}

int http_get(const char *url, const char *const *headers, const char *auth, const char *auth_host,
             size_t max_body, struct http_response *r, sing_err_t *e)
{
        return http_request(false, url, headers, auth, auth_host, max_body, r, e);
}

int http_head(const char *url, const char *const *headers, const char *auth, const char *auth_host,
              struct http_response *r, sing_err_t *e)
{
        return http_request(true, url, headers, auth, auth_host, 0, r, e);
}
