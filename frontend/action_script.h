/* The action logic of the runtime: the POSIX sh text the starter runs in
 * the container as `/bin/sh -c SCRIPT ACTION ARGS...` for every image,
 * whoever built it. The image only provides data (env files, runscript,
 * test, startscript); the action scripts in its /.singularity.d/actions
 * are never run.
 *
 * What the script does, in Singularity 3.6+ / Apptainer 1.x order:
 *  1. sources the .sh files of /.singularity.d/env in glob order (01-base.sh
 *     ... 99-base.sh), or a Singularity 2.x image's /environment when there
 *     is no env directory;
 *     after 10-docker*.sh (and /environment) the default PATH entries that
 *     are missing are appended (Apptainer's fixpath);
 *  2. right after 99-base.sh (or after all env files when there is none)
 *     exports the overrides of run_env.h: values in "..." (evaluated by the
 *     container's shell, shell_put_evaluated) or, with no_eval, in '...';
 *     the image's own 99-runtimevars.sh is skipped: step 3 replaces it;
 *  3. PATH = PREPEND_PATH:PATH:APPEND_PATH, then a PATH override replaces it;
 *  4. restores the host variables glibc's secure mode stripped (run_env.h);
 *  5. for shell: PS1 as the host passed it or the image's env set it
 *     (99-base.sh: "Singularity> "), else "\u@\h/$SINGULARITY_NAME:\w > ",
 *     and PROMPT_COMMAND that re-applies it, as Singularity 3.5+;
 *  (with --app: 5b. the app's environment in the place of 95-apps.sh)
 *  6. runs the action: exec "$@" | the runscript (/.singularity.d/runscript,
 *     else 2.x's /singularity, else /bin/sh) | $SINGULARITY_SHELL, bash
 *     --norc or sh | /.singularity.d/test | the startscript in the background
 *     with the instance kept alive until it is stopped (instance_start.h).
 * The env files are sourced inside a function that gets no arguments, so
 * one that runs `set --` cannot change the action's arguments. */
#ifndef SING_ACTION_SCRIPT_H
#define SING_ACTION_SCRIPT_H

#include <stdbool.h>

#include "run_env.h"

/* The script for action (exec|run|shell|test|start), malloc'd, or NULL when
 * out of memory. */
char *action_script(const struct run_env *env, const char *action, bool no_eval);
/* The same for the SCIF app `app` (--app NAME; NULL: none; a name checked
 * by app_name_valid): an app the image lacks ends the script with one line
 * naming the image's apps and status 255; the app's environment is
 * activated as Apptainer's 95-apps.sh does (bin and lib first, the
 * .sh files of its scif/env), run execs its scif/runscript and test its
 * scif/test (status 1 and a message when it has none). */
char *action_script_app(const struct run_env *env, const char *action, bool no_eval,
                        const char *app);
/* Steps 2 and 3-4 of exec's script (inject: the overrides; finish: PATH
 * and the restored variables) as separate texts, for the starter's
 * shell-free evaluation of exec (starter/direct_env.h), which performs
 * step 1 itself by env_contract.h's rule and these texts where the script
 * would. Both are in the subset of common/sh_subset.h unless an override's
 * value needs more (then the starter runs the script). 0, or -1 when out
 * of memory (both NULL). Both NULL, and 0, when an override names one of
 * the script's own variables (__sing_*, _sing_*): only the script gives
 * them its values. */
int action_env_steps(const struct run_env *env, bool no_eval, char **inject, char **finish);
/* An app name as --app takes it: letters, digits, '_', '-', '.', '+', not
 * starting with '.' or '-'. */
bool app_name_valid(const char *name);

#endif
