/*
 * count_launches.c - counts kernel launches (clEnqueueNDRangeKernel calls, CLBlast's own
 * included) of any program, for the launches-per-step figures in the README:
 *
 *   cc -shared -fPIC -O2 tools/count_launches.c -o /tmp/count_launches.so -ldl
 *   LD_PRELOAD=/tmp/count_launches.so ./your_program     # prints "launches: N" at exit
 *
 * Run a program for n and n + 1 steps: the difference is the launches of one step.
 */
#define _GNU_SOURCE
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static long launches;

static void report(void) {
    fprintf(stderr, "launches: %ld\n", launches);
}

cl_int clEnqueueNDRangeKernel(cl_command_queue q, cl_kernel k, cl_uint dims, const size_t *offset,
                              const size_t *global, const size_t *local, cl_uint nwait,
                              const cl_event *wait, cl_event *ev) {
    typedef cl_int (*fn)(cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *,
                         const size_t *, cl_uint, const cl_event *, cl_event *);
    static fn real;
    if (!real) {
        *(void **)&real = dlsym(RTLD_NEXT, "clEnqueueNDRangeKernel");
        atexit(report);
    }
    launches++;
    return real(q, k, dims, offset, global, local, nwait, wait, ev);
}
