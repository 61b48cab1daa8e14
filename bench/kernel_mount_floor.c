/* The least a start on the kernel squashfs path can cost, for the start-up
 * rows (bench/rows.py kernel_mount_floor): attach a loop device to the
 * image, mount it afresh in a mount namespace of our own, chroot into it
 * and run the program there, nothing else (no checks, no privilege drop,
 * no binds, no environment). Each run is a new superblock, as each
 * container's is, so the program and its libraries are decompressed again.
 * Run as root: kernel_mount_floor IMAGE.sqfs PROGRAM (an absolute path in
 * the image). The exit status is the program's, or 255 (with a message)
 * when a step failed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/loop.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char *what)
{
        perror(what);
        return 255;
}

int main(int argc, char **argv)
{
        char dev[32], dir[] = "/tmp/kernel-mount-floor.XXXXXX";
        if (argc != 3) {
                fprintf(stderr, "usage: %s IMAGE.sqfs PROGRAM\n", argv[0]);
                return 255;
        }
        int img = open(argv[1], O_RDONLY | O_CLOEXEC), ctl = open("/dev/loop-control", O_RDWR);
        if (img < 0 || ctl < 0)
                return fail(argv[1]);
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        snprintf(dev, sizeof(dev), "/dev/loop%d", n);
        int loop = n < 0 ? -1 : open(dev, O_RDONLY | O_CLOEXEC);
        struct loop_config cfg = {.fd = (unsigned)img,
                                  .info = {.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR}};
        if (loop < 0 || ioctl(loop, LOOP_CONFIGURE, &cfg) < 0)
                return fail("attaching a loop device");
        if (!mkdtemp(dir))
                return fail("mkdtemp");
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount(dev, dir, "squashfs", MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) {
                int rc = fail("mounting the image");
                rmdir(dir);
                return rc;
        }
        /* The mount holds the device now; the namespace's end unmounts it,
         * and the auto-clear detaches it. */
        close(loop);
        pid_t pid = fork();
        if (pid == 0) {
                if (chroot(dir) < 0 || chdir("/") < 0)
                        _exit(fail("chroot"));
                execv(argv[2], argv + 2);
                _exit(fail(argv[2]));
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0)
                return fail("fork");
        umount2(dir, MNT_DETACH);
        rmdir(dir);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}
