#include "registry_status.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static void append(char *out, size_t outlen, size_t *n, const char *s)
{
        for (; *s && *n + 1 < outlen; s++)
                out[(*n)++] = iscntrl((unsigned char)*s) ? '?' : *s;
        out[*n] = '\0';
}

void registry_error_text(const char *body, size_t len, char *out, size_t outlen)
{
        json_tokener *tok = json_tokener_new();
        json_object *doc = NULL, *errors;
        size_t n = 0;
        if (!outlen)
                return;
        out[0] = '\0';
        if (!tok || !body || !len) {
                json_tokener_free(tok);
                return;
        }
        doc = json_tokener_parse_ex(tok, body, (int)(len > 1 << 20 ? 1 << 20 : len));
        json_tokener_free(tok);
        if (doc && json_object_object_get_ex(doc, "errors", &errors) &&
            json_object_is_type(errors, json_type_array)) {
                size_t count = json_object_array_length(errors);
                for (size_t i = 0; i < count; i++) {
                        json_object *m;
                        if (!json_object_object_get_ex(json_object_array_get_idx(errors, i),
                                                       "message", &m) ||
                            !json_object_is_type(m, json_type_string) ||
                            !*json_object_get_string(m))
                                continue;
                        if (n)
                                append(out, outlen, &n, "; ");
                        append(out, outlen, &n, json_object_get_string(m));
                }
        }
        json_object_put(doc);
}

long registry_retry_delay(const char *retry_after, int next_try, long budget_s, time_t now)
{
        long wait = -1;
        if (retry_after && *retry_after) {
                char *end;
                errno = 0;
                long v = strtol(retry_after, &end, 10);
                if (isdigit((unsigned char)*retry_after) && !*end && errno == 0) {
                        wait = v;
                } else {
                        time_t at = curl_getdate(retry_after, NULL);
                        if (at != -1)
                                wait = at > now ? (long)(at - now) : 0;
                }
        }
        if (wait < 0) /* none, or one we cannot read: back off */
                wait = 1L << (next_try > 2 ? (next_try - 2 > 5 ? 5 : next_try - 2) : 0);
        return wait > budget_s ? -1 : wait;
}
