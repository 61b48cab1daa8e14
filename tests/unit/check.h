/* Minimal assertion helpers for the C unit tests, reporting in TAP (meson's
 * `protocol : 'tap'`), so `meson test` shows every case:
 *   RUN(test_x);   runs `static void test_x(void)` as one case and prints
 *                  `ok N - test_x`, or `not ok N - test_x` when one of its
 *                  checks failed or it made no check at all;
 *   SKIP(why);     inside a case: report it as `ok N - test_x # SKIP why`
 *                  (the case returns right after);
 *   CHECK(cond), CHECK_STR(a, b): a failed check prints where and why on
 *                  stderr; checks made outside any RUN() form one last case
 *                  named after main;
 *   CHECK_DONE();  ends main: the plan line `1..N`, exit 1 if a case is not ok.
 * stdout belongs to TAP: tests print diagnostics on stderr only. */
#ifndef SING_CHECK_H
#define SING_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures; /* failed checks, whole program */
static int check_count;    /* checks made, whole program */
static int check_cases;    /* cases reported so far */
static int check_in_case;  /* checks made inside RUN() cases */
static int check_in_case_failures;
static int check_not_ok;              /* cases reported `not ok` */
static const char *check_skip_reason; /* set by SKIP() in the running case */

#define CHECK(cond)                                                                                \
        do {                                                                                       \
                check_count++;                                                                     \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
                        check_failures++;                                                          \
                }                                                                                  \
        } while (0)

#define CHECK_STR(a, b)                                                                            \
        do {                                                                                       \
                const char *a_ = (a), *b_ = (b);                                                   \
                check_count++;                                                                     \
                if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
                        fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,           \
                                a_ ? a_ : "(null)", b_ ? b_ : "(null)");                           \
                        check_failures++;                                                          \
                }                                                                                  \
        } while (0)

#define SKIP(why)                                                                                  \
        do {                                                                                       \
                check_skip_reason = (why);                                                         \
                return;                                                                            \
        } while (0)

/* One TAP line for a finished case. A case that neither checked anything nor
 * skipped asserted nothing: that is a failure, not a pass. */
static inline void check_report(const char *name, int checks, int failures)
{
        check_cases++;
        if (check_skip_reason && failures == 0) {
                printf("ok %d - %s # SKIP %s\n", check_cases, name, check_skip_reason);
        } else if (failures || checks == 0) {
                printf("not ok %d - %s%s\n", check_cases, name,
                       failures ? "" : " (no checks made)");
                check_not_ok++;
        } else {
                printf("ok %d - %s\n", check_cases, name);
        }
        check_skip_reason = NULL;
        fflush(stdout);
}

#define RUN(fn)                                                                                    \
        do {                                                                                       \
                int count0_ = check_count, failures0_ = check_failures;                            \
                check_skip_reason = NULL;                                                          \
                fn();                                                                              \
                check_in_case += check_count - count0_;                                            \
                check_in_case_failures += check_failures - failures0_;                             \
                check_report(#fn, check_count - count0_, check_failures - failures0_);             \
        } while (0)

#define CHECK_DONE()                                                                               \
        do {                                                                                       \
                int loose_ = check_count - check_in_case;                                          \
                if (loose_ > 0 || check_cases == 0)                                                \
                        check_report(__func__, loose_, check_failures - check_in_case_failures);   \
                printf("1..%d\n", check_cases);                                                    \
                if (check_not_ok) {                                                                \
                        fprintf(stderr, "%d check(s) failed, %d case(s) not ok\n", check_failures, \
                                check_not_ok);                                                     \
                        return 1;                                                                  \
                }                                                                                  \
                return 0;                                                                          \
        } while (0)

#endif
