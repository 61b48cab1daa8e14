/* singularity build [-F] [--sandbox] [--fakeroot] [--notest] OUT SRC
 *
 * Everything that can be refused is refused before any download: bad
 * recipe, missing %files source, existing OUT, %post without privileges.
 * Then the source is fetched (as the user, into the user's cache) and the
 * rest runs in build_pipeline: directly as root or for simple builds, or in
 * a --fakeroot user namespace, so that extraction, %post and mksquashfs all
 * see the same (namespaced) owners. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "build_recipe.h"
#include "cache.h"
#include "cleanup.h"
#include "commands.h"
#include "convert.h"
#include "envopts.h"
#include "image.h"
#include "log.h"
#include "pull.h"
#include "recipe.h"
#include "sif.h"
#include "tempfile.h"

#define META_MAX_BYTES (4u << 20)

const char usage_build[] =
    "Usage: singularity build [options] OUTPUT SOURCE\n"
    "\n"
    "Build a SIF image (or a sandbox directory with --sandbox) from:\n"
    "  docker://REF        an image in a Docker/OCI registry\n"
    "  FILE.def            a definition file (Bootstrap: docker or localimage)\n"
    "  IMAGE               a SIF, squashfs or .simg image\n"
    "  DIRECTORY           a sandbox directory\n"
    "\n"
    "Options:\n"
    "  -F, --force         overwrite an existing OUTPUT\n"
    "  -s, --sandbox       build a writable sandbox directory instead of a SIF\n"
    "      --fakeroot      run the build as root of a user namespace (uses\n"
    "                      /etc/subuid and /etc/subgid): %post as a normal user\n"
    "  -T, --notest        skip the %test section\n"
    "      --arch ARCH     architecture to pull for docker:// sources\n"
    "      --nohttps       use plain HTTP to talk to the registry\n"
    "      --disable-cache do not use or fill the cache\n"
    "  -h, --help          show this help\n"
    "\n"
    "Registry credentials: Username/Password in the definition file, else\n"
    "SINGULARITY_DOCKER_USERNAME / SINGULARITY_DOCKER_PASSWORD, else\n"
    "~/.docker/config.json. They are never stored in the image, and never\n"
    "sent over plain HTTP unless --nohttps is given.\n"
    "\n"
    "Environment: SINGULARITY_CACHEDIR, SINGULARITY_DISABLE_CACHE,\n"
    "SINGULARITY_NOHTTPS (each also as APPTAINER_).\n" ENVOPTS_BOOL_HELP "\n"
    "Examples:\n"
    "  singularity build ubuntu.sif docker://ubuntu:latest\n"
    "  singularity build --sandbox ubuntu/ docker://ubuntu:latest\n"
    "  sudo singularity build tools.sif tools.def\n"
    "  singularity build --fakeroot tools.sif tools.def\n"
    "  singularity build final.sif ubuntu/\n";

enum source_kind { SRC_DOCKER, SRC_IMAGE, SRC_DIR, SRC_RECIPE };

struct build {
        const char *out;
        bool force, sandbox, fakeroot, notest;
        enum source_kind kind;
        const char *src;
        struct pull_opts po;
        struct recipe rec;
        bool have_recipe;
        /* What the rootfs comes from: docker (img) or a local image/dir (base). */
        bool from_docker;
        char *docker_uri;
        const char *base;
        struct pulled_image img;
        bool have_img;
        /* Temp space beside OUT. */
        char *tmpdir, *rootfs, *tmpsif;
        bool rootfs_is_source; /* sandbox -> SIF: squash the source directly */
};

static const char *src_kind_name(enum source_kind k)
{
        switch (k) {
        case SRC_DOCKER:
                return "docker";
        case SRC_IMAGE:
                return "image";
        case SRC_DIR:
                return "sandbox";
        default:
                return "definition file";
        }
}

/* SRC: docker://, a directory, an image file, else a definition file. */
static int classify_source(struct build *b, sing_err_t *e)
{
        struct stat st;
        if (!strncmp(b->src, "docker://", 9)) {
                b->kind = SRC_DOCKER;
                return 0;
        }
        if (strstr(b->src, "://"))
                return err_set(e,
                               "unsupported source \"%s\": use docker://, an image, a sandbox "
                               "directory or a definition file",
                               b->src);
        if (stat(b->src, &st) < 0)
                return err_errno(e, "%s", b->src);
        if (S_ISDIR(st.st_mode)) {
                b->kind = SRC_DIR;
                return 0;
        }
        _cleanup_close_ int fd = open(b->src, O_RDONLY | O_CLOEXEC);
        struct image_info info;
        sing_err_t ignored;
        if (fd >= 0 && image_probe_fd(fd, &info, &ignored) == 0) {
                b->kind = SRC_IMAGE;
                return 0;
        }
        /* Anything else (also an unreadable file) is a definition file:
         * the parser says what is wrong with it. */
        b->kind = SRC_RECIPE;
        return 0;
}

static bool needs_root(const struct recipe *r)
{
        return r->sec[SEC_POST].present || r->sec[SEC_SETUP].present;
}

/* All the checks that need no download. */
static int prepare(struct build *b, sing_err_t *e)
{
        struct stat st;
        if (classify_source(b, e) < 0)
                return -1;
        if (b->kind == SRC_RECIPE) {
                if (recipe_load(b->src, &b->rec, e) < 0)
                        return -1;
                b->have_recipe = true;
                if (recipe_check_files(&b->rec, e) < 0)
                        return -1;
                if (b->rec.bootstrap == BOOTSTRAP_DOCKER) {
                        b->from_docker = true;
                        b->docker_uri = recipe_docker_uri(&b->rec);
                        if (!b->docker_uri)
                                return err_set(e, "out of memory");
                        b->po.username = b->rec.username;
                        b->po.password = b->rec.password;
                        b->po.no_token = b->rec.no_token;
                } else {
                        b->base = b->rec.from;
                        if (stat(b->base, &st) < 0)
                                return err_errno(e, "%s:localimage From %s", b->rec.path, b->base);
                }
        } else if (b->kind == SRC_DOCKER) {
                b->from_docker = true;
                if (!(b->docker_uri = strdup(b->src)))
                        return err_set(e, "out of memory");
        } else {
                b->base = b->src;
        }
        if (!b->force && lstat(b->out, &st) == 0)
                return err_set(e, "%s already exists; use --force to overwrite it", b->out);
        if (b->have_recipe && needs_root(&b->rec) && geteuid() != 0 && !b->fakeroot)
                return err_set(e,
                               "%s has %s: building it needs root; run as root or add --fakeroot",
                               b->src, b->rec.sec[SEC_POST].present ? "%post" : "%setup");
        if (b->fakeroot && geteuid() == 0) {
                log_verbose("--fakeroot ignored: already root");
                b->fakeroot = false;
        }
        return 0;
}

/* ---- steps inside the pipeline ---- */

static int squash_step(void *arg, sing_err_t *e);
static int test_step(void *arg, sing_err_t *e);

static const char *config_arch_code(const struct pulled_image *img)
{
        json_object *root = json_tokener_parse(img->config_json), *a;
        const char *code = NULL;
        if (root && json_object_object_get_ex(root, "architecture", &a) &&
            json_object_is_type(a, json_type_string))
                code = sif_arch_code(json_object_get_string(a));
        json_object_put(root);
        return code;
}

static const char *base_arch_code(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        static struct image_info info;
        sing_err_t ignored;
        if (fd >= 0 && image_probe_fd(fd, &info, &ignored) == 0 && info.arch[0] &&
            strcmp(info.arch, "00") != 0)
                return info.arch;
        return NULL;
}

static int squash_step(void *arg, sing_err_t *e)
{
        struct build *b = arg;
        _cleanup_close_ int rootfd = open(b->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *deffile = NULL, *labels = NULL;
        size_t deflen = 0, labelslen = 0;
        struct sif_object objs[3];
        size_t n = 0;
        const char *arch = NULL;

        if (rootfd < 0)
                return err_errno(e, "cannot open %s", b->rootfs);
        /* The image's own metadata becomes the SIF's objects too. */
        if (sandbox_read_file(rootfd, ".singularity.d/Singularity", META_MAX_BYTES, &deffile,
                              &deflen, e) < 0 ||
            sandbox_read_file(rootfd, ".singularity.d/labels.json", META_MAX_BYTES, &labels,
                              &labelslen, e) < 0)
                return -1;
        if (deffile)
                objs[n++] = (struct sif_object){SIF_DATA_DEFFILE, "deffile", deffile, deflen};
        if (labels)
                objs[n++] = (struct sif_object){SIF_DATA_LABELS, "labels.json", labels, labelslen};
        if (b->have_img) {
                objs[n++] = (struct sif_object){SIF_DATA_GENERICJSON, "oci-config.json",
                                                b->img.config_json, b->img.config_len};
                arch = config_arch_code(&b->img);
        } else if (b->base) {
                arch = base_arch_code(b->base);
        }
        return sandbox_to_sif(b->rootfs, objs, n, arch, b->tmpsif, e);
}

static int test_step(void *arg, sing_err_t *e)
{
        struct build *b = arg;
        return run_script(b->rootfs, "test", b->rec.sec[SEC_TEST].body, SCRIPT_IN_ROOTFS_RO, e);
}

/* A normal user without --fakeroot does root-only steps as root of a user
 * namespace holding just their own ids. */
static int as_root(userns_fn fn, struct build *b, sing_err_t *e)
{
        if (geteuid() == 0)
                return fn(b, e);
        return userns_run_self(fn, b, e);
}

static int fill_rootfs(struct build *b, sing_err_t *e)
{
        if (b->from_docker) {
                const struct recipe_section *rs =
                    b->have_recipe ? &b->rec.sec[SEC_RUNSCRIPT] : NULL;
                struct metadata_opts mo = {
                    .recipe_runscript = rs && rs->present ? rs->body : NULL,
                    .include_cmd = b->have_recipe && b->rec.include_cmd,
                    .mtime = time(NULL),
                };
                return rootfs_from_layers(b->rootfs, &b->img, &mo, e);
        }
        struct stat st;
        if (stat(b->base, &st) < 0)
                return err_errno(e, "%s", b->base);
        if (S_ISDIR(st.st_mode))
                return rootfs_from_dir(b->base, b->rootfs, e);
        return rootfs_from_image(b->base, b->rootfs, e);
}

static int apply_recipe(struct build *b, sing_err_t *e)
{
        const struct recipe *r = &b->rec;
        _cleanup_close_ int rootfd = -1;
        if (r->sec[SEC_SETUP].present &&
            run_script(b->rootfs, "setup", r->sec[SEC_SETUP].body, SCRIPT_ON_HOST, e) < 0)
                return -1;
        rootfd = open(b->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return err_errno(e, "cannot open %s", b->rootfs);
        if (recipe_copy_files(r, rootfd, e) < 0)
                return -1;
        if (r->sec[SEC_POST].present &&
            run_script(b->rootfs, "post", r->sec[SEC_POST].body, SCRIPT_IN_ROOTFS, e) < 0)
                return -1;
        if (recipe_write_metadata(r, rootfd, r->bootstrap == BOOTSTRAP_LOCALIMAGE, e) < 0)
                return -1;
        if (r->sec[SEC_TEST].present) {
                if (b->notest)
                        log_info("Skipping %%test (--notest)");
                else if (as_root(test_step, b, e) < 0)
                        return -1;
        }
        return 0;
}

static int make_output(struct build *b, sing_err_t *e)
{
        if (b->sandbox) {
                /* The top directory follows the umask, as mkdir would: under
                 * umask 077 nobody else can look into the sandbox (the
                 * image's own modes inside it are kept). */
                mode_t um = umask(0);
                umask(um);
                if (chmod(b->rootfs, 0755 & ~um) < 0)
                        return err_errno(e, "%s", b->rootfs);
                return publish_output(b->rootfs, b->out, b->force, e);
        }
        if (asprintf(&b->tmpsif, "%s/image.sif", b->tmpdir) < 0) {
                b->tmpsif = NULL;
                return err_set(e, "out of memory");
        }
        tempfile_register(b->tmpsif);
        int rc = as_root(squash_step, b, e);
        if (rc == 0)
                rc = publish_output(b->tmpsif, b->out, b->force, e);
        if (rc < 0)
                unlink(b->tmpsif);
        tempfile_forget(b->tmpsif);
        return rc;
}

/* Everything after the download; in the --fakeroot namespace when asked. */
static int build_pipeline(void *arg, sing_err_t *e)
{
        struct build *b = arg;
        int rc = -1;

        /* docker -> SIF: one streaming pass, no sandbox on disk. */
        if (b->kind == SRC_DOCKER && !b->sandbox) {
                struct squash_settings sq;
                struct metadata_opts mo = {.mtime = time(NULL)};
                squash_settings_default(&sq);
                return convert_layers_to_sif(b->img.config_json, b->img.config_len,
                                             (const char *const *)b->img.layers, b->img.nlayers,
                                             &mo, &sq, b->out, b->force, e);
        }
        if (!b->tmpdir && !(b->tmpdir = make_build_dir(b->out, e)))
                return -1;
        if (b->kind == SRC_DIR && !b->sandbox) {
                /* sandbox -> SIF: squash the directory as it is. */
                b->rootfs_is_source = true;
                b->rootfs = strdup(b->src);
        } else if (asprintf(&b->rootfs, "%s/rootfs", b->tmpdir) < 0) {
                b->rootfs = NULL;
        }
        if (!b->rootfs) {
                err_set(e, "out of memory");
                goto out;
        }
        if (!b->rootfs_is_source && fill_rootfs(b, e) < 0)
                goto out;
        if (b->have_recipe && apply_recipe(b, e) < 0)
                goto out;
        rc = make_output(b, e);
out:
        if (remove_tree(b->tmpdir) < 0 && errno != ENOENT)
                log_warn("could not remove the temporary directory %s", b->tmpdir);
        return rc;
}

static void build_free(struct build *b)
{
        if (b->have_recipe)
                recipe_free(&b->rec);
        if (b->have_img)
                pulled_image_free(&b->img);
        free(b->docker_uri);
        free(b->tmpdir);
        free(b->rootfs);
        free(b->tmpsif);
}

int cmd_build(int argc, char **argv)
{
        static const struct option opts[] = {
            {"force", no_argument, NULL, 'F'},
            {"sandbox", no_argument, NULL, 's'},
            {"fakeroot", no_argument, NULL, 'f'},
            {"notest", no_argument, NULL, 'T'},
            {"arch", required_argument, NULL, 'a'},
            {"nohttps", no_argument, NULL, 'H'},
            {"disable-cache", no_argument, NULL, 'D'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        struct build b = {0};
        sing_err_t e;
        int opt, rc = 255;

        if (pull_opts_from_env(&b.po, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        while ((opt = getopt_long(argc, argv, "+FsTh", opts, NULL)) != -1) {
                switch (opt) {
                case 'F':
                        b.force = true;
                        break;
                case 's':
                        b.sandbox = true;
                        break;
                case 'f':
                        b.fakeroot = true;
                        break;
                case 'T':
                        b.notest = true;
                        break;
                case 'a':
                        b.po.arch = optarg;
                        break;
                case 'H':
                        b.po.nohttps = true;
                        break;
                case 'D':
                        b.po.cache.disable = true;
                        break;
                case 'h':
                        fputs(usage_build, stdout);
                        return 0;
                default:
                        fputs(usage_build, stderr);
                        return 255;
                }
        }
        if (optind != argc - 2) {
                log_error("build takes an output path and a source; see 'singularity help "
                          "build'");
                return 255;
        }
        b.out = argv[optind];
        b.src = argv[optind + 1];
        tempfile_install_handlers();
        if (prepare(&b, &e) < 0)
                goto out;
        temp_sweep_beside(b.out); /* a SIGKILLed build's partial SIF */
        log_verbose("building %s from %s %s", b.out, src_kind_name(b.kind), b.src);
        if (b.from_docker) {
                if (pull_fetch(b.docker_uri, &b.po, &b.img, &e) < 0)
                        goto out;
                b.have_img = true;
        }
        /* The temp dir is made here, before a --fakeroot build forks into its
         * user namespace, so that this process can remove it if interrupted. */
        if (!(b.tmpdir = make_build_dir(b.out, &e)))
                goto out;
        tempfile_register_dir(b.tmpdir);
        int built =
            b.fakeroot ? userns_run_fakeroot(build_pipeline, &b, &e) : build_pipeline(&b, &e);
        remove_tree(b.tmpdir);
        tempfile_forget_dir(b.tmpdir);
        if (built < 0)
                goto out;
        log_info("Build complete: %s", b.out);
        rc = 0;
out:
        if (rc != 0)
                log_error("%s", e.msg);
        build_free(&b);
        return rc;
}
