/*
 * linear.cl - epilogues of Linear layers (the product itself is a CLBlast GEMM):
 * bias add, bias + residual, bias + exact GELU, bias + tanh.
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
