/*
 * ref_layers.h - plain C references of the layer kernels in double, the checks that compare
 * against them, finite differences, and small device helpers; shared by test_kernels.c
 * (forward) and test_backward.c (backward). Header-only with static inline functions
 * because CMake builds each tests/test_*.c with testutil.c alone.
 *
 * Layouts are those of lib/layers.h: row-major, batch-first.
 *   LayerNorm   x, out (R, C); weight, bias (C); eps 1e-6
 *   Linear      x (rows, in), W (out, in), b (out), y/pre/res (rows, out)
 *   attention   qkv (B, N, 3D) with columns (3, H, hd); att and mask (B, H, N, N);
 *               out (B, N, D)
 *   patch emb.  img (B, C, S, S); cols (B*P, K), K = C*p*p; W (D, K); x (B, T+P, D)
 *   pooling     x (B, N, D) -> pooled (B, D)
 * Backward references overwrite their outputs.
 */
#ifndef CLVIT_REF_LAYERS_H
#define CLVIT_REF_LAYERS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "train_ops.h"

#define REF_LN_EPS 1e-6
#define REF_SQRT1_2 0.70710678118654752440
#define REF_INV_SQRT_2PI 0.39894228040143267794

/* Fails the cmocka test with the library's last error when a call does not succeed. */
#define TU_OK(expr)                                                                                \
    do {                                                                                           \
        clvit_status tu_s_ = (expr);                                                               \
        if (tu_s_ != CLVIT_SUCCESS) printf("%s: %s\n", #expr, clvit_last_error());                 \
        assert_int_equal(tu_s_, CLVIT_SUCCESS);                                                    \
    } while (0)

/* ---------------------------------------------------------------- host arrays */

static inline double *ref_alloc(size_t n) {
    double *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

static inline float *ref_allocf(size_t n) {
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

static inline double *ref_widen(const float *x, size_t n) {
    double *d = ref_alloc(n);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static inline float *ref_uniform(size_t n, uint64_t *rng, float lo, float hi) {
    float *x = ref_allocf(n);
    tu_fill_uniform(x, n, rng, lo, hi);
    return x;
}

/* ---------------------------------------------------------------- checks */

/* |got - ref| <= atol + rtol * |ref| everywhere. Prints one line with the max |diff| and the
 * worst fraction of the tolerance used, then (on failure) the first mismatches. */
static inline int check_f(const char *what, const float *got, const double *ref, size_t n,
                          double atol, double rtol) {
    double maxd = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= maxd)) maxd = d;
        double f = d == 0.0 ? 0.0 : d / (atol + rtol * fabs(ref[i]));
        if (!(f <= worst)) worst = f;
    }
    printf("  %-34s n=%-5zu max|diff| %.2e  worst %.3f of tol (atol %.0e rtol %.0e)\n", what, n,
           maxd, worst, atol, rtol);
    return tu_allclose(what, got, ref, n, atol, rtol);
}

static inline int check_d(const char *what, const double *got, const double *ref, size_t n,
                          double atol, double rtol) {
    double maxd = 0.0, worst = 0.0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - ref[i]);
        if (!(d <= maxd)) maxd = d;
        double f = d == 0.0 ? 0.0 : d / (atol + rtol * fabs(ref[i]));
        if (!(f <= worst)) worst = f;
        if (!(f <= 1.0) && bad++ < 5)
            printf("  %s[%zu]: got %.12g want %.12g (diff %.3g)\n", what, i, got[i], ref[i], d);
    }
    printf("  %-34s n=%-5zu max|diff| %.2e  worst %.3f of tol (atol %.0e rtol %.0e)\n", what, n,
           maxd, worst, atol, rtol);
    if (bad) printf("  %s: %zu of %zu mismatches\n", what, bad, n);
    return bad == 0;
}

/* ---------------------------------------------------------------- finite differences */

typedef double (*ref_loss_fn)(void *state);

/* Central differences in double of loss() w.r.t. every element of x (perturbed in place and
 * restored), compared with the analytic gradient. */
static inline int fd_check_ref(const char *what, ref_loss_fn loss, void *st, double *x, size_t n,
                               const double *grad, double h, double atol, double rtol) {
    double *fd = ref_alloc(n);
    for (size_t i = 0; i < n; i++) {
        const double orig = x[i];
        x[i] = orig + h;
        const double lp = loss(st);
        x[i] = orig - h;
        const double lm = loss(st);
        x[i] = orig;
        fd[i] = (lp - lm) / (2.0 * h);
    }
    int ok = check_d(what, grad, fd, n, atol, rtol);
    free(fd);
    return ok;
}

/* Writes x (n floats) to b[off .. off+n) as one write of the whole buffer from offset 0, the
 * rest read back first. Oclgrind 21.10's --uninitialized check takes each host write as the
 * buffer's new extent of initialised data counted from offset 0, and a fill as none, so the
 * tests write this way (dev_set for fills) to stay meaningful under it. */
static inline void dev_write(cl_mem b, size_t off, const float *x, size_t n) {
    size_t bytes = 0;
    assert_int_equal(clGetMemObjectInfo(b, CL_MEM_SIZE, sizeof bytes, &bytes, NULL), CL_SUCCESS);
    const size_t total = bytes / sizeof(float);
    assert_true(off + n <= total);
    float *all = ref_allocf(total);
    TU_OK(clvit_read(tu_ctx(), b, 0, all, total));
    memcpy(all + off, x, n * sizeof *x);
    TU_OK(clvit_write(tu_ctx(), b, 0, all, total));
    free(all);
}

/* b[off .. off+n) = v, through dev_write. */
static inline void dev_set(cl_mem b, size_t off, float v, size_t n) {
    float *x = ref_allocf(n);
    for (size_t i = 0; i < n; i++)
        x[i] = v;
    dev_write(b, off, x, n);
    free(x);
}

/* Central differences on the device, in float: nsample elements of buf[off .. off+n) spread
 * over the tensor are moved by +-h, loss() runs the device forward and returns the double
 * sum of output * R on the host; compared with the gradient the backward kernel gave. */
static inline int fd_check_device(const char *what, ref_loss_fn loss, void *st, cl_mem buf,
                                  size_t off, size_t n, const float *grad, int nsample, float h,
                                  double atol, double rtol) {
    clvit_ctx *ctx = tu_ctx();
    if (n == 0 || nsample <= 0) return 1;
    if ((size_t)nsample > n) nsample = (int)n;
    float *got = ref_allocf((size_t)nsample);
    double *fd = ref_alloc((size_t)nsample);
    const size_t stride = n / (size_t)nsample > 0 ? n / (size_t)nsample : 1;
    for (int j = 0; j < nsample; j++) {
        const size_t i = (size_t)j * stride + ((size_t)j * 7u) % stride;
        float orig, xp, xm;
        TU_OK(clvit_read(ctx, buf, off + i, &orig, 1));
        xp = orig + h;
        xm = orig - h;
        dev_write(buf, off + i, &xp, 1);
        const double lp = loss(st);
        dev_write(buf, off + i, &xm, 1);
        const double lm = loss(st);
        dev_write(buf, off + i, &orig, 1);
        fd[j] = (lp - lm) / ((double)xp - (double)xm);
        got[j] = grad[i];
    }
    int ok = check_f(what, got, fd, (size_t)nsample, atol, rtol);
    free(got);
    free(fd);
    return ok;
}

static inline double dot_fd(const float *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static inline double dot_dd(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* ---------------------------------------------------------------- device helpers */

static inline cl_mem dev_buffer(size_t n) {
    cl_mem b = NULL;
    TU_OK(clvit_buffer(tu_ctx(), n ? n : 1, &b));
    return b;
}

/* A buffer of pad + n floats holding x at offset pad, NaN before it (offsets are part of every
 * API). */
static inline cl_mem dev_upload(const float *x, size_t n, size_t pad) {
    cl_mem b = dev_buffer(pad + n);
    float *all = ref_allocf(pad + n);
    for (size_t i = 0; i < pad; i++)
        all[i] = NAN;
    memcpy(all + pad, x, n * sizeof *x);
    TU_OK(clvit_write(tu_ctx(), b, 0, all, pad + n));
    free(all);
    return b;
}

static inline float *dev_download(cl_mem b, size_t off, size_t n) {
    float *x = ref_allocf(n);
    TU_OK(clvit_read(tu_ctx(), b, off, x, n));
    return x;
}

/* ---------------------------------------------------------------- LayerNorm */

static inline void ref_layernorm_fwd(double *out, double *mean, double *rstd, const double *x,
                                     const double *w, const double *b, int R, int C) {
    for (int r = 0; r < R; r++) {
        const double *xr = x + (size_t)r * C;
        double mu = 0.0, var = 0.0;
        for (int c = 0; c < C; c++)
            mu += xr[c];
        mu /= C;
        for (int c = 0; c < C; c++)
            var += (xr[c] - mu) * (xr[c] - mu);
        const double rs = 1.0 / sqrt(var / C + REF_LN_EPS);
        for (int c = 0; c < C; c++)
            out[(size_t)r * C + c] = (xr[c] - mu) * rs * w[c] + b[c];
        if (mean) mean[r] = mu;
        if (rstd) rstd[r] = rs;
    }
}

static inline void ref_layernorm_bwd(double *dx, double *dw, double *db, const double *dout,
                                     const double *x, const double *w, int R, int C) {
    memset(dw, 0, (size_t)C * sizeof *dw);
    memset(db, 0, (size_t)C * sizeof *db);
    double *xhat = ref_alloc((size_t)C);
    for (int r = 0; r < R; r++) {
        const double *xr = x + (size_t)r * C, *gr = dout + (size_t)r * C;
        double mu = 0.0, var = 0.0;
        for (int c = 0; c < C; c++)
            mu += xr[c];
        mu /= C;
        for (int c = 0; c < C; c++)
            var += (xr[c] - mu) * (xr[c] - mu);
        const double rs = 1.0 / sqrt(var / C + REF_LN_EPS);
        double m1 = 0.0, m2 = 0.0;
        for (int c = 0; c < C; c++) {
            xhat[c] = (xr[c] - mu) * rs;
            m1 += gr[c] * w[c];
            m2 += gr[c] * w[c] * xhat[c];
            dw[c] += gr[c] * xhat[c];
            db[c] += gr[c];
        }
        m1 /= C;
        m2 /= C;
        for (int c = 0; c < C; c++)
            dx[(size_t)r * C + c] = rs * (gr[c] * w[c] - m1 - xhat[c] * m2);
    }
    free(xhat);
}

/* ---------------------------------------------------------------- Linear */

static inline double ref_gelu(double x) {
    return 0.5 * x * (1.0 + erf(x * REF_SQRT1_2));
}

static inline double ref_gelu_grad(double x) {
    return 0.5 * (1.0 + erf(x * REF_SQRT1_2)) + x * exp(-0.5 * x * x) * REF_INV_SQRT_2PI;
}

static inline void ref_linear_fwd(clvit_epilogue epi, double *y, double *pre, const double *x,
                                  const double *W, const double *b, const double *res, int rows,
                                  int in, int out) {
    for (int r = 0; r < rows; r++) {
        for (int o = 0; o < out; o++) {
            double s = 0.0;
            for (int i = 0; i < in; i++)
                s += x[(size_t)r * in + i] * W[(size_t)o * in + i];
            if (epi != CLVIT_EPI_NONE) s += b[o];
            const size_t k = (size_t)r * out + o;
            switch (epi) {
            case CLVIT_EPI_RESIDUAL:
                y[k] = res[k] + s;
                break;
            case CLVIT_EPI_GELU:
                if (pre) pre[k] = s;
                y[k] = ref_gelu(s);
                break;
            case CLVIT_EPI_TANH:
                if (pre) pre[k] = s;
                y[k] = tanh(s);
                break;
            default:
                y[k] = s;
            }
        }
    }
}

/* dx, dW, db (not for EPI_NONE), dres (RESIDUAL only) from dy; pre-activations recomputed. */
static inline void ref_linear_bwd(clvit_epilogue epi, double *dx, double *dW, double *db,
                                  double *dres, const double *dy, const double *x, const double *W,
                                  const double *b, int rows, int in, int out) {
    double *dpre = ref_alloc((size_t)rows * out);
    for (int r = 0; r < rows; r++) {
        for (int o = 0; o < out; o++) {
            const size_t k = (size_t)r * out + o;
            double s = b[o];
            for (int i = 0; i < in; i++)
                s += x[(size_t)r * in + i] * W[(size_t)o * in + i];
            if (epi == CLVIT_EPI_GELU)
                dpre[k] = dy[k] * ref_gelu_grad(s);
            else if (epi == CLVIT_EPI_TANH)
                dpre[k] = dy[k] * (1.0 - tanh(s) * tanh(s));
            else
                dpre[k] = dy[k];
            if (epi == CLVIT_EPI_RESIDUAL) dres[k] = dy[k];
        }
    }
    for (int o = 0; o < out; o++) {
        double sb = 0.0;
        for (int r = 0; r < rows; r++)
            sb += dpre[(size_t)r * out + o];
        if (epi != CLVIT_EPI_NONE) db[o] = sb;
        for (int i = 0; i < in; i++) {
            double s = 0.0;
            for (int r = 0; r < rows; r++)
                s += dpre[(size_t)r * out + o] * x[(size_t)r * in + i];
            dW[(size_t)o * in + i] = s;
        }
    }
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < in; i++) {
            double s = 0.0;
            for (int o = 0; o < out; o++)
                s += dpre[(size_t)r * out + o] * W[(size_t)o * in + i];
            dx[(size_t)r * in + i] = s;
        }
    }
    free(dpre);
}

/* ---------------------------------------------------------------- attention */

/* The unfused math of the seed's Attention, per (image, head): the qkv bias added, heads split,
 * S = scale q k^T, P = softmax(S), y = (P * M) v with M the dropout mask (keep scales, (B, H,
 * N, N); NULL: no dropout), heads merged into out (B, N, D). att (may be NULL) gets P. */
static inline void ref_attention_fwd(double *out, double *att, const double *qkv,
                                     const double *bias, int has_bias, const double *mask,
                                     double scale, int B, int N, int H, int hd) {
    const int D = H * hd;
    double *q = ref_alloc((size_t)N * hd), *k = ref_alloc((size_t)N * hd),
           *v = ref_alloc((size_t)N * hd), *P = ref_alloc((size_t)N * N);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            for (int n = 0; n < N; n++)
                for (int e = 0; e < hd; e++) {
                    const double *row = qkv + ((size_t)b * N + n) * 3 * D + h * hd + e;
                    const double *bb = bias + h * hd + e;
                    q[(size_t)n * hd + e] = row[0] + (has_bias ? bb[0] : 0.0);
                    k[(size_t)n * hd + e] = row[D] + (has_bias ? bb[D] : 0.0);
                    v[(size_t)n * hd + e] = row[2 * D] + (has_bias ? bb[2 * D] : 0.0);
                }
            const size_t bh = (size_t)b * H + h;
            for (int i = 0; i < N; i++) {
                double m = -INFINITY, sum = 0.0;
                for (int j = 0; j < N; j++) {
                    double s = 0.0;
                    for (int e = 0; e < hd; e++)
                        s += q[(size_t)i * hd + e] * k[(size_t)j * hd + e];
                    P[(size_t)i * N + j] = scale * s;
                    m = fmax(m, scale * s);
                }
                for (int j = 0; j < N; j++) {
                    P[(size_t)i * N + j] = exp(P[(size_t)i * N + j] - m);
                    sum += P[(size_t)i * N + j];
                }
                for (int j = 0; j < N; j++)
                    P[(size_t)i * N + j] /= sum;
            }
            if (att) memcpy(att + bh * N * N, P, (size_t)N * N * sizeof *P);
            const double *M = mask ? mask + bh * N * N : NULL;
            for (int i = 0; i < N; i++)
                for (int e = 0; e < hd; e++) {
                    double s = 0.0;
                    for (int j = 0; j < N; j++)
                        s += P[(size_t)i * N + j] * (M ? M[(size_t)i * N + j] : 1.0) *
                             v[(size_t)j * hd + e];
                    out[((size_t)b * N + i) * D + h * hd + e] = s;
                }
        }
    }
    free(q);
    free(k);
    free(v);
    free(P);
}

/* dqkv (B, N, 3D) and, with has_bias, dbias (3D) from dout (B, N, D), same mask as the
 * forward: dV = (P * M)^T dy, dP = M * (dy V^T), dS = P * (dP - rowsum(dP * P)),
 * dQ = scale dS K, dK = scale dS^T Q; the bias gradient is the column sum of dqkv. */
static inline void ref_attention_bwd(double *dqkv, double *dbias, const double *dout,
                                     const double *qkv, const double *bias, int has_bias,
                                     const double *mask, double scale, int B, int N, int H,
                                     int hd) {
    const int D = H * hd;
    double *att = ref_alloc((size_t)B * H * N * N), *out = ref_alloc((size_t)B * N * D);
    ref_attention_fwd(out, att, qkv, bias, has_bias, mask, scale, B, N, H, hd);
    double *dS = ref_alloc((size_t)N * N);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const size_t bh = (size_t)b * H + h;
            const double *P = att + bh * N * N, *M = mask ? mask + bh * N * N : NULL;
#define QKV(which, n, e)                                                                           \
    (qkv[((size_t)b * N + (n)) * 3 * D + (which)*D + h * hd + (e)] +                               \
     (has_bias ? bias[(which)*D + h * hd + (e)] : 0.0))
#define DY(i, e) dout[((size_t)b * N + (i)) * D + h * hd + (e)]
#define DQKV(which, n, e) dqkv[((size_t)b * N + (n)) * 3 * D + (which)*D + h * hd + (e)]
#define MASK(i, j) (M ? M[(size_t)(i)*N + (j)] : 1.0)
            for (int i = 0; i < N; i++) {
                double dot = 0.0;
                for (int j = 0; j < N; j++) {
                    double s = 0.0;
                    for (int e = 0; e < hd; e++)
                        s += DY(i, e) * QKV(2, j, e);
                    dS[(size_t)i * N + j] = MASK(i, j) * s;
                    dot += dS[(size_t)i * N + j] * P[(size_t)i * N + j];
                }
                for (int j = 0; j < N; j++)
                    dS[(size_t)i * N + j] = P[(size_t)i * N + j] * (dS[(size_t)i * N + j] - dot);
            }
            for (int n = 0; n < N; n++)
                for (int e = 0; e < hd; e++) {
                    double sq = 0.0, sk = 0.0, sv = 0.0;
                    for (int j = 0; j < N; j++) {
                        sq += dS[(size_t)n * N + j] * QKV(1, j, e);
                        sk += dS[(size_t)j * N + n] * QKV(0, j, e);
                        sv += P[(size_t)j * N + n] * MASK(j, n) * DY(j, e);
                    }
                    DQKV(0, n, e) = scale * sq;
                    DQKV(1, n, e) = scale * sk;
                    DQKV(2, n, e) = sv;
                }
#undef QKV
#undef DY
#undef DQKV
#undef MASK
        }
    }
    if (has_bias)
        for (int c = 0; c < 3 * D; c++) {
            double s = 0.0;
            for (size_t r = 0; r < (size_t)B * N; r++)
                s += dqkv[r * 3 * D + c];
            dbias[c] = s;
        }
    free(att);
    free(out);
    free(dS);
}

/* The attention dropout mask (B*H*N*N keep scales, 0 or 1/(1-p)) as lib/dropout.c draws it
 * for d: clvit_dropout_apply over ones, per_sample 1. NULL when d does not drop. */
static inline double *dev_attention_mask(const clvit_drop *d, size_t n) {
    if (!d || d->p_drop <= 0.0f) return NULL;
    cl_mem b = NULL;
    TU_OK(clvit_buffer(tu_ctx(), n, &b));
    dev_set(b, 0, 1.0f, n);
    TU_OK(clvit_dropout_apply(tu_ctx(), CLVIT_T(b, 0), n, 1, d));
    float *m = ref_allocf(n);
    TU_OK(clvit_read(tu_ctx(), b, 0, m, n));
    clReleaseMemObject(b);
    double *md = ref_widen(m, n);
    free(m);
    return md;
}

/* ---------------------------------------------------------------- patch embedding */

static inline void ref_im2col(double *cols, const double *img, int B, int C, int S, int p) {
    const int g = S / p, K = C * p * p;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < g * g; i++)
            for (int k = 0; k < K; k++) {
                const int c = k / (p * p), ky = (k / p) % p, kx = k % p;
                const int yy = (i / g) * p + ky, xx = (i % g) * p + kx;
                cols[((size_t)b * g * g + i) * K + k] =
                    img[(((size_t)b * C + c) * S + yy) * S + xx];
            }
}

/* x (B, T+P, D) and pe (B*P, D, without the conv bias) from cols; dist only read when T == 2. */
static inline void ref_patch_embed_fwd(double *x, double *pe, const double *cols, const double *W,
                                       const double *bias, const double *cls, const double *dist,
                                       const double *pos, int B, int P, int K, int T, int D) {
    const int N = T + P;
    for (int b = 0; b < B; b++) {
        for (int d = 0; d < D; d++) {
            x[((size_t)b * N) * D + d] = cls[d] + pos[d];
            if (T == 2) x[((size_t)b * N + 1) * D + d] = dist[d] + pos[D + d];
        }
        for (int i = 0; i < P; i++)
            for (int d = 0; d < D; d++) {
                double s = 0.0;
                for (int k = 0; k < K; k++)
                    s += cols[((size_t)b * P + i) * K + k] * W[(size_t)d * K + k];
                if (pe) pe[((size_t)b * P + i) * D + d] = s;
                x[((size_t)b * N + T + i) * D + d] = s + bias[d] + pos[(size_t)(T + i) * D + d];
            }
    }
}

static inline void ref_patch_embed_bwd(double *dW, double *db, double *dcls, double *ddist,
                                       double *dpos, const double *dx, const double *cols, int B,
                                       int P, int K, int T, int D) {
    const int N = T + P;
    memset(dW, 0, (size_t)D * K * sizeof *dW);
    memset(db, 0, (size_t)D * sizeof *db);
    memset(dcls, 0, (size_t)D * sizeof *dcls);
    if (T == 2) memset(ddist, 0, (size_t)D * sizeof *ddist);
    memset(dpos, 0, (size_t)N * D * sizeof *dpos);
    for (int b = 0; b < B; b++) {
        const double *xb = dx + (size_t)b * N * D;
        for (size_t j = 0; j < (size_t)N * D; j++)
            dpos[j] += xb[j];
        for (int d = 0; d < D; d++) {
            dcls[d] += xb[d];
            if (T == 2) ddist[d] += xb[D + d];
        }
        for (int i = 0; i < P; i++)
            for (int d = 0; d < D; d++) {
                const double g = xb[(size_t)(T + i) * D + d];
                db[d] += g;
                for (int k = 0; k < K; k++)
                    dW[(size_t)d * K + k] += g * cols[((size_t)b * P + i) * K + k];
            }
    }
}

/* ---------------------------------------------------------------- pooling */

static inline void ref_pool_fwd(double *pooled, const double *x, int B, int N, int D, int T,
                                int tok, int avg) {
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++) {
            double v = 0.0;
            if (avg) {
                for (int n = T; n < N; n++)
                    v += x[((size_t)b * N + n) * D + d];
                v /= N - T;
            } else {
                v = x[((size_t)b * N + tok) * D + d];
            }
            pooled[(size_t)b * D + d] = v;
        }
}

static inline void ref_pool_bwd(double *dx, const double *dpooled, int B, int N, int D, int T,
                                int tok, int avg) {
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++)
            for (int d = 0; d < D; d++) {
                const double g = dpooled[(size_t)b * D + d];
                double v = 0.0;
                if (avg && n >= T) v = g / (N - T);
                if (!avg && n == tok) v = g;
                dx[((size_t)b * N + n) * D + d] = v;
            }
}

#endif
