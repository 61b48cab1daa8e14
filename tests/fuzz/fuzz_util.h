/* Helpers shared by the libFuzzer harnesses: the fuzz input as a
 * NUL-terminated string or as an anonymous file (memfd), and quiet logging
 * so the fuzzer's speed goes to parsing, not to stderr. */
#ifndef SING_FUZZ_UTIL_H
#define SING_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

/* libFuzzer's entry points (it provides main). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Logs off unless FUZZ_LOG is set: a harness that prints is a slow one. */
static inline void fuzz_quiet_logs(void)
{
        log_set_level(getenv("FUZZ_LOG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
}

/* A malloc'd copy of data with a NUL after it (ASan sees reads past it). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = '\0';
        return s;
}

/* An anonymous regular file holding data, offset 0; the caller closes it. */
static inline int fuzz_memfd(const char *name, const void *data, size_t size)
{
        int fd = memfd_create(name, MFD_CLOEXEC);
        const char *p = data;
        if (fd < 0) {
                perror("memfd_create");
                abort();
        }
        while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n <= 0) {
                        perror("memfd write");
                        abort();
                }
                p += n;
                size -= (size_t)n;
        }
        /* Readers that use read() rather than pread() start at the top. */
        if (lseek(fd, 0, SEEK_SET) != 0)
                abort();
        return fd;
}

/* A broken invariant: print it and abort, so libFuzzer records the input. */
#define FUZZ_ASSERT(cond, ...)                                                                     \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "fuzz invariant failed: " __VA_ARGS__);                    \
                        fputc('\n', stderr);                                                       \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

#endif
