/*
 * runtime_api.c - the public face of a context for programs that run OpenCL work of their own
 * beside clvit's (clvit-bench does): its OpenCL objects, float buffers, SGEMM through the
 * device's GEMM plan, program-build statistics and the profiling records of launches. Thin
 * wrappers over the internal runtime (runtime.c, gemm.c), so that nothing outside lib/ needs
 * struct clvit_ctx or lib/ headers.
 */
#include "device.h"

#include <math.h>

cl_context clvit_ctx_cl_context(const clvit_ctx *ctx) {
    return ctx ? ctx->context : NULL;
}

cl_device_id clvit_ctx_cl_device(const clvit_ctx *ctx) {
    return ctx ? ctx->device : NULL;
}

cl_command_queue clvit_ctx_cl_queue(const clvit_ctx *ctx) {
    return ctx ? ctx->queue : NULL;
}

clvit_status clvit_buffer_create(clvit_ctx *ctx, size_t floats, cl_mem *buf) {
    if (!ctx || !buf)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_buffer_create: NULL argument");
    return clvit_buffer(ctx, floats, buf);
}

clvit_status clvit_buffer_write(clvit_ctx *ctx, cl_mem buf, size_t off, const float *src,
                                size_t n) {
    if (!ctx || !buf || (n && !src))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_buffer_write: NULL argument");
    return clvit_write(ctx, buf, off, src, n);
}

clvit_status clvit_buffer_read(clvit_ctx *ctx, cl_mem buf, size_t off, float *dst, size_t n) {
    if (!ctx || !buf || (n && !dst))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_buffer_read: NULL argument");
    return clvit_read(ctx, buf, off, dst, n);
}

clvit_status clvit_buffer_fill(clvit_ctx *ctx, cl_mem buf, size_t off, float value, size_t n) {
    if (!ctx || !buf) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_buffer_fill: NULL argument");
    return clvit_fill(ctx, buf, off, value, n);
}

clvit_status clvit_sgemm(clvit_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                         float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                         size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc) {
    if (!ctx || !a || !b || !c)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_sgemm: NULL argument");
    return clvit_gemm(ctx, "sgemm", trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb,
                      beta, c, c_off, ldc);
}

clvit_status clvit_sgemm_batched(clvit_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n,
                                 size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                                 size_t a_stride, cl_mem b, size_t b_off, size_t ldb,
                                 size_t b_stride, float beta, cl_mem c, size_t c_off, size_t ldc,
                                 size_t c_stride, size_t batch) {
    if (!ctx || !a || !b || !c)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_sgemm_batched: NULL argument");
    return clvit_gemm_batched(ctx, "sgemm_batched", trans_a, trans_b, m, n, k, alpha, a, a_off, lda,
                              a_stride, b, b_off, ldb, b_stride, beta, c, c_off, ldc, c_stride,
                              batch);
}

void clvit_ctx_build_stats(const clvit_ctx *ctx, clvit_build_stats *stats) {
    if (!stats) return;
    stats->seconds = ctx ? ctx->build_seconds : 0.0;
    stats->compiled = ctx ? ctx->builds_compiled : 0;
    stats->from_disk = ctx ? ctx->builds_from_disk : 0;
}

void clvit_profile_enable(clvit_ctx *ctx, int on) {
    if (ctx) ctx->profiling = on != 0;
}

void clvit_profile_reset(clvit_ctx *ctx) {
    if (ctx) clvit_prof_reset(ctx);
}

int clvit_profile_count(const clvit_ctx *ctx) {
    return ctx ? ctx->num_prof : 0;
}

static double event_ns(cl_event ev, cl_profiling_info what) {
    cl_ulong t = 0;
    if (!ev || clGetEventProfilingInfo(ev, what, sizeof t, &t, NULL) != CL_SUCCESS) return NAN;
    return (double)t;
}

clvit_status clvit_profile_get(const clvit_ctx *ctx, int i, clvit_profile_record *rec) {
    if (!ctx || !rec) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_profile_get: NULL argument");
    if (i < 0 || i >= ctx->num_prof)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_profile_get: record %d of %d", i,
                          ctx->num_prof);
    const clvit_prof_event *ev = &ctx->prof[i];
    rec->label = ev->label;
    rec->is_gemm = ev->is_gemm;
    rec->flops = ev->flops;
    rec->start_ns = event_ns(ev->event, CL_PROFILING_COMMAND_START);
    rec->end_ns = event_ns(ev->event, CL_PROFILING_COMMAND_END);
    return CLVIT_SUCCESS;
}
