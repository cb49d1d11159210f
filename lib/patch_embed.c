/*
 * patch_embed.c - patch embedding (the stride-p convolution as im2col + GEMM), then the
 * token sequence: class [, distillation] token, patch tokens plus conv bias, plus the
 * position embedding (learned, in the parameters, or fixed sine-cosine). Kernels in
 * cl/patch_embed.cl.
 */
#include "layers.h"

clvit_status clvit_patch_embed_forward(clvit_ctx *ctx, cl_mem x, size_t x_off, cl_mem pe,
                                       size_t pe_off, cl_mem cols, size_t cols_off, cl_mem img,
                                       size_t img_off, cl_mem p, size_t w_off, size_t b_off,
                                       size_t cls_off, size_t dist_off, cl_mem pos, size_t pos_off,
                                       int B, int C, int img_size, int patch, int T, int D) {
    if (B < 0 || C <= 0 || patch <= 0 || img_size < patch || T < 1 || T > 2 || D <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "patch_embed: B=%d C=%d img=%d patch=%d T=%d D=%d", B,
                          C, img_size, patch, T, D);
    const int g = img_size / patch, P = g * g, K = C * patch * patch, N = T + P;
    cl_kernel k;
    cl_uint co = (cl_uint)cols_off, io = (cl_uint)img_off;
    CLVIT_CHECK(clvit_kernel(ctx, "patch_embed.cl", "im2col", NULL, &k));
    CLVIT_CHECK(clvit_args(k, 9, CLVIT_A(cols), CLVIT_A(co), CLVIT_A(img), CLVIT_A(io),
                           CLVIT_A(B), CLVIT_A(C), CLVIT_A(img_size), CLVIT_A(img_size),
                           CLVIT_A(patch)));
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
