"""A static C probe run inside containers (bound in with -B), for what a
busybox image cannot show: raw ioctl requests, waiting for every child,
orphaned zombies.

    build_probe(directory) -> path of the compiled probe (mode 0755)

Modes (one line of output each):
    probe tiocsti [REQUEST]   "ctty=yes|no ioctl=OK|EPERM|..." for
                              ioctl(0, REQUEST (default TIOCSTI), "#")
    probe waitall             forks a short-lived child, then wait()s until
                              ECHILD: "waited N" (N children reaped)
    probe zombies             orphans a grandchild that exits at once, waits
                              1 s, prints "zombies=N" (processes in state Z)
    probe getxattr PATH NAME  "value=V" or "errno=ENODATA|ENOTSUP|..."
"""

import os
import subprocess

PROBE_C = r"""
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char *errname(int e)
{
        switch (e) {
        case EPERM: return "EPERM";
        case EACCES: return "EACCES";
        case ENOTTY: return "ENOTTY";
        case EIO: return "EIO";
        case EINVAL: return "EINVAL";
        case ENODATA: return "ENODATA";
        case ENOTSUP: return "ENOTSUP";
        default: return strerror(e);
        }
}

static int zombies(void)
{
        DIR *d = opendir("/proc");
        struct dirent *de;
        int n = 0;
        while (d && (de = readdir(d))) {
                char path[300], buf[512];
                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
                int fd = open(path, O_RDONLY);
                ssize_t len = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
                if (fd >= 0)
                        close(fd);
                if (len <= 0)
                        continue;
                buf[len] = '\0';
                char *p = strrchr(buf, ')');
                if (p && p[1] == ' ' && p[2] == 'Z')
                        n++;
        }
        if (d)
                closedir(d);
        return n;
}

int main(int argc, char **argv)
{
        if (argc >= 2 && strcmp(argv[1], "tiocsti") == 0) {
                unsigned long req = argc > 2 ? strtoul(argv[2], NULL, 0) : TIOCSTI;
                int tty = open("/dev/tty", O_RDWR);
                char c = '#';
                long rc = syscall(SYS_ioctl, 0, req, &c);
                int e = errno;
                printf("ctty=%s ioctl=%s\n", tty >= 0 ? "yes" : "no", rc == 0 ? "OK" : errname(e));
                return 0;
        }
        if (argc >= 2 && strcmp(argv[1], "waitall") == 0) {
                int n = 0;
                if (fork() == 0) {
                        usleep(100000);
                        _exit(0);
                }
                while (wait(NULL) > 0 || errno == EINTR)
                        n++;
                printf("waited %d\n", n);
                return errno == ECHILD ? 0 : 1;
        }
        if (argc >= 2 && strcmp(argv[1], "zombies") == 0) {
                pid_t a = fork();
                if (a == 0) {
                        if (fork() == 0)
                                _exit(0);
                        _exit(0);
                }
                waitpid(a, NULL, 0);
                sleep(1);
                printf("zombies=%d\n", zombies());
                return 0;
        }
        if (argc == 4 && strcmp(argv[1], "getxattr") == 0) {
                char v[256];
                ssize_t n = getxattr(argv[2], argv[3], v, sizeof(v) - 1);
                if (n < 0) {
                        printf("errno=%s\n", errname(errno));
                        return 0;
                }
                v[n] = '\0';
                printf("value=%s\n", v);
                return 0;
        }
        fprintf(stderr, "usage: probe tiocsti [REQ] | waitall | zombies | getxattr PATH NAME\n");
        return 2;
}
"""


def build_probe(directory):
    src = os.path.join(directory, "probe.c")
    exe = os.path.join(directory, "probe")
    with open(src, "w") as f:
        f.write(PROBE_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", exe, src], check=True)
    os.chmod(directory, 0o755)
    os.chmod(exe, 0o755)
    return exe
