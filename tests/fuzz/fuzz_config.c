/* libFuzzer harness for the singularity.conf parser (common/config.c), which
 * the setuid starter runs. The input is the file, held in a memfd. */
#include <string.h>

#include "config.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        fuzz_quiet_logs();
        return 0;
}

static void check_list(char **l, const char *what, int must_be_absolute)
{
        for (size_t i = 0; l && l[i]; i++) {
                FUZZ_ASSERT(l[i][0], "empty %s entry", what);
                FUZZ_ASSERT(!must_be_absolute || l[i][0] == '/', "%s entry \"%s\" is relative",
                            what, l[i]);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int fd = fuzz_memfd("fuzz-config", data, size);
        struct sing_config c;
        sing_err_t e;

        if (config_parse_fd(fd, "fuzz.conf", &c, &e) == 0) {
                FUZZ_ASSERT(c.bind_path, "bind_path is NULL");
                check_list(c.bind_path, "bind path", 1);
                check_list(c.limit_container_paths, "limit container paths", 1);
                check_list(c.limit_container_owners, "limit container owners", 0);
                check_list(c.limit_container_groups, "limit container groups", 0);
                FUZZ_ASSERT(c.mount_dev >= CONFIG_DEV_NO && c.mount_dev <= CONFIG_DEV_MINIMAL,
                            "mount dev %d", c.mount_dev);
                FUZZ_ASSERT(config_compressor_name(c.squashfs_compressor), "compressor %d",
                            c.squashfs_compressor);
        } else {
                FUZZ_ASSERT(e.msg[0] && !strchr(e.msg, '\n'), "error is not one line: %s", e.msg);
        }
        config_free(&c);
        close(fd);
        return 0;
}
