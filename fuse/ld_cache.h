/* Where the dynamic loader finds a library, from a copy of an image's
 * /etc/ld.so.cache (glibc's format "glibc-ld.so.cache1.1", alone or after
 * the old "ld.so-1.7.0" part), read as untrusted bytes: every entry and
 * string is bounds-checked, and a malformed cache just finds nothing. */
#ifndef SING_LD_CACHE_H
#define SING_LD_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The cache's entry flags ld.so accepts for libraries of ELF machine
 * e_machine (64-bit), or -1 for a machine this table does not know. */
int32_t ld_cache_flags_for(uint16_t e_machine);

/* Copies into path (size bytes) the absolute path the cache gives for
 * library name with the given flags; false when it has none (or a bad
 * entry). Entries for hardware-capability subdirectories are skipped. */
bool ld_cache_lookup(const void *cache, size_t len, const char *name, int32_t flags, char *path,
                     size_t size);

#endif
