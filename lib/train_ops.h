/*
 * train_ops.h - the training-only operations: softmax cross-entropy (lib/loss.c), Adam and
 * AdamW with global-norm clipping (lib/optimizer.c), dropout and drop-path
 * (lib/dropout.c). Same conventions as layers.h.
 */
#ifndef CLVIT_TRAIN_OPS_H
#define CLVIT_TRAIN_OPS_H

#include "arena.h"
#include "layers.h"

#include <limits.h>

/* losses (B) = per-image loss; dlogits (B, K) = grad_scale * (softmax - target). */
clvit_status clvit_xent_forward_backward(clvit_ctx *ctx, clvit_tensor losses, clvit_tensor dlogits,
                                         clvit_tensor logits, clvit_tensor labels, int B, int K,
                                         float smoothing, float grad_scale);

typedef struct clvit_adam_args {
    float lr, beta1, beta2, eps, weight_decay;
    int decoupled; /* 0: Adam (L2 added to the gradient), 1: AdamW */
    long step;     /* 1-based step for bias correction */
    float grad_scale;
} clvit_adam_args;
/* One launch per chunk of the parameter arena p; g, m and v have its chunk layout. The
 * gradient is scaled by a->grad_scale, times the float at clip when clip.buf is set (the
 * factor clvit_clip_factor leaves on the device). */
clvit_status clvit_adam_step(clvit_ctx *ctx, clvit_arena *p, clvit_arena *g, clvit_arena *m,
                             clvit_arena *v, clvit_tensor clip, const clvit_adam_args *a);
/* Partial sums per buffer of the gradient arena, for clvit_clip_factor. */
#define CLVIT_NORM_GROUPS 64
/* Global-norm clipping without a host round trip: out[0] = the norm of every gradient in g,
 * out[1] = min(1, max_norm / (norm + 1e-6)) (torch.nn.utils.clip_grad_norm_). part: scratch of
 * CLVIT_NORM_GROUPS floats per buffer of g. */
clvit_status clvit_clip_factor(clvit_ctx *ctx, clvit_tensor out, clvit_tensor part,
                               const clvit_arena *g, float max_norm);
/* Euclidean norm of x (n floats), reduced on the device (blocking; for tests and tools). */
clvit_status clvit_norm2(clvit_ctx *ctx, double *norm, cl_mem x, size_t n);

/* Dropout (element-wise, probability p_drop) and drop-path (per image of per_sample
 * elements, probability p_path), masks from (seed, site, global element index). sample0: the
 * global batch index of the tensor's first image (a data-parallel share starts there; 0 on one
 * device), so an image's mask does not depend on which replica holds it. per_sample must be
 * the true elements per image wherever sample0 may be non-zero. */
struct clvit_drop {
    float p_drop, p_path;
    uint32_t seed, site;
    uint32_t sample0;
};
/* x *= mask: the forward of a dropout and, with the same arguments, its backward. */
clvit_status clvit_dropout_apply(clvit_ctx *ctx, clvit_tensor x, size_t n, size_t per_sample,
                                 const clvit_drop *d);
/* y = res + mask * y */
clvit_status clvit_dropout_residual(clvit_ctx *ctx, clvit_tensor y, clvit_tensor res, size_t n,
                                    size_t per_sample, const clvit_drop *d);
/* out = mask * dy */
clvit_status clvit_dropout_copy(clvit_ctx *ctx, clvit_tensor out, clvit_tensor dy, size_t n,
                                size_t per_sample, const clvit_drop *d);

/* The optimiser step count of a training checkpoint (its clvit.step metadata), checked as
 * clvit_trainer_load_state reads it: a whole number in [0, CLVIT_CKPT_MAX_STEP], so the
 * trainer can count on from it. No device involved. */
#define CLVIT_CKPT_MAX_STEP (LONG_MAX / 2)
struct clvit_st_file;
clvit_status clvit_checkpoint_step(const struct clvit_st_file *f, const char *path, long *step);

/* Trainer internals for the replica group (lib/dist.c). */
void clvit_trainer_set_step(clvit_trainer *t, long step);
clvit_model *clvit_trainer_model(clvit_trainer *t);
/* Gradient reads overlapped with the backward pass (lib/dist.c). Dense ranges of the gradient
 * arena, in decreasing order of start: the backward enqueues the non-blocking read of a range
 * right after the last kernel that writes a gradient in it (the head and final norm first, then
 * the blocks from the last to the first, the embedding parameters last), so on the in-order queue
 * its event completes while the rest of the backward still runs. Set before
 * clvit_train_submit_share, cleared (n 0) after it; the caller waits for and releases each
 * event (NULL where submit failed before enqueuing it). Without reads the step enqueues exactly
 * what it did before. */
typedef struct clvit_grad_read {
    size_t start, count; /* dense floats of the gradient arena */
    float *dst;          /* count floats */
    cl_event done;       /* set by the trainer */
} clvit_grad_read;
void clvit_trainer_set_grad_reads(clvit_trainer *t, clvit_grad_read *reads, int n);
/* The dense offsets where the groups of parameters whose gradients become final together
 * start, in the order the backward finishes them: bounds[0] the head and final norm, then
 * blocks depth-1 .. 0, then 0 (the embeddings); depth + 2 entries, decreasing. */
void clvit_trainer_grad_groups(const clvit_trainer *t, size_t *bounds);
/* Adam moments (num_params floats each) from (write 0) or to (write 1) the device. */
clvit_status clvit_trainer_moments(clvit_trainer *t, float *m, float *v, int write);

#endif
