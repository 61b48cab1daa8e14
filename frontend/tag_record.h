/* What a tag last named, per cache: root/tags/<sha256 of "REGISTRY/REPO:TAG
 * ARCH">, one line "sha256:<hex>", its mtime the last time the registry
 * confirmed it. A compute node that cannot reach the registry runs the
 * image the tag named then, with a warning, instead of failing. */
#ifndef SING_TAG_RECORD_H
#define SING_TAG_RECORD_H

#include <time.h>

#include "cache.h"
#include "error.h"

/* Record (or confirm) that `tag` of registry/repository named `digest`.
 * Written under a temp name and renamed: readers see old or new. */
int tag_record_write(const struct cache *c, const char *registry, const char *repository,
                     const char *tag, const char *arch, const char *digest, sing_err_t *e);

/* The digest last recorded (malloc'd) and when it was confirmed, in the
 * cache or else in the read-only cache before it; NULL when there is no
 * valid record. */
char *tag_record_read(const struct cache *c, const char *registry, const char *repository,
                      const char *tag, const char *arch, time_t *confirmed);

#endif
