#include "platform.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void platform_cache_key(const char *platform, char *buf, size_t len)
{
        snprintf(buf, len, "%s", platform);
        for (char *c = buf; *c; c++)
                if (*c == '/' || *c == '.')
                        *c = '-';
}

void sif_cache_key(const char *platform, const char *reference, char *buf, size_t len)
{
        /* FNV-1a: a name, not a security boundary (the content is still
         * found by digest and verified). */
        uint64_t h = 0xcbf29ce484222325ULL;
        char plat[64];
        for (const unsigned char *p = (const unsigned char *)reference; *p; p++)
                h = (h ^ *p) * 0x100000001b3ULL;
        platform_cache_key(platform, plat, sizeof(plat));
        snprintf(buf, len, "%s-%016" PRIx64, plat, h);
}
