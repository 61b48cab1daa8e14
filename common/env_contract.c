#include "env_contract.h"

#include <string.h>

const char *const env_files_skipped[] = {"99-runtimevars.sh", "95-apps.sh", NULL};
const char *const env_files_fixpath_after[] = {"10-docker2singularity.sh", "10-docker.sh", NULL};

bool env_file_listed(const char *const *list, const char *name)
{
        for (; *list; list++)
                if (strcmp(*list, name) == 0)
                        return true;
        return false;
}

bool env_file_name(const char *name)
{
        size_t n = strlen(name);
        return name[0] != '.' && n >= 3 && strcmp(name + n - 3, ".sh") == 0;
}
