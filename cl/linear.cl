/*
 * linear.cl - epilogues of Linear layers (the product itself is a CLBlast GEMM):
 * bias add, bias + residual, bias + exact GELU, bias + tanh; and their backward:
 * the activation derivatives and the residual gradient add (the weight, bias and input
 * gradients are GEMMs and column sums).
 *
 *   y     (rows, cols)  GEMM output, updated in place
 *   bias  (cols)        in the parameter buffer at b_off
 * One work-item per element.
 */

/* y += bias */
__kernel void bias_add(__global float *y, uint y_off, __global const float *p, uint b_off,
                       int rows, int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    y[y_off + i] += p[b_off + i % cols];
}

/* y = res + y + bias */
__kernel void bias_residual(__global float *y, uint y_off, __global const float *res,
                            uint res_off, __global const float *p, uint b_off, int rows,
                            int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    y[y_off + i] += res[res_off + i] + p[b_off + i % cols];
}

/* pre += bias; act = gelu(pre) with the exact erf form, as torch.nn.GELU(). */
__kernel void bias_gelu(__global float *act, uint act_off, __global float *pre, uint pre_off,
                        __global const float *p, uint b_off, int rows, int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    const float x = pre[pre_off + i] + p[b_off + i % cols];
    pre[pre_off + i] = x;
    act[act_off + i] = 0.5f * x * (1.0f + erf(x * 0.70710678118654752f));
}

/* act = tanh(pre + bias), pre keeps the biased value */
__kernel void bias_tanh(__global float *act, uint act_off, __global float *pre, uint pre_off,
                        __global const float *p, uint b_off, int rows, int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    const float x = pre[pre_off + i] + p[b_off + i % cols];
    pre[pre_off + i] = x;
    act[act_off + i] = tanh(x);
}

/* dpre = dy * gelu'(pre), gelu'(x) = Phi(x) + x * phi(x) for the exact erf form. dpre may
 * alias dy. */
__kernel void gelu_backward(__global float *dpre, uint dpre_off, __global const float *dy,
                            uint dy_off, __global const float *pre, uint pre_off, int rows,
                            int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    const float x = pre[pre_off + i];
    const float cdf = 0.5f * (1.0f + erf(x * 0.70710678118654752f));
    const float pdf = exp(-0.5f * x * x) * 0.39894228040143268f; /* 1/sqrt(2 pi) */
    dpre[dpre_off + i] = dy[dy_off + i] * (cdf + x * pdf);
}

/* dpre = dy * (1 - y^2) with y = tanh(pre) saved by the forward. dpre may alias dy. */
__kernel void tanh_backward(__global float *dpre, uint dpre_off, __global const float *dy,
                            uint dy_off, __global const float *y, uint y_off, int rows,
                            int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    const float t = y[y_off + i];
    dpre[dpre_off + i] = dy[dy_off + i] * (1.0f - t * t);
}

/* dst += src: the residual branch of y = res + x W^T + b passes dy straight to dres. */
__kernel void add_inplace(__global float *dst, uint dst_off, __global const float *src,
                          uint src_off, int rows, int cols) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols) return;
    dst[dst_off + i] += src[src_off + i];
}
