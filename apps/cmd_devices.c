/*
 * cmd_devices.c - `clvit devices`: every platform and device with what a user needs to
 * choose one.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_devices(int argc, char **argv) {
    const cli_cmd cmd = {"devices", "",
                         "List every OpenCL platform and device. Select one with "
                         "--device P:D, gpu, cpu or part of its name.",
                         0, 0};
    const cli_opt opts[] = {{0}};
    int r = cli_parse_flags(&cmd, opts, argc, argv);
    if (r >= 0) return r;
    clvit_device_info *infos;
    int n;
    clvit_status st = clvit_list_devices(&infos, &n);
    if (st) return cli_fail("devices", st);
    int last_platform = -1;
    for (int i = 0; i < n; i++) {
        const clvit_device_info *d = &infos[i];
        if (d->platform_index != last_platform) {
            printf("platform %d: %s (%s)\n", d->platform_index, d->platform_name,
                   d->platform_version);
            last_platform = d->platform_index;
        }
        printf("  device %d:%d  %s\n", d->platform_index, d->device_index, d->name);
        printf("    type %s, vendor %s, driver %s\n",
               d->is_gpu   ? "GPU"
               : d->is_cpu ? "CPU"
                           : "other",
               d->vendor, d->driver_version);
        printf("    %u compute units @ %u MHz, global memory %.2f GiB (max allocation %.2f GiB), "
               "local memory %.0f KiB, max work-group %zu\n",
               d->compute_units, d->clock_mhz, d->global_mem_bytes / 1073741824.0,
               d->max_alloc_bytes / 1073741824.0, d->local_mem_bytes / 1024.0,
               d->max_work_group_size);
        printf("    %s, %s, fp16 %s, fp64 %s\n", d->device_version, d->opencl_c_version,
               d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no");
    }
    free(infos);
    return 0;
}
