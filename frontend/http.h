/* Thin libcurl layer: one configured easy handle per request, with our TLS
 * and redirect policy. Redirects are followed here, not by curl, so that an
 * Authorization header is never sent to a host other than the one it was
 * issued for. */
#ifndef SING_HTTP_H
#define SING_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct http_response {
        long status;
        char *body; /* NUL-terminated for convenience; len excludes the NUL */
        size_t len;
        char *content_type;
        char *www_authenticate;
        char *location;
        char *docker_digest; /* Docker-Content-Digest */
        char *retry_after;   /* Retry-After (seconds or an HTTP date) */
        char *effective_url; /* after redirects */
};

/* Call once before any request (curl_global_init). */
/* Once per process, before any request: the CA file/directory to trust
 * (SSL_CERT_FILE / SSL_CERT_DIR, read by the command; NULL: the system's). */
void http_global_init(const char *ca_file, const char *ca_dir);

/* May credentials go in a request to url? Over https always; over plain
 * http only when the user asked for plain HTTP (--nohttps) for the
 * registry they belong to. */
bool http_may_send_credentials(const char *url, bool plain_http_ok);

/* Apply our TLS, timeout and user-agent settings to an easy handle:
 * SSL_CERT_FILE / SSL_CERT_DIR become curl's CA file / path (Debian's curl
 * otherwise ignores them), proxies come from the usual *_proxy variables. */
void http_setup_handle(CURL *h);

/* Header callback helper: store interesting response headers in r. */
size_t http_header_cb(char *buf, size_t size, size_t n, void *userdata);

/* GET url with the given headers; `auth` (a full "Authorization: ..." line or
 * NULL) is sent only to auth_host (host[:port]). Up to 5 redirects. Bodies
 * larger than max_body fail. Transport errors fill e; HTTP errors do not (the
 * caller looks at r->status). */
int http_get(const char *url, const char *const *headers, const char *auth, const char *auth_host,
             size_t max_body, struct http_response *r, sing_err_t *e);

/* The same as a HEAD request: r gets the status and headers, no body. */
int http_head(const char *url, const char *const *headers, const char *auth, const char *auth_host,
              struct http_response *r, sing_err_t *e);

void http_response_free(struct http_response *r);

/* host[:port] part of a URL, malloc'd; NULL if it has none. */
char *http_url_host(const char *url);
/* Resolve a Location header against the URL it came from (malloc'd). */
char *http_resolve_location(const char *base, const char *location);

/* A message for a curl failure that says what to do (untrusted CA ...).
 * When the registry cannot be reached at all (no route, refused, no DNS,
 * timed out) e->code is EHOSTUNREACH, so a caller can fall back to what it
 * has cached. */
int http_curl_error(sing_err_t *e, CURLcode rc, const char *url, const char *errbuf);

#endif
