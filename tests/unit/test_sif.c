/* SIF writer and reader, image-type detection.
 * Writes SIFs with sif_finalize (real squashfs from mksquashfs, or a fake
 * superblock), reads them back field by field, cross-checks with the
 * reference siftool in both directions, then feeds the reader corrupted
 * copies: each must be rejected with its message and without crashing. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "image.h"
#include "sif.h"
#include "sif_write.h"
#include "squashfs.h"

static char tmp[64];
static char squash_dir[128];

static const char deffile[] = "Bootstrap: docker\nFrom: alpine\n";
static const char config[] = "{\"config\":{\"Env\":[\"PATH=/bin\"]}}";
static const char labels[] = "{\"org.label\":\"x\"}";
static const struct sif_object objs3[] = {
    {SIF_DATA_DEFFILE, "", deffile, sizeof(deffile) - 1},
    {SIF_DATA_GENERICJSON, "oci-config.json", config, sizeof(config) - 1},
    {SIF_DATA_LABELS, "labels.json", labels, sizeof(labels) - 1},
};

static char *tmp_path(const char *name)
{
        static char buf[4][256];
        static int i;
        char *p = buf[i++ % 4];
        snprintf(p, 256, "%s/%s", tmp, name);
        return p;
}

static int run(const char *cmd)
{
        int st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run cmd, capture stdout+stderr into out; returns the exit status. */
static int run_capture(const char *cmd, char *out, size_t outlen)
{
        char full[1024];
        size_t n;
        FILE *p;
        int st;
        snprintf(full, sizeof(full), "%s 2>&1", cmd);
        p = popen(full, "r");
        if (!p)
                return -1;
        n = fread(out, 1, outlen - 1, p);
        out[n] = '\0';
        st = pclose(p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int write_file(const char *path, const void *data, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int ok;
        if (fd < 0)
                return -1;
        ok = write(fd, data, len) == (ssize_t)len;
        close(fd);
        return ok ? 0 : -1;
}

static unsigned char *read_file(const char *path, size_t *len)
{
        struct stat st;
        unsigned char *buf;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return NULL;
        buf = malloc((size_t)st.st_size + 1);
        if (buf && pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
                free(buf);
                buf = NULL;
        }
        close(fd);
        *len = (size_t)st.st_size;
        return buf;
}

/* A SIF with a real squashfs of squash_dir written by mksquashfs in place. */
static int make_real_sif(const char *path, const struct sif_object *objs, size_t n,
                         uint64_t *part_size)
{
        char cmd[512];
        struct stat st;
        sing_err_t e = {0};
        uint64_t off = sif_partition_offset(objs, n);
        int fd, rc;

        snprintf(cmd, sizeof(cmd), "mksquashfs %s %s -offset %llu -noappend -quiet -no-progress",
                 squash_dir, path, (unsigned long long)off);
        if (run(cmd) != 0)
                return -1;
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return -1;
        *part_size = (uint64_t)st.st_size - off;
        rc = sif_finalize(fd, objs, n, off, *part_size, "02", &e);
        if (rc < 0)
                fprintf(stderr, "sif_finalize: %s\n", e.msg);
        close(fd);
        return rc;
}

/* A 4096-byte stand-in for a squashfs: magic, version 4, bytes_used 4096. */
static void fake_squashfs(unsigned char sb[4096])
{
        memset(sb, 0, 4096);
        memcpy(sb, "hsqs", 4);
        sb[28] = 4;
        sif_put_le64(sb + 40, 4096);
}

static int make_fake_sif(const char *path, const struct sif_object *objs, size_t n,
                         const char *arch)
{
        unsigned char sb[4096];
        sing_err_t e = {0};
        uint64_t off = sif_partition_offset(objs, n);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc;
        if (fd < 0)
                return -1;
        fake_squashfs(sb);
        if (pwrite(fd, sb, sizeof(sb), (off_t)off) != (ssize_t)sizeof(sb)) {
                close(fd);
                return -1;
        }
        rc = sif_finalize(fd, objs, n, off, sizeof(sb), arch, &e);
        if (rc < 0)
                fprintf(stderr, "sif_finalize: %s\n", e.msg);
        close(fd);
        return rc;
}

static int read_sif(const char *path, struct sif_file *f, sing_err_t *e)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
        if (fd < 0)
                return err_errno(e, "open %s", path);
        rc = sif_read_fd(fd, f, e);
        close(fd);
        return rc;
}

static int probe(const char *path, struct image_info *info, sing_err_t *e)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
        if (fd < 0)
                return err_errno(e, "open %s", path);
        rc = image_probe_fd(fd, info, e);
        close(fd);
        return rc;
}

static void test_roundtrip(void)
{
        const char *path = tmp_path("real.sif");
        time_t before = time(NULL), after;
        uint64_t part_size = 0, off = sif_partition_offset(objs3, 3), expect_off;
        struct sif_file f;
        struct image_info info;
        sing_err_t e = {0};
        char cmd[512], out[4096];
        size_t flen;
        unsigned char *file;

        CHECK(off == 32768); /* 32176 + 83 bytes of objects, aligned to 4096 */
        CHECK(make_real_sif(path, objs3, 3, &part_size) == 0);
        after = time(NULL);
        file = read_file(path, &flen);
        CHECK(file && flen == off + part_size);

        CHECK(read_sif(path, &f, &e) == 0);
        if (f.desc == NULL) {
                fprintf(stderr, "read failed: %s\n", e.msg);
                check_failures++;
                free(file);
                return;
        }
        CHECK_STR(f.launch, SIF_LAUNCH_SCRIPT);
        CHECK_STR(f.arch, "02");
        CHECK((f.uuid[6] & 0xf0) == 0x40 && (f.uuid[8] & 0xc0) == 0x80);
        CHECK(f.ctime >= before && f.ctime <= after && f.mtime == f.ctime);
        CHECK(f.dtotal == 48 && f.dfree == 44);
        CHECK(f.descoff == 4096 && f.descsize == 48 * 585);
        CHECK(f.dataoff == 4096 + 48 * 585);
        CHECK(f.datasize == (int64_t)flen - f.dataoff);
        CHECK(f.ndesc == 4);
        CHECK(f.primary == 3);

        expect_off = (uint64_t)f.dataoff;
        for (uint32_t i = 0; i < 3 && i < f.ndesc; i++) {
                const struct sif_descriptor *d = &f.desc[i];
                CHECK(d->used == 1);
                CHECK(d->datatype == objs3[i].datatype);
                CHECK(d->id == i + 1);
                CHECK(d->groupid == (1u | 0xF0000000u));
                CHECK(d->link == 0);
                CHECK((uint64_t)d->offset == expect_off);
                CHECK((size_t)d->size == objs3[i].len);
                CHECK((size_t)d->size_with_padding == objs3[i].len);
                CHECK(d->ctime == f.ctime && d->mtime == f.ctime);
                CHECK_STR(d->name, objs3[i].name);
                CHECK(d->fstype == 0 && d->parttype == 0 && d->arch[0] == '\0');
                CHECK(file && memcmp(file + d->offset, objs3[i].data, objs3[i].len) == 0);
                expect_off += objs3[i].len;
        }
        if (f.ndesc == 4) {
                const struct sif_descriptor *p = &f.desc[3];
                CHECK(p->datatype == SIF_DATA_PARTITION && p->id == 4);
                CHECK(p->groupid == (1u | 0xF0000000u));
                CHECK((uint64_t)p->offset == off && (uint64_t)p->size == part_size);
                CHECK((uint64_t)p->size_with_padding == part_size + (off - expect_off));
                CHECK(p->fstype == SIF_FS_SQUASH && p->parttype == SIF_PART_PRIMSYS);
                CHECK_STR(p->arch, "02");
                CHECK_STR(p->name, "");
        }
        CHECK(sif_find_first(&f, SIF_DATA_GENERICJSON) == &f.desc[1]);
        CHECK(sif_find_first(&f, SIF_DATA_PARTITION) == &f.desc[3]);
        CHECK(sif_find_first(&f, SIF_DATA_SIGNATURE) == NULL);
        sif_free(&f);
        CHECK(f.desc == NULL && f.ndesc == 0);

        /* The squashfs written in place survived the finalizer. */
        snprintf(cmd, sizeof(cmd), "unsquashfs -o %llu -l %s", (unsigned long long)off, path);
        CHECK(run_capture(cmd, out, sizeof(out)) == 0);
        CHECK(strstr(out, "squashfs-root/hello.txt") != NULL);

        CHECK(probe(path, &info, &e) == 0);
        CHECK(info.kind == IMAGE_SIF && info.offset == off && info.size == part_size);
        CHECK_STR(info.arch, "02");
        CHECK_STR(image_kind_name(info.kind), "SIF");
        free(file);
}

static int have_siftool(void)
{
        return run("command -v siftool >/dev/null 2>&1") == 0;
}

/* The reference tool accepts what we write... */
static void test_siftool_reads_ours(void)
{
        char cmd[512], out[8192];
        const char *path = tmp_path("real.sif");

        if (!have_siftool())
                SKIP("siftool is not installed (apt-get install siftool)");
        snprintf(cmd, sizeof(cmd), "siftool header %s", path);
        CHECK(run_capture(cmd, out, sizeof(out)) == 0);
        CHECK(strstr(out, "Primary Architecture: amd64") != NULL);
        CHECK(strstr(out, "Descriptors Total:    48") != NULL);
        CHECK(strstr(out, "Descriptors Free:     44") != NULL);

        snprintf(cmd, sizeof(cmd), "siftool list %s", path);
        CHECK(run_capture(cmd, out, sizeof(out)) == 0);
        CHECK(strstr(out, "FS (Squashfs/*System/amd64)") != NULL);
        CHECK(strstr(out, "JSON.Generic") != NULL);
        CHECK(strstr(out, "Def.FILE") != NULL);
        if (check_failures)
                fprintf(stderr, "siftool output:\n%s\n", out);

        /* And dumps our JSON object byte for byte. */
        snprintf(cmd, sizeof(cmd), "siftool dump 2 %s", path);
        CHECK(run_capture(cmd, out, sizeof(out)) == 0);
        CHECK_STR(out, config);
}

/* ...and we read what the reference tool writes. */
static void test_we_read_siftool(void)
{
        char cmd[1024], out[4096];
        const char *ref = tmp_path("ref.sif"), *sq = tmp_path("plain.sqfs");
        const char *json = tmp_path("c.json");
        struct sif_file f;
        struct image_info info;
        sing_err_t e = {0};

        if (!have_siftool())
                SKIP("siftool is not installed (apt-get install siftool)");
        CHECK(write_file(json, config, sizeof(config) - 1) == 0);
        snprintf(cmd, sizeof(cmd),
                 "siftool new %s && siftool add --datatype 6 %s %s && "
                 "siftool add --datatype 4 --parttype 2 --partfs 1 --partarch 4 %s %s",
                 ref, ref, json, ref, sq);
        CHECK(run_capture(cmd, out, sizeof(out)) == 0);
        CHECK(read_sif(ref, &f, &e) == 0);
        if (!f.desc) {
                fprintf(stderr, "reading siftool's SIF: %s\n%s\n", e.msg, out);
                check_failures++;
                return;
        }
        CHECK(f.ndesc == 2 && f.primary == 1);
        CHECK(f.desc[0].datatype == SIF_DATA_GENERICJSON &&
              (size_t)f.desc[0].size == sizeof(config) - 1);
        CHECK(f.desc[1].offset % 4096 == 0);
        CHECK_STR(f.desc[1].arch, "04");
        CHECK_STR(f.arch, "04");
        sif_free(&f);
        CHECK(probe(ref, &info, &e) == 0);
        CHECK(info.kind == IMAGE_SIF && info.offset % 4096 == 0 && info.size > 0);
        CHECK_STR(info.arch, "04");
}

/* ---- corrupted copies of a small SIF (one JSON object + fake squashfs) ---- */

static unsigned char *base;
static size_t base_len;
#define DESC(slot) (4096 + (slot)*585)

static void expect_reject(const char *what, const unsigned char *buf, size_t len, const char *msg)
{
        const char *path = tmp_path("bad.sif");
        struct sif_file f;
        struct image_info info;
        sing_err_t e = {0}, e2 = {0};

        if (write_file(path, buf, len) < 0) {
                check_failures++;
                return;
        }
        if (read_sif(path, &f, &e) == 0) {
                fprintf(stderr, "%s: corrupt SIF was accepted\n", what);
                check_failures++;
                sif_free(&f);
                return;
        }
        CHECK(f.desc == NULL && f.primary == -1);
        if (strcmp(e.msg, msg) != 0) {
                fprintf(stderr, "%s: got \"%s\", want \"%s\"\n", what, e.msg, msg);
                check_failures++;
        }
        /* The prober must not guess another format for a broken SIF. */
        CHECK(probe(path, &info, &e2) == -1);
        if (sif_has_magic(buf, len))
                CHECK_STR(e2.msg, e.msg);
}

static unsigned char *copy_base(void)
{
        unsigned char *c = malloc(base_len);
        memcpy(c, base, base_len);
        return c;
}

static void test_corruptions(void)
{
        static const struct sif_object one[] = {
            {SIF_DATA_GENERICJSON, "oci-config.json", config, sizeof(config) - 1},
        };
        const char *path = tmp_path("small.sif");
        unsigned char *c;
        struct sif_file f;
        sing_err_t e = {0};
        char want[128];

        CHECK(make_fake_sif(path, one, 1, "04") == 0);
        base = read_file(path, &base_len);
        if (!base) {
                check_failures++;
                return;
        }
        CHECK(read_sif(path, &f, &e) == 0 && f.ndesc == 2 && f.primary == 1);
        CHECK_STR(f.arch, "04");
        sif_free(&f);

        expect_reject("empty", base, 0, "not a SIF file: truncated header (0 bytes)");
        expect_reject("truncated header", base, 100,
                      "not a SIF file: truncated header (100 bytes)");

        c = copy_base();
        c[32] = 'X';
        expect_reject("bad magic", c, base_len, "not a SIF file: bad magic");
        free(c);

        c = copy_base();
        c[43] = '2';
        expect_reject("bad version", c, base_len,
                      "SIF: unsupported format version (only 01 is supported)");
        free(c);

        c = copy_base();
        c[45] = 'x';
        expect_reject("bad arch", c, base_len, "SIF: bad architecture field in the header");
        free(c);

        c = copy_base();
        sif_put_le64(c + SIF_HDR_DTOTAL, 1ull << 40);
        expect_reject("huge total", c, base_len,
                      "SIF: descriptor count 1099511627776 out of range (1-1024)");
        free(c);

        c = copy_base();
        sif_put_le64(c + SIF_HDR_DTOTAL, 0);
        expect_reject("zero total", c, base_len, "SIF: descriptor count 0 out of range (1-1024)");
        free(c);

        c = copy_base();
        sif_put_le64(c + SIF_HDR_DESCSIZE, 47 * 585);
        expect_reject("descsize mismatch", c, base_len,
                      "SIF: descriptor table size 27495 does not match 48 descriptors");
        free(c);

        c = copy_base();
        sif_put_le64(c + SIF_HDR_DESCOFF, base_len - 100);
        expect_reject("table past end", c, base_len, "SIF: descriptor table lies outside the file");
        free(c);

        c = copy_base();
        sif_put_le64(c + SIF_HDR_DESCOFF, UINT64_MAX - 1000);
        expect_reject("table offset negative", c, base_len,
                      "SIF: descriptor table lies outside the file");
        free(c);

        expect_reject("cut inside the table", base, 5000,
                      "SIF: descriptor table lies outside the file");

        c = copy_base();
        sif_put_le64(c + SIF_HDR_DATASIZE, base_len);
        expect_reject("data size", c, base_len,
                      "SIF: data section extends past the end of the file");
        free(c);

        c = copy_base();
        sif_put_le64(c + DESC(0) + SIF_DESC_OFFSET, base_len + 10);
        expect_reject("offset past end", c, base_len,
                      "SIF: object 1 extends past the end of the file");
        free(c);

        c = copy_base();
        sif_put_le64(c + DESC(0) + SIF_DESC_SIZE, INT64_MAX);
        expect_reject("offset+size overflows", c, base_len,
                      "SIF: object 1 extends past the end of the file");
        free(c);

        c = copy_base();
        sif_put_le64(c + DESC(1) + SIF_DESC_OFFSET, INT64_MAX - 10);
        sif_put_le64(c + DESC(1) + SIF_DESC_SIZE, 100);
        expect_reject("offset near INT64_MAX", c, base_len,
                      "SIF: object 2 extends past the end of the file");
        free(c);

        c = copy_base();
        sif_put_le64(c + DESC(0) + SIF_DESC_SIZE, UINT64_MAX);
        expect_reject("negative size", c, base_len, "SIF: object 1 has a negative offset or size");
        free(c);

        expect_reject("file cut inside the partition", base, base_len - 10,
                      "SIF: data section extends past the end of the file");

        /* Same cut with a header that lies about the data size. */
        c = copy_base();
        sif_put_le64(c + SIF_HDR_DATASIZE, 0);
        expect_reject("cut, data size hidden", c, base_len - 10,
                      "SIF: object 2 extends past the end of the file");
        free(c);

        c = copy_base();
        sif_put_le64(c + DESC(0) + SIF_DESC_OFFSET, 4096);
        expect_reject("object over the table", c, base_len,
                      "SIF: object 1 overlaps the header or descriptor table");
        free(c);

        c = copy_base();
        memset(c + DESC(0) + SIF_DESC_NAME, 'A', 128);
        expect_reject("name without NUL", c, base_len,
                      "SIF: object 1 has a name without a terminating NUL");
        free(c);

        c = copy_base();
        c[DESC(0) + SIF_DESC_USED] = 7;
        expect_reject("used flag", c, base_len, "SIF: descriptor 1 has a bad \"used\" flag");
        free(c);

        c = copy_base();
        sif_put_le32(c + DESC(1) + SIF_DESC_ID, 1);
        expect_reject("duplicate id", c, base_len, "SIF: duplicate object id 1");
        free(c);

        c = copy_base();
        sif_put_le32(c + DESC(1) + SIF_DESC_PARTTYPE, SIF_PART_SYSTEM);
        expect_reject("zero primary", c, base_len, "SIF: no primary system partition");
        free(c);

        c = copy_base();
        memcpy(c + DESC(2), c + DESC(1), 585);
        sif_put_le32(c + DESC(2) + SIF_DESC_ID, 3);
        expect_reject("two primaries", c, base_len, "SIF: 2 primary system partitions");
        free(c);

        c = copy_base();
        sif_put_le32(c + DESC(1) + SIF_DESC_FSTYPE, SIF_FS_EXT3);
        expect_reject("ext3 primary", c, base_len,
                      "SIF: primary system partition is not squashfs (filesystem type 2)");
        free(c);

        c = copy_base();
        memcpy(c + sif_get_le64(c + DESC(1) + SIF_DESC_OFFSET), "XXXX", 4);
        expect_reject("no hsqs", c, base_len,
                      "SIF: primary system partition does not start with the squashfs magic");
        free(c);

        c = copy_base();
        c[DESC(1) + SIF_DESC_ARCH] = 'a';
        snprintf(want, sizeof(want), "SIF: object 2 has a bad architecture field");
        expect_reject("partition arch", c, base_len, want);
        free(c);

        /* A squashfs superblock claiming more than the partition holds: the
         * SIF reader accepts it (magic present), the prober must not. */
        c = copy_base();
        sif_put_le64(c + sif_get_le64(c + DESC(1) + SIF_DESC_OFFSET) + 40, 1 << 20);
        {
                struct image_info info;
                sing_err_t e2 = {0};
                CHECK(write_file(tmp_path("bad.sif"), c, base_len) == 0);
                CHECK(probe(tmp_path("bad.sif"), &info, &e2) == -1);
                CHECK_STR(e2.msg, "SIF primary partition: squashfs superblock claims 1048576 "
                                  "bytes but the image holds 4096");
        }
        free(c);
}

/* Random damage to the header and table: never a crash (run under ASan to
 * see out-of-bounds reads), and anything accepted satisfies the guarantees. */
static void test_random_damage(void)
{
        const char *path = tmp_path("fuzz.sif");
        unsigned char *c = copy_base();
        unsigned seed = 12345;
        int accepted = 0;

        for (int round = 0; round < 3000; round++) {
                struct sif_file f;
                sing_err_t e = {0};
                size_t len = base_len;
                memcpy(c, base, base_len);
                for (int k = 0; k < 1 + round % 4; k++) {
                        size_t pos = (size_t)rand_r(&seed) % (4096 + 3 * 585);
                        if (pos >= 128 && pos < 4096)
                                pos = (size_t)rand_r(&seed) % 128;
                        c[pos] = (unsigned char)rand_r(&seed);
                }
                if (round % 7 == 0)
                        len = (size_t)rand_r(&seed) % base_len;
                if (write_file(path, c, len) < 0) {
                        check_failures++;
                        break;
                }
                if (read_sif(path, &f, &e) == 0) {
                        accepted++;
                        CHECK(f.primary >= 0 && (uint32_t)f.primary < f.ndesc);
                        for (uint32_t i = 0; i < f.ndesc; i++) {
                                CHECK(f.desc[i].offset >= 0 && f.desc[i].size >= 0);
                                CHECK((uint64_t)f.desc[i].offset + (uint64_t)f.desc[i].size <= len);
                                CHECK(strlen(f.desc[i].name) < 128);
                        }
                        sif_free(&f);
                } else {
                        CHECK(e.msg[0] != '\0' && f.desc == NULL);
                }
        }
        fprintf(stderr, "random damage: %d of 3000 copies still valid\n", accepted);
        free(c);
}

/* ---- image_probe_fd on every kind ---- */

static void test_probe(void)
{
        const char *sq = tmp_path("plain.sqfs"), *simg = tmp_path("old.simg");
        const char *rnd = tmp_path("random.bin"), *empty = tmp_path("empty.img");
        const char *launch = "#!/usr/bin/env run-singularity\n";
        struct image_info info;
        sing_err_t e = {0};
        unsigned char *sqdata, *buf, junk[8192];
        size_t sqlen;
        int fd;

        sqdata = read_file(sq, &sqlen);
        if (!sqdata) {
                check_failures++;
                return;
        }
        CHECK(strlen(launch) == 31);
        CHECK(probe(sq, &info, &e) == 0);
        CHECK(info.kind == IMAGE_SQUASHFS && info.offset == 0 && info.size == sqlen);
        CHECK_STR(info.arch, "");
        CHECK_STR(image_kind_name(info.kind), "squashfs");

        buf = malloc(31 + sqlen);
        memcpy(buf, launch, 31);
        memcpy(buf + 31, sqdata, sqlen);
        CHECK(write_file(simg, buf, 31 + sqlen) == 0);
        CHECK(probe(simg, &info, &e) == 0);
        CHECK(info.kind == IMAGE_SIMG && info.offset == 31 && info.size == sqlen);
        CHECK_STR(image_kind_name(info.kind), "simg");

        /* A launch line with something other than a squashfs after it. */
        memcpy(buf + 31, "XXXX", 4);
        CHECK(write_file(simg, buf, 31 + sqlen) == 0);
        CHECK(probe(simg, &info, &e) == -1);
        CHECK_STR(e.msg, "not a Singularity image (SIF, squashfs or sandbox directory)");
        free(buf);

        /* A truncated squashfs: the superblock claims more than the file has. */
        CHECK(write_file(tmp_path("cut.sqfs"), sqdata, 200) == 0);
        CHECK(probe(tmp_path("cut.sqfs"), &info, &e) == -1);
        CHECK(strstr(e.msg, "squashfs superblock claims") != NULL);
        free(sqdata);

        fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0 && image_probe_fd(fd, &info, &e) == 0);
        CHECK(info.kind == IMAGE_DIR);
        CHECK_STR(image_kind_name(info.kind), "sandbox");
        close(fd);

        CHECK(getrandom(junk, sizeof(junk), 0) == (ssize_t)sizeof(junk));
        junk[0] = 'x'; /* not "hsqs", not "#!" */
        CHECK(write_file(rnd, junk, sizeof(junk)) == 0);
        CHECK(probe(rnd, &info, &e) == -1);
        CHECK_STR(e.msg, "not a Singularity image (SIF, squashfs or sandbox directory)");

        CHECK(write_file(empty, "", 0) == 0);
        CHECK(probe(empty, &info, &e) == -1);
        CHECK_STR(e.msg, "not a Singularity image (SIF, squashfs or sandbox directory)");

        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0 && image_probe_fd(fd, &info, &e) == -1);
        close(fd);
}

static void test_writer_args(void)
{
        const char *path = tmp_path("args.sif");
        struct sif_object many[48];
        sing_err_t e = {0};
        unsigned char sb[4096];
        uint64_t off = sif_partition_offset(NULL, 0);
        int fd;

        CHECK(off == 32768);
        CHECK_STR(sif_arch_code("amd64"), "02");
        CHECK_STR(sif_arch_code("arm64"), "04");
        CHECK_STR(sif_arch_code("386"), "01");
        CHECK_STR(sif_arch_code("arm"), "03");
        CHECK_STR(sif_arch_code("ppc64le"), "06");
        CHECK_STR(sif_arch_code("s390x"), "11");
        CHECK_STR(sif_arch_code("riscv64"), "12");
        CHECK(sif_arch_code("sparc") == NULL);
        CHECK_STR(sif_arch_name("04"), "arm64");
        CHECK(sif_arch_name("99") == NULL);
#if defined(__x86_64__)
        CHECK_STR(sif_host_arch_code(), "02");
#endif

        /* No objects: the smallest SIF; its file grows/shrinks to fit. */
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        fake_squashfs(sb);
        CHECK(pwrite(fd, sb, sizeof(sb), (off_t)off) == (ssize_t)sizeof(sb));
        CHECK(pwrite(fd, "trailing", 8, (off_t)(off + sizeof(sb))) == 8);
        CHECK(sif_finalize(fd, NULL, 0, off, sizeof(sb), "02", &e) == 0);
        {
                struct stat st;
                struct sif_file f;
                CHECK(fstat(fd, &st) == 0 && (uint64_t)st.st_size == off + sizeof(sb));
                CHECK(sif_read_fd(fd, &f, &e) == 0 && f.ndesc == 1 && f.primary == 0);
                sif_free(&f);
        }

        CHECK(sif_finalize(fd, NULL, 0, off + 4096, sizeof(sb), "02", &e) == -1);
        CHECK_STR(e.msg, "SIF: partition offset 36864 does not match the layout (32768)");
        CHECK(sif_finalize(fd, NULL, 0, off, sizeof(sb), "amd64", &e) == -1);
        CHECK_STR(e.msg, "SIF: bad architecture code \"amd64\"");
        CHECK(sif_finalize(fd, NULL, 0, off, 1 << 20, "02", &e) == -1);
        CHECK(strstr(e.msg, "the partition should end at") != NULL);
        for (int i = 0; i < 48; i++)
                many[i] = (struct sif_object){SIF_DATA_GENERIC, "x", "y", 1};
        CHECK(sif_finalize(fd, many, 48, sif_partition_offset(many, 48), sizeof(sb), "02", &e) ==
              -1);
        CHECK_STR(e.msg, "SIF: too many objects (48, at most 47)");
        CHECK(ftruncate(fd, (off_t)off) == 0);
        CHECK(pwrite(fd, "nope", 4, (off_t)off) == 4);
        CHECK(sif_finalize(fd, NULL, 0, off, 4, "02", &e) == -1);
        CHECK_STR(e.msg, "SIF: squashfs at offset 32768 is truncated (4 bytes)");
        char junk[SQUASHFS_SUPER_SIZE] = "nope";
        CHECK(pwrite(fd, junk, sizeof(junk), (off_t)off) == (ssize_t)sizeof(junk));
        CHECK(sif_finalize(fd, NULL, 0, off, sizeof(junk), "02", &e) == -1);
        CHECK_STR(e.msg, "SIF: no squashfs magic at offset 32768");
        /* a real superblock whose image does not fit in the partition */
        CHECK(pwrite(fd, sb, sizeof(sb), (off_t)off) == (ssize_t)sizeof(sb));
        CHECK(sif_finalize(fd, NULL, 0, off, SQUASHFS_SUPER_SIZE, "02", &e) == -1);
        CHECK(strstr(e.msg, "squashfs superblock claims") != NULL);
        close(fd);
}

int main(void)
{
        char cmd[512];

        snprintf(tmp, sizeof(tmp), "/tmp/test_sif.XXXXXX");
        if (!mkdtemp(tmp)) {
                perror("mkdtemp");
                return 1;
        }
        snprintf(squash_dir, sizeof(squash_dir), "%s/root", tmp);
        snprintf(cmd, sizeof(cmd),
                 "mkdir -p %s/etc && echo hello > %s/hello.txt && "
                 "mksquashfs %s %s -noappend -quiet -no-progress",
                 squash_dir, squash_dir, squash_dir, tmp_path("plain.sqfs"));
        if (run(cmd) != 0) {
                fprintf(stderr, "cannot make a squashfs (is squashfs-tools installed?)\n");
                return 1;
        }

        RUN(test_roundtrip);
        RUN(test_siftool_reads_ours);
        RUN(test_we_read_siftool);
        RUN(test_corruptions);
        RUN(test_random_damage);
        RUN(test_probe);
        RUN(test_writer_args);

        free(base);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
        run(cmd);
        CHECK_DONE();
}
