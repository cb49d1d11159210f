/*
 * optimizer.cl - one kernel per parameter buffer (lib/arena.h), and the sum-of-squares
 * reduction and clip factor behind global-norm gradient clipping.
 *
 *   p, g, m, v  (n)  parameters, gradients, first and second moments
 * adam_step follows torch.optim.Adam / AdamW exactly:
 *   g' = g * grad_scale (+ wd * p when L2, i.e. Adam's weight_decay)
 *   p  = p * (1 - lr * wd)  when decoupled (AdamW)
 *   m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2
 *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
 */
#ifndef WGS
#define WGS 256
#endif
#include "common.cl"

__kernel void adam_step(__global float *p, __global const float *g, __global float *m,
                        __global float *v, ulong n, float lr, float beta1, float beta2, float eps,
                        float wd, float bc1, float bc2, float grad_scale, int decoupled,
                        __global const float *clip, ulong clip_off, int has_clip) {
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const float scale = has_clip ? grad_scale * clip[clip_off] : grad_scale;
    float w = p[i];
    float grad = g[i] * scale;
    if (decoupled)
        w *= 1.0f - lr * wd;
    else
        grad += wd * w;
    const float mi = beta1 * m[i] + (1.0f - beta1) * grad;
    const float vi = beta2 * v[i] + (1.0f - beta2) * grad * grad;
    m[i] = mi;
    v[i] = vi;
    p[i] = w - (lr / bc1) * mi / (sqrt(vi) / sqrt(bc2) + eps);
}

/* partial[part_off + group] = sum of x[i]^2 over the group's slice. */
__kernel __attribute__((reqd_work_group_size(WGS, 1, 1))) void
sumsq_partial(__global float *partial, ulong part_off, __global const float *x, ulong n) {
    __local float scratch[WGS];
    const int lid = get_local_id(0);
    const size_t stride = get_global_size(0);
    float s = 0.0f;
    for (size_t i = get_global_id(0); i < n; i += stride)
        s += x[i] * x[i];
    s = group_sum(s, scratch);
    if (lid == 0) partial[part_off + get_group_id(0)] = s;
}

/* One work-item: out[0] = sqrt(sum of the partials), the global gradient norm, and
 * out[1] = min(1, max_norm / (norm + 1e-6)), torch.nn.utils.clip_grad_norm_'s factor, which
 * adam_step reads; so clipping needs no round trip to the host. */
__kernel void clip_factor(__global float *out, ulong out_off, __global const float *partial,
                          ulong part_off, int parts, float max_norm) {
    if (get_global_id(0) != 0) return;
    float s = 0.0f, c = 0.0f; /* Kahan: many partials of very different sizes */
    for (int i = 0; i < parts; i++) {
        const float y = partial[part_off + i] - c;
        const float t = s + y;
        c = (t - s) - y;
        s = t;
    }
    const float norm = sqrt(s);
    out[out_off] = norm;
    out[out_off + 1] = fmin(1.0f, max_norm / (norm + 1e-6f));
}
