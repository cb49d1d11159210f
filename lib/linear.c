/*
 * linear.c - Linear layers: y = x W^T with its epilogue (bias, bias + residual, bias + GELU,
 * bias + tanh) fused into one GEMM launch (lib/gemm.c). Backward: the activation derivative
 * kernel (cl/linear.cl), then dW = dy^T x with db = colsum(dy) in the same GEMM launch, and
 * dx = dy W, each with BLAS beta.
 */
#include "layers.h"

#include <stdint.h>

clvit_status clvit_linear_forward(clvit_ctx *ctx, const char *label, clvit_epilogue epi, cl_mem y,
                                  size_t y_off, cl_mem pre, size_t pre_off, cl_mem x, size_t x_off,
                                  cl_mem p, size_t w_off, size_t b_off, cl_mem res, size_t res_off,
                                  int rows, int in, int out) {
    if (rows < 0 || in <= 0 || out <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "linear %s: rows=%d in=%d out=%d", label, rows, in, out);
    const int act = epi == CLVIT_EPI_GELU || epi == CLVIT_EPI_TANH;
    /* one launch: the product and its epilogue (aux: the residual read, or the
     * pre-activation written for the backward pass) */
    const clvit_gemm_op op = {.ta = 0,
                              .tb = 1,
                              .m = (size_t)rows,
                              .n = (size_t)out,
                              .k = (size_t)in,
                              .alpha = 1.0f,
                              .beta = 0.0f,
                              .a = CLVIT_T(x, x_off),
                              .b = CLVIT_T(p, w_off),
                              .c = CLVIT_T(y, y_off),
                              .lda = (size_t)in,
                              .ldb = (size_t)in,
                              .ldc = (size_t)out,
                              .batch = 1,
                              .epi = epi,
                              .bias = CLVIT_T(epi == CLVIT_EPI_NONE ? NULL : p, b_off),
                              .aux = act ? CLVIT_T(pre, pre_off) : CLVIT_T(res, res_off),
                              .ldaux = (size_t)out};
    if (epi == CLVIT_EPI_RESIDUAL && !res)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "linear %s: residual epilogue without res", label);
    if (act && !pre)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "linear %s: activation without pre", label);
    return clvit_gemm_run(ctx, label, &op);
}

clvit_status clvit_linear_backward(clvit_ctx *ctx, const char *label, clvit_epilogue epi, cl_mem dx,
                                   size_t dx_off, float beta_dx, cl_mem g, size_t dw_off,
                                   size_t db_off, float beta_w, cl_mem dres, size_t dres_off,
                                   cl_mem dpre, size_t dpre_off, cl_mem dy, size_t dy_off, cl_mem y,
                                   size_t y_off, cl_mem pre, size_t pre_off, cl_mem x, size_t x_off,
                                   cl_mem p, size_t w_off, int rows, int in, int out) {
    if (rows < 0 || in <= 0 || out <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "linear %s backward: rows=%d in=%d out=%d", label, rows,
                          in, out);
    if (epi < CLVIT_EPI_NONE || epi > CLVIT_EPI_TANH)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "linear %s backward: bad epilogue %d", label, epi);
    const int act = epi == CLVIT_EPI_GELU || epi == CLVIT_EPI_TANH;
    if (act && (!dpre || (epi == CLVIT_EPI_GELU ? !pre : !y)))
        return clvit_fail(
            CLVIT_ERR_INVALID_ARG, "linear %s backward: %s needs dpre scratch and the saved %s",
            label, epi == CLVIT_EPI_GELU ? "GELU" : "tanh", epi == CLVIT_EPI_GELU ? "pre" : "y");
    const size_t n = (size_t)rows * (size_t)out;
    cl_kernel k;
    if (act) {
        const char *name = epi == CLVIT_EPI_GELU ? "gelu_backward" : "tanh_backward";
        cl_mem saved = epi == CLVIT_EPI_GELU ? pre : y;
        cl_ulong so = epi == CLVIT_EPI_GELU ? pre_off : y_off, dpo = dpre_off, dyo = dy_off;
        CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", name, NULL, &k));
        CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(dpre), CLVIT_A(dpo), CLVIT_A(dy), CLVIT_A(dyo),
                               CLVIT_A(saved), CLVIT_A(so), CLVIT_A(rows), CLVIT_A(out)));
        CLVIT_CHECK(clvit_launch(ctx, k, name, n, 64));
        /* from here on the layer is a biased Linear with output gradient dpre */
        dy = dpre;
        dy_off = dpre_off;
    }
    /* dW (out, in) = beta_w * dW + dy^T (out, rows) x (rows, in), and in the same launch
     * db = beta_w * db + colsum(dy): the row sums of op(A) = dy^T (the forward of EPI_NONE has
     * no bias, whatever b_off the caller passes). With no rows the sums are empty and a column
     * sum over zero rows applies beta_w alone. */
    const int want_db = epi != CLVIT_EPI_NONE && db_off != SIZE_MAX;
    if (rows == 0) {
        CLVIT_CHECK(clvit_colsum(ctx, g, dw_off, beta_w, dy, dy_off, 0, out * in));
        if (want_db) CLVIT_CHECK(clvit_colsum(ctx, g, db_off, beta_w, dy, dy_off, 0, out));
    } else {
        const clvit_gemm_op dw = {.ta = 1,
                                  .tb = 0,
                                  .m = (size_t)out,
                                  .n = (size_t)in,
                                  .k = (size_t)rows,
                                  .alpha = 1.0f,
                                  .beta = beta_w,
                                  .a = CLVIT_T(dy, dy_off),
                                  .b = CLVIT_T(x, x_off),
                                  .c = CLVIT_T(g, dw_off),
                                  .lda = (size_t)out,
                                  .ldb = (size_t)in,
                                  .ldc = (size_t)in,
                                  .batch = 1,
                                  .rowsum = CLVIT_T(want_db ? g : NULL, db_off)};
        CLVIT_CHECK(clvit_gemm_run(ctx, label, &dw));
    }
    /* dx (rows, in) = beta_dx * dx + dy (rows, out) W (out, in) */
    if (dx)
        CLVIT_CHECK(clvit_gemm(ctx, label, 0, 0, (size_t)rows, (size_t)in, (size_t)out, 1.0f, dy,
                               dy_off, (size_t)out, p, w_off, (size_t)in, beta_dx, dx, dx_off,
                               (size_t)in));
    if (epi == CLVIT_EPI_RESIDUAL && dres) {
        cl_ulong ro = dres_off, dyo = dy_off;
        CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", "add_inplace", NULL, &k));
        CLVIT_CHECK(clvit_args(k, 6, CLVIT_A(dres), CLVIT_A(ro), CLVIT_A(dy), CLVIT_A(dyo),
                               CLVIT_A(rows), CLVIT_A(out)));
        CLVIT_CHECK(clvit_launch(ctx, k, "residual_backward", n, 64));
    }
    return CLVIT_SUCCESS;
}
