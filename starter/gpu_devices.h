/* --nv / --rocm: which GPU device nodes the host has. */
#ifndef STARTER_GPU_DEVICES_H
#define STARTER_GPU_DEVICES_H

#include <stdbool.h>

/* /dev/nvidia* (--nv), /dev/kfd and /dev/dri (--rocm): the character
 * devices and directories among them, as a NULL-terminated list of
 * malloc'd paths (empty when there are none). Dies when out of memory. */
char **gpu_device_list(bool nv, bool rocm);

#endif
