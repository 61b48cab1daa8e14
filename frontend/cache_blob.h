/* Reusing a cached blob only when it is provably the one we verified:
 * its identity record (cache.h) matches, or failing that (no record, or the
 * file changed), its content hashes to its digest again. A blob that fails
 * is removed, so it is fetched again. Size alone proves nothing: a
 * same-size poisoned blob was accepted before.
 *
 * A read-only cache (cache.h) is looked in first: its blob is used in
 * place when its record there matches; without one it is copied into the
 * private cache and hashed on the way (kept only if it matches), never
 * rewritten or removed where it is. */
#ifndef SING_CACHE_BLOB_H
#define SING_CACHE_BLOB_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"

bool cache_blob_usable(const struct cache *c, const char *digest, int64_t size);
/* Record the blob just stored under its digest (after its hash was checked). */
void cache_blob_verified(const struct cache *c, const char *digest);

#endif
