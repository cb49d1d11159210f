/*
 * repro_rusticl_finish_map.c - does clFinish return before a non-blocking map queued before it
 * has completed? The pattern of lib/train.c's zero-copy staging slot freed with its step in
 * flight: an ALLOC_HOST_PTR buffer written through a map, unmapped, read by a slow kernel,
 * mapped again without blocking (event m), a non-blocking read (event r), then clFinish. The
 * OpenCL specification says clFinish returns only once every command queued before it has
 * completed, so both events must then be CL_COMPLETE and the mapped pointer must unmap.
 *
 *   cc -O2 tools/repro_rusticl_finish_map.c -lOpenCL -o /tmp/finish_map
 *   RUSTICL_ENABLE=llvmpipe /tmp/finish_map [ITERATIONS (40)] [PLATFORM ("rusticl")]
 *
 * Prints how often, after clFinish, the map was not complete, the read was not complete, and
 * the unmap was refused; exits 1 if any was. A race, so the cores must be busy: on this
 * 2-core machine with two `yes > /dev/null` running (2026-11-30), rusticl 22.3's map was not
 * complete after clFinish in 9 of 40 iterations (13 of 40 beside a clvit test), PoCL 3.1's
 * in 0 of 40; on idle cores rusticl gave 0 of 40 too.
 * docs/oclgrind.md, "rusticl", has what it did to clvit.
 */
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        const cl_int e_ = (x);                                                                     \
        if (e_ != CL_SUCCESS) {                                                                    \
            fprintf(stderr, "line %d: %s = %d\n", __LINE__, #x, e_);                               \
            exit(2);                                                                               \
        }                                                                                          \
    } while (0)

static const char *src =
    "kernel void slow(global const float *a, global float *b, int n, int reps) {\n"
    "    const int i = get_global_id(0);\n"
    "    if (i >= n) return;\n"
    "    float x = a[i];\n"
    "    for (int r = 0; r < reps; r++) x = x * 0.999f + 1.0f;\n"
    "    b[i] = x;\n"
    "}\n";

int main(int argc, char **argv) {
    const int iters = argc > 1 ? atoi(argv[1]) : 40;
    const char *want = argc > 2 ? argv[2] : "rusticl";
    const int reps = 20000, n = 2355; /* vit_mnist_tiny's staging: 3 images and 3 labels */
    cl_platform_id ps[8];
    cl_uint np = 0;
    CHECK(clGetPlatformIDs(8, ps, &np));
    cl_device_id dev = NULL;
    for (cl_uint i = 0; i < np && !dev; i++) {
        char name[256] = "";
        clGetPlatformInfo(ps[i], CL_PLATFORM_NAME, sizeof name, name, NULL);
        if (strstr(name, want)) CHECK(clGetDeviceIDs(ps[i], CL_DEVICE_TYPE_ALL, 1, &dev, NULL));
    }
    if (!dev) {
        fprintf(stderr, "no platform whose name contains \"%s\"\n", want);
        return 2;
    }
    cl_int e;
    cl_context c = clCreateContext(NULL, 1, &dev, NULL, NULL, &e);
    CHECK(e);
    cl_command_queue q = clCreateCommandQueueWithProperties(c, dev, NULL, &e);
    CHECK(e);
    cl_program p = clCreateProgramWithSource(c, 1, &src, NULL, &e);
    CHECK(e);
    CHECK(clBuildProgram(p, 1, &dev, "", NULL, NULL));
    cl_kernel k = clCreateKernel(p, "slow", &e);
    CHECK(e);
    const size_t bytes = (size_t)n * sizeof(float), global = ((size_t)n + 63) / 64 * 64;
    cl_mem out = clCreateBuffer(c, CL_MEM_READ_WRITE, bytes, NULL, &e);
    CHECK(e);
    float *host = malloc(bytes);
    if (!host) return 2;
    int map_open = 0, read_open = 0, refused = 0;
    for (int it = 0; it < iters; it++) {
        cl_mem s = clCreateBuffer(c, CL_MEM_READ_ONLY | CL_MEM_ALLOC_HOST_PTR, bytes, NULL, &e);
        CHECK(e);
        float *m = clEnqueueMapBuffer(q, s, CL_TRUE, CL_MAP_WRITE, 0, bytes, 0, NULL, NULL, &e);
        CHECK(e);
        for (int i = 0; i < n; i++)
            m[i] = (float)i;
        CHECK(clEnqueueUnmapMemObject(q, s, m, 0, NULL, NULL));
        CHECK(clSetKernelArg(k, 0, sizeof s, &s));
        CHECK(clSetKernelArg(k, 1, sizeof out, &out));
        CHECK(clSetKernelArg(k, 2, sizeof n, &n));
        CHECK(clSetKernelArg(k, 3, sizeof reps, &reps));
        CHECK(clEnqueueNDRangeKernel(q, k, 1, NULL, &global, NULL, 0, NULL, NULL));
        cl_event me, re;
        m = clEnqueueMapBuffer(q, s, CL_FALSE, CL_MAP_WRITE, 0, bytes, 0, NULL, &me, &e);
        CHECK(e);
        CHECK(clEnqueueReadBuffer(q, out, CL_FALSE, 0, bytes, host, 0, NULL, &re));
        CHECK(clFinish(q));
        cl_int ms, rs;
        CHECK(clGetEventInfo(me, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof ms, &ms, NULL));
        CHECK(clGetEventInfo(re, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof rs, &rs, NULL));
        map_open += ms != CL_COMPLETE;
        read_open += rs != CL_COMPLETE;
        if (clEnqueueUnmapMemObject(q, s, m, 0, NULL, NULL) != CL_SUCCESS) {
            refused++;
            CHECK(clWaitForEvents(1, &me)); /* what clvit does now; then the unmap is taken */
            CHECK(clEnqueueUnmapMemObject(q, s, m, 0, NULL, NULL));
        }
        CHECK(clWaitForEvents(1, &re));
        clReleaseEvent(me);
        clReleaseEvent(re);
        CHECK(clFinish(q));
        clReleaseMemObject(s);
    }
    printf("%d iterations: after clFinish, the map was not complete %d times, the read %d; "
           "the unmap was refused %d times\n",
           iters, map_open, read_open, refused);
    free(host);
    clReleaseMemObject(out);
    clReleaseKernel(k);
    clReleaseProgram(p);
    clReleaseCommandQueue(q);
    clReleaseContext(c);
    return map_open || read_open || refused;
}
