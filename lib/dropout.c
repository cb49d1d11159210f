/*
 * dropout.c - dropout and drop-path with masks regenerated from (seed, site) rather than
 * stored (kernels in cl/dropout.cl).
 */
#include "train_ops.h"

static clvit_status launch(clvit_ctx *ctx, const char *name, int nargs_before, cl_mem a,
                           cl_ulong a_off, cl_mem b, cl_ulong b_off, size_t n, size_t per_sample,
                           const clvit_drop *d) {
    /* the mask hashes a 32-bit element index */
    if (n > 0xffffffffu) return clvit_fail(CLVIT_ERR_UNSUPPORTED, "dropout over %zu", n);
    cl_kernel k;
    CLVIT_CHECK(clvit_kernel(ctx, "dropout.cl", name, NULL, &k));
    cl_ulong nn = n;
    cl_uint ps = (cl_uint)(per_sample ? per_sample : 1);
    if (nargs_before == 2)
        CLVIT_CHECK(clvit_args(k, 9, CLVIT_A(a), CLVIT_A(a_off), CLVIT_A(nn), CLVIT_A(ps),
                               CLVIT_A(d->p_drop), CLVIT_A(d->p_path), CLVIT_A(d->seed),
                               CLVIT_A(d->site), CLVIT_A(d->sample0)));
    else
        CLVIT_CHECK(clvit_args(k, 11, CLVIT_A(a), CLVIT_A(a_off), CLVIT_A(b), CLVIT_A(b_off),
                               CLVIT_A(nn), CLVIT_A(ps), CLVIT_A(d->p_drop), CLVIT_A(d->p_path),
                               CLVIT_A(d->seed), CLVIT_A(d->site), CLVIT_A(d->sample0)));
    return clvit_launch(ctx, k, name, n, 0);
}

clvit_status clvit_dropout_apply(clvit_ctx *ctx, clvit_tensor x, size_t n, size_t per_sample,
                                 const clvit_drop *d) {
    if (d->p_drop <= 0.0f && d->p_path <= 0.0f) return CLVIT_SUCCESS;
    return launch(ctx, "dropout_apply", 2, x.buf, x.off, NULL, 0, n, per_sample, d);
}

clvit_status clvit_dropout_residual(clvit_ctx *ctx, clvit_tensor y, clvit_tensor res, size_t n,
                                    size_t per_sample, const clvit_drop *d) {
    return launch(ctx, "dropout_residual", 4, y.buf, y.off, res.buf, res.off, n, per_sample, d);
}

clvit_status clvit_dropout_copy(clvit_ctx *ctx, clvit_tensor out, clvit_tensor dy, size_t n,
                                size_t per_sample, const clvit_drop *d) {
    return launch(ctx, "dropout_copy", 4, out.buf, out.off, dy.buf, dy.off, n, per_sample, d);
}
