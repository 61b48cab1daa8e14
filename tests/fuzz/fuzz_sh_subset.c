/* libFuzzer harness for the env-file evaluator (common/sh_subset.c), which
 * the setuid starter runs on image content. The input is the file; the
 * starting environment is fixed. Invariants: an answer is one of the three
 * results, an accepted run leaves a well-formed environment, and running
 * the same text twice gives the same answer (no hidden state). */
#include <string.h>

#include "fuzz_util.h"
#include "sh_subset.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        fuzz_quiet_logs();
        return 0;
}

static char *const start_env[] = {"HOME=/root", "A=1",   "EMPTY=", "PATH=/usr/bin",
                                  "PS1=$ ",     "PWD=/", NULL};

static void check_environ(const struct sh_vars *vars)
{
        char **env = sh_vars_environ(vars);
        FUZZ_ASSERT(env, "sh_vars_environ failed");
        for (size_t i = 0; env[i]; i++) {
                const char *eq = strchr(env[i], '=');
                FUZZ_ASSERT(eq && eq != env[i], "bad entry \"%s\"", env[i]);
                for (const char *p = env[i]; p < eq; p++)
                        FUZZ_ASSERT((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                                        (*p >= '0' && *p <= '9') || *p == '_',
                                    "bad name in \"%s\"", env[i]);
        }
        sh_environ_free(env);
}

static int run_once(const uint8_t *data, size_t size, struct sh_vars *vars)
{
        FUZZ_ASSERT(sh_vars_init_like_dash(vars, start_env, 1) == 0, "init failed");
        int r = sh_subset_run(vars, (const char *)data, size);
        FUZZ_ASSERT(r == SH_OK || r == SH_UNSUPPORTED || r == SH_NOMEM, "result %d", r);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct sh_vars a, b;
        int ra = run_once(data, size, &a);
        if (ra == SH_OK)
                check_environ(&a);
        int rb = run_once(data, size, &b);
        FUZZ_ASSERT(ra == rb || ra == SH_NOMEM || rb == SH_NOMEM, "results %d then %d", ra, rb);
        if (ra == SH_OK && rb == SH_OK) {
                FUZZ_ASSERT(a.n == b.n, "%zu then %zu variables", a.n, b.n);
                for (size_t i = 0; i < a.n; i++) {
                        const char *va = a.v[i].value, *vb = b.v[i].value;
                        FUZZ_ASSERT(strcmp(a.v[i].name, b.v[i].name) == 0 &&
                                        (va == vb || (va && vb && strcmp(va, vb) == 0)),
                                    "variable %zu differs", i);
                }
        }
        sh_vars_free(&a);
        sh_vars_free(&b);
        return 0;
}
