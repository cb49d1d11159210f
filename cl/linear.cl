/*
 * linear.cl - epilogues of Linear layers as separate kernels, used when CLBlast runs the
 * product (clvit's own GEMM fuses them, cl/gemm.cl):
 * bias add, bias + residual, bias + exact GELU, bias + tanh; and their backward:
 * the activation derivatives and the residual gradient add (the weight, bias and input
 * gradients are GEMMs and column sums).
 *
 *   y     (rows, cols)  GEMM output, updated in place
 *   bias  (cols)        in the parameter buffer at b_off
 * One work-item per element.
 */

/* y += bias */
__kernel void bias_add(__global float *y, ulong y_off, __global const float *p, ulong b_off,
                       int rows, int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    y[y_off + i] += p[b_off + i % cols];
}

/* y = res + y + bias */
__kernel void bias_residual(__global float *y, ulong y_off, __global const float *res,
                            ulong res_off, __global const float *p, ulong b_off, int rows,
                            int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    y[y_off + i] += res[res_off + i] + p[b_off + i % cols];
}

#include "common.cl"

/* Phi(x), the normal CDF that the exact GELU uses (cl/common.cl) */
CLVIT_DEFINE_NORMAL_CDF(float, normal_cdf)

/* pre += bias; act = gelu(pre) = pre * Phi(pre), the exact erf form of torch.nn.GELU(). */
__kernel void bias_gelu(__global float *act, ulong act_off, __global float *pre, ulong pre_off,
                        __global const float *p, ulong b_off, int rows, int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    const float x = pre[pre_off + i] + p[b_off + i % cols];
    pre[pre_off + i] = x;
    act[act_off + i] = x * normal_cdf(x);
}

/* act = tanh(pre + bias), pre keeps the biased value */
__kernel void bias_tanh(__global float *act, ulong act_off, __global float *pre, ulong pre_off,
                        __global const float *p, ulong b_off, int rows, int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    const float x = pre[pre_off + i] + p[b_off + i % cols];
    pre[pre_off + i] = x;
    act[act_off + i] = tanh(x);
}

/* dpre = dy * gelu'(pre), gelu'(x) = Phi(x) + x * phi(x) for the exact erf form. dpre may
 * alias dy. */
__kernel void gelu_backward(__global float *dpre, ulong dpre_off, __global const float *dy,
                            ulong dy_off, __global const float *pre, ulong pre_off, int rows,
                            int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    const float x = pre[pre_off + i];
    const float cdf = normal_cdf(x);
    const float pdf = exp(-0.5f * x * x) * 0.39894228040143268f; /* 1/sqrt(2 pi) */
    dpre[dpre_off + i] = dy[dy_off + i] * (cdf + x * pdf);
}

/* dpre = dy * (1 - y^2) with y = tanh(pre) saved by the forward. dpre may alias dy. */
__kernel void tanh_backward(__global float *dpre, ulong dpre_off, __global const float *dy,
                            ulong dy_off, __global const float *y, ulong y_off, int rows,
                            int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    const float t = y[y_off + i];
    dpre[dpre_off + i] = dy[dy_off + i] * (1.0f - t * t);
}

/* dst += src: the residual branch of y = res + x W^T + b passes dy straight to dres. */
__kernel void add_inplace(__global float *dst, ulong dst_off, __global const float *src,
                          ulong src_off, int rows, int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    dst[dst_off + i] += src[src_off + i];
}
