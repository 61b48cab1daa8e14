/* Path resolution inside a squashfs image (see image_path.h). */
#include "image_path.h"

#include <string.h>
#include <sys/stat.h>

#define MAX_LINKS 40  /* as the kernel's MAXSYMLINKS */
#define MAX_DEPTH 128 /* directories deep */
#define PATH_BYTES 4096

int image_path_resolve(sqfs *fs, const char *path, sqfs_inode *inode, unsigned *steps)
{
        /* The directories walked so far, root first: ".." pops one. */
        sqfs_inode_id dirs[MAX_DEPTH];
        size_t depth = 1;
        dirs[0] = sqfs_inode_root(fs);
        /* What is left to walk; a symlink's target replaces the component
         * it came from. */
        char todo[PATH_BYTES], next[PATH_BYTES], target[PATH_BYTES];
        size_t len = strlen(path);
        if (len >= sizeof(todo))
                return -1;
        memcpy(todo, path, len + 1);
        const char *p = todo;
        int links = 0;
        sqfs_name namebuf;
        sqfs_dir_entry entry;
        for (;;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        return sqfs_inode_get(fs, inode, dirs[depth - 1]) == SQFS_OK ? 0 : -1;
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t)(slash - p) : strlen(p);
                const char *rest = p + n;
                if (n == 1 && p[0] == '.') {
                        p = rest;
                        continue;
                }
                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        if (depth > 1)
                                depth--;
                        p = rest;
                        continue;
                }
                sqfs_inode dir, child;
                bool found = false;
                sqfs_dentry_init(&entry, namebuf);
                if (*steps == 0)
                        return -1;
                --*steps;
                if (n > SQUASHFS_NAME_LEN || sqfs_inode_get(fs, &dir, dirs[depth - 1]) != SQFS_OK ||
                    !S_ISDIR(dir.base.mode) || dir.xtra.dir.dir_size > IMAGE_PATH_DIR_BYTES ||
                    sqfs_dir_lookup(fs, &dir, p, n, &entry, &found) != SQFS_OK || !found ||
                    sqfs_inode_get(fs, &child, sqfs_dentry_inode(&entry)) != SQFS_OK)
                        return -1;
                if (!S_ISLNK(child.base.mode)) {
                        if (depth == MAX_DEPTH)
                                return -1;
                        dirs[depth++] = sqfs_dentry_inode(&entry);
                        p = rest;
                        continue;
                }
                size_t tlen = sizeof(target);
                if (++links > MAX_LINKS || child.xtra.symlink_size >= sizeof(target) ||
                    sqfs_readlink(fs, &child, target, &tlen) != SQFS_OK)
                        return -1;
                tlen = strlen(target);
                size_t rlen = strlen(rest);
                if (tlen == 0 || tlen + rlen >= sizeof(next))
                        return -1;
                memcpy(next, target, tlen);
                memcpy(next + tlen, rest, rlen + 1);
                memcpy(todo, next, tlen + rlen + 1);
                if (todo[0] == '/')
                        depth = 1;
                p = todo;
        }
}
