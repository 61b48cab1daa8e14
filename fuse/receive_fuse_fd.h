/* How squashfs-serve gets its FUSE connection: the starter starts it before
 * it mounts anything (so that the server's start-up runs beside its own) and
 * sends the mounted connection's /dev/fuse fd on a socket once. */
#ifndef FUSE_RECEIVE_FUSE_FD_H
#define FUSE_RECEIVE_FUSE_FD_H

/* Wait on `sock` for one message carrying exactly one fd, which must be a
 * /dev/fuse device; close `sock`. Returns the fd (close-on-exec), or -1
 * when the starter exited (silently: it has said why) or sent anything else
 * (a one-line message; every fd that came is closed). */
int receive_fuse_fd(int sock);

#endif
