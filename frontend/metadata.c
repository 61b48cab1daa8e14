/* Docker/OCI image config -> /.singularity.d (env files, runscript, labels,
 * action scripts) and the mount points a container needs. Every generated
 * script is POSIX sh (dash and busybox sh run them) and every value from the
 * config is single-quoted, so it reaches the container byte for byte. */
#include "metadata.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "cleanup.h"
#include "protocol.h"
#include "shell_quote.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- text building: an open_memstream with one error check at the end ---- */

struct text {
        FILE *f;
        char *buf;
        size_t len;
};

static int text_open(struct text *t)
{
        t->buf = NULL;
        t->len = 0;
        t->f = open_memstream(&t->buf, &t->len);
        return t->f ? 0 : -1;
}

/* Close the stream; on success t->buf/t->len hold the text (caller frees). */
static int text_close(struct text *t)
{
        int bad = ferror(t->f);
        if (fclose(t->f) != 0)
                bad = 1;
        t->f = NULL;
        if (bad) {
                free(t->buf);
                t->buf = NULL;
                return -1;
        }
        return 0;
}

static void text_discard(struct text *t)
{
        if (t->f)
                fclose(t->f);
        t->f = NULL;
        free(t->buf);
        t->buf = NULL;
}

/* ---- reading the config ---- */

/* Fetch an optional array of strings. Absent, null and [] all give *out =
 * NULL (Docker treats an empty Entrypoint/Cmd as unset). */
static int get_string_array(json_object *cfg, const char *key, bool allow_nul, json_object **out,
                            sing_err_t *e)
{
        json_object *a;
        *out = NULL;
        if (!cfg || !json_object_object_get_ex(cfg, key, &a) || !a)
                return 0;
        if (!json_object_is_type(a, json_type_array))
                return err_set(e, "image config: %s is not an array", key);
        size_t n = json_object_array_length(a);
        for (size_t i = 0; i < n; i++) {
                json_object *s = json_object_array_get_idx(a, i);
                if (!json_object_is_type(s, json_type_string))
                        return err_set(e, "image config: %s[%zu] is not a string", key, i);
                if (!allow_nul &&
                    memchr(json_object_get_string(s), '\0', (size_t)json_object_get_string_len(s)))
                        return err_set(e, "image config: %s[%zu] contains a NUL byte", key, i);
        }
        if (n > 0)
                *out = a;
        return 0;
}

static void put_quoted_array(FILE *f, json_object *a)
{
        size_t n = json_object_array_length(a);
        for (size_t i = 0; i < n; i++) {
                json_object *s = json_object_array_get_idx(a, i);
                fputc(' ', f);
                shell_put_quoted(f, json_object_get_string(s),
                                 (size_t)json_object_get_string_len(s));
        }
}

/* ---- generated files ---- */

static void put_env_file(FILE *f, json_object *env)
{
        fputs("#!/bin/sh\n# Environment from the Docker/OCI image config.\n", f);
        size_t n = env ? json_object_array_length(env) : 0;
        for (size_t i = 0; i < n; i++) {
                json_object *s = json_object_array_get_idx(env, i);
                shell_put_export(f, json_object_get_string(s),
                                 (size_t)json_object_get_string_len(s));
        }
}

/* The runscript; the order of precedence is documented in metadata.h. */
static void put_runscript(FILE *f, json_object *entrypoint, json_object *cmd,
                          const struct metadata_opts *o)
{
        if (o->recipe_runscript) {
                const char *body = o->recipe_runscript;
                size_t n = strlen(body);
                if (strncmp(body, "#!", 2) != 0)
                        fputs("#!/bin/sh\n", f);
                fputs(body, f);
                if (n == 0 || body[n - 1] != '\n')
                        fputc('\n', f);
                return;
        }
        fputs("#!/bin/sh\n", f);
        if (o->include_cmd && cmd)
                entrypoint = NULL; /* IncludeCmd: Cmd is the runscript */
        if (!entrypoint && !cmd) {
                fputs("# The image sets neither ENTRYPOINT nor CMD: run the container's shell.\n"
                      "if [ -x /bin/bash ]; then\n"
                      "\texec /bin/bash \"$@\"\n"
                      "fi\n"
                      "exec /bin/sh \"$@\"\n",
                      f);
                return;
        }
        fputs(entrypoint ? "# ENTRYPOINT from the image; run's arguments replace CMD.\n"
                         : "# CMD from the image; run's arguments replace it.\n",
              f);
        if (cmd) {
                fputs("if [ $# -eq 0 ]; then\n\tset --", f);
                put_quoted_array(f, cmd);
                if (!entrypoint) {
                        /* Replacing CMD with arguments that start with an
                         * option could never run (no command is named
                         * "-c"): they are options for CMD, as in
                         * `singularity run docker://python:3 -c '...'`. */
                        fputs("\nelif [ \"${1#-}\" != \"$1\" ]; then\n\tset --", f);
                        put_quoted_array(f, cmd);
                        fputs(" \"$@\"", f);
                }
                fputs("\nfi\n", f);
        }
        fputs("exec", f);
        if (entrypoint)
                put_quoted_array(f, entrypoint);
        fputs(" \"$@\"\n", f);
}

static void put_base_env(FILE *f)
{
        /* Shells invent a PATH when none is inherited but do not export it;
         * export one so the command the action execs gets a usable PATH. */
        fputs("#!/bin/sh\n"
              "PATH=\"${PATH:-" DEFAULT_PATH "}\"\n"
              "export PATH\n",
              f);
}

static void put_late_env(FILE *f, const char *sd)
{
        fputs("#!/bin/sh\n"
              "PS1='Singularity> '\n"
              "if [ -z \"${LD_LIBRARY_PATH:-}\" ]; then\n"
              "\tLD_LIBRARY_PATH=",
              f);
        shell_put_quoted_str(f, sd);
        fputs("/libs\nelse\n\tLD_LIBRARY_PATH=\"$LD_LIBRARY_PATH\":", f);
        shell_put_quoted_str(f, sd);
        fputs("/libs\nfi\nexport PS1 LD_LIBRARY_PATH\n", f);
}

/* Start of every action script. Our runtime never runs these (it carries
 * its own action logic, action_script.h); they are there, plain, for other
 * runtimes and for tools that run the action scripts themselves:
 * load the image's env files, then act. The loading happens in a function
 * so an env file that runs `set --` cannot change the action's arguments. */
static void put_action_head(FILE *f, const char *sd, const char *pre)
{
        fputs("#!/bin/sh\n"
              "# Singularity action script, run by the starter inside the container.\n",
              f);
        fputs(pre, f);
        fputs("sing_load_env() {\n"
              "\tfor sing_env_file in ",
              f);
        shell_put_quoted_str(f, sd);
        fputs("/env/*.sh; do\n"
              "\t\tif [ -f \"$sing_env_file\" ]; then\n"
              "\t\t\t. \"$sing_env_file\"\n"
              "\t\tfi\n"
              "\tdone\n"
              "\tunset sing_env_file\n"
              "}\n"
              "sing_load_env\n",
              f);
}

/* "if [ -x SD/name ]; then exec SD/name "$@"; fi" */
static void put_exec_if_present(FILE *f, const char *sd, const char *name)
{
        fputs("if [ -x ", f);
        shell_put_quoted_str(f, sd);
        fprintf(f, "/%s ]; then\n\texec ", name);
        shell_put_quoted_str(f, sd);
        fprintf(f, "/%s \"$@\"\nfi\n", name);
}

static void put_action(FILE *f, const char *sd, const char *action)
{
        if (strcmp(action, "exec") == 0) {
                put_action_head(f, sd, "");
                fputs(
                    "if [ $# -eq 0 ]; then\n"
                    "\techo 'singularity: exec: no command given' >&2\n"
                    "\texit 1\n"
                    "fi\n"
                    "if ! command -v -- \"$1\" >/dev/null 2>&1; then\n"
                    "\tprintf 'singularity: %s: no such file or directory in container\\n' \"$1\" "
                    ">&2\n"
                    "\texit 127\n"
                    "fi\n"
                    "exec \"$@\"\n",
                    f);
        } else if (strcmp(action, "run") == 0) {
                put_action_head(f, sd, "");
                put_exec_if_present(f, sd, "runscript");
                fputs("echo 'singularity: no runscript in container, running /bin/sh' >&2\n"
                      "exec /bin/sh \"$@\"\n",
                      f);
        } else if (strcmp(action, "shell") == 0) {
                /* Before the env files, so an image or SINGULARITYENV_PS1 can change it. */
                put_action_head(f, sd, "PS1='Singularity> '\nexport PS1\n");
                fputs("if [ -n \"${SINGULARITY_SHELL:-}\" ]; then\n"
                      "\texec \"$SINGULARITY_SHELL\" \"$@\"\n"
                      "fi\n"
                      "if [ -x /bin/bash ]; then\n"
                      "\texec /bin/bash --norc \"$@\"\n"
                      "fi\n"
                      "exec /bin/sh \"$@\"\n",
                      f);
        } else if (strcmp(action, "start") == 0) {
                put_action_head(f, sd, "");
                put_exec_if_present(f, sd, "startscript");
                fputs("exit 0\n", f);
        } else { /* test */
                put_action_head(f, sd, "");
                put_exec_if_present(f, sd, "test");
                fputs("echo 'singularity: no test script in container' >&2\n"
                      "exit 0\n",
                      f);
        }
}

/* ---- entry lists ---- */

static int add(struct synth_list *l, const char *path, mode_t mode, const void *data, size_t len,
               const char *link, int64_t mtime, sing_err_t *e)
{
        if (synth_add(l, path, mode, data, len, link) < 0)
                return err_set(e, "adding %s: out of memory", path);
        l->v[l->n - 1].uid = 0;
        l->v[l->n - 1].gid = 0;
        l->v[l->n - 1].mtime = mtime;
        return 0;
}

/* Add a regular file whose text is whatever the caller writes to the stream. */
static int add_text(struct synth_list *l, const char *path, mode_t perm, struct text *t,
                    int64_t mtime, sing_err_t *e)
{
        if (text_close(t) < 0)
                return err_set(e, "generating %s: out of memory", path);
        int r = add(l, path, S_IFREG | perm, t->buf, t->len, NULL, mtime, e);
        free(t->buf);
        t->buf = NULL;
        return r;
}

/* json_object_put as a cleanup attribute. */
static void json_putp(json_object **o)
{
        if (*o)
                json_object_put(*o);
}

static int add_labels(struct synth_list *l, json_object *cfg, const struct metadata_opts *o,
                      int64_t mtime, sing_err_t *e)
{
        json_object *labels = NULL;
        if (cfg)
                json_object_object_get_ex(cfg, "Labels", &labels);
        if (labels && !json_object_is_type(labels, json_type_object))
                return err_set(e, "image config: Labels is not an object");
        _cleanup_free_ char *text = NULL;
        __attribute__((cleanup(json_putp))) json_object *owned = NULL;
        if (o->source_name || o->source_digest) {
                if (!labels && !(labels = owned = json_object_new_object()))
                        return err_set(e, "generating labels.json: out of memory");
                if ((o->source_name &&
                     json_object_object_add(labels, "org.opencontainers.image.base.name",
                                            json_object_new_string(o->source_name)) < 0) ||
                    (o->source_digest &&
                     json_object_object_add(labels, "org.opencontainers.image.base.digest",
                                            json_object_new_string(o->source_digest)) < 0))
                        return err_set(e, "generating labels.json: out of memory");
        }
        if (labels) {
                const char *s = json_object_to_json_string_ext(
                    labels, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                JSON_C_TO_STRING_NOSLASHESCAPE);
                if (!s || asprintf(&text, "%s\n", s) < 0)
                        return err_set(e, "generating labels.json: out of memory");
        } else if (!(text = strdup("{}\n"))) {
                return err_set(e, "generating labels.json: out of memory");
        }
        return add(l, ".singularity.d/labels.json", S_IFREG | 0644, text, strlen(text), NULL, mtime,
                   e);
}

/* Mount points for the default binds, created only when the image lacks
 * them (the layer merge decides). Parents come before children. */
static int add_mount_points(struct synth_list *l, int64_t mtime, sing_err_t *e)
{
        static const struct {
                const char *path;
                mode_t mode;
        } pts[] = {
            {"proc", S_IFDIR | 0755},
            {"sys", S_IFDIR | 0755},
            {"dev", S_IFDIR | 0755},
            {"tmp", S_IFDIR | 01777},
            {"var", S_IFDIR | 0755},
            {"var/tmp", S_IFDIR | 01777},
            {"home", S_IFDIR | 0755},
            {"root", S_IFDIR | 0700},
            {"mnt", S_IFDIR | 0755},
            {"etc", S_IFDIR | 0755},
            {"etc/hosts", S_IFREG | 0644},
            {"etc/resolv.conf", S_IFREG | 0644},
            {"etc/passwd", S_IFREG | 0644},
            {"etc/group", S_IFREG | 0644},
            /* Only when no layer has anything there: an image's symlink
             * (to /usr/share/zoneinfo/...) is kept. */
            {"etc/localtime", S_IFREG | 0644},
        };
        for (size_t i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
                bool file = S_ISREG(pts[i].mode);
                if (add(l, pts[i].path, pts[i].mode, file ? "" : NULL, 0, NULL, mtime, e) < 0)
                        return -1;
        }
        return 0;
}

static int add_metadata_dir(struct synth_list *top, json_object *cfg, const struct metadata_opts *o,
                            const char *sd, sing_err_t *e)
{
        static const char *const dirs[] = {".singularity.d", ".singularity.d/actions",
                                           ".singularity.d/env", ".singularity.d/libs"};
        json_object *env, *entrypoint, *cmd;
        struct text t = {0};
        int64_t mt = o->mtime;

        /* Validate everything before generating anything. */
        if (get_string_array(cfg, "Env", true, &env, e) < 0 ||
            get_string_array(cfg, "Entrypoint", false, &entrypoint, e) < 0 ||
            get_string_array(cfg, "Cmd", false, &cmd, e) < 0)
                return -1;

        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
                if (add(top, dirs[i], S_IFDIR | 0755, NULL, 0, NULL, mt, e) < 0)
                        return -1;

        if (text_open(&t) < 0)
                goto oom;
        put_base_env(t.f);
        if (add_text(top, ".singularity.d/env/01-base.sh", 0755, &t, mt, e) < 0)
                return -1;

        if (text_open(&t) < 0)
                goto oom;
        put_env_file(t.f, env);
        if (add_text(top, ".singularity.d/env/10-docker2singularity.sh", 0755, &t, mt, e) < 0)
                return -1;

        /* Where %environment goes in built images; /environment (Singularity
         * 2.x's place) points at it. */
        static const char custom_env[] =
            "#!/bin/sh\n# Custom environment shell code should follow\n";
        if (add(top, ".singularity.d/env/90-environment.sh", S_IFREG | 0755, custom_env,
                sizeof(custom_env) - 1, NULL, mt, e) < 0)
                return -1;

        if (text_open(&t) < 0)
                goto oom;
        put_late_env(t.f, sd);
        if (add_text(top, ".singularity.d/env/99-base.sh", 0755, &t, mt, e) < 0)
                return -1;

        if (text_open(&t) < 0)
                goto oom;
        put_runscript(t.f, entrypoint, cmd, o);
        if (add_text(top, ".singularity.d/runscript", 0755, &t, mt, e) < 0)
                return -1;

        for (size_t i = 0; i < PROTO_N_ACTIONS; i++) {
                char path[64];
                snprintf(path, sizeof(path), ".singularity.d/actions/%s", proto_actions[i]);
                if (text_open(&t) < 0)
                        goto oom;
                put_action(t.f, sd, proto_actions[i]);
                if (add_text(top, path, 0755, &t, mt, e) < 0)
                        return -1;
        }

        if (add_labels(top, cfg, o, mt, e) < 0)
                return -1;
        if (add(top, "environment", S_IFLNK | 0777, NULL, 0, ".singularity.d/env/90-environment.sh",
                mt, e) < 0)
                return -1;
        return add(top, "singularity", S_IFLNK | 0777, NULL, 0, ".singularity.d/runscript", mt, e);
oom:
        text_discard(&t);
        return err_set(e, "generating /.singularity.d: out of memory");
}

int metadata_from_oci_config_at(const char *config_json, size_t len, const struct metadata_opts *o,
                                const char *root_prefix, struct synth_list *top,
                                struct synth_list *bottom, sing_err_t *e)
{
        __attribute__((cleanup(json_putp))) json_object *root = NULL;
        _cleanup_free_ char *sd = NULL;
        if (len > INT_MAX)
                return err_set(e, "parsing image config: too large (%zu bytes)", len);
        json_tokener *tok = json_tokener_new();
        if (!tok)
                return err_set(e, "parsing image config: out of memory");
        root = json_tokener_parse_ex(tok, config_json, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (!root || jerr != json_tokener_success)
                return err_set(e, "parsing image config: %s",
                               jerr == json_tokener_continue ? "unexpected end of JSON"
                                                             : json_tokener_error_desc(jerr));
        while (end < len && config_json[end] && strchr(" \t\r\n", config_json[end]))
                end++;
        if (end < len)
                return err_set(e, "parsing image config: unexpected data after the JSON object");
        if (!json_object_is_type(root, json_type_object))
                return err_set(e, "parsing image config: not a JSON object");

        /* The runtime settings live under "config"; an image may have none. */
        json_object *cfg = NULL;
        json_object_object_get_ex(root, "config", &cfg);
        if (cfg && !json_object_is_type(cfg, json_type_object))
                return err_set(e, "image config: \"config\" is not an object");

        if (asprintf(&sd, "%s/.singularity.d", root_prefix) < 0) {
                sd = NULL;
                return err_set(e, "generating /.singularity.d: out of memory");
        }
        if (add_metadata_dir(top, cfg, o, sd, e) < 0 || add_mount_points(bottom, o->mtime, e) < 0)
                return -1;
        return 0;
}

int metadata_from_oci_config(const char *config_json, size_t len, const struct metadata_opts *o,
                             struct synth_list *top, struct synth_list *bottom, sing_err_t *e)
{
        return metadata_from_oci_config_at(config_json, len, o, "", top, bottom, e);
}
