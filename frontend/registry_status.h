/* What a registry's error answer says, and when to ask again: the
 * registry's own message (the JSON errors[].message of the distribution
 * spec) and the wait before retrying a 429 or 503 (Retry-After, else
 * backoff). Pure functions, unit-tested. */
#ifndef SING_REGISTRY_STATUS_H
#define SING_REGISTRY_STATUS_H

#include <stddef.h>
#include <time.h>

/* Tries of one request that answers 429 or 503, and the most we wait in all. */
#define REGISTRY_TRIES 3
#define REGISTRY_MAX_WAIT_S 30

/* errors[].message of an error body, joined with "; ", control characters
 * shown as '?', cut to fit out (NUL-terminated). "" when there is none. */
void registry_error_text(const char *body, size_t len, char *out, size_t outlen);

/* Seconds to wait before try `next_try` (2, 3, ...) after a 429/503:
 * Retry-After as seconds or an HTTP date (relative to now), else 1, 2, 4 ...
 * -1 when waiting that long would pass `budget_s`, the seconds left. */
long registry_retry_delay(const char *retry_after, int next_try, long budget_s, time_t now);

#endif
