/* What runs when the container has no /bin/sh: the same rules as the
 * action script (action_script.h), applied by the runtime without a shell
 * and so without evaluation. The starter tries the script first and falls
 * back to this plan only when /bin/sh cannot be executed in the container.
 *
 *  - exec: the command, looked up in the container's PATH.
 *  - run of a SIF pulled from a Docker/OCI image (no definition file): the
 *    image's ENTRYPOINT and CMD with run's arguments, by the rule of
 *    metadata.h (the generated runscript applies the same rule in sh).
 *  - everything else (a %runscript, shell, test, start, images without an
 *    OCI config) needs a shell: no plan, and the starter says
 *    "/bin/sh doesn't exist in container".
 * Environment: the starter's environment (host variables, HOME, the
 * runtime variables) plus the image config's Env with the default PATH
 * entries added as fixpath does, then the overrides taken literally, the
 * secure-mode variables back, PREPEND_PATH / APPEND_PATH, a PATH override. */
#ifndef SING_DIRECT_PLAN_H
#define SING_DIRECT_PLAN_H

#include "error.h"
#include "oci_runtime.h"
#include "run_env.h"

struct direct_plan {
        struct strv set;  /* KEY=VALUE the starter sets before the exec */
        struct strv argv; /* empty: no plan */
};

int direct_plan_build(const struct run_env *env, const struct oci_runtime *oci, const char *action,
                      char *const *args, struct direct_plan *out, sing_err_t *e);
void direct_plan_free(struct direct_plan *p);

#endif
