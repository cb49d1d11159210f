/*
 * linear.c - Linear layers: y = x W^T through CLBlast, then one fused epilogue kernel
 * from cl/linear.cl (bias, bias + residual, bias + GELU, bias + tanh). Backward: the
 * activation derivative kernel, then dW = dy^T x and dx = dy W as CLBlast GEMMs with beta,
 * db as a column sum (lib/reduce.c).
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
    /* the GEMM writes where the epilogue reads: pre for activations, else y itself */
    cl_mem g = act ? pre : y;
    size_t g_off = act ? pre_off : y_off;
    CLVIT_CHECK(clvit_gemm(ctx, label, 0, 1, (size_t)rows, (size_t)out, (size_t)in, 1.0f, x, x_off,
                           (size_t)in, p, w_off, (size_t)in, 0.0f, g, g_off, (size_t)out));
    if (epi == CLVIT_EPI_NONE) return CLVIT_SUCCESS;
    cl_kernel k;
    cl_uint yo = (cl_uint)y_off, po = (cl_uint)pre_off, bo = (cl_uint)b_off, ro = (cl_uint)res_off;
    const size_t n = (size_t)rows * (size_t)out;
    switch (epi) {
    case CLVIT_EPI_BIAS:
        CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", "bias_add", NULL, &k));
        CLVIT_CHECK(clvit_args(k, 6, CLVIT_A(y), CLVIT_A(yo), CLVIT_A(p), CLVIT_A(bo),
                               CLVIT_A(rows), CLVIT_A(out)));
        return clvit_launch(ctx, k, "bias_add", n, 64);
    case CLVIT_EPI_RESIDUAL:
        CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", "bias_residual", NULL, &k));
        CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(y), CLVIT_A(yo), CLVIT_A(res), CLVIT_A(ro), CLVIT_A(p),
                               CLVIT_A(bo), CLVIT_A(rows), CLVIT_A(out)));
        return clvit_launch(ctx, k, "bias_residual", n, 64);
    case CLVIT_EPI_GELU:
    case CLVIT_EPI_TANH: {
        const char *name = epi == CLVIT_EPI_GELU ? "bias_gelu" : "bias_tanh";
        CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", name, NULL, &k));
        CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(y), CLVIT_A(yo), CLVIT_A(pre), CLVIT_A(po), CLVIT_A(p),
                               CLVIT_A(bo), CLVIT_A(rows), CLVIT_A(out)));
        return clvit_launch(ctx, k, name, n, 64);
    }
    default:
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "linear %s: bad epilogue %d", label, epi);
    }
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
        cl_uint so = (cl_uint)(epi == CLVIT_EPI_GELU ? pre_off : y_off), dpo = (cl_uint)dpre_off,
                dyo = (cl_uint)dy_off;
        CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", name, NULL, &k));
        CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(dpre), CLVIT_A(dpo), CLVIT_A(dy), CLVIT_A(dyo),
                               CLVIT_A(saved), CLVIT_A(so), CLVIT_A(rows), CLVIT_A(out)));
        CLVIT_CHECK(clvit_launch(ctx, k, name, n, 64));
        /* from here on the layer is a biased Linear with output gradient dpre */
        dy = dpre;
        dy_off = dpre_off;
    }
    /* dW (out, in) = beta_w * dW + dy^T (out, rows) x (rows, in). CLBlast rejects k = 0; with
     * no rows the sum is empty and a column sum over zero rows applies beta_w alone. */
    if (rows == 0)
        CLVIT_CHECK(clvit_colsum(ctx, g, dw_off, beta_w, dy, dy_off, 0, out * in));
    else
        CLVIT_CHECK(clvit_gemm(ctx, label, 1, 0, (size_t)out, (size_t)in, (size_t)rows, 1.0f, dy,
                               dy_off, (size_t)out, x, x_off, (size_t)in, beta_w, g, dw_off,
                               (size_t)in));
    /* the forward of EPI_NONE has no bias, whatever b_off the caller passes */
    if (epi != CLVIT_EPI_NONE && db_off != SIZE_MAX)
        CLVIT_CHECK(clvit_colsum(ctx, g, db_off, beta_w, dy, dy_off, rows, out));
    /* dx (rows, in) = beta_dx * dx + dy (rows, out) W (out, in) */
    if (dx)
        CLVIT_CHECK(clvit_gemm(ctx, label, 0, 0, (size_t)rows, (size_t)in, (size_t)out, 1.0f, dy,
                               dy_off, (size_t)out, p, w_off, (size_t)in, beta_dx, dx, dx_off,
                               (size_t)in));
    if (epi == CLVIT_EPI_RESIDUAL && dres) {
        cl_uint ro = (cl_uint)dres_off, dyo = (cl_uint)dy_off;
        CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", "add_inplace", NULL, &k));
        CLVIT_CHECK(clvit_args(k, 6, CLVIT_A(dres), CLVIT_A(ro), CLVIT_A(dy), CLVIT_A(dyo),
                               CLVIT_A(rows), CLVIT_A(out)));
        CLVIT_CHECK(clvit_launch(ctx, k, "residual_backward", n, 64));
    }
    return CLVIT_SUCCESS;
}
