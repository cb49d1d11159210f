/*
 * optimizer.c - Adam / AdamW as one kernel launch per parameter buffer (the parameters,
 * gradients and moments share one chunk layout, lib/arena.h), and global-norm clipping with
 * the norm and the clip factor computed on the device (kernels in cl/optimizer.cl).
 */
#include "train_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define NORM_WGS 256

clvit_status clvit_adam_step(clvit_ctx *ctx, clvit_arena *p, clvit_arena *g, clvit_arena *m,
                             clvit_arena *v, clvit_tensor clip, const clvit_adam_args *a) {
    if (a->step < 1) return clvit_fail(CLVIT_ERR_INVALID_ARG, "adam: step %ld < 1", a->step);
    if (g->n != p->n || m->n != p->n || v->n != p->n)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "adam: parameter and state buffers differ");
    cl_kernel k;
    CLVIT_CHECK(clvit_kernel(ctx, "optimizer.cl", "adam_step", NULL, &k));
    float bc1 = (float)(1.0 - pow(a->beta1, (double)a->step));
    float bc2 = (float)(1.0 - pow(a->beta2, (double)a->step));
    const cl_int has_clip = clip.buf != NULL;
    cl_mem clip_buf = has_clip ? clip.buf : p->bufs[0]; /* unread, but must be valid */
    const cl_ulong clip_off = has_clip ? clip.off : 0;
    for (int c = 0; c < p->n; c++) {
        if (!p->floats[c]) continue;
        const cl_ulong n = p->floats[c];
        CLVIT_CHECK(clvit_args(k, 17, CLVIT_A(p->bufs[c]), CLVIT_A(g->bufs[c]), CLVIT_A(m->bufs[c]),
                               CLVIT_A(v->bufs[c]), CLVIT_A(n), CLVIT_A(a->lr), CLVIT_A(a->beta1),
                               CLVIT_A(a->beta2), CLVIT_A(a->eps), CLVIT_A(a->weight_decay),
                               CLVIT_A(bc1), CLVIT_A(bc2), CLVIT_A(a->grad_scale),
                               CLVIT_A(a->decoupled), CLVIT_A(clip_buf), CLVIT_A(clip_off),
                               CLVIT_A(has_clip)));
        CLVIT_CHECK(clvit_launch(ctx, k, "adam_step", (size_t)n, 0));
    }
    return CLVIT_SUCCESS;
}

/* The sum of squares of x (n floats) as CLVIT_NORM_GROUPS partials at part. */
static clvit_status sumsq(clvit_ctx *ctx, clvit_tensor part, cl_mem x, size_t n) {
    cl_kernel k;
    const size_t wg = clvit_fixed_wgs(ctx, NORM_WGS);
    char opts[24];
    snprintf(opts, sizeof opts, "-DWGS=%zu", wg);
    CLVIT_CHECK(clvit_kernel(ctx, "optimizer.cl", "sumsq_partial", opts, &k));
    const cl_ulong po = part.off, nn = n;
    CLVIT_CHECK(clvit_args(k, 4, CLVIT_A(part.buf), CLVIT_A(po), CLVIT_A(x), CLVIT_A(nn)));
    return clvit_launch_rows(ctx, k, "sumsq_partial", CLVIT_NORM_GROUPS, wg);
}

static clvit_status finish(clvit_ctx *ctx, clvit_tensor out, clvit_tensor part, int parts,
                           float max_norm) {
    cl_kernel k;
    CLVIT_CHECK(clvit_kernel(ctx, "optimizer.cl", "clip_factor", NULL, &k));
    const cl_ulong oo = out.off, po = part.off;
    CLVIT_CHECK(clvit_args(k, 6, CLVIT_A(out.buf), CLVIT_A(oo), CLVIT_A(part.buf), CLVIT_A(po),
                           CLVIT_A(parts), CLVIT_A(max_norm)));
    return clvit_launch(ctx, k, "clip_factor", 1, 1);
}

clvit_status clvit_clip_factor(clvit_ctx *ctx, clvit_tensor out, clvit_tensor part,
                               const clvit_arena *g, float max_norm) {
    for (int c = 0; c < g->n; c++)
        CLVIT_CHECK(sumsq(ctx, CLVIT_T(part.buf, part.off + (size_t)c * CLVIT_NORM_GROUPS),
                          g->bufs[c], g->floats[c]));
    return finish(ctx, out, part, g->n * CLVIT_NORM_GROUPS, max_norm);
}

clvit_status clvit_norm2(clvit_ctx *ctx, double *norm, cl_mem x, size_t n) {
    CLVIT_CHECK(clvit_scratch(ctx, CLVIT_NORM_GROUPS + 2));
    const clvit_tensor part = CLVIT_T(ctx->scratch, 2);
    CLVIT_CHECK(sumsq(ctx, part, x, n));
    CLVIT_CHECK(finish(ctx, CLVIT_T(ctx->scratch, 0), part, CLVIT_NORM_GROUPS, 1.0f));
    float host[1] = {0};
    CLVIT_CHECK(clvit_read(ctx, ctx->scratch, 0, host, 1));
    *norm = host[0];
    return CLVIT_SUCCESS;
}
