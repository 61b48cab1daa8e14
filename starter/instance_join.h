/* Joining a running instance (`exec|run|shell instance://NAME`): the
 * frontend names the instance's process (pid and start time, from a record
 * the user owns, so untrusted); the starter proves the process is the
 * user's own container process and enters its namespaces. */
#ifndef STARTER_INSTANCE_JOIN_H
#define STARTER_INSTANCE_JOIN_H

#include <stdbool.h>
#include <sys/types.h>

#include "privileges.h"

/* Check the process, enter its user (if it has its own), mount, pid, ipc,
 * net, uts and cgroup namespaces, and fork into its pid namespace. Returns
 * in the child, still privileged when `*privileged`, at the instance's root;
 * the parent waits for the child as the user and exits with its status.
 * Sets *in_userns when the instance has its own user namespace (the drop is
 * then the user-namespace one); a --fakeroot instance's (the user is 0
 * there) turns *u into its root (user_as_fakeroot). Dies (fails closed) on
 * any doubt. */
void instance_join(pid_t pid, unsigned long long start_time, struct user_info *u, bool *privileged,
                   bool *in_userns);

#endif
