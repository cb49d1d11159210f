/*
 * cmd_devices.c - `clvit devices`: every platform and device with what a user needs to
 * choose one, the default device marked, and the limits that CLVIT_MAX_ALLOC and
 * CLVIT_MAX_WORK_GROUP emulate.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_RULE                                                                               \
    "The default device (no --device, no CLVIT_DEVICE) is a discrete GPU, else an integrated\n"    \
    "GPU (host-unified memory), else another accelerator, else a CPU; among devices of one\n"      \
    "kind, the most compute units x clock, then the most global memory, then the first listed.\n"  \
    "'gpu' and 'cpu' apply the same rule to the GPUs or CPUs alone."

/* Bytes as "2.00 GiB" from 1 GiB up, else "64.0 MiB". */
static const char *size_str(uint64_t bytes, char *buf, size_t size) {
    if (bytes >= 1073741824u)
        snprintf(buf, size, "%.2f GiB", bytes / 1073741824.0);
    else
        snprintf(buf, size, "%.1f MiB", bytes / 1048576.0);
    return buf;
}

int cmd_devices(int argc, char **argv) {
    const cli_cmd cmd = {"devices", "",
                         "List every OpenCL platform and device and mark the default one. Select "
                         "one with\n--device P:D, gpu, cpu or part of its name.\n\n" DEFAULT_RULE
                         "\n\nCLVIT_MAX_ALLOC=SIZE (e.g. 64M) and CLVIT_MAX_WORK_GROUP=N make "
                         "clvit behave as if\nthe devices had those limits; they are shown here.",
                         0, 0};
    const cli_opt opts[] = {{0}};
    int r = cli_parse_flags(&cmd, opts, argc, argv);
    if (r >= 0) return r;
    clvit_device_info *infos;
    int n;
    clvit_status st = clvit_list_devices(&infos, &n);
    if (st) return cli_fail("devices", st);
    /* the device a command without --device gets: CLVIT_DEVICE's, else the default rule's */
    const char *env = getenv("CLVIT_DEVICE");
    const int from_env = env && *env;
    int chosen = -1;
    if (clvit_select_device(infos, n, NULL, &chosen) != CLVIT_SUCCESS) chosen = -1;
    int last_platform = -1;
    for (int i = 0; i < n; i++) {
        const clvit_device_info *d = &infos[i];
        char a[32];
        if (d->platform_index != last_platform) {
            printf("platform %d: %s (%s)\n", d->platform_index, d->platform_name,
                   d->platform_version);
            last_platform = d->platform_index;
        }
        printf("  device %d:%d  %s%s\n", d->platform_index, d->device_index, d->name,
               i != chosen ? ""
               : from_env  ? "  (default, from CLVIT_DEVICE)"
                           : "  (default)");
        printf("    type %s, vendor %s, driver %s\n",
               d->is_gpu   ? (d->host_unified_memory ? "GPU (integrated)" : "GPU (discrete)")
               : d->is_cpu ? "CPU"
                           : "other",
               d->vendor, d->driver_version);
        printf("    %u compute units @ %u MHz, global memory %.2f GiB (max allocation %s), "
               "local memory %.0f KiB, max work-group %zu\n",
               d->compute_units, d->clock_mhz, d->global_mem_bytes / 1073741824.0,
               size_str(d->max_alloc_bytes, a, sizeof a), d->local_mem_bytes / 1024.0,
               d->max_work_group_size);
        printf("    %s, %s, fp16 %s, fp64 %s\n", d->device_version, d->opencl_c_version,
               d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no");
        if (d->limits_emulated) { /* the limits above that are lowered by the variables */
            char alloc[96] = "", wg[96] = "";
            if (d->limits_emulated & CLVIT_EMULATED_MAX_ALLOC)
                snprintf(alloc, sizeof alloc, "max allocation %s (CLVIT_MAX_ALLOC)",
                         size_str(d->max_alloc_bytes, a, sizeof a));
            if (d->limits_emulated & CLVIT_EMULATED_MAX_WORK_GROUP)
                snprintf(wg, sizeof wg, "max work-group %zu (CLVIT_MAX_WORK_GROUP)",
                         d->max_work_group_size);
            printf("    emulated limits: %s%s%s\n", alloc, alloc[0] && wg[0] ? ", " : "", wg);
        }
    }
    if (chosen < 0)
        printf("CLVIT_DEVICE='%s' matches no device: commands without --device will fail\n", env);
    else if (from_env)
        printf("(default): the device CLVIT_DEVICE='%s' selects\n", env);
    else
        printf("(default): a discrete GPU, else an integrated GPU, else another accelerator, else "
               "a CPU; then the most compute units x clock, then the most memory\n");
    free(infos);
    return 0;
}
