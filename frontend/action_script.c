#include "action_script.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "env_contract.h"
#include "memstream.h"
#include "shell_quote.h"

/* Helper names start with __sing_ and are all unset before the action. */

/* Apptainer's fixpath: append the default entries PATH lacks. */
static void put_fixpath_fn(FILE *f)
{
        fputs("__sing_fixpath() {\n\tfor __sing_d in ", f);
        for (const char *p = SING_DEFAULT_PATH; *p; p++)
                fputc(*p == ':' ? ' ' : *p, f);
        fputs("; do\n"
              "\t\tcase \":$PATH:\" in\n"
              "\t\t*\":$__sing_d:\"*) ;;\n"
              "\t\t*) PATH=\"${PATH:+$PATH:}$__sing_d\" ;;\n"
              "\t\tesac\n"
              "\tdone\n"
              "\texport PATH\n"
              "}\n",
              f);
}

/* A case pattern matching "any path ending in /NAME" for each name of list. */
static void put_names_pattern(FILE *f, const char *const *list)
{
        for (const char *const *n = list; *n; n++)
                fprintf(f, "%s*/%s", n == list ? "" : " | ", *n);
}

/* The env files, by env_contract.h's rule. The app's environment (--app)
 * is activated where the image's 95-apps.sh would be sourced: before the
 * first env file numbered 95 or more, or after all of them. */
static void put_load_env_fn(FILE *f)
{
        fputs("__sing_env() {\n"
              "\t__sing_injected=\n"
              "\t__sing_app_done=\n"
              "\tif [ -d " ENV_FILES_DIR " ]; then\n"
              "\t\tfor __sing_f in " ENV_FILES_DIR "/*.sh; do\n"
              "\t\t\tcase \"$__sing_f\" in\n"
              "\t\t\t*/9[5-9]-*)\n"
              "\t\t\t\tif [ -z \"$__sing_app_done\" ]; then\n"
              "\t\t\t\t\t__sing_app\n"
              "\t\t\t\t\t__sing_app_done=1\n"
              "\t\t\t\tfi\n"
              "\t\t\t\t;;\n"
              "\t\t\tesac\n"
              "\t\t\tcase \"$__sing_f\" in ",
              f);
        put_names_pattern(f, env_files_skipped);
        fputs(") continue ;; esac\n"
              "\t\t\tif [ -f \"$__sing_f\" ]; then\n"
              "\t\t\t\t. \"$__sing_f\"\n"
              "\t\t\tfi\n"
              "\t\t\tcase \"$__sing_f\" in\n\t\t\t",
              f);
        put_names_pattern(f, env_files_fixpath_after);
        fputs(") __sing_fixpath ;;\n"
              "\t\t\t*/" ENV_FILE_INJECT_AFTER ") __sing_inject; __sing_injected=1 ;;\n"
              "\t\t\tesac\n"
              "\t\tdone\n"
              "\telif [ -f " ENV_FILE_LEGACY " ]; then\n"
              "\t\t. " ENV_FILE_LEGACY "\n"
              "\t\t__sing_fixpath\n"
              "\tfi\n"
              "\tif [ -z \"$__sing_app_done\" ]; then\n"
              "\t\t__sing_app\n"
              "\tfi\n"
              "\tif [ -z \"$__sing_injected\" ]; then\n"
              "\t\t__sing_inject\n"
              "\tfi\n"
              "}\n",
              f);
}

/* '/scif/apps/NAME' followed by sub (a literal without quotes). */
static void put_app_path(FILE *f, const char *app, const char *sub)
{
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "/scif/apps/%s%s", app, sub) < 0) {
                fputs("/nonexistent", f);
                return;
        }
        shell_put_quoted_str(f, p);
}

/* An unknown app is refused before anything runs, naming the apps the
 * image has. */
static void put_app_check(FILE *f, const char *app)
{
        fputs("if [ ! -d ", f);
        put_app_path(f, app, "/scif");
        fputs(" ]; then\n"
              "\t__sing_apps=\n"
              "\tfor __sing_a in /scif/apps/*/scif; do\n"
              "\t\tif [ -d \"$__sing_a\" ]; then\n"
              "\t\t\t__sing_a=\"${__sing_a%/scif}\"\n"
              "\t\t\t__sing_apps=\"$__sing_apps ${__sing_a##*/}\"\n"
              "\t\tfi\n"
              "\tdone\n"
              "\tprintf 'singularity: no app %s in the container (apps:%s)\\n' ",
              f);
        shell_put_quoted_str(f, app);
        fputs(" \"${__sing_apps:- none}\" >&2\n"
              "\texit 255\n"
              "fi\n",
              f);
}

/* Apptainer's 95-apps.sh: the app's bin and root first on PATH, its lib
 * first on LD_LIBRARY_PATH, SCIF_APPS / SCIF_APPROOT, then the app's own
 * env files (01-base.sh: SCIF_APPNAME, SCIF_APPDATA...; 90-environment.sh:
 * %appenv) in order. */
static void put_app_fn(FILE *f, const char *app)
{
        fputs("__sing_app() {\n", f);
        if (!app) {
                fputs("\t:\n}\n", f);
                return;
        }
        fputs("\tSCIF_APPS=/scif/apps\n\tSCIF_APPROOT=", f);
        put_app_path(f, app, "");
        fputs("\n\texport SCIF_APPS SCIF_APPROOT\n"
              "\tPATH=\"$SCIF_APPROOT${PATH:+:$PATH}\"\n"
              "\tif [ -d \"$SCIF_APPROOT/bin\" ]; then\n"
              "\t\tPATH=\"$SCIF_APPROOT/bin:$PATH\"\n"
              "\tfi\n"
              "\texport PATH\n"
              "\tif [ -d \"$SCIF_APPROOT/lib\" ]; then\n"
              "\t\tLD_LIBRARY_PATH=\"$SCIF_APPROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\"\n"
              "\t\texport LD_LIBRARY_PATH\n"
              "\tfi\n"
              "\tfor __sing_a in ",
              f);
        put_app_path(f, app, "/scif/env/");
        fputs("*.sh; do\n"
              "\t\tif [ -f \"$__sing_a\" ]; then\n"
              "\t\t\t. \"$__sing_a\"\n"
              "\t\tfi\n"
              "\tdone\n"
              "}\n",
              f);
}

static void put_value(FILE *f, const char *value, bool no_eval)
{
        if (no_eval)
                shell_put_quoted_str(f, value);
        else
                shell_put_evaluated(f, value);
}

/* Step 2: the overrides (and a PATH override, evaluated here against the
 * image's PATH, applied in step 3). */
static void put_inject_body(FILE *f, const struct run_env *env, bool no_eval)
{
        for (size_t i = 0; i < env->overrides.n; i++) {
                const char *kv = env->overrides.v[i], *eq = strchr(kv, '=');
                fprintf(f, "\texport %.*s=", (int)(eq - kv), kv);
                put_value(f, eq + 1, no_eval);
                fputc('\n', f);
        }
        if (env->path) {
                fputs("\t__sing_path=", f);
                put_value(f, env->path, no_eval);
                fputc('\n', f);
        }
}

static void put_inject_fn(FILE *f, const struct run_env *env, bool no_eval)
{
        fputs("__sing_inject() {\n\t:\n", f);
        put_inject_body(f, env, no_eval);
        fputs("}\n", f);
}

/* 99-runtimevars.sh, as the runtime defines it. PREPEND/APPEND are plain
 * data (Apptainer passes them as SING_USER_DEFINED_* variables). */
static void put_runtime_vars(FILE *f, const struct run_env *env)
{
        /* ${PATH:+...}: an empty PATH must not gain an empty entry (= the cwd). */
        if (env->prepend_path) {
                fputs("PATH=", f);
                shell_put_quoted_str(f, env->prepend_path);
                fputs("\"${PATH:+:$PATH}\"\n", f);
        }
        if (env->append_path) {
                fputs("PATH=\"${PATH:+$PATH:}\"", f);
                shell_put_quoted_str(f, env->append_path);
                fputc('\n', f);
        }
        if (env->path)
                fputs("PATH=\"$__sing_path\"\n", f);
        fputs("export PATH\n", f);
}

static void put_restore(FILE *f, const struct run_env *env)
{
        for (size_t i = 0; i < env->restore.n; i++) {
                const char *kv = env->restore.v[i], *eq = strchr(kv, '=');
                int klen = (int)(eq - kv);
                fprintf(f, "if [ -z \"${%.*s+x}\" ]; then export %.*s=", klen, kv, klen, kv);
                shell_put_quoted_str(f, eq + 1);
                fputs("; fi\n", f);
        }
}

static void put_exec_if(FILE *f, const char *path)
{
        fprintf(f, "if [ -x %s ]; then\n\texec %s \"$@\"\nfi\n", path, path);
}

/* run / test of an app: its runscript or test, which it must have. */
static void put_app_action(FILE *f, const char *app, const char *file, const char *what)
{
        fputs("if [ -x ", f);
        put_app_path(f, app, file);
        fputs(" ]; then\n\texec ", f);
        put_app_path(f, app, file);
        fprintf(f, " \"$@\"\nfi\nprintf 'singularity: app %%s has no %s\\n' ", what);
        shell_put_quoted_str(f, app);
        fputs(" >&2\nexit 1\n", f);
}

static void put_action(FILE *f, const char *action, const char *app)
{
        if (app && strcmp(action, "run") == 0) {
                put_app_action(f, app, "/scif/runscript", "runscript (%%apprun)");
        } else if (app && strcmp(action, "test") == 0) {
                put_app_action(f, app, "/scif/test", "test (%%apptest)");
        } else if (strcmp(action, "exec") == 0) {
                fputs(
                    "if [ $# -eq 0 ]; then\n"
                    "\techo 'singularity: exec: no command given' >&2\n"
                    "\texit 1\n"
                    "fi\n"
                    /* Look for the program in PATH without a subshell
                     * (a fork, and FUSE requests, per exec). Finding an
                     * executable file there means `command -v` succeeds
                     * too, so only a miss asks it, and the answer is the
                     * same as before: builtins, functions, odd PATHs. */
                    "_sing_found=\n"
                    "case $1 in\n"
                    "*/*) [ -f \"$1\" ] && [ -x \"$1\" ] && _sing_found=1 ;;\n"
                    "*)\n"
                    "\tset -f\n"
                    "\t_sing_ifs=$IFS IFS=:\n"
                    "\tfor _sing_d in $PATH; do\n"
                    "\t\tif [ -n \"$_sing_d\" ] && [ -f \"$_sing_d/$1\" ] && "
                    "[ -x \"$_sing_d/$1\" ]; then\n"
                    "\t\t\t_sing_found=1\n"
                    "\t\t\tbreak\n"
                    "\t\tfi\n"
                    "\tdone\n"
                    "\tIFS=$_sing_ifs\n"
                    "\tset +f ;;\n"
                    "esac\n"
                    /* No /dev/null: with --no-mount dev an image's own
                     * (nodev) /dev may hold one that cannot be opened. */
                    "if [ -z \"$_sing_found\" ] && ! _sing_cmd=$(command -v -- \"$1\" 2>&1); then\n"
                    "\tprintf 'singularity: %s: no such file or directory in container\\n' "
                    "\"$1\" >&2\n"
                    "\texit 127\n"
                    "fi\n"
                    "unset _sing_found _sing_d _sing_ifs\n"
                    "exec \"$@\"\n",
                    f);
        } else if (strcmp(action, "run") == 0) {
                put_exec_if(f, "/.singularity.d/runscript");
                put_exec_if(f, "/singularity");
                fputs("echo 'singularity: no runscript in container, running /bin/sh' >&2\n"
                      "exec /bin/sh \"$@\"\n",
                      f);
        } else if (strcmp(action, "shell") == 0) {
                fputs(
                    "if [ -n \"${SINGULARITY_SHELL:-}\" ] && [ -x \"$SINGULARITY_SHELL\" ]; then\n"
                    "\texec \"$SINGULARITY_SHELL\" \"$@\"\n"
                    "fi\n"
                    "if [ -x /bin/bash ]; then\n"
                    "\tSHELL=/bin/bash\n"
                    "\texport SHELL\n"
                    "\texec /bin/bash --norc \"$@\"\n"
                    "fi\n"
                    "SHELL=/bin/sh\n"
                    "export SHELL\n"
                    "exec /bin/sh \"$@\"\n",
                    f);
        } else if (strcmp(action, "start") == 0) {
                /* An instance: the startscript in the background, and the
                 * instance lives on after it ends, until it is stopped. A stop
                 * (SIGTERM) is passed on to the startscript, and this shell
                 * waits for it: one that ignores it is ended by `instance
                 * stop`'s SIGKILL; when this shell ends, so does the
                 * instance's pid namespace, with whatever else runs in it.
                 * Builtins plus `sleep`: without one in the image the
                 * instance lives as long as its startscript. */
                fputs("__sing_pid=\n"
                      "trap 'kill -TERM $__sing_pid $__sing_sleep 2>/dev/null; "
                      "[ -z \"$__sing_pid\" ] || wait \"$__sing_pid\"; exit 0' TERM INT HUP\n"
                      "if [ -x /.singularity.d/startscript ]; then\n"
                      "\t/.singularity.d/startscript \"$@\" &\n"
                      "\t__sing_pid=$!\n"
                      /* An image without a definition file came from Docker:
                       * its ENTRYPOINT/CMD (the runscript) is the service. */
                      "elif [ ! -e /.singularity.d/Singularity ] && "
                      "[ -x /.singularity.d/runscript ]; then\n"
                      "\t/.singularity.d/runscript \"$@\" &\n"
                      "\t__sing_pid=$!\n"
                      "fi\n"
                      "if command -v sleep >/dev/null 2>&1; then\n"
                      "\twhile :; do sleep 86400 & __sing_sleep=$!; wait $__sing_sleep; done\n"
                      "fi\n"
                      "wait\n",
                      f);
        } else { /* test */
                put_exec_if(f, "/.singularity.d/test");
                fputs("echo 'singularity: no test script in container' >&2\n"
                      "exit 0\n",
                      f);
        }
}

/* Singularity 3.5+: bash would take the host's prompt from its own startup
 * files; PROMPT_COMMAND sets ours once the shell is up, then removes itself. */
static const char prompt_vars[] =
    "if [ -z \"${PS1:-}\" ]; then\n"
    "\tPS1=\"\\u@\\h/$SINGULARITY_NAME:\\w > \"\n"
    "fi\n"
    "export PS1\n"
    "if [ -z \"${PROMPT_COMMAND:-}\" ]; then\n"
    "\tPROMPT_COMMAND=\"PS1=\\\"${PS1}\\\"; unset PROMPT_COMMAND\"\n"
    "else\n"
    "\tPROMPT_COMMAND=\"${PROMPT_COMMAND}; "
    "PROMPT_COMMAND=\\\"\\${PROMPT_COMMAND%%; PROMPT_COMMAND=*}\\\"; PS1=\\\"${PS1}\\\"\"\n"
    "fi\n"
    "export PROMPT_COMMAND\n";

char *action_script(const struct run_env *env, const char *action, bool no_eval)
{
        return action_script_app(env, action, no_eval, NULL);
}

char *action_script_app(const struct run_env *env, const char *action, bool no_eval,
                        const char *app)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        /* The shell running this script invents a PS1 of its own; only the
         * host's (passed) or the image's env may set one. */
        if (strcmp(action, "shell") == 0 && !kv_get(&env->pass, "PS1"))
                fputs("unset PS1\n", f);
        if (app)
                put_app_check(f, app);
        put_fixpath_fn(f);
        put_app_fn(f, app);
        put_inject_fn(f, env, no_eval);
        put_load_env_fn(f);
        fputs("__sing_env\n", f);
        put_runtime_vars(f, env);
        fputs("unset -f __sing_fixpath __sing_inject __sing_env __sing_app\n"
              "unset __sing_f __sing_d __sing_injected __sing_path __sing_a __sing_app_done\n",
              f);
        put_restore(f, env);
        if (strcmp(action, "shell") == 0)
                fputs(prompt_vars, f);
        put_action(f, action, app);
        return memstream_finish(f, &buf);
}

bool app_name_valid(const char *name)
{
        if (!name || !*name || *name == '.' || *name == '-' || strlen(name) > 255)
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.' || *p == '+'))
                        return false;
        return true;
}

/* Memory-stream text made by put, or NULL when out of memory. */
static char *text_of(void (*put)(FILE *, const struct run_env *, bool), const struct run_env *env,
                     bool no_eval)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        put(f, env, no_eval);
        return memstream_finish(f, &buf);
}

static void put_finish(FILE *f, const struct run_env *env, bool no_eval)
{
        (void)no_eval;
        put_runtime_vars(f, env);
        put_restore(f, env);
}

/* The script's own variables (__sing_f, _sing_found...) hold the script's
 * values where the overrides are evaluated, and the script unsets them
 * before the action: an override that names one needs the script. */
static bool mentions_script_vars(const struct run_env *env)
{
        for (size_t i = 0; i < env->overrides.n; i++)
                if (strstr(env->overrides.v[i], "_sing_"))
                        return true;
        return env->path && strstr(env->path, "_sing_");
}

int action_env_steps(const struct run_env *env, bool no_eval, char **inject, char **finish)
{
        if (mentions_script_vars(env)) {
                *inject = *finish = NULL;
                return 0;
        }
        *inject = text_of(put_inject_body, env, no_eval);
        *finish = text_of(put_finish, env, no_eval);
        if (*inject && *finish)
                return 0;
        free(*inject);
        free(*finish);
        *inject = *finish = NULL;
        return -1;
}
