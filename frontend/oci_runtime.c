#include "oci_runtime.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "sif.h"

#define CONFIG_MAX (1u << 20)

/* Append the strings of config[key] to out; a missing key is an empty
 * list. false when the value is not an array of NUL-free strings. */
static bool take_strings(json_object *cfg, const char *key, struct strv *out, int *oom)
{
        json_object *a;
        if (!cfg || !json_object_object_get_ex(cfg, key, &a) || !a)
                return true;
        if (!json_object_is_type(a, json_type_array))
                return false;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *s = json_object_array_get_idx(a, i);
                if (!json_object_is_type(s, json_type_string) ||
                    strlen(json_object_get_string(s)) != (size_t)json_object_get_string_len(s))
                        return false;
                if (strv_push(out, json_object_get_string(s)) < 0)
                        *oom = 1;
        }
        return true;
}

static char *read_config(int fd, const struct sif_file *sif)
{
        for (uint32_t i = 0; i < sif->ndesc; i++) {
                const struct sif_descriptor *d = &sif->desc[i];
                char *buf;
                if (d->datatype != SIF_DATA_GENERICJSON || strcmp(d->name, "oci-config.json") != 0)
                        continue;
                if (d->size <= 0 || d->size > CONFIG_MAX || !(buf = malloc((size_t)d->size + 1)))
                        return NULL;
                if (pread(fd, buf, (size_t)d->size, d->offset) != d->size) {
                        free(buf);
                        return NULL;
                }
                buf[d->size] = '\0';
                return buf;
        }
        return NULL;
}

int oci_runtime_read(const char *path, struct oci_runtime *out, sing_err_t *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        _cleanup_free_ char *text = NULL;
        struct sif_file sif;
        sing_err_t ignored;
        unsigned char magic[64];
        json_object *root, *cfg = NULL;
        int oom = 0;
        bool ok;

        memset(out, 0, sizeof(*out));
        if (fd < 0 || pread(fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
            !sif_has_magic(magic, sizeof(magic)) || sif_read_fd(fd, &sif, &ignored) < 0)
                return 0;
        text = read_config(fd, &sif);
        out->config_runscript = sif_find_first(&sif, SIF_DATA_DEFFILE) == NULL;
        sif_free(&sif);
        if (!text)
                return 0;
        root = json_tokener_parse(text);
        if (root && json_object_is_type(root, json_type_object))
                json_object_object_get_ex(root, "config", &cfg);
        if (cfg && !json_object_is_type(cfg, json_type_object))
                cfg = NULL;
        ok = root && take_strings(cfg, "Env", &out->env, &oom) &&
             take_strings(cfg, "Entrypoint", &out->entrypoint, &oom) &&
             take_strings(cfg, "Cmd", &out->cmd, &oom);
        json_object_put(root);
        if (oom) {
                oci_runtime_free(out);
                return err_set(e, "out of memory");
        }
        if (!ok) {
                log_debug("%s: the OCI config is not usable; ignoring it", path);
                oci_runtime_free(out);
                return 0;
        }
        out->found = true;
        return 0;
}

void oci_runtime_free(struct oci_runtime *o)
{
        strv_free(&o->env);
        strv_free(&o->entrypoint);
        strv_free(&o->cmd);
        o->found = false;
}

char *oci_config_read(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        struct sif_file sif;
        sing_err_t ignored;
        unsigned char magic[64];
        char *text;
        if (fd < 0 || pread(fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
            !sif_has_magic(magic, sizeof(magic)) || sif_read_fd(fd, &sif, &ignored) < 0)
                return NULL;
        text = read_config(fd, &sif);
        sif_free(&sif);
        return text;
}
