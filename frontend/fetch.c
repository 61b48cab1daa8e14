#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "digest.h"
#include "fileio.h"
#include "http.h"
#include "log.h"
#include "cache_blob.h"
#include "cache_lookup.h"
#include "pending_file.h"
#include "progress.h"
#include "registry.h"
#include "registry_status.h"
#include "tempfile.h"

#define MAX_RETRIES 5
#define MAX_REDIRECTS 5

struct xfer {
        struct blob_job *job;
        CURL *h;
        struct curl_slist *hl;
        char *url;
        struct pending_file out; /* the blob being written, unnamed until verified */
        const struct cache *cache;
        int lockfd;
        EVP_MD_CTX *md;
        int64_t done;    /* bytes written and hashed */
        bool fresh_body; /* next body byte is the first of this response */
        bool overflow;   /* more bytes than the manifest says */
        int io_errno;    /* write failure */
        int retries, redirects, auth_tries;
        int limited;       /* 429 answers so far */
        long limited_wait; /* seconds waited for them */
        /* Out of the multi handle until then (CLOCK_MONOTONIC ms), for a
         * retry's backoff or a 429's wait; 0: transferring. */
        int64_t retry_at;
        struct http_response hdr;
        char errbuf[CURL_ERROR_SIZE];
};

static void xfer_free(struct xfer *x)
{
        if (x->h)
                curl_easy_cleanup(x->h);
        curl_slist_free_all(x->hl);
        pending_abandon(&x->out);
        if (x->lockfd >= 0)
                close(x->lockfd);
        EVP_MD_CTX_free(x->md);
        free(x->url);
        http_response_free(&x->hdr);
        memset(x, 0, sizeof(*x));
        x->out.fd = x->lockfd = -1;
}

static size_t write_cb(char *buf, size_t size, size_t n, void *userdata)
{
        struct xfer *x = userdata;
        size_t len = size * n;
        long status = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 && status != 206)
                return len; /* an error or redirect body: not blob data */
        if (x->fresh_body) {
                x->fresh_body = false;
                /* A server that ignores our Range sends the whole blob again. */
                if (status == 200 && x->done > 0) {
                        if (ftruncate(x->out.fd, 0) < 0 || lseek(x->out.fd, 0, SEEK_SET) < 0) {
                                x->io_errno = errno;
                                return 0;
                        }
                        EVP_DigestInit_ex(x->md, EVP_sha256(), NULL);
                        x->done = 0;
                }
        }
        if (x->done + (int64_t)len > x->job->size) {
                x->overflow = true;
                return 0;
        }
        if (write_all(x->out.fd, buf, len) < 0) {
                x->io_errno = errno;
                return 0;
        }
        EVP_DigestUpdate(x->md, buf, len);
        x->done += (int64_t)len;
        return len;
}

/* (Re)arm the easy handle for the next request of this transfer. */
static int xfer_arm(struct registry *r, struct xfer *x, sing_err_t *e)
{
        _cleanup_free_ char *auth = NULL, *host = http_url_host(x->url);
        char range[64];
        if (x->h)
                curl_easy_cleanup(x->h);
        curl_slist_free_all(x->hl);
        x->hl = NULL;
        http_response_free(&x->hdr);
        x->h = curl_easy_init();
        if (!x->h)
                return err_set(e, "cannot initialise libcurl");
        if (registry_auth_line(r, &auth, e) < 0)
                return -1;
        /* The registry's credentials go to the registry only, never to the
         * storage host a blob request is redirected to. */
        if (auth && host && strcasecmp(host, r->host) == 0 &&
            http_may_send_credentials(x->url, r->nohttps))
                x->hl = curl_slist_append(x->hl, auth);
        if (x->done > 0) {
                snprintf(range, sizeof(range), "Range: bytes=%lld-", (long long)x->done);
                x->hl = curl_slist_append(x->hl, range);
        }
        http_setup_handle(x->h);
        /* Blobs are compressed already; no transfer encoding games. */
        curl_easy_setopt(x->h, CURLOPT_ACCEPT_ENCODING, NULL);
        curl_easy_setopt(x->h, CURLOPT_URL, x->url);
        curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hl);
        curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, http_header_cb);
        curl_easy_setopt(x->h, CURLOPT_HEADERDATA, &x->hdr);
        curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
        curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
        x->errbuf[0] = '\0';
        x->fresh_body = true;
        r->requests++;
        log_debug("GET %s%s%s", x->url, x->hl && auth ? " (authenticated)" : "",
                  x->done ? " (resuming)" : "");
        return 0;
}

static int xfer_start(struct registry *r, const struct cache *c, struct xfer *x,
                      struct blob_job *job, sing_err_t *e)
{
        char sz[32];
        memset(x, 0, sizeof(*x));
        x->out.fd = x->lockfd = -1;
        x->job = job;
        x->cache = c;
        x->url = registry_url(r, "blobs", job->digest);
        x->md = EVP_MD_CTX_new();
        if (!x->url || !x->md)
                return err_set(e, "out of memory");
        if (pending_open(&x->out, job->path, 0600, e) < 0)
                return -1;
        EVP_DigestInit_ex(x->md, EVP_sha256(), NULL);
        format_size(job->size, sz, sizeof(sz));
        log_info("Fetching %s %s (%s)", job->what, job->digest, sz);
        return xfer_arm(r, x, e);
}

static int xfer_finish(struct xfer *x, sing_err_t *e)
{
        unsigned char md[32];
        unsigned int mdlen = 0;
        char got[72];
        EVP_DigestFinal_ex(x->md, md, &mdlen);
        memcpy(got, "sha256:", 7);
        for (int i = 0; i < 32; i++)
                snprintf(got + 7 + 2 * i, 3, "%02x", md[i]);
        if (x->done != x->job->size)
                return err_set(e, "blob %s: got %lld bytes, expected %lld", x->job->digest,
                               (long long)x->done, (long long)x->job->size);
        if (strcmp(got, x->job->digest) != 0)
                return err_set(e, "blob digest mismatch: expected %s, got %s", x->job->digest, got);
        if (pending_publish(&x->out, true, e) < 0)
                return err_prefix(e, "cannot store blob %s", x->job->digest);
        /* What we just verified, so that a reuse can tell it is this file. */
        cache_blob_verified(x->cache, x->job->digest);
        return 0;
}

static bool cancelled(const struct fetch_hooks *h)
{
        return h && h->cancelled && h->cancelled(h->ctx);
}

/* Sleep ms in slices of at most 100 ms; false as soon as the consumer gave
 * up (a failed merge need not wait for another pull's download). */
static bool nap(const struct fetch_hooks *h, long ms)
{
        for (; ms > 0 && !cancelled(h); ms -= 100) {
                long slice = ms < 100 ? ms : 100;
                nanosleep(&(struct timespec){.tv_nsec = slice * 1000 * 1000}, NULL);
        }
        return !cancelled(h);
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Asks again in ms: the transfer leaves the multi handle until then, while
 * the others go on (and a consumer may take what they finish, or give up). */
static int retry_in(struct xfer *x, long ms)
{
        x->retry_at = now_ms() + (ms > 0 ? ms : 0);
        return 1;
}

/* 250 ms, doubling with each retry, at most 4 s. */
static int backoff(struct xfer *x)
{
        long ms = 250;
        for (int i = 1; i < x->retries && ms < 4000; i++)
                ms *= 2;
        return retry_in(x, ms);
}

/* Decide what a finished request means: done, retry, or failure.
 * Returns 1 when the transfer must be re-armed at x->retry_at, 0 when
 * complete, -1 on error. */
static int xfer_done(struct registry *r, struct xfer *x, CURLcode rc, sing_err_t *e)
{
        long status = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
        if (x->overflow)
                return err_set(e, "blob %s is larger than the %lld bytes the manifest says",
                               x->job->digest, (long long)x->job->size);
        if (x->io_errno) {
                errno = x->io_errno;
                return err_errno(e, "writing blob %s to the cache", x->job->digest);
        }
        if (rc == CURLE_OK && (status == 200 || status == 206))
                return xfer_finish(x, e) < 0 ? -1 : 0;
        if (rc != CURLE_OK) {
                /* A dropped connection: resume where we are. */
                if (++x->retries > MAX_RETRIES)
                        return http_curl_error(e, rc, x->url, x->errbuf);
                log_warn("download of %s interrupted at %lld bytes (%s); resuming", x->job->digest,
                         (long long)x->done, x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
                return backoff(x);
        }
        if (status == 401) {
                if (registry_authenticate(r, x->hdr.www_authenticate, x->auth_tries++ > 0, e) < 0)
                        return -1;
                return retry_in(x, 0);
        }
        if ((status == 301 || status == 302 || status == 303 || status == 307 || status == 308) &&
            x->hdr.location) {
                char *next;
                if (++x->redirects > MAX_REDIRECTS)
                        return err_set(e, "too many redirects for blob %s", x->job->digest);
                next = http_resolve_location(x->url, x->hdr.location);
                if (!next)
                        return err_set(e, "bad redirect for blob %s", x->job->digest);
                free(x->url);
                x->url = next;
                return retry_in(x, 0);
        }
        if (status == 404)
                return err_set(e, "blob %s not found in %s/%s", x->job->digest, r->display,
                               r->repository);
        if (status == 429) {
                /* Rate limited: as for manifests (registry.c), the
                 * registry's Retry-After or a backoff, within the same
                 * bounds. The other downloads go on meanwhile (a limited
                 * one waits for its own answer), so the merge keeps taking
                 * the layers they finish. The last answer is explained. */
                long wait =
                    ++x->limited < REGISTRY_TRIES
                        ? registry_retry_delay(x->hdr.retry_after, x->limited + 1,
                                               REGISTRY_MAX_WAIT_S - x->limited_wait, time(NULL))
                        : -1;
                if (wait < 0) {
                        struct http_response said = {.status = status};
                        return registry_status_error(r, &said, "blob", e);
                }
                log_warn("%s answered HTTP 429 for blob %s; asking again in %ld s", r->display,
                         x->job->digest, wait);
                x->limited_wait += wait;
                return retry_in(x, wait * 1000);
        }
        if (status >= 500 && ++x->retries <= MAX_RETRIES)
                return backoff(x);
        return err_set(e, "%s answered HTTP %ld for blob %s", r->display, status, x->job->digest);
}

/* Bytes of all transfers: those finished (`done`) and those running. */
static int64_t bytes_done(const struct xfer *xs, size_t n, int64_t done)
{
        for (size_t i = 0; i < n; i++)
                done += xs[i].job ? xs[i].done : 0;
        return done;
}

/* Download the given jobs (all known to be missing and locked by us). */
static void announce(const struct fetch_hooks *h, const struct blob_job *base,
                     const struct blob_job *job)
{
        if (h && h->ready)
                h->ready(h->ctx, (size_t)(job - base));
}

/* Transfers whose wait is over go back into the multi handle. */
static int rearm_due(struct registry *r, CURLM *m, struct xfer *xs, size_t n, sing_err_t *e)
{
        int64_t now = now_ms();
        for (size_t i = 0; i < n; i++) {
                struct xfer *x = &xs[i];
                if (!x->job || !x->retry_at || x->retry_at > now)
                        continue;
                x->retry_at = 0;
                if (xfer_arm(r, x, e) < 0)
                        return -1;
                if (curl_multi_add_handle(m, x->h) != CURLM_OK)
                        return err_set(e, "libcurl: cannot add a transfer");
        }
        return 0;
}

/* How long the poll may wait: until the next waiting transfer is due, at
 * most 1 s (the progress line's and the cancel check's period). */
static int poll_ms(const struct xfer *xs, size_t n)
{
        int64_t now = now_ms(), ms = 1000;
        for (size_t i = 0; i < n; i++)
                if (xs[i].job && xs[i].retry_at && xs[i].retry_at - now < ms)
                        ms = xs[i].retry_at - now;
        return ms > 0 ? (int)ms : 0;
}

static int download(struct registry *r, const struct cache *c, struct blob_job **jobs, size_t n,
                    int *lockfds, int parallel, const struct fetch_hooks *h,
                    const struct blob_job *base, sing_err_t *e)
{
        CURLM *m = curl_multi_init();
        struct xfer *xs = calloc(n ? n : 1, sizeof(*xs));
        size_t next = 0, active = 0;
        int64_t finished = 0, total = 0;
        int rc = 0;
        for (size_t i = 0; i < n; i++)
                total += jobs[i]->size;
        progress_start(total);
        if (!m || !xs) {
                curl_multi_cleanup(m);
                free(xs);
                return err_set(e, "out of memory");
        }
        for (size_t i = 0; i < n; i++)
                xs[i].out.fd = xs[i].lockfd = -1;
        while (rc == 0 && (next < n || active > 0)) {
                int running, left;
                CURLMsg *msg;
                if (cancelled(h)) {
                        rc = err_set(e, "download cancelled");
                        break;
                }
                if (rearm_due(r, m, xs, n, e) < 0) {
                        rc = -1;
                        break;
                }
                while (next < n && active < (size_t)parallel) {
                        if (xfer_start(r, c, &xs[next], jobs[next], e) < 0) {
                                rc = -1;
                                break;
                        }
                        xs[next].lockfd = lockfds[next];
                        lockfds[next] = -1;
                        if (curl_multi_add_handle(m, xs[next].h) != CURLM_OK) {
                                rc = err_set(e, "libcurl: cannot add a transfer");
                                break; /* xs[next] is freed below, its lock with it */
                        }
                        next++;
                        active++;
                }
                if (rc < 0)
                        break;
                curl_multi_perform(m, &running);
                while ((msg = curl_multi_info_read(m, &left))) {
                        struct xfer *x;
                        int st;
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
                        curl_multi_remove_handle(m, msg->easy_handle);
                        st = xfer_done(r, x, msg->data.result, e);
                        if (st < 0) {
                                rc = -1;
                                break;
                        }
                        if (st == 1)
                                continue; /* back in at x->retry_at (rearm_due) */
                        finished += x->done;
                        announce(h, base, x->job);
                        xfer_free(x); /* unlocks */
                        active--;
                }
                if (rc == 0 && active > 0) {
                        curl_multi_poll(m, NULL, 0, poll_ms(xs, n), NULL);
                        /* Freed transfers are counted in `finished`. */
                        progress_update(bytes_done(xs, n, finished), false);
                }
        }
        if (rc == 0 && n > 0)
                progress_update(total, true);
        progress_end();
        for (size_t i = 0; i < n; i++) {
                if (xs[i].h)
                        curl_multi_remove_handle(m, xs[i].h);
                xfer_free(&xs[i]); /* removes partial temp files */
        }
        curl_multi_cleanup(m);
        free(xs);
        return rc;
}

int fetch_blobs(struct registry *r, const struct cache *c, struct blob_job *jobs, size_t n,
                int parallel, sing_err_t *e)
{
        return fetch_blobs_hooked(r, c, jobs, n, parallel, NULL, e);
}

int fetch_blobs_hooked(struct registry *r, const struct cache *c, struct blob_job *jobs, size_t n,
                       int parallel, const struct fetch_hooks *h, sing_err_t *e)
{
        _cleanup_free_ struct blob_job **mine = calloc(n ? n : 1, sizeof(*mine));
        _cleanup_free_ struct blob_job **theirs = calloc(n ? n : 1, sizeof(*theirs));
        _cleanup_free_ int *lockfds = calloc(n ? n : 1, sizeof(int));
        size_t nmine = 0, ntheirs = 0;
        int rc = -1;
        if (!mine || !theirs || !lockfds)
                return err_set(e, "out of memory");
        for (size_t k = 0; k < n; k++) {
                size_t i = h && h->last_first ? n - 1 - k : k;
                int fd, got;
                if (!digest_is_valid(jobs[i].digest)) {
                        err_set(e, "invalid blob digest \"%s\"", jobs[i].digest);
                        goto out; /* the locks taken so far are closed there */
                }
                free(jobs[i].path);
                jobs[i].path = cache_blob_path(c, jobs[i].digest);
                if (!jobs[i].path) {
                        err_set(e, "out of memory");
                        goto out;
                }
                if (cache_blob_usable(c, jobs[i].digest, jobs[i].size)) {
                        jobs[i].was_cached = true;
                        log_info("Using cached %s %s", jobs[i].what, jobs[i].digest);
                        announce(h, jobs, &jobs[i]);
                        continue;
                }
                got = cache_lock(c, digest_hex(jobs[i].digest), false, &fd, e);
                if (got < 0)
                        goto out;
                if (got == 0) {
                        theirs[ntheirs++] = &jobs[i];
                        continue;
                }
                if (cache_blob_usable(c, jobs[i].digest, jobs[i].size)) {
                        close(fd);
                        jobs[i].was_cached = true;
                        log_info("Using cached %s %s", jobs[i].what, jobs[i].digest);
                        announce(h, jobs, &jobs[i]);
                        continue;
                }
                lockfds[nmine] = fd;
                mine[nmine++] = &jobs[i];
        }
        if (nmine + ntheirs)
                cache_lookup_say_miss(c);
        if (download(r, c, mine, nmine, lockfds, parallel, h, jobs, e) < 0)
                goto out;
        /* Blobs another pull is fetching: wait for its lock, then take what it
         * stored, or fetch it ourselves if it failed. */
        for (size_t i = 0; i < ntheirs; i++) {
                int fd, got;
                log_verbose("waiting for another pull to fetch %s", theirs[i]->digest);
                /* A consumer that may give up: polled, so that it need not
                 * wait for the other pull's whole download. */
                bool poll = h && h->cancelled;
                while ((got = cache_lock(c, digest_hex(theirs[i]->digest), !poll, &fd, e)) == 0)
                        if (!nap(h, 100)) {
                                err_set(e, "download cancelled");
                                goto out;
                        }
                if (got < 0)
                        goto out;
                if (cache_blob_usable(c, theirs[i]->digest, theirs[i]->size)) {
                        close(fd);
                        theirs[i]->was_cached = true;
                        log_info("Using cached %s %s", theirs[i]->what, theirs[i]->digest);
                        announce(h, jobs, theirs[i]);
                        continue;
                }
                int got_blob = download(r, c, &theirs[i], 1, &fd, 1, h, jobs, e);
                if (fd >= 0) /* download() had not taken it yet */
                        close(fd);
                if (got_blob < 0)
                        goto out;
        }
        rc = 0;
out:
        for (size_t i = 0; i < nmine; i++)
                if (lockfds[i] >= 0)
                        close(lockfds[i]);
        return rc;
}
