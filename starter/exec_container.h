/* The last step of the starter: run what the frontend decided, as the user,
 * inside the container root. */
#ifndef STARTER_EXEC_CONTAINER_H
#define STARTER_EXEC_CONTAINER_H

#include "args.h"

/* exec without the shell when direct_env.h can (--env-inject/--env-finish,
 * exec only), else exec /bin/sh -c SCRIPT ACTION ARGS... (the runtime's action script, see
 * frontend/action_script.h). When the container has no usable /bin/sh
 * (ENOENT: missing, a dangling link, a missing ELF interpreter), the
 * fallback plan instead: set each --fallback-env, exec --fallback-arg...
 * looked up in the new PATH; with no plan, die with Singularity's words
 * "/bin/sh doesn't exist in container". Without --script, ARGS are the
 * command itself (looked up in the caller's PATH). Never returns. */
__attribute__((noreturn)) void exec_container(const struct request *req);

#endif
