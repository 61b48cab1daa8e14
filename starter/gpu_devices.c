/* The host's GPU devices, listed from the host's /dev (root's own
 * devtmpfs: nothing a user can add names to) before any namespace. */
#include "gpu_devices.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "log.h"

static bool wanted(const char *name, bool nv, bool rocm)
{
        if (nv && strncmp(name, "nvidia", 6) == 0)
                return true;
        return rocm && (strcmp(name, "kfd") == 0 || strcmp(name, "dri") == 0);
}

char **gpu_device_list(bool nv, bool rocm)
{
        _cleanup_closedir_ DIR *d = opendir("/dev");
        char **list = calloc(1, sizeof(*list));
        size_t n = 0;
        if (!list)
                die("out of memory");
        for (struct dirent *de; d && (de = readdir(d));) {
                struct stat st;
                if (!wanted(de->d_name, nv, rocm) ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !(S_ISCHR(st.st_mode) || S_ISDIR(st.st_mode)))
                        continue;
                char **grown = realloc(list, (n + 2) * sizeof(*list));
                if (!grown || asprintf(&grown[n], "/dev/%s", de->d_name) < 0)
                        die("out of memory");
                list = grown;
                list[++n] = NULL;
        }
        return list;
}
