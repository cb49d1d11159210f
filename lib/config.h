/*
 * config.h - what a configuration implies, without OpenCL: the parameter lists (X-macros:
 * names in timm's state_dict order, presence and shapes), shared by config.c (parameter
 * counts) and model.c (the parameter table and arena), and the sizes derived from a
 * configuration (clvit_dims). config.c also holds the presets and the validation.
 */
#ifndef CLVIT_CONFIG_H
#define CLVIT_CONFIG_H

#include "host/common.h"

/* X(field, name, present, ndim, d0, d1, d2, d3). Sizes use the locals of
 * clvit_plan_params: c (config), D, N, C, p, R (representation), K (classes), Hd (mlp hidden),
 * F (features into the head). */
#define CLVIT_TOP_PARAMS(X)                                                                        \
    X(cls_token, "cls_token", 1, 3, 1, 1, D, 0)                                                    \
    X(dist_token, "dist_token", c->distilled, 3, 1, 1, D, 0)                                       \
    X(pos_embed, "pos_embed", c->pos_embed == CLVIT_POS_LEARNED, 3, 1, N, D, 0)                    \
    X(patch_w, "patch_embed.proj.weight", 1, 4, D, C, p, p)                                        \
    X(patch_b, "patch_embed.proj.bias", 1, 1, D, 0, 0, 0)
#define CLVIT_BLOCK_PARAMS(X)                                                                      \
    X(norm1_w, "norm1.weight", 1, 1, D, 0, 0, 0)                                                   \
    X(norm1_b, "norm1.bias", 1, 1, D, 0, 0, 0)                                                     \
    X(qkv_w, "attn.qkv.weight", 1, 2, 3 * D, D, 0, 0)                                              \
    X(qkv_b, "attn.qkv.bias", c->qkv_bias, 1, 3 * D, 0, 0, 0)                                      \
    X(proj_w, "attn.proj.weight", 1, 2, D, D, 0, 0)                                                \
    X(proj_b, "attn.proj.bias", 1, 1, D, 0, 0, 0)                                                  \
    X(norm2_w, "norm2.weight", 1, 1, D, 0, 0, 0)                                                   \
    X(norm2_b, "norm2.bias", 1, 1, D, 0, 0, 0)                                                     \
    X(fc1_w, "mlp.fc1.weight", 1, 2, Hd, D, 0, 0)                                                  \
    X(fc1_b, "mlp.fc1.bias", 1, 1, Hd, 0, 0, 0)                                                    \
    X(fc2_w, "mlp.fc2.weight", 1, 2, D, Hd, 0, 0)                                                  \
    X(fc2_b, "mlp.fc2.bias", 1, 1, D, 0, 0, 0)
#define CLVIT_TAIL_PARAMS(X)                                                                       \
    X(norm_w, "norm.weight", 1, 1, D, 0, 0, 0)                                                     \
    X(norm_b, "norm.bias", 1, 1, D, 0, 0, 0)                                                       \
    X(pre_w, "pre_logits.fc.weight", R > 0, 2, R, D, 0, 0)                                         \
    X(pre_b, "pre_logits.fc.bias", R > 0, 1, R, 0, 0, 0)                                           \
    X(head_w, "head.weight", 1, 2, K, F, 0, 0)                                                     \
    X(head_b, "head.bias", 1, 1, K, 0, 0, 0)                                                       \
    X(hdist_w, "head_dist.weight", c->distilled, 2, K, D, 0, 0)                                    \
    X(hdist_b, "head_dist.bias", c->distilled, 1, K, 0, 0, 0)

/* Sizes derived from the configuration. */
typedef struct clvit_dims {
    int B; /* batch the activations are planned for */
    int C, S, p, g, P, T, N, D, H, hd, Hd, R, F, K, K9;
    float scale;
} clvit_dims;

void clvit_dims_from_config(const clvit_config *cfg, clvit_dims *d);

#endif
