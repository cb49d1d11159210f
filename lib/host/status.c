/*
 * status.c - status names and the per-thread last-error message.
 */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[4096];

const char *clvit_version(void) {
    return CLVIT_VERSION;
}

const char *clvit_status_string(clvit_status s) {
    switch (s) {
    case CLVIT_SUCCESS:
        return "success";
    case CLVIT_ERR_INVALID_ARG:
        return "invalid argument";
    case CLVIT_ERR_IO:
        return "I/O error";
    case CLVIT_ERR_FORMAT:
        return "malformed file";
    case CLVIT_ERR_NOMEM:
        return "out of host memory";
    case CLVIT_ERR_SHAPE:
        return "shape mismatch";
    case CLVIT_ERR_NOT_FOUND:
        return "not found";
    case CLVIT_ERR_BUILD:
        return "OpenCL program build failed";
    case CLVIT_ERR_CLBLAST:
        return "CLBlast error";
    case CLVIT_ERR_NO_DEVICE:
        return "no matching OpenCL device";
    case CLVIT_ERR_UNSUPPORTED:
        return "unsupported";
    case CLVIT_ERR_INTERRUPTED:
        return "interrupted";
    case CLVIT_ERR_DIVERGED:
        return "training diverged";
    case CLVIT_ERR_REPLICAS:
        return "replicas diverged or another rank failed";
    case -1:
        return "CL_DEVICE_NOT_FOUND";
    case -4:
        return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case -5:
        return "CL_OUT_OF_RESOURCES";
    case -6:
        return "CL_OUT_OF_HOST_MEMORY";
    case -11:
        return "CL_BUILD_PROGRAM_FAILURE";
    case -30:
        return "CL_INVALID_VALUE";
    case -36:
        return "CL_INVALID_COMMAND_QUEUE";
    case -38:
        return "CL_INVALID_MEM_OBJECT";
    case -45:
        return "CL_INVALID_PROGRAM_EXECUTABLE";
    case -46:
        return "CL_INVALID_KERNEL_NAME";
    case -48:
        return "CL_INVALID_KERNEL";
    case -49:
        return "CL_INVALID_ARG_INDEX";
    case -50:
        return "CL_INVALID_ARG_VALUE";
    case -51:
        return "CL_INVALID_ARG_SIZE";
    case -52:
        return "CL_INVALID_KERNEL_ARGS";
    case -54:
        return "CL_INVALID_WORK_GROUP_SIZE";
    case -61:
        return "CL_INVALID_BUFFER_SIZE";
    case -1001:
        return "CL_PLATFORM_NOT_FOUND_KHR (no OpenCL platform installed)";
    default:
        break;
    }
    if (s < 0 && s > -100) return "OpenCL error";
    return "unknown status";
}

const char *clvit_last_error(void) {
    return last_error;
}

void clvit_clear_error(void) {
    last_error[0] = '\0';
}

clvit_status clvit_fail_at(clvit_status status, const char *file, int line, const char *fmt, ...) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = snprintf(last_error, sizeof last_error, "%s:%d: ", base, line);
    if (n < 0 || (size_t)n >= sizeof last_error) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
    va_end(ap);
    return status;
}

int clvit_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}
