/*
 * runtime.c - OpenCL platforms and devices: enumeration (with the device-limit emulation of
 * CLVIT_MAX_ALLOC and CLVIT_MAX_WORK_GROUP), selection by spec ("P:D", "gpu", "cpu", or a
 * name substring; else CLVIT_DEVICE; else the default device: discrete GPU, integrated GPU,
 * other accelerator, CPU), the context with its in-order profiling queue, buffers and
 * launches with explicit work-group sizes checked against the device's and the kernel's
 * limits (every kernel launch of the library goes through clvit_enqueue_kernel), and fault
 * injection (CLVIT_FAULT: the Nth allocation, kernel enqueue, write, read, map or wait of a
 * context fails as the driver would; lib/device.h lists the kinds).
 */
#include "gemm_plan.h"

#include <clblast_c.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64

static void get_str(cl_device_id d, cl_device_info what, char *dst, size_t size) {
    dst[0] = '\0';
    if (clGetDeviceInfo(d, what, size, dst, NULL) != CL_SUCCESS) dst[0] = '\0';
    dst[size - 1] = '\0';
}

int clvit_parse_size(const char *s, uint64_t *bytes) {
    if (!s || !isdigit((unsigned char)s[0])) return 0;
    errno = 0;
    char *end;
    const unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE) return 0;
    int shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        shift = 10;
        break;
    case 'M':
        shift = 20;
        break;
    case 'G':
        shift = 30;
        break;
    default:
        break;
    }
    if (shift) end++;
    if (*end || v == 0 || v > (UINT64_MAX >> shift)) return 0;
    *bytes = (uint64_t)v << shift;
    return 1;
}

/* The emulated limits from CLVIT_MAX_ALLOC and CLVIT_MAX_WORK_GROUP, 0 where unset. */
typedef struct emulated_limits {
    uint64_t max_alloc;
    size_t max_work_group;
} emulated_limits;

static clvit_status read_emulated_limits(emulated_limits *lim) {
    lim->max_alloc = 0;
    lim->max_work_group = 0;
    const char *a = getenv("CLVIT_MAX_ALLOC");
    if (a && *a && !clvit_parse_size(a, &lim->max_alloc))
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "CLVIT_MAX_ALLOC='%s': expected a size above 0 in bytes, or with a K, "
                          "M or G suffix (e.g. 64M)",
                          a);
    const char *w = getenv("CLVIT_MAX_WORK_GROUP");
    uint64_t wg = 0;
    if (w && *w) {
        char *end;
        errno = 0;
        wg = isdigit((unsigned char)w[0]) ? strtoull(w, &end, 10) : 0;
        if (wg == 0 || errno == ERANGE || *end || wg > SIZE_MAX)
            return clvit_fail(CLVIT_ERR_INVALID_ARG,
                              "CLVIT_MAX_WORK_GROUP='%s': expected a whole number of work-items "
                              "above 0 (e.g. 64)",
                              w);
    }
    lim->max_work_group = (size_t)wg;
    return CLVIT_SUCCESS;
}

static void fill_info(cl_platform_id p, cl_device_id d, int pi, int di, const emulated_limits *lim,
                      clvit_device_info *info) {
    memset(info, 0, sizeof *info);
    info->platform_index = pi;
    info->device_index = di;
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof info->platform_name, info->platform_name, NULL);
    clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof info->platform_version, info->platform_version,
                      NULL);
    info->platform_name[sizeof info->platform_name - 1] = '\0';
    info->platform_version[sizeof info->platform_version - 1] = '\0';
    get_str(d, CL_DEVICE_NAME, info->name, sizeof info->name);
    get_str(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    get_str(d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    get_str(d, CL_DEVICE_VERSION, info->device_version, sizeof info->device_version);
    get_str(d, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version, sizeof info->opencl_c_version);
    cl_device_type type = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    info->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    cl_bool unified = CL_FALSE;
    if (clGetDeviceInfo(d, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL) !=
        CL_SUCCESS)
        unified = CL_FALSE;
    info->host_unified_memory = unified != CL_FALSE;
    cl_uint u = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof u, &u, NULL);
    info->compute_units = u;
    u = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof u, &u, NULL);
    info->clock_mhz = u;
    cl_ulong ul = 0;
    clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof ul, &ul, NULL);
    info->global_mem_bytes = ul;
    ul = 0;
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof ul, &ul, NULL);
    info->local_mem_bytes = ul;
    ul = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ul, &ul, NULL);
    info->max_alloc_bytes = ul;
    size_t wg = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    info->max_work_group_size = wg;
    /* the emulated limits replace the device's where they are smaller (or it reports none) */
    if (lim->max_alloc && (!info->max_alloc_bytes || lim->max_alloc < info->max_alloc_bytes)) {
        info->max_alloc_bytes = lim->max_alloc;
        info->limits_emulated |= CLVIT_EMULATED_MAX_ALLOC;
    }
    if (lim->max_work_group &&
        (!info->max_work_group_size || lim->max_work_group < info->max_work_group_size)) {
        info->max_work_group_size = lim->max_work_group;
        info->limits_emulated |= CLVIT_EMULATED_MAX_WORK_GROUP;
    }
    char ext[8192];
    get_str(d, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
    info->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
    info->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
}

/* The OpenCL handles of a listed device and its (platform, device) indices; its
 * clvit_device_info sits at the same index. */
typedef struct found_device {
    cl_platform_id platform;
    cl_device_id device;
    int pi, di;
} found_device;

/* Every device in the listing order of clvit_list_devices into list (room for MAX_PLATFORMS x
 * MAX_DEVICES): how many, or -1 when no platform is listed (*err: clGetPlatformIDs' code). */
static int walk_devices(found_device *list, cl_int *err) {
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    *err = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    if (*err != CL_SUCCESS || np == 0) return -1;
    if (np > MAX_PLATFORMS) np = MAX_PLATFORMS;
    int n = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_device_id devs[MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd) != CL_SUCCESS)
            continue;
        if (nd > MAX_DEVICES) nd = MAX_DEVICES;
        for (cl_uint d = 0; d < nd; d++)
            list[n++] = (found_device){plats[p], devs[d], (int)p, (int)d};
    }
    return n;
}

/* Every device: *ids and *infos malloc'ed, *count >= 1. */
static clvit_status enumerate(found_device **ids, clvit_device_info **infos, int *count) {
    *ids = NULL;
    *infos = NULL;
    *count = 0;
    emulated_limits lim;
    CLVIT_CHECK(read_emulated_limits(&lim));
    found_device *list = calloc(MAX_PLATFORMS * MAX_DEVICES, sizeof *list);
    clvit_device_info *info = calloc(MAX_PLATFORMS * MAX_DEVICES, sizeof *info);
    if (!list || !info) {
        free(list);
        free(info);
        return clvit_fail(CLVIT_ERR_NOMEM, "device list");
    }
    cl_int e;
    const int n = walk_devices(list, &e);
    if (n < 0) {
        free(list);
        free(info);
        if (e != -1001 /* CL_PLATFORM_NOT_FOUND_KHR */) CLVIT_CHECK_CL(e);
        return clvit_fail(CLVIT_ERR_NO_DEVICE, "no OpenCL platform found (is an ICD such as "
                                               "pocl-opencl-icd installed?)");
    }
    for (int i = 0; i < n; i++)
        fill_info(list[i].platform, list[i].device, list[i].pi, list[i].di, &lim, &info[i]);
    if (n == 0) {
        free(list);
        free(info);
        return clvit_fail(CLVIT_ERR_NO_DEVICE, "OpenCL platforms found but no device");
    }
    clvit_device_info *fit = realloc(info, (size_t)n * sizeof *fit); /* shrinking */
    *ids = list;
    *infos = fit ? fit : info;
    *count = n;
    return CLVIT_SUCCESS;
}

clvit_status clvit_list_devices(clvit_device_info **infos, int *count) {
    if (!infos || !count) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_list_devices: NULL");
    found_device *list;
    CLVIT_CHECK(enumerate(&list, infos, count));
    free(list);
    return CLVIT_SUCCESS;
}

static int contains_nocase(const char *hay, const char *needle) {
    size_t nl = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == nl) return 1;
    }
    return nl == 0;
}

/* The default rule's kind: 0 discrete GPU, 1 integrated GPU, 2 other accelerator, 3 CPU. */
static int device_kind(const clvit_device_info *d) {
    if (d->is_gpu) return d->host_unified_memory ? 1 : 0;
    return d->is_cpu ? 3 : 2;
}

/* Whether a is preferred to b by the default rule (a strict order; ties keep list order). */
static int preferred(const clvit_device_info *a, const clvit_device_info *b) {
    const int ka = device_kind(a), kb = device_kind(b);
    if (ka != kb) return ka < kb;
    const uint64_t pa = (uint64_t)a->compute_units * a->clock_mhz,
                   pb = (uint64_t)b->compute_units * b->clock_mhz;
    if (pa != pb) return pa > pb;
    return a->global_mem_bytes > b->global_mem_bytes;
}

/* The preferred device among those of infos[0..n-1] that pass `want` (0 all, 1 GPUs, 2 CPUs);
 * -1 when none does. */
static int best_device(const clvit_device_info *infos, int n, int want) {
    int best = -1;
    for (int i = 0; i < n; i++) {
        if ((want == 1 && !infos[i].is_gpu) || (want == 2 && !infos[i].is_cpu)) continue;
        if (best < 0 || preferred(&infos[i], &infos[best])) best = i;
    }
    return best;
}

int clvit_default_device_index(const clvit_device_info *infos, int n) {
    return infos ? best_device(infos, n, 0) : -1;
}

/* Index into infos chosen by spec, or -1 with an error recorded. */
static int choose(const clvit_device_info *infos, int n, const char *spec, const char *origin) {
    if (!spec || !*spec) return best_device(infos, n, 0);
    int p, d;
    char tail;
    if (sscanf(spec, "%d:%d%c", &p, &d, &tail) == 2) {
        for (int i = 0; i < n; i++)
            if (infos[i].platform_index == p && infos[i].device_index == d) return i;
        clvit_fail(CLVIT_ERR_NO_DEVICE, "%s '%s': no device %d:%d (see `clvit devices`)", origin,
                   spec, p, d);
        return -1;
    }
    if (!strcmp(spec, "gpu") || !strcmp(spec, "cpu")) {
        const int want_gpu = spec[0] == 'g';
        const int i = best_device(infos, n, want_gpu ? 1 : 2);
        if (i < 0)
            clvit_fail(CLVIT_ERR_NO_DEVICE, "%s '%s': no %s device (see `clvit devices`)", origin,
                       spec, want_gpu ? "GPU" : "CPU");
        return i;
    }
    for (int i = 0; i < n; i++)
        if (contains_nocase(infos[i].name, spec)) return i;
    clvit_fail(CLVIT_ERR_NO_DEVICE, "%s '%s': no device name contains it (see `clvit devices`)",
               origin, spec);
    return -1;
}

clvit_status clvit_select_device(const clvit_device_info *infos, int n, const char *device_spec,
                                 int *index) {
    if (!infos || n <= 0 || !index)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_select_device: no devices");
    const char *origin = "--device";
    if (!device_spec || !*device_spec) {
        device_spec = getenv("CLVIT_DEVICE");
        origin = "CLVIT_DEVICE";
    }
    const int i = choose(infos, n, device_spec, origin);
    if (i < 0) return CLVIT_ERR_NO_DEVICE;
    *index = i;
    return CLVIT_SUCCESS;
}

static clvit_status ctx_setup(clvit_ctx *ctx, clvit_ctx **out);

clvit_status clvit_ctx_create(clvit_ctx **out, const char *spec) {
    if (!out) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_ctx_create: NULL");
    *out = NULL;
    found_device *list;
    clvit_device_info *infos;
    int n, i = 0;
    CLVIT_CHECK(enumerate(&list, &infos, &n));
    clvit_status sel = clvit_select_device(infos, n, spec, &i);
    clvit_ctx *ctx = sel ? NULL : calloc(1, sizeof *ctx);
    if (ctx) {
        ctx->platform = list[i].platform;
        ctx->device = list[i].device;
        ctx->info = infos[i];
    }
    free(list);
    free(infos);
    if (sel) return sel;
    if (!ctx) return clvit_fail(CLVIT_ERR_NOMEM, "context");
    cl_int e;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
    ctx->context = clCreateContext(props, 1, &ctx->device, NULL, NULL, &e);
    if (e != CL_SUCCESS) {
        clvit_status st =
            clvit_fail(e, "clCreateContext on '%s': %s", ctx->info.name, clvit_status_string(e));
        free(ctx);
        return st;
    }
    ctx->queue = clCreateCommandQueue(ctx->context, ctx->device, CL_QUEUE_PROFILING_ENABLE, &e);
    if (e != CL_SUCCESS) {
        clReleaseContext(ctx->context);
        free(ctx);
        return clvit_fail(e, "clCreateCommandQueue: %s", clvit_status_string(e));
    }
    ctx->owns_context = ctx->owns_queue = 1;
    return ctx_setup(ctx, out);
}

/* What every context sets up once it has its OpenCL context and queue: fault injection,
 * program cache, row-kernel mode, CLBlast parameters. Frees ctx on failure. */
static clvit_status ctx_setup(clvit_ctx *ctx, clvit_ctx **out) {
    clvit_status st = clvit_fault_set(ctx, getenv("CLVIT_FAULT"));
    if (st != CLVIT_SUCCESS) {
        clvit_ctx_free(ctx);
        return st;
    }
    clvit_cache_dir_default(ctx->cache_dir, sizeof ctx->cache_dir);
    const char *bin = getenv("CLVIT_BINARY_CACHE");
    ctx->cache_binaries = bin && *bin ? strcmp(bin, "0") != 0
                                      : !strstr(ctx->info.platform_name, "Portable Computing");
    const char *rows = getenv("CLVIT_ROW_KERNELS");
    if (rows && !strcmp(rows, "group"))
        ctx->row_mode = 1;
    else if (rows && !strcmp(rows, "item"))
        ctx->row_mode = 2;
    else if (rows && *rows) {
        clvit_ctx_free(ctx);
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "CLVIT_ROW_KERNELS='%s': expected group or item",
                          rows);
    }
    st = clvit_gemm_tuning_apply(ctx);
    if (st != CLVIT_SUCCESS) {
        clvit_ctx_free(ctx);
        return st;
    }
    *out = ctx;
    return CLVIT_SUCCESS;
}

void clvit_ctx_free(clvit_ctx *ctx) {
    if (!ctx) return;
    if (ctx->fault_report)
        fprintf(stderr,
                "clvit: CLVIT_FAULT=count: alloc %llu, enqueue %llu, write %llu, read %llu, "
                "map %llu, wait %llu\n",
                (unsigned long long)ctx->fault_count[CLVIT_FAULT_ALLOC],
                (unsigned long long)ctx->fault_count[CLVIT_FAULT_ENQUEUE],
                (unsigned long long)ctx->fault_count[CLVIT_FAULT_WRITE],
                (unsigned long long)ctx->fault_count[CLVIT_FAULT_READ],
                (unsigned long long)ctx->fault_count[CLVIT_FAULT_MAP],
                (unsigned long long)ctx->fault_count[CLVIT_FAULT_WAIT]);
    if (ctx->queue) clFinish(ctx->queue);
    clvit_prof_reset(ctx);
    free(ctx->prof);
    for (int i = 0; i < ctx->num_programs; i++) {
        clvit_program *p = &ctx->programs[i];
        for (int k = 0; k < p->num_kernels; k++)
            clReleaseKernel(p->kernels[k]);
        free(p->kernels);
        free(p->kernel_names);
        clReleaseProgram(p->program);
    }
    free(ctx->programs);
    clvit_gemm_plan_free(ctx);
    clvit_ctx_release_scratch(ctx);
    /* CLBlast keeps the programs it built (each retaining this context) in a process-wide
     * cache until its static destructors run at exit, where Oclgrind's runtime cannot take API
     * calls any more (docs/oclgrind.md): release them with the context. Other live contexts,
     * if any, rebuild CLBlast's kernels when they next use it. */
    CLBlastClearCache();
    if (ctx->queue && ctx->owns_queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->context && ctx->owns_context) clReleaseContext(ctx->context);
    free(ctx);
}

/* The (platform, device) indices of d in the listing order of clvit_list_devices, or -1. */
static void device_indices(cl_device_id d, int *pi, int *di) {
    *pi = *di = -1;
    found_device *list = calloc(MAX_PLATFORMS * MAX_DEVICES, sizeof *list);
    cl_int e;
    const int n = list ? walk_devices(list, &e) : 0;
    for (int i = 0; i < n; i++)
        if (list[i].device == d) {
            *pi = list[i].pi;
            *di = list[i].di;
            break;
        }
    free(list);
}

clvit_status clvit_ctx_create_from_cl(clvit_ctx **out, cl_context context, cl_device_id device,
                                      cl_command_queue queue) {
    if (!out) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_ctx_create_from_cl: ctx is NULL");
    *out = NULL;
    if (!context || !device)
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "clvit_ctx_create_from_cl: context and device must not be NULL");
    cl_uint nd = 0;
    CLVIT_CHECK_CL(clGetContextInfo(context, CL_CONTEXT_NUM_DEVICES, sizeof nd, &nd, NULL));
    cl_device_id *devs = calloc(nd ? nd : 1, sizeof *devs);
    if (!devs) return clvit_fail(CLVIT_ERR_NOMEM, "context devices");
    cl_int e = clGetContextInfo(context, CL_CONTEXT_DEVICES, nd * sizeof *devs, devs, NULL);
    int found = 0;
    for (cl_uint i = 0; e == CL_SUCCESS && i < nd; i++)
        found |= devs[i] == device;
    free(devs);
    CLVIT_CHECK_CL(e);
    if (!found)
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "clvit_ctx_create_from_cl: the device is not one of the context's");
    if (queue) {
        cl_context qc = NULL;
        cl_device_id qd = NULL;
        cl_command_queue_properties props = 0;
        CLVIT_CHECK_CL(clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof qc, &qc, NULL));
        CLVIT_CHECK_CL(clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof qd, &qd, NULL));
        CLVIT_CHECK_CL(
            clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL));
        if (qc != context || qd != device)
            return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_ctx_create_from_cl: the queue "
                                                     "belongs to another context or device");
        if (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
            return clvit_fail(CLVIT_ERR_UNSUPPORTED,
                              "clvit_ctx_create_from_cl: the queue is out-of-order; clvit needs "
                              "an in-order queue (or NULL for its own)");
    }
    cl_platform_id platform = NULL;
    CLVIT_CHECK_CL(clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL));
    emulated_limits lim;
    CLVIT_CHECK(read_emulated_limits(&lim));
    clvit_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return clvit_fail(CLVIT_ERR_NOMEM, "context");
    int pi, di;
    device_indices(device, &pi, &di);
    fill_info(platform, device, pi, di, &lim, &ctx->info);
    ctx->platform = platform;
    ctx->device = device;
    ctx->context = context;
    ctx->owns_context = 0;
    if (queue) {
        ctx->queue = queue;
        ctx->owns_queue = 0;
    } else {
        ctx->queue = clCreateCommandQueue(context, device, CL_QUEUE_PROFILING_ENABLE, &e);
        if (e != CL_SUCCESS) {
            free(ctx);
            return clvit_fail(e, "clCreateCommandQueue: %s", clvit_status_string(e));
        }
        ctx->owns_queue = 1;
    }
    return ctx_setup(ctx, out);
}

void clvit_ctx_release_scratch(clvit_ctx *ctx) {
    if (ctx->gemm_temp) clReleaseMemObject(ctx->gemm_temp);
    if (ctx->gemm_pack) clReleaseMemObject(ctx->gemm_pack);
    if (ctx->scratch) clReleaseMemObject(ctx->scratch);
    ctx->gemm_temp = ctx->gemm_pack = ctx->scratch = NULL;
    ctx->gemm_temp_bytes = ctx->gemm_pack_floats = ctx->scratch_floats = 0;
}

const clvit_device_info *clvit_ctx_device(const clvit_ctx *ctx) {
    return ctx ? &ctx->info : NULL;
}

clvit_status clvit_ctx_finish(clvit_ctx *ctx) {
    CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_WAIT, "clFinish"));
    CLVIT_CHECK_CL(clFinish(ctx->queue));
    return CLVIT_SUCCESS;
}

/* ---------------------------------------------------------------- fault injection */

static const char *const fault_names[CLVIT_FAULT_KINDS] = {"alloc", "enqueue", "write",
                                                           "read",  "map",     "wait"};

clvit_status clvit_fault_set(clvit_ctx *ctx, const char *spec) {
    memset(ctx->fault_count, 0, sizeof ctx->fault_count);
    ctx->fault_kind = -1;
    ctx->fault_at = 0;
    ctx->fault_report = 0;
    if (!spec || !*spec || !strcmp(spec, "off")) return CLVIT_SUCCESS;
    if (!strcmp(spec, "count")) {
        ctx->fault_report = 1;
        return CLVIT_SUCCESS;
    }
    const char *colon = strchr(spec, ':');
    for (int k = 0; colon && k < CLVIT_FAULT_KINDS; k++) {
        if (strlen(fault_names[k]) != (size_t)(colon - spec) ||
            strncmp(spec, fault_names[k], (size_t)(colon - spec)))
            continue;
        char *end;
        errno = 0;
        const unsigned long long n =
            isdigit((unsigned char)colon[1]) ? strtoull(colon + 1, &end, 10) : 0;
        if (n == 0 || errno == ERANGE || *end) break;
        ctx->fault_kind = k;
        ctx->fault_at = n;
        return CLVIT_SUCCESS;
    }
    return clvit_fail(CLVIT_ERR_INVALID_ARG,
                      "CLVIT_FAULT='%s': expected KIND:N (KIND alloc, enqueue, write, read, map "
                      "or wait; N from 1: the Nth such operation fails), count or off",
                      spec);
}

clvit_status clvit_fault(clvit_ctx *ctx, clvit_fault_kind kind, const char *what, ...) {
    const uint64_t n = ++ctx->fault_count[kind];
    if ((int)kind != ctx->fault_kind || n != ctx->fault_at) return CLVIT_SUCCESS;
    static const cl_int codes[CLVIT_FAULT_KINDS] = {CL_MEM_OBJECT_ALLOCATION_FAILURE,
                                                    CL_OUT_OF_RESOURCES,
                                                    CL_OUT_OF_RESOURCES,
                                                    CL_OUT_OF_RESOURCES,
                                                    CL_MAP_FAILURE,
                                                    CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST};
    static const char *const code_names[CLVIT_FAULT_KINDS] = {
        "CL_MEM_OBJECT_ALLOCATION_FAILURE",
        "CL_OUT_OF_RESOURCES",
        "CL_OUT_OF_RESOURCES",
        "CL_OUT_OF_RESOURCES",
        "CL_MAP_FAILURE",
        "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST"};
    char op[160];
    va_list ap;
    va_start(ap, what);
    vsnprintf(op, sizeof op, what, ap);
    va_end(ap);
    return clvit_fail(codes[kind], "injected fault (CLVIT_FAULT=%s:%llu): %s failed with %s (%d)",
                      fault_names[kind], (unsigned long long)n, op, code_names[kind], codes[kind]);
}

uint64_t clvit_fault_count(const clvit_ctx *ctx, clvit_fault_kind kind) {
    return ctx->fault_count[kind];
}

/* ---------------------------------------------------------------- buffers */

/* Every buffer the library creates is counted here until the driver destroys it (its
 * destructor callback, which may run on a driver thread: hence the atomics). */
static atomic_ullong live_buffers, live_bytes;

static void CL_CALLBACK on_buffer_destroyed(cl_mem mem, void *bytes) {
    (void)mem;
    atomic_fetch_sub(&live_buffers, 1);
    atomic_fetch_sub(&live_bytes, (unsigned long long)(uintptr_t)bytes);
}

void clvit_track_buffer(cl_mem mem, size_t bytes) {
    atomic_fetch_add(&live_buffers, 1);
    atomic_fetch_add(&live_bytes, (unsigned long long)bytes);
    if (clSetMemObjectDestructorCallback(mem, on_buffer_destroyed, (void *)(uintptr_t)bytes) !=
        CL_SUCCESS) { /* not counted where the driver cannot say when it is gone */
        atomic_fetch_sub(&live_buffers, 1);
        atomic_fetch_sub(&live_bytes, (unsigned long long)bytes);
    }
}

void clvit_device_memory_in_use(uint64_t *buffers, uint64_t *bytes) {
    if (buffers) *buffers = atomic_load(&live_buffers);
    if (bytes) *bytes = atomic_load(&live_bytes);
}

clvit_status clvit_buffer(clvit_ctx *ctx, size_t floats, cl_mem *out) {
    *out = NULL;
    size_t bytes;
    if (!clvit_mul_size(floats ? floats : 1, sizeof(float), &bytes))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "buffer of %zu floats overflows", floats);
    if (bytes > ctx->info.max_alloc_bytes && ctx->info.max_alloc_bytes)
        return clvit_fail(CL_INVALID_BUFFER_SIZE,
                          "buffer of %.1f MiB exceeds the device's max allocation of %.1f MiB%s",
                          bytes / 1048576.0, ctx->info.max_alloc_bytes / 1048576.0,
                          ctx->info.limits_emulated & CLVIT_EMULATED_MAX_ALLOC
                              ? " (emulated by CLVIT_MAX_ALLOC)"
                              : "");
    CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_ALLOC, "clCreateBuffer(%.1f MiB)", bytes / 1048576.0));
    cl_int e;
    *out = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &e);
    if (e != CL_SUCCESS)
        return clvit_fail(e, "clCreateBuffer(%.1f MiB): %s", bytes / 1048576.0,
                          clvit_status_string(e));
    clvit_track_buffer(*out, bytes);
    return CLVIT_SUCCESS;
}

clvit_status clvit_write(clvit_ctx *ctx, cl_mem buf, size_t off, const float *src, size_t n) {
    if (n == 0) return CLVIT_SUCCESS;
    CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_WRITE, "clEnqueueWriteBuffer"));
    CLVIT_CHECK_CL(clEnqueueWriteBuffer(ctx->queue, buf, CL_TRUE, off * sizeof(float),
                                        n * sizeof(float), src, 0, NULL, NULL));
    return CLVIT_SUCCESS;
}

clvit_status clvit_read(clvit_ctx *ctx, cl_mem buf, size_t off, float *dst, size_t n) {
    if (n == 0) return CLVIT_SUCCESS;
    CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_READ, "clEnqueueReadBuffer"));
    CLVIT_CHECK_CL(clEnqueueReadBuffer(ctx->queue, buf, CL_TRUE, off * sizeof(float),
                                       n * sizeof(float), dst, 0, NULL, NULL));
    return CLVIT_SUCCESS;
}

clvit_status clvit_fill(clvit_ctx *ctx, cl_mem buf, size_t off, float value, size_t n) {
    if (n == 0) return CLVIT_SUCCESS;
    CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_WRITE, "clEnqueueFillBuffer"));
    CLVIT_CHECK_CL(clEnqueueFillBuffer(ctx->queue, buf, &value, sizeof value, off * sizeof(float),
                                       n * sizeof(float), 0, NULL, NULL));
    return CLVIT_SUCCESS;
}

/* ---------------------------------------------------------------- launches and profiling */

clvit_status clvit_arg(cl_kernel k, cl_uint index, size_t size, const void *value) {
    cl_int e = clSetKernelArg(k, index, size, value);
    if (e != CL_SUCCESS) {
        char name[64] = "?";
        clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
        name[sizeof name - 1] = '\0';
        return clvit_fail(e, "clSetKernelArg(%s, %u): %s", name, index, clvit_status_string(e));
    }
    return CLVIT_SUCCESS;
}

clvit_status clvit_args(cl_kernel k, int n, ...) {
    va_list ap;
    va_start(ap, n);
    clvit_status st = CLVIT_SUCCESS;
    for (int i = 0; i < n && st == CLVIT_SUCCESS; i++) {
        size_t size = va_arg(ap, size_t);
        const void *value = va_arg(ap, const void *);
        st = clvit_arg(k, (cl_uint)i, size, value);
    }
    va_end(ap);
    return st;
}

cl_event *clvit_prof_slot(clvit_ctx *ctx, const char *label, int is_gemm, double flops) {
    if (!ctx->profiling) return NULL;
    if (ctx->num_prof == ctx->cap_prof) {
        int cap = ctx->cap_prof ? 2 * ctx->cap_prof : 256;
        clvit_prof_event *p = realloc(ctx->prof, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        ctx->prof = p;
        ctx->cap_prof = cap;
    }
    clvit_prof_event *ev = &ctx->prof[ctx->num_prof++];
    ev->label = label;
    ev->is_gemm = is_gemm;
    ev->flops = flops;
    ev->event = NULL;
    return &ev->event;
}

void clvit_prof_reset(clvit_ctx *ctx) {
    for (int i = 0; i < ctx->num_prof; i++)
        if (ctx->prof[i].event) clReleaseEvent(ctx->prof[i].event);
    ctx->num_prof = 0;
}

size_t clvit_local_limit(clvit_ctx *ctx, cl_kernel k) {
    size_t limit = ctx->info.max_work_group_size, kmax = 0;
    if (clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax,
                                 NULL) == CL_SUCCESS &&
        kmax && (!limit || kmax < limit))
        limit = kmax;
    /* A kernel built with reqd_work_group_size runs at that size: Mesa 22.3's rusticl reports
     * CL_KERNEL_WORK_GROUP_SIZE 32 for every kernel on llvmpipe, reqd 256 included, and runs
     * such kernels with 256 items correctly (docs/oclgrind.md). */
    size_t req[3] = {0, 0, 0};
    if (clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_COMPILE_WORK_GROUP_SIZE, sizeof req, req,
                                 NULL) == CL_SUCCESS &&
        req[0]) {
        const size_t r = req[0] * (req[1] ? req[1] : 1) * (req[2] ? req[2] : 1);
        if (r > limit && (!ctx->info.max_work_group_size || r <= ctx->info.max_work_group_size))
            limit = r;
    }
    return limit ? limit : 1;
}

int clvit_local_mem_fits(clvit_ctx *ctx, cl_kernel k, uint64_t bytes) {
    cl_ulong used = 0;
    if (clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof used, &used,
                                 NULL) != CL_SUCCESS)
        return 0;
    return used <= ctx->info.local_mem_bytes && bytes <= ctx->info.local_mem_bytes - used;
}

/* The largest power of two <= cap (cap >= 1). */
static size_t pow2_floor(size_t cap) {
    size_t w = 1;
    while (w <= cap / 2)
        w <<= 1;
    return w;
}

/* Fails, naming the kernel, when `local` work-items per group exceed the limit for k. */
static clvit_status check_local(clvit_ctx *ctx, cl_kernel k, const char *label, size_t local) {
    const size_t limit = clvit_local_limit(ctx, k);
    if (local <= limit) return CLVIT_SUCCESS;
    size_t kmax = 0;
    clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL);
    return clvit_fail(CL_INVALID_WORK_GROUP_SIZE,
                      "kernel %s: work-group size %zu exceeds the limit %zu (device %zu%s, "
                      "kernel %zu)",
                      label, local, limit, ctx->info.max_work_group_size,
                      ctx->info.limits_emulated & CLVIT_EMULATED_MAX_WORK_GROUP
                          ? " emulated by CLVIT_MAX_WORK_GROUP"
                          : "",
                      kmax);
}

/* "a x b x c" */
static void fmt_dims(char *buf, size_t size, cl_uint dims, const size_t *v) {
    size_t used = 0;
    buf[0] = '\0';
    for (cl_uint i = 0; i < dims && used < size; i++) {
        const int w = snprintf(buf + used, size - used, "%s%zu", i ? " x " : "", v[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

clvit_status clvit_enqueue_kernel(clvit_ctx *ctx, cl_kernel k, const char *label, cl_uint dims,
                                  const size_t *global, const size_t *local, int is_gemm,
                                  double flops) {
    CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_ENQUEUE, "launching kernel %s", label));
    cl_event *ev = clvit_prof_slot(ctx, label, is_gemm, flops);
    const cl_int e = clEnqueueNDRangeKernel(ctx->queue, k, dims, NULL, global, local, 0, NULL, ev);
    if (e == CL_SUCCESS) return CLVIT_SUCCESS;
    char name[64] = "?", g[64], l[64];
    clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
    name[sizeof name - 1] = '\0';
    fmt_dims(g, sizeof g, dims, global);
    fmt_dims(l, sizeof l, dims, local);
    return clvit_fail(e, "launching kernel %s (%s, global %s, local %s): %s", label, name, g, l,
                      clvit_status_string(e));
}

static clvit_status enqueue(clvit_ctx *ctx, cl_kernel k, const char *label, size_t global,
                            size_t local) {
    return clvit_enqueue_kernel(ctx, k, label, 1, &global, &local, 0, 0.0);
}

clvit_status clvit_launch(clvit_ctx *ctx, cl_kernel k, const char *label, size_t global,
                          size_t local) {
    if (global == 0) return CLVIT_SUCCESS;
    if (local == 0) { /* a power of two, at most 64, no larger than global needs */
        const size_t limit = clvit_local_limit(ctx, k), cap = pow2_floor(limit < 64 ? limit : 64);
        for (local = 1; local < cap && local < global;)
            local <<= 1;
    } else {
        CLVIT_CHECK(check_local(ctx, k, label, local));
    }
    if (global > SIZE_MAX - local)
        return clvit_fail(CLVIT_ERR_SHAPE, "kernel %s: %zu work-items overflow", label, global);
    return enqueue(ctx, k, label, (global + local - 1) / local * local, local);
}

clvit_status clvit_launch3(clvit_ctx *ctx, cl_kernel k, const char *label, size_t g0, size_t g1,
                           size_t g2) {
    if (g0 == 0 || g1 == 0 || g2 == 0) return CLVIT_SUCCESS;
    /* up to 64 items, split between dimensions 0 and 1 as evenly as they need (8 x 8 for
     * large ones); dimension 2 is never padded */
    const size_t limit = clvit_local_limit(ctx, k), cap = pow2_floor(limit < 64 ? limit : 64);
    size_t l0 = 1, l1 = 1;
    while (l0 * l1 < cap) {
        if (l0 < g0 && (l0 <= l1 || l1 >= g1))
            l0 <<= 1;
        else if (l1 < g1)
            l1 <<= 1;
        else
            break;
    }
    if (g0 > SIZE_MAX - l0 || g1 > SIZE_MAX - l1)
        return clvit_fail(CLVIT_ERR_SHAPE, "kernel %s: %zu x %zu work-items overflow", label, g0,
                          g1);
    const size_t global[3] = {(g0 + l0 - 1) / l0 * l0, (g1 + l1 - 1) / l1 * l1, g2};
    const size_t local[3] = {l0, l1, 1};
    return clvit_enqueue_kernel(ctx, k, label, 3, global, local, 0, 0.0);
}

int clvit_row_kernels_per_item(const clvit_ctx *ctx) {
    return ctx->row_mode ? ctx->row_mode == 2 : ctx->info.is_cpu;
}

clvit_status clvit_grow_buffer(clvit_ctx *ctx, cl_mem *buf, size_t *have, size_t floats) {
    if (floats <= *have) return CLVIT_SUCCESS;
    if (*buf) clReleaseMemObject(*buf);
    *buf = NULL;
    *have = 0;
    CLVIT_CHECK(clvit_buffer(ctx, floats, buf));
    *have = floats;
    return CLVIT_SUCCESS;
}

clvit_status clvit_scratch(clvit_ctx *ctx, size_t floats) {
    return clvit_grow_buffer(ctx, &ctx->scratch, &ctx->scratch_floats, floats);
}

size_t clvit_row_wgs(const clvit_ctx *ctx, int len, char *opts, size_t size) {
    size_t w = 16;
    if (!ctx->info.is_cpu || ctx->row_mode == 1) /* a GPU, or the GPU form forced */
        for (w = 1; w < (size_t)len && w < 64;)
            w <<= 1;
    /* never above the device's limit (emulated included), and still a power of two */
    while (w > 1 && ctx->info.max_work_group_size && w > ctx->info.max_work_group_size)
        w >>= 1;
    snprintf(opts, size, "-DWGS=%zu", w);
    return w;
}

clvit_status clvit_launch_rows(clvit_ctx *ctx, cl_kernel k, const char *label, size_t rows,
                               size_t local) {
    if (rows == 0) return CLVIT_SUCCESS;
    if (local == 0) return clvit_fail(CLVIT_ERR_INVALID_ARG, "kernel %s: local size 0", label);
    CLVIT_CHECK(check_local(ctx, k, label, local));
    if (rows > SIZE_MAX / local)
        return clvit_fail(CLVIT_ERR_SHAPE, "kernel %s: %zu rows of %zu overflow", label, rows,
                          local);
    return enqueue(ctx, k, label, rows * local, local);
}
