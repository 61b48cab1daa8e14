/* exec without the shell: the action script's work for `exec` done in
 * this process, after the final privilege drop and the seccomp filters,
 * as the user, inside the container root, exactly where /bin/sh would have
 * done it.
 *
 * Why: for `exec IMAGE prog`, the shell only sources the image's env files
 * and looks prog up in PATH, and its own start (exec, dynamic linking, its
 * pages through the image's mount) is most of what the environment costs.
 *
 * The env files are evaluated by common/sh_subset.h in env_contract.h's
 * order, with the frontend's --env-inject text where the script injects
 * the overrides and its --env-finish text at the end; the program is
 * looked up as the script does (a name with a '/' as it is, else the first
 * PATH entry holding an executable regular file) and exec'd with the
 * evaluated environment. Anything the subset does not cover (a construct
 * in an env file, an unreadable file, an override needing command
 * substitution), a program not found, or an execve that fails (a script
 * without #!, which the shell would run itself), and this returns: the
 * caller runs the script with its environment untouched, so the shell
 * then gives its usual result and words. */
#ifndef STARTER_DIRECT_ENV_H
#define STARTER_DIRECT_ENV_H

#include "args.h"

/* Returns only when the shell is needed (nothing was changed). */
void direct_exec_try(const struct request *req);

/* The program direct_exec_try will likely run, when the request names it
 * by an absolute path (for the FUSE server's prefetch), else NULL. */
const char *direct_exec_program(const struct request *req);

/* The same, also when it is a name the container's PATH will resolve
 * (for the kernel path's read-ahead, which guesses with the default PATH). */
const char *direct_exec_name(const struct request *req);

#endif
