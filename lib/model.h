/*
 * model.h - the model's memory plan, shared by model.c (create, forward), weights.c
 * (safetensors load/save) and the training code. The parameter lists and the sizes derived
 * from a configuration are in config.h (no OpenCL there).
 *
 * Parameters live in an arena (arena.h: as many buffers as the device's allocation limit
 * takes), placed in PyTorch state_dict order; the table of names, shapes and offsets is
 * generated from the X-macro lists below, so each name is written once. Activations live in
 * an arena too: top-level tensors once, then one set per block when training (all blocks
 * share one set at inference, since each block only reads the previous block's output).
 * The offset fields of the structs below are arena offsets (clvit_at turns them into tensor
 * handles); the table's offsets are dense, into one flat host array.
 */
#ifndef CLVIT_MODEL_H
#define CLVIT_MODEL_H

#include "arena.h"
#include "config.h"
#include "layers.h"

/* Activations, X(field, floats) with locals B, N, D, P, K9 (= C*p*p), H, Hd, R, K, TR (1 when
 * planned for training). */
#define CLVIT_TOP_ACTS(X)                                                                          \
    X(img, (size_t)B *C *S *S)                                                                     \
    X(cols, (size_t)B *P *K9)                                                                      \
    X(pe, (size_t)B *P *D)                                                                         \
    X(x0, (size_t)B *N *D)                                                                         \
    X(lnf, (size_t)B *N *D)                                                                        \
    X(lnf_mean, (size_t)B *N)                                                                      \
    X(lnf_rstd, (size_t)B *N)                                                                      \
    X(pooled, (size_t)B *D)                                                                        \
    X(pooled_d, (size_t)B *D)                                                                      \
    X(pre, (size_t)B *R)                                                                           \
    X(feat, (size_t)B *R)                                                                          \
    X(logits, (size_t)B *K)                                                                        \
    X(logits_d, (size_t)B *K)                                                                      \
    X(out, (size_t)B *K)
#define CLVIT_BLOCK_ACTS(X)                                                                        \
    X(ln1, (size_t)B *N *D)                                                                        \
    X(ln1_mean, (size_t)B *N)                                                                      \
    X(ln1_rstd, (size_t)B *N)                                                                      \
    X(qkv, (size_t)B *N * 3 * D)                                                                   \
    X(att, (size_t)B *H *N *N *TR) /* softmax probabilities, TR: planned for training */           \
    X(att_m, (size_t)B *N *D)                                                                      \
    X(xa, (size_t)B *N *D)                                                                         \
    X(ln2, (size_t)B *N *D)                                                                        \
    X(ln2_mean, (size_t)B *N)                                                                      \
    X(ln2_rstd, (size_t)B *N)                                                                      \
    X(fc1, (size_t)B *N *Hd)                                                                       \
    X(gelu, (size_t)B *N *Hd)                                                                      \
    X(xo, (size_t)B *N *D)

#define CLVIT_FIELD(field, ...) size_t field;
typedef struct clvit_top_params {
    CLVIT_TOP_PARAMS(CLVIT_FIELD) CLVIT_TAIL_PARAMS(CLVIT_FIELD)
} clvit_top_params;
typedef struct clvit_block_params {
    CLVIT_BLOCK_PARAMS(CLVIT_FIELD)
} clvit_block_params;
typedef struct clvit_top_acts {
    CLVIT_TOP_ACTS(CLVIT_FIELD)
} clvit_top_acts;
typedef struct clvit_block_acts {
    CLVIT_BLOCK_ACTS(CLVIT_FIELD)
} clvit_block_acts;
#undef CLVIT_FIELD

/* One row of the parameter table. */
typedef struct clvit_param {
    char name[64];
    int ndim;
    int64_t shape[4];
    size_t offset, numel; /* in floats, dense: into one flat host array in table order */
} clvit_param;

struct clvit_model {
    clvit_ctx *ctx;
    clvit_config cfg;
    clvit_dims dims;
    clvit_param *table; /* num_table rows */
    int num_table;
    size_t num_params; /* floats */
    clvit_top_params top;
    clvit_block_params *blocks; /* depth */
    clvit_arena params;
    cl_mem pos_fixed; /* sine-cosine table (N, D) when cfg.pos_embed == SINCOS */
    /* activations, planned for acts_batch images; reallocated when the batch grows */
    clvit_arena acts;
    int acts_batch, acts_training;
    clvit_tensor img_in;   /* when set, the forward reads its images here instead of acts' img
                              (a trainer's zero-copy staging buffer) */
    uint32_t drop_sample0; /* global batch index of the batch's first image, for the dropout
                              masks (clvit_drop.sample0); set by the trainer per step */
    clvit_top_acts a_top;
    clvit_block_acts *a_blocks; /* depth */
};

/* Configuration as safetensors metadata strings (keys and values point into `store`). */
#define CLVIT_META_MAX 48
typedef struct clvit_meta {
    const char *keys[CLVIT_META_MAX];
    const char *values[CLVIT_META_MAX];
    char store[CLVIT_META_MAX][96];
    int n;
} clvit_meta;
void clvit_config_metadata(const clvit_config *cfg, clvit_meta *meta);

/* Builds model->table, ->top, ->blocks, ->num_params from model->cfg. */
clvit_status clvit_plan_params(clvit_model *model);
/* Plans and (re)allocates activations for `batch` images. */
clvit_status clvit_plan_acts(clvit_model *model, int batch, int training);
/* Allocates an empty model (table planned, buffers allocated, contents undefined). */
clvit_status clvit_model_alloc(clvit_ctx *ctx, const clvit_config *cfg, clvit_model **out);
/* Dropout sites, so forward and backward regenerate the same masks. */
#define CLVIT_SITE_POS 1u
#define CLVIT_SITE_BLOCK(l, i)                                                                     \
    (16u + 4u * (uint32_t)(l) + (uint32_t)(i)) /* i: 0 proj, 1 gelu, 2 fc2, 3 attn */
/* Drop-path probability of block l: the seed's linspace(0, rate, depth) rule. */
float clvit_drop_path_prob(const clvit_config *cfg, int l);
/* Forward of a batch already in acts.img; leaves outputs in acts (a_top.out, and for
 * distilled models the two heads in a_top.logits / a_top.logits_d). drop_seed NULL means
 * inference; otherwise dropout and drop-path are active with masks from that seed. */
clvit_status clvit_forward_device(clvit_model *model, int batch, const uint32_t *drop_seed);

#endif
