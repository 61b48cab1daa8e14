/* What one process start costs on this machine before any of our code runs,
 * for the start-up rows (bench/rows.py process_floor): every exec of ours
 * and of the peers is a chain of such processes (frontend, starter, FUSE
 * server, program; ch-run, program).
 *
 * Built three ways from this file:
 *   -DNO_LIBC -nostdlib -static: _start exits at once (the kernel's exec
 *     and exit alone);
 *   -static, and dynamic: an empty main(), after glibc's own start-up,
 *     which includes its CPU feature and cache-size probe (dozens of
 *     CPUID instructions; each one traps to the hypervisor in a VM).
 * `process_floor cpuid` (the glibc builds, x86 only) prints the time of one
 * CPUID instruction in microseconds, median of 1000. */
#ifdef NO_LIBC
#if defined(__x86_64__)
__asm__(".globl _start\n_start:\n\tmov $60, %eax\n\txor %edi, %edi\n\tsyscall\n");
#elif defined(__aarch64__)
__asm__(".globl _start\n_start:\n\tmov x8, #93\n\tmov x0, #0\n\tsvc #0\n");
#else
#error "no _start for this architecture"
#endif
#else
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
        if (argc < 2 || strcmp(argv[1], "cpuid") != 0)
                return 0;
#if defined(__x86_64__) || defined(__i386__)
        static double us[1000];
        for (int i = 0; i < 1000; i++) {
                unsigned a, b, c, d;
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                __cpuid_count(4, 0, a, b, c, d);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                __asm__ volatile("" ::"r"(a), "r"(b), "r"(c), "r"(d));
                us[i] =
                    (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
        }
        qsort(us, 1000, sizeof(us[0]), cmp_double);
        printf("%.3f\n", us[500]);
        return 0;
#else
        return 1; /* no CPUID here */
#endif
}
#endif
