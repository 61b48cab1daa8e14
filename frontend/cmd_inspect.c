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
        W_ALL = 63,
};

struct meta {
        json_object *labels; /* object, never NULL after load */
        char *runscript, *environment, *deffile, *help, *test;
};

/* Open the image's root: the sandbox itself, or a private extraction of
 * its /.singularity.d. *tmp is set when a temp dir must be removed. */
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
        char *argv[] = {"unsquashfs", "-n", "-q", "-no-xattrs",      "-d", root,
                        "-o",         off,  src,  "/.singularity.d", NULL};
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

/* Every .sh file in /.singularity.d/env, in the order the action scripts source them. */
static int read_env(int rootfd, char **out, sing_err_t *e)
{
        int dfd = safe_open_in_root(rootfd, ".singularity.d/env", O_RDONLY | O_DIRECTORY, 0);
        _cleanup_closedir_ DIR *d = NULL;
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        _cleanup_free_ char *text = NULL;
        size_t tlen = 0;
        FILE *f;
        int rc = -1;

        *out = NULL;
        if (dfd < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : err_errno(e, "env directory");
        if (!(d = fdopendir(dfd))) {
                close(dfd);
                return err_errno(e, "env directory");
        }
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l < 4 || strcmp(de->d_name + l - 3, ".sh") != 0)
                        continue;
                char **v = realloc(names, (n + 1) * sizeof(*v));
                if (!v || !(v[n] = strdup(de->d_name))) {
                        names = v ? v : names;
                        err_set(e, "out of memory");
                        goto out;
                }
                names = v;
                n++;
        }
        qsort(names, n, sizeof(*names), cmp_str);
        if (!(f = open_memstream(&text, &tlen))) {
                err_set(e, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL, *body = NULL;
                if (asprintf(&path, ".singularity.d/env/%s", names[i]) < 0) {
                        path = NULL;
                        fclose(f);
                        err_set(e, "out of memory");
                        goto out;
                }
                if (read_text(rootfd, path, &body, e) < 0) {
                        fclose(f);
                        goto out;
                }
                if (body)
                        fprintf(f, "=== /%s ===\n%s%s", path, body,
                                *body && body[strlen(body) - 1] != '\n' ? "\n" : "");
        }
        if (fclose(f) != 0) {
                err_set(e, "out of memory");
                goto out;
        }
        *out = steal_ptr(&text);
        rc = 0;
out:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return rc;
}

static int load_meta(int rootfd, struct meta *m, sing_err_t *e)
{
        _cleanup_free_ char *labels = NULL;
        memset(m, 0, sizeof(*m));
        if (read_text(rootfd, ".singularity.d/labels.json", &labels, e) < 0 ||
            read_text(rootfd, ".singularity.d/runscript", &m->runscript, e) < 0 ||
            read_text(rootfd, ".singularity.d/Singularity", &m->deffile, e) < 0 ||
            read_text(rootfd, ".singularity.d/runscript.help", &m->help, e) < 0 ||
            read_text(rootfd, ".singularity.d/test", &m->test, e) < 0 ||
            read_env(rootfd, &m->environment, e) < 0)
                return -1;
        if (labels)
                m->labels = json_tokener_parse(labels);
        if (m->labels && !json_object_is_type(m->labels, json_type_object)) {
                json_object_put(m->labels);
                m->labels = NULL;
        }
        if (labels && !m->labels)
                log_warn("/.singularity.d/labels.json is not a JSON object");
        if (!m->labels && !(m->labels = json_object_new_object()))
                return err_set(e, "out of memory");
        return 0;
}

static void meta_free(struct meta *m)
{
        json_object_put(m->labels);
        free(m->runscript);
        free(m->environment);
        free(m->deffile);
        free(m->help);
        free(m->test);
}

static void add_str(json_object *o, const char *k, const char *v)
{
        if (v)
                json_object_object_add(o, k, json_object_new_string(v));
}

static void print_json(const struct meta *m, unsigned what)
{
        json_object *doc = json_object_new_object(), *data = json_object_new_object(),
                    *attrs = json_object_new_object();
        if (what & W_LABELS)
                json_object_object_add(attrs, "labels", json_object_get(m->labels));
        if (what & W_RUNSCRIPT)
                add_str(attrs, "runscript", m->runscript);
        if (what & W_ENV)
                add_str(attrs, "environment", m->environment);
        if (what & W_DEFFILE)
                add_str(attrs, "deffile", m->deffile);
        if (what & W_HELP)
                add_str(attrs, "helpfile", m->help);
        if (what & W_TEST)
                add_str(attrs, "test", m->test);
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
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        unsigned what = 0;
        bool json = false;
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int rootfd = -1;
        struct meta m = {0};
        sing_err_t e;
        int opt, rc = 255;

        while ((opt = getopt_long(argc, argv, "+lredHtjh", opts, NULL)) != -1) {
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
        if (!what)
                what = json ? W_ALL : W_LABELS;
        rootfd = open_root(argv[optind], &tmp, &e);
        if (rootfd < 0 || load_meta(rootfd, &m, &e) < 0) {
                log_error("%s", e.msg);
                goto out;
        }
        if (json) {
                print_json(&m, what);
        } else {
                if (what & W_LABELS)
                        print_labels(m.labels);
                if (what & W_RUNSCRIPT)
                        print_text("runscript", m.runscript);
                if (what & W_ENV)
                        print_text("environment files", m.environment);
                if (what & W_DEFFILE)
                        print_text("definition file", m.deffile);
                if (what & W_HELP)
                        print_text("help text", m.help);
                if (what & W_TEST)
                        print_text("test script", m.test);
        }
        rc = 0;
out:
        meta_free(&m);
        if (tmp)
                remove_tree(tmp);
        return rc;
}
