/* Content digests as the registry and the cache use them. Only sha256 is
 * accepted: a digest string becomes part of URLs and cache paths, so it is
 * checked against this exact shape before any of that happens. */
#ifndef SING_DIGEST_H
#define SING_DIGEST_H

#include <stdbool.h>

#define DIGEST_PREFIX "sha256:"
#define DIGEST_HEX_LEN 64
#define DIGEST_STR_LEN (sizeof(DIGEST_PREFIX) - 1 + DIGEST_HEX_LEN) /* 71 */

/* True when d is exactly "sha256:" followed by 64 lowercase hex digits. */
bool digest_is_valid(const char *d);

/* The hex part of d (the pointer just past "sha256:"), or NULL when d does not
 * start with "sha256:". Call digest_is_valid() first to know it is well formed. */
const char *digest_hex(const char *d);

#endif
