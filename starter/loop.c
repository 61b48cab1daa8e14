#include "loop.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

/* Another process may grab the free device between LOOP_CTL_GET_FREE and
 * our LOOP_CONFIGURE (EBUSY): ask again a bounded number of times. */
#define LOOP_ATTEMPTS 32

static int configure(int loopfd, int image_fd, uint64_t offset, uint64_t size, const char *name)
{
        struct loop_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.fd = (unsigned)image_fd;
        cfg.info.lo_offset = offset;
        cfg.info.lo_sizelimit = size;
        cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
        snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", name);
        if (ioctl(loopfd, LOOP_CONFIGURE, &cfg) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOTTY)
                return -1;
        /* Kernels before 5.8: the two-step attach. */
        if (ioctl(loopfd, LOOP_SET_FD, image_fd) < 0)
                return -1;
        if (ioctl(loopfd, LOOP_SET_STATUS64, &cfg.info) < 0) {
                int saved = errno;
                ioctl(loopfd, LOOP_CLR_FD, 0);
                errno = saved;
                return -1;
        }
        return 0;
}

/* An attached device serving exactly what the caller opened: the same file
 * (device and inode of image_fd, which the user opened with their own
 * rights, so sharing reaches nothing they could not open), the same
 * offset and size, read-only and auto-clearing like ours. Checked on an fd
 * we hold open, which keeps the device from being cleared (and so from
 * being reattached to another file) until the squashfs mount holds it. */
static int find_shared(const struct stat *img, uint64_t offset, uint64_t size, unsigned max_loops,
                       char devpath[32])
{
        _cleanup_closedir_ DIR *d = opendir("/sys/block");
        struct dirent *de;
        while (d && (de = readdir(d))) {
                char *end, bound[64];
                struct loop_info64 info;
                struct stat st;
                if (strncmp(de->d_name, "loop", 4) != 0 || !isdigit((unsigned char)de->d_name[4]))
                        continue;
                unsigned long n = strtoul(de->d_name + 4, &end, 10);
                if (*end || n >= max_loops)
                        continue;
                /* Only attached devices have a loop/ directory: skip the rest unopened. */
                snprintf(bound, sizeof(bound), "loop%lu/loop", n);
                if (fstatat(dirfd(d), bound, &st, 0) < 0)
                        continue;
                snprintf(devpath, 32, "/dev/loop%lu", n);
                _cleanup_close_ int fd = open(devpath, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
                        continue; /* detached meanwhile */
                if (info.lo_device == (uint64_t)img->st_dev && info.lo_inode == img->st_ino &&
                    info.lo_offset == offset && info.lo_sizelimit == size &&
                    (info.lo_flags & LO_FLAGS_READ_ONLY) && (info.lo_flags & LO_FLAGS_AUTOCLEAR)) {
                        log_debug("sharing %s (offset %llu, size %llu)", devpath,
                                  (unsigned long long)offset, (unsigned long long)size);
                        return steal_fd(&fd);
                }
        }
        return -1;
}

int loop_attach(int image_fd, uint64_t offset, uint64_t size, const char *name, unsigned max_loops,
                bool shared, char devpath[32])
{
        _cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (ctl < 0)
                die_errno("opening /dev/loop-control");
        if (shared) {
                struct stat st;
                if (fstat(image_fd, &st) < 0)
                        die_errno("%s", name);
                /* Starters of one image take turns between looking and
                 * attaching, so concurrent ranks find the first one's device
                 * instead of each attaching its own. Only root can open
                 * loop-control, so no user can hold this lock. */
                if (flock(ctl, LOCK_EX) < 0)
                        die_errno("locking /dev/loop-control");
                int fd = find_shared(&st, offset, size, max_loops, devpath);
                if (fd >= 0)
                        return fd; /* the lock goes with ctl */
        }
        for (int attempt = 0; attempt < LOOP_ATTEMPTS; attempt++) {
                int n = ioctl(ctl, LOOP_CTL_GET_FREE);
                if (n < 0)
                        die_errno("finding a free loop device");
                if ((unsigned)n >= max_loops)
                        die("no free loop device: all %u allowed by `max loop devices` are in use",
                            max_loops);
                snprintf(devpath, 32, "/dev/loop%d", n);
                _cleanup_close_ int loopfd = open(devpath, O_RDONLY | O_CLOEXEC);
                if (loopfd < 0)
                        die_errno("opening %s", devpath);
                if (configure(loopfd, image_fd, offset, size, name) == 0) {
                        log_debug("attached %s to %s (offset %llu, size %llu)", devpath, name,
                                  (unsigned long long)offset, (unsigned long long)size);
                        return steal_fd(&loopfd);
                }
                if (errno != EBUSY)
                        die_errno("attaching %s to %s", devpath, name);
        }
        die("attaching a loop device: still busy after %d attempts", LOOP_ATTEMPTS);
}
