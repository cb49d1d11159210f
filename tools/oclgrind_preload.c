/*
 * oclgrind_preload.c - makes host-side buffer initialisation visible to Oclgrind 21.10's
 * --uninitialized check, for scripts/oclgrind.sh only. Not part of clvit.
 *
 * Oclgrind's uninitialised-value plugin keeps a shadow ("which bytes are defined") per buffer,
 * but (docs/oclgrind.md):
 *   - a host write replaces the buffer's whole shadow with one as long as the write, marked
 *     defined only when the write starts at offset 0; a partial or offset write therefore
 *     leaves the rest of the buffer "uninitialised" (or undefined garbage);
 *   - a fill is a series of such writes, one per pattern, and a copy is one such write;
 *   - a released buffer's shadow is never freed, and a new buffer that reuses its slot keeps
 *     it, with the old size: what kernels later write beyond it is not recorded, and every
 *     read there is reported.
 * Each of these makes correct programs report uninitialised reads. Loaded before Oclgrind's
 * runtime (LD_PRELOAD=this.so:liboclgrind-rt.so), this library
 *   - creates every buffer without host data from a host copy full of NaN (CL_MEM_COPY_HOST_PTR:
 *     one write of the whole buffer, a fresh full-size shadow). Reads of memory no kernel or
 *     upload wrote then give NaN, which the tests' checks catch, instead of a report;
 *   - turns a partial write, a fill and a copy into a blocking read-modify-write of the
 *     whole (destination) buffer from offset 0.
 * New buffers hold NaN instead of Oclgrind's zeros; otherwise every call leaves the same data,
 * only more slowly.
 *
 * Build: cc -shared -fPIC -O1 -o build/liboclgrind_preload.so tools/oclgrind_preload.c -ldl
 */
#define _GNU_SOURCE
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef cl_mem (*create_buffer_fn)(cl_context, cl_mem_flags, size_t, void *, cl_int *);
typedef cl_int (*write_buffer_fn)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, const void *,
                                  cl_uint, const cl_event *, cl_event *);
typedef cl_int (*fill_buffer_fn)(cl_command_queue, cl_mem, const void *, size_t, size_t, size_t,
                                 cl_uint, const cl_event *, cl_event *);
typedef cl_int (*copy_buffer_fn)(cl_command_queue, cl_mem, cl_mem, size_t, size_t, size_t, cl_uint,
                                 const cl_event *, cl_event *);
typedef cl_int (*read_buffer_fn)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, void *, cl_uint,
                                 const cl_event *, cl_event *);

static void *next(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) abort(); /* no OpenCL runtime after this library */
    return f;
}

CL_API_ENTRY cl_mem CL_API_CALL clCreateBuffer(cl_context context, cl_mem_flags flags, size_t size,
                                               void *host_ptr, cl_int *errcode_ret) {
    static create_buffer_fn real;
    if (!real) real = (create_buffer_fn)next("clCreateBuffer");
    if (host_ptr || (flags & (CL_MEM_USE_HOST_PTR | CL_MEM_COPY_HOST_PTR)) || size == 0)
        return real(context, flags, size, host_ptr, errcode_ret);
    void *nan = malloc(size);
    if (!nan) return real(context, flags, size, host_ptr, errcode_ret);
    memset(nan, 0xff, size); /* every float a NaN */
    cl_mem m = real(context, flags | CL_MEM_COPY_HOST_PTR, size, nan, errcode_ret);
    free(nan);
    return m;
}

static size_t mem_size(cl_mem buffer) {
    size_t size = 0;
    if (clGetMemObjectInfo(buffer, CL_MEM_SIZE, sizeof size, &size, NULL) != CL_SUCCESS) return 0;
    return size;
}

/* The whole buffer in host memory (NULL on failure), after the wait list. */
static unsigned char *read_all(cl_command_queue q, cl_mem buffer, size_t size, cl_uint nwait,
                               const cl_event *wait) {
    static read_buffer_fn read;
    if (!read) read = (read_buffer_fn)next("clEnqueueReadBuffer");
    unsigned char *all = malloc(size);
    if (all && read(q, buffer, CL_TRUE, 0, size, all, nwait, wait, NULL) != CL_SUCCESS) {
        free(all);
        all = NULL;
    }
    return all;
}

static cl_int write_all(cl_command_queue q, cl_mem buffer, size_t size, const void *all,
                        cl_event *event) {
    static write_buffer_fn write;
    if (!write) write = (write_buffer_fn)next("clEnqueueWriteBuffer");
    return write(q, buffer, CL_TRUE, 0, size, all, 0, NULL, event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueWriteBuffer(cl_command_queue q, cl_mem buffer,
                                                     cl_bool blocking, size_t offset, size_t cb,
                                                     const void *ptr, cl_uint nwait,
                                                     const cl_event *wait, cl_event *event) {
    static write_buffer_fn real;
    if (!real) real = (write_buffer_fn)next("clEnqueueWriteBuffer");
    const size_t size = mem_size(buffer);
    if ((offset == 0 && cb == size) || !ptr || cb == 0 || offset + cb > size || offset + cb < cb)
        return real(q, buffer, blocking, offset, cb, ptr, nwait, wait, event);
    unsigned char *all = read_all(q, buffer, size, nwait, wait);
    if (!all) return real(q, buffer, blocking, offset, cb, ptr, nwait, wait, event);
    memcpy(all + offset, ptr, cb);
    cl_int e = write_all(q, buffer, size, all, event);
    free(all);
    return e;
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueFillBuffer(cl_command_queue q, cl_mem buffer,
                                                    const void *pattern, size_t pattern_size,
                                                    size_t offset, size_t cb, cl_uint nwait,
                                                    const cl_event *wait, cl_event *event) {
    static fill_buffer_fn real;
    if (!real) real = (fill_buffer_fn)next("clEnqueueFillBuffer");
    const size_t size = mem_size(buffer);
    if (!pattern || pattern_size == 0 || cb == 0 || cb % pattern_size || offset % pattern_size ||
        offset + cb > size || offset + cb < cb)
        return real(q, buffer, pattern, pattern_size, offset, cb, nwait, wait, event);
    unsigned char *all = read_all(q, buffer, size, nwait, wait);
    if (!all) return real(q, buffer, pattern, pattern_size, offset, cb, nwait, wait, event);
    for (size_t i = 0; i < cb; i += pattern_size)
        memcpy(all + offset + i, pattern, pattern_size);
    cl_int e = write_all(q, buffer, size, all, event);
    free(all);
    return e;
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueCopyBuffer(cl_command_queue q, cl_mem src, cl_mem dst,
                                                    size_t src_offset, size_t dst_offset, size_t cb,
                                                    cl_uint nwait, const cl_event *wait,
                                                    cl_event *event) {
    static copy_buffer_fn real;
    static read_buffer_fn read;
    if (!real) real = (copy_buffer_fn)next("clEnqueueCopyBuffer");
    if (!read) read = (read_buffer_fn)next("clEnqueueReadBuffer");
    const size_t size = mem_size(dst);
    if (cb == 0 || dst_offset + cb > size || dst_offset + cb < cb)
        return real(q, src, dst, src_offset, dst_offset, cb, nwait, wait, event);
    unsigned char *part = malloc(cb);
    if (!part || read(q, src, CL_TRUE, src_offset, cb, part, nwait, wait, NULL) != CL_SUCCESS) {
        free(part);
        return real(q, src, dst, src_offset, dst_offset, cb, nwait, wait, event);
    }
    unsigned char *all = read_all(q, dst, size, 0, NULL);
    if (!all) {
        free(part);
        return real(q, src, dst, src_offset, dst_offset, cb, 0, NULL, event);
    }
    memcpy(all + dst_offset, part, cb);
    cl_int e = write_all(q, dst, size, all, event);
    free(all);
    free(part);
    return e;
}
