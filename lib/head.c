/*
 * head.c - from the final-norm tokens to the classifier input (class token, distillation
 * token, or mean over patch tokens) and the mean of the two DeiT heads. The pre-logits
 * and head Linears go through lib/linear.c. Kernels in cl/head.cl. The backward of the
 * pooling scatters the pooled gradient back over the tokens; the backward of average2 is
 * half the output gradient to each head, which the caller folds into its own scaling.
 */
#include "layers.h"

clvit_status clvit_pool_forward(clvit_ctx *ctx, clvit_tensor pooled_t, clvit_tensor x_t, int B,
                                int N, int D, int T, int tok, int avg) {
    cl_mem pooled = pooled_t.buf, x = x_t.buf;
    const size_t pooled_off = pooled_t.off, x_off = x_t.off;
    if (B < 0 || N <= T || D <= 0 || tok < 0 || tok >= N)
        return clvit_fail(CLVIT_ERR_SHAPE, "pool: B=%d N=%d D=%d T=%d tok=%d", B, N, D, T, tok);
    cl_kernel k;
    cl_ulong po = pooled_off, xo = x_off;
    CLVIT_CHECK(clvit_kernel(ctx, "head.cl", "pool_forward", NULL, &k));
    CLVIT_CHECK(clvit_args(k, 10, CLVIT_A(pooled), CLVIT_A(po), CLVIT_A(x), CLVIT_A(xo), CLVIT_A(B),
                           CLVIT_A(N), CLVIT_A(D), CLVIT_A(T), CLVIT_A(tok), CLVIT_A(avg)));
    return clvit_launch(ctx, k, "pool_forward", (size_t)B * D, 0);
}

clvit_status clvit_average2(clvit_ctx *ctx, clvit_tensor out_t, clvit_tensor a_t, clvit_tensor b_t,
                            int n) {
    cl_mem out = out_t.buf, a = a_t.buf, b = b_t.buf;
    const size_t out_off = out_t.off, a_off = a_t.off, b_off = b_t.off;
    cl_kernel k;
    cl_ulong oo = out_off, ao = a_off, bo = b_off;
    CLVIT_CHECK(clvit_kernel(ctx, "head.cl", "average2", NULL, &k));
    CLVIT_CHECK(clvit_args(k, 7, CLVIT_A(out), CLVIT_A(oo), CLVIT_A(a), CLVIT_A(ao), CLVIT_A(b),
                           CLVIT_A(bo), CLVIT_A(n)));
    return clvit_launch(ctx, k, "average2", (size_t)n, 0);
}

clvit_status clvit_pool_backward(clvit_ctx *ctx, clvit_tensor dx_t, float beta,
                                 clvit_tensor dpooled_t, int B, int N, int D, int T, int tok,
                                 int avg) {
    cl_mem dx = dx_t.buf, dpooled = dpooled_t.buf;
    const size_t dx_off = dx_t.off, dpooled_off = dpooled_t.off;
    if (B < 0 || N <= T || D <= 0 || tok < 0 || tok >= N)
        return clvit_fail(CLVIT_ERR_SHAPE, "pool backward: B=%d N=%d D=%d T=%d tok=%d", B, N, D, T,
                          tok);
    cl_kernel k;
    cl_ulong xo = dx_off, po = dpooled_off;
    CLVIT_CHECK(clvit_kernel(ctx, "head.cl", "pool_backward", NULL, &k));
    CLVIT_CHECK(clvit_args(k, 11, CLVIT_A(dx), CLVIT_A(xo), CLVIT_A(beta), CLVIT_A(dpooled),
                           CLVIT_A(po), CLVIT_A(B), CLVIT_A(N), CLVIT_A(D), CLVIT_A(T),
                           CLVIT_A(tok), CLVIT_A(avg)));
    return clvit_launch(ctx, k, "pool_backward", (size_t)B * N * D, 0);
}
