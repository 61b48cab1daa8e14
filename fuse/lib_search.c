/* Library lookup in an image, as ld.so would do it (see lib_search.h). */
#include "lib_search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image_path.h"
#include "ld_cache.h"
#include "lib_dirs.h"

/* glibc's cache is ~30 KiB for a few thousand libraries. */
#define MAX_CACHE_BYTES (1u << 20)

void lib_search_init(struct lib_search *ls, sqfs *fs, uint16_t machine, unsigned *steps)
{
        memset(ls, 0, sizeof(*ls));
        ls->fs = fs;
        ls->machine = machine;
        ls->steps = steps;
}

void lib_search_free(struct lib_search *ls)
{
        free(ls->cache);
        ls->cache = NULL;
}

static void read_cache(struct lib_search *ls)
{
        ls->cache_read = true;
        sqfs_inode inode;
        if (image_path_resolve(ls->fs, "/etc/ld.so.cache", &inode, ls->steps) < 0 ||
            !S_ISREG(inode.base.mode) || inode.xtra.reg.file_size == 0 ||
            inode.xtra.reg.file_size > MAX_CACHE_BYTES)
                return;
        sqfs_off_t len = (sqfs_off_t)inode.xtra.reg.file_size;
        char *buf = malloc((size_t)len);
        if (buf && sqfs_read_range(ls->fs, &inode, 0, &len, buf) == SQFS_OK &&
            (uint64_t)len == inode.xtra.reg.file_size) {
                ls->cache = buf;
                ls->cache_len = (size_t)len;
        } else {
                free(buf);
        }
}

static int try_path(struct lib_search *ls, const char *candidate, sqfs_inode *inode, char *path,
                    size_t size)
{
        if (strlen(candidate) >= size ||
            image_path_resolve(ls->fs, candidate, inode, ls->steps) < 0 ||
            !S_ISREG(inode->base.mode))
                return -1;
        strcpy(path, candidate);
        return 0;
}

int lib_search_find(struct lib_search *ls, const char *name, sqfs_inode *inode, char *path,
                    size_t size)
{
        if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return -1;
        if (!ls->cache_read)
                read_cache(ls);
        char candidate[4096];
        int32_t flags = ld_cache_flags_for(ls->machine);
        if (ls->cache && flags >= 0 &&
            ld_cache_lookup(ls->cache, ls->cache_len, name, flags, candidate, sizeof(candidate)) &&
            try_path(ls, candidate, inode, path, size) == 0)
                return 0;
        /* ld.so's own directories (multiarch first). */
        for (unsigned i = 0;; i++) {
                int got = lib_default_path(ls->machine, i, name, candidate, sizeof(candidate));
                if (got == 0)
                        break;
                if (got > 0 && try_path(ls, candidate, inode, path, size) == 0)
                        return 0;
        }
        return -1;
}
