/* Layer merge: builds small layer tars (gzip, zstd, plain) with libarchive,
 * merges them through the tar sink (read back with libarchive), the
 * directory sink (checked with lstat) and the real mksquashfs path
 * (checked with `unsquashfs -lln`). */
#include "check.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "dir_sink.h"
#include "layers.h"
#include "log.h"
#include "squash.h"
#include "tar_check.h"
#include "tar_sink.h"

static char tmp[] = "/tmp/test_layers.XXXXXX";

/* ---- building layers ---------------------------------------------------- */

struct tent {
        const char *name;
        mode_t mode;      /* type | perm; 0 = hardlink */
        const char *data; /* regular file content */
        const char *link; /* symlink target, or hardlink target when mode == 0 */
        unsigned uid, gid;
        const char *xattr; /* "user.test" = xattr value, when set */
};

enum filter { F_NONE, F_GZIP, F_ZSTD };

static const char *tmp_path(const char *name)
{
        static char bufs[8][512];
        static int i;
        char *b = bufs[i++ % 8];
        snprintf(b, sizeof(bufs[0]), "%s/%s", tmp, name);
        return b;
}

/* When not 0, the tar is padded with zeros to a multiple of this
 * (uncompressed layers only: libarchive pads no compressed one, hence
 * gzip_file). */
static int layer_block_bytes;

/* Layers are written the way image builders do: pax names in UTF-8 (so the
 * writer runs in a UTF-8 locale; the merge itself runs in "C"). */
static void make_layer(const char *file, enum filter f, const struct tent *t, size_t n)
{
        locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
        locale_t old = uselocale(utf8);
        struct archive *w = archive_write_new();
        struct archive_entry *ae = archive_entry_new();
        archive_write_set_format_pax_restricted(w);
        if (layer_block_bytes) { /* a regular file's last block is not padded unless told */
                archive_write_set_bytes_per_block(w, layer_block_bytes);
                archive_write_set_bytes_in_last_block(w, layer_block_bytes);
        }
        if (f == F_GZIP)
                archive_write_add_filter_gzip(w);
        else if (f == F_ZSTD)
                archive_write_add_filter_zstd(w);
        if (archive_write_open_filename(w, file) != ARCHIVE_OK) {
                fprintf(stderr, "%s: %s\n", file, archive_error_string(w));
                exit(2);
        }
        for (size_t i = 0; i < n; i++) {
                size_t len = t[i].data ? strlen(t[i].data) : 0;
                archive_entry_clear(ae);
                archive_entry_copy_pathname(ae, t[i].name);
                archive_entry_set_uid(ae, t[i].uid);
                archive_entry_set_gid(ae, t[i].gid);
                archive_entry_set_mtime(ae, 1600000000 + (time_t)i, 500);
                if (t[i].mode == 0) {
                        archive_entry_set_filetype(ae, AE_IFREG);
                        archive_entry_set_perm(ae, 0644);
                        archive_entry_copy_hardlink(ae, t[i].link);
                        archive_entry_set_size(ae, 0);
                } else {
                        archive_entry_set_mode(ae, t[i].mode);
                        archive_entry_set_size(ae, S_ISREG(t[i].mode) ? (la_int64_t)len : 0);
                        if (S_ISLNK(t[i].mode))
                                archive_entry_copy_symlink(ae, t[i].link);
                        if (S_ISCHR(t[i].mode))
                                archive_entry_set_rdev(ae, makedev(1, 3));
                }
                if (t[i].xattr)
                        archive_entry_xattr_add_entry(ae, "user.test", t[i].xattr,
                                                      strlen(t[i].xattr));
                if (archive_write_header(w, ae) != ARCHIVE_OK) {
                        fprintf(stderr, "%s: %s\n", t[i].name, archive_error_string(w));
                        exit(2);
                }
                if (S_ISREG(t[i].mode) && len)
                        archive_write_data(w, t[i].data, len);
        }
        archive_write_close(w);
        archive_write_free(w);
        archive_entry_free(ae);
        uselocale(old);
        freelocale(utf8);
}

#define LONGNAME                                                                                   \
        "long/0123456789012345678901234567890123456789012345678901234567890123456789"              \
        "0123456789012345678901234567890123456789012345678901234567890123456789.txt"
#define UNICODE_NAME "ünïcødé/файл"

static const struct tent layer1[] = {
    {"./etc/", S_IFDIR | 0755},
    {"etc/passwd", S_IFREG | 0644, "root:x"},
    {"etc/gone", S_IFREG | 0644, "gone"},
    {"olddir/", S_IFDIR | 0755},
    {"olddir/a", S_IFREG | 0644, "a"},
    {"olddir/sub/b", S_IFREG | 0644, "b"},
    {"opq", S_IFDIR | 0711},
    {"opq/lower", S_IFREG | 0644, "lower"},
    {"f2d", S_IFREG | 0644, "file"},
    {"d2f", S_IFDIR | 0755},
    {"d2f/child", S_IFREG | 0644, "c"},
    {"d2l", S_IFDIR | 0755},
    {"d2l/child", S_IFREG | 0644, "c"},
    {"bin", S_IFDIR | 0755},
    {"bin/tool", S_IFREG | 04755, "tool"},
    {"bin/toollink", 0, NULL, "bin/tool"},
    {"shadowed", S_IFREG | 0644, "low"},
    {"lowlink", 0, NULL, "./shadowed"},
    {LONGNAME, S_IFREG | 0644, "long"},
    {UNICODE_NAME, S_IFREG | 0644, "uni"},
    {"secret000", S_IFREG | 0000, "zero"},
    {"owned", S_IFREG | 0640, "owned", NULL, 1234, 5678},
    {"dev/null", S_IFCHR | 0666},
    {"/abs/file", S_IFREG | 0644, "abs"},
    {"dup", S_IFREG | 0644, "first"},
    {"dup", S_IFREG | 0644, "second"},
    {"nested/deep/x", S_IFREG | 0644, "x"},
    {"ro/inner", S_IFREG | 0644, "inner"},
    {"ro", S_IFDIR | 0555},
    {"xat", S_IFREG | 0644, "x", NULL, 0, 0, "hello"},
    {"k/x", S_IFREG | 0644, "kx"},
    {"k", S_IFREG | 0644, "k as a file"},
    {"rootowned", S_IFREG | 0640, "rootowned", NULL, 0, 0},
    {"groupw", S_IFREG | 0666, "umask takes these bits"},
};

static const struct tent layer2[] = {
    {"etc/.wh.gone", S_IFREG | 0644},
    {".wh.olddir", S_IFREG | 0644},
    {"opq/.wh..wh..opq", S_IFREG | 0644},
    {"opq/upper", S_IFREG | 0644, "upper"},
    {"f2d", S_IFDIR | 0750},
    {"f2d/new", S_IFREG | 0644, "new"},
    {"d2f", S_IFREG | 0644, "now a file"},
    {"d2l", S_IFLNK | 0777, NULL, "/etc"},
    {"shadowed", S_IFREG | 0644, "high"},
    {"evil", S_IFLNK | 0777, NULL, "/etc"},
    {"evil/passwd", S_IFREG | 0644, "pwned"},
    {".wh.never-existed", S_IFREG | 0644},
    {"c/x", S_IFREG | 0644, "cx"},
};

static const struct tent layer3[] = {
    {"top_only", S_IFREG | 0644, "top"},
    {"top_wins", S_IFREG | 0644, "layer"},
    {".wh..wh.plnk", S_IFDIR | 0700},
};

/* the "c" file under layer2's c/x: a conflict, layer2 made c a directory */
static const struct tent layer0[] = {
    {"c", S_IFREG | 0644, "c file"},
};

/* ---- reading the merged tar back -------------------------------------- */

struct got {
        char name[4200];
        mode_t mode;
        unsigned uid, gid;
        char data[64];
        char link[256];
        char hardlink[256];
        char xattr[32];
        long mtime_nsec;
};

static struct got got[128];
static size_t ngot;

static void read_tar(const char *file)
{
        struct archive *a = archive_read_new();
        struct archive_entry *ae;
        archive_read_support_format_all(a);
        ngot = 0;
        if (archive_read_open_filename(a, file, 65536) != ARCHIVE_OK) {
                fprintf(stderr, "%s: %s\n", file, archive_error_string(a));
                exit(2);
        }
        while (archive_read_next_header(a, &ae) == ARCHIVE_OK && ngot < 128) {
                struct got *g = &got[ngot++];
                const char *name, *value;
                const void *v;
                size_t size;
                memset(g, 0, sizeof(*g));
                snprintf(g->name, sizeof(g->name), "%s", archive_entry_pathname(ae));
                /* the pax writer spells directories "dir/" */
                if (strlen(g->name) > 1 && g->name[strlen(g->name) - 1] == '/')
                        g->name[strlen(g->name) - 1] = '\0';
                g->mode = archive_entry_mode(ae);
                g->uid = (unsigned)archive_entry_uid(ae);
                g->gid = (unsigned)archive_entry_gid(ae);
                g->mtime_nsec = archive_entry_mtime_nsec(ae);
                if (archive_entry_symlink(ae))
                        snprintf(g->link, sizeof(g->link), "%s", archive_entry_symlink(ae));
                if (archive_entry_hardlink(ae))
                        snprintf(g->hardlink, sizeof(g->hardlink), "%s",
                                 archive_entry_hardlink(ae));
                archive_read_data(a, g->data, sizeof(g->data) - 1);
                archive_entry_xattr_reset(ae);
                while (archive_entry_xattr_next(ae, &name, &v, &size) == ARCHIVE_OK) {
                        value = v;
                        if (!strcmp(name, "user.test"))
                                snprintf(g->xattr, sizeof(g->xattr), "%.*s", (int)size, value);
                }
        }
        archive_read_free(a);
}

static const struct got *find(const char *name)
{
        for (size_t i = 0; i < ngot; i++)
                if (!strcmp(got[i].name, name))
                        return &got[i];
        return NULL;
}

static int count(const char *name)
{
        int n = 0;
        for (size_t i = 0; i < ngot; i++)
                n += !strcmp(got[i].name, name);
        return n;
}

/* ---- the merge inputs ----------------------------------------------- */

static const char *layers[4];
static struct synth_list top, bottom;

static void make_inputs(void)
{
        layers[0] = strdup(tmp_path("l0.tar"));
        layers[1] = strdup(tmp_path("l1.tar.gz"));
        layers[2] = strdup(tmp_path("l2.tar.zst"));
        layers[3] = strdup(tmp_path("l3.tar"));
        make_layer(layers[0], F_NONE, layer0, sizeof(layer0) / sizeof(layer0[0]));
        make_layer(layers[1], F_GZIP, layer1, sizeof(layer1) / sizeof(layer1[0]));
        make_layer(layers[2], F_ZSTD, layer2, sizeof(layer2) / sizeof(layer2[0]));
        make_layer(layers[3], F_NONE, layer3, sizeof(layer3) / sizeof(layer3[0]));

        synth_add(&top, ".singularity.d", S_IFDIR | 0755, NULL, 0, NULL);
        synth_add(&top, ".singularity.d/runscript", S_IFREG | 0755, "#!/bin/sh\n", 10, NULL);
        synth_add(&top, "top_wins", S_IFREG | 0644, "synthetic", 9, NULL);
        synth_add(&top, "/.singularity.d/env", S_IFLNK | 0777, NULL, 0, "actions");
        synth_add(&bottom, "proc", S_IFDIR | 0755, NULL, 0, NULL);
        synth_add(&bottom, "etc/hosts", S_IFREG | 0644, "", 0, NULL);
        synth_add(&bottom, "d2l/hosts", S_IFREG | 0644, "", 0, NULL);
        synth_add(&bottom, "shadowed", S_IFREG | 0644, "bottom", 6, NULL);
        synth_add(&bottom, "etc/gone", S_IFREG | 0644, "bottom", 6, NULL);
}

static int merge_to_tar(const char *const *l, size_t n, const char *out, sing_err_t *e)
{
        struct merge_sink sink;
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), r;
        if (fd < 0 || tar_sink_open(fd, &sink, e) < 0)
                return -1;
        r = layers_merge(l, n, &top, &bottom, NULL, &sink, e);
        if (tar_sink_close(&sink, r < 0 ? NULL : e) < 0)
                r = -1;
        close(fd);
        return r;
}

/* ---- tests ---------------------------------------------------------- */

static void test_normalise(void)
{
        char out[LAYERS_MAX_PATH], big[LAYERS_MAX_PATH + 10];
        CHECK(layers_normalise_path("./a//b/./c/", out) == 0);
        CHECK_STR(out, "a/b/c");
        CHECK(layers_normalise_path("/etc/passwd", out) == 0);
        CHECK_STR(out, "etc/passwd");
        CHECK(layers_normalise_path("././", out) == 1);
        CHECK(layers_normalise_path("", out) == 1);
        CHECK(layers_normalise_path("a/../b", out) < 0 && errno == EINVAL);
        CHECK(layers_normalise_path("..", out) < 0 && errno == EINVAL);
        CHECK(layers_normalise_path("a/..b/...", out) == 0);
        CHECK_STR(out, "a/..b/...");
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        CHECK(layers_normalise_path(big, out) < 0 && errno == ENAMETOOLONG);
        /* One component over NAME_MAX (255 bytes) is refused too. */
        char longname[300];
        memset(longname, 'n', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        CHECK(layers_normalise_path(longname, out) < 0 && errno == ENAMETOOLONG);
        longname[255] = '\0';
        CHECK(layers_normalise_path(longname, out) == 0);
}

static void test_tar_sink(void)
{
        sing_err_t e = {0};
        const struct got *g;
        int r = merge_to_tar(layers, 4, tmp_path("merged.tar"), &e);
        CHECK(r == 0);
        if (r < 0) {
                fprintf(stderr, "merge: %s\n", e.msg);
                return;
        }
        read_tar(tmp_path("merged.tar"));

        CHECK((g = find("etc/passwd")) && !strcmp(g->data, "root:x"));
        /* whited out in the image, then provided by the bottom (mount point) list */
        CHECK((g = find("etc/gone")) && !strcmp(g->data, "bottom"));
        CHECK(!find("olddir") && !find("olddir/a") && !find("olddir/sub/b"));
        CHECK((g = find("opq")) && S_ISDIR(g->mode) && (g->mode & 07777) == 0711);
        CHECK(!find("opq/lower") && find("opq/upper"));
        CHECK((g = find("f2d")) && S_ISDIR(g->mode) && find("f2d/new"));
        CHECK((g = find("d2f")) && S_ISREG(g->mode) && !find("d2f/child"));
        CHECK((g = find("d2l")) && S_ISLNK(g->mode) && !strcmp(g->link, "/etc"));
        CHECK(!find("d2l/child") && !find("d2l/hosts"));
        CHECK((g = find("bin/tool")) && (g->mode & 07777) == 04755 && g->uid == 0);
        CHECK((g = find("bin/toollink")) && !strcmp(g->hardlink, "bin/tool"));
        CHECK((g = find("shadowed")) && !strcmp(g->data, "high"));
        CHECK(!find("lowlink")); /* its target was replaced: documented limitation */
        CHECK(find(LONGNAME) != NULL);
        CHECK(find(UNICODE_NAME) != NULL);
        CHECK((g = find("secret000")) && (g->mode & 07777) == 0 && !strcmp(g->data, "zero"));
        CHECK((g = find("owned")) && g->uid == 1234 && g->gid == 5678);
        CHECK(!find("dev/null"));
        CHECK((g = find("abs/file")) && !strcmp(g->data, "abs"));
        CHECK(count("dup") == 1 && (g = find("dup")) && !strcmp(g->data, "first"));
        CHECK(find("nested/deep/x") != NULL);
        CHECK((g = find("ro")) && (g->mode & 07777) == 0555 && find("ro/inner"));
        CHECK((g = find("xat")) && !strcmp(g->xattr, "hello"));
        CHECK((g = find("xat")) && g->mtime_nsec == 500);
        CHECK((g = find("evil")) && S_ISLNK(g->mode) && !find("evil/passwd"));
        /* Conflicts (in one layer, across layers): the file is skipped and the
         * implied parent directory is emitted as root's 0755 directory. */
        CHECK(find("k/x") && (g = find("k")) && S_ISDIR(g->mode) && g->uid == 0 &&
              (g->mode & 07777) == 0755);
        CHECK(find("c/x") && (g = find("c")) && S_ISDIR(g->mode) && g->uid == 0);
        CHECK(count("k") == 1 && count("nested") == 1);
        CHECK(find("top_only") != NULL);
        CHECK((g = find("top_wins")) && !strcmp(g->data, "synthetic"));
        CHECK((g = find(".singularity.d/runscript")) && (g->mode & 0777) == 0755);
        CHECK((g = find(".singularity.d/env")) && !strcmp(g->link, "actions"));
        CHECK((g = find("proc")) && S_ISDIR(g->mode));
        CHECK(find("etc/hosts") != NULL);
        for (size_t i = 0; i < ngot; i++) {
                CHECK(strstr(got[i].name, ".wh.") == NULL);
                CHECK(got[i].name[0] != '/' && strncmp(got[i].name, "./", 2) != 0);
        }
}

static void test_dir_sink(void)
{
        sing_err_t e = {0};
        struct merge_sink sink;
        struct stat st, st2;
        char buf[64] = "";
        const char *root = tmp_path("rootfs");
        int rootfd, fd, r;

        mkdir(root, 0755);
        rootfd = open(root, O_RDONLY | O_DIRECTORY);
        mode_t um = umask(022);
        CHECK(rootfd >= 0 && dir_sink_open(rootfd, &sink, &e) == 0);
        r = layers_merge(layers, 4, &top, &bottom, NULL, &sink, &e);
        umask(um);
        CHECK(r == 0);
        if (r < 0)
                fprintf(stderr, "merge: %s\n", e.msg);
        CHECK(dir_sink_close(&sink, &e) == 0);

        fd = openat(rootfd, "etc/passwd", O_RDONLY);
        CHECK(fd >= 0 && read(fd, buf, sizeof(buf) - 1) == 6 && !strcmp(buf, "root:x"));
        if (fd >= 0)
                close(fd);
        fd = openat(rootfd, "etc/gone", O_RDONLY);
        memset(buf, 0, sizeof(buf));
        CHECK(fd >= 0 && read(fd, buf, sizeof(buf) - 1) == 6 && !strcmp(buf, "bottom"));
        if (fd >= 0)
                close(fd);
        CHECK(fstatat(rootfd, "olddir", &st, AT_SYMLINK_NOFOLLOW) < 0);
        CHECK(fstatat(rootfd, "opq/lower", &st, AT_SYMLINK_NOFOLLOW) < 0);
        CHECK(fstatat(rootfd, "opq/upper", &st, AT_SYMLINK_NOFOLLOW) == 0);
        CHECK(fstatat(rootfd, "f2d", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
              (st.st_mode & 07777) == 0750);
        CHECK(fstatat(rootfd, "d2f", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode));
        CHECK(fstatat(rootfd, "d2l", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode));
        CHECK(readlinkat(rootfd, "d2l", buf, sizeof(buf)) == 4 && !strncmp(buf, "/etc", 4));
        CHECK(fstatat(rootfd, "bin/tool", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
              (st.st_mode & 07777) == 04755);
        CHECK(fstatat(rootfd, "bin/toollink", &st2, AT_SYMLINK_NOFOLLOW) == 0 &&
              st2.st_ino == st.st_ino);
        CHECK(fstatat(rootfd, "secret000", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
              (st.st_mode & 07777) == 0 && st.st_size == 4);
        CHECK(fstatat(rootfd, "ro", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
              (st.st_mode & 07777) == 0555 && st.st_mtime == 1600000000 + 28);
        CHECK(fstatat(rootfd, "ro/inner", &st, AT_SYMLINK_NOFOLLOW) == 0);
        CHECK(fstatat(rootfd, "xat", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
              st.st_mtime == 1600000000 + 29 && st.st_mtim.tv_nsec == 500);
        CHECK(fstatat(rootfd, "owned", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
              st.st_mtime == 1600000000 + 21);
        if (geteuid() == 0)
                CHECK(st.st_uid == 1234 && st.st_gid == 5678);
        else
                CHECK(st.st_uid == geteuid());
        CHECK(fstatat(rootfd, "rootowned", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
              (st.st_mode & 07777) == 0640);
        if (geteuid() == 0)
                CHECK(st.st_uid == 0 && st.st_gid == 0);
        /* created under umask 022, still 0666 */
        CHECK(fstatat(rootfd, "groupw", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
              (st.st_mode & 07777) == 0666 && st.st_size == 22);
        /* nothing was written through the planted "evil" -> /etc symlink */
        CHECK(fstatat(rootfd, "evil", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode));
        fd = open("/etc/passwd", O_RDONLY);
        memset(buf, 0, sizeof(buf));
        CHECK(fd >= 0 && read(fd, buf, 5) == 5 && strcmp(buf, "pwned") != 0);
        if (fd >= 0)
                close(fd);
        CHECK(fstatat(rootfd, "dev/null", &st, AT_SYMLINK_NOFOLLOW) < 0);
        CHECK(fstatat(rootfd, LONGNAME, &st, AT_SYMLINK_NOFOLLOW) == 0);
        CHECK(fstatat(rootfd, UNICODE_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0);
        CHECK(fstatat(rootfd, "abs/file", &st, AT_SYMLINK_NOFOLLOW) == 0);
        CHECK(fstatat(rootfd, "proc", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode));
        CHECK(fstatat(rootfd, ".singularity.d/runscript", &st, AT_SYMLINK_NOFOLLOW) == 0);
        fd = openat(rootfd, "xat", O_RDONLY);
        memset(buf, 0, sizeof(buf));
        if (fd >= 0) {
                ssize_t n = fgetxattr(fd, "user.test", buf, sizeof(buf));
                /* tmpfs without user xattrs: not a merge failure */
                CHECK((n == 5 && !strcmp(buf, "hello")) || (n < 0 && errno == EOPNOTSUPP));
                close(fd);
        }
        close(rootfd);
}

/* Layers that must make the merge fail, with a message naming the layer. */
static void expect_rejected(const char *file, const struct tent *t, size_t n, const char *what)
{
        sing_err_t e = {0};
        const char *l[1] = {file};
        make_layer(file, F_GZIP, t, n);
        CHECK(merge_to_tar(l, 1, tmp_path("rejected.tar"), &e) < 0);
        CHECK(strstr(e.msg, strrchr(file, '/') + 1) != NULL);
        CHECK(strstr(e.msg, what) != NULL);
        fprintf(stderr, "expected error: %s\n", e.msg);
}

/* A ustar header claiming a 65 GiB file (base-256 size field). */
static void test_huge_size(void)
{
        unsigned char h[512 * 4] = {0};
        unsigned sum = 0;
        unsigned long long size = 65ull << 30;
        sing_err_t e = {0};
        const char *file = tmp_path("huge.tar");
        const char *l[1] = {file};
        FILE *f;

        strcpy((char *)h, "huge");
        memcpy(h + 100, "0000644", 8);
        memcpy(h + 108, "0000000", 8);
        memcpy(h + 116, "0000000", 8);
        h[124] = 0x80;
        for (int i = 0; i < 8; i++)
                h[135 - i] = (unsigned char)(size >> (8 * i));
        memcpy(h + 136, "00000000000", 12);
        h[156] = '0';
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        memset(h + 148, ' ', 8);
        for (int i = 0; i < 512; i++)
                sum += h[i];
        snprintf((char *)h + 148, 8, "%06o", sum);
        f = fopen(file, "w");
        fwrite(h, 1, sizeof(h), f);
        fclose(f);
        CHECK(merge_to_tar(l, 1, tmp_path("rejected.tar"), &e) < 0);
        CHECK(strstr(e.msg, "limit") != NULL);
        fprintf(stderr, "expected error: %s\n", e.msg);
}

static void test_squash(void)
{
        sing_err_t e = {0};
        struct merge_sink sink;
        struct squash_proc p;
        uint64_t size = 0;
        const char *out = tmp_path("image.sif");
        char cmd[1024], line[4096];
        int have_tool = 0, have_owned = 0, have_link = 0, have_long = 0, have_uni = 0, bad = 0;
        int r;
        FILE *f;

        if (squash_start(out, 8192, "zstd", 3, 1, &p, &e) < 0) {
                fprintf(stderr, "squash_start: %s\n", e.msg);
                CHECK(0);
                return;
        }
        CHECK(tar_sink_open(p.fd, &sink, &e) == 0);
        r = layers_merge(layers, 4, &top, &bottom, NULL, &sink, &e);
        CHECK(r == 0);
        CHECK(tar_sink_close(&sink, &e) == 0);
        if (r < 0) {
                squash_abort(&p);
                return;
        }
        r = squash_finish(&p, &size, &e);
        CHECK(r == 0);
        if (r < 0) {
                fprintf(stderr, "squash_finish: %s\n", e.msg);
                return;
        }
        CHECK(size > 0 && size % 4096 == 0);

        snprintf(cmd, sizeof(cmd), "unsquashfs -o 8192 -lln '%s'", out);
        f = popen(cmd, "r");
        CHECK(f != NULL);
        while (f && fgets(line, sizeof(line), f)) {
                if (strstr(line, "-rwsr-xr-x 0/0") && strstr(line, "squashfs-root/bin/tool\n"))
                        have_tool = 1;
                if (strstr(line, "-rw-r----- 1234/5678") && strstr(line, "squashfs-root/owned\n"))
                        have_owned = 1;
                if (strstr(line, "squashfs-root/d2l -> /etc"))
                        have_link = 1;
                if (strstr(line, "squashfs-root/" LONGNAME))
                        have_long = 1;
                if (strstr(line, "squashfs-root/" UNICODE_NAME))
                        have_uni = 1;
                if (strstr(line, ".wh.") || strstr(line, "olddir") || strstr(line, "evil/") ||
                    strstr(line, "dev/null") || strstr(line, "lowlink"))
                        bad = 1;
        }
        CHECK(f && pclose(f) == 0);
        CHECK(have_tool && have_owned && have_link && have_long && have_uni && !bad);

        /* the xattr of "xat" made it into the squashfs */
        snprintf(cmd, sizeof(cmd), "unsquashfs -o 8192 -s '%s'", out);
        f = popen(cmd, "r");
        bad = 1;
        while (f && fgets(line, sizeof(line), f))
                if (!strcmp(line, "Number of xattr ids 1\n"))
                        bad = 0;
        CHECK(f && pclose(f) == 0 && !bad);

        /* a failing mksquashfs: its message comes back */
        CHECK(squash_start(out, 0, "no-such-compressor", 0, 1, &p, &e) == 0);
        close(p.fd);
        p.fd = -1;
        CHECK(squash_finish(&p, &size, &e) < 0 &&
              strstr(e.msg, "mksquashfs (building the squashfs image) failed with exit status"));
        fprintf(stderr, "expected error: %s\n", e.msg);
}

static void test_squash_dir(void)
{
        sing_err_t e = {0};
        uint64_t size = 0;
        CHECK(squash_dir(tmp_path("rootfs"), tmp_path("dir.sqfs"), 4096, "gzip", 1, 1, &size, &e) ==
              0);
        CHECK(size > 0);
        if (e.msg[0])
                fprintf(stderr, "squash_dir: %s\n", e.msg);
}

/* One ustar header block of `type` with `size`, checksum set. */
static void header_block(unsigned char b[512], char type, size_t size)
{
        unsigned sum = 0;
        memset(b, 0, 512);
        memcpy(b, "PaxHeader/x", 11);
        snprintf((char *)b + 100, 8, "%07o", 0644);
        snprintf((char *)b + 124, 12, "%011zo", size);
        b[156] = (unsigned char)type;
        memcpy(b + 257,
               "ustar\0"
               "00",
               8);
        memset(b + 148, ' ', 8);
        for (int i = 0; i < 512; i++)
                sum += b[i];
        snprintf((char *)b + 148, 8, "%06o", sum);
}

/* Feed a pax header with `records` (then a file entry): 0 or -1. */
static int check_pax(const char *records, size_t len)
{
        unsigned char buf[512 * 6] = {0};
        struct tar_check *c = tar_check_new();
        sing_err_t e;
        int r;
        header_block(buf, 'x', len);
        memcpy(buf + 512, records, len);
        header_block(buf + 1024, '0', 0);
        r = tar_check_feed(c, buf, sizeof(buf), &e);
        tar_check_free(c);
        return r;
}

static void test_tar_check(void)
{
        static const char ok[] = "20 path=a/long/name\n13 mtime=1.5\n";
        static const char bad_nl[] = "20 path=a/long/nameX";
        static const char no_eq[] = "12 pathXabc\n";
        static const char nul_path[] = "12 path=a\0b\n";
        static const char nul_key[] = "22 SCHILY.xattr.a\0b=1\n";
        static const char bad_mtime[] = "13 mtime=1.x\n";
        static const char bad_uid[] = "10 uid=1a\n";
        static const char empty_uid[] = "7 uid=\n";
        unsigned char two[1024];
        struct tar_check *c;
        sing_err_t e;

        CHECK(check_pax(ok, sizeof(ok) - 1) == 0);
        CHECK(check_pax(bad_nl, sizeof(bad_nl) - 1) < 0);
        CHECK(check_pax(no_eq, sizeof(no_eq) - 1) < 0);
        CHECK(check_pax(nul_path, sizeof(nul_path) - 1) < 0);
        CHECK(check_pax(nul_key, sizeof(nul_key) - 1) < 0);
        CHECK(check_pax(ok, sizeof(ok) - 2) < 0);
        CHECK(check_pax(bad_mtime, sizeof(bad_mtime) - 1) < 0);
        CHECK(check_pax(bad_uid, sizeof(bad_uid) - 1) < 0);
        CHECK(check_pax(empty_uid, sizeof(empty_uid) - 1) == 0);
        /* a pax header and then nothing: an empty archive to Go */
        c = tar_check_new();
        header_block(two, 'x', 12);
        memset(two + 512, 0, 512);
        memcpy(two + 512, "12 path=abc\n", 12);
        CHECK(tar_check_feed(c, two, sizeof(two), &e) == 0);
        CHECK(tar_check_ended_after_extension(c));
        tar_check_free(c);
}

/* ---- a layer bigger than the decompression ring ---------------------- */

/* 6 MiB of numbered lines: more than the ring of blocks holds, so the
 * decompression thread waits for the reader. */
static char *big_text(size_t *len)
{
        size_t cap = 6u << 20, n = 0;
        char *t = malloc(cap + 32);
        for (unsigned i = 0; n < cap; i++)
                n += (size_t)sprintf(t + n, "line %u of the big file\n", i);
        *len = n;
        return t;
}

static const char *big_layer(const char *name, enum filter f)
{
        size_t len;
        char *text = big_text(&len);
        const struct tent t[] = {
            {"big/file", S_IFREG | 0644, text},
            {"big/after", S_IFREG | 0644, "after"},
        };
        const char *path = tmp_path(name);
        make_layer(path, f, t, 2);
        free(text);
        return path;
}

static void test_big_layer(void)
{
        sing_err_t e = {0};
        struct merge_sink sink;
        const char *root = tmp_path("bigroot");
        const char *l[2] = {big_layer("big.tar.gz", F_GZIP), big_layer("big2.tar.zst", F_ZSTD)};
        size_t len;
        char *want = big_text(&len), *got_text = malloc(len + 1);
        struct stat st;
        int rootfd, fd;

        mkdir(root, 0755);
        rootfd = open(root, O_RDONLY | O_DIRECTORY);
        CHECK(rootfd >= 0 && dir_sink_open(rootfd, &sink, &e) == 0);
        CHECK(layers_merge(l, 2, NULL, NULL, NULL, &sink, &e) == 0);
        CHECK(dir_sink_close(&sink, &e) == 0);
        fd = openat(rootfd, "big/file", O_RDONLY);
        CHECK(fd >= 0 && fstat(fd, &st) == 0 && (size_t)st.st_size == len);
        CHECK(fd >= 0 && read(fd, got_text, len + 1) == (ssize_t)len &&
              !memcmp(got_text, want, len));
        if (fd >= 0)
                close(fd);
        CHECK(fstatat(rootfd, "big/after", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size == 5);
        close(rootfd);
        free(want);
        free(got_text);
}

/* Cut in the middle of its compressed data: the merge fails naming the
 * layer, whatever the decompression thread had read ahead. */
static void test_truncated_layer(void)
{
        sing_err_t e = {0};
        const char *full = big_layer("cut.tar.gz", F_GZIP);
        struct stat st;
        const char *l[1] = {full};

        CHECK(stat(full, &st) == 0 && truncate(full, st.st_size / 2) == 0);
        CHECK(merge_to_tar(l, 1, tmp_path("cut.tar"), &e) < 0);
        CHECK(strstr(e.msg, "cut.tar.gz") != NULL);
        fprintf(stderr, "expected error: %s\n", e.msg);
}

/* A gzip layer whose trailer (CRC32, then ISIZE) has a flipped byte: the
 * tar inside is whole, and the merge still fails, naming the layer, since
 * the stream after the tar's end is read and checked. The same layer
 * unflipped merges. */
/* src gzip-compressed into dst, byte for byte (libarchive's raw format). */
static void gzip_file(const char *src, const char *dst)
{
        struct archive *w = archive_write_new();
        struct archive_entry *ae = archive_entry_new();
        char buf[65536];
        ssize_t n;
        int fd = open(src, O_RDONLY);

        archive_write_set_format_raw(w);
        archive_write_add_filter_gzip(w);
        archive_entry_set_filetype(ae, AE_IFREG);
        if (fd < 0 || archive_write_open_filename(w, dst) != ARCHIVE_OK ||
            archive_write_header(w, ae) != ARCHIVE_OK) {
                fprintf(stderr, "%s: cannot gzip it\n", src);
                exit(2);
        }
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                archive_write_data(w, buf, (size_t)n);
        close(fd);
        archive_write_close(w);
        archive_write_free(w);
        archive_entry_free(ae);
}

static void gzip_trailer_checked(const char *name)
{
        static const long at[] = {-8, -5, -4, -1};
        char file[512], out[512];
        const char *l[1] = {file};
        sing_err_t e = {0};
        struct stat st;

        snprintf(file, sizeof(file), "%s", name); /* tmp_path's buffers are reused */
        snprintf(out, sizeof(out), "%s", tmp_path("trailer.tar"));
        CHECK(merge_to_tar(l, 1, out, &e) == 0);
        CHECK(stat(file, &st) == 0);
        for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
                int fd = open(file, O_RDWR);
                unsigned char c = 0;
                off_t off = st.st_size + at[i];
                CHECK(fd >= 0 && pread(fd, &c, 1, off) == 1);
                c ^= 0x40;
                CHECK(fd >= 0 && pwrite(fd, &c, 1, off) == 1);
                memset(&e, 0, sizeof(e));
                CHECK(merge_to_tar(l, 1, out, &e) < 0);
                CHECK(strstr(e.msg, strrchr(file, '/') + 1) != NULL);
                CHECK(strstr(e.msg, "CRC32 or length") != NULL);
                if (i == 0)
                        fprintf(stderr, "expected error: %s\n", e.msg);
                c ^= 0x40;
                CHECK(fd >= 0 && pwrite(fd, &c, 1, off) == 1);
                if (fd >= 0)
                        close(fd);
        }
}

/* A small layer (its stream ends in the first block), one bigger than the
 * ring (the bad trailer comes with the last file's data), and one whose tar
 * ends 4 MiB before its stream (zero padding): the tar reader has seen its
 * end before the decoder sees the trailer. */
static void test_gzip_trailer_checked(void)
{
        static const struct tent t[] = {{"etc/x", S_IFREG | 0644, "hello"}};
        char padded[512];

        make_layer(tmp_path("trailer.tar.gz"), F_GZIP, t, 1);
        gzip_trailer_checked(tmp_path("trailer.tar.gz"));
        gzip_trailer_checked(big_layer("trailer-big.tar.gz", F_GZIP));
        layer_block_bytes = 4 << 20;
        make_layer(tmp_path("padded.tar"), F_NONE, t, 1);
        layer_block_bytes = 0;
        /* tmp_path's buffers are reused: a copy outlives the calls */
        snprintf(padded, sizeof(padded), "%s", tmp_path("padded.tar.gz"));
        gzip_file(tmp_path("padded.tar"), padded);
        gzip_trailer_checked(padded);
}

/* A sink that refuses the first entry: the merge stops while the
 * decompression thread waits on a full ring, and returns (no hang). */
static int refuse(void *ctx, struct archive_entry *ae, struct merge_data *data, sing_err_t *e)
{
        (void)ctx, (void)ae, (void)data;
        return err_set(e, "refused by the test sink");
}

static void test_stop_early(void)
{
        sing_err_t e = {0};
        const struct merge_sink sink = {.entry = refuse};
        const char *l[1] = {big_layer("stop.tar.gz", F_GZIP)};

        CHECK(layers_merge(l, 1, NULL, NULL, NULL, &sink, &e) < 0);
        CHECK(strstr(e.msg, "refused by the test sink") != NULL);
}

int main(void)
{
        char cmd[600];

        log_set_level(LOG_LVL_WARN);
        if (!mkdtemp(tmp)) {
                perror("mkdtemp");
                return 2;
        }
        make_inputs();
        RUN(test_normalise);
        RUN(test_tar_check);
        RUN(test_tar_sink);
        RUN(test_dir_sink);
        {
                static const struct tent dotdot[] = {{"ok", S_IFREG | 0644, "ok"},
                                                     {"a/../../x", S_IFREG | 0644, "x"}};
                static const struct tent hl[] = {{"ok", S_IFREG | 0644, "ok"},
                                                 {"pw", 0, NULL, "../../etc/passwd"}};
                expect_rejected(tmp_path("dotdot.tar.gz"), dotdot, 2, "a/../../x");
                expect_rejected(tmp_path("hardlink.tar.gz"), hl, 2, "../../etc/passwd");
        }
        RUN(test_huge_size);
        RUN(test_big_layer);
        RUN(test_truncated_layer);
        RUN(test_gzip_trailer_checked);
        RUN(test_stop_early);
        RUN(test_squash);
        RUN(test_squash_dir);

        synth_list_free(&top);
        synth_list_free(&bottom);
        if (getenv("KEEP"))
                return check_failures ? 1 : 0;
        snprintf(cmd, sizeof(cmd), "chmod -R u+rwX '%s'; rm -rf '%s'", tmp, tmp);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", tmp);
        CHECK_DONE();
}
