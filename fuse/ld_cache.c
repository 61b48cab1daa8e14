/* Lookups in an untrusted copy of ld.so.cache (see ld_cache.h). The layout
 * is glibc's (elf/dl-cache.h): a 48-byte header, nlibs entries of 24 bytes,
 * then strings; an entry's key (the soname) and value (the path) are byte
 * offsets from the start of that header. */
#include "ld_cache.h"

#include <elf.h>
#include <string.h>

#define MAGIC_OLD "ld.so-1.7.0"
#define MAGIC_NEW "glibc-ld.so.cache1.1"

struct header_old { /* the old format's header; 12-byte entries follow */
        char magic[sizeof(MAGIC_OLD) - 1];
        uint32_t nlibs;
};

struct header_new {
        char magic[sizeof(MAGIC_NEW) - 1]; /* magic and version */
        uint32_t nlibs;
        uint32_t len_strings;
        uint8_t flags;
        uint8_t pad[3];
        uint32_t extension_offset;
        uint32_t unused[3];
};

struct entry_new {
        int32_t flags;
        uint32_t key, value;
        uint32_t osversion;
        uint64_t hwcap;
};

_Static_assert(sizeof(struct header_new) == 48, "glibc's cache_file_new header");
_Static_assert(sizeof(struct entry_new) == 24, "glibc's file_entry_new");

/* glibc's FLAG_ELF_LIBC6 and the per-ABI FLAG_*_LIB64 values. */
int32_t ld_cache_flags_for(uint16_t e_machine)
{
        switch (e_machine) {
        case EM_X86_64:
                return 0x0303;
        case EM_AARCH64:
                return 0x0a03;
        case EM_PPC64:
                return 0x0503;
        case EM_S390:
                return 0x0403;
        default:
                return -1;
        }
}

/* The string at off in the cache: inside it and NUL-terminated there. */
static const char *string_at(const char *base, size_t len, uint32_t off)
{
        if (off >= len || !memchr(base + off, '\0', len - off))
                return NULL;
        return base + off;
}

bool ld_cache_lookup(const void *cache, size_t len, const char *name, int32_t flags, char *path,
                     size_t size)
{
        const char *base = cache;
        /* The old format, if present, comes first: skip its entries to the
         * new header, aligned as glibc writes it. */
        if (len >= sizeof(struct header_old) &&
            memcmp(base, MAGIC_OLD, sizeof(MAGIC_OLD) - 1) == 0) {
                struct header_old old;
                memcpy(&old, base, sizeof(old));
                uint64_t skip = sizeof(old) + (uint64_t)old.nlibs * 12;
                skip = (skip + 7) & ~(uint64_t)7;
                if (skip >= len)
                        return false;
                base += skip;
                len -= skip;
        }
        struct header_new h;
        if (len < sizeof(h))
                return false;
        memcpy(&h, base, sizeof(h));
        if (memcmp(h.magic, MAGIC_NEW, sizeof(h.magic)) != 0 ||
            h.nlibs > (len - sizeof(h)) / sizeof(struct entry_new))
                return false;
        for (uint32_t i = 0; i < h.nlibs; i++) {
                struct entry_new e;
                memcpy(&e, base + sizeof(h) + (size_t)i * sizeof(e), sizeof(e));
                if (e.flags != flags || e.hwcap != 0)
                        continue;
                const char *key = string_at(base, len, e.key);
                if (!key || strcmp(key, name) != 0)
                        continue;
                const char *value = string_at(base, len, e.value);
                if (!value || value[0] != '/' || strlen(value) >= size)
                        continue;
                strcpy(path, value);
                return true;
        }
        return false;
}
