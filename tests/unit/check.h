/* Minimal assertion helpers for the C unit tests: a failed check prints
 * where and why, and the test exits 1 at the end. */
#ifndef SING_CHECK_H
#define SING_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                                                \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
                        check_failures++;                                                          \
                }                                                                                  \
        } while (0)

#define CHECK_STR(a, b)                                                                            \
        do {                                                                                       \
                const char *a_ = (a), *b_ = (b);                                                   \
                if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
                        fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,           \
                                a_ ? a_ : "(null)", b_ ? b_ : "(null)");                           \
                        check_failures++;                                                          \
                }                                                                                  \
        } while (0)

#define CHECK_DONE()                                                                               \
        do {                                                                                       \
                if (check_failures) {                                                              \
                        fprintf(stderr, "%d check(s) failed\n", check_failures);                   \
                        return 1;                                                                  \
                }                                                                                  \
                return 0;                                                                          \
        } while (0)

#endif
