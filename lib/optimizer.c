/*
 * optimizer.c - Adam / AdamW as one kernel over the whole parameter buffer, and the global
 * gradient norm for clipping (kernels in cl/optimizer.cl).
 */
#include "train_ops.h"

#include <math.h>
#include <stdlib.h>

#define NORM_WGS 256
#define NORM_GROUPS 64

clvit_status clvit_adam_step(clvit_ctx *ctx, cl_mem p, cl_mem g, cl_mem m, cl_mem v, size_t n,
                             const clvit_adam_args *a) {
    if (a->step < 1) return clvit_fail(CLVIT_ERR_INVALID_ARG, "adam: step %ld < 1", a->step);
    if (n > 0xffffffffu) return clvit_fail(CLVIT_ERR_UNSUPPORTED, "adam: %zu parameters", n);
    cl_kernel k;
    CLVIT_CHECK(clvit_kernel(ctx, "optimizer.cl", "adam_step", NULL, &k));
    cl_uint nn = (cl_uint)n;
    float bc1 = (float)(1.0 - pow(a->beta1, (double)a->step));
    float bc2 = (float)(1.0 - pow(a->beta2, (double)a->step));
    CLVIT_CHECK(clvit_args(k, 14, CLVIT_A(p), CLVIT_A(g), CLVIT_A(m), CLVIT_A(v), CLVIT_A(nn),
                           CLVIT_A(a->lr), CLVIT_A(a->beta1), CLVIT_A(a->beta2), CLVIT_A(a->eps),
                           CLVIT_A(a->weight_decay), CLVIT_A(bc1), CLVIT_A(bc2),
                           CLVIT_A(a->grad_scale), CLVIT_A(a->decoupled)));
    return clvit_launch(ctx, k, "adam_step", n, 64);
}

clvit_status clvit_norm2(clvit_ctx *ctx, double *norm, cl_mem x, size_t n) {
    if (n > 0xffffffffu) return clvit_fail(CLVIT_ERR_UNSUPPORTED, "norm: %zu elements", n);
    cl_mem partial;
    CLVIT_CHECK(clvit_buffer(ctx, NORM_GROUPS, &partial));
    cl_kernel k;
    cl_uint nn = (cl_uint)n;
    clvit_status st = clvit_kernel(ctx, "optimizer.cl", "sumsq_partial", "-DWGS=256", &k);
    if (!st) st = clvit_args(k, 3, CLVIT_A(partial), CLVIT_A(x), CLVIT_A(nn));
    if (!st) st = clvit_launch_rows(ctx, k, "sumsq_partial", NORM_GROUPS, NORM_WGS);
    float host[NORM_GROUPS] = {0};
    if (!st) st = clvit_read(ctx, partial, 0, host, NORM_GROUPS);
    clReleaseMemObject(partial);
    double s = 0.0;
    for (int i = 0; i < NORM_GROUPS; i++)
        s += host[i];
    *norm = sqrt(s);
    return st;
}
