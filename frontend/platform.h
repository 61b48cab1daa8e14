/* The host's platform, as image indexes and the SIF cache name it. libc
 * only: the light `singularity` uses it to find a cached SIF. */
#ifndef SING_PLATFORM_H
#define SING_PLATFORM_H

#include <stddef.h>

#include "host_arch.h" /* host_goarch(), the one source */

/* The platform as the cache's SIF names spell it ("arm/v7" -> "arm-v7"). */
void platform_cache_key(const char *platform, char *buf, size_t len);
/* The key of a converted SIF in the cache: the platform, and a hash of the
 * reference it was converted for ("registry/repo:tag" or "...@digest"),
 * because the SIF records that reference (org.opencontainers.image.base.name):
 * one reference reuses its SIF, another one naming the same digest gets a
 * SIF of its own (the blobs are shared, only the squashfs is made again). */
void sif_cache_key(const char *platform, const char *reference, char *buf, size_t len);

#endif
