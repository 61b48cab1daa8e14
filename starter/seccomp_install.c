/* Seccomp, the starter's part: one built-in rule set and a profile the
 * frontend compiled. No JSON here: the frontend turns a Docker-format
 * profile into BPF with libseccomp (frontend/seccomp_profile.c) and hands it
 * over as hex on the command line; the kernel verifies the program. */
#include "seccomp_install.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

static int hex_digit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

int seccomp_profile_decode(const char *hex, struct sock_filter *prog, size_t *ninsns,
                           sing_err_t *err)
{
        size_t n = strlen(hex);
        uint8_t *buf = (uint8_t *)prog;
        if (n == 0 || n % (2 * sizeof(struct sock_filter)) != 0 ||
            n / 2 > BPF_MAXINSNS * sizeof(struct sock_filter))
                return err_set(err,
                               "--seccomp-bpf: expected 1 to %d BPF instructions of 8 bytes in "
                               "lowercase hex, got %zu hex digits",
                               BPF_MAXINSNS, n);
        for (size_t i = 0; i < n / 2; i++) {
                int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return err_set(err, "--seccomp-bpf: not lowercase hex at digit %zu",
                                       hi < 0 ? 2 * i : 2 * i + 1);
                buf[i] = (uint8_t)(hi << 4 | lo);
        }
        *ninsns = n / 2 / sizeof(struct sock_filter);
        return 0;
}

/* ioctl(fd, TIOCSTI, &c) pushes bytes into a terminal's input queue: a
 * container given the caller's terminal would type commands into the
 * caller's shell, which runs them after the container exits (bubblewrap's
 * CVE-2017-5226). TIOCLINUX can do the same on a virtual console. The
 * kernel reads the request as an unsigned int: compare the low 32 bits only,
 * or 0x100005412 would pass the filter and still be TIOCSTI. */
static struct sock_filter default_prog[BPF_MAXINSNS];
static unsigned short default_len;

static void install_prog(const struct sock_filter *insns, size_t n, const char *what)
{
        struct sock_fprog prog = {.len = (unsigned short)n,
                                  .filter = (struct sock_filter *)(uintptr_t)insns};
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                die_errno("installing the %s (%u instructions)", what, prog.len);
}

void seccomp_default_build(void)
{
        static const unsigned long denied[] = {TIOCSTI, TIOCLINUX};
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        int rc = ctx ? 0 : -ENOMEM;
        /* The compat ABIs reach the same ioctl: filter them too (a 32-bit
         * program otherwise meets the bad-architecture action). */
#if defined(__x86_64__)
        static const uint32_t compat[] = {SCMP_ARCH_X86, SCMP_ARCH_X32};
#elif defined(__aarch64__)
        static const uint32_t compat[] = {SCMP_ARCH_ARM};
#else
        static const uint32_t compat[] = {SCMP_ARCH_NATIVE};
#endif
        for (size_t i = 0; rc == 0 && i < sizeof(compat) / sizeof(compat[0]); i++) {
                rc = seccomp_arch_add(ctx, compat[i]);
                if (rc == -EEXIST)
                        rc = 0;
        }
        for (size_t i = 0; rc == 0 && i < sizeof(denied) / sizeof(denied[0]); i++)
                rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                                      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, denied[i]));
        /* The BPF program libseccomp made, read back from a memfd (the
         * export API of libseccomp 2.5 writes to an fd). */
        _cleanup_close_ int fd = rc == 0 ? memfd_create("seccomp-bpf", MFD_CLOEXEC) : -1;
        if (rc == 0 && fd < 0)
                rc = -errno;
        if (rc == 0)
                rc = seccomp_export_bpf(ctx, fd);
        seccomp_release(ctx);
        ssize_t len = rc == 0 ? pread(fd, default_prog, sizeof(default_prog), 0) : -1;
        if (rc < 0) {
                errno = -rc;
                die_errno("building the seccomp filter");
        }
        if (len <= 0 || len % sizeof(default_prog[0]) != 0 || len == sizeof(default_prog))
                die("building the seccomp filter: libseccomp exported %zd bytes", len);
        default_len = (unsigned short)(len / sizeof(default_prog[0]));
}

void seccomp_install_default(void)
{
        if (default_len == 0)
                seccomp_default_build();
        /* no_new_privs is already set and verified (privileges.c). */
        install_prog(default_prog, default_len, "seccomp filter");
}

void seccomp_install(const struct sock_filter *profile, size_t n)
{
        seccomp_install_default();
        if (n > 0) {
                install_prog(profile, n, "seccomp profile");
                log_debug("seccomp: default filter (ioctl TIOCSTI, TIOCLINUX: EPERM) + profile, "
                          "%zu instructions",
                          n);
        } else {
                log_debug("seccomp: default filter (ioctl TIOCSTI, TIOCLINUX: EPERM), no profile");
        }
}
