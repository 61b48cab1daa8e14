/* Filling a sandbox directory: from pulled layers (layer merge into a
 * directory sink), from a squashfs-based image (unsquashfs), or from another
 * sandbox (cp -a). */
#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_status.h"
#include "cleanup.h"
#include "convert.h"
#include "dir_sink.h"
#include "image.h"
#include "layer_feed.h"
#include "layers.h"
#include "log.h"
#include "tempfile.h"

int rootfs_from_layers(const char *rootfs, const struct pulled_image *img,
                       const struct metadata_opts *mo, sing_err_t *e)
{
        struct synth_list top = {0}, bottom = {0};
        _cleanup_close_ int rootfd = -1;
        struct layer_feed *feed = NULL;
        struct layer_wait w;
        struct merge_sink sink;
        int rc = -1;

        /* Layers still to download come while the merge runs: it starts on
         * the top layer as soon as that one is there. */
        if (pulled_image_feed_start(img, &feed, e) < 0)
                return -1;
        if (feed)
                w = layer_feed_waiter(feed);
        if (metadata_from_oci_config(img->config_json, img->config_len, mo, &top, &bottom, e) < 0) {
                err_prefix(e, "image config");
                goto out;
        }
        if (mkdir(rootfs, 0755) < 0) {
                err_errno(e, "cannot create %s", rootfs);
                goto out;
        }
        rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (rootfd < 0) {
                err_errno(e, "cannot open %s", rootfs);
                goto out;
        }
        if (dir_sink_open(rootfd, &sink, e) < 0)
                goto out;
        log_info("Extracting %zu layer(s)...", img->nlayers);
        struct squash_settings sq;
        squash_settings_default(&sq); /* "max layer expansion" is read with them */
        struct merge_opts mopts = {.max_expansion = sq.max_expansion};
        rc = layers_merge_waiting((const char *const *)img->layers, img->nlayers, &top, &bottom,
                                  &mopts, &sink, feed ? &w : NULL, e);
        if (dir_sink_close(&sink, rc == 0 ? e : NULL) < 0)
                rc = -1;
out:
        /* A failed merge abandons the downloads; its error is the one
         * reported (the download's when a layer never came). */
        if (feed) {
                sing_err_t fe;
                if (layer_feed_finish(feed, rc < 0, &fe) < 0 && rc == 0) {
                        *e = fe;
                        rc = -1;
                }
        }
        synth_list_free(&top);
        synth_list_free(&bottom);
        return rc;
}

/* Real root (not root of a user namespace): the only one that may create
 * device nodes and set security.* / trusted.* xattrs. */
static bool real_root(void)
{
        _cleanup_fclose_ FILE *f = NULL;
        unsigned long inside, outside, count;
        if (geteuid() != 0)
                return false;
        f = fopen("/proc/self/uid_map", "re");
        return f && fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3 && inside == 0 &&
               outside == 0 && count == 4294967295ul;
}

/* The path in one `unsquashfs -lls -d ""` line: after "YYYY-MM-DD HH:MM ". */
static const char *listed_path(const char *line)
{
        for (const char *p = line; (p = strchr(p, '-')); p++) {
                if (p - line < 5 || strlen(p) < 13)
                        continue;
                const char *d = p - 4;
                if (d[0] >= '0' && d[0] <= '9' && p[3] == '-' && p[6] == ' ' && p[9] == ':' &&
                    p[12] == ' ')
                        return p + 13;
        }
        return NULL;
}

/* Device nodes of the squashfs (which only real root can make) into an
 * exclude list for unsquashfs: they are skipped, as in pulls. */
static int device_excludes(const char *src, const char *off, int exclfd, size_t *n, sing_err_t *e)
{
        _cleanup_close_ int listfd = memfd_create("squashfs-listing", MFD_CLOEXEC);
        _cleanup_fclose_ FILE *f = NULL;
        char *argv[] = {"unsquashfs", "-lls", "-d", "", "-o", (char *)off, (char *)src, NULL};
        char line[LINE_MAX];
        *n = 0;
        if (listfd < 0)
                return err_errno(e, "memfd_create");
        if (run_command(argv, listfd, e) < 0)
                return err_prefix(e, "listing %s", src);
        int dupfd = dup(listfd);
        if (dupfd < 0 || !(f = fdopen(dupfd, "r"))) {
                if (dupfd >= 0)
                        close(dupfd);
                return err_errno(e, "reading the listing of %s", src);
        }
        rewind(f);
        while (fgets(line, sizeof(line), f)) {
                const char *path;
                if (line[0] != 'c' && line[0] != 'b')
                        continue;
                line[strcspn(line, "\n")] = '\0';
                if (!(path = listed_path(line)) || *path != '/')
                        return err_set(e, "%s: cannot read the listing line \"%.200s\"", src, line);
                if (dprintf(exclfd, "%s\n", path + 1) < 0)
                        return err_errno(e, "writing the exclude list");
                log_verbose("%s: device node skipped (only root can create it)", path);
                (*n)++;
        }
        return 0;
}

int rootfs_from_image(const char *image, const char *rootfs, sing_err_t *e)
{
        _cleanup_close_ int fd = open(image, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int exclfd = -1;
        struct image_info info;
        char off[32], src[64], excl[64];
        bool root = real_root();
        size_t ndev = 0;

        if (fd < 0)
                return err_errno(e, "cannot open %s", image);
        if (image_probe_fd(fd, &info, e) < 0)
                return err_prefix(e, "%s", image);
        if (info.kind == IMAGE_DIR)
                return rootfs_from_dir(image, rootfs, e);
        snprintf(off, sizeof(off), "%" PRIu64, info.offset);
        /* Read the image through our descriptor: the checked file is the one
         * extracted. -f: rootfs does not exist; unsquashfs creates it. */
        snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
        if (fcntl(fd, F_SETFD, 0) < 0)
                return err_errno(e, "fcntl");
        char *argv[16] = {"unsquashfs", "-n", "-q", "-d", (char *)rootfs, "-o", off};
        size_t a = 7;
        if (!root) {
                /* Without real root, device nodes cannot be made and only
                 * user.* xattrs can be set (security.selinux, trusted.*
                 * would fail the extraction). */
                exclfd = memfd_create("squashfs-excludes", 0);
                if (exclfd < 0)
                        return err_errno(e, "memfd_create");
                if (device_excludes(src, off, exclfd, &ndev, e) < 0)
                        return -1;
                snprintf(excl, sizeof(excl), "/proc/self/fd/%d", exclfd);
                argv[a++] = "-user-xattrs";
                if (ndev) {
                        argv[a++] = "-exclude-file";
                        argv[a++] = excl;
                }
        }
        argv[a++] = src;
        argv[a] = NULL;
        log_info("Extracting %s image %s...", image_kind_name(info.kind), image);
        if (!root)
                log_info("Not running as root: only user.* xattrs are extracted (security.* and "
                         "trusted.* ones are dropped)%s",
                         ndev ? "; device nodes are skipped, as in pulls" : "");
        if (run_command(argv, -1, e) < 0)
                return err_prefix(e, "extracting %s", image);
        return 0;
}

/* Checking a copy made without real root (nftw has no context argument;
 * the frontend walks one tree at a time). */
static struct {
        const char *src, *dst;
        size_t srclen, devices, missing;
        char first_missing[256];
} walk;

static int count_device(const char *path, const struct stat *st, int flag, struct FTW *f)
{
        (void)path, (void)flag, (void)f;
        if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
                walk.devices++;
        return 0;
}

/* Everything but device nodes arrived: same type, and same size for files. */
static int check_copied(const char *path, const struct stat *st, int flag, struct FTW *f)
{
        char dst[PATH_MAX];
        struct stat dt;
        (void)f;
        if (flag != FTW_DNR && flag != FTW_NS &&
            (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) || strlen(path) <= walk.srclen))
                return 0;
        int n = snprintf(dst, sizeof(dst), "%s%s", walk.dst, path + walk.srclen);
        /* A directory we could not read (or stat) was not copied either. */
        if (flag == FTW_DNR || flag == FTW_NS || n < 0 || (size_t)n >= sizeof(dst) ||
            lstat(dst, &dt) < 0 || (dt.st_mode & S_IFMT) != (st->st_mode & S_IFMT) ||
            (S_ISREG(st->st_mode) && dt.st_size != st->st_size)) {
                if (!walk.missing++)
                        snprintf(walk.first_missing, sizeof(walk.first_missing), "%s",
                                 path + walk.srclen);
        }
        return 0;
}

int rootfs_from_dir(const char *dir, const char *rootfs, sing_err_t *e)
{
        _cleanup_free_ char *src = NULL;
        sing_err_t cpe;
        if (asprintf(&src, "%s/.", dir) < 0)
                return err_set(e, "out of memory");
        if (mkdir(rootfs, 0755) < 0)
                return err_errno(e, "cannot create %s", rootfs);
        char *argv[] = {"cp", "-a", "--no-target-directory", src, (char *)rootfs, NULL};
        log_info("Copying sandbox %s...", dir);
        if (run_command(argv, -1, &cpe) == 0)
                return 0;
        /* Without real root cp cannot make device nodes (xattrs it cannot set
         * it passes over by itself): that failure alone is accepted, once the
         * copy is checked to hold everything else, as pulls skip them. */
        memset(&walk, 0, sizeof(walk));
        if (real_root() || nftw(dir, count_device, 64, FTW_PHYS) != 0 || walk.devices == 0) {
                *e = cpe;
                return err_prefix(e, "copying %s", dir);
        }
        walk.src = dir;
        walk.srclen = strlen(dir);
        walk.dst = rootfs;
        if (nftw(dir, check_copied, 64, FTW_PHYS) != 0 || walk.missing) {
                *e = cpe;
                return err_prefix(e, "copying %s (%zu entries missing, first %s)", dir,
                                  walk.missing, walk.first_missing);
        }
        log_info("Not running as root: %zu device node(s) of %s skipped, as in pulls", walk.devices,
                 dir);
        return 0;
}
