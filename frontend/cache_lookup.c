#include "cache_lookup.h"

#include <stdlib.h>

#include "cleanup.h"
#include "log.h"
#include "platform.h"

void cache_lookup_announce(bool info, const struct image_ref *ref, const char *uri,
                           const struct cache *c)
{
        void (*say)(const char *, ...) = info ? log_info : log_verbose;
        _cleanup_free_ char *display = ref_display(ref);
        say("Docker image path: %s", display ? display : uri);
        if (c->shared_root)
                say("Cache folder set to %s (read-only)", c->shared_root);
        else if (!c->temporary)
                say("Cache folder set to %s", c->root);
}

void cache_lookup_say_miss(const struct cache *c)
{
        static bool said;
        if (!c->shared_root || said)
                return;
        said = true;
        log_warn("the cache folder %s is read-only and does not hold this image: "
                 "fetching what it lacks into a temporary cache, removed afterwards",
                 c->shared_root);
}

int cache_lookup_key(const struct image_ref *ref, const char *platform, char *key, size_t len)
{
        _cleanup_free_ char *display = ref_display(ref);
        if (!display)
                return -1;
        sif_cache_key(platform, display, key, len);
        return 0;
}

char *cache_lookup_pinned(const struct cache *c, const struct image_ref *ref, const char *platform)
{
        char key[64];
        if (!ref->digest || cache_lookup_key(ref, platform, key, sizeof(key)) < 0)
                return NULL;
        return cache_sif_usable(c, ref->digest, key);
}

void cache_lookup_say_hit(void)
{
        log_info("Using cached SIF image");
}
