/* The caller's file descriptors are the caller's: MPI launchers hand ranks
 * their PMI connection on an fd, shells pass `3>file` and `<(...)`. The
 * starter passes them through to the container untouched and closes, just
 * before exec, every fd it opened itself (image, loop device, /dev/fuse,
 * session and mount fds, the config), so no fd opened with root's rights
 * reaches the container (the runc CVE-2024-21626 class), even one opened
 * without O_CLOEXEC by a library. */
#ifndef STARTER_INHERITED_FDS_H
#define STARTER_INHERITED_FDS_H

/* Record which fds above 2 are open. Call first, before opening anything. */
void inherited_fds_record(void);

/* Close every fd above 2 that inherited_fds_record() did not see. */
void close_starter_fds(void);

#endif
