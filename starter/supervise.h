/* The processes the starter leaves beside the container program, none of
 * them privileged: the monitor (outside the container's pid namespace, for
 * --pid and for an extracted image) and the container's init (pid 1 of its
 * pid namespace with --pid). Both are one function: forward signals, reap
 * children, clean up and exit with the program's status when it ends.
 * (The FUSE server is no child of theirs: fuse_server.h.) */
#ifndef STARTER_SUPERVISE_H
#define STARTER_SUPERVISE_H

#include <stdbool.h>
#include <sys/types.h>

#include "privileges.h"

struct supervise_opts {
        const struct user_info *user;
        bool userns;             /* unprivileged mode (for drop_privileges) */
        pid_t parent;            /* die with this parent (getppid() as we see it), or -1 */
        const char *extract_dir; /* removed when the program ends, or NULL */
};

/* Become the supervisor of `program` (our child): drop every privilege,
 * then forward SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent by
 * a process (not those a terminal sends to its whole foreground process
 * group, which the program received itself), reap every child (zombies
 * re-parented to a pid 1 too), and when the program ends remove the
 * extraction directory and exit with the program's exit status, or 128+n
 * when signal n killed it. */
__attribute__((noreturn)) void supervise(pid_t program, const struct supervise_opts *o);

/* A supervised process dies with its supervisor: PR_SET_PDEATHSIG SIGKILL,
 * then make sure the supervisor had not already gone (getppid() == parent).
 * Set again after every credential change, which clears it. */
void die_with_parent(pid_t parent);

#endif
