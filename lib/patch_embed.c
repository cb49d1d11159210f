/*
 * patch_embed.c - patch embedding (the stride-p convolution as im2col + GEMM), then the
 * token sequence: class [, distillation] token, patch tokens plus conv bias, plus the
 * position embedding (learned, in the parameters, or fixed sine-cosine). Kernels in
 * cl/patch_embed.cl. Backward: the patch rows of dx gathered into dpe, dW = dpe^T cols as
 * a GEMM with beta that also sums the bias gradient, and the token and position gradients as
 * column sums.
 */
#include "layers.h"

#include <stdint.h>

clvit_status clvit_patch_embed_forward(clvit_ctx *ctx, clvit_tensor x_t, clvit_tensor pe_t,
                                       clvit_tensor cols_t, clvit_tensor img_t, clvit_tensor w_t,
                                       clvit_tensor b_t, clvit_tensor cls_t, clvit_tensor dist_t,
                                       clvit_tensor pos_t, int B, int C, int img_size, int patch,
                                       int T, int D) {
    if (B < 0 || C <= 0 || patch <= 0 || img_size < patch || T < 1 || T > 2 || D <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "patch_embed: B=%d C=%d img=%d patch=%d T=%d D=%d", B, C,
                          img_size, patch, T, D);
    if (b_t.buf != cls_t.buf || (T == 2 && dist_t.buf != cls_t.buf))
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "patch_embed: conv bias and class/distillation tokens in two buffers");
    cl_mem x = x_t.buf, pe = pe_t.buf, cols = cols_t.buf, img = img_t.buf, p = b_t.buf,
           pos = pos_t.buf;
    const size_t x_off = x_t.off, pe_off = pe_t.off, cols_off = cols_t.off, img_off = img_t.off,
                 b_off = b_t.off, cls_off = cls_t.off, dist_off = T == 2 ? dist_t.off : 0,
                 pos_off = pos_t.off;
    const int g = img_size / patch, P = g * g, K = C * patch * patch, N = T + P;
    cl_kernel k;
    cl_ulong co = cols_off, io = img_off;
    CLVIT_CHECK(clvit_kernel(ctx, "patch_embed.cl", "im2col", NULL, &k));
    CLVIT_CHECK(clvit_args(k, 9, CLVIT_A(cols), CLVIT_A(co), CLVIT_A(img), CLVIT_A(io), CLVIT_A(B),
                           CLVIT_A(C), CLVIT_A(img_size), CLVIT_A(img_size), CLVIT_A(patch)));
    CLVIT_CHECK(clvit_launch(ctx, k, "im2col", (size_t)B * P * K, 0));
    /* pe (B*P, D) = cols (B*P, K) W^T, W (D, K); the conv bias is added in embed_forward */
    CLVIT_CHECK(clvit_gemm(ctx, "patch_embed", 0, 1, (size_t)B * P, (size_t)D, (size_t)K, 1.0f,
                           cols, cols_off, (size_t)K, w_t.buf, w_t.off, (size_t)K, 0.0f, pe, pe_off,
                           (size_t)D));
    cl_ulong xo = x_off, peo = pe_off, clo = cls_off, dio = dist_off, bo = b_off, poo = pos_off;
    CLVIT_CHECK(clvit_kernel(ctx, "patch_embed.cl", "embed_forward", NULL, &k));
    CLVIT_CHECK(clvit_args(k, 14, CLVIT_A(x), CLVIT_A(xo), CLVIT_A(pe), CLVIT_A(peo), CLVIT_A(p),
                           CLVIT_A(clo), CLVIT_A(dio), CLVIT_A(bo), CLVIT_A(pos), CLVIT_A(poo),
                           CLVIT_A(B), CLVIT_A(N), CLVIT_A(T), CLVIT_A(D)));
    return clvit_launch(ctx, k, "embed_forward", (size_t)B * N * D, 0);
}

clvit_status clvit_patch_embed_backward(clvit_ctx *ctx, clvit_tensor dw, clvit_tensor db,
                                        clvit_tensor dcls, clvit_tensor ddist, clvit_tensor dpos,
                                        float beta_w, clvit_tensor dpe_t, clvit_tensor dx_t,
                                        clvit_tensor cols_t, int B, int C, int img_size, int patch,
                                        int T, int D) {
    cl_mem dpe = dpe_t.buf, dx = dx_t.buf;
    const size_t dpe_off = dpe_t.off, dx_off = dx_t.off;
    if (B < 0 || C <= 0 || patch <= 0 || img_size < patch || T < 1 || T > 2 || D <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE,
                          "patch_embed backward: B=%d C=%d img=%d patch=%d T=%d D=%d", B, C,
                          img_size, patch, T, D);
    const int gr = img_size / patch, P = gr * gr, K = C * patch * patch, N = T + P;
    const int BP = B * P;
    cl_kernel k;
    cl_ulong peo = dpe_off, xo = dx_off;
    CLVIT_CHECK(clvit_kernel(ctx, "patch_embed.cl", "embed_backward", NULL, &k));
    CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(dpe), CLVIT_A(peo), CLVIT_A(dx), CLVIT_A(xo), CLVIT_A(B),
                           CLVIT_A(N), CLVIT_A(T), CLVIT_A(D)));
    CLVIT_CHECK(clvit_launch(ctx, k, "embed_backward", (size_t)BP * D, 0));
    /* dW (D, K) = beta_w * dW + dpe^T (D, B*P) cols (B*P, K); for B = 0 the sums are empty
     * and a column sum over zero rows applies beta_w alone */
    if (BP == 0) {
        CLVIT_CHECK(clvit_colsum(ctx, dw, beta_w, dpe_t, 0, D * K));
        CLVIT_CHECK(clvit_colsum(ctx, db, beta_w, dpe_t, 0, D));
    } else { /* db = colsum(dpe): the row sums of op(A) = dpe^T, in dW's launch */
        const clvit_gemm_op op = {.ta = 1,
                                  .tb = 0,
                                  .m = (size_t)D,
                                  .n = (size_t)K,
                                  .k = (size_t)BP,
                                  .alpha = 1.0f,
                                  .beta = beta_w,
                                  .a = dpe_t,
                                  .b = cols_t,
                                  .c = dw,
                                  .lda = (size_t)D,
                                  .ldb = (size_t)K,
                                  .ldc = (size_t)K,
                                  .batch = 1,
                                  .rowsum = db};
        CLVIT_CHECK(clvit_gemm_run(ctx, "patch_embed_dW", &op));
    }
    /* the prefix tokens: one row of D per image, N*D apart */
    CLVIT_CHECK(clvit_colsum_strided(ctx, dcls, beta_w, dx_t, B, D, N * D));
    if (T == 2 && ddist.buf)
        CLVIT_CHECK(
            clvit_colsum_strided(ctx, ddist, beta_w, CLVIT_T(dx, dx_off + (size_t)D), B, D, N * D));
    if (dpos.buf) CLVIT_CHECK(clvit_colsum(ctx, dpos, beta_w, dx_t, B, N * D));
    return CLVIT_SUCCESS;
}
