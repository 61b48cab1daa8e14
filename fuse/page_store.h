/* Small files pushed whole into the kernel's page cache right after the
 * kernel opened them (fuse_lowlevel_notify_store), by the prefetch thread
 * once its own work is done, so the page faults of an exec that follow find
 * the pages there instead of sending a READ each. */
#ifndef SING_PAGE_STORE_H
#define SING_PAGE_STORE_H

#include <pthread.h>

#include <squashfuse/ll.h>

/* Files larger than this are left to READ (an exec maps only part). */
#define PAGE_STORE_MAX_BYTES (4u << 20)

/* The session to notify; set once by the request thread before it serves. */
void page_store_session(struct fuse_session *se);

/* Before the session is destroyed: waits for a push in progress, starts no
 * other. */
void page_store_stop(void);

/* After a successful OPEN of ino (inode: its sqfs inode), by the request
 * thread. */
void page_store_opened(fuse_ino_t ino, const sqfs_inode *inode);

/* The worker loop, on the prefetch thread: never returns. ll is used only
 * under lock. */
void page_store_run(sqfs_ll *ll, pthread_mutex_t *lock);

#endif
