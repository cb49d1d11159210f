/*
 * attention.cl - the non-GEMM parts of multi-head self-attention.
 *
 *   qkv   (B, N, 3, H, hd)   output of the qkv Linear (3*D = 3*H*hd columns), bias not added
 *   qkvh  (3, B, H, N, hd)   q, k, v split per head, contiguous for strided-batched GEMMs
 *   att   (B, H, N, N)       scores, softmax taken in place along the last dimension
 *   y     (B, H, N, hd)      att @ v
 *   out   (B, N, H*hd)       heads merged back
 */
#ifndef WGS
#define WGS 64
#endif

/* One work-item per element of qkv; adds the qkv bias (when has_bias) while permuting. */
__kernel void qkv_split(__global float *qkvh, uint qkvh_off, __global const float *qkv,
                        uint qkv_off, __global const float *p, uint bias_off, int has_bias, int B, int N,
                        int H, int hd) {
    const size_t i = get_global_id(0);
    const int D = H * hd;
    if (i >= (size_t)B * N * 3 * D) return;
    const int c = i % (3 * D);          /* column in (3, H, hd) */
    const int n = (i / (3 * D)) % N;
    const int b = i / ((size_t)3 * D * N);
    const int which = c / D, h = (c % D) / hd, e = c % hd;
    float v = qkv[qkv_off + i];
    if (has_bias) v += p[bias_off + c];
    qkvh[qkvh_off + ((((size_t)which * B + b) * H + h) * N + n) * hd + e] = v;
}

/* Row-wise softmax in place: one work-group per row of length N. */
__kernel __attribute__((reqd_work_group_size(WGS, 1, 1)))
void softmax_forward(__global float *att, uint att_off, int N) {
    __local float scratch[WGS];
    const int lid = get_local_id(0);
    __global float *r = att + att_off + (size_t)get_group_id(0) * N;
    float m = -INFINITY;
    for (int i = lid; i < N; i += WGS) m = fmax(m, r[i]);
    scratch[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WGS / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    m = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    float sum = 0.0f;
    for (int i = lid; i < N; i += WGS) {
        float e = exp(r[i] - m);
        r[i] = e;
        sum += e;
    }
    scratch[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WGS / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float inv = 1.0f / scratch[0];
    for (int i = lid; i < N; i += WGS) r[i] *= inv;
}

/* One work-item per output element: out[b, n, h*hd + e] = y[b, h, n, e]. */
__kernel void merge_heads(__global float *out, uint out_off, __global const float *y,
                          uint y_off, int B, int N, int H, int hd) {
    const size_t i = get_global_id(0);
    const int D = H * hd;
    if (i >= (size_t)B * N * D) return;
    const int c = i % D, n = (i / D) % N, b = i / ((size_t)D * N);
    const int h = c / hd, e = c % hd;
    out[out_off + i] = y[y_off + (((size_t)b * H + h) * N + n) * hd + e];
}
