/* singularity inspect [--labels|--runscript|--environment|--deffile|
 *                      --helpfile|--test|--json] IMAGE
 *
 * Reads /.singularity.d from a sandbox directly (paths resolved inside it),
 * or from a SIF / squashfs / .simg without mounting: unsquashfs extracts
 * just /.singularity.d into a private temp directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "cache.h"
#include "cleanup.h"
#include "remove_tree.h"
#include "commands.h"
#include "image.h"
#include "envopts.h"
#include "log.h"
#include "safepath.h"

#define FILE_MAX (4u << 20)

const char usage_inspect[] =
    "Usage: singularity inspect [options] IMAGE\n"
    "\n"
    "Show the metadata of a SIF, squashfs or .simg image or a sandbox\n"
    "directory. Without options: the labels.\n"
    "\n"
    "Options:\n"
    "  -l, --labels        the labels (/.singularity.d/labels.json)\n"
    "  -r, --runscript     the runscript\n"
    "  -e, --environment   the environment files (.singularity.d/env)\n"
    "  -d, --deffile       the definition file the image was built from\n"
    "  -H, --helpfile      the help text (%help)\n"
    "  -t, --test          the test script (%test)\n"
    "  -s, --startscript   the startscript (%startscript)\n"
    "      --list-apps     the names of the image's SCIF apps\n"
    "      --app NAME      the labels, runscript, environment, help and test of\n"
    "                      the app NAME instead of the image's\n"
    "      --all           everything, for the image and each app, as JSON\n"
    "  -j, --json          everything asked for (all without other options) as\n"
    "                      one JSON document\n"
    "  -h, --help          show this help\n"
    "\n"
    "Examples:\n"
    "  singularity inspect image.sif\n"
    "  singularity inspect --runscript --json sandbox/\n";

enum what {
        W_LABELS = 1,
        W_RUNSCRIPT = 2,
        W_ENV = 4,
        W_DEFFILE = 8,
        W_HELP = 16,
        W_TEST = 32,
        W_START = 64,
        W_APPS = 128, /* --list-apps */
        W_ALL = 255,
};

/* One env file: its path in the container and its text. */
struct env_file {
        char *path, *text;
};

/* What Apptainer's inspect reports for the image, or for one app. */
struct attrs {
        json_object *labels; /* object, never NULL after load */
        char *runscript, *deffile, *help, *test, *startscript;
        struct env_file *env;
        size_t nenv;
};

struct app_meta {
        char *name;
        struct attrs a;
};

struct meta {
        struct attrs main;
        struct app_meta *apps; /* sorted by name */
        size_t napps;
};

/* Open the image's root: the sandbox itself, or a private extraction of
 * its /.singularity.d and its apps' /scif/apps/NAME/scif (not their
 * programs). *tmp is set when a temp dir must be removed. */
static int open_root(const char *image, char **tmp, sing_err_t *e)
{
        _cleanup_close_ int fd = open(image, O_RDONLY | O_CLOEXEC);
        struct image_info info;
        char off[32], src[64];
        _cleanup_free_ char *root = NULL;
        const char *tmpdir = envopt_plain("TMPDIR");

        *tmp = NULL;
        if (fd < 0)
                return err_errno(e, "cannot open %s", image);
        if (image_probe_fd(fd, &info, e) < 0)
                return err_prefix(e, "%s", image);
        if (info.kind == IMAGE_DIR)
                return steal_fd(&fd);
        if (asprintf(tmp, "%s/singularity-inspect-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp") <
            0) {
                *tmp = NULL;
                return err_set(e, "out of memory");
        }
        if (!mkdtemp(*tmp))
                return err_errno(e, "cannot create a temporary directory %s", *tmp);
        if (asprintf(&root, "%s/root", *tmp) < 0) {
                root = NULL;
                return err_set(e, "out of memory");
        }
        snprintf(off, sizeof(off), "%" PRIu64, info.offset);
        snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
        if (fcntl(fd, F_SETFD, 0) < 0)
                return err_errno(e, "fcntl");
        char *argv[] = {"unsquashfs",
                        "-n",
                        "-q",
                        "-no-xattrs",
                        "-d",
                        root,
                        "-o",
                        off,
                        src,
                        "/.singularity.d",
                        "/scif/apps/*/scif",
                        NULL};
        if (run_command(argv, -1, e) < 0)
                return err_prefix(e, "reading %s", image);
        int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0)
                return err_errno(e, "%s", root);
        return rfd;
}

static int read_text(int rootfd, const char *path, char **out, sing_err_t *e)
{
        size_t len;
        return sandbox_read_file(rootfd, path, FILE_MAX, out, &len, e);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in directory `dir` (inside the root) that keep(name)
 * accepts; a missing directory has none. */
static int list_dir(int rootfd, const char *dir, bool (*keep)(const char *), char ***out, size_t *n,
                    sing_err_t *e)
{
        int dfd = safe_open_in_root(rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        *out = NULL;
        *n = 0;
        if (dfd < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : err_errno(e, "/%s", dir);
        if (!(d = fdopendir(dfd))) {
                close(dfd);
                return err_errno(e, "/%s", dir);
        }
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || !keep(de->d_name))
                        continue;
                char **v = realloc(*out, (*n + 1) * sizeof(*v));
                if (!v)
                        return err_set(e, "out of memory");
                *out = v;
                if (!(v[*n] = strdup(de->d_name)))
                        return err_set(e, "out of memory");
                (*n)++;
        }
        if (*n)
                qsort(*out, *n, sizeof(**out), cmp_str);
        return 0;
}

static void free_names(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* Apptainer's selection: the Docker env (10-docker*.sh) and the
 * %environment / $SINGULARITY_ENVIRONMENT files (9*-environment.sh). */
static bool is_env_file(const char *name)
{
        size_t l = strlen(name);
        if (l < 4 || strcmp(name + l - 3, ".sh") != 0)
                return false;
        if (!strncmp(name, "10-docker", 9))
                return true;
        return name[0] == '9' && l > strlen("-environment.sh") &&
               !strcmp(name + l - strlen("-environment.sh"), "-environment.sh");
}

static bool is_app_env_file(const char *name)
{
        return name[0] == '9' && is_env_file(name);
}

static bool any_name(const char *name)
{
        (void)name;
        return true;
}

static int read_env(int rootfd, const char *dir, bool (*keep)(const char *), struct attrs *a,
                    sing_err_t *e)
{
        char **names = NULL;
        size_t n = 0;
        int rc = -1;
        if (list_dir(rootfd, dir, keep, &names, &n, e) < 0)
                goto out;
        if (n && !(a->env = calloc(n, sizeof(*a->env)))) {
                err_set(e, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL, *body = NULL;
                if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
                        path = NULL;
                        err_set(e, "out of memory");
                        goto out;
                }
                if (read_text(rootfd, path, &body, e) < 0)
                        goto out;
                if (!body)
                        continue;
                struct env_file *f = &a->env[a->nenv];
                if (asprintf(&f->path, "/%s", path) < 0) {
                        f->path = NULL;
                        err_set(e, "out of memory");
                        goto out;
                }
                f->text = steal_ptr(&body);
                a->nenv++;
        }
        rc = 0;
out:
        free_names(names, n);
        return rc;
}

static int read_labels(int rootfd, const char *path, struct attrs *a, sing_err_t *e)
{
        _cleanup_free_ char *labels = NULL;
        if (read_text(rootfd, path, &labels, e) < 0)
                return -1;
        if (labels)
                a->labels = json_tokener_parse(labels);
        if (a->labels && !json_object_is_type(a->labels, json_type_object)) {
                json_object_put(a->labels);
                a->labels = NULL;
        }
        if (labels && !a->labels)
                log_warn("/%s is not a JSON object", path);
        if (!a->labels && !(a->labels = json_object_new_object()))
                return err_set(e, "out of memory");
        return 0;
}

/* The metadata files of one app, in /scif/apps/NAME/scif. */
static int load_app(int rootfd, struct app_meta *app, sing_err_t *e)
{
        _cleanup_free_ char *dir = NULL;
        char path[512];
        if (asprintf(&dir, "scif/apps/%s/scif", app->name) < 0)
                return err_set(e, "out of memory");
#define APP_FILE(f) (snprintf(path, sizeof(path), "%s/%s", dir, f), path)
        if (read_labels(rootfd, APP_FILE("labels.json"), &app->a, e) < 0 ||
            read_text(rootfd, APP_FILE("runscript"), &app->a.runscript, e) < 0 ||
            read_text(rootfd, APP_FILE("runscript.help"), &app->a.help, e) < 0 ||
            read_text(rootfd, APP_FILE("test"), &app->a.test, e) < 0)
                return -1;
#undef APP_FILE
        snprintf(path, sizeof(path), "%s/env", dir);
        return read_env(rootfd, path, is_app_env_file, &app->a, e);
}

static int load_meta(int rootfd, struct meta *m, sing_err_t *e)
{
        char **names = NULL;
        size_t n = 0;
        memset(m, 0, sizeof(*m));
        if (read_labels(rootfd, ".singularity.d/labels.json", &m->main, e) < 0 ||
            read_text(rootfd, ".singularity.d/runscript", &m->main.runscript, e) < 0 ||
            read_text(rootfd, ".singularity.d/Singularity", &m->main.deffile, e) < 0 ||
            read_text(rootfd, ".singularity.d/runscript.help", &m->main.help, e) < 0 ||
            read_text(rootfd, ".singularity.d/test", &m->main.test, e) < 0 ||
            read_text(rootfd, ".singularity.d/startscript", &m->main.startscript, e) < 0 ||
            read_env(rootfd, ".singularity.d/env", is_env_file, &m->main, e) < 0)
                return -1;
        /* An app is a directory /scif/apps/NAME holding scif/. */
        if (list_dir(rootfd, "scif/apps", any_name, &names, &n, e) < 0)
                return -1;
        if (n && !(m->apps = calloc(n, sizeof(*m->apps)))) {
                free_names(names, n);
                return err_set(e, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *dir = NULL;
                struct stat st;
                int fd;
                if (asprintf(&dir, "scif/apps/%s/scif", names[i]) < 0) {
                        free_names(names, n);
                        return err_set(e, "out of memory");
                }
                fd = safe_open_in_root(rootfd, dir, O_PATH | O_DIRECTORY, 0);
                if (fd < 0 || fstat(fd, &st) < 0) {
                        if (fd >= 0)
                                close(fd);
                        continue;
                }
                close(fd);
                m->apps[m->napps].name = steal_ptr(&names[i]);
                if (load_app(rootfd, &m->apps[m->napps++], e) < 0) {
                        free_names(names, n);
                        return -1;
                }
        }
        free_names(names, n);
        return 0;
}

static void attrs_free(struct attrs *a)
{
        json_object_put(a->labels);
        free(a->runscript);
        free(a->deffile);
        free(a->help);
        free(a->test);
        free(a->startscript);
        for (size_t i = 0; i < a->nenv; i++) {
                free(a->env[i].path);
                free(a->env[i].text);
        }
        free(a->env);
}

static void meta_free(struct meta *m)
{
        attrs_free(&m->main);
        for (size_t i = 0; i < m->napps; i++) {
                free(m->apps[i].name);
                attrs_free(&m->apps[i].a);
        }
        free(m->apps);
}

static const struct app_meta *find_app(const struct meta *m, const char *name)
{
        for (size_t i = 0; i < m->napps; i++)
                if (!strcmp(m->apps[i].name, name))
                        return &m->apps[i];
        return NULL;
}

/* Apptainer's values: without their trailing newlines. */
static void add_str(json_object *o, const char *k, const char *v)
{
        if (!v)
                return;
        size_t n = strlen(v);
        while (n && v[n - 1] == '\n')
                n--;
        json_object_object_add(o, k, json_object_new_string_len(v, (int)n));
}

/* Apptainer's attribute layout (keys in its order, empty ones left out):
 * apps, environment (file -> text), labels, runscript, test, helpfile,
 * deffile, startscript. */
static json_object *attrs_json(const struct attrs *a, unsigned what)
{
        json_object *o = json_object_new_object();
        if ((what & W_ENV) && a->nenv) {
                json_object *env = json_object_new_object();
                for (size_t i = 0; i < a->nenv; i++)
                        add_str(env, a->env[i].path, a->env[i].text);
                json_object_object_add(o, "environment", env);
        }
        if ((what & W_LABELS) && json_object_object_length(a->labels))
                json_object_object_add(o, "labels", json_object_get(a->labels));
        if (what & W_RUNSCRIPT)
                add_str(o, "runscript", a->runscript);
        if (what & W_TEST)
                add_str(o, "test", a->test);
        if (what & W_HELP)
                add_str(o, "helpfile", a->help);
        if (what & W_DEFFILE)
                add_str(o, "deffile", a->deffile);
        if (what & W_START)
                add_str(o, "startscript", a->startscript);
        return o;
}

static void print_json(const struct meta *m, unsigned what, const struct app_meta *app)
{
        json_object *doc = json_object_new_object(), *data = json_object_new_object(), *attrs;
        json_object *apps = NULL;
        if (app) {
                /* --app: the app's attributes under apps.NAME. */
                attrs = json_object_new_object();
                apps = json_object_new_object();
                json_object_object_add(apps, app->name, attrs_json(&app->a, what & ~W_START));
        } else {
                attrs = attrs_json(&m->main, what);
                if ((what & W_APPS) && m->napps) {
                        apps = json_object_new_object();
                        /* --list-apps alone: the names; --all: everything. */
                        unsigned appwhat = what == W_ALL ? what & ~(W_DEFFILE | W_START) : 0;
                        for (size_t i = 0; i < m->napps; i++)
                                json_object_object_add(apps, m->apps[i].name,
                                                       attrs_json(&m->apps[i].a, appwhat));
                }
        }
        if (apps) {
                /* "apps" first, as Apptainer orders the attributes. */
                json_object *ordered = json_object_new_object();
                json_object_object_add(ordered, "apps", apps);
                json_object_object_foreach(attrs, k, v)
                {
                        json_object_object_add(ordered, k, json_object_get(v));
                }
                json_object_put(attrs);
                attrs = ordered;
        }
        json_object_object_add(data, "attributes", attrs);
        json_object_object_add(doc, "data", data);
        json_object_object_add(doc, "type", json_object_new_string("container"));
        puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(doc);
}

static void print_text(const char *what, const char *text)
{
        if (!text) {
                log_info("the image has no %s", what);
                return;
        }
        fputs(text, stdout);
        if (*text && text[strlen(text) - 1] != '\n')
                putchar('\n');
}

static void print_labels(json_object *labels)
{
        json_object_object_foreach(labels, k, v)
        {
                printf("%s: %s\n", k,
                       json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                : json_object_to_json_string(v));
        }
}

/* As Apptainer prints them: "=== FILE ===", the text, a blank line. */
static void print_env(const struct attrs *a)
{
        if (!a->nenv)
                log_info("the image has no environment files");
        for (size_t i = 0; i < a->nenv; i++) {
                size_t n = strlen(a->env[i].text);
                while (n && a->env[i].text[n - 1] == '\n')
                        n--;
                printf("=== %s ===\n%.*s\n\n", a->env[i].path, (int)n, a->env[i].text);
        }
}

static void print_sections(const struct meta *m, unsigned what, const struct app_meta *app)
{
        const struct attrs *a = app ? &app->a : &m->main;
        if (what & W_APPS)
                for (size_t i = 0; i < m->napps; i++)
                        puts(m->apps[i].name);
        if (what & W_LABELS)
                print_labels(a->labels);
        if (what & W_RUNSCRIPT)
                print_text("runscript", a->runscript);
        if (what & W_ENV)
                print_env(a);
        if (what & W_DEFFILE)
                print_text("definition file", m->main.deffile);
        if (what & W_HELP)
                print_text("help text", a->help);
        if (what & W_TEST)
                print_text("test script", a->test);
        if ((what & W_START) && !app)
                print_text("startscript", a->startscript);
}

const char usage_run_help[] = "Usage: singularity run-help IMAGE\n"
                              "\n"
                              "Show the image's help text (the %help section of its definition\n"
                              "file), as `inspect --helpfile` does.\n";

int cmd_run_help(int argc, char **argv)
{
        if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
                fputs(usage_run_help, stdout);
                return 0;
        }
        if (argc != 2 || argv[1][0] == '-') {
                log_error("run-help takes one image; see 'singularity help run-help'");
                return 255;
        }
        char *inspect_argv[] = {"inspect", "--helpfile", argv[1], NULL};
        optind = 1;
        return cmd_inspect(3, inspect_argv);
}

int cmd_inspect(int argc, char **argv)
{
        static const struct option opts[] = {
            {"labels", no_argument, NULL, 'l'},
            {"runscript", no_argument, NULL, 'r'},
            {"environment", no_argument, NULL, 'e'},
            {"deffile", no_argument, NULL, 'd'},
            {"helpfile", no_argument, NULL, 'H'},
            {"test", no_argument, NULL, 't'},
            {"startscript", no_argument, NULL, 's'},
            {"list-apps", no_argument, NULL, 'L'},
            {"app", required_argument, NULL, 'A'},
            {"all", no_argument, NULL, 'a'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        unsigned what = 0;
        bool json = false, all = false;
        const char *appname = NULL;
        const struct app_meta *app = NULL;
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int rootfd = -1;
        struct meta m = {0};
        sing_err_t e;
        int opt, rc = 255;

        while ((opt = getopt_long(argc, argv, "+lredHtsjh", opts, NULL)) != -1) {
                switch (opt) {
                case 'l':
                        what |= W_LABELS;
                        break;
                case 'r':
                        what |= W_RUNSCRIPT;
                        break;
                case 'e':
                        what |= W_ENV;
                        break;
                case 'd':
                        what |= W_DEFFILE;
                        break;
                case 'H':
                        what |= W_HELP;
                        break;
                case 't':
                        what |= W_TEST;
                        break;
                case 's':
                        what |= W_START;
                        break;
                case 'L':
                        what |= W_APPS;
                        break;
                case 'A':
                        appname = optarg;
                        break;
                case 'a':
                        all = true;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        fputs(usage_inspect, stdout);
                        return 0;
                default:
                        fputs(usage_inspect, stderr);
                        return 255;
                }
        }
        if (optind != argc - 1) {
                log_error("inspect takes one image; see 'singularity help inspect'");
                return 255;
        }
        /* --all: everything, as JSON, for the image and all its apps. */
        if (all) {
                what = W_ALL;
                json = true;
                appname = NULL;
        }
        if (!what)
                what = json && !appname ? W_ALL & ~W_APPS : W_LABELS;
        rootfd = open_root(argv[optind], &tmp, &e);
        if (rootfd < 0 || load_meta(rootfd, &m, &e) < 0) {
                log_error("%s", e.msg);
                goto out;
        }
        if (appname && !(app = find_app(&m, appname))) {
                _cleanup_free_ char *list = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&list, &len);
                for (size_t i = 0; f && i < m.napps; i++)
                        fprintf(f, " %s", m.apps[i].name);
                if (f)
                        fclose(f);
                log_error("no app %s in %s (apps:%s)", appname, argv[optind],
                          list && *list ? list : " none");
                goto out;
        }
        if (json)
                print_json(&m, what, app);
        else
                print_sections(&m, what, app);
        rc = 0;
out:
        meta_free(&m);
        if (tmp)
                remove_tree(tmp);
        return rc;
}
