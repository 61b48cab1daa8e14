#include "digest.h"

#include <string.h>

static bool is_lower_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool digest_is_valid(const char *d)
{
        const char *hex = digest_hex(d);
        size_t i;
        if (!hex)
                return false;
        for (i = 0; i < DIGEST_HEX_LEN; i++) {
                /* Stops at the terminating NUL too, which is not hex. */
                if (!is_lower_hex(hex[i]))
                        return false;
        }
        return hex[DIGEST_HEX_LEN] == '\0';
}

const char *digest_hex(const char *d)
{
        size_t n = strlen(DIGEST_PREFIX);
        if (!d || strncmp(d, DIGEST_PREFIX, n) != 0)
                return NULL;
        return d + n;
}
