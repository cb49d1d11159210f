/*
 * head.cl - from tokens to the classifier input, and the distilled-head average.
 *
 *   x       (B, N, D)  final-norm output
 *   pooled  (B, D)     token `tok` of each image (class or distillation token), or with
 *                      avg=1 the mean over tokens T..N-1 (the patch tokens)
 *   logits  (B, K)     (a + b) / 2 for distilled models at inference
 * pool_backward is the transpose of pool_forward over the whole of dx (tokens that were
 * not pooled get gradient 0), with a BLAS-style beta.
 */

__kernel void pool_forward(__global float *pooled, ulong pooled_off, __global const float *x,
                           ulong x_off, int B, int N, int D, int T, int tok, int avg) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)B * D) return;
    const int d = i % D, b = i / D;
    __global const float *xb = x + x_off + (size_t)b * N * D + d;
    float v;
    if (avg) {
        float s = 0.0f;
        for (int n = T; n < N; n++)
            s += xb[(size_t)n * D];
        v = s / (N - T);
    } else {
        v = xb[(size_t)tok * D];
    }
    pooled[pooled_off + i] = v;
}

__kernel void average2(__global float *out, ulong out_off, __global const float *a, ulong a_off,
                       __global const float *b, ulong b_off, int n) {
    const int i = get_global_id(0);
    if (i >= n) return;
    out[out_off + i] = 0.5f * (a[a_off + i] + b[b_off + i]);
}

/* One work-item per element of dx (B, N, D). beta == 0 never reads dx. */
__kernel void pool_backward(__global float *dx, ulong dx_off, float beta,
                            __global const float *dpooled, ulong dpooled_off, int B, int N, int D,
                            int T, int tok, int avg) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)B * N * D) return;
    const int d = i % D, n = (i / D) % N, b = i / ((size_t)D * N);
    const float g = dpooled[dpooled_off + (size_t)b * D + d];
    float v = 0.0f;
    if (avg) {
        if (n >= T) v = g / (N - T);
    } else if (n == tok) {
        v = g;
    }
    dx[dx_off + i] = beta == 0.0f ? v : beta * dx[dx_off + i] + v;
}
