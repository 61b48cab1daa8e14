/* What a recipe puts into the sandbox besides %post's work: %files, and the
 * /.singularity.d files (%environment, %runscript, %startscript, %test,
 * %help, labels, the recipe itself with its credentials redacted). */
#include "build_recipe.h"

#include <errno.h>
#include <glob.h>
#include <fcntl.h>
#include <libgen.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "build_epoch.h"
#include "build_config.h"
#include "safepath.h"
#include "cleanup.h"
#include "log.h"
#include "registry.h"

#define LABELS_MAX_BYTES (1u << 20)

/* glob(3) errors for one pattern; a pattern without a match is an error. */
int recipe_copy_one(const struct recipe *r, int rootfd, const struct recipe_file *f,
                    const char *what, sing_err_t *e)
{
        _cleanup_free_ char *pattern = NULL;
        glob_t g;
        int rc = 0;
        size_t dirlen = strlen(r->dir);

        if (f->src[0] == '/')
                pattern = strdup(f->src);
        else if (asprintf(&pattern, "%s/%s", r->dir, f->src) < 0)
                pattern = NULL;
        if (!pattern)
                return err_set(e, "out of memory");
        int g_rc = glob(pattern, GLOB_NOSORT | GLOB_BRACE | GLOB_TILDE, NULL, &g);
        if (g_rc == GLOB_NOMATCH)
                return err_set(e, "%s:%u: %s source %s does not exist", r->path, f->line, what,
                               f->src);
        if (g_rc != 0)
                return err_set(e, "%s:%u: %s source %s: cannot expand it", r->path, f->line, what,
                               f->src);
        for (size_t i = 0; i < g.gl_pathc && rc == 0; i++) {
                const char *match = g.gl_pathv[i];
                _cleanup_free_ char *dst = NULL;
                if (f->dst && g.gl_pathc > 1 && f->dst[strlen(f->dst) - 1] != '/') {
                        /* Several matches: the destination is a directory. */
                        if (asprintf(&dst, "%s/", f->dst) < 0)
                                dst = NULL;
                } else if (f->dst) {
                        dst = strdup(f->dst);
                } else if (f->src[0] == '/') {
                        dst = strdup(match);
                } else {
                        /* Relative source: the same relative path under / */
                        dst = strdup(match + dirlen + 1);
                }
                if (!dst) {
                        rc = err_set(e, "out of memory");
                        break;
                }
                if (sandbox_copy_in(rootfd, match, dst, e) < 0)
                        rc = err_prefix(e, "%s:%u: %s", r->path, f->line, what);
        }
        globfree(&g);
        return rc;
}

int recipe_copy_files(const struct recipe *r, int rootfd, sing_err_t *e)
{
        struct recipe_file *files = NULL;
        size_t n = 0;
        int rc = 0;
        if (recipe_files(r, &files, &n, e) < 0)
                return -1;
        if (n)
                log_info("Copying %%files...");
        for (size_t i = 0; i < n && rc == 0; i++)
                rc = recipe_copy_one(r, rootfd, &files[i], "%files", e);
        recipe_files_free(files, n);
        return rc;
}

/* One "%files from" entry: src resolved in the stage root (a symlink there
 * cannot lead to the host), copied through its /proc/self/fd path. */
static int copy_from_stage(const struct recipe *r, const struct recipe_file *f, int stagefd,
                           const char *stage, int rootfd, sing_err_t *e)
{
        _cleanup_close_ int fd = safe_open_in_root(stagefd, f->src, O_PATH, 0);
        _cleanup_close_ int dstdir = -1;
        _cleanup_free_ char *srccopy = strdup(f->src), *dst = NULL;
        const char *want = f->dst ? f->dst : f->src, *name;
        char via[64];
        size_t wl = strlen(want);
        if (!srccopy)
                return err_set(e, "out of memory");
        if (fd < 0)
                return err_errno(e, "%s:%u: %%files from %s: %s", r->path, f->line, stage, f->src);
        while (strlen(srccopy) > 1 && srccopy[strlen(srccopy) - 1] == '/')
                srccopy[strlen(srccopy) - 1] = '\0';
        name = basename(srccopy);
        /* Into a directory: under the source's own name (not the fd's). */
        if ((wl && want[wl - 1] == '/') ||
            (dstdir = safe_open_in_root(rootfd, want, O_RDONLY | O_DIRECTORY, 0)) >= 0) {
                if (asprintf(&dst, "%s%s%s", want, wl && want[wl - 1] == '/' ? "" : "/", name) < 0)
                        dst = NULL;
        } else {
                dst = strdup(want);
        }
        if (!dst)
                return err_set(e, "out of memory");
        /* cp runs in a child: our descriptor, through our pid. */
        snprintf(via, sizeof(via), "/proc/%d/fd/%d", (int)getpid(), fd);
        log_verbose("copying %s:%s to %s", stage, f->src, dst);
        if (sandbox_copy_in_keep_links(rootfd, via, dst, e) < 0)
                return err_prefix(e, "%s:%u: %%files from %s", r->path, f->line, stage);
        return 0;
}

int recipe_copy_files_from(const struct recipe *r, size_t i, const char *stage_root, int rootfd,
                           sing_err_t *e)
{
        _cleanup_close_ int stagefd = open(stage_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct recipe_file *files = NULL;
        size_t n = 0;
        int rc = 0;
        if (stagefd < 0)
                return err_errno(e, "cannot open %s", stage_root);
        if (recipe_files_from(r, i, &files, &n, e) < 0)
                return -1;
        if (n)
                log_info("Copying %%files from stage %s...", r->files_from[i].stage);
        for (size_t k = 0; k < n && rc == 0; k++)
                rc = copy_from_stage(r, &files[k], stagefd, r->files_from[i].stage, rootfd, e);
        recipe_files_free(files, n);
        return rc;
}

static int check_sources(const struct recipe *r, struct recipe_file *files, size_t n,
                         const char *what, sing_err_t *e);

int recipe_check_files(const struct recipe *r, sing_err_t *e)
{
        struct recipe_file *files = NULL;
        size_t n = 0;
        if (recipe_files(r, &files, &n, e) < 0 || check_sources(r, files, n, "%files", e) < 0)
                return -1;
        for (size_t i = 0; i < r->napps; i++) {
                files = NULL;
                n = 0;
                if (recipe_app_files(r, i, &files, &n, e) < 0 ||
                    check_sources(r, files, n, "%appfiles", e) < 0)
                        return -1;
        }
        return 0;
}

/* Every source matches something; frees files. */
static int check_sources(const struct recipe *r, struct recipe_file *files, size_t n,
                         const char *what, sing_err_t *e)
{
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
                _cleanup_free_ char *pattern = NULL;
                glob_t g;
                if (files[i].src[0] == '/')
                        pattern = strdup(files[i].src);
                else if (asprintf(&pattern, "%s/%s", r->dir, files[i].src) < 0)
                        pattern = NULL;
                if (!pattern) {
                        rc = err_set(e, "out of memory");
                        break;
                }
                if (glob(pattern, GLOB_NOSORT | GLOB_BRACE | GLOB_TILDE, NULL, &g) != 0)
                        rc = err_set(e, "%s:%u: %s source %s does not exist", r->path,
                                     files[i].line, what, files[i].src);
                else
                        globfree(&g);
        }
        recipe_files_free(files, n);
        return rc;
}

/* A script file: the section body, with #!/bin/sh unless it has its own. */
static int write_script(int rootfd, const char *path, const char *body, sing_err_t *e)
{
        _cleanup_free_ char *text = NULL;
        size_t n = strlen(body);
        bool own = strncmp(body, "#!", 2) == 0;
        if (asprintf(&text, "%s%s%s", own ? "" : "#!/bin/sh\n", body,
                     n && body[n - 1] == '\n' ? "" : "\n") < 0)
                return err_set(e, "out of memory");
        return sandbox_write_file(rootfd, path, text, strlen(text), 0755, e);
}

static void build_date(char *buf, size_t len)
{
        time_t now = (time_t)build_now();
        struct tm tm;
        gmtime_r(&now, &tm);
        /* Singularity's format: Monday_1_January_2024_10:02:03_UTC */
        strftime(buf, len, "%A_%-d_%B_%Y_%-H:%M:%S_UTC", &tm);
}

static int set_label(json_object *o, const char *k, const char *v, sing_err_t *e)
{
        json_object *s = json_object_new_string(v);
        if (!s || json_object_object_add(o, k, s) < 0) {
                json_object_put(s);
                return err_set(e, "out of memory");
        }
        return 0;
}

/* Labels %post wrote to $SINGULARITY_LABELS, one "KEY VALUE" a line; the
 * file is removed from the image afterwards. */
static int post_labels(int rootfd, json_object *o, sing_err_t *e)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        char *save = NULL;
        if (sandbox_read_file(rootfd, &BUILD_LABELS_FILE[1], LABELS_MAX_BYTES, &text, &len, e) < 0)
                return -1;
        if (!text)
                return 0;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *v;
                line += strspn(line, " \t");
                if (!*line || *line == '#')
                        continue;
                v = line + strcspn(line, " \t");
                if (*v)
                        *v++ = '\0';
                v += strspn(v, " \t");
                if (set_label(o, line, v, e) < 0)
                        return -1;
        }
        if (unlinkat(rootfd, &BUILD_LABELS_FILE[1], 0) < 0 && errno != ENOENT)
                return err_errno(e, "cannot remove %s from the image", BUILD_LABELS_FILE);
        return 0;
}

/* labels.json: what the image has (Docker labels), then %labels, then what
 * %post added, then the build labels. Returns the new text in *out. */
static int make_labels(const struct recipe *r, int rootfd, const char *base_name,
                       const char *base_digest, char **out, sing_err_t *e)
{
        _cleanup_free_ char *old = NULL;
        size_t oldlen;
        struct recipe_label *labels = NULL;
        size_t n = 0;
        json_object *o = NULL;
        char date[128];
        int rc = -1;

        if (sandbox_read_file(rootfd, ".singularity.d/labels.json", LABELS_MAX_BYTES, &old, &oldlen,
                              e) < 0)
                return -1;
        if (old)
                o = json_tokener_parse(old);
        if (o && !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                o = NULL;
        }
        if (!o && old)
                log_warn("the image's /.singularity.d/labels.json is not a JSON object; "
                         "replacing it");
        if (!o && !(o = json_object_new_object()))
                return err_set(e, "out of memory");
        if (recipe_labels(r, &labels, &n, e) < 0)
                goto out;
        for (size_t i = 0; i < n; i++)
                if (set_label(o, labels[i].key, labels[i].value, e) < 0)
                        goto out;
        if (post_labels(rootfd, o, e) < 0)
                goto out;
        build_date(date, sizeof(date));
        if (set_label(o, "org.label-schema.schema-version", "1.0", e) < 0 ||
            set_label(o, "org.label-schema.build-arch", host_goarch(), e) < 0 ||
            set_label(o, "org.label-schema.build-date", date, e) < 0 ||
            set_label(o, "org.label-schema.usage.singularity.version", SING_VERSION, e) < 0 ||
            set_label(o, "org.label-schema.usage.singularity.deffile.bootstrap",
                      recipe_bootstrap_name(r->bootstrap), e) < 0 ||
            set_label(o, "org.label-schema.usage.singularity.deffile.from", r->from, e) < 0)
                goto out;
        /* Where the image came from (OCI's base-image annotations). */
        if ((base_name && set_label(o, "org.opencontainers.image.base.name", base_name, e) < 0) ||
            (base_digest &&
             set_label(o, "org.opencontainers.image.base.digest", base_digest, e) < 0))
                goto out;
        if (r->sec[SEC_HELP].present &&
            (set_label(o, "org.label-schema.usage", "/.singularity.d/runscript.help", e) < 0 ||
             set_label(o, "org.label-schema.usage.singularity.runscript.help",
                       "/.singularity.d/runscript.help", e) < 0))
                goto out;
        const char *s = json_object_to_json_string_ext(
            o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s || asprintf(out, "%s\n", s) < 0) {
                err_set(e, "out of memory");
                goto out;
        }
        rc = 0;
out:
        recipe_labels_free(labels, n);
        json_object_put(o);
        return rc;
}

int recipe_write_metadata(const struct recipe *r, int rootfd, bool write_runscript,
                          const char *base_name, const char *base_digest, sing_err_t *e)
{
        _cleanup_free_ char *labels = NULL;
        const struct recipe_section *s = r->sec;

        if (s[SEC_ENVIRONMENT].present) {
                _cleanup_free_ char *env = NULL;
                if (asprintf(&env, "#!/bin/sh\n# %%environment from the definition file\n%s",
                             s[SEC_ENVIRONMENT].body) < 0)
                        return err_set(e, "out of memory");
                if (sandbox_write_file(rootfd, ".singularity.d/env/90-environment.sh", env,
                                       strlen(env), 0755, e) < 0)
                        return -1;
        }
        if (write_runscript && s[SEC_RUNSCRIPT].present &&
            write_script(rootfd, ".singularity.d/runscript", s[SEC_RUNSCRIPT].body, e) < 0)
                return -1;
        if (s[SEC_STARTSCRIPT].present &&
            write_script(rootfd, ".singularity.d/startscript", s[SEC_STARTSCRIPT].body, e) < 0)
                return -1;
        if (s[SEC_TEST].present &&
            write_script(rootfd, ".singularity.d/test", s[SEC_TEST].body, e) < 0)
                return -1;
        if (s[SEC_HELP].present &&
            sandbox_write_file(rootfd, ".singularity.d/runscript.help", s[SEC_HELP].body,
                               strlen(s[SEC_HELP].body), 0644, e) < 0)
                return -1;
        if (sandbox_write_file(rootfd, ".singularity.d/Singularity", r->redacted,
                               strlen(r->redacted), 0644, e) < 0)
                return -1;
        if (make_labels(r, rootfd, base_name, base_digest, &labels, e) < 0)
                return -1;
        return sandbox_write_file(rootfd, ".singularity.d/labels.json", labels, strlen(labels),
                                  0644, e);
}
