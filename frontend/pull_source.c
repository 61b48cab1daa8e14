/* pull from the sources of source.h: the layers of an archive or OCI layout
 * go through the same convert_layers_to_sif as a registry pull (pull.c);
 * sandboxes through the same merge into a directory as `build --sandbox`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "build.h"
#include "cache.h"
#include "cleanup.h"
#include "pending_file.h"
#include "remove_tree.h"
#include "convert.h"
#include "log.h"
#include "source.h"
#include "tempfile.h"

int source_fetch(const struct source *s, const struct pull_opts *o, const char *near,
                 struct pulled_image *img, sing_err_t *e)
{
        if (s->kind == SOURCE_DOCKER)
                return pull_fetch(s->uri, o, img, e);
        if (s->kind == SOURCE_HTTP)
                return err_set(e, "%s: a SIF file has no layers", s->uri);
        log_info("Reading %s", s->uri);
        return source_fetch_local(s, o->arch, near, img, e);
}

int pull_source_to_file(const struct source *s, const struct pull_opts *o, const char *out,
                        bool force, sing_err_t *e)
{
        struct pulled_image img;
        struct squash_settings sq;
        struct metadata_opts mo = {.mtime = time(NULL)};
        struct stat st;
        int rc;
        if (!force && lstat(out, &st) == 0)
                return publish_exists_error(out, e);
        if (s->kind == SOURCE_DOCKER)
                return pull_to_file(s->uri, o, out, force, e);
        if (s->kind == SOURCE_HTTP)
                return source_http_download(s, o, out, force, e);
        if (source_fetch(s, o, out, &img, e) < 0)
                return -1;
        mo.source_name = s->uri;
        mo.source_digest = img.digest;
        squash_settings_default(&sq);
        rc = convert_layers_to_sif(img.config_json, img.config_len, (const char *const *)img.layers,
                                   img.nlayers, &mo, &sq, out, force, e);
        if (rc == 0)
                log_info("Digest: %s", img.digest);
        source_image_free(&img);
        return rc;
}

int pull_source_to_sandbox(const struct source *s, const struct pull_opts *o, const char *out,
                           bool force, sing_err_t *e)
{
        struct pulled_image img;
        struct metadata_opts mo = {.mtime = time(NULL)};
        _cleanup_free_ char *tmpdir = NULL, *rootfs = NULL;
        struct stat st;
        int rc = -1;
        if (!force && lstat(out, &st) == 0)
                return publish_exists_error(out, e);
        if (s->kind == SOURCE_HTTP)
                return err_set(e,
                               "%s: a SIF file cannot be pulled as a sandbox; pull it, then "
                               "build --sandbox from it",
                               s->uri);
        if (source_fetch(s, o, out, &img, e) < 0)
                return -1;
        mo.source_name = s->uri;
        mo.source_digest = img.digest;
        if (!(tmpdir = make_build_dir(out, e)))
                goto out;
        tempfile_register_dir(tmpdir);
        if (asprintf(&rootfs, "%s/rootfs", tmpdir) < 0) {
                rootfs = NULL;
                err_set(e, "out of memory");
        } else if (rootfs_from_layers(rootfs, &img, &mo, e) == 0) {
                if (chmod(rootfs, 0755) < 0)
                        err_errno(e, "%s", rootfs);
                else
                        rc = publish_output(rootfs, out, force, e);
        }
        if (remove_tree(tmpdir) < 0 && errno != ENOENT)
                log_warn("could not remove the temporary directory %s", tmpdir);
        tempfile_forget_dir(tmpdir);
out:
        source_image_free(&img);
        return rc;
}
