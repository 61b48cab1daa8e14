/* The prefetch thread (see prefetch.h).
 *
 * libsquashfuse is not thread-safe, so the thread has its own sqfs instance
 * on the same image fd (pread only: no shared file offset) with its own
 * metadata caches: it walks directories and block lists and decompresses
 * blocks without the lock, and takes the server's lock only to look into
 * and add to the server's block caches, so the request thread waits at most
 * for a cache insertion, never for a decompression. A finished block is
 * handed over, not copied: the cache entry takes the pointer. */
#include "prefetch.h"

#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "elf_deps.h"
#include "image_path.h"
#include "image_check.h"
#include "lib_search.h"
#include "page_store.h"
#include "zstd_block.h"

#define START "/bin/sh"  /* the starter runs the action script with it */
#define PROGRAM_MAX 1024 /* a longer program hint is ignored */
#define MAX_FILES 32     /* files prefetched at most */
#define MAX_DEPTH 4      /* program -> library -> library ... */
#define MD_BLOCKS 64     /* metadata blocks cached (8 KiB each) */

struct queued {
        char path[ELF_DEPS_PATH_MAX];
        int depth;
};

struct prefetch {
        sqfs_ll *ll; /* the server's: only under lock */
        pthread_mutex_t *lock;
        sqfs fs; /* ours */
        size_t budget;
        struct queued queue[MAX_FILES];
        size_t head, tail;
        uint32_t seen[MAX_FILES]; /* inode numbers prefetched */
        size_t nseen;
        struct elf_deps deps;
        struct lib_search libs;
        bool have_machine;
        uint16_t machine;
        unsigned steps; /* path-walk budget of all the lookups (image_path.h) */
        char start[PROGRAM_MAX];
};

/* Puts the block at pos (header hdr) of the image into the server's cache
 * unless it is there already. */
static int warm_block(struct prefetch *pf, sqfs_cache *cache, uint64_t pos, uint32_t hdr)
{
        pthread_mutex_lock(pf->lock);
        bool cached = sqfs_cache_get(cache, pos) != NULL;
        pthread_mutex_unlock(pf->lock);
        if (cached)
                return 0;
        sqfs_block *block;
        if (sqfs_data_block_read(&pf->fs, (sqfs_off_t)pos, hdr, &block) != SQFS_OK)
                return -1;
        sched_yield(); /* see prefetch.h */
        pthread_mutex_lock(pf->lock);
        /* The request thread may have needed it meanwhile. */
        if (!sqfs_cache_get(cache, pos)) {
                sqfs_block_cache_entry *entry = sqfs_cache_add(cache, pos);
                entry->block = block;
                entry->data_size = 0; /* unused for data blocks */
                block = NULL;
        }
        pthread_mutex_unlock(pf->lock);
        if (block)
                sqfs_block_dispose(block);
        return 0;
}

/* Every data block of a regular file, then its fragment. */
static int warm_file(struct prefetch *pf, sqfs_inode *inode)
{
        sqfs_blocklist bl;
        size_t n = sqfs_blocklist_count(&pf->fs, inode);
        sqfs_blocklist_init(&pf->fs, inode, &bl);
        for (size_t i = 0; i < n; i++) {
                if (sqfs_blocklist_next(&bl) != SQFS_OK)
                        return -1;
                if (bl.input_size != 0 && /* 0: a hole */
                    warm_block(pf, &pf->ll->fs.data_cache, bl.block, bl.header) < 0)
                        return -1;
        }
        if (inode->xtra.reg.frag_idx == SQUASHFS_INVALID_FRAG)
                return 0;
        struct squashfs_fragment_entry frag;
        if (sqfs_frag_entry(&pf->fs, &frag, inode->xtra.reg.frag_idx) != SQFS_OK)
                return -1;
        return warm_block(pf, &pf->ll->fs.frag_cache, frag.start_block, frag.size);
}

struct file_reader {
        struct prefetch *pf;
        sqfs_inode *inode;
};

/* Reads for the ELF parser come from the server's cache (just warmed), so
 * under its lock: a memcpy, or at worst one block to decompress again. */
static int read_warm(void *ctx, uint64_t off, void *buf, size_t len)
{
        struct file_reader *r = ctx;
        sqfs_off_t got = (sqfs_off_t)len;
        pthread_mutex_lock(r->pf->lock);
        sqfs_err err = sqfs_read_range(&r->pf->ll->fs, r->inode, (sqfs_off_t)off, &got, buf);
        pthread_mutex_unlock(r->pf->lock);
        return err == SQFS_OK && got == (sqfs_off_t)len ? 0 : -1;
}

static void enqueue(struct prefetch *pf, const char *path, int depth)
{
        if (pf->tail == MAX_FILES || strlen(path) >= sizeof(pf->queue[0].path))
                return;
        for (size_t i = 0; i < pf->tail; i++)
                if (strcmp(pf->queue[i].path, path) == 0)
                        return;
        strcpy(pf->queue[pf->tail].path, path);
        pf->queue[pf->tail++].depth = depth;
}

static bool seen(struct prefetch *pf, uint32_t ino)
{
        for (size_t i = 0; i < pf->nseen; i++)
                if (pf->seen[i] == ino)
                        return true;
        pf->seen[pf->nseen++] = ino; /* nseen < MAX_FILES: one per queued file */
        return false;
}

/* Prefetches one file and queues what it needs; false stops the thread. */
static bool visit(struct prefetch *pf, const struct queued *q)
{
        sqfs_inode inode;
        /* image_check_inode: as the request thread's lookup, before the library
         * looks up the fragment. */
        if (image_path_resolve(&pf->fs, q->path, &inode, &pf->steps) < 0 ||
            !S_ISREG(inode.base.mode) || image_check_inode(&pf->fs, &inode) != 0)
                return true; /* nothing there: the shell says so, not us */
        if (seen(pf, inode.base.inode_number))
                return true;
        uint64_t size = inode.xtra.reg.file_size;
        if (size > pf->budget)
                return false;
        pf->budget -= (size_t)size;
        if (warm_file(pf, &inode) < 0)
                return false;
        struct file_reader r = {pf, &inode};
        if (q->depth >= MAX_DEPTH || elf_deps_read(read_warm, &r, size, &pf->deps) < 0)
                return true;
        if (!pf->have_machine) {
                pf->have_machine = true;
                pf->machine = pf->deps.machine;
                lib_search_init(&pf->libs, &pf->fs, pf->machine, &pf->steps);
        } else if (pf->deps.machine != pf->machine) {
                return true; /* not what this program's ld.so loads */
        }
        if (pf->deps.interp[0] == '/')
                enqueue(pf, pf->deps.interp, q->depth + 1);
        for (size_t i = 0; i < pf->deps.n_needed; i++) {
                char path[ELF_DEPS_PATH_MAX];
                sqfs_inode lib;
                if (lib_search_find(&pf->libs, pf->deps.needed[i], &lib, path, sizeof(path)) == 0)
                        enqueue(pf, path, q->depth + 1);
        }
        return true;
}

static void *run(void *arg)
{
        struct prefetch *pf = arg;
        /* The image fd and offset never change once the server runs. Our
         * metadata cache is grown as the server's: the library's 8 blocks
         * are fewer than the lookups below walk. */
        if (sqfs_init(&pf->fs, pf->ll->fs.fd, pf->ll->fs.offset) == SQFS_OK) {
                zstd_block_install(&pf->fs); /* sqfs_init set the library's */
                sqfs_cache_destroy(&pf->fs.md_cache);
                if (sqfs_block_cache_init(&pf->fs.md_cache, MD_BLOCKS) == SQFS_OK) {
                        enqueue(pf, pf->start, 0);
                        while (pf->head < pf->tail && visit(pf, &pf->queue[pf->head]))
                                pf->head++;
                        sqfs_destroy(&pf->fs); /* leaves the shared fd open */
                } /* else out of memory: the instance is left, not half destroyed */
        }
        lib_search_free(&pf->libs);
        sqfs_ll *ll = pf->ll;
        pthread_mutex_t *lock = pf->lock;
        free(pf);
        page_store_run(ll, lock); /* then serves the page-cache pushes */
        return NULL;
}

int prefetch_start(sqfs_ll *ll, pthread_mutex_t *lock, size_t budget, const char *program)
{
        struct prefetch *pf = calloc(1, sizeof(*pf));
        if (!pf)
                return -1;
        if (!program || program[0] != '/' || strlen(program) >= sizeof(pf->start))
                program = START;
        strcpy(pf->start, program);
        pf->ll = ll;
        pf->lock = lock;
        pf->budget = budget;
        pf->steps = IMAGE_PATH_STEPS;
        pthread_t thread;
        pthread_attr_t attr;
        int rc = pthread_attr_init(&attr);
        if (rc == 0) {
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                rc = pthread_create(&thread, &attr, run, pf);
                pthread_attr_destroy(&attr);
        }
        if (rc != 0) {
                free(pf);
                return -1;
        }
        return 0;
}
