#include "progress.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define TTY_INTERVAL 0.1  /* seconds between redraws on a terminal */
#define BATCH_INTERVAL 5. /* seconds between lines without one */

/* One download at a time; the lock orders the line against log messages,
 * which may come from another thread (the merge runs beside the download). */
static struct {
        pthread_mutex_t lock;
        bool tty, batch;
        bool drawn; /* the line is on the terminal now */
        char line[192];
        int64_t total;
        struct timespec start;
        double last; /* seconds since start of the last line drawn or printed */
} P = {.lock = PTHREAD_MUTEX_INITIALIZER};

static double elapsed(void)
{
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double)(now.tv_sec - P.start.tv_sec) + (now.tv_nsec - P.start.tv_nsec) / 1e9;
}

void format_size(double n, char *buf, size_t len)
{
        if (n >= 1 << 30)
                snprintf(buf, len, "%.2f GiB", n / (1 << 30));
        else if (n >= 1 << 20)
                snprintf(buf, len, "%.1f MiB", n / (1 << 20));
        else
                snprintf(buf, len, "%.1f KiB", n / 1024);
}

static void duration(double s, char *buf, size_t len)
{
        long t = (long)(s + 0.5);
        if (t >= 3600)
                snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
        else
                snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

/* "12.0 MiB / 90.7 MiB (13%), 4.1 MiB/s, ETA 0:19" */
static void describe(int64_t done, double secs, bool final, char *buf, size_t len)
{
        char a[32], b[32], r[32], t[32];
        double rate = secs > 0 ? (double)done / secs : 0;
        format_size((double)done, a, sizeof(a));
        format_size((double)P.total, b, sizeof(b));
        format_size(rate, r, sizeof(r));
        if (final)
                duration(secs, t, sizeof(t));
        else if (rate > 0)
                duration((double)(P.total - done) / rate, t, sizeof(t));
        else
                snprintf(t, sizeof(t), "-:--");
        snprintf(buf, len, "%s / %s (%d%%), %s/s, %s %s", a, b,
                 P.total > 0 ? (int)(done * 100 / P.total) : 100, r, final ? "in" : "ETA", t);
}

/* Called by log.c around each message: clear the line, then redraw it. */
static void around_log_line(bool before)
{
        if (before) {
                pthread_mutex_lock(&P.lock);
                if (P.drawn)
                        fputs("\r\033[K", stderr);
        } else {
                if (P.drawn)
                        fputs(P.line, stderr);
                pthread_mutex_unlock(&P.lock);
        }
}

void progress_start(int64_t total)
{
        enum log_level lvl = log_get_level();
        bool shown = total > 0 && lvl >= LOG_LVL_INFO && lvl < LOG_LVL_DEBUG;
        pthread_mutex_lock(&P.lock);
        P.tty = shown && isatty(STDERR_FILENO);
        P.batch = shown && !P.tty;
        P.drawn = false;
        P.total = total;
        P.last = 0;
        clock_gettime(CLOCK_MONOTONIC, &P.start);
        pthread_mutex_unlock(&P.lock);
        if (P.tty)
                log_set_line_hook(around_log_line);
}

void progress_update(int64_t done, bool final)
{
        char text[160];
        double secs;
        if (!P.tty && !P.batch)
                return;
        secs = elapsed();
        if (P.batch) {
                /* Only downloads that last: a line every BATCH_INTERVAL seconds,
                 * and the last one when there was any. */
                if ((final && P.last > 0) || (!final && secs - P.last >= BATCH_INTERVAL)) {
                        P.last = secs;
                        describe(done, secs, final, text, sizeof(text));
                        log_info("Downloaded %s", text);
                }
                return;
        }
        if (!final && secs - P.last < TTY_INTERVAL)
                return;
        pthread_mutex_lock(&P.lock);
        P.last = secs;
        describe(done, secs, final, text, sizeof(text));
        snprintf(P.line, sizeof(P.line), "\r  %s\033[K", text);
        fputs(P.line, stderr);
        P.drawn = !final;
        if (final)
                fputs("\n", stderr);
        pthread_mutex_unlock(&P.lock);
}

void progress_end(void)
{
        if (P.tty)
                log_set_line_hook(NULL);
        pthread_mutex_lock(&P.lock);
        if (P.drawn)
                fputs("\n", stderr);
        P.drawn = false;
        P.tty = P.batch = false;
        pthread_mutex_unlock(&P.lock);
}
