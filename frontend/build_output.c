/* The end of a build: squash a sandbox into a SIF, and move the finished
 * file or directory to OUT in one rename. */
#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "cleanup.h"
#include "pending_file.h"
#include "remove_tree.h"
#include "convert.h"
#include "log.h"
#include "sif.h"
#include "squash.h"
#include "tree_hint.h"

int sandbox_to_sif(const char *rootfs, const struct sif_object *objs, size_t nobjs,
                   const char *arch_code, const char *tmp, sing_err_t *e)
{
        struct squash_settings sq;
        uint64_t offset = sif_partition_offset(objs, nobjs), fs_size = 0;
        _cleanup_close_ int fd = -1;
        mode_t um;

        squash_settings_default(&sq);
        log_info("Creating SIF file...");
        if (squash_dir(rootfs, tmp, offset, sq.compressor, sq.level, sq.processors, &fs_size, e) <
            0)
                return -1;
        fd = open(tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return err_errno(e, "cannot reopen %s", tmp);
        if (sif_finalize(fd, objs, nobjs, offset, fs_size,
                         arch_code ? arch_code : sif_host_arch_code(), e) < 0)
                return -1;
        /* SIFs are executable, as Singularity's ("./image.sif" runs it). */
        um = umask(0);
        umask(um);
        if (fchmod(fd, 0777 & ~um) < 0)
                return err_errno(e, "cannot set the mode of %s", tmp);
        if (close(steal_fd(&fd)) < 0)
                return err_errno(e, "cannot write %s", tmp);
        return 0;
}

int publish_output(const char *tmp, const char *out, bool force, sing_err_t *e)
{
        struct stat old, new;
        if (lstat(tmp, &new) < 0)
                return err_errno(e, "%s", tmp);
        if (publish_rename(tmp, out, false, e) == 0)
                return 0;
        if (errno != EEXIST || !force)
                return -1; /* e says why, as for every image written */
        if (lstat(out, &old) < 0)
                return err_errno(e, "%s", out);
        if (S_ISDIR(old.st_mode)) {
                /* Swap, then remove the old tree from where the new one was. */
                if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_EXCHANGE) < 0)
                        return err_errno(e, "cannot replace %s", out);
                if (remove_tree(tmp) < 0)
                        log_warn("could not remove the old %s (now at %s)", out, tmp);
                return 0;
        }
        if (S_ISDIR(new.st_mode) && unlink(out) < 0)
                return err_errno(e, "cannot replace %s", out);
        return publish_rename(tmp, out, true, e);
}

char *make_build_dir(const char *out, sing_err_t *e)
{
        char *dir = cache_temp_path(out);
        if (!dir) {
                err_set(e, "out of memory");
                return NULL;
        }
        if (!mkdtemp(dir)) {
                err_errno(e, "cannot create a temporary directory beside %s", out);
                free(dir);
                return NULL;
        }
        tree_hint_spread(dir);
        return dir;
}
