#include "layer_inflate.h"

#include <archive.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gzip_inflate.h"
#include "layer_reader.h"

/* Blocks from libarchive (64 KiB for zstd, xz...) are gathered into slots
 * of this size: one hand-over per slot, not per block. ISA-L inflates into a
 * whole slot at once. */
#define LAYER_INFLATE_FILL (256u << 10)

struct slot {
        void *data;
        size_t len, cap;
};

/* A ring: the thread fills slots [head, head + count), the reader takes
 * them from head. The slot the reader holds (its last block) is not free
 * until its next call. */
struct layer_inflate {
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t filled, freed;
        struct archive *raw;     /* the source: this, */
        struct gzip_inflate *gz; /* or this */
        struct slot slots[LAYER_INFLATE_SLOTS];
        size_t head, count;
        bool held;   /* the reader holds slots[head - 1] */
        bool ended;  /* the thread has put its last block */
        bool failed; /* ... and then err */
        bool stop;   /* the reader is done: the thread returns */
        sing_err_t err;
};

/* The next free slot, emptied (waiting for one); NULL: stop. */
static struct slot *free_slot(struct layer_inflate *f)
{
        struct slot *s = NULL;
        pthread_mutex_lock(&f->mu);
        while (!f->stop && f->count + f->held >= LAYER_INFLATE_SLOTS)
                pthread_cond_wait(&f->freed, &f->mu);
        /* The reader's taking a block leaves head + count unchanged, and
         * only this thread touches a free slot: no lock while filling it. */
        if (!f->stop)
                s = &f->slots[(f->head + f->count) % LAYER_INFLATE_SLOTS];
        pthread_mutex_unlock(&f->mu);
        if (s)
                s->len = 0;
        return s;
}

static bool append(struct slot *s, const void *buf, size_t len)
{
        if (s->cap - s->len < len) {
                size_t cap = s->len + len > LAYER_INFLATE_FILL ? s->len + len : LAYER_INFLATE_FILL;
                void *p = realloc(s->data, cap);
                if (!p)
                        return false;
                s->data = p;
                s->cap = cap;
        }
        memcpy((char *)s->data + s->len, buf, len);
        s->len += len;
        return true;
}

/* Hand the filled slot to the reader; `last`: the stream ends after it
 * (with err when `failed`). */
static void publish(struct layer_inflate *f, struct slot *s, bool last, bool failed)
{
        pthread_mutex_lock(&f->mu);
        if (s && s->len)
                f->count++;
        if (last) {
                f->ended = true;
                f->failed = failed;
        }
        pthread_cond_signal(&f->filled);
        pthread_mutex_unlock(&f->mu);
}

/* Room for `cap` bytes in an empty slot (what a slot keeps, it reuses). */
static bool reserve(struct slot *s, size_t cap)
{
        if (s->cap < cap) {
                void *p = realloc(s->data, cap);
                if (!p)
                        return false;
                s->data = p;
                s->cap = cap;
        }
        return true;
}

/* gzip: ISA-L fills each slot itself (no 64 KiB block to copy from). */
static void run_gzip(struct layer_inflate *f)
{
        for (;;) {
                struct slot *s = free_slot(f);
                size_t len = 0;
                int rc;

                if (!s)
                        return;
                if (!reserve(s, LAYER_INFLATE_FILL)) {
                        err_set(&f->err, "decompressing: out of memory");
                        publish(f, s, true, true);
                        return;
                }
                rc = gzip_inflate_read(f->gz, s->data, LAYER_INFLATE_FILL, &len, &f->err);
                if (rc <= 0) {
                        publish(f, s, true, rc < 0);
                        return;
                }
                s->len = len;
                publish(f, s, false, false);
        }
}

static void *run(void *arg)
{
        struct layer_inflate *f = arg;
        struct slot *s = NULL;

        if (f->gz) {
                run_gzip(f);
                return NULL;
        }
        for (;;) {
                const void *buf;
                size_t len = 0;
                la_int64_t off;
                int rc = archive_read_data_block(f->raw, &buf, &len, &off);
                if (rc == ARCHIVE_EOF || rc < ARCHIVE_WARN) {
                        /* err is the reader's to read once ended is set. */
                        if (rc != ARCHIVE_EOF)
                                err_set(&f->err, "%s",
                                        layer_error_string(f->raw,
                                                           "damaged or truncated compressed data"));
                        publish(f, s, true, rc != ARCHIVE_EOF);
                        return NULL;
                }
                if (!len)
                        continue;
                if (!s && !(s = free_slot(f)))
                        return NULL;
                if (!append(s, buf, len)) {
                        err_set(&f->err, "decompressing: out of memory");
                        publish(f, s, true, true);
                        return NULL;
                }
                if (s->len >= LAYER_INFLATE_FILL) {
                        publish(f, s, false, false);
                        s = NULL;
                }
        }
}

static struct layer_inflate *start(struct archive *raw, struct gzip_inflate *gz, sing_err_t *e)
{
        struct layer_inflate *f = calloc(1, sizeof(*f));
        sigset_t all, old;
        int r;

        if (!f) {
                err_set(e, "out of memory");
                return NULL;
        }
        f->raw = raw;
        f->gz = gz;
        pthread_mutex_init(&f->mu, NULL);
        pthread_cond_init(&f->filled, NULL);
        pthread_cond_init(&f->freed, NULL);
        /* Signals are for the main thread (its handlers remove temp files). */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = pthread_create(&f->thread, NULL, run, f);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0) {
                pthread_mutex_destroy(&f->mu);
                pthread_cond_destroy(&f->filled);
                pthread_cond_destroy(&f->freed);
                free(f);
                err_set(e, "cannot start the decompression thread");
                return NULL;
        }
        return f;
}

struct layer_inflate *layer_inflate_start(struct archive *raw, sing_err_t *e)
{
        return start(raw, NULL, e);
}

struct layer_inflate *layer_inflate_start_gzip(struct gzip_inflate *gz, sing_err_t *e)
{
        return start(NULL, gz, e);
}

int layer_inflate_next(struct layer_inflate *f, const void **buf, size_t *len, sing_err_t *e)
{
        int ret;
        pthread_mutex_lock(&f->mu);
        if (f->held) {
                f->held = false;
                pthread_cond_signal(&f->freed);
        }
        while (!f->count && !f->ended)
                pthread_cond_wait(&f->filled, &f->mu);
        if (f->count) {
                struct slot *s = &f->slots[f->head];
                *buf = s->data;
                *len = s->len;
                f->head = (f->head + 1) % LAYER_INFLATE_SLOTS;
                f->count--;
                f->held = true;
                ret = 1;
        } else if (f->failed) {
                *e = f->err;
                ret = -1;
        } else {
                ret = 0;
        }
        pthread_mutex_unlock(&f->mu);
        return ret;
}

void layer_inflate_stop(struct layer_inflate *f)
{
        if (!f)
                return;
        pthread_mutex_lock(&f->mu);
        f->stop = true;
        pthread_cond_signal(&f->freed);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
        for (size_t i = 0; i < LAYER_INFLATE_SLOTS; i++)
                free(f->slots[i].data);
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->filled);
        pthread_cond_destroy(&f->freed);
        free(f);
}
