/*
 * bench_device.c - device limits: memory bandwidth (a copy kernel compiled here from a
 * string, and the driver's buffer copy), host<->device transfer rates (pageable and pinned
 * host memory), and SGEMM GFLOP/s (clvit_sgemm / clvit_sgemm_batched: the
 * plan's kernel per shape, as the model's products run)
 * on a square sweep and on the exact GEMM shapes of the ViT presets (per layer: patch
 * embedding, qkv, attention scores and values as strided-batched GEMMs over B*H, proj, fc1,
 * fc2, head), each next to OpenBLAS's cblas_sgemm on the same shape and host matrices
 * (bench_blas.c) when clvit-bench is built with it.
 *
 * All matrices are row-major, as in the model: a Linear is C(M,N) = X(M,K) W(N,K)^T, so its
 * GEMM has trans_b = 1. Every result is checked before it is timed (copies compared in full,
 * GEMMs on sampled entries against a double-precision dot product).
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ memory */

static const char *copy_source =
    "__kernel void bench_copy(__global const float4 *src, __global float4 *dst) {\n"
    "    size_t i = get_global_id(0);\n"
    "    dst[i] = src[i];\n"
    "}\n";

typedef enum { OP_KERNEL, OP_COPYBUF, OP_H2D, OP_D2H } mem_op;

typedef struct mem_job {
    clvit_ctx *ctx;
    mem_op op;
    cl_kernel kernel;
    cl_mem a, b;
    void *host;
    size_t bytes;
    int iters;
} mem_job;

static clvit_status mem_run(void *arg) {
    mem_job *j = arg;
    cl_command_queue q = clvit_ctx_cl_queue(j->ctx);
    for (int i = 0; i < j->iters; i++) {
        size_t global = j->bytes / 16;
        switch (j->op) {
        case OP_KERNEL:
            BENCH_CHECK_CL(
                clEnqueueNDRangeKernel(q, j->kernel, 1, NULL, &global, NULL, 0, NULL, NULL));
            break;
        case OP_COPYBUF:
            BENCH_CHECK_CL(clEnqueueCopyBuffer(q, j->a, j->b, 0, 0, j->bytes, 0, NULL, NULL));
            break;
        case OP_H2D:
            BENCH_CHECK_CL(
                clEnqueueWriteBuffer(q, j->a, CL_FALSE, 0, j->bytes, j->host, 0, NULL, NULL));
            break;
        case OP_D2H:
            BENCH_CHECK_CL(
                clEnqueueReadBuffer(q, j->a, CL_FALSE, 0, j->bytes, j->host, 0, NULL, NULL));
            break;
        }
    }
    BENCH_CHECK_CL(clFinish(q));
    return CLVIT_SUCCESS;
}

/* Times one memory operation and adds its row (GB/s). bytes_moved counts read + write. */
static clvit_status mem_measure(bench_env *e, mem_job *j, const char *name, double bytes_moved,
                                const char *note) {
    const bench_settings *s = e->s;
    j->iters = 1;
    BENCH_CHECK(mem_run(j)); /* first touch, lazy allocation, kernel compile */
    double t0 = bench_now();
    BENCH_CHECK(mem_run(j));
    j->iters = bench_iters_for(bench_now() - t0, s->min_time);
    double samples[BENCH_MAX_LIST * 8];
    int n = 0;
    bench_settings local = *s;
    if (local.reps > (int)(sizeof samples / sizeof samples[0]))
        local.reps = (int)(sizeof samples / sizeof samples[0]);
    BENCH_CHECK(bench_time(&local, mem_run, j, j->iters, samples, &n));
    for (int i = 0; i < n; i++)
        samples[i] = bytes_moved / samples[i] / 1e9;
    char shape[64];
    snprintf(shape, sizeof shape, "%zuMiB", j->bytes >> 20);
    bench_row *row = bench_add_row(e->res, "memory", name, "", 0, shape, e->dev, "GB/s", 1);
    if (!row) return bench_fail(CLVIT_ERR_NOMEM, "rows");
    bench_stats_from(&row->st, samples, n);
    snprintf(row->note, sizeof row->note, "%s", note);
    return CLVIT_SUCCESS;
}

static int check_equal(const float *a, const float *b, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            bench_log("check FAILED: %s: element %zu is %g, expected %g", what, i, (double)b[i],
                      (double)a[i]);
            return 0;
        }
    }
    return 1;
}

int bench_memory(bench_env *e) {
    clvit_ctx *ctx = e->ctx;
    size_t bytes = e->s->mem_bytes;
    const uint64_t max_alloc = clvit_ctx_device(ctx)->max_alloc_bytes;
    if (max_alloc && bytes > max_alloc / 2) bytes = (size_t)(max_alloc / 2);
    bytes = bytes / (1u << 20) * (1u << 20);
    if (bytes < (1u << 20)) bytes = 1u << 20;
    const size_t n = bytes / sizeof(float);
    bench_log("memory: bandwidth and transfers with %zu MiB buffers", bytes >> 20);

    clvit_status st = CLVIT_SUCCESS;
    cl_program prog = NULL;
    cl_kernel kernel = NULL;
    cl_mem a = NULL, b = NULL, pinned = NULL;
    float *host = malloc(bytes), *back = malloc(bytes), *pinned_ptr = NULL;
    if (!host || !back) {
        st = bench_fail(CLVIT_ERR_NOMEM, "host buffers");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        host[i] = (float)(i % 1000003) * 0.5f;
    BENCH_TRY(st, clvit_buffer_create(ctx, n, &a), done);
    BENCH_TRY(st, clvit_buffer_create(ctx, n, &b), done);
    BENCH_TRY(st, clvit_buffer_write(ctx, a, 0, host, n), done);

    cl_int err;
    prog = clCreateProgramWithSource(clvit_ctx_cl_context(ctx), 1, &copy_source, NULL, &err);
    if (err == CL_SUCCESS) {
        cl_device_id dev = clvit_ctx_cl_device(ctx);
        err = clBuildProgram(prog, 1, &dev, "", NULL, NULL);
    }
    if (err == CL_SUCCESS) kernel = clCreateKernel(prog, "bench_copy", &err);
    if (err == CL_SUCCESS) err = clSetKernelArg(kernel, 0, sizeof a, &a);
    if (err == CL_SUCCESS) err = clSetKernelArg(kernel, 1, sizeof b, &b);
    if (err != CL_SUCCESS) {
        st = bench_fail(err, "copy kernel: %s", clvit_status_string(err));
        goto done;
    }

    /* device copy kernel: check, then time */
    mem_job j = {ctx, OP_KERNEL, kernel, a, b, NULL, bytes, 1};
    BENCH_TRY(st, mem_run(&j), done);
    BENCH_TRY(st, clvit_buffer_read(ctx, b, 0, back, n), done);
    if (!check_equal(host, back, n, "copy kernel")) {
        e->failures++;
        goto done;
    }
    BENCH_TRY(st, mem_measure(e, &j, "copy_kernel", 2.0 * bytes, "float4 copy, read+write"), done);

    j.op = OP_COPYBUF;
    BENCH_TRY(st, clvit_buffer_fill(ctx, b, 0, 0.0f, n), done);
    BENCH_TRY(st, mem_run(&j), done);
    BENCH_TRY(st, clvit_buffer_read(ctx, b, 0, back, n), done);
    if (!check_equal(host, back, n, "clEnqueueCopyBuffer")) {
        e->failures++;
        goto done;
    }
    BENCH_TRY(st, mem_measure(e, &j, "copy_buffer", 2.0 * bytes, "clEnqueueCopyBuffer"), done);

    /* host <-> device from pageable memory */
    j.op = OP_H2D;
    j.host = host;
    BENCH_TRY(st, mem_measure(e, &j, "h2d", (double)bytes, "pageable host memory"), done);
    j.op = OP_D2H;
    j.host = back;
    memset(back, 0, bytes);
    BENCH_TRY(st, mem_run(&j), done);
    if (!check_equal(host, back, n, "device-to-host")) {
        e->failures++;
        goto done;
    }
    BENCH_TRY(st, mem_measure(e, &j, "d2h", (double)bytes, "pageable host memory"), done);

    /* pinned: a CL_MEM_ALLOC_HOST_PTR buffer, mapped, as the source and target */
    pinned = clCreateBuffer(clvit_ctx_cl_context(ctx), CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR,
                            bytes, NULL, &err);
    if (err == CL_SUCCESS)
        pinned_ptr = clEnqueueMapBuffer(clvit_ctx_cl_queue(ctx), pinned, CL_TRUE,
                                        CL_MAP_READ | CL_MAP_WRITE, 0, bytes, 0, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        bench_log("memory: no pinned host buffer (%s); pinned transfers skipped",
                  clvit_status_string(err));
    } else {
        memcpy(pinned_ptr, host, bytes);
        j.op = OP_H2D;
        j.host = pinned_ptr;
        BENCH_TRY(st, mem_measure(e, &j, "h2d_pinned", (double)bytes, "mapped ALLOC_HOST_PTR"),
                  done);
        j.op = OP_D2H;
        BENCH_TRY(st, mem_measure(e, &j, "d2h_pinned", (double)bytes, "mapped ALLOC_HOST_PTR"),
                  done);
    }

done:
    if (pinned_ptr) {
        clEnqueueUnmapMemObject(clvit_ctx_cl_queue(ctx), pinned, pinned_ptr, 0, NULL, NULL);
        clFinish(clvit_ctx_cl_queue(ctx));
    }
    if (pinned) clReleaseMemObject(pinned);
    if (kernel) clReleaseKernel(kernel);
    if (prog) clReleaseProgram(prog);
    if (a) clReleaseMemObject(a);
    if (b) clReleaseMemObject(b);
    free(host);
    free(back);
    if (st != CLVIT_SUCCESS) bench_log_status("memory", st);
    return st != CLVIT_SUCCESS;
}

/* ------------------------------------------------------------ GEMM */

typedef struct gemm_job {
    clvit_ctx *ctx;
    gemm_shape g;
    cl_mem a, b, c;
    int iters;
} gemm_job;

size_t bench_gemm_lda(const gemm_shape *g) {
    return g->trans_a ? g->m : g->k;
}
size_t bench_gemm_ldb(const gemm_shape *g) {
    return g->trans_b ? g->k : g->n;
}

clvit_status bench_gemm_enqueue(clvit_ctx *ctx, const gemm_shape *g, cl_mem a, cl_mem b, cl_mem c) {
    if (g->batch <= 1)
        return clvit_sgemm(ctx, g->trans_a, g->trans_b, g->m, g->n, g->k, g->alpha, a, 0,
                           bench_gemm_lda(g), b, 0, bench_gemm_ldb(g), 0.0f, c, 0, g->n);
    return clvit_sgemm_batched(ctx, g->trans_a, g->trans_b, g->m, g->n, g->k, g->alpha, a, 0,
                               bench_gemm_lda(g), g->m * g->k, b, 0, bench_gemm_ldb(g), g->k * g->n,
                               0.0f, c, 0, g->n, g->m * g->n, g->batch);
}

static clvit_status gemm_run(void *arg) {
    gemm_job *j = arg;
    for (int i = 0; i < j->iters; i++)
        BENCH_CHECK(bench_gemm_enqueue(j->ctx, &j->g, j->a, j->b, j->c));
    return clvit_ctx_finish(j->ctx);
}

static double gemm_flops(const gemm_shape *g) {
    return 2.0 * (double)g->m * (double)g->n * (double)g->k * (double)(g->batch ? g->batch : 1);
}

void bench_rng_fill(float *x, size_t n, unsigned long long *state) {
    for (size_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(*state >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
    }
}

int bench_gemm_check(const gemm_shape *g, const float *A, const float *B, const float *C,
                     unsigned long long *rng) {
    const size_t lda = bench_gemm_lda(g), ldb = bench_gemm_ldb(g);
    for (int s = 0; s < 16; s++) {
        *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t r = *rng >> 20;
        size_t bi = r % g->batch, i = (r / g->batch) % g->m, jj = (r / g->batch / g->m) % g->n;
        if (s == 0) bi = i = jj = 0;
        if (s == 1) bi = g->batch - 1, i = g->m - 1, jj = g->n - 1;
        const float *a = A + bi * g->m * g->k, *b = B + bi * g->k * g->n;
        double ref = 0.0, mag = 0.0;
        for (size_t k = 0; k < g->k; k++) {
            double x = g->trans_a ? a[k * lda + i] : a[i * lda + k];
            double y = g->trans_b ? b[jj * ldb + k] : b[k * ldb + jj];
            ref += x * y;
            mag += fabs(x * y);
        }
        ref *= g->alpha;
        mag *= fabs(g->alpha);
        double got = C[bi * g->m * g->n + i * g->n + jj];
        if (!(fabs(got - ref) <= 1e-5 + 1e-4 * mag)) {
            bench_log("check FAILED: SGEMM %s %zux%zux%zu (batch %zu): C[%zu][%zu][%zu] = %.6g, "
                      "expected %.6g",
                      g->label, g->m, g->n, g->k, g->batch, bi, i, jj, got, ref);
            return 0;
        }
    }
    return 1;
}

typedef struct blas_job {
    const gemm_shape *g;
    const float *A, *B;
    float *C;
    int iters;
} blas_job;

static clvit_status blas_run(void *arg) {
    blas_job *j = arg;
    for (int i = 0; i < j->iters; i++)
        bench_blas_sgemm(j->g, j->A, j->B, j->C);
    return CLVIT_SUCCESS;
}

/*
 * Checks one shape, times it, adds a gemm row; returns the median GFLOP/s (NAN on failure).
 * With with_blas (and OpenBLAS set up for this device), OpenBLAS runs the same GEMM on the
 * same host matrices, is checked on the same sampled entries, and its timed runs alternate
 * with clvit's (bench_time_pair); its statistics go into the row's blas fields.
 */
static double gemm_measure(bench_env *e, const gemm_shape *g, const char *name, const char *model,
                           int model_batch, int with_blas, clvit_status *st_out) {
    clvit_ctx *ctx = e->ctx;
    const size_t na = g->batch * g->m * g->k, nb = g->batch * g->k * g->n,
                 nc = g->batch * g->m * g->n;
    double result = NAN;
    clvit_status st = CLVIT_SUCCESS;
    gemm_job j = {ctx, *g, NULL, NULL, NULL, 1};
    blas_job bj = {g, NULL, NULL, NULL, 1};
    with_blas = with_blas && e->res->devs[e->dev].blas_threads > 0;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);
    float *Cb = with_blas ? malloc(nc * sizeof *Cb) : NULL;
    if (!A || !B || !C || (with_blas && !Cb)) {
        st = bench_fail(CLVIT_ERR_NOMEM, "GEMM host buffers");
        goto done;
    }
    unsigned long long rng = e->s->seed ^ (g->m * 73856093ULL) ^ (g->n * 19349663ULL) ^ g->k;
    bench_rng_fill(A, na, &rng);
    bench_rng_fill(B, nb, &rng);
    BENCH_TRY(st, clvit_buffer_create(ctx, na, &j.a), done);
    BENCH_TRY(st, clvit_buffer_create(ctx, nb, &j.b), done);
    BENCH_TRY(st, clvit_buffer_create(ctx, nc, &j.c), done);
    BENCH_TRY(st, clvit_buffer_write(ctx, j.a, 0, A, na), done);
    BENCH_TRY(st, clvit_buffer_write(ctx, j.b, 0, B, nb), done);
    BENCH_TRY(st, gemm_run(&j), done);
    BENCH_TRY(st, clvit_buffer_read(ctx, j.c, 0, C, nc), done);
    unsigned long long rng_blas = rng; /* OpenBLAS is checked on the same entries */
    if (!bench_gemm_check(g, A, B, C, &rng)) {
        e->failures++;
        goto done;
    }
    double t0 = bench_now();
    BENCH_TRY(st, gemm_run(&j), done);
    j.iters = bench_iters_for(bench_now() - t0, e->s->min_time);
    if (with_blas) {
        bj.A = A;
        bj.B = B;
        bj.C = Cb;
        blas_run(&bj);
        if (!bench_gemm_check(g, A, B, Cb, &rng_blas)) {
            bench_log("check FAILED: that was OpenBLAS's cblas_sgemm, not clvit's; its columns "
                      "stay empty");
            e->failures++;
            with_blas = 0;
        } else {
            t0 = bench_now();
            blas_run(&bj);
            bj.iters = bench_iters_for(bench_now() - t0, e->s->min_time);
        }
    }
    double samples[256], blas_samples[256];
    int n = 0;
    bench_settings local = *e->s;
    if (local.reps > 256) local.reps = 256;
    if (with_blas)
        BENCH_TRY(st,
                  bench_time_pair(&local, gemm_run, &j, j.iters, samples, blas_run, &bj, bj.iters,
                                  blas_samples, &n),
                  done);
    else
        BENCH_TRY(st, bench_time(&local, gemm_run, &j, j.iters, samples, &n), done);
    const double flops = gemm_flops(g);
    for (int i = 0; i < n; i++) {
        samples[i] = flops / samples[i] / 1e9;
        if (with_blas) blas_samples[i] = flops / blas_samples[i] / 1e9;
    }
    char shape[64];
    if (g->batch > 1)
        snprintf(shape, sizeof shape, "%zux%zux%zu x%zu", g->m, g->n, g->k, g->batch);
    else
        snprintf(shape, sizeof shape, "%zux%zux%zu", g->m, g->n, g->k);
    bench_row *row =
        bench_add_row(e->res, "gemm", name, model, model_batch, shape, e->dev, "GFLOP/s", 1);
    if (!row) {
        st = bench_fail(CLVIT_ERR_NOMEM, "rows");
        goto done;
    }
    bench_stats_from(&row->st, samples, n);
    if (with_blas) {
        bench_stats_from(&row->blas, blas_samples, n);
        row->blas_ratio = row->st.median / row->blas.median;
    }
    snprintf(row->note, sizeof row->note, "%s%s%s", g->trans_a ? "A^T " : "",
             g->trans_b ? "B^T " : "", g->batch > 1 ? "strided-batched" : "");
    result = row->st.median;
done:
    if (j.a) clReleaseMemObject(j.a);
    if (j.b) clReleaseMemObject(j.b);
    if (j.c) clReleaseMemObject(j.c);
    free(A);
    free(B);
    free(C);
    free(Cb);
    *st_out = st;
    return result;
}

/* Sets OpenBLAS up for this device (threads: the device's compute units when it is a CPU,
 * else every core) and records it; says so when there is no OpenBLAS. */
static void blas_setup(bench_env *e) {
    bench_device *d = &e->res->devs[e->dev];
    const clvit_device_info *info = clvit_ctx_device(e->ctx);
    if (!bench_blas_available()) {
        bench_log("gemm: no OpenBLAS baseline: clvit-bench was built without OpenBLAS (install "
                  "libopenblas-dev and reconfigure)");
        return;
    }
    const int cpu = info->is_cpu && info->compute_units > 0;
    const int threads = cpu ? (int)info->compute_units : (int)sysconf(_SC_NPROCESSORS_ONLN);
    bench_blas_info bi;
    if (!bench_blas_setup(threads, &bi)) return;
    d->blas_threads = bi.threads;
    snprintf(d->blas_core, sizeof d->blas_core, "%s", bi.corename);
    snprintf(d->blas_config, sizeof d->blas_config, "%s", bi.config);
    bench_log("gemm: OpenBLAS cblas_sgemm on the same shapes, alternating with clvit: %d threads "
              "(%s), core %s (%s)",
              bi.threads, cpu ? "the device's compute units" : "every core", bi.corename,
              bi.config);
    const char *core = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    if (core || l2)
        bench_log("gemm: OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s are set and may make OpenBLAS "
                  "slower than it is; run with env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE for "
                  "the strongest baseline",
                  core ? core : "(unset)", l2 ? l2 : "(unset)");
}

static void set_peak(bench_env *e, double gflops) {
    bench_device *d = &e->res->devs[e->dev];
    if (isnan(d->peak_gflops) || gflops > d->peak_gflops) d->peak_gflops = gflops;
}

int bench_preset_gemm_shapes(const clvit_config *cfg, int b, gemm_shape *out) {
    /* the model's sizes from its configuration (clvit.h): tokens N = class [+ dist] + patches,
     * MLP hidden (int)(D * mlp_ratio), head input R when a pre-logits layer exists, else D */
    struct {
        int P, N, D, H, hd, Hd, R, F, K, K9;
        float scale;
    } d;
    const int grid = cfg->img_size / cfg->patch_size;
    d.P = grid * grid;
    d.N = (cfg->distilled ? 2 : 1) + d.P;
    d.D = cfg->embed_dim;
    d.H = cfg->num_heads;
    d.hd = cfg->embed_dim / cfg->num_heads;
    d.Hd = (int)(cfg->embed_dim * cfg->mlp_ratio);
    d.R = cfg->distilled ? 0 : cfg->representation_size;
    d.F = d.R > 0 ? d.R : d.D;
    d.K = cfg->num_classes;
    d.K9 = cfg->in_chans * cfg->patch_size * cfg->patch_size;
    d.scale = cfg->qk_scale > 0.0f ? cfg->qk_scale : 1.0f / sqrtf((float)d.hd);
    const size_t B = (size_t)b, N = (size_t)d.N;
    int n = 0;
    out[n++] = (gemm_shape){"patch_embed", 0, 1, B * d.P, (size_t)d.D, (size_t)d.K9, 1, 1.0f};
    out[n++] = (gemm_shape){"qkv", 0, 1, B * N, 3 * (size_t)d.D, (size_t)d.D, 1, 1.0f};
    out[n++] = (gemm_shape){"attn_scores", 0, 1, N, N, (size_t)d.hd, B * d.H, d.scale};
    out[n++] = (gemm_shape){"attn_values", 0, 0, N, (size_t)d.hd, N, B * d.H, 1.0f};
    out[n++] = (gemm_shape){"proj", 0, 1, B * N, (size_t)d.D, (size_t)d.D, 1, 1.0f};
    out[n++] = (gemm_shape){"fc1", 0, 1, B * N, (size_t)d.Hd, (size_t)d.D, 1, 1.0f};
    out[n++] = (gemm_shape){"fc2", 0, 1, B * N, (size_t)d.D, (size_t)d.Hd, 1, 1.0f};
    if (d.R > 0) out[n++] = (gemm_shape){"pre_logits", 0, 1, B, (size_t)d.R, (size_t)d.D, 1, 1.0f};
    out[n++] = (gemm_shape){"head", 0, 1, B, (size_t)d.K, (size_t)d.F, 1, 1.0f};
    return n;
}

int bench_gemm(bench_env *e) {
    const bench_settings *s = e->s;
    clvit_status st = CLVIT_SUCCESS;
    const int failures0 = e->failures;
    blas_setup(e);
    for (int i = 0; i < s->ngemm_sizes && st == CLVIT_SUCCESS; i++) {
        size_t n = (size_t)s->gemm_sizes[i];
        bench_log("gemm: square SGEMM %zu", n);
        gemm_shape g = {"sgemm_square", 0, 0, n, n, n, 1, 1.0f};
        double r = gemm_measure(e, &g, "sgemm_square", "", 0, 1, &st);
        if (!isnan(r)) set_peak(e, r);
    }
    const double peak = e->res->devs[e->dev].peak_gflops;
    for (int i = 0; i < e->res->nrows; i++) {
        bench_row *w = &e->res->rows[i];
        if (w->device == e->dev && !strcmp(w->name, "sgemm_square"))
            w->frac_peak = w->st.median / peak;
    }
    for (int mi = 0; mi < s->nmodels && st == CLVIT_SUCCESS; mi++) {
        clvit_config cfg;
        st = clvit_preset(s->models[mi], &cfg);
        if (st != CLVIT_SUCCESS) break;
        gemm_shape shapes[16];
        int ns = bench_preset_gemm_shapes(&cfg, s->gemm_batch, shapes);
        bench_log("gemm: %d GEMM shapes of %s at batch %d", ns, s->models[mi], s->gemm_batch);
        for (int k = 0; k < ns && st == CLVIT_SUCCESS; k++) {
            int before = e->res->nrows;
            gemm_measure(e, &shapes[k], shapes[k].label, s->models[mi], s->gemm_batch, 1, &st);
            if (e->res->nrows > before && !isnan(peak))
                e->res->rows[before].frac_peak = e->res->rows[before].st.median / peak;
        }
    }
    if (st != CLVIT_SUCCESS) bench_log_status("gemm", st);
    return st != CLVIT_SUCCESS || e->failures > failures0;
}

double bench_peak_gflops(bench_env *e) {
    bench_device *d = &e->res->devs[e->dev];
    if (!isnan(d->peak_gflops)) return d->peak_gflops;
    size_t n = e->s->quick ? 256 : 512;
    bench_log("gemm: square SGEMM %zu (for the peak the profile is compared with)", n);
    gemm_shape g = {"sgemm_square", 0, 0, n, n, n, 1, 1.0f};
    clvit_status st;
    double r = gemm_measure(e, &g, "sgemm_square", "", 0, 0, &st);
    if (st != CLVIT_SUCCESS) bench_log_status("gemm", st);
    if (!isnan(r)) set_peak(e, r);
    return d->peak_gflops;
}
