/* Predictive prefetch: while the starter builds the container (a few ms
 * during which the server is mostly idle), a second thread decompresses into
 * the server's block caches what every exec is about to read: the action
 * shell /bin/sh (or the program exec runs without a shell, when the starter
 * names it), its ELF interpreter and the libraries it needs, found in the
 * image as ld.so would find them, recursively (bounded). It is an
 * optimisation only: any error, any odd input just ends it. The thread then
 * stays, to push opened files into the page cache (page_store.h).
 *
 * Both jobs call sched_yield() after each block (a decompression, a push;
 * never under the library lock). On 2 CPUs the thread often shares one
 * with the starter, the request thread or the container, and after their
 * wake-up the scheduler let it run on for up to a tick (0.4 to 3.5 ms seen
 * per wait, the other CPU idle). Yielding bounds that wait by one block.
 * Measured in turn with ch-run on the same squashfs (10 rounds of 30):
 * 1.21x ch-run's time without, 1.11x with; no change with the CPUs busy.
 * A SCHED_IDLE thread did as well when idle, but under load it held the
 * lock, and the starter's reap of the server waited for it: 15-40x. */
#ifndef SING_PREFETCH_H
#define SING_PREFETCH_H

#include <pthread.h>
#include <stddef.h>

#include <squashfuse/ll.h>

/* Starts the thread. ll is the server's, used only under lock (which every
 * library call of the server holds too); at most budget bytes of files are
 * prefetched, starting with program (an absolute path in the image; NULL:
 * /bin/sh). Returns 0, or -1 when no thread could be started (nothing to
 * undo: the server just runs without). */
int prefetch_start(sqfs_ll *ll, pthread_mutex_t *lock, size_t budget, const char *program);

#endif
