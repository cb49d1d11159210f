/*
 * reduce.c - column sums over the rows of a row-major matrix, the reduction behind
 * bias and token gradients, with BLAS-style beta. Kernel in cl/reduce.cl.
 */
#include "layers.h"

#include <stdio.h>

/* TILE_C and LANES of cl/reduce.cl where the device allows 256 work-items. */
#define COLSUM_TILE_C 32
#define COLSUM_LANES 8

clvit_status clvit_colsum_strided(clvit_ctx *ctx, clvit_tensor out_t, float beta, clvit_tensor x_t,
                                  int rows, int cols, int ld) {
    cl_mem out = out_t.buf, x = x_t.buf;
    const size_t out_off = out_t.off, x_off = x_t.off;
    if (rows < 0 || cols < 0 || ld < cols)
        return clvit_fail(CLVIT_ERR_SHAPE, "colsum: rows=%d cols=%d ld=%d", rows, cols, ld);
    if (cols == 0) return CLVIT_SUCCESS;
    cl_kernel k;
    /* TILE_C x LANES items per group, LANES reduced first when the device allows fewer */
    const size_t wg = clvit_fixed_wgs(ctx, COLSUM_TILE_C * COLSUM_LANES);
    const size_t tile_c = wg < COLSUM_TILE_C ? wg : COLSUM_TILE_C, lanes = wg / tile_c;
    char opts[48];
    snprintf(opts, sizeof opts, "-DTILE_C=%zu -DLANES=%zu", tile_c, lanes);
    CLVIT_CHECK(clvit_kernel(ctx, "reduce.cl", "colsum", opts, &k));
    cl_ulong oo = out_off, xo = x_off;
    CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(out), CLVIT_A(oo), CLVIT_A(beta), CLVIT_A(x), CLVIT_A(xo),
                           CLVIT_A(rows), CLVIT_A(cols), CLVIT_A(ld)));
    const size_t tiles = ((size_t)cols + tile_c - 1) / tile_c;
    return clvit_launch_rows(ctx, k, "colsum", tiles, wg);
}

clvit_status clvit_colsum(clvit_ctx *ctx, clvit_tensor out, float beta, clvit_tensor x, int rows,
                          int cols) {
    return clvit_colsum_strided(ctx, out, beta, x, rows, cols, cols);
}
