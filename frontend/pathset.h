/* A hash set of normalised paths with a small record per path, for the layer
 * merge: memory grows with the number of distinct paths only. Open
 * addressing with linear probing; keys are copied into large arena blocks. */
#ifndef SING_PATHSET_H
#define SING_PATHSET_H

#include <stddef.h>
#include <stdint.h>

/* What the merge knows about one path. Levels: 0 = bottom synthetic
 * entries, 1..n = layers bottom..top, n + 1 = top synthetic entries. */
struct path_info {
        uint16_t flags;
        uint16_t emit_level; /* level that emitted (or occupied) the path */
        uint16_t wh_level;   /* a whiteout of this path hides levels below */
        uint16_t opq_level;  /* an opaque marker hides the children below */
        uint16_t seen_level; /* a shadowed entry of this level was passed over */
};

struct pathset_slot {
        const char *key; /* NULL: empty slot */
        uint32_t hash;
        struct path_info info;
};

struct pathset_block;

struct pathset {
        struct pathset_slot *slots;
        size_t cap; /* power of two */
        size_t count;
        struct pathset_block *blocks; /* arena holding the keys */
};

void pathset_init(struct pathset *s);
void pathset_free(struct pathset *s);
/* The record for path[0..len), or NULL when absent. */
struct path_info *pathset_get(const struct pathset *s, const char *path, size_t len);
/* The record for path[0..len), added zeroed when absent; NULL on ENOMEM. */
struct path_info *pathset_put(struct pathset *s, const char *path, size_t len);

#endif
