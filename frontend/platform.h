/* The host's platform, as image indexes and the SIF cache name it. libc
 * only: the light `singularity` uses it to find a cached SIF. */
#ifndef SING_PLATFORM_H
#define SING_PLATFORM_H

#include <stddef.h>

/* The host's architecture in Go/OCI naming ("amd64", "arm64", ...). */
const char *host_goarch(void);

/* The platform as the cache's SIF names spell it ("arm/v7" -> "arm-v7"). */
void platform_cache_key(const char *platform, char *buf, size_t len);

#endif
