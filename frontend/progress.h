/* The download progress: one line on a terminal, redrawn at most 10 times a
 * second with the rate and the time left, that log messages clear and redraw
 * (log.c calls back here around each message, so the two never mix on one
 * line); without a terminal, an INFO line every 5 seconds once a download
 * has lasted that long, for batch logs. Nothing at -q or with --debug. */
#ifndef SING_PROGRESS_H
#define SING_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A download of `total` bytes starts (one at a time per process). */
void progress_start(int64_t total);
/* `done` of the total bytes are here; final: the download is complete. */
void progress_update(int64_t done, bool final);
/* The download ended (complete or not): the line is finished. */
void progress_end(void);

/* "512.0 KiB", "90.7 MiB", "1.60 GiB". */
void format_size(double n, char *buf, size_t len);

#endif
