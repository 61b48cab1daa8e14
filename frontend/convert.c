#include "convert.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build_config.h"
#include "cache.h"
#include "cleanup.h"
#include "pending_file.h"
#include "config.h"
#include "fileio.h"
#include "layers.h"
#include "log.h"
#include "registry.h"
#include "sif_write.h"
#include "squash.h"
#include "tar_sink.h"
#include "tempfile.h"

void squash_settings_default(struct squash_settings *s)
{
        struct sing_config cfg;
        sing_err_t e;
        memset(s, 0, sizeof(*s));
        snprintf(s->compressor, sizeof(s->compressor), "zstd");
        s->level = 3;
        s->max_expansion = LAYERS_DEFAULT_EXPANSION;
        /* The frontend only reads compression settings here; a missing or broken
         * config falls back to the defaults (the starter is the strict reader).
         * The parser fills cfg itself, defaults first. */
        if (config_parse_file(SING_CONFIG_PATH, &cfg, &e) == 0) {
                const char *name = config_compressor_name(cfg.squashfs_compressor);
                if (name)
                        snprintf(s->compressor, sizeof(s->compressor), "%s", name);
                s->level = cfg.squashfs_compression_level;
                s->max_expansion = (unsigned)cfg.max_layer_expansion;
        } else {
                log_debug("using default squashfs settings: %s", e.msg);
        }
        config_free(&cfg);
}

int read_small_file(const char *path, size_t max, char **data, size_t *len, sing_err_t *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_errno(e, "cannot open %s", path);
        if (read_all_bounded(fd, max, data, len) == 0)
                return 0;
        if (errno == EFBIG)
                return err_set(e, "%s is larger than %zu bytes", path, max);
        return err_errno(e, "cannot read %s", path);
}

/* The SIF's architecture: the image's, else the host's. */
static const char *image_arch_code(const char *config_json)
{
        json_object *root = json_tokener_parse(config_json), *a;
        const char *code = NULL;
        if (root && json_object_object_get_ex(root, "architecture", &a) &&
            json_object_is_type(a, json_type_string))
                code = sif_arch_code(json_object_get_string(a));
        json_object_put(root);
        if (!code)
                code = sif_arch_code(host_goarch());
        return code ? code : "00";
}

static int squash_into(const char *tmp, uint64_t offset, const char *const *layers, size_t nlayers,
                       const struct synth_list *top, const struct synth_list *bottom,
                       const struct squash_settings *sq, const struct layer_wait *w,
                       uint64_t *fs_size, sing_err_t *e)
{
        struct squash_proc proc;
        struct merge_sink sink;
        int rc;
        sigset_t old;
        tempfile_block_signals(&old);
        if (squash_start(tmp, offset, sq->compressor, sq->level, sq->processors, &proc, e) < 0) {
                tempfile_restore_signals(&old);
                return -1;
        }
        tempfile_register_child(proc.pid);
        tempfile_restore_signals(&old);
        if (tar_sink_open(proc.fd, &sink, e) < 0) {
                squash_abort(&proc);
                tempfile_forget_child(proc.pid);
                return -1;
        }
        struct merge_opts mopts = {.max_expansion = sq->max_expansion};
        rc = layers_merge_waiting(layers, nlayers, top, bottom, &mopts, &sink, w, e);
        if (rc < 0) {
                /* Kill mksquashfs before the tar stream ends cleanly, or it would
                 * build a partial image from what it got. */
                pid_t pid = proc.pid;
                squash_abort_explained(&proc, e);
                tar_sink_close(&sink, NULL);
                tempfile_forget_child(pid);
                return -1;
        }
        if (tar_sink_close(&sink, e) < 0) {
                pid_t pid = proc.pid;
                squash_abort_explained(&proc, e);
                tempfile_forget_child(pid);
                return -1;
        }
        rc = squash_finish(&proc, fs_size, e);
        tempfile_forget_child(proc.pid);
        return rc;
}

int convert_layers_to_sif(const char *config_json, size_t config_len, const char *const *layers,
                          size_t nlayers, const struct metadata_opts *mo,
                          const struct squash_settings *sq, const char *out_path, bool force,
                          sing_err_t *e)
{
        return convert_layers_to_sif_waiting(config_json, config_len, layers, nlayers, mo, sq, NULL,
                                             out_path, force, e);
}

int convert_layers_to_sif_waiting(const char *config_json, size_t config_len,
                                  const char *const *layers, size_t nlayers,
                                  const struct metadata_opts *mo, const struct squash_settings *sq,
                                  const struct layer_wait *w, const char *out_path, bool force,
                                  sing_err_t *e)
{
        struct synth_list top = {0}, bottom = {0};
        struct sif_object objs[1] = {
            {.datatype = SIF_DATA_GENERICJSON,
             .name = "oci-config.json",
             .data = config_json,
             .len = config_len},
        };
        _cleanup_free_ char *tmp = cache_temp_path(out_path);
        _cleanup_close_ int fd = -1;
        uint64_t offset, fs_size = 0;
        mode_t um;
        int rc = -1;

        if (!tmp)
                return err_set(e, "out of memory");
        if (metadata_from_oci_config(config_json, config_len, mo, &top, &bottom, e) < 0)
                return err_prefix(e, "image config");
        /* Registered before it exists: a signal right after the create must
         * still find it. */
        tempfile_register(tmp);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                tempfile_forget(tmp);
                err_errno(e, "cannot create a file in the directory of %s", out_path);
                goto out_free;
        }
        /* mksquashfs writes into this path (no O_TMPFILE here): a named temp
         * with our pid, locked while we live, for the next run's temp_sweep. */
        temp_lock(fd);
        /* SIFs are executable ("./image.sif args" runs them), as Singularity's. */
        um = umask(0);
        umask(um);
        if (fchmod(fd, 0777 & ~um) < 0) {
                err_errno(e, "cannot set the mode of %s", tmp);
                goto out_unlink;
        }
        offset = sif_partition_offset(objs, 1);
        log_info("Creating SIF file...");
        if (squash_into(tmp, offset, layers, nlayers, &top, &bottom, sq, w, &fs_size, e) < 0)
                goto out_unlink;
        /* mksquashfs may have replaced the file: write the header through a
         * fresh descriptor of what is at the temp path now. */
        close(fd);
        fd = open(tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                err_errno(e, "cannot reopen %s", tmp);
                goto out_unlink;
        }
        temp_lock(fd);
        if (sif_finalize(fd, objs, 1, offset, fs_size, image_arch_code(config_json), e) < 0)
                goto out_unlink;
        if (close(fd) < 0) {
                fd = -1;
                err_errno(e, "cannot write %s", tmp);
                goto out_unlink;
        }
        fd = -1;
        if (publish_rename(tmp, out_path, force, e) < 0)
                goto out_unlink;
        tempfile_forget(tmp);
        rc = 0;
        goto out_free;
out_unlink:
        unlink(tmp);
        tempfile_forget(tmp);
out_free:
        synth_list_free(&top);
        synth_list_free(&bottom);
        return rc;
}
