/* Reproducible builds: with SOURCE_DATE_EPOCH set (reproducible-builds.org),
 * every time a build writes (SIF header and descriptors, the build-date
 * label) is that time, the SIF's UUID is derived from its contents, and
 * mksquashfs (which reads the variable itself) clamps file times to it. The
 * commands read the variable once (envopts.h) and hand it to
 * build_epoch_set(); the writers ask build_now(). */
#ifndef SING_BUILD_EPOCH_H
#define SING_BUILD_EPOCH_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* SOURCE_DATE_EPOCH's value: NULL or empty is fine (no epoch), anything but
 * a number of seconds since 1970 is an error (mksquashfs would refuse it). */
int build_epoch_set(const char *value, sing_err_t *e);
/* The epoch when one is set. */
bool build_epoch(int64_t *out);
/* The epoch, else the current time. */
int64_t build_now(void);

#endif
