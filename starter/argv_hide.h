/* The starter's arguments carry the container's environment overrides (the
 * values of --env and SINGULARITYENV_ in the action script and its
 * fallbacks), and /proc/PID/cmdline is readable by every user. The
 * starter's processes that outlive its exec (the monitor, the FUSE
 * server's parent, the read-ahead holder) would show them for the
 * container's whole life: the starter parses a private copy and blanks the
 * originals at once. */
#ifndef STARTER_ARGV_HIDE_H
#define STARTER_ARGV_HIDE_H

/* A heap copy of argv (argc strings and a NULL); every original string but
 * argv[0] is overwritten with NUL bytes. Dies when out of memory. */
char **argv_hide(int argc, char **argv);

/* Names this process `name` in /proc/PID/cmdline (within the bytes of the
 * original arguments) and in /proc/PID/comm: the container's init is
 * "sinit", as SingularityCE's is, so that ps inside a --pid container shows
 * what pid 1 is. Call after argv_hide. */
void argv_set_title(const char *name);

#endif
