#include "boolval.h"

#include <stddef.h>
#include <strings.h>

static const char *const truthy[] = {"1", "yes", "true", "on"};
static const char *const falsy[] = {"", "0", "no", "false", "off"};

static bool listed(const char *s, const char *const *words, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (strcasecmp(s, words[i]) == 0)
                        return true;
        return false;
}

int boolval_parse(const char *s, bool *out)
{
        if (!s)
                return -1;
        if (listed(s, truthy, sizeof(truthy) / sizeof(truthy[0]))) {
                *out = true;
                return 0;
        }
        if (listed(s, falsy, sizeof(falsy) / sizeof(falsy[0]))) {
                *out = false;
                return 0;
        }
        return -1;
}
