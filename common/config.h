/* singularity.conf: the root-owned system configuration, read by the setuid
 * starter and by the frontend. One parser for both; libc only.
 *
 * Format: one "key = value" per line; blank lines and lines whose first
 * non-blank character is '#' are ignored (there are no trailing comments).
 * Keys are lowercase words separated by single spaces, as in Singularity.
 * Lists are comma-separated ("limit container paths = /a, /b"); a list
 * directive may be repeated and its values add up. Other directives may
 * appear once. Anything unknown or out of range is an error, never ignored:
 * a typo in a security setting must not silently fall back to a default. */
#ifndef SING_CONFIG_H
#define SING_CONFIG_H

#include <stdbool.h>

#include "error.h"

#define CONFIG_MAX_FILE_SIZE (1 << 20) /* 1 MiB; an int, for %d */
#define CONFIG_MAX_LINE_LEN 4096

enum config_mount_dev {
        CONFIG_DEV_NO = 0,
        CONFIG_DEV_YES,
        CONFIG_DEV_MINIMAL, /* only null, zero, random, urandom, tty, shm, pts */
};

enum config_overlay {
        CONFIG_OVERLAY_NO = 0,
        CONFIG_OVERLAY_YES,
        CONFIG_OVERLAY_TRY, /* use it when the kernel allows, else go on without */
};

/* allow setuid-mount squashfs: may the setuid starter mount a squashfs image
 * with the kernel driver, or must it serve it with squashfuse as the user? */
enum config_setuid_mount {
        CONFIG_SETUID_MOUNT_NO = 0,
        CONFIG_SETUID_MOUNT_YES,
        CONFIG_SETUID_MOUNT_IFLIMITED, /* only when a `limit container` option is set */
};

enum config_compressor {
        CONFIG_COMP_ZSTD = 0,
        CONFIG_COMP_GZIP,
        CONFIG_COMP_XZ,
        CONFIG_COMP_LZ4,
        CONFIG_COMP_LZO,
};

/* One field per directive; the comment gives the directive and its default.
 * Lists are NULL-terminated arrays of malloc'd strings. */
struct sing_config {
        bool allow_setuid;               /* allow setuid = yes */
        int max_loop_devices;            /* max loop devices = 256 */
        bool shared_loop_devices;        /* shared loop devices = no */
        int squashfs_mount_linger;       /* squashfs mount linger = 0 (seconds the kernel
                                            squashfs mount of an image outlives its container,
                                            with shared loop devices) */
        bool allow_pid_ns;               /* allow pid ns = yes */
        bool config_passwd;              /* config passwd = yes */
        bool config_group;               /* config group = yes */
        bool config_resolv_conf;         /* config resolv_conf = yes */
        bool mount_proc;                 /* mount proc = yes */
        bool mount_sys;                  /* mount sys = yes */
        int mount_dev;                   /* mount dev = yes (enum config_mount_dev) */
        bool mount_devpts;               /* mount devpts = yes */
        bool mount_home;                 /* mount home = yes */
        bool mount_tmp;                  /* mount tmp = yes */
        bool mount_hostfs;               /* mount hostfs = no */
        char **bind_path;                /* bind path = /etc/localtime, /etc/hosts; each entry
                                            "src" or "src:dest", both absolute. Never NULL. The
                                            first "bind path" line in a file replaces the defaults. */
        bool user_bind_control;          /* user bind control = yes */
        int enable_overlay;              /* enable overlay = try (enum config_overlay) */
        bool mount_slave;                /* mount slave = yes */
        int sessiondir_max_size;         /* sessiondir max size = 64 (MiB) */
        char **limit_container_owners;   /* user names; NULL: no limit */
        char **limit_container_groups;   /* group names; NULL: no limit */
        char **limit_container_paths;    /* absolute paths; NULL: no limit */
        bool allow_container_sif;        /* allow container sif = yes */
        bool allow_container_squashfs;   /* allow container squashfs = yes */
        bool allow_container_dir;        /* allow container dir = yes */
        int allow_setuid_mount_squashfs; /* allow setuid-mount squashfs = iflimited
                                            (enum config_setuid_mount) */
        char *seccomp_profile;           /* seccomp profile = (empty: none); an absolute
                                            path to a Docker-format JSON profile */
        int squashfs_compressor;         /* squashfs compressor = zstd (enum config_compressor) */
        int squashfs_compression_level;  /* squashfs compression level: default 3 for zstd, 9
                                            gzip, 8 lzo; 0 for xz and lz4 (no level) */
        int max_layer_expansion;         /* max layer expansion = 200 (stored bytes per
                                            compressed byte of a layer, for pull/build) */
        char **ldconfig_path;            /* ldconfig path = /sbin/ldconfig (NULL: that default);
                                            --nv/--rocm read the linker cache with `PATH -p` */
};

/* Fill c with the defaults above (c's previous content is not freed). Aborts
 * on allocation failure: nothing sensible can run without memory. */
void config_init_defaults(struct sing_config *c);

/* Read the configuration from fd (not closed). name is used in messages
 * ("FILE:LINE: ..."). c need not be initialised, and its previous content
 * is not freed (do not call config_init_defaults first): on return it holds
 * the defaults overridden by the file (0), or just the defaults (-1, with a
 * message); either way release it with config_free(). */
int config_parse_fd(int fd, const char *name, struct sing_config *c, sing_err_t *e);

/* Open a config file for reading: O_NONBLOCK (a FIFO cannot hang us),
 * O_NOFOLLOW when asked, and only a regular file. Returns an fd, or -1 with
 * a message. */
int config_open(const char *path, bool nofollow, sing_err_t *e);

/* Open path (a regular file) and parse it as config_parse_fd() does. */
int config_parse_file(const char *path, struct sing_config *c, sing_err_t *e);

/* Free the lists and reset c to all zero. */
void config_free(struct sing_config *c);

/* Is the kernel squashfs driver allowed in setuid mode by
 * `allow setuid-mount squashfs` and the `limit container` options? */
bool config_setuid_kernel_squashfs(const struct sing_config *c);

/* "zstd", "gzip", ... for an enum config_compressor value; NULL if unknown. */
const char *config_compressor_name(int comp);

#endif
