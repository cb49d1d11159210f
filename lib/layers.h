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

/* ---- layernorm.c */
clvit_status clvit_layernorm_forward(clvit_ctx *ctx, cl_mem out, size_t out_off, /* (R, C) */
                                     cl_mem mean, size_t mean_off, /* (R) */
                                     cl_mem rstd, size_t rstd_off, /* (R) */
                                     cl_mem x, size_t x_off,                    /* (R, C) */
                                     cl_mem p, size_t w_off, size_t b_off,      /* (C) */
                                     int rows, int C);

/* ---- linear.c: y = x W^T (+ epilogue). W is (out, in) in p at w_off. */
typedef enum {
    CLVIT_EPI_NONE,     /* y = x W^T */
    CLVIT_EPI_BIAS,     /* y = x W^T + b */
    CLVIT_EPI_RESIDUAL, /* y = res + x W^T + b */
    CLVIT_EPI_GELU,     /* pre = x W^T + b, y = gelu(pre) */
    CLVIT_EPI_TANH,     /* pre = x W^T + b, y = tanh(pre) */
} clvit_epilogue;
clvit_status clvit_linear_forward(clvit_ctx *ctx, const char *label, clvit_epilogue epi,
                                  cl_mem y, size_t y_off,     /* (rows, out) */
                                  cl_mem pre, size_t pre_off, /* (rows, out) GELU/TANH only */
                                  cl_mem x, size_t x_off,     /* (rows, in) */
                                  cl_mem p, size_t w_off, size_t b_off,
                                  cl_mem res, size_t res_off, /* (rows, out) RESIDUAL only */
                                  int rows, int in, int out);

/* ---- attention.c: everything between the qkv Linear and the proj Linear. */
clvit_status clvit_attention_forward(clvit_ctx *ctx,
                                     cl_mem out, size_t out_off,   /* (B, N, D) merged heads */
                                     cl_mem y, size_t y_off,       /* (B, H, N, hd) */
                                     cl_mem att, size_t att_off,   /* (B, H, N, N) probs */
                                     cl_mem qkvh, size_t qkvh_off, /* (3, B, H, N, hd) */
                                     cl_mem qkv, size_t qkv_off,   /* (B, N, 3D) no bias yet */
                                     cl_mem p, size_t qkv_b_off, int has_bias, float scale,
                                     int B, int N, int H, int hd);

/* ---- patch_embed.c */
clvit_status clvit_patch_embed_forward(clvit_ctx *ctx, cl_mem x, size_t x_off, /* (B, N, D) */
                                       cl_mem pe, size_t pe_off,     /* (B, P, D) */
                                       cl_mem cols, size_t cols_off, /* (B, P, C*p*p) */
                                       cl_mem img, size_t img_off,   /* (B, C, Hi, Wi) */
                                       cl_mem p, size_t w_off, size_t b_off, size_t cls_off,
                                       size_t dist_off, cl_mem pos, size_t pos_off, int B,
                                       int C, int img_size, int patch, int T, int D);

/* ---- head.c */
clvit_status clvit_pool_forward(clvit_ctx *ctx, cl_mem pooled, size_t pooled_off, /* (B, D) */
                                cl_mem x, size_t x_off, /* (B, N, D) */
                                int B, int N, int D, int T, int tok, int avg);
clvit_status clvit_average2(clvit_ctx *ctx, cl_mem out, size_t out_off, cl_mem a, size_t a_off,
                            cl_mem b, size_t b_off, int n);

#endif
