/* `--security seccomp:FILE` and `seccomp profile = FILE`: a Docker-format
 * seccomp JSON profile, compiled here, with the user's rights, into the BPF
 * program the starter installs (it parses no JSON). */
#ifndef SING_SECCOMP_PROFILE_H
#define SING_SECCOMP_PROFILE_H

#include <stddef.h>

#include "error.h"

#define SECCOMP_PROFILE_MAX_SIZE (1 << 20) /* bytes of JSON */

/* Compile the profile at path into a BPF program (struct sock_filter[]),
 * malloc'd into *bpf, *len bytes. Understood: defaultAction,
 * defaultErrnoRet, architectures, archMap, syscalls[] with names or name,
 * action, errnoRet, args[] (index, value, valueTwo, op) and the includes /
 * excludes keys caps, arches and minKernel (a container has no
 * capabilities: entries that include caps are left out). Syscall names
 * libseccomp does not know are skipped, as Docker does. */
int seccomp_profile_compile(const char *path, unsigned char **bpf, size_t *len, sing_err_t *e);

/* `singularity-image seccomp-compile FILE` (hidden): the BPF on stdout. */
int cmd_seccomp_compile(int argc, char **argv);

#endif
