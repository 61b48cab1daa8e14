#include "no_mount.h"

#include <string.h>

static const struct {
        const char *name;
        unsigned bit;
} names[] = {
    {"proc", NO_MOUNT_PROC},     {"sys", NO_MOUNT_SYS},       {"dev", NO_MOUNT_DEV},
    {"devpts", NO_MOUNT_DEVPTS}, {"home", NO_MOUNT_HOME},     {"tmp", NO_MOUNT_TMP},
    {"cwd", NO_MOUNT_CWD},       {"hostfs", NO_MOUNT_HOSTFS}, {"bind-paths", NO_MOUNT_BIND_PATHS},
};

int no_mount_item(const char *item, unsigned *bits, sing_err_t *err)
{
        if (item[0] == '/')
                return 1;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (strcmp(item, names[i].name) == 0) {
                        *bits |= names[i].bit;
                        return 0;
                }
        }
        return err_set(err,
                       "--no-mount %s: expected proc, sys, dev, devpts, home, tmp, cwd, hostfs, "
                       "bind-paths or the absolute destination of a `bind path` entry",
                       item);
}
