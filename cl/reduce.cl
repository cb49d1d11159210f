/*
 * reduce.cl - column sums, the reduction behind every bias-like gradient.
 *
 *   x    (rows, cols)  row r starts at x_off + r*ld (ld >= cols; ld > cols picks one
 *                      token out of a (B, N, D) tensor, for example)
 *   out  (cols)        out = beta * out + sum over rows; beta == 0 never reads out
 *
 * One work-group per tile of TILE_C adjacent columns: item lid handles column
 * lid % TILE_C of the tile and every LANES-th row starting at lid / TILE_C, so each
 * sweep over a row reads TILE_C consecutive floats; the LANES partial sums are then
 * added in local memory.
 */
#ifndef TILE_C
#define TILE_C 32
#endif
#ifndef LANES
#define LANES 8
#endif

__kernel __attribute__((reqd_work_group_size(TILE_C * LANES, 1, 1))) void
colsum(__global float *out, ulong out_off, float beta, __global const float *x, ulong x_off,
       int rows, int cols, int ld) {
    __local float part[LANES][TILE_C];
    const int lid = get_local_id(0), tc = lid % TILE_C, lane = lid / TILE_C;
    const int c = get_group_id(0) * TILE_C + tc;
    float s = 0.0f;
    if (c < cols)
        for (int r = lane; r < rows; r += LANES)
            s += x[x_off + (size_t)r * ld + c];
    part[lane][tc] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lane != 0 || c >= cols) return;
    float t = 0.0f;
    for (int l = 0; l < LANES; l++)
        t += part[l][tc];
    out[out_off + c] = beta == 0.0f ? t : beta * out[out_off + c] + t;
}
