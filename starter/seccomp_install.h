/* The container's seccomp filters, installed as the very last step before
 * exec, after the privilege drop (no_new_privs is set, so no privilege is
 * needed and no filter can change what the starter itself does). */
#ifndef STARTER_SECCOMP_INSTALL_H
#define STARTER_SECCOMP_INSTALL_H

#include <linux/filter.h>
#include <stddef.h>

#include "error.h"

/* --seccomp-bpf HEX (the frontend's compiled profile, as the bytes of its
 * struct sock_filter array): decode into prog[BPF_MAXINSNS], checking the
 * length is a whole number of instructions, 1 to BPF_MAXINSNS. *n: the
 * number of instructions. */
int seccomp_profile_decode(const char *hex, struct sock_filter *prog, size_t *n, sing_err_t *err);

/* Compile the built-in filter (below) with libseccomp once, before the
 * starter forks, and keep its BPF: the container, the supervisor and the
 * FUSE server then install that same program with seccomp(2), instead of
 * each one running libseccomp again. seccomp_install_default() builds it
 * itself when it was not built yet. */
void seccomp_default_build(void);

/* The built-in filter alone: ioctl TIOCSTI and TIOCLINUX fail with EPERM,
 * whatever the upper 32 bits of the request. Also for the processes we
 * leave running beside the container (supervisor, FUSE server): one the
 * container could ptrace must not be a way around it. */
void seccomp_install_default(void);

/* The built-in filter, then the profile when n > 0. Dies on failure: a
 * container never runs without its filter. */
void seccomp_install(const struct sock_filter *prog, size_t n);

#endif
