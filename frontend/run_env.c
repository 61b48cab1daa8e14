#include "run_env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "bind_spec.h"
#include "cleanup.h"
#include "log.h"
#include "path.h"
#include "protocol.h"
#include "shell_quote.h"

/* --cleanenv keeps only these (Singularity's list). */
static const char *const clean_keep[] = {
    "TERM",     "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy",
    "NO_PROXY", "all_proxy",  "ALL_PROXY",  "ftp_proxy",   "FTP_PROXY",   NULL,
};

/* Never passed: the starter sets HOME and we set PATH; the rest steer the dynamic
 * loader with host paths. glibc already deletes them at the setuid starter
 * for ordinary users; dropping them here makes root behave the same. */
static const char *const never_pass[] = {
    "HOME",
    "PATH",
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "LD_AUDIT",
    "LD_DEBUG",
    "LD_DEBUG_OUTPUT",
    "LD_DYNAMIC_WEAK",
    "LD_HWCAP_MASK",
    "LD_ORIGIN_PATH",
    "LD_PROFILE",
    "LD_SHOW_AUXV",
    "LD_USE_LOAD_BIAS",
    "GCONV_PATH",
    "GETCONF_DIR",
    "GLIBC_TUNABLES",
    "MALLOC_TRACE",
    NULL,
};

/* Plain configuration that glibc's secure mode also deletes at the setuid
 * starter: the script restores them (see run_env.h). */
static const char *const secure_stripped[] = {
    "HOSTALIASES", "LOCALDOMAIN",      "LOCPATH", "NIS_PATH", "NLSPATH",
    "RES_OPTIONS", "RESOLV_HOST_CONF", "TMPDIR",  "TZDIR",    NULL,
};

/* Where %post's additions go, as Singularity tells the container. */
#define SINGULARITY_ENVIRONMENT_FILE "/.singularity.d/env/91-environment.sh"

static bool in_list(const char *const *list, const char *name)
{
        for (; *list; list++)
                if (strcmp(*list, name) == 0)
                        return true;
        return false;
}

static bool has_prefix(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- string lists ---- */

static int strv_push_take(struct strv *l, char *s)
{
        if (!s)
                return -1;
        if (l->n + 2 > l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                char **v = realloc(l->v, cap * sizeof(*v));
                if (!v) {
                        free(s);
                        return -1;
                }
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n++] = s;
        l->v[l->n] = NULL;
        return 0;
}

int strv_push(struct strv *l, const char *s)
{
        return strv_push_take(l, strdup(s));
}

void strv_free(struct strv *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        l->v = NULL;
        l->n = l->cap = 0;
}

/* Index of key's entry, or -1. */
static ssize_t kv_find(const struct strv *l, const char *key, size_t klen)
{
        for (size_t i = 0; i < l->n; i++)
                if (strncmp(l->v[i], key, klen) == 0 && l->v[i][klen] == '=')
                        return (ssize_t)i;
        return -1;
}

int kv_set(struct strv *l, const char *key, const char *value)
{
        char *s;
        ssize_t i;
        if (asprintf(&s, "%s=%s", key, value) < 0)
                return -1;
        i = kv_find(l, key, strlen(key));
        if (i < 0)
                return strv_push_take(l, s);
        free(l->v[i]);
        l->v[i] = s;
        return 0;
}

const char *kv_get(const struct strv *l, const char *key)
{
        size_t klen = strlen(key);
        ssize_t i = kv_find(l, key, klen);
        return i < 0 ? NULL : l->v[i] + klen + 1;
}

bool env_name_valid(const char *name)
{
        return shell_is_name(name, strlen(name));
}

/* ---- --env-file ---- */

static bool is_blank(char c)
{
        return c == ' ' || c == '\t';
}

/* Parse the value part of one line (in place) into *value. NULL *err: ok. */
static void parse_value(char *p, char **value, const char **err)
{
        char *out = p, *start = p;
        *err = NULL;
        if (*p == '\'') {
                char *end = strchr(p + 1, '\'');
                if (!end) {
                        *err = "unterminated ' quote";
                        return;
                }
                *end = '\0';
                *value = p + 1;
                p = end + 1;
        } else if (*p == '"') {
                /* Decode in place: the output never outruns the input. */
                for (p++;; p++) {
                        if (*p == '\0') {
                                *err = "unterminated \" quote";
                                return;
                        }
                        if (*p == '"')
                                break;
                        if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
                                p++;
                        *out++ = *p;
                }
                *out = '\0';
                *value = start;
                p++;
        } else {
                size_t n = strlen(p);
                while (n > 0 && is_blank(p[n - 1]))
                        n--;
                p[n] = '\0';
                *value = p;
                return;
        }
        while (is_blank(*p))
                p++;
        if (*p != '\0' && *p != '#')
                *err = "unexpected text after the closing quote";
}

int env_file_read(const char *path, struct strv *kv, sing_err_t *e)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        _cleanup_free_ char *line = NULL;
        size_t cap = 0, lineno = 0;
        ssize_t len;

        if (!f)
                return err_errno(e, "env file %s", path);
        errno = 0;
        while ((len = getline(&line, &cap, f)) >= 0) {
                char *p = line, *key, *value = NULL;
                const char *why;
                lineno++;
                while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                        line[--len] = '\0';
                while (is_blank(*p))
                        p++;
                if (*p == '\0' || *p == '#')
                        continue;
                if (strncmp(p, "export", 6) == 0 && is_blank(p[6]))
                        for (p += 6; is_blank(*p);)
                                p++;
                key = p;
                p = strchr(p, '=');
                if (!p)
                        return err_set(e, "%s:%zu: expected KEY=VALUE", path, lineno);
                *p++ = '\0';
                if (!env_name_valid(key))
                        return err_set(e, "%s:%zu: \"%s\" is not a valid variable name", path,
                                       lineno, key);
                parse_value(p, &value, &why);
                if (why)
                        return err_set(e, "%s:%zu: %s", path, lineno, why);
                if (kv_set(kv, key, value) < 0)
                        return err_set(e, "out of memory");
        }
        if (ferror(f))
                return err_errno(e, "reading env file %s", path);
        return 0;
}

/* ---- the environment ---- */

static const char *host_get(char *const *env, const char *name)
{
        size_t n = strlen(name);
        for (; env && *env; env++)
                if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
                        return *env + n + 1;
        return NULL;
}

/* Record one override. `strict`: a bad name is an error (explicit flags),
 * else a warning (stray SINGULARITYENV_ variables). */
static int add_override(struct run_env *out, const char *key, const char *value, const char *source,
                        bool strict, sing_err_t *e)
{
        char **slot = NULL;
        if (strcmp(key, "PREPEND_PATH") == 0)
                slot = &out->prepend_path;
        else if (strcmp(key, "APPEND_PATH") == 0)
                slot = &out->append_path;
        else if (strcmp(key, "PATH") == 0)
                slot = &out->path;
        if (slot) {
                free(*slot);
                *slot = *value ? strdup(value) : NULL;
                return (*value && !*slot) ? err_set(e, "out of memory") : 0;
        }
        if (!env_name_valid(key) || strcmp(key, "HOME") == 0) {
                const char *why = strcmp(key, "HOME") == 0
                                      ? "HOME cannot be overridden (use --home)"
                                      : "not a valid variable name";
                if (strict)
                        return err_set(e, "%s \"%s\": %s", source, key, why);
                log_warn("ignoring %s%s: %s", source, key, why);
                return 0;
        }
        return kv_set(&out->overrides, key, value) < 0 ? err_set(e, "out of memory") : 0;
}

/* Overrides from the host's APPTAINERENV_X / SINGULARITYENV_X variables. */
static int prefixed_overrides(const struct run_env_input *in, const char *prefix,
                              struct run_env *out, sing_err_t *e)
{
        size_t plen = strlen(prefix);
        for (char *const *p = in->host_env; p && *p; p++) {
                _cleanup_free_ char *key = NULL;
                const char *eq;
                if (!has_prefix(*p, prefix) || !(eq = strchr(*p, '=')) || eq == *p + plen)
                        continue;
                key = strndup(*p + plen, (size_t)(eq - *p) - plen);
                if (!key)
                        return err_set(e, "out of memory");
                if (add_override(out, key, eq + 1, prefix, false, e) < 0)
                        return -1;
        }
        return 0;
}

static int flag_overrides(const struct strv *kv, const char *source, struct run_env *out,
                          sing_err_t *e)
{
        for (size_t i = 0; kv && i < kv->n; i++) {
                _cleanup_free_ char *key = strdup(kv->v[i]);
                char *eq;
                if (!key)
                        return err_set(e, "out of memory");
                eq = strchr(key, '=');
                if (!eq)
                        return err_set(e, "%s \"%s\": expected KEY=VALUE", source, key);
                *eq = '\0';
                if (add_override(out, key, eq + 1, source, true, e) < 0)
                        return -1;
        }
        return 0;
}

/* The frontend's own variables (options, overrides) never pass. */
static const char *const our_prefixes[] = {
    "SINGULARITY_", "SINGULARITYENV_", "APPTAINER_", "APPTAINERENV_", NULL,
};

static bool host_var_passes(const struct run_env_input *in, const struct run_env *out,
                            const char *name)
{
        for (const char *const *p = our_prefixes; *p; p++)
                if (has_prefix(name, *p))
                        return false;
        if (in_list(never_pass, name) || kv_get(&out->overrides, name))
                return false;
        if (in->cleanenv && !in_list(clean_keep, name))
                return false;
        return kv_get(&out->pass, name) == NULL; /* first of duplicates, as getenv */
}

static int pass_host_vars(const struct run_env_input *in, struct run_env *out, sing_err_t *e)
{
        for (char *const *p = in->host_env; p && *p; p++) {
                const char *eq = strchr(*p, '=');
                _cleanup_free_ char *name = NULL;
                if (!eq || eq == *p)
                        continue;
                name = strndup(*p, (size_t)(eq - *p));
                if (!name)
                        return err_set(e, "out of memory");
                if (!host_var_passes(in, out, name))
                        continue;
                if (kv_set(&out->pass, name, eq + 1) < 0 ||
                    (in_list(secure_stripped, name) && kv_set(&out->restore, name, eq + 1) < 0))
                        return err_set(e, "out of memory");
        }
        return 0;
}

/* KEY and APPTAINER_KEY (the twin Apptainer's images look for). */
static int set_twins(struct strv *l, const char *key, const char *value)
{
        char twin[64];
        snprintf(twin, sizeof(twin), "APPTAINER_%s", key + strlen("SINGULARITY_"));
        return kv_set(l, key, value) < 0 || kv_set(l, twin, value) < 0 ? -1 : 0;
}

/* SINGULARITY_BIND inside: the binds asked for, comma-separated. */
static int set_bind_var(const struct run_env_input *in, struct run_env *out)
{
        _cleanup_free_ char *list = NULL;
        size_t len = 0;
        FILE *f;
        if (!in->binds || in->binds->n == 0)
                return 0;
        f = open_memstream(&list, &len);
        if (!f)
                return -1;
        for (size_t i = 0; i < in->binds->n; i++)
                fprintf(f, "%s%s", i ? "," : "", in->binds->v[i]);
        if (fclose(f) != 0)
                return -1;
        return set_twins(&out->pass, "SINGULARITY_BIND", list);
}

static int set_runtime_vars(const struct run_env_input *in, struct run_env *out, sing_err_t *e)
{
        /* HOME, SINGULARITY_CONTAINER and SINGULARITY_NAME are the starter's:
         * it knows the home it mounts and the image it opened. */
        if (kv_set(&out->pass, "PATH", SING_DEFAULT_PATH) < 0 ||
            (in->cleanenv && kv_set(&out->pass, "LANG", "C") < 0) ||
            (in->action && set_twins(&out->pass, "SINGULARITY_COMMAND", in->action) < 0) ||
            (in->app && set_twins(&out->pass, "SINGULARITY_APPNAME", in->app) < 0) ||
            set_twins(&out->pass, "SINGULARITY_ENVIRONMENT", SINGULARITY_ENVIRONMENT_FILE) < 0 ||
            set_bind_var(in, out) < 0)
                return err_set(e, "out of memory");
        if (in->action && strcmp(in->action, "shell") == 0) {
                const char *sh = host_get(in->host_env, "SINGULARITY_SHELL");
                if (!sh)
                        sh = host_get(in->host_env, "APPTAINER_SHELL");
                if (sh && *sh && kv_set(&out->pass, "SINGULARITY_SHELL", sh) < 0)
                        return err_set(e, "out of memory");
        }
        return 0;
}

int run_env_compute(const struct run_env_input *in, struct run_env *out, sing_err_t *e)
{
        memset(out, 0, sizeof(*out));
        /* Lowest precedence first: each later source replaces earlier values. */
        /* As Apptainer: SINGULARITYENV_X only counts when APPTAINERENV_X is
         * not set (the same rule as APPTAINER_/SINGULARITY_ options). */
        if (prefixed_overrides(in, "SINGULARITYENV_", out, e) < 0 ||
            prefixed_overrides(in, "APPTAINERENV_", out, e) < 0 ||
            flag_overrides(in->env_file, "--env-file", out, e) < 0 ||
            flag_overrides(in->env_flag, "--env", out, e) < 0 || pass_host_vars(in, out, e) < 0 ||
            set_runtime_vars(in, out, e) < 0) {
                run_env_free(out);
                return -1;
        }
        return 0;
}

void run_env_free(struct run_env *env)
{
        strv_free(&env->pass);
        strv_free(&env->overrides);
        strv_free(&env->restore);
        free(env->prepend_path);
        free(env->append_path);
        free(env->path);
        env->prepend_path = env->append_path = env->path = NULL;
}

/* ---- bind and home specs ---- */

/* path made absolute against cwd (malloc'd); "." and a leading "./" are
 * dropped so the result reads naturally in messages. */
static char *absolute_from(const char *cwd, const char *path)
{
        char *out;
        if (path[0] == '/' || !cwd)
                return strdup(path);
        if (strcmp(path, ".") == 0)
                return strdup(cwd);
        if (strncmp(path, "./", 2) == 0)
                path += 2;
        if (asprintf(&out, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", path) < 0)
                return NULL;
        return out;
}

/* Validate one SRC[:DST[:ro|rw]] (the starter's parser, common/bind_spec.c)
 * and return it with SRC absolute. */
static int bind_spec_normalize(const char *spec, const char *cwd, char **out, sing_err_t *e)
{
        struct bind_spec b;
        _cleanup_free_ char *src = NULL;
        int rc = 0;
        if (bind_spec_parse(spec, &b, e) < 0)
                return err_prefix(e, "bind \"%s\"", spec);
        if (b.dst != b.src && b.dst[0] != '/')
                rc = err_set(e, "bind \"%s\": destination must be an absolute path", spec);
        else if (!(src = absolute_from(cwd, b.src)) ||
                 !(*out = bind_spec_format(src, b.dst != b.src ? b.dst : NULL, b.ro)))
                rc = err_set(e, "out of memory");
        free(b.src);
        return rc;
}

int bind_list_parse(const char *list, const char *cwd, struct strv *out, sing_err_t *e)
{
        _cleanup_free_ char *copy = strdup(list);
        char *cursor = copy;
        if (!copy)
                return err_set(e, "out of memory");
        for (char *item; (item = bind_list_next(&cursor));) {
                char *spec;
                if (!*item)
                        continue; /* "a,,b" or a trailing comma */
                if (bind_spec_normalize(item, cwd, &spec, e) < 0)
                        return -1;
                if (strv_push_take(out, spec) < 0)
                        return err_set(e, "out of memory");
        }
        return 0;
}

/* --mount type=bind,src=SRC,dst=DST[,ro]: Docker's long form of a bind, as
 * Apptainer takes it (source/target spellings too, readonly as ro). */
int mount_spec_parse(const char *spec, const char *cwd, struct strv *out, sing_err_t *e)
{
        _cleanup_free_ char *copy = strdup(spec), *src_abs = NULL;
        char *cursor = copy, *src = NULL, *dst = NULL;
        bool ro = false, bind = false;
        if (!copy)
                return err_set(e, "out of memory");
        for (char *item; (item = bind_list_next(&cursor));) {
                char *eq = strchr(item, '=');
                const char *key = item, *val = eq ? eq + 1 : NULL;
                if (eq)
                        *eq = '\0';
                if (strcmp(key, "type") == 0 && val)
                        bind = strcmp(val, "bind") == 0;
                else if ((strcmp(key, "src") == 0 || strcmp(key, "source") == 0) && val)
                        src = (char *)val;
                else if ((strcmp(key, "dst") == 0 || strcmp(key, "destination") == 0 ||
                          strcmp(key, "target") == 0) &&
                         val)
                        dst = (char *)val;
                else if ((strcmp(key, "ro") == 0 || strcmp(key, "readonly") == 0) &&
                         (!val || strcmp(val, "true") == 0))
                        ro = true;
                else
                        return err_set(e, "--mount %s: unknown or incomplete field \"%s\"", spec,
                                       key);
        }
        if (!bind)
                return err_set(e, "--mount %s: only type=bind is supported", spec);
        if (!src || !*src || !dst || dst[0] != '/')
                return err_set(e, "--mount %s: needs src= and an absolute dst=", spec);
        src_abs = absolute_from(cwd, src);
        char *norm = src_abs ? bind_spec_format(src_abs, dst, ro) : NULL;
        if (!norm || strv_push_take(out, norm) < 0)
                return err_set(e, "out of memory");
        return 0;
}

int home_spec_parse(const char *spec, const char *cwd, char **norm, sing_err_t *e)
{
        _cleanup_free_ char *copy = strdup(spec), *abs_src = NULL;
        char *src, *dst;
        *norm = NULL;
        if (!copy)
                return err_set(e, "out of memory");
        if (proto_home_split(copy, &src, &dst, e) < 0)
                return -1;
        abs_src = absolute_from(cwd, src);
        if (!abs_src ||
            asprintf(norm, "%s%s%s", abs_src, dst != src ? ":" : "", dst != src ? dst : "") < 0) {
                *norm = NULL;
                return err_set(e, "out of memory");
        }
        return 0;
}

int overlay_spec_parse(const char *spec, const char *cwd, struct strv *out, sing_err_t *e)
{
        _cleanup_free_ char *copy = strdup(spec), *abs = NULL, *clean = NULL, *norm = NULL;
        bool ro = false;
        size_t len = copy ? strlen(copy) : 0;
        struct stat st;
        if (!copy)
                return err_set(e, "out of memory");
        if (len > 3 && (strcmp(copy + len - 3, ":ro") == 0 || strcmp(copy + len - 3, ":rw") == 0)) {
                ro = copy[len - 1] == 'o';
                copy[len - 3] = '\0';
        }
        if (!copy[0])
                return err_set(e, "--overlay %s: expected DIR[:ro]", spec);
        if (!(abs = absolute_from(cwd, copy)) || !(clean = path_clean(abs)))
                return err_set(e, "out of memory");
        /* A symlink is the starter's to refuse: it opens the layer as you. */
        if (lstat(clean, &st) < 0)
                return err_errno(e, "--overlay %s", copy);
        if (S_ISREG(st.st_mode))
                return err_set(e,
                               "--overlay %s: overlay image files (ext3) are not supported; use a "
                               "directory",
                               copy);
        if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
                return err_set(e, "--overlay %s: not a directory", copy);
        if (asprintf(&norm, "%s%s", clean, ro ? ":ro" : "") < 0) {
                norm = NULL;
                return err_set(e, "out of memory");
        }
        if (strv_push_take(out, steal_ptr(&norm)) < 0)
                return err_set(e, "out of memory");
        return 0;
}
