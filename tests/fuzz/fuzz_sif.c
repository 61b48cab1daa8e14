/* libFuzzer harness for the SIF reader and the image probe (common/sif.c,
 * common/image.c): both run in the setuid starter on a file the user
 * chose. The input is the whole image file, held in a memfd. Checks the
 * guarantees sif.h and image.h give on success. */
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "image.h"
#include "sif.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        fuzz_quiet_logs();
        return 0;
}

static void check_sif(const struct sif_file *f, int64_t fsize)
{
        const struct sif_descriptor *p;

        FUZZ_ASSERT(f->ndesc <= SIF_MAX_DESCRIPTORS && (int64_t)f->ndesc <= f->dtotal,
                    "%u descriptors", f->ndesc);
        for (uint32_t i = 0; i < f->ndesc; i++) {
                const struct sif_descriptor *d = &f->desc[i];
                FUZZ_ASSERT(d->offset >= 0 && d->size >= 0 && d->offset <= fsize &&
                                d->size <= fsize - d->offset,
                            "object %u outside the file", d->id);
                FUZZ_ASSERT(memchr(d->name, '\0', sizeof(d->name)), "name without NUL");
                for (uint32_t j = 0; j < i; j++)
                        FUZZ_ASSERT(f->desc[j].id != d->id, "duplicate id %u", d->id);
        }
        FUZZ_ASSERT(f->primary >= 0 && (uint32_t)f->primary < f->ndesc, "primary %d", f->primary);
        p = &f->desc[f->primary];
        FUZZ_ASSERT(p->datatype == SIF_DATA_PARTITION && p->parttype == SIF_PART_PRIMSYS &&
                        p->fstype == SIF_FS_SQUASH,
                    "primary is not a squashfs system partition");
        FUZZ_ASSERT(sif_find_first(f, SIF_DATA_PARTITION), "no partition found");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int fd = fuzz_memfd("fuzz-sif", data, size);
        struct sif_file f;
        struct image_info info;
        sing_err_t e;

        if (sif_read_fd(fd, &f, &e) == 0) {
                check_sif(&f, (int64_t)size);
                sif_free(&f);
        } else {
                FUZZ_ASSERT(e.msg[0] && !f.desc && f.ndesc == 0, "failed read left state");
        }

        if (image_probe_fd(fd, &info, &e) == 0) {
                FUZZ_ASSERT(info.kind == IMAGE_SIF || info.kind == IMAGE_SQUASHFS ||
                                info.kind == IMAGE_SIMG,
                            "kind %d for a regular file", (int)info.kind);
                FUZZ_ASSERT(info.offset <= size && info.size <= size - info.offset,
                            "squashfs outside the file");
                FUZZ_ASSERT(memchr(info.arch, '\0', sizeof(info.arch)), "arch without NUL");
        } else {
                FUZZ_ASSERT(e.msg[0], "failure without a message");
        }
        close(fd);
        return 0;
}
