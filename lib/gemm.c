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
    cl_event *ev = clvit_prof_slot(ctx, label, 1, 2.0 * (double)m * (double)n * (double)k);
    CLBlastStatusCode s =
        CLBlastSgemm(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                     trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off,
                     lda, b, b_off, ldb, beta, c, c_off, ldc, &ctx->queue, ev);
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
