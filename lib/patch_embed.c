/*
 * patch_embed.c - patch embedding (the stride-p convolution as im2col + GEMM), then the
 * token sequence: class [, distillation] token, patch tokens plus conv bias, plus the
 * position embedding (learned, in the parameters, or fixed sine-cosine). Kernels in
 * cl/patch_embed.cl. Backward: the patch rows of dx gathered into dpe, dW = dpe^T cols as
 * a CLBlast GEMM with beta, and the bias, token and position gradients as column sums.
 */
#include "layers.h"

#include <stdint.h>

clvit_status clvit_patch_embed_forward(clvit_ctx *ctx, cl_mem x, size_t x_off, cl_mem pe,
                                       size_t pe_off, cl_mem cols, size_t cols_off, cl_mem img,
                                       size_t img_off, cl_mem p, size_t w_off, size_t b_off,
                                       size_t cls_off, size_t dist_off, cl_mem pos, size_t pos_off,
                                       int B, int C, int img_size, int patch, int T, int D) {
    if (B < 0 || C <= 0 || patch <= 0 || img_size < patch || T < 1 || T > 2 || D <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "patch_embed: B=%d C=%d img=%d patch=%d T=%d D=%d", B, C,
                          img_size, patch, T, D);
    const int g = img_size / patch, P = g * g, K = C * patch * patch, N = T + P;
    cl_kernel k;
    cl_uint co = (cl_uint)cols_off, io = (cl_uint)img_off;
    CLVIT_CHECK(clvit_kernel(ctx, "patch_embed.cl", "im2col", NULL, &k));
    CLVIT_CHECK(clvit_args(k, 9, CLVIT_A(cols), CLVIT_A(co), CLVIT_A(img), CLVIT_A(io), CLVIT_A(B),
                           CLVIT_A(C), CLVIT_A(img_size), CLVIT_A(img_size), CLVIT_A(patch)));
    CLVIT_CHECK(clvit_launch(ctx, k, "im2col", (size_t)B * P * K, 64));
    /* pe (B*P, D) = cols (B*P, K) W^T, W (D, K); the conv bias is added in embed_forward */
    CLVIT_CHECK(clvit_gemm(ctx, "patch_embed", 0, 1, (size_t)B * P, (size_t)D, (size_t)K, 1.0f,
                           cols, cols_off, (size_t)K, p, w_off, (size_t)K, 0.0f, pe, pe_off,
                           (size_t)D));
    cl_uint xo = (cl_uint)x_off, peo = (cl_uint)pe_off, clo = (cl_uint)cls_off,
            dio = (cl_uint)dist_off, bo = (cl_uint)b_off, poo = (cl_uint)pos_off;
    CLVIT_CHECK(clvit_kernel(ctx, "patch_embed.cl", "embed_forward", NULL, &k));
    CLVIT_CHECK(clvit_args(k, 14, CLVIT_A(x), CLVIT_A(xo), CLVIT_A(pe), CLVIT_A(peo), CLVIT_A(p),
                           CLVIT_A(clo), CLVIT_A(dio), CLVIT_A(bo), CLVIT_A(pos), CLVIT_A(poo),
                           CLVIT_A(B), CLVIT_A(N), CLVIT_A(T), CLVIT_A(D)));
    return clvit_launch(ctx, k, "embed_forward", (size_t)B * N * D, 64);
}

clvit_status clvit_patch_embed_backward(clvit_ctx *ctx, cl_mem g, size_t dw_off, size_t db_off,
                                        size_t dcls_off, size_t ddist_off, size_t dpos_off,
                                        float beta_w, cl_mem dpe, size_t dpe_off, cl_mem dx,
                                        size_t dx_off, cl_mem cols, size_t cols_off, int B, int C,
                                        int img_size, int patch, int T, int D) {
    if (B < 0 || C <= 0 || patch <= 0 || img_size < patch || T < 1 || T > 2 || D <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE,
                          "patch_embed backward: B=%d C=%d img=%d patch=%d T=%d D=%d", B, C,
                          img_size, patch, T, D);
    const int gr = img_size / patch, P = gr * gr, K = C * patch * patch, N = T + P;
    const int BP = B * P;
    cl_kernel k;
    cl_uint peo = (cl_uint)dpe_off, xo = (cl_uint)dx_off;
    CLVIT_CHECK(clvit_kernel(ctx, "patch_embed.cl", "embed_backward", NULL, &k));
    CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(dpe), CLVIT_A(peo), CLVIT_A(dx), CLVIT_A(xo), CLVIT_A(B),
                           CLVIT_A(N), CLVIT_A(T), CLVIT_A(D)));
    CLVIT_CHECK(clvit_launch(ctx, k, "embed_backward", (size_t)BP * D, 64));
    /* dW (D, K) = beta_w * dW + dpe^T (D, B*P) cols (B*P, K); for B = 0 (CLBlast rejects
     * k = 0) a column sum over zero rows applies beta_w alone */
    if (BP == 0)
        CLVIT_CHECK(clvit_colsum(ctx, CLVIT_T(g, dw_off), beta_w, CLVIT_T(dpe, dpe_off), 0, D * K));
    else
        CLVIT_CHECK(clvit_gemm(ctx, "patch_embed_dW", 1, 0, (size_t)D, (size_t)K, (size_t)BP, 1.0f,
                               dpe, dpe_off, (size_t)D, cols, cols_off, (size_t)K, beta_w, g,
                               dw_off, (size_t)K));
    CLVIT_CHECK(clvit_colsum(ctx, CLVIT_T(g, db_off), beta_w, CLVIT_T(dpe, dpe_off), BP, D));
    /* the prefix tokens: one row of D per image, N*D apart */
    CLVIT_CHECK(
        clvit_colsum_strided(ctx, CLVIT_T(g, dcls_off), beta_w, CLVIT_T(dx, dx_off), B, D, N * D));
    if (T == 2)
        CLVIT_CHECK(clvit_colsum_strided(ctx, CLVIT_T(g, ddist_off), beta_w,
                                         CLVIT_T(dx, dx_off + (size_t)D), B, D, N * D));
    if (dpos_off != SIZE_MAX)
        CLVIT_CHECK(clvit_colsum(ctx, CLVIT_T(g, dpos_off), beta_w, CLVIT_T(dx, dx_off), B, N * D));
    return CLVIT_SUCCESS;
}
