/* What `singularity run|exec|shell` hands the starter besides the image: the
 * container's environment, and the validated bind list. Pure functions (no
 * getenv, no exec) so the rules below are unit-tested.
 *
 * Environment rules, as Singularity 3.6+ / Apptainer 1.x apply them (the
 * shell text that applies them inside the container is action_script.h):
 *  - Host variables pass in as they are; the image's env files override what
 *    they set. PATH is set to a default (the image's env sets the real
 *    one); the starter sets HOME, SINGULARITY_CONTAINER and SINGULARITY_NAME
 *    (and the APPTAINER_ twins), which only it knows for sure. The host's LD_LIBRARY_PATH never
 *    passes (it names host libraries), nor the loader-control variables
 *    LD_PRELOAD, LD_AUDIT, GCONV_PATH...
 *  - SINGULARITY_* and APPTAINER_* host variables are the frontend's options
 *    and do not pass, except SINGULARITY_SHELL (or APPTAINER_SHELL) for shell.
 *    The runtime sets SINGULARITY_COMMAND, SINGULARITY_BIND (the binds asked
 *    for), SINGULARITY_ENVIRONMENT, SINGULARITY_APPNAME (with --app) and
 *    their APPTAINER_ twins.
 *  - --cleanenv: only TERM and the proxy variables (http_proxy, HTTPS_PROXY,
 *    no_proxy, ... both cases) pass; LANG is set to C.
 *  - Overrides win over the image's env: SINGULARITYENV_X=v, then
 *    APPTAINERENV_X=v (Apptainer's precedence), then --env-file entries,
 *    then --env K=V (later wins). They are applied after the image's env files, evaluated by the
 *    container's shell unless --no-eval; the prefixed variables themselves and
 *    the host's X do not pass. HOME cannot be overridden (use --home).
 *  - The override keys PREPEND_PATH / APPEND_PATH add to PATH after all that,
 *    and an override of PATH itself replaces the result (Apptainer's
 *    99-runtimevars.sh order).
 *  - The setuid starter's loader deletes TMPDIR, TZDIR, LOCALDOMAIN... from
 *    its environment (glibc's secure mode). The script puts the host's value
 *    back unless the image's env set one, so they behave as passed-in host
 *    variables. */
#ifndef SING_RUN_ENV_H
#define SING_RUN_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include "env_contract.h" /* SING_DEFAULT_PATH: used until the image's env sets one */
#include "error.h"

/* A growable list of malloc'd strings, NULL-terminated once non-empty (so
 * `v` can be an argv or envp). */
struct strv {
        char **v;
        size_t n, cap;
};

/* Append a copy of s. 0, or -1 when out of memory. */
int strv_push(struct strv *l, const char *s);
void strv_free(struct strv *l);

/* A strv of "KEY=VALUE" strings with one entry per key. */
/* Set key to value, replacing an existing entry in place (keeps its rank). */
int kv_set(struct strv *l, const char *key, const char *value);
/* The value for key, or NULL. */
const char *kv_get(const struct strv *l, const char *key);

/* True when name is a shell identifier ([A-Za-z_][A-Za-z0-9_]*). */
bool env_name_valid(const char *name);

/* Read an --env-file into kv (later lines and files win): KEY=VALUE lines;
 * blank lines and lines starting with '#' are skipped; an optional leading
 * "export " is allowed. VALUE is "..." (backslash escapes \" \\ \$ \` as in
 * sh), '...' (literal), or else the rest of the line with trailing blanks
 * removed. After a closing quote only blanks or a # comment may follow.
 * Errors name "PATH:LINE". */
int env_file_read(const char *path, struct strv *kv, sing_err_t *e);

struct run_env_input {
        char *const *host_env;       /* the frontend's environ */
        bool cleanenv;               /* -e/--cleanenv (or -C) */
        const char *action;          /* exec|run|shell|test: SINGULARITY_COMMAND */
        const struct strv *env_file; /* KEY=VALUE from --env-file (may be NULL) */
        const struct strv *env_flag; /* KEY=VALUE from --env, in order (may be NULL) */
        const struct strv *binds;    /* normalised bind specs, for SINGULARITY_BIND */
        const char *app;             /* --app NAME (SCIF app), for SINGULARITY_APPNAME, or NULL */
};

struct run_env {
        struct strv pass;      /* KEY=VALUE given to the starter as its environment */
        struct strv overrides; /* KEY=VALUE the script exports after the image's env */
        struct strv restore;   /* KEY=VALUE set by the script only when still unset */
        char *prepend_path;    /* PREPEND_PATH override, or NULL */
        char *append_path;     /* APPEND_PATH override, or NULL */
        char *path;            /* PATH override (replaces the final PATH), or NULL */
};

/* Apply the rules above. --env and --env-file keys that are not shell
 * identifiers are errors; such SINGULARITYENV_ names are skipped with a
 * warning. On error `out` is freed. */
int run_env_compute(const struct run_env_input *in, struct run_env *out, sing_err_t *e);

void run_env_free(struct run_env *env);

/* Split a comma-separated -B / SINGULARITY_BIND list and append each
 * validated SRC[:DST[:ro|rw]] spec to out, with a relative SRC made absolute
 * against cwd (NULL: left as is). Empty items are skipped. DST, when given,
 * must be absolute (it defaults to SRC). */
int bind_list_parse(const char *list, const char *cwd, struct strv *out, sing_err_t *e);
/* One --mount type=bind,src=..,dst=..[,ro] appended to out as a bind spec. */
int mount_spec_parse(const char *spec, const char *cwd, struct strv *out, sing_err_t *e);

/* Validate a --home SRC[:DST] (common/protocol.h): *norm is the spec with
 * SRC made absolute against cwd, for the starter. malloc'd. */
int home_spec_parse(const char *spec, const char *cwd, char **norm, sing_err_t *e);

/* One --overlay DIR[:ro|:rw] appended to out as DIR (absolute, clean) or
 * DIR:ro. DIR must exist; a file (an ext3 overlay image) is refused. */
int overlay_spec_parse(const char *spec, const char *cwd, struct strv *out, sing_err_t *e);

#endif
