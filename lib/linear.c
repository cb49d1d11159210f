/*
 * linear.c - Linear layers: y = x W^T with its epilogue (bias, bias + residual, bias + GELU,
 * bias + tanh) fused into one GEMM launch (lib/gemm.c). Backward: the activation derivative
 * kernel (cl/linear.cl), then dW = dy^T x with db = colsum(dy) in the same GEMM launch, and
 * dx = dy W, each with BLAS beta; when the layer's input came out of a GELU, its derivative
 * is the dx GEMM's epilogue.
 */
#include "layers.h"

#include <stdint.h>

clvit_status clvit_linear_forward(clvit_ctx *ctx, const char *label, clvit_epilogue epi,
                                  clvit_tensor y, clvit_tensor aux, clvit_tensor x, clvit_tensor w,
                                  clvit_tensor b, int rows, int in, int out) {
    if (rows < 0 || in <= 0 || out <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "linear %s: rows=%d in=%d out=%d", label, rows, in, out);
    if (epi < CLVIT_EPI_NONE || epi > CLVIT_EPI_TANH)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "linear %s: bad epilogue %d", label, epi);
    if (epi >= CLVIT_EPI_RESIDUAL && !aux.buf)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "linear %s: epilogue %d without its aux tensor",
                          label, epi);
    const clvit_gemm_op op = {.ta = 0,
                              .tb = 1,
                              .m = (size_t)rows,
                              .n = (size_t)out,
                              .k = (size_t)in,
                              .alpha = 1.0f,
                              .beta = 0.0f,
                              .a = x,
                              .b = w,
                              .c = y,
                              .lda = (size_t)in,
                              .ldb = (size_t)in,
                              .ldc = (size_t)out,
                              .batch = 1,
                              .epi = epi,
                              .bias = epi == CLVIT_EPI_NONE ? CLVIT_T(NULL, 0) : b,
                              .aux = aux,
                              .ldaux = (size_t)out};
    return clvit_gemm_run(ctx, label, &op);
}

clvit_status clvit_linear_backward(clvit_ctx *ctx, const char *label, clvit_epilogue epi,
                                   const clvit_linear_grads *g, clvit_tensor dy, clvit_tensor saved,
                                   clvit_tensor x, clvit_tensor w, int rows, int in, int out) {
    if (rows < 0 || in <= 0 || out <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "linear %s backward: rows=%d in=%d out=%d", label, rows,
                          in, out);
    if (epi < CLVIT_EPI_NONE || epi > CLVIT_EPI_TANH)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "linear %s backward: bad epilogue %d", label, epi);
    const int act = epi == CLVIT_EPI_GELU || epi == CLVIT_EPI_TANH;
    if (act && (!g->dpre.buf || !saved.buf))
        return clvit_fail(
            CLVIT_ERR_INVALID_ARG, "linear %s backward: %s needs dpre scratch and the saved %s",
            label, epi == CLVIT_EPI_GELU ? "GELU" : "tanh", epi == CLVIT_EPI_GELU ? "pre" : "y");
    if (g->dx_gelu.buf && (!g->dx.buf || g->beta_dx != 0.0f))
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "linear %s backward: the GELU input gradient needs dx and beta 0", label);
    const size_t n = (size_t)rows * (size_t)out;
    cl_kernel k;
    if (act) {
        const char *name = epi == CLVIT_EPI_GELU ? "gelu_backward" : "tanh_backward";
        cl_ulong so = saved.off, dpo = g->dpre.off, dyo = dy.off;
        CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", name, NULL, &k));
        CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(g->dpre.buf), CLVIT_A(dpo), CLVIT_A(dy.buf),
                               CLVIT_A(dyo), CLVIT_A(saved.buf), CLVIT_A(so), CLVIT_A(rows),
                               CLVIT_A(out)));
        CLVIT_CHECK(clvit_launch(ctx, k, name, n, 0));
        dy = g->dpre; /* from here on a biased Linear with output gradient dpre */
    }
    /* dW (out, in) = beta_w * dW + dy^T (out, rows) x (rows, in), and in the same launch
     * db = beta_w * db + colsum(dy): the row sums of op(A) = dy^T (the forward of EPI_NONE has
     * no bias). With no rows the sums are empty: a column sum over zero rows applies beta_w. */
    const int want_db = epi != CLVIT_EPI_NONE && g->db.buf;
    if (g->dw.buf && rows == 0) {
        CLVIT_CHECK(clvit_colsum(ctx, g->dw, g->beta_w, dy, 0, out * in));
        if (want_db) CLVIT_CHECK(clvit_colsum(ctx, g->db, g->beta_w, dy, 0, out));
    } else if (g->dw.buf) {
        const clvit_gemm_op dw = {.ta = 1,
                                  .tb = 0,
                                  .m = (size_t)out,
                                  .n = (size_t)in,
                                  .k = (size_t)rows,
                                  .alpha = 1.0f,
                                  .beta = g->beta_w,
                                  .a = dy,
                                  .b = x,
                                  .c = g->dw,
                                  .lda = (size_t)out,
                                  .ldb = (size_t)in,
                                  .ldc = (size_t)in,
                                  .batch = 1,
                                  .rowsum = want_db ? g->db : CLVIT_T(NULL, 0)};
        CLVIT_CHECK(clvit_gemm_run(ctx, label, &dw));
    }
    /* dx (rows, in) = beta_dx * dx + dy (rows, out) W (out, in), or through the GELU */
    if (g->dx.buf) {
        const clvit_gemm_op dx = {.ta = 0,
                                  .tb = 0,
                                  .m = (size_t)rows,
                                  .n = (size_t)in,
                                  .k = (size_t)out,
                                  .alpha = 1.0f,
                                  .beta = g->beta_dx,
                                  .a = dy,
                                  .b = w,
                                  .c = g->dx,
                                  .lda = (size_t)out,
                                  .ldb = (size_t)in,
                                  .ldc = (size_t)in,
                                  .batch = 1,
                                  .epi = g->dx_gelu.buf ? CLVIT_EPI_DGELU : CLVIT_EPI_NONE,
                                  .aux = g->dx_gelu,
                                  .ldaux = (size_t)in};
        CLVIT_CHECK(clvit_gemm_run(ctx, label, &dx));
    }
    if (epi == CLVIT_EPI_RESIDUAL && g->dres.buf) {
        cl_ulong ro = g->dres.off, dyo = dy.off;
        CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", "add_inplace", NULL, &k));
        CLVIT_CHECK(clvit_args(k, 6, CLVIT_A(g->dres.buf), CLVIT_A(ro), CLVIT_A(dy.buf),
                               CLVIT_A(dyo), CLVIT_A(rows), CLVIT_A(out)));
        CLVIT_CHECK(clvit_launch(ctx, k, "residual_backward", n, 0));
    }
    return CLVIT_SUCCESS;
}
