/*
 * linear.c - Linear layers: y = x W^T with its epilogue (bias, bias + residual, bias + GELU,
 * bias + tanh) fused into one GEMM launch (lib/gemm.c). Backward: the activation derivative
 * kernel (cl/linear.cl), then dW = dy^T x with db = colsum(dy) in the same GEMM launch, and
 * dx = dy W, each with BLAS beta; when the layer's input came out of a GELU, its derivative
 * is the dx GEMM's epilogue.
 *
 * A residual Linear followed by a LayerNorm (proj then norm2, fc2 then the next norm1 or the
 * final norm) can run as one launch, gemm_ln (cl/gemm.cl), where its rows fit one work-item.
 * Whether that is faster than the GEMM plus the LayerNorm kernel is measured per shape, the
 * first time it runs on a context (clvit_linear_forward_ln).
 */
#include "gemm_plan.h"
#include "layers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* y (rows, out) = epi(x (rows, in) W^T + b), W (out, in): the forward Linear's product. */
static clvit_gemm_op linear_op(clvit_epilogue epi, clvit_tensor y, clvit_tensor aux, clvit_tensor x,
                               clvit_tensor w, clvit_tensor b, int rows, int in, int out) {
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
    return op;
}

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
    const clvit_gemm_op op = linear_op(epi, y, aux, x, w, b, rows, in, out);
    return clvit_gemm_run(ctx, label, &op);
}

/* ---------------------------------------------------------------- residual + LayerNorm */

/* Whether [a, a + an) and [b, b + bn) of the same buffer share a float. */
static int overlap(clvit_tensor a, size_t an, clvit_tensor b, size_t bn) {
    return a.buf && a.buf == b.buf && a.off < b.off + bn && b.off < a.off + an;
}

/* Both ways of computing op and its LayerNorm: fused in one launch, or the GEMM then
 * clvit_layernorm_forward. */
static clvit_status run_ln(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op,
                           const clvit_ln_out *ln, int fused) {
    if (fused) return clvit_gemm_ln(ctx, label, op, ln);
    CLVIT_CHECK(clvit_gemm_run(ctx, label, op));
    return clvit_layernorm_forward(ctx, ln->out, ln->mean, ln->rstd, op->c, ln->w, ln->b,
                                   (int)op->m, (int)op->n);
}

/* Seconds of the faster of 3 runs (after one that builds and warms up). */
static clvit_status time_ln(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op,
                            const clvit_ln_out *ln, int fused, double *best) {
    CLVIT_CHECK(run_ln(ctx, label, op, ln, fused));
    CLVIT_CHECK(clvit_ctx_finish(ctx));
    *best = 0.0;
    for (int r = 0; r < 3; r++) {
        const double t0 = clvit_now_seconds();
        CLVIT_CHECK(run_ln(ctx, label, op, ln, fused));
        CLVIT_CHECK(clvit_ctx_finish(ctx));
        const double t = clvit_now_seconds() - t0;
        if (r == 0 || t < *best) *best = t;
    }
    return CLVIT_SUCCESS;
}

/* Decides whether op's LayerNorm is fused: CLVIT_LN_FUSE=0 or 1 forces it (1 where gemm_ln
 * fits); else the GEMM plan's choice for the shape (lib/gemm_plan.c), kept on disk with the
 * GEMM kernels', so that a later run computes the same bits; with GEMM tuning off
 * (CLVIT_GEMM_TUNE=0) and none in the plan it is fused on CPUs for rows of at most 64 (four
 * rows per work-item: on PoCL with AVX-512 vit_mnist's D = 64 ran faster fused, DeiT-tiny's
 * D = 192, one row per work-item, slower); else both ways are timed,
 * in place: neither output overlaps an input, so every run
 * writes the same values (the caller then runs the chosen one, so that results never depend on
 * which ran last). */
static clvit_status choose_ln(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op,
                              const clvit_ln_out *ln, int *fused) {
    *fused = 0;
    if (!clvit_gemm_ln_fits(op)) return CLVIT_SUCCESS;
    const char *env = getenv("CLVIT_LN_FUSE");
    if (env && *env) {
        if (strcmp(env, "0") && strcmp(env, "1"))
            return clvit_fail(CLVIT_ERR_INVALID_ARG, "CLVIT_LN_FUSE='%s': expected 0 or 1", env);
        *fused = env[0] == '1';
        return CLVIT_SUCCESS;
    }
    CLVIT_CHECK(clvit_gemm_plan_ln_get(ctx, op->m, op->n, op->k, fused));
    if (*fused >= 0) return CLVIT_SUCCESS;
    int mode;
    CLVIT_CHECK(clvit_gemm_plan_mode(ctx, &mode));
    const size_t rows = op->m, outs = (rows - 1) * op->ldc + op->n,
                 lns = (rows - 1) * ln->ldout + op->n;
    const clvit_tensor in[] = {op->a, op->aux, op->b, op->bias, ln->w};
    const size_t in_n[] = {(rows - 1) * op->lda + op->k, (rows - 1) * op->ldaux + op->n,
                           (op->n - 1) * op->ldb + op->k, op->n, op->n};
    int aliased = overlap(op->c, outs, ln->out, lns);
    for (int i = 0; i < 5; i++)
        aliased |= overlap(op->c, outs, in[i], in_n[i]) || overlap(ln->out, lns, in[i], in_n[i]) ||
                   overlap(ln->mean, rows, in[i], in_n[i]) ||
                   overlap(ln->rstd, rows, in[i], in_n[i]);
    if (mode == 0 || aliased) { /* not measured: the device class's choice, this context only */
        *fused = ctx->info.is_cpu && op->n <= 64;
        return clvit_gemm_plan_ln_put(ctx, op->m, op->n, op->k, *fused, -1.0, 0);
    }
    double apart, together;
    CLVIT_CHECK(time_ln(ctx, label, op, ln, 0, &apart));
    CLVIT_CHECK(time_ln(ctx, label, op, ln, 1, &together));
    *fused = together < apart;
    fprintf(stderr, "clvit: LayerNorm after %s (%zux%zux%zu): %.0f us fused, %.0f us apart -> %s\n",
            label, op->m, op->n, op->k, together * 1e6, apart * 1e6, *fused ? "fused" : "apart");
    return clvit_gemm_plan_ln_put(ctx, op->m, op->n, op->k, *fused,
                                  1e6 * (*fused ? together : apart), 1);
}

clvit_status clvit_linear_forward_ln(clvit_ctx *ctx, const char *label, clvit_tensor y,
                                     clvit_tensor res, clvit_tensor x, clvit_tensor w,
                                     clvit_tensor b, int rows, int in, int out,
                                     const clvit_ln_out *ln) {
    if (rows < 0 || in <= 0 || out <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "linear %s: rows=%d in=%d out=%d", label, rows, in, out);
    if (!res.buf || !ln->out.buf || !ln->mean.buf || !ln->rstd.buf || !ln->w.buf)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "linear %s + LayerNorm: a tensor is missing",
                          label);
    if (rows == 0) return CLVIT_SUCCESS;
    const clvit_gemm_op op = linear_op(CLVIT_EPI_RESIDUAL, y, res, x, w, b, rows, in, out);
    clvit_ln_out l = *ln;
    l.ldout = (size_t)out;
    l.eps = CLVIT_LN_EPS;
    int fused;
    CLVIT_CHECK(choose_ln(ctx, label, &op, &l, &fused));
    return run_ln(ctx, label, &op, &l, fused);
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
