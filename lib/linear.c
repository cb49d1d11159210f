/*
 * linear.c - Linear layers: y = x W^T through CLBlast, then one fused epilogue kernel
 * from cl/linear.cl (bias, bias + residual, bias + GELU, bias + tanh).
 */
#include "layers.h"

clvit_status clvit_linear_forward(clvit_ctx *ctx, const char *label, clvit_epilogue epi, cl_mem y,
                                  size_t y_off, cl_mem pre, size_t pre_off, cl_mem x, size_t x_off,
                                  cl_mem p, size_t w_off, size_t b_off, cl_mem res,
                                  size_t res_off, int rows, int in, int out) {
    if (rows < 0 || in <= 0 || out <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "linear %s: rows=%d in=%d out=%d", label, rows, in, out);
    const int act = epi == CLVIT_EPI_GELU || epi == CLVIT_EPI_TANH;
    /* the GEMM writes where the epilogue reads: pre for activations, else y itself */
    cl_mem g = act ? pre : y;
    size_t g_off = act ? pre_off : y_off;
    CLVIT_CHECK(clvit_gemm(ctx, label, 0, 1, (size_t)rows, (size_t)out, (size_t)in, 1.0f, x, x_off,
                           (size_t)in, p, w_off, (size_t)in, 0.0f, g, g_off, (size_t)out));
    if (epi == CLVIT_EPI_NONE) return CLVIT_SUCCESS;
    cl_kernel k;
    cl_uint yo = (cl_uint)y_off, po = (cl_uint)pre_off, bo = (cl_uint)b_off,
            ro = (cl_uint)res_off;
    const size_t n = (size_t)rows * (size_t)out;
    switch (epi) {
    case CLVIT_EPI_BIAS:
        CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", "bias_add", NULL, &k));
        CLVIT_CHECK(clvit_args(k, 6, CLVIT_A(y), CLVIT_A(yo), CLVIT_A(p), CLVIT_A(bo),
                               CLVIT_A(rows), CLVIT_A(out)));
        return clvit_launch(ctx, k, "bias_add", n, 64);
    case CLVIT_EPI_RESIDUAL:
        CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", "bias_residual", NULL, &k));
        CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(y), CLVIT_A(yo), CLVIT_A(res), CLVIT_A(ro),
                               CLVIT_A(p), CLVIT_A(bo), CLVIT_A(rows), CLVIT_A(out)));
        return clvit_launch(ctx, k, "bias_residual", n, 64);
    case CLVIT_EPI_GELU:
    case CLVIT_EPI_TANH: {
        const char *name = epi == CLVIT_EPI_GELU ? "bias_gelu" : "bias_tanh";
        CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", name, NULL, &k));
        CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(y), CLVIT_A(yo), CLVIT_A(pre), CLVIT_A(po),
                               CLVIT_A(p), CLVIT_A(bo), CLVIT_A(rows), CLVIT_A(out)));
        return clvit_launch(ctx, k, name, n, 64);
    }
    default: return clvit_fail(CLVIT_ERR_INVALID_ARG, "linear %s: bad epilogue %d", label, epi);
    }
}
