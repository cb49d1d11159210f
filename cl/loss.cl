/*
 * loss.cl - softmax cross-entropy, fused forward and backward, one work-group per image.
 *
 *   logits  (B, K)
 *   labels  (B)     class indices stored as floats (exact below 2^24)
 *   losses  (B)     per-image loss (not scaled)
 *   dlogits (B, K)  grad_scale * (softmax - target), target = (1-s) onehot + s/K
 * With label smoothing s the loss is (1-s) * -log p[y] + s * mean_k(-log p[k]), as
 * torch.nn.CrossEntropyLoss(label_smoothing=s). Max-subtracted, so large logits are safe.
 */
#ifndef WGS
#define WGS 64
#endif
#include "common.cl"

__kernel __attribute__((reqd_work_group_size(WGS, 1, 1))) void
softmax_xent(__global float *losses, ulong losses_off, __global float *dlogits, ulong dlogits_off,
             __global const float *logits, ulong logits_off, __global const float *labels,
             ulong labels_off, int K, float smoothing, float grad_scale) {
    __local float scratch[WGS];
    const int b = get_group_id(0), lid = get_local_id(0);
    __global const float *z = logits + logits_off + (size_t)b * K;
    __global float *dz = dlogits + dlogits_off + (size_t)b * K;
    const int y = (int)labels[labels_off + b];
    float m = -INFINITY;
    for (int k = lid; k < K; k += WGS)
        m = fmax(m, z[k]);
    m = group_max(m, scratch);
    float sum = 0.0f, zsum = 0.0f;
    for (int k = lid; k < K; k += WGS) {
        sum += exp(z[k] - m);
        zsum += z[k];
    }
    const float lse = m + log(group_sum(sum, scratch)); /* log sum exp */
    const float mean_z = group_sum(zsum, scratch) / K;
    if (lid == 0)
        losses[losses_off + b] = (1.0f - smoothing) * (lse - z[y]) + smoothing * (lse - mean_z);
    const float off_target = smoothing / K;
    for (int k = lid; k < K; k += WGS) {
        float target = off_target + (k == y ? 1.0f - smoothing : 0.0f);
        dz[k] = grad_scale * (exp(z[k] - lse) - target);
    }
}
