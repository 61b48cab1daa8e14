/* The page-cache push after OPEN (see page_store.h). */
#include "page_store.h"

#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>

#define QUEUE 64     /* opens waiting; more are dropped */
#define MAX_SEEN 512 /* files stored at most, each once */

struct job {
        fuse_ino_t ino;
        sqfs_inode inode;
};

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static struct job queue[QUEUE];
static size_t head, tail; /* under qlock; tail - head <= QUEUE */
static fuse_ino_t seen[MAX_SEEN];
static size_t nseen;                 /* request thread only */
static struct fuse_session *session; /* under qlock; NULL: not (or no more) */
static bool busy;                    /* under qlock: a push uses session */

void page_store_session(struct fuse_session *se)
{
        pthread_mutex_lock(&qlock);
        session = se;
        pthread_mutex_unlock(&qlock);
}

void page_store_stop(void)
{
        pthread_mutex_lock(&qlock);
        session = NULL;
        while (busy)
                pthread_cond_wait(&qcond, &qlock);
        pthread_mutex_unlock(&qlock);
}

void page_store_opened(fuse_ino_t ino, const sqfs_inode *inode)
{
        if (!S_ISREG(inode->base.mode) || inode->xtra.reg.file_size == 0 ||
            inode->xtra.reg.file_size > PAGE_STORE_MAX_BYTES)
                return;
        for (size_t i = 0; i < nseen; i++)
                if (seen[i] == ino)
                        return; /* stored already: the kernel keeps it */
        if (nseen == MAX_SEEN)
                return;
        pthread_mutex_lock(&qlock);
        if (tail - head < QUEUE) {
                seen[nseen++] = ino;
                queue[tail++ % QUEUE] = (struct job){ino, *inode};
                pthread_cond_signal(&qcond);
        }
        pthread_mutex_unlock(&qlock);
}

/* One block per library call, so the request thread waits for at most one
 * block's decompression; the notification is sent without the lock. */
static void store(sqfs_ll *ll, pthread_mutex_t *lock, struct fuse_session *se,
                  const struct job *job, char *buf)
{
        size_t bs = ll->fs.sb.block_size;
        uint64_t size = job->inode.xtra.reg.file_size;
        sqfs_inode inode = job->inode;
        for (uint64_t off = 0; off < size; off += bs) {
                sqfs_off_t n = (sqfs_off_t)bs;
                pthread_mutex_lock(lock);
                sqfs_err err = sqfs_read_range(&ll->fs, &inode, (sqfs_off_t)off, &n, buf);
                pthread_mutex_unlock(lock);
                if (err != SQFS_OK || n <= 0)
                        return;
                struct fuse_bufvec bv = FUSE_BUFVEC_INIT((size_t)n);
                bv.buf[0].mem = buf;
                if (fuse_lowlevel_notify_store(se, job->ino, (off_t)off, &bv, 0) != 0)
                        return; /* forgotten meanwhile, or the connection is gone */
                sched_yield();  /* see prefetch.h */
        }
}

void page_store_run(sqfs_ll *ll, pthread_mutex_t *lock)
{
        char *buf = malloc(ll->fs.sb.block_size);
        if (!buf)
                return;
        for (;;) {
                pthread_mutex_lock(&qlock);
                while (head == tail || !session)
                        pthread_cond_wait(&qcond, &qlock);
                struct job job = queue[head++ % QUEUE];
                struct fuse_session *se = session;
                busy = true;
                pthread_mutex_unlock(&qlock);
                store(ll, lock, se, &job, buf);
                pthread_mutex_lock(&qlock);
                busy = false;
                pthread_cond_broadcast(&qcond); /* page_store_stop may wait */
                pthread_mutex_unlock(&qlock);
        }
}
