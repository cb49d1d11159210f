/*
 * model.c - a ViT on the device: the memory plan (parameter table from the X-macro lists in
 * model.h, activation layout), initialisation with the seed's rules, and the forward pass
 * layer by layer. The layers themselves live in their own files (see layers.h).
 */
#include "model.h"
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
    *field = t->offset;
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
    /* absent tensors get offset 0 and are never read */
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
    if (m->acts && m->acts_batch >= batch && m->acts_training == training) return CLVIT_SUCCESS;
    const clvit_dims *d = &m->dims;
    const int B = batch, N = d->N, D = d->D, P = d->P, K9 = d->K9, H = d->H, Hd = d->Hd, R = d->R,
              K = d->K, C = d->C, S = d->S;
    const int TR = training; /* the attention probabilities are kept for the backward */
    const int depth = m->cfg.depth;
    size_t off = 0;
#define PLACE_TOP(field, floats)                                                                   \
    m->a_top.field = off;                                                                          \
    off += (floats);
    CLVIT_TOP_ACTS(PLACE_TOP)
#undef PLACE_TOP
    clvit_block_acts *blocks = calloc((size_t)(depth > 0 ? depth : 1), sizeof *blocks);
    if (!blocks) return clvit_fail(CLVIT_ERR_NOMEM, "activation plan");
    const size_t block_base = off;
    for (int l = 0; l < depth; l++) {
        /* inference: every block reuses the first block's tensors */
        if (!training) off = block_base;
#define PLACE_BLOCK(field, floats)                                                                 \
    blocks[l].field = off;                                                                         \
    off += (floats);
        CLVIT_BLOCK_ACTS(PLACE_BLOCK)
#undef PLACE_BLOCK
    }
    if (m->acts) clReleaseMemObject(m->acts);
    m->acts = NULL;
    free(m->a_blocks);
    m->a_blocks = blocks;
    m->acts_batch = 0;
    clvit_status st = clvit_buffer(m->ctx, off, &m->acts);
    if (st != CLVIT_SUCCESS) return st;
    m->acts_floats = off;
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
    if (st == CLVIT_SUCCESS) st = clvit_buffer(ctx, m->num_params, &m->params);
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
    if (m->params) clReleaseMemObject(m->params);
    if (m->pos_fixed) clReleaseMemObject(m->pos_fixed);
    if (m->acts) clReleaseMemObject(m->acts);
    free(m->table);
    free(m->blocks);
    free(m->a_blocks);
    free(m);
}

const clvit_config *clvit_model_config(const clvit_model *m) {
    return m ? &m->cfg : NULL;
}

/* ---------------------------------------------------------------- initialisation */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double normal01(uint64_t *s) {
    double u1 = ((splitmix64(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (splitmix64(s) >> 11) / 9007199254740992.0;
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
        clvit_model_free(m);
        return clvit_fail(CLVIT_ERR_NOMEM, "parameters (%zu floats)", m->num_params);
    }
    uint64_t rng = seed ^ 0x5eedc1a5f00dULL;
    for (int i = 0; i < m->num_table; i++)
        init_param(&m->table[i], host + m->table[i].offset, &rng,
                   m->dims.D * m->dims.p * m->dims.p);
    clvit_status st = clvit_write(ctx, m->params, 0, host, m->num_params);
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
    clvit_status st = clvit_fill(m->ctx, m->params, 0, 0.0f, m->num_params);
    for (int i = 0; !st && i < m->num_table; i++) {
        const clvit_param *p = &m->table[i];
        if (!strncmp(p->name, "head", 4)) continue; /* head.* and head_dist.*: zeros */
        for (int j = 0; j < old->num_table; j++) {
            if (strcmp(old->table[j].name, p->name)) continue;
            cl_int e = clEnqueueCopyBuffer(
                m->ctx->queue, old->params, m->params, old->table[j].offset * sizeof(float),
                p->offset * sizeof(float), p->numel * sizeof(float), 0, NULL, NULL);
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

/* A residual branch y = res + drop(x W^T + b): fused when nothing is dropped. */
static clvit_status branch(clvit_model *m, const char *label, const clvit_drop *drop, cl_mem A,
                           size_t y, size_t x, size_t w, size_t b, size_t res, int rows, int in,
                           int out, size_t per_sample) {
    if (!drop || (drop->p_drop <= 0.0f && drop->p_path <= 0.0f))
        return clvit_linear_forward(m->ctx, label, CLVIT_EPI_RESIDUAL, CLVIT_T(A, y),
                                    CLVIT_T(A, res), CLVIT_T(A, x), CLVIT_T(m->params, w),
                                    CLVIT_T(m->params, b), rows, in, out);
    CLVIT_CHECK(clvit_linear_forward(m->ctx, label, CLVIT_EPI_BIAS, CLVIT_T(A, y), CLVIT_T(NULL, 0),
                                     CLVIT_T(A, x), CLVIT_T(m->params, w), CLVIT_T(m->params, b),
                                     rows, in, out));
    return clvit_dropout_residual(m->ctx, A, y, A, res, (size_t)rows * out, per_sample, drop);
}

clvit_status clvit_forward_device(clvit_model *m, int B, const uint32_t *drop_seed) {
    clvit_ctx *ctx = m->ctx;
    const clvit_dims *d = &m->dims;
    const clvit_top_params *tp = &m->top;
    const clvit_top_acts *ta = &m->a_top;
    cl_mem P = m->params, A = m->acts;
    const int BN = B * d->N;
    cl_mem pos = m->pos_fixed ? m->pos_fixed : P;
    size_t pos_off = m->pos_fixed ? 0 : tp->pos_embed;
    CLVIT_CHECK(clvit_patch_embed_forward(
        ctx, CLVIT_T(A, ta->x0), CLVIT_T(A, ta->pe), CLVIT_T(A, ta->cols), CLVIT_T(A, ta->img),
        CLVIT_T(P, tp->patch_w), CLVIT_T(P, tp->patch_b), CLVIT_T(P, tp->cls_token),
        CLVIT_T(P, tp->dist_token), CLVIT_T(pos, pos_off), B, d->C, d->S, d->p, d->T, d->D));
    const size_t per_sample = (size_t)d->N * d->D;
    clvit_drop drop = {m->cfg.drop_rate, 0.0f, drop_seed ? *drop_seed : 0u, CLVIT_SITE_POS};
    if (drop_seed)
        CLVIT_CHECK(clvit_dropout_apply(ctx, A, ta->x0, (size_t)BN * d->D, per_sample, &drop));
    size_t x_in = ta->x0;
    for (int l = 0; l < m->cfg.depth; l++) {
        const clvit_block_params *bp = &m->blocks[l];
        const clvit_block_acts *ba = &m->a_blocks[l];
        CLVIT_CHECK(clvit_layernorm_forward(
            ctx, CLVIT_T(A, ba->ln1), CLVIT_T(A, ba->ln1_mean), CLVIT_T(A, ba->ln1_rstd),
            CLVIT_T(A, x_in), CLVIT_T(P, bp->norm1_w), CLVIT_T(P, bp->norm1_b), BN, d->D));
        CLVIT_CHECK(clvit_linear_forward(ctx, "qkv", CLVIT_EPI_NONE, CLVIT_T(A, ba->qkv),
                                         CLVIT_T(NULL, 0), CLVIT_T(A, ba->ln1),
                                         CLVIT_T(P, bp->qkv_w), CLVIT_T(P, 0), BN, d->D, 3 * d->D));
        clvit_drop attn_d = {m->cfg.attn_drop_rate, 0.0f, drop.seed, CLVIT_SITE_BLOCK(l, 3)};
        /* activations planned for training keep the probabilities for the backward */
        CLVIT_CHECK(clvit_attention_forward(
            ctx, CLVIT_T(A, ba->att_m), CLVIT_T(m->acts_training ? A : NULL, ba->att),
            CLVIT_T(A, ba->qkv), CLVIT_T(P, bp->qkv_b), m->cfg.qkv_bias, d->scale, B, d->N, d->H,
            d->hd, drop_seed ? &attn_d : NULL));
        drop.p_path = clvit_drop_path_prob(&m->cfg, l);
        drop.site = CLVIT_SITE_BLOCK(l, 0);
        CLVIT_CHECK(branch(m, "proj", drop_seed ? &drop : NULL, A, ba->xa, ba->att_m, bp->proj_w,
                           bp->proj_b, x_in, BN, d->D, d->D, per_sample));
        CLVIT_CHECK(clvit_layernorm_forward(
            ctx, CLVIT_T(A, ba->ln2), CLVIT_T(A, ba->ln2_mean), CLVIT_T(A, ba->ln2_rstd),
            CLVIT_T(A, ba->xa), CLVIT_T(P, bp->norm2_w), CLVIT_T(P, bp->norm2_b), BN, d->D));
        CLVIT_CHECK(clvit_linear_forward(
            ctx, "fc1", CLVIT_EPI_GELU, CLVIT_T(A, ba->gelu), CLVIT_T(A, ba->fc1),
            CLVIT_T(A, ba->ln2), CLVIT_T(P, bp->fc1_w), CLVIT_T(P, bp->fc1_b), BN, d->D, d->Hd));
        if (drop_seed) { /* Mlp's dropout after GELU: element-wise only */
            clvit_drop gd = {m->cfg.drop_rate, 0.0f, drop.seed, CLVIT_SITE_BLOCK(l, 1)};
            CLVIT_CHECK(clvit_dropout_apply(ctx, A, ba->gelu, (size_t)BN * d->Hd, 1, &gd));
        }
        drop.site = CLVIT_SITE_BLOCK(l, 2);
        CLVIT_CHECK(branch(m, "fc2", drop_seed ? &drop : NULL, A, ba->xo, ba->gelu, bp->fc2_w,
                           bp->fc2_b, ba->xa, BN, d->Hd, d->D, per_sample));
        x_in = ba->xo;
    }
    CLVIT_CHECK(clvit_layernorm_forward(ctx, CLVIT_T(A, ta->lnf), CLVIT_T(A, ta->lnf_mean),
                                        CLVIT_T(A, ta->lnf_rstd), CLVIT_T(A, x_in),
                                        CLVIT_T(P, tp->norm_w), CLVIT_T(P, tp->norm_b), BN, d->D));
    const int avg = m->cfg.pool == CLVIT_POOL_AVG;
    CLVIT_CHECK(clvit_pool_forward(ctx, CLVIT_T(A, ta->pooled), CLVIT_T(A, ta->lnf), B, d->N, d->D,
                                   d->T, 0, avg));
    size_t feat = ta->pooled;
    if (d->R > 0) {
        CLVIT_CHECK(clvit_linear_forward(
            ctx, "pre_logits", CLVIT_EPI_TANH, CLVIT_T(A, ta->feat), CLVIT_T(A, ta->pre),
            CLVIT_T(A, ta->pooled), CLVIT_T(P, tp->pre_w), CLVIT_T(P, tp->pre_b), B, d->D, d->R));
        feat = ta->feat;
    }
    if (!m->cfg.distilled)
        return clvit_linear_forward(ctx, "head", CLVIT_EPI_BIAS, CLVIT_T(A, ta->out),
                                    CLVIT_T(NULL, 0), CLVIT_T(A, feat), CLVIT_T(P, tp->head_w),
                                    CLVIT_T(P, tp->head_b), B, d->F, d->K);
    CLVIT_CHECK(clvit_linear_forward(ctx, "head", CLVIT_EPI_BIAS, CLVIT_T(A, ta->logits),
                                     CLVIT_T(NULL, 0), CLVIT_T(A, feat), CLVIT_T(P, tp->head_w),
                                     CLVIT_T(P, tp->head_b), B, d->F, d->K));
    CLVIT_CHECK(clvit_pool_forward(ctx, CLVIT_T(A, ta->pooled_d), CLVIT_T(A, ta->lnf), B, d->N,
                                   d->D, d->T, 1, 0));
    CLVIT_CHECK(clvit_linear_forward(
        ctx, "head_dist", CLVIT_EPI_BIAS, CLVIT_T(A, ta->logits_d), CLVIT_T(NULL, 0),
        CLVIT_T(A, ta->pooled_d), CLVIT_T(P, tp->hdist_w), CLVIT_T(P, tp->hdist_b), B, d->D, d->K));
    return clvit_average2(ctx, CLVIT_T(A, ta->out), CLVIT_T(A, ta->logits),
                          CLVIT_T(A, ta->logits_d), B * d->K);
}

/* Images per device pass at inference: keep activations near 512 MiB (and within the
 * device's largest allocation). */
static int inference_chunk(const clvit_model *m, int batch) {
    const clvit_dims *d = &m->dims;
    double per_image =
        (double)d->N * (d->D * 12.0 + d->Hd * 2.0) + (double)d->C * d->S * d->S * 2.0 + 8.0 * d->K;
    double budget = 512.0 * 1048576.0 / sizeof(float);
    if (m->ctx->info.max_alloc_bytes)
        budget = fmin(budget, 0.9 * (double)m->ctx->info.max_alloc_bytes / sizeof(float));
    int chunk = (int)(budget / per_image);
    if (chunk < 1) chunk = 1;
    return chunk < batch ? chunk : batch;
}

clvit_status clvit_model_forward(clvit_model *m, const float *images, int batch, float *logits) {
    if (!m || !images || !logits || batch <= 0)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_model_forward: bad arguments (batch %d)",
                          batch);
    const clvit_dims *d = &m->dims;
    int chunk = inference_chunk(m, batch);
    /* a trainer's activations already fit acts_batch images: reuse them, no reallocation */
    if (m->acts && m->acts_training && chunk > m->acts_batch) chunk = m->acts_batch;
    CLVIT_CHECK(clvit_plan_acts(m, chunk, m->acts_training));
    const size_t img_floats = (size_t)d->C * d->S * d->S;
    for (int b0 = 0; b0 < batch; b0 += chunk) {
        int nb = batch - b0 < chunk ? batch - b0 : chunk;
        CLVIT_CHECK(clvit_write(m->ctx, m->acts, m->a_top.img, images + (size_t)b0 * img_floats,
                                (size_t)nb * img_floats));
        CLVIT_CHECK(clvit_forward_device(m, nb, NULL));
        CLVIT_CHECK(clvit_read(m->ctx, m->acts, m->a_top.out, logits + (size_t)b0 * d->K,
                               (size_t)nb * d->K));
    }
    return CLVIT_SUCCESS;
}
