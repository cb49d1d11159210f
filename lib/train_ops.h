/*
 * train_ops.h - the training-only operations: softmax cross-entropy (lib/loss.c), Adam and
 * AdamW with global-norm clipping (lib/optimizer.c), dropout and drop-path
 * (lib/dropout.c). Same conventions as layers.h.
 */
#ifndef CLVIT_TRAIN_OPS_H
#define CLVIT_TRAIN_OPS_H

#include "layers.h"

/* losses (B) = per-image loss; dlogits (B, K) = grad_scale * (softmax - target). */
clvit_status clvit_xent_forward_backward(clvit_ctx *ctx, cl_mem losses, size_t losses_off,
                                         cl_mem dlogits, size_t dlogits_off, cl_mem logits,
                                         size_t logits_off, cl_mem labels, size_t labels_off, int B,
                                         int K, float smoothing, float grad_scale);

typedef struct clvit_adam_args {
    float lr, beta1, beta2, eps, weight_decay;
    int decoupled; /* 0: Adam (L2 added to the gradient), 1: AdamW */
    long step;     /* 1-based step for bias correction */
    float grad_scale;
} clvit_adam_args;
clvit_status clvit_adam_step(clvit_ctx *ctx, cl_mem p, cl_mem g, cl_mem m, cl_mem v, size_t n,
                             const clvit_adam_args *a);
/* Euclidean norm of x (n floats), reduced on the device, finished on the host in double. */
clvit_status clvit_norm2(clvit_ctx *ctx, double *norm, cl_mem x, size_t n);

/* Dropout (element-wise, probability p_drop) and drop-path (per image of per_sample
 * elements, probability p_path), masks from (seed, site). */
struct clvit_drop {
    float p_drop, p_path;
    uint32_t seed, site;
};
/* x *= mask: the forward of a dropout and, with the same arguments, its backward. */
clvit_status clvit_dropout_apply(clvit_ctx *ctx, cl_mem x, size_t x_off, size_t n,
                                 size_t per_sample, const clvit_drop *d);
/* y = res + mask * y */
clvit_status clvit_dropout_residual(clvit_ctx *ctx, cl_mem y, size_t y_off, cl_mem res,
                                    size_t res_off, size_t n, size_t per_sample,
                                    const clvit_drop *d);
/* out = mask * dy */
clvit_status clvit_dropout_copy(clvit_ctx *ctx, cl_mem out, size_t out_off, cl_mem dy,
                                size_t dy_off, size_t n, size_t per_sample, const clvit_drop *d);

#endif
