/*
 * train.c - training: the trainer's memory (gradients, Adam moments, gradient scratch, all
 * allocated once per largest batch), the loss, the backward pass through every layer in
 * reverse, clipping, the optimizer step, the learning-rate schedule, and checkpoints.
 *
 * Backward data flow (one running gradient `dx` (B, N, D) for the residual stream):
 *   loss -> dlogits -> head [-> pre-logits tanh] -> pool -> dlnf -> final LayerNorm -> dx
 *   per block, last to first:
 *     dx -> (drop) -> fc2 -> dgelu -> (drop) -> GELU, fc1 -> dln -> norm2 (adds into dx)
 *       (without dropout after the GELU, fc2's dx GEMM applies gelu' itself: -> dpre -> fc1)
 *     dx -> (drop) -> proj -> datt_m -> attention -> dqkv -> qkv -> dln -> norm1 (adds into dx)
 *   dx -> (pos drop) -> patch embedding, class/dist tokens, position embedding
 * Every parameter gradient is written exactly once per step (beta 0).
 */
#include "host/safetensors.h"
#include "model.h"
#include "train_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Gradient scratch, X(field, floats) with the locals of plan_grads. */
#define CLVIT_GRAD_ACTS(X)                                                                         \
    X(dx, (size_t)B *N *D)                                                                         \
    X(dln, (size_t)B *N *D)                                                                        \
    X(dbr, (size_t)B *N *D)                                                                        \
    X(datt_m, (size_t)B *N *D)                                                                     \
    X(dqkv, (size_t)B *N * 3 * D)                                                                  \
    X(datt, (size_t)B *H *N *N)                                                                    \
    X(dgelu, (size_t)B *N *Hd)                                                                     \
    X(dpre, (size_t)B *N *Hd)                                                                      \
    X(dpe, (size_t)B *P *D)                                                                        \
    X(dlogits, (size_t)B *K)                                                                       \
    X(dlogits_d, (size_t)B *K)                                                                     \
    X(dfeat, (size_t)B *(R > 0 ? R : 1))                                                           \
    X(dprer, (size_t)B *(R > 0 ? R : 1))                                                           \
    X(dpooled, (size_t)B *D)                                                                       \
    X(dpooled_d, (size_t)B *D)                                                                     \
    X(labels, (size_t)B)                                                                           \
    X(losses, (size_t)B)                                                                           \
    X(losses_d, (size_t)B)

#define CLVIT_FIELD(field, floats) size_t field;
typedef struct grad_acts {
    CLVIT_GRAD_ACTS(CLVIT_FIELD)
} grad_acts;
#undef CLVIT_FIELD

struct clvit_trainer {
    clvit_model *m;
    clvit_train_config tc;
    int max_batch;
    long step;
    cl_mem grads, adam_m, adam_v, scratch;
    size_t scratch_floats;
    grad_acts ga;
    float *host_out, *host_losses, *host_labels; /* B*K, 2*B, B */
};

void clvit_train_config_default(clvit_train_config *tc) {
    memset(tc, 0, sizeof *tc);
    tc->optimizer = CLVIT_ADAM;
    tc->lr = 1e-3f;
    tc->beta1 = 0.9f;
    tc->beta2 = 0.999f;
    tc->eps = 1e-8f;
    tc->schedule = CLVIT_LR_CONSTANT;
}

void clvit_trainer_free(clvit_trainer *t) {
    if (!t) return;
    cl_mem bufs[] = {t->grads, t->adam_m, t->adam_v, t->scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) clReleaseMemObject(bufs[i]);
    free(t->host_out);
    free(t->host_losses);
    free(t->host_labels);
    free(t);
}

clvit_status clvit_trainer_create(clvit_model *m, const clvit_train_config *tc, int max_batch,
                                  clvit_trainer **out) {
    if (!m || !tc || !out || max_batch < 1)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_trainer_create: bad arguments");
    *out = NULL;
    if (!(tc->lr >= 0.0f) || !(tc->beta1 >= 0.0f && tc->beta1 < 1.0f) ||
        !(tc->beta2 >= 0.0f && tc->beta2 < 1.0f) || !(tc->eps > 0.0f) ||
        !(tc->weight_decay >= 0.0f) || !(tc->clip_norm >= 0.0f) ||
        !(tc->label_smoothing >= 0.0f && tc->label_smoothing < 1.0f) || tc->warmup_steps < 0)
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "training config: lr %g, betas (%g, %g), eps %g, weight decay %g, clip "
                          "%g, smoothing %g, warmup %ld: a value is out of range",
                          (double)tc->lr, (double)tc->beta1, (double)tc->beta2, (double)tc->eps,
                          (double)tc->weight_decay, (double)tc->clip_norm,
                          (double)tc->label_smoothing, tc->warmup_steps);
    clvit_trainer *t = calloc(1, sizeof *t);
    if (!t) return clvit_fail(CLVIT_ERR_NOMEM, "trainer");
    t->m = m;
    t->tc = *tc;
    t->max_batch = max_batch;
    const clvit_dims *d = &m->dims;
    const int B = max_batch, N = d->N, D = d->D, H = d->H, Hd = d->Hd, P = d->P, K = d->K, R = d->R;
    size_t off = 0;
#define PLACE(field, floats)                                                                       \
    t->ga.field = off;                                                                             \
    off += (floats);
    CLVIT_GRAD_ACTS(PLACE)
#undef PLACE
    t->scratch_floats = off;
    clvit_ctx *ctx = m->ctx;
    clvit_status st = clvit_plan_acts(m, max_batch, 1);
    if (!st) st = clvit_buffer(ctx, m->num_params, &t->grads);
    if (!st) st = clvit_buffer(ctx, m->num_params, &t->adam_m);
    if (!st) st = clvit_buffer(ctx, m->num_params, &t->adam_v);
    if (!st) st = clvit_buffer(ctx, off, &t->scratch);
    if (!st) st = clvit_fill(ctx, t->adam_m, 0, 0.0f, m->num_params);
    if (!st) st = clvit_fill(ctx, t->adam_v, 0, 0.0f, m->num_params);
    if (!st) st = clvit_fill(ctx, t->grads, 0, 0.0f, m->num_params);
    t->host_out = malloc((size_t)B * K * sizeof(float));
    t->host_losses = malloc((size_t)2 * B * sizeof(float));
    t->host_labels = malloc((size_t)B * sizeof(float));
    if (!st && (!t->host_out || !t->host_losses || !t->host_labels))
        st = clvit_fail(CLVIT_ERR_NOMEM, "trainer host buffers");
    if (st) {
        clvit_trainer_free(t);
        return st;
    }
    *out = t;
    return CLVIT_SUCCESS;
}

size_t clvit_trainer_device_bytes(const clvit_trainer *t) {
    const clvit_model *m = t->m;
    size_t floats = 4 * m->num_params + m->acts_floats + t->scratch_floats;
    if (m->pos_fixed) floats += (size_t)m->dims.N * m->dims.D;
    return floats * sizeof(float);
}

long clvit_trainer_step_count(const clvit_trainer *t) {
    return t->step;
}

float clvit_trainer_lr(const clvit_trainer *t, long step) {
    const clvit_train_config *c = &t->tc;
    if (c->schedule == CLVIT_LR_CONSTANT) return c->lr;
    if (step < c->warmup_steps) return c->lr * (float)(step + 1) / (float)c->warmup_steps;
    long span = c->total_steps - c->warmup_steps;
    if (span <= 0) return c->lr;
    double progress = (double)(step - c->warmup_steps) / (double)span;
    if (progress > 1.0) progress = 1.0;
    return (float)(c->min_lr +
                   (c->lr - c->min_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * progress)));
}

/* Per-step dropout seed from the run seed and the step, so resume regenerates masks. */
static uint32_t step_seed(const clvit_trainer *t) {
    uint64_t z = t->tc.seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(t->step + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)(z ^ (z >> 31));
}

static int has_dropout(const clvit_config *c) {
    return c->drop_rate > 0 || c->drop_path_rate > 0 || c->attn_drop_rate > 0;
}

/* Backward of a residual branch y = res + drop(x W^T + b): the branch gradient is dx masked
 * (or dx itself), the residual gradient passes through unchanged. x_gelu_pre != SIZE_MAX: x is
 * gelu(pre) with pre at that offset, and dxin receives the gradient of pre (one launch less). */
static clvit_status branch_backward(clvit_trainer *t, const char *label, const clvit_drop *drop,
                                    size_t dxin, size_t x, size_t x_gelu_pre, size_t w, size_t b,
                                    int rows, int in, int out, size_t per_sample) {
    clvit_model *m = t->m;
    cl_mem S = t->scratch, A = m->acts;
    size_t dy = t->ga.dx;
    if (drop && (drop->p_drop > 0.0f || drop->p_path > 0.0f)) {
        CLVIT_CHECK(clvit_dropout_copy(m->ctx, S, t->ga.dbr, S, t->ga.dx, (size_t)rows * out,
                                       per_sample, drop));
        dy = t->ga.dbr;
    }
    return clvit_linear_backward(
        m->ctx, label, CLVIT_EPI_BIAS,
        &(clvit_linear_grads){.dx = CLVIT_T(S, dxin),
                              .beta_dx = 0.0f,
                              .dx_gelu = x_gelu_pre == SIZE_MAX ? CLVIT_T(NULL, 0)
                                                                : CLVIT_T(A, x_gelu_pre),
                              .dw = CLVIT_T(t->grads, w),
                              .db = CLVIT_T(t->grads, b),
                              .beta_w = 0.0f,
                              .dres = CLVIT_T(NULL, 0),
                              .dpre = CLVIT_T(NULL, 0)},
        CLVIT_T(S, dy), CLVIT_T(NULL, 0), CLVIT_T(A, x), CLVIT_T(m->params, w), rows, in, out);
}

static clvit_status backward(clvit_trainer *t, int B, uint32_t seed, int dropping) {
    clvit_model *m = t->m;
    clvit_ctx *ctx = m->ctx;
    const clvit_dims *d = &m->dims;
    const clvit_top_params *tp = &m->top;
    const clvit_top_acts *ta = &m->a_top;
    const grad_acts *ga = &t->ga;
    cl_mem A = m->acts, S = t->scratch, G = t->grads, P = m->params;
    const int BN = B * d->N, avg = m->cfg.pool == CLVIT_POOL_AVG;
    const size_t per_sample = (size_t)d->N * d->D;

    /* heads */
    size_t feat = d->R > 0 ? ta->feat : ta->pooled;
    size_t dfeat = d->R > 0 ? ga->dfeat : ga->dpooled;
    CLVIT_CHECK(clvit_linear_backward(ctx, "head", CLVIT_EPI_BIAS,
                                      &(clvit_linear_grads){.dx = CLVIT_T(S, dfeat),
                                                            .beta_dx = 0.0f,
                                                            .dw = CLVIT_T(G, tp->head_w),
                                                            .db = CLVIT_T(G, tp->head_b),
                                                            .beta_w = 0.0f,
                                                            .dres = CLVIT_T(NULL, 0),
                                                            .dpre = CLVIT_T(NULL, 0)},
                                      CLVIT_T(S, ga->dlogits), CLVIT_T(NULL, 0), CLVIT_T(A, feat),
                                      CLVIT_T(P, tp->head_w), B, d->F, d->K));
    if (d->R > 0)
        CLVIT_CHECK(clvit_linear_backward(ctx, "pre_logits", CLVIT_EPI_TANH,
                                          &(clvit_linear_grads){.dx = CLVIT_T(S, ga->dpooled),
                                                                .beta_dx = 0.0f,
                                                                .dw = CLVIT_T(G, tp->pre_w),
                                                                .db = CLVIT_T(G, tp->pre_b),
                                                                .beta_w = 0.0f,
                                                                .dres = CLVIT_T(NULL, 0),
                                                                .dpre = CLVIT_T(S, ga->dprer)},
                                          CLVIT_T(S, ga->dfeat), CLVIT_T(A, ta->feat),
                                          CLVIT_T(A, ta->pooled), CLVIT_T(P, tp->pre_w), B, d->D,
                                          d->R));
    CLVIT_CHECK(clvit_pool_backward(ctx, CLVIT_T(S, ga->dln), 0.0f, CLVIT_T(S, ga->dpooled), B,
                                    d->N, d->D, d->T, 0, avg));
    if (m->cfg.distilled) {
        CLVIT_CHECK(clvit_linear_backward(ctx, "head_dist", CLVIT_EPI_BIAS,
                                          &(clvit_linear_grads){.dx = CLVIT_T(S, ga->dpooled_d),
                                                                .beta_dx = 0.0f,
                                                                .dw = CLVIT_T(G, tp->hdist_w),
                                                                .db = CLVIT_T(G, tp->hdist_b),
                                                                .beta_w = 0.0f,
                                                                .dres = CLVIT_T(NULL, 0),
                                                                .dpre = CLVIT_T(NULL, 0)},
                                          CLVIT_T(S, ga->dlogits_d), CLVIT_T(NULL, 0),
                                          CLVIT_T(A, ta->pooled_d), CLVIT_T(P, tp->hdist_w), B,
                                          d->D, d->K));
        CLVIT_CHECK(clvit_pool_backward(ctx, CLVIT_T(S, ga->dln), 1.0f, CLVIT_T(S, ga->dpooled_d),
                                        B, d->N, d->D, d->T, 1, 0));
    }
    size_t x_last = m->cfg.depth > 0 ? m->a_blocks[m->cfg.depth - 1].xo : ta->x0;
    CLVIT_CHECK(clvit_layernorm_backward(
        ctx, CLVIT_T(S, ga->dx), 0.0f, CLVIT_T(G, tp->norm_w), CLVIT_T(G, tp->norm_b), 0.0f,
        CLVIT_T(S, ga->dln), CLVIT_T(A, x_last), CLVIT_T(A, ta->lnf_mean), CLVIT_T(A, ta->lnf_rstd),
        CLVIT_T(P, tp->norm_w), BN, d->D));
    /* blocks, last to first; dx is the gradient of the block output */
    clvit_drop drop = {m->cfg.drop_rate, 0.0f, seed, 0};
    for (int l = m->cfg.depth - 1; l >= 0; l--) {
        const clvit_block_params *bp = &m->blocks[l];
        const clvit_block_acts *ba = &m->a_blocks[l];
        size_t x_in = l > 0 ? m->a_blocks[l - 1].xo : ta->x0;
        drop.p_path = clvit_drop_path_prob(&m->cfg, l);
        /* MLP branch. Without dropout after the GELU, its derivative is the epilogue of fc2's
         * input-gradient GEMM, which then writes the gradient of fc1's pre-activation. */
        drop.site = CLVIT_SITE_BLOCK(l, 2);
        const int gelu_drop = dropping && m->cfg.drop_rate > 0.0f;
        CLVIT_CHECK(branch_backward(
            t, "fc2", dropping ? &drop : NULL, gelu_drop ? ga->dgelu : ga->dpre, ba->gelu,
            gelu_drop ? SIZE_MAX : ba->fc1, bp->fc2_w, bp->fc2_b, BN, d->Hd, d->D, per_sample));
        if (gelu_drop) {
            clvit_drop gd = {m->cfg.drop_rate, 0.0f, seed, CLVIT_SITE_BLOCK(l, 1)};
            CLVIT_CHECK(clvit_dropout_apply(ctx, S, ga->dgelu, (size_t)BN * d->Hd, 1, &gd));
        }
        CLVIT_CHECK(clvit_linear_backward(ctx, "fc1", gelu_drop ? CLVIT_EPI_GELU : CLVIT_EPI_BIAS,
                                          &(clvit_linear_grads){.dx = CLVIT_T(S, ga->dln),
                                                                .beta_dx = 0.0f,
                                                                .dw = CLVIT_T(G, bp->fc1_w),
                                                                .db = CLVIT_T(G, bp->fc1_b),
                                                                .beta_w = 0.0f,
                                                                .dres = CLVIT_T(NULL, 0),
                                                                .dpre = CLVIT_T(S, ga->dpre)},
                                          CLVIT_T(S, gelu_drop ? ga->dgelu : ga->dpre),
                                          CLVIT_T(A, ba->fc1), CLVIT_T(A, ba->ln2),
                                          CLVIT_T(P, bp->fc1_w), BN, d->D, d->Hd));
        CLVIT_CHECK(clvit_layernorm_backward(
            ctx, CLVIT_T(S, ga->dx), 1.0f, CLVIT_T(G, bp->norm2_w), CLVIT_T(G, bp->norm2_b), 0.0f,
            CLVIT_T(S, ga->dln), CLVIT_T(A, ba->xa), CLVIT_T(A, ba->ln2_mean),
            CLVIT_T(A, ba->ln2_rstd), CLVIT_T(P, bp->norm2_w), BN, d->D));
        /* attention branch */
        drop.site = CLVIT_SITE_BLOCK(l, 0);
        CLVIT_CHECK(branch_backward(t, "proj", dropping ? &drop : NULL, ga->datt_m, ba->att_m,
                                    SIZE_MAX, bp->proj_w, bp->proj_b, BN, d->D, d->D, per_sample));
        clvit_drop attn_d = {m->cfg.attn_drop_rate, 0.0f, seed, CLVIT_SITE_BLOCK(l, 3)};
        CLVIT_CHECK(clvit_attention_backward(
            ctx, CLVIT_T(S, ga->dqkv), CLVIT_T(NULL, 0), 0.0f, CLVIT_T(S, ga->datt),
            CLVIT_T(A, ba->att), CLVIT_T(S, ga->datt_m), CLVIT_T(A, ba->qkv), CLVIT_T(P, bp->qkv_b),
            m->cfg.qkv_bias, d->scale, B, d->N, d->H, d->hd, dropping ? &attn_d : NULL));
        CLVIT_CHECK(clvit_linear_backward(
            ctx, "qkv", m->cfg.qkv_bias ? CLVIT_EPI_BIAS : CLVIT_EPI_NONE,
            &(clvit_linear_grads){.dx = CLVIT_T(S, ga->dln),
                                  .beta_dx = 0.0f,
                                  .dw = CLVIT_T(G, bp->qkv_w),
                                  .db = CLVIT_T(G, bp->qkv_b), /* the bias the attention added */
                                  .beta_w = 0.0f,
                                  .dres = CLVIT_T(NULL, 0),
                                  .dpre = CLVIT_T(NULL, 0)},
            CLVIT_T(S, ga->dqkv), CLVIT_T(NULL, 0), CLVIT_T(A, ba->ln1), CLVIT_T(P, bp->qkv_w), BN,
            d->D, 3 * d->D));
        CLVIT_CHECK(clvit_layernorm_backward(
            ctx, CLVIT_T(S, ga->dx), 1.0f, CLVIT_T(G, bp->norm1_w), CLVIT_T(G, bp->norm1_b), 0.0f,
            CLVIT_T(S, ga->dln), CLVIT_T(A, x_in), CLVIT_T(A, ba->ln1_mean),
            CLVIT_T(A, ba->ln1_rstd), CLVIT_T(P, bp->norm1_w), BN, d->D));
    }
    if (dropping) {
        clvit_drop pd = {m->cfg.drop_rate, 0.0f, seed, CLVIT_SITE_POS};
        CLVIT_CHECK(clvit_dropout_apply(ctx, S, ga->dx, (size_t)BN * d->D, per_sample, &pd));
    }
    const clvit_tensor none = CLVIT_T(NULL, 0);
    return clvit_patch_embed_backward(
        ctx, CLVIT_T(G, tp->patch_w), CLVIT_T(G, tp->patch_b), CLVIT_T(G, tp->cls_token),
        m->cfg.distilled ? CLVIT_T(G, tp->dist_token) : none,
        m->cfg.pos_embed == CLVIT_POS_LEARNED ? CLVIT_T(G, tp->pos_embed) : none, 0.0f,
        CLVIT_T(S, ga->dpe), CLVIT_T(S, ga->dx), CLVIT_T(A, ta->cols), B, d->C, d->S, d->p, d->T,
        d->D);
}

/* Forward in training mode, loss, backward; fills res (loss, correct). */
static clvit_status forward_backward(clvit_trainer *t, const float *images, const int32_t *labels,
                                     int B, clvit_step_result *res) {
    clvit_model *m = t->m;
    const clvit_dims *d = &m->dims;
    if (!images || !labels || B < 1 || B > t->max_batch)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "train step: batch %d (trainer max %d)", B,
                          t->max_batch);
    for (int b = 0; b < B; b++) {
        if (labels[b] < 0 || labels[b] >= d->K)
            return clvit_fail(CLVIT_ERR_INVALID_ARG,
                              "train step: label %d of image %d is not in "
                              "[0, %d)",
                              labels[b], b, d->K);
        t->host_labels[b] = (float)labels[b];
    }
    CLVIT_CHECK(clvit_plan_acts(m, t->max_batch, 1));
    clvit_ctx *ctx = m->ctx;
    CLVIT_CHECK(clvit_write(ctx, m->acts, m->a_top.img, images, (size_t)B * d->C * d->S * d->S));
    CLVIT_CHECK(clvit_write(ctx, t->scratch, t->ga.labels, t->host_labels, (size_t)B));
    const int dropping = has_dropout(&m->cfg);
    uint32_t seed = step_seed(t);
    CLVIT_CHECK(clvit_forward_device(m, B, dropping ? &seed : NULL));
    const float smooth = t->tc.label_smoothing;
    if (m->cfg.distilled) { /* loss = (CE(head) + CE(head_dist)) / 2 */
        CLVIT_CHECK(clvit_xent_forward_backward(ctx, t->scratch, t->ga.losses, t->scratch,
                                                t->ga.dlogits, m->acts, m->a_top.logits, t->scratch,
                                                t->ga.labels, B, d->K, smooth, 0.5f / B));
        CLVIT_CHECK(clvit_xent_forward_backward(
            ctx, t->scratch, t->ga.losses_d, t->scratch, t->ga.dlogits_d, m->acts,
            m->a_top.logits_d, t->scratch, t->ga.labels, B, d->K, smooth, 0.5f / B));
    } else {
        CLVIT_CHECK(clvit_xent_forward_backward(ctx, t->scratch, t->ga.losses, t->scratch,
                                                t->ga.dlogits, m->acts, m->a_top.out, t->scratch,
                                                t->ga.labels, B, d->K, smooth, 1.0f / B));
    }
    CLVIT_CHECK(backward(t, B, seed, dropping));
    /* loss and accuracy on the host from B losses and B*K logits */
    CLVIT_CHECK(clvit_read(ctx, t->scratch, t->ga.losses, t->host_losses, (size_t)B));
    if (m->cfg.distilled)
        CLVIT_CHECK(clvit_read(ctx, t->scratch, t->ga.losses_d, t->host_losses + B, (size_t)B));
    CLVIT_CHECK(clvit_read(ctx, m->acts, m->a_top.out, t->host_out, (size_t)B * d->K));
    double loss = 0.0;
    int correct = 0;
    for (int b = 0; b < B; b++) {
        loss += m->cfg.distilled ? 0.5 * (t->host_losses[b] + t->host_losses[B + b])
                                 : t->host_losses[b];
        const float *z = t->host_out + (size_t)b * d->K;
        int best = 0;
        for (int k = 1; k < d->K; k++)
            if (z[k] > z[best]) best = k;
        correct += best == labels[b];
    }
    res->loss = loss / B;
    res->correct = correct;
    res->grad_norm = 0.0;
    res->lr = clvit_trainer_lr(t, t->step);
    return CLVIT_SUCCESS;
}

clvit_status clvit_train_grads(clvit_trainer *t, const float *images, const int32_t *labels,
                               int batch, clvit_step_result *res) {
    if (!t || !res) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_train_grads: NULL");
    return forward_backward(t, images, labels, batch, res);
}

clvit_status clvit_train_step(clvit_trainer *t, const float *images, const int32_t *labels,
                              int batch, clvit_step_result *res) {
    if (!t || !res) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_train_step: NULL");
    CLVIT_CHECK(forward_backward(t, images, labels, batch, res));
    clvit_model *m = t->m;
    float scale = 1.0f;
    if (t->tc.clip_norm > 0.0f) { /* torch.nn.utils.clip_grad_norm_ */
        CLVIT_CHECK(clvit_norm2(m->ctx, &res->grad_norm, t->grads, m->num_params));
        double coef = t->tc.clip_norm / (res->grad_norm + 1e-6);
        if (coef < 1.0) scale = (float)coef;
    }
    if (!isfinite(res->loss))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "training diverged: loss is %g at step %ld",
                          res->loss, t->step);
    clvit_adam_args a = {res->lr,
                         t->tc.beta1,
                         t->tc.beta2,
                         t->tc.eps,
                         t->tc.weight_decay,
                         t->tc.optimizer == CLVIT_ADAMW,
                         t->step + 1,
                         scale};
    CLVIT_CHECK(
        clvit_adam_step(m->ctx, m->params, t->grads, t->adam_m, t->adam_v, m->num_params, &a));
    t->step++;
    return CLVIT_SUCCESS;
}

clvit_status clvit_trainer_read_grads(clvit_trainer *t, float *host, size_t count) {
    if (!t || !host || count != t->m->num_params)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "read_grads: want %zu floats",
                          t ? t->m->num_params : 0);
    return clvit_read(t->m->ctx, t->grads, 0, host, count);
}

/* ---------------------------------------------------------------- checkpoints */

clvit_status clvit_trainer_save(clvit_trainer *t, const char *path, const char *const *keys,
                                const char *const *values, int num) {
    if (!t || !path || num < 0 || (num > 0 && (!keys || !values)))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_trainer_save: bad arguments");
    clvit_model *m = t->m;
    const size_t n = m->num_params;
    const int rows = m->num_table;
    float *host = malloc(3 * n * sizeof *host);
    clvit_st_entry *e = calloc((size_t)rows * 3, sizeof *e);
    char(*names)[80] = calloc((size_t)rows * 2, sizeof *names);
    clvit_meta *meta = malloc(sizeof *meta);
    clvit_status st =
        host && e && names && meta ? CLVIT_SUCCESS : clvit_fail(CLVIT_ERR_NOMEM, "saving %s", path);
    if (!st) st = clvit_read(m->ctx, m->params, 0, host, n);
    if (!st) st = clvit_read(m->ctx, t->adam_m, 0, host + n, n);
    if (!st) st = clvit_read(m->ctx, t->adam_v, 0, host + 2 * n, n);
    if (!st) {
        clvit_config_metadata(&m->cfg, meta);
        char step[32];
        snprintf(step, sizeof step, "%ld", t->step);
        const char *extra_k[] = {"clvit.step", "clvit.optimizer"};
        const char *extra_v[] = {step, t->tc.optimizer == CLVIT_ADAMW ? "adamw" : "adam"};
        for (int i = 0; i < 2 + num && meta->n < CLVIT_META_MAX; i++) {
            const char *k = i < 2 ? extra_k[i] : keys[i - 2];
            const char *v = i < 2 ? extra_v[i] : values[i - 2];
            snprintf(meta->store[meta->n], sizeof meta->store[meta->n], "%s", v);
            meta->keys[meta->n] = k;
            meta->values[meta->n] = meta->store[meta->n];
            meta->n++;
        }
        for (int r = 0; r < rows; r++) {
            const clvit_param *p = &m->table[r];
            for (int part = 0; part < 3; part++) {
                clvit_st_entry *x = &e[part * rows + r];
                if (part == 0) {
                    x->name = p->name;
                } else {
                    char *nm = names[(part - 1) * rows + r];
                    snprintf(nm, 80, "optim.%c.%s", part == 1 ? 'm' : 'v', p->name);
                    x->name = nm;
                }
                x->dtype = CLVIT_DT_F32;
                x->ndim = p->ndim;
                for (int j = 0; j < p->ndim; j++)
                    x->shape[j] = p->shape[j];
                x->data = host + (size_t)part * n + p->offset;
            }
        }
        st = clvit_st_write(path, e, rows * 3, meta->keys, meta->values, meta->n);
    }
    free(meta);
    free(names);
    free(e);
    free(host);
    return st;
}

clvit_status clvit_trainer_load_state(clvit_trainer *t, const char *path) {
    if (!t || !path) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_trainer_load_state: NULL");
    clvit_model *m = t->m;
    clvit_st_file *f;
    CLVIT_CHECK(clvit_st_open(path, &f));
    const size_t n = m->num_params;
    float *host = malloc(2 * n * sizeof *host);
    clvit_status st = host ? CLVIT_SUCCESS : clvit_fail(CLVIT_ERR_NOMEM, "loading %s", path);
    const char *step = clvit_st_meta(f, "clvit.step");
    char *end = NULL;
    long s = step ? strtol(step, &end, 10) : -1;
    if (!st && (!step || *end || s < 0))
        st = clvit_fail(CLVIT_ERR_FORMAT,
                        "%s: no valid clvit.step in the metadata (not a "
                        "training checkpoint?)",
                        path);
    for (int r = 0; !st && r < m->num_table; r++) {
        const clvit_param *p = &m->table[r];
        for (int part = 0; !st && part < 2; part++) {
            char nm[80];
            snprintf(nm, sizeof nm, "optim.%c.%s", part ? 'v' : 'm', p->name);
            const clvit_st_tensor *x = clvit_st_find(f, nm);
            if (!x || (size_t)x->numel != p->numel)
                st = clvit_fail(CLVIT_ERR_FORMAT,
                                "%s: optimizer state %s is missing or has %lld "
                                "elements, expected %zu",
                                path, nm, x ? (long long)x->numel : 0LL, p->numel);
            else
                st = clvit_st_read_f32(f, x, host + (size_t)part * n + p->offset);
        }
    }
    if (!st) st = clvit_write(m->ctx, t->adam_m, 0, host, n);
    if (!st) st = clvit_write(m->ctx, t->adam_v, 0, host + n, n);
    if (!st) t->step = s;
    free(host);
    clvit_st_close(f);
    return st;
}
