/*
 * model.c - a ViT on the device: the memory plan (parameter table from the X-macro lists in
 * model.h, activation layout), initialisation with the seed's rules, and the forward pass
 * layer by layer, in three parts: the trunk (patch embedding, blocks, final LayerNorm), the
 * pooling [+ pre-logits] that gives the features, and the head(s). Inference runs it in chunks,
 * from host arrays or in place on the caller's cl_mem (clvit_model_forward_cl, _features_cl).
 * The layers themselves live in their own files (see layers.h).
 */
#include "model.h"
#include "clvit_data.h"
#include "train_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- memory plan */

static void add_param(clvit_model *m, const char *name, int ndim, int64_t d0, int64_t d1,
                      int64_t d2, int64_t d3, size_t *field) {
    clvit_param *t = &m->table[m->num_table++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    int64_t dims[4] = {d0, d1, d2, d3};
    t->numel = 1;
    for (int i = 0; i < 4; i++) {
        t->shape[i] = i < ndim ? dims[i] : 0;
        if (i < ndim) t->numel *= (size_t)dims[i];
    }
    t->offset = m->num_params;
    m->num_params += t->numel;
    /* a LayerNorm kernel takes its weight and bias as one buffer with two offsets */
    const char *dot = strrchr(name, '.');
    if (strstr(name, "norm") && dot && !strcmp(dot, ".weight")) /* the bias follows */
        clvit_arena_keep_together(&m->params, 2 * t->numel);
    *field = clvit_arena_place(&m->params, t->numel);
}

clvit_status clvit_plan_params(clvit_model *m) {
    const clvit_config *c = &m->cfg;
    const clvit_dims *d = &m->dims;
    const int64_t D = d->D, N = d->N, C = d->C, p = d->p, R = d->R, K = d->K, Hd = d->Hd, F = d->F;
    int rows = 0;
#define COUNT_ROW(field, name, present, ...) rows += (present) ? 1 : 0;
    CLVIT_TOP_PARAMS(COUNT_ROW)
    CLVIT_TAIL_PARAMS(COUNT_ROW)
    int block_rows = 0;
    {
        int before = rows;
        CLVIT_BLOCK_PARAMS(COUNT_ROW)
        block_rows = rows - before;
        rows = before;
    }
#undef COUNT_ROW
    rows += block_rows * c->depth;
    m->table = calloc((size_t)rows, sizeof *m->table);
    m->blocks = calloc((size_t)(c->depth > 0 ? c->depth : 1), sizeof *m->blocks);
    if (!m->table || !m->blocks) return clvit_fail(CLVIT_ERR_NOMEM, "parameter table");
    m->num_table = 0;
    m->num_params = 0;
    clvit_arena_begin(&m->params, "parameters", clvit_arena_cap(m->ctx));
    /* absent tensors get offset 0 and are never read. The patch embedding's kernel takes
     * the conv bias and the class and distillation tokens as one buffer. */
    size_t top = 0;
#define SUM_TOP(field, name, present, ndim, d0, d1, d2, d3)                                        \
    if (present)                                                                                   \
        top += (size_t)(d0) * ((ndim) > 1 ? (size_t)(d1) : 1) * ((ndim) > 2 ? (size_t)(d2) : 1) *  \
               ((ndim) > 3 ? (size_t)(d3) : 1);
    CLVIT_TOP_PARAMS(SUM_TOP)
#undef SUM_TOP
    clvit_arena_keep_together(&m->params, top);
#define ADD_TOP(field, name, present, ndim, d0, d1, d2, d3)                                        \
    if (present) add_param(m, name, ndim, d0, d1, d2, d3, &m->top.field);
    CLVIT_TOP_PARAMS(ADD_TOP)
    for (int l = 0; l < c->depth; l++) {
        char full[64];
#define ADD_BLOCK(field, name, present, ndim, d0, d1, d2, d3)                                      \
    if (present) {                                                                                 \
        snprintf(full, sizeof full, "blocks.%d.%s", l, name);                                      \
        add_param(m, full, ndim, d0, d1, d2, d3, &m->blocks[l].field);                             \
    }
        CLVIT_BLOCK_PARAMS(ADD_BLOCK)
#undef ADD_BLOCK
    }
    CLVIT_TAIL_PARAMS(ADD_TOP)
#undef ADD_TOP
    (void)F;
    return CLVIT_SUCCESS;
}

clvit_status clvit_plan_acts(clvit_model *m, int batch, int training) {
    if (m->acts.bufs && m->acts_batch >= batch && m->acts_training == training)
        return CLVIT_SUCCESS;
    const clvit_dims *d = &m->dims;
    const int B = batch, N = d->N, D = d->D, P = d->P, K9 = d->K9, H = d->H, Hd = d->Hd, R = d->R,
              K = d->K, C = d->C, S = d->S;
    const int TR = training; /* the attention probabilities are kept for the backward */
    const int depth = m->cfg.depth;
    clvit_block_acts *blocks = calloc((size_t)(depth > 0 ? depth : 1), sizeof *blocks);
    if (!blocks) return clvit_fail(CLVIT_ERR_NOMEM, "activation plan");
    clvit_arena *a = &m->acts;
    clvit_arena_begin(a, "activations", clvit_arena_cap(m->ctx));
#define PLACE_TOP(field, floats) m->a_top.field = clvit_arena_place(a, (floats));
    CLVIT_TOP_ACTS(PLACE_TOP)
#undef PLACE_TOP
    /* inference: every block reuses the first block's tensors */
    for (int l = 0; l < (training ? depth : depth > 0 ? 1 : 0); l++) {
#define PLACE_BLOCK(field, floats) blocks[l].field = clvit_arena_place(a, (floats));
        CLVIT_BLOCK_ACTS(PLACE_BLOCK)
#undef PLACE_BLOCK
    }
    for (int l = training ? depth : 1; l < depth; l++)
        blocks[l] = blocks[0];
    free(m->a_blocks);
    m->a_blocks = blocks;
    m->acts_batch = 0;
    clvit_status st = clvit_arena_alloc(m->ctx, a);
    if (st != CLVIT_SUCCESS) { /* no half-allocated plan stays (the next call plans again) */
        clvit_arena_release(a);
        m->acts_training = 0;
        return st;
    }
    m->acts_batch = batch;
    m->acts_training = training;
    return CLVIT_SUCCESS;
}

/* MAE's get_2d_sincos_pos_embed: half the channels encode the column, half the row, each as
 * [sin(pos * w_k), cos(pos * w_k)], w_k = 10000^(-k / (D/4)); prefix-token rows are zero. */
static void sincos_table(float *out, int g, int T, int D) {
    memset(out, 0, (size_t)(T + g * g) * D * sizeof *out);
    const int quarter = D / 4;
    for (int i = 0; i < g; i++) {
        for (int j = 0; j < g; j++) {
            float *row = out + (size_t)(T + i * g + j) * D;
            for (int k = 0; k < quarter; k++) {
                double w = 1.0 / pow(10000.0, (double)k / quarter);
                row[k] = (float)sin(j * w);
                row[quarter + k] = (float)cos(j * w);
                row[2 * quarter + k] = (float)sin(i * w);
                row[3 * quarter + k] = (float)cos(i * w);
            }
        }
    }
}

clvit_status clvit_model_alloc(clvit_ctx *ctx, const clvit_config *cfg, clvit_model **out) {
    if (!ctx || !cfg || !out) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_model: NULL");
    *out = NULL;
    CLVIT_CHECK(clvit_config_validate(cfg));
    if (cfg->pos_embed == CLVIT_POS_SINCOS && cfg->embed_dim % 4)
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "config: sine-cosine position embedding needs embed_dim %% 4 == 0");
    clvit_model *m = calloc(1, sizeof *m);
    if (!m) return clvit_fail(CLVIT_ERR_NOMEM, "model");
    m->ctx = ctx;
    m->cfg = *cfg;
    clvit_dims_from_config(cfg, &m->dims);
    clvit_status st = clvit_plan_params(m);
    if (st == CLVIT_SUCCESS) st = clvit_arena_alloc(ctx, &m->params);
    if (st == CLVIT_SUCCESS && cfg->pos_embed == CLVIT_POS_SINCOS) {
        const clvit_dims *d = &m->dims;
        size_t n = (size_t)d->N * d->D;
        float *tab = malloc(n * sizeof *tab);
        if (!tab) st = clvit_fail(CLVIT_ERR_NOMEM, "sincos table");
        if (st == CLVIT_SUCCESS) {
            sincos_table(tab, d->g, d->T, d->D);
            st = clvit_buffer(ctx, n, &m->pos_fixed);
            if (st == CLVIT_SUCCESS) st = clvit_write(ctx, m->pos_fixed, 0, tab, n);
        }
        free(tab);
    }
    if (st != CLVIT_SUCCESS) {
        clvit_model_free(m);
        return st;
    }
    *out = m;
    return CLVIT_SUCCESS;
}

void clvit_model_free(clvit_model *m) {
    if (!m) return;
    clvit_arena_release(&m->params);
    if (m->pos_fixed) clReleaseMemObject(m->pos_fixed);
    clvit_arena_release(&m->acts);
    free(m->table);
    free(m->blocks);
    free(m->a_blocks);
    free(m);
}

const clvit_config *clvit_model_config(const clvit_model *m) {
    return m ? &m->cfg : NULL;
}

/* ---------------------------------------------------------------- initialisation */

static double normal01(uint64_t *s) {
    double u1 = ((clvit_rng_next(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (clvit_rng_next(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* The seed's _init_vit_weights: Linear weights trunc_normal(std 0.01) and zero bias; conv
 * weight kaiming_normal(fan_out) and zero bias; LayerNorm ones and zeros; tokens and learned
 * position embedding trunc_normal(std 0.02). trunc_normal cuts at +-2 (absolute), as torch. */
static void init_param(const clvit_param *t, float *w, uint64_t *rng, int patch_fan_out) {
    const char *n = t->name;
    size_t len = strlen(n);
    int is_bias = len >= 5 && !strcmp(n + len - 5, ".bias");
    int is_norm = strstr(n, "norm") != NULL;
    double std = 0.0, fill = 0.0;
    if (!strcmp(n, "patch_embed.proj.weight"))
        std = sqrt(2.0 / patch_fan_out);
    else if (is_norm)
        fill = is_bias ? 0.0 : 1.0;
    else if (is_bias)
        fill = 0.0;
    else if (!strcmp(n, "cls_token") || !strcmp(n, "dist_token") || !strcmp(n, "pos_embed"))
        std = 0.02;
    else
        std = 0.01;
    for (size_t i = 0; i < t->numel; i++) {
        if (std == 0.0) {
            w[i] = (float)fill;
            continue;
        }
        double v;
        do
            v = normal01(rng) * std;
        while (strcmp(n, "patch_embed.proj.weight") && fabs(v) > 2.0);
        w[i] = (float)v;
    }
}

clvit_status clvit_model_create(clvit_ctx *ctx, const clvit_config *cfg, uint64_t seed,
                                clvit_model **out) {
    clvit_model *m;
    CLVIT_CHECK(clvit_model_alloc(ctx, cfg, &m));
    float *host = malloc(m->num_params * sizeof *host);
    if (!host) {
        const size_t n = m->num_params;
        clvit_model_free(m);
        return clvit_fail(CLVIT_ERR_NOMEM, "parameters (%zu floats)", n);
    }
    uint64_t rng = seed ^ 0x5eedc1a5f00dULL;
    for (int i = 0; i < m->num_table; i++)
        init_param(&m->table[i], host + m->table[i].offset, &rng,
                   m->dims.D * m->dims.p * m->dims.p);
    clvit_status st = clvit_arena_write(ctx, &m->params, 0, host, m->num_params);
    free(host);
    if (st != CLVIT_SUCCESS) {
        clvit_model_free(m);
        return st;
    }
    *out = m;
    return CLVIT_SUCCESS;
}

clvit_status clvit_model_set_dropout(clvit_model *m, float drop_rate, float attn_drop_rate,
                                     float drop_path_rate) {
    if (!m || !(drop_rate >= 0.0f && drop_rate < 1.0f) ||
        !(attn_drop_rate >= 0.0f && attn_drop_rate < 1.0f) ||
        !(drop_path_rate >= 0.0f && drop_path_rate < 1.0f))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "dropout rates must be in [0, 1)");
    m->cfg.drop_rate = drop_rate;
    m->cfg.attn_drop_rate = attn_drop_rate;
    m->cfg.drop_path_rate = drop_path_rate;
    return CLVIT_SUCCESS;
}

clvit_status clvit_model_reset_head(clvit_model **model, int num_classes) {
    if (!model || !*model || num_classes < 1)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "reset_head: bad arguments (%d classes)",
                          num_classes);
    clvit_model *old = *model;
    clvit_config cfg = old->cfg;
    cfg.num_classes = num_classes;
    cfg.representation_size = 0;
    clvit_model *m;
    CLVIT_CHECK(clvit_model_alloc(old->ctx, &cfg, &m));
    clvit_status st = clvit_arena_fill(m->ctx, &m->params, 0.0f);
    for (int i = 0; !st && i < m->num_table; i++) {
        const clvit_param *p = &m->table[i];
        if (!strncmp(p->name, "head", 4)) continue; /* head.* and head_dist.*: zeros */
        for (int j = 0; j < old->num_table; j++) {
            if (strcmp(old->table[j].name, p->name)) continue;
            const clvit_tensor from =
                clvit_at(&old->params, clvit_arena_from_dense(&old->params, old->table[j].offset));
            const clvit_tensor to =
                clvit_at(&m->params, clvit_arena_from_dense(&m->params, p->offset));
            st = clvit_fault(m->ctx, CLVIT_FAULT_WRITE, "clEnqueueCopyBuffer(%s)", p->name);
            const cl_int e =
                st ? CL_SUCCESS
                   : clEnqueueCopyBuffer(m->ctx->queue, from.buf, to.buf, from.off * sizeof(float),
                                         to.off * sizeof(float), p->numel * sizeof(float), 0, NULL,
                                         NULL);
            if (e != CL_SUCCESS) st = clvit_fail(e, "reset_head: copying %s", p->name);
            break;
        }
    }
    if (!st) st = clvit_ctx_finish(m->ctx);
    if (st) {
        clvit_model_free(m);
        return st;
    }
    clvit_model_free(old);
    *model = m;
    return CLVIT_SUCCESS;
}

/* ---------------------------------------------------------------- forward */

float clvit_drop_path_prob(const clvit_config *cfg, int l) {
    if (cfg->depth <= 1) return 0.0f;
    return cfg->drop_path_rate * (float)l / (float)(cfg->depth - 1);
}

/* Tensor handles from the arena offsets of the parameter and activation plans. */
#define PT(off) clvit_at(&m->params, (off))
#define AT(off) clvit_at(&m->acts, (off))

/* A residual branch y = res + drop(x W^T + b), one launch when nothing is dropped, followed by
 * the LayerNorm *ln of y (fused into the same launch where that measured faster). */
static clvit_status branch(clvit_model *m, const char *label, const clvit_drop *drop, size_t y,
                           size_t x, size_t w, size_t b, size_t res, int rows, int in, int out,
                           size_t per_sample, const clvit_ln_out *ln) {
    if (!drop || (drop->p_drop <= 0.0f && drop->p_path <= 0.0f))
        return clvit_linear_forward_ln(m->ctx, label, AT(y), AT(res), AT(x), PT(w), PT(b), rows, in,
                                       out, ln);
    CLVIT_CHECK(clvit_linear_forward(m->ctx, label, CLVIT_EPI_BIAS, AT(y), CLVIT_T(NULL, 0), AT(x),
                                     PT(w), PT(b), rows, in, out));
    CLVIT_CHECK(
        clvit_dropout_residual(m->ctx, AT(y), AT(res), (size_t)rows * out, per_sample, drop));
    return clvit_layernorm_forward(m->ctx, ln->out, ln->mean, ln->rstd, AT(y), ln->w, ln->b, rows,
                                   out);
}

/* The LayerNorm outputs (activation offsets) and parameters (parameter offsets) of a branch. */
static clvit_ln_out ln_of(clvit_model *m, size_t out, size_t mean, size_t rstd, size_t w,
                          size_t b) {
    return (clvit_ln_out){AT(out), AT(mean), AT(rstd), PT(w), PT(b), 0, 0.0f};
}

/* The LayerNorm that block l's input goes through: its norm1, or with l == depth the final
 * norm. */
static clvit_ln_out ln_before(clvit_model *m, int l) {
    if (l == m->cfg.depth)
        return ln_of(m, m->a_top.lnf, m->a_top.lnf_mean, m->a_top.lnf_rstd, m->top.norm_w,
                     m->top.norm_b);
    const clvit_block_acts *ba = &m->a_blocks[l];
    return ln_of(m, ba->ln1, ba->ln1_mean, ba->ln1_rstd, m->blocks[l].norm1_w,
                 m->blocks[l].norm1_b);
}

/* Patch embedding, the blocks and the final LayerNorm: leaves (B, N, D) in a_top.lnf. */
static clvit_status forward_trunk(clvit_model *m, int B, const uint32_t *drop_seed) {
    clvit_ctx *ctx = m->ctx;
    const clvit_dims *d = &m->dims;
    const clvit_top_params *tp = &m->top;
    const clvit_top_acts *ta = &m->a_top;
    const int BN = B * d->N;
    const clvit_tensor pos = m->pos_fixed ? CLVIT_T(m->pos_fixed, 0) : PT(tp->pos_embed);
    CLVIT_CHECK(clvit_patch_embed_forward(ctx, AT(ta->x0), AT(ta->pe), AT(ta->cols),
                                          m->img_in.buf ? m->img_in : AT(ta->img), PT(tp->patch_w),
                                          PT(tp->patch_b), PT(tp->cls_token), PT(tp->dist_token),
                                          pos, B, d->C, d->S, d->p, d->T, d->D));
    const size_t per_sample = (size_t)d->N * d->D;
    clvit_drop drop = {m->cfg.drop_rate, 0.0f, drop_seed ? *drop_seed : 0u, CLVIT_SITE_POS,
                       m->drop_sample0};
    if (drop_seed)
        CLVIT_CHECK(clvit_dropout_apply(ctx, AT(ta->x0), (size_t)BN * d->D, per_sample, &drop));
    /* each later block's first LayerNorm comes out of the previous block's fc2 branch, the
     * final one out of the last block's */
    const clvit_ln_out first = ln_before(m, 0);
    CLVIT_CHECK(clvit_layernorm_forward(ctx, first.out, first.mean, first.rstd, AT(ta->x0), first.w,
                                        first.b, BN, d->D));
    for (int l = 0; l < m->cfg.depth; l++) {
        const clvit_block_params *bp = &m->blocks[l];
        const clvit_block_acts *ba = &m->a_blocks[l];
        CLVIT_CHECK(clvit_linear_forward(ctx, "qkv", CLVIT_EPI_NONE, AT(ba->qkv), CLVIT_T(NULL, 0),
                                         AT(ba->ln1), PT(bp->qkv_w), PT(0), BN, d->D, 3 * d->D));
        clvit_drop attn_d = {m->cfg.attn_drop_rate, 0.0f, drop.seed, CLVIT_SITE_BLOCK(l, 3),
                             m->drop_sample0};
        /* activations planned for training keep the probabilities for the backward */
        CLVIT_CHECK(clvit_attention_forward(ctx, AT(ba->att_m),
                                            m->acts_training ? AT(ba->att) : CLVIT_T(NULL, 0),
                                            AT(ba->qkv), PT(bp->qkv_b), m->cfg.qkv_bias, d->scale,
                                            B, d->N, d->H, d->hd, drop_seed ? &attn_d : NULL));
        drop.p_path = clvit_drop_path_prob(&m->cfg, l);
        drop.site = CLVIT_SITE_BLOCK(l, 0);
        const clvit_ln_out ln2 =
            ln_of(m, ba->ln2, ba->ln2_mean, ba->ln2_rstd, bp->norm2_w, bp->norm2_b);
        CLVIT_CHECK(branch(m, "proj", drop_seed ? &drop : NULL, ba->xa, ba->att_m, bp->proj_w,
                           bp->proj_b, l ? m->a_blocks[l - 1].xo : ta->x0, BN, d->D, d->D,
                           per_sample, &ln2));
        CLVIT_CHECK(clvit_linear_forward(ctx, "fc1", CLVIT_EPI_GELU, AT(ba->gelu), AT(ba->fc1),
                                         AT(ba->ln2), PT(bp->fc1_w), PT(bp->fc1_b), BN, d->D,
                                         d->Hd));
        if (drop_seed) { /* Mlp's dropout after GELU: element-wise only */
            clvit_drop gd = {m->cfg.drop_rate, 0.0f, drop.seed, CLVIT_SITE_BLOCK(l, 1),
                             m->drop_sample0};
            CLVIT_CHECK(clvit_dropout_apply(ctx, AT(ba->gelu), (size_t)BN * d->Hd,
                                            (size_t)d->N * d->Hd, &gd));
        }
        drop.site = CLVIT_SITE_BLOCK(l, 2);
        const clvit_ln_out next = ln_before(m, l + 1);
        CLVIT_CHECK(branch(m, "fc2", drop_seed ? &drop : NULL, ba->xo, ba->gelu, bp->fc2_w,
                           bp->fc2_b, ba->xa, BN, d->Hd, d->D, per_sample, &next));
    }
    return CLVIT_SUCCESS;
}

/* The head's input from a_top.lnf: the pooled token (and the pre-logits Linear + tanh)
 * into *feat (an activation arena offset, (B, F)); distilled models also pool the
 * distillation token into a_top.pooled_d (B, D). */
static clvit_status forward_pool(clvit_model *m, int B, size_t *feat) {
    clvit_ctx *ctx = m->ctx;
    const clvit_dims *d = &m->dims;
    const clvit_top_params *tp = &m->top;
    const clvit_top_acts *ta = &m->a_top;
    const int avg = m->cfg.pool == CLVIT_POOL_AVG;
    CLVIT_CHECK(clvit_pool_forward(ctx, AT(ta->pooled), AT(ta->lnf), B, d->N, d->D, d->T, 0, avg));
    *feat = ta->pooled;
    if (d->R > 0) {
        CLVIT_CHECK(clvit_linear_forward(ctx, "pre_logits", CLVIT_EPI_TANH, AT(ta->feat),
                                         AT(ta->pre), AT(ta->pooled), PT(tp->pre_w), PT(tp->pre_b),
                                         B, d->D, d->R));
        *feat = ta->feat;
    }
    if (m->cfg.distilled)
        CLVIT_CHECK(
            clvit_pool_forward(ctx, AT(ta->pooled_d), AT(ta->lnf), B, d->N, d->D, d->T, 1, 0));
    return CLVIT_SUCCESS;
}

clvit_status clvit_forward_device(clvit_model *m, int B, const uint32_t *drop_seed) {
    clvit_ctx *ctx = m->ctx;
    const clvit_dims *d = &m->dims;
    const clvit_top_params *tp = &m->top;
    const clvit_top_acts *ta = &m->a_top;
    size_t feat;
    CLVIT_CHECK(forward_trunk(m, B, drop_seed));
    CLVIT_CHECK(forward_pool(m, B, &feat));
    if (!m->cfg.distilled)
        return clvit_linear_forward(ctx, "head", CLVIT_EPI_BIAS, AT(ta->out), CLVIT_T(NULL, 0),
                                    AT(feat), PT(tp->head_w), PT(tp->head_b), B, d->F, d->K);
    CLVIT_CHECK(clvit_linear_forward(ctx, "head", CLVIT_EPI_BIAS, AT(ta->logits), CLVIT_T(NULL, 0),
                                     AT(feat), PT(tp->head_w), PT(tp->head_b), B, d->F, d->K));
    CLVIT_CHECK(clvit_linear_forward(ctx, "head_dist", CLVIT_EPI_BIAS, AT(ta->logits_d),
                                     CLVIT_T(NULL, 0), AT(ta->pooled_d), PT(tp->hdist_w),
                                     PT(tp->hdist_b), B, d->D, d->K));
    return clvit_average2(ctx, AT(ta->out), AT(ta->logits), AT(ta->logits_d), B * d->K);
}

/* Images per device pass at inference: activations near 512 MiB in all, and no one tensor
 * larger than the device's largest allocation (the arena splits the rest over buffers). */
static int inference_chunk(const clvit_model *m, int batch) {
    const clvit_dims *d = &m->dims;
    double per_image =
        (double)d->N * (d->D * 12.0 + d->Hd * 2.0) + (double)d->C * d->S * d->S * 2.0 + 8.0 * d->K;
    double largest = fmax(fmax((double)d->N * d->Hd, 3.0 * d->N * d->D),
                          fmax((double)d->P * d->K9, (double)d->C * d->S * d->S));
    double budget = 512.0 * 1048576.0 / sizeof(float);
    int chunk = (int)fmin(budget / per_image, (double)clvit_arena_cap(m->ctx) / largest);
    if (chunk < 1) chunk = 1;
    return chunk < batch ? chunk : batch;
}

/* Where an inference pass reads its images and writes its outputs: host arrays or the
 * caller's device buffers (one of each pair set), and which output (logits or features). */
typedef struct pass_io {
    const float *host_in;
    cl_mem dev_in;
    float *host_out;
    cl_mem dev_out;
    int features;
} pass_io;

/* rows x width floats from src (rows contiguous) to the output at dense float offset `off`,
 * whose rows are `pitch` floats apart. Host outputs are read blocking; device outputs are
 * enqueued copies. */
static clvit_status copy_rows(clvit_model *m, const pass_io *io, clvit_tensor src, int rows,
                              int width, size_t pitch, size_t off) {
    clvit_ctx *ctx = m->ctx;
    const size_t n = (size_t)rows * width, fs = sizeof(float);
    if (n == 0) return CLVIT_SUCCESS;
    if (pitch == (size_t)width && io->host_out)
        return clvit_read(ctx, src.buf, src.off, io->host_out + off, n);
    const size_t src_origin[3] = {src.off * fs, 0, 0}, dst_origin[3] = {off * fs, 0, 0};
    const size_t region[3] = {(size_t)width * fs, (size_t)rows, 1};
    if (io->host_out) {
        CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_READ, "clEnqueueReadBufferRect"));
        CLVIT_CHECK_CL(clEnqueueReadBufferRect(ctx->queue, src.buf, CL_TRUE, src_origin, dst_origin,
                                               region, (size_t)width * fs, 0, pitch * fs, 0,
                                               io->host_out, 0, NULL, NULL));
        return CLVIT_SUCCESS;
    }
    CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_WRITE, "clEnqueueCopyBuffer"));
    if (pitch == (size_t)width)
        CLVIT_CHECK_CL(clEnqueueCopyBuffer(ctx->queue, src.buf, io->dev_out, src.off * fs, off * fs,
                                           n * fs, 0, NULL, NULL));
    else
        CLVIT_CHECK_CL(clEnqueueCopyBufferRect(ctx->queue, src.buf, io->dev_out, src_origin,
                                               dst_origin, region, (size_t)width * fs, 0,
                                               pitch * fs, 0, 0, NULL, NULL));
    return CLVIT_SUCCESS;
}

/* A caller's buffer: of the model's OpenCL context, and at least `floats` long. */
static clvit_status check_user_buffer(const clvit_model *m, cl_mem buf, size_t floats,
                                      const char *fn, const char *what) {
    if (!buf) return clvit_fail(CLVIT_ERR_INVALID_ARG, "%s: %s is NULL", fn, what);
    cl_context c = NULL;
    size_t bytes = 0;
    CLVIT_CHECK_CL(clGetMemObjectInfo(buf, CL_MEM_CONTEXT, sizeof c, &c, NULL));
    CLVIT_CHECK_CL(clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof bytes, &bytes, NULL));
    if (c != m->ctx->context)
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "%s: %s belongs to another OpenCL context than the model's", fn, what);
    if (bytes / sizeof(float) < floats)
        return clvit_fail(CLVIT_ERR_SHAPE, "%s: %s holds %zu bytes, the batch needs %zu", fn, what,
                          bytes, floats * sizeof(float));
    return CLVIT_SUCCESS;
}

/* One chunk: images in (uploaded, or read in place from the caller's buffer), the pass,
 * the outputs out. */
static clvit_status run_chunk(clvit_model *m, const pass_io *io, int b0, int nb) {
    const clvit_dims *d = &m->dims;
    const clvit_top_acts *ta = &m->a_top;
    const size_t img_floats = (size_t)d->C * d->S * d->S;
    if (io->host_in) {
        const clvit_tensor img = AT(ta->img);
        CLVIT_CHECK(clvit_write(m->ctx, img.buf, img.off, io->host_in + (size_t)b0 * img_floats,
                                (size_t)nb * img_floats));
    }
    if (!io->features) {
        CLVIT_CHECK(clvit_forward_device(m, nb, NULL));
        return copy_rows(m, io, AT(ta->out), nb, d->K, (size_t)d->K, (size_t)b0 * d->K);
    }
    size_t feat;
    CLVIT_CHECK(forward_trunk(m, nb, NULL));
    CLVIT_CHECK(forward_pool(m, nb, &feat));
    if (!m->cfg.distilled)
        return copy_rows(m, io, AT(feat), nb, d->F, (size_t)d->F, (size_t)b0 * d->F);
    const size_t pitch = 2 * (size_t)d->D;
    CLVIT_CHECK(copy_rows(m, io, AT(ta->pooled), nb, d->D, pitch, (size_t)b0 * pitch));
    return copy_rows(m, io, AT(ta->pooled_d), nb, d->D, pitch, (size_t)b0 * pitch + d->D);
}

static clvit_status run_pass(clvit_model *m, int batch, const pass_io *io, const char *fn) {
    if (!m || batch <= 0 || !(io->host_in || io->dev_in) || !(io->host_out || io->dev_out))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "%s: bad arguments (batch %d)", fn, batch);
    const clvit_dims *d = &m->dims;
    const size_t img_floats = (size_t)d->C * d->S * d->S;
    const size_t out_per = io->features ? (size_t)clvit_model_feature_dim(m) : (size_t)d->K;
    if (io->dev_in)
        CLVIT_CHECK(check_user_buffer(m, io->dev_in, (size_t)batch * img_floats, fn, "images"));
    if (io->dev_out)
        CLVIT_CHECK(check_user_buffer(m, io->dev_out, (size_t)batch * out_per, fn,
                                      io->features ? "features" : "logits"));
    int chunk = inference_chunk(m, batch);
    /* a trainer's activations already fit acts_batch images: reuse them, no reallocation */
    if (m->acts.bufs && m->acts_training && chunk > m->acts_batch) chunk = m->acts_batch;
    CLVIT_CHECK(clvit_plan_acts(m, chunk, m->acts_training));
    clvit_status st = CLVIT_SUCCESS;
    for (int b0 = 0; !st && b0 < batch; b0 += chunk) {
        int nb = batch - b0 < chunk ? batch - b0 : chunk;
        /* images read in place from the caller's buffer, else uploaded into acts */
        m->img_in = io->dev_in ? CLVIT_T(io->dev_in, (size_t)b0 * img_floats) : CLVIT_T(NULL, 0);
        st = run_chunk(m, io, b0, nb);
        m->img_in = CLVIT_T(NULL, 0);
    }
    return st;
}

clvit_status clvit_model_forward(clvit_model *m, const float *images, int batch, float *logits) {
    const pass_io io = {images, NULL, logits, NULL, 0};
    return run_pass(m, batch, &io, "clvit_model_forward");
}

clvit_status clvit_model_forward_cl(clvit_model *m, cl_mem images, int batch, cl_mem logits) {
    const pass_io io = {NULL, images, NULL, logits, 0};
    return run_pass(m, batch, &io, "clvit_model_forward_cl");
}

int clvit_model_feature_dim(const clvit_model *m) {
    if (!m) return 0;
    return m->cfg.distilled ? 2 * m->dims.D : m->dims.F;
}

clvit_status clvit_model_features(clvit_model *m, const float *images, int batch, float *features) {
    const pass_io io = {images, NULL, features, NULL, 1};
    return run_pass(m, batch, &io, "clvit_model_features");
}

clvit_status clvit_model_features_cl(clvit_model *m, cl_mem images, int batch, cl_mem features) {
    const pass_io io = {NULL, images, NULL, features, 1};
    return run_pass(m, batch, &io, "clvit_model_features_cl");
}
