#include "build_epoch.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

static bool have_epoch;
static int64_t epoch;

int build_epoch_set(const char *v, sing_err_t *e)
{
        char *end;
        long long n;
        if (!v || !*v)
                return 0;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno || *end || n < 0 || v[0] == '-' || v[0] == '+' || v[0] == ' ')
                return err_set(e,
                               "SOURCE_DATE_EPOCH must be a number of seconds since 1970, "
                               "not \"%.40s\"",
                               v);
        epoch = n;
        have_epoch = true;
        return 0;
}

bool build_epoch(int64_t *out)
{
        if (have_epoch && out)
                *out = epoch;
        return have_epoch;
}

int64_t build_now(void)
{
        return have_epoch ? epoch : (int64_t)time(NULL);
}
