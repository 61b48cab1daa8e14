/* SCIF apps of a recipe, laid out as Apptainer writes them:
 *
 *   /scif/apps/NAME/bin, lib             on PATH / LD_LIBRARY_PATH with --app NAME
 *   /scif/apps/NAME/scif/env/01-base.sh  SCIF_APPNAME, SCIF_APPROOT, SCIF_APPDATA...
 *   /scif/apps/NAME/scif/env/90-environment.sh   %appenv
 *   /scif/apps/NAME/scif/runscript       %apprun
 *   /scif/apps/NAME/scif/test            %apptest
 *   /scif/apps/NAME/scif/runscript.help  %apphelp
 *   /scif/apps/NAME/scif/labels.json     SCIF_APP_NAME and %applabels
 *   /scif/data/NAME/input, output
 *   /.singularity.d/env/94-appsbase.sh   SCIF_APPDATA_NAME, SCIF_APPBIN_NAME... of
 *                                        every app, for every container
 * %appfiles are copied under /scif/apps/NAME; %appinstall runs after %post
 * in /scif/apps/NAME with the app's 01-base.sh sourced. */
#include "build_recipe.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build.h"
#include "cleanup.h"
#include "log.h"
#include "mkdir_p.h"
#include "safepath.h"

static int make_dir(int rootfd, const char *fmt, const char *name, sing_err_t *e)
{
        _cleanup_free_ char *path = NULL;
        int fd;
        if (asprintf(&path, fmt, name) < 0)
                return err_set(e, "out of memory");
        fd = safe_mkdir_p_in_root(rootfd, path, 0755);
        if (fd < 0)
                return err_errno(e, "cannot create /%s in the sandbox", path);
        close(fd);
        return 0;
}

static int write_app_file(int rootfd, const char *name, const char *file, const char *text,
                          mode_t mode, sing_err_t *e)
{
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "scif/apps/%s/scif/%s", name, file) < 0)
                return err_set(e, "out of memory");
        return sandbox_write_file(rootfd, path, text, strlen(text), mode, e);
}

/* A script section: #!/bin/sh unless it names its own interpreter. */
static int write_app_script(int rootfd, const char *name, const char *file, const char *body,
                            sing_err_t *e)
{
        _cleanup_free_ char *text = NULL;
        size_t n = strlen(body);
        if (asprintf(&text, "%s%s%s", strncmp(body, "#!", 2) ? "#!/bin/sh\n\n" : "", body,
                     n && body[n - 1] == '\n' ? "" : "\n") < 0)
                return err_set(e, "out of memory");
        return write_app_file(rootfd, name, file, text, 0755, e);
}

static int write_app_labels(const struct recipe *r, size_t i, int rootfd, sing_err_t *e)
{
        struct recipe_label *labels = NULL;
        size_t n = 0;
        json_object *o = json_object_new_object();
        _cleanup_free_ char *text = NULL;
        int rc = -1;
        if (!o)
                return err_set(e, "out of memory");
        json_object_object_add(o, "SCIF_APP_NAME", json_object_new_string(r->apps[i].name));
        if (recipe_app_labels(r, i, &labels, &n, e) < 0)
                goto out;
        for (size_t k = 0; k < n; k++)
                json_object_object_add(o, labels[k].key, json_object_new_string(labels[k].value));
        const char *s = json_object_to_json_string_ext(
            o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s || asprintf(&text, "%s\n", s) < 0) {
                err_set(e, "out of memory");
                goto out;
        }
        rc = write_app_file(rootfd, r->apps[i].name, "labels.json", text, 0644, e);
out:
        recipe_labels_free(labels, n);
        json_object_put(o);
        return rc;
}

static int copy_app_files(const struct recipe *r, size_t i, int rootfd, sing_err_t *e)
{
        struct recipe_file *files = NULL;
        size_t n = 0;
        int rc = 0;
        if (recipe_app_files(r, i, &files, &n, e) < 0)
                return -1;
        for (size_t k = 0; k < n && rc == 0; k++) {
                /* Relative to the app's root; no destination: into it. */
                struct recipe_file f = files[k];
                _cleanup_free_ char *dst = NULL;
                const char *d = f.dst ? f.dst : "";
                if (asprintf(&dst, "/scif/apps/%s/%s", r->apps[i].name, d + (*d == '/')) < 0) {
                        rc = err_set(e, "out of memory");
                        break;
                }
                f.dst = dst;
                rc = recipe_copy_one(r, rootfd, &f, "%appfiles", e);
        }
        recipe_files_free(files, n);
        return rc;
}

/* The app's own 01-base.sh: the SCIF variables of the active app. */
static int write_app_base_env(int rootfd, const char *name, sing_err_t *e)
{
        _cleanup_free_ char *text = NULL;
        if (asprintf(&text,
                     "#!/bin/sh\n"
                     "SCIF_APPNAME=%1$s\n"
                     "SCIF_APPROOT=\"/scif/apps/%1$s\"\n"
                     "SCIF_APPMETA=\"/scif/apps/%1$s/scif\"\n"
                     "SCIF_DATA=\"/scif/data\"\n"
                     "SCIF_APPDATA=\"/scif/data/%1$s\"\n"
                     "SCIF_APPINPUT=\"/scif/data/%1$s/input\"\n"
                     "SCIF_APPOUTPUT=\"/scif/data/%1$s/output\"\n"
                     "export SCIF_APPNAME SCIF_APPROOT SCIF_APPMETA SCIF_DATA SCIF_APPDATA "
                     "SCIF_APPINPUT SCIF_APPOUTPUT\n",
                     name) < 0)
                return err_set(e, "out of memory");
        return write_app_file(rootfd, name, "env/01-base.sh", text, 0755, e);
}

/* Each app's variables for every container (94-appsbase.sh); a name's
 * characters other than [A-Za-z0-9_] become '_' in the variable names. */
static void put_global_env(FILE *f, const struct recipe_app *a)
{
        char var[256];
        size_t k;
        for (k = 0; a->name[k] && k + 1 < sizeof(var); k++) {
                char c = a->name[k];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '_';
                var[k] = ok ? c : '_';
        }
        var[k] = '\0';
        fprintf(f,
                "## App Global Exports For: %2$s\n"
                "SCIF_APPDATA_%1$s=/scif/data/%2$s\n"
                "SCIF_APPMETA_%1$s=/scif/apps/%2$s/scif\n"
                "SCIF_APPROOT_%1$s=/scif/apps/%2$s\n"
                "SCIF_APPBIN_%1$s=/scif/apps/%2$s/bin\n"
                "SCIF_APPLIB_%1$s=/scif/apps/%2$s/lib\n"
                "export SCIF_APPDATA_%1$s SCIF_APPMETA_%1$s SCIF_APPROOT_%1$s SCIF_APPBIN_%1$s "
                "SCIF_APPLIB_%1$s\n",
                var, a->name);
        if (a->sec[APP_ENV].present)
                fprintf(f,
                        "export SCIF_APPENV_%1$s=\"/scif/apps/%2$s/scif/env/90-environment.sh\"\n",
                        var, a->name);
        fprintf(f, "export SCIF_APPLABELS_%1$s=\"/scif/apps/%2$s/scif/labels.json\"\n", var,
                a->name);
        if (a->sec[APP_RUN].present)
                fprintf(f, "export SCIF_APPRUN_%1$s=\"/scif/apps/%2$s/scif/runscript\"\n", var,
                        a->name);
}

int recipe_write_apps(const struct recipe *r, int rootfd, sing_err_t *e)
{
        _cleanup_free_ char *global = NULL;
        size_t glen = 0;
        FILE *f;
        int bad;
        if (!r->napps)
                return 0;
        for (size_t i = 0; i < r->napps; i++) {
                const struct recipe_app *a = &r->apps[i];
                const struct recipe_section *s = a->sec;
                log_info("Adding app %s", a->name);
                if (make_dir(rootfd, "scif/apps/%s/bin", a->name, e) < 0 ||
                    make_dir(rootfd, "scif/apps/%s/lib", a->name, e) < 0 ||
                    make_dir(rootfd, "scif/apps/%s/scif/env", a->name, e) < 0 ||
                    make_dir(rootfd, "scif/data/%s/input", a->name, e) < 0 ||
                    make_dir(rootfd, "scif/data/%s/output", a->name, e) < 0 ||
                    write_app_base_env(rootfd, a->name, e) < 0)
                        return -1;
                if (s[APP_ENV].present && write_app_file(rootfd, a->name, "env/90-environment.sh",
                                                         s[APP_ENV].body, 0755, e) < 0)
                        return -1;
                if (s[APP_RUN].present &&
                    write_app_script(rootfd, a->name, "runscript", s[APP_RUN].body, e) < 0)
                        return -1;
                if (s[APP_TEST].present &&
                    write_app_script(rootfd, a->name, "test", s[APP_TEST].body, e) < 0)
                        return -1;
                if (s[APP_HELP].present && write_app_file(rootfd, a->name, "runscript.help",
                                                          s[APP_HELP].body, 0644, e) < 0)
                        return -1;
                if (write_app_labels(r, i, rootfd, e) < 0 || copy_app_files(r, i, rootfd, e) < 0)
                        return -1;
        }
        if (!(f = open_memstream(&global, &glen)))
                return err_set(e, "out of memory");
        fputs("#!/bin/sh\n", f);
        for (size_t i = 0; i < r->napps; i++)
                put_global_env(f, &r->apps[i]);
        bad = ferror(f);
        if (fclose(f) != 0 || bad)
                return err_set(e, "out of memory");
        return sandbox_write_file(rootfd, ".singularity.d/env/94-appsbase.sh", global, glen, 0755,
                                  e);
}

int recipe_run_appinstall(const struct recipe *r, const char *rootfs, sing_err_t *e)
{
        for (size_t i = 0; i < r->napps; i++) {
                const struct recipe_app *a = &r->apps[i];
                _cleanup_free_ char *body = NULL, *section = NULL;
                if (!a->sec[APP_INSTALL].present)
                        continue;
                if (asprintf(
                        &body,
                        "cd /\n. /scif/apps/%1$s/scif/env/01-base.sh\ncd /scif/apps/%1$s\n%2$s",
                        a->name, a->sec[APP_INSTALL].body) < 0 ||
                    asprintf(&section, "appinstall %s", a->name) < 0)
                        return err_set(e, "out of memory");
                if (run_script(rootfs, section, body, SCRIPT_IN_ROOTFS, e) < 0)
                        return -1;
        }
        return 0;
}
