/* Attach a read-only, auto-clearing loop device to an already opened (and
 * checked) image fd, or with `shared loop devices = yes` reuse one already
 * attached to that same file, offset and size. Privileged mode only. */
#ifndef STARTER_LOOP_H
#define STARTER_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/* Returns the open loop device fd and writes "/dev/loopN" to devpath.
 * `max_loops`: the config's `max loop devices`. Dies on failure. */
int loop_attach(int image_fd, uint64_t offset, uint64_t size, const char *name, unsigned max_loops,
                bool shared, char devpath[32]);

#endif
