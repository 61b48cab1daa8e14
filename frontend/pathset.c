#include "pathset.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_SIZE (1u << 20)

struct pathset_block {
        struct pathset_block *next;
        size_t used, size;
        char data[];
};

void pathset_init(struct pathset *s)
{
        memset(s, 0, sizeof(*s));
}

void pathset_free(struct pathset *s)
{
        struct pathset_block *b = s->blocks;
        while (b) {
                struct pathset_block *next = b->next;
                free(b);
                b = next;
        }
        free(s->slots);
        memset(s, 0, sizeof(*s));
}

/* FNV-1a: short keys, good enough spread, no dependencies. */
static uint32_t hash_path(const char *p, size_t len)
{
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < len; i++) {
                h ^= (unsigned char)p[i];
                h *= 16777619u;
        }
        return h;
}

static bool key_equal(const char *key, const char *p, size_t len)
{
        return strncmp(key, p, len) == 0 && key[len] == '\0';
}

static struct pathset_slot *find_slot(struct pathset_slot *slots, size_t cap, uint32_t h,
                                      const char *p, size_t len)
{
        size_t i = h & (cap - 1);
        for (;;) {
                struct pathset_slot *sl = &slots[i];
                if (!sl->key || (sl->hash == h && key_equal(sl->key, p, len)))
                        return sl;
                i = (i + 1) & (cap - 1);
        }
}

struct path_info *pathset_get(const struct pathset *s, const char *path, size_t len)
{
        struct pathset_slot *sl;
        if (!s->cap)
                return NULL;
        sl = find_slot(s->slots, s->cap, hash_path(path, len), path, len);
        return sl->key ? &sl->info : NULL;
}

static int grow(struct pathset *s)
{
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        struct pathset_slot *nslots = calloc(ncap, sizeof(*nslots));
        if (!nslots)
                return -1;
        for (size_t i = 0; i < s->cap; i++) {
                struct pathset_slot *old = &s->slots[i];
                if (old->key) {
                        size_t j = old->hash & (ncap - 1);
                        while (nslots[j].key)
                                j = (j + 1) & (ncap - 1);
                        nslots[j] = *old;
                }
        }
        free(s->slots);
        s->slots = nslots;
        s->cap = ncap;
        return 0;
}

static const char *store_key(struct pathset *s, const char *p, size_t len)
{
        struct pathset_block *b = s->blocks;
        char *dst;
        if (!b || b->size - b->used < len + 1) {
                size_t size = len + 1 > BLOCK_SIZE ? len + 1 : BLOCK_SIZE;
                b = malloc(sizeof(*b) + size);
                if (!b)
                        return NULL;
                b->used = 0;
                b->size = size;
                b->next = s->blocks;
                s->blocks = b;
        }
        dst = b->data + b->used;
        memcpy(dst, p, len);
        dst[len] = '\0';
        b->used += len + 1;
        return dst;
}

struct path_info *pathset_put(struct pathset *s, const char *path, size_t len)
{
        uint32_t h = hash_path(path, len);
        struct pathset_slot *sl;

        /* keep the load factor under 3/4 */
        if ((s->count + 1) * 4 > s->cap * 3 && grow(s) < 0)
                return NULL;
        sl = find_slot(s->slots, s->cap, h, path, len);
        if (sl->key)
                return &sl->info;
        sl->key = store_key(s, path, len);
        if (!sl->key) {
                errno = ENOMEM;
                return NULL;
        }
        sl->hash = h;
        memset(&sl->info, 0, sizeof(sl->info));
        s->count++;
        return &sl->info;
}
