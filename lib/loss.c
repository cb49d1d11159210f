/*
 * loss.c - softmax cross-entropy with optional label smoothing, forward and backward in one
 * kernel (cl/loss.cl).
 */
#include "train_ops.h"

#define XENT_WGS 64

clvit_status clvit_xent_forward_backward(clvit_ctx *ctx, cl_mem losses, size_t losses_off,
                                         cl_mem dlogits, size_t dlogits_off, cl_mem logits,
                                         size_t logits_off, cl_mem labels, size_t labels_off, int B,
                                         int K, float smoothing, float grad_scale) {
    if (B < 0 || K <= 0 || smoothing < 0.0f || smoothing >= 1.0f)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "cross-entropy: B=%d K=%d smoothing=%g", B, K,
                          (double)smoothing);
    cl_kernel k;
    CLVIT_CHECK(clvit_kernel(ctx, "loss.cl", "softmax_xent", "-DWGS=64", &k));
    cl_uint lo = (cl_uint)losses_off, dlo = (cl_uint)dlogits_off, zo = (cl_uint)logits_off,
            yo = (cl_uint)labels_off;
    CLVIT_CHECK(clvit_args(k, 11, CLVIT_A(losses), CLVIT_A(lo), CLVIT_A(dlogits), CLVIT_A(dlo),
                           CLVIT_A(logits), CLVIT_A(zo), CLVIT_A(labels), CLVIT_A(yo), CLVIT_A(K),
                           CLVIT_A(smoothing), CLVIT_A(grad_scale)));
    return clvit_launch_rows(ctx, k, "softmax_xent", (size_t)B, XENT_WGS);
}
