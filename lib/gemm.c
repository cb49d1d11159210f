/*
 * gemm.c - matrix products through CLBlast. Row-major; offsets and leading dimensions
 * in floats. Every GEMM of the model goes through these two functions, so profiling
 * (label, FLOPs) and error reporting are in one place.
 */
#include "device.h"

#include <clblast_c.h>

static clvit_status clblast_status(CLBlastStatusCode s, const char *label) {
    if (s == CLBlastSuccess) return CLVIT_SUCCESS;
    return clvit_fail(CLVIT_ERR_CLBLAST, "CLBlast GEMM '%s' failed with status %d", label, (int)s);
}

clvit_status clvit_gemm(clvit_ctx *ctx, const char *label, int trans_a, int trans_b, size_t m,
                        size_t n, size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                        cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                        size_t ldc) {
    if (m == 0 || n == 0) return CLVIT_SUCCESS;
    const CLBlastTranspose ta = trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                           tb = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    /* CLBlast's indirect GEMM pads and transposes into a scratch buffer that it would
     * otherwise allocate and free on every call; one buffer per context, grown as needed. */
    size_t need = 0;
    CLBlastStatusCode s =
        CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, ta, tb, m, n, k, a_off, lda, b_off, ldb,
                                   c_off, ldc, &ctx->queue, &need);
    if (s != CLBlastSuccess) return clblast_status(s, label);
    if (need > ctx->gemm_temp_bytes) {
        if (ctx->gemm_temp) clReleaseMemObject(ctx->gemm_temp);
        ctx->gemm_temp = NULL;
        ctx->gemm_temp_bytes = 0;
        cl_int e;
        ctx->gemm_temp = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, need, NULL, &e);
        if (e != CL_SUCCESS)
            return clvit_fail(e, "GEMM scratch buffer of %zu bytes: %s", need,
                              clvit_status_string(e));
        ctx->gemm_temp_bytes = need;
    }
    cl_event *ev = clvit_prof_slot(ctx, label, 1, 2.0 * (double)m * (double)n * (double)k);
    if (need == 0)
        s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off,
                         ldb, beta, c, c_off, ldc, &ctx->queue, ev);
    else
        s = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, a, a_off, lda,
                                       b, b_off, ldb, beta, c, c_off, ldc, &ctx->queue, ev,
                                       ctx->gemm_temp);
    return clblast_status(s, label);
}

clvit_status clvit_gemm_batched(clvit_ctx *ctx, const char *label, int trans_a, int trans_b,
                                size_t m, size_t n, size_t k, float alpha, cl_mem a, size_t a_off,
                                size_t lda, size_t a_stride, cl_mem b, size_t b_off, size_t ldb,
                                size_t b_stride, float beta, cl_mem c, size_t c_off, size_t ldc,
                                size_t c_stride, size_t batch) {
    if (m == 0 || n == 0 || batch == 0) return CLVIT_SUCCESS;
    cl_event *ev =
        clvit_prof_slot(ctx, label, 1, 2.0 * (double)m * (double)n * (double)k * (double)batch);
    CLBlastStatusCode s = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off, lda, a_stride,
        b, b_off, ldb, b_stride, beta, c, c_off, ldc, c_stride, batch, &ctx->queue, ev);
    return clblast_status(s, label);
}
