/* singularity build [-F] [--sandbox] [--fakeroot] [--notest] OUT SRC
 *
 * Everything that can be refused is refused before any download: bad
 * recipe, missing %files source, existing OUT, %post without privileges.
 * Then the source is fetched (as the user, into the user's cache; a
 * one-stage recipe's docker layers only later, beside their merge) and the
 * rest runs in build_pipeline: directly as root or for simple builds, or in
 * a --fakeroot user namespace, so that extraction, %post and mksquashfs all
 * see the same (namespaced) owners. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "build_recipe.h"
#include "cache.h"
#include "build_epoch.h"
#include "cleanup.h"
#include "pending_file.h"
#include "remove_tree.h"
#include "commands.h"
#include "cred_options.h"
#include "convert.h"
#include "envopts.h"
#include "image.h"
#include "log.h"
#include "oci_runtime.h"
#include "program_path.h"
#include "pull.h"
#include "recipe.h"
#include "recipe_args.h"
#include "sif.h"
#include "source.h"
#include "tempfile.h"
#include "userns_map.h"

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
    "      --build-arg KEY=VALUE  value of {{ KEY }} in the definition file\n"
    "      --build-arg-file FILE  KEY=VALUE lines, for the same\n"
    "      --arch ARCH     architecture to pull for docker:// sources\n"
    "      --nohttps       use plain HTTP to talk to the registry\n"
    "      --disable-cache do not use or fill the cache\n"
    "      --docker-login  ask for the registry user name and password on the\n"
    "                      terminal (for this build only; never saved)\n"
    "      --authfile FILE read registry credentials from the Docker-style config\n"
    "                      FILE instead of ~/.docker/config.json\n"
    "  -h, --help          show this help\n"
    "\n"
    "Registry credentials: Username/Password in the definition file, else\n"
    "--docker-login, else SINGULARITY_DOCKER_USERNAME / SINGULARITY_DOCKER_PASSWORD,\n"
    "else --authfile FILE or ~/.docker/config.json. They are never stored in the\n"
    "image, and never sent over plain HTTP unless --nohttps is given.\n"
    "\n"
    "Environment: SINGULARITY_CACHEDIR, SINGULARITY_DISABLE_CACHE,\n"
    "SINGULARITY_NOHTTPS (each also as APPTAINER_).\n" ENVOPTS_BOOL_HELP "\n"
    "Examples:\n"
    "  singularity build ubuntu.sif docker://ubuntu:latest\n"
    "  singularity build --sandbox ubuntu/ docker://ubuntu:latest\n"
    "  sudo singularity build tools.sif tools.def\n"
    "  singularity build --fakeroot tools.sif tools.def\n"
    "  singularity build final.sif ubuntu/\n";

/* SRC_LAYERS: docker://, docker-archive:, oci:, oci-archive: (source.h). */
enum build_src_kind { SRC_LAYERS, SRC_HTTP, SRC_IMAGE, SRC_DIR, SRC_RECIPE };

struct build {
        const char *out;
        bool force, sandbox, fakeroot, notest;
        bool userns_self;       /* %post without subordinate ids: only our own ids mapped */
        struct build_args args; /* --build-arg, --build-arg-file */
        enum build_src_kind kind;
        const char *src;
        struct pull_opts po;
        struct recipe rec;
        bool have_recipe;
        /* What the rootfs comes from: layers (lsrc -> img) or a local image/dir (base). */
        bool from_layers;
        struct source lsrc;
        bool have_lsrc;
        const char *base;
        char *downloaded; /* an http(s) SIF fetched into tmpdir */
        /* Bootstrap docker: the base's SIF in the cache (pull's pipeline),
         * extracted into the rootfs, and the digest it resolved to. */
        char *cached_base, *base_digest;
        struct pulled_image img;
        bool have_img;
        /* Temp space beside OUT. */
        char *tmpdir, *rootfs, *tmpsif;
        bool rootfs_is_source; /* sandbox -> SIF: squash the source directly */
        /* Multi-stage recipes: the stages before the last (this one), each
         * built into a sandbox in tmpdir for "%files from". */
        struct build *stages;
        size_t nstages;
};

static const char *src_kind_name(enum build_src_kind k)
{
        switch (k) {
        case SRC_LAYERS:
                return "image layers";
        case SRC_HTTP:
                return "web server";
        case SRC_IMAGE:
                return "image";
        case SRC_DIR:
                return "sandbox";
        default:
                return "definition file";
        }
}

/* SRC: a source URI (source.h), a directory, an image file, else a
 * definition file. */
static int classify_source(struct build *b, sing_err_t *e)
{
        struct stat st;
        if (source_is_uri(b->src)) {
                if (source_parse(b->src, &b->lsrc, e) < 0)
                        return -1;
                b->have_lsrc = true;
                b->kind = b->lsrc.kind == SOURCE_HTTP ? SRC_HTTP : SRC_LAYERS;
                b->from_layers = b->kind == SRC_LAYERS;
                return 0;
        }
        if (strstr(b->src, "://"))
                return err_set(e,
                               "unsupported source \"%s\": use docker://, docker-archive:, "
                               "oci:, oci-archive:, http(s)://, an image, a sandbox directory or "
                               "a definition file",
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
        for (size_t i = 0; i < r->napps; i++)
                if (r->apps[i].sec[APP_INSTALL].present)
                        return true;
        return r->sec[SEC_POST].present || r->sec[SEC_SETUP].present;
}

/* A normal user's recipe with %post, without --fakeroot: as Apptainer 1.1+,
 * --fakeroot by itself when the user has subordinate ids (and the uidmap
 * helpers), else root of a user namespace mapping only the user's own ids.
 * %setup runs on the host: only root (or an explicit --fakeroot) runs it. */
static int choose_unprivileged_mode(struct build *b, sing_err_t *e)
{
        struct subid_ranges ranges;
        sing_err_t ignored;
        for (size_t i = 0; i <= b->nstages; i++)
                if ((i < b->nstages ? &b->stages[i].rec : &b->rec)->sec[SEC_SETUP].present)
                        return err_set(e,
                                       "%s has %%setup, which runs on the host as root: build it "
                                       "as root, or with an explicit --fakeroot",
                                       b->src);
        if (subid_ranges_get(&ranges, &ignored) == 0) {
                log_info("%%post needs root: building with --fakeroot (your /etc/subuid and "
                         "/etc/subgid ranges)");
                b->fakeroot = true;
                return 0;
        }
        log_warn("%%post needs root and you have no /etc/subuid and /etc/subgid ranges (or no "
                 "newuidmap): building as root of a user namespace that maps only your own ids. "
                 "%%post cannot chown files to other users or groups there (package managers "
                 "that do will fail) and files of other owners in the image become yours; ask "
                 "for subordinate ids for a full --fakeroot build");
        b->userns_self = true;
        return 0;
}

/* What a recipe (one stage) builds on, checked before any download. */
static int recipe_source(struct build *b, sing_err_t *e)
{
        struct stat st;
        if (recipe_check_files(&b->rec, e) < 0)
                return -1;
        if (b->rec.bootstrap == BOOTSTRAP_LOCALIMAGE) {
                b->base = b->rec.from;
                if (stat(b->base, &st) < 0)
                        return err_errno(e, "%s:localimage From %s", b->rec.path, b->base);
                return 0;
        }
        _cleanup_free_ char *uri =
            b->rec.bootstrap == BOOTSTRAP_DOCKER
                ? recipe_docker_uri(&b->rec)
                : source_uri_for_bootstrap((enum source_kind)source_kind_for_bootstrap(
                                               recipe_bootstrap_name(b->rec.bootstrap)),
                                           b->rec.from);
        if (!uri)
                return err_set(e, "out of memory");
        if (source_parse(uri, &b->lsrc, e) < 0)
                return err_prefix(e, "%s: From", b->rec.path);
        b->have_lsrc = true;
        b->from_layers = true;
        b->po.username = b->rec.username;
        b->po.password = b->rec.password;
        b->po.no_token = b->rec.no_token;
        if (b->rec.registry_http)
                b->po.nohttps = true;
        return 0;
}

/* The recipe's stages: the last is b's, the others become b->stages. */
static int load_stages(struct build *b, sing_err_t *e)
{
        struct recipe *v = NULL;
        size_t n = 0;
        if (recipe_load_stages(b->src, &b->args, &v, &n, e) < 0)
                return -1;
        b->rec = v[n - 1];
        b->have_recipe = true;
        if (n > 1 && !(b->stages = calloc(n - 1, sizeof(*b->stages)))) {
                for (size_t i = 0; i < n - 1; i++)
                        recipe_free(&v[i]);
                free(v);
                return err_set(e, "out of memory");
        }
        for (size_t i = 0; i + 1 < n; i++) {
                struct build *st = &b->stages[i];
                st->rec = v[i];
                st->have_recipe = true;
                st->kind = SRC_RECIPE;
                st->src = b->src;
                st->po = b->po;
                st->notest = b->notest;
                st->sandbox = true;
        }
        b->nstages = n - 1;
        free(v);
        return 0;
}

static bool any_needs_root(const struct build *b)
{
        for (size_t i = 0; i < b->nstages; i++)
                if (needs_root(&b->stages[i].rec))
                        return true;
        return b->have_recipe && needs_root(&b->rec);
}

/* All the checks that need no download. */
static int prepare(struct build *b, sing_err_t *e)
{
        struct stat st;
        if (classify_source(b, e) < 0)
                return -1;
        if (b->kind == SRC_RECIPE) {
                if (load_stages(b, e) < 0)
                        return -1;
                for (size_t i = 0; i < b->nstages; i++)
                        if (recipe_source(&b->stages[i], e) < 0)
                                return -1;
                if (recipe_source(b, e) < 0)
                        return -1;
        } else if (b->kind == SRC_IMAGE || b->kind == SRC_DIR) {
                b->base = b->src;
        }
        if (!b->force && lstat(b->out, &st) == 0)
                return publish_exists_error(b->out, e);
        if (any_needs_root(b) && geteuid() != 0 && !b->fakeroot &&
            choose_unprivileged_mode(b, e) < 0)
                return -1;
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
        _cleanup_free_ char *deffile = NULL, *labels = NULL, *ocicfg = NULL;
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
        } else if (b->cached_base) {
                /* The pulled base's OCI config goes on with the image. */
                if ((ocicfg = oci_config_read(b->cached_base)))
                        objs[n++] = (struct sif_object){SIF_DATA_GENERICJSON, "oci-config.json",
                                                        ocicfg, strlen(ocicfg)};
                arch = base_arch_code(b->base);
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
        if (b->from_layers) {
                const struct recipe_section *rs =
                    b->have_recipe ? &b->rec.sec[SEC_RUNSCRIPT] : NULL;
                struct metadata_opts mo = {
                    .recipe_runscript = rs && rs->present ? rs->body : NULL,
                    .include_cmd = b->have_recipe && b->rec.include_cmd,
                    .mtime = time(NULL),
                };
                /* As a pulled SIF has them, so that labels.json comes out
                 * the same (keys in the same order) whether a docker base
                 * was taken from the SIF cache or from its layers; the
                 * recipe's labels set the final values. */
                if (b->have_recipe && b->lsrc.kind == SOURCE_DOCKER) {
                        mo.source_name = b->lsrc.uri;
                        mo.source_digest = b->img.digest;
                }
                return rootfs_from_layers(b->rootfs, &b->img, &mo, e);
        }
        struct stat st;
        if (stat(b->base, &st) < 0)
                return err_errno(e, "%s", b->base);
        if (S_ISDIR(st.st_mode))
                return rootfs_from_dir(b->base, b->rootfs, e);
        return rootfs_from_image(b->base, b->rootfs, e);
}

/* "%files from NAME": the sandbox of the stage called NAME. */
static const char *stage_root(const struct build *top, const char *name)
{
        for (size_t i = 0; i < top->nstages; i++)
                if (top->stages[i].rec.stage && !strcmp(top->stages[i].rec.stage, name))
                        return top->stages[i].rootfs;
        return NULL;
}

static int apply_recipe(struct build *b, const struct build *top, sing_err_t *e)
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
        for (size_t i = 0; i < r->nfiles_from; i++) {
                const char *root = stage_root(top, r->files_from[i].stage);
                if (!root)
                        return err_set(e, "%s:%u: stage %s was not built", r->path,
                                       r->files_from[i].sec.line, r->files_from[i].stage);
                if (recipe_copy_files_from(r, i, root, rootfd, e) < 0)
                        return -1;
        }
        if (recipe_write_apps(r, rootfd, e) < 0)
                return -1;
        if (r->sec[SEC_POST].present &&
            run_script(b->rootfs, "post", r->sec[SEC_POST].body, SCRIPT_IN_ROOTFS, e) < 0)
                return -1;
        if (recipe_run_appinstall(r, b->rootfs, e) < 0)
                return -1;
        if (recipe_write_metadata(r, rootfd, r->bootstrap == BOOTSTRAP_LOCALIMAGE || b->cached_base,
                                  b->have_lsrc ? b->lsrc.uri : b->base,
                                  b->have_img ? b->img.digest : b->base_digest, e) < 0)
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
        /* Earlier stages first, each into its own sandbox in tmpdir. */
        for (size_t i = 0; i < b->nstages; i++) {
                struct build *st = &b->stages[i];
                if (asprintf(&st->rootfs, "%s/stage-%zu", b->tmpdir, i + 1) < 0) {
                        st->rootfs = NULL;
                        err_set(e, "out of memory");
                        goto out;
                }
                st->tmpdir = b->tmpdir;
                log_info("Building stage %zu/%zu%s%s", i + 1, b->nstages + 1,
                         st->rec.stage ? ": " : "", st->rec.stage ? st->rec.stage : "");
                if (fill_rootfs(st, e) < 0 || apply_recipe(st, b, e) < 0)
                        goto out;
        }
        if (b->nstages)
                log_info("Building the final stage%s%s", b->rec.stage ? ": " : "",
                         b->rec.stage ? b->rec.stage : "");
        if (!b->rootfs_is_source && fill_rootfs(b, e) < 0)
                goto out;
        if (b->have_recipe && apply_recipe(b, b, e) < 0)
                goto out;
        rc = make_output(b, e);
out:
        if (remove_tree(b->tmpdir) < 0 && errno != ENOENT)
                log_warn("could not remove the temporary directory %s", b->tmpdir);
        return rc;
}

/* The base of a recipe (one stage) before the build forks into a user
 * namespace. Bootstrap docker looks in the SIF cache first: a base the
 * user already pulled, ran or built is there, and extracting its SIF costs
 * less than a download, with no conversion. On a miss nothing is converted
 * (a SIF only to unsquash it again would double the build): the layers of
 * the manifest that lookup resolved are fetched into the blob cache and
 * merged straight into the rootfs, so a later pull of the same reference
 * downloads nothing and only converts. With `defer` (a one-stage recipe)
 * they download in the build process while it merges them, as a pull's
 * do; a multi-stage recipe fetches every stage's layers here, so that a
 * later stage's registry error comes before the earlier stages' %post.
 * IncludeCmd (a runscript made from the config with the recipe's rules)
 * and a disabled cache always take the layers. `build OUT docker://REF`
 * without a recipe is a pull (cmd_build) and goes through the SIF cache. */
static int fetch_base(struct build *b, const char *out, bool defer, sing_err_t *e)
{
        if (!b->from_layers)
                return 0;
        if (b->have_recipe && b->lsrc.kind == SOURCE_DOCKER && !b->rec.include_cmd &&
            !b->po.cache.disable) {
                if (pull_cached_or_blobs(b->lsrc.uri, &b->po, defer, &b->cached_base,
                                         &b->base_digest, &b->img, e) < 0)
                        return -1;
                if (b->cached_base) {
                        b->base = b->cached_base;
                        b->from_layers = false;
                } else {
                        b->have_img = true;
                }
                return 0;
        }
        if (source_fetch(&b->lsrc, &b->po, out, &b->img, e) < 0)
                return -1;
        b->have_img = true;
        return 0;
}

static void build_free(struct build *b)
{
        for (size_t i = 0; i < b->nstages; i++) {
                b->stages[i].tmpdir = NULL; /* borrowed from b */
                build_free(&b->stages[i]);
        }
        free(b->stages);
        if (b->have_recipe)
                recipe_free(&b->rec);
        if (b->have_img)
                source_image_free(&b->img);
        if (b->have_lsrc)
                source_free(&b->lsrc);
        free(b->downloaded);
        free(b->cached_base);
        free(b->base_digest);
        build_args_free(&b->args);
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
            {"build-arg", required_argument, NULL, 'A'},
            {"build-arg-file", required_argument, NULL, 'B'},
            {"arch", required_argument, NULL, 'a'},
            {"nohttps", no_argument, NULL, 'H'},
            {"disable-cache", no_argument, NULL, 'D'},
            {"docker-login", no_argument, NULL, CRED_OPT_DOCKER_LOGIN},
            {"authfile", required_argument, NULL, CRED_OPT_AUTHFILE},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        struct build b = {0};
        struct cred_options co = {0};
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
                case 'A':
                        if (build_args_add(&b.args, optarg, "--build-arg", &e) < 0)
                                goto out;
                        break;
                case 'B':
                        if (build_args_add_file(&b.args, optarg, &e) < 0)
                                goto out;
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
                case CRED_OPT_DOCKER_LOGIN:
                case CRED_OPT_AUTHFILE:
                        cred_options_take(&co, opt, optarg);
                        break;
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
        if (build_epoch_set(envopt_plain("SOURCE_DATE_EPOCH"), &e) < 0)
                goto out;
        if (cred_options_apply(&co, &b.po.creds, &e) < 0)
                goto out;
        if (prepare(&b, &e) < 0)
                goto out;
        temp_sweep_beside(b.out); /* a SIGKILLed build's partial SIF */
        log_verbose("building %s from %s %s", b.out, src_kind_name(b.kind), b.src);
        /* An image to a SIF, no recipe: what pull does (for docker:// the
         * overlapped download/merge/squash and the SIF cache); a SIF from a
         * web server is taken as it is. */
        if ((b.kind == SRC_HTTP || b.kind == SRC_LAYERS) && !b.sandbox) {
                if (pull_source_to_file(&b.lsrc, &b.po, b.out, b.force, &e) < 0)
                        goto out;
                log_info("Build complete: %s", b.out);
                rc = 0;
                goto out;
        }
        for (size_t i = 0; i < b.nstages; i++)
                if (fetch_base(&b.stages[i], b.out, false, &e) < 0)
                        goto out;
        if (fetch_base(&b, b.out, b.nstages == 0, &e) < 0)
                goto out;
        /* The temp dir is made here, before a --fakeroot build forks into its
         * user namespace, so that this process can remove it if interrupted. */
        if (!(b.tmpdir = make_build_dir(b.out, &e)))
                goto out;
        tempfile_register_dir(b.tmpdir);
        if (b.kind == SRC_HTTP) {
                if (asprintf(&b.downloaded, "%s/download.sif", b.tmpdir) < 0) {
                        b.downloaded = NULL;
                        err_set(&e, "out of memory");
                } else if (source_http_download(&b.lsrc, &b.po, b.downloaded, false, &e) == 0) {
                        b.base = b.downloaded;
                }
                if (!b.base) {
                        remove_tree(b.tmpdir);
                        tempfile_forget_dir(b.tmpdir);
                        goto out;
                }
        }
        int built = b.fakeroot      ? userns_run_fakeroot(build_pipeline, &b, &e)
                    : b.userns_self ? userns_run_self(build_pipeline, &b, &e)
                                    : build_pipeline(&b, &e);
        remove_tree(b.tmpdir);
        tempfile_forget_dir(b.tmpdir);
        if (built < 0)
                goto out;
        log_info("Build complete: %s", b.out);
        rc = 0;
out:
        if (rc != 0)
                log_error("%s", e.msg);
        cred_options_free(&co);
        build_free(&b);
        return rc;
}
