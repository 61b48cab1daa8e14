/* How the runtime sources an image's environment files: one rule, used by
 * the action script the frontend writes (frontend/action_script.c) and by
 * the starter's shell-free evaluation of exec (starter/direct_env.c).
 *
 * The files are the ENV_FILES_DIR entries named *.sh, in byte order (the shell's glob), each
 * sourced when it is a regular file, except env_files_skipped (the runtime
 * does their job itself); the default PATH entries are appended after a
 * file of env_files_fixpath_after (Apptainer's fixpath); the user's
 * overrides are injected after ENV_FILE_INJECT_AFTER, or at the end. An
 * image without ENV_FILES_DIR has its Singularity 2.x ENV_FILE_LEGACY
 * sourced instead, then fixpath. */
#ifndef SING_ENV_CONTRACT_H
#define SING_ENV_CONTRACT_H

#include <stdbool.h>

#define SING_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#define ENV_FILES_DIR "/.singularity.d/env"
#define ENV_FILE_LEGACY "/environment"
#define ENV_FILE_INJECT_AFTER "99-base.sh"
/* An env file is a few lines: the starter reads none bigger (the shell
 * sources it instead). */
#define ENV_FILE_MAX ((size_t)256 << 10)

/* NULL-terminated file names (not paths). */
extern const char *const env_files_skipped[];
extern const char *const env_files_fixpath_after[];

/* name is in list (a NULL-terminated array of file names). */
bool env_file_listed(const char *const *list, const char *name);

/* What the glob *.sh matches: no leading dot, a ".sh" ending. */
bool env_file_name(const char *name);

#endif
