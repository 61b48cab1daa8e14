/* Where the dynamic loader of a typical glibc system would find a library
 * an image's program needs (DT_NEEDED NAME): the image's /etc/ld.so.cache,
 * then the default directories for the program's architecture. RPATH,
 * RUNPATH and LD_LIBRARY_PATH are not known here: a library found only
 * through them is simply not found (this serves prefetching, a guess). */
#ifndef SING_LIB_SEARCH_H
#define SING_LIB_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <squashfuse/squashfuse.h>

struct lib_search {
        sqfs *fs;
        uint16_t machine; /* e_machine of the programs searched for */
        char *cache;      /* the image's ld.so.cache, read on first use */
        size_t cache_len;
        bool cache_read;
        unsigned *steps; /* the caller's path-walk budget (image_path.h) */
};

void lib_search_init(struct lib_search *ls, sqfs *fs, uint16_t machine, unsigned *steps);

/* Resolves library name into *inode, a regular file, and its path. A name
 * with a "/" (ld.so takes it as a path, relative to the process's cwd) or
 * "." / ".." is not searched. Returns 0, or -1. */
int lib_search_find(struct lib_search *ls, const char *name, sqfs_inode *inode, char *path,
                    size_t size);

void lib_search_free(struct lib_search *ls);

#endif
