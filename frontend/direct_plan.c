#include "direct_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

static int push_all(struct strv *out, const struct strv *from)
{
        for (size_t i = 0; i < from->n; i++)
                if (strv_push(out, from->v[i]) < 0)
                        return -1;
        return 0;
}

/* The runscript rule of metadata.h for an image config (steps 3-5; a
 * recipe's runscript or IncludeCmd comes with a definition file and needs
 * the shell). Leaves argv empty when the image sets neither. */
static int oci_run_argv(const struct oci_runtime *oci, char *const *args, struct strv *argv)
{
        bool have_args = args && args[0];
        int rc = 0;
        if (oci->entrypoint.n) {
                rc = push_all(argv, &oci->entrypoint);
                if (!have_args)
                        rc = rc < 0 ? rc : push_all(argv, &oci->cmd);
        } else if (oci->cmd.n && (!have_args || args[0][0] == '-')) {
                /* Arguments that start with an option are options for CMD. */
                rc = push_all(argv, &oci->cmd);
        }
        if (oci->entrypoint.n || oci->cmd.n)
                for (; rc == 0 && have_args && *args; args++)
                        rc = strv_push(argv, *args);
        return rc;
}

/* PATH with the default entries it lacks appended (Apptainer's fixpath). */
static char *fixpath(const char *path)
{
        _cleanup_free_ char *defaults = strdup(SING_DEFAULT_PATH);
        char *out = strdup(path), *save = NULL;
        if (!defaults || !out) {
                free(out);
                return NULL;
        }
        for (char *d = strtok_r(defaults, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                size_t n = strlen(d);
                bool have = false;
                for (const char *p = out; *p && !have; p = strchr(p, ':') ? strchr(p, ':') + 1 : "")
                        have = strncmp(p, d, n) == 0 && (p[n] == ':' || p[n] == '\0');
                if (!have) {
                        char *grown;
                        if (asprintf(&grown, "%s%s%s", out, *out ? ":" : "", d) < 0) {
                                free(out);
                                return NULL;
                        }
                        free(out);
                        out = grown;
                }
        }
        return out;
}

static int build_env(const struct run_env *env, const struct oci_runtime *oci, struct strv *set)
{
        _cleanup_free_ char *path = NULL;
        const char *p;
        if (oci && oci->found) {
                for (size_t i = 0; i < oci->env.n; i++) {
                        const char *kv = oci->env.v[i], *eq = strchr(kv, '=');
                        _cleanup_free_ char *key = eq ? strndup(kv, (size_t)(eq - kv)) : NULL;
                        if (key && env_name_valid(key) && kv_set(set, key, eq + 1) < 0)
                                return -1;
                }
        }
        for (size_t i = 0; i < env->overrides.n; i++) {
                const char *kv = env->overrides.v[i], *eq = strchr(kv, '=');
                _cleanup_free_ char *key = strndup(kv, (size_t)(eq - kv));
                if (!key || kv_set(set, key, eq + 1) < 0)
                        return -1;
        }
        for (size_t i = 0; i < env->restore.n; i++) {
                const char *kv = env->restore.v[i], *eq = strchr(kv, '=');
                _cleanup_free_ char *key = strndup(kv, (size_t)(eq - kv));
                if (!key || (!kv_get(set, key) && kv_set(set, key, eq + 1) < 0))
                        return -1;
        }
        p = kv_get(set, "PATH");
        if (!(path = fixpath(p                            ? p
                             : kv_get(&env->pass, "PATH") ? kv_get(&env->pass, "PATH")
                                                          : SING_DEFAULT_PATH)))
                return -1;
        if (env->prepend_path) {
                char *s;
                if (asprintf(&s, "%s%s%s", env->prepend_path, *path ? ":" : "", path) < 0)
                        return -1;
                free(path);
                path = s;
        }
        if (env->append_path) {
                char *s;
                if (asprintf(&s, "%s%s%s", path, *path ? ":" : "", env->append_path) < 0)
                        return -1;
                free(path);
                path = s;
        }
        return kv_set(set, "PATH", env->path ? env->path : path);
}

int direct_plan_build(const struct run_env *env, const struct oci_runtime *oci, const char *action,
                      char *const *args, struct direct_plan *out, sing_err_t *e)
{
        int rc = 0;
        memset(out, 0, sizeof(*out));
        if (strcmp(action, "exec") == 0) {
                for (; rc == 0 && args && *args; args++)
                        rc = strv_push(&out->argv, *args);
        } else if (strcmp(action, "run") == 0 && oci && oci->found && oci->config_runscript) {
                rc = oci_run_argv(oci, args, &out->argv);
        }
        if (rc == 0 && out->argv.n)
                rc = build_env(env, oci, &out->set);
        if (rc < 0) {
                direct_plan_free(out);
                return err_set(e, "out of memory");
        }
        return 0;
}

void direct_plan_free(struct direct_plan *p)
{
        strv_free(&p->set);
        strv_free(&p->argv);
}
