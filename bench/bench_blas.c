/*
 * bench_blas.c - the host BLAS the gemm section compares clvit with: OpenBLAS's cblas_sgemm,
 * linked into clvit-bench only (CMake defines CLVIT_HAVE_OPENBLAS when it finds the library;
 * without it every function here says "not available" and the bench runs without the
 * OpenBLAS columns).
 *
 * The GEMM is the one bench_gemm_enqueue() runs on the device, on the same host matrices:
 * row-major C(m,n) = alpha op(A) op(B) with packed A and B (lda, ldb from the transposes), and
 * a strided-batched shape as a loop over the batch with strides m*k, k*n and m*n.
 */
#ifdef CLVIT_HAVE_OPENBLAS
/* cblas.h declares openblas_setaffinity() with cpu_set_t, which glibc defines with
 * _GNU_SOURCE only */
#define _GNU_SOURCE
#include <cblas.h>
#endif

#include "bench.h"

#include <stdlib.h>
#include <string.h>

int bench_blas_available(void) {
#ifdef CLVIT_HAVE_OPENBLAS
    return 1;
#else
    return 0;
#endif
}

int bench_blas_setup(int threads, bench_blas_info *info) {
    memset(info, 0, sizeof *info);
#ifdef CLVIT_HAVE_OPENBLAS
    if (threads < 1) threads = 1;
    openblas_set_num_threads(threads);
    info->threads = openblas_get_num_threads();
    const char *core = openblas_get_corename(), *config = openblas_get_config();
    snprintf(info->corename, sizeof info->corename, "%s", core ? core : "");
    /* the config string starts with a blank and ends with the core name: trim both */
    while (config && *config == ' ')
        config++;
    snprintf(info->config, sizeof info->config, "%s", config ? config : "");
    size_t n = strlen(info->config);
    while (n > 0 && info->config[n - 1] == ' ')
        info->config[--n] = '\0';
    return 1;
#else
    (void)threads;
    return 0;
#endif
}

void bench_blas_sgemm(const gemm_shape *g, const float *A, const float *B, float *C) {
#ifdef CLVIT_HAVE_OPENBLAS
    const size_t batch = g->batch ? g->batch : 1;
    for (size_t i = 0; i < batch; i++)
        cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
                    g->trans_b ? CblasTrans : CblasNoTrans, (blasint)g->m, (blasint)g->n,
                    (blasint)g->k, g->alpha, A + i * g->m * g->k, (blasint)bench_gemm_lda(g),
                    B + i * g->k * g->n, (blasint)bench_gemm_ldb(g), 0.0f, C + i * g->m * g->n,
                    (blasint)g->n);
#else
    (void)g;
    (void)A;
    (void)B;
    (void)C;
#endif
}
