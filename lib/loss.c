/*
 * loss.c - softmax cross-entropy with optional label smoothing, forward and backward in one
 * kernel (cl/loss.cl).
 */
#include "train_ops.h"

#include <stdio.h>

#define XENT_WGS 64

clvit_status clvit_xent_forward_backward(clvit_ctx *ctx, clvit_tensor losses_t,
                                         clvit_tensor dlogits_t, clvit_tensor logits_t,
                                         clvit_tensor labels_t, int B, int K, float smoothing,
                                         float grad_scale) {
    cl_mem losses = losses_t.buf, dlogits = dlogits_t.buf, logits = logits_t.buf,
           labels = labels_t.buf;
    const size_t losses_off = losses_t.off, dlogits_off = dlogits_t.off, logits_off = logits_t.off,
                 labels_off = labels_t.off;
    if (B < 0 || K <= 0 || smoothing < 0.0f || smoothing >= 1.0f)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "cross-entropy: B=%d K=%d smoothing=%g", B, K,
                          (double)smoothing);
    cl_kernel k;
    const size_t wg = clvit_fixed_wgs(ctx, XENT_WGS);
    char opts[24];
    snprintf(opts, sizeof opts, "-DWGS=%zu", wg);
    CLVIT_CHECK(clvit_kernel(ctx, "loss.cl", "softmax_xent", opts, &k));
    cl_ulong lo = losses_off, dlo = dlogits_off, zo = logits_off, yo = labels_off;
    CLVIT_CHECK(clvit_args(k, 11, CLVIT_A(losses), CLVIT_A(lo), CLVIT_A(dlogits), CLVIT_A(dlo),
                           CLVIT_A(logits), CLVIT_A(zo), CLVIT_A(labels), CLVIT_A(yo), CLVIT_A(K),
                           CLVIT_A(smoothing), CLVIT_A(grad_scale)));
    return clvit_launch_rows(ctx, k, "softmax_xent", (size_t)B, wg);
}
