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
#include "clvit_data.h"
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
    X(losses_d, (size_t)B)                                                                         \
    X(clip, 2) /* the gradient norm and the clip factor (clvit_clip_factor) */                     \
    X(norm_part, (size_t)CLVIT_NORM_GROUPS *NG)

#define CLVIT_FIELD(field, floats) size_t field;
typedef struct grad_acts {
    CLVIT_GRAD_ACTS(CLVIT_FIELD)
} grad_acts;
#undef CLVIT_FIELD

/* One step in flight (see "the step pipeline" below). */
typedef struct step_slot {
    cl_mem stage;    /* images (max_batch, C, S, S) then labels (max_batch), host-allocated */
    float *mapped;   /* its host mapping; NULL while unmapped (zero copy, during its step) */
    cl_event ready;  /* finishes before the host may write the staging memory again */
    cl_event done;   /* the last read of the step's results */
    float *out;      /* for a batch of B: losses (2B), gradient norm (1), logits (B, K) */
    int32_t *labels; /* the batch's labels, for the accuracy */
    int batch, pending, clipping;
    long step;
    float lr;
} step_slot;

struct clvit_trainer {
    clvit_model *m;
    clvit_train_config tc;
    int max_batch;
    long step;
    clvit_arena grads, adam_m, adam_v, scratch;
    grad_acts ga;
    int zero_copy; /* the device shares host memory: it reads the staging buffers in place */
    step_slot slots[2];
    int next_slot;
    long diverged_at; /* the first step (1-based) collected with a NaN/Inf loss or norm, or 0 */
    clvit_grad_read *reads; /* data-parallel overlap (clvit_trainer_set_grad_reads), or NULL */
    int nreads, next_read;
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

static void slot_release(step_slot *sl, cl_command_queue q);

void clvit_trainer_free(clvit_trainer *t) {
    if (!t) return;
    for (int i = 0; i < 2; i++) /* first: it waits for the queue */
        slot_release(&t->slots[i], t->m->ctx->queue);
    clvit_arena_release(&t->grads);
    clvit_arena_release(&t->adam_m);
    clvit_arena_release(&t->adam_v);
    clvit_arena_release(&t->scratch);
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
    const int NG = m->params.n; /* gradient buffers, one set of norm partials each */
    clvit_ctx *ctx = m->ctx;
    clvit_arena_begin(&t->scratch, "gradient scratch", clvit_arena_cap(ctx));
#define PLACE(field, floats) t->ga.field = clvit_arena_place(&t->scratch, (floats));
    CLVIT_GRAD_ACTS(PLACE)
#undef PLACE
    clvit_status st = clvit_plan_acts(m, max_batch, 1);
    if (!st) st = clvit_arena_like(ctx, &t->grads, &m->params, "gradients");
    if (!st) st = clvit_arena_like(ctx, &t->adam_m, &m->params, "Adam first moments");
    if (!st) st = clvit_arena_like(ctx, &t->adam_v, &m->params, "Adam second moments");
    if (!st) st = clvit_arena_alloc(ctx, &t->scratch);
    if (!st) st = clvit_arena_fill(ctx, &t->adam_m, 0.0f);
    if (!st) st = clvit_arena_fill(ctx, &t->adam_v, 0.0f);
    if (!st) st = clvit_arena_fill(ctx, &t->grads, 0.0f);
    t->zero_copy = ctx->info.host_unified_memory;
    const char *zc = getenv("CLVIT_ZERO_COPY"); /* 0 or 1 forces either path (tests) */
    if (zc && (!strcmp(zc, "0") || !strcmp(zc, "1"))) t->zero_copy = zc[0] == '1';
    (void)K;
    if (st) {
        clvit_trainer_free(t);
        return st;
    }
    *out = t;
    return CLVIT_SUCCESS;
}

size_t clvit_trainer_device_bytes(const clvit_trainer *t) {
    const clvit_model *m = t->m;
    size_t floats = 4 * m->num_params + m->acts.total + t->scratch.total;
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
    return (uint32_t)clvit_rng_at(t->tc.seed, (uint64_t)t->step);
}

static int has_dropout(const clvit_config *c) {
    return c->drop_rate > 0 || c->drop_path_rate > 0 || c->attn_drop_rate > 0;
}

/* Tensor handles from arena offsets: parameters, activations, gradients, gradient scratch. */
#define PT(off) clvit_at(&t->m->params, (off))
#define AT(off) clvit_at(&t->m->acts, (off))
#define GT(off) clvit_at(&t->grads, (off))
#define ST(off) clvit_at(&t->scratch, (off))

/* Backward of a residual branch y = res + drop(x W^T + b): the branch gradient is dx masked
 * (or dx itself), the residual gradient passes through unchanged. x_gelu_pre != SIZE_MAX: x is
 * gelu(pre) with pre at that offset, and dxin receives the gradient of pre (one launch less). */
static clvit_status branch_backward(clvit_trainer *t, const char *label, const clvit_drop *drop,
                                    size_t dxin, size_t x, size_t x_gelu_pre, size_t w, size_t b,
                                    int rows, int in, int out, size_t per_sample) {
    clvit_model *m = t->m;
    size_t dy = t->ga.dx;
    if (drop && (drop->p_drop > 0.0f || drop->p_path > 0.0f)) {
        CLVIT_CHECK(clvit_dropout_copy(m->ctx, ST(t->ga.dbr), ST(t->ga.dx), (size_t)rows * out,
                                       per_sample, drop));
        dy = t->ga.dbr;
    }
    return clvit_linear_backward(
        m->ctx, label, CLVIT_EPI_BIAS,
        &(clvit_linear_grads){.dx = ST(dxin),
                              .beta_dx = 0.0f,
                              .dx_gelu = x_gelu_pre == SIZE_MAX ? CLVIT_T(NULL, 0) : AT(x_gelu_pre),
                              .dw = GT(w),
                              .db = GT(b),
                              .beta_w = 0.0f,
                              .dres = CLVIT_T(NULL, 0),
                              .dpre = CLVIT_T(NULL, 0)},
        ST(dy), CLVIT_T(NULL, 0), AT(x), PT(w), rows, in, out);
}

/* Every gradient at dense offset >= lo is final once the kernels enqueued so far have run:
 * enqueues the reads (clvit_trainer_set_grad_reads) that lie there. Nothing without reads. */
static clvit_status grads_final(clvit_trainer *t, size_t lo) {
    for (; t->next_read < t->nreads && t->reads[t->next_read].start >= lo; t->next_read++) {
        clvit_grad_read *r = &t->reads[t->next_read];
        CLVIT_CHECK(
            clvit_arena_read_async(t->m->ctx, &t->grads, r->start, r->dst, r->count, &r->done));
    }
    return CLVIT_SUCCESS;
}

void clvit_trainer_set_grad_reads(clvit_trainer *t, clvit_grad_read *reads, int n) {
    t->reads = n > 0 ? reads : NULL;
    t->nreads = n > 0 ? n : 0;
    t->next_read = 0;
}

/* The dense offset of a parameter table row by name (the end when absent). */
static size_t row_offset(const clvit_model *m, const char *name) {
    for (int r = 0; r < m->num_table; r++)
        if (!strcmp(m->table[r].name, name)) return m->table[r].offset;
    return m->num_params;
}

void clvit_trainer_grad_groups(const clvit_trainer *t, size_t *bounds) {
    const clvit_model *m = t->m;
    const int depth = m->cfg.depth;
    bounds[0] = row_offset(m, "norm.weight"); /* the tail: final norm, pre-logits, heads */
    for (int l = depth - 1; l >= 0; l--) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.norm1.weight", l);
        bounds[depth - l] = row_offset(m, name);
    }
    bounds[depth + 1] = 0; /* cls/dist tokens, position and patch embeddings */
}

static clvit_status backward(clvit_trainer *t, int B, uint32_t seed, int dropping) {
    clvit_model *m = t->m;
    clvit_ctx *ctx = m->ctx;
    const clvit_dims *d = &m->dims;
    const clvit_top_params *tp = &m->top;
    const clvit_top_acts *ta = &m->a_top;
    const grad_acts *ga = &t->ga;
    const int BN = B * d->N, avg = m->cfg.pool == CLVIT_POOL_AVG;
    const size_t per_sample = (size_t)d->N * d->D;

    /* heads */
    size_t feat = d->R > 0 ? ta->feat : ta->pooled;
    size_t dfeat = d->R > 0 ? ga->dfeat : ga->dpooled;
    CLVIT_CHECK(clvit_linear_backward(ctx, "head", CLVIT_EPI_BIAS,
                                      &(clvit_linear_grads){.dx = ST(dfeat),
                                                            .beta_dx = 0.0f,
                                                            .dw = GT(tp->head_w),
                                                            .db = GT(tp->head_b),
                                                            .beta_w = 0.0f,
                                                            .dres = CLVIT_T(NULL, 0),
                                                            .dpre = CLVIT_T(NULL, 0)},
                                      ST(ga->dlogits), CLVIT_T(NULL, 0), AT(feat), PT(tp->head_w),
                                      B, d->F, d->K));
    if (d->R > 0)
        CLVIT_CHECK(clvit_linear_backward(ctx, "pre_logits", CLVIT_EPI_TANH,
                                          &(clvit_linear_grads){.dx = ST(ga->dpooled),
                                                                .beta_dx = 0.0f,
                                                                .dw = GT(tp->pre_w),
                                                                .db = GT(tp->pre_b),
                                                                .beta_w = 0.0f,
                                                                .dres = CLVIT_T(NULL, 0),
                                                                .dpre = ST(ga->dprer)},
                                          ST(ga->dfeat), AT(ta->feat), AT(ta->pooled),
                                          PT(tp->pre_w), B, d->D, d->R));
    CLVIT_CHECK(
        clvit_pool_backward(ctx, ST(ga->dln), 0.0f, ST(ga->dpooled), B, d->N, d->D, d->T, 0, avg));
    if (m->cfg.distilled) {
        CLVIT_CHECK(clvit_linear_backward(ctx, "head_dist", CLVIT_EPI_BIAS,
                                          &(clvit_linear_grads){.dx = ST(ga->dpooled_d),
                                                                .beta_dx = 0.0f,
                                                                .dw = GT(tp->hdist_w),
                                                                .db = GT(tp->hdist_b),
                                                                .beta_w = 0.0f,
                                                                .dres = CLVIT_T(NULL, 0),
                                                                .dpre = CLVIT_T(NULL, 0)},
                                          ST(ga->dlogits_d), CLVIT_T(NULL, 0), AT(ta->pooled_d),
                                          PT(tp->hdist_w), B, d->D, d->K));
        CLVIT_CHECK(clvit_pool_backward(ctx, ST(ga->dln), 1.0f, ST(ga->dpooled_d), B, d->N, d->D,
                                        d->T, 1, 0));
    }
    size_t x_last = m->cfg.depth > 0 ? m->a_blocks[m->cfg.depth - 1].xo : ta->x0;
    CLVIT_CHECK(clvit_layernorm_backward(ctx, ST(ga->dx), 0.0f, GT(tp->norm_w), GT(tp->norm_b),
                                         0.0f, ST(ga->dln), AT(x_last), AT(ta->lnf_mean),
                                         AT(ta->lnf_rstd), PT(tp->norm_w), BN, d->D));
    /* the head, pre-logits and final norm gradients are final */
    if (t->nreads) CLVIT_CHECK(grads_final(t, row_offset(m, "norm.weight")));
    /* blocks, last to first; dx is the gradient of the block output */
    clvit_drop drop = {m->cfg.drop_rate, 0.0f, seed, 0, m->drop_sample0};
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
            clvit_drop gd = {m->cfg.drop_rate, 0.0f, seed, CLVIT_SITE_BLOCK(l, 1), m->drop_sample0};
            CLVIT_CHECK(clvit_dropout_apply(ctx, ST(ga->dgelu), (size_t)BN * d->Hd,
                                            (size_t)d->N * d->Hd, &gd));
        }
        CLVIT_CHECK(clvit_linear_backward(ctx, "fc1", gelu_drop ? CLVIT_EPI_GELU : CLVIT_EPI_BIAS,
                                          &(clvit_linear_grads){.dx = ST(ga->dln),
                                                                .beta_dx = 0.0f,
                                                                .dw = GT(bp->fc1_w),
                                                                .db = GT(bp->fc1_b),
                                                                .beta_w = 0.0f,
                                                                .dres = CLVIT_T(NULL, 0),
                                                                .dpre = ST(ga->dpre)},
                                          ST(gelu_drop ? ga->dgelu : ga->dpre), AT(ba->fc1),
                                          AT(ba->ln2), PT(bp->fc1_w), BN, d->D, d->Hd));
        CLVIT_CHECK(clvit_layernorm_backward(
            ctx, ST(ga->dx), 1.0f, GT(bp->norm2_w), GT(bp->norm2_b), 0.0f, ST(ga->dln), AT(ba->xa),
            AT(ba->ln2_mean), AT(ba->ln2_rstd), PT(bp->norm2_w), BN, d->D));
        /* attention branch */
        drop.site = CLVIT_SITE_BLOCK(l, 0);
        CLVIT_CHECK(branch_backward(t, "proj", dropping ? &drop : NULL, ga->datt_m, ba->att_m,
                                    SIZE_MAX, bp->proj_w, bp->proj_b, BN, d->D, d->D, per_sample));
        clvit_drop attn_d = {m->cfg.attn_drop_rate, 0.0f, seed, CLVIT_SITE_BLOCK(l, 3),
                             m->drop_sample0};
        CLVIT_CHECK(clvit_attention_backward(ctx, ST(ga->dqkv), CLVIT_T(NULL, 0), 0.0f,
                                             ST(ga->datt), AT(ba->att), ST(ga->datt_m), AT(ba->qkv),
                                             PT(bp->qkv_b), m->cfg.qkv_bias, d->scale, B, d->N,
                                             d->H, d->hd, dropping ? &attn_d : NULL));
        CLVIT_CHECK(clvit_linear_backward(
            ctx, "qkv", m->cfg.qkv_bias ? CLVIT_EPI_BIAS : CLVIT_EPI_NONE,
            &(clvit_linear_grads){.dx = ST(ga->dln),
                                  .beta_dx = 0.0f,
                                  .dw = GT(bp->qkv_w),
                                  .db = GT(bp->qkv_b), /* the bias the attention added */
                                  .beta_w = 0.0f,
                                  .dres = CLVIT_T(NULL, 0),
                                  .dpre = CLVIT_T(NULL, 0)},
            ST(ga->dqkv), CLVIT_T(NULL, 0), AT(ba->ln1), PT(bp->qkv_w), BN, d->D, 3 * d->D));
        CLVIT_CHECK(clvit_layernorm_backward(
            ctx, ST(ga->dx), 1.0f, GT(bp->norm1_w), GT(bp->norm1_b), 0.0f, ST(ga->dln), AT(x_in),
            AT(ba->ln1_mean), AT(ba->ln1_rstd), PT(bp->norm1_w), BN, d->D));
        if (t->nreads) { /* block l's gradients are final (norm1 was its last) */
            char name[64];
            snprintf(name, sizeof name, "blocks.%d.norm1.weight", l);
            CLVIT_CHECK(grads_final(t, row_offset(m, name)));
        }
    }
    if (dropping) {
        clvit_drop pd = {m->cfg.drop_rate, 0.0f, seed, CLVIT_SITE_POS, m->drop_sample0};
        CLVIT_CHECK(clvit_dropout_apply(ctx, ST(ga->dx), (size_t)BN * d->D, per_sample, &pd));
    }
    const clvit_tensor none = CLVIT_T(NULL, 0);
    CLVIT_CHECK(clvit_patch_embed_backward(
        ctx, GT(tp->patch_w), GT(tp->patch_b), GT(tp->cls_token),
        m->cfg.distilled ? GT(tp->dist_token) : none,
        m->cfg.pos_embed == CLVIT_POS_LEARNED ? GT(tp->pos_embed) : none, 0.0f, ST(ga->dpe),
        ST(ga->dx), AT(ta->cols), B, d->C, d->S, d->p, d->T, d->D));
    if (!t->nreads) return CLVIT_SUCCESS;
    CLVIT_CHECK(grads_final(t, 0)); /* the embeddings: everything is final */
    if (t->next_read != t->nreads)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "gradient reads not in decreasing order");
    return CLVIT_SUCCESS;
}

/* ---------------------------------------------------------------- the step pipeline
 *
 * A step is enqueued without a blocking call: the batch goes into a staging buffer
 * (CL_MEM_ALLOC_HOST_PTR, so pinned where the device is discrete), uploaded with a
 * non-blocking write, or read in place by the patch embedding where the device shares host
 * memory (zero copy: the buffer is unmapped for the step and mapped again after it). Then
 * forward, loss, backward, the clip factor (on the device) and Adam, and non-blocking reads
 * of the losses, logits and gradient norm. Two slots alternate, so the host builds and
 * submits step s + 1 while the device runs step s; clvit_train_collect waits for the oldest
 * step's reads only. */

/* A slot freed with its step in flight (a trainer freed after a failed step) may hold a
 * pointer from a non-blocking map that has not run yet, and reads into sl->out. Their events
 * are waited for before the pointer is unmapped and sl->out freed: clFinish is not enough on
 * rusticl 22.3, which now and then refuses that unmap (CL_INVALID_VALUE) after clFinish has
 * returned; there the test that frees trainers this way corrupted the heap in 5 of 7 runs
 * (docs/oclgrind.md has the evidence). */
static void slot_release(step_slot *sl, cl_command_queue q) {
    for (int i = 0; i < 2; i++) { /* the re-map, and the step's last read into sl->out */
        cl_event *ev = i ? &sl->done : &sl->ready;
        if (!*ev) continue;
        clWaitForEvents(1, ev);
        clReleaseEvent(*ev);
    }
    if (sl->stage) {
        const cl_int e =
            sl->mapped ? clEnqueueUnmapMemObject(q, sl->stage, sl->mapped, 0, NULL, NULL) : 0;
        if (e != CL_SUCCESS)
            fprintf(stderr, "clvit: unmapping a staging buffer before its release: %s\n",
                    clvit_status_string(e));
        clFinish(q);
        clReleaseMemObject(sl->stage);
    }
    free(sl->out);
    free(sl->labels);
    memset(sl, 0, sizeof *sl);
}

static clvit_status slot_create(clvit_trainer *t, step_slot *sl) {
    clvit_ctx *ctx = t->m->ctx;
    const clvit_dims *d = &t->m->dims;
    const size_t B = (size_t)t->max_batch;
    const size_t floats = B * d->C * d->S * d->S + B;
    CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_ALLOC, "clCreateBuffer(staging)"));
    cl_int e;
    sl->stage = clCreateBuffer(ctx->context, CL_MEM_READ_ONLY | CL_MEM_ALLOC_HOST_PTR,
                               floats * sizeof(float), NULL, &e);
    if (e != CL_SUCCESS) {
        sl->stage = NULL;
        return clvit_fail(e, "staging buffer of %.1f MiB: %s", floats * 4.0 / 1048576.0,
                          clvit_status_string(e));
    }
    clvit_track_buffer(sl->stage, floats * sizeof(float));
    /* a half-made slot is released, so the next step creates it again */
    clvit_status st = clvit_fault(ctx, CLVIT_FAULT_MAP, "clEnqueueMapBuffer(staging)");
    if (!st) {
        sl->mapped = clEnqueueMapBuffer(ctx->queue, sl->stage, CL_TRUE, CL_MAP_WRITE, 0,
                                        floats * sizeof(float), 0, NULL, NULL, &e);
        if (e != CL_SUCCESS) st = clvit_fail(e, "mapping the staging buffer");
    }
    if (!st) {
        sl->out = malloc((2 * B + B * d->K + 2) * sizeof *sl->out);
        sl->labels = malloc(B * sizeof *sl->labels);
        if (!sl->out || !sl->labels) st = clvit_fail(CLVIT_ERR_NOMEM, "trainer host buffers");
    }
    if (st) slot_release(sl, ctx->queue);
    return st;
}

/* Waits for what must finish before the host writes the slot's staging memory again (long
 * done in a running loop: it was the step before last). */
static clvit_status slot_wait_ready(clvit_ctx *ctx, step_slot *sl) {
    if (!sl->ready) return CLVIT_SUCCESS;
    CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_WAIT, "clWaitForEvents(staging)"));
    CLVIT_CHECK_CL(clWaitForEvents(1, &sl->ready));
    clReleaseEvent(sl->ready);
    sl->ready = NULL;
    return CLVIT_SUCCESS;
}

/* The update on the gradients held: clipping (torch.nn.utils.clip_grad_norm_, norm and factor
 * on the device) when configured, then one Adam/AdamW step at lr for step t->step + 1. */
static clvit_status enqueue_update(clvit_trainer *t, float lr) {
    clvit_ctx *ctx = t->m->ctx;
    const grad_acts *ga = &t->ga;
    const int clipping = t->tc.clip_norm > 0.0f;
    if (clipping)
        CLVIT_CHECK(
            clvit_clip_factor(ctx, ST(ga->clip), ST(ga->norm_part), &t->grads, t->tc.clip_norm));
    const clvit_adam_args a = {lr,
                               t->tc.beta1,
                               t->tc.beta2,
                               t->tc.eps,
                               t->tc.weight_decay,
                               t->tc.optimizer == CLVIT_ADAMW,
                               t->step + 1,
                               1.0f};
    return clvit_adam_step(ctx, &t->m->params, &t->grads, &t->adam_m, &t->adam_v,
                           clipping ? ST(ga->clip + 1) : CLVIT_T(NULL, 0), &a);
}

/* Enqueues forward, loss and backward of one batch (and with `update` clipping and Adam),
 * then the reads of its results into the slot. Returns without waiting for the device. */
/* sample0, global_batch: the batch is images [sample0, sample0 + B) of a global batch of
 * global_batch images (a data-parallel share; 0 and B on one device): the loss gradient is
 * scaled by 1 / global_batch and the dropout masks are those of the global indices. */
static clvit_status submit(clvit_trainer *t, const float *images, const int32_t *labels, int B,
                           int update, int sample0, int global_batch) {
    clvit_model *m = t->m;
    clvit_ctx *ctx = m->ctx;
    const clvit_dims *d = &m->dims;
    if (!images || !labels || B < 1 || B > t->max_batch)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "train step: batch %d (trainer max %d)", B,
                          t->max_batch);
    if (sample0 < 0 || global_batch < sample0 + B)
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "train step: share [%d, %d) outside a global batch of %d", sample0,
                          sample0 + B, global_batch);
    for (int b = 0; b < B; b++)
        if (labels[b] < 0 || labels[b] >= d->K)
            return clvit_fail(CLVIT_ERR_INVALID_ARG,
                              "train step: label %d of image %d is not in [0, %d)", labels[b], b,
                              d->K);
    step_slot *sl = &t->slots[t->next_slot];
    if (sl->pending)
        return clvit_fail(
            CLVIT_ERR_INVALID_ARG,
            "train step: two steps in flight; collect one first (clvit_train_collect)");
    CLVIT_CHECK(clvit_plan_acts(m, t->max_batch, 1));
    if (!sl->stage) CLVIT_CHECK(slot_create(t, sl));
    CLVIT_CHECK(slot_wait_ready(ctx, sl));
    if (!sl->mapped) { /* zero copy: mapped again after the slot's last step */
        cl_int e;
        const size_t bytes = ((size_t)t->max_batch * d->C * d->S * d->S + t->max_batch) * 4;
        CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_MAP, "clEnqueueMapBuffer(staging)"));
        sl->mapped = clEnqueueMapBuffer(ctx->queue, sl->stage, CL_TRUE, CL_MAP_WRITE, 0, bytes, 0,
                                        NULL, NULL, &e);
        if (e != CL_SUCCESS) return clvit_fail(e, "mapping the staging buffer");
    }
    const size_t img_floats = (size_t)B * d->C * d->S * d->S;
    const size_t lab_at = (size_t)t->max_batch * d->C * d->S * d->S;
    memcpy(sl->mapped, images, img_floats * sizeof(float));
    for (int b = 0; b < B; b++) {
        sl->mapped[lab_at + b] = (float)labels[b];
        sl->labels[b] = labels[b];
    }
    clvit_tensor labels_t;
    if (t->zero_copy) {
        CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_MAP, "clEnqueueUnmapMemObject(staging)"));
        CLVIT_CHECK_CL(clEnqueueUnmapMemObject(ctx->queue, sl->stage, sl->mapped, 0, NULL, NULL));
        sl->mapped = NULL;
        m->img_in = CLVIT_T(sl->stage, 0);
        labels_t = CLVIT_T(sl->stage, lab_at);
    } else {
        const clvit_tensor img = AT(m->a_top.img);
        labels_t = ST(t->ga.labels);
        CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_WRITE, "clEnqueueWriteBuffer(images)"));
        CLVIT_CHECK_CL(clEnqueueWriteBuffer(ctx->queue, img.buf, CL_FALSE, img.off * 4,
                                            img_floats * 4, sl->mapped, 0, NULL, NULL));
        CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_WRITE, "clEnqueueWriteBuffer(labels)"));
        CLVIT_CHECK_CL(clEnqueueWriteBuffer(ctx->queue, labels_t.buf, CL_FALSE, labels_t.off * 4,
                                            (size_t)B * 4, sl->mapped + lab_at, 0, NULL,
                                            &sl->ready));
    }
    const int dropping = has_dropout(&m->cfg);
    uint32_t seed = step_seed(t);
    m->drop_sample0 = (uint32_t)sample0;
    clvit_status st = clvit_forward_device(m, B, dropping ? &seed : NULL);
    m->img_in = CLVIT_T(NULL, 0);
    if (st) m->drop_sample0 = 0;
    CLVIT_CHECK(st);
    const float smooth = t->tc.label_smoothing, inv_b = 1.0f / (float)global_batch;
    const grad_acts *ga = &t->ga;
    if (m->cfg.distilled) { /* loss = (CE(head) + CE(head_dist)) / 2 */
        CLVIT_CHECK(clvit_xent_forward_backward(ctx, ST(ga->losses), ST(ga->dlogits),
                                                AT(m->a_top.logits), labels_t, B, d->K, smooth,
                                                0.5f * inv_b));
        CLVIT_CHECK(clvit_xent_forward_backward(ctx, ST(ga->losses_d), ST(ga->dlogits_d),
                                                AT(m->a_top.logits_d), labels_t, B, d->K, smooth,
                                                0.5f * inv_b));
    } else {
        CLVIT_CHECK(clvit_xent_forward_backward(ctx, ST(ga->losses), ST(ga->dlogits),
                                                AT(m->a_top.out), labels_t, B, d->K, smooth,
                                                inv_b));
    }
    st = backward(t, B, seed, dropping);
    m->drop_sample0 = 0;
    CLVIT_CHECK(st);
    const int clipping = update && t->tc.clip_norm > 0.0f;
    sl->lr = clvit_trainer_lr(t, t->step);
    if (update) CLVIT_CHECK(enqueue_update(t, sl->lr));
    if (t->zero_copy) { /* mapped again once the step has read it */
        cl_int e;
        const size_t bytes = (lab_at + (size_t)t->max_batch) * 4;
        CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_MAP, "clEnqueueMapBuffer(staging)"));
        sl->mapped = clEnqueueMapBuffer(ctx->queue, sl->stage, CL_FALSE, CL_MAP_WRITE, 0, bytes, 0,
                                        NULL, &sl->ready, &e);
        if (e != CL_SUCCESS) return clvit_fail(e, "mapping the staging buffer");
    }
    /* the results, read without blocking: losses (B, then B for the distillation head),
     * logits (B, K), the gradient norm */
    float *out = sl->out;
    const clvit_tensor lo = ST(ga->losses), lod = ST(ga->losses_d), z = AT(m->a_top.out),
                       nm = ST(ga->clip);
    CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_READ, "clEnqueueReadBuffer(losses)"));
    CLVIT_CHECK_CL(clEnqueueReadBuffer(ctx->queue, lo.buf, CL_FALSE, lo.off * 4, (size_t)B * 4, out,
                                       0, NULL, NULL));
    if (m->cfg.distilled) {
        CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_READ, "clEnqueueReadBuffer(losses)"));
        CLVIT_CHECK_CL(clEnqueueReadBuffer(ctx->queue, lod.buf, CL_FALSE, lod.off * 4,
                                           (size_t)B * 4, out + B, 0, NULL, NULL));
    }
    if (clipping) {
        CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_READ, "clEnqueueReadBuffer(gradient norm)"));
        CLVIT_CHECK_CL(clEnqueueReadBuffer(ctx->queue, nm.buf, CL_FALSE, nm.off * 4, 4,
                                           out + 2 * (size_t)B, 0, NULL, NULL));
    }
    CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_READ, "clEnqueueReadBuffer(logits)"));
    CLVIT_CHECK_CL(clEnqueueReadBuffer(ctx->queue, z.buf, CL_FALSE, z.off * 4, (size_t)B * d->K * 4,
                                       out + 2 * (size_t)B + 1, 0, NULL, &sl->done));
    const cl_int fe = clFlush(ctx->queue);
    if (fe != CL_SUCCESS) { /* the step is dropped, and its event with it */
        clReleaseEvent(sl->done);
        sl->done = NULL;
        return clvit_fail(fe, "clFlush: %s", clvit_status_string(fe));
    }
    sl->batch = B;
    sl->clipping = clipping;
    sl->step = t->step;
    sl->pending = 1;
    t->next_slot ^= 1;
    if (update) t->step++;
    return CLVIT_SUCCESS;
}

int clvit_train_pending(const clvit_trainer *t) {
    return t ? t->slots[0].pending + t->slots[1].pending : 0;
}

clvit_status clvit_train_collect(clvit_trainer *t, clvit_step_result *res) {
    if (!t || !res) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_train_collect: NULL");
    /* the oldest pending slot: the one the next submit would not use, if pending */
    step_slot *sl = &t->slots[t->next_slot ^ 1];
    if (t->slots[t->next_slot].pending) sl = &t->slots[t->next_slot];
    if (!sl->pending) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_train_collect: no step");
    sl->pending = 0; /* collected, or dropped when the wait fails */
    clvit_status st = clvit_fault(t->m->ctx, CLVIT_FAULT_WAIT, "clWaitForEvents(step results)");
    const cl_int e = st ? CL_SUCCESS : clWaitForEvents(1, &sl->done);
    clReleaseEvent(sl->done);
    sl->done = NULL;
    if (e != CL_SUCCESS)
        st = clvit_fail(e, "waiting for the results of step %ld: %s", sl->step + 1,
                        clvit_status_string(e));
    CLVIT_CHECK(st);
    const clvit_model *m = t->m;
    const int B = sl->batch, K = m->dims.K;
    const float *out = sl->out, *logits = sl->out + 2 * (size_t)B + 1;
    double loss = 0.0;
    int correct = 0;
    for (int b = 0; b < B; b++) {
        loss += m->cfg.distilled ? 0.5 * (out[b] + out[B + b]) : out[b];
        const float *z = logits + (size_t)b * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[best]) best = k;
        correct += best == sl->labels[b];
    }
    res->loss = loss / B;
    res->correct = correct;
    res->grad_norm = sl->clipping ? out[2 * (size_t)B] : 0.0;
    res->lr = sl->lr;
    const int bad_loss = !isfinite(res->loss);
    if (bad_loss || !isfinite(res->grad_norm)) {
        if (!t->diverged_at) t->diverged_at = sl->step + 1;
        return clvit_fail(CLVIT_ERR_DIVERGED, "%s is %g at step %ld",
                          bad_loss ? "loss" : "gradient norm",
                          bad_loss ? res->loss : res->grad_norm, sl->step + 1);
    }
    return CLVIT_SUCCESS;
}

clvit_status clvit_train_submit(clvit_trainer *t, const float *images, const int32_t *labels,
                                int batch) {
    if (!t) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_train_submit: NULL");
    return submit(t, images, labels, batch, 1, 0, batch);
}

/* Waits for every pending step (their results are dropped). */
static clvit_status drain(clvit_trainer *t) {
    clvit_step_result r;
    clvit_status first = CLVIT_SUCCESS;
    while (clvit_train_pending(t)) {
        clvit_status st = clvit_train_collect(t, &r);
        if (!first) first = st;
    }
    return first;
}

clvit_status clvit_train_grads(clvit_trainer *t, const float *images, const int32_t *labels,
                               int batch, clvit_step_result *res) {
    if (!t || !res) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_train_grads: NULL");
    CLVIT_CHECK(drain(t));
    CLVIT_CHECK(submit(t, images, labels, batch, 0, 0, batch));
    return clvit_train_collect(t, res);
}

clvit_status clvit_train_step(clvit_trainer *t, const float *images, const int32_t *labels,
                              int batch, clvit_step_result *res) {
    if (!t || !res) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_train_step: NULL");
    CLVIT_CHECK(drain(t));
    CLVIT_CHECK(submit(t, images, labels, batch, 1, 0, batch));
    return clvit_train_collect(t, res);
}

/* ---------------------------------------------------------------- data-parallel hooks
 * A replica computes the gradient of its share (submit_share), the caller sums the replicas'
 * gradients and writes the sum back to one trainer (write_grads), which clips and steps
 * (apply_grads). lib/dist.c builds the replica group on these. */

clvit_status clvit_train_submit_share(clvit_trainer *t, const float *images, const int32_t *labels,
                                      int batch, int sample0, int global_batch) {
    if (!t) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_train_submit_share: NULL");
    return submit(t, images, labels, batch, 0, sample0, global_batch);
}

clvit_status clvit_trainer_write_grads(clvit_trainer *t, const float *host, size_t count) {
    if (!t || !host || count != t->m->num_params)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "write_grads: want %zu floats",
                          t ? t->m->num_params : 0);
    CLVIT_CHECK(drain(t));
    return clvit_arena_write(t->m->ctx, &t->grads, 0, host, count);
}

clvit_status clvit_trainer_apply_grads(clvit_trainer *t, clvit_step_result *res) {
    if (!t || !res) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_trainer_apply_grads: NULL");
    CLVIT_CHECK(drain(t));
    clvit_ctx *ctx = t->m->ctx;
    const int clipping = t->tc.clip_norm > 0.0f;
    const float lr = clvit_trainer_lr(t, t->step);
    CLVIT_CHECK(enqueue_update(t, lr));
    float norm = 0.0f;
    if (clipping) CLVIT_CHECK(clvit_read(ctx, ST(t->ga.clip).buf, ST(t->ga.clip).off, &norm, 1));
    CLVIT_CHECK(clvit_ctx_finish(ctx));
    res->grad_norm = norm;
    res->lr = lr;
    t->step++;
    return CLVIT_SUCCESS;
}

void clvit_trainer_set_step(clvit_trainer *t, long step) {
    t->step = step;
}

clvit_model *clvit_trainer_model(clvit_trainer *t) {
    return t->m;
}

clvit_status clvit_trainer_moments(clvit_trainer *t, float *m, float *v, int write) {
    CLVIT_CHECK(drain(t));
    const size_t n = t->m->num_params;
    if (write) {
        CLVIT_CHECK(clvit_arena_write(t->m->ctx, &t->adam_m, 0, m, n));
        return clvit_arena_write(t->m->ctx, &t->adam_v, 0, v, n);
    }
    CLVIT_CHECK(clvit_arena_read(t->m->ctx, &t->adam_m, 0, m, n));
    return clvit_arena_read(t->m->ctx, &t->adam_v, 0, v, n);
}

clvit_status clvit_trainer_read_grads(clvit_trainer *t, float *host, size_t count) {
    if (!t || !host || count != t->m->num_params)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "read_grads: want %zu floats",
                          t ? t->m->num_params : 0);
    CLVIT_CHECK(drain(t));
    return clvit_arena_read(t->m->ctx, &t->grads, 0, host, count);
}

/* ---------------------------------------------------------------- checkpoints */

/* A checkpoint holds no NaN or Inf: host is the parameters, then the first and second
 * moments, each in the parameter layout. */
static clvit_status check_finite(const clvit_model *m, const float *host, const char *path) {
    for (int part = 0; part < 3; part++) {
        for (int r = 0; r < m->num_table; r++) {
            const clvit_param *p = &m->table[r];
            const float *v = host + (size_t)part * m->num_params + p->offset;
            for (size_t i = 0; i < p->numel; i++)
                if (!isfinite(v[i]))
                    return clvit_fail(CLVIT_ERR_DIVERGED, "%s not written: %s%s[%zu] is %g", path,
                                      part == 0   ? ""
                                      : part == 1 ? "optim.m."
                                                  : "optim.v.",
                                      p->name, i, v[i]);
        }
    }
    return CLVIT_SUCCESS;
}

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
    if (!st) st = drain(t);
    if (!st && t->diverged_at)
        st = clvit_fail(CLVIT_ERR_DIVERGED, "%s not written: step %ld diverged", path,
                        t->diverged_at);
    if (!st) st = clvit_arena_read(m->ctx, &m->params, 0, host, n);
    if (!st) st = clvit_arena_read(m->ctx, &t->adam_m, 0, host + n, n);
    if (!st) st = clvit_arena_read(m->ctx, &t->adam_v, 0, host + 2 * n, n);
    if (!st) st = check_finite(m, host, path);
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

clvit_status clvit_checkpoint_step(const clvit_st_file *f, const char *path, long *step) {
    if (!clvit_st_meta_long(f, "clvit.step", 0, CLVIT_CKPT_MAX_STEP, step))
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "%s: no valid clvit.step in the metadata (not a training checkpoint?)",
                          path);
    return CLVIT_SUCCESS;
}

clvit_status clvit_trainer_load_state(clvit_trainer *t, const char *path) {
    if (!t || !path) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_trainer_load_state: NULL");
    clvit_model *m = t->m;
    clvit_st_file *f;
    CLVIT_CHECK(clvit_st_open(path, &f));
    const size_t n = m->num_params;
    float *host = malloc(2 * n * sizeof *host);
    clvit_status st = host ? CLVIT_SUCCESS : clvit_fail(CLVIT_ERR_NOMEM, "loading %s", path);
    long s = -1;
    if (!st) st = clvit_checkpoint_step(f, path, &s);
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
    if (!st) st = drain(t);
    if (!st) st = clvit_arena_write(m->ctx, &t->adam_m, 0, host, n);
    if (!st) st = clvit_arena_write(m->ctx, &t->adam_v, 0, host + n, n);
    if (!st) t->step = s;
    free(host);
    clvit_st_close(f);
    return st;
}

void clvit_trainer_buffer_plan(const clvit_trainer *t, char *buf, size_t size) {
    const clvit_arena *roles[] = {&t->m->params, &t->grads,   &t->adam_m,
                                  &t->adam_v,    &t->m->acts, &t->scratch};
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof roles / sizeof roles[0] && used < size; i++) {
        char line[160];
        clvit_arena_describe(roles[i], line, sizeof line);
        int w = snprintf(buf + used, size - used, "%s: %s\n", roles[i]->what, line);
        if (w < 0) break;
        used += (size_t)w;
    }
}
