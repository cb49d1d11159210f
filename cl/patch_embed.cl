/*
 * patch_embed.cl - patch embedding and token assembly.
 *
 * The stride-p convolution is a GEMM: im2col turns the images into one row per patch,
 *   img  (B, C, Hi, Wi)
 *   cols (B*P, C*p*p)      P = (Hi/p)*(Wi/p) patches in raster order; columns ordered
 *                          (c, ky, kx) like the flattened conv weight (D, C, p, p)
 * then cols @ W^T gives pe (B*P, D). embed_forward builds the token sequence
 *   x (B, N, D), N = T + P, T = 1 (class) or 2 (class, distillation) prefix tokens:
 *   x[b,0] = cls + pos[0], x[b,1] = dist + pos[1], x[b,T+i] = pe[b,i] + bias + pos[T+i]
 * Backward: embed_backward gathers the patch-token rows of dx into dpe (B*P, D); the weight
 * gradient is then dpe^T cols (a GEMM) and the bias, token and position gradients are
 * column sums (lib/reduce.c).
 */

__kernel void im2col(__global float *cols, ulong cols_off, __global const float *img, ulong img_off,
                     int B, int C, int Hi, int Wi, int p) {
    const size_t i = get_global_id(0);
    const int gw = Wi / p, gh = Hi / p, P = gw * gh, K = C * p * p;
    if (i >= (size_t)B * P * K) return;
    const int k = i % K;
    const int patch = (i / K) % P;
    const int b = i / ((size_t)K * P);
    const int c = k / (p * p), ky = (k / p) % p, kx = k % p;
    const int y = (patch / gw) * p + ky, x = (patch % gw) * p + kx;
    cols[cols_off + i] = img[img_off + (((size_t)b * C + c) * Hi + y) * Wi + x];
}

__kernel void embed_forward(__global float *x, ulong x_off, __global const float *pe, ulong pe_off,
                            __global const float *p, ulong cls_off, ulong dist_off, ulong bias_off,
                            __global const float *pos, ulong pos_off, int B, int N, int T, int D) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)B * N * D) return;
    const int d = i % D, n = (i / D) % N, b = i / ((size_t)D * N);
    float v;
    if (n == 0)
        v = p[cls_off + d];
    else if (n < T)
        v = p[dist_off + d];
    else
        v = pe[pe_off + ((size_t)b * (N - T) + (n - T)) * D + d] + p[bias_off + d];
    x[x_off + i] = v + pos[pos_off + (size_t)n * D + d];
}

/* One work-item per element of dpe: dpe[b, i, d] = dx[b, T + i, d]. */
__kernel void embed_backward(__global float *dpe, ulong dpe_off, __global const float *dx,
                             ulong dx_off, int B, int N, int T, int D) {
    const size_t i = get_global_id(0);
    const int P = N - T;
    if (i >= (size_t)B * P * D) return;
    const size_t row = i / D; /* b * P + patch */
    const size_t b = row / P;
    dpe[dpe_off + i] = dx[dx_off + (row + (b + 1) * T) * D + i % D];
}
