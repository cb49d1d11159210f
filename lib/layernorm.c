/*
 * layernorm.c - LayerNorm over the last dimension (eps 1e-6 as the seed's norm_layer),
 * kernels in cl/layernorm.cl: a work-group per row on GPUs, a work-item per row on CPUs
 * (no barriers; 64-wide rows of vit_mnist ran several times faster that way on PoCL).
 */
#include "layers.h"

#include <stdio.h>

/* layernorm_param_backward: TILE_C columns x LANES row lanes, the defaults in the .cl file */
#define LN_PARAM_TILE_C 32
#define LN_PARAM_LANES 8
/* the per-item kernels: VEC and LANES_R, the defaults in the .cl file */
#define LN_ROW_VEC 16
#define LN_ROW_LANES 8

clvit_status clvit_layernorm_forward(clvit_ctx *ctx, clvit_tensor out_t, clvit_tensor mean_t,
                                     clvit_tensor rstd_t, clvit_tensor x_t, clvit_tensor w_t,
                                     clvit_tensor b_t, int rows, int C) {
    if (rows < 0 || C <= 0) return clvit_fail(CLVIT_ERR_SHAPE, "layernorm: rows=%d C=%d", rows, C);
    if (w_t.buf != b_t.buf)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "layernorm: weight and bias in two buffers");
    cl_mem out = out_t.buf, mean = mean_t.buf, rstd = rstd_t.buf, x = x_t.buf, p = w_t.buf;
    const size_t out_off = out_t.off, mean_off = mean_t.off, rstd_off = rstd_t.off, x_off = x_t.off,
                 w_off = w_t.off, b_off = b_t.off;
    cl_kernel k;
    float eps = CLVIT_LN_EPS;
    if (clvit_row_kernels_per_item(ctx)) {
        cl_ulong o = out_off, mo = mean_off, ro = rstd_off, xo = x_off, wo = w_off, bo = b_off;
        CLVIT_CHECK(clvit_kernel(ctx, "layernorm.cl", "layernorm_forward_rows", NULL, &k));
        CLVIT_CHECK(clvit_args(k, 14, CLVIT_A(out), CLVIT_A(o), CLVIT_A(mean), CLVIT_A(mo),
                               CLVIT_A(rstd), CLVIT_A(ro), CLVIT_A(x), CLVIT_A(xo), CLVIT_A(p),
                               CLVIT_A(wo), CLVIT_A(bo), CLVIT_A(rows), CLVIT_A(C), CLVIT_A(eps)));
        return clvit_launch(ctx, k, "layernorm_forward", (size_t)rows, 8);
    }
    char opts[32];
    const size_t wgs = clvit_row_wgs(ctx, C, opts, sizeof opts);
    CLVIT_CHECK(clvit_kernel(ctx, "layernorm.cl", "layernorm_forward", opts, &k));
    cl_ulong o = out_off, mo = mean_off, ro = rstd_off, xo = x_off, wo = w_off, bo = b_off;
    CLVIT_CHECK(clvit_args(k, 13, CLVIT_A(out), CLVIT_A(o), CLVIT_A(mean), CLVIT_A(mo),
                           CLVIT_A(rstd), CLVIT_A(ro), CLVIT_A(x), CLVIT_A(xo), CLVIT_A(p),
                           CLVIT_A(wo), CLVIT_A(bo), CLVIT_A(C), CLVIT_A(eps)));
    return clvit_launch_rows(ctx, k, "layernorm_forward", (size_t)rows, wgs);
}

clvit_status clvit_layernorm_backward(clvit_ctx *ctx, clvit_tensor dx_t, float beta_dx,
                                      clvit_tensor dw_t, clvit_tensor db_t, float beta_w,
                                      clvit_tensor dout_t, clvit_tensor x_t, clvit_tensor mean_t,
                                      clvit_tensor rstd_t, clvit_tensor w_t, int rows, int C) {
    if (rows < 0 || C <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "layernorm backward: rows=%d C=%d", rows, C);
    if (dw_t.buf != db_t.buf)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "layernorm backward: dw and db in two buffers");
    cl_mem dx = dx_t.buf, g = dw_t.buf, dout = dout_t.buf, x = x_t.buf, mean = mean_t.buf,
           rstd = rstd_t.buf, p = w_t.buf;
    const size_t dx_off = dx_t.off, dw_off = dw_t.off, db_off = db_t.off, dout_off = dout_t.off,
                 x_off = x_t.off, mean_off = mean_t.off, rstd_off = rstd_t.off, w_off = w_t.off;
    if (clvit_row_kernels_per_item(ctx)) {
        cl_ulong dxo = dx_off, dwo = dw_off, dbo = db_off, go = dout_off, xo = x_off, mo = mean_off,
                 ro = rstd_off, wo = w_off;
        cl_kernel k;
        /* parameter gradients first: they read dout, which dx may overwrite in place */
        const size_t part_floats = (size_t)LN_ROW_LANES * 2 * (size_t)C;
        CLVIT_CHECK(clvit_scratch(ctx, part_floats));
        CLVIT_CHECK(clvit_kernel(ctx, "layernorm.cl", "layernorm_param_partial", NULL, &k));
        CLVIT_CHECK(clvit_args(k, 11, CLVIT_A(ctx->scratch), CLVIT_A(dout), CLVIT_A(go), CLVIT_A(x),
                               CLVIT_A(xo), CLVIT_A(mean), CLVIT_A(mo), CLVIT_A(rstd), CLVIT_A(ro),
                               CLVIT_A(rows), CLVIT_A(C)));
        const size_t groups = ((size_t)C + LN_ROW_VEC - 1) / LN_ROW_VEC;
        const size_t global[2] = {groups, LN_ROW_LANES}, local[2] = {1, LN_ROW_LANES};
        CLVIT_CHECK(
            clvit_enqueue_kernel(ctx, k, "layernorm_param_backward", 2, global, local, 0, 0.0));
        CLVIT_CHECK(clvit_kernel(ctx, "layernorm.cl", "layernorm_param_finish", NULL, &k));
        CLVIT_CHECK(clvit_args(k, 6, CLVIT_A(g), CLVIT_A(dwo), CLVIT_A(dbo), CLVIT_A(beta_w),
                               CLVIT_A(ctx->scratch), CLVIT_A(C)));
        CLVIT_CHECK(clvit_launch(ctx, k, "layernorm_param_backward", (size_t)C, 0));
        CLVIT_CHECK(clvit_kernel(ctx, "layernorm.cl", "layernorm_backward_rows", NULL, &k));
        CLVIT_CHECK(clvit_args(k, 15, CLVIT_A(dx), CLVIT_A(dxo), CLVIT_A(beta_dx), CLVIT_A(dout),
                               CLVIT_A(go), CLVIT_A(x), CLVIT_A(xo), CLVIT_A(mean), CLVIT_A(mo),
                               CLVIT_A(rstd), CLVIT_A(ro), CLVIT_A(p), CLVIT_A(wo), CLVIT_A(rows),
                               CLVIT_A(C)));
        return clvit_launch(ctx, k, "layernorm_backward", (size_t)rows, 8);
    }
    cl_ulong dxo = dx_off, dwo = dw_off, dbo = db_off, go = dout_off, xo = x_off, mo = mean_off,
             ro = rstd_off, wo = w_off;
    cl_kernel k;
    /* parameter gradients first: they read dout, which dx may overwrite in place */
    const size_t pwg = clvit_fixed_wgs(ctx, LN_PARAM_TILE_C * LN_PARAM_LANES);
    const size_t tile_c = pwg < LN_PARAM_TILE_C ? pwg : LN_PARAM_TILE_C, lanes = pwg / tile_c;
    char popts[48];
    snprintf(popts, sizeof popts, "-DTILE_C=%zu -DLANES=%zu", tile_c, lanes);
    CLVIT_CHECK(clvit_kernel(ctx, "layernorm.cl", "layernorm_param_backward", popts, &k));
    CLVIT_CHECK(clvit_args(k, 14, CLVIT_A(g), CLVIT_A(dwo), CLVIT_A(dbo), CLVIT_A(beta_w),
                           CLVIT_A(dout), CLVIT_A(go), CLVIT_A(x), CLVIT_A(xo), CLVIT_A(mean),
                           CLVIT_A(mo), CLVIT_A(rstd), CLVIT_A(ro), CLVIT_A(rows), CLVIT_A(C)));
    const size_t tiles = ((size_t)C + tile_c - 1) / tile_c;
    CLVIT_CHECK(clvit_launch_rows(ctx, k, "layernorm_param_backward", tiles, pwg));
    char opts[32];
    const size_t wgs = clvit_row_wgs(ctx, C, opts, sizeof opts);
    CLVIT_CHECK(clvit_kernel(ctx, "layernorm.cl", "layernorm_backward", opts, &k));
    CLVIT_CHECK(clvit_args(k, 14, CLVIT_A(dx), CLVIT_A(dxo), CLVIT_A(beta_dx), CLVIT_A(dout),
                           CLVIT_A(go), CLVIT_A(x), CLVIT_A(xo), CLVIT_A(mean), CLVIT_A(mo),
                           CLVIT_A(rstd), CLVIT_A(ro), CLVIT_A(p), CLVIT_A(wo), CLVIT_A(C)));
    return clvit_launch_rows(ctx, k, "layernorm_backward", (size_t)rows, wgs);
}
