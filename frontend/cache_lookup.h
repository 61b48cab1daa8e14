/* How a docker:// image is found in the cache, one rule for both binaries:
 * the light `singularity`, which runs a pinned image again without loading
 * the registry client (image_tool.c), and the pull code (pull.c), which
 * does everything else. Same lookup, same words. */
#ifndef SING_CACHE_LOOKUP_H
#define SING_CACHE_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>

#include "cache.h"
#include "reference.h"

/* "Docker image path: ..." and, for a persistent cache, "Cache folder set
 * to ..."; at info level for pull, verbose otherwise. */
void cache_lookup_announce(bool info, const struct image_ref *ref, const char *uri,
                           const struct cache *c);

/* The key a converted SIF is cached under: the platform and the reference
 * (sif_cache_key, platform.h). -1 when out of memory. */
int cache_lookup_key(const struct image_ref *ref, const char *platform, char *key, size_t len);

/* A pinned reference (@sha256:...) already converted for platform (Go
 * naming, "arm/v7"): its SIF's path (malloc'd). NULL for a tag, or when it
 * is not in the cache. Quiet: the caller says cache_lookup_say_hit(). */
char *cache_lookup_pinned(const struct cache *c, const struct image_ref *ref, const char *platform);

/* The one line for a read-only cache (cache.h) that lacks the image: what
 * is missing goes to a temporary cache. Nothing for any other cache. */
void cache_lookup_say_miss(const struct cache *c);

/* "Using cached SIF image": a SIF from the cache is what runs. */
void cache_lookup_say_hit(void);

#endif
