/* The id maps of a --fakeroot user namespace: 0 -> the user, 1..N -> the
 * user's /etc/subuid and /etc/subgid ranges, written by the setuid helpers
 * newuidmap/newgidmap (Debian's `uidmap`) into a process that made the
 * namespace and waits. One place for builds (build_userns.c) and runs
 * (cmd_run.c, whose starter waits for the helper started here). */
#ifndef SING_USERNS_MAP_H
#define SING_USERNS_MAP_H

#include <sys/types.h>

#include "error.h"

struct subid_ranges {
        uid_t uid;
        gid_t gid;
        unsigned long uid_start, uid_count, gid_start, gid_count;
};

/* The subordinate id range of a user in /etc/subuid or /etc/subgid (first
 * matching line, by name or number). */
int subid_range(const char *file, const char *user, uid_t id, unsigned long *start,
                unsigned long *count, sing_err_t *e);

/* The calling user's ranges in both files, and newuidmap and newgidmap on
 * PATH: -1 with the reason when a full --fakeroot mapping is not possible. */
int subid_ranges_get(struct subid_ranges *r, sing_err_t *e);

/* newuidmap/newgidmap on process pid (which must have unshared its user
 * namespace and be waiting). */
int subid_map_pid(pid_t pid, const struct subid_ranges *r, sing_err_t *e);

/* For the starter: a detached helper process that reads a pid (decimal,
 * sent by the starter once it has made its user namespace) from the
 * socket returned in *fd, maps it, and answers "ok" (or closes the socket
 * after saying why on stderr). *fd is inherited by the starter (no
 * FD_CLOEXEC); the caller closes nothing else. */
int fakeroot_helper_start(const struct subid_ranges *r, int *fd, sing_err_t *e);

#endif
