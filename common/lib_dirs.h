/* ld.so's built-in library directories for a program's machine, multiarch
 * first as on Debian and Ubuntu: where a typical glibc system finds a
 * DT_NEEDED library that no cache, RPATH or LD_LIBRARY_PATH names. Both
 * prefetchers guess with it (the FUSE server's and the kernel path's). */
#ifndef SING_LIB_DIRS_H
#define SING_LIB_DIRS_H

#include <stddef.h>
#include <stdint.h>

/* Writes the i-th default location of library name (a plain file name)
 * for machine (an ELF e_machine) into buf. Returns 1, 0 when i is past the
 * last directory, or -1 when this one does not fit (skip it). */
int lib_default_path(uint16_t machine, unsigned i, const char *name, char *buf, size_t size);

#endif
