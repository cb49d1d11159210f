/*
 * layers.h - one function per layer and direction; each lives in the file named after its
 * layer family (lib/layernorm.c, lib/attention.c, lib/linear.c, lib/patch_embed.c,
 * lib/head.c) next to its kernels in cl/<same name>.cl.
 *
 * Argument order: outputs, saved state, inputs, sizes. A tensor is a (cl_mem, offset in
 * floats) pair, written `buf, off`; parameters are offsets into the model's one parameter
 * buffer `p`. Shapes are given in the comments, row-major, batch-first.
 */
#ifndef CLVIT_LAYERS_H
#define CLVIT_LAYERS_H

#include "device.h"

/* ---- layernorm.c: eps 1e-6, as the seed's norm_layer */
#define CLVIT_LN_EPS 1e-6f
clvit_status clvit_layernorm_forward(clvit_ctx *ctx, clvit_tensor out, /* (R, C) */
                                     clvit_tensor mean,                /* (R) */
                                     clvit_tensor rstd,                /* (R) */
                                     clvit_tensor x,                   /* (R, C) */
                                     clvit_tensor w, clvit_tensor b,   /* (C) each */
                                     int rows, int C);

/* ---- linear.c: y = x W^T (+ epilogue), one GEMM launch. Tensors are handles (buffer and
 * 64-bit offset, device.h). aux: the pre-activation written (GELU, TANH) or the residual read
 * (RESIDUAL); unused otherwise. b is unused with CLVIT_EPI_NONE. */
clvit_status clvit_linear_forward(clvit_ctx *ctx, const char *label, clvit_epilogue epi,
                                  clvit_tensor y,   /* (rows, out) */
                                  clvit_tensor aux, /* (rows, out) */
                                  clvit_tensor x,   /* (rows, in) */
                                  clvit_tensor w,   /* (out, in) */
                                  clvit_tensor b,   /* (out) */
                                  int rows, int in, int out);

/* The same with CLVIT_EPI_RESIDUAL (y = x W^T + b + res), then the LayerNorm of y's rows:
 * ln->out (rows, out), ln->mean and ln->rstd (rows), ln->w and ln->b (out) in one buffer (ldout
 * and eps are set here). In one launch where that measured faster (linear.c). */
clvit_status clvit_linear_forward_ln(clvit_ctx *ctx, const char *label, clvit_tensor y,
                                     clvit_tensor res, clvit_tensor x, clvit_tensor w,
                                     clvit_tensor b, int rows, int in, int out,
                                     const clvit_ln_out *ln);

/* ---- attention.c: everything between the qkv Linear and the proj Linear, fused: scores
 * scale * q k^T, softmax, attention dropout, P v, heads merged. q, k, v are read from the
 * qkv Linear's output with the qkv bias (when has_bias) added on the fly; qkv is not changed.
 * att != NULL (training) saves the softmax probabilities, undropped, for the backward; with
 * att == NULL no scores are stored (online softmax). Attention dropout when drop != NULL and
 * drop->p_drop > 0: the mask of clvit_dropout_apply(drop) over the flat (B, H, N, N) index
 * with per_sample 1, regenerated in the backward from the same clvit_drop. */
typedef struct clvit_drop clvit_drop;
clvit_status clvit_attention_forward(clvit_ctx *ctx, clvit_tensor out, /* (B, N, D) merged */
                                     clvit_tensor att,   /* (B, H, N, N), buffer NULL: none */
                                     clvit_tensor qkv,   /* (B, N, 3, H, hd) no bias */
                                     clvit_tensor qkv_b, /* (3, H, hd) */
                                     int has_bias, float scale, int B, int N, int H, int hd,
                                     const clvit_drop *drop);

/* ---- patch_embed.c */
clvit_status clvit_patch_embed_forward(clvit_ctx *ctx, clvit_tensor x,   /* (B, N, D) */
                                       clvit_tensor pe,                  /* (B, P, D) */
                                       clvit_tensor cols,                /* (B, P, C*p*p) */
                                       clvit_tensor img,                 /* (B, C, Hi, Wi) */
                                       clvit_tensor w,                   /* (D, C, p, p) */
                                       clvit_tensor b, clvit_tensor cls, /* (D) each, one buffer */
                                       clvit_tensor dist, /* (D), T == 2 only, cls's buffer */
                                       clvit_tensor pos,  /* (N, D) */
                                       int B, int C, int img_size, int patch, int T, int D);

/* ---- head.c */
clvit_status clvit_pool_forward(clvit_ctx *ctx, clvit_tensor pooled, /* (B, D) */
                                clvit_tensor x,                      /* (B, N, D) */
                                int B, int N, int D, int T, int tok, int avg);
/* out (n) = (a + b) / 2 */
clvit_status clvit_average2(clvit_ctx *ctx, clvit_tensor out, clvit_tensor a, clvit_tensor b,
                            int n);

/* ================================================================ backward
 * Gradients follow BLAS accumulate semantics: a `beta` of 0 overwrites the gradient
 * tensor, 1 adds to it. Parameter gradients live in the gradient buffer `g` at the same
 * offsets as the parameters in `p`. Activation gradients are (buffer, offset) pairs. */

/* dx = beta_dx * dx + dLN/dx; dw, db (C) = beta_w * (.) + column sums over rows (dw and db
 * in one buffer). dx may be dout (in place). */
clvit_status clvit_layernorm_backward(clvit_ctx *ctx, clvit_tensor dx, float beta_dx, /* (R, C) */
                                      clvit_tensor dw, clvit_tensor db, float beta_w, /* (C) */
                                      clvit_tensor dout,                              /* (R, C) */
                                      clvit_tensor x,                                 /* (R, C) */
                                      clvit_tensor mean, clvit_tensor rstd,           /* (R) */
                                      clvit_tensor w,                                 /* (C) */
                                      int rows, int C);

/* Where the gradients of a Linear layer go; a tensor with a NULL buffer is not wanted. */
typedef struct clvit_linear_grads {
    clvit_tensor dx; /* (rows, in): beta_dx * dx + dy W */
    float beta_dx;
    clvit_tensor dx_gelu; /* when set, x = gelu(pre) with pre here (rows, in), and dx receives the
                             gradient of pre instead, (dy W) * gelu'(pre), fused into the same
                             GEMM (beta_dx must be 0) */
    clvit_tensor dw;      /* (out, in): beta_w * dW + dy^T x */
    clvit_tensor db;      /* (out): beta_w * db + colsum(dy), in dW's launch */
    float beta_w;
    clvit_tensor dres; /* RESIDUAL: dres += dy */
    clvit_tensor dpre; /* GELU, TANH: scratch (rows, out) for the activation's gradient */
} clvit_linear_grads;

/* Backward of clvit_linear_forward for its epilogue. saved: the pre-activation for GELU, the
 * output y = tanh(pre) for TANH, unused otherwise. GELU/TANH first form dpre = dy * act'(saved)
 * in the scratch, then the layer is a biased Linear with dy := dpre. */
clvit_status clvit_linear_backward(clvit_ctx *ctx, const char *label, clvit_epilogue epi,
                                   const clvit_linear_grads *g, clvit_tensor dy, /* (rows, out) */
                                   clvit_tensor saved,                           /* (rows, out) */
                                   clvit_tensor x,                               /* (rows, in) */
                                   clvit_tensor w,                               /* (out, in) */
                                   int rows, int in, int out);

/* Backward of clvit_attention_forward from dout (B, N, D), the saved probabilities att and
 * the forward's inputs (qkv, the bias, the same drop). Output: dqkv (B, N, 3D) overwritten, in
 * the qkv Linear's layout (gradient of its GEMM output) and, when has_bias and qkv_db has a
 * buffer, the qkv bias gradient there with beta_w (the column sum of dqkv).
 * Scratch: datt (B, H, N, N). */
clvit_status clvit_attention_backward(clvit_ctx *ctx, clvit_tensor dqkv, /* (B, N, 3, H, hd) */
                                      clvit_tensor qkv_db, /* (3, H, hd); buffer NULL: none */
                                      float beta_w, clvit_tensor datt, /* (B, H, N, N) scratch */
                                      clvit_tensor att,                /* (B, H, N, N) */
                                      clvit_tensor dout,               /* (B, N, D) */
                                      clvit_tensor qkv,                /* (B, N, 3, H, hd) */
                                      clvit_tensor qkv_b,              /* (3, H, hd) */
                                      int has_bias, float scale, int B, int N, int H, int hd,
                                      const clvit_drop *drop);

/* Backward of clvit_patch_embed_forward from dx (B, N, D): conv weight and bias, class and
 * distillation tokens (sums over the batch), and the learned position embedding when dpos has
 * a buffer. Scratch dpe (B*P, D). All parameter gradients use beta_w. */
clvit_status clvit_patch_embed_backward(clvit_ctx *ctx, clvit_tensor dw,    /* (D, C, p, p) */
                                        clvit_tensor db, clvit_tensor dcls, /* (D) each */
                                        clvit_tensor ddist, /* (D), T == 2; NULL buffer: none */
                                        clvit_tensor dpos,  /* (N, D); NULL buffer: none */
                                        float beta_w, clvit_tensor dpe, /* (B*P, D) scratch */
                                        clvit_tensor dx,                /* (B, N, D) */
                                        clvit_tensor cols,              /* (B, P, C*p*p) */
                                        int B, int C, int img_size, int patch, int T, int D);

/* dx (B, N, D) = beta * dx + scatter of dpooled (B, D) to token `tok` (or spread evenly over
 * the patch tokens with avg). */
clvit_status clvit_pool_backward(clvit_ctx *ctx, clvit_tensor dx, float beta, /* (B, N, D) */
                                 clvit_tensor dpooled,                        /* (B, D) */
                                 int B, int N, int D, int T, int tok, int avg);

/* ---- reduce.c: out (cols) = beta * out + column sums of x (rows, cols); row r of x starts
 * at x.off + r * ld (ld >= cols). beta == 0 never reads out. */
clvit_status clvit_colsum(clvit_ctx *ctx, clvit_tensor out, float beta, clvit_tensor x, int rows,
                          int cols);
clvit_status clvit_colsum_strided(clvit_ctx *ctx, clvit_tensor out, float beta, clvit_tensor x,
                                  int rows, int cols, int ld);

/* The largest power of two <= want that the device's work-group limit (CLVIT_MAX_WORK_GROUP
 * included) allows: the size of kernels whose work-group size is fixed when they are built. */
static inline size_t clvit_fixed_wgs(const clvit_ctx *ctx, size_t want) {
    const size_t limit = ctx->info.max_work_group_size ? ctx->info.max_work_group_size : want;
    size_t w = 1;
    while (w * 2 <= want && w * 2 <= limit)
        w *= 2;
    return w;
}

#endif
