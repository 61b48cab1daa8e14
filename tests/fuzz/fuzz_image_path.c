/* libFuzzer harness for the path walk of the FUSE server's prefetcher
 * (fuse/image_path.c). The input is the path; the image is fixed, made once
 * by mksquashfs from a tree of what a hostile image may hold: symlink loops,
 * a long chain, ".." links above the root, absolute links, a link with a
 * 4000-byte target, deep directories. Every resolution must end (within its
 * step budget) and name an inode of the image. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fuzz_util.h"
#include "image_path.h"

static sqfs fs;

static void must(int ok, const char *what)
{
        if (!ok) {
                perror(what);
                abort();
        }
}

static void put_link(const char *dir, const char *name, const char *target)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        must(symlink(target, p) == 0, p);
}

static void put_dir(const char *dir, const char *name)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        must(mkdir(p, 0755) == 0, p);
}

static void put_file(const char *dir, const char *name)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
        must(fd >= 0 && write(fd, "x", 1) == 1 && close(fd) == 0, p);
}

static void make_tree(const char *root)
{
        char p[PATH_MAX];
        put_dir(root, "bin");
        put_dir(root, "lib");
        put_dir(root, "d");
        put_file(root, "bin/sh");
        put_file(root, "lib/libc.so.6");
        put_link(root, "lib64", "lib");
        put_link(root, "bin/loop", "loop2");
        put_link(root, "bin/loop2", "/bin/loop");
        put_link(root, "up", "../../../..");
        put_link(root, "abs", "/lib/libc.so.6");
        put_link(root, "self", ".");
        put_link(root, "empty-ish", "./");
        put_link(root, "tofile", "bin/sh/");
        for (int i = 0; i < 45; i++) { /* beyond the 40 links */
                char name[16], target[16];
                snprintf(name, sizeof(name), "c%d", i);
                snprintf(target, sizeof(target), "c%d", i + 1);
                put_link(root, name, target);
        }
        put_link(root, "c45", "bin/sh");
        /* A 4000-byte target that walks down and up again. */
        char target[4001] = "";
        while (strlen(target) + 5 < 4000)
                strcat(target, "d/../");
        strcat(target, "self");
        put_link(root, "long", target);
        /* 150 directories deep (beyond the walk's 128). */
        snprintf(p, sizeof(p), "%s/d", root);
        for (int i = 0; i < 150; i++) {
                put_dir(p, "n");
                strcat(p, "/n");
        }
        put_file(p, "leaf");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        char dir[] = "/tmp/fuzz-image-path-XXXXXX";
        must(mkdtemp(dir) != NULL, "mkdtemp");
        char root[PATH_MAX], image[PATH_MAX];
        snprintf(root, sizeof(root), "%s/root", dir);
        snprintf(image, sizeof(image), "%s/image.sqfs", dir);
        must(mkdir(root, 0755) == 0, root);
        make_tree(root);
        pid_t pid = fork();
        must(pid >= 0, "fork");
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 1);
                execlp("mksquashfs", "mksquashfs", root, image, "-noappend", "-quiet",
                       "-no-progress", (char *)NULL);
                _exit(127);
        }
        int status;
        must(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
             "mksquashfs (squashfs-tools)");
        int fd = open(image, O_RDONLY | O_CLOEXEC);
        must(fd >= 0, image);
        must(sqfs_init(&fs, fd, 0) == SQFS_OK, "sqfs_init");
        /* The image is read from the open fd from now on. */
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", dir);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *path = fuzz_cstr(data, size);
        sqfs_inode inode;
        unsigned steps = IMAGE_PATH_STEPS;
        if (image_path_resolve(&fs, path, &inode, &steps) == 0)
                FUZZ_ASSERT(inode.base.inode_number >= 1 && inode.base.inode_number <= fs.sb.inodes,
                            "inode %u of %u", inode.base.inode_number, fs.sb.inodes);
        FUZZ_ASSERT(steps <= IMAGE_PATH_STEPS, "budget overspent");
        free(path);
        return 0;
}
