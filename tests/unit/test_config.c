/* singularity.conf parsing: defaults, every directive, list handling, errors
 * with FILE:LINE, size limits, and that the shipped file parses to the
 * defaults (its path is argv[1]). */
#include "check.h"
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[] = "/tmp/test_config.XXXXXX";

static void write_file(const char *text)
{
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        if (f) {
                fputs(text, f);
                fclose(f);
        }
}

static int parse(const char *text, struct sing_config *c, sing_err_t *e)
{
        write_file(text);
        return config_parse_file(path, c, e);
}

static size_t list_len(char **l)
{
        size_t n = 0;
        while (l && l[n])
                n++;
        return n;
}

static void check_defaults(const struct sing_config *c)
{
        CHECK(c->allow_setuid);
        CHECK(c->max_loop_devices == 256);
        CHECK(!c->shared_loop_devices);
        CHECK(c->allow_pid_ns);
        CHECK(c->config_passwd && c->config_group && c->config_resolv_conf);
        CHECK(c->mount_proc && c->mount_sys);
        CHECK(c->mount_dev == CONFIG_DEV_YES);
        CHECK(c->mount_devpts && c->mount_home && c->mount_tmp);
        CHECK(!c->mount_hostfs);
        CHECK(list_len(c->bind_path) == 2);
        if (list_len(c->bind_path) == 2) {
                CHECK_STR(c->bind_path[0], "/etc/localtime");
                CHECK_STR(c->bind_path[1], "/etc/hosts");
        }
        CHECK(c->user_bind_control);
        CHECK(c->enable_overlay == CONFIG_OVERLAY_TRY);
        CHECK(c->mount_slave);
        CHECK(c->sessiondir_max_size == 64);
        CHECK(c->limit_container_owners == NULL);
        CHECK(c->limit_container_groups == NULL);
        CHECK(c->limit_container_paths == NULL);
        CHECK(c->allow_container_sif && c->allow_container_squashfs && c->allow_container_dir);
        CHECK(c->allow_setuid_mount_squashfs == CONFIG_SETUID_MOUNT_IFLIMITED);
        CHECK(!config_setuid_kernel_squashfs(c)); /* iflimited, and no limit set */
        CHECK(c->seccomp_profile == NULL);
        CHECK(c->squashfs_compressor == CONFIG_COMP_ZSTD);
        CHECK(c->squashfs_compression_level == 3);
        CHECK(c->squashfs_mount_linger == 0);
}

/* Every directive set away from its default. */
static const char all_set[] = "# every directive, none at its default\n"
                              "\n"
                              "allow setuid = no\n"
                              "max loop devices = 17\n"
                              "shared loop devices = yes\n"
                              "squashfs mount linger = 600\n"
                              "allow pid ns = no\n"
                              "config passwd = no\n"
                              "config group = NO\n"
                              "config resolv_conf = no\n"
                              "mount proc = no\n"
                              "mount sys = no\n"
                              "mount dev = minimal\n"
                              "mount devpts = no\n"
                              "mount home = no\n"
                              "mount tmp = no\n"
                              "mount hostfs = yes\n"
                              "bind path = /opt\n"
                              "bind path = /data:/mnt/data, /scratch\n"
                              "user bind control = no\n"
                              "enable overlay = no\n"
                              "mount slave = no\n"
                              "sessiondir max size = 1024\n"
                              "limit container owners = root, alice\n"
                              "limit container owners = bob\n"
                              "limit container groups = hpc\n"
                              "limit container paths = /opt/containers, /scratch/c/\n"
                              "allow container sif = no\n"
                              "allow container squashfs = no\n"
                              "allow container dir = no\n"
                              "allow setuid-mount squashfs = yes\n"
                              "seccomp profile = /etc/sec/profile.json\n"
                              "squashfs compressor = gzip\n"
                              "squashfs compression level = 6\n";

static void check_all_set(void)
{
        struct sing_config c;
        sing_err_t e = {0};

        if (parse(all_set, &c, &e) != 0) {
                fprintf(stderr, "all_set: %s\n", e.msg);
                check_failures++;
                config_free(&c);
                return;
        }
        CHECK(!c.allow_setuid);
        CHECK(c.max_loop_devices == 17);
        CHECK(c.shared_loop_devices);
        CHECK(c.squashfs_mount_linger == 600);
        CHECK(!c.allow_pid_ns);
        CHECK(!c.config_passwd && !c.config_group && !c.config_resolv_conf);
        CHECK(!c.mount_proc && !c.mount_sys);
        CHECK(c.mount_dev == CONFIG_DEV_MINIMAL);
        CHECK(!c.mount_devpts && !c.mount_home && !c.mount_tmp);
        CHECK(c.mount_hostfs);
        CHECK(list_len(c.bind_path) == 3);
        if (list_len(c.bind_path) == 3) {
                CHECK_STR(c.bind_path[0], "/opt");
                CHECK_STR(c.bind_path[1], "/data:/mnt/data");
                CHECK_STR(c.bind_path[2], "/scratch");
        }
        CHECK(!c.user_bind_control);
        CHECK(c.enable_overlay == CONFIG_OVERLAY_NO);
        CHECK(!c.mount_slave);
        CHECK(c.sessiondir_max_size == 1024);
        CHECK(list_len(c.limit_container_owners) == 3);
        if (list_len(c.limit_container_owners) == 3) {
                CHECK_STR(c.limit_container_owners[0], "root");
                CHECK_STR(c.limit_container_owners[1], "alice");
                CHECK_STR(c.limit_container_owners[2], "bob");
        }
        CHECK(list_len(c.limit_container_groups) == 1);
        if (c.limit_container_groups)
                CHECK_STR(c.limit_container_groups[0], "hpc");
        CHECK(list_len(c.limit_container_paths) == 2);
        if (list_len(c.limit_container_paths) == 2) {
                CHECK_STR(c.limit_container_paths[0], "/opt/containers");
                CHECK_STR(c.limit_container_paths[1], "/scratch/c/");
        }
        CHECK(!c.allow_container_sif && !c.allow_container_squashfs && !c.allow_container_dir);
        CHECK(c.allow_setuid_mount_squashfs == CONFIG_SETUID_MOUNT_YES);
        CHECK(config_setuid_kernel_squashfs(&c));
        CHECK_STR(c.seccomp_profile, "/etc/sec/profile.json");
        CHECK(c.squashfs_compressor == CONFIG_COMP_GZIP);
        CHECK_STR(config_compressor_name(c.squashfs_compressor), "gzip");
        CHECK(c.squashfs_compression_level == 6);
        config_free(&c);
        CHECK(c.bind_path == NULL);
}

/* Input that must parse, and a check of one field. */
static void check_small_cases(void)
{
        struct sing_config c;
        sing_err_t e = {0};

        /* Blanks and tabs around keys and values, CRLF, no final newline. */
        CHECK(parse("  \t# indented comment\n\tmount   home\t=\tno  \r\nmount dev=no", &c, &e) ==
              0);
        CHECK(!c.mount_home && c.mount_dev == CONFIG_DEV_NO);
        config_free(&c);

        /* iflimited: the kernel driver once any limit container option is set. */
        CHECK(parse("limit container groups = hpc\n", &c, &e) == 0);
        CHECK(config_setuid_kernel_squashfs(&c));
        config_free(&c);
        /* `no` with a limit: the limit could not be enforced, so refused. */
        CHECK(parse("limit container paths = /opt\nallow setuid-mount squashfs = no\n", &c, &e) ==
              -1);
        CHECK(strstr(e.msg, ":2: \"allow setuid-mount squashfs = no\" cannot enforce") != NULL);
        config_free(&c); /* a failed parse leaves the defaults */
        CHECK(parse("allow setuid-mount squashfs = no\n", &c, &e) == 0);
        CHECK(!config_setuid_kernel_squashfs(&c));
        config_free(&c);
        CHECK(parse("allow setuid-mount squashfs = IfLimited\nseccomp profile =\n", &c, &e) == 0);
        CHECK(c.allow_setuid_mount_squashfs == CONFIG_SETUID_MOUNT_IFLIMITED);
        CHECK(c.seccomp_profile == NULL);
        config_free(&c);

        /* Overlay choices. */
        CHECK(parse("enable overlay = yes\n", &c, &e) == 0);
        CHECK(c.enable_overlay == CONFIG_OVERLAY_YES);
        config_free(&c);

        /* Empty bind path clears the built-in list. */
        CHECK(parse("bind path =\n", &c, &e) == 0);
        CHECK(c.bind_path != NULL && list_len(c.bind_path) == 0);
        config_free(&c);

        /* The level follows the compressor when not given. */
        CHECK(parse("squashfs compressor = gzip\n", &c, &e) == 0);
        CHECK(c.squashfs_compression_level == 9);
        config_free(&c);
        CHECK(parse("squashfs compressor = xz\n", &c, &e) == 0);
        CHECK(c.squashfs_compression_level == 0);
        CHECK_STR(config_compressor_name(c.squashfs_compressor), "xz");
        config_free(&c);
        CHECK(parse("squashfs compression level = 22\n", &c, &e) == 0);
        CHECK(c.squashfs_compression_level == 22);
        config_free(&c);

        /* An empty file is all defaults. */
        CHECK(parse("", &c, &e) == 0);
        check_defaults(&c);
        config_free(&c);
}

static const struct {
        const char *text, *msg; /* msg follows "<path>:" */
} bad_cases[] = {
    {"allow setuid = maybe\n",
     "1: invalid value \"maybe\" for \"allow setuid\" (expected yes or no)"},
    {"\n# x\nfoo bar = yes\n", "3: unknown directive \"foo bar\""},
    {"Allow setuid = yes\n", "1: unknown directive \"Allow setuid\""},
    {"allow setuid yes\n", "1: expected \"key = value\""},
    {"allow setuid =\n", "1: invalid value \"\" for \"allow setuid\" (expected yes or no)"},
    {"allow setuid = yes # comment\n", "1: invalid value \"yes # comment\""},
    {"allow setuid = yes\nallow setuid = no\n", "2: \"allow setuid\" already set on line 1"},
    {"max loop devices = -1\n",
     "1: invalid value \"-1\" for \"max loop devices\" (expected a number from 1 to 1048576)"},
    {"max loop devices = 0\n", "1: invalid value \"0\""},
    {"squashfs mount linger = 601\n",
     "1: invalid value \"601\" for \"squashfs mount linger\" (expected a number from 0 to 600)"},
    {"squashfs mount linger = -1\n", "1: invalid value \"-1\""},
    {"max loop devices = 12abc\n", "1: invalid value \"12abc\""},
    {"max loop devices = 0x10\n", "1: invalid value \"0x10\""},
    {"max loop devices = +5\n", "1: invalid value \"+5\""},
    {"max loop devices = 99999999999999999999\n", "1: invalid value \"99999999999999999999\""},
    {"sessiondir max size = ten\n", "1: invalid value \"ten\" for \"sessiondir max size\""},
    {"mount dev = sometimes\n",
     "1: invalid value \"sometimes\" for \"mount dev\" (expected no, yes or minimal)"},
    {"enable overlay = maybe\n", "(expected no, yes or try)"},
    {"squashfs compressor = bzip2\n", "(expected zstd, gzip, xz, lz4 or lzo)"},
    {"squashfs compression level = 23\n", "1: invalid value \"23\""},
    {"squashfs compressor = gzip\nsquashfs compression level = 15\n",
     "2: invalid value \"15\" for \"squashfs compression level\" (expected 1 to 9 for gzip)"},
    {"squashfs compression level = 3\nsquashfs compressor = lz4\n",
     "1: invalid value \"3\" for \"squashfs compression level\" (lz4 takes no level)"},
    {"limit container paths = relative/path\n",
     "1: invalid value \"relative/path\" for \"limit container paths\""},
    {"limit container paths = /ok, relative\n", "1: invalid value \"relative\""},
    {"limit container paths = /a/../etc\n", "1: invalid value \"/a/../etc\""},
    {"limit container paths = /a/./b\n", "1: invalid value \"/a/./b\""},
    {"limit container paths = /a,,/b\n", "1: invalid value \"\""},
    {"limit container paths =\n", "1: invalid value \"\" for \"limit container paths\""},
    {"limit container owners = alice bob\n", "1: invalid value \"alice bob\""},
    {"limit container owners = -rf\n", "1: invalid value \"-rf\""},
    {"limit container groups = a/b\n", "1: invalid value \"a/b\""},
    {"bind path = etc/hosts\n", "1: invalid value \"etc/hosts\" for \"bind path\""},
    {"bind path = /etc/hosts:relative\n", "1: invalid value \"/etc/hosts:relative\""},
    {"bind path = /a:/b:/c\n", "1: invalid value \"/a:/b:/c\""},
    {"bind path = /a:\n", "1: invalid value \"/a:\""},
    {"bind path = /ok\nbind path = /x/..\n", "2: invalid value \"/x/..\""},
    {"allow setuid-mount squashfs = sometimes\n",
     "1: invalid value \"sometimes\" for \"allow setuid-mount squashfs\" (expected no, yes or "
     "iflimited)"},
    {"allow setuid-mount squashfs = no\nallow setuid-mount squashfs = yes\n",
     "2: \"allow setuid-mount squashfs\" already set on line 1"},
    {"seccomp profile = relative.json\n",
     "1: invalid value \"relative.json\" for \"seccomp profile\""},
    {"seccomp profile = /a/../b.json\n", "1: invalid value \"/a/../b.json\""},
};

static void check_errors(void)
{
        struct sing_config c;
        sing_err_t e = {0};
        char want[512];
        size_t i;

        for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
                int rc = parse(bad_cases[i].text, &c, &e);
                CHECK(rc == -1);
                if (rc == 0) {
                        fprintf(stderr, "accepted: %s", bad_cases[i].text);
                } else {
                        if (bad_cases[i].msg[0] == '(')
                                snprintf(want, sizeof(want), "%s", bad_cases[i].msg);
                        else
                                snprintf(want, sizeof(want), "%s:%s", path, bad_cases[i].msg);
                        if (!strstr(e.msg, want)) {
                                fprintf(stderr, "message \"%s\" lacks \"%s\"\n", e.msg, want);
                                check_failures++;
                        }
                        CHECK(strchr(e.msg, '\n') == NULL);
                        /* A failed parse leaves the defaults, never half a file. */
                        check_defaults(&c);
                }
                config_free(&c);
        }
}

static void check_limits(void)
{
        struct sing_config c;
        sing_err_t e = {0};
        char *big;
        FILE *f;
        size_t i;

        /* A line of exactly 4096 bytes is fine (a comment), 4097 is not. */
        big = malloc(CONFIG_MAX_FILE_SIZE + 2);
        CHECK(big != NULL);
        if (!big)
                return;
        memset(big, ' ', CONFIG_MAX_LINE_LEN);
        big[0] = '#';
        strcpy(big + CONFIG_MAX_LINE_LEN, "\nmount tmp = no\n");
        CHECK(parse(big, &c, &e) == 0);
        CHECK(!c.mount_tmp);
        config_free(&c);
        memset(big, ' ', CONFIG_MAX_LINE_LEN + 1);
        big[0] = '#';
        strcpy(big + CONFIG_MAX_LINE_LEN + 1, "\n");
        CHECK(parse(big, &c, &e) == -1);
        CHECK(strstr(e.msg, ":1: line longer than 4096 bytes") != NULL);
        config_free(&c);

        /* 1 MiB of comment lines is fine; one byte more is not. */
        for (i = 0; i < CONFIG_MAX_FILE_SIZE; i++)
                big[i] = (i % 64 == 63) ? '\n' : '#';
        big[CONFIG_MAX_FILE_SIZE] = '\0';
        CHECK(parse(big, &c, &e) == 0);
        config_free(&c);
        big[CONFIG_MAX_FILE_SIZE] = '\n';
        big[CONFIG_MAX_FILE_SIZE + 1] = '\0';
        CHECK(parse(big, &c, &e) == -1);
        CHECK(strstr(e.msg, "larger than") != NULL);
        config_free(&c);
        free(big);

        /* A NUL byte inside a line. */
        f = fopen(path, "w");
        CHECK(f != NULL);
        if (f) {
                fwrite("mount tmp = no\nallow setuid = y\0es\n", 1, 36, f);
                fclose(f);
        }
        CHECK(config_parse_file(path, &c, &e) == -1);
        CHECK(strstr(e.msg, ":2: NUL byte") != NULL);
        config_free(&c);

        /* Not a regular file, missing file. */
        CHECK(config_parse_file("/tmp", &c, &e) == -1);
        CHECK(strstr(e.msg, "not a regular file") != NULL);
        config_free(&c);
        CHECK(config_parse_file("/nonexistent/singularity.conf", &c, &e) == -1);
        config_free(&c);
}

int main(int argc, char **argv)
{
        struct sing_config c;
        sing_err_t e = {0};
        int fd;

        fd = mkstemp(path);
        CHECK(fd >= 0);
        if (fd >= 0)
                close(fd);

        config_init_defaults(&c);
        check_defaults(&c);
        config_free(&c);

        RUN(check_all_set);
        RUN(check_small_cases);
        RUN(check_errors);
        RUN(check_limits);

        /* The shipped singularity.conf parses and says what the defaults say. */
        if (argc > 1) {
                if (config_parse_file(argv[1], &c, &e) != 0) {
                        fprintf(stderr, "%s\n", e.msg);
                        check_failures++;
                }
                check_defaults(&c);
                config_free(&c);
        } else {
                fprintf(stderr, "no singularity.conf path given: shipped file not checked\n");
                check_failures++;
        }
        unlink(path);
        CHECK_DONE();
}
