/*
 * dropout.c - dropout and drop-path with masks regenerated from (seed, site) rather than
 * stored (kernels in cl/dropout.cl).
 */
#include "train_ops.h"

static clvit_status launch(clvit_ctx *ctx, const char *name, int nargs_before, cl_mem a,
                           cl_uint a_off, cl_mem b, cl_uint b_off, size_t n, size_t per_sample,
                           const clvit_drop *d) {
    if (n > 0xffffffffu) return clvit_fail(CLVIT_ERR_UNSUPPORTED, "dropout over %zu", n);
    cl_kernel k;
    CLVIT_CHECK(clvit_kernel(ctx, "dropout.cl", name, NULL, &k));
    cl_uint nn = (cl_uint)n, ps = (cl_uint)(per_sample ? per_sample : 1);
    if (nargs_before == 2)
        CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(a), CLVIT_A(a_off), CLVIT_A(nn), CLVIT_A(ps),
                               CLVIT_A(d->p_drop), CLVIT_A(d->p_path), CLVIT_A(d->seed),
                               CLVIT_A(d->site)));
    else
        CLVIT_CHECK(clvit_args(k, 10, CLVIT_A(a), CLVIT_A(a_off), CLVIT_A(b), CLVIT_A(b_off),
                               CLVIT_A(nn), CLVIT_A(ps), CLVIT_A(d->p_drop), CLVIT_A(d->p_path),
                               CLVIT_A(d->seed), CLVIT_A(d->site)));
    return clvit_launch(ctx, k, name, n, 64);
}

clvit_status clvit_dropout_apply(clvit_ctx *ctx, cl_mem x, size_t x_off, size_t n,
                                 size_t per_sample, const clvit_drop *d) {
    if (d->p_drop <= 0.0f && d->p_path <= 0.0f) return CLVIT_SUCCESS;
    return launch(ctx, "dropout_apply", 2, x, (cl_uint)x_off, NULL, 0, n, per_sample, d);
}

clvit_status clvit_dropout_residual(clvit_ctx *ctx, cl_mem y, size_t y_off, cl_mem res,
                                    size_t res_off, size_t n, size_t per_sample,
                                    const clvit_drop *d) {
    return launch(ctx, "dropout_residual", 4, y, (cl_uint)y_off, res, (cl_uint)res_off, n,
                  per_sample, d);
}

clvit_status clvit_dropout_copy(clvit_ctx *ctx, cl_mem out, size_t out_off, cl_mem dy,
                                size_t dy_off, size_t n, size_t per_sample, const clvit_drop *d) {
    return launch(ctx, "dropout_copy", 4, out, (cl_uint)out_off, dy, (cl_uint)dy_off, n, per_sample,
                  d);
}
