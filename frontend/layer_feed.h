/* Layers downloaded in a background thread while the merge reads them: the
 * merge goes top-down and waits only for the layer it needs next, so
 * squashing upper layers overlaps the download of the (usually largest)
 * base layer. */
#ifndef SING_LAYER_FEED_H
#define SING_LAYER_FEED_H

#include <stdbool.h>
#include <stddef.h>

#include "fetch.h"
#include "layers.h"

struct layer_feed;

/* Start fetching jobs[0..n) (the layers, bottom to top), the top layer's
 * transfer first. The registry session belongs to the feed's thread until
 * layer_feed_finish. */
int layer_feed_start(struct layer_feed **f, struct registry *r, const struct cache *c,
                     struct blob_job *jobs, size_t n, int parallel, sing_err_t *e);

/* A waiter for layers_merge_waiting: returns when jobs[i] is in the cache,
 * or fails with the download's error. */
struct layer_wait layer_feed_waiter(struct layer_feed *f);

/* Stop (cancel: abandon remaining downloads) and join the thread; frees f.
 * Returns the download's result. */
int layer_feed_finish(struct layer_feed *f, bool cancel, sing_err_t *e);

#endif
