/*
 * common.cl - what several kernel files share, written once: work-group reductions, the
 * dropout hash, the normal CDF behind the exact GELU, and horizontal vector sums.
 *
 * A kernel file uses it with  #include "common.cl". lib/program.c puts this file's text in
 * place of that line when it builds a program (the kernels are embedded in the library), and
 * a standalone compiler finds it with -I cl, so every file still builds alone. Everything
 * here is static inline or a macro, so unused parts cost nothing.
 */
#ifndef CLVIT_COMMON_CL
#define CLVIT_COMMON_CL

/* ---- work-group reductions. WGS items (a power of two), scratch holds WGS floats; every item
 * gets the result, and scratch may be reused right after. */
#ifdef WGS
#define CLVIT_GROUP_REDUCE(NAME, OP)                                                               \
    static inline float NAME(float v, __local float *scratch) {                                    \
        const int lid = get_local_id(0);                                                           \
        scratch[lid] = v;                                                                          \
        barrier(CLK_LOCAL_MEM_FENCE);                                                              \
        for (int s = WGS / 2; s > 0; s >>= 1) {                                                    \
            if (lid < s) scratch[lid] = OP(scratch[lid], scratch[lid + s]);                        \
            barrier(CLK_LOCAL_MEM_FENCE);                                                          \
        }                                                                                          \
        const float r = scratch[0];                                                                \
        barrier(CLK_LOCAL_MEM_FENCE);                                                              \
        return r;                                                                                  \
    }
#define CLVIT_ADD(a, b) ((a) + (b))
CLVIT_GROUP_REDUCE(group_sum, CLVIT_ADD)
CLVIT_GROUP_REDUCE(group_max, fmax)
#endif

/* ---- the dropout hash: uniform [0, 1) from (seed, site, index), a 32-bit integer hash
 * (lowbias32 rounds). Defined for uint and uint16 (T) so the attention kernel draws the masks
 * clvit_dropout_apply would, 16 at a time. */
#define CLVIT_DEFINE_UNIFORM01(NAME, T, FT, CONVERT)                                               \
    static inline FT NAME(uint seed, uint site, T i) {                                             \
        T h = i * 0x9E3779B1u ^ seed ^ (site * 0x85EBCA77u);                                       \
        h ^= h >> 16;                                                                              \
        h *= 0x7FEB352Du;                                                                          \
        h ^= h >> 15;                                                                              \
        h *= 0x846CA68Bu;                                                                          \
        h ^= h >> 16;                                                                              \
        h ^= seed >> 7;                                                                            \
        h *= 0x7FEB352Du;                                                                          \
        h ^= h >> 15;                                                                              \
        return CONVERT(h >> 8) * (1.0f / 16777216.0f);                                             \
    }

/* ---- Phi(x) = 0.5 (1 + erf(x / sqrt 2)), the normal CDF of the exact GELU, through
 * erfc(z) = t exp(-z^2 - 1.26551223 + t (...)), t = 1 / (1 + z/2) (Numerical Recipes' erfcc:
 * relative error below 1.2e-7 for z >= 0): exp vectorises where the erf builtin is a scalar
 * library call on some CPUs (7x slower on PoCL), and Phi(x) = erfc(-x/sqrt2)/2 stays accurate
 * in the negative tail where 1 + erf cancels. Defined per type T (float and vector types),
 * because epilogues must run on whole vectors. */
#define CLVIT_DEFINE_NORMAL_CDF(T, NAME)                                                           \
    static inline T NAME(T x) {                                                                    \
        const T z = fabs(x) * 0.70710678118654752f;                                                \
        const T t = 1.0f / (1.0f + 0.5f * z);                                                      \
        const T poly =                                                                             \
            -1.26551223f +                                                                         \
            t * (1.00002368f +                                                                     \
                 t * (0.37409196f +                                                                \
                      t * (0.09678418f +                                                           \
                           t * (-0.18628806f +                                                     \
                                t * (0.27886807f +                                                 \
                                     t * (-1.13520398f +                                           \
                                          t * (1.48851587f +                                       \
                                               t * (-0.82215223f + t * 0.17087277f))))))));        \
        const T half_erfc = 0.5f * t * exp(-z * z + poly);                                         \
        return select(half_erfc, 1.0f - half_erfc, x >= 0.0f);                                     \
    }

/* ---- horizontal sums, through a private array and float8 halves: swizzling a float16 into
 * narrower vectors makes Oclgrind 21.10's --uninitialized check report false errors, and
 * adding extracted lanes crashes it (hence dot() for the last step); on PoCL this costs a few
 * percent over swizzles, once per dot product. */
static inline float hsum16(float16 v) {
    float t[16];
    vstore16(v, 0, t);
    const float8 a = vload8(0, t) + vload8(1, t);
    return dot(a.lo + a.hi, (float4)1.0f);
}
static inline float hsum8(float8 v) {
    return dot(v.lo + v.hi, (float4)1.0f);
}
static inline float hsum4(float4 v) {
    return dot(v, (float4)1.0f);
}
static inline float hsum2(float2 v) {
    return dot(v, (float2)1.0f);
}
static inline float hsum1(float v) {
    return v;
}
static inline float hmax16(float16 v) {
    float t[16];
    vstore16(v, 0, t);
    const float8 a = fmax(vload8(0, t), vload8(1, t));
    const float4 b = fmax(a.lo, a.hi);
    const float2 c = fmax(b.lo, b.hi);
    return fmax(c.x, c.y);
}

#endif
