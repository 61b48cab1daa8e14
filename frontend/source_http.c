/* SIF files from web servers: streamed into a temp file beside the output,
 * resumed with a Range request when the connection drops, checked to be a
 * whole SIF (its descriptors and partitions inside the file), then renamed
 * into place. No credentials are ever sent. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "pending_file.h"
#include "fileio.h"
#include "http.h"
#include "image.h"
#include "log.h"
#include "source.h"

#define MAX_TRIES 6
#define MAX_SIF_BYTES (1ull << 40)

struct dl {
        CURL *h;
        int fd;
        int64_t done;
        bool fresh, io_error, bad_status;
        long status;
};

static size_t on_data(char *buf, size_t size, size_t n, void *userdata)
{
        struct dl *d = userdata;
        size_t len = size * n;
        if (d->fresh) {
                d->fresh = false;
                curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &d->status);
                if (d->status != 200 && d->status != 206) {
                        d->bad_status = true;
                        return 0;
                }
                /* A server that ignores Range sends everything again. */
                if (d->status == 200 && d->done > 0) {
                        if (ftruncate(d->fd, 0) < 0 || lseek(d->fd, 0, SEEK_SET) < 0) {
                                d->io_error = true;
                                return 0;
                        }
                        d->done = 0;
                }
        }
        if ((uint64_t)d->done + len > MAX_SIF_BYTES || write_all(d->fd, buf, len) < 0) {
                d->io_error = true;
                return 0;
        }
        d->done += (int64_t)len;
        return len;
}

static bool transient(CURLcode rc)
{
        return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
               rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_GOT_NOTHING ||
               rc == CURLE_COULDNT_CONNECT;
}

static int fetch_into(const char *url, int fd, sing_err_t *e)
{
        struct dl d = {.fd = fd};
        char errbuf[CURL_ERROR_SIZE], range[48];
        for (int attempt = 0; attempt < MAX_TRIES; attempt++) {
                CURLcode rc;
                d.h = curl_easy_init();
                if (!d.h)
                        return err_set(e, "cannot initialise libcurl");
                http_setup_handle(d.h);
                curl_easy_setopt(d.h, CURLOPT_URL, url);
                curl_easy_setopt(d.h, CURLOPT_FOLLOWLOCATION, 1L);
                curl_easy_setopt(d.h, CURLOPT_MAXREDIRS, 5L);
                /* No downgrade: an https:// URL redirects to https:// only. */
                curl_easy_setopt(d.h, CURLOPT_REDIR_PROTOCOLS_STR,
                                 strncmp(url, "https://", 8) ? "http,https" : "https");
                curl_easy_setopt(d.h, CURLOPT_PROTOCOLS_STR, "http,https");
                curl_easy_setopt(d.h, CURLOPT_ACCEPT_ENCODING, NULL);
                curl_easy_setopt(d.h, CURLOPT_WRITEFUNCTION, on_data);
                curl_easy_setopt(d.h, CURLOPT_WRITEDATA, &d);
                curl_easy_setopt(d.h, CURLOPT_ERRORBUFFER, errbuf);
                if (d.done > 0) {
                        snprintf(range, sizeof(range), "%lld-", (long long)d.done);
                        curl_easy_setopt(d.h, CURLOPT_RANGE, range);
                        log_verbose("resuming %s at byte %lld", url, (long long)d.done);
                }
                errbuf[0] = '\0';
                d.fresh = true;
                d.status = 0;
                rc = curl_easy_perform(d.h);
                if (d.status == 0)
                        curl_easy_getinfo(d.h, CURLINFO_RESPONSE_CODE, &d.status);
                curl_easy_cleanup(d.h);
                d.h = NULL;
                if (d.io_error)
                        return err_errno(e, "writing the download of %s", url);
                if (d.bad_status || (rc == CURLE_OK && d.status != 200 && d.status != 206))
                        return err_set(e, "%s: the server answered HTTP %ld", url, d.status);
                if (rc == CURLE_OK)
                        return 0;
                if (!transient(rc) || attempt == MAX_TRIES - 1)
                        return http_curl_error(e, rc, url, errbuf);
                log_warn("download of %s interrupted (%s); retrying", url,
                         *errbuf ? errbuf : curl_easy_strerror(rc));
        }
        return err_set(e, "%s: download failed", url);
}

int source_http_download(const struct source *s, const struct pull_opts *o, const char *out,
                         bool force, sing_err_t *e)
{
        struct pending_file pf;
        struct image_info info;
        http_global_init(o->ca_file, o->ca_dir);
        /* SIFs are executable, as Singularity's ("./image.sif" runs it). */
        if (pending_open(&pf, out, 0777, e) < 0)
                return -1;
        log_info("Downloading %s", s->path);
        if (fetch_into(s->path, pf.fd, e) < 0)
                goto out;
        if (lseek(pf.fd, 0, SEEK_SET) < 0 || image_probe_fd(pf.fd, &info, e) < 0) {
                err_prefix(e, "%s", s->path);
                goto out;
        }
        if (info.kind != IMAGE_SIF) {
                err_set(e, "%s is a %s image, not a SIF file", s->path, image_kind_name(info.kind));
                goto out;
        }
        if (fsync(pf.fd) < 0) {
                err_errno(e, "cannot write %s", out);
                goto out;
        }
        return pending_publish(&pf, force, e);
out:
        pending_abandon(&pf);
        return -1;
}
