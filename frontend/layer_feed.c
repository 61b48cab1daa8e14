#include "layer_feed.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tempfile.h"

struct layer_feed {
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool *ready;
        bool done, cancel;
        int rc;
        sing_err_t err;
        struct registry *reg;
        const struct cache *cache;
        struct blob_job *jobs;
        size_t n;
        int parallel;
};

static void on_ready(void *ctx, size_t index)
{
        struct layer_feed *f = ctx;
        pthread_mutex_lock(&f->mu);
        if (index < f->n)
                f->ready[index] = true;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
}

static bool on_cancelled(void *ctx)
{
        struct layer_feed *f = ctx;
        bool c;
        pthread_mutex_lock(&f->mu);
        c = f->cancel;
        pthread_mutex_unlock(&f->mu);
        return c;
}

static void *run(void *arg)
{
        struct layer_feed *f = arg;
        struct fetch_hooks h = {
            .ready = on_ready, .cancelled = on_cancelled, .ctx = f, .last_first = true};
        sing_err_t err;
        int rc = fetch_blobs_hooked(f->reg, f->cache, f->jobs, f->n, f->parallel, &h, &err);
        pthread_mutex_lock(&f->mu);
        f->rc = rc;
        if (rc < 0)
                f->err = err;
        f->done = true;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        return NULL;
}

static int wait_layer(void *ctx, size_t index, sing_err_t *e)
{
        struct layer_feed *f = ctx;
        int rc = 0;
        pthread_mutex_lock(&f->mu);
        while (index < f->n && !f->ready[index] && !f->done)
                pthread_cond_wait(&f->cv, &f->mu);
        if (index >= f->n || !f->ready[index]) {
                if (f->rc < 0 && e)
                        *e = f->err;
                else
                        err_set(e, "layer %zu was not downloaded", index + 1);
                rc = -1;
        }
        pthread_mutex_unlock(&f->mu);
        return rc;
}

int layer_feed_start(struct layer_feed **out, struct registry *r, const struct cache *c,
                     struct blob_job *jobs, size_t n, int parallel, sing_err_t *e)
{
        struct layer_feed *f = calloc(1, sizeof(*f));
        *out = NULL;
        if (!f || !(f->ready = calloc(n ? n : 1, sizeof(bool)))) {
                free(f);
                return err_set(e, "out of memory");
        }
        pthread_mutex_init(&f->mu, NULL);
        pthread_cond_init(&f->cv, NULL);
        f->reg = r;
        f->cache = c;
        f->jobs = jobs;
        f->n = n;
        f->parallel = parallel;
        /* The download thread never takes SIGINT/SIGTERM/SIGHUP: their handler
         * must run on the main thread, which it stops, and not beside it
         * while it creates the temp files the handler removes. */
        sigset_t old;
        tempfile_block_signals(&old);
        int created = pthread_create(&f->thread, NULL, run, f);
        tempfile_restore_signals(&old);
        if (created != 0) {
                free(f->ready);
                free(f);
                return err_set(e, "cannot start the download thread");
        }
        *out = f;
        return 0;
}

struct layer_wait layer_feed_waiter(struct layer_feed *f)
{
        return (struct layer_wait){.wait = wait_layer, .ctx = f};
}

int layer_feed_finish(struct layer_feed *f, bool cancel, sing_err_t *e)
{
        int rc;
        pthread_mutex_lock(&f->mu);
        f->cancel = cancel;
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
        rc = f->rc;
        if (rc < 0 && e)
                *e = f->err;
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        free(f->ready);
        free(f);
        return rc;
}
